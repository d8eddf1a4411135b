//! What a reload changes: [`diff`] compares the running configuration with the new
//! one and returns a [`ReloadPlan`], or why the new one cannot be applied without a
//! restart ([`ReloadRefused`]). Pure; the daemon applies the plan.
//!
//! The rules, key by key:
//! - `global.listen`, `global.control_socket`, `global.control_socket_readonly`:
//!   refused (the sockets are bound at start).
//! - `global.asn`, `global.router_id`, `global.cluster_id`: refused, restart
//!   required (every session, the RIB's loop checks and every path's attributes
//!   depend on them).
//! - `global.multipath`, `global.always_compare_med`: routing only, no session
//!   restarts; [`ReloadPlan::routing`] carries the new values for the RIB.
//! - `global.connect_retry`, `global.connect_retry_max`,
//!   `global.graceful_restart_time`, `global.hostname`,
//!   `global.min_advertisement_interval`, `global.min_hold_time`,
//!   `global.send_hold_time`: every session is
//!   built from them, so every
//!   session restarts ([`ReloadPlan::restart_all`]).
//! - `global.hold_time`: reaches sessions only as the inherited `hold_time` of
//!   neighbors and ranges, which the per-peer rules below compare: only peers that
//!   inherit it restart.
//! - `global.on_stop`, `global.drain_time`: read when the daemon stops; no session
//!   restarts.
//! - A `[[neighbor]]` gone from the file stops with Cease / Peer De-configured; one
//!   whose session settings (anything but `shutdown` and the policy names) changed
//!   restarts with Cease / Other Configuration Change; one whose `shutdown` alone
//!   flipped is shut down or enabled; one whose policies changed by contents (the
//!   named policy, or a prefix list it uses, not just the name) gets them without a
//!   restart; a new one starts.
//! - Dynamic neighbors ([`ReloadPlan::dynamic`]): restart when their range changed
//!   (prefix, limit or session settings) or vanished, when their address became a
//!   `[[neighbor]]`, or with every session; otherwise get new policies if those
//!   changed.
//! - `bfd`, `bfd_interval_ms`, `bfd_multiplier` of a neighbor or range: no session
//!   restarts; the daemon brings every live session's BFD session in line with the
//!   new file (added, removed, or new intervals by a Poll sequence).
//! - `[[announce]]`: the new list when it changed.
//! - `kernel.table`, `kernel.protocol`: refused, restart required (the routes
//!   installed so far are known to the kernel by them).
//! - Any other `[kernel]` key (`install`, `metric`, `install_policy`, also the
//!   install policy's contents under the same name, `resolve_via_default`) or
//!   `[[kernel.import]]`: applied at run time, no session restarts;
//!   [`ReloadPlan::kernel`] carries the new `[kernel]`.
//! - `[kubernetes]` (any key, or the section added or removed): applied at run time,
//!   no session restarts; [`ReloadPlan::kubernetes`] carries the new section (the
//!   daemon restarts its Kubernetes client, and the engine replans its routes).
//! - `global.metrics_listen`: applied at run time, no session restarts;
//!   [`ReloadPlan::metrics_listen`] carries the new address (the daemon binds it
//!   before it lets the old endpoint go).
//!
//! Each restart carries its reason, the changed keys by their KEYS.md names
//! ([`ReloadPlan::why_restart`], [`ReloadPlan::why_restart_dynamic`]), which
//! `bgpctl reload --dry-run` shows.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use super::{Announce, Config, Global, Kernel, Kubernetes, Neighbor, PeerSettings};
use crate::policy::{Policy, PolicyRef};

/// A peer's policies as its session uses them, resolved from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerPolicies {
    pub import: Arc<Policy>,
    pub export: Arc<Policy>,
    /// Why routes will not flow (RFC 8212), see [`PeerSettings::rfc8212_notice`].
    pub rfc8212_notice: Option<String>,
}

impl PeerPolicies {
    /// Whether the two pass and change the same routes: the policies compared by
    /// contents (so a policy or prefix list edited under the same name differs).
    pub fn same_routes(&self, other: &PeerPolicies) -> bool {
        self.import == other.import && self.export == other.export
    }
}

impl Config {
    /// The import and export policies of a peer with `settings`, resolved
    /// ([`PeerSettings::effective_import`]: RFC 8212 for eBGP without a policy).
    pub fn peer_policies(&self, settings: &PeerSettings) -> PeerPolicies {
        let resolve = |which: PolicyRef<'_>| Arc::new(self.policies.resolve(which).clone());
        PeerPolicies {
            import: resolve(settings.effective_import(&self.global)),
            export: resolve(settings.effective_export(&self.global)),
            rfc8212_notice: settings.rfc8212_notice(&self.global),
        }
    }

    /// `kernel.install_policy`, resolved; `None` when unset (every route is installed).
    pub fn install_policy(&self) -> Option<Arc<Policy>> {
        self.kernel.install_policy.as_deref().and_then(|name| self.policies.get_shared(name))
    }
}

/// Why a new configuration cannot be applied by a reload. `Display` names the keys
/// (the caller puts the file's name in front).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadRefused {
    /// `global.listen`, `global.control_socket` or `global.control_socket_readonly` changed.
    Sockets,
    /// These keys (`global.asn`, `global.router_id`, `global.cluster_id`) changed.
    Identity(Vec<&'static str>),
    /// These keys (`kernel.table`, `kernel.protocol`) changed.
    Kernel(Vec<&'static str>),
}

impl fmt::Display for ReloadRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadRefused::Sockets => {
                f.write_str("global.listen, global.control_socket and global.control_socket_readonly apply at start only: restart bgp-daemon")
            }
            ReloadRefused::Identity(keys) => {
                let keys = keys.join(" and ");
                write!(f, "{keys} changed: restart required (restart bgp-daemon to apply it)")
            }
            ReloadRefused::Kernel(keys) => {
                let keys = keys.join(" and ");
                write!(
                    f,
                    "{keys} changed: restart required (the installed routes are found by them; \
                     restart bgp-daemon to apply it)"
                )
            }
        }
    }
}

