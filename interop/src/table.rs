//! A realistic IPv4 table for end-to-end benchmarks, from the generator the codec bench
//! uses too (`bgp_core::testkit`), with no prefix in 127/8 (BIRD drops it as bogus) or
//! 10/8 (private, and home of the benchmark's own links).
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

use std::net::Ipv4Addr;
use std::ops::Range;

use bgp_core::prefix::Nlri;
use bgp_core::testkit::{attrs, set_size, v4_prefixes, Rng};
use bgp_core::types::Family;
use bgp_core::wire::{
    pack_announce, pack_withdraw, AttrBlock, CodecCtx, EncodeError, Message, NextHop, PathAttrs, Update,
};
use bytes::BytesMut;

/// The codec bench's seed ("bgpcodec").
pub const DEFAULT_SEED: u64 = 0x6267_7063_6f64_6563;

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

impl Table {
    pub fn generate(spec: &TableSpec) -> Table {
        assert!(!spec.next_hops.is_empty(), "a table needs at least one next hop");
        let mut rng = Rng(spec.seed);
        let prefixes = v4_prefixes(&mut rng, spec.prefixes, &[10, 127]);
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
    use std::collections::HashSet;

    use bgp_core::prefix::Prefix;
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
