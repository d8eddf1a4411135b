//! Path attributes: the decoded set ([`PathAttrs`]), one table row per attribute
//! code saying which flags it must carry and how it is decoded, and the RFC 7606
//! outcome of each malformation.
//!
//! ```text
//! +-------+------+-----------------------+-------------+
//! | Flags | Type | Length (1, or 2 when  | Value       |
//! |  (1)  |  (1) | Extended Length set)  |             |
//! +-------+------+-----------------------+-------------+
//! Flags: 0x80 Optional, 0x40 Transitive, 0x20 Partial, 0x10 Extended Length
//! ```
//!
//! AS numbers are always held as 4 octets. On a session without the 4-octet AS
//! capability the decoder merges AS4_PATH and AS4_AGGREGATOR into AS_PATH and
//! AGGREGATOR (RFC 6793 §4.2.3) and the encoder splits them again, so nothing above
//! the codec ever sees AS_TRANS standing in for a real AS.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ctx::CodecCtx;
use super::notification::UpdateError;
use super::reader::Reader;
use crate::prefix::Nlri;
use crate::types::{Family, AS_TRANS};

pub mod flags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

pub mod code {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MED: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const ORIGINATOR_ID: u8 = 9;
    pub const CLUSTER_LIST: u8 = 10;
    pub const MP_REACH_NLRI: u8 = 14;
    pub const MP_UNREACH_NLRI: u8 = 15;
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const LARGE_COMMUNITY: u8 = 32;
}

/// ORIGIN (RFC 4271 §5.1.1). In JSON (`bgpctl --json`): `"igp"`, `"egp"`, `"incomplete"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

impl fmt::Display for Origin {
    /// The names of RFC 4271: `IGP`, `EGP`, `incomplete`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Igp => "IGP",
            Origin::Egp => "EGP",
            Origin::Incomplete => "incomplete",
        })
    }
}

/// In JSON: `"set"`, `"sequence"`, `"confed-sequence"`, `"confed-set"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentType {
    Set = 1,
    Sequence = 2,
    /// RFC 5065.
    ConfedSequence = 3,
    /// RFC 5065.
    ConfedSet = 4,
}

impl SegmentType {
    fn from_u8(v: u8) -> Option<SegmentType> {
        Some(match v {
            1 => SegmentType::Set,
            2 => SegmentType::Sequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            _ => return None,
        })
    }
    fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// In JSON: `{"type": "sequence", "asns": [65001, 65002]}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Segment {
    #[serde(rename = "type")]
    pub kind: SegmentType,
    pub asns: Vec<u32>,
}

/// AS_PATH in canonical form: no empty segments, and no two adjacent sequences of the
/// same kind (the wire splits sequences at 255 ASNs; we join them again).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AsPath {
    pub segments: Vec<Segment>,
}

impl AsPath {
    pub fn from_sequence(asns: Vec<u32>) -> AsPath {
        let mut path = AsPath::default();
        path.push(Segment { kind: SegmentType::Sequence, asns });
        path
    }

    /// Appends a segment, keeping the canonical form.
    pub fn push(&mut self, segment: Segment) {
        if segment.asns.is_empty() {
            return;
        }
        if let Some(last) = self.segments.last_mut() {
            if last.kind == segment.kind && matches!(last.kind, SegmentType::Sequence | SegmentType::ConfedSequence) {
                last.asns.extend_from_slice(&segment.asns);
                return;
            }
        }
        self.segments.push(segment);
    }

