//! What a route looks like when it leaves toward one peer, or why it does not: the
//! iBGP/eBGP rules of RFC 4271 §5 and §9.1.3, the well-known communities of RFC 1997,
//! and route reflection (RFC 4456 §6, §8).
//!
//! Rules, in order:
//! 1. a route is never sent back to the peer it came from (split horizon);
//! 2. NO_ADVERTISE: to nobody; NO_EXPORT and NO_EXPORT_SUBCONFED: not to eBGP peers
//!    (we run no confederation); LLGR_STALE: only to peers with long-lived graceful
//!    restart (RFC 9494 §4.6);
//! 3. iBGP-learned routes go to iBGP peers only by reflection: a client's routes to
//!    every client and non-client, a non-client's routes to clients only; reflection
//!    sets ORIGINATOR_ID (if absent) and prepends our cluster id to CLUSTER_LIST;
//! 4. toward eBGP: our AS is prepended (after removing private ASes when asked),
//!    LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST go, a MED learned from a peer goes
//!    (RFC 4271 §5.1.4: MED is not passed on to another AS; a MED we set ourselves
//!    stays), and the next hop becomes ours unless the route's next hop is on the
//!    peer's own subnet (the "third-party" next hop of §5.1.3, which is what lets the
//!    home router send LoadBalancer traffic straight to the nodes);
//! 5. toward iBGP: the next hop is kept (a reflector never changes it) unless
//!    `next_hop_self`; LOCAL_PREF is set to 100 when absent;
//! 6. unknown optional transitive attributes pass with the Partial bit; unknown
//!    non-transitive ones do not pass (RFC 4271 §5).

use std::net::{IpAddr, Ipv4Addr};

use super::{PeerInfo, RibConfig, SourceId, SourceKind};
use crate::wire::{AsPath, Community, NextHop, PathAttrs, Segment, SegmentType};

/// The peer a route is exported to, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportTarget {
    pub source: SourceId,
    pub peer: PeerInfo,
    pub next_hop_self: bool,
    pub remove_private_as: bool,
    /// Our address on the session, for next-hop-self of IPv4 routes.
    pub local_v4: Option<Ipv4Addr>,
    /// Our IPv6 next hop on the session (global, and link-local on a shared segment).
    pub local_v6: Option<NextHop>,
    /// The subnets shared with the peer (our addresses and prefix lengths on the
    /// interface of the session, IPv4 and IPv6): a route whose next hop lies in one keeps
    /// that next hop toward eBGP (third-party next hop).
    pub shared_subnets: Vec<(IpAddr, u8)>,
    /// The peer negotiated long-lived graceful restart: it may be sent long-lived
    /// stale routes (RFC 9494 §4.6).
    pub long_lived: bool,
    /// Drained (RFC 8326 graceful shutdown, drain.rs): routes leave marked.
    pub drained: bool,
}

/// Why a route is not exported to a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    SplitHorizon,
    NoAdvertise,
    NoExport,
    /// iBGP-learned, and reflection does not apply.
    NotReflected,
    /// No usable next hop of ours for the route's family on this session.
    NoNextHop,
    /// Long-lived stale, and the peer has no LLGR (RFC 9494 §4.6).
    LongLivedStale,
}

