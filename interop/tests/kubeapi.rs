//! The fake Kubernetes API server (interop/src/kubeapi) against kube-rs's watcher, the
//! client the daemon uses: the objects deserialize into k8s-openapi's types, and list,
//! watch, selectors, bookmarks, a 410 Gone relist and an outage go as with a real API
//! server. No root needed: the fake serves on 127.0.0.1.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use interop::kubeapi::objects::{endpoint_slice, node, service, set_label, set_node_unschedulable, Endpoint};
use interop::kubeapi::{Config as FakeConfig, FakeApi, Kind};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, ResourceExt};

fn fake() -> FakeApi {
    FakeApi::start_local(FakeConfig {
        history: 1000,
        bookmark_interval: Duration::from_secs(3600),
        default_watch_timeout: Duration::from_secs(300),
    })
    .expect("the fake API server starts")
}

/// A client from the kubeconfig the fake writes, as the daemon reads one.
async fn client(api: &FakeApi) -> Client {
    let dir = std::env::temp_dir().join(format!("kubeapi-test-{}-{}", std::process::id(), api.addrs()[0].port()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kubeconfig");
    api.write_kubeconfig(0, &path).unwrap();
    let kc = Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    Client::try_from(config).unwrap()
}

/// What a watcher event is, by name, with the object's name.
fn describe<K: ResourceExt>(e: &Event<K>) -> String {
    match e {
        Event::Init => "Init".into(),
        Event::InitApply(o) => format!("InitApply {}", o.name_any()),
        Event::InitDone => "InitDone".into(),
        Event::Apply(o) => format!("Apply {}", o.name_any()),
        Event::Delete(o) => format!("Delete {}", o.name_any()),
    }
}

/// The next `n` events (errors as "Error <text>"), each within 10 s.
async fn take<K: ResourceExt>(
    s: &mut (impl Stream<Item = watcher::Result<Event<K>>> + Unpin),
    n: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .unwrap_or_else(|_| panic!("no watcher event within 10 s; so far {out:?}"))
            .expect("the watcher stream does not end");
        out.push(match e {
            Ok(e) => describe(&e),
            Err(e) => format!("Error {e}"),
        });
    }
    out
}

/// Events until one equal to `last` (errors skipped), within 20 s.
async fn until<K: ResourceExt>(
    s: &mut (impl Stream<Item = watcher::Result<Event<K>>> + Unpin),
    last: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let e = tokio::time::timeout_at(deadline, s.next())
            .await
            .unwrap_or_else(|_| panic!("no {last:?} within 20 s; saw {out:?}"))
            .expect("the watcher stream does not end");
        let d = match e {
            Ok(e) => describe(&e),
            Err(e) => format!("Error {e}"),
        };
        let done = d == last;
        out.push(d);
        if done {
            return out;
        }
    }
}

