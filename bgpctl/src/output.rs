//! Text renderings of the daemon's replies. (`--json` prints the protocol objects
//! with serde directly.)
//!
//! Text from the daemon can come from peers (hostnames from the FQDN capability,
//! RFC 9003 shutdown communications in `last_error`, route attributes), so it goes
//! through [`clean`] before it reaches the terminal.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use bgp_core::ctl::{
    BfdSessionRow, DrainRow, FibNextHopRow, FibRow, FibState, KernelProvenance, KubeConnection, KubernetesOwnerRow,
    KubernetesRouteRow, KubernetesStatus, MessageCounters, NeighborDetail, NeighborSummary, NextHopRow, RibSummary,
    RouteRow, SessionState,
};
use bgp_core::wire::Origin;

/// Descriptions longer than this are cut in the summary table.
const DESCRIPTION_WIDTH: usize = 20;

/// `s` with terminal control characters (and Unicode direction overrides) escaped,
/// so that peer-supplied text cannot move the cursor, recolour or reorder the output.
pub fn clean(s: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` as one printable line: line breaks become spaces, control characters escaped.
pub fn one_line(s: &str) -> String {
    let joined: String = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    clean(&joined).into_owned()
}

/// A duration the way FRR prints Up/Down: `00:05:12` under a day, `3d04h05m` under a
/// week, `02w3d04h` under a year, `01y05w3d` beyond.
pub fn format_uptime(seconds: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    const WEEK: u64 = 7 * DAY;
    const YEAR: u64 = 365 * DAY;
    let s = seconds;
    if s < DAY {
        format!("{:02}:{:02}:{:02}", s / HOUR, s % HOUR / MINUTE, s % MINUTE)
    } else if s < WEEK {
        format!("{}d{:02}h{:02}m", s / DAY, s % DAY / HOUR, s % HOUR / MINUTE)
    } else if s < YEAR {
        format!("{:02}w{}d{:02}h", s / WEEK, s % WEEK / DAY, s % DAY / HOUR)
    } else {
        format!("{:02}y{:02}w{}d", s / YEAR, s % YEAR / WEEK, s % YEAR % WEEK / DAY)
    }
}

/// The State/PfxRcd cell: the prefix count once Established, else the state.
pub fn state_or_prefixes(n: &NeighborSummary) -> String {
    if n.admin_down {
        "Idle (Admin)".to_owned()
    } else if n.state == SessionState::Established {
        n.prefixes_received.to_string()
    } else {
        n.state.to_string()
    }
}

/// The PfxSnt cell (FRR's): prefixes advertised, once Established; else blank.
fn prefixes_sent(n: &NeighborSummary) -> String {
    if n.state == SessionState::Established {
        n.prefixes_advertised.to_string()
    } else {
        String::new()
    }
}

/// The Up/Down cell; `never` for a session that has not changed state since start.
fn up_down(n: &NeighborSummary) -> String {
    if n.uptime_seconds == 0 && n.state != SessionState::Established {
        "never".to_owned()
    } else {
        format_uptime(n.uptime_seconds)
    }
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(width - 1).collect();
        out.truncate(out.trim_end().len());
        out.push('…');
        out
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// One column of [`layout`].
#[derive(Clone, Copy)]
struct Column<'a> {
    header: &'a str,
    align: Align,
    /// The column is at least this wide, wider if a cell needs it.
    min_width: usize,
    /// Printed before the column (not before the first).
    separator: &'a str,
}

/// Lays out `rows` under `headers`, columns two spaces apart, no trailing blanks.
pub(crate) fn table<const N: usize>(headers: [(&str, Align); N], rows: &[[String; N]]) -> String {
    let columns = headers.map(|(header, align)| Column { header, align, min_width: 0, separator: "  " });
    layout(columns, rows)
}

/// Lays out `rows` under the headers of `columns`, every column as wide as its widest
/// cell (or its `min_width`), no trailing blanks.
fn layout<const N: usize>(columns: [Column<'_>; N], rows: &[[String; N]]) -> String {
    let mut widths = columns.map(|c| c.min_width.max(c.header.chars().count()));
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row = columns.map(|c| c.header.to_owned());
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str(columns[i].separator);
            }
            let pad = " ".repeat(widths[i] - cell.chars().count());
            match columns[i].align {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `bgpctl show neighbors`: one line per neighbor, like FRR's `show bgp summary`.
pub fn summary_table(neighbors: &[NeighborSummary]) -> String {
    if neighbors.is_empty() {
        return "No BGP neighbors.\n".to_owned();
    }
    use Align::{Left, Right};
    let headers = [
        ("Neighbor", Left),
        ("Description", Left),
        ("AS", Right),
        ("State/PfxRcd", Right),
        ("PfxSnt", Right),
        ("Up/Down", Right),
        ("MsgRcvd", Right),
        ("MsgSent", Right),
        ("OutQ", Right),
    ];
    let mut sorted: Vec<&NeighborSummary> = neighbors.iter().collect();
    sorted.sort_by_key(|n| n.address);
    let rows: Vec<[String; 9]> = sorted
        .iter()
        .map(|n| {
            [
                format!("{}{}", n.address, if n.dynamic { "*" } else { "" }),
                match &n.description {
                    Some(d) if !d.is_empty() => clean(&truncate(d, DESCRIPTION_WIDTH)).into_owned(),
                    _ => "-".to_owned(),
                },
                n.asn.to_string(),
                drained_cell(state_or_prefixes(n), n),
                prefixes_sent(n),
                up_down(n),
                n.messages_received.to_string(),
                n.messages_sent.to_string(),
                n.out_queue.to_string(),
            ]
        })
        .collect();
    let mut out = table(headers, &rows);
    let _ = writeln!(out, "\nTotal number of neighbors {}", neighbors.len());
    if neighbors.iter().any(|n| n.dynamic) {
        out.push_str("* dynamic neighbor (neighbor_range)\n");
    }
    if neighbors.iter().any(|n| n.drained) {
        out.push_str("(drained): sent our routes with GRACEFUL_SHUTDOWN (bgpctl undrain ends it)\n");
    }
    out
}

/// The State/PfxRcd cell of a drained neighbor says so.
fn drained_cell(cell: String, n: &NeighborSummary) -> String {
    if n.drained {
        format!("{cell} (drained)")
    } else {
        cell
    }
}

/// `bgpctl drain` and `undrain`: a line per neighbor whose state changed, then the
/// daemon's message.
pub fn drain_rows(rows: &[DrainRow], message: &str) -> String {
    let mut out = String::new();
    let width = rows.iter().map(|r| r.address.to_string().len()).max().unwrap_or(0);
    for r in rows {
        let what = if r.drained { "drained" } else { "undrained" };
        let _ = writeln!(out, "{:<width$}  {what:<9}  {} routes announced again", r.address.to_string(), r.routes);
    }
    let _ = writeln!(out, "{}", clean(message));
    out
}

/// `bgpctl show neighbors ADDR`: the details of one neighbor.
pub fn neighbor_detail(d: &NeighborDetail) -> String {
    let n = &d.summary;
    let mut out = format!("BGP neighbor {}, remote AS {}", n.address, n.asn);
    if n.dynamic {
        out.push_str(", dynamic (neighbor_range)");
    }
    if n.admin_down {
        out.push_str(", administratively shut down");
    }
    if n.drained {
        out.push_str(", drained (RFC 8326 graceful shutdown)");
    }
    out.push('\n');

    // `key: value` with the values in one column; an empty key continues the field above.
    let mut field = |key: &str, value: &str| {
        let key = if key.is_empty() { String::new() } else { format!("{key}:") };
        let _ = writeln!(out, "  {key:<22}{}", clean(value));
    };
    let or_dash = |v: &Option<String>| v.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "-".to_owned());

    field("Description", &or_dash(&n.description));
    let state = if n.admin_down { "Idle (Admin)".to_owned() } else { n.state.to_string() };
    let since = if n.uptime_seconds == 0 && d.sessions_established == 0 {
        "never established".to_owned()
    } else if n.state == SessionState::Established && !n.admin_down {
        format!("up for {}", format_uptime(n.uptime_seconds))
    } else {
        format!("down for {}", format_uptime(n.uptime_seconds))
    };
    field("State", &format!("{state}, {since}"));
    field("Local address", &or_dash(&d.local_address));
    field("Remote address", &or_dash(&d.remote_address));
    field("Peer router ID", &or_dash(&d.peer_router_id));
    field("Peer hostname", &or_dash(&d.peer_hostname));
    field(
        "Hold time",
        &match d.hold_time {
            Some(h) => format!("{} s configured, {h} s negotiated", d.configured_hold_time),
            None => format!("{} s configured", d.configured_hold_time),
        },
    );
    field(
        "Keepalive",
        &match d.keepalive {
            Some(k) => format!("{k} s negotiated"),
            None => "- (not established)".to_owned(),
        },
    );
    field("Families", &if d.families.is_empty() { "none".to_owned() } else { d.families.join(", ") });
    match d.capabilities.split_first() {
        None => field("Capabilities", "none negotiated"),
        Some((first, rest)) => {
            field("Capabilities", first);
            for cap in rest {
                field("", cap);
            }
        }
    }
    field(
        "Prefixes",
        &format!(
            "{} received, {} accepted, {} advertised",
            n.prefixes_received, n.prefixes_accepted, n.prefixes_advertised
        ),
    );
    field("Sessions established", &d.sessions_established.to_string());
    field("TCP-MD5 password", if d.password { "configured" } else { "not configured" });
    field(
        "TTL security",
        &match d.ttl_security {
            Some(1) => "GTSM, 1 hop".to_owned(),
            Some(hops) => format!("GTSM, {hops} hops"),
            None => "off".to_owned(),
        },
    );
    field("Last error", &or_dash(&n.last_error));
    for (key, value) in long_lived_fields(d) {
        field(key, &value);
    }
    field("BFD", &bfd_line(d.bfd.as_ref()));
    if let Some(hint) = d.hint.as_deref().filter(|h| !h.is_empty()) {
        field("Hint", hint);
    }

    out.push_str("\n  Message statistics:\n");
    let _ = writeln!(out, "    Out queue: {}", n.out_queue);
    out.push_str(&message_counters(&d.sent, &d.received));
    out
}

/// The long-lived graceful restart lines of the detail view (RFC 9494): what we
/// advertise, what the peer sent, and the restart phase the peer is in.
fn long_lived_fields(d: &NeighborDetail) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if d.long_lived_stale_time > 0 || !d.long_lived.is_empty() {
        let ours = match d.long_lived_stale_time {
            0 => "not advertised (long_lived_stale_time = 0)".to_owned(),
            t => format!("advertised, stale time {t} s"),
        };
        out.push(("Long-lived GR", ours));
    }
    for f in &d.long_lived {
        let f_bit = if f.forwarding_preserved { ", F bit" } else { "" };
        let value = format!(
            "peer {}: stale time {} s, keeps its routes {} s{f_bit}",
            f.family, f.stale_time, f.effective_stale_time
        );
        out.push(("", value));
    }
    if let Some(p) = &d.restart_phase {
        let value = match p.phase.as_str() {
            "graceful-restart" => format!("GR stale, {} s left of the restart time", p.seconds_left),
            "long-lived-stale" => {
                format!(
                    "LLGR stale ({}), {} s left of the long-lived stale time",
                    p.families.join(", "),
                    p.seconds_left
                )
            }
            "awaiting-end-of-rib" => format!("back, stale routes go at End-of-RIB or in {} s", p.seconds_left),
            other => format!("{other}, {} s left", p.seconds_left),
        };
        out.push(("Restart phase", value));
    }
    out
}

/// The Sent/Rcvd table of the detail view, indented by four.
fn message_counters(sent: &MessageCounters, rcvd: &MessageCounters) -> String {
    use Align::{Left, Right};
    let row = |name: &str, s: u64, r: u64| [name.to_owned(), s.to_string(), r.to_string()];
    let total = |c: &MessageCounters| c.open + c.update + c.notification + c.keepalive + c.route_refresh;
    let rows = [
        row("Opens", sent.open, rcvd.open),
        row("Updates", sent.update, rcvd.update),
        row("Notifications", sent.notification, rcvd.notification),
        row("Keepalives", sent.keepalive, rcvd.keepalive),
        row("Route Refresh", sent.route_refresh, rcvd.route_refresh),
        row("Total", total(sent), total(rcvd)),
    ];
    // Wide number columns, as in FRR, so counters can grow without shifting the view.
    let headers = [("", Left), ("      Sent", Right), ("      Rcvd", Right)];
    table(headers, &rows).lines().map(|l| format!("    {l}\n")).collect()
}

/// Which table `show routes` shows, for the headings of the text views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteView {
    /// The Loc-RIB: the best path of each prefix and its multipaths, or every path of
    /// one prefix.
    LocRib,
    /// A neighbor's Adj-RIB-In: its routes as received, before import policy.
    Received(IpAddr),
    /// A neighbor's Adj-RIB-Out: the routes as sent to it, after export policy.
    Advertised(IpAddr),
}

impl RouteView {
    fn heading(self) -> Option<String> {
        match self {
            RouteView::LocRib => None,
            RouteView::Received(a) => Some(format!("Routes received from {a}, before import policy (Adj-RIB-In)")),
            RouteView::Advertised(a) => Some(format!("Routes advertised to {a}, after export policy (Adj-RIB-Out)")),
        }
    }

    fn nothing(self) -> String {
        match self {
            RouteView::LocRib => "No BGP routes.".to_owned(),
            RouteView::Received(a) => format!("No routes received from {a}."),
            RouteView::Advertised(a) => format!("No routes advertised to {a}."),
        }
    }
}

/// The legend of the status cell, [`route_status`].
const STATUS_CODES: &str =
    "Status codes: * valid, > best, = multipath, S stale, L long-lived stale, u next hop unreachable";

/// The status cell of a path: `S` stale, `u` next hop unreachable, `*` valid, `>`
/// best or `=` multipath.
pub fn route_status(r: &RouteRow) -> String {
    let mut s = String::with_capacity(4);
    if r.stale {
        s.push('S');
    }
    if r.llgr_stale {
        s.push('L');
    }
    if !r.reachable {
        s.push('u');
    }
    s.push(if r.valid { '*' } else { ' ' });
    s.push(if r.best {
        '>'
    } else if r.multipath {
        '='
    } else {
        ' '
    });
    s
}

/// The origin code FRR prints after the AS path: `i`, `e` or `?`.
fn origin_code(origin: Origin) -> &'static str {
    match origin {
        Origin::Igp => "i",
        Origin::Egp => "e",
        Origin::Incomplete => "?",
    }
}

/// The Path cell: the AS path, then the origin code.
fn path_cell(r: &RouteRow) -> String {
    let code = r.origin.map(origin_code);
    match (r.as_path.is_empty(), code) {
        (true, Some(code)) => code.to_owned(),
        (true, None) => String::new(),
        (false, Some(code)) => format!("{} {code}", r.as_path),
        (false, None) => r.as_path.to_string(),
    }
}

/// The next hop, with the link-local address of an IPv6 one in parentheses.
fn next_hop(r: &RouteRow) -> String {
    match (r.next_hop, r.next_hop_link_local) {
        (None, _) => "-".to_owned(),
        (Some(global), None) => global.to_string(),
        (Some(global), Some(link_local)) => format!("{global} ({link_local})"),
    }
}

fn number_or_blank(n: Option<u32>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

/// `bgpctl show routes`: one line per path, like FRR's `show bgp ipv4 unicast`. The
/// prefix is printed on the first of its paths only.
pub fn route_table(rows: &[RouteRow], view: RouteView) -> String {
    if rows.is_empty() {
        return format!("{}\n", view.nothing());
    }
    use Align::{Left, Right};
    let column = |header, align, min_width, separator| Column { header, align, min_width, separator };
    // At their minimum widths these give
    // `   Network              Next Hop           MED LocPrf  Path`,
    // room for 255.255.255.255/32 and 255.255.255.255; wider when a cell needs it
    // (IPv6), and then still two spaces apart.
    let columns = [
        column("", Right, 2, ""),
        column("Network", Left, 19, " "),
        column("Next Hop", Left, 15, "  "),
        column("MED", Right, 5, "  "),
        column("LocPrf", Right, 6, " "),
        column("Path", Left, 0, "  "),
    ];
    let mut previous: Option<&str> = None;
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let network =
                if previous == Some(r.prefix.as_str()) { String::new() } else { clean(&r.prefix).into_owned() };
            previous = Some(&r.prefix);
            [route_status(r), network, next_hop(r), number_or_blank(r.med), number_or_blank(r.local_pref), path_cell(r)]
        })
        .collect();
    let prefixes = rows.iter().map(|r| r.prefix.as_str()).collect::<HashSet<_>>().len();

    let mut out = String::new();
    if let Some(heading) = view.heading() {
        let _ = writeln!(out, "{heading}\n");
    }
    let _ = writeln!(out, "{STATUS_CODES}");
    out.push_str("Origin codes: i IGP, e EGP, ? incomplete\n\n");
    out.push_str(&layout(columns, &cells));
    let _ = writeln!(out, "\nDisplayed {prefixes} routes and {} total paths", rows.len());
    out
}

/// The flags of one path in words, for the detail view.
fn path_status(r: &RouteRow) -> String {
    let mut words =
        vec![if r.valid { "valid".to_owned() } else { "not valid (refused by policy or a loop check)".to_owned() }];
    if r.best {
        words.push(match r.reason.as_deref().filter(|s| !s.is_empty()) {
            Some(reason) => format!("best ({})", clean(reason)),
            None => "best".to_owned(),
        });
    } else if r.multipath {
        words.push("multipath".to_owned());
    }
    if !r.reachable {
        words.push("next hop unreachable (not a candidate for best path)".to_owned());
    }
    if r.stale {
        words.push("stale".to_owned());
    }
    if r.llgr_stale {
        words.push("long-lived stale (LLGR_STALE: least preferred, sent only to LLGR peers)".to_owned());
    }
    words.join(", ")
}

/// Where an imported kernel route was found: `table main, proto bird, blackhole, dev
/// eth0` (an empty type or a missing device left out).
fn kernel_provenance(k: &KernelProvenance) -> String {
    let mut words = vec![format!("table {}", table_name(k.table)), format!("proto {}", protocol_name(k.protocol))];
    if !k.kind.is_empty() {
        words.push(clean(&k.kind).into_owned());
    }
    if let Some(device) = k.device.as_deref().filter(|d| !d.is_empty()) {
        words.push(format!("dev {}", clean(device)));
    }
    words.join(", ")
}

/// Who a Kubernetes route is announced for: `service web/shop, ready endpoints on n2,
/// n3`, `node n1`.
fn kubernetes_owner(o: &KubernetesOwnerRow) -> String {
    let mut text = format!("{} {}", clean(&o.kind), clean(&o.name));
    if !o.ready_nodes.is_empty() {
        let nodes: Vec<String> = o.ready_nodes.iter().map(|n| clean(n).into_owned()).collect();
        let _ = write!(text, ", ready endpoints on {}", nodes.join(", "));
    }
    text
}

/// `bgpctl show routes PREFIX`: every path of the prefix with all its attributes,
/// like FRR's `show bgp ipv4 unicast PREFIX`.
pub fn route_detail(rows: &[RouteRow], view: RouteView) -> String {
    if rows.is_empty() {
        return format!("{}\n", view.nothing());
    }
    // The daemon sends one prefix; should it send more, each gets its own entry.
    let mut entries: Vec<(&str, Vec<&RouteRow>)> = Vec::new();
    for r in rows {
        match entries.iter_mut().find(|(p, _)| *p == r.prefix) {
            Some((_, paths)) => paths.push(r),
            None => entries.push((&r.prefix, vec![r])),
        }
    }

    let mut out = String::new();
    if let Some(heading) = view.heading() {
        let _ = writeln!(out, "{heading}\n");
    }
    for (i, (prefix, paths)) in entries.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "BGP routing table entry for {}", clean(prefix));
        let n = paths.len();
        let _ = match (view, paths.iter().position(|r| r.best)) {
            (RouteView::LocRib, Some(best)) => writeln!(out, "Paths: {n} available, best #{}", best + 1),
            (RouteView::LocRib, None) => writeln!(out, "Paths: {n} available, no best path"),
            _ => writeln!(out, "Paths: {n}"),
        };
        for (j, r) in paths.iter().enumerate() {
            let _ = writeln!(out, "\n  Path #{}: {}", j + 1, path_status(r));
            let mut field = |key: &str, value: &str| {
                let _ = writeln!(out, "    {:<22}{value}", format!("{key}:"));
            };
            field("From", &clean(&r.from));
            if let Some(kernel) = &r.kernel {
                field("Imported from kernel", &kernel_provenance(kernel));
            }
            for owner in &r.kubernetes {
                field("Kubernetes", &kubernetes_owner(owner));
            }
            if r.reachable {
                field("Next hop", &next_hop(r));
            } else {
                field("Next hop", &format!("{} (unreachable)", next_hop(r)));
            }
            field("AS path", &if r.as_path.is_empty() { "(empty)".to_owned() } else { r.as_path.to_string() });
            field("Origin", &or_dash(r.origin));
            field("MED", &or_dash(r.med));
            field("LOCAL_PREF", &or_dash(r.local_pref));
            field("Communities", &words_or_dash(&r.communities));
            field("Large communities", &words_or_dash(&r.large_communities));
            field("Extended communities", &words_or_dash(&r.ext_communities));
            field("Originator ID", &or_dash(r.originator_id));
            field("Cluster list", &words_or_dash(&r.cluster_list));
            field("Atomic aggregate", if r.atomic_aggregate { "yes" } else { "no" });
            field("Aggregator", &or_dash(r.aggregator));
            field("Path ID", &r.path_id.to_string());
        }
    }
    out
}

