//! Graceful restart in the engine (RFC 4724), both roles:
//! - restarting speaker (§4.1): after our restart, our tables go out only once the
//!   peers we had before have sent theirs (End-of-RIB for each family) or the
//!   deferral time is over, so no peer sweeps a route we have not had the time to
//!   learn again;
//! - helper (§4.2): a peer whose session ended gracefully keeps its routes, stale,
//!   for its restart time; its End-of-RIB per family sweeps what it did not send
//!   again.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Instant;

use super::engine::{Engine, Event, Output, PeerId};

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
}

impl Engine {
    /// An awaited peer is back: its End-of-RIB is expected for each family.
    pub(super) fn restart_session_up(&mut self, id: PeerId, address: IpAddr, families: usize, _now: Instant) {
        if let Some(d) = self.deferral.as_mut() {
            if d.awaiting.contains(&address) {
                d.eor_left.insert(id, families);
            }
        }
    }

    /// An End-of-RIB from `id`: one family fewer to wait for.
    pub(super) fn restart_end_of_rib(&mut self, id: PeerId) {
        let Some(d) = self.deferral.as_mut() else { return };
        if let Some(left) = d.eor_left.get_mut(&id) {
            *left = left.saturating_sub(1);
            if *left == 0 {
                d.eor_left.remove(&id);
                if let Some(address) = self.peer(id).map(|p| p.address) {
                    self.deferral.as_mut().expect("checked above").awaiting.remove(&address);
                }
            }
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

    /// Removes the stale routes of peers whose restart time is over.
    pub(super) fn expire_stale(&mut self, now: Instant) {
        let expired: Vec<PeerId> = self
            .peers()
            .filter(|&(id, _)| self.peer(id).and_then(|p| p.stale_until).is_some_and(|t| t <= now))
            .map(|(id, _)| id)
            .collect();
        for id in expired {
            let Some(address) = self.peer(id).map(|p| p.address) else { continue };
            self.outputs.push_back(Output::Event(Event::StaleRoutesRemoved { address }));
            // Not back in time: the peer is gone, and its routes with it.
            self.forget(id);
        }
    }

    /// The peers that negotiated graceful restart, and those still awaited after our
    /// own restart: what the restart marker lists, for the next start to know whom to
    /// wait for.
    pub fn restart_peers(&self) -> Vec<IpAddr> {
        let mut peers: Vec<IpAddr> = self
            .peers()
            .filter(|&(id, _)| self.peer(id).is_some_and(|p| p.restart_time.is_some()))
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
