//! The fake Kubernetes API server (interop/src/kubeapi) as a process, for interop/lab
//! and by hand, and a client of its control endpoint.
//!
//! ```text
//! fake-apiserver serve [--listen [NETNS@]ADDR]... [--control ADDR] [--kubeconfig PATH]
//!                      [--history N] [--bookmark-interval SECONDS] [--load FILE.json]
//! fake-apiserver ctl --control ADDR COMMAND [ARGS...]
//! ```
//!
//! `serve` listens on every `--listen` address (default 127.0.0.1:6443; `NETNS@` binds
//! inside the network namespace /run/netns/NETNS), writes a kubeconfig pointing at the
//! first, serves the control endpoint on `--control` (default 127.0.0.1:6444) and runs
//! until killed. `--load` applies a JSON array of objects at start.
//!
//! `ctl` commands (each prints the control endpoint's JSON answer):
//!
//! ```text
//! state | objects | requests | expire | bookmark | outage-end
//! outage [SECONDS]                       close the API for SECONDS (default: until outage-end)
//! apply FILE|-                           an object or a JSON array of objects
//! get KIND NS/NAME                       (a Node: get node NAME)
//! service NS/NAME [--ip IP]... [--local] [--label K=V]...
//!                                        a LoadBalancer Service (no --ip: pending; an --ip
//!                                        that is no address becomes an ingress hostname)
//! endpoints NS/SERVICE [NODE=ADDR]... [--not-ready NODE=ADDR]... [--terminating NODE=ADDR]...
//!                                        the Service's EndpointSlice NS/SERVICE-fake, replaced
//! node NAME --ip IP... [--not-ready] [--pod-cidr CIDR]... [--label K=V]... [--unschedulable]
//! node-ready NAME true|false             flips the Ready condition of an existing Node
//! delete KIND NS/NAME | terminate KIND NS/NAME   (terminate: sets deletionTimestamp only)
//! ```

use std::io::Read;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use interop::kubeapi::control::Client;
use interop::kubeapi::objects::{
    endpoint_slice, node, service, set_label, set_node_ready, set_node_unschedulable, Endpoint,
};
use interop::kubeapi::{Config, FakeApi, Kind};
use serde_json::Value;

fn usage() -> ExitCode {
    eprintln!(
        "usage: fake-apiserver serve [--listen [NETNS@]ADDR]... [--control ADDR] [--kubeconfig PATH] \
         [--history N] [--bookmark-interval SECONDS] [--load FILE]\n       \
         fake-apiserver ctl --control ADDR COMMAND [ARGS...]   (see the source's header for the commands)"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("ctl") => ctl(&args[1..]),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-apiserver: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The value after a flag.
fn value<'a>(args: &'a [String], i: &mut usize, flag: &str) -> Result<&'a str, String> {
    *i += 1;
    args.get(*i).map(String::as_str).ok_or_else(|| format!("{flag} needs a value"))
}

fn serve(args: &[String]) -> Result<(), String> {
    let mut listen: Vec<(Option<String>, SocketAddr)> = Vec::new();
    let mut control: SocketAddr = "127.0.0.1:6444".parse().expect("an address");
    let mut kubeconfig = None;
    let mut load = None;
    let mut config = Config::default();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--listen" => {
                let v = value(args, &mut i, "--listen")?;
                let (ns, addr) = match v.split_once('@') {
                    Some((ns, a)) => (Some(ns.to_string()), a),
                    None => (None, v),
                };
                listen.push((ns, addr.parse().map_err(|e| format!("--listen {v}: {e}"))?));
            }
            "--control" => {
                control = value(args, &mut i, "--control")?.parse().map_err(|e| format!("--control: {e}"))?
            }
            "--kubeconfig" => kubeconfig = Some(value(args, &mut i, "--kubeconfig")?.to_string()),
            "--load" => load = Some(value(args, &mut i, "--load")?.to_string()),
            "--history" => {
                config.history = value(args, &mut i, "--history")?.parse().map_err(|e| format!("--history: {e}"))?
            }
            "--bookmark-interval" => {
                let s: f64 = value(args, &mut i, "--bookmark-interval")?.parse().map_err(|e| format!("{e}"))?;
                config.bookmark_interval = Duration::from_secs_f64(s);
            }
            other => return Err(format!("serve: unknown argument {other}")),
        }
        i += 1;
    }
    if listen.is_empty() {
        listen.push((None, "127.0.0.1:6443".parse().expect("an address")));
    }
    let on: Vec<(Option<&str>, SocketAddr)> = listen.iter().map(|(ns, a)| (ns.as_deref(), *a)).collect();
    let api = FakeApi::start(config, &on).map_err(|e| format!("cannot listen: {e}"))?;
    if let Some(path) = &load {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        for o in v.as_array().cloned().unwrap_or_else(|| vec![v]) {
            api.apply(o)?;
        }
    }
    let control = api.serve_control(None, control).map_err(|e| format!("control endpoint: {e}"))?;
    if let Some(path) = &kubeconfig {
        api.write_kubeconfig(0, path.as_ref()).map_err(|e| format!("{path}: {e}"))?;
    }
    for (n, (ns, _)) in listen.iter().enumerate() {
        let place = ns.as_deref().map(|n| format!(" in namespace {n}")).unwrap_or_default();
        println!("fake-apiserver: serving {}{place}", api.url(n));
    }
    println!("fake-apiserver: control endpoint http://{control}");
    if let Some(path) = &kubeconfig {
        println!("fake-apiserver: kubeconfig {path}");
    }
    loop {
        std::thread::park();
    }
}

