//! What the engine asked the kernel's FIB for, per table entry, and what the kernel
//! answered. The engine queues the entries whose best paths or resolved next hops
//! changed; the driver takes [`crate::kernel::FibRoute`]s from
//! [`super::engine::Engine::poll_fib`] as fast as its FIB writer takes them, so
//! repeated changes of a prefix while it waits cost one kernel write, and hands the
//! answers back ([`super::engine::Engine::fib_results`]).
//!
//! Memory: one `u32` per table entry (the id of its next-hop set, with the queued and
//! in-flight flags in the top bits), the distinct next-hop sets (a homelab has a few),
//! and a map entry per route in flight or refused.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::kernel::{FibError, FibNextHop};
use crate::prefix::Prefix;
use crate::rib::EntryId;

/// In the queue of entries to look at.
const QUEUED: u32 = 1 << 31;
/// Sent to the kernel, no answer yet.
const IN_FLIGHT: u32 = 1 << 30;
const SET: u32 = IN_FLIGHT - 1;

/// Routes handed to the writer and not answered yet, at most. Enough to keep a writer
/// busy (its netlink window is a few thousand messages, answered in batches); more
/// would only wait in channels and queues, at about 150 bytes each between here and
/// the kernel (measured at 1M routes: 250k in flight cost 50 MiB of peak RSS).
pub const MAX_IN_FLIGHT: usize = 32 * 1024;

/// A route in flight: what the kernel had before it, to go back to if refused.
#[derive(Clone, Copy, Debug)]
pub(super) struct Flight {
    pub id: EntryId,
    pub before: u32,
}

/// A route the kernel refused, kept to be shown and tried again.
#[derive(Clone, Debug)]
pub struct Refused {
    pub next_hops: Vec<FibNextHop>,
    pub error: FibError,
}

#[derive(Default)]
pub struct Fib {
    /// By entry: the next-hop set in the kernel (or on its way there), 0 for none, and
    /// the flags.
    state: Vec<u32>,
    queue: VecDeque<EntryId>,
    /// Next-hop sets by id; id 0 is "no route". Reference-counted by `state` and flights.
    sets: Vec<(Vec<FibNextHop>, u32)>,
    set_ids: HashMap<Vec<FibNextHop>, u32>,
    free_sets: Vec<u32>,
    pub(super) flights: HashMap<Prefix, Flight>,
    /// Entries queued while in flight: queued again when the answer comes.
    again: HashSet<EntryId>,
    /// Routes the kernel refused whole.
    pub refused: HashMap<Prefix, Refused>,
    /// Routes installed without some of their next hops, which the kernel refused.
    pub dropped: HashMap<Prefix, Vec<(FibNextHop, FibError)>>,
    /// Entries whose route the kernel may have dropped silently: written again even if
    /// unchanged.
    pub resend: HashSet<EntryId>,
    /// The kernel's answers since start, and of those, refusals (for the metrics).
    pub writes: u64,
    pub failures: u64,
}

impl Fib {
    pub fn new() -> Fib {
        Fib { sets: vec![(Vec::new(), 0)], ..Fib::default() }
    }

    fn slot(&mut self, id: EntryId) -> &mut u32 {
        if self.state.len() <= id.index() {
            self.state.resize(id.index() + 1, 0);
        }
        &mut self.state[id.index()]
    }

