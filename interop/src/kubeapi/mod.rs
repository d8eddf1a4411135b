//! A fake Kubernetes API server for the tests and the lab: real list and watch, as
//! kube-rs's watcher uses them, for core/v1 Services and Nodes and
//! discovery.k8s.io/v1 EndpointSlices, cluster-wide and per namespace.
//!
//! - LIST: `{kind: ServiceList, apiVersion: v1, metadata: {resourceVersion}, items}`,
//!   with `limit`/`continue` pages, `labelSelector` and `fieldSelector`;
//! - WATCH (`?watch=1&resourceVersion=N&allowWatchBookmarks=true&timeoutSeconds=S`):
//!   chunked newline-delimited `{"type": ..., "object": ...}` events after N, periodic
//!   `BOOKMARK`s, an `ERROR` event with a 410 `Expired` Status when N is older than the
//!   kept history; `sendInitialEvents=true` (streaming lists) too;
//! - GET of one object, `/version`, `/api`, `/apis`, the resource lists, `/healthz`;
//! - plain HTTP (kube-rs takes `http://` in a kubeconfig); [`FakeApi::write_kubeconfig`].
//!
//! Tests drive it in process ([`FakeApi::apply`], [`FakeApi::delete`],
//! [`FakeApi::outage`], [`FakeApi::expire`], ...); the `fake-apiserver` binary serves
//! the same through a control endpoint ([`control`]). It runs its own tokio runtime on
//! its own thread, so sync and async tests alike can hold it.
//!
//! Outage: the listeners close (connections are refused) and every open connection
//! is dropped, until [`FakeApi::outage_end`] (or the end of [`FakeApi::outage`]'s
//! duration) binds them again on the same addresses.

pub mod control;
pub mod http;
pub mod objects;
pub mod selector;
pub mod store;

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

pub use objects::Kind;
use selector::{FieldSelector, LabelSelector};
use store::{gone, status, Filter, Store};

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// Watch events kept: a watch from further back gets 410 Gone.
    pub history: usize,
    /// How often an idle watch that asked for bookmarks gets one (the real server:
    /// about a minute).
    pub bookmark_interval: Duration,
    /// `timeoutSeconds` of a watch that gives none.
    pub default_watch_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            history: 10_000,
            bookmark_interval: Duration::from_secs(10),
            default_watch_timeout: Duration::from_secs(1800),
        }
    }
}

/// One request the server received, for tests to see what the client asked.
#[derive(Clone, Debug)]
pub struct Logged {
    pub at: Instant,
    /// `GET /api/v1/services?watch=true&...` (the query decoded).
    pub line: String,
}

struct Shared {
    store: Mutex<Store>,
    config: Config,
    /// The resourceVersion, sent on every change: wakes the watches.
    changed: watch::Sender<u64>,
    /// Bumped by an outage: every open API connection closes.
    epoch: watch::Sender<u64>,
    /// Bumped by [`FakeApi::expire`]: open watches get a 410 and end.
    expire: watch::Sender<u64>,
    /// Bumped by [`FakeApi::bookmark`]: open watches get a bookmark now.
    bookmark: watch::Sender<u64>,
    /// While true the listeners are closed.
    down: watch::Sender<bool>,
    requests: Mutex<Vec<Logged>>,
    watches: AtomicUsize,
}

impl Shared {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(tx: &watch::Sender<u64>) {
        tx.send_modify(|v| *v += 1);
    }

    fn notify(&self, rv: u64) {
        self.changed.send_replace(rv);
    }

    fn set_down(&self, down: bool) {
        self.down.send_replace(down);
        if down {
            Shared::bump(&self.epoch);
        }
    }
}

/// A listening address, in a network namespace (`/run/netns/NAME`) or ours.
#[derive(Clone, Debug)]
struct Bind {
    netns: Option<String>,
    addr: SocketAddr,
}

