//! OPEN (RFC 4271 §4.2) with optional parameters in the classic and the RFC 9072
//! extended layout, and the capabilities a modern peer sends (RFC 5492).
//!
//! ```text
//! +---------+-----------+-----------+----------------+-------------+------------------+
//! | Version | My AS (2) | Hold (2)  | BGP Id (4)     | Opt len (1) | Optional params  |
//! +---------+-----------+-----------+----------------+-------------+------------------+
//!   classic parameter:  Type (1) | Length (1) | Value
//!   RFC 9072: Opt len = 255, then Type 255 and a 2-octet length; every parameter is
//!             then Type (1) | Length (2) | Value
//!   capability (parameter type 2): Code (1) | Length (1) | Value, several per parameter
//! ```
//!
//! Decoding flattens every capability of every parameter into one list, in order;
//! unknown capabilities are kept byte-exact. Encoding puts them all in one parameter,
//! in the extended layout only when they do not fit the classic one.

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::DecodeError;
use super::notification::{MessageHeaderError, OpenError};
use super::reader::Reader;
use crate::types::{Afi, Family, Safi, AS_TRANS};

/// The only BGP version (RFC 4271 §4.2).
pub const BGP_VERSION: u8 = 4;

const PARAM_CAPABILITIES: u8 = 2;
const PARAM_EXTENDED: u8 = 255;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// The 2-octet "My Autonomous System" field: AS_TRANS when the real AS needs four.
    pub my_as: u16,
    pub hold_time: u16,
    pub router_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
}

/// ADD-PATH send/receive per family (RFC 7911 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddPathFamily {
    pub family: Family,
    /// 1 = receive, 2 = send, 3 = both; other values are kept as sent (and mean nothing).
    pub send_receive: u8,
}

impl AddPathFamily {
    pub const RECEIVE: u8 = 1;
    pub const SEND: u8 = 2;
    pub const BOTH: u8 = 3;
    pub fn receive(self) -> bool {
        matches!(self.send_receive, 1 | 3)
    }
    pub fn send(self) -> bool {
        matches!(self.send_receive, 2 | 3)
    }
}

/// One family of the graceful restart capability (RFC 4724 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracefulRestartFamily {
    pub family: Family,
    /// The F bit: forwarding state was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// The graceful restart capability (RFC 4724 §3, N bit from RFC 8538 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracefulRestart {
    /// The R bit: the sender has restarted.
    pub restarting: bool,
    /// The N bit: the sender does graceful restart on NOTIFICATION too (RFC 8538).
    pub notification: bool,
    /// Restart time in seconds, 0..=4095.
    pub restart_time: u16,
    pub families: Vec<GracefulRestartFamily>,
}

/// One family of the long-lived graceful restart capability
/// (draft-ietf-idr-long-lived-gr §3, code 71).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LlgrFamily {
    pub family: Family,
    pub forwarding_preserved: bool,
    /// Long-lived stale time in seconds, 0..=16777215.
    pub stale_time: u32,
}

/// One entry of the extended next hop capability (RFC 8950 §3): NLRI of this AFI/SAFI
/// may carry a next hop of `next_hop_afi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedNextHop {
    pub nlri_afi: Afi,
    /// Two octets here, unlike everywhere else.
    pub nlri_safi: u16,
    pub next_hop_afi: Afi,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Code 1, RFC 4760 §8.
    Multiprotocol(Family),
    /// Code 2, RFC 2918.
    RouteRefresh,
    /// Code 5, RFC 8950.
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// Code 6, RFC 8654.
    ExtendedMessage,
    /// Code 64, RFC 4724.
    GracefulRestart(GracefulRestart),
    /// Code 65, RFC 6793.
    FourOctetAs(u32),
    /// Code 69, RFC 7911.
    AddPath(Vec<AddPathFamily>),
    /// Code 70, RFC 7313.
    EnhancedRouteRefresh,
    /// Code 71, long-lived graceful restart.
    LongLivedGracefulRestart(Vec<LlgrFamily>),
    /// Code 73, draft-walton-bgp-hostname-capability: host and domain name, as sent
    /// (not necessarily UTF-8).
    Fqdn { hostname: Bytes, domain: Bytes },
    /// Anything else, byte-exact.
    Unknown { code: u8, data: Bytes },
}

