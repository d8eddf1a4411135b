//! The per-peer keys: what a `[[neighbor]]` and a `[[neighbor_range]]` share, in one
//! place. [`PeerSettings`] is their validated form; the table in `peer_tables!` below
//! declares them once for both raw tables (and the keys only one of them has).
//!
//! To add a per-peer key, everything is in this file (then document it in
//! `configs/KEYS.md`, which `bgp-core/tests/configs.rs` checks):
//! 1. a line `key: RawType => both,` in the `peer_tables!` invocation, where error
//!    messages should list it;
//! 2. its typed field in [`PeerSettings`] with its default in [`PeerSettings::new`]
//!    (and in the `Debug` impl, which the compiler enforces);
//! 3. its check in `Cx::peer`, at the same place in the order, so the first problem
//!    found is still the first in the file's key order.
//!
//! A key of `[[neighbor]]` only (or `[[neighbor_range]]` only) gets `=> neighbor`
//! (`=> range`) in the table and its check in `Cx::neighbor` (`Cx::range`).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::raw::Opt;
use super::*;
use crate::fsm::PeerConfig;
use crate::names::{self, named_enum};
use crate::policy::{PolicyRef, PolicySet, ACCEPT_ALL};
use crate::types::Family;
use crate::wire::open::{AddPathFamily, GracefulRestart, GracefulRestartFamily, LlgrFamily};

/// Declares `RawNeighbor` and `RawRange` from one key table, in the table's order
/// (which is the order "expected one of: ..." lists them in), and `RawPeer`, the keys
/// both have, borrowed from either. Each line is `key: RawType => neighbor | range |
/// both,`.
macro_rules! peer_tables {
    (@acc [$($n:tt)*] [$($r:tt)*] [$($p:ident: $pt:ty,)*]) => {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct RawNeighbor { $($n)* }

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct RawRange { $($r)* }

        /// The keys a neighbor and a range share, borrowed from either.
        pub(crate) struct RawPeer<'a> { $(pub(crate) $p: &'a Opt<$pt>,)* }

        impl RawNeighbor {
            pub(crate) fn peer(&self) -> RawPeer<'_> {
                RawPeer { $($p: &self.$p,)* }
            }
        }

        impl RawRange {
            pub(crate) fn peer(&self) -> RawPeer<'_> {
                RawPeer { $($p: &self.$p,)* }
            }
        }
    };
    (@acc [$($n:tt)*] [$($r:tt)*] [$($p:tt)*] $key:ident: $t:ty => neighbor, $($rest:tt)*) => {
        peer_tables!(@acc [$($n)* pub(crate) $key: Opt<$t>,] [$($r)*] [$($p)*] $($rest)*);
    };
    (@acc [$($n:tt)*] [$($r:tt)*] [$($p:tt)*] $key:ident: $t:ty => range, $($rest:tt)*) => {
        peer_tables!(@acc [$($n)*] [$($r)* pub(crate) $key: Opt<$t>,] [$($p)*] $($rest)*);
    };
    (@acc [$($n:tt)*] [$($r:tt)*] [$($p:tt)*] $key:ident: $t:ty => both, $($rest:tt)*) => {
        peer_tables!(@acc
            [$($n)* pub(crate) $key: Opt<$t>,] [$($r)* pub(crate) $key: Opt<$t>,] [$($p)* $key: $t,] $($rest)*);
    };
    ($($table:tt)*) => {
        peer_tables!(@acc [] [] [] $($table)*);
    };
}

peer_tables! {
    address: String => neighbor,
    prefix: String => range,
    asn: i64 => both,
    limit: i64 => range,
    description: String => both,
    port: i64 => neighbor,
    passive: bool => neighbor,
    password: String => both,
    hold_time: i64 => both,
    local_address: String => neighbor,
    ttl_security: i64 => both,
    families: Vec<Spanned<String>> => both,
    graceful_restart: bool => both,
    add_path: String => both,
    route_reflector_client: bool => both,
    shutdown: bool => neighbor,
    allow_as_in: i64 => both,
    next_hop_self: bool => both,
    remove_private_as: bool => both,
    max_prefixes: i64 => both,
    max_prefixes_action: String => both,
    max_prefixes_restart_after: i64 => both,
    import_policy: String => both,
    export_policy: String => both,
    long_lived_stale_time: i64 => both,
    bfd: bool => both,
    bfd_interval_ms: i64 => both,
    bfd_multiplier: i64 => both,
}

