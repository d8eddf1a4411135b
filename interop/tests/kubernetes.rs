//! The daemon's Kubernetes source against FRR, fed by the fake API server
//! (interop/src/kubeapi) through a kubeconfig, over the same client code it uses in a
//! cluster. Each test is a shared segment: a bridge in `it-<name>-us` (`.1`, where the
//! fake API server listens, as the control plane), FRR's bgpd as the home router, and
//! our daemon(s) on the nodes. Test `N` owns `10.77.N.0/24` (60..63).
//!
//! - node mode (a DaemonSet, one daemon per node): a Local Service's /32 follows its
//!   endpoint from node to node; a Service with a `deletionTimestamp` is withdrawn at
//!   once, a deleted one too; the time from an ingress IP appearing in the API to the
//!   route in FRR is measured and printed;
//! - an API outage of 30 s withdraws nothing, and a change made meanwhile reaches FRR
//!   within 5 s of the server's return;
//! - cluster mode (one speaker for every node): one path per serving node to a router
//!   with ADD-PATH, and to one without, the path via the lowest node address.
//!
//! Every test first checks that it can run (root, FRR installed, the daemon and bgpctl
//! built) and otherwise prints `SKIP: <reason>` and passes (`INTEROP_REQUIRE=1`: fails).

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use interop::kubeapi::objects::{endpoint_slice, node, service, set_node_ready, Endpoint};
use interop::kubeapi::{Config as FakeConfig, FakeApi, Kind};
use interop::scenario::{frr_neighbor, Scenario};
use interop::{holds_for, skip_unless_ready, wait_until, Daemon, Frr, Lab};

const SEC: Duration = Duration::from_secs(1);
const OUR_AS: u32 = 64513;
const ROUTER_AS: u32 = 64512;

/// Only what the Kubernetes source originates goes to the router (and so the policy
/// sees `match.source = ["kubernetes"]`).
const K8S_ONLY: &str = "
[[policy]]
name = \"k8s-only\"

