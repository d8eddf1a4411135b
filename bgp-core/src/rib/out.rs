//! Update groups: the Adj-RIB-Out of peers that would be sent the same UPDATEs, kept
//! once and encoded once for all of them (FRR's update groups, RFC 4271 §9.2).
//!
//! A group holds, per table entry, the handle of the attribute block it last sent
//! (a dense vector indexed by [`EntryId`]: 4 bytes per route, no hashing), and which
//! entries changed since. It never stores pending attributes: packing looks at the
//! Loc-RIB as it is now and sends the difference, so a route that flaps ten times
//! while a peer is slow costs one queue entry and one UPDATE.
//!
//! Exported attribute sets are kept encoded (an [`AttrBlock`] and a next hop), once
//! per distinct set, and looked up through a memo keyed by the Loc-RIB's attribute id,
//! so a table of 1M routes in 125k sets is exported and encoded 125k times, not 1M.
//!
//! Split horizon is per member: the group's state is what members hold, except that
//! a member holds nothing for the routes it sent us itself. Packing therefore yields
//! [`Batch`]es addressed to every member, every member but one, or one member.
//!
//! A peer joins as a group of its own and receives the whole table by walking the
//! entry ids (no copy of the table is made); once it is in step with an older group
//! of the same [`Signature`], the driver merges the two.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use super::export::{export, ExportTarget};
use super::{Change, EntryId, Path, RibConfig, RibState, SourceId, SourceKind};
use crate::attrs::AttrId;
use crate::policy::{Policy, RouteInfo, Verdict};
use crate::prefix::{Nlri, Prefix};
use crate::types::Family;
use crate::wire::{pack_announce, pack_withdraw, AttrBlock, CodecCtx, NextHop, PathAttrs};

/// No handle: nothing sent. Also what a group of one member holds for that member's
/// own routes: nobody to send them to, so they are neither exported nor encoded, nor
/// even looked at (a feeder's million routes would otherwise cost its group an
/// Adj-RIB-Out and a sync each); `merge` exports them when others join.
const NONE: u32 = u32::MAX;

/// A handle of the store, not NONE.
fn real(h: u32) -> bool {
    h != NONE
}

/// What must be equal for two peers to share a group: everything the export rules,
/// the export policy and the encoding look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub internal: bool,
    pub rr_client: bool,
    pub next_hop_self: bool,
    pub remove_private_as: bool,
    pub local_v4: Option<std::net::Ipv4Addr>,
    pub local_v6: Option<NextHop>,
    pub shared_subnets: Vec<(IpAddr, u8)>,
    pub ctx: CodecCtx,
    pub families: Vec<Family>,
    /// The export policy, compared by contents (each neighbor has its own copy).
    pub policy: Arc<Policy>,
    /// The peer's address, when the export policy may look at it (any policy other
    /// than accept-all); `None` otherwise.
    pub address: Option<IpAddr>,
    /// Long-lived graceful restart negotiated: long-lived stale routes go to it.
    pub long_lived: bool,
    /// Drained peers are sent other attributes (drain.rs).
    pub drained: bool,
}

impl Signature {
    pub fn of(target: &ExportTarget, policy: &Arc<Policy>, ctx: &CodecCtx, families: &[Family]) -> Signature {
        Signature {
            internal: target.peer.internal,
            rr_client: target.peer.rr_client,
            next_hop_self: target.next_hop_self,
            remove_private_as: target.remove_private_as,
            local_v4: target.local_v4,
            local_v6: target.local_v6,
            shared_subnets: target.shared_subnets.clone(),
            ctx: *ctx,
            families: families.to_vec(),
            policy: policy.clone(),
            address: (!is_accept_all(policy)).then_some(target.peer.address),
            long_lived: target.long_lived,
            drained: target.drained,
        }
    }
}

/// Whether a policy accepts everything unchanged (no terms, default accept).
pub fn is_accept_all(p: &Policy) -> bool {
    p.terms.is_empty() && p.default == Verdict::Accept
}

/// Who a batch of UPDATEs is for, among a group's members (named by their source).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recipients {
    All,
    AllBut(SourceId),
    Only(SourceId),
}

impl Recipients {
    pub fn includes(self, member: SourceId) -> bool {
        match self {
            Recipients::All => true,
            Recipients::AllBut(m) => m != member,
            Recipients::Only(m) => m == member,
        }
    }
}

