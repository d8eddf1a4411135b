//! Property tests of the wire codec: every message the encoder can write decodes to
//! the same value, the packer fills messages exactly and loses nothing, the stream
//! decoder stops cleanly at a split, and no input makes the decoder panic.
//!
//! The generators produce values in the codec's canonical form (the form the decoder
//! returns): AS paths built with `AsPath::push`, prefixes with host bits cleared,
//! path identifiers 0 for families without ADD-PATH, subcodes and subtypes through
//! the codec's own `from_u8`. Where the protocol itself cannot carry a value through,
//! the generator is restricted and the comment at the restriction says why.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_core::prefix::{Nlri, Prefix, Prefix4, Prefix6};
use bgp_core::types::{Afi, Family, FamilySet, Safi, AS_TRANS};
use bgp_core::wire::attr::flags;
use bgp_core::wire::open::{AddPathFamily, ExtendedNextHop, GracefulRestart, GracefulRestartFamily, LlgrFamily};
use bgp_core::wire::{
    decode_message, decode_stream, frame_len, pack_announce, pack_withdraw, Aggregator, AsPath, AttrBlock, Capability,
    CodecCtx, Community, EncodeError, ErrorCode, ExtCommunity, LargeCommunity, Message, MessageType, MpReach,
    MpUnreach, NextHop, Notification, Open, Origin, PathAttrs, RawAttr, RefreshSubtype, RouteRefresh, Segment,
    SegmentType, Update, HEADER_LEN, MAX_MESSAGE_LEN,
};
use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};

const PREFIX_FAMILIES: [Family; 4] =
    [Family::IPV4_UNICAST, Family::IPV6_UNICAST, Family::IPV4_MULTICAST, Family::IPV6_MULTICAST];

/// Attribute codes the codec interprets (its flag table, RFC 4271 §5 and successors).
const KNOWN_ATTRS: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32];
/// Capability codes the codec interprets (RFC 5492 registry entries it decodes).
const KNOWN_CAPS: [u8; 10] = [1, 2, 5, 6, 64, 65, 69, 70, 71, 73];

fn config(cases: u32) -> ProptestConfig {
    // No regression files: the failures found while writing this are kept as plain
    // tests at the end of the file instead.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------

fn ctx_strategy() -> impl Strategy<Value = CodecCtx> {
    (any::<bool>(), any::<bool>(), 0u8..16, any::<bool>()).prop_map(
        |(four_octet_as, extended_message, bits, external)| CodecCtx {
            four_octet_as,
            extended_message,
            add_path: FamilySet::from_bits(bits),
            external,
            // Every next hop form is generated, IPv6 ones for IPv4 routes too (RFC 8950).
            extended_next_hop: [Family::IPV4_UNICAST, Family::IPV4_MULTICAST].into_iter().collect(),
        },
    )
}

fn any_family() -> impl Strategy<Value = Family> + Clone {
    prop_oneof![
        select(PREFIX_FAMILIES.to_vec()),
        (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| Family::new(Afi(afi), Safi(safi))),
    ]
}

fn prefix(afi: Afi) -> BoxedStrategy<Prefix> {
    if afi == Afi::IPV6 {
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, len)| Prefix::V6(Prefix6::new(Ipv6Addr::from(a), len).unwrap()))
            .boxed()
    } else {
        (any::<u32>(), 0u8..=32).prop_map(|(a, len)| Prefix::V4(Prefix4::new(Ipv4Addr::from(a), len).unwrap())).boxed()
    }
}

/// One NLRI entry of `family` as the decoder returns it for `ctx`: the path identifier
/// is only on the wire with ADD-PATH, so it is 0 otherwise.
fn nlri(ctx: CodecCtx, family: Family) -> BoxedStrategy<Nlri> {
    let path_id = if ctx.add_path(family) { any::<u32>().boxed() } else { Just(0).boxed() };
    (path_id, prefix(family.afi)).prop_map(|(path_id, prefix)| Nlri { path_id, prefix }).boxed()
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> + Clone {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

/// A valid host address for a next hop (RFC 4271 §6.3): first octet 1-223 but 127.
fn ipv4_next_hop() -> impl Strategy<Value = Ipv4Addr> + Clone {
    (1u8..=222, any::<[u8; 3]>()).prop_map(|(first, [b, c, d])| {
        let first = if first == 127 { 223 } else { first };
        Ipv4Addr::new(first, b, c, d)
    })
}

/// A global unicast address (2000::/3), valid as an IPv6 next hop.
fn ipv6_global() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(|a| Ipv6Addr::from(a & !(0b111 << 125) | 0b001 << 125))
}

/// Next hops the decoder accepts for `family` (RFC 4760 §3, RFC 2545 §3): IPv6 routes
/// need an IPv6 next hop (with or without link-local), IPv4 routes take either
/// (RFC 8950).
fn next_hop(family: Family) -> BoxedStrategy<NextHop> {
    let v6 = (ipv6_global(), option::of(ipv6())).prop_map(|(global, link_local)| NextHop::V6 { global, link_local });
    if family.afi == Afi::IPV6 {
        v6.boxed()
    } else {
        prop_oneof![ipv4_next_hop().prop_map(NextHop::V4), v6].boxed()
    }
}

/// Any AS number but 0 (RFC 7607).
fn asn() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 1u32..=0xffff, 3 => 1u32..=u32::MAX, 1 => Just(u32::from(AS_TRANS))]
}

fn is_confed(kind: SegmentType) -> bool {
    matches!(kind, SegmentType::ConfedSequence | SegmentType::ConfedSet)
}

