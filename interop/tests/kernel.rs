//! The daemon and the Linux kernel's routing tables, in network namespaces against FRR:
//! `[[kernel.import]]` (kernel routes announced to FRR), `[kernel] install` (FRR's
//! routes in our namespace's kernel, ECMP, another table, coexisting routes of other
//! protocols, self next hops, next-hop tracking) and what stops and restarts do to the
//! installed routes. Routes are added and deleted with `ip -n NS route ...` in our
//! namespace. Test `N` owns `10.77.N.0/24` (180..197) and the namespaces
//! `it-k<name>-*`; see interop/README.md for the harness.
//!
//! Every test first checks that it can run (root, FRR installed, the daemon and bgpctl
//! built) and otherwise prints `SKIP: <reason>` and passes (`INTEROP_REQUIRE=1`: fails).
//! `show fib`, `show nexthops` and `show routes` are read from the daemon's control
//! socket directly (protocol version 3), so these tests do not depend on bgpctl's
//! subcommands for them.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bgp_core::ctl::{Command as Ctl, FibRow, FibState, NextHopRow, Reply, Request, RouteRow, PROTOCOL_VERSION};
use interop::scenario::{frr_neighbor, neighbor, Scenario};
use interop::{holds_for, ip, run, run_ok, skip_unless_ready, wait_until, Daemon, Frr, Lab, Netns};
use serde_json::Value;

const SEC: Duration = Duration::from_secs(1);
/// Our side of an eBGP session that exchanges everything (RFC 8212 would refuse all).
const ACC: [&str; 2] = ["import_policy = \"accept-all\"", "export_policy = \"accept-all\""];
/// Calico's case: pod blocks as `proto bird` blackholes.
const IMPORT: &str =
    "\n[[kernel.import]]\nwithin = [\"10.42.0.0/16\"]\nprotocol = [\"bird\"]\ntype = [\"blackhole\"]\n";
const INSTALL: &str = "\n[kernel]\ninstall = true\n";

// ----------------------------------------------------------------- helpers

/// One request on the daemon's control socket; the items of the answer.
fn ctl(d: &Daemon, command: Ctl) -> Result<Vec<Reply>, String> {
    let mut s = UnixStream::connect(&d.socket).map_err(|e| format!("{}: {e}", d.socket.display()))?;
    s.set_read_timeout(Some(10 * SEC)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(10 * SEC)).map_err(|e| e.to_string())?;
    let req = serde_json::to_string(&Request { version: PROTOCOL_VERSION, command }).expect("JSON");
    s.write_all(format!("{req}\n").as_bytes()).map_err(|e| format!("control socket: {e}"))?;
    let mut out = Vec::new();
    for line in BufReader::new(s).lines() {
        let line = line.map_err(|e| format!("control socket: {e}"))?;
        match serde_json::from_str::<Reply>(&line).map_err(|e| format!("control socket: {e}: {line}"))? {
            Reply::End => return Ok(out),
            Reply::Error { message } => return Err(message),
            r => out.push(r),
        }
    }
    Err("the control socket closed before the end of the answer".into())
}

/// `show fib [PREFIX]`.
fn fib(d: &Daemon, prefix: Option<&str>) -> Result<Vec<FibRow>, String> {
    let rows = ctl(d, Ctl::ShowFib { prefix: prefix.map(String::from) })?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match r {
            Reply::Fib(f) => Some(f),
            _ => None,
        })
        .collect())
}

/// The `show fib` row of `prefix`, if any.
fn fib_row(d: &Daemon, prefix: &str) -> Result<Option<FibRow>, String> {
    match fib(d, Some(prefix)) {
        Ok(rows) => Ok(rows.into_iter().find(|r| r.prefix == prefix)),
        // The daemon's answer for a prefix it has no FIB route for.
        Err(e) if e.starts_with("no FIB route") => Ok(None),
        Err(e) => Err(e),
    }
}

/// `Ok` once `prefix` is installed according to `show fib`.
fn fib_installed(d: &Daemon, prefix: &str) -> Result<FibRow, String> {
    match fib_row(d, prefix)? {
        Some(r) if r.state == FibState::Installed => Ok(r),
        other => Err(format!("show fib {prefix}: {other:?}")),
    }
}

/// `Ok` when neither the kernel (`table`: e.g. `["table", "100"]`, `[]` for main) nor
/// `show fib` has a route of ours for `prefix`.
fn gone(d: &Daemon, ns: &str, table: &[&str], prefix: &str) -> Result<(), String> {
    let mut args = table.to_vec();
    args.extend(["exact", prefix, "proto", "bgp"]);
    let t = kernel_text(ns, &args)?;
    match fib_row(d, prefix)? {
        None if t.trim().is_empty() => Ok(()),
        row => Err(format!("ip route {args:?}: {t:?}; show fib: {row:?}")),
    }
}

/// `show routes PREFIX`: the paths of one prefix.
fn routes(d: &Daemon, prefix: &str) -> Result<Vec<RouteRow>, String> {
    let rows = match ctl(
        d,
        Ctl::ShowRoutes { prefix: Some(prefix.to_string()), neighbor: None, direction: None, family: None },
    ) {
        Ok(rows) => rows,
        // The daemon's answer for a prefix it has no path for.
        Err(e) if e == "no route" => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(rows
        .into_iter()
        .filter_map(|r| match r {
            Reply::Route(r) => Some(*r),
            _ => None,
        })
        .filter(|r| r.prefix == prefix)
        .collect())
}

/// `show nexthops`.
fn nexthops(d: &Daemon) -> Result<Vec<NextHopRow>, String> {
    Ok(ctl(d, Ctl::ShowNextHops)?
        .into_iter()
        .filter_map(|r| match r {
            Reply::NextHop(n) => Some(n),
            _ => None,
        })
        .collect())
}

/// `ip -n NS route show ARGS...`, as text.
fn kernel_text(ns: &str, args: &[&str]) -> Result<String, String> {
    run_ok(Command::new("ip").args(["-n", ns, "route", "show"]).args(args))
}

/// The prefixes of `ip -n NS route show ARGS...` (a host route as `/32`; multipath
/// routes' `nexthop` lines skipped).
fn kernel_prefixes(ns: &str, args: &[&str]) -> Result<BTreeSet<String>, String> {
    let text = kernel_text(ns, args)?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let first = words.next()?;
            let p = if ["blackhole", "unreachable", "prohibit", "unicast"].contains(&first) {
                words.next()?
            } else {
                first
            };
            Some(if p.contains('/') { p.to_string() } else { format!("{p}/32") })
        })
        .collect())
}

/// Our routes in our namespace's main table (`proto bgp`).
fn ours_in_kernel(ns: &str) -> Result<BTreeSet<String>, String> {
    kernel_prefixes(ns, &["proto", "bgp"])
}

/// `ip -n NS route ARGS...`, which must succeed.
fn ipr(ns: &Netns, args: &[&str]) {
    let mut full = vec!["-n", ns.name.as_str(), "route"];
    full.extend_from_slice(args);
    ip(&full);
}

/// `ip -n NS -batch FILE` with `lines` (bounded: 120 s).
fn ip_batch(lab: &Lab, ns: &Netns, file: &str, lines: &str) {
    let path = lab.path(file);
    std::fs::write(&path, lines).expect("write the batch");
    let out = run(Command::new("ip").args(["-n", &ns.name, "-batch"]).arg(&path), 120 * SEC)
        .unwrap_or_else(|e| panic!("ip -batch {file}: {e}"));
    assert!(out.status.success(), "ip -batch {file}: {}", String::from_utf8_lossy(&out.stderr));
}

/// FRR's count of prefixes received from `addr` (its summary's `pfxRcd`).
fn frr_pfx_rcd(frr: &Frr, addr: &str) -> Result<u64, String> {
    let v = frr.json("show bgp summary json")?;
    let p = &v["ipv4Unicast"]["peers"][addr];
    p["pfxRcd"].as_u64().ok_or_else(|| format!("no pfxRcd for {addr} in FRR's summary: {p}"))
}

/// FRR's first path for `prefix`, if it has one.
fn frr_path(frr: &Frr, prefix: &str) -> Result<Option<Value>, String> {
    let v = frr.json(&format!("show bgp ipv4 unicast {prefix} json"))?;
    Ok(v["paths"].get(0).cloned())
}

