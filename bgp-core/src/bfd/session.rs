//! One BFD session's state machine (RFC 5880 §6, asynchronous mode, no echo, no
//! authentication, always the Active role), sans-IO.
//!
//! Driver contract (like [`crate::fsm`]): feed every packet that passed
//! [`ControlPacket::decode`] and was demultiplexed to this session to
//! [`Session::handle_packet`]; call [`Session::handle_timeout`] once
//! [`Session::poll_timeout`] has passed; after any `handle_*` or `set_*` call, drain
//! [`Session::poll_transmit`] (packets to send now) and [`Session::poll_change`] (state
//! changes for the routing protocol). Time is always an argument.
//!
//! Timers (§6.8.3): the intervals we advertise and the ones we time with are kept apart.
//! While the session is Up, a change of the advertised Desired Min TX or Required Min RX
//! runs a Poll sequence (§6.5) and the new values take effect when the Final arrives. While
//! it is not Up, Desired Min TX is advertised as at least one second ("slow start") and
//! changes take effect at once. Going Up therefore starts a Poll that moves the session
//! from the 1 s start-up rate to the configured one, as FRR and BIRD do.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::packet::{ControlPacket, Diag, State};

/// While the session is not Up, Desired Min TX is at least this (RFC 5880 §6.8.3).
const SLOW_START_TX: Duration = Duration::from_secs(1);
/// bfd.RemoteMinRxInterval before anything is heard: 1 µs (RFC 5880 §6.8.1).
const INITIAL_REMOTE_MIN_RX: Duration = Duration::from_micros(1);

/// The intervals and multiplier of a session (from config: `bfd_interval_ms` for both
/// intervals, `bfd_multiplier`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub detect_mult: u8,
}

/// A state change, for the routing protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionChange {
    pub from: State,
    pub to: State,
    /// The local diagnostic after the change: why the session went down.
    pub diag: Diag,
    pub at: Instant,
}

/// A snapshot for `bgpctl show bfd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionStatus {
    pub state: State,
    pub remote_state: State,
    pub local_diag: Diag,
    pub remote_diag: Diag,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    /// Negotiated: what we send at now (before jitter).
    pub tx_interval: Duration,
    /// Negotiated: what the peer sends at.
    pub rx_interval: Duration,
    pub detection_time: Duration,
    pub remote_detect_mult: u8,
    pub last_change: Option<Instant>,
    pub packets_in: u64,
    pub packets_out: u64,
}

/// One session; see the module docs.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    local_diag: Diag,
    local_discr: u32,

    remote_discr: u32,
    remote_state: State,
    remote_diag: Diag,
    remote_min_rx: Duration,
    remote_desired_tx: Duration,
    remote_detect_mult: u8,

    /// The intervals we time with: the last ones the peer acknowledged with a Final (or took
    /// at once while not Up). (Desired Min TX, Required Min RX.)
    active: (Duration, Duration),
    /// The values the running Poll sequence announces, if one runs.
    polling: Option<(Duration, Duration)>,

    /// When we last heard a valid packet; the detection timer runs from here.
    last_rx: Option<Instant>,
    last_tx: Option<Instant>,
    next_tx: Instant,
    /// A Final is owed for a received Poll.
    final_due: bool,
    /// Something changed that the peer should hear now (a state change, a Poll start);
    /// holds the instant it became due.
    send_now: Option<Instant>,

    rng: u64,
    changes: VecDeque<SessionChange>,
    last_change: Option<Instant>,
    packets_in: u64,
    packets_out: u64,
}

