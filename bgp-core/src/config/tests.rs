use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::diagnostics::levenshtein;
use super::*;
use crate::policy::{
    Actions, Match, Policy, PolicyRef, PolicySet, PrefixEntry, PrefixList, Prepend, RouteInfo, RouteSource, SetNextHop,
    Term, TermAction, Verdict, ACCEPT_ALL,
};
use crate::prefix::Prefix;
use crate::types::Family;
use crate::wire::open::{AddPathFamily, GracefulRestartFamily};
use crate::wire::{AsPath, Community, LargeCommunity, Origin, PathAttrs};

const GLOBAL: &str = "[global]\nasn = 65000\nrouter_id = \"10.0.0.1\"\n";
const NEIGHBOR: &str = "\n[[neighbor]]\naddress = \"10.0.0.2\"\nasn = 65001\n";
/// `GLOBAL` then `NEIGHBOR`: lines 1-3 global, 5-7 the neighbor, 8 the next key.
pub(super) const MINIMAL: &str = "\
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

fn prefix(s: &str) -> Prefix {
    s.parse().unwrap()
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
    assert_eq!(g.cluster_id, g.router_id);
    assert_eq!(g.multipath, 8);
    assert!(!g.always_compare_med);
    assert_eq!(g.min_advertisement_interval, Duration::ZERO);
    assert_eq!(g.drain_time, Duration::from_secs(15));
    assert_eq!(c.policies(), &PolicySet::new());
    assert!(c.announcements().is_empty());

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
    assert_eq!(s.allow_as_in, 0);
    assert!(!s.next_hop_self);
    assert!(!s.remove_private_as);
    assert_eq!(s.max_prefixes, None);
    assert_eq!((&s.import_policy, &s.export_policy), (&None, &None));

    let r = &c.neighbor_ranges()[0];
    assert_eq!(r.limit, 100);
    assert_eq!(r.settings, PeerSettings::new(65000, 90));
    // max_prefixes alone: tear down, retry after 60 s.
    let c = ok(&format!("{MINIMAL}max_prefixes = 10\n"));
    let restart = MaxPrefixesAction::Restart { after: Duration::from_secs(60) };
    assert_eq!(c.neighbors()[0].settings.max_prefixes, Some(MaxPrefixes { limit: 10, action: restart }));
    assert_eq!(restart.to_string(), "restart");
    assert_eq!(MaxPrefixesAction::Warn.as_str(), "warn");
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
control_socket_readonly = "/tmp/bgp-ro.sock"
hold_time = 30
connect_retry = 5
connect_retry_max = 300
graceful_restart_time = 4095
on_stop = "shutdown"
hostname = "rr1.lab"
cluster_id = "192.0.2.100"
multipath = 64
always_compare_med = true
min_advertisement_interval = 5
drain_time = 30

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
allow_as_in = 2
next_hop_self = true
remove_private_as = true
max_prefixes = 1000
max_prefixes_action = "restart"
max_prefixes_restart_after = 300
import_policy = "in"
export_policy = "accept-all"
long_lived_stale_time = 16777215

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
allow_as_in = 10
next_hop_self = false
remove_private_as = false
max_prefixes = 50
max_prefixes_action = "warn"
import_policy = "reject-all"
export_policy = "in"
long_lived_stale_time = 0

[[neighbor_range]]
prefix = "2001:db8:1::/64"
asn = 65002

[[prefix_list]]
name = "pods"
entries = [
{ prefix = "10.42.0.0/16", ge = 26, le = 26 },
{ prefix = "fd42::/48", le = 64 },
]

[[policy]]
name = "in"
default = "accept"

[[policy.term]]
name = "every-key"
action = "accept"
set_local_pref = 4294967295
set_med = 0
set_next_hop = "self"
add_community = ["64513:1", "no-export"]
remove_community = ["64513:2"]
add_large_community = ["64513:1:1"]
remove_large_community = ["64513:2:2"]
prepend = 3
prepend_asn = 65000

[policy.term.match]
prefix_list = "pods"
neighbor = ["10.0.0.0/24", "2001:db8::2"]
community = ["64513:100", "graceful-shutdown"]
large_community = ["64513:0:100"]
as_path_contains = [64512]
origin_as = [65001, 65002]
as_path_length_min = 1
as_path_length_max = 10
source = ["static", "kernel", "kubernetes", "peer"]

[[policy.term]]
name = "dotted"
match.source = ["peer"]
set_next_hop = "2001:db8::9"

[[announce]]
prefix = "192.168.6.10/32"
communities = ["64513:100"]
large_communities = ["64513:1:2"]
local_pref = 200
med = 10
next_hop = "192.168.6.1"

[[announce]]
prefix = "2001:db8:6::/48"
"#;
    let c = ok(text);
    let expected = Config {
        global: Global {
            asn: 4_200_000_000,
            router_id: Ipv4Addr::new(192, 0, 2, 1),
            listen: vec!["192.0.2.1:1179".parse().unwrap(), "[2001:db8::1]:179".parse().unwrap()],
            control_socket: PathBuf::from("/tmp/bgp.sock"),
            control_socket_readonly: Some(PathBuf::from("/tmp/bgp-ro.sock")),
            hold_time: 30,
            connect_retry: Duration::from_secs(5),
            connect_retry_max: Duration::from_secs(300),
            graceful_restart_time: 4095,
            on_stop: OnStop::Shutdown,
            hostname: Some("rr1.lab".into()),
            cluster_id: Ipv4Addr::new(192, 0, 2, 100),
            multipath: 64,
            always_compare_med: true,
            min_advertisement_interval: Duration::from_secs(5),
            drain_time: Duration::from_secs(30),
            min_hold_time: None,
            send_hold_time: None,
            metrics_listen: None,
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
                    allow_as_in: 2,
                    next_hop_self: true,
                    remove_private_as: true,
                    max_prefixes: Some(MaxPrefixes {
                        limit: 1000,
                        action: MaxPrefixesAction::Restart { after: Duration::from_secs(300) },
                    }),
                    import_policy: Some("in".into()),
                    export_policy: Some("accept-all".into()),
                    long_lived_stale_time: 16_777_215,
                    bfd: None,
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
                    allow_as_in: 10,
                    next_hop_self: false,
                    remove_private_as: false,
                    max_prefixes: Some(MaxPrefixes { limit: 50, action: MaxPrefixesAction::Warn }),
                    import_policy: Some("reject-all".into()),
                    export_policy: Some("in".into()),
                    long_lived_stale_time: 0,
                    bfd: None,
                },
            },
            NeighborRange {
                prefix: "2001:db8:1::/64".parse().unwrap(),
                limit: 100,
                settings: PeerSettings::new(65002, 30),
            },
        ],
        policies: {
            let pods = Arc::new(PrefixList {
                name: "pods".into(),
                entries: vec![
                    PrefixEntry { prefix: prefix("10.42.0.0/16"), ge: Some(26), le: Some(26) },
                    PrefixEntry { prefix: prefix("fd42::/48"), ge: None, le: Some(64) },
                ],
            });
            let mut set = PolicySet::new();
            set.insert_prefix_list(pods.clone()).unwrap();
            let mut policy = Policy::new("in", Verdict::Accept);
            policy.terms.push(Term {
                name: "every-key".into(),
                matches: Match {
                    prefix_list: Some(pods),
                    neighbor: vec!["10.0.0.0/24".parse().unwrap(), "2001:db8::2/128".parse().unwrap()],
                    community: vec![Community(64513 << 16 | 100), Community::GRACEFUL_SHUTDOWN],
                    large_community: vec![LargeCommunity { global: 64513, local1: 0, local2: 100 }],
                    as_path_contains: vec![64512],
                    origin_as: vec![65001, 65002],
                    as_path_length_min: Some(1),
                    as_path_length_max: Some(10),
                    source: RouteSource::ALL.to_vec(),
                },
                actions: Actions {
                    set_local_pref: Some(u32::MAX),
                    set_med: Some(0),
                    set_next_hop: Some(SetNextHop::SelfAddress),
                    add_community: vec![Community(64513 << 16 | 1), Community::NO_EXPORT],
                    remove_community: vec![Community(64513 << 16 | 2)],
                    add_large_community: vec![LargeCommunity { global: 64513, local1: 1, local2: 1 }],
                    remove_large_community: vec![LargeCommunity { global: 64513, local1: 2, local2: 2 }],
                    prepend: Some(Prepend { count: 3, asn: Some(65000) }),
                },
                action: TermAction::Accept,
            });
            policy.terms.push(Term {
                name: "dotted".into(),
                matches: Match { source: vec![RouteSource::Peer], ..Match::default() },
                actions: Actions {
                    set_next_hop: Some(SetNextHop::Address("2001:db8::9".parse().unwrap())),
                    ..Actions::default()
                },
                action: TermAction::Next,
            });
            set.insert(policy).unwrap();
            set
        },
        announcements: vec![
            Announce {
                prefix: prefix("192.168.6.10/32"),
                communities: vec![Community(64513 << 16 | 100)],
                large_communities: vec![LargeCommunity { global: 64513, local1: 1, local2: 2 }],
                local_pref: Some(200),
                med: Some(10),
                next_hop: Some(v4("192.168.6.1")),
            },
            Announce::new(prefix("2001:db8:6::/48")),
        ],
        kernel: Kernel::default(),
        kubernetes: None,
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
fn readonly_control_socket() {
    assert_eq!(ok(MINIMAL).global.control_socket_readonly, None);
    let text = MINIMAL.replace("asn = 65000", "asn = 65000\ncontrol_socket_readonly = \"/run/bgp-daemon/bgpctl.sock\"");
    let kind = invalid(&text, 3, 27, "global.control_socket_readonly");
    assert_eq!(conflict_msg(kind), "is the same path as global.control_socket");
    let text = MINIMAL.replace("asn = 65000", "asn = 65000\ncontrol_socket_readonly = \"ro.sock\"");
    let kind = invalid(&text, 3, 27, "global.control_socket_readonly");
    assert_eq!(value_msg(kind), "\"ro.sock\" is not an absolute path");
}

