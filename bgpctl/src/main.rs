//! bgpctl: the control client of bgp-daemon.
//!
//! It sends one request over the daemon's control socket (see `bgp_core::ctl`),
//! reads the answer and prints it as text or, with `--json`, as JSON. Every failure
//! is one line on stderr and exit status 1; command-line mistakes are clap's usage
//! errors with status 2.

mod client;
mod events;
#[cfg(test)]
#[path = "../tests/fixtures/mod.rs"]
mod fixtures;
mod output;
mod why;

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bgp_core::ctl::{Command, RouteDirection};
use bgp_core::prefix::Prefix;
use bgp_core::wire::notification::MAX_SHUTDOWN_MESSAGE;
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::client::Client;
use crate::output::RouteView;

/// Where the daemon listens unless `--socket` or `BGPCTL_SOCKET` says otherwise.
const DEFAULT_SOCKET: &str = "/run/bgp-daemon/bgpctl.sock";

#[derive(Debug, Parser)]
#[command(
    name = "bgpctl",
    version,
    about = "Control client of bgp-daemon: show neighbors, routes, the FIB, next hops, Kubernetes and BFD; reset or shut down sessions; drain",
    long_about = "Control client of bgp-daemon: show neighbors, routes, the FIB, next hops, Kubernetes and BFD; reset or shut down \
        sessions; drain (RFC 8326 graceful shutdown) and undrain.\n\n\
        bgpctl talks to the daemon over its control socket (a Unix socket, by default \
        /run/bgp-daemon/bgpctl.sock). Every failure is reported as one line on stderr with \
        exit status 1; with --json an object {\"error\": \"...\"} is also printed on stdout.",
    after_help = "Examples:\n  \
        bgpctl show neighbors\n  \
        bgpctl show neighbor 192.168.1.1 --json\n  \
        bgpctl show routes --family ipv4\n  \
        bgpctl show route 10.1.2.3\n  \
        bgpctl show routes --neighbor 192.168.1.1 --received\n  \
        bgpctl show summary\n  \
        bgpctl show fib\n  \
        bgpctl show fib 10.42.7.0/26 --json\n  \
        bgpctl show nexthops\n  \
        bgpctl show kubernetes\n  \
        bgpctl show bfd\n  \
        bgpctl why 10.42.0.7\n  \
        bgpctl neighbor 192.168.1.1 refresh\n  \
        bgpctl neighbor 192.168.1.1 shutdown --message \"router maintenance\"\n  \
        bgpctl neighbor 192.168.1.1 enable\n  \
        bgpctl drain --wait 15\n  \
        bgpctl undrain\n  \
        bgpctl show neighbor 192.168.1.1 events\n  \
        bgpctl show events --since 10m\n  \
        bgpctl completions bash > /etc/bash_completion.d/bgpctl\n  \
        bgpctl man > /usr/local/share/man/man1/bgpctl.1"
)]
struct Cli {
    // The global options are listed after a subcommand's own (display_order).
    /// Print JSON instead of text (the daemon's objects as they are, pretty-printed)
    #[arg(long, global = true, display_order = 100)]
    json: bool,

