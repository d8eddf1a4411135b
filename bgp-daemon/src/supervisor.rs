//! Spawns and owns the daemon's tasks, routes accepted connections to neighbors,
//! answers the control socket, and stops everything on a signal.
//!
//! Every task and channel of the daemon (all channels bounded unless marked):
//!
//! ```text
//!  listener task (per listen address) ──(TcpStream)─────┐
//!  control socket tasks ──(ControlRequest)──────────────┤
//!  peer tasks ──(PeerEvent: dynamic neighbor gone)──────┤
//!  BFD task ──(BfdEvent: state changes)─────────────────┤
//!  housekeeping tick (5 s) ─────────────────────────────┤
//!  SIGTERM / SIGINT / SIGHUP ───────────────────────────┤
//!                                                       ▼
//!                                                  supervisor ──(RibInput: announce, show routes)──┐
//!                                                       │ PeerCmd (try_send), one per neighbor     ▼
//!                                                       ▼                                      RIB task
//!  reader task ──(frames)──► peer task ──(RibInput: session up/down, UPDATEs, refresh)──────► (drives
//!                           (drives     ◄──(RibNotice: max_prefixes)──────────────────────────  Engine)
//!                            fsm::Peer)                                                          │ │
//!  writer task ◄──(Bytes: OPEN, KEEPALIVE, NOTIFICATION)── peer task                             │ │
//!  writer task ◄──(Bytes: UPDATEs, End-of-RIB, BoRR/EoRR; the same queue)────────────────────────┘ │
//!  restart marker task ◄──(watch: peers with graceful restart)───────────────────────────────────────┤
//!  control socket task ◄──(Reply: show routes rows)───────────────────────────────────────────────────┘
//! ```
//!
//! BFD (`bfd = true`): one BFD task with its own timer wheel and sockets serves every
//! session. Peer tasks add their session (a configured neighbor at its start, a
//! dynamic one when its session comes up), tell it their source address, and remove
//! it when they end, after their BGP session is closed. The supervisor forwards each
//! BFD change to its peer task (`PeerCmd::Bfd`), which closes an Established session
//! when BFD fails, and stops the BFD task last on a stop, so BFD goes quiet after BGP.
//!
//! Reader and writer tasks are one pair per TCP connection of a peer. The RIB task is
//! the only owner of routing state; see rib_task.rs and bgp-core's `rib::engine`.
//!
//! Connections from a configured neighbor's address go to its task (started again if
//! it had ended); from a `neighbor_range`, a dynamic neighbor task is created on first
//! contact (up to the range's limit) and ends when its session does, but a shutdown or
//! a max_prefixes hold-down of its address is remembered (`Remembered`) and refuses
//! the connections meanwhile; anything else is closed at once. Lines about refused
//! connections are rate-limited per address (`LogLimiter`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bgp_core::config::{Config, DynamicAction, OnStop, PeerPolicies, RoutingChange};
use bgp_core::ctl::why::WhyPeer;
use bgp_core::ctl::{BfdSessionRow, Command, NeighborDetail, NeighborSummary, Reply, RouteDirection, SessionState};
use bgp_core::prefix::Prefix;
use bgp_core::types::Family;
use bgp_core::wire::{Cease, CodecCtx, ErrorCode, Message, Notification};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::bfd::{self, BfdEvent, BfdHandle};
use crate::control::{self, Access, ControlRequest};
use crate::history::History;
use crate::kernel;
use crate::metrics;
use crate::net;
use crate::peer::{self, NeighborSpec, PeerCmd, PeerEvent, PeerHandle, PolicyUpdate, StopMode};
use crate::rib_task::{self, RibInput};
use bgp_core::rib::kernel::KernelSettings;
use bgp_core::rib::restart::Deferral;
use bgp_core::rib::show::{PrefixOrAddress, RouteQuery};
use bgp_core::rib::why::{WhyQuery, NOT_ESTABLISHED};

mod dry_run;

const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// BFD state changes waiting for the supervisor.
const BFD_EVENTS: usize = 256;

mod drain;

struct Supervisor {
    config: Config,
    config_path: PathBuf,
    listeners: Vec<(SocketAddr, Arc<TcpListener>)>,
    rib: mpsc::Sender<RibInput>,
    /// While we restart (RFC 4724), OPENs carry the restart and forwarding bits.
    restart_until: Option<Instant>,
    peers: BTreeMap<IpAddr, PeerHandle>,
    events_tx: mpsc::Sender<PeerEvent>,
    events_rx: mpsc::Receiver<PeerEvent>,
    /// Dynamic neighbors shut down or held down, kept after their tasks end.
    remembered: Remembered,
    /// Lines about refused connections: one per address a minute.
    refusals: LogLimiter,
    /// Our forwarding state survived the restart: routes of ours were still in the
    /// kernel at start, or we install none (`[kernel] install = false`). The F bit of
    /// our restart OPENs says so (RFC 4724 §3), honestly.
    forwarding_kept: bool,
    /// The Kubernetes client, while `[kubernetes]` is configured.
    #[cfg(feature = "kubernetes")]
    kube: Option<crate::kubernetes::Running>,
    /// Which neighbors are drained (RFC 8326, supervisor/drain.rs); kept over reloads.
    drain: bgp_core::rib::drain::Drain,
    /// The BFD task (its own timer wheel); peer tasks add and remove their sessions.
    bfd: BfdHandle,
    /// BFD state changes, forwarded to the neighbor concerned.
    bfd_events: mpsc::Receiver<BfdEvent>,
    /// BFD changes for neighbors whose queue was full, to the task that delivers them in
    /// order ([`forward_bfd_events`]).
    bfd_backlog: mpsc::Sender<BacklogItem>,
    /// Per neighbor, how many of its BFD changes are in the backlog.
    bfd_backlogged: HashMap<IpAddr, Arc<AtomicUsize>>,
    /// The metrics endpoint, while `global.metrics_listen` is set; its scrapes come in
    /// on `scrapes_rx`.
    metrics: Option<metrics::Endpoint>,
    scrapes_tx: mpsc::Sender<metrics::Scrape>,
    scrapes_rx: mpsc::Receiver<metrics::Scrape>,
    /// Every neighbor's event history (`show events`), kept across reloads.
    history: History,
}

