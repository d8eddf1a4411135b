use std::collections::BTreeMap;
use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use crate::kubernetes::{Endpoint, EndpointSlice, Kind, KubeUpdate, Node, ObjectKey, Service, TrafficPolicy};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn node_mode(name: &str) -> KubernetesSettings {
    KubernetesSettings { mode: KubernetesMode::Node, node_name: name.into(), load_balancers: true, pod_cidrs: true }
}

fn cluster_mode() -> KubernetesSettings {
    KubernetesSettings { mode: KubernetesMode::Cluster, node_name: String::new(), ..node_mode("") }
}

fn service(name: &str, policy: TrafficPolicy, ingress: &[&str]) -> Service {
    Service {
        key: ObjectKey::namespaced("default", name),
        ingress: ingress.iter().map(|s| ip(s)).collect(),
        traffic_policy: policy,
        deleting: false,
    }
}

fn ready_on(node: &str) -> Endpoint {
    Endpoint { node_name: Some(node.into()), ..Endpoint::default() }
}

fn slice(name: &str, service: &str, endpoints: Vec<Endpoint>) -> EndpointSlice {
    EndpointSlice { key: ObjectKey::namespaced("default", name), service: service.into(), endpoints }
}

fn node(name: &str, ips: &[&str], pods: &[&str]) -> Node {
    Node {
        key: ObjectKey::cluster(name),
        ready: true,
        unschedulable: false,
        exclude_from_load_balancers: false,
        internal_ips: ips.iter().map(|s| ip(s)).collect(),
        pod_cidrs: pods.iter().map(|s| pfx(s)).collect(),
    }
}

fn svc_owner(name: &str) -> Owner {
    Owner::Service(ObjectKey::namespaced("default", name))
}

fn own(owner: Owner) -> Route {
    Route { next_hops: vec![], provenance: vec![Provenance { owner, ready_nodes: vec![] }] }
}

fn via(hops: &[&str], owner: Owner, ready: &[&str]) -> Route {
    Route {
        next_hops: hops.iter().map(|s| ip(s)).collect(),
        provenance: vec![Provenance { owner, ready_nodes: ready.iter().map(|s| s.to_string()).collect() }],
    }
}

/// The planner's set, sorted.
fn snapshot(p: &Planner) -> BTreeMap<Prefix, Route> {
    p.routes().map(|(k, v)| (*k, v.clone())).collect()
}

#[test]
fn node_mode_cluster_policy_and_readiness() {
    let mut p = Planner::new(node_mode("n1"));
    let changes = p.update([
        KubeUpdate::Node(node("n1", &["10.0.0.1"], &["10.42.1.0/24"])),
        KubeUpdate::Node(node("n2", &["10.0.0.2"], &["10.42.2.0/24"])),
        KubeUpdate::Service(service("web", TrafficPolicy::Cluster, &["192.168.6.10", "2001:db8::10"])),
    ]);
    let node1 = Owner::Node(ObjectKey::cluster("n1"));
    assert_eq!(
        changes,
        vec![
            RouteChange::Added(pfx("10.42.1.0/24"), own(node1.clone())),
            RouteChange::Added(pfx("192.168.6.10/32"), own(svc_owner("web"))),
            RouteChange::Added(pfx("2001:db8::10/128"), own(svc_owner("web"))),
        ],
        "only this node's pod CIDR; both families of the ingress"
    );
    // This node NotReady: its LoadBalancer addresses go, its pod CIDR stays.
    let mut n1 = node("n1", &["10.0.0.1"], &["10.42.1.0/24"]);
    n1.ready = false;
    let changes = p.update([KubeUpdate::Node(n1.clone())]);
    assert_eq!(
        changes,
        vec![RouteChange::Withdrawn(pfx("192.168.6.10/32")), RouteChange::Withdrawn(pfx("2001:db8::10/128"))]
    );
    // Another node's change does nothing in node mode.
    let mut n2 = node("n2", &["10.0.0.2"], &["10.42.2.0/24"]);
    n2.ready = false;
    assert_eq!(p.update([KubeUpdate::Node(n2)]), vec![]);
    // Cordoned, or excluded: not serving Cluster Services.
    n1.ready = true;
    n1.unschedulable = true;
    assert_eq!(p.update([KubeUpdate::Node(n1.clone())]), vec![]);
    n1.unschedulable = false;
    n1.exclude_from_load_balancers = true;
    assert_eq!(p.update([KubeUpdate::Node(n1.clone())]), vec![]);
    n1.exclude_from_load_balancers = false;
    assert_eq!(p.update([KubeUpdate::Node(n1)]).len(), 2);
    assert_eq!(snapshot(&p).len(), 3);
}

