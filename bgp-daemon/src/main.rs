//! bgp-daemon: the BGP speaker and route reflector. `supervisor.rs` draws its tasks;
//! the protocol itself is `bgp-core`.

mod bfd;
mod check;
mod control;
mod history;
mod kernel;
#[cfg(feature = "kubernetes")]
mod kubernetes;
mod metrics;
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
        says (default: as a graceful restart, so peers keep our routes; \"drain-then-graceful-restart\" \
        first drains every neighbor for global.drain_time, as `bgpctl drain`, and a second signal then \
        stops at once); `bgpctl shutdown` stops it and tells peers to drop our routes. With \
        global.metrics_listen set, it serves Prometheus metrics at http://ADDRESS:PORT/metrics. \
        See configs/ for annotated examples.\n\n\
        Exit status: 0 after a stop; 1 when the configuration is invalid or the daemon cannot \
        start; 70 after an internal error (a panic, logged with its location): the daemon \
        ends rather than run half-alive, so that its service manager restarts it, and peers \
        with graceful restart keep our routes meanwhile."
)]
struct Args {
    /// Configuration file (TOML).
    #[arg(short, long, value_name = "FILE", required_unless_present_any = ["man", "completions"])]
    config: Option<PathBuf>,
    /// Validate the configuration and exit: 0 if it is valid, 1 with the error if not.
    #[arg(long)]
    check: bool,
    /// With --check: also ask the running daemon (over the new file's
    /// global.control_socket) what reloading the file would do, as
    /// `bgpctl reload --dry-run` shows it. Exit 1 with the error a reload would give.
    #[arg(long, requires = "check")]
    against_running: bool,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Log filter: a level (error, warn, info, debug, trace) or a tracing directive.
    /// RUST_LOG overrides it.
    #[arg(long, default_value = "info", value_name = "FILTER")]
    log_level: String,
    /// Print the man page (roff) and exit: `bgp-daemon --man > /usr/local/share/man/man8/bgp-daemon.8`.
    #[arg(long, exclusive = true)]
    man: bool,
    /// Print a shell completion script and exit (bash, zsh, fish, elvish, powershell).
    #[arg(long, value_name = "SHELL", exclusive = true)]
    completions: Option<clap_complete::Shell>,
}

/// The exit status after a panic: `EX_SOFTWARE` of sysexits.h, "internal software
/// error".
const PANIC_EXIT: u8 = 70;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(text) = generated(&args) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        return match out.write_all(&text).and_then(|()| out.flush()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bgp-daemon: cannot write to stdout: {e}");
                ExitCode::from(1)
            }
        };
    }
    let config_path = args.config.clone().expect("clap: --config is required without --man and --completions");
    let config = match bgp_core::config::load(&config_path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bgp-daemon: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(message) = supervisor::kubernetes_unsupported(&config) {
        eprintln!("bgp-daemon: {}: {message}", config_path.display());
        return ExitCode::from(1);
    }
    if args.check && args.against_running {
        return match check::against_running(&config_path, &config) {
            Ok(preview) => {
                print!("{preview}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("bgp-daemon: {message}");
                ExitCode::from(1)
            }
        };
    }
    if args.check {
        println!("{}: configuration is valid", config_path.display());
        return ExitCode::SUCCESS;
    }
    init_logging(args.log_format, &args.log_level);
    install_panic_hook();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bgp-daemon: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(supervisor::run(config, config_path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(1)
        }
    }
}

/// `--man` and `--completions SHELL`: the text, generated from the clap definitions.
fn generated(args: &Args) -> Option<Vec<u8>> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    if args.man {
        // Section 8: a daemon. Rendering into memory cannot fail.
        let man = clap_mangen::Man::new(Args::command()).section("8");
        man.render(&mut out).expect("rendering into a Vec");
    } else if let Some(shell) = args.completions {
        clap_complete::generate(shell, &mut Args::command(), "bgp-daemon", &mut out);
    } else {
        return None;
    }
    Some(out)
}

