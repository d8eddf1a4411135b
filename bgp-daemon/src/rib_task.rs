//! The RIB task: drives bgp-core's routing [`Engine`], the only owner of routing
//! state. Peer tasks send it what their peers announce and when sessions come and go;
//! it hands the engine's encoded UPDATEs to each peer's writer queue.
//!
//! ```text
//!  peer tasks ──RibInput (bounded)──► RIB task ──Bytes──► each peer's writer queue
//!  supervisor ──RibInput (bounded)──►    │ Engine::process(now), poll_output, poll_timeout
//!  kernel reader ──KernelUpdates────►    ├──RibNotice──► a peer task (max_prefixes)
//!  FIB writer ──FibResults──────────►    ├──FibCmd (bounded)──► FIB writer (kernel/fib.rs)
//!                                        └──watch──► restart marker task (supervisor.rs)
//! ```
//!
//! All routing decisions are the engine's (bgp-core/src/rib/engine.rs, which states
//! the driver contract); this file only moves bytes and waits. It waits on inputs,
//! on the engine's deadline, and on writers, `show routes` readers and the FIB writer that
//! were full: a waiter task per full queue completes when that queue has room again (no
//! polling). FIB routes are taken from the engine only as fast as the FIB writer takes
//! them, so a prefix that changes while it waits costs one kernel write.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_core::config::{Announce, KernelImport};
use bgp_core::ctl::events::{self, RestartPhase};
use bgp_core::ctl::why::WhyReport;
#[cfg(feature = "kubernetes")]
use bgp_core::ctl::KubernetesRouteRow;
use bgp_core::ctl::{Reply, RestartPhaseRow, RibSummary};
use bgp_core::kernel::{FibResult, KernelUpdate};
#[cfg(feature = "kubernetes")]
use bgp_core::kubernetes::{plan::KubernetesSettings, KubeUpdate};
use bgp_core::policy::Policy;
use bgp_core::prefix::Prefix;
use bgp_core::rib::drain::{Drain, Drained};
use bgp_core::rib::dry_run::{DryRunInput, RouteDelta};
use bgp_core::rib::engine::{Engine, Event, Output, PeerCounts, PeerId, SessionUp};
use bgp_core::rib::kernel::KernelSettings;
use bgp_core::rib::restart::Deferral;
use bgp_core::rib::show::{DumpStep, PrefixOrAddress, RouteDump, RouteQuery};
use bgp_core::rib::why::WhyQuery;
use bgp_core::rib::RibConfig;
use bgp_core::types::Family;
use bgp_core::wire::Update;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::history::History;
use crate::kernel::fib::FibCmd;

/// Prefix and message counts of a peer, as the engine last reported them; the peer
/// task reads them for `show neighbors`. Only the RIB task writes them.
#[derive(Debug, Default)]
pub struct PeerCounters {
    pub received: AtomicU64,
    pub accepted: AtomicU64,
    pub advertised: AtomicU64,
    /// Messages the engine sent (UPDATEs with End-of-RIB, and ROUTE-REFRESH markers),
    /// which the peer task's state machine does not see.
    pub updates_sent: AtomicU64,
    pub refreshes_sent: AtomicU64,
}

impl PeerCounters {
    fn publish(&self, c: &PeerCounts) {
        self.received.store(c.received, Ordering::Relaxed);
        self.accepted.store(c.accepted, Ordering::Relaxed);
        self.advertised.store(c.advertised, Ordering::Relaxed);
        self.updates_sent.store(c.updates_sent, Ordering::Relaxed);
        self.refreshes_sent.store(c.refreshes_sent, Ordering::Relaxed);
    }
}

/// What the RIB tells a peer task.
#[derive(Debug)]
pub enum RibNotice {
    /// Over `max_prefixes` with the restart action: close with Cease / Maximum Number
    /// of Prefixes Reached for `family`, and start again after `after`.
    PrefixLimit { family: Family, limit: u32, after: Duration },
    /// Ask the peer for its routes again: the import policy changed, and the routes
    /// the old one refused were not kept.
    AskRefresh,
}

