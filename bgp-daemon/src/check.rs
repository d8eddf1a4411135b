//! `bgp-daemon --config FILE --check --against-running`: FILE is valid, and this is
//! what reloading it into the running daemon would do. The running daemon computes it
//! (`reload-dry-run` on its control socket, as `bgpctl reload --dry-run`), because only
//! it knows its sessions and routes; FILE's text goes in the request, so the daemon
//! need not be able to read it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use bgp_core::config::Config;
use bgp_core::ctl::{Command, Reply, Request, PROTOCOL_VERSION};

/// How long the daemon may take to answer (the RIB walks its whole table).
const TIMEOUT: Duration = Duration::from_secs(30);

/// The preview's text, or the error to print (the daemon's, or why it was not reached).
pub fn against_running(path: &Path, config: &Config) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let socket = &config.global.control_socket;
    let reach = |e: std::io::Error| format!("cannot reach the running daemon at {}: {e}", socket.display());
    let mut stream = UnixStream::connect(socket).map_err(reach)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(reach)?;
    let request = Request {
        version: PROTOCOL_VERSION,
        command: Command::ReloadDryRun { file: Some(path.display().to_string()), text: Some(text) },
    };
    let mut line = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    line.push(b'\n');
    stream.write_all(&line).map_err(reach)?;
    let mut preview = None;
    for line in BufReader::new(stream).lines() {
        let line = line.map_err(reach)?;
        match serde_json::from_str::<Reply>(&line) {
            Ok(Reply::ReloadPreview(p)) => preview = Some(p.render()),
            Ok(Reply::Error { message }) => return Err(message),
            Ok(Reply::End) => break,
            Ok(_) | Err(_) => return Err(format!("unexpected answer from the running daemon: {line}")),
        }
    }
    preview.ok_or_else(|| "the running daemon closed the connection without an answer".into())
}
