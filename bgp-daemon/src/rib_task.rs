//! The RIB task: the only owner of routing state. Peer tasks send it what their
//! peers announce and when sessions come and go; it runs the decision process once
//! per batch of inputs and sends every Established peer what changed, packed.
//!
//! ```text
//!  peer tasks ──RibInput (bounded)──► RIB task ──Bytes (each member's writer queue)──► writer tasks
//!                                      │ RibState (bgp-core): import, decision
//!                                      │ update groups (bgp-core): export, Adj-RIB-Out, encoding
//! ```
//!
//! Peers that would be sent the same UPDATEs share an update group: one Adj-RIB-Out,
//! one encode, the same `Bytes` handed to every member's writer. A new peer starts in a
//! group of its own, which walks the table, and joins its like once in step.
//!
//! Backpressure: a group remembers which entries changed, not what to send (a
//! flapping route costs one queue entry, not a queue of updates), and packs only while
//! every member's writer queue has room. A slow peer therefore never blocks this task
//! or other groups; it slows its own group, whose backlog is bounded by the table size.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_core::config::{Announce, MaxPrefixes, MaxPrefixesAction};
use bgp_core::ctl::{Reply, RibSummary, RouteDirection, RouteRow};
use bgp_core::policy::{Policy, RouteInfo, RouteSource, Verdict};
use bgp_core::prefix::Prefix;
use bgp_core::rib::export::ExportTarget;
use bgp_core::rib::out::{family_of, Signature, UpdateGroup};
use bgp_core::rib::{Import, PeerInfo, RibConfig, RibState, SourceId, SourceKind};
use bgp_core::types::Family;
use bgp_core::wire::MpReach;
use bgp_core::wire::{CodecCtx, Message, NextHop, PathAttrs, RouteRefresh, Update};
use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// Prefix counters a peer task shows, kept up to date by the RIB task.
#[derive(Debug, Default)]
pub struct PeerCounters {
    pub received: AtomicU64,
    pub accepted: AtomicU64,
    pub advertised: AtomicU64,
    /// Messages the RIB task sent (UPDATEs with End-of-RIB, and ROUTE-REFRESH
    /// markers), which the peer task's state machine does not see.
    pub updates_sent: AtomicU64,
    pub refreshes_sent: AtomicU64,
    /// Set when the peer sent more prefixes than `max_prefixes` allows with the
    /// restart action: the peer task ends the session (RFC 4486 Cease subcode 1).
    pub over_limit: AtomicBool,
}

/// An Established session, as the RIB needs it.
pub struct SessionOut {
    pub info: PeerInfo,
    pub writer: mpsc::Sender<Bytes>,
    pub ctx: CodecCtx,
    pub families: Vec<Family>,
    pub local: Option<IpAddr>,
    pub next_hop_self: bool,
    pub remove_private_as: bool,
    /// The peer's graceful restart time, if it negotiated graceful restart.
    pub restart_time: Option<u16>,
    /// Enhanced route refresh (RFC 7313) negotiated: refreshes are framed by BoRR/EoRR.
    pub enhanced_refresh: bool,
    pub import: Arc<Policy>,
    pub export: Arc<Policy>,
    pub max_prefixes: Option<MaxPrefixes>,
    /// `global.min_advertisement_interval`.
    pub mrai: Duration,
}

