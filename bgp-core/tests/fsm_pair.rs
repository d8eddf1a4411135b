//! Two neighbor state machines wired back to back on a virtual clock: every message
//! goes through the real encoder and decoder with each side's negotiated context, and
//! time only moves when the test says so. No sockets, no sleeps.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_core::fsm::{
    ConnId, Direction, DownReason, Input, OpenRejection, Output, Peer, PeerConfig, SessionEvent, SessionState,
};
use bgp_core::types::Family;
use bgp_core::wire::notification::{FsmError, OpenError};
use bgp_core::wire::open::{AddPathFamily, GracefulRestart, GracefulRestartFamily, LlgrFamily};
use bgp_core::wire::{decode_message, Cease, ErrorCode, Message, MessageType, Notification};
use bytes::Bytes;

const A: usize = 0;
const B: usize = 1;

/// Both ends of the wire and the clock.
struct Pair {
    peers: [Peer; 2],
    now: Instant,
    next_conn: u64,
    /// Per side, everything it output, for assertions.
    log: [Vec<Output>; 2],
    /// When false, messages from that side are lost and its writes make no progress
    /// (the other side stopped reading).
    deliver_from: [bool; 2],
    /// Whether the side accepts TCP connections (is listening).
    listening: [bool; 2],
}

fn cfg(router_id: &str, local_as: u32, remote_as: u32) -> PeerConfig {
    let mut c = PeerConfig::new(local_as, router_id.parse().unwrap(), remote_as);
    c.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    c
}

fn gr(notification: bool) -> GracefulRestart {
    GracefulRestart {
        restarting: false,
        notification,
        restart_time: 120,
        families: vec![GracefulRestartFamily { family: Family::IPV4_UNICAST, forwarding_preserved: true }],
    }
}

/// An Established pair, A (10.0.0.1, AS 65000) and B (10.0.0.2, AS 65001), both with
/// graceful restart, with or without the N bit (RFC 8538).
fn graceful_pair(a_n_bit: bool, b_n_bit: bool) -> Pair {
    let mut a = cfg("10.0.0.1", 65000, 65001);
    a.graceful_restart = Some(gr(a_n_bit));
    let mut b = cfg("10.0.0.2", 65001, 65000);
    b.graceful_restart = Some(gr(b_n_bit));
    let mut p = Pair::new(a, b);
    p.start();
    p
}

impl Pair {
    fn new(a: PeerConfig, b: PeerConfig) -> Pair {
        Pair {
            peers: [Peer::new(a), Peer::new(b)],
            now: Instant::now(),
            next_conn: 1,
            log: [Vec::new(), Vec::new()],
            deliver_from: [true, true],
            listening: [true, true],
        }
    }

    /// Starts both sides at the same instant, as two daemons configured together, and
    /// lets a connection collision settle (RFC 4271 §6.8 can close both connections
    /// when both sides are active; the jittered retry then wins). Logs start empty.
    fn start(&mut self) {
        self.start_raw();
        self.advance(Duration::from_secs(10));
        self.log = [Vec::new(), Vec::new()];
    }

    fn start_raw(&mut self) {
        for side in [A, B] {
            self.peers[side].handle(Input::Start, self.now);
        }
        self.run();
    }

    fn input(&mut self, side: usize, input: Input) {
        self.peers[side].handle(input, self.now);
        self.pump(side);
    }

    /// Moves outputs of `side` to the other side until both are quiet.
    fn pump(&mut self, first: usize) {
        let mut pending = vec![first];
        while let Some(side) = pending.pop() {
            let other = 1 - side;
            while let Some(out) = self.peers[side].poll_output() {
                self.log[side].push(out.clone());
                match out {
                    Output::Connect => {
                        if self.listening[other] {
                            let id = ConnId(self.next_conn);
                            self.next_conn += 1;
                            self.peers[side].handle(Input::Connected(id), self.now);
                            self.peers[other].handle(Input::Accepted(id), self.now);
                        } else {
                            self.peers[side].handle(Input::ConnectFailed, self.now);
                        }
                        pending.push(other);
                    }
                    Output::Send(id, msg) => {
                        if !self.deliver_from[side] {
                            continue;
                        }
                        // The write made progress (RFC 9687).
                        self.peers[side].handle(Input::Written(id), self.now);
                        let bytes = msg.to_bytes(&self.peers[side].tx_ctx(id)).expect("encode");
                        let decoded = decode_message(&bytes, &self.peers[other].rx_ctx(id)).expect("decode");
                        self.peers[other].handle(Input::Message(id, decoded), self.now);
                        pending.push(other);
                    }
                    Output::Close(id) => {
                        self.peers[other].handle(Input::Closed(id), self.now);
                        pending.push(other);
                    }
                    _ => {}
                }
            }
        }
    }

