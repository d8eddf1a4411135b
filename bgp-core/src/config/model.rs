//! The validated configuration: what [`super::parse`] returns, every value checked
//! and defaulted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::*;
use crate::fsm::PeerConfig;
use crate::names::named_enum;
use crate::policy::{self, PolicySet};
use crate::prefix::Prefix;

use crate::wire::{AsPath, Community, LargeCommunity, Origin, PathAttrs};

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
    /// `[kernel]` and its `[[kernel.import]]` entries.
    pub kernel: Kernel,
    /// `[kubernetes]`; `None` without the section (no Kubernetes source).
    pub kubernetes: Option<Kubernetes>,
}

/// The `[kubernetes]` table: what the daemon announces from the API server (see
/// `crate::kubernetes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kubernetes {
    /// The kubeconfig file. Default none: the in-cluster service account, else
    /// `$KUBECONFIG`, else `~/.kube/config` (the daemon's choice).
    pub kubeconfig: Option<PathBuf>,
    /// This node's name (node mode only; a DNS subdomain). Default none: `$NODE_NAME`,
    /// else the host name (the daemon resolves it).
    pub node_name: Option<String>,
    /// Default [`KubernetesMode::Node`].
    pub mode: KubernetesMode,
    /// Announce the ingress addresses of LoadBalancer Services. Default true.
    pub load_balancers: bool,
    /// Announce the nodes' pod CIDRs (node mode: this node's). Default false.
    pub pod_cidrs: bool,
    /// Only Services whose labels match this selector (validated text, as written;
    /// [`Kubernetes::selector`] parses it). Default none: every Service.
    pub service_selector: Option<String>,
}

impl Default for Kubernetes {
    fn default() -> Kubernetes {
        Kubernetes {
            kubeconfig: None,
            node_name: None,
            mode: KubernetesMode::Node,
            load_balancers: true,
            pod_cidrs: false,
            service_selector: None,
        }
    }
}

impl Kubernetes {
    /// `service_selector`, parsed; everything when unset.
    pub fn selector(&self) -> crate::kubernetes::selector::Selector {
        use crate::kubernetes::selector::Selector;
        self.service_selector
            .as_deref()
            .map_or_else(Selector::everything, |s| Selector::parse(s).expect("validated by the config"))
    }
}

named_enum! {
    /// `kubernetes.mode`: whose routes this speaker announces.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub enum KubernetesMode parse "mode" {
        /// `"node"`: what this node serves, next hop our own address (a DaemonSet).
        #[default]
        Node = "node",
        /// `"cluster"`: every node's, next hops the serving nodes' InternalIPs (one
        /// speaker for the cluster).
        Cluster = "cluster",
    }
}

/// The `[kernel]` table: what is installed into the kernel and what is imported from
/// it (see `crate::kernel`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// Put the best routes learned from BGP peers into the kernel. Default false.
    pub install: bool,
    /// The table installed into: 1..=4294967295 except 253 and 255. Default 254 (main).
    pub table: u32,
    /// The protocol installed routes carry, 1..=255: the daemon only ever changes or
    /// removes routes of this protocol in `table`. Default 186 (bgp).
    pub protocol: u8,
    /// The metric installed routes carry. Default 20.
    pub metric: u32,
    /// The policy choosing which routes are installed (default: all).
    pub install_policy: Option<String>,
    /// Next hops may be resolved through a default route (0.0.0.0/0, ::/0). Default
    /// false, as FRR's `ip nht resolve-via-default`.
    pub resolve_via_default: bool,
    /// `[[kernel.import]]` entries in file order.
    pub import: Vec<KernelImport>,
}

impl Default for Kernel {
    fn default() -> Kernel {
        Kernel {
            install: false,
            table: crate::kernel::TABLE_MAIN,
            protocol: crate::kernel::PROTOCOL_BGP,
            metric: crate::kernel::DEFAULT_METRIC,
            install_policy: None,
            resolve_via_default: false,
            import: Vec::new(),
        }
    }
}