fn segment() -> impl Strategy<Value = Segment> {
    let kinds = vec![SegmentType::Set, SegmentType::Sequence, SegmentType::ConfedSequence, SegmentType::ConfedSet];
    // Mostly short segments; sometimes long enough that the wire splits them at 255.
    (select(kinds), prop_oneof![12 => 1usize..=6, 1 => 250usize..=300]).prop_flat_map(|(kind, n)| {
        // A set holds at most 255 ASNs on the wire (one-octet count), and two sets in a
        // row are two sets (each counts 1 for path length): a longer set cannot be sent
        // as one segment, so none is generated.
        let n = if matches!(kind, SegmentType::Set | SegmentType::ConfedSet) { n.min(255) } else { n };
        vec(asn(), n).prop_map(move |asns| Segment { kind, asns })
    })
}

/// The AS path as `ctx`'s decoder returns it.
fn canonical_path(segments: Vec<Segment>, ctx: &CodecCtx) -> AsPath {
    // RFC 7606 §7.2 / RFC 5065: an external peer must not send confederation segments
    // (treat-as-withdraw), so none are generated for an external context.
    let mut segments: Vec<Segment> = segments.into_iter().filter(|s| !(ctx.external && is_confed(s.kind))).collect();
    if !ctx.four_octet_as {
        // RFC 6793 §3: AS4_PATH carries no confederation segments, so on a 2-octet
        // session a confederation member above 65535 can only be sent as AS_TRANS.
        // (Not the low 16 bits: for multiples of 65536 they are AS 0, which RFC 7607
        // makes malformed.)
        for s in segments.iter_mut().filter(|s| is_confed(s.kind)) {
            for a in s.asns.iter_mut().filter(|a| **a > 0xffff) {
                *a = u32::from(AS_TRANS);
            }
        }
        // RFC 6793 §4.2.3: when AS4_PATH is merged, only *leading* confederation
        // segments are taken from AS_PATH; confederation segments after a regular one
        // are lost. (RFC 5065 only ever prepends them, so real paths have them in
        // front.) When the path needs AS4_PATH, put them first.
        if segments.iter().any(|s| !is_confed(s.kind) && s.asns.iter().any(|&a| a > 0xffff)) {
            let (mut confed, rest): (Vec<_>, Vec<_>) = segments.into_iter().partition(|s| is_confed(s.kind));
            confed.extend(rest);
            segments = confed;
        }
    }
    let mut path = AsPath::default();
    for s in segments {
        path.push(s);
    }
    path
}

fn has_four_octet(path: &AsPath) -> bool {
    path.segments.iter().any(|s| !is_confed(s.kind) && s.asns.iter().any(|&a| a > 0xffff))
}

/// Codes of path attributes the codec keeps as `RawAttr`.
fn unknown_attr_code() -> impl Strategy<Value = u8> + Clone {
    select((0..=255u8).filter(|c| !KNOWN_ATTRS.contains(c)).collect::<Vec<_>>())
}

fn raw_attr() -> impl Strategy<Value = RawAttr> + Clone {
    (unknown_attr_code(), any::<u8>(), prop_oneof![8 => vec(any::<u8>(), 0..16), 1 => vec(any::<u8>(), 250..300)])
        .prop_map(|(type_code, f, value)| {
            // Optional: an unrecognized well-known attribute resets the session (RFC
            // 4271 §6.3). The Extended Length bit is a property of the encoding, not
            // of the attribute: the encoder sets it exactly when the value needs two
            // length octets, and the decoder keeps it only then.
            let mut flag_bits = (f | flags::OPTIONAL) & !flags::EXTENDED_LENGTH;
            if value.len() > 255 {
                flag_bits |= flags::EXTENDED_LENGTH;
            }
            RawAttr { flags: flag_bits, type_code, value: Bytes::from(value) }
        })
}

/// An MP_REACH_NLRI (14) or MP_UNREACH_NLRI (15) of a family whose NLRI the codec does
/// not decode: kept as a raw attribute. Its flags must be the MP attributes'
/// (optional, non-transitive), or the UPDATE is treat-as-withdraw (RFC 7606 §3 c).
fn raw_mp(type_code: u8) -> impl Strategy<Value = RawAttr> {
    (any_family(), any::<u8>(), vec(any::<u8>(), 0..24)).prop_map(move |(family, f, data)| {
        let family = if family.has_prefix_nlri() { Family::new(family.afi, Safi(128)) } else { family };
        let mut value = family.afi.0.to_be_bytes().to_vec();
        value.push(family.safi.0);
        value.extend(data);
        RawAttr { flags: flags::OPTIONAL | (f & (flags::PARTIAL | 0x0f)), type_code, value: Bytes::from(value) }
    })
}

/// A list that is often empty (the attribute is then absent), mostly short, and
/// sometimes `long`: long enough for the attribute to need the Extended Length bit.
fn list<S>(item: S, short: usize, long: usize) -> impl Strategy<Value = Vec<S::Value>>
where
    S: Strategy + Clone,
    S::Value: Clone,
{
    prop_oneof![2 => Just(Vec::new()), 6 => vec(item.clone(), 1..short), 1 => vec(item, short..=long)]
}

fn origin() -> impl Strategy<Value = Origin> {
    select(vec![Origin::Igp, Origin::Egp, Origin::Incomplete])
}

/// Everything of a `PathAttrs` but NEXT_HOP and the MP attributes, before the
/// context's restrictions are applied.
#[derive(Clone, Debug)]
struct AttrParts {
    origin: (bool, Origin),
    as_path: (bool, Vec<Segment>),
    med: Option<u32>,
    local_pref: Option<u32>,
    atomic_aggregate: bool,
    aggregator: Option<(u32, Ipv4Addr)>,
    communities: Vec<u32>,
    originator_id: Option<Ipv4Addr>,
    cluster_list: Vec<Ipv4Addr>,
    ext_communities: Vec<[u8; 8]>,
    large_communities: Vec<(u32, u32, u32)>,
    unknown: Vec<RawAttr>,
}

