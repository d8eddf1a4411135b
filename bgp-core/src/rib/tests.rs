use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::prefix::Prefix;
use crate::wire::{AsPath, Community, NextHop, Origin};

pub(crate) const US: u32 = 64513;

/// The messages of one `Output::Send` buffer, frame by frame (each frame's length is at
/// octets 16-17 of its header).
pub(crate) fn messages(bytes: &bytes::Bytes, ctx: &crate::wire::CodecCtx) -> Vec<crate::wire::Message> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = usize::from(u16::from_be_bytes([bytes[at + 16], bytes[at + 17]]));
        out.push(crate::wire::decode_message(&bytes.slice(at..at + len), ctx).expect("a valid message"));
        at += len;
    }
    out
}

pub(crate) fn rib() -> RibState {
    RibState::new(RibConfig {
        local_as: US,
        router_id: "10.10.0.2".parse().unwrap(),
        cluster_id: "10.10.0.2".parse().unwrap(),
        multipath: 8,
        always_compare_med: false,
    })
}

/// An iBGP peer (in our AS) is a route reflector client.
pub(crate) fn info(addr: &str, asn: u32) -> PeerInfo {
    PeerInfo {
        address: addr.parse().unwrap(),
        asn,
        router_id: addr.parse().unwrap_or(Ipv4Addr::new(10, 255, 255, 1)),
        internal: asn == US,
        rr_client: asn == US,
        allow_as_in: 0,
    }
}

pub(crate) fn peer(rib: &mut RibState, addr: &str, asn: u32) -> SourceId {
    rib.add_source(SourceKind::Peer(info(addr, asn)))
}

pub(crate) fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

pub(crate) fn update(prefixes: &[&str], path: &[u32], nh: &str) -> Update {
    Update {
        nlri: prefixes.iter().map(|p| Nlri::new(pfx(p))).collect(),
        attrs: PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(path.to_vec())),
            next_hop: Some(nh.parse().unwrap()),
            ..PathAttrs::default()
        },
        ..Update::default()
    }
}

/// IPv6 unicast routes in MP_REACH_NLRI, with `nh` as the global next hop.
pub(crate) fn update6(prefixes: &[&str], path: &[u32], nh: &str) -> Update {
    let mut u = update(&[], path, "0.0.0.0");
    u.attrs.next_hop = None;
    u.attrs.mp_reach = Some(Box::new(MpReach {
        family: Family::IPV6_UNICAST,
        next_hop: NextHop::V6 { global: nh.parse().unwrap(), link_local: None },
        nlri: prefixes.iter().map(|p| Nlri::new(pfx(p))).collect(),
    }));
    u
}

pub(crate) fn withdraw(prefixes: &[&str]) -> Update {
    Update { withdrawn: prefixes.iter().map(|p| Nlri::new(pfx(p))).collect(), ..Update::default() }
}

/// The engine's configuration for the engine tests: us (AS [`US`], 10.10.0.2), up to
/// `multipath` paths per prefix.
pub(crate) fn cfg(multipath: usize) -> RibConfig {
    RibConfig {
        local_as: US,
        router_id: "10.10.0.2".parse().unwrap(),
        cluster_id: "10.10.0.2".parse().unwrap(),
        multipath,
        always_compare_med: false,
    }
}

/// A session with `addr` of `asn` (iBGP peers are route reflector clients), both
/// families, accept-all policies and plenty of writer room.
pub(crate) fn session(addr: &str, asn: u32) -> engine::SessionUp {
    engine::SessionUp {
        info: info(addr, asn),
        ctx: crate::wire::CodecCtx::modern(),
        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        local: Some("10.10.0.2".parse().unwrap()),
        interface: Vec::new(),
        next_hop_self: false,
        remove_private_as: false,
        graceful_restart: None,
        enhanced_refresh: false,
        import: std::sync::Arc::new(crate::policy::Policy::accept_all()),
        export: std::sync::Arc::new(crate::policy::Policy::accept_all()),
        max_prefixes: None,
        mrai: std::time::Duration::ZERO,
        room: 1000,
        long_lived: None,
    }
}

pub(crate) fn accept(_: Prefix, _: &PathAttrs) -> Import {
    Import::Accept
}

