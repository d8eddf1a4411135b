//! A measurement, not a check (`#[ignore]`): how regularly the BFD task sends while the
//! RIB task takes a large table on the same tokio runtime, as in the daemon (issue 11:
//! "Timer accuracy holds under a full-table load: measure the jitter").
//!
//! ```text
//! cargo test --release -p bgp-daemon --no-default-features --bin bgp-daemon bfd_jitter -- --ignored --nocapture
//! ```
//! `BFD_JITTER_PREFIXES` (1,000,000), `BFD_JITTER_INTERVAL_MS` (50),
//! `BFD_JITTER_IDLE_SECS` (5), `BFD_JITTER_LOAD_SECS` (30), `BFD_JITTER_WORKERS` (the
//! cores, as the daemon's runtime), `BFD_JITTER_PLACEMENT` (`thread`, the daemon's: the
//! task on its own thread; `shared`: a task among the RIB's on the shared runtime).
//!
//! In one process: a multi-thread runtime like the daemon's runs the BFD task (one
//! session to 127.0.0.1) and the real RIB task ([`crate::rib_task`]) with a feeder peer
//! and a sink peer: decision, export and UPDATE encoding for the sink, whose writer queue
//! a task drains. The feeder is a task that decodes pre-encoded UPDATEs and batches them
//! to the RIB as a peer task does. The far end of the BFD session is a plain OS thread
//! running bgp-core's `Session`; it reads the kernel's receive timestamp of every packet
//! (`SO_TIMESTAMPNS`), so its own scheduling does not blur the gaps. Phases: the session
//! comes Up at the configured interval; `idle` seconds of nothing else; then `load`:
//! rounds of the whole table announced (until the RIB holds it and the sink's queue is
//! quiet) and withdrawn again, for at least `load` seconds. Not covered: TCP, and the
//! kernel FIB.
//!
//! Reported per phase: packets, gaps between consecutive periodic packets (p50, p99,
//! max), and the lateness above the negotiated interval (a gap can be 75-100% of it by
//! RFC 5880 §6.8.7 jitter; anything above 100% is the task being late). Next to it, the
//! floor: a plain thread sending one octet every interval to the same far end, whose
//! lateness is the machine's scheduling noise (other processes included) without BFD. Every phase is
//! bounded: the load by 600 s, the rest by seconds.

use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bgp_core::bfd::{ControlPacket, Session, SessionConfig, State};
use bgp_core::policy::Policy;
use bgp_core::prefix::Nlri;
use bgp_core::rib::engine::SessionUp;
use bgp_core::rib::{PeerInfo, RibConfig};
use bgp_core::testkit::{attrs, set_size, v4_prefixes, Rng};
use bgp_core::types::Family;
use bgp_core::wire::{decode_message, CodecCtx, Message, Update};
use bytes::{Bytes, BytesMut};
use nix::sys::socket::{self as nixsock, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use tokio::sync::{mpsc, oneshot, watch};

use super::{spawn_placed, BfdPeer, Placement, Ports};
use crate::peer::{UPDATE_BATCH, UPDATE_BATCH_ROUTES};
use crate::rib_task::{self, KernelLink, PeerCounters, PeerLink, RibInput};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A packet the peer received from the BFD task, stamped by the kernel.
struct Received {
    at: SystemTime,
    packet: ControlPacket,
}

/// The far end: a bgp-core session on a blocking socket, until `stop`.
fn far_end(
    sock: UdpSocket,
    to: (Ipv4Addr, u16),
    cfg: SessionConfig,
    stop: Arc<AtomicBool>,
) -> (Vec<Received>, Vec<SystemTime>) {
    nixsock::setsockopt(&sock, sockopt::ReceiveTimestampns, &true).expect("SO_TIMESTAMPNS");
    sock.set_ttl(255).expect("TTL 255");
    let mut session = Session::new(0xbeef, cfg, Instant::now(), 9);
    let mut got = Vec::new();
    let mut floor = Vec::new();
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        session.handle_timeout(now);
        while let Some(p) = session.poll_transmit(now) {
            let _ = sock.send_to(&p.encode(), to);
        }
        while session.poll_change().is_some() {}
        let wait = session.poll_timeout().map_or(Duration::from_millis(10), |t| t.saturating_duration_since(now));
        sock.set_read_timeout(Some(wait.clamp(Duration::from_micros(100), Duration::from_millis(10)))).unwrap();
        let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let Ok(msg) = nixsock::recvmsg::<SockaddrStorage>(
            sock.as_raw_fd(),
            &mut iov,
            Some(cmsg.as_mut_slice()),
            MsgFlags::empty(),
        ) else {
            continue;
        };
        let mut at = SystemTime::now();
        for c in msg.cmsgs().into_iter().flatten() {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                at = SystemTime::UNIX_EPOCH + Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32);
            }
        }
        let len = msg.bytes;
        if len == 1 {
            floor.push(at);
            continue;
        }
        if let Ok(packet) = ControlPacket::decode(&buf[..len]) {
            session.handle_packet(&packet, Instant::now());
            got.push(Received { at, packet });
        }
    }
    (got, floor)
}