mod code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    pub const EXTENDED_MESSAGE: u8 = 6;
    pub const GRACEFUL_RESTART: u8 = 64;
    pub const FOUR_OCTET_AS: u8 = 65;
    pub const ADD_PATH: u8 = 69;
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
    pub const FQDN: u8 = 73;
}

impl Capability {
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::AddPath(_) => code::ADD_PATH,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::LongLivedGracefulRestart(_) => code::LONG_LIVED_GRACEFUL_RESTART,
            Capability::Fqdn { .. } => code::FQDN,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Decodes one capability value. `value` is the whole value of the capability.
    fn decode(code: u8, mut r: Reader<'_>) -> Result<Capability, Malformed> {
        let len = r.remaining();
        let cap = match code {
            code::MULTIPROTOCOL if len == 4 => {
                let afi = Afi(r.u16()?);
                r.u8()?; // reserved
                Capability::Multiprotocol(Family::new(afi, Safi(r.u8()?)))
            }
            code::ROUTE_REFRESH if len == 0 => Capability::RouteRefresh,
            code::ENHANCED_ROUTE_REFRESH if len == 0 => Capability::EnhancedRouteRefresh,
            code::EXTENDED_MESSAGE if len == 0 => Capability::ExtendedMessage,
            code::FOUR_OCTET_AS if len == 4 => Capability::FourOctetAs(r.u32()?),
            code::EXTENDED_NEXT_HOP if len.is_multiple_of(6) => {
                let mut entries = Vec::with_capacity(len / 6);
                while !r.is_empty() {
                    entries.push(ExtendedNextHop {
                        nlri_afi: Afi(r.u16()?),
                        nlri_safi: r.u16()?,
                        next_hop_afi: Afi(r.u16()?),
                    });
                }
                Capability::ExtendedNextHop(entries)
            }
            code::GRACEFUL_RESTART if len >= 2 && (len - 2).is_multiple_of(4) => {
                let flags_time = r.u16()?;
                let mut families = Vec::with_capacity((len - 2) / 4);
                while !r.is_empty() {
                    let family = family(&mut r)?;
                    families.push(GracefulRestartFamily { family, forwarding_preserved: r.u8()? & 0x80 != 0 });
                }
                Capability::GracefulRestart(GracefulRestart {
                    restarting: flags_time & 0x8000 != 0,
                    notification: flags_time & 0x4000 != 0,
                    restart_time: flags_time & 0x0fff,
                    families,
                })
            }
            code::ADD_PATH if len.is_multiple_of(4) => {
                let mut families = Vec::with_capacity(len / 4);
                while !r.is_empty() {
                    let family = family(&mut r)?;
                    families.push(AddPathFamily { family, send_receive: r.u8()? });
                }
                Capability::AddPath(families)
            }
            code::LONG_LIVED_GRACEFUL_RESTART if len.is_multiple_of(7) => {
                let mut families = Vec::with_capacity(len / 7);
                while !r.is_empty() {
                    let family = family(&mut r)?;
                    let forwarding_preserved = r.u8()? & 0x80 != 0;
                    families.push(LlgrFamily { family, forwarding_preserved, stale_time: r.u24()? });
                }
                Capability::LongLivedGracefulRestart(families)
            }
            code::FQDN => {
                let n = usize::from(r.u8()?);
                let hostname = r.shared(n)?;
                let n = usize::from(r.u8()?);
                let domain = r.shared(n)?;
                if !r.is_empty() {
                    return Err(Malformed);
                }
                Capability::Fqdn { hostname, domain }
            }
            code::MULTIPROTOCOL
            | code::ROUTE_REFRESH
            | code::ENHANCED_ROUTE_REFRESH
            | code::EXTENDED_MESSAGE
            | code::FOUR_OCTET_AS
            | code::EXTENDED_NEXT_HOP
            | code::GRACEFUL_RESTART
            | code::ADD_PATH
            | code::LONG_LIVED_GRACEFUL_RESTART => return Err(Malformed),
            code => Capability::Unknown { code, data: r.shared(len)? },
        };
        Ok(cap)
    }

