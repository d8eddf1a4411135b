//! The BFD task: every BFD session of the daemon (RFC 5880 asynchronous mode over RFC 5881
//! single hop), on one tokio task with one [`TimerWheel`]. The protocol is bgp-core's
//! [`bgp_core::bfd`]; this file owns the sockets, the TTL check, demultiplexing and time.
//!
//! ```text
//!  supervisor ──BfdCmd (bounded)──► BFD task ──BfdEvent (bounded)──► supervisor
//!                                     │ one Session per peer, keyed by local discriminator
//!  UDP :3784 (v4, v6) ──recvmsg──►    │ TimerWheel: each session's next deadline
//!   TTL/hop limit via cmsg, < 255 dropped ├──► per-session UDP socket, source port
//!                                          49152-65535, TTL 255 ──► peer :3784
//! ```
//!
//! The task sleeps until the wheel's next expiry, a packet or a command: one timer for all
//! sessions, so a thousand sessions cost one wakeup per due deadline, not a thousand tokio
//! timers. It runs on a thread of its own (a single-threaded runtime), not on the daemon's
//! workers, where a full-table load keeps every worker busy for milliseconds at a time and
//! a task waits its turn; a thread waits only for the kernel's scheduler. `jitter.rs`
//! measures both placements against a plain thread's (the floor): on 2 cores shared with
//! other builds, under rounds of a 1M-prefix table, the task was never later than the
//! floor (p99 3.7 ms and max 5.9 ms over a 50 ms interval; the floor 3.7 and 7.5 ms). Sends never wait: a packet the socket cannot take now is dropped and counted
//! (BFD tolerates loss; a send that waits would delay every other session's timers). A
//! malformed or unexpected packet is dropped and counted, never a panic. Events go out on a
//! bounded channel; while it is full they wait in a backlog here, so the timers never wait
//! on the receiver either.
//!
//! Demultiplexing (RFC 5880 §6.8.6): by Your Discriminator when non-zero, else by source
//! address; a packet whose source is not the session's peer is dropped too (single hop: the
//! peer is on a connected subnet and its address is known).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use bgp_core::bfd::{self, splitmix64, ControlPacket, Session, SessionChange, SessionConfig, State, TimerWheel};
use bgp_core::ctl::BfdSessionRow;
use nix::sys::socket::{self as nixsock, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::net::canonical;

/// Commands waiting for the task.
const CMD_QUEUE: usize = 64;
/// Events that wait here while the receiver's channel is full; beyond this the oldest is
/// dropped (the receiver is gone or stuck, and the newest state is what matters).
const EVENT_BACKLOG: usize = 4096;
/// The wheel: 1 ms ticks (tokio's timer resolution), 1024 slots (about a second, beyond the
/// usual TX intervals and detection times, so most deadlines are found in one rotation).
const WHEEL_TICK: Duration = Duration::from_millis(1);
const WHEEL_SLOTS: usize = 1024;
/// Packets read per wakeup before timers are served again.
const RX_BATCH: usize = 64;
/// How often a receive socket that could not be bound is tried again.
const BIND_RETRY: Duration = Duration::from_secs(10);
/// How often a session's send socket that could not be bound is tried again.
const SEND_SOCKET_RETRY: Duration = Duration::from_secs(5);

/// The handle on the BFD task: cheap to clone. Every method returns once the task has the
/// command (or at once if the task has ended).
#[derive(Clone, Debug)]
pub struct BfdHandle {
    tx: mpsc::Sender<BfdCmd>,
}

/// A peer to run a BFD session with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdPeer {
    pub peer: IpAddr,
    /// Source address; None: the kernel's choice (then learned from the BGP connection
    /// later via `set_local`). Single hop: the peer is on a connected subnet.
    pub local: Option<IpAddr>,
    pub cfg: SessionConfig,
}

/// A state change of the session with `peer`. `remote_state` tells a peer's AdminDown
/// (RFC 5882 §3.2: BGP stays up) from a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdEvent {
    pub peer: IpAddr,
    pub change: SessionChange,
    pub remote_state: State,
}

#[derive(Debug)]
enum BfdCmd {
    Add(BfdPeer),
    SetLocal { peer: IpAddr, local: IpAddr },
    Remove(IpAddr),
    AdminDown(IpAddr),
    Status(oneshot::Sender<Vec<BfdSessionRow>>),
    Stop(oneshot::Sender<()>),
}

impl BfdHandle {
    /// Starts or updates the session with `p.peer`: idempotent; an existing session keeps
    /// its state and takes the new intervals (through a Poll sequence when Up) and, if
    /// given, the new source address. A session in AdminDown comes back to Down.
    pub async fn add(&self, p: BfdPeer) {
        let _ = self.tx.send(BfdCmd::Add(p)).await;
    }

    /// Rebinds the session's socket to `local` if it differs.
    pub async fn set_local(&self, peer: IpAddr, local: IpAddr) {
        let _ = self.tx.send(BfdCmd::SetLocal { peer, local }).await;
    }