prop_compose! {
    fn attr_parts()(
        origin in (any::<bool>(), origin()),
        as_path in (any::<bool>(), vec(segment(), 0..5)),
        med in option::of(any::<u32>()),
        local_pref in option::of(any::<u32>()),
        atomic_aggregate in any::<bool>(),
        aggregator in option::of((asn(), ipv4())),
        communities in list(any::<u32>(), 8, 70),
        originator_id in option::of(ipv4()),
        cluster_list in list(ipv4(), 5, 70),
        ext_communities in list(any::<[u8; 8]>(), 5, 35),
        large_communities in list(any::<(u32, u32, u32)>(), 5, 25),
        unknown in list(raw_attr(), 4, 4),
    ) -> AttrParts {
        AttrParts {
            origin,
            as_path,
            med,
            local_pref,
            atomic_aggregate,
            aggregator,
            communities,
            originator_id,
            cluster_list,
            ext_communities,
            large_communities,
            unknown,
        }
    }
}

impl AttrParts {
    /// The attributes as `ctx`'s decoder returns them. `announces`: the UPDATE carries
    /// routes, so ORIGIN and AS_PATH must be there (RFC 7606 §3 d, else
    /// treat-as-withdraw).
    fn build(self, ctx: &CodecCtx, announces: bool) -> PathAttrs {
        let as_path = (self.as_path.0 || announces).then(|| canonical_path(self.as_path.1, ctx));
        let mut aggregator = self.aggregator.map(|(asn, address)| Aggregator { asn, address });
        if let (false, Some(path), Some(agg)) = (ctx.four_octet_as, &as_path, &mut aggregator) {
            // RFC 6793 §4.2.3: an AGGREGATOR whose AS is not AS_TRANS means a 2-octet
            // speaker aggregated after the AS4 attributes were attached, and the
            // receiver ignores AS4_PATH (and AS4_AGGREGATOR). The encoder sends a real
            // AGGREGATOR AS exactly when it fits two octets, so a path that needs
            // AS4_PATH only survives with an aggregator above 65535 (or AS_TRANS).
            if has_four_octet(path) && agg.asn <= 0xffff && agg.asn != u32::from(AS_TRANS) {
                agg.asn |= 0x1_0000;
            }
        }
        let mut unknown: Vec<RawAttr> = Vec::new();
        for raw in self.unknown {
            // A repeated attribute is discarded (RFC 7606 §3 g): one of each code.
            if unknown.iter().all(|u| u.type_code != raw.type_code) {
                unknown.push(raw);
            }
        }
        // RFC 7606 §7.5, §7.9, §7.10: LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST from an
        // external peer are discarded, so none are generated for an external context.
        let internal = !ctx.external;
        PathAttrs {
            origin: (self.origin.0 || announces).then_some(self.origin.1),
            as_path,
            next_hop: None,
            med: self.med,
            local_pref: self.local_pref.filter(|_| internal),
            atomic_aggregate: self.atomic_aggregate,
            aggregator,
            communities: self.communities.into_iter().map(Community).collect(),
            originator_id: self.originator_id.filter(|_| internal),
            cluster_list: if internal { self.cluster_list } else { Vec::new() },
            ext_communities: self.ext_communities.into_iter().map(ExtCommunity).collect(),
            large_communities: self
                .large_communities
                .into_iter()
                .map(|(global, local1, local2)| LargeCommunity { global, local1, local2 })
                .collect(),
            mp_reach: None,
            mp_unreach: None,
            unknown,
        }
    }
}

fn mp_reach(ctx: CodecCtx) -> impl Strategy<Value = MpReach> {
    select(PREFIX_FAMILIES.to_vec()).prop_flat_map(move |family| {
        (next_hop(family), list(nlri(ctx, family), 20, 20)).prop_map(move |(next_hop, nlri)| MpReach {
            family,
            next_hop,
            nlri,
        })
    })
}

fn mp_unreach(ctx: CodecCtx) -> impl Strategy<Value = MpUnreach> {
    select(PREFIX_FAMILIES.to_vec()).prop_flat_map(move |family| {
        list(nlri(ctx, family), 20, 20).prop_map(move |withdrawn| MpUnreach { family, withdrawn })
    })
}