#[test]
fn local_policy_follows_ready_endpoints() {
    let mut p = Planner::new(KubernetesSettings { pod_cidrs: false, ..node_mode("n1") });
    p.update([
        KubeUpdate::Node(node("n1", &["10.0.0.1"], &[])),
        KubeUpdate::Node(node("n2", &["10.0.0.2"], &[])),
        KubeUpdate::Service(service("web", TrafficPolicy::Local, &["192.168.6.10"])),
    ]);
    assert!(snapshot(&p).is_empty(), "no endpoint: nothing");
    let lb = pfx("192.168.6.10/32");
    // A ready endpoint elsewhere: not ours.
    assert_eq!(p.update([KubeUpdate::EndpointSlice(slice("web-a", "web", vec![ready_on("n2")]))]), vec![]);
    // A second slice with one here: announced, with both nodes in the provenance.
    let changes = p.update([KubeUpdate::EndpointSlice(slice("web-b", "web", vec![ready_on("n1")]))]);
    assert_eq!(changes, vec![RouteChange::Added(lb, via(&[], svc_owner("web"), &["n1", "n2"]))]);
    // Not ready, not serving: withdrawn.
    let not_ready = Endpoint { ready: Some(false), serving: Some(false), ..ready_on("n1") };
    let changes = p.update([KubeUpdate::EndpointSlice(slice("web-b", "web", vec![not_ready]))]);
    assert_eq!(changes, vec![RouteChange::Withdrawn(lb)]);
    // Not ready but serving and not terminating: counts.
    let serving = Endpoint { ready: Some(false), serving: Some(true), terminating: Some(false), ..ready_on("n1") };
    assert_eq!(p.update([KubeUpdate::EndpointSlice(slice("web-b", "web", vec![serving.clone()]))]).len(), 1);
    // Serving but terminating: does not.
    let terminating = Endpoint { terminating: Some(true), ..serving };
    assert_eq!(
        p.update([KubeUpdate::EndpointSlice(slice("web-b", "web", vec![terminating]))]),
        vec![RouteChange::Withdrawn(lb)]
    );
    // The endpoint moves here from n2 (one slice, changed): announced; the other node
    // leaves the provenance as the route stays.
    p.update([KubeUpdate::EndpointSliceDeleted(ObjectKey::namespaced("default", "web-b"))]);
    let changes = p.update([KubeUpdate::EndpointSlice(slice("web-a", "web", vec![ready_on("n1")]))]);
    assert_eq!(changes, vec![RouteChange::Added(lb, via(&[], svc_owner("web"), &["n1"]))]);
    let changes = p.update([KubeUpdate::EndpointSlice(slice("web-a", "web", vec![ready_on("n1"), ready_on("n2")]))]);
    assert_eq!(changes, vec![RouteChange::Changed(lb, via(&[], svc_owner("web"), &["n1", "n2"]))]);
    // This node NotReady: withdrawn although the endpoint is ready.
    let mut n1 = node("n1", &["10.0.0.1"], &[]);
    n1.ready = false;
    assert_eq!(p.update([KubeUpdate::Node(n1)]), vec![RouteChange::Withdrawn(lb)]);
    p.update([KubeUpdate::Node(node("n1", &["10.0.0.1"], &[]))]);
    // A slice of another Service, or in another namespace, does not count.
    let mut other_ns = slice("web-c", "web", vec![ready_on("n1")]);
    other_ns.key.namespace = "other".into();
    let gone = p.update([KubeUpdate::EndpointSliceDeleted(ObjectKey::namespaced("default", "web-a"))]);
    assert_eq!(gone, vec![RouteChange::Withdrawn(lb)]);
    assert_eq!(
        p.update([
            KubeUpdate::EndpointSlice(other_ns),
            KubeUpdate::EndpointSlice(slice("db", "db", vec![ready_on("n1")]))
        ]),
        vec![]
    );
}

