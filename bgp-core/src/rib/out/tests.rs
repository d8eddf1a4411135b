use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::policy::{PrefixEntry, PrefixList, Term, TermAction};
use crate::rib::tests::{accept, info, peer, pfx, rib, update, update6, withdraw, US};
use crate::rib::Change;
use crate::types::FamilySet;
use crate::wire::{decode_message, Message, MpReach, Origin, Update};

const V4: Family = Family::IPV4_UNICAST;
const V6: Family = Family::IPV6_UNICAST;

/// Exporting to the peer `addr` of `asn`, whose RIB source is `source`. No shared
/// subnet: toward eBGP the next hop is ours.
fn target(source: SourceId, addr: &str, asn: u32) -> ExportTarget {
    ExportTarget {
        source,
        peer: info(addr, asn),
        next_hop_self: false,
        remove_private_as: false,
        local_v4: Some("10.10.0.2".parse().unwrap()),
        local_v6: Some(NextHop::V6 { global: "fd00::2".parse().unwrap(), link_local: None }),
        shared_subnets: Vec::new(),
        long_lived: false,
        drained: false,
    }
}

/// A RIB with the two peers most tests use: an upstream (10.10.0.1, AS 64512) and the
/// router (198.51.100.1, AS 3320) they export to (see `to_router`).
fn upstream_and_router() -> (RibState, SourceId, SourceId) {
    let mut r = rib();
    let upstream = peer(&mut r, "10.10.0.1", 64512);
    let router = peer(&mut r, "198.51.100.1", 3320);
    (r, upstream, router)
}

/// Exporting to the router of `upstream_and_router`.
fn to_router(router: SourceId) -> ExportTarget {
    target(router, "198.51.100.1", 3320)
}

fn group(t: ExportTarget) -> UpdateGroup {
    group_with(t, CodecCtx::modern())
}

fn group_with(t: ExportTarget, ctx: CodecCtx) -> UpdateGroup {
    UpdateGroup::new(t, Arc::new(Policy::accept_all()), ctx, vec![V4, V6])
}

fn add_path_v4() -> CodecCtx {
    CodecCtx { add_path: [V4].into_iter().collect::<FamilySet>(), ..CodecCtx::modern() }
}

/// A decision round, as the driver runs it: every change is queued in every group.
fn decide(rib: &mut RibState, groups: &mut [&mut UpdateGroup]) -> Vec<Change> {
    let changes = rib.decide();
    for g in groups.iter_mut() {
        for c in &changes {
            g.queue_change(c);
        }
    }
    changes
}

/// Packs until `visited == 0`, as the driver does.
fn drain(g: &mut UpdateGroup, rib: &RibState, limit: usize, withdrawals_only: bool) -> Vec<Batch> {
    let mut batches = Vec::new();
    for _ in 0..10_000 {
        let packed = g.pack(rib, limit, withdrawals_only);
        if packed.visited == 0 {
            assert!(packed.batches.is_empty(), "nothing looked at, nothing sent");
            return batches;
        }
        batches.extend(packed.batches);
    }
    panic!("pack never reported that nothing was left to do");
}

/// The UPDATEs of `bytes`, frame by frame, by a receiver that takes IPv6 next hops
/// for IPv4 routes (RFC 8950), which some tests export.
fn decode(bytes: &Bytes, ctx: &CodecCtx) -> Vec<Update> {
    let ctx = &CodecCtx { extended_next_hop: [V4].into_iter().collect(), ..*ctx };
    let mut updates = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = usize::from(u16::from_be_bytes([bytes[at + 16], bytes[at + 17]]));
        match decode_message(&bytes.slice(at..at + len), ctx).expect("a valid message") {
            Message::Update(u) => {
                assert!(u.errors.is_empty(), "{:?}", u.errors);
                updates.push(u);
            }
            m => panic!("not an UPDATE: {m:?}"),
        }
        at += len;
    }
    updates
}

/// What `member` receives of `batches`.
fn received(g: &UpdateGroup, batches: &[Batch], member: SourceId) -> Vec<Update> {
    batches.iter().filter(|b| b.to.includes(member)).flat_map(|b| decode(&b.bytes, g.ctx())).collect()
}

/// Routes announced (with their attributes, NLRI stripped) and withdrawn, sorted.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    announced: Vec<(Prefix, u32, PathAttrs)>,
    withdrawn: Vec<(Prefix, u32)>,
}

impl Seen {
    fn prefixes(&self) -> Vec<Prefix> {
        self.announced.iter().map(|a| a.0).collect()
    }
    fn withdrawn_prefixes(&self) -> Vec<Prefix> {
        self.withdrawn.iter().map(|w| w.0).collect()
    }
}

