//! The routing engine: everything the RIB task decides, without I/O. It owns the
//! RIB ([`RibState`]), the peers' routing state, the update groups and their
//! Adj-RIB-Out, the restart deferral and every routing timer.
//!
//! ```text
//!  session_up / session_down ─┐                                  ┌─► Output::Send (bytes for a peer's writer)
//!  updates / refresh markers ─┤                                  ├─► Output::Blocked (a peer's writer is full)
//!  set_policies / routing     ├─► Engine ── process(now) ────────┼─► Output::PrefixLimit (close the session)
//!  local sources (sync, add,  │   RibState: import, decision     └─► Output::RestartPeers (the marker changed)
//!    delete)                  │   groups:   export, Adj-RIB-Out, encoding
//!  writable(peer, room) ──────┘   restart:  deferral, stale timers
//! ```
//!
//! Driver contract (bgp-daemon's `rib_task.rs` is the driver):
//! - feed every input as it arrives; inputs only record what happened, none sends;
//! - after a batch of inputs, and whenever `now >= poll_timeout()`, call
//!   [`Engine::process`]: the decision round, End-of-RIB and deferral bookkeeping,
//!   packing, group merges and reclaiming all happen there;
//! - then drain [`Engine::poll_output`] until `None`;
//! - writer room is counted in messages: [`SessionUp::room`] is the peer's writer
//!   capacity at the start, each [`Output::Send`] uses one slot, and a group packs
//!   only while every member has room. When a peer's room runs out the engine says
//!   [`Output::Blocked`] once; the driver calls [`Engine::writable`] with the room
//!   there is when the writer has room again (it must not poll). A `Send` the writer
//!   refused all the same (it is shared with the session's own messages) goes back
//!   through [`Engine::unsent`].
//!
//! Peers are named by [`PeerId`]: the route source of the peer, dense, kept across the
//! peer's sessions while it has routes with us (graceful restart), and reused once it
//! has gone. The driver maps addresses to ids once per input; nothing inside looks a
//! peer up by address.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::drain::{self, Drain};
use super::export::ExportTarget;
use super::groups::{Group, Member};
use super::kernel::{local_next_hop, KernelState};
use super::kubernetes::KubeState;
use super::restart::Deferral;
use super::show::peer_route;
use super::{EntryId, Import, PeerInfo, RibConfig, RibState, SourceId, SourceKind};
use crate::config::{Announce, MaxPrefixes, MaxPrefixesAction};
use crate::policy::Policy;
use crate::prefix::Prefix;
use crate::rib::out::{Signature, UpdateGroup};
use crate::types::Family;
use crate::wire::open::{GracefulRestart, LlgrFamily};
use crate::wire::{CodecCtx, NextHop, PathAttrs, Update};

/// A peer, as the engine names it: its route source.
pub type PeerId = SourceId;

/// Most entries packed per group per round, so one group's table walk does not hold
/// up the others.
pub const PACK_CHUNK: usize = 4096;
/// Emptied entries are reclaimed in passes of at least this many.
const RECLAIM_MIN: usize = 4096;

/// An Established session, as routing needs it.
#[derive(Clone, Debug)]
pub struct SessionUp {
    pub info: PeerInfo,
    pub ctx: CodecCtx,
    pub families: Vec<Family>,
    /// Our address on the session.
    pub local: Option<IpAddr>,
    /// The addresses of the session's interface (ours, with their prefix lengths):
    /// the next hops we give for both families, and the subnets whose next hops stay
    /// as they are toward eBGP peers. The driver looks them up, not the engine.
    pub interface: Vec<(IpAddr, u8)>,
    pub next_hop_self: bool,
    pub remove_private_as: bool,
    /// The peer's graceful restart capability (its families filtered to the
    /// session's), if graceful restart was negotiated.
    pub graceful_restart: Option<GracefulRestart>,
    /// Enhanced route refresh (RFC 7313) negotiated: refreshes are framed by BoRR/EoRR.
    pub enhanced_refresh: bool,
    pub import: Arc<Policy>,
    pub export: Arc<Policy>,
    pub max_prefixes: Option<MaxPrefixes>,
    /// MinRouteAdvertisementInterval (RFC 4271 §9.2.1.1).
    pub mrai: Duration,
    /// Free slots in the peer's writer queue now.
    pub room: usize,
    /// Long-lived graceful restart negotiated (RFC 9494): its families, each with the
    /// long-lived stale time to keep the peer's routes for ([`super::llgr::effective`]).
    /// `None` (or empty): not negotiated; long-lived stale routes are not sent to it.
    pub long_lived: Option<Vec<LlgrFamily>>,
}