fn best_next_hop(rib: &RibState, p: &str) -> Option<Ipv4Addr> {
    rib.get(&pfx(p)).and_then(|e| e.best()).and_then(|b| rib.attrs().get(b.attrs).next_hop)
}

#[test]
fn best_path_and_changes() {
    let mut r = rib();
    let router = peer(&mut r, "10.10.0.1", 64512);
    let other = peer(&mut r, "10.10.0.9", 64999);
    let applied = r.apply_update(router, &update(&["0.0.0.0/0", "192.0.2.0/24"], &[64512], "10.10.0.1"), &mut accept);
    assert_eq!(applied, Applied { announced: 2, ..Applied::default() });
    r.apply_update(other, &update(&["192.0.2.0/24"], &[64999, 1, 2], "10.10.0.9"), &mut accept);
    let mut changes = r.decide();
    changes.sort_by_key(|c| c.prefix);
    assert_eq!(changes.len(), 2);
    assert_eq!(best_next_hop(&r, "192.0.2.0/24"), Some("10.10.0.1".parse().unwrap()));
    assert_eq!(r.get(&pfx("192.0.2.0/24")).unwrap().step, Some(decision::Step::AsPathLength));
    assert!(r.decide().is_empty(), "nothing dirty, nothing changed");
    // The best goes: the other path takes over.
    r.apply_update(router, &withdraw(&["192.0.2.0/24"]), &mut accept);
    let changes = r.decide();
    assert_eq!(changes.len(), 1);
    assert_eq!(best_next_hop(&r, "192.0.2.0/24"), Some("10.10.0.9".parse().unwrap()));
    // Removing a source withdraws everything it sent.
    r.remove_source(other);
    r.remove_source(router);
    let changes = r.decide();
    assert!(changes.iter().all(|c| r.entry(c.id).unwrap().multipath == 0));
    assert!(r.is_empty());
    assert_eq!(r.attr_stats().sets, 0, "every attribute set freed");
    // The emptied entries wait for whoever holds them by id, then go.
    let held = changes[0].id;
    assert_eq!(r.id_of(&changes[0].prefix), None, "out of the index at once");
    assert_eq!(r.reclaim(|id| id == held), 1);
    assert!(r.entry(changes[1].id).is_none(), "freed");
    assert_eq!(r.entry(held).map(|e| e.prefix()), Some(changes[0].prefix));
    assert_eq!(r.reclaim(|_| false), 0);
    assert!(r.entry(held).is_none());
    // A freed id is handed out again.
    r.apply_update(router, &update(&["203.0.113.0/24"], &[64512], "10.10.0.1"), &mut accept);
    let again = r.decide();
    assert!(changes.iter().any(|c| c.id == again[0].id));
}

#[test]
fn attribute_sets_are_shared() {
    let mut r = rib();
    let p = peer(&mut r, "10.10.0.1", 64512);
    let prefixes: Vec<String> = (0..200).map(|i| format!("10.{}.{}.0/24", i / 256, i % 256)).collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    r.apply_update(p, &update(&refs, &[64512], "10.10.0.1"), &mut accept);
    r.decide();
    assert_eq!(r.attr_stats().sets, 1);
    assert_eq!(r.source_routes(p), 200);
    r.apply_update(p, &withdraw(&refs), &mut accept);
    r.decide();
    assert_eq!(r.attr_stats().sets, 0);
    assert_eq!(r.source_routes(p), 0);
}