/// Binds a TCP listener, in a network namespace when asked: a short-lived thread
/// enters it (setns) and binds, so no thread of ours stays there; the socket keeps its
/// namespace.
pub fn bind_in(netns: Option<&str>, addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let Some(ns) = netns else {
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        return Ok(l);
    };
    let path = Path::new("/run/netns").join(ns);
    thread::spawn(move || -> io::Result<std::net::TcpListener> {
        let file = File::open(&path)?;
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .join()
    .map_err(|_| io::Error::other("the setns thread panicked"))?
}

/// The running fake API server; stops when dropped.
pub struct FakeApi {
    shared: Arc<Shared>,
    handle: tokio::runtime::Handle,
    binds: Vec<Bind>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    outage_timer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl FakeApi {
    /// Serves on 127.0.0.1 (a free port).
    pub fn start_local(config: Config) -> io::Result<FakeApi> {
        FakeApi::start(config, &[(None, "127.0.0.1:0".parse().expect("an address"))])
    }

    /// Serves on every `(namespace, address)` given (port 0: a free one), one store
    /// behind them all.
    pub fn start(config: Config, on: &[(Option<&str>, SocketAddr)]) -> io::Result<FakeApi> {
        let mut listeners = Vec::new();
        let mut binds = Vec::new();
        for (ns, addr) in on {
            let l = bind_in(*ns, *addr)?;
            binds.push(Bind { netns: ns.map(String::from), addr: l.local_addr()? });
            listeners.push(l);
        }
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(config.history)),
            config,
            changed: watch::channel(0).0,
            epoch: watch::channel(0).0,
            expire: watch::channel(0).0,
            bookmark: watch::channel(0).0,
            down: watch::channel(false).0,
            requests: Mutex::new(Vec::new()),
            watches: AtomicUsize::new(0),
        });
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let thread = thread::Builder::new().name("fake-apiserver".into()).spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("fake-apiserver")
                .enable_all()
                .build()
                .expect("a tokio runtime");
            let _ = handle_tx.send(rt.handle().clone());
            rt.block_on(async move {
                let _ = stop_rx.await;
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        })?;
        let handle = handle_rx.recv().map_err(|_| io::Error::other("the server thread died"))?;
        let api = FakeApi {
            shared,
            handle,
            binds,
            stop: Some(stop_tx),
            thread: Some(thread),
            outage_timer: Mutex::new(None),
        };
        for (l, b) in listeners.into_iter().zip(api.binds.clone()) {
            let shared = api.shared.clone();
            api.handle.spawn(async move {
                let l = TcpListener::from_std(l).expect("a tokio listener");
                accept_loop(shared, b, Some(l)).await;
            });
        }
        Ok(api)
    }

    /// The addresses served.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.binds.iter().map(|b| b.addr).collect()
    }

    /// `http://ADDR` of the n-th address.
    pub fn url(&self, n: usize) -> String {
        format!("http://{}", self.binds[n].addr)
    }

    /// Writes a kubeconfig for the n-th address (`http://`, a bearer token the server
    /// ignores, namespace `default`).
    pub fn write_kubeconfig(&self, n: usize, path: &Path) -> io::Result<()> {
        std::fs::write(path, kubeconfig(&self.url(n)))
    }

    /// Creates or replaces an object; its new resourceVersion.
    pub fn apply(&self, object: Value) -> Result<u64, String> {
        let rv = self.shared.store().apply(object)?;
        self.shared.notify(rv);
        Ok(rv)
    }

    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<u64, String> {
        let rv = self.shared.store().delete(kind, namespace, name)?;
        self.shared.notify(rv);
        Ok(rv)
    }

    /// Sets `metadata.deletionTimestamp` (a MODIFIED event), as a deletion waiting for
    /// finalizers does.
    pub fn begin_delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<u64, String> {
        let rv = self.shared.store().begin_delete(kind, namespace, name)?;
        self.shared.notify(rv);
        Ok(rv)
    }

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.shared.store().get(kind, namespace, name).cloned()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().rv()
    }

    /// Forgets the watch history and sends every open watch a 410 Gone: the clients
    /// must list again.
    pub fn expire(&self) {
        self.shared.store().compact();
        Shared::bump(&self.shared.expire);
    }

    /// Forgets the watch history only: the next watch from an older resourceVersion
    /// gets the 410.
    pub fn compact(&self) {
        self.shared.store().compact();
    }

    /// Sends every open watch that asked for bookmarks a BOOKMARK now.
    pub fn bookmark(&self) {
        Shared::bump(&self.shared.bookmark);
    }

    /// Closes the listeners and every connection now, until [`FakeApi::outage_end`].
    pub fn outage_start(&self) {
        if let Some(t) = self.outage_timer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
        self.shared.set_down(true);
    }

    /// Serves again.
    pub fn outage_end(&self) {
        if let Some(t) = self.outage_timer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
        self.shared.set_down(false);
    }

    /// An outage of `duration`, from now (returns at once).
    pub fn outage(&self, duration: Duration) {
        self.outage_start();
        let shared = self.shared.clone();
        let t = self.handle.spawn(async move {
            tokio::time::sleep(duration).await;
            shared.set_down(false);
        });
        *self.outage_timer.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
    }

    pub fn is_down(&self) -> bool {
        *self.shared.down.borrow()
    }

    /// Watches open now.
    pub fn watches(&self) -> usize {
        self.shared.watches.load(Ordering::SeqCst)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.shared.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Serves the control endpoint ([`control`]) on `addr` (in `netns` if given); the
    /// address bound.
    pub fn serve_control(&self, netns: Option<&str>, addr: SocketAddr) -> io::Result<SocketAddr> {
        let l = bind_in(netns, addr)?;
        let bound = l.local_addr()?;
        let api = ControlTarget { shared: self.shared.clone(), handle: self.handle.clone(), urls: self.addrs() };
        self.handle.spawn(async move {
            let l = TcpListener::from_std(l).expect("a tokio listener");
            control::serve(l, api).await;
        });
        Ok(bound)
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the control endpoint acts on (the same operations as [`FakeApi`]'s).
#[derive(Clone)]
pub struct ControlTarget {
    shared: Arc<Shared>,
    handle: tokio::runtime::Handle,
    urls: Vec<SocketAddr>,
}

impl ControlTarget {
    pub fn apply(&self, object: Value) -> Result<u64, String> {
        let rv = self.shared.store().apply(object)?;
        self.shared.notify(rv);
        Ok(rv)
    }

    pub fn delete(&self, kind: Kind, namespace: &str, name: &str, graceful: bool) -> Result<u64, String> {
        let rv = if graceful {
            self.shared.store().begin_delete(kind, namespace, name)?
        } else {
            self.shared.store().delete(kind, namespace, name)?
        };
        self.shared.notify(rv);
        Ok(rv)
    }

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.shared.store().get(kind, namespace, name).cloned()
    }

    pub fn list_all(&self) -> Value {
        let store = self.shared.store();
        let items: Vec<Value> = Kind::ALL.iter().flat_map(|k| store.list(*k, &Filter::default()).0).collect();
        json!({"resourceVersion": store.rv().to_string(), "items": items})
    }

    pub fn expire(&self) {
        self.shared.store().compact();
        Shared::bump(&self.shared.expire);
    }

    pub fn bookmark(&self) {
        Shared::bump(&self.shared.bookmark);
    }

    /// Starts an outage; with a duration, it ends by itself.
    pub fn outage(&self, duration: Option<Duration>) {
        self.shared.set_down(true);
        if let Some(d) = duration {
            let shared = self.shared.clone();
            let epoch = *self.shared.epoch.borrow();
            self.handle.spawn(async move {
                tokio::time::sleep(d).await;
                // Only if no other outage started since.
                if *shared.epoch.borrow() == epoch {
                    shared.set_down(false);
                }
            });
        }
    }

    pub fn outage_end(&self) {
        self.shared.set_down(false);
    }

    pub fn state(&self) -> Value {
        let store = self.shared.store();
        json!({
            "resourceVersion": store.rv().to_string(),
            "oldestResourceVersion": store.oldest().to_string(),
            "down": *self.shared.down.borrow(),
            "watches": self.shared.watches.load(Ordering::SeqCst),
            "servers": self.urls.iter().map(|a| format!("http://{a}")).collect::<Vec<_>>(),
        })
    }

    pub fn requests(&self) -> Value {
        let reqs = self.shared.requests.lock().unwrap_or_else(|e| e.into_inner());
        Value::from(reqs.iter().map(|r| r.line.clone()).collect::<Vec<_>>())
    }
}

/// A kubeconfig for `server`.
pub fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n\
         contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
         current-context: fake\nusers:\n- name: fake\n  user:\n    token: fake-token\npreferences: {{}}\n"
    )
}

