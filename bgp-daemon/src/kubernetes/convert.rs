//! API objects (k8s-openapi) to the planner's objects (`bgp_core::kubernetes`), field
//! for field: only what decides a route is kept.

use std::net::IpAddr;

use bgp_core::kubernetes::{Endpoint, EndpointSlice, Node, ObjectKey, Service, TrafficPolicy};
use bgp_core::prefix::Prefix;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The label naming an EndpointSlice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Nodes with this label (any value) serve no LoadBalancer addresses.
pub const EXCLUDE_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// The key of an object: `namespace/name`, or the name alone for cluster-scoped ones.
pub fn key(meta: &ObjectMeta) -> ObjectKey {
    ObjectKey { namespace: meta.namespace.clone().unwrap_or_default(), name: meta.name.clone().unwrap_or_default() }
}

/// A Service of type LoadBalancer; `None` for every other type (ClusterIP, NodePort,
/// ExternalName, or none given: ClusterIP is the API's default).
pub fn service(s: &core::Service) -> Option<Service> {
    let spec = s.spec.as_ref()?;
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return None;
    }
    let traffic_policy = match spec.external_traffic_policy.as_deref() {
        Some("Local") => TrafficPolicy::Local,
        // "Cluster", absent (the API's default), or a value this version does not know.
        _ => TrafficPolicy::Cluster,
    };
    let ingress = s
        .status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        // Hostnames are ignored; an unparsable ip is skipped.
        .filter_map(|i| i.ip.as_deref()?.trim().parse::<IpAddr>().ok())
        .collect();
    Some(Service { key: key(&s.metadata), ingress, traffic_policy, deleting: s.metadata.deletion_timestamp.is_some() })
}

/// An EndpointSlice of a Service; `None` without the `kubernetes.io/service-name`
/// label (a slice that belongs to no Service).
pub fn endpoint_slice(e: &discovery::EndpointSlice) -> Option<EndpointSlice> {
    let service = e.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    if service.is_empty() {
        return None;
    }
    let endpoints = e
        .endpoints
        .iter()
        .map(|ep| {
            let c = ep.conditions.as_ref();
            Endpoint {
                node_name: ep.node_name.clone(),
                ready: c.and_then(|c| c.ready),
                serving: c.and_then(|c| c.serving),
                terminating: c.and_then(|c| c.terminating),
            }
        })
        .collect();
    Some(EndpointSlice { key: key(&e.metadata), service: service.clone(), endpoints })
}

/// A Node.
pub fn node(n: &core::Node) -> Node {
    let spec = n.spec.as_ref();
    let status = n.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True");
    let internal_ips = status
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .filter(|a| a.type_ == "InternalIP")
        .filter_map(|a| a.address.trim().parse::<IpAddr>().ok())
        .collect();
    let mut cidrs: Vec<&str> =
        spec.and_then(|s| s.pod_cidrs.as_ref()).into_iter().flatten().map(String::as_str).collect();
    if cidrs.is_empty() {
        cidrs.extend(spec.and_then(|s| s.pod_cidr.as_deref()));
    }
    let pod_cidrs = cidrs.into_iter().filter_map(pod_cidr).collect();
    Node {
        key: key(&n.metadata),
        ready,
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        exclude_from_load_balancers: n.metadata.labels.as_ref().is_some_and(|l| l.contains_key(EXCLUDE_LABEL)),
        internal_ips,
        pod_cidrs,
    }
}

