//! ROUTE-REFRESH (RFC 2918 §3) with the enhanced route refresh subtypes
//! (RFC 7313 §3: Beginning- and End-of-RIB-Refresh markers).
//!
//! ```text
//! +-----------+-------------+---------+
//! | AFI (2)   | Subtype (1) | SAFI (1)|
//! +-----------+-------------+---------+
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::error::DecodeError;
use super::notification::{ErrorCode, RouteRefreshError};
use super::reader::Reader;
use crate::types::{Afi, Family, Safi};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshSubtype {
    /// 0: a plain request to re-advertise the Adj-RIB-Out (RFC 2918).
    Request,
    /// 1: BoRR, the start of a refresh (RFC 7313).
    BeginningOfRib,
    /// 2: EoRR, the end of a refresh (RFC 7313).
    EndOfRib,
    /// Anything else. RFC 7313 §5: the receiver ignores the message.
    Other(u8),
}

impl RefreshSubtype {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => RefreshSubtype::Request,
            1 => RefreshSubtype::BeginningOfRib,
            2 => RefreshSubtype::EndOfRib,
            v => RefreshSubtype::Other(v),
        }
    }
    fn to_u8(self) -> u8 {
        match self {
            RefreshSubtype::Request => 0,
            RefreshSubtype::BeginningOfRib => 1,
            RefreshSubtype::EndOfRib => 2,
            RefreshSubtype::Other(v) => v,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteRefresh {
    pub family: Family,
    pub subtype: RefreshSubtype,
}

impl RouteRefresh {
    pub fn request(family: Family) -> RouteRefresh {
        RouteRefresh { family, subtype: RefreshSubtype::Request }
    }

    /// BoRR (RFC 7313 §4): what follows replaces the family's routes.
    pub fn begin(family: Family) -> RouteRefresh {
        RouteRefresh { family, subtype: RefreshSubtype::BeginningOfRib }
    }

    /// EoRR (RFC 7313 §4): routes not re-advertised since the BoRR are gone.
    pub fn end(family: Family) -> RouteRefresh {
        RouteRefresh { family, subtype: RefreshSubtype::EndOfRib }
    }

    /// `frame` is the whole message: RFC 7313 §5 puts it in the NOTIFICATION's data
    /// when the length is wrong. We negotiate no ORF (RFC 5291), so every ROUTE-REFRESH
    /// must be exactly 4 octets of body.
    pub(crate) fn decode(mut r: Reader<'_>, frame: &Bytes) -> Result<RouteRefresh, DecodeError> {
        if r.remaining() != 4 {
            return Err(DecodeError::reset(
                ErrorCode::RouteRefresh(RouteRefreshError::InvalidMessageLength),
                frame.clone(),
                format!("ROUTE-REFRESH with {} octets of body, expected 4", r.remaining()),
            ));
        }
        let bad = |_| {
            DecodeError::reset(
                ErrorCode::RouteRefresh(RouteRefreshError::InvalidMessageLength),
                frame.clone(),
                "short ROUTE-REFRESH",
            )
        };
        let afi = Afi(r.u16().map_err(bad)?);
        let subtype = RefreshSubtype::from_u8(r.u8().map_err(bad)?);
        let safi = Safi(r.u8().map_err(bad)?);
        Ok(RouteRefresh { family: Family::new(afi, safi), subtype })
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u16(self.family.afi.0);
        out.put_u8(self.subtype.to_u8());
        out.put_u8(self.family.safi.0);
    }
}
