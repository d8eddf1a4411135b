//! What `bgpctl show routes` and `show summary` read from the engine: the query, a
//! resumable walk over the table (OpenBGPD's `rde_dump_ctx`), longest match, and one
//! prefix's rows.

use std::net::IpAddr;

use super::engine::{Engine, PeerId};
use super::out::family_of;
use super::{Entry, Path, SourceKind};
use crate::ctl::{RibSummary, RouteDirection, RouteRow};
use crate::policy::{Policy, RouteInfo, RouteSource, Verdict};
use crate::prefix::{Prefix, Prefix4, Prefix6};
use crate::types::Family;
use crate::wire::PathAttrs;

use super::Import;

/// A parsed `show routes` request.
#[derive(Clone, Debug)]
pub struct RouteQuery {
    pub prefix: Option<PrefixOrAddress>,
    pub neighbor: Option<(IpAddr, RouteDirection)>,
    pub family: Option<Family>,
}

#[derive(Clone, Copy, Debug)]
pub enum PrefixOrAddress {
    Prefix(Prefix),
    /// Longest-prefix match.
    Address(IpAddr),
}

/// A `show routes` in progress: the prefixes to visit, in order, each one's rows made
/// when its turn comes, so a full-table dump never holds up routing and rows reflect
/// the table as it is when they are made.
#[derive(Debug)]
pub struct RouteDump {
    query: RouteQuery,
    prefixes: Vec<Prefix>,
    next: usize,
    rows: usize,
}

/// What one step of a dump gives.
#[derive(Debug, PartialEq)]
pub enum DumpStep {
    Rows(Vec<RouteRow>),
    /// Every prefix was visited: the dump is over.
    End,
    /// A query for one prefix that has no route: over, with this error.
    NoRoute,
}

impl RouteDump {
    /// The rows of up to `max` more prefixes, from the table as it is now.
    pub fn step(&mut self, engine: &Engine, max: usize) -> DumpStep {
        if self.next == self.prefixes.len() {
            return match (self.query.prefix.is_some(), self.rows) {
                (true, 0) => DumpStep::NoRoute,
                _ => DumpStep::End,
            };
        }
        // The neighbor is looked up once per step, not once per prefix.
        let view = engine.view_for(&self.query);
        let end = (self.next + max.max(1)).min(self.prefixes.len());
        let mut rows = Vec::new();
        for &prefix in &self.prefixes[self.next..end] {
            engine.route_rows(&self.query, view, prefix, &mut rows);
        }
        self.next = end;
        self.rows += rows.len();
        DumpStep::Rows(rows)
    }
}

/// The neighbor a dump shows, resolved for one step.
#[derive(Clone, Copy)]
pub(super) enum View {
    Table,
    Received(PeerId),
    Advertised(PeerId),
    Gone,
}

impl Engine {
    /// Starts a `show routes`, or says why it cannot run.
    pub fn route_dump(&self, query: RouteQuery) -> Result<RouteDump, String> {
        let wanted = |p: &Prefix| query.family.is_none_or(|f| family_of(*p) == f);
        let mut prefixes: Vec<Prefix> = match (&query.prefix, query.neighbor) {
            (_, Some((addr, RouteDirection::Advertised))) if self.member_ids(addr).is_none() => {
                return Err(format!("no Established neighbor {addr}"));
            }
            (_, Some((addr, RouteDirection::Received))) if self.peer_id(addr).is_none() => {
                return Err(format!("no routes from neighbor {addr}"));
            }
            (Some(PrefixOrAddress::Prefix(p)), _) => vec![*p],
            (Some(PrefixOrAddress::Address(a)), _) => self.longest_match(*a).into_iter().collect(),
            (None, Some((addr, RouteDirection::Advertised))) => {
                let ids = self.advertised_ids(addr);
                ids.into_iter().filter_map(|id| self.rib().entry(id)).map(|e| e.prefix()).filter(wanted).collect()
            }
            (None, _) => self.rib().iter().map(|(p, _)| p).filter(wanted).collect(),
        };
        prefixes.sort_unstable();
        Ok(RouteDump { query, prefixes, next: 0, rows: 0 })
    }

    pub(super) fn view_for(&self, q: &RouteQuery) -> View {
        match q.neighbor {
            None => View::Table,
            Some((addr, dir)) => match (self.peer_id(addr), dir) {
                (Some(id), RouteDirection::Received) => View::Received(id),
                (Some(id), RouteDirection::Advertised) => View::Advertised(id),
                (None, _) => View::Gone,
            },
        }
    }

