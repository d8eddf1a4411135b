//! The Kubernetes objects the speaker announces routes for, as the planner sees them:
//! the few fields of Services, EndpointSlices and Nodes that decide a route, and no
//! more. Types only, no client: `bgp-daemon` watches the API server (kube-rs) and
//! turns what its watchers see into [`KubeUpdate`]s for the routing engine, whose
//! planner turns the objects into the routes of its Kubernetes source, as
//! `rib::kernel` does with [`crate::kernel::KernelUpdate`]s.
//!
//! Field meanings follow the API (core/v1 Service and Node, discovery.k8s.io/v1
//! EndpointSlice); each field names its source.

use std::net::IpAddr;

use crate::prefix::Prefix;

pub mod plan;
pub mod selector;

pub use plan::{KubernetesSettings, Owner, Planner, Provenance, Route, RouteChange};

/// `namespace/name` of a namespaced object, or the name of a Node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Empty for cluster-scoped objects (Nodes).
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> ObjectKey {
        ObjectKey { namespace: namespace.into(), name: name.into() }
    }

    pub fn cluster(name: impl Into<String>) -> ObjectKey {
        ObjectKey { namespace: String::new(), name: name.into() }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// `spec.externalTrafficPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrafficPolicy {
    /// `Cluster` (the API's default): every node forwards to the Service.
    #[default]
    Cluster,
    /// `Local`: only nodes with a ready endpoint serve it.
    Local,
}

/// A Service of type LoadBalancer (the client drops other types, and those the
/// `service_selector` excludes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub key: ObjectKey,
    /// `status.loadBalancer.ingress[].ip`, in the API's order; hostnames are ignored.
    pub ingress: Vec<IpAddr>,
    /// `spec.externalTrafficPolicy`.
    pub traffic_policy: TrafficPolicy,
    /// `metadata.deletionTimestamp` is set: withdrawn at once.
    pub deleting: bool,
}

/// One endpoint of an EndpointSlice (`endpoints[]`). Conditions absent in the API are
/// `None` here, and count as true (the API's definition).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// `nodeName`.
    pub node_name: Option<String>,
    /// `conditions.ready`.
    pub ready: Option<bool>,
    /// `conditions.serving`.
    pub serving: Option<bool>,
    /// `conditions.terminating`.
    pub terminating: Option<bool>,
}

/// An EndpointSlice of a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSlice {
    pub key: ObjectKey,
    /// The `kubernetes.io/service-name` label: the Service (in the slice's namespace).
    /// Slices without it belong to no Service and are dropped by the client.
    pub service: String,
    pub endpoints: Vec<Endpoint>,
}

/// A Node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub key: ObjectKey,
    /// The `Ready` condition of `status.conditions` is `True` (absent or Unknown: not).
    pub ready: bool,
    /// `spec.unschedulable` (cordoned, e.g. while it drains).
    pub unschedulable: bool,
    /// It carries the `node.kubernetes.io/exclude-from-external-load-balancers` label.
    pub exclude_from_load_balancers: bool,
    /// `status.addresses[]` of type `InternalIP`, in the API's order.
    pub internal_ips: Vec<IpAddr>,
    /// `spec.podCIDRs` (or `spec.podCIDR` when the list is empty).
    pub pod_cidrs: Vec<Prefix>,
}

/// The kinds of objects watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Service,
    EndpointSlice,
    Node,
}

/// What the client's watchers saw, in order. A (re)list of a kind (at start, after a
/// `410 Gone` or a lost watch) is bracketed by [`KubeUpdate::SyncBegin`] and
/// [`KubeUpdate::SyncEnd`]: the objects between them replace that kind's whole set at
/// the end, so nothing that did not change is withdrawn or changed meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KubeUpdate {
    SyncBegin(Kind),
    SyncEnd(Kind),
    /// Added or modified.
    Service(Service),
    ServiceDeleted(ObjectKey),
    EndpointSlice(EndpointSlice),
    EndpointSliceDeleted(ObjectKey),
    Node(Node),
    NodeDeleted(ObjectKey),
}