#[tokio::test]
async fn objects_deserialize_into_the_api_types() {
    let api = fake();
    api.apply(service("default", "web", &["10.10.100.10", "fd10::10", "lb.example.net"], true)).unwrap();
    api.apply(service("default", "pending", &[], false)).unwrap();
    api.apply(endpoint_slice("default", "pending", "x0", &[])).unwrap();
    let mut cordoned = node("node2", &["10.0.0.2"], true, &[]);
    set_node_unschedulable(&mut cordoned, true);
    api.apply(cordoned).unwrap();
    api.apply(endpoint_slice(
        "default",
        "web",
        "x1",
        &[
            Endpoint::ready("10.42.1.5", "node1"),
            Endpoint {
                address: "10.42.2.5".into(),
                node: "node2".into(),
                ready: None,
                serving: Some(true),
                terminating: Some(true),
            },
        ],
    ))
    .unwrap();
    api.apply(node("node1", &["10.0.0.1", "fd00::1"], true, &["10.42.1.0/24"])).unwrap();
    let c = client(&api).await;

    let svc = Api::<Service>::namespaced(c.clone(), "default").get("web").await.unwrap();
    let spec = svc.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
    assert_eq!(spec.external_traffic_policy.as_deref(), Some("Local"));
    let ingress = svc.status.unwrap().load_balancer.unwrap().ingress.unwrap();
    let ips: Vec<_> = ingress.iter().filter_map(|i| i.ip.clone()).collect();
    assert_eq!(ips, ["10.10.100.10", "fd10::10"]);
    assert_eq!(ingress[2].hostname.as_deref(), Some("lb.example.net"));
    assert_eq!(spec.health_check_node_port, Some(32080));
    let pending = Api::<Service>::namespaced(c.clone(), "default").get("pending").await.unwrap();
    assert_eq!(pending.status.unwrap().load_balancer.unwrap().ingress, None);
    assert!(svc.metadata.uid.is_some() && svc.metadata.creation_timestamp.is_some());

    let slices = Api::<EndpointSlice>::all(c.clone()).list(&Default::default()).await.unwrap();
    assert_eq!(slices.metadata.resource_version, Some(api.resource_version().to_string()));
    // Key order: default/pending-x0 (no endpoints: `null`), then default/web-x1.
    assert!(slices.items[0].endpoints.is_empty());
    let s = &slices.items[1];
    assert_eq!(s.labels()["kubernetes.io/service-name"], "web");
    assert_eq!(s.address_type, "IPv4");
    assert_eq!(s.endpoints[0].node_name.as_deref(), Some("node1"));
    let c2 = s.endpoints[1].conditions.clone().unwrap();
    assert_eq!((c2.ready, c2.serving, c2.terminating), (None, Some(true), Some(true)));

    let n2 = Api::<Node>::all(c.clone()).get("node2").await.unwrap().spec.unwrap();
    assert_eq!(n2.unschedulable, Some(true));
    assert_eq!(n2.taints.unwrap()[0].key, "node.kubernetes.io/unschedulable");
    let n = Api::<Node>::all(c).get("node1").await.unwrap();
    let status = n.status.unwrap();
    let ready = status.conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.status, "True");
    let internal: Vec<_> =
        status.addresses.unwrap().into_iter().filter(|a| a.type_ == "InternalIP").map(|a| a.address).collect();
    assert_eq!(internal, ["10.0.0.1", "fd00::1"]);
    assert_eq!(n.spec.unwrap().pod_cidrs.unwrap(), ["10.42.1.0/24"]);
}

