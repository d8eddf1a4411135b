//! The engine's kernel side: kernel routes announced through `[[kernel.import]]`, the
//! kernel's routes and addresses feeding next-hop tracking (`nexthop.rs`), and the
//! FIB: the best path of each prefix learned from a peer, with its ECMP siblings,
//! through the next hops they resolve to (`fib.rs`).
//!
//! ```text
//!  Engine::kernel(updates) ──► KernelTable ──► import: add/delete on the kernel source
//!                                          └─► NextHops::refresh (in process) ──► decide again
//!  decide() changes ──► Fib queue ──► Engine::poll_fib(max) ──► FibRoutes (driver's writer)
//!  Engine::fib_results(answers) ◄── the writer
//! ```
//!
//! After a restart, our routes still in the kernel are stale; the driver's writer
//! knows which. The engine says when to sweep them ([`Output::SweepFib`]): once every
//! peer it waits for after the restart has sent End-of-RIB, those that restarted with
//! us (R bit) included, or when the deferral time is over.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use super::engine::{Engine, Event, Output};
use super::fib::{Fib, Refused, MAX_IN_FLIGHT};
use super::nexthop::{Refreshed, StoredRoute};
use super::restart::Deferral;
use super::show::{apply_policy, peer_route};
use super::{EntryId, Import, SourceId, SourceKind};
use crate::config::{Kernel as KernelConfig, KernelImport};
use crate::ctl::{FibNextHopRow, FibRow, FibState, KernelProvenance, NextHopRow};
use crate::kernel::{FibNextHop, FibResult, FibRoute, KernelUpdate, RouteKey, RouteType, PROTOCOL_KERNEL};
use crate::policy::Policy;
use crate::prefix::Prefix;
use crate::types::Family;
use crate::wire::{AsPath, MpReach, NextHop, Origin, PathAttrs};

/// `[kernel]` as the engine applies it.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelSettings {
    pub install: bool,
    pub table: u32,
    pub protocol: u8,
    pub metric: u32,
    /// `None`: every route learned from a peer is installed.
    pub install_policy: Option<Arc<Policy>>,
    pub resolve_via_default: bool,
    pub import: Vec<KernelImport>,
}

impl KernelSettings {
    pub fn new(cfg: &KernelConfig, install_policy: Option<Arc<Policy>>) -> KernelSettings {
        KernelSettings {
            install: cfg.install,
            table: cfg.table,
            protocol: cfg.protocol,
            metric: cfg.metric,
            install_policy,
            resolve_via_default: cfg.resolve_via_default,
            import: cfg.import.clone(),
        }
    }
}

impl Default for KernelSettings {
    fn default() -> KernelSettings {
        KernelSettings::new(&KernelConfig::default(), None)
    }
}

/// The engine's kernel state.
pub(super) struct KernelState {
    settings: KernelSettings,
    /// The local source `[[kernel.import]]` routes are announced from.
    source: SourceId,
    /// Prefixes announced from the kernel.
    imported: HashSet<Prefix>,
    pub(super) fib: Fib,
    /// After a restart: the peers whose End-of-RIB the sweep of our stale kernel routes
    /// waits for, and until when.
    sweep: Option<Deferral>,
    /// [`Output::SweepFib`] is still to be said.
    sweep_owed: bool,
}

impl KernelState {
    pub(super) fn new(source: SourceId, deferral: Option<&Deferral>) -> KernelState {
        KernelState {
            settings: KernelSettings::default(),
            source,
            imported: HashSet::new(),
            fib: Fib::new(),
            sweep: deferral.cloned(),
            sweep_owed: true,
        }
    }

    pub(super) fn sweep_mut(&mut self) -> Option<&mut Deferral> {
        self.sweep.as_mut()
    }

    pub(super) fn sweep_deadline(&self) -> Option<Instant> {
        self.sweep.as_ref().filter(|_| self.sweep_owed).map(|d| d.until)
    }
}