/// Applies the rules above to a route from `from` (a source of ours) with `attrs`.
pub fn export(
    cfg: &RibConfig,
    from_id: SourceId,
    from: &SourceKind,
    to: &ExportTarget,
    attrs: &PathAttrs,
) -> Result<PathAttrs, Refused> {
    if from_id == to.source {
        return Err(Refused::SplitHorizon);
    }
    if attrs.communities.contains(&Community::NO_ADVERTISE) {
        return Err(Refused::NoAdvertise);
    }
    if !to.long_lived && super::llgr::is_llgr_stale(attrs) {
        return Err(Refused::LongLivedStale);
    }
    let to_external = !to.peer.internal;
    if to_external
        && (attrs.communities.contains(&Community::NO_EXPORT)
            || attrs.communities.contains(&Community::NO_EXPORT_SUBCONFED))
    {
        return Err(Refused::NoExport);
    }
    let from_peer = from.peer();
    let reflect = match from_peer {
        Some(p) if p.internal && to.peer.internal => {
            if !p.rr_client && !to.peer.rr_client {
                return Err(Refused::NotReflected);
            }
            Some(p)
        }
        _ => None,
    };
    let mut out = attrs.clone();
    out.unknown = attrs.unknown.iter().filter_map(|a| a.passed_on()).collect();
    if let Some(p) = reflect {
        // RFC 4456 §8.
        out.originator_id.get_or_insert(p.router_id);
        out.cluster_list.insert(0, cfg.cluster_id);
    }
    if to_external {
        out.local_pref = None;
        out.originator_id = None;
        out.cluster_list.clear();
        if from_peer.is_some() {
            out.med = None;
        }
        let mut path = out.as_path.take().unwrap_or_default();
        if to.remove_private_as {
            path = without_private(path);
        }
        let mut prepended = AsPath::from_sequence(vec![cfg.local_as]);
        for s in path.segments {
            prepended.push(s);
        }
        out.as_path = Some(prepended);
        let third_party =
            forwarding_ip(&out).is_some_and(|nh| to.shared_subnets.iter().any(|&s| in_subnet(nh, Some(s))));
        if !third_party {
            set_next_hop_self(&mut out, to)?;
        }
    } else {
        out.local_pref.get_or_insert(super::decision::DEFAULT_LOCAL_PREF);
        out.as_path.get_or_insert_with(AsPath::default);
        if to.next_hop_self || forwarding_ip(&out).is_none() {
            set_next_hop_self(&mut out, to)?;
        }
    }
    Ok(out)
}

/// The route's next hop; an unspecified address (a local route without a configured
/// next hop) counts as none: ours is filled in.
fn forwarding_ip(attrs: &PathAttrs) -> Option<IpAddr> {
    let ip = match attrs.effective_next_hop()? {
        NextHop::V4(a) => IpAddr::V4(a),
        NextHop::V6 { global, .. } => IpAddr::V6(global),
    };
    (!ip.is_unspecified()).then_some(ip)
}

