//! Graceful restart in the engine (RFC 4724), both roles:
//! - restarting speaker (§4.1): after our restart, our tables go out only once the
//!   peers we had before have sent theirs (End-of-RIB for each family) or the
//!   deferral time is over, so no peer sweeps a route we have not had the time to
//!   learn again;
//! - helper (§4.2): a peer whose session ended gracefully keeps its routes, stale,
//!   for its restart time, for the families its capability listed; back, it keeps
//!   them for the families it still lists with the F bit set, and its End-of-RIB per
//!   family sweeps what it did not send again. A peer that comes back but never sends
//!   End-of-RIB loses its stale routes after the stale-path time (FRR's
//!   `stalepath-time`), and a second drop before then deletes them;
//! - long-lived graceful restart (RFC 9494, llgr.rs): a peer that negotiated it keeps
//!   its routes of the families it listed past the restart time (or from the start,
//!   without GR), as long-lived stale;
//! - enhanced route refresh (RFC 7313 §4): between a peer's BoRR and EoRR its routes
//!   of the family are stale; an EoRR that never comes sweeps them after the same
//!   stale-path time.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::engine::{Engine, Event, Output, PeerId};
use crate::types::Family;
use crate::wire::open::{GracefulRestart, LlgrFamily};

/// How long a peer back from a restart may keep stale routes without sending their
/// End-of-RIB, and how long a route refresh may wait for its EoRR (FRR's
/// `bgp graceful-restart stalepath-time` default).
pub const STALE_PATH_TIME: Duration = Duration::from_secs(360);

/// The families a route can be in (unicast only).
const FAMILIES: [Family; 2] = [Family::IPV4_UNICAST, Family::IPV6_UNICAST];

/// Our restart deferral (RFC 4724 §4.1).
#[derive(Clone, Debug)]
pub struct Deferral {
    pub until: Instant,
    /// Peers with graceful restart before the restart, not yet done.
    pub awaiting: HashSet<IpAddr>,
    /// End-of-RIB markers still expected from each awaited peer that is back.
    eor_left: HashMap<PeerId, usize>,
}

impl Deferral {
    pub fn new(until: Instant, awaiting: HashSet<IpAddr>) -> Deferral {
        Deferral { until, awaiting, eor_left: HashMap::new() }
    }

    fn session_up(&mut self, id: PeerId, address: IpAddr, families: usize) {
        if self.awaiting.contains(&address) {
            self.eor_left.insert(id, families);
        }
    }

    fn end_of_rib(&mut self, id: PeerId, address: IpAddr) {
        if let Some(left) = self.eor_left.get_mut(&id) {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.eor_left.remove(&id);
                self.awaiting.remove(&address);
            }
        }
    }
}

impl Engine {
    /// An awaited peer is back: its End-of-RIB is expected for each family. One that
    /// restarted too (`restarting`, the R bit) sends it only after ours (RFC 4724
    /// §4.1): our tables do not wait for it, but the sweep of our stale kernel routes
    /// does, so that its prefixes keep their routes until they arrive again.
    pub(super) fn restart_session_up(&mut self, id: PeerId, address: IpAddr, families: usize, restarting: bool) {
        if let Some(d) = self.deferral.as_mut() {
            if restarting {
                d.awaiting.remove(&address);
            } else {
                d.session_up(id, address, families);
            }
        }
        if let Some(d) = self.kernel.sweep_mut() {
            d.session_up(id, address, families);
        }
    }

    /// An End-of-RIB from `id`: one family fewer to wait for.
    pub(super) fn restart_end_of_rib(&mut self, id: PeerId) {
        let Some(address) = self.peer(id).map(|p| p.address) else { return };
        if let Some(d) = self.deferral.as_mut() {
            d.end_of_rib(id, address);
        }
        if let Some(d) = self.kernel.sweep_mut() {
            d.end_of_rib(id, address);
        }
    }

