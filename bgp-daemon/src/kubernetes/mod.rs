//! The Kubernetes client (cargo feature `kubernetes`): watches the API server and
//! feeds what it sees to the routing engine's Kubernetes source.
//!
//! ```text
//!  API server ──list/watch (kube-rs)──► watcher task ──RibInput::Kubernetes(Vec<KubeUpdate>)──► RIB task
//!  supervisor ──start / stop (abort)──►      │ Status (shared)
//!  supervisor ──RibInput::KubernetesSettings──────────────────────────────────────────────────► RIB task
//! ```
//!
//! - client.rs: where the API server is (kubeconfig, in-cluster) and this node's name;
//! - convert.rs: API objects to the planner's objects;
//! - watch.rs: the watchers, their backoff, batches to the RIB task;
//! - status.rs: what `bgpctl show kubernetes` shows of the client.
//!
//! The supervisor starts the client when the configuration has `[kubernetes]`, starts
//! it again when a reload changes the section, and stops it (the engine withdraws its
//! routes) when a reload removes it.

pub mod client;
pub mod convert;
pub mod status;
pub mod watch;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bgp_core::config::{Kubernetes, KubernetesMode};
use bgp_core::ctl::{KubeConnection, KubeKindStatus, KubernetesStatus};
use bgp_core::kubernetes::plan::KubernetesSettings;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::rib_task::RibInput;
use status::{KindState, Status};

/// A running client: stopped when dropped.
pub struct Running {
    config: Kubernetes,
    /// Resolved (node mode); empty in cluster mode.
    node_name: String,
    status: Arc<Mutex<Status>>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The engine's settings of `config`, with the node name resolved (node mode).
pub fn settings(config: &Kubernetes, env: &client::Env) -> Result<KubernetesSettings, String> {
    let node_name = match config.mode {
        KubernetesMode::Node => client::node_name(config.node_name.as_deref(), env)?,
        KubernetesMode::Cluster => String::new(),
    };
    Ok(KubernetesSettings::new(config, node_name))
}

impl Running {
    /// Starts the client: its settings go to the RIB task first, then what it watches.
    pub async fn start(config: &Kubernetes, rib: &mpsc::Sender<RibInput>) -> Result<Running, String> {
        let settings = settings(config, &client::Env::from_process())?;
        let node_name = settings.node_name.clone();
        let _ = rib.send(RibInput::KubernetesSettings(Some(settings))).await;
        let scope = watch::Scope {
            services: config.load_balancers,
            service_selector: config.service_selector.clone(),
            selector: config.selector(),
            node: (config.mode == KubernetesMode::Node).then(|| node_name.clone()),
        };
        let status = Arc::new(Mutex::new(Status::default()));
        let task = tokio::spawn(watch::run(config.kubeconfig.clone(), scope, rib.clone(), status.clone()));
        Ok(Running { config: config.clone(), node_name, status, task })
    }

    /// Stops the watchers (the routes stay until the RIB is told otherwise).
    pub fn stop(self) {
        drop(self);
    }

    /// The first reply of `show kubernetes`.
    pub fn status(&self) -> KubernetesStatus {
        let status = self.status.lock().unwrap().clone();
        status_row(&status, &self.config, &self.node_name)
    }
}

fn state(s: KindState) -> KubeConnection {
    match s {
        KindState::Connecting => KubeConnection::Connecting,
        KindState::Listing => KubeConnection::Listing,
        KindState::Watching => KubeConnection::Connected,
        KindState::Error => KubeConnection::Error,
    }
}

fn unix(t: Option<SystemTime>) -> Option<u64> {
    t.map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs())
}

fn status_row(status: &Status, config: &Kubernetes, node_name: &str) -> KubernetesStatus {
    let kinds = status
        .kinds
        .iter()
        .map(|k| KubeKindStatus {
            kind: watch::kind_name(k.kind).to_string(),
            watched: k.watched,
            state: state(k.state),
            objects: k.objects as u64,
            last_sync: unix(k.last_sync),
            last_error: k.last_error.clone(),
            error_since: if k.state == KindState::Error { unix(k.error_since) } else { None },
        })
        .collect();
    KubernetesStatus {
        mode: match config.mode {
            KubernetesMode::Node => "node".into(),
            KubernetesMode::Cluster => "cluster".into(),
        },
        node_name: (!node_name.is_empty()).then(|| node_name.to_string()),
        source: status.source.clone(),
        state: state(status.overall()),
        kinds,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bgp_core::kubernetes::Kind;

    use super::*;

    #[test]
    fn the_status_row_says_the_worst_state_and_each_kind() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        let mut s = Status { source: "kubeconfig /k (https://127.0.0.1:6443/)".into(), ..Status::default() };
        let config = Kubernetes::default();
        let row = status_row(&s, &config, "node1");
        assert_eq!((row.state, row.node_name.as_deref()), (KubeConnection::Connecting, Some("node1")));
        s.kind(Kind::Service).synced(2, t0);
        s.kind(Kind::EndpointSlice).synced(5, t0);
        s.kind(Kind::Node).synced(1, t0);
        let row = status_row(&s, &config, "node1");
        assert_eq!(row.state, KubeConnection::Connected);
        assert_eq!(row.kinds.iter().map(|k| k.objects).collect::<Vec<_>>(), [2, 5, 1]);
        assert_eq!(row.kinds[0].last_sync, Some(10_000));
        s.kind(Kind::Node).failed("connection refused".into(), t0 + Duration::from_secs(7));
        let row = status_row(&s, &config, "node1");
        assert_eq!(row.state, KubeConnection::Error);
        let node = &row.kinds[2];
        assert_eq!((node.last_error.as_deref(), node.error_since), (Some("connection refused"), Some(10_007)));
        assert_eq!(row.kinds[0].error_since, None);
        let cluster = Kubernetes { mode: KubernetesMode::Cluster, ..Kubernetes::default() };
        let row = status_row(&s, &cluster, "");
        assert_eq!((row.mode.as_str(), row.node_name), ("cluster", None));
    }

    #[test]
    fn cluster_mode_needs_no_node_name() {
        let env = client::Env::default();
        let cluster = Kubernetes { mode: KubernetesMode::Cluster, ..Kubernetes::default() };
        assert_eq!(settings(&cluster, &env).unwrap().node_name, "");
        assert!(settings(&Kubernetes::default(), &env).is_err(), "node mode without any name");
        let env = client::Env { node_name: Some("n7".into()), ..env };
        let s = settings(&Kubernetes { pod_cidrs: true, ..Kubernetes::default() }, &env).unwrap();
        assert_eq!((s.node_name.as_str(), s.pod_cidrs, s.load_balancers), ("n7", true, true));
    }
}
