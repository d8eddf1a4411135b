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
//!
//! The replies are also what `bgpctl --json` prints, so their JSON form is a contract
//! with users: route attributes are data, not text to parse. A [`RouteRow`]:
//!
//! ```json
//! {"prefix": "10.0.0.0/24", "path_id": 0, "valid": true, "best": true, "multipath": false, "stale": false,
//!  "next_hop": "192.168.1.1", "next_hop_link_local": null,
//!  "as_path": [{"type": "sequence", "asns": [64512, 65010]}, {"type": "set", "asns": [65021, 65022]}],
//!  "origin": "igp", "local_pref": 100, "med": 10,
//!  "communities": [{"asn": 64512, "value": 100}, {"asn": 65535, "value": 65281, "name": "no-export"}],
//!  "large_communities": [{"global": 64512, "local1": 1, "local2": 2}],
//!  "ext_communities": [{"type": 0, "subtype": 2, "value": "fde800000064",
//!                       "kind": "route-target", "asn": 65000, "local": 100},
//!                      {"type": 3, "subtype": 12, "value": "00000000000a"}],
//!  "originator_id": "10.0.0.1", "cluster_list": ["10.0.0.254"], "atomic_aggregate": false,
//!  "aggregator": {"asn": 65010, "address": "192.0.2.1"}, "from": "192.168.1.1", "reason": null}
//! ```
//!
//! AS path segment types are `sequence`, `set`, `confed-sequence` and `confed-set`. A
//! community carries `name` when it is a well-known one (the names the configuration
//! accepts, [`WELL_KNOWN_COMMUNITIES`]); an extended community carries `kind`
//! (`route-target` or `route-origin`), `asn` or `address`, and `local` when it is a
//! route target or route origin this crate decodes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The state of a session; in JSON by the names of RFC 4271: `"Idle"`, `"Connect"`,
/// `"Active"`, `"OpenSent"`, `"OpenConfirm"`, `"Established"`.
pub use crate::fsm::SessionState;
use crate::policy::WELL_KNOWN_COMMUNITIES;
use crate::prefix::Prefix;
pub mod events;

use crate::wire::{
    Aggregator, AsPath, Community, ExtCommunity, ExtCommunityKind, GlobalAdmin, LargeCommunity, NextHop, Origin,
    PathAttrs,
};

/// Bumped on any incompatible change of [`Request`] or [`Reply`].
/// 2: route attributes as data instead of text. 3: `show fib`, `show nexthops`, kernel
/// provenance and next-hop reachability in route rows. 4: Kubernetes provenance in
/// route rows, `show kubernetes`. 5: issue 11 (BFD, LLGR, drains: `drain`, `undrain`,
/// `drained` in neighbor lines). 6: issue 12 (`why`, `reload-dry-run`, `show events`, ...).
pub const PROTOCOL_VERSION: u32 = 6;

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
    /// What we installed into the kernel and what the kernel refused: every FIB route
    /// (no `prefix`), or the one of a prefix.
    ShowFib { prefix: Option<String> },
    /// Every tracked BGP next hop, resolved or not, and through what.
    ShowNextHops,
    /// The Kubernetes client: one [`KubernetesStatus`], then a [`KubernetesRouteRow`]
    /// per route of the Kubernetes source.
    ShowKubernetes,
    /// Stop the daemon, telling every peer to drop our routes now (Administrative
    /// Shutdown, Hard Reset where RFC 8538 was negotiated).
    Shutdown { message: Option<String> },
    /// Graceful shutdown (RFC 8326) of one neighbor's session, or of every neighbor's
    /// (no `neighbor`): our routes are announced to it again with the
    /// GRACEFUL_SHUTDOWN community (and LOCAL_PREF 0 toward iBGP), nothing is
    /// withdrawn. A [`DrainRow`] per neighbor whose state changed, then `Done`; after
    /// `wait_seconds`, when given.
    Drain { neighbor: Option<IpAddr>, wait_seconds: Option<u32> },
    /// Undo `Drain`: one neighbor, or every neighbor (no `neighbor`).
    Undrain { neighbor: Option<IpAddr> },
    /// Every BFD session: one [`BfdSessionRow`] each.
    ShowBfd,
    /// The whole story of one route: a prefix, or an address's longest match. One
    /// [`Reply::Why`], then `End`.
    Why { target: String },
    /// What `Reload` would do, without doing it: one [`ReloadPreview`], or the error a
    /// reload would answer. `text` (with `file` naming it in errors) is the new
    /// configuration; without it the daemon reads its own file, as `Reload` does.
    ReloadDryRun { file: Option<String>, text: Option<String> },
    /// The event history ([`events::NeighborEvent`] replies, oldest first): of one
    /// neighbor, or of every neighbor merged; only events of the last `since_seconds`.
    ShowEvents { neighbor: Option<IpAddr>, since_seconds: Option<u64> },
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
    Fib(FibRow),
    NextHop(NextHopRow),
    Kubernetes(Box<KubernetesStatus>),
    KubernetesRoute(Box<KubernetesRouteRow>),
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
    /// One neighbor a `Drain` or `Undrain` changed.
    Drained(DrainRow),
    Bfd(Box<BfdSessionRow>),
    Why(Box<why::WhyReport>),
    ReloadPreview(Box<ReloadPreview>),
    Event(Box<events::NeighborEvent>),
}

