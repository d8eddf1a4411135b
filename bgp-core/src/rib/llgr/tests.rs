//! Long-lived graceful restart on the engine's virtual clock: every rule of llgr.rs,
//! driven as the driver does (inputs, `process(now)`, drain outputs).

use std::time::{Duration, Instant};

use super::*;
use crate::prefix::Prefix;
use crate::rib::engine::{Output, SessionUp};
use crate::rib::tests::{cfg, messages, pfx, session, update, US};
use crate::wire::open::{GracefulRestart, GracefulRestartFamily};
use crate::wire::{CodecCtx, Message, Update};

const V4: Family = Family::IPV4_UNICAST;
const V6: Family = Family::IPV6_UNICAST;
const A: &str = "10.0.0.1";

fn gr(time: u16) -> GracefulRestart {
    let families = [V4, V6].map(|family| GracefulRestartFamily { family, forwarding_preserved: true }).to_vec();
    GracefulRestart { restart_time: time, families, restarting: false, notification: true }
}

fn llgr(stale_time: u32, forwarding_preserved: bool) -> Vec<LlgrFamily> {
    [V4, V6].map(|family| LlgrFamily { family, forwarding_preserved, stale_time }).to_vec()
}

/// What one round sent, by peer, and its events.
#[derive(Default)]
struct Round {
    sent: Vec<(PeerId, Update)>,
    events: Vec<Event>,
}

impl Round {
    fn announced(&self, peer: PeerId) -> Vec<(Prefix, Vec<Community>)> {
        let of = |u: &Update| {
            let mp = u.attrs.mp_reach.iter().flat_map(|r| &r.nlri);
            u.nlri.iter().chain(mp).map(|n| (n.prefix, u.attrs.communities.clone())).collect::<Vec<_>>()
        };
        self.sent.iter().filter(|(p, _)| *p == peer).flat_map(|(_, u)| of(u)).collect()
    }

    fn withdrawn(&self, peer: PeerId) -> Vec<Prefix> {
        let of = |u: &Update| {
            let mp = u.attrs.mp_unreach.iter().flat_map(|r| &r.withdrawn);
            u.withdrawn.iter().chain(mp).map(|n| n.prefix).collect::<Vec<_>>()
        };
        self.sent.iter().filter(|(p, _)| *p == peer).flat_map(|(_, u)| of(u)).collect()
    }
}

fn round(e: &mut Engine, now: Instant) -> Round {
    e.process(now);
    let mut r = Round::default();
    while let Some(out) = e.poll_output() {
        match out {
            Output::Send { peer, bytes } => {
                for m in messages(&bytes, &CodecCtx::modern()) {
                    if let Message::Update(u) = m {
                        r.sent.push((peer, u));
                    }
                }
            }
            Output::Event(ev) => r.events.push(ev),
            _ => {}
        }
    }
    r
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Feeder A (eBGP, GR `restart` s and LLGR 10 s), client B with LLGR, client C
/// without; A sent 10.1.0.0/24 and, with NO_LLGR, 10.2.0.0/24.
fn lab(t: Instant, a_gr: Option<GracefulRestart>) -> (Engine, PeerId, PeerId, PeerId) {
    let mut e = Engine::new(cfg(8), None);
    let a =
        e.session_up(SessionUp { graceful_restart: a_gr, long_lived: Some(llgr(10, true)), ..session(A, 65001) }, t);
    let b = e.session_up(SessionUp { long_lived: Some(llgr(3600, false)), ..session("10.0.0.3", US) }, t);
    let c = e.session_up(session("10.0.0.4", US), t);
    let mut no_llgr = update(&["10.2.0.0/24"], &[65001], A);
    no_llgr.attrs.communities = vec![Community::NO_LLGR];
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], A), no_llgr]);
    let r = round(&mut e, t);
    assert_eq!(r.announced(b).len(), 2);
    assert_eq!(r.announced(c).len(), 2);
    (e, a, b, c)
}

fn stale() -> Vec<Community> {
    vec![Community::LLGR_STALE]
}

#[test]
fn effective_stale_time_is_the_smaller_and_zero_leaves_the_family_out() {
    let peer = [
        LlgrFamily { family: V4, forwarding_preserved: true, stale_time: 100 },
        LlgrFamily { family: V6, forwarding_preserved: false, stale_time: 0 },
    ];
    assert_eq!(effective(&peer, 30), vec![LlgrFamily { family: V4, forwarding_preserved: true, stale_time: 30 }]);
    assert_eq!(effective(&peer, 300)[0].stale_time, 100);
    assert!(effective(&peer, 0).is_empty());
}

