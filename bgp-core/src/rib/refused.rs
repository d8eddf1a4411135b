//! Routes refused on import, remembered so `bgpctl why` can say why a route a peer
//! sent is not in the table ("rejected by policy X term Y", "AS loop").
//!
//! The RIB keeps no refused route (what a peer sends and we refuse costs nothing;
//! FRR needs `soft-reconfiguration inbound` for that, BIRD `import keep filtered`).
//! This record is the cheap middle: the route's key and a reference to its interned
//! attributes as received, for at most [`MAX_REFUSED`] routes. The reason is not
//! stored: `why` runs the loop checks and the import policy's trace again on the
//! held copy. Past the bound, refusals are counted per source, not recorded, and
//! `why` says so instead of claiming that no peer sent the route.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::SourceId;
use crate::attrs::{AttrId, AttrStore};
use crate::policy::contains;
use crate::prefix::{Nlri, Prefix};

/// Most refused routes recorded at once (about 40 bytes each, plus the attribute
/// sets they keep, which are usually shared with accepted routes of the same
/// UPDATEs).
pub const MAX_REFUSED: usize = 4096;

#[derive(Default)]
pub struct Refusals {
    held: HashMap<(SourceId, Prefix, u32), AttrId>,
    /// Refusals not recorded because the record was full, by source.
    unrecorded: BTreeMap<SourceId, u64>,
}

impl Refusals {
    /// Records that `source`'s route `nlri` with attributes `attrs_in` was refused
    /// (takes a reference of its own on them).
    pub(super) fn note(&mut self, store: &mut AttrStore, source: SourceId, nlri: &Nlri, attrs_in: AttrId) {
        let key = (source, nlri.prefix, nlri.path_id);
        if !self.held.contains_key(&key) && self.held.len() >= MAX_REFUSED {
            *self.unrecorded.entry(source).or_default() += 1;
            return;
        }
        store.retain(attrs_in);
        if let Some(old) = self.held.insert(key, attrs_in) {
            store.release(old);
        }
    }

    /// The route was accepted or withdrawn.
    pub(super) fn forget(&mut self, store: &mut AttrStore, source: SourceId, nlri: &Nlri) {
        if self.held.is_empty() {
            return;
        }
        if let Some(old) = self.held.remove(&(source, nlri.prefix, nlri.path_id)) {
            store.release(old);
        }
    }

    /// The source is gone (or sends its table again).
    pub(super) fn forget_source(&mut self, store: &mut AttrStore, source: SourceId) {
        self.held.retain(|&(s, _, _), &mut id| {
            if s == source {
                store.release(id);
            }
            s != source
        });
        self.unrecorded.remove(&source);
    }

    /// The refused routes of `prefix`: (source, path id, attributes as received),
    /// ordered by source and path id.
    pub fn of_prefix(&self, prefix: Prefix) -> Vec<(SourceId, u32, AttrId)> {
        let mut out: Vec<_> =
            self.held.iter().filter(|((_, p, _), _)| *p == prefix).map(|(&(s, _, id), &a)| (s, id, a)).collect();
        out.sort_unstable_by_key(|&(s, id, _)| (s, id));
        out
    }

    /// The most specific refused prefix covering `addr`.
    pub fn longest_covering(&self, addr: IpAddr) -> Option<Prefix> {
        let host = Prefix::of(addr, if addr.is_ipv4() { 32 } else { 128 })?;
        self.held.keys().map(|&(_, p, _)| p).filter(|&p| contains(p, host)).max_by_key(|p| p.prefix_len())
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Refusals that were not recorded, by source.
    pub fn unrecorded(&self) -> impl Iterator<Item = (SourceId, u64)> + '_ {
        self.unrecorded.iter().map(|(&s, &n)| (s, n))
    }
}
