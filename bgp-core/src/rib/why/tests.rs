//! `why` on a virtual clock: each reason a route is missing or not sent, in the
//! words the report promises.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::kernel::{KernelNextHop, KernelRoute, KernelUpdate, RouteKey, RouteType, PROTOCOL_KERNEL, TABLE_MAIN};
use crate::policy::{parse_community, Actions, Match, PrefixEntry, PrefixList, Term, TermAction, Verdict};
use crate::rib::engine::SessionUp;
use crate::rib::kernel::KernelSettings;
use crate::rib::tests::{cfg, pfx, session, update, withdraw, US};
use crate::wire::Community;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn settle(e: &mut Engine, t: Instant) {
    e.process(t);
    while e.poll_output().is_some() {}
}

fn ask(e: &Engine, target: &str) -> WhyReport {
    ask_with(e, target, &[])
}

fn ask_with(e: &Engine, target: &str, rfc8212_export: &[&str]) -> WhyReport {
    let target_parsed = match target.parse::<Prefix>() {
        Ok(p) => PrefixOrAddress::Prefix(p),
        Err(_) => PrefixOrAddress::Address(ip(target)),
    };
    e.why(&WhyQuery {
        target: target_parsed,
        text: target.into(),
        rfc8212_export: rfc8212_export.iter().map(|a| ip(a)).collect(),
        rfc8212_import: Vec::new(),
    })
}

fn peer_reason(r: &WhyReport, addr: &str) -> Option<String> {
    let row = r.peers.iter().find(|p| p.address == ip(addr)).expect("the neighbor is listed");
    row.reason.clone()
}

/// A policy of one term over a prefix list of `prefix` (exact match).
fn policy(name: &str, term: &str, prefix: &str, action: TermAction, actions: Actions) -> Arc<Policy> {
    let list = Arc::new(PrefixList { name: "l".into(), entries: vec![PrefixEntry::exact(pfx(prefix))] });
    let mut p = Policy::new(name, Verdict::Accept);
    p.terms.push(Term {
        name: term.into(),
        matches: Match { prefix_list: Some(list), ..Match::default() },
        actions,
        action,
    });
    Arc::new(p)
}

fn with_import(mut s: SessionUp, import: Arc<Policy>) -> SessionUp {
    s.import = import;
    s
}

#[test]
fn no_source_has_it() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    e.session_up(session("10.0.0.1", 65001), t);
    settle(&mut e, t);
    let r = ask(&e, "10.9.0.0/24");
    assert_eq!(r.verdict, NO_SOURCE);
    assert_eq!(r.prefix.as_deref(), Some("10.9.0.0/24"));
    assert_eq!(peer_reason(&r, "10.0.0.1").as_deref(), Some(NO_SOURCE));
    assert_eq!(r.fib.reason.as_deref(), Some(NO_SOURCE));
    // An address nothing covers.
    let r = ask(&e, "10.9.0.1");
    assert_eq!((r.verdict.as_str(), r.prefix.as_deref()), (NO_SOURCE, None));
    assert_eq!(peer_reason(&r, "10.0.0.1").as_deref(), Some(NO_SOURCE), "an Established neighbor is not down");
}

#[test]
fn rejected_by_policy_x_term_y_until_withdrawn() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let import = policy("from-router", "drop-lan", "10.1.0.0/24", TermAction::Reject, Actions::default());
    let a = e.session_up(with_import(session("10.0.0.1", 65001), import), t);
    e.updates(a, &[update(&["10.1.0.0/24", "10.2.0.0/24"], &[65001], "10.0.0.1")]);
    settle(&mut e, t);
    assert!(e.rib().get(&pfx("10.1.0.0/24")).is_none(), "refused routes are not in the table");
    let r = ask(&e, "10.1.0.7");
    assert_eq!(r.prefix.as_deref(), Some("10.1.0.0/24"), "an address finds the refused route");
    assert_eq!(r.verdict, "rejected by policy from-router term drop-lan");
    assert_eq!(r.rejected.len(), 1);
    let trace = r.rejected[0].import.as_ref().expect("the policy's trace");
    assert_eq!(trace.steps[0].term, "drop-lan");
    assert_eq!(r.rejected[0].route.as_path.to_string(), "65001");
    // Withdrawn: nothing left of it.
    e.updates(a, &[withdraw(&["10.1.0.0/24"])]);
    settle(&mut e, t);
    assert_eq!(ask(&e, "10.1.0.0/24").verdict, NO_SOURCE);
    assert!(e.rib().refusals().is_empty());
    // Accepted once the policy no longer refuses it: the record goes too.
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    assert_eq!(e.rib().refusals().len(), 1);
    e.set_policies(a, Arc::new(Policy::accept_all()), Arc::new(Policy::accept_all()));
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    assert!(e.rib().refusals().is_empty());
}

