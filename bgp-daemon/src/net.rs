//! TCP sockets for BGP: listening and connecting sockets with the per-peer options
//! the standard library does not offer: TCP-MD5 signatures (RFC 2385, Linux
//! `TCP_MD5SIG`, with `TCP_MD5SIG_EXT` prefixes for neighbor ranges) and GTSM
//! (RFC 5082: send with TTL 255, accept only packets that arrive with at least
//! 256 - hops). Every session socket also gets `TCP_USER_TIMEOUT` and TCP keepalives
//! ([`set_session_timeouts`]), so a dead peer cannot hold a socket forever.
//!
//! The one `unsafe` block of the daemon is `setsockopt_bytes`: it passes a byte
//! buffer of the kernel's layout to `setsockopt(2)`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Linux `TCP_MD5SIG_EXT`: the key applies to a prefix (or an interface).
const TCP_MD5SIG_EXT: libc::c_int = 32;
const TCP_MD5SIG_FLAG_PREFIX: u8 = 1;
const TCP_MD5SIG_MAXKEYLEN: usize = 80;
/// `IP_MINTTL` and `IPV6_MINHOPCOUNT` from the Linux headers.
const IP_MINTTL: libc::c_int = 21;
const IPV6_MINHOPCOUNT: libc::c_int = 73;

#[allow(unsafe_code)]
fn setsockopt_bytes(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &[u8]) -> io::Result<()> {
    // SAFETY: `value` is a live, initialised buffer of exactly `value.len()` bytes for
    // the duration of the call; the kernel copies it and keeps no pointer.
    let rc = unsafe { libc::setsockopt(fd, level, name, value.as_ptr().cast(), value.len() as libc::socklen_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn setsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    setsockopt_bytes(fd, level, name, &value.to_ne_bytes())
}

/// `struct tcp_md5sig` as bytes: sockaddr_storage (128), flags (1), prefix length (1),
/// key length (2), ifindex (4), key (80).
fn md5sig(addr: IpAddr, prefix_len: Option<u8>, key: &[u8]) -> io::Result<[u8; 216]> {
    if key.len() > TCP_MD5SIG_MAXKEYLEN {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "TCP-MD5 key longer than 80 bytes"));
    }
    let mut b = [0u8; 216];
    match addr {
        IpAddr::V4(a) => {
            b[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            b[4..8].copy_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            b[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            b[8..24].copy_from_slice(&a.octets());
        }
    }
    if let Some(len) = prefix_len {
        b[128] = TCP_MD5SIG_FLAG_PREFIX;
        b[129] = len;
    }
    b[130..132].copy_from_slice(&(key.len() as u16).to_ne_bytes());
    b[136..136 + key.len()].copy_from_slice(key);
    Ok(b)
}

/// Installs (or, with an empty key, removes) the TCP-MD5 key for `addr` — or for the
/// whole prefix `addr/prefix_len` — on a socket. On a listening socket it covers every
/// connection accepted from there.
pub fn set_md5(fd: &impl AsRawFd, addr: IpAddr, prefix_len: Option<u8>, key: &str) -> io::Result<()> {
    let sig = md5sig(addr, prefix_len, key.as_bytes())?;
    let name = if prefix_len.is_some() { TCP_MD5SIG_EXT } else { libc::TCP_MD5SIG };
    setsockopt_bytes(fd.as_raw_fd(), libc::IPPROTO_TCP, name, &sig)
}

/// GTSM (RFC 5082): our packets leave with TTL 255; the kernel drops the peer's unless
/// they arrive with TTL at least 256 - `hops`.
pub fn set_gtsm(fd: &impl AsRawFd, ipv6: bool, hops: u8) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    let min = 256 - libc::c_int::from(hops.max(1));
    if ipv6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 255)?;
        setsockopt_int(fd, libc::IPPROTO_IPV6, IPV6_MINHOPCOUNT, min)
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TTL, 255)?;
        setsockopt_int(fd, libc::IPPROTO_IP, IP_MINTTL, min)
    }
}

/// Idle time before TCP keepalive probes start, the gap between probes, and how many
/// go unanswered before the kernel gives up: a silent dead peer (hold time 0, nothing
/// to send) is noticed in about two minutes.
const KEEPALIVE_IDLE_SECS: libc::c_int = 60;
const KEEPALIVE_INTERVAL_SECS: libc::c_int = 15;
const KEEPALIVE_PROBES: libc::c_int = 4;

/// On a session socket: `TCP_USER_TIMEOUT` (data we sent may stay unacknowledged at
/// most `user_timeout`, zero-window probes included, then the kernel resets the
/// connection and our writes fail) and TCP keepalives (a peer that vanished while
/// the connection was idle is found out too).
pub fn set_session_timeouts(fd: &impl AsRawFd, user_timeout: Duration) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    let ms = libc::c_int::try_from(user_timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms)?;
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, KEEPALIVE_IDLE_SECS)?;
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, KEEPALIVE_INTERVAL_SECS)?;
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, KEEPALIVE_PROBES)
}

/// A listening socket. IPv6 sockets are IPv6-only, so `0.0.0.0:179` and `[::]:179`
/// can both be bound and each holds the MD5 keys of its own family.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Options of an outgoing connection.
pub struct ConnectOptions<'a> {
    pub local: Option<IpAddr>,
    pub password: Option<&'a str>,
    pub ttl_security: Option<u8>,
    pub timeout: Duration,
}

