//! The routing information base: every path of every prefix, from BGP peers and from
//! local sources (static, later kernel and Kubernetes), the decision over them, and
//! what changed.
//!
//! Data flow: a source's routes enter with [`RibState::apply_update`] (a decoded
//! UPDATE from a peer: RFC 7606 outcomes already applied, loop checks and import
//! policy run here) or [`RibState::announce`]/[`RibState::withdraw`] (local sources).
//! Each touched prefix is marked dirty; [`RibState::decide`] then runs the decision
//! process once per dirty prefix (so a burst of UPDATEs costs one decision per
//! prefix) and returns the [`Change`]s for the FIB and for export.
//!
//! Driver contract: one owner calls `apply_*`/`announce`/`withdraw` as inputs arrive
//! and `decide` at the end of each batch. Nothing here blocks, reads a clock or does
//! I/O. That owner is [`engine::Engine`], which adds the peers, update groups and
//! timers around it.
//!
//! Storage: a route is a [`Path`] of 20 bytes (source, path id, two attribute handles,
//! flags); a prefix's entry is a 28-byte slot holding its only path inline
//! (`slots.rs`), and attribute sets are interned ([`crate::attrs`]). The Adj-RIB-In
//! before import policy is the `attrs_in` handle of each path (the same id when the
//! policy changed nothing), so a policy change ([`RibState::reimport`]) re-evaluates
//! the accepted paths without the peer resending. Refused paths are not kept (the
//! peer is asked with ROUTE-REFRESH after a policy change); a bounded record of them
//! (`refused.rs`) lets `bgpctl why` say why a route is missing.

pub mod decision;
pub mod drain;
pub mod dry_run;
pub mod engine;
pub mod export;
pub mod fib;
mod groups;
pub mod kernel;
pub mod kubernetes;
pub mod llgr;
pub mod metrics;
pub mod nexthop;
pub mod out;
pub mod refused;
pub mod restart;
pub mod show;
mod slots;
pub mod why;

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr};

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::attrs::{AttrId, AttrStats, AttrStore};
use crate::prefix::{Nlri, Prefix};
use crate::types::Family;
use crate::wire::{MpReach, PathAttrs, Update};
use decision::{Candidate, Step};
use nexthop::NextHops;
use slots::{state, Slots};

/// A source of routes: one BGP peer, or one local source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

/// What the RIB knows about a BGP peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub address: IpAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// In our AS (iBGP).
    pub internal: bool,
    /// A route reflector client of ours (RFC 4456).
    pub rr_client: bool,
    /// How many times our AS may appear in a received AS_PATH (0: none).
    pub allow_as_in: u8,
}

/// Where a source's routes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Peer(PeerInfo),
    Static,
    Kernel,
    Kubernetes,
}

impl SourceKind {
    /// The source as export policies match it (`match.source`).
    pub fn policy_source(&self) -> crate::policy::RouteSource {
        match self {
            SourceKind::Peer(_) => crate::policy::RouteSource::Peer,
            SourceKind::Static => crate::policy::RouteSource::Static,
            SourceKind::Kernel => crate::policy::RouteSource::Kernel,
            SourceKind::Kubernetes => crate::policy::RouteSource::Kubernetes,
        }
    }

    pub fn is_local(&self) -> bool {
        !matches!(self, SourceKind::Peer(_))
    }
    pub fn peer(&self) -> Option<&PeerInfo> {
        match self {
            SourceKind::Peer(p) => Some(p),
            _ => None,
        }
    }
}

/// The speaker's own identity, as the decision and loop checks need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RibConfig {
    pub local_as: u32,
    pub router_id: Ipv4Addr,
    /// RFC 4456 cluster id; the router id unless configured.
    pub cluster_id: Ipv4Addr,
    /// Most paths in an ECMP set.
    pub multipath: usize,
    pub always_compare_med: bool,
}

/// Most paths one source may hold for one prefix (ADD-PATH, RFC 7911). A homelab's
/// ECMP sets are a few nodes wide; FRR and BIRD hold what they are sent.
pub const MAX_PATHS_PER_SOURCE: usize = 64;

pub mod flags {
    /// Kept over a peer's graceful restart, until its End-of-RIB (RFC 4724 §4.2).
    pub const STALE: u8 = 1;
}

/// One path of a prefix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Path {
    pub source: SourceId,
    pub path_id: u32,
    /// After import policy.
    pub attrs: AttrId,
    /// As received (before import policy).
    pub attrs_in: AttrId,
    pub flags: u8,
}