/// `v`, or `-` when there is none.
fn or_dash(v: Option<impl std::fmt::Display>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `items` separated by spaces, or `-` when there are none.
fn words_or_dash(items: &[impl std::fmt::Display]) -> String {
    if items.is_empty() {
        return "-".to_owned();
    }
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

/// The names of kernel tables and protocols, as `ip route` prints them: iproute2's
/// files (/etc/iproute2, /usr/share/iproute2) over the built-in ones.
fn rt_names() -> &'static bgp_core::config::RtNames {
    static NAMES: std::sync::OnceLock<bgp_core::config::RtNames> = std::sync::OnceLock::new();
    NAMES.get_or_init(bgp_core::config::RtNames::system)
}

/// A kernel table by name (`main`), else its number.
pub fn table_name(table: u32) -> String {
    rt_names().table_name(table).map_or_else(|| table.to_string(), str::to_owned)
}

/// A kernel route protocol (`rtm_protocol`) by name (`bird`), else its number.
pub fn protocol_name(protocol: u8) -> String {
    rt_names().protocol_name(protocol).map_or_else(|| protocol.to_string(), str::to_owned)
}

/// One way out: `10.0.0.11 (eth0)`, `10.0.0.13` without a known device, `on link
/// (eth0)` without a gateway; a device without a name is shown by its ifindex.
fn forwarding_hop(h: &FibNextHopRow) -> String {
    let device = match h.device.as_deref().filter(|d| !d.is_empty()) {
        Some(name) => Some(clean(name).into_owned()),
        None if h.ifindex != 0 => Some(format!("ifindex {}", h.ifindex)),
        None => None,
    };
    match (h.gateway, device) {
        (Some(gateway), Some(device)) => format!("{gateway} ({device})"),
        (Some(gateway), None) => gateway.to_string(),
        (None, Some(device)) => format!("on link ({device})"),
        (None, None) => "-".to_owned(),
    }
}

/// The ways out of a route or next hop, comma-separated; `-` for none.
pub fn forwarding_hops(hops: &[FibNextHopRow]) -> String {
    if hops.is_empty() {
        return "-".to_owned();
    }
    hops.iter().map(forwarding_hop).collect::<Vec<_>>().join(", ")
}

fn fib_state(state: FibState) -> &'static str {
    match state {
        FibState::Installed => "installed",
        FibState::Pending => "pending",
        FibState::Failed => "failed",
    }
}

