//! The daemon's configuration file (TOML): schema, defaults and validation.
//!
//! Pure: [`parse`] takes the file's name (used in messages only) and its text;
//! [`load`] is the thin wrapper that reads a file first. What comes back is a
//! [`Config`] whose every value is checked and defaulted, in plain types (`IpAddr`,
//! `u16`, `Duration`, `Vec<Family>`...), so the daemon never re-derives a default.
//! All types are `Clone + Debug + PartialEq`, so a reload can diff old against new.
//!
//! ```toml
//! [global]
//! asn = 65000
//! router_id = "10.0.0.1"
//!
//! [[neighbor]]
//! address = "10.0.0.2"
//! asn = 65001
//!
//! [[neighbor_range]]
//! prefix = "10.0.0.0/24"
//! asn = 65000
//! ```
//!
//! Every key with its type, default and meaning: `configs/KEYS.md`; annotated examples:
//! `configs/*.toml` (all parsed by `bgp-core/tests/configs.rs`).
//!
//! Errors are one line each, `FILE:LINE:COLUMN: KEY: what is wrong`, e.g.
//! `bgp.toml:12:5: neighbor[1].hold_tim: unknown key; did you mean "hold_time"?`.
//! Key paths count array entries from 0 in file order (`neighbor[2].address`,
//! `neighbor_range[0].prefix`, `global.listen[1]`); columns count characters from 1.
//! Unknown keys, wrong types, values out of range and contradictions between
//! sections are all errors: nothing is silently ignored, and the first problem found
//! is reported.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::fsm::PeerConfig;
use crate::types::{Family, AS_TRANS};
use crate::wire::open::{AddPathFamily, GracefulRestart, GracefulRestartFamily};

/// `global.listen` when absent: every IPv4 and every IPv6 address, port 179.
pub const DEFAULT_LISTEN: [&str; 2] = ["0.0.0.0:179", "[::]:179"];
/// `global.control_socket` when absent.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/bgp-daemon/bgpctl.sock";
/// `global.hold_time` when absent, in seconds (RFC 4271 §10 suggests 90).
pub const DEFAULT_HOLD_TIME: u16 = 90;
/// `global.connect_retry` when absent: the first retry delay.
pub const DEFAULT_CONNECT_RETRY: Duration = Duration::from_secs(2);
/// `global.connect_retry_max` when absent: where the doubling delay stops.
pub const DEFAULT_CONNECT_RETRY_MAX: Duration = Duration::from_secs(120);
/// `global.graceful_restart_time` when absent, in seconds.
pub const DEFAULT_GRACEFUL_RESTART_TIME: u16 = 120;
/// `neighbor.port` when absent.
pub const DEFAULT_PORT: u16 = 179;
/// `neighbor_range.limit` when absent.
pub const DEFAULT_RANGE_LIMIT: u32 = 100;
/// `families` when absent.
pub const DEFAULT_FAMILIES: [Family; 2] = [Family::IPV4_UNICAST, Family::IPV6_UNICAST];

/// Longest TCP-MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
const MAX_PASSWORD_LEN: usize = 80;
/// Longest Unix socket path (`sun_path` is 108 bytes with the terminating NUL).
const MAX_SOCKET_PATH_LEN: usize = 107;
/// Longest hostname the FQDN capability carries with an empty domain (1 + len + 1 ≤ 255).
const MAX_HOSTNAME_LEN: usize = 253;

/// A validated configuration with every default filled in.
///
/// Fields are public so tests and the daemon can build one directly; [`parse`] is
/// the only constructor that validates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub global: Global,
    /// `[[neighbor]]` entries in file order; addresses are unique.
    pub neighbors: Vec<Neighbor>,
    /// `[[neighbor_range]]` entries in file order; prefixes do not overlap.
    pub neighbor_ranges: Vec<NeighborRange>,
}

/// The `[global]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    /// Our AS: 1..=4294967295 except 23456 (AS_TRANS). Required.
    pub asn: u32,
    /// BGP identifier: an IPv4 address other than 0.0.0.0. Required.
    pub router_id: Ipv4Addr,
    /// Where to accept BGP connections; empty: accept none. Default [`DEFAULT_LISTEN`].
    pub listen: Vec<SocketAddr>,
    /// The `bgpctl` Unix socket, an absolute path. Default [`DEFAULT_CONTROL_SOCKET`].
    pub control_socket: PathBuf,
    /// Hold time in seconds proposed in OPEN, 0 or 3..=65535; neighbors and ranges
    /// inherit it. Default 90.
    pub hold_time: u16,
    /// First connect retry delay, 1..=3600 s; doubles after each failure. Default 2 s.
    pub connect_retry: Duration,
    /// Cap of the retry delay, at least `connect_retry`. Default 120 s.
    pub connect_retry_max: Duration,
    /// Restart time advertised in the graceful restart capability, 1..=4095 s
    /// (RFC 4724's 12-bit field). Default 120.
    pub graceful_restart_time: u16,
    /// What SIGTERM/SIGINT does. Default [`OnStop::GracefulRestart`].
    pub on_stop: OnStop,
    /// Sent in the FQDN capability. Default none (the daemon may fill in the system
    /// hostname).
    pub hostname: Option<String>,
}

impl Global {
    /// A `[global]` with every optional key at its default.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Global {
        Global {
            asn,
            router_id,
            listen: DEFAULT_LISTEN.iter().map(|s| s.parse().expect("valid default")).collect(),
            control_socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
            hold_time: DEFAULT_HOLD_TIME,
            connect_retry: DEFAULT_CONNECT_RETRY,
            connect_retry_max: DEFAULT_CONNECT_RETRY_MAX,
            graceful_restart_time: DEFAULT_GRACEFUL_RESTART_TIME,
            on_stop: OnStop::default(),
            hostname: None,
        }
    }
}

/// `global.on_stop`: what the daemon does to its sessions on SIGTERM or SIGINT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnStop {
    /// `"graceful-restart"`: leave as a restarting speaker (RFC 4724), so peers that
    /// negotiated graceful restart keep our routes until we are back or
    /// `graceful_restart_time` runs out. Right for upgrades and reboots.
    #[default]
    GracefulRestart,
    /// `"shutdown"`: Cease / Administrative Shutdown (Hard Reset where RFC 8538 was
    /// negotiated), so peers drop our routes at once.
    Shutdown,
}

impl OnStop {
    pub const fn as_str(self) -> &'static str {
        match self {
            OnStop::GracefulRestart => "graceful-restart",
            OnStop::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for OnStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OnStop {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "graceful-restart" => Ok(OnStop::GracefulRestart),
            "shutdown" => Ok(OnStop::Shutdown),
            _ => Err(format!("unknown value {s:?} (expected \"graceful-restart\" or \"shutdown\")")),
        }
    }
}

/// `add_path`: ADD-PATH (RFC 7911) offered for every family of the session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AddPath {
    /// `"off"`: do not advertise the capability.
    #[default]
    Off,
    /// `"receive"`: accept several paths per prefix from the peer.
    Receive,
    /// `"send"`: send several paths per prefix to the peer.
    Send,
    /// `"both"`.
    Both,
}

impl AddPath {
    pub const fn as_str(self) -> &'static str {
        match self {
            AddPath::Off => "off",
            AddPath::Receive => "receive",
            AddPath::Send => "send",
            AddPath::Both => "both",
        }
    }

    /// The Send/Receive field of the capability (RFC 7911 §4); `None` for `Off`.
    pub const fn send_receive(self) -> Option<u8> {
        match self {
            AddPath::Off => None,
            AddPath::Receive => Some(AddPathFamily::RECEIVE),
            AddPath::Send => Some(AddPathFamily::SEND),
            AddPath::Both => Some(AddPathFamily::BOTH),
        }
    }

    /// The capability entries for `families` (empty for `Off`).
    pub fn families(self, families: &[Family]) -> Vec<AddPathFamily> {
        match self.send_receive() {
            None => Vec::new(),
            Some(send_receive) => families.iter().map(|&family| AddPathFamily { family, send_receive }).collect(),
        }
    }
}

impl fmt::Display for AddPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AddPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(AddPath::Off),
            "receive" => Ok(AddPath::Receive),
            "send" => Ok(AddPath::Send),
            "both" => Ok(AddPath::Both),
            _ => Err(format!("unknown value {s:?} (expected \"off\", \"receive\", \"send\" or \"both\")")),
        }
    }
}

