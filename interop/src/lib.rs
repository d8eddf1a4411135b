//! Harness of the interop tests (`tests/interop.rs`): our daemon against FRR's bgpd and
//! BIRD 2, each in its own Linux network namespace, joined by veth pairs.
//!
//! Everything a test creates is owned by a guard whose `Drop` undoes it, also when the
//! test panics: [`Proc`] (a process, stopped by PID: SIGTERM, then SIGKILL), [`Frr`],
//! [`Bird`] and [`Daemon`] (a `Proc` plus its generated configuration), [`Netns`] (the
//! namespace, deleted with its veth ends) and [`Lab`] (the work directory with configs
//! and logs: removed when the test passed, kept and named on stderr when it failed).
//! Declare them in that order — lab, namespaces, processes — so that locals drop in
//! reverse: processes first, namespaces next, the directory last. [`scenario::Scenario`]
//! holds a test's lab and namespaces (and drops them in that order) and starts the
//! processes, which the test keeps as its own locals.
//!
//! Every wait is bounded: [`wait_until`] polls a check until a deadline and panics
//! with the last thing it saw; external commands run under [`run`] with a timeout.
//!
//! Addresses: test number `id` owns `10.77.<id>.0/24` and `fd00:77:<id>::/64`, and its
//! namespaces are named `it-<test>-<role>`, so tests run in parallel without meeting.

pub mod e2e;
pub mod kubeapi;
pub mod raw;
pub mod router;
pub mod scenario;
pub mod swarm;
pub mod table;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use bgp_core::ctl::{NeighborDetail, NeighborSummary, SessionState};
use serde_json::Value;

/// FRR's BGP daemon as Debian installs it; started directly, without zebra or watchfrr.
pub const FRR_BGPD: &str = "/usr/lib/frr/bgpd";

/// How often [`wait_until`] checks.
const POLL: Duration = Duration::from_millis(250);
/// Bound of one vtysh, birdc, bgpctl or ip call.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------ prerequisites

/// `target/<profile>`: where cargo put this test binary (in `deps/`) and the workspace's
/// binaries.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("the test binary has a directory");
    if dir.ends_with("deps") {
        dir.parent().expect("deps/ has a parent").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

pub fn daemon_bin() -> PathBuf {
    target_dir().join("bgp-daemon")
}

/// Our control client, called by path: Debian's openbgpd installs another `bgpctl`.
pub fn bgpctl_bin() -> PathBuf {
    target_dir().join("bgpctl")
}

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        || ["/usr/sbin", "/sbin", "/usr/bin"].iter().any(|d| Path::new(d).join(program).is_file())
}

/// Why this test cannot run here, or `None` when it can: root, iproute2, FRR and BIRD
/// as asked, and the daemon and bgpctl binaries in this target directory.
pub fn skip_reason(frr: bool, bird: bool) -> Option<String> {
    if effective_uid() != Some(0) {
        return Some("not root: network namespaces need root (sudo -E cargo test -p interop)".into());
    }
    if !in_path("ip") {
        return Some("iproute2 (`ip`) is not installed".into());
    }
    if frr && (!Path::new(FRR_BGPD).is_file() || !in_path("vtysh")) {
        return Some(format!("FRR is not installed ({FRR_BGPD}, vtysh): apt install frr"));
    }
    if bird && (!in_path("bird") || !in_path("birdc")) {
        return Some("BIRD 2 is not installed (bird, birdc): apt install bird2".into());
    }
    for bin in [daemon_bin(), bgpctl_bin()] {
        if !bin.is_file() {
            return Some(format!(
                "{} is missing: build the binaries first (cargo build -p bgp-daemon -p bgpctl)",
                bin.display()
            ));
        }
    }
    warn_if_stale();
    None
}

/// Whether a test that cannot run must fail instead of skipping (`INTEROP_REQUIRE=1`,
/// set by CI, where the tests must really run).
pub fn required() -> bool {
    std::env::var_os("INTEROP_REQUIRE").is_some_and(|v| v != "0")
}

