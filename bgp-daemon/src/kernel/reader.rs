//! The kernel reader: links, addresses and routes of both families, all tables, as
//! [`KernelUpdate`]s for the engine: a dump bracketed by `SyncBegin`/`SyncEnd`, then
//! the multicast notifications as they come.
//!
//! Order of operations, so that nothing falls between the dump and the stream: the
//! multicast socket joins its groups first, then a second socket dumps; the
//! notifications queued meanwhile are applied after the dump (a route deleted during
//! the dump is deleted again, one added is added again: both converge). When the
//! multicast socket overruns (`ENOBUFS`: notifications were lost), the reader
//! discards what is queued and dumps again, bracketed by `SyncBegin`/`SyncEnd`, which
//! the engine treats as a resync. There are no periodic scans.
//!
//! Our own routes (`protocol` in `table`, installed by the FIB writer) are never
//! reported: a BPF filter drops their notifications in the kernel (a million of them
//! would otherwise flood the socket), and user space filters again (with the table
//! of `RTA_TABLE`). Their prefixes at start are returned to the caller.
//!
//! IPv6 multipath routes, as this kernel (6.18) notifies them: adding, appending to
//! or replacing a multipath route notifies the whole route (`RTA_MULTIPATH` with all
//! next hops); deleting one next hop (`ip -6 route del ... via G`) sends an
//! `RTM_DELROUTE` carrying only that next hop while the others stay. So the reader
//! remembers the next hops of foreign IPv6 multipath routes and turns such a delete
//! into a `Route` with the remaining next hops (a `RouteDeleted` when none remain).
//! Older kernels sent one message per next hop (in dumps too, and for appends with
//! `NLM_F_APPEND`): consecutive dump messages for the same IPv6 key, and appends for
//! a remembered route, are merged. An append to a single-path route that was never
//! multipath (a kernel before 4.11) reports only the appended next hop: a known gap.
//!
//! Skipped: cloned (cache) routes, and source-specific or TOS routes, which a
//! [`RouteKey`] cannot tell from the plain route of the prefix. Routes using nexthop
//! objects (`RTA_NH_ID`) carry their next hops only with
//! `net.ipv4.nexthop_compat_mode = 1` (the default); otherwise they arrive without.

use std::collections::HashMap;
use std::io;

use bgp_core::kernel::{KernelNextHop, KernelRoute, KernelUpdate, RouteKey};
use bgp_core::prefix::Prefix;
use tokio::sync::mpsc;

use super::nl::{self, Msg};
use super::sock::NlSocket;

/// Updates per batch sent on the channel.
pub const BATCH: usize = 1024;
/// The multicast socket's receive buffer: room for the notifications queued during
/// a dump of a large table.
const MULTICAST_RCVBUF: usize = 32 << 20;

/// Opens the multicast socket (groups joined, own-route filter attached) and a dump
/// socket in the calling thread's network namespace, finds our own routes
/// (`protocol` in `table`, both families) and spawns the reader task on the current
/// tokio runtime. Returns the prefixes of our own routes found (stale until the FIB
/// writer rewrites or sweeps them).
///
/// The task then sends `SyncBegin`, the dump of links, addresses and routes (ours
/// excepted), `SyncEnd`, in batches of up to [`BATCH`] updates, then notifications
/// as they are readable (batching what is already queued, never waiting to fill a
/// batch). It ends quietly when `out` is closed, and with an error log if the
/// netlink socket fails.
pub async fn spawn_reader(table: u32, protocol: u8, out: mpsc::Sender<Vec<KernelUpdate>>) -> io::Result<Vec<Prefix>> {
    let mut reader = Reader::open(table, protocol, out)?;
    let ours = reader.own_routes().await?;
    tokio::spawn(async move {
        if let Err(e) = reader.run().await {
            tracing::error!(error = %e, "kernel reader stopped");
        }
    });
    Ok(ours)
}

/// Why the reader stopped.
enum Stop {
    /// The channel is closed.
    Closed,
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Io(e)
    }
}

struct Reader {
    table: u32,
    protocol: u8,
    out: mpsc::Sender<Vec<KernelUpdate>>,
    multicast: NlSocket,
    dump: NlSocket,
    seq: u32,
    batch: Vec<KernelUpdate>,
    buf: Vec<u8>,
    /// Interface names sent, to send `Link` only when a link appears or is renamed.
    links: HashMap<u32, String>,
    /// Next hops of foreign IPv6 multipath routes (see the module comment).
    multipath6: HashMap<RouteKey, Vec<KernelNextHop>>,
    /// During a dump: the last IPv6 route, held to merge per-next-hop messages.
    pending6: Option<KernelRoute>,
}