/// The Error cell: the kernel's text, with the errno when there is one.
fn fib_error(r: &FibRow) -> String {
    let text = r.error.as_deref().map(one_line).filter(|e| !e.is_empty());
    match (text, r.errno) {
        (Some(text), Some(errno)) => format!("{text} (errno {errno})"),
        (Some(text), None) => text,
        (None, Some(errno)) => format!("errno {errno}"),
        (None, None) => String::new(),
    }
}

/// `table main, protocol bgp, metric 20`: where the routes go.
fn fib_target(r: &FibRow) -> String {
    format!("table {}, protocol {}, metric {}", table_name(r.table), protocol_name(r.protocol), r.metric)
}

/// `bgpctl show fib`: the routes we install into the kernel, in the daemon's order,
/// under one line saying where they go; should the rows not agree on table,
/// protocol and metric, each row says it in columns of its own. `prefix` is what
/// was asked for, for the line of an empty answer.
pub fn fib_table(rows: &[FibRow], prefix: Option<&str>) -> String {
    let Some(first) = rows.first() else {
        return match prefix {
            Some(prefix) => format!("No FIB route for {}.\n", clean(prefix)),
            None => "No FIB routes: nothing installed into the kernel.\n".to_owned(),
        };
    };
    use Align::{Left, Right};
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                clean(&r.prefix).into_owned(),
                table_name(r.table),
                protocol_name(r.protocol),
                r.metric.to_string(),
                forwarding_hops(&r.next_hops),
                fib_state(r.state).to_owned(),
                fib_error(r),
            ]
        })
        .collect();
    let agree = rows.iter().all(|r| (r.table, r.protocol, r.metric) == (first.table, first.protocol, first.metric));
    let mut out = String::new();
    if agree {
        let _ = writeln!(out, "{}\n", fib_target(first));
        let cells: Vec<[String; 4]> =
            cells.into_iter().map(|[prefix, _, _, _, hops, state, error]| [prefix, hops, state, error]).collect();
        out.push_str(&table([("Prefix", Left), ("Next hops", Left), ("State", Left), ("Error", Left)], &cells));
    } else {
        let headers = [
            ("Prefix", Left),
            ("Table", Left),
            ("Protocol", Left),
            ("Metric", Right),
            ("Next hops", Left),
            ("State", Left),
            ("Error", Left),
        ];
        out.push_str(&table(headers, &cells));
    }
    let count = |state| rows.iter().filter(|r| r.state == state).count();
    let counts: Vec<String> = [FibState::Installed, FibState::Pending, FibState::Failed]
        .into_iter()
        .filter(|&state| count(state) > 0)
        .map(|state| format!("{} {}", count(state), fib_state(state)))
        .collect();
    let routes = if rows.len() == 1 { "route" } else { "routes" };
    let _ = writeln!(out, "\n{} {routes}: {}", rows.len(), counts.join(", "));
    out
}