#[test]
fn after_the_restart_time_routes_become_llgr_stale_go_only_to_llgr_peers_and_are_swept() {
    let t = Instant::now();
    let (mut e, a, b, c) = lab(t, Some(gr(5)));
    e.session_down(a, true, t);
    let r = round(&mut e, t);
    assert!(r.withdrawn(b).is_empty() && r.withdrawn(c).is_empty(), "GR first: kept, stale");
    assert_eq!(e.restart_phase(ip(A)), Some(Phase::GracefulRestart { until: t + Duration::from_secs(5) }));
    let gr_over = t + Duration::from_secs(5);
    assert_eq!(e.poll_timeout(), Some(gr_over));
    let r = round(&mut e, gr_over);
    // B (LLGR): the route again, with LLGR_STALE; the NO_LLGR one withdrawn.
    assert_eq!(r.announced(b), vec![(pfx("10.1.0.0/24"), stale())]);
    assert_eq!(r.withdrawn(b), vec![pfx("10.2.0.0/24")]);
    // C (no LLGR): both withdrawn.
    assert!(r.announced(c).is_empty());
    let mut w = r.withdrawn(c);
    w.sort();
    assert_eq!(w, vec![pfx("10.1.0.0/24"), pfx("10.2.0.0/24")]);
    assert!(r.events.contains(&Event::LongLivedStale {
        address: ip(A),
        family: V4,
        stale_time: 10,
        kept: 1,
        removed: 1
    }));
    let llgr_over = gr_over + Duration::from_secs(10);
    assert_eq!(e.restart_phase(ip(A)), Some(Phase::LongLived { until: vec![(V4, llgr_over), (V6, llgr_over)] }));
    let entry = e.rib().get(&pfx("10.1.0.0/24")).unwrap();
    assert!(is_llgr_stale(e.rib().attrs().get(entry.paths()[0].attrs)), "the community is on the path");
    assert_eq!(e.poll_timeout(), Some(llgr_over));
    assert!(round(&mut e, llgr_over - Duration::from_millis(1)).withdrawn(b).is_empty());
    let r = round(&mut e, llgr_over);
    assert_eq!(r.withdrawn(b), vec![pfx("10.1.0.0/24")]);
    assert!(r.withdrawn(c).is_empty(), "C never had it as stale");
    assert!(r.events.contains(&Event::LongLivedStaleRoutesRemoved { address: ip(A), family: V4 }));
    assert_eq!(e.peer_id(ip(A)), None, "gone for good: forgotten");
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn llgr_stale_paths_are_least_preferred() {
    let t = Instant::now();
    let (mut e, a, b, _c) = lab(t, Some(gr(5)));
    // D: a worse path (longer AS_PATH) for 10.1.0.0/24.
    let d = e.session_up(session("10.0.0.5", 65005), t);
    e.updates(d, &[update(&["10.1.0.0/24"], &[65005, 65006, 65007], "10.0.0.5")]);
    assert!(round(&mut e, t).announced(b).is_empty(), "A's path stays best");
    e.session_down(a, true, t);
    assert!(round(&mut e, t).announced(b).is_empty(), "GR stale is not LLGR stale: still best");
    let r = round(&mut e, t + Duration::from_secs(5));
    assert_eq!(r.announced(b), vec![(pfx("10.1.0.0/24"), vec![])], "D's fresh path now");
    let entry = e.rib().get(&pfx("10.1.0.0/24")).unwrap();
    assert_eq!(entry.step, Some(crate::rib::decision::Step::NotLongLivedStale));
    assert_eq!(entry.paths()[0].source, d);
}

#[test]
fn without_gr_or_with_restart_time_zero_routes_are_llgr_stale_at_once() {
    for a_gr in [None, Some(gr(0))] {
        let t = Instant::now();
        let (mut e, a, b, c) = lab(t, a_gr.clone());
        e.session_down(a, true, t);
        let r = round(&mut e, t);
        assert_eq!(r.announced(b), vec![(pfx("10.1.0.0/24"), stale())], "{a_gr:?}");
        assert_eq!(r.withdrawn(c).len(), 2, "{a_gr:?}");
        assert_eq!(e.poll_timeout(), Some(t + Duration::from_secs(10)), "{a_gr:?}");
    }
}

#[test]
fn a_hard_failure_is_not_graceful_routes_go_at_once() {
    let t = Instant::now();
    let (mut e, a, b, _c) = lab(t, Some(gr(5)));
    e.session_down(a, false, t);
    assert_eq!(round(&mut e, t).withdrawn(b).len(), 2);
    assert_eq!(e.peer_id(ip(A)), None);
}

#[test]
fn the_peer_back_replaces_its_stale_routes_and_its_end_of_rib_sweeps_the_rest() {
    let t = Instant::now();
    let (mut e, a, b, _c) = lab(t, Some(gr(5)));
    let mut more = update(&["10.3.0.0/24"], &[65001], A);
    more.attrs.communities = vec![];
    e.updates(a, &[more]);
    round(&mut e, t);
    e.session_down(a, true, t);
    round(&mut e, t);
    round(&mut e, t + Duration::from_secs(5));
    let back_at = t + Duration::from_secs(8);
    let a2 = e.session_up(
        SessionUp { graceful_restart: Some(gr(5)), long_lived: Some(llgr(10, true)), ..session(A, 65001) },
        back_at,
    );
    assert_eq!(
        e.restart_phase(ip(A)),
        Some(Phase::AwaitingEndOfRib { until: back_at + crate::rib::restart::STALE_PATH_TIME })
    );
    e.updates(a2, &[update(&["10.1.0.0/24"], &[65001], A)]);
    let r = round(&mut e, back_at);
    assert_eq!(r.announced(b), vec![(pfx("10.1.0.0/24"), vec![])], "sent again: fresh, no LLGR_STALE");
    e.updates(a2, &[Update::end_of_rib(V4)]);
    let r = round(&mut e, back_at);
    assert_eq!(r.withdrawn(b), vec![pfx("10.3.0.0/24")], "not sent again: swept at End-of-RIB");
    assert!(round(&mut e, back_at + Duration::from_secs(60)).withdrawn(b).is_empty(), "no LLGR timer left");
}

#[test]
fn back_without_the_f_bit_the_stale_routes_go_at_once() {
    let t = Instant::now();
    let (mut e, a, b, _c) = lab(t, None);
    e.session_down(a, true, t);
    round(&mut e, t);
    let back_at = t + Duration::from_secs(3);
    e.session_up(SessionUp { long_lived: Some(llgr(10, false)), ..session(A, 65001) }, back_at);
    assert_eq!(round(&mut e, back_at).withdrawn(b), vec![pfx("10.1.0.0/24")]);
}

#[test]
fn received_llgr_stale_routes_are_least_preferred_and_not_sent_to_peers_without_llgr() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(SessionUp { long_lived: Some(llgr(10, true)), ..session(A, 65001) }, t);
    let b = e.session_up(SessionUp { long_lived: Some(llgr(10, true)), ..session("10.0.0.3", US) }, t);
    let c = e.session_up(session("10.0.0.4", US), t);
    let mut u = update(&["10.1.0.0/24"], &[65001], A);
    u.attrs.communities = stale();
    e.updates(a, &[u]);
    let r = round(&mut e, t);
    assert_eq!(r.announced(b), vec![(pfx("10.1.0.0/24"), stale())]);
    assert!(r.announced(c).is_empty(), "C has no LLGR");
    let d = e.session_up(session("10.0.0.5", 65005), t);
    e.updates(d, &[update(&["10.1.0.0/24"], &[65005, 65006], "10.0.0.5")]);
    let r = round(&mut e, t);
    assert_eq!(r.announced(c), vec![(pfx("10.1.0.0/24"), vec![])], "the fresh path wins and goes to C");
    assert_eq!(e.rib().get(&pfx("10.1.0.0/24")).unwrap().paths()[0].source, d);
}

