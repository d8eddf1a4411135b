//! One task per neighbor: drives `bgp_core::fsm::Peer` with real TCP connections.
//!
//! ```text
//!            PeerCmd (bounded)                      frames (bounded, per peer)
//! supervisor ─────────────────► peer task ◄──────────────────── reader task (per connection)
//!                                │   ▲                           TcpStream read half
//!                                │   └── connect task (one at a time)
//!                                ▼
//!   control Bytes (bounded) ──► writer task (per connection): coalesces queued
//!   RIB's UPDATEs (bounded) ──►  messages into one write (control first), reports
//!                                progress, flushes on close, then shuts down
//! ```
//!
//! Backpressure: a reader waits when the peer task's frame queue is full, so a peer
//! that sends faster than we process stops being read (TCP flow control reaches it).
//! The peer task never waits for a writer: its own messages (OPEN, KEEPALIVE,
//! NOTIFICATION, ROUTE-REFRESH) go to a control queue of their own with `try_send`, a
//! KEEPALIVE or ROUTE-REFRESH is dropped rather than take the last slot (kept for the
//! NOTIFICATION), so a peer that stops reading stalls neither this task (its hold
//! timer, `bgpctl`) nor anything else. The RIB's UPDATEs use the other queue, which
//! the RIB task only `try_send`s to. The writer stores the time of its last
//! successful write; the peer task reports it to the FSM (`Input::Written`) before
//! the timers run, which drives the RFC 9687 send hold timer.
//!
//! Closing (`Output::Close`, always after the NOTIFICATION, if any): the writer
//! finishes the messages it holds and the NOTIFICATION within [`CLOSE_FLUSH`], then
//! shuts down its side (FIN); the reader meanwhile discards what still arrives until
//! the peer closes or [`CLOSE_LINGER`] passes. The socket is closed with nothing
//! unread, so the kernel sends no RST that could destroy the NOTIFICATION.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_core::bfd::{SessionConfig as BfdConfig, State as BfdState};
use bgp_core::config::{Config, Neighbor, NeighborRange, PeerPolicies, PeerSettings};
use bgp_core::ctl::events::{Event, RestartPhase};
use bgp_core::ctl::{NeighborDetail, NeighborSummary};
use bgp_core::fsm::{ConnId, Input, Output, Peer, PeerConfig, SessionEvent, SessionState};
use bgp_core::policy::Policy;
use bgp_core::rib::engine::SessionUp;
use bgp_core::rib::PeerInfo;
use bgp_core::types::Family;
use bgp_core::wire::{self, Cease, CodecCtx, DecodeError, Message, Notification, RefreshSubtype, RouteRefresh, Update};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::bfd::{BfdEvent, BfdHandle, BfdPeer};
use crate::history::History;
use crate::net;
use crate::rib_task::{PeerCounters, PeerLink, RibInput, RibNotice};

/// Everything a neighbor task needs, resolved from the configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct NeighborSpec {
    pub address: IpAddr,
    pub port: u16,
    pub passive: bool,
    pub local_address: Option<IpAddr>,
    pub shutdown: bool,
    /// Created from a `neighbor_range` when the peer connected.
    pub dynamic: bool,
    pub settings: PeerSettings,
    /// What the state machine negotiates.
    pub fsm: PeerConfig,
    pub import: Arc<Policy>,
    pub export: Arc<Policy>,
    /// Why routes will not flow (RFC 8212), for the log and `show neighbors ADDR`.
    pub rfc8212_notice: Option<String>,
    pub mrai: Duration,
}

impl NeighborSpec {
    pub fn configured(n: &Neighbor, config: &Config) -> NeighborSpec {
        let global = &config.global;
        let PeerPolicies { import, export, rfc8212_notice } = config.peer_policies(&n.settings);
        NeighborSpec {
            import,
            export,
            rfc8212_notice,
            mrai: global.min_advertisement_interval,
            address: n.address,
            port: n.port,
            passive: n.passive,
            local_address: n.local_address,
            shutdown: n.shutdown,
            dynamic: false,
            settings: n.settings.clone(),
            fsm: n.peer_config(global),
        }
    }

    /// A neighbor accepted from `range` at `address`.
    pub fn dynamic(range: &NeighborRange, address: IpAddr, config: &Config) -> NeighborSpec {
        let global = &config.global;
        let mut fsm = range.peer_config(global);
        fsm.jitter_seed ^= match address {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a) as u64,
        };
        let PeerPolicies { import, export, rfc8212_notice } = config.peer_policies(&range.settings);
        NeighborSpec {
            import,
            export,
            rfc8212_notice,
            mrai: global.min_advertisement_interval,
            address,
            port: 179,
            passive: true,
            local_address: None,
            shutdown: false,
            dynamic: true,
            settings: range.settings.clone(),
            fsm,
        }
    }
}

/// How the daemon leaves its peers when it stops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopMode {
    /// RFC 4724/8538 restarting speaker: the peer keeps our routes.
    GracefulRestart,
    /// Cease / Administrative Shutdown (Hard Reset when the N bit was negotiated).
    Shutdown(Option<String>),
    /// Cease with this subcode (Hard Reset when the N bit was negotiated): the
    /// neighbor was removed from or changed in the configuration.
    Cease(Cease),
}

pub enum PeerCmd {
    Accepted(TcpStream),
    Summary(oneshot::Sender<NeighborSummary>),
    Detail(oneshot::Sender<NeighborDetail>),
    Reset,
    /// Ask the peer for its routes again (ROUTE-REFRESH).
    Refresh,
    Shutdown(Option<String>),
    Enable,
    /// New import and export policies (a reload): applied to the routes held, without
    /// restarting the session.
    Policies(Box<PolicyUpdate>),
    /// Our graceful restart window is over: OPENs no longer carry the R bit.
    RestartOver,
    Stop(StopMode, oneshot::Sender<()>),
    /// A state change of this neighbor's BFD session.
    Bfd(Box<BfdEvent>),
    /// `bfd`, `bfd_interval_ms`, `bfd_multiplier` as a reload left them: the BFD
    /// session is added, retuned or removed, the BGP session stays.
    BfdSettings(Option<bgp_core::config::Bfd>),
    /// A scrape of the metrics endpoint.
    Metrics(oneshot::Sender<crate::metrics::PeerMetrics>),
}

pub struct PolicyUpdate {
    pub import: Arc<Policy>,
    pub export: Arc<Policy>,
    pub rfc8212_notice: Option<String>,
}

