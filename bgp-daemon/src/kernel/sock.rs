//! A non-blocking `NETLINK_ROUTE` socket (`rtnetlink::sys`) under tokio.

use std::io;

use nix::sys::socket::{setsockopt, sockopt};
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

    /// Sets the receive buffer to `bytes`: `SO_RCVBUFFORCE` (needs CAP_NET_ADMIN,
    /// ignores `rmem_max`), else `SO_RCVBUF` (capped by `net.core.rmem_max`).
    /// Returns the size the kernel granted (it doubles the request for bookkeeping).
    pub fn set_recv_buffer(&self, bytes: usize) -> io::Result<usize> {
        let size = bytes.min(i32::MAX as usize);
        if setsockopt(self.socket(), sockopt::RcvBufForce, &size).is_err() {
            self.socket().set_rx_buf_sz(size as libc::c_int)?;
        }
        self.socket().get_rx_buf_sz()
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
        buf.clear();
        buf.reserve(RECV_BUF);
        match self.socket().recv(buf, libc::MSG_TRUNC) {
            Ok(len) if len > buf.len() => {
                Err(io::Error::other(format!("netlink datagram of {len} bytes truncated to {}", buf.len())))
            }
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
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
