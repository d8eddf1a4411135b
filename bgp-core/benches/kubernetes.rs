//! The Kubernetes source's cost per change, apart from the client: a cluster of 5,000
//! LoadBalancer Services (half `externalTrafficPolicy: Local`, one in ten dual stack)
//! with 50,000 EndpointSlice endpoints (one slice of 10 per Service) over 100 nodes.
//!
//! Measured, in node mode (this node: `node-0`) and in cluster mode:
//! - `planner/*`: `Planner::update` for one change: an endpoint of a Local Service
//!   moves to another node; a node goes NotReady (node mode: this node, which
//!   withdraws every LoadBalancer address; cluster mode: any node, which leaves the
//!   next-hop set of every `Cluster` Service); a `Cluster` Service is added;
//! - `engine/*`: the same changes through `Engine::kubernetes` and a decision round
//!   (`process`) that packs the UPDATEs for two peers, an eBGP router without ADD-PATH
//!   and an iBGP peer with ADD-PATH send, then drains them.
//!
//! Before criterion runs, it prints the heap held by the planner and by the engine
//! (RIB and both peers' Adj-RIB-Out) with the whole cluster in, counted by a counting
//! global allocator, and the time of the initial full sync.
//!
//! Run: `cargo bench -p bgp-core --bench kubernetes` (pin it with `taskset -c 1` on a
//! busy machine). Fixed seed: every run sees the same cluster.
//!
//! Figures at 5fc8121 (Debian 12, 2 cores of an Intel Xeon VM shared with other jobs,
//! load 1.4-2, `taskset -c 1`, rustc 1.95), time per change, criterion's median:
//!
//! | change | planner node | planner cluster | engine node | engine cluster |
//! |---|---|---|---|---|
//! | endpoint moves | 9.7 µs | 15.7 µs | 9.8 µs | 22.5 µs |
//! | node NotReady | 3.1 ms | 13.2 ms | 3.8 ms | 63.7 ms |
//! | Service added | 1.4 µs | 3.4 µs | 3.1 µs | 40.1 µs |
//!
//! Node NotReady is the worst case of each mode: in node mode this node (every
//! LoadBalancer address withdrawn, 2,783 prefixes), in cluster mode any node (2,500
//! `Cluster` Services and the Local ones with endpoints there lose a path of ~100).
//! Heap: planner 15.9 MiB in node mode, 31.1 MiB in cluster mode (334 and 651 B per
//! endpoint); the engine with both peers 19.8 and 61.4 MiB (cluster mode: 278,783
//! paths). Initial sync through the first round: 42 ms and 167 ms.

// A counting global allocator needs `unsafe impl GlobalAlloc` (the trait is unsafe);
// that impl, which only forwards to `System`, is the only unsafe code in this file.
#![allow(unsafe_code)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_core::config::KubernetesMode;
use bgp_core::kubernetes::{
    Endpoint, EndpointSlice, KubeUpdate, KubernetesSettings, Node, ObjectKey, Planner, Service, TrafficPolicy,
};
use bgp_core::policy::Policy;
use bgp_core::prefix::Prefix;
use bgp_core::rib::engine::{Engine, SessionUp};
use bgp_core::rib::{PeerInfo, RibConfig};
use bgp_core::testkit::Rng;
use bgp_core::types::Family;
use bgp_core::wire::CodecCtx;
use criterion::{criterion_group, criterion_main, Criterion};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

const SERVICES: usize = 5_000;
const ENDPOINTS_PER_SERVICE: usize = 10;
const NODES: usize = 100;
const SEED: u64 = 0x6b75_6265_7270_6c6e; // "kuberpln"

struct Cluster {
    services: Vec<Service>,
    slices: Vec<EndpointSlice>,
    nodes: Vec<Node>,
}

fn node_name(i: usize) -> String {
    format!("node-{i}")
}

fn node(i: usize, ready: bool) -> Node {
    Node {
        key: ObjectKey::cluster(node_name(i)),
        ready,
        unschedulable: false,
        exclude_from_load_balancers: false,
        internal_ips: vec![
            IpAddr::V4(Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250 + 1) as u8)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i as u16 + 1)),
        ],
        pod_cidrs: vec![Prefix::of(IpAddr::V4(Ipv4Addr::new(10, 244, i as u8, 0)), 24).unwrap()],
    }
}