/// A neighbor whose drain state changed, and how many of our routes it was sent again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainRow {
    pub address: IpAddr,
    /// Drained now (false: undrained).
    pub drained: bool,
    /// Routes announced to it again with the new attributes.
    pub routes: u64,
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
    /// Drained (`bgpctl drain`, RFC 8326 graceful shutdown): our routes go to it with
    /// the GRACEFUL_SHUTDOWN community.
    #[serde(default)]
    pub drained: bool,
}

impl NeighborSummary {
    /// A neighbor without a session: Idle, every counter 0, nothing else known.
    pub fn idle(address: IpAddr, asn: u32) -> NeighborSummary {
        NeighborSummary {
            address,
            description: None,
            asn,
            state: SessionState::Idle,
            uptime_seconds: 0,
            prefixes_received: 0,
            prefixes_accepted: 0,
            prefixes_advertised: 0,
            messages_received: 0,
            messages_sent: 0,
            out_queue: 0,
            last_error: None,
            dynamic: false,
            admin_down: false,
            drained: false,
        }
    }
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

/// One path of one prefix, as `show routes` lists it (JSON form in the module docs).
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
    /// NEXT_HOP, or the (global) next hop of MP_REACH_NLRI.
    pub next_hop: Option<IpAddr>,
    /// The link-local address an IPv6 next hop may carry besides (RFC 2545 §3).
    pub next_hop_link_local: Option<Ipv6Addr>,
    /// Empty when the path has none (a route of our own, or from an internal peer).
    pub as_path: AsPath,
    pub origin: Option<Origin>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub ext_communities: Vec<ExtCommunity>,
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: Vec<Ipv4Addr>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<Aggregator>,
    /// The peer address the path came from, or "static", "kernel", "kubernetes".
    pub from: String,
    /// The next hop resolves through the kernel's routes (next-hop tracking); a path
    /// whose next hop does not is not a candidate for best path. Always true for our
    /// own routes.
    #[serde(default = "reachable_default")]
    pub reachable: bool,
    /// Where a route imported from the kernel (`[[kernel.import]]`) was found.
    #[serde(default)]
    pub kernel: Option<KernelProvenance>,
    /// Who a route of the Kubernetes source is announced for (empty for other routes).
    #[serde(default)]
    pub kubernetes: Vec<KubernetesOwnerRow>,
    /// For the best path of a prefix shown alone: the decision step that chose it.
    pub reason: Option<String>,
    /// Carries LLGR_STALE (RFC 9494): long-lived stale, least preferred, sent only to
    /// peers with long-lived graceful restart.
    #[serde(default)]
    pub llgr_stale: bool,
}

