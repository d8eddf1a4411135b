//! Spawns and owns the daemon's tasks, routes accepted connections to neighbors,
//! answers the control socket, and stops everything on a signal.
//!
//! Every task and channel of the daemon (all channels bounded unless marked):
//!
//! ```text
//!  listener task (per listen address) ──(TcpStream)─────┐
//!  control socket task ──(ControlRequest)───────────────┤
//!  peer tasks ──(PeerEvent: dynamic neighbor gone)──────┤
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
//! Reader and writer tasks are one pair per TCP connection of a peer. The RIB task is
//! the only owner of routing state; see rib_task.rs and bgp-core's `rib::engine`.
//!
//! Connections from a configured neighbor's address go to its task; from a
//! `neighbor_range`, a dynamic neighbor task is created on first contact (up to the
//! range's limit) and ends when its session does; anything else is closed at once.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bgp_core::config::{Config, DynamicAction, OnStop, PeerPolicies, RoutingChange};
use bgp_core::ctl::{Command, NeighborSummary, Reply, RouteDirection};
use bgp_core::prefix::Prefix;
use bgp_core::types::Family;
use bgp_core::wire::Cease;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::control::{self, ControlRequest};
use crate::net;
use crate::peer::{self, NeighborSpec, PeerCmd, PeerEvent, PeerHandle, PolicyUpdate, StopMode};
use crate::rib_task::{self, RibInput};
use bgp_core::rib::restart::Deferral;
use bgp_core::rib::show::{PrefixOrAddress, RouteQuery};

const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

struct Supervisor {
    config: Config,
    config_path: PathBuf,
    listeners: Vec<(SocketAddr, Arc<TcpListener>)>,
    rib: mpsc::Sender<RibInput>,
    /// While we restart (RFC 4724), OPENs carry the restart and forwarding bits.
    restart_until: Option<Instant>,
    peers: BTreeMap<IpAddr, PeerHandle>,
    events_tx: mpsc::Sender<PeerEvent>,
}