pub async fn connect(remote: SocketAddr, opts: ConnectOptions<'_>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(remote), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(local) = opts.local {
        socket.bind(&SocketAddr::new(local, 0).into())?;
    }
    if let Some(key) = opts.password {
        set_md5(&socket, remote.ip(), None, key)?;
    }
    if let Some(hops) = opts.ttl_security {
        set_gtsm(&socket, remote.is_ipv6(), hops)?;
    }
    let socket = TcpSocket::from_std_stream(socket.into());
    tokio::time::timeout(opts.timeout, socket.connect(remote))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
}

/// Every address (with its prefix length) of the interface that carries our address
/// `local`, read from the namespace we run in. A route whose next hop is in one of
/// these subnets can keep that next hop toward an eBGP peer on the same segment (RFC
/// 4271 §5.1.3), and the interface's global IPv6 address is our IPv6 next hop on an
/// IPv4 session.
pub fn interface_addresses(local: IpAddr) -> Vec<(IpAddr, u8)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else { return Vec::new() };
    let mut all: Vec<(String, IpAddr, u8)> = Vec::new();
    for ifa in addrs {
        let (Some(addr), Some(mask)) = (ifa.address, ifa.netmask) else { continue };
        let (ip, len) = if let (Some(a), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
            (IpAddr::V4(a.ip()), u32::from(m.ip()).count_ones())
        } else if let (Some(a), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
            (IpAddr::V6(a.ip()), u128::from(m.ip()).count_ones())
        } else {
            continue;
        };
        all.push((ifa.interface_name, ip, len as u8));
    }
    let Some(name) = all.iter().find(|(_, ip, _)| *ip == local).map(|(n, _, _)| n.clone()) else {
        return Vec::new();
    };
    all.into_iter().filter(|(n, _, _)| *n == name).map(|(_, ip, len)| (ip, len)).collect()
}

/// The address a peer connected from, with IPv4-mapped IPv6 turned back into IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5sig_layout() {
        let b = md5sig("10.0.0.2".parse().unwrap(), Some(24), b"secret").unwrap();
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), libc::AF_INET as u16);
        assert_eq!(&b[4..8], &[10, 0, 0, 2]);
        assert_eq!((b[128], b[129]), (1, 24));
        assert_eq!(u16::from_ne_bytes([b[130], b[131]]), 6);
        assert_eq!(&b[136..142], b"secret");
        assert!(md5sig("::1".parse().unwrap(), None, &[0; 81]).is_err());
    }

    #[tokio::test]
    async fn md5_and_gtsm_options_are_accepted_by_the_kernel() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        set_md5(&listener, "127.0.0.1".parse().unwrap(), None, "secret").unwrap();
        set_md5(&listener, "127.0.0.0".parse().unwrap(), Some(8), "range").unwrap();
        set_gtsm(&listener, false, 1).unwrap();
        let v6 = listen("[::1]:0".parse().unwrap());
        if let Ok(v6) = v6 {
            set_md5(&v6, "::1".parse().unwrap(), None, "secret").unwrap();
            set_gtsm(&v6, true, 1).unwrap();
        }
    }

    #[tokio::test]
    async fn matching_md5_keys_connect() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        set_md5(&listener, addr.ip(), None, "s3cret").unwrap();
        // GTSM on both ends: the SYN-ACK must leave the listener with TTL 255 too.
        set_gtsm(&listener, false, 1).unwrap();
        let opts = ConnectOptions {
            local: None,
            password: Some("s3cret"),
            ttl_security: Some(1),
            timeout: Duration::from_secs(5),
        };
        let both = async { tokio::join!(connect(addr, opts), listener.accept()) };
        let (conn, acc) = tokio::time::timeout(Duration::from_secs(10), both).await.expect("connect and accept");
        conn.unwrap();
        acc.unwrap();
        // A wrong key: the SYN is dropped by the kernel, the connect times out.
        let opts = ConnectOptions {
            local: None,
            password: Some("wrong"),
            ttl_security: None,
            timeout: Duration::from_millis(500),
        };
        let err = tokio::select! {
            r = connect(addr, opts) => r.unwrap_err(),
            _ = listener.accept() => panic!("accepted a connection with the wrong key"),
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn session_timeouts_are_set() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (conn, _acc) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let conn = conn.unwrap();
        set_session_timeouts(&conn, Duration::from_secs(20)).unwrap();
        let s = socket2::SockRef::from(&conn);
        assert_eq!(s.tcp_user_timeout().unwrap(), Some(Duration::from_secs(20)));
        assert!(s.keepalive().unwrap());
        assert_eq!(s.tcp_keepalive_time().unwrap(), Duration::from_secs(60));
        assert_eq!(s.tcp_keepalive_interval().unwrap(), Duration::from_secs(15));
        assert_eq!(s.tcp_keepalive_retries().unwrap(), 4);
    }

    #[test]
    fn loopback_subnet() {
        let lo = interface_addresses("127.0.0.1".parse().unwrap());
        assert!(lo.contains(&("127.0.0.1".parse().unwrap(), 8)), "{lo:?}");
        assert!(interface_addresses("192.0.2.77".parse().unwrap()).is_empty());
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        assert_eq!(canonical("::ffff:10.0.0.2".parse().unwrap()), "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(canonical("2001:db8::1".parse().unwrap()), "2001:db8::1".parse::<IpAddr>().unwrap());
    }
}
