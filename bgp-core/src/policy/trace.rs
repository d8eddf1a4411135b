//! A tracing evaluator for `bgpctl why`: runs a [`Policy`] exactly as
//! [`Policy::apply`] does, and records, term by term, whether it matched, what its
//! actions changed and how it ended. Pure; the caller passes the route as received
//! (the Adj-RIB-In copy) and reads the trace.
//!
//! Terms after the one that decided are not evaluated, so they are not in the
//! trace: the trace is the evaluation, not a listing of the policy (BIRD's
//! `show route ... filtered` and FRR's `show bgp ... route-map` debugging tell the
//! same story: which clause decided).

use serde::{Deserialize, Serialize};

use super::{Policy, RouteInfo, TermAction, Verdict};
use crate::wire::{NextHop, PathAttrs};

/// One evaluated term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermStep {
    pub term: String,
    /// All of its conditions held.
    pub matched: bool,
    /// What its actions changed, in words ("LOCAL_PREF 100 -> 200"); empty when it did
    /// not match or changed nothing.
    pub changes: Vec<String>,
    /// How it ended when it matched: `accept`, `reject` or `next`.
    pub action: Option<String>,
}

/// A policy's evaluation of one route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyTrace {
    pub policy: String,
    /// `accept` or `reject`.
    pub verdict: String,
    /// The term that decided; `None`: the policy's default did.
    pub term: Option<String>,
    pub steps: Vec<TermStep>,
    /// Everything the policy changed, from the route as received to as accepted.
    pub changes: Vec<String>,
}

impl PolicyTrace {
    pub fn accepted(&self) -> bool {
        self.verdict == Verdict::Accept.to_string()
    }

    /// "rejected by policy X term Y", "accepted by policy X (its default)".
    pub fn describe(&self) -> String {
        let what = if self.accepted() { "accepted" } else { "rejected" };
        match &self.term {
            Some(term) => format!("{what} by policy {} term {term}", self.policy),
            None => format!("{what} by policy {} (its default)", self.policy),
        }
    }
}

impl Policy {
    /// [`Policy::apply`], recording each term's decision and changes. `attrs` ends as
    /// `apply` leaves it.
    pub fn trace(&self, route: &RouteInfo, attrs: &mut PathAttrs, local_as: u32) -> PolicyTrace {
        let received = attrs.clone();
        let mut steps = Vec::new();
        let mut decided = None;
        for term in &self.terms {
            if !term.matches.matches(route, attrs) {
                steps.push(TermStep { term: term.name.clone(), matched: false, changes: Vec::new(), action: None });
                continue;
            }
            let before = attrs.clone();
            term.actions.apply(route, attrs, local_as);
            let changes = describe_changes(&before, attrs);
            steps.push(TermStep {
                term: term.name.clone(),
                matched: true,
                changes,
                action: Some(term.action.to_string()),
            });
            match term.action {
                TermAction::Accept => decided = Some((Verdict::Accept, term.name.clone())),
                TermAction::Reject => decided = Some((Verdict::Reject, term.name.clone())),
                TermAction::Next => continue,
            }
            break;
        }
        let (verdict, term) = match decided {
            Some((v, t)) => (v, Some(t)),
            None => (self.default, None),
        };
        let changes = match verdict {
            Verdict::Accept => describe_changes(&received, attrs),
            Verdict::Reject => Vec::new(),
        };
        PolicyTrace { policy: self.name.clone(), verdict: verdict.to_string(), term, steps, changes }
    }
}

