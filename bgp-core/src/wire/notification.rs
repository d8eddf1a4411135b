//! NOTIFICATION (RFC 4271 §4.5) with every error code and subcode registered for
//! BGP as typed enums, the RFC 9003 shutdown communication carried by Cease
//! Administrative Shutdown/Reset, and the RFC 8538 Hard Reset wrapper.
//!
//! ```text
//! +-----------------+-----------------+--------------------+
//! | Error code (1)  | Error subcode(1)| Data (variable)    |
//! +-----------------+-----------------+--------------------+
//! ```

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

macro_rules! subcodes {
    ($(#[$doc:meta])* $name:ident { $($var:ident = $val:literal => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = $text] $var,)*
            /// A subcode this implementation does not know, kept as received.
            Other(u8),
        }
        impl $name {
            pub fn from_u8(value: u8) -> Self {
                match value {
                    $($val => Self::$var,)*
                    other => Self::Other(other),
                }
            }
            pub fn to_u8(self) -> u8 {
                match self {
                    $(Self::$var => $val,)*
                    Self::Other(value) => value,
                }
            }
            /// The subcode's name as the IANA registry gives it.
            pub fn text(self) -> &'static str {
                match self {
                    $(Self::$var => $text,)*
                    Self::Other(_) => "Unknown subcode",
                }
            }
        }
    };
}

subcodes! {
    /// Error code 1 subcodes (RFC 4271 §6.1).
    MessageHeaderError {
        Unspecific = 0 => "Unspecific",
        ConnectionNotSynchronized = 1 => "Connection Not Synchronized",
        BadMessageLength = 2 => "Bad Message Length",
        BadMessageType = 3 => "Bad Message Type",
    }
}

subcodes! {
    /// Error code 2 subcodes (RFC 4271 §6.2, RFC 5492, RFC 9234).
    OpenError {
        Unspecific = 0 => "Unspecific",
        UnsupportedVersionNumber = 1 => "Unsupported Version Number",
        BadPeerAs = 2 => "Bad Peer AS",
        BadBgpIdentifier = 3 => "Bad BGP Identifier",
        UnsupportedOptionalParameter = 4 => "Unsupported Optional Parameter",
        AuthenticationFailure = 5 => "Authentication Failure (deprecated)",
        UnacceptableHoldTime = 6 => "Unacceptable Hold Time",
        UnsupportedCapability = 7 => "Unsupported Capability",
        RoleMismatch = 11 => "Role Mismatch",
    }
}

subcodes! {
    /// Error code 3 subcodes (RFC 4271 §6.3).
    UpdateError {
        Unspecific = 0 => "Unspecific",
        MalformedAttributeList = 1 => "Malformed Attribute List",
        UnrecognizedWellKnownAttribute = 2 => "Unrecognized Well-known Attribute",
        MissingWellKnownAttribute = 3 => "Missing Well-known Attribute",
        AttributeFlagsError = 4 => "Attribute Flags Error",
        AttributeLengthError = 5 => "Attribute Length Error",
        InvalidOriginAttribute = 6 => "Invalid ORIGIN Attribute",
        AsRoutingLoop = 7 => "AS Routing Loop (deprecated)",
        InvalidNextHopAttribute = 8 => "Invalid NEXT_HOP Attribute",
        OptionalAttributeError = 9 => "Optional Attribute Error",
        InvalidNetworkField = 10 => "Invalid Network Field",
        MalformedAsPath = 11 => "Malformed AS_PATH",
    }
}

subcodes! {
    /// Error code 5 subcodes (RFC 6608).
    FsmError {
        Unspecified = 0 => "Unspecified Error",
        UnexpectedMessageInOpenSent = 1 => "Receive Unexpected Message in OpenSent State",
        UnexpectedMessageInOpenConfirm = 2 => "Receive Unexpected Message in OpenConfirm State",
        UnexpectedMessageInEstablished = 3 => "Receive Unexpected Message in Established State",
    }
}

subcodes! {
    /// Error code 6 subcodes (RFC 4486, RFC 8538, RFC 9384).
    Cease {
        Unspecific = 0 => "Unspecific",
        MaximumPrefixesReached = 1 => "Maximum Number of Prefixes Reached",
        AdministrativeShutdown = 2 => "Administrative Shutdown",
        PeerDeconfigured = 3 => "Peer De-configured",
        AdministrativeReset = 4 => "Administrative Reset",
        ConnectionRejected = 5 => "Connection Rejected",
        OtherConfigurationChange = 6 => "Other Configuration Change",
        ConnectionCollisionResolution = 7 => "Connection Collision Resolution",
        OutOfResources = 8 => "Out of Resources",
        HardReset = 9 => "Hard Reset",
        BfdDown = 10 => "BFD Down",
    }
}