    /// Path length for the decision process (RFC 4271 §9.1.2.2 a, RFC 5065 §5.3): each
    /// AS of a sequence counts one, a set counts one, confederation segments nothing.
    pub fn len_for_decision(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    fn has_confed(&self) -> bool {
        self.segments.iter().any(|s| s.kind.is_confed())
    }

    fn has_four_octet(&self) -> bool {
        self.segments.iter().any(|s| !s.kind.is_confed() && s.asns.iter().any(|&a| a > 0xffff))
    }

    /// Octets of the wire form with `asn_len`-octet AS numbers, `confed` segments
    /// included or not (AS4_PATH carries none, RFC 6793 §3).
    fn encoded_len(&self, asn_len: usize, confed: bool) -> usize {
        self.segments
            .iter()
            .filter(|s| confed || !s.kind.is_confed())
            .map(|s| s.asns.len().div_ceil(255) * 2 + s.asns.len() * asn_len)
            .sum()
    }

    fn encode(&self, four_octet: bool, confed: bool, out: &mut BytesMut) {
        for s in self.segments.iter().filter(|s| confed || !s.kind.is_confed()) {
            for chunk in s.asns.chunks(255) {
                out.put_u8(s.kind as u8);
                out.put_u8(chunk.len() as u8);
                for &asn in chunk {
                    if four_octet {
                        out.put_u32(asn);
                    } else {
                        out.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS));
                    }
                }
            }
        }
    }

    /// RFC 7606 §7.2 / RFC 6793 §6: unknown segment type, zero-length segment or a
    /// segment running past the attribute make the whole path malformed; so does AS 0
    /// anywhere in it (RFC 7607 §2).
    fn decode(mut r: Reader<'_>, four_octet: bool) -> Result<AsPath, PathError> {
        let mut path = AsPath::default();
        let mut zero = false;
        while !r.is_empty() {
            let kind = r.u8().map_err(|_| PathError::Malformed)?;
            let kind = SegmentType::from_u8(kind).ok_or(PathError::Malformed)?;
            let count = r.u8().map_err(|_| PathError::Malformed)?;
            if count == 0 {
                return Err(PathError::Malformed);
            }
            let mut asns = Vec::with_capacity(usize::from(count));
            for _ in 0..count {
                let asn = if four_octet { r.u32() } else { r.u16().map(u32::from) };
                let asn = asn.map_err(|_| PathError::Malformed)?;
                zero |= asn == 0;
                asns.push(asn);
            }
            path.push(Segment { kind, asns });
        }
        if zero {
            return Err(PathError::AsZero);
        }
        Ok(path)
    }

    /// RFC 6793 §4.2.3: rebuild the real path from a 2-octet AS_PATH and the AS4_PATH.
    /// When AS_PATH holds fewer ASes than AS4_PATH, AS4_PATH is ignored. Otherwise the
    /// leading ASes of AS_PATH (those a 2-octet-only speaker prepended, plus leading
    /// confederation segments) are put in front of AS4_PATH.
    fn merge_as4(self, as4: AsPath) -> AsPath {
        let (n2, n4) = (self.len_for_decision(), as4.len_for_decision());
        if n2 < n4 {
            return self;
        }
        let mut take = n2 - n4;
        let mut merged = AsPath::default();
        for s in self.segments {
            match s.kind {
                SegmentType::ConfedSequence | SegmentType::ConfedSet => merged.push(s),
                _ if take == 0 => break,
                SegmentType::Set => {
                    take -= 1;
                    merged.push(s);
                }
                SegmentType::Sequence => {
                    let n = take.min(s.asns.len());
                    take -= n;
                    merged.push(Segment { kind: s.kind, asns: s.asns[..n].to_vec() });
                }
            }
        }
        for s in as4.segments {
            merged.push(s);
        }
        merged
    }
}

/// Why an AS_PATH or AS4_PATH could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PathError {
    /// Unknown segment type, empty segment, or a segment overrunning the attribute.
    Malformed,
    /// AS 0 in a segment (RFC 7607 §2).
    AsZero,
}

/// In JSON: the list of segments.
impl Serialize for AsPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.segments.serialize(s)
    }
}

/// Read back in canonical form.
impl<'de> Deserialize<'de> for AsPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut path = AsPath::default();
        for segment in Vec::<Segment>::deserialize(d)? {
            path.push(segment);
        }
        Ok(path)
    }
}

impl fmt::Display for AsPath {
    /// The usual notation: `65001 65002 {65003,65004} (65010 65011) [65012]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let (open, sep, close) = match s.kind {
                SegmentType::Sequence => ("", " ", ""),
                SegmentType::Set => ("{", ",", "}"),
                SegmentType::ConfedSequence => ("(", " ", ")"),
                SegmentType::ConfedSet => ("[", ",", "]"),
            };
            f.write_str(open)?;
            for (j, asn) in s.asns.iter().enumerate() {
                if j > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{asn}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

/// AGGREGATOR (RFC 4271 §5.1.7), with the AS in 4 octets. In JSON:
/// `{"asn": 65010, "address": "192.0.2.1"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

impl fmt::Display for Aggregator {
    /// `65010 192.0.2.1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.asn, self.address)
    }
}

/// A COMMUNITIES value (RFC 1997).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// RFC 8326.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// RFC 9494 (long-lived graceful restart).
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    pub const NO_LLGR: Community = Community(0xFFFF_0007);

    /// The high-order two octets, an AS number by convention (RFC 1997).
    pub fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The low-order two octets.
    pub fn value(self) -> u16 {
        self.0 as u16
    }

    pub fn from_parts(asn: u16, value: u16) -> Community {
        Community(u32::from(asn) << 16 | u32::from(value))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.asn(), self.value())
    }
}

/// An EXTENDED_COMMUNITIES value (RFC 4360), kept as its 8 octets: type, subtype and
/// a 6-octet value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtCommunity(pub [u8; 8]);

/// The extended communities [`ExtCommunity::decode`] knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtCommunityKind {
    /// Route target (subtype 0x02).
    RouteTarget,
    /// Route origin, or site of origin (subtype 0x03).
    RouteOrigin,
}

/// The global administrator of a route target or route origin: an AS number (two- or
/// four-octet types) or an IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GlobalAdmin {
    Asn(u32),
    Address(Ipv4Addr),
}

impl fmt::Display for GlobalAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobalAdmin::Asn(asn) => asn.fmt(f),
            GlobalAdmin::Address(address) => address.fmt(f),
        }
    }
}

