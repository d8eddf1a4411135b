use super::*;
use crate::wire::{Origin, Segment};
use std::net::Ipv4Addr;

const LOCAL_AS: u32 = 64513;

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn route(prefix: &str) -> RouteInfo {
    RouteInfo::new(p(prefix), RouteSource::Peer, Some(ip("10.10.0.21")))
}

fn attrs() -> PathAttrs {
    PathAttrs {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(vec![64512, 65001])),
        next_hop: Some(Ipv4Addr::new(10, 10, 0, 21)),
        communities: vec![Community(64513 << 16 | 100)],
        large_communities: vec![LargeCommunity { global: 64513, local1: 1, local2: 2 }],
        ..PathAttrs::default()
    }
}

fn c(s: &str) -> Community {
    parse_community(s).unwrap()
}

fn lc(s: &str) -> LargeCommunity {
    parse_large_community(s).unwrap()
}

fn list(entries: &[(&str, Option<u8>, Option<u8>)]) -> Arc<PrefixList> {
    let entries = entries.iter().map(|&(prefix, ge, le)| PrefixEntry { prefix: p(prefix), ge, le }).collect();
    Arc::new(PrefixList { name: "l".into(), entries })
}

/// One term with `matches` that accepts, default reject: the verdict says whether
/// the route matched.
fn matches(m: Match, route: &RouteInfo, attrs: &PathAttrs) -> bool {
    let mut policy = Policy::new("p", Verdict::Reject);
    policy.terms.push(Term { matches: m, ..Term::new("t", TermAction::Accept) });
    policy.apply(route, &mut attrs.clone(), LOCAL_AS) == Verdict::Accept
}

/// `actions` applied by an accepting term to `attrs()` of `route`.
fn acted(actions: Actions, route: &RouteInfo) -> PathAttrs {
    let mut policy = Policy::new("p", Verdict::Reject);
    policy.terms.push(Term { actions, ..Term::new("t", TermAction::Accept) });
    let mut a = attrs();
    assert_eq!(policy.apply(route, &mut a, LOCAL_AS), Verdict::Accept);
    a
}

#[test]
fn prefix_entry_semantics_follow_frr() {
    // Bare entry: exact match only.
    let exact = PrefixEntry::exact(p("10.10.100.0/24"));
    assert_eq!(exact.lengths(), (24, 24));
    assert!(exact.matches(p("10.10.100.0/24")));
    assert!(!exact.matches(p("10.10.100.0/25")));
    assert!(!exact.matches(p("10.10.0.0/16")));
    // ge alone: up to the family's maximum.
    let ge = PrefixEntry { prefix: p("10.10.100.0/24"), ge: Some(32), le: None };
    assert_eq!(ge.lengths(), (32, 32));
    assert!(ge.matches(p("10.10.100.10/32")));
    assert!(!ge.matches(p("10.10.100.0/31")));
    assert!(!ge.matches(p("10.10.101.10/32")));
    let ge6 = PrefixEntry { prefix: p("fd10::/64"), ge: Some(120), le: None };
    assert_eq!(ge6.lengths(), (120, 128));
    assert!(ge6.matches(p("fd10::1/128")));
    // le alone: from the entry's own length.
    let le = PrefixEntry { prefix: p("10.42.0.0/16"), ge: None, le: Some(24) };
    assert_eq!(le.lengths(), (16, 24));
    assert!(le.matches(p("10.42.0.0/16")));
    assert!(le.matches(p("10.42.3.0/24")));
    assert!(!le.matches(p("10.42.3.0/26")));
    // ge and le.
    let pods = PrefixEntry { prefix: p("10.42.0.0/16"), ge: Some(26), le: Some(26) };
    assert!(pods.matches(p("10.42.7.64/26")));
    assert!(!pods.matches(p("10.42.7.0/24")));
    assert!(!pods.matches(p("10.43.7.64/26")));
    // Families never match each other; 0/0 le 32 matches every IPv4 prefix.
    let any4 = PrefixEntry { prefix: p("0.0.0.0/0"), ge: None, le: Some(32) };
    assert!(any4.matches(p("192.0.2.1/32")) && any4.matches(p("0.0.0.0/0")));
    assert!(!any4.matches(p("::/0")));
    assert_eq!(pods.to_string(), "10.42.0.0/16 ge 26 le 26");
    assert_eq!(exact.to_string(), "10.10.100.0/24");
}

