//! Compact prefix keys and the NLRI prefix encoding (RFC 4271 §4.3, RFC 4760 §5,
//! RFC 7911 §3 for the ADD-PATH path identifier).
//!
//! ```text
//! +---------------------------+
//! | Path Identifier (4 octets)|  only when ADD-PATH is negotiated for the family
//! +---------------------------+
//! | Length (1 octet, bits)    |
//! +---------------------------+
//! | Prefix (ceil(len/8) octets)|
//! +---------------------------+
//! ```
//!
//! Prefixes are stored with host bits cleared, so two encodings of the same route
//! compare equal (trailing bits in the last octet are ignored, as FRR and BIRD do).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};

use crate::types::Afi;

/// An IPv4 prefix: address with host bits cleared, and a length of 0..=32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix4 {
    addr: Ipv4Addr,
    len: u8,
}

/// An IPv6 prefix: address with host bits cleared, and a length of 0..=128.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix6 {
    addr: Ipv6Addr,
    len: u8,
}

impl Prefix4 {
    /// `None` if `len` is over 32; host bits are cleared.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Prefix4> {
        (len <= 32).then(|| Prefix4 { addr: Ipv4Addr::from(u32::from(addr) & mask32(len)), len })
    }
    pub fn addr(self) -> Ipv4Addr {
        self.addr
    }
    pub fn prefix_len(self) -> u8 {
        self.len
    }
    /// True for the default route 0.0.0.0/0, the only prefix of length zero.
    pub fn is_default(self) -> bool {
        self.len == 0
    }
}

impl Prefix6 {
    /// `None` if `len` is over 128; host bits are cleared.
    pub fn new(addr: Ipv6Addr, len: u8) -> Option<Prefix6> {
        (len <= 128).then(|| Prefix6 { addr: Ipv6Addr::from(u128::from(addr) & mask128(len)), len })
    }
    pub fn addr(self) -> Ipv6Addr {
        self.addr
    }
    pub fn prefix_len(self) -> u8 {
        self.len
    }
    /// True for the default route ::/0, the only prefix of length zero.
    pub fn is_default(self) -> bool {
        self.len == 0
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// A prefix of either IP family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prefix {
    V4(Prefix4),
    V6(Prefix6),
}

/// One integer write per prefix instead of the derived field-by-field hash: the RIB
/// hashes a prefix for every route it touches. Equal prefixes write equal values.
impl std::hash::Hash for Prefix {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Prefix::V4(p) => state.write_u64(u64::from(u32::from(p.addr)) << 8 | u64::from(p.len)),
            Prefix::V6(p) => {
                state.write_u128(u128::from(p.addr));
                state.write_u8(p.len);
            }
        }
    }
}

impl Prefix {
    pub fn prefix_len(self) -> u8 {
        match self {
            Prefix::V4(p) => p.prefix_len(),
            Prefix::V6(p) => p.prefix_len(),
        }
    }
    pub fn is_default(self) -> bool {
        self.prefix_len() == 0
    }
    pub fn afi(self) -> Afi {
        match self {
            Prefix::V4(_) => Afi::IPV4,
            Prefix::V6(_) => Afi::IPV6,
        }
    }
    /// The prefix of `len` bits holding `addr`; `None` if `len` is too long.
    pub fn of(addr: std::net::IpAddr, len: u8) -> Option<Prefix> {
        match addr {
            std::net::IpAddr::V4(a) => Prefix4::new(a, len).map(Prefix::V4),
            std::net::IpAddr::V6(a) => Prefix6::new(a, len).map(Prefix::V6),
        }
    }
    /// The network address.
    pub fn addr(self) -> std::net::IpAddr {
        match self {
            Prefix::V4(p) => p.addr().into(),
            Prefix::V6(p) => p.addr().into(),
        }
    }
    /// Whether `other` lies inside this prefix (same family, at least as long).
    pub fn contains(self, other: Prefix) -> bool {
        other.afi() == self.afi()
            && other.prefix_len() >= self.prefix_len()
            && Prefix::of(other.addr(), self.prefix_len()) == Some(self)
    }
    /// Whether `addr` lies inside this prefix.
    pub fn contains_addr(self, addr: std::net::IpAddr) -> bool {
        Prefix::of(addr, self.prefix_len()) == Some(self)
    }
}

