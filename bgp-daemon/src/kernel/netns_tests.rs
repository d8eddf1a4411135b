//! The reader and the writer against the real kernel, each test in a network
//! namespace of its own (`nlt-<pid>-<n>`, deleted by a drop guard). They need root:
//! without it they print `SKIP: ...` and pass, unless `INTEROP_REQUIRE=1`, which
//! makes skipping a failure.
//!
//! The code under test runs on a thread that entered the namespace (`setns`) and
//! drives a current-thread tokio runtime; the netlink sockets it opens belong to
//! that namespace for good.
//!
//! `bench_fib_install` (ignored) measures the writer:
//! `FIB_BENCH_ROUTES=1000000 cargo test --release -p bgp-daemon bench_fib -- --ignored --nocapture`.

use std::future::Future;
use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bgp_core::kernel::{FibNextHop, FibResult, FibRoute, KernelNextHop, KernelUpdate, RouteType};
use bgp_core::prefix::Prefix;
use tokio::sync::{mpsc, oneshot};

use super::fib::{spawn_writer, FibCmd, FibSettings};
use super::reader::{spawn_reader, spawn_reader_with};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct Netns {
    name: String,
}

impl Netns {
    /// A namespace with `lo` up and a veth pair `d0`/`d1`, `d0` with 192.0.2.1/24
    /// and 2001:db8::1/64. `None` (after printing why) when not root.
    fn new(test: &str) -> Option<Netns> {
        if run("id", &["-u"]).trim() != "0" {
            let require = std::env::var("INTEROP_REQUIRE").is_ok_and(|v| v == "1");
            assert!(!require, "{test}: needs root (INTEROP_REQUIRE=1 forbids skipping)");
            println!("SKIP: {test}: network namespace tests need root");
            return None;
        }
        let name = format!("nlt-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let ns = Netns { name };
        run("ip", &["netns", "add", &ns.name]);
        ns.ip("link set lo up");
        ns.ip("link add d0 type veth peer name d1");
        ns.ip("link set d0 up");
        ns.ip("link set d1 up");
        ns.ip("addr add 192.0.2.1/24 dev d0");
        ns.ip("-6 addr add 2001:db8::1/64 dev d0 nodad");
        Some(ns)
    }

    fn ip(&self, args: &str) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend(args.split_whitespace());
        run("ip", &all)
    }

    fn ifindex(&self, dev: &str) -> u32 {
        let out = self.ip(&format!("-o link show {dev}"));
        out.split(':').next().unwrap().trim().parse().unwrap()
    }

