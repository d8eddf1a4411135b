//! UPDATE (RFC 4271 §4.3) for IPv4 and IPv6 unicast and multicast: decoding with the
//! RFC 7606 error handling, encoding of one message, and the packer that fills as
//! many NLRI under one attribute set into each UPDATE as fit.
//!
//! ```text
//! +-----------------------------+
//! | Withdrawn Routes Length (2) |
//! | Withdrawn Routes (IPv4)     |
//! | Total Path Attr Length (2)  |
//! | Path Attributes             |   MP_REACH_NLRI / MP_UNREACH_NLRI carry other families
//! | NLRI (IPv4, to the end)     |
//! +-----------------------------+
//! ```
//!
//! Error handling, strongest first (RFC 7606 §3 h: the strongest action wins):
//! - session reset: the withdrawn routes, attribute block or NLRI cannot be walked;
//!   MP_REACH/MP_UNREACH malformed or repeated; an unrecognized well-known attribute;
//!   an MP attribute overrunning the attribute block (its NLRI cannot be found, RFC
//!   7606 §3 j, §5.3), which is AFI/SAFI disable when its family can be read;
//! - treat-as-withdraw and attribute discard: recorded in [`Update::errors`], the
//!   message decodes. This includes any other attribute overrunning the block, or too
//!   few octets left for an attribute header (RFC 7606 §4: the Total Path Attribute
//!   Length still locates the NLRI, and every MP attribute was found before it), and
//!   a next hop that is not a valid host address (RFC 4271 §6.3, RFC 2545 §3, RFC
//!   8950), for which the routes are ignored without a NOTIFICATION.
//!
//! [`Update::errors`] is bounded: one crafted UPDATE can hold thousands of malformed
//! or repeated attributes, so only the first [`MAX_KEPT_ERRORS`] are kept, with their
//! total in [`Update::error_count`].

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use super::attr::{
    self, code, flags, invalid_v4_next_hop, invalid_v6_next_hop, As4, Fault, MpReach, MpUnreach, NextHop, PathAttrs,
    RawAttr,
};
use super::ctx::CodecCtx;
use super::error::{AttrAction, AttrError, DecodeError, ErrorAction};
use super::notification::{ErrorCode, Notification, UpdateError};
use super::reader::Reader;
use super::{EncodeError, HEADER_LEN};
use crate::prefix::{decode_nlri, Nlri};
use crate::types::{Afi, Family};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// IPv4 unicast routes withdrawn in the Withdrawn Routes field.
    pub withdrawn: Vec<Nlri>,
    pub attrs: PathAttrs,
    /// IPv4 unicast routes announced in the NLRI field.
    pub nlri: Vec<Nlri>,
    /// RFC 7606 outcomes that did not end the session, each with its reason: the first
    /// [`MAX_KEPT_ERRORS`], always including a treat-as-withdraw if there was one.
    pub errors: Vec<AttrError>,
    /// How many outcomes there were in all (`errors` may hold fewer).
    pub error_count: usize,
}

/// How many RFC 7606 outcomes [`Update::errors`] keeps.
pub const MAX_KEPT_ERRORS: usize = 4;