impl Path {
    pub fn is_stale(&self) -> bool {
        self.flags & flags::STALE != 0
    }
    /// Same source, path id and attributes: what forwarding and export see (the stale
    /// mark does not count).
    pub fn same_route(&self, other: &Path) -> bool {
        (self.source, self.path_id, self.attrs) == (other.source, other.path_id, other.attrs)
    }
}

/// Where an entry lives in the table: stable from the prefix's first path until the
/// entry is reclaimed (see [`RibState::reclaim`]), so per-peer state can be a dense
/// vector indexed by it instead of a map keyed by prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub u32);

impl EntryId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A prefix's entry as the table holds it: its paths, candidates first, the best at 0
/// and the ECMP set at the front.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    prefix: Prefix,
    paths: &'a [Path],
    /// How many paths at the front form the ECMP set (0: no usable path).
    pub multipath: u8,
    /// Why `paths()[0]` won.
    pub step: Option<Step>,
}

impl<'a> Entry<'a> {
    pub fn prefix(&self) -> Prefix {
        self.prefix
    }
    /// Every path, candidates first.
    pub fn paths(&self) -> &'a [Path] {
        self.paths
    }
    pub fn best(&self) -> Option<&'a Path> {
        (self.multipath > 0).then(|| &self.paths[0])
    }
    pub fn multipath_paths(&self) -> &'a [Path] {
        &self.paths[..usize::from(self.multipath)]
    }
}

/// A prefix whose best path or ECMP set changed in a decision round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub prefix: Prefix,
    pub id: EntryId,
    /// The source of the new best path (`None`: the prefix has no usable path).
    pub best: Option<SourceId>,
}

/// Why a received route was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    AsLoop,
    /// From an external peer, the AS_PATH does not start with the peer's AS.
    FirstAsNotPeers,
    OriginatorIsUs,
    ClusterLoop,
    ImportPolicy,
}

/// The import policy's answer for one route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Import {
    Reject,
    /// Accepted as received.
    Accept,
    /// Accepted with these attributes (what the policy set).
    Modified(Box<PathAttrs>),
}

/// Counts of one UPDATE's effect, for logs and `show neighbors`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub announced: usize,
    /// Refused by a loop check, the import policy or the ADD-PATH bound; not kept.
    pub rejected: usize,
    pub withdrawn: usize,
    /// Of `rejected`: over [`MAX_PATHS_PER_SOURCE`].
    pub over_path_limit: usize,
}

#[derive(Default)]
struct SourceState {
    kind: Option<SourceKind>,
    /// Paths held (accepted: refused routes are not kept).
    paths: usize,
    /// Of those, IPv6 paths (for the per-family counts of the metrics).
    paths_v6: usize,
    /// Bumped each time the id is given to a new source.
    generation: u32,
}

/// The table: entries in a slab (their [`EntryId`] is the position), found by prefix
/// through an index that stores only positions. An entry whose last path goes leaves
/// the index at once (a new path for its prefix makes a new entry) but keeps its slot
/// until [`RibState::reclaim`], so that whoever still has to withdraw it from a peer
/// can find it by id.
pub struct RibState {
    cfg: RibConfig,
    attrs: AttrStore,
    sources: Vec<SourceState>,
    slots: Slots,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    dirty: Vec<u32>,
    /// Entries left without a path, not yet reclaimed.
    empties: Vec<u32>,
    /// Entries with at least one path.
    routed: usize,
    /// Of those, IPv6 prefixes.
    routed_v6: usize,
    /// The kernel's routes and how each BGP next hop resolves through them.
    pub nht: NextHops,
    /// Routes refused on import, for `bgpctl why` (bounded; see refused.rs).
    refused: refused::Refusals,
}

/// 1 for an IPv6 prefix: what the per-family counters add or take away.
fn v6(prefix: &Prefix) -> usize {
    usize::from(matches!(prefix, Prefix::V6(_)))
}