/// What a session with a peer negotiates and how it is protected: the keys a
/// `[[neighbor]]` and a `[[neighbor_range]]` share.
///
/// `Debug` prints the password as `"<redacted>"`, so logging a config leaks no key.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerSettings {
    /// The peer's AS (same rules as `global.asn`); equal to `global.asn` means iBGP.
    pub asn: u32,
    pub description: Option<String>,
    /// TCP-MD5 key (RFC 2385), 1..=80 bytes.
    pub password: Option<String>,
    /// Hold time proposed to this peer, 0 or 3..=65535 s. Default `global.hold_time`.
    pub hold_time: u16,
    /// GTSM (RFC 5082): the peer is at most this many hops away, 1..=254. We send with
    /// TTL 255 and accept only TTL ≥ 256 − hops. `None`: off.
    pub ttl_security: Option<u8>,
    /// Multiprotocol families to offer, non-empty, no duplicates, in file order.
    /// Default [`DEFAULT_FAMILIES`].
    pub families: Vec<Family>,
    /// Advertise the graceful restart capability (RFC 4724). Default true.
    pub graceful_restart: bool,
    /// ADD-PATH for all `families`. Default [`AddPath::Off`].
    pub add_path: AddPath,
    /// Route reflector client (RFC 4456); only for iBGP peers. Default false.
    pub route_reflector_client: bool,
}

impl PeerSettings {
    /// Settings for a peer in `asn` with every optional key at its default;
    /// `hold_time` is what it inherits (`global.hold_time`).
    pub fn new(asn: u32, hold_time: u16) -> PeerSettings {
        PeerSettings {
            asn,
            description: None,
            password: None,
            hold_time,
            ttl_security: None,
            families: DEFAULT_FAMILIES.to_vec(),
            graceful_restart: true,
            add_path: AddPath::Off,
            route_reflector_client: false,
        }
    }

    /// iBGP: the peer is in our AS.
    pub fn is_internal(&self, global: &Global) -> bool {
        self.asn == global.asn
    }

    /// What the FSM should negotiate with this peer. Graceful restart, when enabled,
    /// is advertised with `global.graceful_restart_time`, the RFC 8538 N bit set,
    /// and the R and F bits clear: a daemon coming back from a graceful stop sets
    /// `restarting` and `forwarding_preserved` itself.
    pub fn peer_config(&self, global: &Global, passive: bool) -> PeerConfig {
        let mut cfg = PeerConfig::new(global.asn, global.router_id, self.asn);
        cfg.hold_time = self.hold_time;
        cfg.passive = passive;
        cfg.families = self.families.clone();
        cfg.add_path = self.add_path.families(&self.families);
        cfg.graceful_restart = self.graceful_restart.then(|| GracefulRestart {
            restarting: false,
            notification: true,
            restart_time: global.graceful_restart_time,
            families: self
                .families
                .iter()
                .map(|&family| GracefulRestartFamily { family, forwarding_preserved: false })
                .collect(),
        });
        cfg.hostname = global.hostname.clone();
        cfg.connect_retry = global.connect_retry;
        cfg.connect_retry_max = global.connect_retry_max;
        cfg
    }
}

impl fmt::Debug for PeerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerSettings")
            .field("asn", &self.asn)
            .field("description", &self.description)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("hold_time", &self.hold_time)
            .field("ttl_security", &self.ttl_security)
            .field("families", &self.families)
            .field("graceful_restart", &self.graceful_restart)
            .field("add_path", &self.add_path)
            .field("route_reflector_client", &self.route_reflector_client)
            .finish()
    }
}

/// A `[[neighbor]]`: one peer, configured by address.
///
/// An address may also lie inside a `[[neighbor_range]]`'s prefix: that is allowed,
/// and the explicit neighbor wins (see [`Config::peer_for`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbor {
    /// Unique across neighbors. IPv4-mapped IPv6 addresses are stored as IPv4.
    pub address: IpAddr,
    /// TCP port to connect to. Default 179.
    pub port: u16,
    /// Only accept the peer's connection, never connect. Default false.
    pub passive: bool,
    /// Source address of our connection; same family as `address`. Default: chosen
    /// by the kernel.
    pub local_address: Option<IpAddr>,
    /// Administratively down: configured but no session. Default false.
    pub shutdown: bool,
    pub settings: PeerSettings,
}

impl Neighbor {
    /// [`PeerSettings::peer_config`] with this neighbor's `passive`, and the jitter
    /// seed mixed with the address so neighbors in one AS do not retry in lockstep.
    pub fn peer_config(&self, global: &Global) -> PeerConfig {
        let mut cfg = self.settings.peer_config(global, self.passive);
        cfg.jitter_seed ^= match self.address {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                (bits >> 64) as u64 ^ bits as u64
            }
        };
        cfg
    }
}

/// A `[[neighbor_range]]`: dynamic neighbors, any address in `prefix` may open a
/// session (we never connect to them). A `[[neighbor]]` whose address lies in the
/// prefix is not part of the range: the explicit neighbor wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborRange {
    /// IPv4 or IPv6 prefix without host bits; ranges do not overlap.
    pub prefix: IpNet,
    /// Most sessions from the range at once, 1..=10000. Default 100.
    pub limit: u32,
    pub settings: PeerSettings,
}

impl NeighborRange {
    /// [`PeerSettings::peer_config`] for a session accepted from the range (passive).
    pub fn peer_config(&self, global: &Global) -> PeerConfig {
        self.settings.peer_config(global, true)
    }
}

/// Which configuration entry a peer address belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerMatch<'a> {
    Neighbor(&'a Neighbor),
    Range(&'a NeighborRange),
}

impl<'a> PeerMatch<'a> {
    pub fn settings(&self) -> &'a PeerSettings {
        match self {
            PeerMatch::Neighbor(n) => &n.settings,
            PeerMatch::Range(r) => &r.settings,
        }
    }
}

impl Config {
    pub fn global(&self) -> &Global {
        &self.global
    }

    /// Every `[[neighbor]]`, fully defaulted, in file order.
    pub fn neighbors(&self) -> &[Neighbor] {
        &self.neighbors
    }

    /// Every `[[neighbor_range]]`, fully defaulted, in file order.
    pub fn neighbor_ranges(&self) -> &[NeighborRange] {
        &self.neighbor_ranges
    }

    /// The `[[neighbor]]` with this address (IPv4-mapped IPv6 matches IPv4).
    pub fn neighbor(&self, address: IpAddr) -> Option<&Neighbor> {
        let address = address.to_canonical();
        self.neighbors.iter().find(|n| n.address == address)
    }

    /// The `[[neighbor_range]]` whose prefix holds `address` (at most one: ranges do
    /// not overlap), whether or not a `[[neighbor]]` has the address too.
    pub fn range_for(&self, address: IpAddr) -> Option<&NeighborRange> {
        let address = address.to_canonical();
        self.neighbor_ranges.iter().find(|r| r.prefix.contains(&address))
    }

    /// Who an incoming connection from `address` is: the explicit `[[neighbor]]` if
    /// there is one, else the `[[neighbor_range]]` that holds the address, else
    /// nobody (refuse it). IPv4-mapped IPv6 addresses, as a dual-stack listener
    /// reports IPv4 peers, are matched as IPv4.
    pub fn peer_for(&self, address: IpAddr) -> Option<PeerMatch<'_>> {
        self.neighbor(address).map(PeerMatch::Neighbor).or_else(|| self.range_for(address).map(PeerMatch::Range))
    }
}

/// Why a configuration was refused. `Display` is one line, starting with
/// `FILE:LINE:COLUMN:` for everything but a file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// [`load`] could not read the file.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML.
    #[error("{file}:{line}:{column}: invalid TOML: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    /// TOML, but not a valid configuration. `key` is the path of the key at fault,
    /// like `global.router_id`, `neighbor[2].address` or `global.listen[1]`; `line`
    /// and `column` (from 1, in characters) point at its value, or at the key itself
    /// when the key is unknown, or at the table header when a required key is missing.
    #[error("{file}:{line}:{column}: {key}: {kind}")]
    Invalid { file: String, line: usize, column: usize, key: String, kind: ErrorKind },
}

