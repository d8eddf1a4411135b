//! Codec throughput on a realistic full table: 1,000,000 IPv4 prefixes under about
//! 125,000 attribute sets and 200,000 IPv6 prefixes under about 25,000, encoded the
//! way the daemon sends them (one `AttrBlock` per set, `pack_announce` into 4096-octet
//! UPDATEs, 4-octet AS, no ADD-PATH) and decoded the way it receives them (`frame_len`,
//! `split_to(len).freeze()`, `decode_message`).
//!
//! Targets (one core): decode and encode at least 10 million prefixes/s each.
//! Criterion reports prefixes/s (`Throughput::Elements`); the bench also prints MB/s
//! and prefixes/s averaged over every iteration criterion ran.
//!
//! Run: `cargo bench -p bgp-core --bench codec` (pin it with `taskset -c 1` on a busy
//! machine). The table is generated from a fixed seed, so every run sees the same bytes.

use std::cell::Cell;
use std::collections::HashSet;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::time::{Duration, Instant};

use bgp_core::prefix::{Nlri, Prefix, Prefix4, Prefix6};
use bgp_core::types::Family;
use bgp_core::wire::{
    decode_message, frame_len, pack_announce, AsPath, AttrBlock, CodecCtx, Community, LargeCommunity, Message, NextHop,
    Origin, PathAttrs, Segment, SegmentType,
};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

const V4_PREFIXES: usize = 1_000_000;
const V6_PREFIXES: usize = 200_000;
const SEED: u64 = 0x6267_7063_6f64_6563; // "bgpcodec"

/// SplitMix64: small, fast, and good enough to make a table look random.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n below 2^32).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
    fn range(&mut self, r: Range<u64>) -> u64 {
        r.start + self.below(r.end - r.start)
    }
    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    /// A value from a `(value, weight)` table.
    fn weighted(&mut self, table: &[(u8, u32)]) -> u8 {
        let total: u32 = table.iter().map(|&(_, w)| w).sum();
        let mut x = self.below(u64::from(total)) as u32;
        for &(v, w) in table {
            if x < w {
                return v;
            }
            x -= w;
        }
        unreachable!("x < total")
    }
}

/// IPv4 prefix lengths, per mille. Roughly the shape of the 2024-2025 global table
/// (Huston's "BGP in 2024" reports, CIDR Report): /24 about 60%, /22 and /23 about
/// 20%, /16 to /21 about 15%, a few percent shorter than /16 or longer than /24
/// (the latter mostly leaked or customer routes).
const V4_LENGTHS: &[(u8, u32)] = &[
    (8, 1),
    (9, 1),
    (10, 1),
    (11, 1),
    (12, 2),
    (13, 2),
    (14, 3),
    (15, 4),
    (16, 20),
    (17, 10),
    (18, 16),
    (19, 28),
    (20, 45),
    (21, 46),
    (22, 115),
    (23, 95),
    (24, 600),
    (25, 3),
    (26, 2),
    (27, 2),
    (28, 1),
    (29, 1),
    (30, 1),
];

/// IPv6 prefix lengths, per mille: /48 about half the table, /32 to /44 most of the
/// rest (/32, /36, /40, /44 the common allocation and assignment sizes), a few /29,
/// /45-/47 and longer.
const V6_LENGTHS: &[(u8, u32)] = &[
    (29, 25),
    (30, 5),
    (31, 5),
    (32, 130),
    (33, 8),
    (34, 8),
    (35, 5),
    (36, 40),
    (37, 5),
    (38, 10),
    (39, 5),
    (40, 65),
    (41, 5),
    (42, 15),
    (43, 5),
    (44, 80),
    (45, 10),
    (46, 25),
    (47, 25),
    (48, 500),
    (56, 4),
    (64, 5),
];

/// AS_PATH lengths before prepending, per mille (mean about 4, as seen from a
/// transit feed).
const PATH_LENGTHS: &[(u8, u32)] = &[(1, 30), (2, 150), (3, 300), (4, 270), (5, 140), (6, 60), (7, 30), (8, 20)];

/// One attribute set and the prefixes announced with it.
struct Set {
    attrs: PathAttrs,
    next_hop: NextHop,
    family: Family,
    nlri: Range<usize>,
}

struct Table {
    nlri: Vec<Nlri>,
    sets: Vec<Set>,
    v4_sets: usize,
}

fn v4_prefixes(rng: &mut Rng, n: usize) -> Vec<Nlri> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = rng.weighted(V4_LENGTHS);
        // Unicast space only: 1.0.0.0 to 223.255.255.255.
        let addr = (rng.range(1..224) << 24 | rng.below(1 << 24)) as u32;
        let p = Prefix4::new(Ipv4Addr::from(addr), len).expect("length at most 32");
        if seen.insert(p) {
            out.push(Nlri::new(Prefix::V4(p)));
        }
    }
    out
}

