//! Routing policy: named policies of ordered terms, applied per neighbor on import
//! (routes a peer sends us) and export (routes we send a peer). Pure: a [`Policy`]
//! looks at a route ([`RouteInfo`] and its [`PathAttrs`]), edits the attributes in
//! place and says [`Verdict::Accept`] or [`Verdict::Reject`].
//!
//! Evaluation ([`Policy::apply`]): terms run in order. A term whose conditions
//! ([`Match`]) all hold runs its [`Actions`], then ends the evaluation with its
//! [`TermAction`] (`accept`, `reject`), or lets the next term look at the route with
//! the attributes as edited so far (`next`). A route no term decided gets the
//! policy's `default` (reject unless configured otherwise).
//!
//! Within one condition the listed values are alternatives (any of them matches);
//! a term's different conditions must all hold. A term without conditions matches
//! every route.
//!
//! [`PolicySet`] holds every named policy of a configuration and the built-ins
//! [`ACCEPT_ALL`] and [`REJECT_ALL`]. Which policy applies to a peer is the config's
//! business ([`crate::config::PeerSettings::effective_import`]): eBGP peers without
//! one get [`PolicyRef::Rfc8212Deny`] (RFC 8212: nothing in, nothing out).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::names::named_enum;
use crate::prefix::{Prefix, Prefix4, Prefix6};
use crate::types::Family;
use crate::wire::{AsPath, Community, LargeCommunity, MpReach, NextHop, PathAttrs, SegmentType};

/// The built-in policy that accepts every route unchanged.
pub const ACCEPT_ALL: &str = "accept-all";
/// The built-in policy that rejects every route.
pub const REJECT_ALL: &str = "reject-all";
/// Names that always exist in a [`PolicySet`] and cannot be redefined.
pub const BUILT_IN: [&str; 2] = [ACCEPT_ALL, REJECT_ALL];

named_enum! {
    /// Where a route came from.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum RouteSource parse "route source" {
        /// `[[announce]]` in the configuration.
        Static = "static",
        /// The kernel routing table.
        Kernel = "kernel",
        /// Kubernetes (LoadBalancer addresses, pod blocks).
        Kubernetes = "kubernetes",
        /// A BGP peer.
        Peer = "peer",
    }
}

impl RouteSource {
    pub const ALL: [RouteSource; 4] =
        [RouteSource::Static, RouteSource::Kernel, RouteSource::Kubernetes, RouteSource::Peer];
}

/// What a policy knows about a route besides its attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteInfo {
    pub prefix: Prefix,
    pub source: RouteSource,
    /// Import: the peer the route came from. Export: the peer it goes to. `None` for
    /// a route that is not on its way in or out of a session.
    pub neighbor: Option<IpAddr>,
    /// Our address on the session with `neighbor`: what `set_next_hop = "self"`
    /// writes. `None`: "self" leaves the next hop as it is.
    pub local_address: Option<IpAddr>,
}

impl RouteInfo {
    /// A route with no session address (`local_address` `None`).
    pub fn new(prefix: Prefix, source: RouteSource, neighbor: Option<IpAddr>) -> RouteInfo {
        RouteInfo { prefix, source, neighbor, local_address: None }
    }
}

named_enum! {
    /// A policy's answer.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Verdict parse "value" {
        Accept = "accept",
        Reject = "reject",
    }
}

named_enum! {
    /// How a matching term ends.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub enum TermAction parse "value" {
        /// Accept the route as edited; later terms are not looked at.
        Accept = "accept",
        /// Reject the route; later terms are not looked at.
        Reject = "reject",
        /// Go on with the next term (the default).
        #[default]
        Next = "next",
    }
}

// ---------------------------------------------------------------------------------
// Prefix lists.

/// One entry of a [`PrefixList`], with FRR's `prefix-list` semantics: a route
/// matches when its prefix lies inside `prefix` and its length is in `ge..=le`,
/// where `ge` defaults to the entry's length and `le` to the family's maximum when
/// `ge` is given, else to the entry's length (so a bare entry matches exactly).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PrefixEntry {
    pub prefix: Prefix,
    pub ge: Option<u8>,
    pub le: Option<u8>,
}

impl PrefixEntry {
    /// An entry matching exactly `prefix`.
    pub fn exact(prefix: Prefix) -> PrefixEntry {
        PrefixEntry { prefix, ge: None, le: None }
    }

