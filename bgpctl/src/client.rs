//! The client side of the control protocol (`bgp_core::ctl`): connect to the
//! daemon's Unix socket, write one [`Request`] line, read [`Reply`] lines until
//! [`Reply::End`] or [`Reply::Error`].
//!
//! Nothing here can hang: connecting, writing and every read are bounded by the
//! timeout, so a stuck daemon is an error after that long.

use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use bgp_core::ctl::events::NeighborEvent;
use bgp_core::ctl::why::WhyReport;
use bgp_core::ctl::{
    BfdSessionRow, Command, DrainRow, FibRow, KubernetesRouteRow, KubernetesStatus, NeighborDetail, NeighborSummary,
    NextHopRow, ReloadPreview, Reply, Request, RibSummary, RouteRow, PROTOCOL_VERSION,
};
use serde::Deserialize;

/// A reply line longer than this is refused rather than buffered without end.
const MAX_LINE: usize = 16 << 20;

/// The `reply` tags of protocol version [`PROTOCOL_VERSION`]: a tag outside this list
/// means the daemon speaks another protocol generation.
const KNOWN_REPLY_KINDS: [&str; 16] = [
    "neighbor",
    "neighbor-detail",
    "route",
    "summary",
    "fib",
    "next-hop",
    "kubernetes",
    "kubernetes-route",
    "done",
    "error",
    "end",
    "drained",
    "bfd",
    "why",
    "reload-preview",
    "event",
];

/// Why a request failed. Each renders as one line for the operator.
#[derive(Debug)]
pub enum Error {
    /// The socket file (or its directory) does not exist.
    NoSocket { socket: PathBuf },
    /// Not allowed to connect; `group` is the socket's group, if it can be read.
    PermissionDenied { socket: PathBuf, group: Option<String> },
    /// A socket file nobody listens on: left behind by a daemon that is gone.
    Refused { socket: PathBuf },
    /// The path exists but is no socket.
    NotASocket { socket: PathBuf },
    /// Any other failure to connect.
    Connect { socket: PathBuf, source: io::Error },
    /// The daemon did not accept, read or answer within the timeout.
    Timeout { socket: PathBuf, timeout: Duration, waiting_for: &'static str },
    /// Reading or writing failed after the connection was made.
    Io { socket: PathBuf, source: io::Error },
    /// The daemon closed the connection before `End` or `Error`.
    Closed { socket: PathBuf },
    /// The daemon refused the request (`Reply::Error`), e.g. an unknown neighbor.
    Daemon { message: String },
    /// A reply line that is not a reply of our protocol.
    Malformed { detail: String },
    /// The daemon speaks another protocol generation.
    VersionMismatch { detail: String },
    /// A well-formed reply of the wrong kind for the request.
    Unexpected { got: &'static str, expected: &'static str },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSocket { socket } => write!(
                f,
                "cannot connect to {}: no such file — is bgp-daemon running? (set --socket or BGPCTL_SOCKET)",
                socket.display()
            ),
            Error::PermissionDenied { socket, group } => {
                write!(
                    f,
                    "cannot connect to {}: permission denied — run bgpctl as root or as a member of the socket's group",
                    socket.display()
                )?;
                match group {
                    Some(group) => write!(f, " ({group})"),
                    None => Ok(()),
                }
            }
            Error::Refused { socket } => write!(
                f,
                "cannot connect to {}: connection refused — stale socket, bgp-daemon is not running",
                socket.display()
            ),
            Error::NotASocket { socket } => {
                write!(f, "cannot connect to {}: not a socket (set --socket or BGPCTL_SOCKET)", socket.display())
            }
            Error::Connect { socket, source } => write!(f, "cannot connect to {}: {source}", socket.display()),
            Error::Timeout { socket, timeout, waiting_for } => write!(
                f,
                "timed out after {} s waiting for bgp-daemon on {} to {waiting_for} — is it stuck? (--timeout sets the limit)",
                timeout.as_secs_f64(),
                socket.display()
            ),
            Error::Io { socket, source } => write!(f, "error talking to bgp-daemon on {}: {source}", socket.display()),
            Error::Closed { socket } => {
                write!(f, "bgp-daemon on {} closed the connection before the answer was complete", socket.display())
            }
            Error::Daemon { message } => f.write_str(message),
            Error::Malformed { detail } => write!(f, "malformed reply from bgp-daemon: {detail}"),
            Error::VersionMismatch { detail } => write!(f, "protocol version mismatch: {detail}"),
            Error::Unexpected { got, expected } => {
                write!(f, "unexpected reply from bgp-daemon: `{got}` where {expected} was expected")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The source is already part of the one-line message.
        None
    }
}

/// Talks to the daemon at `socket`; one connection per request.
#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

impl Client {
    pub fn new(socket: PathBuf, timeout: Duration) -> Client {
        Client { socket, timeout }
    }

