//! Next-hop tracking: the kernel's routing tables as the daemon's reader reports them
//! ([`KernelTable`]), and whether each BGP next hop in the RIB resolves through them
//! ([`NextHops`]).
//!
//! A next hop resolves through the longest-matching route of the main table, lowest
//! metric first: on a connected subnet (a route without gateway, usually the kernel's
//! own `proto kernel scope link` route) it is its own way out; through a route with
//! gateways, those gateways are what the FIB installs (the kernel refuses a gateway
//! that is not on a connected subnet, so a recursive BGP next hop is replaced by the
//! IGP's, one level, as zebra does). It does not resolve when it is one of our
//! addresses, when no route covers it, when only the default route does (unless
//! `[kernel] resolve_via_default`), or when the covering route is a blackhole,
//! unreachable or prohibit route. Our own installed routes never reach this table (the
//! reader drops them), so a BGP route never resolves through another.
//!
//! Until the reader's first full dump has ended, tracking is off and every next hop
//! resolves: a daemon that cannot read the kernel still routes as before.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use crate::kernel::{FibNextHop, KernelNextHop, KernelRoute, KernelUpdate, RouteKey, RouteType, TABLE_MAIN};
use crate::prefix::Prefix;

/// A kernel route as kept here (the key is the map's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRoute {
    pub protocol: u8,
    pub kind: RouteType,
    pub next_hops: Vec<KernelNextHop>,
}

/// One of our addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pub ifindex: u32,
    pub address: IpAddr,
    pub prefix_len: u8,
}

/// The kernel's routes (every table, except our own installed routes), addresses and
/// interface names, kept in step with the reader's updates.
#[derive(Debug, Default)]
pub struct KernelTable {
    routes: BTreeMap<RouteKey, StoredRoute>,
    addresses: Vec<Address>,
    links: HashMap<u32, String>,
    /// A first full dump has ended: next-hop tracking is on.
    synced: bool,
    /// Between SyncBegin and SyncEnd: what the dump repeated (the rest is gone at the end).
    resync: Option<Resync>,
    /// Prefixes whose routes changed since [`KernelTable::take_changed`].
    changed: Vec<Prefix>,
    /// Routes or addresses changed since the last [`NextHops::refresh`].
    dirty: bool,
    /// Interfaces through which the kernel may have dropped routes of ours without a
    /// word (link down or gone, an IPv4 address removed).
    fib_lost: Vec<u32>,
}

#[derive(Debug, Default)]
struct Resync {
    routes: HashSet<RouteKey>,
    addresses: HashSet<Address>,
    links: HashSet<u32>,
}

impl KernelTable {
    /// Applies one update from the reader.
    pub fn apply(&mut self, update: KernelUpdate) {
        match update {
            KernelUpdate::SyncBegin => self.resync = Some(Resync::default()),
            KernelUpdate::SyncEnd => {
                let Some(seen) = self.resync.take() else { return };
                let gone: Vec<RouteKey> = self.routes.keys().filter(|k| !seen.routes.contains(k)).copied().collect();
                for key in gone {
                    self.routes.remove(&key);
                    self.route_changed(key);
                }
                let before = self.addresses.len();
                self.addresses.retain(|a| seen.addresses.contains(a));
                self.links.retain(|i, _| seen.links.contains(i));
                self.dirty |= before != self.addresses.len() || !self.synced;
                self.synced = true;
            }
            KernelUpdate::Route(KernelRoute { key, protocol, kind, next_hops }) => {
                if let Some(r) = self.resync.as_mut() {
                    r.routes.insert(key);
                }
                let route = StoredRoute { protocol, kind, next_hops };
                if self.routes.get(&key) != Some(&route) {
                    self.routes.insert(key, route);
                    self.route_changed(key);
                }
            }
            KernelUpdate::RouteDeleted(key) => {
                if self.routes.remove(&key).is_some() {
                    self.route_changed(key);
                }
            }
            KernelUpdate::Address { ifindex, address, prefix_len } => {
                let a = Address { ifindex, address, prefix_len };
                if let Some(r) = self.resync.as_mut() {
                    r.addresses.insert(a);
                }
                if !self.addresses.contains(&a) {
                    self.addresses.push(a);
                    self.dirty = true;
                }
            }
            KernelUpdate::AddressDeleted { ifindex, address, prefix_len } => {
                if address.is_ipv4() {
                    self.fib_lost.push(ifindex);
                }
                let before = self.addresses.len();
                self.addresses.retain(|a| *a != Address { ifindex, address, prefix_len });
                self.dirty |= before != self.addresses.len();
            }
            KernelUpdate::Link { ifindex, name } => {
                if let Some(r) = self.resync.as_mut() {
                    r.links.insert(ifindex);
                }
                self.links.insert(ifindex, name);
            }
            KernelUpdate::LinkDeleted { ifindex } => {
                self.links.remove(&ifindex);
                self.fib_lost.push(ifindex);
            }
            KernelUpdate::LinkDown { ifindex } => self.fib_lost.push(ifindex),
        }
    }

