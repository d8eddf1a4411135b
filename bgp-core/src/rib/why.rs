//! `bgpctl why PREFIX|ADDRESS`: the whole story of one route, read from the engine
//! without changing it.
//!
//! - Where each path came from: the peer and its AS path, `[[announce]]`, the kernel
//!   route (table, protocol, type, device), the Kubernetes Service or Node.
//! - How the import policy treated it: the policy is run again, traced
//!   ([`crate::policy::trace`]), on the Adj-RIB-In copy (`attrs_in`). Refused routes
//!   are not in the table; the bounded record of refusals (refused.rs) holds their
//!   attributes as received, and the loop checks and the policy are run again on it.
//! - Why the best path won (the step the decision recorded) and, for each other
//!   path, the step that decided against it in a comparison with the best alone.
//! - For each neighbor: sent or not, and which export rule (export.rs) or export
//!   policy term stopped it. RFC 8212 is the config's business, so the driver says
//!   which neighbors have no `export_policy` / `import_policy`.
//! - The FIB: installed with which next hops, or why not.
//!
//! The words for a missing route are the ones operators search for: "no source has
//! it", "rejected by policy X term Y", "next hop unresolved", "RFC 8212, no
//! export_policy".

use std::net::IpAddr;
use std::sync::Arc;

use super::decision::{self, Step};
use super::engine::{Engine, PeerId};
use super::export::{export, Refused};
use super::out::{family_of, is_accept_all};
use super::show::{peer_route, PrefixOrAddress};
use super::{candidate, Path, Rejection, SourceKind};
use crate::ctl::why::{WhyFib, WhyPath, WhyPeer, WhyRejected, WhyReport};
use crate::ctl::{FibState, KubernetesOwnerRow, RouteRow};
use crate::policy::trace::{describe_changes, PolicyTrace, TermStep};
use crate::policy::{Policy, RouteInfo, RouteSource};
use crate::prefix::Prefix;
use crate::wire::PathAttrs;

/// "no source has it": no path, and no peer's refused route is recorded.
pub const NO_SOURCE: &str = "no source has it";
/// A neighbor without `export_policy` under RFC 8212.
pub const RFC8212_EXPORT: &str = "RFC 8212, no export_policy";
pub const RFC8212_IMPORT: &str = "RFC 8212, no import_policy";
pub const NEXT_HOP_UNRESOLVED: &str = "next hop unresolved";
/// A neighbor without a session (the driver adds configured ones the engine never saw).
pub const NOT_ESTABLISHED: &str = "session not Established";

/// A `why` request, with what only the configuration knows.
#[derive(Clone, Debug)]
pub struct WhyQuery {
    pub target: PrefixOrAddress,
    /// The request as typed, echoed in the report.
    pub text: String,
    /// Neighbors whose export policy is the RFC 8212 default (eBGP, none set).
    pub rfc8212_export: Vec<IpAddr>,
    /// Neighbors whose import policy is the RFC 8212 default.
    pub rfc8212_import: Vec<IpAddr>,
}