pub async fn run(config: Config, config_path: PathBuf) -> anyhow::Result<()> {
    let global = config.global.clone();
    let (control_tx, mut control_rx) = mpsc::channel(16);
    let mut control_tasks = Vec::new();
    let sockets = std::iter::once((&global.control_socket, Access::Full))
        .chain(global.control_socket_readonly.iter().map(|p| (p, Access::ReadOnly)));
    for (path, access) in sockets {
        let socket = control::bind(path, access).with_context(|| format!("control socket {}", path.display()))?;
        control_tasks.push(tokio::spawn(control::serve(socket, control_tx.clone(), control::Limits::DEFAULT)));
    }
    drop(control_tx);

    let (accept_tx, mut accept_rx) = mpsc::channel::<(TcpStream, SocketAddr)>(64);
    let mut listeners = Vec::new();
    let mut listen_tasks = Vec::new();
    for &addr in &global.listen {
        let listener = Arc::new(net::listen(addr).with_context(|| format!("listening on {addr}"))?);
        set_md5_keys(&listener, addr, &config, true).with_context(|| format!("TCP-MD5 keys on {addr}"))?;
        set_listener_gtsm(&listener, addr, &config).with_context(|| format!("GTSM on {addr}"))?;
        info!(%addr, "listening");
        let tx = accept_tx.clone();
        let l = listener.clone();
        listen_tasks.push(tokio::spawn(async move {
            loop {
                match l.accept().await {
                    Ok((stream, remote)) => {
                        if tx.send((stream, remote)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        warn!(%addr, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
        listeners.push((addr, listener));
    }

    let (events_tx, events_rx) = mpsc::channel(64);
    let marker = restart_marker(&global.control_socket);
    let restart = read_restart_marker(&marker, Duration::from_secs(global.graceful_restart_time.into()));
    let restart_until =
        restart.as_ref().map(|_| Instant::now() + Duration::from_secs(global.graceful_restart_time.into()));
    if let Some(peers) = &restart {
        info!(peers = peers.len(), "restarting (RFC 4724): restart bit set, our tables wait for the peers' End-of-RIB");
    }
    let deferral = restart.map(|peers| Deferral::new(Instant::now() + RESTART_DEFERRAL, peers.into_iter().collect()));
    let (restart_peers, restart_peers_rx) = tokio::sync::watch::channel(Vec::new());
    let marker_task = tokio::spawn(keep_restart_marker(marker.clone(), restart_peers_rx));
    let (kernel_link, ours) = start_kernel(&config.kernel).await;
    let settings = KernelSettings::new(&config.kernel, config.install_policy());
    let history = History::default();
    history.pin(config.neighbors.iter().map(|n| n.address));
    let rib =
        rib_task::spawn(rib_task::rib_config(&global), deferral, restart_peers, settings, kernel_link, history.clone());
    let forwarding_kept = !config.kernel.install || ours > 0;
    let mut sup = Supervisor::new(config, config_path, listeners, rib, (events_tx, events_rx));
    sup.history = history;
    sup.restart_until = restart_until;
    sup.forwarding_kept = forwarding_kept;
    if restart_until.is_some() && !forwarding_kept {
        warn!("restarting without our routes in the kernel: the forwarding bit is clear, so peers drop our routes now");
    }
    let _ = sup.rib.send(RibInput::Announce(sup.config.announcements.clone())).await;
    if let Some(message) = kubernetes_unsupported(&sup.config) {
        anyhow::bail!("{}: {message}", sup.config_path.display());
    }
    #[cfg(feature = "kubernetes")]
    if let Some(k) = sup.config.kubernetes.clone() {
        let running = crate::kubernetes::Running::start(&k, &sup.rib).await;
        sup.kube = Some(running.map_err(|e| anyhow::anyhow!("[kubernetes]: {e}"))?);
    }
    if let Some(address) = sup.config.global.metrics_listen {
        let endpoint = metrics::Endpoint::start(address, sup.scrapes_tx.clone()).await;
        sup.metrics = Some(endpoint.with_context(|| format!("global.metrics_listen: binding {address}"))?);
    }
    for n in &sup.config.neighbors {
        let spec = sup.restarting(NeighborSpec::configured(n, &sup.config));
        let handle = peer::spawn(spec, sup.rib.clone(), sup.events_tx.clone(), sup.bfd.clone(), sup.history.clone());
        sup.peers.insert(n.address, handle);
    }
    info!(
        asn = global.asn, router_id = %global.router_id,
        neighbors = sup.config.neighbors.len(), ranges = sup.config.neighbor_ranges.len(), "bgp-daemon started"
    );

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
    // The end of the drain before a stop (on_stop = "drain-then-graceful-restart").
    let mut stop_drain: Option<tokio::time::Instant> = None;
    let stop_mode = loop {
        let restart_over = sup.restart_until.map(tokio::time::Instant::from_std);
        tokio::select! {
            _ = tokio::time::sleep_until(restart_over.unwrap_or_else(tokio::time::Instant::now)), if restart_over.is_some() => {
                // RFC 4724 §4.1: the R bit is for the OPENs of the restart only.
                sup.restart_until = None;
                for p in sup.peers.values() {
                    // Delivered without making the supervisor wait on a busy neighbor.
                    let tx = p.tx.clone();
                    tokio::spawn(async move { tx.send(PeerCmd::RestartOver).await });
                }
                info!("restart window over: OPENs no longer carry the restart bit");
            }
            _ = tokio::time::sleep_until(stop_drain.unwrap_or_else(tokio::time::Instant::now)), if stop_drain.is_some() => {
                info!("drain time over");
                break StopMode::GracefulRestart;
            }
            _ = sigterm.recv() => if let Some(mode) = sup.signalled(&mut stop_drain).await {
                break mode;
            },
            _ = sigint.recv() => if let Some(mode) = sup.signalled(&mut stop_drain).await {
                break mode;
            },
            _ = sighup.recv() => {
                let _ = sup.reload().await;
            }
            Some((stream, remote)) = accept_rx.recv() => sup.accepted(stream, remote).await,
            Some(event) = sup.events_rx.recv() => sup.event(event),
            Some(event) = sup.bfd_events.recv() => sup.bfd_event(event),
            Some(scrape) = sup.scrapes_rx.recv() => sup.scrape(scrape),
            _ = housekeeping.tick() => sup.housekeeping(),
            Some(req) = control_rx.recv() => {
                if let Some(mode) = sup.control(req).await {
                    break mode;
                }
            }
        }
    };
    info!(?stop_mode, "stopping");
    for l in &listen_tasks {
        l.abort();
    }
    marker_task.abort();
    if !matches!(stop_mode, StopMode::GracefulRestart) {
        // Not a restart: the next start is a fresh one.
        let _ = std::fs::remove_file(&marker);
    }
    let flush = !matches!(stop_mode, StopMode::GracefulRestart);
    if let Some(m) = sup.metrics.take() {
        m.stop();
    }
    #[cfg(feature = "kubernetes")]
    if let Some(k) = sup.kube.take() {
        k.stop();
    }
    sup.stop(stop_mode).await;
    if flush {
        // Not a restart: our routes leave the kernel with us. After a graceful restart
        // stop they stay, and forward while we are away.
        let (done, removed) = oneshot::channel();
        if sup.rib.send(RibInput::FlushFib { done }).await.is_ok() {
            match tokio::time::timeout(FLUSH_TIMEOUT, removed).await {
                Ok(Ok(n)) => info!(routes = n, "our routes removed from the kernel"),
                _ => warn!("our routes could not all be removed from the kernel in time"),
            }
        }
    }
    for task in control_tasks {
        task.abort();
        // Dropping the aborted task drops the socket, which removes its file.
        let _ = task.await;
    }
    info!("bgp-daemon stopped");
    Ok(())
}

impl Supervisor {
    fn new(
        config: Config,
        config_path: PathBuf,
        listeners: Vec<(SocketAddr, Arc<TcpListener>)>,
        rib: mpsc::Sender<RibInput>,
        (events_tx, events_rx): (mpsc::Sender<PeerEvent>, mpsc::Receiver<PeerEvent>),
    ) -> Supervisor {
        let (bfd_tx, bfd_events) = mpsc::channel(BFD_EVENTS);
        let (bfd_backlog, backlog_rx) = mpsc::channel(BFD_EVENTS);
        tokio::spawn(forward_bfd_events(backlog_rx));
        let (scrapes_tx, scrapes_rx) = mpsc::channel(4);
        Supervisor {
            config,
            config_path,
            listeners,
            rib,
            restart_until: None,
            peers: BTreeMap::new(),
            events_tx,
            events_rx,
            remembered: Remembered::default(),
            refusals: LogLimiter::new(Instant::now()),
            forwarding_kept: true,
            #[cfg(feature = "kubernetes")]
            kube: None,
            drain: Default::default(),
            bfd: bfd::spawn(bfd_tx),
            bfd_events,
            bfd_backlog,
            bfd_backlogged: HashMap::new(),
            metrics: None,
            scrapes_tx,
            scrapes_rx,
            history: History::default(),
        }
    }

    /// Within the restart window, a neighbor's graceful restart capability says we
    /// restarted (R bit) and kept forwarding (F bit: the forwarding of a homelab's routes
    /// is the nodes' and the router's, which our restart does not touch).
    fn restarting(&self, mut spec: NeighborSpec) -> NeighborSpec {
        if self.restart_until.is_some_and(|t| Instant::now() < t) {
            if let Some(gr) = &mut spec.fsm.graceful_restart {
                gr.restarting = true;
                let kept = self.forwarding_kept;
                gr.families.iter_mut().for_each(|f| f.forwarding_preserved = kept);
            }
            // RFC 9494 §3: the LLGR F bits say the same as the GR ones.
            if let Some(llgr) = &mut spec.fsm.long_lived_graceful_restart {
                let kept = self.forwarding_kept;
                llgr.iter_mut().for_each(|f| f.forwarding_preserved = kept);
            }
        }
        spec
    }

    async fn accepted(&mut self, stream: TcpStream, remote: SocketAddr) {
        let ip = net::canonical(remote.ip());
        let mut stream = stream;
        if let Some(p) = self.peers.get(&ip) {
            match p.tx.try_send(PeerCmd::Accepted(stream)) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Closed(PeerCmd::Accepted(back))) => {
                    // Its task has ended: what it said when it ended (a dynamic
                    // neighbor's hold-down) is queued, and counts for this connection.
                    while let Ok(event) = self.events_rx.try_recv() {
                        self.event(event);
                    }
                    stream = back;
                    if let Some(p) = self.respawn(ip) {
                        let _ = p.tx.try_send(PeerCmd::Accepted(stream));
                        return;
                    }
                    // A dynamic neighbor: a new task takes over, below.
                    self.peers.remove(&ip);
                }
                Err(_) => {
                    // Never wait on one neighbor: its queue is full, so the connection
                    // is closed and the peer will try again.
                    warn!(%remote, "neighbor busy: connection closed");
                    return;
                }
            }
        }
        let now = Instant::now();
        let Some(range) = self.config.range_for(ip) else {
            if self.refusals.allow(ip, now) {
                info!(%remote, "connection from an address that is no neighbor: closed (logged once a minute per address)");
            }
            return;
        };
        if let Some(refusal) = self.remembered.refuses(ip, now) {
            if self.refusals.allow(ip, now) {
                info!(%remote, "dynamic neighbor {refusal}: connection refused (logged once a minute per address)");
            }
            refusal.notify(&stream);
            return;
        }
        let in_range = self.peers.iter().filter(|(a, p)| p.dynamic && range.prefix.contains(*a)).count();
        if in_range >= range.limit as usize {
            if self.refusals.allow(ip, now) {
                warn!(%remote, prefix = %range.prefix, limit = range.limit, "neighbor_range is full: connection closed");
            }
            return;
        }
        info!(%remote, prefix = %range.prefix, "dynamic neighbor");
        let handle = peer::spawn(
            self.restarting(NeighborSpec::dynamic(range, ip, &self.config)),
            self.rib.clone(),
            self.events_tx.clone(),
            self.bfd.clone(),
            self.history.clone(),
        );
        let _ = handle.tx.try_send(PeerCmd::Accepted(stream));
        self.peers.insert(ip, handle);
    }

    /// Starts a configured neighbor's task again when it has ended. A neighbor task
    /// does not end by itself while the supervisor holds its channel (a panic ends the
    /// daemon), so this is a safety net: such a neighbor would otherwise be refused
    /// forever. Returns the new handle; `None` for an address that is not a
    /// configured neighbor.
    fn respawn(&mut self, address: IpAddr) -> Option<&PeerHandle> {
        let n = self.config.neighbors.iter().find(|n| n.address == address)?;
        warn!(peer = %address, "the neighbor's task had ended: started again");
        let spec = self.restarting(NeighborSpec::configured(n, &self.config));
        let handle =
            peer::spawn(spec, self.rib.clone(), self.events_tx.clone(), self.bfd.clone(), self.history.clone());
        self.peers.insert(address, handle);
        self.peers.get(&address)
    }

    fn event(&mut self, event: PeerEvent) {
        let PeerEvent::Gone { address, hold_down_until } = event;
        if self.peers.get(&address).is_some_and(|p| p.dynamic && p.tx.is_closed()) {
            self.peers.remove(&address);
        }
        if let Some(until) = hold_down_until {
            info!(peer = %address, "dynamic neighbor gone during its max_prefixes hold-down: connections refused until it ends");
            self.remembered.hold(address, until, Instant::now());
        }
    }

    /// A BFD change goes to its neighbor's task, which closes the BGP session on a
    /// failure. Never lost to a full queue: a busy neighbor gets it from a task.
    fn bfd_event(&mut self, event: BfdEvent) {
        let Some(p) = self.peers.get(&event.peer) else { return };
        // Behind a change still in the backlog, this one waits its turn there too: a
        // neighbor sees its BFD changes in order (a stale Down after an Up would close
        // a protected session).
        if self.bfd_backlogged.get(&event.peer).is_some_and(|n| n.load(Ordering::Relaxed) > 0) {
            self.backlog_bfd(p.tx.clone(), event);
            return;
        }
        match p.tx.try_send(PeerCmd::Bfd(Box::new(event))) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(cmd)) => {
                let PeerCmd::Bfd(event) = cmd else { unreachable!("the command just built") };
                self.backlog_bfd(p.tx.clone(), *event);
            }
        }
    }

    /// Queues a BFD change for a neighbor whose queue is full. A full backlog (the
    /// neighbors are stuck) drops the change with a warning: bounded memory first.
    fn backlog_bfd(&mut self, tx: mpsc::Sender<PeerCmd>, event: BfdEvent) {
        let count = self.bfd_backlogged.entry(event.peer).or_default().clone();
        let peer = event.peer;
        count.fetch_add(1, Ordering::Relaxed);
        if self.bfd_backlog.try_send((tx, event, count.clone())).is_err() {
            count.fetch_sub(1, Ordering::Relaxed);
            warn!(%peer, "BFD change dropped: the neighbors' queues and the backlog are full");
        }
    }

    /// Every BFD session, with the state of the BGP session it protects.
    async fn bfd_rows(&self) -> Vec<BfdSessionRow> {
        let Ok(mut rows) = tokio::time::timeout(REPLY_TIMEOUT, self.bfd.status()).await else {
            warn!("the BFD task did not answer");
            return Vec::new();
        };
        let states: HashMap<IpAddr, SessionState> =
            self.summaries().await.into_iter().map(|s| (s.address, s.state)).collect();
        for row in &mut rows {
            row.bgp_state = states.get(&row.peer).copied();
        }
        rows
    }

    async fn show_bfd(&self, replies: mpsc::Sender<Reply>) {
        let lines: Vec<Reply> =
            self.bfd_rows().await.into_iter().map(|r| Reply::Bfd(Box::new(r))).chain([Reply::End]).collect();
        spawn_lines(replies, lines);
    }

    /// Every few seconds: neighbor tasks that ended are started again (configured) or
    /// forgotten (dynamic), hold-downs that are over are forgotten, and the count of
    /// log lines left out is logged.
    fn housekeeping(&mut self) {
        let peers = &self.peers;
        self.bfd_backlogged.retain(|a, n| n.load(Ordering::Relaxed) > 0 || peers.contains_key(a));
        let ended: Vec<IpAddr> = self.peers.iter().filter(|(_, p)| p.tx.is_closed()).map(|(a, _)| *a).collect();
        for address in ended {
            if self.respawn(address).is_none() {
                self.peers.remove(&address);
            }
        }
        let now = Instant::now();
        self.remembered.expire(now);
        if let Some(suppressed) = self.refusals.report(now) {
            info!(
                suppressed,
                "connections refused in the last minute without a log line (one line per address a minute)"
            );
        }
    }

    /// An address that only a `neighbor_range` covers.
    fn dynamic_address(&self, address: IpAddr) -> bool {
        is_dynamic(&self.config, address)
    }

    /// Answers one control request; returns a stop mode when the daemon is to stop.
    async fn control(&mut self, req: ControlRequest) -> Option<StopMode> {
        let replies = req.replies;
        let unknown = |a: IpAddr| Reply::Error { message: format!("no neighbor {a}") };
        let busy = |a: IpAddr| Reply::Error { message: format!("neighbor {a} is busy: try again") };
        match req.command {
            Command::ShowNeighbors { address: None } => {
                let mut all: BTreeMap<IpAddr, NeighborSummary> =
                    self.remembered_summaries().into_iter().map(|s| (s.address, s)).collect();
                all.extend(self.summaries().await.into_iter().map(|s| (s.address, s)));
                self.mark_drained(all.values_mut());
                let lines: Vec<Reply> = all.into_values().map(Reply::Neighbor).chain([Reply::End]).collect();
                // Sent by a task of its own: a client that reads slowly never holds up
                // the supervisor (its socket drops it after a while).
                spawn_lines(replies, lines);
            }
            Command::ShowNeighbors { address: Some(a) } => {
                let Some(p) = self.peers.get(&a) else {
                    let reply = match self.remembered_summary(a) {
                        Some(summary) => Reply::NeighborDetail(Box::new(remembered_detail(summary))),
                        None => unknown(a),
                    };
                    send_reply(&replies, reply).await;
                    return None;
                };
                let (tx, rx) = oneshot::channel();
                let reply = match p.tx.try_send(PeerCmd::Detail(tx)) {
                    Ok(()) => match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
                        Ok(Ok(mut d)) => {
                            d.restart_phase = self.restart_phase(a).await;
                            self.mark_drained([&mut d.summary]);
                            let rows = tokio::time::timeout(REPLY_TIMEOUT, self.bfd.status()).await.unwrap_or_default();
                            d.bfd = rows
                                .into_iter()
                                .find(|r| r.peer == a)
                                .map(|row| BfdSessionRow { bgp_state: Some(d.summary.state), ..row });
                            Reply::NeighborDetail(Box::new(d))
                        }
                        _ => Reply::Error { message: format!("neighbor {a} did not answer") },
                    },
                    Err(mpsc::error::TrySendError::Full(_)) => busy(a),
                    Err(mpsc::error::TrySendError::Closed(_)) => unknown(a),
                };
                send_reply(&replies, reply).await;
            }
            Command::NeighborReset { address } => {
                send_reply(&replies, self.neighbor_command(address, PeerCmd::Reset, "reset")).await
            }
            Command::NeighborRefresh { address } => {
                let reply = self.neighbor_command(address, PeerCmd::Refresh, "asked to send its routes again");
                send_reply(&replies, reply).await
            }
            Command::ShowRoutes { prefix, neighbor, direction, family } => {
                match route_query(prefix, neighbor, direction, family) {
                    Ok(query) => {
                        if self.rib.send(RibInput::ShowRoutes { query, replies: replies.clone() }).await.is_err() {
                            let _ = replies.send(Reply::Error { message: "the RIB is not running".into() }).await;
                        }
                    }
                    Err(message) => {
                        let _ = replies.send(Reply::Error { message }).await;
                    }
                }
            }
            Command::ShowFib { prefix } => {
                // A prefix, or an address: its longest match in the table.
                let prefix = match prefix.as_deref() {
                    None => None,
                    Some(text) => match (text.parse::<Prefix>(), text.parse::<IpAddr>()) {
                        (Ok(p), _) => Some(PrefixOrAddress::Prefix(p)),
                        (_, Ok(a)) => Some(PrefixOrAddress::Address(a)),
                        (Err(e), Err(_)) => {
                            let _ = replies.send(Reply::Error { message: e }).await;
                            return None;
                        }
                    },
                };
                if self.rib.send(RibInput::ShowFib { prefix, replies: replies.clone() }).await.is_err() {
                    let _ = replies.send(Reply::Error { message: "the RIB is not running".into() }).await;
                }
            }
            Command::ShowNextHops => {
                if self.rib.send(RibInput::ShowNextHops { replies: replies.clone() }).await.is_err() {
                    let _ = replies.send(Reply::Error { message: "the RIB is not running".into() }).await;
                }
            }
            Command::ShowSummary => {
                let (tx, rx) = oneshot::channel();
                let mut summary = match self.rib.send(RibInput::ShowSummary { reply: tx }).await {
                    Ok(()) => {
                        tokio::time::timeout(REPLY_TIMEOUT, rx).await.ok().and_then(Result::ok).unwrap_or_default()
                    }
                    Err(_) => Default::default(),
                };
                for s in self.summaries().await {
                    summary.neighbors += 1;
                    summary.neighbors_established += u64::from(s.state == bgp_core::ctl::SessionState::Established);
                }
                summary.rss_bytes = rss_bytes();
                let _ = replies.send(Reply::Summary(summary)).await;
                let _ = replies.send(Reply::End).await;
            }
            Command::NeighborShutdown { address, message } => {
                let mut reply = self.neighbor_command(address, PeerCmd::Shutdown(message), "shut down");
                // A dynamic neighbor stays down after its task ends, and one without a
                // task can be shut down before it connects.
                let remember = matches!(reply, Reply::Done { .. }) || !self.peers.contains_key(&address);
                if remember && self.dynamic_address(address) {
                    reply = match self.remembered.shut_down(address) {
                        true => Reply::Done {
                            message: format!(
                                "neighbor {address} shut down: connections from it are refused until \
                                 `bgpctl neighbor {address} enable`"
                            ),
                        },
                        false => Reply::Error {
                            message: format!("{MAX_REMEMBERED} dynamic neighbors are shut down already"),
                        },
                    };
                }
                send_reply(&replies, reply).await
            }
            Command::NeighborEnable { address } => {
                let was_down = self.remembered.enable(address);
                let mut reply = self.neighbor_command(address, PeerCmd::Enable, "enabled");
                if was_down && !self.peers.contains_key(&address) {
                    reply = Reply::Done { message: format!("neighbor {address} enabled") };
                }
                send_reply(&replies, reply).await
            }
            Command::ShowKubernetes => self.show_kubernetes(replies).await,
            Command::ShowBfd => self.show_bfd(replies).await,
            Command::Why { target } => self.why(target, replies).await,
            Command::Reload => {
                let reply = match self.reload().await {
                    Ok(message) => Reply::Done { message },
                    Err(message) => Reply::Error { message },
                };
                send_reply(&replies, reply).await;
            }
            Command::ReloadDryRun { file, text } => {
                let reply = match self.dry_run(file, text).await {
                    Ok(preview) => Reply::ReloadPreview(Box::new(preview)),
                    Err(message) => Reply::Error { message },
                };
                send_reply(&replies, reply).await;
            }
            Command::ShowEvents { neighbor, since_seconds } => self.show_events(neighbor, since_seconds, replies),
            Command::Shutdown { message } => {
                let _ = replies.send(Reply::Done { message: "bgp-daemon is shutting down".into() }).await;
                let _ = replies.send(Reply::End).await;
                return Some(StopMode::Shutdown(message));
            }
            Command::Drain { neighbor, wait_seconds } => self.drain_command(neighbor, wait_seconds, replies).await,
            Command::Undrain { neighbor } => self.undrain_command(neighbor, replies).await,
        }
        None
    }

    /// `show events`, `show neighbors ADDR events`: the history, oldest first, sent by a
    /// task of its own (a slow reader never holds up the supervisor).
    fn show_events(&self, neighbor: Option<IpAddr>, since_seconds: Option<u64>, replies: mpsc::Sender<Reply>) {
        let lines: Vec<Reply> = match neighbor {
            Some(a) if !self.peers.contains_key(&a) && !self.history.knows(a) && !is_dynamic(&self.config, a) => {
                vec![Reply::Error { message: format!("no neighbor {a}") }]
            }
            _ => {
                let since = since_seconds.map(Duration::from_secs);
                let events = self.history.events(neighbor, since);
                events.into_iter().map(|e| Reply::Event(Box::new(e))).chain([Reply::End]).collect()
            }
        };
        spawn_lines(replies, lines);
    }

    /// Every neighbor's summary line, asked of all at once: one slow neighbor costs
    /// at most `REPLY_TIMEOUT` in all, and one whose queue is full is left out.
    async fn summaries(&self) -> Vec<NeighborSummary> {
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        let asked: Vec<_> = self
            .peers
            .values()
            .filter_map(|p| {
                let (tx, rx) = oneshot::channel();
                p.tx.try_send(PeerCmd::Summary(tx)).ok().map(|_| rx)
            })
            .collect();
        let mut summaries = Vec::with_capacity(asked.len());
        for rx in asked {
            if let Ok(Ok(s)) = tokio::time::timeout_at(deadline, rx).await {
                summaries.push(s);
            }
        }
        summaries
    }

    /// A scrape of the metrics endpoint: the neighbors and the RIB are asked by a task
    /// of its own, bounded by `metrics::GATHER_TIMEOUT`, so the supervisor goes on at
    /// once (see the `metrics` module).
    fn scrape(&self, scrape: metrics::Scrape) {
        let peers: Vec<_> = self.peers.values().map(|p| p.tx.clone()).collect();
        let idle = self.remembered_summaries();
        let rib = self.rib.clone();
        let drain = self.drain.clone();
        let bfd = self.bfd.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + metrics::GATHER_TIMEOUT;
            let bfd_rows = tokio::spawn(async move { tokio::time::timeout_at(deadline, bfd.status()).await.ok() });
            let (rib_tx, rib_rx) = oneshot::channel();
            let rib_asked = rib.try_send(RibInput::Metrics { reply: rib_tx }).is_ok();
            let mut missing = 0;
            let asked: Vec<_> = peers
                .iter()
                .filter_map(|tx| {
                    let (reply, rx) = oneshot::channel();
                    match tx.try_send(PeerCmd::Metrics(reply)) {
                        Ok(()) => Some(rx),
                        // A task that has ended is no neighbor any more.
                        Err(mpsc::error::TrySendError::Closed(_)) => None,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            missing += 1;
                            None
                        }
                    }
                })
                .collect();
            let mut snapshot = metrics::Snapshot { idle, rss_bytes: rss_bytes(), ..Default::default() };
            for rx in asked {
                match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(p)) => snapshot.peers.push(p),
                    _ => missing += 1,
                }
            }
            // Shown in address order, like `show neighbors`; a remembered neighbor
            // whose task still answered is shown once.
            snapshot.peers.sort_by_key(|p| p.detail.summary.address);
            let answered: BTreeSet<IpAddr> = snapshot.peers.iter().map(|p| p.detail.summary.address).collect();
            snapshot.idle.retain(|n| !answered.contains(&n.address));
            // As `mark_drained` does for `show neighbors`.
            for n in snapshot.peers.iter_mut().map(|p| &mut p.detail.summary).chain(&mut snapshot.idle) {
                n.drained = drain.covers(n.address);
            }
            snapshot.peers_missing = missing;
            if rib_asked {
                snapshot.rib = tokio::time::timeout_at(deadline, rib_rx).await.ok().and_then(Result::ok);
            }
            snapshot.bfd = bfd_rows.await.ok().flatten();
            let _ = scrape.reply.send(snapshot);
        });
    }

    /// Hands a command to a neighbor's task; the reply says whether it took it.
    fn neighbor_command(&self, address: IpAddr, cmd: PeerCmd, done: &str) -> Reply {
        match self.peers.get(&address).map(|p| p.tx.try_send(cmd)) {
            Some(Ok(())) => Reply::Done { message: format!("neighbor {address} {done}") },
            Some(Err(mpsc::error::TrySendError::Full(_))) => {
                Reply::Error { message: format!("neighbor {address} is busy: try again") }
            }
            _ => Reply::Error { message: format!("no neighbor {address}") },
        }
    }

    /// The `show neighbors` line of a remembered dynamic neighbor, for when its task
    /// has ended (or is ending, and did not answer).
    fn remembered_summary(&self, address: IpAddr) -> Option<NeighborSummary> {
        let refusal = self.remembered.refuses(address, Instant::now())?;
        let range = self.config.range_for(address)?;
        Some(NeighborSummary {
            description: range.settings.description.clone(),
            last_error: Some(refusal.to_string()),
            dynamic: true,
            admin_down: matches!(refusal, Refusal::Shutdown),
            ..NeighborSummary::idle(address, range.settings.asn)
        })
    }

    fn remembered_summaries(&self) -> Vec<NeighborSummary> {
        self.remembered.addresses().filter_map(|a| self.remembered_summary(a)).collect()
    }

    /// Stops every neighbor in parallel, bounded in time.
    async fn stop(&mut self, mode: StopMode) {
        let mut waits = Vec::new();
        for p in self.peers.values() {
            let (tx, rx) = oneshot::channel();
            if p.tx.send(PeerCmd::Stop(mode.clone(), tx)).await.is_ok() {
                waits.push(rx);
            }
        }
        let all = futures_join(waits);
        if tokio::time::timeout(Duration::from_secs(5), all).await.is_err() {
            warn!("some neighbors did not stop within 5 s");
        }
        // Only now, with every BGP session closed: BFD goes quiet (no AdminDown).
        self.bfd.stop().await;
    }
}