fn cluster() -> Cluster {
    let mut rng = Rng(SEED);
    let nodes = (0..NODES).map(|i| node(i, true)).collect();
    let mut services = Vec::with_capacity(SERVICES);
    let mut slices = Vec::with_capacity(SERVICES);
    for i in 0..SERVICES {
        let key = ObjectKey::namespaced(format!("ns-{}", i % 50), format!("svc-{i}"));
        let mut ingress = vec![IpAddr::V4(Ipv4Addr::new(172, 16, (i / 256) as u8, (i % 256) as u8))];
        if i % 10 == 0 {
            ingress.push(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16)));
        }
        let traffic_policy = if i % 2 == 0 { TrafficPolicy::Local } else { TrafficPolicy::Cluster };
        let endpoints = (0..ENDPOINTS_PER_SERVICE)
            .map(|_| Endpoint { node_name: Some(node_name(rng.below(NODES as u64) as usize)), ..Endpoint::default() })
            .collect();
        slices.push(EndpointSlice {
            key: ObjectKey::namespaced(key.namespace.clone(), format!("svc-{i}-x1y2z")),
            service: key.name.clone(),
            endpoints,
        });
        services.push(Service { key, ingress, traffic_policy, deleting: false });
    }
    Cluster { services, slices, nodes }
}

impl Cluster {
    fn updates(&self) -> Vec<KubeUpdate> {
        let nodes = self.nodes.iter().cloned().map(KubeUpdate::Node);
        let services = self.services.iter().cloned().map(KubeUpdate::Service);
        let slices = self.slices.iter().cloned().map(KubeUpdate::EndpointSlice);
        nodes.chain(services).chain(slices).collect()
    }
}

fn settings(mode: KubernetesMode) -> KubernetesSettings {
    let node_name = if mode == KubernetesMode::Node { node_name(0) } else { String::new() };
    KubernetesSettings { mode, node_name, load_balancers: true, pod_cidrs: true }
}

#[derive(Clone, Copy)]
enum Change {
    EndpointMoves,
    NodeNotReady,
    ServiceAdded,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::EndpointMoves => "endpoint_moves",
            Change::NodeNotReady => "node_not_ready",
            Change::ServiceAdded => "service_added",
        }
    }

    /// The `i`th change of this kind: (the updates measured, the updates that undo it,
    /// applied unmeasured). Endpoint moves are not undone: each is a move from where
    /// the endpoint is.
    fn make(self, c: &mut Cluster, mode: KubernetesMode, i: usize) -> (Vec<KubeUpdate>, Vec<KubeUpdate>) {
        match self {
            Change::EndpointMoves => {
                // A Local Service, spread over the table.
                let k = (i * 7919 * 2) % SERVICES;
                let slice = &mut c.slices[k];
                let e = &mut slice.endpoints[i % ENDPOINTS_PER_SERVICE];
                let from: usize = e.node_name.as_deref().unwrap()[5..].parse().unwrap();
                e.node_name = Some(node_name((from + 1 + i % 7) % NODES));
                (vec![KubeUpdate::EndpointSlice(slice.clone())], Vec::new())
            }
            Change::NodeNotReady => {
                let j = if mode == KubernetesMode::Node { 0 } else { i % NODES };
                (vec![KubeUpdate::Node(node(j, false))], vec![KubeUpdate::Node(node(j, true))])
            }
            Change::ServiceAdded => {
                let key = ObjectKey::namespaced("bench", format!("new-{i}"));
                let ip = IpAddr::V4(Ipv4Addr::new(10, 99, (i / 256 % 256) as u8, (i % 256) as u8));
                let s = Service {
                    key: key.clone(),
                    ingress: vec![ip],
                    traffic_policy: TrafficPolicy::Cluster,
                    deleting: false,
                };
                (vec![KubeUpdate::Service(s)], vec![KubeUpdate::ServiceDeleted(key)])
            }
        }
    }
}

const CHANGES: [Change; 3] = [Change::EndpointMoves, Change::NodeNotReady, Change::ServiceAdded];
const MODES: [KubernetesMode; 2] = [KubernetesMode::Node, KubernetesMode::Cluster];

fn rib_config() -> RibConfig {
    let id = Ipv4Addr::new(10, 0, 0, 250);
    RibConfig { local_as: 65000, router_id: id, cluster_id: id, multipath: 8, always_compare_med: false }
}

fn session(address: Ipv4Addr, asn: u32, add_path: bool) -> SessionUp {
    let families = [Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    let add_path = if add_path { families.into_iter().collect() } else { Default::default() };
    SessionUp {
        info: PeerInfo {
            address: address.into(),
            asn,
            router_id: address,
            internal: asn == 65000,
            rr_client: false,
            allow_as_in: 0,
        },
        ctx: CodecCtx { add_path, ..CodecCtx::modern() },
        families: families.to_vec(),
        local: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 250))),
        interface: vec![
            (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 250)), 16),
            (IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 250)), 64),
        ],
        next_hop_self: false,
        remove_private_as: false,
        graceful_restart: None,
        enhanced_refresh: false,
        import: Arc::new(Policy::accept_all()),
        export: Arc::new(Policy::accept_all()),
        max_prefixes: None,
        mrai: Duration::ZERO,
        room: usize::MAX / 2,
        long_lived: None,
    }
}