#[test]
fn prefix_list_is_any_of_its_entries() {
    let l = list(&[("10.42.0.0/16", Some(26), Some(26)), ("10.10.100.0/24", Some(32), None), ("::/0", None, None)]);
    assert!(l.matches(p("10.42.1.0/26")));
    assert!(l.matches(p("10.10.100.7/32")));
    assert!(l.matches(p("::/0")));
    assert!(!l.matches(p("0.0.0.0/0")));
    assert!(!l.matches(p("2001:db8::/32")));
    let m = Match { prefix_list: Some(l), ..Match::default() };
    assert!(matches(m.clone(), &route("10.42.1.0/26"), &attrs()));
    assert!(!matches(m, &route("10.42.1.0/24"), &attrs()));
}

#[test]
fn contains_checks_bits_and_family() {
    assert!(contains(p("10.0.0.0/8"), p("10.255.0.0/16")));
    assert!(contains(p("10.0.0.0/8"), p("10.0.0.0/8")));
    assert!(!contains(p("10.0.0.0/8"), p("11.0.0.0/16")));
    assert!(!contains(p("10.0.0.0/16"), p("10.0.0.0/8")));
    assert!(contains(p("::/0"), p("2001:db8::/32")));
    assert!(!contains(p("0.0.0.0/0"), p("2001:db8::/32")));
}

#[test]
fn match_neighbor_address_or_prefix() {
    let by_address = Match { neighbor: vec!["10.10.0.21/32".parse().unwrap()], ..Match::default() };
    let by_prefix = Match { neighbor: vec!["10.10.0.0/24".parse().unwrap()], ..Match::default() };
    let r = route("10.42.0.0/26");
    assert!(matches(by_address.clone(), &r, &attrs()));
    assert!(matches(by_prefix.clone(), &r, &attrs()));
    let other = RouteInfo { neighbor: Some(ip("10.10.0.22")), ..r };
    assert!(!matches(by_address.clone(), &other, &attrs()));
    assert!(matches(by_prefix.clone(), &other, &attrs()));
    // IPv4-mapped, as a dual-stack socket reports it.
    let mapped = RouteInfo { neighbor: Some(ip("::ffff:10.10.0.21")), ..r };
    assert!(matches(by_address.clone(), &mapped, &attrs()));
    // No neighbor (a static route): no match.
    let local = RouteInfo { neighbor: None, ..r };
    assert!(!matches(by_prefix, &local, &attrs()));
    assert!(matches(Match::default(), &local, &attrs()));
}

#[test]
fn match_source() {
    let m = Match { source: vec![RouteSource::Static, RouteSource::Kubernetes], ..Match::default() };
    let r = route("10.10.100.1/32");
    assert!(!matches(m.clone(), &r, &attrs()));
    assert!(matches(m.clone(), &RouteInfo { source: RouteSource::Static, ..r }, &attrs()));
    assert!(matches(m.clone(), &RouteInfo { source: RouteSource::Kubernetes, ..r }, &attrs()));
    assert!(!matches(m, &RouteInfo { source: RouteSource::Kernel, ..r }, &attrs()));
    for s in RouteSource::ALL {
        assert_eq!(s.to_string().parse::<RouteSource>(), Ok(s));
    }
    assert!("bgp".parse::<RouteSource>().is_err());
}

#[test]
fn match_community_any_of() {
    let r = route("10.10.100.1/32");
    let m = Match { community: vec![c("64513:1"), c("64513:100")], ..Match::default() };
    assert!(matches(m.clone(), &r, &attrs()));
    let mut a = attrs();
    a.communities = vec![c("64513:2")];
    assert!(!matches(m.clone(), &r, &a));
    a.communities.clear();
    assert!(!matches(m, &r, &a));
    // Well-known names.
    let m = Match { community: vec![c("no-export")], ..Match::default() };
    a.communities = vec![Community::NO_EXPORT];
    assert!(matches(m.clone(), &r, &a));
    assert!(!matches(m, &r, &attrs()));
}