/// A peer task's end of an Established session.
pub struct PeerLink {
    pub writer: mpsc::Sender<Bytes>,
    pub counters: Arc<PeerCounters>,
    pub notices: mpsc::Sender<RibNotice>,
}

pub enum RibInput {
    PeerUp {
        session: Box<SessionUp>,
        link: PeerLink,
    },
    PeerDown {
        address: IpAddr,
        graceful: bool,
    },
    /// UPDATEs of one peer, in the order received (batched: one queue slot and one
    /// wakeup for up to `peer::UPDATE_BATCH` of them).
    Updates {
        address: IpAddr,
        updates: Vec<Update>,
    },
    /// The neighbor's policies changed (a reload).
    Policies {
        address: IpAddr,
        import: Arc<Policy>,
        export: Arc<Policy>,
    },
    /// The peer asked for our routes again (ROUTE-REFRESH).
    Refresh {
        address: IpAddr,
        family: Family,
    },
    /// The peer begins (BoRR) or ends (EoRR) re-sending its routes of a family.
    RefreshMarker {
        address: IpAddr,
        family: Family,
        begin: bool,
    },
    /// The configured `[[announce]]` routes (at start and on reload).
    Announce(Vec<Announce>),
    /// `global.multipath` and `global.always_compare_med` changed on reload.
    Routing {
        multipath: usize,
        always_compare_med: bool,
    },
    /// `show routes`: rows go to `replies`, then `End` (or one `Error`).
    ShowRoutes {
        query: RouteQuery,
        replies: mpsc::Sender<Reply>,
    },
    ShowSummary {
        reply: oneshot::Sender<RibSummary>,
    },
    /// `[kernel]` changed on reload (`table` and `protocol` cannot).
    Kernel(KernelSettings),
    /// `show fib`: rows, then `End` (or one `Error`).
    ShowFib {
        prefix: Option<PrefixOrAddress>,
        replies: mpsc::Sender<Reply>,
    },
    ShowNextHops {
        replies: mpsc::Sender<Reply>,
    },
    /// What the Kubernetes watchers saw (kubernetes/watch.rs), in order.
    #[cfg(feature = "kubernetes")]
    Kubernetes(Vec<KubeUpdate>),
    /// `[kubernetes]` at start or changed on reload; `None` when the section is gone:
    /// the Kubernetes source's routes are withdrawn.
    #[cfg(feature = "kubernetes")]
    KubernetesSettings(Option<KubernetesSettings>),
    /// `show kubernetes`: the routes of the Kubernetes source and what feeds them.
    #[cfg(feature = "kubernetes")]
    ShowKubernetes {
        reply: oneshot::Sender<Vec<KubernetesRouteRow>>,
    },
    /// The daemon stops for good (`bgpctl shutdown`, `on_stop = "shutdown"`): no more
    /// FIB routes; ours are removed from the kernel, and `done` says how many.
    FlushFib {
        done: oneshot::Sender<usize>,
    },
    /// `show neighbors ADDR`: where the peer is in a graceful or long-lived graceful
    /// restart.
    RestartPhase {
        address: IpAddr,
        reply: oneshot::Sender<Option<RestartPhaseRow>>,
    },
    /// Which neighbors are drained (RFC 8326; `bgpctl drain`/`undrain`, the drain of
    /// `on_stop = "drain-then-graceful-restart"`): the whole set. `reply`: the peers
    /// with a session whose state changed.
    Drain {
        drain: Drain,
        reply: oneshot::Sender<Vec<Drained>>,
    },
    /// A scrape of the metrics endpoint: the engine's counts (no walk of the table).
    Metrics {
        reply: oneshot::Sender<bgp_core::rib::metrics::RibMetrics>,
    },
    /// `why`: one route's story.
    Why {
        query: Box<WhyQuery>,
        reply: oneshot::Sender<WhyReport>,
    },
    /// `reload --dry-run`: the routes each Established peer would be sent or
    /// withdrawn under the new configuration (nothing is applied).
    DryRun {
        request: Box<DryRunRequest>,
        reply: oneshot::Sender<Vec<RouteDelta>>,
    },
}

