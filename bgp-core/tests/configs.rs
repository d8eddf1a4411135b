//! The example configurations in `configs/` are valid, agree with each other and
//! with the router-side files, and together with `configs/KEYS.md` document every
//! key the parser accepts. If an example or the reference breaks, this fails.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bgp_core::config::{self, AddPath, Config, ConfigError, ErrorKind, MaxPrefixesAction, OnStop, PeerMatch};
use bgp_core::kernel::RouteType;
use bgp_core::policy::{PolicyRef, PrefixEntry, RouteInfo, RouteSource, TermAction, Verdict};
use bgp_core::prefix::Prefix;
use bgp_core::wire::{AsPath, Community, PathAttrs};

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
    for expected in
        ["minimal.toml", "node.toml", "route-reflector.toml", "kubernetes-node.toml", "kubernetes-cluster.toml"]
    {
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
    assert_eq!(
        sections,
        ["global", "neighbor", "neighbor_range", "prefix_list", "policy", "announce", "kernel", "kubernetes"]
    );
    for (section, header, probe) in [
        ("global", "`[global]`", "[global]\nzzz = 1\n"),
        ("neighbor", "`[[neighbor]]`", "[[neighbor]]\nzzz = 1\n"),
        ("neighbor_range", "`[[neighbor_range]]`", "[[neighbor_range]]\nzzz = 1\n"),
        ("prefix_list", "`[[prefix_list]]`", "[[prefix_list]]\nzzz = 1\n"),
        ("prefix_list.entries", "`prefix_list.entries`", "[[prefix_list]]\nentries = [{ zzz = 1 }]\n"),
        ("policy", "`[[policy]]`", "[[policy]]\nzzz = 1\n"),
        ("policy.term", "`[[policy.term]]`", "[[policy]]\n[[policy.term]]\nzzz = 1\n"),
        ("policy.term.match", "`[policy.term.match]`", "[[policy]]\n[[policy.term]]\nmatch.zzz = 1\n"),
        ("announce", "`[[announce]]`", "[[announce]]\nzzz = 1\n"),
        ("kernel", "`[kernel]`", "[kernel]\nzzz = 1\n"),
        ("kernel.import", "`[[kernel.import]]`", "[[kernel.import]]\nzzz = 1\n"),
        ("kubernetes", "`[kubernetes]`", "[kubernetes]\nzzz = 1\n"),
    ] {
        let keys = allowed_keys(probe);
        assert!(keys.len() >= 2, "{section}: {keys:?}");
        for key in keys {
            let row = format!("| {header} | `{key}` |");
            assert!(keys_md.lines().any(|l| l.starts_with(&row)), "configs/KEYS.md has no row {row:?}");
            // Set or commented out, every key appears in some example: as `key = ...`,
            // `match.key = ...`, inside an inline table, or as a table header.
            let shown = examples.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{key} = "))
                    || l.starts_with(&format!("match.{key} = "))
                    || l.starts_with(&format!("{key}."))
                    || l.contains(&format!("{{ {key} = "))
                    || l.contains(&format!(", {key} = "))
                    || l.starts_with(&format!("[[{section}.{key}]]"))
            });
            assert!(shown, "no example in configs/ shows {section}.{key}");
        }
    }
}

