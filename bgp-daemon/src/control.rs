//! The control sockets: Unix stream sockets speaking `bgp_core::ctl` (one JSON
//! request line in, reply lines out, ending with `End` or `Error`).
//!
//! `global.control_socket` takes every command; `global.control_socket_readonly`, if
//! set, only `show ...` (every other command is answered with an `Error` saying the
//! socket is read-only), so monitoring can read without being able to stop anything.
//!
//! Binding: the parent directory is created; a stale socket file (nobody answers) is
//! replaced, but a path that exists and is not a socket is an error and stays as it
//! is. The socket is bound inside a private directory (mode 0700), given its mode
//! there (0660, root and the socket's group; the read-only one 0666, its directory
//! deciding who may use it) and only then linked to its path, so it is never
//! reachable with looser permissions. It is removed on clean exit.
//!
//! Every client is bounded ([`Limits::DEFAULT`]): at most 16 at once per socket (the
//! next gets one `Error` line and is closed); a request line of at most 1 MiB (a `reload-dry-run` carries a whole configuration) that
//! must arrive within 10 s; each reply line must be written within 10 s, or the client
//! is dropped, which also ends the RIB's `show routes` dump for it. A stuck or hostile
//! client costs one small task and nothing else.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_core::ctl::{Command, Reply, Request, PROTOCOL_VERSION};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, warn};

const MAX_REQUEST: u64 = 1024 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What one socket allows its clients.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Clients served at once.
    pub clients: usize,
    /// How long one reply line may take to be written: a client that stops reading
    /// is dropped after this.
    pub write_timeout: Duration,
}

impl Limits {
    pub const DEFAULT: Limits = Limits { clients: 16, write_timeout: Duration::from_secs(10) };
}

/// A request for the supervisor, with where to stream the replies.
pub struct ControlRequest {
    pub command: Command,
    pub replies: mpsc::Sender<Reply>,
}

/// Which commands a socket takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Full,
    /// `show ...` only.
    ReadOnly,
}

impl Access {
    fn mode(self) -> u32 {
        match self {
            Access::Full => 0o660,
            Access::ReadOnly => 0o666,
        }
    }

    /// Why `command` is refused on this socket, if it is.
    fn refuses(self, command: &Command) -> Option<String> {
        let show = match command {
            Command::ShowNeighbors { .. }
            | Command::ShowRoutes { .. }
            | Command::ShowSummary
            | Command::ShowFib { .. }
            | Command::ShowNextHops
            | Command::ShowKubernetes
            | Command::ShowBfd
            | Command::Why { .. }
            | Command::ShowEvents { .. } => true,
            Command::NeighborReset { .. }
            | Command::NeighborShutdown { .. }
            | Command::NeighborEnable { .. }
            | Command::NeighborRefresh { .. }
            | Command::Reload
            | Command::Shutdown { .. }
            | Command::Drain { .. }
            | Command::Undrain { .. }
            // It changes nothing, but parses a file and walks the whole table: as
            // BIRD's restricted mode allows only `show`, so does the read-only socket.
            | Command::ReloadDryRun { .. } => false,
        };
        (self == Access::ReadOnly && !show).then(|| {
            "this control socket is read-only: only `show ...` commands are accepted here \
             (use global.control_socket for the others)"
                .to_string()
        })
    }
}