#[test]
fn deleting_service_is_withdrawn_at_once() {
    let mut p = Planner::new(node_mode("n1"));
    p.update([
        KubeUpdate::Node(node("n1", &["10.0.0.1"], &[])),
        KubeUpdate::Service(service("web", TrafficPolicy::Cluster, &["192.168.6.10"])),
    ]);
    let mut s = service("web", TrafficPolicy::Cluster, &["192.168.6.10"]);
    s.deleting = true;
    assert_eq!(p.update([KubeUpdate::Service(s)]), vec![RouteChange::Withdrawn(pfx("192.168.6.10/32"))]);
    assert_eq!(p.update([KubeUpdate::ServiceDeleted(ObjectKey::namespaced("default", "web"))]), vec![]);
}

#[test]
fn cluster_mode_next_hops() {
    let mut p = Planner::new(cluster_mode());
    let changes = p.update([
        KubeUpdate::Node(node("n1", &["10.0.0.1", "fd00::1"], &["10.42.1.0/24", "fd42:1::/64"])),
        KubeUpdate::Node(node("n2", &["10.0.0.2"], &["10.42.2.0/24", "fd42:2::/64"])),
        KubeUpdate::Node(node("n3", &["10.0.0.3", "fd00::3"], &[])),
        KubeUpdate::Service(service("web", TrafficPolicy::Cluster, &["192.168.6.10", "2001:db8::10"])),
        KubeUpdate::Service(service("db", TrafficPolicy::Local, &["192.168.6.11"])),
        KubeUpdate::EndpointSlice(slice("db-1", "db", vec![ready_on("n3"), ready_on("n2"), ready_on("gone")])),
    ]);
    let n = |name: &str| Owner::Node(ObjectKey::cluster(name));
    assert_eq!(
        changes,
        vec![
            RouteChange::Added(pfx("10.42.1.0/24"), via(&["10.0.0.1"], n("n1"), &[])),
            RouteChange::Added(pfx("10.42.2.0/24"), via(&["10.0.0.2"], n("n2"), &[])),
            RouteChange::Added(
                pfx("192.168.6.10/32"),
                via(&["10.0.0.1", "10.0.0.2", "10.0.0.3"], svc_owner("web"), &[])
            ),
            RouteChange::Added(
                pfx("192.168.6.11/32"),
                via(&["10.0.0.2", "10.0.0.3"], svc_owner("db"), &["gone", "n2", "n3"])
            ),
            RouteChange::Added(pfx("2001:db8::10/128"), via(&["fd00::1", "fd00::3"], svc_owner("web"), &[])),
            RouteChange::Added(pfx("fd42:1::/64"), via(&["fd00::1"], n("n1"), &[])),
        ],
        "n2 has no IPv6 address: skipped for IPv6, and its IPv6 pod CIDR is not announced"
    );
    // n3 NotReady: it leaves both Services' next hops.
    let mut n3 = node("n3", &["10.0.0.3", "fd00::3"], &[]);
    n3.ready = false;
    let changes = p.update([KubeUpdate::Node(n3.clone())]);
    assert_eq!(
        changes,
        vec![
            RouteChange::Changed(pfx("192.168.6.10/32"), via(&["10.0.0.1", "10.0.0.2"], svc_owner("web"), &[])),
            RouteChange::Changed(pfx("192.168.6.11/32"), via(&["10.0.0.2"], svc_owner("db"), &["gone", "n2", "n3"])),
            RouteChange::Changed(pfx("2001:db8::10/128"), via(&["fd00::1"], svc_owner("web"), &[])),
        ]
    );
    // n1 NotReady: its pod CIDRs stay, via it.
    let mut n1 = node("n1", &["10.0.0.1", "fd00::1"], &["10.42.1.0/24", "fd42:1::/64"]);
    n1.ready = false;
    let changes = p.update([KubeUpdate::Node(n1)]);
    assert_eq!(
        changes,
        vec![
            RouteChange::Changed(pfx("192.168.6.10/32"), via(&["10.0.0.2"], svc_owner("web"), &[])),
            RouteChange::Withdrawn(pfx("2001:db8::10/128")),
        ]
    );
    assert!(p.route(&pfx("10.42.1.0/24")).is_some());
    // n2 cordoned: leaves the Cluster Service, not the Local one.
    let mut n2 = node("n2", &["10.0.0.2"], &["10.42.2.0/24", "fd42:2::/64"]);
    n2.unschedulable = true;
    assert_eq!(p.update([KubeUpdate::Node(n2)]), vec![RouteChange::Withdrawn(pfx("192.168.6.10/32"))]);
    // A node's address changes: its routes follow.
    let changes = p.update([KubeUpdate::Node(node("n2", &["10.0.0.12"], &["10.42.2.0/24"]))]);
    assert_eq!(
        changes,
        vec![
            RouteChange::Changed(pfx("10.42.2.0/24"), via(&["10.0.0.12"], n("n2"), &[])),
            RouteChange::Added(pfx("192.168.6.10/32"), via(&["10.0.0.12"], svc_owner("web"), &[])),
            RouteChange::Changed(pfx("192.168.6.11/32"), via(&["10.0.0.12"], svc_owner("db"), &["gone", "n2", "n3"])),
        ]
    );
    assert_eq!(p.update([KubeUpdate::NodeDeleted(ObjectKey::cluster("n2"))]).len(), 3);
    assert_eq!(snapshot(&p).keys().copied().collect::<Vec<_>>(), [pfx("10.42.1.0/24"), pfx("fd42:1::/64")]);
}

