//! Per-neighbor event history: the typed events `bgpctl show neighbors ADDR events`
//! and `bgpctl show events` print, and [`EventLog`], the bounded store that keeps them.
//!
//! Events enter through [`EventLog::record`] (the daemon's peer tasks, its RIB task and
//! its supervisor call it, with the wall-clock time as an input: nothing here reads a
//! clock) and leave through [`EventLog::events`], oldest first.
//!
//! Memory is bounded twice: each neighbor keeps its last [`EventLog::per_neighbor`]
//! events (a ring), and at most [`EventLog::max_unpinned`] rings of neighbors that are
//! not *pinned* are kept. Configured neighbors are pinned (their number is the
//! configuration's); dynamic neighbors, and neighbors removed by a reload, keep their
//! ring after their session and task end, so `show events` still explains why a
//! dynamic peer left, until newer unpinned rings push out the one that was quiet the
//! longest.
//!
//! Order: every event gets a sequence number as it is recorded, and events are merged
//! and shown in that order, not by timestamp, so a wall clock that steps back (NTP)
//! cannot reorder the history. `--since` filters by timestamp.
//!
//! JSON of one event (`bgpctl show events --json` prints an array of them):
//!
//! ```json
//! {"neighbor": "10.0.0.2", "seq": 17, "time_ms": 1764967922123,
//!  "event": "notification-received",
//!  "notification": {"code": 6, "subcode": 2, "text": "Cease / Administrative Shutdown",
//!                   "hard_reset": false, "message": "maintenance", "data": ""}}
//! ```

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fsm::SessionState;
use crate::wire::{Cease, ErrorCode, Notification};

/// One event of one neighbor, as `bgpctl` receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborEvent {
    pub neighbor: IpAddr,
    /// Order of recording, daemon-wide (see the module docs).
    pub seq: u64,
    /// Wall-clock time, milliseconds since the Unix epoch (UTC).
    pub time_ms: u64,
    /// The same event again right after (a connection refused every retry): how many
    /// times, the first at `time_ms`, the last at `last_ms`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ms: Option<u64>,
    #[serde(flatten)]
    pub event: Event,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The session's state changed; `cause` says why, when known (`hold timer
    /// expired`, `received NOTIFICATION ...`, `bgpctl neighbor ADDR enable`).
    StateChanged {
        from: SessionState,
        to: SessionState,
        cause: Option<String>,
    },
    /// We sent a NOTIFICATION; `reason`: why, when it was our decision (an OPEN we
    /// refused, a malformed message).
    NotificationSent {
        notification: NotificationInfo,
        reason: Option<String>,
    },
    NotificationReceived {
        notification: NotificationInfo,
    },
    /// A TCP connection to the peer failed.
    ConnectFailed {
        error: String,
    },
    /// Graceful restart (RFC 4724) and long-lived graceful restart (RFC 9494) phases;
    /// `family` and `detail` where the phase is per family (LLGR).
    GracefulRestart {
        phase: RestartPhase,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The peer sent more prefixes (of `family`, when known) than `max_prefixes`;
    /// `action` is `warn` or `restart` (then the session restarts after
    /// `restart_after_s`).
    MaxPrefix {
        family: Option<String>,
        limit: u32,
        received: Option<u64>,
        action: String,
        restart_after_s: Option<u64>,
    },
    /// A reload gave the neighbor new policies (applied without a restart).
    PoliciesChanged {
        import: String,
        export: String,
    },
    /// A reload changed or removed the neighbor, or an operator acted on it.
    Config {
        change: String,
    },
    /// A change of the neighbor's BFD session (RFC 5880), in the RFC's names
    /// (`AdminDown`, `Down`, `Init`, `Up`): ours `from` -> `to`, the peer's state, and
    /// our diagnostic (why it left Up). BFD going Down from Up ends the BGP session
    /// (Cease / BFD Down, the next events).
    Bfd {
        from: String,
        to: String,
        remote_state: String,
        diagnostic: String,
    },
}

/// Graceful restart phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPhase {
    /// The session went down and the peer's routes are kept as stale (helper mode).
    HelperStarted,
    /// The restart time ran out: the peer's stale routes were removed.
    StaleRoutesRemoved,
    /// Long-lived graceful restart (RFC 9494 §4.2): the restart time ran out and the
    /// stale routes are kept as LLGR_STALE, least preferred.
    LongLivedStarted,
    /// The long-lived stale time ran out: the routes were removed.
    LongLivedStaleRemoved,
}