impl Supervisor {
    /// Two-phase reload: the new file is read and validated completely first; any
    /// error leaves the running configuration untouched. Then
    /// [`bgp_core::config::diff`] decides (its module documents the rules) and
    /// [`Supervisor::apply_reload`] carries the plan out.
    ///
    /// The routing engine's part, `multipath` and `always_compare_med`, comes back
    /// from `apply_reload` as a [`RoutingChange`]: the RIB decides every prefix again.
    async fn reload(&mut self) -> Result<String, String> {
        let (message, routing) = self.apply_reload().await?;
        self.after_reload();
        if let Some(RoutingChange { multipath, always_compare_med }) = routing {
            let input = RibInput::Routing { multipath: usize::from(multipath), always_compare_med };
            let _ = self.rib.send(input).await;
        }
        Ok(message)
    }

    /// Load, diff, apply: removed neighbors close with Cease / Peer De-configured,
    /// changed ones restart with Cease / Other Configuration Change (every stop is sent
    /// first, then all are awaited together), new ones start. A change of policies
    /// alone (which policy a neighbor names, or a policy's or prefix list's contents)
    /// restarts nothing: the RIB applies the new import policy to the routes as
    /// received and sends each peer what its new export policy changes. Returns the
    /// reply text and the new routing settings, if they changed.
    async fn apply_reload(&mut self) -> Result<(String, Option<RoutingChange>), String> {
        let refuse = |message: String| {
            error!("reload refused, keeping the running configuration: {message}");
            Err(message)
        };
        let new = match bgp_core::config::load(&self.config_path) {
            Ok(c) => c,
            Err(e) => return refuse(e.to_string()),
        };
        let plan = match bgp_core::config::diff(&self.config, &new) {
            Ok(plan) => plan,
            Err(refused) => return refuse(format!("{}: {refused}", self.config_path.display())),
        };
        if let Some(message) = kubernetes_unsupported(&new) {
            return refuse(format!("{}: {message}", self.config_path.display()));
        }
        let old = std::mem::replace(&mut self.config, new);

        for &(addr, shutdown) in &plan.shutdown {
            let cmd = if shutdown { PeerCmd::Shutdown(None) } else { PeerCmd::Enable };
            if let Some(p) = self.peers.get(&addr) {
                let _ = p.tx.send(cmd).await;
            }
        }
        let mut repolicied = plan.policies.len();
        for (addr, policies) in &plan.policies {
            self.update_policies(*addr, policies.clone()).await;
        }
        let mut stops: Vec<(IpAddr, Cease)> = plan
            .stops()
            .map(|(addr, gone)| (addr, if gone { Cease::PeerDeconfigured } else { Cease::OtherConfigurationChange }))
            .collect();
        let dynamic: Vec<IpAddr> = self.peers.iter().filter(|(_, p)| p.dynamic).map(|(a, _)| *a).collect();
        for addr in dynamic {
            match plan.dynamic(addr) {
                DynamicAction::Keep => {}
                DynamicAction::Restart => stops.push((addr, Cease::OtherConfigurationChange)),
                DynamicAction::Policies(policies) => {
                    self.update_policies(addr, policies).await;
                    repolicied += 1;
                }
            }
        }
        self.stop_peers(stops).await;

        for (addr, listener) in &self.listeners {
            if let Err(e) = set_md5_keys(listener, *addr, &old, false)
                .and_then(|_| set_md5_keys(listener, *addr, &self.config, true))
            {
                warn!(%addr, error = %e, "updating TCP-MD5 keys");
            }
        }
        // The restarted and the added neighbors.
        for n in &self.config.neighbors {
            if !self.peers.contains_key(&n.address) {
                let spec = NeighborSpec::configured(n, &self.config);
                let handle =
                    peer::spawn(spec, self.rib.clone(), self.events_tx.clone(), self.bfd.clone(), self.history.clone());
                self.peers.insert(n.address, handle);
            }
        }
        // BFD keys restart no session: every neighbor still running gets the new
        // values and adds, retunes or removes its BFD session.
        for (&addr, p) in &self.peers {
            let bfd = self.config.peer_for(addr).and_then(|m| m.settings().bfd);
            let _ = p.tx.send(PeerCmd::BfdSettings(bfd)).await;
        }
        if let Some(announcements) = plan.announcements {
            let _ = self.rib.send(RibInput::Announce(announcements)).await;
        }
        if let Some(kernel) = &plan.kernel {
            let settings = KernelSettings::new(kernel, self.config.install_policy());
            let _ = self.rib.send(RibInput::Kernel(settings)).await;
        }
        #[cfg(feature = "kubernetes")]
        if let Some(kubernetes) = plan.kubernetes {
            self.reload_kubernetes(kubernetes).await;
        }
        let metrics_note = match plan.metrics_listen {
            Some(address) => self.rebind_metrics(address).await,
            None => String::new(),
        };
        let (added, removed) = (plan.added.len(), plan.removed.len());
        let changed = plan.restarted.len() + plan.shutdown.len();
        let message = format!(
            "reloaded {}: {added} added, {removed} removed, {changed} changed, {repolicied} with new policies{metrics_note}",
            self.config_path.display()
        );
        info!("{message}");
        Ok((message, plan.routing))
    }