/// What differs between two attribute sets, in the words of `show routes`, for the
/// attributes a policy can change (LOCAL_PREF, MED, next hop, communities, large
/// communities, AS_PATH).
pub fn describe_changes(before: &PathAttrs, after: &PathAttrs) -> Vec<String> {
    let mut out = Vec::new();
    let opt = |v: Option<u32>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
    if before.local_pref != after.local_pref {
        out.push(format!("LOCAL_PREF {} -> {}", opt(before.local_pref), opt(after.local_pref)));
    }
    if before.med != after.med {
        out.push(format!("MED {} -> {}", opt(before.med), opt(after.med)));
    }
    let nh = |a: &PathAttrs| a.effective_next_hop().map_or_else(|| "none".to_string(), |n: NextHop| n.to_string());
    if before.effective_next_hop() != after.effective_next_hop() {
        out.push(format!("next hop {} -> {}", nh(before), nh(after)));
    }
    let added: Vec<String> =
        after.communities.iter().filter(|c| !before.communities.contains(c)).map(|c| c.to_string()).collect();
    let removed: Vec<String> =
        before.communities.iter().filter(|c| !after.communities.contains(c)).map(|c| c.to_string()).collect();
    if !added.is_empty() {
        out.push(format!("community added {}", added.join(" ")));
    }
    if !removed.is_empty() {
        out.push(format!("community removed {}", removed.join(" ")));
    }
    let added: Vec<String> = after
        .large_communities
        .iter()
        .filter(|c| !before.large_communities.contains(c))
        .map(|c| c.to_string())
        .collect();
    let removed: Vec<String> = before
        .large_communities
        .iter()
        .filter(|c| !after.large_communities.contains(c))
        .map(|c| c.to_string())
        .collect();
    if !added.is_empty() {
        out.push(format!("large community added {}", added.join(" ")));
    }
    if !removed.is_empty() {
        out.push(format!("large community removed {}", removed.join(" ")));
    }
    if before.as_path != after.as_path {
        let path = |a: &PathAttrs| a.as_path.as_ref().map_or_else(String::new, |p| p.to_string());
        out.push(format!("AS_PATH \"{}\" -> \"{}\"", path(before), path(after)));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;
    use crate::policy::{parse_community, Actions, Match, PrefixEntry, PrefixList, Prepend, RouteSource, Term};
    use crate::prefix::Prefix;
    use crate::wire::{AsPath, Origin};

    fn route(prefix: &str) -> RouteInfo {
        RouteInfo::new(prefix.parse::<Prefix>().unwrap(), RouteSource::Peer, Some("10.10.0.1".parse().unwrap()))
    }

    fn attrs() -> PathAttrs {
        PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(vec![65010])),
            next_hop: Some(Ipv4Addr::new(10, 10, 0, 1)),
            ..PathAttrs::default()
        }
    }

    /// `lan` (prefix list 10.0.0.0/8 le 24): set LOCAL_PREF 200, tag, next;
    /// `prepend` (community 65010:1): prepend twice, accept; `drop-long`: reject
    /// (prefix list 10.0.0.0/8 ge 25); default reject.
    fn policy() -> Policy {
        let lan = Arc::new(PrefixList {
            name: "lan".into(),
            entries: vec![PrefixEntry { prefix: "10.0.0.0/8".parse().unwrap(), ge: None, le: Some(24) }],
        });
        let long = Arc::new(PrefixList {
            name: "long".into(),
            entries: vec![PrefixEntry { prefix: "10.0.0.0/8".parse().unwrap(), ge: Some(25), le: None }],
        });
        let mut p = Policy::new("from-router", Verdict::Reject);
        p.terms.push(Term {
            name: "lan".into(),
            matches: Match { prefix_list: Some(lan), ..Match::default() },
            actions: Actions {
                set_local_pref: Some(200),
                add_community: vec![parse_community("65000:7").unwrap()],
                ..Actions::default()
            },
            action: TermAction::Next,
        });
        p.terms.push(Term {
            name: "prepend".into(),
            matches: Match { community: vec![parse_community("65000:7").unwrap()], ..Match::default() },
            actions: Actions { prepend: Some(Prepend { count: 2, asn: None }), ..Actions::default() },
            action: TermAction::Accept,
        });
        p.terms.push(Term {
            name: "drop-long".into(),
            matches: Match { prefix_list: Some(long), ..Match::default() },
            actions: Actions::default(),
            action: TermAction::Reject,
        });
        p
    }

    #[test]
    fn records_each_term_and_what_it_changed() {
        let mut a = attrs();
        let t = policy().trace(&route("10.1.0.0/24"), &mut a, 64512);
        assert_eq!(t.describe(), "accepted by policy from-router term prepend");
        assert_eq!(t.steps.len(), 2, "evaluation stops at the deciding term: {t:?}");
        assert_eq!(t.steps[0].changes, vec!["LOCAL_PREF none -> 200", "community added 65000:7"]);
        assert_eq!(t.steps[0].action.as_deref(), Some("next"));
        assert_eq!(t.steps[1].changes, vec!["AS_PATH \"65010\" -> \"64512 64512 65010\""]);
        assert_eq!(t.changes.len(), 3, "{:?}", t.changes);
        // The same result as the untraced evaluation.
        let mut b = attrs();
        assert_eq!(policy().apply(&route("10.1.0.0/24"), &mut b, 64512), Verdict::Accept);
        assert_eq!(a, b);
    }

    #[test]
    fn names_the_rejecting_term_or_the_default() {
        let mut a = attrs();
        let t = policy().trace(&route("10.1.0.128/25"), &mut a, 64512);
        assert_eq!(t.describe(), "rejected by policy from-router term drop-long");
        assert_eq!(t.steps.iter().map(|s| s.matched).collect::<Vec<_>>(), vec![false, false, true]);
        assert!(t.changes.is_empty(), "a rejected route keeps nothing");
        let mut a = attrs();
        let t = policy().trace(&route("192.168.0.0/24"), &mut a, 64512);
        assert_eq!((t.accepted(), t.term.as_deref()), (false, None));
        assert_eq!(t.describe(), "rejected by policy from-router (its default)");
        let t = Policy::accept_all().trace(&route("192.168.0.0/24"), &mut attrs(), 64512);
        assert_eq!(t.describe(), "accepted by policy accept-all (its default)");
        assert!(t.steps.is_empty() && t.changes.is_empty());
    }

    #[test]
    fn next_hop_and_med_changes_are_described() {
        let mut before = attrs();
        before.med = Some(5);
        let mut after = before.clone();
        after.med = None;
        after.next_hop = Some(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(describe_changes(&before, &after), vec!["MED 5 -> none", "next hop 10.10.0.1 -> 192.0.2.1"]);
    }
}