impl RibState {
    pub fn new(cfg: RibConfig) -> RibState {
        RibState {
            cfg,
            attrs: AttrStore::new(),
            sources: Vec::new(),
            slots: Slots::default(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            dirty: Vec::new(),
            empties: Vec::new(),
            routed: 0,
            routed_v6: 0,
            nht: NextHops::default(),
            refused: refused::Refusals::default(),
        }
    }

    pub fn config(&self) -> &RibConfig {
        &self.cfg
    }

    /// Changes how the decision elects paths (`global.multipath` and
    /// `global.always_compare_med` on reload). Returns whether anything changed.
    pub fn set_decision(&mut self, multipath: usize, always_compare_med: bool) -> bool {
        let changed = (self.cfg.multipath, self.cfg.always_compare_med) != (multipath, always_compare_med);
        (self.cfg.multipath, self.cfg.always_compare_med) = (multipath, always_compare_med);
        changed
    }

    /// Queues every prefix for the next decision round.
    pub fn redecide_all(&mut self) {
        for i in 0..self.slots.len() {
            if !self.slots.is_free(i) && !self.slots.paths(i).is_empty() {
                mark_dirty(&mut self.dirty, &mut self.slots, i);
            }
        }
    }

    pub fn attrs(&self) -> &AttrStore {
        &self.attrs
    }

    pub fn add_source(&mut self, kind: SourceKind) -> SourceId {
        let free = self.sources.iter().position(|s| s.kind.is_none());
        let i = free.unwrap_or_else(|| {
            self.sources.push(SourceState::default());
            self.sources.len() - 1
        });
        let generation = self.sources[i].generation.wrapping_add(1);
        self.sources[i] = SourceState { kind: Some(kind), paths: 0, paths_v6: 0, generation };
        SourceId(u32::try_from(i).expect("invariant: fewer than 2^32 sources"))
    }

    pub fn source(&self, id: SourceId) -> Option<&SourceKind> {
        self.sources.get(id.0 as usize).and_then(|s| s.kind.as_ref())
    }

    /// Changes whenever `id` names a new source (ids of removed sources are reused).
    pub fn source_generation(&self, id: SourceId) -> u32 {
        self.sources.get(id.0 as usize).map_or(0, |s| s.generation)
    }

    /// Paths a source holds (routes it sent that were accepted, or a local source's).
    pub fn source_routes(&self, id: SourceId) -> usize {
        self.sources.get(id.0 as usize).map_or(0, |s| s.paths)
    }

    /// [`Rib::source_routes`] by family: (IPv4, IPv6). Kept as paths come and go, so
    /// reading it costs nothing (a scrape must not walk the table).
    pub fn source_routes_by_afi(&self, id: SourceId) -> (usize, usize) {
        self.sources.get(id.0 as usize).map_or((0, 0), |s| (s.paths - s.paths_v6, s.paths_v6))
    }

    /// Every source with its kind.
    pub fn sources(&self) -> impl Iterator<Item = (SourceId, &SourceKind)> + '_ {
        self.sources.iter().enumerate().filter_map(|(i, s)| Some((SourceId(i as u32), s.kind.as_ref()?)))
    }

    /// Prefixes in the table by family: (IPv4, IPv6).
    pub fn len_by_afi(&self) -> (usize, usize) {
        (self.routed - self.routed_v6, self.routed_v6)
    }

    /// Withdraws every path of the source and forgets it.
    pub fn remove_source(&mut self, id: SourceId) {
        self.retain_paths(|_, p| p.source != id);
        self.refused.forget_source(&mut self.attrs, id);
        if let Some(s) = self.sources.get_mut(id.0 as usize) {
            *s = SourceState { generation: s.generation, ..SourceState::default() };
        }
    }

    /// The source's paths of `family` (all families: `None`) stay but are stale, until
    /// sent again or swept: graceful restart helper (RFC 4724 §4.2), or a peer's
    /// enhanced route refresh between BoRR and EoRR (RFC 7313 §4).
    pub fn mark_stale(&mut self, id: SourceId, family: Option<Family>) {
        for i in 0..self.slots.len() {
            if self.slots.is_free(i) || family.is_some_and(|f| f.afi != self.slots.prefix(i).afi()) {
                continue;
            }
            let mut touched = false;
            for p in self.slots.paths_mut(i).iter_mut().filter(|p| p.source == id) {
                p.flags |= flags::STALE;
                touched = true;
            }
            if touched {
                mark_dirty(&mut self.dirty, &mut self.slots, i);
            }
        }
    }

    /// Drops the source's stale paths of `family` (its End-of-RIB arrived), or of
    /// every family (the restart time ran out).
    pub fn sweep_stale(&mut self, id: SourceId, family: Option<Family>) {
        self.retain_paths(|prefix, p| {
            !(p.source == id && p.is_stale() && family.is_none_or(|f| f.afi == prefix.afi()))
        });
    }