/// `bgpctl show nexthops`: every tracked BGP next hop, in the daemon's order.
pub fn next_hop_table(rows: &[NextHopRow]) -> String {
    if rows.is_empty() {
        return "No BGP next hops tracked.\n".to_owned();
    }
    use Align::{Left, Right};
    let headers =
        [("Next hop", Left), ("State", Left), ("Via", Left), ("Forwarding", Left), ("Paths", Right), ("Reason", Left)];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|n| {
            let via = match (&n.via, n.connected) {
                (_, true) => "connected".to_owned(),
                (Some(via), false) => clean(via).into_owned(),
                (None, false) => "-".to_owned(),
            };
            [
                n.address.to_string(),
                if n.resolved { "resolved" } else { "unresolved" }.to_owned(),
                via,
                forwarding_hops(&n.next_hops),
                n.paths.to_string(),
                n.reason.as_deref().map(one_line).unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = table(headers, &cells);
    let unresolved = rows.iter().filter(|n| !n.resolved).count();
    let hops = if rows.len() == 1 { "next hop" } else { "next hops" };
    let _ = writeln!(out, "\n{} {hops}, {unresolved} unresolved", rows.len());
    out
}

/// The `BFD:` line of `show neighbors ADDR`.
fn bfd_line(row: Option<&BfdSessionRow>) -> String {
    let Some(b) = row else { return "off".to_owned() };
    let mut line = format!(
        "{}, {}/{} ms x {}, detection {} ms",
        clean(&b.state),
        b.tx_interval_ms,
        b.rx_interval_ms,
        b.multiplier,
        b.detection_time_ms
    );
    if b.unprotected() {
        line.push_str(" (UNPROTECTED: the session is up without BFD)");
    } else if b.state != "Up" {
        let _ = write!(line, " (last: {})", clean(&b.last_diag));
    }
    line
}

/// `bgpctl show bfd`: one line per BFD session, with the BGP session it protects.
pub fn bfd_table(rows: &[BfdSessionRow]) -> String {
    if rows.is_empty() {
        return "No BFD sessions (bfd = true on a neighbor or range adds one).\n".to_owned();
    }
    use Align::{Left, Right};
    let headers = [
        ("Peer", Left),
        ("Local", Left),
        ("State", Left),
        ("Remote", Left),
        ("TX/RX ms", Right),
        ("Mult", Right),
        ("Detect ms", Right),
        ("BGP", Left),
        ("Last change", Left),
        ("Reason", Left),
    ];
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|b| {
            let bgp = match (b.bgp_state, b.unprotected()) {
                (_, true) => "UNPROTECTED".to_owned(),
                (Some(state), false) => state.to_string(),
                (None, false) => "-".to_owned(),
            };
            [
                b.peer.to_string(),
                or_dash(b.local),
                clean(&b.state).into_owned(),
                clean(&b.remote_state).into_owned(),
                format!("{}/{}", b.tx_interval_ms, b.rx_interval_ms),
                b.multiplier.to_string(),
                b.detection_time_ms.to_string(),
                bgp,
                b.last_change_seconds_ago.map_or_else(|| "never".to_owned(), |s| format!("{} ago", format_uptime(s))),
                one_line(&b.last_diag),
            ]
        })
        .collect();
    let mut out = table(headers, &cells);
    let up = rows.iter().filter(|b| b.state == "Up").count();
    let unprotected = rows.iter().filter(|b| b.unprotected()).count();
    let sessions = if rows.len() == 1 { "session" } else { "sessions" };
    let _ = write!(out, "\n{} BFD {sessions}, {up} up", rows.len());
    if unprotected > 0 {
        let _ = write!(out, ", {unprotected} BGP session(s) UNPROTECTED (Established while BFD is not Up)");
    }
    out.push('\n');
    out
}

fn kube_state(s: KubeConnection) -> &'static str {
    match s {
        KubeConnection::Connecting => "connecting",
        KubeConnection::Listing => "listing",
        KubeConnection::Connected => "connected",
        KubeConnection::Error => "error",
    }
}