/// What the peer task tells the supervisor.
pub enum PeerEvent {
    /// A dynamic neighbor's last connection is gone; its task has ended. With the end
    /// of its max_prefixes hold-down, if one is running: the supervisor keeps it.
    Gone { address: IpAddr, hold_down_until: Option<Instant> },
}

#[derive(Clone)]
pub struct PeerHandle {
    pub tx: mpsc::Sender<PeerCmd>,
    pub dynamic: bool,
}

const FRAME_QUEUE: usize = 64;

/// How much later than the SendHoldTimer the kernel gives up on unacknowledged data
/// (`TCP_USER_TIMEOUT`).
const USER_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);
/// Most UPDATEs, and routes in them, per batch handed to the RIB task.
pub const UPDATE_BATCH: usize = 64;
pub const UPDATE_BATCH_ROUTES: usize = 4096;
/// The RIB's UPDATEs to one connection.
const WRITE_QUEUE: usize = 256;
/// The peer task's own messages to one connection.
const CONTROL_QUEUE: usize = 16;
const READ_BUFFER: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing connection may take to write what it holds and its NOTIFICATION.
pub const CLOSE_FLUSH: Duration = Duration::from_secs(3);
/// How long a closing connection keeps reading (and discarding) while the peer has
/// not closed its side.
pub const CLOSE_LINGER: Duration = Duration::from_secs(5);
/// Most bytes coalesced into one write.
const WRITE_CHUNK: usize = 256 * 1024;

enum ReadEvent {
    Frame(Bytes),
    Error(DecodeError),
    Closed(Option<io::Error>),
}

/// One TCP connection's queues and tasks. Dropping it closes the connection: the
/// writer flushes and shuts down, the reader drains (see the module docs).
struct Connection {
    /// The peer task's own messages.
    control: mpsc::Sender<Bytes>,
    /// UPDATEs; the RIB task holds a clone from the session's start.
    data: mpsc::Sender<Bytes>,
    /// Dropped to tell the writer and the reader the connection is closing.
    _closing: watch::Sender<()>,
    /// Milliseconds since `PeerTask::base` of the last write that made progress, plus
    /// one (0: none yet); and the value last reported to the FSM.
    written: Arc<AtomicU64>,
    reported: u64,
    write_task: JoinHandle<()>,
    read_task: JoinHandle<()>,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
}

pub struct PeerTask {
    spec: NeighborSpec,
    fsm: Peer,
    conns: HashMap<ConnId, Connection>,
    next_conn: u64,
    connecting: Option<JoinHandle<io::Result<TcpStream>>>,
    frames_tx: mpsc::Sender<(ConnId, ReadEvent)>,
    frames_rx: mpsc::Receiver<(ConnId, ReadEvent)>,
    rib: mpsc::Sender<RibInput>,
    counters: Arc<PeerCounters>,
    /// What the RIB tells this peer (its sender goes with each PeerUp).
    notices_tx: mpsc::Sender<RibNotice>,
    notices: mpsc::Receiver<RibNotice>,
    admin_down: bool,
    events: mpsc::Sender<PeerEvent>,
    /// After a max_prefixes teardown: when to start again.
    restart_at: Option<Instant>,
    /// ROUTE-REFRESH messages to send (an operator asked).
    refresh: Vec<(ConnId, Family)>,
    /// New policies for the RIB to apply.
    policies_changed: bool,
    /// The last failed connection attempt, which the FSM does not see the cause of.
    connect_error: Option<(Instant, String)>,
    /// Origin of the connections' `written` times.
    base: Instant,
    /// The writer and reader tasks of connections being closed, awaited by `stop`.
    closing: Vec<(JoinHandle<()>, JoinHandle<()>)>,
    /// The daemon's BFD task; used when `spec.settings.bfd` is set.
    bfd: BfdHandle,
    /// Our address on the last Established session (the BFD session's source).
    bfd_local: Option<IpAddr>,
    /// `neighbor shutdown` with BFD: AdminDown is sent once the Cease is queued.
    bfd_admin_down: bool,
    /// The event history (`show events`), shared with the supervisor; outlives the task.
    history: History,
    /// The state last recorded in the history.
    recorded_state: SessionState,
    /// Why the state is about to change (the first cause wins), for the history.
    cause: Option<String>,
    /// Why the FSM is about to send a NOTIFICATION (its `SessionEvent`), for the history.
    reason: Option<String>,
}

pub fn spawn(
    spec: NeighborSpec,
    rib: mpsc::Sender<RibInput>,
    events: mpsc::Sender<PeerEvent>,
    bfd: BfdHandle,
    history: History,
) -> PeerHandle {
    let (tx, rx) = mpsc::channel(32);
    let dynamic = spec.dynamic;
    let (frames_tx, frames_rx) = mpsc::channel(FRAME_QUEUE);
    let (notices_tx, notices) = mpsc::channel(4);
    let task = PeerTask {
        fsm: Peer::new(spec.fsm.clone()),
        admin_down: spec.shutdown,
        spec,
        conns: HashMap::new(),
        next_conn: 1,
        connecting: None,
        frames_tx,
        frames_rx,
        rib,
        counters: Arc::new(PeerCounters::default()),
        notices_tx,
        notices,
        events,
        connect_error: None,
        refresh: Vec::new(),
        policies_changed: false,
        restart_at: None,
        base: Instant::now(),
        closing: Vec::new(),
        bfd,
        bfd_local: None,
        bfd_admin_down: false,
        history,
        recorded_state: SessionState::Idle,
        cause: None,
        reason: None,
    };
    tokio::spawn(task.run(rx));
    PeerHandle { tx, dynamic }
}

