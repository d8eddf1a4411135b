//! Graceful shutdown (RFC 8326) and drains: moving traffic off a session, or off the
//! whole speaker, before anything is withdrawn.
//!
//! A drain is an engine input ([`Engine::set_drain`]): every neighbor (`all`, what
//! `bgpctl drain` without `--neighbor` and `on_stop = "drain-then-graceful-restart"`
//! give) or some by address. It never withdraws. For a drained peer:
//! - outbound (RFC 8326 §4.2, the g-shut initiator's outbound policy): every route we
//!   send it is announced again with the GRACEFUL_SHUTDOWN community added, and with
//!   LOCAL_PREF 0 toward iBGP (LOCAL_PREF is not sent to eBGP, RFC 4271 §5.1.5). This
//!   is applied after the export policy, so no policy undoes a drain. The peer leaves
//!   its update group (the drained attributes differ: `drained` is part of the group
//!   [`Signature`](super::out::Signature)) and its new group starts from what the peer
//!   holds, so the change goes out as announcements of the new attributes only;
//! - inbound (RFC 8326 §4.2, "an inbound BGP route policy is applied on the eBGP
//!   session to be shutdown ... tags the paths with the GRACEFUL_SHUTDOWN community
//!   and sets the LOCAL_PREF attribute of the paths to a low value"): its routes get
//!   both here too, so our own traffic and what we pass on prefer other paths.
//!
//! Independently of drains, a received route that carries GRACEFUL_SHUTDOWN gets
//! LOCAL_PREF 0 (RFC 8326 §4.1, the receiver's "pre-configuration", which the RFC
//! recommends on every session). Both inbound rules apply before the import policy,
//! so a policy can still set another LOCAL_PREF.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::engine::Engine;
use super::show::apply_policy;
use super::Import;
use crate::policy::{Policy, RouteInfo};
use crate::prefix::Prefix;
use crate::wire::{Community, PathAttrs};

/// The LOCAL_PREF of paths being shut down: RFC 8326 §4.1 asks for "a low value",
/// and FRR, BIRD and the RFC's examples use 0.
pub const GSHUT_LOCAL_PREF: u32 = 0;

/// Which peers are drained.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drain {
    /// Every peer, present and future.
    pub all: bool,
    /// These peers (by address), whether or not they have a session now.
    pub peers: BTreeSet<IpAddr>,
}

impl Drain {
    pub fn covers(&self, address: IpAddr) -> bool {
        self.all || self.peers.contains(&address)
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.peers.is_empty()
    }
}

/// What a drain change did to one peer with a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drained {
    pub address: IpAddr,
    /// Drained now (false: undrained).
    pub drained: bool,
    /// Routes the peer holds from us, each announced again with the new attributes.
    pub routes: u64,
}

/// The received attributes as the import policy sees them (RFC 8326 §4.1, §4.2):
/// `None` when the rules change nothing.
pub(super) fn inbound(attrs: &PathAttrs, session_drained: bool) -> Option<PathAttrs> {
    let tagged = attrs.communities.contains(&Community::GRACEFUL_SHUTDOWN);
    if !session_drained && !tagged {
        return None;
    }
    let mut out = attrs.clone();
    if !tagged {
        out.communities.push(Community::GRACEFUL_SHUTDOWN);
    }
    out.local_pref = Some(GSHUT_LOCAL_PREF);
    Some(out)
}

/// The import of one received route: the graceful shutdown rules, then the policy.
pub(super) fn import(
    policy: &Policy,
    prefix: Prefix,
    route: RouteInfo,
    attrs: &PathAttrs,
    local_as: u32,
    session_drained: bool,
) -> Import {
    let Some(marked) = inbound(attrs, session_drained) else {
        return apply_policy(policy, prefix, route, attrs, local_as);
    };
    match apply_policy(policy, prefix, route, &marked, local_as) {
        Import::Accept => Import::Modified(Box::new(marked)),
        other => other,
    }
}

/// A route leaving toward a drained peer, after export rules and policy (RFC 8326
/// §4.2): GRACEFUL_SHUTDOWN added, and LOCAL_PREF 0 toward iBGP.
pub(super) fn outbound(out: &mut PathAttrs, internal: bool) {
    if !out.communities.contains(&Community::GRACEFUL_SHUTDOWN) {
        out.communities.push(Community::GRACEFUL_SHUTDOWN);
    }
    if internal {
        out.local_pref = Some(GSHUT_LOCAL_PREF);
    }
}

impl Engine {
    /// Sets which peers are drained (the whole set: a reload or a second command
    /// replaces it). Peers whose state changes are announced every route again with
    /// the new attributes, and their received routes go through import again. Returns
    /// what changed for the peers with a session.
    pub fn set_drain(&mut self, drain: Drain) -> Vec<Drained> {
        let old = std::mem::replace(&mut self.drain, drain);
        let mut changed = Vec::new();
        let peers: Vec<_> = self.peers().collect();
        for (id, address) in peers {
            let drained = self.drain.covers(address);
            if old.covers(address) == drained {
                continue;
            }
            self.reimport_drained(id, drained);
            self.regroup(id, |t| t.drained = drained);
            if self.peer(id).is_some_and(|p| p.established) {
                let routes = self.counts(id).map_or(0, |c| c.advertised);
                changed.push(Drained { address, drained, routes });
            }
        }
        changed
    }

    /// Which peers are drained.
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// Whether the peer at `address` is drained now.
    pub fn is_drained(&self, address: IpAddr) -> bool {
        self.drain.covers(address)
    }

    /// The peer's routes, as received, through import again with its new drain
    /// state.
    fn reimport_drained(&mut self, id: super::engine::PeerId, drained: bool) {
        let local_as = self.rib.config().local_as;
        let Some(state) = self.peer(id) else { return };
        let (address, local, policy) = (state.address, state.local, state.import.clone());
        self.rib.reimport(id, &mut |prefix: Prefix, attrs: &PathAttrs| {
            import(&policy, prefix, super::show::peer_route(prefix, address, local), attrs, local_as, drained)
        });
        self.count(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_rules() {
        let plain = PathAttrs { local_pref: Some(200), ..PathAttrs::default() };
        assert_eq!(inbound(&plain, false), None);
        let marked = inbound(&plain, true).unwrap();
        assert_eq!((marked.local_pref, marked.communities.clone()), (Some(0), vec![Community::GRACEFUL_SHUTDOWN]));
        // Tagged by the sender: LOCAL_PREF 0, the community once.
        let again = inbound(&marked, true).unwrap();
        assert_eq!(again.communities, vec![Community::GRACEFUL_SHUTDOWN]);
        let tagged = PathAttrs { communities: vec![Community::GRACEFUL_SHUTDOWN], ..plain };
        assert_eq!(inbound(&tagged, false).unwrap().local_pref, Some(0));
    }

    #[test]
    fn outbound_rules() {
        let mut a = PathAttrs { local_pref: None, ..PathAttrs::default() };
        outbound(&mut a, false);
        assert_eq!((a.local_pref, a.communities.clone()), (None, vec![Community::GRACEFUL_SHUTDOWN]));
        let mut b = PathAttrs { local_pref: Some(100), communities: vec![Community::GRACEFUL_SHUTDOWN], ..a };
        outbound(&mut b, true);
        assert_eq!((b.local_pref, b.communities), (Some(0), vec![Community::GRACEFUL_SHUTDOWN]));
    }
}
