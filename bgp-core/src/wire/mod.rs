//! The BGP wire codec: framing, decoding and encoding of every message a modern peer
//! sends (RFC 4271 §4), with the session context that changes their meaning.
//!
//! ```text
//! +--------------------------------+----------------+----------+
//! | Marker (16 octets of 0xff)     | Length (2)     | Type (1) |
//! +--------------------------------+----------------+----------+
//! ```
//!
//! Driving it: keep reading into a buffer; [`frame_len`] checks the header as soon
//! as 19 octets are there and says how long the message is; once that many octets
//! are buffered, split them off as `Bytes` and pass them to [`decode_message`].
//! Decoding never panics and never copies attribute values it does not interpret:
//! they stay slices of the frame.

pub mod attr;
pub mod ctx;
pub mod error;
pub mod notification;
pub mod open;
mod reader;
pub mod route_refresh;
pub mod update;

use bytes::{BufMut, Bytes, BytesMut};

pub use attr::{
    Aggregator, AsPath, Community, ExtCommunity, ExtCommunityKind, GlobalAdmin, LargeCommunity, MpReach, MpUnreach,
    NextHop, Origin, PathAttrs, RawAttr, Segment, SegmentType, TargetOrOrigin,
};
pub use ctx::{CodecCtx, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};
pub use error::{AttrAction, AttrError, DecodeError, ErrorAction};
pub use notification::{Cease, ErrorCode, Notification};
pub use open::{Capability, Open};
pub use route_refresh::{RefreshSubtype, RouteRefresh};
pub use update::{pack_announce, pack_withdraw, AttrBlock, Update, MAX_KEPT_ERRORS};

use notification::MessageHeaderError;
use reader::Reader;

use crate::prefix::Prefix;
use crate::types::Family;

/// Octets of the message header.
pub const HEADER_LEN: usize = 19;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    Open = 1,
    Update = 2,
    Notification = 3,
    Keepalive = 4,
    RouteRefresh = 5,
}

impl MessageType {
    fn from_u8(v: u8) -> Option<MessageType> {
        Some(match v {
            1 => MessageType::Open,
            2 => MessageType::Update,
            3 => MessageType::Notification,
            4 => MessageType::Keepalive,
            5 => MessageType::RouteRefresh,
            _ => return None,
        })
    }

    /// The smallest valid length (RFC 4271 §4.2-4.5; ROUTE-REFRESH lengths are checked
    /// when decoding, because RFC 7313 §5 gives them their own error).
    fn min_len(self) -> usize {
        match self {
            MessageType::Open => 29,
            MessageType::Update => 23,
            MessageType::Notification => 21,
            MessageType::Keepalive | MessageType::RouteRefresh => HEADER_LEN,
        }
    }

    fn max_len(self, ctx: &CodecCtx) -> usize {
        match self {
            // RFC 8654 §3: OPEN and KEEPALIVE never grow.
            MessageType::Open | MessageType::Keepalive => MAX_MESSAGE_LEN,
            _ => ctx.max_message_len(),
        }
    }
}

// One UPDATE is several hundred octets of `Vec` headers; messages are moved a few
// times between decode and the RIB, which costs less than a heap allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

impl Message {
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Appends the message. Fails, leaving `out` as it was, when it would exceed the
    /// session's size limit.
    pub fn encode(&self, ctx: &CodecCtx, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        let kind = self.message_type();
        out.put_slice(&[0xff; 16]);
        out.put_u16(0);
        out.put_u8(kind as u8);
        match self {
            Message::Open(open) => open.encode_body(out),
            Message::Update(update) => update.encode_body(ctx, out),
            Message::Notification(n) => n.encode_body(out),
            Message::Keepalive => {}
            Message::RouteRefresh(rr) => rr.encode_body(out),
        }
        let len = out.len() - start;
        let max = kind.max_len(ctx);
        if len > max {
            out.truncate(start);
            return Err(EncodeError::TooLarge { len, max });
        }
        out[start + 16..start + 18].copy_from_slice(&(len as u16).to_be_bytes());
        Ok(())
    }

    /// The message as one buffer.
    pub fn to_bytes(&self, ctx: &CodecCtx) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::new();
        self.encode(ctx, &mut out)?;
        Ok(out.freeze())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("message of {len} octets exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("prefix {prefix} does not belong to {family}")]
    PrefixFamily { prefix: Prefix, family: Family },
    #[error("{family} has no prefix NLRI this codec can encode")]
    Family { family: Family },
    #[error("an IPv4 next hop cannot carry {family} routes")]
    NextHopFamily { family: Family },
}

/// Checks the header at the start of `buf` and returns the whole message's length,
/// or `None` until the 19 header octets have arrived (RFC 4271 §6.1). The caller then
/// waits until `buf` holds that many octets.
pub fn frame_len(buf: &[u8], ctx: &CodecCtx) -> Result<Option<usize>, DecodeError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    if header[..16] != [0xff; 16] {
        return Err(DecodeError::header(
            MessageHeaderError::ConnectionNotSynchronized,
            Bytes::new(),
            "message marker is not all ones",
        ));
    }
    let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
    let Some(kind) = MessageType::from_u8(header[18]) else {
        return Err(DecodeError::header(
            MessageHeaderError::BadMessageType,
            Bytes::copy_from_slice(&header[18..19]),
            format!("unknown message type {}", header[18]),
        ));
    };
    if len < kind.min_len() || len > kind.max_len(ctx) || (kind == MessageType::Keepalive && len != HEADER_LEN) {
        return Err(DecodeError::header(
            MessageHeaderError::BadMessageLength,
            Bytes::copy_from_slice(&header[16..18]),
            format!("{kind:?} message with length {len}"),
        ));
    }
    Ok(Some(len))
}

/// Decodes one whole message (header included), as split off after [`frame_len`].
pub fn decode_message(frame: &Bytes, ctx: &CodecCtx) -> Result<Message, DecodeError> {
    let len = frame_len(frame, ctx)?.ok_or_else(|| {
        DecodeError::header(MessageHeaderError::BadMessageLength, Bytes::new(), "message shorter than its header")
    })?;
    if len != frame.len() {
        return Err(DecodeError::header(
            MessageHeaderError::BadMessageLength,
            frame.slice(16..18),
            format!("header says {len} octets, frame has {}", frame.len()),
        ));
    }
    let body = Reader::new(frame, &frame[HEADER_LEN..]);
    Ok(match MessageType::from_u8(frame[18]).expect("invariant: frame_len checked the type") {
        MessageType::Open => Message::Open(Open::decode(body)?),
        MessageType::Update => Message::Update(Update::decode(body, ctx)?),
        MessageType::Notification => {
            let b = &frame[HEADER_LEN..];
            Message::Notification(Notification::new(ErrorCode::from_u8(b[0], b[1]), frame.slice(HEADER_LEN + 2..)))
        }
        MessageType::Keepalive => Message::Keepalive,
        MessageType::RouteRefresh => Message::RouteRefresh(RouteRefresh::decode(body, frame)?),
    })
}

/// Splits every whole message off the front of `buf` and decodes it; stops at the
/// first error (after which the session is over) or when the rest is incomplete.
/// A convenience for tests, tools and benchmarks; the daemon drives [`frame_len`]
/// itself to interleave reads.
pub fn decode_stream(buf: &mut BytesMut, ctx: &CodecCtx, out: &mut Vec<Message>) -> Result<(), DecodeError> {
    while let Some(len) = frame_len(buf, ctx)? {
        if buf.len() < len {
            break;
        }
        let frame = buf.split_to(len).freeze();
        out.push(decode_message(&frame, ctx)?);
    }
    Ok(())
}