    /// `global.metrics_listen` changed: the new address is bound first, then the old
    /// endpoint stops (scrapes in progress on it end). If the new one cannot be bound,
    /// the endpoint is off (the old address is no longer configured) and the reload's
    /// answer says why; the next reload tries again. Returns that note, or nothing.
    async fn rebind_metrics(&mut self, address: Option<SocketAddr>) -> String {
        let new = match address {
            None => None,
            Some(a) => match metrics::Endpoint::start(a, self.scrapes_tx.clone()).await {
                Ok(endpoint) => Some(endpoint),
                Err(e) => {
                    // The old address was taken (it is the same port on another
                    // address, say): let it go, then try once more.
                    if let Some(old) = self.metrics.take() {
                        old.stop();
                        tokio::task::yield_now().await;
                    }
                    match metrics::Endpoint::start(a, self.scrapes_tx.clone()).await {
                        Ok(endpoint) => Some(endpoint),
                        Err(_) => {
                            error!(address = %a, error = %e, "global.metrics_listen: cannot bind: no metrics endpoint");
                            return format!("; global.metrics_listen: cannot bind {a}: {e}: no metrics endpoint");
                        }
                    }
                }
            },
        };
        if let Some(old) = std::mem::replace(&mut self.metrics, new) {
            old.stop();
        }
        match address {
            Some(a) => format!("; metrics endpoint at {a}"),
            None => {
                info!("metrics endpoint stopped");
                "; metrics endpoint stopped".into()
            }
        }
    }