fn update(ctx: CodecCtx) -> BoxedStrategy<Update> {
    let v4 = nlri(ctx, Family::IPV4_UNICAST);
    (
        list(v4.clone(), 20, 20),
        list(v4, 20, 20),
        option::of(mp_reach(ctx)),
        option::of(mp_unreach(ctx)),
        attr_parts(),
        (any::<bool>(), ipv4_next_hop()),
        option::of(raw_mp(14)),
        option::of(raw_mp(15)),
    )
        .prop_map(move |(withdrawn, nlri, mp_reach, mp_unreach, parts, next_hop, raw_reach, raw_unreach)| {
            let announces = !nlri.is_empty() || mp_reach.is_some();
            let mut attrs = parts.build(&ctx, announces);
            // NEXT_HOP is mandatory for routes in the NLRI field (RFC 4760 §3).
            attrs.next_hop = (next_hop.0 || !nlri.is_empty()).then_some(next_hop.1);
            // A second MP attribute of the same type resets the session (RFC 7606 §3 g),
            // so a raw one only goes where there is no decoded one.
            if mp_reach.is_none() {
                attrs.unknown.extend(raw_reach);
            }
            if mp_unreach.is_none() {
                attrs.unknown.extend(raw_unreach);
            }
            attrs.mp_reach = mp_reach.map(Box::new);
            attrs.mp_unreach = mp_unreach.map(Box::new);
            Update { withdrawn, attrs, nlri, ..Update::default() }
        })
        .boxed()
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

fn capability() -> BoxedStrategy<Capability> {
    let family = any_family();
    let unknown_code = select((0..=255u8).filter(|c| !KNOWN_CAPS.contains(c)).collect::<Vec<_>>());
    // Every value stays within the 255 octets of a capability's length field.
    prop_oneof![
        family.clone().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        any::<u32>().prop_map(Capability::FourOctetAs),
        vec((any::<u16>(), any::<u16>(), any::<u16>()), 0..=42).prop_map(|v| Capability::ExtendedNextHop(
            v.into_iter()
                .map(|(a, s, n)| ExtendedNextHop { nlri_afi: Afi(a), nlri_safi: s, next_hop_afi: Afi(n) })
                .collect()
        )),
        (any::<bool>(), any::<bool>(), 0u16..=0x0fff, vec((family.clone(), any::<bool>()), 0..=63)).prop_map(
            |(restarting, notification, restart_time, families)| Capability::GracefulRestart(GracefulRestart {
                restarting,
                notification,
                restart_time,
                families: families
                    .into_iter()
                    .map(|(family, forwarding_preserved)| GracefulRestartFamily { family, forwarding_preserved })
                    .collect(),
            })
        ),
        vec((family.clone(), any::<u8>()), 0..=63).prop_map(|v| Capability::AddPath(
            v.into_iter().map(|(family, send_receive)| AddPathFamily { family, send_receive }).collect()
        )),
        vec((family, any::<bool>(), 0u32..=0x00ff_ffff), 0..=36).prop_map(|v| {
            Capability::LongLivedGracefulRestart(
                v.into_iter()
                    .map(|(family, forwarding_preserved, stale_time)| LlgrFamily {
                        family,
                        forwarding_preserved,
                        stale_time,
                    })
                    .collect(),
            )
        }),
        // Two names, each with its length octet, within one 255-octet value.
        (0usize..=253)
            .prop_flat_map(|h| (vec(any::<u8>(), h), bytes(253 - h)))
            .prop_map(|(hostname, domain)| Capability::Fqdn { hostname: Bytes::from(hostname), domain }),
        (unknown_code, prop_oneof![3 => bytes(16), 1 => bytes(255)])
            .prop_map(|(code, data)| Capability::Unknown { code, data }),
    ]
    .boxed()
}

fn open() -> impl Strategy<Value = Open> {
    (any::<u16>(), any::<u16>(), ipv4(), vec(capability(), 0..12))
        .prop_map(|(my_as, hold_time, router_id, capabilities)| Open { my_as, hold_time, router_id, capabilities })
}

fn notification(ctx: CodecCtx) -> impl Strategy<Value = Notification> {
    // Up to exactly the session's limit, and one octet over it (rejected by encode).
    let max_data = ctx.max_message_len() - HEADER_LEN - 2;
    let near_limit = (max_data - 2..=max_data + 1).prop_flat_map(|n| vec(any::<u8>(), n));
    let data = prop_oneof![4 => vec(any::<u8>(), 0..=64), 1 => near_limit];
    (any::<u8>(), any::<u8>(), data)
        .prop_map(|(code, subcode, data)| Notification::new(ErrorCode::from_u8(code, subcode), Bytes::from(data)))
}

fn route_refresh() -> impl Strategy<Value = RouteRefresh> {
    let subtype = prop_oneof![
        Just(RefreshSubtype::Request),
        Just(RefreshSubtype::BeginningOfRib),
        Just(RefreshSubtype::EndOfRib),
        // 0..=2 are the named subtypes, so Other holds only the rest.
        (3u8..=255).prop_map(RefreshSubtype::Other),
    ];
    (any_family(), subtype).prop_map(|(family, subtype)| RouteRefresh { family, subtype })
}

fn message(ctx: CodecCtx) -> BoxedStrategy<Message> {
    prop_oneof![
        1 => open().prop_map(Message::Open),
        3 => update(ctx).prop_map(Message::Update),
        1 => notification(ctx).prop_map(Message::Notification),
        1 => Just(Message::Keepalive),
        1 => route_refresh().prop_map(Message::RouteRefresh),
    ]
    .boxed()
}

fn with_ctx<S: Strategy>(f: impl Fn(CodecCtx) -> S) -> impl Strategy<Value = (CodecCtx, S::Value)> {
    ctx_strategy().prop_flat_map(move |ctx| (Just(ctx), f(ctx)))
}

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

/// The size limit of a message of `kind` (RFC 8654 §3: OPEN and KEEPALIVE never grow).
fn limit(kind: MessageType, ctx: &CodecCtx) -> usize {
    match kind {
        MessageType::Open | MessageType::Keepalive => MAX_MESSAGE_LEN,
        _ => ctx.max_message_len(),
    }
}

/// Encodes `m`; `None` when it does not fit the session's limit (after checking the
/// encoder said so truthfully and left the buffer alone).
fn encode(m: &Message, ctx: &CodecCtx) -> Result<Option<Bytes>, TestCaseError> {
    let mut out = BytesMut::from(&b"prefix"[..]);
    match m.encode(ctx, &mut out) {
        Ok(()) => {
            prop_assert_eq!(&out[..6], b"prefix");
            let frame = out.split_off(6).freeze();
            prop_assert!(frame.len() <= limit(m.message_type(), ctx), "{} octets encoded", frame.len());
            Ok(Some(frame))
        }
        Err(EncodeError::TooLarge { len, max }) => {
            prop_assert!(len > max);
            prop_assert_eq!(max, limit(m.message_type(), ctx));
            prop_assert_eq!(&out[..], b"prefix", "a failed encode leaves the buffer as it was");
            Ok(None)
        }
        Err(e) => Err(TestCaseError::fail(format!("encode failed: {e}"))),
    }
}

fn round_trip(m: &Message, ctx: &CodecCtx) -> Result<(), TestCaseError> {
    let Some(frame) = encode(m, ctx)? else {
        return Err(TestCaseError::reject("message over the size limit"));
    };
    prop_assert_eq!(frame_len(&frame, ctx), Ok(Some(frame.len())));
    let decoded = decode_message(&frame, ctx);
    if let Ok(Message::Update(u)) = &decoded {
        prop_assert!(u.errors.is_empty(), "RFC 7606 outcomes for a well-formed UPDATE: {:?}", u.errors);
    }
    prop_assert_eq!(decoded, Ok(m.clone()));
    Ok(())
}

/// Splits a buffer of whole messages into frames.
fn frames(mut buf: &[u8], ctx: &CodecCtx) -> Result<Vec<Bytes>, TestCaseError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let len = frame_len(buf, ctx).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let len = len.ok_or_else(|| TestCaseError::fail("partial header at the end"))?;
        prop_assert!(len <= buf.len(), "partial message at the end");
        out.push(Bytes::copy_from_slice(&buf[..len]));
        buf = &buf[len..];
    }
    Ok(out)
}

