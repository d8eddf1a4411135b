//! Drains (RFC 8326 graceful shutdown): `bgpctl drain`/`undrain`, and the drain that
//! `on_stop = "drain-then-graceful-restart"` runs before a stop.
//!
//! The supervisor keeps which neighbors are drained (so a reload, which rebuilds the
//! neighbors but not this, keeps it, and `show neighbors` can mark them) and hands the
//! whole set to the RIB task, whose engine re-announces (rib/drain.rs).

use std::net::IpAddr;
use std::time::Duration;

use bgp_core::ctl::{DrainRow, NeighborSummary, Reply};
use bgp_core::rib::drain::{Drain, Drained};
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use super::{send_reply, Supervisor, REPLY_TIMEOUT};
use crate::rib_task::RibInput;

impl Supervisor {
    /// `bgpctl drain [--neighbor ADDR] [--wait SECONDS]`.
    pub(super) async fn drain_command(
        &mut self,
        neighbor: Option<IpAddr>,
        wait: Option<u32>,
        replies: mpsc::Sender<Reply>,
    ) {
        let mut drain = self.drain.clone();
        match neighbor {
            None => drain.all = true,
            Some(a) if !self.knows(a) => {
                return send_reply(&replies, Reply::Error { message: format!("no neighbor {a}") }).await;
            }
            Some(a) => {
                drain.peers.insert(a);
            }
        }
        let changed = match self.set_drain(drain).await {
            Ok(changed) => changed,
            Err(message) => return send_reply(&replies, Reply::Error { message }).await,
        };
        let whom = neighbor.map_or("every neighbor".to_owned(), |a| format!("neighbor {a}"));
        let mut message = format!(
            "{whom} drained: our routes are announced with GRACEFUL_SHUTDOWN{}",
            if changed.is_empty() { " (no session changed)" } else { "" }
        );
        let rows: Vec<Reply> = changed.iter().map(row).collect();
        // The wait is a task's, not the supervisor's: it goes on routing meanwhile.
        tokio::spawn(async move {
            if let Some(s) = wait {
                tokio::time::sleep(Duration::from_secs(s.into())).await;
                message.push_str(&format!("; waited {s} s"));
            }
            for r in rows {
                if replies.send(r).await.is_err() {
                    return;
                }
            }
            send_reply(&replies, Reply::Done { message }).await;
        });
    }

    /// `bgpctl undrain [--neighbor ADDR]`.
    pub(super) async fn undrain_command(&mut self, neighbor: Option<IpAddr>, replies: mpsc::Sender<Reply>) {
        let mut drain = self.drain.clone();
        let whom = match neighbor {
            None => {
                drain = Drain::default();
                "every neighbor".to_owned()
            }
            Some(_) if drain.all => {
                let message = "every neighbor is drained: `bgpctl undrain` without --neighbor ends that drain".into();
                return send_reply(&replies, Reply::Error { message }).await;
            }
            Some(a) => {
                if !drain.peers.remove(&a) {
                    let message = format!("neighbor {a} is not drained");
                    return send_reply(&replies, Reply::Done { message }).await;
                }
                format!("neighbor {a}")
            }
        };
        let changed = match self.set_drain(drain).await {
            Ok(changed) => changed,
            Err(message) => return send_reply(&replies, Reply::Error { message }).await,
        };
        for d in &changed {
            let _ = replies.send(row(d)).await;
        }
        send_reply(&replies, Reply::Done { message: format!("{whom} undrained: our routes are announced as before") })
            .await;
    }

    /// The drain of `on_stop = "drain-then-graceful-restart"`: every neighbor.
    pub(super) async fn drain_before_stop(&mut self, time: Duration) {
        let drain = Drain { all: true, ..self.drain.clone() };
        let changed = self.set_drain(drain).await.map(|c| c.len()).unwrap_or(0);
        info!(
            sessions = changed,
            seconds = time.as_secs(),
            "stopping: draining every neighbor first (RFC 8326), then a graceful restart stop; \
             a second SIGTERM/SIGINT stops at once"
        );
    }

    /// Marks the drained neighbors' summary lines.
    pub(super) fn mark_drained<'a>(&self, summaries: impl IntoIterator<Item = &'a mut NeighborSummary>) {
        for s in summaries {
            s.drained = self.drain.covers(s.address);
        }
    }

    /// A neighbor configured, connected or allowed by a range.
    fn knows(&self, a: IpAddr) -> bool {
        self.peers.contains_key(&a)
            || self.config.neighbors.iter().any(|n| n.address == a)
            || self.config.range_for(a).is_some()
    }

    async fn set_drain(&mut self, drain: Drain) -> Result<Vec<Drained>, String> {
        let (tx, rx) = oneshot::channel();
        self.rib
            .send(RibInput::Drain { drain: drain.clone(), reply: tx })
            .await
            .map_err(|_| "the RIB is not running")?;
        self.drain = drain;
        match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
            Ok(Ok(changed)) => {
                for d in &changed {
                    self.history.record(d.address, drain_event(d));
                }
                Ok(changed)
            }
            _ => Err("the RIB did not answer".into()),
        }
    }
}

/// The event history's line of a drain or undrain of one neighbor.
fn drain_event(d: &Drained) -> bgp_core::ctl::events::Event {
    let change = match d.drained {
        true => format!("drained (RFC 8326): {} routes announced again with GRACEFUL_SHUTDOWN", d.routes),
        false => format!("undrained: {} routes announced again as before", d.routes),
    };
    bgp_core::ctl::events::Event::Config { change }
}

