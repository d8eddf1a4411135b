//! The daemon's configuration file (TOML): schema, defaults and validation.
//!
//! Pure: [`parse`] takes the file's name (used in messages only) and its text;
//! [`load`] is the thin wrapper that reads a file first. What comes back is a
//! [`Config`] whose every value is checked and defaulted, in plain types (`IpAddr`,
//! `u16`, `Duration`, `Vec<Family>`...), so the daemon never re-derives a default.
//! All types are `Clone + Debug + PartialEq`, so a reload can diff old against new.
//!
//! ```toml
//! [global]
//! asn = 65000
//! router_id = "10.0.0.1"
//!
//! [[neighbor]]
//! address = "10.0.0.2"
//! asn = 65001
//!
//! [[neighbor_range]]
//! prefix = "10.0.0.0/24"
//! asn = 65000
//! import_policy = "from-nodes"
//!
//! [[prefix_list]]
//! name = "pods"
//! entries = [{ prefix = "10.42.0.0/16", ge = 26, le = 26 }]
//!
//! [[policy]]
//! name = "from-nodes"
//! [[policy.term]]
//! name = "pods"
//! match.prefix_list = "pods"
//! action = "accept"
//!
//! [[announce]]
//! prefix = "192.168.6.10/32"
//! ```
//!
//! Policies are compiled here into a [`PolicySet`] ([`Config::policies`]), so the
//! daemon never parses them again; eBGP neighbors without `import_policy` /
//! `export_policy` get RFC 8212's "nothing in, nothing out"
//! ([`PeerSettings::effective_import`]).
//!
//! Every key with its type, default and meaning: `configs/KEYS.md`; annotated examples:
//! `configs/*.toml` (all parsed by `bgp-core/tests/configs.rs`).
//!
//! Errors are one line each, `FILE:LINE:COLUMN: KEY: what is wrong`, e.g.
//! `bgp.toml:12:5: neighbor[1].hold_tim: unknown key; did you mean "hold_time"?`.
//! Key paths count array entries from 0 in file order (`neighbor[2].address`,
//! `neighbor_range[0].prefix`, `global.listen[1]`, `policy[0].term[1].match.community[0]`);
//! columns count characters from 1.
//! Unknown keys, wrong types, values out of range and contradictions between
//! sections are all errors: nothing is silently ignored, and the first problem found
//! is reported.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::fsm::PeerConfig;
use crate::policy::{
    self, Actions, Match, Policy, PolicyRef, PolicySet, PrefixEntry, PrefixList, Prepend, RouteSource, SetNextHop,
    Term, TermAction, Verdict, ACCEPT_ALL, BUILT_IN,
};
use crate::prefix::{Prefix, Prefix4, Prefix6};
use crate::types::{Family, AS_TRANS};
use crate::wire::open::{AddPathFamily, GracefulRestart, GracefulRestartFamily};
use crate::wire::{AsPath, Community, LargeCommunity, Origin, PathAttrs};

/// `global.listen` when absent: every IPv4 and every IPv6 address, port 179.
pub const DEFAULT_LISTEN: [&str; 2] = ["0.0.0.0:179", "[::]:179"];
/// `global.control_socket` when absent.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/bgp-daemon/bgpctl.sock";
/// `global.hold_time` when absent, in seconds (RFC 4271 §10 suggests 90).
pub const DEFAULT_HOLD_TIME: u16 = 90;
/// `global.connect_retry` when absent: the first retry delay.
pub const DEFAULT_CONNECT_RETRY: Duration = Duration::from_secs(2);
/// `global.connect_retry_max` when absent: where the doubling delay stops.
pub const DEFAULT_CONNECT_RETRY_MAX: Duration = Duration::from_secs(120);
/// `global.graceful_restart_time` when absent, in seconds.
pub const DEFAULT_GRACEFUL_RESTART_TIME: u16 = 120;
/// `neighbor.port` when absent.
pub const DEFAULT_PORT: u16 = 179;
/// `neighbor_range.limit` when absent.
pub const DEFAULT_RANGE_LIMIT: u32 = 100;
/// `families` when absent.
pub const DEFAULT_FAMILIES: [Family; 2] = [Family::IPV4_UNICAST, Family::IPV6_UNICAST];
/// `global.multipath` when absent: most equal-cost paths used per prefix.
pub const DEFAULT_MULTIPATH: u8 = 8;
/// `max_prefixes_restart_after` when absent.
pub const DEFAULT_MAX_PREFIXES_RESTART_AFTER: Duration = Duration::from_secs(60);
/// Most ECMP paths `global.multipath` allows.
pub const MAX_MULTIPATH: u8 = 64;
/// Most times `allow_as_in` lets our AS appear in a received AS_PATH.
pub const MAX_ALLOW_AS_IN: u8 = 10;
/// Most copies one `prepend` puts in front of the AS_PATH.
pub const MAX_PREPEND: u8 = 10;
/// Longest policy, term or prefix list name.
pub const MAX_NAME_LEN: usize = 64;

/// Longest TCP-MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
const MAX_PASSWORD_LEN: usize = 80;
/// Longest Unix socket path (`sun_path` is 108 bytes with the terminating NUL).
const MAX_SOCKET_PATH_LEN: usize = 107;
/// Longest hostname the FQDN capability carries with an empty domain (1 + len + 1 ≤ 255).
const MAX_HOSTNAME_LEN: usize = 253;

/// A validated configuration with every default filled in.
///
/// Fields are public so tests and the daemon can build one directly; [`parse`] is
/// the only constructor that validates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub global: Global,
    /// `[[neighbor]]` entries in file order; addresses are unique.
    pub neighbors: Vec<Neighbor>,
    /// `[[neighbor_range]]` entries in file order; prefixes do not overlap.
    pub neighbor_ranges: Vec<NeighborRange>,
    /// `[[prefix_list]]` and `[[policy]]`, compiled, with the built-ins `accept-all`
    /// and `reject-all`. Every `import_policy`/`export_policy` names one of them.
    pub policies: PolicySet,
    /// `[[announce]]` entries in file order; prefixes are unique.
    pub announcements: Vec<Announce>,
}

/// The `[global]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    /// Our AS: 1..=4294967295 except 23456 (AS_TRANS). Required.
    pub asn: u32,
    /// BGP identifier: an IPv4 address other than 0.0.0.0. Required.
    pub router_id: Ipv4Addr,
    /// Where to accept BGP connections; empty: accept none. Default [`DEFAULT_LISTEN`].
    pub listen: Vec<SocketAddr>,
    /// The `bgpctl` Unix socket, an absolute path. Default [`DEFAULT_CONTROL_SOCKET`].
    pub control_socket: PathBuf,
    /// Hold time in seconds proposed in OPEN, 0 or 3..=65535; neighbors and ranges
    /// inherit it. Default 90.
    pub hold_time: u16,
    /// First connect retry delay, 1..=3600 s; doubles after each failure. Default 2 s.
    pub connect_retry: Duration,
    /// Cap of the retry delay, at least `connect_retry`. Default 120 s.
    pub connect_retry_max: Duration,
    /// Restart time advertised in the graceful restart capability, 1..=4095 s
    /// (RFC 4724's 12-bit field). Default 120.
    pub graceful_restart_time: u16,
    /// What SIGTERM/SIGINT does. Default [`OnStop::GracefulRestart`].
    pub on_stop: OnStop,
    /// Sent in the FQDN capability. Default none (the daemon may fill in the system
    /// hostname).
    pub hostname: Option<String>,
    /// CLUSTER_ID for route reflection (RFC 4456), an IPv4 address other than
    /// 0.0.0.0. Default `router_id`.
    pub cluster_id: Ipv4Addr,
    /// Most equal-cost paths installed per prefix (ECMP), 1..=64; 1 is best path
    /// only. Default [`DEFAULT_MULTIPATH`].
    pub multipath: u8,
    /// Compare MED between paths from different neighbor ASes too (RFC 4271
    /// §9.1.2.2 c compares it only within one AS). Default false.
    pub always_compare_med: bool,
    /// Least time between two UPDATEs for the same prefix to a peer
    /// (MinRouteAdvertisementIntervalTimer, RFC 4271 §9.2.1.1), 0..=600 s; 0 sends
    /// at once. Default 0.
    pub min_advertisement_interval: Duration,
}

impl Global {
    /// A `[global]` with every optional key at its default.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Global {
        Global {
            asn,
            router_id,
            listen: DEFAULT_LISTEN.iter().map(|s| s.parse().expect("valid default")).collect(),
            control_socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
            hold_time: DEFAULT_HOLD_TIME,
            connect_retry: DEFAULT_CONNECT_RETRY,
            connect_retry_max: DEFAULT_CONNECT_RETRY_MAX,
            graceful_restart_time: DEFAULT_GRACEFUL_RESTART_TIME,
            on_stop: OnStop::default(),
            hostname: None,
            cluster_id: router_id,
            multipath: DEFAULT_MULTIPATH,
            always_compare_med: false,
            min_advertisement_interval: Duration::ZERO,
        }
    }
}

/// `global.on_stop`: what the daemon does to its sessions on SIGTERM or SIGINT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnStop {
    /// `"graceful-restart"`: leave as a restarting speaker (RFC 4724), so peers that
    /// negotiated graceful restart keep our routes until we are back or
    /// `graceful_restart_time` runs out. Right for upgrades and reboots.
    #[default]
    GracefulRestart,
    /// `"shutdown"`: Cease / Administrative Shutdown (Hard Reset where RFC 8538 was
    /// negotiated), so peers drop our routes at once.
    Shutdown,
}

impl OnStop {
    pub const fn as_str(self) -> &'static str {
        match self {
            OnStop::GracefulRestart => "graceful-restart",
            OnStop::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for OnStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OnStop {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "graceful-restart" => Ok(OnStop::GracefulRestart),
            "shutdown" => Ok(OnStop::Shutdown),
            _ => Err(format!("unknown value {s:?} (expected \"graceful-restart\" or \"shutdown\")")),
        }
    }
}

/// `add_path`: ADD-PATH (RFC 7911) offered for every family of the session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AddPath {
    /// `"off"`: do not advertise the capability.
    #[default]
    Off,
    /// `"receive"`: accept several paths per prefix from the peer.
    Receive,
    /// `"send"`: send several paths per prefix to the peer.
    Send,
    /// `"both"`.
    Both,
}

impl AddPath {
    pub const fn as_str(self) -> &'static str {
        match self {
            AddPath::Off => "off",
            AddPath::Receive => "receive",
            AddPath::Send => "send",
            AddPath::Both => "both",
        }
    }

    /// The Send/Receive field of the capability (RFC 7911 §4); `None` for `Off`.
    pub const fn send_receive(self) -> Option<u8> {
        match self {
            AddPath::Off => None,
            AddPath::Receive => Some(AddPathFamily::RECEIVE),
            AddPath::Send => Some(AddPathFamily::SEND),
            AddPath::Both => Some(AddPathFamily::BOTH),
        }
    }

    /// The capability entries for `families` (empty for `Off`).
    pub fn families(self, families: &[Family]) -> Vec<AddPathFamily> {
        match self.send_receive() {
            None => Vec::new(),
            Some(send_receive) => families.iter().map(|&family| AddPathFamily { family, send_receive }).collect(),
        }
    }
}

impl fmt::Display for AddPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AddPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(AddPath::Off),
            "receive" => Ok(AddPath::Receive),
            "send" => Ok(AddPath::Send),
            "both" => Ok(AddPath::Both),
            _ => Err(format!("unknown value {s:?} (expected \"off\", \"receive\", \"send\" or \"both\")")),
        }
    }
}

/// `max_prefixes`: how many routes a peer may send, and what happens beyond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MaxPrefixes {
    /// Most prefixes received from the peer (accepted by the import policy or not:
    /// the RIB keeps rejected routes too), 1..=4294967295.
    pub limit: u32,
    pub action: MaxPrefixesAction,
}

/// `max_prefixes_action` (and `max_prefixes_restart_after`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaxPrefixesAction {
    /// `"warn"`: log a warning (once per crossing), keep the session and the routes.
    Warn,
    /// `"restart"` (the default): close the session with Cease / Maximum Number of
    /// Prefixes Reached (RFC 4486) and connect or accept again only `after` this long
    /// (`max_prefixes_restart_after`, default 60 s).
    Restart { after: Duration },
}

impl MaxPrefixesAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            MaxPrefixesAction::Warn => "warn",
            MaxPrefixesAction::Restart { .. } => "restart",
        }
    }
}

impl fmt::Display for MaxPrefixesAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a session with a peer negotiates, how it is protected and which routes pass:
/// the keys a `[[neighbor]]` and a `[[neighbor_range]]` share.
///
/// `Debug` prints the password as `"<redacted>"`, so logging a config leaks no key.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerSettings {
    /// The peer's AS (same rules as `global.asn`); equal to `global.asn` means iBGP.
    pub asn: u32,
    pub description: Option<String>,
    /// TCP-MD5 key (RFC 2385), 1..=80 bytes.
    pub password: Option<String>,
    /// Hold time proposed to this peer, 0 or 3..=65535 s. Default `global.hold_time`.
    pub hold_time: u16,
    /// GTSM (RFC 5082): the peer is at most this many hops away, 1..=254. We send with
    /// TTL 255 and accept only TTL ≥ 256 − hops. `None`: off.
    pub ttl_security: Option<u8>,
    /// Multiprotocol families to offer, non-empty, no duplicates, in file order.
    /// Default [`DEFAULT_FAMILIES`].
    pub families: Vec<Family>,
    /// Advertise the graceful restart capability (RFC 4724). Default true.
    pub graceful_restart: bool,
    /// ADD-PATH for all `families`. Default [`AddPath::Off`].
    pub add_path: AddPath,
    /// Route reflector client (RFC 4456); only for iBGP peers. Default false.
    pub route_reflector_client: bool,
    /// How many times our AS may appear in an AS_PATH received from the peer before
    /// the route counts as a loop, 0..=10. Default 0.
    pub allow_as_in: u8,
    /// Set the next hop of routes sent to the peer to our address on the session.
    /// Default false.
    pub next_hop_self: bool,
    /// Remove private ASNs from the AS_PATH of routes sent to the peer; eBGP peers
    /// only. Default false.
    pub remove_private_as: bool,
    /// Prefix limit; `None`: no limit (the default).
    pub max_prefixes: Option<MaxPrefixes>,
    /// Name of the policy for routes from the peer (a `[[policy]]` or a built-in).
    /// `None`: see [`PeerSettings::effective_import`].
    pub import_policy: Option<String>,
    /// Name of the policy for routes to the peer. `None`: see
    /// [`PeerSettings::effective_export`].
    pub export_policy: Option<String>,
}

impl PeerSettings {
    /// Settings for a peer in `asn` with every optional key at its default;
    /// `hold_time` is what it inherits (`global.hold_time`).
    pub fn new(asn: u32, hold_time: u16) -> PeerSettings {
        PeerSettings {
            asn,
            description: None,
            password: None,
            hold_time,
            ttl_security: None,
            families: DEFAULT_FAMILIES.to_vec(),
            graceful_restart: true,
            add_path: AddPath::Off,
            route_reflector_client: false,
            allow_as_in: 0,
            next_hop_self: false,
            remove_private_as: false,
            max_prefixes: None,
            import_policy: None,
            export_policy: None,
        }
    }

    /// The import policy: `import_policy` when set; otherwise `accept-all` for an
    /// iBGP peer and, for an eBGP peer, [`PolicyRef::Rfc8212Deny`] (RFC 8212: no
    /// route is accepted from an eBGP peer without a policy).
    pub fn effective_import(&self, global: &Global) -> PolicyRef<'_> {
        self.effective(&self.import_policy, global)
    }

    /// The export policy, with the same defaults as [`PeerSettings::effective_import`]
    /// (RFC 8212: no route is sent to an eBGP peer without a policy).
    pub fn effective_export(&self, global: &Global) -> PolicyRef<'_> {
        self.effective(&self.export_policy, global)
    }

    fn effective<'a>(&'a self, configured: &'a Option<String>, global: &Global) -> PolicyRef<'a> {
        match configured {
            Some(name) => PolicyRef::Named(name),
            None if self.is_internal(global) => PolicyRef::Named(ACCEPT_ALL),
            None => PolicyRef::Rfc8212Deny,
        }
    }

    /// For the log and `bgpctl`: why nothing passes in one or both directions of an
    /// eBGP session (RFC 8212) and what to set; `None` when policies are in place.
    pub fn rfc8212_notice(&self, global: &Global) -> Option<String> {
        let import = self.effective_import(global).is_rfc8212_deny();
        let export = self.effective_export(global).is_rfc8212_deny();
        let (what, keys) = match (import, export) {
            (false, false) => return None,
            (true, true) => ("no route is accepted from or sent to", "import_policy and export_policy"),
            (true, false) => ("no route is accepted from", "import_policy"),
            (false, true) => ("no route is sent to", "export_policy"),
        };
        Some(format!(
            "RFC 8212: {what} this eBGP neighbor because it has no {keys}; \
             set {keys} to a [[policy]] (or \"accept-all\")"
        ))
    }

    /// iBGP: the peer is in our AS.
    pub fn is_internal(&self, global: &Global) -> bool {
        self.asn == global.asn
    }

    /// What the FSM should negotiate with this peer. Graceful restart, when enabled,
    /// is advertised with `global.graceful_restart_time`, the RFC 8538 N bit set,
    /// and the R and F bits clear: a daemon coming back from a graceful stop sets
    /// `restarting` and `forwarding_preserved` itself.
    pub fn peer_config(&self, global: &Global, passive: bool) -> PeerConfig {
        let mut cfg = PeerConfig::new(global.asn, global.router_id, self.asn);
        cfg.hold_time = self.hold_time;
        cfg.passive = passive;
        cfg.families = self.families.clone();
        cfg.add_path = self.add_path.families(&self.families);
        cfg.graceful_restart = self.graceful_restart.then(|| GracefulRestart {
            restarting: false,
            notification: true,
            restart_time: global.graceful_restart_time,
            families: self
                .families
                .iter()
                .map(|&family| GracefulRestartFamily { family, forwarding_preserved: false })
                .collect(),
        });
        cfg.hostname = global.hostname.clone();
        cfg.connect_retry = global.connect_retry;
        cfg.connect_retry_max = global.connect_retry_max;
        cfg
    }
}