impl fmt::Display for Prefix4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}
impl fmt::Display for Prefix6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}
impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prefix::V4(p) => p.fmt(f),
            Prefix::V6(p) => p.fmt(f),
        }
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = s.split_once('/').ok_or_else(|| format!("{s:?} is not ADDRESS/LENGTH"))?;
        let len: u8 = len.parse().map_err(|_| format!("bad prefix length in {s:?}"))?;
        if let Ok(a) = addr.parse::<Ipv4Addr>() {
            Prefix4::new(a, len).map(Prefix::V4).ok_or_else(|| format!("{s:?}: IPv4 length over 32"))
        } else if let Ok(a) = addr.parse::<Ipv6Addr>() {
            Prefix6::new(a, len).map(Prefix::V6).ok_or_else(|| format!("{s:?}: IPv6 length over 128"))
        } else {
            Err(format!("{s:?}: not an IP address"))
        }
    }
}

/// One NLRI entry: a prefix and its ADD-PATH path identifier (RFC 7911). The path
/// identifier is 0 on sessions without ADD-PATH for the family, where it is not on
/// the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nlri {
    pub path_id: u32,
    pub prefix: Prefix,
}

impl Nlri {
    pub fn new(prefix: Prefix) -> Nlri {
        Nlri { path_id: 0, prefix }
    }

    /// Octets this entry takes on the wire.
    pub fn encoded_len(&self, add_path: bool) -> usize {
        usize::from(add_path) * 4 + 1 + usize::from(self.prefix.prefix_len()).div_ceil(8)
    }

    /// Appends the wire form. The caller picks `add_path` from the session context
    /// and the prefix's family.
    pub fn encode(&self, add_path: bool, out: &mut BytesMut) {
        // Assembled on the stack and appended with one call: each small put into a
        // `BytesMut` is an out-of-line copy, and this runs once per prefix sent.
        let mut buf = [0u8; 4 + 1 + 16];
        buf[..4].copy_from_slice(&self.path_id.to_be_bytes());
        let len = self.prefix.prefix_len();
        buf[4] = len;
        match self.prefix {
            Prefix::V4(p) => buf[5..9].copy_from_slice(&p.addr.octets()),
            Prefix::V6(p) => buf[5..21].copy_from_slice(&p.addr.octets()),
        }
        let from = if add_path { 0 } else { 4 };
        out.put_slice(&buf[from..5 + usize::from(len).div_ceil(8)]);
    }
}

/// Why an NLRI field could not be parsed. Either way the field cannot be walked,
/// so RFC 7606 §5.3 leaves only session reset (or AFI/SAFI disable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NlriError {
    /// An entry runs past the end of the field.
    Truncated { offset: usize },
    /// A prefix length longer than the family's address.
    BadLength { offset: usize, len: u8 },
}

impl fmt::Display for NlriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NlriError::Truncated { offset } => {
                write!(f, "NLRI entry at offset {offset} runs past the end of its field")
            }
            NlriError::BadLength { offset, len } => write!(f, "NLRI entry at offset {offset} has prefix length {len}"),
        }
    }
}

/// Walks an NLRI field once without storing anything: the number of entries, or the
/// first error. Used to size the output vector exactly, so decoding a field costs at
/// most one allocation however many prefixes it holds.
fn count_nlri(data: &[u8], max_len: u8, add_path: bool) -> Result<usize, NlriError> {
    let mut pos = 0;
    let mut count = 0;
    let id_len = usize::from(add_path) * 4;
    while pos < data.len() {
        let offset = pos;
        let Some(&len) = data.get(pos + id_len) else {
            return Err(NlriError::Truncated { offset });
        };
        if len > max_len {
            return Err(NlriError::BadLength { offset, len });
        }
        pos += id_len + 1 + usize::from(len).div_ceil(8);
        if pos > data.len() {
            return Err(NlriError::Truncated { offset });
        }
        count += 1;
    }
    Ok(count)
}

