//! BFD, Bidirectional Forwarding Detection: RFC 5880 asynchronous mode over RFC 5881 single
//! hop (IPv4 and IPv6), without authentication and without the echo function.
//!
//! Sans-IO like the rest of this crate: [`packet`] turns the 24-byte control packet into a
//! [`ControlPacket`] and back; [`session`] is one session's state machine, fed decoded
//! packets and the time, drained of packets to send and state changes; [`wheel`] is the
//! hashed timer wheel the daemon's BFD task sleeps on (one for all sessions). The daemon owns
//! sockets, the TTL check (RFC 5881 §5) and demultiplexing (RFC 5880 §6.8.6 first steps).
//!
//! The API is the contract in `notes/bfd-api.md`, shared with the daemon's BFD wiring.
//! Changes to it, all additions: `Session::config`, `TimerWheel::{is_armed, len,
//! is_empty}`, `Diag::{code, from_code}`; `Diag` displays in RFC 5880 §4.1's words
//! ("Control Detection Time Expired"), as `ctl::BfdSessionRow::last_diag` promises. The
//! daemon's task adds `bfd::spawn_with(events, Ports)` for tests on other ports.
//!
//! Behaviour worth knowing (RFC 5880 leaves it open): we are always Active and send our
//! first packet at once; a state change and the start of a Poll sequence are sent at once
//! too; while Up, every interval change waits for the peer's Final (decreases as well as
//! increases), and a change made during a Poll gets a sequence of its own after it.

pub mod packet;
pub mod session;
pub mod wheel;

pub use packet::{ControlPacket, Diag, PacketError, State};
pub use session::{splitmix64, Session, SessionChange, SessionConfig, SessionStatus};
pub use wheel::TimerWheel;

/// UDP ports (RFC 5881 §4): destination 3784; source in 49152..=65535.
pub const CONTROL_PORT: u16 = 3784;
/// The source port range for control packets (RFC 5881 §4).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// Single hop: sent with TTL/hop limit 255, received packets with less are dropped
/// (RFC 5881 §5, the GTSM of RFC 5082).
pub const TTL: u8 = 255;