// ------------------------------------------------------------------ serving

async fn accept_loop(shared: Arc<Shared>, bind: Bind, mut listener: Option<TcpListener>) {
    let mut down = shared.down.subscribe();
    loop {
        if *down.borrow_and_update() {
            listener = None;
            if down.changed().await.is_err() {
                return;
            }
            continue;
        }
        let l = match listener.take() {
            Some(l) => l,
            None => {
                let b = bind.clone();
                let rebound = tokio::task::spawn_blocking(move || bind_in(b.netns.as_deref(), b.addr)).await;
                match rebound {
                    Ok(Ok(l)) => TcpListener::from_std(l).expect("a tokio listener"),
                    other => {
                        eprintln!("fake-apiserver: cannot bind {} again: {other:?}; retrying", bind.addr);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                }
            }
        };
        loop {
            tokio::select! {
                accepted = l.accept() => {
                    if let Ok((stream, _)) = accepted {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(serve_connection(shared.clone(), stream));
                    }
                }
                _ = down.changed() => {
                    if *down.borrow() {
                        break;
                    }
                }
            }
        }
        // `l` is dropped here: the port is closed while down.
    }
}

async fn serve_connection(shared: Arc<Shared>, mut stream: TcpStream) {
    let mut epoch = shared.epoch.subscribe();
    epoch.borrow_and_update();
    // Accepted just as an outage began (the epoch bumped before we subscribed): the
    // down flag is set before the bump, so this sees it.
    if *shared.down.borrow() {
        return;
    }
    // Biased: once an outage began, nothing more is written (a change made just after
    // it must not slip out on a watch that was woken at the same time).
    tokio::select! {
        biased;
        _ = epoch.changed() => {}
        _ = connection(&shared, &mut stream) => {}
    }
    // An outage (or the end): close at once, without a graceful end of the stream.
    let _ = stream.shutdown().await;
}

async fn connection(shared: &Arc<Shared>, stream: &mut TcpStream) {
    let mut buf = Vec::new();
    loop {
        let req = match http::read_request(stream, &mut buf).await {
            Ok(Some(r)) => r,
            _ => return,
        };
        shared.requests.lock().unwrap_or_else(|e| e.into_inner()).push(Logged { at: Instant::now(), line: req.line() });
        let close = req.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if handle(shared, stream, &req).await.is_err() || close {
            return;
        }
    }
}

/// The URL paths served.
enum Route {
    Collection { kind: Kind, namespace: Option<String> },
    Object { kind: Kind, namespace: String, name: String },
    Static(Value),
    Health,
    NotFound,
}

fn route(path: &str) -> Route {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest): (&str, &[&str]) = match segs.as_slice() {
        ["version"] => return Route::Static(version()),
        ["healthz" | "livez" | "readyz"] => return Route::Health,
        ["api"] => {
            return Route::Static(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}))
        }
        ["apis"] => return Route::Static(group_list()),
        ["api", "v1"] => return Route::Static(resource_list("v1")),
        ["apis", "discovery.k8s.io"] => return Route::Static(discovery_group()),
        ["apis", "discovery.k8s.io", "v1"] => return Route::Static(resource_list("discovery.k8s.io/v1")),
        ["api", "v1", rest @ ..] => ("v1", rest),
        ["apis", "discovery.k8s.io", "v1", rest @ ..] => ("discovery.k8s.io/v1", rest),
        _ => return Route::NotFound,
    };
    let kind_in = |plural: &str| Kind::ALL.into_iter().find(|k| k.plural() == plural && k.api_version() == group);
    let (kind, namespace, name) = match rest {
        [plural] => (kind_in(plural), None, None),
        [plural, name] => (kind_in(plural), None, Some(*name)),
        ["namespaces", ns, plural] => (kind_in(plural), Some(*ns), None),
        ["namespaces", ns, plural, name] => (kind_in(plural), Some(*ns), Some(*name)),
        _ => return Route::NotFound,
    };
    let Some(kind) = kind else { return Route::NotFound };
    // Nodes are cluster-scoped; a namespaced Service path needs its namespace for GET.
    if !kind.namespaced() && namespace.is_some() {
        return Route::NotFound;
    }
    match name {
        None => Route::Collection { kind, namespace: namespace.map(String::from) },
        Some(name) if kind.namespaced() && namespace.is_none() => {
            let _ = name;
            Route::NotFound
        }
        Some(name) => {
            Route::Object { kind, namespace: namespace.unwrap_or_default().to_string(), name: name.to_string() }
        }
    }
}

fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn discovery_group() -> Value {
    json!({
        "kind": "APIGroup", "apiVersion": "v1", "name": "discovery.k8s.io",
        "versions": [{"groupVersion": "discovery.k8s.io/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "discovery.k8s.io/v1", "version": "v1"},
    })
}

fn group_list() -> Value {
    let mut g = discovery_group();
    if let Some(o) = g.as_object_mut() {
        o.remove("kind");
        o.remove("apiVersion");
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [g]})
}

fn resource_list(group_version: &str) -> Value {
    let resources: Vec<Value> = Kind::ALL
        .iter()
        .filter(|k| k.api_version() == group_version)
        .map(|k| {
            json!({
                "name": k.plural(), "singularName": k.name().to_ascii_lowercase(), "namespaced": k.namespaced(),
                "kind": k.name(), "verbs": ["get", "list", "watch"],
            })
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

async fn respond_status(stream: &mut TcpStream, code: u16, reason: &str, message: &str) -> io::Result<()> {
    http::respond_json(stream, code, &status(code, reason, message)).await
}

fn filter(req: &http::Request, namespace: Option<String>) -> Result<Filter, String> {
    Ok(Filter {
        namespace,
        labels: LabelSelector::parse(req.param("labelSelector").unwrap_or(""))
            .map_err(|e| format!("unable to parse requirement: {e}"))?,
        fields: FieldSelector::parse(req.param("fieldSelector").unwrap_or(""))?,
    })
}

async fn handle(shared: &Arc<Shared>, stream: &mut TcpStream, req: &http::Request) -> io::Result<()> {
    let route = route(&req.path);
    if req.method != "GET" {
        return match route {
            Route::NotFound => {
                respond_status(stream, 404, "NotFound", "the server could not find the requested resource").await
            }
            _ => {
                respond_status(
                    stream,
                    405,
                    "MethodNotAllowed",
                    &format!("the fake API server serves GET only, not {}", req.method),
                )
                .await
            }
        };
    }
    match route {
        Route::Health => http::respond(stream, 200, "text/plain; charset=utf-8", b"ok").await,
        Route::Static(v) => http::respond_json(stream, 200, &v).await,
        Route::NotFound => {
            respond_status(stream, 404, "NotFound", "the server could not find the requested resource").await
        }
        Route::Object { kind, namespace, name } => {
            let found = shared.store().get(kind, &namespace, &name).cloned();
            match found {
                Some(o) => http::respond_json(stream, 200, &o).await,
                None => {
                    let mut s = status(404, "NotFound", &format!("{} \"{name}\" not found", kind.plural()));
                    s["details"] = json!({"name": name, "kind": kind.plural()});
                    if kind.api_version() != "v1" {
                        s["details"]["group"] = json!("discovery.k8s.io");
                    }
                    http::respond_json(stream, 404, &s).await
                }
            }
        }
        Route::Collection { kind, namespace } => {
            let f = match filter(req, namespace) {
                Ok(f) => f,
                Err(e) => return respond_status(stream, 400, "BadRequest", &e).await,
            };
            if req.flag("watch") {
                watch_collection(shared, stream, req, kind, f).await
            } else {
                list_collection(shared, stream, req, kind, f).await
            }
        }
    }
}

async fn list_collection(
    shared: &Arc<Shared>,
    stream: &mut TcpStream,
    req: &http::Request,
    kind: Kind,
    f: Filter,
) -> io::Result<()> {
    let (mut items, rv) = shared.store().list(kind, &f);
    // Items of a list carry no kind and apiVersion, as the real server writes them.
    for i in &mut items {
        if let Some(o) = i.as_object_mut() {
            o.remove("kind");
            o.remove("apiVersion");
        }
    }
    // Pages: the continue token is "<resourceVersion>/<offset>".
    let (list_rv, offset) = match req.param("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            match token.split_once('/').and_then(|(r, o)| Some((r.parse::<u64>().ok()?, o.parse::<usize>().ok()?))) {
                Some(t) => t,
                None => return respond_status(stream, 400, "BadRequest", "invalid continue token").await,
            }
        }
        None => (rv, 0),
    };
    let limit: usize = req.param("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    let next = offset + page.len();
    let mut meta = json!({"resourceVersion": list_rv.to_string()});
    if next < total {
        meta["continue"] = json!(format!("{list_rv}/{next}"));
        meta["remainingItemCount"] = json!(total - next);
    }
    let body = json!({
        "kind": format!("{}List", kind.name()),
        "apiVersion": kind.api_version(),
        "metadata": meta,
        "items": page,
    });
    http::respond_json(stream, 200, &body).await
}

fn event_line(typ: &str, object: &Value) -> Vec<u8> {
    let mut line = json!({"type": typ, "object": object}).to_string().into_bytes();
    line.push(b'\n');
    line
}

fn bookmark_object(kind: Kind, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": kind.name(), "apiVersion": kind.api_version(), "metadata": meta})
}

/// Counts an open watch while it lives.
struct WatchGuard<'a>(&'a AtomicUsize);

impl Drop for WatchGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn watch_collection(
    shared: &Arc<Shared>,
    stream: &mut TcpStream,
    req: &http::Request,
    kind: Kind,
    f: Filter,
) -> io::Result<()> {
    let bookmarks = req.flag("allowWatchBookmarks");
    let initial = req.flag("sendInitialEvents");
    let rv_param = req.param("resourceVersion").unwrap_or("");
    let requested: Option<u64> = match rv_param {
        "" | "0" => None,
        s => match s.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                return respond_status(stream, 400, "BadRequest", &format!("invalid resource version: {s}")).await
            }
        },
    };
    let timeout = req
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(shared.config.default_watch_timeout);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut changed = shared.changed.subscribe();
    let mut expire = shared.expire.subscribe();
    let mut bookmark = shared.bookmark.subscribe();
    changed.borrow_and_update();
    expire.borrow_and_update();
    bookmark.borrow_and_update();
    shared.watches.fetch_add(1, Ordering::SeqCst);
    let _guard = WatchGuard(&shared.watches);

    http::start_chunked(stream, "application/json").await?;
    // From "0" or "" (any), or for a streaming list: the current objects as ADDED first.
    let mut from = match requested {
        Some(rv) if !initial => rv,
        _ => {
            let (items, rv) = shared.store().list(kind, &f);
            for o in items {
                http::chunk(stream, &event_line("ADDED", &o)).await?;
            }
            if initial && bookmarks {
                http::chunk(stream, &event_line("BOOKMARK", &bookmark_object(kind, rv, true))).await?;
            }
            rv
        }
    };
    let interval = shared.config.bookmark_interval;
    let mut next_bookmark = tokio::time::Instant::now() + interval;
    loop {
        let got = shared.store().events_since(kind, &f, from);
        match got {
            Err(oldest) => {
                http::chunk(stream, &event_line("ERROR", &gone(from, oldest))).await?;
                break;
            }
            Ok((events, next)) => {
                for (typ, o) in events {
                    http::chunk(stream, &event_line(typ, &o)).await?;
                }
                from = next;
            }
        }
        tokio::select! {
            r = changed.changed() => { if r.is_err() { break; } }
            _ = tokio::time::sleep_until(next_bookmark), if bookmarks => {
                http::chunk(stream, &event_line("BOOKMARK", &bookmark_object(kind, from, false))).await?;
                next_bookmark = tokio::time::Instant::now() + interval;
            }
            _ = bookmark.changed(), if bookmarks => {
                http::chunk(stream, &event_line("BOOKMARK", &bookmark_object(kind, from, false))).await?;
            }
            _ = expire.changed() => {
                let oldest = shared.store().oldest();
                http::chunk(stream, &event_line("ERROR", &gone(from, oldest))).await?;
                break;
            }
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    http::end_chunked(stream).await
}

#[cfg(test)]
mod tests;