    /// `[kubernetes]` changed, appeared or went: the client starts again with the new
    /// section (its lists replace the routes' objects, so routes that did not change
    /// stay), or stops and the Kubernetes source's routes are withdrawn.
    #[cfg(feature = "kubernetes")]
    async fn reload_kubernetes(&mut self, new: Option<bgp_core::config::Kubernetes>) {
        if let Some(old) = self.kube.take() {
            old.stop();
        }
        let Some(k) = new else {
            let _ = self.rib.send(RibInput::KubernetesSettings(None)).await;
            info!("[kubernetes] removed: client stopped, its routes withdrawn");
            return;
        };
        match crate::kubernetes::Running::start(&k, &self.rib).await {
            Ok(running) => self.kube = Some(running),
            Err(e) => {
                error!("[kubernetes]: {e}: client stopped, its routes withdrawn");
                let _ = self.rib.send(RibInput::KubernetesSettings(None)).await;
            }
        }
    }

    /// `show kubernetes`: the client's status, then the routes it feeds.
    async fn show_kubernetes(&self, replies: mpsc::Sender<Reply>) {
        #[cfg(feature = "kubernetes")]
        let lines: Vec<Reply> = match &self.kube {
            None => {
                vec![Reply::Error { message: format!("no [kubernetes] section in {}", self.config_path.display()) }]
            }
            Some(k) => {
                let status = Reply::Kubernetes(Box::new(k.status()));
                let (tx, rx) = oneshot::channel();
                let routes = match self.rib.send(RibInput::ShowKubernetes { reply: tx }).await {
                    Ok(()) => tokio::time::timeout(REPLY_TIMEOUT, rx).await.ok().and_then(Result::ok),
                    Err(_) => None,
                };
                match routes {
                    Some(routes) => std::iter::once(status)
                        .chain(routes.into_iter().map(|r| Reply::KubernetesRoute(Box::new(r))))
                        .chain([Reply::End])
                        .collect(),
                    None => vec![Reply::Error { message: "the RIB did not answer".into() }],
                }
            }
        };
        #[cfg(not(feature = "kubernetes"))]
        let lines = vec![Reply::Error { message: NO_KUBERNETES_FEATURE.into() }];
        // Sent by a task of its own: a slow reader never holds up the supervisor.
        spawn_lines(replies, lines);
    }

    /// `why`: the engine's story of the route, with what only the configuration
    /// knows (RFC 8212 defaults) going in, and the configured neighbors without a
    /// session added to its list.
    async fn why(&self, target: String, replies: mpsc::Sender<Reply>) {
        let parsed = match (target.parse::<Prefix>(), target.parse::<IpAddr>()) {
            (_, Ok(a)) => Ok(PrefixOrAddress::Address(a)),
            (Ok(p), _) => Ok(PrefixOrAddress::Prefix(p)),
            (Err(e), _) if target.contains('/') => Err(e),
            _ => Err(format!("{target:?} is neither a prefix nor an address")),
        };
        let target_parsed = match parsed {
            Ok(t) => t,
            Err(message) => {
                send_reply(&replies, Reply::Error { message }).await;
                return;
            }
        };
        let config = &self.config;
        let settings_of = |a: IpAddr| config.peer_for(a).map(|m| m.settings());
        let addresses: BTreeSet<IpAddr> =
            config.neighbors.iter().map(|n| n.address).chain(self.peers.keys().copied()).collect();
        let (mut rfc8212_export, mut rfc8212_import) = (Vec::new(), Vec::new());
        for &a in &addresses {
            let Some(s) = settings_of(a) else { continue };
            if s.effective_export(&config.global).is_rfc8212_deny() {
                rfc8212_export.push(a);
            }
            if s.effective_import(&config.global).is_rfc8212_deny() {
                rfc8212_import.push(a);
            }
        }
        let query = WhyQuery { target: target_parsed, text: target, rfc8212_export, rfc8212_import };
        let (tx, rx) = oneshot::channel();
        let report = match self.rib.send(RibInput::Why { query: Box::new(query), reply: tx }).await {
            Ok(()) => tokio::time::timeout(REPLY_TIMEOUT, rx).await.ok().and_then(Result::ok),
            Err(_) => None,
        };
        let Some(mut report) = report else {
            send_reply(&replies, Reply::Error { message: "the RIB did not answer".into() }).await;
            return;
        };
        // Configured neighbors the engine never saw: no session yet.
        for n in &config.neighbors {
            if !report.peers.iter().any(|p| p.address == n.address) {
                let reason = if n.shutdown { "administratively down" } else { NOT_ESTABLISHED };
                report.peers.push(WhyPeer {
                    address: n.address,
                    sent: false,
                    reason: Some(reason.into()),
                    export: None,
                    drained: false,
                });
            }
        }
        // A neighbor without a session: its state and what ended the last one (a
        // NOTIFICATION such as Maximum Number of Prefixes Reached, a hold-down).
        let summaries: HashMap<IpAddr, NeighborSummary> =
            self.summaries().await.into_iter().chain(self.remembered_summaries()).map(|s| (s.address, s)).collect();
        for p in report.peers.iter_mut().filter(|p| p.reason.as_deref() == Some(NOT_ESTABLISHED)) {
            let Some(s) = summaries.get(&p.address) else { continue };
            let detail = match (&s.last_error, s.admin_down) {
                (_, true) => format!("{NOT_ESTABLISHED} ({}, administratively down)", s.state),
                (Some(e), false) => format!("{NOT_ESTABLISHED} ({}; last error: {e})", s.state),
                (None, false) => format!("{NOT_ESTABLISHED} ({})", s.state),
            };
            p.reason = Some(detail);
        }
        report.peers.sort_by_key(|p| p.address);
        let lines = [Reply::Why(Box::new(report)), Reply::End];
        spawn_lines(replies, lines);
    }

    /// Hands a neighbor its new policies.
    async fn update_policies(&self, addr: IpAddr, policies: PeerPolicies) {
        let PeerPolicies { import, export, rfc8212_notice } = policies;
        let update = PolicyUpdate { import, export, rfc8212_notice };
        if let Some(p) = self.peers.get(&addr) {
            let _ = p.tx.send(PeerCmd::Policies(Box::new(update))).await;
        }
    }

    /// Stops these neighbors with Cease and the subcode, and forgets them: every Stop is
    /// sent first, then the replies are awaited together, at most 5 s in all.
    async fn stop_peers(&mut self, stops: Vec<(IpAddr, Cease)>) {
        let mut waits = Vec::new();
        for (addr, subcode) in stops {
            if let Some(p) = self.peers.remove(&addr) {
                let (tx, rx) = oneshot::channel();
                if p.tx.send(PeerCmd::Stop(StopMode::Cease(subcode), tx)).await.is_ok() {
                    waits.push(rx);
                }
            }
        }
        if tokio::time::timeout(Duration::from_secs(5), futures_join(waits)).await.is_err() {
            warn!("some neighbors did not stop within 5 s");
        }
    }
}

#[cfg(not(feature = "kubernetes"))]
const NO_KUBERNETES_FEATURE: &str =
    "this bgp-daemon was built without the `kubernetes` cargo feature: [kubernetes] needs it";

/// Why this build cannot run `config`: `[kubernetes]` without the `kubernetes` feature.
pub fn kubernetes_unsupported(config: &Config) -> Option<&'static str> {
    #[cfg(not(feature = "kubernetes"))]
    if config.kubernetes.is_some() {
        return Some(NO_KUBERNETES_FEATURE);
    }
    let _ = config;
    None
}