/// What a reload would change for routing, owned for the trip to the RIB task (see
/// [`bgp_core::rib::dry_run::DryRunInput`]).
#[derive(Debug)]
pub struct DryRunRequest {
    pub policies: HashMap<IpAddr, (Arc<Policy>, Arc<Policy>)>,
    pub removed: HashSet<IpAddr>,
    pub announcements: Option<Vec<Announce>>,
    pub routing: Option<(usize, bool)>,
    pub kernel_import: Option<Vec<KernelImport>>,
}

/// The RIB task's ends of the kernel: the reader's updates, the FIB writer and its
/// answers.
pub struct KernelLink {
    pub updates: mpsc::Receiver<Vec<KernelUpdate>>,
    pub fib: mpsc::Sender<FibCmd>,
    pub results: mpsc::Receiver<Vec<FibResult>>,
}

/// Inputs queued from the peer tasks. A batch of UPDATEs carries at most
/// `peer::UPDATE_BATCH_ROUTES` routes (about 100 KB decoded), so this bounds that queue
/// to a few MB; a full queue makes peers wait.
const INPUT_QUEUE: usize = 32;
/// A decision round follows this many inputs, or inputs carrying this many routes,
/// whichever comes first: the round's change lists stay small.
const BATCH: usize = 256;
const BATCH_ROUTES: usize = 8192;
/// Prefixes a `show routes` visits per turn.
const DUMP_CHUNK: usize = 256;
/// FIB routes per command to the FIB writer: it writes them in a few netlink batches.
const FIB_CHUNK: usize = 1024;
/// Kernel update batches taken per turn.
const KERNEL_BATCHES: usize = 16;

/// A `show routes` or `show fib` being answered.
struct Dump {
    dump: Walk,
    replies: mpsc::Sender<Reply>,
    /// Replies the reader has not taken yet.
    pending: VecDeque<Reply>,
    done: bool,
    /// A waiter for room in `replies` is running.
    waiting: bool,
    id: u64,
}

enum Walk {
    Routes(RouteDump),
    /// The prefixes of `show fib` still to show.
    Fib(std::vec::IntoIter<Prefix>),
}

/// Queues that were full and now have room.
enum Wake {
    /// The writer of the peer's session number `.1` (it may have a newer one since).
    Writer(PeerId, u64),
    Reader(u64),
    Fib,
}

struct Driver {
    engine: Engine,
    /// Indexed by `PeerId`.
    links: Vec<Option<Link>>,
    dumps: Vec<Dump>,
    next_dump: u64,
    waiters: JoinSet<Wake>,
    restart_peers: watch::Sender<Vec<IpAddr>>,
    /// Numbers the sessions, so that a waiter of an old one is told apart.
    sessions: u64,
    fib: mpsc::Sender<FibCmd>,
    /// A waiter for room in `fib` is running.
    fib_waiting: bool,
    /// The daemon stops: nothing more goes to the kernel.
    fib_flushed: bool,
    /// The engine said to sweep our stale routes: done once what it queued for the
    /// kernel before is written, so no stale route goes before its replacement.
    sweep_due: bool,
    /// Where the engine's per-neighbor events go (`show events`).
    history: History,
}

struct Link {
    link: PeerLink,
    session: u64,
    /// A waiter for room in the writer is running.
    waiting: bool,
}

pub fn spawn(
    cfg: RibConfig,
    deferral: Option<Deferral>,
    restart_peers: watch::Sender<Vec<IpAddr>>,
    kernel: KernelSettings,
    link: KernelLink,
    history: History,
) -> mpsc::Sender<RibInput> {
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    let mut engine = Engine::new(cfg, deferral);
    engine.set_kernel(kernel);
    let KernelLink { updates, fib, results } = link;
    let driver = Driver {
        engine,
        links: Vec::new(),
        dumps: Vec::new(),
        next_dump: 0,
        waiters: JoinSet::new(),
        restart_peers,
        sessions: 0,
        fib,
        fib_waiting: false,
        fib_flushed: false,
        sweep_due: false,
        history,
    };
    tokio::spawn(driver.run(rx, updates, results));
    tx
}