impl Update {
    /// The End-of-RIB marker of `family` (RFC 4724 §2): an empty UPDATE for IPv4
    /// unicast, an UPDATE holding only an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib(family: Family) -> Update {
        let mut update = Update::default();
        if family != Family::IPV4_UNICAST {
            update.attrs.mp_unreach = Some(Box::new(MpUnreach { family, withdrawn: Vec::new() }));
        }
        update
    }

    /// The family this UPDATE marks the End-of-RIB of, if it is such a marker.
    pub fn end_of_rib_family(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() || !self.errors.is_empty() {
            return None;
        }
        let only_unreach = PathAttrs { mp_unreach: self.attrs.mp_unreach.clone(), ..PathAttrs::default() };
        if self.attrs != only_unreach {
            return None;
        }
        match &self.attrs.mp_unreach {
            None => Some(Family::IPV4_UNICAST),
            Some(u) if u.withdrawn.is_empty() => Some(u.family),
            Some(_) => None,
        }
    }

    /// RFC 7606 treat-as-withdraw applies: every route this UPDATE announces is to be
    /// handled as withdrawn ([`Update::withdrawals`] includes them, and
    /// [`Update::announcements`] is empty).
    pub fn treat_as_withdraw(&self) -> bool {
        self.errors.iter().any(|e| e.action == AttrAction::TreatAsWithdraw)
    }

    /// Every route announced with `self.attrs`, by family, unless treat-as-withdraw applies.
    pub fn announcements(&self) -> impl Iterator<Item = (Family, &Nlri)> + '_ {
        let live = !self.treat_as_withdraw();
        self.announced_raw().filter(move |_| live)
    }

    /// Every route this UPDATE takes away, by family: the Withdrawn Routes field,
    /// MP_UNREACH_NLRI, and under treat-as-withdraw everything it announces.
    pub fn withdrawals(&self) -> impl Iterator<Item = (Family, &Nlri)> + '_ {
        let taw = self.treat_as_withdraw();
        let v4 = self.withdrawn.iter().map(|n| (Family::IPV4_UNICAST, n));
        let mp = self.attrs.mp_unreach.iter().flat_map(|u| u.withdrawn.iter().map(move |n| (u.family, n)));
        v4.chain(mp).chain(self.announced_raw().filter(move |_| taw))
    }

    fn announced_raw(&self) -> impl Iterator<Item = (Family, &Nlri)> + '_ {
        let v4 = self.nlri.iter().map(|n| (Family::IPV4_UNICAST, n));
        let mp = self.attrs.mp_reach.iter().flat_map(|r| r.nlri.iter().map(move |n| (r.family, n)));
        v4.chain(mp)
    }

    /// Decodes an UPDATE body.
    pub(crate) fn decode(mut r: Reader<'_>, ctx: &CodecCtx) -> Result<Update, DecodeError> {
        let list_error = |what: &str| {
            DecodeError::update(UpdateError::MalformedAttributeList, Bytes::new(), format!("UPDATE: {what}"))
        };
        let wlen = r.u16().map_err(|_| list_error("truncated Withdrawn Routes Length"))?;
        let withdrawn_field =
            r.bytes(usize::from(wlen)).map_err(|_| list_error("Withdrawn Routes run past the message"))?;
        let alen = r.u16().map_err(|_| list_error("truncated Total Path Attribute Length"))?;
        let attr_block = r.sub(usize::from(alen)).map_err(|_| list_error("path attributes run past the message"))?;
        let nlri_field = r.rest();

        let mut update = Update::default();
        let v4_add_path = ctx.add_path(Family::IPV4_UNICAST);
        decode_nlri(withdrawn_field, Afi::IPV4, v4_add_path, &mut update.withdrawn).map_err(|e| {
            DecodeError::update(UpdateError::InvalidNetworkField, Bytes::new(), format!("UPDATE withdrawn routes: {e}"))
        })?;
        decode_nlri(nlri_field, Afi::IPV4, v4_add_path, &mut update.nlri).map_err(|e| {
            DecodeError::update(UpdateError::InvalidNetworkField, Bytes::new(), format!("UPDATE NLRI: {e}"))
        })?;
        update.decode_attrs(attr_block, ctx)?;
        Ok(update)
    }

    fn decode_attrs(&mut self, mut r: Reader<'_>, ctx: &CodecCtx) -> Result<(), DecodeError> {
        let mut seen = [0u64; 4];
        let mut as4 = As4::default();
        // RFC 7606 §5.2: the RFC 4271 NOTIFICATION of the first treat-as-withdraw, sent
        // after all if the UPDATE turns out to announce nothing; and whether it holds
        // attributes other than MP_UNREACH_NLRI.
        let mut reset: Option<(UpdateError, Bytes)> = None;
        let mut others = false;
        let mut raw_reach = false;
        while !r.is_empty() {
            let start = r;
            others |= start.peek_u8(1) != Some(code::MP_UNREACH_NLRI);
            // RFC 7606 §4: an attribute header cut short, or a last attribute running
            // past the block, is treat-as-withdraw: the Total Path Attribute Length
            // still locates the NLRI, and no MP attribute can hide in what is left.
            let Some((flag_bits, type_code, len)) = attr_header(&mut r) else {
                let type_code = start.peek_u8(1).unwrap_or(0);
                let left = start.remaining();
                self.note(AttrAction::TreatAsWithdraw, type_code, || {
                    format!("{left} octets left at the end of the path attributes, fewer than an attribute needs")
                });
                reset.get_or_insert_with(|| (UpdateError::MalformedAttributeList, Bytes::new()));
                break;
            };
            let Ok(value) = r.sub(len) else {
                let whole = Whole { start, len: start.remaining() };
                if matches!(type_code, code::MP_REACH_NLRI | code::MP_UNREACH_NLRI) {
                    // Its NLRI cannot be found: treat-as-withdraw is not possible
                    // (RFC 7606 §3 j).
                    return Err(mp_error(
                        peek_family(r),
                        whole.bytes(),
                        format!("attribute {type_code} of {len} octets overruns the path attributes"),
                    ));
                }
                let left = r.remaining();
                self.note(AttrAction::TreatAsWithdraw, type_code, || {
                    format!("attribute {type_code} of {len} octets overruns the path attributes ({left} left)")
                });
                reset.get_or_insert_with(|| (UpdateError::AttributeLengthError, whole.bytes()));
                break;
            };
            // The whole attribute, for a NOTIFICATION's data: shared only on error paths.
            let whole = Whole { start, len: start.remaining() - r.remaining() };

            // RFC 7606 §3 g: repeated MP attributes reset the session, other repeats
            // are discarded.
            let bit = 1u64 << (type_code % 64);
            let slot = &mut seen[usize::from(type_code / 64)];
            if *slot & bit != 0 {
                if matches!(type_code, code::MP_REACH_NLRI | code::MP_UNREACH_NLRI) {
                    return Err(DecodeError::update(
                        UpdateError::MalformedAttributeList,
                        whole.bytes(),
                        format!("UPDATE: attribute {type_code} (MP) appears twice"),
                    ));
                }
                self.note(AttrAction::Discard, type_code, || format!("attribute {type_code} appears again"));
                continue;
            }
            *slot |= bit;

            let Some(required) = attr::required_flags(type_code) else {
                if flag_bits & flags::OPTIONAL == 0 {
                    // RFC 4271 §6.3; RFC 7606 leaves this a session reset.
                    return Err(DecodeError::update(
                        UpdateError::UnrecognizedWellKnownAttribute,
                        whole.bytes(),
                        format!("UPDATE: unrecognized well-known attribute {type_code}"),
                    ));
                }
                self.attrs.unknown.push(RawAttr {
                    flags: flag_bits,
                    type_code,
                    value: value.share(value_slice(value)),
                });
                continue;
            };
            let flags_ok = flag_bits & (flags::OPTIONAL | flags::TRANSITIVE) == required;

            match type_code {
                code::MP_REACH_NLRI | code::MP_UNREACH_NLRI => {
                    let family = peek_family(value);
                    if family.is_some_and(Family::has_prefix_nlri) {
                        if type_code == code::MP_REACH_NLRI {
                            self.attrs.mp_reach = Some(Box::new(decode_mp_reach(value, ctx, &whole)?));
                        } else {
                            self.attrs.mp_unreach = Some(Box::new(decode_mp_unreach(value, ctx, &whole)?));
                        }
                    } else if family.is_some() {
                        // A family whose NLRI we do not decode: kept, not interpreted.
                        raw_reach |= type_code == code::MP_REACH_NLRI;
                        self.attrs.unknown.push(RawAttr {
                            flags: flag_bits,
                            type_code,
                            value: value.share(value_slice(value)),
                        });
                    } else {
                        return Err(mp_error(
                            None,
                            whole.bytes(),
                            format!("attribute {type_code} shorter than AFI and SAFI"),
                        ));
                    }
                    if !flags_ok {
                        self.wrong_flags(type_code, flag_bits);
                        reset.get_or_insert_with(|| (UpdateError::AttributeFlagsError, whole.bytes()));
                    }
                }
                _ if !flags_ok => {
                    self.wrong_flags(type_code, flag_bits);
                    reset.get_or_insert_with(|| (UpdateError::AttributeFlagsError, whole.bytes()));
                }
                _ => match self.attrs.decode_known(type_code, value, ctx, &mut as4) {
                    Ok(()) => {}
                    Err(Fault::TreatAsWithdraw(sub, why)) => {
                        self.note(AttrAction::TreatAsWithdraw, type_code, || why.to_string());
                        let data = || if sub == UpdateError::MalformedAsPath { Bytes::new() } else { whole.bytes() };
                        reset.get_or_insert_with(|| (sub, data()));
                    }
                    Err(Fault::Discard(why)) => self.note(AttrAction::Discard, type_code, || why.to_string()),
                },
            }
        }
        if !ctx.four_octet_as {
            self.attrs.merge_as4(as4);
        }
        // RFC 7606 §3 d: mandatory attributes are needed only when something is
        // announced; NEXT_HOP only for routes in the NLRI field (RFC 4760 §3).
        let announces = !self.nlri.is_empty() || self.attrs.mp_reach.is_some();
        if announces {
            let missing = [
                (code::ORIGIN, self.attrs.origin.is_none(), "missing ORIGIN"),
                (code::AS_PATH, self.attrs.as_path.is_none(), "missing AS_PATH"),
                (code::NEXT_HOP, !self.nlri.is_empty() && self.attrs.next_hop.is_none(), "missing NEXT_HOP"),
            ];
            for (type_code, absent, why) in missing {
                if absent && !self.errored(type_code) {
                    self.note(AttrAction::TreatAsWithdraw, type_code, || why.into());
                    // RFC 4271 §6.3: the data is the missing attribute's type code.
                    let data = Bytes::copy_from_slice(&[type_code]);
                    reset.get_or_insert((UpdateError::MissingWellKnownAttribute, data));
                }
            }
        }
        // RFC 7606 §5.2: with attributes besides MP_UNREACH_NLRI but no reachable
        // NLRI, nothing confirms the NLRI were parsed right, so any error stronger
        // than attribute discard is a session reset.
        let reachable =
            !self.nlri.is_empty() || raw_reach || self.attrs.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
        if let (false, true, Some((sub, data))) = (reachable, others, reset) {
            let first = self.errors.iter().find(|e| e.action == AttrAction::TreatAsWithdraw);
            let why = first.map_or("", |e| e.reason.as_str());
            return Err(DecodeError::update(
                sub,
                data,
                format!("UPDATE without reachable NLRI: {why} (RFC 7606 §5.2)"),
            ));
        }
        self.check_next_hops(ctx);
        Ok(())
    }

    /// RFC 4271 §6.3: a next hop that is not a valid host address is semantically
    /// incorrect; its routes are ignored (treat-as-withdraw) and the error logged,
    /// without a NOTIFICATION. NEXT_HOP counts only when the NLRI field announces
    /// something (RFC 4760 §3: otherwise it is ignored). Whether the next hop is one
    /// of our own addresses is the routing engine's check.
    fn check_next_hops(&mut self, ctx: &CodecCtx) {
        if let Some(why) = self.attrs.next_hop.filter(|_| !self.nlri.is_empty()).and_then(invalid_v4_next_hop) {
            let nh = self.attrs.next_hop.unwrap_or(Ipv4Addr::UNSPECIFIED);
            self.note(AttrAction::TreatAsWithdraw, code::NEXT_HOP, || format!("NEXT_HOP {nh}: {why}"));
        }
        let Some(reach) = self.attrs.mp_reach.as_deref().filter(|m| !m.nlri.is_empty()) else { return };
        let (family, next_hop) = (reach.family, reach.next_hop);
        let why = match next_hop {
            NextHop::V4(a) => invalid_v4_next_hop(a),
            NextHop::V6 { .. } if family.afi == Afi::IPV4 && !ctx.extended_next_hop(family) => {
                Some("IPv6 next hop for IPv4 routes without the extended next hop capability (RFC 8950)")
            }
            NextHop::V6 { global, link_local } => invalid_v6_next_hop(global, link_local),
        };
        if let Some(why) = why {
            self.note(AttrAction::TreatAsWithdraw, code::MP_REACH_NLRI, || {
                format!("MP_REACH_NLRI ({family}) next hop {next_hop}: {why}")
            });
        }
    }

    /// RFC 7606 §3 c: the Optional or Transitive bit is not what the type code says.
    fn wrong_flags(&mut self, type_code: u8, flag_bits: u8) {
        self.note(AttrAction::TreatAsWithdraw, type_code, || {
            format!("attribute {type_code} has wrong flags {flag_bits:#04x}")
        });
    }

    /// Records an outcome. Past [`MAX_KEPT_ERRORS`] only the count grows (the reason is
    /// not even formatted), except that a first treat-as-withdraw replaces the last
    /// kept entry, so that [`Update::treat_as_withdraw`] stays true to the message.
    fn note(&mut self, action: AttrAction, type_code: u8, reason: impl FnOnce() -> String) {
        self.error_count += 1;
        if self.errors.len() < MAX_KEPT_ERRORS {
            self.errors.push(AttrError { action, type_code, reason: reason() });
        } else if action == AttrAction::TreatAsWithdraw && !self.treat_as_withdraw() {
            if let Some(last) = self.errors.last_mut() {
                *last = AttrError { action, type_code, reason: reason() };
            }
        }
    }

    fn errored(&self, type_code: u8) -> bool {
        self.errors.iter().any(|e| e.type_code == type_code)
    }

    /// Appends the body of this one UPDATE. The caller checks the size.
    pub(crate) fn encode_body(&self, ctx: &CodecCtx, out: &mut BytesMut) {
        let v4_add_path = ctx.add_path(Family::IPV4_UNICAST);
        let at = out.len();
        out.put_u16(0);
        for n in &self.withdrawn {
            n.encode(v4_add_path, out);
        }
        patch_u16(out, at);
        let at = out.len();
        out.put_u16(0);
        // RFC 7606 §5.1: MP attributes first.
        if let Some(u) = &self.attrs.mp_unreach {
            let mp = PathAttrs::start_mp_unreach(u.family, out);
            let add_path = ctx.add_path(u.family);
            for n in &u.withdrawn {
                n.encode(add_path, out);
            }
            attr::finish_mp(mp, out);
        }
        if let Some(reach) = &self.attrs.mp_reach {
            let mp = PathAttrs::start_mp_reach(reach.family, &reach.next_hop, out);
            let add_path = ctx.add_path(reach.family);
            for n in &reach.nlri {
                n.encode(add_path, out);
            }
            attr::finish_mp(mp, out);
        }
        if let Some(nh) = self.attrs.next_hop {
            PathAttrs::encode_next_hop(nh, out);
        }
        self.attrs.encode_common(ctx, out);
        patch_u16(out, at);
        for n in &self.nlri {
            n.encode(v4_add_path, out);
        }
    }
}

