//! What the codec must know about a session, because the same bytes mean different
//! things without it: 2- or 4-octet AS numbers (RFC 6793), ADD-PATH path identifiers
//! per family (RFC 7911), the 65535-octet message limit (RFC 8654), and whether the
//! peer is external (some attributes are discarded from eBGP peers, RFC 7606 §7).
//!
//! The context is per direction: the ADD-PATH families for decoding are those we
//! negotiated to *receive*; for encoding, those we negotiated to *send*.

use crate::types::{Family, FamilySet};

/// Largest message without RFC 8654 (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message once both sides sent the extended message capability (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CodecCtx {
    /// Both sides sent the 4-octet AS capability: AS_PATH and AGGREGATOR carry 4-octet
    /// AS numbers and AS4_PATH/AS4_AGGREGATOR are not used.
    pub four_octet_as: bool,
    /// Both sides sent the extended message capability.
    pub extended_message: bool,
    /// Families whose NLRI carry a path identifier in this direction.
    pub add_path: FamilySet,
    /// The peer is in another AS (eBGP).
    pub external: bool,
}

impl CodecCtx {
    /// The context of a fresh modern session: 4-octet AS, nothing else negotiated.
    pub fn modern() -> CodecCtx {
        CodecCtx { four_octet_as: true, ..CodecCtx::default() }
    }

    /// The largest UPDATE, NOTIFICATION or ROUTE-REFRESH allowed on this session. OPEN
    /// and KEEPALIVE stay at 4096 regardless (RFC 8654 §3).
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    pub fn add_path(&self, family: Family) -> bool {
        self.add_path.contains(family)
    }
}