impl RouteRow {
    /// The row of a path of `prefix` with attributes `attrs`, learned from `from`. The
    /// flags (`valid`, `best`, ...), `path_id` and `reason` are the caller's to set.
    pub fn new(prefix: Prefix, attrs: &PathAttrs, from: String) -> RouteRow {
        let (next_hop, next_hop_link_local) = match attrs.effective_next_hop() {
            None => (None, None),
            Some(NextHop::V4(a)) => (Some(IpAddr::V4(a)), None),
            Some(NextHop::V6 { global, link_local }) => (Some(IpAddr::V6(global)), link_local),
        };
        RouteRow {
            prefix: prefix.to_string(),
            next_hop,
            next_hop_link_local,
            as_path: attrs.as_path.clone().unwrap_or_default(),
            origin: attrs.origin,
            local_pref: attrs.local_pref,
            med: attrs.med,
            communities: attrs.communities.clone(),
            large_communities: attrs.large_communities.clone(),
            ext_communities: attrs.ext_communities.clone(),
            originator_id: attrs.originator_id,
            cluster_list: attrs.cluster_list.clone(),
            atomic_aggregate: attrs.atomic_aggregate,
            aggregator: attrs.aggregator,
            from,
            reachable: true,
            llgr_stale: crate::rib::llgr::is_llgr_stale(attrs),
            ..RouteRow::default()
        }
    }
}

/// The well-known name of a community, if it has one.
fn community_name(c: Community) -> Option<&'static str> {
    WELL_KNOWN_COMMUNITIES.iter().find(|(_, known)| *known == c).map(|(name, _)| *name)
}

/// `{"asn": 64512, "value": 100}`, with `"name": "no-export"` for a well-known one.
impl Serialize for Community {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let name = community_name(*self);
        let mut out = s.serialize_struct("Community", 2 + usize::from(name.is_some()))?;
        out.serialize_field("asn", &self.asn())?;
        out.serialize_field("value", &self.value())?;
        if let Some(name) = name {
            out.serialize_field("name", name)?;
        }
        out.end()
    }
}

/// From `asn` and `value`; `name` follows from them and is not read.
impl<'de> Deserialize<'de> for Community {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Parts {
            asn: u16,
            value: u16,
        }
        let Parts { asn, value } = Parts::deserialize(d)?;
        Ok(Community::from_parts(asn, value))
    }
}

/// `{"type": 0, "subtype": 2, "value": "fde800000064"}` (the 6 value octets in hex),
/// with `kind`, `asn` or `address`, and `local` for a route target or route origin.
impl Serialize for ExtCommunity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let decoded = self.decode();
        let mut out = s.serialize_struct("ExtCommunity", if decoded.is_some() { 6 } else { 3 })?;
        out.serialize_field("type", &self.type_code())?;
        out.serialize_field("subtype", &self.subtype())?;
        let hex: String = self.value().iter().map(|b| format!("{b:02x}")).collect();
        out.serialize_field("value", &hex)?;
        if let Some(d) = decoded {
            let kind = match d.kind {
                ExtCommunityKind::RouteTarget => "route-target",
                ExtCommunityKind::RouteOrigin => "route-origin",
            };
            out.serialize_field("kind", kind)?;
            match d.global {
                GlobalAdmin::Asn(asn) => out.serialize_field("asn", &asn)?,
                GlobalAdmin::Address(address) => out.serialize_field("address", &address)?,
            }
            out.serialize_field("local", &d.local)?;
        }
        out.end()
    }
}