fn seen(updates: &[Update]) -> Seen {
    let mut s = Seen::default();
    for u in updates {
        let mut attrs = u.attrs.clone();
        attrs.mp_unreach = None;
        if let Some(r) = &mut attrs.mp_reach {
            r.nlri.clear();
        }
        s.announced.extend(u.announcements().map(|(_, n)| (n.prefix, n.path_id, attrs.clone())));
        s.withdrawn.extend(u.withdrawals().map(|(_, n)| (n.prefix, n.path_id)));
    }
    s.announced.sort_by_key(|a| (a.0, a.1));
    s.withdrawn.sort();
    s
}

fn seen_by(g: &UpdateGroup, batches: &[Batch], member: SourceId) -> Seen {
    seen(&received(g, batches, member))
}

/// Packs everything pending and returns what `member` receives.
fn flush(g: &mut UpdateGroup, rib: &RibState, member: SourceId) -> Seen {
    let batches = drain(g, rib, 100, false);
    seen_by(g, &batches, member)
}

/// Each batch's recipients and content, in a stable order.
fn routing(g: &UpdateGroup, batches: &[Batch]) -> Vec<(Recipients, Vec<Prefix>, Vec<Prefix>)> {
    let mut rows: Vec<_> = batches
        .iter()
        .map(|b| {
            let s = seen(&decode(&b.bytes, g.ctx()));
            (b.to, s.prefixes(), s.withdrawn_prefixes())
        })
        .collect();
    rows.sort_by_key(|r| match r.0 {
        Recipients::All => (0, 0),
        Recipients::AllBut(s) => (1, s.0),
        Recipients::Only(s) => (2, s.0),
    });
    rows
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn nh6(s: &str) -> NextHop {
    NextHop::V6 { global: s.parse::<Ipv6Addr>().unwrap(), link_local: None }
}

#[test]
fn initial_table_walk_sends_everything_then_is_idle() {
    let (mut r, upstream, router) = upstream_and_router();
    let prefixes = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "10.20.0.0/16"];
    r.apply_update(upstream, &update(&prefixes, &[64512], "10.10.0.1"), &mut accept);
    r.apply_update(upstream, &update6(&["2001:db8::/32"], &[64512], "fd00::1"), &mut accept);
    // The member's own route is not sent back to it.
    r.apply_update(router, &update(&["100.64.0.0/10"], &[3320], "198.51.100.1"), &mut accept);
    r.decide();

    let mut g = group(to_router(router));
    assert!(!g.table_sent() && !g.is_idle(), "a new group has the table to send");
    let first = g.pack(&r, 2, false);
    assert_eq!(first.visited, 2);
    assert!(!g.table_sent(), "the walk is not over after two entries");
    let mut batches = first.batches;
    batches.extend(drain(&mut g, &r, 2, false));
    assert!(g.table_sent() && g.is_idle());
    assert!(batches.iter().all(|b| b.to == Recipients::AllBut(router) || b.to == Recipients::All));

    let s = seen_by(&g, &batches, router);
    assert!(s.withdrawn.is_empty());
    let mut want: Vec<Prefix> = prefixes.iter().map(|p| pfx(p)).collect();
    want.push(pfx("2001:db8::/32"));
    want.sort();
    assert_eq!(s.prefixes(), want);
    for (prefix, path_id, a) in &s.announced {
        assert_eq!(*path_id, 0);
        assert_eq!(a.as_path.as_ref().unwrap().to_string(), "64513 64512", "{prefix}: our AS prepended");
        assert_eq!(a.local_pref, None, "no LOCAL_PREF toward eBGP");
        match prefix {
            Prefix::V4(_) => assert_eq!(a.next_hop, Some(v4("10.10.0.2")), "{prefix}: next hop self"),
            Prefix::V6(_) => assert_eq!(a.mp_reach.as_ref().unwrap().next_hop, nh6("fd00::2"), "{prefix}"),
        }
    }
    assert_eq!(g.advertised_to(router), 5);
    assert_eq!(g.pack(&r, 100, false).visited, 0, "nothing left");
}

#[test]
fn one_encode_per_attribute_set() {
    let (mut r, upstream, router) = upstream_and_router();
    let prefixes: Vec<String> = (0..1000).map(|i| format!("10.0.{}.{}/32", i / 256, i % 256)).collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    r.apply_update(upstream, &update(&refs, &[64512], "10.10.0.1"), &mut accept);
    r.decide();

    let mut g = group(to_router(router));
    let batches = drain(&mut g, &r, 4096, false);
    assert_eq!(g.out.index.len(), 1, "one exported set, encoded once");
    let updates = received(&g, &batches, router);
    let s = seen(&updates);
    assert_eq!(s.announced.len(), 1000);
    s.announced.windows(2).for_each(|w| assert!(w[0].0 < w[1].0, "each prefix once"));
    // 1000 host routes of 5 octets do not fit in one 4096-octet message, but in two.
    assert_eq!(updates.len(), 2);
    let attr_bytes = |b: &Bytes, at: usize| {
        let wlen = usize::from(u16::from_be_bytes([b[at + 19], b[at + 20]]));
        let a = at + 21 + wlen;
        let alen = usize::from(u16::from_be_bytes([b[a], b[a + 1]]));
        b.slice(a + 2..a + 2 + alen)
    };
    let mut blocks = Vec::new();
    for b in &batches {
        let mut at = 0;
        while at < b.bytes.len() {
            blocks.push(attr_bytes(&b.bytes, at));
            at += usize::from(u16::from_be_bytes([b.bytes[at + 16], b.bytes[at + 17]]));
        }
    }
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0], blocks[1], "identical attribute bytes");
}