impl Driver {
    async fn run(
        mut self,
        mut inputs: mpsc::Receiver<RibInput>,
        mut kernel: mpsc::Receiver<Vec<KernelUpdate>>,
        mut results: mpsc::Receiver<Vec<FibResult>>,
    ) {
        self.engine.process(Instant::now());
        self.outputs();
        loop {
            let deadline = self.engine.poll_timeout();
            let sleep = tokio::time::sleep_until(deadline.map_or_else(far, tokio::time::Instant::from_std));
            let dumping = self.dumps.iter().any(|d| !d.waiting);
            tokio::select! {
                input = inputs.recv() => {
                    let Some(input) = input else { return };
                    let mut routes = routes_in(&input);
                    self.handle(input);
                    for _ in 1..BATCH {
                        if routes >= BATCH_ROUTES {
                            break;
                        }
                        match inputs.try_recv() {
                            Ok(input) => {
                                routes += routes_in(&input);
                                self.handle(input);
                            }
                            Err(_) => break,
                        }
                    }
                }
                Some(updates) = kernel.recv() => {
                    self.engine.kernel(updates);
                    for _ in 1..KERNEL_BATCHES {
                        match kernel.try_recv() {
                            Ok(updates) => self.engine.kernel(updates),
                            Err(_) => break,
                        }
                    }
                }
                Some(answers) = results.recv() => {
                    self.engine.fib_results(answers);
                    while let Ok(answers) = results.try_recv() {
                        self.engine.fib_results(answers);
                    }
                }
                Some(Ok(wake)) = self.waiters.join_next(), if !self.waiters.is_empty() => self.wake(wake),
                _ = sleep, if deadline.is_some() => {}
                _ = std::future::ready(()), if dumping => {}
            }
            self.engine.process(Instant::now());
            self.outputs();
            self.publish_counts();
            self.dump_some();
            self.feed_fib();
        }
    }

    /// Hands the FIB writer what the engine has for it, as far as the writer has room;
    /// when it has none, a waiter wakes the task once it has.
    fn feed_fib(&mut self) {
        if self.fib_waiting || self.fib_flushed {
            return;
        }
        while self.engine.fib_queued() > 0 {
            let permit = match self.fib.try_reserve() {
                Ok(permit) => permit,
                Err(mpsc::error::TrySendError::Full(())) => {
                    self.fib_waiting = true;
                    let fib = self.fib.clone();
                    self.waiters.spawn(async move {
                        let _ = fib.reserve().await;
                        Wake::Fib
                    });
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(())) => return,
            };
            let routes = self.engine.poll_fib(FIB_CHUNK);
            if routes.is_empty() {
                break;
            }
            permit.send(FibCmd::Routes(routes));
        }
        if self.sweep_due && self.engine.fib_queued() == 0 {
            self.sweep_due = false;
            let (done, swept) = oneshot::channel();
            self.fib_command(FibCmd::Sweep(done));
            tokio::spawn(async move {
                if let Ok(n) = swept.await {
                    info!(routes = n, "stale kernel routes from before the start swept");
                }
            });
        }
    }

    /// A command for the FIB writer that must not be lost: sent from a task of its own
    /// when the queue is full, so the routing engine never waits.
    fn fib_command(&self, cmd: FibCmd) {
        if let Err(mpsc::error::TrySendError::Full(cmd)) = self.fib.try_send(cmd) {
            let fib = self.fib.clone();
            tokio::spawn(async move { fib.send(cmd).await });
        }
    }

