//! The BFD control packet (RFC 5880 §4.1) and the stateless reception checks of §6.8.6.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Intervals are in microseconds on the wire. We never authenticate, so the optional
//! authentication section never follows and a packet with the A bit is refused.

use std::fmt;
use std::time::Duration;

/// A session state (RFC 5880 §4.1 "Sta").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 0x3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// The diagnostic code (RFC 5880 §4.1 "Diag"): why the sender's session last left Up.
/// Displayed in the RFC's words ("Control Detection Time Expired").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Diag {
    None,
    ControlDetectionTimeExpired,
    EchoFunctionFailed,
    NeighborSignaledSessionDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    /// A code RFC 5880 reserves (9–31), kept as received.
    Other(u8),
}

impl Diag {
    /// The 5-bit code.
    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Other(c) => c & 0x1f,
        }
    }

    /// The diag for a 5-bit code.
    pub fn from_code(code: u8) -> Diag {
        match code & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            c => Diag::Other(c),
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diag::None => f.write_str("No Diagnostic"),
            Diag::ControlDetectionTimeExpired => f.write_str("Control Detection Time Expired"),
            Diag::EchoFunctionFailed => f.write_str("Echo Function Failed"),
            Diag::NeighborSignaledSessionDown => f.write_str("Neighbor Signaled Session Down"),
            Diag::ForwardingPlaneReset => f.write_str("Forwarding Plane Reset"),
            Diag::PathDown => f.write_str("Path Down"),
            Diag::ConcatenatedPathDown => f.write_str("Concatenated Path Down"),
            Diag::AdministrativelyDown => f.write_str("Administratively Down"),
            Diag::ReverseConcatenatedPathDown => f.write_str("Reverse Concatenated Path Down"),
            Diag::Other(c) => write!(f, "Reserved ({c})"),
        }
    }
}

/// A decoded control packet. Intervals are whole microseconds on the wire; `encode`
/// truncates sub-microsecond parts and saturates at `u32::MAX` µs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPacket {
    pub diag: Diag,
    pub state: State,
    pub poll: bool,
    pub final_: bool,
    pub control_plane_independent: bool,
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub required_min_echo_rx: Duration,
}

/// Why a received packet was refused (RFC 5880 §6.8.6, the checks before any session is
/// looked at). The receiver drops the packet and counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("packet too short: {0} bytes, a control packet has at least 24")]
    TooShort(usize),
    #[error("unsupported BFD version {0}, expected 1")]
    BadVersion(u8),
    #[error("length field {length} is invalid for a {received}-byte packet")]
    BadLength { length: u8, received: usize },
    #[error("authentication present but not configured")]
    AuthenticationPresent,
    #[error("detect multiplier is zero")]
    ZeroDetectMult,
    #[error("multipoint bit set")]
    Multipoint,
    #[error("my discriminator is zero")]
    ZeroMyDiscriminator,
    #[error("your discriminator is zero in state {0}")]
    ZeroYourDiscriminator(State),
    #[error("poll and final both set")]
    PollAndFinal,
}

