//! `decode_stream` on an arbitrary byte stream (marker and lengths as they come)
//! under an arbitrary session context: never panics, and reading the stream in two
//! pieces (as a socket delivers it) gives the same messages and the same error as
//! reading it whole.
//!
//! Input: [ctx octet (see `ctx_from_byte`)] [split octet] [stream].
#![no_main]

use bgp_core::wire::decode_stream;
use bgp_core_fuzz::ctx_from_byte;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [c, s, stream @ ..] = data else { return };
    let ctx = ctx_from_byte(*c);

    let mut whole = BytesMut::from(stream);
    let mut out_whole = Vec::new();
    let res_whole = decode_stream(&mut whole, &ctx, &mut out_whole);

    // Split at a point proportional to the split octet.
    let at = stream.len() * usize::from(*s) / 255;
    let mut buf = BytesMut::from(&stream[..at]);
    let mut out_split = Vec::new();
    let mut res_split = decode_stream(&mut buf, &ctx, &mut out_split);
    if res_split.is_ok() {
        buf.extend_from_slice(&stream[at..]);
        res_split = decode_stream(&mut buf, &ctx, &mut out_split);
    }
    assert_eq!(res_split, res_whole, "split at {at} changed the outcome");
    assert_eq!(out_split, out_whole, "split at {at} changed the messages");
    if res_whole.is_ok() {
        assert_eq!(buf, whole, "split at {at} left a different remainder");
    }
});