/// Polls `check` every 50 ms for at most `timeout`; how long it took (panics on
/// timeout with the last thing seen). For the latency checks, where `wait_until`'s
/// 250 ms steps are too coarse.
fn fast_wait(timeout: Duration, what: &str, mut check: impl FnMut() -> Result<(), String>) -> Duration {
    let start = Instant::now();
    loop {
        let last = match check() {
            Ok(()) => {
                let t = start.elapsed();
                eprintln!("    {:5.2}s  {what}", t.as_secs_f64());
                return t;
            }
            Err(e) => e,
        };
        if start.elapsed() >= timeout {
            panic!("timed out after {timeout:?} waiting for: {what}\n  last seen: {last}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Samples `ip -n NS route show proto bgp` every 50 ms in a thread, recording every
/// sample that lacks one of `want`.
struct KernelSampler {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<(usize, Vec<String>)>>,
}

impl KernelSampler {
    fn start(ns: &Netns, want: &[&str]) -> KernelSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let (ns, want): (String, Vec<String>) = (ns.name.clone(), want.iter().map(|s| s.to_string()).collect());
        let flag = stop.clone();
        let start = Instant::now();
        let handle = thread::spawn(move || {
            let (mut samples, mut misses) = (0, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                match ours_in_kernel(&ns) {
                    Ok(have) => {
                        let missing: Vec<&String> = want.iter().filter(|w| !have.contains(*w)).collect();
                        if !missing.is_empty() {
                            misses.push(format!("{:.2}s: missing {missing:?}", start.elapsed().as_secs_f64()));
                        }
                    }
                    Err(e) => misses.push(format!("{:.2}s: {e}", start.elapsed().as_secs_f64())),
                }
                samples += 1;
                thread::sleep(Duration::from_millis(50));
            }
            (samples, misses)
        });
        KernelSampler { stop, handle: Some(handle) }
    }

    /// Stops sampling; panics if a sample lacked a route.
    fn finish(mut self, what: &str) {
        self.stop.store(true, Ordering::Relaxed);
        let (samples, misses) = self.handle.take().expect("once").join().expect("the sampler thread");
        eprintln!("    {samples} samples of the kernel table, {} incomplete", misses.len());
        assert!(samples >= 10, "too few samples ({samples}) to tell anything");
        assert!(
            misses.is_empty(),
            "{what}: samples lacking routes ({} of {samples}):\n{}",
            misses.len(),
            misses.join("\n")
        );
    }
}

impl Drop for KernelSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// FRR announcing `networks` to us (eBGP, AS 65001), with graceful restart if `gr`.
fn frr_announcing(s: &Scenario, networks: &[&str], gr: bool) -> Frr {
    let gr = if gr { " bgp graceful-restart\n bgp graceful-restart preserve-fw-state\n" } else { "" };
    s.frr("frr", 65001, &(gr.to_string() + &frr_neighbor(&s.v4(1), 65000, &[], networks)))
}

/// FRR (with graceful restart) announcing `prefixes`, our daemon installing them
/// (`[kernel] install = true`), once all are in our kernel; with our config, for
/// restarts.
fn start_installing(s: &Scenario, prefixes: &[&str]) -> (Frr, String, Daemon) {
    let frr = frr_announcing(s, prefixes, true);
    let config = s.config(65000, &neighbor(&s.v4(2), 65001, &ACC)) + INSTALL;
    let d = s.start_ours(&config);
    let name = s.us().name.clone();
    wait_until(30 * SEC, &format!("FRR's {} routes in our kernel", prefixes.len()), || kernel_has(&name, prefixes));
    (frr, config, d)
}

/// `ip -n NS route show ARGS...` once it has a route of ours (`proto bgp`).
fn ours_there(ns: &str, args: &[&str]) -> Result<String, String> {
    let t = kernel_text(ns, args)?;
    if t.contains("proto bgp") {
        Ok(t)
    } else {
        Err(format!("ip route show {args:?}: {t:?}"))
    }
}

/// `Ok` once the kernel of `ns` has our routes for at least `want`.
fn kernel_has(ns: &str, want: &[&str]) -> Result<BTreeSet<String>, String> {
    let have = ours_in_kernel(ns)?;
    if want.iter().all(|w| have.contains(*w)) {
        Ok(have)
    } else {
        Err(format!("our routes in the kernel: {have:?}, want {want:?}"))
    }
}

/// The restart (R) bit of our OPEN and the forwarding (F) bit for IPv4 unicast, as FRR
/// shows them for its current session with us.
fn frr_gr_bits(frr: &Frr, addr: &str) -> Result<(bool, bool), String> {
    let gr = frr.established(addr)?["gracefulRestartInfo"].clone();
    match (gr["rBit"].as_bool(), gr["ipv4Unicast"]["fBit"].as_bool()) {
        (Some(r), Some(f)) => Ok((r, f)),
        _ => Err(format!("FRR's gracefulRestartInfo: {gr}")),
    }
}

/// Polls `check` every 100 ms for at most `timeout`: `Ok` as soon as it holds, else the
/// last thing it saw.
fn settle(timeout: Duration, check: &mut dyn FnMut() -> Result<(), String>) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => return Ok(()),
            Err(e) if start.elapsed() >= timeout => return Err(format!("not within {timeout:?}; last seen: {e}")),
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The part of the daemon's log written since `from` bytes.
fn log_since(d: &Daemon, from: usize) -> String {
    d.log_text().get(from..).unwrap_or_default().to_string()
}

// ----------------------------------------------------------------- import

/// Tests 1-3: a `proto bird` blackhole in our namespace reaches FRR with our address
/// as next hop; a live add and a live delete reach FRR within 2 s each; routes of
/// another protocol, of another type or outside `within` are never announced (at
/// start, from the dump, and live, from notifications).
#[test]
fn import_blackhole_reaches_frr_live_and_filtered() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("kimport", 180, "frr");
    let (a, b) = (s.v4(1), s.v4(2));
    let us = s.us();
    ipr(us, &["add", "blackhole", "10.42.7.0/26", "proto", "bird"]);
    // Filtered, present at start: another protocol, another type, outside `within`.
    ipr(us, &["add", "blackhole", "10.42.8.0/26", "proto", "static"]);
    ipr(us, &["add", "10.42.9.0/26", "via", &b, "proto", "bird"]);
    ipr(us, &["add", "blackhole", "10.99.1.0/26", "proto", "bird"]);
    let frr = s.frr("frr", 65001, &frr_neighbor(&a, 65000, &[], &[]));
    let d = s.start_ours(&(s.config(65000, &neighbor(&b, 65001, &ACC)) + IMPORT));
    wait_until(30 * SEC, "FRR is Established with us", || frr.established(&a));

    let path = wait_until(20 * SEC, "FRR has 10.42.7.0/26", || {
        frr_path(&frr, "10.42.7.0/26")?.ok_or_else(|| "not yet".to_string())
    });
    assert_eq!(path["nexthops"][0]["ip"].as_str(), Some(a.as_str()), "our address as next hop: {path}");
    let row = routes(&d, "10.42.7.0/26").unwrap();
    let row = row.first().unwrap_or_else(|| panic!("show routes 10.42.7.0/26: nothing"));
    assert_eq!(row.from, "kernel", "{row:?}");
    let k = row.kernel.as_ref().unwrap_or_else(|| panic!("no kernel provenance: {row:?}"));
    assert_eq!((k.table, k.protocol, k.kind.as_str()), (254, 12, "blackhole"), "{row:?}");

    s.step("live add of 10.42.7.64/26");
    ipr(us, &["add", "blackhole", "10.42.7.64/26", "proto", "bird"]);
    let up = fast_wait(5 * SEC, "FRR has the added 10.42.7.64/26", || {
        frr_path(&frr, "10.42.7.64/26")?.map(drop).ok_or_else(|| "not yet".to_string())
    });
    s.step("live delete of 10.42.7.64/26");
    ipr(us, &["del", "blackhole", "10.42.7.64/26", "proto", "bird"]);
    let down = fast_wait(5 * SEC, "FRR lost the deleted 10.42.7.64/26", || match frr_path(&frr, "10.42.7.64/26")? {
        None => Ok(()),
        Some(p) => Err(format!("still there: {p}")),
    });
    assert!(up <= 2 * SEC, "a live add took {up:?} to reach FRR");
    assert!(down <= 2 * SEC, "a live delete took {down:?} to reach FRR");

    s.step("10.42.7.0/26 replaced in place by a unicast route (type filter), then by a blackhole again");
    ipr(us, &["replace", "10.42.7.0/26", "via", &b, "proto", "bird"]);
    fast_wait(5 * SEC, "FRR lost 10.42.7.0/26 (now unicast)", || match frr_path(&frr, "10.42.7.0/26")? {
        None => Ok(()),
        Some(p) => Err(format!("still there: {p}")),
    });
    ipr(us, &["replace", "blackhole", "10.42.7.0/26", "proto", "bird"]);
    fast_wait(5 * SEC, "FRR has 10.42.7.0/26 again (a blackhole again)", || {
        frr_path(&frr, "10.42.7.0/26")?.map(drop).ok_or_else(|| "not yet".to_string())
    });

    s.step("two matching routes of one prefix (metrics 10 and 30), beside a static one (metric 5)");
    ipr(us, &["add", "blackhole", "10.42.20.0/24", "proto", "bird", "metric", "10"]);
    ipr(us, &["add", "blackhole", "10.42.20.0/24", "proto", "bird", "metric", "30"]);
    ipr(us, &["add", "blackhole", "10.42.20.0/24", "proto", "static", "metric", "5"]);
    wait_until(10 * SEC, "FRR has 10.42.20.0/24", || {
        frr_path(&frr, "10.42.20.0/24")?.map(drop).ok_or_else(|| "not yet".to_string())
    });
    ipr(us, &["del", "blackhole", "10.42.20.0/24", "proto", "bird", "metric", "10"]);
    holds_for(2 * SEC, "FRR keeps 10.42.20.0/24 while the metric 30 route is there", || {
        frr_path(&frr, "10.42.20.0/24")?.map(drop).ok_or_else(|| "withdrawn".to_string())
    });
    ipr(us, &["del", "blackhole", "10.42.20.0/24", "proto", "bird", "metric", "30"]);
    fast_wait(5 * SEC, "FRR lost 10.42.20.0/24 (only the static route is left)", || {
        match frr_path(&frr, "10.42.20.0/24")? {
            None => Ok(()),
            Some(p) => Err(format!("still there: {p}")),
        }
    });

    s.step("filtered routes added live");
    ipr(us, &["add", "blackhole", "10.42.10.0/26", "proto", "static"]);
    ipr(us, &["add", "10.42.11.0/26", "via", &b, "proto", "bird"]);
    ipr(us, &["add", "blackhole", "10.99.2.0/26", "proto", "bird"]);
    // A matching one after them: once it is at FRR, the filtered ones were processed.
    ipr(us, &["add", "blackhole", "10.42.12.0/26", "proto", "bird"]);
    wait_until(10 * SEC, "FRR has 10.42.12.0/26", || {
        frr_path(&frr, "10.42.12.0/26")?.map(drop).ok_or_else(|| "not yet".to_string())
    });
    let filtered = ["10.42.8.0/26", "10.42.9.0/26", "10.99.1.0/26", "10.42.10.0/26", "10.42.11.0/26", "10.99.2.0/26"];
    holds_for(3 * SEC, "FRR has exactly our 2 matching routes, none of the filtered ones", || {
        for p in filtered {
            if let Some(path) = frr_path(&frr, p)? {
                return Err(format!("{p} was announced: {path}"));
            }
        }
        match frr_pfx_rcd(&frr, &a)? {
            2 => Ok(()),
            n => Err(format!("FRR has {n} prefixes from us, want 2")),
        }
    });
}

/// Test 4: 20,000 `proto bird` blackholes added in one `ip -batch` all reach FRR.
#[test]
fn import_20000_routes_in_one_batch() {
    skip_unless_ready!(frr: true, bird: false);
    const N: u32 = 20_000;
    let s = Scenario::link("kbatch", 181, "frr");
    let (a, b) = (s.v4(1), s.v4(2));
    let frr = s.frr("frr", 65001, &frr_neighbor(&a, 65000, &[], &[]));
    let _d = s.start_ours(&(s.config(65000, &neighbor(&b, 65001, &ACC)) + IMPORT));
    wait_until(30 * SEC, "FRR is Established with us", || frr.established(&a));
    let batch: String =
        (0..N).map(|i| format!("route add blackhole 10.42.{}.{}/32 proto bird\n", i >> 8, i & 255)).collect();
    let t = Instant::now();
    ip_batch(&s, s.us(), "routes.batch", &batch);
    let added = t.elapsed();
    wait_until(60 * SEC, "FRR has all 20,000 routes", || match frr_pfx_rcd(&frr, &a)? {
        n if n == u64::from(N) => Ok(()),
        n => Err(format!("FRR has {n} of {N}")),
    });
    eprintln!(
        "    FIGURES: ip -batch of {N} routes took {added:.2?}; all at FRR {:.2?} after the batch began",
        t.elapsed()
    );
    holds_for(2 * SEC, "FRR keeps exactly 20,000", || match frr_pfx_rcd(&frr, &a)? {
        n if n == u64::from(N) => Ok(()),
        n => Err(format!("FRR has {n} of {N}")),
    });
}

/// Test 5: a netlink overrun makes the reader dump again (a resync); the resync must
/// withdraw nothing that is still in the kernel, and catch up with what changed in the
/// notifications it lost. 256 `proto bird` blackholes are at FRR. The overrun is
/// provoked deterministically: the daemon is frozen (SIGSTOP; hold time 30 s here)
/// while 100,000 unrelated routes (`proto static`, never exported) are added, far more
/// notifications than the reader's 32 MiB socket buffer holds; meanwhile one stable
/// route is deleted and one new route added (both notifications are lost). After
/// SIGCONT the daemon must log the overrun; FRR's count, sampled every 20 ms
/// throughout, never drops below the 255 routes that stayed; at the end FRR has
/// exactly those 255 and the new one.
#[test]
fn import_overrun_resync_withdraws_nothing_that_stays() {
    skip_unless_ready!(frr: true, bird: false);
    const STABLE: u64 = 256;
    const CHURN: u32 = 100_000;
    let s = Scenario::link("koverrun", 182, "frr");
    let (a, b) = (s.v4(1), s.v4(2));
    // Hold time 30 s for this session, so that the freeze below cannot end it even on
    // a loaded machine.
    let frr = s.frr("frr", 65001, &frr_neighbor(&a, 65000, &["timers 10 30"], &[]));
    let d = s.start_ours(&(s.config(65000, &neighbor(&b, 65001, &[ACC[0], ACC[1], "hold_time = 30"])) + IMPORT));
    wait_until(30 * SEC, "FRR is Established with us", || frr.established(&a));
    let stable: String = (0..STABLE).map(|i| format!("route add blackhole 10.42.1.{i}/32 proto bird\n")).collect();
    ip_batch(&s, s.us(), "stable.batch", &stable);
    wait_until(30 * SEC, "FRR has the 256 stable routes", || match frr_pfx_rcd(&frr, &a)? {
        STABLE => Ok(()),
        n => Err(format!("FRR has {n}")),
    });
    let host = |i: u32| format!("10.{}.{}.{}/32", 128 + (i >> 16), (i >> 8) & 255, i & 255);
    let churn: String = (0..CHURN).map(|i| format!("route add blackhole {} proto static\n", host(i))).collect();
    let log_start = d.log_text().len();
    let signal = |sig: &str| {
        run_ok(Command::new("kill").arg(format!("-{sig}")).arg(d.pid().to_string())).expect("signal the daemon");
    };

    let sampling = AtomicBool::new(true);
    let (samples, low) = thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let (mut samples, mut low) = (0u64, Vec::new());
            while sampling.load(Ordering::Relaxed) {
                match frr_pfx_rcd(&frr, &a) {
                    Ok(n) if n >= STABLE - 1 => {}
                    Ok(n) => low.push(format!("FRR had {n} prefixes from us")),
                    Err(e) => low.push(e),
                }
                samples += 1;
                thread::sleep(Duration::from_millis(20));
            }
            (samples, low)
        });
        s.step("freezing the daemon (SIGSTOP) while the kernel changes");
        signal("STOP");
        let t = Instant::now();
        ipr(s.us(), &["del", "blackhole", "10.42.1.255/32", "proto", "bird"]);
        ip_batch(&s, s.us(), "churn.batch", &churn);
        ipr(s.us(), &["add", "blackhole", "10.42.2.1/32", "proto", "bird"]);
        s.step(&format!("{CHURN} routes added in {:.2?}; SIGCONT", t.elapsed()));
        signal("CONT");
        wait_until(30 * SEC, "the daemon logs the overrun", || {
            if log_since(&d, log_start).contains("netlink overrun") {
                Ok(())
            } else {
                Err("no overrun logged".to_string())
            }
        });
        wait_until(30 * SEC, "FRR has the new route and lost the deleted one", || {
            match (frr_path(&frr, "10.42.2.1/32")?, frr_path(&frr, "10.42.1.255/32")?) {
                (Some(_), None) => Ok(()),
                other => Err(format!("10.42.2.1/32, 10.42.1.255/32 at FRR: {other:?}")),
            }
        });
        thread::sleep(2 * SEC);
        sampling.store(false, Ordering::Relaxed);
        sampler.join().expect("the sampler thread")
    });
    eprintln!("    {samples} samples of FRR's count");
    assert!(samples >= 20, "too few samples of FRR's count ({samples})");
    assert!(low.is_empty(), "FRR lost routes that stayed in the kernel ({} samples):\n{}", low.len(), low.join("\n"));
    assert_eq!(frr_pfx_rcd(&frr, &a).unwrap(), STABLE, "FRR's count after the resync: 255 stayed, 1 new");
    d.established(&b).expect("the session survived the freeze");
}