    /// Stops the session; it sends nothing more (goes quiet, no AdminDown).
    pub async fn remove(&self, peer: IpAddr) {
        let _ = self.tx.send(BfdCmd::Remove(peer)).await;
    }

    /// Sends AdminDown (RFC 5880 §6.8.16), e.g. for `neighbor shutdown`: the peer keeps
    /// its routing session up (RFC 5882 §3.2) but knows BFD no longer protects it.
    pub async fn admin_down(&self, peer: IpAddr) {
        let _ = self.tx.send(BfdCmd::AdminDown(peer)).await;
    }

    /// Every session, ordered by peer, for `bgpctl show bfd` (`bgp_state` left `None`).
    pub async fn status(&self) -> Vec<BfdSessionRow> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(BfdCmd::Status(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// All sessions go quiet at once (graceful stop: peers time out, or keep routes under
    /// graceful restart) and the task ends; returns once it has.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(BfdCmd::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// RFC 5883's port (multihop). FRR 8.4's bgpd asks bfdd for a multihop session whenever
/// the neighbor has `ttl-security hops N` (its PEER_IS_MULTIHOP counts GTSM as eBGP
/// multihop), directly connected or not, so a GTSM-protected session with an FRR router
/// (the examples in configs/router/) gets BFD packets on 4784. The daemon listens there
/// too and answers a peer on the port its packets came to: the packets and the state
/// machine are the same; only the port differs. (A small addition by the `bfdd` branch.)
pub const MULTIHOP_PORT: u16 = 4784;

/// Ports of the task: RFC 5881's in the daemon; tests run two tasks on one host with a
/// port each.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// Where we receive.
    pub listen: u16,
    /// Where peers receive.
    pub peer: u16,
}

impl Ports {
    /// Where a peer receives: [`MULTIHOP_PORT`] for a peer that runs the session there.
    fn dest(self, multihop: bool) -> u16 {
        if multihop {
            MULTIHOP_PORT
        } else {
            self.peer
        }
    }
}

impl Default for Ports {
    fn default() -> Self {
        Ports { listen: bfd::CONTROL_PORT, peer: bfd::CONTROL_PORT }
    }
}

/// Starts the BFD task on its own tokio task with its own timer wheel.
pub fn spawn(events: mpsc::Sender<BfdEvent>) -> BfdHandle {
    spawn_with(events, Ports::default())
}

/// [`spawn`] with other ports.
pub fn spawn_with(events: mpsc::Sender<BfdEvent>, ports: Ports) -> BfdHandle {
    spawn_placed(events, ports, Placement::OwnThread)
}

/// Where the task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// A thread of its own with a single-threaded runtime: the daemon's choice. Under a
    /// full-table load the RIB task and the peer tasks keep every worker of the shared
    /// runtime busy for milliseconds at a time, and a task that shares them waits its turn;
    /// a thread of its own waits only for the kernel's scheduler.
    OwnThread,
    /// A task of the calling runtime (for the comparison in `jitter.rs`).
    #[cfg_attr(not(test), allow(dead_code))]
    SharedRuntime,
}

fn spawn_placed(events: mpsc::Sender<BfdEvent>, ports: Ports, placement: Placement) -> BfdHandle {
    let (tx, cmds) = mpsc::channel(CMD_QUEUE);
    let now = Instant::now();
    let task = Task {
        ports,
        sessions: HashMap::new(),
        by_addr: HashMap::new(),
        wheel: TimerWheel::new(WHEEL_TICK, WHEEL_SLOTS, now),
        events: events.clone(),
        backlog: VecDeque::new(),
        rng: std::collections::hash_map::RandomState::new().build_hasher().finish(),
        dropped_unknown: 0,
    };
    let rx = Receivers { v4: None, v6: None, m4: None, m6: None, retry_at: None, warned: false };
    let own = match placement {
        Placement::OwnThread => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => Some(rt),
            Err(e) => {
                warn!("BFD: cannot build its own runtime, sharing the daemon's: {e}");
                None
            }
        },
        Placement::SharedRuntime => None,
    };
    match own {
        Some(rt) => {
            let spawned = std::thread::Builder::new()
                .name("bfd".to_string())
                .spawn(move || rt.block_on(run(task, rx, cmds, events)));
            if let Err(e) = spawned {
                // The handle's commands then go nowhere: every call returns at once.
                warn!("BFD: cannot start its thread, BFD is off: {e}");
            }
        }
        None => {
            tokio::spawn(run(task, rx, cmds, events));
        }
    }
    BfdHandle { tx }
}

struct Task {
    ports: Ports,
    /// By local discriminator.
    sessions: HashMap<u32, Peer>,
    by_addr: HashMap<IpAddr, u32>,
    wheel: TimerWheel<u32>,
    events: mpsc::Sender<BfdEvent>,
    backlog: VecDeque<BfdEvent>,
    rng: u64,
    /// Packets dropped that no session could be named for.
    dropped_unknown: u64,
}

