//! A hashed timer wheel: one timer per key, armed, re-armed and cancelled in O(1) (plus the
//! length of one slot), expired by walking the slots the clock has passed.
//!
//! The daemon's BFD task keeps every session's next deadline here, keyed by the local
//! discriminator, and sleeps until [`TimerWheel::next_expiry`]: one sleep for all sessions
//! instead of a tokio timer each. Time is an input, as everywhere in this crate.
//!
//! A deadline `at` lives in the slot of its tick, `(at - start) / tick`, modulo the number of
//! slots; entries of later rotations share the slot and are skipped until their time. A
//! deadline already in the past goes to the current tick, so the next `expire` fires it.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The wheel; see the module docs.
#[derive(Debug)]
pub struct TimerWheel<K> {
    tick: Duration,
    start: Instant,
    /// Every tick before this one has been expired; entries live at ticks >= cursor.
    cursor: u64,
    slots: Vec<Vec<Entry<K>>>,
    /// Where each armed key's entry is: its deadline and its (clamped) tick.
    armed: HashMap<K, (Instant, u64)>,
    /// `expire`'s scratch list, kept so a wake-up that fires allocates nothing.
    fired: Vec<(Instant, K)>,
}

#[derive(Debug, Clone, Copy)]
struct Entry<K> {
    key: K,
    at: Instant,
    tick: u64,
}

impl<K: Copy + Eq + Hash> TimerWheel<K> {
    /// A wheel of `slots` slots of `tick` each (both at least 1), whose tick 0 starts at `start`.
    pub fn new(tick: Duration, slots: usize, start: Instant) -> Self {
        let tick = tick.max(Duration::from_nanos(1));
        let slots = slots.max(1);
        TimerWheel {
            tick,
            start,
            cursor: 0,
            slots: (0..slots).map(|_| Vec::new()).collect(),
            armed: HashMap::new(),
            fired: Vec::new(),
        }
    }

