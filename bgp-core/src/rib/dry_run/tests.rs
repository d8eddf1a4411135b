//! The dry run's prediction against the real thing: the same changes applied to the
//! engine (as the daemon's reload applies them), then what each peer holds compared.

use std::collections::HashSet;
use std::time::Instant;

use super::*;
use crate::config::Announce;
use crate::policy::{Match, PrefixEntry, PrefixList, Term, TermAction};
use crate::rib::tests::{cfg, pfx, session, update, US};

/// A policy refusing `prefixes`, accepting the rest.
fn refuse(prefixes: &[&str]) -> Arc<Policy> {
    let list = PrefixList { name: "l".into(), entries: prefixes.iter().map(|p| PrefixEntry::exact(pfx(p))).collect() };
    let term = Term {
        name: "t".into(),
        matches: Match { prefix_list: Some(Arc::new(list)), ..Match::default() },
        actions: Default::default(),
        action: TermAction::Reject,
    };
    Arc::new(Policy { name: "refuse".into(), terms: vec![term], default: Verdict::Accept })
}

fn announce(prefix: &str) -> Announce {
    Announce {
        prefix: pfx(prefix),
        communities: vec![],
        large_communities: vec![],
        local_pref: None,
        med: None,
        next_hop: None,
    }
}

/// Rounds until every group has sent all it has.
fn settle(e: &mut Engine, t: Instant) {
    for _ in 0..100 {
        e.process(t);
        while e.poll_output().is_some() {}
        if e.is_idle() {
            return;
        }
    }
    panic!("the engine did not settle");
}

