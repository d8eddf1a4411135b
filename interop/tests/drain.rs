//! Drains (RFC 8326 graceful shutdown) against FRR 8.4 as the home router: two of our
//! daemons, node1 and node2, announce the same LoadBalancer /32 over eBGP, and FRR uses
//! both (ECMP). Draining node1 moves FRR to node2's path alone before anything is
//! withdrawn; FRR's table is sampled all along (every ~10–20 ms, as fast as vtysh
//! answers) and the /32 is never missing. The same holds for SIGTERM with
//! `on_stop = "drain-then-graceful-restart"`, through the stop that follows.
//!
//! FRR is not told anything about GRACEFUL_SHUTDOWN: 8.4 gives routes that carry it
//! LOCAL_PREF 0 on its own (the RFC's receiver rule, §4.1), which the first test
//! checks.
//!
//! Tests 85 and 86 own `10.77.85.0/24` and `10.77.86.0/24`, namespaces `it-drain*-*`.
//! Every test first checks that it can run (root, FRR installed, the daemon and bgpctl
//! built) and otherwise prints `SKIP: <reason>` and passes (`INTEROP_REQUIRE=1`: fails).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use interop::scenario::{frr_neighbor, Scenario};
use interop::{holds_for, skip_unless_ready, wait_until, Daemon, Frr};
use serde_json::Value;

const SEC: Duration = Duration::from_secs(1);
const OUR_AS: u32 = 64513;
const ROUTER_AS: u32 = 64512;
const VIP: &str = "10.10.100.10/32";

/// FRR as the home router: eBGP to both nodes, ECMP over up to 8 paths.
fn router(s: &Scenario, nodes: &[String]) -> Frr {
    let mut body = String::new();
    for n in nodes {
        body += &frr_neighbor(n, OUR_AS, &[], &[]);
        body += "\n";
    }
    body += " address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family";
    s.frr("router", ROUTER_AS, &body)
}

/// A node: our daemon in `role`'s namespace announcing the /32 to the router.
fn node(s: &Scenario, role: &str, global: &[&str]) -> Daemon {
    let rid = s.addr(role);
    let mut cfg = s.global_toml_named(role, OUR_AS, &rid, global);
    cfg += &format!(
        "\n[[neighbor]]\naddress = \"{}\"\nasn = {ROUTER_AS}\nimport_policy = \"reject-all\"\nexport_policy = \"accept-all\"\n",
        s.addr("router")
    );
    cfg += &format!("\n[[announce]]\nprefix = \"{VIP}\"\n");
    Daemon::start_named(s, s.ns(role), role, &cfg)
}

/// FRR's selected paths to the /32 (best and multipath), by next hop, sorted, and
/// whether it has any path at all.
fn selected(frr: &Frr) -> Result<(Vec<String>, usize), String> {
    Ok(selected_in(&frr.json(&format!("show bgp ipv4 unicast {VIP} json"))?))
}

/// The same, read from FRR's JSON answer.
fn selected_in(v: &Value) -> (Vec<String>, usize) {
    let paths = v["paths"].as_array().cloned().unwrap_or_default();
    let mut hops: Vec<String> = paths
        .iter()
        .filter(|p| p["bestpath"]["overall"] == true || p["multipath"] == true)
        .filter_map(|p| p["nexthops"][0]["ip"].as_str().map(String::from))
        .collect();
    hops.sort();
    (hops, paths.len())
}

fn selected_are(frr: &Frr, want: &[&str]) -> Result<(), String> {
    let (got, _) = selected(frr)?;
    if got == want {
        Ok(())
    } else {
        Err(format!("FRR selects {got:?}, want {want:?}"))
    }
}

/// One sample of FRR's table: when, the selected next hops, how many paths.
type Sample = (Duration, Vec<String>, usize);

/// Samples FRR's table from another thread until finished (over bgpd's vty socket,
/// every 10 ms).
struct Sampler {
    start: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(frr_dir: std::path::PathBuf) -> Sampler {
        let (samples, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let start = Instant::now();
        let (s, st) = (samples.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut vty = Vty::connect(&frr_dir.join("bgpd.vty")).expect("FRR's vty socket");
            while !st.load(Ordering::Relaxed) {
                let out = vty.ask(&format!("show bgp ipv4 unicast {VIP} json"));
                let at = start.elapsed();
                let sample = out.ok().and_then(|o| serde_json::from_slice::<Value>(&o).ok()).map(|v| {
                    let (hops, paths) = selected_in(&v);
                    (at, hops, paths)
                });
                // An answer vtysh could not give (never seen) is no sample.
                if let Some(sample) = sample {
                    s.lock().unwrap().push(sample);
                }
                thread::sleep(Duration::from_millis(10));
            }
        });
        Sampler { start, samples, stop, thread: Some(thread) }
    }