/// From `type`, `subtype` and `value`; the decoded fields follow from them.
impl<'de> Deserialize<'de> for ExtCommunity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Parts {
            #[serde(rename = "type")]
            type_code: u8,
            subtype: u8,
            value: String,
        }
        let Parts { type_code, subtype, value } = Parts::deserialize(d)?;
        if value.len() != 12 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            let message = format!("extended community value {value:?} is not 12 hex digits");
            return Err(serde::de::Error::custom(message));
        }
        let mut bytes = [type_code, subtype, 0, 0, 0, 0, 0, 0];
        for (i, b) in bytes[2..].iter_mut().enumerate() {
            *b = u8::from_str_radix(&value[2 * i..2 * i + 2], 16).expect("checked: hex digits");
        }
        Ok(ExtCommunity(bytes))
    }
}

fn reachable_default() -> bool {
    true
}

/// One owner of a route the Kubernetes source announces: a Service (its ingress
/// address) or a Node (its pod CIDR).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesOwnerRow {
    /// `service` or `node`.
    pub kind: String,
    /// `namespace/name` of the Service, the name of the Node.
    pub name: String,
    /// `externalTrafficPolicy: Local` Services: the nodes with a ready endpoint of the
    /// Service, by name (Ready or not). Empty otherwise.
    #[serde(default)]
    pub ready_nodes: Vec<String>,
}

/// A route the Kubernetes source announces (`show kubernetes`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesRouteRow {
    pub prefix: String,
    /// Cluster mode: the serving nodes' addresses, ascending (one path each). Node
    /// mode: empty, the next hop is ours on each session.
    pub next_hops: Vec<IpAddr>,
    /// By owner, ascending; never empty.
    pub owners: Vec<KubernetesOwnerRow>,
}

/// Where an imported kernel route was found: the kernel's table, protocol and type
/// numbers, and the device of its first next hop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelProvenance {
    pub table: u32,
    pub protocol: u8,
    /// `unicast`, `blackhole`, `unreachable`, `prohibit`.
    #[serde(rename = "type")]
    pub kind: String,
    pub device: Option<String>,
}

/// Where a FIB route stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FibState {
    /// The kernel holds it as shown.
    Installed,
    /// Sent to the kernel (or about to be), no answer yet.
    Pending,
    /// The kernel refused it (`error` says why); retried when addresses or routes change.
    Failed,
}

/// One way out of a FIB route or a resolved next hop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibNextHopRow {
    /// `None`: the destination is on the device's link.
    pub gateway: Option<IpAddr>,
    pub ifindex: u32,
    /// The interface's name, when known.
    pub device: Option<String>,
}

/// One line of `bgpctl show fib`: a prefix we install into `[kernel] table`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibRow {
    pub prefix: String,
    pub table: u32,
    pub protocol: u8,
    pub metric: u32,
    /// The next hops asked for (several: one multipath route).
    pub next_hops: Vec<FibNextHopRow>,
    pub state: FibState,
    /// Why the kernel refused it: its extended ack text, else the errno's description.
    pub error: Option<String>,
    pub errno: Option<i32>,
}

/// One line of `bgpctl show nexthops`: a BGP next hop of received paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextHopRow {
    pub address: IpAddr,
    pub resolved: bool,
    /// The kernel route it resolves through (`10.0.0.0/24`), `None` when unresolved.
    pub via: Option<String>,
    /// On one of our connected subnets.
    pub connected: bool,
    /// What the kernel forwards to: the next hop itself on a connected subnet, else the
    /// resolving route's gateways.
    pub next_hops: Vec<FibNextHopRow>,
    /// Paths with this next hop.
    pub paths: u64,
    /// Unresolved, and why (`one of our addresses`, `no route`, `only the default route`).
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
    /// Our `long_lived_stale_time` for the peer (0: LLGR not advertised).
    #[serde(default)]
    pub long_lived_stale_time: u32,
    /// The peer's long-lived graceful restart, as negotiated (empty: not negotiated).
    #[serde(default)]
    pub long_lived: Vec<LongLivedFamilyRow>,
    /// Where the peer is in a graceful or long-lived graceful restart, if it is in one.
    #[serde(default)]
    pub restart_phase: Option<RestartPhaseRow>,
    /// The BFD session protecting this one, when the neighbor has `bfd = true` and
    /// its BFD session exists (a dynamic neighbor gets one once its session is up).
    #[serde(default)]
    pub bfd: Option<BfdSessionRow>,
}

