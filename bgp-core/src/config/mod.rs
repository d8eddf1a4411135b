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
//! import_policy = "from-nodes"
//!
//! [[prefix_list]]
//! name = "pods"
//! entries = [{ prefix = "10.42.0.0/16", ge = 26, le = 26 }]
//!
//! [[policy]]
//! name = "from-nodes"
//! [[policy.term]]
//! name = "pods"
//! match.prefix_list = "pods"
//! action = "accept"
//!
//! [[announce]]
//! prefix = "192.168.6.10/32"
//!
//! [kernel]
//! install = true
//!
//! [[kernel.import]]
//! within = ["10.42.0.0/16"]
//! protocol = ["bird"]
//! type = ["blackhole"]
//! ```
//!
//! Policies are compiled here into a [`PolicySet`] ([`Config::policies`]), so the
//! daemon never parses them again; eBGP neighbors without `import_policy` /
//! `export_policy` get RFC 8212's "nothing in, nothing out"
//! ([`PeerSettings::effective_import`]).
//!
//! Every key with its type, default and meaning: `configs/KEYS.md`; annotated examples:
//! `configs/*.toml` (all parsed by `bgp-core/tests/configs.rs`).
//!
//! Errors are one line each, `FILE:LINE:COLUMN: KEY: what is wrong`, e.g.
//! `bgp.toml:12:5: neighbor[1].hold_tim: unknown key; did you mean "hold_time"?`.
//! Key paths count array entries from 0 in file order (`neighbor[2].address`,
//! `neighbor_range[0].prefix`, `global.listen[1]`, `policy[0].term[1].match.community[0]`);
//! columns count characters from 1.
//! Unknown keys, wrong types, values out of range and contradictions between
//! sections are all errors: nothing is silently ignored, and the first problem found
//! is reported.
//!
//! The module by job: [`model`] holds the validated types, `raw` the file as serde
//! reads it, `validate` the checks and defaults, `diagnostics` the error type and
//! the "did you mean" hints, [`diff`] what a reload changes, [`rt_names`] the
//! kernel's table and protocol names (the one input besides the file: [`load`] reads
//! this host's, [`parse`] knows the built-ins). Policies and prefix lists are compiled
//! in `crate::policy::compile`.

mod diagnostics;
pub mod diff;
pub mod model;
mod peer;
pub(crate) mod raw;
pub mod rt_names;
pub(crate) mod validate;

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::de::DeTable;

use crate::types::Family;

pub use diagnostics::{ConfigError, ErrorKind};
pub use diff::{
    bfd_keys, diff, source_keys, DynamicAction, PeerPolicies, RangeChange, ReloadPlan, ReloadRefused, RoutingChange,
};
pub use model::*;
pub use peer::{AddPath, Bfd, MaxPrefixes, MaxPrefixesAction, PeerSettings};
pub use rt_names::{parse_rt_names, RtNames};

pub(crate) use diagnostics::{did_you_mean, Cx, Res};
use raw::RawConfig;

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
/// `global.drain_time` when absent: how long `on_stop = "drain-then-graceful-restart"`
/// drains before it stops; long enough for a router to move its best paths.
pub const DEFAULT_DRAIN_TIME: Duration = Duration::from_secs(15);
/// `neighbor.port` when absent.
pub const DEFAULT_PORT: u16 = 179;
/// `neighbor_range.limit` when absent.
pub const DEFAULT_RANGE_LIMIT: u32 = 100;
/// `families` when absent.
pub const DEFAULT_FAMILIES: [Family; 2] = [Family::IPV4_UNICAST, Family::IPV6_UNICAST];
/// `global.multipath` when absent: most equal-cost paths used per prefix.
pub const DEFAULT_MULTIPATH: u8 = 8;
/// `max_prefixes_restart_after` when absent.
pub const DEFAULT_MAX_PREFIXES_RESTART_AFTER: Duration = Duration::from_secs(60);
/// `bfd_interval_ms` when absent (the issue's default; FRR's is 300 ms too).
pub const DEFAULT_BFD_INTERVAL: Duration = Duration::from_millis(300);
/// `bfd_multiplier` when absent (FRR's and BIRD's default).
pub const DEFAULT_BFD_MULTIPLIER: u8 = 3;
/// `bfd_interval_ms` allowed, as FRR's `transmit-interval`/`receive-interval`.
pub const BFD_INTERVAL_MS: std::ops::RangeInclusive<i64> = 10..=60_000;
/// `bfd_multiplier` allowed, as FRR's `detect-multiplier` (1 would make a single lost
/// packet a failure).
pub const BFD_MULTIPLIER: std::ops::RangeInclusive<u8> = 2..=255;
/// Most ECMP paths `global.multipath` allows.
pub const MAX_MULTIPATH: u8 = 64;
/// Most times `allow_as_in` lets our AS appear in a received AS_PATH.
pub const MAX_ALLOW_AS_IN: u8 = 10;
/// Most copies one `prepend` puts in front of the AS_PATH.
pub const MAX_PREPEND: u8 = 10;
/// Longest policy, term or prefix list name.
pub const MAX_NAME_LEN: usize = 64;

/// Longest TCP-MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
const MAX_PASSWORD_LEN: usize = 80;
/// Longest Unix socket path (`sun_path` is 108 bytes with the terminating NUL).
const MAX_SOCKET_PATH_LEN: usize = 107;
/// Longest hostname the FQDN capability carries with an empty domain (1 + len + 1 ≤ 255).
const MAX_HOSTNAME_LEN: usize = 253;

/// Reads and parses the file at `path`, with this host's table and protocol names
/// ([`RtNames::system`]); errors name the file as `path` displays.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse_with_names(&path.display().to_string(), &text, &RtNames::system())
}

/// Parses and validates a configuration, knowing only the built-in table and
/// protocol names ([`RtNames::builtin`]). `file_name` only prefixes error messages.
pub fn parse(file_name: &str, text: &str) -> Result<Config, ConfigError> {
    parse_with_names(file_name, text, &RtNames::builtin())
}

/// [`parse`] with these table and protocol names for `[kernel]`.
pub fn parse_with_names(file_name: &str, text: &str, names: &RtNames) -> Result<Config, ConfigError> {
    let cx = Cx { file: file_name, text };
    let doc = DeTable::parse(text).map_err(|e| {
        let (line, column) = cx.position(e.span().map_or(0, |s| s.start));
        ConfigError::Syntax { file: file_name.to_string(), line, column, message: e.message().trim().to_string() }
    })?;
    let raw = RawConfig::deserialize(toml::de::Deserializer::from(doc.clone()))
        .map_err(|e| cx.serde_error(doc.get_ref(), &e))?;
    cx.resolve(&raw, names)
}

#[cfg(test)]
mod tests;
