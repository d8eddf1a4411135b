//! The engine's update groups: members and their writer room, packing in lock step,
//! MRAI, End-of-RIB after the initial table, route refresh (RFC 2918, RFC 7313 BoRR
//! and EoRR), merging groups that are in step and forking a peer whose export policy
//! changed. The Adj-RIB-Out and the encoding are [`UpdateGroup`]'s (out.rs).
//!
//! Backpressure: a group remembers which entries changed, not what to send (a
//! flapping route costs one queue entry), and packs only while every member's writer
//! has room. A slow member therefore slows its own group, never the engine or other
//! groups, and its group's backlog is bounded by the table size.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::engine::{Engine, Event, Output, PeerId, PACK_CHUNK};
use super::export::ExportTarget;
use super::out::{Signature, UpdateGroup};
use crate::policy::Policy;
use crate::types::Family;
use crate::wire::{CodecCtx, Message, RouteRefresh, Update};

/// A member of an update group: an Established peer and its writer room.
pub(super) struct Member {
    pub(super) peer: PeerId,
    /// How routes are exported to it (the group's, but with its own address, which a
    /// policy may look at): what a policy change forks its group with.
    pub(super) target: ExportTarget,
    /// End-of-RIB still owed after the initial table (RFC 4724 §2).
    end_of_rib: Vec<Family>,
    /// Messages its writer has no room for: they go first, and the group waits.
    backlog: VecDeque<Bytes>,
    /// Free slots in its writer, as far as the engine knows.
    room: usize,
    /// Enhanced route refresh negotiated, and the families being refreshed (an EoRR
    /// is owed once the group has sent them again).
    enhanced_refresh: bool,
    refreshing: Vec<Family>,
    /// Since when its group has had work it could not pack because this member's
    /// writer was full.
    lagging_since: Option<Instant>,
}

/// How long a member may hold its group back before it leaves the group's lock step
/// and catches up in a group of its own: a stuck peer must not cost the others their
/// routes. Long enough that a healthy peer's TCP window never triggers it.
pub const LAG_LIMIT: Duration = Duration::from_secs(1);

impl Member {
    pub(super) fn new(
        peer: PeerId,
        target: ExportTarget,
        families: Vec<Family>,
        enhanced_refresh: bool,
        room: usize,
    ) -> Member {
        Member {
            peer,
            target,
            end_of_rib: families,
            backlog: VecDeque::new(),
            room,
            enhanced_refresh,
            refreshing: Vec::new(),
            lagging_since: None,
        }
    }

    /// Sends `bytes` after what waits; what does not fit waits in the backlog.
    fn send(&mut self, bytes: Bytes, outputs: &mut VecDeque<Output>) {
        self.backlog.push_back(bytes);
        self.drain(outputs);
    }

    fn drain(&mut self, outputs: &mut VecDeque<Output>) {
        while self.room > 0 {
            let Some(bytes) = self.backlog.pop_front() else { return };
            self.room -= 1;
            outputs.push_back(Output::Send { peer: self.peer, bytes });
            if self.room == 0 {
                outputs.push_back(Output::Blocked(self.peer));
            }
        }
    }

    pub(super) fn writable(&mut self, room: usize, outputs: &mut VecDeque<Output>) {
        self.room = room;
        self.drain(outputs);
        if self.room == 0 {
            outputs.push_back(Output::Blocked(self.peer));
        }
    }

    pub(super) fn unsent(&mut self, bytes: Bytes, outputs: &mut VecDeque<Output>) {
        self.backlog.push_front(bytes);
        if self.room > 0 {
            self.room = 0;
            outputs.push_back(Output::Blocked(self.peer));
        }
    }

    /// How routes are exported to it.
    pub(super) fn target(&self) -> &ExportTarget {
        &self.target
    }

    fn has_room(&self) -> bool {
        self.backlog.is_empty() && self.room > 0
    }
}

/// Peers sent the same UPDATEs: their shared Adj-RIB-Out and encoding, and each
/// member's writer room.
pub(super) struct Group {
    pub(super) sig: Signature,
    pub(super) group: UpdateGroup,
    pub(super) members: Vec<Member>,
    /// MinRouteAdvertisementInterval (RFC 4271 §9.2.1.1), kept per group rather than
    /// per prefix: after a batch of announcements, the next waits this long;
    /// withdrawals are never held back.
    mrai: Duration,
    pub(super) hold_until: Option<Instant>,
    /// No other group has the same signature: nothing to merge with, until a new
    /// group (which looks for its twins itself) comes.
    settled: bool,
}