    /// Connects, sends `command` and returns the reply stream.
    pub fn request(&self, command: Command) -> Result<Replies, Error> {
        let mut stream = connect(&self.socket, self.timeout)?;
        let io_err = |e: io::Error, waiting_for| self.io_error(e, waiting_for);
        stream.set_read_timeout(Some(self.timeout)).map_err(|e| io_err(e, "answer"))?;
        stream.set_write_timeout(Some(self.timeout)).map_err(|e| io_err(e, "read the request"))?;
        let mut line = serde_json::to_string(&Request { version: PROTOCOL_VERSION, command })
            .expect("a Request always serializes");
        line.push('\n');
        stream.write_all(line.as_bytes()).and_then(|()| stream.flush()).map_err(|e| io_err(e, "read the request"))?;
        Ok(Replies { reader: BufReader::new(stream), client: self.clone(), done: false })
    }

    /// `show neighbors`: one summary per neighbor.
    pub fn show_neighbors(&self) -> Result<Vec<NeighborSummary>, Error> {
        self.rows(Command::ShowNeighbors { address: None }, "a neighbor summary", |reply| match reply {
            Reply::Neighbor(n) => Ok(n),
            other => Err(reply_kind(&other)),
        })
    }

    /// `show neighbors ADDR`: the details of one neighbor.
    pub fn show_neighbor(&self, address: IpAddr) -> Result<NeighborDetail, Error> {
        let mut detail = None;
        for reply in self.request(Command::ShowNeighbors { address: Some(address) })? {
            match reply? {
                Reply::NeighborDetail(d) if detail.is_none() => detail = Some(*d),
                other => return Err(Error::Unexpected { got: reply_kind(&other), expected: "one neighbor detail" }),
            }
        }
        detail.ok_or(Error::Unexpected { got: "end", expected: "a neighbor detail" })
    }

    /// `show routes`: the rows in the daemon's order. `command` is a
    /// [`Command::ShowRoutes`].
    pub fn show_routes(&self, command: Command) -> Result<Vec<RouteRow>, Error> {
        self.rows(command, "a route", |reply| match reply {
            Reply::Route(row) => Ok(*row),
            other => Err(reply_kind(&other)),
        })
    }

    /// `show fib [PREFIX]`: the FIB routes in the daemon's order.
    pub fn show_fib(&self, prefix: Option<String>) -> Result<Vec<FibRow>, Error> {
        self.rows(Command::ShowFib { prefix }, "a FIB route", |reply| match reply {
            Reply::Fib(row) => Ok(row),
            other => Err(reply_kind(&other)),
        })
    }

    /// `show nexthops`: every tracked next hop in the daemon's order.
    pub fn show_next_hops(&self) -> Result<Vec<NextHopRow>, Error> {
        self.rows(Command::ShowNextHops, "a next hop", |reply| match reply {
            Reply::NextHop(row) => Ok(row),
            other => Err(reply_kind(&other)),
        })
    }

    /// `show events`, `show neighbors ADDR events`: the history, oldest first.
    pub fn show_events(&self, neighbor: Option<IpAddr>, since: Option<Duration>) -> Result<Vec<NeighborEvent>, Error> {
        let command = Command::ShowEvents { neighbor, since_seconds: since.map(|d| d.as_secs()) };
        self.rows(command, "an event", |reply| match reply {
            Reply::Event(e) => Ok(*e),
            other => Err(reply_kind(&other)),
        })
    }

    /// `show kubernetes`: the client's status, then the routes it feeds.
    pub fn show_kubernetes(&self) -> Result<KubernetesShow, Error> {
        let mut status = None;
        let mut routes = Vec::new();
        for reply in self.request(Command::ShowKubernetes)? {
            match reply? {
                Reply::Kubernetes(s) if status.is_none() => status = Some(*s),
                Reply::KubernetesRoute(r) if status.is_some() => routes.push(*r),
                other => {
                    let expected = if status.is_none() { "the Kubernetes status" } else { "a Kubernetes route" };
                    return Err(Error::Unexpected { got: reply_kind(&other), expected });
                }
            }
        }
        let status = status.ok_or(Error::Unexpected { got: "end", expected: "the Kubernetes status" })?;
        Ok(KubernetesShow { status, routes })
    }

