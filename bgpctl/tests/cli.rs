//! The built `bgpctl` binary against a fake daemon: a `UnixListener` in a thread,
//! in a temporary directory, answering canned reply lines and recording the request
//! line it received.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bgp_core::ctl::SessionState::{Active, Idle};
use bgp_core::ctl::{DrainRow, FibRow, NeighborDetail, NeighborSummary, NextHopRow, Reply, RibSummary, RouteRow};
use bgp_core::wire::{Community, ExtCommunity, LargeCommunity, Origin};
use fixtures::{
    detail, fib_rows, kernel_routes, next_hop_rows, rib_summary, route, summary, FIB_TEXT, KERNEL_ROUTES_TEXT,
    NEXT_HOPS_TEXT, RIB_SUMMARY_TEXT,
};

mod fixtures;

/// A run of bgpctl that takes longer than this has hung.
const HANG: Duration = Duration::from_secs(20);

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "bgpctl-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

enum Behaviour {
    /// Read the request, write these lines, close.
    Answer(Vec<String>),
    /// Accept and read the request, then say nothing and keep the connection open.
    Silent,
}

struct FakeDaemon {
    _dir: TempDir,
    socket: PathBuf,
    requests: mpsc::Receiver<String>,
    /// Dropping it releases a `Silent` daemon's connections.
    _release: mpsc::Sender<()>,
}

impl FakeDaemon {
    fn start(behaviour: Behaviour) -> FakeDaemon {
        let dir = TempDir::new();
        let socket = dir.0.join("bgpctl.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let (req_tx, requests) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut line);
                let _ = req_tx.send(line);
                match &behaviour {
                    Behaviour::Answer(lines) => {
                        for l in lines {
                            let _ = stream.write_all(format!("{l}\n").as_bytes());
                        }
                    }
                    Behaviour::Silent => {
                        let _ = release_rx.recv();
                        return;
                    }
                }
            }
        });
        FakeDaemon { _dir: dir, socket, requests, _release: release }
    }

    fn answering(replies: &[Reply]) -> FakeDaemon {
        FakeDaemon::start(Behaviour::Answer(replies.iter().map(|r| serde_json::to_string(r).unwrap()).collect()))
    }

    fn socket(&self) -> &str {
        self.socket.to_str().unwrap()
    }

    /// The request line the daemon received.
    fn request(&self) -> String {
        self.requests.recv_timeout(Duration::from_secs(5)).expect("the daemon got no request")
    }
}

struct Run {
    output: Output,
    elapsed: Duration,
}

impl Run {
    fn code(&self) -> i32 {
        self.output.status.code().expect("bgpctl was killed by a signal")
    }
    fn stdout(&self) -> String {
        String::from_utf8(self.output.stdout.clone()).unwrap()
    }
    fn stderr(&self) -> String {
        String::from_utf8(self.output.stderr.clone()).unwrap()
    }
    /// Exit status 1, exactly one line on stderr, which is returned.
    fn failure_line(&self) -> String {
        let stderr = self.stderr();
        assert_eq!(self.code(), 1, "stdout: {}\nstderr: {stderr}", self.stdout());
        assert!(stderr.ends_with('\n') && stderr.lines().count() == 1, "not one line: {stderr:?}");
        stderr.trim_end().to_owned()
    }
}

fn bgpctl(args: &[&str]) -> Run {
    bgpctl_env(args, None)
}

fn bgpctl_env(args: &[&str], socket_env: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bgpctl"));
    cmd.args(args);
    if let Some(socket) = socket_env {
        cmd.env("BGPCTL_SOCKET", socket);
    }
    run(cmd)
}