fn prefix(s: &str) -> Prefix {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// A route as a node originates it over iBGP: empty AS path, no communities.
fn from_node(prefix_text: &str, node: IpAddr) -> (RouteInfo, PathAttrs) {
    let route = RouteInfo::new(prefix(prefix_text), RouteSource::Peer, Some(node));
    (route, PathAttrs { as_path: Some(AsPath::default()), ..PathAttrs::default() })
}

#[test]
fn route_reflector_policies() {
    let rr = load("route-reflector.toml");
    let g = rr.global();
    let set = rr.policies();
    let router = router_neighbor(&rr);
    let nodes = &rr.neighbor_ranges()[0];
    // No RFC 8212 surprise on the router session, and a guard on both sessions.
    assert_eq!(router.settings.rfc8212_notice(g), None);
    assert!(router.settings.max_prefixes.is_some() && nodes.settings.max_prefixes.is_some());
    assert!(matches!(nodes.settings.max_prefixes.unwrap().action, MaxPrefixesAction::Restart { .. }));
    assert!(!nodes.settings.next_hop_self, "a reflector passes next hops on");
    let import = set.resolve(nodes.settings.effective_import(g));
    let export = set.resolve(router.settings.effective_export(g));
    let from_router = set.resolve(router.settings.effective_import(g));
    assert_ne!(import.name, "accept-all");
    assert_eq!(nodes.settings.effective_export(g), PolicyRef::Named("accept-all"));

    let node = IpAddr::V4(load("node.toml").global().router_id);
    let to_router = RouteInfo {
        neighbor: Some(router.address),
        local_address: router.local_address,
        ..from_node("10.0.0.0/8", node).0
    };
    // Pod /26s and LoadBalancer /32s pass both ways, without the internal tag on export.
    for p in ["10.42.7.64/26", "10.10.100.77/32", "fd10:10:100::5/128"] {
        let (route, mut attrs) = from_node(p, node);
        assert_eq!(import.apply(&route, &mut attrs, g.asn), Verdict::Accept, "{p} from a node");
        assert!(!attrs.communities.is_empty(), "{p}: from-nodes marks cluster routes");
        let out = RouteInfo { prefix: route.prefix, ..to_router };
        assert_eq!(export.apply(&out, &mut attrs, g.asn), Verdict::Accept, "{p} to the router");
        assert!(attrs.communities.is_empty(), "{p}: the mark stays inside");
    }
    // Anything else stays out.
    for p in ["10.42.7.0/24", "10.42.0.0/16", "10.10.100.0/24", "0.0.0.0/0", "192.168.1.0/24", "10.43.0.64/26"] {
        let (route, mut attrs) = from_node(p, node);
        assert_eq!(import.apply(&route, &mut attrs, g.asn), Verdict::Reject, "{p} from a node");
    }
    // A node relaying a route with an AS path is refused.
    let (route, mut attrs) = from_node("10.10.100.77/32", node);
    attrs.as_path = Some(AsPath::from_sequence(vec![65010]));
    assert_eq!(import.apply(&route, &mut attrs, g.asn), Verdict::Reject);
    // The router's export takes nothing without the mark (e.g. the router's own default).
    let (_, mut attrs) = from_node("0.0.0.0/0", node);
    assert_eq!(
        export.apply(&RouteInfo { prefix: prefix("0.0.0.0/0"), ..to_router }, &mut attrs, g.asn),
        Verdict::Reject
    );
    // From the router: its own default route, less preferred; nothing else.
    let router_route = |p: &str| RouteInfo::new(prefix(p), RouteSource::Peer, Some(router.address));
    let mut attrs =
        PathAttrs { as_path: Some(AsPath::from_sequence(vec![router.settings.asn])), ..PathAttrs::default() };
    assert_eq!(from_router.apply(&router_route("0.0.0.0/0"), &mut attrs, g.asn), Verdict::Accept);
    assert!(attrs.local_pref.is_some_and(|lp| lp < 100));
    let mut attrs =
        PathAttrs { as_path: Some(AsPath::from_sequence(vec![router.settings.asn])), ..PathAttrs::default() };
    assert_eq!(from_router.apply(&router_route("192.168.1.0/24"), &mut attrs, g.asn), Verdict::Reject);
}

#[test]
fn node_announcements_reach_the_router() {
    let rr = load("route-reflector.toml");
    let node = load("node.toml");
    assert!(!node.announcements().is_empty(), "node.toml shows [[announce]]");
    let to_rr = &node.neighbors()[0];
    assert_eq!(to_rr.settings.effective_export(node.global()), PolicyRef::Named("accept-all"), "iBGP: no RFC 8212");
    let g = rr.global();
    let import = rr.policies().resolve(rr.neighbor_ranges()[0].settings.effective_import(g));
    let router = router_neighbor(&rr);
    let export = rr.policies().resolve(router.settings.effective_export(g));
    let node_address = IpAddr::V4(node.global().router_id);
    for a in node.announcements() {
        // The node's own export, then the reflector's import and export.
        let mut attrs = a.path_attrs();
        let local = RouteInfo::new(a.prefix, RouteSource::Static, Some(to_rr.address));
        let node_export = node.policies().resolve(to_rr.settings.effective_export(node.global()));
        assert_eq!(node_export.apply(&local, &mut attrs, node.global().asn), Verdict::Accept);
        let route = RouteInfo::new(a.prefix, RouteSource::Peer, Some(node_address));
        assert_eq!(import.apply(&route, &mut attrs, g.asn), Verdict::Accept, "{} from the node", a.prefix);
        let out = RouteInfo::new(a.prefix, RouteSource::Peer, Some(router.address));
        assert_eq!(export.apply(&out, &mut attrs, g.asn), Verdict::Accept, "{} to the router", a.prefix);
        assert!(!attrs.communities.contains(&Community(64513 << 16 | 100)));
    }
}

/// The `permit` entries of the router-side prefix lists whose names start with
/// `CLUSTER` (what the router imports from the reflector), FRR and EdgeOS syntax.
fn router_import_entries() -> Vec<(&'static str, PrefixEntry)> {
    let entry = |p: &str, ge: Option<&str>, le: Option<&str>| PrefixEntry {
        prefix: prefix(p),
        ge: ge.map(|v| v.parse().unwrap()),
        le: le.map(|v| v.parse().unwrap()),
    };
    let mut out = Vec::new();
    // ip prefix-list CLUSTER-V4 seq 10 permit 10.10.100.0/24 le 32
    for line in read("router/unifi-frr.conf").lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["ip" | "ipv6", "prefix-list", name, "seq", _, "permit", p, rest @ ..] = words.as_slice() {
            if name.starts_with("CLUSTER") {
                let find = |k: &str| rest.iter().position(|w| *w == k).map(|i| rest[i + 1]);
                out.push(("unifi-frr.conf", entry(p, find("ge"), find("le"))));
            }
        }
    }
    // set policy prefix-list CLUSTER-V4 rule 10 prefix 10.10.100.0/24 (and ... le 32)
    let mut rules: std::collections::BTreeMap<(String, String), Vec<(String, String)>> = Default::default();
    for line in read("router/edgerouter.txt").lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["set", "policy", "prefix-list" | "prefix-list6", name, "rule", n, k, v] = words.as_slice() {
            if name.starts_with("CLUSTER") {
                rules.entry((name.to_string(), n.to_string())).or_default().push((k.to_string(), v.to_string()));
            }
        }
    }
    for fields in rules.values() {
        let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        if get("action") == Some("permit") {
            out.push(("edgerouter.txt", entry(get("prefix").expect("rule has a prefix"), get("ge"), get("le"))));
        }
    }
    out
}