    /// Control socket of bgp-daemon
    #[arg(
        long,
        global = true,
        display_order = 101,
        value_name = "PATH",
        env = "BGPCTL_SOCKET",
        default_value = DEFAULT_SOCKET
    )]
    socket: PathBuf,

    /// Give up when the daemon does not answer for this many seconds
    #[arg(
        long,
        global = true,
        display_order = 102,
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
    /// Reset, refresh, shut down or enable the session with one neighbor
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
    /// changed ones restart with the new settings. Changed policies (a neighbor's
    /// import_policy or export_policy, or a policy's or prefix list's contents) apply
    /// without a restart: the routes received are filtered again and the neighbor is
    /// sent what changed. A file with an error changes nothing: the daemon keeps
    /// running with its old configuration and the error (FILE:LINE:COLUMN: KEY: ...) is
    /// printed.
    ///
    /// With --dry-run nothing is applied: the daemon says which sessions would restart
    /// and why (the changed keys), how many routes each Established neighbor would be
    /// newly sent or withdrawn under the new policies and announcements (computed
    /// from the routes it holds), and which route sources (announce, kernel,
    /// kubernetes) change. A file with an error gets the same error a reload would.
    Reload {
        /// Show what a reload would do, without doing it
        #[arg(long)]
        dry_run: bool,
    },
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
    /// Move traffic off this speaker, or off one session, before maintenance
    ///
    /// Graceful shutdown (RFC 8326): every route we send to the neighbor (to every
    /// neighbor without --neighbor) is announced again with the GRACEFUL_SHUTDOWN
    /// community (65535:0), and LOCAL_PREF 0 toward iBGP neighbors, so the router
    /// prefers other paths while ours still forward. Nothing is withdrawn. Routes
    /// received from a drained neighbor get LOCAL_PREF 0 here too. The drain lasts
    /// until `bgpctl undrain`, a reload keeps it, a restart of the daemon ends it.
    /// `show neighbors` marks drained neighbors.
    Drain {
        /// Drain only the session with this neighbor
        #[arg(long, value_name = "ADDR")]
        neighbor: Option<IpAddr>,
        /// Answer only after this many seconds (time for the router to move its
        /// traffic), 1..=3600
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=3600))]
        wait: Option<u32>,
    },
    /// End a drain: our routes are announced again as they were
    ///
    /// Without --neighbor every drain ends; with it, that neighbor's (a drain of
    /// every neighbor is ended only as a whole).
    Undrain {
        /// Undrain only the session with this neighbor
        #[arg(long, value_name = "ADDR")]
        neighbor: Option<IpAddr>,
    },
    /// The whole story of one route: where it came from, import, best path, neighbors, kernel
    ///
    /// For a prefix, or an address's longest match (as `show route ADDRESS`): each
    /// path's source (the peer and its AS path, [[announce]], the kernel route, the
    /// Kubernetes Service or Node), which import policy term accepted or changed it,
    /// the decision step that chose the best path and the one that decided against
    /// each other path, each neighbor sent the route or the rule that stopped it
    /// ("RFC 8212, no export_policy", "rejected by policy X term Y", "NO_EXPORT
    /// community", "it came from this neighbor (split horizon)"), and the FIB route or
    /// why there is none. A missing route says why: "no source has it", "rejected by
    /// policy X term Y" (up to 4096 routes refused on import are remembered),
    /// "next hop unresolved".
    ///
    /// --json prints one object (see the README, "When something is unreachable").
    Why {
        /// A prefix (10.42.0.0/24) or an address (10.42.0.7: its longest match)
        #[arg(value_name = "PREFIX|ADDRESS", value_parser = parse_prefix_or_address)]
        target: String,
    },
    /// Print a shell completion script for bgpctl
    ///
    /// bash: `bgpctl completions bash > /etc/bash_completion.d/bgpctl`; zsh: into a
    /// directory of $fpath as `_bgpctl`; fish: `~/.config/fish/completions/bgpctl.fish`.
    /// Needs no daemon.
    Completions {
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print bgpctl's man page (roff), generated from this help
    ///
    /// `bgpctl man > /usr/local/share/man/man1/bgpctl.1`, or read it now with
    /// `bgpctl man | man -l -`. With --dir, a page per subcommand is written too
    /// (bgpctl-show-events.1 ...). Needs no daemon.
    Man {
        /// Write bgpctl.1 and a page per subcommand into this directory instead
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum Show {
    /// One line per neighbor, or the details of one neighbor
    ///
    /// Without ADDR: a summary like FRR's `show bgp summary`. State/PfxRcd is the
    /// session state, or the number of prefixes received once Established; PfxSnt the
    /// prefixes advertised to the neighbor (while Established); MsgRcvd and MsgSent
    /// count every message, OutQ the messages waiting to be written; Up/Down is
    /// how long the session has been up or down (hh:mm:ss under a day, then
    /// 3d04h05m, 02w3d04h, 01y05w3d). A `*` after the address marks a dynamic
    /// neighbor, accepted through a neighbor_range.
    ///
    /// With ADDR: timers, families, negotiated capabilities, message counters,
    /// prefix counts, long-lived graceful restart (ours, the peer's, the time its routes
    /// are kept) and the restart phase it is in (GR stale, LLGR stale, awaiting
    /// End-of-RIB, with the seconds left), the last error and a hint when the session
    /// needs attention.
    ///
    /// With ADDR events: the neighbor's event history, as `show events` shows it.
    #[command(visible_alias = "neighbor", alias = "nei")]
    Neighbors {
        /// Show the details of this neighbor only
        #[arg(value_name = "ADDR")]
        address: Option<IpAddr>,
        /// `events`: the neighbor's event history instead of its details
        #[arg(value_enum, value_name = "VIEW", requires = "address")]
        view: Option<NeighborView>,
        /// With `events`: only the events of the last DURATION (90s, 10m, 2h, 1d, 1h30m)
        #[arg(long, value_name = "DURATION", value_parser = parse_since, requires = "view")]
        since: Option<Duration>,
    },
    /// The routing table, the paths of one prefix, or a neighbor's routes
    ///
    /// Without PREFIX|ADDRESS: one line per path, like FRR's `show bgp ipv4 unicast`.
    /// The Loc-RIB shows the best path of each prefix and the paths used alongside it
    /// (multipath). Status codes: `*` valid, `>` best, `=` multipath, `S` stale (kept
    /// through a graceful restart), `L` long-lived stale (carries LLGR_STALE, RFC 9494:
    /// least preferred, sent only to peers with LLGR), `u` next hop unreachable (it does not resolve
    /// through the kernel's routes, so the path is no candidate for best path; see
    /// `show nexthops`); a path without `*` was refused by import policy or a loop
    /// check. MED and LocPrf are blank when the path has none. Path is the AS_PATH
    /// followed by the origin code: i IGP, e EGP, ? incomplete.
    ///
    /// With PREFIX: every path of that prefix with all its attributes, whether its
    /// next hop is unreachable, where a route imported from the kernel was found
    /// (table, protocol, type, device) and, for the best path, the step of the
    /// decision process that chose it. With ADDRESS: the same for the longest prefix
    /// that contains the address.
    ///
    /// With --neighbor ADDR --received: the routes as that neighbor sent them, before
    /// import policy (Adj-RIB-In). With --neighbor ADDR --advertised: the routes as
    /// sent to it, after export policy (Adj-RIB-Out).
    ///
    /// --json prints an array of route objects, in the daemon's order, with every
    /// attribute and `from` (the neighbor a path came from, or static, kernel,
    /// kubernetes, local).
    #[command(visible_aliases = ["route", "rib"])]
    Routes(RouteArgs),
    /// Route and path counts per family, attribute sets, neighbors and memory
    ///
    /// Attribute sets are the distinct sets of path attributes the daemon keeps, each
    /// once, and references the paths that share them. Memory is the daemon's
    /// resident set size (VmRSS).
    Summary,
    /// The routes the daemon installs into the kernel (FIB), and what the kernel refused
    ///
    /// One line per prefix under a line saying into which table, with which protocol
    /// and metric the routes go: Next hops are the gateways and devices asked for
    /// (several: one multipath route), State is `installed` (the kernel holds it),
    /// `pending` (sent, no answer yet) or `failed` (the kernel refused it; Error says
    /// why, and the daemon tries again when addresses or routes change).
    ///
    /// With PREFIX: the route of that prefix only, or the daemon's error.
    ///
    /// --json prints an array of FIB route objects (table, protocol and metric as
    /// numbers, next_hops with gateway, ifindex and device, state, error, errno).
    Fib {
        /// Show only the route of this prefix (10.42.7.0/26), or of this address
        #[arg(value_name = "PREFIX", value_parser = parse_prefix_or_address)]
        prefix: Option<String>,
    },
    /// The BGP next hops of received paths and whether they resolve
    ///
    /// One line per next hop: State is `resolved` or `unresolved` (its paths are no
    /// candidates for best path, marked `u` in `show routes`); Via is the kernel route
    /// it resolves through, or `connected` when it is on one of our subnets;
    /// Forwarding is where the kernel sends its traffic (gateway and device); Paths is
    /// how many paths use it; Reason says why an unresolved one is.
    ///
    /// --json prints an array of next-hop objects.
    #[command(name = "nexthops", visible_aliases = ["nexthop", "next-hops"])]
    NextHops,
    /// The Kubernetes client: its connection to the API server, and the objects behind each route
    ///
    /// First the client: mode (node or cluster, and this node's name), where its
    /// configuration came from and the API server's URL, and its state: `connected`
    /// (listed, watching), `listing` (a list in progress: at start, or again after
    /// `410 Gone` or a lost watch), `connecting` or `error` (the last error, and since
    /// when; the routes stay as last known meanwhile, and the client retries every 2 s
    /// at most). Then one line per watched kind (services, endpointslices, nodes): its
    /// state, the objects it holds and when its last complete list ended.
    ///
    /// Then one line per route of the Kubernetes source: the prefix, its next hops
    /// (`self` in node mode; the serving nodes' InternalIPs in cluster mode), and the
    /// Services or Nodes that feed it, with the nodes that have a ready endpoint of
    /// each `externalTrafficPolicy: Local` Service.
    ///
    /// --json prints {"status": {...}, "routes": [...]} (times as Unix seconds).
    #[command(name = "kubernetes", visible_aliases = ["k8s", "kube"])]
    Kubernetes,
    /// BFD sessions: state, intervals, detection time, the last change and why
    ///
    /// One line per BFD session (neighbors and ranges with `bfd = true`): the peer and
    /// our source address, our state and the peer's (AdminDown, Down, Init, Up), the
    /// negotiated intervals we send and receive at (at least 1000 ms until the session
    /// is Up, RFC 5880 §6.8.3), our multiplier, the detection time, the BGP session's
    /// state, how long ago the state last changed and its diagnostic (why it went
    /// down). BGP shows UNPROTECTED when the BGP session is Established while BFD is
    /// not Up: a failure is then found by the hold timer only, as without BFD.
    ///
    /// --json prints an array of BFD session objects.
    Bfd,
    /// The event history of every neighbor, merged, oldest first
    ///
    /// What happened to each session, kept in memory by the daemon (its last 64
    /// events per neighbor; across reloads, and for dynamic neighbors after their
    /// session ended, for the 256 most recently active ones): state changes with
    /// their cause, NOTIFICATIONs sent and received (code and subcode in words, the
    /// RFC 9003 shutdown communication, Hard Reset), failed connection attempts (one
    /// line, with a count, however often they repeat), graceful restart and LLGR
    /// phases, max_prefixes, policy changes by a reload, drains and BFD state changes.
    /// Times are UTC.
    ///
    /// `bgpctl show neighbor ADDR events` shows one neighbor's.
    ///
    /// --json prints an array of event objects: neighbor, seq (the order of
    /// recording), time_ms (Unix milliseconds), count and last_ms when it repeated,
    /// event (the kind: state-changed, notification-sent, notification-received,
    /// connect-failed, graceful-restart, max-prefix, policies-changed, config, bfd)
    /// and the kind's fields.
    Events {
        /// Only the events of the last DURATION (90s, 10m, 2h, 1d, 1h30m)
        #[arg(long, value_name = "DURATION", value_parser = parse_since)]
        since: Option<Duration>,
    },
}

/// What `show neighbors ADDR` shows besides the details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum NeighborView {
    /// The neighbor's event history
    Events,
}

/// `--since`: a duration with units (see `bgp_core::ctl::events::parse_since`).
fn parse_since(s: &str) -> Result<Duration, String> {
    bgp_core::ctl::events::parse_since(s)
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("direction").args(["received", "advertised"]).requires("neighbor")))]
struct RouteArgs {
    /// Show every path of this prefix (10.0.0.0/24), or of the longest prefix containing this address (10.0.0.1)
    #[arg(value_name = "PREFIX|ADDRESS", value_parser = parse_prefix_or_address)]
    prefix: Option<String>,