impl Session {
    /// `local_discriminator`: unique, non-zero, chosen by the daemon. `seed` seeds the TX jitter.
    pub fn new(local_discriminator: u32, cfg: SessionConfig, now: Instant, seed: u64) -> Session {
        let cfg = sanitize(cfg);
        let mut s = Session {
            cfg,
            state: State::Down,
            local_diag: Diag::None,
            local_discr: local_discriminator,
            remote_discr: 0,
            remote_state: State::Down,
            remote_diag: Diag::None,
            remote_min_rx: INITIAL_REMOTE_MIN_RX,
            remote_desired_tx: Duration::ZERO,
            remote_detect_mult: 0,
            active: (Duration::ZERO, Duration::ZERO),
            polling: None,
            last_rx: None,
            last_tx: None,
            next_tx: now,
            final_due: false,
            send_now: None,
            rng: seed,
            changes: VecDeque::new(),
            last_change: None,
            packets_in: 0,
            packets_out: 0,
        };
        s.active = s.advertised();
        // The first packet goes out at once; the jittered period starts after it.
        s.send_now = Some(now);
        s
    }

    /// The (Desired Min TX, Required Min RX) we put in packets now.
    fn advertised(&self) -> (Duration, Duration) {
        let tx =
            if self.state == State::Up { self.cfg.desired_min_tx } else { self.cfg.desired_min_tx.max(SLOW_START_TX) };
        (tx, self.cfg.required_min_rx)
    }

    /// The negotiated interval we send at (§6.8.7), before jitter.
    fn tx_interval(&self) -> Duration {
        self.active.0.max(self.remote_min_rx)
    }

    /// The negotiated interval the peer sends at.
    fn rx_interval(&self) -> Duration {
        self.active.1.max(self.remote_desired_tx)
    }

    /// Asynchronous mode detection time (§6.8.4): the remote multiplier times the agreed
    /// interval the remote sends at.
    fn detection_time(&self) -> Duration {
        self.rx_interval() * u32::from(self.remote_detect_mult)
    }

    fn detection_deadline(&self) -> Option<Instant> {
        self.last_rx.map(|t| t + self.detection_time())
    }

    /// The next TX interval with jitter (§6.8.7): 75–100% of the interval, 75–90% with a
    /// detect multiplier of 1 (so one lost packet cannot expire the peer's timer).
    fn jittered(&mut self) -> Duration {
        let base = u64::try_from(self.tx_interval().as_nanos()).unwrap_or(u64::MAX);
        let (hi, lo) = if self.cfg.detect_mult == 1 { (base / 10 * 9, base / 4 * 3) } else { (base, base / 4 * 3) };
        let r = splitmix64(&mut self.rng);
        Duration::from_nanos(hi - r % (hi - lo + 1))
    }