impl ConfigError {
    /// `(line, column)`, both from 1; `None` for [`ConfigError::Read`].
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { line, column, .. } | ConfigError::Invalid { line, column, .. } => {
                Some((*line, *column))
            }
        }
    }

    /// The key path at fault, for [`ConfigError::Invalid`].
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    /// What is wrong, for [`ConfigError::Invalid`].
    pub fn kind(&self) -> Option<&ErrorKind> {
        match self {
            ConfigError::Invalid { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// What is wrong with a key of a [`ConfigError::Invalid`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// A key the table does not have. `suggestion`: an allowed key within a small
    /// edit distance; `allowed`: every key the table has.
    #[error("unknown key{}", unknown_key_hint(.suggestion, .allowed))]
    UnknownKey { suggestion: Option<String>, allowed: Vec<String> },
    /// A required key is absent.
    #[error("missing required key")]
    Missing,
    /// The value has the wrong TOML type (the text says which was expected).
    #[error("wrong type: {0}")]
    Type(String),
    /// The value has the right type but is not acceptable (out of range, not an
    /// address, unknown name...).
    #[error("{0}")]
    Value(String),
    /// The value contradicts another part of the file (duplicate neighbor,
    /// overlapping ranges...).
    #[error("{0}")]
    Conflict(String),
}

fn unknown_key_hint(suggestion: &Option<String>, allowed: &[String]) -> String {
    match suggestion {
        Some(s) => format!("; did you mean {s:?}?"),
        None if allowed.is_empty() => String::new(),
        None => format!("; expected one of: {}", allowed.join(", ")),
    }
}

/// Reads and parses the file at `path`; errors name the file as `path` displays.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&path.display().to_string(), &text)
}

/// Parses and validates a configuration. `file_name` only prefixes error messages.
pub fn parse(file_name: &str, text: &str) -> Result<Config, ConfigError> {
    let cx = Cx { file: file_name, text };
    let doc = DeTable::parse(text).map_err(|e| {
        let (line, column) = cx.position(e.span().map_or(0, |s| s.start));
        ConfigError::Syntax { file: file_name.to_string(), line, column, message: e.message().trim().to_string() }
    })?;
    let raw = RawConfig::deserialize(toml::de::Deserializer::from(doc.clone()))
        .map_err(|e| cx.serde_error(doc.get_ref(), &e))?;
    cx.resolve(&raw)
}

// ---------------------------------------------------------------------------------
// The file as deserialized: every value that can be wrong keeps its span, numbers are
// i64 so range errors are ours, and everything optional is `Option` so defaults and
// "missing" messages are ours too.

type Opt<T> = Option<Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    global: Opt<RawGlobal>,
    #[serde(default)]
    neighbor: Vec<Spanned<RawNeighbor>>,
    #[serde(default)]
    neighbor_range: Vec<Spanned<RawRange>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    asn: Opt<i64>,
    router_id: Opt<String>,
    listen: Opt<Vec<Spanned<String>>>,
    control_socket: Opt<String>,
    hold_time: Opt<i64>,
    connect_retry: Opt<i64>,
    connect_retry_max: Opt<i64>,
    graceful_restart_time: Opt<i64>,
    on_stop: Opt<String>,
    hostname: Opt<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbor {
    address: Opt<String>,
    asn: Opt<i64>,
    description: Opt<String>,
    port: Opt<i64>,
    passive: Opt<bool>,
    password: Opt<String>,
    hold_time: Opt<i64>,
    local_address: Opt<String>,
    ttl_security: Opt<i64>,
    families: Opt<Vec<Spanned<String>>>,
    graceful_restart: Opt<bool>,
    add_path: Opt<String>,
    route_reflector_client: Opt<bool>,
    shutdown: Opt<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    prefix: Opt<String>,
    asn: Opt<i64>,
    limit: Opt<i64>,
    description: Opt<String>,
    password: Opt<String>,
    hold_time: Opt<i64>,
    ttl_security: Opt<i64>,
    families: Opt<Vec<Spanned<String>>>,
    graceful_restart: Opt<bool>,
    add_path: Opt<String>,
    route_reflector_client: Opt<bool>,
}

/// The keys a neighbor and a range share, borrowed from either.
struct RawPeer<'a> {
    asn: &'a Opt<i64>,
    description: &'a Opt<String>,
    password: &'a Opt<String>,
    hold_time: &'a Opt<i64>,
    ttl_security: &'a Opt<i64>,
    families: &'a Opt<Vec<Spanned<String>>>,
    graceful_restart: &'a Opt<bool>,
    add_path: &'a Opt<String>,
    route_reflector_client: &'a Opt<bool>,
}

impl RawNeighbor {
    fn peer(&self) -> RawPeer<'_> {
        RawPeer {
            asn: &self.asn,
            description: &self.description,
            password: &self.password,
            hold_time: &self.hold_time,
            ttl_security: &self.ttl_security,
            families: &self.families,
            graceful_restart: &self.graceful_restart,
            add_path: &self.add_path,
            route_reflector_client: &self.route_reflector_client,
        }
    }
}

impl RawRange {
    fn peer(&self) -> RawPeer<'_> {
        RawPeer {
            asn: &self.asn,
            description: &self.description,
            password: &self.password,
            hold_time: &self.hold_time,
            ttl_security: &self.ttl_security,
            families: &self.families,
            graceful_restart: &self.graceful_restart,
            add_path: &self.add_path,
            route_reflector_client: &self.route_reflector_client,
        }
    }
}

// ---------------------------------------------------------------------------------
// Validation and defaults.

/// The file being checked: turns spans into positioned errors.
struct Cx<'a> {
    file: &'a str,
    text: &'a str,
}

type Res<T> = Result<T, ConfigError>;