/// Returns early from the test, printing `SKIP: <reason>`, when [`skip_reason`] says so
/// (or fails, with `INTEROP_REQUIRE=1`).
#[macro_export]
macro_rules! skip_unless_ready {
    (frr: $frr:expr, bird: $bird:expr) => {
        if let Some(reason) = $crate::skip_reason($frr, $bird) {
            if $crate::required() {
                panic!("INTEROP_REQUIRE is set, but this test cannot run: {reason}");
            }
            eprintln!("SKIP: {reason}");
            return;
        }
    };
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() { newest_mtime(&path) } else { entry.metadata().ok()?.modified().ok() };
        newest = newest.max(t);
    }
    newest
}

/// The binaries are not built by `cargo test -p interop`: say so when they are older
/// than the sources they come from.
fn warn_if_stale() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let sources =
            ["bgp-core/src", "bgp-daemon/src", "bgpctl/src"].iter().filter_map(|d| newest_mtime(&root.join(d))).max();
        let built =
            [daemon_bin(), bgpctl_bin()].iter().filter_map(|b| fs::metadata(b).and_then(|m| m.modified()).ok()).min();
        if let (Some(src), Some(bin)) = (sources, built) {
            if src > bin {
                eprintln!(
                    "WARNING: bgp-daemon/bgpctl in {} are older than their sources; \
                     rebuild with `cargo build -p bgp-daemon -p bgpctl`",
                    target_dir().display()
                );
            }
        }
    });
}

// ------------------------------------------------------------------ commands

/// Runs a command to completion within `timeout` (killed after it), collecting its
/// output. Stdin is closed.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what}: no answer within {timeout:?}"));
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    };
    Ok(Output { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() })
}

/// Runs a command that must succeed; its stdout.
pub fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let what = format!("{cmd:?}");
    let out = run(cmd, COMMAND_TIMEOUT)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{what}: {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

/// `ip ARGS...`, which must succeed.
pub fn ip(args: &[&str]) {
    if let Err(e) = run_ok(Command::new("ip").args(args)) {
        panic!("{e}");
    }
}

// ------------------------------------------------------------------ waiting

/// Polls `check` every 250 ms until it returns `Ok`, for at most `timeout`. `Err`
/// carries what was seen instead, for the panic message on timeout.
pub fn wait_until<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        let last = match check() {
            Ok(v) => {
                eprintln!("    {:5.1}s  {what}", start.elapsed().as_secs_f64());
                return v;
            }
            Err(e) => e,
        };
        if start.elapsed() >= timeout {
            panic!("timed out after {timeout:?} waiting for: {what}\n  last seen: {last}");
        }
        thread::sleep(POLL);
    }
}

/// Checks every 250 ms that `check` keeps returning `Ok` for `duration`; panics at the
/// first `Err`.
pub fn holds_for(duration: Duration, what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    while start.elapsed() < duration {
        if let Err(e) = check() {
            panic!("{what}: no longer true after {:.1}s: {e}", start.elapsed().as_secs_f64());
        }
        thread::sleep(POLL);
    }
    eprintln!("    held for {duration:?}: {what}");
}

// ------------------------------------------------------------------ lab

/// One test's work directory and address block. Removed on success; kept (and named on
/// stderr) when the test panics, or always with `INTEROP_KEEP=1`.
pub struct Lab {
    pub name: String,
    pub id: u8,
    pub dir: PathBuf,
    lock: PathBuf,
    start: Instant,
}