    fn retain_paths(&mut self, mut keep: impl FnMut(&Prefix, &Path) -> bool) {
        for i in 0..self.slots.len() {
            if self.slots.is_free(i) || self.slots.paths(i).is_empty() {
                continue;
            }
            let prefix = self.slots.prefix(i);
            if self.slots.paths(i).iter().all(|p| keep(&prefix, p)) {
                continue;
            }
            let mut j = 0;
            while j < self.slots.paths(i).len() {
                if keep(&prefix, &self.slots.paths(i)[j]) {
                    j += 1;
                    continue;
                }
                let p = self.slots.remove(i, j);
                let s = &mut self.sources[p.source.0 as usize];
                s.paths -= 1;
                s.paths_v6 -= v6(&prefix);
                release_path(&mut self.attrs, &p);
            }
            if self.slots.paths(i).is_empty() {
                self.unindex(i);
                self.routed -= 1;
                self.routed_v6 -= v6(&prefix);
            }
            mark_dirty(&mut self.dirty, &mut self.slots, i);
        }
    }

    fn unindex(&mut self, i: u32) {
        let hash = self.hasher.hash_one(self.slots.prefix(i));
        match self.index.find_entry(hash, |&j| j == i) {
            Ok(e) => {
                e.remove();
            }
            Err(_) => unreachable!("invariant: an entry with paths is in the index"),
        }
    }

    /// Applies a decoded UPDATE from peer `source`: withdrawals, then announcements,
    /// each through the loop checks and `import`, the import policy.
    pub fn apply_update(
        &mut self,
        source: SourceId,
        update: &Update,
        import: &mut dyn FnMut(Prefix, &PathAttrs) -> Import,
    ) -> Applied {
        let mut applied = Applied::default();
        for (_, nlri) in update.withdrawals() {
            self.refused.forget(&mut self.attrs, source, nlri);
            applied.withdrawn += usize::from(self.remove_path(source, nlri));
        }
        if update.treat_as_withdraw() {
            return applied;
        }
        let rejection = self.loop_check(source, &update.attrs);
        if !update.nlri.is_empty() {
            // The usual IPv4 UPDATE has no MP attribute: its attributes are the set as
            // they are, and are copied only if the set is new.
            let attrs_in = match (&update.attrs.mp_reach, &update.attrs.mp_unreach) {
                (None, None) => self.attrs.intern_ref(&update.attrs),
                _ => self.attrs.intern(strip_nlri(&update.attrs)),
            };
            self.import_group(source, &update.nlri, attrs_in, rejection, import, &mut applied);
        }
        if let Some(r) = &update.attrs.mp_reach {
            // An MP route's interned set keeps MP_REACH_NLRI for its next hop.
            let mut a = strip_nlri(&update.attrs);
            a.next_hop = None;
            a.mp_reach = Some(Box::new(MpReach { family: r.family, next_hop: r.next_hop, nlri: Vec::new() }));
            let attrs_in = self.attrs.intern(a);
            self.import_group(source, &r.nlri, attrs_in, rejection, import, &mut applied);
        }
        applied
    }

    /// Routes of one UPDATE that share `attrs_in` (the NLRI field, or MP_REACH_NLRI);
    /// takes over the caller's reference.
    fn import_group(
        &mut self,
        source: SourceId,
        nlri: &[Nlri],
        attrs_in: AttrId,
        rejection: Option<Rejection>,
        import: &mut dyn FnMut(Prefix, &PathAttrs) -> Import,
        applied: &mut Applied,
    ) {
        for n in nlri {
            let verdict = match rejection {
                Some(_) => Import::Reject,
                None => import(n.prefix, self.attrs.get(attrs_in)),
            };
            let attrs = match verdict {
                Import::Accept => {
                    self.attrs.retain(attrs_in);
                    attrs_in
                }
                Import::Modified(a) => self.attrs.intern(*a),
                Import::Reject => {
                    // Not kept (what a peer sends and we refuse costs nothing), and the
                    // route it replaces goes; remembered, bounded, for `bgpctl why`.
                    self.refused.note(&mut self.attrs, source, n, attrs_in);
                    applied.rejected += 1;
                    applied.withdrawn += usize::from(self.remove_path(source, n));
                    continue;
                }
            };
            if !self.room_for(source, n) {
                // Over the ADD-PATH bound: ignored, like a route the policy refused.
                self.attrs.release(attrs);
                applied.rejected += 1;
                applied.over_path_limit += 1;
                continue;
            }
            self.attrs.retain(attrs_in);
            self.refused.forget(&mut self.attrs, source, n);
            applied.announced += 1;
            self.insert_path(n.prefix, Path { source, path_id: n.path_id, attrs, attrs_in, flags: 0 });
        }
        self.attrs.release(attrs_in);
    }