    fn encode_value(&self, out: &mut BytesMut) {
        match self {
            Capability::Multiprotocol(f) => {
                out.put_u16(f.afi.0);
                out.put_u8(0);
                out.put_u8(f.safi.0);
            }
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh | Capability::ExtendedMessage => {}
            Capability::ExtendedNextHop(entries) => {
                for e in entries {
                    out.put_u16(e.nlri_afi.0);
                    out.put_u16(e.nlri_safi);
                    out.put_u16(e.next_hop_afi.0);
                }
            }
            Capability::GracefulRestart(gr) => {
                let flags = u16::from(gr.restarting) << 15 | u16::from(gr.notification) << 14;
                out.put_u16(flags | (gr.restart_time & 0x0fff));
                for f in &gr.families {
                    put_family(out, f.family);
                    out.put_u8(if f.forwarding_preserved { 0x80 } else { 0 });
                }
            }
            Capability::FourOctetAs(asn) => out.put_u32(*asn),
            Capability::AddPath(families) => {
                for f in families {
                    put_family(out, f.family);
                    out.put_u8(f.send_receive);
                }
            }
            Capability::LongLivedGracefulRestart(families) => {
                for f in families {
                    put_family(out, f.family);
                    out.put_u8(if f.forwarding_preserved { 0x80 } else { 0 });
                    out.put_slice(&(f.stale_time & 0x00ff_ffff).to_be_bytes()[1..]);
                }
            }
            Capability::Fqdn { hostname, domain } => {
                for name in [hostname, domain] {
                    let n = name.len().min(255);
                    out.put_u8(n as u8);
                    out.put_slice(&name[..n]);
                }
            }
            Capability::Unknown { data, .. } => out.put_slice(data),
        }
    }
}

/// A capability whose value does not have the length or layout its code requires.
struct Malformed;

impl From<super::reader::Truncated> for Malformed {
    fn from(_: super::reader::Truncated) -> Self {
        Malformed
    }
}

/// AFI (2), SAFI (1): the family encoding of the GR, LLGR and ADD-PATH capabilities.
fn family(r: &mut Reader<'_>) -> Result<Family, Malformed> {
    let afi = Afi(r.u16()?);
    Ok(Family::new(afi, Safi(r.u8()?)))
}

fn put_family(out: &mut BytesMut, f: Family) {
    out.put_u16(f.afi.0);
    out.put_u8(f.safi.0);
}

impl Open {
    /// The "My Autonomous System" value for `asn` (RFC 6793 §4.1: AS_TRANS when it
    /// does not fit two octets).
    pub fn my_as_field(asn: u32) -> u16 {
        u16::try_from(asn).unwrap_or(AS_TRANS)
    }

