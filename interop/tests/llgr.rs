//! Long-lived graceful restart (RFC 9494) against FRR 8.4, both roles, in network
//! namespaces (`it-llgr*`, lab ids 80-84). Times are small: GR restart time 3 s,
//! long-lived stale time 10 s.
//!
//! Every test first checks that it can run (root, FRR installed, the daemon and
//! bgpctl built) and otherwise prints `SKIP: <reason>` and passes.

use std::time::{Duration, Instant};

use interop::scenario::{neighbor, Scenario};
use interop::{skip_unless_ready, wait_until, Daemon, Frr};
use serde_json::Value;

const SEC: Duration = Duration::from_secs(1);

/// `Ok` once `addr` is Established with `prefixes` received.
fn established_with(d: &Daemon, addr: &str, prefixes: u64) -> Result<(), String> {
    let n = d.established(addr)?;
    if n.summary.prefixes_received == prefixes {
        Ok(())
    } else {
        Err(format!("{} prefixes from {addr}, not {prefixes}", n.summary.prefixes_received))
    }
}

/// Our paths of `prefix` (`show routes PREFIX --json`), best first.
fn our_paths(d: &Daemon, prefix: &str) -> Result<Vec<Value>, String> {
    let v = d.bgpctl(&["show", "routes", prefix])?;
    v.as_array().cloned().filter(|a| !a.is_empty()).ok_or_else(|| format!("no route: {v}"))
}

/// FRR's best path of `prefix`, if it has one.
fn frr_path(frr: &Frr, prefix: &str) -> Result<Value, String> {
    let v = frr.json(&format!("show bgp ipv4 unicast {prefix} json"))?;
    v["paths"].get(0).cloned().ok_or_else(|| format!("no path: {v}"))
}

/// Whether a path (ours: `communities`, FRR's: `community`) carries LLGR_STALE.
fn has_llgr_stale(path: &Value) -> bool {
    let c = format!("{}{}", path["community"], path["communities"]).to_lowercase();
    c.contains("llgr-stale") || c.contains("llgrstale") || c.contains("65535:6")
}