/// One family of a peer's long-lived graceful restart (RFC 9494).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongLivedFamilyRow {
    pub family: String,
    /// The peer's long-lived stale time, seconds.
    pub stale_time: u32,
    /// The stale time we keep its routes for: the smaller of its and ours.
    pub effective_stale_time: u32,
    /// The F bit: the peer kept its forwarding state.
    pub forwarding_preserved: bool,
}

/// A phase of a peer's restart, as the RIB sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPhaseRow {
    /// "graceful-restart" (down, routes stale for its restart time), "long-lived-stale"
    /// (routes LLGR_STALE for the long-lived stale time), "awaiting-end-of-rib" (back,
    /// stale routes go at its End-of-RIB or the stale-path time).
    pub phase: String,
    /// Seconds until the phase's routes go (the latest family's, long-lived).
    pub seconds_left: u64,
    /// Long-lived: the families whose routes are LLGR_STALE.
    #[serde(default)]
    pub families: Vec<String>,
}

/// How the Kubernetes client stands with the API server (a kind's watcher, or all of
/// them: the worst of the kinds watched).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KubeConnection {
    /// No answer yet.
    Connecting,
    /// Listing (at start, or again after `410 Gone` or a lost watch).
    Listing,
    /// Listed, and watching for changes.
    Connected,
    /// The last attempt failed (`last_error`); routes stay as last known, and it retries.
    Error,
}

/// What `bgpctl show kubernetes` shows first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesStatus {
    /// `node` or `cluster`.
    pub mode: String,
    /// This node's name (node mode).
    pub node_name: Option<String>,
    /// Where the client configuration came from, and the API server's URL.
    pub source: String,
    pub state: KubeConnection,
    /// `services`, `endpointslices`, `nodes`.
    pub kinds: Vec<KubeKindStatus>,
}

/// One watched kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeKindStatus {
    /// `services`, `endpointslices` or `nodes`.
    pub kind: String,
    /// False when nothing needs it (`load_balancers = false`: no Services, no slices).
    pub watched: bool,
    pub state: KubeConnection,
    /// Objects of the kind the planner holds (LoadBalancer Services, slices of a
    /// Service, Nodes).
    pub objects: u64,
    /// The end of the last complete list, Unix seconds.
    pub last_sync: Option<u64>,
    /// The last error, kept after recovery for the record.
    pub last_error: Option<String>,
    /// Since when the kind has been failing (Unix seconds), for its last error.
    pub error_since: Option<u64>,
}

/// One BFD session (`bgpctl show bfd`): filled by the daemon's BFD task, except
/// `bgp_state`, which the supervisor adds.
///
/// States are `"AdminDown"`, `"Down"`, `"Init"`, `"Up"` (RFC 5880 §4.1); diagnostics
/// are the RFC's words ("Control Detection Time Expired", ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdSessionRow {
    pub peer: IpAddr,
    /// Our source address; `None` until known (the kernel's choice, learned from the
    /// BGP connection).
    pub local: Option<IpAddr>,
    pub state: String,
    /// The state the peer last reported.
    pub remote_state: String,
    pub local_discriminator: u32,
    /// 0 until learned.
    pub remote_discriminator: u32,
    /// Negotiated: the interval we send at now (at least 1 s while not Up, RFC 5880
    /// §6.8.3), and the one the peer sends at.
    pub tx_interval_ms: u64,
    pub rx_interval_ms: u64,
    /// Our detection multiplier (`bfd_multiplier`).
    pub multiplier: u8,
    /// How long without a packet from the peer before the session is down.
    pub detection_time_ms: u64,
    /// Seconds since the last state change; `None`: none yet.
    pub last_change_seconds_ago: Option<u64>,
    /// The diagnostic of the last change: why it went down (or "No Diagnostic").
    pub last_diag: String,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Packets for this session dropped (bad TTL, failed checks).
    pub packets_dropped: u64,
    /// The BGP session it protects, filled by the supervisor: Established while BFD
    /// is not Up means the session is unprotected (it came up without BFD, as FRR
    /// allows).
    #[serde(default)]
    pub bgp_state: Option<SessionState>,
}

