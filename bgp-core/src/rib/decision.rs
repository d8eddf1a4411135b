//! The decision process: which of a prefix's paths is best, which are equal enough
//! to share traffic (ECMP), and which step decided.
//!
//! RFC 4271 §9.1.2.2 describes the tie-breaking as eliminating paths from the whole
//! candidate set one criterion at a time, not as a pairwise comparator. We do the
//! same: each step keeps only the paths best under its criterion, and the step that
//! leaves one path is recorded as the reason. Set elimination is what makes the MED
//! step (compared only among paths from the same neighbor AS) independent of the
//! order paths arrived in; a pairwise sort is not (the well-known MED intransitivity).
//!
//! Steps, in order (the numbers are [`Step`]'s):
//! 1. reachable next hop;
//!    1a. not long-lived stale (RFC 9494 §4.5: a path carrying LLGR_STALE is least
//!    preferred): the first tie-break, after the feasibility check of step 1, so a
//!    stale path with a reachable next hop still beats a fresh one without;
//! 2. highest LOCAL_PREF (100 when absent);
//! 3. locally originated (static, kernel, Kubernetes) over learned;
//! 4. shortest AS_PATH (an AS_SET counts one, confederation segments nothing);
//! 5. lowest ORIGIN;
//! 6. lowest MED among paths from the same neighbor AS (or among all, with
//!    `always_compare_med`); a missing MED is 0;
//! 7. eBGP over iBGP;
//! 8. lowest ORIGINATOR_ID, or the peer's router id when there is none (RFC 4456 §9);
//! 9. shortest CLUSTER_LIST;
//! 10. lowest peer address;
//! 11. among our own paths only (Kubernetes in cluster mode has one per node): the
//!     lowest next hop, so the path a peer without ADD-PATH is sent is the same
//!     whatever order the paths came in.
//!
//! Spec vs ours: the IGP cost to the next hop (§9.1.2.2 e) is not compared: we have
//! no IGP, and a homelab's next hops are on a shared segment. Multipath: the paths
//! that survive steps 1-7 are equal for forwarding; up to `max_paths` of them, with
//! distinct next hops, form the ECMP set (the best first).

use std::net::{IpAddr, Ipv4Addr};

use crate::wire::{Origin, PathAttrs};

/// Default LOCAL_PREF for paths without one (RFC 4271 §5.1.5 leaves it to policy;
/// 100 is what every implementation uses).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// The step of the decision process that picked the best path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Only one path.
    OnlyPath,
    NextHopReachable,
    /// RFC 9494 §4.5.
    NotLongLivedStale,
    LocalPref,
    LocallyOriginated,
    AsPathLength,
    Origin,
    Med,
    ExternalOverInternal,
    RouterId,
    ClusterListLength,
    PeerAddress,
    /// Our own paths, equal but for the next hop: the lowest.
    LowestNextHop,
    /// Equal in every step: the first one stays (same source, different path ids).
    Arrival,
}

impl Step {
    pub fn describe(self) -> &'static str {
        match self {
            Step::OnlyPath => "only path",
            Step::NextHopReachable => "next hop reachable",
            Step::NotLongLivedStale => "not long-lived stale",
            Step::LocalPref => "higher LOCAL_PREF",
            Step::LocallyOriginated => "locally originated",
            Step::AsPathLength => "shorter AS_PATH",
            Step::Origin => "lower ORIGIN",
            Step::Med => "lower MED",
            Step::ExternalOverInternal => "eBGP over iBGP",
            Step::RouterId => "lower ORIGINATOR_ID / router id",
            Step::ClusterListLength => "shorter CLUSTER_LIST",
            Step::PeerAddress => "lower peer address",
            Step::LowestNextHop => "lower next hop",
            Step::Arrival => "received first",
        }
    }
}

/// What the decision needs to know about one path.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub attrs: &'a PathAttrs,
    pub reachable: bool,
    /// Static, kernel or Kubernetes route of this speaker.
    pub local: bool,
    /// Learned over eBGP.
    pub external: bool,
    /// The peer's BGP identifier (ours for local routes).
    pub router_id: Ipv4Addr,
    /// The peer's address (unspecified for local routes).
    pub peer_address: IpAddr,
    /// For MED comparison: the AS the path came from (its first AS), our AS when empty.
    pub neighbor_as: u32,
}

impl Candidate<'_> {
    fn llgr_stale(&self) -> bool {
        super::llgr::is_llgr_stale(self.attrs)
    }
    fn local_pref(&self) -> u32 {
        self.attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)
    }
    fn as_path_len(&self) -> usize {
        self.attrs.as_path.as_ref().map_or(0, |p| p.len_for_decision())
    }
    fn origin(&self) -> Origin {
        self.attrs.origin.unwrap_or(Origin::Incomplete)
    }
    fn med(&self) -> u32 {
        self.attrs.med.unwrap_or(0)
    }
    fn id(&self) -> u32 {
        u32::from(self.attrs.originator_id.unwrap_or(self.router_id))
    }
    fn cluster_len(&self) -> usize {
        self.attrs.cluster_list.len()
    }
}