    fn run(&mut self) {
        self.pump(A);
        self.pump(B);
    }

    /// Advances the clock by `by`, firing every timer due on the way, in order.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            let next = [A, B].iter().filter_map(|&s| self.peers[s].poll_timeout()).min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for side in [A, B] {
                        self.peers[side].handle_timeout(self.now);
                        self.pump(side);
                    }
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn downs(&self, side: usize) -> Vec<(DownReason, bool)> {
        self.log[side]
            .iter()
            .filter_map(|o| match o {
                Output::Down { reason, graceful } => Some((reason.clone(), *graceful)),
                _ => None,
            })
            .collect()
    }

    fn sent_notifications(&self, side: usize) -> Vec<Notification> {
        self.log[side]
            .iter()
            .filter_map(|o| match o {
                Output::Send(_, Message::Notification(n)) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    fn events(&self, side: usize) -> Vec<SessionEvent> {
        events(&self.log[side])
    }

    fn established(&self) -> bool {
        self.peers.iter().all(|p| p.state() == SessionState::Established)
    }
}

fn events(outputs: &[Output]) -> Vec<SessionEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn ebgp_session_comes_up_and_negotiates() {
    let mut a = cfg("10.0.0.1", 65000, 65001);
    a.hold_time = 30;
    a.add_path = vec![AddPathFamily { family: Family::IPV4_UNICAST, send_receive: AddPathFamily::BOTH }];
    let mut b = cfg("10.0.0.2", 65001, 65000);
    b.passive = true;
    b.families = vec![Family::IPV4_UNICAST];
    b.add_path = vec![AddPathFamily { family: Family::IPV4_UNICAST, send_receive: AddPathFamily::RECEIVE }];
    let mut p = Pair::new(a, b);
    p.start();
    assert!(p.established(), "{:?} {:?}", p.peers[A].state(), p.peers[B].state());
    let n = p.peers[A].negotiated().unwrap();
    assert_eq!((n.peer_as, n.hold_time, n.keepalive), (65001, 30, 10));
    assert_eq!(n.families, vec![Family::IPV4_UNICAST], "IPv6 only on one side");
    assert!(n.four_octet_as && n.route_refresh && n.enhanced_route_refresh && n.extended_message);
    assert!(n.tx.add_path(Family::IPV4_UNICAST), "we send path ids: they receive");
    assert!(!n.rx.add_path(Family::IPV4_UNICAST), "they do not send");
    assert!(n.rx.external && n.tx.external);
    let nb = p.peers[B].negotiated().unwrap();
    assert!(nb.rx.add_path(Family::IPV4_UNICAST));
}

#[test]
fn keepalives_hold_the_session_up() {
    let mut p = Pair::new(cfg("10.0.0.1", 65000, 65000), cfg("10.0.0.2", 65000, 65000));
    p.start();
    assert!(p.established());
    p.advance(Duration::from_secs(600));
    assert!(p.established());
    assert!(p.peers[A].sent.0[3] >= 600 / 30, "a keepalive every hold/3 = 30 s");
    assert!(p.downs(A).is_empty());
}

#[test]
fn collision_settles_on_one_connection() {
    // Both active, both connect at the same instant.
    let mut p = Pair::new(cfg("10.0.0.1", 65000, 65001), cfg("10.0.0.2", 65001, 65000));
    p.start_raw();
    let collision = ErrorCode::Cease(Cease::ConnectionCollisionResolution);
    let all: Vec<_> = [A, B].iter().flat_map(|&s| p.sent_notifications(s)).collect();
    assert!(all.iter().any(|n| n.code == collision), "{all:?}");
    p.advance(Duration::from_secs(10));
    assert!(p.established());
    let conn = p.peers[A].established_conn().unwrap();
    assert_eq!(Some(conn), p.peers[B].established_conn(), "both ends on one connection");
    p.log = [Vec::new(), Vec::new()];
    p.advance(Duration::from_secs(300));
    assert!(p.established() && p.downs(A).is_empty() && p.downs(B).is_empty(), "and it stays");
}

#[test]
fn open_on_a_second_connection_keeps_the_higher_identifiers_connection() {
    // RFC 4271 §6.8 by hand: A (10.0.0.1) has its own connection in OpenConfirm when
    // the OPEN of B (10.0.0.2, higher) arrives on B's connection: B's wins.
    let mut a = cfg("10.0.0.1", 65000, 65001);
    a.passive = true;
    let mut p = Pair::new(a, cfg("10.0.0.2", 65001, 65000));
    p.peers[A].handle(Input::Start, p.now);
    let open = |id: u32| {
        Message::Open(bgp_core::wire::Open {
            my_as: 65001,
            hold_time: 90,
            router_id: Ipv4Addr::new(10, 0, 0, id as u8),
            capabilities: vec![bgp_core::wire::Capability::FourOctetAs(65001)],
        })
    };
    let ours = ConnId(1);
    let theirs = ConnId(2);
    p.peers[A].handle(Input::Connected(ours), p.now);
    p.peers[A].handle(Input::Accepted(theirs), p.now);
    p.peers[A].handle(Input::Message(ours, open(2)), p.now);
    assert_eq!(p.peers[A].state(), SessionState::OpenConfirm, "no comparison against a connection in OpenSent");
    p.peers[A].handle(Input::Message(theirs, open(2)), p.now);
    let out: Vec<_> = std::iter::from_fn(|| p.peers[A].poll_output()).collect();
    assert!(out.contains(&Output::Close(ours)), "{out:?}");
    assert!(!out.contains(&Output::Close(theirs)), "{out:?}");
    let event = SessionEvent::ConnectionCollision { peer_id: Ipv4Addr::new(10, 0, 0, 2), kept: Direction::Inbound };
    assert_eq!(events(&out), vec![event.clone()]);
    assert_eq!(event.to_string(), "connection collision with 10.0.0.2: keeping the inbound connection");
}

#[test]
fn wrong_peer_as_is_refused_with_bad_peer_as() {
    let mut b = cfg("10.0.0.2", 65001, 65000);
    b.passive = true;
    let mut p = Pair::new(cfg("10.0.0.1", 65000, 65002), b);
    p.start_raw();
    assert!(!p.established());
    let n = p.sent_notifications(A);
    assert_eq!(n[0].code, ErrorCode::Open(OpenError::BadPeerAs));
    assert_eq!(&n[0].data[..], &65001u16.to_be_bytes());
    // Counted by (code, subcode) on both sides, for the metrics: OPEN Message Error (2)
    // / Bad Peer AS (2).
    assert_eq!(p.peers[A].notifications.sent.by_code.get(&(2, 2)), Some(&1));
    assert_eq!(p.peers[B].notifications.received.by_code.get(&(2, 2)), Some(&1));
    let none = bgp_core::fsm::ByCause::default();
    assert!(p.peers[A].notifications.received == none && p.peers[B].notifications.sent == none);
    let err = p.peers[B].last_error.as_ref().unwrap();
    assert!(
        matches!(&err.reason, DownReason::NotificationReceived(n) if n.code == ErrorCode::Open(OpenError::BadPeerAs))
    );
    let rejected = SessionEvent::OpenRejected {
        reason: OpenRejection::BadPeerAs { announced: 65001, expected: 65002 },
        notification: n[0].clone(),
    };
    assert_eq!(p.events(A)[0], rejected);
    assert_eq!(rejected.to_string(), "peer announced AS 65001, expected AS 65002");
    let received = &p.events(B)[0];
    assert_eq!(received, &SessionEvent::NotificationReceived(n[0].clone()));
    assert!(received.to_string().starts_with("received NOTIFICATION OPEN Message Error / Bad Peer AS"), "{received}");
    // Retries back off instead of hammering the peer.
    p.advance(Duration::from_secs(60));
    let tries = p.log[A].iter().filter(|o| matches!(o, Output::Connect)).count();
    assert!((3..=8).contains(&tries), "{tries} attempts in a minute");
}

#[test]
fn a_hard_reset_counts_under_its_cause() {
    let mut counts = bgp_core::fsm::ByCause::default();
    let shutdown = Notification::cease_with_message(Cease::AdministrativeShutdown, "maintenance");
    counts.count(&Notification::hard_reset(&shutdown));
    counts.count(&shutdown);
    counts.count(&Notification::new(ErrorCode::HoldTimerExpired, Bytes::new()));
    assert_eq!(counts.by_code.into_iter().collect::<Vec<_>>(), vec![((4, 0), 1), ((6, 2), 2)]);
    assert_eq!(counts.hard_resets, 1);
}

#[test]
fn hold_timer_expires_when_the_peer_goes_quiet() {
    let mut a = cfg("10.0.0.1", 65000, 65001);
    a.hold_time = 9;
    let mut p = Pair::new(a, cfg("10.0.0.2", 65001, 65000));
    p.start();
    assert!(p.established());
    p.deliver_from[B] = false;
    p.advance(Duration::from_secs(10));
    assert_eq!(p.downs(A), vec![(DownReason::HoldTimerExpired, false)]);
    assert_eq!(p.sent_notifications(A).last().unwrap().code, ErrorCode::HoldTimerExpired);
    // It comes back once B talks again.
    p.deliver_from[B] = true;
    p.advance(Duration::from_secs(30));
    assert!(p.established());
}

#[test]
fn graceful_restart_keeps_routes_on_connection_loss() {
    let mut p = graceful_pair(true, true);
    let n = p.peers[A].negotiated().unwrap();
    assert!(n.graceful_restart.is_some() && n.graceful_notification);
    // B restarts: its process dies, the connection closes.
    let conn = p.peers[A].established_conn().unwrap();
    p.input(A, Input::Closed(conn));
    assert_eq!(p.downs(A), vec![(DownReason::ConnectionClosed, true)]);
}

#[test]
fn rfc8538_cease_is_graceful_but_hard_reset_is_not() {
    for (hard, graceful) in [(false, true), (true, false)] {
        let mut p = graceful_pair(true, true);
        let cease = Notification::cease_with_message(Cease::AdministrativeReset, "restarting");
        let n = if hard { Notification::hard_reset(&cease) } else { cease };
        p.input(B, Input::Stop { notification: Some(n) });
        assert_eq!(p.downs(A).len(), 1);
        assert_eq!(p.downs(A)[0].1, graceful, "hard reset {hard}");
        assert_eq!(p.peers[B].state(), SessionState::Idle);
    }
}

#[test]
fn without_the_n_bit_a_notification_ends_routes() {
    let mut p = graceful_pair(true, false);
    p.input(B, Input::Stop { notification: Some(Notification::cease_with_message(Cease::AdministrativeShutdown, "")) });
    assert!(!p.downs(A)[0].1);
}

#[test]
fn new_connection_from_a_restarted_peer_replaces_the_session() {
    let mut p = graceful_pair(false, false);
    let old = p.peers[A].established_conn().unwrap();
    // B restarted without A noticing: a fresh B connects to A.
    p.peers[B] = Peer::new(p.peers[B].config().clone());
    p.log = [Vec::new(), Vec::new()];
    p.listening[A] = true;
    p.input(B, Input::Start);
    p.run();
    assert_eq!(p.downs(A), vec![(DownReason::PeerRestarted, true)]);
    assert!(p.established());
    assert_ne!(p.peers[A].established_conn(), Some(old));
}

#[test]
fn no_common_family_is_an_unsupported_capability() {
    let mut a = cfg("10.0.0.1", 65000, 65001);
    a.families = vec![Family::IPV6_UNICAST];
    let mut b = cfg("10.0.0.2", 65001, 65000);
    b.families = vec![Family::IPV4_UNICAST];
    let mut p = Pair::new(a, b);
    p.start_raw();
    assert!(!p.established());
    let sent: Vec<_> = [A, B].iter().flat_map(|&s| p.sent_notifications(s)).map(|n| n.code).collect();
    assert!(sent.contains(&ErrorCode::Open(OpenError::UnsupportedCapability)), "{sent:?}");
    let rejections: Vec<_> = [A, B]
        .iter()
        .flat_map(|&s| p.events(s))
        .filter_map(|e| match e {
            SessionEvent::OpenRejected { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert!(rejections.iter().any(|r| matches!(r, OpenRejection::NoCommonFamily { .. })), "{rejections:?}");
}

#[test]
fn unacceptable_hold_time_and_zero_hold_time() {
    let mut b = cfg("10.0.0.2", 65001, 65000);
    b.hold_time = 0;
    let mut p = Pair::new(cfg("10.0.0.1", 65000, 65001), b);
    p.start();
    assert!(p.established());
    assert_eq!(p.peers[A].negotiated().unwrap().hold_time, 0);
    p.advance(Duration::from_secs(3600));
    assert!(p.established(), "hold time 0: no keepalives needed");
    assert_eq!(p.peers[A].poll_timeout(), None);
}

#[test]
fn unexpected_message_in_openconfirm_is_an_fsm_error() {
    let mut a = cfg("10.0.0.1", 65000, 65001);
    a.passive = true;
    let mut p = Pair::new(a, cfg("10.0.0.2", 65001, 65000));
    p.listening = [false, false];
    p.peers[A].handle(Input::Start, p.now);
    let id = ConnId(99);
    p.peers[A].handle(Input::Accepted(id), p.now);
    let open = bgp_core::wire::Open {
        my_as: 65001,
        hold_time: 90,
        router_id: Ipv4Addr::new(10, 0, 0, 2),
        capabilities: vec![bgp_core::wire::Capability::FourOctetAs(65001)],
    };
    p.peers[A].handle(Input::Message(id, Message::Open(open)), p.now);
    assert_eq!(p.peers[A].state(), SessionState::OpenConfirm);
    p.peers[A].handle(Input::Message(id, Message::Update(Default::default())), p.now);
    let out: Vec<_> = std::iter::from_fn(|| p.peers[A].poll_output()).collect();
    assert!(out.iter().any(|o| matches!(o, Output::Send(_, Message::Notification(n))
        if n.code == ErrorCode::Fsm(FsmError::UnexpectedMessageInOpenConfirm))));
    let [SessionEvent::UnexpectedMessage { message, state, notification }] = &events(&out)[..] else {
        panic!("{out:?}")
    };
    assert_eq!((*message, *state), (MessageType::Update, SessionState::OpenConfirm));
    assert_eq!(notification.code, ErrorCode::Fsm(FsmError::UnexpectedMessageInOpenConfirm));
    assert_eq!(events(&out)[0].to_string(), "unexpected Update in OpenConfirm");
    assert_eq!(p.peers[A].state(), SessionState::Active);
}

#[test]
fn decode_error_sends_its_notification() {
    let mut p = Pair::new(cfg("10.0.0.1", 65000, 65001), cfg("10.0.0.2", 65001, 65000));
    p.start();
    let id = p.peers[A].established_conn().unwrap();
    let bad = bgp_core::wire::decode_message(&Bytes::from_static(&[0xff; 19]), &Default::default()).unwrap_err();
    p.input(A, Input::DecodeError(id, bad.clone()));
    assert_eq!(p.sent_notifications(A).last(), Some(bad.notification()));
    assert!(matches!(p.downs(A)[0].0, DownReason::NotificationSent(_)));
    let event = SessionEvent::DecodeError { reason: bad.reason.clone(), notification: bad.notification().clone() };
    assert_eq!(p.events(A), vec![event.clone()]);
    assert_eq!(event.to_string(), format!("decode error: {}", bad.reason));
}

#[test]
fn passive_peer_never_connects_and_stop_rejects_newcomers() {
    let mut b = cfg("10.0.0.2", 65001, 65000);
    b.passive = true;
    let mut p = Pair::new(cfg("10.0.0.1", 65000, 65001), b);
    p.input(B, Input::Start);
    p.advance(Duration::from_secs(600));
    assert!(!p.log[B].iter().any(|o| matches!(o, Output::Connect)));
    assert_eq!(p.peers[B].state(), SessionState::Active);
    p.input(B, Input::Stop { notification: None });
    p.input(A, Input::Start);
    assert!(!p.established());
    assert!(p.sent_notifications(B).iter().any(|n| n.code == ErrorCode::Cease(Cease::AdministrativeShutdown)));
}

#[test]
fn connect_retry_backs_off_with_jitter_and_a_cap() {
    let mut a = cfg("10.0.0.1", 65000, 65001);
    a.connect_retry = Duration::from_secs(1);
    a.connect_retry_max = Duration::from_secs(60);
    let mut p = Pair::new(a, cfg("10.0.0.2", 65001, 65000));
    p.listening[B] = false;
    p.input(A, Input::Start);
    let start = p.now;
    let mut attempts = Vec::new();
    for _ in 0..2000 {
        p.advance(Duration::from_secs(1));
        let n = p.log[A].iter().filter(|o| matches!(o, Output::Connect)).count();
        if n > attempts.len() {
            attempts.push(p.now - start);
        }
    }
    let gaps: Vec<u64> = attempts.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert!(gaps[0] <= 2 && gaps[3] >= 5, "doubling: {gaps:?}");
    assert!(gaps.iter().all(|&g| g <= 61), "capped: {gaps:?}");
    assert!(gaps.iter().rev().take(5).all(|&g| g >= 44), "jitter stays within 0.75..1.0: {gaps:?}");
}

#[test]
fn after_the_restart_window_opens_clear_the_restart_bit() {
    let restarting = |c: &mut PeerConfig| {
        let mut g = gr(true);
        g.restarting = true;
        c.graceful_restart = Some(g);
    };
    let (mut a, mut b) = (cfg("10.0.0.1", 65001, 65002), cfg("10.0.0.2", 65002, 65001));
    restarting(&mut a);
    b.graceful_restart = Some(gr(true));
    let mut p = Pair::new(a, b);
    p.peers[A].restart_over();
    p.start();
    assert_eq!(p.peers[A].state(), SessionState::Established);
    let theirs = p.peers[B].negotiated().unwrap().graceful_restart.clone().unwrap();
    assert!(!theirs.restarting, "B saw no R bit: {theirs:?}");
    assert!(theirs.families.iter().all(|f| !f.forwarding_preserved));
}

/// One state machine (passive, 10.0.0.1, AS 65000, peer AS 65001) and a raw peer the
/// test plays by hand on connection `RAW`, on the virtual clock.
struct Lone {
    peer: Peer,
    now: Instant,
    out: Vec<Output>,
}

const RAW: ConnId = ConnId(7);

impl Lone {
    fn new(configure: impl FnOnce(&mut PeerConfig)) -> Lone {
        let mut c = cfg("10.0.0.1", 65000, 65001);
        c.passive = true;
        configure(&mut c);
        let mut l = Lone { peer: Peer::new(c), now: Instant::now(), out: Vec::new() };
        l.input(Input::Start);
        l
    }

    fn input(&mut self, input: Input) {
        self.peer.handle(input, self.now);
        self.out.extend(std::iter::from_fn(|| self.peer.poll_output()));
    }

    /// Moves the clock by `by`, firing the timers due on the way.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(t) = self.peer.poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            self.peer.handle_timeout(self.now);
            self.out.extend(std::iter::from_fn(|| self.peer.poll_output()));
        }
        self.now = end;
    }

    /// The raw peer's OPEN (AS 65001, 10.0.0.2).
    fn open(hold_time: u16) -> Input {
        Input::Message(
            RAW,
            Message::Open(bgp_core::wire::Open {
                my_as: 65001,
                hold_time,
                router_id: Ipv4Addr::new(10, 0, 0, 2),
                capabilities: vec![bgp_core::wire::Capability::FourOctetAs(65001)],
            }),
        )
    }

    /// Connects, sends OPEN and KEEPALIVE: Established.
    fn established(hold_time: u16) -> Lone {
        let mut l = Lone::new(|c| c.hold_time = hold_time);
        l.input(Input::Accepted(RAW));
        l.input(Lone::open(hold_time));
        l.input(Input::Message(RAW, Message::Keepalive));
        assert_eq!(l.peer.state(), SessionState::Established);
        l.out.clear();
        l
    }

    fn notifications(&self) -> Vec<ErrorCode> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Send(_, Message::Notification(n)) => Some(n.code),
                _ => None,
            })
            .collect()
    }

    fn downs(&self) -> Vec<DownReason> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Down { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn send_hold_timer_ends_a_session_whose_writes_make_no_progress() {
    // RFC 9687: the peer keeps talking but reads nothing; SendHoldTime is the greater
    // of 8 minutes and twice the hold time.
    for (hold, send_hold) in [(90u16, 480u64), (300, 600)] {
        let mut l = Lone::established(hold);
        let keepalive_every = Duration::from_secs(u64::from(hold) / 3);
        let mut elapsed = Duration::ZERO;
        while elapsed + keepalive_every < Duration::from_secs(send_hold) {
            l.advance(keepalive_every);
            elapsed += keepalive_every;
            l.input(Input::Message(RAW, Message::Keepalive));
        }
        assert_eq!(l.peer.state(), SessionState::Established, "hold {hold}: not before {send_hold} s");
        l.advance(Duration::from_secs(send_hold) - elapsed);
        assert_eq!(l.downs(), vec![DownReason::SendHoldTimerExpired], "hold {hold}");
        assert_eq!(l.notifications(), vec![ErrorCode::Other { code: 8, subcode: 0 }]);
        assert!(l.out.contains(&Output::Close(RAW)));
        assert_eq!(l.peer.last_error.as_ref().unwrap().reason, DownReason::SendHoldTimerExpired);
        assert_eq!(DownReason::SendHoldTimerExpired.to_string(), "send hold timer expired (the peer stopped reading)");
    }
}

#[test]
fn writes_that_progress_keep_the_send_hold_timer_away() {
    let mut l = Lone::established(90);
    for _ in 0..100 {
        l.advance(Duration::from_secs(30));
        l.input(Input::Message(RAW, Message::Keepalive));
        l.input(Input::Written(RAW));
    }
    assert_eq!(l.peer.state(), SessionState::Established);
    assert!(l.downs().is_empty());
    // Hold time 0: no SendHoldTimer either (RFC 9687 §4), no timer at all.
    let mut l = Lone::established(0);
    assert_eq!(l.peer.poll_timeout(), None);
    l.advance(Duration::from_secs(86400));
    assert_eq!(l.peer.state(), SessionState::Established);
}

#[test]
fn send_hold_time_is_never_below_the_hold_time() {
    let mut c = cfg("10.0.0.1", 65000, 65001);
    assert_eq!(c.send_hold_for(9), Duration::from_secs(480));
    assert_eq!(c.send_hold_for(3600), Duration::from_secs(7200));
    c.send_hold_time = Some(Duration::from_secs(20));
    assert_eq!(c.send_hold_for(9), Duration::from_secs(20));
    assert_eq!(c.send_hold_for(30), Duration::from_secs(30));
}

#[test]
fn hold_time_zero_and_no_keepalive_is_closed_in_bounded_time() {
    // The peer proposes hold time 0 (no timers in OpenConfirm) and never confirms:
    // the connection gets our hold time (9 s here) to reach Established.
    let mut l = Lone::new(|c| c.hold_time = 9);
    l.input(Input::Accepted(RAW));
    l.input(Lone::open(0));
    assert_eq!(l.peer.state(), SessionState::OpenConfirm);
    l.advance(Duration::from_secs(8));
    assert_eq!(l.peer.state(), SessionState::OpenConfirm);
    l.advance(Duration::from_secs(1));
    assert_eq!(l.peer.state(), SessionState::Active);
    assert_eq!(l.notifications(), vec![ErrorCode::HoldTimerExpired]);
    assert!(l.out.contains(&Output::Close(RAW)));
    let event = SessionEvent::OpenTimeout { state: SessionState::OpenConfirm, open_received: true };
    assert_eq!(events(&l.out), vec![event.clone()]);
    assert_eq!(event.to_string(), "connection closed in OpenConfirm: not Established in time");
    assert_eq!(l.peer.last_error.as_ref().unwrap().reason, DownReason::OpenTimeout);

    // With hold time 0 on both sides, the RFC's 4 minutes bound it.
    let mut l = Lone::new(|c| c.hold_time = 0);
    l.input(Input::Accepted(RAW));
    l.input(Lone::open(0));
    l.advance(Duration::from_secs(239));
    assert_eq!(l.peer.state(), SessionState::OpenConfirm);
    l.advance(Duration::from_secs(1));
    assert_eq!(l.peer.state(), SessionState::Active);
}

#[test]
fn a_connection_that_never_sends_an_open_is_closed_after_the_hold_time() {
    let mut l = Lone::new(|c| c.hold_time = 9);
    l.input(Input::Accepted(RAW));
    l.advance(Duration::from_secs(9));
    assert_eq!(l.peer.state(), SessionState::Active);
    assert_eq!(l.notifications(), vec![ErrorCode::HoldTimerExpired]);
    let event = SessionEvent::OpenTimeout { state: SessionState::OpenSent, open_received: false };
    assert_eq!(events(&l.out), vec![event.clone()]);
    assert_eq!(event.to_string(), "connection closed in OpenSent: no OPEN in time");
}

#[test]
fn min_hold_time_refuses_smaller_hold_times_and_zero() {
    for (proposed, refused) in [(0, true), (9, true), (10, false), (90, false)] {
        let mut l = Lone::new(|c| c.min_hold_time = Some(10));
        l.input(Input::Accepted(RAW));
        l.input(Lone::open(proposed));
        if refused {
            assert_eq!(l.notifications(), vec![ErrorCode::Open(OpenError::UnacceptableHoldTime)], "{proposed}");
            let [SessionEvent::OpenRejected { reason, .. }] = &events(&l.out)[..] else { panic!("{:?}", l.out) };
            assert_eq!(reason, &OpenRejection::UnacceptableHoldTime(proposed));
        } else {
            assert_eq!(l.peer.state(), SessionState::OpenConfirm, "{proposed}");
        }
    }
}

/// A (10.0.0.1) Established with B over graceful restart; then `bare` connections from
/// B's address that send nothing reach A.
fn graceful_pair_with_bare_connections(bare: &[u64]) -> Pair {
    let mut p = graceful_pair(true, true);
    p.log = [Vec::new(), Vec::new()];
    for &id in bare {
        p.peers[A].handle(Input::Accepted(ConnId(id)), p.now);
        p.log[A].extend(std::iter::from_fn(|| p.peers[A].poll_output()));
    }
    p
}

#[test]
fn a_bare_connection_does_not_reset_a_graceful_restart_session() {
    let mut p = graceful_pair_with_bare_connections(&[99]);
    let (count, last_error) = (p.peers[A].established_count, p.peers[A].last_error.clone());
    assert!(p.established());
    assert!(p.downs(A).is_empty(), "{:?}", p.log[A]);
    // It had EXTRA_OPEN_WAIT to send an OPEN; the session carries on.
    p.advance(bgp_core::fsm::EXTRA_OPEN_WAIT);
    assert!(p.log[A].contains(&Output::Close(ConnId(99))));
    assert!(p.established() && p.downs(A).is_empty());
    let event = SessionEvent::OpenTimeout { state: SessionState::OpenSent, open_received: false };
    assert_eq!(p.events(A), vec![event]);
    assert_eq!(p.peers[A].last_error, last_error, "the running session's error is not overwritten");
    assert_eq!(p.peers[A].established_count, count);
}

#[test]
fn idle_connections_never_keep_the_restarted_peer_out() {
    // Two bare connections: the second takes the first one's place.
    let mut p = graceful_pair_with_bare_connections(&[98, 99]);
    let count = p.peers[A].established_count;
    assert!(p.log[A].contains(&Output::Close(ConnId(98))));
    assert_eq!(p.events(A), vec![SessionEvent::IdleConnectionReplaced]);
    assert!(p.established());
    // B really restarts: its connection (OPEN at once) replaces the session.
    p.peers[B] = Peer::new(p.peers[B].config().clone());
    p.input(B, Input::Start);
    p.run();
    assert!(p.log[A].contains(&Output::Close(ConnId(99))), "the idle one made room");
    assert_eq!(p.downs(A), vec![(DownReason::PeerRestarted, true)]);
    assert!(p.established());
    assert_eq!(p.peers[A].established_count, count + 1);
}

#[test]
fn equal_identifiers_are_allowed_on_ebgp_and_collisions_go_by_as_number() {
    // RFC 6286 §2.2 and §2.3: eBGP peers may share a BGP identifier; a collision then
    // keeps the connection initiated by the larger AS (here the peer's, 65001).
    // A (passive) has its own connection in OpenConfirm when the peer's OPEN arrives on
    // the peer's connection; what A closes.
    let collide = |local_as: u32, peer_as: u32| -> Vec<Output> {
        let mut a = cfg("10.0.0.1", local_as, peer_as);
        a.passive = true;
        let mut p = Pair::new(a, cfg("10.0.0.1", peer_as, local_as));
        p.peers[A].handle(Input::Start, p.now);
        let open = Message::Open(bgp_core::wire::Open {
            my_as: peer_as as u16,
            hold_time: 90,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            capabilities: vec![bgp_core::wire::Capability::FourOctetAs(peer_as)],
        });
        p.peers[A].handle(Input::Connected(ConnId(1)), p.now);
        p.peers[A].handle(Input::Accepted(ConnId(2)), p.now);
        p.peers[A].handle(Input::Message(ConnId(1), open.clone()), p.now);
        assert_eq!(p.peers[A].state(), SessionState::OpenConfirm, "equal identifier accepted on eBGP");
        p.peers[A].handle(Input::Message(ConnId(2), open), p.now);
        std::iter::from_fn(|| p.peers[A].poll_output()).collect()
    };
    let (ours, theirs) = (ConnId(1), ConnId(2));
    let out = collide(65000, 65001);
    assert!(out.contains(&Output::Close(ours)) && !out.contains(&Output::Close(theirs)), "{out:?}");
    let kept = SessionEvent::ConnectionCollision { peer_id: Ipv4Addr::new(10, 0, 0, 1), kept: Direction::Inbound };
    assert_eq!(events(&out), vec![kept]);
    // The other way round: we have the larger AS, our connection stays.
    let out = collide(65002, 65001);
    assert!(out.contains(&Output::Close(theirs)) && !out.contains(&Output::Close(ours)), "{out:?}");

    // Between iBGP peers an equal identifier is still refused (RFC 6286 §2.2).
    let mut p = Pair::new(cfg("10.0.0.1", 65000, 65000), cfg("10.0.0.1", 65000, 65000));
    p.start_raw();
    assert!(!p.established());
    assert!(p.sent_notifications(A).iter().any(|n| n.code == ErrorCode::Open(OpenError::BadBgpIdentifier)));
}

fn llgr(stale_time: u32) -> Vec<LlgrFamily> {
    [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
        .map(|family| LlgrFamily { family, forwarding_preserved: false, stale_time })
        .to_vec()
}

#[test]
fn long_lived_graceful_restart_is_negotiated_when_both_send_it() {
    let mut a = cfg("10.0.0.1", 65000, 65001);
    a.long_lived_graceful_restart = Some(llgr(10));
    a.families = vec![Family::IPV4_UNICAST];
    let mut b = cfg("10.0.0.2", 65001, 65000);
    b.long_lived_graceful_restart = Some(llgr(3600));
    let mut p = Pair::new(a.clone(), b);
    p.start();
    let n = p.peers[A].negotiated().unwrap();
    assert_eq!(n.long_lived_graceful_restart, Some(llgr(3600)[..1].to_vec()), "B's, for the session's families");
    assert!(n.graceful_restart.is_none());
    // LLGR alone makes a connection loss graceful (RFC 9494 §4.2).
    let conn = p.peers[A].established_conn().unwrap();
    p.input(A, Input::Closed(conn));
    assert_eq!(p.downs(A), vec![(DownReason::ConnectionClosed, true)]);
    // Only one side sends it: not negotiated, and a loss is not graceful.
    let mut p = Pair::new(a, cfg("10.0.0.2", 65001, 65000));
    p.start();
    assert_eq!(p.peers[A].negotiated().unwrap().long_lived_graceful_restart, None);
    let conn = p.peers[A].established_conn().unwrap();
    p.input(A, Input::Closed(conn));
    assert_eq!(p.downs(A), vec![(DownReason::ConnectionClosed, false)]);
}
