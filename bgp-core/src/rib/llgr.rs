//! Long-lived graceful restart (RFC 9494), helper side, in the engine. The restarting
//! side is the capability alone (`fsm`, `config::peer`) and our End-of-RIB.
//!
//! A peer that negotiated LLGR and whose session ended gracefully keeps its routes
//! (restart.rs). Once its GR restart time is over (at once for the families its GR
//! capability does not list, or when GR was not negotiated), the routes of each family
//! its LLGR capability lists become long-lived stale (§4.2):
//! - they carry the LLGR_STALE community (0xFFFF0006), attached to their attributes
//!   here, so export, show and the decision see it like a received one;
//! - routes carrying NO_LLGR are removed instead;
//! - they are least preferred (§4.5, `decision.rs`), whether we marked them or they
//!   arrived marked;
//! - they go only to peers that negotiated LLGR (§4.6, `export.rs`): a peer without
//!   it is sent a withdrawal. The optional NO_EXPORT / LOCAL_PREF 0 variant for iBGP
//!   peers without LLGR is not done, as FRR does not: withdrawing is the rule that
//!   never leaves a stale route where nobody expects one;
//! - they go after the family's long-lived stale time: the smaller of the peer's
//!   and ours (`long_lived_stale_time`, FRR's `bgp long-lived-graceful-restart
//!   stale-time` caps the same way, see [`effective`]).
//!
//! The peer coming back is handled as for GR (restart.rs `peer_back`): stale routes it
//! sends again are replaced, the rest go at its End-of-RIB.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::engine::{Engine, Event, Output, PeerId};
use super::{flags, mark_dirty, slots::state, RibState, SourceId};
use crate::attrs::AttrId;
use crate::ctl::RestartPhaseRow;
use crate::prefix::Nlri;
use crate::types::Family;
use crate::wire::open::LlgrFamily;
use crate::wire::{Community, PathAttrs};

/// The families of a session's LLGR, each with the long-lived stale time to use: the
/// smaller of the peer's and `ours` (our configured `long_lived_stale_time`). A family
/// whose time is 0 is left out: its routes are not kept long-lived (RFC 9494 §4.2).
pub fn effective(peer: &[LlgrFamily], ours: u32) -> Vec<LlgrFamily> {
    peer.iter().map(|f| LlgrFamily { stale_time: f.stale_time.min(ours), ..*f }).filter(|f| f.stale_time > 0).collect()
}

/// Whether a route with `attrs` is long-lived stale: least preferred, and sent only
/// to peers with LLGR (RFC 9494 §4.5, §4.6).
pub fn is_llgr_stale(attrs: &PathAttrs) -> bool {
    attrs.communities.contains(&Community::LLGR_STALE)
}

/// Where a peer is in its graceful or long-lived graceful restart, for `show neighbors`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Down; its routes are stale until its GR restart time is over.
    GracefulRestart { until: Instant },
    /// Its routes of these families are long-lived stale, each until its instant.
    LongLived { until: Vec<(Family, Instant)> },
    /// Back; its stale routes go at its End-of-RIB, or at this instant.
    AwaitingEndOfRib { until: Instant },
}

impl Phase {
    /// The phase as `show neighbors ADDR` shows it, at `now`.
    pub fn row(&self, now: Instant) -> RestartPhaseRow {
        let left = |t: Instant| t.saturating_duration_since(now).as_secs();
        let (phase, seconds_left, families) = match self {
            Phase::GracefulRestart { until } => ("graceful-restart", left(*until), Vec::new()),
            Phase::LongLived { until } => (
                "long-lived-stale",
                until.iter().map(|&(_, t)| left(t)).max().unwrap_or(0),
                until.iter().map(|(f, _)| f.to_string()).collect(),
            ),
            Phase::AwaitingEndOfRib { until } => ("awaiting-end-of-rib", left(*until), Vec::new()),
        };
        RestartPhaseRow { phase: phase.to_string(), seconds_left, families }
    }
}

