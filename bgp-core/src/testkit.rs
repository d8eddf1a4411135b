//! Deterministic, Internet-like routing tables for the codec benchmark
//! (`benches/codec.rs`) and the end-to-end benchmark (`interop/src/table.rs`): one
//! generator, so both measure the same kind of table. Not part of the speaker's API.
//!
//! Prefix lengths follow the global table (about 60% /24 for IPv4, half /48 for IPv6),
//! AS paths are 1 to 8 ASNs starting with the neighbor's AS (about 10% prepended),
//! communities, large communities and MED sit on a share of the routes, and an attribute
//! set holds about 8 prefixes (geometric, 1 to 30).

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use crate::prefix::{Nlri, Prefix, Prefix4, Prefix6};
use crate::wire::{AsPath, Community, LargeCommunity, Origin, PathAttrs, Segment, SegmentType};

/// SplitMix64: small, fast, and good enough to make a table look random.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n below 2^32).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() >> 32) * n) >> 32
    }
    pub fn range(&mut self, r: Range<u64>) -> u64 {
        r.start + self.below(r.end - r.start)
    }
    pub fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    /// A value from a `(value, weight)` table.
    pub fn weighted(&mut self, table: &[(u8, u32)]) -> u8 {
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
pub const V4_LENGTHS: &[(u8, u32)] = &[
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
pub const PATH_LENGTHS: &[(u8, u32)] = &[(1, 30), (2, 150), (3, 300), (4, 270), (5, 140), (6, 60), (7, 30), (8, 20)];

/// IPv6 prefix lengths, per mille: /48 about half the table, /32 to /44 most of the
/// rest (/32, /36, /40, /44 the common allocation and assignment sizes), a few /29,
/// /45-/47 and longer.
pub const V6_LENGTHS: &[(u8, u32)] = &[
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

pub fn v4_prefixes(rng: &mut Rng, n: usize, skip: &[u64]) -> Vec<Nlri> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = rng.weighted(V4_LENGTHS);
        // Unicast space only: 1.0.0.0 to 223.255.255.255, without the /8s in `skip`
        // (a table fed to BIRD leaves out 127/8, which it drops as bogus).
        let first = rng.range(1..224);
        if skip.contains(&first) {
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
pub fn set_size(rng: &mut Rng) -> usize {
    let mut n = 1;
    // Continue with probability 7/8 each step: mean 8 before the cap, 7.85 after.
    while n < 30 && rng.below(8) != 0 {
        n += 1;
    }
    n
}

pub fn asn(rng: &mut Rng) -> u32 {
    // About 55% of the ASes in today's paths still have 2-octet numbers. Neither range
    // holds the private ASNs the benchmarks give their speakers (64512-65534).
    if rng.percent(55) {
        rng.range(1..64_496) as u32
    } else {
        rng.range(131_072..402_000) as u32
    }
}

pub fn attrs(rng: &mut Rng, neighbor_as: u32) -> PathAttrs {
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

pub fn v6_prefixes(rng: &mut Rng, n: usize) -> Vec<Nlri> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = rng.weighted(V6_LENGTHS);
        // Global unicast, 2000::/3.
        let addr = (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())) >> 3 | 1 << 125;
        let p = Prefix6::new(Ipv6Addr::from(addr), len).expect("length at most 128");
        if seen.insert(p) {
            out.push(Nlri::new(Prefix::V6(p)));
        }
    }
    out
}
