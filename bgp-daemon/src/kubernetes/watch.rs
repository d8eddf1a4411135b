//! The watchers: Services, EndpointSlices and Nodes from the API server, as
//! [`KubeUpdate`]s to the RIB task.
//!
//! One task runs the three kube-rs watchers. A (re)list of a kind (`Init`,
//! `InitApply`..., `InitDone`) becomes `SyncBegin(kind)`, its objects, `SyncEnd(kind)`:
//! the engine replaces that kind's set only at the end, so a relist (after `410 Gone` or
//! a lost watch) changes no route that did not change. Added, modified and deleted
//! objects become updates. Whatever is ready at once goes to the RIB task as one batch.
//!
//! An error (the API server unreachable, a refused request) changes nothing: the last
//! known state stays, one line is logged when the first watcher fails and one when all
//! work again, and each watcher retries after [`CappedBackoff`]'s delay, at most
//! [`RETRY_CAP`]: a change made while the server was away arrives within a few seconds
//! of its return (kube-rs's default backoff grows to 30 s).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bgp_core::kubernetes::selector::Selector;
use bgp_core::kubernetes::{Kind, KubeUpdate, ObjectKey};
use futures_util::stream::{self, BoxStream, SelectAll, StreamExt};
use futures_util::FutureExt;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::client::{self, Env};
use super::convert;
use super::status::{KindState, Status};
use crate::rib_task::RibInput;

/// The longest wait between two attempts of a watcher.
pub const RETRY_CAP: Duration = Duration::from_secs(2);
/// The first wait after a failure.
const RETRY_FIRST: Duration = Duration::from_millis(250);
/// Updates per batch to the RIB task, at most.
const BATCH: usize = 4096;

/// Exponential backoff from [`RETRY_FIRST`], doubling up to [`RETRY_CAP`], started over
/// when the watcher makes progress: an object or the end of a list ([`Progress`]).
///
/// Not on any success of the stream, as kube-rs's `StreamBackoff` resets it: while the
/// server is away every retry begins with a successful `Init`, and the delay would
/// never grow past the first.
#[derive(Clone, Debug, Default)]
pub struct CappedBackoff {
    progress: Progress,
}

/// The shared half of a [`CappedBackoff`]: [`Progress::made`] starts it over.
#[derive(Clone, Debug)]
pub struct Progress(Arc<Mutex<Duration>>);

impl Default for Progress {
    fn default() -> Self {
        Progress(Arc::new(Mutex::new(RETRY_FIRST)))
    }
}

impl Progress {
    pub fn made(&self) {
        *self.0.lock().unwrap() = RETRY_FIRST;
    }
}

impl CappedBackoff {
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }
}

impl Iterator for CappedBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let mut next = self.progress.0.lock().unwrap();
        let delay = *next;
        *next = (delay * 2).min(RETRY_CAP);
        Some(delay)
    }
}

impl Backoff for CappedBackoff {
    /// Called by kube-rs on every success, `Init` included: see [`Progress`].
    fn reset(&mut self) {}
}

/// What the watchers watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// Services and EndpointSlices (`load_balancers`).
    pub services: bool,
    /// `service_selector`: its text goes to the API server, and Services are matched
    /// against it here too (a Service whose labels stop matching is withdrawn).
    pub service_selector: Option<String>,
    pub selector: Selector,
    /// Node mode: only this Node; cluster mode: `None`, every Node.
    pub node: Option<String>,
}

/// What one watcher said, converted.
enum Step {
    Begin,
    /// An object of a list: its key and update (`None`: not one the planner sees).
    Listed(Option<(ObjectKey, KubeUpdate)>),
    /// Added or modified; deleted as far as the planner is concerned when it is not
    /// one it sees (a Service no longer of type LoadBalancer).
    Applied(ObjectKey, Option<KubeUpdate>),
    Deleted(ObjectKey),
    End,
}

type Item = (Kind, Result<Step, watcher::Error>);