    /// Runs a new import policy over the routes `source` sent that were accepted, as
    /// received (their pre-policy attributes are kept): a policy change on reload
    /// takes effect at once for them. Routes the new policy refuses go; routes an
    /// earlier policy refused were not kept, so the caller asks the peer for them
    /// again (ROUTE-REFRESH). Counts what is now announced and rejected.
    pub fn reimport(&mut self, source: SourceId, import: &mut dyn FnMut(Prefix, &PathAttrs) -> Import) -> Applied {
        let mut applied = Applied::default();
        let mut refused = Vec::new();
        for i in 0..self.slots.len() {
            if self.slots.is_free(i) {
                continue;
            }
            let prefix = self.slots.prefix(i);
            for j in 0..self.slots.paths(i).len() {
                let old = self.slots.paths(i)[j];
                if old.source != source {
                    continue;
                }
                let attrs = match import(prefix, self.attrs.get(old.attrs_in)) {
                    Import::Accept => {
                        self.attrs.retain(old.attrs_in);
                        old.attrs_in
                    }
                    Import::Modified(a) => self.attrs.intern(*a),
                    Import::Reject => {
                        applied.rejected += 1;
                        let nlri = Nlri { prefix, path_id: old.path_id };
                        self.refused.note(&mut self.attrs, source, &nlri, old.attrs_in);
                        refused.push(nlri);
                        continue;
                    }
                };
                applied.announced += 1;
                if attrs == old.attrs {
                    self.attrs.release(attrs);
                    continue;
                }
                self.attrs.release(old.attrs);
                self.slots.paths_mut(i)[j] = Path { attrs, ..old };
                let slot = self.slots.get_mut(i);
                if j < usize::from(slot.multipath) {
                    slot.state |= state::TOUCHED;
                }
                mark_dirty(&mut self.dirty, &mut self.slots, i);
            }
        }
        for nlri in &refused {
            self.remove_path(source, nlri);
        }
        applied
    }

    /// Whether the source may add the path `n`: a peer with ADD-PATH may send many
    /// paths of one prefix, and each costs memory and decision time, so a source holds
    /// at most [`MAX_PATHS_PER_SOURCE`] per prefix.
    fn room_for(&self, source: SourceId, n: &Nlri) -> bool {
        if n.path_id == 0 {
            return true;
        }
        let Some(i) = self.find(&n.prefix) else { return true };
        let mine = self.slots.paths(i).iter().filter(|p| p.source == source);
        let (mut held, mut replaces) = (0, false);
        for p in mine {
            held += 1;
            replaces |= p.path_id == n.path_id;
        }
        replaces || held < MAX_PATHS_PER_SOURCE
    }

    /// RFC 4271 §9.1.2 (AS loop), RFC 4456 §8 (ORIGINATOR_ID, CLUSTER_LIST).
    fn loop_check(&self, source: SourceId, attrs: &PathAttrs) -> Option<Rejection> {
        let peer = self.source(source)?.peer()?;
        let ours = attrs
            .as_path
            .iter()
            .flat_map(|p| p.segments.iter())
            .flat_map(|s| s.asns.iter())
            .filter(|&&a| a == self.cfg.local_as)
            .count();
        if ours > usize::from(peer.allow_as_in) {
            return Some(Rejection::AsLoop);
        }
        if !peer.internal {
            // RFC 4271 §6.3: the leftmost AS of an external peer's route is its own
            // (FRR's enforce-first-as, on by default); else the AS_PATH is malformed,
            // and RFC 7606 §7.2 treats the route as withdrawn.
            let first = attrs.as_path.as_ref().and_then(|p| p.segments.first());
            if !first.is_some_and(|s| s.kind == crate::wire::SegmentType::Sequence && s.asns.first() == Some(&peer.asn))
            {
                return Some(Rejection::FirstAsNotPeers);
            }
        }
        if attrs.originator_id == Some(self.cfg.router_id) {
            return Some(Rejection::OriginatorIsUs);
        }
        if attrs.cluster_list.contains(&self.cfg.cluster_id) {
            return Some(Rejection::ClusterLoop);
        }
        None
    }

    /// A local route (static, kernel, Kubernetes): replaces the source's path for the
    /// prefix. `attrs` carries its next hop (NEXT_HOP, or MP_REACH with no NLRI).
    pub fn announce(&mut self, source: SourceId, prefix: Prefix, attrs: PathAttrs) {
        self.announce_path(source, prefix, 0, attrs);
    }

    /// [`RibState::announce`] of one of several paths a local source has for the
    /// prefix (Kubernetes in cluster mode: one per node), told apart by `path_id`.
    pub fn announce_path(&mut self, source: SourceId, prefix: Prefix, path_id: u32, attrs: PathAttrs) {
        let id = self.attrs.intern(attrs);
        self.attrs.retain(id);
        self.insert_path(prefix, Path { source, path_id, attrs: id, attrs_in: id, flags: 0 });
        if path_id != 0 {
            self.touch(&prefix);
        }
    }

