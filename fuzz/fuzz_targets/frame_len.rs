//! `frame_len` on arbitrary bytes: never panics; a length it accepts is one a BGP
//! message can have on this session.
//!
//! Input: [ctx octet (see `ctx_from_byte`)] [bytes handed to frame_len].
#![no_main]

use bgp_core::wire::{frame_len, CodecCtx, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN};
use bgp_core_fuzz::ctx_from_byte;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ctx, buf) = match data.split_first() {
        Some((&b, rest)) => (ctx_from_byte(b), rest),
        None => (CodecCtx::default(), data),
    };
    match frame_len(buf, &ctx) {
        Ok(Some(len)) => {
            assert!(buf.len() >= HEADER_LEN, "a length from fewer than {HEADER_LEN} octets");
            assert!((HEADER_LEN..=MAX_EXTENDED_MESSAGE_LEN).contains(&len), "frame length {len}");
            assert!(len <= ctx.max_message_len(), "frame length {len} over the session limit");
            assert_eq!(len, usize::from(u16::from_be_bytes([buf[16], buf[17]])), "length is the header's");
        }
        Ok(None) => assert!(buf.len() < HEADER_LEN, "None although the header is complete"),
        Err(_) => assert!(buf.len() >= HEADER_LEN, "an error before the header is complete"),
    }
});