    /// Ends the restart deferral once every awaited peer is done or time is up: the
    /// groups then send their tables.
    pub(super) fn end_deferral_if_done(&mut self, now: Instant) {
        let Some(d) = &self.deferral else { return };
        if !d.awaiting.is_empty() && now < d.until {
            return;
        }
        let mut missing: Vec<IpAddr> = d.awaiting.iter().copied().collect();
        missing.sort();
        self.deferral = None;
        self.outputs.push_back(Output::Event(Event::DeferralOver { missing }));
        // Awaited peers that never came back leave the marker.
        self.outputs.push_back(Output::RestartPeers);
    }

    /// Whether our tables are held back by the restart deferral.
    pub fn deferring(&self) -> bool {
        self.deferral.is_some()
    }

    /// A graceful session end (RFC 4724 §4.2): the routes of the families the peer's
    /// capability listed stay, stale, for its restart time; the others go. Routes still
    /// stale from a restart the peer did not finish go too: it dropped again. With
    /// long-lived graceful restart (RFC 9494 §4.2), the families its LLGR capability
    /// lists stay too, and those its GR does not cover (all of them without GR)
    /// become long-lived stale at once.
    pub(super) fn keep_stale(
        &mut self,
        id: PeerId,
        gr: Option<&GracefulRestart>,
        llgr: Option<&[LlgrFamily]>,
        now: Instant,
    ) {
        let Some(state) = self.peer_mut(id) else { return };
        let in_gr = |f: Family| gr.is_some_and(|g| g.families.iter().any(|x| x.family == f));
        let in_llgr = |f: Family| llgr.is_some_and(|l| l.iter().any(|x| x.family == f));
        let restart_time = Duration::from_secs(gr.map_or(0, |g| g.restart_time).into());
        let again = state.stale_until.take().is_some() || !state.llgr_until.is_empty();
        state.llgr_until.clear();
        if gr.is_some() {
            // Even with no family listed (FRR in helper mode): the peer is forgotten
            // when the restart time is over, unless LLGR keeps some of its routes.
            state.stale_until = Some(now + restart_time);
        }
        if again {
            self.rib.sweep_stale(id, None);
        }
        for family in FAMILIES.into_iter().filter(|&f| !in_gr(f) && !in_llgr(f)) {
            self.rib.mark_stale(id, Some(family));
            self.rib.sweep_stale(id, Some(family));
        }
        self.rib.mark_stale(id, None);
        let at_once: Vec<LlgrFamily> = llgr.unwrap_or_default().iter().filter(|f| !in_gr(f.family)).copied().collect();
        if !at_once.is_empty() {
            self.enter_llgr(id, &at_once, now);
        }
        self.count(id);
    }

    /// The peer is back with stale routes (RFC 4724 §4.2, RFC 9494 §4.2): without
    /// graceful restart or LLGR now, they all go; else those of each family not listed
    /// again with the F bit (forwarding not preserved) in either capability go, and the
    /// rest (long-lived stale ones too) wait for End-of-RIB or the stale-path time.
    pub(super) fn peer_back(
        &mut self,
        id: PeerId,
        now_gr: Option<&GracefulRestart>,
        now_llgr: Option<&[LlgrFamily]>,
        at: Instant,
    ) {
        if now_gr.is_none() && now_llgr.is_none() {
            self.rib.sweep_stale(id, None);
            return;
        }
        let kept = |f: Family| {
            now_gr.is_some_and(|g| g.families.iter().any(|x| x.family == f && x.forwarding_preserved))
                || now_llgr.is_some_and(|l| l.iter().any(|x| x.family == f && x.forwarding_preserved))
        };
        for family in FAMILIES {
            if !kept(family) {
                self.rib.sweep_stale(id, Some(family));
            }
        }
        if let Some(state) = self.peer_mut(id) {
            state.stale_until = Some(at + STALE_PATH_TIME);
        }
    }