impl BfdSessionRow {
    /// BGP is up without working BFD underneath: failures are found by the hold
    /// timer only.
    pub fn unprotected(&self) -> bool {
        self.bgp_state == Some(SessionState::Established) && self.state != "Up"
    }
}

pub mod why;
/// `reload --dry-run`: what a reload of `file` would do, computed by the running
/// daemon from its running state (sessions, routes held and sent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadPreview {
    pub file: String,
    /// Neighbors whose session would change, in address order.
    pub sessions: Vec<SessionPreview>,
    /// Per Established neighbor, the routes it holds from us now and would hold
    /// after the reload, in address order.
    pub routes: Vec<RoutePreview>,
    /// Keys of route sources and routing that would change (`[[announce]]`,
    /// `kernel.*`, `kubernetes.*`, `global.multipath`, ...), by their KEYS.md names.
    pub sources: Vec<String>,
    /// What the figures cannot include, in words (routes only a route refresh, a
    /// kernel dump or a Kubernetes relist would bring).
    pub notes: Vec<String>,
}

/// What a reload does to one neighbor's session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPreview {
    pub address: IpAddr,
    pub action: SessionAction,
    /// The changed keys behind a restart (KEYS.md names; `global.*` for every
    /// session).
    pub keys: Vec<String>,
    /// A dynamic neighbor (from a `[[neighbor_range]]`).
    pub dynamic: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionAction {
    /// Closed with Cease / Other Configuration Change, and started again.
    Restart,
    /// Closed with Cease / Peer De-configured, for good.
    Stop,
    /// A new `[[neighbor]]`.
    Start,
    /// `shutdown = true`: closed with Cease / Administrative Shutdown.
    Shutdown,
    /// `shutdown = false` again.
    Enable,
    /// New import or export policy, applied without a restart.
    Policies,
    /// New BFD keys (`keys`), applied to the live session without a restart.
    Bfd,
}

impl SessionAction {
    pub fn describe(self) -> &'static str {
        match self {
            SessionAction::Restart => "restart",
            SessionAction::Stop => "stop",
            SessionAction::Start => "start",
            SessionAction::Shutdown => "shutdown",
            SessionAction::Enable => "enable",
            SessionAction::Policies => "new policies",
            SessionAction::Bfd => "new BFD settings, no restart",
        }
    }
}

/// One Established neighbor's routes from us, now and after the reload (one per
/// prefix, one per path with ADD-PATH, as the peer counts them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePreview {
    pub address: IpAddr,
    /// Held now (`show neighbors`' advertised count).
    pub advertised: u64,
    /// Would hold after the reload (after its restart, for one that restarts).
    pub advertised_after: u64,
    pub newly_sent: u64,
    pub withdrawn: u64,
    /// Routes held from it that its new import policy refuses.
    pub import_refused: u64,
}

