//! What a reload would do to the routes, without doing it (`bgpctl reload --dry-run`).
//!
//! [`Engine::dry_run`] runs the new import policies over the routes held (as received:
//! each path keeps its pre-policy attributes), the new `[[announce]]` list, the
//! decision over the result, and the new export policies for every Established peer,
//! and compares what each peer would hold with what it holds now. Nothing is
//! interned, queued or sent: the engine is borrowed, not changed.
//!
//! New `[[kernel.import]]` entries run over the kernel routes the engine holds (it
//! keeps the kernel's table for next-hop tracking), as a reload runs them.
//!
//! What it cannot know, and says so by leaving it out: routes the old import policy
//! refused are not kept (see `RibState::reimport`), so those the new policy would
//! accept arrive only after the route refresh a reload asks for; and routes of the
//! Kubernetes source under a changed `[kubernetes]`, which only a relist tells.
//!
//! Cost: one walk of the table, with one export per Established peer and prefix, on
//! the RIB task (which routes nothing meanwhile): an operator's command, not a
//! periodic one.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::decision::{self, Candidate};
use super::drain;
use super::engine::{Engine, PeerId};
use super::export::{export, ExportTarget};
use super::kernel::local_next_hop;
use super::out::{family_of, is_accept_all, path_id_of, UpdateGroup};
use super::show::peer_route;
use super::{candidate_with, EntryId, Import, Path, SourceId, SourceKind};
use crate::config::{Announce, KernelImport};
use crate::policy::{Policy, RouteInfo, Verdict};
use crate::prefix::Prefix;
use crate::wire::PathAttrs;

/// The new configuration, as far as routes go.
#[derive(Clone, Debug, Default)]
pub struct DryRunInput<'a> {
    /// New (import, export) policies by peer address; a peer not named keeps its own.
    pub policies: HashMap<IpAddr, (Arc<Policy>, Arc<Policy>)>,
    /// Peers gone from the configuration: their routes go and they are sent nothing.
    pub removed: HashSet<IpAddr>,
    /// The new `[[announce]]` list, when it changed.
    pub announcements: Option<&'a [Announce]>,
    /// New `global.multipath` and `global.always_compare_med`, when they changed.
    pub routing: Option<(usize, bool)>,
    /// The new `[[kernel.import]]` entries, when they changed: run over the kernel
    /// routes the engine holds (for next-hop tracking), as a reload runs them.
    pub kernel_import: Option<&'a [KernelImport]>,
}

/// One Established peer's routes from us, now and after the reload. Routes are
/// counted as the peer counts them: one per prefix, one per path with ADD-PATH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteDelta {
    pub address: IpAddr,
    /// Routes the peer holds from us now.
    pub before: u64,
    /// Routes it would hold.
    pub after: u64,
    /// Newly sent: held after and not now.
    pub sent: u64,
    /// Withdrawn: held now and not after.
    pub withdrawn: u64,
    /// Routes held from the peer that its new import policy refuses (they go).
    pub import_refused: u64,
}

/// A peer routes are exported to, and what it holds now.
struct Target<'a> {
    id: PeerId,
    group: &'a UpdateGroup,
    target: &'a ExportTarget,
    export: Arc<Policy>,
    /// Gone from the configuration: it will hold nothing.
    removed: bool,
    /// What it holds follows only from the entries the new configuration changes: its
    /// export policy stays and its group has sent all it has (so what it holds is
    /// what the current Loc-RIB exports).
    same_export: bool,
    delta: RouteDelta,
}