impl RibState {
    /// The source's stale paths of `family` become long-lived stale (RFC 9494 §4.2):
    /// LLGR_STALE is attached to them, and those carrying NO_LLGR go. Returns (kept,
    /// removed).
    pub fn mark_llgr_stale(&mut self, id: SourceId, family: Family) -> (usize, usize) {
        let mut memo: HashMap<AttrId, AttrId> = HashMap::new();
        // Released at the end: an id freed in the loop could be handed out again to a
        // new set and then be taken for a key of `memo`.
        let mut released: Vec<AttrId> = Vec::new();
        let mut doomed: Vec<Nlri> = Vec::new();
        let mut kept = 0;
        for i in 0..self.slots.len() {
            if self.slots.is_free(i) || self.slots.prefix(i).afi() != family.afi {
                continue;
            }
            let prefix = self.slots.prefix(i);
            let mut touched = false;
            for j in 0..self.slots.paths(i).len() {
                let p = self.slots.paths(i)[j];
                if p.source != id || p.flags & flags::STALE == 0 {
                    continue;
                }
                let attrs = self.attrs.get(p.attrs);
                if attrs.communities.contains(&Community::NO_LLGR) {
                    doomed.push(Nlri { prefix, path_id: p.path_id });
                    continue;
                }
                kept += 1;
                if is_llgr_stale(attrs) {
                    continue;
                }
                let attrs = self.with_llgr_stale(&mut memo, p.attrs);
                let attrs_in = self.with_llgr_stale(&mut memo, p.attrs_in);
                released.extend([p.attrs, p.attrs_in]);
                self.slots.paths_mut(i)[j] = super::Path { attrs, attrs_in, ..p };
                touched = true;
                let slot = self.slots.get_mut(i);
                if j < usize::from(slot.multipath) {
                    slot.state |= state::TOUCHED;
                }
            }
            if touched {
                mark_dirty(&mut self.dirty, &mut self.slots, i);
            }
        }
        for a in released {
            self.attrs.release(a);
        }
        for n in &doomed {
            self.remove_path(id, n);
        }
        (kept, doomed.len())
    }

    /// `old` with LLGR_STALE added, one reference taken.
    fn with_llgr_stale(&mut self, memo: &mut HashMap<AttrId, AttrId>, old: AttrId) -> AttrId {
        if let Some(&new) = memo.get(&old) {
            self.attrs.retain(new);
            return new;
        }
        let mut a = self.attrs.get(old).clone();
        a.communities.push(Community::LLGR_STALE);
        let new = self.attrs.intern(a);
        memo.insert(old, new);
        new
    }
}

impl Engine {
    /// The peer's routes of `families` become long-lived stale now, each family until
    /// its long-lived stale time is over.
    pub(super) fn enter_llgr(&mut self, id: PeerId, families: &[LlgrFamily], now: Instant) {
        let Some(address) = self.peer(id).map(|p| p.address) else { return };
        for f in families {
            let (kept, removed) = self.rib.mark_llgr_stale(id, f.family);
            let until = now + Duration::from_secs(f.stale_time.into());
            if let Some(state) = self.peer_mut(id) {
                state.llgr_until.retain(|&(g, _)| g != f.family);
                state.llgr_until.push((f.family, until));
            }
            self.outputs.push_back(Output::Event(Event::LongLivedStale {
                address,
                family: f.family,
                stale_time: f.stale_time,
                kept,
                removed,
            }));
        }
        self.count(id);
    }

    /// Sweeps the long-lived stale routes whose time is over. Returns whether the peer
    /// has nothing left to wait for (no GR or LLGR time running).
    pub(super) fn expire_llgr(&mut self, id: PeerId, now: Instant) -> bool {
        let Some(state) = self.peer_mut(id) else { return false };
        let address = state.address;
        let due: Vec<Family> = state.llgr_until.iter().filter(|&&(_, t)| t <= now).map(|&(f, _)| f).collect();
        state.llgr_until.retain(|&(_, t)| t > now);
        let done = state.llgr_until.is_empty() && state.stale_until.is_none();
        for family in due {
            self.rib.sweep_stale(id, Some(family));
            self.outputs.push_back(Output::Event(Event::LongLivedStaleRoutesRemoved { address, family }));
        }
        self.count(id);
        done
    }

    /// Where the peer is in a restart, if it is in one.
    pub fn restart_phase(&self, address: IpAddr) -> Option<Phase> {
        let p = self.peer(self.peer_id(address)?)?;
        if !p.llgr_until.is_empty() {
            return Some(Phase::LongLived { until: p.llgr_until.clone() });
        }
        match (p.stale_until, p.established) {
            (Some(until), false) => Some(Phase::GracefulRestart { until }),
            (Some(until), true) => Some(Phase::AwaitingEndOfRib { until }),
            (None, _) => None,
        }
    }
}

#[cfg(test)]
mod tests;
