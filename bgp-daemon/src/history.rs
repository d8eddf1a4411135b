//! The daemon's per-neighbor event history: one [`EventLog`] (bgp-core, which owns
//! the bounds and the order) shared by the peer tasks, the RIB task and the supervisor,
//! which record into it, and read by the control socket (`show events`).
//!
//! A plain mutex: recording is a push onto a ring, a few hundred nanoseconds, and it
//! happens on session events, never per route. It lives outside the peer tasks so that
//! a neighbor's history outlives its task: a reload that restarts the neighbor, or a
//! dynamic neighbor whose session ended.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bgp_core::ctl::events::{Event, EventLog, NeighborEvent};

#[derive(Clone, Debug, Default)]
pub struct History(Arc<Mutex<EventLog>>);

impl History {
    /// Records `event` of `neighbor` now.
    pub fn record(&self, neighbor: IpAddr, event: Event) {
        self.lock().record(neighbor, now_ms(), event);
    }

    /// See [`EventLog::pin`].
    pub fn pin(&self, neighbors: impl IntoIterator<Item = IpAddr>) {
        self.lock().pin(neighbors);
    }

    /// The events of one neighbor or of all, of the last `since` only.
    pub fn events(&self, neighbor: Option<IpAddr>, since: Option<Duration>) -> Vec<NeighborEvent> {
        let since_ms = since.map(|d| now_ms().saturating_sub(d.as_millis().try_into().unwrap_or(u64::MAX)));
        self.lock().events(neighbor, since_ms)
    }

    pub fn knows(&self, neighbor: IpAddr) -> bool {
        self.lock().knows(neighbor)
    }

    fn lock(&self) -> MutexGuard<'_, EventLog> {
        // Every critical section is a push or a copy, so even a log poisoned by a
        // panic elsewhere is consistent.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
