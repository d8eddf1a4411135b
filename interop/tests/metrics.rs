//! The Prometheus endpoint against FRR 8.4: scraped by curl (a real HTTP client) in
//! our namespace, its values checked against `bgpctl --json` (session state, prefix
//! counts, messages, the FIB) and against what FRR did (a shutdown NOTIFICATION, a
//! flap). Lab ids 90-91, names `met-*`; see interop/README.md.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use bgp_core::ctl::{NeighborDetail, SessionState};
use interop::scenario::{frr_neighbor, neighbor, Scenario};
use interop::{run_ok, skip_unless_ready, wait_until, Daemon, Frr};
use serde_json::Value;

const SEC: Duration = Duration::from_secs(1);
const PORT: u16 = 9179;

/// `curl` in our namespace: the scrape's samples, `name{labels}` -> value.
fn scrape(s: &Scenario) -> Result<BTreeMap<String, f64>, String> {
    let url = format!("http://{}:{PORT}/metrics", s.v4(1));
    let mut cmd: Command = s.us().cmd("curl");
    let body = run_ok(cmd.args(["--silent", "--show-error", "--fail", "--max-time", "10", &url]))?;
    if !body.ends_with("# EOF\n") {
        return Err(format!("not a whole scrape: {body}"));
    }
    Ok(body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect())
}

fn sample(m: &BTreeMap<String, f64>, key: &str) -> Result<f64, String> {
    m.get(key).copied().ok_or_else(|| format!("no {key} in the scrape: {:?}", m.keys().collect::<Vec<_>>()))
}

/// `Ok` once the scrape and `bgpctl --json show neighbors ADDR` agree on `addr`'s
/// state, prefixes and UPDATE/OPEN/NOTIFICATION counts (keepalives move on their own),
/// with the session Established and `prefixes` received.
fn agrees(
    s: &Scenario,
    d: &Daemon,
    addr: &str,
    prefixes: u64,
) -> Result<(BTreeMap<String, f64>, NeighborDetail), String> {
    let before = d.neighbor(addr)?;
    let m = scrape(s)?;
    let after = d.neighbor(addr)?;
    if before.received != after.received || before.sent.update != after.sent.update {
        return Err("messages moved during the scrape".into());
    }
    let n = after;
    if n.summary.state != SessionState::Established || n.summary.prefixes_received != prefixes {
        return Err(format!("{addr}: {} with {} prefixes", n.summary.state, n.summary.prefixes_received));
    }
    let peer = format!("peer=\"{addr}\",peer_as=\"{}\"", n.summary.asn);
    let checks = [
        (format!("bgpd_peer_up{{{peer}}}"), 1.0),
        (format!("bgpd_peer_state{{{peer}}}"), 6.0),
        (
            format!("bgpd_peer_prefixes_received{{{peer},afi=\"ipv4\",safi=\"unicast\"}}"),
            n.summary.prefixes_received as f64,
        ),
        (
            format!("bgpd_peer_prefixes_accepted{{{peer},afi=\"ipv4\",safi=\"unicast\"}}"),
            n.summary.prefixes_accepted as f64,
        ),
        (
            format!("bgpd_peer_prefixes_advertised{{{peer},afi=\"ipv4\",safi=\"unicast\"}}"),
            n.summary.prefixes_advertised as f64,
        ),
        (format!("bgpd_peer_prefixes_advertised{{{peer},afi=\"ipv6\",safi=\"unicast\"}}"), 0.0),
        (format!("bgpd_peer_messages_received_total{{{peer},type=\"update\"}}"), n.received.update as f64),
        (format!("bgpd_peer_messages_received_total{{{peer},type=\"open\"}}"), n.received.open as f64),
        (format!("bgpd_peer_messages_sent_total{{{peer},type=\"update\"}}"), n.sent.update as f64),
        (format!("bgpd_peer_messages_sent_total{{{peer},type=\"notification\"}}"), n.sent.notification as f64),
        (format!("bgpd_peer_established_total{{{peer}}}"), n.sessions_established as f64),
    ];
    for (key, want) in checks {
        let got = sample(&m, &key)?;
        if got != want {
            return Err(format!("{key} = {got}, bgpctl says {want}"));
        }
    }
    let uptime = sample(&m, &format!("bgpd_peer_uptime_seconds{{{peer}}}"))?;
    if uptime > n.summary.uptime_seconds as f64 + 1.0 {
        return Err(format!("uptime {uptime} s, bgpctl says {} s", n.summary.uptime_seconds));
    }
    Ok((m, n))
}