#[test]
fn shared_ingress_address() {
    let mut p = Planner::new(cluster_mode());
    p.update([
        KubeUpdate::Node(node("n1", &["10.0.0.1"], &[])),
        KubeUpdate::Node(node("n2", &["10.0.0.2"], &[])),
        KubeUpdate::Service(service("tcp", TrafficPolicy::Local, &["192.168.6.10"])),
        KubeUpdate::Service(service("udp", TrafficPolicy::Local, &["192.168.6.10"])),
        KubeUpdate::EndpointSlice(slice("tcp-1", "tcp", vec![ready_on("n1")])),
    ]);
    let lb = pfx("192.168.6.10/32");
    assert_eq!(p.route(&lb), Some(&via(&["10.0.0.1"], svc_owner("tcp"), &["n1"])));
    let changes = p.update([KubeUpdate::EndpointSlice(slice("udp-1", "udp", vec![ready_on("n2")]))]);
    let both = Route {
        next_hops: vec![ip("10.0.0.1"), ip("10.0.0.2")],
        provenance: vec![
            Provenance { owner: svc_owner("tcp"), ready_nodes: vec!["n1".into()] },
            Provenance { owner: svc_owner("udp"), ready_nodes: vec!["n2".into()] },
        ],
    };
    assert_eq!(changes, vec![RouteChange::Changed(lb, both)]);
    p.update([KubeUpdate::ServiceDeleted(ObjectKey::namespaced("default", "tcp"))]);
    assert_eq!(p.route(&lb), Some(&via(&["10.0.0.2"], svc_owner("udp"), &["n2"])));
}