fn row(d: &Drained) -> Reply {
    Reply::Drained(DrainRow { address: d.address, drained: d.drained, routes: d.routes })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use bgp_core::ctl::Command;

    use super::*;
    use crate::control::ControlRequest;
    use crate::peer::StopMode;
    use crate::supervisor::tests::command;

    const CONFIG: &str = "[global]\nasn = 65000\nrouter_id = \"10.0.0.1\"\nlisten = []\n\
                          control_socket = \"/tmp/unused.sock\"\non_stop = \"drain-then-graceful-restart\"\n\
                          drain_time = 30\n\n[[neighbor]]\naddress = \"192.0.2.1\"\nasn = 65001\n";

    /// A supervisor whose RIB task answers drains as an engine with one session to
    /// 192.0.2.1 holding 4 routes would, and records them.
    fn supervisor() -> (Supervisor, std::sync::Arc<std::sync::Mutex<Vec<Drain>>>) {
        let config = bgp_core::config::parse("test.toml", CONFIG).unwrap();
        let (rib, mut rib_rx) = mpsc::channel(16);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            let mut now = Drain::default();
            while let Some(input) = rib_rx.recv().await {
                if let RibInput::Drain { drain, reply } = input {
                    let a: IpAddr = "192.0.2.1".parse().unwrap();
                    let changed = (now.covers(a) != drain.covers(a)).then(|| Drained {
                        address: a,
                        drained: drain.covers(a),
                        routes: 4,
                    });
                    now = drain.clone();
                    record.lock().unwrap().push(drain);
                    let _ = reply.send(changed.into_iter().collect());
                }
            }
        });
        (Supervisor::new(config, PathBuf::from("test.toml"), Vec::new(), rib, mpsc::channel(64)), seen)
    }

    #[tokio::test]
    async fn drain_and_undrain_by_neighbor_and_for_all() {
        let (mut sup, seen) = supervisor();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let r =
            command(&mut sup, Command::Drain { neighbor: Some("198.51.100.9".parse().unwrap()), wait_seconds: None })
                .await;
        assert!(matches!(&r[..], [Reply::Error { message }] if message.contains("no neighbor")), "{r:?}");
        let r = command(&mut sup, Command::Drain { neighbor: Some(a), wait_seconds: None }).await;
        let row = DrainRow { address: a, drained: true, routes: 4 };
        assert!(matches!(&r[..], [Reply::Drained(d), Reply::Done { .. }, Reply::End] if *d == row), "{r:?}");
        assert!(sup.drain.covers(a) && !sup.drain.all);
        let r = command(&mut sup, Command::Drain { neighbor: None, wait_seconds: None }).await;
        assert!(matches!(&r[..], [Reply::Done { .. }, Reply::End]), "already drained: no row: {r:?}");
        let r = command(&mut sup, Command::Undrain { neighbor: Some(a) }).await;
        assert!(matches!(&r[..], [Reply::Error { message }] if message.contains("without --neighbor")), "{r:?}");
        let r = command(&mut sup, Command::Undrain { neighbor: None }).await;
        assert!(matches!(&r[..], [Reply::Drained(d), Reply::Done { .. }, Reply::End] if !d.drained), "{r:?}");
        assert_eq!(sup.drain, Drain::default());
        assert_eq!(seen.lock().unwrap().len(), 3, "the RIB saw every change");
        // The neighbor's event history tells the drain and its end.
        let changes: Vec<String> = sup.history.events(Some(a), None).into_iter().map(|e| e.event.to_string()).collect();
        assert_eq!(
            changes,
            [
                "drained (RFC 8326): 4 routes announced again with GRACEFUL_SHUTDOWN",
                "undrained: 4 routes announced again as before"
            ],
        );
    }

    #[tokio::test]
    async fn a_wait_answers_after_it_and_does_not_hold_up_the_supervisor() {
        let (mut sup, _seen) = supervisor();
        let (replies, mut rx) = mpsc::channel(16);
        let command = Command::Drain { neighbor: None, wait_seconds: Some(1) };
        let t = tokio::time::Instant::now();
        assert!(sup.control(ControlRequest { command, replies }).await.is_none());
        assert!(t.elapsed() < Duration::from_millis(500), "the supervisor goes on at once");
        assert!(matches!(rx.recv().await, Some(Reply::Drained(_))));
        assert!(t.elapsed() >= Duration::from_secs(1));
        assert!(matches!(rx.recv().await, Some(Reply::Done { message }) if message.contains("waited 1 s")));
    }

    #[tokio::test]
    async fn the_first_signal_drains_and_a_second_stops_at_once() {
        let (mut sup, seen) = supervisor();
        let mut until = None;
        assert!(sup.signalled(&mut until).await.is_none(), "the drain comes first");
        let until = until.expect("the drain's end");
        let left = until - tokio::time::Instant::now();
        assert!(left > Duration::from_secs(29) && left <= Duration::from_secs(30), "drain_time: {left:?}");
        assert_eq!(seen.lock().unwrap().last().map(|d| d.all), Some(true));
        let mut again = Some(until);
        assert!(matches!(sup.signalled(&mut again).await, Some(StopMode::GracefulRestart)));
    }
}
