//! bgpctl: the control client of bgp-daemon.
//!
//! It sends one request over the daemon's control socket (see `bgp_core::ctl`),
//! reads the answer and prints it as text or, with `--json`, as JSON. Every failure
//! is one line on stderr and exit status 1; command-line mistakes are clap's usage
//! errors with status 2.

mod client;
mod output;

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bgp_core::ctl::Command;
use bgp_core::wire::notification::MAX_SHUTDOWN_MESSAGE;
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::client::Client;

/// Where the daemon listens unless `--socket` or `BGPCTL_SOCKET` says otherwise.
const DEFAULT_SOCKET: &str = "/run/bgp-daemon/bgpctl.sock";

#[derive(Debug, Parser)]
#[command(
    name = "bgpctl",
    version,
    about = "Control client of bgp-daemon: show neighbors, reset or shut down sessions",
    long_about = "Control client of bgp-daemon: show neighbors, reset or shut down sessions.\n\n\
        bgpctl talks to the daemon over its control socket (a Unix socket, by default \
        /run/bgp-daemon/bgpctl.sock). Every failure is reported as one line on stderr with \
        exit status 1; with --json an object {\"error\": \"...\"} is also printed on stdout.",
    after_help = "Examples:\n  \
        bgpctl show neighbors\n  \
        bgpctl show neighbor 192.168.1.1 --json\n  \
        bgpctl neighbor 192.168.1.1 shutdown --message \"router maintenance\"\n  \
        bgpctl neighbor 192.168.1.1 enable"
)]
struct Cli {
    /// Print JSON instead of text (the daemon's objects as they are, pretty-printed)
    #[arg(long, global = true)]
    json: bool,

    /// Control socket of bgp-daemon
    #[arg(long, global = true, value_name = "PATH", env = "BGPCTL_SOCKET", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,

    /// Give up when the daemon does not answer for this many seconds
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    timeout: u64,

    #[command(subcommand)]
    command: TopCommand,
}

