//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use bgp_core::types::FamilySet;
use bgp_core::wire::CodecCtx;

/// An arbitrary codec context from one octet:
/// bit 0 four_octet_as, bit 1 extended_message, bit 2 external, bits 4-7 the ADD-PATH
/// families (`FamilySet::from_bits`: IPv4/IPv6 unicast, IPv4/IPv6 multicast).
/// Bit 3 is unused.
pub fn ctx_from_byte(b: u8) -> CodecCtx {
    CodecCtx {
        four_octet_as: b & 0x01 != 0,
        extended_message: b & 0x02 != 0,
        external: b & 0x04 != 0,
        add_path: FamilySet::from_bits(b >> 4),
    }
}

/// The 16-octet all-ones marker of every BGP message.
pub const MARKER: [u8; 16] = [0xff; 16];