/// A pod CIDR as a prefix (host bits, not expected from the API, are cleared).
fn pod_cidr(text: &str) -> Option<Prefix> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, NodeAddress, NodeCondition, NodeSpec, NodeStatus, ServiceSpec,
        ServiceStatus,
    };
    use k8s_openapi::api::discovery::v1::EndpointConditions;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn meta(namespace: Option<&str>, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            namespace: namespace.map(str::to_string),
            name: Some(name.into()),
            labels: (!labels.is_empty())
                .then(|| labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()),
            ..ObjectMeta::default()
        }
    }

    fn lb_service(
        type_: Option<&str>,
        policy: Option<&str>,
        ingress: &[(Option<&str>, Option<&str>)],
    ) -> core::Service {
        core::Service {
            metadata: meta(Some("web"), "front", &[]),
            spec: Some(ServiceSpec {
                type_: type_.map(str::to_string),
                external_traffic_policy: policy.map(str::to_string),
                ..ServiceSpec::default()
            }),
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: Some(
                        ingress
                            .iter()
                            .map(|(ip, hostname)| LoadBalancerIngress {
                                ip: ip.map(str::to_string),
                                hostname: hostname.map(str::to_string),
                                ..LoadBalancerIngress::default()
                            })
                            .collect(),
                    ),
                }),
                ..ServiceStatus::default()
            }),
        }
    }

    #[test]
    fn load_balancer_services_keep_their_ingress_ips_and_policy() {
        let s = lb_service(
            Some("LoadBalancer"),
            Some("Local"),
            &[(Some("192.0.2.10"), None), (None, Some("lb.example.")), (Some("2001:db8::10"), None), (Some("x"), None)],
        );
        let got = service(&s).unwrap();
        assert_eq!(
            got,
            Service {
                key: ObjectKey::namespaced("web", "front"),
                ingress: vec!["192.0.2.10".parse().unwrap(), "2001:db8::10".parse().unwrap()],
                traffic_policy: TrafficPolicy::Local,
                deleting: false,
            }
        );
        // Cluster, and the API's default when absent.
        for policy in [Some("Cluster"), None] {
            let s = lb_service(Some("LoadBalancer"), policy, &[]);
            assert_eq!(service(&s).unwrap().traffic_policy, TrafficPolicy::Cluster, "{policy:?}");
            assert!(service(&s).unwrap().ingress.is_empty());
        }
        // Not yet given an address: no status at all.
        let mut s = lb_service(Some("LoadBalancer"), None, &[]);
        s.status = None;
        assert!(service(&s).unwrap().ingress.is_empty());
    }

    #[test]
    fn other_service_types_are_not_load_balancers() {
        for t in [None, Some("ClusterIP"), Some("NodePort"), Some("ExternalName"), Some("loadbalancer")] {
            assert_eq!(service(&lb_service(t, None, &[(Some("192.0.2.1"), None)])), None, "{t:?}");
        }
        let mut s = lb_service(Some("LoadBalancer"), None, &[]);
        s.spec = None;
        assert_eq!(service(&s), None);
    }

    #[test]
    fn a_deletion_timestamp_marks_the_service_deleting() {
        let mut s = lb_service(Some("LoadBalancer"), None, &[(Some("192.0.2.1"), None)]);
        s.metadata.deletion_timestamp = Some(Time(Default::default()));
        assert!(service(&s).unwrap().deleting);
    }

    fn endpoint(
        node: Option<&str>,
        conditions: Option<(Option<bool>, Option<bool>, Option<bool>)>,
    ) -> discovery::Endpoint {
        discovery::Endpoint {
            addresses: vec!["10.244.1.5".into()],
            node_name: node.map(str::to_string),
            conditions: conditions.map(|(ready, serving, terminating)| EndpointConditions {
                ready,
                serving,
                terminating,
            }),
            ..discovery::Endpoint::default()
        }
    }

    #[test]
    fn endpoint_slices_keep_node_names_and_conditions_as_given() {
        let slice = discovery::EndpointSlice {
            metadata: meta(Some("web"), "front-abc12", &[(SERVICE_NAME_LABEL, "front"), ("other", "x")]),
            address_type: "IPv4".into(),
            endpoints: vec![
                endpoint(Some("node1"), Some((Some(true), Some(true), Some(false)))),
                endpoint(Some("node2"), Some((Some(false), Some(true), None))),
                endpoint(Some("node3"), None),
                endpoint(None, Some((None, None, Some(true)))),
            ],
            ports: None,
        };
        let got = endpoint_slice(&slice).unwrap();
        assert_eq!(got.key, ObjectKey::namespaced("web", "front-abc12"));
        assert_eq!(got.service, "front");
        let e = |node: Option<&str>, ready, serving, terminating| Endpoint {
            node_name: node.map(str::to_string),
            ready,
            serving,
            terminating,
        };
        assert_eq!(
            got.endpoints,
            vec![
                e(Some("node1"), Some(true), Some(true), Some(false)),
                e(Some("node2"), Some(false), Some(true), None),
                e(Some("node3"), None, None, None),
                e(None, None, None, Some(true)),
            ]
        );
    }

    #[test]
    fn slices_without_a_service_are_dropped() {
        for labels in [&[][..], &[("app", "x")][..], &[(SERVICE_NAME_LABEL, "")][..]] {
            let slice = discovery::EndpointSlice {
                metadata: meta(Some("web"), "orphan", labels),
                address_type: "IPv4".into(),
                endpoints: vec![endpoint(Some("node1"), None)],
                ports: None,
            };
            assert_eq!(endpoint_slice(&slice), None, "{labels:?}");
        }
    }

    fn api_node(
        labels: &[(&str, &str)],
        ready: Option<&str>,
        unschedulable: Option<bool>,
        pod_cidrs: Option<Vec<&str>>,
        pod_cidr: Option<&str>,
    ) -> core::Node {
        let condition = |type_: &str, status: &str| NodeCondition {
            type_: type_.into(),
            status: status.into(),
            ..NodeCondition::default()
        };
        let mut conditions = vec![condition("MemoryPressure", "False")];
        conditions.extend(ready.map(|s| condition("Ready", s)));
        let address = |type_: &str, address: &str| NodeAddress { type_: type_.into(), address: address.into() };
        core::Node {
            metadata: meta(None, "node1", labels),
            spec: Some(NodeSpec {
                unschedulable,
                pod_cidrs: pod_cidrs.map(|v| v.into_iter().map(str::to_string).collect()),
                pod_cidr: pod_cidr.map(str::to_string),
                ..NodeSpec::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(conditions),
                addresses: Some(vec![
                    address("Hostname", "node1"),
                    address("InternalIP", "192.168.1.11"),
                    address("ExternalIP", "203.0.113.11"),
                    address("InternalIP", "fd00::11"),
                ]),
                ..NodeStatus::default()
            }),
        }
    }

    #[test]
    fn nodes_keep_readiness_exclusion_internal_ips_and_pod_cidrs() {
        let n =
            api_node(&[], Some("True"), None, Some(vec!["10.244.1.0/24", "fd10:244:1::/64"]), Some("10.244.1.0/24"));
        assert_eq!(
            node(&n),
            Node {
                key: ObjectKey::cluster("node1"),
                ready: true,
                unschedulable: false,
                exclude_from_load_balancers: false,
                internal_ips: vec!["192.168.1.11".parse().unwrap(), "fd00::11".parse().unwrap()],
                pod_cidrs: vec!["10.244.1.0/24".parse().unwrap(), "fd10:244:1::/64".parse().unwrap()],
            }
        );
        // Ready only when the condition says "True".
        for status in [Some("False"), Some("Unknown"), None] {
            assert!(!node(&api_node(&[], status, None, None, None)).ready, "{status:?}");
        }
        let n = api_node(&[(EXCLUDE_LABEL, "")], Some("True"), Some(true), None, None);
        let got = node(&n);
        assert!(got.unschedulable && got.exclude_from_load_balancers && got.pod_cidrs.is_empty());
    }

    #[test]
    fn pod_cidr_is_the_fallback_for_an_empty_pod_cidrs() {
        for list in [None, Some(vec![])] {
            let n = api_node(&[], Some("True"), None, list.clone(), Some("10.244.7.0/24"));
            assert_eq!(node(&n).pod_cidrs, vec!["10.244.7.0/24".parse().unwrap()], "{list:?}");
        }
        // Unparsable ones are skipped; host bits are cleared.
        let n = api_node(&[], Some("True"), None, Some(vec!["bogus", "10.244.8.1/24"]), None);
        assert_eq!(node(&n).pod_cidrs, vec!["10.244.8.0/24".parse().unwrap()]);
    }
}