impl Group {
    pub(super) fn new(sig: Signature, group: UpdateGroup, member: Member, mrai: Duration) -> Group {
        Group { sig, group, members: vec![member], mrai, hold_until: None, settled: false }
    }

    pub(super) fn member(&self, peer: PeerId) -> Option<&Member> {
        self.members.iter().find(|m| m.peer == peer)
    }

    pub(super) fn member_mut(&mut self, peer: PeerId) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.peer == peer)
    }

    fn in_step(&self, now: Instant) -> bool {
        !self.busy() && self.hold_until.is_none_or(|t| t <= now)
    }

    pub(super) fn busy(&self) -> bool {
        !self.group.is_idle() || self.members.iter().any(|m| !m.end_of_rib.is_empty() || !m.backlog.is_empty())
    }

    /// When the first member that holds the group back will have done so for
    /// [`LAG_LIMIT`] (only while others could go on).
    pub(super) fn lag_deadline(&self) -> Option<Instant> {
        self.members.iter().filter_map(|m| m.lagging_since).min().map(|t| t + LAG_LIMIT)
    }

    /// Notes which members hold back work the others could take.
    fn note_laggards(&mut self, now: Instant) {
        let held_up = !self.group.is_idle() && self.members.iter().any(Member::has_room);
        for m in &mut self.members {
            if held_up && !m.has_room() {
                m.lagging_since.get_or_insert(now);
            } else {
                m.lagging_since = None;
            }
        }
    }
}

impl Engine {
    /// Takes the peer out of its group; an empty group goes.
    pub(super) fn leave_group(&mut self, peer: PeerId) {
        for g in &mut self.groups {
            if let Some(i) = g.members.iter().position(|m| m.peer == peer) {
                g.members.remove(i);
                g.group.remove_member(peer);
            }
        }
        self.groups.retain(|g| !g.members.is_empty());
    }

    /// Moves the peer to a group exporting with `export`, if that differs: the new
    /// group starts from what the peer holds and sends it only the difference.
    pub(super) fn fork(&mut self, peer: PeerId, export: Arc<Policy>) -> bool {
        self.fork_with(peer, Some(export), |_| {})
    }

    /// Moves the peer to a group exporting to its target as `edit` changes it (a
    /// drain, drain.rs), if that differs, as [`Engine::fork`] does.
    pub(super) fn regroup(&mut self, peer: PeerId, edit: impl FnOnce(&mut ExportTarget)) -> bool {
        self.fork_with(peer, None, edit)
    }

    fn fork_with(&mut self, peer: PeerId, export: Option<Arc<Policy>>, edit: impl FnOnce(&mut ExportTarget)) -> bool {
        let Some(gi) = self.groups.iter().position(|g| g.member(peer).is_some()) else { return false };
        let g = &mut self.groups[gi];
        let mi = g.members.iter().position(|m| m.peer == peer).expect("found above");
        let export = export.unwrap_or_else(|| g.sig.policy.clone());
        let mut target = g.members[mi].target.clone();
        edit(&mut target);
        let sig = Signature::of(&target, &export, g.group.ctx(), &g.sig.families);
        if sig == g.sig {
            return false;
        }
        let mut member = g.members.remove(mi);
        member.target = target.clone();
        let group = g.group.fork(peer, target, export);
        let mrai = g.mrai;
        self.groups.push(Group::new(sig, group, member, mrai));
        self.groups.retain(|g| !g.members.is_empty());
        true
    }

    /// The peer asked for our routes of `family` again (RFC 2918 §4). Returns false
    /// when the family was not negotiated (the request is ignored).
    pub fn refresh_request(&mut self, peer: PeerId, family: Family) -> bool {
        let Some(g) = self.groups.iter_mut().find(|g| g.member(peer).is_some()) else { return false };
        if !g.sig.families.contains(&family) {
            return false;
        }
        let ctx = *g.group.ctx();
        let m = g.members.iter_mut().find(|m| m.peer == peer).expect("found above");
        if m.enhanced_refresh && !m.refreshing.contains(&family) {
            // RFC 7313 §4: BoRR first; the EoRR follows the last route (flush).
            m.send(encode(&Message::RouteRefresh(RouteRefresh::begin(family)), &ctx), &mut self.outputs);
            m.refreshing.push(family);
            if let Some(p) = self.peers.get_mut(peer.0 as usize).and_then(Option::as_mut) {
                p.counts.refreshes_sent += 1;
            }
        }
        g.group.resend(peer, family);
        true
    }

