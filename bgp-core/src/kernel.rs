//! The kernel's routing tables as the routing engine sees them, and what the engine
//! asks of the kernel's FIB. Types only, no netlink: `bgp-daemon/src/kernel/` reads
//! the kernel (a dump, then the route and address multicast groups) into
//! [`KernelUpdate`]s and writes [`FibRoute`]s with rtnetlink; the engine
//! (`rib::engine`) turns updates into announced routes (`[[kernel.import]]`) and
//! next-hop reachability (`rib::nexthop`), and its decisions into FIB routes.
//!
//! Numbers are the kernel's (`linux/rtnetlink.h`): tables are u32, protocols u8.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::prefix::Prefix;

/// `RT_TABLE_MAIN`.
pub const TABLE_MAIN: u32 = 254;
/// `RT_TABLE_LOCAL`: the kernel's own local and broadcast routes.
pub const TABLE_LOCAL: u32 = 255;
/// `RT_TABLE_DEFAULT`.
pub const TABLE_DEFAULT: u32 = 253;
/// `RTPROT_KERNEL`: routes the kernel adds for its addresses (connected subnets).
pub const PROTOCOL_KERNEL: u8 = 2;
/// `RTPROT_BGP`: the protocol our installed routes carry by default.
pub const PROTOCOL_BGP: u8 = 186;
/// The metric our installed routes carry by default.
pub const DEFAULT_METRIC: u32 = 20;

/// A route's type (`rtm_type`), as far as import and next-hop resolution care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteType {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    /// `local`, `broadcast`, `multicast`, `throw`, `nat`...: never imported, never
    /// a way to a next hop. The kernel's number.
    Other(u8),
}

impl RouteType {
    /// From `rtm_type`.
    pub fn from_kernel(n: u8) -> RouteType {
        match n {
            1 => RouteType::Unicast,
            6 => RouteType::Blackhole,
            7 => RouteType::Unreachable,
            8 => RouteType::Prohibit,
            n => RouteType::Other(n),
        }
    }

    pub fn to_kernel(self) -> u8 {
        match self {
            RouteType::Unicast => 1,
            RouteType::Blackhole => 6,
            RouteType::Unreachable => 7,
            RouteType::Prohibit => 8,
            RouteType::Other(n) => n,
        }
    }
}

impl fmt::Display for RouteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteType::Unicast => f.write_str("unicast"),
            RouteType::Blackhole => f.write_str("blackhole"),
            RouteType::Unreachable => f.write_str("unreachable"),
            RouteType::Prohibit => f.write_str("prohibit"),
            RouteType::Other(n) => write!(f, "type {n}"),
        }
    }
}

/// One way out of a kernel route: a gateway, a device, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KernelNextHop {
    /// `None`: the destination is on the device's link (a connected route).
    pub gateway: Option<IpAddr>,
    /// The output interface; 0 when the kernel gave none.
    pub ifindex: u32,
}

/// Which kernel route: the kernel keys routes by table, destination and metric
/// (`tos` and source prefixes are not used here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    pub table: u32,
    pub prefix: Prefix,
    pub metric: u32,
}

/// A route as a kernel table holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelRoute {
    pub key: RouteKey,
    pub protocol: u8,
    pub kind: RouteType,
    /// Empty for blackhole, unreachable and prohibit routes.
    pub next_hops: Vec<KernelNextHop>,
}

/// What the daemon's kernel reader tells the engine, in the kernel's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelUpdate {
    /// A full dump starts (at start, and after a netlink overrun): what it does not
    /// repeat by [`KernelUpdate::SyncEnd`] is gone.
    SyncBegin,
    SyncEnd,
    /// A route was added or changed. Routes of our own protocol in our table are never
    /// sent (the reader drops them).
    Route(KernelRoute),
    RouteDeleted(RouteKey),
    /// One of our addresses, with its prefix length, on an interface.
    Address {
        ifindex: u32,
        address: IpAddr,
        prefix_len: u8,
    },
    AddressDeleted {
        ifindex: u32,
        address: IpAddr,
        prefix_len: u8,
    },
    /// An interface's name (for provenance and `show nexthops`); sent when it
    /// appears or is renamed.
    Link {
        ifindex: u32,
        name: String,
    },
    LinkDeleted {
        ifindex: u32,
    },
    /// An interface went administratively down. The kernel then drops the IPv4 routes
    /// through it without a notification for each, ours included: the reader dumps
    /// again for the foreign ones, and the engine writes ours again.
    LinkDown {
        ifindex: u32,
    },
}

/// A gateway the FIB writer installs: always on a connected subnet of `ifindex`
/// (next-hop tracking resolved it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FibNextHop {
    pub gateway: IpAddr,
    /// 0: let the kernel pick the device.
    pub ifindex: u32,
}

/// One change for the FIB writer, in `[kernel] table`, with `protocol` and `metric`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FibRoute {
    pub prefix: Prefix,
    /// Empty: remove our route for the prefix. Otherwise one route, multipath when
    /// there are several, sorted.
    pub next_hops: Vec<FibNextHop>,
    /// We installed a route for the prefix (or found ours there at start): replace it.
    /// Otherwise the route is created exclusively, so that a foreign route on the same
    /// prefix, table and metric is never replaced (the kernel's IPv4 replace does not
    /// check the protocol).
    pub replace: bool,
}

/// Why the kernel refused a FIB route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibError {
    /// errno.
    pub errno: i32,
    /// The kernel's extended ack text, else the errno's description.
    pub message: String,
    /// Refused because a route of another protocol holds the prefix at our metric
    /// (EEXIST on an exclusive create).
    pub foreign: bool,
}

impl fmt::Display for FibError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.foreign {
            f.write_str("a route of another protocol holds the prefix at our metric")
        } else {
            f.write_str(&self.message)
        }
    }
}

/// The kernel's answer to one [`FibRoute`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FibResult {
    pub prefix: Prefix,
    /// `None`: the route is in the kernel as asked (or, for a removal, gone), maybe
    /// without the `dropped` next hops. `Some`: nothing of it was installed.
    pub error: Option<FibError>,
    /// Next hops the kernel refused one by one (it refuses a whole multipath route
    /// for one bad gateway): the route was installed with the others.
    pub dropped: Vec<(FibNextHop, FibError)>,
}