#[test]
fn bad_on_stop() {
    let text = MINIMAL.replace("asn = 65000", "asn = 65000\non_stop = \"graceful\"");
    let kind = invalid(&text, 3, 11, "global.on_stop");
    assert_eq!(
        value_msg(kind),
        "unknown value \"graceful\" (expected \"graceful-restart\", \"shutdown\" or \"drain-then-graceful-restart\")"
    );
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
    invalid(&g("drain_time = 0"), 3, 14, "global.drain_time");
    invalid(&g("drain_time = 3601"), 3, 14, "global.drain_time");
    ok(&g("drain_time = 3600\non_stop = \"drain-then-graceful-restart\""));
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
    assert_eq!(gr.families, vec![GracefulRestartFamily { family: Family::IPV6_UNICAST, forwarding_preserved: false }]);
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

/// The error for `text`, checked to be `Invalid` on `key` at the first
/// occurrence of `needle` in `text`.
fn invalid_at(text: &str, needle: &str, key: &str) -> ErrorKind {
    let offset = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the text"));
    let (line, column) = Cx { file: "bgp.toml", text }.position(offset);
    invalid(text, line, column, key)
}

/// `MINIMAL` plus `[global]` keys.
fn with_global(keys: &str) -> String {
    MINIMAL.replace("asn = 65000\n", &format!("asn = 65000\n{keys}\n"))
}

/// `MINIMAL` (eBGP neighbor 10.0.0.2) and an iBGP range, then `rest`.
const ROUTING: &str = "\
[global]
asn = 65000
router_id = \"10.0.0.1\"

[[neighbor]]
address = \"10.0.0.2\"
asn = 65001
import_policy = \"from-router\"
export_policy = \"accept-all\"

[[neighbor_range]]
prefix = \"10.1.0.0/16\"
asn = 65000
import_policy = \"from-nodes\"

[[prefix_list]]
name = \"pods\"
entries = [{ prefix = \"10.42.0.0/16\", ge = 26, le = 26 }]

[[prefix_list]]
name = \"lbs\"
entries = [
{ prefix = \"10.10.100.0/24\", ge = 32 },
{ prefix = \"fd10:10:100::/64\", ge = 128 },
]

[[policy]]
name = \"from-nodes\"

[[policy.term]]
name = \"pods\"
match.prefix_list = \"pods\"
add_community = [\"65000:42\"]
action = \"accept\"

[[policy.term]]
name = \"lbs\"
match.prefix_list = \"lbs\"
action = \"accept\"

[[policy]]
name = \"from-router\"
default = \"accept\"
";

#[test]
fn global_routing_keys() {
    let c = ok(&with_global(
        "cluster_id = \"10.0.0.100\"\nmultipath = 1\nalways_compare_med = true\nmin_advertisement_interval = 600",
    ));
    let g = c.global();
    assert_eq!(g.cluster_id, Ipv4Addr::new(10, 0, 0, 100));
    assert_eq!((g.multipath, g.always_compare_med), (1, true));
    assert_eq!(g.min_advertisement_interval, Duration::from_secs(600));
    ok(&with_global("multipath = 64\nmin_advertisement_interval = 0"));

    let kind = invalid(&with_global("cluster_id = \"0.0.0.0\""), 3, 14, "global.cluster_id");
    assert_eq!(value_msg(kind), "0.0.0.0 is not a valid cluster ID");
    let kind = invalid(&with_global("cluster_id = \"::1\""), 3, 14, "global.cluster_id");
    assert!(value_msg(kind).contains("is not an IPv4 address (CLUSTER_ID is 4 octets"));
    let kind = invalid(&with_global("cluster_id = 1"), 3, 14, "global.cluster_id");
    assert!(matches!(kind, ErrorKind::Type(_)));
    for bad in [0, 65, -1] {
        let kind = invalid(&with_global(&format!("multipath = {bad}")), 3, 13, "global.multipath");
        assert_eq!(value_msg(kind), format!("{bad} is not a valid number of ECMP paths (1..=64)"));
    }
    let kind = invalid(&with_global("always_compare_med = 1"), 3, 22, "global.always_compare_med");
    assert_eq!(kind, ErrorKind::Type("expected a boolean, found integer 1".into()));
    for bad in [-1, 601] {
        let text = with_global(&format!("min_advertisement_interval = {bad}"));
        let kind = invalid(&text, 3, 30, "global.min_advertisement_interval");
        assert_eq!(value_msg(kind), format!("{bad} is not a valid interval in seconds (0..=600)"));
    }
    let g = ok(&with_global("metrics_listen = \"[::1]:9179\"")).global;
    assert_eq!(g.metrics_listen, Some("[::1]:9179".parse().unwrap()));
    assert_eq!(ok(&with_global("")).global.metrics_listen, None);
    for bad in ["\"127.0.0.1\"", "\"localhost:9179\"", "\"\""] {
        let kind = invalid(&with_global(&format!("metrics_listen = {bad}")), 3, 18, "global.metrics_listen");
        assert!(value_msg(kind).contains("is not ADDRESS:PORT"), "{bad}");
    }
    let kind = invalid(&with_global("metrics_listen = 9179"), 3, 18, "global.metrics_listen");
    assert!(matches!(kind, ErrorKind::Type(_)));
    let text = with_global("listen = [\"127.0.0.1:1179\"]\nmetrics_listen = \"127.0.0.1:1179\"");
    let kind = invalid(&text, 4, 18, "global.metrics_listen");
    assert!(matches!(kind, ErrorKind::Conflict(_)));
    let kind = invalid(&with_global("multi_path = 2"), 3, 1, "global.multi_path");
    assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "multipath"));
}

#[test]
fn peer_routing_keys() {
    let range = "[[neighbor_range]]\nprefix = \"10.1.0.0/16\"\nasn = 65000\n";
    let c = ok(&format!(
        "{MINIMAL}allow_as_in = 3\nnext_hop_self = true\nremove_private_as = true\n\
         max_prefixes = 100\nmax_prefixes_action = \"warn\"\n{range}allow_as_in = 10\nnext_hop_self = false\n\
         max_prefixes = 5\nmax_prefixes_restart_after = 1\n"
    ));
    let n = &c.neighbors()[0].settings;
    assert_eq!((n.allow_as_in, n.next_hop_self, n.remove_private_as), (3, true, true));
    assert_eq!(n.max_prefixes, Some(MaxPrefixes { limit: 100, action: MaxPrefixesAction::Warn }));
    let r = &c.neighbor_ranges()[0].settings;
    assert_eq!((r.allow_as_in, r.next_hop_self), (10, false));
    let after = Duration::from_secs(1);
    assert_eq!(r.max_prefixes, Some(MaxPrefixes { limit: 5, action: MaxPrefixesAction::Restart { after } }));

    for bad in [-1, 11] {
        let kind = invalid(&format!("{MINIMAL}allow_as_in = {bad}\n"), 8, 15, "neighbor[0].allow_as_in");
        assert_eq!(value_msg(kind), format!("{bad} is not a valid count of our AS in a path (0..=10)"));
    }
    invalid(&format!("{MINIMAL}{range}allow_as_in = 11\n"), 11, 15, "neighbor_range[0].allow_as_in");
    let kind = invalid(&format!("{MINIMAL}next_hop_self = \"yes\"\n"), 8, 17, "neighbor[0].next_hop_self");
    assert!(matches!(kind, ErrorKind::Type(_)));
    // Private ASNs are removed towards eBGP peers only.
    let text = format!("{MINIMAL}{range}remove_private_as = true\n");
    let kind = invalid(&text, 11, 21, "neighbor_range[0].remove_private_as");
    assert!(conflict_msg(kind).contains("eBGP peers only"));
    ok(&format!("{MINIMAL}{range}remove_private_as = false\n"));
    // max_prefixes and its companions.
    for bad in ["0", "-5", "4294967296"] {
        let kind = invalid(&format!("{MINIMAL}max_prefixes = {bad}\n"), 8, 16, "neighbor[0].max_prefixes");
        assert_eq!(value_msg(kind), format!("{bad} is not a valid prefix limit (1..=4294967295)"));
    }
    let text = format!("{MINIMAL}max_prefixes = 9\nmax_prefixes_action = \"drop\"\n");
    let kind = invalid(&text, 9, 23, "neighbor[0].max_prefixes_action");
    assert_eq!(value_msg(kind), "unknown value \"drop\" (expected \"warn\" or \"restart\")");
    let text = format!("{MINIMAL}max_prefixes = 9\nmax_prefixes_restart_after = 0\n");
    let kind = invalid(&text, 9, 30, "neighbor[0].max_prefixes_restart_after");
    assert_eq!(value_msg(kind), "0 is not a valid delay in seconds (1..=86400)");
    let text = format!("{MINIMAL}max_prefixes_action = \"warn\"\n");
    let kind = invalid(&text, 8, 23, "neighbor[0].max_prefixes_action");
    assert_eq!(conflict_msg(kind), "has no effect without max_prefixes");
    let text = format!("{MINIMAL}max_prefixes_restart_after = 30\n");
    let kind = invalid(&text, 8, 30, "neighbor[0].max_prefixes_restart_after");
    assert_eq!(conflict_msg(kind), "has no effect without max_prefixes");
    let text = format!("{MINIMAL}max_prefixes = 9\nmax_prefixes_action = \"warn\"\nmax_prefixes_restart_after = 30\n");
    let kind = invalid(&text, 10, 30, "neighbor[0].max_prefixes_restart_after");
    assert_eq!(conflict_msg(kind), "has no effect with max_prefixes_action = \"warn\"");
}

#[test]
fn bfd_keys() {
    let range = "[[neighbor_range]]\nprefix = \"10.1.0.0/16\"\nasn = 65000\n";
    // Off by default; `bfd = true` alone takes the defaults (300 ms x 3).
    let c = ok(&format!("{MINIMAL}{range}bfd = true\n"));
    assert_eq!(c.neighbors()[0].settings.bfd, None);
    let r = c.neighbor_ranges()[0].settings.bfd.expect("on");
    assert_eq!((r.interval, r.multiplier), (Duration::from_millis(300), 3));
    assert_eq!(r.detection_time(), Duration::from_millis(900));
    let c = ok(&format!("{MINIMAL}bfd = true\nbfd_interval_ms = 50\nbfd_multiplier = 5\n"));
    let n = c.neighbors()[0].settings.bfd.expect("on");
    assert_eq!((n.interval, n.multiplier), (Duration::from_millis(50), 5));
    // Switched off with its tuning kept.
    let c = ok(&format!("{MINIMAL}bfd = false\nbfd_interval_ms = 50\n"));
    assert_eq!(c.neighbors()[0].settings.bfd, None);
    // The ranges (FRR's): 10..=60000 ms, 2..=255.
    for bad in [0, 9, 60001] {
        let kind =
            invalid(&format!("{MINIMAL}bfd = true\nbfd_interval_ms = {bad}\n"), 9, 19, "neighbor[0].bfd_interval_ms");
        assert_eq!(value_msg(kind), format!("{bad} is not a valid BFD interval in milliseconds (10..=60000)"));
    }
    ok(&format!("{MINIMAL}bfd = true\nbfd_interval_ms = 10\nbfd_multiplier = 2\n"));
    ok(&format!("{MINIMAL}bfd = true\nbfd_interval_ms = 60000\nbfd_multiplier = 255\n"));
    for bad in [1, 256] {
        let text = format!("{MINIMAL}{range}bfd = true\nbfd_multiplier = {bad}\n");
        let kind = invalid(&text, 12, 18, "neighbor_range[0].bfd_multiplier");
        assert_eq!(value_msg(kind), format!("{bad} is not a valid BFD detection multiplier (2..=255)"));
    }
    // Tuning without `bfd` is a mistake worth saying.
    let kind = invalid(&format!("{MINIMAL}bfd_multiplier = 4\n"), 8, 18, "neighbor[0].bfd_multiplier");
    assert_eq!(conflict_msg(kind), "has no effect without bfd = true");
    let kind =
        invalid(&format!("{MINIMAL}{range}bfd_interval_ms = 100\n"), 11, 19, "neighbor_range[0].bfd_interval_ms");
    assert_eq!(conflict_msg(kind), "has no effect without bfd = true");
    let kind = invalid(&format!("{MINIMAL}bfd = \"yes\"\n"), 8, 7, "neighbor[0].bfd");
    assert!(matches!(kind, ErrorKind::Type(_)));
    let kind = invalid(&format!("{MINIMAL}bfd_multiplyer = 5\n"), 8, 1, "neighbor[0].bfd_multiplyer");
    assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "bfd_multiplier"));
}

#[test]
fn policy_names_must_exist() {
    let c = ok(ROUTING);
    assert_eq!(c.neighbors()[0].settings.import_policy.as_deref(), Some("from-router"));
    assert_eq!(c.neighbor_ranges()[0].settings.import_policy.as_deref(), Some("from-nodes"));
    // A typo gets a suggestion, built-ins included.
    let text = ROUTING.replace("import_policy = \"from-nodes\"", "import_policy = \"from-node\"");
    let kind = invalid_at(&text, "\"from-node\"", "neighbor_range[0].import_policy");
    assert_eq!(value_msg(kind), "no policy named \"from-node\"; did you mean \"from-nodes\"?");
    let text = ROUTING.replace("export_policy = \"accept-all\"", "export_policy = \"acept-all\"");
    let kind = invalid_at(&text, "\"acept-all\"", "neighbor[0].export_policy");
    assert_eq!(value_msg(kind), "no policy named \"acept-all\"; did you mean \"accept-all\"?");
    // Otherwise every name is listed.
    let kind = invalid(&format!("{MINIMAL}import_policy = \"permit\"\n"), 8, 17, "neighbor[0].import_policy");
    assert_eq!(value_msg(kind), "no policy named \"permit\" (there are: accept-all, reject-all)");
    ok(&format!("{MINIMAL}import_policy = \"reject-all\"\nexport_policy = \"accept-all\"\n"));
}

#[test]
fn rfc8212_for_ebgp_without_policy() {
    let range = "[[neighbor_range]]\nprefix = \"10.1.0.0/16\"\nasn = 65000\n";
    let c = ok(&format!("{MINIMAL}{range}"));
    let g = c.global();
    let ebgp = &c.neighbors()[0].settings;
    assert_eq!(ebgp.effective_import(g), PolicyRef::Rfc8212Deny);
    assert_eq!(ebgp.effective_export(g), PolicyRef::Rfc8212Deny);
    let notice = ebgp.rfc8212_notice(g).expect("both directions are closed");
    assert!(notice.starts_with("RFC 8212: no route is accepted from or sent to this eBGP neighbor"), "{notice}");
    assert!(notice.contains("import_policy and export_policy"), "{notice}");
    assert_eq!(c.policies().resolve(ebgp.effective_import(g)).default, Verdict::Reject);
    // iBGP: everything, by default.
    let ibgp = &c.neighbor_ranges()[0].settings;
    assert_eq!(ibgp.effective_import(g), PolicyRef::Named(ACCEPT_ALL));
    assert_eq!(ibgp.effective_export(g), PolicyRef::Named(ACCEPT_ALL));
    assert_eq!(ibgp.rfc8212_notice(g), None);
    // One direction configured: the notice names the other.
    let c = ok(&format!("{MINIMAL}import_policy = \"accept-all\"\n"));
    let s = &c.neighbors()[0].settings;
    assert_eq!(s.effective_import(c.global()), PolicyRef::Named("accept-all"));
    assert!(s.effective_export(c.global()).is_rfc8212_deny());
    let notice = s.rfc8212_notice(c.global()).unwrap();
    assert!(notice.contains("no route is sent to") && notice.contains("no export_policy"), "{notice}");
    let c = ok(&format!("{MINIMAL}export_policy = \"reject-all\"\n"));
    let notice = c.neighbors()[0].settings.rfc8212_notice(c.global()).unwrap();
    assert!(notice.contains("no route is accepted from") && notice.contains("no import_policy"), "{notice}");
    let c = ok(&format!("{MINIMAL}import_policy = \"reject-all\"\nexport_policy = \"reject-all\"\n"));
    assert_eq!(c.neighbors()[0].settings.rfc8212_notice(c.global()), None, "explicit reject-all is a policy");
}

#[test]
fn compiled_policies_are_usable() {
    let c = ok(ROUTING);
    let set = c.policies();
    assert_eq!(set.names().collect::<Vec<_>>(), ["accept-all", "from-nodes", "from-router", "reject-all"]);
    assert_eq!(set.prefix_list("lbs").map(|l| l.entries.len()), Some(2));
    let from_nodes = set.resolve(c.neighbor_ranges()[0].settings.effective_import(c.global()));
    assert_eq!(from_nodes.name, "from-nodes");
    assert_eq!(from_nodes.default, Verdict::Reject, "the default default");
    assert_eq!(set.get("from-router").unwrap().default, Verdict::Accept);
    let node = Some("10.1.0.21".parse().unwrap());
    let run = |prefix: &str| {
        let route = RouteInfo::new(prefix.parse().unwrap(), RouteSource::Peer, node);
        let mut attrs = PathAttrs::default();
        (from_nodes.apply(&route, &mut attrs, 65000), attrs.communities)
    };
    assert_eq!(run("10.42.3.64/26"), (Verdict::Accept, vec![Community(65000 << 16 | 42)]));
    assert_eq!(run("10.10.100.7/32"), (Verdict::Accept, vec![]));
    assert_eq!(run("fd10:10:100::7/128"), (Verdict::Accept, vec![]));
    assert_eq!(run("10.42.3.0/24").0, Verdict::Reject);
    assert_eq!(run("0.0.0.0/0").0, Verdict::Reject);
}

#[test]
fn prefix_list_errors() {
    let base = format!("{MINIMAL}\n[[prefix_list]]\nname = \"p\"\n");
    let entries = |e: &str| format!("{base}entries = [{e}]\n");
    ok(&entries("{ prefix = \"10.0.0.0/8\" }, { prefix = \"10.0.0.0/8\", le = 32 }"));
    invalid_at(&format!("{MINIMAL}\n[[prefix_list]]\nentries = []\n"), "[[prefix_list]]", "prefix_list[0].name");
    invalid_at(&base, "[[prefix_list]]", "prefix_list[0].entries");
    let kind = invalid_at(&entries(""), "[]", "prefix_list[0].entries");
    assert_eq!(value_msg(kind), "is empty: a prefix list needs at least one entry");
    let kind = invalid_at(&base.replace("\"p\"", "\"p q\""), "\"p q\"", "prefix_list[0].name");
    assert!(value_msg(kind).starts_with("\"p q\" is not a valid prefix list name"));
    invalid_at(&base.replace("\"p\"", "\"\""), "\"\"", "prefix_list[0].name");
    let text = format!(
        "{}[[prefix_list]]\nname = \"p\"\nentries = [{{ prefix = \"::/0\" }}]\n",
        entries("{ prefix = \"::/0\" }")
    );
    let kind = invalid(&text, 13, 8, "prefix_list[1].name");
    assert_eq!(conflict_msg(kind), "duplicate prefix list name \"p\": already prefix_list[0] (line 10)");
    // Entries.
    invalid_at(&entries("{ ge = 8 }"), "{ ge", "prefix_list[0].entries[0].prefix");
    let kind =
        invalid_at(&entries("{ prefix = \"10.0.0.1/8\" }"), "\"10.0.0.1/8\"", "prefix_list[0].entries[0].prefix");
    assert_eq!(value_msg(kind), "\"10.0.0.1/8\" has host bits set; did you mean \"10.0.0.0/8\"?");
    let kind = invalid_at(&entries("{ prefix = \"10.0.0.0/8\", ge = 7 }"), "7", "prefix_list[0].entries[0].ge");
    assert_eq!(value_msg(kind), "7 is not a valid ge for 10.0.0.0/8: use 8..=32");
    let kind = invalid_at(&entries("{ prefix = \"10.0.0.0/8\", le = 33 }"), "33", "prefix_list[0].entries[0].le");
    assert_eq!(value_msg(kind), "33 is not a valid le for 10.0.0.0/8: use 8..=32");
    let kind = invalid_at(&entries("{ prefix = \"fd00::/8\", le = 129 }"), "129", "prefix_list[0].entries[0].le");
    assert_eq!(value_msg(kind), "129 is not a valid le for fd00::/8: use 8..=128");
    let text = entries("{ prefix = \"10.0.0.0/8\", ge = 24, le = 16 }");
    let kind = invalid_at(&text, "16 }", "prefix_list[0].entries[0].le");
    assert_eq!(conflict_msg(kind), "16 is less than ge (24)");
    let text = entries("{ prefix = \"10.0.0.0/8\", le = 9 }, { prefix = \"10.0.0.0/8\", le = 9 }");
    let kind = invalid(&text, 11, 47, "prefix_list[0].entries[1]");
    assert_eq!(conflict_msg(kind), "10.0.0.0/8 le 9 is listed twice");
    let kind = invalid_at(&entries("{ prefix = \"10.0.0.0/8\", gt = 9 }"), "gt", "prefix_list[0].entries[0].gt");
    assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "ge"));
}