/// Prefixes the peer at `addr` holds from us.
fn held(e: &Engine, addr: &str) -> HashSet<Prefix> {
    let ids = e.advertised_ids(addr.parse().unwrap());
    ids.iter().map(|&id| e.rib().entry(id).unwrap().prefix()).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A feeder A (eBGP), two route reflector clients B and C, an eBGP peer D, and one
/// `[[announce]]`.
fn engine(t: Instant) -> (Engine, [PeerId; 4]) {
    let mut e = Engine::new(cfg(1), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    let b = e.session_up(session("10.0.0.3", US), t);
    let c = e.session_up(session("10.0.0.4", US), t);
    let d = e.session_up(session("10.0.0.5", 65002), t);
    e.announce(&[announce("192.168.6.10/32")]);
    e.updates(a, &[update(&["10.1.0.0/24", "10.1.1.0/24", "10.2.0.0/24"], &[65001], "10.0.0.1")]);
    e.updates(d, &[update(&["10.1.0.0/24"], &[65002, 65009], "10.0.0.5")]);
    e.updates(d, &[update(&["10.3.0.0/24"], &[65002], "10.0.0.5")]);
    settle(&mut e, t);
    (e, [a, b, c, d])
}

#[test]
fn nothing_changes_nothing() {
    let t = Instant::now();
    let (e, _) = engine(t);
    let deltas = e.dry_run(&DryRunInput::default());
    assert_eq!(deltas.len(), 4);
    for d in &deltas {
        assert_eq!((d.before, d.sent, d.withdrawn, d.import_refused), (d.after, 0, 0, 0), "{d:?}");
        assert_eq!(d.before, held(&e, &d.address.to_string()).len() as u64);
    }
    // B holds the five prefixes; A not its own three (split horizon).
    assert_eq!(deltas[1].before, 5);
    assert_eq!(deltas[0].before, 2, "the static and D's 10.3.0.0/24: the best of 10.1.0.0/24 is A's own");
    assert_eq!(deltas[3].before, 4, "all but its own 10.3.0.0/24");
}

#[test]
fn the_prediction_equals_what_the_reload_does() {
    let t = Instant::now();
    let (mut e, [a, _b, c, d]) = engine(t);
    let accept = Arc::new(Policy::accept_all());
    let a_import = refuse(&["10.1.0.0/24", "10.2.0.0/24"]);
    let c_export = refuse(&["10.1.1.0/24", "10.3.0.0/24"]);
    let new_statics = [announce("192.168.6.11/32")];
    let before: Vec<(IpAddr, HashSet<Prefix>)> =
        ["10.0.0.1", "10.0.0.3", "10.0.0.4"].iter().map(|&s| (ip(s), held(&e, s))).collect();

    let input = DryRunInput {
        policies: [
            (ip("10.0.0.1"), (a_import.clone(), accept.clone())),
            (ip("10.0.0.4"), (accept.clone(), c_export.clone())),
        ]
        .into_iter()
        .collect(),
        removed: [ip("10.0.0.5")].into_iter().collect(),
        announcements: Some(&new_statics),
        routing: None,
        kernel_import: None,
    };
    let predicted = e.dry_run(&input);

    // The reload, as the daemon applies it.
    e.set_policies(a, a_import, accept.clone());
    e.set_policies(c, accept, c_export);
    e.announce(&new_statics);
    e.session_down(d, false, t);
    settle(&mut e, t);

    let by = |addr: IpAddr| *predicted.iter().find(|p| p.address == addr).unwrap();
    for (addr, was) in &before {
        let now = held(&e, &addr.to_string());
        let p = by(*addr);
        assert_eq!(p.before, was.len() as u64, "{addr}");
        assert_eq!(p.after, now.len() as u64, "{addr}");
        assert_eq!(p.sent, now.difference(was).count() as u64, "{addr}: sent");
        assert_eq!(p.withdrawn, was.difference(&now).count() as u64, "{addr}: withdrawn");
        let id = e.peer_id(*addr).unwrap();
        assert_eq!(e.counts(id).unwrap().advertised, p.after, "{addr}: show neighbors agrees");
    }
    // The figures themselves, so a prediction that is wrong the same way as the
    // engine still fails: B loses 10.1.0.0/24 (A's refused, D's gone), 10.2.0.0/24,
    // 10.3.0.0/24 and the old static, and gains the new one.
    assert_eq!(
        by(ip("10.0.0.3")),
        RouteDelta { address: ip("10.0.0.3"), before: 5, after: 2, sent: 1, withdrawn: 4, import_refused: 0 }
    );
    // C, with 10.1.1.0/24 refused on export too, keeps only the new static.
    assert_eq!((by(ip("10.0.0.4")).after, by(ip("10.0.0.4")).withdrawn), (1, 5));
    assert_eq!(by(ip("10.0.0.1")).import_refused, 2);
    // D, removed: everything withdrawn.
    assert_eq!(
        by(ip("10.0.0.5")),
        RouteDelta { address: ip("10.0.0.5"), before: 4, after: 0, sent: 0, withdrawn: 4, import_refused: 0 }
    );
}

#[test]
fn an_import_change_moves_the_best_path_without_a_send_or_withdraw() {
    let t = Instant::now();
    let (e, _) = engine(t);
    // A's 10.1.0.0/24 refused: D's path takes over, so B still holds the prefix.
    let policies = [(ip("10.0.0.1"), (refuse(&["10.1.0.0/24"]), Arc::new(Policy::accept_all())))].into_iter().collect();
    let p = e.dry_run(&DryRunInput { policies, ..DryRunInput::default() });
    assert_eq!((p[1].sent, p[1].withdrawn, p[1].after), (0, 0, 5), "B");
    assert_eq!((p[0].sent, p[0].after), (1, 3), "A is now sent D's path");
    assert_eq!((p[3].withdrawn, p[3].after), (1, 3), "D: its own path is best now, so A's goes");
}

#[test]
fn multipath_sends_the_ecmp_set_to_an_add_path_peer() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(1), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    let d = e.session_up(session("10.0.0.5", 65001), t);
    let mut s = session("10.0.0.3", US);
    s.ctx.add_path.insert(crate::types::Family::IPV4_UNICAST);
    let b = e.session_up(s, t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    e.updates(d, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.5")]);
    settle(&mut e, t);
    let input = DryRunInput { routing: Some((8, false)), ..DryRunInput::default() };
    let p = e.dry_run(&input);
    assert_eq!((p[1].before, p[1].after, p[1].sent), (1, 2, 1), "B gets the second path of the ECMP set");
    e.set_routing(8, false);
    settle(&mut e, t);
    assert_eq!(e.counts(b).unwrap().advertised, 2, "as predicted");
}

#[test]
fn new_kernel_imports_run_over_the_kernel_routes_held() {
    use crate::config::KernelImport;
    use crate::kernel::{KernelNextHop, KernelRoute, KernelUpdate, RouteKey, RouteType, TABLE_MAIN};
    use crate::rib::kernel::KernelSettings;
    const BIRD: u8 = 12;
    let t = Instant::now();
    let (mut e, _) = engine(t);
    let route = |prefix: &str, kind| {
        KernelUpdate::Route(KernelRoute {
            key: RouteKey { table: TABLE_MAIN, prefix: pfx(prefix), metric: 0 },
            protocol: BIRD,
            kind,
            next_hops: vec![KernelNextHop { gateway: None, ifindex: 2 }],
        })
    };
    e.kernel(vec![
        KernelUpdate::SyncBegin,
        route("10.42.1.0/26", RouteType::Blackhole),
        route("10.42.2.0/26", RouteType::Blackhole),
        route("10.43.0.0/24", RouteType::Unicast),
        KernelUpdate::SyncEnd,
    ]);
    let import = |within: &[&str]| KernelImport {
        within: within.iter().map(|p| pfx(p)).collect(),
        protocol: vec![BIRD],
        kind: vec![],
        table: TABLE_MAIN,
        communities: vec![],
        large_communities: vec![],
        local_pref: None,
        med: None,
    };
    e.set_kernel(KernelSettings { import: vec![import(&["10.42.0.0/16"])], ..KernelSettings::default() });
    settle(&mut e, t);
    let was = held(&e, "10.0.0.3");
    assert!(was.contains(&pfx("10.42.1.0/26")) && !was.contains(&pfx("10.43.0.0/24")), "{was:?}");

    // The new entries: the pod CIDRs of 10.42.1.0/24 only, and 10.43.0.0/16.
    let rules = [import(&["10.42.1.0/24", "10.43.0.0/16"])];
    let p = e.dry_run(&DryRunInput { kernel_import: Some(&rules), ..DryRunInput::default() });
    e.set_kernel(KernelSettings { import: rules.to_vec(), ..KernelSettings::default() });
    settle(&mut e, t);
    let now = held(&e, "10.0.0.3");
    let b = p[1];
    assert_eq!((b.sent, b.withdrawn), (1, 1), "10.43.0.0/24 in, 10.42.2.0/26 out: {b:?}");
    assert_eq!(b.sent, now.difference(&was).count() as u64);
    assert_eq!(b.withdrawn, was.difference(&now).count() as u64);
    assert_eq!(b.after, now.len() as u64);
}

/// The cost of a dry run on a larger table (`cargo test -p bgp-core --lib dry_run_cost
/// -- --ignored --nocapture`): 100,000 prefixes from one feeder, three more peers.
#[test]
#[ignore]
fn dry_run_cost() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(1), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    for addr in ["10.0.0.3", "10.0.0.4"] {
        e.session_up(session(addr, US), t);
    }
    e.session_up(session("10.0.0.5", 65002), t);
    let prefixes: Vec<String> =
        (0..100_000u32).map(|i| format!("{}.{}.{}.0/24", 11 + (i >> 16), (i >> 8) & 255, i & 255)).collect();
    for chunk in prefixes.chunks(500) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        e.updates(a, &[update(&refs, &[65001], "10.0.0.1")]);
    }
    settle(&mut e, t);
    let policies = [(ip("10.0.0.4"), (Arc::new(Policy::accept_all()), refuse(&["11.0.0.0/24"])))].into_iter().collect();
    let start = Instant::now();
    let p = e.dry_run(&DryRunInput { policies, ..DryRunInput::default() });
    eprintln!("dry run over {} prefixes, 4 peers: {:?}; {p:?}", e.rib().len(), start.elapsed());
    assert_eq!(p[2].withdrawn, 1);
}

#[test]
fn a_drained_peers_routes_keep_their_graceful_shutdown_local_pref() {
    let t = Instant::now();
    let (mut e, [a, ..]) = engine(t);
    // A's 10.1.0.0/24 is best (shorter path than D's); drained, D's wins (RFC 8326).
    let drain = crate::rib::drain::Drain { all: false, peers: [ip("10.0.0.1")].into_iter().collect() };
    e.set_drain(drain);
    settle(&mut e, t);
    let was = held(&e, "10.0.0.1");
    assert!(was.contains(&pfx("10.1.0.0/24")), "A is sent D's path: {was:?}");
    // A new import policy for A that refuses something else: its routes stay drained.
    let policies =
        [(ip("10.0.0.1"), (refuse(&["192.0.2.0/24"]), Arc::new(Policy::accept_all())))].into_iter().collect();
    let p = e.dry_run(&DryRunInput { policies, ..DryRunInput::default() });
    e.set_policies(a, refuse(&["192.0.2.0/24"]), Arc::new(Policy::accept_all()));
    settle(&mut e, t);
    assert_eq!(held(&e, "10.0.0.1"), was, "nothing moved");
    assert_eq!((p[0].sent, p[0].withdrawn, p[0].after), (0, 0, was.len() as u64), "{:?}", p[0]);
}