    /// The accepted lengths, `(min, max)`, both inclusive.
    pub fn lengths(&self) -> (u8, u8) {
        let len = self.prefix.prefix_len();
        let max = match self.prefix {
            Prefix::V4(_) => 32,
            Prefix::V6(_) => 128,
        };
        let low = self.ge.unwrap_or(len);
        let high = self.le.unwrap_or(if self.ge.is_some() { max } else { len });
        (low, high)
    }

    pub fn matches(&self, route: Prefix) -> bool {
        let (low, high) = self.lengths();
        (low..=high).contains(&route.prefix_len()) && contains(self.prefix, route)
    }
}

impl fmt::Display for PrefixEntry {
    /// FRR's notation: `10.42.0.0/16 ge 26 le 26`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.prefix)?;
        if let Some(ge) = self.ge {
            write!(f, " ge {ge}")?;
        }
        if let Some(le) = self.le {
            write!(f, " le {le}")?;
        }
        Ok(())
    }
}

/// Whether `inner` lies inside `outer` (same family, at least as long, same leading
/// bits); a prefix lies inside itself.
pub fn contains(outer: Prefix, inner: Prefix) -> bool {
    match (outer, inner) {
        (Prefix::V4(o), Prefix::V4(i)) => {
            i.prefix_len() >= o.prefix_len() && Prefix4::new(i.addr(), o.prefix_len()) == Some(o)
        }
        (Prefix::V6(o), Prefix::V6(i)) => {
            i.prefix_len() >= o.prefix_len() && Prefix6::new(i.addr(), o.prefix_len()) == Some(o)
        }
        _ => false,
    }
}

/// A named list of [`PrefixEntry`]s; a route matches the list when it matches any
/// entry. IPv4 and IPv6 entries may be mixed: a route only matches its own family's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PrefixList {
    pub name: String,
    pub entries: Vec<PrefixEntry>,
}

impl PrefixList {
    pub fn matches(&self, route: Prefix) -> bool {
        self.entries.iter().any(|e| e.matches(route))
    }
}

// ---------------------------------------------------------------------------------
// Communities as written in the configuration.

/// The community names [`parse_community`] knows, with their values.
pub const WELL_KNOWN_COMMUNITIES: [(&str, Community); 6] = [
    ("no-export", Community::NO_EXPORT),
    ("no-advertise", Community::NO_ADVERTISE),
    ("no-export-subconfed", Community::NO_EXPORT_SUBCONFED),
    ("graceful-shutdown", Community::GRACEFUL_SHUTDOWN),
    ("llgr-stale", Community::LLGR_STALE),
    ("no-llgr", Community::NO_LLGR),
];

/// A community (RFC 1997) as `ASN:VALUE`, both 0..=65535, or a well-known name
/// (`no-export`, `no-advertise`, `no-export-subconfed`, `graceful-shutdown`,
/// `llgr-stale`, `no-llgr`).
pub fn parse_community(s: &str) -> Result<Community, String> {
    if let Some((_, c)) = WELL_KNOWN_COMMUNITIES.iter().find(|(name, _)| *name == s) {
        return Ok(*c);
    }
    let parsed = s.split_once(':').and_then(|(high, low)| Some((decimal::<u16>(high)?, decimal::<u16>(low)?)));
    match parsed {
        Some((high, low)) => Ok(Community(u32::from(high) << 16 | u32::from(low))),
        None => Err(format!(
            "{s:?} is not a community: use ASN:VALUE (each 0..=65535) or one of {}",
            WELL_KNOWN_COMMUNITIES.map(|(name, _)| name).join(", ")
        )),
    }
}

/// A large community (RFC 8092) as `GLOBAL:LOCAL1:LOCAL2`, each 0..=4294967295.
pub fn parse_large_community(s: &str) -> Result<LargeCommunity, String> {
    let mut parts = s.split(':').map(decimal::<u32>);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Some(global)), Some(Some(local1)), Some(Some(local2)), None) => {
            Ok(LargeCommunity { global, local1, local2 })
        }
        _ => Err(format!("{s:?} is not a large community: use GLOBAL:LOCAL1:LOCAL2 (each 0..=4294967295)")),
    }
}

/// Plain decimal digits only (no sign, no spaces, no empty string).
fn decimal<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

// ---------------------------------------------------------------------------------
// Terms.

