//! The Kubernetes source in the engine, on a virtual clock: updates in, `process`,
//! the UPDATEs each peer is sent.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::config::{Announce, KubernetesMode};
use crate::kubernetes::{Endpoint, EndpointSlice, Kind, Node, ObjectKey, Service, TrafficPolicy};
use crate::policy::{Match, Policy, RouteSource, Term, TermAction, Verdict};
use crate::rib::engine::{Output, PeerId, SessionUp};
use crate::rib::show::{DumpStep, PrefixOrAddress, RouteQuery};
use crate::rib::tests::{self, cfg, pfx, US};
use crate::types::{Family, FamilySet};
use crate::wire::{CodecCtx, Message, NextHop};

const V4: Family = Family::IPV4_UNICAST;
const V6: Family = Family::IPV6_UNICAST;

fn engine(multipath: usize) -> Engine {
    Engine::new(cfg(multipath), None)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A session with `addr` (the home router, or a reflector client), on our subnet
/// 10.10.0.0/24 and 2001:db8:10::/64; `add_path`: it negotiated ADD-PATH receive (we
/// send) for both families.
fn session(addr: &str, asn: u32, add_path: bool) -> SessionUp {
    let families = if add_path { [V4, V6].into_iter().collect() } else { FamilySet::EMPTY };
    SessionUp {
        ctx: CodecCtx { add_path: families, ..CodecCtx::modern() },
        interface: vec![(ip("10.10.0.2"), 24), (ip("2001:db8:10::2"), 64)],
        ..tests::session(addr, asn)
    }
}

/// What a round sent each peer, decoded: (announced: prefix, path id, next hop),
/// (withdrawn: prefix, path id).
#[derive(Default, Debug)]
struct Sent {
    announced: Vec<(String, u32, IpAddr)>,
    withdrawn: Vec<(String, u32)>,
}

fn round(e: &mut Engine, now: Instant, ctxs: &HashMap<PeerId, CodecCtx>) -> HashMap<PeerId, Sent> {
    e.process(now);
    let mut out: HashMap<PeerId, Sent> = HashMap::new();
    while let Some(o) = e.poll_output() {
        let Output::Send { peer, bytes } = o else { continue };
        let ctx = &ctxs[&peer];
        for m in crate::rib::tests::messages(&bytes, ctx) {
            let Message::Update(u) = m else { panic!("an UPDATE") };
            let sent = out.entry(peer).or_default();
            if let Some(nh) = u.attrs.next_hop {
                for n in &u.nlri {
                    sent.announced.push((n.prefix.to_string(), n.path_id, IpAddr::V4(nh)));
                }
            }
            if let Some(r) = &u.attrs.mp_reach {
                let nh = match r.next_hop {
                    NextHop::V4(a) => IpAddr::V4(a),
                    NextHop::V6 { global, .. } => IpAddr::V6(global),
                };
                for n in &r.nlri {
                    sent.announced.push((n.prefix.to_string(), n.path_id, nh));
                }
            }
            let mp = u.attrs.mp_unreach.iter().flat_map(|r| &r.withdrawn);
            for n in u.withdrawn.iter().chain(mp) {
                sent.withdrawn.push((n.prefix.to_string(), n.path_id));
            }
        }
    }
    for s in out.values_mut() {
        s.announced.sort();
        s.withdrawn.sort();
    }
    out
}

fn node(name: &str, ready: bool, ips: &[&str]) -> Node {
    Node {
        key: ObjectKey::cluster(name),
        ready,
        unschedulable: false,
        exclude_from_load_balancers: false,
        internal_ips: ips.iter().map(|s| ip(s)).collect(),
        pod_cidrs: Vec::new(),
    }
}

fn service(name: &str, policy: TrafficPolicy, ingress: &[&str]) -> Service {
    Service {
        key: ObjectKey::namespaced("web", name),
        ingress: ingress.iter().map(|s| ip(s)).collect(),
        traffic_policy: policy,
        deleting: false,
    }
}

fn slice(service: &str, nodes: &[&str]) -> EndpointSlice {
    EndpointSlice {
        key: ObjectKey::namespaced("web", format!("{service}-abc")),
        service: service.into(),
        endpoints: nodes.iter().map(|n| Endpoint { node_name: Some(n.to_string()), ..Endpoint::default() }).collect(),
    }
}

fn settings(mode: KubernetesMode, node_name: &str) -> KubernetesSettings {
    KubernetesSettings { mode, node_name: node_name.into(), load_balancers: true, pod_cidrs: true }
}

fn ann(list: &[(&str, u32, &str)]) -> Vec<(String, u32, IpAddr)> {
    let mut v: Vec<_> = list.iter().map(|&(p, id, nh)| (p.to_string(), id, ip(nh))).collect();
    v.sort();
    v
}

/// Three nodes (10.10.0.11-13, and IPv6 on n1 and n3 only) and a Local Service
/// `web/shop` at 192.0.2.10 and 2001:db8:cafe::10 with endpoints on n2 and n3.
fn cluster_objects() -> Vec<KubeUpdate> {
    vec![
        KubeUpdate::Node(node("n1", true, &["10.10.0.11", "2001:db8:10::11"])),
        KubeUpdate::Node(node("n2", true, &["10.10.0.12"])),
        KubeUpdate::Node(node("n3", true, &["10.10.0.13", "2001:db8:10::13"])),
        KubeUpdate::Service(service("shop", TrafficPolicy::Local, &["192.0.2.10", "2001:db8:cafe::10"])),
        KubeUpdate::EndpointSlice(slice("shop", &["n3", "n2"])),
    ]
}

#[test]
fn node_mode_announces_next_hop_self_and_withdraws_when_the_node_is_not_ready() {
    let t = Instant::now();
    let mut e = engine(8);
    let router = e.session_up(session("10.10.0.1", 65000, false), t);
    let ctxs = HashMap::from([(router, CodecCtx::modern())]);
    round(&mut e, t, &ctxs);
    e.set_kubernetes(t, Some(settings(KubernetesMode::Node, "n1")));
    let mut n1 = node("n1", true, &["10.10.0.11"]);
    n1.pod_cidrs = vec![pfx("10.244.1.0/24")];
    e.kubernetes(
        t,
        [
            KubeUpdate::Node(n1.clone()),
            KubeUpdate::Node(node("n2", true, &["10.10.0.12"])),
            KubeUpdate::Service(service("shop", TrafficPolicy::Cluster, &["192.0.2.10", "2001:db8:cafe::10"])),
            KubeUpdate::Service(service("blog", TrafficPolicy::Local, &["192.0.2.20"])),
            KubeUpdate::EndpointSlice(slice("blog", &["n2"])),
        ],
    );
    let r = round(&mut e, t, &ctxs);
    // Next hop self: our address on the session, and our IPv6 address on its interface.
    assert_eq!(
        r[&router].announced,
        ann(&[
            ("10.244.1.0/24", 0, "10.10.0.2"),
            ("192.0.2.10/32", 0, "10.10.0.2"),
            ("2001:db8:cafe::10/128", 0, "2001:db8:10::2")
        ]),
        "the Local Service served by n2 only is not ours to announce"
    );
    e.kubernetes(t, [KubeUpdate::Node(Node { ready: false, ..n1.clone() })]);
    let r = round(&mut e, t, &ctxs);
    assert!(r[&router].announced.is_empty());
    assert_eq!(r[&router].withdrawn, vec![("192.0.2.10/32".into(), 0), ("2001:db8:cafe::10/128".into(), 0)]);
    e.kubernetes(t, [KubeUpdate::Node(n1), KubeUpdate::EndpointSlice(slice("blog", &["n2", "n1"]))]);
    let r = round(&mut e, t, &ctxs);
    let want = ann(&[
        ("192.0.2.10/32", 0, "10.10.0.2"),
        ("192.0.2.20/32", 0, "10.10.0.2"),
        ("2001:db8:cafe::10/128", 0, "2001:db8:10::2"),
    ]);
    assert_eq!(r[&router].announced, want);
    e.kubernetes(t, [KubeUpdate::ServiceDeleted(ObjectKey::namespaced("web", "blog"))]);
    let r = round(&mut e, t, &ctxs);
    assert_eq!(r[&router].withdrawn, vec![("192.0.2.20/32".into(), 0)]);
    assert_eq!(e.local_routes(e.kubernetes_source().unwrap()), 3);
}

#[test]
fn cluster_mode_sends_every_node_path_with_add_path_and_the_lowest_without() {
    let t = Instant::now();
    // multipath 1: ADD-PATH peers get every node's path all the same.
    let mut e = engine(1);
    let client = e.session_up(session("10.10.0.5", US, true), t);
    let router = e.session_up(session("10.10.0.1", 65000, false), t);
    let add_path = CodecCtx { add_path: [V4, V6].into_iter().collect(), ..CodecCtx::modern() };
    let ctxs = HashMap::from([(client, add_path), (router, CodecCtx::modern())]);
    round(&mut e, t, &ctxs);
    e.set_kubernetes(t, Some(settings(KubernetesMode::Cluster, "")));
    e.kubernetes(t, cluster_objects());
    let r = round(&mut e, t, &ctxs);
    let ids: BTreeSet<u32> = r[&client].announced.iter().map(|a| a.1).collect();
    assert!(ids.iter().all(|id| id & OWN_PATH_IDS != 0), "{ids:?}");
    // Path ids are per next-hop address.
    let (id2, id3, id3v6) = {
        let of = |nh: &str| r[&client].announced.iter().find(|a| a.2 == ip(nh)).unwrap().1;
        (of("10.10.0.12"), of("10.10.0.13"), of("2001:db8:10::13"))
    };
    assert_ne!(id2, id3);
    // Third-party next hops kept toward the iBGP client and the eBGP router on the subnet.
    assert_eq!(
        r[&client].announced,
        ann(&[
            ("192.0.2.10/32", id2, "10.10.0.12"),
            ("192.0.2.10/32", id3, "10.10.0.13"),
            ("2001:db8:cafe::10/128", id3v6, "2001:db8:10::13")
        ])
    );
    assert_eq!(
        r[&router].announced,
        ann(&[("192.0.2.10/32", 0, "10.10.0.12"), ("2001:db8:cafe::10/128", 0, "2001:db8:10::13")])
    );

    // The endpoint on n3 moves to n1: the client loses n3's paths and gets n1's; the
    // router's one path becomes the one via n1, the lowest address now.
    e.kubernetes(t, [KubeUpdate::EndpointSlice(slice("shop", &["n1", "n2"]))]);
    let r = round(&mut e, t, &ctxs);
    let of = |nh: &str| r[&client].announced.iter().find(|a| a.2 == ip(nh)).unwrap().1;
    let (id1, id1v6) = (of("10.10.0.11"), of("2001:db8:10::11"));
    assert!(id1 & OWN_PATH_IDS != 0 && id1 != id2);
    assert_eq!(
        r[&client].announced,
        ann(&[("192.0.2.10/32", id1, "10.10.0.11"), ("2001:db8:cafe::10/128", id1v6, "2001:db8:10::11")])
    );
    assert_eq!(r[&client].withdrawn, vec![("192.0.2.10/32".into(), id3), ("2001:db8:cafe::10/128".into(), id3v6)]);
    assert_eq!(
        r[&router].announced,
        ann(&[("192.0.2.10/32", 0, "10.10.0.11"), ("2001:db8:cafe::10/128", 0, "2001:db8:10::11")])
    );
    assert!(r[&router].withdrawn.is_empty(), "replaced, not withdrawn: {:?}", r[&router]);

    // n2 goes NotReady: its path goes; the router keeps n1's and hears nothing.
    e.kubernetes(t, [KubeUpdate::Node(node("n2", false, &["10.10.0.12"]))]);
    let r = round(&mut e, t, &ctxs);
    assert_eq!(r[&client].withdrawn, vec![("192.0.2.10/32".into(), id2)]);
    assert!(r[&client].announced.is_empty());
    assert!(!r.contains_key(&router));
}

#[test]
fn a_peer_joining_later_gets_every_path_of_a_cluster_mode_route() {
    let t = Instant::now();
    let mut e = engine(8);
    e.set_kubernetes(t, Some(settings(KubernetesMode::Cluster, "")));
    e.kubernetes(t, cluster_objects());
    round(&mut e, t, &HashMap::new());
    let client = e.session_up(session("10.10.0.5", US, true), t);
    let add_path = CodecCtx { add_path: [V4, V6].into_iter().collect(), ..CodecCtx::modern() };
    let r = round(&mut e, t, &HashMap::from([(client, add_path)]));
    let hops: Vec<IpAddr> = r[&client].announced.iter().map(|a| a.2).collect();
    assert_eq!(hops, [ip("10.10.0.12"), ip("10.10.0.13"), ip("2001:db8:10::13")]);
}

#[test]
fn a_relist_of_the_same_objects_sends_nothing() {
    let t = Instant::now();
    let mut e = engine(8);
    let router = e.session_up(session("10.10.0.1", 65000, false), t);
    let ctxs = HashMap::from([(router, CodecCtx::modern())]);
    round(&mut e, t, &ctxs);
    e.set_kubernetes(t, Some(settings(KubernetesMode::Cluster, "")));
    e.kubernetes(t, cluster_objects());
    assert_eq!(round(&mut e, t, &ctxs)[&router].announced.len(), 2);
    let mut relist = Vec::new();
    for kind in [Kind::Node, Kind::Service, Kind::EndpointSlice] {
        relist.push(KubeUpdate::SyncBegin(kind));
    }
    relist.extend(cluster_objects().into_iter().rev());
    for kind in [Kind::Service, Kind::Node, Kind::EndpointSlice] {
        relist.push(KubeUpdate::SyncEnd(kind));
    }
    // Fed in pieces, as the watchers deliver them, with rounds in between.
    for chunk in relist.chunks(3) {
        e.kubernetes(t, chunk.to_vec());
        assert!(round(&mut e, t, &ctxs).is_empty(), "nothing sent while relisting");
    }
    assert_eq!(e.kubernetes_routes().len(), 2);
}

#[test]
fn turning_kubernetes_off_withdraws_its_routes_and_on_again_waits_for_the_objects() {
    let t = Instant::now();
    let mut e = engine(8);
    let router = e.session_up(session("10.10.0.1", 65000, false), t);
    let client = e.session_up(session("10.10.0.5", US, true), t);
    let add_path = CodecCtx { add_path: [V4, V6].into_iter().collect(), ..CodecCtx::modern() };
    let ctxs = HashMap::from([(client, add_path), (router, CodecCtx::modern())]);
    e.announce(&[Announce::new(pfx("198.51.100.0/24"))]);
    round(&mut e, t, &ctxs);
    e.set_kubernetes(t, Some(settings(KubernetesMode::Cluster, "")));
    e.kubernetes(t, cluster_objects());
    round(&mut e, t, &ctxs);
    e.set_kubernetes(t, None);
    assert!(e.kubernetes_status().is_none() && e.kubernetes_routes().is_empty());
    let r = round(&mut e, t, &ctxs);
    assert_eq!(r[&router].withdrawn.len(), 2);
    assert_eq!(r[&client].withdrawn.len(), 3, "each node's path");
    let source = e.kubernetes_source().unwrap();
    assert_eq!(e.local_routes(source), 0);
    assert_eq!(e.rib().iter().count(), 1, "the [[announce]] route stays");
    e.kubernetes(t, cluster_objects());
    assert!(round(&mut e, t, &ctxs).is_empty(), "updates without settings are ignored");
    e.set_kubernetes(t, Some(settings(KubernetesMode::Cluster, "")));
    assert_eq!(e.kubernetes_source(), Some(source), "the same source");
    e.kubernetes(t, cluster_objects());
    assert_eq!(round(&mut e, t, &ctxs)[&router].announced.len(), 2);
}

#[test]
fn settings_changes_replan_from_node_to_cluster_mode() {
    let t = Instant::now();
    let mut e = engine(8);
    let client = e.session_up(session("10.10.0.5", US, true), t);
    let add_path = CodecCtx { add_path: [V4, V6].into_iter().collect(), ..CodecCtx::modern() };
    let ctxs = HashMap::from([(client, add_path)]);
    round(&mut e, t, &ctxs);
    e.set_kubernetes(t, Some(settings(KubernetesMode::Node, "n3")));
    e.kubernetes(t, cluster_objects());
    let r = round(&mut e, t, &ctxs);
    let own = crate::rib::out::path_id_of(e.kubernetes_source().unwrap());
    assert_eq!(
        r[&client].announced,
        ann(&[("192.0.2.10/32", own, "10.10.0.2"), ("2001:db8:cafe::10/128", own, "2001:db8:10::2")])
    );
    e.set_kubernetes(t + Duration::from_secs(1), Some(settings(KubernetesMode::Cluster, "")));
    let r = round(&mut e, t, &ctxs);
    assert_eq!(r[&client].withdrawn, vec![("192.0.2.10/32".into(), own), ("2001:db8:cafe::10/128".into(), own)]);
    assert_eq!(r[&client].announced.len(), 3);
    assert_eq!(e.kubernetes_status().unwrap().last_update, Some(t + Duration::from_secs(1)));
}

#[test]
fn policies_match_kubernetes_routes_by_source() {
    let t = Instant::now();
    let mut e = engine(8);
    let term = Term {
        name: "lb".into(),
        matches: Match { source: vec![RouteSource::Kubernetes], ..Match::default() },
        actions: Default::default(),
        action: TermAction::Accept,
    };
    let export = Policy { name: "only-kubernetes".into(), terms: vec![term], default: Verdict::Reject };
    let router = e.session_up(SessionUp { export: Arc::new(export), ..session("10.10.0.1", 65000, false) }, t);
    let ctxs = HashMap::from([(router, CodecCtx::modern())]);
    e.announce(&[Announce::new(pfx("198.51.100.0/24"))]);
    e.set_kubernetes(t, Some(settings(KubernetesMode::Cluster, "")));
    e.kubernetes(t, cluster_objects());
    let r = round(&mut e, t, &ctxs);
    assert_eq!(
        r[&router].announced,
        ann(&[("192.0.2.10/32", 0, "10.10.0.12"), ("2001:db8:cafe::10/128", 0, "2001:db8:10::13")])
    );
}

#[test]
fn show_routes_and_show_kubernetes_give_the_provenance() {
    let t = Instant::now();
    let mut e = engine(8);
    e.set_kubernetes(t, Some(settings(KubernetesMode::Cluster, "")));
    let mut objects = cluster_objects();
    objects.push(KubeUpdate::Service(service("cart", TrafficPolicy::Cluster, &["192.0.2.10"])));
    e.kubernetes(t, objects);
    round(&mut e, t, &HashMap::new());
    let query =
        RouteQuery { prefix: Some(PrefixOrAddress::Prefix(pfx("192.0.2.10/32"))), neighbor: None, family: None };
    let mut dump = e.route_dump(query).unwrap();
    let DumpStep::Rows(rows) = dump.step(&e, 10) else { panic!("rows") };
    // The Cluster Service adds n1 (no endpoints needed): one path per node.
    let hops: Vec<Option<IpAddr>> = rows.iter().map(|r| r.next_hop).collect();
    assert_eq!(hops, [Some(ip("10.10.0.11")), Some(ip("10.10.0.12")), Some(ip("10.10.0.13"))]);
    assert!(rows[0].best && rows[0].reason.as_deref() == Some("lower next hop"));
    for row in &rows {
        assert_eq!(row.from, "kubernetes");
        let owners: Vec<(&str, &str, &[String])> =
            row.kubernetes.iter().map(|o| (o.kind.as_str(), o.name.as_str(), &o.ready_nodes[..])).collect();
        assert_eq!(
            owners,
            [("service", "web/cart", &[][..]), ("service", "web/shop", &["n2".into(), "n3".into()][..])]
        );
    }
    let json = serde_json::to_value(&rows[0]).unwrap();
    assert_eq!(json["kubernetes"][1]["ready_nodes"], serde_json::json!(["n2", "n3"]));
    let shown = e.kubernetes_routes();
    assert_eq!(shown.iter().map(|r| r.prefix.as_str()).collect::<Vec<_>>(), ["192.0.2.10/32", "2001:db8:cafe::10/128"]);
    assert_eq!(shown[0].next_hops, [ip("10.10.0.11"), ip("10.10.0.12"), ip("10.10.0.13")]);
    assert_eq!(shown[1].owners.len(), 1, "web/cart has no IPv6 ingress");
    let status = e.kubernetes_status().unwrap();
    assert_eq!((status.objects, status.routes), ((2, 1, 3), 2));
}