#[test]
fn router_files_accept_what_the_reflector_exports() {
    let rr = load("route-reflector.toml");
    let router_entries = router_import_entries();
    for file in ["unifi-frr.conf", "edgerouter.txt"] {
        assert!(router_entries.iter().filter(|(f, _)| *f == file).count() >= 3, "{file}: {router_entries:?}");
    }
    // Every prefix list an accepting term of the nodes' import policy uses (those
    // routes get the mark the router's export policy passes on) must be inside the
    // router's import prefix lists, in both router files.
    let import = rr.policies().resolve(rr.neighbor_ranges()[0].settings.effective_import(rr.global()));
    let exported: Vec<PrefixEntry> = import
        .terms
        .iter()
        .filter(|t| t.action == TermAction::Accept)
        .filter_map(|t| t.matches.prefix_list.as_ref())
        .flat_map(|l| l.entries.iter().copied())
        .collect();
    assert!(exported.len() >= 3, "{exported:?}");
    for e in &exported {
        let (low, high) = e.lengths();
        for file in ["unifi-frr.conf", "edgerouter.txt"] {
            // Some router entry holds e's prefix and every length e lets through.
            let covered = router_entries.iter().filter(|(f, _)| *f == file).any(|(_, r)| {
                let (r_low, r_high) = r.lengths();
                bgp_core::policy::contains(r.prefix, e.prefix) && r_low <= low && high <= r_high
            });
            assert!(covered, "router/{file} drops some of {e}, which route-reflector.toml sends the router");
        }
    }
}

