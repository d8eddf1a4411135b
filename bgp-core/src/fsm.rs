//! The BGP finite state machine of one neighbor (RFC 4271 §8), with connection
//! collision detection (§6.8), capability negotiation (RFC 5492, 4760, 6793, 7911,
//! 8654, 2918, 7313, 4724 with the RFC 8538 N bit) and OPEN validation (§6.2).
//!
//! Sans-IO: the driver feeds [`Input`]s with the current time and drains
//! [`Output`]s; no socket, task or clock is touched here.
//!
//! Driver contract:
//! - call [`Peer::handle`] for every event (TCP up/down, decoded message, decode
//!   error, operator command), then drain [`Peer::poll_output`] until `None`;
//! - call [`Peer::handle_timeout`] once `now >= poll_timeout()`, then drain again;
//! - decode frames of connection `c` with [`Peer::rx_ctx`]`(c)` and encode with
//!   [`Peer::tx_ctx`], which change when the OPENs have been exchanged.
//!
//! A neighbor may have two TCP connections at once (ours and the peer's) until the
//! collision is resolved, so connections are named by a driver-chosen [`ConnId`].
//!
//! Spec vs ours:
//! - The RFC's Connect and Active states are both "no connection usable yet"; we
//!   report Connect while our own attempt is outstanding and Active while waiting for
//!   the timer or the peer.
//! - DelayOpen and the optional session attributes of §8.1.1 are not implemented;
//!   automatic restart after an error uses exponential backoff with jitter in place
//!   of IdleHoldTimer's fixed value.
//! - Beyond RFC 4271: the SendHoldTimer of RFC 9687 (the driver reports write
//!   progress with [`Input::Written`]); a deadline for reaching Established
//!   ([`PeerConfig::establish_within`]), which also bounds OpenConfirm with hold time
//!   0; `min_hold_time` (Unacceptable Hold Time for smaller proposals, 0 included).
//! - With graceful restart, a new connection replaces the Established session only
//!   once it delivered a valid OPEN (RFC 4724 §4.2, as FRR does); until then it is an
//!   extra connection with [`EXTRA_OPEN_WAIT`] to send one, and a connection without
//!   an OPEN gives its slot to a newer one. Equal BGP identifiers (eBGP, RFC 6286)
//!   resolve collisions by AS number.

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::types::{Family, FamilySet, AS_TRANS};
use crate::wire::notification::{Cease, FsmError, OpenError};
use crate::wire::open::{AddPathFamily, Capability, GracefulRestart, GracefulRestartFamily, LlgrFamily};
use crate::wire::{CodecCtx, DecodeError, ErrorCode, Message, MessageType, Notification, Open};

/// Hold time proposed before the OPEN arrives (RFC 4271 §8.2.2 suggests 4 minutes),
/// and the longest a connection may take to reach Established.
pub const OPEN_SENT_HOLD: Duration = Duration::from_secs(240);

/// How long a connection accepted while the neighbor has an Established session may
/// stay without sending an OPEN. A peer that really restarted sends its OPEN at once;
/// a bare connection is closed after this, so it cannot hold a connection slot.
pub const EXTRA_OPEN_WAIT: Duration = Duration::from_secs(5);

/// Least SendHoldTime (RFC 9687 §4: the greater of 8 minutes and twice the hold time).
pub const SEND_HOLD_MIN: Duration = Duration::from_secs(480);

/// Error code 8, Send Hold Timer Expired (RFC 9687 §5), subcode 0.
pub const SEND_HOLD_TIMER_EXPIRED: ErrorCode = ErrorCode::Other { code: 8, subcode: 0 };

/// What the neighbor should negotiate; built from the configuration by the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub local_as: u32,
    pub router_id: Ipv4Addr,
    /// The AS the peer must announce.
    pub remote_as: u32,
    /// Proposed hold time in seconds: 0 (no keepalives) or at least 3.
    pub hold_time: u16,
    /// Refuse a peer proposing a smaller hold time (0 included) with OPEN Message
    /// Error / Unacceptable Hold Time, as FRR's `bgp minimum-holdtime`.
    pub min_hold_time: Option<u16>,
    /// SendHoldTime (RFC 9687); `None`: the RFC's default, the greater of 8 minutes
    /// and twice the negotiated hold time. Never less than the hold time.
    pub send_hold_time: Option<Duration>,
    /// Never connect; wait for the peer.
    pub passive: bool,
    pub families: Vec<Family>,
    /// Families we offer ADD-PATH for, and in which direction.
    pub add_path: Vec<AddPathFamily>,
    /// Graceful restart capability to advertise (None: do not advertise it).
    pub graceful_restart: Option<GracefulRestart>,
    pub extended_message: bool,
    /// Sent in the FQDN capability when set.
    pub hostname: Option<String>,
    /// First connect retry delay; doubled after every failure up to `connect_retry_max`.
    pub connect_retry: Duration,
    pub connect_retry_max: Duration,
    /// Seeds the jitter, so peers started together do not retry in lockstep.
    pub jitter_seed: u64,
    /// Long-lived graceful restart capability to advertise (RFC 9494 §3), one entry
    /// per family; `None`: do not advertise it.
    pub long_lived_graceful_restart: Option<Vec<LlgrFamily>>,
}

impl PeerConfig {
    pub fn new(local_as: u32, router_id: Ipv4Addr, remote_as: u32) -> PeerConfig {
        PeerConfig {
            local_as,
            router_id,
            remote_as,
            hold_time: 90,
            min_hold_time: None,
            send_hold_time: None,
            passive: false,
            families: vec![Family::IPV4_UNICAST],
            add_path: Vec::new(),
            graceful_restart: None,
            extended_message: true,
            hostname: None,
            connect_retry: Duration::from_secs(2),
            connect_retry_max: Duration::from_secs(120),
            jitter_seed: u64::from(u32::from(router_id)) << 32 | u64::from(remote_as),
            long_lived_graceful_restart: None,
        }
    }

