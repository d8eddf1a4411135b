//! BFD control packets (RFC 5880 §4.1) on arbitrary bytes: `decode` never panics; what
//! decodes encodes back to the same 24 octets (Length normalised) and decodes equal; and
//! a session fed every packet that decodes never panics and only ever sends packets that
//! decode.
//!
//! Input: [packet octets]; also read as 25-octet steps [time step][24 octets] for the
//! session.
#![no_main]

use std::time::{Duration, Instant};

use bgp_core::bfd::{ControlPacket, Session, SessionConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ControlPacket::decode(data) {
        let b = p.encode();
        assert_eq!(b[4..], data[4..24], "re-encoding changed the body");
        assert_eq!(b[..3], data[..3], "re-encoding changed the flags");
        assert_eq!(ControlPacket::decode(&b), Ok(p), "decode(encode(p)) != p");
    }

    let t0 = Instant::now();
    let cfg = SessionConfig {
        desired_min_tx: Duration::from_millis(100),
        required_min_rx: Duration::from_millis(100),
        detect_mult: 3,
    };
    let mut now = t0;
    let mut s = Session::new(7, cfg, now, 1);
    for step in data.chunks(25) {
        let Some((&dt, bytes)) = step.split_first() else { break };
        now += Duration::from_millis(u64::from(dt) * 8);
        s.handle_timeout(now);
        if let Ok(p) = ControlPacket::decode(bytes) {
            s.handle_packet(&p, now);
        }
        while let Some(out) = s.poll_transmit(now) {
            assert_eq!(ControlPacket::decode(&out.encode()), Ok(out), "the session sent an invalid packet");
        }
        while s.poll_change().is_some() {}
        if let Some(at) = s.poll_timeout() {
            assert!(at >= t0, "a deadline before the start");
        }
        let _ = s.status(now);
    }
});
