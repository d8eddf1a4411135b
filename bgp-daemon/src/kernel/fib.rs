//! The FIB writer: a task owning its netlink socket that installs and removes our
//! routes (`protocol` in `table`, at `metric`) as the engine asks, and answers with
//! [`FibResult`]s in the order the kernel completed them.
//!
//! Batched and pipelined: up to [`BATCH_MSGS`] messages (or [`BATCH_BYTES`]) per
//! `sendmsg`, each with `NLM_F_ACK` and its own sequence number, and up to a window of
//! unanswered messages sized so that their acks always fit the socket's receive
//! buffer (a full buffer would drop acks). The kernel handles a netlink request
//! inside `sendmsg`, so acks come in sequence order; they are matched by sequence
//! number anyway. `NETLINK_EXT_ACK` gives the kernel's reason text
//! (`NLMSGERR_ATTR_MSG`) for [`FibError::message`]; `NETLINK_CAP_ACK` keeps acks
//! small.
//!
//! Create or replace: a prefix whose route is ours (the engine says `replace`, we
//! installed it in this run, or it was found at start, `stale`) is written with
//! NLM_F_CREATE|NLM_F_REPLACE; any other with NLM_F_CREATE|NLM_F_EXCL, so that a
//! foreign route on the same prefix, table and metric is never replaced (IPv4 and
//! IPv6 replace do not check the protocol): EEXIST is then [`FibError::foreign`].
//!
//! IPv6 replace, checked on this kernel (6.18, a namespace test keeps checking it):
//! NLM_F_REPLACE of a multipath IPv6 route by one with fewer, more or other next
//! hops, or by a single-path route, leaves exactly the new next hops, so IPv6 is
//! replaced in place like IPv4 (no delete-then-add as BIRD does for old kernels).
//!
//! Bad next hops: when the kernel refuses a multipath route (one bad gateway is
//! enough, e.g. "Nexthop has invalid gateway"), each next hop is tried alone, in
//! order (each success replaces the previous one, so the route is never absent
//! longer than needed), then the good ones are installed together; the bad ones are
//! reported in [`FibResult::dropped`]. None good: [`FibResult::error`] is the
//! multipath route's error.
//!
//! Operations on one prefix never overlap: a change for a prefix whose previous
//! change is unanswered waits for it (so repeats are safe).
//!
//! Removal deletes with protocol, table and metric set, so only our route goes;
//! ESRCH (already gone) is success.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use bgp_core::kernel::{FibError, FibNextHop, FibResult, FibRoute};
use bgp_core::prefix::Prefix;
use hashbrown::hash_map::Entry;
use hashbrown::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot};

use super::nl::{self, Ack, RouteTarget};
use super::reader::dump;
use super::sock::{NlSocket, RecvBatch, RequestSocket};

/// Messages per `sendmsg`.
pub const BATCH_MSGS: usize = 1024;
/// Bytes per `sendmsg` (a batch ends before passing it).
pub const BATCH_BYTES: usize = 64 * 1024;
/// Unanswered messages at most.
const MAX_WINDOW: usize = 8192;
/// The kernel's accounting of one queued ack (`skb->truesize` of a small skb, with
/// room for an extended ack).
const ACK_TRUESIZE: usize = 2048;
const RCVBUF: usize = 32 << 20;
/// Results per batch on the results channel.
const RESULT_BATCH: usize = 1024;
/// How long to wait for missing answers before failing the changes.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Changes queued before the writer stops taking commands to work them off.
const MAX_QUEUED: usize = 64 * 1024;

