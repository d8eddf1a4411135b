//! The control protocol between `bgpctl` and the daemon, shared by both.
//!
//! Transport: a Unix stream socket. The client writes one [`Request`] as a line of
//! JSON; the daemon answers with [`Reply`] lines, one item each, and ends with
//! [`Reply::End`] or [`Reply::Error`]. Line-delimited JSON keeps the protocol
//! debuggable with `socat - UNIX-CONNECT:/run/bgp-daemon/bgpctl.sock`, and items
//! stream, so a large table never has to be built in one piece.
//!
//! `version` lets either side refuse a peer of another protocol generation with a
//! clear message instead of misreading it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The state of a session; in JSON by the names of RFC 4271: `"Idle"`, `"Connect"`,
/// `"Active"`, `"OpenSent"`, `"OpenConfirm"`, `"Established"`.
pub use crate::fsm::SessionState;

/// Bumped on any incompatible change of [`Request`] or [`Reply`].
pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub command: Command,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Command {
    /// Every neighbor as a [`NeighborSummary`], or one as a [`NeighborDetail`].
    ShowNeighbors { address: Option<IpAddr> },
    /// Close the session with Cease / Administrative Reset and start again.
    NeighborReset { address: IpAddr },
    /// Close with Cease / Administrative Shutdown (RFC 9003 message) and stay down.
    NeighborShutdown { address: IpAddr, message: Option<String> },
    /// Undo `NeighborShutdown`.
    NeighborEnable { address: IpAddr },
    /// Routes: every best path (no `prefix`), the paths of one prefix, or the
    /// longest match of an address; `neighbor` with `received` or `advertised` shows
    /// that peer's Adj-RIB-In or Adj-RIB-Out instead of the Loc-RIB.
    ShowRoutes {
        prefix: Option<String>,
        neighbor: Option<IpAddr>,
        direction: Option<RouteDirection>,
        family: Option<String>,
    },
    /// Per-family route counts and memory.
    ShowSummary,
    /// Ask the peer to send its routes again (ROUTE-REFRESH, RFC 2918 / RFC 7313).
    NeighborRefresh { address: IpAddr },
    /// Read the configuration file again and apply it; a file with an error changes
    /// nothing and the error is the reply.
    Reload,
    /// Stop the daemon, telling every peer to drop our routes now (Administrative
    /// Shutdown, Hard Reset where RFC 8538 was negotiated).
    Shutdown { message: Option<String> },
}

/// Which per-neighbor table `show routes --neighbor` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteDirection {
    Received,
    Advertised,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    Neighbor(NeighborSummary),
    Route(Box<RouteRow>),
    Summary(RibSummary),
    NeighborDetail(Box<NeighborDetail>),
    /// A command was carried out; `message` says what happened.
    Done {
        message: String,
    },
    /// The request failed; nothing more follows.
    Error {
        message: String,
    },
    /// The last line of every successful answer.
    End,
}

/// One line of `bgpctl show neighbors`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeighborSummary {
    pub address: IpAddr,
    pub description: Option<String>,
    pub asn: u32,
    pub state: SessionState,
    /// Seconds since the session went up or down (0 if it never changed).
    pub uptime_seconds: u64,
    pub prefixes_received: u64,
    pub prefixes_accepted: u64,
    pub prefixes_advertised: u64,
    pub messages_received: u64,
    pub messages_sent: u64,
    /// Messages waiting to be written to the peer.
    pub out_queue: u64,
    /// The NOTIFICATION or error that last ended a session, in words.
    pub last_error: Option<String>,
    /// Accepted through a `neighbor_range` rather than configured one by one.
    pub dynamic: bool,
    /// Administratively down (`shutdown = true` or `bgpctl neighbor ADDR shutdown`).
    pub admin_down: bool,
}

/// Counters per message type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounters {
    pub open: u64,
    pub update: u64,
    pub notification: u64,
    pub keepalive: u64,
    pub route_refresh: u64,
}

impl From<crate::fsm::MessageCounts> for MessageCounters {
    fn from(c: crate::fsm::MessageCounts) -> Self {
        let [open, update, notification, keepalive, route_refresh] = c.0;
        MessageCounters { open, update, notification, keepalive, route_refresh }
    }
}

/// One path of one prefix, as `show routes` lists it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteRow {
    pub prefix: String,
    /// ADD-PATH path identifier as received (0 without ADD-PATH).
    pub path_id: u32,
    /// Usable: a candidate of the decision (not refused by a loop check or policy).
    pub valid: bool,
    pub best: bool,
    pub multipath: bool,
    pub stale: bool,
    pub next_hop: Option<String>,
    pub as_path: String,
    /// "igp", "egp" or "incomplete".
    pub origin: Option<String>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub ext_communities: Vec<String>,
    pub originator_id: Option<String>,
    pub cluster_list: Vec<String>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<String>,
    /// The peer address the path came from, or "static", "kernel", "kubernetes".
    pub from: String,
    /// For the best path of a prefix shown alone: the decision step that chose it.
    pub reason: Option<String>,
}

/// Per-family counts for `show summary`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RibSummary {
    pub ipv4_prefixes: u64,
    pub ipv6_prefixes: u64,
    pub ipv4_paths: u64,
    pub ipv6_paths: u64,
    /// Distinct interned attribute sets, and the references routes hold to them.
    pub attribute_sets: u64,
    pub attribute_refs: u64,
    /// Resident memory of the daemon (VmRSS), bytes.
    pub rss_bytes: u64,
    pub neighbors_established: u64,
    pub neighbors: u64,
}

/// What `bgpctl show neighbors ADDR` shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeighborDetail {
    #[serde(flatten)]
    pub summary: NeighborSummary,
    pub local_address: Option<String>,
    pub remote_address: Option<String>,
    pub peer_router_id: Option<String>,
    pub peer_hostname: Option<String>,
    pub configured_hold_time: u16,
    /// Negotiated values, while Established.
    pub hold_time: Option<u16>,
    pub keepalive: Option<u16>,
    pub families: Vec<String>,
    /// Negotiated capabilities in words, e.g. "4-octet AS", "route refresh",
    /// "ADD-PATH receive ipv4-unicast", "graceful restart (restart time 120 s, N bit)".
    pub capabilities: Vec<String>,
    pub received: MessageCounters,
    pub sent: MessageCounters,
    pub sessions_established: u64,
    /// TCP-MD5 is configured.
    pub password: bool,
    /// GTSM hops, if configured.
    pub ttl_security: Option<u8>,
    /// A hint when something needs the operator (e.g. why a session cannot come up).
    pub hint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_states_keep_their_names() {
        for (state, name) in [(SessionState::Idle, "Idle"), (SessionState::OpenSent, "OpenSent")] {
            assert_eq!(serde_json::to_value(state).unwrap(), name);
            assert_eq!(state.to_string(), name);
        }
        assert_eq!(serde_json::from_str::<SessionState>("\"Established\"").unwrap(), SessionState::Established);
    }

    #[test]
    fn requests_are_one_flat_json_object() {
        let r = Request {
            version: PROTOCOL_VERSION,
            command: Command::NeighborShutdown { address: "10.0.0.2".parse().unwrap(), message: Some("x".into()) },
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"version":1,"command":"neighbor-shutdown","address":"10.0.0.2","message":"x"}"#);
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), r);
    }
}