impl Reader {
    fn open(table: u32, protocol: u8, out: mpsc::Sender<Vec<KernelUpdate>>) -> io::Result<Reader> {
        let multicast = NlSocket::new()?;
        let granted = multicast.set_recv_buffer(MULTICAST_RCVBUF)?;
        tracing::debug!(granted, "kernel reader: multicast receive buffer");
        multicast.attach_filter(&nl::own_route_filter(table, protocol))?;
        for group in [
            nl::RTNLGRP_LINK,
            nl::RTNLGRP_IPV4_IFADDR,
            nl::RTNLGRP_IPV6_IFADDR,
            nl::RTNLGRP_IPV4_ROUTE,
            nl::RTNLGRP_IPV6_ROUTE,
        ] {
            multicast.socket().add_membership(group)?;
        }
        let dump = NlSocket::new()?;
        dump.set_recv_buffer(4 << 20)?;
        Ok(Reader {
            table,
            protocol,
            out,
            multicast,
            dump,
            seq: 0,
            batch: Vec::with_capacity(BATCH),
            buf: Vec::new(),
            links: HashMap::new(),
            multipath6: HashMap::new(),
            pending6: None,
        })
    }

    fn is_ours(&self, route: &KernelRoute) -> bool {
        route.protocol == self.protocol && route.key.table == self.table
    }

    /// Our own routes' prefixes, by a dump filtered in the kernel where it can
    /// (`NETLINK_GET_STRICT_CHK`) and in user space anyway.
    async fn own_routes(&mut self) -> io::Result<Vec<Prefix>> {
        let (table, protocol) = (self.table, self.protocol);
        let socket = NlSocket::new()?;
        // Best effort: without strict checking the kernel dumps everything.
        let _ = socket.socket().set_netlink_get_strict_chk(true);
        let mut ours = Vec::new();
        for family in [nl::AF_INET, nl::AF_INET6] {
            dump(&socket, &mut self.buf, nl::RTM_GETROUTE, family, table, protocol, |msg| {
                if let Some(parsed) = nl::parse_route(msg.payload) {
                    let r = &parsed.route;
                    if !parsed.skip && r.protocol == protocol && r.key.table == table {
                        ours.push(r.key.prefix);
                    }
                }
            })
            .await?;
        }
        ours.sort_unstable();
        ours.dedup();
        Ok(ours)
    }

    async fn run(&mut self) -> io::Result<()> {
        match self.run_inner().await {
            Ok(()) | Err(Stop::Closed) => Ok(()),
            Err(Stop::Io(e)) => Err(e),
        }
    }