impl ReloadPreview {
    /// The text `bgpctl reload --dry-run` and `bgp-daemon --check --against-running`
    /// print.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = format!("dry run of a reload of {}: nothing was changed\n", self.file);
        if self.sessions.is_empty() {
            out.push_str("sessions: none change\n");
        } else {
            out.push_str("sessions:\n");
            for s in &self.sessions {
                let dynamic = if s.dynamic { " (dynamic)" } else { "" };
                let _ = write!(out, "  {}{dynamic}: {}", s.address, s.action.describe());
                if !s.keys.is_empty() {
                    let _ = write!(out, " ({} changed)", s.keys.join(", "));
                }
                out.push('\n');
            }
        }
        let changed: Vec<&RoutePreview> =
            self.routes.iter().filter(|r| r.newly_sent + r.withdrawn + r.import_refused > 0).collect();
        if changed.is_empty() {
            out.push_str("routes: no neighbor would be sent or withdrawn anything\n");
        } else {
            out.push_str("routes:\n");
            let _ = writeln!(
                out,
                "  {:<40} {:>10} {:>10} {:>8} {:>9} {:>14}",
                "Neighbor", "Advertised", "After", "Sent", "Withdrawn", "ImportRefused"
            );
            for r in changed {
                let _ = writeln!(
                    out,
                    "  {:<40} {:>10} {:>10} {:>8} {:>9} {:>14}",
                    r.address.to_string(),
                    r.advertised,
                    r.advertised_after,
                    format!("+{}", r.newly_sent),
                    format!("-{}", r.withdrawn),
                    r.import_refused
                );
            }
        }
        if self.sources.is_empty() {
            out.push_str("sources: none change\n");
        } else {
            let _ = writeln!(out, "sources: {} changed", self.sources.join(", "));
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MpReach, Segment, SegmentType};