#[test]
fn relist_replaces_at_the_end_without_churn() {
    let mut p = Planner::new(cluster_mode());
    let objects = vec![
        KubeUpdate::Node(node("n1", &["10.0.0.1"], &["10.42.1.0/24"])),
        KubeUpdate::Service(service("web", TrafficPolicy::Cluster, &["192.168.6.10"])),
        KubeUpdate::Service(service("db", TrafficPolicy::Cluster, &["192.168.6.11"])),
    ];
    assert_eq!(p.update(objects.clone()).len(), 3);
    // The same objects relisted: nothing changes, before or after the end.
    for kind in [Kind::Service, Kind::EndpointSlice, Kind::Node] {
        assert_eq!(p.update([KubeUpdate::SyncBegin(kind)]), vec![]);
        assert!(p.syncing(kind));
        let same: Vec<KubeUpdate> = objects
            .iter()
            .filter(|u| {
                matches!((u, kind), (KubeUpdate::Node(_), Kind::Node) | (KubeUpdate::Service(_), Kind::Service))
            })
            .cloned()
            .collect();
        assert_eq!(p.update(same), vec![]);
        assert_eq!(p.update([KubeUpdate::SyncEnd(kind)]), vec![]);
        assert!(!p.syncing(kind));
    }
    // A relist without "db": it stays until the list is complete, then goes.
    assert_eq!(
        p.update([
            KubeUpdate::SyncBegin(Kind::Service),
            KubeUpdate::Service(service("web", TrafficPolicy::Cluster, &["192.168.6.10"]))
        ]),
        vec![]
    );
    assert_eq!(snapshot(&p).len(), 3);
    assert_eq!(p.update([KubeUpdate::SyncEnd(Kind::Service)]), vec![RouteChange::Withdrawn(pfx("192.168.6.11/32"))]);
    // A relist that starts again before its end: only the last list counts.
    p.update([
        KubeUpdate::SyncBegin(Kind::Node),
        KubeUpdate::Node(node("n2", &["10.0.0.2"], &[])),
        KubeUpdate::SyncBegin(Kind::Node),
        KubeUpdate::Node(node("n1", &["10.0.0.1"], &["10.42.1.0/24"])),
    ]);
    assert_eq!(p.update([KubeUpdate::SyncEnd(Kind::Node)]), vec![]);
    assert_eq!(p.counts(), (1, 0, 1));
    // A SyncEnd without a SyncBegin is ignored.
    assert_eq!(p.update([KubeUpdate::SyncEnd(Kind::Node)]), vec![]);
}

#[test]
fn settings_change_replans() {
    let mut p = Planner::new(node_mode("n1"));
    p.update([
        KubeUpdate::Node(node("n1", &["10.0.0.1"], &["10.42.1.0/24"])),
        KubeUpdate::Node(node("n2", &["10.0.0.2"], &["10.42.2.0/24"])),
        KubeUpdate::Service(service("web", TrafficPolicy::Cluster, &["192.168.6.10"])),
    ]);
    assert_eq!(snapshot(&p).len(), 2);
    let changes = p.set_settings(KubernetesSettings { load_balancers: false, ..node_mode("n1") });
    assert_eq!(changes, vec![RouteChange::Withdrawn(pfx("192.168.6.10/32"))]);
    assert_eq!(p.set_settings(KubernetesSettings { load_balancers: false, ..node_mode("n1") }), vec![]);
    let changes = p.set_settings(cluster_mode());
    let n = |name: &str| Owner::Node(ObjectKey::cluster(name));
    assert_eq!(
        changes,
        vec![
            RouteChange::Changed(pfx("10.42.1.0/24"), via(&["10.0.0.1"], n("n1"), &[])),
            RouteChange::Added(pfx("10.42.2.0/24"), via(&["10.0.0.2"], n("n2"), &[])),
            RouteChange::Added(pfx("192.168.6.10/32"), via(&["10.0.0.1", "10.0.0.2"], svc_owner("web"), &[])),
        ]
    );
    let s = cluster_mode();
    let objects = p.services.values().collect::<Vec<_>>();
    assert_eq!(plan(&s, objects, p.slices.values(), p.nodes.values()), snapshot(&p));
}

#[test]
fn endpoint_conditions() {
    let e = |ready, serving, terminating| Endpoint { node_name: None, ready, serving, terminating };
    assert!(endpoint_ready(&e(None, None, None)), "absent: ready");
    assert!(endpoint_ready(&e(Some(true), Some(false), Some(true))), "ready wins");
    assert!(!endpoint_ready(&e(Some(false), Some(false), None)));
    assert!(endpoint_ready(&e(Some(false), Some(true), None)), "serving, terminating absent (false)");
    assert!(endpoint_ready(&e(Some(false), None, Some(false))), "serving absent (true), not terminating");
    assert!(!endpoint_ready(&e(Some(false), Some(true), Some(true))), "serving but terminating");
}

// ---------------------------------------------------------------------------------
// Property: after any sequence of updates, the planner's set is the from-scratch plan
// of the objects as the client last listed them, and the changes it reported are
// exactly the differences between consecutive sets.

const NODES: [&str; 4] = ["n0", "n1", "n2", "n3"];
const SERVICES: [&str; 4] = ["s0", "s1", "s2", "s3"];