/// The routing engine's settings, when a reload changed them (the new values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutingChange {
    /// `global.multipath`.
    pub multipath: u8,
    /// `global.always_compare_med`.
    pub always_compare_med: bool,
}

/// What becomes of a live dynamic neighbor (one accepted from a `[[neighbor_range]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DynamicAction {
    /// Nothing changes for it.
    Keep,
    /// Stop it with Cease / Other Configuration Change; it may connect again.
    Restart,
    /// Hand it these policies, without a restart.
    Policies(PeerPolicies),
}

/// What happens to the live dynamic neighbors of one old `[[neighbor_range]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeChange {
    /// The old range's prefix.
    pub prefix: IpNet,
    pub action: DynamicAction,
}

/// What a reload does, from [`diff`]. Addresses are in the old file's order
/// (`added`: the new file's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// Session-relevant `[global]` keys changed: every session restarts (configured
    /// neighbors are in `restarted`; dynamic ones answer [`DynamicAction::Restart`]).
    pub restart_all: bool,
    /// `[[neighbor]]`s gone: stop with Cease / Peer De-configured.
    pub removed: Vec<IpAddr>,
    /// `[[neighbor]]`s to stop with Cease / Other Configuration Change and start
    /// again from the new file.
    pub restarted: Vec<IpAddr>,
    /// `[[neighbor]]`s that stay up whose `shutdown` changed: its new value.
    pub shutdown: Vec<(IpAddr, bool)>,
    /// `[[neighbor]]`s that stay up whose policies changed by contents.
    pub policies: Vec<(IpAddr, PeerPolicies)>,
    /// New `[[neighbor]]`s to start.
    pub added: Vec<IpAddr>,
    /// One entry per old `[[neighbor_range]]`; see [`ReloadPlan::dynamic`].
    pub ranges: Vec<RangeChange>,
    /// The new `[[announce]]` list, when it changed.
    pub announcements: Option<Vec<Announce>>,
    /// The new routing settings, when `multipath` or `always_compare_med` changed.
    pub routing: Option<RoutingChange>,
    /// The new `[kernel]`, when anything in it changed (its `table` and `protocol`
    /// are the old ones: changing those is refused), the install policy's contents
    /// included; [`Config::install_policy`] of the new configuration resolves it.
    pub kernel: Option<Kernel>,
    /// `Some(new)` when `[kubernetes]` changed: `Some(None)` when the section was
    /// removed (the Kubernetes source stops and its routes are withdrawn).
    pub kubernetes: Option<Option<Kubernetes>>,
    /// `global.metrics_listen` changed: the endpoint is bound at the new address
    /// (`None`: turned off).
    pub metrics_listen: Option<Option<SocketAddr>>,
    /// Why sessions restart, for `bgpctl reload --dry-run`: the `[global]` keys
    /// behind `restart_all` (empty without it).
    pub restart_all_keys: Vec<&'static str>,
    /// The changed keys of each `[[neighbor]]` in `restarted`, by address (the keys
    /// of `restart_all_keys` when that alone restarts it).
    pub restart_keys: Vec<(IpAddr, Vec<&'static str>)>,
    /// The changed keys of each old `[[neighbor_range]]` whose sessions restart
    /// (`["neighbor_range"]` when the range is gone or its prefix changed).
    pub range_keys: Vec<(IpNet, Vec<&'static str>)>,
}

impl ReloadPlan {
    /// The changed keys that restart the configured neighbor at `address` (empty
    /// when it does not restart).
    pub fn why_restart(&self, address: IpAddr) -> &[&'static str] {
        self.restart_keys.iter().find(|(a, _)| *a == address).map_or(&[], |(_, k)| k.as_slice())
    }

    /// The changed keys that restart a live dynamic neighbor at `address` (empty
    /// when it does not restart; see [`ReloadPlan::dynamic`]).
    pub fn why_restart_dynamic(&self, address: IpAddr) -> Vec<&'static str> {
        let address = address.to_canonical();
        if self.restart_all {
            return self.restart_all_keys.clone();
        }
        if self.added.contains(&address) {
            return vec!["neighbor.address"];
        }
        match self.ranges.iter().find(|r| r.prefix.contains(&address)) {
            Some(r) if r.action == DynamicAction::Restart => {
                self.range_keys.iter().find(|(p, _)| *p == r.prefix).map_or(vec![], |(_, k)| k.clone())
            }
            Some(_) => vec![],
            None => vec!["neighbor_range"],
        }
    }

    /// What becomes of the live dynamic neighbor at `address`.
    pub fn dynamic(&self, address: IpAddr) -> DynamicAction {
        let address = address.to_canonical();
        if self.restart_all || self.added.contains(&address) {
            return DynamicAction::Restart;
        }
        match self.ranges.iter().find(|r| r.prefix.contains(&address)) {
            Some(r) => r.action.clone(),
            None => DynamicAction::Restart,
        }
    }

    /// Configured neighbors to stop, with whether they are gone for good (`true`:
    /// Peer De-configured) or restart (`false`).
    pub fn stops(&self) -> impl Iterator<Item = (IpAddr, bool)> + '_ {
        self.removed.iter().map(|&a| (a, true)).chain(self.restarted.iter().map(|&a| (a, false)))
    }
}