/// Encoded UPDATEs and who gets them.
#[derive(Clone, Debug)]
pub struct Batch {
    pub to: Recipients,
    pub bytes: Bytes,
    /// UPDATE messages in `bytes`.
    pub messages: usize,
}

/// What one [`UpdateGroup::pack`] produced.
#[derive(Debug, Default)]
pub struct Packed {
    pub batches: Vec<Batch>,
    /// Entries brought in step (0: nothing was left to do, or nothing but announcements
    /// that `withdrawals_only` holds back).
    pub visited: usize,
    /// Whether anything was announced (the MRAI then starts).
    pub announced: bool,
    /// Routes whose attributes do not fit in one UPDATE of the session (over 4096
    /// octets without extended messages): not sent, for the driver to log. RFC 4271
    /// has no way to say so to the peer; FRR and BIRD skip them too.
    pub too_large: usize,
}

struct OutSlot {
    block: AttrBlock,
    next_hop: NextHop,
    /// The Loc-RIB source of the route: a member that is this source is not sent it.
    source: SourceId,
    refs: u32,
    /// The index's hash of the slot, kept: rehashing on growth and finding the slot to
    /// remove then read no attribute octets.
    hash: u64,
}

/// Encoded attribute sets, interned by content, with reference counts.
#[derive(Default)]
struct OutStore {
    slots: Vec<OutSlot>,
    free: Vec<u32>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl OutStore {
    fn key_hash(&self, block: &AttrBlock, next_hop: &NextHop, source: SourceId) -> u64 {
        self.hasher.hash_one((block.as_bytes(), next_hop, source))
    }

    /// The handle of this set, with one reference taken.
    fn intern(&mut self, block: AttrBlock, next_hop: NextHop, source: SourceId) -> u32 {
        let hash = self.key_hash(&block, &next_hop, source);
        let slots = &mut self.slots;
        let same = |s: &OutSlot| s.refs > 0 && s.source == source && s.next_hop == next_hop && s.block == block;
        if let Some(&h) = self.index.find(hash, |&h| same(&slots[h as usize])) {
            slots[h as usize].refs += 1;
            return h;
        }
        let slot = OutSlot { block, next_hop, source, refs: 1, hash };
        let h = match self.free.pop() {
            Some(h) => {
                slots[h as usize] = slot;
                h
            }
            None => {
                slots.push(slot);
                u32::try_from(slots.len() - 1).expect("invariant: fewer than 2^32 attribute sets")
            }
        };
        self.index.insert_unique(hash, h, |&j| slots[j as usize].hash);
        h
    }

    fn retain(&mut self, h: u32) {
        if real(h) {
            self.slots[h as usize].refs += 1;
        }
    }

    fn release(&mut self, h: u32) {
        if !real(h) {
            return;
        }
        let slot = &mut self.slots[h as usize];
        slot.refs -= 1;
        if slot.refs == 0 {
            let hash = slot.hash;
            match self.index.find_entry(hash, |&j| j == h) {
                Ok(e) => {
                    e.remove();
                }
                Err(_) => unreachable!("invariant: a held set is in the index"),
            }
            self.slots[h as usize].block = AttrBlock::default();
            self.free.push(h);
        }
    }

    fn get(&self, h: u32) -> &OutSlot {
        &self.slots[h as usize]
    }
}

/// A memoized export: the generations of the attribute id and of the source id it was
/// made for, and the handle.
type Memo = ((u32, u32), u32);

/// Changes for one pack round, bucketed so each attribute set is encoded once.
#[derive(Default)]
struct Buckets {
    /// By family too: IPv4 and IPv6 routes can share an exported set (an IPv6 next
    /// hop, RFC 8950) but not a message.
    announce: HashMap<AnnounceKey, Vec<Nlri>>,
    /// The bucket announced to last, outside the map: entries are visited in arrival
    /// order, so runs of prefixes share a set and skip the map.
    current: Option<(AnnounceKey, Vec<Nlri>)>,
    /// A few at most (a family and a recipient set each): searched in order.
    withdraw: Vec<((Family, Recipients), Vec<Nlri>)>,
    /// Emptied vectors of earlier rounds, kept with their capacity.
    pool: Vec<Vec<Nlri>>,
}

type AnnounceKey = (u32, Family, Recipients);

impl Buckets {
    fn announce(&mut self, h: u32, family: Family, to: Recipients, nlri: Nlri) {
        let key = (h, family, to);
        match &mut self.current {
            Some((k, v)) if *k == key => v.push(nlri),
            _ => {
                self.settle();
                let mut v = self.pool.pop().unwrap_or_default();
                v.push(nlri);
                self.current = Some((key, v));
            }
        }
    }
    /// Moves the current bucket into the map.
    fn settle(&mut self) {
        let Some((key, v)) = self.current.take() else { return };
        match self.announce.entry(key) {
            hashbrown::hash_map::Entry::Occupied(mut e) => {
                e.get_mut().extend_from_slice(&v);
                self.recycle(v);
            }
            hashbrown::hash_map::Entry::Vacant(e) => {
                e.insert(v);
            }
        }
    }
    fn withdraw(&mut self, family: Family, to: Recipients, nlri: Nlri) {
        let key = (family, to);
        match self.withdraw.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(nlri),
            None => {
                let mut v = self.pool.pop().unwrap_or_default();
                v.push(nlri);
                self.withdraw.push((key, v));
            }
        }
    }
    fn recycle(&mut self, mut nlri: Vec<Nlri>) {
        nlri.clear();
        self.pool.push(nlri);
    }
}