impl fmt::Debug for PeerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerSettings")
            .field("asn", &self.asn)
            .field("description", &self.description)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("hold_time", &self.hold_time)
            .field("ttl_security", &self.ttl_security)
            .field("families", &self.families)
            .field("graceful_restart", &self.graceful_restart)
            .field("add_path", &self.add_path)
            .field("route_reflector_client", &self.route_reflector_client)
            .field("allow_as_in", &self.allow_as_in)
            .field("next_hop_self", &self.next_hop_self)
            .field("remove_private_as", &self.remove_private_as)
            .field("max_prefixes", &self.max_prefixes)
            .field("import_policy", &self.import_policy)
            .field("export_policy", &self.export_policy)
            .finish()
    }
}

/// A `[[neighbor]]`: one peer, configured by address.
///
/// An address may also lie inside a `[[neighbor_range]]`'s prefix: that is allowed,
/// and the explicit neighbor wins (see [`Config::peer_for`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbor {
    /// Unique across neighbors. IPv4-mapped IPv6 addresses are stored as IPv4.
    pub address: IpAddr,
    /// TCP port to connect to. Default 179.
    pub port: u16,
    /// Only accept the peer's connection, never connect. Default false.
    pub passive: bool,
    /// Source address of our connection; same family as `address`. Default: chosen
    /// by the kernel.
    pub local_address: Option<IpAddr>,
    /// Administratively down: configured but no session. Default false.
    pub shutdown: bool,
    pub settings: PeerSettings,
}

impl Neighbor {
    /// [`PeerSettings::peer_config`] with this neighbor's `passive`, and the jitter
    /// seed mixed with the address so neighbors in one AS do not retry in lockstep.
    pub fn peer_config(&self, global: &Global) -> PeerConfig {
        let mut cfg = self.settings.peer_config(global, self.passive);
        cfg.jitter_seed ^= match self.address {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                (bits >> 64) as u64 ^ bits as u64
            }
        };
        cfg
    }
}

/// A `[[neighbor_range]]`: dynamic neighbors, any address in `prefix` may open a
/// session (we never connect to them). A `[[neighbor]]` whose address lies in the
/// prefix is not part of the range: the explicit neighbor wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborRange {
    /// IPv4 or IPv6 prefix without host bits; ranges do not overlap.
    pub prefix: IpNet,
    /// Most sessions from the range at once, 1..=10000. Default 100.
    pub limit: u32,
    pub settings: PeerSettings,
}

impl NeighborRange {
    /// [`PeerSettings::peer_config`] for a session accepted from the range (passive).
    pub fn peer_config(&self, global: &Global) -> PeerConfig {
        self.settings.peer_config(global, true)
    }
}

/// Which configuration entry a peer address belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerMatch<'a> {
    Neighbor(&'a Neighbor),
    Range(&'a NeighborRange),
}

impl<'a> PeerMatch<'a> {
    pub fn settings(&self) -> &'a PeerSettings {
        match self {
            PeerMatch::Neighbor(n) => &n.settings,
            PeerMatch::Range(r) => &r.settings,
        }
    }
}

/// An `[[announce]]`: a route this speaker originates (route source
/// [`RouteSource::Static`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Announce {
    /// Without host bits; unique across announcements.
    pub prefix: Prefix,
    /// Communities the route carries, no duplicates, in file order.
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    /// Same family as `prefix`. `None`: our own address on each session.
    pub next_hop: Option<IpAddr>,
}

impl Announce {
    /// An announcement of `prefix` with every optional key at its default.
    pub fn new(prefix: Prefix) -> Announce {
        Announce {
            prefix,
            communities: Vec::new(),
            large_communities: Vec::new(),
            local_pref: None,
            med: None,
            next_hop: None,
        }
    }

    /// The route's attributes as originated here: ORIGIN IGP, an empty AS_PATH, and
    /// the optional keys; the next hop where the RIB keeps it (NEXT_HOP for IPv4,
    /// MP_REACH_NLRI without NLRI for IPv6), or none when `next_hop` is absent.
    pub fn path_attrs(&self) -> PathAttrs {
        let mut attrs = PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            local_pref: self.local_pref,
            med: self.med,
            communities: self.communities.clone(),
            large_communities: self.large_communities.clone(),
            ..PathAttrs::default()
        };
        if let Some(next_hop) = self.next_hop {
            policy::set_next_hop(&mut attrs, self.prefix, next_hop);
        }
        attrs
    }
}

impl Config {
    pub fn global(&self) -> &Global {
        &self.global
    }

    /// Every `[[policy]]` and `[[prefix_list]]`, compiled, and the built-ins.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// Every `[[announce]]`, in file order.
    pub fn announcements(&self) -> &[Announce] {
        &self.announcements
    }

    /// Every `[[neighbor]]`, fully defaulted, in file order.
    pub fn neighbors(&self) -> &[Neighbor] {
        &self.neighbors
    }

    /// Every `[[neighbor_range]]`, fully defaulted, in file order.
    pub fn neighbor_ranges(&self) -> &[NeighborRange] {
        &self.neighbor_ranges
    }

    /// The `[[neighbor]]` with this address (IPv4-mapped IPv6 matches IPv4).
    pub fn neighbor(&self, address: IpAddr) -> Option<&Neighbor> {
        let address = address.to_canonical();
        self.neighbors.iter().find(|n| n.address == address)
    }

    /// The `[[neighbor_range]]` whose prefix holds `address` (at most one: ranges do
    /// not overlap), whether or not a `[[neighbor]]` has the address too.
    pub fn range_for(&self, address: IpAddr) -> Option<&NeighborRange> {
        let address = address.to_canonical();
        self.neighbor_ranges.iter().find(|r| r.prefix.contains(&address))
    }

    /// Who an incoming connection from `address` is: the explicit `[[neighbor]]` if
    /// there is one, else the `[[neighbor_range]]` that holds the address, else
    /// nobody (refuse it). IPv4-mapped IPv6 addresses, as a dual-stack listener
    /// reports IPv4 peers, are matched as IPv4.
    pub fn peer_for(&self, address: IpAddr) -> Option<PeerMatch<'_>> {
        self.neighbor(address).map(PeerMatch::Neighbor).or_else(|| self.range_for(address).map(PeerMatch::Range))
    }
}

/// Why a configuration was refused. `Display` is one line, starting with
/// `FILE:LINE:COLUMN:` for everything but a file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// [`load`] could not read the file.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML.
    #[error("{file}:{line}:{column}: invalid TOML: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    /// TOML, but not a valid configuration. `key` is the path of the key at fault,
    /// like `global.router_id`, `neighbor[2].address` or `global.listen[1]`; `line`
    /// and `column` (from 1, in characters) point at its value, or at the key itself
    /// when the key is unknown, or at the table header when a required key is missing.
    #[error("{file}:{line}:{column}: {key}: {kind}")]
    Invalid { file: String, line: usize, column: usize, key: String, kind: ErrorKind },
}

impl ConfigError {
    /// `(line, column)`, both from 1; `None` for [`ConfigError::Read`].
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { line, column, .. } | ConfigError::Invalid { line, column, .. } => {
                Some((*line, *column))
            }
        }
    }

    /// The key path at fault, for [`ConfigError::Invalid`].
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    /// What is wrong, for [`ConfigError::Invalid`].
    pub fn kind(&self) -> Option<&ErrorKind> {
        match self {
            ConfigError::Invalid { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// What is wrong with a key of a [`ConfigError::Invalid`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// A key the table does not have. `suggestion`: an allowed key within a small
    /// edit distance; `allowed`: every key the table has.
    #[error("unknown key{}", unknown_key_hint(.suggestion, .allowed))]
    UnknownKey { suggestion: Option<String>, allowed: Vec<String> },
    /// A required key is absent.
    #[error("missing required key")]
    Missing,
    /// The value has the wrong TOML type (the text says which was expected).
    #[error("wrong type: {0}")]
    Type(String),
    /// The value has the right type but is not acceptable (out of range, not an
    /// address, unknown name...).
    #[error("{0}")]
    Value(String),
    /// The value contradicts another part of the file (duplicate neighbor,
    /// overlapping ranges...).
    #[error("{0}")]
    Conflict(String),
}

fn unknown_key_hint(suggestion: &Option<String>, allowed: &[String]) -> String {
    match suggestion {
        Some(s) => format!("; did you mean {s:?}?"),
        None if allowed.is_empty() => String::new(),
        None => format!("; expected one of: {}", allowed.join(", ")),
    }
}

/// Reads and parses the file at `path`; errors name the file as `path` displays.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&path.display().to_string(), &text)
}

/// Parses and validates a configuration. `file_name` only prefixes error messages.
pub fn parse(file_name: &str, text: &str) -> Result<Config, ConfigError> {
    let cx = Cx { file: file_name, text };
    let doc = DeTable::parse(text).map_err(|e| {
        let (line, column) = cx.position(e.span().map_or(0, |s| s.start));
        ConfigError::Syntax { file: file_name.to_string(), line, column, message: e.message().trim().to_string() }
    })?;
    let raw = RawConfig::deserialize(toml::de::Deserializer::from(doc.clone()))
        .map_err(|e| cx.serde_error(doc.get_ref(), &e))?;
    cx.resolve(&raw)
}

// ---------------------------------------------------------------------------------
// The file as deserialized: every value that can be wrong keeps its span, numbers are
// i64 so range errors are ours, and everything optional is `Option` so defaults and
// "missing" messages are ours too.

type Opt<T> = Option<Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    global: Opt<RawGlobal>,
    #[serde(default)]
    neighbor: Vec<Spanned<RawNeighbor>>,
    #[serde(default)]
    neighbor_range: Vec<Spanned<RawRange>>,
    #[serde(default)]
    prefix_list: Vec<Spanned<RawPrefixList>>,
    #[serde(default)]
    policy: Vec<Spanned<RawPolicy>>,
    #[serde(default)]
    announce: Vec<Spanned<RawAnnounce>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    asn: Opt<i64>,
    router_id: Opt<String>,
    listen: Opt<Vec<Spanned<String>>>,
    control_socket: Opt<String>,
    hold_time: Opt<i64>,
    connect_retry: Opt<i64>,
    connect_retry_max: Opt<i64>,
    graceful_restart_time: Opt<i64>,
    on_stop: Opt<String>,
    hostname: Opt<String>,
    cluster_id: Opt<String>,
    multipath: Opt<i64>,
    always_compare_med: Opt<bool>,
    min_advertisement_interval: Opt<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbor {
    address: Opt<String>,
    asn: Opt<i64>,
    description: Opt<String>,
    port: Opt<i64>,
    passive: Opt<bool>,
    password: Opt<String>,
    hold_time: Opt<i64>,
    local_address: Opt<String>,
    ttl_security: Opt<i64>,
    families: Opt<Vec<Spanned<String>>>,
    graceful_restart: Opt<bool>,
    add_path: Opt<String>,
    route_reflector_client: Opt<bool>,
    shutdown: Opt<bool>,
    allow_as_in: Opt<i64>,
    next_hop_self: Opt<bool>,
    remove_private_as: Opt<bool>,
    max_prefixes: Opt<i64>,
    max_prefixes_action: Opt<String>,
    max_prefixes_restart_after: Opt<i64>,
    import_policy: Opt<String>,
    export_policy: Opt<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    prefix: Opt<String>,
    asn: Opt<i64>,
    limit: Opt<i64>,
    description: Opt<String>,
    password: Opt<String>,
    hold_time: Opt<i64>,
    ttl_security: Opt<i64>,
    families: Opt<Vec<Spanned<String>>>,
    graceful_restart: Opt<bool>,
    add_path: Opt<String>,
    route_reflector_client: Opt<bool>,
    allow_as_in: Opt<i64>,
    next_hop_self: Opt<bool>,
    remove_private_as: Opt<bool>,
    max_prefixes: Opt<i64>,
    max_prefixes_action: Opt<String>,
    max_prefixes_restart_after: Opt<i64>,
    import_policy: Opt<String>,
    export_policy: Opt<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrefixList {
    name: Opt<String>,
    entries: Opt<Vec<Spanned<RawPrefixEntry>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrefixEntry {
    prefix: Opt<String>,
    ge: Opt<i64>,
    le: Opt<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Opt<String>,
    default: Opt<String>,
    #[serde(default)]
    term: Vec<Spanned<RawTerm>>,
}

type Strings = Opt<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerm {
    name: Opt<String>,
    #[serde(rename = "match")]
    conditions: Opt<RawMatch>,
    action: Opt<String>,
    set_local_pref: Opt<i64>,
    set_med: Opt<i64>,
    set_next_hop: Opt<String>,
    add_community: Strings,
    remove_community: Strings,
    add_large_community: Strings,
    remove_large_community: Strings,
    prepend: Opt<i64>,
    prepend_asn: Opt<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    prefix_list: Opt<String>,
    neighbor: Strings,
    community: Strings,
    large_community: Strings,
    as_path_contains: Opt<Vec<Spanned<i64>>>,
    origin_as: Opt<Vec<Spanned<i64>>>,
    as_path_length_min: Opt<i64>,
    as_path_length_max: Opt<i64>,
    source: Strings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnnounce {
    prefix: Opt<String>,
    communities: Strings,
    large_communities: Strings,
    local_pref: Opt<i64>,
    med: Opt<i64>,
    next_hop: Opt<String>,
}

/// The keys a neighbor and a range share, borrowed from either.
struct RawPeer<'a> {
    asn: &'a Opt<i64>,
    description: &'a Opt<String>,
    password: &'a Opt<String>,
    hold_time: &'a Opt<i64>,
    ttl_security: &'a Opt<i64>,
    families: &'a Opt<Vec<Spanned<String>>>,
    graceful_restart: &'a Opt<bool>,
    add_path: &'a Opt<String>,
    route_reflector_client: &'a Opt<bool>,
    allow_as_in: &'a Opt<i64>,
    next_hop_self: &'a Opt<bool>,
    remove_private_as: &'a Opt<bool>,
    max_prefixes: &'a Opt<i64>,
    max_prefixes_action: &'a Opt<String>,
    max_prefixes_restart_after: &'a Opt<i64>,
    import_policy: &'a Opt<String>,
    export_policy: &'a Opt<String>,
}

impl RawNeighbor {
    fn peer(&self) -> RawPeer<'_> {
        RawPeer {
            asn: &self.asn,
            description: &self.description,
            password: &self.password,
            hold_time: &self.hold_time,
            ttl_security: &self.ttl_security,
            families: &self.families,
            graceful_restart: &self.graceful_restart,
            add_path: &self.add_path,
            route_reflector_client: &self.route_reflector_client,
            allow_as_in: &self.allow_as_in,
            next_hop_self: &self.next_hop_self,
            remove_private_as: &self.remove_private_as,
            max_prefixes: &self.max_prefixes,
            max_prefixes_action: &self.max_prefixes_action,
            max_prefixes_restart_after: &self.max_prefixes_restart_after,
            import_policy: &self.import_policy,
            export_policy: &self.export_policy,
        }
    }
}

impl RawRange {
    fn peer(&self) -> RawPeer<'_> {
        RawPeer {
            asn: &self.asn,
            description: &self.description,
            password: &self.password,
            hold_time: &self.hold_time,
            ttl_security: &self.ttl_security,
            families: &self.families,
            graceful_restart: &self.graceful_restart,
            add_path: &self.add_path,
            route_reflector_client: &self.route_reflector_client,
            allow_as_in: &self.allow_as_in,
            next_hop_self: &self.next_hop_self,
            remove_private_as: &self.remove_private_as,
            max_prefixes: &self.max_prefixes,
            max_prefixes_action: &self.max_prefixes_action,
            max_prefixes_restart_after: &self.max_prefixes_restart_after,
            import_policy: &self.import_policy,
            export_policy: &self.export_policy,
        }
    }
}

// ---------------------------------------------------------------------------------
// Validation and defaults.

/// The file being checked: turns spans into positioned errors.
struct Cx<'a> {
    file: &'a str,
    text: &'a str,
}

type Res<T> = Result<T, ConfigError>;

