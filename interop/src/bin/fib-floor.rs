//! fib-floor: the kernel's own cost of a table, with no BGP. Writes the e2e-bench
//! table's prefixes (the same generator and seed, so the same routes) straight into
//! the kernel's table with rtnetlink, then removes them, and prints how long each
//! took. It is the floor the FIB scenario of e2e-bench (`--scenario fib`) compares the
//! daemons with. See interop/README.md, "End-to-end benchmark".
//!
//! ```text
//! ip netns exec NS fib-floor --via 10.78.1.2 --dev bn-dfeed [--prefixes N] [--seed N]
//!     [--batch OCTETS] [--table N] [--protocol N] [--metric N] [--stdin]
//! ip netns exec NS fib-floor --blackhole --first 10.0.0.0 --protocol 4 [--prefixes N] ...
//! ```
//!
//! It works in the network namespace it runs in (`ip netns exec`). Each route is one
//! RTM_NEWROUTE (`NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK`): destination, gateway `--via`,
//! output interface `--dev`, table, metric and protocol. Requests are encoded into a
//! buffer of at most `--batch` octets (64 KiB) and sent with one `sendmsg`; the
//! acknowledgements of a buffer (one per request, without the request echoed:
//! `NETLINK_CAP_ACK`) are read back before the next is sent. Removal is the same with
//! RTM_DELROUTE. Encoding is part of the time: it is work any daemon does too.
//!
//! `--blackhole` writes blackhole routes instead (no gateway, no interface: `--via`
//! and `--dev` are not needed), and `--first ADDR` takes N consecutive /32s from ADDR
//! instead of the bench table: the kernel routes e2e-bench's import scenario
//! (`--scenario import`) has a device announce, e.g. `--protocol 4` (static).
//!
//! Output lines (stdout): `FLOOR ready routes=N`, then per phase
//! `FLOOR install routes=N errors=E seconds=S sendmsg=M` (and `remove`); the first
//! error's text, if any, on stderr. With `--stdin` it waits for a line `install`, then
//! for a line `remove`, then for the end of its input (which ends it at any time), so
//! that the caller times each phase from when it asked and reads the process's
//! figures before it exits; without it, it installs and removes at once.

use std::io::{self, BufRead, Write as _};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bgp_core::prefix::Prefix;
use bgp_core::testkit::{v4_prefixes, Rng};
use interop::table::DEFAULT_SEED;
use rtnetlink::packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::protocols::NETLINK_ROUTE;
use rtnetlink::sys::{Socket, SocketAddr};

/// Receive buffer for the acknowledgements of one batch: each is its own skb (about
/// 700 octets of accounting each), and a whole batch's arrive before we read any.
const RCVBUF: usize = 32 << 20;
/// A bound on waiting for the acknowledgements of one batch.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

const USAGE: &str = "usage: fib-floor --via ADDR --dev IFNAME [--prefixes N] [--seed N] [--batch OCTETS] \
                     [--table N] [--protocol N] [--metric N] [--stdin]\n\
       fib-floor --blackhole [--first ADDR] ... (the same options but --via and --dev)\n\
  --via ADDR      gateway of every route (on a directly connected subnet of --dev)\n\
  --dev IFNAME    output interface\n\
  --blackhole     blackhole routes (no gateway, no interface; --via and --dev not needed)\n\
  --prefixes N    number of routes (default 1000000): e2e-bench's table of that size\n\
  --first ADDR    instead of the table: N consecutive /32s from ADDR\n\
  --seed N        table generator seed (default e2e-bench's)\n\
  --batch OCTETS  requests per sendmsg, in octets (default 65536)\n\
  --table N       kernel table (default 254, main)\n\
  --protocol N    route protocol (default 186, bgp)\n\
  --metric N      route metric (default 20)\n\
  --stdin         wait for a line `install`, then for a line `remove`, on standard input";

struct Args {
    via: Ipv4Addr,
    dev: String,
    prefixes: usize,
    seed: u64,
    batch: usize,
    table: u32,
    protocol: u8,
    metric: u32,
    stdin: bool,
    blackhole: bool,
    /// Consecutive /32s from this address instead of the bench table.
    first: Option<Ipv4Addr>,
}