/// The reflector's commented `[kernel]` block, uncommented: a router pod's sidecar.
#[test]
fn route_reflector_kernel_example() {
    let text = read("route-reflector.toml");
    let mut lines = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        in_block = line.starts_with("# [kernel]") || (in_block && line.starts_with('#'));
        // Continuation comments start with "#" and spaces only.
        let continued = line.trim_start_matches('#').starts_with("  ");
        lines.push(if in_block && !continued { &line[2..] } else { line });
    }
    let c = config::parse("route-reflector.toml (with [kernel])", &lines.join("\n")).unwrap_or_else(|e| panic!("{e}"));
    let k = &c.kernel;
    assert!(k.install, "the example installs");
    assert_eq!((k.table, k.protocol, k.metric), (254, 186, 20), "the defaults, written out");
    assert!(c.install_policy().is_some());
    assert!(k.import.is_empty());
    assert_eq!(load("route-reflector.toml").kernel, config::Kernel::default(), "commented out: the defaults");
}

/// The node's commented `[kubernetes]` block, uncommented: node mode, every key.
#[test]
fn node_kubernetes_example() {
    let text = read("node.toml");
    let mut lines = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        in_block = line.starts_with("# [kubernetes]") || (in_block && line.starts_with('#'));
        let continued = line.trim_start_matches('#').starts_with("  ");
        lines.push(if in_block && !continued { &line[2..] } else { line });
    }
    let c = config::parse("node.toml (with [kubernetes])", &lines.join("\n")).unwrap_or_else(|e| panic!("{e}"));
    let k = c.kubernetes.expect("the block is there");
    assert_eq!(k.mode, config::KubernetesMode::Node);
    assert_eq!(k.node_name.as_deref(), Some("node1"));
    assert!(k.load_balancers && !k.pod_cidrs, "the defaults, written out");
    assert!(k.service_selector.is_some() && k.kubeconfig.is_some());
    assert_eq!(load("node.toml").kubernetes, None, "commented out: no Kubernetes source");
}

/// The node imports Calico's blackholes for its pod blocks, and the reflector takes
/// them.
#[test]
fn node_imports_calico_blocks() {
    let rr = load("route-reflector.toml");
    let node = load("node.toml");
    let [import] = node.kernel.import.as_slice() else { panic!("node.toml has one [[kernel.import]]") };
    assert_eq!(import.protocol, vec![12], "bird");
    assert_eq!(import.kind, vec![RouteType::Blackhole]);
    assert_eq!(import.table, 254);
    let block = prefix("10.42.7.64/26");
    assert!(import.within.iter().any(|w| bgp_core::policy::contains(*w, block)));
    // Announced like an [[announce]]: ORIGIN IGP, an empty AS_PATH, no attributes.
    let to_rr = &node.neighbors()[0];
    let mut attrs = PathAttrs { as_path: Some(AsPath::default()), ..PathAttrs::default() };
    let node_export = node.policies().resolve(to_rr.settings.effective_export(node.global()));
    let local = RouteInfo::new(block, RouteSource::Kernel, Some(to_rr.address));
    assert_eq!(node_export.apply(&local, &mut attrs, node.global().asn), Verdict::Accept);
    let g = rr.global();
    let rr_import = rr.policies().resolve(rr.neighbor_ranges()[0].settings.effective_import(g));
    let route = RouteInfo::new(block, RouteSource::Peer, Some(IpAddr::V4(node.global().router_id)));
    assert_eq!(rr_import.apply(&route, &mut attrs, g.asn), Verdict::Accept, "{block} from the node");
}