/// A route target or route origin: kind, global and local administrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TargetOrOrigin {
    pub kind: ExtCommunityKind,
    pub global: GlobalAdmin,
    pub local: u32,
}

impl ExtCommunity {
    /// The type octet (with the IANA authority and transitive bits).
    pub fn type_code(self) -> u8 {
        self.0[0]
    }

    pub fn subtype(self) -> u8 {
        self.0[1]
    }

    pub fn value(self) -> [u8; 6] {
        let [_, _, value @ ..] = self.0;
        value
    }

    /// Route target and route origin of the transitive two-octet AS, IPv4 address and
    /// four-octet AS types (RFC 4360 §4, RFC 5668 §2); `None` for anything else.
    pub fn decode(self) -> Option<TargetOrOrigin> {
        let b = self.0;
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let kind = match b[1] {
            0x02 => ExtCommunityKind::RouteTarget,
            0x03 => ExtCommunityKind::RouteOrigin,
            _ => return None,
        };
        let (global, local) = match b[0] {
            0x00 => (GlobalAdmin::Asn(u32::from(u16_at(2))), u32_at(4)),
            0x01 => (GlobalAdmin::Address(Ipv4Addr::new(b[2], b[3], b[4], b[5])), u32::from(u16_at(6))),
            0x02 => (GlobalAdmin::Asn(u32_at(2)), u32::from(u16_at(6))),
            _ => return None,
        };
        Some(TargetOrOrigin { kind, global, local })
    }
}

impl fmt::Display for ExtCommunity {
    /// The usual notation where the type is known, `RT:65000:100`, `SoO:192.0.2.1:7`;
    /// otherwise the 16 hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decode() {
            Some(TargetOrOrigin { kind, global, local }) => {
                let kind = match kind {
                    ExtCommunityKind::RouteTarget => "RT",
                    ExtCommunityKind::RouteOrigin => "SoO",
                };
                write!(f, "{kind}:{global}:{local}")
            }
            None => self.0.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

/// A LARGE_COMMUNITY value (RFC 8092). In JSON: `{"global": 64512, "local1": 1,
/// "local2": 2}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LargeCommunity {
    pub global: u32,
    pub local1: u32,
    pub local2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

/// An attribute this codec does not interpret, byte-exact with its flags.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawAttr {
    pub flags: u8,
    pub type_code: u8,
    pub value: Bytes,
}

impl RawAttr {
    /// An optional transitive attribute we pass on without understanding it gets the
    /// Partial bit (RFC 4271 §5). Non-transitive ones are not passed on at all.
    pub fn passed_on(&self) -> Option<RawAttr> {
        (self.flags & flags::OPTIONAL != 0 && self.flags & flags::TRANSITIVE != 0)
            .then(|| RawAttr { flags: self.flags | flags::PARTIAL, ..self.clone() })
    }
}

/// The next hop of an MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3 for the IPv6 link-local
/// address, RFC 8950 for IPv6 next hops of IPv4 routes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NextHop {
    V4(Ipv4Addr),
    V6 { global: Ipv6Addr, link_local: Option<Ipv6Addr> },
}

impl NextHop {
    fn encoded_len(&self) -> usize {
        match self {
            NextHop::V4(_) => 4,
            NextHop::V6 { link_local: None, .. } => 16,
            NextHop::V6 { link_local: Some(_), .. } => 32,
        }
    }
    fn encode(&self, out: &mut BytesMut) {
        match self {
            NextHop::V4(a) => out.put_slice(&a.octets()),
            NextHop::V6 { global, link_local } => {
                out.put_slice(&global.octets());
                if let Some(ll) = link_local {
                    out.put_slice(&ll.octets());
                }
            }
        }
    }
}

/// Why `a` cannot be a next hop: RFC 4271 §6.3 wants a valid host address, which
/// rules out "this network" (0/8, RFC 1122 §3.2.1.3), loopback (127/8), multicast
/// (224/4) and class E with the limited broadcast (240/4).
pub(crate) fn invalid_v4_next_hop(a: Ipv4Addr) -> Option<&'static str> {
    match a.octets()[0] {
        0 => Some("next hop in 0.0.0.0/8"),
        127 => Some("loopback next hop"),
        224..=239 => Some("multicast next hop"),
        240..=255 => Some("class E or broadcast next hop"),
        _ => None,
    }
}

/// Why an IPv6 next hop cannot be used: the unspecified address, loopback or multicast
/// as the global address; or a link-local address alone where RFC 2545 §3 wants the
/// global address first (a link-local address may only follow it).
pub(crate) fn invalid_v6_next_hop(global: Ipv6Addr, link_local: Option<Ipv6Addr>) -> Option<&'static str> {
    if global.is_unspecified() {
        Some("unspecified IPv6 next hop")
    } else if global.is_loopback() {
        Some("loopback IPv6 next hop")
    } else if global.is_multicast() {
        Some("multicast IPv6 next hop")
    } else if link_local.is_none() && global.is_unicast_link_local() {
        Some("link-local IPv6 next hop without a global address (RFC 2545)")
    } else {
        None
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextHop::V4(a) => a.fmt(f),
            NextHop::V6 { global, link_local: None } => global.fmt(f),
            NextHop::V6 { global, link_local: Some(ll) } => write!(f, "{global} ({ll})"),
        }
    }
}