    /// Show the routes received from or advertised to this neighbor instead of the Loc-RIB
    #[arg(long, value_name = "ADDR", requires = "direction")]
    neighbor: Option<IpAddr>,

    /// With --neighbor: the routes as received from it, before import policy (Adj-RIB-In)
    #[arg(long)]
    received: bool,

    /// With --neighbor: the routes as sent to it, after export policy (Adj-RIB-Out)
    #[arg(long)]
    advertised: bool,

    /// Only routes of this address family (not with PREFIX|ADDRESS, which has its own)
    #[arg(long, value_enum, value_name = "FAMILY", conflicts_with = "prefix")]
    family: Option<FamilyArg>,
}

/// The address families `show routes --family` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FamilyArg {
    /// IPv4 unicast
    #[value(alias = "ipv4-unicast")]
    Ipv4,
    /// IPv6 unicast
    #[value(alias = "ipv6-unicast")]
    Ipv6,
}

impl RouteArgs {
    fn direction(&self) -> Option<RouteDirection> {
        if self.received {
            Some(RouteDirection::Received)
        } else if self.advertised {
            Some(RouteDirection::Advertised)
        } else {
            None
        }
    }

    fn command(&self) -> Command {
        Command::ShowRoutes {
            prefix: self.prefix.clone(),
            neighbor: self.neighbor,
            direction: self.direction(),
            family: self.family.map(|f| {
                match f {
                    FamilyArg::Ipv4 => "ipv4",
                    FamilyArg::Ipv6 => "ipv6",
                }
                .to_owned()
            }),
        }
    }

