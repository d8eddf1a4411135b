//! `bgpctl show events` and `bgpctl show neighbors ADDR events`: the event history as
//! text (`--json` prints the [`NeighborEvent`]s as they are).

use std::fmt::Write as _;
use std::net::IpAddr;

use bgp_core::ctl::events::{format_time_ms, NeighborEvent};

use crate::output::{clean, table, Align};

/// One line per event, oldest first: time (UTC), the neighbor (when several are
/// shown), what happened. A repeated event says how many times and when it last was.
pub fn events_table(events: &[NeighborEvent], neighbor: Option<IpAddr>) -> String {
    if events.is_empty() {
        return match neighbor {
            Some(a) => format!("No events of neighbor {a}.\n"),
            None => "No events.\n".to_owned(),
        };
    }
    let what = |e: &NeighborEvent| {
        let mut text = clean(&e.event.to_string()).into_owned();
        if e.count > 1 {
            let last = e.last_ms.map(time).unwrap_or_default();
            let _ = write!(text, " (x{}, last {last})", e.count);
        }
        text
    };
    let mut out = match neighbor {
        Some(a) => {
            let rows: Vec<[String; 2]> = events.iter().map(|e| [time(e.time_ms), what(e)]).collect();
            let mut out = format!("Events of neighbor {a}, oldest first:\n");
            out.push_str(&table([("Time (UTC)", Align::Left), ("Event", Align::Left)], &rows));
            out
        }
        None => {
            let rows: Vec<[String; 3]> =
                events.iter().map(|e| [time(e.time_ms), e.neighbor.to_string(), what(e)]).collect();
            table([("Time (UTC)", Align::Left), ("Neighbor", Align::Left), ("Event", Align::Left)], &rows)
        }
    };
    let _ = writeln!(out, "\n{} event{}", events.len(), if events.len() == 1 { "" } else { "s" });
    out
}

/// `2026-12-05 20:52:02.123`: RFC 3339 with a space, as the logs of FRR and BIRD read.
fn time(ms: u64) -> String {
    format_time_ms(ms).replace('T', " ").trim_end_matches('Z').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_core::ctl::events::Event;
    use bgp_core::ctl::SessionState;
    use bgp_core::wire::{Cease, Notification};

    #[test]
    fn events_as_text() {
        let a: IpAddr = "10.0.0.2".parse().unwrap();
        let shutdown = Notification::cease_with_message(Cease::AdministrativeShutdown, "maint\x1b[2J");
        let events = vec![
            NeighborEvent {
                neighbor: a,
                seq: 1,
                time_ms: 1_796_503_922_456,
                count: 1,
                last_ms: None,
                event: Event::received(&shutdown),
            },
            NeighborEvent {
                neighbor: a,
                seq: 2,
                time_ms: 1_796_503_922_460,
                count: 1,
                last_ms: None,
                event: Event::StateChanged {
                    from: SessionState::Established,
                    to: SessionState::Active,
                    cause: Some("received NOTIFICATION".into()),
                },
            },
            NeighborEvent {
                neighbor: a,
                seq: 3,
                time_ms: 1_796_503_930_000,
                count: 3,
                last_ms: Some(1_796_503_990_000),
                event: Event::ConnectFailed { error: "Connection refused (os error 111)".into() },
            },
        ];
        let text = events_table(&events, Some(a));
        let expected = "\
Events of neighbor 10.0.0.2, oldest first:
Time (UTC)               Event
2026-12-05 20:52:02.456  received NOTIFICATION Cease / Administrative Shutdown (6/2): \"maint\\u{1b}[2J\"
2026-12-05 20:52:02.460  Established -> Active: received NOTIFICATION
2026-12-05 20:52:10.000  connect failed: Connection refused (os error 111) (x3, last 2026-12-05 20:53:10.000)

3 events
";
        assert_eq!(text, expected);
        let all = events_table(&events[..1], None);
        assert!(
            all.starts_with("Time (UTC)               Neighbor  Event\n2026-12-05 20:52:02.456  10.0.0.2  received")
        );
        assert!(all.ends_with("\n1 event\n"));
        assert_eq!(events_table(&[], None), "No events.\n");
    }
}
