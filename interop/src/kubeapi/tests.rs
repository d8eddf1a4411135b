//! The fake API server over raw HTTP (tests/kubeapi.rs drives it with kube-rs).

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::objects::{endpoint_slice, node, service, Endpoint};
use super::*;

fn get(api: &FakeApi, target: &str) -> (u16, Value) {
    let (code, body) =
        http::blocking_request(&api.addrs()[0].to_string(), "GET", target, None, Duration::from_secs(5)).unwrap();
    (code, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A watch read event by event.
struct Watch {
    r: BufReader<TcpStream>,
}

impl Watch {
    async fn open(api: &FakeApi, target: &str) -> Watch {
        let mut s = TcpStream::connect(api.addrs()[0]).await.unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
        let mut r = BufReader::new(s);
        let mut line = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
        }
        Watch { r }
    }

    /// The next event, or None at the end of the stream (the terminating chunk or a
    /// closed connection).
    async fn next(&mut self) -> Option<Value> {
        let mut size = String::new();
        let read = tokio::time::timeout(Duration::from_secs(5), self.r.read_line(&mut size))
            .await
            .expect("an event within 5 s");
        if read.unwrap_or(0) == 0 {
            return None;
        }
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            return None;
        }
        let mut data = vec![0; n + 2];
        self.r.read_exact(&mut data).await.unwrap();
        Some(serde_json::from_slice(&data[..n]).unwrap())
    }
}

fn quick() -> Config {
    Config {
        history: 100,
        bookmark_interval: Duration::from_secs(3600),
        default_watch_timeout: Duration::from_secs(60),
    }
}