named_enum! {
    /// `add_path`: ADD-PATH (RFC 7911) offered for every family of the session.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub enum AddPath parse "value" {
        /// `"off"`: do not advertise the capability.
        #[default]
        Off = "off",
        /// `"receive"`: accept several paths per prefix from the peer.
        Receive = "receive",
        /// `"send"`: send several paths per prefix to the peer.
        Send = "send",
        /// `"both"`.
        Both = "both",
    }
}

impl AddPath {
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

/// `max_prefixes`: how many routes a peer may send, and what happens beyond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MaxPrefixes {
    /// Most routes held from the peer (refused ones are not kept, so they do not
    /// count), 1..=4294967295.
    pub limit: u32,
    pub action: MaxPrefixesAction,
}

named_enum! {
    /// `max_prefixes_action` (and `max_prefixes_restart_after`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum MaxPrefixesAction {
        /// `"warn"`: log a warning (once per crossing), keep the session and the routes.
        Warn = "warn",
        /// `"restart"` (the default): close the session with Cease / Maximum Number of
        /// Prefixes Reached (RFC 4486) and connect or accept again only `after` this long
        /// (`max_prefixes_restart_after`, default 60 s).
        Restart { after: Duration } = "restart",
    }
}

/// `bfd = true`: a BFD session (RFC 5880, single hop per RFC 5881) protects the BGP
/// session; when BFD goes down, the BGP session is closed at once (Cease / BFD Down,
/// RFC 9384) and its routes withdrawn, not kept as stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bfd {
    /// `bfd_interval_ms`: our desired minimum TX and required minimum RX interval,
    /// [`BFD_INTERVAL_MS`] (default [`DEFAULT_BFD_INTERVAL`]).
    pub interval: Duration,
    /// `bfd_multiplier`: packets missed before the session is down,
    /// [`BFD_MULTIPLIER`] (default [`DEFAULT_BFD_MULTIPLIER`]).
    pub multiplier: u8,
}

impl Default for Bfd {
    fn default() -> Bfd {
        Bfd { interval: DEFAULT_BFD_INTERVAL, multiplier: DEFAULT_BFD_MULTIPLIER }
    }
}

impl Bfd {
    /// How long without a packet before the session is down, if the peer sends at
    /// our interval with our multiplier.
    pub fn detection_time(&self) -> Duration {
        self.interval * u32::from(self.multiplier)
    }
}

/// What a session with a peer negotiates, how it is protected and which routes pass:
/// the keys a `[[neighbor]]` and a `[[neighbor_range]]` share.
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
    /// How many times our AS may appear in an AS_PATH received from the peer before
    /// the route counts as a loop, 0..=10. Default 0.
    pub allow_as_in: u8,
    /// Set the next hop of routes sent to the peer to our address on the session.
    /// Default false.
    pub next_hop_self: bool,
    /// Remove private ASNs from the AS_PATH of routes sent to the peer; eBGP peers
    /// only. Default false.
    pub remove_private_as: bool,
    /// Prefix limit; `None`: no limit (the default).
    pub max_prefixes: Option<MaxPrefixes>,
    /// Name of the policy for routes from the peer (a `[[policy]]` or a built-in).
    /// `None`: see [`PeerSettings::effective_import`].
    pub import_policy: Option<String>,
    /// Name of the policy for routes to the peer. `None`: see
    /// [`PeerSettings::effective_export`].
    pub export_policy: Option<String>,
    /// Long-lived graceful restart (RFC 9494): the stale time we advertise and the
    /// longest we keep this peer's routes as LLGR_STALE, 0..=16777215 s. 0 (the
    /// default): the capability is not advertised.
    pub long_lived_stale_time: u32,
    /// BFD protection; `None`: off (the default). A reload that changes only this
    /// keeps the BGP session (the BFD session is added, removed or retuned).
    pub bfd: Option<Bfd>,
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
            allow_as_in: 0,
            next_hop_self: false,
            remove_private_as: false,
            max_prefixes: None,
            import_policy: None,
            export_policy: None,
            long_lived_stale_time: 0,
            bfd: None,
        }
    }

    /// The import policy: `import_policy` when set; otherwise `accept-all` for an
    /// iBGP peer and, for an eBGP peer, [`PolicyRef::Rfc8212Deny`] (RFC 8212: no
    /// route is accepted from an eBGP peer without a policy).
    pub fn effective_import(&self, global: &Global) -> PolicyRef<'_> {
        self.effective(&self.import_policy, global)
    }

    /// The export policy, with the same defaults as [`PeerSettings::effective_import`]
    /// (RFC 8212: no route is sent to an eBGP peer without a policy).
    pub fn effective_export(&self, global: &Global) -> PolicyRef<'_> {
        self.effective(&self.export_policy, global)
    }

    fn effective<'a>(&'a self, configured: &'a Option<String>, global: &Global) -> PolicyRef<'a> {
        match configured {
            Some(name) => PolicyRef::Named(name),
            None if self.is_internal(global) => PolicyRef::Named(ACCEPT_ALL),
            None => PolicyRef::Rfc8212Deny,
        }
    }

    /// For the log and `bgpctl`: why nothing passes in one or both directions of an
    /// eBGP session (RFC 8212) and what to set; `None` when policies are in place.
    pub fn rfc8212_notice(&self, global: &Global) -> Option<String> {
        let import = self.effective_import(global).is_rfc8212_deny();
        let export = self.effective_export(global).is_rfc8212_deny();
        let (what, keys) = match (import, export) {
            (false, false) => return None,
            (true, true) => ("no route is accepted from or sent to", "import_policy and export_policy"),
            (true, false) => ("no route is accepted from", "import_policy"),
            (false, true) => ("no route is sent to", "export_policy"),
        };
        Some(format!(
            "RFC 8212: {what} this eBGP neighbor because it has no {keys}; \
             set {keys} to a [[policy]] (or \"accept-all\")"
        ))
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
        cfg.min_hold_time = global.min_hold_time;
        cfg.send_hold_time = global.send_hold_time.map(|s| Duration::from_secs(s.into()));
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
        cfg.long_lived_graceful_restart = (self.long_lived_stale_time > 0).then(|| {
            // The F bits are clear, as for GR; a restarting daemon sets both.
            let entry =
                |family| LlgrFamily { family, forwarding_preserved: false, stale_time: self.long_lived_stale_time };
            self.families.iter().map(|&f| entry(f)).collect()
        });
        cfg.hostname = global.hostname.clone();
        cfg.connect_retry = global.connect_retry;
        cfg.connect_retry_max = global.connect_retry_max;
        cfg
    }
}