    pub fn withdraw(&mut self, source: SourceId, prefix: Prefix) -> bool {
        self.remove_path(source, &Nlri::new(prefix))
    }

    /// Withdraws one path of a local source, see [`RibState::announce_path`].
    pub fn withdraw_path(&mut self, source: SourceId, prefix: Prefix, path_id: u32) -> bool {
        let removed = self.remove_path(source, &Nlri { prefix, path_id });
        if removed {
            self.touch(&prefix);
        }
        removed
    }

    /// The entry is reported by the next decision round even if its ECMP set stays
    /// the same: ADD-PATH peers are sent every path of a local source with several
    /// (`out.rs`), not only those of the ECMP set.
    fn touch(&mut self, prefix: &Prefix) {
        if let Some(i) = self.find(prefix) {
            self.slots.get_mut(i).state |= state::TOUCHED;
            mark_dirty(&mut self.dirty, &mut self.slots, i);
        }
    }

    fn find(&self, prefix: &Prefix) -> Option<u32> {
        let hash = self.hasher.hash_one(prefix);
        self.index.find(hash, |&i| self.slots.holds(i, prefix)).copied()
    }

    /// The entry of `prefix`, created if there is none.
    fn entry_of(&mut self, prefix: Prefix) -> u32 {
        let hash = self.hasher.hash_one(prefix);
        let slots = &mut self.slots;
        if let Some(&i) = self.index.find(hash, |&i| slots.holds(i, &prefix)) {
            return i;
        }
        let i = slots.alloc(prefix);
        let hasher = &self.hasher;
        let rehash = |&j: &u32| hasher.hash_one(slots.prefix(j));
        if self.index.len() == self.index.capacity() {
            // Growing re-reads every entry's prefix from its slot, a cache miss each.
            // Four-fold steps, always to an odd power of two buckets, move a third as
            // many entries as doubling, and land on the same size (2^21 buckets for a
            // million prefixes); tables of 0.46M to 0.92M pay 5 MB more for it.
            let buckets = (self.index.capacity() * 8).div_ceil(7).next_power_of_two();
            let k = buckets.trailing_zeros();
            let target = 1usize << if k % 2 == 1 { k + 2 } else { k + 1 };
            let items = if target < 8 { target - 1 } else { target / 8 * 7 };
            self.index.reserve(items.saturating_sub(self.index.len()), rehash);
        }
        self.index.insert_unique(hash, i, rehash);
        i
    }

    fn insert_path(&mut self, prefix: Prefix, path: Path) {
        let i = self.entry_of(prefix);
        let s = &mut self.sources[path.source.0 as usize];
        let paths = self.slots.paths_mut(i);
        match paths.iter().position(|p| p.source == path.source && p.path_id == path.path_id) {
            Some(j) => {
                let old_path = std::mem::replace(&mut paths[j], path);
                let slot = self.slots.get_mut(i);
                if j < usize::from(slot.multipath) && !old_path.same_route(&path) {
                    slot.state |= state::TOUCHED;
                }
                release_path(&mut self.attrs, &old_path);
            }
            None => {
                if paths.is_empty() {
                    self.routed += 1;
                    self.routed_v6 += v6(&prefix);
                }
                self.slots.push(i, path);
                s.paths += 1;
                s.paths_v6 += v6(&prefix);
            }
        }
        mark_dirty(&mut self.dirty, &mut self.slots, i);
    }

    fn remove_path(&mut self, source: SourceId, nlri: &Nlri) -> bool {
        let hash = self.hasher.hash_one(nlri.prefix);
        let slots = &mut self.slots;
        let Ok(found) = self.index.find_entry(hash, |&i| slots.holds(i, &nlri.prefix)) else { return false };
        let i = *found.get();
        let Some(j) = slots.paths(i).iter().position(|p| p.source == source && p.path_id == nlri.path_id) else {
            return false;
        };
        let path = slots.remove(i, j);
        if slots.paths(i).is_empty() {
            // Out of the index at once, where it was just found (see `reclaim`).
            found.remove();
            self.routed -= 1;
            self.routed_v6 -= v6(&nlri.prefix);
        }
        let s = &mut self.sources[source.0 as usize];
        s.paths -= 1;
        s.paths_v6 -= v6(&nlri.prefix);
        release_path(&mut self.attrs, &path);
        mark_dirty(&mut self.dirty, &mut self.slots, i);
        true
    }

