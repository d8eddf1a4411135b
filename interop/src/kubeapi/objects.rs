//! Kubernetes API objects as the API server returns them (core/v1 Service and Node,
//! discovery.k8s.io/v1 EndpointSlice), field for field, for the tests and the lab to
//! feed the fake API server. The server fills in `uid`, `resourceVersion` and
//! `creationTimestamp` when an object is applied.

use serde_json::{json, Value};

/// The `kind`, `apiVersion` and URL plural of the kinds served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Service,
    Node,
    EndpointSlice,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Service, Kind::Node, Kind::EndpointSlice];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Service => "Service",
            Kind::Node => "Node",
            Kind::EndpointSlice => "EndpointSlice",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Service => "services",
            Kind::Node => "nodes",
            Kind::EndpointSlice => "endpointslices",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Service | Kind::Node => "v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
        }
    }

    pub fn namespaced(self) -> bool {
        self != Kind::Node
    }

    /// From a `kind` field or a plural ("Service", "services", "svc", ...).
    pub fn parse(s: &str) -> Option<Kind> {
        match s.to_ascii_lowercase().as_str() {
            "service" | "services" | "svc" => Some(Kind::Service),
            "node" | "nodes" | "no" => Some(Kind::Node),
            "endpointslice" | "endpointslices" | "eps" => Some(Kind::EndpointSlice),
            _ => None,
        }
    }
}

/// `spec.externalTrafficPolicy` `Local` or `Cluster`.
pub fn traffic_policy(local: bool) -> &'static str {
    if local {
        "Local"
    } else {
        "Cluster"
    }
}

/// A Service of type LoadBalancer with the given ingress IPs in
/// `status.loadBalancer.ingress` (none: still pending, and the server leaves
/// `ingress` out), labelled `app: <name>`. An entry that is not an IP address is an
/// ingress `hostname` (as cloud load balancers write them). A Local Service gets a
/// `healthCheckNodePort`, as the API server allocates one.
pub fn service(namespace: &str, name: &str, ingress: &[&str], local: bool) -> Value {
    let ips: Vec<&str> = ingress.iter().copied().filter(|a| a.parse::<std::net::IpAddr>().is_ok()).collect();
    let v6 = ips.iter().any(|a| a.contains(':'));
    let v4 = ips.is_empty() || ips.iter().any(|a| !a.contains(':'));
    let families: Vec<&str> = [(v4, "IPv4"), (v6, "IPv6")].iter().filter(|(on, _)| *on).map(|(_, f)| *f).collect();
    let cluster_ips: Vec<&str> =
        families.iter().map(|f| if *f == "IPv4" { "10.96.12.34" } else { "fd00:96::1234" }).collect();
    let entries: Vec<Value> = ingress
        .iter()
        .map(|a| {
            if a.parse::<std::net::IpAddr>().is_ok() {
                json!({"ip": a, "ipMode": "VIP"})
            } else {
                json!({"hostname": a})
            }
        })
        .collect();
    let load_balancer = if entries.is_empty() { json!({}) } else { json!({"ingress": entries}) };
    let mut s = json!({
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": name},
        },
        "spec": {
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 31080}],
            "selector": {"app": name},
            "clusterIP": cluster_ips[0],
            "clusterIPs": cluster_ips,
            "type": "LoadBalancer",
            "sessionAffinity": "None",
            "externalTrafficPolicy": traffic_policy(local),
            "ipFamilies": families,
            "ipFamilyPolicy": if families.len() > 1 { "PreferDualStack" } else { "SingleStack" },
            "allocateLoadBalancerNodePorts": true,
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": load_balancer},
    });
    if local {
        s["spec"]["healthCheckNodePort"] = json!(32080);
    }
    s
}

/// One endpoint of an EndpointSlice: a pod address on a node, with its conditions
/// (`None`: the condition is left out, which the API defines as true).
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub address: String,
    pub node: String,
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
}

impl Endpoint {
    /// A ready endpoint (ready and serving true, terminating false, as the
    /// EndpointSlice controller writes them).
    pub fn ready(address: &str, node: &str) -> Endpoint {
        Endpoint {
            address: address.into(),
            node: node.into(),
            ready: Some(true),
            serving: Some(true),
            terminating: Some(false),
        }
    }
}