/// Helper side (RFC 9494 §4.2): FRR ("src", LLGR stale time 10 s, GR restart time 3 s)
/// dies (SIGKILL: its connection closes, which is graceful). We keep its routes, stale,
/// for its restart time, then as long-lived stale:
/// - 10.232.1.0/24 (from src only) gets LLGR_STALE, stays best, goes on to "llgr" (an
///   FRR with LLGR) and is withdrawn from "plain" (an FRR without);
/// - 10.232.2.0/24, which "plain" announces too, loses to plain's fresh path (least
///   preferred), although src's path won before (lower router id);
/// - 10.232.3.0/24 carries NO_LLGR: removed when the GR time is over;
/// - all go once the long-lived stale time is over.
#[test]
fn llgr_helper_keeps_routes_long_lived_stale_frr() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::segment("llgr-help", 80, &["src", "llgr", "plain"]);
    let (a, src, rx, plain) = (s.v4(1), s.addr("src"), s.addr("llgr"), s.addr("plain"));
    let gr =
        " bgp graceful-restart\n bgp graceful-restart restart-time 3\n bgp long-lived-graceful-restart stale-time 10\n";
    let mut src_frr = s.frr(
        "src",
        65001,
        &format!(
            "{gr} neighbor {a} remote-as 65000\n neighbor {a} timers connect 1\n address-family ipv4 unicast\n  \
             network 10.232.1.0/24\n  network 10.232.2.0/24\n  network 10.232.3.0/24 route-map NOLLGR\n  \
             neighbor {a} send-community\n exit-address-family\nexit\n!\nroute-map NOLLGR permit 10\n \
             set community 65535:7"
        ),
    );
    let rx_frr = s.frr("llgr", 65002, &format!("{gr} neighbor {a} remote-as 65000\n neighbor {a} timers connect 1"));
    let plain_frr = s.frr(
        "plain",
        65003,
        &format!(
            " neighbor {a} remote-as 65000\n neighbor {a} timers connect 1\n address-family ipv4 unicast\n  \
             network 10.232.2.0/24\n exit-address-family"
        ),
    );
    let export = "export_policy = \"accept-all\"";
    let d = s.ours(
        65000,
        &(neighbor(&src, 65001, &["long_lived_stale_time = 10"])
            + &neighbor(&rx, 65002, &[export, "long_lived_stale_time = 10"])
            + &neighbor(&plain, 65003, &[export])),
    );
    wait_until(30 * SEC, "Established with src's 3 prefixes", || established_with(&d, &src, 3));
    wait_until(30 * SEC, "Established with plain's prefix", || established_with(&d, &plain, 1));
    let n = d.established(&src).unwrap();
    assert!(
        n.long_lived.iter().any(|f| f.family == "ipv4-unicast" && f.stale_time == 10 && f.effective_stale_time == 10),
        "LLGR negotiated with src: {:?}",
        n.long_lived
    );
    wait_until(20 * SEC, "llgr has 10.232.1.0/24", || frr_path(&rx_frr, "10.232.1.0/24"));
    wait_until(20 * SEC, "plain has 10.232.1.0/24", || frr_path(&plain_frr, "10.232.1.0/24"));
    wait_until(20 * SEC, "src's path is best for 10.232.2.0/24", || {
        let p = our_paths(&d, "10.232.2.0/24")?;
        if p[0]["from"] == src.as_str() && p[0]["best"] == true {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    });

    s.step("SIGKILL to src's bgpd");
    let killed = Instant::now();
    src_frr.kill();
    let first = wait_until(3 * SEC, "src's route kept, stale", || {
        let p = our_paths(&d, "10.232.1.0/24")?;
        if p[0]["stale"] == true {
            Ok(p[0].clone())
        } else {
            Err(format!("not stale: {}", p[0]))
        }
    });
    assert_eq!(first["llgr_stale"], false, "GR stale first, for src's restart time: {first}");
    let phase = d.neighbor(&src).unwrap().restart_phase;
    assert_eq!(phase.as_ref().map(|p| p.phase.as_str()), Some("graceful-restart"), "{phase:?}");

    let llgr = wait_until(6 * SEC, "src's route becomes long-lived stale", || {
        let p = our_paths(&d, "10.232.1.0/24")?;
        if p[0]["llgr_stale"] == true {
            Ok(p[0].clone())
        } else {
            Err(format!("not LLGR stale: {}", p[0]))
        }
    });
    let at = killed.elapsed();
    s.step(&format!("long-lived stale after {:.1} s", at.as_secs_f64()));
    assert!(at >= Duration::from_millis(2500), "not before the GR restart time (3 s): {at:?}");
    assert_eq!(llgr["best"], true, "the only path: still best, still forwarding: {llgr}");
    assert!(has_llgr_stale(&llgr), "LLGR_STALE attached: {llgr}");
    let phase = d.neighbor(&src).unwrap().restart_phase.expect("a restart phase");
    assert_eq!(phase.phase, "long-lived-stale", "{phase:?}");
    assert!(phase.seconds_left <= 10, "{phase:?}");
    let text = d.bgpctl_text(&["show", "neighbors", &src]).unwrap();
    assert!(text.contains("LLGR stale (ipv4-unicast)"), "{text}");

    // Least preferred: plain's fresh path wins 10.232.2.0/24.
    let p = wait_until(3 * SEC, "plain's path is best for 10.232.2.0/24", || {
        let p = our_paths(&d, "10.232.2.0/24")?;
        if p[0]["from"] == plain.as_str() && p[0]["best"] == true {
            Ok(p)
        } else {
            Err(format!("{p:?}"))
        }
    });
    assert_eq!(p[0]["reason"], "not long-lived stale", "{p:?}");
    // NO_LLGR: removed.
    wait_until(3 * SEC, "10.232.3.0/24 (NO_LLGR) removed", || match our_paths(&d, "10.232.3.0/24") {
        Ok(p) => Err(format!("still here: {p:?}")),
        Err(_) => Ok(()),
    });
    // Passed on only to the LLGR peer.
    let at_rx = wait_until(5 * SEC, "llgr gets 10.232.1.0/24 with LLGR_STALE", || {
        let p = frr_path(&rx_frr, "10.232.1.0/24")?;
        if has_llgr_stale(&p) {
            Ok(p)
        } else {
            Err(format!("no LLGR_STALE: {p}"))
        }
    });
    s.step(&format!("llgr's path: {at_rx}"));
    wait_until(5 * SEC, "plain loses 10.232.1.0/24", || match frr_path(&plain_frr, "10.232.1.0/24") {
        Ok(p) => Err(format!("plain still has it: {p}")),
        Err(_) => Ok(()),
    });

    // Swept after the long-lived stale time: 3 + 10 s after the kill.
    wait_until(15 * SEC, "10.232.1.0/24 swept", || match our_paths(&d, "10.232.1.0/24") {
        Ok(p) => Err(format!("still here: {}", p[0])),
        Err(_) => Ok(()),
    });
    let gone = killed.elapsed();
    s.step(&format!("swept after {:.1} s", gone.as_secs_f64()));
    assert!(gone >= Duration::from_millis(12_500), "not before 3 + 10 s: {gone:?}");
    wait_until(5 * SEC, "llgr loses 10.232.1.0/24", || match frr_path(&rx_frr, "10.232.1.0/24") {
        Ok(p) => Err(format!("still has it: {p}")),
        Err(_) => Ok(()),
    });
    let log = d.log_text();
    assert!(log.contains("long-lived stale"), "{log}");
}