pub async fn run(config: Config, config_path: PathBuf) -> anyhow::Result<()> {
    let global = config.global.clone();
    let socket = control::bind(&global.control_socket)
        .with_context(|| format!("control socket {}", global.control_socket.display()))?;
    let (control_tx, mut control_rx) = mpsc::channel(16);
    let control_task = tokio::spawn(control::serve(socket, control_tx));

    let (accept_tx, mut accept_rx) = mpsc::channel::<(TcpStream, SocketAddr)>(64);
    let mut listeners = Vec::new();
    let mut listen_tasks = Vec::new();
    for &addr in &global.listen {
        let listener = Arc::new(net::listen(addr).with_context(|| format!("listening on {addr}"))?);
        set_md5_keys(&listener, addr, &config, true).with_context(|| format!("TCP-MD5 keys on {addr}"))?;
        let gtsm =
            config.neighbors.iter().map(|n| &n.settings).chain(config.neighbor_ranges.iter().map(|r| &r.settings));
        if gtsm.clone().any(|s| s.ttl_security.is_some()) {
            net::set_max_ttl(&*listener, addr.is_ipv6()).with_context(|| format!("TTL 255 on {addr} (GTSM)"))?;
        }
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

    let (events_tx, mut events_rx) = mpsc::channel(64);
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
    let rib = rib_task::spawn(rib_task::rib_config(&global), deferral, restart_peers);
    let mut sup = Supervisor { config, config_path, listeners, rib, peers: BTreeMap::new(), events_tx, restart_until };
    let _ = sup.rib.send(RibInput::Announce(sup.config.announcements.clone())).await;
    for n in &sup.config.neighbors {
        let spec = sup.restarting(NeighborSpec::configured(n, &sup.config));
        let handle = peer::spawn(spec, sup.rib.clone(), sup.events_tx.clone());
        sup.peers.insert(n.address, handle);
    }
    info!(
        asn = global.asn, router_id = %global.router_id,
        neighbors = sup.config.neighbors.len(), ranges = sup.config.neighbor_ranges.len(), "bgp-daemon started"
    );

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
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
            _ = sigterm.recv() => break on_stop(&sup.config),
            _ = sigint.recv() => break on_stop(&sup.config),
            _ = sighup.recv() => {
                let _ = sup.reload().await;
            }
            Some((stream, remote)) = accept_rx.recv() => sup.accepted(stream, remote).await,
            Some(PeerEvent::Gone(addr)) = events_rx.recv() => {
                if sup.peers.get(&addr).is_some_and(|p| p.dynamic && p.tx.is_closed()) {
                    sup.peers.remove(&addr);
                }
            }
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
    sup.stop(stop_mode).await;
    control_task.abort();
    // Dropping the aborted task drops the socket, which removes its file.
    let _ = control_task.await;
    info!("bgp-daemon stopped");
    Ok(())
}

impl Supervisor {
    /// Within the restart window, a neighbor's graceful restart capability says we
    /// restarted (R bit) and kept forwarding (F bit: the forwarding of a homelab's routes
    /// is the nodes' and the router's, which our restart does not touch).
    fn restarting(&self, mut spec: NeighborSpec) -> NeighborSpec {
        if self.restart_until.is_some_and(|t| Instant::now() < t) {
            if let Some(gr) = &mut spec.fsm.graceful_restart {
                gr.restarting = true;
                gr.families.iter_mut().for_each(|f| f.forwarding_preserved = true);
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
                    // A dynamic neighbor whose task just ended: a new one takes over.
                    self.peers.remove(&ip);
                    stream = back;
                }
                Err(_) => {
                    // Never wait on one neighbor: its queue is full, so the connection
                    // is closed and the peer will try again.
                    warn!(%remote, "neighbor busy: connection closed");
                    return;
                }
            }
        }
        let Some(range) = self.config.range_for(ip) else {
            info!(%remote, "connection from an address that is no neighbor: closed");
            return;
        };
        let in_range = self.peers.iter().filter(|(a, p)| p.dynamic && range.prefix.contains(*a)).count();
        if in_range >= range.limit as usize {
            warn!(%remote, prefix = %range.prefix, limit = range.limit, "neighbor_range is full: connection closed");
            return;
        }
        info!(%remote, prefix = %range.prefix, "dynamic neighbor");
        let handle = peer::spawn(
            self.restarting(NeighborSpec::dynamic(range, ip, &self.config)),
            self.rib.clone(),
            self.events_tx.clone(),
        );
        let _ = handle.tx.try_send(PeerCmd::Accepted(stream));
        self.peers.insert(ip, handle);
    }

    /// Answers one control request; returns a stop mode when the daemon is to stop.
    async fn control(&mut self, req: ControlRequest) -> Option<StopMode> {
        let replies = req.replies;
        let unknown = |a: IpAddr| Reply::Error { message: format!("no neighbor {a}") };
        let busy = |a: IpAddr| Reply::Error { message: format!("neighbor {a} is busy: try again") };
        match req.command {
            Command::ShowNeighbors { address: None } => {
                for s in self.summaries().await {
                    let _ = replies.send(Reply::Neighbor(s)).await;
                }
                let _ = replies.send(Reply::End).await;
            }
            Command::ShowNeighbors { address: Some(a) } => {
                let Some(p) = self.peers.get(&a) else {
                    let _ = replies.send(unknown(a)).await;
                    return None;
                };
                let (tx, rx) = oneshot::channel();
                let reply = match p.tx.try_send(PeerCmd::Detail(tx)) {
                    Ok(()) => match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
                        Ok(Ok(d)) => Reply::NeighborDetail(Box::new(d)),
                        _ => Reply::Error { message: format!("neighbor {a} did not answer") },
                    },
                    Err(mpsc::error::TrySendError::Full(_)) => busy(a),
                    Err(mpsc::error::TrySendError::Closed(_)) => unknown(a),
                };
                let end = !matches!(reply, Reply::Error { .. });
                let _ = replies.send(reply).await;
                if end {
                    let _ = replies.send(Reply::End).await;
                }
            }
            Command::NeighborReset { address } => {
                self.neighbor_command(address, PeerCmd::Reset, "reset", &replies).await
            }
            Command::NeighborRefresh { address } => {
                self.neighbor_command(address, PeerCmd::Refresh, "asked to send its routes again", &replies).await
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
                self.neighbor_command(address, PeerCmd::Shutdown(message), "shut down", &replies).await
            }
            Command::NeighborEnable { address } => {
                self.neighbor_command(address, PeerCmd::Enable, "enabled", &replies).await
            }
            Command::Reload => {
                let reply = match self.reload().await {
                    Ok(message) => Reply::Done { message },
                    Err(message) => Reply::Error { message },
                };
                let ok = matches!(reply, Reply::Done { .. });
                let _ = replies.send(reply).await;
                if ok {
                    let _ = replies.send(Reply::End).await;
                }
            }
            Command::Shutdown { message } => {
                let _ = replies.send(Reply::Done { message: "bgp-daemon is shutting down".into() }).await;
                let _ = replies.send(Reply::End).await;
                return Some(StopMode::Shutdown(message));
            }
        }
        None
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

    async fn neighbor_command(&self, address: IpAddr, cmd: PeerCmd, done: &str, replies: &mpsc::Sender<Reply>) {
        let reply = match self.peers.get(&address).map(|p| p.tx.try_send(cmd)) {
            Some(Ok(())) => Reply::Done { message: format!("neighbor {address} {done}") },
            Some(Err(mpsc::error::TrySendError::Full(_))) => {
                Reply::Error { message: format!("neighbor {address} is busy: try again") }
            }
            _ => Reply::Error { message: format!("no neighbor {address}") },
        };
        let ok = matches!(reply, Reply::Done { .. });
        let _ = replies.send(reply).await;
        if ok {
            let _ = replies.send(Reply::End).await;
        }
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
                let handle = peer::spawn(spec, self.rib.clone(), self.events_tx.clone());
                self.peers.insert(n.address, handle);
            }
        }
        if let Some(announcements) = plan.announcements {
            let _ = self.rib.send(RibInput::Announce(announcements)).await;
        }
        let (added, removed) = (plan.added.len(), plan.removed.len());
        let changed = plan.restarted.len() + plan.shutdown.len();
        let message = format!(
            "reloaded {}: {added} added, {removed} removed, {changed} changed, {repolicied} with new policies",
            self.config_path.display()
        );
        info!("{message}");
        Ok((message, plan.routing))
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

/// How a signal stops the daemon: `global.on_stop` as last loaded (a reload may
/// change it).
fn on_stop(config: &Config) -> StopMode {
    match config.global.on_stop {
        OnStop::GracefulRestart => StopMode::GracefulRestart,
        OnStop::Shutdown => StopMode::Shutdown(None),
    }
}

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