impl Engine {
    /// Every Established peer's [`RouteDelta`] under `input`, by address. Costs one
    /// walk of the table, and one export per prefix the new configuration touches and
    /// per prefix of a peer whose export policy changes.
    pub fn dry_run(&self, input: &DryRunInput<'_>) -> Vec<RouteDelta> {
        let cfg = self.rib.config();
        // Peers whose import policy changes, with what the policy needs to know.
        let mut imports: HashMap<SourceId, (Arc<Policy>, IpAddr, Option<IpAddr>, bool)> = HashMap::new();
        for (id, state) in self.peers.iter().enumerate().filter_map(|(i, p)| Some((SourceId(i as u32), p.as_ref()?))) {
            if let Some((import, _)) = input.policies.get(&state.address) {
                if *import != state.import {
                    let drained = self.drain.covers(state.address);
                    imports.insert(id, (import.clone(), state.address, state.local, drained));
                }
            }
        }
        let removed: HashSet<SourceId> = input.removed.iter().filter_map(|&a| self.peer_id(a)).collect();

        let mut targets: Vec<Target<'_>> = Vec::new();
        for g in &self.groups {
            for m in &g.members {
                let address = m.target().peer.address;
                let current = g.group.export_policy();
                let export = match input.policies.get(&address) {
                    Some((_, e)) => e.clone(),
                    None => current.clone(),
                };
                let same_export = *export == **current && !g.busy();
                targets.push(Target {
                    id: m.peer,
                    group: &g.group,
                    target: m.target(),
                    export,
                    removed: input.removed.contains(&address),
                    same_export,
                    delta: RouteDelta { address, before: 0, after: 0, sent: 0, withdrawn: 0, import_refused: 0 },
                });
            }
        }

        // Local sources whose routes the new configuration replaces: their routes now
        // are left out, and these put in.
        let mut replaced: Vec<(SourceId, HashMap<Prefix, PathAttrs>)> = Vec::new();
        if let Some(list) = input.announcements {
            let routes = list
                .iter()
                .map(|a| {
                    let mut attrs = a.path_attrs();
                    local_next_hop(&mut attrs, a.prefix);
                    (a.prefix, attrs)
                })
                .collect();
            replaced.push((self.statics(), routes));
        }
        if let Some(rules) = input.kernel_import {
            replaced.push((self.kernel_source(), self.kernel_imports_under(rules)));
        }
        let mut seen: HashSet<Prefix> = HashSet::new();

        let mut paths: Vec<(Path, Cow<'_, PathAttrs>)> = Vec::new();
        for i in 0..self.rib.id_limit() {
            let Some(entry) = self.rib.entry(EntryId(i)) else { continue };
            let prefix = entry.prefix();
            paths.clear();
            // Whether anything the decision sees differs for this prefix.
            let mut changed = input.routing.is_some();
            for p in entry.paths() {
                if removed.contains(&p.source) || replaced.iter().any(|(s, _)| *s == p.source) {
                    changed = true;
                    continue;
                }
                if imports.contains_key(&p.source) {
                    changed = true;
                }
                let attrs = match imports.get(&p.source) {
                    None => Cow::Borrowed(self.rib.attrs.get(p.attrs)),
                    Some((policy, address, local, drained)) => {
                        // As `Engine::set_policies` runs it: RFC 8326's inbound marks first.
                        let route = peer_route(prefix, *address, *local);
                        let received = self.rib.attrs.get(p.attrs_in);
                        match drain::import(policy, prefix, route, received, cfg.local_as, *drained) {
                            Import::Reject => {
                                if let Some(t) = targets.iter_mut().find(|t| t.id == p.source) {
                                    t.delta.import_refused += 1;
                                }
                                continue;
                            }
                            Import::Accept => Cow::Borrowed(self.rib.attrs.get(p.attrs_in)),
                            Import::Modified(a) => Cow::Owned(*a),
                        }
                    }
                };
                paths.push((*p, attrs));
            }
            for (source, routes) in &replaced {
                if let Some(attrs) = routes.get(&prefix) {
                    seen.insert(prefix);
                    paths.push((Path { source: *source, ..Path::default() }, Cow::Borrowed(attrs)));
                }
            }
            if !changed && targets.iter().all(|t| t.same_export && !t.removed) {
                // The common case of a reload that changes one peer's policies: most
                // prefixes are not touched at all.
                for t in &mut targets {
                    let held = t.group.advertised_path_ids(t.id, EntryId(i)).count() as u64;
                    (t.delta.before, t.delta.after) = (t.delta.before + held, t.delta.after + held);
                }
                continue;
            }
            let best = self.decide_dry(&paths, input.routing);
            for t in &mut targets {
                let now: Vec<u32> = t.group.advertised_path_ids(t.id, EntryId(i)).collect();
                let after = match (t.removed, t.same_export && !changed) {
                    (true, _) => Vec::new(),
                    (false, true) => now.clone(),
                    (false, false) => self.export_dry(t, prefix, &paths, &best),
                };
                t.delta.count(&now, &after);
            }
        }
        // New routes of prefixes the table does not hold.
        let mut new: Vec<Prefix> =
            replaced.iter().flat_map(|(_, r)| r.keys()).filter(|p| !seen.contains(p)).copied().collect();
        new.sort_unstable();
        new.dedup();
        for prefix in new {
            paths.clear();
            for (source, routes) in &replaced {
                if let Some(attrs) = routes.get(&prefix) {
                    paths.push((Path { source: *source, ..Path::default() }, Cow::Borrowed(attrs)));
                }
            }
            let best = self.decide_dry(&paths, input.routing);
            for t in targets.iter_mut().filter(|t| !t.removed) {
                let after = self.export_dry(t, prefix, &paths, &best);
                t.delta.count(&[], &after);
            }
        }

        let mut deltas: Vec<RouteDelta> = targets.into_iter().map(|t| t.delta).collect();
        deltas.sort_by_key(|d| d.address);
        deltas
    }

    /// The decision over `paths` (as `RibState::decide` runs it): the indices of the
    /// ECMP set, best first; empty when no path is usable.
    fn decide_dry(&self, paths: &[(Path, Cow<'_, PathAttrs>)], routing: Option<(usize, bool)>) -> Vec<usize> {
        let rib = &self.rib;
        let reachable = |(p, attrs): &(Path, Cow<'_, PathAttrs>)| {
            let local = rib.source(p.source).is_none_or(SourceKind::is_local);
            local || super::decision::next_hop_ip(attrs).is_none_or(|nh| rib.nht.resolves(nh))
        };
        let cands: Vec<Candidate<'_>> = paths
            .iter()
            .map(|pa| Candidate {
                reachable: reachable(pa),
                ..candidate_with(rib.config(), &rib.sources, &pa.1, pa.0.source)
            })
            .collect();
        if !cands.iter().any(|c| c.reachable) {
            return Vec::new();
        }
        if cands.len() == 1 {
            return vec![0];
        }
        let (multipath, always_compare_med) =
            routing.unwrap_or((rib.config().multipath, rib.config().always_compare_med));
        decision::decide(&cands, always_compare_med, multipath).multipath
    }

    /// The path ids `t` would hold for `prefix` (as `UpdateGroup::sync` chooses them).
    fn export_dry(
        &self,
        t: &Target<'_>,
        prefix: Prefix,
        paths: &[(Path, Cow<'_, PathAttrs>)],
        best: &[usize],
    ) -> Vec<u32> {
        let family = family_of(prefix);
        if !t.group.families().contains(&family) {
            return Vec::new();
        }
        let mut ids: Vec<u32> = Vec::new();
        if !t.group.ctx().add_path(family) {
            if let Some(&b) = best.first() {
                if self.exports(t, prefix, &paths[b]) {
                    ids.push(0);
                }
            }
            return ids;
        }
        let mut expanded: Vec<SourceId> = Vec::new();
        for &b in best {
            let p = &paths[b].0;
            let local = self.rib.source(p.source).is_some_and(SourceKind::is_local);
            if p.path_id != 0 && local {
                // A local source with several paths: every one of them.
                if expanded.contains(&p.source) {
                    continue;
                }
                expanded.push(p.source);
                for q in paths.iter().filter(|q| q.0.source == p.source) {
                    if self.exports(t, prefix, q) {
                        ids.push(q.0.path_id);
                    }
                }
                continue;
            }
            let pid = path_id_of(p.source);
            if !ids.contains(&pid) && self.exports(t, prefix, &paths[b]) {
                ids.push(pid);
            }
        }
        ids.sort_unstable();
        ids
    }

    /// Whether the route goes to `t`: the export rules, its export policy, a next hop.
    fn exports(&self, t: &Target<'_>, prefix: Prefix, (path, attrs): &(Path, Cow<'_, PathAttrs>)) -> bool {
        let cfg = self.rib.config();
        let Some(from) = self.rib.source(path.source) else { return false };
        let Ok(mut exported) = export(cfg, path.source, from, t.target, attrs) else { return false };
        if !is_accept_all(&t.export) {
            let source = from.policy_source();
            let route = RouteInfo {
                prefix,
                source,
                neighbor: Some(t.target.peer.address),
                local_address: t.target.local_v4.map(IpAddr::V4),
            };
            if t.export.apply(&route, &mut exported, cfg.local_as) == Verdict::Reject {
                return false;
            }
        }
        exported.effective_next_hop().is_some()
    }
}

impl RouteDelta {
    /// Adds one prefix: the path ids held now and after, both ascending.
    fn count(&mut self, now: &[u32], after: &[u32]) {
        self.before += now.len() as u64;
        self.after += after.len() as u64;
        self.sent += after.iter().filter(|p| now.binary_search(p).is_err()).count() as u64;
        self.withdrawn += now.iter().filter(|p| after.binary_search(p).is_err()).count() as u64;
    }
}

#[cfg(test)]
mod tests;
