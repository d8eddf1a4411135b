//! `pack_announce` / `pack_withdraw` on an arbitrary list of prefixes, attribute set,
//! next hop and session context: never panics, every message fits the session's
//! limit and decodes, and every prefix comes out exactly once (as many times as it
//! went in), with the attributes and next hop it was packed with.
//!
//! Input: structured, through `arbitrary` (see `Input`).
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use bgp_core::prefix::{Nlri, Prefix, Prefix4, Prefix6};
use bgp_core::types::{Afi, Family, FamilySet, Safi};
use bgp_core::wire::{
    decode_message, frame_len, pack_announce, pack_withdraw, Aggregator, AsPath, AttrBlock, CodecCtx, Community,
    EncodeError, LargeCommunity, Message, NextHop, Origin, PathAttrs, RawAttr, Segment, SegmentType, Update,
};
use bgp_core_fuzz::ctx_from_byte;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum FamilyIn {
    V4Unicast,
    V6Unicast,
    V4Multicast,
    V6Multicast,
    Other(u16, u8),
}

#[derive(Arbitrary, Debug)]
enum NextHopIn {
    V4([u8; 4]),
    V6([u8; 16]),
    V6LinkLocal([u8; 16], [u8; 16]),
}

#[derive(Arbitrary, Debug)]
struct PrefixIn {
    path_id: u32,
    len: u8,
    addr: [u8; 16],
    /// 0xff: a prefix of the other IP family (the packers must refuse the list).
    other_afi: u8,
}

#[derive(Arbitrary, Debug)]
struct AttrsIn {
    origin: Option<u8>,
    as_path: Option<Vec<(u8, Vec<u32>)>>,
    med: Option<u32>,
    local_pref: Option<u32>,
    atomic_aggregate: bool,
    aggregator: Option<(u32, [u8; 4])>,
    communities: Vec<u32>,
    large_communities: Vec<(u32, u32, u32)>,
    /// Length of an unknown optional transitive attribute, to make the shared block
    /// large enough that few prefixes fit a message.
    pad: Option<u16>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    ctx: u8,
    withdraw: bool,
    family: FamilyIn,
    next_hop: NextHopIn,
    attrs: AttrsIn,
    prefixes: Vec<PrefixIn>,
    /// The list is packed this many times over (mod 16, at least once), so that a
    /// small input still fills several messages.
    copies: u8,
}

fuzz_target!(|input: Input| run(input));

fn family(f: &FamilyIn) -> Family {
    match *f {
        FamilyIn::V4Unicast => Family::IPV4_UNICAST,
        FamilyIn::V6Unicast => Family::IPV6_UNICAST,
        FamilyIn::V4Multicast => Family::IPV4_MULTICAST,
        FamilyIn::V6Multicast => Family::IPV6_MULTICAST,
        FamilyIn::Other(afi, safi) => Family::new(Afi(afi), Safi(safi)),
    }
}

/// `a`, moved to 10/8 when it is not a host address (0/8, 127/8, 224/4, 240/4).
fn host4(mut a: [u8; 4]) -> Ipv4Addr {
    if matches!(a[0], 0 | 127 | 224..) {
        a[0] = 10;
    }
    Ipv4Addr::from(a)
}

/// `g`, moved to 2001::/16 when it is not usable as a global next hop.
fn global6(mut g: [u8; 16]) -> Ipv6Addr {
    let a = Ipv6Addr::from(g);
    if a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_unicast_link_local() {
        g[0] = 0x20;
        g[1] = 0x01;
    }
    Ipv6Addr::from(g)
}

fn prefix(p: &PrefixIn, afi: Afi) -> Prefix {
    let v6 = (afi == Afi::IPV6) != (p.other_afi == 0xff);
    if v6 {
        Prefix::V6(Prefix6::new(Ipv6Addr::from(p.addr), p.len % 129).expect("length reduced mod 129"))
    } else {
        let a = Ipv4Addr::new(p.addr[0], p.addr[1], p.addr[2], p.addr[3]);
        Prefix::V4(Prefix4::new(a, p.len % 33).expect("length reduced mod 33"))
    }
}

