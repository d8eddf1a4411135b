//! The engine on a virtual clock: every timer and bookkeeping rule the RIB task
//! relied on, driven as the driver does (inputs, `process(now)`, drain outputs).

use std::collections::HashSet;

use super::*;
use crate::policy::{Match, PrefixEntry, PrefixList, Term, TermAction};
use crate::rib::metrics::ByAfi;
use crate::rib::show::{DumpStep, PrefixOrAddress, RouteQuery};
use crate::rib::tests::{cfg, messages, pfx, session, update, update6, withdraw, US};
use crate::wire::{Message, RefreshSubtype};

mod drain;

const V4: Family = Family::IPV4_UNICAST;
const V6: Family = Family::IPV6_UNICAST;

/// A graceful restart capability with these families and F bits.
fn gr(time: u16, families: &[(Family, bool)]) -> GracefulRestart {
    let families = families
        .iter()
        .map(|&(family, forwarding_preserved)| crate::wire::open::GracefulRestartFamily {
            family,
            forwarding_preserved,
        })
        .collect();
    GracefulRestart { restart_time: time, families, restarting: false, notification: true }
}

/// What one round gave, by kind.
#[derive(Default, Debug)]
struct Round {
    sent: Vec<(PeerId, Message)>,
    blocked: Vec<PeerId>,
    limits: Vec<Output>,
    events: Vec<Event>,
    refresh_asked: Vec<PeerId>,
    restart_peers: usize,
    sweeps: usize,
}

impl Round {
    fn to(&self, peer: PeerId) -> Vec<&Message> {
        self.sent.iter().filter(|(p, _)| *p == peer).map(|(_, m)| m).collect()
    }

    /// Prefixes announced to `peer`, in order.
    fn announced(&self, peer: PeerId) -> Vec<Prefix> {
        self.updates(peer, |u| {
            let mp = u.attrs.mp_reach.iter().flat_map(|r| &r.nlri);
            u.nlri.iter().chain(mp).map(|n| n.prefix).collect()
        })
    }

    fn withdrawn(&self, peer: PeerId) -> Vec<Prefix> {
        self.updates(peer, |u| {
            let mp = u.attrs.mp_unreach.iter().flat_map(|r| &r.withdrawn);
            u.withdrawn.iter().chain(mp).map(|n| n.prefix).collect()
        })
    }

    fn updates(&self, peer: PeerId, of: impl Fn(&Update) -> Vec<Prefix>) -> Vec<Prefix> {
        self.to(peer)
            .iter()
            .filter_map(|m| if let Message::Update(u) = m { Some(of(u)) } else { None })
            .flatten()
            .collect()
    }

    fn end_of_rib(&self, peer: PeerId) -> Vec<Family> {
        self.to(peer)
            .iter()
            .filter_map(|m| if let Message::Update(u) = m { u.end_of_rib_family() } else { None })
            .collect()
    }

    fn refresh_markers(&self, peer: PeerId) -> Vec<RefreshSubtype> {
        self.to(peer)
            .iter()
            .filter_map(|m| if let Message::RouteRefresh(r) = m { Some(r.subtype) } else { None })
            .collect()
    }
}

/// Runs a round at `now` and collects its outputs.
fn round(e: &mut Engine, now: Instant) -> Round {
    e.process(now);
    drain(e)
}

fn drain(e: &mut Engine) -> Round {
    let mut r = Round::default();
    while let Some(out) = e.poll_output() {
        match out {
            Output::Send { peer, bytes } => {
                for m in messages(&bytes, &CodecCtx::modern()) {
                    r.sent.push((peer, m));
                }
            }
            Output::Blocked(p) => r.blocked.push(p),
            Output::RestartPeers => r.restart_peers += 1,
            Output::SweepFib => r.sweeps += 1,
            Output::AskRefresh(p) => r.refresh_asked.push(p),
            Output::Event(ev) => r.events.push(ev),
            limit @ Output::PrefixLimit { .. } => r.limits.push(limit),
        }
    }
    r
}

fn p(list: &[&str]) -> Vec<Prefix> {
    list.iter().map(|s| pfx(s)).collect()
}

fn sorted(mut v: Vec<Prefix>) -> Vec<Prefix> {
    v.sort();
    v
}

/// An eBGP feeder A and an iBGP client B, both up and through their initial tables.
fn feeder_and_client(now: Instant) -> (Engine, PeerId, PeerId) {
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), now);
    let b = e.session_up(session("10.0.0.3", US), now);
    round(&mut e, now);
    (e, a, b)
}

#[test]
fn a_new_peer_gets_the_table_then_end_of_rib_for_each_family() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    e.updates(a, &[update(&["10.1.0.0/24", "10.1.1.0/24"], &[65001], "10.0.0.1")]);
    e.updates(a, &[update6(&["fd01::/48"], &[65001], "fd00::1")]);
    round(&mut e, t);
    let b = e.session_up(session("10.0.0.3", US), t);
    let r = round(&mut e, t);
    assert_eq!(sorted(r.announced(b)), p(&["10.1.0.0/24", "10.1.1.0/24", "fd01::/48"]));
    assert_eq!(r.end_of_rib(b), vec![V4, V6]);
    assert!(matches!(r.to(b).last(), Some(Message::Update(u)) if u.end_of_rib_family() == Some(V6)));
    assert!(r.events.contains(&Event::InitialTableSent { address: "10.0.0.3".parse().unwrap() }));
    let counts = e.counts(b).unwrap();
    assert_eq!(counts.advertised, 3);
    assert_eq!(counts.updates_sent, r.to(b).len() as u64);
    assert_eq!((e.counts(a).unwrap().received, e.counts(a).unwrap().accepted), (3, 3));
    assert!(e.is_idle());
    // The metrics' counts by family, kept as paths come and go.
    let m = e.metrics();
    assert_eq!(m.prefixes, ByAfi { ipv4: 2, ipv6: 1 });
    let from_a = m.sources.iter().find(|s| s.peer == Some("10.0.0.1".parse().unwrap())).unwrap();
    assert_eq!((from_a.kind, from_a.routes), ("peer", ByAfi { ipv4: 2, ipv6: 1 }));
    assert!(m.sources.iter().any(|s| s.kind == "static" && s.routes == ByAfi::default()));
    let to_b = m.advertised.iter().find(|(a, _)| *a == "10.0.0.3".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(to_b.map(|(_, c)| *c), Some(ByAfi { ipv4: 2, ipv6: 1 }));
    e.session_down(a, false, t);
    round(&mut e, t);
    let m = e.metrics();
    assert_eq!(m.prefixes, ByAfi::default());
    assert!(m.sources.iter().all(|s| s.routes == ByAfi::default()), "{m:?}");
}