/// An EndpointSlice `<service>-<suffix>` of a Service, as the EndpointSlice
/// controller writes it (labels `kubernetes.io/service-name` and
/// `endpointslice.kubernetes.io/managed-by`, an owner reference to the Service).
/// `addressType` follows the first endpoint (IPv4 when there is none). With no
/// endpoints, `endpoints` is `null`, as the API server writes an empty slice.
pub fn endpoint_slice(namespace: &str, service: &str, suffix: &str, endpoints: &[Endpoint]) -> Value {
    let v6 = endpoints.first().is_some_and(|e| e.address.contains(':'));
    let eps: Vec<Value> = endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut conditions = serde_json::Map::new();
            for (k, v) in [("ready", e.ready), ("serving", e.serving), ("terminating", e.terminating)] {
                if let Some(v) = v {
                    conditions.insert(k.into(), Value::Bool(v));
                }
            }
            json!({
                "addresses": [e.address],
                "conditions": conditions,
                "targetRef": {"kind": "Pod", "namespace": namespace, "name": format!("{service}-{suffix}-{i}")},
                "nodeName": e.node,
            })
        })
        .collect();
    json!({
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "name": format!("{service}-{suffix}"),
            "namespace": namespace,
            "generateName": format!("{service}-"),
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                "app": service,
            },
            "ownerReferences": [{
                "apiVersion": "v1",
                "kind": "Service",
                "name": service,
                "uid": "00000000-0000-4000-8000-000000000000",
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "addressType": if v6 { "IPv6" } else { "IPv4" },
        "endpoints": if eps.is_empty() { Value::Null } else { Value::from(eps) },
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
    })
}

/// A Node with the given InternalIPs (and its name as Hostname address), `Ready`
/// condition `True` or `False`, and pod CIDRs.
pub fn node(name: &str, internal_ips: &[&str], ready: bool, pod_cidrs: &[&str]) -> Value {
    let mut addresses: Vec<Value> =
        internal_ips.iter().map(|ip| json!({"type": "InternalIP", "address": ip})).collect();
    addresses.push(json!({"type": "Hostname", "address": name}));
    let t = "2026-01-01T00:00:00Z";
    let mut spec = json!({});
    if let Some(first) = pod_cidrs.first() {
        spec = json!({"podCIDR": first, "podCIDRs": pod_cidrs});
    }
    json!({
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "capacity": {"cpu": "4", "memory": "8052756Ki", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "7950356Ki", "pods": "110"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": t, "lastTransitionTime": t,
                 "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
                {"type": "DiskPressure", "status": "False", "lastHeartbeatTime": t, "lastTransitionTime": t,
                 "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure"},
                {"type": "PIDPressure", "status": "False", "lastHeartbeatTime": t, "lastTransitionTime": t,
                 "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available"},
                ready_condition(ready),
            ],
            "addresses": addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "0123456789abcdef0123456789abcdef",
                "systemUUID": "01234567-89ab-cdef-0123-456789abcdef",
                "bootID": "01234567-89ab-cdef-0123-456789abcdef",
                "kernelVersion": "6.1.0-fake",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.0",
                "kubeletVersion": "v1.33.0",
                "kubeProxyVersion": "v1.33.0",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    })
}

fn ready_condition(ready: bool) -> Value {
    let t = "2026-01-01T00:00:00Z";
    if ready {
        json!({"type": "Ready", "status": "True", "lastHeartbeatTime": t, "lastTransitionTime": t,
               "reason": "KubeletReady", "message": "kubelet is posting ready status"})
    } else {
        json!({"type": "Ready", "status": "False", "lastHeartbeatTime": t, "lastTransitionTime": t,
               "reason": "KubeletNotReady", "message": "container runtime network not ready"})
    }
}

/// Sets a Node's `Ready` condition.
pub fn set_node_ready(node: &mut Value, ready: bool) {
    if let Some(conds) = node["status"]["conditions"].as_array_mut() {
        conds.retain(|c| c["type"] != "Ready");
        conds.push(ready_condition(ready));
    }
}