#[test]
fn loops_are_rejected_and_not_kept() {
    let mut r = rib();
    let p = peer(&mut r, "10.10.0.1", 64512);
    r.apply_update(p, &update(&["192.0.2.0/24"], &[64512], "10.10.0.1"), &mut accept);
    let a = r.apply_update(p, &update(&["192.0.2.0/24"], &[64512, US], "10.10.0.1"), &mut accept);
    assert_eq!((a.rejected, a.withdrawn), (1, 1), "a refused route replaces the one before it");
    r.decide();
    assert!(r.get(&pfx("192.0.2.0/24")).is_none());
    assert_eq!(r.source_routes(p), 0);
    // Only the bounded record of refusals for `bgpctl why` (refused.rs) holds its
    // attributes.
    assert_eq!((r.attr_stats().sets, r.refusals().len()), (1, 1), "nothing else of it is kept");
    // RFC 4271 §6.3: an external peer's AS_PATH starts with its own AS.
    let a = r.apply_update(p, &update(&["192.0.2.0/24"], &[64999, 64512], "10.10.0.1"), &mut accept);
    assert_eq!(a.rejected, 1, "first AS is not the peer's");
    assert_eq!(r.apply_update(p, &update(&["192.0.2.0/24"], &[], "10.10.0.1"), &mut accept).rejected, 1, "empty");
    // allow_as_in lets one occurrence through.
    let q = r.add_source(SourceKind::Peer(PeerInfo {
        address: "10.10.0.5".parse().unwrap(),
        asn: 64512,
        router_id: "10.10.0.5".parse().unwrap(),
        internal: false,
        rr_client: false,
        allow_as_in: 1,
    }));
    assert_eq!(r.apply_update(q, &update(&["192.0.2.0/24"], &[64512, US], "10.10.0.5"), &mut accept).announced, 1);
    // RFC 4456 §8: our router id as ORIGINATOR_ID, or our cluster id in CLUSTER_LIST.
    let client = peer(&mut r, "10.10.0.21", US);
    let mut u = update(&["198.51.100.0/24"], &[], "10.10.0.21");
    u.attrs.originator_id = Some("10.10.0.2".parse().unwrap());
    assert_eq!(r.apply_update(client, &u, &mut accept).rejected, 1);
    let mut u = update(&["198.51.100.0/24"], &[], "10.10.0.21");
    u.attrs.cluster_list = vec!["10.10.0.2".parse().unwrap()];
    assert_eq!(r.apply_update(client, &u, &mut accept).rejected, 1);
}

#[test]
fn import_policy_edits_and_the_received_form_stays() {
    let mut r = rib();
    let p = peer(&mut r, "10.10.0.1", 64512);
    let mut policy = |prefix: Prefix, a: &PathAttrs| {
        if prefix.prefix_len() > 24 {
            return Import::Reject;
        }
        let mut a = a.clone();
        a.local_pref = Some(300);
        Import::Modified(Box::new(a))
    };
    let a = r.apply_update(p, &update(&["192.0.2.0/24", "192.0.2.1/32"], &[64512], "10.10.0.1"), &mut policy);
    assert_eq!((a.announced, a.rejected), (1, 1));
    r.decide();
    let e = r.get(&pfx("192.0.2.0/24")).unwrap();
    let best = e.best().unwrap();
    assert_eq!(r.attrs().get(best.attrs).local_pref, Some(300));
    assert_eq!(r.attrs().get(best.attrs_in).local_pref, None, "Adj-RIB-In before policy");
    assert_eq!(r.attr_stats().sets, 2);
}

#[test]
fn graceful_restart_stale_and_sweep() {
    let mut r = rib();
    let p = peer(&mut r, "10.10.0.1", 64512);
    r.apply_update(p, &update(&["192.0.2.0/24", "198.51.100.0/24"], &[64512], "10.10.0.1"), &mut accept);
    r.decide();
    r.mark_stale(p, None);
    assert!(r.decide().is_empty(), "stale routes keep forwarding: no change");
    assert!(r.get(&pfx("192.0.2.0/24")).unwrap().paths()[0].is_stale());
    // After the restart the peer sends one of them again, then End-of-RIB.
    r.apply_update(p, &update(&["192.0.2.0/24"], &[64512], "10.10.0.1"), &mut accept);
    r.sweep_stale(p, Some(Family::IPV4_UNICAST));
    let changes = r.decide();
    assert_eq!(changes.iter().map(|c| c.prefix).collect::<Vec<_>>(), vec![pfx("198.51.100.0/24")]);
    assert_eq!(r.entry(changes[0].id).unwrap().multipath, 0);
    assert!(!r.get(&pfx("192.0.2.0/24")).unwrap().paths()[0].is_stale());
}

