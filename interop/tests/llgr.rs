//! Long-lived graceful restart (RFC 9494) against FRR 8.4 and BIRD 2.0.12, both roles,
//! and what BIRD does with a received GRACEFUL_SHUTDOWN community (RFC 8326), in
//! network namespaces (`it-llgr*`, lab ids 80-84). Times are small: GR restart time
//! 3 s, long-lived stale time 10 s.
//!
//! Every test first checks that it can run (root, FRR or BIRD installed, the daemon
//! and bgpctl built) and otherwise prints `SKIP: <reason>` and passes.

use std::time::{Duration, Instant};

use interop::scenario::{bird_bgp, bird_static, neighbor, Scenario};
use interop::{skip_unless_ready, wait_until, Bird, Daemon, Frr};
use serde_json::Value;

const SEC: Duration = Duration::from_secs(1);

/// BIRD's options for a restarting speaker with LLGR: GR 3 s, LLGR 10 s.
const BIRD_LLGR: &str =
    "graceful restart on; graceful restart time 3; long lived graceful restart on; long lived stale time 10;";

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

/// BIRD's `show route for PREFIX all`, if it has a route for exactly `prefix`.
fn bird_route(bird: &Bird, prefix: &str) -> Result<String, String> {
    let t = bird.birdc(&["show", "route", prefix, "all"])?;
    if t.contains(prefix) {
        Ok(t)
    } else {
        Err(format!("BIRD {} has no {prefix}:\n{t}", bird.name))
    }
}