    fn tick_of(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.start);
        u64::try_from(since.as_nanos() / self.tick.as_nanos()).unwrap_or(u64::MAX)
    }

    fn slot_of(&self, tick: u64) -> usize {
        // The modulo is below `slots.len()`, a usize.
        (tick % self.slots.len() as u64) as usize
    }

    /// (Re)arms K's single timer; an earlier one for K is replaced.
    pub fn arm(&mut self, key: K, at: Instant) {
        self.cancel(key);
        let tick = self.tick_of(at).max(self.cursor);
        let slot = self.slot_of(tick);
        self.slots[slot].push(Entry { key, at, tick });
        self.armed.insert(key, (at, tick));
    }

    /// Disarms K's timer, if armed.
    pub fn cancel(&mut self, key: K) {
        if let Some((_, tick)) = self.armed.remove(&key) {
            let slot = self.slot_of(tick);
            let entries = &mut self.slots[slot];
            if let Some(i) = entries.iter().position(|e| e.key == key) {
                entries.swap_remove(i);
            }
        }
    }

    /// Whether K has a timer armed.
    pub fn is_armed(&self, key: K) -> bool {
        self.armed.contains_key(&key)
    }

    /// The number of armed timers.
    pub fn len(&self) -> usize {
        self.armed.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }

    /// Keys whose time is <= now, in order of their time; each fires once.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<K>) {
        let now_tick = self.tick_of(now).max(self.cursor);
        let n = self.slots.len() as u64;
        // More than a rotation passed: every slot is due once.
        let ticks = (now_tick - self.cursor).min(n - 1);
        let mut fired = std::mem::take(&mut self.fired);
        for t in self.cursor..=self.cursor + ticks {
            let slot = self.slot_of(t);
            let entries = &mut self.slots[slot];
            let mut i = 0;
            while i < entries.len() {
                if entries[i].at <= now {
                    let e = entries.swap_remove(i);
                    self.armed.remove(&e.key);
                    fired.push((e.at, e.key));
                } else {
                    i += 1;
                }
            }
        }
        self.cursor = now_tick;
        // Entries of the ticks just passed that are not yet due (a later rotation) keep their
        // slot; a deadline at a tick before the new cursor cannot remain since it was due.
        fired.sort_by_key(|&(at, _)| at);
        out.extend(fired.drain(..).map(|(_, k)| k));
        self.fired = fired;
    }

    /// The earliest armed time (for the task's sleep), or None.
    pub fn next_expiry(&self) -> Option<Instant> {
        if self.armed.is_empty() {
            return None;
        }
        // Walk one rotation from the cursor: the first slot with an entry of this rotation
        // holds the earliest deadline; entries of a tick are ordered only by `at`.
        let n = self.slots.len() as u64;
        for t in self.cursor..self.cursor.saturating_add(n) {
            let earliest = self.slots[self.slot_of(t)].iter().filter(|e| e.tick == t).map(|e| e.at).min();
            if earliest.is_some() {
                return earliest;
            }
        }
        // Everything is more than a rotation away.
        self.armed.values().map(|&(at, _)| at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    const MS: Duration = Duration::from_millis(1);

    fn expire(w: &mut TimerWheel<u32>, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        w.expire(now, &mut out);
        out
    }

    #[test]
    fn fires_in_time_order_once() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(MS, 8, t0);
        w.arm(1, t0 + 30 * MS);
        w.arm(2, t0 + 10 * MS);
        w.arm(3, t0 + 20 * MS);
        assert_eq!(w.next_expiry(), Some(t0 + 10 * MS));
        assert_eq!(expire(&mut w, t0 + 9 * MS), Vec::<u32>::new());
        assert_eq!(expire(&mut w, t0 + 25 * MS), vec![2, 3]);
        assert_eq!(w.next_expiry(), Some(t0 + 30 * MS));
        assert_eq!(expire(&mut w, t0 + 100 * MS), vec![1]);
        assert_eq!(expire(&mut w, t0 + 200 * MS), Vec::<u32>::new());
        assert_eq!(w.next_expiry(), None);
        assert!(w.is_empty());
    }

    #[test]
    fn rearm_replaces_and_cancel_removes() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(MS, 4, t0);
        w.arm(1, t0 + 2 * MS);
        w.arm(1, t0 + 50 * MS);
        assert_eq!(w.len(), 1);
        assert_eq!(expire(&mut w, t0 + 10 * MS), Vec::<u32>::new());
        assert_eq!(w.next_expiry(), Some(t0 + 50 * MS));
        w.cancel(1);
        assert_eq!(w.next_expiry(), None);
        assert_eq!(expire(&mut w, t0 + 60 * MS), Vec::<u32>::new());
    }

    #[test]
    fn a_deadline_in_the_past_fires_at_the_next_expire() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(MS, 4, t0);
        assert_eq!(expire(&mut w, t0 + 100 * MS), Vec::<u32>::new());
        w.arm(7, t0 + 3 * MS);
        assert_eq!(w.next_expiry(), Some(t0 + 3 * MS));
        assert_eq!(expire(&mut w, t0 + 100 * MS), vec![7]);
    }

    #[test]
    fn deadlines_rotations_away_wait_for_their_time() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(MS, 4, t0);
        w.arm(1, t0 + 1001 * MS);
        w.arm(2, t0 + 5 * MS);
        assert_eq!(expire(&mut w, t0 + 10 * MS), vec![2]);
        assert_eq!(w.next_expiry(), Some(t0 + 1001 * MS));
        for ms in (11..1001).step_by(3) {
            assert_eq!(expire(&mut w, t0 + ms * MS), Vec::<u32>::new(), "at {ms} ms");
        }
        assert_eq!(expire(&mut w, t0 + 1001 * MS), vec![1]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Arm(u8, u16),
        Cancel(u8),
        Advance(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..16, 0u16..3000).prop_map(|(k, at)| Op::Arm(k, at)),
            (0u8..16).prop_map(Op::Cancel),
            (0u16..400).prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// The wheel against a map of deadlines: the same keys fire at the same expire, in
        /// time order, and `next_expiry` is the earliest deadline.
        #[test]
        fn behaves_like_a_map_of_deadlines(ops in proptest::collection::vec(op(), 0..200), slots in 1usize..20) {
            let t0 = Instant::now();
            let tick = Duration::from_micros(700);
            let mut w = TimerWheel::new(tick, slots, t0);
            let mut model: HashMap<u8, Instant> = HashMap::new();
            let mut now = t0;
            for op in ops {
                match op {
                    Op::Arm(k, at) => {
                        let at = t0 + Duration::from_micros(u64::from(at) * 100);
                        w.arm(k, at);
                        model.insert(k, at);
                    }
                    Op::Cancel(k) => {
                        w.cancel(k);
                        model.remove(&k);
                    }
                    Op::Advance(us) => {
                        now += Duration::from_micros(u64::from(us) * 10);
                        let mut out = Vec::new();
                        w.expire(now, &mut out);
                        let mut due: Vec<(Instant, u8)> =
                            model.iter().filter(|(_, &at)| at <= now).map(|(&k, &at)| (at, k)).collect();
                        due.sort();
                        for (_, k) in &due {
                            model.remove(k);
                        }
                        let fired_at: Vec<Instant> = out.iter().map(|k| due.iter().find(|d| d.1 == *k).unwrap().0).collect();
                        let mut keys: Vec<u8> = out.clone();
                        keys.sort_unstable();
                        let mut want: Vec<u8> = due.iter().map(|d| d.1).collect();
                        want.sort_unstable();
                        prop_assert_eq!(keys, want);
                        prop_assert!(fired_at.windows(2).all(|p| p[0] <= p[1]));
                    }
                }
                prop_assert_eq!(w.next_expiry(), model.values().min().copied());
                prop_assert_eq!(w.len(), model.len());
            }
        }
    }
}