    /// Looks at the entry at the next [`Fib::pop`].
    pub fn queue(&mut self, id: EntryId) {
        let s = self.slot(id);
        if *s & QUEUED == 0 {
            *s |= QUEUED;
            self.queue.push_back(id);
        }
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The next entry to look at, with the next-hop set the kernel has for it (or is
    /// getting); `None` when the queue is empty. An entry in flight is put aside until
    /// its answer comes.
    pub fn pop(&mut self) -> Option<(EntryId, u32)> {
        while let Some(id) = self.queue.pop_front() {
            let s = &mut self.state[id.index()];
            *s &= !QUEUED;
            if *s & IN_FLIGHT != 0 {
                self.again.insert(id);
                continue;
            }
            return Some((id, *s & SET));
        }
        None
    }

    pub fn hops(&self, set: u32) -> &[FibNextHop] {
        &self.sets[set as usize].0
    }

    /// The id of `hops` as a set, without taking a reference; `None` if unknown.
    pub fn find_set(&self, hops: &[FibNextHop]) -> Option<u32> {
        if hops.is_empty() {
            return Some(0);
        }
        self.set_ids.get(hops).copied()
    }

    fn intern(&mut self, hops: Vec<FibNextHop>) -> u32 {
        if hops.is_empty() {
            return 0;
        }
        if let Some(&id) = self.set_ids.get(&hops) {
            self.sets[id as usize].1 += 1;
            return id;
        }
        let id = match self.free_sets.pop() {
            Some(id) => {
                self.sets[id as usize] = (hops.clone(), 1);
                id
            }
            None => {
                self.sets.push((hops.clone(), 1));
                u32::try_from(self.sets.len() - 1).expect("invariant: fewer than 2^30 next-hop sets")
            }
        };
        self.set_ids.insert(hops, id);
        id
    }

    fn release(&mut self, id: u32) {
        if id == 0 {
            return;
        }
        let set = &mut self.sets[id as usize];
        set.1 -= 1;
        if set.1 == 0 {
            let hops = std::mem::take(&mut set.0);
            self.set_ids.remove(&hops);
            self.free_sets.push(id);
        }
    }

    /// The entry's route goes to the kernel with `hops` (empty: removed); `before`, the
    /// set it had, is kept until the answer.
    pub fn send(&mut self, id: EntryId, prefix: Prefix, before: u32, hops: Vec<FibNextHop>) {
        let set = self.intern(hops);
        let s = self.slot(id);
        *s = (*s & QUEUED) | IN_FLIGHT | set;
        self.flights.insert(prefix, Flight { id, before });
    }

    /// The kernel's answer for `prefix`: `Ok` keeps what was sent; `Err` goes back to
    /// what the kernel had. Returns the entry to queue again, if it changed meanwhile.
    pub fn answer(&mut self, prefix: Prefix, refused: bool) -> Option<EntryId> {
        let f = self.flights.remove(&prefix)?;
        let s = self.state[f.id.index()];
        let sent = s & SET;
        if refused {
            self.release(sent);
            self.state[f.id.index()] = (s & QUEUED) | f.before;
        } else {
            self.release(f.before);
            self.state[f.id.index()] = (s & QUEUED) | sent;
        }
        self.again.remove(&f.id).then_some(f.id)
    }

    /// Forgets that the kernel held a route of ours for the entry (a refused exclusive
    /// create: the route there is another protocol's).
    pub fn forget(&mut self, id: EntryId) {
        let s = self.state[id.index()];
        self.release(s & SET);
        self.state[id.index()] = s & QUEUED;
    }

    /// Queues, to be written again, every entry whose route goes through one of these
    /// interfaces (the kernel dropped IPv4 routes through them without telling).
    pub fn resend_through(&mut self, ifindexes: &[u32]) {
        let sets: HashSet<u32> = (1..self.sets.len() as u32)
            .filter(|&id| self.sets[id as usize].0.iter().any(|h| ifindexes.contains(&h.ifindex)))
            .collect();
        if sets.is_empty() {
            return;
        }
        for i in 0..self.state.len() {
            let s = self.state[i];
            if s & IN_FLIGHT == 0 && sets.contains(&(s & SET)) {
                self.resend.insert(EntryId(i as u32));
                self.queue(EntryId(i as u32));
            }
        }
    }

    /// The entry's set and flags: (set, queued, in flight).
    pub fn state(&self, id: EntryId) -> (u32, bool, bool) {
        let s = self.state.get(id.index()).copied().unwrap_or(0);
        (s & SET, s & QUEUED != 0, s & IN_FLIGHT != 0)
    }

    /// Whether the entry must not be reclaimed: the kernel has (or is getting) a route
    /// for it, or it waits in the queue.
    pub fn in_use(&self, id: EntryId) -> bool {
        self.state.get(id.index()).is_some_and(|&s| s != 0)
    }

    /// Entries with a route in the kernel, queued or in flight.
    pub fn len(&self) -> usize {
        self.state.iter().filter(|&&s| s != 0).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries with a route of ours in the kernel, or on its way there.
    pub fn installed(&self) -> usize {
        self.state.iter().filter(|&&s| s & SET != 0).count()
    }

    /// One past the highest entry id known.
    pub fn id_limit(&self) -> u32 {
        self.state.len() as u32
    }

    /// Bytes this holds per table entry, and in all (for `show summary` and notes).
    pub fn memory(&self) -> usize {
        self.state.capacity() * 4
            + self.queue.capacity() * 4
            + self.sets.iter().map(|s| s.0.capacity() * std::mem::size_of::<FibNextHop>() + 32).sum::<usize>()
            + self.flights.capacity() * 40
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(s: &str) -> FibNextHop {
        FibNextHop { gateway: s.parse().unwrap(), ifindex: 2 }
    }
    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn a_queued_entry_comes_out_once() {
        let mut f = Fib::new();
        f.queue(EntryId(3));
        f.queue(EntryId(3));
        assert_eq!(f.pop(), Some((EntryId(3), 0)));
        assert_eq!(f.pop(), None);
    }

    #[test]
    fn refused_goes_back_and_accepted_keeps() {
        let mut f = Fib::new();
        let id = EntryId(0);
        f.send(id, p("10.0.0.0/24"), 0, vec![hop("10.0.0.1")]);
        assert!(f.in_use(id));
        // In flight: queued again, it waits for the answer.
        f.queue(id);
        assert_eq!(f.pop(), None);
        assert_eq!(f.answer(p("10.0.0.0/24"), false), Some(id));
        let (set, _, flying) = f.state(id);
        assert_eq!((f.hops(set), flying), (&[hop("10.0.0.1")][..], false));
        // A replace the kernel refuses leaves the old set.
        f.send(id, p("10.0.0.0/24"), set, vec![hop("10.0.0.2")]);
        assert_eq!(f.answer(p("10.0.0.0/24"), true), None);
        assert_eq!(f.hops(f.state(id).0), &[hop("10.0.0.1")][..]);
        // Removal accepted: nothing left, the entry may be reclaimed.
        f.send(id, p("10.0.0.0/24"), set, Vec::new());
        f.answer(p("10.0.0.0/24"), false);
        assert!(!f.in_use(id));
        assert_eq!(f.find_set(&[hop("10.0.0.1")]), None, "sets are freed with their last user");
    }
}