/// `12s ago`, `3m ago`, `2h ago`, `4d ago` for a Unix time `then`, at `now`.
fn ago(then: u64, now: u64) -> String {
    let s = now.saturating_sub(then);
    match s {
        0..120 => format!("{s}s ago"),
        120..7200 => format!("{}m ago", s / 60),
        7200..172800 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

/// `bgpctl show kubernetes`: the client, each kind, then the routes and what feeds
/// them. `now` is the Unix time the ages are counted to.
pub fn kubernetes(status: &KubernetesStatus, routes: &[KubernetesRouteRow], now: u64) -> String {
    use Align::{Left, Right};
    let mut out = String::new();
    let mode = match &status.node_name {
        Some(node) => format!("{} (node {})", clean(&status.mode), clean(node)),
        None => clean(&status.mode).into_owned(),
    };
    let source = if status.source.is_empty() { "-".to_owned() } else { one_line(&status.source) };
    let _ = writeln!(out, "{:<12}{mode}", "Mode:");
    let _ = writeln!(out, "{:<12}{source}", "API server:");
    let _ = writeln!(out, "{:<12}{}", "State:", kube_state(status.state));
    out.push('\n');
    let cells: Vec<[String; 5]> = status
        .kinds
        .iter()
        .map(|k| {
            let state = if k.watched { kube_state(k.state) } else { "not watched" };
            let error = match (k.state, &k.last_error, k.error_since) {
                (KubeConnection::Error, Some(e), Some(since)) => format!("{} (since {})", one_line(e), ago(since, now)),
                (KubeConnection::Error, Some(e), None) => one_line(e),
                _ => "-".to_owned(),
            };
            [
                clean(&k.kind).into_owned(),
                state.to_owned(),
                k.objects.to_string(),
                k.last_sync.map_or_else(|| "never".to_owned(), |t| ago(t, now)),
                error,
            ]
        })
        .collect();
    out.push_str(&table(
        [("Kind", Left), ("State", Left), ("Objects", Right), ("Last sync", Left), ("Error", Left)],
        &cells,
    ));
    out.push('\n');
    if routes.is_empty() {
        out.push_str("No routes from Kubernetes.\n");
        return out;
    }
    let cells: Vec<[String; 3]> = routes
        .iter()
        .map(|r| {
            let hops = if r.next_hops.is_empty() {
                "self".to_owned()
            } else {
                r.next_hops.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ")
            };
            let owners: Vec<String> = r
                .owners
                .iter()
                .map(|o| {
                    let mut s = format!("{} {}", clean(&o.kind), clean(&o.name));
                    if !o.ready_nodes.is_empty() {
                        let nodes: Vec<String> = o.ready_nodes.iter().map(|n| clean(n).into_owned()).collect();
                        let _ = write!(s, " (ready on {})", nodes.join(", "));
                    }
                    s
                })
                .collect();
            [clean(&r.prefix).into_owned(), hops, owners.join("; ")]
        })
        .collect();
    out.push_str(&table([("Prefix", Left), ("Next hops", Left), ("From", Left)], &cells));
    let noun = if routes.len() == 1 { "route" } else { "routes" };
    let _ = writeln!(out, "\n{} {noun}", routes.len());
    out
}

/// `bgpctl show summary`: route counts per family, attribute sets, neighbors, memory.
pub fn rib_summary(s: &RibSummary) -> String {
    use Align::{Left, Right};
    let row = |family: &str, prefixes: u64, paths: u64| [family.to_owned(), prefixes.to_string(), paths.to_string()];
    let rows = [row("IPv4 unicast", s.ipv4_prefixes, s.ipv4_paths), row("IPv6 unicast", s.ipv6_prefixes, s.ipv6_paths)];
    let mut out = table([("Family", Left), ("Prefixes", Right), ("Paths", Right)], &rows);
    out.push('\n');
    let mut field = |key: &str, value: &str| {
        let _ = writeln!(out, "{:<17}{value}", format!("{key}:"));
    };
    field("Attribute sets", &format!("{} distinct, {} references", s.attribute_sets, s.attribute_refs));
    field("Neighbors", &format!("{} established, {} in total", s.neighbors_established, s.neighbors));
    field("Memory (RSS)", &mebibytes(s.rss_bytes));
    out
}

/// `12.3 MiB`; `unknown` for 0 (the daemon could not read it).
fn mebibytes(bytes: u64) -> String {
    if bytes == 0 {
        "unknown".to_owned()
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use bgp_core::ctl::SessionState::{Active, Connect, Established, Idle};
    use bgp_core::wire::{Aggregator, Community, ExtCommunity, LargeCommunity};

    use super::*;
    use crate::fixtures::{
        as_path, detail, fib_rows, hop, kernel_routes, next_hop_rows, rib_summary, route, summary, FIB_TEXT,
        KERNEL_ROUTES_TEXT, NEXT_HOPS_TEXT, RIB_SUMMARY_TEXT,
    };

    #[test]
    fn uptime_like_frr() {
        assert_eq!(format_uptime(0), "00:00:00");
        assert_eq!(format_uptime(5 * 60 + 12), "00:05:12");
        assert_eq!(format_uptime(23 * 3600 + 59 * 60 + 59), "23:59:59");
        assert_eq!(format_uptime(86_400), "1d00h00m");
        assert_eq!(format_uptime(3 * 86_400 + 4 * 3600 + 5 * 60 + 59), "3d04h05m");
        assert_eq!(format_uptime(7 * 86_400), "01w0d00h");
        assert_eq!(format_uptime(2 * 7 * 86_400 + 3 * 86_400 + 4 * 3600 + 1), "02w3d04h");
        assert_eq!(format_uptime(365 * 86_400), "01y00w0d");
        assert_eq!(format_uptime(365 * 86_400 + 5 * 7 * 86_400 + 3 * 86_400 + 7), "01y05w3d");
    }

    #[test]
    fn long_descriptions_are_cut() {
        assert_eq!(truncate("tor-1", 20), "tor-1");
        assert_eq!(truncate("exactly twenty chars", 20), "exactly twenty chars");
        assert_eq!(truncate("a description that is far too long", 20), "a description that…");
        assert_eq!(truncate("ääääääääääääääääääääää", 20).chars().count(), 20);
    }

    #[test]
    fn state_column_shows_prefixes_once_established() {
        let mut n = summary("10.0.0.2", Active);
        assert_eq!(state_or_prefixes(&n), "Active");
        n.state = Established;
        n.prefixes_received = 42;
        assert_eq!(state_or_prefixes(&n), "42");
        n.admin_down = true;
        assert_eq!(state_or_prefixes(&n), "Idle (Admin)");
    }

    #[test]
    fn summary_table_is_aligned() {
        let mut a = summary("10.0.0.10", Established);
        a.description = Some("tor-1".into());
        a.asn = 65001;
        a.uptime_seconds = 312;
        a.prefixes_received = 12;
        a.prefixes_advertised = 7;
        a.messages_received = 1200;
        a.messages_sent = 1198;
        let mut b = summary("10.0.0.2", Active);
        b.description = Some("a description which is far too long for the table".into());
        b.asn = 4_200_000_000;
        let mut c = summary("2001:db8::5", Idle);
        c.dynamic = true;
        c.uptime_seconds = 3 * 86_400 + 4 * 3600 + 5 * 60;
        let mut d = summary("10.0.0.3", Idle);
        d.admin_down = true;
        d.uptime_seconds = 10;
        d.out_queue = 3;
        let text = summary_table(&[a, b, c, d]);
        let expected = "\
Neighbor      Description                   AS  State/PfxRcd  PfxSnt   Up/Down  MsgRcvd  MsgSent  OutQ
10.0.0.2      a description which…  4200000000        Active             never        0        0     0
10.0.0.3      -                          65000  Idle (Admin)          00:00:10        0        0     3
10.0.0.10     tor-1                      65001            12       7  00:05:12     1200     1198     0
2001:db8::5*  -                          65000          Idle          3d04h05m        0        0     0

Total number of neighbors 4
* dynamic neighbor (neighbor_range)
";
        assert_eq!(text, expected, "\n{text}");
        // Every table line is as long as the header: the columns line up.
        let lines: Vec<&str> = text.lines().take(5).collect();
        assert!(lines.iter().all(|l| l.chars().count() == lines[0].chars().count()));
    }

    #[test]
    fn summary_without_dynamic_neighbors_has_no_footnote() {
        let text = summary_table(&[summary("192.168.1.1", Connect)]);
        assert!(!text.contains("dynamic"), "{text}");
        assert!(text.contains("192.168.1.1  -            65000       Connect            never"), "{text}");
        assert_eq!(summary_table(&[]), "No BGP neighbors.\n");
    }

    #[test]
    fn peer_text_cannot_drive_the_terminal() {
        let mut n = summary("10.0.0.2", Active);
        n.description = Some("evil\u{1b}[2J\u{202e}".into());
        let text = summary_table(&[n]);
        assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'), "{text}");
        assert!(text.contains("evil\\u{1b}[2J\\u{202e}"), "{text}");
        assert_eq!(one_line("first\nsecond\r\n  third\u{7}"), "first second third\\u{7}");
    }

    #[test]
    fn detail_view() {
        let text = neighbor_detail(&detail());
        let expected = "\
BGP neighbor 192.168.1.1, remote AS 64512
  Description:          home router
  State:                Established, up for 3d04h05m
  Local address:        192.168.1.10:179
  Remote address:       192.168.1.1:40123
  Peer router ID:       192.168.1.1
  Peer hostname:        udm-pro
  Hold time:            90 s configured, 90 s negotiated
  Keepalive:            30 s negotiated
  Families:             ipv4-unicast, ipv6-unicast
  Capabilities:         4-octet AS
                        route refresh
                        graceful restart (restart time 120 s)
  Prefixes:             3 received, 2 accepted, 5 advertised
  Sessions established: 2
  TCP-MD5 password:     configured
  TTL security:         GTSM, 1 hop
  Last error:           Hold timer expired (sent)
  BFD:                  Up, 300/300 ms x 3, detection 900 ms

  Message statistics:
    Out queue: 0
                         Sent        Rcvd
    Opens                   1           1
    Updates                 7          12
    Notifications           1           0
    Keepalives           9001        9000
    Route Refresh           2           0
    Total                9012        9013
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn detail_of_a_neighbor_that_never_came_up() {
        let mut d = detail();
        d.summary.state = Active;
        d.summary.uptime_seconds = 0;
        d.summary.dynamic = true;
        d.summary.description = None;
        d.summary.last_error = None;
        d.local_address = None;
        d.peer_hostname = None;
        d.hold_time = None;
        d.keepalive = None;
        d.capabilities.clear();
        d.families.clear();
        d.sessions_established = 0;
        d.password = false;
        d.ttl_security = None;
        d.hint = Some("no TCP connection: is 179/tcp open on the peer?".into());
        let text = neighbor_detail(&d);
        for line in [
            "BGP neighbor 192.168.1.1, remote AS 64512, dynamic (neighbor_range)\n",
            "  Description:          -\n",
            "  State:                Active, never established\n",
            "  Local address:        -\n",
            "  Peer hostname:        -\n",
            "  Hold time:            90 s configured\n",
            "  Keepalive:            - (not established)\n",
            "  Families:             none\n",
            "  Capabilities:         none negotiated\n",
            "  TCP-MD5 password:     not configured\n",
            "  TTL security:         off\n",
            "  Last error:           -\n",
            "  Hint:                 no TCP connection: is 179/tcp open on the peer?\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }

        d.summary.admin_down = true;
        d.summary.uptime_seconds = 65;
        d.sessions_established = 1;
        d.ttl_security = Some(2);
        let text = neighbor_detail(&d);
        assert!(
            text.starts_with(
                "BGP neighbor 192.168.1.1, remote AS 64512, dynamic (neighbor_range), administratively shut down\n"
            ),
            "{text}"
        );
        assert!(text.contains("  State:                Idle (Admin), down for 00:01:05\n"), "{text}");
        assert!(text.contains("  TTL security:         GTSM, 2 hops\n"), "{text}");
    }

    #[test]
    fn detail_shows_long_lived_graceful_restart_and_the_restart_phase() {
        let mut d = detail();
        d.long_lived_stale_time = 10;
        d.long_lived = vec![bgp_core::ctl::LongLivedFamilyRow {
            family: "ipv4-unicast".into(),
            stale_time: 100,
            effective_stale_time: 10,
            forwarding_preserved: true,
        }];
        d.restart_phase = Some(bgp_core::ctl::RestartPhaseRow {
            phase: "long-lived-stale".into(),
            seconds_left: 7,
            families: vec!["ipv4-unicast".into()],
        });
        let text = neighbor_detail(&d);
        for line in [
            "  Long-lived GR:        advertised, stale time 10 s
",
            "                        peer ipv4-unicast: stale time 100 s, keeps its routes 10 s, F bit
",
            "  Restart phase:        LLGR stale (ipv4-unicast), 7 s left of the long-lived stale time
",
        ] {
            assert!(
                text.contains(line),
                "{line:?} missing from
{text}"
            );
        }
        d.restart_phase = Some(bgp_core::ctl::RestartPhaseRow {
            phase: "graceful-restart".into(),
            seconds_left: 3,
            families: vec![],
        });
        assert!(neighbor_detail(&d).contains(
            "  Restart phase:        GR stale, 3 s left of the restart time
"
        ));
        assert!(!neighbor_detail(&detail()).contains("Long-lived"), "nothing when LLGR is off");
    }

    /// A Loc-RIB as the daemon lists it: best and multipath of 10.0.0.0/24, a valid
    /// path that lost, an invalid one.
    fn routes() -> Vec<RouteRow> {
        let mut a = route("10.0.0.0/24", "192.168.1.1", "64512 65010");
        (a.best, a.multipath, a.med, a.local_pref) = (true, true, Some(10), Some(100));
        let mut b = route("10.0.0.0/24", "192.168.1.2", "64513 65010");
        (b.multipath, b.med, b.local_pref) = (true, Some(10), Some(100));
        let mut c = route("10.1.0.0/16", "10.0.0.21", "");
        (c.origin, c.local_pref) = (Some(Origin::Incomplete), Some(100));
        let mut d = route("192.168.0.0/16", "192.168.1.1", "65020 {65021,65022}");
        (d.best, d.origin, d.med) = (true, Some(Origin::Egp), Some(4_294_967_295));
        let mut e = route("203.0.113.0/24", "198.51.100.1", "65030");
        (e.valid, e.origin, e.next_hop) = (false, None, None);
        vec![a, b, c, d, e]
    }

    #[test]
    fn status_codes() {
        let mut r = route("10.0.0.0/24", "192.168.1.1", "");
        assert_eq!(route_status(&r), "* ");
        r.multipath = true;
        assert_eq!(route_status(&r), "*=");
        r.best = true;
        assert_eq!(route_status(&r), "*>");
        r.stale = true;
        assert_eq!(route_status(&r), "S*>");
        (r.best, r.multipath, r.valid) = (false, false, false);
        assert_eq!(route_status(&r), "S  ");
        r.stale = false;
        assert_eq!(route_status(&r), "  ");
        (r.stale, r.llgr_stale, r.valid, r.best) = (true, true, true, true);
        assert_eq!(route_status(&r), "SL*>");
        assert!(path_status(&r).contains("long-lived stale"), "{}", path_status(&r));
    }

    #[test]
    fn origin_codes_follow_the_as_path() {
        let mut r = route("10.0.0.0/24", "192.168.1.1", "64512 65010");
        assert_eq!(path_cell(&r), "64512 65010 i");
        r.origin = Some(Origin::Egp);
        assert_eq!(path_cell(&r), "64512 65010 e");
        r.origin = Some(Origin::Incomplete);
        assert_eq!(path_cell(&r), "64512 65010 ?");
        r.origin = None;
        assert_eq!(path_cell(&r), "64512 65010");
        r.as_path = as_path("");
        assert_eq!(path_cell(&r), "");
        r.origin = Some(Origin::Igp);
        assert_eq!(path_cell(&r), "i");
    }

    #[test]
    fn route_table_like_frr() {
        let text = route_table(&routes(), RouteView::LocRib);
        let expected = "\
Status codes: * valid, > best, = multipath, S stale, L long-lived stale, u next hop unreachable
Origin codes: i IGP, e EGP, ? incomplete

   Network              Next Hop                MED LocPrf  Path
*> 10.0.0.0/24          192.168.1.1              10    100  64512 65010 i
*=                      192.168.1.2              10    100  64513 65010 i
*  10.1.0.0/16          10.0.0.21                      100  ?
*> 192.168.0.0/16       192.168.1.1      4294967295         65020 {65021,65022} e
   203.0.113.0/24       -                                   65030

Displayed 4 routes and 5 total paths
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn route_table_header_at_minimum_widths() {
        let mut r = route("10.0.0.0/24", "192.168.1.1", "65001");
        (r.best, r.med, r.local_pref) = (true, Some(0), Some(100));
        let mut s = route("10.2.0.0/16", "192.168.1.1", "65001 65002");
        s.origin = Some(Origin::Incomplete);
        let text = route_table(&[r, s], RouteView::LocRib);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[3], "   Network              Next Hop           MED LocPrf  Path");
        assert_eq!(lines[4], "*> 10.0.0.0/24          192.168.1.1          0    100  65001 i");
        assert_eq!(lines[5], "*  10.2.0.0/16          192.168.1.1                    65001 65002 ?");
        assert_eq!(lines[7], "Displayed 2 routes and 2 total paths");
    }

    #[test]
    fn route_table_widens_for_long_cells_and_stale_paths() {
        let mut a = route("2001:db8:1234:5678:9abc::/80", "2001:db8::1", "65001");
        (a.best, a.stale, a.local_pref) = (true, true, Some(100));
        a.next_hop_link_local = Some("fe80::1".parse().unwrap());
        let b = route("2001:db8::/32", "2001:db8::2", "65002");
        let text = route_table(&[a, b], RouteView::LocRib);
        let expected = "\
Status codes: * valid, > best, = multipath, S stale, L long-lived stale, u next hop unreachable
Origin codes: i IGP, e EGP, ? incomplete

    Network                       Next Hop                 MED LocPrf  Path
S*> 2001:db8:1234:5678:9abc::/80  2001:db8::1 (fe80::1)           100  65001 i
 *  2001:db8::/32                 2001:db8::2                          65002 i

Displayed 2 routes and 2 total paths
";
        assert_eq!(text, expected, "\n{text}");
        // Each column starts where its header does.
        let lines: Vec<&str> = text.lines().skip(3).take(3).collect();
        for header in ["Network", "Next Hop"] {
            let at = lines[0].find(header).unwrap();
            assert!(lines[1..].iter().all(|l| l[at..].starts_with("2001:db8:")), "{header}\n{text}");
        }
        let path = lines[0].find("Path").unwrap();
        assert!(lines[1..].iter().all(|l| l[path..].starts_with("6500")), "\n{text}");
    }

    #[test]
    fn route_views_have_headings() {
        let neighbor: IpAddr = "10.0.0.2".parse().unwrap();
        let text = route_table(&routes()[2..3], RouteView::Received(neighbor));
        assert!(
            text.starts_with(
                "Routes received from 10.0.0.2, before import policy (Adj-RIB-In)\n\nStatus codes: * valid,"
            ),
            "{text}"
        );
        let text = route_table(&routes()[..1], RouteView::Advertised(neighbor));
        assert!(text.starts_with("Routes advertised to 10.0.0.2, after export policy (Adj-RIB-Out)\n\n"), "{text}");
        assert_eq!(route_table(&[], RouteView::LocRib), "No BGP routes.\n");
        assert_eq!(route_table(&[], RouteView::Received(neighbor)), "No routes received from 10.0.0.2.\n");
        assert_eq!(route_table(&[], RouteView::Advertised(neighbor)), "No routes advertised to 10.0.0.2.\n");
        assert_eq!(route_detail(&[], RouteView::LocRib), "No BGP routes.\n");
    }

    fn full_path() -> RouteRow {
        let mut r = route("10.0.0.0/24", "192.168.1.1", "64512 65010");
        r.best = true;
        r.multipath = true;
        r.med = Some(10);
        r.local_pref = Some(100);
        r.communities = vec![Community::from_parts(64512, 100), Community::from_parts(64512, 200)];
        r.large_communities = vec![LargeCommunity { global: 64512, local1: 1, local2: 2 }];
        r.ext_communities =
            vec![ExtCommunity([0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 100]), ExtCommunity([0x03, 0x0c, 0, 0, 0, 0, 0, 10])];
        r.originator_id = Some(Ipv4Addr::new(10, 0, 0, 1));
        r.cluster_list = vec![Ipv4Addr::new(10, 0, 0, 254), Ipv4Addr::new(10, 0, 0, 253)];
        r.atomic_aggregate = true;
        r.aggregator = Some(Aggregator { asn: 65010, address: Ipv4Addr::new(192, 0, 2, 1) });
        r.path_id = 7;
        r.reason = Some("lower MED".into());
        r
    }

    #[test]
    fn route_detail_lists_every_attribute() {
        let mut second = route("10.0.0.0/24", "192.168.1.2", "");
        (second.valid, second.stale, second.origin, second.from) = (false, true, None, "static".into());
        second.next_hop = None;
        let text = route_detail(&[full_path(), second], RouteView::LocRib);
        let expected = "\
BGP routing table entry for 10.0.0.0/24
Paths: 2 available, best #1

  Path #1: valid, best (lower MED)
    From:                 192.168.1.1
    Next hop:             192.168.1.1
    AS path:              64512 65010
    Origin:               IGP
    MED:                  10
    LOCAL_PREF:           100
    Communities:          64512:100 64512:200
    Large communities:    64512:1:2
    Extended communities: RT:65000:100 030c00000000000a
    Originator ID:        10.0.0.1
    Cluster list:         10.0.0.254 10.0.0.253
    Atomic aggregate:     yes
    Aggregator:           65010 192.0.2.1
    Path ID:              7

  Path #2: not valid (refused by policy or a loop check), stale
    From:                 static
    Next hop:             -
    AS path:              (empty)
    Origin:               -
    MED:                  -
    LOCAL_PREF:           -
    Communities:          -
    Large communities:    -
    Extended communities: -
    Originator ID:        -
    Cluster list:         -
    Atomic aggregate:     no
    Aggregator:           -
    Path ID:              0
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn route_detail_status_and_views() {
        // The best path need not be the first; a multipath is named as such.
        let mut first = full_path();
        (first.best, first.reason) = (false, None);
        let mut best = route("10.0.0.0/24", "192.168.1.3", "64514 65010");
        (best.best, best.multipath) = (true, true);
        let text = route_detail(&[first.clone(), best.clone()], RouteView::LocRib);
        assert!(text.contains("Paths: 2 available, best #2\n"), "{text}");
        assert!(text.contains("  Path #1: valid, multipath\n"), "{text}");
        assert!(text.contains("  Path #2: valid, best\n"), "{text}");

        first.multipath = false;
        first.valid = false;
        let text = route_detail(&[first.clone()], RouteView::LocRib);
        assert!(text.contains("Paths: 1 available, no best path\n"), "{text}");

        first.valid = true;
        let neighbor: IpAddr = "192.168.1.1".parse().unwrap();
        let text = route_detail(&[first], RouteView::Received(neighbor));
        assert!(
            text.starts_with(
                "Routes received from 192.168.1.1, before import policy (Adj-RIB-In)\n\n\
                 BGP routing table entry for 10.0.0.0/24\nPaths: 1\n\n  Path #1: valid\n"
            ),
            "{text}"
        );

        // Rows of several prefixes (not what the daemon sends) each get an entry.
        let other = route("10.9.0.0/16", "192.168.1.9", "65009");
        let text = route_detail(&[best.clone(), other, best], RouteView::LocRib);
        assert!(text.contains("BGP routing table entry for 10.0.0.0/24\nPaths: 2 available, best #1\n"), "{text}");
        assert!(text.contains("\nBGP routing table entry for 10.9.0.0/16\nPaths: 1 available, no best path\n"));
    }

    #[test]
    fn route_text_cannot_drive_the_terminal() {
        let mut r = full_path();
        r.prefix = "10.0.0.0/24\u{1b}[2J\u{202e}".into();
        r.reason = Some("evil\u{7}".into());
        r.from = "\u{1b}]0;title\u{7}".into();
        for text in [route_table(std::slice::from_ref(&r), RouteView::LocRib), route_detail(&[r], RouteView::LocRib)] {
            assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\u{7}'), "{text}");
            assert!(text.contains("10.0.0.0/24\\u{1b}[2J\\u{202e}"), "{text}");
        }
    }

    #[test]
    fn summary_of_the_rib() {
        let text = super::rib_summary(&rib_summary());
        assert_eq!(text, RIB_SUMMARY_TEXT, "\n{text}");
        let text = super::rib_summary(&RibSummary::default());
        assert!(text.contains("IPv4 unicast         0      0\n"), "{text}");
        assert!(text.contains("Neighbors:       0 established, 0 in total\n"), "{text}");
        assert!(text.ends_with("Memory (RSS):    unknown\n"), "{text}");
        assert_eq!(mebibytes(1 << 30), "1024.0 MiB");
    }

    #[test]
    fn unreachable_next_hops_are_marked() {
        let mut r = route("10.0.0.0/24", "192.168.1.1", "");
        r.reachable = false;
        assert_eq!(route_status(&r), "u* ");
        r.stale = true;
        assert_eq!(route_status(&r), "Su* ");
        (r.stale, r.valid) = (false, false);
        assert_eq!(route_status(&r), "u  ");

        let text = route_table(&kernel_routes(), RouteView::LocRib);
        assert_eq!(text, KERNEL_ROUTES_TEXT, "\n{text}");
    }

    #[test]
    fn route_detail_shows_kernel_provenance_and_unreachable_next_hops() {
        let text = route_detail(&kernel_routes(), RouteView::LocRib);
        let expected_start = "\
BGP routing table entry for 10.50.0.0/16
Paths: 2 available, best #1

  Path #1: valid, best
    From:                 kernel
    Imported from kernel: table main, proto bird, blackhole, dev eth0
    Next hop:             10.0.0.1
    AS path:              (empty)
";
        assert!(text.starts_with(expected_start), "\n{text}");
        let second = "  Path #2: valid, next hop unreachable (not a candidate for best path)\n    \
                      From:                 10.9.9.9\n    Next hop:             10.9.9.9 (unreachable)\n";
        assert!(text.contains(second), "{second:?} missing from\n{text}");
        assert_eq!(text.matches("Imported from kernel").count(), 1, "only the imported path has provenance");

        // Fields that are not known are left out; unknown numbers stay numbers.
        let k = |table, protocol, kind: &str, device: Option<&str>| KernelProvenance {
            table,
            protocol,
            kind: kind.into(),
            device: device.map(Into::into),
        };
        assert_eq!(kernel_provenance(&k(254, 4, "unicast", None)), "table main, proto static, unicast");
        assert_eq!(kernel_provenance(&k(100, 250, "", Some(""))), "table 100, proto 250");
        assert_eq!(kernel_provenance(&k(255, 2, "local", Some("lo"))), "table local, proto kernel, local, dev lo");
        let evil = kernel_provenance(&k(254, 186, "unicast\u{1b}[2J", Some("eth0\u{202e}")));
        assert!(!evil.contains('\u{1b}') && !evil.contains('\u{202e}'), "{evil}");
    }

    #[test]
    fn route_detail_shows_kubernetes_provenance() {
        let owner = |kind: &str, name: &str, ready: &[&str]| KubernetesOwnerRow {
            kind: kind.into(),
            name: name.into(),
            ready_nodes: ready.iter().map(|n| n.to_string()).collect(),
        };
        let mut r = RouteRow { prefix: "192.0.2.10/32".into(), from: "kubernetes".into(), ..Default::default() };
        (r.valid, r.best, r.reachable, r.next_hop) = (true, true, true, Some("10.10.0.12".parse().unwrap()));
        r.kubernetes = vec![owner("service", "web/cart", &[]), owner("service", "web/shop", &["n2", "n3"])];
        let text = route_detail(&[r], RouteView::LocRib);
        let expected = "    From:                 kubernetes\n    \
                        Kubernetes:           service web/cart\n    \
                        Kubernetes:           service web/shop, ready endpoints on n2, n3\n    \
                        Next hop:             10.10.0.12\n";
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        assert_eq!(kubernetes_owner(&owner("node", "n1", &[])), "node n1");
        let evil = kubernetes_owner(&owner("service", "a/b\u{1b}[2J", &["n\u{202e}1"]));
        assert!(!evil.contains('\u{1b}') && !evil.contains('\u{202e}'), "{evil}");
    }

    #[test]
    fn kernel_names() {
        for (number, name) in [
            (186, "bgp"),
            (12, "bird"),
            (4, "static"),
            (2, "kernel"),
            (3, "boot"),
            (11, "zebra"),
            (16, "dhcp"),
            (188, "ospf"),
        ] {
            assert_eq!(protocol_name(number), name);
        }
        assert_eq!(protocol_name(0), "unspec");
        assert_eq!(protocol_name(250), "250");
        assert_eq!(table_name(254), "main");
        assert_eq!(table_name(255), "local");
        assert_eq!(table_name(253), "default");
        assert_eq!(table_name(100), "100");
    }

    #[test]
    fn forwarding_cells() {
        assert_eq!(forwarding_hop(&hop("10.0.0.11")), "10.0.0.11 (eth0)");
        let no_name = FibNextHopRow { device: None, ..hop("2001:db8::1") };
        assert_eq!(forwarding_hop(&no_name), "2001:db8::1 (ifindex 2)");
        let nothing = FibNextHopRow { ifindex: 0, ..no_name.clone() };
        assert_eq!(forwarding_hop(&nothing), "2001:db8::1");
        let on_link = FibNextHopRow { gateway: None, ..hop("10.0.0.1") };
        assert_eq!(forwarding_hop(&on_link), "on link (eth0)");
        assert_eq!(forwarding_hop(&FibNextHopRow { gateway: None, ifindex: 0, device: None }), "-");
        assert_eq!(forwarding_hops(&[]), "-");
        assert_eq!(forwarding_hops(&[hop("10.0.0.1"), on_link]), "10.0.0.1 (eth0), on link (eth0)");
    }

    #[test]
    fn fib_table_like_the_example() {
        let text = fib_table(&fib_rows(), None);
        assert_eq!(text, FIB_TEXT, "\n{text}");
        // One prefix: the same table.
        let text = fib_table(&fib_rows()[2..], Some("10.42.9.0/26"));
        assert!(text.starts_with("table main, protocol bgp, metric 20\n\nPrefix "), "{text}");
        assert!(
            text.contains("\n10.42.9.0/26  10.0.0.13  failed  Nexthop has invalid gateway (errno 101)\n"),
            "{text}"
        );
        assert!(text.ends_with("\n1 route: 1 failed\n"), "{text}");
    }

    #[test]
    fn fib_table_when_empty_or_pending() {
        assert_eq!(fib_table(&[], None), "No FIB routes: nothing installed into the kernel.\n");
        assert_eq!(fib_table(&[], Some("10.1.0.0/16")), "No FIB route for 10.1.0.0/16.\n");

        let mut rows = fib_rows();
        rows[0].state = FibState::Pending;
        rows[2].error = None;
        rows.push(FibRow { error: Some("Network is unreachable".into()), errno: None, ..rows[2].clone() });
        rows[3].prefix = "10.42.10.0/26".into();
        let text = fib_table(&rows, None);
        assert!(text.contains("\n10.42.7.0/26      10.0.0.11 (eth0)                    pending\n"), "{text}");
        assert!(text.contains("  failed     errno 101\n"), "{text}");
        assert!(text.contains("  failed     Network is unreachable\n"), "{text}");
        assert!(text.ends_with("\n4 routes: 1 installed, 1 pending, 2 failed\n"), "{text}");
    }

    #[test]
    fn fib_rows_that_disagree_say_where_each_goes() {
        let mut rows = fib_rows();
        (rows[1].table, rows[1].protocol, rows[1].metric) = (100, 250, 1024);
        let text = fib_table(&rows, None);
        let expected = "\
Prefix            Table  Protocol  Metric  Next hops                           State      Error
10.42.7.0/26      main   bgp           20  10.0.0.11 (eth0)                    installed
192.168.50.10/32  100    250         1024  10.0.0.11 (eth0), 10.0.0.12 (eth0)  installed
10.42.9.0/26      main   bgp           20  10.0.0.13                           failed     Nexthop has invalid gateway (errno 101)

3 routes: 2 installed, 1 failed
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn next_hop_table_lists_resolution() {
        let text = next_hop_table(&next_hop_rows());
        assert_eq!(text, NEXT_HOPS_TEXT, "\n{text}");
        assert_eq!(next_hop_table(&[]), "No BGP next hops tracked.\n");
        let text = next_hop_table(&next_hop_rows()[..1]);
        assert!(text.ends_with("\n1 next hop, 0 unresolved\n"), "{text}");
    }

    #[test]
    fn kernel_text_cannot_drive_the_terminal() {
        let mut fib = fib_rows();
        fib[2].error = Some("bad\u{1b}[2J\nsecond line".into());
        fib[0].next_hops[0].device = Some("eth0\u{202e}".into());
        let mut hops = next_hop_rows();
        hops[2].reason = Some("no\u{7} route".into());
        hops[1].via = Some("172.16.0.0/16\u{1b}]0;x".into());
        for text in [fib_table(&fib, None), next_hop_table(&hops)] {
            assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\u{7}'), "{text}");
        }
        assert!(fib_table(&fib, None).contains("bad\\u{1b}[2J second line (errno 101)"));
    }

    #[test]
    fn kubernetes_shows_the_client_the_kinds_and_what_feeds_each_route() {
        use bgp_core::ctl::{KubeKindStatus, KubernetesOwnerRow};
        let kind = |kind: &str, state, objects, last_sync, error: Option<&str>, since| KubeKindStatus {
            kind: kind.into(),
            watched: true,
            state,
            objects,
            last_sync,
            last_error: error.map(str::to_string),
            error_since: since,
        };
        let status = KubernetesStatus {
            mode: "node".into(),
            node_name: Some("node1".into()),
            source: "in-cluster service account, https://10.96.0.1:443 (https://10.96.0.1:443/)".into(),
            state: KubeConnection::Error,
            kinds: vec![
                kind("services", KubeConnection::Connected, 2, Some(988), None, None),
                kind("endpointslices", KubeConnection::Listing, 0, None, Some("old"), None),
                kind("nodes", KubeConnection::Error, 1, Some(400), Some("connection refused\n"), Some(995)),
            ],
        };
        let owner = |kind: &str, name: &str, ready: &[&str]| KubernetesOwnerRow {
            kind: kind.into(),
            name: name.into(),
            ready_nodes: ready.iter().map(|n| n.to_string()).collect(),
        };
        let routes = vec![
            KubernetesRouteRow {
                prefix: "192.0.2.10/32".into(),
                next_hops: vec![],
                owners: vec![owner("service", "web/front", &["node1", "node2"])],
            },
            KubernetesRouteRow {
                prefix: "10.244.1.0/24".into(),
                next_hops: vec!["192.168.1.11".parse().unwrap(), "192.168.1.12".parse().unwrap()],
                owners: vec![owner("node", "node1", &[])],
            },
        ];
        let text = kubernetes(&status, &routes, 1000);
        for line in [
            "Mode:       node (node node1)",
            "State:      error",
            "services        connected        2  12s ago    -",
            "endpointslices  listing          0  never      -",
            "nodes           error            1  10m ago    connection refused (since 5s ago)",
            "192.0.2.10/32  self                        service web/front (ready on node1, node2)",
            "10.244.1.0/24  192.168.1.11, 192.168.1.12  node node1",
            "2 routes",
        ] {
            assert!(text.lines().any(|l| l.trim_end() == line), "{line:?} not in\n{text}");
        }
        assert!(kubernetes(&status, &[], 1000).ends_with("No routes from Kubernetes.\n"));
    }
}