    /// `show bfd`: every BFD session in the daemon's order.
    pub fn show_bfd(&self) -> Result<Vec<BfdSessionRow>, Error> {
        self.rows(Command::ShowBfd, "a BFD session", |reply| match reply {
            Reply::Bfd(row) => Ok(*row),
            other => Err(reply_kind(&other)),
        })
    }

    /// `why`: one report.
    pub fn why(&self, target: String) -> Result<WhyReport, Error> {
        let mut report = None;
        for reply in self.request(Command::Why { target })? {
            match reply? {
                Reply::Why(r) if report.is_none() => report = Some(*r),
                other => return Err(Error::Unexpected { got: reply_kind(&other), expected: "one why report" }),
            }
        }
        report.ok_or(Error::Unexpected { got: "end", expected: "a why report" })
    }

    /// The answer to `command` as rows of one kind: `pick` takes a row out of a reply,
    /// or names the kind of a reply of another kind, which is an error (`expected`
    /// names the kind wanted).
    fn rows<T>(
        &self,
        command: Command,
        expected: &'static str,
        pick: impl Fn(Reply) -> Result<T, &'static str>,
    ) -> Result<Vec<T>, Error> {
        self.request(command)?.map(|reply| pick(reply?).map_err(|got| Error::Unexpected { got, expected })).collect()
    }

    /// `show summary`: the daemon's counts.
    pub fn show_summary(&self) -> Result<RibSummary, Error> {
        let mut summary = None;
        for reply in self.request(Command::ShowSummary)? {
            match reply? {
                Reply::Summary(s) if summary.is_none() => summary = Some(s),
                other => return Err(Error::Unexpected { got: reply_kind(&other), expected: "one summary" }),
            }
        }
        summary.ok_or(Error::Unexpected { got: "end", expected: "a summary" })
    }

    /// `reload --dry-run`: what a reload of the daemon's file (or of `text`, named
    /// `file`) would do.
    pub fn reload_dry_run(&self, file: Option<String>, text: Option<String>) -> Result<ReloadPreview, Error> {
        let mut preview = None;
        for reply in self.request(Command::ReloadDryRun { file, text })? {
            match reply? {
                Reply::ReloadPreview(p) if preview.is_none() => preview = Some(*p),
                other => return Err(Error::Unexpected { got: reply_kind(&other), expected: "one reload preview" }),
            }
        }
        preview.ok_or(Error::Unexpected { got: "end", expected: "a reload preview" })
    }

    /// A command that changes something: the daemon's `Done` message.
    pub fn execute(&self, command: Command) -> Result<String, Error> {
        let stopping_daemon = matches!(command, Command::Shutdown { .. });
        let mut messages = Vec::new();
        for reply in self.request(command)? {
            match reply {
                Ok(Reply::Done { message }) => messages.push(message),
                Ok(other) => return Err(Error::Unexpected { got: reply_kind(&other), expected: "done" }),
                // A daemon on its way out may close the socket before `End`: what
                // matters is that it said `Done`.
                Err(Error::Closed { .. }) if stopping_daemon && !messages.is_empty() => break,
                Err(e) => return Err(e),
            }
        }
        if messages.is_empty() {
            return Err(Error::Unexpected { got: "end", expected: "done" });
        }
        Ok(messages.join("\n"))
    }

    /// `drain` and `undrain`: a row per neighbor whose state changed, and the
    /// daemon's message.
    pub fn drain(&self, command: Command) -> Result<(Vec<DrainRow>, String), Error> {
        let (mut rows, mut message) = (Vec::new(), None);
        for reply in self.request(command)? {
            match reply? {
                Reply::Drained(row) if message.is_none() => rows.push(row),
                Reply::Done { message: m } if message.is_none() => message = Some(m),
                other => return Err(Error::Unexpected { got: reply_kind(&other), expected: "drained or done" }),
            }
        }
        Ok((rows, message.ok_or(Error::Unexpected { got: "end", expected: "done" })?))
    }

