//! Drains and graceful shutdown (RFC 8326, rib/drain.rs) on the virtual clock: a
//! drain re-announces and never withdraws, iBGP gets LOCAL_PREF 0 and the community,
//! eBGP the community only, undrain restores, groups split and merge back, ADD-PATH
//! peers get every path again, and received GRACEFUL_SHUTDOWN routes are least
//! preferred unless a policy says otherwise.

use std::collections::BTreeSet;

use super::*;
use crate::policy::Actions;
use crate::rib::drain::{Drain, Drained};
use crate::wire::Community;

const GSHUT: Community = Community::GRACEFUL_SHUTDOWN;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn only(addresses: &[&str]) -> Drain {
    Drain { all: false, peers: addresses.iter().map(|a| ip(a)).collect::<BTreeSet<_>>() }
}

fn everyone() -> Drain {
    Drain { all: true, peers: BTreeSet::new() }
}

/// Every announcement to `peer` in the round: (prefix, path id, attributes), the
/// messages decoded with the peer's own codec context (ADD-PATH or not).
fn sent_routes(e: &mut Engine, t: Instant, peer: PeerId, ctx: &CodecCtx) -> (Vec<(Prefix, u32, PathAttrs)>, usize) {
    e.process(t);
    let (mut routes, mut withdrawn) = (Vec::new(), 0);
    while let Some(out) = e.poll_output() {
        let Output::Send { peer: to, bytes } = out else { continue };
        if to != peer {
            continue;
        }
        for m in crate::rib::tests::messages(&bytes, ctx) {
            if let Message::Update(u) = m {
                withdrawn += u.withdrawn.len();
                let mut attrs = u.attrs.clone();
                attrs.mp_reach = None;
                for n in &u.nlri {
                    routes.push((n.prefix, n.path_id, attrs.clone()));
                }
            }
        }
    }
    routes.sort_by_key(|r| (r.0, r.1));
    (routes, withdrawn)
}

/// Two eBGP routers (one update group) and an iBGP client, through their tables, with
/// two `[[announce]]` routes.
fn routers_and_client(t: Instant) -> (Engine, PeerId, PeerId, PeerId) {
    let mut e = Engine::new(cfg(8), None);
    let r1 = e.session_up(session("10.0.0.1", 65001), t);
    let r2 = e.session_up(session("10.0.0.2", 65001), t);
    let c = e.session_up(session("10.0.0.3", US), t);
    e.announce(&[Announce::new(pfx("10.9.0.0/24")), Announce::new(pfx("10.9.1.0/24"))]);
    round(&mut e, t);
    round(&mut e, t);
    assert_eq!(sorted_sizes(&e), vec![1, 2]);
    (e, r1, r2, c)
}

#[test]
fn a_drained_ebgp_peer_is_sent_every_route_again_with_the_community_and_nothing_withdrawn() {
    let t = Instant::now();
    let (mut e, r1, r2, c) = routers_and_client(t);
    let changed = e.set_drain(only(&["10.0.0.1"]));
    assert_eq!(changed, vec![Drained { address: ip("10.0.0.1"), drained: true, routes: 2 }]);
    assert_eq!(sorted_sizes(&e), vec![1, 1, 1], "the drained router leaves its group");
    assert!(e.is_drained(ip("10.0.0.1")) && !e.is_drained(ip("10.0.0.2")));
    let ctx = CodecCtx::modern();
    let (routes, withdrawn) = sent_routes(&mut e, t, r1, &ctx);
    assert_eq!(withdrawn, 0, "a drain never withdraws");
    assert_eq!(routes.iter().map(|r| r.0).collect::<Vec<_>>(), p(&["10.9.0.0/24", "10.9.1.0/24"]));
    for (_, _, a) in &routes {
        assert_eq!(a.communities, vec![GSHUT]);
        assert_eq!(a.local_pref, None, "LOCAL_PREF is not sent to eBGP");
    }
    let (routes, _) = sent_routes(&mut e, t, r2, &ctx);
    assert!(routes.is_empty(), "the other router sees no change");
    let (routes, _) = sent_routes(&mut e, t, c, &ctx);
    assert!(routes.is_empty());
    // Undrain: the routes as before, and the router back in its group.
    let changed = e.set_drain(Drain::default());
    assert_eq!(changed, vec![Drained { address: ip("10.0.0.1"), drained: false, routes: 2 }]);
    let (routes, withdrawn) = sent_routes(&mut e, t, r1, &ctx);
    assert_eq!((routes.len(), withdrawn), (2, 0));
    assert!(routes.iter().all(|(_, _, a)| a.communities.is_empty()));
    round(&mut e, t);
    assert_eq!(sorted_sizes(&e), vec![1, 2], "merged back once in step");
}