impl Cx<'_> {
    /// 1-based line and column (in characters) of byte `offset`.
    fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
    }

    fn err_at(&self, offset: usize, key: impl Into<String>, kind: ErrorKind) -> ConfigError {
        let (line, column) = self.position(offset);
        ConfigError::Invalid { file: self.file.to_string(), line, column, key: key.into(), kind }
    }

    fn err<T>(&self, value: &Spanned<T>, key: impl Into<String>, kind: ErrorKind) -> ConfigError {
        self.err_at(value.span().start, key, kind)
    }

    fn value_err<T>(&self, value: &Spanned<T>, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        self.err(value, key, ErrorKind::Value(message.into()))
    }

    fn line_of<T>(&self, value: &Spanned<T>) -> usize {
        self.position(value.span().start).0
    }

    fn required<'v, T, U>(&self, table: &Spanned<U>, value: &'v Opt<T>, key: String) -> Res<&'v Spanned<T>> {
        value.as_ref().ok_or_else(|| self.err(table, key, ErrorKind::Missing))
    }

    /// An integer in `range`; `what` completes "N is not a valid ...".
    fn int(&self, value: &Spanned<i64>, key: &str, range: Range<i64>, what: &str) -> Res<i64> {
        let v = *value.get_ref();
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(self.value_err(value, key, format!("{v} is not a valid {what} ({}..={})", range.start, range.end - 1)))
        }
    }

    fn asn(&self, value: &Spanned<i64>, key: &str) -> Res<u32> {
        let v = self.int(value, key, 1..1 << 32, "AS number")?;
        if v == i64::from(AS_TRANS) {
            return Err(self.value_err(
                value,
                key,
                "23456 is AS_TRANS (RFC 6793), the 2-octet stand-in for 4-octet AS numbers, not a usable AS",
            ));
        }
        Ok(v as u32)
    }

    fn hold_time(&self, value: &Spanned<i64>, key: &str) -> Res<u16> {
        let v = *value.get_ref();
        if v == 0 || (3..=65535).contains(&v) {
            Ok(v as u16)
        } else {
            Err(self.value_err(
                value,
                key,
                format!("{v} is not a valid hold time: use 0 (no keepalives) or 3..=65535 seconds (RFC 4271 §4.2)"),
            ))
        }
    }

    fn ip(&self, value: &Spanned<String>, key: &str) -> Res<IpAddr> {
        let s = value.get_ref();
        let ip: IpAddr =
            s.parse().map_err(|_| self.value_err(value, key, format!("{s:?} is not an IPv4 or IPv6 address")))?;
        let ip = ip.to_canonical();
        if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Err(self.value_err(value, key, format!("{s:?} cannot be a peer's or a local address")));
        }
        Ok(ip)
    }

    fn text_opt(&self, value: &Opt<String>) -> Option<String> {
        value.as_ref().map(|v| v.get_ref().clone())
    }

    /// A next hop address; `alternatives` is put before "an IPv4 or IPv6 address" in
    /// the message for a value that is not one.
    fn next_hop(&self, value: &Spanned<String>, key: &str, alternatives: &str) -> Res<IpAddr> {
        let s = value.get_ref();
        let a = s
            .parse::<IpAddr>()
            .map_err(|_| self.value_err(value, key, format!("{s:?} is not {alternatives}an IPv4 or IPv6 address")))?;
        let a = a.to_canonical();
        if a.is_unspecified() || a.is_multicast() || a == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Err(self.value_err(value, key, format!("{s:?} cannot be a next hop")));
        }
        Ok(a)
    }

    /// An IPv4 or IPv6 prefix without host bits.
    fn ipnet(&self, value: &Spanned<String>, key: &str) -> Res<IpNet> {
        let s = value.get_ref();
        let prefix: IpNet = s.parse().map_err(|_| {
            self.value_err(value, key, format!("{s:?} is not an IPv4 or IPv6 prefix like \"10.0.0.0/24\""))
        })?;
        if prefix.trunc() != prefix {
            return Err(self.value_err(
                value,
                key,
                format!("{s:?} has host bits set; did you mean \"{}\"?", prefix.trunc()),
            ));
        }
        Ok(prefix)
    }

    /// [`Cx::ipnet`] as a route prefix.
    fn prefix(&self, value: &Spanned<String>, key: &str) -> Res<Prefix> {
        Ok(match self.ipnet(value, key)? {
            IpNet::V4(n) => Prefix::V4(Prefix4::new(n.addr(), n.prefix_len()).expect("ipnet lengths are valid")),
            IpNet::V6(n) => Prefix::V6(Prefix6::new(n.addr(), n.prefix_len()).expect("ipnet lengths are valid")),
        })
    }

    /// A 32-bit attribute value (LOCAL_PREF, MED).
    fn value32(&self, value: &Spanned<i64>, key: &str, what: &str) -> Res<u32> {
        Ok(self.int(value, key, 0..1 << 32, what)? as u32)
    }

    /// The name of a policy, term or prefix list; `what` completes "not a valid ... name".
    fn name(&self, value: &Spanned<String>, key: &str, what: &str) -> Res<String> {
        let s = value.get_ref();
        let ok = (1..=MAX_NAME_LEN).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            return Err(self.value_err(
                value,
                key,
                format!("{s:?} is not a valid {what} name (1..={MAX_NAME_LEN} letters, digits, '-', '_', '.')"),
            ));
        }
        Ok(s.clone())
    }

    /// A non-empty list without duplicates; `item` checks each entry (its key is
    /// `key[i]`). `what` names one entry in the message for an empty list.
    fn list<T, U: PartialEq + fmt::Display>(
        &self,
        value: &Opt<Vec<Spanned<T>>>,
        key: &str,
        what: &str,
        item: impl Fn(&Spanned<T>, &str) -> Res<U>,
    ) -> Res<Vec<U>> {
        let Some(value) = value else { return Ok(Vec::new()) };
        if value.get_ref().is_empty() {
            return Err(self.value_err(
                value,
                key,
                format!("is empty: list at least one {what}, or leave the key out"),
            ));
        }
        let mut out: Vec<U> = Vec::with_capacity(value.get_ref().len());
        for (i, entry) in value.get_ref().iter().enumerate() {
            let k = format!("{key}[{i}]");
            let v = item(entry, &k)?;
            if out.contains(&v) {
                return Err(self.err(entry, k, ErrorKind::Conflict(format!("{v} is listed twice"))));
            }
            out.push(v);
        }
        Ok(out)
    }

    fn communities(&self, value: &Opt<Vec<Spanned<String>>>, key: &str) -> Res<Vec<Community>> {
        self.list(value, key, "community", |v, k| {
            policy::parse_community(v.get_ref()).map_err(|e| self.value_err(v, k, e))
        })
    }

    fn large_communities(&self, value: &Opt<Vec<Spanned<String>>>, key: &str) -> Res<Vec<LargeCommunity>> {
        self.list(value, key, "large community", |v, k| {
            policy::parse_large_community(v.get_ref()).map_err(|e| self.value_err(v, k, e))
        })
    }

    fn asns(&self, value: &Opt<Vec<Spanned<i64>>>, key: &str) -> Res<Vec<u32>> {
        self.list(value, key, "AS number", |v, k| Ok(self.int(v, k, 1..1 << 32, "AS number")? as u32))
    }

    /// No entry of `added` (from key `add_key`) is also in `removed` (list `value`).
    fn no_overlap<T: PartialEq + fmt::Display>(
        &self,
        value: &Opt<Vec<Spanned<String>>>,
        key: &str,
        removed: &[T],
        added: &[T],
        add_key: &str,
    ) -> Res<()> {
        if let (Some(value), Some(i)) = (value, removed.iter().position(|r| added.contains(r))) {
            return Err(self.err(
                &value.get_ref()[i],
                format!("{key}[{i}]"),
                ErrorKind::Conflict(format!("{} is also in {add_key}", removed[i])),
            ));
        }
        Ok(())
    }

    fn resolve(&self, raw: &RawConfig) -> Res<Config> {
        let global = match &raw.global {
            Some(g) => self.global(g)?,
            None => return Err(self.err_at(0, "global", ErrorKind::Missing)),
        };
        let policies = self.policies(raw)?;
        let neighbors = raw
            .neighbor
            .iter()
            .enumerate()
            .map(|(i, n)| self.neighbor(&global, &policies, n, &format!("neighbor[{i}]")))
            .collect::<Res<Vec<_>>>()?;
        let neighbor_ranges = raw
            .neighbor_range
            .iter()
            .enumerate()
            .map(|(i, r)| self.range(&global, &policies, r, &format!("neighbor_range[{i}]")))
            .collect::<Res<Vec<_>>>()?;
        let announcements = self.announcements(raw)?;

        // Unique neighbor addresses.
        let mut seen: HashMap<IpAddr, usize> = HashMap::new();
        for (i, n) in neighbors.iter().enumerate() {
            if let Some(&first) = seen.get(&n.address) {
                let span = raw.neighbor[i].get_ref().address.as_ref().expect("checked");
                let first_span = raw.neighbor[first].get_ref().address.as_ref().expect("checked");
                return Err(self.err(
                    span,
                    format!("neighbor[{i}].address"),
                    ErrorKind::Conflict(format!(
                        "duplicate neighbor address {}: already neighbor[{first}] (line {})",
                        n.address,
                        self.line_of(first_span)
                    )),
                ));
            }
            seen.insert(n.address, i);
        }

        // Ranges do not overlap (two prefixes overlap when one contains the other).
        for (i, r) in neighbor_ranges.iter().enumerate() {
            for (j, earlier) in neighbor_ranges[..i].iter().enumerate() {
                if r.prefix.contains(&earlier.prefix) || earlier.prefix.contains(&r.prefix) {
                    let span = raw.neighbor_range[i].get_ref().prefix.as_ref().expect("checked");
                    let first_span = raw.neighbor_range[j].get_ref().prefix.as_ref().expect("checked");
                    return Err(self.err(
                        span,
                        format!("neighbor_range[{i}].prefix"),
                        ErrorKind::Conflict(format!(
                            "{} overlaps neighbor_range[{j}].prefix {} (line {})",
                            r.prefix,
                            earlier.prefix,
                            self.line_of(first_span)
                        )),
                    ));
                }
            }
        }

        // Something must listen for passive neighbors and ranges.
        if global.listen.is_empty() {
            let who = match neighbors.iter().position(|n| n.passive && !n.shutdown) {
                Some(i) => Some(format!("neighbor[{i}] is passive")),
                None if !neighbor_ranges.is_empty() => Some("neighbor_range[0] only accepts connections".to_string()),
                None => None,
            };
            if let Some(who) = who {
                let listen = raw.global.as_ref().and_then(|g| g.get_ref().listen.as_ref()).expect("listen was set");
                return Err(self.err(
                    listen,
                    "global.listen",
                    ErrorKind::Conflict(format!("is empty, so no connection is accepted, but {who}")),
                ));
            }
        }

        Ok(Config { global, neighbors, neighbor_ranges, policies, announcements })
    }

    fn global(&self, table: &Spanned<RawGlobal>) -> Res<Global> {
        let g = table.get_ref();
        let asn = self.asn(self.required(table, &g.asn, "global.asn".into())?, "global.asn")?;
        let router_id_raw = self.required(table, &g.router_id, "global.router_id".into())?;
        let router_id = match router_id_raw.get_ref().parse::<Ipv4Addr>() {
            Ok(id) if !id.is_unspecified() => id,
            Ok(_) => return Err(self.value_err(router_id_raw, "global.router_id", "0.0.0.0 is not a valid router ID")),
            Err(_) => {
                return Err(self.value_err(
                    router_id_raw,
                    "global.router_id",
                    format!("{:?} is not an IPv4 address (the BGP identifier is 4 octets)", router_id_raw.get_ref()),
                ))
            }
        };
        let mut out = Global::new(asn, router_id);

        if let Some(listen) = &g.listen {
            out.listen.clear();
            for (i, entry) in listen.get_ref().iter().enumerate() {
                let key = format!("global.listen[{i}]");
                let addr: SocketAddr = entry.get_ref().parse().map_err(|_| {
                    self.value_err(
                        entry,
                        &key,
                        format!("{:?} is not ADDRESS:PORT (like \"0.0.0.0:179\" or \"[::]:179\")", entry.get_ref()),
                    )
                })?;
                if out.listen.contains(&addr) {
                    return Err(self.err(entry, key, ErrorKind::Conflict(format!("{addr} is listed twice"))));
                }
                out.listen.push(addr);
            }
        }
        if let Some(sock) = &g.control_socket {
            let s = sock.get_ref();
            let key = "global.control_socket";
            if !Path::new(s).is_absolute() {
                return Err(self.value_err(sock, key, format!("{s:?} is not an absolute path")));
            }
            if s.len() > MAX_SOCKET_PATH_LEN || s.ends_with('/') {
                return Err(self.value_err(
                    sock,
                    key,
                    format!("{s:?} is not a usable socket path (a file name of at most {MAX_SOCKET_PATH_LEN} bytes)"),
                ));
            }
            out.control_socket = PathBuf::from(s);
        }
        if let Some(v) = &g.hold_time {
            out.hold_time = self.hold_time(v, "global.hold_time")?;
        }
        if let Some(v) = &g.connect_retry {
            out.connect_retry =
                Duration::from_secs(self.int(v, "global.connect_retry", 1..3601, "delay in seconds")? as u64);
        }
        if let Some(v) = &g.connect_retry_max {
            out.connect_retry_max =
                Duration::from_secs(self.int(v, "global.connect_retry_max", 1..86401, "delay in seconds")? as u64);
        }
        if out.connect_retry_max < out.connect_retry {
            let (max, retry) = (out.connect_retry_max.as_secs(), out.connect_retry.as_secs());
            return Err(match (&g.connect_retry_max, &g.connect_retry) {
                (Some(v), _) => self.err(
                    v,
                    "global.connect_retry_max",
                    ErrorKind::Conflict(format!("{max} is less than connect_retry ({retry})")),
                ),
                (None, Some(v)) => self.err(
                    v,
                    "global.connect_retry",
                    ErrorKind::Conflict(format!(
                        "{retry} is more than connect_retry_max ({max}, the default); raise connect_retry_max too"
                    )),
                ),
                (None, None) => unreachable!("the defaults are ordered"),
            });
        }
        if let Some(v) = &g.graceful_restart_time {
            out.graceful_restart_time =
                self.int(v, "global.graceful_restart_time", 1..4096, "restart time in seconds (RFC 4724: 12 bits)")?
                    as u16;
        }
        if let Some(v) = &g.on_stop {
            out.on_stop = v.get_ref().parse().map_err(|e: String| self.value_err(v, "global.on_stop", e))?;
        }
        if let Some(v) = &g.hostname {
            let s = v.get_ref();
            let ok = (1..=MAX_HOSTNAME_LEN).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            if !ok {
                return Err(self.value_err(
                    v,
                    "global.hostname",
                    format!("{s:?} is not a hostname (1..={MAX_HOSTNAME_LEN} letters, digits, '-', '.', '_')"),
                ));
            }
            out.hostname = Some(s.clone());
        }
        if let Some(v) = &g.cluster_id {
            out.cluster_id = match v.get_ref().parse::<Ipv4Addr>() {
                Ok(id) if !id.is_unspecified() => id,
                Ok(_) => return Err(self.value_err(v, "global.cluster_id", "0.0.0.0 is not a valid cluster ID")),
                Err(_) => {
                    return Err(self.value_err(
                        v,
                        "global.cluster_id",
                        format!("{:?} is not an IPv4 address (CLUSTER_ID is 4 octets, RFC 4456)", v.get_ref()),
                    ))
                }
            };
        }
        if let Some(v) = &g.multipath {
            let max = i64::from(MAX_MULTIPATH);
            out.multipath = self.int(v, "global.multipath", 1..max + 1, "number of ECMP paths")? as u8;
        }
        if let Some(v) = &g.always_compare_med {
            out.always_compare_med = *v.get_ref();
        }
        if let Some(v) = &g.min_advertisement_interval {
            out.min_advertisement_interval =
                Duration::from_secs(
                    self.int(v, "global.min_advertisement_interval", 0..601, "interval in seconds")? as u64
                );
        }
        Ok(out)
    }

    fn peer<T>(
        &self,
        global: &Global,
        policies: &PolicySet,
        table: &Spanned<T>,
        raw: RawPeer<'_>,
        path: &str,
    ) -> Res<PeerSettings> {
        let key = |k: &str| format!("{path}.{k}");
        let asn = self.asn(self.required(table, raw.asn, key("asn"))?, &key("asn"))?;
        let mut out = PeerSettings::new(asn, global.hold_time);
        out.description = self.text_opt(raw.description);
        if let Some(v) = raw.password {
            let len = v.get_ref().len();
            if !(1..=MAX_PASSWORD_LEN).contains(&len) {
                return Err(self.value_err(
                    v,
                    key("password"),
                    format!("a TCP-MD5 key is 1..={MAX_PASSWORD_LEN} bytes, this one is {len}"),
                ));
            }
            out.password = Some(v.get_ref().clone());
        }
        if let Some(v) = raw.hold_time {
            out.hold_time = self.hold_time(v, &key("hold_time"))?;
        }
        if let Some(v) = raw.ttl_security {
            out.ttl_security = Some(self.int(v, &key("ttl_security"), 1..255, "hop count for GTSM")? as u8);
        }
        if let Some(list) = raw.families {
            if list.get_ref().is_empty() {
                return Err(self.value_err(list, key("families"), "is empty: a session needs at least one family"));
            }
            out.families.clear();
            for (i, entry) in list.get_ref().iter().enumerate() {
                let k = format!("{path}.families[{i}]");
                let family: Family = entry.get_ref().parse().map_err(|e: String| self.value_err(entry, &k, e))?;
                if out.families.contains(&family) {
                    return Err(self.err(entry, k, ErrorKind::Conflict(format!("{family} is listed twice"))));
                }
                out.families.push(family);
            }
        }
        if let Some(v) = raw.graceful_restart {
            out.graceful_restart = *v.get_ref();
        }
        if let Some(v) = raw.add_path {
            out.add_path = v.get_ref().parse().map_err(|e: String| self.value_err(v, key("add_path"), e))?;
        }
        if let Some(v) = raw.route_reflector_client {
            if *v.get_ref() && !out.is_internal(global) {
                return Err(self.err(
                    v,
                    key("route_reflector_client"),
                    ErrorKind::Conflict(format!(
                        "reflection is for iBGP peers (RFC 4456), but asn {} is not global.asn {}",
                        out.asn, global.asn
                    )),
                ));
            }
            out.route_reflector_client = *v.get_ref();
        }
        if let Some(v) = raw.allow_as_in {
            let max = i64::from(MAX_ALLOW_AS_IN);
            out.allow_as_in = self.int(v, &key("allow_as_in"), 0..max + 1, "count of our AS in a path")? as u8;
        }
        if let Some(v) = raw.next_hop_self {
            out.next_hop_self = *v.get_ref();
        }
        if let Some(v) = raw.remove_private_as {
            if *v.get_ref() && out.is_internal(global) {
                return Err(self.err(
                    v,
                    key("remove_private_as"),
                    ErrorKind::Conflict(format!(
                        "private ASNs are removed towards eBGP peers only, but asn {} is global.asn",
                        out.asn
                    )),
                ));
            }
            out.remove_private_as = *v.get_ref();
        }
        out.max_prefixes = self.max_prefixes(&raw, path)?;
        if let Some(v) = raw.import_policy {
            out.import_policy = Some(self.policy_name(v, &key("import_policy"), policies)?);
        }
        if let Some(v) = raw.export_policy {
            out.export_policy = Some(self.policy_name(v, &key("export_policy"), policies)?);
        }
        Ok(out)
    }

    fn max_prefixes(&self, raw: &RawPeer<'_>, path: &str) -> Res<Option<MaxPrefixes>> {
        let key = |k: &str| format!("{path}.{k}");
        let after = match raw.max_prefixes_restart_after {
            Some(v) => {
                Duration::from_secs(
                    self.int(v, &key("max_prefixes_restart_after"), 1..86401, "delay in seconds")? as u64
                )
            }
            None => DEFAULT_MAX_PREFIXES_RESTART_AFTER,
        };
        let action = match raw.max_prefixes_action {
            None => MaxPrefixesAction::Restart { after },
            Some(v) => match v.get_ref().as_str() {
                "restart" => MaxPrefixesAction::Restart { after },
                "warn" => MaxPrefixesAction::Warn,
                other => {
                    return Err(self.value_err(
                        v,
                        key("max_prefixes_action"),
                        format!("unknown value {other:?} (expected \"warn\" or \"restart\")"),
                    ))
                }
            },
        };
        if let (MaxPrefixesAction::Warn, Some(v)) = (action, raw.max_prefixes_restart_after) {
            return Err(self.err(
                v,
                key("max_prefixes_restart_after"),
                ErrorKind::Conflict("has no effect with max_prefixes_action = \"warn\"".into()),
            ));
        }
        let Some(limit) = raw.max_prefixes else {
            let given = [
                ("max_prefixes_action", raw.max_prefixes_action.as_ref().map(|v| v.span())),
                ("max_prefixes_restart_after", raw.max_prefixes_restart_after.as_ref().map(|v| v.span())),
            ];
            if let Some((k, Some(span))) = given.into_iter().find(|(_, span)| span.is_some()) {
                return Err(self.err_at(
                    span.start,
                    key(k),
                    ErrorKind::Conflict("has no effect without max_prefixes".into()),
                ));
            }
            return Ok(None);
        };
        let limit = self.int(limit, &key("max_prefixes"), 1..1 << 32, "prefix limit")? as u32;
        Ok(Some(MaxPrefixes { limit, action }))
    }

    /// `import_policy` / `export_policy`: a policy of `policies`, built-ins included.
    fn policy_name(&self, value: &Spanned<String>, key: &str, policies: &PolicySet) -> Res<String> {
        let name = value.get_ref();
        if policies.contains(name) {
            return Ok(name.clone());
        }
        let known: Vec<String> = policies.names().map(str::to_string).collect();
        let hint = match did_you_mean(name, &known) {
            Some(s) => format!("; did you mean {s:?}?"),
            None => format!(" (there are: {})", known.join(", ")),
        };
        Err(self.value_err(value, key, format!("no policy named {name:?}{hint}")))
    }

    fn neighbor(
        &self,
        global: &Global,
        policies: &PolicySet,
        table: &Spanned<RawNeighbor>,
        path: &str,
    ) -> Res<Neighbor> {
        let n = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let address = self.ip(self.required(table, &n.address, key("address"))?, &key("address"))?;
        let settings = self.peer(global, policies, table, n.peer(), path)?;
        let mut out =
            Neighbor { address, port: DEFAULT_PORT, passive: false, local_address: None, shutdown: false, settings };
        if let Some(v) = &n.port {
            out.port = self.int(v, &key("port"), 1..65536, "TCP port")? as u16;
        }
        if let Some(v) = &n.passive {
            out.passive = *v.get_ref();
        }
        if let Some(v) = &n.local_address {
            let local = self.ip(v, &key("local_address"))?;
            if local.is_ipv4() != address.is_ipv4() {
                return Err(self.err(
                    v,
                    key("local_address"),
                    ErrorKind::Conflict(format!(
                        "{local} and the neighbor's address {address} are of different families"
                    )),
                ));
            }
            out.local_address = Some(local);
        }
        if let Some(v) = &n.shutdown {
            out.shutdown = *v.get_ref();
        }
        Ok(out)
    }

    fn range(
        &self,
        global: &Global,
        policies: &PolicySet,
        table: &Spanned<RawRange>,
        path: &str,
    ) -> Res<NeighborRange> {
        let r = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let prefix = self.ipnet(self.required(table, &r.prefix, key("prefix"))?, &key("prefix"))?;
        let settings = self.peer(global, policies, table, r.peer(), path)?;
        let mut out = NeighborRange { prefix, limit: DEFAULT_RANGE_LIMIT, settings };
        if let Some(v) = &r.limit {
            out.limit = self.int(v, &key("limit"), 1..10001, "session limit")? as u32;
        }
        Ok(out)
    }

    /// `[[prefix_list]]` then `[[policy]]`, compiled into a set with the built-ins.
    fn policies(&self, raw: &RawConfig) -> Res<PolicySet> {
        let mut set = PolicySet::new();
        // Name -> (list, its index in the file).
        let mut lists: HashMap<String, (Arc<PrefixList>, usize)> = HashMap::new();
        for (i, table) in raw.prefix_list.iter().enumerate() {
            let path = format!("prefix_list[{i}]");
            let l = table.get_ref();
            let name_raw = self.required(table, &l.name, format!("{path}.name"))?;
            let name = self.name(name_raw, &format!("{path}.name"), "prefix list")?;
            if let Some((_, first)) = lists.get(&name) {
                let first_span = raw.prefix_list[*first].get_ref().name.as_ref().expect("checked");
                return Err(self.err(
                    name_raw,
                    format!("{path}.name"),
                    ErrorKind::Conflict(format!(
                        "duplicate prefix list name {name:?}: already prefix_list[{first}] (line {})",
                        self.line_of(first_span)
                    )),
                ));
            }
            let key = format!("{path}.entries");
            let entries_raw = self.required(table, &l.entries, key.clone())?;
            if entries_raw.get_ref().is_empty() {
                return Err(self.value_err(entries_raw, key, "is empty: a prefix list needs at least one entry"));
            }
            let mut entries: Vec<PrefixEntry> = Vec::new();
            for (j, e) in entries_raw.get_ref().iter().enumerate() {
                let entry_path = format!("{key}[{j}]");
                let entry = self.prefix_entry(e, &entry_path)?;
                if entries.contains(&entry) {
                    return Err(self.err(e, entry_path, ErrorKind::Conflict(format!("{entry} is listed twice"))));
                }
                entries.push(entry);
            }
            let list = Arc::new(PrefixList { name: name.clone(), entries });
            set.insert_prefix_list(list.clone()).expect("prefix list names are unique");
            lists.insert(name, (list, i));
        }

        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, table) in raw.policy.iter().enumerate() {
            let path = format!("policy[{i}]");
            let p = table.get_ref();
            let name_key = format!("{path}.name");
            let name_raw = self.required(table, &p.name, name_key.clone())?;
            let name = self.name(name_raw, &name_key, "policy")?;
            if BUILT_IN.contains(&name.as_str()) {
                return Err(self.err(
                    name_raw,
                    name_key,
                    ErrorKind::Conflict(format!("{name:?} is a built-in policy; pick another name")),
                ));
            }
            if let Some(&first) = seen.get(&name) {
                let first_span = raw.policy[first].get_ref().name.as_ref().expect("checked");
                return Err(self.err(
                    name_raw,
                    name_key,
                    ErrorKind::Conflict(format!(
                        "duplicate policy name {name:?}: already policy[{first}] (line {})",
                        self.line_of(first_span)
                    )),
                ));
            }
            let default = match &p.default {
                Some(v) => v.get_ref().parse().map_err(|e: String| self.value_err(v, format!("{path}.default"), e))?,
                None => Verdict::Reject,
            };
            let mut policy = Policy::new(name.clone(), default);
            for (t, term_table) in p.term.iter().enumerate() {
                let term_path = format!("{path}.term[{t}]");
                let term = self.term(term_table, &term_path, &lists)?;
                if let Some(j) = policy.terms.iter().position(|earlier| earlier.name == term.name) {
                    let first_span = p.term[j].get_ref().name.as_ref().expect("checked");
                    return Err(self.err(
                        term_table.get_ref().name.as_ref().expect("checked"),
                        format!("{term_path}.name"),
                        ErrorKind::Conflict(format!(
                            "duplicate term name {:?}: already {path}.term[{j}] (line {})",
                            term.name,
                            self.line_of(first_span)
                        )),
                    ));
                }
                // A term that matches everything and decides hides every later one.
                if let Some(j) = policy.terms.iter().position(|e| e.matches.is_empty() && e.action != TermAction::Next)
                {
                    let earlier = &policy.terms[j];
                    return Err(self.err(
                        term_table,
                        term_path,
                        ErrorKind::Conflict(format!(
                            "is never reached: {path}.term[{j}] ({:?}, line {}) matches every route and ends with {}",
                            earlier.name,
                            self.line_of(&p.term[j]),
                            earlier.action
                        )),
                    ));
                }
                policy.terms.push(term);
            }
            seen.insert(name, i);
            set.insert(policy).expect("policy names are unique and not built-in");
        }
        Ok(set)
    }

    fn prefix_entry(&self, table: &Spanned<RawPrefixEntry>, path: &str) -> Res<PrefixEntry> {
        let e = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let prefix = self.prefix(self.required(table, &e.prefix, key("prefix"))?, &key("prefix"))?;
        let len = i64::from(prefix.prefix_len());
        let max = if matches!(prefix, Prefix::V4(_)) { 32 } else { 128 };
        let length = |v: &Spanned<i64>, k: &str| -> Res<u8> {
            let x = *v.get_ref();
            if (len..=max).contains(&x) {
                Ok(x as u8)
            } else {
                Err(self.value_err(v, key(k), format!("{x} is not a valid {k} for {prefix}: use {len}..={max}")))
            }
        };
        let ge = e.ge.as_ref().map(|v| length(v, "ge")).transpose()?;
        let le = e.le.as_ref().map(|v| length(v, "le")).transpose()?;
        if let (Some(ge), Some(le), Some(v)) = (ge, le, &e.le) {
            if le < ge {
                return Err(self.err(v, key("le"), ErrorKind::Conflict(format!("{le} is less than ge ({ge})"))));
            }
        }
        Ok(PrefixEntry { prefix, ge, le })
    }

    fn term(
        &self,
        table: &Spanned<RawTerm>,
        path: &str,
        lists: &HashMap<String, (Arc<PrefixList>, usize)>,
    ) -> Res<Term> {
        let t = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let name = self.name(self.required(table, &t.name, key("name"))?, &key("name"), "term")?;
        let matches = match &t.conditions {
            Some(m) => self.conditions(m, &key("match"), lists)?,
            None => Match::default(),
        };
        let action = match &t.action {
            Some(v) => v.get_ref().parse().map_err(|e: String| self.value_err(v, key("action"), e))?,
            None => TermAction::Next,
        };

        let mut actions = Actions::default();
        if let Some(v) = &t.set_local_pref {
            actions.set_local_pref = Some(self.value32(v, &key("set_local_pref"), "LOCAL_PREF")?);
        }
        if let Some(v) = &t.set_med {
            actions.set_med = Some(self.value32(v, &key("set_med"), "MED")?);
        }
        if let Some(v) = &t.set_next_hop {
            actions.set_next_hop = Some(match v.get_ref().as_str() {
                "self" => SetNextHop::SelfAddress,
                _ => SetNextHop::Address(self.next_hop(v, &key("set_next_hop"), "\"self\" or ")?),
            });
        }
        actions.add_community = self.communities(&t.add_community, &key("add_community"))?;
        actions.remove_community = self.communities(&t.remove_community, &key("remove_community"))?;
        self.no_overlap(
            &t.remove_community,
            &key("remove_community"),
            &actions.remove_community,
            &actions.add_community,
            "add_community",
        )?;
        actions.add_large_community = self.large_communities(&t.add_large_community, &key("add_large_community"))?;
        actions.remove_large_community =
            self.large_communities(&t.remove_large_community, &key("remove_large_community"))?;
        self.no_overlap(
            &t.remove_large_community,
            &key("remove_large_community"),
            &actions.remove_large_community,
            &actions.add_large_community,
            "add_large_community",
        )?;
        if let Some(v) = &t.prepend {
            let max = i64::from(MAX_PREPEND);
            let count = self.int(v, &key("prepend"), 1..max + 1, "prepend count")? as u8;
            let asn = t.prepend_asn.as_ref().map(|v| self.asn(v, &key("prepend_asn"))).transpose()?;
            actions.prepend = Some(Prepend { count, asn });
        } else if let Some(v) = &t.prepend_asn {
            return Err(self.err(
                v,
                key("prepend_asn"),
                ErrorKind::Conflict("has no effect without prepend (how many times to put it in front)".into()),
            ));
        }

        // Every key must do something.
        if action == TermAction::Reject && !actions.is_empty() {
            let spans = [
                ("set_local_pref", t.set_local_pref.as_ref().map(|v| v.span().start)),
                ("set_med", t.set_med.as_ref().map(|v| v.span().start)),
                ("set_next_hop", t.set_next_hop.as_ref().map(|v| v.span().start)),
                ("add_community", t.add_community.as_ref().map(|v| v.span().start)),
                ("remove_community", t.remove_community.as_ref().map(|v| v.span().start)),
                ("add_large_community", t.add_large_community.as_ref().map(|v| v.span().start)),
                ("remove_large_community", t.remove_large_community.as_ref().map(|v| v.span().start)),
                ("prepend", t.prepend.as_ref().map(|v| v.span().start)),
            ];
            let (k, at) = spans
                .into_iter()
                .filter_map(|(k, at)| Some((k, at?)))
                .min_by_key(|&(_, at)| at)
                .expect("some action is set");
            return Err(self.err_at(
                at,
                key(k),
                ErrorKind::Conflict("has no effect: the term rejects the route".into()),
            ));
        }
        if action == TermAction::Next && actions.is_empty() {
            let message = "the term does nothing: give it action = \"accept\" or \"reject\", \
                           or a set_*, add_*, remove_* or prepend key";
            return Err(match &t.action {
                Some(v) => self.err(v, key("action"), ErrorKind::Conflict(message.into())),
                None => self.err(table, path, ErrorKind::Conflict(message.into())),
            });
        }
        Ok(Term { name, matches, actions, action })
    }

    fn conditions(
        &self,
        table: &Spanned<RawMatch>,
        path: &str,
        lists: &HashMap<String, (Arc<PrefixList>, usize)>,
    ) -> Res<Match> {
        let m = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let mut out = Match::default();
        if let Some(v) = &m.prefix_list {
            let name = v.get_ref();
            match lists.get(name) {
                Some((list, _)) => out.prefix_list = Some(list.clone()),
                None => {
                    let mut known: Vec<String> = lists.keys().cloned().collect();
                    known.sort();
                    let hint = match did_you_mean(name, &known) {
                        Some(s) => format!("; did you mean {s:?}?"),
                        None if known.is_empty() => " (the file has none)".to_string(),
                        None => format!(" (there are: {})", known.join(", ")),
                    };
                    return Err(self.value_err(
                        v,
                        key("prefix_list"),
                        format!("no [[prefix_list]] named {name:?}{hint}"),
                    ));
                }
            }
        }
        out.neighbor = self.list(&m.neighbor, &key("neighbor"), "address or prefix", |v, k| {
            if v.get_ref().contains('/') {
                return self.ipnet(v, k);
            }
            match v.get_ref().parse::<IpAddr>() {
                Ok(a) => Ok(IpNet::from(a.to_canonical())),
                Err(_) => Err(self.value_err(v, k, format!("{:?} is not an IP address or prefix", v.get_ref()))),
            }
        })?;
        out.community = self.communities(&m.community, &key("community"))?;
        out.large_community = self.large_communities(&m.large_community, &key("large_community"))?;
        out.as_path_contains = self.asns(&m.as_path_contains, &key("as_path_contains"))?;
        out.origin_as = self.asns(&m.origin_as, &key("origin_as"))?;
        if let Some(v) = &m.as_path_length_min {
            out.as_path_length_min = Some(self.value32(v, &key("as_path_length_min"), "AS_PATH length")?);
        }
        if let Some(v) = &m.as_path_length_max {
            let max = self.value32(v, &key("as_path_length_max"), "AS_PATH length")?;
            if let Some(min) = out.as_path_length_min.filter(|&min| max < min) {
                return Err(self.err(
                    v,
                    key("as_path_length_max"),
                    ErrorKind::Conflict(format!("{max} is less than as_path_length_min ({min})")),
                ));
            }
            out.as_path_length_max = Some(max);
        }
        out.source = self.list(&m.source, &key("source"), "route source", |v, k| {
            v.get_ref().parse::<RouteSource>().map_err(|e| self.value_err(v, k, e))
        })?;
        Ok(out)
    }

    /// Every `[[announce]]`; prefixes are unique.
    fn announcements(&self, raw: &RawConfig) -> Res<Vec<Announce>> {
        let mut out: Vec<Announce> = Vec::new();
        for (i, table) in raw.announce.iter().enumerate() {
            let path = format!("announce[{i}]");
            let key = |k: &str| format!("{path}.{k}");
            let a = table.get_ref();
            let prefix_raw = self.required(table, &a.prefix, key("prefix"))?;
            let mut announce = Announce::new(self.prefix(prefix_raw, &key("prefix"))?);
            if let Some(j) = out.iter().position(|earlier| earlier.prefix == announce.prefix) {
                let first_span = raw.announce[j].get_ref().prefix.as_ref().expect("checked");
                return Err(self.err(
                    prefix_raw,
                    key("prefix"),
                    ErrorKind::Conflict(format!(
                        "{} is already announced by announce[{j}] (line {})",
                        announce.prefix,
                        self.line_of(first_span)
                    )),
                ));
            }
            announce.communities = self.communities(&a.communities, &key("communities"))?;
            announce.large_communities = self.large_communities(&a.large_communities, &key("large_communities"))?;
            if let Some(v) = &a.local_pref {
                announce.local_pref = Some(self.value32(v, &key("local_pref"), "LOCAL_PREF")?);
            }
            if let Some(v) = &a.med {
                announce.med = Some(self.value32(v, &key("med"), "MED")?);
            }
            if let Some(v) = &a.next_hop {
                let next_hop = self.next_hop(v, &key("next_hop"), "")?;
                if next_hop.is_ipv4() != matches!(announce.prefix, Prefix::V4(_)) {
                    return Err(self.err(
                        v,
                        key("next_hop"),
                        ErrorKind::Conflict(format!(
                            "{next_hop} and the prefix {} are of different families",
                            announce.prefix
                        )),
                    ));
                }
                announce.next_hop = Some(next_hop);
            }
            out.push(announce);
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------
    // Errors found while deserializing (unknown keys, wrong types): serde knows the
    // span, the document tree knows which key it belongs to.

    fn serde_error(&self, doc: &DeTable<'_>, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let (mut path, found) = locate(doc, &span).unwrap_or_default();
        let message = e.message().trim();
        let kind = if let Some(rest) = message.strip_prefix("unknown field `") {
            let (unknown, allowed) = rest.split_once('`').unwrap_or((rest, ""));
            let allowed: Vec<String> = allowed.split('`').skip(1).step_by(2).map(str::to_string).collect();
            if !path.ends_with(&push_key("", unknown)) {
                path = push_key(&path, unknown);
            }
            ErrorKind::UnknownKey { suggestion: did_you_mean(unknown, &allowed), allowed }
        } else if let Some(rest) = message.strip_prefix("missing field `") {
            path = push_key(&path, rest.trim_end_matches('`'));
            ErrorKind::Missing
        } else if let Some(rest) = message.strip_prefix("invalid type: ") {
            type_message(rest, found)
        } else {
            ErrorKind::Value(message.to_string())
        };
        if path.is_empty() {
            path.push_str("(document)");
        }
        self.err_at(span.start, path, kind)
    }
}

/// Rewords serde's "invalid type: FOUND, expected WANTED" in TOML's words;
/// `value_type` is the TOML type of the value at the error's span, if known.
fn type_message(rest: &str, value_type: Option<&str>) -> ErrorKind {
    let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, "another type"));
    if found.contains(" as i128") || found.contains(" as u64") {
        return ErrorKind::Value("integer out of range".to_string());
    }
    // serde sees a TOML date-time as a map; say what it is.
    let found = if value_type == Some("datetime") { "a date-time" } else { found };
    let toml_name = |s: &str| -> String {
        match s {
            "i64" | "u64" | "i32" | "u32" | "u16" | "u8" => "an integer".to_string(),
            "a sequence" => "an array".to_string(),
            "map" => "a table".to_string(),
            "sequence" => "an array".to_string(),
            "unit value" => "nothing".to_string(),
            s if s.starts_with("struct ") || s == "a map" => "a table".to_string(),
            s => s.replace('`', "").replace("floating point", "float"),
        }
    };
    ErrorKind::Type(format!("expected {}, found {}", toml_name(expected), toml_name(found)))
}