impl Engine {
    /// The story of the prefix asked, or of an address's longest match.
    pub fn why(&self, q: &WhyQuery) -> WhyReport {
        let mut report = WhyReport { query: q.text.clone(), ..WhyReport::default() };
        let prefix = match q.target {
            PrefixOrAddress::Prefix(p) => Some(p),
            PrefixOrAddress::Address(a) => {
                // The table's longest match, or a longer refused prefix: that is the
                // route that would have carried the address.
                let table = self.longest_match(a);
                let refused = self.rib.refused.longest_covering(a);
                match (table, refused) {
                    (Some(t), Some(r)) if r.prefix_len() > t.prefix_len() => Some(r),
                    (t, r) => t.or(r),
                }
            }
        };
        let Some(prefix) = prefix else {
            report.verdict = NO_SOURCE.into();
            report.fib.reason = Some(NO_SOURCE.into());
            report.peers = self.why_peers(q, None, None, NO_SOURCE);
            self.note_unrecorded(&mut report);
            return report;
        };
        report.prefix = Some(prefix.to_string());
        report.rejected = self.why_rejected(q, prefix);
        let entry = self.rib.get(&prefix);
        if let Some(entry) = entry {
            let best = entry.best();
            report.best_reason = entry.step.map(|s| s.describe().to_string());
            for (i, p) in entry.paths().iter().enumerate() {
                let mut path = WhyPath {
                    route: self.table_row(prefix, &entry, i, p, true),
                    source: self.describe_source(prefix, p),
                    import: self.import_trace(prefix, p),
                    next_hop: self.describe_next_hop(p),
                    lost: None,
                };
                if i > 0 || best.is_none() {
                    path.lost = Some(self.lost(p, best, i < usize::from(entry.multipath)));
                }
                report.paths.push(path);
            }
        }
        let best = entry.and_then(|e| e.best().copied());
        // Why there is no route, in the words; "" while there is one.
        let missing = match (entry, best) {
            (_, Some(_)) => String::new(),
            (Some(_), None) => {
                let why = report.paths.iter().filter_map(|p| p.next_hop.clone()).next();
                why.map_or_else(|| NEXT_HOP_UNRESOLVED.to_string(), |w| w.to_string())
            }
            (None, None) => match report.rejected.first() {
                Some(r) => r.reason.clone(),
                None => NO_SOURCE.into(),
            },
        };
        report.peers = self.why_peers(q, Some(prefix), best.as_ref(), &missing);
        report.fib = self.why_fib(prefix, best.as_ref(), &missing);
        report.verdict = match best {
            None => missing,
            Some(b) => {
                let sent = report.peers.iter().filter(|p| p.sent).count();
                // Neighbors without a session are the driver's to add: counted apart.
                let up = report.peers.iter().filter(|p| p.reason.as_deref() != Some(NOT_ESTABLISHED)).count();
                let from = match self.rib.source(b.source) {
                    Some(SourceKind::Static) => "[[announce]]".to_string(),
                    _ => self.source_name(b.source),
                };
                let fib = match (&report.fib.state, &report.fib.reason) {
                    (Some(state), _) if report.fib.installed => state.clone(),
                    (Some(state), Some(reason)) => format!("FIB {state}: {reason}"),
                    (Some(state), None) => format!("FIB {state}"),
                    (None, Some(reason)) => format!("not installed: {reason}"),
                    (None, None) => "not installed".into(),
                };
                let reason = report.best_reason.clone().unwrap_or_default();
                let plural = if up == 1 { "" } else { "s" };
                format!("best path from {from} ({reason}), sent to {sent} of {up} Established neighbor{plural}, {fib}")
            }
        };
        if report.paths.is_empty() && report.rejected.is_empty() {
            self.note_unrecorded(&mut report);
        }
        report
    }

    fn note_unrecorded(&self, report: &mut WhyReport) {
        for (source, n) in self.rib.refused.unrecorded() {
            report.notes.push(format!(
                "{n} routes refused from {} were not recorded (the record holds {}): this may be one",
                self.source_name(source),
                super::refused::MAX_REFUSED
            ));
        }
    }

    /// Where a path came from, in words.
    fn describe_source(&self, prefix: Prefix, p: &Path) -> String {
        match self.rib.source(p.source) {
            Some(SourceKind::Peer(peer)) => {
                let attrs = self.rib.attrs().get(p.attrs_in);
                let path = attrs.as_path.as_ref().map(|p| p.to_string()).filter(|s| !s.is_empty());
                let kind = match (peer.internal, peer.rr_client) {
                    (false, _) => "eBGP",
                    (true, false) => "iBGP",
                    (true, true) => "iBGP, route reflector client",
                };
                let path = path.unwrap_or_else(|| "(empty)".into());
                // RFC 9494 marks a long-lived stale path with LLGR_STALE; RFC 4724's
                // stale paths carry only our flag.
                let stale = match (super::llgr::is_llgr_stale(self.rib.attrs().get(p.attrs)), p.is_stale()) {
                    (true, _) => ", long-lived stale (LLGR, least preferred)",
                    (false, true) => ", stale (graceful restart)",
                    (false, false) => "",
                };
                format!("peer {} (AS {}, {kind}), AS path {path}{stale}", peer.address, peer.asn)
            }
            Some(SourceKind::Static) => "[[announce]]".into(),
            Some(SourceKind::Kernel) => match self.kernel_provenance(prefix) {
                Some(k) => format!(
                    "kernel route: table {}, protocol {}, type {}, device {}",
                    k.table,
                    k.protocol,
                    k.kind,
                    k.device.as_deref().unwrap_or("none")
                ),
                None => "kernel route ([[kernel.import]])".into(),
            },
            Some(SourceKind::Kubernetes) => {
                let owners: Vec<String> = self.kubernetes_owners(prefix).iter().map(describe_owner).collect();
                match owners.is_empty() {
                    true => "Kubernetes".into(),
                    false => format!("Kubernetes {}", owners.join("; ")),
                }
            }
            None => "?".into(),
        }
    }