fn decode_update(frame: &Bytes, ctx: &CodecCtx) -> Result<Update, TestCaseError> {
    match decode_message(frame, ctx) {
        Ok(Message::Update(u)) => {
            prop_assert!(u.errors.is_empty(), "RFC 7606 outcomes: {:?}", u.errors);
            Ok(u)
        }
        other => Err(TestCaseError::fail(format!("not a clean UPDATE: {other:?}"))),
    }
}

// ---------------------------------------------------------------------------------
// 1. decode(encode(m)) == m
// ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn open_round_trips((ctx, open) in with_ctx(|_| open())) {
        round_trip(&Message::Open(open), &ctx)?;
    }

    #[test]
    fn notification_round_trips((ctx, n) in with_ctx(notification)) {
        round_trip(&Message::Notification(n), &ctx)?;
    }

    #[test]
    fn route_refresh_round_trips((ctx, rr) in with_ctx(|_| route_refresh())) {
        round_trip(&Message::RouteRefresh(rr), &ctx)?;
    }

    #[test]
    fn keepalive_round_trips(ctx in ctx_strategy()) {
        round_trip(&Message::Keepalive, &ctx)?;
    }

    /// Capability lists around 255 octets: the classic layout up to the last octet it
    /// can hold, the RFC 9072 extended layout from the first it cannot.
    #[test]
    fn open_parameter_layout_boundary(
        data_len in 240usize..=255,
        others in vec(prop_oneof![Just(Capability::RouteRefresh), Just(Capability::ExtendedMessage)], 0..4),
    ) {
        let mut capabilities = vec![Capability::Unknown { code: 200, data: Bytes::from(vec![7; data_len]) }];
        capabilities.extend(others);
        let open = Open { my_as: 65001, hold_time: 90, router_id: Ipv4Addr::new(192, 0, 2, 1), capabilities };
        let caps_len: usize = data_len + 2 + (open.capabilities.len() - 1) * 2;
        let frame = encode(&Message::Open(open.clone()), &CodecCtx::modern())?.unwrap();
        let extended = caps_len + 2 > 255;
        let opt_len = if extended { 255 } else { caps_len as u8 + 2 };
        prop_assert_eq!(frame[28], opt_len);
        prop_assert_eq!(frame.len(), 29 + caps_len + if extended { 6 } else { 2 });
        round_trip(&Message::Open(open), &CodecCtx::modern())?;
    }
}