/// An engine with the router (eBGP, no ADD-PATH) and an iBGP peer with ADD-PATH send,
/// and the whole cluster announced to both.
fn engine(c: &Cluster, mode: KubernetesMode, now: Instant) -> Engine {
    let mut e = Engine::new(rib_config(), None);
    e.session_up(session(Ipv4Addr::new(10, 0, 0, 254), 64512, false), now);
    e.session_up(session(Ipv4Addr::new(10, 0, 0, 251), 65000, true), now);
    e.set_kubernetes(now, Some(settings(mode)));
    e.kubernetes(now, c.updates());
    round(&mut e, now);
    e
}

/// A decision round and its outputs drained; returns the messages' octets.
fn round(e: &mut Engine, now: Instant) -> usize {
    e.process(now);
    let mut octets = 0;
    while let Some(out) = e.poll_output() {
        if let bgp_core::rib::engine::Output::Send { bytes, .. } = out {
            octets += bytes.len();
        }
    }
    octets
}

fn mib(bytes: isize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The heap and the initial sync, printed once.
fn report() {
    let c = cluster();
    let endpoints: usize = c.slices.iter().map(|s| s.endpoints.len()).sum();
    println!(
        "kubernetes bench: {} Services ({} Local), {} EndpointSlices, {endpoints} endpoints, {} nodes",
        c.services.len(),
        c.services.iter().filter(|s| s.traffic_policy == TrafficPolicy::Local).count(),
        c.slices.len(),
        c.nodes.len()
    );
    for mode in MODES {
        let updates = c.updates();
        let before = live();
        let start = Instant::now();
        let mut planner = Planner::new(settings(mode));
        let changes = planner.update(updates);
        let took = start.elapsed();
        let (routes, paths) = (changes.len(), planner.routes().map(|(_, r)| r.next_hops.len().max(1)).sum::<usize>());
        drop(changes);
        let held = live() - before;
        println!(
            "  {mode:?} mode: initial sync {:.1} ms -> {routes} routes, {paths} paths; planner heap {:.1} MiB \
             ({:.0} B per endpoint)",
            took.as_secs_f64() * 1e3,
            mib(held),
            held as f64 / endpoints as f64
        );
        drop(planner);
        let before = live();
        let now = Instant::now();
        let start = Instant::now();
        let e = engine(&c, mode, now);
        let took = start.elapsed();
        let held = live() - before;
        println!(
            "  {mode:?} mode: engine (planner, RIB, 2 peers' Adj-RIB-Out) heap {:.1} MiB; initial sync \
             through the first round {:.1} ms",
            mib(held),
            took.as_secs_f64() * 1e3
        );
        drop(e);
    }
}

fn kubernetes(cr: &mut Criterion) {
    report();
    let mut group = cr.benchmark_group("planner");
    for mode in MODES {
        for change in CHANGES {
            let mut c = cluster();
            let mut planner = Planner::new(settings(mode));
            planner.update(c.updates());
            let mut i = 0;
            let id = format!("{}/{}", format!("{mode:?}").to_lowercase(), change.name());
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let mut took = Duration::ZERO;
                    for _ in 0..iters {
                        let (measured, undo) = change.make(&mut c, mode, i);
                        i += 1;
                        let start = Instant::now();
                        black_box(planner.update(measured));
                        took += start.elapsed();
                        planner.update(undo);
                    }
                    took
                });
            });
        }
    }
    group.finish();

    let mut group = cr.benchmark_group("engine");
    for mode in MODES {
        for change in CHANGES {
            let mut c = cluster();
            let now = Instant::now();
            let mut e = engine(&c, mode, now);
            let mut i = 0;
            let id = format!("{}/{}", format!("{mode:?}").to_lowercase(), change.name());
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let mut took = Duration::ZERO;
                    for _ in 0..iters {
                        let (measured, undo) = change.make(&mut c, mode, i);
                        i += 1;
                        let start = Instant::now();
                        e.kubernetes(now, measured);
                        black_box(round(&mut e, now));
                        took += start.elapsed();
                        e.kubernetes(now, undo);
                        round(&mut e, now);
                    }
                    took
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = kubernetes
}
criterion_main!(benches);
