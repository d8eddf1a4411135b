//! The file as serde reads it, before any check.

use serde::Deserialize;
use toml::Spanned;

// ---------------------------------------------------------------------------------
// The file as deserialized: every value that can be wrong keeps its span, numbers are
// i64 so range errors are ours, and everything optional is `Option` so defaults and
// "missing" messages are ours too.

pub(crate) type Opt<T> = Option<Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) global: Opt<RawGlobal>,
    #[serde(default)]
    pub(crate) neighbor: Vec<Spanned<RawNeighbor>>,
    #[serde(default)]
    pub(crate) neighbor_range: Vec<Spanned<RawRange>>,
    #[serde(default)]
    pub(crate) prefix_list: Vec<Spanned<RawPrefixList>>,
    #[serde(default)]
    pub(crate) policy: Vec<Spanned<RawPolicy>>,
    #[serde(default)]
    pub(crate) announce: Vec<Spanned<RawAnnounce>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGlobal {
    pub(crate) asn: Opt<i64>,
    pub(crate) router_id: Opt<String>,
    pub(crate) listen: Opt<Vec<Spanned<String>>>,
    pub(crate) control_socket: Opt<String>,
    pub(crate) hold_time: Opt<i64>,
    pub(crate) connect_retry: Opt<i64>,
    pub(crate) connect_retry_max: Opt<i64>,
    pub(crate) graceful_restart_time: Opt<i64>,
    pub(crate) on_stop: Opt<String>,
    pub(crate) hostname: Opt<String>,
    pub(crate) cluster_id: Opt<String>,
    pub(crate) multipath: Opt<i64>,
    pub(crate) always_compare_med: Opt<bool>,
    pub(crate) min_advertisement_interval: Opt<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNeighbor {
    pub(crate) address: Opt<String>,
    pub(crate) asn: Opt<i64>,
    pub(crate) description: Opt<String>,
    pub(crate) port: Opt<i64>,
    pub(crate) passive: Opt<bool>,
    pub(crate) password: Opt<String>,
    pub(crate) hold_time: Opt<i64>,
    pub(crate) local_address: Opt<String>,
    pub(crate) ttl_security: Opt<i64>,
    pub(crate) families: Opt<Vec<Spanned<String>>>,
    pub(crate) graceful_restart: Opt<bool>,
    pub(crate) add_path: Opt<String>,
    pub(crate) route_reflector_client: Opt<bool>,
    pub(crate) shutdown: Opt<bool>,
    pub(crate) allow_as_in: Opt<i64>,
    pub(crate) next_hop_self: Opt<bool>,
    pub(crate) remove_private_as: Opt<bool>,
    pub(crate) max_prefixes: Opt<i64>,
    pub(crate) max_prefixes_action: Opt<String>,
    pub(crate) max_prefixes_restart_after: Opt<i64>,
    pub(crate) import_policy: Opt<String>,
    pub(crate) export_policy: Opt<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRange {
    pub(crate) prefix: Opt<String>,
    pub(crate) asn: Opt<i64>,
    pub(crate) limit: Opt<i64>,
    pub(crate) description: Opt<String>,
    pub(crate) password: Opt<String>,
    pub(crate) hold_time: Opt<i64>,
    pub(crate) ttl_security: Opt<i64>,
    pub(crate) families: Opt<Vec<Spanned<String>>>,
    pub(crate) graceful_restart: Opt<bool>,
    pub(crate) add_path: Opt<String>,
    pub(crate) route_reflector_client: Opt<bool>,
    pub(crate) allow_as_in: Opt<i64>,
    pub(crate) next_hop_self: Opt<bool>,
    pub(crate) remove_private_as: Opt<bool>,
    pub(crate) max_prefixes: Opt<i64>,
    pub(crate) max_prefixes_action: Opt<String>,
    pub(crate) max_prefixes_restart_after: Opt<i64>,
    pub(crate) import_policy: Opt<String>,
    pub(crate) export_policy: Opt<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrefixList {
    pub(crate) name: Opt<String>,
    pub(crate) entries: Opt<Vec<Spanned<RawPrefixEntry>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrefixEntry {
    pub(crate) prefix: Opt<String>,
    pub(crate) ge: Opt<i64>,
    pub(crate) le: Opt<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub(crate) name: Opt<String>,
    pub(crate) default: Opt<String>,
    #[serde(default)]
    pub(crate) term: Vec<Spanned<RawTerm>>,
}

pub(crate) type Strings = Opt<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTerm {
    pub(crate) name: Opt<String>,
    #[serde(rename = "match")]
    pub(crate) conditions: Opt<RawMatch>,
    pub(crate) action: Opt<String>,
    pub(crate) set_local_pref: Opt<i64>,
    pub(crate) set_med: Opt<i64>,
    pub(crate) set_next_hop: Opt<String>,
    pub(crate) add_community: Strings,
    pub(crate) remove_community: Strings,
    pub(crate) add_large_community: Strings,
    pub(crate) remove_large_community: Strings,
    pub(crate) prepend: Opt<i64>,
    pub(crate) prepend_asn: Opt<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    pub(crate) prefix_list: Opt<String>,
    pub(crate) neighbor: Strings,
    pub(crate) community: Strings,
    pub(crate) large_community: Strings,
    pub(crate) as_path_contains: Opt<Vec<Spanned<i64>>>,
    pub(crate) origin_as: Opt<Vec<Spanned<i64>>>,
    pub(crate) as_path_length_min: Opt<i64>,
    pub(crate) as_path_length_max: Opt<i64>,
    pub(crate) source: Strings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnnounce {
    pub(crate) prefix: Opt<String>,
    pub(crate) communities: Strings,
    pub(crate) large_communities: Strings,
    pub(crate) local_pref: Opt<i64>,
    pub(crate) med: Opt<i64>,
    pub(crate) next_hop: Opt<String>,
}

/// The keys a neighbor and a range share, borrowed from either.
pub(crate) struct RawPeer<'a> {
    pub(crate) asn: &'a Opt<i64>,
    pub(crate) description: &'a Opt<String>,
    pub(crate) password: &'a Opt<String>,
    pub(crate) hold_time: &'a Opt<i64>,
    pub(crate) ttl_security: &'a Opt<i64>,
    pub(crate) families: &'a Opt<Vec<Spanned<String>>>,
    pub(crate) graceful_restart: &'a Opt<bool>,
    pub(crate) add_path: &'a Opt<String>,
    pub(crate) route_reflector_client: &'a Opt<bool>,
    pub(crate) allow_as_in: &'a Opt<i64>,
    pub(crate) next_hop_self: &'a Opt<bool>,
    pub(crate) remove_private_as: &'a Opt<bool>,
    pub(crate) max_prefixes: &'a Opt<i64>,
    pub(crate) max_prefixes_action: &'a Opt<String>,
    pub(crate) max_prefixes_restart_after: &'a Opt<i64>,
    pub(crate) import_policy: &'a Opt<String>,
    pub(crate) export_policy: &'a Opt<String>,
}

impl RawNeighbor {
    pub(crate) fn peer(&self) -> RawPeer<'_> {
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
            allow_as_in: &self.allow_as_in,
            next_hop_self: &self.next_hop_self,
            remove_private_as: &self.remove_private_as,
            max_prefixes: &self.max_prefixes,
            max_prefixes_action: &self.max_prefixes_action,
            max_prefixes_restart_after: &self.max_prefixes_restart_after,
            import_policy: &self.import_policy,
            export_policy: &self.export_policy,
        }
    }
}

impl RawRange {
    pub(crate) fn peer(&self) -> RawPeer<'_> {
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
            allow_as_in: &self.allow_as_in,
            next_hop_self: &self.next_hop_self,
            remove_private_as: &self.remove_private_as,
            max_prefixes: &self.max_prefixes,
            max_prefixes_action: &self.max_prefixes_action,
            max_prefixes_restart_after: &self.max_prefixes_restart_after,
            import_policy: &self.import_policy,
            export_policy: &self.export_policy,
        }
    }
}