    fn io_error(&self, e: io::Error, waiting_for: &'static str) -> Error {
        match e.kind() {
            // A timed-out read or write on a Unix socket is EAGAIN (WouldBlock).
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                Error::Timeout { socket: self.socket.clone(), timeout: self.timeout, waiting_for }
            }
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Error::Closed { socket: self.socket.clone() },
            _ => Error::Io { socket: self.socket.clone(), source: e },
        }
    }
}

/// The replies to one request, without the final `End`; an `Error` reply is
/// returned as [`Error::Daemon`] and ends the stream.
pub struct Replies {
    reader: BufReader<UnixStream>,
    client: Client,
    done: bool,
}

impl Replies {
    fn next_reply(&mut self) -> Result<Option<Reply>, Error> {
        loop {
            let mut buf = Vec::new();
            let n = (&mut self.reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| self.client.io_error(e, "answer"))?;
            if n == 0 {
                return Err(Error::Closed { socket: self.client.socket.clone() });
            }
            if buf.last() != Some(&b'\n') {
                return Err(if buf.len() > MAX_LINE {
                    Error::Malformed { detail: format!("a line longer than {} MiB", MAX_LINE >> 20) }
                } else {
                    Error::Closed { socket: self.client.socket.clone() }
                });
            }
            let line = String::from_utf8(buf).map_err(|_| Error::Malformed { detail: "not UTF-8".into() })?;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            return match parse_reply(line)? {
                Reply::End => Ok(None),
                Reply::Error { message } => Err(Error::Daemon { message }),
                reply => Ok(Some(reply)),
            };
        }
    }
}

impl Iterator for Replies {
    type Item = Result<Reply, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_reply().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

/// One reply line; a line that is not a reply says why as precisely as it can.
pub fn parse_reply(line: &str) -> Result<Reply, Error> {
    let value = match serde_json::from_str::<serde_json::Value>(line) {
        Ok(value) => value,
        Err(_) => return Err(Error::Malformed { detail: format!("not JSON: {}", excerpt(line)) }),
    };
    // Replies of this protocol carry no version; one that does is from a later one.
    if let Some(version) = value.get("version") {
        if version.as_u64() != Some(u64::from(PROTOCOL_VERSION)) {
            return Err(Error::VersionMismatch {
                detail: format!(
                    "bgp-daemon speaks control protocol version {}, bgpctl speaks {PROTOCOL_VERSION} \
                     — use the bgpctl of the daemon's release",
                    excerpt(&version.to_string())
                ),
            });
        }
    }
    if let Some(kind) = value.get("reply").and_then(|v| v.as_str()) {
        if !KNOWN_REPLY_KINDS.contains(&kind) {
            return Err(Error::VersionMismatch {
                detail: format!(
                    "bgp-daemon sent a reply of kind `{}` unknown to bgpctl (protocol version {PROTOCOL_VERSION}) \
                     — use the bgpctl of the daemon's release",
                    excerpt(kind)
                ),
            });
        }
    }
    Reply::deserialize(value).map_err(|e| Error::Malformed { detail: format!("{e}: {}", excerpt(line)) })
}

/// What `show kubernetes` answers; `--json` prints it as `{"status": ..., "routes": [...]}`.
#[derive(Debug, serde::Serialize)]
pub struct KubernetesShow {
    pub status: KubernetesStatus,
    pub routes: Vec<KubernetesRouteRow>,
}

/// At most 80 characters of daemon text, safe to print.
fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    crate::output::clean(&out).into_owned()
}

fn reply_kind(reply: &Reply) -> &'static str {
    match reply {
        Reply::Neighbor(_) => "neighbor",
        Reply::NeighborDetail(_) => "neighbor-detail",
        Reply::Route(_) => "route",
        Reply::Summary(_) => "summary",
        Reply::Fib(_) => "fib",
        Reply::NextHop(_) => "next-hop",
        Reply::Kubernetes(_) => "kubernetes",
        Reply::KubernetesRoute(_) => "kubernetes-route",
        Reply::Done { .. } => "done",
        Reply::Error { .. } => "error",
        Reply::End => "end",
        Reply::Drained(_) => "drained",
        Reply::Bfd(_) => "bfd",
        Reply::Why(_) => "why",
        Reply::ReloadPreview(_) => "reload-preview",
        Reply::Event(_) => "event",
    }
}

