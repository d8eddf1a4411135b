//! The daemon binary end to end on loopback, without peers: `--check`, the control
//! socket's answers to good and bad requests, reload keeping the old configuration on
//! error, and a clean exit on SIGTERM.

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
    let dir = temp_dir(name);
    std::fs::write(dir.join("bgp.toml"), config(&dir, neighbors)).unwrap();
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