impl Engine {
    /// `[kernel]` at start and on reload. Imports are evaluated again, next hops
    /// resolved again, and when what is installed may differ, every prefix's FIB route
    /// is looked at again.
    pub fn set_kernel(&mut self, settings: KernelSettings) {
        self.rib.nht.set_via_default(settings.resolve_via_default);
        let fib_again = (self.kernel.settings.install, &self.kernel.settings.install_policy)
            != (settings.install, &settings.install_policy);
        let import_again =
            (&self.kernel.settings.import, self.kernel.settings.protocol) != (&settings.import, settings.protocol);
        self.kernel.settings = settings;
        if fib_again {
            self.queue_all_fib();
        }
        if import_again {
            let mut prefixes: Vec<Prefix> = self.rib.nht.table.routes().map(|(k, _)| k.prefix).collect();
            prefixes.extend(self.kernel.imported.iter().copied());
            prefixes.sort_unstable();
            prefixes.dedup();
            for prefix in prefixes {
                self.import(prefix);
            }
        }
    }

    pub fn kernel_settings(&self) -> &KernelSettings {
        &self.kernel.settings
    }

    /// Updates from the daemon's kernel reader, in the kernel's order.
    pub fn kernel(&mut self, updates: Vec<KernelUpdate>) {
        let any = !updates.is_empty();
        for update in updates {
            self.rib.nht.table.apply(update);
        }
        for prefix in self.rib.nht.table.take_changed() {
            self.import(prefix);
        }
        let lost = self.rib.nht.table.take_fib_lost();
        if !lost.is_empty() {
            self.kernel.fib.resend_through(&lost);
        }
        if any && !self.rib.nht.table.syncing() {
            // Routes the kernel refused may be accepted now (an address or route came).
            let fib = &self.kernel.fib;
            let retry: Vec<Prefix> = fib.refused.keys().chain(fib.dropped.keys()).copied().collect();
            for prefix in retry {
                if let Some(id) = self.rib.id_of(&prefix) {
                    self.kernel.fib.queue(id);
                }
            }
        }
    }

    /// The kernel route `[[kernel.import]]` announces for `prefix`: the first entry, in
    /// file order, with a matching route, and its lowest-metric matching route.
    fn import_choice(&self, prefix: Prefix) -> Option<(&KernelImport, &RouteKey, &StoredRoute)> {
        self.import_choice_in(&self.kernel.settings.import, prefix)
    }

