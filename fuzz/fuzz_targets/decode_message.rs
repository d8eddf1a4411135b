//! `decode_message` on a well-framed message with an arbitrary body, under an
//! arbitrary session context: never panics, and whatever decodes cleanly encodes
//! back to the same message (the round trip rustls' message fuzzer checks).
//!
//! Input: [ctx octet (see `ctx_from_byte`)] [type octet, low 3 bits used] [body].
//! The marker and the length field are filled in, so the fuzzer spends its time in
//! the body parsers instead of rediscovering the header.
#![no_main]

use bgp_core::wire::{decode_message, frame_len, CodecCtx, EncodeError, Message, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN};
use bgp_core_fuzz::{ctx_from_byte, MARKER};
use bytes::{BufMut, Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [c, t, body @ ..] = data else { return };
    let ctx = ctx_from_byte(*c);
    // 1..=5 are the message types; 0, 6 and 7 exercise the unknown-type path.
    let kind = *t & 0x07;
    let body = &body[..body.len().min(MAX_EXTENDED_MESSAGE_LEN - HEADER_LEN)];
    let mut frame = BytesMut::with_capacity(HEADER_LEN + body.len());
    frame.put_slice(&MARKER);
    frame.put_u16((HEADER_LEN + body.len()) as u16);
    frame.put_u8(kind);
    frame.put_slice(body);
    let frame = frame.freeze();

    let Ok(msg) = decode_message(&frame, &ctx) else { return };
    if let Message::Update(u) = &msg {
        // RFC 7606 outcomes (discarded or treat-as-withdraw attributes) leave a
        // message that is not meant to be sent on as it is.
        if !u.errors.is_empty() {
            return;
        }
    }
    let Some(again) = round_trip(&msg, &ctx) else { return };
    if again == msg {
        return;
    }
    // A 4-octet session carries every AS number as it is: the round trip is exact.
    assert!(!ctx.four_octet_as, "round trip changed the message\nfirst:  {msg:?}\nsecond: {again:?}");
    // A 2-octet session loses AS_PATH information by protocol design (RFC 6793
    // §4.2.3), so there only AS_PATH may change, once:
    // - an AGGREGATOR whose AS is not AS_TRANS (say one AS4_AGGREGATOR merged into a
    //   2-octet AS) makes the receiver ignore AS4_PATH, so 4-octet ASNs of the path
    //   come back as AS_TRANS;
    // - confederation segments that do not lead the path are dropped when AS_PATH
    //   and AS4_PATH are merged again.
    // What comes back must then be stable: encode(decode(encode(m))) round-trips.
    let (Message::Update(first), Message::Update(second)) = (&msg, &again) else {
        panic!("round trip changed a non-UPDATE message\nfirst:  {msg:?}\nsecond: {again:?}");
    };
    let mut same_path = second.clone();
    same_path.attrs.as_path = first.attrs.as_path.clone();
    assert_eq!(&same_path, first, "round trip on a 2-octet session changed more than AS_PATH");
    if let Some(third) = round_trip(&again, &ctx) {
        assert_eq!(third, again, "second round trip on a 2-octet session is not stable\nfirst: {msg:?}");
    }
});

/// Encodes `msg` and decodes it again; `None` when it is too large to encode (a
/// 2-octet session can need more room than the message it came in: AS4_PATH and
/// AS4_AGGREGATOR are added).
fn round_trip(msg: &Message, ctx: &CodecCtx) -> Option<Message> {
    let wire: Bytes = match msg.to_bytes(ctx) {
        Ok(b) => b,
        Err(EncodeError::TooLarge { .. }) => return None,
        Err(e) => panic!("encoding a decoded message failed: {e}\nmessage: {msg:?}"),
    };
    assert_eq!(frame_len(&wire, ctx), Ok(Some(wire.len())), "encoded header is wrong\nmessage: {msg:?}");
    let again = match decode_message(&wire, ctx) {
        Ok(m) => m,
        Err(e) => panic!("re-decoding failed: {e}\nmessage: {msg:?}\nwire: {}", hex(&wire)),
    };
    if let Message::Update(u) = &again {
        assert!(u.errors.is_empty(), "re-decoded UPDATE has errors {:?}\nmessage: {msg:?}", u.errors);
    }
    Some(again)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
