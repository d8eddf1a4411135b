//! e2e-bench: end-to-end convergence of a realistic table through a device under test
//! (BIRD, FRR's bgpd, or our daemon), side by side in one run; or what the device's
//! memory grows by when it refuses a whole table; or how long it takes to put a table
//! into its kernel's routing table and take it out again, or to announce the routes
//! another program puts there and withdraw them. See interop/README.md,
//! "End-to-end benchmark".
//!
//! ```text
//! sudo cargo run --release -p interop --bin e2e-bench -- \
//!     [--dut bird,frr,ours,floor] [--scenario transit|rr|refused|fib|import] [--prefixes N] [--clients N] \
//!     [--timeout SECS] [--ours-timeout SECS] [--repeat N] [--quiet-wait SECS] \
//!     [--seed N] [--json FILE] [--keep] [--bird-rx-buffer OCTETS]
//! ```
//!
//! Per device: three namespaces `bench-<dut>-feed`, `bench-<dut>-dut`,
//! `bench-<dut>-sink`, joined by two veth pairs (10.78.1.0/24 feeder side, 10.78.2.0/24
//! sink side). The feeder and the sinks are tokio tasks of this process
//! (`interop::e2e`), each socket created in its namespace. Timeline:
//!
//! 1. the sinks, then the feeder, connect to the device (which is passive) and
//!    establish; 1 s of quiet;
//! 2. t0 = the feeder hands the first octet of the pre-encoded table (and End-of-RIB)
//!    to the kernel; **converge** = until every sink holds every prefix;
//! 3. 1 s of quiet; the feeder withdraws every prefix; **withdraw** = from its first
//!    octet until no sink holds any prefix;
//! 4. the device's CPU seconds (utime + stime, all threads) over steps 2-3 and its
//!    peak RSS (VmHWM).
//!
//! `--scenario refused` (transit's topology, 2,000,000 prefixes, 1 sink) measures what
//! a flood of routes the device's import policy refuses costs: the device refuses
//! everything the feeder sends (ours: `import_policy = "reject-all"`; BIRD: `import none`; FRR: a `route-map`
//! that denies, inbound). After step 1: the device's RSS (VmRSS) **before**; the
//! feeder writes the whole table; **process** = until the feeder has written it and the
//! device then used no CPU for 1 s (at most one 10 ms tick), and the device has left
//! nothing of it unread in its socket; then its RSS **after**, the **growth** (after −
//! before, also per prefix), the peak RSS and the CPU seconds over the span. No
//! convergence or withdrawal: the sink must receive no route.
//!
//! ```text
//! sudo target/release/e2e-bench --dut bird,frr,ours --scenario refused --repeat 3 --quiet-wait 30
//! ```
//!
//! `--scenario fib` (1,000,000 prefixes, no sink): the feeder's namespace and the
//! device's only (`bench-fib-<dut>-feed`, `bench-fib-<dut>-dut`). The device installs what it learns into its namespace's kernel
//! table (main): BIRD through a `protocol kernel`, FRR through zebra (bgpd without
//! `-Z`/`-n`), ours with `[kernel] install = true`; `floor` is no BGP at all but
//! `fib-floor`, which writes the same routes straight to the kernel (batched
//! rtnetlink requests). The kernel's routes are counted by a thread of this process
//! inside the device's namespace from the kernel's route notifications
//! ([`interop::e2e::FibWatch`]), and each phase's end is checked against the
//! kernel's own count (`/proc/net/fib_triestat`, less the routes there before). After
//! step 1 (the feeder alone): **install** = from the feeder's first octet (floor: from
//! asking fib-floor to start) until the table holds every prefix; 1 s of quiet;
//! **withdraw** = from the withdrawal's first octet (floor: from asking it to remove)
//! until none is left; CPU seconds and peak RSS of the device's processes (FRR: zebra
//! and bgpd, added). Ratios are to the floor.
//!
//! ```text
//! sudo target/release/e2e-bench --scenario fib --dut floor,bird,frr,ours
//! ```
//!
//! Every phase is bounded (`--timeout`, 120 s; `--ours-timeout`, 20 s, for our
//! daemon, 120 s in the fib scenario); a device that does not get there is reported as
//! "did not converge in N s" (refused: "did not process the feed in N s"; fib: "did
//! not install in N s").
//! `--scenario import` (100,000 routes, 1 sink, no feeder): the device's namespace and
//! the sink's only (`bench-imp-<dut>-dut`, `bench-imp-<dut>-sink`). The device
//! announces kernel routes: blackhole routes of protocol static (4) inside 10.0.0.0/8
//! (BIRD: `protocol kernel` with `learn`, FRR: zebra + bgpd with `redistribute kernel`,
//! ours: `[[kernel.import]]`). Once the sink has established and 1 s of quiet,
//! fib-floor (`--blackhole --first 10.0.0.0 --protocol 4`) writes N consecutive /32s
//! from 10.0.0.0 to the device's main table in batches; **add** = its own time (first
//! `sendmsg` to last acknowledgement); **announce-all** = from asking it to start
//! until the sink holds every route; 1 s of quiet; it deletes them all: **withdraw-all**
//! = from asking it until the sink holds none; CPU seconds and peak RSS of the
//! device's processes.
//!
//! ```text
//! sudo target/release/e2e-bench --scenario import --dut bird,frr,ours
//! ```
//!
//! With `--repeat`, devices take turns, and runs during which other processes used
//! more than 0.25 cores are left out of the medians.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_core::prefix::{Nlri, Prefix, Prefix4};
use bgp_core::wire::CodecCtx;
use bytes::{Bytes, BytesMut};
use interop::e2e::{
    cpu_seconds, establish, fib_triestat_prefixes, machine_busy_seconds, status_kib, unread_octets, Feeder, FibWatch,
    PeerSpec, PrefixIndex, Sink, WriteTimes,
};
use interop::table::{Table, TableSpec, DEFAULT_SEED};
use interop::{
    bgpctl_bin, daemon_bin, run, run_ok, target_dir, veth, wait_until, Bird, Daemon, Frr, Lab, Netns, Proc, FRR_BGPD,
};
use serde_json::{json, Value};

/// The device's address toward the feeder, and its router id.
const DUT_FEED: Ipv4Addr = Ipv4Addr::new(10, 78, 1, 1);
const FEEDER: Ipv4Addr = Ipv4Addr::new(10, 78, 1, 2);
/// The device's address toward the sinks.
const DUT_SINK: Ipv4Addr = Ipv4Addr::new(10, 78, 2, 1);
/// Sink `i` is 10.78.2.(10 + i).
const FIRST_SINK_HOST: u8 = 10;
const MAX_CLIENTS: usize = 200;

const DUT_AS: u32 = 65000;
/// eBGP (transit) ASes of the feeder and the sinks; in the rr scenario everyone is in
/// `DUT_AS`.
const FEEDER_AS: u32 = 65001;
const SINK_AS: u32 = 65002;
/// Hold time everyone proposes (FRR's and ours are configured to match).
const HOLD_TIME: u16 = 90;

/// Quiet time before the feed and between the phases.
const SETTLE: Duration = Duration::from_secs(1);
/// Bound of starting the device and establishing every session.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the controller looks at the sinks (their timestamps are their own).
const POLL: Duration = Duration::from_millis(5);
/// The machine counts as quiet when everything together used less than this many
/// cores over one second.
const QUIET_CORES: f64 = 0.2;
/// A run is disturbed when the rest of the machine used more than this many cores on
/// average while it was measured; medians leave such runs out.
const DISTURBED_CORES: f64 = 0.25;

/// FRR's zebra as Debian installs it (the fib scenario).
const FRR_ZEBRA: &str = "/usr/lib/frr/zebra";
/// The kernel table every device of the fib scenario installs into (main).
const FIB_TABLE: u32 = 254;
/// The device's interface toward the feeder, whose address is every route's next hop.
const DUT_FEED_IF: &str = "bn-dfeed";
/// The import scenario's kernel routes: consecutive /32s from here, blackholes of
/// protocol static, inside `IMPORT_WITHIN`, below the bench's own 10.78.0.0/16.
const IMPORT_FIRST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 0);
const IMPORT_WITHIN: &str = "10.0.0.0/8";
const IMPORT_PROTOCOL: u8 = 4;
const IMPORT_MAX: usize = 78 << 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dut {
    Bird,
    Frr,
    Ours,
    /// fib-floor: the same routes written straight to the kernel, no BGP (fib only).
    Floor,
}

impl Dut {
    fn name(self) -> &'static str {
        match self {
            Dut::Bird => "bird",
            Dut::Frr => "frr",
            Dut::Ours => "ours",
            Dut::Floor => "floor",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    /// eBGP: feeder AS 65001 -> device AS 65000 -> sinks AS 65002.
    Transit,
    /// iBGP route reflector: feeder and sinks are clients, all in AS 65000.
    Rr,
    /// Transit's topology, but the device's import policy refuses everything the
    /// feeder sends: what a flood of refused routes costs.
    Refused,
    /// eBGP feeder -> device, no sink: the device installs the table into its
    /// namespace's kernel table, then removes it.
    Fib,
    /// No feeder: device -> eBGP sink; the device announces the blackhole routes
    /// fib-floor adds to its kernel table, then withdraws them as they are deleted.
    Import,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Transit => "transit",
            Scenario::Rr => "rr",
            Scenario::Refused => "refused",
            Scenario::Fib => "fib",
            Scenario::Import => "import",
        }
    }
    fn feeder_as(self) -> u32 {
        match self {
            Scenario::Transit | Scenario::Refused | Scenario::Fib | Scenario::Import => FEEDER_AS,
            Scenario::Rr => DUT_AS,
        }
    }
    fn sink_as(self) -> u32 {
        match self {
            Scenario::Transit | Scenario::Refused | Scenario::Fib | Scenario::Import => SINK_AS,
            Scenario::Rr => DUT_AS,
        }
    }
    /// The device the ratios are to.
    fn reference(self) -> &'static str {
        match self {
            Scenario::Fib => "floor",
            _ => "bird",
        }
    }
    /// The feeder and the sinks are in other ASes than the device.
    fn external(self) -> bool {
        self != Scenario::Rr
    }
    /// FRR runs with zebra (the kernel's table matters).
    fn zebra(self) -> bool {
        matches!(self, Scenario::Fib | Scenario::Import)
    }
    /// The device has a BGP feeder (import: its routes come from its kernel).
    fn fed(self) -> bool {
        self != Scenario::Import
    }
}

struct Args {
    duts: Vec<Dut>,
    scenario: Scenario,
    prefixes: usize,
    clients: usize,
    timeout: Duration,
    ours_timeout: Duration,
    seed: u64,
    json: Option<PathBuf>,
    repeat: usize,
    quiet_wait: Duration,
    /// Import: BIRD's `netlink rx buffer` (None: its default).
    bird_rx_buffer: Option<u64>,
}

const USAGE: &str =
    "usage: e2e-bench [--dut bird,frr,ours,floor] [--scenario transit|rr|refused|fib|import] [--prefixes N] [--clients N] \
                     [--timeout SECS] [--ours-timeout SECS] [--repeat N] [--quiet-wait SECS] [--seed N] \
                     [--json FILE] [--keep] [--bird-rx-buffer OCTETS]\n\
  --dut           devices under test, in this order (default bird,frr; fib: floor,bird,frr,ours;\n\
                  import: bird,frr,ours);\n\
                  floor (fib only): fib-floor writes the routes straight to the kernel, no BGP\n\
  --scenario      transit: eBGP feeder -> device -> sink(s) (default; 1,000,000 prefixes, 1 sink)\n\
                  rr: iBGP route reflector, feeder and sinks are clients (100,000 prefixes, 20 sinks)\n\
                  refused: transit, but the device's import policy refuses every route of the feeder;\n\
                  reports its RSS before and after the feed and the growth (2,000,000 prefixes, 1 sink)\n\
                  fib: eBGP feeder -> device, which installs the table into its kernel table (main);\n\
                  install and withdraw times counted in the kernel (1,000,000 prefixes, no sink)\n\
                  import: no feeder; fib-floor adds blackhole routes (proto static, /32s from 10.0.0.0)\n\
                  to the device's kernel table, which announces them to the sink, then deletes them\n\
                  (100,000 routes, 1 sink)\n\
  --prefixes N    table size (default per scenario; --count is the same)\n\
  --clients N     number of sinks (default per scenario, at most 200)\n\
  --timeout S     bound of each phase for BIRD and FRR (default 120)\n\
  --ours-timeout S  bound of each phase for our daemon (default 20; fib: --timeout)\n\
  --repeat N      run every device N times, interleaved (bird, frr, bird, frr, ...), and report medians\n\
                  (of the runs during which the rest of the machine used under 0.25 cores, if any)\n\
  --quiet-wait S  before each run, wait up to S seconds (default 60; 0: no wait) until the rest of the\n\
                  machine used under 0.2 cores for a second\n\
  --seed N        table generator seed (default the codec bench's)\n\
  --json FILE     also write the figures as JSON\n\
  --keep          keep the work directories (configs, logs) in /tmp/bgp-interop\n\
  --bird-rx-buffer OCTETS  import: BIRD's kernel protocol gets `netlink rx buffer OCTETS` (default: none,\n\
                  BIRD's own 1 MB; it drops notifications beyond and waits for its next scan, 60 s)";