#[test]
fn match_large_community_any_of() {
    let r = route("10.10.100.1/32");
    let m = Match { large_community: vec![lc("64513:1:2"), lc("1:1:1")], ..Match::default() };
    assert!(matches(m.clone(), &r, &attrs()));
    let mut a = attrs();
    a.large_communities = vec![lc("64513:1:3")];
    assert!(!matches(m, &r, &a));
}

#[test]
fn match_as_path_contains() {
    let r = route("10.10.100.1/32");
    let m = |asns: Vec<u32>| Match { as_path_contains: asns, ..Match::default() };
    assert!(matches(m(vec![64512]), &r, &attrs()));
    assert!(matches(m(vec![1, 65001]), &r, &attrs()));
    assert!(!matches(m(vec![64513]), &r, &attrs()));
    // Sets count too; no AS_PATH contains nothing.
    let mut a = attrs();
    a.as_path.as_mut().unwrap().push(Segment { kind: SegmentType::Set, asns: vec![7, 8] });
    assert!(matches(m(vec![8]), &r, &a));
    a.as_path = None;
    assert!(!matches(m(vec![64512]), &r, &a));
}

#[test]
fn match_origin_as() {
    let r = route("10.10.100.1/32");
    let m = |asns: Vec<u32>| Match { origin_as: asns, ..Match::default() };
    assert!(matches(m(vec![65001]), &r, &attrs()));
    assert!(!matches(m(vec![64512]), &r, &attrs()), "the neighbor AS is not the origin");
    // AS_SET origin: any member.
    let mut a = attrs();
    a.as_path.as_mut().unwrap().push(Segment { kind: SegmentType::Set, asns: vec![7, 8] });
    assert!(matches(m(vec![8]), &r, &a));
    assert!(matches(m(vec![7]), &r, &a));
    assert!(!matches(m(vec![65001]), &r, &a));
    // Empty path, or only confederation segments: originated here, no origin AS.
    a.as_path = Some(AsPath::default());
    assert!(!matches(m(vec![64513]), &r, &a));
    let mut confed = AsPath::default();
    confed.push(Segment { kind: SegmentType::ConfedSequence, asns: vec![65100] });
    assert_eq!(origin_asns(&confed), &[] as &[u32]);
    let mut mixed = confed.clone();
    mixed.push(Segment { kind: SegmentType::Sequence, asns: vec![1, 2] });
    assert_eq!(origin_asns(&mixed), &[2]);
}

#[test]
fn match_as_path_length() {
    let r = route("10.10.100.1/32");
    let m = |min, max| Match { as_path_length_min: min, as_path_length_max: max, ..Match::default() };
    // attrs() has a path of length 2.
    assert!(matches(m(Some(2), Some(2)), &r, &attrs()));
    assert!(matches(m(Some(1), None), &r, &attrs()));
    assert!(!matches(m(Some(3), None), &r, &attrs()));
    assert!(!matches(m(None, Some(1)), &r, &attrs()));
    // Missing or empty path: 0, so max 0 matches our own routes.
    let mut a = attrs();
    a.as_path = None;
    assert!(matches(m(None, Some(0)), &r, &a));
    // A set counts one.
    let mut a = attrs();
    a.as_path.as_mut().unwrap().push(Segment { kind: SegmentType::Set, asns: vec![7, 8, 9] });
    assert!(matches(m(Some(3), Some(3)), &r, &a));
}

#[test]
fn conditions_of_a_term_all_hold() {
    let r = route("10.42.1.0/26");
    let both = Match {
        prefix_list: Some(list(&[("10.42.0.0/16", Some(26), Some(26))])),
        community: vec![c("64513:100")],
        ..Match::default()
    };
    assert!(matches(both.clone(), &r, &attrs()));
    let mut a = attrs();
    a.communities.clear();
    assert!(!matches(both.clone(), &r, &a));
    assert!(!matches(both, &route("10.10.100.1/32"), &attrs()));
}

#[test]
fn set_local_pref_and_med() {
    let a = acted(Actions { set_local_pref: Some(200), set_med: Some(7), ..Actions::default() }, &route("10.0.0.0/8"));
    assert_eq!((a.local_pref, a.med), (Some(200), Some(7)));
    assert_eq!(a.next_hop, attrs().next_hop, "nothing else changes");
    assert_eq!(a.communities, attrs().communities);
}