impl Cx<'_> {
    /// 1-based line and column (in characters) of byte `offset`.
    fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
    }

    fn err_at(&self, offset: usize, key: impl Into<String>, kind: ErrorKind) -> ConfigError {
        let (line, column) = self.position(offset);
        ConfigError::Invalid { file: self.file.to_string(), line, column, key: key.into(), kind }
    }

    fn err<T>(&self, value: &Spanned<T>, key: impl Into<String>, kind: ErrorKind) -> ConfigError {
        self.err_at(value.span().start, key, kind)
    }

    fn value_err<T>(&self, value: &Spanned<T>, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        self.err(value, key, ErrorKind::Value(message.into()))
    }

    fn line_of<T>(&self, value: &Spanned<T>) -> usize {
        self.position(value.span().start).0
    }

    fn required<'v, T, U>(&self, table: &Spanned<U>, value: &'v Opt<T>, key: String) -> Res<&'v Spanned<T>> {
        value.as_ref().ok_or_else(|| self.err(table, key, ErrorKind::Missing))
    }

    /// An integer in `range`; `what` completes "N is not a valid ...".
    fn int(&self, value: &Spanned<i64>, key: &str, range: Range<i64>, what: &str) -> Res<i64> {
        let v = *value.get_ref();
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(self.value_err(value, key, format!("{v} is not a valid {what} ({}..={})", range.start, range.end - 1)))
        }
    }

    fn asn(&self, value: &Spanned<i64>, key: &str) -> Res<u32> {
        let v = self.int(value, key, 1..1 << 32, "AS number")?;
        if v == i64::from(AS_TRANS) {
            return Err(self.value_err(
                value,
                key,
                "23456 is AS_TRANS (RFC 6793), the 2-octet stand-in for 4-octet AS numbers, not a usable AS",
            ));
        }
        Ok(v as u32)
    }

    fn hold_time(&self, value: &Spanned<i64>, key: &str) -> Res<u16> {
        let v = *value.get_ref();
        if v == 0 || (3..=65535).contains(&v) {
            Ok(v as u16)
        } else {
            Err(self.value_err(
                value,
                key,
                format!("{v} is not a valid hold time: use 0 (no keepalives) or 3..=65535 seconds (RFC 4271 §4.2)"),
            ))
        }
    }

    fn ip(&self, value: &Spanned<String>, key: &str) -> Res<IpAddr> {
        let s = value.get_ref();
        let ip: IpAddr =
            s.parse().map_err(|_| self.value_err(value, key, format!("{s:?} is not an IPv4 or IPv6 address")))?;
        let ip = ip.to_canonical();
        if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Err(self.value_err(value, key, format!("{s:?} cannot be a peer's or a local address")));
        }
        Ok(ip)
    }

    fn text_opt(&self, value: &Opt<String>) -> Option<String> {
        value.as_ref().map(|v| v.get_ref().clone())
    }

    fn resolve(&self, raw: &RawConfig) -> Res<Config> {
        let global = match &raw.global {
            Some(g) => self.global(g)?,
            None => return Err(self.err_at(0, "global", ErrorKind::Missing)),
        };
        let neighbors = raw
            .neighbor
            .iter()
            .enumerate()
            .map(|(i, n)| self.neighbor(&global, n, &format!("neighbor[{i}]")))
            .collect::<Res<Vec<_>>>()?;
        let neighbor_ranges = raw
            .neighbor_range
            .iter()
            .enumerate()
            .map(|(i, r)| self.range(&global, r, &format!("neighbor_range[{i}]")))
            .collect::<Res<Vec<_>>>()?;

        // Unique neighbor addresses.
        let mut seen: HashMap<IpAddr, usize> = HashMap::new();
        for (i, n) in neighbors.iter().enumerate() {
            if let Some(&first) = seen.get(&n.address) {
                let span = raw.neighbor[i].get_ref().address.as_ref().expect("checked");
                let first_span = raw.neighbor[first].get_ref().address.as_ref().expect("checked");
                return Err(self.err(
                    span,
                    format!("neighbor[{i}].address"),
                    ErrorKind::Conflict(format!(
                        "duplicate neighbor address {}: already neighbor[{first}] (line {})",
                        n.address,
                        self.line_of(first_span)
                    )),
                ));
            }
            seen.insert(n.address, i);
        }

        // Ranges do not overlap (two prefixes overlap when one contains the other).
        for (i, r) in neighbor_ranges.iter().enumerate() {
            for (j, earlier) in neighbor_ranges[..i].iter().enumerate() {
                if r.prefix.contains(&earlier.prefix) || earlier.prefix.contains(&r.prefix) {
                    let span = raw.neighbor_range[i].get_ref().prefix.as_ref().expect("checked");
                    let first_span = raw.neighbor_range[j].get_ref().prefix.as_ref().expect("checked");
                    return Err(self.err(
                        span,
                        format!("neighbor_range[{i}].prefix"),
                        ErrorKind::Conflict(format!(
                            "{} overlaps neighbor_range[{j}].prefix {} (line {})",
                            r.prefix,
                            earlier.prefix,
                            self.line_of(first_span)
                        )),
                    ));
                }
            }
        }

        // Something must listen for passive neighbors and ranges.
        if global.listen.is_empty() {
            let who = match neighbors.iter().position(|n| n.passive && !n.shutdown) {
                Some(i) => Some(format!("neighbor[{i}] is passive")),
                None if !neighbor_ranges.is_empty() => Some("neighbor_range[0] only accepts connections".to_string()),
                None => None,
            };
            if let Some(who) = who {
                let listen = raw.global.as_ref().and_then(|g| g.get_ref().listen.as_ref()).expect("listen was set");
                return Err(self.err(
                    listen,
                    "global.listen",
                    ErrorKind::Conflict(format!("is empty, so no connection is accepted, but {who}")),
                ));
            }
        }

        Ok(Config { global, neighbors, neighbor_ranges })
    }

    fn global(&self, table: &Spanned<RawGlobal>) -> Res<Global> {
        let g = table.get_ref();
        let asn = self.asn(self.required(table, &g.asn, "global.asn".into())?, "global.asn")?;
        let router_id_raw = self.required(table, &g.router_id, "global.router_id".into())?;
        let router_id = match router_id_raw.get_ref().parse::<Ipv4Addr>() {
            Ok(id) if !id.is_unspecified() => id,
            Ok(_) => return Err(self.value_err(router_id_raw, "global.router_id", "0.0.0.0 is not a valid router ID")),
            Err(_) => {
                return Err(self.value_err(
                    router_id_raw,
                    "global.router_id",
                    format!("{:?} is not an IPv4 address (the BGP identifier is 4 octets)", router_id_raw.get_ref()),
                ))
            }
        };
        let mut out = Global::new(asn, router_id);

        if let Some(listen) = &g.listen {
            out.listen.clear();
            for (i, entry) in listen.get_ref().iter().enumerate() {
                let key = format!("global.listen[{i}]");
                let addr: SocketAddr = entry.get_ref().parse().map_err(|_| {
                    self.value_err(
                        entry,
                        &key,
                        format!("{:?} is not ADDRESS:PORT (like \"0.0.0.0:179\" or \"[::]:179\")", entry.get_ref()),
                    )
                })?;
                if out.listen.contains(&addr) {
                    return Err(self.err(entry, key, ErrorKind::Conflict(format!("{addr} is listed twice"))));
                }
                out.listen.push(addr);
            }
        }
        if let Some(sock) = &g.control_socket {
            let s = sock.get_ref();
            let key = "global.control_socket";
            if !Path::new(s).is_absolute() {
                return Err(self.value_err(sock, key, format!("{s:?} is not an absolute path")));
            }
            if s.len() > MAX_SOCKET_PATH_LEN || s.ends_with('/') {
                return Err(self.value_err(
                    sock,
                    key,
                    format!("{s:?} is not a usable socket path (a file name of at most {MAX_SOCKET_PATH_LEN} bytes)"),
                ));
            }
            out.control_socket = PathBuf::from(s);
        }
        if let Some(v) = &g.hold_time {
            out.hold_time = self.hold_time(v, "global.hold_time")?;
        }
        if let Some(v) = &g.connect_retry {
            out.connect_retry =
                Duration::from_secs(self.int(v, "global.connect_retry", 1..3601, "delay in seconds")? as u64);
        }
        if let Some(v) = &g.connect_retry_max {
            out.connect_retry_max =
                Duration::from_secs(self.int(v, "global.connect_retry_max", 1..86401, "delay in seconds")? as u64);
        }
        if out.connect_retry_max < out.connect_retry {
            let (max, retry) = (out.connect_retry_max.as_secs(), out.connect_retry.as_secs());
            return Err(match (&g.connect_retry_max, &g.connect_retry) {
                (Some(v), _) => self.err(
                    v,
                    "global.connect_retry_max",
                    ErrorKind::Conflict(format!("{max} is less than connect_retry ({retry})")),
                ),
                (None, Some(v)) => self.err(
                    v,
                    "global.connect_retry",
                    ErrorKind::Conflict(format!(
                        "{retry} is more than connect_retry_max ({max}, the default); raise connect_retry_max too"
                    )),
                ),
                (None, None) => unreachable!("the defaults are ordered"),
            });
        }
        if let Some(v) = &g.graceful_restart_time {
            out.graceful_restart_time =
                self.int(v, "global.graceful_restart_time", 1..4096, "restart time in seconds (RFC 4724: 12 bits)")?
                    as u16;
        }
        if let Some(v) = &g.on_stop {
            out.on_stop = v.get_ref().parse().map_err(|e: String| self.value_err(v, "global.on_stop", e))?;
        }
        if let Some(v) = &g.hostname {
            let s = v.get_ref();
            let ok = (1..=MAX_HOSTNAME_LEN).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            if !ok {
                return Err(self.value_err(
                    v,
                    "global.hostname",
                    format!("{s:?} is not a hostname (1..={MAX_HOSTNAME_LEN} letters, digits, '-', '.', '_')"),
                ));
            }
            out.hostname = Some(s.clone());
        }
        Ok(out)
    }

    fn peer<T>(&self, global: &Global, table: &Spanned<T>, raw: RawPeer<'_>, path: &str) -> Res<PeerSettings> {
        let key = |k: &str| format!("{path}.{k}");
        let asn = self.asn(self.required(table, raw.asn, key("asn"))?, &key("asn"))?;
        let mut out = PeerSettings::new(asn, global.hold_time);
        out.description = self.text_opt(raw.description);
        if let Some(v) = raw.password {
            let len = v.get_ref().len();
            if !(1..=MAX_PASSWORD_LEN).contains(&len) {
                return Err(self.value_err(
                    v,
                    key("password"),
                    format!("a TCP-MD5 key is 1..={MAX_PASSWORD_LEN} bytes, this one is {len}"),
                ));
            }
            out.password = Some(v.get_ref().clone());
        }
        if let Some(v) = raw.hold_time {
            out.hold_time = self.hold_time(v, &key("hold_time"))?;
        }
        if let Some(v) = raw.ttl_security {
            out.ttl_security = Some(self.int(v, &key("ttl_security"), 1..255, "hop count for GTSM")? as u8);
        }
        if let Some(list) = raw.families {
            if list.get_ref().is_empty() {
                return Err(self.value_err(list, key("families"), "is empty: a session needs at least one family"));
            }
            out.families.clear();
            for (i, entry) in list.get_ref().iter().enumerate() {
                let k = format!("{path}.families[{i}]");
                let family: Family = entry.get_ref().parse().map_err(|e: String| self.value_err(entry, &k, e))?;
                if out.families.contains(&family) {
                    return Err(self.err(entry, k, ErrorKind::Conflict(format!("{family} is listed twice"))));
                }
                out.families.push(family);
            }
        }
        if let Some(v) = raw.graceful_restart {
            out.graceful_restart = *v.get_ref();
        }
        if let Some(v) = raw.add_path {
            out.add_path = v.get_ref().parse().map_err(|e: String| self.value_err(v, key("add_path"), e))?;
        }
        if let Some(v) = raw.route_reflector_client {
            if *v.get_ref() && !out.is_internal(global) {
                return Err(self.err(
                    v,
                    key("route_reflector_client"),
                    ErrorKind::Conflict(format!(
                        "reflection is for iBGP peers (RFC 4456), but asn {} is not global.asn {}",
                        out.asn, global.asn
                    )),
                ));
            }
            out.route_reflector_client = *v.get_ref();
        }
        Ok(out)
    }

    fn neighbor(&self, global: &Global, table: &Spanned<RawNeighbor>, path: &str) -> Res<Neighbor> {
        let n = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let address = self.ip(self.required(table, &n.address, key("address"))?, &key("address"))?;
        let settings = self.peer(global, table, n.peer(), path)?;
        let mut out =
            Neighbor { address, port: DEFAULT_PORT, passive: false, local_address: None, shutdown: false, settings };
        if let Some(v) = &n.port {
            out.port = self.int(v, &key("port"), 1..65536, "TCP port")? as u16;
        }
        if let Some(v) = &n.passive {
            out.passive = *v.get_ref();
        }
        if let Some(v) = &n.local_address {
            let local = self.ip(v, &key("local_address"))?;
            if local.is_ipv4() != address.is_ipv4() {
                return Err(self.err(
                    v,
                    key("local_address"),
                    ErrorKind::Conflict(format!(
                        "{local} and the neighbor's address {address} are of different families"
                    )),
                ));
            }
            out.local_address = Some(local);
        }
        if let Some(v) = &n.shutdown {
            out.shutdown = *v.get_ref();
        }
        Ok(out)
    }

    fn range(&self, global: &Global, table: &Spanned<RawRange>, path: &str) -> Res<NeighborRange> {
        let r = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let raw_prefix = self.required(table, &r.prefix, key("prefix"))?;
        let s = raw_prefix.get_ref();
        let prefix: IpNet = s.parse().map_err(|_| {
            self.value_err(
                raw_prefix,
                key("prefix"),
                format!("{s:?} is not an IPv4 or IPv6 prefix like \"10.0.0.0/24\""),
            )
        })?;
        if prefix.trunc() != prefix {
            return Err(self.value_err(
                raw_prefix,
                key("prefix"),
                format!("{s:?} has host bits set; did you mean \"{}\"?", prefix.trunc()),
            ));
        }
        let settings = self.peer(global, table, r.peer(), path)?;
        let mut out = NeighborRange { prefix, limit: DEFAULT_RANGE_LIMIT, settings };
        if let Some(v) = &r.limit {
            out.limit = self.int(v, &key("limit"), 1..10001, "session limit")? as u32;
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------
    // Errors found while deserializing (unknown keys, wrong types): serde knows the
    // span, the document tree knows which key it belongs to.

    fn serde_error(&self, doc: &DeTable<'_>, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let (mut path, found) = locate(doc, &span).unwrap_or_default();
        let message = e.message().trim();
        let kind = if let Some(rest) = message.strip_prefix("unknown field `") {
            let (unknown, allowed) = rest.split_once('`').unwrap_or((rest, ""));
            let allowed: Vec<String> = allowed.split('`').skip(1).step_by(2).map(str::to_string).collect();
            if !path.ends_with(&push_key("", unknown)) {
                path = push_key(&path, unknown);
            }
            ErrorKind::UnknownKey { suggestion: did_you_mean(unknown, &allowed), allowed }
        } else if let Some(rest) = message.strip_prefix("missing field `") {
            path = push_key(&path, rest.trim_end_matches('`'));
            ErrorKind::Missing
        } else if let Some(rest) = message.strip_prefix("invalid type: ") {
            type_message(rest, found)
        } else {
            ErrorKind::Value(message.to_string())
        };
        if path.is_empty() {
            path.push_str("(document)");
        }
        self.err_at(span.start, path, kind)
    }
}

/// Rewords serde's "invalid type: FOUND, expected WANTED" in TOML's words;
/// `value_type` is the TOML type of the value at the error's span, if known.
fn type_message(rest: &str, value_type: Option<&str>) -> ErrorKind {
    let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, "another type"));
    if found.contains(" as i128") || found.contains(" as u64") {
        return ErrorKind::Value("integer out of range".to_string());
    }
    // serde sees a TOML date-time as a map; say what it is.
    let found = if value_type == Some("datetime") { "a date-time" } else { found };
    let toml_name = |s: &str| -> String {
        match s {
            "i64" | "u64" | "i32" | "u32" | "u16" | "u8" => "an integer".to_string(),
            "a sequence" => "an array".to_string(),
            "map" => "a table".to_string(),
            "sequence" => "an array".to_string(),
            "unit value" => "nothing".to_string(),
            s if s.starts_with("struct ") || s == "a map" => "a table".to_string(),
            s => s.replace('`', "").replace("floating point", "float"),
        }
    };
    ErrorKind::Type(format!("expected {}, found {}", toml_name(expected), toml_name(found)))
}