#[derive(Debug, Subcommand)]
enum TopCommand {
    /// Show the state of the daemon
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Reset, shut down or enable the session with one neighbor
    #[command(arg_required_else_help = true)]
    Neighbor {
        /// Address of the neighbor (as in `show neighbors`)
        #[arg(value_name = "ADDR")]
        address: IpAddr,
        #[command(subcommand)]
        action: NeighborAction,
    },
    /// Read the configuration file again and apply it
    ///
    /// Added neighbors start, removed ones are closed (Cease / Peer De-configured),
    /// changed ones restart with the new settings. A file with an error changes
    /// nothing: the daemon keeps running with its old configuration and the error
    /// (FILE:LINE:COLUMN: KEY: ...) is printed.
    Reload,
    /// Stop bgp-daemon, telling every peer to drop our routes now
    ///
    /// Each session is closed with a Cease / Administrative Shutdown NOTIFICATION
    /// (Hard Reset where RFC 8538 was negotiated), so peers withdraw our routes at
    /// once instead of waiting for the hold timer or graceful restart to expire.
    Shutdown {
        /// Shutdown communication sent to every peer (RFC 9003, at most 255 octets)
        #[arg(long, short, value_name = "TEXT", value_parser = parse_shutdown_message)]
        message: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum Show {
    /// One line per neighbor, or the details of one neighbor
    ///
    /// Without ADDR: a summary like FRR's `show bgp summary`. State/PfxRcd is the
    /// session state, or the number of prefixes received once Established; Up/Down is
    /// how long the session has been up or down (hh:mm:ss under a day, then
    /// 3d04h05m, 02w3d04h, 01y05w3d). A `*` after the address marks a dynamic
    /// neighbor, accepted through a neighbor_range.
    ///
    /// With ADDR: timers, families, negotiated capabilities, message counters,
    /// prefix counts, the last error and a hint when the session needs attention.
    #[command(visible_alias = "neighbor", alias = "nei")]
    Neighbors {
        /// Show the details of this neighbor only
        #[arg(value_name = "ADDR")]
        address: Option<IpAddr>,
    },
}

#[derive(Debug, Subcommand)]
enum NeighborAction {
    /// Close the session (Cease / Administrative Reset) and let it come up again
    Reset,
    /// Close the session (Cease / Administrative Shutdown) and keep it down
    ///
    /// The neighbor stays down until `bgpctl neighbor ADDR enable` or a restart of
    /// the daemon.
    Shutdown {
        /// Shutdown communication sent to the peer (RFC 9003, at most 255 octets)
        #[arg(long, short, value_name = "TEXT", value_parser = parse_shutdown_message)]
        message: Option<String>,
    },
    /// Undo `shutdown`: let the session come up again
    Enable,
}

/// RFC 9003 §2: the shutdown communication has a one-octet length. Refuse longer text
/// here rather than let the daemon cut it.
fn parse_shutdown_message(s: &str) -> Result<String, String> {
    if s.len() > MAX_SHUTDOWN_MESSAGE {
        return Err(format!(
            "{} octets of UTF-8; a shutdown communication is at most {MAX_SHUTDOWN_MESSAGE} (RFC 9003)",
            s.len()
        ));
    }
    Ok(s.to_owned())
}

/// `--json` answer of the commands that change something.
#[derive(Serialize)]
struct JsonDone<'a> {
    result: &'static str,
    message: &'a str,
}

/// `--json` answer on failure.
#[derive(Serialize)]
struct JsonError<'a> {
    error: &'a str,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let message = output::one_line(&format!("{err:#}"));
            if cli.json {
                // Best effort: stdout may be the thing that failed.
                let _ = write_stdout(&to_json(&JsonError { error: &message }));
            }
            eprintln!("bgpctl: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let client = Client::new(cli.socket.clone(), Duration::from_secs(cli.timeout));
    let text = match &cli.command {
        TopCommand::Show { what: Show::Neighbors { address: None } } => {
            let neighbors = client.show_neighbors()?;
            if cli.json {
                to_json(&neighbors)
            } else {
                output::summary_table(&neighbors)
            }
        }
        TopCommand::Show { what: Show::Neighbors { address: Some(address) } } => {
            let detail = client.show_neighbor(*address)?;
            if cli.json {
                to_json(&detail)
            } else {
                output::neighbor_detail(&detail)
            }
        }
        TopCommand::Neighbor { address, action } => {
            let address = *address;
            let command = match action {
                NeighborAction::Reset => Command::NeighborReset { address },
                NeighborAction::Shutdown { message } => Command::NeighborShutdown { address, message: message.clone() },
                NeighborAction::Enable => Command::NeighborEnable { address },
            };
            done(cli.json, &client.execute(command)?)
        }
        TopCommand::Reload => done(cli.json, &client.execute(Command::Reload)?),
        TopCommand::Shutdown { message } => {
            done(cli.json, &client.execute(Command::Shutdown { message: message.clone() })?)
        }
    };
    write_stdout(&text).context("cannot write to stdout")
}

/// The answer of a command that changed something: the daemon's message.
fn done(json: bool, message: &str) -> String {
    if json {
        to_json(&JsonDone { result: "ok", message })
    } else {
        format!("{}\n", output::clean(message))
    }
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing these types cannot fail: plain structs, string keys.
    let mut s = serde_json::to_string_pretty(value).expect("JSON serialization");
    s.push('\n');
    s
}

/// Writes to stdout; a closed pipe (`bgpctl show neighbors | head -1`) is not an error.
fn write_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("bgpctl").chain(args.iter().copied()))
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn show_neighbors_and_its_aliases() {
        for word in ["neighbors", "neighbor", "nei"] {
            let cli = parse(&["show", word]).unwrap();
            assert!(matches!(cli.command, TopCommand::Show { what: Show::Neighbors { address: None } }), "{word}");
            let cli = parse(&["show", word, "2001:db8::1"]).unwrap();
            let expected: IpAddr = "2001:db8::1".parse().unwrap();
            assert!(
                matches!(cli.command, TopCommand::Show { what: Show::Neighbors { address: Some(a) } } if a == expected),
                "{word}"
            );
        }
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = parse(&["show", "neighbors", "--json", "--socket", "/tmp/x.sock", "--timeout", "3"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.socket, PathBuf::from("/tmp/x.sock"));
        assert_eq!(cli.timeout, 3);
        let cli = parse(&["--json", "neighbor", "10.0.0.2", "reset"]).unwrap();
        assert!(cli.json);
        let cli = parse(&["neighbor", "10.0.0.2", "shutdown", "--json", "-m", "maintenance"]).unwrap();
        assert!(cli.json);
        match cli.command {
            TopCommand::Neighbor { address, action: NeighborAction::Shutdown { message } } => {
                assert_eq!(address, "10.0.0.2".parse::<IpAddr>().unwrap());
                assert_eq!(message.as_deref(), Some("maintenance"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["neighbor", "10.0.0.2", "enable"]).unwrap().command,
            TopCommand::Neighbor { action: NeighborAction::Enable, .. }
        ));
        assert!(matches!(
            parse(&["shutdown", "--message", "bye"]).unwrap().command,
            TopCommand::Shutdown { message: Some(m) } if m == "bye"
        ));
    }

    #[test]
    fn usage_errors() {
        use clap::error::ErrorKind;
        assert_eq!(parse(&["show", "neighbors", "10.0.0.300"]).unwrap_err().kind(), ErrorKind::ValueValidation);
        assert_eq!(parse(&["neighbor", "nonsense", "reset"]).unwrap_err().kind(), ErrorKind::ValueValidation);
        assert!(parse(&["neighbor", "10.0.0.2", "explode"]).is_err());
        assert!(parse(&["neighbor", "10.0.0.2"]).is_err());
        assert_eq!(parse(&["show", "neighbors", "--timeout", "0"]).unwrap_err().kind(), ErrorKind::ValueValidation);
        let long = "x".repeat(MAX_SHUTDOWN_MESSAGE + 1);
        assert_eq!(parse(&["shutdown", "-m", &long]).unwrap_err().kind(), ErrorKind::ValueValidation);
        assert!(parse(&["shutdown", "-m", &long[1..]]).is_ok());
        // 128 two-octet characters are 256 octets.
        assert!(parse(&["shutdown", "-m", &"é".repeat(128)]).is_err());
    }

    #[test]
    fn json_of_done() {
        assert_eq!(
            done(true, "neighbor 10.0.0.2 reset"),
            "{\n  \"result\": \"ok\",\n  \"message\": \"neighbor 10.0.0.2 reset\"\n}\n"
        );
        assert_eq!(done(false, "neighbor 10.0.0.2 reset"), "neighbor 10.0.0.2 reset\n");
    }
}