#[test]
fn loop_checks_are_named() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    e.updates(a, &[update(&["10.3.0.0/24"], &[65001, US], "10.0.0.1")]);
    e.updates(a, &[update(&["10.4.0.0/24"], &[65009], "10.0.0.1")]);
    settle(&mut e, t);
    assert_eq!(ask(&e, "10.3.0.0/24").verdict, format!("AS loop: our AS {US} is in the AS_PATH"));
    assert_eq!(ask(&e, "10.4.0.0/24").verdict, "the AS_PATH does not start with the neighbor's AS");
}

#[test]
fn next_hop_unresolved() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    e.session_up(session("10.0.0.3", US), t);
    e.kernel(vec![
        KernelUpdate::SyncBegin,
        KernelUpdate::Link { ifindex: 2, name: "eth0".into() },
        KernelUpdate::Address { ifindex: 2, address: ip("10.0.0.2"), prefix_len: 24 },
        KernelUpdate::Route(KernelRoute {
            key: RouteKey { table: TABLE_MAIN, prefix: pfx("10.0.0.0/24"), metric: 0 },
            protocol: PROTOCOL_KERNEL,
            kind: RouteType::Unicast,
            next_hops: vec![KernelNextHop { gateway: None, ifindex: 2 }],
        }),
        KernelUpdate::SyncEnd,
    ]);
    e.updates(a, &[update(&["10.5.0.0/24"], &[65001], "192.0.2.1")]);
    e.updates(a, &[update(&["10.6.0.0/24"], &[65001], "10.0.0.1")]);
    settle(&mut e, t);
    let r = ask(&e, "10.5.0.0/24");
    assert!(r.verdict.starts_with(NEXT_HOP_UNRESOLVED), "{}", r.verdict);
    assert!(r.verdict.contains("192.0.2.1"), "{}", r.verdict);
    assert_eq!(r.paths.len(), 1, "the path is held, not usable");
    assert!(r.paths[0].lost.as_deref().unwrap().starts_with(NEXT_HOP_UNRESOLVED));
    assert!(peer_reason(&r, "10.0.0.3").unwrap().starts_with(NEXT_HOP_UNRESOLVED));
    // The other resolves, on the connected subnet, and is sent.
    let r = ask(&e, "10.6.0.0/24");
    assert_eq!(r.paths[0].next_hop.as_deref(), Some("10.0.0.1 is on a connected subnet"));
    assert!(r.peers.iter().any(|p| p.address == ip("10.0.0.3") && p.sent), "{:?}", r.peers);
}

#[test]
fn not_sent_rfc8212_export_policy_term_split_horizon_and_no_export() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    // 10.10.0.1: eBGP without export_policy (the engine is given reject-all).
    let mut s = session("10.10.0.1", 65002);
    s.export = Arc::new(Policy::reject_all());
    e.session_up(s, t);
    let mut s = session("10.10.0.5", 65005);
    s.export = policy("to-isp", "no-lan", "10.7.0.0/24", TermAction::Reject, Actions::default());
    e.session_up(s, t);
    e.session_up(session("10.0.0.3", US), t);
    e.updates(a, &[update(&["10.7.0.0/24"], &[65001], "10.0.0.1")]);
    let mut no_export = update(&["10.8.0.0/24"], &[65001], "10.0.0.1");
    no_export.attrs.communities = vec![Community::NO_EXPORT];
    e.updates(a, &[no_export]);
    settle(&mut e, t);
    let r = ask_with(&e, "10.7.0.0/24", &["10.10.0.1"]);
    assert_eq!(peer_reason(&r, "10.10.0.1").as_deref(), Some(RFC8212_EXPORT));
    assert_eq!(peer_reason(&r, "10.10.0.5").as_deref(), Some("rejected by policy to-isp term no-lan"));
    assert_eq!(peer_reason(&r, "10.0.0.1").as_deref(), Some("it came from this neighbor (split horizon)"));
    assert_eq!(peer_reason(&r, "10.0.0.3"), None);
    assert!(
        r.verdict.starts_with("best path from 10.0.0.1 (only path), sent to 1 of 4 Established neighbors"),
        "{}",
        r.verdict
    );
    let r = ask_with(&e, "10.8.0.0/24", &["10.10.0.1"]);
    assert_eq!(peer_reason(&r, "10.10.0.5").as_deref(), Some("NO_EXPORT community: not sent to eBGP neighbors"));
    // A neighbor that went down.
    e.session_down(a, false, t);
    settle(&mut e, t);
    let r = ask_with(&e, "10.7.0.0/24", &["10.10.0.1"]);
    assert_eq!(r.verdict, NO_SOURCE);
}