#[test]
fn changes_between_packs_coalesce() {
    let (mut r, upstream, router) = upstream_and_router();
    let mut g = group(to_router(router));
    assert!(drain(&mut g, &r, 100, false).is_empty());
    let p = "192.0.2.0/24";

    // Never sent: announced, changed and withdrawn before a pack is nothing at all.
    r.apply_update(upstream, &update(&[p], &[64512], "10.10.0.1"), &mut accept);
    let id = decide(&mut r, &mut [&mut g])[0].id;
    r.apply_update(upstream, &update(&[p], &[64512, 65001], "10.10.0.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    r.apply_update(upstream, &withdraw(&[p]), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let packed = g.pack(&r, 100, false);
    assert_eq!(packed.visited, 1, "queued once");
    assert!(packed.batches.is_empty() && !packed.announced);
    assert!(g.is_idle() && g.advertised_to(router) == 0);
    assert!(!g.in_use(id));

    // Sent, then changed twice: only the last attributes go.
    r.apply_update(upstream, &update(&[p], &[64512], "10.10.0.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let s = flush(&mut g, &r, router);
    assert_eq!(s.prefixes(), vec![pfx(p)]);
    r.apply_update(upstream, &update(&[p], &[64512, 65001], "10.10.0.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    r.apply_update(upstream, &update(&[p], &[64512, 65002], "10.10.0.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let s = flush(&mut g, &r, router);
    assert!(s.withdrawn.is_empty());
    assert_eq!(s.announced.len(), 1);
    assert_eq!(s.announced[0].2.as_path.as_ref().unwrap().to_string(), "64513 64512 65002");

    // Changed and changed back: what the peer holds is right already.
    r.apply_update(upstream, &update(&[p], &[64512, 65001], "10.10.0.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    r.apply_update(upstream, &update(&[p], &[64512, 65002], "10.10.0.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    assert!(drain(&mut g, &r, 100, false).is_empty());

    // Sent, changed, then withdrawn: one withdrawal.
    r.apply_update(upstream, &update(&[p], &[64512, 65003], "10.10.0.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    r.apply_update(upstream, &withdraw(&[p]), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let batches = drain(&mut g, &r, 100, false);
    assert_eq!(seen_by(&g, &batches, router), Seen { announced: vec![], withdrawn: vec![(pfx(p), 0)] });
    assert_eq!(g.advertised_to(router), 0);
}

#[test]
fn split_horizon_is_per_member() {
    let mut r = rib();
    let c1 = peer(&mut r, "10.10.0.21", US);
    let c2 = peer(&mut r, "10.10.0.22", US);
    let upstream = peer(&mut r, "10.10.0.1", 64512);
    let p = "10.10.100.1/32";
    let q = "10.10.100.2/32";
    // A route of c1's before the groups exist.
    r.apply_update(c1, &update(&[p], &[], "10.10.0.21"), &mut accept);
    r.decide();

    let (t1, t2) = (target(c1, "10.10.0.21", US), target(c2, "10.10.0.22", US));
    assert!(t1.peer.rr_client && t1.peer.internal);
    let policy = Arc::new(Policy::accept_all());
    let ctx = CodecCtx::modern();
    assert_eq!(Signature::of(&t1, &policy, &ctx, &[V4, V6]), Signature::of(&t2, &policy, &ctx, &[V4, V6]));
    let mut g1 = UpdateGroup::new(t1, policy.clone(), ctx, vec![V4, V6]);
    let mut g = UpdateGroup::new(t2, policy, ctx, vec![V4, V6]);
    assert!(drain(&mut g1, &r, 100, false).is_empty(), "c1 is not sent its own route");
    assert_eq!(g1.advertised_to(c1), 0);
    let batches = drain(&mut g, &r, 100, false);
    assert_eq!(seen_by(&g, &batches, c2).prefixes(), vec![pfx(p)]);
    // The older group takes the new one's member (either way round must work).
    g.merge(g1, &r);
    assert_eq!(g.members(), &[c2, c1]);
    assert_eq!((g.advertised_to(c1), g.advertised_to(c2)), (0, 1));

    // A member's route goes to every member but it.
    r.apply_update(c1, &update(&[q], &[], "10.10.0.21"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let batches = drain(&mut g, &r, 100, false);
    assert_eq!(routing(&g, &batches), vec![(Recipients::AllBut(c1), vec![pfx(q)], vec![])]);
    let s = seen_by(&g, &batches, c2);
    assert_eq!(s.announced[0].2.originator_id, Some(v4("10.10.0.21")), "reflected");
    assert_eq!((g.advertised_to(c1), g.advertised_to(c2)), (0, 2));

    // The best moves from member c1 to a non-member: c1 now gets it too, nobody a withdrawal.
    r.apply_update(upstream, &update(&[q], &[64512], "10.10.0.1"), &mut accept);
    r.apply_update(c1, &withdraw(&[q]), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let batches = drain(&mut g, &r, 100, false);
    assert_eq!(routing(&g, &batches), vec![(Recipients::All, vec![pfx(q)], vec![])]);
    assert_eq!(seen_by(&g, &batches, c1).announced[0].2.next_hop, Some(v4("10.10.0.1")));
    assert_eq!((g.advertised_to(c1), g.advertised_to(c2)), (1, 2));

    // From a non-member to member c2 (a shorter AS_PATH): c2 must drop the one it held.
    r.apply_update(c2, &update(&[q], &[], "10.10.0.22"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let batches = drain(&mut g, &r, 100, false);
    assert_eq!(
        routing(&g, &batches),
        vec![(Recipients::AllBut(c2), vec![pfx(q)], vec![]), (Recipients::Only(c2), vec![], vec![pfx(q)])]
    );
    assert_eq!(seen_by(&g, &batches, c1).announced[0].2.next_hop, Some(v4("10.10.0.22")));
    assert_eq!((g.advertised_to(c1), g.advertised_to(c2)), (1, 1));

    // From member c2 to member c1 (lower router id): c1 drops c2's, c2 gets c1's.
    r.apply_update(c1, &update(&[q], &[], "10.10.0.21"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    assert_eq!(r.get(&pfx(q)).unwrap().best().unwrap().source, c1);
    let batches = drain(&mut g, &r, 100, false);
    assert_eq!(
        routing(&g, &batches),
        vec![(Recipients::AllBut(c1), vec![pfx(q)], vec![]), (Recipients::Only(c1), vec![], vec![pfx(q)])]
    );
    assert_eq!(seen_by(&g, &batches, c2).announced[0].2.next_hop, Some(v4("10.10.0.21")));
    assert_eq!((g.advertised_to(c1), g.advertised_to(c2)), (0, 2));

    // The route of a member goes: withdrawn from every member but it.
    r.apply_update(c1, &withdraw(&[p]), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let batches = drain(&mut g, &r, 100, false);
    assert_eq!(routing(&g, &batches), vec![(Recipients::AllBut(c1), vec![], vec![pfx(p)])]);
    assert_eq!((g.advertised_to(c1), g.advertised_to(c2)), (0, 1));

    // Everything goes; a member that leaves gets nothing more.
    g.remove_member(c1);
    for s in [c1, c2, upstream] {
        r.remove_source(s);
    }
    decide(&mut r, &mut [&mut g]);
    let batches = drain(&mut g, &r, 100, false);
    assert_eq!(routing(&g, &batches), vec![(Recipients::All, vec![], vec![pfx(q)])]);
    assert_eq!(g.advertised_to(c2), 0);
}

#[test]
fn withdrawals_only_holds_announcements_back() {
    let (mut r, upstream, router) = upstream_and_router();
    let (p, q, changed) = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24");
    r.apply_update(upstream, &update(&[p, changed], &[64512], "10.10.0.1"), &mut accept);
    r.decide();
    let mut g = group(to_router(router));
    assert_eq!(flush(&mut g, &r, router).announced.len(), 2);

    r.apply_update(upstream, &withdraw(&[p]), &mut accept);
    r.apply_update(upstream, &update(&[q], &[64512], "10.10.0.1"), &mut accept);
    r.apply_update(upstream, &update(&[changed], &[64512, 65001], "10.10.0.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let first = g.pack(&r, 100, true);
    assert!(!first.announced);
    // A driver packs until nothing is left to do: that must end while the rest waits.
    let mut batches = first.batches;
    batches.extend(drain(&mut g, &r, 100, true));
    assert_eq!(seen_by(&g, &batches, router), Seen { announced: vec![], withdrawn: vec![(pfx(p), 0)] });
    assert!(!g.is_idle(), "the announcements wait");
    assert!(g.in_use(r.id_of(&pfx(q)).unwrap()));

    let packed = g.pack(&r, 100, false);
    assert!(packed.announced);
    let s = seen(&packed.batches.iter().flat_map(|b| decode(&b.bytes, g.ctx())).collect::<Vec<_>>());
    assert!(s.withdrawn.is_empty());
    let mut want = vec![pfx(q), pfx(changed)];
    want.sort();
    assert_eq!(s.prefixes(), want);
    let path =
        |prefix: &str| s.announced.iter().find(|a| a.0 == pfx(prefix)).unwrap().2.as_path.as_ref().unwrap().to_string();
    assert_eq!(path(changed), "64513 64512 65001");
    assert!(drain(&mut g, &r, 100, false).is_empty());
    assert!(g.is_idle());
    assert_eq!(g.advertised_to(router), 2);
}

#[test]
fn route_refresh_resends_one_family_to_one_member() {
    let mut r = rib();
    let c1 = peer(&mut r, "10.10.0.21", US);
    let router = peer(&mut r, "198.51.100.1", 3320);
    let other = peer(&mut r, "198.51.100.2", 3320);
    r.apply_update(c1, &update(&["10.10.100.1/32", "10.10.100.2/32"], &[], "10.10.0.21"), &mut accept);
    r.apply_update(c1, &update6(&["2001:db8:100::/48"], &[], "fd00::21"), &mut accept);
    r.apply_update(router, &update(&["100.64.0.0/10"], &[3320], "198.51.100.1"), &mut accept);
    r.decide();
    let mut g = group(to_router(router));
    let mut g2 = group(target(other, "198.51.100.2", 3320));
    drain(&mut g, &r, 100, false);
    drain(&mut g2, &r, 100, false);
    g.merge(g2, &r);
    assert_eq!(g.advertised_to(router), 3);
    assert!(g.is_idle());

    g.resend(router, V4);
    assert!(!g.is_idle());
    let batches = drain(&mut g, &r, 2, false);
    assert!(g.is_idle());
    assert!(batches.iter().all(|b| b.to == Recipients::Only(router)), "{batches:?}");
    assert!(received(&g, &batches, other).is_empty());
    let s = seen_by(&g, &batches, router);
    assert!(s.withdrawn.is_empty());
    assert_eq!(s.prefixes(), vec![pfx("10.10.100.1/32"), pfx("10.10.100.2/32")], "IPv4 only, not its own route");
    assert!(s.announced.iter().all(|a| a.2.as_path.as_ref().unwrap().to_string() == "64513"));
    assert_eq!(g.advertised_to(router), 3);
}

#[test]
fn entries_are_reclaimed_only_once_withdrawn() {
    let (mut r, upstream, router) = upstream_and_router();
    let (p, next) = ("192.0.2.0/24", "203.0.113.0/24");
    r.apply_update(upstream, &update(&[p], &[64512], "10.10.0.1"), &mut accept);
    r.decide();
    let mut g = group(to_router(router));
    drain(&mut g, &r, 100, false);
    let id = r.id_of(&pfx(p)).unwrap();
    assert!(g.in_use(id), "held");

    r.apply_update(upstream, &withdraw(&[p]), &mut accept);
    decide(&mut r, &mut [&mut g]);
    assert!(g.in_use(id), "queued");
    assert_eq!(r.reclaim(|id| g.in_use(id)), 1, "kept until the withdrawal is out");
    assert_eq!(r.entry(id).map(|e| e.prefix()), Some(pfx(p)), "the slot stays, out of the index");
    assert_eq!(r.id_of(&pfx(p)), None);
    let batches = drain(&mut g, &r, 100, false);
    assert_eq!(seen_by(&g, &batches, router).withdrawn, vec![(pfx(p), 0)]);
    assert!(!g.in_use(id));
    assert_eq!(r.reclaim(|id| g.in_use(id)), 0);
    assert_eq!(r.id_of(&pfx(p)), None);

    r.apply_update(upstream, &update(&[next], &[64512, 65001], "10.10.0.1"), &mut accept);
    let changes = decide(&mut r, &mut [&mut g]);
    assert_eq!(changes[0].id, id, "the freed id is reused");
    let s = flush(&mut g, &r, router);
    assert!(s.withdrawn.is_empty());
    assert_eq!(s.prefixes(), vec![pfx(next)]);
    assert_eq!(s.announced[0].2.as_path.as_ref().unwrap().to_string(), "64513 64512 65001");
    assert_eq!(g.advertised_to(router), 1);
}

#[test]
fn add_path_sends_every_ecmp_path_with_its_own_id() {
    let mut r = rib();
    assert!(r.config().multipath >= 2);
    let n1 = peer(&mut r, "10.10.0.21", US);
    let n2 = peer(&mut r, "10.10.0.22", US);
    let router = peer(&mut r, "10.10.0.1", 64512);
    let p = "10.10.100.10/32";
    r.apply_update(n1, &update(&[p], &[], "10.10.0.21"), &mut accept);
    r.apply_update(n2, &update(&[p], &[], "10.10.0.22"), &mut accept);
    r.decide();
    assert_eq!(r.get(&pfx(p)).unwrap().multipath, 2);
    let mut t = target(router, "10.10.0.1", 64512);
    t.shared_subnets = vec![("10.10.0.0".parse().unwrap(), 24)];
    let mut g = group_with(t, add_path_v4());

    let s = flush(&mut g, &r, router);
    let got: Vec<(u32, Option<Ipv4Addr>)> = s.announced.iter().map(|a| (a.1, a.2.next_hop)).collect();
    let mut want = vec![(path_id_of(n1), Some(v4("10.10.0.21"))), (path_id_of(n2), Some(v4("10.10.0.22")))];
    want.sort();
    assert_eq!(got, want);
    assert!(s.announced.iter().all(|a| a.0 == pfx(p)));
    assert_eq!(g.advertised_to(router), 2);

    r.apply_update(n2, &withdraw(&[p]), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let batches = drain(&mut g, &r, 100, false);
    assert_eq!(seen_by(&g, &batches, router), Seen { announced: vec![], withdrawn: vec![(pfx(p), path_id_of(n2))] });
    assert_eq!(g.advertised_to(router), 1);

    let id = r.id_of(&pfx(p)).unwrap();
    r.apply_update(n1, &withdraw(&[p]), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let batches = drain(&mut g, &r, 100, false);
    assert_eq!(seen_by(&g, &batches, router), Seen { announced: vec![], withdrawn: vec![(pfx(p), path_id_of(n1))] });
    assert_eq!(g.advertised_to(router), 0);
    assert!(!g.in_use(id));
}

/// A peer sending us several paths of a prefix (ADD-PATH receive) can put two of its
/// paths in the ECMP set; the path id we send is per source, so only one can go.
#[test]
fn add_path_sends_one_path_per_source() {
    let mut r = rib();
    let n1 = peer(&mut r, "10.10.0.21", US);
    let router = peer(&mut r, "10.10.0.1", 64512);
    let p = "10.10.100.10/32";
    let path = |id: u32, nh: &str| {
        let mut u = update(&[p], &[], nh);
        u.nlri[0].path_id = id;
        u
    };
    r.apply_update(n1, &path(1, "10.10.0.21"), &mut accept);
    r.apply_update(n1, &path(2, "10.10.0.23"), &mut accept);
    r.decide();
    assert_eq!(r.get(&pfx(p)).unwrap().multipath, 2);
    let mut t = target(router, "10.10.0.1", 64512);
    t.shared_subnets = vec![("10.10.0.0".parse().unwrap(), 24)];
    let mut g = group_with(t, add_path_v4());

    let s = flush(&mut g, &r, router);
    assert_eq!(s.announced.len(), 1, "{s:?}");
    assert_eq!((s.announced[0].1, s.announced[0].2.next_hop), (path_id_of(n1), Some(v4("10.10.0.21"))));
    assert_eq!(g.advertised_to(router), 1);

    // The best of the two goes: the other replaces it under the same path id.
    let mut w = withdraw(&[p]);
    w.withdrawn[0].path_id = 1;
    r.apply_update(n1, &w, &mut accept);
    decide(&mut r, &mut [&mut g]);
    let s = flush(&mut g, &r, router);
    assert!(s.withdrawn.is_empty());
    assert_eq!((s.announced[0].1, s.announced[0].2.next_hop), (path_id_of(n1), Some(v4("10.10.0.23"))));

    r.remove_source(n1);
    decide(&mut r, &mut [&mut g]);
    let s = flush(&mut g, &r, router);
    assert_eq!(s, Seen { announced: vec![], withdrawn: vec![(pfx(p), path_id_of(n1))] });
    assert_eq!(g.advertised_to(router), 0);
}

#[test]
fn memo_does_not_outlive_a_reused_attribute_id() {
    let (mut r, upstream, router) = upstream_and_router();
    let (p, q) = ("192.0.2.0/24", "198.51.100.0/24");
    r.apply_update(upstream, &update(&[p], &[64512], "10.10.0.1"), &mut accept);
    r.decide();
    let old = r.get(&pfx(p)).unwrap().best().unwrap().attrs;
    let mut g = group(to_router(router));
    let s = flush(&mut g, &r, router);
    assert_eq!(s.announced[0].2.as_path.as_ref().unwrap().to_string(), "64513 64512");

    // The set is freed, and its id handed to other attributes.
    r.apply_update(upstream, &withdraw(&[p]), &mut accept);
    decide(&mut r, &mut [&mut g]);
    drain(&mut g, &r, 100, false);
    assert_eq!(r.attr_stats().sets, 0);
    r.apply_update(upstream, &update(&[q], &[64512, 65001], "10.10.0.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    assert_eq!(r.get(&pfx(q)).unwrap().best().unwrap().attrs, old, "the id is reused");
    let s = flush(&mut g, &r, router);
    assert_eq!(s.prefixes(), vec![pfx(q)]);
    assert_eq!(s.announced[0].2.as_path.as_ref().unwrap().to_string(), "64513 64512 65001");

    // The same within one round: withdrawn and replaced before a pack.
    r.apply_update(upstream, &withdraw(&[q]), &mut accept);
    r.apply_update(upstream, &update(&[q], &[64512, 65002], "10.10.0.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    assert_eq!(r.get(&pfx(q)).unwrap().best().unwrap().attrs, old, "the id is reused");
    let s = flush(&mut g, &r, router);
    assert_eq!(s.announced[0].2.as_path.as_ref().unwrap().to_string(), "64513 64512 65002");
}

/// IPv4 and IPv6 routes with the same exported attributes and an IPv6 next hop
/// (RFC 8950) share an encoded set, but not a message.
#[test]
fn families_sharing_an_exported_set_are_packed_apart() {
    let mut r = rib();
    let local = r.add_source(SourceKind::Static);
    let c1 = peer(&mut r, "10.10.0.21", US);
    let attrs = |family: Family| PathAttrs {
        origin: Some(Origin::Igp),
        mp_reach: Some(Box::new(MpReach { family, next_hop: nh6("fd00::9"), nlri: Vec::new() })),
        ..PathAttrs::default()
    };
    r.announce(local, pfx("10.10.200.0/24"), attrs(V4));
    r.announce(local, pfx("2001:db8:200::/48"), attrs(V6));
    r.decide();
    let mut g = group(target(c1, "10.10.0.21", US));
    let s = flush(&mut g, &r, c1);
    assert_eq!(s.prefixes(), vec![pfx("10.10.200.0/24"), pfx("2001:db8:200::/48")]);
    for a in &s.announced {
        assert_eq!(a.2.mp_reach.as_ref().unwrap().next_hop, nh6("fd00::9"));
        assert_eq!(a.2.mp_reach.as_ref().unwrap().family, family_of(a.0));
    }
}

#[test]
fn the_only_members_routes_are_exported_when_another_member_joins() {
    let mut r = rib();
    let c1 = peer(&mut r, "10.10.0.21", US);
    let c2 = peer(&mut r, "10.10.0.22", US);
    let p = "10.10.100.1/32";
    r.apply_update(c1, &update(&[p], &[], "10.10.0.21"), &mut accept);
    r.decide();
    let mut g = group(target(c1, "10.10.0.21", US));
    let mut g2 = group(target(c2, "10.10.0.22", US));
    assert!(drain(&mut g, &r, 100, false).is_empty());
    assert!(g.out.slots.is_empty(), "c1's own route is neither exported nor encoded while c1 is alone");
    let b2 = drain(&mut g2, &r, 100, false);
    assert_eq!(seen_by(&g2, &b2, c2).prefixes(), vec![pfx(p)]);
    g.merge(g2, &r);
    assert_eq!(g.out.slots.len(), 1, "exported once a member can hold it");
    assert_eq!((g.advertised_to(c1), g.advertised_to(c2)), (0, 1));
    // c1 withdraws it: c2, which holds it, is told; c1 is not.
    r.apply_update(c1, &withdraw(&[p]), &mut accept);
    decide(&mut r, &mut [&mut g]);
    let b = drain(&mut g, &r, 100, false);
    assert_eq!(seen_by(&g, &b, c2).withdrawn_prefixes(), vec![pfx(p)]);
    assert!(seen_by(&g, &b, c1).withdrawn_prefixes().is_empty());
    assert_eq!((g.advertised_to(c1), g.advertised_to(c2)), (0, 0));
}

#[test]
fn a_forked_member_is_sent_only_what_its_new_policy_changes() {
    let (mut r, upstream, router) = upstream_and_router();
    r.apply_update(upstream, &update(&["192.0.2.0/24", "203.0.113.0/24"], &[64512], "10.10.0.1"), &mut accept);
    r.decide();
    let t = to_router(router);
    let mut g = group(t.clone());
    assert_eq!(flush(&mut g, &r, router).prefixes().len(), 2);
    // The same policy again: the walk finds nothing to send.
    let mut same = g.fork(router, t.clone(), Arc::new(Policy::accept_all()));
    assert!(g.members().is_empty());
    assert_eq!(flush(&mut same, &r, router), Seen { announced: vec![], withdrawn: vec![] });
    assert_eq!(same.advertised_to(router), 2);
    // A policy without 192.0.2.0/24 (and with a MED on the rest): one withdrawal, one
    // replacement.
    let mut policy = Policy::new("no-192", Verdict::Accept);
    let mut drop = Term::new("drop", TermAction::Reject);
    drop.matches.prefix_list =
        Some(Arc::new(PrefixList { name: "192".into(), entries: vec![PrefixEntry::exact(pfx("192.0.2.0/24"))] }));
    let mut med = Term::new("med", TermAction::Next);
    med.actions.set_med = Some(7);
    policy.terms = vec![drop, med];
    let mut forked = same.fork(router, t, Arc::new(policy));
    let s = flush(&mut forked, &r, router);
    assert_eq!(s.withdrawn, vec![(pfx("192.0.2.0/24"), 0)]);
    assert_eq!(s.prefixes(), vec![pfx("203.0.113.0/24")]);
    assert_eq!(s.announced[0].2.med, Some(7));
    assert_eq!(forked.advertised_to(router), 1);
}

#[test]
fn a_prefix_withdrawn_and_announced_again_in_one_round_ends_announced() {
    let (mut r, upstream, router) = upstream_and_router();
    let p = "192.0.2.0/24";
    r.apply_update(upstream, &update(&[p], &[64512], "10.10.0.1"), &mut accept);
    let old = r.decide()[0].id;
    let mut g = group(to_router(router));
    flush(&mut g, &r, router);
    // The withdrawal empties the entry, which leaves the index: the announcement that
    // follows makes a new one for the same prefix.
    r.apply_update(upstream, &withdraw(&[p]), &mut accept);
    r.apply_update(upstream, &update(&[p], &[64512, 65001], "10.10.0.1"), &mut accept);
    let changes = decide(&mut r, &mut [&mut g]);
    let new = r.id_of(&pfx(p)).unwrap();
    assert_ne!(new, old);
    assert_eq!(changes.iter().map(|c| c.id).collect::<Vec<_>>(), vec![old, new]);
    let batches = drain(&mut g, &r, 100, false);
    let updates = received(&g, &batches, router);
    let withdrawn = updates.iter().position(|u| !u.withdrawn.is_empty()).unwrap();
    let announced = updates.iter().position(|u| !u.nlri.is_empty()).unwrap();
    assert!(withdrawn < announced, "the withdrawal goes first: {updates:?}");
    assert_eq!(updates[announced].attrs.as_path.as_ref().unwrap().to_string(), "64513 64512 65001");
    assert_eq!(g.advertised_to(router), 1);
    assert_eq!(r.reclaim(|id| g.in_use(id)), 0, "the old entry is freed");
    assert!(r.entry(old).is_none() && g.in_use(new));
}

#[test]
fn a_lone_members_own_routes_cost_its_group_nothing() {
    let mut r = rib();
    let router = peer(&mut r, "198.51.100.1", 3320);
    let upstream = peer(&mut r, "10.10.0.1", 64512);
    let mut g = group(to_router(router));
    flush(&mut g, &r, router);
    let p = "192.0.2.0/24";
    // The member's own route: not even queued.
    r.apply_update(router, &update(&[p], &[3320], "198.51.100.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    assert!(g.is_idle() && g.out.slots.is_empty());
    // A better one from elsewhere goes to it; when its own wins again, ours is
    // withdrawn from it.
    r.apply_update(upstream, &update(&[p], &[64512], "10.10.0.1"), &mut accept);
    decide(&mut r, &mut [&mut g]);
    assert_eq!(flush(&mut g, &r, router).prefixes(), vec![pfx(p)]);
    r.apply_update(upstream, &withdraw(&[p]), &mut accept);
    decide(&mut r, &mut [&mut g]);
    assert_eq!(flush(&mut g, &r, router).withdrawn, vec![(pfx(p), 0)]);
    assert_eq!(g.advertised_to(router), 0);
    // Its own route withdrawn: nothing to do.
    r.apply_update(router, &withdraw(&[p]), &mut accept);
    decide(&mut r, &mut [&mut g]);
    assert!(g.is_idle());
}

#[test]
fn a_set_too_large_for_one_update_is_reported_not_sent() {
    let (mut r, upstream, router) = upstream_and_router();
    let mut u = update(&["192.0.2.0/24"], &[64512], "10.10.0.1");
    u.attrs.communities = (0..1100).map(crate::wire::Community).collect();
    r.apply_update(upstream, &u, &mut accept);
    r.decide();
    let no_extended = CodecCtx { four_octet_as: true, external: true, ..CodecCtx::default() };
    let mut g = group_with(to_router(router), no_extended);
    let packed = g.pack(&r, 100, false);
    assert_eq!(packed.too_large, 1);
    assert!(packed.batches.is_empty());
    let mut g = group_with(to_router(router), CodecCtx { extended_message: true, ..no_extended });
    assert_eq!(g.pack(&r, 100, false).too_large, 0, "fits in an extended message");
}