fn parse_args() -> Result<Args, String> {
    let (mut via, mut dev) = (None, None);
    let mut a = Args {
        via: Ipv4Addr::UNSPECIFIED,
        dev: String::new(),
        prefixes: 1_000_000,
        seed: DEFAULT_SEED,
        batch: 64 * 1024,
        table: 254,
        protocol: 186,
        metric: 20,
        stdin: false,
        blackhole: false,
        first: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--stdin" => {
                a.stdin = true;
                continue;
            }
            "--blackhole" => {
                a.blackhole = true;
                continue;
            }
            _ => {}
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: bad value {value:?}");
        match flag.as_str() {
            "--via" => via = Some(value.parse().map_err(|_| bad())?),
            "--dev" => dev = Some(value.clone()),
            "--prefixes" | "--count" => a.prefixes = value.replace('_', "").parse().map_err(|_| bad())?,
            "--seed" => a.seed = value.parse().map_err(|_| bad())?,
            "--first" => a.first = Some(value.parse().map_err(|_| bad())?),
            "--batch" => a.batch = value.parse().ok().filter(|&b| (256..=1 << 20).contains(&b)).ok_or_else(bad)?,
            "--table" => a.table = value.parse().ok().filter(|&t| t != 0).ok_or_else(bad)?,
            "--protocol" => a.protocol = value.parse().map_err(|_| bad())?,
            "--metric" => a.metric = value.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.blackhole {
        if via.is_some() || dev.is_some() {
            return Err("a blackhole route has no --via or --dev".into());
        }
    } else {
        a.via = via.ok_or("--via is required")?;
        a.dev = dev.ok_or("--dev is required")?;
    }
    if a.prefixes == 0 {
        return Err("--prefixes must be at least 1".into());
    }
    if let Some(first) = a.first {
        if u64::from(u32::from(first)) + a.prefixes as u64 > 1 << 32 {
            return Err(format!("--first {first}: {} consecutive /32s do not fit", a.prefixes));
        }
    }
    Ok(a)
}

/// `n` consecutive /32s from `first`.
fn hosts(first: Ipv4Addr, n: usize) -> Vec<(Ipv4Addr, u8)> {
    (0..n as u32).map(|i| (Ipv4Addr::from(u32::from(first) + i), 32)).collect()
}

/// e2e-bench's table, prefixes only: `interop::table::Table::generate` draws them first
/// from the same generator, so the same seed and size give the same prefixes (the
/// attributes, drawn after, are of no use here).
fn prefixes(n: usize, seed: u64) -> Vec<(Ipv4Addr, u8)> {
    let mut rng = Rng(seed);
    v4_prefixes(&mut rng, n, &[10, 127])
        .into_iter()
        .map(|p| match p.prefix {
            Prefix::V4(p) => (p.addr(), p.prefix_len()),
            Prefix::V6(_) => unreachable!("an IPv4 generator"),
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Install,
    Remove,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Install => "install",
            Op::Remove => "remove",
        }
    }
}

/// The request for one route.
fn request(
    a: &Args,
    ifindex: u32,
    op: Op,
    (dst, len): (Ipv4Addr, u8),
    seq: u32,
) -> NetlinkMessage<RouteNetlinkMessage> {
    let mut route = RouteMessage::default();
    route.header = RouteHeader {
        address_family: AddressFamily::Inet,
        destination_prefix_length: len,
        // Tables above 255 only fit the attribute.
        table: u8::try_from(a.table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC),
        protocol: RouteProtocol::from(a.protocol),
        // Removal: any scope.
        scope: if op == Op::Install { RouteScope::Universe } else { RouteScope::NoWhere },
        kind: if a.blackhole { RouteType::BlackHole } else { RouteType::Unicast },
        ..RouteHeader::default()
    };
    route.attributes = vec![
        RouteAttribute::Table(a.table),
        RouteAttribute::Destination(RouteAddress::Inet(dst)),
        RouteAttribute::Priority(a.metric),
    ];
    let mut header = NetlinkHeader::default();
    header.sequence_number = seq;
    let payload = match op {
        Op::Install => {
            if !a.blackhole {
                route.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(a.via)));
                route.attributes.push(RouteAttribute::Oif(ifindex));
            }
            header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
            RouteNetlinkMessage::NewRoute(route)
        }
        Op::Remove => {
            header.flags = NLM_F_REQUEST | NLM_F_ACK;
            RouteNetlinkMessage::DelRoute(route)
        }
    };
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(payload));
    msg.finalize();
    msg
}