#[test]
fn ecmp_for_a_loadbalancer_address_announced_by_two_nodes() {
    let mut r = rib();
    let n1 = peer(&mut r, "10.10.0.21", US);
    let n2 = peer(&mut r, "10.10.0.22", US);
    r.apply_update(n1, &update(&["10.10.100.10/32"], &[], "10.10.0.21"), &mut accept);
    r.apply_update(n2, &update(&["10.10.100.10/32"], &[], "10.10.0.22"), &mut accept);
    r.decide();
    let e = r.get(&pfx("10.10.100.10/32")).unwrap();
    assert_eq!(e.multipath, 2);
    assert_eq!(e.paths()[0].source, n1, "lower router id is best");
}

#[test]
fn enhanced_route_refresh_sweeps_one_family() {
    let mut r = rib();
    let p = peer(&mut r, "10.10.0.1", 64512);
    r.apply_update(p, &update(&["192.0.2.0/24", "198.51.100.0/24"], &[64512], "10.10.0.1"), &mut accept);
    r.apply_update(p, &update6(&["2001:db8::/32"], &[64512], "fd00::1"), &mut accept);
    r.decide();
    // BoRR for IPv4: only IPv4 routes are stale; one comes again before the EoRR.
    r.mark_stale(p, Some(Family::IPV4_UNICAST));
    assert!(r.get(&pfx("192.0.2.0/24")).unwrap().paths()[0].is_stale());
    assert!(!r.get(&pfx("2001:db8::/32")).unwrap().paths()[0].is_stale());
    r.apply_update(p, &update(&["192.0.2.0/24"], &[64512], "10.10.0.1"), &mut accept);
    r.sweep_stale(p, Some(Family::IPV4_UNICAST));
    let gone: Vec<Prefix> = r.decide().iter().map(|c| c.prefix).collect();
    assert_eq!(gone, vec![pfx("198.51.100.0/24")]);
    assert!(r.get(&pfx("2001:db8::/32")).is_some() && r.get(&pfx("192.0.2.0/24")).is_some());
}

#[test]
fn ipv6_routes_keep_their_next_hop_in_the_interned_set() {
    let mut r = rib();
    let p = peer(&mut r, "fd00::1", 64512);
    let nh = NextHop::V6 { global: "fd00::1".parse().unwrap(), link_local: None };
    r.apply_update(p, &update6(&["2001:db8::/32"], &[64512], "fd00::1"), &mut accept);
    r.decide();
    let best = *r.get(&pfx("2001:db8::/32")).unwrap().best().unwrap();
    assert_eq!(r.attrs().get(best.attrs).effective_next_hop(), Some(nh));
}

#[test]
fn static_routes_win_as_locally_originated() {
    let mut r = rib();
    let p = peer(&mut r, "10.10.0.1", 64512);
    let s = r.add_source(SourceKind::Static);
    r.apply_update(p, &update(&["10.10.100.10/32"], &[64512], "10.10.0.1"), &mut accept);
    let mut a = update(&[], &[], "10.10.0.2").attrs;
    a.communities = vec![Community(64513 << 16 | 1)];
    r.announce(s, pfx("10.10.100.10/32"), a);
    r.decide();
    let e = r.get(&pfx("10.10.100.10/32")).unwrap();
    assert_eq!((e.paths()[0].source, e.step), (s, Some(decision::Step::LocallyOriginated)));
    assert!(r.withdraw(s, pfx("10.10.100.10/32")));
    r.decide();
    assert_eq!(r.get(&pfx("10.10.100.10/32")).unwrap().paths()[0].source, p);
}

/// Paths from distinct peers with small random differences in every compared field.
fn paths() -> impl Strategy<Value = Vec<(u32, u8, u8, u32, u8)>> {
    // AS_PATH lengths from 1: an external peer's path starts with its own AS.
    prop::collection::vec((100u32..103, 1u8..4, 0u8..3, 0u32..3, 1u8..200), 1..8)
}