/// Installs (or, with `install` false, removes) the TCP-MD5 keys of every neighbor and
/// range of `config` whose family matches the listener's.
fn set_md5_keys(listener: &TcpListener, addr: SocketAddr, config: &Config, install: bool) -> std::io::Result<()> {
    for n in config.neighbors.iter().filter(|n| n.address.is_ipv6() == addr.is_ipv6()) {
        if let Some(key) = &n.settings.password {
            net::set_md5(listener, n.address, None, if install { key } else { "" })?;
        }
    }
    for r in config.neighbor_ranges.iter().filter(|r| r.prefix.addr().is_ipv6() == addr.is_ipv6()) {
        if let Some(key) = &r.settings.password {
            net::set_md5(listener, r.prefix.network(), Some(r.prefix.prefix_len()), if install { key } else { "" })?;
        }
    }
    Ok(())
}

/// Parses `show routes` arguments into a query for the RIB task.
fn route_query(
    prefix: Option<String>,
    neighbor: Option<IpAddr>,
    direction: Option<RouteDirection>,
    family: Option<String>,
) -> Result<RouteQuery, String> {
    let prefix = match prefix {
        None => None,
        Some(text) if text.contains('/') => Some(PrefixOrAddress::Prefix(text.parse::<Prefix>()?)),
        Some(text) => Some(PrefixOrAddress::Address(
            text.parse::<IpAddr>().map_err(|_| format!("{text:?} is neither a prefix nor an address"))?,
        )),
    };
    let family = match family.as_deref() {
        None => None,
        Some("ipv4") | Some("ipv4-unicast") => Some(Family::IPV4_UNICAST),
        Some("ipv6") | Some("ipv6-unicast") => Some(Family::IPV6_UNICAST),
        Some(other) => return Err(format!("unknown family {other:?} (ipv4 or ipv6)")),
    };
    let neighbor = match (neighbor, direction) {
        (Some(a), Some(d)) => Some((a, d)),
        (None, None) => None,
        (Some(_), None) => return Err("--neighbor needs --received or --advertised".into()),
        (None, Some(_)) => return Err("--received and --advertised need --neighbor".into()),
    };
    Ok(RouteQuery { prefix, neighbor, family })
}

/// How long, at most, our tables wait after a restart for the peers' End-of-RIB
/// (BIRD and FRR default their selection deferral to a similar bound).
const RESTART_DEFERRAL: Duration = Duration::from_secs(60);

/// The restart marker lives beside the control socket (the daemon's run directory).
fn restart_marker(control_socket: &Path) -> PathBuf {
    control_socket.with_file_name("graceful-restart")
}

/// The peers of the previous run, when the marker says this start is a restart: it
/// exists and was written within the restart time (the previous run rewrote it every
/// few seconds until it stopped gracefully or died).
fn read_restart_marker(path: &Path, restart_time: Duration) -> Option<Vec<IpAddr>> {
    let age = std::fs::metadata(path).ok()?.modified().ok()?.elapsed().unwrap_or_default();
    if age > restart_time {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

impl Supervisor {
    /// What a reload changes beyond `apply_reload`: remembered dynamic neighbors no
    /// range holds any more are forgotten, and the listeners' GTSM follows the
    /// neighbors.
    fn after_reload(&mut self) {
        let config = &self.config;
        self.remembered.retain(|a| is_dynamic(config, a));
        // Removed neighbors keep their history, now among the bounded unpinned rings.
        self.history.pin(config.neighbors.iter().map(|n| n.address));
        for (addr, listener) in &self.listeners {
            if let Err(e) = set_listener_gtsm(listener, *addr, &self.config) {
                warn!(%addr, error = %e, "updating GTSM on the listener");
            }
        }
    }
}

fn is_dynamic(config: &Config, address: IpAddr) -> bool {
    config.range_for(address).is_some() && !config.neighbors.iter().any(|n| n.address == address)
}

/// How a signal stops the daemon: `global.on_stop` as last loaded (a reload may
/// change it).
fn on_stop(config: &Config) -> StopMode {
    match config.global.on_stop {
        // After its drain (see `Supervisor::signalled`).
        OnStop::GracefulRestart | OnStop::DrainThenGracefulRestart => StopMode::GracefulRestart,
        OnStop::Shutdown => StopMode::Shutdown(None),
    }
}

impl Supervisor {
    /// SIGTERM or SIGINT: how to stop now, or `None` when a drain comes first (it
    /// ends at `stop_drain`). A second signal during the drain stops at once.
    async fn signalled(&mut self, stop_drain: &mut Option<tokio::time::Instant>) -> Option<StopMode> {
        if stop_drain.is_some() {
            info!("second signal during the drain: stopping now");
            return Some(on_stop(&self.config));
        }
        if self.config.global.on_stop != OnStop::DrainThenGracefulRestart {
            return Some(on_stop(&self.config));
        }
        let time = self.config.global.drain_time;
        *stop_drain = Some(tokio::time::Instant::now() + time);
        self.drain_before_stop(time).await;
        None
    }
}

/// Kernel update batches (of up to `kernel::reader::BATCH`) and FIB answer batches
/// queued for the RIB task.
const KERNEL_QUEUE: usize = 64;

/// Starts the kernel reader (its first full dump is on its way to the RIB task when
/// this returns) and the FIB writer. Returns the RIB task's ends and how many routes
/// of ours were in the kernel at start: stale, replaced as routes come back, swept
/// after the restart. A daemon that cannot read or write the kernel still routes: it
/// logs why, and imports, tracks and installs nothing.
async fn start_kernel(k: &bgp_core::config::Kernel) -> (rib_task::KernelLink, usize) {
    let (updates_tx, updates) = mpsc::channel(KERNEL_QUEUE);
    let ours = match kernel::reader::spawn_reader(k.table, k.protocol, updates_tx).await {
        Ok(ours) => ours,
        Err(e) => {
            error!(error = %e, "cannot read the kernel's routing tables: no [[kernel.import]] routes, no next-hop tracking");
            Vec::new()
        }
    };
    let found = ours.len();
    if found > 0 {
        info!(
            routes = found,
            table = k.table,
            protocol = k.protocol,
            "routes of ours in the kernel from before the start: kept until the restart is over"
        );
    }
    let (results_tx, results) = mpsc::channel(KERNEL_QUEUE);
    let settings = kernel::fib::FibSettings { table: k.table, protocol: k.protocol, metric: k.metric };
    let fib = match kernel::fib::spawn_writer(settings, ours, results_tx) {
        Ok(fib) => fib,
        Err(e) => {
            error!(error = %e, "cannot write to the kernel's routing tables: nothing is installed");
            mpsc::channel(1).0
        }
    };
    (rib_task::KernelLink { updates, fib, results }, found)
}

/// How long a stop waits for the kernel to remove our routes (a million take seconds).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// How often the restart marker is rewritten: its age tells the next start whether
/// it restarts within the restart time.
const MARKER_INTERVAL: Duration = Duration::from_secs(5);

/// Writes the peers that negotiated graceful restart (as the RIB reports them) to the
/// restart marker: at once when they change, and every few seconds to keep it fresh,
/// so that a start after a crash or a graceful stop knows whom to wait for.
async fn keep_restart_marker(path: PathBuf, mut peers: tokio::sync::watch::Receiver<Vec<IpAddr>>) {
    let mut touch = tokio::time::interval(MARKER_INTERVAL);
    loop {
        tokio::select! {
            _ = touch.tick() => {}
            changed = peers.changed() => if changed.is_err() { return },
        }
        let text: String = peers.borrow_and_update().iter().map(|a| format!("{a}\n")).collect();
        let tmp = path.with_extension("tmp");
        if let Err(e) = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, &path)) {
            tracing::debug!(path = %path.display(), error = %e, "cannot write the restart marker");
        }
    }
}

/// The daemon's resident memory (VmRSS), 0 if unknown.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

async fn futures_join(waits: Vec<oneshot::Receiver<()>>) {
    for w in waits {
        let _ = w.await;
    }
}

/// Sends one reply, and `End` after it unless it is an `Error`.
/// A BFD change waiting for its neighbor's queue, and that neighbor's backlog count.
type BacklogItem = (mpsc::Sender<PeerCmd>, BfdEvent, Arc<AtomicUsize>);

/// Delivers backlogged BFD changes one at a time, in the order they came: one task,
/// whatever the number of changes (not one task each).
async fn forward_bfd_events(mut backlog: mpsc::Receiver<BacklogItem>) {
    while let Some((tx, event, count)) = backlog.recv().await {
        let _ = tx.send(PeerCmd::Bfd(Box::new(event))).await;
        count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Sends `lines` from a task of its own: a client that reads slowly never holds up the
/// supervisor (its socket drops it after a while).
fn spawn_lines(replies: mpsc::Sender<Reply>, lines: impl IntoIterator<Item = Reply> + Send + 'static)
where
    <Vec<Reply> as IntoIterator>::IntoIter: Send,
{
    let lines: Vec<Reply> = lines.into_iter().collect();
    tokio::spawn(async move {
        for line in lines {
            if replies.send(line).await.is_err() {
                break;
            }
        }
    });
}

async fn send_reply(replies: &mpsc::Sender<Reply>, reply: Reply) {
    let end = !matches!(reply, Reply::Error { .. });
    let _ = replies.send(reply).await;
    if end {
        let _ = replies.send(Reply::End).await;
    }
}

impl Supervisor {
    /// Where the peer is in a graceful or long-lived graceful restart: the RIB task's
    /// to say (`None` if it does not answer in time).
    async fn restart_phase(&self, address: IpAddr) -> Option<bgp_core::ctl::RestartPhaseRow> {
        let (tx, rx) = oneshot::channel();
        self.rib.send(RibInput::RestartPhase { address, reply: tx }).await.ok()?;
        tokio::time::timeout(REPLY_TIMEOUT, rx).await.ok()?.ok()?
    }
}

/// `show neighbors ADDR` of a remembered dynamic neighbor without a task.
fn remembered_detail(summary: NeighborSummary) -> NeighborDetail {
    let hint = match summary.admin_down {
        true => format!("administratively down: bgpctl neighbor {} enable", summary.address),
        false => "its connections are refused until the max_prefixes hold-down ends".to_string(),
    };
    NeighborDetail {
        summary,
        local_address: None,
        remote_address: None,
        peer_router_id: None,
        peer_hostname: None,
        configured_hold_time: 0,
        hold_time: None,
        keepalive: None,
        families: Vec::new(),
        capabilities: Vec::new(),
        received: Default::default(),
        sent: Default::default(),
        sessions_established: 0,
        password: false,
        ttl_security: None,
        hint: Some(hint),
        long_lived_stale_time: 0,
        long_lived: Vec::new(),
        restart_phase: None,
        bfd: None,
    }
}

/// How often the supervisor looks after ended tasks, hold-downs and log counts.
const HOUSEKEEPING: Duration = Duration::from_secs(5);
/// Most dynamic neighbors remembered as shut down, and as held down.
const MAX_REMEMBERED: usize = 4096;

/// Why a connection from a remembered dynamic neighbor is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Shutdown,
    HoldDown { left: Duration },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Shutdown => f.write_str("administratively down (bgpctl neighbor ADDR shutdown)"),
            Refusal::HoldDown { left } => write!(f, "in max_prefixes hold-down for {} s more", left.as_secs() + 1),
        }
    }
}