    fn route_changed(&mut self, key: RouteKey) {
        self.changed.push(key.prefix);
        self.dirty |= key.table == TABLE_MAIN;
    }

    /// The interfaces through which the kernel may have dropped our routes silently,
    /// since the last call.
    pub fn take_fib_lost(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.fib_lost)
    }

    /// Whether a first full dump has ended.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Inside a full dump: what is known is not complete yet.
    pub fn syncing(&self) -> bool {
        self.resync.is_some()
    }

    /// The prefixes whose routes changed since the last call, sorted, once each; none
    /// while a dump is in progress (they are all reported at its end).
    pub fn take_changed(&mut self) -> Vec<Prefix> {
        if self.syncing() {
            return Vec::new();
        }
        let mut changed = std::mem::take(&mut self.changed);
        changed.sort_unstable();
        changed.dedup();
        changed
    }

    /// The routes of `prefix` in `table`, lowest metric first.
    pub fn routes_of(&self, table: u32, prefix: Prefix) -> impl Iterator<Item = (&RouteKey, &StoredRoute)> {
        let from = RouteKey { table, prefix, metric: 0 };
        let to = RouteKey { table, prefix, metric: u32::MAX };
        self.routes.range(from..=to)
    }

    /// Every route, by table, prefix and metric.
    pub fn routes(&self) -> impl Iterator<Item = (&RouteKey, &StoredRoute)> {
        self.routes.iter()
    }

    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    pub fn is_ours(&self, addr: IpAddr) -> bool {
        self.addresses.iter().any(|a| a.address == addr)
    }

    /// An interface's name.
    pub fn link_name(&self, ifindex: u32) -> Option<&str> {
        self.links.get(&ifindex).map(String::as_str)
    }

    /// How `addr` resolves; `via_default`: the default route may resolve it.
    pub fn resolve(&self, addr: IpAddr, via_default: bool) -> Resolution {
        let unresolved = |reason: &'static str, via: Option<Prefix>| Resolution {
            via,
            connected: false,
            hops: Vec::new(),
            reason: Some(reason),
        };
        if !self.synced {
            return Resolution {
                via: None,
                connected: false,
                hops: vec![FibNextHop { gateway: addr, ifindex: 0 }],
                reason: None,
            };
        }
        if self.is_ours(addr) {
            return unresolved("one of our addresses", None);
        }
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let found = (0..=max).rev().find_map(|len| {
            let prefix = Prefix::of(addr, len)?;
            self.routes_of(TABLE_MAIN, prefix).find(|(_, r)| !matches!(r.kind, RouteType::Other(_)))
        });
        let Some((key, route)) = found else { return unresolved("no route", None) };
        if key.prefix.is_default() && !via_default {
            return unresolved("only the default route covers it", Some(key.prefix));
        }
        match route.kind {
            RouteType::Unicast => {}
            RouteType::Blackhole => return unresolved("through a blackhole route", Some(key.prefix)),
            _ => return unresolved("through an unreachable or prohibit route", Some(key.prefix)),
        }
        let mut connected = false;
        let mut hops: Vec<FibNextHop> = route
            .next_hops
            .iter()
            .map(|nh| match nh.gateway {
                Some(gateway) => FibNextHop { gateway, ifindex: nh.ifindex },
                None => {
                    connected = true;
                    FibNextHop { gateway: addr, ifindex: nh.ifindex }
                }
            })
            // An IPv4 gateway for an IPv6 next hop (RFC 5549 style) cannot be installed
            // as a plain gateway.
            .filter(|h| h.gateway.is_ipv4() == addr.is_ipv4())
            .collect();
        hops.sort_unstable();
        hops.dedup();
        if hops.is_empty() {
            return unresolved("the covering route has no usable next hop", Some(key.prefix));
        }
        Resolution { via: Some(key.prefix), connected, hops, reason: None }
    }
}