/// Decodes an NLRI field of `afi` prefixes into `out` (appending).
pub fn decode_nlri(data: &[u8], afi: Afi, add_path: bool, out: &mut Vec<Nlri>) -> Result<(), NlriError> {
    let v6 = afi == Afi::IPV6;
    let count = count_nlri(data, if v6 { 128 } else { 32 }, add_path)?;
    out.reserve_exact(count);
    let mut pos = 0;
    // count_nlri proved every entry lies within `data`, so slicing below cannot fail.
    while pos < data.len() {
        let mut path_id = 0;
        if add_path {
            path_id = u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]);
            pos += 4;
        }
        let len = data[pos];
        let n = usize::from(len).div_ceil(8);
        pos += 1 + n;
        let bytes = &data[pos - n..pos];
        // Where the field has room, load a whole address's worth of octets (a fixed-size
        // read rather than a variable-length copy); the mask clears what belongs to the
        // next entry.
        let prefix = if v6 {
            let octets = match data[pos - n..].first_chunk::<16>() {
                Some(window) => *window,
                None => {
                    let mut octets = [0u8; 16];
                    octets[..n].copy_from_slice(bytes);
                    octets
                }
            };
            Prefix::V6(Prefix6 { addr: Ipv6Addr::from(u128::from_be_bytes(octets) & mask128(len)), len })
        } else {
            let octets = match data[pos - n..].first_chunk::<4>() {
                Some(window) => *window,
                None => {
                    let mut octets = [0u8; 4];
                    octets[..n].copy_from_slice(bytes);
                    octets
                }
            };
            Prefix::V4(Prefix4 { addr: Ipv4Addr::from(u32::from_be_bytes(octets) & mask32(len)), len })
        };
        out.push(Nlri { path_id, prefix });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn host_bits_are_cleared() {
        assert_eq!(p("10.1.2.3/8"), p("10.0.0.0/8"));
        assert_eq!(p("2001:db8::1/32").to_string(), "2001:db8::/32");
        assert_eq!(p("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        assert!("::/129".parse::<Prefix>().is_err());
    }

    #[test]
    fn nlri_round_trip_with_and_without_path_ids() {
        let list = [p("0.0.0.0/0"), p("10.0.0.0/8"), p("192.168.4.192/26"), p("192.168.6.10/32")];
        for add_path in [false, true] {
            let mut buf = BytesMut::new();
            let mut want = Vec::new();
            for (i, prefix) in list.iter().enumerate() {
                let n = Nlri { path_id: if add_path { i as u32 + 7 } else { 0 }, prefix: *prefix };
                n.encode(add_path, &mut buf);
                want.push(n);
            }
            assert_eq!(buf.len(), want.iter().map(|n| n.encoded_len(add_path)).sum::<usize>());
            let mut got = Vec::new();
            decode_nlri(&buf, Afi::IPV4, add_path, &mut got).unwrap();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn nlri_errors_name_the_entry() {
        let mut out = Vec::new();
        assert_eq!(decode_nlri(&[24, 10, 0], Afi::IPV4, false, &mut out), Err(NlriError::Truncated { offset: 0 }));
        assert_eq!(
            decode_nlri(&[8, 10, 33, 1, 2, 3, 4, 5], Afi::IPV4, false, &mut out),
            Err(NlriError::BadLength { offset: 2, len: 33 })
        );
        assert_eq!(decode_nlri(&[0, 0, 0], Afi::IPV4, true, &mut out), Err(NlriError::Truncated { offset: 0 }));
        assert!(decode_nlri(&[129], Afi::IPV6, false, &mut out).is_err());
        assert!(out.is_empty(), "nothing is kept from a field that fails");
    }

    #[test]
    fn trailing_host_bits_on_the_wire_are_ignored() {
        let mut out = Vec::new();
        decode_nlri(&[23, 10, 0, 3], Afi::IPV4, false, &mut out).unwrap();
        assert_eq!(out[0].prefix, p("10.0.2.0/23"));
    }
}