impl Refusal {
    /// Tells the peer, as a configured neighbor's stopped state machine does:
    /// NOTIFICATION Cease (Administrative Shutdown, or Connection Rejected during a
    /// hold-down), written without waiting; then the connection is closed.
    fn notify(self, stream: &TcpStream) {
        let subcode = match self {
            Refusal::Shutdown => Cease::AdministrativeShutdown,
            Refusal::HoldDown { .. } => Cease::ConnectionRejected,
        };
        let n = Notification::new(ErrorCode::Cease(subcode), bytes::Bytes::new());
        let mut buf = bytes::BytesMut::new();
        if Message::Notification(n).encode(&CodecCtx::default(), &mut buf).is_ok() {
            let _ = stream.try_write(&buf);
        }
    }
}

/// What the supervisor remembers of dynamic neighbors (from a `neighbor_range`)
/// across the end of their tasks; both bounded by [`MAX_REMEMBERED`].
#[derive(Default)]
struct Remembered {
    /// `bgpctl neighbor ADDR shutdown`: until `enable`, or a reload after which no
    /// range holds the address (or it became a configured neighbor).
    shutdown: BTreeSet<IpAddr>,
    /// max_prefixes hold-downs, until they end.
    hold_down: BTreeMap<IpAddr, Instant>,
}

impl Remembered {
    /// `false` when the memory is full.
    fn shut_down(&mut self, address: IpAddr) -> bool {
        if self.shutdown.len() >= MAX_REMEMBERED && !self.shutdown.contains(&address) {
            return false;
        }
        self.shutdown.insert(address);
        true
    }

    /// Whether the address was shut down.
    fn enable(&mut self, address: IpAddr) -> bool {
        self.shutdown.remove(&address)
    }

    /// When full, the hold-down that ends first is forgotten to make room.
    fn hold(&mut self, address: IpAddr, until: Instant, now: Instant) {
        self.expire(now);
        if self.hold_down.len() >= MAX_REMEMBERED && !self.hold_down.contains_key(&address) {
            if let Some(first) = self.hold_down.iter().min_by_key(|(_, t)| **t).map(|(a, _)| *a) {
                self.hold_down.remove(&first);
            }
        }
        self.hold_down.insert(address, until);
    }

    fn expire(&mut self, now: Instant) {
        self.hold_down.retain(|_, until| *until > now);
    }

    fn refuses(&self, address: IpAddr, now: Instant) -> Option<Refusal> {
        if self.shutdown.contains(&address) {
            return Some(Refusal::Shutdown);
        }
        let until = *self.hold_down.get(&address)?;
        (until > now).then(|| Refusal::HoldDown { left: until - now })
    }

    fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.shutdown.iter().chain(self.hold_down.keys()).copied()
    }

    /// Forgets the addresses `keep` says no longer belong to a range.
    fn retain(&mut self, keep: impl Fn(IpAddr) -> bool) {
        self.shutdown.retain(|a| keep(*a));
        self.hold_down.retain(|a, _| keep(*a));
    }
}

/// Rate limit of the log lines about refused connections, which any address can
/// cause: one line per address a minute, with a count of the lines left out logged
/// once a minute. At most [`LOG_ADDRESSES`] addresses are tracked; beyond them every
/// line is counted, not logged.
struct LogLimiter {
    last: HashMap<IpAddr, Instant>,
    suppressed: u64,
    since: Instant,
}

const LOG_EVERY: Duration = Duration::from_secs(60);
const LOG_ADDRESSES: usize = 1024;

impl LogLimiter {
    fn new(now: Instant) -> LogLimiter {
        LogLimiter { last: HashMap::new(), suppressed: 0, since: now }
    }

    /// Whether a line about `address` may be logged now.
    fn allow(&mut self, address: IpAddr, now: Instant) -> bool {
        let recent = |t: &Instant| now.duration_since(*t) < LOG_EVERY;
        if self.last.get(&address).is_some_and(recent) {
            self.suppressed += 1;
            return false;
        }
        if self.last.len() >= LOG_ADDRESSES && !self.last.contains_key(&address) {
            self.last.retain(|_, t| recent(t));
            if self.last.len() >= LOG_ADDRESSES {
                self.suppressed += 1;
                return false;
            }
        }
        self.last.insert(address, now);
        true
    }

    /// Once a minute: how many lines were left out, if any.
    fn report(&mut self, now: Instant) -> Option<u64> {
        if now.duration_since(self.since) < LOG_EVERY {
            return None;
        }
        self.since = now;
        self.last.retain(|_, t| now.duration_since(*t) < LOG_EVERY);
        Some(std::mem::take(&mut self.suppressed)).filter(|n| *n > 0)
    }
}