fn ctl(args: &[String]) -> Result<(), String> {
    let (addr, rest) = match args {
        [flag, addr, rest @ ..] if flag == "--control" => (addr.as_str(), rest),
        _ => ("127.0.0.1:6444", args),
    };
    let c = Client::new(addr);
    let Some((cmd, rest)) = rest.split_first() else { return Err("ctl: no command".into()) };
    let answer = match cmd.as_str() {
        "state" => c.call("GET", "/state", None)?,
        "objects" => c.call("GET", "/objects", None)?,
        "requests" => c.call("GET", "/requests", None)?,
        "expire" => c.call("POST", "/expire", None)?,
        "bookmark" => c.call("POST", "/bookmark", None)?,
        "outage-end" => c.call("POST", "/outage/end", None)?,
        "outage" => match rest.first() {
            Some(s) => c.call("POST", &format!("/outage?seconds={s}"), None)?,
            None => c.call("POST", "/outage", None)?,
        },
        "apply" => {
            let path = rest.first().ok_or("apply FILE|-")?;
            let mut text = String::new();
            if path == "-" {
                std::io::stdin().read_to_string(&mut text).map_err(|e| e.to_string())?;
            } else {
                text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            }
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
            c.apply(&v)?
        }
        "get" | "delete" | "terminate" => {
            let [kind, key] = rest else { return Err(format!("{cmd} KIND NS/NAME")) };
            let kind = Kind::parse(kind).ok_or_else(|| format!("unknown kind {kind}"))?;
            let (ns, name) = split_key(key, kind);
            match cmd.as_str() {
                "get" => c.get(kind, &ns, &name)?,
                "delete" => c.delete(kind, &ns, &name, false)?,
                _ => c.delete(kind, &ns, &name, true)?,
            }
        }
        "service" => {
            let (key, flags) = rest.split_first().ok_or("service NS/NAME ...")?;
            let (ns, name) = split_key(key, Kind::Service);
            let (mut ips, mut local, mut labels) = (Vec::new(), false, Vec::new());
            let mut i = 0;
            while i < flags.len() {
                match flags[i].as_str() {
                    "--ip" => ips.push(value(flags, &mut i, "--ip")?.to_string()),
                    "--local" => local = true,
                    "--label" => labels.push(value(flags, &mut i, "--label")?.to_string()),
                    f => return Err(format!("service: unknown argument {f}")),
                }
                i += 1;
            }
            let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
            let mut s = service(&ns, &name, &ips, local);
            for l in &labels {
                let (k, v) = l.split_once('=').ok_or_else(|| format!("--label {l}: K=V"))?;
                set_label(&mut s, k, Some(v));
            }
            c.apply(&s)?
        }
        "endpoints" => {
            let (key, flags) = rest.split_first().ok_or("endpoints NS/SERVICE ...")?;
            let (ns, svc) = split_key(key, Kind::Service);
            let mut eps = Vec::new();
            let mut i = 0;
            while i < flags.len() {
                let (which, spec) = match flags[i].as_str() {
                    "--not-ready" | "--terminating" => (flags[i].clone(), value(flags, &mut i, "--not-ready")?),
                    s => (String::new(), s),
                };
                let (node, addr) = spec.split_once('=').ok_or_else(|| format!("{spec}: NODE=ADDR"))?;
                let mut e = Endpoint::ready(addr, node);
                if which == "--not-ready" {
                    e.ready = Some(false);
                    e.serving = Some(false);
                } else if which == "--terminating" {
                    e.ready = Some(false);
                    e.terminating = Some(true);
                }
                eps.push(e);
                i += 1;
            }
            c.apply(&endpoint_slice(&ns, &svc, "fake", &eps))?
        }
        "node" => {
            let (name, flags) = rest.split_first().ok_or("node NAME ...")?;
            let (mut ips, mut cidrs, mut labels, mut ready, mut unsched) =
                (Vec::new(), Vec::new(), Vec::new(), true, false);
            let mut i = 0;
            while i < flags.len() {
                match flags[i].as_str() {
                    "--ip" => ips.push(value(flags, &mut i, "--ip")?.to_string()),
                    "--pod-cidr" => cidrs.push(value(flags, &mut i, "--pod-cidr")?.to_string()),
                    "--label" => labels.push(value(flags, &mut i, "--label")?.to_string()),
                    "--not-ready" => ready = false,
                    "--unschedulable" => unsched = true,
                    f => return Err(format!("node: unknown argument {f}")),
                }
                i += 1;
            }
            let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
            let cidrs: Vec<&str> = cidrs.iter().map(String::as_str).collect();
            let mut n = node(name, &ips, ready, &cidrs);
            for l in &labels {
                let (k, v) = l.split_once('=').ok_or_else(|| format!("--label {l}: K=V"))?;
                set_label(&mut n, k, Some(v));
            }
            set_node_unschedulable(&mut n, unsched);
            c.apply(&n)?
        }
        "node-ready" => {
            let [name, ready] = rest else { return Err("node-ready NAME true|false".into()) };
            let mut n = c.get(Kind::Node, "", name)?;
            set_node_ready(&mut n, ready == "true");
            c.apply(&n)?
        }
        other => return Err(format!("ctl: unknown command {other}")),
    };
    println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
    Ok(())
}

/// `NS/NAME` (a Node: `NAME`; a namespaced object without a namespace: `default`).
fn split_key(key: &str, kind: Kind) -> (String, String) {
    match key.split_once('/') {
        Some((ns, name)) if kind.namespaced() => (ns.to_string(), name.to_string()),
        _ if kind.namespaced() => ("default".to_string(), key.to_string()),
        _ => (String::new(), key.rsplit('/').next().unwrap_or(key).to_string()),
    }
}
