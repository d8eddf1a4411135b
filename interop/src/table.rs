//! A realistic IPv4 table for end-to-end benchmarks: the generator of
//! `bgp-core/benches/codec.rs`, copied (the bench is unchanged) and reduced to IPv4,
//! with one change: no prefix in 127/8 or 10/8 (see `v4_prefixes`).
//!
//! Deterministic: the same [`TableSpec`] always gives the same prefixes, attributes and
//! bytes. Internet-like prefix lengths (about 60% /24), AS paths of 1 to 8 ASNs that
//! start with the neighbor's AS, about 10% with a prepended origin, communities, large
//! communities and MED on a share of the routes, and about 8 prefixes per attribute set
//! (geometric, 1 to 30). The table is a list of [`Group`]s: one attribute set (with its
//! next hop) and the prefixes announced with it.
//!
//! Encoded the way a speaker sends a table: one [`AttrBlock`] per group and
//! [`pack_announce`] into as few UPDATEs as fit (one group never shares an UPDATE with
//! another), or [`pack_withdraw`] over all prefixes.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::ops::Range;

use bgp_core::prefix::{Nlri, Prefix, Prefix4};
use bgp_core::types::Family;
use bgp_core::wire::{
    pack_announce, pack_withdraw, AsPath, AttrBlock, CodecCtx, Community, EncodeError, LargeCommunity, Message,
    NextHop, Origin, PathAttrs, Segment, SegmentType, Update,
};
use bytes::BytesMut;

/// The codec bench's seed ("bgpcodec").
pub const DEFAULT_SEED: u64 = 0x6267_7063_6f64_6563;

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

/// AS_PATH lengths before prepending, per mille (mean about 4, as seen from a
/// transit feed).
const PATH_LENGTHS: &[(u8, u32)] = &[(1, 30), (2, 150), (3, 300), (4, 270), (5, 140), (6, 60), (7, 30), (8, 20)];

/// What to generate.
#[derive(Clone, Debug)]
pub struct TableSpec {
    /// Number of distinct IPv4 prefixes.
    pub prefixes: usize,
    pub seed: u64,
    /// First AS of every path (the feeding neighbor's AS), also the high half of the
    /// communities and the global administrator of the large communities.
    pub neighbor_as: u32,
    /// Each group picks one of these at random as its NEXT_HOP (at least one).
    pub next_hops: Vec<Ipv4Addr>,
    /// LOCAL_PREF of every route: required on iBGP sessions (RFC 4271 §5.1.5; FRR
    /// treats UPDATEs without it as withdrawals), not sent on eBGP ones (`None`).
    pub local_pref: Option<u32>,
}

impl TableSpec {
    /// `prefixes` prefixes from [`DEFAULT_SEED`], paths starting with `neighbor_as`,
    /// all with next hop `next_hop`.
    pub fn new(prefixes: usize, neighbor_as: u32, next_hop: Ipv4Addr) -> TableSpec {
        TableSpec { prefixes, seed: DEFAULT_SEED, neighbor_as, next_hops: vec![next_hop], local_pref: None }
    }
}

/// One attribute set and the prefixes announced with it.
#[derive(Clone, Debug)]
pub struct Group {
    pub attrs: PathAttrs,
    pub next_hop: NextHop,
    /// Indices into [`Table::prefixes`].
    pub range: Range<usize>,
}

/// A generated table: every prefix once, in groups of one attribute set each.
#[derive(Clone, Debug)]
pub struct Table {
    /// All prefixes, distinct, in the order they are announced.
    pub prefixes: Vec<Nlri>,
    pub groups: Vec<Group>,
}

