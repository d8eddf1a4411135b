//! What the Prometheus endpoint reads from the engine: counts kept as routes come and
//! go, so a scrape costs a walk over the sources and peers, never over the table
//! (the FIB's installed count is one pass over 4 bytes per entry). The daemon's
//! `metrics` module renders it.

use std::net::IpAddr;

use super::engine::Engine;
use super::SourceKind;

/// A count by address family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByAfi {
    pub ipv4: u64,
    pub ipv6: u64,
}

impl ByAfi {
    fn of((ipv4, ipv6): (usize, usize)) -> ByAfi {
        ByAfi { ipv4: ipv4 as u64, ipv6: ipv6 as u64 }
    }
}

/// One source of routes and the paths it has in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRoutes {
    /// `peer`, `static` (`[[announce]]`), `kernel` or `kubernetes`.
    pub kind: &'static str,
    /// The peer's address, for a peer.
    pub peer: Option<IpAddr>,
    pub routes: ByAfi,
}

/// The FIB writer's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FibMetrics {
    /// Entries with a route of ours in the kernel (or on its way there).
    pub installed: u64,
    /// Routes the kernel refused, held to be tried again.
    pub refused: u64,
    /// Routes installed without some of their next hops.
    pub partial: u64,
    /// Entries waiting to be written, and writes awaiting the kernel's answer.
    pub queued: u64,
    pub in_flight: u64,
    /// Answers from the kernel since start, and of those, refusals.
    pub writes: u64,
    pub failures: u64,
    /// Bytes the FIB's own state holds.
    pub memory_bytes: u64,
}

/// The engine's side of a scrape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RibMetrics {
    /// Prefixes in the table (with at least one path).
    pub prefixes: ByAfi,
    pub sources: Vec<SourceRoutes>,
    /// Distinct interned attribute sets, and the references routes hold to them.
    pub attribute_sets: u64,
    pub attribute_refs: u64,
    pub fib: FibMetrics,
    /// Per peer in an update group: the routes it holds from us, by family.
    pub advertised: Vec<(IpAddr, ByAfi)>,
}

impl Engine {
    pub fn metrics(&self) -> RibMetrics {
        let rib = &self.rib;
        let sources = rib
            .sources()
            .map(|(id, kind)| {
                let (kind, peer) = match kind {
                    SourceKind::Peer(p) => ("peer", Some(p.address)),
                    SourceKind::Static => ("static", None),
                    SourceKind::Kernel => ("kernel", None),
                    SourceKind::Kubernetes => ("kubernetes", None),
                };
                SourceRoutes { kind, peer, routes: ByAfi::of(rib.source_routes_by_afi(id)) }
            })
            .collect();
        let advertised = self
            .groups
            .iter()
            .flat_map(|g| g.members.iter().map(move |m| (g, m.peer)))
            .filter_map(|(g, peer)| {
                let address = self.peers.get(peer.0 as usize)?.as_ref()?.address;
                Some((address, ByAfi::of(g.group.advertised_by_afi(peer))))
            })
            .collect();
        let stats = rib.attr_stats();
        let fib = &self.kernel.fib;
        RibMetrics {
            prefixes: ByAfi::of(rib.len_by_afi()),
            sources,
            attribute_sets: stats.sets as u64,
            attribute_refs: stats.refs,
            fib: FibMetrics {
                installed: fib.installed() as u64,
                refused: fib.refused.len() as u64,
                partial: fib.dropped.len() as u64,
                queued: fib.queued() as u64,
                in_flight: fib.flights.len() as u64,
                writes: fib.writes,
                failures: fib.failures,
                memory_bytes: fib.memory() as u64,
            },
            advertised,
        }
    }
}