/// `ROUTING` with one more policy: `[[policy]]` named "t" and one term of `keys`.
fn term(keys: &str) -> String {
    format!("{ROUTING}\n[[policy]]\nname = \"t\"\n\n[[policy.term]]\n{keys}\n")
}

#[test]
fn policy_errors() {
    ok(&term("name = \"x\"\naction = \"reject\""));
    // The policy.
    let kind =
        invalid_at(&format!("{ROUTING}[[policy]]\ndefault = \"accept\"\n"), "[[policy]]\ndefault", "policy[2].name");
    assert_eq!(kind, ErrorKind::Missing);
    let kind = invalid(&format!("{ROUTING}[[policy]]\nname = \"accept-all\"\n"), 45, 8, "policy[2].name");
    assert_eq!(conflict_msg(kind), "\"accept-all\" is a built-in policy; pick another name");
    let text = format!("{ROUTING}[[policy]]\nname = \"from-router\"\n");
    let kind = invalid(&text, 45, 8, "policy[2].name");
    assert_eq!(conflict_msg(kind), "duplicate policy name \"from-router\": already policy[1] (line 42)");
    let kind = invalid_at(
        &format!("{ROUTING}[[policy]]\nname = \"x\"\ndefault = \"deny\"\n"),
        "\"deny\"",
        "policy[2].default",
    );
    assert_eq!(value_msg(kind), "unknown value \"deny\" (expected \"accept\" or \"reject\")");
    invalid_at(&format!("{ROUTING}[[policy]]\nname = \"a/b\"\n"), "\"a/b\"", "policy[2].name");
    let kind = invalid_at(&format!("{ROUTING}[[policy]]\nname = \"x\"\nterms = []\n"), "terms", "policy[2].terms");
    assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "term"));
    // Terms: names.
    invalid_at(&term("action = \"accept\""), "[[policy.term]]\naction", "policy[2].term[0].name");
    let text = term("name = \"x\"\nset_med = 1\n[[policy.term]]\nname = \"x\"\naction = \"accept\"");
    let kind = invalid(&text, 52, 8, "policy[2].term[1].name");
    assert_eq!(conflict_msg(kind), "duplicate term name \"x\": already policy[2].term[0] (line 49)");
    // Actions.
    let kind = invalid_at(&term("name = \"x\"\naction = \"permit\""), "\"permit\"", "policy[2].term[0].action");
    assert_eq!(value_msg(kind), "unknown value \"permit\" (expected \"accept\", \"reject\" or \"next\")");
    let kind = invalid_at(
        &term("name = \"x\"\nmatch.source = [\"peer\"]"),
        "[[policy.term]]\nname = \"x\"",
        "policy[2].term[0]",
    );
    assert!(conflict_msg(kind).starts_with("the term does nothing"));
    let kind = invalid_at(&term("name = \"x\"\naction = \"next\""), "\"next\"", "policy[2].term[0].action");
    assert!(conflict_msg(kind).starts_with("the term does nothing"));
    let text = term("name = \"x\"\naction = \"reject\"\nprepend = 2\nset_med = 5");
    let kind = invalid_at(&text, "2\nset_med", "policy[2].term[0].prepend");
    assert_eq!(conflict_msg(kind), "has no effect: the term rejects the route");
    for (keys, needle, key, message) in [
        ("set_local_pref = -1", "-1", "set_local_pref", "-1 is not a valid LOCAL_PREF (0..=4294967295)"),
        ("set_med = 4294967296", "4294967296", "set_med", "4294967296 is not a valid MED (0..=4294967295)"),
        ("set_next_hop = \"me\"", "\"me\"", "set_next_hop", "\"me\" is not \"self\" or an IPv4 or IPv6 address"),
        ("set_next_hop = \"224.0.0.1\"", "\"224.0.0.1\"", "set_next_hop", "\"224.0.0.1\" cannot be a next hop"),
        ("prepend = 0", "0", "prepend", "0 is not a valid prepend count (1..=10)"),
        ("prepend = 11", "11", "prepend", "11 is not a valid prepend count (1..=10)"),
        ("add_community = []", "[]", "add_community", "is empty: list at least one community, or leave the key out"),
        (
            "add_large_community = [\"1:2\"]",
            "\"1:2\"",
            "add_large_community[0]",
            "\"1:2\" is not a large community: use GLOBAL:LOCAL1:LOCAL2 (each 0..=4294967295)",
        ),
    ] {
        let text = term(&format!("name = \"x\"\n{keys}"));
        let column = keys.find(needle).unwrap() + 1;
        let kind = invalid(&text, 50, column, &format!("policy[2].term[0].{key}"));
        assert_eq!(value_msg(kind), message, "{keys}");
    }
    let kind = invalid_at(
        &term("name = \"x\"\nremove_community = [\"no-export\", \"65536:1\"]"),
        "\"65536:1\"",
        "policy[2].term[0].remove_community[1]",
    );
    assert!(value_msg(kind)
        .starts_with("\"65536:1\" is not a community: use ASN:VALUE (each 0..=65535) or one of no-export,"));
    let text = term("name = \"x\"\nadd_community = [\"1:1\", \"1:1\"]");
    let kind = invalid_at(&text, "\"1:1\"]", "policy[2].term[0].add_community[1]");
    assert_eq!(conflict_msg(kind), "1:1 is listed twice");
    let text = term("name = \"x\"\nadd_community = [\"1:1\"]\nremove_community = [\"1:2\", \"1:1\"]");
    let kind = invalid(&text, 51, 28, "policy[2].term[0].remove_community[1]");
    assert_eq!(conflict_msg(kind), "1:1 is also in add_community");
    let text = term("name = \"x\"\nadd_large_community = [\"1:1:1\"]\nremove_large_community = [\"1:1:1\"]");
    let kind = invalid(&text, 51, 27, "policy[2].term[0].remove_large_community[0]");
    assert_eq!(conflict_msg(kind), "1:1:1 is also in add_large_community");
    let kind = invalid_at(
        &term("name = \"x\"\nprepend_asn = 65000\nset_med = 1"),
        "65000\nset",
        "policy[2].term[0].prepend_asn",
    );
    assert!(conflict_msg(kind).starts_with("has no effect without prepend"));
    let kind =
        invalid_at(&term("name = \"x\"\nprepend = 1\nprepend_asn = 23456"), "23456", "policy[2].term[0].prepend_asn");
    assert!(value_msg(kind).contains("AS_TRANS"));
    let kind = invalid_at(&term("name = \"x\"\nset_localpref = 1"), "set_localpref", "policy[2].term[0].set_localpref");
    assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "set_local_pref"));
    // A term that matches everything and decides hides the rest.
    let text = term("name = \"all\"\naction = \"accept\"\n[[policy.term]]\nname = \"never\"\naction = \"reject\"");
    let kind = invalid(&text, 51, 1, "policy[2].term[1]");
    assert_eq!(
        conflict_msg(kind),
        "is never reached: policy[2].term[0] (\"all\", line 48) matches every route and ends with accept"
    );
    ok(&term("name = \"tag\"\nset_med = 1\n[[policy.term]]\nname = \"then\"\naction = \"reject\""));
}