/// What the driver must do.
#[derive(Debug, PartialEq)]
pub enum Output {
    /// Encoded messages for the peer's writer.
    Send { peer: PeerId, bytes: Bytes },
    /// The peer's writer has no room left: call [`Engine::writable`] once it has.
    Blocked(PeerId),
    /// The peer sent more prefixes than `max_prefixes` allows with the restart action:
    /// its session is to close with Cease / Maximum Number of Prefixes Reached (RFC
    /// 4486), naming `family`, and start again after `after`.
    PrefixLimit { peer: PeerId, address: IpAddr, family: Family, limit: u32, after: Duration },
    /// The peer's import policy changed: routes the old one refused were not kept, so
    /// ask the peer for its routes again (ROUTE-REFRESH, RFC 2918).
    AskRefresh(PeerId),
    /// The peers with graceful restart changed: rewrite the restart marker with
    /// [`Engine::restart_peers`].
    RestartPeers,
    /// Remove our routes left in the kernel from before the start that were not
    /// installed again (after a restart, once the peers awaited sent End-of-RIB or the
    /// deferral time is over). Said once; the driver sweeps once the routes
    /// [`Engine::poll_fib`] had for the kernel are written, so no stale route goes
    /// before its replacement.
    SweepFib,
    /// Something worth a log line.
    Event(Event),
}

/// What the engine did that an operator may want to read in the log.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// Routes whose attributes do not fit in one UPDATE of these peers' sessions
    /// (over 4096 octets without extended messages): not sent. RFC 4271 has no way to
    /// tell the peer; FRR and BIRD skip them too.
    TooLarge { peers: Vec<IpAddr>, routes: usize },
    /// `max_prefixes` crossed with the warn action: the session and routes stay.
    PrefixLimitWarning { address: IpAddr, received: u64, limit: u32 },
    /// A peer's graceful restart time ran out: its stale routes were removed.
    StaleRoutesRemoved { address: IpAddr },
    /// Our restart deferral is over; `missing`: the peers whose End-of-RIB never came.
    DeferralOver { missing: Vec<IpAddr> },
    /// A peer sent routes whose next hop is one of our addresses: ignored (logged once
    /// per session).
    OwnNextHop { address: IpAddr },
    /// A peer was sent the whole table and its End-of-RIB markers.
    InitialTableSent { address: IpAddr },
    /// A peer whose writer stayed full held its update group back: it left the group
    /// and catches up on its own.
    LeftLockStep { address: IpAddr },
    /// A route of another protocol holds the prefix at our metric in our table: ours is
    /// not installed (logged once per prefix).
    FibForeign { prefix: Prefix },
    /// The kernel refused `routes` FIB routes in one batch; `prefix` and `error`: the
    /// first. They are kept and tried again when the kernel's routes or addresses change.
    FibRefused { routes: usize, prefix: Prefix, error: String },
    /// The kernel refused one next hop of a multipath route: installed without it.
    FibNextHopRefused { prefix: Prefix, gateway: IpAddr, error: String },
    /// A peer's routes of `family` became long-lived stale (RFC 9494 §4.2), for
    /// `stale_time` seconds: `kept` of them, and `removed` that carried NO_LLGR.
    LongLivedStale { address: IpAddr, family: Family, stale_time: u32, kept: usize, removed: usize },
    /// A peer's long-lived stale time for `family` ran out: its stale routes of the
    /// family were removed.
    LongLivedStaleRoutesRemoved { address: IpAddr, family: Family },
}

/// Prefix and message counts of one peer, owned here and shown by `show neighbors`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerCounts {
    /// Routes held from the peer: those it sent that were accepted, so both are the
    /// same (refused routes are not kept).
    pub received: u64,
    pub accepted: u64,
    /// Routes the peer holds from us now.
    pub advertised: u64,
    /// UPDATEs sent by the engine (End-of-RIB included) and ROUTE-REFRESH markers.
    pub updates_sent: u64,
    pub refreshes_sent: u64,
}