#[test]
fn best_path_step_losers_import_changes_and_ecmp() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let lp = Actions { set_local_pref: Some(200), ..Actions::default() };
    let import = policy("from-a", "prefer", "10.9.0.0/24", TermAction::Accept, lp);
    let a = e.session_up(with_import(session("10.0.0.1", 65001), import), t);
    let b = e.session_up(session("10.0.0.3", US), t);
    let c = e.session_up(session("10.0.0.4", 65004), t);
    e.updates(a, &[update(&["10.9.0.0/24"], &[65001, 65100], "10.0.0.1")]);
    e.updates(c, &[update(&["10.9.0.0/24"], &[65004], "10.0.0.4")]);
    let mut tagged = update(&["10.9.0.0/24"], &[], "10.0.0.3");
    tagged.attrs.communities = vec![parse_community("65000:1").unwrap()];
    e.updates(b, &[tagged]);
    settle(&mut e, t);
    let r = ask(&e, "10.9.0.0/24");
    assert_eq!(r.best_reason.as_deref(), Some("higher LOCAL_PREF"));
    assert_eq!(r.paths[0].route.from, "10.0.0.1");
    assert!(r.paths[0].source.starts_with("peer 10.0.0.1 (AS 65001, eBGP), AS path 65001 65100"));
    let import = r.paths[0].import.as_ref().unwrap();
    assert_eq!(import.describe(), "accepted by policy from-a term prefer");
    assert_eq!(import.changes, vec!["LOCAL_PREF none -> 200"]);
    assert_eq!(r.paths[0].route.local_pref, Some(200), "after import policy");
    for p in &r.paths[1..] {
        assert_eq!(p.lost.as_deref(), Some("lost to the best path: higher LOCAL_PREF"), "{:?}", p.route.from);
    }
    // Without the preference: C (shorter AS path than A) and B (iBGP, empty path).
    e.set_policies(a, Arc::new(Policy::accept_all()), Arc::new(Policy::accept_all()));
    settle(&mut e, t);
    let r = ask(&e, "10.9.0.1");
    assert_eq!(r.paths[0].route.from, "10.0.0.3");
    assert_eq!(r.best_reason.as_deref(), Some("shorter AS_PATH"));
    let lost: Vec<_> = r.paths[1..].iter().map(|p| p.lost.clone().unwrap()).collect();
    assert_eq!(lost, vec!["lost to the best path: shorter AS_PATH"; 2]);
    // ECMP siblings: two eBGP paths equal through step 7.
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    let c = e.session_up(session("10.0.0.4", 65001), t);
    e.updates(a, &[update(&["10.9.0.0/24"], &[65001], "10.0.0.1")]);
    e.updates(c, &[update(&["10.9.0.0/24"], &[65001], "10.0.0.4")]);
    settle(&mut e, t);
    let r = ask(&e, "10.9.0.0/24");
    assert_eq!(r.paths[1].lost.as_deref(), Some("ECMP sibling of the best path"));
    assert!(r.paths[1].route.multipath);
}

#[test]
fn fib_not_installed_says_why() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    e.updates(a, &[update(&["10.11.0.0/24"], &[65001], "10.0.0.1")]);
    settle(&mut e, t);
    let r = ask(&e, "10.11.0.0/24");
    assert!(!r.fib.installed);
    assert_eq!(r.fib.reason.as_deref(), Some("[kernel] install = false"));
    assert!(r.verdict.ends_with("not installed: [kernel] install = false"), "{}", r.verdict);
    let install_policy = policy("fib", "no-11", "10.11.0.0/24", TermAction::Reject, Actions::default());
    e.set_kernel(KernelSettings { install: true, install_policy: Some(install_policy), ..KernelSettings::default() });
    settle(&mut e, t);
    let r = ask(&e, "10.11.0.0/24");
    assert_eq!(r.fib.reason.as_deref(), Some("install_policy: rejected by policy fib term no-11"));
}