fn arb_node() -> impl Strategy<Value = Node> {
    let ips = prop::sample::subsequence(vec!["10.0.0.1", "10.0.0.2", "fd00::1", "fd00::2"], 0..=3);
    let pods = prop::sample::subsequence(vec!["10.42.0.0/24", "10.42.1.0/24", "fd42::/64"], 0..=2);
    (0..NODES.len(), any::<bool>(), prop::bool::weighted(0.2), prop::bool::weighted(0.2), ips, pods).prop_map(
        |(i, ready, unschedulable, exclude, ips, pods)| Node {
            key: ObjectKey::cluster(NODES[i]),
            ready,
            unschedulable,
            exclude_from_load_balancers: exclude,
            internal_ips: ips.iter().map(|s| ip(s)).collect(),
            pod_cidrs: pods.iter().map(|s| pfx(s)).collect(),
        },
    )
}

fn arb_service() -> impl Strategy<Value = Service> {
    let ingress = prop::sample::subsequence(vec!["192.168.6.1", "192.168.6.2", "2001:db8::1", "10.42.0.0"], 0..=2);
    (0..SERVICES.len(), any::<bool>(), prop::bool::weighted(0.1), ingress).prop_map(|(i, local, deleting, ingress)| {
        Service {
            key: ObjectKey::namespaced(if i == 3 { "other" } else { "default" }, SERVICES[i]),
            ingress: ingress.iter().map(|s| ip(s)).collect(),
            traffic_policy: if local { TrafficPolicy::Local } else { TrafficPolicy::Cluster },
            deleting,
        }
    })
}

fn arb_condition() -> impl Strategy<Value = Option<bool>> {
    prop_oneof![Just(None), Just(Some(true)), Just(Some(false))]
}

fn arb_slice() -> impl Strategy<Value = EndpointSlice> {
    let endpoint = (prop::option::of(0..NODES.len() + 1), arb_condition(), arb_condition(), arb_condition()).prop_map(
        |(n, ready, serving, terminating)| Endpoint {
            node_name: n.map(|i| NODES.get(i).copied().unwrap_or("elsewhere").to_string()),
            ready,
            serving,
            terminating,
        },
    );
    (0..5usize, 0..SERVICES.len(), prop::collection::vec(endpoint, 0..4)).prop_map(|(k, s, endpoints)| {
        let ns = if k == 4 { "other" } else { "default" };
        EndpointSlice { key: ObjectKey::namespaced(ns, format!("slice{k}")), service: SERVICES[s].into(), endpoints }
    })
}

fn arb_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Service), Just(Kind::EndpointSlice), Just(Kind::Node)]
}

fn arb_update() -> impl Strategy<Value = KubeUpdate> {
    prop_oneof![
        4 => arb_node().prop_map(KubeUpdate::Node),
        1 => (0..NODES.len()).prop_map(|i| KubeUpdate::NodeDeleted(ObjectKey::cluster(NODES[i]))),
        4 => arb_service().prop_map(KubeUpdate::Service),
        1 => arb_service().prop_map(|s| KubeUpdate::ServiceDeleted(s.key)),
        5 => arb_slice().prop_map(KubeUpdate::EndpointSlice),
        1 => arb_slice().prop_map(|s| KubeUpdate::EndpointSliceDeleted(s.key)),
        1 => arb_kind().prop_map(KubeUpdate::SyncBegin),
        1 => arb_kind().prop_map(KubeUpdate::SyncEnd),
    ]
}

fn arb_settings() -> impl Strategy<Value = KubernetesSettings> {
    (any::<bool>(), 0..NODES.len() + 1, prop::bool::weighted(0.9), any::<bool>()).prop_map(
        |(cluster, n, load_balancers, pod_cidrs)| KubernetesSettings {
            mode: if cluster { KubernetesMode::Cluster } else { KubernetesMode::Node },
            node_name: if cluster { String::new() } else { NODES.get(n).copied().unwrap_or("unknown").into() },
            load_balancers,
            pod_cidrs,
        },
    )
}

/// The objects as the client last listed them: a relist replaces a kind at its end.
#[derive(Default)]
struct Truth {
    services: BTreeMap<ObjectKey, Service>,
    slices: BTreeMap<ObjectKey, EndpointSlice>,
    nodes: BTreeMap<ObjectKey, Node>,
    relist: BTreeMap<Kind, Vec<KubeUpdate>>,
}