// ----------------------------------------------------------------- install

/// Tests 6, 9 and 10: FRR's routes land in our namespace's main table with `proto bgp
/// metric 20` through FRR's address; a `proto static` route of the same prefix with
/// another metric stays beside ours; one at our metric (20) is never replaced (`show
/// fib` says failed, the static route is intact); a route whose next hop is our own
/// address (FRR's route-map sets it) is not installed.
#[test]
fn install_frr_routes_beside_static_ones_but_not_self_next_hops() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("kinstall", 183, "frr");
    let (a, b) = (s.v4(1), s.v4(2));
    let us = s.us();
    let name = us.name.clone();
    ipr(us, &["add", "blackhole", "10.183.2.0/24", "proto", "static", "metric", "100"]);
    ipr(us, &["add", "blackhole", "10.183.3.0/24", "proto", "static", "metric", "20"]);
    let body = format!(
        "{}\n address-family ipv4 unicast\n  network 10.183.1.0/24\n  network 10.183.2.0/24\n  network 10.183.3.0/24\n  \
         network 10.183.4.0/24\n  neighbor {a} route-map SELF out\n exit-address-family\nexit\n!\n\
         ip prefix-list SELFNH seq 5 permit 10.183.4.0/24\n!\nroute-map SELF permit 10\n match ip address prefix-list SELFNH\n \
         set ip next-hop {a}\n!\nroute-map SELF permit 20",
        frr_neighbor(&a, 65000, &[], &[])
    );
    let frr = s.frr("frr", 65001, &body);
    let d = s.start_ours(&(s.config(65000, &neighbor(&b, 65001, &ACC)) + INSTALL));
    // FRR sends 4; the one with our address as next hop is ignored on receipt (RFC 4271
    // §6.3), so 3 count as received.
    wait_until(30 * SEC, "FRR sent us 4 prefixes, we have 3", || {
        let sent = frr.json("show bgp summary json")?["ipv4Unicast"]["peers"][&a]["pfxSnt"].clone();
        let n = d.established(&b)?;
        match (sent.as_u64(), n.summary.prefixes_received) {
            (Some(4), 3) => Ok(()),
            other => Err(format!("FRR sent, we received: {other:?}")),
        }
    });

    // 6: proto bgp, metric 20, via FRR.
    let text = wait_until(15 * SEC, "10.183.1.0/24 in our kernel", || ours_there(&name, &["exact", "10.183.1.0/24"]));
    assert!(text.contains(&format!("via {b} ")) && text.contains("metric 20"), "ip route show 10.183.1.0/24: {text}");
    let row = fib_installed(&d, "10.183.1.0/24").unwrap();
    assert_eq!((row.table, row.protocol, row.metric), (254, 186, 20), "{row:?}");
    assert_eq!(row.next_hops.len(), 1, "{row:?}");
    assert_eq!(row.next_hops[0].gateway.map(|g| g.to_string()), Some(b.clone()), "{row:?}");

    // 9: beside a static route of another metric.
    let both = wait_until(15 * SEC, "10.183.2.0/24: ours beside the static route", || {
        ours_there(&name, &["exact", "10.183.2.0/24"])
    });
    assert!(both.contains("blackhole 10.183.2.0/24 proto static metric 100"), "the static route stays: {both}");
    fib_installed(&d, "10.183.2.0/24").unwrap();

    // 9: a static route at our metric is never replaced.
    let failed = wait_until(15 * SEC, "show fib: 10.183.3.0/24 failed", || match fib_row(&d, "10.183.3.0/24")? {
        Some(r) if r.state == FibState::Failed => Ok(r),
        other => Err(format!("{other:?}")),
    });
    eprintln!("    10.183.3.0/24: {:?} (errno {:?})", failed.error, failed.errno);
    // The same through bgpctl's JSON.
    let v = d.bgpctl(&["show", "fib", "10.183.3.0/24"]).unwrap();
    let cli = if v.is_array() { v[0].clone() } else { v };
    assert_eq!((cli["prefix"].as_str(), cli["state"].as_str()), (Some("10.183.3.0/24"), Some("failed")), "{cli}");
    assert!(failed.error.is_some() || failed.errno.is_some(), "a failed row says why: {failed:?}");
    holds_for(2 * SEC, "the static route at metric 20 is intact and alone", || {
        let t = kernel_text(&name, &["exact", "10.183.3.0/24"])?;
        if t.trim() == "blackhole 10.183.3.0/24 proto static metric 20" {
            Ok(())
        } else {
            Err(format!("ip route show 10.183.3.0/24: {t:?}"))
        }
    });

    s.step("the static route at metric 20 is deleted: ours takes its place");
    ipr(us, &["del", "blackhole", "10.183.3.0/24", "proto", "static", "metric", "20"]);
    wait_until(10 * SEC, "10.183.3.0/24 installed once the static route is gone", || {
        let t = kernel_text(&name, &["exact", "10.183.3.0/24", "proto", "bgp"])?;
        if !t.contains(&format!("via {b} ")) {
            return Err(format!("ip route: {t:?}"));
        }
        fib_installed(&d, "10.183.3.0/24").map(drop)
    });

    // 10: a next hop that is our own address: ignored on receipt, logged.
    let rows = routes(&d, "10.183.4.0/24").unwrap();
    assert!(rows.iter().all(|r| !r.reachable || r.from != b), "a path to ourselves is kept usable: {rows:?}");
    let log = d.log_text();
    assert!(
        log.contains("routes with one of our addresses as next hop ignored"),
        "the daemon says why it ignored FRR's route: {log}"
    );
    let hop = nexthops(&d).unwrap().into_iter().find(|n| n.address.to_string() == a);
    assert!(hop.as_ref().is_none_or(|h| !h.resolved), "our own address does not resolve as a next hop: {hop:?}");
    holds_for(2 * SEC, "10.183.4.0/24 (self next hop) is not installed", || {
        let t = kernel_text(&name, &["exact", "10.183.4.0/24"])?;
        if !t.trim().is_empty() {
            return Err(format!("in the kernel: {t}"));
        }
        match fib_row(&d, "10.183.4.0/24")? {
            Some(r) if r.state != FibState::Failed => Err(format!("in show fib: {r:?}")),
            _ => Ok(()),
        }
    });
}