#[test]
fn match_errors() {
    let m = |keys: &str| term(&format!("name = \"x\"\naction = \"accept\"\n[policy.term.match]\n{keys}"));
    ok(&m("prefix_list = \"pods\"\nneighbor = [\"10.0.0.2\", \"10.1.0.0/16\", \"::ffff:10.0.0.9\"]\nsource = [\"static\"]"));
    let c = ok(&m("neighbor = [\"::ffff:10.0.0.9\"]"));
    let t = &c.policies().get("t").unwrap().terms[0];
    assert_eq!(t.matches.neighbor, vec!["10.0.0.9/32".parse::<IpNet>().unwrap()], "IPv4-mapped is stored as IPv4");
    let kind = invalid_at(&m("prefix_list = \"pod\""), "\"pod\"", "policy[2].term[0].match.prefix_list");
    assert_eq!(value_msg(kind), "no [[prefix_list]] named \"pod\"; did you mean \"pods\"?");
    let kind = invalid_at(&m("prefix_list = \"bogons\""), "\"bogons\"", "policy[2].term[0].match.prefix_list");
    assert_eq!(value_msg(kind), "no [[prefix_list]] named \"bogons\" (there are: lbs, pods)");
    let text = format!("{MINIMAL}[[policy]]\nname = \"p\"\n[[policy.term]]\nname = \"t\"\naction = \"accept\"\nmatch.prefix_list = \"x\"\n");
    let kind = invalid_at(&text, "\"x\"", "policy[0].term[0].match.prefix_list");
    assert_eq!(value_msg(kind), "no [[prefix_list]] named \"x\" (the file has none)");
    for (keys, needle, key, message) in [
        (
            "neighbor = [\"10.0.0.300\"]",
            "\"10.0.0.300\"",
            "neighbor[0]",
            "\"10.0.0.300\" is not an IP address or prefix",
        ),
        (
            "neighbor = [\"10.0.0.1/24\"]",
            "\"10.0.0.1/24\"",
            "neighbor[0]",
            "\"10.0.0.1/24\" has host bits set; did you mean \"10.0.0.0/24\"?",
        ),
        ("neighbor = []", "[]", "neighbor", "is empty: list at least one address or prefix, or leave the key out"),
        ("community = [\"no_export\"]", "\"no_export\"", "community[0]", ""),
        ("large_community = [\"1:2:3:4\"]", "\"1:2:3:4\"", "large_community[0]", ""),
        ("as_path_contains = [0]", "0", "as_path_contains[0]", "0 is not a valid AS number (1..=4294967295)"),
        (
            "origin_as = [4294967296]",
            "4294967296",
            "origin_as[0]",
            "4294967296 is not a valid AS number (1..=4294967295)",
        ),
        ("origin_as = []", "[]", "origin_as", "is empty: list at least one AS number, or leave the key out"),
        ("as_path_length_min = -1", "-1", "as_path_length_min", "-1 is not a valid AS_PATH length (0..=4294967295)"),
        (
            "source = [\"bgp\"]",
            "\"bgp\"",
            "source[0]",
            "unknown route source \"bgp\" (expected \"static\", \"kernel\", \"kubernetes\" or \"peer\")",
        ),
    ] {
        let text = m(keys);
        let column = keys.find(needle).unwrap() + 1;
        let kind = invalid(&text, 52, column, &format!("policy[2].term[0].match.{key}"));
        if !message.is_empty() {
            assert_eq!(value_msg(kind), message, "{keys}");
        } else {
            assert!(matches!(kind, ErrorKind::Value(_)), "{keys}");
        }
    }
    let kind = invalid(&m("source = [\"peer\", \"peer\"]"), 52, 19, "policy[2].term[0].match.source[1]");
    assert_eq!(conflict_msg(kind), "peer is listed twice");
    let kind = invalid(&m("origin_as = [1, 1]"), 52, 17, "policy[2].term[0].match.origin_as[1]");
    assert_eq!(conflict_msg(kind), "1 is listed twice");
    let kind = invalid(
        &m("as_path_length_min = 3\nas_path_length_max = 2"),
        53,
        22,
        "policy[2].term[0].match.as_path_length_max",
    );
    assert_eq!(conflict_msg(kind), "2 is less than as_path_length_min (3)");
    let kind = invalid(&m("comunity = [\"1:1\"]"), 52, 1, "policy[2].term[0].match.comunity");
    assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "community"));
    let kind = invalid(&m("source = \"peer\""), 52, 10, "policy[2].term[0].match.source");
    assert!(matches!(kind, ErrorKind::Type(m) if m.starts_with("expected an array")));
}

