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
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::time::{Duration, Instant};

use bgp_core::prefix::Nlri;
use bgp_core::testkit::{attrs, set_size, v4_prefixes, v6_prefixes, Rng};
use bgp_core::types::Family;
use bgp_core::wire::{decode_message, frame_len, pack_announce, AttrBlock, CodecCtx, Message, NextHop, PathAttrs};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

const V4_PREFIXES: usize = 1_000_000;
const V6_PREFIXES: usize = 200_000;
const SEED: u64 = 0x6267_7063_6f64_6563; // "bgpcodec"

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

fn table() -> Table {
    let mut rng = Rng(SEED);
    let neighbor_as = 64_500;
    let mut nlri = v4_prefixes(&mut rng, V4_PREFIXES, &[]);
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