#[test]
fn restart_deferral_waits_for_each_awaited_peers_end_of_rib() {
    let t = Instant::now();
    let awaiting: HashSet<IpAddr> = ["10.0.0.1".parse().unwrap()].into();
    let mut e = Engine::new(cfg(8), Some(Deferral::new(t + Duration::from_secs(60), awaiting)));
    let a = e.session_up(session("10.0.0.1", 65001), t);
    let b = e.session_up(session("10.0.0.3", US), t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    let r = round(&mut e, t);
    assert!(r.to(b).is_empty() && r.to(a).is_empty(), "nothing goes out while we defer");
    assert!(e.deferring());
    assert_eq!(e.restart_peers(), vec!["10.0.0.1".parse::<IpAddr>().unwrap()], "still awaited: stays in the marker");
    e.updates(a, &[Update::end_of_rib(V4)]);
    assert!(round(&mut e, t).to(b).is_empty(), "one family of two: still deferring");
    e.updates(a, &[Update::end_of_rib(V6)]);
    let r = round(&mut e, t + Duration::from_secs(1));
    assert!(!e.deferring());
    assert!(r.events.contains(&Event::DeferralOver { missing: Vec::new() }));
    assert_eq!(r.announced(b), p(&["10.1.0.0/24"]));
    assert_eq!(r.end_of_rib(b), vec![V4, V6]);
    assert_eq!(r.end_of_rib(a), vec![V4, V6], "the awaited peer gets our tables too");
}

#[test]
fn restart_deferral_ends_at_its_deadline_without_the_missing_peer() {
    let t = Instant::now();
    let until = t + Duration::from_secs(60);
    let awaiting: HashSet<IpAddr> = ["10.0.0.9".parse().unwrap()].into();
    let mut e = Engine::new(cfg(8), Some(Deferral::new(until, awaiting)));
    let b = e.session_up(session("10.0.0.3", US), t);
    assert!(round(&mut e, t).to(b).is_empty());
    assert_eq!(e.poll_timeout(), Some(until));
    assert!(round(&mut e, until - Duration::from_millis(1)).to(b).is_empty());
    let r = round(&mut e, until);
    assert_eq!(
        r.events,
        vec![
            Event::DeferralOver { missing: vec!["10.0.0.9".parse().unwrap()] },
            Event::InitialTableSent { address: "10.0.0.3".parse().unwrap() }
        ]
    );
    assert_eq!(r.end_of_rib(b), vec![V4, V6]);
    assert_eq!(r.restart_peers, 1);
    assert!(e.restart_peers().is_empty(), "the missing peer left the marker");
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn a_graceful_peers_routes_stay_stale_for_its_restart_time() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(
        SessionUp { graceful_restart: Some(gr(120, &[(V4, true), (V6, true)])), ..session("10.0.0.1", 65001) },
        t,
    );
    let b = e.session_up(session("10.0.0.3", US), t);
    assert_eq!(drain(&mut e).restart_peers, 1, "a peer with graceful restart joins the marker");
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    assert_eq!(round(&mut e, t).announced(b), p(&["10.1.0.0/24"]));
    e.session_down(a, true, t);
    assert!(round(&mut e, t).withdrawn(b).is_empty(), "kept, stale");
    assert!(e.rib().get(&pfx("10.1.0.0/24")).unwrap().paths()[0].is_stale());
    let deadline = t + Duration::from_secs(120);
    assert_eq!(e.poll_timeout(), Some(deadline));
    assert!(round(&mut e, deadline - Duration::from_millis(1)).withdrawn(b).is_empty());
    let r = round(&mut e, deadline);
    assert_eq!(r.withdrawn(b), p(&["10.1.0.0/24"]));
    assert!(r.events.contains(&Event::StaleRoutesRemoved { address: "10.0.0.1".parse().unwrap() }));
    assert_eq!(e.peer_id("10.0.0.1".parse().unwrap()), None, "a peer gone for good is forgotten");
    assert!(e.restart_peers().is_empty());
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn a_peer_back_from_restart_sweeps_each_family_at_its_end_of_rib() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let gr = || SessionUp { graceful_restart: Some(gr(120, &[(V4, true), (V6, true)])), ..session("10.0.0.1", 65001) };
    let a = e.session_up(gr(), t);
    let b = e.session_up(session("10.0.0.3", US), t);
    e.updates(a, &[update(&["10.1.0.0/24", "10.1.1.0/24"], &[65001], "10.0.0.1")]);
    e.updates(a, &[update6(&["fd01::/48"], &[65001], "fd00::1")]);
    round(&mut e, t);
    e.session_down(a, true, t);
    round(&mut e, t);
    let a2 = e.session_up(gr(), t + Duration::from_secs(5));
    assert_eq!(a2, a, "the same peer id across its sessions");
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1"), Update::end_of_rib(V4)]);
    let r = round(&mut e, t + Duration::from_secs(6));
    assert_eq!(r.withdrawn(b), p(&["10.1.1.0/24"]), "not sent again before its End-of-RIB");
    assert!(r.announced(b).is_empty(), "the same route again changes nothing for B");
    assert!(e.rib().get(&pfx("fd01::/48")).unwrap().paths()[0].is_stale(), "IPv6 waits for its own End-of-RIB");
    e.updates(a, &[Update::end_of_rib(V6)]);
    assert_eq!(round(&mut e, t + Duration::from_secs(7)).withdrawn(b), p(&["fd01::/48"]));
}

#[test]
fn a_peer_down_without_graceful_restart_takes_its_routes_at_once() {
    let t = Instant::now();
    let (mut e, a, b) = feeder_and_client(t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    round(&mut e, t);
    e.session_down(a, true, t);
    assert_eq!(round(&mut e, t).withdrawn(b), p(&["10.1.0.0/24"]), "graceful, but no restart time negotiated");
    assert_eq!(e.peer_id("10.0.0.1".parse().unwrap()), None);
}

#[test]
fn mrai_holds_announcements_but_never_withdrawals() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    let b = e.session_up(SessionUp { mrai: Duration::from_secs(5), ..session("10.0.0.3", US) }, t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    assert_eq!(round(&mut e, t).announced(b), p(&["10.1.0.0/24"]), "the initial table is not held back");
    e.updates(a, &[update(&["10.1.1.0/24"], &[65001], "10.0.0.1")]);
    assert_eq!(round(&mut e, t).announced(b), p(&["10.1.1.0/24"]), "the first after the table goes at once");
    e.updates(a, &[update(&["10.1.2.0/24"], &[65001], "10.0.0.1")]);
    let t1 = t + Duration::from_secs(1);
    assert!(round(&mut e, t1).announced(b).is_empty(), "held for the MRAI");
    assert_eq!(e.poll_timeout(), Some(t + Duration::from_secs(5)));
    e.updates(a, &[withdraw(&["10.1.0.0/24"])]);
    let r = round(&mut e, t + Duration::from_secs(2));
    assert_eq!(r.withdrawn(b), p(&["10.1.0.0/24"]), "withdrawals are never held");
    assert!(r.announced(b).is_empty());
    assert_eq!(round(&mut e, t + Duration::from_secs(5)).announced(b), p(&["10.1.2.0/24"]));
}

#[test]
fn route_refresh_resends_the_table_framed_by_borr_and_eorr() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    let b = e.session_up(SessionUp { enhanced_refresh: true, families: vec![V4], ..session("10.0.0.3", US) }, t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    round(&mut e, t);
    let refreshes = e.counts(b).unwrap().refreshes_sent;
    assert!(!e.refresh_request(b, V6), "a family the session did not negotiate is ignored");
    assert!(e.refresh_request(b, V4));
    let r = round(&mut e, t);
    assert_eq!(r.refresh_markers(b), vec![RefreshSubtype::BeginningOfRib, RefreshSubtype::EndOfRib]);
    assert_eq!(r.announced(b), p(&["10.1.0.0/24"]));
    assert!(
        matches!(r.to(b).first(), Some(Message::RouteRefresh(_)))
            && matches!(r.to(b).last(), Some(Message::RouteRefresh(_)))
    );
    assert_eq!(e.counts(b).unwrap().refreshes_sent, refreshes + 2);
    // Without enhanced route refresh: the routes, no markers.
    assert!(e.refresh_request(a, V4));
    let r = round(&mut e, t);
    assert!(r.refresh_markers(a).is_empty());
    assert!(r.announced(a).is_empty(), "A's own route is not sent back to it");
}

#[test]
fn a_peers_borr_and_eorr_sweep_what_it_did_not_send_again() {
    let t = Instant::now();
    let (mut e, a, b) = feeder_and_client(t);
    e.updates(a, &[update(&["10.1.0.0/24", "10.1.1.0/24"], &[65001], "10.0.0.1")]);
    e.updates(a, &[update6(&["fd01::/48"], &[65001], "fd00::1")]);
    round(&mut e, t);
    e.refresh_marker(a, V4, true, t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    assert!(round(&mut e, t).withdrawn(b).is_empty(), "stale until the EoRR");
    e.refresh_marker(a, V4, false, t);
    let r = round(&mut e, t);
    assert_eq!(r.withdrawn(b), p(&["10.1.1.0/24"]), "IPv6 was not refreshed and stays");
    assert_eq!(e.counts(a).unwrap().received, 2);
}

#[test]
fn max_prefixes_restart_names_the_family_that_crossed_the_limit() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let after = Duration::from_secs(30);
    let max = MaxPrefixes { limit: 2, action: MaxPrefixesAction::Restart { after } };
    let a = e.session_up(SessionUp { max_prefixes: Some(max), ..session("10.0.0.1", 65001) }, t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1"), update6(&["fd01::/48"], &[65001], "fd00::1")]);
    assert!(drain(&mut e).limits.is_empty(), "at the limit is not over it");
    e.updates(a, &[update6(&["fd02::/48"], &[65001], "fd00::1"), update6(&["fd03::/48"], &[65001], "fd00::1")]);
    let r = drain(&mut e);
    let address = "10.0.0.1".parse().unwrap();
    assert_eq!(
        r.limits,
        vec![Output::PrefixLimit { peer: a, address, family: V6, limit: 2, after }],
        "once per session"
    );
    assert!(e.over_limit(a));
    // A new session counts again.
    e.session_down(a, false, t);
    let a = e.session_up(SessionUp { max_prefixes: Some(max), ..session("10.0.0.1", 65001) }, t);
    assert!(!e.over_limit(a));
}

#[test]
fn max_prefixes_warn_only_logs() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let max = MaxPrefixes { limit: 1, action: MaxPrefixesAction::Warn };
    let a = e.session_up(SessionUp { max_prefixes: Some(max), ..session("10.0.0.1", 65001) }, t);
    e.updates(a, &[update(&["10.1.0.0/24", "10.1.1.0/24"], &[65001], "10.0.0.1")]);
    let r = drain(&mut e);
    assert!(r.limits.is_empty());
    let address = "10.0.0.1".parse().unwrap();
    assert_eq!(r.events, vec![Event::PrefixLimitWarning { address, received: 2, limit: 1 }]);
    e.updates(a, &[update(&["10.1.2.0/24"], &[65001], "10.0.0.1")]);
    assert!(drain(&mut e).events.is_empty(), "warned once");
    assert_eq!(e.counts(a).unwrap().received, 3, "the routes stay");
}

#[test]
fn a_new_peer_joins_its_like_once_in_step_and_then_shares_its_encoding() {
    let t = Instant::now();
    let (mut e, a, b) = feeder_and_client(t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    round(&mut e, t);
    assert_eq!(sorted_sizes(&e), vec![1, 1]);
    let c = e.session_up(session("10.0.0.4", US), t);
    assert_eq!(sorted_sizes(&e), vec![1, 1, 1], "C walks the table in a group of its own");
    let r = round(&mut e, t);
    assert_eq!(r.announced(c), p(&["10.1.0.0/24"]));
    assert_eq!(sorted_sizes(&e), vec![1, 2], "in step: merged with B");
    e.updates(a, &[update(&["10.1.1.0/24"], &[65001], "10.0.0.1")]);
    e.process(t);
    let mut sends: Vec<(PeerId, Bytes)> = Vec::new();
    while let Some(out) = e.poll_output() {
        if let Output::Send { peer, bytes } = out {
            sends.push((peer, bytes));
        }
    }
    let of = |peer| sends.iter().find(|(p, _)| *p == peer).map(|(_, b)| b.clone()).unwrap();
    assert_eq!(of(b).as_ptr(), of(c).as_ptr(), "one encoding for the group");
}

fn sorted_sizes(e: &Engine) -> Vec<usize> {
    let mut s = e.group_sizes();
    s.sort();
    s
}

#[test]
fn an_export_policy_change_forks_the_peer_and_sends_only_the_difference() {
    let t = Instant::now();
    let (mut e, a, b) = feeder_and_client(t);
    let c = e.session_up(session("10.0.0.4", US), t);
    e.updates(a, &[update(&["10.1.0.0/24", "10.1.1.0/24"], &[65001], "10.0.0.1")]);
    e.updates(a, &[update6(&["fd01::/48"], &[65001], "fd00::1")]);
    round(&mut e, t);
    round(&mut e, t);
    assert_eq!(sorted_sizes(&e), vec![1, 2]);
    let advertised = |e: &Engine, peer: &str| {
        let m = e.metrics();
        m.advertised.iter().find(|(a, _)| a.to_string() == peer).map(|(_, c)| *c)
    };
    assert_eq!(advertised(&e, "10.0.0.4"), Some(ByAfi { ipv4: 2, ipv6: 1 }));
    let list = PrefixList { name: "one".into(), entries: vec![PrefixEntry::exact(pfx("10.1.0.0/24"))] };
    let term = Term {
        name: "t".into(),
        matches: Match { prefix_list: Some(Arc::new(list)), ..Match::default() },
        actions: Default::default(),
        action: TermAction::Reject,
    };
    let export = Policy { name: "no-one".into(), terms: vec![term], default: crate::policy::Verdict::Accept };
    let accept = Arc::new(Policy::accept_all());
    assert_eq!(e.set_policies(c, accept.clone(), Arc::new(export)), (false, true));
    assert_eq!(sorted_sizes(&e), vec![1, 1, 1]);
    // The fork starts from what C holds, counts included.
    assert_eq!(advertised(&e, "10.0.0.4"), Some(ByAfi { ipv4: 2, ipv6: 1 }));
    let r = round(&mut e, t);
    assert_eq!(r.withdrawn(c), p(&["10.1.0.0/24"]));
    assert!(r.announced(c).is_empty(), "what C holds is not sent again");
    assert_eq!(advertised(&e, "10.0.0.4"), Some(ByAfi { ipv4: 1, ipv6: 1 }));
    assert_eq!(advertised(&e, "10.0.0.3"), Some(ByAfi { ipv4: 2, ipv6: 1 }));
    assert_eq!(e.counts(c).unwrap().advertised, 2);
    assert!(r.to(b).is_empty());
    assert_eq!(e.set_policies(c, accept.clone(), Arc::new(Policy::accept_all())), (false, true));
    assert_eq!(e.set_policies(b, accept, Arc::new(Policy::accept_all())), (false, false), "no change, no fork");
}

#[test]
fn an_import_policy_change_runs_over_the_routes_as_received_and_asks_for_the_refused_ones() {
    let t = Instant::now();
    let (mut e, a, b) = feeder_and_client(t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    round(&mut e, t);
    let (again, _) = e.set_policies(a, Arc::new(Policy::reject_all()), Arc::new(Policy::accept_all()));
    assert!(again);
    let r = round(&mut e, t);
    assert_eq!(r.withdrawn(b), p(&["10.1.0.0/24"]));
    assert_eq!(r.refresh_asked, vec![a], "what an old policy refused is asked for again");
    assert_eq!((e.counts(a).unwrap().received, e.counts(a).unwrap().accepted), (0, 0), "refused: not kept");
    let (again, _) = e.set_policies(a, Arc::new(Policy::reject_all()), Arc::new(Policy::accept_all()));
    assert!(!again && drain(&mut e).refresh_asked.is_empty(), "the same policy: nothing to do");
}

#[test]
fn routes_the_import_policy_refuses_cost_no_memory() {
    let t = Instant::now();
    let (mut e, a, _b) = feeder_and_client(t);
    e.set_policies(a, Arc::new(Policy::reject_all()), Arc::new(Policy::accept_all()));
    let sets_before = e.rib().attr_stats().sets;
    for i in 0..100u32 {
        let prefixes: Vec<String> = (0..100).map(|j| format!("10.{}.{}.0/24", i, j)).collect();
        let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        let mut u = update(&refs, &[65001, 64000 + i], "10.0.0.1");
        u.attrs.med = Some(i);
        e.updates(a, &[u]);
    }
    round(&mut e, t);
    assert_eq!(e.rib().len(), 0, "10,000 refused routes, none kept");
    // Only the bounded record of refusals for `bgpctl why`: its routes' sets (100
    // routes share one here).
    let max = crate::rib::refused::MAX_REFUSED;
    assert_eq!(e.rib().refusals().len(), max);
    assert_eq!(e.rib().attr_stats().sets, sets_before + max.div_ceil(100), "nor their attribute sets");
}

#[test]
fn one_peer_holds_a_bounded_number_of_add_path_paths_per_prefix() {
    let t = Instant::now();
    let (mut e, a, _b) = feeder_and_client(t);
    let mut u = update(&[], &[65001], "10.0.0.1");
    u.nlri = (1..=1000).map(|id| crate::prefix::Nlri { prefix: pfx("10.1.0.0/24"), path_id: id }).collect();
    e.updates(a, &[u]);
    round(&mut e, t);
    let held = e.rib().get(&pfx("10.1.0.0/24")).unwrap().paths().len();
    assert_eq!(held, crate::rib::MAX_PATHS_PER_SOURCE);
    // A path it holds can still be replaced, and a withdrawn one makes room.
    let mut again = update(&[], &[65001, 65009], "10.0.0.1");
    again.nlri = vec![crate::prefix::Nlri { prefix: pfx("10.1.0.0/24"), path_id: 1 }];
    e.updates(a, &[again]);
    assert_eq!(e.rib().get(&pfx("10.1.0.0/24")).unwrap().paths().len(), held);
}

#[test]
fn a_full_writer_holds_its_group_until_it_has_room() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    e.updates(a, &[update6(&["fd01::/48"], &[65001], "fd00::1")]);
    round(&mut e, t);
    let b = e.session_up(SessionUp { room: 1, ..session("10.0.0.3", US) }, t);
    let r = round(&mut e, t);
    assert_eq!(r.blocked, vec![b]);
    let first = r.to(b).len();
    assert!(first >= 1 && r.end_of_rib(b).is_empty());
    assert!(round(&mut e, t).to(b).is_empty(), "no room, nothing more");
    assert!(!e.is_idle());
    // The writer refused the last one after all: it goes first.
    e.writable(b, 0);
    assert_eq!(drain(&mut e).blocked, vec![b]);
    e.writable(b, 100);
    let r = round(&mut e, t);
    assert_eq!(r.end_of_rib(b), vec![V4, V6]);
    assert!(e.is_idle());
    let unsent = Bytes::from_static(b"x");
    e.unsent(b, unsent.clone());
    assert_eq!(drain(&mut e).blocked, vec![b], "a refused send blocks until writable");
    e.writable(b, 10);
    assert!(matches!(e.poll_output(), Some(Output::Send { bytes, .. }) if bytes == unsent));
}

#[test]
fn announcements_are_a_local_source_synced_with_mark_and_sweep() {
    let t = Instant::now();
    let (mut e, _a, b) = feeder_and_client(t);
    let list = |ps: &[&str]| ps.iter().map(|s| Announce::new(pfx(s))).collect::<Vec<_>>();
    e.announce(&list(&["10.9.0.0/24", "10.9.1.0/24"]));
    assert_eq!(sorted(round(&mut e, t).announced(b)), p(&["10.9.0.0/24", "10.9.1.0/24"]));
    e.announce(&list(&["10.9.1.0/24", "10.9.2.0/24"]));
    let r = round(&mut e, t);
    assert_eq!(r.withdrawn(b), p(&["10.9.0.0/24"]));
    assert_eq!(r.announced(b), p(&["10.9.2.0/24"]), "the route kept is not sent again");
    assert_eq!(e.local_routes(e.statics()), 2);
    // A kernel-like source: sync, add, delete.
    let k = e.add_local_source(SourceKind::Kernel);
    let attrs =
        || PathAttrs { next_hop: Some("10.10.0.7".parse().unwrap()), ..Announce::new(pfx("10.8.0.0/26")).path_attrs() };
    e.add(k, pfx("10.8.0.0/26"), attrs());
    e.add(k, pfx("10.8.0.64/26"), attrs());
    round(&mut e, t);
    e.sync_begin(k);
    e.add(k, pfx("10.8.0.64/26"), attrs());
    assert!(round(&mut e, t).withdrawn(b).is_empty(), "nothing goes before the sync ends");
    e.sync_end(k);
    assert_eq!(round(&mut e, t).withdrawn(b), p(&["10.8.0.0/26"]));
    e.delete(k, pfx("10.8.0.64/26"));
    assert_eq!(round(&mut e, t).withdrawn(b), p(&["10.8.0.64/26"]));
}

#[test]
fn new_decision_settings_decide_every_prefix_again() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(1), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    let c = e.session_up(session("10.0.0.5", 65001), t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    e.updates(c, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.5")]);
    round(&mut e, t);
    assert_eq!(e.rib().get(&pfx("10.1.0.0/24")).unwrap().multipath, 1);
    e.set_routing(8, false);
    round(&mut e, t);
    assert_eq!(e.rib().get(&pfx("10.1.0.0/24")).unwrap().multipath, 2);
    assert_eq!(e.config().multipath, 8);
}

#[test]
fn show_routes_walks_in_steps_and_answers_one_prefix_or_an_address() {
    let t = Instant::now();
    let (mut e, a, b) = feeder_and_client(t);
    e.updates(a, &[update(&["10.1.0.0/24", "10.1.0.0/16", "10.2.0.0/24"], &[65001], "10.0.0.1")]);
    round(&mut e, t);
    let query = |prefix, neighbor| RouteQuery { prefix, neighbor, family: None };
    let mut dump = e.route_dump(query(None, None)).unwrap();
    let DumpStep::Rows(first) = dump.step(&e, 2) else { panic!() };
    assert_eq!(first.iter().map(|r| r.prefix.as_str()).collect::<Vec<_>>(), ["10.1.0.0/16", "10.1.0.0/24"]);
    assert!(matches!(dump.step(&e, 2), DumpStep::Rows(rows) if rows.len() == 1));
    assert_eq!(dump.step(&e, 2), DumpStep::End);
    let addr = |s: &str| Some(PrefixOrAddress::Address(s.parse().unwrap()));
    let mut dump = e.route_dump(query(addr("10.1.0.7"), None)).unwrap();
    assert!(matches!(dump.step(&e, 10), DumpStep::Rows(rows) if rows[0].prefix == "10.1.0.0/24" && rows[0].best));
    let mut dump = e.route_dump(query(addr("10.3.0.1"), None)).unwrap();
    assert_eq!(dump.step(&e, 10), DumpStep::NoRoute);
    let advertised = Some(("10.0.0.3".parse().unwrap(), crate::ctl::RouteDirection::Advertised));
    let mut dump = e.route_dump(query(None, advertised)).unwrap();
    assert!(matches!(dump.step(&e, 10), DumpStep::Rows(rows) if rows.len() == 3));
    let gone = Some(("10.0.0.99".parse().unwrap(), crate::ctl::RouteDirection::Received));
    assert_eq!(e.route_dump(query(None, gone)).unwrap_err(), "no routes from neighbor 10.0.0.99");
    let _ = b;
}

#[test]
fn a_member_whose_writer_stays_full_leaves_the_lock_step_and_catches_up_alone() {
    let t = Instant::now();
    let (mut e, a, b) = feeder_and_client(t);
    let c = e.session_up(session("10.0.0.4", US), t);
    round(&mut e, t);
    assert_eq!(sorted_sizes(&e), vec![1, 2]);
    e.writable(c, 0);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    assert!(round(&mut e, t).to(b).is_empty(), "the group waits for C's room");
    let limit = t + crate::rib::groups::LAG_LIMIT;
    assert_eq!(e.poll_timeout(), Some(limit));
    assert!(round(&mut e, limit - Duration::from_millis(1)).to(b).is_empty());
    let r = round(&mut e, limit);
    assert_eq!(r.announced(b), p(&["10.1.0.0/24"]), "B goes on without C");
    assert!(r.to(c).is_empty());
    assert_eq!(r.events, vec![Event::LeftLockStep { address: "10.0.0.4".parse().unwrap() }]);
    assert_eq!(sorted_sizes(&e), vec![1, 1, 1]);
    e.updates(a, &[withdraw(&["10.1.0.0/24"]), update(&["10.1.1.0/24"], &[65001], "10.0.0.1")]);
    let r = round(&mut e, limit);
    assert_eq!((r.withdrawn(b), r.announced(b)), (p(&["10.1.0.0/24"]), p(&["10.1.1.0/24"])), "and stays prompt");
    e.writable(c, 100);
    let r = round(&mut e, limit);
    assert_eq!(r.announced(c), p(&["10.1.1.0/24"]), "C gets the table as it is now, nothing it never held withdrawn");
    assert!(r.withdrawn(c).is_empty());
    round(&mut e, limit);
    assert_eq!(sorted_sizes(&e), vec![1, 2], "in step again: back with B");
}

#[test]
fn a_lone_slow_group_is_not_split() {
    let t = Instant::now();
    let (mut e, a, b) = feeder_and_client(t);
    e.writable(b, 0);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    round(&mut e, t);
    assert_eq!(e.poll_timeout(), None, "nobody else is held up");
    let r = round(&mut e, t + Duration::from_secs(10));
    assert!(r.events.is_empty());
    assert_eq!(sorted_sizes(&e), vec![1, 1]);
}

/// A feeder A with graceful restart for `families`, an iBGP client B; A sent
/// 10.1.0.0/24 and fd01::/48, and B has them.
fn graceful_feeder(t: Instant, families: &[(Family, bool)]) -> (Engine, PeerId, PeerId) {
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(SessionUp { graceful_restart: Some(gr(120, families)), ..session("10.0.0.1", 65001) }, t);
    let b = e.session_up(session("10.0.0.3", US), t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1"), update6(&["fd01::/48"], &[65001], "fd00::1")]);
    assert_eq!(round(&mut e, t).announced(b).len(), 2);
    (e, a, b)
}

#[test]
fn only_the_families_the_restarting_peer_listed_stay_stale() {
    let t = Instant::now();
    let (mut e, a, b) = graceful_feeder(t, &[(V4, true)]);
    e.session_down(a, true, t);
    let r = round(&mut e, t);
    assert_eq!(r.withdrawn(b), p(&["fd01::/48"]), "IPv6 was not in its capability");
    assert!(e.rib().get(&pfx("10.1.0.0/24")).unwrap().paths()[0].is_stale());
}

#[test]
fn back_without_the_f_bit_its_stale_routes_of_that_family_go_at_once() {
    let t = Instant::now();
    let (mut e, a, b) = graceful_feeder(t, &[(V4, true), (V6, true)]);
    e.session_down(a, true, t);
    round(&mut e, t);
    let back = SessionUp { graceful_restart: Some(gr(120, &[(V4, false), (V6, true)])), ..session("10.0.0.1", 65001) };
    e.session_up(back, t + Duration::from_secs(3));
    let r = round(&mut e, t + Duration::from_secs(3));
    assert_eq!(r.withdrawn(b), p(&["10.1.0.0/24"]), "forwarding not preserved for IPv4");
    assert!(e.rib().get(&pfx("fd01::/48")).unwrap().paths()[0].is_stale(), "IPv6 waits for its End-of-RIB");
}

#[test]
fn a_peer_back_that_never_sends_end_of_rib_loses_its_stale_routes_after_the_stale_path_time() {
    let t = Instant::now();
    let (mut e, a, b) = graceful_feeder(t, &[(V4, true), (V6, true)]);
    e.session_down(a, true, t);
    round(&mut e, t);
    let up = t + Duration::from_secs(10);
    let a2 = e.session_up(
        SessionUp { graceful_restart: Some(gr(120, &[(V4, true), (V6, true)])), ..session("10.0.0.1", 65001) },
        up,
    );
    e.updates(a2, &[update(&["10.1.1.0/24"], &[65001], "10.0.0.1")]);
    round(&mut e, up);
    let deadline = up + crate::rib::restart::STALE_PATH_TIME;
    assert_eq!(e.poll_timeout(), Some(deadline));
    assert!(round(&mut e, up + Duration::from_secs(130)).withdrawn(b).is_empty(), "the restart time no longer applies");
    let r = round(&mut e, deadline);
    assert_eq!(sorted(r.withdrawn(b)), p(&["10.1.0.0/24", "fd01::/48"]));
    assert_eq!(e.peer_id("10.0.0.1".parse().unwrap()), Some(a2), "the peer stays, with its fresh route");
    assert_eq!(e.counts(a2).unwrap().received, 1);
}

#[test]
fn a_second_drop_before_end_of_rib_deletes_the_stale_routes() {
    let t = Instant::now();
    let (mut e, a, b) = graceful_feeder(t, &[(V4, true), (V6, true)]);
    e.session_down(a, true, t);
    round(&mut e, t);
    let gr_up =
        || SessionUp { graceful_restart: Some(gr(120, &[(V4, true), (V6, true)])), ..session("10.0.0.1", 65001) };
    e.session_up(gr_up(), t);
    e.updates(a, &[update(&["10.1.1.0/24"], &[65001], "10.0.0.1")]);
    round(&mut e, t);
    e.session_down(a, true, t + Duration::from_secs(1));
    let r = round(&mut e, t + Duration::from_secs(1));
    assert_eq!(sorted(r.withdrawn(b)), p(&["10.1.0.0/24", "fd01::/48"]), "stale twice: gone");
    assert!(e.rib().get(&pfx("10.1.1.0/24")).unwrap().paths()[0].is_stale(), "the fresh route is kept, stale");
}

#[test]
fn a_refresh_whose_eorr_never_comes_sweeps_after_the_stale_path_time() {
    let t = Instant::now();
    let (mut e, a, b) = feeder_and_client(t);
    e.updates(a, &[update(&["10.1.0.0/24", "10.1.1.0/24"], &[65001], "10.0.0.1")]);
    round(&mut e, t);
    e.refresh_marker(a, V4, true, t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    let deadline = t + crate::rib::restart::STALE_PATH_TIME;
    assert_eq!(e.poll_timeout(), Some(deadline));
    assert!(round(&mut e, deadline - Duration::from_millis(1)).withdrawn(b).is_empty());
    assert_eq!(round(&mut e, deadline).withdrawn(b), p(&["10.1.1.0/24"]));
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn routes_with_one_of_our_addresses_as_next_hop_are_ignored() {
    let t = Instant::now();
    let (mut e, a, b) = feeder_and_client(t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    round(&mut e, t);
    // Our session address (see `session`), then an IPv6 one of the interface.
    e.updates(a, &[update(&["10.1.0.0/24", "10.1.1.0/24"], &[65001], "10.10.0.2")]);
    let r = round(&mut e, t);
    assert_eq!(r.withdrawn(b), p(&["10.1.0.0/24"]), "the route it updates goes too");
    assert_eq!(r.events, vec![Event::OwnNextHop { address: "10.0.0.1".parse().unwrap() }]);
    e.updates(a, &[update(&["10.1.2.0/24"], &[65001], "10.10.0.2")]);
    assert!(round(&mut e, t).events.is_empty(), "logged once per session");
    assert_eq!(e.rib().len(), 0);
    let c =
        e.session_up(SessionUp { interface: vec![("fd00::2".parse().unwrap(), 64)], ..session("10.0.0.5", 65005) }, t);
    e.updates(c, &[update6(&["fd05::/48"], &[65005], "fd00::2")]);
    round(&mut e, t);
    assert_eq!(e.rib().len(), 0, "an MP_REACH next hop of ours too");
    e.updates(c, &[update6(&["fd05::/48"], &[65005], "fd00::5")]);
    round(&mut e, t);
    assert_eq!(e.rib().len(), 1);
}

#[test]
fn ipv4_routes_over_an_ipv6_session_get_the_interfaces_ipv4_next_hop() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    let v6 = SessionUp {
        local: Some("fd00::2".parse().unwrap()),
        interface: vec![("fd00::2".parse().unwrap(), 64), ("10.20.0.2".parse().unwrap(), 24)],
        ..session("fd00::9", 65009)
    };
    let b = e.session_up(v6, t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    let r = round(&mut e, t);
    let next_hops: Vec<_> = r
        .to(b)
        .iter()
        .filter_map(|m| if let Message::Update(u) = m { u.attrs.next_hop.filter(|_| !u.nlri.is_empty()) } else { None })
        .collect();
    assert_eq!(next_hops, vec!["10.20.0.2".parse::<std::net::Ipv4Addr>().unwrap()]);
}

// ---- The kernel: [[kernel.import]], next-hop tracking, the FIB ----

mod kernel {
    use super::*;
    use crate::config::KernelImport;
    use crate::kernel::{
        FibError, FibNextHop, FibResult, FibRoute, KernelNextHop, KernelRoute, KernelUpdate, RouteKey, RouteType,
        PROTOCOL_KERNEL, TABLE_MAIN,
    };
    use crate::rib::kernel::KernelSettings;

    const BIRD: u8 = 12;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn kroute(prefix: &str, protocol: u8, kind: RouteType, gateways: &[(Option<&str>, u32)]) -> KernelUpdate {
        KernelUpdate::Route(KernelRoute {
            key: RouteKey { table: TABLE_MAIN, prefix: pfx(prefix), metric: 0 },
            protocol,
            kind,
            next_hops: gateways.iter().map(|&(g, i)| KernelNextHop { gateway: g.map(ip), ifindex: i }).collect(),
        })
    }

    fn kdelete(prefix: &str) -> KernelUpdate {
        KernelUpdate::RouteDeleted(RouteKey { table: TABLE_MAIN, prefix: pfx(prefix), metric: 0 })
    }

    /// The kernel of a node on 10.0.0.0/24 (eth0, ifindex 2), address 10.0.0.2.
    fn node_kernel(extra: Vec<KernelUpdate>) -> Vec<KernelUpdate> {
        let mut v = vec![
            KernelUpdate::SyncBegin,
            KernelUpdate::Link { ifindex: 2, name: "eth0".into() },
            KernelUpdate::Address { ifindex: 2, address: ip("10.0.0.2"), prefix_len: 24 },
            kroute("10.0.0.0/24", PROTOCOL_KERNEL, RouteType::Unicast, &[(None, 2)]),
        ];
        v.extend(extra);
        v.push(KernelUpdate::SyncEnd);
        v
    }

    fn calico_import() -> KernelImport {
        KernelImport {
            within: vec![pfx("10.42.0.0/16")],
            protocol: vec![BIRD],
            kind: vec![RouteType::Blackhole],
            table: TABLE_MAIN,
            communities: Vec::new(),
            large_communities: Vec::new(),
            local_pref: None,
            med: Some(7),
        }
    }

    fn installing() -> KernelSettings {
        KernelSettings { install: true, ..KernelSettings::default() }
    }

    fn hop(gw: &str) -> FibNextHop {
        FibNextHop { gateway: ip(gw), ifindex: 2 }
    }

    fn ok(routes: &[FibRoute]) -> Vec<FibResult> {
        routes.iter().map(|r| FibResult { prefix: r.prefix, error: None, dropped: Vec::new() }).collect()
    }

    #[test]
    fn calico_blackholes_are_announced_and_withdrawn_with_the_kernel() {
        let t = Instant::now();
        let (mut e, a, b) = feeder_and_client(t);
        e.set_kernel(KernelSettings { import: vec![calico_import()], ..KernelSettings::default() });
        e.kernel(node_kernel(vec![
            kroute("10.42.7.0/26", BIRD, RouteType::Blackhole, &[]),
            // Filtered out: another protocol, another type, outside `within`.
            kroute("10.42.8.0/26", 4, RouteType::Blackhole, &[]),
            kroute("10.42.9.0/26", BIRD, RouteType::Unicast, &[(Some("10.0.0.9"), 2)]),
            kroute("10.43.0.0/26", BIRD, RouteType::Blackhole, &[]),
        ]));
        let r = round(&mut e, t);
        assert_eq!(r.announced(b), p(&["10.42.7.0/26"]));
        assert_eq!(r.announced(a), p(&["10.42.7.0/26"]));
        let Some(Message::Update(u)) = r.to(a).into_iter().next() else { panic!("an UPDATE") };
        assert_eq!(u.attrs.origin, Some(crate::wire::Origin::Igp));
        assert_eq!(u.attrs.next_hop, Some("10.10.0.2".parse().unwrap()), "our address on the session");
        assert_eq!(u.attrs.med, Some(7));
        // Provenance.
        let prov = e.kernel_provenance(pfx("10.42.7.0/26")).unwrap();
        assert_eq!((prov.table, prov.protocol, prov.kind.as_str()), (TABLE_MAIN, BIRD, "blackhole"));
        // A live delete withdraws; a live add announces.
        e.kernel(vec![kdelete("10.42.7.0/26"), kroute("10.42.1.0/26", BIRD, RouteType::Blackhole, &[])]);
        let r = round(&mut e, t);
        assert_eq!(r.withdrawn(b), p(&["10.42.7.0/26"]));
        assert_eq!(r.announced(b), p(&["10.42.1.0/26"]));
    }

    #[test]
    fn a_resync_withdraws_nothing_that_still_exists() {
        let t = Instant::now();
        let (mut e, _a, b) = feeder_and_client(t);
        e.set_kernel(KernelSettings { import: vec![calico_import()], ..KernelSettings::default() });
        let blocks = ["10.42.1.0/26", "10.42.2.0/26", "10.42.3.0/26"];
        e.kernel(node_kernel(blocks.iter().map(|b| kroute(b, BIRD, RouteType::Blackhole, &[])).collect()));
        assert_eq!(sorted(round(&mut e, t).announced(b)), p(&blocks));
        // An overrun: the reader dumps again; one block went meanwhile.
        e.kernel(node_kernel(blocks[..2].iter().map(|b| kroute(b, BIRD, RouteType::Blackhole, &[])).collect()));
        let r = round(&mut e, t);
        assert_eq!(r.withdrawn(b), p(&["10.42.3.0/26"]));
        assert!(r.announced(b).is_empty(), "unchanged routes are not sent again");
    }

    #[test]
    fn best_paths_and_their_ecmp_siblings_are_installed_as_one_route() {
        let t = Instant::now();
        let mut e = Engine::new(cfg(8), None);
        e.set_kernel(installing());
        e.kernel(node_kernel(Vec::new()));
        let n1 = e.session_up(session("10.0.0.11", US), t);
        let n2 = e.session_up(session("10.0.0.12", US), t);
        e.updates(n1, &[update(&["192.168.50.10/32", "10.42.1.0/26"], &[], "10.0.0.11")]);
        e.updates(n2, &[update(&["192.168.50.10/32"], &[], "10.0.0.12")]);
        let r = round(&mut e, t);
        assert_eq!(r.sweeps, 1, "a fresh start sweeps at once");
        let mut routes = e.poll_fib(100);
        routes.sort_by_key(|r| r.prefix);
        assert_eq!(
            routes,
            vec![
                FibRoute { prefix: pfx("10.42.1.0/26"), next_hops: vec![hop("10.0.0.11")], replace: false },
                FibRoute {
                    prefix: pfx("192.168.50.10/32"),
                    next_hops: vec![hop("10.0.0.11"), hop("10.0.0.12")],
                    replace: false
                },
            ]
        );
        assert_eq!(e.fib_row(pfx("10.42.1.0/26")).unwrap().state, crate::ctl::FibState::Pending);
        e.fib_results(ok(&routes));
        let row = e.fib_row(pfx("192.168.50.10/32")).unwrap();
        assert_eq!(row.state, crate::ctl::FibState::Installed);
        assert_eq!(row.next_hops[0].device.as_deref(), Some("eth0"));
        assert_eq!((row.protocol, row.metric), (186, 20));
        // One node withdraws: the route is replaced with the other's next hop alone.
        e.updates(n2, &[withdraw(&["192.168.50.10/32"])]);
        round(&mut e, t);
        let routes = e.poll_fib(100);
        assert_eq!(
            routes,
            vec![FibRoute { prefix: pfx("192.168.50.10/32"), next_hops: vec![hop("10.0.0.11")], replace: true }]
        );
        e.fib_results(ok(&routes));
        // Both gone: removed, and the entry can be reclaimed once the kernel answered.
        e.updates(n1, &[withdraw(&["192.168.50.10/32"])]);
        round(&mut e, t);
        let routes = e.poll_fib(100);
        assert_eq!(routes, vec![FibRoute { prefix: pfx("192.168.50.10/32"), next_hops: Vec::new(), replace: true }]);
        e.fib_results(ok(&routes));
        assert!(e.fib_row(pfx("192.168.50.10/32")).is_none());
        assert_eq!(e.fib_prefixes(None), p(&["10.42.1.0/26"]));
    }

    #[test]
    fn routes_in_flight_are_bounded_until_answers_come() {
        let t = Instant::now();
        let mut e = Engine::new(cfg(8), None);
        e.set_kernel(installing());
        e.kernel(node_kernel(Vec::new()));
        let n1 = e.session_up(session("10.0.0.11", US), t);
        let total = crate::rib::fib::MAX_IN_FLIGHT + 100;
        let prefixes: Vec<String> = (0..total).map(|i| format!("10.{}.{}.0/24", 100 + i / 256, i % 256)).collect();
        let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        e.updates(n1, &[update(&prefixes, &[], "10.0.0.11")]);
        round(&mut e, t);
        let first = e.poll_fib(usize::MAX);
        assert_eq!(first.len(), crate::rib::fib::MAX_IN_FLIGHT);
        assert!(e.poll_fib(usize::MAX).is_empty(), "nothing more until answers come");
        assert_eq!(e.fib_queued(), 100);
        e.fib_results(ok(&first[..60]));
        assert_eq!(e.poll_fib(usize::MAX).len(), 60);
        e.fib_results(ok(&first[60..]));
        assert_eq!(e.poll_fib(usize::MAX).len(), 40);
        assert_eq!(e.fib_queued(), 0);
    }

    #[test]
    fn repeated_changes_of_a_prefix_cost_one_kernel_write() {
        let t = Instant::now();
        let mut e = Engine::new(cfg(8), None);
        e.set_kernel(installing());
        e.kernel(node_kernel(Vec::new()));
        let n1 = e.session_up(session("10.0.0.11", US), t);
        e.updates(n1, &[update(&["10.42.1.0/26"], &[], "10.0.0.11")]);
        round(&mut e, t);
        e.updates(n1, &[update(&["10.42.1.0/26"], &[], "10.0.0.12")]);
        round(&mut e, t);
        e.updates(n1, &[update(&["10.42.1.0/26"], &[], "10.0.0.13")]);
        round(&mut e, t);
        let routes = e.poll_fib(100);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].next_hops, vec![hop("10.0.0.13")]);
        // Changed again while in flight: sent once the answer came.
        e.updates(n1, &[update(&["10.42.1.0/26"], &[], "10.0.0.14")]);
        round(&mut e, t);
        assert!(e.poll_fib(100).is_empty());
        e.fib_results(ok(&routes));
        let routes = e.poll_fib(100);
        assert_eq!(routes[0].next_hops, vec![hop("10.0.0.14")]);
        assert!(routes[0].replace);
    }

    #[test]
    fn our_own_routes_and_refused_ones_are_not_installed() {
        let t = Instant::now();
        let mut e = Engine::new(cfg(8), None);
        let mut policy = Policy::accept_all();
        policy.default = crate::policy::Verdict::Reject;
        e.set_kernel(KernelSettings { install_policy: Some(Arc::new(policy)), ..installing() });
        e.kernel(node_kernel(Vec::new()));
        let n1 = e.session_up(session("10.0.0.11", US), t);
        e.updates(n1, &[update(&["10.42.1.0/26"], &[], "10.0.0.11")]);
        e.announce(&[crate::config::Announce {
            prefix: pfx("10.99.0.0/24"),
            next_hop: None,
            local_pref: None,
            med: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
        }]);
        round(&mut e, t);
        assert!(e.poll_fib(100).is_empty(), "the install policy refuses; static routes never go in");
        e.set_kernel(installing());
        round(&mut e, t);
        assert_eq!(e.poll_fib(100).len(), 1, "the policy gone, the peer's route goes in");
    }

    #[test]
    fn an_unresolved_next_hop_leaves_best_path_the_fib_and_the_peers() {
        let t = Instant::now();
        let mut e = Engine::new(cfg(8), None);
        e.set_kernel(installing());
        e.kernel(node_kernel(vec![kroute("172.16.0.0/16", 4, RouteType::Unicast, &[(Some("10.0.0.254"), 2)])]));
        let n1 = e.session_up(session("10.0.0.11", US), t);
        let rr = e.session_up(session("10.0.0.1", 65001), t);
        round(&mut e, t);
        // Recursive: installed through the static route's gateway.
        e.updates(n1, &[update(&["10.42.1.0/26"], &[], "172.16.5.5")]);
        // Our own address as next hop: refused on arrival, never installed.
        e.updates(n1, &[update(&["10.42.2.0/26"], &[], "10.0.0.2")]);
        // Nothing covers it.
        e.updates(n1, &[update(&["10.42.3.0/26"], &[], "192.0.2.1")]);
        let r = round(&mut e, t);
        assert_eq!(r.announced(rr), p(&["10.42.1.0/26"]));
        let routes = e.poll_fib(100);
        assert_eq!(
            routes,
            vec![FibRoute { prefix: pfx("10.42.1.0/26"), next_hops: vec![hop("10.0.0.254")], replace: false }]
        );
        e.fib_results(ok(&routes));
        let rows = e.next_hop_rows();
        let unresolved = rows.iter().find(|r| r.address == ip("192.0.2.1")).unwrap();
        assert_eq!((unresolved.resolved, unresolved.reason.as_deref()), (false, Some("no route")));
        let via = rows.iter().find(|r| r.address == ip("172.16.5.5")).unwrap();
        assert_eq!(via.via.as_deref(), Some("172.16.0.0/16"));
        // The route toward the next hop goes: the path is invalid, withdrawn from the
        // peers, removed from the FIB.
        e.kernel(vec![KernelUpdate::RouteDeleted(RouteKey {
            table: TABLE_MAIN,
            prefix: pfx("172.16.0.0/16"),
            metric: 0,
        })]);
        let r = round(&mut e, t);
        assert_eq!(r.withdrawn(rr), p(&["10.42.1.0/26"]));
        let routes = e.poll_fib(100);
        assert_eq!(routes, vec![FibRoute { prefix: pfx("10.42.1.0/26"), next_hops: Vec::new(), replace: true }]);
        // And back.
        e.fib_results(ok(&routes));
        e.kernel(vec![kroute("172.16.0.0/16", 4, RouteType::Unicast, &[(Some("10.0.0.253"), 2)])]);
        let r = round(&mut e, t);
        assert_eq!(r.announced(rr), p(&["10.42.1.0/26"]));
        assert_eq!(e.poll_fib(100)[0].next_hops, vec![hop("10.0.0.253")]);
    }

    #[test]
    fn a_foreign_route_is_never_replaced_and_a_refused_route_is_retried() {
        let t = Instant::now();
        let mut e = Engine::new(cfg(8), None);
        e.set_kernel(installing());
        e.kernel(node_kernel(Vec::new()));
        let n1 = e.session_up(session("10.0.0.11", US), t);
        e.updates(n1, &[update(&["10.42.1.0/26", "10.42.2.0/26"], &[], "10.0.0.11")]);
        round(&mut e, t);
        assert_eq!(e.poll_fib(100).len(), 2);
        let foreign = FibError { errno: 17, message: "File exists".into(), foreign: true };
        let other = FibError { errno: 101, message: "Nexthop has invalid gateway".into(), foreign: false };
        e.fib_results(vec![
            FibResult { prefix: pfx("10.42.1.0/26"), error: Some(foreign), dropped: Vec::new() },
            FibResult { prefix: pfx("10.42.2.0/26"), error: Some(other), dropped: Vec::new() },
        ]);
        let r = drain(&mut e);
        assert!(r.events.contains(&Event::FibForeign { prefix: pfx("10.42.1.0/26") }));
        assert!(r.events.iter().any(|ev| matches!(ev, Event::FibRefused { routes: 1, .. })));
        let row = e.fib_row(pfx("10.42.2.0/26")).unwrap();
        assert_eq!((row.state, row.errno), (crate::ctl::FibState::Failed, Some(101)));
        assert_eq!(e.fib_prefixes(None).len(), 2);
        // A kernel change: both are tried again, still as exclusive creates.
        e.kernel(vec![KernelUpdate::Address { ifindex: 2, address: ip("10.0.0.3"), prefix_len: 24 }]);
        round(&mut e, t);
        let again = e.poll_fib(100);
        assert_eq!(again.len(), 2);
        assert!(again.iter().all(|r| !r.replace), "a foreign route is never replaced");
        e.fib_results(ok(&again));
        assert!(drain(&mut e).events.is_empty());
        assert_eq!(e.fib_row(pfx("10.42.2.0/26")).unwrap().state, crate::ctl::FibState::Installed);
    }

    #[test]
    fn the_sweep_waits_for_peers_that_restarted_with_us() {
        let t = Instant::now();
        let awaiting: HashSet<IpAddr> = [ip("10.0.0.1")].into();
        let mut e = Engine::new(cfg(8), Some(Deferral::new(t + Duration::from_secs(120), awaiting)));
        e.set_kernel(installing());
        e.kernel(node_kernel(Vec::new()));
        let mut s = session("10.0.0.1", 65001);
        let mut restarting = gr(120, &[(V4, true), (V6, true)]);
        restarting.restarting = true;
        s.graceful_restart = Some(restarting);
        let a = e.session_up(s, t);
        let r = round(&mut e, t);
        assert!(!e.deferring(), "a peer that restarted too sends End-of-RIB only after ours");
        assert!(e.poll_fib(10).is_empty());
        assert_eq!(r.end_of_rib(a), vec![V4, V6]);
        assert_eq!(r.sweeps, 0, "its routes are not back yet");
        e.updates(a, &[update(&["10.42.1.0/26"], &[65001], "10.0.0.1"), Update::end_of_rib(V4)]);
        assert_eq!(round(&mut e, t).sweeps, 0);
        e.updates(a, &[Update::end_of_rib(V6)]);
        assert_eq!(round(&mut e, t).sweeps, 1);
        assert_eq!(round(&mut e, t).sweeps, 0, "once");
    }

    #[test]
    fn routes_the_kernel_dropped_silently_are_written_again() {
        let t = Instant::now();
        let mut e = Engine::new(cfg(8), None);
        e.set_kernel(installing());
        e.kernel(node_kernel(Vec::new()));
        let n1 = e.session_up(session("10.0.0.11", US), t);
        e.updates(n1, &[update(&["10.42.1.0/26"], &[], "10.0.0.11")]);
        round(&mut e, t);
        let routes = e.poll_fib(10);
        e.fib_results(ok(&routes));
        assert!(e.poll_fib(10).is_empty());
        // The link flapped: the kernel dropped our IPv4 routes through it and said
        // nothing of them. Unchanged for the engine, written again all the same.
        e.kernel(vec![KernelUpdate::LinkDown { ifindex: 2 }]);
        round(&mut e, t);
        let again = e.poll_fib(10);
        assert_eq!(
            again,
            vec![FibRoute { prefix: pfx("10.42.1.0/26"), next_hops: vec![hop("10.0.0.11")], replace: true }]
        );
        e.fib_results(ok(&again));
        // Another interface: nothing to do.
        e.kernel(vec![KernelUpdate::LinkDown { ifindex: 3 }]);
        round(&mut e, t);
        assert!(e.poll_fib(10).is_empty());
    }

    #[test]
    fn the_fib_waits_for_the_restart_deferral() {
        let t = Instant::now();
        let awaiting: HashSet<IpAddr> = [ip("10.0.0.11"), ip("10.0.0.12")].into();
        let mut e = Engine::new(cfg(8), Some(Deferral::new(t + Duration::from_secs(120), awaiting)));
        e.set_kernel(installing());
        e.kernel(node_kernel(Vec::new()));
        let mut s1 = session("10.0.0.11", US);
        s1.graceful_restart = Some(gr(120, &[(V4, true)]));
        let mut s2 = session("10.0.0.12", US);
        s2.graceful_restart = Some(gr(120, &[(V4, true)]));
        let (n1, n2) = (e.session_up(s1, t), e.session_up(s2, t));
        e.updates(n1, &[update(&["192.168.50.10/32"], &[], "10.0.0.11"), Update::end_of_rib(V4)]);
        e.updates(n1, &[Update::end_of_rib(V6)]);
        round(&mut e, t);
        // One node of the ECMP pair is back: the kernel keeps the route from before
        // the restart, with both next hops, rather than losing one for a while.
        assert!(e.poll_fib(10).is_empty());
        e.updates(n2, &[update(&["192.168.50.10/32"], &[], "10.0.0.12"), Update::end_of_rib(V4)]);
        e.updates(n2, &[Update::end_of_rib(V6)]);
        let r = round(&mut e, t);
        assert_eq!(r.sweeps, 1);
        let routes = e.poll_fib(10);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].next_hops, vec![hop("10.0.0.11"), hop("10.0.0.12")]);
    }

    #[test]
    fn the_sweep_happens_at_the_deadline_without_end_of_rib() {
        let t = Instant::now();
        let awaiting: HashSet<IpAddr> = [ip("10.0.0.1")].into();
        let mut e = Engine::new(cfg(8), Some(Deferral::new(t + Duration::from_secs(120), awaiting)));
        assert_eq!(round(&mut e, t).sweeps, 0);
        assert_eq!(e.poll_timeout(), Some(t + Duration::from_secs(120)));
        assert_eq!(round(&mut e, t + Duration::from_secs(120)).sweeps, 1);
    }
}