pub enum FibCmd {
    /// Install (`next_hops` not empty) or remove these. Results come on the results
    /// channel, one per route, in the order completed.
    Routes(Vec<FibRoute>),
    /// Remove every route of ours in the table that was found at start (`stale`) and
    /// not rewritten (installed or removed) successfully since: the engine says when
    /// (after graceful restart). Routes of ours at another metric than the current
    /// one go too. Replies with the number removed, after everything sent before it
    /// is done. No [`FibResult`]s for these.
    Sweep(oneshot::Sender<usize>),
    /// Remove every route of ours (our protocol) in the table, whatever its metric
    /// (bgpctl shutdown, `on_stop = "shutdown"`, and before a metric change). Replies
    /// with the number removed. No [`FibResult`]s for these.
    Flush(oneshot::Sender<usize>),
    /// From now on install and remove with this metric. Routes installed with the
    /// old metric stay and are no longer ours to replace or remove: the caller
    /// flushes first ([`FibCmd::Flush`]), then sets the metric, then installs again.
    SetMetric(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FibSettings {
    pub table: u32,
    pub protocol: u8,
    pub metric: u32,
}

/// Opens the writer's sockets in the calling thread's network namespace and spawns
/// the writer on the current tokio runtime. `stale`: the prefixes of our routes found
/// at start (the kernel reader's answer), replaced rather than created exclusively,
/// and removed by [`FibCmd::Sweep`] if not rewritten. The writer ends when every
/// command sender is dropped (after finishing what it was given), or when the
/// results receiver is dropped.
pub fn spawn_writer(
    settings: FibSettings,
    stale: Vec<Prefix>,
    results: mpsc::Sender<Vec<FibResult>>,
) -> io::Result<mpsc::Sender<FibCmd>> {
    let writer = Writer::open(settings, stale, results)?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        if let Err(e) = writer.run(rx).await {
            tracing::error!(error = %e, "FIB writer stopped");
        }
    });
    Ok(tx)
}

/// Who asked for a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Engine,
    /// A deletion of Sweep or Flush: counted, no result.
    Cleanup,
}

#[derive(Debug)]
enum Step {
    /// The route as asked.
    Install {
        flags: u16,
    },
    /// The route was refused: next hop `idx` alone.
    Probe(Box<Probing>),
    /// The good next hops together.
    Final(Box<Probing>),
    Delete {
        metric: u32,
    },
}

/// Trying a refused multipath route's next hops one by one (boxed: rare, and jobs
/// are moved around a million times).
#[derive(Debug)]
struct Probing {
    idx: usize,
    good: Vec<FibNextHop>,
    bad: Vec<(FibNextHop, FibError)>,
    /// A probe succeeded: the prefix holds our route now.
    installed: bool,
    /// The multipath route's error.
    first: FibError,
}

#[derive(Debug)]
struct Job {
    route: FibRoute,
    origin: Origin,
    step: Step,
}

/// What an ack makes of a job.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done(FibResult),
    /// Send the job's next step.
    Again,
}

fn error_of(ack: &Ack) -> FibError {
    FibError {
        errno: ack.errno,
        message: ack.message.clone().unwrap_or_else(|| nl::strerror(ack.errno)),
        foreign: false,
    }
}

fn foreign(ack: &Ack) -> FibError {
    FibError { foreign: true, ..error_of(ack) }
}

const CREATE_REPLACE: u16 = nl::NLM_F_CREATE | nl::NLM_F_REPLACE;
const CREATE_EXCL: u16 = nl::NLM_F_CREATE | nl::NLM_F_EXCL;

impl Job {
    /// Appends this job's message for its current step.
    fn message(&self, buf: &mut Vec<u8>, seq: u32, target: RouteTarget, ours: bool) {
        let prefix = self.route.prefix;
        match &self.step {
            Step::Install { flags } => nl::new_route(buf, seq, *flags, prefix, &self.route.next_hops, target),
            Step::Probe(p) => {
                let flags = if p.installed || ours { CREATE_REPLACE } else { CREATE_EXCL };
                nl::new_route(buf, seq, flags, prefix, &self.route.next_hops[p.idx..p.idx + 1], target)
            }
            Step::Final(p) => nl::new_route(buf, seq, CREATE_REPLACE, prefix, &p.good, target),
            Step::Delete { metric } => nl::del_route(buf, seq, prefix, RouteTarget { metric: *metric, ..target }),
        }
    }