    pub fn is_external(&self) -> bool {
        self.local_as != self.remote_as
    }

    /// How long a new connection may take to reach Established: as long as the hold
    /// time we propose (the longest silence we accept on a session, so OPEN and
    /// KEEPALIVE have as long as any message), at most [`OPEN_SENT_HOLD`], and
    /// [`OPEN_SENT_HOLD`] with hold time 0 (which has no timer of its own). Bounded
    /// whatever the peer proposes: with hold time 0 nothing else ends OpenConfirm.
    pub fn establish_within(&self) -> Duration {
        match self.hold_time {
            0 => OPEN_SENT_HOLD,
            h => Duration::from_secs(h.into()).min(OPEN_SENT_HOLD),
        }
    }

    /// SendHoldTime for a session that negotiated `hold` (not 0), RFC 9687 §4.
    pub fn send_hold_for(&self, hold: u16) -> Duration {
        let hold = Duration::from_secs(hold.into());
        match self.send_hold_time {
            Some(t) => t.max(hold),
            None => SEND_HOLD_MIN.max(hold * 2),
        }
    }

    fn open(&self, dropped: &[u8]) -> Open {
        let mut caps = Vec::new();
        for &f in &self.families {
            caps.push(Capability::Multiprotocol(f));
        }
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::EnhancedRouteRefresh);
        if self.extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if let Some(gr) = &self.graceful_restart {
            caps.push(Capability::GracefulRestart(gr.clone()));
        }
        if let Some(llgr) = &self.long_lived_graceful_restart {
            caps.push(Capability::LongLivedGracefulRestart(llgr.clone()));
        }
        caps.push(Capability::FourOctetAs(self.local_as));
        if !self.add_path.is_empty() {
            caps.push(Capability::AddPath(self.add_path.clone()));
        }
        if let Some(host) = &self.hostname {
            caps.push(Capability::Fqdn { hostname: host.clone().into(), domain: Default::default() });
        }
        // RFC 5492 §5: after an Unsupported Capability NOTIFICATION, try again without
        // what the peer refused.
        caps.retain(|c| !dropped.contains(&c.code()));
        Open {
            my_as: Open::my_as_field(self.local_as),
            hold_time: self.hold_time,
            router_id: self.router_id,
            capabilities: caps,
        }
    }
}

/// What both sides agreed on, fixed for the life of an Established session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub peer_as: u32,
    pub peer_router_id: Ipv4Addr,
    /// Negotiated hold time (the smaller proposal) and keepalive interval (a third).
    pub hold_time: u16,
    pub keepalive: u16,
    pub families: Vec<Family>,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    pub extended_message: bool,
    /// The peer's graceful restart capability, if it sent one and we sent ours.
    pub graceful_restart: Option<GracefulRestart>,
    /// Both sides set the N bit (RFC 8538).
    pub graceful_notification: bool,
    pub peer_hostname: Option<String>,
    /// Context to decode what the peer sends, and to encode what we send.
    pub rx: CodecCtx,
    pub tx: CodecCtx,
    /// The peer's OPEN as received, for display.
    pub peer_open: Open,
    /// The peer's long-lived graceful restart capability (its families filtered to
    /// the session's), if it sent one and we sent ours (RFC 9494).
    pub long_lived_graceful_restart: Option<Vec<LlgrFamily>>,
}

/// Driver-chosen name of one TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// RFC 4271 §8.2.2 states, as shown to users (`bgpctl`, and its JSON by these names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

// Inputs carry decoded messages by value: they are consumed at once, and boxing
// every UPDATE would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// ManualStart / AutomaticStart: begin connecting (or listening if passive).
    Start,
    /// ManualStop: end every connection, sending `notification` if set (RFC 8538: a
    /// restarting speaker that negotiated the N bit sends a Cease other than Hard
    /// Reset; one that did not closes silently), and stay down until `Start`.
    Stop {
        notification: Option<Notification>,
    },
    /// Our connection attempt succeeded.
    Connected(ConnId),
    /// Our connection attempt failed.
    ConnectFailed,
    /// The peer connected to us.
    Accepted(ConnId),
    /// The connection is gone (reset, EOF, write error).
    Closed(ConnId),
    Message(ConnId, Message),
    /// A frame on the connection did not decode; the session ends with its NOTIFICATION.
    DecodeError(ConnId, DecodeError),
    /// Bytes queued on the connection reached the socket (RFC 9687: the send side
    /// made progress); `now` may be the instant of the write. Restarts the
    /// SendHoldTimer. A driver with nothing queued need not report anything.
    Written(ConnId),
}

/// Why an Established session (or a try at one) ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    NotificationSent(Notification),
    NotificationReceived(Notification),
    HoldTimerExpired,
    /// Nothing we queued reached the peer for the SendHoldTime (RFC 9687); the Send
    /// Hold Timer Expired NOTIFICATION was tried.
    SendHoldTimerExpired,
    /// The connection did not reach Established in time (see
    /// [`PeerConfig::establish_within`] and [`EXTRA_OPEN_WAIT`]).
    OpenTimeout,
    ConnectionClosed,
    /// Replaced by a new connection from a peer that negotiated graceful restart:
    /// it restarted (RFC 4724 §4.2).
    PeerRestarted,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::NotificationSent(n) => write!(f, "sent NOTIFICATION {n}"),
            DownReason::NotificationReceived(n) => write!(f, "received NOTIFICATION {n}"),
            DownReason::HoldTimerExpired => f.write_str("hold timer expired"),
            DownReason::SendHoldTimerExpired => f.write_str("send hold timer expired (the peer stopped reading)"),
            DownReason::OpenTimeout => f.write_str("connection did not reach Established in time"),
            DownReason::ConnectionClosed => f.write_str("connection closed"),
            DownReason::PeerRestarted => f.write_str("peer restarted (new connection)"),
        }
    }
}