impl PeerTask {
    async fn run(mut self, mut commands: mpsc::Receiver<PeerCmd>) {
        if let Some(notice) = &self.spec.rfc8212_notice {
            warn!(peer = %self.spec.address, "{notice}");
        }
        if !self.admin_down {
            self.cause("started".into());
            self.fsm.handle(Input::Start, Instant::now());
            self.drain().await;
            self.note_state();
            // A configured neighbor's BFD session runs from the start (BGP may come up
            // while it is down, as in FRR); a dynamic one's once its session is up.
            if !self.spec.dynamic {
                self.bfd_add(self.spec.local_address).await;
            }
        }
        loop {
            let deadline = self.fsm.poll_timeout();
            let sleep = tokio::time::sleep_until(deadline.map_or_else(far_future, tokio::time::Instant::from_std));
            tokio::select! {
                cmd = commands.recv() => {
                    let Some(cmd) = cmd else { break };
                    if let PeerCmd::Stop(mode, done) = cmd {
                        // BGP first, then BFD goes quiet (never AdminDown): a peer
                        // that hears BFD fail before our graceful-restart Cease would
                        // drop our routes (FRR 8.4 does).
                        self.stop(mode).await;
                        self.bfd_remove().await;
                        let _ = done.send(());
                        return;
                    }
                    self.bfd_command(&cmd).await;
                    self.command(cmd);
                }
                Some((id, event)) = self.frames_rx.recv() => {
                    self.read_event(id, event);
                    // What else is queued goes to the RIB in the same batch.
                    for _ in 1..UPDATE_BATCH {
                        match self.frames_rx.try_recv() {
                            Ok((id, event)) => self.read_event(id, event),
                            Err(_) => break,
                        }
                    }
                }
                result = async { self.connecting.as_mut().expect("guarded by the if").await }, if self.connecting.is_some() => {
                    self.connecting = None;
                    match result {
                        Ok(Ok(stream)) => {
                            let id = self.add_connection(stream);
                            self.fsm.handle(Input::Connected(id), Instant::now());
                        }
                        Ok(Err(e)) => {
                            debug!(peer = %self.spec.address, error = %e, "connect failed");
                            self.record(Event::ConnectFailed { error: e.to_string() });
                            self.connect_error = Some((Instant::now(), format!("connect failed: {e}")));
                            self.fsm.handle(Input::ConnectFailed, Instant::now());
                        }
                        Err(_) => self.fsm.handle(Input::ConnectFailed, Instant::now()),
                    }
                }
                _ = sleep, if deadline.is_some() => {
                    self.report_writes();
                    self.fsm.handle_timeout(Instant::now());
                }
                Some(notice) = self.notices.recv() => self.notice(notice),
                _ = tokio::time::sleep_until(self.restart_at.map_or_else(far_future, tokio::time::Instant::from_std)), if self.restart_at.is_some() => {
                    self.restart_at = None;
                    if !self.admin_down {
                        info!(peer = %self.spec.address, "max_prefixes hold-down over: starting again");
                        self.cause("max_prefixes hold-down over".into());
                        self.fsm.handle(Input::Start, Instant::now());
                    }
                }
            }
            self.drain().await;
            self.note_state();
            if std::mem::take(&mut self.bfd_admin_down) {
                // After the Cease: the peer's BFD hears AdminDown, no failure (RFC 5882
                // §3.2; FRR 8.4 drops the routes either way, the session is closed).
                self.bfd.admin_down(self.spec.address).await;
            }
            self.send_refreshes();
            if std::mem::take(&mut self.policies_changed) {
                let input = RibInput::Policies {
                    address: self.spec.address,
                    import: self.spec.import.clone(),
                    export: self.spec.export.clone(),
                };
                let _ = self.rib.send(input).await;
            }
            if self.spec.dynamic && self.conns.is_empty() && self.fsm.state() != SessionState::Established {
                info!(peer = %self.spec.address, "dynamic neighbor gone");
                self.bfd_remove().await;
                let gone = PeerEvent::Gone { address: self.spec.address, hold_down_until: self.restart_at };
                let _ = self.events.send(gone).await;
                return;
            }
        }
    }

    fn command(&mut self, cmd: PeerCmd) {
        let now = Instant::now();
        match cmd {
            PeerCmd::Accepted(stream) => {
                if let Some(hops) = self.spec.settings.ttl_security {
                    if let Err(e) = net::set_gtsm(&stream, self.spec.address.is_ipv6(), hops) {
                        warn!(peer = %self.spec.address, error = %e, "cannot set GTSM on accepted connection");
                    }
                }
                let _ = stream.set_nodelay(true);
                let id = self.add_connection(stream);
                self.fsm.handle(Input::Accepted(id), now);
            }
            PeerCmd::Summary(reply) => {
                let _ = reply.send(self.summary());
            }
            PeerCmd::Detail(reply) => {
                let _ = reply.send(self.detail());
            }
            PeerCmd::Reset => {
                self.cause("bgpctl neighbor reset".into());
                let n = self.hard(Notification::new(wire::ErrorCode::Cease(Cease::AdministrativeReset), Bytes::new()));
                self.fsm.handle(Input::Stop { notification: Some(n) }, now);
                if !self.admin_down {
                    self.fsm.handle(Input::Start, now);
                }
            }
            PeerCmd::Refresh => self.ask_refresh(),
            PeerCmd::Shutdown(message) => {
                self.bfd_admin_down = !self.admin_down && self.spec.settings.bfd.is_some();
                self.admin_down = true;
                self.cause("administrative shutdown".into());
                let n =
                    Notification::cease_with_message(Cease::AdministrativeShutdown, message.as_deref().unwrap_or(""));
                let n = self.hard(n);
                self.fsm.handle(Input::Stop { notification: Some(n) }, now);
            }
            PeerCmd::Enable => {
                if self.admin_down {
                    self.admin_down = false;
                    self.cause("enabled".into());
                    self.fsm.handle(Input::Start, now);
                }
            }
            PeerCmd::RestartOver => {
                self.fsm.restart_over();
                self.spec.fsm = self.fsm.config().clone();
            }
            PeerCmd::Policies(p) => {
                info!(peer = %self.spec.address, import = %p.import.name, export = %p.export.name, "policies changed");
                if let Some(notice) = &p.rfc8212_notice {
                    warn!(peer = %self.spec.address, "{notice}");
                }
                self.record(Event::PoliciesChanged {
                    import: p.import.name.to_string(),
                    export: p.export.name.to_string(),
                });
                (self.spec.import, self.spec.export, self.spec.rfc8212_notice) = (p.import, p.export, p.rfc8212_notice);
                self.policies_changed = true;
            }
            PeerCmd::Bfd(event) => self.bfd_event(*event, now),
            PeerCmd::BfdSettings(_) => {} // applied by `bfd_command`
            PeerCmd::Metrics(reply) => {
                let _ = reply.send(crate::metrics::PeerMetrics {
                    detail: self.detail(),
                    notifications: self.fsm.notifications.clone(),
                    established_seconds: self.fsm.established_at.map(|t| now.duration_since(t).as_secs()),
                });
            }
            PeerCmd::Stop(..) => unreachable!("handled in run"),
        }
    }