pub enum RibInput {
    PeerUp {
        address: IpAddr,
        session: Box<SessionOut>,
        counters: Arc<PeerCounters>,
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
    /// The neighbor's policies changed (a reload): re-run the import policy over what
    /// it sent, and send it what the export policy now changes.
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
    /// The peer begins (BoRR) or ends (EoRR) re-sending its routes of a family
    /// (RFC 7313 §4).
    RefreshMarker {
        address: IpAddr,
        family: Family,
        begin: bool,
    },
    /// The configured `[[announce]]` routes (at start and on reload): replaces the
    /// previous set.
    Announce(Vec<Announce>),
    /// `show routes`: rows go to `replies`, then `End` (or one `Error`).
    ShowRoutes {
        query: RouteQuery,
        replies: mpsc::Sender<Reply>,
    },
    ShowSummary {
        reply: oneshot::Sender<RibSummary>,
    },
}

/// A parsed `show routes` request.
pub struct RouteQuery {
    pub prefix: Option<PrefixOrAddress>,
    pub neighbor: Option<(IpAddr, RouteDirection)>,
    pub family: Option<Family>,
}

pub enum PrefixOrAddress {
    Prefix(Prefix),
    /// Longest-prefix match.
    Address(IpAddr),
}

/// A `show routes` in progress: resumable, so a full-table dump never holds up
/// routing (OpenBGPD's `rde_dump_ctx`).
struct Dump {
    query: RouteQuery,
    replies: mpsc::Sender<Reply>,
    /// What to show, in order; each prefix's rows are made when its turn comes.
    prefixes: Vec<Prefix>,
    next: usize,
    rows: usize,
    /// Rows the reader has not taken yet.
    pending: VecDeque<Reply>,
    /// The last reply (End, or the error for a prefix without routes) is queued.
    done: bool,
}

/// Prefixes a `show routes` visits per turn of the RIB task.
const DUMP_CHUNK: usize = 256;

/// A member of an update group: an Established peer and its writer queue.
struct Member {
    address: IpAddr,
    source: SourceId,
    /// How routes are exported to it (the group's, but with its own address, which a
    /// policy may look at): what a policy change forks its group with.
    target: ExportTarget,
    writer: mpsc::Sender<Bytes>,
    counters: Arc<PeerCounters>,
    /// End-of-RIB still owed after the initial table (RFC 4724 §2).
    end_of_rib: Vec<Family>,
    /// Batches its writer queue had no room for (the peer task shares that queue);
    /// they go first, and the group waits for them.
    backlog: VecDeque<Bytes>,
    /// Enhanced route refresh negotiated, and the families being refreshed (an EoRR
    /// is owed once the group has sent them again).
    enhanced_refresh: bool,
    refreshing: Vec<Family>,
}

impl Member {
    /// Sends what waits, then `bytes`; whatever does not fit waits in the backlog.
    fn send(&mut self, bytes: Option<Bytes>) {
        self.backlog.extend(bytes);
        while let Some(b) = self.backlog.pop_front() {
            match self.writer.try_send(b) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(b)) => {
                    self.backlog.push_front(b);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.backlog.clear();
                    return;
                }
            }
        }
    }

    fn has_room(&self) -> bool {
        self.backlog.is_empty() && self.writer.capacity() > 0
    }
}

/// Peers sent the same UPDATEs: their shared Adj-RIB-Out and encoding (bgp-core's
/// `UpdateGroup`), and each member's writer.
struct GroupOut {
    sig: Signature,
    group: UpdateGroup,
    members: Vec<Member>,
    /// MinRouteAdvertisementInterval (RFC 4271 §9.2.1.1), kept per group rather than
    /// per prefix: after a batch of announcements, the next waits this long;
    /// withdrawals are never held back.
    mrai: Duration,
    hold_until: Option<Instant>,
    /// No other group has the same signature: nothing to merge with, until a new
    /// group (which looks for its twins itself) comes.
    settled: bool,
}

impl GroupOut {
    fn new(sig: Signature, group: UpdateGroup, member: Member, mrai: Duration) -> GroupOut {
        GroupOut { sig, group, members: vec![member], mrai, hold_until: None, settled: false }
    }

    fn in_step(&self, now: Instant) -> bool {
        !self.busy() && self.hold_until.is_none_or(|t| t <= now)
    }

    fn busy(&self) -> bool {
        !self.group.is_idle() || self.members.iter().any(|m| !m.end_of_rib.is_empty() || !m.backlog.is_empty())
    }
}

struct PeerState {
    source: SourceId,
    counters: Arc<PeerCounters>,
    import: Arc<Policy>,
    local: Option<IpAddr>,
    max_prefixes: Option<MaxPrefixes>,
    warned: bool,
    /// The restart time the peer advertised (RFC 4724), while it has one.
    restart_time: Option<u16>,
    /// Stale routes of a restarting peer go at this instant (RFC 4724 restart time).
    stale_until: Option<Instant>,
}

/// Graceful restart as the restarting speaker (RFC 4724 §4.1): after a restart our
/// table goes out only once the peers we had before have sent theirs (End-of-RIB for
/// each family), or the deferral time is over, so no peer sweeps a route we have not
/// had the time to learn again.
pub struct Deferral {
    pub until: Instant,
    /// Peers with graceful restart before the restart, not yet done.
    pub awaiting: HashSet<IpAddr>,
    /// End-of-RIB markers still expected from each awaited peer that is back.
    eor_left: HashMap<IpAddr, usize>,
}

impl Deferral {
    pub fn new(until: Instant, awaiting: HashSet<IpAddr>) -> Deferral {
        Deferral { until, awaiting, eor_left: HashMap::new() }
    }
}

pub struct RibTask {
    rib: RibState,
    deferral: Option<Deferral>,
    /// Where the peers with graceful restart are written every few seconds, for the
    /// next start to know it restarts (see supervisor.rs).
    marker: Option<PathBuf>,
    /// The source of `[[announce]]` routes, and what it announces.
    statics: SourceId,
    announced: Vec<Announce>,
    peers: HashMap<IpAddr, PeerState>,
    groups: Vec<GroupOut>,
    /// `show routes` requests in progress.
    dumps: Vec<Dump>,
    /// Emptied table entries are reclaimed once this many wait (see `reclaim`).
    reclaim_at: usize,
}

/// How often the restart marker is rewritten.
const MARKER_INTERVAL: Duration = Duration::from_secs(5);

