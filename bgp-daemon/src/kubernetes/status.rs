//! The client's state for `bgpctl show kubernetes`: written by the watchers, read by
//! the supervisor.

use std::time::SystemTime;

use bgp_core::kubernetes::Kind;

/// Where a kind's watcher stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindState {
    /// No answer yet.
    Connecting,
    /// A list is in progress.
    Listing,
    /// Listed, and watching for changes.
    Watching,
    /// Its last attempt failed; it retries.
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindStatus {
    pub kind: Kind,
    /// False when nothing needs it (`load_balancers = false`: no Services, no slices).
    pub watched: bool,
    pub state: KindState,
    /// Objects the planner holds.
    pub objects: usize,
    /// The end of the last complete list.
    pub last_sync: Option<SystemTime>,
    /// The last error, and since when the watcher has been failing (kept after
    /// recovery, for the record, with `state` saying it works again).
    pub last_error: Option<String>,
    pub error_since: Option<SystemTime>,
}

impl KindStatus {
    fn new(kind: Kind) -> KindStatus {
        KindStatus {
            kind,
            watched: true,
            state: KindState::Connecting,
            objects: 0,
            last_sync: None,
            last_error: None,
            error_since: None,
        }
    }

    pub fn failed(&mut self, error: String, now: SystemTime) {
        if self.state != KindState::Error {
            self.error_since = Some(now);
        }
        self.state = KindState::Error;
        self.last_error = Some(error);
    }

    pub fn synced(&mut self, objects: usize, now: SystemTime) {
        self.state = KindState::Watching;
        self.objects = objects;
        self.last_sync = Some(now);
    }

    pub fn synced_empty(&mut self, now: SystemTime) {
        self.watched = false;
        self.synced(0, now);
    }

    /// A change arrived: the watch works.
    pub fn watching(&mut self, objects: usize) {
        self.state = KindState::Watching;
        self.objects = objects;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Where the client configuration came from, and the API server's URL.
    pub source: String,
    pub kinds: [KindStatus; 3],
}

impl Default for Status {
    fn default() -> Self {
        Status {
            source: String::new(),
            kinds: [KindStatus::new(Kind::Service), KindStatus::new(Kind::EndpointSlice), KindStatus::new(Kind::Node)],
        }
    }
}

impl Status {
    pub fn kind(&mut self, kind: Kind) -> &mut KindStatus {
        self.kinds.iter_mut().find(|k| k.kind == kind).expect("every kind has a status")
    }

    /// Every kind failed (no client configuration).
    pub fn all_failed(&mut self, error: &str, now: SystemTime) {
        for k in self.kinds.iter_mut().filter(|k| k.watched) {
            k.failed(error.to_string(), now);
        }
    }

    /// No watcher is failing.
    pub fn all_working(&self) -> bool {
        self.kinds.iter().all(|k| k.state != KindState::Error)
    }

    /// The connection as a whole: an error if any kind fails, listing while any lists
    /// (or has had no answer), else connected.
    pub fn overall(&self) -> KindState {
        let states = || self.kinds.iter().filter(|k| k.watched).map(|k| k.state);
        if states().any(|s| s == KindState::Error) {
            KindState::Error
        } else if states().any(|s| s == KindState::Connecting) {
            KindState::Connecting
        } else if states().any(|s| s == KindState::Listing) {
            KindState::Listing
        } else {
            KindState::Watching
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_overall_state_is_the_worst_of_the_kinds() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut s = Status::default();
        assert_eq!(s.overall(), KindState::Connecting);
        for k in [Kind::Service, Kind::EndpointSlice, Kind::Node] {
            s.kind(k).synced(3, t0);
        }
        assert_eq!(s.overall(), KindState::Watching);
        s.kind(Kind::Node).state = KindState::Listing;
        assert_eq!(s.overall(), KindState::Listing);
        s.kind(Kind::Service).failed("connection refused".into(), t0);
        s.kind(Kind::Service).failed("connection refused again".into(), t0 + Duration::from_secs(5));
        assert_eq!(s.overall(), KindState::Error);
        assert!(!s.all_working());
        let k = s.kind(Kind::Service);
        assert_eq!(
            (k.error_since, k.last_error.as_deref()),
            (Some(t0), Some("connection refused again")),
            "since the first"
        );
        k.watching(4);
        assert!(s.all_working());
        // An unwatched kind does not count.
        s.kind(Kind::EndpointSlice).synced_empty(t0);
        s.kind(Kind::EndpointSlice).state = KindState::Connecting;
        s.kind(Kind::Node).state = KindState::Watching;
        assert_eq!(s.overall(), KindState::Watching);
    }
}