/// Every subtype value, named or not, on every kind of session.
#[test]
fn every_refresh_subtype_round_trips() {
    for v in 0..=255u8 {
        let subtype = match v {
            0 => RefreshSubtype::Request,
            1 => RefreshSubtype::BeginningOfRib,
            2 => RefreshSubtype::EndOfRib,
            v => RefreshSubtype::Other(v),
        };
        for family in PREFIX_FAMILIES {
            let rr = Message::RouteRefresh(RouteRefresh { family, subtype });
            let ctx = CodecCtx { extended_message: v % 2 == 0, ..CodecCtx::default() };
            assert_eq!(decode_message(&rr.to_bytes(&ctx).unwrap(), &ctx), Ok(rr));
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The generators lean on `AsPath::push` for the canonical form, and so does the
    /// decoder; this checks that form independently: nothing lost or reordered, no
    /// empty segment, sequences of a kind joined, sets never.
    #[test]
    fn as_path_push_is_canonical(segments in vec(segment(), 0..8)) {
        let mut path = AsPath::default();
        for s in &segments {
            path.push(s.clone());
        }
        let flat = |segs: &[Segment]| segs.iter().flat_map(|s| s.asns.iter().map(move |&a| (s.kind, a))).collect::<Vec<_>>();
        prop_assert_eq!(flat(&path.segments), flat(&segments));
        prop_assert!(path.segments.iter().all(|s| !s.asns.is_empty()));
        for pair in path.segments.windows(2) {
            let joinable = matches!(pair[0].kind, SegmentType::Sequence | SegmentType::ConfedSequence);
            prop_assert!(!(joinable && pair[0].kind == pair[1].kind), "adjacent {:?} segments", pair[0].kind);
        }
        let sets = |segs: &[Segment]| {
            segs.iter().filter(|s| !s.asns.is_empty() && matches!(s.kind, SegmentType::Set | SegmentType::ConfedSet)).count()
        };
        prop_assert_eq!(sets(&path.segments), sets(&segments));
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn update_round_trips((ctx, update) in with_ctx(update)) {
        let eor = PREFIX_FAMILIES.into_iter().find(|&f| update == Update::end_of_rib(f));
        prop_assert_eq!(update.end_of_rib_family(), eor);
        round_trip(&Message::Update(update), &ctx)?;
    }

    /// The case the generators avoid, RFC 6793 §4.2.3: on a 2-octet session an
    /// AGGREGATOR with a real 2-octet AS makes the receiver ignore AS4_PATH, so every
    /// 4-octet AS of the path comes back as AS_TRANS.
    #[test]
    fn as4_path_is_ignored_after_2_octet_aggregation(
        (ctx, mut update) in with_ctx(|ctx| update(CodecCtx { four_octet_as: false, ..ctx })),
        agg_asn in (1u32..=0xffff).prop_filter("a real 2-octet AS", |&a| a != u32::from(AS_TRANS)),
    ) {
        let ctx = CodecCtx { four_octet_as: false, ..ctx };
        prop_assume!(update.attrs.as_path.as_ref().is_some_and(has_four_octet));
        update.attrs.aggregator = Some(Aggregator { asn: agg_asn, address: Ipv4Addr::new(192, 0, 2, 9) });
        let mut expected = update.clone();
        for s in &mut expected.attrs.as_path.as_mut().unwrap().segments {
            for a in &mut s.asns {
                if *a > 0xffff {
                    *a = u32::from(AS_TRANS);
                }
            }
        }
        let Some(frame) = encode(&Message::Update(update), &ctx)? else {
            return Err(TestCaseError::reject("message over the size limit"));
        };
        prop_assert_eq!(decode_message(&frame, &ctx), Ok(Message::Update(expected)));
    }
}

// ---------------------------------------------------------------------------------
// 2. The packer
// ---------------------------------------------------------------------------------

/// A family with a next hop the packer can use for it: IPv4 unicast with an IPv4 next
/// hop (NLRI field), IPv4 with an IPv6 next hop (RFC 8950), IPv6, and the multicast
/// families (all in MP_REACH_NLRI).
fn route_family() -> impl Strategy<Value = (Family, NextHop)> {
    select(PREFIX_FAMILIES.to_vec()).prop_flat_map(|family| (Just(family), next_hop(family)))
}

fn nlri_list(ctx: CodecCtx, family: Family) -> impl Strategy<Value = Vec<Nlri>> {
    prop_oneof![vec(nlri(ctx, family), 0..8), vec(nlri(ctx, family), 0..3000)]
}

#[derive(Debug, Clone)]
struct AnnounceCase {
    ctx: CodecCtx,
    attrs: PathAttrs,
    family: Family,
    next_hop: NextHop,
    nlri: Vec<Nlri>,
}

fn announce_case() -> impl Strategy<Value = AnnounceCase> {
    (ctx_strategy(), attr_parts(), route_family()).prop_flat_map(|(ctx, parts, (family, next_hop))| {
        let attrs = parts.build(&ctx, true);
        // Sometimes a large unknown attribute, so that few routes fit in a message
        // (even an extended one), and sometimes none.
        let code = (0..=255u8).find(|c| !KNOWN_ATTRS.contains(c) && attrs.unknown.iter().all(|u| u.type_code != *c));
        // Near the edge: room for only a few octets of NLRI, so that some routes fit
        // and some do not (a /0 takes 1 octet, an IPv6 /128 with path identifier 21).
        let nh_len = match next_hop {
            NextHop::V4(_) => 4,
            NextHop::V6 { link_local: None, .. } => 16,
            NextHop::V6 { link_local: Some(_), .. } => 32,
        };
        let in_body = family == Family::IPV4_UNICAST && nh_len == 4;
        let fixed = HEADER_LEN + 4 + AttrBlock::encode(&attrs, &ctx).len() + if in_body { 7 } else { 9 + nh_len };
        let edge = ctx.max_message_len().saturating_sub(fixed + 4 + 24);
        let padding = prop_oneof![6 => Just(0), 2 => 0..ctx.max_message_len() - 60, 1 => edge..=edge + 24];
        (nlri_list(ctx, family), padding).prop_map(move |(nlri, padding)| {
            let mut attrs = attrs.clone();
            if padding > 0 {
                let ext = if padding > 255 { flags::EXTENDED_LENGTH } else { 0 };
                attrs.unknown.push(RawAttr {
                    flags: flags::OPTIONAL | flags::TRANSITIVE | ext,
                    type_code: code.unwrap(),
                    value: Bytes::from(vec![0x5a; padding]),
                });
            }
            AnnounceCase { ctx, attrs, family, next_hop, nlri }
        })
    })
}

/// Checks the messages `pack_*` wrote: each fits and decodes cleanly, `routes` gives
/// the routes each carries, and no message could have taken the next route.
fn check_packed(
    out: &[u8],
    written: usize,
    ctx: &CodecCtx,
    family: Family,
    input: &[Nlri],
    mut routes: impl FnMut(Update) -> Result<Vec<Nlri>, TestCaseError>,
) -> Result<(), TestCaseError> {
    let frames = frames(out, ctx)?;
    prop_assert_eq!(frames.len(), written, "return value is the number of messages");
    let max = ctx.max_message_len();
    let add_path = ctx.add_path(family);
    let mut got: Vec<Nlri> = Vec::with_capacity(input.len());
    for (i, frame) in frames.iter().enumerate() {
        prop_assert!(frame.len() <= max, "message {} is {} octets, limit {}", i, frame.len(), max);
        let carried = routes(decode_update(frame, ctx)?)?;
        prop_assert!(!carried.is_empty(), "message {} carries no route", i);
        got.extend(carried);
        if let Some(next) = input.get(got.len()) {
            let room = max - frame.len();
            prop_assert!(
                next.encoded_len(add_path) > room,
                "message {} had {} octets left, enough for the next route ({} octets)",
                i,
                room,
                next.encoded_len(add_path)
            );
        }
    }
    prop_assert_eq!(got.len(), input.len());
    prop_assert!(got == input, "routes differ from the input (or are out of order)");
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn pack_announce_fills_messages(case in announce_case()) {
        let AnnounceCase { ctx, attrs, family, next_hop, nlri } = case;
        let block = AttrBlock::encode(&attrs, &ctx);
        let in_body = family == Family::IPV4_UNICAST && matches!(next_hop, NextHop::V4(_));
        let mut out = BytesMut::new();
        let written = match pack_announce(&mut out, &ctx, &block, family, &next_hop, &nlri) {
            Ok(n) => n,
            Err(EncodeError::TooLarge { len, max }) => {
                // Only when some route does not fit even in a message of its own; the
                // error names the first such route, and nothing is left in `out`.
                prop_assert!(out.is_empty(), "a failed pack left {} octets behind", out.len());
                prop_assert_eq!(max, ctx.max_message_len());
                let alone = |n: Nlri| {
                    let update = Update {
                        attrs: PathAttrs {
                            next_hop: match next_hop {
                                NextHop::V4(a) if in_body => Some(a),
                                _ => None,
                            },
                            mp_reach: (!in_body).then(|| Box::new(MpReach { family, next_hop, nlri: vec![n] })),
                            ..attrs.clone()
                        },
                        nlri: if in_body { vec![n] } else { Vec::new() },
                        ..Update::default()
                    };
                    Message::Update(update).encode(&ctx, &mut BytesMut::new())
                };
                let first_misfit = nlri.iter().map(|&n| alone(n)).find(Result::is_err);
                prop_assert_eq!(first_misfit, Some(Err(EncodeError::TooLarge { len, max })));
                return Err(TestCaseError::reject("a route does not fit in a message of its own"));
            }
            Err(e) => return Err(TestCaseError::fail(format!("pack_announce: {e}"))),
        };
        check_packed(&out, written, &ctx, family, &nlri, |mut u| {
            prop_assert!(u.withdrawn.is_empty());
            prop_assert!(u.attrs.mp_unreach.is_none());
            let carried = if in_body {
                prop_assert!(u.attrs.mp_reach.is_none());
                prop_assert_eq!(u.attrs.next_hop.map(NextHop::V4), Some(next_hop));
                std::mem::take(&mut u.nlri)
            } else {
                prop_assert!(u.nlri.is_empty());
                prop_assert_eq!(u.attrs.next_hop, None);
                let reach = u.attrs.mp_reach.take().ok_or_else(|| TestCaseError::fail("no MP_REACH_NLRI"))?;
                prop_assert_eq!(reach.family, family);
                prop_assert_eq!(reach.next_hop, next_hop);
                reach.nlri
            };
            u.attrs.next_hop = None;
            prop_assert_eq!(&u.attrs, &attrs);
            Ok(carried)
        })?;
    }

    #[test]
    fn pack_withdraw_fills_messages(
        (ctx, family, nlri) in (ctx_strategy(), select(PREFIX_FAMILIES.to_vec()))
            .prop_flat_map(|(ctx, family)| (Just(ctx), Just(family), nlri_list(ctx, family)))
    ) {
        let mut out = BytesMut::new();
        let written = pack_withdraw(&mut out, &ctx, family, &nlri).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_packed(&out, written, &ctx, family, &nlri, |mut u| {
            prop_assert!(u.nlri.is_empty());
            prop_assert!(u.attrs.mp_reach.is_none());
            if family == Family::IPV4_UNICAST {
                prop_assert_eq!(&u.attrs, &PathAttrs::default());
                Ok(u.withdrawn)
            } else {
                prop_assert!(u.withdrawn.is_empty());
                let unreach = u.attrs.mp_unreach.take().ok_or_else(|| TestCaseError::fail("no MP_UNREACH_NLRI"))?;
                prop_assert_eq!(unreach.family, family);
                prop_assert_eq!(&u.attrs, &PathAttrs::default());
                Ok(unreach.withdrawn)
            }
        })?;
    }

    #[test]
    fn end_of_rib_round_trips(ctx in ctx_strategy(), family in select(PREFIX_FAMILIES.to_vec())) {
        let eor = Update::end_of_rib(family);
        prop_assert_eq!(eor.end_of_rib_family(), Some(family));
        let frame = encode(&Message::Update(eor.clone()), &ctx)?.unwrap();
        if family == Family::IPV4_UNICAST {
            // RFC 4724 §2: an UPDATE with nothing in it.
            prop_assert_eq!(frame.len(), 23);
        }
        let decoded = decode_update(&frame, &ctx)?;
        prop_assert_eq!(decoded.end_of_rib_family(), Some(family));
        prop_assert_eq!(decoded, eor);
    }
}

// ---------------------------------------------------------------------------------
// 3. Stream decoding across a split
// ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn decode_stream_stops_at_a_split(
        (ctx, messages) in with_ctx(|ctx| vec(message(ctx), 1..6)),
        split in any::<Index>(),
    ) {
        let mut wire = Vec::new();
        let mut ends = Vec::new();
        let mut sent = Vec::new();
        for m in messages {
            if let Some(frame) = encode(&m, &ctx)? {
                wire.extend_from_slice(&frame);
                ends.push(wire.len());
                sent.push(m);
            }
        }
        prop_assume!(!sent.is_empty());
        let split = split.index(wire.len() + 1);
        let whole = ends.iter().take_while(|&&end| end <= split).count();
        let consumed = if whole == 0 { 0 } else { ends[whole - 1] };

        let mut buf = BytesMut::from(&wire[..split]);
        let mut out = Vec::new();
        prop_assert_eq!(decode_stream(&mut buf, &ctx, &mut out), Ok(()));
        prop_assert_eq!(&out[..], &sent[..whole]);
        prop_assert_eq!(&buf[..], &wire[consumed..split], "the partial message stays buffered");

        buf.extend_from_slice(&wire[split..]);
        prop_assert_eq!(decode_stream(&mut buf, &ctx, &mut out), Ok(()));
        prop_assert_eq!(&out[..], &sent[..]);
        prop_assert!(buf.is_empty());
    }
}

// ---------------------------------------------------------------------------------
// 4. Arbitrary input never panics
// ---------------------------------------------------------------------------------

fn header(kind: u8, len: usize) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
    v.push(kind);
    v
}