impl fmt::Display for RestartPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestartPhase::HelperStarted => "peer restarting: its routes are kept as stale (helper)",
            RestartPhase::StaleRoutesRemoved => "restart time over: stale routes removed",
            RestartPhase::LongLivedStarted => "restart time over: routes kept as long-lived stale (LLGR_STALE)",
            RestartPhase::LongLivedStaleRemoved => "long-lived stale time over: routes removed",
        })
    }
}

/// A NOTIFICATION, decoded: the code and subcode as numbers and in words, the RFC 9003
/// shutdown communication, and whether it was wrapped in an RFC 8538 Hard Reset (then
/// `code`, `subcode` and `text` are those of the cause it carries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationInfo {
    pub code: u8,
    pub subcode: u8,
    pub text: String,
    pub hard_reset: bool,
    /// The shutdown communication, if the NOTIFICATION carries one.
    pub message: Option<String>,
    /// Other data, in hex (at most the first 64 octets).
    pub data: String,
}

/// At most this much of a NOTIFICATION's data is kept, in octets.
const MAX_DATA: usize = 64;

impl From<&Notification> for NotificationInfo {
    fn from(n: &Notification) -> Self {
        let (inner, hard_reset) = match n.hard_reset_cause() {
            Some(cause) => (cause, true),
            None => (n.clone(), false),
        };
        let (code, subcode) = inner.code.to_u8();
        let message = inner.shutdown_message().map(str::to_owned);
        let data = if message.is_some() {
            String::new()
        } else {
            inner.data.iter().take(MAX_DATA).map(|b| format!("{b:02x}")).collect()
        };
        NotificationInfo { code, subcode, text: inner.code.to_string(), hard_reset, message, data }
    }
}

impl fmt::Display for NotificationInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}/{})", self.text, self.code, self.subcode)?;
        if self.hard_reset {
            f.write_str(", Hard Reset")?;
        }
        match &self.message {
            Some(m) if !m.is_empty() => write!(f, ": {m:?}")?,
            _ if !self.data.is_empty() => write!(f, ", data {}", self.data)?,
            _ => {}
        }
        Ok(())
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::StateChanged { from, to, cause: Some(cause) } => write!(f, "{from} -> {to}: {cause}"),
            Event::StateChanged { from, to, cause: None } => write!(f, "{from} -> {to}"),
            Event::NotificationSent { notification, reason: Some(reason) } => {
                write!(f, "sent NOTIFICATION {notification} ({reason})")
            }
            Event::NotificationSent { notification, reason: None } => write!(f, "sent NOTIFICATION {notification}"),
            Event::NotificationReceived { notification } => write!(f, "received NOTIFICATION {notification}"),
            Event::ConnectFailed { error } => write!(f, "connect failed: {error}"),
            Event::GracefulRestart { phase, family, detail } => {
                write!(f, "graceful restart: {phase}")?;
                if let Some(family) = family {
                    write!(f, " ({family})")?;
                }
                match detail {
                    Some(d) => write!(f, ": {d}"),
                    None => Ok(()),
                }
            }
            Event::MaxPrefix { family, limit, received, action, restart_after_s } => {
                write!(f, "max_prefixes {limit} exceeded")?;
                if let Some(family) = family {
                    write!(f, " for {family}")?;
                }
                if let Some(r) = received {
                    write!(f, " ({r} received)")?;
                }
                match restart_after_s {
                    Some(s) => write!(f, ": {action}, again in {s} s"),
                    None => write!(f, ": {action}"),
                }
            }
            Event::PoliciesChanged { import, export } => {
                write!(f, "policies changed: import {import}, export {export}")
            }
            Event::Config { change } => f.write_str(change),
            Event::Bfd { from, to, remote_state, diagnostic } => {
                write!(f, "BFD {from} -> {to} (peer {remote_state})")?;
                if diagnostic != "No Diagnostic" {
                    write!(f, ": {diagnostic}")?;
                }
                Ok(())
            }
        }
    }
}

impl Event {
    /// The event of a NOTIFICATION sent.
    pub fn sent(n: &Notification, reason: Option<String>) -> Event {
        Event::NotificationSent { notification: n.into(), reason }
    }

    pub fn received(n: &Notification) -> Event {
        Event::NotificationReceived { notification: n.into() }
    }