/// What one phase did.
struct Outcome {
    acked: usize,
    errors: usize,
    first_error: Option<String>,
    sendmsg: usize,
    elapsed: Duration,
}

/// One phase: every route, in buffers of at most `--batch` octets, one `sendmsg` each,
/// its acknowledgements read before the next.
fn apply(sock: &Socket, a: &Args, ifindex: u32, op: Op, routes: &[(Ipv4Addr, u8)]) -> Result<Outcome, String> {
    let start = Instant::now();
    let mut out = Outcome { acked: 0, errors: 0, first_error: None, sendmsg: 0, elapsed: Duration::ZERO };
    let mut batch = vec![0u8; a.batch];
    let mut rx: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut next = 0;
    while next < routes.len() {
        // Fill one buffer.
        let (mut used, first) = (0, next);
        while next < routes.len() {
            let msg = request(a, ifindex, op, routes[next], next as u32 + 1);
            let len = msg.buffer_len();
            if used + len > batch.len() {
                break;
            }
            msg.serialize(&mut batch[used..used + len]);
            used += len;
            next += 1;
        }
        if next == first {
            return Err(format!("--batch {} is smaller than one request", a.batch));
        }
        let sent = sock.send(&batch[..used], 0).map_err(|e| format!("sendmsg: {e}"))?;
        if sent != used {
            return Err(format!("sendmsg took {sent} of {used} octets"));
        }
        out.sendmsg += 1;
        // Read one acknowledgement per request of the buffer.
        let mut pending = next - first;
        let deadline = Instant::now() + ACK_TIMEOUT;
        while pending > 0 {
            if Instant::now() >= deadline {
                return Err(format!("{pending} acknowledgements missing after {ACK_TIMEOUT:?}"));
            }
            rx.clear();
            sock.recv(&mut rx, 0).map_err(|e| format!("recv: {e} ({pending} acknowledgements missing)"))?;
            let mut off = 0;
            while off < rx.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[off..])
                    .map_err(|e| format!("an undecodable answer: {e}"))?;
                let len = msg.header.length as usize;
                if let NetlinkPayload::Error(e) = &msg.payload {
                    pending = pending.saturating_sub(1);
                    out.acked += 1;
                    if e.code.is_some() {
                        out.errors += 1;
                        if out.first_error.is_none() {
                            let seq = msg.header.sequence_number as usize;
                            let which = seq.checked_sub(1).and_then(|i| routes.get(i));
                            out.first_error = Some(match which {
                                Some((d, l)) => format!("{d}/{l}: {}", e.to_io()),
                                None => e.to_io().to_string(),
                            });
                        }
                    }
                }
                // Netlink messages are 4-octet aligned.
                off += len.max(16).next_multiple_of(4);
            }
        }
    }
    out.elapsed = start.elapsed();
    Ok(out)
}

fn ifindex(name: &str) -> Result<u32, String> {
    nix::net::if_::if_nametoindex(name).map_err(|e| format!("interface {name}: {e}"))
}

fn socket() -> Result<Socket, String> {
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| format!("netlink socket: {e}"))?;
    sock.bind(&SocketAddr::new(0, 0)).map_err(|e| format!("bind: {e}"))?;
    // Acknowledgements without the request echoed.
    sock.set_cap_ack(true).map_err(|e| format!("NETLINK_CAP_ACK: {e}"))?;
    // Past net.core.rmem_max (root only), or the acknowledgements of a batch overflow.
    nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBufForce, &RCVBUF)
        .map_err(|e| format!("SO_RCVBUFFORCE: {e}"))?;
    Ok(sock)
}

fn phase(sock: &Socket, a: &Args, ifindex: u32, op: Op, routes: &[(Ipv4Addr, u8)]) -> Result<(), String> {
    let o = apply(sock, a, ifindex, op, routes)?;
    println!(
        "FLOOR {} routes={} errors={} seconds={:.6} sendmsg={}",
        op.name(),
        o.acked,
        o.errors,
        o.elapsed.as_secs_f64(),
        o.sendmsg
    );
    let _ = io::stdout().flush();
    if let Some(e) = o.first_error {
        eprintln!("fib-floor: {} of {} {} requests failed; the first: {e}", o.errors, routes.len(), op.name());
    }
    Ok(())
}