    /// The rows of one prefix.
    fn route_rows(&self, q: &RouteQuery, view: View, prefix: Prefix, rows: &mut Vec<RouteRow>) {
        let one = q.prefix.is_some();
        match view {
            View::Gone => {}
            View::Advertised(peer) => {
                let Some(id) = self.rib().id_of(&prefix) else { return };
                for (path_id, attrs) in self.advertised_at(peer, id) {
                    let mut row = RouteRow::new(prefix, &attrs, "local".into());
                    (row.valid, row.best, row.path_id) = (true, true, path_id);
                    rows.push(row);
                }
            }
            View::Received(peer) => {
                let Some(entry) = self.rib().get(&prefix) else { return };
                let from = self.source_name(peer);
                for p in entry.paths().iter().filter(|p| p.source == peer) {
                    let mut r = RouteRow::new(prefix, self.rib().attrs().get(p.attrs_in), from.clone());
                    (r.path_id, r.valid, r.stale) = (p.path_id, true, p.is_stale());
                    r.reachable = self.path_reachable(p);
                    rows.push(r);
                }
            }
            View::Table => {
                let Some(entry) = self.rib().get(&prefix) else { return };
                let shown: &[Path] = if one { entry.paths() } else { entry.multipath_paths() };
                for (i, p) in shown.iter().enumerate() {
                    rows.push(self.table_row(prefix, &entry, i, p, one));
                }
            }
        }
    }

    pub(super) fn table_row(&self, prefix: Prefix, entry: &Entry<'_>, i: usize, p: &Path, detail: bool) -> RouteRow {
        let mut r = RouteRow::new(prefix, self.rib().attrs().get(p.attrs), self.source_name(p.source));
        r.path_id = p.path_id;
        r.valid = true;
        r.best = i == 0 && entry.multipath > 0;
        r.multipath = i < usize::from(entry.multipath);
        r.stale = p.is_stale();
        r.reachable = self.path_reachable(p);
        if p.source == self.kernel_source() {
            r.kernel = self.kernel_provenance(prefix);
        }
        if Some(p.source) == self.kubernetes_source() {
            r.kubernetes = self.kubernetes_owners(prefix);
        }
        if r.best && detail {
            r.reason = entry.step.map(|s| s.describe().to_string());
        }
        r
    }

    /// The most specific prefix in the table that covers `addr`.
    pub fn longest_match(&self, addr: IpAddr) -> Option<Prefix> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (0..=max).rev().find_map(|len| {
            let p = match addr {
                IpAddr::V4(a) => Prefix::V4(Prefix4::new(a, len)?),
                IpAddr::V6(a) => Prefix::V6(Prefix6::new(a, len)?),
            };
            self.rib().get(&p).map(|_| p)
        })
    }

    /// How a source is named in `show routes`.
    pub fn source_name(&self, source: super::SourceId) -> String {
        match self.rib().source(source) {
            Some(SourceKind::Peer(p)) => p.address.to_string(),
            Some(SourceKind::Static) => "static".into(),
            Some(SourceKind::Kernel) => "kernel".into(),
            Some(SourceKind::Kubernetes) => "kubernetes".into(),
            None => "?".into(),
        }
    }

    /// The table's share of `show summary`; the caller adds the process and neighbor
    /// figures.
    pub fn summary(&self) -> RibSummary {
        let mut s = RibSummary::default();
        for (prefix, entry) in self.rib().iter() {
            let paths = entry.paths().len() as u64;
            match prefix {
                Prefix::V4(_) => (s.ipv4_prefixes, s.ipv4_paths) = (s.ipv4_prefixes + 1, s.ipv4_paths + paths),
                Prefix::V6(_) => (s.ipv6_prefixes, s.ipv6_paths) = (s.ipv6_prefixes + 1, s.ipv6_paths + paths),
            }
        }
        let stats = self.rib().attr_stats();
        s.attribute_sets = stats.sets as u64;
        s.attribute_refs = stats.refs;
        s
    }
}

/// Runs an import policy over one route; clones the attributes only when the policy
/// has terms that could change them.
pub(super) fn apply_policy(
    policy: &Policy,
    prefix: Prefix,
    route: RouteInfo,
    attrs: &PathAttrs,
    local_as: u32,
) -> Import {
    if policy.terms.is_empty() {
        return if policy.default == Verdict::Accept { Import::Accept } else { Import::Reject };
    }
    let mut edited = attrs.clone();
    debug_assert_eq!(route.prefix, prefix);
    match policy.apply(&route, &mut edited, local_as) {
        Verdict::Reject => Import::Reject,
        Verdict::Accept if edited == *attrs => Import::Accept,
        Verdict::Accept => Import::Modified(Box::new(edited)),
    }
}

/// The route of a peer, as an import policy sees it.
pub(super) fn peer_route(prefix: Prefix, neighbor: IpAddr, local: Option<IpAddr>) -> RouteInfo {
    RouteInfo { prefix, source: RouteSource::Peer, neighbor: Some(neighbor), local_address: local }
}