#[test]
fn json_round_trip() {
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    e.updates(a, &[update(&["10.1.0.0/24"], &[65001], "10.0.0.1")]);
    settle(&mut e, t);
    let r = ask(&e, "10.1.0.0/24");
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<WhyReport>(&json).unwrap(), r);
}

#[test]
fn local_sources_kernel_route_and_announce() {
    use crate::config::{Announce, KernelImport};
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    e.session_up(session("10.0.0.3", US), t);
    e.announce(&[Announce::new(pfx("10.20.0.0/24"))]);
    let import = KernelImport {
        within: vec![pfx("10.42.0.0/16")],
        protocol: vec![12],
        kind: vec![RouteType::Blackhole],
        table: TABLE_MAIN,
        communities: Vec::new(),
        large_communities: Vec::new(),
        local_pref: None,
        med: None,
    };
    e.set_kernel(KernelSettings { install: true, import: vec![import], ..KernelSettings::default() });
    e.kernel(vec![
        KernelUpdate::SyncBegin,
        KernelUpdate::Route(KernelRoute {
            key: RouteKey { table: TABLE_MAIN, prefix: pfx("10.42.7.0/26"), metric: 0 },
            protocol: 12,
            kind: RouteType::Blackhole,
            next_hops: Vec::new(),
        }),
        KernelUpdate::SyncEnd,
    ]);
    settle(&mut e, t);
    let r = ask(&e, "10.42.7.9");
    assert_eq!(r.paths[0].source, "kernel route: table 254, protocol 12, type blackhole, device none");
    assert!(r.paths[0].import.is_none(), "our own routes pass no import policy");
    assert_eq!(r.fib.reason.as_deref(), Some("a route of our own (kernel) is announced, not installed"));
    let r = ask(&e, "10.20.0.0/24");
    assert_eq!(r.paths[0].source, "[[announce]]");
    assert!(r.verdict.starts_with("best path from [[announce]] (only path), sent to 1 of 1 Established neighbor,"));
    assert!(r.peers.iter().any(|p| p.address == ip("10.0.0.3") && p.sent));
}

#[test]
fn kubernetes_owners_in_words() {
    let owner = |kind: &str, name: &str, ready: &[&str]| KubernetesOwnerRow {
        kind: kind.into(),
        name: name.into(),
        ready_nodes: ready.iter().map(|s| s.to_string()).collect(),
    };
    assert_eq!(
        describe_owner(&owner("service", "default/web", &["n1", "n2"])),
        "Service default/web (externalTrafficPolicy: Local, ready endpoints on n1, n2)"
    );
    assert_eq!(
        describe_owner(&owner("service", "media/jellyfin", &[])),
        "Service media/jellyfin (externalTrafficPolicy: Cluster)"
    );
    assert_eq!(describe_owner(&owner("node", "n3", &[])), "Node n3 (its pod CIDR)");
}

#[test]
fn drains_show_in_import_and_per_neighbor() {
    use crate::rib::drain::Drain;
    let t = Instant::now();
    let mut e = Engine::new(cfg(8), None);
    let a = e.session_up(session("10.0.0.1", 65001), t);
    e.session_up(session("10.0.0.3", US), t);
    e.updates(a, &[update(&["10.30.0.0/24"], &[65001], "10.0.0.1")]);
    settle(&mut e, t);
    let r = ask(&e, "10.30.0.0/24");
    assert_eq!(r.paths[0].import.as_ref().unwrap().steps.len(), 0, "accept-all, nothing drained");
    assert!(r.peers.iter().all(|p| !p.drained));
    e.set_drain(Drain { all: true, ..Drain::default() });
    settle(&mut e, t);
    let r = ask(&e, "10.30.0.0/24");
    let import = r.paths[0].import.as_ref().unwrap();
    assert_eq!(import.steps[0].term, "graceful shutdown (RFC 8326): drained neighbor");
    assert_eq!(import.changes, vec!["LOCAL_PREF none -> 0", "community added 65535:0"], "{import:?}");
    assert_eq!(r.paths[0].route.local_pref, Some(0));
    let b = r.peers.iter().find(|p| p.address == ip("10.0.0.3")).unwrap();
    assert!(b.sent && b.drained, "{b:?}");
}