    fn set_state(&mut self, to: State, diag: Diag, now: Instant) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.local_diag = diag;
        self.last_change = Some(now);
        self.changes.push_back(SessionChange { from, to, diag, at: now });
        // §6.8.7 asks nothing here, but the peer learns of the change a whole interval
        // sooner (FRR and BIRD send at once too).
        self.send_now.get_or_insert(now);
        self.update_intervals(now);
    }

    /// Re-derives the timing intervals after the advertised ones may have changed: at once
    /// while not Up, through a Poll sequence while Up (§6.8.3).
    fn update_intervals(&mut self, now: Instant) {
        let adv = self.advertised();
        if self.state != State::Up {
            self.polling = None;
            self.take_intervals(adv);
        } else if self.polling.is_none() && adv != self.active {
            self.polling = Some(adv);
            // A Poll goes out at once rather than after a possibly long (slow start) interval.
            self.send_now.get_or_insert(now);
        }
        // While a Poll runs, a later change waits for its Final (§6.5: one sequence at a time).
    }

    fn take_intervals(&mut self, values: (Duration, Duration)) {
        self.active = values;
        self.reschedule();
    }

    /// After the TX interval shrank, the next packet is due no later than a (jittered) new
    /// interval after the last one.
    fn reschedule(&mut self) {
        let Some(last) = self.last_tx else { return };
        // A time already past means "send now": poll_transmit sees it due.
        let next = last + self.jittered();
        if next < self.next_tx {
            self.next_tx = next;
        }
    }

    /// A packet that passed `decode` and was demultiplexed to this session (§6.8.6 rest).
    pub fn handle_packet(&mut self, p: &ControlPacket, now: Instant) {
        // §6.8.6: a non-zero Your Discriminator must be ours (the demultiplexer should have
        // made sure; a stray one is not this session's packet).
        if p.your_discriminator != 0 && p.your_discriminator != self.local_discr {
            return;
        }
        self.packets_in += 1;
        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_diag = p.diag;
        self.remote_detect_mult = p.detect_mult;
        self.remote_desired_tx = p.desired_min_tx;
        let remote_min_rx_before = self.remote_min_rx;
        self.remote_min_rx = p.required_min_rx;
        self.last_rx = Some(now);

        // §6.8.6: a Final ends our Poll sequence; the announced values take effect now.
        if p.final_ {
            if let Some(values) = self.polling.take() {
                self.take_intervals(values);
                // Changes made during the sequence need one of their own.
                self.update_intervals(now);
            }
        }
        if self.remote_min_rx < remote_min_rx_before {
            self.reschedule();
        }

        if self.state == State::AdminDown {
            return;
        }
        if p.state == State::AdminDown {
            if self.state != State::Down {
                self.set_state(State::Down, Diag::NeighborSignaledSessionDown, now);
            }
        } else {
            match (self.state, p.state) {
                (State::Down, State::Down) => self.set_state(State::Init, Diag::None, now),
                (State::Down, State::Init) => self.set_state(State::Up, Diag::None, now),
                (State::Init, State::Init | State::Up) => self.set_state(State::Up, Diag::None, now),
                (State::Up, State::Down) => self.set_state(State::Down, Diag::NeighborSignaledSessionDown, now),
                _ => {}
            }
        }
        // §6.8.6: answer a Poll with a Final as soon as practicable.
        if p.poll {
            self.final_due = true;
        }
    }

    /// Detection time expiry and TX due; call when `poll_timeout` has passed (calling early is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.detection_deadline() {
            if now >= deadline {
                // §6.8.1: bfd.RemoteDiscr is zeroed when a Detection Time passes in silence;
                // §6.8.4: in Init or Up the session goes Down.
                self.last_rx = None;
                self.remote_discr = 0;
                self.remote_state = State::Down;
                if matches!(self.state, State::Init | State::Up) {
                    self.set_state(State::Down, Diag::ControlDetectionTimeExpired, now);
                }
            }
        }
    }

    /// Next packet to send now, if any (periodic, Final answers to a Poll, immediate on state change).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ControlPacket> {
        if self.final_due {
            // §6.8.7: the Final goes out regardless of the TX timer and without P (§4.1).
            self.final_due = false;
            self.packets_out += 1;
            let mut p = self.packet();
            p.final_ = true;
            return Some(p);
        }
        // §6.8.7: no periodic packets to a peer that asks for none (Required Min RX 0).
        let periodic_due = now >= self.next_tx && !self.remote_min_rx.is_zero();
        if self.send_now.is_none() && !periodic_due {
            return None;
        }
        self.send_now = None;
        self.last_tx = Some(now);
        self.next_tx = now + self.jittered();
        self.packets_out += 1;
        let mut p = self.packet();
        p.poll = self.polling.is_some();
        Some(p)
    }

    fn packet(&self) -> ControlPacket {
        let (desired_min_tx, required_min_rx) = self.polling.unwrap_or_else(|| self.advertised());
        ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.cfg.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx,
            required_min_rx,
            // No echo function: we do not want echo packets (§6.8.9 via §4.1 zero).
            required_min_echo_rx: Duration::ZERO,
        }
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.final_due {
            return Some(self.last_rx.unwrap_or(self.next_tx));
        }
        if let Some(at) = self.send_now {
            return Some(at);
        }
        let tx = (!self.remote_min_rx.is_zero()).then_some(self.next_tx);
        match (tx, self.detection_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// State changes, oldest first.
    pub fn poll_change(&mut self) -> Option<SessionChange> {
        self.changes.pop_front()
    }

    /// New intervals/multiplier (reload): runs a Poll sequence (§6.8.3).
    pub fn set_config(&mut self, cfg: SessionConfig, now: Instant) {
        let cfg = sanitize(cfg);
        if cfg == self.cfg {
            return;
        }
        let mult_changed = cfg.detect_mult != self.cfg.detect_mult;
        self.cfg = cfg;
        self.update_intervals(now);
        if mult_changed {
            // The multiplier is no interval (no Poll), but the peer's detection time uses it.
            self.send_now.get_or_insert(now);
        }
    }

    /// AdminDown (§6.8.16) and back to Down.
    pub fn set_admin_down(&mut self, admin_down: bool, now: Instant) {
        match (admin_down, self.state) {
            (true, State::AdminDown) | (false, State::Down | State::Init | State::Up) => {}
            (true, _) => self.set_state(State::AdminDown, Diag::AdministrativelyDown, now),
            (false, State::AdminDown) => self.set_state(State::Down, Diag::None, now),
        }
    }

    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }

    /// 0 until learned, and again after a Detection Time of silence.
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discr
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> SessionConfig {
        self.cfg
    }

    pub fn status(&self, _now: Instant) -> SessionStatus {
        SessionStatus {
            state: self.state,
            remote_state: self.remote_state,
            local_diag: self.local_diag,
            remote_diag: self.remote_diag,
            local_discriminator: self.local_discr,
            remote_discriminator: self.remote_discr,
            tx_interval: self.tx_interval(),
            rx_interval: self.rx_interval(),
            detection_time: self.detection_time(),
            remote_detect_mult: self.remote_detect_mult,
            last_change: self.last_change,
            packets_in: self.packets_in,
            packets_out: self.packets_out,
        }
    }
}