/// Cordons (`spec.unschedulable` and the `node.kubernetes.io/unschedulable` taint, as
/// `kubectl cordon` and the node controller write them) or uncordons a Node.
pub fn set_node_unschedulable(node: &mut Value, unschedulable: bool) {
    if !node["spec"].is_object() {
        node["spec"] = json!({});
    }
    let spec = node["spec"].as_object_mut().expect("an object");
    spec.remove("unschedulable");
    let mut taints: Vec<Value> = spec.remove("taints").and_then(|t| t.as_array().cloned()).unwrap_or_default();
    taints.retain(|t| t["key"] != "node.kubernetes.io/unschedulable");
    if unschedulable {
        spec.insert("unschedulable".into(), Value::Bool(true));
        taints.push(json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                           "timeAdded": "2026-01-01T00:00:00Z"}));
    }
    if !taints.is_empty() {
        spec.insert("taints".into(), Value::from(taints));
    }
}

/// Sets (or, with `None`, removes) a label.
pub fn set_label(object: &mut Value, key: &str, value: Option<&str>) {
    let meta = &mut object["metadata"];
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    let labels = meta["labels"].as_object_mut().expect("an object");
    match value {
        Some(v) => {
            labels.insert(key.into(), Value::String(v.into()));
        }
        None => {
            labels.remove(key);
        }
    }
}

/// `kind`, namespace and name of an object.
pub fn identity(object: &Value) -> Result<(Kind, String, String), String> {
    let kind = object["kind"].as_str().and_then(Kind::parse).ok_or_else(|| format!("unknown kind in {object}"))?;
    let name = object["metadata"]["name"].as_str().filter(|n| !n.is_empty()).ok_or("metadata.name is missing")?;
    let ns = if kind.namespaced() { object["metadata"]["namespace"].as_str().unwrap_or("default") } else { "" };
    Ok((kind, ns.to_string(), name.to_string()))
}

/// A UTC time as RFC 3339 (`2026-12-05T15:20:00Z`), as the API writes timestamps.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_796_484_000)), "2026-12-05T15:20:00Z");
    }

    #[test]
    fn builders_have_identity() {
        let s = service("default", "web", &["10.10.100.10", "fd10::10"], true);
        assert_eq!(identity(&s).unwrap(), (Kind::Service, "default".into(), "web".into()));
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        let e = endpoint_slice("default", "web", "abc", &[Endpoint::ready("10.42.1.5", "node1")]);
        assert_eq!(e["metadata"]["labels"]["kubernetes.io/service-name"], "web");
        let mut n = node("node1", &["10.0.0.1"], true, &["10.42.1.0/24"]);
        assert_eq!(identity(&n).unwrap(), (Kind::Node, String::new(), "node1".into()));
        set_node_ready(&mut n, false);
        let ready: Vec<_> =
            n["status"]["conditions"].as_array().unwrap().iter().filter(|c| c["type"] == "Ready").collect();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0]["status"], "False");
    }

    #[test]
    fn omitted_fields_as_the_api_server_omits_them() {
        let pending = service("default", "web", &[], false);
        assert_eq!(pending["status"], json!({"loadBalancer": {}}));
        assert!(pending["spec"].get("healthCheckNodePort").is_none());
        let s = service("default", "web", &["10.0.0.1", "lb.example.net"], true);
        assert_eq!(s["status"]["loadBalancer"]["ingress"][1], json!({"hostname": "lb.example.net"}));
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(s["spec"]["healthCheckNodePort"], 32080);
        assert!(endpoint_slice("default", "web", "x", &[])["endpoints"].is_null());
        let mut n = node("node1", &["10.0.0.1"], true, &[]);
        set_node_unschedulable(&mut n, true);
        assert_eq!(n["spec"]["unschedulable"], true);
        assert_eq!(n["spec"]["taints"][0]["key"], "node.kubernetes.io/unschedulable");
        set_node_unschedulable(&mut n, false);
        assert_eq!(n["spec"], json!({}));
    }
}