/// A route refresh in progress for one member (RFC 2918): what the group holds is sent
/// to it again, walking the entry ids.
struct Resend {
    member: SourceId,
    family: Family,
    next: u32,
}

pub struct UpdateGroup {
    target: ExportTarget,
    export: Arc<Policy>,
    ctx: CodecCtx,
    families: Vec<Family>,
    members: Vec<SourceId>,
    /// The member the group was made for.
    first: SourceId,
    out: OutStore,
    /// (source, Loc-RIB attribute id) -> (the generations of both, exported handle),
    /// when the export does not depend on the prefix (accept-all policy). Holds a
    /// reference on the handle.
    memo: Option<HashMap<(SourceId, AttrId), Memo>>,
    memo_last: Option<((SourceId, AttrId), Memo)>,
    /// By entry id: the handle sent, or NONE (families without ADD-PATH).
    sent: Vec<u32>,
    /// By entry id: (path id, handle) of every path sent (families with ADD-PATH),
    /// ascending by path id.
    sent_multi: HashMap<u32, Vec<(u32, u32)>>,
    /// Routes held, in all, and per source, member or not (a member does not hold its
    /// own; counting every source keeps this right when members join or leave).
    held: usize,
    held_from: Vec<usize>,
    /// Of those, IPv6 routes (the metrics' per-family advertised counts).
    held_v6: usize,
    held_from_v6: Vec<usize>,
    queued: Vec<u64>,
    queue: VecDeque<u32>,
    /// The initial table: the next entry id to visit.
    cursor: Option<u32>,
    resends: Vec<Resend>,
    /// The buckets of `pack`, kept between rounds for their allocations.
    scratch: Buckets,
}

/// The path identifier we advertise a source's path with (RFC 7911): unique per prefix
/// because a group sends one path per source (see `UpdateGroup::sync`).
pub fn path_id_of(source: SourceId) -> u32 {
    source.0 + 1
}

pub fn family_of(prefix: Prefix) -> Family {
    match prefix {
        Prefix::V4(_) => Family::IPV4_UNICAST,
        Prefix::V6(_) => Family::IPV6_UNICAST,
    }
}

impl UpdateGroup {
    /// A group of one member, `target.source`, which is sent the whole table.
    pub fn new(target: ExportTarget, export: Arc<Policy>, ctx: CodecCtx, families: Vec<Family>) -> UpdateGroup {
        let member = target.source;
        let memo = is_accept_all(&export).then(HashMap::new);
        UpdateGroup {
            // Split horizon is applied per member, not by `export`.
            target: ExportTarget { source: SourceId(u32::MAX), ..target },
            export,
            ctx,
            families,
            members: vec![member],
            first: member,
            out: OutStore::default(),
            memo,
            memo_last: None,
            sent: Vec::new(),
            sent_multi: HashMap::new(),
            held: 0,
            held_from: Vec::new(),
            held_v6: 0,
            held_from_v6: Vec::new(),
            queued: Vec::new(),
            queue: VecDeque::new(),
            cursor: Some(0),
            resends: Vec::new(),
            scratch: Buckets::default(),
        }
    }

    pub fn ctx(&self) -> &CodecCtx {
        &self.ctx
    }

    pub fn members(&self) -> &[SourceId] {
        &self.members
    }