impl fmt::Debug for PeerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured, so a new field cannot be left out.
        let PeerSettings {
            asn,
            description,
            password,
            hold_time,
            ttl_security,
            families,
            graceful_restart,
            add_path,
            route_reflector_client,
            allow_as_in,
            next_hop_self,
            remove_private_as,
            max_prefixes,
            import_policy,
            export_policy,
            long_lived_stale_time,
            bfd,
        } = self;
        f.debug_struct("PeerSettings")
            .field("asn", asn)
            .field("description", description)
            .field("password", &password.as_ref().map(|_| "<redacted>"))
            .field("hold_time", hold_time)
            .field("ttl_security", ttl_security)
            .field("families", families)
            .field("graceful_restart", graceful_restart)
            .field("add_path", add_path)
            .field("route_reflector_client", route_reflector_client)
            .field("allow_as_in", allow_as_in)
            .field("next_hop_self", next_hop_self)
            .field("remove_private_as", remove_private_as)
            .field("max_prefixes", max_prefixes)
            .field("import_policy", import_policy)
            .field("export_policy", export_policy)
            .field("long_lived_stale_time", long_lived_stale_time)
            .field("bfd", bfd)
            .finish()
    }
}

impl Cx<'_> {
    pub(crate) fn peer<T>(
        &self,
        global: &Global,
        policies: &PolicySet,
        table: &Spanned<T>,
        raw: RawPeer<'_>,
        path: &str,
    ) -> Res<PeerSettings> {
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
        if let Some(v) = raw.allow_as_in {
            let max = i64::from(MAX_ALLOW_AS_IN);
            out.allow_as_in = self.int(v, &key("allow_as_in"), 0..max + 1, "count of our AS in a path")? as u8;
        }
        if let Some(v) = raw.next_hop_self {
            out.next_hop_self = *v.get_ref();
        }
        if let Some(v) = raw.remove_private_as {
            if *v.get_ref() && out.is_internal(global) {
                return Err(self.err(
                    v,
                    key("remove_private_as"),
                    ErrorKind::Conflict(format!(
                        "private ASNs are removed towards eBGP peers only, but asn {} is global.asn",
                        out.asn
                    )),
                ));
            }
            out.remove_private_as = *v.get_ref();
        }
        out.max_prefixes = self.max_prefixes(&raw, path)?;
        if let Some(v) = raw.import_policy {
            out.import_policy = Some(self.policy_name(v, &key("import_policy"), policies)?);
        }
        if let Some(v) = raw.export_policy {
            out.export_policy = Some(self.policy_name(v, &key("export_policy"), policies)?);
        }
        if let Some(v) = raw.long_lived_stale_time {
            let what = "long-lived stale time in seconds (RFC 9494: 24 bits)";
            out.long_lived_stale_time = self.int(v, &key("long_lived_stale_time"), 0..(1 << 24), what)? as u32;
        }
        out.bfd = self.bfd(&raw, path)?;
        Ok(out)
    }

    /// `bfd`, `bfd_interval_ms`, `bfd_multiplier`. The tuning keys need `bfd`; with
    /// `bfd = false` they are accepted (BFD switched off, its tuning kept for later).
    pub(crate) fn bfd(&self, raw: &RawPeer<'_>, path: &str) -> Res<Option<Bfd>> {
        let key = |k: &str| format!("{path}.{k}");
        let mut bfd = Bfd::default();
        if let Some(v) = raw.bfd_interval_ms {
            let (lo, hi) = (*BFD_INTERVAL_MS.start(), *BFD_INTERVAL_MS.end());
            let ms = self.int(v, &key("bfd_interval_ms"), lo..hi + 1, "BFD interval in milliseconds")?;
            bfd.interval = Duration::from_millis(ms as u64);
        }
        if let Some(v) = raw.bfd_multiplier {
            let (lo, hi) = (i64::from(*BFD_MULTIPLIER.start()), i64::from(*BFD_MULTIPLIER.end()));
            bfd.multiplier = self.int(v, &key("bfd_multiplier"), lo..hi + 1, "BFD detection multiplier")? as u8;
        }
        let Some(on) = raw.bfd else {
            let given = [
                ("bfd_interval_ms", raw.bfd_interval_ms.as_ref().map(|v| v.span())),
                ("bfd_multiplier", raw.bfd_multiplier.as_ref().map(|v| v.span())),
            ];
            if let Some((k, Some(span))) = given.into_iter().find(|(_, span)| span.is_some()) {
                return Err(self.err_at(
                    span.start,
                    key(k),
                    ErrorKind::Conflict("has no effect without bfd = true".into()),
                ));
            }
            return Ok(None);
        };
        Ok(on.get_ref().then_some(bfd))
    }

    pub(crate) fn max_prefixes(&self, raw: &RawPeer<'_>, path: &str) -> Res<Option<MaxPrefixes>> {
        let key = |k: &str| format!("{path}.{k}");
        let after = match raw.max_prefixes_restart_after {
            Some(v) => {
                Duration::from_secs(
                    self.int(v, &key("max_prefixes_restart_after"), 1..86401, "delay in seconds")? as u64
                )
            }
            None => DEFAULT_MAX_PREFIXES_RESTART_AFTER,
        };
        let action = match raw.max_prefixes_action {
            None => MaxPrefixesAction::Restart { after },
            Some(v) => {
                let actions = [MaxPrefixesAction::Warn, MaxPrefixesAction::Restart { after }];
                match actions.into_iter().find(|a| a.as_str() == v.get_ref()) {
                    Some(action) => action,
                    None => {
                        let message = names::unknown("value", v.get_ref(), MaxPrefixesAction::NAMES);
                        return Err(self.value_err(v, key("max_prefixes_action"), message));
                    }
                }
            }
        };
        if let (MaxPrefixesAction::Warn, Some(v)) = (action, raw.max_prefixes_restart_after) {
            return Err(self.err(
                v,
                key("max_prefixes_restart_after"),
                ErrorKind::Conflict("has no effect with max_prefixes_action = \"warn\"".into()),
            ));
        }
        let Some(limit) = raw.max_prefixes else {
            let given = [
                ("max_prefixes_action", raw.max_prefixes_action.as_ref().map(|v| v.span())),
                ("max_prefixes_restart_after", raw.max_prefixes_restart_after.as_ref().map(|v| v.span())),
            ];
            if let Some((k, Some(span))) = given.into_iter().find(|(_, span)| span.is_some()) {
                return Err(self.err_at(
                    span.start,
                    key(k),
                    ErrorKind::Conflict("has no effect without max_prefixes".into()),
                ));
            }
            return Ok(None);
        };
        let limit = self.int(limit, &key("max_prefixes"), 1..1 << 32, "prefix limit")? as u32;
        Ok(Some(MaxPrefixes { limit, action }))
    }

    /// `import_policy` / `export_policy`: a policy of `policies`, built-ins included.
    pub(crate) fn policy_name(&self, value: &Spanned<String>, key: &str, policies: &PolicySet) -> Res<String> {
        let name = value.get_ref();
        if policies.contains(name) {
            return Ok(name.clone());
        }
        let known: Vec<String> = policies.names().map(str::to_string).collect();
        let hint = match did_you_mean(name, &known) {
            Some(s) => format!("; did you mean {s:?}?"),
            None => format!(" (there are: {})", known.join(", ")),
        };
        Err(self.value_err(value, key, format!("no policy named {name:?}{hint}")))
    }
}