/// Which side opened a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The peer connected to us.
    Inbound,
    /// We connected to the peer.
    Outbound,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        })
    }
}

/// Why the peer's OPEN was refused (RFC 4271 §6.2, RFC 4760 §8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenRejection {
    /// The peer announced another AS than the one configured.
    BadPeerAs { announced: u32, expected: u32 },
    /// A hold time of 1 or 2 seconds, or less than `min_hold_time`.
    UnacceptableHoldTime(u16),
    /// Zero, or ours on an internal session.
    BadBgpIdentifier(Ipv4Addr),
    /// No address family in common; `offered` is what the peer's OPEN listed.
    NoCommonFamily { offered: Vec<Family> },
}

impl fmt::Display for OpenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenRejection::BadPeerAs { announced, expected } => {
                write!(f, "peer announced AS {announced}, expected AS {expected}")
            }
            OpenRejection::UnacceptableHoldTime(hold_time) => write!(f, "peer proposed hold time {hold_time}"),
            OpenRejection::BadBgpIdentifier(id) => write!(f, "peer BGP identifier {id} is not usable"),
            OpenRejection::NoCommonFamily { offered } => {
                write!(f, "no address family in common (peer offers {offered:?})")
            }
        }
    }
}

/// Something that happened to a connection and is worth a log line, beside the state
/// changes [`Output::Established`] and [`Output::Down`] report. Every NOTIFICATION
/// named here has been sent (or received) and the connection closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// We refused the peer's OPEN with `notification`.
    OpenRejected { reason: OpenRejection, notification: Notification },
    /// A message the connection's state does not allow (RFC 4271 §9, RFC 6608 subcodes).
    UnexpectedMessage { message: MessageType, state: SessionState, notification: Notification },
    /// A frame that did not decode; `reason` is the decoder's.
    DecodeError { reason: String, notification: Notification },
    /// The peer sent a NOTIFICATION.
    NotificationReceived(Notification),
    /// Two connections reached OpenConfirm (RFC 4271 §6.8): the one of the speaker with
    /// the higher BGP Identifier, `kept`, stays; the other was closed with Cease /
    /// Connection Collision Resolution.
    ConnectionCollision { peer_id: Ipv4Addr, kept: Direction },
    /// A connection did not reach Established in time and was closed with Hold Timer
    /// Expired; `open_received` tells a bare connection (no OPEN) from a stalled one.
    OpenTimeout { state: SessionState, open_received: bool },
    /// A connection that had sent no OPEN was closed with Cease / Connection Rejected
    /// to make room for a new one.
    IdleConnectionReplaced,
}

impl fmt::Display for SessionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionEvent::OpenRejected { reason, .. } => reason.fmt(f),
            SessionEvent::UnexpectedMessage { message, state, .. } => write!(f, "unexpected {message:?} in {state}"),
            SessionEvent::DecodeError { reason, .. } => write!(f, "decode error: {reason}"),
            SessionEvent::NotificationReceived(n) => write!(f, "received NOTIFICATION {n}"),
            SessionEvent::ConnectionCollision { peer_id, kept } => {
                write!(f, "connection collision with {peer_id}: keeping the {kept} connection")
            }
            SessionEvent::OpenTimeout { state, open_received: false } => {
                write!(f, "connection closed in {state}: no OPEN in time")
            }
            SessionEvent::OpenTimeout { state, open_received: true } => {
                write!(f, "connection closed in {state}: not Established in time")
            }
            SessionEvent::IdleConnectionReplaced => {
                f.write_str("a connection that sent no OPEN was closed to make room for a new one")
            }
        }
    }
}

#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the peer; answer with `Connected` or `ConnectFailed`.
    Connect,
    /// Stop an outstanding connection attempt (the peer's connection won).
    AbortConnect,
    Send(ConnId, Message),
    /// Close after flushing what was sent.
    Close(ConnId),
    Established(ConnId, Box<Negotiated>),
    /// The Established session ended. `graceful` is true when the peer's routes are to
    /// be kept as stale (RFC 4724 helper, RFC 8538 for NOTIFICATIONs).
    Down {
        reason: DownReason,
        graceful: bool,
    },
    /// An UPDATE or ROUTE-REFRESH received in Established, for the RIB.
    Deliver(Message),
    /// Something worth a log line (e.g. a NOTIFICATION that ended a connection before
    /// Established).
    Event(SessionEvent),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnState {
    OpenSent,
    OpenConfirm,
    Established,
}

impl ConnState {
    fn session_state(self) -> SessionState {
        match self {
            ConnState::OpenSent => SessionState::OpenSent,
            ConnState::OpenConfirm => SessionState::OpenConfirm,
            ConnState::Established => SessionState::Established,
        }
    }
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    inbound: bool,
    state: ConnState,
    hold: Option<Instant>,
    keepalive: Option<Instant>,
    /// Until Established: when the connection is given up.
    deadline: Option<Instant>,
    /// Established with a hold time: the SendHoldTimer (RFC 9687).
    send_hold: Option<Instant>,
    opened_at: Instant,
    negotiated: Option<Box<Negotiated>>,
}

/// Counters per message type, in the order OPEN, UPDATE, NOTIFICATION, KEEPALIVE,
/// ROUTE-REFRESH.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageCounts(pub [u64; 5]);