/// The floor: a plain thread that sends one octet every `interval` (absolute deadlines,
/// no jitter), so the gaps the far end sees are the machine's scheduling noise alone.
fn floor_sender(to: (Ipv4Addr, u16), interval: Duration, stop: Arc<AtomicBool>) {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut next = Instant::now() + interval;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let _ = sock.send_to(&[0], to);
        next += interval;
    }
}

/// The table as a feeder sends it: encoded UPDATEs of realistic attribute sets
/// (testkit), and the UPDATEs that withdraw it all.
fn table(prefixes: usize, ctx: &CodecCtx) -> (Vec<Bytes>, Vec<Bytes>) {
    let mut rng = Rng(11);
    let nlri = v4_prefixes(&mut rng, prefixes, &[127]);
    let (mut announce, mut withdraw) = (Vec::new(), Vec::new());
    let mut rest: &[Nlri] = &nlri;
    while !rest.is_empty() {
        let n = set_size(&mut rng).min(rest.len());
        let mut a = attrs(&mut rng, 65001);
        a.next_hop = Some(Ipv4Addr::new(10, 78, 1, 2));
        encode(Update { nlri: rest[..n].to_vec(), attrs: a, ..Update::default() }, ctx, &mut announce);
        encode(Update { withdrawn: rest[..n].to_vec(), ..Update::default() }, ctx, &mut withdraw);
        rest = &rest[n..];
    }
    (announce, withdraw)
}

/// Encodes `u`, halving its prefixes until each message fits.
fn encode(u: Update, ctx: &CodecCtx, out: &mut Vec<Bytes>) {
    let mut buf = BytesMut::new();
    if Message::Update(u.clone()).encode(ctx, &mut buf).is_ok() {
        out.push(buf.freeze());
        return;
    }
    let (nlri, withdrawn) = (u.nlri.len(), u.withdrawn.len());
    assert!(nlri + withdrawn > 1, "one prefix does not fit a message");
    let mut a = u.clone();
    let mut b = u;
    a.nlri.truncate(nlri / 2);
    b.nlri.drain(..nlri / 2);
    a.withdrawn.truncate(withdrawn / 2);
    b.withdrawn.drain(..withdrawn / 2);
    encode(a, ctx, out);
    encode(b, ctx, out);
}