fn attrs(a: &AttrsIn) -> PathAttrs {
    let as_path = a.as_path.as_ref().map(|segments| {
        let mut path = AsPath::default();
        for (kind, asns) in segments {
            let kind = match kind % 4 {
                0 => SegmentType::Set,
                1 => SegmentType::Sequence,
                2 => SegmentType::ConfedSequence,
                _ => SegmentType::ConfedSet,
            };
            // AS 0 is malformed (RFC 7607).
            let mut asns: Vec<u32> = asns.iter().map(|&a| a.max(1)).collect();
            if matches!(kind, SegmentType::Set | SegmentType::ConfedSet) {
                // A set has no wire form beyond 255 ASNs (one segment): the encoder
                // splits it into two sets, which is a different path. Not generated.
                asns.truncate(255);
            }
            path.push(Segment { kind, asns });
        }
        path
    });
    PathAttrs {
        origin: a.origin.map(|o| match o % 3 {
            0 => Origin::Igp,
            1 => Origin::Egp,
            _ => Origin::Incomplete,
        }),
        as_path,
        med: a.med,
        local_pref: a.local_pref,
        atomic_aggregate: a.atomic_aggregate,
        aggregator: a.aggregator.map(|(asn, addr)| Aggregator { asn: asn.max(1), address: Ipv4Addr::from(addr) }),
        communities: a.communities.iter().copied().map(Community).collect(),
        large_communities: a
            .large_communities
            .iter()
            .map(|&(global, local1, local2)| LargeCommunity { global, local1, local2 })
            .collect(),
        unknown: a
            .pad
            .map(|n| RawAttr {
                // Optional transitive; the Extended Length bit as the encoder sets it
                // (exactly when needed) and the decoder keeps it (as received).
                flags: if n > 255 { 0xd0 } else { 0xc0 },
                type_code: 250,
                value: Bytes::from(vec![0x5a; usize::from(n)]),
            })
            .into_iter()
            .collect(),
        ..PathAttrs::default()
    }
}