/// Compares the running configuration `old` with `new`. `Err` when `new` needs a
/// restart of the daemon; the running configuration then stays as it is.
pub fn diff(old: &Config, new: &Config) -> Result<ReloadPlan, ReloadRefused> {
    let (g, h) = (&old.global, &new.global);
    if (&g.listen, &g.control_socket, &g.control_socket_readonly)
        != (&h.listen, &h.control_socket, &h.control_socket_readonly)
    {
        return Err(ReloadRefused::Sockets);
    }
    let identity = [
        ("global.asn", g.asn != h.asn),
        ("global.router_id", g.router_id != h.router_id),
        ("global.cluster_id", g.cluster_id != h.cluster_id),
    ];
    let changed: Vec<&'static str> = identity.iter().filter(|(_, c)| *c).map(|(k, _)| *k).collect();
    if !changed.is_empty() {
        return Err(ReloadRefused::Identity(changed));
    }

    let kernel = [
        ("kernel.table", old.kernel.table != new.kernel.table),
        ("kernel.protocol", old.kernel.protocol != new.kernel.protocol),
    ];
    let changed: Vec<&'static str> = kernel.iter().filter(|(_, c)| *c).map(|(k, _)| *k).collect();
    if !changed.is_empty() {
        return Err(ReloadRefused::Kernel(changed));
    }

    let restart_all_keys = session_keys(g, h);
    let mut plan = ReloadPlan {
        restart_all: !restart_all_keys.is_empty(),
        restart_all_keys: restart_all_keys.clone(),
        ..ReloadPlan::default()
    };
    if (g.multipath, g.always_compare_med) != (h.multipath, h.always_compare_med) {
        plan.routing = Some(RoutingChange { multipath: h.multipath, always_compare_med: h.always_compare_med });
    }

    for n in &old.neighbors {
        match new.neighbor(n.address) {
            None => plan.removed.push(n.address),
            Some(m) if plan.restart_all || !same_session(&n.settings, &m.settings) || !same_but_shutdown(n, m) => {
                plan.restarted.push(n.address);
                let mut keys = neighbor_keys(n, m);
                if keys.is_empty() {
                    keys = restart_all_keys.clone();
                }
                plan.restart_keys.push((n.address, keys));
            }
            Some(m) => {
                if m.shutdown != n.shutdown {
                    plan.shutdown.push((n.address, m.shutdown));
                }
                let is = new.peer_policies(&m.settings);
                if !old.peer_policies(&n.settings).same_routes(&is) {
                    plan.policies.push((n.address, is));
                }
            }
        }
    }
    plan.added = new.neighbors.iter().map(|n| n.address).filter(|&a| old.neighbor(a).is_none()).collect();

    for r in &old.neighbor_ranges {
        let same = new
            .neighbor_ranges
            .iter()
            .find(|s| s.prefix == r.prefix && s.limit == r.limit && same_session(&r.settings, &s.settings));
        let action = match same {
            None => {
                let keys = match new.neighbor_ranges.iter().find(|s| s.prefix == r.prefix) {
                    None => vec!["neighbor_range"],
                    Some(s) => {
                        let mut keys = if s.limit != r.limit { vec!["limit"] } else { vec![] };
                        keys.extend(settings_keys(&r.settings, &s.settings));
                        keys
                    }
                };
                plan.range_keys.push((r.prefix, keys));
                DynamicAction::Restart
            }
            Some(s) => {
                let is = new.peer_policies(&s.settings);
                if old.peer_policies(&r.settings).same_routes(&is) {
                    DynamicAction::Keep
                } else {
                    DynamicAction::Policies(is)
                }
            }
        };
        plan.ranges.push(RangeChange { prefix: r.prefix, action });
    }

    if old.announcements != new.announcements {
        plan.announcements = Some(new.announcements.clone());
    }
    if old.kernel != new.kernel || old.install_policy() != new.install_policy() {
        plan.kernel = Some(new.kernel.clone());
    }
    if old.kubernetes != new.kubernetes {
        plan.kubernetes = Some(new.kubernetes.clone());
    }
    if g.metrics_listen != h.metrics_listen {
        plan.metrics_listen = Some(h.metrics_listen);
    }
    Ok(plan)
}

/// The keys of route sources and of routing that a reload of `new` over `old` would
/// change, by their KEYS.md names, for `bgpctl reload --dry-run`: `[[announce]]`,
/// `[kernel]` and `[[kernel.import]]`, `[kubernetes]` (the section itself when it
/// appears or goes), `global.multipath` and `global.always_compare_med`.
pub fn source_keys(old: &Config, new: &Config) -> Vec<&'static str> {
    let (k, l) = (&old.kernel, &new.kernel);
    let mut keys: Vec<&'static str> = [
        ("announce", old.announcements != new.announcements),
        ("global.multipath", old.global.multipath != new.global.multipath),
        ("global.always_compare_med", old.global.always_compare_med != new.global.always_compare_med),
        ("kernel.install", k.install != l.install),
        ("kernel.metric", k.metric != l.metric),
        ("kernel.install_policy", old.install_policy() != new.install_policy() || k.install_policy != l.install_policy),
        ("kernel.resolve_via_default", k.resolve_via_default != l.resolve_via_default),
        ("kernel.import", k.import != l.import),
    ]
    .iter()
    .filter(|(_, c)| *c)
    .map(|(k, _)| *k)
    .collect();
    match (&old.kubernetes, &new.kubernetes) {
        (None, None) => {}
        (Some(_), None) | (None, Some(_)) => keys.push("kubernetes"),
        (Some(a), Some(b)) => keys.extend(
            [
                ("kubernetes.kubeconfig", a.kubeconfig != b.kubeconfig),
                ("kubernetes.node_name", a.node_name != b.node_name),
                ("kubernetes.mode", a.mode != b.mode),
                ("kubernetes.load_balancers", a.load_balancers != b.load_balancers),
                ("kubernetes.pod_cidrs", a.pod_cidrs != b.pod_cidrs),
                ("kubernetes.service_selector", a.service_selector != b.service_selector),
            ]
            .iter()
            .filter(|(_, c)| *c)
            .map(|(k, _)| *k),
        ),
    }
    if old.kubernetes != new.kubernetes && !keys.iter().any(|k| k.starts_with("kubernetes")) {
        keys.push("kubernetes");
    }
    keys
}