    /// RFC 5882 §3.2 and RFC 9384: BFD going from Up to Down (detection time expired,
    /// or the peer said Down) closes an Established session now with Cease / BFD
    /// Down, as Hard Reset where the N bit was negotiated (as FRR does), so the
    /// routes are withdrawn rather than kept as stale. The peer's AdminDown is no
    /// failure and leaves the session alone.
    fn bfd_event(&mut self, event: BfdEvent, now: Instant) {
        let BfdEvent { change, remote_state, .. } = event;
        let failed = bfd_failed(&change, remote_state);
        // The BFD task logs the change itself.
        debug!(peer = %self.spec.address, to = %change.to, remote = %remote_state, "BFD change");
        self.record(Event::Bfd {
            from: change.from.to_string(),
            to: change.to.to_string(),
            remote_state: remote_state.to_string(),
            diagnostic: change.diag.to_string(),
        });
        if !failed || self.fsm.state() != SessionState::Established {
            return;
        }
        warn!(peer = %self.spec.address, diag = %change.diag, "BFD down: closing the session, routes withdrawn now");
        self.cause(format!("BFD down: {}", change.diag));
        let n = self.hard(Notification::new(wire::ErrorCode::Cease(Cease::BfdDown), Bytes::new()));
        self.fsm.handle(Input::Stop { notification: Some(n) }, now);
        if !self.admin_down {
            self.fsm.handle(Input::Start, now);
        }
    }