#[test]
fn set_next_hop_address_and_self() {
    let r4 = route("10.10.100.1/32");
    let set = |nh: SetNextHop, r: &RouteInfo| acted(Actions { set_next_hop: Some(nh), ..Actions::default() }, r);
    let a = set(SetNextHop::Address(ip("10.10.0.99")), &r4);
    assert_eq!(a.next_hop, Some(Ipv4Addr::new(10, 10, 0, 99)));
    assert!(a.mp_reach.is_none());
    // "self": the session's local address, or unchanged without one.
    let a = set(SetNextHop::SelfAddress, &RouteInfo { local_address: Some(ip("10.10.0.2")), ..r4 });
    assert_eq!(a.next_hop, Some(Ipv4Addr::new(10, 10, 0, 2)));
    let a = set(SetNextHop::SelfAddress, &r4);
    assert_eq!(a.next_hop, attrs().next_hop);
    // IPv6 route: MP_REACH_NLRI's next hop, created for the family.
    let r6 = route("fd10:10:100::1/128");
    let a = set(SetNextHop::Address(ip("fd10::2")), &r6);
    let mp = a.mp_reach.expect("created");
    assert_eq!(mp.family, Family::IPV6_UNICAST);
    assert_eq!(mp.next_hop, NextHop::V6 { global: "fd10::2".parse().unwrap(), link_local: None });
    assert!(mp.nlri.is_empty());
    // Existing MP_REACH_NLRI: replaced in place, link-local dropped.
    let mut policy = Policy::new("p", Verdict::Accept);
    policy.terms.push(Term {
        actions: Actions { set_next_hop: Some(SetNextHop::Address(ip("fd10::3"))), ..Actions::default() },
        ..Term::new("t", TermAction::Next)
    });
    let mut a = PathAttrs {
        mp_reach: Some(Box::new(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::V6 { global: "fd10::2".parse().unwrap(), link_local: Some("fe80::1".parse().unwrap()) },
            nlri: Vec::new(),
        })),
        ..PathAttrs::default()
    };
    assert_eq!(policy.apply(&r6, &mut a, LOCAL_AS), Verdict::Accept);
    assert_eq!(a.mp_reach.unwrap().next_hop, NextHop::V6 { global: "fd10::3".parse().unwrap(), link_local: None });
    // IPv6 next hop for an IPv4 route (RFC 8950), and the reverse (IPv4-mapped).
    let a = set(SetNextHop::Address(ip("fd10::2")), &r4);
    assert_eq!(a.next_hop, None);
    assert_eq!(a.mp_reach.as_ref().map(|m| m.family), Some(Family::IPV4_UNICAST));
    let a = set(SetNextHop::Address(ip("10.10.0.5")), &r6);
    let mapped = Ipv4Addr::new(10, 10, 0, 5).to_ipv6_mapped();
    assert_eq!(a.mp_reach.unwrap().next_hop, NextHop::V6 { global: mapped, link_local: None });
    // An IPv4 route carried in MP_REACH_NLRI keeps it.
    let mut a = PathAttrs {
        mp_reach: Some(Box::new(MpReach {
            family: Family::IPV4_MULTICAST,
            next_hop: NextHop::V4(Ipv4Addr::new(1, 1, 1, 1)),
            nlri: Vec::new(),
        })),
        ..PathAttrs::default()
    };
    set_next_hop(&mut a, p("10.0.0.0/8"), ip("10.10.0.9"));
    assert_eq!(a.next_hop, None);
    assert_eq!(a.mp_reach.unwrap().next_hop, NextHop::V4(Ipv4Addr::new(10, 10, 0, 9)));
    assert_eq!(SetNextHop::SelfAddress.to_string(), "self");
}

#[test]
fn add_and_remove_communities() {
    let r = route("10.0.0.0/8");
    let a =
        acted(Actions { add_community: vec![c("64513:100"), c("no-export"), c("64513:7")], ..Actions::default() }, &r);
    assert_eq!(a.communities, vec![c("64513:100"), Community::NO_EXPORT, c("64513:7")], "no duplicates, appended");
    let a = acted(Actions { remove_community: vec![c("64513:100"), c("1:1")], ..Actions::default() }, &r);
    assert!(a.communities.is_empty());
    // Removed first, then added: the same term can replace a tag.
    let a = acted(
        Actions { remove_community: vec![c("64513:100")], add_community: vec![c("64513:200")], ..Actions::default() },
        &r,
    );
    assert_eq!(a.communities, vec![c("64513:200")]);
}

