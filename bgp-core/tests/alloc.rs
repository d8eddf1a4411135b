//! Allocations stay bounded per message, not per prefix: decoding an UPDATE sizes each
//! NLRI vector once (IPv4 in the NLRI field, IPv6 in MP_REACH_NLRI), and packing into
//! a write buffer with room allocates nothing.

// A counting global allocator needs `unsafe impl GlobalAlloc` (the trait is unsafe);
// that impl, which only forwards to `System`, is the only unsafe code in this file.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bgp_core::prefix::{Nlri, Prefix, Prefix4, Prefix6};
use bgp_core::types::Family;
use bgp_core::wire::{
    decode_message, pack_announce, pack_withdraw, AsPath, AttrBlock, CodecCtx, Community, LargeCommunity, Message,
    NextHop, Origin, PathAttrs,
};
use bytes::{Bytes, BytesMut};

/// Counts every allocation and reallocation, then lets `System` do the work.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter is process-wide: tests take turns, and each figure is the least of a
/// few runs, so an allocation by the test harness on another thread cannot inflate it.
static SERIAL: Mutex<()> = Mutex::new(());

fn allocations<T>(mut f: impl FnMut() -> T) -> usize {
    (0..5)
        .map(|_| {
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            let out = f();
            let n = ALLOCATIONS.load(Ordering::SeqCst) - before;
            drop(out);
            n
        })
        .min()
        .expect("five runs")
}

fn attrs() -> PathAttrs {
    PathAttrs {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(vec![64500, 4_200_000_001, 13335])),
        med: Some(10),
        communities: vec![Community(64500 << 16 | 100), Community(64500 << 16 | 200)],
        large_communities: vec![LargeCommunity { global: 64500, local1: 1, local2: 2 }],
        ..PathAttrs::default()
    }
}

/// `n` distinct IPv4 /24s (4 octets each on the wire).
fn v4(n: usize) -> Vec<Nlri> {
    (0..n as u32)
        .map(|i| Nlri::new(Prefix::V4(Prefix4::new(Ipv4Addr::from(0x0a00_0000 | i << 8), 24).unwrap())))
        .collect()
}

/// `n` distinct IPv6 /24s (4 octets each on the wire).
fn v6(n: usize) -> Vec<Nlri> {
    (0..n as u128)
        .map(|i| Nlri::new(Prefix::V6(Prefix6::new(Ipv6Addr::from(0x2001_0000u128 << 96 | i << 104), 24).unwrap())))
        .collect()
}

fn next_hop(family: Family) -> NextHop {
    if family == Family::IPV4_UNICAST {
        NextHop::V4(Ipv4Addr::new(192, 0, 2, 1))
    } else {
        NextHop::V6 { global: "2001:db8::1".parse().unwrap(), link_local: None }
    }
}

/// One UPDATE announcing `nlri` with the same attributes every time.
fn update(ctx: &CodecCtx, family: Family, nlri: &[Nlri]) -> Bytes {
    let mut out = BytesMut::new();
    let block = AttrBlock::encode(&attrs(), ctx);
    assert_eq!(pack_announce(&mut out, ctx, &block, family, &next_hop(family), nlri), Ok(1), "one message");
    out.freeze()
}

fn announced(frame: &Bytes, ctx: &CodecCtx) -> usize {
    let Ok(Message::Update(u)) = decode_message(frame, ctx) else { panic!("not an UPDATE") };
    assert!(u.errors.is_empty(), "{:?}", u.errors);
    u.announcements().count()
}

fn decode_cost_is_per_message(family: Family) {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ctx = CodecCtx::modern();
    let make = if family == Family::IPV4_UNICAST { v4 } else { v6 };
    let one = update(&ctx, family, &make(1));
    let many = update(&ctx, family, &make(900));
    assert_eq!(announced(&one, &ctx), 1);
    assert_eq!(announced(&many, &ctx), 900);

    let for_one = allocations(|| decode_message(&one, &ctx));
    let for_many = allocations(|| decode_message(&many, &ctx));
    assert_eq!(for_one, for_many, "{family}: decoding 900 NLRI allocates more than decoding 1");
    // NLRI vector, AS_PATH (2), COMMUNITIES, LARGE_COMMUNITY, and sharing the frame:
    // a handful, whatever the prefix count.
    assert!(for_one <= 8, "{family}: {for_one} allocations for one UPDATE");
}

#[test]
fn decoding_ipv4_nlri_field_allocates_the_same_for_1_and_900_prefixes() {
    decode_cost_is_per_message(Family::IPV4_UNICAST);
}

#[test]
fn decoding_ipv6_mp_reach_allocates_the_same_for_1_and_900_prefixes() {
    decode_cost_is_per_message(Family::IPV6_UNICAST);
}

#[test]
fn packing_into_a_reserved_buffer_allocates_nothing() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ctx = CodecCtx::modern();
    let block = AttrBlock::encode(&attrs(), &ctx);
    for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        let make = if family == Family::IPV4_UNICAST { v4 } else { v6 };
        let nh = next_hop(family);
        for n in [1, 900, 10_000] {
            let nlri = make(n);
            // Room for everything: the packer needs at most one message of headroom.
            let mut out = BytesMut::with_capacity(16 * n + 8192);
            let announce = allocations(|| {
                out.clear();
                pack_announce(&mut out, &ctx, &block, family, &nh, &nlri).unwrap()
            });
            assert_eq!(announce, 0, "{family}: packing {n} announcements allocated");
            let withdraw = allocations(|| {
                out.clear();
                pack_withdraw(&mut out, &ctx, family, &nlri).unwrap()
            });
            assert_eq!(withdraw, 0, "{family}: packing {n} withdrawals allocated");
        }
    }
}