/// Decodes `frame` every way there is; whatever decodes is encoded again. Nothing may
/// panic; results are not checked.
fn decode_all_ways(frame: &[u8], ctx: &CodecCtx) {
    let bytes = Bytes::copy_from_slice(frame);
    if let Ok(m) = decode_message(&bytes, ctx) {
        let _ = m.to_bytes(ctx);
        if let Message::Update(u) = &m {
            let _ = (u.announcements().count(), u.withdrawals().count(), u.end_of_rib_family());
        }
    }
    let mut buf = BytesMut::from(frame);
    let _ = decode_stream(&mut buf, ctx, &mut Vec::new());
}

proptest! {
    #![proptest_config(config(1024))]

    /// The header's length is the frame's, or (then `decode_stream` cuts the body
    /// short, or waits for more) any valid length of the type.
    #[test]
    fn arbitrary_bodies_never_panic(
        ctx in ctx_strategy(),
        kind in prop_oneof![8 => 1u8..=5, 1 => any::<u8>()],
        body in prop_oneof![vec(any::<u8>(), 0..64), vec(any::<u8>(), 0..4200)],
        claimed in option::of(any::<Index>()),
    ) {
        let len = match claimed {
            Some(i) => HEADER_LEN + i.index(ctx.max_message_len() - HEADER_LEN + 1),
            None => HEADER_LEN + body.len(),
        };
        let mut frame = header(kind, len);
        frame.extend_from_slice(&body);
        decode_all_ways(&frame, &ctx);
    }

    /// Valid messages with octets changed, cut short or extended: far more of these
    /// get past the first length checks than random bodies do.
    #[test]
    fn mutated_messages_never_panic(
        (ctx, m) in with_ctx(message),
        flips in vec((any::<Index>(), 1u8..=255), 1..6),
        cut in option::of(any::<Index>()),
        tail in vec(any::<u8>(), 0..8),
        retype in option::of(1u8..=5),
    ) {
        let Some(frame) = encode(&m, &ctx)? else {
            return Err(TestCaseError::reject("message over the size limit"));
        };
        let mut body = frame[HEADER_LEN..].to_vec();
        if !body.is_empty() {
            for (at, x) in flips {
                let at = at.index(body.len());
                body[at] ^= x;
            }
        }
        if let Some(cut) = cut {
            body.truncate(cut.index(body.len() + 1));
        }
        body.extend_from_slice(&tail);
        body.truncate(usize::from(u16::MAX) - HEADER_LEN);
        let mut frame = header(retype.unwrap_or(frame[18]), HEADER_LEN + body.len());
        frame.extend_from_slice(&body);
        decode_all_ways(&frame, &ctx);
    }
}