/// Waits for a line `word` on standard input; false at the end of input.
fn wait_for(lines: &mut impl Iterator<Item = io::Result<String>>, word: &str) -> Result<bool, String> {
    for line in lines {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        match line.trim() {
            w if w == word => return Ok(true),
            "" => {}
            other => return Err(format!("expected `{word}` on stdin, got {other:?}")),
        }
    }
    Ok(false)
}

fn run(a: &Args) -> Result<(), String> {
    let ifindex = if a.blackhole { 0 } else { ifindex(&a.dev)? };
    let routes = match a.first {
        Some(first) => hosts(first, a.prefixes),
        None => prefixes(a.prefixes, a.seed),
    };
    let sock = socket()?;
    println!("FLOOR ready routes={}", routes.len());
    let _ = io::stdout().flush();
    let stdin = io::stdin();
    let mut lines = stdin.lock().lines();
    if a.stdin && !wait_for(&mut lines, "install")? {
        return Ok(());
    }
    phase(&sock, a, ifindex, Op::Install, &routes)?;
    if a.stdin && !wait_for(&mut lines, "remove")? {
        return Ok(());
    }
    phase(&sock, a, ifindex, Op::Remove, &routes)?;
    if a.stdin {
        // Until the caller has read our figures from /proc (peak RSS, CPU time).
        for line in lines {
            line.map_err(|e| format!("stdin: {e}"))?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("fib-floor: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fib-floor: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use interop::table::{Table, TableSpec};

    #[test]
    fn same_prefixes_as_the_bench_table() {
        let table = Table::generate(&TableSpec::new(3000, 65001, Ipv4Addr::new(10, 78, 1, 2)));
        let ours = prefixes(3000, DEFAULT_SEED);
        let theirs: Vec<(Ipv4Addr, u8)> = table
            .prefixes
            .iter()
            .map(|n| match n.prefix {
                Prefix::V4(p) => (p.addr(), p.prefix_len()),
                Prefix::V6(_) => unreachable!(),
            })
            .collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn requests_fit_and_carry_the_route() {
        let a = Args {
            via: Ipv4Addr::new(10, 78, 1, 2),
            dev: "x".into(),
            prefixes: 1,
            seed: 1,
            batch: 65536,
            table: 254,
            protocol: 186,
            metric: 20,
            stdin: false,
            blackhole: false,
            first: None,
        };
        let m = request(&a, 7, Op::Install, (Ipv4Addr::new(192, 0, 2, 0), 24), 5);
        // Header 16, rtmsg 12, five 8-octet attributes.
        assert_eq!(m.buffer_len(), 68);
        let mut buf = vec![0; m.buffer_len()];
        m.serialize(&mut buf);
        let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf).unwrap();
        assert_eq!(back.header.sequence_number, 5);
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) = back.payload else { panic!() };
        assert_eq!(r.header.destination_prefix_length, 24);
        assert!(r.attributes.contains(&RouteAttribute::Oif(7)));
        let d = request(&a, 7, Op::Remove, (Ipv4Addr::new(192, 0, 2, 0), 24), 6);
        assert_eq!(d.buffer_len(), 52);
    }

    #[test]
    fn blackhole_requests_have_no_next_hop() {
        let mut a = Args {
            via: Ipv4Addr::UNSPECIFIED,
            dev: String::new(),
            prefixes: 3,
            seed: 1,
            batch: 65536,
            table: 254,
            protocol: 4,
            metric: 20,
            stdin: false,
            blackhole: true,
            first: Some(Ipv4Addr::new(10, 0, 0, 254)),
        };
        let routes = hosts(a.first.unwrap(), a.prefixes);
        assert_eq!(routes[2], (Ipv4Addr::new(10, 0, 1, 0), 32));
        let m = request(&a, 0, Op::Install, routes[0], 1);
        // Header 16, rtmsg 12, three 8-octet attributes.
        assert_eq!(m.buffer_len(), 52);
        let mut buf = vec![0; m.buffer_len()];
        m.serialize(&mut buf);
        let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf).unwrap();
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) = back.payload else { panic!() };
        assert_eq!(r.header.kind, RouteType::BlackHole);
        assert_eq!(r.header.protocol, RouteProtocol::Static);
        assert!(!r.attributes.iter().any(|x| matches!(x, RouteAttribute::Gateway(_) | RouteAttribute::Oif(_))));
        a.blackhole = false;
        assert_eq!(request(&a, 7, Op::Install, routes[0], 1).buffer_len(), 68);
    }
}
