//! A non-blocking `NETLINK_ROUTE` socket (`rtnetlink::sys`) under tokio.

use std::io;
use std::time::Duration;

use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::IoSliceMut;
use std::os::fd::AsRawFd;

use nix::sys::socket::{recvmmsg, setsockopt, sockopt, MsgFlags, MultiHeaders};
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use socket2::SockRef;
use tokio::io::unix::AsyncFd;

/// Receive buffer per `recv`: a dump datagram is at most 32 KiB (the kernel caps
/// its dump skbs there), a notification much less.
pub const RECV_BUF: usize = 64 * 1024;

pub struct NlSocket {
    fd: AsyncFd<Socket>,
}

impl NlSocket {
    /// A socket bound to a kernel-chosen port id, in the calling thread's network
    /// namespace. Must be called within a tokio runtime.
    pub fn new() -> io::Result<NlSocket> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind(&SocketAddr::new(0, 0))?;
        socket.set_non_blocking(true)?;
        // `AsyncFd::new` is deprecated because a type could hand out different or
        // borrowed fds; `Socket` owns its fd, returns that one from `as_raw_fd` and
        // closes it only when dropped (after the `AsyncFd` deregisters it).
        #[allow(deprecated)]
        let fd = AsyncFd::new(socket)?;
        Ok(NlSocket { fd })
    }

    pub fn socket(&self) -> &Socket {
        self.fd.get_ref()
    }

    pub fn set_recv_buffer(&self, bytes: usize) -> io::Result<usize> {
        set_recv_buffer(self.socket(), bytes)
    }

    pub fn attach_filter(&self, program: &[socket2::SockFilter]) -> io::Result<()> {
        SockRef::from(self.socket()).attach_filter(program)
    }

    /// Sends one datagram of messages. The kernel handles a netlink request inside
    /// `sendmsg`, so its acks are queued by the time this returns.
    pub async fn send(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| fd.get_ref().send(buf, 0)) {
                Ok(result) => {
                    let sent = result?;
                    if sent != buf.len() {
                        return Err(io::Error::other(format!("netlink send: {sent} of {} bytes", buf.len())));
                    }
                    return Ok(());
                }
                Err(_would_block) => continue,
            }
        }
    }

    /// One datagram if one is queued, without waiting: `Ok(false)` if none.
    /// `buf` is cleared first.
    pub fn try_recv(&self, buf: &mut Vec<u8>) -> io::Result<bool> {
        try_recv(self.socket(), buf)
    }

    /// Waits for a datagram and reads it into `buf` (cleared first).
    pub async fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        loop {
            if self.try_recv(buf)? {
                return Ok(());
            }
            let mut guard = self.fd.readable().await?;
            guard.clear_ready();
        }
    }
}

/// Sets the receive buffer to `bytes`: `SO_RCVBUFFORCE` (needs CAP_NET_ADMIN,
/// ignores `rmem_max`), else `SO_RCVBUF` (capped by `net.core.rmem_max`).
/// Returns the size the kernel granted (it doubles the request for bookkeeping).
fn set_recv_buffer(socket: &Socket, bytes: usize) -> io::Result<usize> {
    let size = bytes.min(i32::MAX as usize);
    if setsockopt(socket, sockopt::RcvBufForce, &size).is_err() {
        socket.set_rx_buf_sz(size as libc::c_int)?;
    }
    socket.get_rx_buf_sz()
}

fn try_recv(socket: &Socket, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    buf.reserve(RECV_BUF);
    match socket.recv(buf, libc::MSG_TRUNC | libc::MSG_DONTWAIT) {
        Ok(len) if len > buf.len() => {
            Err(io::Error::other(format!("netlink datagram of {len} bytes truncated to {}", buf.len())))
        }
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// A request socket that tokio does not watch, for the FIB writer. The kernel
/// handles an rtnetlink request within `sendmsg`, so the answers to what was sent
/// are queued when `send` returns and are read without waiting; not registering
/// with epoll spares the kernel a wakeup callback per ack (a million of them).
pub struct RequestSocket {
    socket: Socket,
}

impl RequestSocket {
    pub fn new() -> io::Result<RequestSocket> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind(&SocketAddr::new(0, 0))?;
        socket.set_non_blocking(true)?;
        Ok(RequestSocket { socket })
    }

    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    pub fn set_recv_buffer(&self, bytes: usize) -> io::Result<usize> {
        set_recv_buffer(&self.socket, bytes)
    }

    /// Sends one datagram of requests, handled by the kernel before this returns.
    pub fn send(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            match self.socket.send(buf, 0) {
                Ok(sent) if sent == buf.len() => return Ok(()),
                Ok(sent) => return Err(io::Error::other(format!("netlink send: {sent} of {} bytes", buf.len()))),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(PollFlags::POLLOUT, Duration::from_millis(100))?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the datagrams queued, up to [`RecvBatch::SLOTS`], without waiting, in
    /// one `recvmmsg`: acks come one a datagram, a million of them. Returns how
    /// many were read (0: none queued).
    pub fn try_recv_many(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.lens.clear();
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = batch.bufs.iter_mut().map(|b| [IoSliceMut::new(&mut b[..])]).collect();
        // Per call: `MultiHeaders` holds raw pointers, which would make the writer's
        // future not `Send`. A small allocation per up to 64 datagrams.
        let mut headers = MultiHeaders::<()>::preallocate(iovs.len(), None);
        let got = recvmmsg(self.socket.as_raw_fd(), &mut headers, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None);
        match got {
            Ok(results) => {
                for r in results {
                    if r.flags.contains(MsgFlags::MSG_TRUNC) {
                        tracing::warn!(bytes = r.bytes, "netlink answer truncated");
                    }
                    batch.lens.push(r.bytes);
                }
                Ok(batch.lens.len())
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Blocks up to `timeout` for a datagram: only when answers are missing, which
    /// rtnetlink's synchronous handling should never leave.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        self.wait(PollFlags::POLLIN, timeout)
    }

    fn wait(&self, events: PollFlags, timeout: Duration) -> io::Result<bool> {
        let mut fds = [PollFd::new(self.socket.as_fd(), events)];
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) => Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Buffers for [`RequestSocket::try_recv_many`].
pub struct RecvBatch {
    bufs: Vec<Box<[u8; RecvBatch::SLOT_BYTES]>>,
    lens: Vec<usize>,
}

impl RecvBatch {
    pub const SLOTS: usize = 64;
    /// An ack is a few dozen bytes, an error with its extended ack a few hundred.
    pub const SLOT_BYTES: usize = 4096;

    pub fn new() -> RecvBatch {
        RecvBatch {
            bufs: (0..Self::SLOTS).map(|_| Box::new([0u8; Self::SLOT_BYTES])).collect(),
            lens: Vec::with_capacity(Self::SLOTS),
        }
    }

    /// No buffers (a placeholder while the real ones are lent out).
    pub fn empty() -> RecvBatch {
        RecvBatch { bufs: Vec::new(), lens: Vec::new() }
    }

    /// The datagrams of the last read.
    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        self.bufs.iter().zip(&self.lens).map(|(b, &len)| &b[..len.min(Self::SLOT_BYTES)])
    }
}
