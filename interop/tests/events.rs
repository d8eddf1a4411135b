//! The per-neighbor event history (`bgpctl show neighbors ADDR events`, `bgpctl show
//! events`) of a real session with FRR 8.4: it comes up, FRR shuts it down with an
//! RFC 9003 message, it comes up again, we reset it, and the history tells each step
//! with the NOTIFICATIONs decoded. Lab ids 92–93, namespaces `it-evt-*`.

use std::net::IpAddr;
use std::time::Duration;

use bgp_core::ctl::events::{Event, NeighborEvent, RestartPhase};
use bgp_core::ctl::SessionState;
use interop::scenario::{frr_neighbor, neighbor, Scenario};
use interop::{skip_unless_ready, wait_until, Daemon};

const SEC: Duration = Duration::from_secs(1);

/// `bgpctl show neighbors ADDR events --json`, parsed into the ctl types.
fn events_of(d: &Daemon, addr: &str) -> Result<Vec<NeighborEvent>, String> {
    let v = d.bgpctl(&["show", "neighbors", addr, "events"])?;
    serde_json::from_value(v.clone()).map_err(|e| format!("show neighbors {addr} events: {e}: {v}"))
}

/// The index of the first event at or after `from` that `pick` accepts.
fn find(events: &[NeighborEvent], from: usize, pick: impl Fn(&Event) -> bool) -> Option<usize> {
    events.iter().skip(from).position(|e| pick(&e.event)).map(|i| i + from)
}

fn up(e: &Event) -> bool {
    matches!(e, Event::StateChanged { to: SessionState::Established, .. })
}

fn down(e: &Event) -> bool {
    matches!(e, Event::StateChanged { from: SessionState::Established, .. })
}

#[test]
fn session_reset_shows_in_the_event_history_frr() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("evt-reset", 92, "frr");
    let (a, b) = (s.v4(1), s.v4(2));
    let frr = s.frr("frr", 65001, &frr_neighbor(&a, 65000, &[], &["10.192.1.0/24"]));
    let d = s.ours(65000, &neighbor(&b, 65001, &[]));
    wait_until(30 * SEC, "Established", || d.established(&b));

    s.step("FRR shuts the session down with a message");
    frr.configure(65001, &[&format!("neighbor {a} shutdown message evt maintenance")]).unwrap();
    let events = wait_until(10 * SEC, "the NOTIFICATION and the state change are in the history", || {
        let events = events_of(&d, &b)?;
        let received = find(&events, 0, |e| matches!(e, Event::NotificationReceived { .. }));
        match received.and_then(|i| find(&events, i, down).map(|j| (i, j))) {
            Some(_) => Ok(events),
            None => Err(format!("{events:#?}")),
        }
    });
    let first_up = find(&events, 0, up).expect("the session came up first");
    let received = find(&events, first_up, |e| matches!(e, Event::NotificationReceived { .. })).unwrap();
    let Event::NotificationReceived { notification: n } = &events[received].event else { unreachable!() };
    eprintln!("    received: {n}");
    assert_eq!((n.code, n.subcode), (6, 2), "Cease / Administrative Shutdown: {n:?}");
    assert_eq!(n.text, "Cease / Administrative Shutdown");
    assert_eq!(n.message.as_deref(), Some("evt maintenance"), "the RFC 9003 message, decoded");
    // FRR sends the N bit, so its Cease is a Hard Reset (RFC 8538) around the shutdown.
    assert!(n.hard_reset, "{n:?}");
    let went_down = find(&events, received, down).unwrap();
    let Event::StateChanged { cause, .. } = &events[went_down].event else { unreachable!() };
    let cause = cause.clone().unwrap_or_default();
    assert!(cause.contains("received NOTIFICATION") && cause.contains("evt maintenance"), "{cause}");
    // Times are wall-clock, recent, and in recording order.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(events.iter().all(|e| e.time_ms <= now_ms + 1000 && now_ms - e.time_ms < 120_000), "{events:#?}");
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));

    s.step("FRR lets it up again; we reset it");
    frr.configure(65001, &[&format!("no neighbor {a} shutdown")]).unwrap();
    wait_until(30 * SEC, "Established again", || d.established(&b));
    let r = d.bgpctl(&["neighbor", &b, "reset"]).unwrap();
    assert_eq!(r["result"], "ok", "{r}");
    let events = wait_until(30 * SEC, "our reset, and Established a third time, in the history", || {
        let events = events_of(&d, &b)?;
        let sent = find(&events, went_down, |e| matches!(e, Event::NotificationSent { .. }));
        let again = sent.and_then(|i| find(&events, i, up));
        match again {
            Some(_) => Ok(events),
            None => Err(format!("{events:#?}")),
        }
    });
    let sent = find(&events, went_down, |e| matches!(e, Event::NotificationSent { .. })).unwrap();
    let Event::NotificationSent { notification: n, .. } = &events[sent].event else { unreachable!() };
    eprintln!("    sent: {n}");
    assert_eq!((n.code, n.subcode, n.hard_reset), (6, 4, true), "Cease / Administrative Reset as Hard Reset: {n:?}");
    let reset_down = find(&events, sent, down).unwrap();
    let Event::StateChanged { cause, .. } = &events[reset_down].event else { unreachable!() };
    assert_eq!(cause.as_deref(), Some("bgpctl neighbor reset"));

    s.step("show events: every neighbor, merged, and --since");
    let all: Vec<NeighborEvent> =
        serde_json::from_value(d.bgpctl(&["show", "events", "--since", "10m"]).unwrap()).unwrap();
    let ours: Vec<&NeighborEvent> = all.iter().filter(|e| e.neighbor == b.parse::<IpAddr>().unwrap()).collect();
    assert!(ours.len() >= events.len(), "{all:#?}");
    let text = d.bgpctl_text(&["show", "neighbors", &b, "events"]).unwrap();
    eprintln!("{text}");
    assert!(
        text.contains("received NOTIFICATION Cease / Administrative Shutdown (6/2), Hard Reset: \"evt maintenance\"")
    );
    assert!(text.contains("OpenConfirm -> Established"), "{text}");
    // An address no neighbor has: an error, not an empty history.
    let err = d.bgpctl_text(&["show", "neighbors", "10.99.0.1", "events"]).unwrap_err();
    assert!(err.contains("no neighbor 10.99.0.1"), "{err}");
}