struct Peer {
    addr: IpAddr,
    /// Configured or learned source address.
    local: Option<IpAddr>,
    session: Session,
    tx: Option<SendSocket>,
    /// When the send socket may be tried again after it could not be bound.
    tx_retry: Option<Instant>,
    /// The last attempt to open the send socket failed (and was logged).
    tx_failing: bool,
    dropped: u64,
    /// The peer's packets come to [`MULTIHOP_PORT`]: ours go to its 4784 too.
    multihop: bool,
}

struct SendSocket {
    socket: Socket,
    port: u16,
    /// The address the kernel chose (or we bound).
    local: Option<IpAddr>,
}

/// The receive sockets, apart from [`Task`] so a readiness guard on one can be held while
/// the task handles what it reads.
struct Receivers {
    v4: Option<AsyncFd<Socket>>,
    v6: Option<AsyncFd<Socket>>,
    /// On [`MULTIHOP_PORT`], in the daemon (on RFC 5881's port) only.
    m4: Option<AsyncFd<Socket>>,
    m6: Option<AsyncFd<Socket>>,
    retry_at: Option<Instant>,
    warned: bool,
}

impl Receivers {
    fn bound(&self) -> bool {
        self.v4.is_some() || self.v6.is_some() || self.m4.is_some() || self.m6.is_some()
    }

    fn open(&mut self, listen: u16, now: Instant) {
        let mut failed = false;
        let multihop = if listen == bfd::CONTROL_PORT { &[false, true][..] } else { &[false][..] };
        for (v6, mh) in multihop.iter().flat_map(|&mh| [(false, mh), (true, mh)]) {
            let port = if mh { MULTIHOP_PORT } else { listen };
            let slot = match (v6, mh) {
                (false, false) => &mut self.v4,
                (true, false) => &mut self.v6,
                (false, true) => &mut self.m4,
                (true, true) => &mut self.m6,
            };
            if slot.is_some() {
                continue;
            }
            // `AsyncFd::new` is deprecated because a type could hand out different or borrowed
            // fds; socket2's `Socket` owns its fd, returns that one from `as_raw_fd` and closes
            // it only when dropped (as kernel/sock.rs reasons too).
            #[allow(deprecated)]
            let fd = rx_socket(v6, port).and_then(AsyncFd::new);
            match fd {
                Ok(fd) => *slot = Some(fd),
                Err(e) => {
                    failed = true;
                    let family = if v6 { "IPv6" } else { "IPv4" };
                    if self.warned {
                        debug!(port, "BFD: cannot listen on {family} port {port} yet: {e}");
                    } else {
                        warn!(port, "BFD: cannot listen on {family} port {port}, retrying every 10 s: {e}");
                    }
                }
            }
        }
        self.warned |= failed;
        self.retry_at = failed.then(|| now + BIND_RETRY);
    }
}

async fn readable(fd: &Option<AsyncFd<Socket>>) -> io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, Socket>> {
    match fd {
        Some(fd) => fd.readable().await,
        None => std::future::pending().await,
    }
}

