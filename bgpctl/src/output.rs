//! Text renderings of the daemon's replies. (`--json` prints the protocol objects
//! with serde directly.)
//!
//! Text from the daemon can come from peers (hostnames from the FQDN capability,
//! RFC 9003 shutdown communications in `last_error`), so it goes through [`clean`]
//! before it reaches the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

use bgp_core::ctl::{MessageCounters, NeighborDetail, NeighborSummary};

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
    } else if n.state == "Established" {
        n.prefixes_received.to_string()
    } else {
        clean(&n.state).into_owned()
    }
}

/// The Up/Down cell; `never` for a session that has not changed state since start.
fn up_down(n: &NeighborSummary) -> String {
    if n.uptime_seconds == 0 && n.state != "Established" {
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
enum Align {
    Left,
    Right,
}

/// Lays out `rows` under `headers`, columns two spaces apart, no trailing blanks.
fn table<const N: usize>(headers: [(&str, Align); N], rows: &[[String; N]]) -> String {
    let mut widths = headers.map(|(h, _)| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row = headers.map(|(h, _)| h.to_owned());
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[i] - cell.chars().count());
            match headers[i].1 {
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
        ("Up/Down", Right),
        ("MsgRcvd", Right),
        ("MsgSent", Right),
        ("OutQ", Right),
    ];
    let mut sorted: Vec<&NeighborSummary> = neighbors.iter().collect();
    sorted.sort_by_key(|n| n.address);
    let rows: Vec<[String; 8]> = sorted
        .iter()
        .map(|n| {
            [
                format!("{}{}", n.address, if n.dynamic { "*" } else { "" }),
                match &n.description {
                    Some(d) if !d.is_empty() => clean(&truncate(d, DESCRIPTION_WIDTH)).into_owned(),
                    _ => "-".to_owned(),
                },
                n.asn.to_string(),
                state_or_prefixes(n),
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
    out.push('\n');

    // `key: value` with the values in one column; an empty key continues the field above.
    let mut field = |key: &str, value: &str| {
        let key = if key.is_empty() { String::new() } else { format!("{key}:") };
        let _ = writeln!(out, "  {key:<22}{}", clean(value));
    };
    let or_dash = |v: &Option<String>| v.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "-".to_owned());

    field("Description", &or_dash(&n.description));
    let state = if n.admin_down { "Idle (Admin)" } else { n.state.as_str() };
    let since = if n.uptime_seconds == 0 && d.sessions_established == 0 {
        "never established".to_owned()
    } else if n.state == "Established" && !n.admin_down {
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
    if let Some(hint) = d.hint.as_deref().filter(|h| !h.is_empty()) {
        field("Hint", hint);
    }

    out.push_str("\n  Message statistics:\n");
    let _ = writeln!(out, "    Out queue: {}", n.out_queue);
    out.push_str(&message_counters(&d.sent, &d.received));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(address: &str, state: &str) -> NeighborSummary {
        NeighborSummary {
            address: address.parse().unwrap(),
            description: None,
            asn: 65000,
            state: state.to_owned(),
            uptime_seconds: 0,
            prefixes_received: 0,
            prefixes_accepted: 0,
            prefixes_advertised: 0,
            messages_received: 0,
            messages_sent: 0,
            out_queue: 0,
            last_error: None,
            dynamic: false,
            admin_down: false,
        }
    }

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
        let mut n = summary("10.0.0.2", "Active");
        assert_eq!(state_or_prefixes(&n), "Active");
        n.state = "Established".into();
        n.prefixes_received = 42;
        assert_eq!(state_or_prefixes(&n), "42");
        n.admin_down = true;
        assert_eq!(state_or_prefixes(&n), "Idle (Admin)");
    }

    #[test]
    fn summary_table_is_aligned() {
        let mut a = summary("10.0.0.10", "Established");
        a.description = Some("tor-1".into());
        a.asn = 65001;
        a.uptime_seconds = 312;
        a.prefixes_received = 12;
        a.messages_received = 1200;
        a.messages_sent = 1198;
        let mut b = summary("10.0.0.2", "Active");
        b.description = Some("a description which is far too long for the table".into());
        b.asn = 4_200_000_000;
        let mut c = summary("2001:db8::5", "Idle");
        c.dynamic = true;
        c.uptime_seconds = 3 * 86_400 + 4 * 3600 + 5 * 60;
        let mut d = summary("10.0.0.3", "Idle");
        d.admin_down = true;
        d.uptime_seconds = 10;
        d.out_queue = 3;
        let text = summary_table(&[a, b, c, d]);
        let expected = "\
Neighbor      Description                   AS  State/PfxRcd   Up/Down  MsgRcvd  MsgSent  OutQ
10.0.0.2      a description which…  4200000000        Active     never        0        0     0
10.0.0.3      -                          65000  Idle (Admin)  00:00:10        0        0     3
10.0.0.10     tor-1                      65001            12  00:05:12     1200     1198     0
2001:db8::5*  -                          65000          Idle  3d04h05m        0        0     0

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
        let text = summary_table(&[summary("192.168.1.1", "Connect")]);
        assert!(!text.contains("dynamic"), "{text}");
        assert!(text.contains("192.168.1.1  -            65000       Connect    never"), "{text}");
        assert_eq!(summary_table(&[]), "No BGP neighbors.\n");
    }

    #[test]
    fn peer_text_cannot_drive_the_terminal() {
        let mut n = summary("10.0.0.2", "Active");
        n.description = Some("evil\u{1b}[2J\u{202e}".into());
        let text = summary_table(&[n]);
        assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'), "{text}");
        assert!(text.contains("evil\\u{1b}[2J\\u{202e}"), "{text}");
        assert_eq!(one_line("first\nsecond\r\n  third\u{7}"), "first second third\\u{7}");
    }

    fn detail() -> NeighborDetail {
        let mut s = summary("192.168.1.1", "Established");
        s.description = Some("home router".into());
        s.asn = 64512;
        s.uptime_seconds = 3 * 86_400 + 4 * 3600 + 5 * 60;
        s.prefixes_received = 3;
        s.prefixes_accepted = 2;
        s.prefixes_advertised = 5;
        s.last_error = Some("Hold timer expired (sent)".into());
        NeighborDetail {
            summary: s,
            local_address: Some("192.168.1.10:179".into()),
            remote_address: Some("192.168.1.1:40123".into()),
            peer_router_id: Some("192.168.1.1".into()),
            peer_hostname: Some("udm-pro".into()),
            configured_hold_time: 90,
            hold_time: Some(90),
            keepalive: Some(30),
            families: vec!["ipv4-unicast".into(), "ipv6-unicast".into()],
            capabilities: vec![
                "4-octet AS".into(),
                "route refresh".into(),
                "graceful restart (restart time 120 s)".into(),
            ],
            received: MessageCounters { open: 1, update: 12, notification: 0, keepalive: 9000, route_refresh: 0 },
            sent: MessageCounters { open: 1, update: 7, notification: 1, keepalive: 9001, route_refresh: 2 },
            sessions_established: 2,
            password: true,
            ttl_security: Some(1),
            hint: None,
        }
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
        d.summary.state = "Active".into();
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
}