#[test]
fn announce_keys() {
    let a = |keys: &str| format!("{MINIMAL}\n[[announce]]\n{keys}\n");
    let c = ok(&a("prefix = \"192.168.6.10/32\"\n[[announce]]\nprefix = \"fd10::/64\"\nnext_hop = \"fd00::1\""));
    assert_eq!(c.announcements().len(), 2);
    let attrs = c.announcements()[0].path_attrs();
    assert_eq!(attrs.origin, Some(Origin::Igp));
    assert_eq!(attrs.as_path, Some(AsPath::default()));
    assert_eq!((attrs.next_hop, &attrs.mp_reach), (None, &None), "no next hop: the daemon's own");
    let attrs = c.announcements()[1].path_attrs();
    let mp = attrs.mp_reach.expect("an IPv6 next hop lives in MP_REACH_NLRI");
    assert_eq!(mp.family, Family::IPV6_UNICAST);
    assert!(mp.nlri.is_empty());
    let c = ok(&a("prefix = \"10.0.0.0/8\"\ncommunities = [\"1:1\"]\nlarge_communities = [\"1:1:1\"]\n\
                   local_pref = 300\nmed = 4294967295\nnext_hop = \"10.0.0.9\""));
    let attrs = c.announcements()[0].path_attrs();
    assert_eq!(attrs.next_hop, Some(Ipv4Addr::new(10, 0, 0, 9)));
    assert_eq!((attrs.local_pref, attrs.med), (Some(300), Some(u32::MAX)));
    assert_eq!(attrs.communities, vec![Community(1 << 16 | 1)]);
    assert_eq!(attrs.large_communities, vec![LargeCommunity { global: 1, local1: 1, local2: 1 }]);

    invalid_at(&a("med = 1"), "[[announce]]", "announce[0].prefix");
    let kind = invalid_at(&a("prefix = \"192.168.6.10/24\""), "\"192", "announce[0].prefix");
    assert_eq!(value_msg(kind), "\"192.168.6.10/24\" has host bits set; did you mean \"192.168.6.0/24\"?");
    let text = a("prefix = \"10.0.0.0/8\"\n[[announce]]\nprefix = \"10.0.0.0/8\"");
    let kind = invalid(&text, 12, 10, "announce[1].prefix");
    assert_eq!(conflict_msg(kind), "10.0.0.0/8 is already announced by announce[0] (line 10)");
    let kind = invalid_at(&a("prefix = \"10.0.0.0/8\"\nnext_hop = \"fd00::1\""), "\"fd00", "announce[0].next_hop");
    assert_eq!(conflict_msg(kind), "fd00::1 and the prefix 10.0.0.0/8 are of different families");
    let kind = invalid_at(&a("prefix = \"10.0.0.0/8\"\nnext_hop = \"0.0.0.0\""), "\"0.0.0.0\"", "announce[0].next_hop");
    assert_eq!(value_msg(kind), "\"0.0.0.0\" cannot be a next hop");
    let kind = invalid_at(&a("prefix = \"10.0.0.0/8\"\nlocal_pref = -1"), "-1", "announce[0].local_pref");
    assert_eq!(value_msg(kind), "-1 is not a valid LOCAL_PREF (0..=4294967295)");
    invalid_at(&a("prefix = \"10.0.0.0/8\"\nmed = 4294967296"), "4294967296", "announce[0].med");
    invalid_at(&a("prefix = \"10.0.0.0/8\"\ncommunities = [\"x\"]"), "\"x\"", "announce[0].communities[0]");
    invalid_at(&a("prefix = \"10.0.0.0/8\"\ncommunities = []"), "[]", "announce[0].communities");
    invalid_at(&a("prefix = \"10.0.0.0/8\"\nlarge_communities = [\"1\"]"), "\"1\"", "announce[0].large_communities[0]");
    let kind =
        invalid_at(&a("prefix = \"10.0.0.0/8\"\ncomunities = [\"1:1\"]"), "comunities", "announce[0].comunities");
    assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "communities"));
}