/// Test 7: two iBGP peers (two FRRs on one segment) announce one prefix: one kernel
/// route with both as `nexthop via`.
#[test]
fn install_ecmp_from_two_ibgp_peers() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::segment("kecmp", 184, &["frr1", "frr2"]);
    let (a, f1, f2) = (s.v4(1), s.addr("frr1"), s.addr("frr2"));
    let frr1 = s.frr("frr1", 65000, &frr_neighbor(&a, 65000, &[], &["10.184.1.0/24"]));
    let frr2 = s.frr("frr2", 65000, &frr_neighbor(&a, 65000, &[], &["10.184.1.0/24"]));
    let d = s.start_ours(&(s.config(65000, &(neighbor(&f1, 65000, &[]) + &neighbor(&f2, 65000, &[]))) + INSTALL));
    let name = s.us().name.clone();
    let text = wait_until(30 * SEC, "10.184.1.0/24 in our kernel through both FRRs", || {
        let t = kernel_text(&name, &["exact", "10.184.1.0/24", "proto", "bgp"])?;
        if t.contains(&format!("nexthop via {f1} ")) && t.contains(&format!("nexthop via {f2} ")) {
            Ok(t)
        } else {
            Err(format!("ip route: {t:?}"))
        }
    });
    eprintln!("    {}", text.trim().replace('\n', " | "));
    assert_eq!(text.lines().filter(|l| !l.starts_with(char::is_whitespace)).count(), 1, "one multipath route: {text}");
    assert!(text.contains("metric 20"), "{text}");
    let row = fib_installed(&d, "10.184.1.0/24").unwrap();
    let mut gws: Vec<String> = row.next_hops.iter().filter_map(|h| h.gateway.map(|g| g.to_string())).collect();
    gws.sort();
    let mut want = vec![f1.clone(), f2.clone()];
    want.sort();
    assert_eq!(gws, want, "show fib: {row:?}");

    s.step("FRR2 withdraws: one next hop left");
    frr2.configure(65000, &["address-family ipv4 unicast", "no network 10.184.1.0/24"]).unwrap();
    wait_until(10 * SEC, "10.184.1.0/24 through FRR1 only", || {
        let t = kernel_text(&name, &["exact", "10.184.1.0/24", "proto", "bgp"])?;
        if t.lines().count() == 1 && t.contains(&format!("via {f1} ")) {
            Ok(())
        } else {
            Err(format!("ip route: {t:?}"))
        }
    });
    s.step("FRR1 withdraws too: no route left");
    frr1.configure(65000, &["address-family ipv4 unicast", "no network 10.184.1.0/24"]).unwrap();
    wait_until(10 * SEC, "10.184.1.0/24 gone from our kernel and show fib", || gone(&d, &name, &[], "10.184.1.0/24"));
}

