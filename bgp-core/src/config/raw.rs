//! The file as serde reads it, before any check.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::peer::{RawNeighbor, RawRange};

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
    pub(crate) kernel: Opt<RawKernel>,
    pub(crate) kubernetes: Opt<RawKubernetes>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGlobal {
    pub(crate) asn: Opt<i64>,
    pub(crate) router_id: Opt<String>,
    pub(crate) listen: Opt<Vec<Spanned<String>>>,
    pub(crate) control_socket: Opt<String>,
    pub(crate) control_socket_readonly: Opt<String>,
    pub(crate) hold_time: Opt<i64>,
    pub(crate) min_hold_time: Opt<i64>,
    pub(crate) send_hold_time: Opt<i64>,
    pub(crate) connect_retry: Opt<i64>,
    pub(crate) connect_retry_max: Opt<i64>,
    pub(crate) graceful_restart_time: Opt<i64>,
    pub(crate) on_stop: Opt<String>,
    pub(crate) hostname: Opt<String>,
    pub(crate) cluster_id: Opt<String>,
    pub(crate) multipath: Opt<i64>,
    pub(crate) always_compare_med: Opt<bool>,
    pub(crate) min_advertisement_interval: Opt<i64>,
    pub(crate) drain_time: Opt<i64>,
    pub(crate) metrics_listen: Opt<String>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKernel {
    pub(crate) install: Opt<bool>,
    pub(crate) table: Opt<NumberOrName>,
    pub(crate) protocol: Opt<NumberOrName>,
    pub(crate) metric: Opt<i64>,
    pub(crate) install_policy: Opt<String>,
    pub(crate) resolve_via_default: Opt<bool>,
    #[serde(default)]
    pub(crate) import: Vec<Spanned<RawKernelImport>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKernelImport {
    pub(crate) within: Strings,
    pub(crate) protocol: Opt<Vec<Spanned<NumberOrName>>>,
    #[serde(rename = "type")]
    pub(crate) kind: Strings,
    pub(crate) table: Opt<NumberOrName>,
    pub(crate) communities: Strings,
    pub(crate) large_communities: Strings,
    pub(crate) local_pref: Opt<i64>,
    pub(crate) med: Opt<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKubernetes {
    pub(crate) kubeconfig: Opt<String>,
    pub(crate) node_name: Opt<String>,
    pub(crate) mode: Opt<String>,
    pub(crate) load_balancers: Opt<bool>,
    pub(crate) pod_cidrs: Opt<bool>,
    pub(crate) service_selector: Opt<String>,
}

/// A kernel table or protocol: an integer, or a name from iproute2's files.
pub(crate) enum NumberOrName {
    Number(i64),
    Name(String),
}

impl<'de> Deserialize<'de> for NumberOrName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<NumberOrName, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumberOrName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumberOrName, E> {
                Ok(NumberOrName::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumberOrName, E> {
                i64::try_from(v).map(NumberOrName::Number).map_err(|_| E::custom("integer out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumberOrName, E> {
                Ok(NumberOrName::Name(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}
