//! The control socket: a Unix stream socket speaking `bgp_core::ctl` (one JSON
//! request line in, reply lines out, ending with `End` or `Error`).
//!
//! The parent directory is created, a stale socket file is replaced, the socket is
//! made mode 0660 (root and the socket's group), and it is removed on clean exit.
//! Every client is bounded: a request line of at most 64 KiB that must arrive within
//! 10 s, so a stuck or hostile client costs one small task and nothing else.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bgp_core::ctl::{Command, Reply, Request, PROTOCOL_VERSION};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tracing::{debug, warn};

const MAX_REQUEST: u64 = 64 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A request for the supervisor, with where to stream the replies.
pub struct ControlRequest {
    pub command: Command,
    pub replies: mpsc::Sender<Reply>,
}

/// The bound socket; removes its file when dropped.
pub struct ControlSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn bind(path: &Path) -> io::Result<ControlSocket> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is in use: another bgp-daemon is running", path.display()),
            ))
        }
        Err(_) => {
            // Nobody answers: a stale file from a daemon that did not exit cleanly.
            let _ = std::fs::remove_file(path);
        }
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(ControlSocket { path: path.to_path_buf(), listener })
}

pub async fn serve(socket: ControlSocket, requests: mpsc::Sender<ControlRequest>) {
    loop {
        match socket.listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(client(stream, requests.clone()));
            }
            Err(e) => {
                warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn client(stream: UnixStream, requests: mpsc::Sender<ControlRequest>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
    let read = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await;
    let reply_error = |message: String| Reply::Error { message };
    let command = match read {
        Err(_) => Err(reply_error("no request within 10 s".into())),
        Ok(Err(e)) => Err(reply_error(format!("reading the request: {e}"))),
        Ok(Ok(_)) if !line.ends_with('\n') => Err(reply_error("request is not one line of at most 64 KiB".into())),
        Ok(Ok(_)) => match serde_json::from_str::<Request>(&line) {
            Ok(r) if r.version != PROTOCOL_VERSION => Err(reply_error(format!(
                "bgpctl speaks control protocol {}, the daemon {PROTOCOL_VERSION}: use the bgpctl of this daemon's release",
                r.version
            ))),
            Ok(r) => Ok(r.command),
            Err(e) => Err(reply_error(format!("malformed request: {e}"))),
        },
    };
    // Room for a stream of `show routes` rows: the RIB task makes them as this drains.
    let (tx, mut rx) = mpsc::channel(1024);
    match command {
        Ok(command) => {
            debug!(?command, "control request");
            if requests.send(ControlRequest { command, replies: tx }).await.is_err() {
                let _ = write_reply(&mut write, &reply_error("the daemon is shutting down".into())).await;
                return;
            }
        }
        Err(reply) => {
            let _ = write_reply(&mut write, &reply).await;
            return;
        }
    }
    while let Some(reply) = rx.recv().await {
        let last = matches!(reply, Reply::End | Reply::Error { .. });
        if write_reply(&mut write, &reply).await.is_err() || last {
            break;
        }
    }
}

async fn write_reply(write: &mut tokio::net::unix::OwnedWriteHalf, reply: &Reply) -> io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await
}