/// Test 8: `table = 100`: FRR's route is installed into table 100, not into main.
#[test]
fn install_into_table_100() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("ktable", 185, "frr");
    let b = s.v4(2);
    let mut frr = frr_announcing(&s, &["10.185.1.0/24"], false);
    let d = s.start_ours(&(s.config(65000, &neighbor(&b, 65001, &ACC)) + "\n[kernel]\ninstall = true\ntable = 100\n"));
    let name = s.us().name.clone();
    let text = wait_until(30 * SEC, "10.185.1.0/24 in table 100", || {
        ours_there(&name, &["table", "100", "exact", "10.185.1.0/24"])
    });
    assert!(text.contains(&format!("via {b} ")) && text.contains("metric 20"), "{text}");
    let row = fib_installed(&d, "10.185.1.0/24").unwrap();
    assert_eq!(row.table, 100, "{row:?}");
    holds_for(2 * SEC, "nothing of ours in the main table", || match ours_in_kernel(&name)? {
        m if m.is_empty() => Ok(()),
        m => Err(format!("main has {m:?}")),
    });

    s.step("FRR (no graceful restart) is killed: its route leaves table 100");
    frr.kill();
    wait_until(15 * SEC, "10.185.1.0/24 gone from table 100 and show fib", || {
        gone(&d, &name, &["table", "100"], "10.185.1.0/24")
    });
}

/// Test 11: next-hop tracking. FRR (iBGP) announces 10.186.1.0/24 with next hop
/// 192.0.2.9, reachable only through a static route `192.0.2.0/24 via FRR` in our
/// namespace; a second FRR (eBGP) gets what we export. Deleting the static route makes
/// the path unreachable: it leaves our kernel and the second FRR; adding it back
/// brings both back.
#[test]
fn install_follows_next_hop_reachability() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::segment("knht", 186, &["frr", "frr2"]);
    let (a, f, f2) = (s.v4(1), s.addr("frr"), s.addr("frr2"));
    let body = format!(
        "{}\n address-family ipv4 unicast\n  network 10.186.1.0/24\n  neighbor {a} route-map FAR out\n exit-address-family\n\
         exit\n!\nroute-map FAR permit 10\n set ip next-hop 192.0.2.9",
        frr_neighbor(&a, 65000, &[], &[])
    );
    let _frr = s.frr("frr", 65000, &body);
    let frr2 = s.frr("frr2", 65002, &frr_neighbor(&a, 65000, &[], &[]));
    let us = s.us();
    let name = us.name.clone();
    ipr(us, &["add", "192.0.2.0/24", "via", &f, "proto", "static"]);
    let d = s.start_ours(&(s.config(65000, &(neighbor(&f, 65000, &[]) + &neighbor(&f2, 65002, &ACC))) + INSTALL));
    wait_until(30 * SEC, "FRR2 is Established with us", || frr2.established(&a));
    let reachable = |want: bool| -> Result<(), String> {
        let rows = routes(&d, "10.186.1.0/24")?;
        match rows.first() {
            Some(r) if r.reachable == want && r.next_hop.map(|n| n.to_string()).as_deref() == Some("192.0.2.9") => {
                Ok(())
            }
            other => Err(format!("show routes 10.186.1.0/24: {other:?}")),
        }
    };
    let present = |want: bool| -> Result<(), String> {
        reachable(want)?;
        let t = kernel_text(&name, &["exact", "10.186.1.0/24", "proto", "bgp"])?;
        if want != t.contains(&format!("via {f} ")) {
            return Err(format!("our kernel: {t:?}"));
        }
        let at_frr2 = frr_path(&frr2, "10.186.1.0/24")?;
        if want != at_frr2.is_some() {
            return Err(format!("FRR2 has: {at_frr2:?}"));
        }
        Ok(())
    };
    wait_until(30 * SEC, "reachable through the static route: installed and sent to FRR2", || present(true));
    let hop = nexthops(&d).unwrap().into_iter().find(|n| n.address.to_string() == "192.0.2.9");
    let hop = hop.unwrap_or_else(|| panic!("show nexthops has no 192.0.2.9"));
    assert!(hop.resolved && hop.via.as_deref() == Some("192.0.2.0/24") && !hop.connected, "{hop:?}");
    // The same through bgpctl's JSON.
    let v = d.bgpctl(&["show", "nexthops"]).unwrap();
    let cli = v.as_array().and_then(|a| a.iter().find(|n| n["address"] == "192.0.2.9")).cloned();
    assert!(cli.as_ref().is_some_and(|n| n["resolved"] == true && n["via"] == "192.0.2.0/24"), "bgpctl: {v}");

    s.step("the static route now goes through FRR2: our route follows");
    ipr(us, &["replace", "192.0.2.0/24", "via", &f2, "proto", "static"]);
    wait_until(10 * SEC, "10.186.1.0/24 installed through FRR2's address", || {
        let t = kernel_text(&name, &["exact", "10.186.1.0/24", "proto", "bgp"])?;
        let row = fib_installed(&d, "10.186.1.0/24")?;
        let gw: Vec<String> = row.next_hops.iter().filter_map(|h| h.gateway.map(|g| g.to_string())).collect();
        if t.contains(&format!("via {f2} ")) && gw == [f2.clone()] {
            Ok(())
        } else {
            Err(format!("ip route: {t:?}; show fib: {row:?}"))
        }
    });
    ipr(us, &["replace", "192.0.2.0/24", "via", &f, "proto", "static"]);
    wait_until(10 * SEC, "10.186.1.0/24 back through FRR's address", || present(true));

    s.step("deleting the static route");
    ipr(us, &["del", "192.0.2.0/24", "via", &f, "proto", "static"]);
    wait_until(10 * SEC, "unreachable: gone from our kernel and from FRR2", || present(false));
    let hop = nexthops(&d).unwrap().into_iter().find(|n| n.address.to_string() == "192.0.2.9");
    assert!(hop.as_ref().is_some_and(|h| !h.resolved), "{hop:?}");
    assert!(fib_row(&d, "10.186.1.0/24").unwrap().is_none_or(|r| r.state != FibState::Installed), "show fib");

    s.step("adding the static route back");
    ipr(us, &["add", "192.0.2.0/24", "via", &f, "proto", "static"]);
    wait_until(10 * SEC, "reachable again: installed and sent to FRR2", || present(true));
    fib_installed(&d, "10.186.1.0/24").unwrap();
}

// ----------------------------------------------------------------- stops and restarts