/// A route the Kubernetes source originates, on its way to `neighbor`.
fn from_kubernetes(prefix_text: &str, neighbor: IpAddr) -> (RouteInfo, PathAttrs) {
    let route = RouteInfo::new(prefix(prefix_text), RouteSource::Kubernetes, Some(neighbor));
    (route, PathAttrs { as_path: Some(AsPath::default()), ..PathAttrs::default() })
}

/// `configs/kubernetes-*.toml` send the router LoadBalancer addresses from the
/// Kubernetes source (and pod CIDRs where `pod_cidrs` is on), nothing else, and every
/// such route is inside the router files' import prefix lists.
fn kubernetes_exports_reach_the_router(c: &Config, pod_cidr: Option<&str>) {
    let [router] = c.neighbors() else { panic!("one neighbor: the router") };
    let g = c.global();
    assert_eq!(router.settings.rfc8212_notice(g), None, "eBGP with both policies set");
    let export = c.policies().resolve(router.settings.effective_export(g));
    let mut accepted = vec!["10.10.100.10/32", "fd10:10:100::10/128"];
    accepted.extend(pod_cidr);
    for p in &accepted {
        let (route, mut attrs) = from_kubernetes(p, router.address);
        assert_eq!(export.apply(&route, &mut attrs, g.asn), Verdict::Accept, "{p} from Kubernetes");
        let (low, high) = (route.prefix.prefix_len(), route.prefix.prefix_len());
        for file in ["unifi-frr.conf", "edgerouter.txt"] {
            let covered = router_import_entries().iter().filter(|(f, _)| *f == file).any(|(_, r)| {
                let (r_low, r_high) = r.lengths();
                bgp_core::policy::contains(r.prefix, route.prefix) && r_low <= low && high <= r_high
            });
            assert!(covered, "router/{file} drops {p}");
        }
    }
    // The same prefixes from another source, and other prefixes, stay home.
    for (p, source) in [("10.10.100.10/32", RouteSource::Kernel), ("10.10.100.10/32", RouteSource::Peer)] {
        let route = RouteInfo::new(prefix(p), source, Some(router.address));
        let mut attrs = PathAttrs { as_path: Some(AsPath::default()), ..PathAttrs::default() };
        assert_eq!(export.apply(&route, &mut attrs, g.asn), Verdict::Reject, "{p} from {source:?}");
    }
    for p in ["10.10.100.0/24", "192.168.1.10/32", "0.0.0.0/0"] {
        let (route, mut attrs) = from_kubernetes(p, router.address);
        assert_eq!(export.apply(&route, &mut attrs, g.asn), Verdict::Reject, "{p} from Kubernetes");
    }
}