/// A zero multiplier would make every packet we send invalid (§6.8.6) and a zero interval
/// would send without pause; the config validates both, this only keeps the machine sane.
fn sanitize(mut cfg: SessionConfig) -> SessionConfig {
    cfg.detect_mult = cfg.detect_mult.max(1);
    cfg.desired_min_tx = cfg.desired_min_tx.max(Duration::from_micros(1));
    cfg
}

/// SplitMix64: a small, well-mixed generator for TX jitter; the daemon's BFD task uses
/// it for discriminators and source ports too (no cryptographic need).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn cfg(ms: u32, mult: u8) -> SessionConfig {
        SessionConfig { desired_min_tx: ms * MS, required_min_rx: ms * MS, detect_mult: mult }
    }

    /// A packet sent by a session is delivered through the codec, as the daemon would.
    fn wire(p: &ControlPacket) -> ControlPacket {
        ControlPacket::decode(&p.encode()).expect("a session sends only valid packets")
    }

    /// A record of one sent packet.
    #[derive(Debug, Clone, Copy)]
    struct Sent {
        at: Instant,
        packet: ControlPacket,
    }

    /// Two sessions wired back to back on a virtual clock, with zero link delay and links
    /// that can be cut one way each.
    struct Pair {
        now: Instant,
        s: [Session; 2],
        link_up: [bool; 2],
        sent: [Vec<Sent>; 2],
        changes: [Vec<SessionChange>; 2],
        /// When each session last received a packet.
        last_rx: [Option<Instant>; 2],
    }

    impl Pair {
        fn new(a: SessionConfig, b: SessionConfig) -> Pair {
            let now = Instant::now();
            Pair {
                now,
                s: [Session::new(1, a, now, 11), Session::new(2, b, now, 22)],
                link_up: [true, true],
                sent: [Vec::new(), Vec::new()],
                changes: [Vec::new(), Vec::new()],
                last_rx: [None, None],
            }
        }

        /// Runs both sessions' output until quiet at the current instant.
        fn settle(&mut self) {
            loop {
                let mut any = false;
                for i in 0..2 {
                    self.s[i].handle_timeout(self.now);
                    while let Some(c) = self.s[i].poll_change() {
                        self.changes[i].push(c);
                    }
                    while let Some(p) = self.s[i].poll_transmit(self.now) {
                        any = true;
                        self.sent[i].push(Sent { at: self.now, packet: p });
                        if self.link_up[i] {
                            self.s[1 - i].handle_packet(&wire(&p), self.now);
                            self.last_rx[1 - i] = Some(self.now);
                        }
                    }
                }
                if !any {
                    return;
                }
            }
        }

        /// Advances the clock event by event up to `until`.
        fn run_until(&mut self, until: Instant) {
            self.settle();
            loop {
                let next = self.s.iter().filter_map(|s| s.poll_timeout()).min();
                match next {
                    Some(t) if t <= until => {
                        assert!(t >= self.now || self.s.iter().any(|s| s.final_due || s.send_now.is_some()));
                        self.now = self.now.max(t);
                        self.settle();
                    }
                    _ => {
                        self.now = until;
                        self.settle();
                        return;
                    }
                }
            }
        }

        fn run_for(&mut self, d: Duration) {
            self.run_until(self.now + d);
        }
    }

    #[test]
    fn two_sessions_come_up_and_leave_slow_start() {
        let mut p = Pair::new(cfg(300, 3), cfg(300, 3));
        p.run_for(5000 * MS);
        for i in 0..2 {
            assert_eq!(p.s[i].state(), State::Up);
            let st = p.s[i].status(p.now);
            assert_eq!(st.tx_interval, 300 * MS, "after the Poll, the configured rate");
            assert_eq!(st.detection_time, 900 * MS);
            assert_eq!(st.remote_discriminator, 2 - i as u32);
            assert_eq!(p.changes[i].last().unwrap().to, State::Up);
        }
        // One side went Down -> Init -> Up, or both Down -> Up via Init: never anything else.
        let path: Vec<(State, State)> = p.changes[0].iter().map(|c| (c.from, c.to)).collect();
        assert!(
            path == [(State::Down, State::Init), (State::Init, State::Up)] || path == [(State::Down, State::Up)],
            "{path:?}"
        );
        // The first packets came out at once, in slow start (>= 1 s advertised).
        assert_eq!(p.sent[0][0].packet.desired_min_tx, 1000 * MS);
        assert_eq!(p.sent[0][0].packet.state, State::Down);
        // Once Up, a Poll announced 300 ms and was answered by a Final.
        assert!(p.sent[0].iter().any(|s| s.packet.poll && s.packet.desired_min_tx == 300 * MS));
        assert!(p.sent[1].iter().any(|s| s.packet.final_));
        assert!(!p.s[0].status(p.now).packets_in.eq(&0));
    }

    #[test]
    fn up_within_the_first_seconds_then_steady_rate() {
        let mut p = Pair::new(cfg(100, 3), cfg(100, 3));
        p.run_for(2000 * MS);
        let up_at = p.changes[0].iter().find(|c| c.to == State::Up).unwrap().at;
        // Both send their first packet at once: the three-way handshake needs no timer.
        assert!(up_at <= p.sent[0][0].at + 1000 * MS, "Up took {:?}", up_at - p.sent[0][0].at);
        // In steady state: about 10 packets a second (100 ms, jittered 75-100%).
        let before = p.sent[0].len();
        p.run_for(10_000 * MS);
        let n = p.sent[0].len() - before;
        assert!((100..=134).contains(&n), "{n} packets in 10 s");
    }

    #[test]
    fn silence_ends_in_down_after_exactly_the_detection_time() {
        let mut p = Pair::new(cfg(100, 3), cfg(200, 4));
        p.run_for(5000 * MS);
        assert_eq!(p.s[0].state(), State::Up);
        // A's detection time: B's multiplier 4 × max(A's required 100 ms, B's desired 200 ms).
        assert_eq!(p.s[0].status(p.now).detection_time, 800 * MS);
        // B -> A goes silent.
        p.link_up[1] = false;
        let last = p.last_rx[0].unwrap();
        p.run_for(3000 * MS);
        let down: Vec<&SessionChange> = p.changes[0].iter().filter(|c| c.from == State::Up).collect();
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].to, State::Down);
        assert_eq!(down[0].diag, Diag::ControlDetectionTimeExpired);
        assert_eq!(down[0].at, last + 800 * MS);
        assert_eq!(p.s[0].remote_discriminator(), 0, "§6.8.1: zeroed after a detection time");
        // A now says Down, B hears it and follows with the neighbor's diag.
        let b_down = p.changes[1].iter().find(|c| c.from == State::Up).unwrap();
        assert_eq!(b_down.diag, Diag::NeighborSignaledSessionDown);
        assert_eq!(b_down.at, down[0].at, "A tells B at once");
        // A stays Down while it hears nothing, back in slow start.
        assert_eq!(p.s[0].state(), State::Down);
        assert_eq!(p.s[0].status(p.now).tx_interval, 1000 * MS);
        // Restore the link: Up again.
        p.link_up[1] = true;
        p.run_for(5000 * MS);
        assert_eq!(p.s[0].state(), State::Up);
        assert_eq!(p.s[1].state(), State::Up);
    }

    #[test]
    fn poll_gets_a_final_and_new_intervals_take_effect_only_then() {
        let mut p = Pair::new(cfg(300, 3), cfg(300, 3));
        p.run_for(5000 * MS);
        assert_eq!(p.s[0].status(p.now).tx_interval, 300 * MS);
        let now = p.now;
        // Faster TX, slower RX: neither may change before the peer acknowledges.
        p.s[0].set_config(SessionConfig { desired_min_tx: 50 * MS, required_min_rx: 600 * MS, detect_mult: 3 }, now);
        let poll = p.s[0].poll_transmit(now).expect("a Poll goes out at once");
        assert!(poll.poll && !poll.final_);
        assert_eq!((poll.desired_min_tx, poll.required_min_rx), (50 * MS, 600 * MS));
        let st = p.s[0].status(now);
        assert_eq!((st.tx_interval, st.detection_time), (300 * MS, 900 * MS), "old values until the Final");
        // B takes A's new Required Min RX at once (it is what A asks for) and answers.
        p.s[1].handle_packet(&wire(&poll), now);
        let fin = p.s[1].poll_transmit(now).expect("the Final goes out at once");
        assert!(fin.final_ && !fin.poll);
        assert_eq!(p.s[1].status(now).tx_interval, 600 * MS);
        // Until the Final arrives, A keeps polling with its periodic packets.
        let later = now + 300 * MS;
        let again = p.s[0].poll_transmit(later).expect("periodic");
        assert!(again.poll);
        assert_eq!(p.s[0].status(later).tx_interval, 300 * MS);
        p.s[1].handle_packet(&wire(&again), later);
        p.s[0].handle_packet(&wire(&fin), later);
        let st = p.s[0].status(later);
        // TX: max(our 50, B's required 300). Detection: 3 × max(our 600, B's desired 300).
        assert_eq!((st.tx_interval, st.detection_time), (300 * MS, 1800 * MS));
        // The pair keeps running at the new rates, without Polls, and stays Up.
        p.now = later;
        let from = p.sent[0].len();
        p.run_for(5000 * MS);
        assert!(p.sent[0][from..].iter().all(|s| !s.packet.poll));
        assert_eq!(p.s[1].status(p.now).tx_interval, 600 * MS);
        assert_eq!(p.s[0].state(), State::Up);
        assert_eq!(p.changes[0].last().unwrap().to, State::Up);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for (mult, lo, hi) in [(3u8, 75u128, 100u128), (1, 75, 90)] {
            let mut p = Pair::new(cfg(100, mult), cfg(100, mult));
            p.run_for(5000 * MS);
            let from = p.sent[0].len();
            p.run_for(200_000 * MS);
            let gaps: Vec<u128> = p.sent[0][from..].windows(2).map(|w| (w[1].at - w[0].at).as_micros()).collect();
            assert!(gaps.len() > 1500, "{}", gaps.len());
            let (min, max) = (*gaps.iter().min().unwrap(), *gaps.iter().max().unwrap());
            assert!(min >= lo * 1000 && max <= hi * 1000, "mult {mult}: gaps {min}..{max} µs");
            // Spread over the range, not a constant.
            assert!(min < (lo + 2) * 1000 && max > (hi - 2) * 1000, "mult {mult}: gaps {min}..{max} µs");
            assert_eq!(p.s[0].state(), State::Up, "mult {mult}");
        }
    }

    fn from_peer(state: State, your: u32) -> ControlPacket {
        ControlPacket {
            diag: Diag::None,
            state,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 99,
            your_discriminator: your,
            desired_min_tx: 1000 * MS,
            required_min_rx: 1000 * MS,
            required_min_echo_rx: Duration::ZERO,
        }
    }

    /// A session brought to `state` by the peer's packets.
    fn session_in(state: State, now: Instant) -> Session {
        let mut s = Session::new(7, cfg(300, 3), now, 1);
        match state {
            State::Down => {}
            State::Init => s.handle_packet(&from_peer(State::Down, 0), now),
            State::Up => s.handle_packet(&from_peer(State::Init, 7), now),
            State::AdminDown => s.set_admin_down(true, now),
        }
        assert_eq!(s.state(), state);
        while s.poll_change().is_some() {}
        s
    }

    #[test]
    fn state_table_of_section_6_8_6() {
        use State::*;
        let t = Instant::now();
        // (local, received) -> (new local, diag of the change if any)
        let table = [
            (Down, Down, Init, None),
            (Down, Init, Up, None),
            (Down, Up, Down, None),
            (Down, AdminDown, Down, None),
            (Init, Down, Init, None),
            (Init, Init, Up, None),
            (Init, Up, Up, None),
            (Init, AdminDown, Down, Some(Diag::NeighborSignaledSessionDown)),
            (Up, Down, Down, Some(Diag::NeighborSignaledSessionDown)),
            (Up, Init, Up, None),
            (Up, Up, Up, None),
            (Up, AdminDown, Down, Some(Diag::NeighborSignaledSessionDown)),
            (AdminDown, Down, AdminDown, None),
            (AdminDown, Init, AdminDown, None),
            (AdminDown, Up, AdminDown, None),
        ];
        for (local, received, want, diag) in table {
            let mut s = session_in(local, t);
            s.handle_packet(&from_peer(received, 7), t + MS);
            assert_eq!(s.state(), want, "{local} + {received}");
            let change = s.poll_change();
            assert_eq!(change.as_ref().map(|c| c.to), (want != local).then_some(want), "{local} + {received}");
            if let Some(d) = diag {
                assert_eq!(change.unwrap().diag, d, "{local} + {received}");
            }
            assert_eq!(s.status(t).remote_state, received);
        }
    }

    #[test]
    fn remote_admin_down_is_told_apart_from_a_failure() {
        let t = Instant::now();
        let mut s = session_in(State::Up, t);
        let mut p = from_peer(State::AdminDown, 7);
        p.diag = Diag::AdministrativelyDown;
        s.handle_packet(&p, t);
        let c = s.poll_change().unwrap();
        assert_eq!((c.from, c.to, c.diag), (State::Up, State::Down, Diag::NeighborSignaledSessionDown));
        // RFC 5882 §3.2: the daemon keeps BGP up when the remote state is AdminDown.
        let st = s.status(t);
        assert_eq!((st.remote_state, st.remote_diag), (State::AdminDown, Diag::AdministrativelyDown));
        // We answer in Down, and do not come back while the peer stays AdminDown.
        assert_eq!(s.poll_transmit(t).unwrap().state, State::Down);
        s.handle_packet(&p, t + 500 * MS);
        assert_eq!(s.state(), State::Down);
    }

    #[test]
    fn local_admin_down_is_sent_and_ends() {
        let t = Instant::now();
        let mut s = session_in(State::Up, t);
        let _ = s.poll_transmit(t);
        s.set_admin_down(true, t);
        let c = s.poll_change().unwrap();
        assert_eq!((c.from, c.to, c.diag), (State::Up, State::AdminDown, Diag::AdministrativelyDown));
        let p = s.poll_transmit(t).expect("AdminDown goes out at once");
        assert_eq!((p.state, p.diag), (State::AdminDown, Diag::AdministrativelyDown));
        // Packets are ignored; the detection timer does not take it anywhere.
        s.handle_packet(&from_peer(State::Up, 7), t + MS);
        s.handle_timeout(t + 10_000 * MS);
        assert_eq!(s.state(), State::AdminDown);
        assert!(s.poll_change().is_none());
        // Periodic AdminDown packets continue at the slow rate.
        let p = s.poll_transmit(t + 10_000 * MS).unwrap();
        assert_eq!(p.state, State::AdminDown);
        assert_eq!(p.desired_min_tx, 1000 * MS);
        s.set_admin_down(false, t + 10_001 * MS);
        assert_eq!(s.state(), State::Down);
        assert_eq!(s.poll_change().unwrap().to, State::Down);
        s.handle_packet(&from_peer(State::Init, 7), t + 10_002 * MS);
        assert_eq!(s.state(), State::Up);
    }

    #[test]
    fn init_times_out_too() {
        let t = Instant::now();
        let mut s = session_in(State::Init, t);
        // Detection: 3 × max(300 ms, 1000 ms) from the last packet.
        assert_eq!(s.poll_timeout().map(|d| d <= t + 3000 * MS), Some(true));
        s.handle_timeout(t + 2999 * MS);
        assert_eq!(s.state(), State::Init);
        s.handle_timeout(t + 3000 * MS);
        let c = s.poll_change().unwrap();
        assert_eq!((c.to, c.diag, c.at), (State::Down, Diag::ControlDetectionTimeExpired, t + 3000 * MS));
    }

    #[test]
    fn a_poll_is_answered_by_a_final_without_poll() {
        let t = Instant::now();
        let mut s = session_in(State::Up, t);
        while s.poll_transmit(t).is_some() {}
        let mut p = from_peer(State::Up, 7);
        p.poll = true;
        s.handle_packet(&p, t + MS);
        assert!(s.poll_timeout().unwrap() <= t + MS);
        let f = s.poll_transmit(t + MS).unwrap();
        assert!(f.final_ && !f.poll);
        assert_eq!(f.your_discriminator, 99);
    }

    #[test]
    fn a_foreign_your_discriminator_is_ignored() {
        let t = Instant::now();
        let mut s = session_in(State::Down, t);
        s.handle_packet(&from_peer(State::Init, 8), t);
        assert_eq!(s.state(), State::Down);
        assert_eq!(s.status(t).packets_in, 0);
        assert_eq!(s.remote_discriminator(), 0);
    }

    #[test]
    fn a_peer_asking_for_no_packets_gets_none_but_its_final() {
        let t = Instant::now();
        let mut s = session_in(State::Up, t);
        let mut p = from_peer(State::Up, 7);
        p.required_min_rx = Duration::ZERO;
        s.handle_packet(&p, t);
        while s.poll_transmit(t).is_some() {}
        assert!(s.poll_transmit(t + 60_000 * MS).is_none());
        p.poll = true;
        s.handle_packet(&p, t + 60_000 * MS);
        assert!(s.poll_transmit(t + 60_000 * MS).unwrap().final_);
    }

    #[test]
    fn slow_start_before_up() {
        let t = Instant::now();
        let mut s = Session::new(7, cfg(50, 3), t, 5);
        let mut times = Vec::new();
        let mut now = t;
        while now < t + 10_000 * MS {
            if let Some(p) = s.poll_transmit(now) {
                assert_eq!(p.desired_min_tx, 1000 * MS);
                assert_eq!(p.required_min_rx, 50 * MS);
                times.push(now);
            }
            now = s.poll_timeout().unwrap().max(now + MS);
        }
        assert!(times.windows(2).all(|w| w[1] - w[0] >= 750 * MS), "{times:?}");
        assert!((10..=14).contains(&times.len()), "{}", times.len());
    }

    #[test]
    fn multiplier_change_needs_no_poll() {
        let mut p = Pair::new(cfg(100, 3), cfg(100, 3));
        p.run_for(3000 * MS);
        let now = p.now;
        p.s[0].set_config(cfg(100, 5), now);
        let pk = p.s[0].poll_transmit(now).expect("sent at once");
        assert!(!pk.poll);
        assert_eq!(pk.detect_mult, 5);
        p.s[1].handle_packet(&wire(&pk), now);
        assert_eq!(p.s[1].status(now).detection_time, 500 * MS);
    }
}