    /// Whether `n` is one an operator causes (reset, shutdown) rather than an error.
    pub fn is_administrative(n: &Notification) -> bool {
        let n = n.hard_reset_cause().unwrap_or_else(|| n.clone());
        matches!(n.code, ErrorCode::Cease(Cease::AdministrativeShutdown | Cease::AdministrativeReset))
    }
}

/// The bounded store of every neighbor's events (see the module docs).
#[derive(Debug)]
pub struct EventLog {
    rings: HashMap<IpAddr, VecDeque<NeighborEvent>>,
    pinned: BTreeSet<IpAddr>,
    per_neighbor: usize,
    max_unpinned: usize,
    next_seq: u64,
}

impl EventLog {
    /// Events kept per neighbor by default: a day of a flapping session's major events,
    /// or months of a quiet one.
    pub const PER_NEIGHBOR: usize = 64;
    /// Rings kept for neighbors that are not configured (dynamic, removed).
    pub const MAX_UNPINNED: usize = 256;

    pub fn new(per_neighbor: usize, max_unpinned: usize) -> EventLog {
        EventLog {
            rings: HashMap::new(),
            pinned: BTreeSet::new(),
            per_neighbor: per_neighbor.max(1),
            max_unpinned,
            next_seq: 1,
        }
    }

    pub fn per_neighbor(&self) -> usize {
        self.per_neighbor
    }

    pub fn max_unpinned(&self) -> usize {
        self.max_unpinned
    }

    /// The configured neighbors, whose rings are never evicted (at start and after each
    /// reload). A neighbor no longer pinned keeps its ring, now evictable.
    pub fn pin(&mut self, addresses: impl IntoIterator<Item = IpAddr>) {
        self.pinned = addresses.into_iter().collect();
        self.evict(None);
    }

    /// Records `event` of `neighbor` at `time_ms` (Unix milliseconds). The same event
    /// as the neighbor's last one is counted on it instead of taking a slot.
    pub fn record(&mut self, neighbor: IpAddr, time_ms: u64, event: Event) {
        let new = !self.rings.contains_key(&neighbor);
        let ring = self.rings.entry(neighbor).or_default();
        if let Some(last) = ring.back_mut() {
            if last.event == event && last.count < u32::MAX {
                last.count += 1;
                last.last_ms = Some(time_ms);
                return;
            }
        }
        if ring.len() >= self.per_neighbor {
            ring.pop_front();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        ring.push_back(NeighborEvent { neighbor, seq, time_ms, count: 1, last_ms: None, event });
        if new {
            self.evict(Some(neighbor));
        }
    }

    /// Drops the rings of unpinned neighbors, quietest first, until at most
    /// `max_unpinned` are left; `keep` (the ring just started) goes last.
    fn evict(&mut self, keep: Option<IpAddr>) {
        let unpinned = self.rings.keys().filter(|a| !self.pinned.contains(a)).count();
        if unpinned <= self.max_unpinned {
            return;
        }
        let mut candidates: Vec<(bool, u64, IpAddr)> = self
            .rings
            .iter()
            .filter(|(a, _)| !self.pinned.contains(a))
            .map(|(a, ring)| (Some(*a) == keep, ring.back().map_or(0, |e| e.seq), *a))
            .collect();
        candidates.sort_unstable();
        for (_, _, address) in candidates.into_iter().take(unpinned - self.max_unpinned) {
            self.rings.remove(&address);
        }
    }

    /// The events of `neighbor` (every neighbor's, merged, when `None`) recorded at or
    /// after `since_ms`, oldest first. A repeated event counts from its last time.
    pub fn events(&self, neighbor: Option<IpAddr>, since_ms: Option<u64>) -> Vec<NeighborEvent> {
        let recent = |e: &&NeighborEvent| since_ms.is_none_or(|s| e.last_ms.unwrap_or(e.time_ms) >= s);
        let mut out: Vec<NeighborEvent> = match neighbor {
            Some(a) => self.rings.get(&a).into_iter().flatten().filter(recent).cloned().collect(),
            None => self.rings.values().flatten().filter(recent).cloned().collect(),
        };
        out.sort_unstable_by_key(|e| e.seq);
        out
    }

    /// Whether any event of `neighbor` is kept.
    pub fn knows(&self, neighbor: IpAddr) -> bool {
        self.rings.contains_key(&neighbor)
    }

    /// Rings and events held (for tests and memory figures).
    pub fn len(&self) -> (usize, usize) {
        (self.rings.len(), self.rings.values().map(VecDeque::len).sum())
    }

    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::new(EventLog::PER_NEIGHBOR, EventLog::MAX_UNPINNED)
    }
}