    /// The kernel answered this job's current step. `ours`: our route holds the
    /// prefix (so EEXIST cannot mean a foreign route).
    fn on_ack(&mut self, ack: &Ack, ours: bool) -> Outcome {
        let prefix = self.route.prefix;
        let done = |error: Option<FibError>, dropped| Outcome::Done(FibResult { prefix, error, dropped });
        match &mut self.step {
            Step::Install { flags } => match ack.errno {
                0 => done(None, Vec::new()),
                libc::EEXIST if *flags & nl::NLM_F_EXCL != 0 => done(Some(foreign(ack)), Vec::new()),
                _ if self.route.next_hops.len() > 1 => {
                    self.step = Step::Probe(Box::new(Probing {
                        idx: 0,
                        good: Vec::new(),
                        bad: Vec::new(),
                        installed: false,
                        first: error_of(ack),
                    }));
                    Outcome::Again
                }
                _ => done(Some(error_of(ack)), Vec::new()),
            },
            Step::Probe(p) => {
                let nh = self.route.next_hops[p.idx];
                match ack.errno {
                    0 => {
                        p.good.push(nh);
                        p.installed = true;
                    }
                    libc::EEXIST if !p.installed && !ours => return done(Some(foreign(ack)), Vec::new()),
                    _ => p.bad.push((nh, error_of(ack))),
                }
                p.idx += 1;
                if p.idx < self.route.next_hops.len() {
                    return Outcome::Again;
                }
                match p.good.len() {
                    0 => done(Some(p.first.clone()), Vec::new()),
                    // The last good probe is what the kernel holds.
                    1 => done(None, std::mem::take(&mut p.bad)),
                    _ => {
                        let probing = std::mem::replace(
                            p,
                            Box::new(Probing {
                                idx: 0,
                                good: Vec::new(),
                                bad: Vec::new(),
                                installed: true,
                                first: p.first.clone(),
                            }),
                        );
                        self.step = Step::Final(probing);
                        Outcome::Again
                    }
                }
            }
            Step::Final(p) => match ack.errno {
                0 => done(None, std::mem::take(&mut p.bad)),
                _ => done(Some(error_of(ack)), Vec::new()),
            },
            Step::Delete { .. } => match ack.errno {
                0 | libc::ESRCH => done(None, Vec::new()),
                _ => done(Some(error_of(ack)), Vec::new()),
            },
        }
    }
}

struct Writer {
    settings: FibSettings,
    socket: RequestSocket,
    /// Sweep and Flush dumps, with strict checking so that the kernel filters.
    dump_socket: NlSocket,
    results_tx: mpsc::Sender<Vec<FibResult>>,
    /// Ours at start and not rewritten since. Beyond these, a route is ours where the
    /// engine says so (`FibRoute::replace`): the writer keeps no set of its own, which
    /// would cost some 40 bytes a route.
    stale: HashSet<Prefix>,
    queue: VecDeque<Job>,
    in_flight: VecDeque<(u32, Job)>,
    /// Prefixes with a job under way, and the changes waiting for it.
    busy: HashMap<Prefix, VecDeque<(FibRoute, Origin, Option<u32>)>>,
    window: usize,
    seq: u32,
    results: Vec<FibResult>,
    /// Successful cleanup deletions since the counter was last read.
    cleaned: usize,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
    acks: RecvBatch,
}

impl Writer {
    fn open(settings: FibSettings, stale: Vec<Prefix>, results_tx: mpsc::Sender<Vec<FibResult>>) -> io::Result<Writer> {
        let socket = RequestSocket::new()?;
        socket.socket().set_ext_ack(true)?;
        socket.socket().set_cap_ack(true)?;
        let granted = socket.set_recv_buffer(RCVBUF)?;
        let window = (granted / ACK_TRUESIZE).clamp(BATCH_MSGS, MAX_WINDOW);
        let dump_socket = NlSocket::new()?;
        let _ = dump_socket.socket().set_netlink_get_strict_chk(true);
        dump_socket.set_recv_buffer(4 << 20)?;
        Ok(Writer {
            settings,
            socket,
            dump_socket,
            results_tx,
            stale: stale.into_iter().collect(),
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            busy: HashMap::new(),
            window,
            seq: 0,
            results: Vec::new(),
            cleaned: 0,
            send_buf: Vec::with_capacity(BATCH_BYTES + 4096),
            recv_buf: Vec::new(),
            acks: RecvBatch::new(),
        })
    }

    /// Whether our route holds the prefix (so that EEXIST cannot mean a foreign one).
    fn is_ours(&self, route: &FibRoute) -> bool {
        route.replace || self.stale.contains(&route.prefix)
    }

    fn target(&self) -> RouteTarget {
        RouteTarget { table: self.settings.table, protocol: self.settings.protocol, metric: self.settings.metric }
    }