[[policy.term]]
name = \"kubernetes\"
match.source = [\"kubernetes\"]
action = \"accept\"
";

/// The fake API server on the bridge (`.1:6443` in our namespace), its kubeconfig at
/// `<lab>/kubeconfig`.
fn fake_api(s: &Scenario) -> FakeApi {
    let addr: SocketAddr = format!("{}:6443", s.v4(1)).parse().expect("an address");
    let api = FakeApi::start(
        FakeConfig { bookmark_interval: 5 * SEC, ..FakeConfig::default() },
        &[(Some(s.us().name.as_str()), addr)],
    )
    .expect("the fake API server starts");
    api.write_kubeconfig(0, &s.path("kubeconfig")).expect("write the kubeconfig");
    s.step(&format!("fake API server at {}", api.url(0)));
    api
}

/// Our daemon named `name` on `role`'s namespace, eBGP to the router at `router`, with
/// `[kubernetes]` lines `k8s` (the kubeconfig is added) and `neighbor` extra lines.
fn ours(s: &Scenario, name: &str, ns_role: Option<&str>, router: &[(&str, &[&str])], k8s: &[&str]) -> Daemon {
    let rid = match ns_role {
        Some(r) => s.addr(r),
        None => s.v4(1),
    };
    let mut cfg = s.global_toml_named(name, OUR_AS, &rid, &[]);
    for (addr, extra) in router {
        cfg += &format!(
            "\n[[neighbor]]\naddress = \"{addr}\"\nasn = {ROUTER_AS}\nimport_policy = \"reject-all\"\nexport_policy = \"k8s-only\"\n"
        );
        for l in *extra {
            cfg += l;
            cfg += "\n";
        }
    }
    cfg += K8S_ONLY;
    cfg += &format!("\n[kubernetes]\nkubeconfig = \"{}\"\n", s.path("kubeconfig").display());
    for l in k8s {
        cfg += l;
        cfg += "\n";
    }
    let ns = match ns_role {
        Some(r) => s.ns(r),
        None => s.us(),
    };
    Daemon::start_named(s, ns, name, &cfg)
}

/// FRR as the home router, eBGP to each of `peers`, ECMP over up to 8 paths.
fn router(s: &Scenario, role: &str, peers: &[String], extra: &[&str]) -> Frr {
    let mut body = String::new();
    for p in peers {
        body += &frr_neighbor(p, OUR_AS, extra, &[]);
        body += "\n";
    }
    body += " address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family";
    s.frr(role, ROUTER_AS, &body)
}

/// The next hops of FRR's paths to `prefix` (sorted; empty when it has none).
fn paths(frr: &Frr, prefix: &str) -> Result<Vec<String>, String> {
    let v = frr.json(&format!("show bgp ipv4 unicast {prefix} json"))?;
    let mut hops: Vec<String> = v["paths"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["nexthops"][0]["ip"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    hops.sort();
    Ok(hops)
}

/// `Ok` once FRR's paths to `prefix` go exactly via `want`.
fn paths_are(frr: &Frr, prefix: &str, want: &[&str]) -> Result<(), String> {
    let got = paths(frr, prefix)?;
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    if got == want {
        Ok(())
    } else {
        Err(format!("FRR's paths to {prefix} via {got:?}, want {want:?}"))
    }
}

/// Polls FRR (as fast as vtysh answers) until its paths to `prefix` go via `want`; the
/// time it took from `since`.
fn time_until_paths(frr: &Frr, prefix: &str, want: &[&str], since: Instant, timeout: Duration) -> Duration {
    loop {
        if paths_are(frr, prefix, want).is_ok() {
            return since.elapsed();
        }
        if since.elapsed() > timeout {
            panic!("after {timeout:?}: {}", paths_are(frr, prefix, want).unwrap_err());
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// As [`time_until_paths`], until FRR has any path to `prefix`.
fn time_until_any_path(frr: &Frr, prefix: &str, since: Instant, timeout: Duration) -> Duration {
    loop {
        if paths(frr, prefix).is_ok_and(|p| !p.is_empty()) {
            return since.elapsed();
        }
        assert!(since.elapsed() < timeout, "after {timeout:?}: FRR has no path to {prefix}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn nodes(api: &FakeApi, s: &Scenario, names: &[&str]) {
    for n in names {
        api.apply(node(n, &[&s.addr(n)], true, &[])).unwrap();
    }
}

fn established(frr: &Frr, lab: &Lab, peers: &[String]) {
    for p in peers {
        wait_until(30 * SEC, &format!("FRR {} Established with {p}", frr.name), || frr.established(p));
    }
    lab.step("sessions Established");
}

// ----------------------------------------------------------------- node mode

/// Two nodes, each with our daemon in node mode (`node_name`), both eBGP to the home
/// router. A Local Service's /32 is announced by the node with its ready endpoint and
/// moves when the endpoint moves; a Cluster Service by both; a Service being deleted
/// (deletionTimestamp) is withdrawn at once, a deleted one too.
#[test]
fn node_mode_local_service_follows_its_endpoint() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::segment("k8s-node", 60, &["router", "node1", "node2"]);
    let (n1, n2) = (s.addr("node1"), s.addr("node2"));
    let api = fake_api(&s);
    nodes(&api, &s, &["node1", "node2"]);
    api.apply(service("default", "web", &["10.10.100.10"], true)).unwrap();
    api.apply(endpoint_slice("default", "web", "a", &[Endpoint::ready("10.42.1.5", "node1")])).unwrap();
    let frr = router(&s, "router", &[n1.clone(), n2.clone()], &[]);
    let r = s.addr("router");
    let _d1 = ours(&s, "node1", Some("node1"), &[(&r, &[])], &["node_name = \"node1\""]);
    let _d2 = ours(&s, "node2", Some("node2"), &[(&r, &[])], &["node_name = \"node2\""]);
    established(&frr, &s, &[n1.clone(), n2.clone()]);

    wait_until(20 * SEC, "the Local Service's /32 via node1, its endpoint's node", || {
        paths_are(&frr, "10.10.100.10/32", &[&n1])
    });
    s.step("the endpoint moves to node2");
    api.apply(endpoint_slice("default", "web", "a", &[Endpoint::ready("10.42.2.7", "node2")])).unwrap();
    wait_until(10 * SEC, "the /32 moved to node2", || paths_are(&frr, "10.10.100.10/32", &[&n2]));
    s.step("a second slice: an endpoint on node1 too, then node2's stops being ready (terminating)");
    api.apply(endpoint_slice("default", "web", "b", &[Endpoint::ready("10.42.1.9", "node1")])).unwrap();
    wait_until(10 * SEC, "both nodes announce the /32", || paths_are(&frr, "10.10.100.10/32", &[&n1, &n2]));
    let terminating = Endpoint {
        address: "10.42.2.7".into(),
        node: "node2".into(),
        ready: Some(false),
        serving: Some(true),
        terminating: Some(true),
    };
    api.apply(endpoint_slice("default", "web", "a", &[terminating])).unwrap();
    wait_until(10 * SEC, "only node1 announces it", || paths_are(&frr, "10.10.100.10/32", &[&n1]));

    // The time from an ingress IP appearing in the API (the load balancer controller
    // writing status.loadBalancer) to the route in FRR: a Cluster Service, pending first.
    api.apply(service("default", "fast", &[], false)).unwrap();
    thread::sleep(SEC);
    let t0 = Instant::now();
    api.apply(service("default", "fast", &["10.10.100.20"], false)).unwrap();
    let first = time_until_any_path(&frr, "10.10.100.20/32", t0, 10 * SEC);
    let both = time_until_paths(&frr, "10.10.100.20/32", &[&n1, &n2], t0, 10 * SEC);
    println!(
        "FIGURE kubernetes: ingress IP in the API -> route in FRR: first path {} ms, both nodes' paths {} ms",
        first.as_millis(),
        both.as_millis()
    );
    eprintln!("    ingress IP -> FRR: first path {first:?}, both paths {both:?}");
    assert!(both < 5 * SEC, "{both:?}: the issue asks for under one second");

    s.step("the Service gets a deletionTimestamp (finalizers still run): withdrawn at once");
    api.begin_delete(Kind::Service, "default", "fast").unwrap();
    wait_until(10 * SEC, "the /32 of the Service being deleted is withdrawn", || {
        paths_are(&frr, "10.10.100.20/32", &[])
    });
    api.delete(Kind::Service, "default", "fast").unwrap();
    s.step("a Service deleted outright: withdrawn");
    api.delete(Kind::Service, "default", "web").unwrap();
    wait_until(10 * SEC, "the deleted Service's /32 is withdrawn", || paths_are(&frr, "10.10.100.10/32", &[]));
}

/// An API outage of 30 s: nothing is withdrawn meanwhile; a change made during it (the
/// endpoint moved away, a new Service's address) reaches FRR within 5 s of the
/// server's return.
#[test]
fn api_outage_withdraws_nothing_and_changes_arrive_after() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::segment("k8s-outage", 61, &["router", "node1"]);
    let n1 = s.addr("node1");
    let api = fake_api(&s);
    nodes(&api, &s, &["node1"]);
    // node2 has no namespace here: only its endpoint matters.
    api.apply(node("node2", &[&s.v4(9)], true, &[])).unwrap();
    api.apply(service("default", "web", &["10.10.100.10"], true)).unwrap();
    api.apply(endpoint_slice("default", "web", "a", &[Endpoint::ready("10.42.1.5", "node1")])).unwrap();
    api.apply(service("default", "shared", &["10.10.100.11"], false)).unwrap();
    let frr = router(&s, "router", std::slice::from_ref(&n1), &[]);
    let r = s.addr("router");
    let _d = ours(&s, "node1", Some("node1"), &[(&r, &[])], &["node_name = \"node1\""]);
    established(&frr, &s, std::slice::from_ref(&n1));
    wait_until(20 * SEC, "both /32s at the router", || {
        paths_are(&frr, "10.10.100.10/32", &[&n1])?;
        paths_are(&frr, "10.10.100.11/32", &[&n1])
    });

    s.step("API outage: 30 s");
    let outage = 30 * SEC;
    api.outage(outage);
    let start = Instant::now();
    let mut changed = false;
    holds_for(outage - SEC, "the routes stay during the outage", || {
        if !changed && start.elapsed() > 5 * SEC {
            // Changes the daemon cannot see until the server returns.
            api.apply(endpoint_slice("default", "web", "a", &[Endpoint::ready("10.42.2.5", "node2")])).unwrap();
            api.apply(service("default", "late", &["10.10.100.12"], false)).unwrap();
            changed = true;
        }
        paths_are(&frr, "10.10.100.10/32", &[&n1])?;
        paths_are(&frr, "10.10.100.11/32", &[&n1])
    });
    while api.is_down() {
        thread::sleep(Duration::from_millis(5));
    }
    let back = Instant::now();
    s.step("the API server is back");
    let moved = time_until_paths(&frr, "10.10.100.10/32", &[], back, 15 * SEC);
    let added = time_until_paths(&frr, "10.10.100.12/32", &[&n1], back, 15 * SEC);
    println!(
        "FIGURE kubernetes: after a 30 s API outage, changes made meanwhile reach FRR in {} ms (withdraw) and {} ms (new /32)",
        moved.as_millis(),
        added.as_millis()
    );
    assert!(moved.max(added) < 5 * SEC, "changes arrived {moved:?} / {added:?} after the server returned");
    paths_are(&frr, "10.10.100.11/32", &[&n1]).expect("the unchanged Service was never withdrawn");
}

// ----------------------------------------------------------------- cluster mode

/// One speaker for the whole cluster (`mode = "cluster"`), in the router's pod as it
/// were: to the router with ADD-PATH (we send, FRR 8.4 receives by default) one path
/// per serving node, each via the node's InternalIP; to a second router without
/// ADD-PATH one path, via the lowest node address. A NotReady node leaves the sets.
#[test]
fn cluster_mode_one_path_per_serving_node() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::segment("k8s-cluster", 62, &["router", "router2", "node1", "node2", "node3"]);
    let (n1, n2, n3) = (s.addr("node1"), s.addr("node2"), s.addr("node3"));
    let api = fake_api(&s);
    nodes(&api, &s, &["node1", "node2"]);
    // node3 is NotReady: it serves nothing.
    api.apply(node("node3", &[&n3], false, &[])).unwrap();
    api.apply(service("default", "web", &["10.10.100.10"], false)).unwrap();
    api.apply(service("default", "local", &["10.10.100.11"], true)).unwrap();
    api.apply(endpoint_slice("default", "local", "a", &[Endpoint::ready("10.42.2.5", "node2")])).unwrap();
    let a = s.v4(1);
    let frr = router(&s, "router", std::slice::from_ref(&a), &[]);
    let frr2 = router(&s, "router2", std::slice::from_ref(&a), &[]);
    let (r, r2) = (s.addr("router"), s.addr("router2"));
    let d = ours(&s, "speaker", None, &[(&r, &["add_path = \"send\""]), (&r2, &[])], &["mode = \"cluster\""]);
    established(&frr, &s, std::slice::from_ref(&a));
    established(&frr2, &s, std::slice::from_ref(&a));
    let n = d.established(&r).expect("Established with the router");
    assert!(n.capabilities.iter().any(|c| c.contains("ADD-PATH send")), "{:?}", n.capabilities);

    wait_until(20 * SEC, "the router has one path per Ready node (node1, node2)", || {
        paths_are(&frr, "10.10.100.10/32", &[&n1, &n2])
    });
    wait_until(10 * SEC, "router2 (no ADD-PATH) has the path via the lowest node address", || {
        paths_are(&frr2, "10.10.100.10/32", &[&n1])
    });
    wait_until(10 * SEC, "the Local Service via its endpoint's node only", || {
        paths_are(&frr, "10.10.100.11/32", &[&n2])?;
        paths_are(&frr2, "10.10.100.11/32", &[&n2])
    });
    let multipath = frr.json("show bgp ipv4 unicast 10.10.100.10/32 json").unwrap();
    assert!(
        multipath["paths"].as_array().is_some_and(|p| p.iter().any(|p| p["multipath"] == true)),
        "FRR uses the paths for ECMP: {multipath}"
    );

    s.step("node3 becomes Ready, node1 NotReady");
    api.apply(node("node3", &[&n3], true, &[])).unwrap();
    let mut n1_down = node("node1", &[&n1], true, &[]);
    set_node_ready(&mut n1_down, false);
    api.apply(n1_down).unwrap();
    wait_until(10 * SEC, "the router's paths follow (node2, node3)", || {
        paths_are(&frr, "10.10.100.10/32", &[&n2, &n3])
    });
    wait_until(10 * SEC, "router2's one path is via node2 now", || paths_are(&frr2, "10.10.100.10/32", &[&n2]));
}