#[test]
fn a_drained_ibgp_peer_gets_local_pref_0_and_the_community_and_drained_peers_share_a_group() {
    let t = Instant::now();
    let (mut e, r1, r2, c) = routers_and_client(t);
    let mut changed = e.set_drain(everyone());
    changed.sort_by_key(|d| d.address);
    assert_eq!(changed.iter().map(|d| (d.drained, d.routes)).collect::<Vec<_>>(), vec![(true, 2); 3]);
    let ctx = CodecCtx::modern();
    let (routes, withdrawn) = sent_routes(&mut e, t, c, &ctx);
    assert_eq!((routes.len(), withdrawn), (2, 0));
    for (_, _, a) in &routes {
        assert_eq!((a.local_pref, a.communities.clone()), (Some(0), vec![GSHUT]));
    }
    round(&mut e, t);
    assert_eq!(sorted_sizes(&e), vec![1, 2], "both drained routers form one group again");
    // A peer that comes up during a drain is drained from its first UPDATE.
    let r3 = e.session_up(session("10.0.0.4", 65001), t);
    let (routes, _) = sent_routes(&mut e, t, r3, &ctx);
    assert_eq!(routes.len(), 2);
    assert!(routes.iter().all(|(_, _, a)| a.communities == vec![GSHUT]));
    // Undrain one of them while every neighbor is drained: not possible by address,
    // only the whole set changes.
    let changed = e.set_drain(Drain::default());
    assert_eq!(changed.len(), 4);
    let (routes, _) = sent_routes(&mut e, t, c, &ctx);
    assert!(routes.iter().all(|(_, _, a)| a.local_pref == Some(100) && a.communities.is_empty()));
    let _ = (r1, r2);
}

#[test]
fn an_add_path_peer_gets_every_path_again_under_the_same_path_ids() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let r1 = e.session_up(session("10.0.0.1", 65001), t);
    let r2 = e.session_up(session("10.0.0.2", 65002), t);
    let add_path = CodecCtx { add_path: [V4, V6].into_iter().collect(), ..CodecCtx::modern() };
    let c = e.session_up(SessionUp { ctx: add_path, ..session("10.0.0.3", US) }, t);
    e.updates(r1, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    e.updates(r2, &[update(&["10.1.0.0/24"], &[65002], "10.0.0.2")]);
    let (before, _) = sent_routes(&mut e, t, c, &add_path);
    assert_eq!(before.len(), 2, "both paths, by ADD-PATH");
    e.set_drain(only(&["10.0.0.3"]));
    let (after, withdrawn) = sent_routes(&mut e, t, c, &add_path);
    assert_eq!(withdrawn, 0);
    let ids = |v: &[(Prefix, u32, PathAttrs)]| v.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>();
    assert_eq!(ids(&after), ids(&before), "every path again, same path ids");
    assert!(after.iter().all(|(_, _, a)| a.local_pref == Some(0) && a.communities == vec![GSHUT]));
}

#[test]
fn received_graceful_shutdown_routes_get_local_pref_0_before_the_import_policy() {
    let t = Instant::now();
    let (mut e, r1, r2, _c) = routers_and_client(t);
    let mut tagged = update(&["10.1.0.0/24"], &[65001], "10.0.0.1");
    tagged.attrs.communities = vec![GSHUT];
    e.updates(r1, &[tagged]);
    e.updates(r2, &[update(&["10.1.0.0/24"], &[65001, 65009], "10.0.0.2")]);
    round(&mut e, t);
    let best = |e: &Engine| {
        let entry = e.rib().get(&pfx("10.1.0.0/24")).unwrap();
        let b = *entry.best().unwrap();
        (b.source, e.rib().attrs().get(b.attrs).local_pref)
    };
    assert_eq!(best(&e), (r2, None), "the shorter path is tagged: LOCAL_PREF 0 loses");
    let lp = |e: &Engine, s: PeerId| {
        let entry = e.rib().get(&pfx("10.1.0.0/24")).unwrap();
        let path = entry.paths().iter().find(|p| p.source == s).copied().unwrap();
        e.rib().attrs().get(path.attrs).local_pref
    };
    assert_eq!(lp(&e, r1), Some(0));
    // A policy that sets LOCAL_PREF runs after the rule, and wins.
    let term = Term {
        name: "prefer".into(),
        matches: Match::default(),
        actions: Actions { set_local_pref: Some(300), ..Actions::default() },
        action: TermAction::Accept,
    };
    let import = Policy { name: "prefer".into(), terms: vec![term], default: crate::policy::Verdict::Accept };
    e.set_policies(r1, Arc::new(import), Arc::new(Policy::accept_all()));
    round(&mut e, t);
    assert_eq!(best(&e), (r1, Some(300)));
}

#[test]
fn routes_received_from_a_drained_peer_get_local_pref_0_and_the_community_until_undrained() {
    let t = Instant::now();
    let (mut e, r1, r2, c) = routers_and_client(t);
    e.updates(r1, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    e.updates(r2, &[update(&["10.1.0.0/24"], &[65001, 65009], "10.0.0.2")]);
    round(&mut e, t);
    let best = |e: &Engine| e.rib().get(&pfx("10.1.0.0/24")).unwrap().best().unwrap().source;
    assert_eq!(best(&e), r1);
    e.set_drain(only(&["10.0.0.1"]));
    let ctx = CodecCtx::modern();
    let (routes, withdrawn) = sent_routes(&mut e, t, c, &ctx);
    assert_eq!(best(&e), r2, "the drained session's path is least preferred");
    assert_eq!(withdrawn, 0);
    assert_eq!(routes.iter().map(|r| r.2.next_hop).collect::<Vec<_>>(), vec![Some("10.0.0.2".parse().unwrap())]);
    // What the drained peer sends meanwhile is marked too.
    e.updates(r1, &[update(&["10.2.0.0/24"], &[65001], "10.0.0.1")]);
    let (routes, _) = sent_routes(&mut e, t, c, &ctx);
    assert_eq!(routes.len(), 1);
    assert_eq!((routes[0].2.local_pref, routes[0].2.communities.clone()), (Some(0), vec![GSHUT]));
    e.set_drain(Drain::default());
    round(&mut e, t);
    assert_eq!(best(&e), r1, "undrained: as received again");
}