const VERSION: u8 = 1;
const FLAG_P: u8 = 0x20;
const FLAG_F: u8 = 0x10;
const FLAG_C: u8 = 0x08;
const FLAG_A: u8 = 0x04;
const FLAG_D: u8 = 0x02;
const FLAG_M: u8 = 0x01;

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl ControlPacket {
    /// The length of a control packet without authentication.
    pub const LEN: usize = 24;

    /// The stateless reception checks of RFC 5880 §6.8.6 (version 1, length, detect mult
    /// not 0, multipoint 0, my discriminator not 0, your discriminator 0 only in Down/AdminDown,
    /// authentication bit: packets with A set are refused since we do no authentication).
    ///
    /// `buf` is the UDP payload. Bytes after the Length field's end are ignored (§6.8.6:
    /// the length must not exceed the payload; nothing says what follows it).
    pub fn decode(buf: &[u8]) -> Result<ControlPacket, PacketError> {
        if buf.len() < Self::LEN {
            return Err(PacketError::TooShort(buf.len()));
        }
        let version = buf[0] >> 5;
        if version != VERSION {
            return Err(PacketError::BadVersion(version));
        }
        let flags = buf[1];
        let length = buf[3];
        // §6.8.6: less than 24 (26 with A), or more than the payload, is discarded.
        if usize::from(length) < Self::LEN || usize::from(length) > buf.len() {
            return Err(PacketError::BadLength { length, received: buf.len() });
        }
        // §6.8.6: A set and no authentication in use: discard.
        if flags & FLAG_A != 0 {
            return Err(PacketError::AuthenticationPresent);
        }
        let detect_mult = buf[2];
        if detect_mult == 0 {
            return Err(PacketError::ZeroDetectMult);
        }
        if flags & FLAG_M != 0 {
            return Err(PacketError::Multipoint);
        }
        let word = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let my_discriminator = word(4);
        if my_discriminator == 0 {
            return Err(PacketError::ZeroMyDiscriminator);
        }
        let state = State::from_bits(flags >> 6);
        let your_discriminator = word(8);
        if your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(PacketError::ZeroYourDiscriminator(state));
        }
        // §4.1: a packet with both P and F is not allowed ("MUST NOT both be set"); a receiver
        // cannot tell which sequence it belongs to, so it is refused.
        if flags & FLAG_P != 0 && flags & FLAG_F != 0 {
            return Err(PacketError::PollAndFinal);
        }
        let us = |i: usize| Duration::from_micros(u64::from(word(i)));
        Ok(ControlPacket {
            diag: Diag::from_code(buf[0]),
            state,
            poll: flags & FLAG_P != 0,
            final_: flags & FLAG_F != 0,
            control_plane_independent: flags & FLAG_C != 0,
            demand: flags & FLAG_D != 0,
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx: us(12),
            required_min_rx: us(16),
            required_min_echo_rx: us(20),
        })
    }

    /// The 24 bytes on the wire (version 1, no authentication, multipoint 0).
    pub fn encode(&self) -> [u8; ControlPacket::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0] = (VERSION << 5) | self.diag.code();
        let mut flags = (self.state as u8) << 6;
        for (set, bit) in [
            (self.poll, FLAG_P),
            (self.final_, FLAG_F),
            (self.control_plane_independent, FLAG_C),
            (self.demand, FLAG_D),
        ] {
            if set {
                flags |= bit;
            }
        }
        b[1] = flags;
        b[2] = self.detect_mult;
        b[3] = Self::LEN as u8;
        b[4..8].copy_from_slice(&self.my_discriminator.to_be_bytes());
        b[8..12].copy_from_slice(&self.your_discriminator.to_be_bytes());
        b[12..16].copy_from_slice(&micros(self.desired_min_tx).to_be_bytes());
        b[16..20].copy_from_slice(&micros(self.required_min_rx).to_be_bytes());
        b[20..24].copy_from_slice(&micros(self.required_min_echo_rx).to_be_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Built by hand from RFC 5880 §4.1 (not captured): Up at 300 ms × 3, diag 0, no flags,
    /// discriminators 1 and 2, 300000 µs twice, echo 50000 µs.
    const UP: [u8; 24] = [
        0x20, 0xc0, 0x03, 0x18, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, 0x04, 0x93, 0xe0, 0x00, 0x04, 0x93, 0xe0, 0x00, 0x00,
        0xc3, 0x50,
    ];

    fn up() -> ControlPacket {
        ControlPacket {
            diag: Diag::None,
            state: State::Up,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 1,
            your_discriminator: 2,
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            required_min_echo_rx: Duration::from_millis(50),
        }
    }

    #[test]
    fn decodes_and_encodes_a_known_packet() {
        assert_eq!(ControlPacket::decode(&UP), Ok(up()));
        assert_eq!(up().encode(), UP);
    }

    #[test]
    fn flags_diag_and_state_survive_a_round_trip() {
        let p = ControlPacket {
            diag: Diag::AdministrativelyDown,
            state: State::AdminDown,
            poll: true,
            control_plane_independent: true,
            demand: true,
            your_discriminator: 0,
            ..up()
        };
        let b = p.encode();
        assert_eq!(b[0], 0x27);
        assert_eq!(b[1], 0x2a);
        assert_eq!(ControlPacket::decode(&b), Ok(p));
        let f = ControlPacket { final_: true, ..up() };
        assert_eq!(f.encode()[1], 0xd0);
        assert_eq!(ControlPacket::decode(&f.encode()), Ok(f));
    }

    #[test]
    fn trailing_bytes_beyond_the_length_field_are_ignored() {
        let mut b = UP.to_vec();
        b.extend_from_slice(&[0xff; 8]);
        assert_eq!(ControlPacket::decode(&b), Ok(up()));
    }

    #[test]
    fn every_malformed_packet_of_section_6_8_6_is_refused() {
        let with = |f: &dyn Fn(&mut [u8; 24])| {
            let mut b = UP;
            f(&mut b);
            ControlPacket::decode(&b)
        };
        assert_eq!(ControlPacket::decode(&UP[..23]), Err(PacketError::TooShort(23)));
        assert_eq!(ControlPacket::decode(&[]), Err(PacketError::TooShort(0)));
        assert_eq!(with(&|b| b[0] = 0x00), Err(PacketError::BadVersion(0)));
        assert_eq!(with(&|b| b[0] = 0x40), Err(PacketError::BadVersion(2)));
        assert_eq!(with(&|b| b[3] = 23), Err(PacketError::BadLength { length: 23, received: 24 }));
        assert_eq!(with(&|b| b[3] = 25), Err(PacketError::BadLength { length: 25, received: 24 }));
        assert_eq!(with(&|b| b[3] = 0), Err(PacketError::BadLength { length: 0, received: 24 }));
        assert_eq!(with(&|b| b[1] |= FLAG_A), Err(PacketError::AuthenticationPresent));
        assert_eq!(with(&|b| b[2] = 0), Err(PacketError::ZeroDetectMult));
        assert_eq!(with(&|b| b[1] |= FLAG_M), Err(PacketError::Multipoint));
        assert_eq!(with(&|b| b[4..8].fill(0)), Err(PacketError::ZeroMyDiscriminator));
        assert_eq!(with(&|b| b[8..12].fill(0)), Err(PacketError::ZeroYourDiscriminator(State::Up)));
        assert_eq!(
            with(&|b| {
                b[8..12].fill(0);
                b[1] = 0x80;
            }),
            Err(PacketError::ZeroYourDiscriminator(State::Init))
        );
        assert_eq!(with(&|b| b[1] |= FLAG_P | FLAG_F), Err(PacketError::PollAndFinal));
        // Your Discriminator 0 is fine in Down and AdminDown (the peer has not heard us).
        for sta in [0x00, 0x40] {
            let p = with(&|b| {
                b[8..12].fill(0);
                b[1] = sta;
            });
            assert!(p.is_ok(), "{p:?}");
        }
    }

    #[test]
    fn unknown_diagnostics_are_kept() {
        let p = ControlPacket::decode(&{
            let mut b = UP;
            b[0] = 0x20 | 31;
            b
        })
        .unwrap();
        assert_eq!(p.diag, Diag::Other(31));
        assert_eq!(p.encode()[0], 0x20 | 31);
        assert_eq!(Diag::ControlDetectionTimeExpired.to_string(), "Control Detection Time Expired");
        assert_eq!(State::AdminDown.to_string(), "AdminDown");
    }

    fn any_state() -> impl Strategy<Value = State> {
        prop_oneof![Just(State::AdminDown), Just(State::Down), Just(State::Init), Just(State::Up)]
    }

    fn any_packet() -> impl Strategy<Value = ControlPacket> {
        (
            (0u8..32, any_state(), 0u8..3, any::<bool>(), any::<bool>(), 1u8..=255),
            (1u32.., any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
        )
            .prop_map(|((diag, state, pf, c, d, mult), (my, your, tx, rx, echo))| ControlPacket {
                diag: Diag::from_code(diag),
                state,
                poll: pf == 1,
                final_: pf == 2,
                control_plane_independent: c,
                demand: d,
                detect_mult: mult,
                my_discriminator: my,
                your_discriminator: if matches!(state, State::Down | State::AdminDown) { your } else { your.max(1) },
                desired_min_tx: Duration::from_micros(tx.into()),
                required_min_rx: Duration::from_micros(rx.into()),
                required_min_echo_rx: Duration::from_micros(echo.into()),
            })
    }

    proptest! {
        #[test]
        fn decode_never_panics_and_what_decodes_reencodes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = ControlPacket::decode(&bytes) {
                // Re-encoding is canonical: the 24 bytes up to Length, Length set to 24.
                let again = ControlPacket::decode(&p.encode());
                prop_assert_eq!(again, Ok(p));
                prop_assert_eq!(&p.encode()[4..], &bytes[4..24]);
            }
        }

        #[test]
        fn valid_packets_round_trip(p in any_packet()) {
            prop_assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
        }
    }
}