    /// The BFD side of a command (the BFD task is awaited, so it runs here, before
    /// `command`).
    async fn bfd_command(&mut self, cmd: &PeerCmd) {
        match cmd {
            // `add` takes an AdminDown session back to Down, or starts one.
            PeerCmd::Enable
                if self.admin_down
                    && self.spec.settings.bfd.is_some()
                    && (!self.spec.dynamic || self.bfd_local.is_some()) =>
            {
                self.bfd_add(self.spec.local_address.or(self.bfd_local)).await;
            }
            PeerCmd::BfdSettings(new) if *new != self.spec.settings.bfd => {
                info!(peer = %self.spec.address, from = ?self.spec.settings.bfd, to = ?new, "BFD settings changed");
                self.spec.settings.bfd = *new;
                match new {
                    // AdminDown first: the peer's BFD takes it as no failure (RFC 5882
                    // §3.2) and keeps BGP up, where silence would end in Down.
                    None => {
                        self.bfd.admin_down(self.spec.address).await;
                        self.bfd.remove(self.spec.address).await;
                    }
                    // `add` keeps a running session and retunes it (Poll sequence).
                    Some(_) if !self.admin_down && (!self.spec.dynamic || self.bfd_local.is_some()) => {
                        self.bfd_add(self.spec.local_address.or(self.bfd_local)).await
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }

    /// Adds (or retunes) the BFD session when `bfd` is configured.
    async fn bfd_add(&self, local: Option<IpAddr>) {
        let Some(b) = self.spec.settings.bfd else { return };
        self.bfd.add(BfdPeer { peer: self.spec.address, local, cfg: session_config(&b) }).await;
    }

    async fn bfd_remove(&self) {
        if self.spec.settings.bfd.is_some() {
            self.bfd.remove(self.spec.address).await;
        }
    }

    /// A session came up from `local`: a dynamic neighbor's BFD session starts, a
    /// configured one's learns its source address.
    async fn bfd_established(&mut self, local: Option<IpAddr>) {
        self.bfd_local = local;
        if self.spec.settings.bfd.is_none() || self.admin_down {
            return;
        }
        match (self.spec.dynamic, self.spec.local_address, local) {
            (true, _, _) => self.bfd_add(local).await,
            (false, None, Some(local)) => self.bfd.set_local(self.spec.address, local).await,
            _ => {}
        }
    }

    /// Asks the peer for its routes again (ROUTE-REFRESH for each family), if it
    /// negotiated route refresh.
    fn ask_refresh(&mut self) {
        let conn = self.fsm.established_conn();
        let families = self.fsm.negotiated().filter(|n| n.route_refresh).map(|n| n.families.clone());
        match (conn, families) {
            (Some(id), Some(families)) => self.refresh = families.into_iter().map(|f| (id, f)).collect(),
            _ => warn!(
                peer = %self.spec.address,
                "no route refresh with this peer: routes the old import policy refused come back with its next session"
            ),
        }
    }

    /// RFC 4486: a peer over its `max_prefixes` (restart action) is closed with Cease /
    /// Maximum Number of Prefixes Reached, and started again after the hold-down.
    fn notice(&mut self, notice: RibNotice) {
        if self.fsm.state() != SessionState::Established {
            return;
        }
        let (family, limit, after) = match notice {
            RibNotice::PrefixLimit { family, limit, after } => (family, limit, after),
            RibNotice::AskRefresh => return self.ask_refresh(),
        };
        // Data: the AFI, SAFI and limit of the family that overflowed (RFC 4486 §4).
        let mut data = Vec::with_capacity(7);
        data.extend_from_slice(&family.afi.0.to_be_bytes());
        data.push(family.safi.0);
        data.extend_from_slice(&limit.to_be_bytes());
        let n = self.hard(Notification::new(wire::ErrorCode::Cease(Cease::MaximumPrefixesReached), data));
        self.record(Event::MaxPrefix {
            family: Some(family.to_string()),
            limit,
            received: None,
            action: "restart".into(),
            restart_after_s: Some(after.as_secs()),
        });
        self.cause("max_prefixes exceeded".into());
        self.fsm.handle(Input::Stop { notification: Some(n) }, Instant::now());
        self.restart_at = Some(Instant::now() + after);
    }

    /// RFC 8538 §3: where the N bit was negotiated, a Cease that must end the
    /// graceful restart state is sent as Hard Reset.
    fn hard(&self, n: Notification) -> Notification {
        if self.fsm.negotiated().is_some_and(|neg| neg.graceful_notification) {
            Notification::hard_reset(&n)
        } else {
            n
        }
    }

    /// Leaves every peer as the stop mode says, and waits (bounded) for the writes.
    async fn stop(&mut self, mode: StopMode) {
        let cause = match &mode {
            StopMode::GracefulRestart => "daemon stopping (graceful restart)",
            StopMode::Shutdown(_) => "daemon shutting down",
            StopMode::Cease(Cease::PeerDeconfigured) => "removed from the configuration",
            StopMode::Cease(_) => "configuration changed: restarting",
        };
        let notification = match mode {
            StopMode::GracefulRestart => {
                // RFC 8538 §4: with the N bit, a Cease other than Hard Reset keeps the
                // peer in helper mode; without it, only a silent close does (RFC 4724).
                match self.fsm.negotiated() {
                    Some(n) if n.graceful_notification => {
                        Some(Notification::cease_with_message(Cease::AdministrativeReset, "graceful restart"))
                    }
                    _ => None,
                }
            }
            StopMode::Shutdown(message) => {
                let n =
                    Notification::cease_with_message(Cease::AdministrativeShutdown, message.as_deref().unwrap_or(""));
                Some(self.hard(n))
            }
            StopMode::Cease(subcode) => {
                Some(self.hard(Notification::new(wire::ErrorCode::Cease(subcode), Bytes::new())))
            }
        };
        self.cause(cause.into());
        self.fsm.handle(Input::Stop { notification }, Instant::now());
        self.drain().await;
        self.note_state();
        if let Some(c) = self.connecting.take() {
            c.abort();
        }
        // Dropping the connections closes them (flush, FIN, drain); a peer that does
        // not read gets 2 s in all, then its sockets are dropped.
        let open = self.conns.drain().map(|(_, c)| (c.write_task, c.read_task));
        let tasks: Vec<_> = open.chain(self.closing.drain(..)).collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        for (write, read) in tasks {
            let (write_abort, read_abort) = (write.abort_handle(), read.abort_handle());
            let _ = tokio::time::timeout_at(deadline, async { tokio::join!(write, read) }).await;
            write_abort.abort();
            read_abort.abort();
        }
    }

    /// Tells the FSM about writes that made progress since the last report (RFC 9687).
    fn report_writes(&mut self) {
        for (&id, c) in &mut self.conns {
            let written = c.written.load(Ordering::Relaxed);
            if written != c.reported {
                c.reported = written;
                let at = self.base + Duration::from_millis(written - 1);
                self.fsm.handle(Input::Written(id), at);
            }
        }
    }

    fn add_connection(&mut self, stream: TcpStream) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let local = stream.local_addr().ok();
        let remote = stream.peer_addr().ok();
        // Unacknowledged data may wait a little longer than the send hold timer would:
        // the kernel's reset is the backstop, and with equal times it raced the timer, so
        // a stuck peer's session ended as "connection closed" instead of with the Send
        // Hold Timer Expired NOTIFICATION (RFC 9687).
        let stall = self.spec.fsm.send_hold_for(self.spec.fsm.hold_time) + USER_TIMEOUT_MARGIN;
        if let Err(e) = net::set_session_timeouts(&stream, stall) {
            warn!(peer = %self.spec.address, error = %e, "cannot set TCP_USER_TIMEOUT and keepalives");
        }
        let (read, write) = stream.into_split();
        let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let (data, data_rx) = mpsc::channel(WRITE_QUEUE);
        let (closing, closing_rx) = watch::channel(());
        let written = Arc::new(AtomicU64::new(0));
        let w = Writer {
            control: control_rx,
            data: data_rx,
            closing: closing_rx.clone(),
            written: written.clone(),
            base: self.base,
            stall,
        };
        let write_task = tokio::spawn(w.run(write));
        let read_task = tokio::spawn(read_loop(id, read, self.frames_tx.clone(), closing_rx));
        let conn =
            Connection { control, data, _closing: closing, written, reported: 0, write_task, read_task, local, remote };
        self.conns.insert(id, conn);
        id
    }

    fn read_event(&mut self, id: ConnId, event: ReadEvent) {
        let now = Instant::now();
        match event {
            ReadEvent::Frame(frame) => match wire::decode_message(&frame, &self.fsm.rx_ctx(id)) {
                Ok(msg) => self.fsm.handle(Input::Message(id, msg), now),
                Err(e) => self.fsm.handle(Input::DecodeError(id, e), now),
            },
            ReadEvent::Error(e) => self.fsm.handle(Input::DecodeError(id, e), now),
            ReadEvent::Closed(err) => {
                if let Some(e) = err {
                    debug!(peer = %self.spec.address, error = %e, "connection error");
                }
                self.fsm.handle(Input::Closed(id), now);
            }
        }
    }

    async fn drain(&mut self) {
        // UPDATEs go to the RIB in batches, each sent before any other input so the
        // RIB sees everything in order.
        let mut batch: Vec<Update> = Vec::new();
        let mut routes = 0;
        while let Some(out) = self.fsm.poll_output() {
            let update = matches!(out, Output::Deliver(Message::Update(_)));
            if !batch.is_empty() && (!update || batch.len() >= UPDATE_BATCH || routes >= UPDATE_BATCH_ROUTES) {
                self.send_updates(std::mem::take(&mut batch)).await;
                routes = 0;
            }
            match out {
                Output::Connect => {
                    let remote = SocketAddr::new(self.spec.address, self.spec.port);
                    let s = self.spec.clone();
                    self.connecting = Some(tokio::spawn(async move {
                        let opts = net::ConnectOptions {
                            local: s.local_address,
                            password: s.settings.password.as_deref(),
                            ttl_security: s.settings.ttl_security,
                            timeout: CONNECT_TIMEOUT,
                        };
                        net::connect(remote, opts).await
                    }));
                }
                Output::AbortConnect => {
                    if let Some(c) = self.connecting.take() {
                        c.abort();
                    }
                }
                Output::Send(id, msg) => {
                    if let Message::Notification(n) = &msg {
                        let reason = self.reason.take();
                        self.record(Event::sent(n, reason));
                    }
                    self.send(id, &msg)
                }
                Output::Close(id) => {
                    // Dropping the queues lets the writer flush what is queued and shut
                    // down its side while the reader drains (module docs); both end
                    // within CLOSE_LINGER.
                    if let Some(c) = self.conns.remove(&id) {
                        self.closing.retain(|(w, r)| !(w.is_finished() && r.is_finished()));
                        self.closing.push((c.write_task, c.read_task));
                    }
                }
                Output::Established(id, neg) => {
                    info!(
                        peer = %self.spec.address, asn = neg.peer_as, router_id = %neg.peer_router_id,
                        hold = neg.hold_time, families = ?neg.families.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
                        "session established"
                    );
                    self.note_state();
                    let Some(conn) = self.conns.get(&id) else { continue };
                    let local = conn.local.map(|a| net::canonical(a.ip()));
                    let session = SessionUp {
                        info: PeerInfo {
                            address: self.spec.address,
                            asn: neg.peer_as,
                            router_id: neg.peer_router_id,
                            internal: neg.peer_as == self.spec.fsm.local_as,
                            rr_client: self.spec.settings.route_reflector_client,
                            allow_as_in: self.spec.settings.allow_as_in,
                        },
                        ctx: neg.tx,
                        families: neg.families.clone(),
                        local,
                        interface: local.map(net::interface_addresses).unwrap_or_default(),
                        next_hop_self: self.spec.settings.next_hop_self,
                        remove_private_as: self.spec.settings.remove_private_as,
                        graceful_restart: neg.graceful_restart.clone(),
                        enhanced_refresh: neg.enhanced_route_refresh,
                        import: self.spec.import.clone(),
                        export: self.spec.export.clone(),
                        max_prefixes: self.spec.settings.max_prefixes,
                        mrai: self.spec.mrai,
                        room: conn.data.capacity(),
                        long_lived: neg
                            .long_lived_graceful_restart
                            .as_deref()
                            .map(|l| bgp_core::rib::llgr::effective(l, self.spec.settings.long_lived_stale_time)),
                    };
                    let link = PeerLink {
                        writer: conn.data.clone(),
                        counters: self.counters.clone(),
                        notices: self.notices_tx.clone(),
                    };
                    let _ = self.rib.send(RibInput::PeerUp { session: Box::new(session), link }).await;
                    self.bfd_established(local).await;
                }
                Output::Down { reason, graceful } => {
                    warn!(peer = %self.spec.address, %reason, graceful, "session down");
                    self.cause(reason.to_string());
                    self.note_state();
                    if graceful {
                        self.record(Event::GracefulRestart {
                            phase: RestartPhase::HelperStarted,
                            family: None,
                            detail: None,
                        });
                    }
                    let _ = self.rib.send(RibInput::PeerDown { address: self.spec.address, graceful }).await;
                }
                Output::Deliver(Message::Update(update)) => {
                    // One line per UPDATE however many attributes were malformed: the
                    // first outcome, and how many there were.
                    if let Some(first) = update.errors.first() {
                        warn!(
                            peer = %self.spec.address, errors = update.error_count,
                            treat_as_withdraw = update.treat_as_withdraw(), "UPDATE: {first}"
                        );
                    }
                    routes += crate::rib_task::update_routes(&update);
                    batch.push(update);
                }
                Output::Deliver(Message::RouteRefresh(rr)) => {
                    let address = self.spec.address;
                    let enhanced = self.fsm.negotiated().is_some_and(|n| n.enhanced_route_refresh);
                    let input = match rr.subtype {
                        RefreshSubtype::Request => Some(RibInput::Refresh { address, family: rr.family }),
                        RefreshSubtype::BeginningOfRib if enhanced => {
                            Some(RibInput::RefreshMarker { address, family: rr.family, begin: true })
                        }
                        RefreshSubtype::EndOfRib if enhanced => {
                            Some(RibInput::RefreshMarker { address, family: rr.family, begin: false })
                        }
                        // RFC 7313 §5: other subtypes, and markers without the
                        // capability, are ignored.
                        _ => None,
                    };
                    match input {
                        Some(input) => {
                            let _ = self.rib.send(input).await;
                        }
                        None => debug!(peer = %address, ?rr, "ROUTE-REFRESH ignored"),
                    }
                }
                Output::Deliver(other) => debug!(peer = %self.spec.address, ?other, "received"),
                Output::Event(event) => {
                    info!(peer = %self.spec.address, "{event}");
                    match &event {
                        SessionEvent::NotificationReceived(n) => self.record(Event::received(n)),
                        other => {
                            self.reason = Some(other.to_string());
                            self.cause(other.to_string());
                        }
                    }
                }
            }
        }
        self.reason = None;
        if !batch.is_empty() {
            self.send_updates(batch).await;
        }
    }

    async fn send_updates(&mut self, updates: Vec<Update>) {
        let input = RibInput::Updates { address: self.spec.address, updates };
        // A full RIB queue makes this neighbor wait, and its socket with it.
        let _ = self.rib.send(input).await;
    }

    fn send_refreshes(&mut self) {
        for (id, family) in std::mem::take(&mut self.refresh) {
            self.send(id, &Message::RouteRefresh(RouteRefresh::request(family)));
        }
    }

    /// Queues one of the peer task's own messages without ever waiting: a KEEPALIVE
    /// or ROUTE-REFRESH that finds less than two free slots is dropped (the writer is
    /// stuck; the send hold timer deals with that), so the NOTIFICATION that ends the
    /// session always finds room.
    fn send(&mut self, id: ConnId, msg: &Message) {
        let Some(conn) = self.conns.get(&id) else { return };
        let mut buf = BytesMut::new();
        if let Err(e) = msg.encode(&self.fsm.tx_ctx(id), &mut buf) {
            warn!(peer = %self.spec.address, error = %e, "cannot encode message");
            return;
        }
        if !matches!(msg, Message::Open(_) | Message::Notification(_) | Message::Keepalive) {
            // The FSM counts what it sends itself; UPDATEs come from here.
            self.fsm.sent.bump(msg);
        }
        let droppable = matches!(msg, Message::Keepalive | Message::RouteRefresh(_));
        if droppable && conn.control.capacity() < 2 {
            debug!(peer = %self.spec.address, message = ?msg.message_type(), "writer stalled: message dropped");
            return;
        }
        match conn.control.try_send(buf.freeze()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(peer = %self.spec.address, message = ?msg.message_type(), "writer stalled: message dropped")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => debug!(peer = %self.spec.address, "writer gone"),
        }
    }

    fn record(&self, event: Event) {
        self.history.record(self.spec.address, event);
    }

    /// Why the state is about to change; the first cause given wins (an operator's
    /// reset over the NOTIFICATION it sends).
    fn cause(&mut self, cause: String) {
        self.cause.get_or_insert(cause);
    }

    /// Records a change of the session's state since the last one recorded, with its
    /// cause. Connect and Active alternate on every connection attempt: that is left
    /// out (a failed attempt is a `ConnectFailed`, counted when it repeats).
    fn note_state(&mut self) {
        let cause = self.cause.take();
        let state = self.fsm.state();
        let from = std::mem::replace(&mut self.recorded_state, state);
        if from == state || matches!((from, state), (SessionState::Connect, SessionState::Active)) {
            return;
        }
        if matches!((from, state), (SessionState::Active, SessionState::Connect)) {
            return;
        }
        self.record(Event::StateChanged { from, to: state, cause });
    }

    fn summary(&self) -> NeighborSummary {
        let now = Instant::now();
        let state = self.fsm.state();
        NeighborSummary {
            address: self.spec.address,
            description: self.spec.settings.description.clone(),
            asn: self.spec.settings.asn,
            state,
            uptime_seconds: self.fsm.last_change.map_or(0, |t| now.duration_since(t).as_secs()),
            prefixes_received: self.counters.received.load(Ordering::Relaxed),
            prefixes_accepted: self.counters.accepted.load(Ordering::Relaxed),
            prefixes_advertised: self.counters.advertised.load(Ordering::Relaxed),
            messages_received: self.fsm.received.total(),
            messages_sent: self.fsm.sent.total()
                + self.counters.updates_sent.load(Ordering::Relaxed)
                + self.counters.refreshes_sent.load(Ordering::Relaxed),
            out_queue: self
                .conns
                .values()
                .map(|c| (WRITE_QUEUE - c.data.capacity() + CONTROL_QUEUE - c.control.capacity()) as u64)
                .sum(),
            last_error: {
                let session = self.fsm.last_error.as_ref().map(|e| (e.at, e.reason.to_string()));
                // Whichever happened last: the end of a session or a failed connect.
                let latest = match (session, self.connect_error.clone()) {
                    (Some(a), Some(b)) => Some(if a.0 >= b.0 { a } else { b }),
                    (a, b) => a.or(b),
                };
                latest.map(|(at, text)| format!("{text} ({} s ago)", now.duration_since(at).as_secs()))
            },
            dynamic: self.spec.dynamic,
            admin_down: self.admin_down,
            drained: false,
        }
    }

    fn detail(&self) -> NeighborDetail {
        let neg = self.fsm.negotiated();
        let conn = self.fsm.established_conn().and_then(|id| self.conns.get(&id));
        let mut capabilities = Vec::new();
        if let Some(n) = neg {
            if n.four_octet_as {
                capabilities.push("4-octet AS (RFC 6793)".to_string());
            }
            if n.route_refresh {
                capabilities.push("route refresh (RFC 2918)".to_string());
            }
            if n.enhanced_route_refresh {
                capabilities.push("enhanced route refresh (RFC 7313)".to_string());
            }
            if n.extended_message {
                capabilities.push("extended message (RFC 8654)".to_string());
            }
            for f in &n.families {
                match (n.rx.add_path(*f), n.tx.add_path(*f)) {
                    (true, true) => capabilities.push(format!("ADD-PATH send and receive {f}")),
                    (true, false) => capabilities.push(format!("ADD-PATH receive {f}")),
                    (false, true) => capabilities.push(format!("ADD-PATH send {f}")),
                    (false, false) => {}
                }
            }
            if let Some(gr) = &n.graceful_restart {
                capabilities.push(format!(
                    "graceful restart (peer restart time {} s{}{})",
                    gr.restart_time,
                    if n.graceful_notification { ", N bit" } else { "" },
                    if gr.restarting { ", peer restarted" } else { "" }
                ));
            }
            if n.long_lived_graceful_restart.is_some() {
                capabilities.push("long-lived graceful restart (RFC 9494)".to_string());
            }
        }
        let hint = if self.admin_down {
            Some(format!("administratively down: bgpctl neighbor {} enable", self.spec.address))
        } else if let Some(notice) = &self.spec.rfc8212_notice {
            Some(notice.clone())
        } else if self.fsm.state() != SessionState::Established && self.spec.passive {
            Some("passive: waiting for the peer to connect".to_string())
        } else {
            None
        };
        NeighborDetail {
            summary: self.summary(),
            local_address: conn.and_then(|c| c.local).map(|a| a.to_string()),
            remote_address: conn.and_then(|c| c.remote).map(|a| a.to_string()),
            peer_router_id: neg.map(|n| n.peer_router_id.to_string()),
            peer_hostname: neg.and_then(|n| n.peer_hostname.clone()),
            configured_hold_time: self.spec.settings.hold_time,
            hold_time: neg.map(|n| n.hold_time),
            keepalive: neg.map(|n| n.keepalive),
            families: neg.map_or_else(
                || self.spec.settings.families.iter().map(|f| f.to_string()).collect(),
                |n| n.families.iter().map(|f| f.to_string()).collect(),
            ),
            capabilities,
            received: self.fsm.received.into(),
            sent: {
                let mut sent: bgp_core::ctl::MessageCounters = self.fsm.sent.into();
                sent.update += self.counters.updates_sent.load(Ordering::Relaxed);
                sent.route_refresh += self.counters.refreshes_sent.load(Ordering::Relaxed);
                sent
            },
            sessions_established: self.fsm.established_count,
            password: self.spec.settings.password.is_some(),
            ttl_security: self.spec.settings.ttl_security,
            hint,
            long_lived_stale_time: self.spec.settings.long_lived_stale_time,
            long_lived: neg.map(|n| self.long_lived_rows(n)).unwrap_or_default(),
            restart_phase: None,
            bfd: None, // the supervisor adds the BFD task's row
        }
    }

    /// The peer's long-lived graceful restart, as negotiated, for `show neighbors`.
    fn long_lived_rows(&self, n: &bgp_core::fsm::Negotiated) -> Vec<bgp_core::ctl::LongLivedFamilyRow> {
        let ours = self.spec.settings.long_lived_stale_time;
        let list = n.long_lived_graceful_restart.as_deref().unwrap_or_default();
        list.iter()
            .map(|f| bgp_core::ctl::LongLivedFamilyRow {
                family: f.family.to_string(),
                stale_time: f.stale_time,
                effective_stale_time: f.stale_time.min(ours),
                forwarding_preserved: f.forwarding_preserved,
            })
            .collect()
    }
}

/// Whether a BFD change is a failure that ends the BGP session (RFC 5882 §3.2): Up to
/// Down, unless the peer said AdminDown. Our own AdminDown is a change to AdminDown.
fn bfd_failed(change: &bgp_core::bfd::SessionChange, remote_state: BfdState) -> bool {
    change.from == BfdState::Up && change.to == BfdState::Down && remote_state != BfdState::AdminDown
}

/// The BFD session's parameters from the configuration: both intervals are
/// `bfd_interval_ms` (RFC 5880 lets them differ; FRR's defaults are equal too).
pub fn session_config(b: &bgp_core::config::Bfd) -> BfdConfig {
    BfdConfig { desired_min_tx: b.interval, required_min_rx: b.interval, detect_mult: b.multiplier }
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86400 * 365)
}

/// Reads frames until the connection ends or closes; then, closing, discards what
/// still arrives until the peer closes too or [`CLOSE_LINGER`] passes, so the socket
/// is not closed with unread data (which makes the kernel send a RST).
async fn read_loop(
    id: ConnId,
    mut read: tokio::net::tcp::OwnedReadHalf,
    frames: mpsc::Sender<(ConnId, ReadEvent)>,
    mut closing: watch::Receiver<()>,
) {
    tokio::select! {
        () = read_frames(id, &mut read, frames) => return,
        _ = closing.changed() => {}
    }
    let drain = async {
        let mut scratch = vec![0u8; 16 * 1024];
        while let Ok(1..) = read.read(&mut scratch).await {}
    };
    let _ = tokio::time::timeout(CLOSE_LINGER, drain).await;
}

/// Reads frames into one reusable buffer and hands whole messages to the peer task as
/// `Bytes` split off the buffer (no copy). Header errors end the connection here.
async fn read_frames(id: ConnId, read: &mut tokio::net::tcp::OwnedReadHalf, frames: mpsc::Sender<(ConnId, ReadEvent)>) {
    // Framing accepts the extended size; the decoder checks the negotiated limit.
    let framing = CodecCtx { extended_message: true, ..CodecCtx::default() };
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    loop {
        loop {
            match wire::frame_len(&buf, &framing) {
                Ok(Some(len)) if buf.len() >= len => {
                    let frame = buf.split_to(len).freeze();
                    if frames.send((id, ReadEvent::Frame(frame))).await.is_err() {
                        return;
                    }
                }
                Ok(_) => break,
                Err(e) => {
                    let _ = frames.send((id, ReadEvent::Error(e))).await;
                    return;
                }
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(READ_BUFFER);
        }
        match read.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = frames.send((id, ReadEvent::Closed(None))).await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = frames.send((id, ReadEvent::Closed(Some(e)))).await;
                return;
            }
        }
    }
}

/// The writer task of one connection (see the module docs).
struct Writer {
    control: mpsc::Receiver<Bytes>,
    data: mpsc::Receiver<Bytes>,
    closing: watch::Receiver<()>,
    /// Where the time of the last write that made progress goes (see `Connection`).
    written: Arc<AtomicU64>,
    base: Instant,
    /// A write that makes no progress for this long ends the writer.
    stall: Duration,
}

impl Writer {
    /// Writes queued messages, the peer task's first, coalescing whatever is waiting
    /// into one buffer per write (many messages per syscall). Every write is bounded:
    /// by `stall` while the connection is open, by [`CLOSE_FLUSH`] once it closes.
    /// Nothing is written after a NOTIFICATION. Closing, it shuts its side down.
    async fn run(mut self, mut write: tokio::net::tcp::OwnedWriteHalf) {
        let mut buf = BytesMut::new();
        // Set once closing: the deadline of everything left to write.
        let mut flush_by: Option<tokio::time::Instant> = None;
        let mut notified = false;
        loop {
            if buf.is_empty() {
                if notified || flush_by.is_some() {
                    break;
                }
                tokio::select! {
                    biased;
                    m = self.control.recv() => match m {
                        Some(m) => notified |= append(&mut buf, &m),
                        None => flush_by = Some(close_deadline()),
                    },
                    Some(m) = self.data.recv() => {
                        buf.extend_from_slice(&m);
                    }
                    _ = self.closing.changed() => flush_by = Some(close_deadline()),
                }
            }
            // More of what waits, control first; once closing, only control (the
            // NOTIFICATION), and nothing after a NOTIFICATION.
            while buf.len() < WRITE_CHUNK && !notified {
                if let Ok(m) = self.control.try_recv() {
                    notified |= append(&mut buf, &m);
                } else if flush_by.is_none() {
                    match self.data.try_recv() {
                        Ok(m) => buf.extend_from_slice(&m),
                        Err(_) => break,
                    }
                } else {
                    break;
                }
            }
            while !buf.is_empty() {
                let limit = flush_by.unwrap_or_else(|| tokio::time::Instant::now() + self.stall);
                tokio::select! {
                    r = tokio::time::timeout_at(limit, write.write(&buf)) => match r {
                        Ok(Ok(n)) if n > 0 => {
                            let _ = buf.split_to(n);
                            let ms = self.base.elapsed().as_millis() as u64 + 1;
                            self.written.store(ms, Ordering::Relaxed);
                        }
                        // An error, or no progress in time: give up on the connection.
                        _ => return,
                    },
                    _ = self.closing.changed(), if flush_by.is_none() => flush_by = Some(close_deadline()),
                }
            }
        }
        if let Some(by) = flush_by {
            let _ = tokio::time::timeout_at(by, write.shutdown()).await;
        } else {
            let _ = write.shutdown().await;
        }
    }
}

fn close_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + CLOSE_FLUSH
}