    fn handle(&mut self, input: RibInput) {
        let now = Instant::now();
        match input {
            RibInput::PeerUp { session, link } => {
                let address = session.info.address;
                let id = self.engine.session_up(*session, now);
                let slot = id.0 as usize;
                if self.links.len() <= slot {
                    self.links.resize_with(slot + 1, || None);
                }
                self.sessions += 1;
                self.links[slot] = Some(Link { link, session: self.sessions, waiting: false });
                debug!(peer = %address, "session in the RIB");
            }
            RibInput::PeerDown { address, graceful } => {
                let Some(id) = self.engine.peer_id(address) else { return };
                self.engine.session_down(id, graceful, now);
                // Stale routes kept over a graceful restart still count.
                let counts = self.engine.counts(id).unwrap_or_default();
                if let Some(l) = self.link(id) {
                    l.link.counters.publish(&counts);
                }
                self.links[id.0 as usize] = None;
                if graceful && self.engine.peer_id(address).is_some() {
                    info!(peer = %address, "routes kept as stale (graceful restart)");
                }
            }
            RibInput::Updates { address, updates } => {
                if let Some(id) = self.engine.peer_id(address) {
                    self.engine.updates(id, &updates);
                }
            }
            RibInput::Policies { address, import, export } => {
                let Some(id) = self.engine.peer_id(address) else { return };
                let (import_again, export_again) = self.engine.set_policies(id, import, export);
                if import_again {
                    let c = self.engine.counts(id).unwrap_or_default();
                    info!(peer = %address, accepted = c.accepted, received = c.received, "import policy applied again");
                }
                if export_again {
                    info!(peer = %address, "export policy applied again");
                }
            }
            RibInput::Refresh { address, family } => {
                let Some(id) = self.engine.peer_id(address) else { return };
                if self.engine.refresh_request(id, family) {
                    debug!(peer = %address, %family, "route refresh: table queued again");
                } else {
                    debug!(peer = %address, %family, "route refresh of a family not negotiated: ignored");
                }
            }
            RibInput::RefreshMarker { address, family, begin } => {
                let Some(id) = self.engine.peer_id(address) else { return };
                self.engine.refresh_marker(id, family, begin, now);
                debug!(peer = %address, %family, begin, "enhanced route refresh");
            }
            RibInput::Announce(list) => {
                self.engine.announce(&list);
                info!(routes = list.len(), "announcements");
            }
            RibInput::Routing { multipath, always_compare_med } => {
                self.engine.set_routing(multipath, always_compare_med);
                info!(multipath, always_compare_med, "decision settings changed: every prefix decided again");
            }
            RibInput::ShowRoutes { query, replies } => match self.engine.route_dump(query) {
                Ok(dump) => {
                    let id = self.next_dump;
                    self.next_dump += 1;
                    let dump = Walk::Routes(dump);
                    self.dumps.push(Dump { dump, replies, pending: VecDeque::new(), done: false, waiting: false, id });
                }
                Err(message) => {
                    let _ = replies.try_send(Reply::Error { message });
                }
            },
            RibInput::Metrics { reply } => {
                let _ = reply.send(self.engine.metrics());
            }
            RibInput::ShowSummary { reply } => {
                let _ = reply.send(self.engine.summary());
            }
            RibInput::RestartPhase { address, reply } => {
                let row = self.engine.restart_phase(address).map(|p| p.row(Instant::now()));
                let _ = reply.send(row);
            }
            RibInput::Kernel(settings) => {
                let metric_changed = settings.metric != self.engine.kernel_settings().metric;
                let (install, metric) = (settings.install, settings.metric);
                self.engine.set_kernel(settings);
                if metric_changed && !self.fib_flushed {
                    // The kernel keys routes by metric: ours go, and come back with the
                    // new one.
                    let (done, _) = oneshot::channel();
                    self.fib_command(FibCmd::Flush(done));
                    self.fib_command(FibCmd::SetMetric(metric));
                    self.engine.fib_flushed();
                }
                info!(install, metric, "[kernel] settings changed");
            }
            RibInput::ShowFib { prefix, replies } => {
                let prefix = match prefix {
                    None => None,
                    Some(PrefixOrAddress::Prefix(p)) => Some(p),
                    Some(PrefixOrAddress::Address(a)) => match self.engine.longest_match(a) {
                        Some(p) => Some(p),
                        None => {
                            let _ = replies.try_send(Reply::Error { message: format!("no route for {a}") });
                            return;
                        }
                    },
                };
                let prefixes = self.engine.fib_prefixes(prefix);
                let id = self.next_dump;
                self.next_dump += 1;
                let (pending, done) = match prefix {
                    Some(p) if self.engine.fib_row(p).is_none() => {
                        (VecDeque::from([Reply::Error { message: format!("no FIB route for {p}") }]), true)
                    }
                    _ => (VecDeque::new(), false),
                };
                let dump = Walk::Fib(prefixes.into_iter());
                self.dumps.push(Dump { dump, replies, pending, done, waiting: false, id });
            }
            RibInput::ShowNextHops { replies } => {
                let rows: Vec<Reply> =
                    self.engine.next_hop_rows().into_iter().map(Reply::NextHop).chain([Reply::End]).collect();
                // A few rows (one per next hop): sent by a task of its own.
                tokio::spawn(async move {
                    for row in rows {
                        if replies.send(row).await.is_err() {
                            break;
                        }
                    }
                });
            }
            #[cfg(feature = "kubernetes")]
            RibInput::Kubernetes(updates) => self.engine.kubernetes(now, updates),
            #[cfg(feature = "kubernetes")]
            RibInput::KubernetesSettings(settings) => {
                match &settings {
                    Some(s) => {
                        info!(mode = ?s.mode, node = %s.node_name, load_balancers = s.load_balancers, pod_cidrs = s.pod_cidrs, "Kubernetes source")
                    }
                    None => info!("Kubernetes source gone: its routes withdrawn"),
                }
                self.engine.set_kubernetes(now, settings);
            }
            #[cfg(feature = "kubernetes")]
            RibInput::ShowKubernetes { reply } => {
                let _ = reply.send(self.engine.kubernetes_routes());
            }
            RibInput::FlushFib { done } => {
                self.fib_flushed = true;
                self.fib_command(FibCmd::Flush(done));
            }
            RibInput::Drain { drain, reply } => {
                let changed = self.engine.set_drain(drain);
                for d in &changed {
                    info!(neighbor = %d.address, drained = d.drained, routes = d.routes, "drain: routes announced again");
                }
                let _ = reply.send(changed);
            }
            RibInput::Why { query, reply } => {
                let _ = reply.send(self.engine.why(&query));
            }
            RibInput::DryRun { request, reply } => {
                let DryRunRequest { policies, removed, announcements, routing, kernel_import } = *request;
                let input = DryRunInput {
                    policies,
                    removed,
                    announcements: announcements.as_deref(),
                    routing,
                    kernel_import: kernel_import.as_deref(),
                };
                let _ = reply.send(self.engine.dry_run(&input));
            }
        }
    }