/// Runs `cmd` (bgpctl, possibly behind a wrapper) with a clean environment and a
/// deadline: a run that hangs fails the test instead of hanging it.
fn run(mut cmd: Command) -> Run {
    if !cmd.get_envs().any(|(k, _)| k == "BGPCTL_SOCKET") {
        cmd.env_remove("BGPCTL_SOCKET");
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > HANG {
            let _ = child.kill();
            panic!("{cmd:?} hung for {HANG:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
    let elapsed = start.elapsed();
    Run { output: child.wait_with_output().unwrap(), elapsed }
}

/// `args` against `daemon` fail with the daemon's `message`: one line on stderr and
/// nothing on stdout, or with --json also `{"error": message}` on stdout.
fn assert_daemon_error(daemon: &FakeDaemon, args: &[&str], message: &str) {
    let mut args = args.to_vec();
    args.extend(["--socket", daemon.socket()]);
    let run = bgpctl(&args);
    assert_eq!(run.failure_line(), format!("bgpctl: {message}"), "{args:?}");
    assert_eq!(run.stdout(), "", "{args:?}");
    args.push("--json");
    let run = bgpctl(&args);
    assert_eq!(run.failure_line(), format!("bgpctl: {message}"), "{args:?}");
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(value, serde_json::json!({ "error": message }), "{args:?}");
}

fn neighbors() -> Vec<NeighborSummary> {
    let mut router = detail().summary;
    router.messages_received = 9013;
    router.messages_sent = 9012;
    let mut node = summary("10.0.0.21", Active);
    node.dynamic = true;
    node.last_error = Some("connection refused".into());
    let mut down = summary("10.0.0.3", Idle);
    down.admin_down = true;
    down.uptime_seconds = 312;
    vec![router, node, down]
}

fn neighbor_replies() -> Vec<Reply> {
    neighbors().into_iter().map(Reply::Neighbor).chain([Reply::End]).collect()
}

fn is_root() -> bool {
    let dir = TempDir::new();
    let probe = dir.0.join("probe");
    fs::write(&probe, b"").unwrap();
    fs::metadata(&probe).unwrap().uid() == 0
}

#[test]
fn table_of_neighbors() {
    let daemon = FakeDaemon::answering(&neighbor_replies());
    let run = bgpctl(&["show", "neighbors", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"show-neighbors\",\"address\":null}\n");
    let expected = "\
Neighbor     Description     AS  State/PfxRcd  PfxSnt   Up/Down  MsgRcvd  MsgSent  OutQ
10.0.0.3     -            65000  Idle (Admin)          00:05:12        0        0     0
10.0.0.21*   -            65000        Active             never        0        0     0
192.168.1.1  home router  64512             3       5  3d04h05m     9013     9012     0

Total number of neighbors 3
* dynamic neighbor (neighbor_range)
";
    assert_eq!(run.stdout(), expected, "\n{}", run.stdout());
    assert_eq!(run.stderr(), "");
}

#[test]
fn aliases_and_socket_from_the_environment() {
    let daemon = FakeDaemon::answering(&neighbor_replies());
    for alias in ["neighbor", "nei"] {
        let run = bgpctl_env(&["show", alias], Some(daemon.socket()));
        assert_eq!(run.code(), 0, "{}", run.stderr());
        assert!(run.stdout().starts_with("Neighbor "), "{}", run.stdout());
        daemon.request();
    }
    // --socket wins over the environment.
    let run = bgpctl_env(&["show", "nei", "--socket", daemon.socket()], Some("/nonexistent/x.sock"));
    assert_eq!(run.code(), 0, "{}", run.stderr());
}

#[test]
fn json_array_of_neighbors() {
    let daemon = FakeDaemon::answering(&neighbor_replies());
    let run = bgpctl(&["show", "neighbors", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stdout = run.stdout();
    assert!(stdout.starts_with("[\n  {\n"), "not pretty-printed: {stdout}");
    // In the daemon's order (the text table sorts by address).
    let expected = neighbors();
    assert_eq!(serde_json::from_str::<Vec<NeighborSummary>>(&stdout).unwrap(), expected);
    // Exactly the serde form: no reply tags, every field.
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value[0], serde_json::to_value(&expected[0]).unwrap());
}

#[test]
fn detail_of_one_neighbor() {
    let daemon = FakeDaemon::answering(&[Reply::NeighborDetail(Box::new(detail())), Reply::End]);
    let run = bgpctl(&["show", "neighbor", "192.168.1.1", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"show-neighbors\",\"address\":\"192.168.1.1\"}\n");
    let stdout = run.stdout();
    for line in [
        "BGP neighbor 192.168.1.1, remote AS 64512\n",
        "  State:                Established, up for 3d04h05m\n",
        "  Peer hostname:        udm-pro\n",
        "  Capabilities:         4-octet AS\n                        route refresh\n",
        "    Keepalives           9001        9000\n",
        "  BFD:                  Up, 300/300 ms x 3, detection 900 ms\n",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from\n{stdout}");
    }

    let run = bgpctl(&["--json", "show", "neighbor", "192.168.1.1", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stdout = run.stdout();
    assert_eq!(serde_json::from_str::<NeighborDetail>(&stdout).unwrap(), detail());
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["address"], "192.168.1.1", "summary fields are flattened");
    assert!(value.get("reply").is_none());
}

#[test]
fn neighbor_commands() {
    let done = |m: &str| [Reply::Done { message: m.into() }, Reply::End];

    let daemon = FakeDaemon::answering(&done("neighbor 10.0.0.2: session reset"));
    let run = bgpctl(&["neighbor", "10.0.0.2", "reset", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "neighbor 10.0.0.2: session reset\n");
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"neighbor-reset\",\"address\":\"10.0.0.2\"}\n");

    let run = bgpctl(&["neighbor", "10.0.0.2", "reset", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(value, serde_json::json!({"result": "ok", "message": "neighbor 10.0.0.2: session reset"}));

    let daemon = FakeDaemon::answering(&done("neighbor 2001:db8::2 shut down"));
    let run = bgpctl(&["neighbor", "2001:db8::2", "shutdown", "-m", "maintenance", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "neighbor 2001:db8::2 shut down\n");
    assert_eq!(
        daemon.request(),
        "{\"version\":6,\"command\":\"neighbor-shutdown\",\"address\":\"2001:db8::2\",\"message\":\"maintenance\"}\n"
    );

    let daemon = FakeDaemon::answering(&done("neighbor 10.0.0.2 enabled"));
    let run = bgpctl(&["neighbor", "10.0.0.2", "enable", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"neighbor-enable\",\"address\":\"10.0.0.2\"}\n");
}

#[test]
fn daemon_shutdown() {
    // A daemon on its way out may close the socket right after `Done`.
    let daemon = FakeDaemon::start(Behaviour::Answer(vec![r#"{"reply":"done","message":"stopping"}"#.into()]));
    let run = bgpctl(&["shutdown", "--message", "upgrade", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "stopping\n");
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"shutdown\",\"message\":\"upgrade\"}\n");
}

#[test]
fn drain_and_undrain() {
    let row = |a: &str, drained, routes| Reply::Drained(DrainRow { address: a.parse().unwrap(), drained, routes });
    let daemon = FakeDaemon::answering(&[
        row("10.0.0.1", true, 3),
        row("2001:db8::1", true, 0),
        Reply::Done { message: "every neighbor drained; waited 2 s".into() },
        Reply::End,
    ]);
    let run = bgpctl(&["drain", "--wait", "2", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(run.stdout().starts_with("10.0.0.1 "), "{}", run.stdout());
    assert!(run.stdout().starts_with("10.0.0.1     drained    3 routes announced again\n"), "{}", run.stdout());
    assert!(run.stdout().ends_with("every neighbor drained; waited 2 s\n"));
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"drain\",\"neighbor\":null,\"wait_seconds\":2}\n");

    let daemon =
        FakeDaemon::answering(&[row("10.0.0.1", false, 3), Reply::Done { message: "undrained".into() }, Reply::End]);
    let run = bgpctl(&["undrain", "--neighbor", "10.0.0.1", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"result": "ok", "message": "undrained",
            "neighbors": [{"address": "10.0.0.1", "drained": false, "routes": 3}]})
    );
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"undrain\",\"neighbor\":\"10.0.0.1\"}\n");
    assert_ne!(bgpctl(&["drain", "--wait", "0", "--socket", daemon.socket()]).code(), 0, "--wait is 1..=3600");
}

#[test]
fn unknown_neighbor() {
    let daemon = FakeDaemon::answering(&[Reply::Error { message: "unknown neighbor 10.9.9.9".into() }]);
    let run = bgpctl(&["neighbor", "10.9.9.9", "reset", "--socket", daemon.socket()]);
    assert_eq!(run.failure_line(), "bgpctl: unknown neighbor 10.9.9.9");
    assert_eq!(run.stdout(), "");

    let run = bgpctl(&["show", "neighbor", "10.9.9.9", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.failure_line(), "bgpctl: unknown neighbor 10.9.9.9");
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(value, serde_json::json!({"error": "unknown neighbor 10.9.9.9"}));
}

#[test]
fn missing_socket() {
    let dir = TempDir::new();
    let socket = dir.0.join("bgpctl.sock");
    let socket = socket.to_str().unwrap();
    let run = bgpctl(&["show", "neighbors", "--socket", socket]);
    assert_eq!(
        run.failure_line(),
        format!(
            "bgpctl: cannot connect to {socket}: no such file — is bgp-daemon running? (set --socket or BGPCTL_SOCKET)"
        )
    );
    assert!(run.elapsed < Duration::from_secs(5), "took {:?}", run.elapsed);

    // The environment names the socket when --socket does not.
    let run = bgpctl_env(&["show", "neighbors", "--json"], Some(socket));
    assert!(run.failure_line().contains(socket));
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert!(value["error"].as_str().unwrap().starts_with("cannot connect to"), "{value}");
}

#[test]
fn stale_socket() {
    let dir = TempDir::new();
    let socket = dir.0.join("bgpctl.sock");
    drop(UnixListener::bind(&socket).unwrap()); // the file stays, nobody listens
    let run = bgpctl(&["show", "neighbors", "--socket", socket.to_str().unwrap()]);
    assert!(
        run.failure_line().ends_with(": connection refused — stale socket, bgp-daemon is not running"),
        "{}",
        run.stderr()
    );

    let file = dir.0.join("not-a-socket");
    fs::write(&file, b"").unwrap();
    let run = bgpctl(&["show", "neighbors", "--socket", file.to_str().unwrap()]);
    assert!(run.failure_line().ends_with(": not a socket (set --socket or BGPCTL_SOCKET)"), "{}", run.stderr());
}

#[test]
fn daemon_that_never_answers() {
    let daemon = FakeDaemon::start(Behaviour::Silent);
    let run = bgpctl(&["show", "neighbors", "--timeout", "1", "--socket", daemon.socket()]);
    let line = run.failure_line();
    assert!(line.starts_with("bgpctl: timed out after 1 s waiting for bgp-daemon on "), "{line}");
    assert!(line.contains(" to answer — is it stuck?"), "{line}");
    assert!(run.elapsed < Duration::from_secs(3), "took {:?}", run.elapsed);
    assert!(run.elapsed >= Duration::from_millis(900), "took {:?}", run.elapsed);
}

#[test]
fn permission_denied() {
    let daemon = FakeDaemon::answering(&neighbor_replies());
    fs::set_permissions(&daemon.socket, fs::Permissions::from_mode(0o000)).unwrap();
    let args = ["show", "neighbors", "--socket", daemon.socket()];
    let run = if is_root() {
        // Root connects to a mode-000 socket all the same: run bgpctl as nobody.
        let as_nobody = |extra: &[&str]| {
            let mut cmd = Command::new("setpriv");
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_bgpctl")]).args(extra);
            cmd
        };
        let probe = Command::new("setpriv").arg("--version").output().is_ok().then(|| run(as_nobody(&["--version"])));
        if !probe.is_some_and(|p| p.output.status.success()) {
            eprintln!("skipped: running as root, and cannot run bgpctl as nobody with setpriv");
            return;
        }
        // nobody must reach the socket's directory to be refused by the socket itself.
        fs::set_permissions(daemon.socket.parent().unwrap(), fs::Permissions::from_mode(0o755)).unwrap();
        run(as_nobody(&args))
    } else {
        bgpctl(&args)
    };
    let line = run.failure_line();
    assert!(line.contains(": permission denied — run bgpctl as root or as a member of the socket's group"), "{line}");
}

#[test]
fn bad_replies() {
    let cases: [(&[&str], &str); 5] = [
        (&["this is not JSON"], "bgpctl: malformed reply from bgp-daemon: not JSON: this is not JSON"),
        (&[r#"{"reply":"neighbor","address":"10.0.0.2"}"#], "bgpctl: malformed reply from bgp-daemon: missing field"),
        (
            &[r#"{"reply":"dampened-path","prefix":"10.0.0.0/8"}"#],
            "bgpctl: protocol version mismatch: bgp-daemon sent a reply of kind `dampened-path`",
        ),
        (
            // What the daemon says to a client of another protocol generation.
            &[
                r#"{"reply":"error","message":"bgpctl speaks control protocol 1, the daemon 2: use the bgpctl of this daemon's release"}"#,
            ],
            "bgpctl: bgpctl speaks control protocol 1, the daemon 2",
        ),
        // The connection closes before `End`.
        (&[], "bgpctl: bgp-daemon on "),
    ];
    for (lines, expected) in cases {
        let daemon = FakeDaemon::start(Behaviour::Answer(lines.iter().map(|l| l.to_string()).collect()));
        let run = bgpctl(&["show", "neighbors", "--socket", daemon.socket()]);
        let line = run.failure_line();
        assert!(line.starts_with(expected), "{line:?} does not start with {expected:?}");
    }

    // A reply of the wrong kind for the command.
    let daemon = FakeDaemon::answering(&neighbor_replies());
    let run = bgpctl(&["neighbor", "10.0.0.2", "reset", "--socket", daemon.socket()]);
    assert_eq!(run.failure_line(), "bgpctl: unexpected reply from bgp-daemon: `neighbor` where done was expected");
    let run = bgpctl(&["show", "routes", "--socket", daemon.socket()]);
    assert_eq!(run.failure_line(), "bgpctl: unexpected reply from bgp-daemon: `neighbor` where a route was expected");
    let run = bgpctl(&["show", "summary", "--socket", daemon.socket()]);
    assert_eq!(
        run.failure_line(),
        "bgpctl: unexpected reply from bgp-daemon: `neighbor` where one summary was expected"
    );

    // A route line the daemon cut short.
    let daemon = FakeDaemon::start(Behaviour::Answer(vec![r#"{"reply":"route","prefix":"10.0.0.0/8"}"#.into()]));
    let run = bgpctl(&["show", "routes", "--socket", daemon.socket()]);
    assert!(
        run.failure_line().starts_with("bgpctl: malformed reply from bgp-daemon: missing field"),
        "{}",
        run.stderr()
    );
}

#[test]
fn usage_errors_exit_2() {
    let daemon = FakeDaemon::answering(&neighbor_replies());
    for args in [
        &["show", "neighbor", "10.0.0.300"][..],
        &["neighbor", "foo", "reset"],
        &["frobnicate"],
        &["show", "routes", "--received"],
        &["show", "routes", "--advertised", "10.0.0.0/8"],
        &["show", "routes", "--neighbor", "10.0.0.2"],
        &["show", "routes", "--neighbor", "10.0.0.2", "--received", "--advertised"],
        &["show", "routes", "--family", "ipv5"],
        &["show", "routes", "10.0.0.0/8", "--family", "ipv4"],
        &["show", "route", "10.0.0.0/33"],
        &["show", "route", "www.example.com"],
        &["show", "summary", "ipv4"],
        &["neighbor", "10.0.0.2", "refresh", "--hard"],
        &["show", "fib", "10.0.0.0/33"],
        &["show", "fib", "www.example.com"],
        &["show", "fib", "10.0.0.0/8", "10.1.0.0/16"],
        &["show", "nexthops", "10.0.0.1"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--socket", daemon.socket()]);
        let run = bgpctl(&args);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.stderr());
        assert!(run.stderr().starts_with("error: "), "{}", run.stderr());
    }
    assert!(daemon.requests.try_recv().is_err(), "a usage error must not reach the daemon");

    let run = bgpctl(&["--help"]);
    assert_eq!(run.code(), 0);
    for word in [
        "show",
        "neighbor",
        "routes",
        "summary",
        "refresh",
        "shutdown",
        "fib",
        "nexthops",
        "--json",
        "--socket",
        "BGPCTL_SOCKET",
        "--timeout",
    ] {
        assert!(run.stdout().contains(word), "{word} missing from --help:\n{}", run.stdout());
    }
}

/// Loc-RIB rows as the daemon sends them for `show routes`.
fn routes() -> Vec<RouteRow> {
    let mut a = route("10.0.0.0/24", "192.168.1.1", "64512 65010");
    (a.best, a.multipath, a.med, a.local_pref) = (true, true, Some(10), Some(100));
    a.communities = vec![Community::from_parts(64512, 100)];
    a.large_communities = vec![LargeCommunity { global: 64512, local1: 1, local2: 2 }];
    let mut b = route("10.0.0.0/24", "192.168.1.2", "64513 65010");
    (b.multipath, b.med, b.local_pref) = (true, Some(10), Some(100));
    let mut c = route("10.1.0.0/16", "10.0.0.21", "");
    (c.origin, c.local_pref, c.stale, c.best) = (Some(Origin::Incomplete), Some(100), true, true);
    c.from = "kubernetes".into();
    let mut d = route("2001:db8::/32", "2001:db8::1", "65020");
    (d.best, d.origin) = (true, Some(Origin::Egp));
    d.next_hop_link_local = Some("fe80::1".parse().unwrap());
    vec![a, b, c, d]
}

fn route_replies(rows: &[RouteRow]) -> Vec<Reply> {
    rows.iter().cloned().map(|r| Reply::Route(Box::new(r))).chain([Reply::End]).collect()
}

#[test]
fn table_of_routes() {
    let daemon = FakeDaemon::answering(&route_replies(&routes()));
    let run = bgpctl(&["show", "routes", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        daemon.request(),
        "{\"version\":6,\"command\":\"show-routes\",\"prefix\":null,\"neighbor\":null,\"direction\":null,\"family\":null}\n"
    );
    let expected = "\
Status codes: * valid, > best, = multipath, S stale, L long-lived stale, u next hop unreachable
Origin codes: i IGP, e EGP, ? incomplete

    Network              Next Hop                 MED LocPrf  Path
 *> 10.0.0.0/24          192.168.1.1               10    100  64512 65010 i
 *=                      192.168.1.2               10    100  64513 65010 i
S*> 10.1.0.0/16          10.0.0.21                       100  ?
 *> 2001:db8::/32        2001:db8::1 (fe80::1)                65020 e

Displayed 3 routes and 4 total paths
";
    assert_eq!(run.stdout(), expected, "\n{}", run.stdout());
    assert_eq!(run.stderr(), "");

    let daemon = FakeDaemon::answering(&[Reply::End]);
    let run = bgpctl(&["show", "rib", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "No BGP routes.\n");
}

#[test]
fn route_requests_for_each_flag() {
    let neighbor_rows = {
        let mut r = route("10.0.0.0/24", "192.168.1.1", "64512");
        r.from = "192.168.1.1".into();
        vec![r]
    };
    let cases: [(&[&str], &str, &str); 7] = [
        (&["show", "routes", "--family", "ipv4"], r#""prefix":null,"neighbor":null,"direction":null,"family":"ipv4""#, "Status codes: "),
        (&["show", "rib", "--family", "ipv6-unicast"], r#""prefix":null,"neighbor":null,"direction":null,"family":"ipv6""#, "Status codes: "),
        (&["show", "route", "10.0.0.0/24"], r#""prefix":"10.0.0.0/24","neighbor":null,"direction":null,"family":null"#, "BGP routing table entry for 10.0.0.0/24\n"),
        (&["show", "route", "10.0.0.77"], r#""prefix":"10.0.0.77","neighbor":null,"direction":null,"family":null"#, "BGP routing table entry for 10.0.0.0/24\n"),
        (
            &["show", "routes", "--neighbor", "192.168.1.1", "--received"],
            r#""prefix":null,"neighbor":"192.168.1.1","direction":"received","family":null"#,
            "Routes received from 192.168.1.1, before import policy (Adj-RIB-In)\n\nStatus codes: ",
        ),
        (
            &["show", "routes", "--advertised", "--family", "ipv6", "--neighbor", "2001:db8::2"],
            r#""prefix":null,"neighbor":"2001:db8::2","direction":"advertised","family":"ipv6""#,
            "Routes advertised to 2001:db8::2, after export policy (Adj-RIB-Out)\n\nStatus codes: ",
        ),
        (
            &["show", "route", "10.0.0.0/24", "--neighbor", "192.168.1.1", "--advertised"],
            r#""prefix":"10.0.0.0/24","neighbor":"192.168.1.1","direction":"advertised","family":null"#,
            "Routes advertised to 192.168.1.1, after export policy (Adj-RIB-Out)\n\nBGP routing table entry for 10.0.0.0/24\nPaths: 1\n",
        ),
    ];
    for (args, fields, start) in cases {
        let daemon = FakeDaemon::answering(&route_replies(&neighbor_rows));
        let mut args = args.to_vec();
        args.extend(["--socket", daemon.socket()]);
        let run = bgpctl(&args);
        assert_eq!(run.code(), 0, "{args:?}: {}", run.stderr());
        assert_eq!(daemon.request(), format!("{{\"version\":6,\"command\":\"show-routes\",{fields}}}\n"), "{args:?}");
        assert!(run.stdout().starts_with(start), "{args:?}:\n{}", run.stdout());
    }
}

#[test]
fn detail_of_one_prefix() {
    let mut rows = routes();
    rows.truncate(2);
    rows[0].reason = Some("lower MED".into());
    rows[0].ext_communities = vec![ExtCommunity([0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 100])];
    let daemon = FakeDaemon::answering(&route_replies(&rows));
    let run = bgpctl(&["show", "route", "10.0.0.1", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stdout = run.stdout();
    assert!(stdout.starts_with("BGP routing table entry for 10.0.0.0/24\nPaths: 2 available, best #1\n\n"), "{stdout}");
    for line in [
        "  Path #1: valid, best (lower MED)\n",
        "    From:                 192.168.1.1\n",
        "    AS path:              64512 65010\n",
        "    Origin:               IGP\n",
        "    MED:                  10\n",
        "    LOCAL_PREF:           100\n",
        "    Communities:          64512:100\n",
        "    Large communities:    64512:1:2\n",
        "    Extended communities: RT:65000:100\n",
        "  Path #2: valid, multipath\n",
        "    Next hop:             192.168.1.2\n",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from\n{stdout}");
    }

    // --json: the same array as without a prefix.
    let run = bgpctl(&["show", "route", "10.0.0.1", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(serde_json::from_str::<Vec<RouteRow>>(&run.stdout()).unwrap(), rows);
}

#[test]
fn json_array_of_routes() {
    let daemon = FakeDaemon::answering(&route_replies(&routes()));
    let run = bgpctl(&["--json", "show", "routes", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stdout = run.stdout();
    assert!(stdout.starts_with("[\n  {\n"), "not pretty-printed: {stdout}");
    assert_eq!(serde_json::from_str::<Vec<RouteRow>>(&stdout).unwrap(), routes());
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let first = &value[0];
    assert_eq!(first, &serde_json::to_value(&routes()[0]).unwrap());
    assert!(first.get("reply").is_none());
    for (key, expected) in [
        ("prefix", serde_json::json!("10.0.0.0/24")),
        ("next_hop", serde_json::json!("192.168.1.1")),
        ("next_hop_link_local", serde_json::Value::Null),
        ("as_path", serde_json::json!([{"type": "sequence", "asns": [64512, 65010]}])),
        ("origin", serde_json::json!("igp")),
        ("local_pref", serde_json::json!(100)),
        ("med", serde_json::json!(10)),
        ("communities", serde_json::json!([{"asn": 64512, "value": 100}])),
        ("large_communities", serde_json::json!([{"global": 64512, "local1": 1, "local2": 2}])),
        ("from", serde_json::json!("192.168.1.1")),
        ("best", serde_json::json!(true)),
    ] {
        assert_eq!(first[key], expected, "{key}");
    }
    assert_eq!(value[2]["from"], "kubernetes");
    assert_eq!(value[2]["med"], serde_json::Value::Null);
    assert_eq!(value[2]["as_path"], serde_json::json!([]));
    assert_eq!(value[3]["next_hop_link_local"], "fe80::1");

    let daemon = FakeDaemon::answering(&[Reply::End]);
    let run = bgpctl(&["show", "routes", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "[]\n");
}

#[test]
fn route_errors() {
    let daemon = FakeDaemon::answering(&[Reply::Error { message: "no route".into() }]);
    assert_daemon_error(&daemon, &["show", "route", "192.0.2.1"], "no route");

    let daemon = FakeDaemon::answering(&[Reply::Error { message: "no Established neighbor 10.0.0.9".into() }]);
    let run = bgpctl(&["show", "routes", "--neighbor", "10.0.0.9", "--advertised", "--socket", daemon.socket()]);
    assert_eq!(run.failure_line(), "bgpctl: no Established neighbor 10.0.0.9");

    // An error after some rows: no half table, only the error.
    let mut replies: Vec<Reply> = routes().into_iter().map(|r| Reply::Route(Box::new(r))).collect();
    replies.push(Reply::Error { message: "the RIB\nis not running".into() });
    let daemon = FakeDaemon::answering(&replies);
    let run = bgpctl(&["show", "routes", "--socket", daemon.socket()]);
    assert_eq!(run.failure_line(), "bgpctl: the RIB is not running");
    assert_eq!(run.stdout(), "");

    // Text in a row cannot drive the terminal.
    let mut evil = route("10.0.0.0/24", "192.168.1.1", "65001");
    evil.prefix = "10.0.0.0/24\u{1b}[2J\u{202e}".into();
    let daemon = FakeDaemon::answering(&route_replies(&[evil]));
    for args in [&["show", "routes"][..], &["show", "route", "10.0.0.0/24"]] {
        let mut args = args.to_vec();
        args.extend(["--socket", daemon.socket()]);
        let run = bgpctl(&args);
        assert_eq!(run.code(), 0, "{}", run.stderr());
        let stdout = run.stdout();
        assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{202e}'), "{stdout}");
        assert!(stdout.contains("10.0.0.0/24\\u{1b}[2J\\u{202e}"), "{stdout}");
    }
}

#[test]
fn summary_of_the_rib() {
    let daemon = FakeDaemon::answering(&[Reply::Summary(rib_summary()), Reply::End]);
    let run = bgpctl(&["show", "summary", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"show-summary\"}\n");
    assert_eq!(run.stdout(), RIB_SUMMARY_TEXT, "\n{}", run.stdout());

    let run = bgpctl(&["show", "summary", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stdout = run.stdout();
    assert!(stdout.starts_with("{\n  \""), "not pretty-printed: {stdout}");
    assert_eq!(serde_json::from_str::<RibSummary>(&stdout).unwrap(), rib_summary());
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value, serde_json::to_value(rib_summary()).unwrap());
    assert_eq!(value["rss_bytes"], 12 * 1024 * 1024 + 300 * 1024);

    let daemon = FakeDaemon::answering(&[Reply::End]);
    let run = bgpctl(&["show", "summary", "--socket", daemon.socket()]);
    assert_eq!(run.failure_line(), "bgpctl: unexpected reply from bgp-daemon: `end` where a summary was expected");
}

#[test]
fn neighbor_refresh() {
    let daemon = FakeDaemon::answering(&[
        Reply::Done { message: "neighbor 10.0.0.2 asked to send its routes again".into() },
        Reply::End,
    ]);
    let run = bgpctl(&["neighbor", "10.0.0.2", "refresh", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "neighbor 10.0.0.2 asked to send its routes again\n");
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"neighbor-refresh\",\"address\":\"10.0.0.2\"}\n");

    let run = bgpctl(&["neighbor", "10.0.0.2", "refresh", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"result": "ok", "message": "neighbor 10.0.0.2 asked to send its routes again"})
    );

    let daemon = FakeDaemon::answering(&[Reply::Error { message: "no neighbor 10.9.9.9".into() }]);
    let run = bgpctl(&["neighbor", "10.9.9.9", "refresh", "--socket", daemon.socket()]);
    assert_eq!(run.failure_line(), "bgpctl: no neighbor 10.9.9.9");
    assert_eq!(run.stdout(), "");
}

fn fib_replies(rows: &[FibRow]) -> Vec<Reply> {
    rows.iter().cloned().map(Reply::Fib).chain([Reply::End]).collect()
}

fn next_hop_replies(rows: &[NextHopRow]) -> Vec<Reply> {
    rows.iter().cloned().map(Reply::NextHop).chain([Reply::End]).collect()
}

#[test]
fn table_of_fib_routes() {
    let daemon = FakeDaemon::answering(&fib_replies(&fib_rows()));
    let run = bgpctl(&["show", "fib", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"show-fib\",\"prefix\":null}\n");
    assert_eq!(run.stdout(), FIB_TEXT, "\n{}", run.stdout());
    assert_eq!(run.stderr(), "");

    // One prefix, or an address: sent as typed, the same table back.
    let daemon = FakeDaemon::answering(&fib_replies(&fib_rows()[2..]));
    for prefix in ["10.42.9.0/26", "10.42.9.7"] {
        let run = bgpctl(&["show", "fib", prefix, "--socket", daemon.socket()]);
        assert_eq!(run.code(), 0, "{}", run.stderr());
        assert_eq!(daemon.request(), format!("{{\"version\":6,\"command\":\"show-fib\",\"prefix\":\"{prefix}\"}}\n"));
        let stdout = run.stdout();
        assert!(stdout.starts_with("table main, protocol bgp, metric 20\n\nPrefix "), "{stdout}");
        assert!(
            stdout.contains("\n10.42.9.0/26  10.0.0.13  failed  Nexthop has invalid gateway (errno 101)\n"),
            "{stdout}"
        );
    }

    let daemon = FakeDaemon::answering(&[Reply::End]);
    let run = bgpctl(&["show", "fib", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "No FIB routes: nothing installed into the kernel.\n");
    let run = bgpctl(&["show", "fib", "10.1.0.0/16", "--socket", daemon.socket()]);
    assert_eq!(run.stdout(), "No FIB route for 10.1.0.0/16.\n");
}

#[test]
fn json_array_of_fib_routes() {
    let daemon = FakeDaemon::answering(&fib_replies(&fib_rows()));
    let run = bgpctl(&["show", "fib", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stdout = run.stdout();
    assert!(stdout.starts_with("[\n  {\n"), "not pretty-printed: {stdout}");
    assert_eq!(serde_json::from_str::<Vec<FibRow>>(&stdout).unwrap(), fib_rows());
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value[1], serde_json::to_value(&fib_rows()[1]).unwrap());
    assert!(value[0].get("reply").is_none());
    // Numbers as the kernel has them, not names.
    assert_eq!(
        (&value[0]["table"], &value[0]["protocol"], &value[0]["metric"]),
        (&254.into(), &186.into(), &20.into())
    );
    assert_eq!(value[0]["state"], "installed");
    assert_eq!(value[0]["next_hops"], serde_json::json!([{"gateway": "10.0.0.11", "ifindex": 2, "device": "eth0"}]));
    assert_eq!((&value[2]["error"], &value[2]["errno"]), (&"Nexthop has invalid gateway".into(), &101.into()));

    let daemon = FakeDaemon::answering(&[Reply::End]);
    let run = bgpctl(&["--json", "show", "fib", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "[]\n");
}

#[test]
fn fib_errors() {
    let daemon = FakeDaemon::answering(&[Reply::Error { message: "no FIB route for 10.9.0.0/16".into() }]);
    assert_daemon_error(&daemon, &["show", "fib", "10.9.0.0/16"], "no FIB route for 10.9.0.0/16");

    // An error after some rows: no half table, only the error.
    let mut replies: Vec<Reply> = fib_rows().into_iter().map(Reply::Fib).collect();
    replies.push(Reply::Error { message: "kernel routes are not enabled ([kernel] in the configuration)".into() });
    let daemon = FakeDaemon::answering(&replies);
    let run = bgpctl(&["show", "fib", "--socket", daemon.socket()]);
    assert_eq!(run.failure_line(), "bgpctl: kernel routes are not enabled ([kernel] in the configuration)");
    assert_eq!(run.stdout(), "");

    // A reply of the wrong kind.
    let daemon = FakeDaemon::answering(&route_replies(&routes()));
    let run = bgpctl(&["show", "fib", "--socket", daemon.socket()]);
    assert_eq!(run.failure_line(), "bgpctl: unexpected reply from bgp-daemon: `route` where a FIB route was expected");
    let run = bgpctl(&["show", "nexthops", "--socket", daemon.socket()]);
    assert_eq!(run.failure_line(), "bgpctl: unexpected reply from bgp-daemon: `route` where a next hop was expected");
}

#[test]
fn table_of_next_hops() {
    let daemon = FakeDaemon::answering(&next_hop_replies(&next_hop_rows()));
    let run = bgpctl(&["show", "nexthops", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"show-next-hops\"}\n");
    assert_eq!(run.stdout(), NEXT_HOPS_TEXT, "\n{}", run.stdout());
    assert_eq!(run.stderr(), "");
    for alias in ["nexthop", "next-hops"] {
        let run = bgpctl(&["show", alias, "--socket", daemon.socket()]);
        assert_eq!(run.code(), 0, "{alias}: {}", run.stderr());
        assert_eq!(run.stdout(), NEXT_HOPS_TEXT, "{alias}");
        daemon.request();
    }

    let run = bgpctl(&["show", "nexthops", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stdout = run.stdout();
    assert!(stdout.starts_with("[\n  {\n"), "not pretty-printed: {stdout}");
    assert_eq!(serde_json::from_str::<Vec<NextHopRow>>(&stdout).unwrap(), next_hop_rows());
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value[0], serde_json::to_value(&next_hop_rows()[0]).unwrap());
    assert!(value[0].get("reply").is_none());
    assert_eq!(value[2]["resolved"], false);
    assert_eq!(value[2]["reason"], "only the default route");
    assert_eq!(value[1]["next_hops"][1], serde_json::json!({"gateway": null, "ifindex": 5, "device": "wg0"}));

    let daemon = FakeDaemon::answering(&[Reply::End]);
    let run = bgpctl(&["show", "nexthops", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "No BGP next hops tracked.\n");
    let run = bgpctl(&["show", "nexthops", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.stdout(), "[]\n");

    let daemon = FakeDaemon::answering(&[Reply::Error { message: "next-hop tracking is off".into() }]);
    assert_daemon_error(&daemon, &["show", "nexthops"], "next-hop tracking is off");
}

#[test]
fn routes_with_unreachable_next_hops_and_kernel_provenance() {
    let daemon = FakeDaemon::answering(&route_replies(&kernel_routes()));
    let run = bgpctl(&["show", "routes", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), KERNEL_ROUTES_TEXT, "\n{}", run.stdout());

    let run = bgpctl(&["show", "route", "10.50.0.0/16", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stdout = run.stdout();
    for line in [
        "  Path #1: valid, best\n    From:                 kernel\n",
        "    Imported from kernel: table main, proto bird, blackhole, dev eth0\n    Next hop:             10.0.0.1\n",
        "  Path #2: valid, next hop unreachable (not a candidate for best path)\n",
        "    Next hop:             10.9.9.9 (unreachable)\n",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from\n{stdout}");
    }

    let run = bgpctl(&["show", "route", "10.50.0.0/16", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(value[0]["reachable"], true);
    assert_eq!(
        value[0]["kernel"],
        serde_json::json!({"table": 254, "protocol": 12, "type": "blackhole", "device": "eth0"})
    );
    assert_eq!(value[1]["reachable"], false);
    assert_eq!(value[1]["kernel"], serde_json::Value::Null);
    assert_eq!(serde_json::from_value::<Vec<RouteRow>>(value).unwrap(), kernel_routes());
}

#[test]
fn kubernetes_status_and_routes() {
    use bgp_core::ctl::{KubeConnection, KubeKindStatus, KubernetesOwnerRow, KubernetesRouteRow, KubernetesStatus};
    let kind = |kind: &str, objects| KubeKindStatus {
        kind: kind.into(),
        watched: true,
        state: KubeConnection::Connected,
        objects,
        last_sync: Some(1),
        last_error: None,
        error_since: None,
    };
    let status = KubernetesStatus {
        mode: "cluster".into(),
        node_name: None,
        source: "kubeconfig /etc/k (https://127.0.0.1:6443/)".into(),
        state: KubeConnection::Connected,
        kinds: vec![kind("services", 1), kind("endpointslices", 2), kind("nodes", 3)],
    };
    let route = KubernetesRouteRow {
        prefix: "192.0.2.10/32".into(),
        next_hops: vec!["192.168.1.11".parse().unwrap()],
        owners: vec![KubernetesOwnerRow { kind: "service".into(), name: "web/front".into(), ready_nodes: vec![] }],
    };
    let replies = [Reply::Kubernetes(Box::new(status.clone())), Reply::KubernetesRoute(Box::new(route)), Reply::End];
    let daemon = FakeDaemon::answering(&replies);
    let run = bgpctl(&["show", "kubernetes", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"show-kubernetes\"}\n");
    let stdout = run.stdout();
    assert!(stdout.contains("State:      connected"), "{stdout}");
    assert!(stdout.contains("192.0.2.10/32  192.168.1.11  service web/front"), "{stdout}");

    let daemon = FakeDaemon::answering(&replies);
    let run = bgpctl(&["show", "k8s", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(value["status"], serde_json::to_value(&status).unwrap());
    assert_eq!(value["routes"][0]["owners"][0]["name"], "web/front");

    // Without [kubernetes]: the daemon's error.
    let daemon = FakeDaemon::answering(&[Reply::Error { message: "no [kubernetes] section in x.toml".into() }]);
    let run = bgpctl(&["show", "kubernetes", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 1);
    assert!(run.stderr().contains("no [kubernetes] section"), "{}", run.stderr());
}

#[test]
fn bfd_sessions() {
    use bgp_core::ctl::BfdSessionRow;
    let mut unprotected = fixtures::bfd_row("192.168.1.2", "Down");
    unprotected.local = None;
    let mut idle = fixtures::bfd_row("192.168.1.3", "Down");
    idle.bgp_state = None;
    idle.last_change_seconds_ago = None;
    let rows = vec![fixtures::bfd_row("192.168.1.1", "Up"), unprotected, idle];
    let replies: Vec<Reply> = rows.iter().map(|r| Reply::Bfd(Box::new(r.clone()))).chain([Reply::End]).collect();
    let daemon = FakeDaemon::answering(&replies);
    let run = bgpctl(&["show", "bfd", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"show-bfd\"}\n");
    let stdout = run.stdout();
    let expected = "\
Peer         Local         State  Remote   TX/RX ms  Mult  Detect ms  BGP          Last change   Reason
192.168.1.1  192.168.1.10  Up     Up        300/300     3        900  Established  00:01:15 ago  No Diagnostic
192.168.1.2  -             Down   Down    1000/1000     3       3000  UNPROTECTED  00:01:15 ago  Control Detection Time Expired
192.168.1.3  192.168.1.10  Down   Down    1000/1000     3       3000  -            never         Control Detection Time Expired

3 BFD sessions, 1 up, 1 BGP session(s) UNPROTECTED (Established while BFD is not Up)
";
    assert_eq!(stdout, expected, "\n{stdout}");

    let run = bgpctl(&["show", "bfd", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stdout = run.stdout();
    assert_eq!(serde_json::from_str::<Vec<BfdSessionRow>>(&stdout).unwrap(), rows);
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value[0]["state"], "Up");
    assert_eq!(value[1]["detection_time_ms"], 3000);
    assert_eq!(value[1]["bgp_state"], "Established");
    assert!(value[0].get("reply").is_none());

    // The unprotected session in `show neighbors ADDR`.
    let mut d = fixtures::detail();
    d.bfd = Some(rows[1].clone());
    let daemon = FakeDaemon::answering(&[Reply::NeighborDetail(Box::new(d)), Reply::End]);
    let run = bgpctl(&["show", "neighbor", "192.168.1.2", "--socket", daemon.socket()]);
    assert!(
        run.stdout().contains("  BFD:                  Down, 1000/1000 ms x 3, detection 3000 ms (UNPROTECTED: the session is up without BFD)\n"),
        "{}",
        run.stdout()
    );

    let daemon = FakeDaemon::answering(&[Reply::End]);
    let run = bgpctl(&["show", "bfd", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "No BFD sessions (bfd = true on a neighbor or range adds one).\n");
    let run = bgpctl(&["show", "bfd", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.stdout(), "[]\n");
}

// ---- why ----

fn why_report() -> bgp_core::ctl::why::WhyReport {
    use bgp_core::ctl::why::{WhyFib, WhyPath, WhyPeer, WhyReport};
    use bgp_core::policy::trace::{PolicyTrace, TermStep};
    let import = PolicyTrace {
        policy: "from-router".into(),
        verdict: "accept".into(),
        term: Some("lan".into()),
        steps: vec![TermStep {
            term: "lan".into(),
            matched: true,
            changes: vec!["LOCAL_PREF none -> 200".into()],
            action: Some("accept".into()),
        }],
        changes: vec!["LOCAL_PREF none -> 200".into()],
    };
    let mut best = route("10.0.5.0/24", "10.10.0.1", "65010");
    (best.best, best.multipath, best.local_pref) = (true, true, Some(200));
    let other = route("10.0.5.0/24", "10.10.0.3", "65020 65030");
    WhyReport {
        query: "10.0.5.1".into(),
        prefix: Some("10.0.5.0/24".into()),
        verdict: "best path from 10.10.0.1 (higher LOCAL_PREF), sent to 1 of 3 neighbors, installed".into(),
        best_reason: Some("higher LOCAL_PREF".into()),
        paths: vec![
            WhyPath {
                route: best,
                source: "peer 10.10.0.1 (AS 65010, eBGP), AS path 65010".into(),
                import: Some(import),
                next_hop: Some("10.10.0.1 is on a connected subnet".into()),
                lost: None,
            },
            WhyPath {
                route: other,
                source: "peer 10.10.0.3 (AS 65020, eBGP), AS path 65020 65030".into(),
                import: None,
                next_hop: Some("10.10.0.3 is on a connected subnet".into()),
                lost: Some("lost to the best path: higher LOCAL_PREF".into()),
            },
        ],
        rejected: vec![],
        peers: vec![
            WhyPeer {
                address: "10.10.0.1".parse().unwrap(),
                sent: false,
                reason: Some("it came from this neighbor (split horizon)".into()),
                export: None,
                drained: false,
            },
            WhyPeer {
                address: "10.10.0.9".parse().unwrap(),
                sent: false,
                reason: Some("RFC 8212, no export_policy".into()),
                export: None,
                drained: false,
            },
            WhyPeer { address: "10.10.0.20".parse().unwrap(), sent: true, reason: None, export: None, drained: true },
        ],
        fib: WhyFib {
            installed: true,
            state: Some("installed".into()),
            next_hops: vec![bgp_core::ctl::FibNextHopRow {
                gateway: Some("10.10.0.1".parse().unwrap()),
                ifindex: 2,
                device: Some("eth0".into()),
            }],
            reason: None,
        },
        notes: vec![],
    }
}

#[test]
fn why_tells_the_story_of_one_route() {
    let report = why_report();
    let daemon = FakeDaemon::answering(&[Reply::Why(Box::new(report.clone())), Reply::End]);
    let run = bgpctl(&["why", "10.0.5.1", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let request: serde_json::Value = serde_json::from_str(&daemon.request()).unwrap();
    assert_eq!(request["command"], "why");
    assert_eq!(request["target"], "10.0.5.1");
    let text = run.stdout();
    let expected = "\
10.0.5.1 -> 10.0.5.0/24
  best path from 10.10.0.1 (higher LOCAL_PREF), sent to 1 of 3 neighbors, installed

Paths (best first):
  * peer 10.10.0.1 (AS 65010, eBGP), AS path 65010
      next hop 10.10.0.1, LOCAL_PREF 200
      10.10.0.1 is on a connected subnet
      import: accepted by policy from-router term lan: LOCAL_PREF none -> 200
    peer 10.10.0.3 (AS 65020, eBGP), AS path 65020 65030
      next hop 10.10.0.3
      10.10.0.3 is on a connected subnet
      lost to the best path: higher LOCAL_PREF

Neighbors:
  not sent to 10.10.0.1: it came from this neighbor (split horizon)
  not sent to 10.10.0.9: RFC 8212, no export_policy
  sent to 10.10.0.20 (drained: with GRACEFUL_SHUTDOWN)

Kernel:
  installed via 10.10.0.1 (eth0)
";
    assert_eq!(text, expected);

    // --json: the report as sent.
    let run = bgpctl(&["why", "10.0.5.1", "--json", "--socket", daemon.socket()]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(json, serde_json::to_value(&report).unwrap());
    assert_eq!(json["peers"][1]["reason"], "RFC 8212, no export_policy");
}

#[test]
fn why_errors() {
    // Not a prefix or an address: a usage error, nothing sent.
    let run = bgpctl(&["why", "10.0.0.0/33", "--socket", "/nonexistent"]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let run = bgpctl(&["why", "router", "--socket", "/nonexistent"]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let daemon = FakeDaemon::answering(&[Reply::Error { message: "the RIB did not answer".into() }]);
    assert_daemon_error(&daemon, &["why", "10.0.0.1"], "the RIB did not answer");
    // A reply of the wrong kind.
    let daemon = FakeDaemon::answering(&route_replies(&routes()));
    let run = bgpctl(&["why", "10.0.0.1", "--socket", daemon.socket()]);
    assert_eq!(
        run.failure_line(),
        "bgpctl: unexpected reply from bgp-daemon: `route` where one why report was expected"
    );
}

fn reload_preview() -> bgp_core::ctl::ReloadPreview {
    use bgp_core::ctl::{ReloadPreview, RoutePreview, SessionAction, SessionPreview};
    ReloadPreview {
        file: "/etc/bgp/bgp.toml".into(),
        sessions: vec![
            SessionPreview {
                address: "10.0.0.2".parse().unwrap(),
                action: SessionAction::Restart,
                keys: vec!["hold_time".into(), "port".into()],
                dynamic: false,
            },
            SessionPreview {
                address: "10.0.0.21".parse().unwrap(),
                action: SessionAction::Policies,
                keys: vec![],
                dynamic: true,
            },
        ],
        routes: vec![
            RoutePreview {
                address: "10.0.0.2".parse().unwrap(),
                advertised: 5,
                advertised_after: 4,
                newly_sent: 1,
                withdrawn: 2,
                import_refused: 0,
            },
            RoutePreview {
                address: "10.0.0.3".parse().unwrap(),
                advertised: 5,
                advertised_after: 5,
                newly_sent: 0,
                withdrawn: 0,
                import_refused: 0,
            },
        ],
        sources: vec!["announce".into(), "kernel.metric".into()],
        notes: vec![],
    }
}

const RELOAD_PREVIEW_TEXT: &str = "\
dry run of a reload of /etc/bgp/bgp.toml: nothing was changed
sessions:
  10.0.0.2: restart (hold_time, port changed)
  10.0.0.21 (dynamic): new policies
routes:
  Neighbor                                 Advertised      After     Sent Withdrawn  ImportRefused
  10.0.0.2                                          5          4       +1        -2              0
sources: announce, kernel.metric changed
";

#[test]
fn reload_dry_run() {
    let replies = [Reply::ReloadPreview(Box::new(reload_preview())), Reply::End];
    let daemon = FakeDaemon::answering(&replies);
    let run = bgpctl(&["reload", "--dry-run", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(daemon.request(), "{\"version\":6,\"command\":\"reload-dry-run\",\"file\":null,\"text\":null}\n");
    assert_eq!(run.stdout(), RELOAD_PREVIEW_TEXT, "\n{}", run.stdout());

    let run = bgpctl(&["reload", "--dry-run", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(value["sessions"][0]["action"], "restart");
    assert_eq!(value["sessions"][0]["keys"], serde_json::json!(["hold_time", "port"]));
    assert_eq!(value["routes"][0]["newly_sent"], 1);
    assert_eq!(serde_json::from_value::<bgp_core::ctl::ReloadPreview>(value).unwrap(), reload_preview());

    // The error a reload would give, as a reload gives it.
    let message = "/etc/bgp/bgp.toml:31:10: policy[0].term[0].action: unknown value \"rejekt\"";
    let daemon = FakeDaemon::answering(&[Reply::Error { message: message.into() }]);
    assert_daemon_error(&daemon, &["reload", "--dry-run"], message);
    // A reply of the wrong kind is an error, not a hang or an empty preview.
    let daemon = FakeDaemon::answering(&[Reply::End]);
    let run = bgpctl(&["reload", "--dry-run", "--socket", daemon.socket()]);
    assert_eq!(
        run.failure_line(),
        "bgpctl: unexpected reply from bgp-daemon: `end` where a reload preview was expected"
    );
}

fn events() -> Vec<bgp_core::ctl::events::NeighborEvent> {
    use bgp_core::ctl::events::{Event, NeighborEvent};
    use bgp_core::wire::{Cease, Notification};
    let shutdown = Notification::cease_with_message(Cease::AdministrativeShutdown, "router maintenance");
    let at = |seq: u64, neighbor: &str, time_ms: u64, event: Event| NeighborEvent {
        neighbor: neighbor.parse().unwrap(),
        seq,
        time_ms,
        count: 1,
        last_ms: None,
        event,
    };
    vec![
        at(7, "192.168.1.1", 1_796_503_922_456, Event::received(&Notification::hard_reset(&shutdown))),
        at(
            8,
            "192.168.1.1",
            1_796_503_922_457,
            Event::StateChanged {
                from: bgp_core::ctl::SessionState::Established,
                to: Active,
                cause: Some("received NOTIFICATION Cease / Hard Reset".into()),
            },
        ),
        at(
            9,
            "10.0.0.21",
            1_796_503_930_000,
            Event::ConnectFailed { error: "Connection refused (os error 111)".into() },
        ),
    ]
}

#[test]
fn events_of_one_neighbor_and_of_all() {
    let rows = events();
    let replies: Vec<Reply> = rows.iter().cloned().map(|e| Reply::Event(Box::new(e))).chain([Reply::End]).collect();
    let daemon = FakeDaemon::answering(&replies[..2].iter().cloned().chain([Reply::End]).collect::<Vec<_>>());
    let run = bgpctl(&["show", "neighbor", "192.168.1.1", "events", "--since", "1h30m", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        daemon.request(),
        "{\"version\":6,\"command\":\"show-events\",\"neighbor\":\"192.168.1.1\",\"since_seconds\":5400}\n"
    );
    let expected = "\
Events of neighbor 192.168.1.1, oldest first:
Time (UTC)               Event
2026-12-05 20:52:02.456  received NOTIFICATION Cease / Administrative Shutdown (6/2), Hard Reset: \"router maintenance\"
2026-12-05 20:52:02.457  Established -> Active: received NOTIFICATION Cease / Hard Reset

2 events
";
    assert_eq!(run.stdout(), expected, "\n{}", run.stdout());

    let daemon = FakeDaemon::answering(&replies);
    let run = bgpctl(&["show", "events", "--json", "--socket", daemon.socket()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        daemon.request(),
        "{\"version\":6,\"command\":\"show-events\",\"neighbor\":null,\"since_seconds\":null}\n"
    );
    let shown: Vec<bgp_core::ctl::events::NeighborEvent> = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(shown, rows);
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(value[0]["event"], "notification-received");
    assert_eq!(value[0]["notification"]["message"], "router maintenance");
    assert_eq!(value[0]["notification"]["hard_reset"], true);

    let run = bgpctl(&["show", "events", "--socket", daemon.socket()]);
    assert!(run.stdout().contains("10.0.0.21    connect failed: Connection refused"), "{}", run.stdout());

    let daemon = FakeDaemon::answering(&[Reply::Error { message: "no neighbor 10.9.9.9".into() }]);
    assert_daemon_error(&daemon, &["show", "neighbor", "10.9.9.9", "events"], "no neighbor 10.9.9.9");

    // --since needs a unit, and `events` an address; usage errors, status 2.
    for args in [
        &["show", "events", "--since", "10"][..],
        &["show", "events", "--since", "10x"],
        &["show", "events", "--since", ""],
        &["show", "neighbors", "events"],
        &["show", "neighbors", "--since", "10m"],
        &["show", "neighbors", "10.0.0.1", "--since", "10m"],
        &["show", "neighbors", "10.0.0.1", "history"],
    ] {
        let run = bgpctl(args);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.stderr());
    }
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = bgpctl(&["completions", shell]);
        assert_eq!(run.code(), 0, "{shell}: {}", run.stderr());
        let script = run.stdout();
        for word in ["neighbors", "events", "kubernetes", "shutdown", "since", "json"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let run = bgpctl(&["completions", "bash"]);
    assert!(run.stdout().contains("complete -F _bgpctl"), "{}", run.stdout());
    assert_eq!(bgpctl(&["completions", "tcsh"]).code(), 2);

    let run = bgpctl(&["man"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let page = run.stdout();
    assert!(page.starts_with(".ie") && page.contains(".TH bgpctl 1"), "{page}");
    for word in ["show", "neighbor", "reload", "completions", "\\-\\-socket"] {
        assert!(page.contains(word), "man page lacks {word}");
    }
    // --dir: a page per subcommand.
    let dir = TempDir::new();
    let run = bgpctl(&["man", "--dir", dir.0.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let events = fs::read_to_string(dir.0.join("bgpctl-show-events.1")).unwrap();
    assert!(events.contains("\\-\\-since") && events.contains("RFC 9003"), "{events}");
    assert!(dir.0.join("bgpctl.1").exists() && dir.0.join("bgpctl-neighbor-shutdown.1").exists());
    let run = bgpctl(&["man", "--dir", "/nonexistent/dir"]);
    assert!(run.failure_line().contains("/nonexistent/dir"));
}
