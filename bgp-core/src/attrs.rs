//! Interned path attribute sets: each distinct set is stored once, shared by every
//! route that carries it, and freed when the last route lets go (OpenBGPD's
//! `path_get`/`path_put`, BIRD's `rta_lookup`/`rta_free`).
//!
//! A route then holds a 4-byte [`AttrId`]; the decision process and update grouping
//! compare ids, never attribute contents. The store has one owner (the RIB), so it
//! needs no locks: ids are indexes into a slab, with a hash index for lookups.
//!
//! Memory: one boxed `PathAttrs` per distinct set, a 16-byte slot and a 4-byte index
//! entry (the index stores slot numbers and hashes the slot's contents, so the
//! attributes are not kept twice). With ~8 prefixes per set, as on the Internet, that
//! is a few tens of bytes per route.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::wire::PathAttrs;

/// Handle of an interned attribute set. Equal ids mean equal attributes.
/// (`Default` only fills unused slots; id 0 is a real id once interned.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrId(u32);

impl AttrId {
    pub fn index(self) -> u32 {
        self.0
    }
}

struct Slot {
    attrs: Option<Box<PathAttrs>>,
    refs: u32,
    /// Bumped each time the slot is freed: an (id, generation) pair names one set for
    /// good, which is what caches keyed by id compare (see `generation`).
    generation: u32,
    /// The index's hash of the set, kept: growing the index and releasing the set then
    /// hash no attributes again.
    hash: u64,
}

/// The interner. Every `intern` must be paired with a `release` of the same id.
#[derive(Default)]
pub struct AttrStore {
    slots: Vec<Slot>,
    free: Vec<u32>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

/// Counts for `show summary` and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttrStats {
    /// Distinct attribute sets held.
    pub sets: usize,
    /// References held by routes.
    pub refs: u64,
}

impl AttrStore {
    pub fn new() -> AttrStore {
        AttrStore::default()
    }

    /// The id of `attrs`, adding it if new; takes one reference. NLRI must already be
    /// stripped: an MP route's set keeps MP_REACH_NLRI only for its family and next hop.
    pub fn intern(&mut self, attrs: PathAttrs) -> AttrId {
        let hash = self.hasher.hash_one(&attrs);
        let slots = &mut self.slots;
        if let Some(&i) = self.index.find(hash, |&i| slots[i as usize].attrs.as_deref() == Some(&attrs)) {
            slots[i as usize].refs += 1;
            return AttrId(i);
        }
        self.insert_new(hash, attrs)
    }

    fn insert_new(&mut self, hash: u64, mut attrs: PathAttrs) -> AttrId {
        // Unknown attributes arrive as slices of the 64 KiB read buffer: a kept slice
        // would keep the whole buffer alive for as long as the set lives.
        for raw in &mut attrs.unknown {
            raw.value = bytes::Bytes::copy_from_slice(&raw.value);
        }
        debug_assert!(
            attrs.mp_reach.as_ref().is_none_or(|r| r.nlri.is_empty()) && attrs.mp_unreach.is_none(),
            "interned attributes carry no NLRI"
        );
        let slots = &mut self.slots;
        let attrs = Some(Box::new(attrs));
        let i = match self.free.pop() {
            Some(i) => {
                let slot = &mut slots[i as usize];
                (slot.attrs, slot.refs, slot.hash) = (attrs, 1, hash);
                i
            }
            None => {
                slots.push(Slot { attrs, refs: 1, generation: 0, hash });
                u32::try_from(slots.len() - 1).expect("invariant: fewer than 2^32 attribute sets")
            }
        };
        self.index.insert_unique(hash, i, |&j| slots[j as usize].hash);
        AttrId(i)
    }

    /// [`AttrStore::intern`] of a borrowed set: copied only when it is new.
    pub fn intern_ref(&mut self, attrs: &PathAttrs) -> AttrId {
        let hash = self.hasher.hash_one(attrs);
        let slots = &mut self.slots;
        match self.index.find(hash, |&i| slots[i as usize].attrs.as_deref() == Some(attrs)) {
            Some(&i) => {
                slots[i as usize].refs += 1;
                AttrId(i)
            }
            None => self.insert_new(hash, attrs.clone()),
        }
    }