    /// [`Engine::import_choice`] under the entries `rules`.
    fn import_choice_in<'a>(
        &'a self,
        rules: &'a [KernelImport],
        prefix: Prefix,
    ) -> Option<(&'a KernelImport, &'a RouteKey, &'a StoredRoute)> {
        let s = &self.kernel.settings;
        rules.iter().filter(|rule| rule.within.iter().any(|w| w.contains(prefix))).find_map(|rule| {
            self.rib
                .nht
                .table
                .routes_of(rule.table, prefix)
                .find(|(_, r)| imports(rule, r, s.protocol))
                .map(|(k, r)| (rule, k, r))
        })
    }

    /// Announces or withdraws the kernel source's route for `prefix`.
    fn import(&mut self, prefix: Prefix) {
        let source = self.kernel.source;
        match self.import_choice(prefix).map(|(rule, _, _)| imported_attrs(rule, prefix)) {
            Some(attrs) => {
                self.add(source, prefix, attrs);
                self.kernel.imported.insert(prefix);
            }
            None => {
                if self.kernel.imported.remove(&prefix) {
                    self.delete(source, prefix);
                }
            }
        }
    }

    /// The routes `[[kernel.import]]` would announce with the entries `rules`, from the
    /// kernel routes held now, by prefix (for a dry run; nothing changes).
    pub(super) fn kernel_imports_under(&self, rules: &[KernelImport]) -> HashMap<Prefix, PathAttrs> {
        let mut prefixes: Vec<Prefix> = self.rib.nht.table.routes().map(|(k, _)| k.prefix).collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        prefixes
            .into_iter()
            .filter_map(|p| self.import_choice_in(rules, p).map(|(rule, _, _)| (p, imported_attrs(rule, p))))
            .collect()
    }

    /// The source `[[kernel.import]]` routes come from.
    pub fn kernel_source(&self) -> SourceId {
        self.kernel.source
    }

    /// Where the kernel route behind an imported prefix was found.
    pub fn kernel_provenance(&self, prefix: Prefix) -> Option<KernelProvenance> {
        let (_, key, route) = self.import_choice(prefix)?;
        let device = route.next_hops.first().and_then(|nh| self.rib.nht.table.link_name(nh.ifindex)).map(String::from);
        Some(KernelProvenance { table: key.table, protocol: route.protocol, kind: route.kind.to_string(), device })
    }

    /// Next-hop tracking after kernel changes (part of [`Engine::process`]): the
    /// prefixes whose next hops resolve differently are decided again and their FIB
    /// routes looked at.
    pub(super) fn track_next_hops(&mut self) {
        let ids = match self.rib.nht.refresh() {
            Refreshed::Nothing => return,
            Refreshed::Some(changed) => self.rib.redecide_next_hops(Some(&changed)),
            Refreshed::All => self.rib.redecide_next_hops(None),
        };
        for id in ids {
            self.queue_fib(id);
        }
    }

    /// The entry's FIB route is looked at again (decision changes, next hops).
    pub(super) fn queue_fib(&mut self, id: EntryId) {
        if self.kernel.settings.install || self.kernel.fib.in_use(id) {
            self.kernel.fib.queue(id);
        }
    }

    fn queue_all_fib(&mut self) {
        for i in 0..self.rib.id_limit().max(self.kernel.fib.id_limit()) {
            let id = EntryId(i);
            if self.rib.entry(id).is_some_and(|e| !e.paths().is_empty()) || self.kernel.fib.in_use(id) {
                self.kernel.fib.queue(id);
            }
        }
    }

    /// The driver flushed our routes from the kernel (a metric change): everything is
    /// installed again, as new routes.
    pub fn fib_flushed(&mut self) {
        self.kernel.fib = Fib::new();
        self.queue_all_fib();
    }

    /// The next-hop set the kernel should hold for the entry: the resolved next hops of
    /// its ECMP set when its best path is from a peer and the install policy takes it.
    fn wanted_hops(&mut self, id: EntryId) -> Option<(Prefix, Vec<FibNextHop>)> {
        let entry = self.rib.entry(id)?;
        let prefix = entry.prefix();
        let s = &self.kernel.settings;
        let peer = entry.best().and_then(|b| self.rib.source(b.source)).and_then(SourceKind::peer);
        let next_hops: Vec<IpAddr> = match (s.install, peer) {
            (true, Some(peer)) => {
                let best = entry.best().expect("checked: a peer's best path");
                let taken = s.install_policy.as_ref().is_none_or(|policy| {
                    let attrs = self.rib.attrs().get(best.attrs);
                    let route = peer_route(prefix, peer.address, None);
                    apply_policy(policy, prefix, route, attrs, self.rib.config().local_as) != Import::Reject
                });
                match taken {
                    true => entry.multipath_paths().iter().filter_map(|p| self.rib.next_hop_of(p)).collect(),
                    false => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
        let mut hops = Vec::new();
        for nh in next_hops {
            let r = self.rib.nht.resolution(nh);
            if r.resolved() {
                hops.extend_from_slice(&r.hops);
            }
        }
        let table = &self.rib.nht.table;
        hops.retain(|h| !table.is_ours(h.gateway));
        hops.sort_unstable();
        hops.dedup();
        Some((prefix, hops))
    }

    /// Up to `max` routes for the FIB writer: the queued prefixes whose route in the
    /// kernel is not what it should be. A prefix already in flight waits for its answer,
    /// and nothing comes while [`super::fib::MAX_IN_FLIGHT`] routes wait for theirs.
    ///
    /// Nothing while our restart deferral lasts (RFC 4724 §4.1 defers route selection):
    /// the kernel keeps forwarding with the routes from before the restart, and gets
    /// the decisions once the peers' tables are complete, not a prefix's first path
    /// of several.
    pub fn poll_fib(&mut self, max: usize) -> Vec<FibRoute> {
        let mut out = Vec::new();
        if self.deferring() {
            return out;
        }
        while out.len() < max && self.kernel.fib.flights.len() < MAX_IN_FLIGHT {
            let Some((id, current)) = self.kernel.fib.pop() else { break };
            let Some((prefix, hops)) = self.wanted_hops(id) else { continue };
            let fib = &mut self.kernel.fib;
            let retry =
                fib.resend.remove(&id) || fib.refused.contains_key(&prefix) || fib.dropped.contains_key(&prefix);
            if hops.is_empty() && current == 0 {
                fib.refused.remove(&prefix);
                fib.dropped.remove(&prefix);
                continue;
            }
            if fib.find_set(&hops) == Some(current) && !retry {
                continue;
            }
            fib.send(id, prefix, current, hops.clone());
            out.push(FibRoute { prefix, next_hops: hops, replace: current != 0 });
        }
        out
    }

    /// Prefixes waiting for [`Engine::poll_fib`].
    pub fn fib_queued(&self) -> usize {
        self.kernel.fib.queued()
    }

    /// The FIB writer's answers.
    pub fn fib_results(&mut self, results: Vec<FibResult>) {
        let mut refused: Option<(usize, Prefix, String)> = None;
        for r in results {
            let fib = &mut self.kernel.fib;
            let Some(flight) = fib.flights.get(&r.prefix).copied() else { continue };
            let sent = match r.error {
                Some(_) => fib.hops(fib.state(flight.id).0).to_vec(),
                None => Vec::new(),
            };
            let again = fib.answer(r.prefix, r.error.is_some());
            fib.writes += 1;
            fib.failures += u64::from(r.error.is_some());
            match r.error {
                Some(error) => {
                    let newly = fib.refused.get(&r.prefix).is_none_or(|old| old.error != error);
                    if newly && error.foreign {
                        self.outputs.push_back(Output::Event(Event::FibForeign { prefix: r.prefix }));
                    } else if newly {
                        let n = refused.get_or_insert_with(|| (0, r.prefix, error.to_string()));
                        n.0 += 1;
                    }
                    fib.refused.insert(r.prefix, Refused { next_hops: sent, error });
                }
                None => {
                    fib.refused.remove(&r.prefix);
                    if r.dropped.is_empty() {
                        fib.dropped.remove(&r.prefix);
                    } else {
                        if !fib.dropped.contains_key(&r.prefix) {
                            let (hop, error) = &r.dropped[0];
                            let ev = Event::FibNextHopRefused {
                                prefix: r.prefix,
                                gateway: hop.gateway,
                                error: error.to_string(),
                            };
                            self.outputs.push_back(Output::Event(ev));
                        }
                        fib.dropped.insert(r.prefix, r.dropped);
                    }
                }
            }
            if let Some(id) = again {
                self.kernel.fib.queue(id);
            }
        }
        if let Some((routes, prefix, error)) = refused {
            self.outputs.push_back(Output::Event(Event::FibRefused { routes, prefix, error }));
        }
    }

    /// Says [`Output::SweepFib`] once the peers awaited after a restart are done, or
    /// at once after a fresh start (part of [`Engine::process`]).
    pub(super) fn sweep_if_done(&mut self, now: Instant) {
        if !self.kernel.sweep_owed {
            return;
        }
        if let Some(d) = &self.kernel.sweep {
            if !d.awaiting.is_empty() && now < d.until {
                return;
            }
        }
        self.kernel.sweep = None;
        self.kernel.sweep_owed = false;
        self.outputs.push_back(Output::SweepFib);
    }

    /// The rows of `show fib`: one prefix, or every prefix with a FIB route (sorted).
    pub fn fib_prefixes(&self, prefix: Option<Prefix>) -> Vec<Prefix> {
        let fib = &self.kernel.fib;
        let mut out: Vec<Prefix> = match prefix {
            Some(p) => vec![p],
            None => (0..fib.id_limit())
                .filter(|&i| fib.in_use(EntryId(i)))
                .filter_map(|i| self.rib.entry(EntryId(i)).map(|e| e.prefix()))
                .chain(fib.refused.keys().copied())
                .collect(),
        };
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The `show fib` row of `prefix`, if it has a route in the kernel, on its way, or
    /// refused.
    pub fn fib_row(&self, prefix: Prefix) -> Option<FibRow> {
        let fib = &self.kernel.fib;
        let s = &self.kernel.settings;
        let hop_row = |h: &FibNextHop| FibNextHopRow {
            gateway: Some(h.gateway),
            ifindex: h.ifindex,
            device: self.rib.nht.table.link_name(h.ifindex).map(String::from),
        };
        let mut row = FibRow {
            prefix: prefix.to_string(),
            table: s.table,
            protocol: s.protocol,
            metric: s.metric,
            next_hops: Vec::new(),
            state: FibState::Installed,
            error: None,
            errno: None,
        };
        if let Some(r) = fib.refused.get(&prefix) {
            row.next_hops = r.next_hops.iter().map(hop_row).collect();
            (row.state, row.error, row.errno) = (FibState::Failed, Some(r.error.to_string()), Some(r.error.errno));
            return Some(row);
        }
        let id = self.rib.id_of(&prefix).or_else(|| fib.flights.get(&prefix).map(|f| f.id))?;
        let (set, queued, flying) = fib.state(id);
        if set == 0 && !flying {
            return None;
        }
        row.next_hops = fib.hops(set).iter().map(hop_row).collect();
        if flying || queued {
            row.state = FibState::Pending;
        }
        if let Some(dropped) = fib.dropped.get(&prefix) {
            let text: Vec<String> =
                dropped.iter().map(|(h, e)| format!("next hop {} refused: {e}", h.gateway)).collect();
            row.error = Some(text.join("; "));
        }
        Some(row)
    }

    /// The rows of `show nexthops`, by address.
    pub fn next_hop_rows(&self) -> Vec<NextHopRow> {
        let mut paths: HashMap<IpAddr, u64> = HashMap::new();
        for (_, entry) in self.rib.iter() {
            for p in entry.paths() {
                if let Some(nh) = self.rib.next_hop_of(p) {
                    *paths.entry(nh).or_default() += 1;
                }
            }
        }
        let table = &self.rib.nht.table;
        let via_default = self.kernel.settings.resolve_via_default;
        let mut rows: Vec<NextHopRow> = paths
            .into_iter()
            .map(|(address, paths)| {
                let r = table.resolve(address, via_default);
                NextHopRow {
                    address,
                    resolved: r.resolved(),
                    via: r.via.map(|v| v.to_string()),
                    connected: r.connected,
                    next_hops: r
                        .hops
                        .iter()
                        .map(|h| FibNextHopRow {
                            gateway: Some(h.gateway),
                            ifindex: h.ifindex,
                            device: table.link_name(h.ifindex).map(String::from),
                        })
                        .collect(),
                    paths,
                    reason: r.reason.map(String::from),
                }
            })
            .collect();
        rows.sort_by_key(|r| r.address);
        rows
    }

    /// Whether a path's next hop resolves, for `show routes` (our own routes do).
    pub fn path_reachable(&self, p: &super::Path) -> bool {
        match self.rib.next_hop_of(p) {
            None => true,
            Some(nh) => match self.rib.nht.get(nh) {
                Some(r) => r.resolved(),
                None => self.rib.nht.table.resolve(nh, self.kernel.settings.resolve_via_default).resolved(),
            },
        }
    }
}

/// Whether `[[kernel.import]]` entry `rule` takes the kernel route `r` (its table and
/// prefix already match). `ours`: `[kernel] protocol`.
fn imports(rule: &KernelImport, r: &StoredRoute, ours: u8) -> bool {
    let protocol = match rule.protocol.is_empty() {
        true => r.protocol != ours && r.protocol != PROTOCOL_KERNEL,
        false => rule.protocol.contains(&r.protocol),
    };
    let kind = match rule.kind.is_empty() {
        true => matches!(r.kind, RouteType::Unicast | RouteType::Blackhole),
        false => rule.kind.contains(&r.kind),
    };
    protocol && kind
}

/// An imported route's attributes: ORIGIN IGP, our next hop on each session (filled in
/// at export), and the entry's communities, LOCAL_PREF and MED.
fn imported_attrs(rule: &KernelImport, prefix: Prefix) -> PathAttrs {
    let mut attrs = PathAttrs {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::default()),
        local_pref: rule.local_pref,
        med: rule.med,
        communities: rule.communities.clone(),
        large_communities: rule.large_communities.clone(),
        ..PathAttrs::default()
    };
    local_next_hop(&mut attrs, prefix);
    attrs
}

/// A local route without a configured next hop: ours on each session, filled in at
/// export (IPv6 routes carry an unspecified MP_REACH next hop until then).
pub(super) fn local_next_hop(attrs: &mut PathAttrs, prefix: Prefix) {
    if matches!(prefix, Prefix::V6(_)) && attrs.mp_reach.is_none() {
        attrs.mp_reach = Some(Box::new(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::V6 { global: Ipv6Addr::UNSPECIFIED, link_local: None },
            nlri: Vec::new(),
        }));
    }
}