    #[test]
    fn route_rows_carry_attributes_as_data() {
        let attrs = PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath {
                segments: vec![
                    Segment { kind: SegmentType::Sequence, asns: vec![64512, 65010] },
                    Segment { kind: SegmentType::Set, asns: vec![65021, 65022] },
                    Segment { kind: SegmentType::ConfedSequence, asns: vec![65100] },
                    Segment { kind: SegmentType::ConfedSet, asns: vec![65101] },
                ],
            }),
            next_hop: Some(Ipv4Addr::new(192, 168, 1, 1)),
            med: Some(10),
            local_pref: Some(100),
            atomic_aggregate: true,
            aggregator: Some(Aggregator { asn: 65010, address: Ipv4Addr::new(192, 0, 2, 1) }),
            communities: vec![Community::from_parts(64512, 100), Community::NO_EXPORT],
            originator_id: Some(Ipv4Addr::new(10, 0, 0, 1)),
            cluster_list: vec![Ipv4Addr::new(10, 0, 0, 254)],
            ext_communities: vec![
                ExtCommunity([0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 100]),
                ExtCommunity([0x01, 0x03, 192, 0, 2, 1, 0, 7]),
                ExtCommunity([0x03, 0x0c, 0, 0, 0, 0, 0, 10]),
            ],
            large_communities: vec![LargeCommunity { global: 64512, local1: 1, local2: 2 }],
            ..PathAttrs::default()
        };
        let row = RouteRow::new("10.0.0.0/24".parse().unwrap(), &attrs, "192.168.1.1".into());
        let json = serde_json::to_value(&row).unwrap();
        let expected = serde_json::json!({
            "prefix": "10.0.0.0/24", "path_id": 0, "valid": false, "best": false, "multipath": false, "stale": false,
            "next_hop": "192.168.1.1", "next_hop_link_local": null,
            "as_path": [
                {"type": "sequence", "asns": [64512, 65010]},
                {"type": "set", "asns": [65021, 65022]},
                {"type": "confed-sequence", "asns": [65100]},
                {"type": "confed-set", "asns": [65101]},
            ],
            "origin": "igp", "local_pref": 100, "med": 10,
            "communities": [{"asn": 64512, "value": 100}, {"asn": 65535, "value": 65281, "name": "no-export"}],
            "large_communities": [{"global": 64512, "local1": 1, "local2": 2}],
            "ext_communities": [
                {"type": 0, "subtype": 2, "value": "fde800000064", "kind": "route-target", "asn": 65000, "local": 100},
                {"type": 1, "subtype": 3, "value": "c00002010007", "kind": "route-origin", "address": "192.0.2.1",
                 "local": 7},
                {"type": 3, "subtype": 12, "value": "00000000000a"},
            ],
            "originator_id": "10.0.0.1", "cluster_list": ["10.0.0.254"], "atomic_aggregate": true,
            "aggregator": {"asn": 65010, "address": "192.0.2.1"},
            "from": "192.168.1.1", "reason": null, "reachable": true, "kernel": null,
            "kubernetes": [], "llgr_stale": false,
        });
        assert_eq!(json, expected);
        assert_eq!(serde_json::from_value::<RouteRow>(json).unwrap(), row, "read back as sent");

        // An IPv6 next hop with its link-local address; no attributes at all.
        let mut attrs = PathAttrs::default();
        let (global, link_local) = ("2001:db8::1".parse().unwrap(), "fe80::1".parse().unwrap());
        let next_hop = NextHop::V6 { global, link_local: Some(link_local) };
        attrs.mp_reach = Some(Box::new(MpReach { family: crate::types::Family::IPV6_UNICAST, next_hop, nlri: vec![] }));
        let row = RouteRow::new("2001:db8::/32".parse().unwrap(), &attrs, "static".into());
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!((&json["next_hop"], &json["next_hop_link_local"]), (&"2001:db8::1".into(), &"fe80::1".into()));
        assert_eq!(json["as_path"], serde_json::json!([]));
        assert_eq!(json["origin"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<RouteRow>(json).unwrap(), row);
    }

    #[test]
    fn malformed_attribute_values_are_refused() {
        for bad in [r#"{"type":0,"subtype":2,"value":"fde8"}"#, r#"{"type":0,"subtype":2,"value":"+de800000064"}"#] {
            assert!(serde_json::from_str::<ExtCommunity>(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Community>(r#"{"asn":65536,"value":1}"#).is_err());
        // Adjacent sequences are joined, as on the wire.
        let path: AsPath =
            serde_json::from_str(r#"[{"type":"sequence","asns":[1]},{"type":"sequence","asns":[2]}]"#).unwrap();
        assert_eq!(path, AsPath::from_sequence(vec![1, 2]));
    }

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
        assert_eq!(json, r#"{"version":6,"command":"neighbor-shutdown","address":"10.0.0.2","message":"x"}"#);
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), r);
    }

    #[test]
    fn drain_requests_and_rows() {
        let r =
            Request { version: PROTOCOL_VERSION, command: Command::Drain { neighbor: None, wait_seconds: Some(15) } };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"version":6,"command":"drain","neighbor":null,"wait_seconds":15}"#);
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), r);
        let row = Reply::Drained(DrainRow { address: "10.0.0.2".parse().unwrap(), drained: true, routes: 3 });
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(json, r#"{"reply":"drained","address":"10.0.0.2","drained":true,"routes":3}"#);
        // A neighbor line of an older daemon has no `drained`: not drained.
        let mut n = serde_json::to_value(NeighborSummary::idle("10.0.0.2".parse().unwrap(), 65001)).unwrap();
        n.as_object_mut().unwrap().remove("drained");
        assert!(!serde_json::from_value::<NeighborSummary>(n).unwrap().drained);
    }

    #[test]
    fn a_reload_preview_renders_each_action() {
        let session = |action, keys: &[&str]| SessionPreview {
            address: "10.0.0.2".parse().unwrap(),
            action,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            dynamic: false,
        };
        let p = ReloadPreview {
            file: "bgp.toml".into(),
            sessions: vec![session(SessionAction::Bfd, &["bfd_interval_ms"]), session(SessionAction::Stop, &[])],
            notes: vec!["x".into()],
            ..ReloadPreview::default()
        };
        let text = p.render();
        assert!(text.contains("  10.0.0.2: new BFD settings, no restart (bfd_interval_ms changed)\n"), "{text}");
        assert!(text.contains("  10.0.0.2: stop\n") && text.ends_with("note: x\n"), "{text}");
        assert!(text.contains("routes: no neighbor would be sent or withdrawn anything\n"), "{text}");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["sessions"][0]["action"], "bfd");
        assert_eq!(serde_json::from_value::<ReloadPreview>(json).unwrap(), p);
    }
}