/// A peer's routing state, kept from its first session while it has routes here.
pub(super) struct PeerState {
    pub(super) address: IpAddr,
    pub(super) import: Arc<Policy>,
    pub(super) local: Option<IpAddr>,
    max_prefixes: Option<MaxPrefixes>,
    /// `max_prefixes` crossed in this session (warned or acted on, once).
    over_limit: bool,
    /// The graceful restart capability of the peer's last session (RFC 4724).
    pub(super) restart: Option<GracefulRestart>,
    /// The peer's stale routes go at this instant: the end of its restart time while
    /// it is down, the stale-path time once it is back.
    pub(super) stale_until: Option<Instant>,
    /// Families the peer is refreshing (RFC 7313 BoRR sent, EoRR not yet), and when
    /// their stale routes go if the EoRR never comes.
    pub(super) refreshing: Vec<(Family, Instant)>,
    pub(super) counts: PeerCounts,
    pub(super) established: bool,
    /// Our addresses on the session's interface: a next hop among them is refused.
    own: Vec<IpAddr>,
    /// An UPDATE with one of our addresses as next hop was logged this session.
    warned_own_next_hop: bool,
    /// The long-lived graceful restart of the peer's last session (RFC 9494).
    pub(super) long_lived: Option<Vec<LlgrFamily>>,
    /// Families whose routes are long-lived stale, and when they go.
    pub(super) llgr_until: Vec<(Family, Instant)>,
}

/// The routing engine; see the module documentation for the driver contract.
pub struct Engine {
    pub(super) rib: RibState,
    /// Indexed by [`PeerId`]; `None` for local sources and free ids.
    pub(super) peers: Vec<Option<PeerState>>,
    by_address: HashMap<IpAddr, PeerId>,
    pub(super) groups: Vec<Group>,
    pub(super) deferral: Option<Deferral>,
    /// Local sources and the sync state of each.
    locals: HashMap<SourceId, LocalSource>,
    statics: SourceId,
    pub(super) outputs: VecDeque<Output>,
    reclaim_at: usize,
    pub(super) kernel: KernelState,
    pub(super) kube: KubeState,
    /// Which peers are drained (RFC 8326; drain.rs).
    pub(super) drain: Drain,
}

/// A source of routes that is not a BGP peer (`[[announce]]`, the kernel,
/// Kubernetes).
struct LocalSource {
    /// Between `sync_begin` and `sync_end`: routes not added again are swept at the end.
    syncing: bool,
}

impl Engine {
    /// An engine for our identity `cfg`. `deferral`: we restart (RFC 4724 §4.1), and
    /// our tables wait for these peers' End-of-RIB or the deadline.
    pub fn new(cfg: RibConfig, deferral: Option<Deferral>) -> Engine {
        let mut rib = RibState::new(cfg);
        let statics = rib.add_source(SourceKind::Static);
        let kernel_source = rib.add_source(SourceKind::Kernel);
        let mut locals = HashMap::new();
        locals.insert(statics, LocalSource { syncing: false });
        locals.insert(kernel_source, LocalSource { syncing: false });
        let kernel = KernelState::new(kernel_source, deferral.as_ref());
        Engine {
            rib,
            peers: Vec::new(),
            by_address: HashMap::new(),
            groups: Vec::new(),
            deferral,
            locals,
            statics,
            outputs: VecDeque::new(),
            reclaim_at: RECLAIM_MIN,
            kernel,
            kube: KubeState::default(),
            drain: Drain::default(),
        }
    }

    pub fn rib(&self) -> &RibState {
        &self.rib
    }

    pub fn config(&self) -> &RibConfig {
        self.rib.config()
    }

    /// The peer known by this address, if it has a session or routes here.
    pub fn peer_id(&self, address: IpAddr) -> Option<PeerId> {
        self.by_address.get(&address).copied()
    }

    pub(super) fn peer(&self, id: PeerId) -> Option<&PeerState> {
        self.peers.get(id.0 as usize).and_then(Option::as_ref)
    }

    pub(super) fn peer_mut(&mut self, id: PeerId) -> Option<&mut PeerState> {
        self.peers.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    /// The peer's counters, as of the last input or round.
    pub fn counts(&self, id: PeerId) -> Option<PeerCounts> {
        self.peer(id).map(|p| p.counts)
    }

    /// Every peer the engine knows, with its address.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, IpAddr)> + '_ {
        self.peers.iter().enumerate().filter_map(|(i, p)| p.as_ref().map(|p| (SourceId(i as u32), p.address)))
    }

