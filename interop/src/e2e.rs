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

use std::collections::HashMap;
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    fn keepalive_every_third_of_hold() {
        assert_eq!(keepalive_interval(90), Some(Duration::from_secs(30)));
        assert_eq!(keepalive_interval(3), Some(Duration::from_secs(1)));
        assert_eq!(keepalive_interval(0), None);
    }
}
