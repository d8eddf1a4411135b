//! The text of `bgpctl why`: the report read top to bottom as a story (where the
//! route came from, what import did, why the best won, who was sent it, the kernel).

use std::fmt::Write;

use bgp_core::ctl::why::{WhyPath, WhyReport};
use bgp_core::policy::trace::PolicyTrace;

use crate::output::{clean, forwarding_hops};

pub fn why(r: &WhyReport) -> String {
    let mut out = String::new();
    let asked = clean(&r.query);
    match r.prefix.as_deref() {
        Some(p) if p != r.query => writeln!(out, "{asked} -> {p}").unwrap(),
        Some(p) => writeln!(out, "{p}").unwrap(),
        None => writeln!(out, "{asked}: nothing covers it").unwrap(),
    }
    writeln!(out, "  {}", clean(&r.verdict)).unwrap();
    if !r.paths.is_empty() {
        out.push_str("\nPaths (best first):\n");
        for p in &r.paths {
            path(&mut out, p);
        }
    }
    if !r.rejected.is_empty() {
        out.push_str("\nRefused on import:\n");
        for x in &r.rejected {
            let path = x.route.as_path.to_string();
            let path = if path.is_empty() { "(empty)".to_string() } else { path };
            writeln!(out, "  from {}, AS path {path}: {}", x.from, clean(&x.reason)).unwrap();
            if let Some(t) = &x.import {
                trace(&mut out, "import", t);
            }
        }
    }
    if !r.peers.is_empty() {
        out.push_str("\nNeighbors:\n");
        for p in &r.peers {
            match (&p.sent, &p.reason) {
                (true, _) if p.drained => {
                    writeln!(out, "  sent to {} (drained: with GRACEFUL_SHUTDOWN)", p.address).unwrap()
                }
                (true, _) => writeln!(out, "  sent to {}", p.address).unwrap(),
                (false, Some(reason)) => writeln!(out, "  not sent to {}: {}", p.address, clean(reason)).unwrap(),
                (false, None) => writeln!(out, "  not sent to {}", p.address).unwrap(),
            }
            if let Some(t) = p.export.as_ref().filter(|t| t.accepted() && !t.changes.is_empty()) {
                trace(&mut out, "export", t);
            }
        }
    }
    out.push_str("\nKernel:\n");
    let f = &r.fib;
    match (f.state.as_deref(), f.reason.as_deref()) {
        (Some(state), reason) => {
            write!(out, "  {state} via {}", forwarding_hops(&f.next_hops)).unwrap();
            if let Some(reason) = reason {
                write!(out, " ({})", clean(reason)).unwrap();
            }
            out.push('\n');
        }
        (None, Some(reason)) => writeln!(out, "  not installed: {}", clean(reason)).unwrap(),
        (None, None) => out.push_str("  not installed\n"),
    }
    for n in &r.notes {
        writeln!(out, "\nNote: {}", clean(n)).unwrap();
    }
    out
}

fn path(out: &mut String, p: &WhyPath) {
    let mark = match (p.route.best, p.route.multipath) {
        (true, _) => '*',
        (false, true) => '=',
        _ => ' ',
    };
    writeln!(out, "  {mark} {}", clean(&p.source)).unwrap();
    let r = &p.route;
    let mut attrs = Vec::new();
    if let Some(nh) = r.next_hop {
        attrs.push(format!("next hop {nh}"));
    }
    if let Some(lp) = r.local_pref {
        attrs.push(format!("LOCAL_PREF {lp}"));
    }
    if let Some(med) = r.med {
        attrs.push(format!("MED {med}"));
    }
    if !r.communities.is_empty() {
        let c: Vec<String> = r.communities.iter().map(|c| c.to_string()).collect();
        attrs.push(format!("communities {}", c.join(" ")));
    }
    if !attrs.is_empty() {
        writeln!(out, "      {}", attrs.join(", ")).unwrap();
    }
    if let Some(nh) = &p.next_hop {
        writeln!(out, "      {}", clean(nh)).unwrap();
    }
    if let Some(t) = &p.import {
        trace(out, "import", t);
    }
    match (&p.lost, r.best) {
        (Some(lost), _) => writeln!(out, "      {}", clean(lost)).unwrap(),
        (None, true) => {}
        (None, false) => {}
    }
}

/// "import: accepted by policy X term Y: LOCAL_PREF none -> 200".
fn trace(out: &mut String, what: &str, t: &PolicyTrace) {
    let mut line = format!("      {what}: {}", clean(&t.describe()));
    if !t.changes.is_empty() {
        write!(line, ": {}", clean(&t.changes.join(", "))).unwrap();
    }
    out.push_str(&line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use bgp_core::ctl::why::{WhyFib, WhyPeer, WhyRejected};
    use bgp_core::ctl::RouteRow;

    use super::*;

    #[test]
    fn a_missing_route_reads_as_a_story() {
        let trace = PolicyTrace {
            policy: "from-router".into(),
            verdict: "reject".into(),
            term: Some("drop-lan".into()),
            steps: vec![],
            changes: vec![],
        };
        let r = WhyReport {
            query: "10.1.0.7".into(),
            prefix: Some("10.1.0.0/24".into()),
            verdict: "rejected by policy from-router term drop-lan".into(),
            rejected: vec![WhyRejected {
                prefix: "10.1.0.0/24".into(),
                from: "10.10.0.1".parse().unwrap(),
                path_id: 0,
                reason: "rejected by policy from-router term drop-lan".into(),
                import: Some(trace),
                route: RouteRow::default(),
            }],
            peers: vec![WhyPeer {
                address: "10.10.0.9".parse().unwrap(),
                sent: false,
                reason: Some("RFC 8212, no export_policy".into()),
                export: None,
                drained: false,
            }],
            fib: WhyFib { reason: Some("rejected by policy from-router term drop-lan".into()), ..WhyFib::default() },
            ..WhyReport::default()
        };
        let text = why(&r);
        assert!(
            text.starts_with("10.1.0.7 -> 10.1.0.0/24\n  rejected by policy from-router term drop-lan\n"),
            "{text}"
        );
        assert!(text.contains("  from 10.10.0.1, AS path (empty): rejected by policy from-router term drop-lan\n"));
        assert!(text.contains("  not sent to 10.10.0.9: RFC 8212, no export_policy\n"), "{text}");
        assert!(text.contains("Kernel:\n  not installed: rejected by policy"), "{text}");
    }
}
