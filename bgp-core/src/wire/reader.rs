//! A borrowing cursor over one received frame, with explicit length sub-slicing.
//!
//! The primitives are nom's `complete` big-endian parsers; nom's error type stays in
//! this file. Everything above sees one small error, [`Truncated`], and turns it into
//! the NOTIFICATION or RFC 7606 action that fits where it happened. Sub-slices that
//! outlive the parse (unknown attributes, capability values, NOTIFICATION data) are
//! taken from the frame's `Bytes` without copying.

use bytes::Bytes;
use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::Parser;

/// The input ended before a field did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated;

type NomResult<'a, T> = nom::IResult<&'a [u8], T, nom::error::Error<&'a [u8]>>;

#[derive(Clone, Copy)]
pub struct Reader<'a> {
    frame: &'a Bytes,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `rest`, which must lie within `frame` (checked by
    /// `Bytes::slice_ref` when a shared slice is taken).
    pub fn new(frame: &'a Bytes, rest: &'a [u8]) -> Reader<'a> {
        Reader { frame, rest }
    }

    fn run<T>(&mut self, parsed: NomResult<'a, T>) -> Result<T, Truncated> {
        let (rest, value) = parsed.map_err(|_| Truncated)?;
        self.rest = rest;
        Ok(value)
    }

    pub fn u8(&mut self) -> Result<u8, Truncated> {
        let r = be_u8.parse(self.rest);
        self.run(r)
    }
    pub fn u16(&mut self) -> Result<u16, Truncated> {
        let r = be_u16.parse(self.rest);
        self.run(r)
    }
    pub fn u32(&mut self) -> Result<u32, Truncated> {
        let r = be_u32.parse(self.rest);
        self.run(r)
    }
    /// The next three octets as a number (LLGR stale time).
    pub fn u24(&mut self) -> Result<u32, Truncated> {
        let b = self.bytes(3)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }
    /// The next `n` octets, borrowed.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let r = take(n).parse(self.rest);
        self.run(r)
    }
    /// The next `n` octets as a reader of their own (a length-delimited field).
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>, Truncated> {
        let rest = self.bytes(n)?;
        Ok(Reader { frame: self.frame, rest })
    }
    /// The next `n` octets as shared `Bytes` of the frame, without copying.
    pub fn shared(&mut self, n: usize) -> Result<Bytes, Truncated> {
        let b = self.bytes(n)?;
        Ok(self.share(b))
    }
    /// Everything left, borrowed.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }
    /// A borrowed sub-slice of the frame as shared `Bytes`.
    pub fn share(&self, slice: &[u8]) -> Bytes {
        if slice.is_empty() {
            Bytes::new()
        } else {
            self.frame.slice_ref(slice)
        }
    }
    /// The octet `at` positions ahead, without moving.
    pub fn peek_u8(&self, at: usize) -> Option<u8> {
        self.rest.get(at).copied()
    }
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_reports_truncation_without_moving() {
        let frame = Bytes::from_static(&[1, 0, 2, 0, 0, 0, 3, 9]);
        let mut r = Reader::new(&frame, &frame[..]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(2));
        assert_eq!(r.u32(), Ok(3));
        assert_eq!(r.u16(), Err(Truncated));
        assert_eq!(r.remaining(), 1, "a failed read consumes nothing");
        let shared = r.shared(1).unwrap();
        assert_eq!(&shared[..], &[9]);
        assert!(r.is_empty());
    }

    #[test]
    fn sub_reader_is_bounded() {
        let frame = Bytes::from_static(&[0, 0, 0, 7, 8]);
        let mut r = Reader::new(&frame, &frame[..]);
        let mut s = r.sub(2).unwrap();
        assert_eq!(s.u32(), Err(Truncated));
        assert_eq!(s.u16(), Ok(0));
        assert_eq!(r.u24(), Ok(0x0708));
    }
}