/// The `[global]` keys every session is built from that changed (see the module's
/// rules): the FSM's timers and capabilities, the advertisement interval.
fn session_keys(g: &Global, h: &Global) -> Vec<&'static str> {
    let keys = [
        ("global.connect_retry", g.connect_retry != h.connect_retry),
        ("global.connect_retry_max", g.connect_retry_max != h.connect_retry_max),
        ("global.graceful_restart_time", g.graceful_restart_time != h.graceful_restart_time),
        ("global.hostname", g.hostname != h.hostname),
        ("global.min_advertisement_interval", g.min_advertisement_interval != h.min_advertisement_interval),
        ("global.min_hold_time", g.min_hold_time != h.min_hold_time),
        ("global.send_hold_time", g.send_hold_time != h.send_hold_time),
    ];
    keys.iter().filter(|(_, c)| *c).map(|(k, _)| *k).collect()
}

fn restart_after(m: Option<super::MaxPrefixes>) -> Option<std::time::Duration> {
    match m?.action {
        super::MaxPrefixesAction::Restart { after } => Some(after),
        super::MaxPrefixesAction::Warn => None,
    }
}

/// The BFD keys (`bfd`, `bfd_interval_ms`, `bfd_multiplier`) that differ between
/// `a` and `b`: applied to the live session without a restart, for
/// `bgpctl reload --dry-run`.
pub fn bfd_keys(a: &PeerSettings, b: &PeerSettings) -> Vec<&'static str> {
    match (a.bfd, b.bfd) {
        (None, None) => vec![],
        (Some(_), None) | (None, Some(_)) => vec!["bfd"],
        (Some(x), Some(y)) => {
            [("bfd_interval_ms", x.interval != y.interval), ("bfd_multiplier", x.multiplier != y.multiplier)]
                .iter()
                .filter(|(_, c)| *c)
                .map(|(k, _)| *k)
                .collect()
        }
    }
}

/// The keys of a `[[neighbor]]` that changed, `shutdown` and the policy names left
/// out (they restart nothing).
fn neighbor_keys(a: &Neighbor, b: &Neighbor) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = [
        ("port", a.port != b.port),
        ("passive", a.passive != b.passive),
        ("local_address", a.local_address != b.local_address),
    ]
    .iter()
    .filter(|(_, c)| *c)
    .map(|(k, _)| *k)
    .collect();
    keys.extend(settings_keys(&a.settings, &b.settings));
    keys
}

/// The session keys (those of [`PeerSettings`] but the policy names) that changed,
/// by the names of KEYS.md. A field this list does not name yet still restarts the
/// session ([`same_session`] compares them all); it shows as `"other session keys"`.
fn settings_keys(a: &PeerSettings, b: &PeerSettings) -> Vec<&'static str> {
    let (ma, mb) = (a.max_prefixes, b.max_prefixes);
    let keys = [
        ("asn", a.asn != b.asn),
        ("description", a.description != b.description),
        ("password", a.password != b.password),
        ("hold_time", a.hold_time != b.hold_time),
        ("ttl_security", a.ttl_security != b.ttl_security),
        ("families", a.families != b.families),
        ("graceful_restart", a.graceful_restart != b.graceful_restart),
        ("add_path", a.add_path != b.add_path),
        ("route_reflector_client", a.route_reflector_client != b.route_reflector_client),
        ("allow_as_in", a.allow_as_in != b.allow_as_in),
        ("next_hop_self", a.next_hop_self != b.next_hop_self),
        ("remove_private_as", a.remove_private_as != b.remove_private_as),
        ("max_prefixes", ma.map(|m| m.limit) != mb.map(|m| m.limit)),
        (
            "max_prefixes_action",
            ma.map(|m| std::mem::discriminant(&m.action)) != mb.map(|m| std::mem::discriminant(&m.action)),
        ),
        ("max_prefixes_restart_after", restart_after(ma) != restart_after(mb)),
        ("long_lived_stale_time", a.long_lived_stale_time != b.long_lived_stale_time),
    ];
    let mut keys: Vec<&'static str> = keys.iter().filter(|(_, c)| *c).map(|(k, _)| *k).collect();
    if keys.is_empty() && !same_session(a, b) {
        keys.push("other session keys");
    }
    keys
}

/// Equal but for `shutdown` and the settings (which [`same_session`] compares).
fn same_but_shutdown(a: &Neighbor, b: &Neighbor) -> bool {
    Neighbor { shutdown: b.shutdown, settings: b.settings.clone(), ..a.clone() } == *b
}

