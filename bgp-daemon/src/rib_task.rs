//! The RIB task: the only owner of routing state. Peer tasks send it what their
//! peers announce and when sessions come and go; it runs the decision process once
//! per batch of inputs and sends every Established peer what changed, packed.
//!
//! ```text
//!  peer tasks ──RibInput (bounded)──► RIB task ──Bytes (the peer's writer queue)──► writer tasks
//!                                      │ RibState (bgp-core): import, decision
//!                                      │ per peer: export rules, Adj-RIB-Out, pending
//! ```
//!
//! Backpressure: what a peer has still to receive waits in its `pending` map,
//! coalesced by prefix (a flapping route costs one entry, not a queue of updates), and
//! is packed only while the peer's writer queue has room. A slow peer therefore never
//! blocks this task or the other peers, and its backlog is bounded by the table size.
//!
//! Not yet here (the routing issue's later steps): update groups sharing one encode
//! between peers, ADD-PATH send, policies, static announcements, `show routes`.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_core::attrs::{AttrId, AttrStore};
use bgp_core::config::{Announce, MaxPrefixes, MaxPrefixesAction};
use bgp_core::ctl::{Reply, RibSummary, RouteDirection, RouteRow};
use bgp_core::policy::{Policy, RouteInfo, RouteSource, Verdict};
use bgp_core::prefix::{Nlri, Prefix};
use bgp_core::rib::export::{export, ExportTarget};
use bgp_core::rib::{Import, PeerInfo, RibConfig, RibState, SourceId, SourceKind};
use bgp_core::types::Family;
use bgp_core::wire::MpReach;
use bgp_core::wire::{pack_announce, pack_withdraw, AttrBlock, CodecCtx, Message, NextHop, PathAttrs, Update};
use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// Prefix counters a peer task shows, kept up to date by the RIB task.
#[derive(Debug, Default)]
pub struct PeerCounters {
    pub received: AtomicU64,
    pub accepted: AtomicU64,
    pub advertised: AtomicU64,
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
    Update {
        address: IpAddr,
        update: Box<Update>,
    },
    /// The peer asked for our routes again (ROUTE-REFRESH).
    Refresh {
        address: IpAddr,
        family: Family,
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

/// What one peer has been sent and has still to be sent.
struct PeerOut {
    target: ExportTarget,
    export: Arc<Policy>,
    ctx: CodecCtx,
    families: Vec<Family>,
    writer: mpsc::Sender<Bytes>,
    counters: Arc<PeerCounters>,
    /// Adj-RIB-Out: the exported attributes of every path sent, by prefix and path
    /// id (0 without ADD-PATH; with it, our id of the path's source).
    sent: HashMap<Key, AttrId>,
    /// Coalesced changes not yet sent: `Some` announce, `None` withdraw.
    pending: HashMap<Key, Option<AttrId>>,
    /// End-of-RIB still owed after the initial table (RFC 4724 §2).
    end_of_rib: Vec<Family>,
    /// MinRouteAdvertisementInterval (RFC 4271 §9.2.1.1), kept per peer rather than
    /// per prefix: after a batch of announcements, the next waits this long;
    /// withdrawals are never held back.
    mrai: Duration,
    hold_until: Option<Instant>,
}

/// A path as advertised: prefix and ADD-PATH path identifier.
type Key = (Prefix, u32);

/// The path identifier we advertise a source's path with (RFC 7911): unique per prefix
/// because the decision keeps one path per source.
fn path_id_of(source: SourceId) -> u32 {
    source.0 + 1
}

impl PeerOut {
    fn add_path(&self, prefix: Prefix) -> bool {
        self.ctx.add_path(family_of(prefix))
    }

    /// Queues `next` for `key` (`None`: withdraw), coalescing with what is pending and
    /// skipping a withdrawal of something never sent.
    fn queue(&mut self, store: &mut AttrStore, key: Key, next: Option<AttrId>) {
        if next.is_none() && !self.sent.contains_key(&key) {
            if let Some(Some(old)) = self.pending.remove(&key) {
                store.release(old);
            }
            return;
        }
        if let Some(Some(old)) = self.pending.insert(key, next) {
            store.release(old);
        }
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
    /// Exported attribute sets, interned apart from the RIB's own.
    out_attrs: AttrStore,
    peers: HashMap<IpAddr, PeerState>,
    outs: HashMap<IpAddr, PeerOut>,
}

/// How often the restart marker is rewritten.
const MARKER_INTERVAL: Duration = Duration::from_secs(5);

/// Inputs taken per batch before a decision round.
const BATCH: usize = 256;
/// Most prefixes packed per peer per round, so one peer's table dump does not hold up
/// the others.
const PACK_CHUNK: usize = 4096;

pub fn spawn(cfg: RibConfig, deferral: Option<Deferral>, marker: Option<PathBuf>) -> mpsc::Sender<RibInput> {
    let (tx, rx) = mpsc::channel(1024);
    let mut rib = RibState::new(cfg);
    let statics = rib.add_source(SourceKind::Static);
    let task = RibTask {
        rib,
        deferral,
        marker,
        statics,
        announced: Vec::new(),
        out_attrs: AttrStore::new(),
        peers: HashMap::new(),
        outs: HashMap::new(),
    };
    tokio::spawn(task.run(rx));
    tx
}

impl RibTask {
    async fn run(mut self, mut inputs: mpsc::Receiver<RibInput>) {
        let mut retry = tokio::time::interval(Duration::from_millis(20));
        let mut touch = tokio::time::interval(MARKER_INTERVAL);
        loop {
            let backlog = self.outs.values().any(|o| !o.pending.is_empty() || !o.end_of_rib.is_empty());
            let stale = self.peers.values().filter_map(|p| p.stale_until).min();
            let deferred = self.deferral.as_ref().map(|d| d.until);
            tokio::select! {
                input = inputs.recv() => {
                    let Some(input) = input else { return };
                    self.handle(input);
                    for _ in 1..BATCH {
                        match inputs.try_recv() {
                            Ok(input) => self.handle(input),
                            Err(_) => break,
                        }
                    }
                }
                _ = retry.tick(), if backlog => {}
                _ = touch.tick() => self.write_marker(),
                _ = tokio::time::sleep_until(deferred.map_or_else(far, tokio::time::Instant::from_std)), if deferred.is_some() => {}
                _ = tokio::time::sleep_until(stale.map_or_else(far, tokio::time::Instant::from_std)), if stale.is_some() => {
                    self.expire_stale(Instant::now());
                }
            }
            self.decide();
            self.end_deferral_if_done();
            self.flush();
        }
    }

    /// Ends the restart deferral once every awaited peer is done or time is up, and
    /// queues the whole table for every peer.
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
        for address in self.outs.keys().copied().collect::<Vec<_>>() {
            self.load_table(address);
        }
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
            RibInput::ShowRoutes { query, replies } => {
                let rows = self.route_rows(&query);
                // Streamed from a task of its own: a slow bgpctl never holds up routing.
                tokio::spawn(async move {
                    for reply in rows {
                        if replies.send(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
            RibInput::ShowSummary { reply } => {
                let mut s = RibSummary::default();
                for (prefix, entry) in self.rib.iter() {
                    let paths = entry.paths.len() as u64;
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
            RibInput::Update { address, update } => {
                if let (Some(_), Some(d)) = (update.end_of_rib_family(), self.deferral.as_mut()) {
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
                let applied = self.rib.apply_update(source, &update, &mut import);
                if let Some(family) = update.end_of_rib_family() {
                    self.rib.sweep_stale(source, Some(family));
                    debug!(peer = %address, %family, "End-of-RIB received");
                }
                if applied.rejected > 0 {
                    debug!(peer = %address, rejected = applied.rejected, "routes rejected (loop or import policy)");
                }
                self.count(address);
                self.check_limit(address);
            }
            RibInput::Announce(list) => self.announce(list),
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
        let out = PeerOut {
            target,
            export: session.export,
            ctx: session.ctx,
            end_of_rib: session.families.clone(),
            families: session.families,
            writer: session.writer,
            counters,
            mrai: session.mrai,
            hold_until: None,
            sent: HashMap::new(),
            pending: HashMap::new(),
        };
        if let Some(d) = self.deferral.as_mut() {
            if d.awaiting.contains(&address) {
                d.eor_left.insert(address, out.families.len());
            }
        }
        if let Some(old) = self.outs.insert(address, out) {
            release_out(&mut self.out_attrs, old);
        }
        if self.deferral.is_none() {
            self.load_table(address);
        }
    }

    /// Queues the whole table for a peer (its initial table, after the deferral too).
    fn load_table(&mut self, address: IpAddr) {
        let Some(mut out) = self.outs.remove(&address) else { return };
        for (_, old) in out.pending.drain() {
            if let Some(id) = old {
                self.out_attrs.release(id);
            }
        }
        let cfg = self.rib.config().clone();
        for (prefix, entry) in self.rib.iter() {
            let paths = if out.add_path(*prefix) {
                entry.multipath_paths()
            } else {
                &entry.paths[..entry.best().map_or(0, |_| 1)]
            };
            for p in paths {
                if let Some(attrs) = export_one(&cfg, &self.rib, &mut self.out_attrs, &out, *prefix, p.source, p.attrs)
                {
                    let id = if out.add_path(*prefix) { path_id_of(p.source) } else { 0 };
                    out.pending.insert((*prefix, id), Some(attrs));
                }
            }
        }
        info!(peer = %address, routes = out.pending.len(), "sending the table");
        self.outs.insert(address, out);
    }

    fn peer_down(&mut self, address: IpAddr, graceful: bool) {
        if let Some(out) = self.outs.remove(&address) {
            release_out(&mut self.out_attrs, out);
        }
        let Some(state) = self.peers.get_mut(&address) else { return };
        if let (true, Some(secs)) = (graceful, state.restart_time) {
            // RFC 4724 §4.2: keep the routes, stale, for the restart time.
            self.rib.mark_stale(state.source);
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
                attrs.mp_reach = Some(MpReach {
                    family: Family::IPV6_UNICAST,
                    next_hop: NextHop::V6 { global: std::net::Ipv6Addr::UNSPECIFIED, link_local: None },
                    nlri: Vec::new(),
                });
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
        let Some(out) = self.outs.get_mut(&address) else { return };
        let again: Vec<Key> = out.sent.keys().filter(|(p, _)| family_of(*p) == family).copied().collect();
        for key in again {
            if let Some(id) = out.sent.remove(&key) {
                // Re-queue as announced, unless a newer change is pending already.
                match out.pending.get(&key) {
                    Some(_) => self.out_attrs.release(id),
                    None => {
                        out.pending.insert(key, Some(id));
                    }
                }
            }
        }
        debug!(peer = %address, %family, "route refresh: table queued again");
    }

    fn route_rows(&self, q: &RouteQuery) -> Vec<Reply> {
        let mut rows = Vec::new();
        let wanted = |p: &Prefix| q.family.is_none_or(|f| family_of(*p) == f);
        let prefixes: Vec<Prefix> = match &q.prefix {
            Some(PrefixOrAddress::Prefix(p)) => vec![*p],
            Some(PrefixOrAddress::Address(a)) => self.longest_match(*a).into_iter().collect(),
            None => {
                let mut all: Vec<Prefix> = self.rib.iter().map(|(p, _)| *p).filter(wanted).collect();
                all.sort();
                all
            }
        };
        let one = q.prefix.is_some();
        match q.neighbor {
            Some((addr, RouteDirection::Advertised)) => {
                let Some(out) = self.outs.get(&addr) else {
                    return vec![Reply::Error { message: format!("no Established neighbor {addr}") }];
                };
                let mut sent: Vec<(&Key, &AttrId)> = out.sent.iter().filter(|((p, _), _)| wanted(p)).collect();
                sent.sort();
                for ((prefix, path_id), id) in sent {
                    if one && !prefixes.contains(prefix) {
                        continue;
                    }
                    let mut row = row(*prefix, self.out_attrs.get(*id), "local".into());
                    (row.valid, row.best, row.path_id) = (true, true, *path_id);
                    rows.push(Reply::Route(Box::new(row)));
                }
            }
            Some((addr, RouteDirection::Received)) => {
                let Some(state) = self.peers.get(&addr) else {
                    return vec![Reply::Error { message: format!("no routes from neighbor {addr}") }];
                };
                for prefix in &prefixes {
                    let Some(entry) = self.rib.get(prefix) else { continue };
                    for p in entry.paths.iter().filter(|p| p.source == state.source) {
                        let mut r = row(*prefix, self.rib.attrs().get(p.attrs_in), addr.to_string());
                        (r.path_id, r.valid, r.stale) = (p.path_id, p.is_candidate(), p.is_stale());
                        rows.push(Reply::Route(Box::new(r)));
                    }
                }
            }
            None => {
                for prefix in &prefixes {
                    let Some(entry) = self.rib.get(prefix) else { continue };
                    let shown: &[bgp_core::rib::Path] = if one { &entry.paths } else { entry.multipath_paths() };
                    for (i, p) in shown.iter().enumerate() {
                        let mut r = row(*prefix, self.rib.attrs().get(p.attrs), self.source_name(p.source));
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
        }
        if one && rows.is_empty() {
            return vec![Reply::Error { message: "no route".into() }];
        }
        rows.push(Reply::End);
        rows
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

    /// One decision round: the changes go into every peer's pending map.
    fn decide(&mut self) {
        let changes = self.rib.decide();
        if changes.is_empty() {
            return;
        }
        let cfg = self.rib.config().clone();
        // Our path ids are per source: with ADD-PATH, any source's id may have been sent.
        let mut sources: Vec<SourceId> = self.peers.values().map(|p| p.source).collect();
        sources.push(self.statics);
        for change in changes {
            for out in self.outs.values_mut() {
                if out.add_path(change.prefix) {
                    // RFC 7911: every path of the ECMP set, each under its own id.
                    let mut next: HashMap<u32, AttrId> = HashMap::new();
                    for p in &change.multipath {
                        let id =
                            export_one(&cfg, &self.rib, &mut self.out_attrs, out, change.prefix, p.source, p.attrs);
                        if let Some(id) = id {
                            next.insert(path_id_of(p.source), id);
                        }
                    }
                    for s in &sources {
                        let pid = path_id_of(*s);
                        out.queue(&mut self.out_attrs, (change.prefix, pid), next.remove(&pid));
                    }
                    for (pid, id) in next {
                        out.queue(&mut self.out_attrs, (change.prefix, pid), Some(id));
                    }
                } else {
                    let exported = change.multipath.first().and_then(|b| {
                        export_one(&cfg, &self.rib, &mut self.out_attrs, out, change.prefix, b.source, b.attrs)
                    });
                    out.queue(&mut self.out_attrs, (change.prefix, 0), exported);
                }
            }
        }
        for address in self.peers.keys().copied().collect::<Vec<_>>() {
            self.count(address);
        }
    }

    /// Packs what each peer has pending, as far as its writer queue has room.
    fn flush(&mut self) {
        if self.deferral.is_some() {
            return;
        }
        for (address, out) in &mut self.outs {
            let writer = out.writer.clone();
            let now = Instant::now();
            // The initial table is not held back, only what follows it.
            let mut holding = out.end_of_rib.is_empty() && out.hold_until.is_some_and(|t| now < t);
            while !out.pending.is_empty() {
                let Ok(permit) = writer.try_reserve() else { break };
                let (buf, announced) = pack_some(&mut self.out_attrs, out, holding);
                if buf.is_empty() && holding {
                    break;
                }
                if !buf.is_empty() {
                    permit.send(buf);
                }
                if announced && !out.mrai.is_zero() && out.end_of_rib.is_empty() {
                    out.hold_until = Some(now + out.mrai);
                    holding = true;
                }
            }
            if out.pending.is_empty() && !out.end_of_rib.is_empty() {
                if let Ok(permit) = writer.try_reserve() {
                    let mut buf = BytesMut::new();
                    for family in out.end_of_rib.drain(..) {
                        let eor = Message::Update(Update::end_of_rib(family));
                        if let Err(e) = eor.encode(&out.ctx, &mut buf) {
                            warn!(peer = %address, error = %e, "End-of-RIB");
                        }
                    }
                    permit.send(buf.freeze());
                    debug!(peer = %address, "initial table sent");
                }
            }
            out.counters.advertised.store(out.sent.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Whether a policy accepts everything unchanged (no terms, default accept): the
/// common iBGP case, which then costs nothing per route.
fn is_accept_all(p: &Policy) -> bool {
    p.terms.is_empty() && p.default == Verdict::Accept
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

/// The route `(source, attrs)` as exported to `out`'s peer, interned; `None` when it
/// is not sent (export rules, or a family the session did not negotiate).
fn export_one(
    cfg: &RibConfig,
    rib: &RibState,
    store: &mut AttrStore,
    out: &PeerOut,
    prefix: Prefix,
    source: SourceId,
    attrs: AttrId,
) -> Option<AttrId> {
    let family = family_of(prefix);
    if !out.families.contains(&family) {
        return None;
    }
    let from = rib.source(source)?;
    let mut exported = export(cfg, source, from, &out.target, rib.attrs().get(attrs)).ok()?;
    if !is_accept_all(&out.export) {
        let kind = match from {
            SourceKind::Peer(_) => RouteSource::Peer,
            SourceKind::Static => RouteSource::Static,
            SourceKind::Kernel => RouteSource::Kernel,
            SourceKind::Kubernetes => RouteSource::Kubernetes,
        };
        let local = out.target.local_v4.map(IpAddr::V4);
        let route = RouteInfo { prefix, source: kind, neighbor: Some(out.target.peer.address), local_address: local };
        if out.export.apply(&route, &mut exported, cfg.local_as) == Verdict::Reject {
            return None;
        }
    }
    Some(store.intern(exported))
}

fn family_of(prefix: Prefix) -> Family {
    match prefix {
        Prefix::V4(_) => Family::IPV4_UNICAST,
        Prefix::V6(_) => Family::IPV6_UNICAST,
    }
}

/// Takes up to `PACK_CHUNK` pending prefixes off `out` and encodes them: withdrawals
/// first, then announcements grouped by attribute set, each set encoded once.
/// With `withdrawals_only`, announcements stay pending (the MRAI holds them back).
/// Returns the messages and whether they announce anything.
fn pack_some(store: &mut AttrStore, out: &mut PeerOut, withdrawals_only: bool) -> (Bytes, bool) {
    let keys: Vec<Key> = out
        .pending
        .iter()
        .filter(|(_, change)| !withdrawals_only || change.is_none())
        .map(|(k, _)| *k)
        .take(PACK_CHUNK)
        .collect();
    let mut withdraw: HashMap<Family, Vec<Nlri>> = HashMap::new();
    let mut announce: HashMap<AttrId, Vec<Nlri>> = HashMap::new();
    for key in keys {
        let change = out.pending.remove(&key).expect("invariant: key taken from pending");
        let (prefix, path_id) = key;
        match change {
            Some(id) => {
                if out.sent.get(&key) == Some(&id) {
                    store.release(id);
                    continue;
                }
                announce.entry(id).or_default().push(Nlri { path_id, prefix });
                if let Some(old) = out.sent.insert(key, id) {
                    store.release(old);
                }
            }
            None => {
                if let Some(old) = out.sent.remove(&key) {
                    store.release(old);
                    withdraw.entry(family_of(prefix)).or_default().push(Nlri { path_id, prefix });
                }
            }
        }
    }
    let announced = !announce.is_empty();
    let mut buf = BytesMut::new();
    for (family, nlri) in withdraw {
        if let Err(e) = pack_withdraw(&mut buf, &out.ctx, family, &nlri) {
            warn!(error = %e, "cannot encode withdrawals");
        }
    }
    for (id, nlri) in announce {
        let attrs = store.get(id);
        let Some(next_hop) = next_hop_of(attrs) else { continue };
        let family = family_of(nlri[0].prefix);
        let block = AttrBlock::encode(attrs, &out.ctx);
        if let Err(e) = pack_announce(&mut buf, &out.ctx, &block, family, &next_hop, &nlri) {
            warn!(error = %e, "cannot encode announcements");
        }
    }
    (buf.freeze(), announced)
}

fn row(prefix: Prefix, a: &PathAttrs, from: String) -> RouteRow {
    RouteRow {
        prefix: prefix.to_string(),
        next_hop: next_hop_of(a).map(|n| n.to_string()),
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

fn next_hop_of(attrs: &PathAttrs) -> Option<NextHop> {
    match &attrs.mp_reach {
        Some(r) => Some(r.next_hop),
        None => attrs.next_hop.map(NextHop::V4),
    }
}

fn release_out(store: &mut AttrStore, out: PeerOut) {
    for id in out.sent.into_values() {
        store.release(id);
    }
    for id in out.pending.into_values().flatten() {
        store.release(id);
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