    /// A session came up: the peer joins a group of its own, which walks the table,
    /// and joins its like once in step. Returns the peer's id.
    pub fn session_up(&mut self, session: SessionUp, now: Instant) -> PeerId {
        let address = session.info.address;
        let id = match self.by_address.get(&address) {
            Some(&id) => id,
            None => {
                let id = self.rib.add_source(SourceKind::Peer(session.info.clone()));
                self.by_address.insert(address, id);
                id
            }
        };
        let slot = id.0 as usize;
        if self.peers.len() <= slot {
            self.peers.resize_with(slot + 1, || None);
        }
        let old = self.peers[slot].take();
        let counts = old.as_ref().map(|p| p.counts).unwrap_or_default();
        let had_gr = old.as_ref().is_some_and(|p| p.restart.is_some());
        let has_gr = session.graceful_restart.is_some();
        self.peers[slot] = Some(PeerState {
            address,
            import: session.import.clone(),
            local: session.local,
            max_prefixes: session.max_prefixes,
            over_limit: false,
            restart: session.graceful_restart.clone(),
            stale_until: None,
            refreshing: Vec::new(),
            counts,
            established: true,
            own: session.local.into_iter().chain(session.interface.iter().map(|&(ip, _)| ip)).collect(),
            warned_own_next_hop: false,
            long_lived: session.long_lived.clone().filter(|l| !l.is_empty()),
            llgr_until: Vec::new(),
        });
        if old.is_some_and(|o| o.stale_until.is_some() || !o.llgr_until.is_empty()) {
            let llgr = session.long_lived.as_deref().filter(|l| !l.is_empty());
            self.peer_back(id, session.graceful_restart.as_ref(), llgr, now);
        }
        if had_gr != has_gr {
            self.outputs.push_back(Output::RestartPeers);
        }
        let restarting = session.graceful_restart.as_ref().is_some_and(|gr| gr.restarting);
        self.restart_session_up(id, address, session.families.len(), restarting);
        let mut target = export_target(id, &session);
        target.drained = self.drain.covers(address);
        let sig = Signature::of(&target, &session.export, &session.ctx, &session.families);
        let member = Member::new(id, target.clone(), session.families.clone(), session.enhanced_refresh, session.room);
        self.leave_group(id);
        let group = UpdateGroup::new(target, session.export, session.ctx, session.families);
        self.groups.push(Group::new(sig, group, member, session.mrai));
        self.count(id);
        id
    }

    /// The session ended. `graceful`: the peer may come back within its restart time
    /// and its routes stay, stale, until then (RFC 4724 §4.2; see restart.rs).
    pub fn session_down(&mut self, id: PeerId, graceful: bool, now: Instant) {
        self.leave_group(id);
        let Some(state) = self.peer_mut(id) else { return };
        state.established = false;
        state.counts.advertised = 0;
        state.refreshing.clear();
        let (gr, llgr) = (state.restart.clone(), state.long_lived.clone());
        if graceful && (gr.is_some() || llgr.is_some()) {
            self.keep_stale(id, gr.as_ref(), llgr.as_deref(), now);
        } else {
            self.forget(id);
        }
    }

    /// Drops a peer and its routes.
    pub(super) fn forget(&mut self, id: PeerId) {
        let Some(state) = self.peers.get_mut(id.0 as usize).and_then(Option::take) else { return };
        self.by_address.remove(&state.address);
        self.rib.remove_source(id);
        if state.restart.is_some() {
            self.outputs.push_back(Output::RestartPeers);
        }
    }

    /// UPDATEs of one peer, in the order received.
    pub fn updates(&mut self, id: PeerId, updates: &[Update]) {
        for update in updates {
            self.update(id, update);
        }
        self.count(id);
    }