subcodes! {
    /// Error code 7 subcodes (RFC 7313).
    RouteRefreshError {
        Reserved = 0 => "Reserved",
        InvalidMessageLength = 1 => "Invalid Message Length",
    }
}

/// A NOTIFICATION's error code with its subcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    MessageHeader(MessageHeaderError),
    Open(OpenError),
    Update(UpdateError),
    /// Code 4; its only subcode is 0.
    HoldTimerExpired,
    Fsm(FsmError),
    Cease(Cease),
    RouteRefresh(RouteRefreshError),
    /// An error code not registered when this was written, or code 4 with a subcode.
    Other {
        code: u8,
        subcode: u8,
    },
}

impl ErrorCode {
    pub fn from_u8(code: u8, subcode: u8) -> ErrorCode {
        match code {
            1 => ErrorCode::MessageHeader(MessageHeaderError::from_u8(subcode)),
            2 => ErrorCode::Open(OpenError::from_u8(subcode)),
            3 => ErrorCode::Update(UpdateError::from_u8(subcode)),
            4 if subcode == 0 => ErrorCode::HoldTimerExpired,
            5 => ErrorCode::Fsm(FsmError::from_u8(subcode)),
            6 => ErrorCode::Cease(Cease::from_u8(subcode)),
            7 => ErrorCode::RouteRefresh(RouteRefreshError::from_u8(subcode)),
            code => ErrorCode::Other { code, subcode },
        }
    }

    /// The (code, subcode) octets.
    pub fn to_u8(self) -> (u8, u8) {
        match self {
            ErrorCode::MessageHeader(s) => (1, s.to_u8()),
            ErrorCode::Open(s) => (2, s.to_u8()),
            ErrorCode::Update(s) => (3, s.to_u8()),
            ErrorCode::HoldTimerExpired => (4, 0),
            ErrorCode::Fsm(s) => (5, s.to_u8()),
            ErrorCode::Cease(s) => (6, s.to_u8()),
            ErrorCode::RouteRefresh(s) => (7, s.to_u8()),
            ErrorCode::Other { code, subcode } => (code, subcode),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (code, subcode) = self.to_u8();
        match self {
            ErrorCode::MessageHeader(s) => write!(f, "Message Header Error / {}", s.text()),
            ErrorCode::Open(s) => write!(f, "OPEN Message Error / {}", s.text()),
            ErrorCode::Update(s) => write!(f, "UPDATE Message Error / {}", s.text()),
            ErrorCode::HoldTimerExpired => f.write_str("Hold Timer Expired"),
            ErrorCode::Fsm(s) => write!(f, "Finite State Machine Error / {}", s.text()),
            ErrorCode::Cease(s) => write!(f, "Cease / {}", s.text()),
            ErrorCode::RouteRefresh(s) => write!(f, "ROUTE-REFRESH Message Error / {}", s.text()),
            ErrorCode::Other { .. } => return write!(f, "error code {code} subcode {subcode}"),
        }?;
        if matches!(self.subcode_is_known(), Some(false)) {
            write!(f, " {subcode}")?;
        }
        Ok(())
    }
}

impl ErrorCode {
    fn subcode_is_known(self) -> Option<bool> {
        Some(match self {
            ErrorCode::MessageHeader(s) => !matches!(s, MessageHeaderError::Other(_)),
            ErrorCode::Open(s) => !matches!(s, OpenError::Other(_)),
            ErrorCode::Update(s) => !matches!(s, UpdateError::Other(_)),
            ErrorCode::Fsm(s) => !matches!(s, FsmError::Other(_)),
            ErrorCode::Cease(s) => !matches!(s, Cease::Other(_)),
            ErrorCode::RouteRefresh(s) => !matches!(s, RouteRefreshError::Other(_)),
            ErrorCode::HoldTimerExpired | ErrorCode::Other { .. } => return None,
        })
    }
}

/// A NOTIFICATION message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub code: ErrorCode,
    pub data: Bytes,
}

/// Longest shutdown communication RFC 9003 §2 allows, in octets of UTF-8.
pub const MAX_SHUTDOWN_MESSAGE: usize = 255;

impl Notification {
    pub fn new(code: ErrorCode, data: impl Into<Bytes>) -> Notification {
        Notification { code, data: data.into() }
    }