impl MessageCounts {
    /// Counts `m`; the driver calls it for messages it sends outside the FSM (UPDATEs).
    pub fn bump(&mut self, m: &Message) {
        self.0[m.message_type() as usize - 1] += 1;
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// The last NOTIFICATION or error that ended a session, for `show neighbors ADDR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastError {
    pub at: Instant,
    pub reason: DownReason,
}

/// One neighbor's state machine. See the module docs for the driver contract.
#[derive(Debug)]
pub struct Peer {
    cfg: PeerConfig,
    started: bool,
    connecting: bool,
    conns: Vec<Conn>,
    /// When to try connecting again (not passive, started, nothing up).
    retry_at: Option<Instant>,
    failures: u32,
    rng: u64,
    /// Capability codes the peer refused (RFC 5492 §5), dropped from our next OPEN.
    dropped_caps: Vec<u8>,
    out: VecDeque<Output>,
    pub received: MessageCounts,
    pub sent: MessageCounts,
    pub established_at: Option<Instant>,
    /// When the state last changed to or from Established.
    pub last_change: Option<Instant>,
    pub last_error: Option<LastError>,
    pub established_count: u64,
    /// NOTIFICATIONs sent and received since the neighbor was created, by (code,
    /// subcode): the metrics' counters.
    pub notifications: NotificationCounts,
}

/// NOTIFICATIONs sent and received, by cause.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotificationCounts {
    pub sent: ByCause,
    pub received: ByCause,
}

/// NOTIFICATIONs by (code, subcode) of their cause: a Hard Reset (RFC 8538 §3) counts
/// under the code and subcode it carries (FRR sends `shutdown` as Hard Reset around
/// Administrative Shutdown, and the operator asks "why", not "how"), and is counted
/// in `hard_resets` too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ByCause {
    pub by_code: std::collections::BTreeMap<(u8, u8), u64>,
    pub hard_resets: u64,
}

impl ByCause {
    pub fn count(&mut self, n: &Notification) {
        let cause = n.hard_reset_cause();
        self.hard_resets += u64::from(cause.is_some());
        let code = cause.as_ref().unwrap_or(n).code.to_u8();
        *self.by_code.entry(code).or_default() += 1;
    }
}

impl Peer {
    pub fn new(cfg: PeerConfig) -> Peer {
        let rng = cfg.jitter_seed | 1;
        Peer {
            cfg,
            started: false,
            connecting: false,
            conns: Vec::new(),
            retry_at: None,
            failures: 0,
            rng,
            dropped_caps: Vec::new(),
            out: VecDeque::new(),
            received: MessageCounts::default(),
            sent: MessageCounts::default(),
            established_at: None,
            last_change: None,
            last_error: None,
            established_count: 0,
            notifications: NotificationCounts::default(),
        }
    }

    /// Our restart is over (RFC 4724 §4.1): OPENs from now on clear the R bit and the
    /// forwarding bits they carried for it.
    pub fn restart_over(&mut self) {
        if let Some(gr) = &mut self.cfg.graceful_restart {
            gr.restarting = false;
            gr.families.iter_mut().for_each(|f| f.forwarding_preserved = false);
        }
        // RFC 9494 §3: the LLGR F bits follow the GR ones.
        if let Some(llgr) = &mut self.cfg.long_lived_graceful_restart {
            llgr.iter_mut().for_each(|f| f.forwarding_preserved = false);
        }
    }

    pub fn config(&self) -> &PeerConfig {
        &self.cfg
    }

    /// Replaces the configuration used for the next connection (the current session,
    /// if any, keeps what it negotiated).
    pub fn set_config(&mut self, cfg: PeerConfig) {
        self.cfg = cfg;
    }

    pub fn state(&self) -> SessionState {
        match self.conns.iter().map(|c| c.state).max_by_key(|s| *s as u8) {
            Some(state) => state.session_state(),
            None if !self.started => SessionState::Idle,
            None if self.connecting => SessionState::Connect,
            None => SessionState::Active,
        }
    }