/// A term's conditions. Every condition that is set must hold; an empty list or
/// `None` is no condition. Within a list, any value matches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Match {
    /// The route's prefix matches this list.
    pub prefix_list: Option<Arc<PrefixList>>,
    /// The route's neighbor ([`RouteInfo::neighbor`]) is one of these addresses or
    /// lies in one of these prefixes (an address is a /32 or /128). A route without
    /// a neighbor does not match.
    pub neighbor: Vec<IpNet>,
    /// The route carries one of these communities.
    pub community: Vec<Community>,
    /// The route carries one of these large communities.
    pub large_community: Vec<LargeCommunity>,
    /// One of these ASNs appears anywhere in the AS_PATH.
    pub as_path_contains: Vec<u32>,
    /// The route was originated by one of these ASNs (see [`origin_asns`]).
    pub origin_as: Vec<u32>,
    /// AS_PATH length ([`AsPath::len_for_decision`]; no AS_PATH counts 0) at least this.
    pub as_path_length_min: Option<u32>,
    /// AS_PATH length at most this; 0 matches routes originated in our AS.
    pub as_path_length_max: Option<u32>,
    /// The route came from one of these sources.
    pub source: Vec<RouteSource>,
}

impl Match {
    /// No conditions: every route matches.
    pub fn is_empty(&self) -> bool {
        *self == Match::default()
    }

    pub fn matches(&self, route: &RouteInfo, attrs: &PathAttrs) -> bool {
        if self.prefix_list.as_ref().is_some_and(|list| !list.matches(route.prefix)) {
            return false;
        }
        if !self.neighbor.is_empty() {
            let Some(neighbor) = route.neighbor.map(|a| a.to_canonical()) else {
                return false;
            };
            if !self.neighbor.iter().any(|net| net.contains(&neighbor)) {
                return false;
            }
        }
        if !self.source.is_empty() && !self.source.contains(&route.source) {
            return false;
        }
        if !self.community.is_empty() && !attrs.communities.iter().any(|c| self.community.contains(c)) {
            return false;
        }
        if !self.large_community.is_empty() && !attrs.large_communities.iter().any(|c| self.large_community.contains(c))
        {
            return false;
        }
        let empty = AsPath::default();
        let path = attrs.as_path.as_ref().unwrap_or(&empty);
        if !self.as_path_contains.is_empty()
            && !path.segments.iter().any(|s| s.asns.iter().any(|a| self.as_path_contains.contains(a)))
        {
            return false;
        }
        if !self.origin_as.is_empty() && !origin_asns(path).iter().any(|a| self.origin_as.contains(a)) {
            return false;
        }
        let len = u32::try_from(path.len_for_decision()).unwrap_or(u32::MAX);
        if self.as_path_length_min.is_some_and(|min| len < min) || self.as_path_length_max.is_some_and(|max| len > max)
        {
            return false;
        }
        true
    }
}

/// The AS that originated a route: the last AS of the AS_PATH's last segment that is
/// not a confederation segment; every member when that segment is an AS_SET (an
/// aggregate of several origins). Empty for a route originated in our AS (or our
/// confederation).
pub fn origin_asns(path: &AsPath) -> &[u32] {
    match path.segments.iter().rev().find(|s| matches!(s.kind, SegmentType::Sequence | SegmentType::Set)) {
        Some(s) if s.kind == SegmentType::Set => &s.asns,
        Some(s) => &s.asns[s.asns.len().saturating_sub(1)..],
        None => &[],
    }
}

/// `set_next_hop`: our session address, or a fixed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetNextHop {
    /// `"self"`: [`RouteInfo::local_address`].
    SelfAddress,
    Address(IpAddr),
}

impl fmt::Display for SetNextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetNextHop::SelfAddress => f.write_str("self"),
            SetNextHop::Address(a) => a.fmt(f),
        }
    }
}

/// `prepend`: put `asn` (our AS when `None`) `count` times in front of the AS_PATH.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prepend {
    pub count: u8,
    pub asn: Option<u32>,
}

/// What a matching term does to the attributes, applied in this order: LOCAL_PREF,
/// MED, next hop, communities removed then added, large communities removed then
/// added, prepend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Actions {
    pub set_local_pref: Option<u32>,
    pub set_med: Option<u32>,
    pub set_next_hop: Option<SetNextHop>,
    /// Added when not already present, after those already there.
    pub add_community: Vec<Community>,
    /// Every copy removed.
    pub remove_community: Vec<Community>,
    pub add_large_community: Vec<LargeCommunity>,
    pub remove_large_community: Vec<LargeCommunity>,
    pub prepend: Option<Prepend>,
}