/// Appends `key` to a key path, quoting keys that are not bare TOML keys.
fn push_key(path: &str, key: &str) -> String {
    let bare = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare { key.to_string() } else { format!("{key:?}") };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// The key path of the smallest key or value of `doc` whose span holds `span` (an
/// unknown key's error spans the key, a type error the value), with the TOML type
/// of the value when that is what was found.
fn locate(doc: &DeTable<'_>, span: &Range<usize>) -> Option<(String, Option<&'static str>)> {
    let mut best = None;
    walk_table(doc, "", span, &mut best);
    best.map(|b: Found| (b.path, b.value_type))
}

/// The best node so far: its span's length, key path, and TOML type if a value.
struct Found {
    len: usize,
    path: String,
    value_type: Option<&'static str>,
}

fn consider(
    node: Range<usize>,
    path: &str,
    value_type: Option<&'static str>,
    target: &Range<usize>,
    best: &mut Option<Found>,
) {
    if node.start <= target.start && target.end <= node.end {
        let len = node.end - node.start;
        // `<=`: on a tie the later (deeper) node wins.
        if best.as_ref().is_none_or(|b| len <= b.len) {
            *best = Some(Found { len, path: path.to_string(), value_type });
        }
    }
}

fn walk_table(table: &DeTable<'_>, path: &str, target: &Range<usize>, best: &mut Option<Found>) {
    for (key, value) in table.iter() {
        let path = push_key(path, key.get_ref());
        consider(key.span(), &path, None, target, best);
        walk_value(value, &path, target, best);
    }
}

fn walk_value(value: &Spanned<DeValue<'_>>, path: &str, target: &Range<usize>, best: &mut Option<Found>) {
    consider(value.span(), path, Some(value.get_ref().type_str()), target, best);
    match value.get_ref() {
        DeValue::Table(t) => walk_table(t, path, target, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_value(item, &format!("{path}[{i}]"), target, best);
            }
        }
        _ => {}
    }
}

/// The allowed key closest to `unknown`, if it is close: at most 2 edits (1 for keys
/// of up to 4 characters), ignoring case and `-` for `_`.
fn did_you_mean(unknown: &str, allowed: &[String]) -> Option<String> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let unknown = norm(unknown);
    let limit = if unknown.chars().count() <= 4 { 1 } else { 2 };
    allowed
        .iter()
        .map(|a| (levenshtein(&unknown, &norm(a)), a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a.clone())
}

/// Edit distance (insertions, deletions, substitutions) in characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    const GLOBAL: &str = "[global]\nasn = 65000\nrouter_id = \"10.0.0.1\"\n";
    const NEIGHBOR: &str = "\n[[neighbor]]\naddress = \"10.0.0.2\"\nasn = 65001\n";
    /// `GLOBAL` then `NEIGHBOR`: lines 1-3 global, 5-7 the neighbor, 8 the next key.
    const MINIMAL: &str = "\
[global]
asn = 65000
router_id = \"10.0.0.1\"