async fn run(mut task: Task, mut rx: Receivers, mut cmds: mpsc::Receiver<BfdCmd>, events: mpsc::Sender<BfdEvent>) {
    let sleep = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(sleep);
    let mut buf = [0u8; 512];
    let mut due = Vec::new();
    loop {
        let deadline = match (task.wheel.next_expiry(), rx.retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = deadline {
            sleep.as_mut().reset(tokio::time::Instant::from_std(at));
        }
        tokio::select! {
            () = &mut sleep, if deadline.is_some() => {}
            cmd = cmds.recv() => match cmd {
                None => break,
                Some(BfdCmd::Stop(ack)) => {
                    // Dropping the sockets is going quiet: nothing more is sent.
                    let n = task.sessions.len();
                    task.sessions.clear();
                    info!(sessions = n, "BFD stopped");
                    let _ = ack.send(());
                    break;
                }
                Some(cmd) => {
                    task.handle_cmd(cmd, Instant::now());
                    // The ports are bound with the first session, not at start: a daemon
                    // without BFD opens no UDP port, and several such daemons can share a
                    // namespace. The session's first packet goes out after this.
                    if !rx.bound() && rx.retry_at.is_none() && !task.sessions.is_empty() {
                        rx.open(task.ports.listen, Instant::now());
                    }
                }
            },
            guard = readable(&rx.v4) => task.handle_readable(guard, &mut buf, false),
            guard = readable(&rx.v6) => task.handle_readable(guard, &mut buf, false),
            guard = readable(&rx.m4) => task.handle_readable(guard, &mut buf, true),
            guard = readable(&rx.m6) => task.handle_readable(guard, &mut buf, true),
            permit = events.reserve(), if !task.backlog.is_empty() => match permit {
                Ok(permit) => permit.send(task.backlog.pop_front().expect("invariant: backlog is not empty")),
                // The receiver is gone: nobody wants the events any more.
                Err(_) => task.backlog.clear(),
            },
        }
        let now = Instant::now();
        task.wheel.expire(now, &mut due);
        for discr in due.drain(..) {
            task.handle_timeout(discr, now);
        }
        if rx.retry_at.is_some_and(|at| at <= now) {
            rx.open(task.ports.listen, now);
        }
    }
}

impl Task {
    fn handle_cmd(&mut self, cmd: BfdCmd, now: Instant) {
        match cmd {
            BfdCmd::Add(p) => self.add(p, now),
            BfdCmd::SetLocal { peer, local } => {
                if let Some(&d) = self.by_addr.get(&canonical(peer)) {
                    self.set_local(d, local, now);
                }
            }
            BfdCmd::Remove(peer) => {
                if let Some(d) = self.by_addr.remove(&canonical(peer)) {
                    self.sessions.remove(&d);
                    self.wheel.cancel(d);
                    info!(%peer, "BFD session removed");
                }
            }
            BfdCmd::AdminDown(peer) => {
                if let Some(&d) = self.by_addr.get(&canonical(peer)) {
                    if let Some(p) = self.sessions.get_mut(&d) {
                        p.session.set_admin_down(true, now);
                    }
                    self.service(d, now);
                }
            }
            BfdCmd::Status(reply) => {
                let _ = reply.send(self.rows(now));
            }
            // Handled by the loop, which ends.
            BfdCmd::Stop(ack) => {
                let _ = ack.send(());
            }
        }
    }

    fn add(&mut self, p: BfdPeer, now: Instant) {
        let addr = canonical(p.peer);
        if let Some(&d) = self.by_addr.get(&addr) {
            if let Some(peer) = self.sessions.get_mut(&d) {
                peer.session.set_config(p.cfg, now);
                peer.session.set_admin_down(false, now);
            }
            if let Some(local) = p.local {
                self.set_local(d, local, now);
            }
            self.service(d, now);
            return;
        }
        let discr = loop {
            // Random, non-zero, unused: a restarted daemon does not reuse the old one, so a
            // peer's stale packets for it do not match (RFC 5880 §6.3 asks for uniqueness).
            let d = splitmix64(&mut self.rng) as u32;
            if d != 0 && !self.sessions.contains_key(&d) {
                break d;
            }
        };
        let seed = splitmix64(&mut self.rng);
        let session = Session::new(discr, p.cfg, now, seed);
        let mut peer = Peer {
            addr,
            local: p.local.map(canonical),
            session,
            tx: None,
            tx_retry: None,
            tx_failing: false,
            dropped: 0,
            multihop: false,
        };
        peer.open_socket(self.ports.peer, &mut self.rng, now);
        info!(peer = %addr, discriminator = discr, "BFD session added");
        self.sessions.insert(discr, peer);
        self.by_addr.insert(addr, discr);
        self.service(discr, now);
    }

    fn set_local(&mut self, discr: u32, local: IpAddr, now: Instant) {
        let local = canonical(local);
        let Some(peer) = self.sessions.get_mut(&discr) else { return };
        let bound = peer.tx.as_ref().and_then(|t| t.local);
        if peer.local == Some(local) && (bound == Some(local) || peer.tx.is_none()) {
            return;
        }
        if bound == Some(local) {
            // The kernel's choice already was this address.
            peer.local = Some(local);
            return;
        }
        peer.local = Some(local);
        let port = self.ports.dest(peer.multihop);
        peer.open_socket(port, &mut self.rng, now);
    }

    fn handle_timeout(&mut self, discr: u32, now: Instant) {
        if let Some(p) = self.sessions.get_mut(&discr) {
            p.session.handle_timeout(now);
        }
        self.service(discr, now);
    }

    /// Drains a session after any input: packets out, changes to events, its next deadline
    /// into the wheel.
    fn service(&mut self, discr: u32, now: Instant) {
        let Some(peer) = self.sessions.get_mut(&discr) else {
            self.wheel.cancel(discr);
            return;
        };
        if peer.tx.is_none() && peer.tx_retry.is_some_and(|at| at <= now) {
            let port = self.ports.dest(peer.multihop);
            peer.open_socket(port, &mut self.rng, now);
        }
        while let Some(p) = peer.session.poll_transmit(now) {
            peer.send(&p);
        }
        let mut deadline = peer.session.poll_timeout();
        if peer.tx.is_none() {
            deadline = match (deadline, peer.tx_retry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        while let Some(change) = peer.session.poll_change() {
            let status = peer.session.status(now);
            if change.to == State::Up || change.from == State::Up {
                info!(peer = %peer.addr, from = %change.from, to = %change.to, diag = %change.diag,
                    remote_state = %status.remote_state, "BFD session {}", change.to);
            } else {
                debug!(peer = %peer.addr, from = %change.from, to = %change.to, diag = %change.diag, "BFD session {}", change.to);
            }
            let event = BfdEvent { peer: peer.addr, change, remote_state: status.remote_state };
            emit(&self.events, &mut self.backlog, event);
        }
        match deadline {
            Some(at) => self.wheel.arm(discr, at),
            None => self.wheel.cancel(discr),
        }
    }

    fn handle_readable(
        &mut self,
        guard: io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, Socket>>,
        buf: &mut [u8],
        multihop: bool,
    ) {
        let mut guard = match guard {
            Ok(g) => g,
            Err(e) => {
                warn!("BFD: receive socket failed: {e}");
                return;
            }
        };
        for _ in 0..RX_BATCH {
            match guard.try_io(|fd| recv(fd.get_ref(), buf)) {
                Ok(Ok(Some(d))) => {
                    let now = Instant::now();
                    match d.len {
                        Some(len) => self.handle_datagram(d.src, d.hops, &buf[..len], multihop, now),
                        None => self.drop_packet(canonical(d.src), format_args!("longer than {} bytes", buf.len())),
                    }
                }
                Ok(Ok(None)) => self.dropped_unknown += 1,
                Ok(Err(e)) => {
                    debug!("BFD: receive error: {e}");
                    return;
                }
                Err(_would_block) => return,
            }
        }
    }

    /// One received datagram: the checks that need no session, then the session's.
    fn handle_datagram(&mut self, src: IpAddr, hops: Option<u8>, bytes: &[u8], multihop: bool, now: Instant) {
        let src = canonical(src);
        // RFC 5881 §5: single hop packets arrive with TTL 255 or were forwarded.
        if hops != Some(bfd::TTL) {
            self.drop_packet(src, format_args!("TTL/hop limit {hops:?}, not 255"));
            return;
        }
        let packet = match ControlPacket::decode(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.drop_packet(src, format_args!("{e}"));
                return;
            }
        };
        let discr = if packet.your_discriminator != 0 {
            packet.your_discriminator
        } else {
            match self.by_addr.get(&src) {
                Some(&d) => d,
                None => {
                    self.drop_packet(src, format_args!("no session with this peer"));
                    return;
                }
            }
        };
        match self.sessions.get_mut(&discr) {
            Some(peer) if peer.addr == src => {
                if peer.multihop != multihop {
                    // The peer runs the session on the other port (see MULTIHOP_PORT).
                    info!(peer = %src, multihop, "BFD: the peer's packets come to port {}", self.ports.dest(multihop));
                    peer.multihop = multihop;
                    let port = self.ports.dest(multihop);
                    peer.open_socket(port, &mut self.rng, now);
                }
                peer.session.handle_packet(&packet, now)
            }
            Some(_) => {
                self.drop_packet(src, format_args!("discriminator {discr} belongs to another peer"));
                return;
            }
            None => {
                self.drop_packet(src, format_args!("no session with discriminator {discr}"));
                return;
            }
        }
        self.service(discr, now);
    }

    fn drop_packet(&mut self, src: IpAddr, why: std::fmt::Arguments<'_>) {
        debug!(peer = %src, "BFD packet dropped: {why}");
        match self.by_addr.get(&src).and_then(|d| self.sessions.get_mut(d)) {
            Some(p) => p.dropped += 1,
            None => self.dropped_unknown += 1,
        }
    }

    fn rows(&self, now: Instant) -> Vec<BfdSessionRow> {
        let mut rows: Vec<BfdSessionRow> = self
            .sessions
            .values()
            .map(|p| {
                let st = p.session.status(now);
                BfdSessionRow {
                    peer: p.addr,
                    local: p.tx.as_ref().and_then(|t| t.local).or(p.local),
                    state: st.state.to_string(),
                    remote_state: st.remote_state.to_string(),
                    local_discriminator: st.local_discriminator,
                    remote_discriminator: st.remote_discriminator,
                    tx_interval_ms: millis(st.tx_interval),
                    rx_interval_ms: millis(st.rx_interval),
                    multiplier: p.session.config().detect_mult,
                    detection_time_ms: millis(st.detection_time),
                    last_change_seconds_ago: st.last_change.map(|t| now.saturating_duration_since(t).as_secs()),
                    last_diag: st.local_diag.to_string(),
                    packets_in: st.packets_in,
                    packets_out: st.packets_out,
                    packets_dropped: p.dropped,
                    bgp_state: None,
                }
            })
            .collect();
        rows.sort_by_key(|r| r.peer);
        rows
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn emit(events: &mpsc::Sender<BfdEvent>, backlog: &mut VecDeque<BfdEvent>, event: BfdEvent) {
    if backlog.is_empty() {
        match events.try_send(event) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => return,
            Err(mpsc::error::TrySendError::Full(event)) => backlog.push_back(event),
        }
    } else {
        backlog.push_back(event);
    }
    if backlog.len() > EVENT_BACKLOG {
        let lost = backlog.pop_front();
        warn!(?lost, "BFD: event receiver stuck, oldest event dropped");
    }
}

impl Peer {
    fn open_socket(&mut self, peer_port: u16, rng: &mut u64, now: Instant) {
        let hint = SOURCE_PORT_COUNT_BASE + (splitmix64(rng) % u64::from(SOURCE_PORT_COUNT)) as u16;
        // RFC 5881 §4: one source port for the whole session; keep it across a rebind.
        let first = self.tx.as_ref().map_or(hint, |t| t.port);
        self.tx = None;
        match tx_socket(SocketAddr::new(self.addr, peer_port), self.local, first) {
            Ok(s) => {
                self.tx = Some(s);
                self.tx_retry = None;
                self.tx_failing = false;
            }
            Err(e) => {
                // Once per failure streak: the retries every 5 s would fill the log.
                if self.tx_failing {
                    debug!(peer = %self.addr, local = ?self.local, "BFD: cannot open a send socket yet: {e}");
                } else {
                    warn!(peer = %self.addr, local = ?self.local, "BFD: cannot open a send socket, retrying every 5 s: {e}");
                }
                self.tx_failing = true;
                self.tx_retry = Some(now + SEND_SOCKET_RETRY);
            }
        }
    }

    fn send(&mut self, p: &ControlPacket) {
        // Without a socket (see `tx_retry`) the packet is lost, as on a dead link.
        let Some(tx) = &self.tx else { return };
        // Non-blocking: a full socket buffer drops this packet, the next goes out on time.
        if let Err(e) = tx.socket.send(&p.encode()) {
            debug!(peer = %self.addr, "BFD: send failed: {e}");
        }
    }
}

const SOURCE_PORT_COUNT_BASE: u16 = *bfd::SOURCE_PORTS.start();
const SOURCE_PORT_COUNT: u16 = *bfd::SOURCE_PORTS.end() - *bfd::SOURCE_PORTS.start() + 1;

/// A receive socket on `port` of every address of a family, reporting each packet's
/// TTL/hop limit. IPv6 is IPv6-only, so the IPv4 socket gets IPv4's packets.
fn rx_socket(v6: bool, port: u16) -> io::Result<Socket> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    let addr = if v6 {
        s.set_only_v6(true)?;
        nixsock::setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)?;
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)
    } else {
        nixsock::setsockopt(&s, sockopt::Ipv4RecvTtl, &true)?;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
    };
    s.bind(&addr.into())?;
    Ok(s)
}

