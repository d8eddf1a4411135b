//! The answer of `bgpctl why PREFIX|ADDRESS`: the whole story of one route, from
//! where it came from to the kernel, as one typed [`WhyReport`] (what `--json`
//! prints).
//!
//! ```json
//! {"query": "10.0.5.1", "prefix": "10.0.5.0/24",
//!  "verdict": "best path from 10.10.0.1 (higher LOCAL_PREF), sent to 1 of 2 neighbors, installed",
//!  "best_reason": "higher LOCAL_PREF",
//!  "paths": [{"route": {...RouteRow...}, "source": "peer 10.10.0.1 (AS 65010, eBGP), AS path 65010",
//!             "import": {"policy": "from-router", "verdict": "accept", "term": "lan",
//!                        "steps": [{"term": "lan", "matched": true, "changes": ["LOCAL_PREF none -> 200"],
//!                                   "action": "accept"}],
//!                        "changes": ["LOCAL_PREF none -> 200"]},
//!             "next_hop": "10.10.0.1 resolves through 10.10.0.0/24 (connected)", "lost": null}],
//!  "rejected": [],
//!  "peers": [{"address": "10.10.0.1", "sent": false, "reason": "it came from this neighbor (split horizon)"},
//!            {"address": "10.10.0.9", "sent": false, "reason": "RFC 8212, no export_policy"}],
//!  "fib": {"installed": true, "state": "installed", "next_hops": [...], "reason": null},
//!  "notes": []}
//! ```

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{FibNextHopRow, RouteRow};
use crate::policy::trace::PolicyTrace;

/// The answer to `bgpctl why`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WhyReport {
    /// What was asked, as given.
    pub query: String,
    /// The prefix looked at: the one asked, or an address's longest match (`None`
    /// when nothing covers the address).
    pub prefix: Option<String>,
    /// The story in one line: the best path and why, or why there is none ("no source
    /// has it", "rejected by policy X term Y", "next hop unresolved").
    pub verdict: String,
    /// The decision step that chose the best path.
    pub best_reason: Option<String>,
    /// Every path of the prefix, best first, then its ECMP siblings, then the rest.
    pub paths: Vec<WhyPath>,
    /// Routes a peer sent for the prefix that were refused on import, and why.
    pub rejected: Vec<WhyRejected>,
    /// Each neighbor: sent the route or not, and why not.
    pub peers: Vec<WhyPeer>,
    pub fib: WhyFib,
    /// Limits of the answer (e.g. refused routes not recorded).
    pub notes: Vec<String>,
}

/// One path and its history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WhyPath {
    /// As `show routes PREFIX` shows it (attributes after import policy).
    pub route: RouteRow,
    /// Where it came from, in words: the peer and its AS path, `[[announce]]`, the
    /// kernel route, the Kubernetes Service or Node.
    pub source: String,
    /// How the import policy treated it (re-run on the route as received); `None` for
    /// routes of our own.
    pub import: Option<PolicyTrace>,
    /// How its next hop resolves, or why not ("next hop unresolved: no route").
    pub next_hop: Option<String>,
    /// Not the best: the decision step that decided against it ("lower LOCAL_PREF
    /// than the best"), or "ECMP sibling of the best".
    pub lost: Option<String>,
}

/// A route a peer sent that was not kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhyRejected {
    pub prefix: String,
    pub from: IpAddr,
    pub path_id: u32,
    /// "rejected by policy X term Y", "AS loop: our AS in the AS_PATH", ...
    pub reason: String,
    /// The import policy's evaluation, when the policy is what refused it.
    pub import: Option<PolicyTrace>,
    /// The route as received.
    pub route: RouteRow,
}

/// One neighbor's side of the route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhyPeer {
    pub address: IpAddr,
    /// The neighbor holds the route from us now.
    pub sent: bool,
    /// Not sent: which rule or policy term stopped it ("RFC 8212, no export_policy",
    /// "rejected by policy X term Y", "NO_EXPORT community", "session not
    /// Established"...).
    pub reason: Option<String>,
    /// Sent: the export policy's evaluation, when it has terms.
    pub export: Option<PolicyTrace>,
    /// The neighbor is drained (RFC 8326): what it is sent carries GRACEFUL_SHUTDOWN
    /// (and LOCAL_PREF 0 toward iBGP).
    #[serde(default)]
    pub drained: bool,
}

/// The route in the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhyFib {
    pub installed: bool,
    /// `installed`, `pending`, `failed`; `None` when not in the FIB.
    pub state: Option<String>,
    pub next_hops: Vec<FibNextHopRow>,
    /// Why it is not installed, or what the kernel said.
    pub reason: Option<String>,
}