/// What a peer task does with received UPDATEs: decode each, hand them to the RIB in
/// batches of at most `UPDATE_BATCH` messages or `UPDATE_BATCH_ROUTES` routes.
async fn feed(rib: &mpsc::Sender<RibInput>, from: Ipv4Addr, frames: &[Bytes], ctx: &CodecCtx) {
    let mut batch = Vec::new();
    let mut routes = 0;
    for f in frames {
        let Ok(Message::Update(u)) = decode_message(f, ctx) else { panic!("the feeder's own UPDATE decodes") };
        routes += u.nlri.len() + u.withdrawn.len();
        batch.push(u);
        if batch.len() == UPDATE_BATCH || routes >= UPDATE_BATCH_ROUTES {
            let updates = std::mem::take(&mut batch);
            routes = 0;
            rib.send(RibInput::Updates { address: from.into(), updates }).await.expect("the RIB task runs");
        }
    }
    if !batch.is_empty() {
        rib.send(RibInput::Updates { address: from.into(), updates: batch }).await.expect("the RIB task runs");
    }
}

/// Waits until the RIB holds `prefixes` IPv4 prefixes and the sink has been sent nothing
/// for 300 ms.
async fn settled(rib: &mpsc::Sender<RibInput>, prefixes: u64, sink_octets: &AtomicU64, deadline: Instant) {
    let mut last = (u64::MAX, Instant::now());
    loop {
        let (reply, rx) = oneshot::channel();
        rib.send(RibInput::ShowSummary { reply }).await.expect("the RIB task runs");
        let summary = rx.await.expect("the RIB task answers");
        let octets = sink_octets.load(Ordering::Relaxed);
        if octets != last.0 {
            last = (octets, Instant::now());
        }
        if summary.ipv4_prefixes == prefixes && last.1.elapsed() >= Duration::from_millis(300) {
            return;
        }
        assert!(Instant::now() < deadline, "the RIB did not get to {prefixes} prefixes in time: {summary:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn session_up(address: Ipv4Addr, asn: u32, room: usize) -> SessionUp {
    SessionUp {
        info: PeerInfo {
            address: address.into(),
            asn,
            router_id: address,
            internal: false,
            rr_client: false,
            allow_as_in: 0,
        },
        ctx: CodecCtx { four_octet_as: true, external: true, ..CodecCtx::default() },
        families: vec![Family::IPV4_UNICAST],
        local: Some(Ipv4Addr::new(10, 78, 1, 1).into()),
        interface: Vec::new(),
        next_hop_self: false,
        remove_private_as: false,
        graceful_restart: None,
        long_lived: None,
        enhanced_refresh: false,
        import: Arc::new(Policy::accept_all()),
        export: Arc::new(Policy::accept_all()),
        max_prefixes: None,
        mrai: Duration::ZERO,
        room,
    }
}

/// A peer's end of the RIB: its writer drained by a task counting octets.
fn link(octets: Arc<AtomicU64>) -> (PeerLink, mpsc::Receiver<rib_task::RibNotice>) {
    let (writer, mut rx) = mpsc::channel::<Bytes>(1024);
    tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            octets.fetch_add(b.len() as u64, Ordering::Relaxed);
        }
    });
    let (notices, notices_rx) = mpsc::channel(16);
    (PeerLink { writer, counters: Arc::new(PeerCounters::default()), notices }, notices_rx)
}

struct Stats {
    packets: usize,
    gaps_us: Vec<u64>,
}

impl Stats {
    fn of(packets: &[&Received]) -> Stats {
        let mut gaps_us: Vec<u64> = packets
            .windows(2)
            // Periodic packets only: a Final answers a Poll at once, off the TX timer.
            .filter(|w| !w[0].packet.final_ && !w[1].packet.final_)
            .map(|w| w[1].at.duration_since(w[0].at).unwrap_or_default().as_micros() as u64)
            .collect();
        gaps_us.sort_unstable();
        Stats { packets: packets.len(), gaps_us }
    }

    fn from_times(at: &[SystemTime]) -> Stats {
        let mut gaps_us: Vec<u64> =
            at.windows(2).map(|w| w[1].duration_since(w[0]).unwrap_or_default().as_micros() as u64).collect();
        gaps_us.sort_unstable();
        Stats { packets: at.len(), gaps_us }
    }

    fn pct(&self, p: usize) -> u64 {
        if self.gaps_us.is_empty() {
            return 0;
        }
        self.gaps_us[((self.gaps_us.len() - 1) * p / 100).min(self.gaps_us.len() - 1)]
    }

