//! What the codec must know about a session, because the same bytes mean different
//! things without it: 2- or 4-octet AS numbers (RFC 6793), ADD-PATH path identifiers
//! per family (RFC 7911), the 65535-octet message limit (RFC 8654), and whether the
//! peer is external (some attributes are discarded from eBGP peers, RFC 7606 §7), and
//! which IPv4 families may carry IPv6 next hops (RFC 8950).
//!
//! The context is per direction: the ADD-PATH families for decoding are those we
//! negotiated to *receive*; for encoding, those we negotiated to *send*. Likewise the
//! extended next hop families: for decoding, those our OPEN listed in the extended
//! next hop capability; for encoding, those the peer's OPEN listed.

use super::open::Capability;
use crate::types::{Afi, Family, FamilySet, Safi};

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
    /// IPv4 families whose MP_REACH_NLRI may carry an IPv6 next hop in this direction
    /// (RFC 8950). Decoding such a next hop for any other family is an error.
    pub extended_next_hop: FamilySet,
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

    pub fn extended_next_hop(&self, family: Family) -> bool {
        self.extended_next_hop.contains(family)
    }

    /// The IPv4 families that one OPEN's extended next hop capability lets carry IPv6
    /// next hops (RFC 8950 §3): from our OPEN, what we may receive; from the peer's,
    /// what we may send.
    pub fn extended_next_hop_families(capabilities: &[Capability]) -> FamilySet {
        capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::ExtendedNextHop(entries) => Some(entries),
                _ => None,
            })
            .flatten()
            .filter(|e| e.nlri_afi == Afi::IPV4 && e.next_hop_afi == Afi::IPV6)
            .filter_map(|e| u8::try_from(e.nlri_safi).ok())
            .map(|safi| Family::new(Afi::IPV4, Safi(safi)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::open::ExtendedNextHop;

    #[test]
    fn extended_next_hop_families_are_the_ipv4_ones_with_ipv6_next_hops() {
        let entry = |afi: u16, safi: u16, nh: u16| ExtendedNextHop {
            nlri_afi: Afi(afi),
            nlri_safi: safi,
            next_hop_afi: Afi(nh),
        };
        let caps = [
            Capability::RouteRefresh,
            Capability::ExtendedNextHop(vec![entry(1, 1, 2), entry(1, 128, 2), entry(2, 1, 1), entry(1, 2, 1)]),
        ];
        let set = CodecCtx::extended_next_hop_families(&caps);
        assert!(set.contains(Family::IPV4_UNICAST));
        assert!(!set.contains(Family::IPV4_MULTICAST), "listed with an IPv4 next hop");
        assert!(!set.contains(Family::IPV6_UNICAST));
        assert_eq!(CodecCtx::extended_next_hop_families(&caps[..1]), FamilySet::EMPTY);
    }
}