fn run(input: Input) {
    // The receiver takes IPv6 next hops for IPv4 routes (RFC 8950), which are packed.
    let ctx = CodecCtx { extended_next_hop: FamilySet::from_bits(0x05), ..ctx_from_byte(input.ctx) };
    let family = family(&input.family);
    let add_path = ctx.add_path(family);
    let mut nlri = Vec::new();
    for _ in 0..(input.copies % 16).max(1) {
        for p in &input.prefixes {
            // Without ADD-PATH the path identifier is not on the wire.
            nlri.push(Nlri { path_id: if add_path { p.path_id } else { 0 }, prefix: prefix(p, family.afi) });
        }
    }
    let mixed = nlri.iter().any(|n| n.prefix.afi() != family.afi);
    // Next hops a receiver accepts (RFC 4271 §6.3, RFC 2545 §3): the packers do not
    // judge them, and the decoder would treat the routes as withdrawn.
    let next_hop = match input.next_hop {
        NextHopIn::V4(a) => NextHop::V4(host4(a)),
        NextHopIn::V6(g) => NextHop::V6 { global: global6(g), link_local: None },
        NextHopIn::V6LinkLocal(g, l) => NextHop::V6 { global: global6(g), link_local: Some(Ipv6Addr::from(l)) },
    };
    let attrs = attrs(&input.attrs);

    let mut out = BytesMut::new();
    let result = if input.withdraw {
        pack_withdraw(&mut out, &ctx, family, &nlri)
    } else {
        let block = AttrBlock::encode(&attrs, &ctx);
        pack_announce(&mut out, &ctx, &block, family, &next_hop, &nlri)
    };
    // Like `Message::encode`, a packer that fails leaves the output as it was.
    assert!(result.is_ok() || out.is_empty(), "{result:?} left {} octets", out.len());
    let count = match result {
        Ok(count) => count,
        Err(EncodeError::Family { .. }) => {
            assert!(!family.has_prefix_nlri(), "{family} refused");
            return;
        }
        Err(EncodeError::PrefixFamily { .. }) => {
            assert!(mixed, "a list of {family} prefixes refused");
            return;
        }
        Err(EncodeError::NextHopFamily { .. }) => {
            assert!(!input.withdraw && family.afi == Afi::IPV6 && matches!(next_hop, NextHop::V4(_)));
            return;
        }
        // The attribute block leaves no room for a prefix.
        Err(EncodeError::TooLarge { len, max }) => {
            assert!(!input.withdraw, "withdrawals never run out of room");
            assert!(len > max);
            return;
        }
    };
    assert!(family.has_prefix_nlri() && !mixed, "packed {family} with a bad list");

    let mut got = Vec::new();
    let mut first_attrs: Option<PathAttrs> = None;
    let mut messages = 0;
    let mut buf = &out[..];
    while !buf.is_empty() {
        let len = frame_len(buf, &ctx).expect("packed header").expect("whole header");
        assert!(len <= ctx.max_message_len(), "message of {len} octets, limit {}", ctx.max_message_len());
        assert!(len <= buf.len(), "message runs past the output");
        let frame = Bytes::copy_from_slice(&buf[..len]);
        buf = &buf[len..];
        messages += 1;
        let update = match decode_message(&frame, &ctx) {
            Ok(Message::Update(u)) => u,
            Ok(other) => panic!("packed a {:?}", other.message_type()),
            Err(e) => panic!("packed message does not decode: {e}\nframe: {frame:?}"),
        };
        let before = got.len();
        if input.withdraw {
            check_withdraw(&update, family, &mut got);
        } else {
            check_announce(&update, family, &next_hop, &mut got);
            // Every message carries the same attributes.
            let mut common = update.attrs.clone();
            common.next_hop = None;
            common.mp_reach = None;
            match &first_attrs {
                None => {
                    // Where nothing is lost to the session (4-octet AS, iBGP) they
                    // are the ones packed, exactly.
                    let complete = attrs.origin.is_some() && attrs.as_path.is_some();
                    if ctx.four_octet_as && !ctx.external && complete {
                        assert!(update.errors.is_empty(), "errors {:?}", update.errors);
                        assert_eq!(common, attrs, "attributes changed in packing");
                    }
                    first_attrs = Some(common);
                }
                Some(first) => assert_eq!(&common, first, "message {messages} has other attributes"),
            }
        }
        assert!(got.len() > before, "message {messages} carries no prefix");
    }
    assert_eq!(messages, count, "packer's message count");
    let mut want = nlri;
    want.sort();
    got.sort();
    assert_eq!(got, want, "prefixes out differ from prefixes in");
}

fn check_withdraw(u: &Update, family: Family, got: &mut Vec<Nlri>) {
    assert!(u.errors.is_empty(), "errors {:?}", u.errors);
    assert!(u.nlri.is_empty() && u.attrs.mp_reach.is_none(), "a withdrawal announces");
    if family == Family::IPV4_UNICAST {
        assert!(u.attrs.mp_unreach.is_none());
        got.extend_from_slice(&u.withdrawn);
    } else {
        assert!(u.withdrawn.is_empty());
        let un = u.attrs.mp_unreach.as_ref().expect("MP_UNREACH_NLRI");
        assert_eq!(un.family, family);
        got.extend_from_slice(&un.withdrawn);
    }
}

fn check_announce(u: &Update, family: Family, next_hop: &NextHop, got: &mut Vec<Nlri>) {
    assert!(u.withdrawn.is_empty() && u.attrs.mp_unreach.is_none(), "an announcement withdraws");
    match (family, next_hop) {
        (Family::IPV4_UNICAST, NextHop::V4(nh)) => {
            assert_eq!(u.attrs.next_hop, Some(*nh));
            assert!(u.attrs.mp_reach.is_none());
            got.extend_from_slice(&u.nlri);
        }
        _ => {
            assert!(u.nlri.is_empty() && u.attrs.next_hop.is_none());
            let reach = u.attrs.mp_reach.as_ref().expect("MP_REACH_NLRI");
            assert_eq!(reach.family, family);
            assert_eq!(&reach.next_hop, next_hop);
            got.extend_from_slice(&reach.nlri);
        }
    }
}