/// Takes `/tmp/bgp-interop/<name>.lock` (created exclusively, holding our PID), so that
/// two runs of the suite on one machine never share namespaces or addresses: the second
/// waits (at most 5 minutes). A lock whose process is gone is stale and taken over.
fn acquire_lock(path: &Path, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut told = false;
    loop {
        match fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut f) => {
                let _ = write!(f, "{}", std::process::id());
                return;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("{}: {e}", path.display()),
        }
        let owner = fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<u32>().ok());
        let fresh = fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(2));
        let alive = match owner {
            Some(pid) => Path::new(&format!("/proc/{pid}")).exists(),
            // Just created, the PID not written yet.
            None => fresh,
        };
        if !alive {
            eprintln!("[{name}] removing stale lock {} (owner {owner:?} is gone)", path.display());
            let _ = fs::remove_file(path);
            continue;
        }
        if !told {
            let pid = owner.map_or_else(|| "?".to_string(), |p| p.to_string());
            eprintln!("[{name}] waiting for another run of this test (pid {pid}): it uses the same namespaces");
            told = true;
        }
        if Instant::now() >= deadline {
            panic!("[{name}] {} is still held by pid {owner:?} after 5 minutes", path.display());
        }
        thread::sleep(Duration::from_millis(500));
    }
}