impl Truth {
    fn apply(&mut self, u: &KubeUpdate) {
        let kind = match u {
            KubeUpdate::SyncBegin(k) => {
                self.relist.insert(*k, Vec::new());
                return;
            }
            KubeUpdate::SyncEnd(k) => {
                if let Some(list) = self.relist.remove(k) {
                    match k {
                        Kind::Service => self.services.clear(),
                        Kind::EndpointSlice => self.slices.clear(),
                        Kind::Node => self.nodes.clear(),
                    }
                    list.iter().for_each(|u| self.put(u));
                }
                return;
            }
            KubeUpdate::Service(_) | KubeUpdate::ServiceDeleted(_) => Kind::Service,
            KubeUpdate::EndpointSlice(_) | KubeUpdate::EndpointSliceDeleted(_) => Kind::EndpointSlice,
            KubeUpdate::Node(_) | KubeUpdate::NodeDeleted(_) => Kind::Node,
        };
        match self.relist.get_mut(&kind) {
            Some(list) => list.push(u.clone()),
            None => self.put(u),
        }
    }

    fn put(&mut self, u: &KubeUpdate) {
        match u.clone() {
            KubeUpdate::Service(s) => drop(self.services.insert(s.key.clone(), s)),
            KubeUpdate::ServiceDeleted(k) => drop(self.services.remove(&k)),
            KubeUpdate::EndpointSlice(s) => drop(self.slices.insert(s.key.clone(), s)),
            KubeUpdate::EndpointSliceDeleted(k) => drop(self.slices.remove(&k)),
            KubeUpdate::Node(n) => drop(self.nodes.insert(n.key.clone(), n)),
            KubeUpdate::NodeDeleted(k) => drop(self.nodes.remove(&k)),
            KubeUpdate::SyncBegin(_) | KubeUpdate::SyncEnd(_) => unreachable!(),
        }
    }

    fn plan(&self, settings: &KubernetesSettings) -> BTreeMap<Prefix, Route> {
        plan(settings, self.services.values(), self.slices.values(), self.nodes.values())
    }
}

/// `before` with `changes` applied, checking each change is one.
fn replay(before: &BTreeMap<Prefix, Route>, changes: &[RouteChange]) -> BTreeMap<Prefix, Route> {
    let mut out = before.clone();
    let mut seen = Vec::new();
    for c in changes {
        assert!(!seen.contains(&c.prefix()), "one change per prefix: {changes:?}");
        seen.push(c.prefix());
        match c {
            RouteChange::Added(p, r) => assert!(out.insert(*p, r.clone()).is_none(), "added but there: {c:?}"),
            RouteChange::Changed(p, r) => {
                let old = out.insert(*p, r.clone());
                assert!(old.is_some_and(|o| o != *r), "changed but absent or the same: {c:?}");
            }
            RouteChange::Withdrawn(p) => assert!(out.remove(p).is_some(), "withdrawn but absent: {c:?}"),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_from_scratch(
        settings in arb_settings(),
        batches in prop::collection::vec(prop::collection::vec(arb_update(), 1..6), 1..25),
        new_settings in prop::option::of(arb_settings()),
    ) {
        let mut planner = Planner::new(settings.clone());
        let mut truth = Truth::default();
        let mut before = BTreeMap::new();
        for batch in batches {
            batch.iter().for_each(|u| truth.apply(u));
            let changes = planner.update(batch);
            let after = snapshot(&planner);
            prop_assert_eq!(&replay(&before, &changes), &after);
            prop_assert_eq!(&after, &truth.plan(&settings));
            for route in after.values() {
                prop_assert!(!route.provenance.is_empty());
                prop_assert!(route.next_hops.windows(2).all(|w| w[0] < w[1]));
                prop_assert_eq!(route.next_hops.is_empty(), settings.mode == KubernetesMode::Node);
            }
            before = after;
        }
        if let Some(s) = new_settings {
            let changes = planner.set_settings(s.clone());
            let after = snapshot(&planner);
            prop_assert_eq!(&replay(&before, &changes), &after);
            prop_assert_eq!(&after, &truth.plan(&s));
        }
    }
}