impl Actions {
    /// Changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Actions::default()
    }

    pub fn apply(&self, route: &RouteInfo, attrs: &mut PathAttrs, local_as: u32) {
        if let Some(v) = self.set_local_pref {
            attrs.local_pref = Some(v);
        }
        if let Some(v) = self.set_med {
            attrs.med = Some(v);
        }
        match self.set_next_hop {
            Some(SetNextHop::Address(a)) => set_next_hop(attrs, route.prefix, a),
            Some(SetNextHop::SelfAddress) => {
                if let Some(a) = route.local_address {
                    set_next_hop(attrs, route.prefix, a);
                }
            }
            None => {}
        }
        if !self.remove_community.is_empty() {
            attrs.communities.retain(|c| !self.remove_community.contains(c));
        }
        for c in &self.add_community {
            if !attrs.communities.contains(c) {
                attrs.communities.push(*c);
            }
        }
        if !self.remove_large_community.is_empty() {
            attrs.large_communities.retain(|c| !self.remove_large_community.contains(c));
        }
        for c in &self.add_large_community {
            if !attrs.large_communities.contains(c) {
                attrs.large_communities.push(*c);
            }
        }
        if let Some(p) = self.prepend {
            prepend(attrs, p.asn.unwrap_or(local_as), p.count);
        }
    }
}

/// Puts `asn` `count` times in front of the AS_PATH (a missing AS_PATH is empty),
/// keeping it canonical (one leading AS_SEQUENCE).
pub fn prepend(attrs: &mut PathAttrs, asn: u32, count: u8) {
    if count == 0 {
        return;
    }
    let mut path = AsPath::from_sequence(vec![asn; usize::from(count)]);
    for segment in attrs.as_path.take().unwrap_or_default().segments {
        path.push(segment);
    }
    attrs.as_path = Some(path);
}

/// Sets the next hop of a route to `prefix`, where the RIB keeps it: NEXT_HOP for an
/// IPv4 route without MP_REACH_NLRI, otherwise MP_REACH_NLRI's next hop (created,
/// without NLRI, for the unicast family when absent). An IPv6 next hop for an IPv4
/// route moves it to MP_REACH_NLRI (RFC 8950); an IPv4 next hop for an IPv6 route is
/// written IPv4-mapped. A new global IPv6 next hop drops the link-local one.
pub fn set_next_hop(attrs: &mut PathAttrs, prefix: Prefix, address: IpAddr) {
    let address = address.to_canonical();
    let next_hop = match (prefix, address) {
        (Prefix::V4(_), IpAddr::V4(a)) => {
            if attrs.mp_reach.is_none() {
                attrs.next_hop = Some(a);
                return;
            }
            NextHop::V4(a)
        }
        (Prefix::V4(_), IpAddr::V6(a)) => NextHop::V6 { global: a, link_local: None },
        (Prefix::V6(_), IpAddr::V6(a)) => NextHop::V6 { global: a, link_local: None },
        (Prefix::V6(_), IpAddr::V4(a)) => NextHop::V6 { global: a.to_ipv6_mapped(), link_local: None },
    };
    match &mut attrs.mp_reach {
        Some(mp) => mp.next_hop = next_hop,
        None => {
            let family = match prefix {
                Prefix::V4(_) => Family::IPV4_UNICAST,
                Prefix::V6(_) => Family::IPV6_UNICAST,
            };
            attrs.next_hop = None;
            attrs.mp_reach = Some(Box::new(MpReach { family, next_hop, nlri: Vec::new() }));
        }
    }
}

/// One step of a policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Term {
    /// Unique within its policy; for logs and `bgpctl`.
    pub name: String,
    pub matches: Match,
    pub actions: Actions,
    /// How the term ends when it matched.
    pub action: TermAction,
}

impl Term {
    /// A term that matches every route, changes nothing and ends with `action`.
    pub fn new(name: impl Into<String>, action: TermAction) -> Term {
        Term { name: name.into(), matches: Match::default(), actions: Actions::default(), action }
    }
}

/// A named policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    pub name: String,
    pub terms: Vec<Term>,
    /// For routes no term accepted or rejected. Configured default: reject.
    pub default: Verdict,
}

impl Policy {
    /// A policy without terms.
    pub fn new(name: impl Into<String>, default: Verdict) -> Policy {
        Policy { name: name.into(), terms: Vec::new(), default }
    }

    /// The built-in [`ACCEPT_ALL`].
    pub fn accept_all() -> Policy {
        Policy::new(ACCEPT_ALL, Verdict::Accept)
    }

    /// The built-in [`REJECT_ALL`].
    pub fn reject_all() -> Policy {
        Policy::new(REJECT_ALL, Verdict::Reject)
    }