    /// Which table the rows come from, for the headings of the text views.
    fn view(&self) -> RouteView {
        match (self.neighbor, self.direction()) {
            (Some(a), Some(RouteDirection::Received)) => RouteView::Received(a),
            (Some(a), Some(RouteDirection::Advertised)) => RouteView::Advertised(a),
            _ => RouteView::LocRib,
        }
    }
}

/// PREFIX|ADDRESS of `show routes`, checked here so that a typo is a usage error;
/// the daemon gets the text as typed.
fn parse_prefix_or_address(s: &str) -> Result<String, String> {
    if s.contains('/') {
        s.parse::<Prefix>()?;
    } else if s.parse::<IpAddr>().is_err() {
        return Err(format!("{s:?} is neither a prefix (10.0.0.0/24, 2001:db8::/32) nor an address"));
    }
    Ok(s.to_owned())
}

#[derive(Debug, Subcommand)]
enum NeighborAction {
    /// Close the session (Cease / Administrative Reset) and let it come up again
    Reset,
    /// Ask the neighbor to send all its routes again, without closing the session
    ///
    /// Sends a ROUTE-REFRESH (RFC 2918) for every negotiated family, so the routes
    /// pass the current import policy again: a soft reset inbound. The session must
    /// be Established and the neighbor must have announced the route refresh
    /// capability (see `bgpctl show neighbor ADDR`). With enhanced route refresh
    /// (RFC 7313) negotiated, routes the neighbor does not send again before its
    /// End-of-RIB-Refresh are removed.
    Refresh,
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
        TopCommand::Show { what: Show::Neighbors { address: None, .. } } => {
            shown(cli.json, &client.show_neighbors()?, |n| output::summary_table(n))
        }
        TopCommand::Show { what: Show::Neighbors { address: Some(address), view: None, .. } } => {
            shown(cli.json, &client.show_neighbor(*address)?, output::neighbor_detail)
        }
        TopCommand::Show { what: Show::Neighbors { address: Some(a), view: Some(NeighborView::Events), since } } => {
            shown(cli.json, &client.show_events(Some(*a), *since)?, |e| events::events_table(e, Some(*a)))
        }
        TopCommand::Show { what: Show::Events { since } } => {
            shown(cli.json, &client.show_events(None, *since)?, |e| events::events_table(e, None))
        }
        TopCommand::Completions { shell } => completions(*shell),
        TopCommand::Man { dir } => man_page(dir.as_deref())?,
        TopCommand::Show { what: Show::Routes(args) } => {
            shown(cli.json, &client.show_routes(args.command())?, |rows| match args.prefix {
                Some(_) => output::route_detail(rows, args.view()),
                None => output::route_table(rows, args.view()),
            })
        }
        TopCommand::Show { what: Show::Fib { prefix } } => {
            shown(cli.json, &client.show_fib(prefix.clone())?, |rows| output::fib_table(rows, prefix.as_deref()))
        }
        TopCommand::Show { what: Show::NextHops } => {
            shown(cli.json, &client.show_next_hops()?, |rows| output::next_hop_table(rows))
        }
        TopCommand::Show { what: Show::Kubernetes } => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
            shown(cli.json, &client.show_kubernetes()?, |k| output::kubernetes(&k.status, &k.routes, now))
        }
        TopCommand::Show { what: Show::Bfd } => shown(cli.json, &client.show_bfd()?, |rows| output::bfd_table(rows)),
        TopCommand::Show { what: Show::Summary } => shown(cli.json, &client.show_summary()?, output::rib_summary),
        TopCommand::Neighbor { address, action } => {
            let address = *address;
            let command = match action {
                NeighborAction::Reset => Command::NeighborReset { address },
                NeighborAction::Refresh => Command::NeighborRefresh { address },
                NeighborAction::Shutdown { message } => Command::NeighborShutdown { address, message: message.clone() },
                NeighborAction::Enable => Command::NeighborEnable { address },
            };
            done(cli.json, &client.execute(command)?)
        }
        TopCommand::Reload { dry_run: false } => done(cli.json, &client.execute(Command::Reload)?),
        TopCommand::Reload { dry_run: true } => shown(cli.json, &client.reload_dry_run(None, None)?, |p| p.render()),
        TopCommand::Shutdown { message } => {
            done(cli.json, &client.execute(Command::Shutdown { message: message.clone() })?)
        }
        TopCommand::Drain { neighbor, wait } => {
            // The answer comes after the wait: the time limit is for what follows it.
            let timeout = Duration::from_secs(cli.timeout + u64::from(wait.unwrap_or(0)));
            let client = Client::new(cli.socket.clone(), timeout);
            drained(cli.json, client.drain(Command::Drain { neighbor: *neighbor, wait_seconds: *wait })?)
        }
        TopCommand::Undrain { neighbor } => drained(cli.json, client.drain(Command::Undrain { neighbor: *neighbor })?),
        TopCommand::Why { target } => shown(cli.json, &client.why(target.clone())?, why::why),
    };
    write_stdout(&text).context("cannot write to stdout")
}