/// GTSM on a listening socket. Where some neighbor or range of the listener's family
/// uses GTSM, our SYN-ACKs leave with TTL 255; where all of them do, the listener
/// also drops packets below the minimum TTL of the most distant one, so the
/// handshake itself is protected (accepted connections then get their neighbor's own
/// minimum). Otherwise the minimum is 1: every packet passes.
fn set_listener_gtsm(listener: &TcpListener, addr: SocketAddr, config: &Config) -> std::io::Result<()> {
    let ipv6 = addr.is_ipv6();
    let hops: Vec<Option<u8>> = config
        .neighbors
        .iter()
        .filter(|n| n.address.is_ipv6() == ipv6)
        .map(|n| n.settings.ttl_security)
        .chain(
            config
                .neighbor_ranges
                .iter()
                .filter(|r| r.prefix.addr().is_ipv6() == ipv6)
                .map(|r| r.settings.ttl_security),
        )
        .collect();
    let all = hops.iter().all(Option::is_some);
    match hops.iter().flatten().max() {
        Some(&most) if all => net::set_gtsm(listener, ipv6, most),
        // A reload may have added a neighbor without GTSM: the minimum goes back to 1.
        _ => net::set_gtsm(listener, ipv6, 255),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpSocket;

    use bgp_core::ctl::events::Event;

    const GLOBAL: &str = "[global]\nasn = 65000\nrouter_id = \"10.0.0.1\"\nlisten = [\"127.0.0.1:1179\"]\n\
                          control_socket = \"/tmp/unused.sock\"\n";

    fn supervisor(body: &str) -> (Supervisor, mpsc::Receiver<RibInput>) {
        let config = bgp_core::config::parse("test.toml", &format!("{GLOBAL}{body}")).unwrap();
        let (rib, rib_rx) = mpsc::channel(1024);
        let sup = Supervisor::new(config, PathBuf::from("test.toml"), Vec::new(), rib, mpsc::channel(64));
        (sup, rib_rx)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A connection from `from` (any 127/8 address), as the supervisor gets it, and
    /// the peer's end.
    async fn connection(from: &str) -> (TcpStream, SocketAddr, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(ip(from), 0)).unwrap();
        let (peer, accepted) = tokio::join!(socket.connect(listener.local_addr().unwrap()), listener.accept());
        let (stream, remote) = accepted.unwrap();
        (stream, remote, peer.unwrap())
    }

    /// What the peer's end receives until the close: a NOTIFICATION's error code and
    /// subcode, or nothing.
    async fn notification(mut peer: TcpStream) -> Option<(u8, u8)> {
        let mut bytes = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), peer.read_to_end(&mut bytes)).await.unwrap().unwrap();
        (bytes.len() >= 21 && bytes[18] == 3).then(|| (bytes[19], bytes[20]))
    }

    fn closed_handle(dynamic: bool) -> PeerHandle {
        let (tx, _) = mpsc::channel(1);
        PeerHandle { tx, dynamic }
    }

    #[tokio::test]
    async fn a_configured_neighbor_whose_task_ended_is_started_again() {
        let (mut sup, _rib) = supervisor("[[neighbor]]\naddress = \"127.0.0.1\"\nasn = 65001\nport = 9\n");
        sup.peers.insert(ip("127.0.0.1"), closed_handle(false));
        // Noticed on its next connection, which the new task takes.
        let (stream, remote, _peer) = connection("127.0.0.1").await;
        sup.accepted(stream, remote).await;
        assert!(sup.peers.get(&ip("127.0.0.1")).is_some_and(|p| !p.tx.is_closed() && !p.dynamic));
        // Or by the periodic look.
        sup.peers.insert(ip("127.0.0.1"), closed_handle(false));
        sup.housekeeping();
        assert!(sup.peers.get(&ip("127.0.0.1")).is_some_and(|p| !p.tx.is_closed()));
    }

    const RANGE: &str = "[[neighbor_range]]\nprefix = \"127.0.0.0/8\"\nasn = 65001\n";

    /// A dynamic neighbor's history outlives its task; an address no neighbor or range
    /// has is an error, not an empty history.
    #[tokio::test]
    async fn the_event_history_outlives_a_dynamic_neighbors_task() {
        let (mut sup, _rib) = supervisor(RANGE);
        let a = ip("127.0.0.7");
        let (stream, remote, peer) = connection("127.0.0.7").await;
        sup.accepted(stream, remote).await;
        let replies = command(&mut sup, Command::NeighborShutdown { address: a, message: Some("bye".into()) }).await;
        assert!(matches!(&replies[..], [Reply::Done { .. }, Reply::End]), "{replies:?}");
        // Our OPEN, then the Cease; the connection closes.
        let mut peer = peer;
        let mut bytes = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), peer.read_to_end(&mut bytes)).await.unwrap().unwrap();
        drop(peer);
        // The task ends with its session; the supervisor forgets it.
        tokio::time::timeout(Duration::from_secs(5), async {
            while !sup.peers.get(&a).is_none_or(|p| p.tx.is_closed()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the dynamic neighbor's task ends");
        sup.peers.remove(&a);

        let events: Vec<_> = command(&mut sup, Command::ShowEvents { neighbor: Some(a), since_seconds: Some(60) })
            .await
            .into_iter()
            .filter_map(|r| match r {
                Reply::Event(e) => Some(e.event),
                _ => None,
            })
            .collect();
        let sent = events.iter().find_map(|e| match e {
            Event::NotificationSent { notification, .. } => Some(notification.clone()),
            _ => None,
        });
        let sent = sent.unwrap_or_else(|| panic!("{events:?}"));
        assert_eq!((sent.code, sent.subcode, sent.message.as_deref()), (6, 2, Some("bye")));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::StateChanged { cause: Some(c), .. } if c == "administrative shutdown")),
            "{events:?}"
        );
        // Merged with every neighbor's, and --since 0 s leaves out what is older.
        let all = command(&mut sup, Command::ShowEvents { neighbor: None, since_seconds: None }).await;
        assert_eq!(all.len(), events.len() + 1, "{all:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let none = command(&mut sup, Command::ShowEvents { neighbor: None, since_seconds: Some(0) }).await;
        assert!(matches!(&none[..], [Reply::End]), "{none:?}");

        let outside =
            command(&mut sup, Command::ShowEvents { neighbor: Some(ip("10.9.9.9")), since_seconds: None }).await;
        assert!(matches!(&outside[..], [Reply::Error { message }] if message == "no neighbor 10.9.9.9"), "{outside:?}");
    }

    #[tokio::test]
    async fn a_dynamic_neighbor_held_down_stays_refused_after_its_task_ended() {
        let (mut sup, _rib) = supervisor(RANGE);
        let a = ip("127.0.0.5");
        // Its task ended while held down; the event is still queued when the next
        // connection comes.
        sup.peers.insert(a, closed_handle(true));
        let gone = PeerEvent::Gone { address: a, hold_down_until: Some(Instant::now() + Duration::from_secs(60)) };
        sup.events_tx.send(gone).await.unwrap();
        let (stream, remote, peer) = connection("127.0.0.5").await;
        sup.accepted(stream, remote).await;
        assert!(!sup.peers.contains_key(&a), "no task for a neighbor held down");
        assert_eq!(notification(peer).await, Some((6, 5)), "Cease / Connection Rejected");
        let shown = sup.remembered_summaries();
        assert!(shown.len() == 1 && shown[0].last_error.as_deref().unwrap().contains("hold-down"), "{shown:?}");
        // Once the hold-down is over, it is forgotten and the neighbor welcome.
        sup.remembered.hold_down.insert(a, Instant::now());
        sup.housekeeping();
        assert!(sup.remembered.hold_down.is_empty());
        let (stream, remote, _peer) = connection("127.0.0.5").await;
        sup.accepted(stream, remote).await;
        assert!(sup.peers.get(&a).is_some_and(|p| p.dynamic && !p.tx.is_closed()));
    }

    /// The replies to `command`, until none comes for 200 ms.
    pub(super) async fn command(sup: &mut Supervisor, command: Command) -> Vec<Reply> {
        let (replies, mut rx) = mpsc::channel(16);
        assert!(sup.control(ControlRequest { command, replies }).await.is_none());
        let mut all = Vec::new();
        while let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            all.push(r);
        }
        all
    }

    #[tokio::test]
    async fn a_dynamic_neighbor_shut_down_stays_down_until_enabled() {
        let (mut sup, _rib) = supervisor(RANGE);
        let a = ip("127.0.0.6");
        // Connected: its task takes the shutdown (and ends: its session is gone).
        let (stream, remote, _peer) = connection("127.0.0.6").await;
        sup.accepted(stream, remote).await;
        let replies = command(&mut sup, Command::NeighborShutdown { address: a, message: None }).await;
        assert!(matches!(&replies[..], [Reply::Done { .. }, Reply::End]), "{replies:?}");
        sup.peers.insert(a, closed_handle(true));
        sup.events_tx.send(PeerEvent::Gone { address: a, hold_down_until: None }).await.unwrap();
        let (stream, remote, peer) = connection("127.0.0.6").await;
        sup.accepted(stream, remote).await;
        assert!(!sup.peers.contains_key(&a));
        assert_eq!(notification(peer).await, Some((6, 2)), "Cease / Administrative Shutdown");
        let shown = command(&mut sup, Command::ShowNeighbors { address: None }).await;
        assert!(
            matches!(&shown[..], [Reply::Neighbor(n), Reply::End] if n.address == a && n.admin_down && n.dynamic),
            "{shown:?}"
        );
        let replies = command(&mut sup, Command::NeighborEnable { address: a }).await;
        assert!(matches!(&replies[..], [Reply::Done { .. }, Reply::End]), "{replies:?}");
        let (stream, remote, _peer) = connection("127.0.0.6").await;
        sup.accepted(stream, remote).await;
        assert!(sup.peers.get(&a).is_some_and(|p| p.dynamic && !p.tx.is_closed()));
        // An address of the range can be shut down before it connects; a reload that
        // takes the range away forgets it.
        let b = ip("127.0.0.7");
        let replies = command(&mut sup, Command::NeighborShutdown { address: b, message: None }).await;
        assert!(matches!(&replies[..], [Reply::Done { .. }, Reply::End]), "{replies:?}");
        assert_eq!(sup.remembered.refuses(b, Instant::now()), Some(Refusal::Shutdown));
        sup.config = bgp_core::config::parse("test.toml", GLOBAL).unwrap();
        sup.after_reload();
        assert_eq!(sup.remembered.refuses(b, Instant::now()), None);
    }

    #[test]
    fn remembered_hold_downs_are_bounded() {
        let mut r = Remembered::default();
        let now = Instant::now();
        for i in 0..MAX_REMEMBERED as u32 + 10 {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            r.hold(a, now + Duration::from_secs(60) + Duration::from_millis(i.into()), now);
        }
        assert_eq!(r.hold_down.len(), MAX_REMEMBERED);
        // The ones ending first made room.
        assert_eq!(r.refuses(ip("10.0.0.0"), now), None);
        assert!(r.refuses(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + MAX_REMEMBERED as u32)), now).is_some());
        r.expire(now + Duration::from_secs(3600));
        assert!(r.hold_down.is_empty());
    }

    #[test]
    fn refusal_lines_are_one_per_address_a_minute_and_bounded() {
        let t0 = Instant::now();
        let mut log = LogLimiter::new(t0);
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        assert!(log.allow(a, t0));
        assert!(!log.allow(a, t0 + Duration::from_secs(1)));
        assert!(log.allow(b, t0 + Duration::from_secs(1)));
        assert!(!log.allow(a, t0 + Duration::from_secs(59)));
        assert_eq!(log.report(t0 + Duration::from_secs(30)), None, "not a minute yet");
        assert_eq!(log.report(t0 + Duration::from_secs(60)), Some(2));
        assert_eq!(log.report(t0 + Duration::from_secs(120)), None, "nothing left out since");
        assert!(log.allow(a, t0 + Duration::from_secs(61)));
        // Many addresses: at most LOG_ADDRESSES are tracked, the rest only counted.
        let t1 = t0 + Duration::from_secs(600);
        let logged = (0..LOG_ADDRESSES as u32 * 3)
            .filter(|i| log.allow(IpAddr::V4(std::net::Ipv4Addr::from(0xc633_6400 + i)), t1))
            .count();
        assert_eq!(logged, LOG_ADDRESSES);
        assert!(log.last.len() <= LOG_ADDRESSES);
        assert_eq!(log.report(t1), Some(LOG_ADDRESSES as u64 * 2));
    }

    /// Whether a plain connection (TTL 64) reaches `listener` within half a second.
    async fn plain_connect_reaches(listener: &TcpListener) -> bool {
        let addr = listener.local_addr().unwrap();
        tokio::select! {
            _ = listener.accept() => true,
            _ = async {
                let _c = TcpStream::connect(addr).await;
                tokio::time::sleep(Duration::from_secs(5)).await;
            } => false,
            _ = tokio::time::sleep(Duration::from_millis(500)) => false,
        }
    }

    #[tokio::test]
    async fn gtsm_guards_the_listener_when_every_neighbor_uses_it() {
        let listener = net::listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let gtsm = "[[neighbor]]\naddress = \"127.0.0.2\"\nasn = 65001\nttl_security = 1\n";
        let (all, _rib) = supervisor(&format!("{gtsm}{RANGE}ttl_security = 2\n"));
        set_listener_gtsm(&listener, addr, &all.config).unwrap();
        assert!(!plain_connect_reaches(&listener).await, "a SYN with TTL 64 must be dropped");
        let opts =
            net::ConnectOptions { local: None, password: None, ttl_security: Some(1), timeout: Duration::from_secs(2) };
        let (conn, acc) = tokio::join!(net::connect(addr, opts), listener.accept());
        conn.expect("TTL 255 passes");
        acc.unwrap();
        // One neighbor without GTSM (a reload added it): the listener lets all in.
        let (mixed, _rib) = supervisor(&format!("{gtsm}{RANGE}"));
        set_listener_gtsm(&listener, addr, &mixed.config).unwrap();
        assert!(plain_connect_reaches(&listener).await);
    }
}