/// How a next hop resolves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The route it resolves through.
    pub via: Option<Prefix>,
    /// On a connected subnet.
    pub connected: bool,
    /// What the kernel forwards to, sorted.
    pub hops: Vec<FibNextHop>,
    /// Why it does not resolve; `None`: it does.
    pub reason: Option<&'static str>,
}

impl Resolution {
    pub fn resolved(&self) -> bool {
        self.reason.is_none()
    }
}

/// What changed in a [`NextHops::refresh`].
#[derive(Debug, PartialEq, Eq)]
pub enum Refreshed {
    Nothing,
    /// These next hops resolve differently now.
    Some(HashSet<IpAddr>),
    /// Tracking just started (or its rules changed): every next hop may differ.
    All,
}

/// The BGP next hops in the RIB and how each resolves, resolved when first seen and
/// again when the kernel's routes or addresses change.
#[derive(Debug, Default)]
pub struct NextHops {
    pub table: KernelTable,
    via_default: bool,
    tracked: HashMap<IpAddr, Resolution>,
    /// The tracking was on at the last refresh.
    was_on: bool,
}

impl NextHops {
    /// [`NextHops::resolved`] without tracking the address (for a dry run).
    pub fn resolves(&self, addr: IpAddr) -> bool {
        if !self.table.synced() {
            return true;
        }
        match self.tracked.get(&addr) {
            Some(r) => r.resolved(),
            None => self.table.resolve(addr, self.via_default).resolved(),
        }
    }

    /// Whether `addr` resolves (remembered for the next refresh).
    pub fn resolved(&mut self, addr: IpAddr) -> bool {
        if !self.table.synced() {
            return true;
        }
        let (table, via_default) = (&self.table, self.via_default);
        self.tracked.entry(addr).or_insert_with(|| table.resolve(addr, via_default)).resolved()
    }

    /// How `addr` resolves now (tracked or not).
    pub fn resolution(&mut self, addr: IpAddr) -> &Resolution {
        let (table, via_default) = (&self.table, self.via_default);
        self.tracked.entry(addr).or_insert_with(|| table.resolve(addr, via_default))
    }

    /// How a tracked next hop resolves.
    pub fn get(&self, addr: IpAddr) -> Option<&Resolution> {
        self.tracked.get(&addr)
    }

    /// Every tracked next hop.
    pub fn tracked(&self) -> impl Iterator<Item = (&IpAddr, &Resolution)> {
        self.tracked.iter()
    }

    /// `[kernel] resolve_via_default` changed: every next hop is resolved again.
    pub fn set_via_default(&mut self, on: bool) {
        if self.via_default != on {
            self.via_default = on;
            self.table.dirty = true;
            self.was_on = false;
        }
    }

    /// After kernel changes: resolves every tracked next hop again and says which
    /// resolve differently. Nothing while a dump is in progress.
    pub fn refresh(&mut self) -> Refreshed {
        if !self.table.dirty || self.table.syncing() || !self.table.synced() {
            return Refreshed::Nothing;
        }
        self.table.dirty = false;
        if !std::mem::replace(&mut self.was_on, true) {
            self.tracked.clear();
            return Refreshed::All;
        }
        let mut changed = HashSet::new();
        for (addr, r) in self.tracked.iter_mut() {
            let now = self.table.resolve(*addr, self.via_default);
            if now != *r {
                *r = now;
                changed.insert(*addr);
            }
        }
        if changed.is_empty() {
            Refreshed::Nothing
        } else {
            Refreshed::Some(changed)
        }
    }

