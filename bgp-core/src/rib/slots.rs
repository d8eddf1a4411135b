//! The table's storage: one 28-byte slot per prefix, in a vector indexed by
//! [`EntryId`](super::EntryId).
//!
//! A slot holds the prefix's only path inline (the usual case: one peer announces it),
//! an IPv4 prefix as its address and length, and the decision's outcome. The rest lives
//! apart, where it is rare: prefixes with several paths keep them all in `multi`, and
//! IPv6 prefixes (a homelab's table is mostly IPv4, and 17 octets would double every
//! slot) in `v6`. At a million routes that is 28 MB for the table instead of 48.

use std::net::Ipv4Addr;

use hashbrown::HashMap;

use super::decision::Step;
use super::Path;
use crate::prefix::{Prefix, Prefix4, Prefix6};

pub(super) mod state {
    pub const DIRTY: u8 = 1;
    /// A path of the ECMP set was replaced or removed since the last decision, so
    /// the selection changed even if the same sources stay selected.
    pub const TOUCHED: u8 = 2;
    /// Listed in `empties`, awaiting reclaim.
    pub const EMPTY: u8 = 4;
    /// A free slot.
    pub const FREE: u8 = 8;
    /// `key` indexes `v6`.
    pub const V6: u8 = 16;
    /// One path, in `first`.
    pub const ONE: u8 = 32;
    /// Several paths, in `multi`.
    pub const MANY: u8 = 64;
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    first: Path,
    /// The IPv4 address, or the index of the IPv6 prefix in `v6`.
    key: u32,
    len: u8,
    pub multipath: u8,
    pub step: Option<Step>,
    pub state: u8,
}

#[derive(Default)]
pub(super) struct Slots {
    slots: Vec<Slot>,
    free: Vec<u32>,
    multi: HashMap<u32, Vec<Path>>,
    v6: Vec<Prefix6>,
    v6_free: Vec<u32>,
}

impl Slots {
    pub fn len(&self) -> u32 {
        self.slots.len() as u32
    }

    pub fn get(&self, i: u32) -> &Slot {
        &self.slots[i as usize]
    }

    pub fn get_mut(&mut self, i: u32) -> &mut Slot {
        &mut self.slots[i as usize]
    }

    pub fn is_free(&self, i: u32) -> bool {
        self.slots[i as usize].state & state::FREE != 0
    }

    pub fn prefix(&self, i: u32) -> Prefix {
        let s = &self.slots[i as usize];
        if s.state & state::V6 != 0 {
            Prefix::V6(self.v6[s.key as usize])
        } else {
            Prefix::V4(Prefix4::new(Ipv4Addr::from(s.key), s.len).expect("invariant: a stored length is valid"))
        }
    }

    /// Whether slot `i` holds `prefix` (without building the slot's prefix for IPv4).
    pub fn holds(&self, i: u32, prefix: &Prefix) -> bool {
        let s = &self.slots[i as usize];
        match prefix {
            Prefix::V4(p) => s.state & state::V6 == 0 && s.key == u32::from(p.addr()) && s.len == p.prefix_len(),
            Prefix::V6(p) => s.state & state::V6 != 0 && self.v6[s.key as usize] == *p,
        }
    }