    fn update(&mut self, id: PeerId, update: &Update) {
        let end_of_rib = update.end_of_rib_family();
        if end_of_rib.is_some() {
            self.restart_end_of_rib(id);
        }
        let Some(state) = self.peer(id) else { return };
        let (address, policy, local) = (state.address, state.import.clone(), state.local);
        let local_as = self.rib.config().local_as;
        let drained = self.drain.covers(address);
        // RFC 4271 §5.1.3 / §6.3: a next hop that is one of our own addresses is
        // semantically incorrect; its routes are ignored (and replace what they update).
        let ours = next_hop_is_ours(update, &state.own);
        if ours {
            if let Some(state) = self.peer_mut(id).filter(|s| !s.warned_own_next_hop) {
                state.warned_own_next_hop = true;
                self.outputs.push_back(Output::Event(Event::OwnNextHop { address }));
            }
        }
        let mut import = |prefix: Prefix, attrs: &PathAttrs| {
            if ours {
                return Import::Reject;
            }
            drain::import(&policy, prefix, peer_route(prefix, address, local), attrs, local_as, drained)
        };
        let applied = self.rib.apply_update(id, update, &mut import);
        if let Some(family) = end_of_rib {
            self.rib.sweep_stale(id, Some(family));
        }
        if applied.announced > 0 {
            self.check_limit(id, update_family(update));
        }
    }

    /// `max_prefixes` (RFC 4486): checked after each UPDATE that announced, so the
    /// family named is the one whose routes crossed the limit.
    fn check_limit(&mut self, id: PeerId, family: Family) {
        let held = self.rib.source_routes(id);
        let Some(state) = self.peers.get_mut(id.0 as usize).and_then(Option::as_mut) else { return };
        let Some(max) = state.max_prefixes else { return };
        if held as u64 <= u64::from(max.limit) || state.over_limit {
            return;
        }
        state.over_limit = true;
        let (address, limit) = (state.address, max.limit);
        self.outputs.push_back(match max.action {
            MaxPrefixesAction::Restart { after } => Output::PrefixLimit { peer: id, address, family, limit, after },
            MaxPrefixesAction::Warn => {
                Output::Event(Event::PrefixLimitWarning { address, received: held as u64, limit })
            }
        });
    }

    /// Whether `id` crossed its `max_prefixes` in this session (the warn action only
    /// logs it).
    pub fn over_limit(&self, id: PeerId) -> bool {
        self.peer(id).is_some_and(|p| p.over_limit)
    }

    pub(super) fn count(&mut self, id: PeerId) {
        let held = self.rib.source_routes(id) as u64;
        if let Some(state) = self.peer_mut(id) {
            // Refused routes are not kept: what is received and held is what was
            // accepted (FRR's and BIRD's counts, without soft reconfiguration).
            (state.counts.received, state.counts.accepted) = (held, held);
        }
    }

    /// A reload changed the peer's policies: the accepted routes, as received, go
    /// through the new import policy at once, and the peer is asked for its routes
    /// again for those the old policy refused ([`Output::AskRefresh`]); the peer leaves
    /// its update group for one exporting with the new export policy, which sends it
    /// only what differs from what it holds. Returns (import applied again, export
    /// applied again).
    pub fn set_policies(&mut self, id: PeerId, import: Arc<Policy>, export: Arc<Policy>) -> (bool, bool) {
        let local_as = self.rib.config().local_as;
        let mut reimported = false;
        let drained = self.peer(id).is_some_and(|p| self.drain.covers(p.address));
        if let Some(state) = self.peer_mut(id) {
            if *state.import != *import {
                state.import = import.clone();
                let (address, local) = (state.address, state.local);
                self.rib.reimport(id, &mut |prefix: Prefix, attrs: &PathAttrs| {
                    drain::import(&import, prefix, peer_route(prefix, address, local), attrs, local_as, drained)
                });
                self.count(id);
                reimported = true;
                if self.peer(id).is_some_and(|p| p.established) {
                    self.outputs.push_back(Output::AskRefresh(id));
                }
            }
        }
        (reimported, self.fork(id, export))
    }

    /// The routing settings of `[global]` changed on reload (`multipath`,
    /// `always_compare_med`): every prefix is decided again, and what changes is sent.
    pub fn set_routing(&mut self, multipath: usize, always_compare_med: bool) {
        if self.rib.set_decision(multipath, always_compare_med) {
            self.rib.redecide_all();
        }
    }

    /// `[[announce]]` routes (at start and on reload): replaces the previous set.
    pub fn announce(&mut self, list: &[Announce]) {
        let source = self.statics;
        self.sync_begin(source);
        for a in list {
            let mut attrs = a.path_attrs();
            local_next_hop(&mut attrs, a.prefix);
            self.add(source, a.prefix, attrs);
        }
        self.sync_end(source);
    }