    /// Stops sampling; the samples.
    fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.samples.lock().unwrap())
    }
}

/// A client of bgpd's vty socket, as vtysh is: a command ends with a NUL, the answer
/// with three NULs and the command's status. One connection for every sample spares
/// the ~20–40 ms of starting vtysh, so samples come every ~10 ms.
struct Vty(UnixStream);

impl Vty {
    fn connect(path: &std::path::Path) -> std::io::Result<Vty> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(Vty(s))
    }

    fn ask(&mut self, command: &str) -> std::io::Result<Vec<u8>> {
        self.0.write_all(command.as_bytes())?;
        self.0.write_all(&[0])?;
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = self.0.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            out.extend_from_slice(&buf[..n]);
            if out.len() >= 4 && out[out.len() - 4..out.len() - 1] == [0, 0, 0] {
                out.truncate(out.len() - 4);
                return Ok(out);
            }
        }
    }
}

/// The samples never lack the /32, and are dense enough to say so: no gap over
/// 200 ms (10–35 ms is usual; a loaded CI machine stalls the sampler now and then). Returns the largest gap.
fn never_missing(samples: &[Sample]) -> Duration {
    assert!(samples.len() > 20, "too few samples: {}", samples.len());
    for (at, hops, paths) in samples {
        assert!(*paths > 0 && !hops.is_empty(), "at {at:?} FRR had no usable path to {VIP}: {samples:?}");
    }
    let gap = samples.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap_or_default();
    assert!(gap < Duration::from_millis(200), "sampling gap {gap:?}");
    gap
}

/// The first sample at or after `since` that selects exactly `want`.
fn first_at(samples: &[Sample], since: Duration, want: &[String]) -> Option<Duration> {
    samples.iter().find(|(at, hops, _)| *at >= since && hops == want).map(|(at, _, _)| *at - since)
}

fn ecmp(s: &Scenario, d1: &Daemon, d2: &Daemon, frr: &Frr) -> (String, String) {
    let (n1, n2, r) = (s.addr("node1"), s.addr("node2"), s.addr("router"));
    wait_until(30 * SEC, "node1 Established", || d1.established(&r));
    wait_until(30 * SEC, "node2 Established", || d2.established(&r));
    wait_until(20 * SEC, "FRR uses both nodes (ECMP)", || selected_are(frr, &[&n1, &n2]));
    (n1, n2)
}