#[tokio::test]
async fn watcher_lists_then_watches_changes_and_deletions() {
    let api = fake();
    api.apply(service("default", "web", &["10.10.100.10"], true)).unwrap();
    api.apply(service("apps", "db", &["10.10.100.11"], false)).unwrap();
    let c = client(&api).await;
    let mut w = watcher::watcher(Api::<Service>::all(c), watcher::Config::default()).boxed();
    assert_eq!(take(&mut w, 4).await, ["Init", "InitApply db", "InitApply web", "InitDone"]);
    api.apply(service("default", "web", &["10.10.100.20"], true)).unwrap();
    api.apply(node("node1", &["10.0.0.1"], true, &[])).unwrap();
    api.begin_delete(Kind::Service, "apps", "db").unwrap();
    api.delete(Kind::Service, "apps", "db").unwrap();
    assert_eq!(take(&mut w, 3).await, ["Apply web", "Apply db", "Delete db"]);
    // kube-rs listed with its page size and watched with bookmarks from the list's version.
    let lines: Vec<String> = api.requests().into_iter().map(|r| r.line).collect();
    assert!(lines.iter().any(|l| l.starts_with("GET /api/v1/services?") && l.contains("limit=500")), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("watch=true")
            && l.contains("allowWatchBookmarks=true")
            && l.contains("resourceVersion=1002")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn selectors_and_namespaces_as_the_watcher_sends_them() {
    let api = fake();
    api.apply(service("default", "web", &["10.10.100.10"], true)).unwrap();
    api.apply(service("apps", "db", &["10.10.100.11"], false)).unwrap();
    let mut labelled = service("apps", "lb", &["10.10.100.12"], false);
    set_label(&mut labelled, "bgp", Some("announce"));
    api.apply(labelled.clone()).unwrap();
    for n in ["node1", "node2"] {
        api.apply(node(n, &["10.0.0.1"], true, &[])).unwrap();
    }
    let c = client(&api).await;
    let mut ns = watcher::watcher(Api::<Service>::namespaced(c.clone(), "apps"), watcher::Config::default()).boxed();
    assert_eq!(take(&mut ns, 4).await, ["Init", "InitApply db", "InitApply lb", "InitDone"]);
    let mut sel =
        watcher::watcher(Api::<Service>::all(c.clone()), watcher::Config::default().labels("bgp in (announce)"))
            .boxed();
    assert_eq!(take(&mut sel, 3).await, ["Init", "InitApply lb", "InitDone"]);
    let mut one =
        watcher::watcher(Api::<Node>::all(c), watcher::Config::default().fields("metadata.name=node2")).boxed();
    assert_eq!(take(&mut one, 3).await, ["Init", "InitApply node2", "InitDone"]);
    // A Service that stops matching the selector is deleted for that watch.
    set_label(&mut labelled, "bgp", None);
    api.apply(labelled).unwrap();
    assert_eq!(take(&mut sel, 1).await, ["Delete lb"]);
    assert_eq!(take(&mut ns, 1).await, ["Apply lb"]);
    api.apply(node("node1", &["10.0.0.9"], false, &[])).unwrap();
    api.apply(node("node2", &["10.0.0.2"], false, &[])).unwrap();
    assert_eq!(take(&mut one, 1).await, ["Apply node2"]);
}

#[tokio::test]
async fn a_bookmark_moves_the_resume_point() {
    let api = fake();
    api.apply(service("default", "web", &["10.10.100.10"], true)).unwrap();
    let c = client(&api).await;
    // Watches of 3 s: the watcher resumes from the last version it saw.
    let mut w = watcher::watcher(Api::<Service>::all(c), watcher::Config::default().timeout(3)).boxed();
    assert_eq!(take(&mut w, 3).await, ["Init", "InitApply web", "InitDone"]);
    let before = api.resource_version();
    for i in 0..3 {
        api.apply(node(&format!("n{i}"), &["10.0.0.1"], true, &[])).unwrap();
    }
    let rv = api.resource_version();
    // Keep the watcher polled (a bookmark yields no event).
    let next = tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(20), w.next()).await;
    });
    let watching = |rv: u64| {
        let want = format!("resourceVersion={rv}");
        api.requests()
            .iter()
            .any(|r| r.line.contains("/api/v1/services?") && r.line.contains("watch=true") && r.line.contains(&want))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while api.watches() == 0 {
        assert!(std::time::Instant::now() < deadline, "the watcher does not watch");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(watching(before) && !watching(rv));
    api.bookmark();
    // The next watch starts from the bookmark's version, not the Service's.
    while !watching(rv) {
        assert!(std::time::Instant::now() < deadline, "no watch from the bookmark's {rv}: {:#?}", api.requests());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    next.abort();
}

#[tokio::test]
async fn gone_410_makes_the_watcher_list_again() {
    let api = fake();
    api.apply(service("default", "web", &["10.10.100.10"], true)).unwrap();
    let c = client(&api).await;
    let mut w = watcher::watcher(Api::<Service>::all(c), watcher::Config::default()).boxed();
    assert_eq!(take(&mut w, 3).await, ["Init", "InitApply web", "InitDone"]);
    api.apply(service("default", "api", &["10.10.100.11"], false)).unwrap();
    assert_eq!(take(&mut w, 1).await, ["Apply api"]);
    api.expire();
    let seen = take(&mut w, 5).await;
    assert!(seen[0].starts_with("Error") && seen[0].contains("Expired"), "{seen:?}");
    assert_eq!(seen[1..], ["Init", "InitApply api", "InitApply web", "InitDone"]);
    // Compacting the history alone does not disturb an open watch.
    let lists_before = api.requests().iter().filter(|r| !r.line.contains("watch=")).count();
    api.compact();
    api.apply(service("default", "web", &["10.10.100.30"], true)).unwrap();
    assert_eq!(take(&mut w, 1).await, ["Apply web"]);
    assert_eq!(
        api.requests().iter().filter(|r| !r.line.contains("watch=")).count(),
        lists_before,
        "no relist while the watch is open"
    );
}

#[tokio::test]
async fn an_outage_is_survived_and_changes_made_meanwhile_arrive() {
    let api = fake();
    api.apply(service("default", "web", &["10.10.100.10"], true)).unwrap();
    let c = client(&api).await;
    let mut w = watcher::watcher(Api::<Service>::all(c), watcher::Config::default()).default_backoff().boxed();
    assert_eq!(take(&mut w, 3).await, ["Init", "InitApply web", "InitDone"]);
    api.outage(Duration::from_secs(2));
    api.apply(service("default", "web", &["10.10.100.99"], true)).unwrap();
    api.delete(Kind::Service, "default", "web").unwrap();
    api.apply(service("default", "new", &["10.10.100.12"], true)).unwrap();
    let seen = until(&mut w, "Apply new").await;
    // Resumed from its version: the events, no relist.
    let events: Vec<_> = seen.iter().filter(|e| !e.starts_with("Error")).cloned().collect();
    assert_eq!(events, ["Apply web", "Delete web", "Apply new"], "all: {seen:?}");
    assert!(!api.is_down());
}