/// Restarting side: we advertise LLGR (stale time 10 s, GR restart time 3 s) and stop
/// with graceful restart (SIGTERM). FRR keeps our route past the restart time, as
/// long-lived stale, then drops it after the long-lived stale time.
#[test]
fn llgr_frr_keeps_our_routes_past_the_restart_time() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("llgr-rst", 81, "frr");
    let (a, b) = (s.v4(1), s.v4(2));
    let frr = s.frr(
        "frr",
        65001,
        &format!(
            " bgp graceful-restart\n bgp graceful-restart restart-time 3\n bgp long-lived-graceful-restart stale-time 10\n \
             neighbor {a} remote-as 65000\n neighbor {a} timers connect 1"
        ),
    );
    let config = s.global_toml(65000, &a, &["graceful_restart_time = 3"])
        + &neighbor(&b, 65001, &["export_policy = \"accept-all\"", "long_lived_stale_time = 10"])
        + "\n[[announce]]\nprefix = \"10.233.1.0/24\"\n";
    let mut d = s.start_ours(&config);
    let n = wait_until(30 * SEC, "Established", || d.established(&b));
    assert!(n.capabilities.iter().any(|c| c.starts_with("long-lived graceful restart")), "{:?}", n.capabilities);
    wait_until(20 * SEC, "FRR has our route", || frr_path(&frr, "10.233.1.0/24"));

    s.step("SIGTERM to bgp-daemon");
    let stopped = Instant::now();
    let status = d.terminate(10 * SEC).expect("bgp-daemon exits within 10 s of SIGTERM");
    assert!(status.success(), "bgp-daemon exit status {status}");
    // Past the 3 s restart time, FRR still has the route, long-lived stale.
    let p = wait_until(8 * SEC, "FRR keeps our route as LLGR stale", || {
        let p = frr_path(&frr, "10.233.1.0/24").unwrap_or_else(|e| panic!("FRR dropped our route: {e}"));
        if has_llgr_stale(&p) {
            Ok(p)
        } else {
            Err(format!("not LLGR stale yet: {p}"))
        }
    });
    let at = stopped.elapsed();
    s.step(&format!("LLGR stale at FRR after {:.1} s: {p}", at.as_secs_f64()));
    std::thread::sleep(Duration::from_secs(5).saturating_sub(at));
    frr_path(&frr, "10.233.1.0/24").expect("FRR keeps our route past the GR restart time");
    wait_until(15 * SEC, "FRR drops our route after the long-lived stale time", || {
        match frr_path(&frr, "10.233.1.0/24") {
            Ok(p) => Err(format!("still there: {p}")),
            Err(_) => Ok(()),
        }
    });
    let gone = stopped.elapsed();
    s.step(&format!("FRR dropped our route after {:.1} s", gone.as_secs_f64()));
    assert!(gone >= Duration::from_secs(10), "not before the long-lived stale time: {gone:?}");
}