/// `UnixStream::connect` with a time limit: connecting blocks while the daemon's
/// listen backlog is full, i.e. when it has stopped accepting. The connecting thread
/// is left behind on timeout; the process is about to exit anyway.
fn connect(socket: &Path, timeout: Duration) -> Result<UnixStream, Error> {
    let (tx, rx) = mpsc::channel();
    let path = socket.to_owned();
    thread::Builder::new()
        .name("connect".into())
        .spawn(move || {
            let _ = tx.send(UnixStream::connect(path));
        })
        .map_err(|e| Error::Connect { socket: socket.to_owned(), source: e })?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(connect_error(socket, e)),
        Err(_) => Err(Error::Timeout { socket: socket.to_owned(), timeout, waiting_for: "accept the connection" }),
    }
}

/// What a failed connect means for the operator.
pub fn connect_error(socket: &Path, e: io::Error) -> Error {
    let socket = socket.to_owned();
    match e.kind() {
        io::ErrorKind::NotFound => Error::NoSocket { socket },
        io::ErrorKind::PermissionDenied => {
            let group = fs::metadata(&socket).ok().map(|m| match group_name(m.gid()) {
                Some(name) => format!("`{name}`"),
                None => format!("gid {}", m.gid()),
            });
            Error::PermissionDenied { socket, group }
        }
        io::ErrorKind::ConnectionRefused => match fs::metadata(&socket) {
            Ok(m) if !m.file_type().is_socket() => Error::NotASocket { socket },
            _ => Error::Refused { socket },
        },
        _ => Error::Connect { socket, source: e },
    }
}

/// The name of group `gid` from /etc/group, if there is one.
fn group_name(gid: u32) -> Option<String> {
    let groups = fs::read_to_string("/etc/group").ok()?;
    group_name_in(&groups, gid)
}