/// Appends `key` to a key path, quoting keys that are not bare TOML keys.
fn push_key(path: &str, key: &str) -> String {
    let bare = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare { key.to_string() } else { format!("{key:?}") };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// The key path of the smallest key or value of `doc` whose span holds `span` (an
/// unknown key's error spans the key, a type error the value), with the TOML type
/// of the value when that is what was found.
fn locate(doc: &DeTable<'_>, span: &Range<usize>) -> Option<(String, Option<&'static str>)> {
    let mut best = None;
    walk_table(doc, "", span, &mut best);
    best.map(|b: Found| (b.path, b.value_type))
}

/// The best node so far: its span's length, key path, and TOML type if a value.
struct Found {
    len: usize,
    path: String,
    value_type: Option<&'static str>,
}

fn consider(
    node: Range<usize>,
    path: &str,
    value_type: Option<&'static str>,
    target: &Range<usize>,
    best: &mut Option<Found>,
) {
    if node.start <= target.start && target.end <= node.end {
        let len = node.end - node.start;
        // `<=`: on a tie the later (deeper) node wins.
        if best.as_ref().is_none_or(|b| len <= b.len) {
            *best = Some(Found { len, path: path.to_string(), value_type });
        }
    }
}

fn walk_table(table: &DeTable<'_>, path: &str, target: &Range<usize>, best: &mut Option<Found>) {
    for (key, value) in table.iter() {
        let path = push_key(path, key.get_ref());
        consider(key.span(), &path, None, target, best);
        walk_value(value, &path, target, best);
    }
}

fn walk_value(value: &Spanned<DeValue<'_>>, path: &str, target: &Range<usize>, best: &mut Option<Found>) {
    consider(value.span(), path, Some(value.get_ref().type_str()), target, best);
    match value.get_ref() {
        DeValue::Table(t) => walk_table(t, path, target, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_value(item, &format!("{path}[{i}]"), target, best);
            }
        }
        _ => {}
    }
}

