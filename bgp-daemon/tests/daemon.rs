//! The daemon binary end to end on loopback, without peers: `--check`, the control
//! socket's answers to good and bad requests, the read-only socket, a client that
//! stops reading, reload keeping the old configuration on error, a clean exit on
//! SIGTERM, and a start over what a killed daemon left behind.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bgp_core::ctl::{Command as Ctl, Reply, Request, PROTOCOL_VERSION};

const DAEMON: &str = env!("CARGO_BIN_EXE_bgp-daemon");

struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bgp-daemon-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &Path, neighbors: &[&str]) -> String {
    let mut text = format!(
        "[global]\nasn = 65000\nrouter_id = \"10.0.0.1\"\nlisten = []\ncontrol_socket = \"{}\"\n",
        dir.join("ctl.sock").display()
    );
    for n in neighbors {
        // Port 9 on loopback: nothing listens, connects fail at once.
        text.push_str(&format!("\n[[neighbor]]\naddress = \"{n}\"\nasn = 65001\nport = 9\n"));
    }
    text
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(name: &str, neighbors: &[&str]) -> Daemon {
    start_with(name, |dir| config(dir, neighbors))
}

fn start_with(name: &str, text: impl Fn(&Path) -> String) -> Daemon {
    let dir = temp_dir(name);
    std::fs::write(dir.join("bgp.toml"), text(&dir)).unwrap();
    spawn(dir)
}

/// Starts the daemon on the configuration in `dir` and waits for its socket.
fn spawn(dir: PathBuf) -> Daemon {
    let child = Command::new(DAEMON)
        .arg("--config")
        .arg(dir.join("bgp.toml"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start bgp-daemon");
    let sock = dir.join("ctl.sock");
    wait_for("the control socket", Duration::from_secs(10), || UnixStream::connect(&sock).is_ok());
    Daemon { child, dir }
}

/// Sends one raw line and returns every reply line.
fn raw(sock: &Path, line: &[u8]) -> Vec<Reply> {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(line).unwrap();
    BufReader::new(s).lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect()
}

fn request(sock: &Path, command: Ctl) -> Vec<Reply> {
    let mut line = serde_json::to_vec(&Request { version: PROTOCOL_VERSION, command }).unwrap();
    line.push(b'\n');
    raw(sock, &line)
}

fn neighbors(sock: &Path) -> Vec<String> {
    request(sock, Ctl::ShowNeighbors { address: None })
        .into_iter()
        .filter_map(|r| match r {
            Reply::Neighbor(n) => Some(n.address.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn check_reports_file_line_and_key() {
    let dir = temp_dir("check");
    let good = dir.join("good.toml");
    std::fs::write(&good, config(&dir, &["127.0.0.2"])).unwrap();
    let out = Command::new(DAEMON).arg("--config").arg(&good).arg("--check").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[global]\nasn = 65000\nrouter_id = \"10.0.0.1\"\nhold_tim = 30\n").unwrap();
    let out = Command::new(DAEMON).arg("--config").arg(&bad).arg("--check").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:4:1") && err.contains("hold_tim") && err.contains("hold_time"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn control_socket_answers_bad_requests_with_errors() {
    let d = start("control", &["127.0.0.2"]);
    let sock = d.dir.join("ctl.sock");
    let is_error = |r: &[Reply]| matches!(r, [Reply::Error { .. }]);
    assert!(is_error(&raw(&sock, b"this is not json\n")));
    assert!(is_error(&raw(&sock, b"{\"version\":99,\"command\":\"reload\"}\n")));
    assert!(is_error(&request(&sock, Ctl::ShowNeighbors { address: Some("192.0.2.9".parse().unwrap()) })));
    assert!(is_error(&request(&sock, Ctl::NeighborReset { address: "192.0.2.9".parse().unwrap() })));
    // A client that never finishes its line is cut off after 10 s, not kept forever.
    let started = Instant::now();
    assert!(is_error(&raw(&sock, b"{\"version\":1")));
    assert!(started.elapsed() < Duration::from_secs(14));
    // The daemon is still fine.
    assert_eq!(neighbors(&sock), vec!["127.0.0.2"]);
    let detail = request(&sock, Ctl::ShowNeighbors { address: Some("127.0.0.2".parse().unwrap()) });
    assert!(matches!(&detail[..], [Reply::NeighborDetail(_), Reply::End]), "{detail:?}");
}

#[test]
fn reload_keeps_the_old_config_on_error_and_applies_a_good_one() {
    let d = start("reload", &["127.0.0.2"]);
    let sock = d.dir.join("ctl.sock");
    let file = d.dir.join("bgp.toml");
    std::fs::write(&file, config(&d.dir, &["127.0.0.2"]).replace("asn = 65001", "asn = 0")).unwrap();
    let replies = request(&sock, Ctl::Reload);
    let [Reply::Error { message }] = &replies[..] else { panic!("{replies:?}") };
    assert!(message.contains("bgp.toml:") && message.contains("neighbor[0].asn"), "{message}");
    assert_eq!(neighbors(&sock), vec!["127.0.0.2"], "the running configuration stays");

    std::fs::write(&file, config(&d.dir, &["127.0.0.3", "127.0.0.4"])).unwrap();
    let replies = request(&sock, Ctl::Reload);
    let [Reply::Done { message }, Reply::End] = &replies[..] else { panic!("{replies:?}") };
    assert!(message.contains("2 added, 1 removed"), "{message}");
    assert_eq!(neighbors(&sock), vec!["127.0.0.3", "127.0.0.4"]);
}

#[test]
fn sigterm_exits_zero_and_removes_the_socket() {
    let mut d = start("sigterm", &["127.0.0.2"]);
    let sock = d.dir.join("ctl.sock");
    let status = Command::new("kill").arg("-TERM").arg(d.child.id().to_string()).status().unwrap();
    assert!(status.success());
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "daemon did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(!sock.exists(), "control socket left behind");
}

#[test]
fn the_read_only_socket_answers_show_and_refuses_the_rest() {
    let d = start_with("readonly", |dir| {
        config(dir, &["127.0.0.2"]).replace(
            "listen = []",
            &format!("listen = []\ncontrol_socket_readonly = \"{}\"", dir.join("ro.sock").display()),
        )
    });
    let (sock, ro) = (d.dir.join("ctl.sock"), d.dir.join("ro.sock"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&ro).unwrap().permissions().mode() & 0o777, 0o666);
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o660);
    assert_eq!(neighbors(&ro), vec!["127.0.0.2"]);
    let summary = request(&ro, Ctl::ShowSummary);
    assert!(matches!(&summary[..], [Reply::Summary(_), Reply::End]), "{summary:?}");
    for command in [
        Ctl::Shutdown { message: None },
        Ctl::Reload,
        Ctl::NeighborShutdown { address: "127.0.0.2".parse().unwrap(), message: None },
    ] {
        let replies = request(&ro, command);
        let [Reply::Error { message }] = &replies[..] else { panic!("{replies:?}") };
        assert!(message.contains("read-only"), "{message}");
    }
    // Still running, the neighbor untouched.
    let detail = request(&sock, Ctl::ShowNeighbors { address: Some("127.0.0.2".parse().unwrap()) });
    let [Reply::NeighborDetail(n), Reply::End] = &detail[..] else { panic!("{detail:?}") };
    assert!(!n.summary.admin_down);
}

#[test]
fn a_file_at_the_socket_path_is_kept_and_stops_the_start() {
    let dir = temp_dir("not-a-socket");
    std::fs::write(dir.join("bgp.toml"), config(&dir, &[])).unwrap();
    let sock = dir.join("ctl.sock");
    std::fs::write(&sock, "not a socket").unwrap();
    let out = Command::new(DAEMON).arg("--config").arg(dir.join("bgp.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{} exists and is not a socket", sock.display())), "{err}");
    assert_eq!(std::fs::read_to_string(&sock).unwrap(), "not a socket");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A killed daemon (SIGKILL, or the exit after a panic) leaves its socket behind:
/// the next start replaces it, as Kubernetes or systemd restarting it needs.
#[test]
fn a_start_after_a_kill_replaces_the_stale_socket() {
    let mut d = start("killed", &["127.0.0.2"]);
    let sock = d.dir.join("ctl.sock");
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    assert!(sock.exists(), "a killed daemon leaves its socket");
    let dir = std::mem::take(&mut d.dir);
    std::mem::forget(d);
    let d = spawn(dir);
    assert_eq!(neighbors(&d.dir.join("ctl.sock")), vec!["127.0.0.2"]);
}

/// A client that asks for every route and then stops reading is dropped after the
/// write timeout (10 s) instead of holding the answer and its dump forever; the
/// daemon answers others meanwhile.
#[test]
fn a_client_that_stops_reading_show_routes_is_dropped() {
    let d = start_with("stuck", |dir| {
        let mut text = config(dir, &[]);
        for i in 0..4000u32 {
            let [_, _, b, c] = (0x0a00_0000 + i).to_be_bytes();
            text.push_str(&format!("\n[[announce]]\nprefix = \"10.0.{b}.{c}/32\"\n"));
        }
        text
    });
    let sock = d.dir.join("ctl.sock");
    let mut stuck = UnixStream::connect(&sock).unwrap();
    let mut line = serde_json::to_vec(&Request {
        version: PROTOCOL_VERSION,
        command: Ctl::ShowRoutes { prefix: None, neighbor: None, direction: None, family: None },
    })
    .unwrap();
    line.push(b'\n');
    stuck.write_all(&line).unwrap();
    let asked = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let summary = request(&sock, Ctl::ShowSummary);
    assert!(matches!(&summary[..], [Reply::Summary(_), Reply::End]), "{summary:?}");
    std::thread::sleep(Duration::from_secs(11).saturating_sub(asked.elapsed()));
    // Dropped: what was buffered can be read, then the end comes without `End`.
    stuck.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let lines: Vec<String> = BufReader::new(stuck).lines().map(|l| l.expect("closed, not stuck")).collect();
    assert!(lines.len() < 4000, "the answer was cut: {} lines", lines.len());
    assert!(!lines.last().is_some_and(|l| l.contains("\"end\"")), "{:?}", lines.last());
    // The daemon is fine and the next client gets every route.
    let routes = request(&sock, Ctl::ShowRoutes { prefix: None, neighbor: None, direction: None, family: None });
    assert_eq!(routes.len(), 4001);
}

/// A free port on loopback (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.1 GET over a plain TCP connection: (status, content type, body).
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String, String)> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_string))
        .unwrap_or_default();
    Ok((status, content_type, body.to_string()))
}

/// `name{labels} value` lines of a scrape, by `name{labels}` as printed.
fn samples(body: &str) -> std::collections::BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn metrics_are_served_match_the_control_socket_and_follow_a_reload() {
    let port = free_port();
    let text = |dir: &Path, port: u16| {
        let announce = "\n[[announce]]\nprefix = \"192.0.2.0/24\"\n\n[[announce]]\nprefix = \"198.51.100.0/24\"\n\n\
                        [[announce]]\nprefix = \"2001:db8::/48\"\n";
        config(dir, &["127.0.0.2"])
            .replace("listen = []\n", &format!("listen = []\nmetrics_listen = \"127.0.0.1:{port}\"\n"))
            .replace("port = 9\n", "port = 9\nbfd = true\n")
            + announce
    };
    let d = start_with("metrics", |dir| text(dir, port));
    let sock = d.dir.join("ctl.sock");
    // The control socket is bound before the endpoint.
    wait_for("the metrics endpoint", Duration::from_secs(5), || http_get(port, "/metrics").is_ok());
    // The neighbor's task adds its BFD session once it runs.
    wait_for("the BFD session", Duration::from_secs(5), || {
        request(&sock, Ctl::ShowBfd).iter().any(|r| matches!(r, Reply::Bfd(_)))
    });

    let (status, content_type, body) = http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    let m = samples(&body);
    let get = |key: &str| *m.get(key).unwrap_or_else(|| panic!("no {key} in\n{body}"));

    // The neighbor as `bgpctl show neighbors` shows it.
    let replies = request(&sock, Ctl::ShowNeighbors { address: None });
    let n = replies.iter().find_map(|r| if let Reply::Neighbor(n) = r { Some(n) } else { None }).unwrap();
    let peer = "peer=\"127.0.0.2\",peer_as=\"65001\"";
    assert_eq!(get(&format!("bgpd_peer_up{{{peer}}}")), 0.0);
    let state = ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"]
        .iter()
        .position(|s| format!("{:?}", n.state) == *s)
        .unwrap() as f64
        + 1.0;
    let scraped = get(&format!("bgpd_peer_state{{{peer}}}"));
    // Connect and Active alternate while the connects fail.
    assert!(scraped == state || (2.0..=3.0).contains(&scraped) && (2.0..=3.0).contains(&state), "{scraped} {state}");
    assert_eq!(get(&format!("bgpd_peer_prefixes_received{{{peer},afi=\"ipv4\",safi=\"unicast\"}}")), 0.0);
    assert_eq!(get(&format!("bgpd_peer_messages_received_total{{{peer},type=\"update\"}}")), 0.0);

    // The RIB's counts as `bgpctl show summary` shows them.
    let replies = request(&sock, Ctl::ShowSummary);
    let Some(Reply::Summary(summary)) = replies.first() else { panic!("{replies:?}") };
    assert_eq!((summary.ipv4_prefixes, summary.ipv6_prefixes), (2, 1));
    assert_eq!(get("bgpd_rib_prefixes{afi=\"ipv4\",safi=\"unicast\"}"), summary.ipv4_prefixes as f64);
    assert_eq!(get("bgpd_rib_prefixes{afi=\"ipv6\",safi=\"unicast\"}"), summary.ipv6_prefixes as f64);
    assert_eq!(get("bgpd_source_routes{source=\"static\",afi=\"ipv4\",safi=\"unicast\"}"), 2.0);
    assert_eq!(get("bgpd_source_routes{source=\"static\",afi=\"ipv6\",safi=\"unicast\"}"), 1.0);
    assert_eq!(get("bgpd_source_routes{source=\"peer\",afi=\"ipv4\",safi=\"unicast\"}"), 0.0);
    assert_eq!(get("bgpd_rib_attribute_sets"), summary.attribute_sets as f64);
    assert_eq!(get("bgpd_scrape_missing{part=\"rib\"}"), 0.0);
    assert!(get("process_resident_memory_bytes") > 1e6);
    assert!(m.contains_key("bgpd_fib_routes_installed") && m.contains_key("bgpd_fib_write_failures_total"));

    // Every metric is documented in the README's table, with its type, and nothing
    // documented is missing (counters are typed under their name without `_total`).
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let documented: Vec<(String, String)> = readme
        .lines()
        .filter(|l| l.starts_with("| `bgpd_") || l.starts_with("| `process_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`');
            let name = if cells[2] == "counter" { name.strip_suffix("_total").unwrap() } else { name };
            (name.to_string(), cells[2].to_string())
        })
        .collect();
    let typed: Vec<(String, String)> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').unwrap();
            (name.to_string(), kind.to_string())
        })
        .collect();
    let undocumented: Vec<_> = typed.iter().filter(|t| !documented.contains(t)).collect();
    assert!(undocumented.is_empty(), "not in the README's metrics table (or of another type): {undocumented:?}");
    // A family without a series is not printed: no NOTIFICATION has been sent or received.
    let unseen: Vec<&str> = documented.iter().filter(|d| !typed.contains(d)).map(|d| d.0.as_str()).collect();
    assert_eq!(unseen, ["bgpd_peer_notifications_sent", "bgpd_peer_notifications_received", "bgpd_peer_hard_resets"]);

    // Its BFD session as `bgpctl show bfd` shows it: Down, nobody answers.
    let replies = request(&sock, Ctl::ShowBfd);
    let bfd = replies.iter().find_map(|r| if let Reply::Bfd(b) = r { Some(b) } else { None }).unwrap();
    assert_eq!(bfd.state, "Down", "{replies:?}");
    let bfd_peer = "peer=\"127.0.0.2\"";
    assert_eq!(get(&format!("bgpd_bfd_session_state{{{bfd_peer}}}")), 1.0);
    assert_eq!(get(&format!("bgpd_bfd_session_up{{{bfd_peer}}}")), 0.0);
    assert_eq!(get(&format!("bgpd_bfd_packets_received_total{{{bfd_peer}}}")), 0.0);
    assert_eq!(get(&format!("bgpd_bfd_detection_time_milliseconds{{{bfd_peer}}}")), bfd.detection_time_ms as f64);
    assert_eq!(get("bgpd_scrape_missing{part=\"bfd\"}"), 0.0);

    // A drained neighbor (RFC 8326) shows as such.
    assert_eq!(get(&format!("bgpd_peer_drained{{{peer}}}")), 0.0);
    let ip = "127.0.0.2".parse().unwrap();
    let replies = request(&sock, Ctl::Drain { neighbor: Some(ip), wait_seconds: None });
    assert!(matches!(replies.last(), Some(Reply::End)), "{replies:?}");
    let m = samples(&http_get(port, "/metrics").unwrap().2);
    assert_eq!(m.get(&format!("bgpd_peer_drained{{{peer}}}")), Some(&1.0));

    // Anything but /metrics is not found.
    assert_eq!(http_get(port, "/").unwrap().0, 404);

    // A reload moves the endpoint: the new port answers, the old one is closed.
    let new_port = free_port();
    std::fs::write(d.dir.join("bgp.toml"), text(&d.dir, new_port)).unwrap();
    let replies = request(&sock, Ctl::Reload);
    let [Reply::Done { message }, Reply::End] = &replies[..] else { panic!("{replies:?}") };
    assert!(message.contains(&format!("metrics endpoint at 127.0.0.1:{new_port}")), "{message}");
    assert_eq!(http_get(new_port, "/metrics").unwrap().0, 200);
    wait_for("the old port to close", Duration::from_secs(5), || http_get(port, "/metrics").is_err());

    // A bad address is refused with its file, line and key; the endpoint stays.
    let bad = text(&d.dir, new_port).replace(&format!("127.0.0.1:{new_port}"), "localhost");
    std::fs::write(d.dir.join("bgp.toml"), bad).unwrap();
    let replies = request(&sock, Ctl::Reload);
    let [Reply::Error { message }] = &replies[..] else { panic!("{replies:?}") };
    assert!(message.contains("bgp.toml:5:18: global.metrics_listen"), "{message}");
    assert_eq!(http_get(new_port, "/metrics").unwrap().0, 200);
}