    /// The peer re-sends its routes of `family` (RFC 7313 §4): between BoRR and EoRR
    /// they are stale; what was not sent again by the EoRR goes, or all of them if the
    /// EoRR does not come within the stale-path time.
    pub fn refresh_marker(&mut self, id: PeerId, family: Family, begin: bool, now: Instant) {
        let Some(state) = self.peer_mut(id) else { return };
        state.refreshing.retain(|&(f, _)| f != family);
        if begin {
            state.refreshing.push((family, now + STALE_PATH_TIME));
            self.rib.mark_stale(id, Some(family));
        } else {
            self.rib.sweep_stale(id, Some(family));
            self.count(id);
        }
    }

    /// Removes the stale routes whose time is over: a peer that did not come back
    /// within its restart time is forgotten; one that came back but did not finish
    /// (End-of-RIB, EoRR) within the stale-path time loses its stale routes.
    pub(super) fn expire_stale(&mut self, now: Instant) {
        let due: Vec<PeerId> = self
            .peers()
            .map(|(id, _)| id)
            .filter(|&id| {
                self.peer(id).is_some_and(|p| {
                    p.stale_until.is_some_and(|t| t <= now)
                        || p.refreshing.iter().any(|&(_, t)| t <= now)
                        || p.llgr_until.iter().any(|&(_, t)| t <= now)
                })
            })
            .collect();
        for id in due {
            let Some(state) = self.peer_mut(id) else { continue };
            let address = state.address;
            let families: Vec<Family> = state.refreshing.iter().filter(|&&(_, t)| t <= now).map(|&(f, _)| f).collect();
            state.refreshing.retain(|&(_, t)| t > now);
            let stale_over = state.stale_until.is_some_and(|t| t <= now);
            let established = state.established;
            let long_lived = state.long_lived.clone().unwrap_or_default();
            if stale_over {
                state.stale_until = None;
                if !established && !long_lived.is_empty() {
                    // RFC 9494 §4.2: the restart time is over, the long-lived stale
                    // time begins for the families LLGR lists; the others go.
                    for family in FAMILIES.into_iter().filter(|f| !long_lived.iter().any(|l| l.family == *f)) {
                        self.rib.sweep_stale(id, Some(family));
                    }
                    let entering: Vec<LlgrFamily> = long_lived
                        .iter()
                        .filter(|l| !self.peer(id).is_some_and(|p| p.llgr_until.iter().any(|&(f, _)| f == l.family)))
                        .copied()
                        .collect();
                    self.enter_llgr(id, &entering, now);
                } else {
                    self.outputs.push_back(Output::Event(Event::StaleRoutesRemoved { address }));
                    if !established {
                        // Not back in time: the peer is gone, and its routes with it.
                        self.forget(id);
                        continue;
                    }
                    self.rib.sweep_stale(id, None);
                }
            }
            if self.expire_llgr(id, now) && !established && self.peer(id).is_some_and(|p| p.long_lived.is_some()) {
                // Its long-lived stale time is over too: the peer is gone.
                self.forget(id);
                continue;
            }
            for family in families {
                self.outputs.push_back(Output::Event(Event::StaleRoutesRemoved { address }));
                self.rib.sweep_stale(id, Some(family));
            }
            self.count(id);
        }
    }

    /// The peers that negotiated graceful restart, and those still awaited after our
    /// own restart: what the restart marker lists, for the next start to know whom to
    /// wait for.
    pub fn restart_peers(&self) -> Vec<IpAddr> {
        let mut peers: Vec<IpAddr> = self
            .peers()
            .filter(|&(id, _)| self.peer(id).is_some_and(|p| p.restart.is_some()))
            .map(|(_, a)| a)
            .collect();
        if let Some(d) = &self.deferral {
            peers.extend(d.awaiting.iter().copied());
        }
        peers.sort();
        peers.dedup();
        peers
    }
}