fn init_logging(format: LogFormat, level: &str) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // kube-rs logs each failed request at error level, i.e. every retry while the API
    // server is away; the daemon's own line says so once (kubernetes/watch.rs). A
    // filter naming kube_client decides for itself.
    let asked = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_string());
    if !asked.contains("kube_client") {
        filter = filter.add_directive("kube_client::client::builder=off".parse().expect("a valid directive"));
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// A panic in any task or thread ends the process with [`PANIC_EXIT`], logged
/// through tracing with its location. Tokio would otherwise catch a task's panic and
/// keep the rest running: a daemon holding sessions whose routes no longer change.
/// Ended, it is restarted by Kubernetes or systemd, and starts as a graceful restart
/// (the restart marker is fresh), so peers keep our routes meanwhile.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = match (info.payload().downcast_ref::<&str>(), info.payload().downcast_ref::<String>()) {
            (Some(s), _) => s.to_string(),
            (None, Some(s)) => s.clone(),
            (None, None) => "(no message)".to_string(),
        };
        let location = info.location().map_or_else(|| "unknown".to_string(), |l| l.to_string());
        let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
        let backtrace = std::backtrace::Backtrace::capture();
        let backtrace = match backtrace.status() {
            std::backtrace::BacktraceStatus::Captured => backtrace.to_string(),
            _ => "set RUST_BACKTRACE=1 for one".to_string(),
        };
        tracing::error!(
            %location, thread, %backtrace,
            "internal error, bgp-daemon exits with status {PANIC_EXIT} to be restarted: {message}"
        );
        std::process::exit(PANIC_EXIT.into());
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_and_completions_are_generated_from_the_options() {
        use clap::Parser;
        let man = Args::try_parse_from(["bgp-daemon", "--man"]).unwrap();
        let text = String::from_utf8(generated(&man).unwrap()).unwrap();
        assert!(text.contains(".TH bgp-daemon 8"), "{text}");
        for option in ["config", "check", "log\\-format", "log\\-level"] {
            assert!(text.contains(&format!("\\-\\-{option}")), "{option}: {text}");
        }
        let bash = Args::try_parse_from(["bgp-daemon", "--completions", "bash"]).unwrap();
        let text = String::from_utf8(generated(&bash).unwrap()).unwrap();
        assert!(text.contains("--log-format") && text.contains("human json"), "{text}");
        // Neither needs a configuration; a daemon run does, and the two go alone.
        assert!(Args::try_parse_from(["bgp-daemon"]).is_err());
        assert!(Args::try_parse_from(["bgp-daemon", "--man", "--check"]).is_err());
        assert!(generated(&Args::try_parse_from(["bgp-daemon", "-c", "x.toml"]).unwrap()).is_none());
    }

    const CHILD: &str = "BGP_DAEMON_TEST_PANIC_CHILD";

    /// A death test: the test binary runs itself again, with [`CHILD`] set, to run
    /// only this test; there it sets up logging and the hook as `main` does and
    /// panics in a tokio task of a multi-threaded runtime, the case the hook is for.
    /// Nothing in the daemon binary can be made to panic on purpose.
    #[test]
    fn a_panicking_task_ends_the_process_with_status_70_and_a_log_line() {
        if std::env::var_os(CHILD).is_some() {
            init_logging(LogFormat::Json, "info");
            install_panic_hook();
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let task = tokio::spawn(async { panic!("a task panicked on purpose") });
                let _ = task.await;
                // Not reached with the hook: tokio caught the panic, the runtime goes on.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            });
            std::process::exit(0);
        }
        let name = "tests::a_panicking_task_ends_the_process_with_status_70_and_a_log_line";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads", "1"])
            .env(CHILD, "1")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(i32::from(PANIC_EXIT)), "{stderr}");
        let line =
            stderr.lines().find(|l| l.contains("a task panicked on purpose")).unwrap_or_else(|| panic!("{stderr}"));
        let log: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(log["level"], "ERROR", "{line}");
        let location = log["fields"]["location"].as_str().unwrap();
        assert!(location.starts_with("bgp-daemon/src/main.rs:"), "{location}");
        assert!(log["fields"]["message"].as_str().unwrap().contains("status 70"), "{line}");
    }
}
