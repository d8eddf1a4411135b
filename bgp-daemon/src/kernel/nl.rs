//! The rtnetlink wire format, by hand: the few message kinds the reader and the FIB
//! writer use (`linux/netlink.h`, `linux/rtnetlink.h`, `linux/if_addr.h`,
//! `linux/if_link.h`). Pure functions over byte slices, no I/O, so they are unit
//! tested without a kernel. Hand-written rather than `netlink-packet-route`'s typed
//! messages because the writer builds a million of them in a few seconds and the
//! reader parses as many: no allocation per attribute here.
//!
//! Every integer in a netlink message is in host byte order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_core::kernel::{FibNextHop, KernelNextHop, KernelRoute, KernelUpdate, RouteKey, RouteType};
use bgp_core::prefix::{Prefix, Prefix4, Prefix6};
use socket2::SockFilter;

// nlmsghdr
pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
/// In an ack: the request was not echoed past its header (`NETLINK_CAP_ACK`).
pub const NLM_F_CAPPED: u16 = 0x100;
/// In an ack: extended ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
pub const NLMSGERR_ATTR_MSG: u16 = 1;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;

pub const RTNLGRP_LINK: u32 = 1;
pub const RTNLGRP_IPV4_IFADDR: u32 = 5;
pub const RTNLGRP_IPV4_ROUTE: u32 = 7;
pub const RTNLGRP_IPV6_IFADDR: u32 = 9;
pub const RTNLGRP_IPV6_ROUTE: u32 = 11;

pub const AF_INET: u8 = libc::AF_INET as u8;
pub const AF_INET6: u8 = libc::AF_INET6 as u8;
const AF_BRIDGE: u8 = libc::AF_BRIDGE as u8;

// rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type (u8 each), flags (u32)
pub const RTMSG_LEN: usize = 12;
pub const RT_TABLE_UNSPEC: u8 = 0;
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_NOWHERE: u8 = 255;
pub const RTN_UNSPEC: u8 = 0;
pub const RTN_UNICAST: u8 = 1;
pub const RTM_F_CLONED: u32 = 0x200;

pub const RTA_DST: u16 = 1;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_PRIORITY: u16 = 6;
pub const RTA_MULTIPATH: u16 = 9;
pub const RTA_TABLE: u16 = 15;
pub const RTA_VIA: u16 = 18;

// ifaddrmsg: family, prefixlen, flags, scope (u8), index (u32)
const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
// ifinfomsg: family, pad (u8), type (u16), index (i32), flags, change (u32)
const IFINFOMSG_LEN: usize = 16;
const IFLA_IFNAME: u16 = 3;

/// Netlink's 4-byte alignment.
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A netlink message header and its payload (after the header).
#[derive(Clone, Copy, Debug)]
pub struct Msg<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// The messages in one datagram. Stops at the first malformed length.
pub fn messages(mut buf: &[u8]) -> impl Iterator<Item = Msg<'_>> {
    std::iter::from_fn(move || {
        if buf.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32_at(buf, 0) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return None;
        }
        let msg =
            Msg { kind: u16_at(buf, 4), flags: u16_at(buf, 6), seq: u32_at(buf, 8), payload: &buf[NLMSG_HDRLEN..len] };
        buf = &buf[align(len).min(buf.len())..];
        Some(msg)
    })
}

/// Route attributes (`rtattr`, also `nlattr` without its flag bits): (type, payload).
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16_at(buf, 0) as usize;
        if len < 4 || len > buf.len() {
            return None;
        }
        // Strip NLA_F_NESTED / NLA_F_NET_BYTEORDER.
        let item = (u16_at(buf, 2) & 0x3fff, &buf[4..len]);
        buf = &buf[align(len).min(buf.len())..];
        Some(item)
    })
}

/// An ack or error (`NLMSG_ERROR`): errno 0 is an ack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// Positive errno, 0 for success.
    pub errno: i32,
    /// `NLMSGERR_ATTR_MSG`, the kernel's extended ack text.
    pub message: Option<String>,
}