impl Lab {
    /// `name` is short (it goes into namespace names); `id` picks the address block and
    /// must be unique per test.
    pub fn new(name: &str, id: u8) -> Lab {
        let base = std::env::temp_dir().join("bgp-interop");
        fs::create_dir_all(&base).expect("create the work directory");
        let lock = base.join(format!("{name}.lock"));
        acquire_lock(&lock, name);
        let dir = base.join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the work directory");
        // FRR's bgpd drops to the frr user and writes its log, pid file and vty socket
        // here.
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        eprintln!("[{name}] work directory {}", dir.display());
        Lab { name: name.to_string(), id, dir, lock, start: Instant::now() }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// `10.77.<id>.<host>`
    pub fn v4(&self, host: u8) -> String {
        format!("10.77.{}.{host}", self.id)
    }

    /// `fd00:77:<id>::<host>` (host in hex digits as written).
    pub fn v6(&self, host: u8) -> String {
        format!("fd00:77:{}::{host}", self.id)
    }

    /// A namespace `it-<test>-<role>`.
    pub fn netns(&self, role: &str) -> Netns {
        Netns::new(&format!("it-{}-{role}", self.name))
    }

    /// An interface name unique to this test (at most 15 characters).
    pub fn ifname(&self, suffix: &str) -> String {
        format!("it{}{suffix}", self.id)
    }

    /// A progress line with the time since the test started.
    pub fn step(&self, what: &str) {
        eprintln!("[{} {:5.1}s] {what}", self.name, self.start.elapsed().as_secs_f64());
    }

    /// [`Lab::global_toml`] for the daemon `name` of several ([`Daemon::start_named`]):
    /// its control socket at `<lab>/<name>.sock`.
    pub fn global_toml_named(&self, name: &str, asn: u32, router_id: &str, extra: &[&str]) -> String {
        let socket = format!("control_socket = \"{}\"", self.path(&format!("{name}.sock")).display());
        let mut lines = vec![socket.as_str()];
        lines.extend_from_slice(extra);
        self.global_toml(asn, router_id, &lines)
    }

    /// The `[global]` table of a daemon config: fast timers so tests stay short, the
    /// control socket in the work directory, and `extra` lines.
    pub fn global_toml(&self, asn: u32, router_id: &str, extra: &[&str]) -> String {
        let has = |key: &str| extra.iter().any(|l| l.trim_start().starts_with(key));
        let mut s = format!("[global]\nasn = {asn}\nrouter_id = \"{router_id}\"\n");
        if !has("control_socket") {
            s.push_str(&format!("control_socket = \"{}\"\n", self.path("bgpctl.sock").display()));
        }
        for (key, line) in [
            ("hold_time", "hold_time = 9"),
            ("connect_retry =", "connect_retry = 1"),
            ("connect_retry_max", "connect_retry_max = 4"),
            ("hostname", "hostname = \"interop\""),
        ] {
            if !has(key) {
                s.push_str(line);
                s.push('\n');
            }
        }
        for l in extra {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let keep = std::env::var_os("INTEROP_KEEP").is_some_and(|v| v != "0");
        if thread::panicking() || keep {
            eprintln!("[{}] logs and configs kept in {}", self.name, self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
        let _ = fs::remove_file(&self.lock);
    }
}

// ------------------------------------------------------------------ namespaces

/// A network namespace; deleted on drop (its veth ends go with it), after stopping
/// the packet captures started with [`Netns::capture`].
pub struct Netns {
    pub name: String,
    captures: Vec<Proc>,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        if Path::new("/run/netns").join(name).exists() {
            // Left over by an earlier run that was killed before its guards ran.
            eprintln!("removing stale namespace {name}");
            kill_netns_pids(name);
            let _ = run_ok(Command::new("ip").args(["netns", "del", name]));
        }
        ip(&["netns", "add", name]);
        let ns = Netns { name: name.to_string(), captures: Vec::new() };
        ip(&["-n", name, "link", "set", "lo", "up"]);
        let sysctl = ns
            .cmd("sysctl")
            .args(["-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"])
            .output();
        if let Err(e) = sysctl {
            eprintln!("sysctl in {name}: {e}");
        }
        ns
    }

    /// `ip netns exec NAME program`: `ip` execs the program, so the child's PID is the
    /// program's.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Adds an address (IPv6 without duplicate address detection, usable at once).
    pub fn addr(&self, dev: &str, cidr: &str) {
        let mut args = vec!["-n", &self.name, "addr", "add", cidr, "dev", dev];
        if cidr.contains(':') {
            args.push("nodad");
        }
        ip(&args);
    }

    /// Adds many addresses in one `ip -batch`.
    pub fn addrs(&self, dev: &str, cidrs: &[String]) {
        let mut batch = String::new();
        for c in cidrs {
            batch.push_str(&format!("addr add {c} dev {dev}{}\n", if c.contains(':') { " nodad" } else { "" }));
        }
        let mut child = Command::new("ip")
            .args(["-n", &self.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ip -batch");
        child.stdin.take().expect("piped").write_all(batch.as_bytes()).expect("write ip -batch");
        let out = child.wait_with_output().expect("ip -batch");
        assert!(out.status.success(), "ip -batch: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Netns {
    /// With `INTEROP_PCAP=1` (and tshark installed), captures BGP on `dev` into
    /// `<lab>/<namespace>-<dev>.pcap` until the namespace is dropped. Returns whether
    /// a capture runs.
    pub fn capture(&mut self, lab: &Lab, dev: &str) -> bool {
        if std::env::var_os("INTEROP_PCAP").is_none_or(|v| v == "0") || !in_path("tshark") {
            return false;
        }
        let file = lab.path(&format!("{}-{dev}.pcap", self.name));
        let log = lab.path(&format!("{}-{dev}.tshark.log", self.name));
        let mut cmd = self.cmd("tshark");
        cmd.args(["-i", dev, "-f", "tcp port 179", "-F", "pcap", "-q", "-w"]).arg(&file);
        let p = Proc::spawn(&format!("tshark {dev}"), cmd, &log);
        let started = wait_until_quiet(Duration::from_secs(20), || {
            fs::read_to_string(&log).unwrap_or_default().contains("Capturing on")
        });
        if !started {
            eprintln!("tshark did not start capturing on {dev} within 20 s");
        }
        self.captures.push(p);
        true
    }
}

/// Polls `check` until true or `timeout`; whether it became true.
fn wait_until_quiet(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

fn kill_netns_pids(name: &str) {
    if let Ok(pids) = run_ok(Command::new("ip").args(["netns", "pids", name])) {
        for pid in pids.split_whitespace() {
            eprintln!("killing process {pid} left in namespace {name}");
            let _ = run(Command::new("kill").args(["-KILL", pid]), COMMAND_TIMEOUT);
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for mut p in self.captures.drain(..) {
            // SIGINT: tshark writes out what it has and exits.
            thread::sleep(Duration::from_millis(300));
            p.signal("INT");
            p.wait_exit(Duration::from_secs(5));
        }
        // The process guards have run by now; anything still inside was started by this
        // test and escaped them.
        kill_netns_pids(&self.name);
        if let Err(e) = run_ok(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("{e}");
        }
    }
}

/// A veth pair from `a` (interface `a_if`) to `b` (`b_if`), both up.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    ip(&["link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns", &b.name]);
    ip(&["-n", &a.name, "link", "set", a_if, "up"]);
    ip(&["-n", &b.name, "link", "set", b_if, "up"]);
}

// ------------------------------------------------------------------ processes

/// A child process with stdout and stderr in a log file. Dropping it stops it (SIGCONT,
/// SIGTERM, then SIGKILL after 5 s), and when the test is failing prints the log's tail.
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Child,
    status: Option<ExitStatus>,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Proc {
        let file = fs::OpenOptions::new().create(true).append(true).open(log).expect("open the log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup the log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {cmd:?}: {e}"));
        Proc { name: name.to_string(), log: log.to_path_buf(), child, status: None }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running (reaps it if not).
    pub fn running(&mut self) -> bool {
        self.try_status().is_none()
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Sends a signal (`"TERM"`, `"KILL"`, `"STOP"`, ...) by PID, if it still runs.
    pub fn signal(&mut self, sig: &str) {
        if self.running() {
            let _ = run(Command::new("kill").arg(format!("-{sig}")).arg(self.pid().to_string()), COMMAND_TIMEOUT);
        }
    }

    /// Waits at most `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `timeout`.
    pub fn stop(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("CONT");
        self.signal("TERM");
        if let Some(s) = self.wait_exit(timeout) {
            return s;
        }
        eprintln!("{} (pid {}) ignored SIGTERM for {timeout:?}: SIGKILL", self.name, self.pid());
        self.kill()
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(s) = self.try_status() {
            return s;
        }
        let _ = self.child.kill();
        let s = self.child.wait().expect("wait for a killed child");
        self.status = Some(s);
        s
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The last `n` lines of a file, for failure reports.
pub fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
        if thread::panicking() {
            eprintln!("----- last lines of {} ({}) -----\n{}", self.name, self.log.display(), tail(&self.log, 40));
        }
    }
}

// ------------------------------------------------------------------ FRR

/// FRR's bgpd alone (`-Z`: no zebra, `-n`: no kernel routes) with a generated config,
/// its vty socket in its own directory, queried with `vtysh --vty_socket`.
pub struct Frr {
    pub name: String,
    pub dir: PathBuf,
    ns: String,
    proc: Option<Proc>,
}

impl Frr {
    /// Writes the config — `router bgp ASN` with the router id, no policy required for
    /// eBGP, no import check (no zebra), keepalive 3 s and hold 9 s, then `body` (lines
    /// inside `router bgp`) — starts bgpd in `ns` and waits until it answers.
    pub fn start(lab: &Lab, ns: &Netns, name: &str, asn: u32, router_id: &str, body: &str) -> Frr {
        let dir = lab.path(name);
        fs::create_dir_all(&dir).expect("mkdir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        let conf = format!(
            "hostname {name}\nlog file {}/bgpd.log\ndebug bgp neighbor-events\n!\nrouter bgp {asn}\n bgp router-id {router_id}\n \
             no bgp ebgp-requires-policy\n no bgp network import-check\n timers bgp 3 9\n{body}\nexit\n!\n",
            dir.display()
        );
        let path = dir.join("bgpd.conf");
        fs::write(&path, conf).expect("write bgpd.conf");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let mut frr = Frr { name: name.to_string(), dir, ns: ns.name.clone(), proc: None };
        frr.spawn();
        frr
    }

    fn spawn(&mut self) {
        let vty = self.dir.join("bgpd.vty");
        let _ = fs::remove_file(&vty);
        let d = self.dir.display().to_string();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, FRR_BGPD, "-f", &format!("{d}/bgpd.conf"), "-Z", "-n"]).args([
            "-P",
            "0",
            "-i",
            &format!("{d}/bgpd.pid"),
            "--vty_socket",
            &d,
            "-z",
            &format!("{d}/zserv.api"),
        ]);
        let mut proc = Proc::spawn(&format!("FRR {}", self.name), cmd, &self.dir.join("bgpd.out"));
        let name = self.name.clone();
        wait_until(Duration::from_secs(15), &format!("FRR {name} answers on its vty"), || {
            if !proc.running() {
                panic!("FRR {name} exited: {}", proc.log_text());
            }
            if !vty.exists() {
                return Err("no vty socket yet".into());
            }
            self.vtysh("show bgp summary json").map(drop)
        });
        let log = fs::read_to_string(self.dir.join("bgpd.log")).unwrap_or_default();
        for line in log.lines().filter(|l| l.contains("Unknown command") || l.contains("No such command")) {
            eprintln!("WARNING: FRR {} rejected a config line: {line}", self.name);
        }
        self.proc = Some(proc);
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }

    pub fn signal(&mut self, sig: &str) {
        if let Some(p) = &mut self.proc {
            p.signal(sig);
        }
    }

    /// SIGKILL (a crash: the kernel closes its connections with FIN).
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Starts bgpd again with the same config.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn vtysh(&self, command: &str) -> Result<String, String> {
        run_ok(Command::new("vtysh").arg("--vty_socket").arg(&self.dir).args(["-d", "bgpd", "-c", command]))
    }

    /// Configuration commands, run in `configure terminal` → `router bgp ASN`.
    pub fn configure(&self, asn: u32, lines: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("vtysh");
        cmd.arg("--vty_socket").arg(&self.dir).args(["-d", "bgpd", "-c", "configure terminal"]);
        cmd.args(["-c", &format!("router bgp {asn}")]);
        for l in lines {
            cmd.args(["-c", l]);
        }
        run_ok(&mut cmd)
    }

    pub fn json(&self, command: &str) -> Result<Value, String> {
        let text = self.vtysh(command)?;
        serde_json::from_str(&text).map_err(|e| format!("`{command}` is not JSON ({e}): {text}"))
    }

    /// `show bgp neighbors ADDR json`, the object of that neighbor.
    pub fn neighbor(&self, addr: &str) -> Result<Value, String> {
        let v = self.json(&format!("show bgp neighbors {addr} json"))?;
        match v.get(addr) {
            Some(n) => Ok(n.clone()),
            None => Err(format!("FRR {} has no neighbor {addr}: {v}", self.name)),
        }
    }

    /// `bgpState` of a neighbor ("Established", "Active", "Idle", ...).
    pub fn state(&self, addr: &str) -> Result<String, String> {
        Ok(self.neighbor(addr)?["bgpState"].as_str().unwrap_or("?").to_string())
    }

    /// `Ok` once the neighbor is Established.
    pub fn established(&self, addr: &str) -> Result<Value, String> {
        let n = self.neighbor(addr)?;
        match n["bgpState"].as_str() {
            Some("Established") => Ok(n),
            other => Err(format!(
                "FRR {} sees {addr} in {other:?} (last reset: {})",
                self.name,
                n.get("lastResetDueTo").unwrap_or(&Value::Null)
            )),
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("bgpd.log")).unwrap_or_default()
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("----- last lines of FRR {} bgpd.log -----\n{}", self.name, tail(&self.dir.join("bgpd.log"), 40));
        }
        // Proc's drop stops it.
    }
}

// ------------------------------------------------------------------ BIRD

/// BIRD 2 in the foreground with a generated config and its own control socket.
pub struct Bird {
    pub name: String,
    pub dir: PathBuf,
    sock: PathBuf,
    proc: Option<Proc>,
}

impl Bird {
    /// Writes the config (log, router id, a device protocol, then `body`), checks it with
    /// `bird -p`, starts BIRD in `ns` and waits for its control socket.
    pub fn start(lab: &Lab, ns: &Netns, name: &str, router_id: &str, body: &str) -> Bird {
        let dir = lab.path(name);
        fs::create_dir_all(&dir).expect("mkdir");
        let conf = dir.join("bird.conf");
        fs::write(
            &conf,
            format!(
                "log \"{}/bird.log\" all;\nrouter id {router_id};\nprotocol device {{ scan time 5; }}\n{body}\n",
                dir.display()
            ),
        )
        .expect("write bird.conf");
        if let Err(e) = run_ok(Command::new("bird").arg("-p").arg("-c").arg(&conf)) {
            panic!("BIRD {name}: invalid config: {e}");
        }
        let sock = dir.join("bird.ctl");
        let mut cmd = ns.cmd("bird");
        cmd.arg("-f").arg("-c").arg(&conf).arg("-s").arg(&sock).arg("-P").arg(dir.join("bird.pid"));
        let mut proc = Proc::spawn(&format!("BIRD {name}"), cmd, &dir.join("bird.out"));
        let mut bird = Bird { name: name.to_string(), dir, sock, proc: None };
        wait_until(Duration::from_secs(15), &format!("BIRD {name} answers on its socket"), || {
            if !proc.running() {
                panic!("BIRD {name} exited: {}", proc.log_text());
            }
            bird.birdc(&["show", "status"]).map(drop)
        });
        bird.proc = Some(proc);
        bird
    }

    pub fn birdc(&self, args: &[&str]) -> Result<String, String> {
        if !self.sock.exists() {
            return Err("no control socket yet".into());
        }
        run_ok(Command::new("birdc").arg("-s").arg(&self.sock).args(args))
    }

    /// `show protocols all PROTO`.
    pub fn protocol(&self, proto: &str) -> Result<String, String> {
        self.birdc(&["show", "protocols", "all", proto])
    }

    /// The value after `key:` in `show protocols all PROTO` (e.g. "BGP state").
    pub fn field(&self, proto: &str, key: &str) -> Result<String, String> {
        let text = self.protocol(proto)?;
        let prefix = format!("{key}:");
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.trim().to_string())
            .ok_or_else(|| format!("no \"{key}\" in BIRD's `show protocols all {proto}`:\n{text}"))
    }

    /// `Ok` once the protocol's BGP state is Established.
    pub fn established(&self, proto: &str) -> Result<String, String> {
        let text = self.protocol(proto)?;
        if text.lines().any(|l| l.contains("BGP state:") && l.contains("Established")) {
            Ok(text)
        } else {
            Err(format!("BIRD {} protocol {proto} not Established:\n{text}", self.name))
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }

    /// SIGKILL: BIRD gets no chance to say goodbye; the kernel closes its sessions.
    pub fn kill(&mut self) {
        if let Some(p) = self.proc.as_mut() {
            p.kill();
        }
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "----- last lines of BIRD {} bird.log -----\n{}",
                self.name,
                tail(&self.dir.join("bird.log"), 40)
            );
        }
    }
}

// ------------------------------------------------------------------ our daemon

/// `bgp-daemon --config FILE` in a namespace, with `bgpctl` pointed at its socket.
pub struct Daemon {
    pub config: PathBuf,
    pub socket: PathBuf,
    proc: Proc,
}

impl Daemon {
    /// Writes `config` (use [`Lab::global_toml`] for its `[global]` table, which puts
    /// the control socket at `<lab>/bgpctl.sock`), starts the daemon in `ns` and waits
    /// until bgpctl gets an answer.
    pub fn start(lab: &Lab, ns: &Netns, config: &str) -> Daemon {
        Daemon::spawn(lab, ns, "bgp-daemon", lab.path("bgpctl.sock"), config)
    }

    /// One of several daemons of a test: its config in `<lab>/<name>.toml`, its log in
    /// `<name>.log`; `config` must put its control socket at `<lab>/<name>.sock`
    /// ([`Lab::global_toml_named`]).
    pub fn start_named(lab: &Lab, ns: &Netns, name: &str, config: &str) -> Daemon {
        Daemon::spawn(lab, ns, name, lab.path(&format!("{name}.sock")), config)
    }

    fn spawn(lab: &Lab, ns: &Netns, name: &str, socket: PathBuf, config: &str) -> Daemon {
        let path = lab.path(&format!("{name}.toml"));
        fs::write(&path, config).expect("write the daemon config");
        let level = std::env::var("INTEROP_LOG").unwrap_or_else(|_| "info".into());
        let mut cmd = ns.cmd(daemon_bin());
        cmd.arg("--config").arg(&path).args(["--log-level", &level]);
        let proc = Proc::spawn(name, cmd, &lab.path(&format!("{name}.log")));
        let mut d = Daemon { config: path, socket, proc };
        wait_until(Duration::from_secs(10), &format!("{name} answers bgpctl"), || {
            if !d.proc.running() {
                panic!("bgp-daemon exited at start:\n{}", d.proc.log_text());
            }
            d.neighbors().map(drop)
        });
        d
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// `bgpctl --socket SOCK ARGS...` (text output).
    pub fn bgpctl_text(&self, args: &[&str]) -> Result<String, String> {
        run_ok(Command::new(bgpctl_bin()).arg("--socket").arg(&self.socket).args(args))
    }

    /// `bgpctl --socket SOCK --json ARGS...`, parsed.
    pub fn bgpctl(&self, args: &[&str]) -> Result<Value, String> {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let text = self.bgpctl_text(&full)?;
        serde_json::from_str(&text).map_err(|e| format!("bgpctl {args:?}: not JSON ({e}): {text}"))
    }

    /// `bgpctl show neighbors --json`.
    pub fn neighbors(&self) -> Result<Vec<NeighborSummary>, String> {
        let v = self.bgpctl(&["show", "neighbors"])?;
        serde_json::from_value(v).map_err(|e| format!("show neighbors: {e}"))
    }

    /// `bgpctl show neighbors ADDR --json`.
    pub fn neighbor(&self, addr: &str) -> Result<NeighborDetail, String> {
        let v = self.bgpctl(&["show", "neighbors", addr])?;
        serde_json::from_value(v.clone()).map_err(|e| format!("show neighbors {addr}: {e}: {v}"))
    }

    /// `Ok` once the neighbor is Established.
    pub fn established(&self, addr: &str) -> Result<NeighborDetail, String> {
        let n = self.neighbor(addr)?;
        if n.summary.state == SessionState::Established {
            Ok(n)
        } else {
            Err(format!("we see {addr} in {} (last error: {:?})", n.summary.state, n.summary.last_error))
        }
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        self.proc.log_text()
    }

    /// SIGTERM, and its exit status within `timeout` (None: still running).
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.signal("TERM");
        self.proc.wait_exit(timeout)
    }

    pub fn running(&mut self) -> bool {
        self.proc.running()
    }

    /// Its exit status within `timeout` (None: still running), without a signal: for a
    /// daemon told to stop some other way (`bgpctl shutdown`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.wait_exit(timeout)
    }

    /// SIGKILL (a crash), and reap.
    pub fn kill(&mut self) -> ExitStatus {
        self.proc.kill()
    }

    /// VmRSS from /proc/PID/status, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid()).expect("VmRSS of the daemon")
    }

    /// The anonymous part of the daemon's resident memory (heap, stacks), without the
    /// pages of its binary.
    pub fn rss_anon_kib(&self) -> u64 {
        status_kib(self.pid(), "RssAnon:").expect("RssAnon of the daemon")
    }
}

/// VmRSS of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// A `/proc/PID/status` field counted in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