    /// Members that held their group back for [`LAG_LIMIT`] leave it: each goes on in
    /// a group of its own, from what it holds, and joins its like again once in step.
    fn split_laggards(&mut self, now: Instant) {
        let mut split = Vec::new();
        for g in &mut self.groups {
            let late = |m: &Member| m.lagging_since.is_some_and(|t| now >= t + LAG_LIMIT);
            if g.members.iter().all(late) {
                continue;
            }
            while let Some(i) = g.members.iter().position(late) {
                let mut member = g.members.remove(i);
                member.lagging_since = None;
                let group = g.group.fork(member.peer, member.target.clone(), g.sig.policy.clone());
                split.push(Group::new(g.sig.clone(), group, member, g.mrai));
            }
        }
        for g in split {
            self.outputs.push_back(Output::Event(Event::LeftLockStep { address: g.members[0].target.peer.address }));
            self.groups.push(g);
        }
    }

    /// Packs what each group has to send, while all its members' writers have room.
    pub(super) fn flush(&mut self, now: Instant) {
        if self.deferral.is_some() {
            return;
        }
        self.split_laggards(now);
        let (rib, peers, outputs) = (&self.rib, &mut self.peers, &mut self.outputs);
        let mut bump = |peer: PeerId, updates: u64, refreshes: u64, advertised: Option<u64>| {
            if let Some(p) = peers.get_mut(peer.0 as usize).and_then(Option::as_mut) {
                p.counts.updates_sent += updates;
                p.counts.refreshes_sent += refreshes;
                p.counts.advertised = advertised.unwrap_or(p.counts.advertised);
            }
        };
        for g in &mut self.groups {
            // The initial table is not held back, only what follows it.
            let initial = g.members.iter().any(|m| !m.end_of_rib.is_empty());
            let mut holding = !initial && g.hold_until.is_some_and(|t| now < t);
            while g.members.iter().all(Member::has_room) {
                let packed = g.group.pack(rib, PACK_CHUNK, holding);
                if packed.visited == 0 {
                    break;
                }
                if packed.too_large > 0 {
                    let peers = g.members.iter().map(|m| m.target.peer.address).collect();
                    outputs.push_back(Output::Event(Event::TooLarge { peers, routes: packed.too_large }));
                }
                for batch in packed.batches {
                    for m in g.members.iter_mut().filter(|m| batch.to.includes(m.peer)) {
                        m.send(batch.bytes.clone(), outputs);
                        bump(m.peer, batch.messages as u64, 0, None);
                    }
                }
                if packed.announced && !g.mrai.is_zero() && !initial {
                    g.hold_until = Some(now + g.mrai);
                    holding = true;
                }
            }
            if g.hold_until.is_some_and(|t| t <= now) {
                g.hold_until = None;
            }
            g.note_laggards(now);
            let ctx = *g.group.ctx();
            for m in g.members.iter_mut().filter(|m| !m.refreshing.is_empty() && m.has_room()) {
                let done: Vec<Family> =
                    m.refreshing.iter().copied().filter(|&f| !g.group.resending(m.peer, f)).collect();
                for family in done {
                    m.send(encode(&Message::RouteRefresh(RouteRefresh::end(family)), &ctx), outputs);
                    bump(m.peer, 0, 1, None);
                    m.refreshing.retain(|&f| f != family);
                }
            }
            if g.group.table_sent() {
                for m in g.members.iter_mut().filter(|m| !m.end_of_rib.is_empty() && m.has_room()) {
                    let mut buf = BytesMut::new();
                    bump(m.peer, m.end_of_rib.len() as u64, 0, None);
                    for family in m.end_of_rib.drain(..) {
                        // Cannot fail: an End-of-RIB is a few octets.
                        let _ = Message::Update(Update::end_of_rib(family)).encode(&ctx, &mut buf);
                    }
                    m.send(buf.freeze(), outputs);
                    outputs.push_back(Output::Event(Event::InitialTableSent { address: m.target.peer.address }));
                }
            }
            for m in &g.members {
                let advertised = g.group.advertised_to(m.peer) as u64;
                bump(m.peer, 0, 0, Some(advertised));
            }
        }
    }

    /// Merges groups that are in step and would send the same: one encode for all.
    /// Only groups not yet settled look for twins, so a round with no new group
    /// compares no signatures.
    pub(super) fn merge_groups(&mut self, now: Instant) {
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
}

fn encode(message: &Message, ctx: &CodecCtx) -> Bytes {
    let mut buf = BytesMut::new();
    // Cannot fail: a ROUTE-REFRESH is always 23 octets.
    let _ = message.encode(ctx, &mut buf);
    buf.freeze()
}
