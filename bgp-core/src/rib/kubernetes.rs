//! The engine's Kubernetes source: the planner (`crate::kubernetes::plan`) fed with
//! the client's updates, and its route changes applied to a local source of kind
//! [`SourceKind::Kubernetes`] (what policies match as `source = ["kubernetes"]`).
//!
//! ```text
//!  Engine::set_kubernetes(settings) ──► Planner::set_settings ─┐
//!  Engine::kubernetes(updates) ───────► Planner::update ───────┴─► RouteChanges ──► paths of the source
//!  Engine::kubernetes_routes() ◄── the planner's routes, with their provenance (show kubernetes)
//! ```
//!
//! The paths of a prefix:
//! - node mode: one, path id 0, with no next hop: ours on each session, as for
//!   `[[announce]]`;
//! - cluster mode: one per serving node, its next hop the node's InternalIP (a
//!   third-party next hop, kept toward iBGP peers and toward eBGP peers on the same
//!   subnet, `export.rs`), each with a path id of its own: [`OWN_PATH_IDS`] with the
//!   number this source gave the address. A peer with ADD-PATH (send) gets every
//!   path, whatever `global.multipath` is (`out.rs`); a peer without gets the best,
//!   which among our own paths equal but for the next hop is the one via the lowest
//!   address (`decision.rs`), so the choice does not depend on the order of events.
//!
//! The source is made at the first [`Engine::set_kubernetes`] with settings and kept
//! (its id) when Kubernetes is turned off: its routes go, and come back once it is
//! turned on again and the client has listed the objects again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use super::engine::Engine;
use super::kernel::local_next_hop;
use super::{RibState, SourceId, SourceKind};
use crate::ctl::{KubernetesOwnerRow, KubernetesRouteRow};
use crate::kubernetes::{KubeUpdate, KubernetesSettings, Owner, Planner, Provenance, RouteChange};
use crate::policy::set_next_hop;
use crate::prefix::Prefix;
use crate::wire::{AsPath, Origin, PathAttrs};

/// The bit set in the path ids of the source's cluster-mode paths: never 0 (the id of
/// a source's single path) and never the id `out::path_id_of` gives a source.
pub const OWN_PATH_IDS: u32 = 1 << 31;

/// What `show kubernetes` says of the source besides its routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesSourceStatus {
    pub settings: KubernetesSettings,
    /// Objects known: (Services, EndpointSlices, Nodes).
    pub objects: (usize, usize, usize),
    /// Prefixes announced.
    pub routes: usize,
    /// When the last updates came ([`Engine::kubernetes`]), if any came since the
    /// source was turned on.
    pub last_update: Option<Instant>,
}

/// The engine's Kubernetes state.
#[derive(Default)]
pub(super) struct KubeState {
    /// Made at the first settings, then kept.
    pub(super) source: Option<SourceId>,
    /// `None`: no `[kubernetes]` (or not yet): no routes.
    planner: Option<Planner>,
    /// Prefix -> its paths in the RIB: (next hop, path id); node mode: `(None, 0)`.
    paths: HashMap<Prefix, Vec<(Option<IpAddr>, u32)>>,
    /// Next hop -> its path id. Kept while the source is on, so a node's path has the
    /// same id in every prefix and across its comings and goings (an id given to
    /// another node at once would turn a withdrawal into a replacement); one entry per
    /// address ever seen, a few bytes for each node ever in the cluster.
    ids: HashMap<IpAddr, u32>,
    last_update: Option<Instant>,
}

impl KubeState {
    /// Makes the prefix's paths those via `hops` (`None`: next hop self), all gone when
    /// `hops` is empty. Paths that stay are not touched; new ones go in before old ones
    /// go, so a prefix whose every path changes keeps its entry and is replaced, not
    /// withdrawn and announced again.
    fn set_paths(&mut self, rib: &mut RibState, source: SourceId, prefix: Prefix, hops: &[Option<IpAddr>]) {
        // Both ascending (the planner's next hops are), so a hundred nodes cost no
        // more than a hundred searches.
        debug_assert!(hops.is_sorted(), "invariant: next hops ascending");
        let old = self.paths.remove(&prefix).unwrap_or_default();
        let mut now = Vec::with_capacity(hops.len());
        for &hop in hops {
            if let Ok(i) = old.binary_search_by_key(&hop, |&(h, _)| h) {
                now.push(old[i]);
                continue;
            }
            let id = hop.map_or(0, |h| self.id_of(h));
            rib.announce_path(source, prefix, id, route_attrs(prefix, hop));
            now.push((hop, id));
        }
        for &(hop, id) in &old {
            if hops.binary_search(&hop).is_err() {
                rib.withdraw_path(source, prefix, id);
            }
        }
        if !now.is_empty() {
            self.paths.insert(prefix, now);
        }
    }

    /// The path id of next hop `hop`.
    fn id_of(&mut self, hop: IpAddr) -> u32 {
        let next = OWN_PATH_IDS | self.ids.len() as u32;
        *self.ids.entry(hop).or_insert(next)
    }