    async fn run_inner(&mut self) -> Result<(), Stop> {
        self.full_dump().await?;
        let mut buf = Vec::new();
        loop {
            // Wait for one notification, then take whatever else is queued.
            let first = self.multicast.recv(&mut buf).await;
            let mut overrun = first.as_ref().err().is_some_and(is_enobufs);
            if let Err(e) = first {
                if !overrun {
                    return Err(e.into());
                }
            } else {
                self.notification(&buf).await?;
                while self.batch.len() < BATCH {
                    match self.multicast.try_recv(&mut buf) {
                        Ok(true) => self.notification(&buf).await?,
                        Ok(false) => break,
                        Err(e) if is_enobufs(&e) => {
                            overrun = true;
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            if overrun {
                tracing::warn!("kernel reader: netlink overrun, notifications lost; dumping again");
                // What is queued predates the dump, which supersedes it.
                self.flush().await?;
                loop {
                    match self.multicast.try_recv(&mut buf) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) if is_enobufs(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                self.full_dump().await?;
            } else {
                self.flush().await?;
            }
        }
    }

    async fn notification(&mut self, datagram: &[u8]) -> Result<(), Stop> {
        for msg in nl::messages(datagram) {
            self.message(msg, false);
            if self.batch.len() >= BATCH {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn push(&mut self, update: KernelUpdate) -> Result<(), Stop> {
        self.batch.push(update);
        if self.batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Stop> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.out.send(batch).await.map_err(|_| Stop::Closed)
    }

    /// SyncBegin, links, addresses and routes of both families, SyncEnd.
    async fn full_dump(&mut self) -> Result<(), Stop> {
        self.links.clear();
        self.multipath6.clear();
        self.push(KernelUpdate::SyncBegin).await?;
        let requests = [
            (nl::RTM_GETLINK, 0),
            (nl::RTM_GETADDR, nl::AF_INET),
            (nl::RTM_GETADDR, nl::AF_INET6),
            (nl::RTM_GETROUTE, nl::AF_INET),
            (nl::RTM_GETROUTE, nl::AF_INET6),
        ];
        let mut buf = std::mem::take(&mut self.buf);
        for (kind, family) in requests {
            self.seq = self.seq.wrapping_add(1);
            let mut req = Vec::new();
            nl::dump_request(&mut req, kind, family, self.seq, 0, 0);
            self.dump.send(&req).await?;
            'datagrams: loop {
                self.dump.recv(&mut buf).await?;
                for msg in nl::messages(&buf) {
                    match msg.kind {
                        nl::NLMSG_DONE => {
                            if let Some(prev) = self.pending6.take() {
                                self.route6(prev);
                            }
                            break 'datagrams;
                        }
                        nl::NLMSG_ERROR => {
                            let errno = nl::parse_ack(msg.flags, msg.payload).map_or(libc::EIO, |a| a.errno);
                            if errno != 0 {
                                return Err(io::Error::from_raw_os_error(errno).into());
                            }
                        }
                        _ => self.message(msg, true),
                    }
                }
                if self.batch.len() >= BATCH {
                    self.flush().await?;
                }
            }
        }
        self.buf = buf;
        self.push(KernelUpdate::SyncEnd).await?;
        self.flush().await
    }

    /// Turns one message into updates on the batch (which may exceed [`BATCH`] by a
    /// few: the caller flushes).
    fn message(&mut self, msg: Msg<'_>, in_dump: bool) {
        match msg.kind {
            nl::RTM_NEWLINK => {
                if let Some((ifindex, Some(name))) = nl::parse_link(msg.payload) {
                    if self.links.get(&ifindex) != Some(&name) {
                        self.links.insert(ifindex, name.clone());
                        self.batch.push(KernelUpdate::Link { ifindex, name });
                    }
                }
            }
            nl::RTM_DELLINK => {
                if let Some((ifindex, _)) = nl::parse_link(msg.payload) {
                    self.links.remove(&ifindex);
                    self.batch.push(KernelUpdate::LinkDeleted { ifindex });
                }
            }
            nl::RTM_NEWADDR | nl::RTM_DELADDR => {
                if let Some(update) = nl::parse_addr(msg.payload, msg.kind == nl::RTM_DELADDR) {
                    self.batch.push(update);
                }
            }
            nl::RTM_NEWROUTE | nl::RTM_DELROUTE => {
                let Some(parsed) = nl::parse_route(msg.payload) else { return };
                if parsed.skip || self.is_ours(&parsed.route) {
                    return;
                }
                if msg.kind == nl::RTM_NEWROUTE {
                    let append = msg.flags & nl::NLM_F_APPEND != 0;
                    self.new_route(parsed.route, in_dump, append);
                } else {
                    self.del_route(parsed.route);
                }
            }
            _ => {}
        }
    }

    fn new_route(&mut self, mut route: KernelRoute, in_dump: bool, append: bool) {
        if let Prefix::V4(_) = route.key.prefix {
            self.batch.push(KernelUpdate::Route(route));
            return;
        }
        if in_dump {
            // Older kernels dump an IPv6 multipath route one next hop a message.
            if let Some(prev) = &mut self.pending6 {
                if prev.key == route.key {
                    merge(&mut prev.next_hops, route.next_hops);
                    return;
                }
            }
            if let Some(prev) = self.pending6.replace(route) {
                self.route6(prev);
            }
            return;
        }
        if append {
            if let Some(known) = self.multipath6.get(&route.key) {
                let mut all = known.clone();
                merge(&mut all, route.next_hops);
                route.next_hops = all;
            }
        }
        self.route6(route);
    }

    /// Sends an IPv6 route, remembering its next hops if it is multipath.
    fn route6(&mut self, route: KernelRoute) {
        if route.next_hops.len() > 1 {
            self.multipath6.insert(route.key, route.next_hops.clone());
        } else {
            self.multipath6.remove(&route.key);
        }
        self.batch.push(KernelUpdate::Route(route));
    }

    fn del_route(&mut self, route: KernelRoute) {
        let key = route.key;
        if let Some(known) = self.multipath6.get_mut(&key) {
            // One next hop of a multipath route deleted: the others stay.
            if let [gone] = route.next_hops.as_slice() {
                if known.len() > 1 && known.contains(gone) {
                    known.retain(|nh| nh != gone);
                    let remaining = known.clone();
                    if remaining.len() < 2 {
                        self.multipath6.remove(&key);
                    }
                    self.batch.push(KernelUpdate::Route(KernelRoute { next_hops: remaining, ..route }));
                    return;
                }
            }
            self.multipath6.remove(&key);
        }
        self.batch.push(KernelUpdate::RouteDeleted(key));
    }
}

fn merge(into: &mut Vec<KernelNextHop>, more: Vec<KernelNextHop>) {
    for nh in more {
        if !into.contains(&nh) {
            into.push(nh);
        }
    }
}

fn is_enobufs(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOBUFS)
}

/// Runs one dump request on `socket` to its end, calling `each` for every message.
/// `ENOENT` (a filtered IPv4 dump of a table that does not exist) is an empty dump.
pub(super) async fn dump(
    socket: &NlSocket,
    buf: &mut Vec<u8>,
    kind: u16,
    family: u8,
    table: u32,
    protocol: u8,
    mut each: impl FnMut(Msg<'_>),
) -> io::Result<()> {
    let mut req = Vec::new();
    nl::dump_request(&mut req, kind, family, 1, table, protocol);
    socket.send(&req).await?;
    loop {
        socket.recv(buf).await?;
        for msg in nl::messages(buf) {
            match msg.kind {
                nl::NLMSG_DONE => return Ok(()),
                nl::NLMSG_ERROR => {
                    let errno = nl::parse_ack(msg.flags, msg.payload).map_or(libc::EIO, |a| a.errno);
                    match errno {
                        0 => {}
                        libc::ENOENT => return Ok(()),
                        errno => return Err(io::Error::from_raw_os_error(errno)),
                    }
                }
                _ => each(msg),
            }
        }
    }
}
