//! The fake API server's control endpoint, on its own listener (so it answers during
//! an outage), for the `fake-apiserver` binary and `interop/lab`:
//!
//! | request | does |
//! | --- | --- |
//! | `GET /state` | resourceVersion, oldest watchable one, down, open watches, servers |
//! | `GET /objects` | every object |
//! | `GET /object?kind=K&namespace=N&name=X` | one object (404 if none) |
//! | `GET /requests` | the API requests received, as lines |
//! | `POST /apply` | body: an object or a JSON array of objects; creates or replaces |
//! | `POST /delete?kind=K&namespace=N&name=X[&graceful=true]` | DELETED (graceful: sets `deletionTimestamp` only) |
//! | `POST /outage[?seconds=S]` | closes the API listeners and connections (for S seconds) |
//! | `POST /outage/end` | serves again |
//! | `POST /expire` | forgets the watch history; open watches get 410 Gone |
//! | `POST /bookmark` | open watches get a BOOKMARK |
//!
//! Answers are JSON; errors are `{"error": "..."}` with a 4xx code.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

use super::http::{self, Request};
use super::{ControlTarget, Kind};

pub async fn serve(listener: TcpListener, target: ControlTarget) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        tokio::spawn(connection(stream, target.clone()));
    }
}

async fn connection(mut stream: TcpStream, target: ControlTarget) {
    let mut buf = Vec::new();
    while let Ok(Some(req)) = http::read_request(&mut stream, &mut buf).await {
        let (code, body) = match answer(&target, &req) {
            Ok(v) => (200, v),
            Err((code, e)) => (code, json!({"error": e})),
        };
        if http::respond_json(&mut stream, code, &body).await.is_err()
            || req.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return;
        }
    }
}

type Answer = Result<Value, (u16, String)>;

fn bad(e: impl Into<String>) -> (u16, String) {
    (400, e.into())
}

fn identity(req: &Request) -> Result<(Kind, String, String), (u16, String)> {
    let kind =
        req.param("kind").and_then(Kind::parse).ok_or_else(|| bad("kind= must be service, endpointslice or node"))?;
    let name = req.param("name").filter(|n| !n.is_empty()).ok_or_else(|| bad("name= is missing"))?;
    Ok((kind, req.param("namespace").unwrap_or("default").to_string(), name.to_string()))
}

fn answer(t: &ControlTarget, req: &Request) -> Answer {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/state") => Ok(t.state()),
        ("GET", "/objects") => Ok(t.list_all()),
        ("GET", "/requests") => Ok(t.requests()),
        ("GET", "/object") => {
            let (kind, ns, name) = identity(req)?;
            t.get(kind, &ns, &name).ok_or((404, format!("{} {ns}/{name} not found", kind.plural())))
        }
        ("POST", "/apply") => {
            let body: Value = serde_json::from_slice(&req.body).map_err(|e| bad(format!("body is not JSON: {e}")))?;
            let objects = match body {
                Value::Array(a) => a,
                o => vec![o],
            };
            let mut rv = 0;
            for o in objects {
                rv = t.apply(o).map_err(|e| (422, e))?;
            }
            Ok(json!({"resourceVersion": rv.to_string()}))
        }
        ("POST", "/delete") => {
            let (kind, ns, name) = identity(req)?;
            let rv = t.delete(kind, &ns, &name, req.flag("graceful")).map_err(|e| (404, e))?;
            Ok(json!({"resourceVersion": rv.to_string()}))
        }
        ("POST", "/outage") => {
            let secs = match req.param("seconds") {
                Some(s) => Some(s.parse::<f64>().map_err(|_| bad("seconds= must be a number"))?),
                None => None,
            };
            t.outage(secs.map(Duration::from_secs_f64));
            Ok(t.state())
        }
        ("POST", "/outage/end") => {
            t.outage_end();
            Ok(t.state())
        }
        ("POST", "/expire") => {
            t.expire();
            Ok(t.state())
        }
        ("POST", "/bookmark") => {
            t.bookmark();
            Ok(t.state())
        }
        (m, p) => Err((404, format!("no control request {m} {p}"))),
    }
}

/// A client of the control endpoint at `addr` (`host:port`).
pub struct Client {
    pub addr: String,
}

impl Client {
    pub fn new(addr: &str) -> Client {
        Client { addr: addr.trim_start_matches("http://").trim_end_matches('/').to_string() }
    }

    /// One request; the JSON answer, or the error it carries.
    pub fn call(&self, method: &str, target: &str, body: Option<&Value>) -> Result<Value, String> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let (code, out) = http::blocking_request(&self.addr, method, target, bytes.as_deref(), Duration::from_secs(10))
            .map_err(|e| format!("control endpoint {}: {e}", self.addr))?;
        let v: Value = serde_json::from_slice(&out).map_err(|e| format!("control answer is not JSON ({e})"))?;
        if code == 200 {
            Ok(v)
        } else {
            Err(format!("{code}: {}", v["error"].as_str().unwrap_or(&v.to_string())))
        }
    }

    pub fn apply(&self, objects: &Value) -> Result<Value, String> {
        self.call("POST", "/apply", Some(objects))
    }

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Result<Value, String> {
        self.call("GET", &format!("/object?{}", query(kind, namespace, name)), None)
    }

    pub fn delete(&self, kind: Kind, namespace: &str, name: &str, graceful: bool) -> Result<Value, String> {
        let g = if graceful { "&graceful=true" } else { "" };
        self.call("POST", &format!("/delete?{}{g}", query(kind, namespace, name)), None)
    }
}

fn query(kind: Kind, namespace: &str, name: &str) -> String {
    format!("kind={}&namespace={}&name={}", kind.plural(), http::encode(namespace), http::encode(name))
}