fn group_name_in(groups: &str, gid: u32) -> Option<String> {
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == gid && !name.is_empty()).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket() -> PathBuf {
        PathBuf::from("/run/bgp-daemon/bgpctl.sock")
    }

    #[test]
    fn known_reply_kinds_match_the_protocol() {
        let summary: NeighborSummary = serde_json::from_str(
            r#"{"address":"10.0.0.2","description":null,"asn":65002,"state":"Idle","uptime_seconds":0,
                "prefixes_received":0,"prefixes_accepted":0,"prefixes_advertised":0,"messages_received":0,
                "messages_sent":0,"out_queue":0,"last_error":null,"dynamic":false,"admin_down":false}"#,
        )
        .unwrap();
        let detail = NeighborDetail {
            summary: summary.clone(),
            local_address: None,
            remote_address: None,
            peer_router_id: None,
            peer_hostname: None,
            configured_hold_time: 90,
            hold_time: None,
            keepalive: None,
            families: vec![],
            capabilities: vec![],
            received: Default::default(),
            sent: Default::default(),
            sessions_established: 0,
            password: false,
            ttl_security: None,
            hint: None,
            long_lived_stale_time: 0,
            long_lived: vec![],
            restart_phase: None,
            bfd: None,
        };
        let replies = [
            Reply::Neighbor(summary),
            Reply::NeighborDetail(Box::new(detail)),
            Reply::Route(Box::new(RouteRow { prefix: "10.0.0.0/8".into(), ..Default::default() })),
            Reply::Summary(RibSummary { ipv4_prefixes: 1, ..Default::default() }),
            Reply::Fib(FibRow {
                prefix: "10.42.7.0/26".into(),
                table: 254,
                protocol: 186,
                metric: 20,
                next_hops: vec![],
                state: bgp_core::ctl::FibState::Failed,
                error: Some("Network is unreachable".into()),
                errno: Some(101),
            }),
            Reply::NextHop(NextHopRow {
                address: "10.0.0.11".parse().unwrap(),
                resolved: false,
                via: None,
                connected: false,
                next_hops: vec![],
                paths: 2,
                reason: Some("no route".into()),
            }),
            Reply::Done { message: "ok".into() },
            Reply::Why(Box::new(bgp_core::ctl::why::WhyReport { query: "10.0.0.1".into(), ..Default::default() })),
            Reply::ReloadPreview(Box::default()),
            Reply::Error { message: "no".into() },
            Reply::End,
            Reply::Bfd(Box::new(BfdSessionRow {
                peer: "10.0.0.2".parse().unwrap(),
                local: None,
                state: "Down".into(),
                remote_state: "Down".into(),
                local_discriminator: 1,
                remote_discriminator: 0,
                tx_interval_ms: 1000,
                rx_interval_ms: 1000,
                multiplier: 3,
                detection_time_ms: 3000,
                last_change_seconds_ago: None,
                last_diag: "No Diagnostic".into(),
                packets_in: 0,
                packets_out: 0,
                packets_dropped: 0,
                bgp_state: None,
            })),
            Reply::Event(Box::new(bgp_core::ctl::events::NeighborEvent {
                neighbor: "10.0.0.2".parse().unwrap(),
                seq: 1,
                time_ms: 1,
                count: 2,
                last_ms: Some(2),
                event: bgp_core::ctl::events::Event::ConnectFailed { error: "refused".into() },
            })),
        ];
        for reply in replies {
            let json = serde_json::to_value(&reply).unwrap();
            assert_eq!(json["reply"], reply_kind(&reply));
            assert!(KNOWN_REPLY_KINDS.contains(&reply_kind(&reply)));
            assert_eq!(parse_reply(&json.to_string()).unwrap(), reply);
        }
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let e = parse_reply("hello").unwrap_err();
        assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
        assert_eq!(e.to_string(), "malformed reply from bgp-daemon: not JSON: hello");

        let e = parse_reply(r#"{"reply":"neighbor","address":"10.0.0.2"}"#).unwrap_err();
        assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
        assert!(e.to_string().contains("missing field"), "{e}");

        let e = parse_reply(r#"{"reply":"route","prefix":"10.0.0.0/8"}"#).unwrap_err();
        assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
        assert!(e.to_string().contains("missing field"), "{e}");

        let e = parse_reply(r#"{"reply":"dampened-path","prefix":"10.0.0.0/8"}"#).unwrap_err();
        assert!(matches!(e, Error::VersionMismatch { .. }), "{e:?}");
        assert!(e
            .to_string()
            .starts_with("protocol version mismatch: bgp-daemon sent a reply of kind `dampened-path`"));

        let later = PROTOCOL_VERSION + 1;
        let e = parse_reply(&format!(r#"{{"version":{later},"reply":"end","more":1}}"#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "protocol version mismatch: bgp-daemon speaks control protocol version {later}, bgpctl speaks \
                 {PROTOCOL_VERSION} — use the bgpctl of the daemon's release"
            )
        );

        // Terminal control characters from the daemon are not passed through.
        let e = parse_reply("\u{1b}[2Jgarbage").unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }

    #[test]
    fn connect_errors_explain_themselves() {
        let e = connect_error(&socket(), io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(
            e.to_string(),
            "cannot connect to /run/bgp-daemon/bgpctl.sock: no such file — is bgp-daemon running? \
             (set --socket or BGPCTL_SOCKET)"
        );
        let e = Error::PermissionDenied { socket: socket(), group: Some("`bgp`".into()) };
        assert_eq!(
            e.to_string(),
            "cannot connect to /run/bgp-daemon/bgpctl.sock: permission denied — run bgpctl as root or as a \
             member of the socket's group (`bgp`)"
        );
        let e = connect_error(&socket(), io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(e, Error::PermissionDenied { .. }));
        assert!(e.to_string().contains("permission denied — run bgpctl as root"), "{e}");
        let e = connect_error(&socket(), io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(e.to_string().ends_with("connection refused — stale socket, bgp-daemon is not running"), "{e}");
        // A regular file refuses connections too, but is not a stale socket.
        let e = connect_error(Path::new("/etc/passwd"), io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(matches!(e, Error::NotASocket { .. }), "{e:?}");
    }

    #[test]
    fn timeouts_and_closed_connections() {
        let client = Client::new(socket(), Duration::from_secs(1));
        let e = client.io_error(io::Error::from(io::ErrorKind::WouldBlock), "answer");
        assert_eq!(
            e.to_string(),
            "timed out after 1 s waiting for bgp-daemon on /run/bgp-daemon/bgpctl.sock to answer \
             — is it stuck? (--timeout sets the limit)"
        );
        let e = client.io_error(io::Error::from(io::ErrorKind::BrokenPipe), "read the request");
        assert!(matches!(e, Error::Closed { .. }));
    }

    #[test]
    fn group_names() {
        let groups = "root:x:0:\n# comment\nbgp:x:998:alice,bob\nbroken\n";
        assert_eq!(group_name_in(groups, 0).as_deref(), Some("root"));
        assert_eq!(group_name_in(groups, 998).as_deref(), Some("bgp"));
        assert_eq!(group_name_in(groups, 5), None);
    }
}