    /// A new local source of routes (the kernel, Kubernetes).
    pub fn add_local_source(&mut self, kind: SourceKind) -> SourceId {
        debug_assert!(kind.is_local());
        let id = self.rib.add_source(kind);
        self.locals.insert(id, LocalSource { syncing: false });
        id
    }

    /// The source starts sending its whole table again: its routes are stale until
    /// added again, and those not added by [`Engine::sync_end`] go.
    pub fn sync_begin(&mut self, source: SourceId) {
        if let Some(l) = self.locals.get_mut(&source) {
            l.syncing = true;
            self.rib.mark_stale(source, None);
        }
    }

    /// A local route: replaces the source's route for the prefix. `attrs` carries its
    /// next hop (NEXT_HOP, or MP_REACH with no NLRI; unspecified: ours on each session).
    pub fn add(&mut self, source: SourceId, prefix: Prefix, attrs: PathAttrs) {
        if self.locals.contains_key(&source) {
            self.rib.announce(source, prefix, attrs);
        }
    }

    pub fn delete(&mut self, source: SourceId, prefix: Prefix) {
        if self.locals.contains_key(&source) {
            self.rib.withdraw(source, prefix);
        }
    }

    /// The source's table is complete: what it did not add again since
    /// [`Engine::sync_begin`] is withdrawn.
    pub fn sync_end(&mut self, source: SourceId) {
        if let Some(l) = self.locals.get_mut(&source) {
            if std::mem::take(&mut l.syncing) {
                self.rib.sweep_stale(source, None);
            }
        }
    }

    /// Routes of a local source (at most the table).
    pub fn local_routes(&self, source: SourceId) -> usize {
        self.rib.source_routes(source)
    }

    /// The source whose routes `[[announce]]` configures.
    pub fn statics(&self) -> SourceId {
        self.statics
    }

    /// The peer's writer has `room` free slots.
    pub fn writable(&mut self, id: PeerId, room: usize) {
        let outputs = &mut self.outputs;
        if let Some(m) = self.groups.iter_mut().find_map(|g| g.member_mut(id)) {
            m.writable(room, outputs);
        }
    }