/// Where one attribute lies in the frame, header included.
struct Whole<'a> {
    start: Reader<'a>,
    len: usize,
}

impl Whole<'_> {
    fn bytes(&self) -> Bytes {
        let mut r = self.start;
        r.shared(self.len).unwrap_or_default()
    }
}

/// Flags, type code and value length of the attribute at the front of `r`; `None` when
/// fewer octets are left than the header needs.
fn attr_header(r: &mut Reader<'_>) -> Option<(u8, u8, usize)> {
    let flag_bits = r.u8().ok()?;
    let type_code = r.u8().ok()?;
    let len = if flag_bits & flags::EXTENDED_LENGTH != 0 { r.u16().map(usize::from) } else { r.u8().map(usize::from) };
    Some((flag_bits, type_code, len.ok()?))
}

fn patch_u16(out: &mut BytesMut, at: usize) {
    let len = out.len() - at - 2;
    out[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes());
}

fn value_slice<'a>(mut value: Reader<'a>) -> &'a [u8] {
    value.rest()
}

fn peek_family(mut value: Reader<'_>) -> Option<Family> {
    let afi = value.u16().ok()?;
    let safi = value.u8().ok()?;
    Some(Family::new(Afi(afi), crate::types::Safi(safi)))
}

/// RFC 7606 §7.11 (and RFC 4760 §7): a malformed MP attribute calls for AFI/SAFI
/// disable or session reset; the NOTIFICATION is an Optional Attribute Error carrying
/// the attribute.
fn mp_error(family: Option<Family>, whole: Bytes, reason: String) -> DecodeError {
    let notification = Notification::new(ErrorCode::Update(UpdateError::OptionalAttributeError), whole);
    let action = match family {
        Some(family) => ErrorAction::AfiSafiDisable { family, notification },
        None => ErrorAction::SessionReset(notification),
    };
    DecodeError { action, reason: format!("UPDATE: {reason}") }
}