/// Test 12: SIGTERM (on_stop = graceful-restart) leaves our routes in the kernel, and
/// no sample of the table across the stop and the restart lacks one; after the
/// restart `show fib` has them installed (the stale ones replaced), and the restart
/// kept the forwarding state (no warning about clearing the F bit).
#[test]
fn sigterm_and_restart_keep_routes_in_the_kernel() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("kterm", 187, "frr");
    let a = s.v4(1);
    let prefixes = ["10.187.1.0/24", "10.187.2.0/24", "10.187.3.0/24"];
    let (frr, config, mut d) = start_installing(&s, &prefixes);
    let name = s.us().name.clone();
    let sampler = KernelSampler::start(s.us(), &prefixes);
    thread::sleep(SEC);

    s.step("SIGTERM");
    let status = d.terminate(15 * SEC).expect("the daemon exits within 15 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    kernel_has(&name, &prefixes).expect("our routes stay in the kernel after a graceful stop");
    thread::sleep(SEC);
    let log_start = d.log_text().len();
    drop(d);

    s.step("starting again");
    let d = s.start_ours(&config);
    wait_until(30 * SEC, "FRR is Established with us again", || frr.established(&a));
    let (r, f) = frr_gr_bits(&frr, &a).unwrap();
    assert!(r && f, "our OPEN after the restart: R bit {r}, F bit {f} (our routes were kept: both set)");
    wait_until(30 * SEC, "show fib: all 3 installed", || {
        prefixes.iter().try_for_each(|p| fib_installed(&d, p).map(drop))
    });
    wait_until(70 * SEC, "the stale routes are swept after FRR's End-of-RIB", || {
        let log = log_since(&d, log_start);
        log.lines()
            .find(|l| l.contains("stale kernel routes from before the start swept"))
            .map(str::to_string)
            .ok_or_else(|| "no sweep logged yet".to_string())
    });
    thread::sleep(SEC);
    sampler.finish("across SIGTERM and the restart");
    let log = log_since(&d, log_start);
    assert!(log.contains("routes of ours in the kernel from before the start"), "the start found our routes: {log}");
    assert!(!log.contains("forwarding bit is clear"), "the F bit must be set, our routes were kept: {log}");
    kernel_has(&name, &prefixes).unwrap();

    s.step("SIGTERM again, our routes flushed from the kernel meanwhile, start again: the F bit is clear");
    let mut d = d;
    let status = d.terminate(15 * SEC).expect("the daemon exits within 15 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    let log_start = d.log_text().len();
    drop(d);
    ip(&["-n", &name, "route", "flush", "proto", "bgp"]);
    let d = s.start_ours(&config);
    wait_until(30 * SEC, "FRR is Established with us again", || frr.established(&a));
    let (r, f) = frr_gr_bits(&frr, &a).unwrap();
    assert!(r && !f, "our OPEN after a restart without our routes: R bit {r}, F bit {f} (want R set, F clear)");
    let log = log_since(&d, log_start);
    assert!(log.contains("forwarding bit is clear"), "the daemon says why the F bit is clear: {log}");
    wait_until(30 * SEC, "FRR's routes installed again", || kernel_has(&name, &prefixes));
}

/// Test 13: stop with SIGTERM, FRR withdraws one prefix meanwhile, start again: after
/// FRR's End-of-RIB that prefix leaves the kernel (swept: stale, not re-learned); the
/// others never leave.
#[test]
fn restart_sweeps_only_what_was_withdrawn_meanwhile() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("ksweep", 188, "frr");
    let a = s.v4(1);
    let prefixes = ["10.188.1.0/24", "10.188.2.0/24", "10.188.3.0/24"];
    let (frr, config, mut d) = start_installing(&s, &prefixes);
    let name = s.us().name.clone();
    let sampler = KernelSampler::start(s.us(), &prefixes[..2]);

    s.step("SIGTERM");
    let status = d.terminate(15 * SEC).expect("the daemon exits within 15 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    let log_start = d.log_text().len();
    drop(d);
    s.step("FRR withdraws 10.188.3.0/24 while we are down");
    frr.configure(65001, &["address-family ipv4 unicast", "no network 10.188.3.0/24"]).unwrap();
    kernel_has(&name, &prefixes).expect("all 3 stay in the kernel while we are down");

    s.step("starting again");
    let d = s.start_ours(&config);
    wait_until(30 * SEC, "FRR is Established with us again", || frr.established(&a));
    wait_until(70 * SEC, "10.188.3.0/24 is swept from the kernel", || {
        let have = ours_in_kernel(&name)?;
        if have.contains("10.188.3.0/24") {
            Err(format!("still there: {have:?}"))
        } else {
            Ok(())
        }
    });
    let log = log_since(&d, log_start);
    let swept = log.lines().find(|l| l.contains("stale kernel routes from before the start swept"));
    assert!(swept.is_some_and(|l| l.contains("routes=1")), "one stale route swept: {swept:?}\n{log}");
    for p in &prefixes[..2] {
        fib_installed(&d, p).unwrap();
    }
    thread::sleep(SEC);
    sampler.finish("the prefixes FRR kept announcing");
    assert_eq!(ours_in_kernel(&name).unwrap(), prefixes[..2].iter().map(|p| p.to_string()).collect());
}

/// Test 14: `bgpctl shutdown` removes our routes from the kernel, and the daemon exits 0.
#[test]
fn bgpctl_shutdown_removes_our_routes() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("kshut", 189, "frr");
    let prefixes = ["10.189.1.0/24", "10.189.2.0/24"];
    let (_frr, _config, mut d) = start_installing(&s, &prefixes);
    let name = s.us().name.clone();
    let out = d.bgpctl_text(&["shutdown"]).unwrap();
    eprintln!("    bgpctl shutdown: {}", out.trim());
    let status = d.wait_exit(70 * SEC).expect("the daemon exits after bgpctl shutdown");
    assert!(status.success(), "exit status {status}");
    let left = ours_in_kernel(&name).unwrap();
    assert!(left.is_empty(), "our routes left in the kernel after bgpctl shutdown: {left:?}\n{}", d.log_text());
    assert!(!s.path("graceful-restart").exists(), "no restart marker after a shutdown");
}

/// Test 15: SIGKILL leaves our routes in the kernel. A start within the restart time
/// (the marker is fresh) is a restart: what FRR still announces stays, what it
/// withdrew meanwhile is swept after its End-of-RIB. SIGKILL again, and a fresh start
/// (no marker, as after the restart time) with no neighbor sweeps them at once.
#[test]
fn sigkill_leaves_routes_and_the_next_start_sweeps() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("kkill", 190, "frr");
    let a = s.v4(1);
    let prefixes = ["10.190.1.0/24", "10.190.2.0/24"];
    let (frr, config, mut d) = start_installing(&s, &prefixes);
    let name = s.us().name.clone();

    s.step("SIGKILL");
    d.kill();
    let log_start = d.log_text().len();
    drop(d);
    holds_for(2 * SEC, "our routes stay in the kernel after SIGKILL", || kernel_has(&name, &prefixes).map(drop));
    assert!(s.path("graceful-restart").exists(), "a killed daemon leaves its restart marker");
    frr.configure(65001, &["address-family ipv4 unicast", "no network 10.190.2.0/24"]).unwrap();

    s.step("starting again within the restart time");
    let mut d = s.start_ours(&config);
    wait_until(30 * SEC, "FRR is Established with us again", || frr.established(&a));
    wait_until(70 * SEC, "10.190.2.0/24 is swept, 10.190.1.0/24 stays", || {
        let have = ours_in_kernel(&name)?;
        if have.contains("10.190.1.0/24") && !have.contains("10.190.2.0/24") {
            Ok(())
        } else {
            Err(format!("our routes: {have:?}"))
        }
    });
    let log = log_since(&d, log_start);
    assert!(log.contains("restarting (RFC 4724)"), "a start with a fresh marker is a restart: {log}");
    let (r, f) = frr_gr_bits(&frr, &a).unwrap();
    assert!(r && f, "our OPEN after the restart: R bit {r}, F bit {f} (our routes were kept: both set)");
    fib_installed(&d, "10.190.1.0/24").unwrap();

    s.step("SIGKILL again, then a fresh start without neighbors");
    d.kill();
    drop(d);
    kernel_has(&name, &prefixes[..1]).expect("our route stays after SIGKILL");
    std::fs::remove_file(s.path("graceful-restart")).expect("remove the restart marker");
    let t = Instant::now();
    let _d = s.start_ours(&(s.config(65000, "") + INSTALL));
    wait_until(10 * SEC, "a fresh start sweeps our stale route at once", || match ours_in_kernel(&name)? {
        m if m.is_empty() => Ok(()),
        m => Err(format!("still there: {m:?}")),
    });
    assert!(t.elapsed() < 10 * SEC, "swept {:?} after the start", t.elapsed());
}