/// Runs the watchers until the RIB task is gone (or the task is aborted).
pub async fn run(
    kubeconfig: Option<std::path::PathBuf>,
    scope: Scope,
    rib: mpsc::Sender<RibInput>,
    status: Arc<Mutex<Status>>,
) {
    let env = Env::from_process();
    let client = connect(kubeconfig.as_deref(), &env, &status).await;
    let (mut watchers, progress) = watchers(&client, &scope);
    let mut unwatched = Vec::new();
    for kind in [Kind::Service, Kind::EndpointSlice] {
        if !scope.services {
            // Watched by nobody: an empty set.
            unwatched.extend([KubeUpdate::SyncBegin(kind), KubeUpdate::SyncEnd(kind)]);
            status.lock().unwrap().kind(kind).synced_empty(SystemTime::now());
        }
    }
    if !unwatched.is_empty() && rib.send(RibInput::Kubernetes(unwatched)).await.is_err() {
        return;
    }
    let mut sets = Sets::default();
    let mut failing = false;
    while let Some(first) = watchers.next().await {
        let mut batch = Vec::new();
        let mut item = Some(first);
        while let Some((kind, result)) = item.take() {
            if matches!(result, Ok(Step::Listed(_) | Step::End | Step::Applied(..) | Step::Deleted(_))) {
                progress[index(kind)].made();
            }
            apply(kind, result, &mut batch, &mut sets, &status, &mut failing);
            if batch.len() >= BATCH {
                break;
            }
            // Whatever else is ready now joins the batch.
            item = watchers.next().now_or_never().flatten();
        }
        if !batch.is_empty() && rib.send(RibInput::Kubernetes(batch)).await.is_err() {
            return;
        }
    }
}

/// The client, once its configuration can be read: until then the error is shown,
/// logged once, and tried again.
async fn connect(kubeconfig: Option<&std::path::Path>, env: &Env, status: &Mutex<Status>) -> Client {
    let mut logged = false;
    loop {
        let attempt = async {
            let source = client::choose(kubeconfig, env)?;
            let config = client::load(&source, env).await?;
            let url = config.cluster_url.to_string();
            let client = Client::try_from(config).map_err(|e| format!("{source}: {e}"))?;
            Ok::<_, String>((client, source, url))
        };
        match attempt.await {
            Ok((client, source, url)) => {
                info!(%source, %url, "Kubernetes API client");
                status.lock().unwrap().source = format!("{source} ({url})");
                return client;
            }
            Err(e) => {
                if !logged {
                    warn!(error = %e, "Kubernetes client configuration: retrying every {}s (logged once)", RETRY_CAP.as_secs());
                    logged = true;
                }
                status.lock().unwrap().all_failed(&e, SystemTime::now());
                tokio::time::sleep(RETRY_CAP).await;
            }
        }
    }
}

/// The watchers, and the handles that start each one's backoff over.
fn watchers(client: &Client, scope: &Scope) -> (SelectAll<BoxStream<'static, Item>>, [Progress; 3]) {
    let mut all: Vec<BoxStream<'static, Item>> = Vec::new();
    let backoffs: [CappedBackoff; 3] = Default::default();
    let progress = backoffs.clone().map(|b| b.progress());
    let [services_backoff, slices_backoff, nodes_backoff] = backoffs;
    if scope.services {
        let mut config = watcher::Config::default();
        if let Some(selector) = &scope.service_selector {
            config = config.labels(selector);
        }
        let selector = scope.selector.clone();
        let services = watcher::watcher(Api::<core::Service>::all(client.clone()), config)
            .backoff(services_backoff)
            .map(move |r| (Kind::Service, r.map(|e| service_step(e, &selector))));
        all.push(services.boxed());
        let slices = watcher::watcher(Api::<discovery::EndpointSlice>::all(client.clone()), watcher::Config::default())
            .backoff(slices_backoff)
            .map(|r| (Kind::EndpointSlice, r.map(slice_step)));
        all.push(slices.boxed());
    }
    let mut config = watcher::Config::default();
    if let Some(node) = &scope.node {
        config = config.fields(&format!("metadata.name={node}"));
    }
    let only = scope.node.clone();
    let nodes = watcher::watcher(Api::<core::Node>::all(client.clone()), config)
        .backoff(nodes_backoff)
        .map(move |r| (Kind::Node, r.map(|e| node_step(e, only.as_deref()))));
    all.push(nodes.boxed());
    (stream::select_all(all), progress)
}

/// The steps of a kind: `convert` gives the update of an object the planner sees.
fn step<K: kube::Resource>(event: Event<K>, convert: impl Fn(&K) -> Option<KubeUpdate>) -> Step {
    match event {
        Event::Init => Step::Begin,
        Event::InitDone => Step::End,
        Event::InitApply(o) => Step::Listed(convert(&o).map(|u| (convert::key(o.meta()), u))),
        Event::Apply(o) => Step::Applied(convert::key(o.meta()), convert(&o)),
        Event::Delete(o) => Step::Deleted(convert::key(o.meta())),
    }
}

/// A Service the selector does not match is not seen.
fn service_step(event: Event<core::Service>, selector: &Selector) -> Step {
    let empty = std::collections::BTreeMap::new();
    let seen = |s: &core::Service| selector.matches(s.metadata.labels.as_ref().unwrap_or(&empty));
    step(event, |s| seen(s).then(|| convert::service(s)).flatten().map(KubeUpdate::Service))
}