fn decode_mp_reach(mut r: Reader<'_>, ctx: &CodecCtx, whole: &Whole<'_>) -> Result<MpReach, DecodeError> {
    let family = peek_family(r).expect("invariant: caller peeked the family");
    r.bytes(3).expect("invariant: caller peeked the family");
    let err = |why: String| mp_error(Some(family), whole.bytes(), format!("MP_REACH_NLRI ({family}): {why}"));
    let nh_len = r.u8().map_err(|_| err("truncated next hop length".into()))?;
    let mut nh =
        r.sub(usize::from(nh_len)).map_err(|_| err(format!("next hop of {nh_len} octets runs past the attribute")))?;
    let v6 = |r: &mut Reader<'_>| r.array::<16>().map(std::net::Ipv6Addr::from);
    // RFC 4760 §3 sizes, RFC 2545 §3 (global + link-local), RFC 8950 (IPv6 next hop
    // for IPv4 NLRI).
    let next_hop = match (family.afi, nh_len) {
        (Afi::IPV4, 4) => nh.u32().map(|a| NextHop::V4(Ipv4Addr::from(a))),
        (_, 16) => v6(&mut nh).map(|global| NextHop::V6 { global, link_local: None }),
        (_, 32) => v6(&mut nh).and_then(|global| Ok(NextHop::V6 { global, link_local: Some(v6(&mut nh)?) })),
        _ => return Err(err(format!("next hop length {nh_len} is not valid for the family"))),
    }
    .map_err(|_| err("truncated next hop".into()))?;
    r.u8().map_err(|_| err("missing reserved octet".into()))?;
    let mut nlri = Vec::new();
    decode_nlri(r.rest(), family.afi, ctx.add_path(family), &mut nlri).map_err(|e| err(e.to_string()))?;
    Ok(MpReach { family, next_hop, nlri })
}