/// Appends one message; true if it is a NOTIFICATION (type octet 3 at offset 18).
fn append(buf: &mut BytesMut, message: &[u8]) -> bool {
    buf.extend_from_slice(message);
    message.get(18) == Some(&3)
}

#[cfg(test)]
mod bfd_tests {
    use bgp_core::bfd::{Diag, SessionChange, State};

    use super::*;

    fn change(from: State, to: State, diag: Diag) -> SessionChange {
        SessionChange { from, to, diag, at: Instant::now() }
    }

    #[test]
    fn only_a_failure_from_up_ends_the_session() {
        let expired = change(State::Up, State::Down, Diag::ControlDetectionTimeExpired);
        assert!(bfd_failed(&expired, State::Down));
        let said_down = change(State::Up, State::Down, Diag::NeighborSignaledSessionDown);
        assert!(bfd_failed(&said_down, State::Down));
        // RFC 5882 §3.2: the peer's AdminDown is no failure.
        assert!(!bfd_failed(&said_down, State::AdminDown));
        // Never up, or our own AdminDown: nothing to end.
        assert!(!bfd_failed(&change(State::Init, State::Down, Diag::ControlDetectionTimeExpired), State::Down));
        assert!(!bfd_failed(&change(State::Up, State::AdminDown, Diag::AdministrativelyDown), State::Up));
        assert!(!bfd_failed(&change(State::Down, State::Up, Diag::None), State::Up));
    }

    #[test]
    fn both_intervals_are_the_configured_one() {
        let b = bgp_core::config::Bfd { interval: Duration::from_millis(250), multiplier: 4 };
        let c = session_config(&b);
        assert_eq!((c.desired_min_tx, c.required_min_rx, c.detect_mult), (b.interval, b.interval, 4));
    }
}