    /// Runs the policy on one route, editing `attrs` in place; `local_as` is what
    /// `prepend` puts in front when it names no AS. On [`Verdict::Reject`] the
    /// attributes may be partly edited: discard them.
    pub fn apply(&self, route: &RouteInfo, attrs: &mut PathAttrs, local_as: u32) -> Verdict {
        self.apply_traced(route, attrs, local_as).0
    }

    /// [`Policy::apply`], also saying which term decided (its index in `terms`), or
    /// `None` when the default did.
    pub fn apply_traced(&self, route: &RouteInfo, attrs: &mut PathAttrs, local_as: u32) -> (Verdict, Option<usize>) {
        for (i, term) in self.terms.iter().enumerate() {
            if !term.matches.matches(route, attrs) {
                continue;
            }
            term.actions.apply(route, attrs, local_as);
            match term.action {
                TermAction::Accept => return (Verdict::Accept, Some(i)),
                TermAction::Reject => return (Verdict::Reject, Some(i)),
                TermAction::Next => {}
            }
        }
        (self.default, None)
    }
}

/// Which policy a peer uses in one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyRef<'a> {
    /// A policy of the [`PolicySet`] by name (a built-in or a `[[policy]]`).
    Named(&'a str),
    /// None configured for an eBGP peer: RFC 8212, no route is accepted or sent.
    Rfc8212Deny,
}

impl PolicyRef<'_> {
    /// The policy's name; [`REJECT_ALL`] for RFC 8212.
    pub fn name(&self) -> &str {
        match self {
            PolicyRef::Named(name) => name,
            PolicyRef::Rfc8212Deny => REJECT_ALL,
        }
    }

    pub fn is_rfc8212_deny(&self) -> bool {
        matches!(self, PolicyRef::Rfc8212Deny)
    }
}

impl fmt::Display for PolicyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyRef::Named(name) => f.write_str(name),
            PolicyRef::Rfc8212Deny => f.write_str("none (RFC 8212: eBGP without a policy, nothing passes)"),
        }
    }
}

/// Every named policy and prefix list of a configuration, plus the built-ins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySet {
    policies: BTreeMap<String, Arc<Policy>>,
    prefix_lists: BTreeMap<String, Arc<PrefixList>>,
}

impl Default for PolicySet {
    fn default() -> PolicySet {
        PolicySet::new()
    }
}

impl PolicySet {
    /// The built-ins only.
    pub fn new() -> PolicySet {
        let policies = [Policy::accept_all(), Policy::reject_all()].map(|p| (p.name.clone(), Arc::new(p)));
        PolicySet { policies: policies.into_iter().collect(), prefix_lists: BTreeMap::new() }
    }

    /// Adds a policy; gives it back if its name is taken (built-ins included).
    pub fn insert(&mut self, policy: Policy) -> Result<(), Policy> {
        if self.policies.contains_key(&policy.name) {
            return Err(policy);
        }
        self.policies.insert(policy.name.clone(), Arc::new(policy));
        Ok(())
    }

    /// Adds a prefix list (for `bgpctl` to show; terms hold their own reference);
    /// gives it back if its name is taken.
    pub fn insert_prefix_list(&mut self, list: Arc<PrefixList>) -> Result<(), Arc<PrefixList>> {
        if self.prefix_lists.contains_key(&list.name) {
            return Err(list);
        }
        self.prefix_lists.insert(list.name.clone(), list);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name).map(|p| &**p)
    }

    /// The policy as a shared handle, for a task that outlives this set.
    pub fn get_shared(&self, name: &str) -> Option<Arc<Policy>> {
        self.policies.get(name).cloned()
    }

    /// The policy a [`PolicyRef`] means: [`REJECT_ALL`] for RFC 8212, and also for a
    /// name the set does not have (fail closed; a validated config never has one).
    pub fn resolve(&self, policy: PolicyRef<'_>) -> &Policy {
        self.get(policy.name()).or_else(|| self.get(REJECT_ALL)).expect("invariant: the built-ins are always present")
    }

    pub fn contains(&self, name: &str) -> bool {
        self.policies.contains_key(name)
    }

    /// Every policy, built-ins included, by name.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> + '_ {
        self.policies.values().map(|p| &**p)
    }

    /// Every policy name, built-ins included, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.policies.keys().map(String::as_str)
    }

    pub fn prefix_list(&self, name: &str) -> Option<&PrefixList> {
        self.prefix_lists.get(name).map(|l| &**l)
    }

    /// Every prefix list, by name.
    pub fn prefix_lists(&self) -> impl Iterator<Item = &PrefixList> + '_ {
        self.prefix_lists.values().map(|l| &**l)
    }
}

mod compile;
pub mod trace;

#[cfg(test)]
mod tests;