fn v4_prefixes(rng: &mut Rng, n: usize) -> Vec<Nlri> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = rng.weighted(V4_LENGTHS);
        // Unicast space only: 1.0.0.0 to 223.255.255.255, without 127/8 (loopback:
        // BIRD drops such routes as bogus) and 10/8 (private, and home of the
        // benchmark's own links). The codec bench draws from all of 1..224.
        let first = rng.range(1..224);
        if first == 127 || first == 10 {
            continue;
        }
        let addr = (first << 24 | rng.below(1 << 24)) as u32;
        let p = Prefix4::new(Ipv4Addr::from(addr), len).expect("length at most 32");
        if seen.insert(p) {
            out.push(Nlri::new(Prefix::V4(p)));
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
    // About 55% of the ASes in today's paths still have 2-octet numbers. Neither range
    // holds the private ASNs the benchmarks give their speakers (64512-65534).
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

impl Table {
    pub fn generate(spec: &TableSpec) -> Table {
        assert!(!spec.next_hops.is_empty(), "a table needs at least one next hop");
        let mut rng = Rng(spec.seed);
        let prefixes = v4_prefixes(&mut rng, spec.prefixes);
        let mut groups = Vec::with_capacity(spec.prefixes / 7 + 1);
        let mut at = 0;
        while at < prefixes.len() {
            let end = (at + set_size(&mut rng)).min(prefixes.len());
            let pick = rng.below(spec.next_hops.len() as u64) as usize;
            let next_hop = NextHop::V4(spec.next_hops[pick]);
            let attrs = PathAttrs { local_pref: spec.local_pref, ..attrs(&mut rng, spec.neighbor_as) };
            groups.push(Group { attrs, next_hop, range: at..end });
            at = end;
        }
        Table { prefixes, groups }
    }

    /// The prefixes of one group.
    pub fn group_prefixes(&self, group: &Group) -> &[Nlri] {
        &self.prefixes[group.range.clone()]
    }

    /// Appends the UPDATEs announcing the whole table (one attribute block per group,
    /// as many prefixes per UPDATE as fit `ctx`'s size limit). Returns the number of
    /// messages.
    pub fn encode_announce(&self, ctx: &CodecCtx, out: &mut BytesMut) -> Result<usize, EncodeError> {
        let mut messages = 0;
        for g in &self.groups {
            let block = AttrBlock::encode(&g.attrs, ctx);
            messages += pack_announce(out, ctx, &block, Family::IPV4_UNICAST, &g.next_hop, self.group_prefixes(g))?;
        }
        Ok(messages)
    }

    /// Appends the UPDATEs withdrawing every prefix, in table order, as many per
    /// message as fit. Returns the number of messages.
    pub fn encode_withdraw(&self, ctx: &CodecCtx, out: &mut BytesMut) -> Result<usize, EncodeError> {
        pack_withdraw(out, ctx, Family::IPV4_UNICAST, &self.prefixes)
    }

    /// Appends the IPv4 unicast End-of-RIB marker (RFC 4724 §2).
    pub fn encode_end_of_rib(ctx: &CodecCtx, out: &mut BytesMut) -> Result<(), EncodeError> {
        Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)).encode(ctx, out)
    }

    /// Share of /24 prefixes, in percent.
    pub fn percent_len24(&self) -> f64 {
        let n = self.prefixes.iter().filter(|n| n.prefix.prefix_len() == 24).count();
        n as f64 * 100.0 / self.prefixes.len().max(1) as f64
    }

    /// Mean number of prefixes per attribute set.
    pub fn mean_group_size(&self) -> f64 {
        self.prefixes.len() as f64 / self.groups.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_core::wire::{decode_stream, Message};

    fn spec(n: usize) -> TableSpec {
        TableSpec {
            prefixes: n,
            seed: DEFAULT_SEED,
            neighbor_as: 65001,
            next_hops: vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
            local_pref: None,
        }
    }

    #[test]
    fn deterministic_and_realistic() {
        let a = Table::generate(&spec(20_000));
        let b = Table::generate(&spec(20_000));
        assert_eq!(a.prefixes, b.prefixes);
        let ctx = CodecCtx::modern();
        let (mut x, mut y) = (BytesMut::new(), BytesMut::new());
        a.encode_announce(&ctx, &mut x).unwrap();
        b.encode_announce(&ctx, &mut y).unwrap();
        assert_eq!(x, y, "same spec, same bytes");

        let distinct: HashSet<_> = a.prefixes.iter().collect();
        assert_eq!(distinct.len(), 20_000);
        for n in &a.prefixes {
            let Prefix::V4(p) = n.prefix else { panic!("IPv6 in an IPv4 table") };
            let first = p.addr().octets()[0];
            assert!((1..224).contains(&first) && first != 127 && first != 10, "{p}");
        }
        let p24 = a.percent_len24();
        assert!((55.0..65.0).contains(&p24), "{p24}% /24");
        let mean = a.mean_group_size();
        assert!((7.0..9.0).contains(&mean), "{mean} prefixes per set");
        for g in &a.groups {
            let path = &g.attrs.as_path.as_ref().unwrap().segments[0].asns;
            assert!((1..=8).contains(&path.len()) && path[0] == 65001, "{path:?}");
        }
        // A different seed gives a different table.
        let c = Table::generate(&TableSpec { seed: 1, ..spec(1000) });
        assert_ne!(c.prefixes, a.prefixes[..1000]);
    }

    #[test]
    fn encodes_and_decodes_back() {
        let t = Table::generate(&spec(5_000));
        let ctx = CodecCtx::modern();
        let mut buf = BytesMut::new();
        let m = t.encode_announce(&ctx, &mut buf).unwrap();
        assert!(m >= t.groups.len());
        let mut msgs = Vec::new();
        decode_stream(&mut buf, &ctx, &mut msgs).unwrap();
        assert!(buf.is_empty());
        let got: Vec<Nlri> = msgs
            .iter()
            .flat_map(|m| match m {
                Message::Update(u) => u.nlri.clone(),
                _ => panic!("not an UPDATE"),
            })
            .collect();
        assert_eq!(got, t.prefixes);
        let Message::Update(first) = &msgs[0] else { unreachable!() };
        assert_eq!(first.attrs.local_pref, None);

        let ibgp = Table::generate(&TableSpec { local_pref: Some(100), ..spec(100) });
        assert_eq!(ibgp.prefixes, t.prefixes[..100], "LOCAL_PREF changes nothing else");
        ibgp.encode_announce(&ctx, &mut buf).unwrap();
        msgs.clear();
        decode_stream(&mut buf, &ctx, &mut msgs).unwrap();
        assert!(msgs.iter().all(|m| matches!(m, Message::Update(u) if u.attrs.local_pref == Some(100))));

        t.encode_withdraw(&ctx, &mut buf).unwrap();
        Table::encode_end_of_rib(&ctx, &mut buf).unwrap();
        msgs.clear();
        decode_stream(&mut buf, &ctx, &mut msgs).unwrap();
        let withdrawn: usize = msgs
            .iter()
            .map(|m| match m {
                Message::Update(u) => u.withdrawn.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(withdrawn, t.prefixes.len());
        let Some(Message::Update(eor)) = msgs.last() else { panic!("no End-of-RIB") };
        assert_eq!(eor.end_of_rib_family(), Some(Family::IPV4_UNICAST));
    }
}