fn in_subnet(ip: IpAddr, subnet: Option<(IpAddr, u8)>) -> bool {
    let Some((net, len)) = subnet else { return false };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if len <= 128 => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn set_next_hop_self(out: &mut PathAttrs, to: &ExportTarget) -> Result<(), Refused> {
    match &mut out.mp_reach {
        Some(r) => {
            r.next_hop = match (r.next_hop, to.local_v6, to.local_v4) {
                (NextHop::V6 { .. }, Some(v6), _) => v6,
                (NextHop::V4(_), _, Some(v4)) => NextHop::V4(v4),
                // IPv4 routes over an IPv6 session (RFC 8950).
                (NextHop::V4(_), Some(v6), None) => v6,
                _ => return Err(Refused::NoNextHop),
            };
        }
        None => out.next_hop = Some(to.local_v4.ok_or(Refused::NoNextHop)?),
    }
    Ok(())
}

/// RFC 6996 / RFC 1930 private AS numbers.
pub fn is_private_as(asn: u32) -> bool {
    (64512..=65534).contains(&asn) || (4_200_000_000..=4_294_967_294).contains(&asn)
}

/// The path without private AS numbers (every occurrence, like FRR's
/// `remove-private-AS all`); confederation segments are left alone.
fn without_private(path: AsPath) -> AsPath {
    let mut out = AsPath::default();
    for s in path.segments {
        let asns = if matches!(s.kind, SegmentType::Sequence | SegmentType::Set) {
            s.asns.into_iter().filter(|&a| !is_private_as(a)).collect()
        } else {
            s.asns
        };
        out.push(Segment { kind: s.kind, asns });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MpReach, Origin, RawAttr};

    const US: u32 = 64513;

    fn cfg() -> RibConfig {
        RibConfig {
            local_as: US,
            router_id: "10.10.0.2".parse().unwrap(),
            cluster_id: "10.10.0.2".parse().unwrap(),
            multipath: 8,
            always_compare_med: false,
        }
    }

    fn peer(addr: &str, asn: u32, rr_client: bool) -> PeerInfo {
        PeerInfo {
            address: addr.parse().unwrap(),
            asn,
            router_id: addr.parse().unwrap_or(Ipv4Addr::new(10, 255, 255, 1)),
            internal: asn == US,
            rr_client,
            allow_as_in: 0,
        }
    }

    fn target(id: u32, p: PeerInfo) -> ExportTarget {
        ExportTarget {
            source: SourceId(id),
            peer: p,
            next_hop_self: false,
            remove_private_as: false,
            local_v4: Some("10.10.0.2".parse().unwrap()),
            local_v6: Some(NextHop::V6 { global: "fd00::2".parse().unwrap(), link_local: None }),
            shared_subnets: vec![("10.10.0.0".parse().unwrap(), 24), ("fd00::".parse().unwrap(), 64)],
            long_lived: false,
            drained: false,
        }
    }

    fn attrs(path: &[u32], nh: &str) -> PathAttrs {
        PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(path.to_vec())),
            next_hop: Some(nh.parse().unwrap()),
            med: Some(5),
            local_pref: Some(150),
            ..PathAttrs::default()
        }
    }

    fn node() -> SourceKind {
        SourceKind::Peer(peer("10.10.0.21", US, true))
    }

    #[test]
    fn never_back_to_the_source() {
        let t = target(1, peer("10.10.0.21", US, true));
        assert_eq!(export(&cfg(), SourceId(1), &node(), &t, &attrs(&[], "10.10.0.21")), Err(Refused::SplitHorizon));
    }

    #[test]
    fn well_known_communities() {
        let router = target(9, peer("10.10.0.1", 64512, false));
        let client = target(2, peer("10.10.0.22", US, true));
        let mut a = attrs(&[], "10.10.0.21");
        a.communities = vec![Community::NO_EXPORT];
        assert_eq!(export(&cfg(), SourceId(1), &node(), &router, &a), Err(Refused::NoExport));
        assert!(export(&cfg(), SourceId(1), &node(), &client, &a).is_ok());
        a.communities = vec![Community::NO_EXPORT_SUBCONFED];
        assert_eq!(export(&cfg(), SourceId(1), &node(), &router, &a), Err(Refused::NoExport));
        a.communities = vec![Community::NO_ADVERTISE];
        assert_eq!(export(&cfg(), SourceId(1), &node(), &client, &a), Err(Refused::NoAdvertise));
    }

    #[test]
    fn reflection_rules() {
        let client_a = node();
        let non_client = SourceKind::Peer(peer("10.10.0.30", US, false));
        let to_client = target(2, peer("10.10.0.22", US, true));
        let to_non_client = target(3, peer("10.10.0.31", US, false));
        let a = attrs(&[], "10.10.0.21");
        // client -> client and non-client, with ORIGINATOR_ID and CLUSTER_LIST.
        for t in [&to_client, &to_non_client] {
            let out = export(&cfg(), SourceId(1), &client_a, t, &a).unwrap();
            assert_eq!(out.originator_id, Some("10.10.0.21".parse().unwrap()));
            assert_eq!(out.cluster_list, vec!["10.10.0.2".parse::<Ipv4Addr>().unwrap()]);
            assert_eq!(out.next_hop, Some("10.10.0.21".parse().unwrap()), "a reflector keeps the next hop");
            assert_eq!((out.local_pref, out.med), (Some(150), Some(5)));
        }
        // non-client -> client only.
        assert!(export(&cfg(), SourceId(4), &non_client, &to_client, &a).is_ok());
        assert_eq!(export(&cfg(), SourceId(4), &non_client, &to_non_client, &a), Err(Refused::NotReflected));
        // An existing ORIGINATOR_ID stays; our cluster id goes in front.
        let mut b = a.clone();
        b.originator_id = Some("10.9.9.9".parse().unwrap());
        b.cluster_list = vec!["10.1.1.1".parse().unwrap()];
        let out = export(&cfg(), SourceId(1), &client_a, &to_client, &b).unwrap();
        assert_eq!(out.originator_id, Some("10.9.9.9".parse().unwrap()));
        assert_eq!(out.cluster_list, vec!["10.10.0.2".parse::<Ipv4Addr>().unwrap(), "10.1.1.1".parse().unwrap()]);
    }

    #[test]
    fn toward_ebgp() {
        let router = target(9, peer("10.10.0.1", 64512, false));
        let mut a = attrs(&[], "10.10.0.21");
        a.originator_id = Some("10.10.0.21".parse().unwrap());
        a.cluster_list = vec!["10.10.0.2".parse().unwrap()];
        let out = export(&cfg(), SourceId(1), &node(), &router, &a).unwrap();
        assert_eq!(out.as_path.unwrap().to_string(), "64513");
        assert_eq!((out.local_pref, out.med, out.originator_id), (None, None, None));
        assert!(out.cluster_list.is_empty());
        assert_eq!(out.next_hop, Some("10.10.0.21".parse().unwrap()), "third-party next hop on the shared subnet");
        // A next hop elsewhere becomes ours.
        let b = attrs(&[65001], "192.0.2.1");
        let out = export(&cfg(), SourceId(1), &node(), &router, &b).unwrap();
        assert_eq!(out.next_hop, Some("10.10.0.2".parse().unwrap()));
        assert_eq!(out.as_path.unwrap().to_string(), "64513 65001");
        // A local route keeps the MED we gave it.
        let out = export(&cfg(), SourceId(7), &SourceKind::Static, &router, &attrs(&[], "10.10.0.2")).unwrap();
        assert_eq!(out.med, Some(5));
    }

    #[test]
    fn remove_private_as() {
        let mut router = target(9, peer("198.51.100.1", 3320, false));
        router.remove_private_as = true;
        let src = SourceKind::Peer(peer("10.10.0.21", 65010, false));
        let out =
            export(&cfg(), SourceId(1), &src, &router, &attrs(&[65010, 3320, 4_200_000_001], "10.10.0.21")).unwrap();
        assert_eq!(out.as_path.unwrap().to_string(), "64513 3320");
    }

    #[test]
    fn toward_ibgp_next_hop_self_and_local_pref() {
        let mut client = target(2, peer("10.10.0.22", US, true));
        let src = SourceKind::Peer(peer("10.10.0.1", 64512, false));
        let mut a = attrs(&[64512], "10.10.0.1");
        a.local_pref = None;
        let out = export(&cfg(), SourceId(9), &src, &client, &a).unwrap();
        assert_eq!((out.local_pref, out.next_hop), (Some(100), Some("10.10.0.1".parse().unwrap())));
        assert_eq!(out.as_path.as_ref().unwrap().to_string(), "64512", "no prepend inside the AS");
        client.next_hop_self = true;
        let out = export(&cfg(), SourceId(9), &src, &client, &a).unwrap();
        assert_eq!(out.next_hop, Some("10.10.0.2".parse().unwrap()));
    }

    fn nh6(global: &str) -> NextHop {
        NextHop::V6 { global: global.parse().unwrap(), link_local: None }
    }

    /// `a` with its next hop `global` in MP_REACH_NLRI (IPv6 unicast) instead of NEXT_HOP.
    fn via_v6(mut a: PathAttrs, global: &str) -> PathAttrs {
        a.next_hop = None;
        a.mp_reach = Some(Box::new(MpReach {
            family: crate::types::Family::IPV6_UNICAST,
            next_hop: nh6(global),
            nlri: Vec::new(),
        }));
        a
    }

    #[test]
    fn ipv6_next_hop_self() {
        let router = target(9, peer("fd00::1", 64512, false));
        let a = via_v6(attrs(&[65001], "0.0.0.0"), "2001:db8::9");
        let out = export(&cfg(), SourceId(1), &node(), &router, &a).unwrap();
        assert_eq!(out.mp_reach.unwrap().next_hop, nh6("fd00::2"));
    }

    #[test]
    fn ipv6_third_party_next_hop_over_an_ipv4_session() {
        let router = target(9, peer("10.10.0.1", 64512, false));
        let a = via_v6(attrs(&[], "0.0.0.0"), "fd00::21");
        let out = export(&cfg(), SourceId(1), &node(), &router, &a).unwrap();
        assert_eq!(out.mp_reach.unwrap().next_hop, nh6("fd00::21"));
    }

    #[test]
    fn local_route_without_next_hop_gets_ours() {
        let client = target(2, peer("10.10.0.22", US, true));
        let a = via_v6(attrs(&[], "0.0.0.0"), "::");
        let out = export(&cfg(), SourceId(7), &SourceKind::Static, &client, &a).unwrap();
        assert_eq!(out.mp_reach.unwrap().next_hop, nh6("fd00::2"));
    }

    #[test]
    fn unknown_attributes() {
        let client = target(2, peer("10.10.0.22", US, true));
        let mut a = attrs(&[], "10.10.0.21");
        a.unknown = vec![
            RawAttr { flags: 0xc0, type_code: 99, value: bytes::Bytes::from_static(b"t") },
            RawAttr { flags: 0x80, type_code: 98, value: bytes::Bytes::from_static(b"n") },
        ];
        let out = export(&cfg(), SourceId(1), &node(), &client, &a).unwrap();
        assert_eq!(out.unknown.len(), 1);
        assert_eq!((out.unknown[0].type_code, out.unknown[0].flags), (99, 0xe0));
    }
}