#[test]
fn read_error_names_the_file() {
    let e = load(Path::new("/nonexistent/bgp.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().starts_with("/nonexistent/bgp.toml: cannot read: "), "{e}");
    assert_eq!(e.position(), None);
}

#[test]
fn send_hold_time_reaches_every_session() {
    let c = ok(&with_global("send_hold_time = 20"));
    assert_eq!(c.global().send_hold_time, Some(20));
    let n = &c.neighbors[0];
    assert_eq!(n.peer_config(c.global()).send_hold_time, Some(std::time::Duration::from_secs(20)));
    assert_eq!(ok(MINIMAL).global().send_hold_time, None, "default: RFC 9687's");
    for bad in [0, 2, 65536] {
        let kind = invalid(&with_global(&format!("send_hold_time = {bad}")), 3, 18, "global.send_hold_time");
        assert_eq!(value_msg(kind), format!("{bad} is not a valid time in seconds (3..=65535)"));
    }
}

#[test]
fn min_hold_time_reaches_every_session() {
    let c = ok(&with_global("min_hold_time = 30"));
    assert_eq!(c.global().min_hold_time, Some(30));
    let n = &c.neighbors[0];
    assert_eq!(n.peer_config(c.global()).min_hold_time, Some(30));
    assert_eq!(ok(MINIMAL).global().min_hold_time, None, "default: any hold time, 0 included");
    for bad in [0, 2, 65536] {
        let kind = invalid(&with_global(&format!("min_hold_time = {bad}")), 3, 17, "global.min_hold_time");
        assert_eq!(value_msg(kind), format!("{bad} is not a valid hold time in seconds (3..=65535)"));
    }
}

/// `MINIMAL` with a `[kernel]` table holding `keys` (line 9 is `[kernel]`, line 10
/// its first key).
fn kernel(keys: &str) -> String {
    format!("{MINIMAL}\n[kernel]\n{keys}\n")
}

#[test]
fn kernel_defaults() {
    use crate::kernel::RouteType;
    let k = ok(MINIMAL).kernel;
    assert_eq!(k, Kernel::default());
    assert_eq!(ok(&kernel("")).kernel, k, "an empty [kernel] is the defaults");
    assert!(!k.install && !k.resolve_via_default);
    assert_eq!((k.table, k.protocol, k.metric), (254, 186, 20));
    assert_eq!((k.install_policy, k.import), (None, vec![]));
    assert_eq!(ok(MINIMAL).install_policy(), None, "no policy: every route is installed");

    let c = ok(&format!("{MINIMAL}\n[[kernel.import]]\nwithin = [\"10.42.0.0/16\", \"fd42::/48\"]\n"));
    let i = &c.kernel.import[0];
    assert_eq!(i.within, vec![prefix("10.42.0.0/16"), prefix("fd42::/48")]);
    assert_eq!(i.protocol, Vec::<u8>::new(), "any but ours and the kernel's");
    assert_eq!(i.kind, vec![RouteType::Unicast, RouteType::Blackhole]);
    assert_eq!(i.table, 254);
    assert!(i.communities.is_empty() && i.large_communities.is_empty());
    assert_eq!((i.local_pref, i.med), (None, None));
    assert!(!c.kernel.install, "importing does not need install");
}

#[test]
fn kernel_every_key() {
    use crate::kernel::RouteType;
    let text = format!(
        "{ROUTING}
[kernel]
install = true
table = 100
protocol = \"zebra\"
metric = 0
install_policy = \"from-router\"
resolve_via_default = true

[[kernel.import]]
within = [\"10.42.0.0/16\"]
protocol = [\"bird\", 4, \"17\"]
type = [\"blackhole\", \"unicast\", \"unreachable\", \"prohibit\"]
table = \"main\"
communities = [\"65000:1\", \"no-export\"]
large_communities = [\"65000:1:2\"]
local_pref = 200
med = 10

[[kernel.import]]
within = [\"0.0.0.0/0\"]
table = \"4294967295\"
protocol = [\"bgp\"]
"
    );
    let c = ok(&text);
    let k = &c.kernel;
    assert!(k.install && k.resolve_via_default);
    assert_eq!((k.table, k.protocol, k.metric), (100, 11, 0));
    assert_eq!(k.install_policy.as_deref(), Some("from-router"));
    assert_eq!(c.install_policy().map(|p| p.name.clone()).as_deref(), Some("from-router"));
    let i = &k.import[0];
    assert_eq!(i.within, vec![prefix("10.42.0.0/16")]);
    assert_eq!(i.protocol, vec![12, 4, 17]);
    assert_eq!(i.kind, vec![RouteType::Blackhole, RouteType::Unicast, RouteType::Unreachable, RouteType::Prohibit]);
    assert_eq!(i.table, 254);
    assert_eq!(i.communities, vec![Community(65000 << 16 | 1), Community::NO_EXPORT]);
    assert_eq!(i.large_communities, vec![LargeCommunity { global: 65000, local1: 1, local2: 2 }]);
    assert_eq!((i.local_pref, i.med), (Some(200), Some(10)));
    // Our protocol in another table than ours may be imported.
    assert_eq!((k.import[1].table, &k.import[1].protocol), (u32::MAX, &vec![186]));
    // The built-ins are policies too.
    assert_eq!(ok(&kernel("install_policy = \"reject-all\"")).install_policy().unwrap().name, "reject-all");
}

#[test]
fn kernel_names_from_files() {
    let mut names = RtNames::builtin();
    names.tables.extend(parse_rt_names("100 pods\n0x65 lbs\n"));
    names.protocols.extend(parse_rt_names("80 calico\n"));
    let text = format!(
        "{}\n[[kernel.import]]\nwithin = [\"10.42.0.0/16\"]\ntable = \"lbs\"\nprotocol = [\"calico\", \"bird\"]\n",
        kernel("table = \"pods\"\nprotocol = \"calico\"")
    );
    let c = parse_with_names("bgp.toml", &text, &names).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((c.kernel.table, c.kernel.protocol), (100, 80));
    assert_eq!((c.kernel.import[0].table, &c.kernel.import[0].protocol), (101, &vec![80, 12]));
    // `parse` knows the built-ins only.
    let kind = invalid_at(&text, "\"pods\"", "kernel.table");
    assert_eq!(value_msg(kind), "\"pods\" is not a table number (1..=4294967295) or a name in /etc/iproute2/rt_tables");
}

#[test]
fn kernel_table_errors() {
    let table = |v: &str| invalid(&kernel(&format!("table = {v}")), 10, 9, "kernel.table");
    assert_eq!(
        value_msg(table("253")),
        "253 is the kernel's default table, looked up only after main: use main (254) or a table of your own"
    );
    assert_eq!(
        value_msg(table("\"default\"")),
        "\"default\" (253) is the kernel's default table, looked up only after main: use main (254) or a table of \
         your own"
    );
    assert_eq!(
        value_msg(table("255")),
        "255 is the kernel's local table, which holds this host's own addresses: use main (254) or a table of your \
         own"
    );
    assert!(value_msg(table("\"local\"")).starts_with("\"local\" (255) is the kernel's local table"));
    for bad in ["0", "-1", "4294967296", "\"0\""] {
        let n = bad.trim_matches('"');
        assert_eq!(value_msg(table(bad)), format!("{n} is not a valid table number (1..=4294967295)"), "{bad}");
    }
    assert_eq!(value_msg(table("\"unspec\"")), "\"unspec\" (0) is not a valid table number (1..=4294967295)");
    assert_eq!(
        value_msg(table("\"foo\"")),
        "\"foo\" is not a table number (1..=4294967295) or a name in /etc/iproute2/rt_tables"
    );
    assert_eq!(
        value_msg(table("\"man\"")),
        "\"man\" is not a table number (1..=4294967295) or a name in /etc/iproute2/rt_tables; did you mean \"main\"?"
    );
    assert_eq!(table("true"), ErrorKind::Type("expected an integer or a string, found boolean true".into()));
    assert_eq!(table("1.5"), ErrorKind::Type("expected an integer or a string, found float 1.5".into()));
    let kind = invalid(&kernel("table = 99999999999999999999"), 10, 9, "kernel.table");
    assert_eq!(value_msg(kind), "integer out of range");
    // The same rules in [[kernel.import]].
    let text = format!("{MINIMAL}\n[[kernel.import]]\nwithin = [\"10.0.0.0/8\"]\ntable = 255\n");
    let kind = invalid(&text, 11, 9, "kernel.import[0].table");
    assert!(value_msg(kind).starts_with("255 is the kernel's local table"));
}

#[test]
fn kernel_protocol_errors() {
    let protocol = |v: &str| invalid(&kernel(&format!("protocol = {v}")), 10, 12, "kernel.protocol");
    assert_eq!(
        value_msg(protocol("\"foo\"")),
        "\"foo\" is not a protocol number (1..=255) or a name in /etc/iproute2/rt_protos"
    );
    assert_eq!(
        value_msg(protocol("\"bird2\"")),
        "\"bird2\" is not a protocol number (1..=255) or a name in /etc/iproute2/rt_protos; did you mean \"bird\"?"
    );
    for bad in ["0", "256", "-3", "\"256\""] {
        let n = bad.trim_matches('"');
        assert_eq!(value_msg(protocol(bad)), format!("{n} is not a valid protocol number (1..=255)"), "{bad}");
    }
    assert_eq!(value_msg(protocol("\"unspec\"")), "\"unspec\" (0) is not a valid protocol number (1..=255)");
    let msg = value_msg(protocol("\"kernel\""));
    assert!(msg.starts_with("\"kernel\" (2) is the kernel's own protocol"), "{msg}");
    assert!(value_msg(protocol("2")).starts_with("2 is the kernel's own protocol"));
    assert!(matches!(protocol("[\"bgp\"]"), ErrorKind::Type(m) if m.starts_with("expected an integer or a string")));
    // Any other number or name will do.
    assert_eq!(ok(&kernel("protocol = 255")).kernel.protocol, 255);
    assert_eq!(ok(&kernel("protocol = \"static\"")).kernel.protocol, 4);
    assert_eq!(ok(&kernel("protocol = \"1\"")).kernel.protocol, 1);
}

#[test]
fn kernel_other_errors() {
    let kind = invalid(&kernel("metric = -1"), 10, 10, "kernel.metric");
    assert_eq!(value_msg(kind), "-1 is not a valid metric (0..=4294967295)");
    invalid(&kernel("metric = 4294967296"), 10, 10, "kernel.metric");
    let kind = invalid(&kernel("install_policy = \"x\""), 10, 18, "kernel.install_policy");
    assert_eq!(value_msg(kind), "no policy named \"x\" (there are: accept-all, reject-all)");
    let kind = invalid(&kernel("install_policy = \"acept-all\""), 10, 18, "kernel.install_policy");
    assert_eq!(value_msg(kind), "no policy named \"acept-all\"; did you mean \"accept-all\"?");
    let kind = invalid(&kernel("install = \"yes\""), 10, 11, "kernel.install");
    assert_eq!(kind, ErrorKind::Type("expected a boolean, found string \"yes\"".into()));
    invalid(&kernel("resolve_via_default = 1"), 10, 23, "kernel.resolve_via_default");
    let kind = invalid(&kernel("instal = true"), 10, 1, "kernel.instal");
    assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "install"));
    let kind = invalid(&kernel("zzz = 1"), 10, 1, "kernel.zzz");
    assert_eq!(
        kind.to_string(),
        "unknown key; expected one of: install, table, protocol, metric, install_policy, resolve_via_default, import"
    );
    let kind = invalid(&format!("{MINIMAL}\n[kernal]\n"), 9, 2, "kernal");
    assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "kernel"));
    // An array of tables where a table belongs (reported as for `[[global]]`).
    invalid(&format!("{MINIMAL}\n[[kernel]]\ninstall = true\n"), 9, 1, "kernel[0]");
}

#[test]
fn kernel_import_errors() {
    // Line 9 is [[kernel.import]], 10 `within`, 11 the key under test.
    let import = |keys: &str| format!("{MINIMAL}\n[[kernel.import]]\n{keys}\n");
    let within = |keys: &str| import(&format!("within = [\"10.42.0.0/16\"]\n{keys}"));

    let kind = invalid(&import("protocol = [\"bird\"]"), 9, 1, "kernel.import[0].within");
    assert_eq!(kind, ErrorKind::Missing);
    let kind = invalid(&import("within = []"), 10, 10, "kernel.import[0].within");
    assert_eq!(value_msg(kind), "is empty: list at least one prefix to import from");
    let kind = invalid(&import("within = [\"10.42.0.1/16\"]"), 10, 11, "kernel.import[0].within[0]");
    assert_eq!(value_msg(kind), "\"10.42.0.1/16\" has host bits set; did you mean \"10.42.0.0/16\"?");
    let kind = invalid(&import("within = [\"10.42.0.0/16\", \"10.42.0.0/16\"]"), 10, 27, "kernel.import[0].within[1]");
    assert_eq!(conflict_msg(kind), "10.42.0.0/16 is listed twice");
    let kind = invalid(&import("within = \"10.42.0.0/16\""), 10, 10, "kernel.import[0].within");
    assert!(matches!(kind, ErrorKind::Type(m) if m.starts_with("expected an array")));

    let kind = invalid(&within("protocol = [\"bird\", 12]"), 11, 21, "kernel.import[0].protocol[1]");
    assert_eq!(conflict_msg(kind), "12 is listed twice");
    let kind = invalid(&within("protocol = []"), 11, 12, "kernel.import[0].protocol");
    assert_eq!(value_msg(kind), "is empty: list at least one protocol, or leave the key out");
    let kind = invalid(&within("protocol = [\"bird\", \"nope\"]"), 11, 21, "kernel.import[0].protocol[1]");
    assert!(value_msg(kind).starts_with("\"nope\" is not a protocol number (1..=255)"));
    invalid(&within("protocol = [0]"), 11, 13, "kernel.import[0].protocol[0]");
    invalid(&within("protocol = \"bird\""), 11, 12, "kernel.import[0].protocol");
    // Our own installed routes are never imported: in our table, our protocol is a mistake.
    let kind = invalid(&within("protocol = [\"bird\", \"bgp\"]"), 11, 21, "kernel.import[0].protocol[1]");
    assert_eq!(
        conflict_msg(kind),
        "\"bgp\" (186) is kernel.protocol, the routes this daemon installs in this table: they are never imported"
    );
    let text = format!("{}\n[kernel]\nprotocol = 90\n", within("protocol = [90]"));
    invalid(&text, 11, 13, "kernel.import[0].protocol[0]");
    ok(&format!("{}\n[kernel]\nprotocol = 90\n", within("protocol = [186]")));

    let kind = invalid(&within("type = [\"local\"]"), 11, 9, "kernel.import[0].type[0]");
    assert_eq!(
        value_msg(kind),
        "\"local\" is not a route type (expected \"unicast\", \"blackhole\", \"unreachable\" or \"prohibit\")"
    );
    let kind = invalid(&within("type = []"), 11, 8, "kernel.import[0].type");
    assert_eq!(value_msg(kind), "is empty: list at least one route type, or leave the key out");
    let kind = invalid(&within("type = [\"blackhole\", \"blackhole\"]"), 11, 22, "kernel.import[0].type[1]");
    assert_eq!(conflict_msg(kind), "blackhole is listed twice");

    invalid(&within("table = 253"), 11, 9, "kernel.import[0].table");
    invalid(&within("communities = [\"x\"]"), 11, 16, "kernel.import[0].communities[0]");
    invalid(&within("large_communities = [\"1:2\"]"), 11, 22, "kernel.import[0].large_communities[0]");
    let kind = invalid(&within("local_pref = -1"), 11, 14, "kernel.import[0].local_pref");
    assert_eq!(value_msg(kind), "-1 is not a valid LOCAL_PREF (0..=4294967295)");
    invalid(&within("med = 4294967296"), 11, 7, "kernel.import[0].med");
    let kind = invalid(&within("comunities = [\"1:1\"]"), 11, 1, "kernel.import[0].comunities");
    assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "communities"));
    let kind = invalid(&within("kind = [\"unicast\"]"), 11, 1, "kernel.import[0].kind");
    assert!(kind.to_string().contains("within, protocol, type, table, communities"), "{kind}");
    // The second entry counts from its own header.
    let text = format!("{}\n[[kernel.import]]\nwithin = [\"10.0.0.0/33\"]\n", within(""));
    invalid(&text, 14, 11, "kernel.import[1].within[0]");
}

/// `MINIMAL` with a `[kubernetes]` table holding `keys` (line 9 is `[kubernetes]`,
/// line 10 its first key).
fn kubernetes(keys: &str) -> String {
    format!("{MINIMAL}\n[kubernetes]\n{keys}\n")
}

#[test]
fn kubernetes_defaults() {
    assert_eq!(ok(MINIMAL).kubernetes, None, "no section: no Kubernetes source");
    let k = ok(&kubernetes("")).kubernetes.expect("the section is there");
    assert_eq!(k, Kubernetes::default());
    assert_eq!((k.kubeconfig, k.node_name, k.mode), (None, None, KubernetesMode::Node));
    assert!(k.load_balancers && !k.pod_cidrs);
    assert_eq!(k.service_selector, None);
    assert_eq!(Kubernetes::default().selector(), crate::kubernetes::selector::Selector::everything());
}

#[test]
fn kubernetes_every_key() {
    let k = ok(&kubernetes(
        "kubeconfig = \"/etc/bgp/kubeconfig\"
node_name = \"node-1.lab\"
mode = \"node\"
load_balancers = false
pod_cidrs = true
service_selector = \"bgp.example.com/announce in (yes, true), tier!=internal\"",
    ))
    .kubernetes
    .unwrap();
    assert_eq!(k.kubeconfig, Some(PathBuf::from("/etc/bgp/kubeconfig")));
    assert_eq!(k.node_name.as_deref(), Some("node-1.lab"));
    assert_eq!(k.mode, KubernetesMode::Node);
    assert!(!k.load_balancers && k.pod_cidrs);
    assert_eq!(k.service_selector.as_deref(), Some("bgp.example.com/announce in (yes, true), tier!=internal"));
    let labels: &[(&str, &str)] = &[("bgp.example.com/announce", "yes")];
    assert!(k.selector().matches(labels));
    let labels: &[(&str, &str)] = &[("bgp.example.com/announce", "yes"), ("tier", "internal")];
    assert!(!k.selector().matches(labels));

    let k = ok(&kubernetes("mode = \"cluster\"\npod_cidrs = true")).kubernetes.unwrap();
    assert_eq!((k.mode, k.node_name, k.pod_cidrs), (KubernetesMode::Cluster, None, true));
    assert_eq!(KubernetesMode::Cluster.to_string(), "cluster");
}

#[test]
fn kubernetes_errors() {
    let kind = invalid(&kubernetes("node = \"n1\""), 10, 1, "kubernetes.node");
    match kind {
        ErrorKind::UnknownKey { suggestion, allowed } => {
            assert_eq!(suggestion.as_deref(), Some("mode"));
            assert_eq!(allowed, ["kubeconfig", "node_name", "mode", "load_balancers", "pod_cidrs", "service_selector"]);
        }
        k => panic!("{k:?}"),
    }
    let kind = invalid(&kubernetes("node_nam = \"n1\""), 10, 1, "kubernetes.node_nam");
    assert!(matches!(kind, ErrorKind::UnknownKey { suggestion: Some(s), .. } if s == "node_name"));
    assert_eq!(
        value_msg(invalid(&kubernetes("mode = \"daemonset\""), 10, 8, "kubernetes.mode")),
        "unknown mode \"daemonset\" (expected \"node\" or \"cluster\")"
    );
    assert_eq!(
        conflict_msg(invalid(&kubernetes("mode = \"cluster\"\nnode_name = \"n1\""), 11, 13, "kubernetes.node_name")),
        "is for mode = \"node\" only: in cluster mode the speaker announces for every node; leave the key out"
    );
    // The order of the keys does not matter.
    invalid(&kubernetes("node_name = \"n1\"\nmode = \"cluster\""), 10, 13, "kubernetes.node_name");
    assert!(value_msg(invalid(&kubernetes("node_name = \"Node_1\""), 10, 13, "kubernetes.node_name"))
        .starts_with("\"Node_1\" is not a valid node name"));
    assert_eq!(
        value_msg(invalid(&kubernetes("service_selector = \"a in ()\""), 10, 20, "kubernetes.service_selector")),
        "\"a in ()\" is not a label selector: the values of 'in' cannot be empty"
    );
    assert!(value_msg(invalid(&kubernetes("service_selector = \"a=b=c\""), 10, 20, "kubernetes.service_selector"))
        .starts_with("\"a=b=c\" is not a label selector: expected ','"));
    assert_eq!(
        value_msg(invalid(&kubernetes("service_selector = \" \""), 10, 20, "kubernetes.service_selector")),
        "is empty: leave the key out to select every Service"
    );
    assert_eq!(
        value_msg(invalid(&kubernetes("kubeconfig = \"\""), 10, 14, "kubernetes.kubeconfig")),
        "is empty: name a file, or leave the key out"
    );
    assert_eq!(
        conflict_msg(invalid(&kubernetes("load_balancers = false"), 10, 18, "kubernetes.load_balancers")),
        "and kubernetes.pod_cidrs are both false: nothing would be announced; remove [kubernetes] instead"
    );
    let kind = invalid(&kubernetes("pod_cidrs = \"yes\""), 10, 13, "kubernetes.pod_cidrs");
    assert_eq!(kind, ErrorKind::Type("expected a boolean, found string \"yes\"".into()));
}

#[test]
fn long_lived_stale_time() {
    let kind =
        invalid(&format!("{MINIMAL}long_lived_stale_time = 16777216\n"), 8, 25, "neighbor[0].long_lived_stale_time");
    assert!(value_msg(kind).contains("0..=16777215"));
    invalid(&format!("{MINIMAL}long_lived_stale_time = -1\n"), 8, 25, "neighbor[0].long_lived_stale_time");
    let c = ok(MINIMAL);
    let p = c.neighbors()[0].peer_config(c.global());
    assert!(p.long_lived_graceful_restart.is_none(), "0, the default: not advertised");
    let c = ok(&format!("{MINIMAL}long_lived_stale_time = 3600\nfamilies = [\"ipv4-unicast\", \"ipv6-unicast\"]\n"));
    let p = c.neighbors()[0].peer_config(c.global());
    let families: Vec<_> = p
        .long_lived_graceful_restart
        .expect("advertised")
        .iter()
        .map(|f| (f.family, f.stale_time, f.forwarding_preserved))
        .collect();
    assert_eq!(families, vec![(Family::IPV4_UNICAST, 3600, false), (Family::IPV6_UNICAST, 3600, false)]);
    let range = "\n[[neighbor_range]]\nprefix = \"10.1.0.0/16\"\nasn = 65000\nlong_lived_stale_time = 60\n";
    let c = ok(&format!("{GLOBAL}{range}"));
    assert_eq!(c.neighbor_ranges()[0].settings.long_lived_stale_time, 60);
}