    /// A Cease with an RFC 9003 shutdown communication, cut at a character boundary to
    /// the 255 octets the length field allows.
    pub fn cease_with_message(subcode: Cease, message: &str) -> Notification {
        let mut end = message.len().min(MAX_SHUTDOWN_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let mut data = BytesMut::with_capacity(end + 1);
        data.put_u8(end as u8);
        data.put_slice(&message.as_bytes()[..end]);
        Notification::new(ErrorCode::Cease(subcode), data.freeze())
    }

    /// RFC 8538 §3: a Hard Reset wraps the cease subcode it stands for (and its data).
    pub fn hard_reset(inner: &Notification) -> Notification {
        let (code, subcode) = inner.code.to_u8();
        let mut data = BytesMut::with_capacity(2 + inner.data.len());
        data.put_u8(code);
        data.put_u8(subcode);
        data.put_slice(&inner.data);
        Notification::new(ErrorCode::Cease(Cease::HardReset), data.freeze())
    }

    /// The RFC 9003 shutdown communication of an Administrative Shutdown or Reset, if it
    /// carries a well-formed one (length octet matching, valid UTF-8).
    pub fn shutdown_message(&self) -> Option<&str> {
        if !matches!(self.code, ErrorCode::Cease(Cease::AdministrativeShutdown | Cease::AdministrativeReset)) {
            return None;
        }
        let (&len, text) = self.data.split_first()?;
        if usize::from(len) != text.len() {
            return None;
        }
        std::str::from_utf8(text).ok()
    }

    /// The notification a Hard Reset (RFC 8538) stands for.
    pub fn hard_reset_cause(&self) -> Option<Notification> {
        if self.code != ErrorCode::Cease(Cease::HardReset) || self.data.len() < 2 {
            return None;
        }
        Some(Notification::new(ErrorCode::from_u8(self.data[0], self.data[1]), self.data.slice(2..)))
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        let (code, subcode) = self.code.to_u8();
        out.put_u8(code);
        out.put_u8(subcode);
        out.put_slice(&self.data);
    }
}

impl fmt::Display for Notification {
    /// One log line: the code in words, then the shutdown message or the data in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(message) = self.shutdown_message() {
            if !message.is_empty() {
                write!(f, ": {message:?}")?;
            }
        } else if let Some(cause) = self.hard_reset_cause() {
            write!(f, " ({cause})")?;
        } else if !self.data.is_empty() {
            f.write_str(", data ")?;
            for b in self.data.iter().take(64) {
                write!(f, "{b:02x}")?;
            }
            if self.data.len() > 64 {
                write!(f, "... ({} octets)", self.data.len())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_pair_round_trips() {
        for code in 0..=255u8 {
            for subcode in 0..=255u8 {
                assert_eq!(ErrorCode::from_u8(code, subcode).to_u8(), (code, subcode));
            }
        }
    }

    #[test]
    fn shutdown_communication() {
        let n = Notification::cease_with_message(Cease::AdministrativeShutdown, "maintenance: node drain");
        assert_eq!(n.shutdown_message(), Some("maintenance: node drain"));
        assert_eq!(n.to_string(), "Cease / Administrative Shutdown: \"maintenance: node drain\"");
        let long = "é".repeat(200);
        let n = Notification::cease_with_message(Cease::AdministrativeReset, &long);
        assert_eq!(n.data.len(), 255, "254 octets of whole characters plus the length");
        assert_eq!(n.shutdown_message().map(str::len), Some(254));
        let bad = Notification::new(ErrorCode::Cease(Cease::AdministrativeShutdown), &b"\x05ab"[..]);
        assert_eq!(bad.shutdown_message(), None);
    }

    #[test]
    fn hard_reset_wraps_its_cause() {
        let inner = Notification::cease_with_message(Cease::AdministrativeReset, "bye");
        let hard = Notification::hard_reset(&inner);
        assert_eq!(hard.hard_reset_cause(), Some(inner));
        assert_eq!(hard.to_string(), "Cease / Hard Reset (Cease / Administrative Reset: \"bye\")");
    }

    #[test]
    fn display_names_unknown_subcodes() {
        let n = Notification::new(ErrorCode::from_u8(3, 42), &b"\x01\x02"[..]);
        assert_eq!(n.to_string(), "UPDATE Message Error / Unknown subcode 42, data 0102");
        assert_eq!(Notification::new(ErrorCode::from_u8(9, 1), Bytes::new()).to_string(), "error code 9 subcode 1");
    }
}