    /// The writer refused `bytes` after all (its queue was full): sent first once the
    /// writer has room.
    pub fn unsent(&mut self, id: PeerId, bytes: Bytes) {
        let outputs = &mut self.outputs;
        if let Some(m) = self.groups.iter_mut().find_map(|g| g.member_mut(id)) {
            m.unsent(bytes, outputs);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next instant [`Engine::process`] has timed work at: a stale-route deadline,
    /// the end of the restart deferral, or the end of a group's MRAI hold.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let stale = self
            .peers
            .iter()
            .flatten()
            .flat_map(|p| {
                let llgr = p.llgr_until.iter().map(|&(_, t)| t);
                p.stale_until.into_iter().chain(p.refreshing.iter().map(|&(_, t)| t)).chain(llgr)
            })
            .min();
        let deferral = self.deferral.as_ref().map(|d| d.until);
        let mrai = self.groups.iter().filter(|g| !g.group.is_idle()).filter_map(|g| g.hold_until).min();
        let lag = self.groups.iter().filter_map(Group::lag_deadline).min();
        let sweep = self.kernel.sweep_deadline();
        [stale, deferral, mrai, lag, sweep].into_iter().flatten().min()
    }

    /// One round: timers, the decision over what changed, the restart deferral,
    /// packing for every group whose members have room (a member that held its group
    /// back for `groups::LAG_LIMIT` leaves it first), group merges, reclaiming.
    pub fn process(&mut self, now: Instant) {
        self.expire_stale(now);
        self.track_next_hops();
        self.decide();
        self.end_deferral_if_done(now);
        self.sweep_if_done(now);
        self.flush(now);
        self.merge_groups(now);
        self.reclaim();
    }

    /// One decision round: the changed entries are queued in every group.
    fn decide(&mut self) {
        let changes = self.rib.decide();
        if changes.is_empty() {
            return;
        }
        for change in &changes {
            self.queue_fib(change.id);
        }
        for g in &mut self.groups {
            for change in &changes {
                g.group.queue_change(change);
            }
        }
        for id in 0..self.peers.len() {
            self.count(SourceId(id as u32));
        }
    }

    /// Frees emptied table entries no group refers to any more; the pass runs when
    /// enough wait, so its cost stays proportional to what it frees.
    fn reclaim(&mut self) {
        if self.rib.empties() < self.reclaim_at {
            return;
        }
        let (groups, fib) = (&self.groups, &self.kernel.fib);
        let left = self.rib.reclaim(|id| fib.in_use(id) || groups.iter().any(|g| g.group.in_use(id)));
        self.reclaim_at = (2 * left).max(RECLAIM_MIN);
    }

    /// Whether every group has sent all it has (nothing queued, no End-of-RIB owed, no
    /// backlog): for tests and for a driver that wants to know it is idle.
    pub fn is_idle(&self) -> bool {
        self.groups.iter().all(|g| !g.busy())
    }

    /// The group and member ids of an Established peer.
    pub(super) fn member_ids(&self, address: IpAddr) -> Option<(usize, PeerId)> {
        let id = self.peer_id(address)?;
        self.groups.iter().position(|g| g.member(id).is_some()).map(|gi| (gi, id))
    }

    pub(super) fn advertised_ids(&self, address: IpAddr) -> Vec<EntryId> {
        match self.member_ids(address) {
            Some((gi, id)) => self.groups[gi].group.advertised_ids(id),
            None => Vec::new(),
        }
    }

    pub(super) fn advertised_at(&self, id: PeerId, entry: EntryId) -> Vec<(u32, PathAttrs)> {
        match self.groups.iter().find(|g| g.member(id).is_some()) {
            Some(g) => g.group.advertised_at(&self.rib, id, entry),
            None => Vec::new(),
        }
    }

    /// Peers in the groups, by group: for logs and tests.
    pub fn group_sizes(&self) -> Vec<usize> {
        self.groups.iter().map(|g| g.members.len()).collect()
    }
}

/// Whether the UPDATE's next hop (NEXT_HOP for its IPv4 NLRI, MP_REACH's for the
/// rest) is one of `own`.
fn next_hop_is_ours(update: &Update, own: &[IpAddr]) -> bool {
    let v4 = update.attrs.next_hop.filter(|_| !update.nlri.is_empty()).map(IpAddr::V4);
    let mp = update.attrs.mp_reach.as_ref().map(|r| r.next_hop);
    let mp = mp.into_iter().flat_map(|nh| match nh {
        NextHop::V4(a) => [Some(IpAddr::V4(a)), None],
        NextHop::V6 { global, link_local } => [Some(IpAddr::V6(global)), link_local.map(IpAddr::V6)],
    });
    v4.into_iter().chain(mp.flatten()).any(|nh| own.contains(&nh))
}

/// The family an UPDATE announces routes of.
fn update_family(update: &Update) -> Family {
    match &update.attrs.mp_reach {
        Some(r) if update.nlri.is_empty() => r.family,
        _ => Family::IPV4_UNICAST,
    }
}

/// How routes are exported to the peer of `session`.
fn export_target(source: SourceId, session: &SessionUp) -> ExportTarget {
    // Our addresses on the session's interface: the next hops we give for both
    // families (IPv6 routes over an IPv4 session too).
    let global_v6 = |only: Option<Ipv6Addr>| {
        only.or_else(|| {
            session.interface.iter().find_map(|(ip, _)| match ip {
                IpAddr::V6(a) if !a.is_loopback() && (a.segments()[0] & 0xffc0) != 0xfe80 => Some(*a),
                _ => None,
            })
        })
    };
    // Over an IPv6 session, IPv4 routes get the interface's IPv4 address: an IPv6 next
    // hop for them needs RFC 8950, which receivers (this daemon among them) refuse
    // unless negotiated.
    let interface_v4 = || {
        session.interface.iter().find_map(|(ip, _)| match ip {
            IpAddr::V4(a) if !a.is_loopback() => Some(*a),
            _ => None,
        })
    };
    let (local_v4, local_v6) = match session.local {
        Some(IpAddr::V4(a)) => (Some(a), global_v6(None)),
        Some(IpAddr::V6(a)) => (interface_v4(), global_v6(Some(a))),
        None => (None, None),
    };
    ExportTarget {
        source,
        peer: session.info.clone(),
        next_hop_self: session.next_hop_self,
        remove_private_as: session.remove_private_as,
        local_v4,
        local_v6: local_v6.map(|global| NextHop::V6 { global, link_local: None }),
        shared_subnets: session.interface.clone(),
        long_lived: session.long_lived.as_ref().is_some_and(|l| !l.is_empty()),
        drained: false,
    }
}

#[cfg(test)]
mod tests;