#[test]
fn add_and_remove_large_communities() {
    let r = route("10.0.0.0/8");
    let a = acted(Actions { add_large_community: vec![lc("64513:1:2"), lc("64513:9:9")], ..Actions::default() }, &r);
    assert_eq!(a.large_communities, vec![lc("64513:1:2"), lc("64513:9:9")]);
    let a = acted(Actions { remove_large_community: vec![lc("64513:1:2")], ..Actions::default() }, &r);
    assert!(a.large_communities.is_empty());
    assert_eq!(a.communities, attrs().communities, "standard communities untouched");
}

#[test]
fn prepend_local_or_explicit_as() {
    let r = route("10.0.0.0/8");
    let a = acted(Actions { prepend: Some(Prepend { count: 2, asn: None }), ..Actions::default() }, &r);
    assert_eq!(a.as_path, Some(AsPath::from_sequence(vec![LOCAL_AS, LOCAL_AS, 64512, 65001])));
    assert_eq!(a.as_path.as_ref().unwrap().segments.len(), 1, "canonical: one sequence");
    let a = acted(Actions { prepend: Some(Prepend { count: 1, asn: Some(65535) }), ..Actions::default() }, &r);
    assert_eq!(a.as_path.unwrap().to_string(), "65535 64512 65001");
    // No AS_PATH, or one starting with a set.
    let mut attrs = PathAttrs::default();
    prepend(&mut attrs, 7, 3);
    assert_eq!(attrs.as_path, Some(AsPath::from_sequence(vec![7, 7, 7])));
    let mut set = AsPath::default();
    set.push(Segment { kind: SegmentType::Set, asns: vec![1, 2] });
    let mut attrs = PathAttrs { as_path: Some(set), ..PathAttrs::default() };
    prepend(&mut attrs, 7, 1);
    assert_eq!(attrs.as_path.unwrap().to_string(), "7 {1,2}");
    let mut attrs = PathAttrs::default();
    prepend(&mut attrs, 7, 0);
    assert_eq!(attrs.as_path, None);
}

#[test]
fn terms_run_in_order_and_next_falls_through() {
    let pods = list(&[("10.42.0.0/16", Some(26), Some(26))]);
    let mut policy = Policy::new("from-nodes", Verdict::Reject);
    // Tag everything, then go on.
    policy.terms.push(Term {
        actions: Actions { add_community: vec![c("64513:1")], ..Actions::default() },
        ..Term::new("tag", TermAction::Next)
    });
    // A later term sees the tag.
    policy.terms.push(Term {
        matches: Match { prefix_list: Some(pods), community: vec![c("64513:1")], ..Match::default() },
        actions: Actions { set_local_pref: Some(150), ..Actions::default() },
        ..Term::new("pods", TermAction::Accept)
    });
    policy.terms.push(Term {
        matches: Match { origin_as: vec![666], ..Match::default() },
        ..Term::new("bad", TermAction::Reject)
    });
    let mut a = attrs();
    assert_eq!(policy.apply_traced(&route("10.42.0.64/26"), &mut a, LOCAL_AS), (Verdict::Accept, Some(1)));
    assert_eq!(a.local_pref, Some(150));
    assert!(a.communities.contains(&c("64513:1")));
    // No term decides: the default, after the fall-through term's edits.
    let mut a = attrs();
    assert_eq!(policy.apply_traced(&route("192.168.0.0/24"), &mut a, LOCAL_AS), (Verdict::Reject, None));
    policy.default = Verdict::Accept;
    assert_eq!(policy.apply(&route("192.168.0.0/24"), &mut a, LOCAL_AS), Verdict::Accept);
    // A rejecting term wins over the default.
    let mut a = attrs();
    a.as_path = Some(AsPath::from_sequence(vec![64512, 666]));
    assert_eq!(policy.apply_traced(&route("192.168.0.0/24"), &mut a, LOCAL_AS), (Verdict::Reject, Some(2)));
    // A term that does not match runs no action.
    let mut a = attrs();
    policy.apply(&route("192.168.0.0/24"), &mut a, LOCAL_AS);
    assert_eq!(a.local_pref, None);
}