    fn link(&mut self, id: PeerId) -> Option<&mut Link> {
        self.links.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    /// Carries out what the engine asks.
    fn outputs(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Send { peer, bytes } => {
                    let Some(l) = self.link(peer) else { continue };
                    match l.link.writer.try_send(bytes) {
                        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                        // The peer task's own messages took the room.
                        Err(mpsc::error::TrySendError::Full(bytes)) => self.engine.unsent(peer, bytes),
                    }
                }
                Output::Blocked(peer) => {
                    let Some(l) = self.link(peer) else { continue };
                    if !l.waiting {
                        l.waiting = true;
                        let (writer, session) = (l.link.writer.clone(), l.session);
                        self.waiters.spawn(async move {
                            let _ = writer.reserve().await;
                            Wake::Writer(peer, session)
                        });
                    }
                }
                Output::PrefixLimit { peer, address, family, limit, after } => {
                    warn!(peer = %address, %family, limit, retry_after = ?after, "max_prefixes exceeded: closing the session");
                    if let Some(l) = self.link(peer) {
                        let _ = l.link.notices.try_send(RibNotice::PrefixLimit { family, limit, after });
                    }
                }
                Output::AskRefresh(peer) => {
                    if let Some(l) = self.link(peer) {
                        let _ = l.link.notices.try_send(RibNotice::AskRefresh);
                    }
                }
                Output::RestartPeers => {
                    self.restart_peers.send_replace(self.engine.restart_peers());
                }
                Output::SweepFib => self.sweep_due = true,
                Output::Event(event) => {
                    log(&event);
                    record(&self.history, &event);
                }
            }
        }
    }

    fn wake(&mut self, wake: Wake) {
        match wake {
            Wake::Writer(peer, session) => {
                let Some(l) = self.link(peer) else { return };
                if l.session != session || l.link.writer.is_closed() {
                    // An old session's waiter; or the session is over, and its
                    // PeerDown is on the way.
                    return;
                }
                l.waiting = false;
                let room = l.link.writer.capacity();
                self.engine.writable(peer, room);
            }
            Wake::Reader(id) => {
                if let Some(d) = self.dumps.iter_mut().find(|d| d.id == id) {
                    d.waiting = false;
                }
            }
            Wake::Fib => self.fib_waiting = false,
        }
    }

    fn publish_counts(&self) {
        for (i, l) in self.links.iter().enumerate() {
            let (Some(l), Some(c)) = (l, self.engine.counts(bgp_core::rib::SourceId(i as u32))) else { continue };
            l.link.counters.publish(&c);
        }
    }

    /// Moves every `show routes` in progress on by up to `DUMP_CHUNK` prefixes, as far
    /// as its reader keeps up.
    fn dump_some(&mut self) {
        let mut dumps = std::mem::take(&mut self.dumps);
        dumps.retain_mut(|d| d.waiting || self.advance(d));
        self.dumps = dumps;
    }

    /// Takes the next chunk of rows and sends what the reader has room for; `false`
    /// once the dump is over (sent, or its reader gone).
    fn advance(&mut self, d: &mut Dump) -> bool {
        if !d.done {
            match &mut d.dump {
                Walk::Routes(dump) => match dump.step(&self.engine, DUMP_CHUNK) {
                    DumpStep::Rows(rows) => d.pending.extend(rows.into_iter().map(|r| Reply::Route(Box::new(r)))),
                    DumpStep::End => {
                        d.done = true;
                        d.pending.push_back(Reply::End);
                    }
                    DumpStep::NoRoute => {
                        d.done = true;
                        d.pending.push_back(Reply::Error { message: "no route".into() });
                    }
                },
                Walk::Fib(prefixes) => {
                    let rows = prefixes.by_ref().take(DUMP_CHUNK).filter_map(|p| self.engine.fib_row(p));
                    d.pending.extend(rows.map(Reply::Fib));
                    if prefixes.len() == 0 {
                        d.done = true;
                        d.pending.push_back(Reply::End);
                    }
                }
            }
        }
        while let Some(reply) = d.pending.pop_front() {
            match d.replies.try_send(reply) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(reply)) => {
                    d.pending.push_front(reply);
                    d.waiting = true;
                    let (replies, id) = (d.replies.clone(), d.id);
                    self.waiters.spawn(async move {
                        let _ = replies.reserve().await;
                        Wake::Reader(id)
                    });
                    return true;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        !d.done
    }
}