    /// The Established session's negotiation, if there is one.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.conns.iter().find(|c| c.state == ConnState::Established).and_then(|c| c.negotiated.as_deref())
    }

    pub fn established_conn(&self) -> Option<ConnId> {
        self.conns.iter().find(|c| c.state == ConnState::Established).map(|c| c.id)
    }

    pub fn rx_ctx(&self, conn: ConnId) -> CodecCtx {
        self.conn(conn).and_then(|c| c.negotiated.as_ref()).map_or_else(CodecCtx::default, |n| n.rx)
    }

    pub fn tx_ctx(&self, conn: ConnId) -> CodecCtx {
        self.conn(conn).and_then(|c| c.negotiated.as_ref()).map_or_else(CodecCtx::default, |n| n.tx)
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The earliest instant at which [`Peer::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns
            .iter()
            .flat_map(|c| [c.hold, c.keepalive, c.deadline, c.send_hold])
            .flatten()
            .chain(self.retry_at)
            .min()
    }

    fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.iter().find(|c| c.id == id)
    }

    fn conn_index(&self, id: ConnId) -> Option<usize> {
        self.conns.iter().position(|c| c.id == id)
    }

    fn send(&mut self, id: ConnId, msg: Message) {
        self.sent.bump(&msg);
        if let Message::Notification(n) = &msg {
            self.notifications.sent.count(n);
        }
        self.out.push_back(Output::Send(id, msg));
    }

    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Start => {
                if !self.started {
                    self.started = true;
                    self.failures = 0;
                    self.schedule_connect(now, Duration::ZERO);
                    self.handle_timeout(now);
                }
            }
            Input::Stop { notification } => {
                self.started = false;
                self.retry_at = None;
                if self.connecting {
                    self.connecting = false;
                    self.out.push_back(Output::AbortConnect);
                }
                for i in (0..self.conns.len()).rev() {
                    let reason = match &notification {
                        Some(n) => DownReason::NotificationSent(n.clone()),
                        None => DownReason::ConnectionClosed,
                    };
                    if let Some(n) = &notification {
                        let id = self.conns[i].id;
                        self.send(id, Message::Notification(n.clone()));
                    }
                    self.drop_conn(i, reason, now);
                }
            }
            Input::Connected(id) => {
                self.connecting = false;
                if !self.started || self.conns.len() >= 2 || self.state() == SessionState::Established {
                    self.out.push_back(Output::Close(id));
                    return;
                }
                self.open_conn(id, false, now);
            }
            Input::ConnectFailed => {
                self.connecting = false;
                if self.started && self.conns.is_empty() {
                    self.backoff(now);
                }
            }
            Input::Accepted(id) => self.accept(id, now),
            Input::Closed(id) => {
                if let Some(i) = self.conn_index(id) {
                    self.conns[i].hold = None; // nothing more will arrive
                    self.drop_conn(i, DownReason::ConnectionClosed, now);
                    self.after_failure(now);
                }
            }
            Input::Message(id, msg) => self.message(id, msg, now),
            Input::DecodeError(id, err) => {
                if let Some(i) = self.conn_index(id) {
                    let n = err.notification().clone();
                    self.send(id, Message::Notification(n.clone()));
                    let event = SessionEvent::DecodeError { reason: err.reason, notification: n.clone() };
                    self.out.push_back(Output::Event(event));
                    self.drop_conn(i, DownReason::NotificationSent(n), now);
                    self.after_failure(now);
                }
            }
            Input::Written(id) => {
                if let Some(c) = self.conns.iter_mut().find(|c| c.id == id) {
                    if c.send_hold.is_some() {
                        let hold = c.negotiated.as_ref().map_or(0, |n| n.hold_time);
                        c.send_hold = Some(now + self.cfg.send_hold_for(hold));
                    }
                }
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            if self.started && self.conns.is_empty() && !self.cfg.passive && !self.connecting {
                self.connecting = true;
                self.out.push_back(Output::Connect);
                // If the attempt hangs, the driver reports ConnectFailed on its own
                // timeout; until then nothing more to do here.
            }
        }
        for i in (0..self.conns.len()).rev() {
            let c = &self.conns[i];
            if c.deadline.is_some_and(|t| t <= now) {
                let n = Notification::new(ErrorCode::HoldTimerExpired, bytes::Bytes::new());
                let (id, state) = (c.id, c.state);
                let event = SessionEvent::OpenTimeout {
                    state: state.session_state(),
                    open_received: state != ConnState::OpenSent,
                };
                self.out.push_back(Output::Event(event));
                self.send(id, Message::Notification(n));
                self.drop_conn(i, DownReason::OpenTimeout, now);
                if self.state() != SessionState::Established {
                    // Why the neighbor is not up; an extra connection beside a running
                    // session is only logged.
                    self.last_error = Some(LastError { at: now, reason: DownReason::OpenTimeout });
                }
                self.after_failure(now);
                continue;
            }
            if c.send_hold.is_some_and(|t| t <= now) {
                // RFC 9687 §6: the NOTIFICATION is still tried; the driver bounds the
                // time it spends flushing it.
                let id = c.id;
                self.send(id, Message::Notification(Notification::new(SEND_HOLD_TIMER_EXPIRED, bytes::Bytes::new())));
                self.drop_conn(i, DownReason::SendHoldTimerExpired, now);
                self.after_failure(now);
                continue;
            }
            if c.hold.is_some_and(|t| t <= now) {
                let n = Notification::new(ErrorCode::HoldTimerExpired, bytes::Bytes::new());
                let id = c.id;
                self.send(id, Message::Notification(n));
                self.drop_conn(i, DownReason::HoldTimerExpired, now);
                self.after_failure(now);
                continue;
            }
            if c.keepalive.is_some_and(|t| t <= now) {
                let id = c.id;
                let interval = c.negotiated.as_ref().map_or(0, |n| n.keepalive);
                self.conns[i].keepalive = (interval > 0).then(|| now + Duration::from_secs(interval.into()));
                self.send(id, Message::Keepalive);
            }
        }
    }

    fn schedule_connect(&mut self, now: Instant, delay: Duration) {
        if !self.cfg.passive {
            self.retry_at = Some(now + delay);
        }
    }

    /// Exponential backoff with jitter (RFC 4271 §10 asks for jitter on ConnectRetry):
    /// base × 2^failures, capped, then scaled by a factor in [0.75, 1.0].
    fn backoff(&mut self, now: Instant) {
        let exp = self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        let base = self.cfg.connect_retry.saturating_mul(1 << exp).min(self.cfg.connect_retry_max);
        // xorshift64: deterministic per seed, which keeps tests reproducible.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let factor = 0.75 + (self.rng % 1000) as f64 / 4000.0;
        self.schedule_connect(now, base.mul_f64(factor));
    }

    fn after_failure(&mut self, now: Instant) {
        if self.started && self.conns.is_empty() && !self.connecting {
            self.backoff(now);
        }
    }

    fn accept(&mut self, id: ConnId, now: Instant) {
        if !self.started {
            self.send(
                id,
                Message::Notification(Notification::new(
                    ErrorCode::Cease(Cease::AdministrativeShutdown),
                    bytes::Bytes::new(),
                )),
            );
            self.out.push_back(Output::Close(id));
            return;
        }
        let established = self.conns.iter().find(|c| c.state == ConnState::Established);
        if let Some(c) = established {
            if c.negotiated.as_ref().is_none_or(|n| n.graceful_restart.is_none()) {
                // §6.8: a collision with an Established session closes the new one.
                let n = Notification::new(ErrorCode::Cease(Cease::ConnectionCollisionResolution), bytes::Bytes::new());
                self.send(id, Message::Notification(n));
                self.out.push_back(Output::Close(id));
                return;
            }
            // RFC 4724 §4.2: with graceful restart, a new connection may mean the peer
            // restarted; only a valid OPEN on it shows that (see `message`), as in FRR.
            // A bare connection must not reset the session.
        }
        if self.conns.len() >= 2 {
            // The oldest inbound connection still waiting for its OPEN gives its place:
            // a connection that sends nothing never keeps the real peer out.
            let idle = (0..self.conns.len())
                .filter(|&j| self.conns[j].inbound && self.conns[j].state == ConnState::OpenSent)
                .min_by_key(|&j| self.conns[j].opened_at);
            let Some(j) = idle else {
                let n = Notification::new(ErrorCode::Cease(Cease::ConnectionRejected), bytes::Bytes::new());
                self.send(id, Message::Notification(n));
                self.out.push_back(Output::Close(id));
                return;
            };
            let old = self.conns.remove(j).id;
            let n = Notification::new(ErrorCode::Cease(Cease::ConnectionRejected), bytes::Bytes::new());
            self.out.push_back(Output::Event(SessionEvent::IdleConnectionReplaced));
            self.send(old, Message::Notification(n));
            self.out.push_back(Output::Close(old));
        }
        let extra = self.state() == SessionState::Established;
        self.open_conn(id, true, now);
        if extra {
            let c = self.conns.last_mut().expect("invariant: just opened");
            c.deadline = c.deadline.map(|d| d.min(now + EXTRA_OPEN_WAIT));
        }
    }

    fn open_conn(&mut self, id: ConnId, inbound: bool, now: Instant) {
        self.retry_at = None;
        let open = self.cfg.open(&self.dropped_caps);
        self.conns.push(Conn {
            id,
            inbound,
            state: ConnState::OpenSent,
            hold: Some(now + OPEN_SENT_HOLD),
            keepalive: None,
            deadline: Some(now + self.cfg.establish_within()),
            send_hold: None,
            opened_at: now,
            negotiated: None,
        });
        self.send(id, Message::Open(open));
    }

    /// Ends connection `i`: closes it and reports Down if it was Established.
    fn drop_conn(&mut self, i: usize, reason: DownReason, now: Instant) {
        let conn = self.conns.remove(i);
        if !matches!(reason, DownReason::PeerRestarted) {
            self.out.push_back(Output::Close(conn.id));
        }
        let was_established = conn.state == ConnState::Established;
        if was_established {
            let graceful = conn.negotiated.as_ref().is_some_and(|n| graceful_applies(n, &reason));
            self.established_at = None;
            self.last_change = Some(now);
            self.out.push_back(Output::Down { reason: reason.clone(), graceful });
        }
        if matches!(
            reason,
            DownReason::NotificationSent(_)
                | DownReason::NotificationReceived(_)
                | DownReason::HoldTimerExpired
                | DownReason::SendHoldTimerExpired
        ) || was_established
        {
            self.last_error = Some(LastError { at: now, reason });
        }
    }

    /// Ends connection `i` with NOTIFICATION `n`, reporting `event` (which names `n`).
    fn fail(&mut self, i: usize, n: Notification, event: SessionEvent, now: Instant) {
        let id = self.conns[i].id;
        self.out.push_back(Output::Event(event));
        self.send(id, Message::Notification(n.clone()));
        self.drop_conn(i, DownReason::NotificationSent(n), now);
        self.after_failure(now);
    }

    fn message(&mut self, id: ConnId, msg: Message, now: Instant) {
        let Some(i) = self.conn_index(id) else { return };
        self.received.bump(&msg);
        let state = self.conns[i].state;
        if let Message::Notification(n) = msg {
            self.notifications.received.count(&n);
            if n.code == ErrorCode::Open(OpenError::UnsupportedCapability) {
                // RFC 5492 §5: the data lists the capabilities the peer refused.
                let mut data = &n.data[..];
                while let [code, len, rest @ ..] = data {
                    if !self.dropped_caps.contains(code) {
                        self.dropped_caps.push(*code);
                    }
                    data = rest.get(usize::from(*len)..).unwrap_or(&[]);
                }
            }
            self.out.push_back(Output::Event(SessionEvent::NotificationReceived(n.clone())));
            self.drop_conn(i, DownReason::NotificationReceived(n), now);
            self.after_failure(now);
            return;
        }
        let hold = self.conns[i].negotiated.as_ref().map_or(0, |n| n.hold_time);
        match (state, msg) {
            (ConnState::OpenSent, Message::Open(open)) => match self.negotiate(open) {
                Ok(neg) => {
                    if let Some(j) = self.conns.iter().position(|c| c.state == ConnState::Established) {
                        // Only a graceful restart session lets a new connection in
                        // (`accept`): a valid OPEN on it means the peer restarted
                        // (RFC 4724 §4.2). The old session goes, its routes stay stale.
                        let old = self.conns[j].id;
                        self.out.push_back(Output::Close(old));
                        self.drop_conn(j, DownReason::PeerRestarted, now);
                    }
                    if self.resolve_collision(id, neg.peer_router_id, neg.peer_as) == Some(id) {
                        return;
                    }
                    let i = self.conn_index(id).expect("invariant: collision kept this connection");
                    let within = self.cfg.establish_within();
                    let c = &mut self.conns[i];
                    // It has shown itself a BGP speaker: the usual time to Established.
                    c.deadline = Some(c.opened_at + within);
                    c.state = ConnState::OpenConfirm;
                    c.hold = (neg.hold_time > 0).then(|| now + Duration::from_secs(neg.hold_time.into()));
                    c.keepalive = (neg.keepalive > 0).then(|| now + Duration::from_secs(neg.keepalive.into()));
                    c.negotiated = Some(Box::new(neg));
                    self.send(id, Message::Keepalive);
                }
                Err((n, reason)) => {
                    let event = SessionEvent::OpenRejected { reason, notification: n.clone() };
                    self.fail(i, n, event, now);
                }
            },
            (ConnState::OpenConfirm, Message::Keepalive) => {
                self.conns[i].state = ConnState::Established;
                self.conns[i].deadline = None;
                self.conns[i].send_hold = (hold > 0).then(|| now + self.cfg.send_hold_for(hold));
                self.reset_hold(i, hold, now);
                self.failures = 0;
                self.dropped_caps.clear();
                self.established_at = Some(now);
                self.last_change = Some(now);
                self.established_count += 1;
                let neg = self.conns[i].negotiated.clone().expect("invariant: OpenConfirm has negotiated");
                self.out.push_back(Output::Established(id, neg));
                // The other connection, if any, lost the race.
                if let Some(j) = self.conns.iter().position(|c| c.id != id) {
                    let n =
                        Notification::new(ErrorCode::Cease(Cease::ConnectionCollisionResolution), bytes::Bytes::new());
                    let other = self.conns[j].id;
                    self.send(other, Message::Notification(n.clone()));
                    self.conns.remove(j);
                    self.out.push_back(Output::Close(other));
                }
            }
            (ConnState::Established, Message::Keepalive) => self.reset_hold(i, hold, now),
            (ConnState::Established, m @ (Message::Update(_) | Message::RouteRefresh(_))) => {
                self.reset_hold(i, hold, now);
                self.out.push_back(Output::Deliver(m));
            }
            (state, m) => {
                // RFC 6608 subcodes name the state the message was unexpected in.
                let sub = match state {
                    ConnState::OpenSent => FsmError::UnexpectedMessageInOpenSent,
                    ConnState::OpenConfirm => FsmError::UnexpectedMessageInOpenConfirm,
                    ConnState::Established => FsmError::UnexpectedMessageInEstablished,
                };
                let n = Notification::new(ErrorCode::Fsm(sub), bytes::Bytes::new());
                let event = SessionEvent::UnexpectedMessage {
                    message: m.message_type(),
                    state: state.session_state(),
                    notification: n.clone(),
                };
                self.fail(i, n, event, now);
            }
        }
    }

    fn reset_hold(&mut self, i: usize, hold: u16, now: Instant) {
        if hold > 0 {
            self.conns[i].hold = Some(now + Duration::from_secs(hold.into()));
        }
    }

    /// §6.8: when an OPEN arrives and the other connection to the peer is in
    /// OpenConfirm, keep the connection initiated by the speaker with the higher BGP
    /// Identifier; with equal identifiers (allowed between eBGP peers, RFC 6286 §2.3),
    /// the one initiated by the speaker with the larger AS number. Connections still in OpenSent are not compared: a peer such as FRR
    /// may already have made the first connection Established and dropped its own
    /// attempt without ever sending an OPEN on it; closing the first one then would
    /// cost a session flap (seen in interop). Returns the connection closed, if any.
    fn resolve_collision(&mut self, opened: ConnId, peer_id: Ipv4Addr, peer_as: u32) -> Option<ConnId> {
        let other = self.conns.iter().position(|c| c.id != opened && c.state == ConnState::OpenConfirm)?;
        let this = self.conn_index(opened)?;
        let keep_inbound = (u32::from(self.cfg.router_id), self.cfg.local_as) < (u32::from(peer_id), peer_as);
        // Two connections of one direction mean the peer gave up on the older one.
        let differ = self.conns[this].inbound != self.conns[other].inbound;
        let loser = if differ && self.conns[this].inbound != keep_inbound { this } else { other };
        let loser_id = self.conns[loser].id;
        let n = Notification::new(ErrorCode::Cease(Cease::ConnectionCollisionResolution), bytes::Bytes::new());
        self.send(loser_id, Message::Notification(n));
        let kept = if keep_inbound { Direction::Inbound } else { Direction::Outbound };
        self.out.push_back(Output::Event(SessionEvent::ConnectionCollision { peer_id, kept }));
        self.conns.remove(loser);
        self.out.push_back(Output::Close(loser_id));
        Some(loser_id)
    }

    /// OPEN checks (RFC 4271 §6.2, RFC 6793 §4.1, RFC 6286) and negotiation.
    fn negotiate(&self, open: Open) -> Result<Negotiated, (Notification, OpenRejection)> {
        let open_err = |sub: OpenError, data: Vec<u8>, why: OpenRejection| {
            (Notification::new(ErrorCode::Open(sub), bytes::Bytes::from(data)), why)
        };
        let peer_as = open.asn();
        let four_cap = open.capabilities.iter().any(|c| matches!(c, Capability::FourOctetAs(_)));
        if peer_as != self.cfg.remote_as || (four_cap && open.my_as != AS_TRANS && u32::from(open.my_as) != peer_as) {
            return Err(open_err(
                OpenError::BadPeerAs,
                open.my_as.to_be_bytes().to_vec(),
                OpenRejection::BadPeerAs { announced: peer_as, expected: self.cfg.remote_as },
            ));
        }
        if open.hold_time == 1 || open.hold_time == 2 || self.cfg.min_hold_time.is_some_and(|m| open.hold_time < m) {
            return Err(open_err(
                OpenError::UnacceptableHoldTime,
                Vec::new(),
                OpenRejection::UnacceptableHoldTime(open.hold_time),
            ));
        }
        let external = self.cfg.is_external();
        if open.router_id.is_unspecified() || (!external && open.router_id == self.cfg.router_id) {
            return Err(open_err(
                OpenError::BadBgpIdentifier,
                open.router_id.octets().to_vec(),
                OpenRejection::BadBgpIdentifier(open.router_id),
            ));
        }
        // RFC 4760 §8: a peer that sends no multiprotocol capability speaks IPv4
        // unicast only.
        let peer_families: Vec<Family> = open
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect();
        let mine = self.cfg.open(&self.dropped_caps);
        let mp_sent = mine.capabilities.iter().any(|c| matches!(c, Capability::Multiprotocol(_)));
        let families: Vec<Family> = if peer_families.is_empty() || !mp_sent {
            self.cfg.families.iter().copied().filter(|f| *f == Family::IPV4_UNICAST).collect()
        } else {
            self.cfg.families.iter().copied().filter(|f| peer_families.contains(f)).collect()
        };
        if families.is_empty() {
            let mut data = Vec::new();
            for f in &self.cfg.families {
                data.extend_from_slice(&[1, 4]);
                data.extend_from_slice(&f.afi.0.to_be_bytes());
                data.extend_from_slice(&[0, f.safi.0]);
            }
            return Err(open_err(
                OpenError::UnsupportedCapability,
                data,
                OpenRejection::NoCommonFamily { offered: peer_families },
            ));
        }
        let has =
            |pred: fn(&Capability) -> bool| open.capabilities.iter().any(pred) && mine.capabilities.iter().any(pred);
        let four_octet_as = four_cap && mine.capabilities.iter().any(|c| matches!(c, Capability::FourOctetAs(_)));
        let extended_message = has(|c| matches!(c, Capability::ExtendedMessage));
        let mut rx_add_path = FamilySet::EMPTY;
        let mut tx_add_path = FamilySet::EMPTY;
        let peer_add_path: Vec<AddPathFamily> = open
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::AddPath(list) => Some(list.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        for ours in mine.capabilities.iter().filter_map(|c| match c {
            Capability::AddPath(l) => Some(l),
            _ => None,
        }) {
            for a in ours {
                if !families.contains(&a.family) {
                    continue;
                }
                if let Some(theirs) = peer_add_path.iter().find(|p| p.family == a.family) {
                    // RFC 7911 §4: we receive path ids when we said receive and they
                    // said send, and the other way round.
                    if a.receive() && theirs.send() {
                        rx_add_path.insert(a.family);
                    }
                    if a.send() && theirs.receive() {
                        tx_add_path.insert(a.family);
                    }
                }
            }
        }
        let our_gr = mine.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g.clone()),
            _ => None,
        });
        let peer_gr = open.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g.clone()),
            _ => None,
        });
        let graceful_notification =
            our_gr.as_ref().is_some_and(|g| g.notification) && peer_gr.as_ref().is_some_and(|g| g.notification);
        let graceful_restart = peer_gr.filter(|_| our_gr.is_some()).map(|mut g| {
            g.families.retain(|f: &GracefulRestartFamily| families.contains(&f.family));
            g
        });
        let our_llgr = mine.capabilities.iter().any(|c| matches!(c, Capability::LongLivedGracefulRestart(_)));
        let long_lived_graceful_restart = open
            .capabilities
            .iter()
            .find_map(|c| match c {
                Capability::LongLivedGracefulRestart(l) => Some(l.clone()),
                _ => None,
            })
            .filter(|_| our_llgr)
            .map(|mut l| {
                l.retain(|f| families.contains(&f.family));
                l
            });
        let peer_hostname = open.capabilities.iter().find_map(|c| match c {
            Capability::Fqdn { hostname, .. } => Some(String::from_utf8_lossy(hostname).into_owned()),
            _ => None,
        });
        let hold_time = self.cfg.hold_time.min(open.hold_time);
        let base = CodecCtx { four_octet_as, extended_message, external, ..CodecCtx::default() };
        let ext_nh = CodecCtx::extended_next_hop_families;
        Ok(Negotiated {
            peer_as,
            peer_router_id: open.router_id,
            hold_time,
            keepalive: hold_time / 3,
            families,
            four_octet_as,
            route_refresh: has(|c| matches!(c, Capability::RouteRefresh)),
            enhanced_route_refresh: has(|c| matches!(c, Capability::EnhancedRouteRefresh)),
            extended_message,
            graceful_restart,
            graceful_notification,
            peer_hostname,
            rx: CodecCtx { add_path: rx_add_path, extended_next_hop: ext_nh(&mine.capabilities), ..base },
            tx: CodecCtx { add_path: tx_add_path, extended_next_hop: ext_nh(&open.capabilities), ..base },
            peer_open: open,
            long_lived_graceful_restart,
        })
    }
}

/// Whether the peer's routes survive this ending as stale: RFC 4724 keeps them when
/// the session drops without a NOTIFICATION; RFC 8538 also for NOTIFICATIONs when both
/// sent the N bit, except Hard Reset.
fn graceful_applies(neg: &Negotiated, reason: &DownReason) -> bool {
    // RFC 9494 §4.2: long-lived graceful restart alone (no GR capability) keeps the
    // routes too, as long-lived stale at once.
    if neg.graceful_restart.is_none() && neg.long_lived_graceful_restart.is_none() {
        return false;
    }
    match reason {
        DownReason::ConnectionClosed
        | DownReason::HoldTimerExpired
        | DownReason::SendHoldTimerExpired
        | DownReason::OpenTimeout
        | DownReason::PeerRestarted => true,
        DownReason::NotificationSent(n) | DownReason::NotificationReceived(n) => {
            neg.graceful_notification && n.code != ErrorCode::Cease(Cease::HardReset)
        }
    }
}