/// MP_REACH_NLRI of a prefix family (RFC 4760 §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MpReach {
    pub family: Family,
    pub next_hop: NextHop,
    pub nlri: Vec<Nlri>,
}

/// MP_UNREACH_NLRI of a prefix family (RFC 4760 §4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    pub family: Family,
    pub withdrawn: Vec<Nlri>,
}

/// Every path attribute of one UPDATE. Lists are empty when the attribute is absent
/// (an empty list is malformed on the wire, RFC 7606 §7.8, §7.10, §7.14; RFC 8092 §6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathAttrs {
    pub origin: Option<Origin>,
    pub as_path: Option<AsPath>,
    pub next_hop: Option<Ipv4Addr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<Aggregator>,
    pub communities: Vec<Community>,
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: Vec<Ipv4Addr>,
    pub ext_communities: Vec<ExtCommunity>,
    pub large_communities: Vec<LargeCommunity>,
    /// Boxed, as the rare and large members: every interned attribute set pays for the
    /// inline size of this struct.
    pub mp_reach: Option<Box<MpReach>>,
    pub mp_unreach: Option<Box<MpUnreach>>,
    /// Attributes not interpreted here (including MP attributes of families whose
    /// NLRI this codec does not decode), in the order received.
    pub unknown: Vec<RawAttr>,
}

/// Which optional/transitive flags a known attribute must carry (RFC 4271 §5,
/// RFC 7606 §3 c); `None` for codes this codec does not interpret.
pub(crate) fn required_flags(type_code: u8) -> Option<u8> {
    use code::*;
    const WELL_KNOWN: u8 = flags::TRANSITIVE;
    const OPT_TRANS: u8 = flags::OPTIONAL | flags::TRANSITIVE;
    const OPT_NON_TRANS: u8 = flags::OPTIONAL;
    Some(match type_code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => WELL_KNOWN,
        MED | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH_NLRI | MP_UNREACH_NLRI => OPT_NON_TRANS,
        AGGREGATOR | COMMUNITIES | EXTENDED_COMMUNITIES | AS4_PATH | AS4_AGGREGATOR | LARGE_COMMUNITY => OPT_TRANS,
        _ => return None,
    })
}

/// The outcome of one attribute that could not be used as sent.
pub(crate) enum Fault {
    /// With the RFC 4271 §6.3 subcode the NOTIFICATION would carry where RFC 7606 §5.2
    /// still asks for a session reset.
    TreatAsWithdraw(UpdateError, &'static str),
    Discard(&'static str),
}

/// Scratch for the RFC 6793 attributes, merged once the whole block is read.
#[derive(Default)]
pub(crate) struct As4 {
    pub path: Option<AsPath>,
    pub aggregator: Option<Aggregator>,
}

fn list<T>(mut r: Reader<'_>, size: usize, item: impl Fn(&mut Reader<'_>) -> T) -> Option<Vec<T>> {
    if r.is_empty() || !r.remaining().is_multiple_of(size) {
        return None;
    }
    let mut out = Vec::with_capacity(r.remaining() / size);
    while !r.is_empty() {
        out.push(item(&mut r));
    }
    Some(out)
}

impl PathAttrs {
    /// The next hop the routes of these attributes forward to, as encoded:
    /// MP_REACH_NLRI's when present (the RIB keeps it there for every route that is not
    /// IPv4 with an IPv4 NEXT_HOP), else NEXT_HOP. Not named `next_hop`, which is the
    /// NEXT_HOP attribute alone.
    pub fn effective_next_hop(&self) -> Option<NextHop> {
        match &self.mp_reach {
            Some(r) => Some(r.next_hop),
            None => self.next_hop.map(NextHop::V4),
        }
    }