/// Whether a path carries LLGR_STALE: ours (JSON `communities`), FRR's (JSON
/// `community`) or BIRD's text (`(65535,6)`).
fn has_llgr_stale(path: &str) -> bool {
    let c = path.to_lowercase();
    ["llgr-stale", "llgrstale", "llgr_stale", "65535:6", "(65535,6)"].iter().any(|s| c.contains(s))
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
    assert!(has_llgr_stale(&llgr.to_string()), "LLGR_STALE attached: {llgr}");
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
        if has_llgr_stale(&p.to_string()) {
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
        if has_llgr_stale(&p.to_string()) {
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

/// Helper side (RFC 9494 §4.2) with BIRD restarting: BIRD "src" (GR 3 s, LLGR 10 s)
/// is killed (SIGKILL: the kernel closes its connection, which is graceful). We keep
/// its routes stale for its restart time, then long-lived stale: 10.182.1.0/24 gets
/// LLGR_STALE, stays best, goes on to BIRD "llgr" (LLGR on) and is withdrawn from
/// BIRD "plain" (GR and LLGR off); 10.182.3.0/24, tagged NO_LLGR by src, goes when
/// the restart time is over; all go after the long-lived stale time.
#[test]
fn llgr_helper_keeps_birds_routes_long_lived_stale() {
    skip_unless_ready!(frr: false, bird: true);
    let s = Scenario::segment("llgrb-help", 82, &["src", "llgr", "plain"]);
    let (a, src, rx, plain) = (s.v4(1), s.addr("src"), s.addr("llgr"), s.addr("plain"));
    let mut src_bird = s.bird(
        "src",
        &(bird_static("ipv4", &["10.182.1.0/24 blackhole", "10.182.3.0/24 blackhole"])
            + &bird_bgp(
                "daemon",
                &src,
                65001,
                &a,
                65000,
                BIRD_LLGR,
                "ipv4 { import none; export filter { if net = 10.182.3.0/24 then bgp_community.add((65535,7)); accept; }; }",
            )),
    );
    let rx_bird = s.bird(
        "llgr",
        &bird_bgp(
            "daemon",
            &rx,
            65002,
            &a,
            65000,
            "long lived graceful restart on;",
            "ipv4 { import all; export none; }",
        ),
    );
    let plain_bird = s.bird(
        "plain",
        &bird_bgp(
            "daemon",
            &plain,
            65003,
            &a,
            65000,
            "graceful restart off; long lived graceful restart off;",
            "ipv4 { import all; export none; }",
        ),
    );
    let export = "export_policy = \"accept-all\"";
    let d = s.ours(
        65000,
        &(neighbor(&src, 65001, &["long_lived_stale_time = 10"])
            + &neighbor(&rx, 65002, &[export, "long_lived_stale_time = 10"])
            + &neighbor(&plain, 65003, &[export])),
    );
    wait_until(30 * SEC, "Established with src's 2 prefixes", || established_with(&d, &src, 2));
    let n = d.established(&src).unwrap();
    assert!(
        n.long_lived.iter().any(|f| f.family == "ipv4-unicast" && f.stale_time == 10 && f.effective_stale_time == 10),
        "LLGR negotiated with BIRD src: {:?}",
        n.long_lived
    );
    let n = d.established(&plain).unwrap();
    assert!(n.long_lived.is_empty(), "BIRD plain has LLGR off: {:?}", n.long_lived);
    wait_until(20 * SEC, "llgr has 10.182.1.0/24", || bird_route(&rx_bird, "10.182.1.0/24"));
    wait_until(20 * SEC, "plain has 10.182.1.0/24", || bird_route(&plain_bird, "10.182.1.0/24"));
    let p = our_paths(&d, "10.182.3.0/24").unwrap();
    assert!(
        p[0]["communities"].to_string().to_lowercase().contains("no-llgr")
            || p[0]["communities"].to_string().contains("65535:7"),
        "NO_LLGR from BIRD: {}",
        p[0]
    );

    s.step("SIGKILL to BIRD src");
    let killed = Instant::now();
    src_bird.kill();
    let first = wait_until(3 * SEC, "src's route kept, stale", || {
        let p = our_paths(&d, "10.182.1.0/24")?;
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
        let p = our_paths(&d, "10.182.1.0/24")?;
        if p[0]["llgr_stale"] == true {
            Ok(p[0].clone())
        } else {
            Err(format!("not LLGR stale: {}", p[0]))
        }
    });
    let at = killed.elapsed();
    s.step(&format!("long-lived stale after {:.1} s", at.as_secs_f64()));
    assert!(at >= Duration::from_millis(2500), "not before BIRD's GR restart time (3 s): {at:?}");
    assert_eq!(llgr["best"], true, "the only path: still best: {llgr}");
    assert!(has_llgr_stale(&llgr["communities"].to_string()), "LLGR_STALE attached: {llgr}");
    let phase = d.neighbor(&src).unwrap().restart_phase.expect("a restart phase");
    assert_eq!(phase.phase, "long-lived-stale", "{phase:?}");
    wait_until(3 * SEC, "10.182.3.0/24 (NO_LLGR) removed", || match our_paths(&d, "10.182.3.0/24") {
        Ok(p) => Err(format!("still here: {p:?}")),
        Err(_) => Ok(()),
    });
    let at_rx = wait_until(5 * SEC, "llgr gets 10.182.1.0/24 with LLGR_STALE", || {
        let t = bird_route(&rx_bird, "10.182.1.0/24")?;
        if has_llgr_stale(&t) {
            Ok(t)
        } else {
            Err(format!("no LLGR_STALE: {t}"))
        }
    });
    s.step(&format!("BIRD llgr's route:\n{at_rx}"));
    wait_until(5 * SEC, "plain loses 10.182.1.0/24", || match bird_route(&plain_bird, "10.182.1.0/24") {
        Ok(t) => Err(format!("plain still has it: {t}")),
        Err(_) => Ok(()),
    });

    wait_until(15 * SEC, "10.182.1.0/24 swept", || match our_paths(&d, "10.182.1.0/24") {
        Ok(p) => Err(format!("still here: {}", p[0])),
        Err(_) => Ok(()),
    });
    let gone = killed.elapsed();
    s.step(&format!("swept after {:.1} s", gone.as_secs_f64()));
    assert!(gone >= Duration::from_millis(12_500), "not before 3 + 10 s: {gone:?}");
    wait_until(5 * SEC, "llgr loses 10.182.1.0/24", || match bird_route(&rx_bird, "10.182.1.0/24") {
        Ok(t) => Err(format!("still has it: {t}")),
        Err(_) => Ok(()),
    });
}

/// Restarting side with BIRD as the helper: we advertise LLGR (10 s) with GR (3 s)
/// and stop with SIGTERM. BIRD keeps our route past the restart time, long-lived
/// stale (LLGR_STALE in `show route all`), then drops it after the stale time.
#[test]
fn llgr_bird_keeps_our_routes_past_the_restart_time() {
    skip_unless_ready!(frr: false, bird: true);
    let s = Scenario::link("llgrb-rst", 83, "bird");
    let (a, b) = (s.v4(1), s.v4(2));
    let bird =
        s.bird("bird", &bird_bgp("daemon", &b, 65001, &a, 65000, BIRD_LLGR, "ipv4 { import all; export none; }"));
    let config = s.global_toml(65000, &a, &["graceful_restart_time = 3"])
        + &neighbor(&b, 65001, &["export_policy = \"accept-all\"", "long_lived_stale_time = 10"])
        + "\n[[announce]]\nprefix = \"10.183.1.0/24\"\n";
    let mut d = s.start_ours(&config);
    let n = wait_until(30 * SEC, "Established", || d.established(&b));
    assert!(n.capabilities.iter().any(|c| c.starts_with("long-lived graceful restart")), "{:?}", n.capabilities);
    wait_until(20 * SEC, "BIRD has our route", || bird_route(&bird, "10.183.1.0/24"));
    let proto = bird.protocol("daemon").unwrap();
    s.step(&format!("BIRD's view of the session:\n{proto}"));

    s.step("SIGTERM to bgp-daemon");
    let stopped = Instant::now();
    let status = d.terminate(10 * SEC).expect("bgp-daemon exits within 10 s of SIGTERM");
    assert!(status.success(), "bgp-daemon exit status {status}");
    let t = wait_until(8 * SEC, "BIRD keeps our route as LLGR stale", || {
        let t = bird_route(&bird, "10.183.1.0/24").unwrap_or_else(|e| panic!("BIRD dropped our route: {e}"));
        if has_llgr_stale(&t) {
            Ok(t)
        } else {
            Err(format!("not LLGR stale yet: {t}"))
        }
    });
    let at = stopped.elapsed();
    s.step(&format!("LLGR stale at BIRD after {:.1} s:\n{t}", at.as_secs_f64()));
    assert!(at >= Duration::from_millis(2500), "not before our GR restart time (3 s): {at:?}");
    std::thread::sleep(Duration::from_secs(5).saturating_sub(at));
    bird_route(&bird, "10.183.1.0/24").expect("BIRD keeps our route past the GR restart time");
    wait_until(15 * SEC, "BIRD drops our route after the long-lived stale time", || {
        match bird_route(&bird, "10.183.1.0/24") {
            Ok(t) => Err(format!("still there: {t}")),
            Err(_) => Ok(()),
        }
    });
    let gone = stopped.elapsed();
    s.step(&format!("BIRD dropped our route after {:.1} s", gone.as_secs_f64()));
    assert!(gone >= Duration::from_secs(10), "not before the long-lived stale time: {gone:?}");
}

/// RFC 8326 §4.1 at BIRD: does BIRD 2.0.12 give a route carrying GRACEFUL_SHUTDOWN
/// LOCAL_PREF 0 on its own? It does not: after `bgpctl drain` BIRD shows the community
/// and still LOCAL_PREF 100. With the one import line that configs/KEYS.md gives
/// (`if (65535,0) ~ bgp_community then bgp_local_pref = 0;`), it does. Ends undrained.
fn bird_needs_an_import_rule_for_graceful_shutdown(s: &Scenario, d: &Daemon, bird: &Bird, prefix: &str) {
    let t = bird_route(bird, prefix).unwrap();
    assert!(t.contains("BGP.local_pref: 100"), "eBGP default: {t}");
    s.step("bgpctl drain");
    d.bgpctl(&["drain"]).expect("drain");
    let t = wait_until(10 * SEC, "BIRD sees GRACEFUL_SHUTDOWN", || {
        let t = bird_route(bird, prefix)?;
        if t.contains("(65535,0)") {
            Ok(t)
        } else {
            Err(format!("no (65535,0): {t}"))
        }
    });
    s.step(&format!("BIRD's route, drained, no filter:\n{t}"));
    assert!(t.contains("BGP.local_pref: 100"), "BIRD 2.0.12 does not apply RFC 8326 §4.1 by itself: {t}");

    s.step("BIRD with the import rule");
    let conf = bird.dir.join("bird.conf");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("import all;", "import filter { if (65535,0) ~ bgp_community then bgp_local_pref = 0; accept; };");
    std::fs::write(&conf, text).unwrap();
    bird.birdc(&["configure"]).expect("birdc configure");
    let t = wait_until(10 * SEC, "BIRD gives the route LOCAL_PREF 0", || {
        let t = bird_route(bird, prefix)?;
        if t.contains("BGP.local_pref: 0") {
            Ok(t)
        } else {
            Err(format!("not 0 yet: {t}"))
        }
    });
    s.step(&format!("BIRD's route with the rule:\n{t}"));
    d.bgpctl(&["undrain"]).expect("undrain");
    wait_until(10 * SEC, "BIRD's LOCAL_PREF 100 again after undrain", || {
        let t = bird_route(bird, prefix)?;
        if t.contains("BGP.local_pref: 100") && !t.contains("(65535,0)") {
            Ok(())
        } else {
            Err(format!("still drained: {t}"))
        }
    });
}

/// First BIRD and GRACEFUL_SHUTDOWN (above). Then the path to BIRD goes dead, so both
/// hold timers (9 s) expire: no NOTIFICATION gets through, which RFC 4724 treats as
/// graceful on both sides. Each side keeps the other's route, stale, then long-lived
/// stale, and drops it after 3 + 10 s more.
#[test]
fn llgr_with_bird_survives_a_cut_link() {
    skip_unless_ready!(frr: false, bird: true);
    let s = Scenario::link("llgrb-cut", 84, "bird");
    let (a, b) = (s.v4(1), s.v4(2));
    let bird = s.bird(
        "bird",
        &(bird_static("ipv4", &["10.184.2.0/24 blackhole"])
            + &bird_bgp("daemon", &b, 65001, &a, 65000, BIRD_LLGR, "ipv4 { import all; export all; }")),
    );
    let config = s.global_toml(65000, &a, &["graceful_restart_time = 3"])
        + &neighbor(&b, 65001, &["export_policy = \"accept-all\"", "long_lived_stale_time = 10"])
        + "\n[[announce]]\nprefix = \"10.184.3.0/24\"\n";
    let d = s.start_ours(&config);
    wait_until(30 * SEC, "Established with BIRD's prefix", || established_with(&d, &b, 1));
    wait_until(20 * SEC, "BIRD has our route", || bird_route(&bird, "10.184.3.0/24"));
    bird_needs_an_import_rule_for_graceful_shutdown(&s, &d, &bird, "10.184.3.0/24");

    // Not `link set down`: BIRD would drop our route at once, its next hop being on a
    // downed interface. Blackhole routes on both sides drop every packet, the link up.
    s.step("blackhole routes on both sides");
    let cut = Instant::now();
    interop::ip(&["-n", &s.ns("bird").name, "route", "add", "blackhole", &format!("{a}/32")]);
    interop::ip(&["-n", &s.us().name, "route", "add", "blackhole", &format!("{b}/32")]);
    let ours = wait_until(30 * SEC, "we hold BIRD's route LLGR stale", || {
        let p = our_paths(&d, "10.184.2.0/24").unwrap_or_else(|e| panic!("we dropped BIRD's route: {e}"));
        if p[0]["llgr_stale"] == true {
            Ok(p[0].clone())
        } else {
            Err(format!("not LLGR stale: {}", p[0]))
        }
    });
    let at = cut.elapsed();
    s.step(&format!("ours LLGR stale after {:.1} s: {ours}", at.as_secs_f64()));
    // (Not best: the blackhole makes BIRD's next hop unreachable here.)
    assert!(at >= Duration::from_millis(10_500), "not before hold time + GR time (9 + 3 s): {at:?}");
    let t = wait_until(30 * SEC, "BIRD holds our route LLGR stale", || {
        let t = bird_route(&bird, "10.184.3.0/24").unwrap_or_else(|e| panic!("BIRD dropped our route: {e}"));
        if has_llgr_stale(&t) {
            Ok(t)
        } else {
            Err(format!("not LLGR stale yet: {t}"))
        }
    });
    s.step(&format!("BIRD's LLGR stale after {:.1} s:\n{t}", cut.elapsed().as_secs_f64()));
    wait_until(25 * SEC, "we sweep BIRD's route", || match our_paths(&d, "10.184.2.0/24") {
        Ok(p) => Err(format!("still here: {}", p[0])),
        Err(_) => Ok(()),
    });
    s.step(&format!("ours swept after {:.1} s", cut.elapsed().as_secs_f64()));
    wait_until(10 * SEC, "BIRD drops our route", || match bird_route(&bird, "10.184.3.0/24") {
        Ok(t) => Err(format!("still there: {t}")),
        Err(_) => Ok(()),
    });
    let gone = cut.elapsed();
    s.step(&format!("BIRD dropped ours after {:.1} s", gone.as_secs_f64()));
    assert!(gone >= Duration::from_secs(18), "not before hold time + 3 + 10 s (about 22 s): {gone:?}");
}