fn slice_step(event: Event<discovery::EndpointSlice>) -> Step {
    step(event, |e| convert::endpoint_slice(e).map(KubeUpdate::EndpointSlice))
}

/// In node mode, a Node of another name (a server that ignored the field selector) is
/// not seen.
fn node_step(event: Event<core::Node>, only: Option<&str>) -> Step {
    let seen = |n: &core::Node| only.is_none_or(|name| n.metadata.name.as_deref() == Some(name));
    step(event, |n| seen(n).then(|| KubeUpdate::Node(convert::node(n))))
}

fn deleted(kind: Kind, key: ObjectKey) -> KubeUpdate {
    match kind {
        Kind::Service => KubeUpdate::ServiceDeleted(key),
        Kind::EndpointSlice => KubeUpdate::EndpointSliceDeleted(key),
        Kind::Node => KubeUpdate::NodeDeleted(key),
    }
}

/// The keys of the objects the planner holds, per kind, for the counts and so that a
/// deletion is sent only for an object it has.
#[derive(Default)]
struct Sets {
    live: [HashSet<ObjectKey>; 3],
    /// During a list: the keys listed so far.
    listing: [Option<HashSet<ObjectKey>>; 3],
}

fn index(kind: Kind) -> usize {
    match kind {
        Kind::Service => 0,
        Kind::EndpointSlice => 1,
        Kind::Node => 2,
    }
}

/// One watcher's step: updates into `batch`, the status, and the log lines.
fn apply(
    kind: Kind,
    result: Result<Step, watcher::Error>,
    batch: &mut Vec<KubeUpdate>,
    sets: &mut Sets,
    status: &Mutex<Status>,
    failing: &mut bool,
) {
    let now = SystemTime::now();
    let mut status = status.lock().unwrap();
    let i = index(kind);
    let step = match result {
        Ok(step) => step,
        Err(e) => {
            let text = e.to_string();
            if !*failing {
                warn!(
                    kind = kind_name(kind), error = %text,
                    "Kubernetes API unreachable or refusing: routes stay as last known; retrying every {}s at most (logged once until it works again)",
                    RETRY_CAP.as_secs()
                );
                *failing = true;
            } else {
                debug!(kind = kind_name(kind), error = %text, "Kubernetes watch failed again");
            }
            status.kind(kind).failed(text, now);
            return;
        }
    };
    match step {
        Step::Begin => {
            sets.listing[i] = Some(HashSet::new());
            batch.push(KubeUpdate::SyncBegin(kind));
            // Not a sign the server answers: kube-rs says `Init` before it asks.
            if status.kind(kind).state != KindState::Error {
                status.kind(kind).state = KindState::Listing;
            }
        }
        Step::Listed(object) => {
            if let Some((key, update)) = object {
                sets.listing[i].get_or_insert_with(HashSet::new).insert(key);
                batch.push(update);
            }
            status.kind(kind).state = KindState::Listing;
        }
        Step::End => {
            if let Some(listed) = sets.listing[i].take() {
                sets.live[i] = listed;
            }
            batch.push(KubeUpdate::SyncEnd(kind));
            status.kind(kind).synced(sets.live[i].len(), now);
        }
        Step::Applied(key, Some(update)) => {
            sets.live[i].insert(key);
            batch.push(update);
            status.kind(kind).watching(sets.live[i].len());
        }
        Step::Applied(key, None) | Step::Deleted(key) => {
            if sets.live[i].remove(&key) {
                batch.push(deleted(kind, key));
            }
            status.kind(kind).watching(sets.live[i].len());
        }
    }
    if *failing && status.all_working() {
        info!("Kubernetes API reachable again: watching");
        *failing = false;
    }
}

pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Service => "services",
        Kind::EndpointSlice => "endpointslices",
        Kind::Node => "nodes",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_two_seconds_and_starts_over_on_progress_only() {
        let mut b = CappedBackoff::default();
        let progress = b.progress();
        let delays: Vec<u128> = b.by_ref().take(7).map(|d| d.as_millis()).collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 2000, 2000, 2000]);
        assert!(b.by_ref().take(1000).all(|d| d <= RETRY_CAP), "never above the cap");
        // kube-rs resets it on any success of the stream (an `Init` too): no effect.
        b.reset();
        assert_eq!(b.next(), Some(RETRY_CAP));
        progress.made();
        assert_eq!(b.next(), Some(RETRY_FIRST));
        assert_eq!(b.next(), Some(RETRY_FIRST * 2));
    }
}