/// The allowed key closest to `unknown`, if it is close: at most 2 edits (1 for keys
/// of up to 4 characters), ignoring case and `-` for `_`.
fn did_you_mean(unknown: &str, allowed: &[String]) -> Option<String> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let unknown = norm(unknown);
    let limit = if unknown.chars().count() <= 4 { 1 } else { 2 };
    allowed
        .iter()
        .map(|a| (levenshtein(&unknown, &norm(a)), a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a.clone())
}

/// Edit distance (insertions, deletions, substitutions) in characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RouteInfo;
    use std::net::Ipv6Addr;

    const GLOBAL: &str = "[global]\nasn = 65000\nrouter_id = \"10.0.0.1\"\n";
    const NEIGHBOR: &str = "\n[[neighbor]]\naddress = \"10.0.0.2\"\nasn = 65001\n";
    /// `GLOBAL` then `NEIGHBOR`: lines 1-3 global, 5-7 the neighbor, 8 the next key.
    const MINIMAL: &str = "\
[global]
asn = 65000
router_id = \"10.0.0.1\"

[[neighbor]]
address = \"10.0.0.2\"
asn = 65001
";

    fn ok(text: &str) -> Config {
        match parse("bgp.toml", text) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    /// The error for `text`, checked to be `Invalid` at `line:col` on `key`.
    fn invalid(text: &str, line: usize, column: usize, key: &str) -> ErrorKind {
        let e = parse("bgp.toml", text).expect_err("should be refused");
        let shown = e.to_string();
        assert!(!shown.contains('\n'), "one line: {shown}");
        assert!(shown.starts_with(&format!("bgp.toml:{line}:{column}: {key}: ")), "{shown}");
        match e {
            ConfigError::Invalid { kind, .. } => kind,
            e => panic!("not Invalid: {e}"),
        }
    }

    fn value_msg(kind: ErrorKind) -> String {
        match kind {
            ErrorKind::Value(m) => m,
            k => panic!("not a Value error: {k:?}"),
        }
    }

    fn conflict_msg(kind: ErrorKind) -> String {
        match kind {
            ErrorKind::Conflict(m) => m,
            k => panic!("not a Conflict error: {k:?}"),
        }
    }

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }

    fn prefix(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn minimal_config() {
        assert_eq!(format!("{GLOBAL}{NEIGHBOR}"), MINIMAL);
        let c = ok(MINIMAL);
        assert_eq!(c.global().asn, 65000);
        assert_eq!(c.global().router_id, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(c.neighbors().len(), 1);
        assert_eq!(c.neighbors()[0].address, v4("10.0.0.2"));
        assert_eq!(c.neighbors()[0].settings.asn, 65001);
        assert!(c.neighbor_ranges().is_empty());
        // A config without neighbors is valid too (nothing to do, but not wrong).
        let c = ok("[global]\nasn = 65000\nrouter_id = \"10.0.0.1\"\n");
        assert!(c.neighbors().is_empty());
    }

    #[test]
    fn every_default() {
        let c = ok(&format!("{MINIMAL}\n[[neighbor_range]]\nprefix = \"10.1.0.0/16\"\nasn = 65000\n"));
        let g = c.global();
        assert_eq!(g, &Global::new(65000, Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(g.listen, vec!["0.0.0.0:179".parse::<SocketAddr>().unwrap(), "[::]:179".parse().unwrap()]);
        assert_eq!(g.control_socket, PathBuf::from("/run/bgp-daemon/bgpctl.sock"));
        assert_eq!(g.hold_time, 90);
        assert_eq!(g.connect_retry, Duration::from_secs(2));
        assert_eq!(g.connect_retry_max, Duration::from_secs(120));
        assert_eq!(g.graceful_restart_time, 120);
        assert_eq!(g.on_stop, OnStop::GracefulRestart);
        assert_eq!(g.hostname, None);
        assert_eq!(g.cluster_id, g.router_id);
        assert_eq!(g.multipath, 8);
        assert!(!g.always_compare_med);
        assert_eq!(g.min_advertisement_interval, Duration::ZERO);
        assert_eq!(c.policies(), &PolicySet::new());
        assert!(c.announcements().is_empty());

        let n = &c.neighbors()[0];
        assert_eq!(n.port, 179);
        assert!(!n.passive);
        assert_eq!(n.local_address, None);
        assert!(!n.shutdown);
        let s = &n.settings;
        assert_eq!(s, &PeerSettings::new(65001, 90));
        assert_eq!(s.description, None);
        assert_eq!(s.password, None);
        assert_eq!(s.hold_time, 90);
        assert_eq!(s.ttl_security, None);
        assert_eq!(s.families, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
        assert!(s.graceful_restart);
        assert_eq!(s.add_path, AddPath::Off);
        assert!(!s.route_reflector_client);
        assert_eq!(s.allow_as_in, 0);
        assert!(!s.next_hop_self);
        assert!(!s.remove_private_as);
        assert_eq!(s.max_prefixes, None);
        assert_eq!((&s.import_policy, &s.export_policy), (&None, &None));

        let r = &c.neighbor_ranges()[0];
        assert_eq!(r.limit, 100);
        assert_eq!(r.settings, PeerSettings::new(65000, 90));
        // max_prefixes alone: tear down, retry after 60 s.
        let c = ok(&format!("{MINIMAL}max_prefixes = 10\n"));
        let restart = MaxPrefixesAction::Restart { after: Duration::from_secs(60) };
        assert_eq!(c.neighbors()[0].settings.max_prefixes, Some(MaxPrefixes { limit: 10, action: restart }));
        assert_eq!(restart.to_string(), "restart");
        assert_eq!(MaxPrefixesAction::Warn.as_str(), "warn");
    }

    #[test]
    fn neighbors_inherit_global_hold_time() {
        let c = ok(&MINIMAL.replace("asn = 65000\n", "asn = 65000\nhold_time = 30\n"));
        assert_eq!(c.neighbors()[0].settings.hold_time, 30);
        let c = ok(&format!("{MINIMAL}hold_time = 0\n"));
        assert_eq!(c.neighbors()[0].settings.hold_time, 0);
    }

    #[test]
    fn full_config_with_every_key() {
        let text = r#"
[global]
asn = 4200000000
router_id = "192.0.2.1"
listen = ["192.0.2.1:1179", "[2001:db8::1]:179"]
control_socket = "/tmp/bgp.sock"
hold_time = 30
connect_retry = 5
connect_retry_max = 300
graceful_restart_time = 4095
on_stop = "shutdown"
hostname = "rr1.lab"
cluster_id = "192.0.2.100"
multipath = 64
always_compare_med = true
min_advertisement_interval = 5

[[neighbor]]
address = "2001:db8::2"
asn = 65001
description = "home router"
port = 1179
passive = true
password = "s3cret"
hold_time = 9
local_address = "2001:db8::1"
ttl_security = 1
families = ["ipv6-unicast", "ipv4-unicast", "ipv4-multicast"]
graceful_restart = false
add_path = "both"
route_reflector_client = false
shutdown = true
allow_as_in = 2
next_hop_self = true
remove_private_as = true
max_prefixes = 1000
max_prefixes_action = "restart"
max_prefixes_restart_after = 300
import_policy = "in"
export_policy = "accept-all"

[[neighbor]]
address = "192.0.2.3"
asn = 4200000000
route_reflector_client = true
add_path = "receive"

[[neighbor_range]]
prefix = "10.0.0.0/24"
asn = 4200000000
limit = 10000
description = "cluster nodes"
password = "n0des"
hold_time = 3
ttl_security = 254
families = ["ipv4-unicast"]
graceful_restart = true
add_path = "send"
route_reflector_client = true
allow_as_in = 10
next_hop_self = false
remove_private_as = false
max_prefixes = 50
max_prefixes_action = "warn"
import_policy = "reject-all"
export_policy = "in"

[[neighbor_range]]
prefix = "2001:db8:1::/64"
asn = 65002

[[prefix_list]]
name = "pods"
entries = [
    { prefix = "10.42.0.0/16", ge = 26, le = 26 },
    { prefix = "fd42::/48", le = 64 },
]

[[policy]]
name = "in"
default = "accept"

[[policy.term]]
name = "every-key"
action = "accept"
set_local_pref = 4294967295
set_med = 0
set_next_hop = "self"
add_community = ["64513:1", "no-export"]
remove_community = ["64513:2"]
add_large_community = ["64513:1:1"]
remove_large_community = ["64513:2:2"]
prepend = 3
prepend_asn = 65000

[policy.term.match]
prefix_list = "pods"
neighbor = ["10.0.0.0/24", "2001:db8::2"]
community = ["64513:100", "graceful-shutdown"]
large_community = ["64513:0:100"]
as_path_contains = [64512]
origin_as = [65001, 65002]
as_path_length_min = 1
as_path_length_max = 10
source = ["static", "kernel", "kubernetes", "peer"]

[[policy.term]]
name = "dotted"
match.source = ["peer"]
set_next_hop = "2001:db8::9"

[[announce]]
prefix = "192.168.6.10/32"
communities = ["64513:100"]
large_communities = ["64513:1:2"]
local_pref = 200
med = 10
next_hop = "192.168.6.1"

[[announce]]
prefix = "2001:db8:6::/48"
"#;
        let c = ok(text);
        let expected = Config {
            global: Global {
                asn: 4_200_000_000,
                router_id: Ipv4Addr::new(192, 0, 2, 1),
                listen: vec!["192.0.2.1:1179".parse().unwrap(), "[2001:db8::1]:179".parse().unwrap()],
                control_socket: PathBuf::from("/tmp/bgp.sock"),
                hold_time: 30,
                connect_retry: Duration::from_secs(5),
                connect_retry_max: Duration::from_secs(300),
                graceful_restart_time: 4095,
                on_stop: OnStop::Shutdown,
                hostname: Some("rr1.lab".into()),
                cluster_id: Ipv4Addr::new(192, 0, 2, 100),
                multipath: 64,
                always_compare_med: true,
                min_advertisement_interval: Duration::from_secs(5),
            },
            neighbors: vec![
                Neighbor {
                    address: "2001:db8::2".parse().unwrap(),
                    port: 1179,
                    passive: true,
                    local_address: Some("2001:db8::1".parse().unwrap()),
                    shutdown: true,
                    settings: PeerSettings {
                        asn: 65001,
                        description: Some("home router".into()),
                        password: Some("s3cret".into()),
                        hold_time: 9,
                        ttl_security: Some(1),
                        families: vec![Family::IPV6_UNICAST, Family::IPV4_UNICAST, Family::IPV4_MULTICAST],
                        graceful_restart: false,
                        add_path: AddPath::Both,
                        route_reflector_client: false,
                        allow_as_in: 2,
                        next_hop_self: true,
                        remove_private_as: true,
                        max_prefixes: Some(MaxPrefixes {
                            limit: 1000,
                            action: MaxPrefixesAction::Restart { after: Duration::from_secs(300) },
                        }),
                        import_policy: Some("in".into()),
                        export_policy: Some("accept-all".into()),
                    },
                },
                Neighbor {
                    address: v4("192.0.2.3"),
                    port: 179,
                    passive: false,
                    local_address: None,
                    shutdown: false,
                    settings: PeerSettings {
                        route_reflector_client: true,
                        add_path: AddPath::Receive,
                        ..PeerSettings::new(4_200_000_000, 30)
                    },
                },
            ],
            neighbor_ranges: vec![
                NeighborRange {
                    prefix: "10.0.0.0/24".parse().unwrap(),
                    limit: 10000,
                    settings: PeerSettings {
                        asn: 4_200_000_000,
                        description: Some("cluster nodes".into()),
                        password: Some("n0des".into()),
                        hold_time: 3,
                        ttl_security: Some(254),
                        families: vec![Family::IPV4_UNICAST],
                        graceful_restart: true,
                        add_path: AddPath::Send,
                        route_reflector_client: true,
                        allow_as_in: 10,
                        next_hop_self: false,
                        remove_private_as: false,
                        max_prefixes: Some(MaxPrefixes { limit: 50, action: MaxPrefixesAction::Warn }),
                        import_policy: Some("reject-all".into()),
                        export_policy: Some("in".into()),
                    },
                },
                NeighborRange {
                    prefix: "2001:db8:1::/64".parse().unwrap(),
                    limit: 100,
                    settings: PeerSettings::new(65002, 30),
                },
            ],
            policies: {
                let pods = Arc::new(PrefixList {
                    name: "pods".into(),
                    entries: vec![
                        PrefixEntry { prefix: prefix("10.42.0.0/16"), ge: Some(26), le: Some(26) },
                        PrefixEntry { prefix: prefix("fd42::/48"), ge: None, le: Some(64) },
                    ],
                });
                let mut set = PolicySet::new();
                set.insert_prefix_list(pods.clone()).unwrap();
                let mut policy = Policy::new("in", Verdict::Accept);
                policy.terms.push(Term {
                    name: "every-key".into(),
                    matches: Match {
                        prefix_list: Some(pods),
                        neighbor: vec!["10.0.0.0/24".parse().unwrap(), "2001:db8::2/128".parse().unwrap()],
                        community: vec![Community(64513 << 16 | 100), Community::GRACEFUL_SHUTDOWN],
                        large_community: vec![LargeCommunity { global: 64513, local1: 0, local2: 100 }],
                        as_path_contains: vec![64512],
                        origin_as: vec![65001, 65002],
                        as_path_length_min: Some(1),
                        as_path_length_max: Some(10),
                        source: RouteSource::ALL.to_vec(),
                    },
                    actions: Actions {
                        set_local_pref: Some(u32::MAX),
                        set_med: Some(0),
                        set_next_hop: Some(SetNextHop::SelfAddress),
                        add_community: vec![Community(64513 << 16 | 1), Community::NO_EXPORT],
                        remove_community: vec![Community(64513 << 16 | 2)],
                        add_large_community: vec![LargeCommunity { global: 64513, local1: 1, local2: 1 }],
                        remove_large_community: vec![LargeCommunity { global: 64513, local1: 2, local2: 2 }],
                        prepend: Some(Prepend { count: 3, asn: Some(65000) }),
                    },
                    action: TermAction::Accept,
                });
                policy.terms.push(Term {
                    name: "dotted".into(),
                    matches: Match { source: vec![RouteSource::Peer], ..Match::default() },
                    actions: Actions {
                        set_next_hop: Some(SetNextHop::Address("2001:db8::9".parse().unwrap())),
                        ..Actions::default()
                    },
                    action: TermAction::Next,
                });
                set.insert(policy).unwrap();
                set
            },
            announcements: vec![
                Announce {
                    prefix: prefix("192.168.6.10/32"),
                    communities: vec![Community(64513 << 16 | 100)],
                    large_communities: vec![LargeCommunity { global: 64513, local1: 1, local2: 2 }],
                    local_pref: Some(200),
                    med: Some(10),
                    next_hop: Some(v4("192.168.6.1")),
                },
                Announce::new(prefix("2001:db8:6::/48")),
            ],
        };
        assert_eq!(c, expected);
        // Empty listen is allowed when nothing needs it.
        let c = ok(&format!("[global]\nasn = 1\nrouter_id = \"1.1.1.1\"\nlisten = []\n{NEIGHBOR}"));
        assert!(c.global.listen.is_empty());
    }

    #[test]
    fn unknown_key_with_suggestion() {
        let text = format!("{MINIMAL}\n[[neighbor]]\naddress = \"10.0.0.3\"\nasn = 65001\n    hold_tim = 5\n");
        let e = parse("bgp.toml", &text).unwrap_err();
        assert_eq!(e.to_string(), "bgp.toml:12:5: neighbor[1].hold_tim: unknown key; did you mean \"hold_time\"?");
        assert_eq!(e.position(), Some((12, 5)));
        assert_eq!(e.key(), Some("neighbor[1].hold_tim"));
        match e.kind() {
            Some(ErrorKind::UnknownKey { suggestion, allowed }) => {
                assert_eq!(suggestion.as_deref(), Some("hold_time"));
                assert!(allowed.iter().any(|k| k == "route_reflector_client"));
            }
            k => panic!("{k:?}"),
        }
        // Sections, dashes and case.
        let kind = invalid(&MINIMAL.replace("[global]", "[gloabl]"), 1, 2, "gloabl");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "global"));
        let kind = invalid(&MINIMAL.replace("router_id", "router-id"), 3, 1, "global.router-id");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "router_id"));
        let kind = invalid(&format!("{MINIMAL}Families = []\n"), 8, 1, "neighbor[0].Families");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "families"));
    }

    #[test]
    fn unknown_key_without_suggestion_lists_the_allowed() {
        // `limit` belongs to neighbor_range, not neighbor.
        let kind = invalid(&format!("{MINIMAL}limit = 5\n"), 8, 1, "neighbor[0].limit");
        let shown = kind.to_string();
        assert!(shown.starts_with("unknown key; expected one of: address, asn, description"), "{shown}");
        // Nested tables are unknown keys too.
        invalid(&format!("{MINIMAL}[global.timers]\nhold = 3\n"), 8, 9, "global.timers");
        // Inline tables and arrays of them.
        let text = "[global]\nasn = 1\nrouter_id = \"1.1.1.1\"\n\
                    neighbor = 3\n";
        invalid(text, 4, 1, "global.neighbor");
        let text = "neighbor = [{ address = \"10.0.0.2\", asn = 1, description = \"äöü\", bogus = 1 }]\n\
                    [global]\nasn = 1\nrouter_id = \"1.1.1.1\"\n";
        invalid(text, 1, 67, "neighbor[0].bogus"); // ü counts as one column
    }

    #[test]
    fn wrong_type() {
        let kind = invalid(&MINIMAL.replace("asn = 65000", "asn = \"65000\""), 2, 7, "global.asn");
        assert_eq!(kind, ErrorKind::Type("expected an integer, found string \"65000\"".into()));
        let kind = invalid(&format!("{MINIMAL}passive = \"yes\"\n"), 8, 11, "neighbor[0].passive");
        assert_eq!(kind, ErrorKind::Type("expected a boolean, found string \"yes\"".into()));
        let kind = invalid(&format!("{MINIMAL}families = \"ipv4-unicast\"\n"), 8, 12, "neighbor[0].families");
        assert!(matches!(kind, ErrorKind::Type(m) if m.starts_with("expected an array")));
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\nlisten = [\"0.0.0.0:179\", 179]");
        let kind = invalid(&text, 3, 26, "global.listen[1]");
        assert_eq!(kind, ErrorKind::Type("expected a string, found integer 179".into()));
        invalid(&MINIMAL.replace("[[neighbor]]", "[neighbor]"), 5, 1, "neighbor");
        invalid(&MINIMAL.replace("asn = 65000", "asn = 1.5"), 2, 7, "global.asn");
        let kind = invalid(&format!("{MINIMAL}hold_time = 2024-01-01\n"), 8, 13, "neighbor[0].hold_time");
        assert_eq!(kind, ErrorKind::Type("expected an integer, found a date-time".into()));
        let kind = invalid(&MINIMAL.replace("asn = 65000", "asn = 99999999999999999999"), 2, 7, "global.asn");
        assert_eq!(value_msg(kind), "integer out of range");
    }

    #[test]
    fn missing_keys() {
        invalid("# nothing\n", 1, 1, "global");
        invalid(&MINIMAL.replace("asn = 65000\n", ""), 1, 1, "global.asn");
        invalid(&MINIMAL.replace("router_id = \"10.0.0.1\"\n", ""), 1, 1, "global.router_id");
        let kind = invalid(&MINIMAL.replace("asn = 65001\n", ""), 5, 1, "neighbor[0].asn");
        assert_eq!(kind, ErrorKind::Missing);
        assert_eq!(kind.to_string(), "missing required key");
        invalid(&MINIMAL.replace("address = \"10.0.0.2\"\n", ""), 5, 1, "neighbor[0].address");
        invalid(&format!("{MINIMAL}[[neighbor_range]]\nasn = 1\n"), 8, 1, "neighbor_range[0].prefix");
    }

    #[test]
    fn syntax_error() {
        let e = parse("bgp.toml", "[global]\nasn = 65000\nrouter_id = 10.0.0.1\n").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 3, .. }), "{e}");
        assert!(e.to_string().starts_with("bgp.toml:3:"), "{e}");
        assert!(!e.to_string().contains('\n'));
        let e = parse("bgp.toml", "[global]\nasn = 1\nasn = 2\n").unwrap_err();
        assert_eq!(e.position(), Some((3, 1)), "{e}");
        assert!(e.to_string().contains("duplicate key"), "{e}");
    }

    #[test]
    fn bad_addresses() {
        let kind = invalid(&MINIMAL.replace("\"10.0.0.2\"", "\"10.0.0.300\""), 6, 11, "neighbor[0].address");
        assert_eq!(value_msg(kind), "\"10.0.0.300\" is not an IPv4 or IPv6 address");
        invalid(&MINIMAL.replace("\"10.0.0.2\"", "\"0.0.0.0\""), 6, 11, "neighbor[0].address");
        invalid(&MINIMAL.replace("\"10.0.0.2\"", "\"ff02::5\""), 6, 11, "neighbor[0].address");
        invalid(&MINIMAL.replace("\"10.0.0.1\"", "\"::1\""), 3, 13, "global.router_id");
        let kind = invalid(&MINIMAL.replace("\"10.0.0.1\"", "\"0.0.0.0\""), 3, 13, "global.router_id");
        assert_eq!(value_msg(kind), "0.0.0.0 is not a valid router ID");
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\nlisten = [\"0.0.0.0:179\", \"[::]\"]");
        invalid(&text, 3, 26, "global.listen[1]");
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\nlisten = [\"[::]:179\", \"[::]:179\"]");
        invalid(&text, 3, 23, "global.listen[1]");
        // local_address of the other family.
        let kind = invalid(&format!("{MINIMAL}local_address = \"2001:db8::1\"\n"), 8, 17, "neighbor[0].local_address");
        assert!(conflict_msg(kind).contains("different families"));
    }

    #[test]
    fn bad_prefix() {
        let range = "[[neighbor_range]]\nasn = 65000\nprefix = \"10.0.0.0/33\"\n";
        let kind = invalid(&format!("{MINIMAL}{range}"), 10, 10, "neighbor_range[0].prefix");
        assert!(value_msg(kind).contains("is not an IPv4 or IPv6 prefix"));
        let kind = invalid(
            &format!("{MINIMAL}{}", range.replace("10.0.0.0/33", "10.0.0.1/24")),
            10,
            10,
            "neighbor_range[0].prefix",
        );
        assert_eq!(value_msg(kind), "\"10.0.0.1/24\" has host bits set; did you mean \"10.0.0.0/24\"?");
        invalid(&format!("{MINIMAL}{}", range.replace("10.0.0.0/33", "10.0.0.0")), 10, 10, "neighbor_range[0].prefix");
        // Overlap: one inside another, either order.
        let two = "[[neighbor_range]]\nprefix = \"10.0.0.0/16\"\nasn = 1\n\
                   [[neighbor_range]]\nprefix = \"10.0.5.0/24\"\nasn = 1\n";
        let kind = invalid(&format!("{MINIMAL}{two}"), 12, 10, "neighbor_range[1].prefix");
        assert_eq!(conflict_msg(kind), "10.0.5.0/24 overlaps neighbor_range[0].prefix 10.0.0.0/16 (line 9)");
        // Different families and disjoint prefixes are fine.
        let two = "[[neighbor_range]]\nprefix = \"10.0.0.0/24\"\nasn = 1\n\
                   [[neighbor_range]]\nprefix = \"10.0.1.0/24\"\nasn = 1\n\
                   [[neighbor_range]]\nprefix = \"::/0\"\nasn = 1\n";
        assert_eq!(ok(&format!("{MINIMAL}{two}")).neighbor_ranges().len(), 3);
        let kind = invalid(
            &format!("{MINIMAL}{range}limit = 0\n", range = range.replace("/33", "/24")),
            11,
            9,
            "neighbor_range[0].limit",
        );
        assert_eq!(value_msg(kind), "0 is not a valid session limit (1..=10000)");
    }

    #[test]
    fn duplicate_neighbor() {
        let text = format!("{MINIMAL}\n[[neighbor]]\naddress = \"::ffff:10.0.0.2\"\nasn = 65002\n");
        let kind = invalid(&text, 10, 11, "neighbor[1].address");
        assert_eq!(conflict_msg(kind), "duplicate neighbor address 10.0.0.2: already neighbor[0] (line 6)");
    }

    #[test]
    fn out_of_range_hold_time() {
        for bad in [1, 2, 65536, -1] {
            let kind = invalid(
                &MINIMAL.replace("asn = 65000", &format!("asn = 65000\nhold_time = {bad}")),
                3,
                13,
                "global.hold_time",
            );
            assert!(value_msg(kind).starts_with(&format!("{bad} is not a valid hold time: use 0")));
            invalid(&format!("{MINIMAL}hold_time = {bad}\n"), 8, 13, "neighbor[0].hold_time");
        }
        ok(&format!("{MINIMAL}hold_time = 3\n"));
        ok(&format!("{MINIMAL}hold_time = 65535\n"));
    }

    #[test]
    fn bad_asn() {
        let kind = invalid(&MINIMAL.replace("asn = 65000", "asn = 0"), 2, 7, "global.asn");
        assert_eq!(value_msg(kind), "0 is not a valid AS number (1..=4294967295)");
        invalid(&MINIMAL.replace("asn = 65000", "asn = 4294967296"), 2, 7, "global.asn");
        let kind = invalid(&MINIMAL.replace("asn = 65001", "asn = 23456"), 7, 7, "neighbor[0].asn");
        assert!(value_msg(kind).contains("AS_TRANS"));
        ok(&MINIMAL.replace("asn = 65000", "asn = 4294967295"));
    }

    #[test]
    fn bad_family() {
        let kind =
            invalid(&format!("{MINIMAL}families = [\"ipv4-unicast\", \"ipv4\"]\n"), 8, 29, "neighbor[0].families[1]");
        assert!(value_msg(kind).starts_with("unknown family \"ipv4\""));
        let kind = invalid(&format!("{MINIMAL}families = []\n"), 8, 12, "neighbor[0].families");
        assert!(value_msg(kind).contains("at least one family"));
        let text = format!("{MINIMAL}families = [\"ipv6-unicast\", \"ipv6-unicast\"]\n");
        let kind = invalid(&text, 8, 29, "neighbor[0].families[1]");
        assert_eq!(conflict_msg(kind), "ipv6-unicast is listed twice");
    }

    #[test]
    fn relative_control_socket() {
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\ncontrol_socket = \"run/bgpctl.sock\"");
        let kind = invalid(&text, 3, 18, "global.control_socket");
        assert_eq!(value_msg(kind), "\"run/bgpctl.sock\" is not an absolute path");
        let long = format!("/{}", "x".repeat(107));
        invalid(
            &MINIMAL.replace("asn = 65000", &format!("asn = 65000\ncontrol_socket = \"{long}\"")),
            3,
            18,
            "global.control_socket",
        );
    }

    #[test]
    fn bad_on_stop() {
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\non_stop = \"graceful\"");
        let kind = invalid(&text, 3, 11, "global.on_stop");
        assert_eq!(value_msg(kind), "unknown value \"graceful\" (expected \"graceful-restart\" or \"shutdown\")");
        let kind = invalid(&format!("{MINIMAL}add_path = \"yes\"\n"), 8, 12, "neighbor[0].add_path");
        assert!(value_msg(kind).contains("\"off\", \"receive\", \"send\" or \"both\""));
    }

    #[test]
    fn other_ranges() {
        let g = |line: &str| MINIMAL.replace("asn = 65000", &format!("asn = 65000\n{line}"));
        invalid(&g("connect_retry = 0"), 3, 17, "global.connect_retry");
        invalid(&g("connect_retry = 3601"), 3, 17, "global.connect_retry");
        let kind = invalid(&g("connect_retry = 10\nconnect_retry_max = 5"), 4, 21, "global.connect_retry_max");
        assert_eq!(conflict_msg(kind), "5 is less than connect_retry (10)");
        let kind = invalid(&g("connect_retry = 300"), 3, 17, "global.connect_retry");
        assert!(conflict_msg(kind).contains("raise connect_retry_max"));
        ok(&g("connect_retry = 300\nconnect_retry_max = 300"));
        invalid(&g("graceful_restart_time = 4096"), 3, 25, "global.graceful_restart_time");
        invalid(&g("graceful_restart_time = 0"), 3, 25, "global.graceful_restart_time");
        invalid(&g("hostname = \"rr 1\""), 3, 12, "global.hostname");
        invalid(&g("hostname = \"\""), 3, 12, "global.hostname");
        invalid(&format!("{MINIMAL}port = 0\n"), 8, 8, "neighbor[0].port");
        invalid(&format!("{MINIMAL}ttl_security = 0\n"), 8, 16, "neighbor[0].ttl_security");
        invalid(&format!("{MINIMAL}ttl_security = 255\n"), 8, 16, "neighbor[0].ttl_security");
        ok(&format!("{MINIMAL}password = \"{}\"\n", "k".repeat(80)));
        let kind = invalid(&format!("{MINIMAL}password = \"{}\"\n", "k".repeat(81)), 8, 12, "neighbor[0].password");
        assert_eq!(value_msg(kind), "a TCP-MD5 key is 1..=80 bytes, this one is 81");
        invalid(&format!("{MINIMAL}password = \"\"\n"), 8, 12, "neighbor[0].password");
    }

    #[test]
    fn cross_checks() {
        // Reflection needs iBGP.
        let kind =
            invalid(&format!("{MINIMAL}route_reflector_client = true\n"), 8, 26, "neighbor[0].route_reflector_client");
        assert!(conflict_msg(kind).contains("RFC 4456"));
        // Nothing listens, but something must be accepted.
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\nlisten = []");
        invalid(&format!("{text}passive = true\n"), 3, 10, "global.listen");
        invalid(&format!("{text}[[neighbor_range]]\nprefix = \"10.9.0.0/24\"\nasn = 1\n"), 3, 10, "global.listen");
        ok(&format!("{text}passive = true\nshutdown = true\n"));
    }

    #[test]
    fn explicit_neighbor_wins_over_range() {
        let text = format!("{MINIMAL}[[neighbor_range]]\nprefix = \"10.0.0.0/24\"\nasn = 65000\nlimit = 5\n");
        let c = ok(&text);
        let router = c.peer_for(v4("10.0.0.2")).unwrap();
        assert!(matches!(router, PeerMatch::Neighbor(n) if n.address == v4("10.0.0.2")));
        assert_eq!(router.settings().asn, 65001);
        // As a dual-stack listener reports it.
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped());
        assert!(matches!(c.peer_for(mapped), Some(PeerMatch::Neighbor(_))));
        let node = c.peer_for(v4("10.0.0.77")).unwrap();
        assert!(matches!(node, PeerMatch::Range(r) if r.limit == 5));
        assert_eq!(c.range_for(v4("10.0.0.2")).map(|r| r.limit), Some(5));
        assert_eq!(c.peer_for(v4("10.0.1.1")), None);
        assert_eq!(c.peer_for(IpAddr::V6(Ipv6Addr::LOCALHOST)), None);
    }

    #[test]
    fn peer_config_mapping() {
        let neighbor_keys = "add_path = \"both\"\nfamilies = [\"ipv6-unicast\"]\nhold_time = 30\npassive = true\n";
        let text = format!("{GLOBAL}hostname = \"rr1\"\n{NEIGHBOR}{neighbor_keys}");
        let c = ok(&text);
        let n = &c.neighbors()[0];
        let p = n.peer_config(c.global());
        assert_eq!((p.local_as, p.remote_as, p.router_id), (65000, 65001, Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(p.hold_time, 30);
        assert!(p.passive);
        assert_eq!(p.families, vec![Family::IPV6_UNICAST]);
        assert_eq!(p.add_path, vec![AddPathFamily { family: Family::IPV6_UNICAST, send_receive: 3 }]);
        let gr = p.graceful_restart.expect("graceful restart is on by default");
        assert_eq!((gr.restart_time, gr.restarting, gr.notification), (120, false, true));
        assert_eq!(
            gr.families,
            vec![GracefulRestartFamily { family: Family::IPV6_UNICAST, forwarding_preserved: false }]
        );
        assert_eq!(p.hostname.as_deref(), Some("rr1"));
        assert_eq!((p.connect_retry, p.connect_retry_max), (Duration::from_secs(2), Duration::from_secs(120)));
        let off = PeerSettings { graceful_restart: false, ..n.settings.clone() }.peer_config(c.global(), false);
        assert!(off.graceful_restart.is_none() && !off.passive);
    }

    #[test]
    fn password_is_not_in_debug() {
        let c = ok(&format!("{MINIMAL}password = \"hunter2\"\n"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn positions_count_characters() {
        let cx = Cx { file: "f", text: "ab\nüx = 1\n" };
        assert_eq!(cx.position(0), (1, 1));
        assert_eq!(cx.position(3), (2, 1));
        assert_eq!(cx.position(5), (2, 2)); // after the two-byte ü
        assert_eq!(cx.position(4), (2, 1)); // inside ü: its start
        assert_eq!(cx.position(100), (3, 1));
    }

    #[test]
    fn edit_distance() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("hold_tim", "hold_time"), 1);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("abc", ""), 3);
        let allowed: Vec<String> = ["asn", "address", "passive", "password"].map(String::from).into();
        assert_eq!(did_you_mean("pasword", &allowed).as_deref(), Some("password"));
        assert_eq!(did_you_mean("as", &allowed).as_deref(), Some("asn"));
        assert_eq!(did_you_mean("xyz", &allowed), None);
        assert_eq!(did_you_mean("ASN", &allowed).as_deref(), Some("asn"));
    }

    /// The error for `text`, checked to be `Invalid` on `key` at the first
    /// occurrence of `needle` in `text`.
    fn invalid_at(text: &str, needle: &str, key: &str) -> ErrorKind {
        let offset = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the text"));
        let (line, column) = Cx { file: "bgp.toml", text }.position(offset);
        invalid(text, line, column, key)
    }

    /// `MINIMAL` plus `[global]` keys.
    fn with_global(keys: &str) -> String {
        MINIMAL.replace("asn = 65000\n", &format!("asn = 65000\n{keys}\n"))
    }

    /// `MINIMAL` (eBGP neighbor 10.0.0.2) and an iBGP range, then `rest`.
    const ROUTING: &str = "\
[global]
asn = 65000
router_id = \"10.0.0.1\"

[[neighbor]]
address = \"10.0.0.2\"
asn = 65001
import_policy = \"from-router\"
export_policy = \"accept-all\"

[[neighbor_range]]
prefix = \"10.1.0.0/16\"
asn = 65000
import_policy = \"from-nodes\"

[[prefix_list]]
name = \"pods\"
entries = [{ prefix = \"10.42.0.0/16\", ge = 26, le = 26 }]

[[prefix_list]]
name = \"lbs\"
entries = [
    { prefix = \"10.10.100.0/24\", ge = 32 },
    { prefix = \"fd10:10:100::/64\", ge = 128 },
]

[[policy]]
name = \"from-nodes\"

[[policy.term]]
name = \"pods\"
match.prefix_list = \"pods\"
add_community = [\"65000:42\"]
action = \"accept\"

[[policy.term]]
name = \"lbs\"
match.prefix_list = \"lbs\"
action = \"accept\"

[[policy]]
name = \"from-router\"
default = \"accept\"
";

    #[test]
    fn global_routing_keys() {
        let c = ok(&with_global(
            "cluster_id = \"10.0.0.100\"\nmultipath = 1\nalways_compare_med = true\nmin_advertisement_interval = 600",
        ));
        let g = c.global();
        assert_eq!(g.cluster_id, Ipv4Addr::new(10, 0, 0, 100));
        assert_eq!((g.multipath, g.always_compare_med), (1, true));
        assert_eq!(g.min_advertisement_interval, Duration::from_secs(600));
        ok(&with_global("multipath = 64\nmin_advertisement_interval = 0"));

        let kind = invalid(&with_global("cluster_id = \"0.0.0.0\""), 3, 14, "global.cluster_id");
        assert_eq!(value_msg(kind), "0.0.0.0 is not a valid cluster ID");
        let kind = invalid(&with_global("cluster_id = \"::1\""), 3, 14, "global.cluster_id");
        assert!(value_msg(kind).contains("is not an IPv4 address (CLUSTER_ID is 4 octets"));
        let kind = invalid(&with_global("cluster_id = 1"), 3, 14, "global.cluster_id");
        assert!(matches!(kind, ErrorKind::Type(_)));
        for bad in [0, 65, -1] {
            let kind = invalid(&with_global(&format!("multipath = {bad}")), 3, 13, "global.multipath");
            assert_eq!(value_msg(kind), format!("{bad} is not a valid number of ECMP paths (1..=64)"));
        }
        let kind = invalid(&with_global("always_compare_med = 1"), 3, 22, "global.always_compare_med");
        assert_eq!(kind, ErrorKind::Type("expected a boolean, found integer 1".into()));
        for bad in [-1, 601] {
            let text = with_global(&format!("min_advertisement_interval = {bad}"));
            let kind = invalid(&text, 3, 30, "global.min_advertisement_interval");
            assert_eq!(value_msg(kind), format!("{bad} is not a valid interval in seconds (0..=600)"));
        }
        let kind = invalid(&with_global("multi_path = 2"), 3, 1, "global.multi_path");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "multipath"));
    }

    #[test]
    fn peer_routing_keys() {
        let range = "[[neighbor_range]]\nprefix = \"10.1.0.0/16\"\nasn = 65000\n";
        let c = ok(&format!(
            "{MINIMAL}allow_as_in = 3\nnext_hop_self = true\nremove_private_as = true\n\
             max_prefixes = 100\nmax_prefixes_action = \"warn\"\n{range}allow_as_in = 10\nnext_hop_self = false\n\
             max_prefixes = 5\nmax_prefixes_restart_after = 1\n"
        ));
        let n = &c.neighbors()[0].settings;
        assert_eq!((n.allow_as_in, n.next_hop_self, n.remove_private_as), (3, true, true));
        assert_eq!(n.max_prefixes, Some(MaxPrefixes { limit: 100, action: MaxPrefixesAction::Warn }));
        let r = &c.neighbor_ranges()[0].settings;
        assert_eq!((r.allow_as_in, r.next_hop_self), (10, false));
        let after = Duration::from_secs(1);
        assert_eq!(r.max_prefixes, Some(MaxPrefixes { limit: 5, action: MaxPrefixesAction::Restart { after } }));

        for bad in [-1, 11] {
            let kind = invalid(&format!("{MINIMAL}allow_as_in = {bad}\n"), 8, 15, "neighbor[0].allow_as_in");
            assert_eq!(value_msg(kind), format!("{bad} is not a valid count of our AS in a path (0..=10)"));
        }
        invalid(&format!("{MINIMAL}{range}allow_as_in = 11\n"), 11, 15, "neighbor_range[0].allow_as_in");
        let kind = invalid(&format!("{MINIMAL}next_hop_self = \"yes\"\n"), 8, 17, "neighbor[0].next_hop_self");
        assert!(matches!(kind, ErrorKind::Type(_)));
        // Private ASNs are removed towards eBGP peers only.
        let text = format!("{MINIMAL}{range}remove_private_as = true\n");
        let kind = invalid(&text, 11, 21, "neighbor_range[0].remove_private_as");
        assert!(conflict_msg(kind).contains("eBGP peers only"));
        ok(&format!("{MINIMAL}{range}remove_private_as = false\n"));
        // max_prefixes and its companions.
        for bad in ["0", "-5", "4294967296"] {
            let kind = invalid(&format!("{MINIMAL}max_prefixes = {bad}\n"), 8, 16, "neighbor[0].max_prefixes");
            assert_eq!(value_msg(kind), format!("{bad} is not a valid prefix limit (1..=4294967295)"));
        }
        let text = format!("{MINIMAL}max_prefixes = 9\nmax_prefixes_action = \"drop\"\n");
        let kind = invalid(&text, 9, 23, "neighbor[0].max_prefixes_action");
        assert_eq!(value_msg(kind), "unknown value \"drop\" (expected \"warn\" or \"restart\")");
        let text = format!("{MINIMAL}max_prefixes = 9\nmax_prefixes_restart_after = 0\n");
        let kind = invalid(&text, 9, 30, "neighbor[0].max_prefixes_restart_after");
        assert_eq!(value_msg(kind), "0 is not a valid delay in seconds (1..=86400)");
        let text = format!("{MINIMAL}max_prefixes_action = \"warn\"\n");
        let kind = invalid(&text, 8, 23, "neighbor[0].max_prefixes_action");
        assert_eq!(conflict_msg(kind), "has no effect without max_prefixes");
        let text = format!("{MINIMAL}max_prefixes_restart_after = 30\n");
        let kind = invalid(&text, 8, 30, "neighbor[0].max_prefixes_restart_after");
        assert_eq!(conflict_msg(kind), "has no effect without max_prefixes");
        let text =
            format!("{MINIMAL}max_prefixes = 9\nmax_prefixes_action = \"warn\"\nmax_prefixes_restart_after = 30\n");
        let kind = invalid(&text, 10, 30, "neighbor[0].max_prefixes_restart_after");
        assert_eq!(conflict_msg(kind), "has no effect with max_prefixes_action = \"warn\"");
    }

    #[test]
    fn policy_names_must_exist() {
        let c = ok(ROUTING);
        assert_eq!(c.neighbors()[0].settings.import_policy.as_deref(), Some("from-router"));
        assert_eq!(c.neighbor_ranges()[0].settings.import_policy.as_deref(), Some("from-nodes"));
        // A typo gets a suggestion, built-ins included.
        let text = ROUTING.replace("import_policy = \"from-nodes\"", "import_policy = \"from-node\"");
        let kind = invalid_at(&text, "\"from-node\"", "neighbor_range[0].import_policy");
        assert_eq!(value_msg(kind), "no policy named \"from-node\"; did you mean \"from-nodes\"?");
        let text = ROUTING.replace("export_policy = \"accept-all\"", "export_policy = \"acept-all\"");
        let kind = invalid_at(&text, "\"acept-all\"", "neighbor[0].export_policy");
        assert_eq!(value_msg(kind), "no policy named \"acept-all\"; did you mean \"accept-all\"?");
        // Otherwise every name is listed.
        let kind = invalid(&format!("{MINIMAL}import_policy = \"permit\"\n"), 8, 17, "neighbor[0].import_policy");
        assert_eq!(value_msg(kind), "no policy named \"permit\" (there are: accept-all, reject-all)");
        ok(&format!("{MINIMAL}import_policy = \"reject-all\"\nexport_policy = \"accept-all\"\n"));
    }

    #[test]
    fn rfc8212_for_ebgp_without_policy() {
        let range = "[[neighbor_range]]\nprefix = \"10.1.0.0/16\"\nasn = 65000\n";
        let c = ok(&format!("{MINIMAL}{range}"));
        let g = c.global();
        let ebgp = &c.neighbors()[0].settings;
        assert_eq!(ebgp.effective_import(g), PolicyRef::Rfc8212Deny);
        assert_eq!(ebgp.effective_export(g), PolicyRef::Rfc8212Deny);
        let notice = ebgp.rfc8212_notice(g).expect("both directions are closed");
        assert!(notice.starts_with("RFC 8212: no route is accepted from or sent to this eBGP neighbor"), "{notice}");
        assert!(notice.contains("import_policy and export_policy"), "{notice}");
        assert_eq!(c.policies().resolve(ebgp.effective_import(g)).default, Verdict::Reject);
        // iBGP: everything, by default.
        let ibgp = &c.neighbor_ranges()[0].settings;
        assert_eq!(ibgp.effective_import(g), PolicyRef::Named(ACCEPT_ALL));
        assert_eq!(ibgp.effective_export(g), PolicyRef::Named(ACCEPT_ALL));
        assert_eq!(ibgp.rfc8212_notice(g), None);
        // One direction configured: the notice names the other.
        let c = ok(&format!("{MINIMAL}import_policy = \"accept-all\"\n"));
        let s = &c.neighbors()[0].settings;
        assert_eq!(s.effective_import(c.global()), PolicyRef::Named("accept-all"));
        assert!(s.effective_export(c.global()).is_rfc8212_deny());
        let notice = s.rfc8212_notice(c.global()).unwrap();
        assert!(notice.contains("no route is sent to") && notice.contains("no export_policy"), "{notice}");
        let c = ok(&format!("{MINIMAL}export_policy = \"reject-all\"\n"));
        let notice = c.neighbors()[0].settings.rfc8212_notice(c.global()).unwrap();
        assert!(notice.contains("no route is accepted from") && notice.contains("no import_policy"), "{notice}");
        let c = ok(&format!("{MINIMAL}import_policy = \"reject-all\"\nexport_policy = \"reject-all\"\n"));
        assert_eq!(c.neighbors()[0].settings.rfc8212_notice(c.global()), None, "explicit reject-all is a policy");
    }

    #[test]
    fn compiled_policies_are_usable() {
        let c = ok(ROUTING);
        let set = c.policies();
        assert_eq!(set.names().collect::<Vec<_>>(), ["accept-all", "from-nodes", "from-router", "reject-all"]);
        assert_eq!(set.prefix_list("lbs").map(|l| l.entries.len()), Some(2));
        let from_nodes = set.resolve(c.neighbor_ranges()[0].settings.effective_import(c.global()));
        assert_eq!(from_nodes.name, "from-nodes");
        assert_eq!(from_nodes.default, Verdict::Reject, "the default default");
        assert_eq!(set.get("from-router").unwrap().default, Verdict::Accept);
        let node = Some("10.1.0.21".parse().unwrap());
        let run = |prefix: &str| {
            let route = RouteInfo::new(prefix.parse().unwrap(), RouteSource::Peer, node);
            let mut attrs = PathAttrs::default();
            (from_nodes.apply(&route, &mut attrs, 65000), attrs.communities)
        };
        assert_eq!(run("10.42.3.64/26"), (Verdict::Accept, vec![Community(65000 << 16 | 42)]));
        assert_eq!(run("10.10.100.7/32"), (Verdict::Accept, vec![]));
        assert_eq!(run("fd10:10:100::7/128"), (Verdict::Accept, vec![]));
        assert_eq!(run("10.42.3.0/24").0, Verdict::Reject);
        assert_eq!(run("0.0.0.0/0").0, Verdict::Reject);
    }

    #[test]
    fn prefix_list_errors() {
        let base = format!("{MINIMAL}\n[[prefix_list]]\nname = \"p\"\n");
        let entries = |e: &str| format!("{base}entries = [{e}]\n");
        ok(&entries("{ prefix = \"10.0.0.0/8\" }, { prefix = \"10.0.0.0/8\", le = 32 }"));
        invalid_at(&format!("{MINIMAL}\n[[prefix_list]]\nentries = []\n"), "[[prefix_list]]", "prefix_list[0].name");
        invalid_at(&base, "[[prefix_list]]", "prefix_list[0].entries");
        let kind = invalid_at(&entries(""), "[]", "prefix_list[0].entries");
        assert_eq!(value_msg(kind), "is empty: a prefix list needs at least one entry");
        let kind = invalid_at(&base.replace("\"p\"", "\"p q\""), "\"p q\"", "prefix_list[0].name");
        assert!(value_msg(kind).starts_with("\"p q\" is not a valid prefix list name"));
        invalid_at(&base.replace("\"p\"", "\"\""), "\"\"", "prefix_list[0].name");
        let text = format!(
            "{}[[prefix_list]]\nname = \"p\"\nentries = [{{ prefix = \"::/0\" }}]\n",
            entries("{ prefix = \"::/0\" }")
        );
        let kind = invalid(&text, 13, 8, "prefix_list[1].name");
        assert_eq!(conflict_msg(kind), "duplicate prefix list name \"p\": already prefix_list[0] (line 10)");
        // Entries.
        invalid_at(&entries("{ ge = 8 }"), "{ ge", "prefix_list[0].entries[0].prefix");
        let kind =
            invalid_at(&entries("{ prefix = \"10.0.0.1/8\" }"), "\"10.0.0.1/8\"", "prefix_list[0].entries[0].prefix");
        assert_eq!(value_msg(kind), "\"10.0.0.1/8\" has host bits set; did you mean \"10.0.0.0/8\"?");
        let kind = invalid_at(&entries("{ prefix = \"10.0.0.0/8\", ge = 7 }"), "7", "prefix_list[0].entries[0].ge");
        assert_eq!(value_msg(kind), "7 is not a valid ge for 10.0.0.0/8: use 8..=32");
        let kind = invalid_at(&entries("{ prefix = \"10.0.0.0/8\", le = 33 }"), "33", "prefix_list[0].entries[0].le");
        assert_eq!(value_msg(kind), "33 is not a valid le for 10.0.0.0/8: use 8..=32");
        let kind = invalid_at(&entries("{ prefix = \"fd00::/8\", le = 129 }"), "129", "prefix_list[0].entries[0].le");
        assert_eq!(value_msg(kind), "129 is not a valid le for fd00::/8: use 8..=128");
        let text = entries("{ prefix = \"10.0.0.0/8\", ge = 24, le = 16 }");
        let kind = invalid_at(&text, "16 }", "prefix_list[0].entries[0].le");
        assert_eq!(conflict_msg(kind), "16 is less than ge (24)");
        let text = entries("{ prefix = \"10.0.0.0/8\", le = 9 }, { prefix = \"10.0.0.0/8\", le = 9 }");
        let kind = invalid(&text, 11, 47, "prefix_list[0].entries[1]");
        assert_eq!(conflict_msg(kind), "10.0.0.0/8 le 9 is listed twice");
        let kind = invalid_at(&entries("{ prefix = \"10.0.0.0/8\", gt = 9 }"), "gt", "prefix_list[0].entries[0].gt");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "ge"));
    }

    /// `ROUTING` with one more policy: `[[policy]]` named "t" and one term of `keys`.
    fn term(keys: &str) -> String {
        format!("{ROUTING}\n[[policy]]\nname = \"t\"\n\n[[policy.term]]\n{keys}\n")
    }

    #[test]
    fn policy_errors() {
        ok(&term("name = \"x\"\naction = \"reject\""));
        // The policy.
        let kind = invalid_at(
            &format!("{ROUTING}[[policy]]\ndefault = \"accept\"\n"),
            "[[policy]]\ndefault",
            "policy[2].name",
        );
        assert_eq!(kind, ErrorKind::Missing);
        let kind = invalid(&format!("{ROUTING}[[policy]]\nname = \"accept-all\"\n"), 45, 8, "policy[2].name");
        assert_eq!(conflict_msg(kind), "\"accept-all\" is a built-in policy; pick another name");
        let text = format!("{ROUTING}[[policy]]\nname = \"from-router\"\n");
        let kind = invalid(&text, 45, 8, "policy[2].name");
        assert_eq!(conflict_msg(kind), "duplicate policy name \"from-router\": already policy[1] (line 42)");
        let kind = invalid_at(
            &format!("{ROUTING}[[policy]]\nname = \"x\"\ndefault = \"deny\"\n"),
            "\"deny\"",
            "policy[2].default",
        );
        assert_eq!(value_msg(kind), "unknown value \"deny\" (expected \"accept\" or \"reject\")");
        invalid_at(&format!("{ROUTING}[[policy]]\nname = \"a/b\"\n"), "\"a/b\"", "policy[2].name");
        let kind = invalid_at(&format!("{ROUTING}[[policy]]\nname = \"x\"\nterms = []\n"), "terms", "policy[2].terms");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "term"));
        // Terms: names.
        invalid_at(&term("action = \"accept\""), "[[policy.term]]\naction", "policy[2].term[0].name");
        let text = term("name = \"x\"\nset_med = 1\n[[policy.term]]\nname = \"x\"\naction = \"accept\"");
        let kind = invalid(&text, 52, 8, "policy[2].term[1].name");
        assert_eq!(conflict_msg(kind), "duplicate term name \"x\": already policy[2].term[0] (line 49)");
        // Actions.
        let kind = invalid_at(&term("name = \"x\"\naction = \"permit\""), "\"permit\"", "policy[2].term[0].action");
        assert_eq!(value_msg(kind), "unknown value \"permit\" (expected \"accept\", \"reject\" or \"next\")");
        let kind = invalid_at(
            &term("name = \"x\"\nmatch.source = [\"peer\"]"),
            "[[policy.term]]\nname = \"x\"",
            "policy[2].term[0]",
        );
        assert!(conflict_msg(kind).starts_with("the term does nothing"));
        let kind = invalid_at(&term("name = \"x\"\naction = \"next\""), "\"next\"", "policy[2].term[0].action");
        assert!(conflict_msg(kind).starts_with("the term does nothing"));
        let text = term("name = \"x\"\naction = \"reject\"\nprepend = 2\nset_med = 5");
        let kind = invalid_at(&text, "2\nset_med", "policy[2].term[0].prepend");
        assert_eq!(conflict_msg(kind), "has no effect: the term rejects the route");
        for (keys, needle, key, message) in [
            ("set_local_pref = -1", "-1", "set_local_pref", "-1 is not a valid LOCAL_PREF (0..=4294967295)"),
            ("set_med = 4294967296", "4294967296", "set_med", "4294967296 is not a valid MED (0..=4294967295)"),
            ("set_next_hop = \"me\"", "\"me\"", "set_next_hop", "\"me\" is not \"self\" or an IPv4 or IPv6 address"),
            ("set_next_hop = \"224.0.0.1\"", "\"224.0.0.1\"", "set_next_hop", "\"224.0.0.1\" cannot be a next hop"),
            ("prepend = 0", "0", "prepend", "0 is not a valid prepend count (1..=10)"),
            ("prepend = 11", "11", "prepend", "11 is not a valid prepend count (1..=10)"),
            (
                "add_community = []",
                "[]",
                "add_community",
                "is empty: list at least one community, or leave the key out",
            ),
            (
                "add_large_community = [\"1:2\"]",
                "\"1:2\"",
                "add_large_community[0]",
                "\"1:2\" is not a large community: use GLOBAL:LOCAL1:LOCAL2 (each 0..=4294967295)",
            ),
        ] {
            let text = term(&format!("name = \"x\"\n{keys}"));
            let column = keys.find(needle).unwrap() + 1;
            let kind = invalid(&text, 50, column, &format!("policy[2].term[0].{key}"));
            assert_eq!(value_msg(kind), message, "{keys}");
        }
        let kind = invalid_at(
            &term("name = \"x\"\nremove_community = [\"no-export\", \"65536:1\"]"),
            "\"65536:1\"",
            "policy[2].term[0].remove_community[1]",
        );
        assert!(value_msg(kind)
            .starts_with("\"65536:1\" is not a community: use ASN:VALUE (each 0..=65535) or one of no-export,"));
        let text = term("name = \"x\"\nadd_community = [\"1:1\", \"1:1\"]");
        let kind = invalid_at(&text, "\"1:1\"]", "policy[2].term[0].add_community[1]");
        assert_eq!(conflict_msg(kind), "1:1 is listed twice");
        let text = term("name = \"x\"\nadd_community = [\"1:1\"]\nremove_community = [\"1:2\", \"1:1\"]");
        let kind = invalid(&text, 51, 28, "policy[2].term[0].remove_community[1]");
        assert_eq!(conflict_msg(kind), "1:1 is also in add_community");
        let text = term("name = \"x\"\nadd_large_community = [\"1:1:1\"]\nremove_large_community = [\"1:1:1\"]");
        let kind = invalid(&text, 51, 27, "policy[2].term[0].remove_large_community[0]");
        assert_eq!(conflict_msg(kind), "1:1:1 is also in add_large_community");
        let kind = invalid_at(
            &term("name = \"x\"\nprepend_asn = 65000\nset_med = 1"),
            "65000\nset",
            "policy[2].term[0].prepend_asn",
        );
        assert!(conflict_msg(kind).starts_with("has no effect without prepend"));
        let kind = invalid_at(
            &term("name = \"x\"\nprepend = 1\nprepend_asn = 23456"),
            "23456",
            "policy[2].term[0].prepend_asn",
        );
        assert!(value_msg(kind).contains("AS_TRANS"));
        let kind =
            invalid_at(&term("name = \"x\"\nset_localpref = 1"), "set_localpref", "policy[2].term[0].set_localpref");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "set_local_pref"));
        // A term that matches everything and decides hides the rest.
        let text = term("name = \"all\"\naction = \"accept\"\n[[policy.term]]\nname = \"never\"\naction = \"reject\"");
        let kind = invalid(&text, 51, 1, "policy[2].term[1]");
        assert_eq!(
            conflict_msg(kind),
            "is never reached: policy[2].term[0] (\"all\", line 48) matches every route and ends with accept"
        );
        ok(&term("name = \"tag\"\nset_med = 1\n[[policy.term]]\nname = \"then\"\naction = \"reject\""));
    }

    #[test]
    fn match_errors() {
        let m = |keys: &str| term(&format!("name = \"x\"\naction = \"accept\"\n[policy.term.match]\n{keys}"));
        ok(&m("prefix_list = \"pods\"\nneighbor = [\"10.0.0.2\", \"10.1.0.0/16\", \"::ffff:10.0.0.9\"]\nsource = [\"static\"]"));
        let c = ok(&m("neighbor = [\"::ffff:10.0.0.9\"]"));
        let t = &c.policies().get("t").unwrap().terms[0];
        assert_eq!(t.matches.neighbor, vec!["10.0.0.9/32".parse::<IpNet>().unwrap()], "IPv4-mapped is stored as IPv4");
        let kind = invalid_at(&m("prefix_list = \"pod\""), "\"pod\"", "policy[2].term[0].match.prefix_list");
        assert_eq!(value_msg(kind), "no [[prefix_list]] named \"pod\"; did you mean \"pods\"?");
        let kind = invalid_at(&m("prefix_list = \"bogons\""), "\"bogons\"", "policy[2].term[0].match.prefix_list");
        assert_eq!(value_msg(kind), "no [[prefix_list]] named \"bogons\" (there are: lbs, pods)");
        let text = format!("{MINIMAL}[[policy]]\nname = \"p\"\n[[policy.term]]\nname = \"t\"\naction = \"accept\"\nmatch.prefix_list = \"x\"\n");
        let kind = invalid_at(&text, "\"x\"", "policy[0].term[0].match.prefix_list");
        assert_eq!(value_msg(kind), "no [[prefix_list]] named \"x\" (the file has none)");
        for (keys, needle, key, message) in [
            (
                "neighbor = [\"10.0.0.300\"]",
                "\"10.0.0.300\"",
                "neighbor[0]",
                "\"10.0.0.300\" is not an IP address or prefix",
            ),
            (
                "neighbor = [\"10.0.0.1/24\"]",
                "\"10.0.0.1/24\"",
                "neighbor[0]",
                "\"10.0.0.1/24\" has host bits set; did you mean \"10.0.0.0/24\"?",
            ),
            ("neighbor = []", "[]", "neighbor", "is empty: list at least one address or prefix, or leave the key out"),
            ("community = [\"no_export\"]", "\"no_export\"", "community[0]", ""),
            ("large_community = [\"1:2:3:4\"]", "\"1:2:3:4\"", "large_community[0]", ""),
            ("as_path_contains = [0]", "0", "as_path_contains[0]", "0 is not a valid AS number (1..=4294967295)"),
            (
                "origin_as = [4294967296]",
                "4294967296",
                "origin_as[0]",
                "4294967296 is not a valid AS number (1..=4294967295)",
            ),
            ("origin_as = []", "[]", "origin_as", "is empty: list at least one AS number, or leave the key out"),
            (
                "as_path_length_min = -1",
                "-1",
                "as_path_length_min",
                "-1 is not a valid AS_PATH length (0..=4294967295)",
            ),
            (
                "source = [\"bgp\"]",
                "\"bgp\"",
                "source[0]",
                "unknown route source \"bgp\" (expected \"static\", \"kernel\", \"kubernetes\" or \"peer\")",
            ),
        ] {
            let text = m(keys);
            let column = keys.find(needle).unwrap() + 1;
            let kind = invalid(&text, 52, column, &format!("policy[2].term[0].match.{key}"));
            if !message.is_empty() {
                assert_eq!(value_msg(kind), message, "{keys}");
            } else {
                assert!(matches!(kind, ErrorKind::Value(_)), "{keys}");
            }
        }
        let kind = invalid(&m("source = [\"peer\", \"peer\"]"), 52, 19, "policy[2].term[0].match.source[1]");
        assert_eq!(conflict_msg(kind), "peer is listed twice");
        let kind = invalid(&m("origin_as = [1, 1]"), 52, 17, "policy[2].term[0].match.origin_as[1]");
        assert_eq!(conflict_msg(kind), "1 is listed twice");
        let kind = invalid(
            &m("as_path_length_min = 3\nas_path_length_max = 2"),
            53,
            22,
            "policy[2].term[0].match.as_path_length_max",
        );
        assert_eq!(conflict_msg(kind), "2 is less than as_path_length_min (3)");
        let kind = invalid(&m("comunity = [\"1:1\"]"), 52, 1, "policy[2].term[0].match.comunity");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "community"));
        let kind = invalid(&m("source = \"peer\""), 52, 10, "policy[2].term[0].match.source");
        assert!(matches!(kind, ErrorKind::Type(m) if m.starts_with("expected an array")));
    }

    #[test]
    fn announce_keys() {
        let a = |keys: &str| format!("{MINIMAL}\n[[announce]]\n{keys}\n");
        let c = ok(&a("prefix = \"192.168.6.10/32\"\n[[announce]]\nprefix = \"fd10::/64\"\nnext_hop = \"fd00::1\""));
        assert_eq!(c.announcements().len(), 2);
        let attrs = c.announcements()[0].path_attrs();
        assert_eq!(attrs.origin, Some(Origin::Igp));
        assert_eq!(attrs.as_path, Some(AsPath::default()));
        assert_eq!((attrs.next_hop, &attrs.mp_reach), (None, &None), "no next hop: the daemon's own");
        let attrs = c.announcements()[1].path_attrs();
        let mp = attrs.mp_reach.expect("an IPv6 next hop lives in MP_REACH_NLRI");
        assert_eq!(mp.family, Family::IPV6_UNICAST);
        assert!(mp.nlri.is_empty());
        let c = ok(&a("prefix = \"10.0.0.0/8\"\ncommunities = [\"1:1\"]\nlarge_communities = [\"1:1:1\"]\n\
                       local_pref = 300\nmed = 4294967295\nnext_hop = \"10.0.0.9\""));
        let attrs = c.announcements()[0].path_attrs();
        assert_eq!(attrs.next_hop, Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!((attrs.local_pref, attrs.med), (Some(300), Some(u32::MAX)));
        assert_eq!(attrs.communities, vec![Community(1 << 16 | 1)]);
        assert_eq!(attrs.large_communities, vec![LargeCommunity { global: 1, local1: 1, local2: 1 }]);

        invalid_at(&a("med = 1"), "[[announce]]", "announce[0].prefix");
        let kind = invalid_at(&a("prefix = \"192.168.6.10/24\""), "\"192", "announce[0].prefix");
        assert_eq!(value_msg(kind), "\"192.168.6.10/24\" has host bits set; did you mean \"192.168.6.0/24\"?");
        let text = a("prefix = \"10.0.0.0/8\"\n[[announce]]\nprefix = \"10.0.0.0/8\"");
        let kind = invalid(&text, 12, 10, "announce[1].prefix");
        assert_eq!(conflict_msg(kind), "10.0.0.0/8 is already announced by announce[0] (line 10)");
        let kind = invalid_at(&a("prefix = \"10.0.0.0/8\"\nnext_hop = \"fd00::1\""), "\"fd00", "announce[0].next_hop");
        assert_eq!(conflict_msg(kind), "fd00::1 and the prefix 10.0.0.0/8 are of different families");
        let kind =
            invalid_at(&a("prefix = \"10.0.0.0/8\"\nnext_hop = \"0.0.0.0\""), "\"0.0.0.0\"", "announce[0].next_hop");
        assert_eq!(value_msg(kind), "\"0.0.0.0\" cannot be a next hop");
        let kind = invalid_at(&a("prefix = \"10.0.0.0/8\"\nlocal_pref = -1"), "-1", "announce[0].local_pref");
        assert_eq!(value_msg(kind), "-1 is not a valid LOCAL_PREF (0..=4294967295)");
        invalid_at(&a("prefix = \"10.0.0.0/8\"\nmed = 4294967296"), "4294967296", "announce[0].med");
        invalid_at(&a("prefix = \"10.0.0.0/8\"\ncommunities = [\"x\"]"), "\"x\"", "announce[0].communities[0]");
        invalid_at(&a("prefix = \"10.0.0.0/8\"\ncommunities = []"), "[]", "announce[0].communities");
        invalid_at(
            &a("prefix = \"10.0.0.0/8\"\nlarge_communities = [\"1\"]"),
            "\"1\"",
            "announce[0].large_communities[0]",
        );
        let kind =
            invalid_at(&a("prefix = \"10.0.0.0/8\"\ncomunities = [\"1:1\"]"), "comunities", "announce[0].comunities");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "communities"));
    }

    #[test]
    fn read_error_names_the_file() {
        let e = load(Path::new("/nonexistent/bgp.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        assert!(e.to_string().starts_with("/nonexistent/bgp.toml: cannot read: "), "{e}");
        assert_eq!(e.position(), None);
    }
}
