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
            Ok(Ok(changed)) => Ok(changed),
            _ => Err("the RIB did not answer".into()),
        }
    }
}

fn row(d: &Drained) -> Reply {
    Reply::Drained(DrainRow { address: d.address, drained: d.drained, routes: d.routes })
}