    /// Forgets the next hops no path uses any more.
    pub fn retain(&mut self, used: &HashSet<IpAddr>) {
        self.tracked.retain(|a, _| used.contains(a));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::PROTOCOL_KERNEL;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn route(prefix: &str, kind: RouteType, hops: &[(Option<&str>, u32)]) -> KernelUpdate {
        KernelUpdate::Route(KernelRoute {
            key: RouteKey { table: TABLE_MAIN, prefix: p(prefix), metric: 0 },
            protocol: PROTOCOL_KERNEL,
            kind,
            next_hops: hops.iter().map(|&(g, i)| KernelNextHop { gateway: g.map(ip), ifindex: i }).collect(),
        })
    }
    fn synced(updates: Vec<KernelUpdate>) -> KernelTable {
        let mut t = KernelTable::default();
        t.apply(KernelUpdate::SyncBegin);
        for u in updates {
            t.apply(u);
        }
        t.apply(KernelUpdate::SyncEnd);
        t
    }

    #[test]
    fn everything_resolves_until_the_first_dump_ends() {
        let mut t = KernelTable::default();
        t.apply(KernelUpdate::SyncBegin);
        assert!(t.resolve(ip("192.0.2.1"), false).resolved());
        t.apply(KernelUpdate::SyncEnd);
        assert_eq!(t.resolve(ip("192.0.2.1"), false).reason, Some("no route"));
    }

    #[test]
    fn connected_recursive_default_and_blackhole() {
        let t = synced(vec![
            KernelUpdate::Address { ifindex: 2, address: ip("10.0.0.1"), prefix_len: 24 },
            route("10.0.0.0/24", RouteType::Unicast, &[(None, 2)]),
            route("172.16.0.0/16", RouteType::Unicast, &[(Some("10.0.0.254"), 2), (Some("10.0.0.253"), 2)]),
            route("0.0.0.0/0", RouteType::Unicast, &[(Some("10.0.0.254"), 2)]),
            route("172.16.9.0/24", RouteType::Blackhole, &[]),
        ]);
        let c = t.resolve(ip("10.0.0.7"), false);
        assert!(c.connected);
        assert_eq!(c.hops, vec![FibNextHop { gateway: ip("10.0.0.7"), ifindex: 2 }]);
        let r = t.resolve(ip("172.16.1.1"), false);
        assert!(!r.connected && r.resolved());
        assert_eq!(r.via, Some(p("172.16.0.0/16")));
        assert_eq!(r.hops.len(), 2);
        assert_eq!(t.resolve(ip("172.16.9.9"), false).reason, Some("through a blackhole route"));
        assert_eq!(t.resolve(ip("8.8.8.8"), false).reason, Some("only the default route covers it"));
        assert!(t.resolve(ip("8.8.8.8"), true).resolved());
        assert_eq!(t.resolve(ip("10.0.0.1"), false).reason, Some("one of our addresses"));
    }

    #[test]
    fn a_resync_keeps_what_it_repeats_and_drops_the_rest() {
        let mut t = synced(vec![
            route("10.0.0.0/24", RouteType::Unicast, &[(None, 2)]),
            route("10.9.0.0/24", RouteType::Unicast, &[(None, 2)]),
        ]);
        assert_eq!(t.take_changed(), vec![p("10.0.0.0/24"), p("10.9.0.0/24")]);
        t.dirty = false;
        t.apply(KernelUpdate::SyncBegin);
        t.apply(route("10.0.0.0/24", RouteType::Unicast, &[(None, 2)]));
        assert!(t.take_changed().is_empty(), "nothing is reported inside a dump");
        t.apply(KernelUpdate::SyncEnd);
        // The repeated route did not change; the one not repeated went, and next
        // hops are resolved again.
        assert_eq!(t.take_changed(), vec![p("10.9.0.0/24")]);
        assert!(t.dirty);
        assert_eq!(t.routes().count(), 1);
    }

    #[test]
    fn refresh_reports_next_hops_that_resolve_differently() {
        let mut n = NextHops::default();
        assert!(n.resolved(ip("10.0.0.7")), "on before the first dump");
        n.table = synced(vec![route("10.0.0.0/24", RouteType::Unicast, &[(None, 2)])]);
        assert_eq!(n.refresh(), Refreshed::All);
        assert!(n.resolved(ip("10.0.0.7")));
        assert!(!n.resolved(ip("10.1.0.7")));
        assert_eq!(n.refresh(), Refreshed::Nothing);
        n.table.apply(KernelUpdate::RouteDeleted(RouteKey { table: TABLE_MAIN, prefix: p("10.0.0.0/24"), metric: 0 }));
        assert_eq!(n.refresh(), Refreshed::Some([ip("10.0.0.7")].into()));
        assert!(!n.resolved(ip("10.0.0.7")));
    }
}