/// `bgpctl completions SHELL`: the completion script, from the clap definitions.
fn completions(shell: clap_complete::Shell) -> String {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "bgpctl", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `bgpctl man [--dir DIR]`: bgpctl(1) on stdout, or every page (bgpctl.1,
/// bgpctl-show.1, bgpctl-show-events.1, ...) written into `dir`, as git's are.
fn man_page(dir: Option<&std::path::Path>) -> anyhow::Result<String> {
    use clap::CommandFactory;
    match dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        Some(dir) => {
            clap_mangen::generate_to(Cli::command(), dir).with_context(|| format!("writing into {}", dir.display()))?;
            Ok(String::new())
        }
    }
}

/// The answer of a `show` command: `value` as JSON, or `text` of it.
fn shown<T: Serialize + ?Sized>(json: bool, value: &T, text: impl FnOnce(&T) -> String) -> String {
    if json {
        to_json(value)
    } else {
        text(value)
    }
}

/// The answer of a command that changed something: the daemon's message.
fn done(json: bool, message: &str) -> String {
    if json {
        to_json(&JsonDone { result: "ok", message })
    } else {
        format!("{}\n", output::clean(message))
    }
}

/// `--json` answer of `drain` and `undrain`.
#[derive(Serialize)]
struct JsonDrained<'a> {
    result: &'static str,
    message: &'a str,
    neighbors: &'a [bgp_core::ctl::DrainRow],
}

