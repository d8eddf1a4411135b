//! Plumbing of the end-to-end benchmark (`src/bin/e2e-bench.rs`): minimal BGP peers
//! built from bgp-core's codec — a feeder that writes a pre-encoded table as fast as
//! TCP takes it, and sinks that decode every UPDATE they receive and keep count — plus
//! CPU and memory figures of a process from `/proc`.
//!
//! The peers live in one process and one tokio runtime, but each socket is created in
//! its own network namespace ([`socket_in`]: a short-lived thread `setns`es into the
//! namespace, creates the socket and exits; a socket stays in the namespace it was
//! created in). All timestamps therefore come from one monotonic clock.
//!
//! Neither peer runs the full FSM: they send OPEN (4-octet AS, multiprotocol IPv4
//! unicast, route refresh; no extended messages, so UPDATEs stay at 4096 octets), wait
//! for the OPEN and KEEPALIVE of the device under test, and from then on only send
//! KEEPALIVEs every third of the hold time. They never enforce the hold timer (a busy
//! device may be late with its KEEPALIVEs), but any NOTIFICATION or closed connection
//! is recorded as an error and ends the measurement.
//!
//! For the FIB scenario, [`FibWatch`] counts the routes a device puts into its
//! namespace's kernel table, from the kernel's route notifications, and
//! [`fib_triestat_prefixes`] reads the kernel's own count.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bgp_core::prefix::{Nlri, Prefix};
use bgp_core::types::Family;
use bgp_core::wire::{self, Capability, CodecCtx, Message, Open};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use rtnetlink::sys::protocols::NETLINK_ROUTE;

// ------------------------------------------------------------------ namespaces

