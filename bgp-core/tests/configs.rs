//! The example configurations in `configs/` are valid, agree with each other and
//! with the router-side files, and together with `configs/KEYS.md` document every
//! key the parser accepts. If an example or the reference breaks, this fails.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bgp_core::config::{self, AddPath, Config, ConfigError, ErrorKind, OnStop, PeerMatch};

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

fn load(name: &str) -> Config {
    let path = configs_dir().join(name);
    config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn read(name: &str) -> String {
    fs::read_to_string(configs_dir().join(name)).unwrap_or_else(|e| panic!("configs/{name}: {e}"))
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(configs_dir())
        .expect("configs/ exists")
        .map(|entry| entry.expect("readable directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_parses() {
    let files = examples();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in ["minimal.toml", "node.toml", "route-reflector.toml"] {
        assert!(names.iter().any(|n| n == expected), "configs/{expected} is missing (found {names:?})");
    }
    let failures: Vec<String> = files.iter().filter_map(|p| config::load(p).err().map(|e| e.to_string())).collect();
    assert!(failures.is_empty(), "invalid examples:\n{}", failures.join("\n"));
}

#[test]
fn minimal_is_one_ebgp_neighbor() {
    let c = load("minimal.toml");
    assert_eq!(c.neighbors().len(), 1);
    assert!(c.neighbor_ranges().is_empty());
    assert_ne!(c.neighbors()[0].settings.asn, c.global().asn);
}

/// The reflector's session with the home router: its only eBGP neighbor.
fn router_neighbor(rr: &Config) -> &config::Neighbor {
    let ebgp: Vec<_> = rr.neighbors().iter().filter(|n| !n.settings.is_internal(rr.global())).collect();
    assert_eq!(ebgp.len(), 1, "route-reflector.toml should have exactly one eBGP neighbor (the router)");
    ebgp[0]
}

#[test]
fn route_reflector_is_the_homelab() {
    let rr = load("route-reflector.toml");
    let router = router_neighbor(&rr);
    assert!(router.settings.password.is_some(), "the router session has a TCP-MD5 key");
    assert!(router.local_address.is_some(), "the router side names our address");
    assert_eq!(router.settings.add_path, AddPath::Send);
    assert!(!router.shutdown);
    assert_eq!(rr.global().on_stop, OnStop::GracefulRestart);

    assert_eq!(rr.neighbor_ranges().len(), 1);
    let nodes = &rr.neighbor_ranges()[0];
    assert!(nodes.settings.route_reflector_client);
    assert!(nodes.settings.is_internal(rr.global()));
    assert!(nodes.settings.password.is_some());
    // The range covers the router; the explicit neighbor wins, as the comments say.
    assert!(nodes.prefix.contains(&router.address));
    assert!(matches!(rr.peer_for(router.address), Some(PeerMatch::Neighbor(n)) if n == router));
}

#[test]
fn node_peers_with_the_reflector() {
    let rr = load("route-reflector.toml");
    let node = load("node.toml");
    let nodes = &rr.neighbor_ranges()[0];
    assert_eq!(node.global().asn, rr.global().asn, "nodes are in the reflector's AS");
    assert!(node.global().listen.is_empty());
    assert_eq!(node.neighbors().len(), 1);
    let to_rr = &node.neighbors()[0];
    let rr_address = router_neighbor(&rr).local_address.expect("checked above");
    assert_eq!(to_rr.address, rr_address, "the node connects to the reflector's address");
    assert_eq!(to_rr.settings.asn, rr.global().asn);
    assert_eq!(to_rr.settings.password, nodes.settings.password, "same key on both ends");
    assert_eq!(to_rr.settings.ttl_security.is_some(), nodes.settings.ttl_security.is_some(), "GTSM on both ends");
    let node_address = IpAddr::V4(node.global().router_id);
    assert!(matches!(rr.peer_for(node_address), Some(PeerMatch::Range(_))), "the node is in the reflector's range");
}

#[test]
fn router_files_match_the_reflector() {
    let rr = load("route-reflector.toml");
    let router = router_neighbor(&rr);
    let (router_as, rr_as) = (router.settings.asn, rr.global().asn);
    let rr_address = router.local_address.expect("route-reflector.toml sets local_address for the router");
    let password = router.settings.password.as_deref().expect("checked");

    let frr = read("router/unifi-frr.conf");
    for line in [
        format!("router bgp {router_as}"),
        format!("bgp router-id {}", router.address),
        format!("neighbor {rr_address} remote-as {rr_as}"),
        format!("neighbor {rr_address} password {password}"),
        format!("neighbor {rr_address} ttl-security hops {}", router.settings.ttl_security.expect("GTSM")),
        "maximum-paths".to_string(),
    ] {
        assert!(frr.lines().any(|l| l.trim().starts_with(&line)), "unifi-frr.conf lacks {line:?}");
    }

    let edge = read("router/edgerouter.txt");
    let bgp = format!("set protocols bgp {router_as}");
    for line in [
        format!("{bgp} parameters router-id {}", router.address),
        format!("{bgp} neighbor {rr_address} remote-as {rr_as}"),
        format!("{bgp} neighbor {rr_address} password '{password}'"),
        format!("{bgp} neighbor {rr_address} ttl-security hops {}", router.settings.ttl_security.expect("GTSM")),
        format!("{bgp} maximum-paths ebgp"),
    ] {
        assert!(edge.lines().any(|l| l.trim().starts_with(&line)), "edgerouter.txt lacks {line:?}");
    }
}

/// The keys the parser accepts in a section, as its unknown-key error lists them.
fn allowed_keys(text: &str) -> Vec<String> {
    match config::parse("probe.toml", text) {
        Err(ConfigError::Invalid { kind: ErrorKind::UnknownKey { allowed, .. }, .. }) => allowed,
        other => panic!("expected an unknown-key error, got {other:?}"),
    }
}

#[test]
fn every_key_is_documented() {
    let keys_md = read("KEYS.md");
    let examples: String = examples().iter().map(|p| fs::read_to_string(p).unwrap()).collect();

    let sections = allowed_keys("zzz = 1\n");
    assert_eq!(sections, ["global", "neighbor", "neighbor_range"]);
    for (section, header, probe) in [
        ("global", "`[global]`", "[global]\nzzz = 1\n"),
        ("neighbor", "`[[neighbor]]`", "[[neighbor]]\nzzz = 1\n"),
        ("neighbor_range", "`[[neighbor_range]]`", "[[neighbor_range]]\nzzz = 1\n"),
    ] {
        let keys = allowed_keys(probe);
        assert!(keys.len() >= 3, "{section}: {keys:?}");
        for key in keys {
            let row = format!("| {header} | `{key}` |");
            assert!(keys_md.lines().any(|l| l.starts_with(&row)), "configs/KEYS.md has no row {row:?}");
            // Set or commented out, every key appears in some example as `key = ...`.
            let shown = examples.lines().any(|l| l.trim_start_matches(['#', ' ']).starts_with(&format!("{key} = ")));
            assert!(shown, "no example in configs/ shows {section}.{key}");
        }
    }
}