#[test]
fn kubernetes_node_peers_with_the_routers_node_group() {
    let node = load("kubernetes-node.toml");
    let rr = load("route-reflector.toml");
    let k = node.kubernetes.as_ref().expect("[kubernetes]");
    assert_eq!(k.mode, config::KubernetesMode::Node);
    assert_eq!(k.node_name, None, "the DaemonSet sets $NODE_NAME");
    assert_eq!(k.kubeconfig, None, "the service account");
    assert!(node.global().listen.is_empty(), "nodes connect, they do not listen");
    let [router] = node.neighbors() else { panic!("one neighbor") };
    let rr_router = router_neighbor(&rr);
    assert_eq!((router.address, router.settings.asn), (rr_router.address, rr_router.settings.asn));
    assert_eq!(node.global().asn, rr.global().asn);
    let password = router.settings.password.as_deref().expect("TCP-MD5");
    let ttl = router.settings.ttl_security.expect("GTSM");
    let asn = node.global().asn;
    let node_address = node.global().router_id;

    let frr = read("router/unifi-frr.conf");
    for line in [
        format!("neighbor K8S-NODES remote-as {asn}"),
        format!("neighbor K8S-NODES password {password}"),
        format!("neighbor K8S-NODES ttl-security hops {ttl}"),
    ] {
        assert!(frr.lines().any(|l| l.trim() == line), "unifi-frr.conf lacks {line:?}");
    }
    let range = frr
        .lines()
        .find_map(|l| l.trim().strip_prefix("bgp listen range ")?.strip_suffix(" peer-group K8S-NODES"))
        .expect("unifi-frr.conf has a listen range for K8S-NODES");
    assert!(bgp_core::policy::contains(prefix(range), prefix(&format!("{node_address}/32"))), "{range}");

    let edge = read("router/edgerouter.txt");
    let bgp = format!("set protocols bgp {}", router.settings.asn);
    for line in [
        format!("{bgp} peer-group K8S-NODES remote-as {asn}"),
        format!("{bgp} peer-group K8S-NODES password '{password}'"),
        format!("{bgp} peer-group K8S-NODES ttl-security hops {ttl}"),
        format!("{bgp} neighbor {node_address} peer-group K8S-NODES"),
    ] {
        assert!(edge.lines().any(|l| l.trim() == line), "edgerouter.txt lacks {line:?}");
    }
    kubernetes_exports_reach_the_router(&node, None);
}

#[test]
fn kubernetes_cluster_takes_the_reflectors_place() {
    let cluster = load("kubernetes-cluster.toml");
    let rr = load("route-reflector.toml");
    let k = cluster.kubernetes.as_ref().expect("[kubernetes]");
    assert_eq!(k.mode, config::KubernetesMode::Cluster);
    assert!(k.pod_cidrs && k.load_balancers);
    assert!(cluster.kernel.install, "the router pod's sidecar installs what it learns");
    // The router files' neighbor 10.10.0.2 is this speaker: same identity and session.
    assert_eq!((cluster.global().asn, cluster.global().router_id), (rr.global().asn, rr.global().router_id));
    let [router] = cluster.neighbors() else { panic!("one neighbor") };
    let rr_router = router_neighbor(&rr);
    assert_eq!(router.address, rr_router.address);
    assert_eq!(router.local_address, rr_router.local_address);
    assert_eq!(router.settings.asn, rr_router.settings.asn);
    assert_eq!(router.settings.password, rr_router.settings.password);
    assert_eq!(router.settings.ttl_security, rr_router.settings.ttl_security);
    assert_eq!(router.settings.add_path, AddPath::Send, "one path per serving node");
    kubernetes_exports_reach_the_router(&cluster, Some("10.42.3.0/24"));
}

/// BFD is on wherever the examples face the router or each other, and the router
/// files protect the same sessions (FRR: `neighbor X bfd`), so no session in the
/// examples runs unprotected by mistake.
#[test]
fn bfd_on_both_sides() {
    let frr = read("router/unifi-frr.conf");
    let has = |line: &str| frr.lines().any(|l| l.trim() == line);
    let rr = load("route-reflector.toml");
    let router = router_neighbor(&rr);
    assert!(router.settings.bfd.is_some(), "route-reflector.toml: the router neighbor has no bfd");
    assert!(has(&format!("neighbor {} bfd", router.local_address.expect("local_address"))), "unifi-frr.conf");
    assert!(rr.neighbor_ranges().iter().all(|r| r.settings.bfd.is_some()), "route-reflector.toml: node range");
    let node = load("node.toml");
    assert!(node.neighbors().iter().all(|n| n.settings.bfd.is_some()), "node.toml");
    for file in ["kubernetes-node.toml", "kubernetes-cluster.toml"] {
        let c = load(file);
        let [n] = c.neighbors() else { panic!("{file}: one neighbor") };
        let b = n.settings.bfd.unwrap_or_else(|| panic!("{file}: bfd is off"));
        assert_eq!((b.interval.as_millis(), b.multiplier), (300, 3), "{file}: FRR's defaults");
    }
    assert!(has("neighbor K8S-NODES bfd"), "unifi-frr.conf: K8S-NODES without bfd");
}