/// Test 16: FRR (graceful restart, preserve-fw-state) and we restart at once (FRR
/// killed, ours stopped with SIGTERM, both started again): our routes for FRR's
/// prefixes stay in the kernel until FRR's routes are back, never missing.
#[test]
fn both_restart_and_our_routes_stay() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("kboth", 191, "frr");
    let a = s.v4(1);
    let prefixes = ["10.191.1.0/24", "10.191.2.0/24"];
    let (mut frr, config, mut d) = start_installing(&s, &prefixes);
    let name = s.us().name.clone();
    let sampler = KernelSampler::start(s.us(), &prefixes);
    thread::sleep(SEC);

    s.step("killing FRR and stopping ours (SIGTERM)");
    frr.kill();
    let status = d.terminate(15 * SEC).expect("the daemon exits within 15 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    let log_start = d.log_text().len();
    drop(d);
    thread::sleep(SEC);

    s.step("starting both again");
    frr.restart();
    let d = s.start_ours(&config);
    wait_until(30 * SEC, "FRR is Established with us again", || frr.established(&a));
    wait_until(30 * SEC, "show fib: both installed", || {
        prefixes.iter().try_for_each(|p| fib_installed(&d, p).map(drop))
    });
    wait_until(70 * SEC, "the restart is over (stale routes swept)", || {
        if log_since(&d, log_start).contains("stale kernel routes from before the start swept") {
            Ok(())
        } else {
            Err("no sweep logged yet".to_string())
        }
    });
    thread::sleep(SEC);
    sampler.finish("across both restarts");
    kernel_has(&name, &prefixes).unwrap();
}

/// IPv6, both ways (id 192): FRR's IPv6 route is installed with `proto bgp metric 20`,
/// and a `proto bird` IPv6 blackhole of ours reaches FRR with our address as next hop.
#[test]
fn ipv6_install_and_import() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("kipv6", 192, "frr");
    let (a, b) = (s.v6(1), s.v6(2));
    let frr = s.frr(
        "frr",
        65001,
        &format!(
            "{}\n address-family ipv6 unicast\n  network fd00:192:1::/48\n  neighbor {a} activate\n exit-address-family",
            frr_neighbor(&a, 65000, &[], &[])
        ),
    );
    let us = s.us();
    let name = us.name.clone();
    ipr(us, &["add", "blackhole", "fd00:42:7::/48", "proto", "bird"]);
    let import = "\n[[kernel.import]]\nwithin = [\"fd00:42::/32\"]\nprotocol = [\"bird\"]\ntype = [\"blackhole\"]\n";
    let d = s.start_ours(&(s.config(65000, &neighbor(&b, 65001, &ACC)) + INSTALL + import));
    wait_until(30 * SEC, "FRR is Established with us", || frr.established(&a));
    let text = wait_until(20 * SEC, "fd00:192:1::/48 in our kernel", || {
        let t = run_ok(Command::new("ip").args(["-n", &name, "-6", "route", "show", "exact", "fd00:192:1::/48"]))?;
        if t.contains("proto bgp") {
            Ok(t)
        } else {
            Err(format!("ip -6 route: {t:?}"))
        }
    });
    eprintln!("    {}", text.trim());
    assert!(text.contains("metric 20") && text.contains(&format!("dev {}", s.ifname("u"))), "{text}");
    let row = fib_installed(&d, "fd00:192:1::/48").unwrap();
    assert_eq!((row.table, row.protocol, row.metric), (254, 186, 20), "{row:?}");
    let path = wait_until(20 * SEC, "FRR has fd00:42:7::/48", || {
        let v = frr.json("show bgp ipv6 unicast fd00:42:7::/48 json")?;
        v["paths"].get(0).cloned().ok_or_else(|| format!("not yet: {v}"))
    });
    let hops: Vec<&str> = path["nexthops"].as_array().into_iter().flatten().filter_map(|h| h["ip"].as_str()).collect();
    assert!(hops.contains(&a.as_str()), "our global address among the next hops: {path}");
}

/// A link going down (id 193). The kernel then flushes the IPv4 routes through the
/// device, its connected route included, without an `RTM_DELROUTE` for any of them
/// (only the link's notification): an imported `proto bird` unicast route through it
/// must be withdrawn from FRR, a BGP next hop that resolved through the connected
/// route becomes unreachable, and `show fib` must not claim a route the kernel
/// dropped. When the link comes back, our route through it is installed again.
#[test]
fn link_down_flushes_routes_without_notifications() {
    skip_unless_ready!(frr: true, bird: false);
    silent_flush("klink", 193, "down", &["link", "set", "DEV", "down"], &["link", "set", "DEV", "up"]);
}

/// An address removed (id 194): as for a link going down, the kernel flushes the IPv4
/// routes whose gateway was on the address's subnet without notifying them (only the
/// connected and local routes' deletions are notified). Same expectations as test
/// 193; the address added back brings our route back.
///
/// Both fail at f8c7a6a: the reader's link updates carry no up/down state and nothing
/// drops the kernel routes the kernel flushed silently, so the imported route stays
/// announced (193, 194), and after a link down the next hop stays "connected", `show
/// fib` claims a route the kernel no longer has and it is never installed again (193).
#[test]
fn address_removal_flushes_routes_without_notifications() {
    skip_unless_ready!(frr: true, bird: false);
    silent_flush(
        "kaddr",
        194,
        "address removed",
        &["addr", "del", "198.51.100.1/24", "dev", "DEV"],
        &["addr", "add", "198.51.100.1/24", "dev", "DEV"],
    );
}

/// Tests 193 and 194: a side link `DEV` in our namespace with 198.51.100.1/24, an
/// imported `proto bird` route and FRR's (iBGP) route both through 198.51.100.9; then
/// `ip -n US <down...>` (DEV replaced by the link's name), the checks, `<up...>`.
fn silent_flush(test: &str, id: u8, what: &str, down: &[&str], up: &[&str]) {
    let s = Scenario::link(test, id, "frr");
    let (a, b) = (s.v4(1), s.v4(2));
    let us = s.us();
    let name = us.name.clone();
    let (dev, other) = (s.ifname("a"), s.ifname("b"));
    let net = format!("10.{id}.1.0/24");
    let ip_dev = |args: &[&str]| {
        let mut full = vec!["-n", name.as_str()];
        full.extend(args.iter().map(|a| if *a == "DEV" { dev.as_str() } else { a }));
        ip(&full);
    };
    ip(&["-n", &name, "link", "add", &dev, "type", "veth", "peer", "name", &other]);
    ip(&["-n", &name, "link", "set", &other, "up"]);
    ip(&["-n", &name, "link", "set", &dev, "up"]);
    us.addr(&dev, "198.51.100.1/24");
    ipr(us, &["add", "10.42.40.0/24", "via", "198.51.100.9", "proto", "bird"]);
    // iBGP, so the third-party next hop 198.51.100.9 (on our side link) is acceptable.
    let body = format!(
        "{}\n address-family ipv4 unicast\n  network {net}\n  neighbor {a} route-map FAR out\n exit-address-family\n\
         exit\n!\nroute-map FAR permit 10\n set ip next-hop 198.51.100.9",
        frr_neighbor(&a, 65000, &[], &[]),
        net = net,
    );
    let frr = s.frr("frr", 65000, &body);
    let import = "\n[[kernel.import]]\nwithin = [\"10.42.0.0/16\"]\nprotocol = [\"bird\"]\ntype = [\"unicast\"]\n";
    let d = s.start_ours(&(s.config(65000, &neighbor(&b, 65000, &[])) + INSTALL + import));
    wait_until(30 * SEC, "FRR is Established with us", || frr.established(&a));
    let installed = |want: bool| -> Result<(), String> {
        let t = kernel_text(&name, &["exact", &net, "proto", "bgp"])?;
        let row = fib_row(&d, &net)?;
        let claimed = row.as_ref().is_some_and(|r| r.state == FibState::Installed);
        let there = t.contains(&format!("via 198.51.100.9 dev {dev} "));
        match (want, there, claimed) {
            (true, true, true) | (false, false, false) => Ok(()),
            _ => Err(format!("ip route: {t:?}; show fib: {row:?}")),
        }
    };
    wait_until(20 * SEC, &format!("{net} installed via 198.51.100.9"), || installed(true));
    wait_until(20 * SEC, "FRR has the imported 10.42.40.0/24", || {
        frr_path(&frr, "10.42.40.0/24")?.map(drop).ok_or_else(|| "not yet".to_string())
    });

    s.step(&format!("{what}: {}", down.join(" ")));
    ip_dev(down);
    let left = kernel_text(&name, &[]).unwrap();
    assert!(!left.contains("10.42.40.0/24"), "the kernel flushed the route through the link: {left}");
    // Every expectation is checked (each for at most 5 s) and the failures reported
    // together, so that one report says all that went wrong.
    let mut failures = Vec::new();
    let mut expect = |what: &str, check: &mut dyn FnMut() -> Result<(), String>| {
        if let Err(e) = settle(5 * SEC, check) {
            failures.push(format!("{what}: {e}"));
        }
    };
    expect("FRR loses 10.42.40.0/24 (flushed by the kernel)", &mut || match frr_path(&frr, "10.42.40.0/24")? {
        None => Ok(()),
        Some(p) => Err(format!("still announced: {p}")),
    });
    expect(&format!("{net}: next hop 198.51.100.9 unreachable"), &mut || {
        let rows = routes(&d, &net)?;
        match rows.iter().any(|r| r.reachable) {
            false => Ok(()),
            true => Err(format!("show routes: {rows:?}")),
        }
    });
    expect(&format!("show fib does not claim {net} (the kernel flushed it)"), &mut || installed(false));

    s.step(&format!("back: {}", up.join(" ")));
    ip_dev(up);
    expect(&format!("{net} installed again via 198.51.100.9"), &mut || installed(true));
    assert!(failures.is_empty(), "{what}, then back:\n  {}", failures.join("\n  "));
}