#[test]
fn metrics_frr_match_bgpctl_and_count_notifications_and_flaps() {
    skip_unless_ready!(frr: true, bird: false);
    if Command::new("curl").arg("--version").output().is_err() {
        assert!(!interop::required(), "INTEROP_REQUIRE is set, but curl is not installed");
        eprintln!("SKIP: curl is not installed (apt install curl)");
        return;
    }
    let s = Scenario::link("met-frr", 90, "frr");
    let (a, b) = (s.v4(1), s.v4(2));
    let frr: Frr =
        s.frr("frr", 65001, &frr_neighbor(&a, 65000, &[], &["10.190.1.0/24", "10.190.2.0/24", "10.190.3.0/24"]));
    let d = s.start_ours(&config(&s, &b));

    s.step("Established with FRR's 3 prefixes: the scrape agrees with bgpctl");
    let (m, n) = wait_until(30 * SEC, "the scrape to agree with bgpctl", || agrees(&s, &d, &b, 3));
    assert_eq!(n.sessions_established, 1);
    let started = std::time::Instant::now();
    for _ in 0..10 {
        scrape(&s).unwrap();
    }
    eprintln!("FIGURE metrics: one scrape by curl (process start included) {:?}", started.elapsed() / 10);
    // Our 2 announcements reach FRR: advertised, and the static source holds them.
    let frr_sees = |want: u64| {
        let f = frr.neighbor(&a)?;
        let got = f["addressFamilyInfo"]["ipv4Unicast"]["acceptedPrefixCounter"].as_u64().unwrap_or(0);
        if got == want {
            Ok(())
        } else {
            Err(format!("FRR accepted {got} of ours: {f}"))
        }
    };
    wait_until(10 * SEC, "FRR has our 2 IPv4 prefixes", || frr_sees(2));
    assert_eq!(sample(&m, "bgpd_source_routes{source=\"static\",afi=\"ipv4\",safi=\"unicast\"}").unwrap(), 2.0);
    assert_eq!(sample(&m, "bgpd_source_routes{source=\"static\",afi=\"ipv6\",safi=\"unicast\"}").unwrap(), 1.0);
    assert_eq!(sample(&m, "bgpd_source_routes{source=\"peer\",afi=\"ipv4\",safi=\"unicast\"}").unwrap(), 3.0);
    let summary: Value = d.bgpctl(&["show", "summary"]).unwrap();
    let summary = if summary.is_array() { summary[0].clone() } else { summary };
    assert_eq!(
        sample(&m, "bgpd_rib_prefixes{afi=\"ipv4\",safi=\"unicast\"}").unwrap(),
        summary["ipv4_prefixes"].as_f64().unwrap()
    );
    assert_eq!(
        sample(&m, "bgpd_rib_prefixes{afi=\"ipv6\",safi=\"unicast\"}").unwrap(),
        summary["ipv6_prefixes"].as_f64().unwrap()
    );

    s.step("FRR's 3 routes in the kernel: bgpd_fib_routes_installed as show fib");
    let fib_agrees = || {
        let rows = d.bgpctl(&["show", "fib"])?;
        let installed = rows.as_array().map_or(0, |r| r.iter().filter(|r| r["state"] == "installed").count());
        let m = scrape(&s)?;
        let got = sample(&m, "bgpd_fib_routes_installed")?;
        if installed == 3 && got == 3.0 && sample(&m, "bgpd_fib_routes_failed")? == 0.0 {
            Ok(())
        } else {
            Err(format!("show fib: {installed} installed; scrape: {got}"))
        }
    };
    wait_until(10 * SEC, "the FIB counts to agree", fib_agrees);

    s.step("FRR shuts the session down: one Cease / Administrative Shutdown received, one flap");
    frr.configure(65001, &[&format!("neighbor {a} shutdown message metrics test")]).unwrap();
    let peer = format!("peer=\"{b}\",peer_as=\"65001\"");
    wait_until(10 * SEC, "the NOTIFICATION and the flap in the scrape", || {
        let m = scrape(&s)?;
        let key = format!("bgpd_peer_notifications_received_total{{{peer},code=\"6\",subcode=\"2\"}}");
        match (sample(&m, &key), sample(&m, &format!("bgpd_peer_flaps_total{{{peer}}}"))?) {
            (Ok(1.0), 1.0) if sample(&m, &format!("bgpd_peer_up{{{peer}}}"))? == 0.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let m = scrape(&s).unwrap();
    // FRR 8.4 sends it as a Hard Reset (RFC 8538) around Administrative Shutdown.
    let hard = format!("bgpd_peer_hard_resets_total{{{peer},direction=\"received\"}}");
    assert_eq!(sample(&m, &hard).unwrap(), 1.0);
    assert_eq!(sample(&m, &format!("bgpd_peer_messages_received_total{{{peer},type=\"notification\"}}")).unwrap(), 1.0);
    assert_eq!(sample(&m, &format!("bgpd_peer_uptime_seconds{{{peer}}}")).unwrap(), 0.0);
    assert_eq!(
        sample(&m, &format!("bgpd_peer_prefixes_received{{{peer},afi=\"ipv4\",safi=\"unicast\"}}")).unwrap(),
        0.0
    );
    assert!(!m.keys().any(|k| k.starts_with("bgpd_peer_notifications_sent_total")), "we sent none");

    s.step("FRR enables it again: Established twice, still one flap");
    frr.configure(65001, &[&format!("no neighbor {a} shutdown")]).unwrap();
    let (m, n) = wait_until(30 * SEC, "the scrape to agree with bgpctl again", || agrees(&s, &d, &b, 3));
    assert_eq!(n.sessions_established, 2);
    assert_eq!(sample(&m, &format!("bgpd_peer_flaps_total{{{peer}}}")).unwrap(), 1.0);
}

/// Ours: the metrics endpoint on our link address, FRR as neighbor, FRR's routes
/// installed, two IPv4 announcements and one IPv6.
fn config(s: &Scenario, peer: &str) -> String {
    let metrics = format!("metrics_listen = \"{}:{PORT}\"", s.v4(1));
    let announce = "\n[[announce]]\nprefix = \"10.191.1.0/24\"\n\n[[announce]]\nprefix = \"10.191.2.0/24\"\n\n\
                    [[announce]]\nprefix = \"fd00:191::/48\"\n\n[kernel]\ninstall = true\n";
    s.global_toml(65000, &s.v4(1), &[&metrics]) + &neighbor(peer, 65001, &["export_policy = \"accept-all\""]) + announce
}