fn load(r: &mut RibState, ps: &[(u32, u8, u8, u32, u8)], order: &[usize]) -> Vec<SourceId> {
    let ids: Vec<SourceId> = ps
        .iter()
        .enumerate()
        .map(|(i, p)| peer(r, &format!("10.0.{}.{}", p.4 % 3, i + 1), 65100 + u32::from(p.4 % 3)))
        .collect();
    for &i in order {
        let (lp, plen, origin, med, last) = ps[i];
        let path: Vec<u32> = (0..plen).map(|k| 65100 + u32::from(k + last % 3)).collect();
        let mut u = update(&["192.0.2.0/24"], &path, &format!("10.1.0.{last}"));
        u.attrs.local_pref = Some(lp);
        u.attrs.origin = Some([Origin::Igp, Origin::Egp, Origin::Incomplete][usize::from(origin)]);
        u.attrs.med = Some(med);
        r.apply_update(ids[i], &u, &mut accept);
    }
    ids
}

fn best_source(r: &RibState) -> SourceId {
    r.get(&pfx("192.0.2.0/24")).unwrap().paths()[0].source
}

proptest! {
    #[test]
    fn best_does_not_depend_on_arrival_order(ps in paths(), seed in any::<u64>()) {
        let n = ps.len();
        let mut a = rib();
        load(&mut a, &ps, &(0..n).collect::<Vec<_>>());
        a.decide();
        let mut order: Vec<usize> = (0..n).collect();
        let mut x = seed | 1;
        for i in (1..n).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut b = rib();
        load(&mut b, &ps, &order);
        b.decide();
        prop_assert_eq!(best_source(&a), best_source(&b));
    }

    #[test]
    fn a_worse_path_never_changes_the_best(ps in paths()) {
        let mut r = rib();
        let ids = load(&mut r, &ps, &(0..ps.len()).collect::<Vec<_>>());
        r.decide();
        let best = best_source(&r);
        // A path strictly worse in LOCAL_PREF than every other one.
        let worse = peer(&mut r, "10.9.9.9", 65000);
        let mut u = update(&["192.0.2.0/24"], &[65000], "10.9.9.9");
        u.attrs.local_pref = Some(1);
        r.apply_update(worse, &u, &mut accept);
        let changes = r.decide();
        prop_assert!(changes.is_empty(), "{:?}", changes);
        prop_assert_eq!(best_source(&r), best);
        prop_assert!(ids.contains(&best));
    }
}

#[test]
fn reimport_runs_a_new_policy_over_the_routes_as_received() {
    let mut r = rib();
    let p = peer(&mut r, "10.10.0.1", 64512);
    let loop_path = update(&["203.0.113.0/24"], &[64512, US], "10.10.0.1");
    r.apply_update(p, &update(&["192.0.2.0/24", "198.51.100.0/24"], &[64512], "10.10.0.1"), &mut accept);
    r.apply_update(p, &loop_path, &mut accept);
    r.decide();
    // A policy that rejects one prefix and sets LOCAL_PREF on the other.
    let mut policy = |prefix: Prefix, a: &PathAttrs| {
        if prefix == pfx("192.0.2.0/24") {
            Import::Reject
        } else {
            Import::Modified(Box::new(PathAttrs { local_pref: Some(200), ..a.clone() }))
        }
    };
    let applied = r.reimport(p, &mut policy);
    assert_eq!(applied, Applied { announced: 1, rejected: 1, ..Applied::default() }, "the AS loop was never kept");
    let mut changed: Vec<Prefix> = r.decide().iter().map(|c| c.prefix).collect();
    changed.sort();
    assert_eq!(changed, vec![pfx("192.0.2.0/24"), pfx("198.51.100.0/24")]);
    assert!(r.get(&pfx("192.0.2.0/24")).is_none(), "refused now: gone (a route refresh brings it back)");
    let best = *r.get(&pfx("198.51.100.0/24")).unwrap().best().unwrap();
    assert_eq!(r.attrs().get(best.attrs).local_pref, Some(200));
    assert_eq!(r.attrs().get(best.attrs_in).local_pref, None, "the Adj-RIB-In keeps what the peer sent");
    assert_eq!(r.source_routes(p), 1);
    // Back to accepting everything: the edited one returns to what was received.
    r.reimport(p, &mut accept);
    assert_eq!(r.decide().len(), 1);
    assert_eq!(r.source_routes(p), 1);
    r.reimport(p, &mut accept);
    assert!(r.decide().is_empty(), "the same policy again changes nothing");
    // The other set: the refused AS loop, in the record of refusals for `bgpctl why`.
    assert_eq!(r.attr_stats().sets, 2, "the modified set was freed");
}