/// Reloads of `[kernel]` (id 195): the metric changed from 20 to 30 moves our routes to
/// metric 30 and leaves nothing at 20; `install = false` removes them; `install = true`
/// again puts them back.
#[test]
fn reload_changes_the_metric_and_install() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("kreload", 195, "frr");
    let b = s.v4(2);
    let prefixes = ["10.195.1.0/24", "10.195.2.0/24"];
    let _frr = frr_announcing(&s, &prefixes, false);
    let base = s.config(65000, &neighbor(&b, 65001, &ACC));
    let d = s.start_ours(&(base.clone() + INSTALL));
    let name = s.us().name.clone();
    let metrics = |want: &str| -> Result<(), String> {
        let t = kernel_text(&name, &["proto", "bgp"])?;
        let lines: Vec<&str> = t.lines().collect();
        let ok =
            prefixes.iter().all(|p| lines.iter().any(|l| l.starts_with(p) && l.contains(&format!("metric {want}"))));
        if ok && lines.len() == prefixes.len() {
            Ok(())
        } else {
            Err(format!("our routes: {t:?}"))
        }
    };
    wait_until(30 * SEC, "FRR's 2 routes at metric 20", || metrics("20"));
    let reload = |config: &str| {
        std::fs::write(&d.config, config).unwrap();
        let out = d.bgpctl_text(&["reload"]).unwrap();
        eprintln!("    reload: {}", out.trim());
    };

    s.step("reload: metric = 30");
    reload(&(base.clone() + "\n[kernel]\ninstall = true\nmetric = 30\n"));
    wait_until(10 * SEC, "our routes at metric 30, none left at 20", || {
        metrics("30")?;
        prefixes.iter().try_for_each(|p| match fib_installed(&d, p)?.metric {
            30 => Ok(()),
            m => Err(format!("show fib {p}: metric {m}")),
        })
    });

    s.step("reload: install = false");
    reload(&(base.clone() + "\n[kernel]\ninstall = false\nmetric = 30\n"));
    wait_until(10 * SEC, "our routes removed from the kernel", || {
        prefixes.iter().try_for_each(|p| gone(&d, &name, &[], p))
    });

    s.step("reload: install = true again");
    reload(&(base + INSTALL));
    wait_until(10 * SEC, "our routes back at metric 20", || metrics("20"));
}

/// A prefix both imported from the kernel and learned from FRR (id 196): the imported
/// route (originated by us) is the best path, so FRR's path is not installed; once the
/// kernel route is deleted FRR's path is best and installed; the kernel route back,
/// ours leaves the kernel again.
#[test]
fn imported_prefix_learned_from_a_peer_too() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("kboth-ways", 196, "frr");
    let (a, b) = (s.v4(1), s.v4(2));
    let us = s.us();
    let name = us.name.clone();
    ipr(us, &["add", "blackhole", "10.42.7.0/26", "proto", "bird"]);
    let frr = frr_announcing(&s, &["10.42.7.0/26", "10.196.1.0/24"], false);
    let d = s.start_ours(&(s.config(65000, &neighbor(&b, 65001, &ACC)) + INSTALL + IMPORT));
    wait_until(30 * SEC, "FRR is Established with us", || frr.established(&a));
    wait_until(20 * SEC, "10.196.1.0/24 installed", || ours_there(&name, &["exact", "10.196.1.0/24"]));
    let best_from = |want: &str| -> Result<(), String> {
        let rows = routes(&d, "10.42.7.0/26")?;
        match rows.iter().find(|r| r.best) {
            Some(r) if r.from == want => Ok(()),
            _ => Err(format!("show routes 10.42.7.0/26: {rows:?}")),
        }
    };
    wait_until(10 * SEC, "the imported route is best for 10.42.7.0/26", || best_from("kernel"));
    holds_for(2 * SEC, "FRR's path for 10.42.7.0/26 is not installed", || gone(&d, &name, &[], "10.42.7.0/26"));

    s.step("the kernel route is deleted: FRR's path is best and installed");
    ipr(us, &["del", "blackhole", "10.42.7.0/26", "proto", "bird"]);
    wait_until(10 * SEC, "FRR's path best and installed", || {
        best_from(&b)?;
        ours_there(&name, &["exact", "10.42.7.0/26"])?;
        fib_installed(&d, "10.42.7.0/26").map(drop)
    });

    s.step("the kernel route is back: ours leaves the kernel");
    ipr(us, &["add", "blackhole", "10.42.7.0/26", "proto", "bird"]);
    wait_until(10 * SEC, "the imported route best again, ours removed", || {
        best_from("kernel")?;
        gone(&d, &name, &[], "10.42.7.0/26")
    });
    let t = kernel_text(&name, &["exact", "10.42.7.0/26"]).unwrap();
    assert!(t.contains("blackhole 10.42.7.0/26 proto bird"), "the kernel route stays: {t}");
}

/// Stale routes in another table (id 197), with `table = 100`: after SIGKILL a fresh
/// start (no restart marker) without neighbors sweeps our routes from table 100, and
/// only those: a `proto bgp` route in the main table (not our table) stays, at every
/// step.
#[test]
fn sweep_in_table_100_leaves_the_main_table_alone() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("ksweep100", 197, "frr");
    let b = s.v4(2);
    let us = s.us();
    let name = us.name.clone();
    // Someone else's route with our protocol number, in a table that is not ours.
    ipr(us, &["add", "blackhole", "10.197.9.0/24", "proto", "bgp"]);
    let _frr = frr_announcing(&s, &["10.197.1.0/24"], true);
    let table100 = "\n[kernel]\ninstall = true\ntable = 100\n";
    let mut d = s.start_ours(&(s.config(65000, &neighbor(&b, 65001, &ACC)) + table100));
    wait_until(30 * SEC, "10.197.1.0/24 in table 100", || {
        ours_there(&name, &["table", "100", "exact", "10.197.1.0/24"])
    });
    let foreign = || -> Result<(), String> {
        let t = kernel_text(&name, &["exact", "10.197.9.0/24"])?;
        if t.contains("blackhole 10.197.9.0/24 proto bgp") {
            Ok(())
        } else {
            Err(format!("the main table's proto bgp route is gone: {t:?}"))
        }
    };
    foreign().unwrap();

    s.step("SIGKILL, then a fresh start without neighbors");
    d.kill();
    drop(d);
    std::fs::remove_file(s.path("graceful-restart")).expect("remove the restart marker");
    let _d = s.start_ours(&(s.config(65000, "") + table100));
    wait_until(10 * SEC, "table 100 swept", || match kernel_text(&name, &["table", "100", "proto", "bgp"])? {
        t if t.trim().is_empty() => Ok(()),
        t => Err(format!("table 100: {t:?}")),
    });
    holds_for(2 * SEC, "the main table's proto bgp route stays", foreign);
}
