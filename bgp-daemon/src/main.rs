//! bgp-daemon: the BGP speaker and route reflector. `supervisor.rs` draws its tasks;
//! the protocol itself is `bgp-core`.

mod control;
mod net;
mod peer;
mod rib_task;
mod supervisor;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "bgp-daemon",
    version,
    about = "BGP speaker and route reflector for Kubernetes homelabs",
    long_about = "BGP speaker and route reflector for Kubernetes homelabs.\n\n\
        Runs in the foreground and logs to stderr. SIGTERM or SIGINT stop it as global.on_stop \
        says (default: as a graceful restart, so peers keep our routes); `bgpctl shutdown` stops it \
        and tells peers to drop our routes. See configs/ for annotated examples."
)]
struct Args {
    /// Configuration file (TOML).
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Validate the configuration and exit: 0 if it is valid, 1 with the error if not.
    #[arg(long)]
    check: bool,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Log filter: a level (error, warn, info, debug, trace) or a tracing directive.
    /// RUST_LOG overrides it.
    #[arg(long, default_value = "info", value_name = "FILTER")]
    log_level: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match bgp_core::config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bgp-daemon: {e}");
            return ExitCode::from(1);
        }
    };
    if args.check {
        println!("{}: configuration is valid", args.config.display());
        return ExitCode::SUCCESS;
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&args.log_level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match args.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bgp-daemon: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(supervisor::run(config, args.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(1)
        }
    }
}