    /// The import policy's trace on the path as received (peers only).
    fn import_trace(&self, prefix: Prefix, p: &Path) -> Option<PolicyTrace> {
        let state = self.peer(p.source)?;
        let route = peer_route(prefix, state.address, state.local);
        Some(self.traced_import(&state.import, route, self.rib.attrs().get(p.attrs_in)))
    }

    /// The import as `drain::import` runs it: the graceful shutdown rules (RFC 8326),
    /// shown as a first step when they apply, then the policy.
    fn traced_import(&self, policy: &Policy, route: RouteInfo, received: &PathAttrs) -> PolicyTrace {
        let drained = route.neighbor.is_some_and(|a| self.drain.covers(a));
        let local_as = self.rib.config().local_as;
        let Some(mut marked) = super::drain::inbound(received, drained) else {
            return policy.trace(&route, &mut received.clone(), local_as);
        };
        let step = TermStep {
            term: match drained {
                true => "graceful shutdown (RFC 8326): drained neighbor".into(),
                false => "graceful shutdown (RFC 8326): GRACEFUL_SHUTDOWN community".into(),
            },
            matched: true,
            changes: describe_changes(received, &marked),
            action: Some("next".into()),
        };
        let mut trace = policy.trace(&route, &mut marked, local_as);
        trace.steps.insert(0, step);
        if trace.accepted() {
            trace.changes = describe_changes(received, &marked);
        }
        trace
    }

    fn describe_next_hop(&self, p: &Path) -> Option<String> {
        let nh = self.rib.next_hop_of(p)?;
        if !self.rib.nht.table.synced() {
            return Some(format!("{nh}: not checked (no kernel routing table read yet)"));
        }
        let r = match self.rib.nht.get(nh) {
            Some(r) => r.clone(),
            None => self.rib.nht.table.resolve(nh, self.kernel_settings().resolve_via_default),
        };
        Some(match (r.reason, r.via) {
            (Some(reason), _) => format!("{NEXT_HOP_UNRESOLVED}: {nh} ({reason})"),
            (None, _) if r.connected => format!("{nh} is on a connected subnet"),
            (None, Some(via)) => format!("{nh} resolves through {via}"),
            (None, None) => format!("{nh} resolves"),
        })
    }

    /// Why `p` is not the best path (`best`), in words.
    fn lost(&self, p: &Path, best: Option<&Path>, ecmp: bool) -> String {
        let Some(best) = best else {
            return match self.describe_next_hop(p) {
                Some(nh) if nh.starts_with(NEXT_HOP_UNRESOLVED) => nh,
                _ => NEXT_HOP_UNRESOLVED.into(),
            };
        };
        if ecmp {
            return "ECMP sibling of the best path".into();
        }
        let reach = |q: &Path| !self.rib.nht.table.synced() || self.path_reachable(q);
        let cfg = self.rib.config();
        let cand = |q: &Path| decision::Candidate {
            reachable: reach(q),
            ..candidate(cfg, &self.rib.sources, &self.rib.attrs, q)
        };
        let d = decision::decide(&[cand(best), cand(p)], cfg.always_compare_med, 1);
        match (d.best, d.step) {
            (0, Step::Arrival) => "equal to the best path, which came first".into(),
            (0, step) => format!("lost to the best path: {}", step.describe()),
            // Alone with the best it would win: the MED step compares within each
            // neighbor AS, so the whole set decided (RFC 4271 §9.1.2.2 c).
            _ => "lost in the decision among all paths (MED is compared within each neighbor AS)".into(),
        }
    }