/// The engine's events that belong in a neighbor's history (`show events`).
fn record(history: &History, event: &Event) {
    match event {
        Event::PrefixLimitWarning { address, received, limit } => history.record(
            *address,
            events::Event::MaxPrefix {
                family: None,
                limit: *limit,
                received: Some(*received),
                action: "warn".into(),
                restart_after_s: None,
            },
        ),
        Event::StaleRoutesRemoved { address } => history.record(
            *address,
            events::Event::GracefulRestart { phase: RestartPhase::StaleRoutesRemoved, family: None, detail: None },
        ),
        Event::LongLivedStale { address, family, stale_time, kept, removed } => history.record(
            *address,
            events::Event::GracefulRestart {
                phase: RestartPhase::LongLivedStarted,
                family: Some(family.to_string()),
                detail: Some(format!("{kept} routes kept for {stale_time} s, {removed} with NO_LLGR removed")),
            },
        ),
        Event::LongLivedStaleRoutesRemoved { address, family } => history.record(
            *address,
            events::Event::GracefulRestart {
                phase: RestartPhase::LongLivedStaleRemoved,
                family: Some(family.to_string()),
                detail: None,
            },
        ),
        _ => {}
    }
}

fn log(event: &Event) {
    match event {
        Event::TooLarge { peers, routes } => {
            warn!(?peers, routes, "attributes too large for one UPDATE: routes not sent")
        }
        Event::PrefixLimitWarning { address, received, limit } => {
            warn!(peer = %address, received, limit, "max_prefixes exceeded (warn only)")
        }
        Event::StaleRoutesRemoved { address } => {
            warn!(peer = %address, "graceful restart time over: stale routes removed")
        }
        Event::DeferralOver { missing } if missing.is_empty() => {
            info!("every peer sent its End-of-RIB: sending our tables")
        }
        Event::DeferralOver { missing } => {
            warn!(?missing, "restart deferral over without every peer's End-of-RIB")
        }
        Event::OwnNextHop { address } => {
            warn!(peer = %address, "routes with one of our addresses as next hop ignored (RFC 4271 §6.3); logged once per session")
        }
        Event::InitialTableSent { address } => debug!(peer = %address, "initial table sent"),
        Event::LeftLockStep { address } => {
            warn!(peer = %address, "writer full for a second: the peer leaves its update group and catches up alone")
        }
        Event::FibForeign { prefix } => {
            warn!(%prefix, "a route of another protocol holds the prefix at our metric: ours is not installed (bgpctl show fib)")
        }
        Event::FibRefused { routes, prefix, error } => {
            warn!(routes, first = %prefix, %error, "the kernel refused FIB routes: kept, tried again when the kernel's routes or addresses change (bgpctl show fib)")
        }
        Event::FibNextHopRefused { prefix, gateway, error } => {
            warn!(%prefix, %gateway, %error, "the kernel refused a next hop: the route is installed without it")
        }
        Event::LongLivedStale { address, family, stale_time, kept, removed } => {
            warn!(peer = %address, %family, stale_time, kept, no_llgr_removed = removed, "graceful restart time over: routes kept as long-lived stale (RFC 9494), least preferred")
        }
        Event::LongLivedStaleRoutesRemoved { address, family } => {
            warn!(peer = %address, %family, "long-lived stale time over: stale routes removed")
        }
    }
}

/// Routes an UPDATE announces or withdraws.
pub fn update_routes(update: &Update) -> usize {
    let mp = update.attrs.mp_reach.as_ref().map_or(0, |r| r.nlri.len())
        + update.attrs.mp_unreach.as_ref().map_or(0, |r| r.withdrawn.len());
    update.nlri.len() + update.withdrawn.len() + mp
}

/// Routes an input announces or withdraws (counted toward a round's batch).
fn routes_in(input: &RibInput) -> usize {
    match input {
        RibInput::Updates { updates, .. } => updates.iter().map(update_routes).sum(),
        #[cfg(feature = "kubernetes")]
        RibInput::Kubernetes(updates) => updates.len(),
        _ => 1,
    }
}

fn far() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86400 * 365)
}

/// The RIB's view of our identity, from the configuration.
pub fn rib_config(global: &bgp_core::config::Global) -> RibConfig {
    RibConfig {
        local_as: global.asn,
        router_id: global.router_id,
        cluster_id: global.cluster_id,
        multipath: usize::from(global.multipath),
        always_compare_med: global.always_compare_med,
    }
}