[[neighbor]]
address = \"10.0.0.2\"
asn = 65001
";

    fn ok(text: &str) -> Config {
        match parse("bgp.toml", text) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    /// The error for `text`, checked to be `Invalid` at `line:col` on `key`.
    fn invalid(text: &str, line: usize, column: usize, key: &str) -> ErrorKind {
        let e = parse("bgp.toml", text).expect_err("should be refused");
        let shown = e.to_string();
        assert!(!shown.contains('\n'), "one line: {shown}");
        assert!(shown.starts_with(&format!("bgp.toml:{line}:{column}: {key}: ")), "{shown}");
        match e {
            ConfigError::Invalid { kind, .. } => kind,
            e => panic!("not Invalid: {e}"),
        }
    }

    fn value_msg(kind: ErrorKind) -> String {
        match kind {
            ErrorKind::Value(m) => m,
            k => panic!("not a Value error: {k:?}"),
        }
    }

    fn conflict_msg(kind: ErrorKind) -> String {
        match kind {
            ErrorKind::Conflict(m) => m,
            k => panic!("not a Conflict error: {k:?}"),
        }
    }

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }

    #[test]
    fn minimal_config() {
        assert_eq!(format!("{GLOBAL}{NEIGHBOR}"), MINIMAL);
        let c = ok(MINIMAL);
        assert_eq!(c.global().asn, 65000);
        assert_eq!(c.global().router_id, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(c.neighbors().len(), 1);
        assert_eq!(c.neighbors()[0].address, v4("10.0.0.2"));
        assert_eq!(c.neighbors()[0].settings.asn, 65001);
        assert!(c.neighbor_ranges().is_empty());
        // A config without neighbors is valid too (nothing to do, but not wrong).
        let c = ok("[global]\nasn = 65000\nrouter_id = \"10.0.0.1\"\n");
        assert!(c.neighbors().is_empty());
    }

    #[test]
    fn every_default() {
        let c = ok(&format!("{MINIMAL}\n[[neighbor_range]]\nprefix = \"10.1.0.0/16\"\nasn = 65000\n"));
        let g = c.global();
        assert_eq!(g, &Global::new(65000, Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(g.listen, vec!["0.0.0.0:179".parse::<SocketAddr>().unwrap(), "[::]:179".parse().unwrap()]);
        assert_eq!(g.control_socket, PathBuf::from("/run/bgp-daemon/bgpctl.sock"));
        assert_eq!(g.hold_time, 90);
        assert_eq!(g.connect_retry, Duration::from_secs(2));
        assert_eq!(g.connect_retry_max, Duration::from_secs(120));
        assert_eq!(g.graceful_restart_time, 120);
        assert_eq!(g.on_stop, OnStop::GracefulRestart);
        assert_eq!(g.hostname, None);

        let n = &c.neighbors()[0];
        assert_eq!(n.port, 179);
        assert!(!n.passive);
        assert_eq!(n.local_address, None);
        assert!(!n.shutdown);
        let s = &n.settings;
        assert_eq!(s, &PeerSettings::new(65001, 90));
        assert_eq!(s.description, None);
        assert_eq!(s.password, None);
        assert_eq!(s.hold_time, 90);
        assert_eq!(s.ttl_security, None);
        assert_eq!(s.families, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
        assert!(s.graceful_restart);
        assert_eq!(s.add_path, AddPath::Off);
        assert!(!s.route_reflector_client);

        let r = &c.neighbor_ranges()[0];
        assert_eq!(r.limit, 100);
        assert_eq!(r.settings, PeerSettings::new(65000, 90));
    }

    #[test]
    fn neighbors_inherit_global_hold_time() {
        let c = ok(&MINIMAL.replace("asn = 65000\n", "asn = 65000\nhold_time = 30\n"));
        assert_eq!(c.neighbors()[0].settings.hold_time, 30);
        let c = ok(&format!("{MINIMAL}hold_time = 0\n"));
        assert_eq!(c.neighbors()[0].settings.hold_time, 0);
    }

    #[test]
    fn full_config_with_every_key() {
        let text = r#"
[global]
asn = 4200000000
router_id = "192.0.2.1"
listen = ["192.0.2.1:1179", "[2001:db8::1]:179"]
control_socket = "/tmp/bgp.sock"
hold_time = 30
connect_retry = 5
connect_retry_max = 300
graceful_restart_time = 4095
on_stop = "shutdown"
hostname = "rr1.lab"

[[neighbor]]
address = "2001:db8::2"
asn = 65001
description = "home router"
port = 1179
passive = true
password = "s3cret"
hold_time = 9
local_address = "2001:db8::1"
ttl_security = 1
families = ["ipv6-unicast", "ipv4-unicast", "ipv4-multicast"]
graceful_restart = false
add_path = "both"
route_reflector_client = false
shutdown = true

[[neighbor]]
address = "192.0.2.3"
asn = 4200000000
route_reflector_client = true
add_path = "receive"

[[neighbor_range]]
prefix = "10.0.0.0/24"
asn = 4200000000
limit = 10000
description = "cluster nodes"
password = "n0des"
hold_time = 3
ttl_security = 254
families = ["ipv4-unicast"]
graceful_restart = true
add_path = "send"
route_reflector_client = true

[[neighbor_range]]
prefix = "2001:db8:1::/64"
asn = 65002
"#;
        let c = ok(text);
        let expected = Config {
            global: Global {
                asn: 4_200_000_000,
                router_id: Ipv4Addr::new(192, 0, 2, 1),
                listen: vec!["192.0.2.1:1179".parse().unwrap(), "[2001:db8::1]:179".parse().unwrap()],
                control_socket: PathBuf::from("/tmp/bgp.sock"),
                hold_time: 30,
                connect_retry: Duration::from_secs(5),
                connect_retry_max: Duration::from_secs(300),
                graceful_restart_time: 4095,
                on_stop: OnStop::Shutdown,
                hostname: Some("rr1.lab".into()),
            },
            neighbors: vec![
                Neighbor {
                    address: "2001:db8::2".parse().unwrap(),
                    port: 1179,
                    passive: true,
                    local_address: Some("2001:db8::1".parse().unwrap()),
                    shutdown: true,
                    settings: PeerSettings {
                        asn: 65001,
                        description: Some("home router".into()),
                        password: Some("s3cret".into()),
                        hold_time: 9,
                        ttl_security: Some(1),
                        families: vec![Family::IPV6_UNICAST, Family::IPV4_UNICAST, Family::IPV4_MULTICAST],
                        graceful_restart: false,
                        add_path: AddPath::Both,
                        route_reflector_client: false,
                    },
                },
                Neighbor {
                    address: v4("192.0.2.3"),
                    port: 179,
                    passive: false,
                    local_address: None,
                    shutdown: false,
                    settings: PeerSettings {
                        route_reflector_client: true,
                        add_path: AddPath::Receive,
                        ..PeerSettings::new(4_200_000_000, 30)
                    },
                },
            ],
            neighbor_ranges: vec![
                NeighborRange {
                    prefix: "10.0.0.0/24".parse().unwrap(),
                    limit: 10000,
                    settings: PeerSettings {
                        asn: 4_200_000_000,
                        description: Some("cluster nodes".into()),
                        password: Some("n0des".into()),
                        hold_time: 3,
                        ttl_security: Some(254),
                        families: vec![Family::IPV4_UNICAST],
                        graceful_restart: true,
                        add_path: AddPath::Send,
                        route_reflector_client: true,
                    },
                },
                NeighborRange {
                    prefix: "2001:db8:1::/64".parse().unwrap(),
                    limit: 100,
                    settings: PeerSettings::new(65002, 30),
                },
            ],
        };
        assert_eq!(c, expected);
        // Empty listen is allowed when nothing needs it.
        let c = ok(&format!("[global]\nasn = 1\nrouter_id = \"1.1.1.1\"\nlisten = []\n{NEIGHBOR}"));
        assert!(c.global.listen.is_empty());
    }

    #[test]
    fn unknown_key_with_suggestion() {
        let text = format!("{MINIMAL}\n[[neighbor]]\naddress = \"10.0.0.3\"\nasn = 65001\n    hold_tim = 5\n");
        let e = parse("bgp.toml", &text).unwrap_err();
        assert_eq!(e.to_string(), "bgp.toml:12:5: neighbor[1].hold_tim: unknown key; did you mean \"hold_time\"?");
        assert_eq!(e.position(), Some((12, 5)));
        assert_eq!(e.key(), Some("neighbor[1].hold_tim"));
        match e.kind() {
            Some(ErrorKind::UnknownKey { suggestion, allowed }) => {
                assert_eq!(suggestion.as_deref(), Some("hold_time"));
                assert!(allowed.iter().any(|k| k == "route_reflector_client"));
            }
            k => panic!("{k:?}"),
        }
        // Sections, dashes and case.
        let kind = invalid(&MINIMAL.replace("[global]", "[gloabl]"), 1, 2, "gloabl");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "global"));
        let kind = invalid(&MINIMAL.replace("router_id", "router-id"), 3, 1, "global.router-id");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "router_id"));
        let kind = invalid(&format!("{MINIMAL}Families = []\n"), 8, 1, "neighbor[0].Families");
        assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "families"));
    }

    #[test]
    fn unknown_key_without_suggestion_lists_the_allowed() {
        // `limit` belongs to neighbor_range, not neighbor.
        let kind = invalid(&format!("{MINIMAL}limit = 5\n"), 8, 1, "neighbor[0].limit");
        let shown = kind.to_string();
        assert!(shown.starts_with("unknown key; expected one of: address, asn, description"), "{shown}");
        // Nested tables are unknown keys too.
        invalid(&format!("{MINIMAL}[global.timers]\nhold = 3\n"), 8, 9, "global.timers");
        // Inline tables and arrays of them.
        let text = "[global]\nasn = 1\nrouter_id = \"1.1.1.1\"\n\
                    neighbor = 3\n";
        invalid(text, 4, 1, "global.neighbor");
        let text = "neighbor = [{ address = \"10.0.0.2\", asn = 1, description = \"äöü\", bogus = 1 }]\n\
                    [global]\nasn = 1\nrouter_id = \"1.1.1.1\"\n";
        invalid(text, 1, 67, "neighbor[0].bogus"); // ü counts as one column
    }

    #[test]
    fn wrong_type() {
        let kind = invalid(&MINIMAL.replace("asn = 65000", "asn = \"65000\""), 2, 7, "global.asn");
        assert_eq!(kind, ErrorKind::Type("expected an integer, found string \"65000\"".into()));
        let kind = invalid(&format!("{MINIMAL}passive = \"yes\"\n"), 8, 11, "neighbor[0].passive");
        assert_eq!(kind, ErrorKind::Type("expected a boolean, found string \"yes\"".into()));
        let kind = invalid(&format!("{MINIMAL}families = \"ipv4-unicast\"\n"), 8, 12, "neighbor[0].families");
        assert!(matches!(kind, ErrorKind::Type(m) if m.starts_with("expected an array")));
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\nlisten = [\"0.0.0.0:179\", 179]");
        let kind = invalid(&text, 3, 26, "global.listen[1]");
        assert_eq!(kind, ErrorKind::Type("expected a string, found integer 179".into()));
        invalid(&MINIMAL.replace("[[neighbor]]", "[neighbor]"), 5, 1, "neighbor");
        invalid(&MINIMAL.replace("asn = 65000", "asn = 1.5"), 2, 7, "global.asn");
        let kind = invalid(&format!("{MINIMAL}hold_time = 2024-01-01\n"), 8, 13, "neighbor[0].hold_time");
        assert_eq!(kind, ErrorKind::Type("expected an integer, found a date-time".into()));
        let kind = invalid(&MINIMAL.replace("asn = 65000", "asn = 99999999999999999999"), 2, 7, "global.asn");
        assert_eq!(value_msg(kind), "integer out of range");
    }

    #[test]
    fn missing_keys() {
        invalid("# nothing\n", 1, 1, "global");
        invalid(&MINIMAL.replace("asn = 65000\n", ""), 1, 1, "global.asn");
        invalid(&MINIMAL.replace("router_id = \"10.0.0.1\"\n", ""), 1, 1, "global.router_id");
        let kind = invalid(&MINIMAL.replace("asn = 65001\n", ""), 5, 1, "neighbor[0].asn");
        assert_eq!(kind, ErrorKind::Missing);
        assert_eq!(kind.to_string(), "missing required key");
        invalid(&MINIMAL.replace("address = \"10.0.0.2\"\n", ""), 5, 1, "neighbor[0].address");
        invalid(&format!("{MINIMAL}[[neighbor_range]]\nasn = 1\n"), 8, 1, "neighbor_range[0].prefix");
    }

    #[test]
    fn syntax_error() {
        let e = parse("bgp.toml", "[global]\nasn = 65000\nrouter_id = 10.0.0.1\n").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 3, .. }), "{e}");
        assert!(e.to_string().starts_with("bgp.toml:3:"), "{e}");
        assert!(!e.to_string().contains('\n'));
        let e = parse("bgp.toml", "[global]\nasn = 1\nasn = 2\n").unwrap_err();
        assert_eq!(e.position(), Some((3, 1)), "{e}");
        assert!(e.to_string().contains("duplicate key"), "{e}");
    }

    #[test]
    fn bad_addresses() {
        let kind = invalid(&MINIMAL.replace("\"10.0.0.2\"", "\"10.0.0.300\""), 6, 11, "neighbor[0].address");
        assert_eq!(value_msg(kind), "\"10.0.0.300\" is not an IPv4 or IPv6 address");
        invalid(&MINIMAL.replace("\"10.0.0.2\"", "\"0.0.0.0\""), 6, 11, "neighbor[0].address");
        invalid(&MINIMAL.replace("\"10.0.0.2\"", "\"ff02::5\""), 6, 11, "neighbor[0].address");
        invalid(&MINIMAL.replace("\"10.0.0.1\"", "\"::1\""), 3, 13, "global.router_id");
        let kind = invalid(&MINIMAL.replace("\"10.0.0.1\"", "\"0.0.0.0\""), 3, 13, "global.router_id");
        assert_eq!(value_msg(kind), "0.0.0.0 is not a valid router ID");
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\nlisten = [\"0.0.0.0:179\", \"[::]\"]");
        invalid(&text, 3, 26, "global.listen[1]");
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\nlisten = [\"[::]:179\", \"[::]:179\"]");
        invalid(&text, 3, 23, "global.listen[1]");
        // local_address of the other family.
        let kind = invalid(&format!("{MINIMAL}local_address = \"2001:db8::1\"\n"), 8, 17, "neighbor[0].local_address");
        assert!(conflict_msg(kind).contains("different families"));
    }

    #[test]
    fn bad_prefix() {
        let range = "[[neighbor_range]]\nasn = 65000\nprefix = \"10.0.0.0/33\"\n";
        let kind = invalid(&format!("{MINIMAL}{range}"), 10, 10, "neighbor_range[0].prefix");
        assert!(value_msg(kind).contains("is not an IPv4 or IPv6 prefix"));
        let kind = invalid(
            &format!("{MINIMAL}{}", range.replace("10.0.0.0/33", "10.0.0.1/24")),
            10,
            10,
            "neighbor_range[0].prefix",
        );
        assert_eq!(value_msg(kind), "\"10.0.0.1/24\" has host bits set; did you mean \"10.0.0.0/24\"?");
        invalid(&format!("{MINIMAL}{}", range.replace("10.0.0.0/33", "10.0.0.0")), 10, 10, "neighbor_range[0].prefix");
        // Overlap: one inside another, either order.
        let two = "[[neighbor_range]]\nprefix = \"10.0.0.0/16\"\nasn = 1\n\
                   [[neighbor_range]]\nprefix = \"10.0.5.0/24\"\nasn = 1\n";
        let kind = invalid(&format!("{MINIMAL}{two}"), 12, 10, "neighbor_range[1].prefix");
        assert_eq!(conflict_msg(kind), "10.0.5.0/24 overlaps neighbor_range[0].prefix 10.0.0.0/16 (line 9)");
        // Different families and disjoint prefixes are fine.
        let two = "[[neighbor_range]]\nprefix = \"10.0.0.0/24\"\nasn = 1\n\
                   [[neighbor_range]]\nprefix = \"10.0.1.0/24\"\nasn = 1\n\
                   [[neighbor_range]]\nprefix = \"::/0\"\nasn = 1\n";
        assert_eq!(ok(&format!("{MINIMAL}{two}")).neighbor_ranges().len(), 3);
        let kind = invalid(
            &format!("{MINIMAL}{range}limit = 0\n", range = range.replace("/33", "/24")),
            11,
            9,
            "neighbor_range[0].limit",
        );
        assert_eq!(value_msg(kind), "0 is not a valid session limit (1..=10000)");
    }

    #[test]
    fn duplicate_neighbor() {
        let text = format!("{MINIMAL}\n[[neighbor]]\naddress = \"::ffff:10.0.0.2\"\nasn = 65002\n");
        let kind = invalid(&text, 10, 11, "neighbor[1].address");
        assert_eq!(conflict_msg(kind), "duplicate neighbor address 10.0.0.2: already neighbor[0] (line 6)");
    }

    #[test]
    fn out_of_range_hold_time() {
        for bad in [1, 2, 65536, -1] {
            let kind = invalid(
                &MINIMAL.replace("asn = 65000", &format!("asn = 65000\nhold_time = {bad}")),
                3,
                13,
                "global.hold_time",
            );
            assert!(value_msg(kind).starts_with(&format!("{bad} is not a valid hold time: use 0")));
            invalid(&format!("{MINIMAL}hold_time = {bad}\n"), 8, 13, "neighbor[0].hold_time");
        }
        ok(&format!("{MINIMAL}hold_time = 3\n"));
        ok(&format!("{MINIMAL}hold_time = 65535\n"));
    }

    #[test]
    fn bad_asn() {
        let kind = invalid(&MINIMAL.replace("asn = 65000", "asn = 0"), 2, 7, "global.asn");
        assert_eq!(value_msg(kind), "0 is not a valid AS number (1..=4294967295)");
        invalid(&MINIMAL.replace("asn = 65000", "asn = 4294967296"), 2, 7, "global.asn");
        let kind = invalid(&MINIMAL.replace("asn = 65001", "asn = 23456"), 7, 7, "neighbor[0].asn");
        assert!(value_msg(kind).contains("AS_TRANS"));
        ok(&MINIMAL.replace("asn = 65000", "asn = 4294967295"));
    }

    #[test]
    fn bad_family() {
        let kind =
            invalid(&format!("{MINIMAL}families = [\"ipv4-unicast\", \"ipv4\"]\n"), 8, 29, "neighbor[0].families[1]");
        assert!(value_msg(kind).starts_with("unknown family \"ipv4\""));
        let kind = invalid(&format!("{MINIMAL}families = []\n"), 8, 12, "neighbor[0].families");
        assert!(value_msg(kind).contains("at least one family"));
        let text = format!("{MINIMAL}families = [\"ipv6-unicast\", \"ipv6-unicast\"]\n");
        let kind = invalid(&text, 8, 29, "neighbor[0].families[1]");
        assert_eq!(conflict_msg(kind), "ipv6-unicast is listed twice");
    }

    #[test]
    fn relative_control_socket() {
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\ncontrol_socket = \"run/bgpctl.sock\"");
        let kind = invalid(&text, 3, 18, "global.control_socket");
        assert_eq!(value_msg(kind), "\"run/bgpctl.sock\" is not an absolute path");
        let long = format!("/{}", "x".repeat(107));
        invalid(
            &MINIMAL.replace("asn = 65000", &format!("asn = 65000\ncontrol_socket = \"{long}\"")),
            3,
            18,
            "global.control_socket",
        );
    }

    #[test]
    fn bad_on_stop() {
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\non_stop = \"graceful\"");
        let kind = invalid(&text, 3, 11, "global.on_stop");
        assert_eq!(value_msg(kind), "unknown value \"graceful\" (expected \"graceful-restart\" or \"shutdown\")");
        let kind = invalid(&format!("{MINIMAL}add_path = \"yes\"\n"), 8, 12, "neighbor[0].add_path");
        assert!(value_msg(kind).contains("\"off\", \"receive\", \"send\" or \"both\""));
    }

    #[test]
    fn other_ranges() {
        let g = |line: &str| MINIMAL.replace("asn = 65000", &format!("asn = 65000\n{line}"));
        invalid(&g("connect_retry = 0"), 3, 17, "global.connect_retry");
        invalid(&g("connect_retry = 3601"), 3, 17, "global.connect_retry");
        let kind = invalid(&g("connect_retry = 10\nconnect_retry_max = 5"), 4, 21, "global.connect_retry_max");
        assert_eq!(conflict_msg(kind), "5 is less than connect_retry (10)");
        let kind = invalid(&g("connect_retry = 300"), 3, 17, "global.connect_retry");
        assert!(conflict_msg(kind).contains("raise connect_retry_max"));
        ok(&g("connect_retry = 300\nconnect_retry_max = 300"));
        invalid(&g("graceful_restart_time = 4096"), 3, 25, "global.graceful_restart_time");
        invalid(&g("graceful_restart_time = 0"), 3, 25, "global.graceful_restart_time");
        invalid(&g("hostname = \"rr 1\""), 3, 12, "global.hostname");
        invalid(&g("hostname = \"\""), 3, 12, "global.hostname");
        invalid(&format!("{MINIMAL}port = 0\n"), 8, 8, "neighbor[0].port");
        invalid(&format!("{MINIMAL}ttl_security = 0\n"), 8, 16, "neighbor[0].ttl_security");
        invalid(&format!("{MINIMAL}ttl_security = 255\n"), 8, 16, "neighbor[0].ttl_security");
        ok(&format!("{MINIMAL}password = \"{}\"\n", "k".repeat(80)));
        let kind = invalid(&format!("{MINIMAL}password = \"{}\"\n", "k".repeat(81)), 8, 12, "neighbor[0].password");
        assert_eq!(value_msg(kind), "a TCP-MD5 key is 1..=80 bytes, this one is 81");
        invalid(&format!("{MINIMAL}password = \"\"\n"), 8, 12, "neighbor[0].password");
    }

    #[test]
    fn cross_checks() {
        // Reflection needs iBGP.
        let kind =
            invalid(&format!("{MINIMAL}route_reflector_client = true\n"), 8, 26, "neighbor[0].route_reflector_client");
        assert!(conflict_msg(kind).contains("RFC 4456"));
        // Nothing listens, but something must be accepted.
        let text = MINIMAL.replace("asn = 65000", "asn = 65000\nlisten = []");
        invalid(&format!("{text}passive = true\n"), 3, 10, "global.listen");
        invalid(&format!("{text}[[neighbor_range]]\nprefix = \"10.9.0.0/24\"\nasn = 1\n"), 3, 10, "global.listen");
        ok(&format!("{text}passive = true\nshutdown = true\n"));
    }

    #[test]
    fn explicit_neighbor_wins_over_range() {
        let text = format!("{MINIMAL}[[neighbor_range]]\nprefix = \"10.0.0.0/24\"\nasn = 65000\nlimit = 5\n");
        let c = ok(&text);
        let router = c.peer_for(v4("10.0.0.2")).unwrap();
        assert!(matches!(router, PeerMatch::Neighbor(n) if n.address == v4("10.0.0.2")));
        assert_eq!(router.settings().asn, 65001);
        // As a dual-stack listener reports it.
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped());
        assert!(matches!(c.peer_for(mapped), Some(PeerMatch::Neighbor(_))));
        let node = c.peer_for(v4("10.0.0.77")).unwrap();
        assert!(matches!(node, PeerMatch::Range(r) if r.limit == 5));
        assert_eq!(c.range_for(v4("10.0.0.2")).map(|r| r.limit), Some(5));
        assert_eq!(c.peer_for(v4("10.0.1.1")), None);
        assert_eq!(c.peer_for(IpAddr::V6(Ipv6Addr::LOCALHOST)), None);
    }

    #[test]
    fn peer_config_mapping() {
        let neighbor_keys = "add_path = \"both\"\nfamilies = [\"ipv6-unicast\"]\nhold_time = 30\npassive = true\n";
        let text = format!("{GLOBAL}hostname = \"rr1\"\n{NEIGHBOR}{neighbor_keys}");
        let c = ok(&text);
        let n = &c.neighbors()[0];
        let p = n.peer_config(c.global());
        assert_eq!((p.local_as, p.remote_as, p.router_id), (65000, 65001, Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(p.hold_time, 30);
        assert!(p.passive);
        assert_eq!(p.families, vec![Family::IPV6_UNICAST]);
        assert_eq!(p.add_path, vec![AddPathFamily { family: Family::IPV6_UNICAST, send_receive: 3 }]);
        let gr = p.graceful_restart.expect("graceful restart is on by default");
        assert_eq!((gr.restart_time, gr.restarting, gr.notification), (120, false, true));
        assert_eq!(
            gr.families,
            vec![GracefulRestartFamily { family: Family::IPV6_UNICAST, forwarding_preserved: false }]
        );
        assert_eq!(p.hostname.as_deref(), Some("rr1"));
        assert_eq!((p.connect_retry, p.connect_retry_max), (Duration::from_secs(2), Duration::from_secs(120)));
        let off = PeerSettings { graceful_restart: false, ..n.settings.clone() }.peer_config(c.global(), false);
        assert!(off.graceful_restart.is_none() && !off.passive);
    }

    #[test]
    fn password_is_not_in_debug() {
        let c = ok(&format!("{MINIMAL}password = \"hunter2\"\n"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn positions_count_characters() {
        let cx = Cx { file: "f", text: "ab\nüx = 1\n" };
        assert_eq!(cx.position(0), (1, 1));
        assert_eq!(cx.position(3), (2, 1));
        assert_eq!(cx.position(5), (2, 2)); // after the two-byte ü
        assert_eq!(cx.position(4), (2, 1)); // inside ü: its start
        assert_eq!(cx.position(100), (3, 1));
    }

    #[test]
    fn edit_distance() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("hold_tim", "hold_time"), 1);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("abc", ""), 3);
        let allowed: Vec<String> = ["asn", "address", "passive", "password"].map(String::from).into();
        assert_eq!(did_you_mean("pasword", &allowed).as_deref(), Some("password"));
        assert_eq!(did_you_mean("as", &allowed).as_deref(), Some("asn"));
        assert_eq!(did_you_mean("xyz", &allowed), None);
        assert_eq!(did_you_mean("ASN", &allowed).as_deref(), Some("asn"));
    }

    #[test]
    fn read_error_names_the_file() {
        let e = load(Path::new("/nonexistent/bgp.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        assert!(e.to_string().starts_with("/nonexistent/bgp.toml: cannot read: "), "{e}");
        assert_eq!(e.position(), None);
    }
}
