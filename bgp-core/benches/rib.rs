//! The RIB's cost per route, apart from sockets and the runtime: 1,000,000 IPv4 routes
//! in about 127,000 attribute sets (the e2e benchmark's table) go through the path the
//! daemon's RIB task takes — `apply_update` with an accept-all import, `decide`, one
//! eBGP update group packing everything, then a full withdrawal.
//!
//! It reports heap bytes per route held by the RIB (Loc-RIB, Adj-RIB-In and the
//! interned attribute sets) and by the group's Adj-RIB-Out (sent handles, encoded
//! sets, memo), counted by a counting global allocator, and the time of each phase.
//!
//! Run: `cargo bench -p bgp-core --bench rib` (pin it with `taskset -c 1` on a busy
//! machine). Fixed seed: every run sees the same table.

// A counting global allocator needs `unsafe impl GlobalAlloc` (the trait is unsafe);
// that impl, which only forwards to `System`, is the only unsafe code in this file.
#![allow(unsafe_code)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use bgp_core::policy::Policy;
use bgp_core::prefix::Nlri;
use bgp_core::rib::export::ExportTarget;
use bgp_core::rib::out::UpdateGroup;
use bgp_core::rib::{Import, PeerInfo, RibConfig, RibState, SourceKind};
use bgp_core::testkit::{attrs, set_size, v4_prefixes, Rng};
use bgp_core::types::Family;
use bgp_core::wire::{CodecCtx, Update};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

const ROUTES: usize = 1_000_000;
const SEED: u64 = 0x6267_7072_6962_0001;
const US: u32 = 65000;
const FEEDER_AS: u32 = 65001;

fn peer(address: Ipv4Addr, asn: u32) -> PeerInfo {
    PeerInfo { address: address.into(), asn, router_id: address, internal: false, rr_client: false, allow_as_in: 0 }
}

fn main() {
    // Like `cargo bench` with criterion: `cargo test --benches` runs this with no
    // `--bench` flag and expects it to be quick.
    let routes = if std::env::args().any(|a| a == "--bench") { ROUTES } else { 10_000 };
    let mut rng = Rng(SEED);
    let prefixes = v4_prefixes(&mut rng, routes, &[127]);
    let mut updates = Vec::new();
    let mut rest: &[Nlri] = &prefixes;
    while !rest.is_empty() {
        let n = set_size(&mut rng).min(rest.len());
        let mut a = attrs(&mut rng, FEEDER_AS);
        a.next_hop = Some(Ipv4Addr::new(10, 78, 1, 2));
        updates.push(Update { nlri: rest[..n].to_vec(), attrs: a, ..Update::default() });
        rest = &rest[n..];
    }
    let withdrawals: Vec<Update> =
        updates.iter().map(|u| Update { withdrawn: u.nlri.clone(), ..Update::default() }).collect();

    let cfg = RibConfig {
        local_as: US,
        router_id: Ipv4Addr::new(10, 78, 1, 1),
        cluster_id: Ipv4Addr::new(10, 78, 1, 1),
        multipath: 1,
        always_compare_med: false,
    };
    let base = live();
    let mut rib = RibState::new(cfg);
    let feeder = rib.add_source(SourceKind::Peer(peer(Ipv4Addr::new(10, 78, 1, 2), FEEDER_AS)));
    let sink_info = peer(Ipv4Addr::new(10, 78, 2, 10), 65002);
    let sink = rib.add_source(SourceKind::Peer(sink_info.clone()));

    let t = Instant::now();
    let mut changes = 0;
    for chunk in updates.chunks(256) {
        for u in chunk {
            rib.apply_update(feeder, u, &mut |_, _| Import::Accept);
        }
        changes += rib.decide().len();
    }
    let load = t.elapsed();
    assert_eq!(changes, routes);
    let rib_bytes = live() - base;

    let target = ExportTarget {
        source: sink,
        peer: sink_info,
        next_hop_self: false,
        remove_private_as: false,
        local_v4: Some(Ipv4Addr::new(10, 78, 2, 1)),
        local_v6: None,
        shared_subnets: vec![(Ipv4Addr::new(10, 78, 2, 1).into(), 24)],
        long_lived: false,
        drained: false,
    };
    let ctx = CodecCtx { four_octet_as: true, external: true, ..CodecCtx::default() };
    let mut group = UpdateGroup::new(target, Arc::new(Policy::accept_all()), ctx, vec![Family::IPV4_UNICAST]);
    let before_group = live();
    let t = Instant::now();
    let (mut octets, mut out_peak) = (0, 0);
    loop {
        let packed = group.pack(&rib, 4096, false);
        if packed.visited == 0 {
            break;
        }
        octets += packed.batches.iter().map(|b| b.bytes.len()).sum::<usize>();
        out_peak = out_peak.max(live() - before_group);
    }
    let pack = t.elapsed();
    let group_bytes = live() - before_group;
    assert_eq!(group.advertised_to(sink), routes);

    let t = Instant::now();
    let mut withdrawn = 0;
    for chunk in withdrawals.chunks(256) {
        for u in chunk {
            rib.apply_update(feeder, u, &mut |_, _| Import::Accept);
        }
        for c in rib.decide() {
            group.queue_change(&c);
        }
        loop {
            let packed = group.pack(&rib, 4096, false);
            if packed.visited == 0 {
                break;
            }
            withdrawn += packed.visited;
        }
        rib.reclaim(|id| group.in_use(id));
    }
    let withdraw = t.elapsed();
    assert_eq!(withdrawn, routes);
    assert_eq!(group.advertised_to(sink), 0);

    let per = |b: isize| b as f64 / routes as f64;
    let rate = |d: std::time::Duration| routes as f64 / d.as_secs_f64() / 1e6;
    println!("rib bench: {routes} IPv4 routes in {} attribute sets, one eBGP update group", updates.len());
    println!("  RIB (Loc-RIB, Adj-RIB-In, attribute sets): {:.0} bytes/route", per(rib_bytes));
    println!(
        "  Adj-RIB-Out of the group (handles, encoded sets, memo): {:.0} bytes/route (peak while packing {:.0})",
        per(group_bytes),
        per(out_peak)
    );
    println!("  load (apply_update + decide): {:.3} s, {:.2} M routes/s", load.as_secs_f64(), rate(load));
    println!(
        "  pack the table for the group: {:.3} s, {:.2} M routes/s, {} octets",
        pack.as_secs_f64(),
        rate(pack),
        octets
    );
    println!(
        "  withdraw (apply_update + decide + pack + reclaim): {:.3} s, {:.2} M routes/s",
        withdraw.as_secs_f64(),
        rate(withdraw)
    );
}