    /// The speaker's AS: the 4-octet AS capability if present, else the 2-octet field.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Decodes an OPEN body (after the 19-octet header).
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Open, DecodeError> {
        let short =
            |_| DecodeError::header(MessageHeaderError::BadMessageLength, Bytes::new(), "OPEN shorter than 29 octets");
        let version = r.u8().map_err(short)?;
        let my_as = r.u16().map_err(short)?;
        let hold_time = r.u16().map_err(short)?;
        let router_id = Ipv4Addr::from(r.u32().map_err(short)?);
        let opt_len = r.u8().map_err(short)?;
        if version != BGP_VERSION {
            // RFC 4271 §6.2: the data is the largest version we support.
            return Err(DecodeError::open(
                OpenError::UnsupportedVersionNumber,
                Bytes::from_static(&[0, BGP_VERSION]),
                format!("peer speaks BGP version {version}, we speak 4"),
            ));
        }
        let malformed = |why: &str| DecodeError::open(OpenError::Unspecific, Bytes::new(), format!("OPEN: {why}"));
        // RFC 9072 §2: a non-extended length of 255 whose first parameter type is 255
        // announces the extended layout.
        let mut peek = r;
        let extended = opt_len == 255 && peek.u8() == Ok(PARAM_EXTENDED);
        let mut params = if extended {
            r.u8().map_err(|_| malformed("truncated extended optional parameters"))?;
            let len = r.u16().map_err(|_| malformed("truncated extended optional parameters length"))?;
            r.sub(usize::from(len))
        } else {
            r.sub(usize::from(opt_len))
        }
        .map_err(|_| malformed("optional parameters run past the end of the message"))?;
        if !r.is_empty() {
            return Err(malformed("octets after the optional parameters"));
        }
        let mut capabilities = Vec::new();
        while !params.is_empty() {
            let kind = params.u8().map_err(|_| malformed("truncated optional parameter"))?;
            let len = if extended { params.u16().map(usize::from) } else { params.u8().map(usize::from) }
                .map_err(|_| malformed("truncated optional parameter length"))?;
            let mut value = params.sub(len).map_err(|_| malformed("optional parameter runs past its field"))?;
            if kind != PARAM_CAPABILITIES {
                // RFC 4271 §6.2 (authentication, type 1, is deprecated too).
                return Err(DecodeError::open(
                    OpenError::UnsupportedOptionalParameter,
                    Bytes::new(),
                    format!("unsupported optional parameter type {kind}"),
                ));
            }
            while !value.is_empty() {
                let start = value;
                let code = value.u8().map_err(|_| malformed("truncated capability"))?;
                let len = value.u8().map_err(|_| malformed("truncated capability length"))?;
                let body = value.sub(usize::from(len)).map_err(|_| malformed("capability runs past its parameter"))?;
                let cap = Capability::decode(code, body).map_err(|Malformed| {
                    let mut whole = start;
                    let data = whole.shared(2 + usize::from(len)).unwrap_or_default();
                    DecodeError::open(
                        OpenError::Unspecific,
                        data,
                        format!("OPEN: capability {code} has a malformed value of {len} octets"),
                    )
                })?;
                capabilities.push(cap);
            }
        }
        Ok(Open { my_as, hold_time, router_id, capabilities })
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u8(BGP_VERSION);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.put_u32(u32::from(self.router_id));
        let mut caps = BytesMut::new();
        for cap in &self.capabilities {
            let start = caps.len();
            caps.put_u8(cap.code());
            caps.put_u8(0);
            cap.encode_value(&mut caps);
            // A capability value is at most 255 octets; longer lists are cut whole-entry
            // by the caller's configuration long before that, so clamp rather than panic.
            let len = (caps.len() - start - 2).min(255);
            caps.truncate(start + 2 + len);
            caps[start + 1] = len as u8;
        }
        if caps.is_empty() {
            out.put_u8(0);
        } else if caps.len() + 2 <= 255 {
            out.put_u8(caps.len() as u8 + 2);
            out.put_u8(PARAM_CAPABILITIES);
            out.put_u8(caps.len() as u8);
            out.put_slice(&caps);
        } else {
            // RFC 9072 §2.
            out.put_u8(255);
            out.put_u8(PARAM_EXTENDED);
            out.put_u16((caps.len() + 3) as u16);
            out.put_u8(PARAM_CAPABILITIES);
            out.put_u16(caps.len() as u16);
            out.put_slice(&caps);
        }
    }
}