/// The answer of `drain` or `undrain`: what changed per neighbor, and the message.
fn drained(json: bool, (rows, message): (Vec<bgp_core::ctl::DrainRow>, String)) -> String {
    if json {
        to_json(&JsonDrained { result: "ok", message: &message, neighbors: &rows })
    } else {
        output::drain_rows(&rows, &message)
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
            assert!(matches!(cli.command, TopCommand::Show { what: Show::Neighbors { address: None, .. } }), "{word}");
            let cli = parse(&["show", word, "2001:db8::1"]).unwrap();
            let expected: IpAddr = "2001:db8::1".parse().unwrap();
            assert!(
                matches!(cli.command, TopCommand::Show { what: Show::Neighbors { address: Some(a), view: None, .. } } if a == expected),
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

    fn routes(args: &[&str]) -> Result<RouteArgs, clap::Error> {
        let mut all = vec!["show", "routes"];
        all.extend(args);
        match parse(&all)?.command {
            TopCommand::Show { what: Show::Routes(args) } => Ok(args),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn show_routes_and_its_aliases() {
        for word in ["routes", "route", "rib"] {
            let cli = parse(&["show", word, "10.0.0.0/24"]).unwrap();
            assert!(
                matches!(&cli.command, TopCommand::Show { what: Show::Routes(a) } if a.prefix.as_deref() == Some("10.0.0.0/24")),
                "{word}"
            );
        }
        let a = routes(&[]).unwrap();
        assert_eq!(a.command(), Command::ShowRoutes { prefix: None, neighbor: None, direction: None, family: None });
        assert_eq!(a.view(), RouteView::LocRib);

        let a = routes(&["2001:db8::1", "--json"]).unwrap();
        assert_eq!(a.prefix.as_deref(), Some("2001:db8::1"));

        let a = routes(&["--neighbor", "10.0.0.2", "--received", "--family", "ipv6"]).unwrap();
        let neighbor: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            a.command(),
            Command::ShowRoutes {
                prefix: None,
                neighbor: Some(neighbor),
                direction: Some(RouteDirection::Received),
                family: Some("ipv6".into()),
            }
        );
        assert_eq!(a.view(), RouteView::Received(neighbor));

        let a = routes(&["10.1.2.3", "--advertised", "--neighbor", "10.0.0.2"]).unwrap();
        assert_eq!(
            a.command(),
            Command::ShowRoutes {
                prefix: Some("10.1.2.3".into()),
                neighbor: Some(neighbor),
                direction: Some(RouteDirection::Advertised),
                family: None,
            }
        );
        assert_eq!(a.view(), RouteView::Advertised(neighbor));

        for (word, family) in [("ipv4", "ipv4"), ("ipv4-unicast", "ipv4"), ("ipv6-unicast", "ipv6")] {
            let a = routes(&["--family", word]).unwrap();
            assert!(matches!(a.command(), Command::ShowRoutes { family: Some(f), .. } if f == family), "{word}");
        }

        assert!(matches!(parse(&["show", "summary"]).unwrap().command, TopCommand::Show { what: Show::Summary }));
        assert!(matches!(
            parse(&["neighbor", "10.0.0.2", "refresh", "--json"]).unwrap().command,
            TopCommand::Neighbor { action: NeighborAction::Refresh, .. }
        ));
    }

    #[test]
    fn show_routes_usage_errors() {
        use clap::error::ErrorKind;
        // --received and --advertised need --neighbor, and --neighbor needs one of them.
        assert_eq!(routes(&["--received"]).unwrap_err().kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(routes(&["--advertised"]).unwrap_err().kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(routes(&["--neighbor", "10.0.0.2"]).unwrap_err().kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            routes(&["--neighbor", "10.0.0.2", "--received", "--advertised"]).unwrap_err().kind(),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(routes(&["--neighbor", "nonsense", "--received"]).unwrap_err().kind(), ErrorKind::ValueValidation);
        assert_eq!(routes(&["--family", "ipv5"]).unwrap_err().kind(), ErrorKind::InvalidValue);
        assert_eq!(routes(&["10.0.0.0/8", "--family", "ipv4"]).unwrap_err().kind(), ErrorKind::ArgumentConflict);
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "example.com", "2001:db8::/129", "10.0.0.300"] {
            let e = routes(&[bad]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ValueValidation, "{bad}");
        }
        assert!(routes(&["10.0.0.1/24"]).is_ok(), "host bits are the daemon's to mask, as FRR does");
        assert!(parse(&["show", "summary", "10.0.0.1"]).is_err());
        assert!(parse(&["neighbor", "10.0.0.2", "refresh", "now"]).is_err());
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