/// `bgpctl drain` on node1: FRR moves to node2 alone, the /32 never missing; the drain
/// shows in `show neighbors`; `undrain` brings ECMP back. The time from the command to
/// FRR's move is printed (FIGURE drain).
#[test]
fn a_drained_node_loses_the_routers_traffic_before_anything_is_withdrawn() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::segment("drain", 85, &["router", "node1", "node2"]);
    let frr = router(&s, &[s.addr("node1"), s.addr("node2")]);
    let d1 = node(&s, "node1", &[]);
    let d2 = node(&s, "node2", &[]);
    let (n1, n2) = ecmp(&s, &d1, &d2, &frr);
    let r = s.addr("router");

    let sampler = Sampler::start(frr.dir.clone());
    thread::sleep(Duration::from_millis(300));
    s.step("bgpctl drain on node1");
    let issued = sampler.start.elapsed();
    let reply = d1.bgpctl(&["drain", "--wait", "2"]).expect("drain");
    assert_eq!(reply["neighbors"][0]["address"], r.as_str(), "{reply}");
    assert_eq!(reply["neighbors"][0]["drained"], true, "{reply}");
    assert_eq!(reply["neighbors"][0]["routes"], 1, "{reply}");
    wait_until(10 * SEC, "FRR selects node2 alone", || selected_are(&frr, &[&n2]));
    let (_, paths) = selected(&frr).unwrap();
    assert_eq!(paths, 2, "node1's path is still there, least preferred: nothing was withdrawn");
    let v = frr.json(&format!("show bgp ipv4 unicast {VIP} json")).unwrap();
    let p1 = v["paths"].as_array().unwrap().iter().find(|p| p["nexthops"][0]["ip"] == n1.as_str()).cloned();
    let p1 = p1.expect("node1's path");
    assert_eq!(p1["locPrf"], 0, "FRR applies RFC 8326 §4.1 on its own: {p1}");
    let c = p1["community"]["string"].as_str().unwrap_or("");
    assert!(c.contains("graceful-shutdown") || c.contains("65535:0"), "{p1}");
    let n = d1.neighbor(&r).unwrap();
    assert!(n.summary.drained, "show neighbors says drained");
    let text = d1.bgpctl_text(&["show", "neighbors"]).unwrap();
    assert!(text.contains("(drained)"), "{text}");
    s.step("a reload keeps the drain");
    d1.bgpctl(&["reload"]).expect("reload");
    holds_for(SEC, "FRR stays on node2", || selected_are(&frr, &[&n2]));
    assert!(d1.neighbor(&r).unwrap().summary.drained);

    s.step("bgpctl undrain on node1");
    let undrained = sampler.start.elapsed();
    d1.bgpctl(&["undrain"]).expect("undrain");
    wait_until(10 * SEC, "FRR uses both nodes again", || selected_are(&frr, &[&n1, &n2]));
    thread::sleep(Duration::from_millis(300));
    let samples = sampler.finish();
    let gap = never_missing(&samples);
    let moved = first_at(&samples, issued, std::slice::from_ref(&n2)).expect("a sample with node2 alone");
    let back = first_at(&samples, undrained, &[n1.clone(), n2.clone()]).expect("a sample with ECMP again");
    println!(
        "FIGURE drain: bgpctl drain to FRR's best path moving to the other node: {} ms; undrain to ECMP again: {} ms \
         ({} samples of FRR's table, largest gap {} ms, the /32 never missing)",
        moved.as_millis(),
        back.as_millis(),
        samples.len(),
        gap.as_millis()
    );
    assert!(!d1.neighbor(&r).unwrap().summary.drained);
}

/// SIGTERM with `on_stop = "drain-then-graceful-restart"`: node1 drains for
/// `drain_time`, FRR moves to node2, then node1 stops as a restarting speaker (FRR
/// keeps its path, stale, least preferred). The /32 is never missing from FRR's table
/// through the drain and the stop.
#[test]
fn sigterm_drains_then_stops_without_a_gap() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::segment("drainstop", 86, &["router", "node1", "node2"]);
    let frr = router(&s, &[s.addr("node1"), s.addr("node2")]);
    let stop = ["on_stop = \"drain-then-graceful-restart\"", "drain_time = 3"];
    let mut d1 = node(&s, "node1", &stop);
    let d2 = node(&s, "node2", &[]);
    let (n1, n2) = ecmp(&s, &d1, &d2, &frr);

    let sampler = Sampler::start(frr.dir.clone());
    thread::sleep(Duration::from_millis(300));
    s.step("SIGTERM to node1");
    let signalled = sampler.start.elapsed();
    let t = Instant::now();
    let status = d1.terminate(15 * SEC).expect("node1 stops after its drain");
    let took = t.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took >= 3 * SEC, "the stop waited drain_time: {took:?}");
    thread::sleep(Duration::from_secs(2));
    let samples = sampler.finish();
    let gap = never_missing(&samples);
    let moved = first_at(&samples, signalled, std::slice::from_ref(&n2)).expect("FRR moved to node2");
    assert!(moved < 3 * SEC, "FRR moved before the stop: {moved:?}");
    assert!(samples.iter().filter(|(at, _, _)| *at >= signalled + moved).all(|(_, hops, _)| *hops == [n2.clone()]));
    let log = d1.log_text();
    assert!(log.contains("draining every neighbor first"), "{log}");
    println!(
        "FIGURE drain: SIGTERM (on_stop = drain-then-graceful-restart, drain_time 3 s) to FRR's best path moving: {} ms; \
         stop after {} ms; {} samples, largest gap {} ms, the /32 never missing",
        moved.as_millis(),
        took.as_millis(),
        samples.len(),
        gap.as_millis()
    );
    let _ = n1;

    // A second signal during the drain stops at once.
    let mut d3 = node(&s, "node1", &["on_stop = \"drain-then-graceful-restart\"", "drain_time = 60"]);
    wait_until(30 * SEC, "node1 Established again", || d3.established(&s.addr("router")));
    let t = Instant::now();
    d3.terminate(Duration::from_millis(500));
    let status = d3.terminate(10 * SEC).expect("a second SIGTERM stops at once");
    assert!(status.success() && t.elapsed() < 10 * SEC, "{status:?} after {:?}", t.elapsed());
}