/// A session's send socket: TTL/hop limit 255 (RFC 5881 §5), bound to a source port of
/// 49152-65535 (§4) starting at `first`, connected to the peer so the kernel fixes the
/// source address (learned back into [`SendSocket::local`]).
fn tx_socket(peer: SocketAddr, local: Option<IpAddr>, first: u16) -> io::Result<SendSocket> {
    let s = Socket::new(Domain::for_address(peer), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    let ip = match (local, peer) {
        (Some(ip), _) => ip,
        (None, SocketAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (None, SocketAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    if peer.is_ipv6() {
        s.set_only_v6(true)?;
        s.set_unicast_hops_v6(u32::from(bfd::TTL))?;
    } else {
        s.set_ttl_v4(u32::from(bfd::TTL))?;
    }
    // Nothing is read from it: keep what arrives by mistake small.
    s.set_recv_buffer_size(4096)?;
    let mut port = None;
    let mut last_err = None;
    for i in 0..256u16 {
        let p = SOURCE_PORT_COUNT_BASE + (first - SOURCE_PORT_COUNT_BASE).wrapping_add(i) % SOURCE_PORT_COUNT;
        match s.bind(&SocketAddr::new(ip, p).into()) {
            Ok(()) => {
                port = Some(p);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    let Some(port) = port else {
        return Err(last_err.unwrap_or_else(|| io::Error::other("no free source port")));
    };
    s.connect(&peer.into())?;
    let local = s.local_addr().ok().and_then(|a| a.as_socket()).map(|a| canonical(a.ip()));
    Ok(SendSocket { socket: s, port, local })
}

/// One datagram read: where from, the TTL/hop limit it arrived with, its length; `None`
/// for a length when it did not fit the buffer (no control packet is that long).
struct Datagram {
    src: IpAddr,
    hops: Option<u8>,
    len: Option<usize>,
}

/// Reads one datagram. `Ok(None)`: one without a usable source address.
fn recv(s: &Socket, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = nixsock::recvmsg::<SockaddrStorage>(
        s.as_raw_fd(),
        &mut iov,
        Some(cmsg.as_mut_slice()),
        MsgFlags::MSG_DONTWAIT,
    )?;
    let len = (!msg.flags.contains(MsgFlags::MSG_TRUNC)).then_some(msg.bytes);
    let mut hops = None;
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => hops = u8::try_from(t).ok(),
            _ => {}
        }
    }
    let src = msg.address.and_then(|a| {
        a.as_sockaddr_in().map(|v4| IpAddr::V4(v4.ip())).or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
    });
    Ok(src.map(|src| Datagram { src, hops, len }))
}

#[cfg(test)]
mod jitter;

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Two free UDP ports on both loopbacks (bound and released: a race with other tests
    /// is possible but unlikely; the ports are random).
    pub(super) fn free_ports() -> (u16, u16) {
        loop {
            let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let free6 = |p: u16| std::net::UdpSocket::bind(("::1", p)).is_ok();
            if a != b && free6(a) && free6(b) {
                return (a, b);
            }
        }
    }

    fn cfg() -> SessionConfig {
        SessionConfig { desired_min_tx: 20 * MS, required_min_rx: 20 * MS, detect_mult: 3 }
    }

    /// A task's events, kept per peer so waiting for one peer loses none of another's.
    struct Events {
        rx: mpsc::Receiver<BfdEvent>,
        pending: VecDeque<BfdEvent>,
    }

    impl Events {
        fn new(rx: mpsc::Receiver<BfdEvent>) -> Events {
            Events { rx, pending: VecDeque::new() }
        }

        /// The next event of `peer`, waiting at most 10 s.
        async fn next(&mut self, peer: IpAddr) -> BfdEvent {
            loop {
                if let Some(i) = self.pending.iter().position(|e| e.peer == peer) {
                    return self.pending.remove(i).expect("invariant: the position exists");
                }
                let ev = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                    .await
                    .unwrap_or_else(|_| panic!("no BFD event for {peer} within 10 s"))
                    .expect("the task is running");
                self.pending.push_back(ev);
            }
        }

        async fn wait_for(&mut self, peer: IpAddr, to: State) -> BfdEvent {
            loop {
                let ev = self.next(peer).await;
                if ev.change.to == to {
                    return ev;
                }
            }
        }
    }

    /// Two tasks on the loopbacks (which keep TTL 255), each the other's peer on IPv4 and
    /// IPv6: both sessions come Up, reach the configured rate, and go Down on the survivor
    /// with "Control Detection Time Expired" once the other task stops.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_tasks_come_up_on_loopback_and_detect_a_stop() {
        let (pa, pb) = free_ports();
        let (a_tx, a_rx) = mpsc::channel(64);
        let mut a_rx = Events::new(a_rx);
        let (b_tx, b_rx) = mpsc::channel(64);
        let mut b_rx = Events::new(b_rx);
        let a = spawn_with(a_tx, Ports { listen: pa, peer: pb });
        let b = spawn_with(b_tx, Ports { listen: pb, peer: pa });
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        for peer in [v4, v6] {
            a.add(BfdPeer { peer, local: None, cfg: cfg() }).await;
            b.add(BfdPeer { peer, local: Some(peer), cfg: cfg() }).await;
        }
        for peer in [v4, v6] {
            a_rx.wait_for(peer, State::Up).await;
            b_rx.wait_for(peer, State::Up).await;
        }
        // Leaving slow start takes a Poll/Final round trip; then the configured rate.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let rows = a.status().await;
            assert_eq!(rows.len(), 2);
            if rows.iter().all(|r| r.tx_interval_ms == 20 && r.state == "Up") {
                let r = &rows[0];
                assert_eq!((r.peer, r.local, r.detection_time_ms, r.multiplier), (v4, Some(v4), 60, 3));
                assert_ne!(r.remote_discriminator, 0);
                assert_eq!(r.packets_dropped, 0);
                break;
            }
            assert!(Instant::now() < deadline, "not at 20 ms after 5 s: {rows:?}");
            tokio::time::sleep(50 * MS).await;
        }
        // Packets keep flowing at about 50/s each way; the session stays Up.
        let before = a.status().await[0].packets_in;
        tokio::time::sleep(500 * MS).await;
        let rows = a.status().await;
        let got = rows[0].packets_in - before;
        assert!((15..=40).contains(&got), "{got} packets in 0.5 s at 20 ms (jitter 75-100%)");
        assert!(rows.iter().all(|r| r.state == "Up"), "{rows:?}");

        let stopped = Instant::now();
        b.stop().await;
        for peer in [v4, v6] {
            let ev = a_rx.next(peer).await;
            assert_eq!((ev.change.from, ev.change.to), (State::Up, State::Down));
            assert_eq!(ev.change.diag, bfd::Diag::ControlDetectionTimeExpired);
            assert_eq!(ev.remote_state, State::Down);
            // Detection time 60 ms; allow for a loaded test machine.
            assert!(stopped.elapsed() < Duration::from_secs(2), "{:?}", stopped.elapsed());
        }
        a.stop().await;
    }

    /// A peer's AdminDown takes our session Down with the neighbor's diagnostic and remote
    /// state AdminDown (the daemon keeps BGP up then); `add` brings it back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admin_down_is_signalled_and_undone() {
        let (pa, pb) = free_ports();
        let (a_tx, a_rx) = mpsc::channel(64);
        let mut a_rx = Events::new(a_rx);
        let (b_tx, b_rx) = mpsc::channel(64);
        let mut b_rx = Events::new(b_rx);
        let a = spawn_with(a_tx, Ports { listen: pa, peer: pb });
        let b = spawn_with(b_tx, Ports { listen: pb, peer: pa });
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        a.add(BfdPeer { peer: v4, local: None, cfg: cfg() }).await;
        b.add(BfdPeer { peer: v4, local: None, cfg: cfg() }).await;
        // A source address learned later (from the BGP connection) rebinds the socket.
        a.set_local(v4, "127.0.0.2".parse().unwrap()).await;
        assert_eq!(a.status().await[0].local, Some("127.0.0.2".parse().unwrap()));
        a.set_local(v4, v4).await;
        assert_eq!(a.status().await[0].local, Some(v4));
        a_rx.wait_for(v4, State::Up).await;
        b_rx.wait_for(v4, State::Up).await;
        b.admin_down(v4).await;
        let ev = a_rx.wait_for(v4, State::Down).await;
        assert_eq!(ev.change.diag, bfd::Diag::NeighborSignaledSessionDown);
        assert_eq!(ev.remote_state, State::AdminDown);
        assert_eq!(b.status().await[0].state, "AdminDown");
        b.add(BfdPeer { peer: v4, local: None, cfg: cfg() }).await;
        a_rx.wait_for(v4, State::Up).await;
        a.stop().await;
        b.stop().await;
    }

    /// A source address the host does not have: no socket, no crash; the session waits
    /// until the address is corrected (or appears) and then comes Up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_source_address_we_do_not_have_is_survived() {
        let (pa, pb) = free_ports();
        let (a_tx, a_rx) = mpsc::channel(64);
        let mut a_rx = Events::new(a_rx);
        let (b_tx, _b_rx) = mpsc::channel(64);
        let a = spawn_with(a_tx, Ports { listen: pa, peer: pb });
        let b = spawn_with(b_tx, Ports { listen: pb, peer: pa });
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let nowhere: IpAddr = "192.0.2.1".parse().unwrap();
        a.add(BfdPeer { peer: v4, local: Some(nowhere), cfg: cfg() }).await;
        b.add(BfdPeer { peer: v4, local: None, cfg: cfg() }).await;
        tokio::time::sleep(200 * MS).await;
        let row = &a.status().await[0];
        // It hears b (Init) but cannot answer, so it cannot come Up.
        assert_ne!(row.state, "Up");
        assert_eq!(row.local, Some(nowhere));
        a.set_local(v4, v4).await;
        a_rx.wait_for(v4, State::Up).await;
        a.stop().await;
        b.stop().await;
    }

    /// What arrives with a TTL below 255, malformed, or from nobody we know is dropped
    /// and counted; the task keeps going.
    #[tokio::test]
    async fn bad_packets_are_dropped_and_counted() {
        let (pa, pb) = free_ports();
        let (a_tx, _a_rx) = mpsc::channel(64);
        let a = spawn_with(a_tx, Ports { listen: pa, peer: pb });
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        a.add(BfdPeer { peer: v4, local: None, cfg: cfg() }).await;
        // Answered after the add: the ports (bound with the first session) are open.
        assert_eq!(a.status().await.len(), 1);
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let good = ControlPacket {
            diag: bfd::Diag::None,
            state: State::Down,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 42,
            your_discriminator: 0,
            desired_min_tx: 1000 * MS,
            required_min_rx: 1000 * MS,
            required_min_echo_rx: Duration::ZERO,
        };
        s.set_ttl(64).unwrap();
        s.send_to(&good.encode(), ("127.0.0.1", pa)).unwrap();
        s.set_ttl(255).unwrap();
        s.send_to(&[0xff; 24], ("127.0.0.1", pa)).unwrap();
        s.send_to(&[], ("127.0.0.1", pa)).unwrap();
        s.send_to(&[0u8; 600], ("127.0.0.1", pa)).unwrap();
        let foreign = ControlPacket { your_discriminator: 12345, state: State::Up, ..good };
        s.send_to(&foreign.encode(), ("127.0.0.1", pa)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let rows = a.status().await;
            if rows[0].packets_dropped == 5 {
                assert_eq!(rows[0].packets_in, 0);
                break;
            }
            assert!(Instant::now() < deadline, "{rows:?}");
            tokio::time::sleep(10 * MS).await;
        }
        // A good one is taken: the session moves to Init.
        s.send_to(&good.encode(), ("127.0.0.1", pa)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while a.status().await[0].state != "Init" {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(10 * MS).await;
        }
        a.remove(v4).await;
        assert!(a.status().await.is_empty());
        a.stop().await;
    }
}