/// Parses an `NLMSG_ERROR` payload; `flags` are the error message's header flags.
pub fn parse_ack(flags: u16, payload: &[u8]) -> Option<Ack> {
    if payload.len() < 4 {
        return None;
    }
    let errno = -(u32_at(payload, 0) as i32);
    let mut message = None;
    if flags & NLM_F_ACK_TLVS != 0 && payload.len() >= 4 + NLMSG_HDRLEN {
        // The original request: its header only when capped, else all of it.
        let orig = if flags & NLM_F_CAPPED != 0 { NLMSG_HDRLEN } else { u32_at(payload, 4) as usize };
        let tlvs = payload.get(4 + align(orig)..).unwrap_or(&[]);
        for (kind, value) in attrs(tlvs) {
            if kind == NLMSGERR_ATTR_MSG {
                let end = value.iter().position(|&c| c == 0).unwrap_or(value.len());
                message = Some(String::from_utf8_lossy(&value[..end]).into_owned());
            }
        }
    }
    Some(Ack { errno, message })
}

/// The errno's description, without std's " (os error N)".
pub fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Appends a message header (its length patched by [`finish`]); returns its start.
pub fn begin(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    start
}

/// Patches the length of the message started at `start` and pads it.
pub fn finish(buf: &mut Vec<u8>, start: usize) {
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    buf.resize(align(buf.len()), 0);
}

pub fn put_attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    buf.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(align(buf.len()), 0);
}

/// A dump request for links, addresses or routes of one family (`AF_UNSPEC`: all).
/// A route dump may carry a kernel-side filter (honoured with
/// `NETLINK_GET_STRICT_CHK`): `protocol` and `table` when not 0.
pub fn dump_request(buf: &mut Vec<u8>, kind: u16, family: u8, seq: u32, table: u32, protocol: u8) {
    let start = begin(buf, kind, NLM_F_REQUEST | NLM_F_DUMP, seq);
    match kind {
        RTM_GETLINK => {
            buf.push(family);
            buf.resize(buf.len() + IFINFOMSG_LEN - 1, 0);
        }
        RTM_GETADDR => {
            buf.push(family);
            buf.resize(buf.len() + IFADDRMSG_LEN - 1, 0);
        }
        _ => {
            let t = if table != 0 && table < 256 { table as u8 } else { RT_TABLE_UNSPEC };
            buf.extend_from_slice(&[family, 0, 0, 0, t, protocol, 0, 0]);
            buf.extend_from_slice(&0u32.to_ne_bytes());
            if table != 0 {
                put_attr(buf, RTA_TABLE, &table.to_ne_bytes());
            }
        }
    }
    finish(buf, start);
}

fn addr_bytes(addr: IpAddr) -> ([u8; 16], usize) {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => {
            out[..4].copy_from_slice(&a.octets());
            (out, 4)
        }
        IpAddr::V6(a) => (a.octets(), 16),
    }
}

fn prefix_parts(prefix: Prefix) -> (u8, IpAddr, u8) {
    match prefix {
        Prefix::V4(p) => (AF_INET, IpAddr::V4(p.addr()), p.prefix_len()),
        Prefix::V6(p) => (AF_INET6, IpAddr::V6(p.addr()), p.prefix_len()),
    }
}

/// A gateway as `RTA_GATEWAY`, or `RTA_VIA` for an IPv6 gateway of an IPv4 route.
fn put_gateway(buf: &mut Vec<u8>, family: u8, gateway: IpAddr) {
    let (bytes, len) = addr_bytes(gateway);
    match (family, gateway) {
        (AF_INET, IpAddr::V6(_)) => {
            let mut via = Vec::with_capacity(18);
            via.extend_from_slice(&u16::from(AF_INET6).to_ne_bytes());
            via.extend_from_slice(&bytes[..len]);
            put_attr(buf, RTA_VIA, &via);
        }
        _ => put_attr(buf, RTA_GATEWAY, &bytes[..len]),
    }
}

/// Where and how a FIB route is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteTarget {
    pub table: u32,
    pub protocol: u8,
    pub metric: u32,
}

fn route_header(buf: &mut Vec<u8>, family: u8, dst_len: u8, target: RouteTarget, scope: u8, kind: u8) {
    let t = if target.table < 256 { target.table as u8 } else { RT_TABLE_UNSPEC };
    buf.extend_from_slice(&[family, dst_len, 0, 0, t, target.protocol, scope, kind]);
    buf.extend_from_slice(&0u32.to_ne_bytes());
}

fn route_key_attrs(buf: &mut Vec<u8>, dst: IpAddr, target: RouteTarget) {
    put_attr(buf, RTA_TABLE, &target.table.to_ne_bytes());
    let (bytes, len) = addr_bytes(dst);
    put_attr(buf, RTA_DST, &bytes[..len]);
    put_attr(buf, RTA_PRIORITY, &target.metric.to_ne_bytes());
}