/// One `[[kernel.import]]` entry: a kernel route matching it is announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelImport {
    /// The route must lie inside one of these (any length). Required, not empty.
    pub within: Vec<Prefix>,
    /// Protocols (numbers); empty: any except `[kernel] protocol` and kernel (2).
    pub protocol: Vec<u8>,
    /// Route types. Default unicast and blackhole.
    pub kind: Vec<crate::kernel::RouteType>,
    /// The table read. Default 254 (main).
    pub table: u32,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
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
    /// A second `bgpctl` socket that answers `show ...` commands only (monitoring),
    /// an absolute path other than `control_socket`. Default none.
    pub control_socket_readonly: Option<PathBuf>,
    /// Hold time in seconds proposed in OPEN, 0 or 3..=65535; neighbors and ranges
    /// inherit it. Default 90.
    pub hold_time: u16,
    /// Least hold time a peer may propose, 3..=65535 s: a smaller one, 0 included, is
    /// refused with OPEN Message Error / Unacceptable Hold Time (as FRR's `bgp
    /// minimum-holdtime`). Default none: any valid hold time, 0 included.
    pub min_hold_time: Option<u16>,
    /// SendHoldTime (RFC 9687), 3..=65535 s: a session whose writes make no progress
    /// for this long is closed. Default none: the greater of 8 minutes and twice the
    /// session's hold time. Never less than the hold time.
    pub send_hold_time: Option<u16>,
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
    /// How long `on_stop = "drain-then-graceful-restart"` drains before it stops,
    /// 1..=3600 s. Default [`DEFAULT_DRAIN_TIME`].
    pub drain_time: Duration,
    /// Where the Prometheus metrics endpoint (`GET /metrics`) listens, ADDRESS:PORT.
    /// Default none: no endpoint.
    pub metrics_listen: Option<SocketAddr>,
}

impl Global {
    /// A `[global]` with every optional key at its default.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Global {
        Global {
            asn,
            router_id,
            listen: DEFAULT_LISTEN.iter().map(|s| s.parse().expect("valid default")).collect(),
            control_socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
            control_socket_readonly: None,
            hold_time: DEFAULT_HOLD_TIME,
            min_hold_time: None,
            send_hold_time: None,
            connect_retry: DEFAULT_CONNECT_RETRY,
            connect_retry_max: DEFAULT_CONNECT_RETRY_MAX,
            graceful_restart_time: DEFAULT_GRACEFUL_RESTART_TIME,
            on_stop: OnStop::default(),
            hostname: None,
            cluster_id: router_id,
            multipath: DEFAULT_MULTIPATH,
            always_compare_med: false,
            min_advertisement_interval: Duration::ZERO,
            drain_time: DEFAULT_DRAIN_TIME,
            metrics_listen: None,
        }
    }
}

named_enum! {
    /// `global.on_stop`: what the daemon does to its sessions on SIGTERM or SIGINT.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub enum OnStop parse "value" {
        /// `"graceful-restart"`: leave as a restarting speaker (RFC 4724), so peers that
        /// negotiated graceful restart keep our routes until we are back or
        /// `graceful_restart_time` runs out. Right for upgrades and reboots.
        #[default]
        GracefulRestart = "graceful-restart",
        /// `"shutdown"`: Cease / Administrative Shutdown (Hard Reset where RFC 8538 was
        /// negotiated), so peers drop our routes at once.
        Shutdown = "shutdown",
        /// `"drain-then-graceful-restart"`: first drain every neighbor (RFC 8326
        /// graceful shutdown, as `bgpctl drain`) for `drain_time`, so peers move
        /// traffic to other paths while ours still work, then stop as
        /// `"graceful-restart"` does. A second signal during the drain stops at once.
        DrainThenGracefulRestart = "drain-then-graceful-restart",
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