    /// A new slot for `prefix`, without paths.
    pub fn alloc(&mut self, prefix: Prefix) -> u32 {
        let (key, len, v6) = match prefix {
            Prefix::V4(p) => (u32::from(p.addr()), p.prefix_len(), 0),
            Prefix::V6(p) => {
                let k = match self.v6_free.pop() {
                    Some(k) => {
                        self.v6[k as usize] = p;
                        k
                    }
                    None => {
                        self.v6.push(p);
                        u32::try_from(self.v6.len() - 1).expect("invariant: fewer than 2^32 prefixes")
                    }
                };
                (k, p.prefix_len(), state::V6)
            }
        };
        let slot = Slot { first: Path::default(), key, len, multipath: 0, step: None, state: v6 };
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).expect("invariant: fewer than 2^32 prefixes")
            }
        }
    }

    /// Frees a slot without paths.
    pub fn release(&mut self, i: u32) {
        let s = &mut self.slots[i as usize];
        debug_assert!(s.state & (state::ONE | state::MANY) == 0, "invariant: only empty slots are freed");
        if s.state & state::V6 != 0 {
            self.v6_free.push(s.key);
        }
        s.state = state::FREE;
        self.free.push(i);
    }

    pub fn paths(&self, i: u32) -> &[Path] {
        let s = &self.slots[i as usize];
        if s.state & state::ONE != 0 {
            std::slice::from_ref(&s.first)
        } else if s.state & state::MANY != 0 {
            &self.multi[&i]
        } else {
            &[]
        }
    }

    pub fn paths_mut(&mut self, i: u32) -> &mut [Path] {
        let s = &mut self.slots[i as usize];
        if s.state & state::ONE != 0 {
            std::slice::from_mut(&mut s.first)
        } else if s.state & state::MANY != 0 {
            self.multi.get_mut(&i).expect("invariant: MANY slots have their paths")
        } else {
            &mut []
        }
    }

    pub fn push(&mut self, i: u32, path: Path) {
        let s = &mut self.slots[i as usize];
        if s.state & state::ONE != 0 {
            self.multi.insert(i, vec![s.first, path]);
            s.state = s.state & !state::ONE | state::MANY;
        } else if s.state & state::MANY != 0 {
            self.multi.get_mut(&i).expect("invariant: MANY slots have their paths").push(path);
        } else {
            s.first = path;
            s.state |= state::ONE;
        }
    }

    /// Removes path `j`, keeping the ECMP set at the front consistent.
    pub fn remove(&mut self, i: u32, j: usize) -> Path {
        let s = &mut self.slots[i as usize];
        if j < usize::from(s.multipath) {
            s.multipath -= 1;
            s.state |= state::TOUCHED;
        }
        if s.state & state::ONE != 0 {
            s.state &= !state::ONE;
            return s.first;
        }
        let v = self.multi.get_mut(&i).expect("invariant: MANY slots have their paths");
        let p = v.remove(j);
        if v.len() == 1 {
            s.first = v[0];
            s.state = s.state & !state::MANY | state::ONE;
            self.multi.remove(&i);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::SourceId;

    #[test]
    fn a_slot_is_28_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 28);
    }

    #[test]
    fn paths_move_between_the_slot_and_the_side_table() {
        let mut slots = Slots::default();
        let path = |s| Path { source: SourceId(s), ..Path::default() };
        let v6 = slots.alloc("2001:db8::/32".parse().unwrap());
        let v4 = slots.alloc("192.0.2.0/24".parse().unwrap());
        assert_eq!(slots.prefix(v6), "2001:db8::/32".parse().unwrap());
        assert!(slots.holds(v4, &"192.0.2.0/24".parse().unwrap()));
        assert!(!slots.holds(v4, &"192.0.2.0/25".parse().unwrap()));
        slots.push(v4, path(1));
        slots.push(v4, path(2));
        slots.push(v4, path(3));
        assert_eq!(slots.paths(v4).iter().map(|p| p.source.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(slots.remove(v4, 1).source, SourceId(2));
        assert_eq!(slots.remove(v4, 0).source, SourceId(1));
        assert_eq!(slots.paths(v4), &[path(3)]);
        assert!(slots.multi.is_empty(), "a single path goes back into the slot");
        slots.remove(v4, 0);
        assert!(slots.paths(v4).is_empty());
        slots.release(v4);
        slots.release(v6);
        // Freed slots and IPv6 keys are handed out again.
        let again = slots.alloc("2001:db8:1::/48".parse().unwrap());
        assert_eq!(again, v6);
        assert_eq!(slots.prefix(again), "2001:db8:1::/48".parse().unwrap());
        assert_eq!(slots.v6.len(), 1);
    }
}