/// `RTM_NEWROUTE` for a unicast route via `next_hops` (one: `RTA_GATEWAY` and
/// `RTA_OIF`; several: `RTA_MULTIPATH`), with NLM_F_REQUEST|NLM_F_ACK and `flags`
/// (NLM_F_CREATE with NLM_F_REPLACE or NLM_F_EXCL).
pub fn new_route(
    buf: &mut Vec<u8>,
    seq: u32,
    flags: u16,
    prefix: Prefix,
    next_hops: &[FibNextHop],
    target: RouteTarget,
) {
    let (family, dst, len) = prefix_parts(prefix);
    let start = begin(buf, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | flags, seq);
    route_header(buf, family, len, target, RT_SCOPE_UNIVERSE, RTN_UNICAST);
    route_key_attrs(buf, dst, target);
    match next_hops {
        [] => {}
        [nh] => {
            put_gateway(buf, family, nh.gateway);
            if nh.ifindex != 0 {
                put_attr(buf, RTA_OIF, &nh.ifindex.to_ne_bytes());
            }
        }
        many => {
            let attr = buf.len();
            put_attr(buf, RTA_MULTIPATH, &[]);
            for nh in many {
                let entry = buf.len();
                // rtnexthop: len (u16), flags (u8), hops (u8, weight - 1), ifindex (i32)
                buf.extend_from_slice(&0u16.to_ne_bytes());
                buf.extend_from_slice(&[0, 0]);
                buf.extend_from_slice(&nh.ifindex.to_ne_bytes());
                put_gateway(buf, family, nh.gateway);
                let entry_len = (buf.len() - entry) as u16;
                buf[entry..entry + 2].copy_from_slice(&entry_len.to_ne_bytes());
            }
            let attr_len = (buf.len() - attr) as u16;
            buf[attr..attr + 2].copy_from_slice(&attr_len.to_ne_bytes());
        }
    }
    finish(buf, start);
}

/// `RTM_DELROUTE` for our route (protocol, table and metric set, so that only ours
/// matches), with NLM_F_REQUEST|NLM_F_ACK.
pub fn del_route(buf: &mut Vec<u8>, seq: u32, prefix: Prefix, target: RouteTarget) {
    let (family, dst, len) = prefix_parts(prefix);
    let start = begin(buf, RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, seq);
    route_header(buf, family, len, target, RT_SCOPE_NOWHERE, RTN_UNSPEC);
    route_key_attrs(buf, dst, target);
    finish(buf, start);
}

/// A parsed route message, before the reader's filtering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRoute {
    pub route: KernelRoute,
    /// Cloned (cache) routes, and source-specific or TOS routes, which a
    /// [`RouteKey`] cannot tell apart from the plain route: the reader skips them.
    pub skip: bool,
}