fn parse_args() -> Result<Args, String> {
    let mut duts = None;
    let mut scenario = Scenario::Transit;
    let (mut prefixes, mut clients) = (None, None);
    let mut timeout = 120.0;
    let mut ours_timeout = None;
    let mut seed = DEFAULT_SEED;
    let mut json = None;
    let mut repeat = 1;
    let mut quiet_wait = 60.0;
    let mut bird_rx_buffer = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--keep" {
            // Read by the harness's `Lab` when it is dropped.
            std::env::set_var("INTEROP_KEEP", "1");
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: bad value {value:?}");
        match flag.as_str() {
            "--dut" => {
                duts = Some(
                    value
                        .split(',')
                        .map(|d| match d.trim() {
                            "bird" => Ok(Dut::Bird),
                            "frr" => Ok(Dut::Frr),
                            "ours" => Ok(Dut::Ours),
                            "floor" => Ok(Dut::Floor),
                            other => Err(format!("--dut: unknown device {other:?} (bird, frr, ours, floor)")),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            "--scenario" => {
                scenario = match value.as_str() {
                    "transit" => Scenario::Transit,
                    "rr" => Scenario::Rr,
                    "refused" => Scenario::Refused,
                    "fib" => Scenario::Fib,
                    "import" => Scenario::Import,
                    _ => return Err(bad()),
                }
            }
            "--prefixes" | "--count" => prefixes = Some(value.replace('_', "").parse::<usize>().map_err(|_| bad())?),
            "--clients" => clients = Some(value.parse::<usize>().map_err(|_| bad())?),
            "--timeout" => timeout = value.parse::<f64>().map_err(|_| bad())?,
            "--ours-timeout" => ours_timeout = Some(value.parse::<f64>().map_err(|_| bad())?),
            "--seed" => seed = value.parse().map_err(|_| bad())?,
            "--json" => json = Some(PathBuf::from(value)),
            "--repeat" => repeat = value.parse::<usize>().ok().filter(|&r| r >= 1).ok_or_else(bad)?,
            "--bird-rx-buffer" => bird_rx_buffer = Some(value.parse::<u64>().ok().filter(|&b| b > 0).ok_or_else(bad)?),
            "--quiet-wait" => quiet_wait = value.parse::<f64>().ok().filter(|&q| q >= 0.0).ok_or_else(bad)?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let prefixes = prefixes.unwrap_or(match scenario {
        Scenario::Transit => 1_000_000,
        Scenario::Rr => 100_000,
        Scenario::Refused => 2_000_000,
        Scenario::Fib => 1_000_000,
        Scenario::Import => 100_000,
    });
    let clients = clients.unwrap_or(match scenario {
        Scenario::Transit | Scenario::Refused | Scenario::Import => 1,
        Scenario::Rr => 20,
        Scenario::Fib => 0,
    });
    let duts = duts.unwrap_or(match scenario {
        Scenario::Fib => vec![Dut::Floor, Dut::Bird, Dut::Frr, Dut::Ours],
        Scenario::Import => vec![Dut::Bird, Dut::Frr, Dut::Ours],
        _ => vec![Dut::Bird, Dut::Frr],
    });
    let fib = scenario == Scenario::Fib;
    if fib && clients != 0 {
        return Err("the fib scenario has no sink (--clients 0)".into());
    }
    if !fib && duts.contains(&Dut::Floor) {
        return Err("--dut floor is for --scenario fib only".into());
    }
    if scenario == Scenario::Import && prefixes > IMPORT_MAX {
        return Err(format!("the import scenario has room for {IMPORT_MAX} routes (10.0.0.0 to 10.77.255.255)"));
    }
    if prefixes == 0 || !(fib || (1..=MAX_CLIENTS).contains(&clients)) || duts.is_empty() {
        return Err(format!("need at least one device and one prefix, and 1 to {MAX_CLIENTS} clients"));
    }
    // Our daemon converges a table in about a second, but installing it into the
    // kernel is the kernel's time as much as ours.
    let ours_timeout = ours_timeout.unwrap_or(if fib { timeout } else { 20.0 });
    if !(timeout > 0.0 && ours_timeout > 0.0) {
        return Err("timeouts must be positive".into());
    }
    Ok(Args {
        duts,
        scenario,
        prefixes,
        clients,
        timeout: Duration::from_secs_f64(timeout),
        ours_timeout: Duration::from_secs_f64(ours_timeout),
        seed,
        json,
        repeat,
        quiet_wait: Duration::from_secs_f64(quiet_wait),
        bird_rx_buffer,
    })
}

// ------------------------------------------------------------------ the table

/// The table and its encodings, shared by every device of the run.
struct Plan {
    scenario: Scenario,
    seed: u64,
    prefixes: usize,
    clients: usize,
    groups: usize,
    percent_len24: f64,
    announce: Bytes,
    announce_updates: usize,
    withdraw: Bytes,
    withdraw_updates: usize,
    index: Arc<PrefixIndex>,
    bird_rx_buffer: Option<u64>,
}

impl Plan {
    fn new(args: &Args) -> Plan {
        if args.scenario == Scenario::Import {
            return Plan::kernel_routes(args);
        }
        let started = Instant::now();
        let spec = TableSpec {
            prefixes: args.prefixes,
            seed: args.seed,
            neighbor_as: FEEDER_AS,
            // The feeder's own address: a directly connected next hop, valid for
            // every device without a route to resolve it.
            next_hops: vec![FEEDER],
            local_pref: (args.scenario == Scenario::Rr).then_some(100),
        };
        let table = Table::generate(&spec);
        // What the sessions negotiate: 4-octet AS, no extended messages.
        let ctx = CodecCtx::modern();
        let mut out = BytesMut::new();
        let announce_updates = table.encode_announce(&ctx, &mut out).expect("the table encodes");
        Table::encode_end_of_rib(&ctx, &mut out).expect("End-of-RIB encodes");
        let announce = out.split().freeze();
        let withdraw_updates = table.encode_withdraw(&ctx, &mut out).expect("the withdrawal encodes");
        let withdraw = out.split().freeze();
        let plan = Plan {
            scenario: args.scenario,
            seed: args.seed,
            prefixes: table.prefixes.len(),
            clients: args.clients,
            groups: table.groups.len(),
            percent_len24: table.percent_len24(),
            announce,
            announce_updates,
            withdraw,
            withdraw_updates,
            index: Arc::new(PrefixIndex::new(&table.prefixes)),
            bird_rx_buffer: None,
        };
        eprintln!(
            "table: {} IPv4 prefixes ({:.1}% /24) in {} attribute sets ({:.2} per set); {} UPDATEs, {:.1} MB \
             (+ End-of-RIB); withdrawal: {} UPDATEs, {:.1} MB; generated in {:.1} s",
            plan.prefixes,
            plan.percent_len24,
            plan.groups,
            table.mean_group_size(),
            plan.announce_updates,
            plan.announce.len() as f64 / 1e6,
            plan.withdraw_updates,
            plan.withdraw.len() as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        plan
    }

    /// The import scenario: no table to feed; the sinks expect the /32s fib-floor adds
    /// to the device's kernel table.
    fn kernel_routes(args: &Args) -> Plan {
        let first = u32::from(IMPORT_FIRST);
        let routes: Vec<Nlri> = (0..args.prefixes as u32)
            .map(|i| Nlri::new(Prefix::V4(Prefix4::new(Ipv4Addr::from(first + i), 32).expect("a /32"))))
            .collect();
        eprintln!(
            "kernel routes: {} blackhole /32s of protocol static from {IMPORT_FIRST}, to be added to the device's \
             table {FIB_TABLE} by fib-floor",
            routes.len()
        );
        Plan {
            scenario: args.scenario,
            seed: args.seed,
            prefixes: routes.len(),
            clients: args.clients,
            groups: 1,
            percent_len24: 0.0,
            announce: Bytes::new(),
            announce_updates: 0,
            withdraw: Bytes::new(),
            withdraw_updates: 0,
            index: Arc::new(PrefixIndex::new(&routes)),
            bird_rx_buffer: args.bird_rx_buffer,
        }
    }

    fn sink_addr(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 78, 2, FIRST_SINK_HOST + i as u8)
    }

    fn sinks(&self) -> impl Iterator<Item = Ipv4Addr> {
        (0..self.clients).map(Plan::sink_addr)
    }
}

// ------------------------------------------------------------------ devices

fn bird_config(plan: &Plan) -> String {
    let rr = plan.scenario == Scenario::Rr;
    // iBGP sessions are multihop by default in BIRD, with recursive next hops that
    // would need an IGP table; `direct` makes them directly connected, like eBGP.
    let extra = if rr { "  rr client;\n  direct;\n" } else { "" };
    let proto = |name: &str, local: Ipv4Addr, peer: Ipv4Addr, asn: u32, import: &str| {
        format!(
            "protocol bgp {name} {{\n  local {local} as {DUT_AS};\n  neighbor {peer} as {asn};\n  passive on;\n  \
             hold time {HOLD_TIME};\n{extra}  ipv4 {{ import {import}; export all; }};\n}}\n"
        )
    };
    // Refused: BIRD keeps no filtered route unless told to (`import keep filtered`).
    let feeder_import = if plan.scenario == Scenario::Refused { "none" } else { "all" };
    let mut s = if plan.scenario.fed() {
        proto("feeder", DUT_FEED, FEEDER, plan.scenario.feeder_as(), feeder_import)
    } else {
        String::new()
    };
    for (i, a) in plan.sinks().enumerate() {
        s += &proto(&format!("sink{i}"), DUT_SINK, a, plan.scenario.sink_as(), "all");
    }
    if plan.scenario == Scenario::Fib {
        // Into the main table; never read it back (learn off, and the periodic scan,
        // which compares the whole kernel table with BIRD's, once an hour).
        s += "protocol kernel {\n  ipv4 { import none; export all; };\n  merge paths yes;\n  learn off;\n  \
              scan time 3600;\n}\n";
    }
    if plan.scenario == Scenario::Import {
        // Learns alien routes (of other programs) from the kernel's notifications as
        // they come, and scans the whole table every 60 s (the default) besides;
        // keeps the blackholes of protocol static (krt_source 4) only. `export all`
        // of the sink's protocol then announces them.
        let rx = plan.bird_rx_buffer.map_or(String::new(), |b| format!("  netlink rx buffer {b};\n"));
        let _ = write!(
            s,
            "protocol kernel {{\n  learn;\n  scan time 60;\n{rx}  ipv4 {{ import filter {{ if krt_source = \
             {IMPORT_PROTOCOL} then accept; reject; }}; export none; }};\n}}\n"
        );
    }
    s
}

fn frr_config(plan: &Plan) -> String {
    // Replaces the harness's test timers (3/9): FRR's defaults are 60/180.
    let mut s = format!(" timers bgp {} {HOLD_TIME}\n", HOLD_TIME / 3);
    let peers: Vec<(Ipv4Addr, u32)> = std::iter::once((FEEDER, plan.scenario.feeder_as()))
        .filter(|_| plan.scenario.fed())
        .chain(plan.sinks().map(|a| (a, plan.scenario.sink_as())))
        .collect();
    for (a, asn) in &peers {
        let _ = write!(s, " neighbor {a} remote-as {asn}\n neighbor {a} passive\n");
    }
    if plan.scenario == Scenario::Rr {
        s += " address-family ipv4 unicast\n";
        for (a, _) in &peers {
            let _ = writeln!(s, "  neighbor {a} route-reflector-client");
        }
        s += " exit-address-family\n";
    }
    if plan.scenario == Scenario::Refused {
        // Without soft-reconfiguration inbound, FRR keeps no route its route-map denies.
        // The route-map is defined after `router bgp`; the `exit` that `Frr::start`
        // writes after the body then leaves the route-map node.
        let _ = write!(
            s,
            " address-family ipv4 unicast\n  neighbor {FEEDER} route-map REFUSE in\n exit-address-family\nexit\n!\n\
             route-map REFUSE deny 10"
        );
    }
    if plan.scenario == Scenario::Import {
        // zebra reads the kernel's routes of other programs as `kernel` routes.
        s += " address-family ipv4 unicast\n  redistribute kernel\n exit-address-family\n";
    }
    s
}

fn ours_config(lab: &Lab, plan: &Plan) -> String {
    let mut s = lab.global_toml(DUT_AS, &DUT_FEED.to_string(), &[&format!("hold_time = {HOLD_TIME}")]);
    let rr = plan.scenario == Scenario::Rr;
    let peers = std::iter::once((FEEDER, plan.scenario.feeder_as(), "feeder".to_string()))
        .filter(|_| plan.scenario.fed())
        .chain(plan.sinks().enumerate().map(|(i, a)| (a, plan.scenario.sink_as(), format!("sink{i}"))));
    // Accept and send everything, as BIRD and FRR are configured to (eBGP needs it
    // spelled out: RFC 8212); refused: reject everything from the feeder.
    for (a, asn, what) in peers {
        let import = if plan.scenario == Scenario::Refused && a == FEEDER { "reject-all" } else { "accept-all" };
        let _ = write!(
            s,
            "\n[[neighbor]]\naddress = \"{a}\"\nasn = {asn}\ndescription = \"{what}\"\npassive = true\n\
             families = [\"ipv4-unicast\"]\nimport_policy = \"{import}\"\nexport_policy = \"accept-all\"\n"
        );
        if rr {
            s += "route_reflector_client = true\n";
        }
    }
    if plan.scenario == Scenario::Fib {
        // The kernel's main table, protocol 186 (bgp), metric 20: the defaults.
        s += "\n[kernel]\ninstall = true\n";
    }
    if plan.scenario == Scenario::Import {
        // `accept-all` exports them to the sink (their source is "kernel").
        let _ = write!(
            s,
            "\n[[kernel.import]]\nwithin = [\"{IMPORT_WITHIN}\"]\nprotocol = [{IMPORT_PROTOCOL}]\n\
             type = [\"blackhole\"]\n"
        );
    }
    s
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        || ["/usr/sbin", "/sbin", "/usr/bin"].iter().any(|d| Path::new(d).join(program).is_file())
}

fn floor_bin() -> PathBuf {
    target_dir().join("fib-floor")
}

/// Why this device cannot run here.
fn missing(dut: Dut, scenario: Scenario) -> Option<String> {
    match dut {
        Dut::Frr if scenario.zebra() && !Path::new(FRR_ZEBRA).is_file() => {
            Some(format!("FRR's zebra is not installed ({FRR_ZEBRA}): apt install frr"))
        }
        Dut::Floor if !floor_bin().is_file() => {
            Some(format!("{} is missing: cargo build --release -p interop", floor_bin().display()))
        }
        Dut::Bird if !in_path("bird") || !in_path("birdc") => {
            Some("BIRD 2 is not installed (apt install bird2)".into())
        }
        Dut::Frr if !Path::new(FRR_BGPD).is_file() || !in_path("vtysh") => {
            Some(format!("FRR is not installed ({FRR_BGPD}, vtysh): apt install frr"))
        }
        Dut::Ours => [daemon_bin(), bgpctl_bin()]
            .into_iter()
            .find(|b| !b.is_file())
            .map(|b| format!("{} is missing: cargo build --release -p bgp-daemon -p bgpctl", b.display())),
        _ => None,
    }
}

fn first_line(cmd: &mut Command) -> String {
    match run(cmd, Duration::from_secs(10)) {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or("").trim().to_string()
        }
        Err(e) => format!("unknown ({e})"),
    }
}

fn version(dut: Dut, scenario: Scenario) -> String {
    let built = |bin: PathBuf| {
        let mut git = Command::new("git");
        git.args(["-C", env!("CARGO_MANIFEST_DIR"), "describe", "--always", "--dirty"]);
        match run(&mut git, Duration::from_secs(10)) {
            Ok(o) if o.status.success() => {
                format!("{} (source tree at {})", bin.display(), String::from_utf8_lossy(&o.stdout).trim())
            }
            _ => bin.display().to_string(),
        }
    };
    match dut {
        Dut::Bird => first_line(Command::new("bird").arg("--version")),
        Dut::Frr if scenario.zebra() => {
            format!("{} with zebra", first_line(Command::new(FRR_BGPD).arg("--version")))
        }
        Dut::Frr => first_line(Command::new(FRR_BGPD).arg("--version")),
        Dut::Ours => built(daemon_bin()),
        Dut::Floor => built(floor_bin()),
    }
}

/// FRR as a router runs it (the fib scenario): zebra, and bgpd talking to it (no `-Z`,
/// no `-n`), so the routes bgpd selects reach the namespace's kernel table. Dropping
/// it stops bgpd, then zebra (each SIGTERM, SIGKILL after 5 s).
struct FrrZebra {
    bgpd: Proc,
    zebra: Proc,
    dir: PathBuf,
}

impl FrrZebra {
    fn vtysh(dir: &Path, daemon: &str, command: &str) -> Result<String, String> {
        run_ok(Command::new("vtysh").arg("--vty_socket").arg(dir).args(["-d", daemon, "-c", command]))
    }

    /// `body`: the lines inside `router bgp`.
    fn start(lab: &Lab, ns: &Netns, router_id: &str, body: &str) -> FrrZebra {
        use std::os::unix::fs::PermissionsExt;
        let dir = lab.path("frr");
        fs::create_dir_all(&dir).expect("mkdir");
        // zebra and bgpd drop to the frr user and write their logs, pid files and
        // sockets here.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        let d = dir.display().to_string();
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            fs::write(&path, text).expect("write an FRR config");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        };
        write("zebra.conf", format!("hostname frr\nlog file {d}/zebra.log\n!\n"));
        write(
            "bgpd.conf",
            format!(
                "hostname frr\nlog file {d}/bgpd.log\ndebug bgp neighbor-events\n!\nrouter bgp {DUT_AS}\n \
                 bgp router-id {router_id}\n no bgp ebgp-requires-policy\n no bgp network import-check\n{body}\nexit\n!\n"
            ),
        );
        let zserv = format!("{d}/zserv.api");
        // -s: the netlink receive buffer Debian's /etc/frr/daemons gives zebra, so that
        // a full table's notifications do not overflow it.
        let mut cmd = ns.cmd(FRR_ZEBRA);
        cmd.args(["-f", &format!("{d}/zebra.conf"), "-i", &format!("{d}/zebra.pid"), "-z", &zserv]);
        cmd.args(["--vty_socket", &d, "-P", "0", "-s", "90000000"]);
        let mut zebra = Proc::spawn("FRR zebra", cmd, &dir.join("zebra.out"));
        wait_until(Duration::from_secs(15), "FRR zebra answers on its vty", || {
            if !zebra.running() {
                panic!("FRR zebra exited: {}", zebra.log_text());
            }
            if !Path::new(&zserv).exists() {
                return Err("no zserv socket yet".into());
            }
            FrrZebra::vtysh(&dir, "zebra", "show version").map(drop)
        });
        let mut cmd = ns.cmd(FRR_BGPD);
        cmd.args(["-f", &format!("{d}/bgpd.conf"), "-i", &format!("{d}/bgpd.pid"), "-z", &zserv]);
        cmd.args(["--vty_socket", &d, "-P", "0"]);
        let mut bgpd = Proc::spawn("FRR bgpd", cmd, &dir.join("bgpd.out"));
        wait_until(Duration::from_secs(15), "FRR bgpd answers and is zebra's client", || {
            if !bgpd.running() {
                panic!("FRR bgpd exited: {}", bgpd.log_text());
            }
            FrrZebra::vtysh(&dir, "bgpd", "show bgp summary json")?;
            let clients = FrrZebra::vtysh(&dir, "zebra", "show zebra client summary")?;
            if clients.contains("bgp") {
                Ok(())
            } else {
                Err(format!("bgpd is not a client of zebra yet:\n{clients}"))
            }
        });
        let log = fs::read_to_string(dir.join("bgpd.log")).unwrap_or_default();
        for line in log.lines().filter(|l| l.contains("Unknown command") || l.contains("No such command")) {
            eprintln!("WARNING: FRR rejected a config line: {line}");
        }
        FrrZebra { bgpd, zebra, dir }
    }
}

/// fib-floor in the device's namespace (`--stdin`: each phase starts when asked).
/// Dropping it kills it (it keeps nothing worth a clean exit: the namespace goes next).
struct Floor {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    /// Its stdout, line by line (also copied to its log).
    lines: std::sync::mpsc::Receiver<String>,
    log: PathBuf,
}

/// What fib-floor says of one phase: routes acknowledged, errors, its own seconds.
#[derive(Clone, Copy, Debug)]
struct FloorPhase {
    routes: u64,
    errors: u64,
    seconds: f64,
}

impl Floor {
    fn start(lab: &Lab, ns: &Netns, plan: &Plan) -> Result<Floor, String> {
        use std::io::{BufRead, BufReader, Write as _};
        use std::process::Stdio;
        let log = lab.path("fib-floor.log");
        let err = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = ns.cmd(floor_bin());
        cmd.args(["--table", &FIB_TABLE.to_string(), "--prefixes", &plan.prefixes.to_string(), "--stdin"]);
        if plan.scenario == Scenario::Import {
            // Blackholes of protocol static: what the devices are told to announce.
            cmd.args(["--blackhole", "--first", &IMPORT_FIRST.to_string()]);
            cmd.args(["--protocol", &IMPORT_PROTOCOL.to_string()]);
        } else {
            cmd.args(["--via", &FEEDER.to_string(), "--dev", DUT_FEED_IF, "--seed", &plan.seed.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", floor_bin().display()))?;
        let stdin = child.stdin.take();
        let out = child.stdout.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        let copy = log.clone();
        std::thread::spawn(move || {
            let mut file = fs::OpenOptions::new().append(true).open(&copy).ok();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(f) = &mut file {
                    let _ = writeln!(f, "{line}");
                }
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut floor = Floor { child, stdin, lines, log };
        match floor.line("FLOOR ready", Duration::from_secs(60)) {
            Some(_) => Ok(floor),
            None => Err(format!("fib-floor did not get ready in 60 s: {}", interop::tail(&floor.log, 5))),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks it to start a phase (`install`, `remove`).
    fn ask(&mut self, word: &str) -> Result<(), String> {
        use std::io::Write as _;
        let stdin = self.stdin.as_mut().ok_or("fib-floor's stdin is closed")?;
        stdin
            .write_all(format!("{word}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("fib-floor: {e}"))
    }

    /// The next line starting with `prefix`, waiting at most `timeout`.
    fn line(&mut self, prefix: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Whether it exited (with what), without waiting.
    fn exited(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|s| format!("fib-floor exited ({s}): {}", interop::tail(&self.log, 5)))
    }

    /// Its own figures of a phase (`FLOOR install routes=N errors=E seconds=S ...`).
    fn phase(&mut self, op: &str, timeout: Duration) -> Option<FloorPhase> {
        let line = self.line(&format!("FLOOR {op} "), timeout)?;
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                .map(str::to_string)
        };
        Some(FloorPhase {
            routes: field("routes")?.parse().ok()?,
            errors: field("errors")?.parse().ok()?,
            seconds: field("seconds")?.parse().ok()?,
        })
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A running device; dropping it stops the process (SIGTERM, SIGKILL after 5 s).
enum Running {
    Bird(Bird),
    Frr(Frr),
    FrrZebra(FrrZebra),
    Ours(Daemon),
    Floor(Floor),
}

impl Running {
    /// The device's processes (FRR with zebra: bgpd and zebra).
    fn pids(&self) -> Vec<u32> {
        match self {
            Running::Bird(b) => b.pid().into_iter().collect(),
            Running::Frr(f) => f.pid().into_iter().collect(),
            Running::FrrZebra(f) => vec![f.bgpd.pid(), f.zebra.pid()],
            Running::Ours(d) => vec![d.pid()],
            Running::Floor(f) => vec![f.pid()],
        }
    }
    fn logs(&self, lab: &Lab) -> Vec<PathBuf> {
        match self {
            Running::Bird(b) => vec![b.dir.join("bird.log")],
            Running::Frr(f) => vec![f.dir.join("bgpd.log")],
            Running::FrrZebra(f) => vec![f.dir.join("bgpd.log"), f.dir.join("zebra.log")],
            Running::Ours(_) => vec![lab.path("bgp-daemon.log")],
            Running::Floor(f) => vec![f.log.clone()],
        }
    }
}

// ------------------------------------------------------------------ figures

#[derive(Debug, Default)]
struct Figures {
    dut: String,
    /// 1, 2, ... with `--repeat`.
    run: usize,
    version: String,
    /// How busy the machine was when the run started.
    quiet: Option<String>,
    /// Seconds from the feeder's first octet until the last sink held every prefix.
    converge_s: Option<f64>,
    /// Seconds from the withdrawal's first octet until no sink held any prefix.
    withdraw_s: Option<f64>,
    /// Why a phase has no figure.
    converge_note: Option<String>,
    withdraw_note: Option<String>,
    /// The first sink that held every prefix.
    first_sink_full_s: Option<f64>,
    /// The first prefix reached a sink.
    first_prefix_s: Option<f64>,
    /// The feeder's last octet was accepted by its socket (the device read all but
    /// the last socket buffers).
    feed_written_s: Option<f64>,
    withdraw_written_s: Option<f64>,
    cpu_s: Option<f64>,
    cpu_converge_s: Option<f64>,
    cpu_withdraw_s: Option<f64>,
    rss_idle_kib: Option<u64>,
    rss_converged_kib: Option<u64>,
    /// Refused: RSS once the device had processed the feed.
    rss_after_kib: Option<u64>,
    /// Refused: seconds from the feeder's first octet until the device had processed
    /// the feed (its last CPU use before 1 s without), and why there is no figure.
    process_s: Option<f64>,
    process_note: Option<String>,
    peak_rss_kib: Option<u64>,
    /// CPU seconds of this process (feeder and sinks) over the same span.
    bench_cpu_s: Option<f64>,
    /// CPU seconds every other process of the machine used over the same span: load
    /// that competed with the device and the benchmark.
    other_cpu_s: Option<f64>,
    /// Wall-clock seconds of that span.
    span_s: Option<f64>,
    sink_updates: u64,
    sink_announcements: u64,
    sink_withdrawals: u64,
    sink_unexpected: u64,
    /// Fib: routes in the table before the feed (`fib_triestat`).
    fib_baseline: Option<u64>,
    /// Fib: the kernel's own count at the end of each phase, and what counted.
    fib_checks: Vec<String>,
    fib_counted_by: Option<String>,
    fib_notifications: u64,
    /// Fib, floor: fib-floor's own figures of each phase.
    floor_install: Option<FloorPhase>,
    floor_remove: Option<FloorPhase>,
    /// Peak RSS of each process, when the device has more than one.
    peaks: Option<String>,
    /// Import: how often the device's log says it lost kernel notifications.
    lost_notifications: Option<usize>,
    error: Option<String>,
}

impl Figures {
    fn json(&self, scenario: Scenario) -> Value {
        let mut v = json!({
            "dut": self.dut,
            "run": self.run,
            "version": self.version,
            "start": self.quiet,
            "converged": self.converge_s.is_some(),
            "converge_s": self.converge_s,
            "converge_note": self.converge_note,
            "withdraw_s": self.withdraw_s,
            "withdraw_note": self.withdraw_note,
            "first_prefix_s": self.first_prefix_s,
            "first_sink_full_s": self.first_sink_full_s,
            "feed_written_s": self.feed_written_s,
            "withdraw_written_s": self.withdraw_written_s,
            "cpu_s": self.cpu_s,
            "cpu_converge_s": self.cpu_converge_s,
            "cpu_withdraw_s": self.cpu_withdraw_s,
            "rss_idle_mib": mib(self.rss_idle_kib),
            "rss_converged_mib": mib(self.rss_converged_kib),
            "peak_rss_mib": mib(self.peak_rss_kib),
            "bench_cpu_s": self.bench_cpu_s,
            "other_cpu_s": self.other_cpu_s,
            "disturbed": self.disturbed(),
            "span_s": self.span_s,
            "sink_updates": self.sink_updates,
            "sink_announcements": self.sink_announcements,
            "sink_withdrawals": self.sink_withdrawals,
            "sink_unexpected_prefixes": self.sink_unexpected,
            "error": self.error,
        });
        if scenario == Scenario::Fib {
            let extra = json!({
                "installed": self.converge_s.is_some(),
                "install_s": self.converge_s,
                "install_note": self.converge_note,
                "fib_table": FIB_TABLE,
                "fib_routes_before": self.fib_baseline,
                "fib_checks": self.fib_checks,
                "fib_counted_by": self.fib_counted_by,
                "fib_notifications": self.fib_notifications,
                "floor_install": floor_json(self.floor_install),
                "floor_remove": floor_json(self.floor_remove),
                "peak_rss_per_process": self.peaks,
            });
            if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
                for k in ["converged", "converge_s", "converge_note", "first_prefix_s", "first_sink_full_s"] {
                    m.remove(k);
                }
                m.extend(e);
            }
        }
        if scenario == Scenario::Import {
            let extra = json!({
                "announced": self.converge_s.is_some(),
                "add_s": self.floor_install.map(|p| p.seconds),
                "delete_s": self.floor_remove.map(|p| p.seconds),
                "announce_all_s": self.converge_s,
                "announce_note": self.converge_note,
                "withdraw_all_s": self.withdraw_s,
                "first_route_s": self.first_prefix_s,
                "floor_add": floor_json(self.floor_install),
                "floor_delete": floor_json(self.floor_remove),
                "lost_notification_log_lines": self.lost_notifications,
                "peak_rss_per_process": self.peaks,
            });
            if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
                for k in [
                    "converged",
                    "converge_s",
                    "converge_note",
                    "first_prefix_s",
                    "feed_written_s",
                    "withdraw_written_s",
                    "withdraw_s",
                ] {
                    m.remove(k);
                }
                m.extend(e);
            }
        }
        if scenario == Scenario::Refused {
            let extra = json!({
                "processed": self.process_s.is_some(),
                "process_s": self.process_s,
                "process_note": self.process_note,
                "rss_before_mib": mib(self.rss_idle_kib),
                "rss_after_mib": mib(self.rss_after_kib),
                "rss_growth_mib": growth_kib(self).map(|k| k / 1024.0),
            });
            if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
                m.extend(e);
            }
        }
        v
    }
}

fn floor_json(p: Option<FloorPhase>) -> Option<Value> {
    p.map(|p| json!({"routes": p.routes, "errors": p.errors, "seconds": p.seconds}))
}

fn secs(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}

fn check_sessions(feeder: Option<&Feeder>, sinks: &[Sink]) -> Result<(), String> {
    if let Some(e) = feeder.and_then(|f| f.error.get()) {
        return Err(e);
    }
    for (i, s) in sinks.iter().enumerate() {
        if let Some(e) = s.error() {
            return Err(format!("sink {i} ({}): {e}", Plan::sink_addr(i)));
        }
    }
    Ok(())
}

/// Waits until every sink has the timestamp `stamp` picks, at most `timeout`; the
/// earliest and latest of them, or `None` on timeout. A session error ends it.
async fn wait_all(
    feeder: Option<&Feeder>,
    sinks: &[Sink],
    timeout: Duration,
    stamp: impl Fn(&Sink) -> Option<Instant>,
) -> Result<Option<(Instant, Instant)>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        check_sessions(feeder, sinks)?;
        let stamps: Vec<Instant> = sinks.iter().filter_map(&stamp).collect();
        if stamps.len() == sinks.len() {
            let min = *stamps.iter().min().expect("at least one sink");
            let max = *stamps.iter().max().expect("at least one sink");
            return Ok(Some((min, max)));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

fn present_range(plan: &Plan, sinks: &[Sink]) -> String {
    let counts: Vec<usize> = sinks.iter().map(|s| s.stats.present()).collect();
    let (min, max) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
    let which = if sinks.len() == 1 { "the sink had".to_string() } else { format!("the {} sinks had", sinks.len()) };
    if min == max {
        format!("{which} {min} of {} prefixes", plan.prefixes)
    } else {
        format!("{which} {min} to {max} of {} prefixes", plan.prefixes)
    }
}

fn written(times: &WriteTimes, what: &str) -> String {
    match (times.start.get(), times.end.get()) {
        (None, _) => format!("the feeder had not started writing the {what}"),
        (Some(_), None) => format!("the feeder was still writing the {what} (the device stopped reading)"),
        (Some(_), Some(_)) => format!("the feeder had written the whole {what}"),
    }
}

fn peer_spec(plan: &Plan, ns: &str, local: Ipv4Addr, remote: Ipv4Addr, asn: u32) -> PeerSpec {
    PeerSpec {
        ns: ns.to_string(),
        local,
        remote: SocketAddr::new(remote.into(), 179),
        local_as: asn,
        hold_time: HOLD_TIME,
        external: plan.scenario.external(),
    }
}

/// The sinks establish with a running device.
async fn connect_sinks(plan: &Plan, ns: &Namespaces, setup_deadline: Instant) -> Result<Vec<Sink>, String> {
    let spec = |ns: &str, local, remote, asn| peer_spec(plan, ns, local, remote, asn);
    let handles: Vec<_> = plan
        .sinks()
        .map(|a| {
            let sink_ns = ns.sink.as_ref().map_or(String::new(), |n| n.name.clone());
            let s = spec(&sink_ns, a, DUT_SINK, plan.scenario.sink_as());
            tokio::spawn(async move { establish(&s, setup_deadline).await })
        })
        .collect();
    let mut sinks = Vec::with_capacity(handles.len());
    for h in handles {
        let session = h.await.map_err(|e| format!("sink task: {e}"))??;
        sinks.push(Sink::start(session, plan.index.clone()));
    }
    Ok(sinks)
}

/// Step 1 of the module comment: the sinks, then the feeder, establish with a running
/// device; 1 s of quiet.
async fn connect(plan: &Plan, dut: Dut, ns: &Namespaces) -> Result<(Feeder, Vec<Sink>), String> {
    let tag = dut.name();
    let setup_deadline = Instant::now() + SETUP_TIMEOUT;
    let sinks = connect_sinks(plan, ns, setup_deadline).await?;
    let feed_ns = &ns.feed.as_ref().ok_or("this scenario has no feeder")?.name;
    let spec = peer_spec(plan, feed_ns, FEEDER, DUT_FEED, plan.scenario.feeder_as());
    let session = establish(&spec, setup_deadline).await?;
    if !session.tx_ctx.four_octet_as {
        return Err("the device did not offer 4-octet AS numbers, and the table is encoded with them".into());
    }
    let feeder = Feeder::start(session);
    eprintln!("[{tag}] {} sink(s) and the feeder established", sinks.len());
    tokio::time::sleep(SETTLE).await;
    check_sessions(Some(&feeder), &sinks)?;
    Ok((feeder, sinks))
}

/// The measured span: the device's RSS and the CPU counters when it began.
struct Span {
    /// The device's processes (FRR with zebra: two); its figures are their sums.
    pids: Vec<String>,
    cpu0: Option<f64>,
    self0: Option<f64>,
    busy0: Option<f64>,
    start: Instant,
}

impl Span {
    /// Also records the device's RSS before the feed.
    fn start(pids: &[u32], fig: &mut Figures) -> Span {
        let mut span = Span {
            pids: pids.iter().map(u32::to_string).collect(),
            cpu0: None,
            self0: cpu_seconds("self"),
            busy0: machine_busy_seconds(),
            start: Instant::now(),
        };
        fig.rss_idle_kib = span.kib("VmRSS");
        span.cpu0 = span.cpu();
        span
    }

    /// CPU seconds of the device's processes, added (`None` when one is gone).
    fn cpu(&self) -> Option<f64> {
        self.pids.iter().map(|p| cpu_seconds(p)).sum()
    }

    /// A `Vm...` figure of the device's processes, added (`None` when one is gone).
    fn kib(&self, key: &str) -> Option<u64> {
        self.pids.iter().map(|p| status_kib(p, key)).sum()
    }

    /// CPU of the device, the benchmark and the rest of the machine over the span, the
    /// device's peak RSS and what the sinks saw; returns the device's CPU counter.
    fn finish(&self, fig: &mut Figures, sinks: &[Sink]) -> Option<f64> {
        let cpu_end = self.cpu();
        fig.cpu_s = cpu_end.zip(self.cpu0).map(|(b, a)| b - a);
        fig.bench_cpu_s = cpu_seconds("self").zip(self.self0).map(|(b, a)| b - a);
        let busy = machine_busy_seconds().zip(self.busy0).map(|(b, a)| b - a);
        fig.other_cpu_s = busy.map(|b| (b - fig.cpu_s.unwrap_or(0.0) - fig.bench_cpu_s.unwrap_or(0.0)).max(0.0));
        fig.span_s = Some(self.start.elapsed().as_secs_f64());
        // The sum of each process's peak: at least the peak of the sum.
        fig.peak_rss_kib = self.kib("VmHWM");
        if self.pids.len() > 1 {
            let each: Vec<String> = self
                .pids
                .iter()
                .map(|p| {
                    let comm = fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
                    format!("{} {}", comm.trim(), cell(mib(status_kib(p, "VmHWM")), 1))
                })
                .collect();
            fig.peaks = Some(each.join(" + ") + " MiB");
        }
        for s in sinks {
            fig.sink_updates += s.stats.updates.load(std::sync::atomic::Ordering::Relaxed);
            fig.sink_announcements += s.stats.announced.load(std::sync::atomic::Ordering::Relaxed);
            fig.sink_withdrawals += s.stats.withdrawn.load(std::sync::atomic::Ordering::Relaxed);
            fig.sink_unexpected += s.stats.unexpected.load(std::sync::atomic::Ordering::Relaxed);
        }
        cpu_end
    }
}

/// A device being fed the table: its sessions, the measured span, and when the feeder
/// wrote the table.
struct Fed {
    feeder: Feeder,
    sinks: Vec<Sink>,
    span: Span,
    feed: Arc<WriteTimes>,
}

/// Against a running device: the sessions up, the table fed, then the scenario's
/// measurement.
async fn measure(
    plan: &Plan,
    dut: Dut,
    ns: &Namespaces,
    running: &mut Running,
    floor: Option<&mut Floor>,
    timeout: Duration,
    fig: &mut Figures,
) -> Result<(), String> {
    if plan.scenario == Scenario::Fib {
        return measure_fib(plan, dut, ns, running, timeout, fig).await;
    }
    if let Some(floor) = floor {
        return measure_import(plan, dut, ns, running, floor, timeout, fig).await;
    }
    let tag = dut.name();
    let (feeder, sinks) = connect(plan, dut, ns).await?;
    let span = Span::start(&running.pids(), fig);
    let refused = plan.scenario == Scenario::Refused;
    eprintln!("[{tag}] feeding {} prefixes{}", plan.prefixes, if refused { ", all to be refused" } else { "" });
    let feed = feeder.send(plan.announce.clone());
    let fed = Fed { feeder, sinks, span, feed };
    if refused {
        measure_refused(tag, ns, fed, timeout, fig).await
    } else {
        converge_withdraw(plan, tag, fed, timeout, fig).await
    }
}

/// Steps 2-4 of the module comment, once the feeder has begun writing the table.
async fn converge_withdraw(
    plan: &Plan,
    tag: &str,
    fed: Fed,
    timeout: Duration,
    fig: &mut Figures,
) -> Result<(), String> {
    let Fed { feeder, sinks, span, feed } = fed;

    // Converge.
    let full = wait_all(Some(&feeder), &sinks, timeout, |s| s.stats.full_at.get().copied()).await?;
    let t0 = *feed.start.get().ok_or("the feeder never started writing")?;
    fig.feed_written_s = feed.end.get().map(|&e| secs(t0, e));
    fig.first_prefix_s = sinks.iter().filter_map(|s| s.stats.first_at.get()).min().map(|&f| secs(t0, f));
    let Some((first_full, last_full)) = full else {
        fig.converge_note = Some(format!(
            "did not converge in {} s: {}; {}",
            timeout.as_secs_f64(),
            present_range(plan, &sinks),
            written(&feed, "table")
        ));
        fig.withdraw_note = Some("not measured (no convergence)".into());
        span.finish(fig, &sinks);
        return Ok(());
    };
    fig.converge_s = Some(secs(t0, last_full));
    fig.first_sink_full_s = Some(secs(t0, first_full));
    let cpu1 = span.cpu();
    fig.cpu_converge_s = cpu1.zip(span.cpu0).map(|(b, a)| b - a);
    fig.rss_converged_kib = span.kib("VmRSS");
    eprintln!("[{tag}] converged in {:.2} s", secs(t0, last_full));

    // Withdraw.
    tokio::time::sleep(SETTLE).await;
    check_sessions(Some(&feeder), &sinks)?;
    let cpu2 = span.cpu();
    let wd = feeder.send(plan.withdraw.clone());
    let empty = wait_all(Some(&feeder), &sinks, timeout, |s| s.stats.empty_at.get().copied()).await?;
    let tw = *wd.start.get().ok_or("the feeder never started writing the withdrawal")?;
    fig.withdraw_written_s = wd.end.get().map(|&e| secs(tw, e));
    withdrawn(fig, tag, tw, empty, || {
        format!(
            "did not withdraw in {} s: {}; {}",
            timeout.as_secs_f64(),
            present_range(plan, &sinks),
            written(&wd, "withdrawal")
        )
    });
    let cpu_end = span.finish(fig, &sinks);
    fig.cpu_withdraw_s = cpu_end.zip(cpu2).map(|(b, a)| b - a);
    Ok(())
}

/// The withdrawal's figure: from `tw` until the last sink held nothing (`empty`'s
/// latest), or why there is none.
fn withdrawn(
    fig: &mut Figures,
    tag: &str,
    tw: Instant,
    empty: Option<(Instant, Instant)>,
    why: impl FnOnce() -> String,
) {
    match empty {
        Some((_, last_empty)) => {
            fig.withdraw_s = Some(secs(tw, last_empty));
            eprintln!("[{tag}] withdrawn in {:.2} s", secs(tw, last_empty));
        }
        None => fig.withdraw_note = Some(why()),
    }
}

/// The refused scenario, once the feeder has begun writing the table: RSS once the
/// device has processed it ([`wait_processed`]), the growth, CPU and peak RSS over the
/// span.
async fn measure_refused(
    tag: &str,
    ns: &Namespaces,
    fed: Fed,
    timeout: Duration,
    fig: &mut Figures,
) -> Result<(), String> {
    let Fed { feeder, sinks, span, feed } = fed;
    let processed = wait_processed(&feeder, &sinks, &span, &feed, timeout).await?;
    fig.rss_after_kib = span.kib("VmRSS");
    span.finish(fig, &sinks);
    let t0 = *feed.start.get().ok_or("the feeder never started writing")?;
    fig.feed_written_s = feed.end.get().map(|&e| secs(t0, e));
    // Idle with octets left unread would be a device that stopped reading, not one
    // that processed the feed.
    let unread = unread_octets(&ns.dut.name, FEEDER);
    match (processed, unread) {
        (Some(at), Some(0)) => {
            fig.process_s = Some(secs(t0, at));
            eprintln!("[{tag}] processed in {:.2} s", secs(t0, at));
        }
        (Some(_), unread) => {
            fig.process_note = Some(match unread {
                Some(n) => format!("idle with {n} octets of the feeder's unread: the device stopped reading"),
                None => "idle, but its connection with the feeder could not be checked (ss)".into(),
            })
        }
        (None, _) => {
            fig.process_note =
                Some(format!("did not process the feed in {} s: {}", timeout.as_secs_f64(), written(&feed, "table")))
        }
    }
    if fig.sink_announcements > 0 {
        return Err(format!(
            "the sink(s) received {} announcements: the device did not refuse every route",
            fig.sink_announcements
        ));
    }
    Ok(())
}

/// How often [`wait_processed`] samples the device's CPU.
const CPU_POLL: Duration = Duration::from_millis(50);
/// The device is idle when it used under `IDLE_CPU_S` over `IDLE_WINDOW`: at most one
/// 10 ms tick of `/proc`'s clock, which a timer of an idle daemon may take.
const IDLE_WINDOW: Duration = Duration::from_secs(1);
const IDLE_CPU_S: f64 = 0.015;

/// Waits until the feeder has written all of `feed` and the device is then idle for
/// `IDLE_WINDOW`, at most `timeout` in all; the start of that idle window (the end of
/// the device's work, within `CPU_POLL`), or `None` on timeout. A session error ends it.
async fn wait_processed(
    feeder: &Feeder,
    sinks: &[Sink],
    span: &Span,
    feed: &WriteTimes,
    timeout: Duration,
) -> Result<Option<Instant>, String> {
    let deadline = Instant::now() + timeout;
    // (when, device CPU seconds): the samples of the last `IDLE_WINDOW` and the one
    // before them.
    let mut samples: VecDeque<(Instant, f64)> = VecDeque::new();
    loop {
        check_sessions(Some(feeder), sinks)?;
        let now = Instant::now();
        let cpu = span.cpu().ok_or("the device is gone")?;
        samples.push_back((now, cpu));
        while samples.len() > 1 && now.duration_since(samples[1].0) >= IDLE_WINDOW {
            samples.pop_front();
        }
        let (then, cpu_then) = samples[0];
        if let Some(&written) = feed.end.get() {
            if now.duration_since(then) >= IDLE_WINDOW && cpu - cpu_then < IDLE_CPU_S {
                return Ok(Some(then.max(written)));
            }
        }
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(CPU_POLL).await;
    }
}

// ------------------------------------------------------------------ fib

/// What starts each phase of the fib scenario: the feeder (its UPDATEs), or fib-floor
/// (asked on its stdin).
enum Driver<'a> {
    Feeder(Feeder),
    Floor(&'a mut Floor),
}

/// When a phase began: the feeder's first octet (known once its writer started), or
/// when fib-floor was asked.
enum Began {
    Written(Arc<WriteTimes>),
    Asked(Instant),
}

impl Began {
    fn at(&self) -> Option<Instant> {
        match self {
            Began::Written(w) => w.start.get().copied(),
            Began::Asked(t) => Some(*t),
        }
    }
}

impl Driver<'_> {
    fn begin(&mut self, bytes: &Bytes, word: &str) -> Result<Began, String> {
        match self {
            Driver::Feeder(f) => Ok(Began::Written(f.send(bytes.clone()))),
            Driver::Floor(f) => {
                let t = Instant::now();
                f.ask(word)?;
                Ok(Began::Asked(t))
            }
        }
    }

    /// A session error, or fib-floor gone.
    fn check(&mut self) -> Result<(), String> {
        match self {
            Driver::Feeder(f) => f.error.get().map_or(Ok(()), Err),
            Driver::Floor(f) => f.exited().map_or(Ok(()), Err),
        }
    }
}

/// The kernel's count of the table's routes, less `baseline` (read on a blocking
/// thread: it takes a while at 1M routes), and how long the read took.
async fn kernel_routes(ns: &str, baseline: u64) -> Result<(u64, Duration), String> {
    let ns = ns.to_string();
    let (n, took) = tokio::task::spawn_blocking(move || fib_triestat_prefixes(&ns, FIB_TABLE))
        .await
        .map_err(|e| format!("fib_triestat: {e}"))?
        .map_err(|e| format!("fib_triestat: {e}"))?;
    Ok((n.saturating_sub(baseline), took))
}

/// Waits until `done(routes)`, routes counted by `watch` (when they changed last), at
/// most `timeout`; the moment it became true, or `None` on timeout. Should
/// notifications have been lost, counts with the kernel's own figure instead, read at
/// most a fifth of the time (the moment is then the end of the read that saw it).
async fn wait_fib(
    watch: &FibWatch,
    ns: &str,
    baseline: u64,
    driver: &mut Driver<'_>,
    timeout: Duration,
    done: impl Fn(u64) -> bool,
) -> Result<Option<Instant>, String> {
    let deadline = Instant::now() + timeout;
    let mut next_read = Instant::now();
    loop {
        driver.check()?;
        if watch.lost().is_none() {
            let (count, at) = watch.count();
            if done(count as u64) {
                return Ok(Some(at));
            }
        } else if Instant::now() >= next_read {
            let (count, took) = kernel_routes(ns, baseline).await?;
            if done(count) {
                return Ok(Some(Instant::now()));
            }
            next_read = Instant::now() + (took * 4).max(POLL);
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// After a phase: the kernel's own count, and whether it agrees with `expected`.
async fn check_kernel(ns: &str, baseline: u64, phase: &str, expected: u64, fig: &mut Figures) -> Result<(), String> {
    let (count, took) = kernel_routes(ns, baseline).await?;
    let agrees = if count == expected { "" } else { " (EXPECTED {expected})" };
    fig.fib_checks.push(format!(
        "fib_triestat after {phase}: {count} routes more than before{agrees} (read in {:.3} s)",
        took.as_secs_f64()
    ));
    Ok(())
}

/// The fib scenario against a running device: the feeder establishes (floor: no
/// session), then install and withdraw, each timed until the kernel's table holds
/// every route, then none.
async fn measure_fib(
    plan: &Plan,
    dut: Dut,
    ns: &Namespaces,
    running: &mut Running,
    timeout: Duration,
    fig: &mut Figures,
) -> Result<(), String> {
    let tag = dut.name();
    let pids = running.pids();
    let dut_ns = ns.dut.name.as_str();
    let mut driver = match running {
        Running::Floor(f) => Driver::Floor(f),
        _ => Driver::Feeder(connect(plan, dut, ns).await?.0),
    };
    let watch = FibWatch::start(dut_ns, FIB_TABLE).map_err(|e| format!("route notifications in {dut_ns}: {e}"))?;
    let (baseline, _) = kernel_routes(dut_ns, 0).await?;
    fig.fib_baseline = Some(baseline);
    let n = plan.prefixes as u64;
    let span = Span::start(&pids, fig);
    eprintln!("[{tag}] installing {n} prefixes into table {FIB_TABLE} ({baseline} routes there before)");

    // Install.
    let began = driver.begin(&plan.announce, "install")?;
    let full = wait_fib(&watch, dut_ns, baseline, &mut driver, timeout, |c| c >= n).await?;
    let t0 = began.at().ok_or("the feeder never started writing")?;
    if let Began::Written(w) = &began {
        fig.feed_written_s = w.end.get().map(|&e| secs(t0, e));
    }
    if let Driver::Floor(f) = &mut driver {
        fig.floor_install = f.phase("install", Duration::from_secs(30));
    }
    let Some(full) = full else {
        let (count, _) = watch.count();
        let mut note = format!("did not install in {} s: the table held {count} of {n} routes", timeout.as_secs_f64());
        if let Began::Written(w) = &began {
            note += &format!("; {}", written(w, "table"));
        }
        fig.converge_note = Some(note);
        fig.withdraw_note = Some("not measured (not installed)".into());
        check_kernel(dut_ns, baseline, "the install timed out", n, fig).await?;
        fig.fib_notifications = watch.notifications();
        span.finish(fig, &[]);
        return Ok(());
    };
    fig.converge_s = Some(secs(t0, full));
    fig.cpu_converge_s = span.cpu().zip(span.cpu0).map(|(b, a)| b - a);
    fig.rss_converged_kib = span.kib("VmRSS");
    eprintln!("[{tag}] installed in {:.2} s", secs(t0, full));
    check_kernel(dut_ns, baseline, "install", n, fig).await?;

    // Withdraw.
    tokio::time::sleep(SETTLE).await;
    driver.check()?;
    let cpu2 = span.cpu();
    let began = driver.begin(&plan.withdraw, "remove")?;
    let empty = wait_fib(&watch, dut_ns, baseline, &mut driver, timeout, |c| c == 0).await?;
    let tw = began.at().ok_or("the feeder never started writing the withdrawal")?;
    if let Began::Written(w) = &began {
        fig.withdraw_written_s = w.end.get().map(|&e| secs(tw, e));
    }
    if let Driver::Floor(f) = &mut driver {
        fig.floor_remove = f.phase("remove", Duration::from_secs(30));
    }
    match empty {
        Some(at) => {
            fig.withdraw_s = Some(secs(tw, at));
            eprintln!("[{tag}] withdrawn in {:.2} s", secs(tw, at));
            check_kernel(dut_ns, baseline, "withdraw", 0, fig).await?;
        }
        None => {
            let (count, _) = watch.count();
            fig.withdraw_note =
                Some(format!("did not withdraw in {} s: the table still held {count} routes", timeout.as_secs_f64()));
        }
    }
    fig.fib_notifications = watch.notifications();
    fig.fib_counted_by = Some(match watch.lost() {
        None => "route notifications".into(),
        Some(why) => format!("fib_triestat polled ({why})"),
    });
    let cpu_end = span.finish(fig, &[]);
    fig.cpu_withdraw_s = cpu_end.zip(cpu2).map(|(b, a)| b - a);
    Ok(())
}

// ------------------------------------------------------------------ import

/// fib-floor's own figures of a phase, which must have written every route.
fn floor_phase(floor: &mut Floor, op: &str, n: usize) -> Result<FloorPhase, String> {
    let p = floor
        .phase(op, Duration::from_secs(30))
        .ok_or_else(|| floor.exited().unwrap_or_else(|| format!("fib-floor did not report its {op} in 30 s")))?;
    if p.errors > 0 || p.routes != n as u64 {
        return Err(format!(
            "fib-floor's {op}: {} routes acknowledged, {} errors, of {n}: {}",
            p.routes,
            p.errors,
            interop::tail(&floor.log, 3)
        ));
    }
    Ok(p)
}

/// The import scenario against a running device: the sinks establish, 1 s of quiet;
/// fib-floor adds the routes to the device's kernel table, timed until every sink holds
/// every route; 1 s of quiet; it deletes them, timed until no sink holds any.
async fn measure_import(
    plan: &Plan,
    dut: Dut,
    ns: &Namespaces,
    running: &mut Running,
    floor: &mut Floor,
    timeout: Duration,
    fig: &mut Figures,
) -> Result<(), String> {
    let tag = dut.name();
    let n = plan.prefixes;
    let sinks = connect_sinks(plan, ns, Instant::now() + SETUP_TIMEOUT).await?;
    eprintln!("[{tag}] {} sink(s) established", sinks.len());
    tokio::time::sleep(SETTLE).await;
    check_sessions(None, &sinks)?;
    if sinks.iter().any(|s| s.stats.present() > 0) {
        return Err(format!("before any route was added, {}", present_range(plan, &sinks)));
    }
    let span = Span::start(&running.pids(), fig);
    eprintln!("[{tag}] adding {n} blackhole routes (protocol {IMPORT_PROTOCOL}) to table {FIB_TABLE}");

    // Add.
    let t0 = Instant::now();
    floor.ask("install")?;
    let full = wait_all(None, &sinks, timeout, |s| s.stats.full_at.get().copied()).await?;
    fig.first_prefix_s = sinks.iter().filter_map(|s| s.stats.first_at.get()).min().map(|&f| secs(t0, f));
    fig.floor_install = Some(floor_phase(floor, "install", n)?);
    let Some((first_full, last_full)) = full else {
        fig.converge_note = Some(format!(
            "did not announce every route in {} s: {}",
            timeout.as_secs_f64(),
            present_range(plan, &sinks)
        ));
        fig.withdraw_note = Some("not measured (not every route announced)".into());
        span.finish(fig, &sinks);
        return Ok(());
    };
    fig.converge_s = Some(secs(t0, last_full));
    fig.first_sink_full_s = Some(secs(t0, first_full));
    fig.cpu_converge_s = span.cpu().zip(span.cpu0).map(|(b, a)| b - a);
    fig.rss_converged_kib = span.kib("VmRSS");
    eprintln!("[{tag}] announced all in {:.2} s", secs(t0, last_full));

    // Delete.
    tokio::time::sleep(SETTLE).await;
    check_sessions(None, &sinks)?;
    let cpu2 = span.cpu();
    let tw = Instant::now();
    floor.ask("remove")?;
    let empty = wait_all(None, &sinks, timeout, |s| s.stats.empty_at.get().copied()).await?;
    fig.floor_remove = Some(floor_phase(floor, "remove", n)?);
    withdrawn(fig, tag, tw, empty, || {
        format!("did not withdraw every route in {} s: {}", timeout.as_secs_f64(), present_range(plan, &sinks))
    });
    let cpu_end = span.finish(fig, &sinks);
    fig.cpu_withdraw_s = cpu_end.zip(cpu2).map(|(b, a)| b - a);
    Ok(())
}

struct Namespaces {
    /// None in the import scenario.
    feed: Option<Netns>,
    dut: Netns,
    /// None in the fib scenario.
    sink: Option<Netns>,
}

/// One device from start to stop. Panics of the harness (a device that does not
/// start, an `ip` command that fails) unwind through the guards, which stop the
/// processes and delete the namespaces; the caller catches them.
fn run_dut(plan: &Plan, dut: Dut, timeout: Duration, fig: &mut Figures) {
    let fib = plan.scenario == Scenario::Fib;
    let fed = plan.scenario.fed();
    // The fib and import scenarios' own labs and namespaces (bench-fib-<dut>-...,
    // bench-imp-<dut>-...): a transit run of the same device elsewhere on the machine
    // does not meet them.
    let name = match plan.scenario {
        Scenario::Fib => format!("fib-{}", dut.name()),
        Scenario::Import => format!("imp-{}", dut.name()),
        _ => dut.name().to_string(),
    };
    // Declared in this order so that they drop in reverse: processes, namespaces, lab.
    let lab = Lab::new(&format!("bench-{name}"), 0);
    let ns = Namespaces {
        feed: fed.then(|| Netns::new(&format!("bench-{name}-feed"))),
        dut: Netns::new(&format!("bench-{name}-dut")),
        sink: (!fib).then(|| Netns::new(&format!("bench-{name}-sink"))),
    };
    if let Some(feed) = &ns.feed {
        veth(&ns.dut, DUT_FEED_IF, feed, "bn-feed");
        ns.dut.addr(DUT_FEED_IF, &format!("{DUT_FEED}/24"));
        feed.addr("bn-feed", &format!("{FEEDER}/24"));
    }
    if let Some(sink) = &ns.sink {
        veth(&ns.dut, "bn-dsink", sink, "bn-sink");
        ns.dut.addr("bn-dsink", &format!("{DUT_SINK}/24"));
        let sink_addrs: Vec<String> = plan.sinks().map(|a| format!("{a}/24")).collect();
        sink.addrs("bn-sink", &sink_addrs);
    }

    let router_id = DUT_FEED.to_string();
    let mut running = match dut {
        Dut::Bird => Running::Bird(Bird::start(&lab, &ns.dut, "bird", &router_id, &bird_config(plan))),
        Dut::Frr if plan.scenario.zebra() => {
            Running::FrrZebra(FrrZebra::start(&lab, &ns.dut, &router_id, &frr_config(plan)))
        }
        Dut::Frr => Running::Frr(Frr::start(&lab, &ns.dut, "frr", DUT_AS, &router_id, &frr_config(plan))),
        Dut::Ours => Running::Ours(Daemon::start(&lab, &ns.dut, &ours_config(&lab, plan))),
        Dut::Floor => Running::Floor(Floor::start(&lab, &ns.dut, plan).unwrap_or_else(|e| panic!("{e}"))),
    };
    // Import: what adds and deletes the kernel routes the device announces.
    let mut floor = (plan.scenario == Scenario::Import)
        .then(|| Floor::start(&lab, &ns.dut, plan).unwrap_or_else(|e| panic!("{e}")));
    let pids = running.pids();
    assert!(!pids.is_empty(), "the device runs");
    eprintln!("[{name}] {} running, pid {pids:?}", fig.version);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let result = runtime.block_on(measure(plan, dut, &ns, &mut running, floor.as_mut(), timeout, fig));
    // Closes every session (and aborts the tasks) before the device stops.
    drop(runtime);
    if let Err(e) = result {
        fig.error = Some(e);
    }
    if plan.scenario == Scenario::Import {
        fig.lost_notifications = Some(running.logs(&lab).iter().map(|l| lost_notifications(l)).sum());
    }
    let incomplete = match plan.scenario {
        Scenario::Transit | Scenario::Rr | Scenario::Fib | Scenario::Import => fig.withdraw_s.is_none(),
        Scenario::Refused => false,
    };
    if fig.error.is_some() || !fig.finished(plan.scenario) || incomplete {
        for log in running.logs(&lab) {
            eprintln!("----- last lines of {} -----\n{}", log.display(), interop::tail(&log, 15));
        }
    }
}

/// Lines of a device's log that say it lost kernel route notifications (BIRD: it then
/// waits for its next scan; ours: it dumps the table again).
fn lost_notifications(log: &Path) -> usize {
    const SAYINGS: [&str; 2] = ["Kernel dropped some netlink messages", "netlink overrun, notifications lost"];
    let text = fs::read_to_string(log).unwrap_or_default();
    text.lines().filter(|l| SAYINGS.iter().any(|w| l.contains(w))).count()
}

fn panic_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".into()
    }
}

// ------------------------------------------------------------------ report

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// A figure of the summary table, in a column headed "label unit".
struct Column {
    label: &'static str,
    unit: &'static str,
    digits: usize,
    /// A time: its median only when every run of the device finished (CPU and memory
    /// count regardless). The first such column says "DNF" when a run did not.
    timed: bool,
    /// Keys of the JSON medians and of the ratios to BIRD.
    key: &'static str,
    ratio_key: &'static str,
    /// The figure of one run, given the table's size.
    value: fn(&Figures, usize) -> Option<f64>,
}

impl Column {
    fn head(&self) -> String {
        format!("{} {}", self.label, self.unit).trim().to_string()
    }
}

fn mib(kib: Option<u64>) -> Option<f64> {
    kib.map(|k| k as f64 / 1024.0)
}

/// RSS after the feed minus RSS before, KiB (negative when the device gave memory back).
fn growth_kib(f: &Figures) -> Option<f64> {
    f.rss_after_kib.zip(f.rss_idle_kib).map(|(a, b)| a as f64 - b as f64)
}

const CPU_COLUMN: Column =
    Column { label: "CPU", unit: "s", digits: 2, timed: false, key: "cpu_s", ratio_key: "cpu", value: |f, _| f.cpu_s };
const PEAK_RSS_COLUMN: Column = Column {
    label: "peak RSS",
    unit: "MiB",
    digits: 1,
    timed: false,
    key: "peak_rss_mib",
    ratio_key: "peak_rss",
    value: |f, _| mib(f.peak_rss_kib),
};

const WITHDRAW_COLUMN: Column = Column {
    label: "withdraw",
    unit: "s",
    digits: 2,
    timed: true,
    key: "withdraw_s",
    ratio_key: "withdraw",
    value: |f, _| f.withdraw_s,
};

const TABLE_COLUMNS: [Column; 4] = [
    Column {
        label: "converge",
        unit: "s",
        digits: 2,
        timed: true,
        key: "converge_s",
        ratio_key: "converge",
        value: |f, _| f.converge_s,
    },
    WITHDRAW_COLUMN,
    CPU_COLUMN,
    PEAK_RSS_COLUMN,
];

const REFUSED_COLUMNS: [Column; 7] = [
    Column {
        label: "RSS before",
        unit: "MiB",
        digits: 1,
        timed: false,
        key: "rss_before_mib",
        ratio_key: "rss_before",
        value: |f, _| mib(f.rss_idle_kib),
    },
    Column {
        label: "RSS after",
        unit: "MiB",
        digits: 1,
        timed: false,
        key: "rss_after_mib",
        ratio_key: "rss_after",
        value: |f, _| mib(f.rss_after_kib),
    },
    Column {
        label: "growth",
        unit: "MiB",
        digits: 1,
        timed: false,
        key: "rss_growth_mib",
        ratio_key: "rss_growth",
        value: |f, _| growth_kib(f).map(|k| k / 1024.0),
    },
    Column {
        label: "",
        unit: "B/prefix",
        digits: 1,
        timed: false,
        key: "rss_growth_bytes_per_prefix",
        ratio_key: "rss_growth_per_prefix",
        value: |f, prefixes| growth_kib(f).map(|k| k * 1024.0 / prefixes as f64),
    },
    PEAK_RSS_COLUMN,
    CPU_COLUMN,
    Column {
        label: "process",
        unit: "s",
        digits: 2,
        timed: true,
        key: "process_s",
        ratio_key: "process",
        value: |f, _| f.process_s,
    },
];

const FIB_COLUMNS: [Column; 4] = [
    Column {
        label: "install",
        unit: "s",
        digits: 2,
        timed: true,
        key: "install_s",
        ratio_key: "install",
        value: |f, _| f.converge_s,
    },
    WITHDRAW_COLUMN,
    CPU_COLUMN,
    PEAK_RSS_COLUMN,
];

const IMPORT_COLUMNS: [Column; 5] = [
    Column {
        label: "add",
        unit: "s",
        digits: 2,
        timed: false,
        key: "add_s",
        ratio_key: "add",
        value: |f, _| f.floor_install.map(|p| p.seconds),
    },
    Column {
        label: "announce-all",
        unit: "s",
        digits: 2,
        timed: true,
        key: "announce_all_s",
        ratio_key: "announce_all",
        value: |f, _| f.converge_s,
    },
    Column {
        label: "withdraw-all",
        unit: "s",
        digits: 2,
        timed: true,
        key: "withdraw_all_s",
        ratio_key: "withdraw_all",
        value: |f, _| f.withdraw_s,
    },
    CPU_COLUMN,
    PEAK_RSS_COLUMN,
];

impl Scenario {
    fn columns(self) -> &'static [Column] {
        match self {
            Scenario::Transit | Scenario::Rr => &TABLE_COLUMNS,
            Scenario::Refused => &REFUSED_COLUMNS,
            Scenario::Fib => &FIB_COLUMNS,
            Scenario::Import => &IMPORT_COLUMNS,
        }
    }
    /// The column that says whether a run finished.
    fn done_column(self) -> usize {
        self.columns().iter().position(|c| c.timed).expect("a timed column")
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// One device over all its runs: the median of each figure over the undisturbed runs
/// that have it (over all runs when every run was disturbed). A device with a run that
/// did not finish has no timing figures at all.
struct Summary {
    dut: String,
    runs: usize,
    /// Runs that finished (converged; refused: processed the feed).
    finished: usize,
    /// Runs the medians are taken over.
    counted: usize,
    /// One per column of the scenario.
    metrics: Vec<Option<f64>>,
}

impl Summary {
    fn done(&self, scenario: Scenario) -> bool {
        self.metrics[scenario.done_column()].is_some()
    }
}

impl Figures {
    /// Other processes used more than `DISTURBED_CORES` on average while it ran.
    fn disturbed(&self) -> bool {
        matches!((self.other_cpu_s, self.span_s), (Some(o), Some(s)) if o > DISTURBED_CORES * s)
    }
    /// The run got to the end: converged, or (refused) processed the whole feed.
    fn finished(&self, scenario: Scenario) -> bool {
        match scenario {
            Scenario::Transit | Scenario::Rr | Scenario::Fib | Scenario::Import => self.converge_s.is_some(),
            Scenario::Refused => self.process_s.is_some(),
        }
    }
    /// The figure of each column of the scenario.
    fn metrics(&self, plan: &Plan) -> Vec<Option<f64>> {
        plan.scenario.columns().iter().map(|c| (c.value)(self, plan.prefixes)).collect()
    }
}

fn summarize(plan: &Plan, args: &Args, results: &[Figures]) -> Vec<Summary> {
    args.duts
        .iter()
        .map(|d| {
            let runs: Vec<&Figures> = results.iter().filter(|f| f.dut == d.name()).collect();
            let finished = runs.iter().filter(|f| f.finished(plan.scenario)).count();
            let all = finished == runs.len();
            let quiet: Vec<&Figures> = runs.iter().copied().filter(|f| !f.disturbed()).collect();
            let counted = if quiet.is_empty() { runs.clone() } else { quiet };
            // Timings only when every run got there; CPU and memory regardless.
            let figures = plan
                .scenario
                .columns()
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if c.timed && !all {
                        None
                    } else {
                        median(counted.iter().filter_map(|f| f.metrics(plan)[i]).collect())
                    }
                })
                .collect();
            Summary { dut: d.name().to_string(), runs: runs.len(), finished, counted: counted.len(), metrics: figures }
        })
        .collect()
}

/// One line of the summary table: the device, then the cells right-aligned under
/// their column heads.
fn row(s: &mut String, columns: &[Column], name: &str, cells: &[String]) {
    let _ = write!(s, "{name:<6}");
    for (c, v) in columns.iter().zip(cells) {
        let _ = write!(s, " | {v:>w$}", w = c.head().len().max(7));
    }
    let _ = writeln!(s);
}

fn report(plan: &Plan, args: &Args, results: &[Figures], summaries: &[Summary]) -> String {
    let columns = plan.scenario.columns();
    let done = plan.scenario.done_column();
    let mut s = String::new();
    let sinks = if plan.scenario == Scenario::Fib {
        format!("installed into the device's kernel table {FIB_TABLE} (main)")
    } else if plan.scenario == Scenario::Import {
        format!("kernel routes (blackhole /32s of protocol static) announced to {} sink(s)", plan.clients)
    } else {
        format!("{} sink(s)", plan.clients)
    };
    let _ = writeln!(
        s,
        "\nscenario {}: {} prefixes in {} attribute sets, {sinks}{}",
        plan.scenario.name(),
        plan.prefixes,
        plan.groups,
        if args.repeat > 1 {
            format!("; medians of {} runs per device, interleaved, without disturbed runs", args.repeat)
        } else {
            String::new()
        }
    );
    if plan.scenario == Scenario::Refused {
        let _ = writeln!(
            s,
            "the device refuses every route of the feeder; RSS before the feed and after the device processed it \
             (the feed written and 1 s without CPU); process: from the feed's first octet"
        );
    }
    if plan.scenario == Scenario::Fib {
        let _ = writeln!(
            s,
            "install: from the feeder's first octet (floor: from asking fib-floor) until the table held every \
             route; withdraw: from the withdrawal's first octet until it held none; routes counted from the \
             kernel's route notifications in the device's namespace, checked with /proc/net/fib_triestat; \
             CPU and peak RSS of the device's processes (frr: bgpd + zebra)"
        );
    }
    if plan.scenario == Scenario::Import {
        let _ = writeln!(
            s,
            "add: fib-floor's own time to add them to the device's table {FIB_TABLE} (first sendmsg to last \
             acknowledgement); announce-all: from asking it to add them until the sink held every route; \
             withdraw-all: from asking it to delete them until the sink held none; CPU and peak RSS of the \
             device's processes (frr: bgpd + zebra), not fib-floor's"
        );
    }
    let heads: Vec<String> = columns.iter().map(Column::head).collect();
    row(&mut s, columns, "DUT", &heads);
    // As wide as a row, and one more.
    let width = 7 + columns.iter().map(|c| 3 + c.head().len().max(7)).sum::<usize>();
    let _ = writeln!(s, "{}", "-".repeat(width));
    for sm in summaries {
        let mut cells: Vec<String> = columns.iter().zip(&sm.metrics).map(|(c, &v)| cell(v, c.digits)).collect();
        if !sm.done(plan.scenario) {
            cells[done] =
                if sm.finished == 0 { "DNF".into() } else { format!("DNF {}/{}", sm.runs - sm.finished, sm.runs) };
        }
        let name = if sm.counted < sm.runs { format!("{}*", sm.dut) } else { sm.dut.clone() };
        row(&mut s, columns, &name, &cells);
    }
    for sm in summaries.iter().filter(|sm| sm.counted < sm.runs) {
        let _ = writeln!(s, "* {}: median of the {} undisturbed runs of {}", sm.dut, sm.counted, sm.runs);
    }
    let reference = plan.scenario.reference();
    if let Some(base) = summaries.iter().find(|sm| sm.dut == reference && sm.done(plan.scenario)) {
        let others: Vec<&Summary> = summaries.iter().filter(|sm| sm.dut != reference).collect();
        if !others.is_empty() {
            let _ = writeln!(
                s,
                "ratio to {reference} (same invocation; above 1: slower, more CPU or more memory than {reference})"
            );
            for sm in others {
                // CPU and memory of a device that did not do the work compare nothing.
                let r: Vec<String> = if sm.done(plan.scenario) {
                    sm.metrics.iter().zip(&base.metrics).map(|(&a, &b)| cell(ratio(a, b), 2)).collect()
                } else {
                    (0..columns.len()).map(|i| if i == done { "DNF" } else { "-" }.to_string()).collect()
                };
                row(&mut s, columns, &sm.dut, &r);
            }
        }
    }
    let _ = writeln!(s);
    for f in results {
        let label = if args.repeat > 1 { format!("{} run {}", f.dut, f.run) } else { f.dut.clone() };
        let _ = write!(s, "{label}: {}", f.version);
        if args.repeat > 1 {
            let each: Vec<String> = columns
                .iter()
                .zip(f.metrics(plan))
                .map(|(c, v)| format!("{} {} {}", c.label, cell(v, c.digits), c.unit).trim().to_string())
                .collect();
            let _ = write!(s, "; {}", each.join(", "));
        }
        if let (Some(first), Some(written)) = (f.first_prefix_s, f.feed_written_s) {
            let _ = write!(s, "; first prefix at a sink after {first:.2} s, feed written in {written:.2} s");
        } else if let (Scenario::Refused, Some(written)) = (plan.scenario, f.feed_written_s) {
            let _ = write!(s, "; feed written in {written:.2} s");
        } else if let (Scenario::Import, Some(first)) = (plan.scenario, f.first_prefix_s) {
            let _ = write!(s, "; first route at a sink after {first:.3} s");
        }
        if let (Some(c), Some(first)) = (f.converge_s, f.first_sink_full_s) {
            if plan.clients > 1 {
                let _ = write!(s, "; first sink complete after {first:.2} s, last after {c:.2} s");
            }
        }
        if let (Some(a), Some(b)) = (f.cpu_converge_s, f.cpu_withdraw_s) {
            let phases = if plan.scenario == Scenario::Import { "announcing" } else { "converging" };
            let _ = write!(s, "; device CPU {a:.2} s {phases}, {b:.2} s withdrawing");
        }
        if let (Some(r), Scenario::Transit | Scenario::Rr) = (f.rss_idle_kib, plan.scenario) {
            let _ = write!(s, "; RSS {:.1} MiB before the feed", r as f64 / 1024.0);
        }
        if let Some(c) = f.bench_cpu_s {
            let _ = write!(s, "; bench process CPU {c:.2} s");
        }
        if let (Some(o), Some(span)) = (f.other_cpu_s, f.span_s) {
            let _ = write!(s, "; other processes used {o:.2} CPU s during the {span:.1} s measured");
            if f.disturbed() {
                let _ = write!(s, " (DISTURBED: over {DISTURBED_CORES} cores on average)");
            }
        }
        if let Some(q) = &f.quiet {
            let _ = write!(s, "; {q}");
        }
        if f.sink_unexpected > 0 {
            let _ = write!(s, "; {} unexpected prefixes", f.sink_unexpected);
        }
        if let Some(p) = &f.peaks {
            let _ = write!(s, "; peak RSS {p}");
        }
        if let Some(n) = f.lost_notifications.filter(|&n| n > 0) {
            let _ = write!(s, "; {n} log lines say kernel notifications were lost");
        }
        if let Some(b) = f.fib_baseline {
            let _ = write!(s, "; {b} routes in the table before");
        }
        if let Some(c) = &f.fib_counted_by {
            let _ = write!(s, "; counted by {c} ({} received)", f.fib_notifications);
        }
        let words = if plan.scenario == Scenario::Import { ["add", "delete"] } else { ["install", "remove"] };
        for (what, p) in words.into_iter().zip([&f.floor_install, &f.floor_remove]) {
            if let Some(p) = p {
                let _ = write!(
                    s,
                    "; fib-floor's own {what}: {} routes in {:.2} s, {} errors",
                    p.routes, p.seconds, p.errors
                );
            }
        }
        if let Some(w) = f.withdraw_written_s.filter(|_| plan.scenario == Scenario::Fib) {
            let _ = write!(s, "; withdrawal written in {w:.2} s");
        }
        let _ = writeln!(s);
        for c in &f.fib_checks {
            let _ = writeln!(s, "  {label}: {c}");
        }
        for note in [&f.converge_note, &f.withdraw_note, &f.process_note, &f.error].into_iter().flatten() {
            let _ = writeln!(s, "  {label}: {note}");
        }
    }
    let how = if plan.scenario == Scenario::Fib {
        "FRR runs as zebra + bgpd, BIRD with a kernel protocol, ours with [kernel] install = true; floor is \
         fib-floor (batched rtnetlink requests, no BGP)"
    } else if plan.scenario == Scenario::Import {
        "FRR runs as zebra + bgpd with redistribute kernel, BIRD with a kernel protocol that learns, ours with \
         [[kernel.import]]; fib-floor adds and deletes the routes (batched rtnetlink requests)"
    } else {
        "FRR runs as bgpd -Z (no zebra) and BIRD without a kernel protocol: no device installs routes in a FIB"
    };
    let _ = writeln!(
        s,
        "timeouts: {} s per phase (ours: {} s); {how}",
        args.timeout.as_secs_f64(),
        args.ours_timeout.as_secs_f64()
    );
    s
}

/// Waits (at most `max`) until the rest of the machine used less than
/// `QUIET_CORES` over one second, so that a run does not start in the middle of
/// someone else's build. Says how it went.
fn wait_quiet(max: Duration) -> String {
    if max.is_zero() {
        return "no wait for a quiet machine".into();
    }
    let start = Instant::now();
    loop {
        let a = machine_busy_seconds();
        std::thread::sleep(Duration::from_secs(1));
        let busy = machine_busy_seconds().zip(a).map(|(b, a)| b - a).unwrap_or(0.0);
        if busy < QUIET_CORES {
            return format!(
                "machine {:.0}% busy (of one core) before the start, after {:.0} s of waiting",
                busy * 100.0,
                start.elapsed().as_secs_f64()
            );
        }
        if start.elapsed() >= max {
            eprintln!("WARNING: the machine is still busy ({busy:.2} cores) after {max:?}: measuring anyway");
            return format!(
                "machine still {:.0}% busy (of one core) at the start after {:?} of waiting",
                busy * 100.0,
                max
            );
        }
    }
}

fn machine(load_start: &str) -> Value {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim()));
    json!({
        "cpu": model,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string()),
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
    })
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_string()).unwrap_or_default()
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2)).map(|u| u == "0")
        })
        .unwrap_or(false)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("e2e-bench: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !is_root() {
        eprintln!("e2e-bench: needs root (network namespaces, veth pairs, port 179)");
        return ExitCode::from(2);
    }
    let load_start = loadavg();
    eprintln!("load average at start: {load_start}");
    let plan = Plan::new(&args);

    let mut results = Vec::new();
    for run in 1..=args.repeat {
        for &dut in &args.duts {
            let mut fig = Figures {
                dut: dut.name().to_string(),
                run,
                version: version(dut, plan.scenario),
                ..Figures::default()
            };
            if let Some(why) = missing(dut, plan.scenario) {
                fig.error = Some(why);
                results.push(fig);
                continue;
            }
            let timeout = if dut == Dut::Ours { args.ours_timeout } else { args.timeout };
            eprintln!("\n===== {} ({}, run {run} of {}) =====", dut.name(), plan.scenario.name(), args.repeat);
            // Also lets the previous device's teardown finish.
            fig.quiet = Some(wait_quiet(args.quiet_wait));
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| run_dut(&plan, dut, timeout, &mut fig))) {
                let text = panic_text(p.as_ref());
                fig.error = Some(if text.contains("kernel: unknown key") {
                    format!("this bgp-daemon does not know [kernel] yet (no FIB in this build): {text}")
                } else {
                    format!("the run failed: {text}")
                });
            }
            results.push(fig);
        }
    }

    let summaries = summarize(&plan, &args, &results);
    println!("{}", report(&plan, &args, &results, &summaries));
    if let Some(path) = &args.json {
        let columns = plan.scenario.columns();
        let reference = plan.scenario.reference();
        let base = summaries.iter().find(|sm| sm.dut == reference && sm.done(plan.scenario));
        let medians: serde_json::Map<String, Value> = summaries
            .iter()
            .map(|sm| {
                let mut m: serde_json::Map<String, Value> =
                    columns.iter().zip(&sm.metrics).map(|(c, v)| (c.key.to_string(), json!(v))).collect();
                m.insert("runs".into(), json!(sm.runs));
                let finished = match plan.scenario {
                    Scenario::Refused => "processed_runs",
                    Scenario::Fib => "installed_runs",
                    Scenario::Import => "announced_runs",
                    Scenario::Transit | Scenario::Rr => "converged_runs",
                };
                m.insert(finished.into(), json!(sm.finished));
                m.insert("median_of_runs".into(), json!(sm.counted));
                (sm.dut.clone(), Value::Object(m))
            })
            .collect();
        let ratios: serde_json::Map<String, Value> = summaries
            .iter()
            .filter(|sm| sm.dut != reference && sm.done(plan.scenario))
            .filter_map(|sm| {
                let b = base?;
                let r: serde_json::Map<String, Value> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.ratio_key.to_string(), json!(ratio(sm.metrics[i], b.metrics[i]))))
                    .collect();
                Some((sm.dut.clone(), Value::Object(r)))
            })
            .collect();
        let doc = json!({
            "scenario": plan.scenario.name(),
            "prefixes": plan.prefixes,
            "clients": plan.clients,
            "attribute_sets": plan.groups,
            "percent_len24": plan.percent_len24,
            "announce_updates": plan.announce_updates,
            "announce_octets": plan.announce.len(),
            "withdraw_updates": plan.withdraw_updates,
            "withdraw_octets": plan.withdraw.len(),
            "seed": args.seed,
            "repeat": args.repeat,
            "timeout_s": args.timeout.as_secs_f64(),
            "ours_timeout_s": args.ours_timeout.as_secs_f64(),
            "machine": machine(&load_start),
            "median": medians,
            format!("ratios_vs_{reference}"): ratios,
            "runs": results.iter().map(|f| f.json(plan.scenario)).collect::<Vec<_>>(),
        });
        let body = serde_json::to_string_pretty(&doc).expect("JSON") + "\n";
        if let Err(e) = fs::write(path, body) {
            eprintln!("e2e-bench: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("figures written to {}", path.display());
    }
    // A device that did not converge is a result, not a failure of the benchmark;
    // a run that could not measure at all is.
    if results.iter().any(|f| f.error.is_some()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