    fn idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight.is_empty()
    }

    async fn run(mut self, mut cmds: mpsc::Receiver<FibCmd>) -> io::Result<()> {
        loop {
            if self.idle() {
                if !self.send_results().await {
                    return Ok(());
                }
                match cmds.recv().await {
                    Some(cmd) => self.command(cmd).await?,
                    None => return Ok(()),
                }
                continue;
            }
            // Work is under way: take more changes while they are there.
            if self.queue.len() < MAX_QUEUED {
                if let Ok(cmd) = cmds.try_recv() {
                    self.command(cmd).await?;
                    continue;
                }
            }
            self.pump().await?;
            if self.results.len() >= RESULT_BATCH && !self.send_results().await {
                return Ok(());
            }
        }
    }

    /// Sends the results gathered; false if nobody listens any more.
    async fn send_results(&mut self) -> bool {
        if self.results.is_empty() {
            return true;
        }
        let batch = std::mem::take(&mut self.results);
        self.results_tx.send(batch).await.is_ok()
    }

    async fn command(&mut self, cmd: FibCmd) -> io::Result<()> {
        match cmd {
            FibCmd::Routes(routes) => {
                for route in routes {
                    self.start(route, Origin::Engine, None);
                }
            }
            FibCmd::SetMetric(metric) => {
                self.drain().await?;
                self.settings.metric = metric;
            }
            FibCmd::Sweep(reply) => {
                let n = self.cleanup(true).await?;
                let _ = reply.send(n);
            }
            FibCmd::Flush(reply) => {
                let n = self.cleanup(false).await?;
                let _ = reply.send(n);
            }
        }
        Ok(())
    }

    /// Queues a change, or holds it while the prefix has one under way.
    /// `metric`: for cleanup deletions, the metric of the route found.
    fn start(&mut self, route: FibRoute, origin: Origin, metric: Option<u32>) {
        match self.busy.entry(route.prefix) {
            Entry::Occupied(mut waiting) => waiting.get_mut().push_back((route, origin, metric)),
            Entry::Vacant(free) => {
                free.insert(VecDeque::new());
                self.queue_job(route, origin, metric);
            }
        }
    }

    fn queue_job(&mut self, route: FibRoute, origin: Origin, metric: Option<u32>) {
        let step = if route.next_hops.is_empty() {
            Step::Delete { metric: metric.unwrap_or(self.settings.metric) }
        } else {
            let ours = route.replace || self.stale.contains(&route.prefix);
            Step::Install { flags: if ours { CREATE_REPLACE } else { CREATE_EXCL } }
        };
        self.queue.push_back(Job { route, origin, step });
    }

    /// Sends what the window allows, then reads the acks queued.
    async fn pump(&mut self) -> io::Result<()> {
        let target = self.target();
        while self.in_flight.len() < self.window && !self.queue.is_empty() {
            self.send_buf.clear();
            let mut n = 0;
            while n < BATCH_MSGS && self.in_flight.len() < self.window && self.send_buf.len() < BATCH_BYTES {
                let Some(job) = self.queue.pop_front() else { break };
                self.seq = self.seq.wrapping_add(1);
                let ours = matches!(job.step, Step::Probe(_)) && self.is_ours(&job.route);
                job.message(&mut self.send_buf, self.seq, target, ours);
                self.in_flight.push_back((self.seq, job));
                n += 1;
            }
            self.socket.send(&self.send_buf)?;
        }
        if self.in_flight.is_empty() {
            return Ok(());
        }
        let mut acks = std::mem::replace(&mut self.acks, RecvBatch::empty());
        let mut waited = Duration::ZERO;
        loop {
            match self.socket.try_recv_many(&mut acks) {
                Ok(n) if n > 0 => {}
                Ok(_) if waited < ACK_TIMEOUT => {
                    // Answers missing after the send: not expected (see `RequestSocket`).
                    self.socket.wait_readable(Duration::from_millis(100))?;
                    waited += Duration::from_millis(100);
                    continue;
                }
                Ok(_) => {
                    tracing::error!("FIB writer: the kernel did not answer");
                    self.fail_in_flight(libc::ETIMEDOUT);
                    break;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Acks were dropped: the window should make this impossible.
                    // The unanswered changes fail; the engine tries them again.
                    tracing::error!("FIB writer: netlink acks lost (receive buffer overrun)");
                    self.fail_in_flight(libc::ENOBUFS);
                    break;
                }
                Err(e) => {
                    self.acks = acks;
                    return Err(e);
                }
            }
            for datagram in acks.datagrams() {
                for msg in nl::messages(datagram) {
                    if msg.kind != nl::NLMSG_ERROR {
                        continue;
                    }
                    if let Some(ack) = nl::parse_ack(msg.flags, msg.payload) {
                        self.on_ack(msg.seq, &ack);
                    }
                }
            }
            if self.in_flight.is_empty() {
                break;
            }
        }
        self.acks = acks;
        // The kernel's work happens in this task's `sendmsg`: let other tasks run.
        tokio::task::yield_now().await;
        Ok(())
    }

    fn fail_in_flight(&mut self, errno: i32) {
        let ack = Ack { errno, message: Some("the kernel's answer was lost".into()) };
        for (_, job) in std::mem::take(&mut self.in_flight) {
            let prefix = job.route.prefix;
            if job.origin == Origin::Engine {
                self.results.push(FibResult { prefix, error: Some(error_of(&ack)), dropped: Vec::new() });
            }
            self.release(prefix);
        }
    }

    fn on_ack(&mut self, seq: u32, ack: &Ack) {
        let job = match self.in_flight.front() {
            Some((s, _)) if *s == seq => self.in_flight.pop_front().map(|(_, j)| j),
            _ => {
                let at = self.in_flight.iter().position(|(s, _)| *s == seq);
                at.and_then(|at| self.in_flight.remove(at)).map(|(_, j)| j)
            }
        };
        let Some(mut job) = job else { return };
        let prefix = job.route.prefix;
        let ours = matches!(job.step, Step::Probe(_)) && self.is_ours(&job.route);
        match job.on_ack(ack, ours) {
            Outcome::Again => {
                // Next step first, before other work.
                self.queue.push_front(job);
            }
            Outcome::Done(result) => {
                let success = result.error.is_none();
                if success && !self.stale.is_empty() {
                    self.stale.remove(&prefix);
                }
                match job.origin {
                    Origin::Engine => self.results.push(result),
                    Origin::Cleanup => self.cleaned += usize::from(success),
                }
                self.release(prefix);
            }
        }
    }

    /// The prefix's job is done: start the next change waiting for it.
    fn release(&mut self, prefix: Prefix) {
        let next = match self.busy.entry(prefix) {
            Entry::Occupied(mut waiting) => {
                let next = waiting.get_mut().pop_front();
                if next.is_none() {
                    waiting.remove();
                }
                next
            }
            Entry::Vacant(_) => None,
        };
        if let Some((route, origin, metric)) = next {
            self.queue_job(route, origin, metric);
        }
    }

    /// Works off everything queued and under way.
    async fn drain(&mut self) -> io::Result<()> {
        while !self.idle() {
            self.pump().await?;
            if self.results.len() >= RESULT_BATCH {
                self.send_results().await;
            }
        }
        self.send_results().await;
        Ok(())
    }

    /// Sweep (`only_stale`) or Flush: dumps our routes and deletes them.
    async fn cleanup(&mut self, only_stale: bool) -> io::Result<usize> {
        self.drain().await?;
        let FibSettings { table, protocol, .. } = self.settings;
        let mut found = Vec::new();
        let mut buf = std::mem::take(&mut self.recv_buf);
        for family in [nl::AF_INET, nl::AF_INET6] {
            dump(&self.dump_socket, &mut buf, nl::RTM_GETROUTE, family, table, protocol, |msg| {
                if let Some(parsed) = nl::parse_route(msg.payload) {
                    let r = parsed.route;
                    if !parsed.skip && r.protocol == protocol && r.key.table == table {
                        found.push((r.key.prefix, r.key.metric));
                    }
                }
            })
            .await?;
        }
        self.recv_buf = buf;
        self.cleaned = 0;
        for (prefix, metric) in found {
            // A route of ours at another metric is left from an earlier configuration.
            if only_stale && !self.stale.contains(&prefix) && metric == self.settings.metric {
                continue;
            }
            self.start(FibRoute { prefix, next_hops: Vec::new(), replace: true }, Origin::Cleanup, Some(metric));
        }
        self.drain().await?;
        // Stale prefixes not found in the dump are gone all the same.
        self.stale.clear();
        Ok(std::mem::take(&mut self.cleaned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn nh(gw: &str) -> FibNextHop {
        FibNextHop { gateway: gw.parse().unwrap(), ifindex: 2 }
    }

    fn ack(errno: i32) -> Ack {
        Ack { errno, message: (errno != 0).then(|| format!("text {errno}")) }
    }

    fn job(hops: &[FibNextHop], flags: u16) -> Job {
        Job {
            route: FibRoute { prefix: p("10.0.0.0/24"), next_hops: hops.to_vec(), replace: false },
            origin: Origin::Engine,
            step: Step::Install { flags },
        }
    }

    #[test]
    fn exclusive_create_refused_is_foreign() {
        let mut j = job(&[nh("192.0.2.1")], CREATE_EXCL);
        let Outcome::Done(r) = j.on_ack(&ack(libc::EEXIST), false) else { panic!() };
        let e = r.error.unwrap();
        assert!(e.foreign);
        assert_eq!(e.message, "text 17");
        let mut j = job(&[nh("192.0.2.1")], CREATE_EXCL);
        assert_eq!(
            j.on_ack(&ack(0), false),
            Outcome::Done(FibResult { prefix: p("10.0.0.0/24"), error: None, dropped: vec![] })
        );
    }

    #[test]
    fn bad_next_hops_are_dropped_one_by_one() {
        let hops = [nh("192.0.2.1"), nh("198.51.100.1"), nh("192.0.2.2")];
        let mut j = job(&hops, CREATE_EXCL);
        assert_eq!(j.on_ack(&ack(libc::EINVAL), false), Outcome::Again);
        let target = RouteTarget { table: 254, protocol: 186, metric: 20 };
        // The first probe creates exclusively, later ones replace.
        let mut buf = Vec::new();
        j.message(&mut buf, 1, target, false);
        let flags = nl::messages(&buf).next().unwrap().flags;
        assert_eq!(flags & CREATE_EXCL, CREATE_EXCL);
        assert_eq!(j.on_ack(&ack(0), false), Outcome::Again);
        buf.clear();
        j.message(&mut buf, 2, target, false);
        let msg = nl::messages(&buf).next().unwrap();
        assert_eq!(msg.flags & CREATE_REPLACE, CREATE_REPLACE);
        let probed = nl::parse_route(msg.payload).unwrap().route;
        assert_eq!(probed.next_hops.len(), 1);
        assert_eq!(probed.next_hops[0].gateway, Some(hops[1].gateway));
        assert_eq!(j.on_ack(&ack(libc::ENETUNREACH), false), Outcome::Again);
        assert_eq!(j.on_ack(&ack(0), false), Outcome::Again);
        buf.clear();
        j.message(&mut buf, 3, target, false);
        let fin = nl::parse_route(nl::messages(&buf).next().unwrap().payload).unwrap().route;
        assert_eq!(fin.next_hops.len(), 2);
        let Outcome::Done(r) = j.on_ack(&ack(0), true) else { panic!() };
        assert_eq!(r.error, None);
        assert_eq!(r.dropped.len(), 1);
        assert_eq!(r.dropped[0].0, hops[1]);
        assert_eq!(r.dropped[0].1.errno, libc::ENETUNREACH);
    }

    #[test]
    fn no_good_next_hop_is_the_first_error() {
        let mut j = job(&[nh("192.0.2.1"), nh("192.0.2.2")], CREATE_REPLACE);
        assert_eq!(j.on_ack(&ack(libc::EINVAL), true), Outcome::Again);
        assert_eq!(j.on_ack(&ack(libc::ENETUNREACH), true), Outcome::Again);
        let Outcome::Done(r) = j.on_ack(&ack(libc::ENETUNREACH), true) else { panic!() };
        assert_eq!(r.error.unwrap().errno, libc::EINVAL);
        assert!(r.dropped.is_empty());
    }

    #[test]
    fn removal_of_a_missing_route_succeeds() {
        let mut j = job(&[], 0);
        j.step = Step::Delete { metric: 20 };
        assert!(matches!(j.on_ack(&ack(libc::ESRCH), false), Outcome::Done(FibResult { error: None, .. })));
        j.step = Step::Delete { metric: 20 };
        assert!(matches!(j.on_ack(&ack(libc::EPERM), false), Outcome::Done(FibResult { error: Some(_), .. })));
    }
}