    fn apply(&mut self, rib: &mut RibState, changes: Vec<RouteChange>) {
        let Some(source) = self.source else { return };
        for change in changes {
            match change {
                RouteChange::Added(prefix, route) | RouteChange::Changed(prefix, route) => {
                    let hops: Vec<Option<IpAddr>> = if route.next_hops.is_empty() {
                        vec![None]
                    } else {
                        route.next_hops.iter().copied().map(Some).collect()
                    };
                    self.set_paths(rib, source, prefix, &hops);
                }
                RouteChange::Withdrawn(prefix) => self.set_paths(rib, source, prefix, &[]),
            }
        }
    }

    fn withdraw_all(&mut self, rib: &mut RibState) {
        let Some(source) = self.source else { return };
        for (prefix, paths) in std::mem::take(&mut self.paths) {
            for (_, id) in paths {
                rib.withdraw_path(source, prefix, id);
            }
        }
        self.ids.clear();
    }
}

/// The attributes of the source's path for `prefix` via `hop` (`None`: ours on each
/// session, filled in at export).
fn route_attrs(prefix: Prefix, hop: Option<IpAddr>) -> PathAttrs {
    let mut attrs = PathAttrs { origin: Some(Origin::Igp), as_path: Some(AsPath::default()), ..PathAttrs::default() };
    match hop {
        Some(hop) => set_next_hop(&mut attrs, prefix, hop),
        None => local_next_hop(&mut attrs, prefix),
    }
    attrs
}

fn owner_row(p: &Provenance) -> KubernetesOwnerRow {
    let (kind, key) = match &p.owner {
        Owner::Service(k) => ("service", k),
        Owner::Node(k) => ("node", k),
    };
    KubernetesOwnerRow { kind: kind.into(), name: key.to_string(), ready_nodes: p.ready_nodes.clone() }
}

impl Engine {
    /// `[kubernetes]` at start and on reload, with the node name the daemon resolved
    /// (`KubernetesSettings::new`); `None`: no Kubernetes source, its routes are
    /// withdrawn. New settings plan every route again; what changed is announced.
    pub fn set_kubernetes(&mut self, now: Instant, settings: Option<KubernetesSettings>) {
        let Some(settings) = settings else {
            if self.kube.planner.take().is_some() {
                self.kube.withdraw_all(&mut self.rib);
            }
            self.kube.last_update = None;
            return;
        };
        if self.kube.source.is_none() {
            self.kube.source = Some(self.add_local_source(SourceKind::Kubernetes));
        }
        match &mut self.kube.planner {
            Some(planner) => {
                let changes = planner.set_settings(settings);
                self.kube.apply(&mut self.rib, changes);
                self.kube.last_update = Some(now);
            }
            None => self.kube.planner = Some(Planner::new(settings)),
        }
    }

    /// What the client's watchers saw, in order (relists bracketed by
    /// `KubeUpdate::SyncBegin`/`SyncEnd`). Ignored while there are no settings.
    pub fn kubernetes(&mut self, now: Instant, updates: impl IntoIterator<Item = KubeUpdate>) {
        let Some(planner) = &mut self.kube.planner else { return };
        let changes = planner.update(updates);
        self.kube.apply(&mut self.rib, changes);
        self.kube.last_update = Some(now);
    }

    /// The routes the Kubernetes source announces, by prefix, with their next hops and
    /// provenance (`show kubernetes`). Empty without settings.
    pub fn kubernetes_routes(&self) -> Vec<KubernetesRouteRow> {
        let Some(planner) = &self.kube.planner else { return Vec::new() };
        let mut routes: Vec<_> = planner.routes().collect();
        routes.sort_unstable_by_key(|(p, _)| **p);
        routes
            .into_iter()
            .map(|(prefix, route)| KubernetesRouteRow {
                prefix: prefix.to_string(),
                next_hops: route.next_hops.clone(),
                owners: route.provenance.iter().map(owner_row).collect(),
            })
            .collect()
    }

    /// Who the Kubernetes route of `prefix` is announced for (empty: none).
    pub fn kubernetes_owners(&self, prefix: Prefix) -> Vec<KubernetesOwnerRow> {
        let route = self.kube.planner.as_ref().and_then(|p| p.route(&prefix));
        route.map(|r| r.provenance.iter().map(owner_row).collect()).unwrap_or_default()
    }

    /// The source's settings and counts; `None` without settings.
    pub fn kubernetes_status(&self) -> Option<KubernetesSourceStatus> {
        let planner = self.kube.planner.as_ref()?;
        Some(KubernetesSourceStatus {
            settings: planner.settings().clone(),
            objects: planner.counts(),
            routes: planner.routes().count(),
            last_update: self.kube.last_update,
        })
    }

    /// The source Kubernetes routes come from, once there were settings.
    pub fn kubernetes_source(&self) -> Option<SourceId> {
        self.kube.source
    }
}

#[cfg(test)]
mod tests;