fn decode_mp_unreach(mut r: Reader<'_>, ctx: &CodecCtx, whole: &Whole<'_>) -> Result<MpUnreach, DecodeError> {
    let family = peek_family(r).expect("invariant: caller peeked the family");
    r.bytes(3).expect("invariant: caller peeked the family");
    let mut withdrawn = Vec::new();
    decode_nlri(r.rest(), family.afi, ctx.add_path(family), &mut withdrawn)
        .map_err(|e| mp_error(Some(family), whole.bytes(), format!("MP_UNREACH_NLRI ({family}): {e}")))?;
    Ok(MpUnreach { family, withdrawn })
}

/// Path attributes encoded once, to head every UPDATE that announces routes with
/// them. Cache it per attribute set and session context: building it is most of the
/// cost of encoding an UPDATE with few prefixes.
///
/// It holds every attribute except NEXT_HOP and the MP attributes, which the packer
/// writes per message because they depend on the family and next hop.
///
/// Kept for as long as routes are sent with it (an update group's Adj-RIB-Out), so it
/// is stored at its exact size: 16 octets plus the encoding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrBlock {
    bytes: Box<[u8]>,
}

impl AttrBlock {
    pub fn encode(attrs: &PathAttrs, ctx: &CodecCtx) -> AttrBlock {
        let mut out = BytesMut::with_capacity(128);
        attrs.encode_common(ctx, &mut out);
        AttrBlock { bytes: Box::from(&out[..]) }
    }
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Appends UPDATEs announcing `nlri` of `family` with the attributes of `block` and
/// `next_hop`, as many NLRI per message as fit under the session's size limit.
/// IPv4 unicast routes with an IPv4 next hop go in the NLRI field with NEXT_HOP;
/// everything else in MP_REACH_NLRI (which RFC 8950 allows for IPv4 with an IPv6
/// next hop). Returns the number of messages written.
pub fn pack_announce(
    out: &mut BytesMut,
    ctx: &CodecCtx,
    block: &AttrBlock,
    family: Family,
    next_hop: &NextHop,
    nlri: &[Nlri],
) -> Result<usize, EncodeError> {
    check_family(family, nlri)?;
    let max = ctx.max_message_len();
    let add_path = ctx.add_path(family);
    let in_body = match (family, next_hop) {
        (Family::IPV4_UNICAST, NextHop::V4(_)) => true,
        (f, NextHop::V4(_)) if f.afi == Afi::IPV6 => return Err(EncodeError::NextHopFamily { family }),
        _ => false,
    };
    let fixed = HEADER_LEN + 4 + block.len() + if in_body { 7 } else { attr::mp_reach_overhead(next_hop) };
    let mut messages = 0;
    let mut rest = nlri;
    let initial = out.len();
    while !rest.is_empty() {
        let first = rest[0].encoded_len(add_path);
        if fixed + first > max {
            // Like `Message::encode`, fail without leaving the messages already packed.
            out.truncate(initial);
            return Err(EncodeError::TooLarge { len: fixed + first, max });
        }
        let start = out.len();
        out.reserve(max.min(fixed + rest.len() * first.max(8)));
        put_header(out, super::MessageType::Update);
        out.put_u16(0); // no withdrawn routes
        let attr_len_at = out.len();
        out.put_u16(0);
        let mp = if in_body {
            let NextHop::V4(nh) = next_hop else { unreachable!("in_body implies an IPv4 next hop") };
            PathAttrs::encode_next_hop(*nh, out);
            out.put_slice(&block.bytes);
            None
        } else {
            Some(PathAttrs::start_mp_reach(family, next_hop, out))
        };
        let taken = put_nlri(out, rest, add_path, fixed, max);
        if let Some(mp) = mp {
            attr::finish_mp(mp, out);
            out.put_slice(&block.bytes);
            patch_u16(out, attr_len_at);
        } else {
            let attr_len = 7 + block.len();
            out[attr_len_at..attr_len_at + 2].copy_from_slice(&(attr_len as u16).to_be_bytes());
        }
        finish_message(out, start);
        rest = &rest[taken..];
        messages += 1;
    }
    Ok(messages)
}

/// Appends UPDATEs withdrawing `nlri` of `family`, as many per message as fit:
/// IPv4 unicast in the Withdrawn Routes field, other families in MP_UNREACH_NLRI.
/// Returns the number of messages written.
pub fn pack_withdraw(out: &mut BytesMut, ctx: &CodecCtx, family: Family, nlri: &[Nlri]) -> Result<usize, EncodeError> {
    check_family(family, nlri)?;
    let max = ctx.max_message_len();
    let add_path = ctx.add_path(family);
    let in_body = family == Family::IPV4_UNICAST;
    let fixed = HEADER_LEN + 4 + if in_body { 0 } else { attr::MP_UNREACH_OVERHEAD };
    let mut messages = 0;
    let mut rest = nlri;
    while !rest.is_empty() {
        let start = out.len();
        put_header(out, super::MessageType::Update);
        let len_at = out.len();
        out.put_u16(0);
        if !in_body {
            out.put_u16(0); // withdrawn routes length; the attribute length follows
        }
        let mp = (!in_body).then(|| PathAttrs::start_mp_unreach(family, out));
        let taken = put_nlri(out, rest, add_path, fixed, max);
        match mp {
            Some(mp) => {
                attr::finish_mp(mp, out);
                patch_u16(out, len_at + 2);
            }
            None => {
                patch_u16(out, len_at);
                out.put_u16(0); // no path attributes
            }
        }
        finish_message(out, start);
        rest = &rest[taken..];
        messages += 1;
    }
    Ok(messages)
}

/// Encodes NLRI from the front of `nlri` into a message of `size` octets so far, as
/// many as keep it within `max`; returns how many. Shared by the announce and withdraw
/// packers.
#[inline]
fn put_nlri(out: &mut BytesMut, nlri: &[Nlri], add_path: bool, mut size: usize, max: usize) -> usize {
    let mut taken = 0;
    for n in nlri {
        let len = n.encoded_len(add_path);
        if size + len > max {
            break;
        }
        size += len;
        n.encode(add_path, out);
        taken += 1;
    }
    taken
}

fn check_family(family: Family, nlri: &[Nlri]) -> Result<(), EncodeError> {
    if !family.has_prefix_nlri() {
        return Err(EncodeError::Family { family });
    }
    let afi = family.afi;
    match nlri.iter().find(|n| n.prefix.afi() != afi) {
        Some(n) => Err(EncodeError::PrefixFamily { prefix: n.prefix, family }),
        None => Ok(()),
    }
}

fn put_header(out: &mut BytesMut, kind: super::MessageType) {
    out.put_slice(&[0xff; 16]);
    out.put_u16(0);
    out.put_u8(kind as u8);
}

fn finish_message(out: &mut BytesMut, start: usize) {
    let len = out.len() - start;
    out[start + 16..start + 18].copy_from_slice(&(len as u16).to_be_bytes());
}