#[test]
fn v6_routes_follow_their_own_family() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let only_v4 = vec![LlgrFamily { family: V4, forwarding_preserved: true, stale_time: 10 }];
    let a = e.session_up(SessionUp { long_lived: Some(only_v4), ..session(A, 65001) }, t);
    let b = e.session_up(SessionUp { long_lived: Some(llgr(10, true)), ..session("10.0.0.3", US) }, t);
    e.updates(
        a,
        &[update(&["10.1.0.0/24"], &[65001], A), crate::rib::tests::update6(&["fd01::/48"], &[65001], "fd00::1")],
    );
    round(&mut e, t);
    e.session_down(a, true, t);
    let r = round(&mut e, t);
    assert_eq!(r.withdrawn(b), vec![pfx("fd01::/48")], "IPv6 is not in its LLGR capability");
    assert_eq!(r.announced(b), vec![(pfx("10.1.0.0/24"), stale())]);
}

#[test]
fn gr_without_families_and_llgr_keeps_routes_long_lived_then_forgets_the_peer() {
    // FRR in GR helper mode sends the GR capability with no family.
    let no_families = GracefulRestart { families: Vec::new(), ..gr(5) };
    let t = Instant::now();
    let (mut e, a, b, _c) = lab(t, Some(no_families.clone()));
    e.session_down(a, true, t);
    assert_eq!(round(&mut e, t).announced(b), vec![(pfx("10.1.0.0/24"), stale())], "LLGR at once");
    round(&mut e, t + Duration::from_secs(5));
    assert_eq!(e.peer_id(ip(A)), Some(a), "the GR time is over, the LLGR time is not");
    let r = round(&mut e, t + Duration::from_secs(10));
    assert_eq!(r.withdrawn(b), vec![pfx("10.1.0.0/24")]);
    assert_eq!(e.peer_id(ip(A)), None);
    // Without LLGR such a peer is forgotten once its restart time is over.
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(SessionUp { graceful_restart: Some(no_families), ..session(A, 65001) }, t);
    e.session_down(a, true, t);
    round(&mut e, t + Duration::from_secs(5));
    assert_eq!(e.peer_id(ip(A)), None);
    assert_eq!(e.poll_timeout(), None);
}