    /// Decodes the value of one of the attributes in the table (everything but
    /// MP_REACH/MP_UNREACH, which the UPDATE decoder handles because their errors are
    /// fatal). The flags were checked by the caller.
    pub(crate) fn decode_known(
        &mut self,
        type_code: u8,
        mut r: Reader<'_>,
        ctx: &CodecCtx,
        as4: &mut As4,
    ) -> Result<(), Fault> {
        use Fault::{Discard, TreatAsWithdraw};
        use UpdateError::{AttributeLengthError as Length, MalformedAsPath};
        let len = r.remaining();
        // The reads below happen only after the length was checked, so they cannot fail.
        match type_code {
            // RFC 7606 §7.1.
            code::ORIGIN => {
                self.origin = Some(match (len, r.u8()) {
                    (1, Ok(0)) => Origin::Igp,
                    (1, Ok(1)) => Origin::Egp,
                    (1, Ok(2)) => Origin::Incomplete,
                    (1, _) => {
                        return Err(TreatAsWithdraw(UpdateError::InvalidOriginAttribute, "ORIGIN value undefined"))
                    }
                    _ => return Err(TreatAsWithdraw(Length, "ORIGIN length is not 1")),
                })
            }
            // RFC 7606 §7.2.
            // RFC 7607 §2: AS 0 makes it malformed, handled by RFC 7606.
            code::AS_PATH => {
                let path = AsPath::decode(r, ctx.four_octet_as).map_err(|e| match e {
                    PathError::Malformed => TreatAsWithdraw(MalformedAsPath, "AS_PATH malformed"),
                    PathError::AsZero => TreatAsWithdraw(MalformedAsPath, "AS_PATH contains AS 0 (RFC 7607)"),
                })?;
                if ctx.external && path.has_confed() {
                    return Err(TreatAsWithdraw(
                        MalformedAsPath,
                        "AS_PATH with confederation segments from an external peer",
                    ));
                }
                self.as_path = Some(path);
            }
            // RFC 7606 §7.3.
            code::NEXT_HOP => match r.u32() {
                Ok(a) if len == 4 => self.next_hop = Some(Ipv4Addr::from(a)),
                _ => return Err(TreatAsWithdraw(Length, "NEXT_HOP length is not 4")),
            },
            // RFC 7606 §7.4.
            code::MED => match r.u32() {
                Ok(v) if len == 4 => self.med = Some(v),
                _ => return Err(TreatAsWithdraw(Length, "MULTI_EXIT_DISC length is not 4")),
            },
            // RFC 7606 §7.5.
            code::LOCAL_PREF if ctx.external => return Err(Discard("LOCAL_PREF from an external peer")),
            code::LOCAL_PREF => match r.u32() {
                Ok(v) if len == 4 => self.local_pref = Some(v),
                _ => return Err(TreatAsWithdraw(Length, "LOCAL_PREF length is not 4")),
            },
            // RFC 7606 §7.6.
            code::ATOMIC_AGGREGATE if len != 0 => return Err(Discard("ATOMIC_AGGREGATE length is not 0")),
            code::ATOMIC_AGGREGATE => self.atomic_aggregate = true,
            // RFC 7606 §7.7.
            code::AGGREGATOR => {
                let asn = match (len, ctx.four_octet_as) {
                    (8, true) => r.u32(),
                    (6, false) => r.u16().map(u32::from),
                    _ => return Err(Discard("AGGREGATOR length does not match the session's AS size")),
                };
                let (Ok(asn), Ok(address)) = (asn, r.u32()) else {
                    return Err(Discard("AGGREGATOR truncated"));
                };
                // RFC 7607 §2: malformed, and RFC 7606 §7.7 discards a malformed one.
                if asn == 0 {
                    return Err(Discard("AGGREGATOR with AS 0 (RFC 7607)"));
                }
                self.aggregator = Some(Aggregator { asn, address: Ipv4Addr::from(address) });
            }
            // RFC 7606 §7.8.
            code::COMMUNITIES => {
                self.communities = list(r, 4, |r| Community(r.u32().unwrap_or_default()))
                    .ok_or(TreatAsWithdraw(Length, "COMMUNITIES length is not a non-zero multiple of 4"))?;
            }
            // RFC 7606 §7.9.
            code::ORIGINATOR_ID if ctx.external => return Err(Discard("ORIGINATOR_ID from an external peer")),
            code::ORIGINATOR_ID => match r.u32() {
                Ok(v) if len == 4 => self.originator_id = Some(Ipv4Addr::from(v)),
                _ => return Err(TreatAsWithdraw(Length, "ORIGINATOR_ID length is not 4")),
            },
            // RFC 7606 §7.10.
            code::CLUSTER_LIST if ctx.external => return Err(Discard("CLUSTER_LIST from an external peer")),
            code::CLUSTER_LIST => {
                self.cluster_list = list(r, 4, |r| Ipv4Addr::from(r.u32().unwrap_or_default()))
                    .ok_or(TreatAsWithdraw(Length, "CLUSTER_LIST length is not a non-zero multiple of 4"))?;
            }
            // RFC 7606 §7.14.
            code::EXTENDED_COMMUNITIES => {
                self.ext_communities = list(r, 8, |r| ExtCommunity(r.array().unwrap_or_default()))
                    .ok_or(TreatAsWithdraw(Length, "EXTENDED_COMMUNITIES length is not a non-zero multiple of 8"))?;
            }
            // RFC 8092 §6.
            code::LARGE_COMMUNITY => {
                self.large_communities = list(r, 12, |r| LargeCommunity {
                    global: r.u32().unwrap_or_default(),
                    local1: r.u32().unwrap_or_default(),
                    local2: r.u32().unwrap_or_default(),
                })
                .ok_or(TreatAsWithdraw(Length, "LARGE_COMMUNITY length is not a non-zero multiple of 12"))?;
            }
            // RFC 6793 §6: between two 4-octet speakers these must not appear; when
            // malformed they are discarded.
            code::AS4_PATH if ctx.four_octet_as => return Err(Discard("AS4_PATH on a 4-octet AS session")),
            // RFC 7607 §2: AS 0 makes it malformed, handled by RFC 6793 §6 (discard).
            code::AS4_PATH => {
                let path = AsPath::decode(r, true).map_err(|e| match e {
                    PathError::Malformed => Discard("AS4_PATH malformed"),
                    PathError::AsZero => Discard("AS4_PATH contains AS 0 (RFC 7607)"),
                })?;
                if path.has_confed() {
                    return Err(Discard("AS4_PATH with confederation segments"));
                }
                as4.path = Some(path);
            }
            code::AS4_AGGREGATOR if ctx.four_octet_as => return Err(Discard("AS4_AGGREGATOR on a 4-octet AS session")),
            code::AS4_AGGREGATOR => match (len, r.u32(), r.u32()) {
                (8, Ok(0), Ok(_)) => return Err(Discard("AS4_AGGREGATOR with AS 0 (RFC 7607)")),
                (8, Ok(asn), Ok(address)) => {
                    as4.aggregator = Some(Aggregator { asn, address: Ipv4Addr::from(address) })
                }
                _ => return Err(Discard("AS4_AGGREGATOR length is not 8")),
            },
            _ => unreachable!("decode_known called for attribute {type_code} outside the table"),
        }
        Ok(())
    }