    /// Takes the members of `other`, which must have the same signature and be idle,
    /// as this group is: both then hold what the Loc-RIB says.
    pub fn merge(&mut self, other: UpdateGroup, rib: &RibState) {
        debug_assert!(self.is_idle() && other.is_idle(), "invariant: only groups in step merge");
        let was_alone = self.members == [self.first];
        self.members.extend(other.members);
        if !was_alone {
            return;
        }
        // We were alone: the new members hold our member's routes, which we skipped.
        for id in 0..rib.id_limit() {
            let Some(entry) = rib.entry(EntryId(id)) else { continue };
            let Some(best) = entry.best().copied() else { continue };
            let family = family_of(entry.prefix());
            if best.source != self.first || !self.families.contains(&family) || self.ctx.add_path(family) {
                continue;
            }
            if self.sent.get(id as usize).is_some_and(|&h| h != NONE) {
                continue;
            }
            let h = self.export_handle(rib, entry.prefix(), &best);
            if h == NONE {
                continue;
            }
            if id as usize >= self.sent.len() {
                self.sent.resize(id as usize + 1, NONE);
            }
            self.recount(NONE, h, entry.prefix());
            self.sent[id as usize] = h;
        }
    }

    /// The source of the route a handle stands for.
    fn source_of(&self, h: u32) -> Option<SourceId> {
        real(h).then(|| self.out.get(h).source)
    }

    /// Counts of routes held when the route held for one entry, of `prefix`, goes from
    /// `old` to `new`.
    fn recount(&mut self, old: u32, new: u32, prefix: Prefix) {
        let v6 = matches!(prefix, Prefix::V6(_));
        if let Some(s) = self.source_of(old) {
            self.held -= 1;
            self.held_from[s.0 as usize] -= 1;
            if v6 {
                self.held_v6 -= 1;
                self.held_from_v6[s.0 as usize] -= 1;
            }
        }
        if let Some(s) = self.source_of(new) {
            self.held += 1;
            let i = s.0 as usize;
            if i >= self.held_from.len() {
                self.held_from.resize(i + 1, 0);
                self.held_from_v6.resize(i + 1, 0);
            }
            self.held_from[i] += 1;
            if v6 {
                self.held_v6 += 1;
                self.held_from_v6[i] += 1;
            }
        }
    }

    /// The counts of a fork's copy of what `member` holds: ours, less its own routes.
    fn copy_counts(&self, fork: &mut UpdateGroup, member: SourceId) {
        let own = |v: &[usize]| v.get(member.0 as usize).copied().unwrap_or(0);
        fork.held = self.held - own(&self.held_from);
        fork.held_v6 = self.held_v6 - own(&self.held_from_v6);
        fork.held_from = self.held_from.clone();
        fork.held_from_v6 = self.held_from_v6.clone();
        if let (Some(a), Some(b)) =
            (fork.held_from.get_mut(member.0 as usize), fork.held_from_v6.get_mut(member.0 as usize))
        {
            (*a, *b) = (0, 0);
        }
    }

    pub fn remove_member(&mut self, member: SourceId) {
        self.members.retain(|&m| m != member);
        self.resends.retain(|r| r.member != member);
    }

    /// Takes `member` out into a group of its own that exports with `target` and
    /// `export` (its export policy changed): the new group starts from what the member
    /// holds and walks the table, so the member is sent only the difference, and a
    /// route refresh in progress goes on there.
    pub fn fork(&mut self, member: SourceId, target: ExportTarget, export: Arc<Policy>) -> UpdateGroup {
        let mut g =
            UpdateGroup::new(ExportTarget { source: member, ..target }, export, self.ctx, self.families.clone());
        // The member's own routes: it holds none, and the walk finds them again.
        let held_by_member = |h: u32| real(h) && self.out.get(h).source != member;
        for (id, &h) in self.sent.iter().enumerate() {
            if !held_by_member(h) {
                continue;
            }
            let slot = self.out.get(h);
            let copy = g.out.intern(slot.block.clone(), slot.next_hop, slot.source);
            if id >= g.sent.len() {
                g.sent.resize(id + 1, NONE);
            }
            g.sent[id] = copy;
        }
        for (&id, paths) in &self.sent_multi {
            let mut copies = Vec::new();
            for &(pid, h) in paths.iter().filter(|&&(_, h)| held_by_member(h)) {
                let slot = self.out.get(h);
                let copy = g.out.intern(slot.block.clone(), slot.next_hop, slot.source);
                copies.push((pid, copy));
            }
            if !copies.is_empty() {
                g.sent_multi.insert(id, copies);
            }
        }
        self.copy_counts(&mut g, member);
        for r in self.resends.iter().filter(|r| r.member == member) {
            g.resend(member, r.family);
        }
        self.remove_member(member);
        g
    }