    /// Runs the decision for every prefix touched since the last call and returns the
    /// prefixes whose best path or ECMP set changed.
    pub fn decide(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut before: Vec<Path> = Vec::new();
        let mut resolves: Vec<bool> = Vec::new();
        for i in std::mem::take(&mut self.dirty) {
            let slot = self.slots.get_mut(i);
            let touched = slot.state & state::TOUCHED != 0;
            slot.state &= !(state::DIRTY | state::TOUCHED);
            let old_multipath = usize::from(slot.multipath);
            before.clear();
            before.extend_from_slice(&self.slots.paths(i)[..old_multipath]);
            resolves.clear();
            for p in self.slots.paths(i) {
                resolves.push(path_resolves(&mut self.nht, &self.sources, &self.attrs, p));
            }
            let paths = self.slots.paths_mut(i);
            let (multipath, step) = if !resolves.contains(&true) {
                // No path is usable (none, or no next hop resolves): no best path.
                (0, None)
            } else if let [_] = paths {
                // The usual case: no election.
                (1, Some(Step::OnlyPath))
            } else {
                let n = paths.len();
                let cands: Vec<Candidate<'_>> = paths[..n]
                    .iter()
                    .zip(&resolves)
                    .map(|(p, &r)| Candidate { reachable: r, ..candidate(&self.cfg, &self.sources, &self.attrs, p) })
                    .collect();
                let d = decision::decide(&cands, self.cfg.always_compare_med, self.cfg.multipath);
                let mut order: Vec<usize> = d.multipath.clone();
                order.extend((0..n).filter(|i| !d.multipath.contains(i)));
                let reordered: Vec<Path> = order.iter().map(|&i| paths[i]).collect();
                paths[..n].copy_from_slice(&reordered);
                (d.multipath.len() as u8, Some(d.step))
            };
            let slot = self.slots.get_mut(i);
            (slot.multipath, slot.step) = (multipath, step);
            let after = &self.slots.paths(i)[..usize::from(multipath)];
            let same = after.len() == before.len() && after.iter().zip(&before).all(|(a, b)| a.same_route(b));
            if touched || !same {
                let best = after.first().map(|p| p.source);
                changes.push(Change { prefix: self.slots.prefix(i), id: EntryId(i), best });
            }
            let slot = self.slots.get_mut(i);
            if slot.state & (state::ONE | state::MANY) == 0 && slot.state & state::EMPTY == 0 {
                slot.state |= state::EMPTY;
                self.empties.push(i);
            }
        }
        changes
    }

    /// Frees the entries left without a path, except those `in_use` (a peer has still
    /// to be told, or still holds an advertisement of the prefix under its id).
    /// Returns how many entries are left waiting.
    pub fn reclaim(&mut self, mut in_use: impl FnMut(EntryId) -> bool) -> usize {
        let mut waiting = Vec::new();
        for i in std::mem::take(&mut self.empties) {
            let slot = self.slots.get_mut(i);
            if slot.state & (state::ONE | state::MANY) != 0 {
                // Cannot happen: paths arrive through the index, which an emptied
                // entry has left. Kept out of the free list all the same.
                slot.state &= !state::EMPTY;
                continue;
            }
            if slot.state & state::DIRTY != 0 || in_use(EntryId(i)) {
                waiting.push(i);
                continue;
            }
            self.slots.release(i);
        }
        let left = waiting.len();
        self.empties = waiting;
        left
    }

    /// Entries without a path waiting to be reclaimed.
    pub fn empties(&self) -> usize {
        self.empties.len()
    }