    /// The refused routes of `prefix` and why each was refused.
    fn why_rejected(&self, q: &WhyQuery, prefix: Prefix) -> Vec<WhyRejected> {
        let mut out = Vec::new();
        for (source, path_id, attrs_in) in self.rib.refused.of_prefix(prefix) {
            let attrs = self.rib.attrs().get(attrs_in);
            let Some(SourceKind::Peer(peer)) = self.rib.source(source) else { continue };
            let mut import = None;
            let reason = match self.rib.loop_check(source, attrs) {
                Some(r) => describe_rejection(r, self.rib.config().local_as),
                None if q.rfc8212_import.contains(&peer.address) => RFC8212_IMPORT.into(),
                None if self.next_hop_is_ours(source, attrs) => "its next hop is one of our addresses".into(),
                None => match self.peer(source) {
                    Some(state) => {
                        let route = peer_route(prefix, state.address, state.local);
                        let trace = self.traced_import(&state.import, route, attrs);
                        let reason = match trace.accepted() {
                            true => format!(
                                "refused by an earlier import policy ({} now accepts it; it was asked for again with ROUTE-REFRESH)",
                                trace.policy
                            ),
                            false => trace.describe(),
                        };
                        import = Some(trace);
                        reason
                    }
                    None => "refused on import".into(),
                },
            };
            let mut route = RouteRow::new(prefix, attrs, peer.address.to_string());
            route.path_id = path_id;
            out.push(WhyRejected { prefix: prefix.to_string(), from: peer.address, path_id, reason, import, route });
        }
        out
    }

    fn next_hop_is_ours(&self, source: PeerId, attrs: &PathAttrs) -> bool {
        let Some(state) = self.peer(source) else { return false };
        super::decision::next_hop_ip(attrs).is_some_and(|ip| state.own.contains(&ip))
    }

    /// Each neighbor the engine knows: sent the best path or not, and why not.
    fn why_peers(&self, q: &WhyQuery, prefix: Option<Prefix>, best: Option<&Path>, missing: &str) -> Vec<WhyPeer> {
        let mut peers: Vec<(PeerId, IpAddr)> = self.peers().collect();
        peers.sort_by_key(|&(_, a)| a);
        let id = prefix.and_then(|p| self.rib.id_of(&p));
        let mut out = Vec::new();
        for (peer, address) in peers {
            let drained = self.drain.covers(address);
            let mut row = WhyPeer { address, sent: false, reason: None, export: None, drained };
            let member = self.groups.iter().find_map(|g| g.member(peer).map(|m| (g, m)));
            let sent = id.map(|id| self.advertised_at(peer, id)).unwrap_or_default();
            match (member, best) {
                (None, _) => row.reason = Some(NOT_ESTABLISHED.into()),
                (Some(_), None) => row.reason = Some(missing.to_string()),
                (Some((g, m)), Some(best)) => {
                    let prefix = prefix.expect("invariant: a best path has a prefix");
                    let from = self.rib.source(best.source);
                    let attrs = self.rib.attrs().get(best.attrs);
                    let exported = from.map(|k| export(self.rib.config(), best.source, k, &m.target, attrs));
                    let family = family_of(prefix);
                    let policy = &g.sig.policy;
                    if !g.sig.families.contains(&family) {
                        row.reason = Some(format!("{family} not negotiated on the session"));
                    } else if let Some(Err(r)) = exported {
                        row.reason = Some(describe_refused(r).into());
                    } else if q.rfc8212_export.contains(&address) && !sent.is_empty() {
                        // Cannot be: RFC 8212's policy rejects everything.
                        row.sent = true;
                    } else if q.rfc8212_export.contains(&address) {
                        row.reason = Some(RFC8212_EXPORT.into());
                    } else if let Some(Ok(mut out)) = exported {
                        let trace = (!is_accept_all(policy))
                            .then(|| export_trace(policy, prefix, from, &m.target, &mut out, self));
                        if let Some(t) = trace.as_ref().filter(|t| !t.accepted()) {
                            row.reason = Some(t.describe());
                        } else if !sent.is_empty() {
                            row.sent = true;
                        } else if out.effective_next_hop().is_none() {
                            row.reason = Some("no next hop of ours for the family on the session".into());
                        } else {
                            row.reason = Some("not sent yet (queued, or waiting for MRAI or a full writer)".into());
                        }
                        row.export = trace;
                    }
                }
            }
            // ADD-PATH sends other paths besides the best: what the peer holds counts.
            if !sent.is_empty() && !row.sent {
                row.sent = true;
                row.reason = None;
            }
            out.push(row);
        }
        out
    }