    fn report(&self, phase: &str, interval_us: u64) {
        let late = |g: u64| g.saturating_sub(interval_us);
        let over = self.gaps_us.iter().filter(|&&g| g > interval_us).count();
        let lo = self.gaps_us.first().copied().unwrap_or(0);
        println!(
            "{phase:>5}: {} packets, {} gaps; gap p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, min {:.2} ms; \
             late (gap - interval) p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; gaps over the interval: {over}",
            self.packets,
            self.gaps_us.len(),
            self.pct(50) as f64 / 1e3,
            self.pct(99) as f64 / 1e3,
            self.pct(100) as f64 / 1e3,
            lo as f64 / 1e3,
            late(self.pct(50)) as f64 / 1e3,
            late(self.pct(99)) as f64 / 1e3,
            late(self.pct(100)) as f64 / 1e3,
        );
    }
}

#[test]
#[ignore = "a measurement; see the module docs for the command"]
fn bfd_jitter_under_rib_load() {
    let prefixes = env_or("BFD_JITTER_PREFIXES", 1_000_000) as usize;
    let interval = Duration::from_millis(env_or("BFD_JITTER_INTERVAL_MS", 50));
    let idle = Duration::from_secs(env_or("BFD_JITTER_IDLE_SECS", 5));
    let load_for = Duration::from_secs(env_or("BFD_JITTER_LOAD_SECS", 30));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = env_or("BFD_JITTER_WORKERS", cores as u64) as usize;
    let placement = match std::env::var("BFD_JITTER_PLACEMENT").as_deref() {
        Ok("shared") => Placement::SharedRuntime,
        _ => Placement::OwnThread,
    };
    let cfg = SessionConfig { desired_min_tx: interval, required_min_rx: interval, detect_mult: 3 };
    println!(
        "bfd jitter: {prefixes} prefixes, interval {} ms x 3, {workers} runtime workers on {cores} cores, BFD task: {placement:?}",
        interval.as_millis()
    );

    let ctx = CodecCtx { four_octet_as: true, external: true, ..CodecCtx::default() };
    let t = Instant::now();
    let (announce, withdraw) = table(prefixes, &ctx);
    let octets: usize = announce.iter().map(Bytes::len).sum();
    println!(
        "table encoded in {:.1} s: {} UPDATEs, {} KiB; then {} withdrawing UPDATEs",
        t.elapsed().as_secs_f64(),
        announce.len(),
        octets >> 10,
        withdraw.len()
    );

    let (pa, pb) = super::tests::free_ports();
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, pb)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let far = {
        let stop = stop.clone();
        std::thread::spawn(move || far_end(sock, (Ipv4Addr::LOCALHOST, pa), cfg, stop))
    };
    let floor = {
        let stop = stop.clone();
        std::thread::spawn(move || floor_sender((Ipv4Addr::LOCALHOST, pb), interval, stop))
    };

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    let (marks, downs) = rt.block_on(async move {
        let (ev_tx, mut ev_rx) = mpsc::channel(64);
        let bfd = spawn_placed(ev_tx, Ports { listen: pa, peer: pb }, placement);
        let peer = Ipv4Addr::LOCALHOST.into();
        bfd.add(BfdPeer { peer, local: Some(peer), cfg }).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = bfd.status().await;
            if rows[0].state == "Up" && u128::from(rows[0].tx_interval_ms) == interval.as_millis() {
                break;
            }
            assert!(Instant::now() < deadline, "the session is not Up at the interval after 10 s: {rows:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A second's margin past the Poll/Final.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle_from = SystemTime::now();
        tokio::time::sleep(idle).await;
        let load_from = SystemTime::now();

        let (restart_tx, _restart_rx) = watch::channel(Vec::new());
        let (_kupdates_tx, kupdates_rx) = mpsc::channel(1);
        let (fib_tx, _fib_rx) = mpsc::channel(1);
        let (_results_tx, results_rx) = mpsc::channel(1);
        let rib_cfg = RibConfig {
            local_as: 65000,
            router_id: Ipv4Addr::new(10, 78, 1, 1),
            cluster_id: Ipv4Addr::new(10, 78, 1, 1),
            multipath: 1,
            always_compare_med: false,
        };
        let rib = rib_task::spawn(
            rib_cfg,
            None,
            restart_tx,
            Default::default(),
            KernelLink { updates: kupdates_rx, fib: fib_tx, results: results_rx },
            crate::history::History::default(),
        );
        let sink_octets = Arc::new(AtomicU64::new(0));
        let (sink_link, _sink_notices) = link(sink_octets.clone());
        let (feed_link, _feed_notices) = link(Arc::new(AtomicU64::new(0)));
        let sink = Ipv4Addr::new(10, 78, 2, 10);
        let feeder = Ipv4Addr::new(10, 78, 1, 2);
        let up = |addr, asn, link| RibInput::PeerUp { session: Box::new(session_up(addr, asn, 1024)), link };
        rib.send(up(sink, 65002, sink_link)).await.expect("the RIB task runs");
        rib.send(up(feeder, 65001, feed_link)).await.expect("the RIB task runs");
        // Rounds of the whole table in, then out, until `load_secs` have passed.
        let deadline = Instant::now() + Duration::from_secs(600);
        let started = Instant::now();
        let mut rounds = 0;
        while rounds == 0 || started.elapsed() < load_for {
            let t = Instant::now();
            feed(&rib, feeder, &announce, &ctx).await;
            settled(&rib, prefixes as u64, &sink_octets, deadline).await;
            let took_in = t.elapsed().saturating_sub(Duration::from_millis(300));
            let t = Instant::now();
            feed(&rib, feeder, &withdraw, &ctx).await;
            settled(&rib, 0, &sink_octets, deadline).await;
            let took_out = t.elapsed().saturating_sub(Duration::from_millis(300));
            rounds += 1;
            println!(
                "round {rounds}: table in {:.2} s, out {:.2} s (each + 300 ms of quiet to see it done)",
                took_in.as_secs_f64(),
                took_out.as_secs_f64()
            );
        }
        let load_to = SystemTime::now();
        println!(
            "load: {rounds} rounds in {:.1} s; the sink was sent {} MiB",
            load_to.duration_since(load_from).unwrap().as_secs_f64(),
            sink_octets.load(Ordering::Relaxed) >> 20
        );
        let rows = bfd.status().await;
        let mut downs = Vec::new();
        while let Ok(ev) = ev_rx.try_recv() {
            if ev.change.from == State::Up {
                downs.push(ev);
            }
        }
        println!("BFD row after: {:?}", rows[0]);
        bfd.stop().await;
        ((idle_from, load_from, load_to), downs)
    });
    stop.store(true, Ordering::Relaxed);
    let (got, floor_at) = far.join().unwrap();
    floor.join().unwrap();
    let (idle_from, load_from, load_to) = marks;
    let within = |from: SystemTime, to: SystemTime| -> Vec<&Received> {
        got.iter().filter(|r| r.at >= from && r.at <= to && r.packet.state == State::Up).collect()
    };
    let interval_us = interval.as_micros() as u64;
    Stats::of(&within(idle_from, load_from)).report("idle", interval_us);
    Stats::of(&within(load_from, load_to)).report("load", interval_us);
    let floor_in = |from: SystemTime, to: SystemTime| -> Stats {
        let at: Vec<SystemTime> = floor_at.iter().copied().filter(|&t| t >= from && t <= to).collect();
        Stats::from_times(&at)
    };
    println!("floor (a plain thread sending every interval, no jitter; the machine's own noise):");
    floor_in(idle_from, load_from).report("idle", interval_us);
    floor_in(load_from, load_to).report("load", interval_us);
    println!("state changes away from Up during the run: {downs:?}");
    drop(rt);
}