fn v6_prefixes(rng: &mut Rng, n: usize) -> Vec<Nlri> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = rng.weighted(V6_LENGTHS);
        // Global unicast, 2000::/3.
        let addr = (u128::from(rng.next()) << 64 | u128::from(rng.next())) >> 3 | 1 << 125;
        let p = Prefix6::new(Ipv6Addr::from(addr), len).expect("length at most 128");
        if seen.insert(p) {
            out.push(Nlri::new(Prefix::V6(p)));
        }
    }
    out
}

/// Prefixes per attribute set: 1 to 30, skewed to small sets (many singletons, a few
/// large aggregates of one origin), mean about 8. A geometric distribution capped at 30.
fn set_size(rng: &mut Rng) -> usize {
    let mut n = 1;
    // Continue with probability 7/8 each step: mean 8 before the cap, 7.85 after.
    while n < 30 && rng.below(8) != 0 {
        n += 1;
    }
    n
}

fn asn(rng: &mut Rng) -> u32 {
    // About 55% of the ASes in today's paths still have 2-octet numbers.
    if rng.percent(55) {
        rng.range(1..64_496) as u32
    } else {
        rng.range(131_072..402_000) as u32
    }
}

fn attrs(rng: &mut Rng, neighbor_as: u32) -> PathAttrs {
    let hops = usize::from(rng.weighted(PATH_LENGTHS));
    let mut asns = vec![neighbor_as];
    while asns.len() < hops {
        asns.push(asn(rng));
    }
    // About 10% of routes carry a prepend of the origin AS, 1 to 3 times, kept
    // within 8 ASes.
    if rng.percent(10) {
        let origin = *asns.last().expect("at least the neighbor");
        for _ in 0..rng.range(1..4) {
            if asns.len() < 8 {
                asns.push(origin);
            }
        }
    }
    let mut path = AsPath::default();
    path.push(Segment { kind: SegmentType::Sequence, asns });

    let communities = if rng.percent(35) {
        Vec::new()
    } else {
        let n = rng.range(1..7);
        let mut c: Vec<Community> =
            (0..n).map(|_| Community((neighbor_as & 0xffff) << 16 | rng.below(4000) as u32)).collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let large_communities = if rng.percent(15) {
        (0..rng.range(1..4))
            .map(|_| LargeCommunity {
                global: neighbor_as,
                local1: rng.below(100) as u32,
                local2: rng.below(1000) as u32,
            })
            .collect()
    } else {
        Vec::new()
    };
    PathAttrs {
        origin: Some(match rng.below(100) {
            0..85 => Origin::Igp,
            85 => Origin::Egp,
            _ => Origin::Incomplete,
        }),
        as_path: Some(path),
        med: rng.percent(30).then(|| rng.below(1000) as u32),
        communities,
        large_communities,
        ..PathAttrs::default()
    }
}

fn table() -> Table {
    let mut rng = Rng(SEED);
    let neighbor_as = 64_500;
    let mut nlri = v4_prefixes(&mut rng, V4_PREFIXES);
    nlri.extend(v6_prefixes(&mut rng, V6_PREFIXES));

    let v4_next_hops = [Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)];
    let v6_next_hops: [Ipv6Addr; 2] = ["2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap()];
    let mut sets = Vec::new();
    let mut v4_sets = 0;
    for (family, span) in [(Family::IPV4_UNICAST, 0..V4_PREFIXES), (Family::IPV6_UNICAST, V4_PREFIXES..nlri.len())] {
        let mut at = span.start;
        while at < span.end {
            let end = (at + set_size(&mut rng)).min(span.end);
            let pick = rng.below(2) as usize;
            let next_hop = if family == Family::IPV4_UNICAST {
                v4_sets += 1;
                NextHop::V4(v4_next_hops[pick])
            } else {
                NextHop::V6 { global: v6_next_hops[pick], link_local: None }
            };
            sets.push(Set { attrs: attrs(&mut rng, neighbor_as), next_hop, family, nlri: at..end });
            at = end;
        }
    }
    Table { nlri, sets, v4_sets }
}

/// The sending path: each set's attributes encoded once, its prefixes packed into as
/// few UPDATEs as fit. Returns the number of messages.
fn encode(sets: &[Set], nlri: &[Nlri], ctx: &CodecCtx, out: &mut BytesMut) -> usize {
    let mut messages = 0;
    for set in sets {
        let block = AttrBlock::encode(&set.attrs, ctx);
        messages += pack_announce(out, ctx, &block, set.family, &set.next_hop, &nlri[set.nlri.clone()])
            .expect("every set packs");
    }
    messages
}

/// The receiving path: frame by frame, as the daemon reads them. Returns the number
/// of prefixes announced.
fn decode(mut buf: BytesMut, ctx: &CodecCtx) -> usize {
    let mut prefixes = 0;
    while let Some(len) = frame_len(&buf, ctx).expect("valid header") {
        if buf.len() < len {
            break;
        }
        let frame = buf.split_to(len).freeze();
        match decode_message(&frame, ctx).expect("valid message") {
            Message::Update(u) => {
                prefixes += u.nlri.len() + u.attrs.mp_reach.as_ref().map_or(0, |r| r.nlri.len());
                black_box(&u);
            }
            other => panic!("unexpected {:?}", other.message_type()),
        }
    }
    assert!(buf.is_empty(), "the stream ends on a message boundary");
    prefixes
}

/// Total time and iterations of every run criterion made, for the MB/s line.
#[derive(Default)]
struct Tally {
    time: Cell<Duration>,
    iters: Cell<u64>,
}

impl Tally {
    fn add(&self, time: Duration, iters: u64) {
        self.time.set(self.time.get() + time);
        self.iters.set(self.iters.get() + iters);
    }
    fn report(&self, what: &str, prefixes: usize, bytes: usize) {
        if self.iters.get() == 0 {
            return; // filtered out
        }
        let secs = self.time.get().as_secs_f64() / self.iters.get() as f64;
        println!(
            "{what}: {:.2} M prefixes/s, {:.1} MB/s ({:.1} ms per table, mean of {} iterations)",
            prefixes as f64 / secs / 1e6,
            bytes as f64 / secs / 1e6,
            secs * 1e3,
            self.iters.get()
        );
    }
}

fn codec(c: &mut Criterion) {
    let started = Instant::now();
    let table = table();
    let ctx = CodecCtx::modern();
    let prefixes = table.nlri.len();

    let mut out = BytesMut::new();
    let v4_messages = encode(&table.sets[..table.v4_sets], &table.nlri, &ctx, &mut out);
    let v4_bytes = out.len();
    let messages = v4_messages + encode(&table.sets[table.v4_sets..], &table.nlri, &ctx, &mut out);
    let stream: Bytes = out.split().freeze();
    assert_eq!(decode(BytesMut::from(&stream[..]), &ctx), prefixes, "every prefix decodes");
    // The decoded routes are exactly the generated ones, in order.
    {
        let mut buf = BytesMut::from(&stream[..]);
        let mut got = Vec::with_capacity(prefixes);
        while let Some(len) = frame_len(&buf, &ctx).unwrap() {
            let frame = buf.split_to(len).freeze();
            let Message::Update(u) = decode_message(&frame, &ctx).unwrap() else { unreachable!() };
            assert!(u.errors.is_empty(), "{:?}", u.errors);
            got.extend(u.announcements().map(|(_, n)| *n));
        }
        assert!(got == table.nlri, "decoded NLRI differ from the generated table");
    }
    let v4_lens = table.nlri[..V4_PREFIXES].iter().filter(|n| n.prefix.prefix_len() == 24).count();
    println!(
        "table: {} IPv4 prefixes ({:.1}% /24) in {} attribute sets, {} IPv6 prefixes in {} sets; \
         stream: {} UPDATEs ({} IPv4, {} IPv6), {} octets ({} IPv4, {} IPv6), {:.2} prefixes per UPDATE; \
         generated in {:.1} s",
        V4_PREFIXES,
        v4_lens as f64 * 100.0 / V4_PREFIXES as f64,
        table.v4_sets,
        V6_PREFIXES,
        table.sets.len() - table.v4_sets,
        messages,
        v4_messages,
        messages - v4_messages,
        stream.len(),
        v4_bytes,
        stream.len() - v4_bytes,
        prefixes as f64 / messages as f64,
        started.elapsed().as_secs_f64()
    );

    let mut group = c.benchmark_group("codec");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(prefixes as u64));

    let decode_tally = Tally::default();
    group.bench_function("decode_full_table", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // The copy stands in for the socket read and is not timed.
                let buf = BytesMut::from(&stream[..]);
                let t = Instant::now();
                let n = decode(buf, &ctx);
                total += t.elapsed();
                assert_eq!(black_box(n), prefixes);
            }
            decode_tally.add(total, iters);
            total
        })
    });

    let encode_tally = Tally::default();
    // One write buffer reused across iterations, as a session's would be.
    let mut out = BytesMut::with_capacity(stream.len());
    group.bench_function("encode_full_table", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                out.clear();
                let t = Instant::now();
                let m = encode(&table.sets, &table.nlri, &ctx, &mut out);
                total += t.elapsed();
                assert_eq!(black_box(m), messages);
            }
            encode_tally.add(total, iters);
            total
        })
    });
    group.finish();
    // Empty when a filter skipped the encode benchmark.
    assert!(out.is_empty() || out[..] == stream[..], "encoding is deterministic");

    decode_tally.report("decode", prefixes, stream.len());
    encode_tally.report("encode", prefixes, stream.len());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = codec
}
criterion_main!(benches);