#[test]
fn built_ins_and_set() {
    let mut set = PolicySet::new();
    let r = route("10.0.0.0/8");
    let mut a = attrs();
    assert_eq!(set.get(ACCEPT_ALL).unwrap().apply(&r, &mut a, LOCAL_AS), Verdict::Accept);
    assert_eq!(a, attrs(), "accept-all changes nothing");
    assert_eq!(set.get(REJECT_ALL).unwrap().apply(&r, &mut a, LOCAL_AS), Verdict::Reject);
    assert!(set.insert(Policy::new(ACCEPT_ALL, Verdict::Reject)).is_err(), "built-ins cannot be replaced");
    assert!(set.insert(Policy::new("mine", Verdict::Accept)).is_ok());
    assert!(set.insert(Policy::new("mine", Verdict::Reject)).is_err());
    assert_eq!(set.names().collect::<Vec<_>>(), ["accept-all", "mine", "reject-all"]);
    assert_eq!(set.resolve(PolicyRef::Named("mine")).name, "mine");
    assert_eq!(set.resolve(PolicyRef::Rfc8212Deny).name, REJECT_ALL);
    assert_eq!(set.resolve(PolicyRef::Named("missing")).name, REJECT_ALL, "fails closed");
    assert!(set.get_shared("mine").is_some() && set.get("missing").is_none());
    assert_eq!(PolicySet::default(), PolicySet::new());
    let l = list(&[("10.0.0.0/8", None, None)]);
    assert!(set.insert_prefix_list(l.clone()).is_ok());
    assert!(set.insert_prefix_list(l).is_err());
    assert_eq!(set.prefix_list("l").map(|l| l.entries.len()), Some(1));
    assert_eq!(set.prefix_lists().count(), 1);
    assert!(PolicyRef::Rfc8212Deny.is_rfc8212_deny());
    assert!(PolicyRef::Rfc8212Deny.to_string().contains("RFC 8212"));
    assert_eq!(PolicyRef::Named("x").to_string(), "x");
}

#[test]
fn community_syntax() {
    assert_eq!(parse_community("64513:100"), Ok(Community(0xFC01_0064)));
    assert_eq!(parse_community("0:0"), Ok(Community(0)));
    assert_eq!(parse_community("65535:65535"), Ok(Community(u32::MAX)));
    assert_eq!(parse_community("no-export"), Ok(Community::NO_EXPORT));
    assert_eq!(parse_community("no-advertise"), Ok(Community::NO_ADVERTISE));
    assert_eq!(parse_community("no-export-subconfed"), Ok(Community::NO_EXPORT_SUBCONFED));
    assert_eq!(parse_community("graceful-shutdown"), Ok(Community::GRACEFUL_SHUTDOWN));
    for bad in ["65536:1", "1:65536", "1", "1:2:3", ":1", "a:b", "+1:2", " 1:2", "NO-EXPORT", ""] {
        let e = parse_community(bad).unwrap_err();
        assert!(e.contains("is not a community"), "{bad}: {e}");
    }
    assert_eq!(parse_large_community("64513:1:2"), Ok(LargeCommunity { global: 64513, local1: 1, local2: 2 }));
    assert_eq!(
        parse_large_community("4294967295:0:4294967295"),
        Ok(LargeCommunity { global: u32::MAX, local1: 0, local2: u32::MAX })
    );
    for bad in ["1:2", "1:2:3:4", "4294967296:1:1", "1::2", "a:1:2", "1:2:-3"] {
        assert!(parse_large_community(bad).is_err(), "{bad}");
    }
}

#[test]
fn names_round_trip() {
    for v in [Verdict::Accept, Verdict::Reject] {
        assert_eq!(v.to_string().parse::<Verdict>(), Ok(v));
    }
    for a in [TermAction::Accept, TermAction::Reject, TermAction::Next] {
        assert_eq!(a.to_string().parse::<TermAction>(), Ok(a));
    }
    assert!("deny".parse::<Verdict>().is_err());
    assert!("continue".parse::<TermAction>().is_err());
    assert!(Match::default().is_empty() && Actions::default().is_empty());
    assert!(!Match { source: vec![RouteSource::Peer], ..Match::default() }.is_empty());
}