fn ip_from(family: u8, b: &[u8]) -> Option<IpAddr> {
    match (family, b.len()) {
        (AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        (AF_INET6, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

/// `RTA_VIA`: `struct rtvia { sa_family_t family; u8 addr[]; }`.
fn via(b: &[u8]) -> Option<IpAddr> {
    if b.len() < 2 {
        return None;
    }
    let family = u16_at(b, 0);
    ip_from(u8::try_from(family).ok()?, &b[2..])
}

fn gateway_of(family: u8, kind: u16, value: &[u8]) -> Option<IpAddr> {
    match kind {
        RTA_GATEWAY => ip_from(family, value),
        RTA_VIA => via(value),
        _ => None,
    }
}

/// Parses an `RTM_NEWROUTE`/`RTM_DELROUTE` payload (`rtmsg` and attributes).
/// `None`: not IPv4 or IPv6, or malformed.
pub fn parse_route(payload: &[u8]) -> Option<ParsedRoute> {
    if payload.len() < RTMSG_LEN {
        return None;
    }
    let (family, dst_len, src_len, tos, rtm_table, protocol, _scope, kind) =
        (payload[0], payload[1], payload[2], payload[3], payload[4], payload[5], payload[6], payload[7]);
    let flags = u32_at(payload, 8);
    if family != AF_INET && family != AF_INET6 {
        return None;
    }
    let mut table = u32::from(rtm_table);
    let mut metric = 0;
    let mut dst = None;
    let mut gateway = None;
    let mut oif = 0;
    let mut multipath = None;
    for (t, v) in attrs(&payload[RTMSG_LEN..]) {
        match t {
            RTA_TABLE if v.len() == 4 => table = u32_at(v, 0),
            RTA_PRIORITY if v.len() == 4 => metric = u32_at(v, 0),
            RTA_DST => dst = ip_from(family, v),
            RTA_GATEWAY | RTA_VIA => gateway = gateway_of(family, t, v),
            RTA_OIF if v.len() == 4 => oif = u32_at(v, 0),
            RTA_MULTIPATH => multipath = Some(v),
            _ => {}
        }
    }
    let dst = dst.unwrap_or(if family == AF_INET {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    });
    let prefix = match dst {
        IpAddr::V4(a) => Prefix::V4(Prefix4::new(a, dst_len)?),
        IpAddr::V6(a) => Prefix::V6(Prefix6::new(a, dst_len)?),
    };
    let mut next_hops = Vec::new();
    if let Some(mut mp) = multipath {
        while mp.len() >= 8 {
            let len = u16_at(mp, 0) as usize;
            if len < 8 || len > mp.len() {
                break;
            }
            let ifindex = u32_at(mp, 4);
            let gateway = attrs(&mp[8..len]).find_map(|(t, v)| gateway_of(family, t, v));
            next_hops.push(KernelNextHop { gateway, ifindex });
            mp = &mp[align(len).min(mp.len())..];
        }
    } else if gateway.is_some() || oif != 0 {
        next_hops.push(KernelNextHop { gateway, ifindex: oif });
    }
    let kind = RouteType::from_kernel(kind);
    if matches!(kind, RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit) {
        next_hops.clear();
    }
    Some(ParsedRoute {
        route: KernelRoute { key: RouteKey { table, prefix, metric }, protocol, kind, next_hops },
        skip: flags & RTM_F_CLONED != 0 || src_len != 0 || tos != 0,
    })
}

/// Parses an `RTM_NEWADDR`/`RTM_DELADDR` payload into an update.
pub fn parse_addr(payload: &[u8], deleted: bool) -> Option<KernelUpdate> {
    if payload.len() < IFADDRMSG_LEN {
        return None;
    }
    let (family, prefix_len, ifindex) = (payload[0], payload[1], u32_at(payload, 4));
    let (mut local, mut address) = (None, None);
    for (t, v) in attrs(&payload[IFADDRMSG_LEN..]) {
        match t {
            IFA_LOCAL => local = ip_from(family, v),
            IFA_ADDRESS => address = ip_from(family, v),
            _ => {}
        }
    }
    // IPv4: IFA_LOCAL is our address, IFA_ADDRESS the peer's on point-to-point links.
    let address = local.or(address)?;
    Some(if deleted {
        KernelUpdate::AddressDeleted { ifindex, address, prefix_len }
    } else {
        KernelUpdate::Address { ifindex, address, prefix_len }
    })
}

/// Parses an `RTM_NEWLINK`/`RTM_DELLINK` payload: the interface index and name.
/// `None` for bridge port messages (`AF_BRIDGE`), which are about bridge
/// membership, not the link.
pub fn parse_link(payload: &[u8]) -> Option<(u32, Option<String>)> {
    if payload.len() < IFINFOMSG_LEN || payload[0] == AF_BRIDGE {
        return None;
    }
    let ifindex = u32_at(payload, 4);
    let name = attrs(&payload[IFINFOMSG_LEN..]).find(|(t, _)| *t == IFLA_IFNAME).map(|(_, v)| {
        let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
        String::from_utf8_lossy(&v[..end]).into_owned()
    });
    Some((ifindex, name))
}

/// Whether an `RTM_NEWLINK` payload says the link is administratively up (`IFF_UP` in
/// `ifi_flags`).
pub fn link_is_up(payload: &[u8]) -> bool {
    payload.len() >= IFINFOMSG_LEN && u32_at(payload, 8) & libc::IFF_UP as u32 != 0
}

// Classic BPF opcodes (linux/filter.h).
const BPF_LD_H_ABS: u16 = 0x28;
const BPF_LD_B_ABS: u16 = 0x30;
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_LD_W_LEN: u16 = 0x80;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;

/// A classic BPF program for the multicast socket that drops `RTM_NEWROUTE` and
/// `RTM_DELROUTE` of `protocol` in `table` (our own routes), before they are queued:
/// installing a million routes would otherwise queue a million notifications.
///
/// Each multicast datagram holds one message. Netlink integers are host-endian while
/// BPF loads are big-endian, so the constants are the host bytes read big-endian.
/// The table is `rtm_table` (offset 16+4) when it is below 256; above, the kernel
/// puts `RT_TABLE_COMPAT` there, and the program checks the first attribute, which
/// the kernel always makes `RTA_TABLE` (offsets 28..36); whatever it cannot decide
/// is accepted, and the reader filters again in user space.
pub fn own_route_filter(table: u32, protocol: u8) -> Vec<SockFilter> {
    own_route_program(table, protocol).into_iter().map(|(code, jt, jf, k)| SockFilter::new(code, jt, jf, k)).collect()
}

/// [`own_route_filter`]'s instructions: (code, jt, jf, k).
pub fn own_route_program(table: u32, protocol: u8) -> Vec<(u16, u8, u8, u32)> {
    let be16 = |v: u16| u32::from(u16::from_be_bytes(v.to_ne_bytes()));
    let be32 = |v: u32| u32::from_be_bytes(v.to_ne_bytes());
    // Instructions and jump offsets relative to the next instruction; DROP and
    // ACCEPT are the last two.
    let mut prog: Vec<(u16, Target, Target, u32)> = vec![
        (BPF_LD_H_ABS, Target::Next, Target::Next, 4),
        (BPF_JEQ_K, Target::Skip(1), Target::Next, be16(RTM_NEWROUTE)),
        (BPF_JEQ_K, Target::Next, Target::Accept, be16(RTM_DELROUTE)),
        (BPF_LD_B_ABS, Target::Next, Target::Next, NLMSG_HDRLEN as u32 + 5),
        (BPF_JEQ_K, Target::Next, Target::Accept, u32::from(protocol)),
    ];
    if table < 256 {
        prog.push((BPF_LD_B_ABS, Target::Next, Target::Next, NLMSG_HDRLEN as u32 + 4));
        prog.push((BPF_JEQ_K, Target::Drop, Target::Accept, table));
    } else {
        let attr = (NLMSG_HDRLEN + RTMSG_LEN) as u32;
        prog.push((BPF_LD_W_LEN, Target::Next, Target::Next, 0));
        prog.push((BPF_JGE_K, Target::Next, Target::Accept, attr + 8));
        prog.push((BPF_LD_H_ABS, Target::Next, Target::Next, attr + 2));
        prog.push((BPF_JEQ_K, Target::Next, Target::Accept, be16(RTA_TABLE)));
        prog.push((BPF_LD_W_ABS, Target::Next, Target::Next, attr + 4));
        prog.push((BPF_JEQ_K, Target::Drop, Target::Accept, be32(table)));
    }
    let drop_at = prog.len();
    let accept_at = prog.len() + 1;
    let mut out: Vec<(u16, u8, u8, u32)> = prog
        .iter()
        .enumerate()
        .map(|(i, &(code, jt, jf, k))| {
            let off = |t: Target| -> u8 {
                let to = match t {
                    Target::Next => i + 1,
                    Target::Skip(n) => i + 1 + n,
                    Target::Drop => drop_at,
                    Target::Accept => accept_at,
                };
                (to - i - 1) as u8
            };
            (code, off(jt), off(jf), k)
        })
        .collect();
    out.push((BPF_RET_K, 0, 0, 0));
    out.push((BPF_RET_K, 0, 0, u32::MAX));
    out
}

#[derive(Clone, Copy)]
enum Target {
    Next,
    Skip(usize),
    Drop,
    Accept,
}

/// Runs a classic BPF program of [`own_route_filter`]'s instruction set over a
/// packet: the unit tests' model of the kernel's interpreter.
#[cfg(test)]
pub fn run_filter(prog: &[(u16, u8, u8, u32)], packet: &[u8]) -> u32 {
    let mut acc: u32 = 0;
    let mut pc = 0;
    loop {
        let (code, jt, jf, k) = prog[pc];
        pc += 1;
        let k_us = k as usize;
        match code {
            BPF_LD_H_ABS => match packet.get(k_us..k_us + 2) {
                Some(b) => acc = u32::from(u16::from_be_bytes([b[0], b[1]])),
                None => return 0,
            },
            BPF_LD_B_ABS => match packet.get(k_us) {
                Some(&b) => acc = u32::from(b),
                None => return 0,
            },
            BPF_LD_W_ABS => match packet.get(k_us..k_us + 4) {
                Some(b) => acc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                None => return 0,
            },
            BPF_LD_W_LEN => acc = packet.len() as u32,
            BPF_JEQ_K => pc += usize::from(if acc == k { jt } else { jf }),
            BPF_JGE_K => pc += usize::from(if acc >= k { jt } else { jf }),
            BPF_RET_K => return k,
            other => panic!("opcode {other:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn nh(gw: &str, ifindex: u32) -> FibNextHop {
        FibNextHop { gateway: gw.parse().unwrap(), ifindex }
    }

    fn target(table: u32) -> RouteTarget {
        RouteTarget { table, protocol: 186, metric: 20 }
    }

    /// Builds a message and parses it back as the reader would.
    fn roundtrip(prefix: Prefix, hops: &[FibNextHop], t: RouteTarget) -> (Msg<'static>, KernelRoute) {
        let mut buf = Vec::new();
        new_route(&mut buf, 7, NLM_F_CREATE | NLM_F_EXCL, prefix, hops, t);
        let buf: &'static [u8] = Box::leak(buf.into_boxed_slice());
        let msgs: Vec<_> = messages(buf).collect();
        assert_eq!(msgs.len(), 1);
        let route = parse_route(msgs[0].payload).unwrap();
        assert!(!route.skip);
        (msgs[0], route.route)
    }

    #[test]
    fn single_next_hop_route_roundtrips() {
        let (msg, route) = roundtrip(p("10.1.2.0/24"), &[nh("192.0.2.1", 3)], target(254));
        assert_eq!(msg.kind, RTM_NEWROUTE);
        assert_eq!(msg.seq, 7);
        assert_eq!(msg.flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        assert_eq!(msg.payload[4], 254);
        assert_eq!(route.key, RouteKey { table: 254, prefix: p("10.1.2.0/24"), metric: 20 });
        assert_eq!(route.protocol, 186);
        assert_eq!(route.kind, RouteType::Unicast);
        assert_eq!(route.next_hops, vec![KernelNextHop { gateway: Some("192.0.2.1".parse().unwrap()), ifindex: 3 }]);
    }

    #[test]
    fn multipath_and_big_tables_roundtrip() {
        let hops = [nh("2001:db8::1", 2), nh("2001:db8::2", 0), nh("fe80::1", 5)];
        let (msg, route) = roundtrip(p("2001:db8:7::/48"), &hops, target(1000));
        assert_eq!(msg.payload[4], RT_TABLE_UNSPEC);
        assert_eq!(route.key.table, 1000);
        let got: Vec<_> = route.next_hops.iter().map(|h| (h.gateway.unwrap(), h.ifindex)).collect();
        let want: Vec<_> = hops.iter().map(|h| (h.gateway, h.ifindex)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn ipv6_gateway_of_ipv4_route_is_via() {
        let (_, route) = roundtrip(p("0.0.0.0/0"), &[nh("fe80::1", 4)], target(254));
        assert_eq!(route.key.prefix, p("0.0.0.0/0"));
        assert_eq!(route.next_hops, vec![KernelNextHop { gateway: Some("fe80::1".parse().unwrap()), ifindex: 4 }]);
    }

    #[test]
    fn delete_carries_protocol_table_and_metric() {
        let mut buf = Vec::new();
        del_route(&mut buf, 9, p("10.0.0.0/8"), RouteTarget { table: 100, protocol: 186, metric: 33 });
        let msg = messages(&buf).next().unwrap();
        assert_eq!(msg.kind, RTM_DELROUTE);
        assert_eq!(msg.payload[5], 186);
        assert_eq!(msg.payload[6], RT_SCOPE_NOWHERE);
        let route = parse_route(msg.payload).unwrap().route;
        assert_eq!(route.key, RouteKey { table: 100, prefix: p("10.0.0.0/8"), metric: 33 });
    }

    #[test]
    fn several_messages_in_one_buffer() {
        let mut buf = Vec::new();
        for seq in 1..=3 {
            del_route(&mut buf, seq, p("10.0.0.0/8"), target(254));
        }
        let seqs: Vec<_> = messages(&buf).map(|m| m.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        // A truncated tail is not a message.
        assert_eq!(messages(&buf[..buf.len() - 1]).count(), 2);
    }

    fn error_msg(errno: i32, text: Option<&str>) -> Vec<u8> {
        let mut buf = Vec::new();
        let flags = NLM_F_CAPPED | if text.is_some() { NLM_F_ACK_TLVS } else { 0 };
        let start = begin(&mut buf, NLMSG_ERROR, flags, 42);
        buf.extend_from_slice(&(-errno).to_ne_bytes());
        let orig = begin(&mut buf, RTM_NEWROUTE, 0, 42);
        buf[orig..orig + 4].copy_from_slice(&80u32.to_ne_bytes());
        if let Some(text) = text {
            let mut v = text.as_bytes().to_vec();
            v.push(0);
            put_attr(&mut buf, NLMSGERR_ATTR_MSG, &v);
        }
        finish(&mut buf, start);
        buf
    }

    #[test]
    fn acks_and_extended_acks() {
        let buf = error_msg(0, None);
        let msg = messages(&buf).next().unwrap();
        assert_eq!((msg.kind, msg.seq), (NLMSG_ERROR, 42));
        assert_eq!(parse_ack(msg.flags, msg.payload), Some(Ack { errno: 0, message: None }));
        let buf = error_msg(libc::EINVAL, Some("Nexthop has invalid gateway"));
        let msg = messages(&buf).next().unwrap();
        let ack = parse_ack(msg.flags, msg.payload).unwrap();
        assert_eq!(ack.errno, libc::EINVAL);
        assert_eq!(ack.message.as_deref(), Some("Nexthop has invalid gateway"));
        assert_eq!(strerror(libc::ESRCH), "No such process");
    }

    fn route_msg(kind: u16, table: u32, protocol: u8) -> Vec<u8> {
        let mut buf = Vec::new();
        let t = RouteTarget { table, protocol, metric: 20 };
        new_route(&mut buf, 1, 0, p("10.9.0.0/16"), &[nh("192.0.2.1", 2)], t);
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf
    }

    #[test]
    fn filter_drops_only_our_routes() {
        for table in [254u32, 100, 1000, 70000] {
            let prog = own_route_program(table, 186);
            for kind in [RTM_NEWROUTE, RTM_DELROUTE] {
                assert_eq!(run_filter(&prog, &route_msg(kind, table, 186)), 0, "table {table}");
                assert_ne!(run_filter(&prog, &route_msg(kind, table, 12)), 0);
                assert_ne!(run_filter(&prog, &route_msg(kind, table + 1, 186)), 0);
                assert_ne!(run_filter(&prog, &route_msg(kind, 253, 186)), 0);
            }
            // Not a route message: accepted, even with the protocol byte matching.
            assert_ne!(run_filter(&prog, &route_msg(RTM_NEWADDR, table, 186)), 0);
            let mut link = Vec::new();
            dump_request(&mut link, RTM_GETLINK, 0, 1, 0, 0);
            link[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
            assert_ne!(run_filter(&prog, &link), 0);
        }
    }

    #[test]
    fn addresses_and_links_parse() {
        let mut buf = Vec::new();
        let start = begin(&mut buf, RTM_NEWADDR, 0, 0);
        buf.extend_from_slice(&[AF_INET, 24, 0, 0]);
        buf.extend_from_slice(&7u32.to_ne_bytes());
        put_attr(&mut buf, IFA_ADDRESS, &[192, 0, 2, 9]);
        put_attr(&mut buf, IFA_LOCAL, &[192, 0, 2, 1]);
        finish(&mut buf, start);
        let msg = messages(&buf).next().unwrap();
        assert_eq!(
            parse_addr(msg.payload, false),
            Some(KernelUpdate::Address { ifindex: 7, address: "192.0.2.1".parse().unwrap(), prefix_len: 24 })
        );
        let mut buf = Vec::new();
        let start = begin(&mut buf, RTM_NEWLINK, 0, 0);
        buf.extend_from_slice(&[0, 0, 0, 0]);
        buf.extend_from_slice(&7u32.to_ne_bytes());
        buf.extend_from_slice(&[0; 8]);
        put_attr(&mut buf, IFLA_IFNAME, b"eth0\0");
        finish(&mut buf, start);
        let msg = messages(&buf).next().unwrap();
        assert_eq!(parse_link(msg.payload), Some((7, Some("eth0".to_string()))));
        let mut bridge = msg.payload.to_vec();
        bridge[0] = AF_BRIDGE;
        assert_eq!(parse_link(&bridge), None);
    }
}