/// Enters the network namespace `file` refers to, on the calling thread only.
#[allow(unsafe_code)]
fn enter_netns(file: &File) -> io::Result<()> {
    // SAFETY: setns(2) takes a descriptor, which `file` keeps open for the duration of
    // the call, and a flag; it touches no memory of ours and changes only the network
    // namespace of the calling thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// An IPv4 TCP socket in the namespace `/run/netns/<ns>` (as `ip netns add` made
/// it). A fresh thread enters the namespace, creates the socket and ends, so no
/// thread of the process stays in another namespace.
pub fn socket_in(ns: &str) -> io::Result<TcpSocket> {
    let path = Path::new("/run/netns").join(ns);
    std::thread::spawn(move || -> io::Result<TcpSocket> {
        let file = File::open(&path)?;
        enter_netns(&file)?;
        TcpSocket::new_v4()
    })
    .join()
    .map_err(|_| io::Error::other("the namespace thread panicked"))?
}

// ------------------------------------------------------------------ sessions

/// One side of a benchmark session.
#[derive(Clone, Debug)]
pub struct PeerSpec {
    /// Namespace the socket is created in.
    pub ns: String,
    /// Our address (also our BGP identifier).
    pub local: Ipv4Addr,
    /// The device under test.
    pub remote: SocketAddr,
    pub local_as: u32,
    /// Hold time proposed in our OPEN.
    pub hold_time: u16,
    /// The session is eBGP (it changes how some attributes decode).
    pub external: bool,
}

/// A session after the OPEN/KEEPALIVE exchange.
pub struct Session {
    pub stream: TcpStream,
    /// Octets received after the device's KEEPALIVE (possibly the start of UPDATEs).
    pub buf: BytesMut,
    /// Context to decode the device's messages with.
    pub rx_ctx: CodecCtx,
    /// Context our UPDATEs must be encoded with.
    pub tx_ctx: CodecCtx,
    /// Negotiated hold time (the smaller proposal).
    pub hold_time: u16,
    pub peer_open: Open,
}

/// Reads one whole message, waiting for more octets as needed.
pub async fn next_message<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    ctx: &CodecCtx,
) -> Result<Message, String> {
    loop {
        if let Some(len) = wire::frame_len(buf, ctx).map_err(|e| format!("bad message header: {e}"))? {
            if buf.len() >= len {
                let frame = buf.split_to(len).freeze();
                return wire::decode_message(&frame, ctx).map_err(|e| format!("undecodable message: {e}"));
            }
        }
        buf.reserve(64 * 1024);
        match reader.read_buf(buf).await {
            Ok(0) => return Err("connection closed by the device".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Connects from `spec.local` (retrying while the device does not listen yet) and
/// exchanges OPEN and KEEPALIVE, all before `deadline`.
pub async fn establish(spec: &PeerSpec, deadline: Instant) -> Result<Session, String> {
    let deadline_tokio = tokio::time::Instant::from_std(deadline);
    let what = format!("{} -> {}", spec.local, spec.remote);
    let mut last_error = String::from("no attempt");
    let mut stream = loop {
        if Instant::now() >= deadline {
            return Err(format!("{what}: could not connect before the deadline: {last_error}"));
        }
        let socket = socket_in(&spec.ns).map_err(|e| format!("socket in namespace {}: {e}", spec.ns))?;
        socket.bind(SocketAddr::new(IpAddr::V4(spec.local), 0)).map_err(|e| format!("{what}: bind: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(2), socket.connect(spec.remote)).await {
            Ok(Ok(s)) => break s,
            Ok(Err(e)) => last_error = e.to_string(),
            Err(_) => last_error = "connect timed out after 2 s".into(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stream.set_nodelay(true).map_err(|e| format!("{what}: nodelay: {e}"))?;

    let handshake = async {
        let open = Open {
            my_as: Open::my_as_field(spec.local_as),
            hold_time: spec.hold_time,
            router_id: spec.local,
            capabilities: vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::RouteRefresh,
                Capability::FourOctetAs(spec.local_as),
            ],
        };
        let plain = CodecCtx::default();
        let bytes = Message::Open(open).to_bytes(&plain).map_err(|e| e.to_string())?;
        stream.write_all(&bytes).await.map_err(|e| format!("write OPEN: {e}"))?;
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let peer_open = match next_message(&mut stream, &mut buf, &plain).await? {
            Message::Open(o) => o,
            Message::Notification(n) => return Err(format!("device sent NOTIFICATION {n} instead of OPEN")),
            other => return Err(format!("device sent {:?} instead of OPEN", other.message_type())),
        };
        let four_octet_as = peer_open.capabilities.iter().any(|c| matches!(c, Capability::FourOctetAs(_)));
        let ctx = CodecCtx { four_octet_as, extended_message: false, external: spec.external, ..CodecCtx::default() };
        let keepalive = Message::Keepalive.to_bytes(&ctx).map_err(|e| e.to_string())?;
        stream.write_all(&keepalive).await.map_err(|e| format!("write KEEPALIVE: {e}"))?;
        match next_message(&mut stream, &mut buf, &ctx).await? {
            Message::Keepalive => {}
            Message::Notification(n) => return Err(format!("device sent NOTIFICATION {n} instead of KEEPALIVE")),
            other => return Err(format!("device sent {:?} instead of KEEPALIVE", other.message_type())),
        }
        let hold_time = spec.hold_time.min(peer_open.hold_time);
        Ok::<_, String>((buf, ctx, hold_time, peer_open))
    };
    let (buf, ctx, hold_time, peer_open) = tokio::time::timeout_at(deadline_tokio, handshake)
        .await
        .map_err(|_| format!("{what}: no OPEN/KEEPALIVE exchange before the deadline"))?
        .map_err(|e| format!("{what}: {e}"))?;
    Ok(Session { stream, buf, rx_ctx: ctx, tx_ctx: ctx, hold_time, peer_open })
}

/// The first error of a session (NOTIFICATION received, connection closed, write
/// failed), if any.
#[derive(Debug, Default)]
pub struct SessionError(Mutex<Option<String>>);

impl SessionError {
    fn set(&self, e: String) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(e);
        }
    }
    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// When a write began (the first octet handed to the kernel) and ended (the last).
#[derive(Debug, Default)]
pub struct WriteTimes {
    pub start: OnceLock<Instant>,
    pub end: OnceLock<Instant>,
}

struct WriteJob {
    bytes: Bytes,
    times: Option<Arc<WriteTimes>>,
}

/// Keepalive interval for a negotiated hold time: a third of it, at least 1 s.
fn keepalive_interval(hold_time: u16) -> Option<Duration> {
    (hold_time > 0).then(|| Duration::from_secs(u64::from(hold_time / 3).max(1)))
}

/// The writing side of a session: one task owns the socket's write half and writes
/// the queued buffers in order; another queues a KEEPALIVE every third of the hold
/// time (between buffers, never inside one).
struct Writer {
    jobs: mpsc::UnboundedSender<WriteJob>,
    tasks: Vec<JoinHandle<()>>,
}

impl Writer {
    fn start(mut w: OwnedWriteHalf, ctx: CodecCtx, hold_time: u16, error: Arc<SessionError>) -> Writer {
        let (jobs, mut rx) = mpsc::unbounded_channel::<WriteJob>();
        let writer = tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                if let Some(t) = &job.times {
                    let _ = t.start.set(Instant::now());
                }
                if let Err(e) = w.write_all(&job.bytes).await {
                    error.set(format!("write: {e}"));
                    return;
                }
                if let Some(t) = &job.times {
                    let _ = t.end.set(Instant::now());
                }
            }
        });
        let mut tasks = vec![writer];
        if let Some(every) = keepalive_interval(hold_time) {
            let keepalive = Message::Keepalive.to_bytes(&ctx).expect("a KEEPALIVE encodes");
            let queue = jobs.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if queue.send(WriteJob { bytes: keepalive.clone(), times: None }).is_err() {
                        return;
                    }
                }
            }));
        }
        Writer { jobs, tasks }
    }

    fn send(&self, bytes: Bytes) -> Arc<WriteTimes> {
        let times = Arc::new(WriteTimes::default());
        // The writer task ends only with an error, which the caller sees in the
        // session's error.
        let _ = self.jobs.send(WriteJob { bytes, times: Some(times.clone()) });
        times
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

// ------------------------------------------------------------------ feeder

/// The announcing peer: writes whole pre-encoded buffers, reads and discards what
/// the device sends (recording a NOTIFICATION or a close as the session's error).
pub struct Feeder {
    writer: Writer,
    reader: JoinHandle<()>,
    pub error: Arc<SessionError>,
    pub tx_ctx: CodecCtx,
}

impl Feeder {
    pub fn start(session: Session) -> Feeder {
        let error = Arc::new(SessionError::default());
        let (mut r, w) = session.stream.into_split();
        let writer = Writer::start(w, session.tx_ctx, session.hold_time, error.clone());
        let (ctx, mut buf, err) = (session.rx_ctx, session.buf, error.clone());
        let reader = tokio::spawn(async move {
            loop {
                match next_message(&mut r, &mut buf, &ctx).await {
                    Ok(Message::Notification(n)) => return err.set(format!("feeder received NOTIFICATION {n}")),
                    Ok(_) => {}
                    Err(e) => return err.set(format!("feeder: {e}")),
                }
            }
        });
        Feeder { writer, reader, error, tx_ctx: session.tx_ctx }
    }

    /// Queues `bytes` (whole messages) and returns when its first and last octets
    /// were written.
    pub fn send(&self, bytes: Bytes) -> Arc<WriteTimes> {
        self.writer.send(bytes)
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

// ------------------------------------------------------------------ sinks

/// SplitMix64's finalizer as a hasher for the `u64` prefix keys: fast, and every bit
/// of the key reaches the low bits the table indexes with.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        let mut z = self.0 ^ n;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Position of each expected prefix in the table, shared by all sinks.
pub struct PrefixIndex {
    map: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
}

fn key(n: &Nlri) -> Option<u64> {
    match n.prefix {
        Prefix::V4(p) => Some(u64::from(u32::from(p.addr())) << 8 | u64::from(p.prefix_len())),
        Prefix::V6(_) => None,
    }
}

impl PrefixIndex {
    pub fn new(prefixes: &[Nlri]) -> PrefixIndex {
        let mut map = HashMap::with_capacity_and_hasher(prefixes.len(), BuildHasherDefault::default());
        for (i, n) in prefixes.iter().enumerate() {
            map.insert(key(n).expect("IPv4 prefixes only"), i as u32);
        }
        PrefixIndex { map }
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    fn get(&self, n: &Nlri) -> Option<usize> {
        key(n).and_then(|k| self.map.get(&k)).map(|&i| i as usize)
    }
}

/// What a sink has seen, readable while it runs.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Expected prefixes currently announced to the sink.
    pub present: AtomicUsize,
    /// Prefix announcements received (repeats included).
    pub announced: AtomicU64,
    /// Prefix withdrawals received (repeats included).
    pub withdrawn: AtomicU64,
    /// Announced prefixes that are not in the table.
    pub unexpected: AtomicU64,
    pub updates: AtomicU64,
    pub octets: AtomicU64,
    /// The first expected prefix arrived.
    pub first_at: OnceLock<Instant>,
    /// Every expected prefix was present.
    pub full_at: OnceLock<Instant>,
    /// After `full_at`, none was present any more.
    pub empty_at: OnceLock<Instant>,
    pub error: SessionError,
}

impl SinkStats {
    pub fn present(&self) -> usize {
        self.present.load(Ordering::Relaxed)
    }
}

/// A receiving peer: decodes every message as it arrives and tracks which of the
/// expected prefixes are announced to it.
pub struct Sink {
    pub stats: Arc<SinkStats>,
    _writer: Writer,
    reader: JoinHandle<()>,
}

impl Sink {
    pub fn start(session: Session, index: Arc<PrefixIndex>) -> Sink {
        let stats = Arc::new(SinkStats::default());
        let (r, w) = session.stream.into_split();
        let error = Arc::new(SessionError::default());
        let writer = Writer::start(w, session.tx_ctx, session.hold_time, error.clone());
        let reader = tokio::spawn(sink_loop(r, session.buf, session.rx_ctx, index, stats.clone(), error));
        Sink { stats, _writer: writer, reader }
    }

    /// The first error of the session (from reading or from writing KEEPALIVEs).
    pub fn error(&self) -> Option<String> {
        self.stats.error.get()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn sink_loop(
    mut r: OwnedReadHalf,
    mut buf: BytesMut,
    ctx: CodecCtx,
    index: Arc<PrefixIndex>,
    stats: Arc<SinkStats>,
    write_error: Arc<SessionError>,
) {
    let expected = index.len();
    let mut present = vec![false; expected];
    let mut count = 0usize;
    let (mut announced, mut withdrawn, mut unexpected) = (0u64, 0u64, 0u64);
    loop {
        if let Some(e) = write_error.get() {
            return stats.error.set(format!("sink: {e}"));
        }
        // Decode every whole message buffered, then publish the counters once.
        loop {
            let len = match wire::frame_len(&buf, &ctx) {
                Ok(Some(len)) if buf.len() >= len => len,
                Ok(_) => break,
                Err(e) => return stats.error.set(format!("sink: bad message header: {e}")),
            };
            let frame = buf.split_to(len).freeze();
            stats.octets.fetch_add(len as u64, Ordering::Relaxed);
            let update = match wire::decode_message(&frame, &ctx) {
                Ok(Message::Update(u)) => u,
                Ok(Message::Notification(n)) => return stats.error.set(format!("sink received NOTIFICATION {n}")),
                Ok(_) => continue,
                Err(e) => return stats.error.set(format!("sink: undecodable message: {e}")),
            };
            stats.updates.fetch_add(1, Ordering::Relaxed);
            for (family, n) in update.withdrawals() {
                if family != Family::IPV4_UNICAST {
                    continue;
                }
                withdrawn += 1;
                if let Some(i) = index.get(n) {
                    if present[i] {
                        present[i] = false;
                        count -= 1;
                    }
                }
            }
            for (family, n) in update.announcements() {
                if family != Family::IPV4_UNICAST {
                    continue;
                }
                announced += 1;
                match index.get(n) {
                    Some(i) if !present[i] => {
                        present[i] = true;
                        count += 1;
                    }
                    Some(_) => {}
                    None => unexpected += 1,
                }
            }
            if count > 0 && stats.first_at.get().is_none() {
                let _ = stats.first_at.set(Instant::now());
            }
            if count == expected && stats.full_at.get().is_none() {
                let _ = stats.full_at.set(Instant::now());
            }
            if count == 0 && stats.full_at.get().is_some() && stats.empty_at.get().is_none() {
                let _ = stats.empty_at.set(Instant::now());
            }
        }
        stats.present.store(count, Ordering::Relaxed);
        stats.announced.store(announced, Ordering::Relaxed);
        stats.withdrawn.store(withdrawn, Ordering::Relaxed);
        stats.unexpected.store(unexpected, Ordering::Relaxed);
        buf.reserve(256 * 1024);
        match r.read_buf(&mut buf).await {
            Ok(0) => return stats.error.set("sink: connection closed by the device".into()),
            Ok(_) => {}
            Err(e) => return stats.error.set(format!("sink: read: {e}")),
        }
    }
}

// ------------------------------------------------------------------ kernel routes

/// Runs `f` on a fresh thread inside the namespace `/run/netns/<ns>`; the thread ends
/// with `f`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    let path = Path::new("/run/netns").join(ns);
    std::thread::spawn(move || -> io::Result<T> {
        enter_netns(&File::open(&path)?)?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("the namespace thread panicked"))?
}

/// The `Prefixes:` figure of table `table`'s section of `/proc/net/fib_triestat`
/// ("Main:" for 254, "Local:" for 255, "Id N:" otherwise). It counts the table's
/// routes (fib aliases: one per prefix, TOS and metric). While no policy routing rule
/// exists the kernel keeps the local and main tables in one trie, and both sections
/// then count the routes of both.
pub fn parse_triestat(text: &str, table: u32) -> Option<u64> {
    let head = match table {
        254 => "Main:".to_string(),
        255 => "Local:".to_string(),
        n => format!("Id {n}:"),
    };
    let mut lines = text.lines().skip_while(|l| l.trim_end() != head).skip(1);
    // The figure is the fourth line of a section; a section is about ten.
    lines.by_ref().take(10).find_map(|l| l.trim().strip_prefix("Prefixes:")).and_then(|v| v.trim().parse().ok())
}

/// The kernel's count of the routes of `table` in namespace `ns`
/// ([`parse_triestat`]), and how long reading it took: the kernel walks the whole trie
/// (twice while local and main share one) for every read, about 0.2 s of system time
/// at 1M routes, so it is no way to poll.
pub fn fib_triestat_prefixes(ns: &str, table: u32) -> io::Result<(u64, Duration)> {
    in_netns(ns, move || {
        let start = Instant::now();
        // /proc/net is the namespace of the process's main thread; thread-self is this
        // thread's.
        let text = fs::read_to_string("/proc/thread-self/net/fib_triestat")?;
        let took = start.elapsed();
        parse_triestat(&text, table)
            .map(|n| (n, took))
            .ok_or_else(|| io::Error::other(format!("no table {table} in fib_triestat:\n{text}")))
    })
}

/// rtnetlink's multicast group of IPv4 route changes (`RTNLGRP_IPV4_ROUTE`).
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTA_DST: u16 = 1;
const RTA_PRIORITY: u16 = 6;
const RTA_TABLE: u16 = 15;
/// Notifications wait here while the counting thread is not scheduled: a device
/// installs up to a few hundred thousand routes a second, about 1 KiB of socket
/// accounting each.
const WATCH_RCVBUF: usize = 256 << 20;

/// What the counting thread shares.
#[derive(Debug)]
struct FibState {
    /// Routes present, and when that number last changed.
    count: Mutex<(usize, Instant)>,
    notifications: AtomicU64,
    /// Why the count is no longer exact (notifications lost: ENOBUFS), if it is not.
    lost: Mutex<Option<String>>,
}

/// Counts the IPv4 routes of one kernel table of a namespace that appeared after it
/// started and are still there, from the kernel's route notifications
/// (`RTNLGRP_IPV4_ROUTE`): a set of (destination, length, TOS, metric), added to on
/// RTM_NEWROUTE, taken from on RTM_DELROUTE. A thread inside the namespace reads them
/// until the watch is dropped. Costs the kernel one more delivery of a notification it
/// builds anyway, and this process about a microsecond per route; exact unless
/// notifications were lost ([`FibWatch::lost`]), which the kernel reports.
pub struct FibWatch {
    state: Arc<FibState>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FibWatch {
    /// Subscribed when this returns.
    pub fn start(ns: &str, table: u32) -> io::Result<FibWatch> {
        let state = Arc::new(FibState {
            count: Mutex::new((0, Instant::now())),
            notifications: AtomicU64::new(0),
            lost: Mutex::new(None),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let path = Path::new("/run/netns").join(ns);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let sock = File::open(&path).and_then(|f| enter_netns(&f)).and_then(|()| watch_socket());
            match sock {
                Ok(sock) => {
                    let _ = ready_tx.send(Ok(()));
                    watch_loop(&sock, table, &st, &sp);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(FibWatch { state, stop, thread: Some(thread) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the route watch did not start within 10 s")),
        }
    }

    /// Routes present, and when that number last changed.
    pub fn count(&self) -> (usize, Instant) {
        *self.state.count.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Route notifications received.
    pub fn notifications(&self) -> u64 {
        self.state.notifications.load(Ordering::Relaxed)
    }

    /// Why the count is not exact, if it is not.
    pub fn lost(&self) -> Option<String> {
        self.state.lost.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for FibWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch_socket() -> io::Result<rtnetlink::sys::Socket> {
    let mut sock = rtnetlink::sys::Socket::new(NETLINK_ROUTE)?;
    sock.bind(&rtnetlink::sys::SocketAddr::new(0, 0))?;
    nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBufForce, &WATCH_RCVBUF)
        .map_err(io::Error::from)?;
    sock.add_membership(RTNLGRP_IPV4_ROUTE)?;
    sock.set_non_blocking(true)?;
    Ok(sock)
}

/// Reads notifications until `stop`; sleeps 1 ms whenever none is waiting.
fn watch_loop(sock: &rtnetlink::sys::Socket, table: u32, state: &FibState, stop: &AtomicBool) {
    let mut routes: HashSet<u128, BuildHasherDefault<KeyHasher>> = HashSet::default();
    let mut batch = RecvBatch::new();
    while !stop.load(Ordering::Relaxed) {
        match batch.recv(sock) {
            Ok(truncated) => {
                if truncated {
                    let mut lost = state.lost.lock().unwrap_or_else(|p| p.into_inner());
                    if lost.is_none() {
                        *lost = Some("a route notification was longer than its buffer".into());
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let mut lost = state.lost.lock().unwrap_or_else(|p| p.into_inner());
                if lost.is_none() {
                    *lost = Some(format!("route notifications lost ({e})"));
                }
                continue;
            }
        }
        let before = routes.len();
        let mut n = 0;
        for msg in batch.messages() {
            n += for_each_route_change(msg, table, |add, key| {
                if add {
                    routes.insert(key);
                } else {
                    routes.remove(&key);
                }
            });
        }
        state.notifications.fetch_add(n, Ordering::Relaxed);
        if routes.len() != before {
            *state.count.lock().unwrap_or_else(|p| p.into_inner()) = (routes.len(), Instant::now());
        }
    }
}

/// Datagrams per `recvmmsg`, and the room for each: a route notification of one next
/// hop is about 100 octets (a netlink datagram that holds more is truncated, and
/// said so).
const BATCH_DATAGRAMS: usize = 512;
const DATAGRAM_ROOM: usize = 4096;

/// Many netlink datagrams per system call: the kernel queues every notification as its
/// own datagram, and one `recv` each cost this process 2.5 µs per route at 1M routes.
struct RecvBatch {
    buf: Vec<u8>,
    lens: Vec<usize>,
}

impl RecvBatch {
    fn new() -> RecvBatch {
        RecvBatch { buf: vec![0; BATCH_DATAGRAMS * DATAGRAM_ROOM], lens: Vec::with_capacity(BATCH_DATAGRAMS) }
    }

    /// Receives what is queued, up to [`BATCH_DATAGRAMS`] datagrams, without waiting
    /// (`WouldBlock` when nothing is); whether one was truncated.
    #[allow(unsafe_code)]
    fn recv(&mut self, sock: &rtnetlink::sys::Socket) -> io::Result<bool> {
        self.lens.clear();
        let mut iov: Vec<libc::iovec> = self
            .buf
            .chunks_exact_mut(DATAGRAM_ROOM)
            .map(|c| libc::iovec { iov_base: c.as_mut_ptr().cast(), iov_len: c.len() })
            .collect();
        let mut hdrs: Vec<libc::mmsghdr> = iov
            .iter_mut()
            .map(|v| {
                // SAFETY: mmsghdr is plain data; all zeroes is a valid value of it.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = v;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        // SAFETY: `hdrs` holds BATCH_DATAGRAMS headers, each pointing at one iovec of
        // `iov`, each pointing at DATAGRAM_ROOM octets of `self.buf`; all of them live
        // and are not otherwise touched until the call returns. No name, no control
        // data, no timeout.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                hdrs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut truncated = false;
        for h in &hdrs[..n as usize] {
            truncated |= h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.lens.push((h.msg_len as usize).min(DATAGRAM_ROOM));
        }
        Ok(truncated)
    }

    /// The datagrams of the last [`RecvBatch::recv`].
    fn messages(&self) -> impl Iterator<Item = &[u8]> {
        self.lens.iter().enumerate().map(|(i, &len)| &self.buf[i * DATAGRAM_ROOM..i * DATAGRAM_ROOM + len])
    }
}

/// Calls `f(added, key)` for each RTM_NEWROUTE / RTM_DELROUTE of an IPv4 route of
/// `table` in `buf` (netlink messages); returns the number of route messages.
fn for_each_route_change(buf: &[u8], table: u32, mut f: impl FnMut(bool, u128)) -> u64 {
    let u16_at = |b: &[u8], i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut seen = 0;
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32_at(buf, off) as usize;
        if len < 16 || off + len > buf.len() {
            break;
        }
        let kind = u16_at(buf, off + 4);
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        let rt = &buf[off + 16..off + len];
        if (kind == RTM_NEWROUTE || kind == RTM_DELROUTE) && rt.len() >= 12 {
            seen += 1;
            let (family, dst_len, tos) = (rt[0], rt[1], rt[3]);
            let (mut tbl, mut dst, mut metric) = (u32::from(rt[4]), 0u32, 0u32);
            let mut a = 12;
            while a + 4 <= rt.len() {
                let (alen, atype) = (u16_at(rt, a) as usize, u16_at(rt, a + 2) & 0x3fff);
                if alen < 4 || a + alen > rt.len() {
                    break;
                }
                if alen >= 8 {
                    let v = u32_at(rt, a + 4);
                    match atype {
                        RTA_DST => dst = u32::from_be(v),
                        RTA_PRIORITY => metric = v,
                        RTA_TABLE => tbl = v,
                        _ => {}
                    }
                }
                a += alen.next_multiple_of(4);
            }
            if i32::from(family) == libc::AF_INET && tbl == table {
                let key =
                    u128::from(dst) << 64 | u128::from(dst_len) << 48 | u128::from(tos) << 40 | u128::from(metric);
                f(kind == RTM_NEWROUTE, key);
            }
        }
        off += len.next_multiple_of(4);
    }
    seen
}

// ------------------------------------------------------------------ /proc

/// Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`; 100 when
/// that fails, the value on every Linux architecture in practice).
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
            .filter(|&t| t > 0.0)
            .unwrap_or(100.0)
    })
}

/// User plus system CPU seconds of a process, all its threads (`utime` + `stime`
/// of `/proc/PID/stat`; `"self"` for this process).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line, 12 and 13 after "pid (comm)" (state is 3rd).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Busy CPU seconds of the whole machine since boot, all CPUs (`/proc/stat`: user,
/// nice, system, irq, softirq and steal; guest time is part of user). Its delta over
/// a span, minus the processes one knows, is what everything else used meanwhile.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0.0)).collect();
    let busy = [0, 1, 2, 5, 6, 7].iter().map(|&i| v.get(i).copied().unwrap_or(0.0)).sum::<f64>();
    Some(busy / clock_ticks())
}

/// A `Vm...:` line of `/proc/PID/status`, in KiB (`"VmHWM"`: peak resident set).
pub fn status_kib(pid: &str, key: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Octets of its established TCP connections with `peer` that a process in network
/// namespace `ns` has not read yet (their `Recv-Q`, from `ss`); `None` when `ss` fails
/// or there is no such connection.
pub fn unread_octets(ns: &str, peer: Ipv4Addr) -> Option<u64> {
    let mut ss = Command::new("ip");
    ss.args(["netns", "exec", ns, "ss", "-Htn", "state", "established", "dst", &peer.to_string()]);
    let out = crate::run(&mut ss, Duration::from_secs(10)).ok().filter(|o| o.status.success())?;
    recv_q(&String::from_utf8_lossy(&out.stdout))
}

/// The sum of the first column (`Recv-Q`) of `ss -H` lines filtered by state, which
/// leaves the state column out.
fn recv_q(ss: &str) -> Option<u64> {
    let queues: Vec<u64> = ss.lines().filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect();
    (!queues.is_empty()).then(|| queues.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_figures_of_this_process() {
        let cpu = cpu_seconds("self").expect("cpu of self");
        assert!(cpu >= 0.0);
        // RSS first: the peak only grows, so read after it it cannot be lower (the other
        // way round, a test thread allocating in between made this fail).
        let rss = status_kib("self", "VmRSS").expect("VmRSS");
        let hwm = status_kib("self", "VmHWM").expect("VmHWM");
        assert!(hwm >= rss && rss > 0, "{hwm} {rss}");
        assert!(machine_busy_seconds().expect("/proc/stat") > 0.0);
    }

    #[test]
    fn index_finds_table_prefixes() {
        use crate::table::{Table, TableSpec};
        let t = Table::generate(&TableSpec::new(2000, 65001, Ipv4Addr::new(10, 0, 0, 1)));
        let idx = PrefixIndex::new(&t.prefixes);
        assert_eq!(idx.len(), 2000);
        for (i, n) in t.prefixes.iter().enumerate() {
            assert_eq!(idx.get(n), Some(i));
        }
        let other: Nlri = Nlri::new("10.255.255.0/24".parse().unwrap());
        assert!(t.prefixes.contains(&other) || idx.get(&other).is_none());
    }

    #[test]
    fn recv_q_of_ss_lines() {
        assert_eq!(recv_q("0      0      10.78.1.1:179 10.78.1.2:40312\n"), Some(0));
        assert_eq!(recv_q("4096 0 10.78.1.1:179 10.78.1.2:40312\n12 0 10.78.1.1:179 10.78.1.2:40314\n"), Some(4108));
        assert_eq!(recv_q(""), None);
    }

    #[test]
    fn triestat_sections() {
        let text = "Basic info: size of leaf: 48 bytes, size of tnode: 40 bytes.\nMain:\n\tAver depth:     2.66\n\
                    \tMax depth:      3\n\tLeaves:         6\n\tPrefixes:       1000006\n\tInternal nodes: 5\n\
                    \t  1: 2  2: 3\n\tPointers: 16\nNull ptrs: 6\nTotal size: 1  kB\nLocal:\n\tAver depth:     2.66\n\
                    \tMax depth:      3\n\tLeaves:         6\n\tPrefixes:       7\n\tInternal nodes: 5\n";
        assert_eq!(parse_triestat(text, 254), Some(1_000_006));
        assert_eq!(parse_triestat(text, 255), Some(7));
        assert_eq!(parse_triestat(text, 100), None);
    }

    #[test]
    fn route_changes_of_one_table() {
        // RTM_NEWROUTE 192.0.2.0/24 metric 20 in table 254, then the same in table 100,
        // then RTM_DELROUTE of the first.
        let msg = |kind: u16, table: u32| {
            let mut m = Vec::new();
            m.extend_from_slice(&0u32.to_ne_bytes());
            m.extend_from_slice(&kind.to_ne_bytes());
            m.extend_from_slice(&[0; 10]);
            m.extend_from_slice(&[libc::AF_INET as u8, 24, 0, 0, 254, 186, 0, 1, 0, 0, 0, 0]);
            for (t, v) in
                [(RTA_TABLE, table.to_ne_bytes()), (RTA_DST, [192, 0, 2, 0]), (RTA_PRIORITY, 20u32.to_ne_bytes())]
            {
                m.extend_from_slice(&8u16.to_ne_bytes());
                m.extend_from_slice(&t.to_ne_bytes());
                m.extend_from_slice(&v);
            }
            let len = m.len() as u32;
            m[..4].copy_from_slice(&len.to_ne_bytes());
            m
        };
        let buf = [msg(RTM_NEWROUTE, 254), msg(RTM_NEWROUTE, 100), msg(RTM_DELROUTE, 254)].concat();
        let mut seen = Vec::new();
        assert_eq!(for_each_route_change(&buf, 254, |add, key| seen.push((add, key))), 3);
        let key = u128::from(u32::from(Ipv4Addr::new(192, 0, 2, 0))) << 64 | 24 << 48 | 20;
        assert_eq!(seen, vec![(true, key), (false, key)]);
    }

    #[test]
    fn keepalive_every_third_of_hold() {
        assert_eq!(keepalive_interval(90), Some(Duration::from_secs(30)));
        assert_eq!(keepalive_interval(3), Some(Duration::from_secs(1)));
        assert_eq!(keepalive_interval(0), None);
    }
}