/// Inputs queued from the peer tasks. A batch of UPDATEs carries at most
/// `peer::UPDATE_BATCH_ROUTES` routes (about 100 KB decoded), so this bounds that queue
/// to a few MB; a full queue makes peers wait.
const INPUT_QUEUE: usize = 32;
/// A decision round follows this many inputs, or inputs carrying this many routes,
/// whichever comes first: the round's change lists stay small.
const BATCH: usize = 256;
const BATCH_ROUTES: usize = 8192;
/// Most entries packed per group per round, so one group's table walk does not hold
/// up the others.
const PACK_CHUNK: usize = 4096;
/// Emptied entries are reclaimed in passes of at least this many.
const RECLAIM_MIN: usize = 4096;

pub fn spawn(cfg: RibConfig, deferral: Option<Deferral>, marker: Option<PathBuf>) -> mpsc::Sender<RibInput> {
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    let mut rib = RibState::new(cfg);
    let statics = rib.add_source(SourceKind::Static);
    let task = RibTask {
        rib,
        deferral,
        marker,
        statics,
        announced: Vec::new(),
        peers: HashMap::new(),
        groups: Vec::new(),
        dumps: Vec::new(),
        reclaim_at: RECLAIM_MIN,
    };
    tokio::spawn(task.run(rx));
    tx
}