    /// RFC 6793 §4.2.3, applied once the whole attribute block was read on a session
    /// without 4-octet AS numbers.
    pub(crate) fn merge_as4(&mut self, as4: As4) {
        if let Some(agg) = self.aggregator {
            if agg.asn != u32::from(AS_TRANS) {
                // The AGGREGATOR is from a 2-octet speaker that aggregated after the
                // AS4 attributes were attached: both are ignored.
                return;
            }
            if let Some(agg4) = as4.aggregator {
                self.aggregator = Some(agg4);
            }
        }
        if let (Some(path), Some(path4)) = (self.as_path.as_mut(), as4.path) {
            *path = std::mem::take(path).merge_as4(path4);
        }
    }

    /// Appends every attribute except NEXT_HOP, MP_REACH_NLRI and MP_UNREACH_NLRI,
    /// which depend on the NLRI each message carries: the block shared by every UPDATE
    /// of one attribute set.
    pub(crate) fn encode_common(&self, ctx: &CodecCtx, out: &mut BytesMut) {
        use code::*;
        const WK: u8 = flags::TRANSITIVE;
        const OT: u8 = flags::OPTIONAL | flags::TRANSITIVE;
        const ON: u8 = flags::OPTIONAL;
        if let Some(origin) = self.origin {
            put_header(out, WK, ORIGIN, 1);
            out.put_u8(origin as u8);
        }
        if let Some(path) = &self.as_path {
            let asn_len = if ctx.four_octet_as { 4 } else { 2 };
            put_header(out, WK, AS_PATH, path.encoded_len(asn_len, true));
            path.encode(ctx.four_octet_as, true, out);
        }
        if let Some(med) = self.med {
            put_header(out, ON, MED, 4);
            out.put_u32(med);
        }
        if let Some(lp) = self.local_pref {
            put_header(out, WK, LOCAL_PREF, 4);
            out.put_u32(lp);
        }
        if self.atomic_aggregate {
            put_header(out, WK, ATOMIC_AGGREGATE, 0);
        }
        if let Some(agg) = self.aggregator {
            if ctx.four_octet_as {
                put_header(out, OT, AGGREGATOR, 8);
                out.put_u32(agg.asn);
            } else {
                put_header(out, OT, AGGREGATOR, 6);
                out.put_u16(u16::try_from(agg.asn).unwrap_or(AS_TRANS));
            }
            out.put_slice(&agg.address.octets());
        }
        if !self.communities.is_empty() {
            put_header(out, OT, COMMUNITIES, self.communities.len() * 4);
            for c in &self.communities {
                out.put_u32(c.0);
            }
        }
        if let Some(id) = self.originator_id {
            put_header(out, ON, ORIGINATOR_ID, 4);
            out.put_slice(&id.octets());
        }
        if !self.cluster_list.is_empty() {
            put_header(out, ON, CLUSTER_LIST, self.cluster_list.len() * 4);
            for id in &self.cluster_list {
                out.put_slice(&id.octets());
            }
        }
        if !self.ext_communities.is_empty() {
            put_header(out, OT, EXTENDED_COMMUNITIES, self.ext_communities.len() * 8);
            for c in &self.ext_communities {
                out.put_slice(&c.0);
            }
        }
        if !ctx.four_octet_as {
            // RFC 6793 §4.2.2: the real path and aggregator travel in AS4_* beside the
            // AS_TRANS-filled 2-octet attributes, only when something needs 4 octets.
            if let Some(path) = self.as_path.as_ref().filter(|p| p.has_four_octet()) {
                put_header(out, OT, AS4_PATH, path.encoded_len(4, false));
                path.encode(true, false, out);
            }
            if let Some(agg) = self.aggregator.filter(|a| a.asn > 0xffff) {
                put_header(out, OT, AS4_AGGREGATOR, 8);
                out.put_u32(agg.asn);
                out.put_slice(&agg.address.octets());
            }
        }
        if !self.large_communities.is_empty() {
            put_header(out, OT, LARGE_COMMUNITY, self.large_communities.len() * 12);
            for c in &self.large_communities {
                out.put_u32(c.global);
                out.put_u32(c.local1);
                out.put_u32(c.local2);
            }
        }
        for raw in &self.unknown {
            if raw.flags & flags::EXTENDED_LENGTH != 0 {
                // Passed on byte-exact: the decoder keeps a sender's Extended Length bit
                // even on a short value, so the length stays in two octets, or the
                // attribute would decode back with other flags (found by fuzzing).
                out.put_u8(raw.flags);
                out.put_u8(raw.type_code);
                out.put_u16(raw.value.len() as u16);
            } else {
                put_header(out, raw.flags, raw.type_code, raw.value.len());
            }
            out.put_slice(&raw.value);
        }
    }