    /// Runs `f` on a thread inside the namespace, on a current-thread runtime.
    fn run<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce(String) -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let name = self.name.clone();
        std::thread::spawn(move || {
            let file = std::fs::File::open(format!("/run/netns/{name}")).expect("namespace file");
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(f(name))
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip -n <ns> <args>` from inside a test body (which gets the name).
fn ipn(ns: &str, args: &str) -> String {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    run("ip", &all)
}

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn gw(s: &str) -> FibNextHop {
    FibNextHop { gateway: s.parse().unwrap(), ifindex: 0 }
}

/// Updates until one matches `want`; panics after 10 s.
async fn until(
    rx: &mut mpsc::Receiver<Vec<KernelUpdate>>,
    seen: &mut Vec<KernelUpdate>,
    want: impl Fn(&KernelUpdate) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let batch = tokio::time::timeout(left, rx.recv())
            .await
            .expect("timed out waiting for an update")
            .expect("reader ended");
        let found = batch.iter().any(&want);
        seen.extend(batch);
        if found {
            return;
        }
    }
}

fn is_route(u: &KernelUpdate, prefix: &str) -> bool {
    matches!(u, KernelUpdate::Route(r) if r.key.prefix == p(prefix))
}

#[test]
fn reader_dumps_then_streams_and_hides_our_routes() {
    let Some(ns) = Netns::new("reader_dumps_then_streams_and_hides_our_routes") else { return };
    ns.ip("route add blackhole 10.42.7.0/26 proto bird");
    ns.ip("route add 10.99.0.0/24 via 192.0.2.2 proto 186 metric 20");
    ns.ip("-6 route add 2001:db8:99::/48 via 2001:db8::2 proto 186 metric 20");
    // Ours by protocol but in another table: foreign to a reader of table main.
    ns.ip("route add 10.98.0.0/24 via 192.0.2.2 proto 186 table 100");
    ns.ip("route add 10.97.0.0/24 via inet6 fe80::2 dev d0 proto static");
    let d0 = ns.ifindex("d0");
    ns.run(move |ns| async move {
        let (tx, mut rx) = mpsc::channel(16);
        let ours = spawn_reader(254, 186, tx).await.unwrap();
        assert_eq!(ours, vec![p("10.99.0.0/24"), p("2001:db8:99::/48")]);
        let mut seen = Vec::new();
        until(&mut rx, &mut seen, |u| *u == KernelUpdate::SyncEnd).await;
        assert_eq!(seen[0], KernelUpdate::SyncBegin);
        let bird = seen.iter().find_map(|u| match u {
            KernelUpdate::Route(r) if r.key.prefix == p("10.42.7.0/26") => Some(r.clone()),
            _ => None,
        });
        let bird = bird.expect("the bird route in the dump");
        assert_eq!((bird.kind, bird.protocol, bird.key.table, bird.key.metric), (RouteType::Blackhole, 12, 254, 0));
        assert!(seen.iter().any(|u| is_route(u, "10.98.0.0/24")));
        let via6 = seen.iter().find_map(|u| match u {
            KernelUpdate::Route(r) if r.key.prefix == p("10.97.0.0/24") => Some(r.next_hops.clone()),
            _ => None,
        });
        assert_eq!(via6.unwrap(), vec![KernelNextHop { gateway: Some("fe80::2".parse().unwrap()), ifindex: d0 }]);
        assert!(!seen.iter().any(|u| is_route(u, "10.99.0.0/24") || is_route(u, "2001:db8:99::/48")));
        assert!(seen.contains(&KernelUpdate::Link { ifindex: d0, name: "d0".into() }));
        assert!(seen.contains(&KernelUpdate::Address {
            ifindex: d0,
            address: "192.0.2.1".parse().unwrap(),
            prefix_len: 24
        }));
        assert!(seen.contains(&KernelUpdate::Address {
            ifindex: d0,
            address: "2001:db8::1".parse().unwrap(),
            prefix_len: 64
        }));
        // Connected routes, with their device.
        let connected = seen.iter().find_map(|u| match u {
            KernelUpdate::Route(r) if r.key.prefix == p("192.0.2.0/24") => Some(r.clone()),
            _ => None,
        });
        assert_eq!(connected.unwrap().next_hops[0].ifindex, d0);

        // Live: ours are filtered (by the BPF program), foreign ones arrive.
        seen.clear();
        ipn(&ns, "route add 10.99.1.0/24 via 192.0.2.2 proto 186 metric 20");
        ipn(&ns, "route add blackhole 10.42.8.0/26 proto bird");
        until(&mut rx, &mut seen, |u| is_route(u, "10.42.8.0/26")).await;
        assert!(!seen.iter().any(|u| is_route(u, "10.99.1.0/24")), "{seen:?}");
        ipn(&ns, "route del 10.99.1.0/24 proto 186");
        ipn(&ns, "route del blackhole 10.42.8.0/26");
        until(&mut rx, &mut seen, |u| matches!(u, KernelUpdate::RouteDeleted(k) if k.prefix == p("10.42.8.0/26"))).await;
        assert!(!seen.iter().any(|u| matches!(u, KernelUpdate::RouteDeleted(k) if k.prefix == p("10.99.1.0/24"))));

        ipn(&ns, "addr add 192.0.2.77/24 dev d0");
        until(&mut rx, &mut seen, |u| matches!(u, KernelUpdate::Address { address, .. } if *address == "192.0.2.77".parse::<IpAddr>().unwrap())).await;
        ipn(&ns, "addr del 192.0.2.77/24 dev d0");
        until(&mut rx, &mut seen, |u| matches!(u, KernelUpdate::AddressDeleted { address, .. } if *address == "192.0.2.77".parse::<IpAddr>().unwrap())).await;
        ipn(&ns, "link add x0 type veth peer name x1");
        until(&mut rx, &mut seen, |u| matches!(u, KernelUpdate::Link { name, .. } if name == "x0")).await;
        let x0 = seen.iter().find_map(|u| match u {
            KernelUpdate::Link { ifindex, name } if name == "x0" => Some(*ifindex),
            _ => None,
        });
        ipn(&ns, "link del x0");
        until(&mut rx, &mut seen, |u| *u == KernelUpdate::LinkDeleted { ifindex: x0.unwrap() }).await;
    });
}

#[test]
fn reader_keeps_ipv6_multipath_next_hops() {
    let Some(ns) = Netns::new("reader_keeps_ipv6_multipath_next_hops") else { return };
    ns.run(move |ns| async move {
        let (tx, mut rx) = mpsc::channel(16);
        spawn_reader(254, 186, tx).await.unwrap();
        let mut seen = Vec::new();
        until(&mut rx, &mut seen, |u| *u == KernelUpdate::SyncEnd).await;
        let hops = |u: &KernelUpdate| match u {
            KernelUpdate::Route(r) if r.key.prefix == p("2001:db8:5::/64") => r.next_hops.len(),
            _ => 0,
        };
        ipn(&ns, "-6 route add 2001:db8:5::/64 metric 7 proto static nexthop via 2001:db8::2 dev d0 nexthop via 2001:db8::3 dev d0");
        until(&mut rx, &mut seen, |u| hops(u) == 2).await;
        ipn(&ns, "-6 route append 2001:db8:5::/64 metric 7 proto static via 2001:db8::4 dev d0");
        until(&mut rx, &mut seen, |u| hops(u) == 3).await;
        // One next hop deleted: the kernel notifies that one only, two stay.
        ipn(&ns, "-6 route del 2001:db8:5::/64 metric 7 via 2001:db8::3 dev d0");
        seen.clear();
        until(&mut rx, &mut seen, |u| hops(u) == 2 || matches!(u, KernelUpdate::RouteDeleted(_))).await;
        assert!(seen.iter().any(|u| hops(u) == 2), "{seen:?}");
        ipn(&ns, "-6 route del 2001:db8:5::/64 metric 7");
        until(&mut rx, &mut seen, |u| matches!(u, KernelUpdate::RouteDeleted(k) if k.prefix == p("2001:db8:5::/64"))).await;
    });
}

#[test]
fn reader_dumps_again_after_an_overrun() {
    let Some(ns) = Netns::new("reader_dumps_again_after_an_overrun") else { return };
    let mut batch = String::new();
    for i in 0..20_000u32 {
        batch.push_str(&format!("route add blackhole 10.{}.{}.0/24 proto static\n", 100 + i / 256, i % 256));
    }
    ns.run(move |ns| async move {
        // A tiny receive buffer and a channel of one batch that nobody reads while
        // 20k routes are added: the multicast socket overruns.
        let (tx, mut rx) = mpsc::channel(1);
        spawn_reader_with(254, 186, tx, 4096).await.unwrap();
        let mut seen = Vec::new();
        until(&mut rx, &mut seen, |u| *u == KernelUpdate::SyncEnd).await;
        let path = std::env::temp_dir().join(format!("{ns}.batch"));
        std::fs::write(&path, &batch).unwrap();
        run("ip", &["-n", &ns, "-batch", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(path);
        seen.clear();
        until(&mut rx, &mut seen, |u| *u == KernelUpdate::SyncBegin).await;
        let begin = seen.iter().position(|u| *u == KernelUpdate::SyncBegin).unwrap();
        seen.drain(..begin);
        until(&mut rx, &mut seen, |u| *u == KernelUpdate::SyncEnd).await;
        let routes = seen.iter().filter(|u| matches!(u, KernelUpdate::Route(r) if r.protocol == 4)).count();
        assert_eq!(routes, 20_000, "the dump after the overrun has every route");
    });
}

/// The BPF filter keeps our own routes' notifications out of the socket: 20k of them
/// do not overrun a tiny receive buffer that nobody reads meanwhile (20k foreign
/// ones do, above), in table main (`rtm_table`) and in a table above 255
/// (`RTA_TABLE`).
#[test]
fn reader_filter_keeps_our_routes_out_of_the_socket() {
    let Some(ns) = Netns::new("reader_filter_keeps_our_routes_out_of_the_socket") else { return };
    for table in [254u32, 1000] {
        let mut batch = String::new();
        for i in 0..20_000u32 {
            batch.push_str(&format!(
                "route add blackhole 10.{}.{}.0/24 proto 186 metric 20 table {table}\n",
                100 + i / 256,
                i % 256
            ));
        }
        let name = ns.name.clone();
        ns.run(move |ns| async move {
            let (tx, mut rx) = mpsc::channel(1);
            spawn_reader_with(table, 186, tx, 4096).await.unwrap();
            let mut seen = Vec::new();
            until(&mut rx, &mut seen, |u| *u == KernelUpdate::SyncEnd).await;
            let path = std::env::temp_dir().join(format!("{ns}.batch"));
            std::fs::write(&path, &batch).unwrap();
            run("ip", &["-n", &ns, "-batch", path.to_str().unwrap()]);
            let _ = std::fs::remove_file(path);
            ipn(&ns, &format!("route add blackhole 10.42.9.0/24 proto bird table {table}"));
            seen.clear();
            until(&mut rx, &mut seen, |u| is_route(u, "10.42.9.0/24")).await;
            assert!(!seen.contains(&KernelUpdate::SyncBegin), "table {table}: overrun, the filter let ours through");
            assert!(!seen
                .iter()
                .any(|u| matches!(u, KernelUpdate::Route(r) if r.protocol == 186 && r.key.table == table)));
        });
        run("ip", &["-n", &name, "route", "flush", "table", &table.to_string()]);
    }
}

/// Runs `cmds` through a writer and returns the results of the `Routes` commands.
async fn write(settings: FibSettings, stale: Vec<Prefix>, routes: Vec<FibRoute>) -> Vec<FibResult> {
    let (rtx, mut rrx) = mpsc::channel(64);
    let writer = spawn_writer(settings, stale, rtx).unwrap();
    let n = routes.len();
    writer.send(FibCmd::Routes(routes)).await.unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        out.extend(tokio::time::timeout(Duration::from_secs(30), rrx.recv()).await.unwrap().unwrap());
    }
    out
}

fn route(prefix: &str, hops: &[&str], replace: bool) -> FibRoute {
    FibRoute { prefix: p(prefix), next_hops: hops.iter().map(|h| gw(h)).collect(), replace }
}

const MAIN: FibSettings = FibSettings { table: 254, protocol: 186, metric: 20 };

fn ok(results: &[FibResult]) {
    for r in results {
        assert!(r.error.is_none() && r.dropped.is_empty(), "{r:?}");
    }
}

/// `ip route show` of one prefix, next hops one a line, whitespace squeezed.
fn show(ns: &str, family: &str, args: &str) -> String {
    ipn(ns, &format!("{family} route show {args}")).split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn writer_installs_replaces_and_removes() {
    let Some(ns) = Netns::new("writer_installs_replaces_and_removes") else { return };
    ns.ip("addr add 192.0.2.11/24 dev d1");
    ns.run(move |ns| async move {
        let r = write(
            MAIN,
            vec![],
            vec![
                route("10.1.0.0/24", &["192.0.2.2"], false),
                route("10.2.0.0/24", &["192.0.2.2", "192.0.2.3"], false),
                route("2001:db8:1::/64", &["2001:db8::2"], false),
                route("2001:db8:2::/64", &["2001:db8::2", "2001:db8::3", "2001:db8::4"], false),
            ],
        )
        .await;
        ok(&r);
        assert_eq!(show(&ns, "-4", "10.1.0.0/24"), "10.1.0.0/24 via 192.0.2.2 dev d0 proto bgp metric 20");
        assert_eq!(
            show(&ns, "-4", "10.2.0.0/24"),
            "10.2.0.0/24 proto bgp metric 20 nexthop via 192.0.2.2 dev d0 weight 1 nexthop via 192.0.2.3 dev d0 weight 1"
        );
        assert!(show(&ns, "-6", "2001:db8:2::/64").contains("nexthop via 2001:db8::4 dev d0"));

        // Replace: multipath to fewer and other next hops (IPv6 replaces in place on
        // this kernel: exactly the new next hops), single to multipath, and removal.
        let r = write(
            MAIN,
            vec![],
            vec![
                route("10.2.0.0/24", &["192.0.2.4"], true),
                route("2001:db8:2::/64", &["2001:db8::5", "2001:db8::3"], true),
                route("2001:db8:1::/64", &["2001:db8::6", "2001:db8::7"], true),
                route("10.1.0.0/24", &[], false),
            ],
        )
        .await;
        ok(&r);
        assert_eq!(show(&ns, "-4", "10.2.0.0/24"), "10.2.0.0/24 via 192.0.2.4 dev d0 proto bgp metric 20");
        let v6 = show(&ns, "-6", "2001:db8:2::/64");
        assert!(
            v6.contains("nexthop via 2001:db8::5 dev d0 weight 1 nexthop via 2001:db8::3 dev d0 weight 1")
                && !v6.contains("::2 ")
                && !v6.contains("::4 "),
            "{v6}"
        );
        let v6 = show(&ns, "-6", "2001:db8:1::/64");
        assert!(v6.contains("2001:db8::6") && v6.contains("2001:db8::7") && !v6.contains("2001:db8::2 "), "{v6}");
        assert_eq!(show(&ns, "-4", "10.1.0.0/24"), "");
        // IPv6 multipath replaced by a single next hop.
        ok(&write(MAIN, vec![], vec![route("2001:db8:2::/64", &["2001:db8::9"], true)]).await);
        assert_eq!(show(&ns, "-6", "2001:db8:2::/64"), "2001:db8:2::/64 via 2001:db8::9 dev d0 proto bgp metric 20 pref medium");
        // Removing what is not there succeeds; repeats of one prefix in a batch apply in
        // order (after the first, ours: replaced, as the engine would say).
        let r = write(
            MAIN,
            vec![],
            vec![
                route("10.7.0.0/24", &[], false),
                route("10.8.0.0/24", &["192.0.2.2"], false),
                route("10.8.0.0/24", &["192.0.2.3"], true),
                route("10.8.0.0/24", &["192.0.2.5"], true),
            ],
        )
        .await;
        ok(&r);
        assert_eq!(show(&ns, "-4", "10.8.0.0/24"), "10.8.0.0/24 via 192.0.2.5 dev d0 proto bgp metric 20");
    });
}

#[test]
fn writer_never_replaces_a_foreign_route() {
    let Some(ns) = Netns::new("writer_never_replaces_a_foreign_route") else { return };
    ns.ip("route add 10.50.0.0/24 via 192.0.2.3 proto static metric 20");
    ns.ip("route add 10.51.0.0/24 via 192.0.2.3 proto static metric 30");
    ns.ip("-6 route add 2001:db8:50::/64 via 2001:db8::3 proto static metric 20");
    ns.run(move |ns| async move {
        let r = write(
            MAIN,
            vec![],
            vec![
                route("10.50.0.0/24", &["192.0.2.2"], false),
                route("10.51.0.0/24", &["192.0.2.2"], false),
                route("2001:db8:50::/64", &["2001:db8::2"], false),
            ],
        )
        .await;
        let by = |s: &str| r.iter().find(|x| x.prefix == p(s)).unwrap().clone();
        let e = by("10.50.0.0/24").error.expect("refused");
        assert!(e.foreign && e.errno == libc::EEXIST, "{e:?}");
        assert!(by("2001:db8:50::/64").error.expect("refused").foreign);
        assert!(by("10.51.0.0/24").error.is_none());
        assert_eq!(show(&ns, "-4", "10.50.0.0/24"), "10.50.0.0/24 via 192.0.2.3 dev d0 proto static metric 20");
        let both = show(&ns, "-4", "10.51.0.0/24");
        assert!(both.contains("via 192.0.2.2 dev d0 proto bgp metric 20"), "{both}");
        assert!(both.contains("via 192.0.2.3 dev d0 proto static metric 30"), "{both}");
        assert!(show(&ns, "-6", "2001:db8:50::/64").contains("via 2001:db8::3 dev d0 proto static"));
        // Removal of ours at the foreign route's prefix leaves the foreign route.
        ok(&write(MAIN, vec![], vec![route("10.50.0.0/24", &[], false), route("10.51.0.0/24", &[], false)]).await);
        assert_eq!(show(&ns, "-4", "10.50.0.0/24"), "10.50.0.0/24 via 192.0.2.3 dev d0 proto static metric 20");
        assert_eq!(show(&ns, "-4", "10.51.0.0/24"), "10.51.0.0/24 via 192.0.2.3 dev d0 proto static metric 30");
    });
}

#[test]
fn writer_uses_other_tables() {
    let Some(ns) = Netns::new("writer_uses_other_tables") else { return };
    ns.run(move |ns| async move {
        for table in [100u32, 1000] {
            let settings = FibSettings { table, protocol: 186, metric: 5 };
            // The table does not exist yet: the IPv4 dump says ENOENT, nothing to flush.
            let (rtx, _rrx) = mpsc::channel(1);
            let writer = spawn_writer(settings, vec![], rtx).unwrap();
            let (tx, rx) = oneshot::channel();
            writer.send(FibCmd::Flush(tx)).await.unwrap();
            assert_eq!(rx.await.unwrap(), 0);
            let r = write(
                settings,
                vec![],
                vec![route("10.3.0.0/24", &["192.0.2.2"], false), route("2001:db8:3::/64", &["2001:db8::2"], false)],
            )
            .await;
            ok(&r);
            assert_eq!(
                show(&ns, "-4", &format!("table {table}")),
                "10.3.0.0/24 via 192.0.2.2 dev d0 proto bgp metric 5"
            );
            assert!(show(&ns, "-6", &format!("table {table}"))
                .contains("2001:db8:3::/64 via 2001:db8::2 dev d0 proto bgp metric 5"));
            assert_eq!(show(&ns, "-4", "10.3.0.0/24"), "", "not in main");
        }
    });
}

#[test]
fn writer_drops_bad_next_hops_and_reports_extack() {
    let Some(ns) = Netns::new("writer_drops_bad_next_hops_and_reports_extack") else { return };
    let d0 = ns.ifindex("d0");
    ns.run(move |ns| async move {
        let bad = FibNextHop { gateway: "198.51.100.1".parse().unwrap(), ifindex: d0 };
        let good = |g: &str| FibNextHop { gateway: g.parse().unwrap(), ifindex: d0 };
        let r = write(
            MAIN,
            vec![],
            vec![
                FibRoute {
                    prefix: p("10.4.0.0/24"),
                    next_hops: vec![good("192.0.2.2"), bad, good("192.0.2.3")],
                    replace: false,
                },
                FibRoute { prefix: p("10.5.0.0/24"), next_hops: vec![bad], replace: false },
                FibRoute {
                    prefix: p("10.6.0.0/24"),
                    next_hops: vec![bad, FibNextHop { gateway: "203.0.113.1".parse().unwrap(), ifindex: d0 }],
                    replace: false,
                },
            ],
        )
        .await;
        let by = |s: &str| r.iter().find(|x| x.prefix == p(s)).unwrap().clone();
        let r4 = by("10.4.0.0/24");
        assert!(r4.error.is_none(), "{r4:?}");
        assert_eq!(r4.dropped.len(), 1);
        assert_eq!(r4.dropped[0].0, bad);
        let route4 = show(&ns, "-4", "10.4.0.0/24");
        assert!(route4.contains("via 192.0.2.2") && route4.contains("via 192.0.2.3"), "{route4}");
        let e = by("10.5.0.0/24").error.expect("refused");
        // The kernel's extended ack text, not strerror's.
        assert!(e.message.contains("gateway"), "{e:?}");
        assert_ne!(e.message, super::nl::strerror(e.errno));
        assert!(!e.foreign);
        assert!(by("10.6.0.0/24").error.is_some());
        assert_eq!(show(&ns, "-4", "10.6.0.0/24"), "");
        // An IPv4 route via an IPv6 gateway (RTA_VIA).
        let via6 = FibNextHop { gateway: "fe80::2".parse().unwrap(), ifindex: d0 };
        ok(&write(MAIN, vec![], vec![FibRoute { prefix: p("10.9.0.0/24"), next_hops: vec![via6], replace: false }])
            .await);
        assert_eq!(show(&ns, "-4", "10.9.0.0/24"), "10.9.0.0/24 via inet6 fe80::2 dev d0 proto bgp metric 20");
    });
}

#[test]
fn writer_sweeps_stale_routes_and_flushes() {
    let Some(ns) = Netns::new("writer_sweeps_stale_routes_and_flushes") else { return };
    for r in ["10.10.0.0/24", "10.11.0.0/24", "10.12.0.0/24"] {
        ns.ip(&format!("route add {r} via 192.0.2.2 proto 186 metric 20"));
    }
    ns.ip("-6 route add 2001:db8:10::/64 via 2001:db8::2 proto 186 metric 20");
    ns.ip("route add 10.13.0.0/24 via 192.0.2.2 proto 186 metric 99");
    ns.ip("route add 10.14.0.0/24 via 192.0.2.2 proto static metric 20");
    ns.run(move |ns| async move {
        let (utx, _urx) = mpsc::channel(1024);
        let stale = spawn_reader(254, 186, utx).await.unwrap();
        assert_eq!(stale.len(), 5);
        let (rtx, mut rrx) = mpsc::channel(64);
        let writer = spawn_writer(MAIN, stale, rtx).unwrap();
        // Rewritten: created with replace (it is ours already), so no EEXIST.
        // 10.13.0.0/24 rewritten at our metric: its metric-99 route is left over.
        writer
            .send(FibCmd::Routes(vec![
                route("10.10.0.0/24", &["192.0.2.3"], false),
                route("10.13.0.0/24", &["192.0.2.3"], false),
            ]))
            .await
            .unwrap();
        let r = rrx.recv().await.unwrap();
        assert_eq!(r.len(), 2);
        ok(&r);
        let (tx, rx) = oneshot::channel();
        writer.send(FibCmd::Sweep(tx)).await.unwrap();
        assert_eq!(rx.await.unwrap(), 4);
        let left = show(&ns, "-4", "");
        assert!(left.contains("10.10.0.0/24 via 192.0.2.3"), "{left}");
        assert!(!left.contains("10.11.0.0") && !left.contains("10.12.0.0") && !left.contains("metric 99"), "{left}");
        assert!(left.contains("10.13.0.0/24 via 192.0.2.3 dev d0 proto bgp metric 20"), "{left}");
        assert!(left.contains("10.14.0.0/24 via 192.0.2.2 dev d0 proto static"), "{left}");
        assert!(!show(&ns, "-6", "").contains("2001:db8:10::"));

        writer.send(FibCmd::Routes(vec![route("2001:db8:11::/64", &["2001:db8::2"], false)])).await.unwrap();
        ok(&rrx.recv().await.unwrap());
        let (tx, rx) = oneshot::channel();
        writer.send(FibCmd::Flush(tx)).await.unwrap();
        assert_eq!(rx.await.unwrap(), 3);
        assert!(!show(&ns, "-4", "").contains("proto bgp"));
        assert!(!show(&ns, "-6", "").contains("proto bgp"));
        // After a flush and a metric change, installs are exclusive creates again.
        writer.send(FibCmd::SetMetric(30)).await.unwrap();
        writer.send(FibCmd::Routes(vec![route("10.14.0.0/24", &["192.0.2.3"], false)])).await.unwrap();
        ok(&rrx.recv().await.unwrap());
        assert!(show(&ns, "-4", "10.14.0.0/24").contains("via 192.0.2.3 dev d0 proto bgp metric 30"));
    });
}

/// The benchmarks' setup: a namespace, the route count (`FIB_BENCH_ROUTES`, default
/// 100k), and the one next hop (192.0.2.2 on d0).
fn bench_setup(test: &str) -> Option<(Netns, u32, FibNextHop)> {
    let ns = Netns::new(test)?;
    let n = std::env::var("FIB_BENCH_ROUTES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let hop = FibNextHop { gateway: "192.0.2.2".parse().unwrap(), ifindex: ns.ifindex("d0") };
    Some((ns, n, hop))
}

/// The benchmarks' i-th route: a /32 in 11.0.0.0/8.
fn bench_prefix(i: u32) -> Prefix {
    Prefix::V4(bgp_core::prefix::Prefix4::new(std::net::Ipv4Addr::from(0x0b00_0000 + i), 32).unwrap())
}

/// Not a test: the writer's install rate. See the module comment.
#[test]
#[ignore]
fn bench_fib_install() {
    let Some((ns, n, hop)) = bench_setup("bench_fib_install") else { return };
    ns.run(move |ns| async move {
        let routes: Vec<FibRoute> =
            (0..n).map(|i| FibRoute { prefix: bench_prefix(i), next_hops: vec![hop], replace: false }).collect();
        let (rtx, mut rrx) = mpsc::channel(1024);
        let writer = spawn_writer(MAIN, vec![], rtx).unwrap();
        let start = Instant::now();
        for chunk in routes.chunks(4096) {
            writer.send(FibCmd::Routes(chunk.to_vec())).await.unwrap();
        }
        let mut done = 0;
        let mut errors = 0;
        while done < n as usize {
            let batch = rrx.recv().await.unwrap();
            done += batch.len();
            errors += batch.iter().filter(|r| r.error.is_some()).count();
        }
        let took = start.elapsed();
        println!(
            "writer: {n} routes in {:.2} s = {:.0} routes/s, {errors} errors",
            took.as_secs_f64(),
            f64::from(n) / took.as_secs_f64()
        );
        if std::env::var("FIB_BENCH_ONLY_WRITER").is_ok() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        let start = Instant::now();
        writer.send(FibCmd::Flush(tx)).await.unwrap();
        let flushed = rx.await.unwrap();
        println!("flush: {flushed} routes in {:.2} s", start.elapsed().as_secs_f64());
        // The same with ip -batch.
        let mut batch = String::new();
        for i in 0..n {
            batch.push_str(&format!("route add {} via 192.0.2.2 dev d0 proto 186 metric 20\n", bench_prefix(i)));
        }
        let path = std::env::temp_dir().join(format!("{ns}.batch"));
        std::fs::write(&path, &batch).unwrap();
        let start = Instant::now();
        run("ip", &["-n", &ns, "-batch", path.to_str().unwrap()]);
        let took = start.elapsed();
        let _ = std::fs::remove_file(path);
        println!(
            "ip -batch: {n} routes in {:.2} s = {:.0} routes/s",
            took.as_secs_f64(),
            f64::from(n) / took.as_secs_f64()
        );
    });
}

/// Not a test: the kernel's own cost, for comparison with `bench_fib_install`: the
/// same routes sent in 64 KiB datagrams without NLM_F_ACK (nothing answered, nothing
/// read), so only the kernel's insert is timed; with `FIB_BENCH_ACK=1`, each with
/// NLM_F_ACK and the acks read as the writer reads them, without its bookkeeping.
#[test]
#[ignore]
fn bench_kernel_floor() {
    let Some((ns, n, hop)) = bench_setup("bench_kernel_floor") else { return };
    let with_acks = std::env::var("FIB_BENCH_ACK").is_ok();
    ns.run(move |_| async move {
        use super::nl;
        let target = nl::RouteTarget { table: 254, protocol: 186, metric: 20 };
        let mut datagrams = vec![Vec::new()];
        for i in 0..n {
            let prefix = bench_prefix(i);
            let buf = datagrams.last_mut().unwrap();
            let start = buf.len();
            nl::new_route(buf, i, nl::NLM_F_CREATE | nl::NLM_F_EXCL, prefix, &[hop], target);
            // Without NLM_F_ACK, unless FIB_BENCH_ACK is set.
            if !with_acks {
                let flags = u16::from_ne_bytes([buf[start + 6], buf[start + 7]]) & !nl::NLM_F_ACK;
                buf[start + 6..start + 8].copy_from_slice(&flags.to_ne_bytes());
            }
            if buf.len() > 60 * 1024 {
                datagrams.push(Vec::new());
            }
        }
        let socket = super::sock::RequestSocket::new().unwrap();
        socket.socket().set_cap_ack(true).unwrap();
        socket.set_recv_buffer(32 << 20).unwrap();
        let mut answers = super::sock::RecvBatch::new();
        let mut acked = 0;
        let start = Instant::now();
        for d in &datagrams {
            socket.send(d).unwrap();
            if with_acks {
                loop {
                    let got = socket.try_recv_many(&mut answers).unwrap();
                    if got == 0 {
                        break;
                    }
                    acked += got;
                }
            }
        }
        let took = start.elapsed();
        assert_eq!(acked, if with_acks { n as usize } else { 0 });
        assert_eq!(socket.try_recv_many(&mut answers).unwrap(), 0, "no errors");
        println!(
            "{}: {n} routes in {:.2} s = {:.0} routes/s",
            if with_acks { "kernel floor with acks read" } else { "kernel floor" },
            took.as_secs_f64(),
            f64::from(n) / took.as_secs_f64()
        );
    });
}