impl RibTask {
    async fn run(mut self, mut inputs: mpsc::Receiver<RibInput>) {
        let mut retry = tokio::time::interval(Duration::from_millis(20));
        let mut touch = tokio::time::interval(MARKER_INTERVAL);
        loop {
            let backlog = self.groups.iter().any(GroupOut::busy) || !self.dumps.is_empty();
            // A dump whose reader has room goes on at once; one whose reader is behind
            // waits for the retry tick.
            let dumping = self.dumps.iter().any(|d| d.replies.capacity() > 0);
            let stale = self.peers.values().filter_map(|p| p.stale_until).min();
            let deferred = self.deferral.as_ref().map(|d| d.until);
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
                _ = retry.tick(), if backlog => {}
                _ = std::future::ready(()), if dumping => {}
                _ = touch.tick() => self.write_marker(),
                _ = tokio::time::sleep_until(deferred.map_or_else(far, tokio::time::Instant::from_std)), if deferred.is_some() => {}
                _ = tokio::time::sleep_until(stale.map_or_else(far, tokio::time::Instant::from_std)), if stale.is_some() => {
                    self.expire_stale(Instant::now());
                }
            }
            self.decide();
            self.end_deferral_if_done();
            self.flush();
            self.merge_groups();
            self.reclaim();
            self.dump_some();
        }
    }

    /// Ends the restart deferral once every awaited peer is done or time is up: the
    /// groups then send their tables.
    fn end_deferral_if_done(&mut self) {
        let Some(d) = &self.deferral else { return };
        let timed_out = Instant::now() >= d.until;
        if !d.awaiting.is_empty() && !timed_out {
            return;
        }
        if timed_out && !d.awaiting.is_empty() {
            warn!(missing = ?d.awaiting, "restart deferral over without every peer's End-of-RIB");
        } else {
            info!("every peer sent its End-of-RIB: sending our tables");
        }
        self.deferral = None;
    }

    /// Writes the peers that negotiated graceful restart, so that a start after a crash
    /// or a graceful stop knows whom to wait for (and that it restarts at all).
    fn write_marker(&self) {
        let Some(path) = &self.marker else { return };
        let mut peers: Vec<IpAddr> =
            self.peers.iter().filter(|(_, p)| p.restart_time.is_some()).map(|(a, _)| *a).collect();
        if let Some(d) = &self.deferral {
            peers.extend(d.awaiting.iter().copied());
        }
        peers.sort();
        peers.dedup();
        let text: String = peers.iter().map(|a| format!("{a}\n")).collect();
        let tmp = path.with_extension("tmp");
        if let Err(e) = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path)) {
            debug!(path = %path.display(), error = %e, "cannot write the restart marker");
        }
    }

    fn handle(&mut self, input: RibInput) {
        match input {
            RibInput::PeerUp { address, session, counters } => self.peer_up(address, *session, counters),
            RibInput::PeerDown { address, graceful } => self.peer_down(address, graceful),
            RibInput::Refresh { address, family } => self.refresh(address, family),
            RibInput::Policies { address, import, export } => self.policies(address, import, export),
            RibInput::RefreshMarker { address, family, begin } => self.refresh_marker(address, family, begin),
            RibInput::ShowRoutes { query, replies } => match self.dump_prefixes(&query) {
                Ok(prefixes) => self.dumps.push(Dump {
                    query,
                    replies,
                    prefixes,
                    next: 0,
                    rows: 0,
                    pending: VecDeque::new(),
                    done: false,
                }),
                Err(message) => {
                    let _ = replies.try_send(Reply::Error { message });
                }
            },
            RibInput::ShowSummary { reply } => {
                let mut s = RibSummary::default();
                for (prefix, entry) in self.rib.iter() {
                    let paths = entry.paths().len() as u64;
                    match prefix {
                        Prefix::V4(_) => (s.ipv4_prefixes, s.ipv4_paths) = (s.ipv4_prefixes + 1, s.ipv4_paths + paths),
                        Prefix::V6(_) => (s.ipv6_prefixes, s.ipv6_paths) = (s.ipv6_prefixes + 1, s.ipv6_paths + paths),
                    }
                }
                let stats = self.rib.attr_stats();
                s.attribute_sets = stats.sets as u64;
                s.attribute_refs = stats.refs;
                let _ = reply.send(s);
            }
            RibInput::Updates { address, updates } => {
                for update in &updates {
                    self.update(address, update);
                }
                self.count(address);
                self.check_limit(address);
            }
            RibInput::Announce(list) => self.announce(list),
        }
    }

    /// One UPDATE of a peer: End-of-RIB bookkeeping, then import policy and the RIB.
    fn update(&mut self, address: IpAddr, update: &Update) {
        let end_of_rib = update.end_of_rib_family();
        if let (Some(_), Some(d)) = (end_of_rib, self.deferral.as_mut()) {
            if let Some(left) = d.eor_left.get_mut(&address) {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    d.awaiting.remove(&address);
                }
            }
        }
        let Some(state) = self.peers.get(&address) else { return };
        let (source, policy, local) = (state.source, state.import.clone(), state.local);
        let local_as = self.rib.config().local_as;
        let mut import = |prefix: Prefix, attrs: &PathAttrs| {
            apply_policy(&policy, prefix, RouteSource::Peer, Some(address), local, attrs, local_as)
        };
        let applied = self.rib.apply_update(source, update, &mut import);
        if let Some(family) = end_of_rib {
            self.rib.sweep_stale(source, Some(family));
            debug!(peer = %address, %family, "End-of-RIB received");
        }
        if applied.rejected > 0 {
            debug!(peer = %address, rejected = applied.rejected, "routes rejected (loop or import policy)");
        }
    }

    fn count(&self, address: IpAddr) {
        if let Some(state) = self.peers.get(&address) {
            let (held, accepted) = self.rib.source_counts(state.source);
            state.counters.received.store(held as u64, Ordering::Relaxed);
            state.counters.accepted.store(accepted as u64, Ordering::Relaxed);
        }
    }

    fn peer_up(&mut self, address: IpAddr, session: SessionOut, counters: Arc<PeerCounters>) {
        let state = self.peers.entry(address).or_insert_with(|| PeerState {
            source: self.rib.add_source(SourceKind::Peer(session.info.clone())),
            counters: counters.clone(),
            import: session.import.clone(),
            local: session.local,
            max_prefixes: session.max_prefixes,
            warned: false,
            restart_time: None,
            stale_until: None,
        });
        state.counters = counters.clone();
        state.restart_time = session.restart_time;
        state.import = session.import.clone();
        state.local = session.local;
        state.max_prefixes = session.max_prefixes;
        state.warned = false;
        if state.stale_until.take().is_some() && session.restart_time.is_none() {
            // Back without graceful restart: nothing of the old session stays.
            self.rib.sweep_stale(state.source, None);
        }
        let source = state.source;
        // Our addresses on the session's interface: the next hops we give for both
        // families (IPv6 routes over an IPv4 session too), and the subnets whose next
        // hops stay as they are toward eBGP.
        let subnets = session.local.map(crate::net::interface_addresses).unwrap_or_default();
        let global_v6 = |only: Option<std::net::Ipv6Addr>| {
            only.or_else(|| {
                subnets.iter().find_map(|(ip, _)| match ip {
                    IpAddr::V6(a) if !a.is_loopback() && (a.segments()[0] & 0xffc0) != 0xfe80 => Some(*a),
                    _ => None,
                })
            })
        };
        let (local_v4, local_v6) = match session.local {
            Some(IpAddr::V4(a)) => (Some(a), global_v6(None)),
            Some(IpAddr::V6(a)) => (None, global_v6(Some(a))),
            None => (None, None),
        };
        let local_v6 = local_v6.map(|global| NextHop::V6 { global, link_local: None });
        let target = ExportTarget {
            source,
            peer: session.info,
            next_hop_self: session.next_hop_self,
            remove_private_as: session.remove_private_as,
            local_v4,
            local_v6,
            shared_subnets: subnets,
        };
        let sig = Signature::of(&target, &session.export, &session.ctx, &session.families);
        let member = Member {
            address,
            source,
            target: target.clone(),
            writer: session.writer,
            counters,
            end_of_rib: session.families.clone(),
            backlog: VecDeque::new(),
            enhanced_refresh: session.enhanced_refresh,
            refreshing: Vec::new(),
        };
        if let Some(d) = self.deferral.as_mut() {
            if d.awaiting.contains(&address) {
                d.eor_left.insert(address, session.families.len());
            }
        }
        self.remove_member(address);
        // A group of its own, which walks the table; it joins its like once in step.
        let group = UpdateGroup::new(target, session.export, session.ctx, session.families);
        self.groups.push(GroupOut::new(sig, group, member, session.mrai));
    }

    /// A reload changed the neighbor's policies: the stored Adj-RIB-In goes through the
    /// new import policy, and the peer leaves its update group for one exporting with
    /// the new export policy, which sends it only what differs from what it holds.
    fn policies(&mut self, address: IpAddr, import: Arc<Policy>, export: Arc<Policy>) {
        let local_as = self.rib.config().local_as;
        if let Some(state) = self.peers.get_mut(&address) {
            if *state.import != *import {
                state.import = import.clone();
                let (source, local) = (state.source, state.local);
                let applied = self.rib.reimport(source, &mut |prefix: Prefix, attrs: &PathAttrs| {
                    apply_policy(&import, prefix, RouteSource::Peer, Some(address), local, attrs, local_as)
                });
                info!(peer = %address, accepted = applied.announced, rejected = applied.rejected, "import policy applied again");
                self.count(address);
            }
        }
        let Some(gi) = self.groups.iter().position(|g| g.members.iter().any(|m| m.address == address)) else { return };
        let g = &mut self.groups[gi];
        let Some(mi) = g.members.iter().position(|m| m.address == address) else { return };
        let target = g.members[mi].target.clone();
        let sig = Signature::of(&target, &export, g.group.ctx(), &g.sig.families);
        if sig == g.sig {
            return;
        }
        let member = g.members.remove(mi);
        let group = g.group.fork(member.source, target, export);
        let mrai = g.mrai;
        self.groups.push(GroupOut::new(sig, group, member, mrai));
        self.groups.retain(|g| !g.members.is_empty());
        info!(peer = %address, "export policy applied again");
    }

    /// Takes the peer out of its group; an empty group goes.
    fn remove_member(&mut self, address: IpAddr) {
        for g in &mut self.groups {
            if let Some(i) = g.members.iter().position(|m| m.address == address) {
                let m = g.members.remove(i);
                g.group.remove_member(m.source);
            }
        }
        self.groups.retain(|g| !g.members.is_empty());
    }

    fn peer_down(&mut self, address: IpAddr, graceful: bool) {
        self.remove_member(address);
        let Some(state) = self.peers.get_mut(&address) else { return };
        if let (true, Some(secs)) = (graceful, state.restart_time) {
            // RFC 4724 §4.2: keep the routes, stale, for the restart time.
            self.rib.mark_stale(state.source, None);
            state.stale_until = Some(Instant::now() + Duration::from_secs(secs.into()));
            info!(peer = %address, "routes kept as stale (graceful restart)");
        } else {
            let source = state.source;
            self.rib.remove_source(source);
            self.peers.remove(&address);
        }
        self.count(address);
    }

    fn expire_stale(&mut self, now: Instant) {
        for (address, state) in &mut self.peers {
            if state.stale_until.is_some_and(|t| t <= now) {
                state.stale_until = None;
                warn!(peer = %address, "graceful restart time over: stale routes removed");
                self.rib.sweep_stale(state.source, None);
            }
        }
    }

    /// Replaces the `[[announce]]` routes.
    fn announce(&mut self, list: Vec<Announce>) {
        for old in &self.announced {
            if !list.contains(old) {
                self.rib.withdraw(self.statics, old.prefix);
            }
        }
        for a in &list {
            if self.announced.contains(a) {
                continue;
            }
            let mut attrs = a.path_attrs();
            if matches!(a.prefix, Prefix::V6(_)) && attrs.mp_reach.is_none() {
                // No next hop configured: ours on each session, filled in at export.
                attrs.mp_reach = Some(Box::new(MpReach {
                    family: Family::IPV6_UNICAST,
                    next_hop: NextHop::V6 { global: std::net::Ipv6Addr::UNSPECIFIED, link_local: None },
                    nlri: Vec::new(),
                }));
            }
            self.rib.announce(self.statics, a.prefix, attrs);
        }
        info!(routes = list.len(), "announcements");
        self.announced = list;
    }

    /// `max_prefixes` (RFC 4486 Cease subcode 1): warn, or have the peer task close.
    fn check_limit(&mut self, address: IpAddr) {
        let Some(state) = self.peers.get_mut(&address) else { return };
        let Some(max) = state.max_prefixes else { return };
        let received = state.counters.received.load(Ordering::Relaxed);
        if received <= u64::from(max.limit) || state.warned {
            return;
        }
        state.warned = true;
        match max.action {
            MaxPrefixesAction::Warn => {
                warn!(peer = %address, received, limit = max.limit, "max_prefixes exceeded (warn only)")
            }
            MaxPrefixesAction::Restart { after } => {
                warn!(peer = %address, received, limit = max.limit, retry_after = ?after, "max_prefixes exceeded: closing the session");
                state.counters.over_limit.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Sends the peer every route of `family` again (RFC 2918 §4).
    fn refresh(&mut self, address: IpAddr, family: Family) {
        for g in &mut self.groups {
            if let Some(m) = g.members.iter_mut().find(|m| m.address == address) {
                if !g.sig.families.contains(&family) {
                    debug!(peer = %address, %family, "route refresh of a family not negotiated: ignored");
                    return;
                }
                if m.enhanced_refresh && !m.refreshing.contains(&family) {
                    // RFC 7313 §4: BoRR first; the EoRR follows the last route (flush).
                    m.send(Some(encode(&Message::RouteRefresh(RouteRefresh::begin(family)), g.group.ctx())));
                    m.counters.refreshes_sent.fetch_add(1, Ordering::Relaxed);
                    m.refreshing.push(family);
                }
                g.group.resend(m.source, family);
                debug!(peer = %address, %family, "route refresh: table queued again");
            }
        }
    }

    /// The peer re-sends its routes of `family` (RFC 7313 §4): between BoRR and EoRR
    /// they are stale; what was not sent again by the EoRR goes.
    fn refresh_marker(&mut self, address: IpAddr, family: Family, begin: bool) {
        let Some(state) = self.peers.get(&address) else { return };
        if begin {
            self.rib.mark_stale(state.source, Some(family));
        } else {
            self.rib.sweep_stale(state.source, Some(family));
        }
        debug!(peer = %address, %family, begin, "enhanced route refresh");
    }

    /// The prefixes a `show routes` visits, in order, or why it cannot run.
    fn dump_prefixes(&self, q: &RouteQuery) -> Result<Vec<Prefix>, String> {
        let wanted = |p: &Prefix| q.family.is_none_or(|f| family_of(*p) == f);
        let mut prefixes: Vec<Prefix> = match (&q.prefix, q.neighbor) {
            (_, Some((addr, RouteDirection::Advertised))) if self.member(addr).is_none() => {
                return Err(format!("no Established neighbor {addr}"));
            }
            (_, Some((addr, RouteDirection::Received))) if !self.peers.contains_key(&addr) => {
                return Err(format!("no routes from neighbor {addr}"));
            }
            (Some(PrefixOrAddress::Prefix(p)), _) => vec![*p],
            (Some(PrefixOrAddress::Address(a)), _) => self.longest_match(*a).into_iter().collect(),
            (None, Some((addr, RouteDirection::Advertised))) => {
                let (g, m) = self.member(addr).expect("checked above");
                let ids = g.group.advertised_ids(m.source);
                ids.into_iter().filter_map(|id| self.rib.entry(id)).map(|e| e.prefix()).filter(wanted).collect()
            }
            (None, _) => self.rib.iter().map(|(p, _)| p).filter(wanted).collect(),
        };
        prefixes.sort_unstable();
        Ok(prefixes)
    }

    fn member(&self, address: IpAddr) -> Option<(&GroupOut, &Member)> {
        self.groups.iter().find_map(|g| g.members.iter().find(|m| m.address == address).map(|m| (g, m)))
    }

    /// The rows of one prefix for a `show routes`, from the table as it is now.
    fn route_rows(&self, q: &RouteQuery, prefix: Prefix) -> Vec<Reply> {
        let one = q.prefix.is_some();
        let mut rows = Vec::new();
        match q.neighbor {
            Some((addr, RouteDirection::Advertised)) => {
                let (Some((g, m)), Some(id)) = (self.member(addr), self.rib.id_of(&prefix)) else { return rows };
                for (path_id, attrs) in g.group.advertised_at(&self.rib, m.source, id) {
                    let mut row = row(prefix, &attrs, "local".into());
                    (row.valid, row.best, row.path_id) = (true, true, path_id);
                    rows.push(Reply::Route(Box::new(row)));
                }
            }
            Some((addr, RouteDirection::Received)) => {
                let (Some(state), Some(entry)) = (self.peers.get(&addr), self.rib.get(&prefix)) else { return rows };
                for p in entry.paths().iter().filter(|p| p.source == state.source) {
                    let mut r = row(prefix, self.rib.attrs().get(p.attrs_in), addr.to_string());
                    (r.path_id, r.valid, r.stale) = (p.path_id, p.is_candidate(), p.is_stale());
                    rows.push(Reply::Route(Box::new(r)));
                }
            }
            None => {
                let Some(entry) = self.rib.get(&prefix) else { return rows };
                let shown: &[bgp_core::rib::Path] = if one { entry.paths() } else { entry.multipath_paths() };
                for (i, p) in shown.iter().enumerate() {
                    let mut r = row(prefix, self.rib.attrs().get(p.attrs), self.source_name(p.source));
                    r.path_id = p.path_id;
                    r.valid = p.is_candidate();
                    r.best = i == 0 && entry.multipath > 0;
                    r.multipath = i < usize::from(entry.multipath);
                    r.stale = p.is_stale();
                    if r.best && one {
                        r.reason = entry.step.map(|s| s.describe().to_string());
                    }
                    rows.push(Reply::Route(Box::new(r)));
                }
            }
        }
        rows
    }

    /// Moves every `show routes` in progress on by up to `DUMP_CHUNK` prefixes, as far
    /// as its reader keeps up; rows reflect the table when they are made.
    fn dump_some(&mut self) {
        let mut dumps = std::mem::take(&mut self.dumps);
        dumps.retain_mut(|d| self.advance(d));
        self.dumps = dumps;
    }

    /// `false` once the dump is over (sent, or its reader gone).
    fn advance(&self, d: &mut Dump) -> bool {
        let mut visited = 0;
        loop {
            while let Some(reply) = d.pending.pop_front() {
                match d.replies.try_send(reply) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(reply)) => {
                        d.pending.push_front(reply);
                        return true;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            if d.done {
                return false;
            }
            if d.next == d.prefixes.len() {
                d.done = true;
                let last = match (d.query.prefix.is_some(), d.rows) {
                    (true, 0) => Reply::Error { message: "no route".into() },
                    _ => Reply::End,
                };
                d.pending.push_back(last);
                continue;
            }
            if visited == DUMP_CHUNK {
                return true;
            }
            let rows = self.route_rows(&d.query, d.prefixes[d.next]);
            d.next += 1;
            visited += 1;
            d.rows += rows.len();
            d.pending.extend(rows);
        }
    }

    fn longest_match(&self, addr: IpAddr) -> Option<Prefix> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (0..=max).rev().find_map(|len| {
            let p = match addr {
                IpAddr::V4(a) => Prefix::V4(bgp_core::prefix::Prefix4::new(a, len)?),
                IpAddr::V6(a) => Prefix::V6(bgp_core::prefix::Prefix6::new(a, len)?),
            };
            self.rib.get(&p).map(|_| p)
        })
    }

    fn source_name(&self, source: SourceId) -> String {
        match self.rib.source(source) {
            Some(SourceKind::Peer(p)) => p.address.to_string(),
            Some(SourceKind::Static) => "static".into(),
            Some(SourceKind::Kernel) => "kernel".into(),
            Some(SourceKind::Kubernetes) => "kubernetes".into(),
            None => "?".into(),
        }
    }

    /// One decision round: the changed entries are queued in every group.
    fn decide(&mut self) {
        let changes = self.rib.decide();
        if changes.is_empty() {
            return;
        }
        for g in &mut self.groups {
            for change in &changes {
                g.group.queue_change(change);
            }
        }
        for address in self.peers.keys().copied().collect::<Vec<_>>() {
            self.count(address);
        }
    }

    /// Packs what each group has to send, while all its members' writer queues have
    /// room: a slow member slows its group, never the RIB task or other groups.
    fn flush(&mut self) {
        if self.deferral.is_some() {
            return;
        }
        for g in &mut self.groups {
            for m in &mut g.members {
                m.send(None);
            }
            let now = Instant::now();
            // The initial table is not held back, only what follows it.
            let initial = g.members.iter().any(|m| !m.end_of_rib.is_empty());
            let mut holding = !initial && g.hold_until.is_some_and(|t| now < t);
            while g.members.iter().all(Member::has_room) {
                let packed = g.group.pack(&self.rib, PACK_CHUNK, holding);
                if packed.visited == 0 {
                    break;
                }
                if packed.too_large > 0 {
                    let peers: Vec<IpAddr> = g.members.iter().map(|m| m.address).collect();
                    warn!(?peers, routes = packed.too_large, "attributes too large for one UPDATE: routes not sent");
                }
                for batch in packed.batches {
                    for m in g.members.iter_mut().filter(|m| batch.to.includes(m.source)) {
                        m.send(Some(batch.bytes.clone()));
                        m.counters.updates_sent.fetch_add(batch.messages as u64, Ordering::Relaxed);
                    }
                }
                if packed.announced && !g.mrai.is_zero() && !initial {
                    g.hold_until = Some(now + g.mrai);
                    holding = true;
                }
            }
            let ctx = *g.group.ctx();
            for m in g.members.iter_mut().filter(|m| !m.refreshing.is_empty() && m.has_room()) {
                let done: Vec<Family> =
                    m.refreshing.iter().copied().filter(|&f| !g.group.resending(m.source, f)).collect();
                for family in done {
                    m.send(Some(encode(&Message::RouteRefresh(RouteRefresh::end(family)), &ctx)));
                    m.counters.refreshes_sent.fetch_add(1, Ordering::Relaxed);
                    m.refreshing.retain(|&f| f != family);
                }
            }
            if g.group.table_sent() {
                for m in g.members.iter_mut().filter(|m| !m.end_of_rib.is_empty() && m.has_room()) {
                    let mut buf = BytesMut::new();
                    m.counters.updates_sent.fetch_add(m.end_of_rib.len() as u64, Ordering::Relaxed);
                    for family in m.end_of_rib.drain(..) {
                        let eor = Message::Update(Update::end_of_rib(family));
                        if let Err(e) = eor.encode(&ctx, &mut buf) {
                            warn!(peer = %m.address, error = %e, "End-of-RIB");
                        }
                    }
                    m.send(Some(buf.freeze()));
                    debug!(peer = %m.address, "initial table sent");
                }
            }
            for m in &g.members {
                m.counters.advertised.store(g.group.advertised_to(m.source) as u64, Ordering::Relaxed);
            }
        }
    }

    /// Merges groups that are in step and would send the same: one encode for all.
    /// Only groups not yet settled look for twins, so a round with no new group
    /// compares no signatures.
    fn merge_groups(&mut self) {
        let now = Instant::now();
        let mut j = 0;
        while j < self.groups.len() {
            if self.groups[j].settled || !self.groups[j].in_step(now) {
                j += 1;
                continue;
            }
            let twins: Vec<usize> =
                (0..self.groups.len()).filter(|&i| i != j && self.groups[i].sig == self.groups[j].sig).collect();
            match twins.iter().copied().find(|&i| self.groups[i].in_step(now)) {
                Some(i) => {
                    let other = self.groups.remove(j);
                    let i = if i > j { i - 1 } else { i };
                    let g = &mut self.groups[i];
                    debug!(members = g.members.len() + other.members.len(), "update groups merged");
                    g.group.merge(other.group, &self.rib);
                    g.members.extend(other.members);
                }
                None => {
                    // A twin that is busy now is looked for again next round.
                    self.groups[j].settled = twins.is_empty();
                    j += 1;
                }
            }
        }
    }

    /// Frees emptied table entries no group refers to any more; the pass runs when
    /// enough wait, so its cost stays proportional to what it frees.
    fn reclaim(&mut self) {
        if self.rib.empties() < self.reclaim_at {
            return;
        }
        let groups = &self.groups;
        let left = self.rib.reclaim(|id| groups.iter().any(|g| g.group.in_use(id)));
        self.reclaim_at = (2 * left).max(RECLAIM_MIN);
    }
}

/// Runs an import policy over one route; clones the attributes only when the policy
/// has terms that could change them.
fn apply_policy(
    policy: &Policy,
    prefix: Prefix,
    source: RouteSource,
    neighbor: Option<IpAddr>,
    local: Option<IpAddr>,
    attrs: &PathAttrs,
    local_as: u32,
) -> Import {
    if policy.terms.is_empty() {
        return if policy.default == Verdict::Accept { Import::Accept } else { Import::Reject };
    }
    let mut edited = attrs.clone();
    let route = RouteInfo { prefix, source, neighbor, local_address: local };
    match policy.apply(&route, &mut edited, local_as) {
        Verdict::Reject => Import::Reject,
        Verdict::Accept if edited == *attrs => Import::Accept,
        Verdict::Accept => Import::Modified(Box::new(edited)),
    }
}

fn row(prefix: Prefix, a: &PathAttrs, from: String) -> RouteRow {
    RouteRow {
        prefix: prefix.to_string(),
        next_hop: a.effective_next_hop().map(|n| n.to_string()),
        as_path: a.as_path.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        origin: a.origin.map(|o| {
            match o {
                bgp_core::wire::Origin::Igp => "igp",
                bgp_core::wire::Origin::Egp => "egp",
                bgp_core::wire::Origin::Incomplete => "incomplete",
            }
            .to_string()
        }),
        local_pref: a.local_pref,
        med: a.med,
        communities: a.communities.iter().map(|c| c.to_string()).collect(),
        large_communities: a.large_communities.iter().map(|c| c.to_string()).collect(),
        ext_communities: a.ext_communities.iter().map(|c| c.0.iter().map(|b| format!("{b:02x}")).collect()).collect(),
        originator_id: a.originator_id.map(|i| i.to_string()),
        cluster_list: a.cluster_list.iter().map(|i| i.to_string()).collect(),
        atomic_aggregate: a.atomic_aggregate,
        aggregator: a.aggregator.map(|g| format!("{} {}", g.asn, g.address)),
        from,
        ..RouteRow::default()
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
        _ => 1,
    }
}

fn encode(message: &Message, ctx: &CodecCtx) -> Bytes {
    let mut buf = BytesMut::new();
    // Cannot fail: a ROUTE-REFRESH is always 23 octets.
    let _ = message.encode(ctx, &mut buf);
    buf.freeze()
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