    /// The entry of `prefix`, if it has a path.
    pub fn get(&self, prefix: &Prefix) -> Option<Entry<'_>> {
        self.find(prefix).map(|i| self.view(i)).filter(|e| !e.paths.is_empty())
    }

    /// The id of `prefix`'s entry, if it has one (with or without paths).
    pub fn id_of(&self, prefix: &Prefix) -> Option<EntryId> {
        self.find(prefix).map(EntryId)
    }

    /// An entry by id; `None` for a free slot. An entry without paths is a prefix
    /// that went and has not been reclaimed yet.
    pub fn entry(&self, id: EntryId) -> Option<Entry<'_>> {
        (id.0 < self.slots.len() && !self.slots.is_free(id.0)).then(|| self.view(id.0))
    }

    fn view(&self, i: u32) -> Entry<'_> {
        let slot = self.slots.get(i);
        Entry { prefix: self.slots.prefix(i), paths: self.slots.paths(i), multipath: slot.multipath, step: slot.step }
    }

    /// One past the highest id in use: ids below it are what a full walk visits.
    pub fn id_limit(&self) -> u32 {
        self.slots.len()
    }

    /// Every prefix with at least one path (candidate or not), in no order.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, Entry<'_>)> {
        (0..self.slots.len())
            .filter(|&i| !self.slots.is_free(i) && !self.slots.paths(i).is_empty())
            .map(|i| (self.slots.prefix(i), self.view(i)))
    }

    /// Prefixes in the table (with at least one path, candidate or not).
    pub fn len(&self) -> usize {
        self.routed
    }

    pub fn is_empty(&self) -> bool {
        self.routed == 0
    }

    /// Routes refused on import that are remembered for `bgpctl why`.
    pub fn refusals(&self) -> &refused::Refusals {
        &self.refused
    }

    pub fn attr_stats(&self) -> AttrStats {
        self.attrs.stats()
    }

    /// The next hop of a path from a BGP peer.
    pub fn next_hop_of(&self, p: &Path) -> Option<IpAddr> {
        peer_next_hop(&self.sources, &self.attrs, p)
    }

    /// Next-hop tracking saw the kernel change: the entries with a path through a next
    /// hop of `changed` (every path from a peer: `None`) are decided again, and their
    /// ids returned (their FIB routes may change even where the best path does not).
    /// Next hops no path uses any more are forgotten.
    pub fn redecide_next_hops(&mut self, changed: Option<&HashSet<IpAddr>>) -> Vec<EntryId> {
        let mut ids = Vec::new();
        let mut used = HashSet::new();
        for i in 0..self.slots.len() {
            if self.slots.is_free(i) {
                continue;
            }
            let mut hit = false;
            for p in self.slots.paths(i) {
                if let Some(nh) = peer_next_hop(&self.sources, &self.attrs, p) {
                    hit |= changed.is_none_or(|c| c.contains(&nh));
                    used.insert(nh);
                }
            }
            if hit {
                mark_dirty(&mut self.dirty, &mut self.slots, i);
                ids.push(EntryId(i));
            }
        }
        self.nht.retain(&used);
        ids
    }
}

fn mark_dirty(dirty: &mut Vec<u32>, slots: &mut Slots, i: u32) {
    let slot = slots.get_mut(i);
    if slot.state & state::DIRTY == 0 {
        slot.state |= state::DIRTY;
        dirty.push(i);
    }
}

fn release_path(store: &mut AttrStore, p: &Path) {
    store.release(p.attrs);
    store.release(p.attrs_in);
}

/// The next hop of a path from a BGP peer (`None` for our own routes, whose next hop
/// is ours on each session).
fn peer_next_hop(sources: &[SourceState], store: &AttrStore, p: &Path) -> Option<IpAddr> {
    if sources[p.source.0 as usize].kind.as_ref().is_none_or(SourceKind::is_local) {
        return None;
    }
    decision::next_hop_ip(store.get(p.attrs))
}

/// Whether the path's next hop resolves (next-hop tracking; our own routes always do).
fn path_resolves(nht: &mut NextHops, sources: &[SourceState], store: &AttrStore, p: &Path) -> bool {
    if !nht.table.synced() {
        return true;
    }
    peer_next_hop(sources, store, p).is_none_or(|nh| nht.resolved(nh))
}

fn candidate<'a>(cfg: &RibConfig, sources: &'a [SourceState], store: &'a AttrStore, p: &Path) -> Candidate<'a> {
    candidate_with(cfg, sources, store.get(p.attrs), p.source)
}

/// [`candidate`] for attributes that need not be in the store (a dry run's).
fn candidate_with<'a>(
    cfg: &RibConfig,
    sources: &[SourceState],
    attrs: &'a PathAttrs,
    source: SourceId,
) -> Candidate<'a> {
    let kind = sources[source.0 as usize].kind.as_ref();
    let peer = kind.and_then(SourceKind::peer);
    let neighbor_as = attrs
        .as_path
        .as_ref()
        .and_then(|path| path.segments.iter().find(|s| s.kind == crate::wire::SegmentType::Sequence))
        .and_then(|s| s.asns.first().copied())
        .unwrap_or(cfg.local_as);
    Candidate {
        attrs,
        reachable: true,
        local: kind.is_some_and(SourceKind::is_local),
        external: peer.is_some_and(|p| !p.internal),
        router_id: peer.map_or(cfg.router_id, |p| p.router_id),
        peer_address: peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.address),
        neighbor_as,
    }
}

/// The attributes of an UPDATE without its NLRI (which describe the message).
fn strip_nlri(attrs: &PathAttrs) -> PathAttrs {
    PathAttrs { mp_reach: None, mp_unreach: None, ..attrs.clone() }
}

#[cfg(test)]
mod tests;