    /// Nothing left to send: no queued change, no table walk, no refresh.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.cursor.is_none() && self.resends.is_empty()
    }

    /// Whether the initial table has been sent (End-of-RIB is due).
    pub fn table_sent(&self) -> bool {
        self.cursor.is_none() && self.queue.is_empty()
    }

    /// Routes `member` holds from us.
    pub fn advertised_to(&self, member: SourceId) -> usize {
        self.held - self.held_from.get(member.0 as usize).copied().unwrap_or(0)
    }

    /// [`UpdateGroup::advertised_to`] by family: (IPv4, IPv6).
    pub fn advertised_by_afi(&self, member: SourceId) -> (usize, usize) {
        let v6 = self.held_v6 - self.held_from_v6.get(member.0 as usize).copied().unwrap_or(0);
        (self.advertised_to(member) - v6, v6)
    }

    /// The group still refers to entry `id` (it has it queued or holds a route for it):
    /// the RIB must not reclaim it.
    pub fn in_use(&self, id: EntryId) -> bool {
        self.sent.get(id.index()).is_some_and(|&h| h != NONE)
            || self.is_queued(id.0)
            || self.sent_multi.contains_key(&id.0)
    }

    fn is_queued(&self, id: u32) -> bool {
        self.queued.get(id as usize / 64).is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// Whether `source` is this group's only member: its routes go to nobody.
    fn is_lone_source(&self, source: SourceId) -> bool {
        source == self.first && self.members == [self.first]
    }

    /// A decision round changed an entry: queued, unless nothing can follow from it
    /// (the group holds nothing for the entry, and its best path is gone or is our
    /// lone member's own).
    pub fn queue_change(&mut self, change: &Change) {
        let holds_nothing = self.sent.get(change.id.index()).is_none_or(|&h| h == NONE)
            && (self.sent_multi.is_empty() || !self.sent_multi.contains_key(&change.id.0));
        let to_nobody = match change.best {
            None => true,
            Some(s) => self.is_lone_source(s) && !self.ctx.add_path(family_of(change.prefix)),
        };
        if holds_nothing && to_nobody {
            return;
        }
        self.queue(change.id);
    }

    /// Entry `id`'s best path or ECMP set changed.
    pub fn queue(&mut self, id: EntryId) {
        if self.cursor.is_some_and(|c| id.0 >= c) || self.is_queued(id.0) {
            return; // the table walk gets there, or it is queued already
        }
        let word = id.index() / 64;
        if word >= self.queued.len() {
            self.queued.resize(word + 1, 0);
        }
        self.queued[word] |= 1 << (id.0 % 64);
        self.queue.push_back(id.0);
    }

    fn unqueue(&mut self, id: u32) -> bool {
        let was = self.is_queued(id);
        if was {
            self.queued[id as usize / 64] &= !(1 << (id % 64));
        }
        was
    }

    /// Whether a route refresh of `family` to `member` is still going.
    pub fn resending(&self, member: SourceId, family: Family) -> bool {
        self.resends.iter().any(|r| r.member == member && r.family == family)
    }

    /// Sends `member` everything of `family` the group holds (a route refresh).
    pub fn resend(&mut self, member: SourceId, family: Family) {
        self.resends.retain(|r| !(r.member == member && r.family == family));
        self.resends.push(Resend { member, family, next: 0 });
    }

    /// Looks at up to `limit` entries that changed (or that the table walk or a refresh
    /// reaches) and encodes the difference between what the group holds and the
    /// Loc-RIB. With `withdrawals_only` (the MRAI is running), announcements stay
    /// queued.
    pub fn pack(&mut self, rib: &RibState, limit: usize, withdrawals_only: bool) -> Packed {
        let mut buckets = std::mem::take(&mut self.scratch);
        let mut packed = Packed::default();
        let mut held_back = Vec::new();
        let mut looked = 0;
        while looked < limit {
            let id = if let Some(id) = self.queue.pop_front() {
                if !self.unqueue(id) {
                    continue;
                }
                id
            } else if let Some(c) = self.cursor {
                if c >= rib.id_limit() {
                    self.cursor = None;
                    continue;
                }
                self.cursor = Some(c + 1);
                self.unqueue(c);
                c
            } else {
                break;
            };
            looked += 1;
            if !self.sync(rib, id, withdrawals_only, &mut buckets) {
                held_back.push(id);
            }
        }
        // What waits is no progress: a driver packing until nothing is visited must stop.
        packed.visited = looked - held_back.len();
        for id in held_back {
            self.queue(EntryId(id));
        }
        if looked < limit && !withdrawals_only {
            packed.visited += self.resend_some(rib, limit - looked, &mut buckets);
        }
        buckets.settle();
        packed.announced = !buckets.announce.is_empty();
        (packed.batches, packed.too_large) = self.encode(&mut buckets);
        self.scratch = buckets;
        packed
    }

    /// Brings entry `id` in step; `false` when it has to wait (an announcement while
    /// only withdrawals go).
    fn sync(&mut self, rib: &RibState, id: u32, withdrawals_only: bool, buckets: &mut Buckets) -> bool {
        let entry = rib.entry(EntryId(id));
        let Some(prefix) = entry.map(|e| e.prefix()) else {
            return true; // a free slot: nothing was sent for it (or it would be in use)
        };
        let family = family_of(prefix);
        if !self.families.contains(&family) {
            return true;
        }
        let best: &[Path] = entry.map_or(&[], |e| e.multipath_paths());
        if self.ctx.add_path(family) {
            let mut next: Vec<(u32, u32)> = Vec::with_capacity(best.len());
            let mut expanded: Vec<SourceId> = Vec::new();
            for p in best {
                if p.path_id != 0 && rib.source(p.source).is_some_and(SourceKind::is_local) {
                    // A local source with several paths (Kubernetes in cluster mode, one
                    // per node): every one of them, ECMP set or not, each with the id
                    // the source gave it (`rib::kubernetes::OWN_PATH_IDS`, never one of
                    // the ids below; a source's paths have distinct ids).
                    if expanded.contains(&p.source) {
                        continue;
                    }
                    expanded.push(p.source);
                    let all = entry.map_or(&[][..], |e| e.paths());
                    for q in all.iter().filter(|q| q.source == p.source) {
                        let h = self.export_handle(rib, prefix, q);
                        if h != NONE {
                            next.push((q.path_id, h));
                        }
                    }
                    continue;
                }
                // One path per source, the best it has: the path id we send is the
                // source's, and a peer sending us several paths (ADD-PATH) can have two
                // in the ECMP set.
                let pid = path_id_of(p.source);
                if next.iter().any(|&(id, _)| id == pid) {
                    continue;
                }
                let h = self.export_handle(rib, prefix, p);
                if h != NONE {
                    next.push((pid, h));
                }
            }
            // Kept by path id (a local source may have a hundred paths per prefix).
            next.sort_unstable_by_key(|&(pid, _)| pid);
            let old = self.sent_multi.remove(&id).unwrap_or_default();
            debug_assert!(old.is_sorted_by_key(|&(pid, _)| pid), "invariant: sent_multi sorted by path id");
            let held = |list: &[(u32, u32)], pid: u32| list.binary_search_by_key(&pid, |&(p, _)| p).ok();
            if withdrawals_only && next.iter().any(|&(pid, h)| held(&old, pid).is_none_or(|i| old[i].1 != h)) {
                self.sent_multi.insert(id, old);
                next.into_iter().for_each(|(_, h)| self.out.release(h));
                return false;
            }
            for &(pid, h) in &old {
                if held(&next, pid).is_none() {
                    self.transition(Nlri { path_id: pid, prefix }, h, NONE, buckets);
                }
            }
            // Each transition keeps `next`'s reference as the state and releases `old`'s.
            for &(pid, h) in &next {
                let before = held(&old, pid).map_or(NONE, |i| old[i].1);
                self.transition(Nlri { path_id: pid, prefix }, before, h, buckets);
            }
            if !next.is_empty() {
                self.sent_multi.insert(id, next);
            }
            return true;
        }
        let new = match best.first() {
            None => NONE,
            Some(p) if self.is_lone_source(p.source) => NONE,
            Some(p) => self.export_handle(rib, prefix, p),
        };
        let old = self.sent.get(id as usize).copied().unwrap_or(NONE);
        if withdrawals_only && new != NONE && new != old {
            self.out.release(new);
            return false;
        }
        if new != NONE && id as usize >= self.sent.len() {
            self.sent.resize(id as usize + 1, NONE);
        }
        self.transition(Nlri::new(prefix), old, new, buckets);
        if let Some(slot) = self.sent.get_mut(id as usize) {
            *slot = new;
        }
        true
    }

    /// What the members are sent when the route held for `nlri` goes from `old` to
    /// `new` (either may be NONE). Takes over the reference on `new` and releases
    /// `old`'s.
    fn transition(&mut self, nlri: Nlri, old: u32, new: u32, buckets: &mut Buckets) {
        if old == new {
            self.out.release(new);
            return;
        }
        let member_source = |h: u32| self.source_of(h).filter(|s| self.members.contains(s));
        let (old_from, new_from) = (member_source(old), member_source(new));
        let family = family_of(nlri.prefix);
        if new != NONE {
            let to = new_from.map_or(Recipients::All, Recipients::AllBut);
            buckets.announce(new, family, to, nlri);
            if let Some(m) = new_from {
                // The member held another source's route: it goes.
                if old != NONE && old_from != Some(m) {
                    buckets.withdraw(family, Recipients::Only(m), nlri);
                }
            }
        } else {
            let to = old_from.map_or(Recipients::All, Recipients::AllBut);
            buckets.withdraw(family, to, nlri);
        }
        self.recount(old, new, nlri.prefix);
        self.out.release(old);
    }

    /// The handle of `path` exported to this group (one reference taken), or NONE.
    fn export_handle(&mut self, rib: &RibState, prefix: Prefix, path: &Path) -> u32 {
        let key = (path.source, path.attrs);
        // Ids of both are handed out again once freed: the generations tell.
        let generation = (rib.attrs().generation(path.attrs), rib.source_generation(path.source));
        // Consecutive entries usually share a set (one UPDATE's prefixes): the last
        // answer first. It is valid while the memo holds it, which is as long as the
        // generations match.
        if let Some((k, (g, h))) = self.memo_last {
            if k == key && g == generation {
                self.out.retain(h);
                return h;
            }
        }
        if let Some(&(g, h)) = self.memo.as_ref().and_then(|m| m.get(&key)) {
            if g == generation {
                self.memo_last = Some((key, (g, h)));
                self.out.retain(h);
                return h;
            }
        }
        let h = self.export_fresh(rib.config(), rib, prefix, path);
        if let Some(memo) = &mut self.memo {
            self.out.retain(h);
            if let Some((_, old)) = memo.insert(key, (generation, h)) {
                self.out.release(old);
            }
            self.memo_last = Some((key, (generation, h)));
        }
        h
    }

    fn export_fresh(&mut self, cfg: &RibConfig, rib: &RibState, prefix: Prefix, path: &Path) -> u32 {
        let Some(from) = rib.source(path.source) else { return NONE };
        let Ok(mut exported) = export(cfg, path.source, from, &self.target, rib.attrs().get(path.attrs)) else {
            return NONE;
        };
        if !is_accept_all(&self.export) {
            let kind = from.policy_source();
            let route = RouteInfo {
                prefix,
                source: kind,
                neighbor: Some(self.target.peer.address),
                local_address: self.target.local_v4.map(IpAddr::V4),
            };
            if self.export.apply(&route, &mut exported, cfg.local_as) == Verdict::Reject {
                return NONE;
            }
        }
        if self.target.drained {
            super::drain::outbound(&mut exported, self.target.peer.internal);
        }
        let Some(next_hop) = exported.effective_next_hop() else { return NONE };
        let block = AttrBlock::encode(&exported, &self.ctx);
        self.out.intern(block, next_hop, path.source)
    }

    /// Continues the route refreshes in progress, up to `limit` entries.
    fn resend_some(&mut self, rib: &RibState, limit: usize, buckets: &mut Buckets) -> usize {
        let mut visited = 0;
        while visited < limit {
            let Some(r) = self.resends.first_mut() else { break };
            if r.next >= rib.id_limit() {
                self.resends.remove(0);
                continue;
            }
            let (id, member, family) = (r.next, r.member, r.family);
            r.next += 1;
            visited += 1;
            let Some(prefix) = rib.entry(EntryId(id)).map(|e| e.prefix()) else { continue };
            if family_of(prefix) != family {
                continue;
            }
            let held: Vec<(u32, u32)> = match self.sent.get(id as usize) {
                Some(&h) if real(h) => vec![(0, h)],
                _ => self.sent_multi.get(&id).cloned().unwrap_or_default(),
            };
            for (path_id, h) in held {
                if self.out.get(h).source != member {
                    buckets.announce(h, family, Recipients::Only(member), Nlri { path_id, prefix });
                }
            }
        }
        visited
    }

    /// Withdrawals first, then announcements, per recipient set.
    fn encode(&self, buckets: &mut Buckets) -> (Vec<Batch>, usize) {
        let mut too_large = 0;
        let mut out: HashMap<Recipients, (BytesMut, usize)> = HashMap::new();
        let withdraw: Vec<_> = buckets.withdraw.drain(..).collect();
        for ((family, to), nlri) in withdraw {
            if self.reaches_anyone(to) {
                let (buf, n) = out.entry(to).or_default();
                // Cannot fail: a withdrawal always fits (checked when packing).
                *n += pack_withdraw(buf, &self.ctx, family, &nlri).unwrap_or(0);
            }
            buckets.recycle(nlri);
        }
        let announce: Vec<_> = buckets.announce.drain().collect();
        for ((h, family, to), nlri) in announce {
            if self.reaches_anyone(to) {
                let slot = self.out.get(h);
                let (buf, n) = out.entry(to).or_default();
                match pack_announce(buf, &self.ctx, &slot.block, family, &slot.next_hop, &nlri) {
                    Ok(messages) => *n += messages,
                    Err(_) => too_large += nlri.len(),
                }
            }
            buckets.recycle(nlri);
        }
        let batches = out
            .into_iter()
            .filter(|(_, (b, _))| !b.is_empty())
            .map(|(to, (b, messages))| Batch { to, bytes: b.freeze(), messages })
            .collect();
        (batches, too_large)
    }

    fn reaches_anyone(&self, to: Recipients) -> bool {
        self.members.iter().any(|&m| to.includes(m))
    }

    /// What `member` holds from us for entry `id`: (path id, the attributes as sent),
    /// for `show routes --advertised`. The attributes are decoded back from what was
    /// encoded, so they are exactly what went out.
    pub fn advertised_at(&self, rib: &RibState, member: SourceId, id: EntryId) -> Vec<(u32, PathAttrs)> {
        let Some(prefix) = rib.entry(id).map(|e| e.prefix()) else { return Vec::new() };
        let single = self.sent.get(id.index()).filter(|&&h| real(h)).map(|&h| (0, h));
        let multi = self.sent_multi.get(&id.0).into_iter().flatten().copied();
        single
            .into_iter()
            .chain(multi)
            .filter(|&(_, h)| self.out.get(h).source != member)
            .filter_map(|(path_id, h)| Some((path_id, self.decode(prefix, self.out.get(h))?)))
            .collect()
    }

    /// The path ids `member` holds from us for entry `id` (0 without ADD-PATH),
    /// ascending, without decoding the routes: what a dry run compares with.
    pub fn advertised_path_ids(&self, member: SourceId, id: EntryId) -> impl Iterator<Item = u32> + '_ {
        let single = self.sent.get(id.index()).filter(|&&h| real(h)).map(|&h| (0, h));
        let multi = self.sent_multi.get(&id.0).into_iter().flatten().copied();
        single.into_iter().chain(multi).filter(move |&(_, h)| self.out.get(h).source != member).map(|(p, _)| p)
    }

    /// The group's export policy.
    pub fn export_policy(&self) -> &Arc<Policy> {
        &self.export
    }

    /// The families the group sends.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// The entries `member` holds a route for, in no order (see `advertised_at`).
    pub fn advertised_ids(&self, member: SourceId) -> Vec<EntryId> {
        let held = |h: u32| real(h) && self.out.get(h).source != member;
        let single = self.sent.iter().enumerate().filter(|(_, &h)| held(h)).map(|(id, _)| EntryId(id as u32));
        let multi = self.sent_multi.iter().filter(|(_, v)| v.iter().any(|&(_, h)| held(h))).map(|(&id, _)| EntryId(id));
        single.chain(multi).collect()
    }

    fn decode(&self, prefix: Prefix, slot: &OutSlot) -> Option<PathAttrs> {
        let mut buf = BytesMut::new();
        let nlri = [Nlri { path_id: 0, prefix }];
        // The path id does not matter here: decode without ADD-PATH.
        let ctx = CodecCtx { add_path: Default::default(), ..self.ctx };
        pack_announce(&mut buf, &ctx, &slot.block, family_of(prefix), &slot.next_hop, &nlri).ok()?;
        match crate::wire::decode_message(&buf.freeze(), &ctx) {
            Ok(crate::wire::Message::Update(u)) => {
                let mut attrs = u.attrs;
                if let Some(r) = &mut attrs.mp_reach {
                    r.nlri.clear();
                }
                Some(attrs)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