/// On one segment: FRR (graceful restart, restart time 3 s) and a second daemon of
/// ours, `node`, with BFD on both sides. FRR is killed: the history shows the session
/// going down, our helper keeping its routes stale, and their removal when the restart
/// time ran out. Then node's link goes down: BFD Up -> Down with its diagnostic, and
/// the BGP session closed because of it (Cease / BFD Down).
#[test]
fn graceful_restart_and_bfd_phases_in_the_event_history() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::segment("evt-gr", 93, &["frr", "node"]);
    let (a, frr_a, node_a) = (s.v4(1), s.addr("frr"), s.addr("node"));
    let mut frr = s.frr(
        "frr",
        65001,
        &(" bgp graceful-restart\n bgp graceful-restart restart-time 3\n".to_string()
            + &frr_neighbor(&a, 65000, &[], &["10.193.1.0/24"])),
    );
    let d = s.ours(65000, &(neighbor(&frr_a, 65001, &[]) + &neighbor(&node_a, 65002, &["bfd = true"])));
    let node_cfg = s.global_toml_named("node", 65002, &node_a, &[]) + &neighbor(&a, 65000, &["bfd = true"]);
    let node = Daemon::start_named(&s, s.ns("node"), "node", &node_cfg);
    wait_until(30 * SEC, "Established with FRR", || d.established(&frr_a));
    wait_until(30 * SEC, "Established with node", || node.established(&a));

    s.step("killing FRR (SIGKILL)");
    frr.kill();
    let events = wait_until(20 * SEC, "helper started, then stale routes removed", || {
        let events = events_of(&d, &frr_a)?;
        let helper =
            find(&events, 0, |e| matches!(e, Event::GracefulRestart { phase: RestartPhase::HelperStarted, .. }));
        let removed = helper.and_then(|i| {
            find(&events, i, |e| matches!(e, Event::GracefulRestart { phase: RestartPhase::StaleRoutesRemoved, .. }))
        });
        match removed {
            Some(_) => Ok(events),
            None => Err(format!("{events:#?}")),
        }
    });
    let went_down = find(&events, 0, down).expect("the session went down");
    let helper = find(&events, 0, |e| matches!(e, Event::GracefulRestart { .. })).unwrap();
    assert!(went_down < helper, "the state change comes first: {events:#?}");
    let removed = events.iter().rev().find(|e| matches!(e.event, Event::GracefulRestart { .. })).unwrap();
    let kept_ms = removed.time_ms - events[helper].time_ms;
    eprintln!("    stale routes kept for {kept_ms} ms (restart time 3 s)");
    assert!((2500..8000).contains(&kept_ms), "{events:#?}");

    s.step("BFD Up with node, then node's link down");
    wait_until(20 * SEC, "BFD Up with node", || {
        let events = events_of(&d, &node_a)?;
        match find(&events, 0, |e| matches!(e, Event::Bfd { to, .. } if to == "Up")) {
            Some(_) => Ok(()),
            None => Err(format!("{events:#?}")),
        }
    });
    let dev = s.ifname(&format!("p{}", node_a.rsplit('.').next().unwrap()));
    interop::ip(&["-n", &s.ns("node").name, "link", "set", &dev, "down"]);
    let events = wait_until(10 * SEC, "BFD down, then the session closed for it", || {
        let events = events_of(&d, &node_a)?;
        let bfd_down = find(&events, 0, |e| matches!(e, Event::Bfd { from, to, .. } if from == "Up" && to == "Down"));
        match bfd_down.and_then(|i| find(&events, i, down).map(|j| (i, j))) {
            Some(_) => Ok(events),
            None => Err(format!("{events:#?}")),
        }
    });
    let i = find(&events, 0, |e| matches!(e, Event::Bfd { from, to, .. } if from == "Up" && to == "Down")).unwrap();
    let Event::Bfd { diagnostic, .. } = &events[i].event else { unreachable!() };
    assert_eq!(diagnostic, "Control Detection Time Expired");
    let sent = find(&events, i, |e| matches!(e, Event::NotificationSent { .. })).expect("a Cease sent");
    let Event::NotificationSent { notification: n, .. } = &events[sent].event else { unreachable!() };
    assert_eq!((n.code, n.subcode), (6, 10), "Cease / BFD Down (RFC 9384): {n:?}");
    let Event::StateChanged { cause, .. } = &events[find(&events, i, down).unwrap()].event else { unreachable!() };
    assert_eq!(cause.as_deref(), Some("BFD down: Control Detection Time Expired"));

    let text = d.bgpctl_text(&["show", "events", "--since", "1m"]).unwrap();
    eprintln!("{text}");
    assert!(text.contains("graceful restart: peer restarting: its routes are kept as stale (helper)"), "{text}");
    assert!(text.contains("graceful restart: restart time over: stale routes removed"), "{text}");
    assert!(text.contains("BFD Up -> Down (peer ") && text.contains("): Control Detection Time Expired"), "{text}");
    assert!(text.contains("sent NOTIFICATION Cease / BFD Down (6/10)"), "{text}");
}