    /// The route in the kernel, or why it is not there.
    fn why_fib(&self, prefix: Prefix, best: Option<&Path>, missing: &str) -> WhyFib {
        let mut fib = WhyFib::default();
        if let Some(row) = self.fib_row(prefix) {
            fib.installed = row.state == FibState::Installed;
            fib.state = Some(
                match row.state {
                    FibState::Installed => "installed",
                    FibState::Pending => "pending",
                    FibState::Failed => "failed",
                }
                .into(),
            );
            fib.next_hops = row.next_hops;
            fib.reason = row.error;
            return fib;
        }
        let settings = self.kernel_settings();
        let local_as = self.rib.config().local_as;
        fib.reason = Some(match best {
            None => missing.to_string(),
            Some(_) if !settings.install => "[kernel] install = false".into(),
            Some(b) => match self.rib.source(b.source) {
                Some(SourceKind::Peer(peer)) => {
                    let refused = settings.install_policy.as_ref().map(|policy| {
                        let mut attrs = self.rib.attrs().get(b.attrs).clone();
                        policy.trace(&peer_route(prefix, peer.address, None), &mut attrs, local_as)
                    });
                    match refused.filter(|t| !t.accepted()) {
                        Some(t) => format!("install_policy: {}", t.describe()),
                        None if self.deferring() => {
                            "held back until the peers' End-of-RIB after our restart (RFC 4724 §4.1)".into()
                        }
                        None if !self.path_reachable(b) => NEXT_HOP_UNRESOLVED.into(),
                        None => "its next hops resolve to none of ours to install (or it is queued)".into(),
                    }
                }
                _ => format!("a route of our own ({}) is announced, not installed", self.source_name(b.source)),
            },
        });
        fib
    }
}

/// The export policy's trace toward one neighbor, as `UpdateGroup::export_fresh`
/// runs it.
fn export_trace(
    policy: &Arc<Policy>,
    prefix: Prefix,
    from: Option<&SourceKind>,
    target: &super::export::ExportTarget,
    attrs: &mut PathAttrs,
    engine: &Engine,
) -> PolicyTrace {
    let source = match from {
        Some(SourceKind::Static) => RouteSource::Static,
        Some(SourceKind::Kernel) => RouteSource::Kernel,
        Some(SourceKind::Kubernetes) => RouteSource::Kubernetes,
        _ => RouteSource::Peer,
    };
    let route = RouteInfo {
        prefix,
        source,
        neighbor: Some(target.peer.address),
        local_address: target.local_v4.map(IpAddr::V4),
    };
    policy.trace(&route, attrs, engine.rib.config().local_as)
}

fn describe_owner(o: &KubernetesOwnerRow) -> String {
    match (o.kind.as_str(), o.ready_nodes.is_empty()) {
        ("service", true) => format!("Service {} (externalTrafficPolicy: Cluster)", o.name),
        ("service", false) => format!(
            "Service {} (externalTrafficPolicy: Local, ready endpoints on {})",
            o.name,
            o.ready_nodes.join(", ")
        ),
        ("node", _) => format!("Node {} (its pod CIDR)", o.name),
        (kind, _) => format!("{kind} {}", o.name),
    }
}

fn describe_refused(r: Refused) -> &'static str {
    match r {
        Refused::SplitHorizon => "it came from this neighbor (split horizon)",
        Refused::NoAdvertise => "NO_ADVERTISE community",
        Refused::NoExport => "NO_EXPORT community: not sent to eBGP neighbors",
        Refused::NotReflected => {
            "iBGP route toward an iBGP neighbor, and neither is a route reflector client (RFC 4456)"
        }
        Refused::NoNextHop => "no next hop of ours for the family on the session",
        Refused::LongLivedStale => "long-lived stale, and the neighbor has no long-lived graceful restart (RFC 9494)",
    }
}

fn describe_rejection(r: Rejection, local_as: u32) -> String {
    match r {
        Rejection::AsLoop => format!("AS loop: our AS {local_as} is in the AS_PATH"),
        Rejection::FirstAsNotPeers => "the AS_PATH does not start with the neighbor's AS".into(),
        Rejection::OriginatorIsUs => "ORIGINATOR_ID is our router id (reflected back to us)".into(),
        Rejection::ClusterLoop => "our cluster id is in the CLUSTER_LIST (RFC 4456 loop)".into(),
        Rejection::ImportPolicy => "rejected by the import policy".into(),
    }
}

#[cfg(test)]
mod tests;