/// Parses the `--since` of `bgpctl show events`: a duration with units, `90s`, `10m`,
/// `2h`, `1d`, `1w`, or several (`1h30m`). A bare number is refused: minutes or
/// seconds would be a guess.
pub fn parse_since(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration: use e.g. 90s, 10m, 2h, 1d".into());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("{text:?}: expected a number at {rest:?} (e.g. 90s, 10m, 2h, 1d)"));
        }
        let value: u64 = rest[..digits].parse().map_err(|_| format!("{text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            "w" => 7 * 86400,
            "" => return Err(format!("{text:?}: a unit is needed after {value} (s, m, h, d or w)")),
            other => return Err(format!("{text:?}: unknown unit {other:?} (s, m, h, d or w)")),
        };
        rest = &rest[unit_len..];
        total = value
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("{text:?}: duration too large"))?;
    }
    Ok(Duration::from_secs(total))
}

/// `2026-12-05T20:52:02.123Z` for Unix milliseconds (UTC, RFC 3339).
pub fn format_time_ms(time_ms: u64) -> String {
    let (secs, ms) = (time_ms / 1000, time_ms % 1000);
    let (days, of_day) = (secs / 86400, secs % 86400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", of_day / 3600, of_day / 60 % 60, of_day % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Cease;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn config(n: u32) -> Event {
        Event::Config { change: format!("change {n}") }
    }

    #[test]
    fn a_ring_keeps_the_last_events_of_each_neighbor() {
        let mut log = EventLog::new(4, 8);
        for n in 0..10 {
            log.record(ip("10.0.0.1"), 1000 + u64::from(n), config(n));
        }
        let kept = log.events(Some(ip("10.0.0.1")), None);
        let changes: Vec<String> = kept.iter().map(|e| e.event.to_string()).collect();
        assert_eq!(changes, ["change 6", "change 7", "change 8", "change 9"]);
        assert_eq!(log.len(), (1, 4));
        assert!(log.events(Some(ip("10.0.0.2")), None).is_empty());
    }

    #[test]
    fn neighbors_are_merged_in_recording_order_even_when_the_clock_steps_back() {
        let mut log = EventLog::default();
        log.record(ip("10.0.0.1"), 5000, config(1));
        log.record(ip("10.0.0.2"), 6000, config(2));
        // NTP stepped the clock back: still after the others.
        log.record(ip("10.0.0.1"), 4000, config(3));
        let all = log.events(None, None);
        let order: Vec<(IpAddr, u64)> = all.iter().map(|e| (e.neighbor, e.seq)).collect();
        assert_eq!(order, [(ip("10.0.0.1"), 1), (ip("10.0.0.2"), 2), (ip("10.0.0.1"), 3)]);
        // --since filters by time.
        let recent: Vec<u64> = log.events(None, Some(4500)).iter().map(|e| e.seq).collect();
        assert_eq!(recent, [1, 2]);
        assert_eq!(log.events(Some(ip("10.0.0.2")), Some(6001)), vec![]);
    }

    #[test]
    fn a_repeated_event_is_counted_not_stored_again() {
        let mut log = EventLog::new(4, 8);
        let refused = Event::ConnectFailed { error: "connection refused".into() };
        for t in 0..100 {
            log.record(ip("10.0.0.1"), t * 1000, refused.clone());
        }
        log.record(ip("10.0.0.1"), 200_000, config(1));
        let kept = log.events(Some(ip("10.0.0.1")), None);
        assert_eq!(kept.len(), 2);
        assert_eq!((kept[0].count, kept[0].time_ms, kept[0].last_ms), (100, 0, Some(99_000)));
        // The repeat's last time counts for --since.
        assert_eq!(log.events(None, Some(99_000)).len(), 2);
        assert_eq!(log.events(None, Some(99_001)).len(), 1);
    }

    #[test]
    fn unpinned_rings_are_bounded_and_the_quietest_goes_first() {
        let mut log = EventLog::new(2, 3);
        log.pin([ip("10.0.0.1")]);
        log.record(ip("10.0.0.1"), 0, config(0));
        for (i, a) in ["10.1.0.1", "10.1.0.2", "10.1.0.3"].iter().enumerate() {
            log.record(ip(a), 1, config(i as u32));
        }
        // 10.1.0.1 speaks again: 10.1.0.2 is now the quietest.
        log.record(ip("10.1.0.1"), 2, config(9));
        log.record(ip("10.1.0.4"), 3, config(4));
        assert_eq!(log.len().0, 4, "the pinned ring and three others");
        assert!(log.knows(ip("10.0.0.1")) && log.knows(ip("10.1.0.1")) && log.knows(ip("10.1.0.4")));
        assert!(!log.knows(ip("10.1.0.2")));
        for n in 0..1000u32 {
            let a = IpAddr::from([10, 2, (n >> 8) as u8, n as u8]);
            log.record(a, 10, config(n));
            log.record(a, 10, config(n + 1));
            log.record(a, 10, config(n + 2));
        }
        let (rings, events) = log.len();
        assert_eq!(rings, 4);
        assert!(events <= 4 * 2);
        assert!(log.knows(ip("10.0.0.1")), "a configured neighbor's ring is never evicted");
        // Unpinned by a reload that removed it: now evictable.
        log.pin([]);
        assert_eq!(log.len().0, 3);
        assert!(!log.knows(ip("10.0.0.1")));
    }

    #[test]
    fn bfd_changes_in_words() {
        let down = Event::Bfd {
            from: "Up".into(),
            to: "Down".into(),
            remote_state: "Up".into(),
            diagnostic: "Control Detection Time Expired".into(),
        };
        assert_eq!(down.to_string(), "BFD Up -> Down (peer Up): Control Detection Time Expired");
        let up = Event::Bfd {
            from: "Init".into(),
            to: "Up".into(),
            remote_state: "Up".into(),
            diagnostic: "No Diagnostic".into(),
        };
        assert_eq!(up.to_string(), "BFD Init -> Up (peer Up)");
        let json = serde_json::to_value(&down).unwrap();
        assert_eq!(json["event"], "bfd");
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), down);
    }

    #[test]
    fn since_durations() {
        assert_eq!(parse_since("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_since("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_since("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_since("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_since("1w"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_since(" 0s "), Ok(Duration::ZERO));
        for bad in
            ["", "10", "m", "10x", "10 m", "-5m", "1.5h", "10mm", "99999999999999999999s", "18446744073709551615w"]
        {
            let e = parse_since(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(parse_since("10").unwrap_err().contains("unit"));
        assert!(parse_since("10x").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(format_time_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_time_ms(1_796_503_922_456), "2026-12-05T20:52:02.456Z");
    }

    #[test]
    fn notifications_are_decoded_with_the_shutdown_message() {
        let shutdown = Notification::cease_with_message(Cease::AdministrativeShutdown, "maintenance");
        let info = NotificationInfo::from(&Notification::hard_reset(&shutdown));
        assert_eq!((info.code, info.subcode, info.hard_reset), (6, 2, true));
        assert_eq!(info.text, "Cease / Administrative Shutdown");
        assert_eq!(info.message.as_deref(), Some("maintenance"));
        assert_eq!(info.to_string(), "Cease / Administrative Shutdown (6/2), Hard Reset: \"maintenance\"");
        let max = Notification::new(ErrorCode::Cease(Cease::MaximumPrefixesReached), vec![0, 1, 1, 0, 0, 0, 5]);
        let info = NotificationInfo::from(&max);
        assert_eq!((info.message, info.data.as_str()), (None, "00010100000005"));
        assert!(Event::is_administrative(&Notification::hard_reset(&shutdown)));
        assert!(!Event::is_administrative(&max));

        let event = NeighborEvent {
            neighbor: ip("10.0.0.2"),
            seq: 17,
            time_ms: 1_764_967_922_123,
            count: 1,
            last_ms: None,
            event: Event::received(&shutdown),
        };
        let json = serde_json::to_value(&event).unwrap();
        let expected = serde_json::json!({
            "neighbor": "10.0.0.2", "seq": 17, "time_ms": 1_764_967_922_123_u64,
            "event": "notification-received",
            "notification": {"code": 6, "subcode": 2, "text": "Cease / Administrative Shutdown",
                             "hard_reset": false, "message": "maintenance", "data": ""}
        });
        assert_eq!(json, expected);
        assert_eq!(serde_json::from_value::<NeighborEvent>(json).unwrap(), event);
    }
}