/// Equal but for the import and export policy names and BFD: what needs no new
/// session. The daemon applies `bfd` to live sessions from the new configuration
/// (adds, removes or retunes the BFD session with a Poll sequence, RFC 5880 §6.8.3).
fn same_session(a: &PeerSettings, b: &PeerSettings) -> bool {
    PeerSettings {
        import_policy: b.import_policy.clone(),
        export_policy: b.export_policy.clone(),
        bfd: b.bfd,
        ..a.clone()
    } == *b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::config::tests::MINIMAL;

    /// The minimal file of the parser's tests (eBGP neighbor 10.0.0.2), with more.
    const MORE: &str = "\
import_policy = \"in\"
export_policy = \"accept-all\"

[[neighbor]]
address = \"10.0.0.3\"
asn = 65000

[[neighbor_range]]
prefix = \"10.1.0.0/16\"
asn = 65000
import_policy = \"in\"

[[prefix_list]]
name = \"pods\"
entries = [{ prefix = \"10.42.0.0/16\", ge = 26, le = 26 }]

[[policy]]
name = \"in\"
[[policy.term]]
name = \"pods\"
match.prefix_list = \"pods\"
action = \"accept\"

[[announce]]
prefix = \"192.168.6.10/32\"
";

    fn base() -> String {
        format!("{MINIMAL}{MORE}")
    }

    fn config(text: &str) -> Config {
        parse("bgp.toml", text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn plan(new: &str) -> ReloadPlan {
        diff(&config(&base()), &config(new)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// `BASE` with `line` added to `[global]`.
    fn global(line: &str) -> String {
        base().replace("router_id = \"10.0.0.1\"\n", &format!("router_id = \"10.0.0.1\"\n{line}\n"))
    }

    #[test]
    fn metrics_listen_is_applied_without_restarts() {
        let p = plan(&global("metrics_listen = \"127.0.0.1:9179\""));
        assert_eq!(p.metrics_listen, Some(Some("127.0.0.1:9179".parse().unwrap())));
        assert!(!p.restart_all && p.restarted.is_empty());
        let on = config(&global("metrics_listen = \"127.0.0.1:9179\""));
        let off = diff(&on, &config(&base())).unwrap();
        assert_eq!(off.metrics_listen, Some(None));
        assert_eq!(diff(&on, &on).unwrap().metrics_listen, None);
    }

    #[test]
    fn nothing_changed() {
        let p = plan(&base());
        assert_eq!(p.stops().count(), 0);
        assert!(p.shutdown.is_empty() && p.policies.is_empty() && p.added.is_empty());
        assert_eq!((p.announcements, p.routing, p.restart_all), (None, None, false));
        assert_eq!(p.kernel, None);
        assert_eq!(p.kubernetes, None);
        assert_eq!(plan(&base()).dynamic(ip("10.1.0.7")), DynamicAction::Keep);
    }

    #[test]
    fn sockets_and_identity_are_refused() {
        let old = config(&base());
        let e = diff(&old, &config(&global("listen = [\"0.0.0.0:1179\"]"))).unwrap_err();
        assert_eq!(e.to_string(), "global.listen, global.control_socket and global.control_socket_readonly apply at start only: restart bgp-daemon");
        assert_eq!(diff(&old, &config(&global("control_socket = \"/tmp/x.sock\""))), Err(ReloadRefused::Sockets));
        let readonly = global("control_socket_readonly = \"/tmp/ro.sock\"");
        assert_eq!(diff(&old, &config(&readonly)), Err(ReloadRefused::Sockets));
        let e = diff(&old, &config(&base().replace("asn = 65000\nrouter_id", "asn = 65009\nrouter_id"))).unwrap_err();
        assert_eq!(e.to_string(), "global.asn changed: restart required (restart bgp-daemon to apply it)");
        let e = diff(&old, &config(&base().replace("\"10.0.0.1\"", "\"10.0.0.9\""))).unwrap_err();
        assert_eq!(e, ReloadRefused::Identity(vec!["global.router_id", "global.cluster_id"]), "cluster_id follows");
        assert!(e.to_string().starts_with("global.router_id and global.cluster_id changed: restart required"));
        let e = diff(&old, &config(&global("cluster_id = \"10.0.0.100\""))).unwrap_err();
        assert_eq!(e, ReloadRefused::Identity(vec!["global.cluster_id"]));
        // Written out but equal to the default: no change.
        assert!(diff(&old, &config(&global("cluster_id = \"10.0.0.1\""))).is_ok());
    }

    #[test]
    fn routing_keys_restart_nothing() {
        let p = plan(&global("multipath = 1\nalways_compare_med = true"));
        assert_eq!(p.routing, Some(RoutingChange { multipath: 1, always_compare_med: true }));
        assert!(!p.restart_all && p.restarted.is_empty());
        assert_eq!(p.dynamic(ip("10.1.0.7")), DynamicAction::Keep);
        let p = plan(&global("always_compare_med = true"));
        assert_eq!(p.routing, Some(RoutingChange { multipath: 8, always_compare_med: true }));
        assert_eq!(
            plan(&global("on_stop = \"shutdown\"")),
            ReloadPlan { ranges: plan(&base()).ranges, ..Default::default() }
        );
    }

    #[test]
    fn session_keys_restart_every_session() {
        for line in [
            "connect_retry = 5",
            "connect_retry_max = 60",
            "graceful_restart_time = 30",
            "hostname = \"rr1\"",
            "min_advertisement_interval = 5",
            "min_hold_time = 30",
        ] {
            let p = plan(&global(line));
            assert!(p.restart_all, "{line}");
            assert_eq!(p.restarted, vec![ip("10.0.0.2"), ip("10.0.0.3")], "{line}");
            assert_eq!(p.dynamic(ip("10.1.0.7")), DynamicAction::Restart, "{line}");
        }
        // hold_time: only who inherits it.
        let text = global("hold_time = 30").replace("asn = 65001\n", "asn = 65001\nhold_time = 90\n");
        let p = plan(&text);
        assert!(!p.restart_all);
        assert_eq!(p.restarted, vec![ip("10.0.0.3")]);
        assert_eq!(p.dynamic(ip("10.1.0.7")), DynamicAction::Restart, "the range inherits it");
    }

    #[test]
    fn neighbors() {
        // Removed, changed, added.
        let text = base()
            .replace("address = \"10.0.0.3\"\nasn = 65000\n", "address = \"10.0.0.4\"\nasn = 65000\n")
            .replace("asn = 65001\n", "asn = 65001\nport = 1179\n");
        let p = plan(&text);
        assert_eq!(p.removed, vec![ip("10.0.0.3")]);
        assert_eq!(p.restarted, vec![ip("10.0.0.2")]);
        assert_eq!(p.added, vec![ip("10.0.0.4")]);
        assert_eq!(p.stops().collect::<Vec<_>>(), vec![(ip("10.0.0.3"), true), (ip("10.0.0.2"), false)]);
        // shutdown alone: no restart.
        let p = plan(&base().replace("asn = 65001\n", "asn = 65001\nshutdown = true\n"));
        assert_eq!(p.shutdown, vec![(ip("10.0.0.2"), true)]);
        assert_eq!((p.restarted.len(), p.policies.len()), (0, 0));
        // Description is a session setting like any other (as today).
        let p = plan(&base().replace("asn = 65001\n", "asn = 65001\ndescription = \"x\"\n"));
        assert_eq!(p.restarted, vec![ip("10.0.0.2")]);
        assert_eq!(p.why_restart(ip("10.0.0.2")), ["description"]);
    }

    #[test]
    fn restart_reasons_name_the_changed_keys() {
        let text = base()
            .replace("asn = 65001\n", "asn = 65001\nport = 1179\nhold_time = 30\nnext_hop_self = true\n")
            .replace(
                "prefix = \"10.1.0.0/16\"\nasn = 65000\n",
                "prefix = \"10.1.0.0/16\"\nasn = 65000\nlimit = 5\nttl_security = 1\n",
            );
        let p = plan(&text);
        assert_eq!(p.why_restart(ip("10.0.0.2")), ["port", "hold_time", "next_hop_self"]);
        assert_eq!(p.why_restart(ip("10.0.0.3")), [] as [&str; 0], "not restarted");
        assert_eq!(p.why_restart_dynamic(ip("10.1.0.7")), ["limit", "ttl_security"]);
        assert_eq!(p.why_restart_dynamic(ip("10.9.0.1")), ["neighbor_range"], "in no old range");
        // Policies alone restart nothing, so they are no reason.
        let p = plan(&base().replace("ge = 26, le = 26", "ge = 24, le = 26"));
        assert!(p.restart_keys.is_empty() && p.range_keys.is_empty());
        assert_eq!(p.why_restart_dynamic(ip("10.1.0.7")), [] as [&str; 0]);
        // Every session, from [global]: each neighbor names the global keys.
        let p = plan(&global("connect_retry = 5\nhostname = \"rr1\""));
        assert_eq!(p.restart_all_keys, ["global.connect_retry", "global.hostname"]);
        assert_eq!(p.why_restart(ip("10.0.0.3")), ["global.connect_retry", "global.hostname"]);
        assert_eq!(p.why_restart_dynamic(ip("10.1.0.7")), ["global.connect_retry", "global.hostname"]);
        // The range gone, and max_prefixes' three keys.
        let gone =
            base().replace("[[neighbor_range]]\nprefix = \"10.1.0.0/16\"\nasn = 65000\nimport_policy = \"in\"\n", "");
        assert_eq!(plan(&gone).why_restart_dynamic(ip("10.1.0.7")), ["neighbor_range"]);
        let limited = |keys: &str| base().replace("asn = 65001\n", &format!("asn = 65001\nmax_prefixes = 10\n{keys}"));
        let old = config(&limited(""));
        let why = |keys: &str| diff(&old, &config(&limited(keys))).unwrap().why_restart(ip("10.0.0.2")).to_vec();
        assert_eq!(why("max_prefixes_restart_after = 5\n"), ["max_prefixes_restart_after"]);
        assert_eq!(why("max_prefixes_action = \"warn\"\n"), ["max_prefixes_action", "max_prefixes_restart_after"]);
        assert_eq!(
            diff(&old, &config(&base())).unwrap().why_restart(ip("10.0.0.2")),
            ["max_prefixes", "max_prefixes_action", "max_prefixes_restart_after"]
        );
    }

    #[test]
    fn policies_by_contents() {
        // A prefix list edited under the same name: new policies, no restart.
        let edited = base().replace("ge = 26, le = 26", "ge = 24, le = 26");
        let p = plan(&edited);
        assert!(p.restarted.is_empty());
        assert_eq!(p.policies.iter().map(|(a, _)| *a).collect::<Vec<_>>(), vec![ip("10.0.0.2")]);
        assert_eq!(p.policies[0].1.import.name, "in");
        match p.dynamic(ip("10.1.0.7")) {
            DynamicAction::Policies(pp) => {
                assert_eq!(pp.import.terms[0].matches.prefix_list.as_ref().unwrap().entries[0].ge, Some(24))
            }
            other => panic!("{other:?}"),
        }
        // Unused policies change nothing.
        let p = plan(&format!("{}\n[[policy]]\nname = \"unused\"\n", base()));
        assert!(p.policies.is_empty());
        assert_eq!(p.dynamic(ip("10.1.0.7")), DynamicAction::Keep);
    }

    #[test]
    fn bfd_keys_name_what_changed() {
        let settings = |keys: &str| {
            let c = config(&base().replace("asn = 65001\n", &format!("asn = 65001\n{keys}")));
            c.neighbors[0].settings.clone()
        };
        assert!(bfd_keys(&settings(""), &settings("")).is_empty());
        assert_eq!(bfd_keys(&settings(""), &settings("bfd = true\n")), ["bfd"]);
        assert_eq!(bfd_keys(&settings("bfd = true\n"), &settings("")), ["bfd"]);
        assert_eq!(
            bfd_keys(&settings("bfd = true\n"), &settings("bfd = true\nbfd_interval_ms = 100\nbfd_multiplier = 5\n")),
            ["bfd_interval_ms", "bfd_multiplier"]
        );
    }

    #[test]
    fn bfd_restarts_nothing() {
        // On, tuned and off again: no session restarts, for neighbors and ranges.
        let with = |n: &str, r: &str| {
            base().replace("asn = 65001\n", &format!("asn = 65001\n{n}")).replace(
                "prefix = \"10.1.0.0/16\"\nasn = 65000\n",
                &format!("prefix = \"10.1.0.0/16\"\nasn = 65000\n{r}"),
            )
        };
        for (n, r) in [
            ("bfd = true\n", "bfd = true\n"),
            ("bfd = true\nbfd_interval_ms = 100\n", "bfd = true\nbfd_multiplier = 5\n"),
            ("bfd = false\nbfd_interval_ms = 100\n", ""),
        ] {
            let new = config(&with(n, r));
            assert!(new.neighbors[0].settings.bfd.is_some() == n.starts_with("bfd = true"), "{n}");
            let p = diff(&config(&base()), &new).unwrap();
            assert!(p.restarted.is_empty() && p.added.is_empty() && p.removed.is_empty(), "{n}: {p:?}");
            assert_eq!(p.dynamic(ip("10.1.0.7")), DynamicAction::Keep, "{r}");
            let back = diff(&new, &config(&base())).unwrap();
            assert!(back.restarted.is_empty(), "{n}: {back:?}");
        }
    }

    #[test]
    fn dynamic_neighbors() {
        let p = plan(&base().replace("10.1.0.0/16", "10.1.0.0/24"));
        assert_eq!(p.dynamic(ip("10.1.0.7")), DynamicAction::Restart, "range changed");
        let p =
            plan(&base().replace(
                "prefix = \"10.1.0.0/16\"\nasn = 65000\n",
                "prefix = \"10.1.0.0/16\"\nasn = 65000\nlimit = 5\n",
            ));
        assert_eq!(p.dynamic(ip("10.1.0.7")), DynamicAction::Restart, "limit changed");
        let gone =
            base().replace("[[neighbor_range]]\nprefix = \"10.1.0.0/16\"\nasn = 65000\nimport_policy = \"in\"\n", "");
        assert_eq!(plan(&gone).dynamic(ip("10.1.0.7")), DynamicAction::Restart, "range vanished");
        let configured = format!("{}\n[[neighbor]]\naddress = \"10.1.0.7\"\nasn = 65000\n", base());
        let p = plan(&configured);
        assert_eq!(p.added, vec![ip("10.1.0.7")]);
        assert_eq!(p.dynamic(ip("10.1.0.7")), DynamicAction::Restart, "now a configured neighbor");
        assert_eq!(p.dynamic(IpAddr::V6(std::net::Ipv4Addr::new(10, 1, 0, 8).to_ipv6_mapped())), DynamicAction::Keep);
        assert_eq!(p.dynamic(ip("10.9.0.1")), DynamicAction::Restart, "in no old range");
    }

    #[test]
    fn announcements() {
        let p = plan(&base().replace("192.168.6.10/32", "192.168.6.11/32"));
        assert_eq!(p.announcements.as_ref().map(|a| a[0].prefix.to_string()), Some("192.168.6.11/32".into()));
        assert!(p.stops().next().is_none());
    }

    /// `BASE` with a `[kernel]` holding `keys`.
    fn kernel(keys: &str) -> String {
        format!("{}\n[kernel]\ninstall = true\ninstall_policy = \"in\"\n{keys}\n", base())
    }

    #[test]
    fn kernel_table_and_protocol_are_refused() {
        let old = config(&kernel(""));
        let e = diff(&old, &config(&kernel("table = 100"))).unwrap_err();
        assert_eq!(e, ReloadRefused::Kernel(vec!["kernel.table"]));
        assert_eq!(
            e.to_string(),
            "kernel.table changed: restart required (the installed routes are found by them; restart bgp-daemon to \
             apply it)"
        );
        let e = diff(&old, &config(&kernel("table = 100\nprotocol = \"zebra\""))).unwrap_err();
        assert_eq!(e, ReloadRefused::Kernel(vec!["kernel.table", "kernel.protocol"]));
        assert!(e.to_string().starts_with("kernel.table and kernel.protocol changed: restart required"));
        let e = diff(&config(&base()), &config(&kernel("protocol = 4"))).unwrap_err();
        assert_eq!(e, ReloadRefused::Kernel(vec!["kernel.protocol"]), "from the defaults too");
        // Written out but equal to the defaults: no change at all.
        let p = diff(&old, &config(&kernel("table = \"main\"\nprotocol = 186\nmetric = 20"))).unwrap();
        assert_eq!(p.kernel, None);
    }

    #[test]
    fn kernel_changes_apply_at_run_time() {
        let old = config(&kernel(""));
        let import = "[[kernel.import]]\nwithin = [\"10.42.0.0/16\"]\nprotocol = [\"bird\"]";
        for (new, what) in [
            (kernel("").replace("install = true\n", ""), "install"),
            (kernel("metric = 30"), "metric"),
            (kernel("resolve_via_default = true"), "resolve_via_default"),
            (kernel("").replace("install_policy = \"in\"\n", ""), "install_policy removed"),
            (kernel("").replace("install_policy = \"in\"", "install_policy = \"accept-all\""), "install_policy"),
            (kernel(import), "an import added"),
        ] {
            let new = config(&new);
            let p = diff(&old, &new).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(p.kernel.as_ref(), Some(&new.kernel), "{what}");
            assert!(!p.restart_all && p.stops().next().is_none() && p.policies.is_empty(), "{what}");
        }
        // An import changed.
        let with_import = config(&kernel(import));
        let p = diff(&with_import, &config(&kernel(&import.replace("bird", "static")))).unwrap();
        assert_eq!(p.kernel.map(|k| k.import[0].protocol.clone()), Some(vec![4]));
        // [kernel] appearing, or going back to the defaults.
        assert!(diff(&config(&base()), &old).unwrap().kernel.is_some());
        assert_eq!(diff(&old, &config(&base())).unwrap().kernel, Some(Kernel::default()));
    }

    #[test]
    fn kernel_install_policy_by_contents() {
        let old = config(&kernel(""));
        // The prefix list of "in" edited: the install policy changed under the same name.
        let new = config(&kernel("").replace("ge = 26, le = 26", "ge = 24, le = 26"));
        assert_eq!(old.kernel, new.kernel, "the names are the same");
        let p = diff(&old, &new).unwrap();
        assert_eq!(p.kernel, Some(new.kernel.clone()));
        let policy = new.install_policy().expect("set");
        assert_eq!(policy.terms[0].matches.prefix_list.as_ref().unwrap().entries[0].ge, Some(24));
        assert_ne!(old.install_policy(), new.install_policy());
        // A policy the kernel does not use changes nothing there.
        let unused = format!("{}\n[[policy]]\nname = \"unused\"\n", kernel(""));
        assert_eq!(diff(&old, &config(&unused)).unwrap().kernel, None);
    }

    #[test]
    fn source_keys_name_what_changes() {
        let keys = |old: &str, new: &str| source_keys(&config(old), &config(new));
        assert!(keys(&base(), &base()).is_empty());
        assert_eq!(keys(&base(), &base().replace("192.168.6.10/32", "192.168.6.11/32")), ["announce"]);
        assert_eq!(keys(&base(), &global("multipath = 1")), ["global.multipath"]);
        assert_eq!(
            keys(&kernel(""), &kernel("metric = 30\nresolve_via_default = true")),
            ["kernel.metric", "kernel.resolve_via_default"]
        );
        // The install policy's prefix list edited under the same name.
        assert_eq!(
            keys(&kernel(""), &kernel("").replace("ge = 26, le = 26", "ge = 24, le = 26")),
            ["kernel.install_policy"]
        );
        let k8s = |keys: &str| format!("{}\n[kubernetes]\n{keys}\n", base());
        assert_eq!(keys(&base(), &k8s("")), ["kubernetes"]);
        assert_eq!(
            keys(&k8s(""), &k8s("mode = \"cluster\"\npod_cidrs = true")),
            ["kubernetes.mode", "kubernetes.pod_cidrs"]
        );
    }

    #[test]
    fn kubernetes_changes_apply_at_run_time() {
        let with = |keys: &str| config(&format!("{}\n[kubernetes]\n{keys}\n", base()));
        let old = with("");
        assert_eq!(diff(&old, &with("")).unwrap().kubernetes, None, "unchanged");
        assert_eq!(diff(&old, &with("mode = \"node\"\nload_balancers = true")).unwrap().kubernetes, None);
        for keys in [
            "kubeconfig = \"/etc/k\"",
            "node_name = \"n1\"",
            "mode = \"cluster\"",
            "pod_cidrs = true",
            "load_balancers = false\npod_cidrs = true",
            "service_selector = \"bgp=yes\"",
        ] {
            let new = with(keys);
            let p = diff(&old, &new).unwrap_or_else(|e| panic!("{keys}: {e}"));
            assert_eq!(p.kubernetes, Some(new.kubernetes.clone()), "{keys}");
            assert!(!p.restart_all && p.stops().next().is_none() && p.kernel.is_none(), "{keys}");
        }
        // The section added, and removed.
        let p = diff(&config(&base()), &old).unwrap();
        assert_eq!(p.kubernetes, Some(Some(Kubernetes::default())));
        assert_eq!(diff(&old, &config(&base())).unwrap().kubernetes, Some(None));
    }

    #[test]
    fn long_lived_stale_time_restarts_the_session_like_graceful_restart() {
        let p = plan(&base().replace("asn = 65001\n", "asn = 65001\nlong_lived_stale_time = 3600\n"));
        assert_eq!(p.restarted, vec![ip("10.0.0.2")], "the capability is in the OPEN");
        assert_eq!(p.why_restart(ip("10.0.0.2")), ["long_lived_stale_time"]);
        let text = base().replace(
            "asn = 65000\nimport_policy = \"in\"",
            "asn = 65000\nimport_policy = \"in\"\nlong_lived_stale_time = 60",
        );
        assert_ne!(text, base());
        assert_eq!(plan(&text).dynamic(ip("10.1.0.7")), DynamicAction::Restart, "a range's sessions too");
    }
}