    /// Takes another reference to an id already held.
    pub fn retain(&mut self, id: AttrId) {
        self.slots[id.0 as usize].refs += 1;
    }

    /// Drops one reference; the set is freed with its last one.
    pub fn release(&mut self, id: AttrId) {
        let slot = &mut self.slots[id.0 as usize];
        debug_assert!(slot.refs > 0, "invariant: release of an unreferenced attribute set");
        slot.refs -= 1;
        if slot.refs == 0 {
            slot.attrs = None;
            slot.generation = slot.generation.wrapping_add(1);
            let hash = slot.hash;
            match self.index.find_entry(hash, |&i| i == id.0) {
                Ok(entry) => {
                    entry.remove();
                }
                Err(_) => unreachable!("invariant: a held set is in the index"),
            }
            self.free.push(id.0);
        }
    }

    /// The attributes of a held id.
    pub fn get(&self, id: AttrId) -> &PathAttrs {
        held(&self.slots, id.0)
    }

    /// Changes whenever `id` is freed: a cache keyed by id stores the generation it saw
    /// and treats any other as a miss, since a freed id is handed out again.
    pub fn generation(&self, id: AttrId) -> u32 {
        self.slots[id.0 as usize].generation
    }

    pub fn stats(&self) -> AttrStats {
        AttrStats { sets: self.index.len(), refs: self.slots.iter().map(|s| u64::from(s.refs)).sum() }
    }
}

fn held(slots: &[Slot], i: u32) -> &PathAttrs {
    slots[i as usize].attrs.as_deref().expect("invariant: indexed slots hold attributes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{AsPath, Origin};

    fn attrs(asn: u32) -> PathAttrs {
        PathAttrs { origin: Some(Origin::Igp), as_path: Some(AsPath::from_sequence(vec![asn])), ..PathAttrs::default() }
    }

    #[test]
    fn an_unknown_attribute_does_not_keep_its_read_buffer_alive() {
        let buffer = bytes::Bytes::from(vec![7u8; 65536]);
        let within = |b: &bytes::Bytes| buffer.as_ptr_range().contains(&b.as_ptr());
        let mut store = AttrStore::new();
        let raw = |value| crate::wire::RawAttr { flags: 0xc0, type_code: 99, value };
        let by_value = PathAttrs { unknown: vec![raw(buffer.slice(10..20))], ..attrs(65001) };
        let by_ref = PathAttrs { unknown: vec![raw(buffer.slice(30..40))], ..attrs(65002) };
        let ids = [store.intern(by_value), store.intern_ref(&by_ref)];
        for id in ids {
            let kept = &store.get(id).unknown[0].value;
            assert!(!within(kept), "the stored value is a copy, not a slice of the read buffer");
            assert_eq!(kept.len(), 10);
        }
    }

    #[test]
    fn equal_sets_share_one_id_and_free_with_the_last_reference() {
        let mut store = AttrStore::new();
        let a = store.intern(attrs(65001));
        let b = store.intern(attrs(65001));
        let c = store.intern(attrs(65002));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(store.stats(), AttrStats { sets: 2, refs: 3 });
        store.release(a);
        assert_eq!(store.get(b).as_path.as_ref().unwrap().to_string(), "65001");
        store.release(b);
        assert_eq!(store.stats(), AttrStats { sets: 1, refs: 1 });
        // The freed slot is reused, and the old contents are not found any more.
        let d = store.intern(attrs(65003));
        assert_eq!(d, a);
        assert_eq!(store.get(d).as_path.as_ref().unwrap().to_string(), "65003");
        let e = store.intern(attrs(65001));
        assert_ne!(e, d);
    }

    #[test]
    fn intern_ref_copies_only_a_new_set() {
        let mut store = AttrStore::new();
        let a = store.intern(attrs(65001));
        let b = store.intern_ref(&attrs(65001));
        let c = store.intern_ref(&attrs(65002));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(store.stats(), AttrStats { sets: 2, refs: 3 });
        for id in [a, b, c] {
            store.release(id);
        }
        assert_eq!(store.stats().sets, 0);
    }

    #[test]
    fn retain_counts() {
        let mut store = AttrStore::new();
        let a = store.intern(attrs(1));
        store.retain(a);
        store.release(a);
        assert_eq!(store.stats().sets, 1);
        store.release(a);
        assert_eq!(store.stats().sets, 0);
    }
}