    pub(crate) fn encode_next_hop(next_hop: Ipv4Addr, out: &mut BytesMut) {
        put_header(out, flags::TRANSITIVE, code::NEXT_HOP, 4);
        out.put_slice(&next_hop.octets());
    }

    /// MP_REACH_NLRI up to the start of its NLRI; returns where its 2-octet length
    /// goes, to be patched by [`finish_mp`] once the NLRI are appended.
    pub(crate) fn start_mp_reach(family: Family, next_hop: &NextHop, out: &mut BytesMut) -> usize {
        out.put_u8(flags::OPTIONAL | flags::EXTENDED_LENGTH);
        out.put_u8(code::MP_REACH_NLRI);
        let at = out.len();
        out.put_u16(0);
        out.put_u16(family.afi.0);
        out.put_u8(family.safi.0);
        out.put_u8(next_hop.encoded_len() as u8);
        next_hop.encode(out);
        out.put_u8(0); // reserved (was the SNPA count of RFC 2858)
        at
    }

    /// MP_UNREACH_NLRI up to the start of its withdrawn routes (see [`finish_mp`]).
    pub(crate) fn start_mp_unreach(family: Family, out: &mut BytesMut) -> usize {
        out.put_u8(flags::OPTIONAL | flags::EXTENDED_LENGTH);
        out.put_u8(code::MP_UNREACH_NLRI);
        let at = out.len();
        out.put_u16(0);
        out.put_u16(family.afi.0);
        out.put_u8(family.safi.0);
        at
    }
}

/// Octets MP_REACH_NLRI takes before its NLRI, header included.
pub(crate) fn mp_reach_overhead(next_hop: &NextHop) -> usize {
    4 + 2 + 1 + 1 + next_hop.encoded_len() + 1
}

/// Octets MP_UNREACH_NLRI takes before its withdrawn routes, header included.
pub(crate) const MP_UNREACH_OVERHEAD: usize = 4 + 3;

/// Patches the length of an MP attribute started at `at` (see `start_mp_reach`).
pub(crate) fn finish_mp(at: usize, out: &mut BytesMut) {
    let len = out.len() - at - 2;
    out[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes());
}

/// Attribute header, with the Extended Length bit exactly when the value needs it.
fn put_header(out: &mut BytesMut, flag_bits: u8, type_code: u8, len: usize) {
    if len > 255 {
        out.put_u8(flag_bits | flags::EXTENDED_LENGTH);
        out.put_u8(type_code);
        out.put_u16(len as u16);
    } else {
        out.put_u8(flag_bits);
        out.put_u8(type_code);
        out.put_u8(len as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(asns: &[u32]) -> Segment {
        Segment { kind: SegmentType::Sequence, asns: asns.to_vec() }
    }

    #[test]
    fn as_path_display_and_length() {
        let mut p = AsPath::default();
        p.push(Segment { kind: SegmentType::ConfedSequence, asns: vec![65010, 65011] });
        p.push(seq(&[65001, 65002]));
        p.push(Segment { kind: SegmentType::Set, asns: vec![65003, 65004] });
        assert_eq!(p.to_string(), "(65010 65011) 65001 65002 {65003,65004}");
        assert_eq!(p.len_for_decision(), 3);
    }

    #[test]
    fn extended_communities_in_the_usual_notation() {
        let ext = |hex: &str| {
            let bytes: Vec<u8> = (0..8).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
            ExtCommunity(bytes.try_into().unwrap())
        };
        assert_eq!(ext("0002fde800000064").to_string(), "RT:65000:100");
        assert_eq!(ext("0103c00002010007").to_string(), "SoO:192.0.2.1:7");
        assert_eq!(ext("0202fa56ea000064").to_string(), "RT:4200000000:100");
        // Other types stay hex.
        assert_eq!(ext("030c00000000000a").to_string(), "030c00000000000a");
        assert_eq!(ext("4002fde800000064").to_string(), "4002fde800000064");
        let rt = ext("0202fa56ea000064").decode().unwrap();
        assert_eq!(
            rt,
            TargetOrOrigin { kind: ExtCommunityKind::RouteTarget, global: GlobalAdmin::Asn(4_200_000_000), local: 100 }
        );
        assert_eq!((ext("030c00000000000a").type_code(), ext("030c00000000000a").subtype()), (3, 12));
        assert_eq!(ext("030c00000000000a").value(), [0, 0, 0, 0, 0, 10]);
    }

    #[test]
    fn attribute_values_in_words() {
        assert_eq!(Origin::Igp.to_string(), "IGP");
        assert_eq!(Origin::Incomplete.to_string(), "incomplete");
        assert_eq!(Aggregator { asn: 65010, address: Ipv4Addr::new(192, 0, 2, 1) }.to_string(), "65010 192.0.2.1");
        assert_eq!(Community::from_parts(65535, 65281), Community::NO_EXPORT);
        assert_eq!(Community::NO_EXPORT.to_string(), "65535:65281");
    }

    #[test]
    fn adjacent_sequences_join() {
        let mut p = AsPath::default();
        p.push(seq(&[1, 2]));
        p.push(seq(&[]));
        p.push(seq(&[3]));
        assert_eq!(p, AsPath::from_sequence(vec![1, 2, 3]));
    }

    #[test]
    fn as4_merge_prepends_what_a_2_octet_speaker_added() {
        // RFC 6793 §4.2.3: a 2-octet speaker 65001 prepended itself to a path whose
        // real form is 4200000001 65002.
        let two = AsPath::from_sequence(vec![65001, u32::from(AS_TRANS), 65002]);
        let four = AsPath::from_sequence(vec![4_200_000_001, 65002]);
        assert_eq!(two.merge_as4(four).to_string(), "65001 4200000001 65002");
        // AS4_PATH longer than AS_PATH: ignored.
        let two = AsPath::from_sequence(vec![u32::from(AS_TRANS)]);
        let four = AsPath::from_sequence(vec![4_200_000_001, 65002]);
        assert_eq!(two.clone().merge_as4(four), two);
    }

    /// Fuzzing regression (fuzz target decode_message, input
    /// f7 02 00000015900f0011000281 30fd0000240000 30fd0000440000: ctx octet, type, body):
    /// an MP_UNREACH_NLRI of a family kept raw (IPv6, SAFI 129), sent with the Extended
    /// Length bit on a 17-octet value, was re-encoded with a one-octet length and so
    /// decoded to a different `RawAttr` (flags 0x80 instead of 0x90).
    #[test]
    fn raw_attr_with_needless_extended_length_round_trips() {
        use crate::types::FamilySet;
        use crate::wire::{decode_message, Message};
        let ctx = CodecCtx {
            four_octet_as: true,
            extended_message: true,
            add_path: FamilySet::from_bits(0x0f),
            external: true,
            extended_next_hop: FamilySet::EMPTY,
        };
        let mut wire = vec![0xff; 16];
        wire.extend_from_slice(&[0x00, 0x2c, 0x02, 0x00, 0x00, 0x00, 0x15, 0x90, 0x0f, 0x00, 0x11]);
        wire.extend_from_slice(&[0x00, 0x02, 0x81, 0x30, 0xfd, 0x00, 0x00, 0x24, 0x00, 0x00]);
        wire.extend_from_slice(&[0x30, 0xfd, 0x00, 0x00, 0x44, 0x00, 0x00]);
        let wire = Bytes::from(wire);
        let msg = decode_message(&wire, &ctx).unwrap();
        let Message::Update(update) = &msg else { panic!("not an UPDATE: {msg:?}") };
        assert!(update.errors.is_empty(), "{:?}", update.errors);
        assert_eq!(update.attrs.unknown[0].flags, flags::OPTIONAL | flags::EXTENDED_LENGTH);
        let encoded = msg.to_bytes(&ctx).unwrap();
        assert_eq!(encoded, wire, "passed on byte-exact");
        assert_eq!(decode_message(&encoded, &ctx).unwrap(), msg);
    }

    #[test]
    fn raw_attr_pass_on_rules() {
        let t = RawAttr { flags: flags::OPTIONAL | flags::TRANSITIVE, type_code: 99, value: Bytes::from_static(b"x") };
        assert_eq!(t.passed_on().unwrap().flags, flags::OPTIONAL | flags::TRANSITIVE | flags::PARTIAL);
        let n = RawAttr { flags: flags::OPTIONAL, ..t };
        assert_eq!(n.passed_on(), None);
    }
}