#[test]
fn list_namespaced_cluster_wide_and_paged() {
    let api = FakeApi::start_local(quick()).unwrap();
    api.apply(service("default", "web", &["10.10.100.10"], true)).unwrap();
    api.apply(service("apps", "db", &["10.10.100.11"], false)).unwrap();
    api.apply(service("apps", "cache", &[], false)).unwrap();
    let (code, l) = get(&api, "/api/v1/services");
    assert_eq!(code, 200);
    assert_eq!(l["kind"], "ServiceList");
    assert_eq!(l["apiVersion"], "v1");
    assert_eq!(l["metadata"]["resourceVersion"], api.resource_version().to_string());
    assert_eq!(l["items"].as_array().unwrap().len(), 3);
    assert!(l["items"][0].get("kind").is_none(), "list items carry no kind");
    let (_, l) = get(&api, "/api/v1/namespaces/apps/services");
    let names: Vec<_> = l["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].clone()).collect();
    assert_eq!(names, ["cache", "db"]);
    let (_, p1) = get(&api, "/api/v1/services?limit=2");
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    assert_eq!(p1["metadata"]["remainingItemCount"], 1);
    let token = p1["metadata"]["continue"].as_str().unwrap().to_string();
    let (_, p2) = get(&api, &format!("/api/v1/services?limit=2&continue={}", http::encode(&token)));
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert!(p2["metadata"].get("continue").is_none());
    assert_eq!(p2["metadata"]["resourceVersion"], p1["metadata"]["resourceVersion"]);
    let (_, l) = get(&api, "/api/v1/services?labelSelector=app%20in%20(web%2Cdb)");
    assert_eq!(l["items"].as_array().unwrap().len(), 2);
    let (code, s) = get(&api, "/api/v1/services?labelSelector=app%20in%20(web");
    assert_eq!((code, s["kind"].as_str(), s["code"].as_u64()), (400, Some("Status"), Some(400)));
}

#[test]
fn get_one_object_and_discovery() {
    let api = FakeApi::start_local(quick()).unwrap();
    api.apply(node("node1", &["10.0.0.1"], true, &["10.42.1.0/24"])).unwrap();
    api.apply(endpoint_slice("default", "web", "a", &[Endpoint::ready("10.42.1.5", "node1")])).unwrap();
    let (code, n) = get(&api, "/api/v1/nodes/node1");
    assert_eq!(code, 200);
    assert_eq!(n["kind"], "Node");
    assert!(n["metadata"]["uid"].is_string());
    assert!(n["metadata"].get("namespace").is_none());
    let (code, e) = get(&api, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-a");
    assert_eq!((code, e["apiVersion"].as_str()), (200, Some("discovery.k8s.io/v1")));
    let (code, s) = get(&api, "/api/v1/nodes/node9");
    assert_eq!((code, s["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(get(&api, "/api/v1/endpointslices").0, 404, "endpointslices are not in core/v1");
    assert_eq!(get(&api, "/version").1["major"], "1");
    assert_eq!(get(&api, "/apis/discovery.k8s.io/v1").1["resources"][0]["name"], "endpointslices");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_changes_bookmarks_and_gone() {
    let api = FakeApi::start_local(quick()).unwrap();
    api.apply(service("default", "web", &["10.10.100.10"], true)).unwrap();
    let rv = api.resource_version();
    let mut w = Watch::open(
        &api,
        &format!("/api/v1/services?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=30"),
    )
    .await;
    api.apply(node("node1", &["10.0.0.1"], true, &[])).unwrap();
    api.apply(service("default", "web", &["10.10.100.20"], true)).unwrap();
    let e = w.next().await.unwrap();
    assert_eq!(e["type"], "MODIFIED");
    assert_eq!(e["object"]["kind"], "Service");
    assert_eq!(e["object"]["status"]["loadBalancer"]["ingress"][0]["ip"], "10.10.100.20");
    api.bookmark();
    let b = w.next().await.unwrap();
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(b["object"]["metadata"]["resourceVersion"], api.resource_version().to_string());
    api.delete(Kind::Service, "default", "web").unwrap();
    assert_eq!(w.next().await.unwrap()["type"], "DELETED");
    assert_eq!(api.watches(), 1);
    api.expire();
    let g = w.next().await.unwrap();
    assert_eq!(g["type"], "ERROR");
    assert_eq!(g["object"]["code"], 410);
    assert_eq!(g["object"]["reason"], "Expired");
    assert!(w.next().await.is_none(), "the stream ends after the 410");
    // A watch from before the compaction is gone at once.
    let mut w = Watch::open(&api, &format!("/api/v1/services?watch=1&resourceVersion={rv}")).await;
    assert_eq!(w.next().await.unwrap()["object"]["code"], 410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_zero_timeout_and_initial_events() {
    let api = FakeApi::start_local(quick()).unwrap();
    api.apply(node("node1", &["10.0.0.1"], true, &[])).unwrap();
    api.apply(node("node2", &["10.0.0.2"], true, &[])).unwrap();
    let mut w = Watch::open(
        &api,
        "/api/v1/nodes?watch=1&resourceVersion=0&fieldSelector=metadata.name%3Dnode2&timeoutSeconds=1",
    )
    .await;
    let e = w.next().await.unwrap();
    assert_eq!((e["type"].as_str(), e["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("node2")));
    assert!(w.next().await.is_none(), "timeoutSeconds ends the watch");
    let mut w = Watch::open(
        &api,
        "/api/v1/nodes?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
    )
    .await;
    assert_eq!(w.next().await.unwrap()["type"], "ADDED");
    assert_eq!(w.next().await.unwrap()["type"], "ADDED");
    let b = w.next().await.unwrap();
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(b["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_closes_and_refuses_then_serves_again() {
    let api = FakeApi::start_local(quick()).unwrap();
    let rv = api.resource_version();
    let mut w = Watch::open(&api, &format!("/api/v1/services?watch=1&resourceVersion={rv}")).await;
    api.outage_start();
    assert!(w.next().await.is_none(), "an outage closes open watches");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(TcpStream::connect(api.addrs()[0]).await.is_err(), "connections are refused while down");
    // Changes made meanwhile are seen by a watch from before the outage.
    api.apply(service("default", "web", &["10.10.100.10"], false)).unwrap();
    api.outage_end();
    let mut ok = false;
    for _ in 0..50 {
        if TcpStream::connect(api.addrs()[0]).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "the server listens again on the same address");
    let mut w = Watch::open(&api, &format!("/api/v1/services?watch=1&resourceVersion={rv}")).await;
    assert_eq!(w.next().await.unwrap()["type"], "ADDED");
}

#[test]
fn control_endpoint() {
    let api = FakeApi::start_local(quick()).unwrap();
    let addr = api.serve_control(None, "127.0.0.1:0".parse().unwrap()).unwrap();
    let c = control::Client::new(&addr.to_string());
    c.apply(&serde_json::json!([
        service("default", "web", &["10.10.100.10"], true),
        node("n1", &["10.0.0.1"], true, &[])
    ]))
    .unwrap();
    assert_eq!(c.get(Kind::Service, "default", "web").unwrap()["metadata"]["name"], "web");
    c.delete(Kind::Service, "default", "web", true).unwrap();
    assert!(c.get(Kind::Service, "default", "web").unwrap()["metadata"]["deletionTimestamp"].is_string());
    c.delete(Kind::Service, "default", "web", false).unwrap();
    assert!(c.get(Kind::Service, "default", "web").unwrap_err().starts_with("404"));
    let s = c.call("POST", "/outage", None).unwrap();
    assert_eq!(s["down"], true);
    assert!(api.is_down());
    assert_eq!(c.call("POST", "/outage/end", None).unwrap()["down"], false);
    assert_eq!(c.call("GET", "/objects", None).unwrap()["items"].as_array().unwrap().len(), 1);
    assert!(c.call("POST", "/nonsense", None).is_err());
}