/// The bound socket; removes its file when dropped.
pub struct ControlSocket {
    path: PathBuf,
    listener: UnixListener,
    access: Access,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn bind(path: &Path, access: Access) -> io::Result<ControlSocket> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir)?;
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_socket() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket: remove it or choose another path", path.display()),
            ));
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use: another bgp-daemon is running", path.display()),
                ))
            }
            // Nobody answers: a stale socket from a daemon that did not exit cleanly.
            Err(_) => std::fs::remove_file(path)?,
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // Bound where only we can reach it, given its mode, then linked into place
    // (a hard link never replaces an existing file).
    let private = dir.join(format!(".bgp-daemon-{}", std::process::id()));
    let _ = std::fs::remove_file(private.join("s"));
    let _ = std::fs::remove_dir(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let bound = (|| -> io::Result<UnixListener> {
        let tmp = private.join("s");
        let listener = UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(access.mode()))?;
        std::fs::hard_link(&tmp, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_file(private.join("s"));
    let _ = std::fs::remove_dir(&private);
    Ok(ControlSocket { path: path.to_path_buf(), listener: bound?, access })
}

pub async fn serve(socket: ControlSocket, requests: mpsc::Sender<ControlRequest>, limits: Limits) {
    let clients = Arc::new(Semaphore::new(limits.clients));
    // Refusals are logged at most once a minute, with how many there were.
    let mut refused: (Option<Instant>, u64) = (None, 0);
    loop {
        match socket.listener.accept().await {
            Ok((stream, _)) => match clients.clone().try_acquire_owned() {
                Ok(permit) => {
                    let (requests, access) = (requests.clone(), socket.access);
                    tokio::spawn(async move {
                        client(stream, requests, access, limits.write_timeout).await;
                        drop(permit);
                    });
                }
                Err(_) => {
                    refuse(&stream, limits.clients);
                    refused.1 += 1;
                    if refused.0.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        warn!(
                            socket = %socket.path.display(), refused = refused.1, limit = limits.clients,
                            "too many control clients at once: connections refused"
                        );
                        refused = (Some(Instant::now()), 0);
                    }
                }
            },
            Err(e) => {
                warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One `Error` line for a client over the limit, written without waiting (a fresh
/// socket's buffer always has room for it); then the connection is closed.
fn refuse(stream: &UnixStream, clients: usize) {
    let reply = Reply::Error { message: format!("bgp-daemon is serving {clients} control clients: try again") };
    if let Ok(line) = reply_line(&reply) {
        let _ = stream.try_write(&line);
    }
}

async fn client(stream: UnixStream, requests: mpsc::Sender<ControlRequest>, access: Access, timeout: Duration) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
    let read = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await;
    let reply_error = |message: String| Reply::Error { message };
    let command = match read {
        Err(_) => Err(reply_error("no request within 10 s".into())),
        Ok(Err(e)) => Err(reply_error(format!("reading the request: {e}"))),
        Ok(Ok(_)) if !line.ends_with('\n') => Err(reply_error("request is not one line of at most 1 MiB".into())),
        Ok(Ok(_)) => match serde_json::from_str::<Request>(&line) {
            Ok(r) if r.version != PROTOCOL_VERSION => Err(reply_error(format!(
                "bgpctl speaks control protocol {}, the daemon {PROTOCOL_VERSION}: use the bgpctl of this daemon's release",
                r.version
            ))),
            Ok(r) => match access.refuses(&r.command) {
                Some(message) => Err(reply_error(message)),
                None => Ok(r.command),
            },
            Err(e) => Err(reply_error(format!("malformed request: {e}"))),
        },
    };
    // Room for a stream of `show routes` rows: the RIB task makes them as this drains.
    let (tx, mut rx) = mpsc::channel(1024);
    match command {
        Ok(command) => {
            debug!(?command, "control request");
            if requests.send(ControlRequest { command, replies: tx }).await.is_err() {
                let _ = write_reply(&mut write, timeout, &reply_error("the daemon is shutting down".into())).await;
                return;
            }
        }
        Err(reply) => {
            let _ = write_reply(&mut write, timeout, &reply).await;
            return;
        }
    }
    while let Some(reply) = rx.recv().await {
        let last = matches!(reply, Reply::End | Reply::Error { .. });
        if let Err(e) = write_reply(&mut write, timeout, &reply).await {
            // Dropping `rx` here ends whatever still produces replies for this client.
            debug!(error = %e, "control client dropped");
            break;
        }
        if last {
            break;
        }
    }
}

fn reply_line(reply: &Reply) -> io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(reply).map_err(io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// Writes one reply line, within `timeout`.
async fn write_reply(write: &mut tokio::net::unix::OwnedWriteHalf, timeout: Duration, reply: &Reply) -> io::Result<()> {
    let line = reply_line(reply)?;
    match tokio::time::timeout(timeout, write.write_all(&line)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use tokio::io::AsyncReadExt;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bgp-control-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn request_line(command: Command) -> Vec<u8> {
        let mut line = serde_json::to_vec(&Request { version: PROTOCOL_VERSION, command }).unwrap();
        line.push(b'\n');
        line
    }

    async fn read_reply(stream: &mut UnixStream) -> Reply {
        let mut line = String::new();
        let mut reader = BufReader::new(stream);
        tokio::time::timeout(Duration::from_secs(3), reader.read_line(&mut line)).await.expect("a reply line").unwrap();
        serde_json::from_str(&line).unwrap()
    }

    #[tokio::test]
    async fn a_path_that_is_not_a_socket_is_refused_and_kept() {
        let dir = temp_dir("not-a-socket");
        let path = dir.join("bgpctl.sock");
        std::fs::write(&path, "precious").unwrap();
        let err = bind(&path, Access::Full).err().expect("a file is no socket");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        // A directory neither.
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(bind(&sub, Access::Full).is_err());
        assert!(sub.is_dir());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced_a_live_one_is_not() {
        let dir = temp_dir("stale");
        let path = dir.join("bgpctl.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists(), "a stale socket file");
        let socket = bind(&path, Access::Full).unwrap();
        let err = bind(&path, Access::Full).err().expect("in use");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(socket);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The socket appears at its path with its final mode, never looser: a thread
    /// watches the path while it is bound again and again. (Bound and then chmod-ed
    /// in place, the umask's mode, e.g. 0755, shows for a moment.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_socket_never_appears_with_another_mode() {
        let dir = temp_dir("mode");
        for (access, mode) in [(Access::Full, 0o660), (Access::ReadOnly, 0o666)] {
            let path = dir.join("bgpctl.sock");
            let mut seen = Vec::new();
            for _ in 0..100 {
                let (watch_path, stop) = (path.clone(), Arc::new(std::sync::atomic::AtomicBool::new(false)));
                let stop2 = stop.clone();
                let watcher = std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                        if let Ok(m) = std::fs::symlink_metadata(&watch_path) {
                            seen.push(m.mode() & 0o777);
                        }
                    }
                    seen
                });
                std::thread::sleep(Duration::from_micros(200));
                let socket = bind(&path, access).unwrap();
                std::thread::sleep(Duration::from_micros(200));
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                seen.extend(watcher.join().unwrap());
                drop(socket);
            }
            let other: Vec<String> = seen.iter().filter(|m| **m != mode).map(|m| format!("{m:o}")).collect();
            assert!(!seen.is_empty() && other.is_empty(), "{access:?}: other modes seen {other:?}");
        }
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_read_only_socket_takes_show_commands_only() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let show = [
            Command::ShowNeighbors { address: None },
            Command::ShowRoutes { prefix: None, neighbor: None, direction: None, family: None },
            Command::ShowSummary,
            // `why` only reads.
            Command::Why { target: "10.0.0.1".into() },
        ];
        let others = [
            Command::NeighborReset { address: a },
            Command::NeighborShutdown { address: a, message: None },
            Command::NeighborEnable { address: a },
            Command::NeighborRefresh { address: a },
            Command::Reload,
            Command::ReloadDryRun { file: None, text: None },
            Command::Shutdown { message: None },
            Command::Drain { neighbor: None, wait_seconds: None },
            Command::Undrain { neighbor: Some(a) },
        ];
        for c in show.iter().chain(&others) {
            assert_eq!(Access::Full.refuses(c), None);
        }
        for c in &show {
            assert_eq!(Access::ReadOnly.refuses(c), None);
        }
        for c in &others {
            assert!(Access::ReadOnly.refuses(c).unwrap().contains("read-only"), "{c:?}");
        }
    }
    use std::net::IpAddr;

    /// Serves `access` at a fresh path; returns the path and the supervisor's end.
    fn serving(name: &str, access: Access, limits: Limits) -> (PathBuf, mpsc::Receiver<ControlRequest>) {
        let path = temp_dir(name).join("bgpctl.sock");
        let socket = bind(&path, access).unwrap();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(serve(socket, tx, limits));
        (path, rx)
    }

    #[tokio::test]
    async fn a_command_on_the_read_only_socket_gets_an_error_and_reaches_nobody() {
        let (path, mut requests) = serving("readonly", Access::ReadOnly, Limits::DEFAULT);
        let mut c = UnixStream::connect(&path).await.unwrap();
        c.write_all(&request_line(Command::Shutdown { message: None })).await.unwrap();
        let Reply::Error { message } = read_reply(&mut c).await else { panic!() };
        assert!(message.contains("read-only"), "{message}");
        assert!(requests.try_recv().is_err(), "the supervisor never saw it");
        let mut c = UnixStream::connect(&path).await.unwrap();
        c.write_all(&request_line(Command::ShowSummary)).await.unwrap();
        let req = tokio::time::timeout(Duration::from_secs(3), requests.recv()).await.unwrap().unwrap();
        assert_eq!(req.command, Command::ShowSummary);
    }

    #[tokio::test]
    async fn clients_over_the_limit_get_an_error_line_at_once() {
        let limits = Limits { clients: 4, ..Limits::DEFAULT };
        let (path, _requests) = serving("limit", Access::Full, limits);
        // Four clients that never send their request hold every place.
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(UnixStream::connect(&path).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut extra = UnixStream::connect(&path).await.unwrap();
        let Reply::Error { message } = read_reply(&mut extra).await else { panic!() };
        assert!(message.contains("4 control clients"), "{message}");
        let mut rest = Vec::new();
        assert_eq!(extra.read_to_end(&mut rest).await.unwrap(), 0, "then closed");
        // A place that frees up is taken again.
        drop(idle.pop());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut c = UnixStream::connect(&path).await.unwrap();
        c.write_all(b"not json\n").await.unwrap();
        let Reply::Error { message } = read_reply(&mut c).await else { panic!() };
        assert!(message.contains("malformed"), "{message}");
    }

    /// A client that stops reading a long answer is dropped after the write timeout,
    /// which closes the reply channel: the RIB's dump for it sees that and ends.
    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped_and_its_replies_closed() {
        let limits = Limits { write_timeout: Duration::from_millis(300), ..Limits::DEFAULT };
        let (path, mut requests) = serving("stuck", Access::Full, limits);
        let mut c = UnixStream::connect(&path).await.unwrap();
        c.write_all(&request_line(Command::ShowRoutes { prefix: None, neighbor: None, direction: None, family: None }))
            .await
            .unwrap();
        let req = requests.recv().await.unwrap();
        let row = Reply::Route(Box::new(bgp_core::ctl::RouteRow { prefix: "10.0.0.0/8".into(), ..Default::default() }));
        let producer = tokio::spawn(async move {
            let mut sent = 0u64;
            while req.replies.send(row.clone()).await.is_ok() {
                sent += 1;
            }
            sent
        });
        let sent = tokio::time::timeout(Duration::from_secs(5), producer).await.expect("replies closed").unwrap();
        assert!(sent > 1024, "more than the channel holds was produced: {sent}");
    }
}
