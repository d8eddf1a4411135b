//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use bgp_core::types::FamilySet;
use bgp_core::wire::CodecCtx;

/// An arbitrary codec context from one octet:
/// bit 0 four_octet_as, bit 1 extended_message, bit 2 external, bit 3 IPv6 next hops
/// for IPv4 unicast and multicast (RFC 8950), bits 4-7 the ADD-PATH families
/// (`FamilySet::from_bits`: IPv4/IPv6 unicast, IPv4/IPv6 multicast).
pub fn ctx_from_byte(b: u8) -> CodecCtx {
    CodecCtx {
        four_octet_as: b & 0x01 != 0,
        extended_message: b & 0x02 != 0,
        external: b & 0x04 != 0,
        add_path: FamilySet::from_bits(b >> 4),
        extended_next_hop: FamilySet::from_bits(if b & 0x08 != 0 { 0x05 } else { 0 }),
    }
}

/// The 16-octet all-ones marker of every BGP message.
pub const MARKER: [u8; 16] = [0xff; 16];