// ---------------------------------------------------------------------------------
// Failures found by the properties above, kept as plain tests
// ---------------------------------------------------------------------------------

/// `pack_announce_fills_messages` (shrunk): two IPv6 routes, a large attribute set that
/// leaves room for the first route but not the second. `pack_announce` returned
/// `TooLarge` with the first message already appended to `out`, so the caller could
/// neither use nor count it. It now leaves `out` as it was, like `Message::encode`.
#[test]
fn failed_pack_announce_leaves_the_buffer_alone() {
    let ctx = CodecCtx::modern();
    let family = Family::IPV6_UNICAST;
    let next_hop = NextHop::V6 { global: "2001:db8::1".parse().unwrap(), link_local: None };
    let nlri: Vec<Nlri> = ["2001:db8::/32", "2001:db8::1/128"].iter().map(|p| Nlri::new(p.parse().unwrap())).collect();
    // Header 19, lengths 4, MP_REACH_NLRI up to its NLRI 9 + 16, ORIGIN 4, AS_PATH 3,
    // the padding attribute 4 + 4027: 10 octets left, for the 5 of the /32 but not the
    // 17 of the /128.
    let attrs = PathAttrs {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::default()),
        unknown: vec![RawAttr {
            flags: flags::OPTIONAL | flags::TRANSITIVE | flags::EXTENDED_LENGTH,
            type_code: 250,
            value: Bytes::from(vec![0; 4027]),
        }],
        ..PathAttrs::default()
    };
    let block = AttrBlock::encode(&attrs, &ctx);
    let mut out = BytesMut::from(&b"queued"[..]);
    assert_eq!(pack_announce(&mut out, &ctx, &block, family, &next_hop, &nlri[..1]), Ok(1));
    assert_eq!(out.len(), 6 + MAX_MESSAGE_LEN - 10 + 5);
    out.truncate(6);
    assert_eq!(
        pack_announce(&mut out, &ctx, &block, family, &next_hop, &nlri),
        Err(EncodeError::TooLarge { len: MAX_MESSAGE_LEN - 10 + 17, max: MAX_MESSAGE_LEN })
    );
    assert_eq!(&out[..], b"queued");
}

/// `as4_path_is_ignored_after_2_octet_aggregation` (a CI run): the generator made a
/// 2-octet session's confederation member from the low 16 bits of a 4-octet AS, which
/// for 196608 is AS 0, and the decoder rightly refused the path (RFC 7607). The
/// generator now sends such members as AS_TRANS; this pins that down.
#[test]
fn two_octet_confederation_members_are_never_as_zero() {
    let ctx = CodecCtx { four_octet_as: false, ..CodecCtx::modern() };
    let segments = vec![Segment { kind: SegmentType::ConfedSet, asns: vec![3 << 16, 64512] }];
    let path = canonical_path(segments, &ctx);
    assert_eq!(path.segments[0].asns, vec![u32::from(AS_TRANS), 64512]);
}