/// The outcome for one prefix: indexes into the candidate slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub best: usize,
    pub step: Step,
    /// The ECMP set, best first (always holds `best`).
    pub multipath: Vec<usize>,
}

/// Keeps, among `set`, the paths with the best `key` (highest or lowest).
fn keep_best<K: Ord + Copy>(set: &mut Vec<usize>, key: impl Fn(usize) -> K, higher_wins: bool) {
    let keys = set.iter().map(|&i| key(i));
    let best = if higher_wins { keys.max() } else { keys.min() };
    if let Some(best) = best {
        set.retain(|&i| key(i) == best);
    }
}

/// Runs the decision process over `paths` (which must not be empty).
pub fn decide(paths: &[Candidate<'_>], always_compare_med: bool, max_paths: usize) -> Decision {
    assert!(!paths.is_empty(), "invariant: decide needs a candidate");
    let mut set: Vec<usize> = (0..paths.len()).collect();
    let mut step = Step::OnlyPath;
    let mut multipath_set = None;
    let record = |set: &Vec<usize>, s: Step, step: &mut Step| {
        if set.len() == 1 && *step == Step::OnlyPath && paths.len() > 1 {
            *step = s;
        }
    };
    // 1. Paths with an unreachable next hop are out, unless none is reachable (then
    // none can be used, but one is still shown as best).
    if paths.iter().any(|p| p.reachable) {
        set.retain(|&i| paths[i].reachable);
    }
    record(&set, Step::NextHopReachable, &mut step);
    // Almost never a stale path: one scan of the communities each, not keep_best's two.
    if set.iter().any(|&i| paths[i].llgr_stale()) {
        keep_best(&mut set, |i| !paths[i].llgr_stale(), true);
    }
    record(&set, Step::NotLongLivedStale, &mut step);
    keep_best(&mut set, |i| paths[i].local_pref(), true);
    record(&set, Step::LocalPref, &mut step);
    keep_best(&mut set, |i| paths[i].local, true);
    record(&set, Step::LocallyOriginated, &mut step);
    keep_best(&mut set, |i| paths[i].as_path_len(), false);
    record(&set, Step::AsPathLength, &mut step);
    keep_best(&mut set, |i| paths[i].origin(), false);
    record(&set, Step::Origin, &mut step);
    // 6. MED: within each neighbor AS group, drop paths with a higher MED than the
    // group's lowest (RFC 4271 §9.1.2.2 c).
    if always_compare_med {
        keep_best(&mut set, |i| paths[i].med(), false);
    } else {
        // The lowest MED of each neighbor AS, found by sorting: n log n, where
        // comparing every path with every other would be quadratic in the paths an
        // ADD-PATH peer may send.
        let mut lowest: Vec<(u32, u32)> = set.iter().map(|&i| (paths[i].neighbor_as, paths[i].med())).collect();
        lowest.sort_unstable();
        lowest.dedup_by_key(|&mut (asn, _)| asn);
        set.retain(|&i| {
            let at = lowest.binary_search_by_key(&paths[i].neighbor_as, |&(asn, _)| asn);
            at.is_ok_and(|k| lowest[k].1 == paths[i].med())
        });
    }
    record(&set, Step::Med, &mut step);
    keep_best(&mut set, |i| paths[i].external, true);
    record(&set, Step::ExternalOverInternal, &mut step);
    multipath_set.get_or_insert_with(|| set.clone());
    keep_best(&mut set, |i| paths[i].id(), false);
    record(&set, Step::RouterId, &mut step);
    keep_best(&mut set, |i| paths[i].cluster_len(), false);
    record(&set, Step::ClusterListLength, &mut step);
    keep_best(&mut set, |i| paths[i].peer_address, false);
    record(&set, Step::PeerAddress, &mut step);
    if set.len() > 1 && set.iter().all(|&i| paths[i].local) {
        keep_best(&mut set, |i| next_hop_ip(paths[i].attrs), false);
        record(&set, Step::LowestNextHop, &mut step);
    }
    if set.len() > 1 && step == Step::OnlyPath {
        step = Step::Arrival;
    }
    let best = set[0];
    // The ECMP set: the survivors of steps 1-7, best first, one per next hop.
    let mut multipath = vec![best];
    for i in multipath_set.unwrap_or_default() {
        if multipath.len() >= max_paths.max(1) {
            break;
        }
        if i != best
            && !multipath.iter().any(|&m| paths[m].attrs.effective_next_hop() == paths[i].attrs.effective_next_hop())
        {
            multipath.push(i);
        }
    }
    Decision { best, step, multipath }
}

/// The path's next hop as an address (IPv4 before IPv6), for the last tie-break.
pub(super) fn next_hop_ip(attrs: &PathAttrs) -> Option<IpAddr> {
    attrs.effective_next_hop().map(|nh| match nh {
        crate::wire::NextHop::V4(a) => IpAddr::V4(a),
        crate::wire::NextHop::V6 { global, .. } => IpAddr::V6(global),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{AsPath, Segment, SegmentType};

    struct P {
        attrs: PathAttrs,
        reachable: bool,
        local: bool,
        external: bool,
        router_id: &'static str,
        peer: &'static str,
    }

    fn p(asns: &[u32]) -> P {
        P {
            attrs: PathAttrs {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::from_sequence(asns.to_vec())),
                next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
                ..PathAttrs::default()
            },
            reachable: true,
            local: false,
            external: true,
            router_id: "10.0.0.9",
            peer: "10.0.0.9",
        }
    }

    fn run(ps: &[P], always: bool, max: usize) -> Decision {
        let cands: Vec<Candidate<'_>> = ps
            .iter()
            .map(|x| Candidate {
                attrs: &x.attrs,
                reachable: x.reachable,
                local: x.local,
                external: x.external,
                router_id: x.router_id.parse().unwrap(),
                peer_address: x.peer.parse().unwrap(),
                neighbor_as: x.attrs.as_path.as_ref().and_then(|p| p.segments.first()).map_or(65000, |s| s.asns[0]),
            })
            .collect();
        decide(&cands, always, max)
    }

    /// Two paths differing in one respect: the better one (index 1) must win at `step`.
    fn wins(worse: P, better: P, step: Step) {
        let d = run(&[worse, better], false, 1);
        assert_eq!((d.best, d.step), (1, step));
    }

    #[test]
    fn single_path() {
        let d = run(&[p(&[65001])], false, 8);
        assert_eq!((d.best, d.step, d.multipath), (0, Step::OnlyPath, vec![0]));
    }

    #[test]
    fn step_1_reachable_next_hop() {
        let mut a = p(&[65001]);
        a.reachable = false;
        a.attrs.local_pref = Some(500);
        wins(a, p(&[65001, 65002, 65003]), Step::NextHopReachable);
    }

    #[test]
    fn step_1a_not_long_lived_stale_beats_a_better_stale_path() {
        let mut a = p(&[65001]);
        a.attrs.local_pref = Some(500);
        a.attrs.communities = vec![crate::wire::Community::LLGR_STALE];
        wins(a, p(&[65001, 65002, 65003]), Step::NotLongLivedStale);
        // Reachability comes first: a stale path is still better than none usable.
        let mut a = p(&[65001]);
        a.attrs.communities = vec![crate::wire::Community::LLGR_STALE];
        let mut b = p(&[65001]);
        b.reachable = false;
        let d = run(&[a, b], false, 8);
        assert_eq!((d.best, d.step), (0, Step::NextHopReachable));
        // Two stale paths: the usual steps decide between them.
        let mut a = p(&[65001, 65002]);
        a.attrs.communities = vec![crate::wire::Community::LLGR_STALE];
        let mut b = p(&[65001]);
        b.attrs.communities = vec![crate::wire::Community::LLGR_STALE];
        wins(a, b, Step::AsPathLength);
    }

    #[test]
    fn step_2_local_pref() {
        let mut b = p(&[65001, 65002]);
        b.attrs.local_pref = Some(200);
        wins(p(&[65001]), b, Step::LocalPref);
        let mut a = p(&[65001]);
        a.attrs.local_pref = Some(99);
        wins(a, p(&[65001, 65002]), Step::LocalPref); // absent counts as 100
    }

    #[test]
    fn step_3_locally_originated() {
        let mut b = p(&[]);
        b.local = true;
        b.attrs.as_path = Some(AsPath::from_sequence(vec![65001, 65002]));
        wins(p(&[65001]), b, Step::LocallyOriginated);
    }

    #[test]
    fn step_4_as_path_length_counts_sets_once_and_confeds_not() {
        let mut a = p(&[65001]);
        a.attrs.as_path.as_mut().unwrap().push(Segment { kind: SegmentType::Set, asns: vec![1, 2, 3] });
        let mut b = p(&[65001]);
        b.attrs.as_path = Some(AsPath {
            segments: vec![
                Segment { kind: SegmentType::ConfedSequence, asns: vec![64512, 64513, 64514] },
                Segment { kind: SegmentType::Sequence, asns: vec![65001] },
            ],
        });
        wins(a, b, Step::AsPathLength);
    }

    #[test]
    fn step_5_origin() {
        let mut a = p(&[65001]);
        a.attrs.origin = Some(Origin::Incomplete);
        let mut b = p(&[65002]);
        b.attrs.origin = Some(Origin::Egp);
        wins(a, b, Step::Origin);
    }

    #[test]
    fn step_6_med_only_within_the_same_neighbor_as() {
        let mut a = p(&[65001]);
        a.attrs.med = Some(20);
        let mut b = p(&[65001]);
        b.attrs.med = Some(10);
        b.router_id = "10.0.0.99";
        wins(a, b, Step::Med);
        // Different neighbor AS: MED is not compared; the router id decides.
        let mut a = p(&[65001]);
        a.attrs.med = Some(20);
        a.router_id = "10.0.0.1";
        let mut b = p(&[65002]);
        b.attrs.med = Some(10);
        let d = run(&[a, b], false, 1);
        assert_eq!((d.best, d.step), (0, Step::RouterId));
    }

    #[test]
    fn step_6_always_compare_med() {
        let mut a = p(&[65001]);
        a.attrs.med = Some(20);
        a.router_id = "10.0.0.1";
        let mut b = p(&[65002]);
        b.attrs.med = Some(10);
        let d = run(&[a, b], true, 1);
        assert_eq!((d.best, d.step), (1, Step::Med));
    }

    #[test]
    fn step_7_ebgp_over_ibgp() {
        let mut a = p(&[65001]);
        a.external = false;
        a.router_id = "10.0.0.1";
        wins(a, p(&[65001]), Step::ExternalOverInternal);
    }

    #[test]
    fn step_8_router_id_or_originator_id() {
        let mut a = p(&[65001]);
        a.router_id = "10.0.0.5";
        let mut b = p(&[65001]);
        b.router_id = "10.0.0.7";
        b.attrs.originator_id = Some(Ipv4Addr::new(10, 0, 0, 3));
        wins(a, b, Step::RouterId);
    }

    #[test]
    fn step_9_cluster_list_length() {
        let mut a = p(&[65001]);
        a.attrs.originator_id = Some(Ipv4Addr::new(10, 0, 0, 3));
        a.attrs.cluster_list = vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2)];
        let mut b = p(&[65001]);
        b.attrs.originator_id = Some(Ipv4Addr::new(10, 0, 0, 3));
        b.attrs.cluster_list = vec![Ipv4Addr::new(1, 1, 1, 1)];
        wins(a, b, Step::ClusterListLength);
    }

    #[test]
    fn step_10_peer_address() {
        let mut a = p(&[65001]);
        a.peer = "10.0.0.20";
        let mut b = p(&[65001]);
        b.peer = "10.0.0.10";
        wins(a, b, Step::PeerAddress);
    }

    #[test]
    fn multipath_takes_paths_equal_through_step_7_with_distinct_next_hops() {
        let mk = |nh: u8, rid: &'static str| {
            let mut x = p(&[]);
            x.external = false;
            x.router_id = rid;
            x.attrs.next_hop = Some(Ipv4Addr::new(10, 10, 0, nh));
            x
        };
        let mut worse = mk(24, "10.0.0.1");
        worse.attrs.local_pref = Some(50);
        let ps = [mk(21, "10.0.0.21"), mk(22, "10.0.0.22"), mk(22, "10.0.0.23"), worse, mk(23, "10.0.0.20")];
        let d = run(&ps, false, 8);
        assert_eq!(d.best, 4, "lowest router id");
        assert_eq!(d.multipath, vec![4, 0, 1], "one path per next hop, the worse one out");
        assert_eq!(run(&ps, false, 2).multipath.len(), 2, "capped");
        assert_eq!(run(&ps, false, 1).multipath, vec![4]);
    }

    #[test]
    fn own_paths_equal_but_for_the_next_hop_the_lowest_wins_whatever_the_order() {
        let own = |nh: [u8; 4]| {
            let mut x = p(&[]);
            x.local = true;
            x.peer = "0.0.0.0";
            x.router_id = "10.10.0.2";
            x.attrs.next_hop = Some(Ipv4Addr::from(nh));
            x
        };
        let d = run(&[own([10, 0, 0, 12]), own([10, 0, 0, 11]), own([10, 0, 0, 13])], false, 1);
        assert_eq!((d.best, d.step), (1, Step::LowestNextHop));
        let d = run(&[own([10, 0, 0, 11]), own([10, 0, 0, 13]), own([10, 0, 0, 12])], false, 1);
        assert_eq!((d.best, d.step), (0, Step::LowestNextHop));
        assert_eq!(run(&[own([10, 0, 0, 12]), own([10, 0, 0, 11])], false, 8).multipath, vec![1, 0]);
        // Peers' paths still go by arrival once every step ties.
        let d = run(&[p(&[65001]), p(&[65001])], false, 1);
        assert_eq!(d.step, Step::Arrival);
    }
}
