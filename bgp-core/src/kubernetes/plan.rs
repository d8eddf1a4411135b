//! The planner: what this speaker announces, from the Services, EndpointSlices and
//! Nodes the client watches. Pure and incremental: [`Planner::update`] takes the
//! client's [`KubeUpdate`]s and returns the [`RouteChange`]s, recomputing only the
//! routes the updates can affect; [`plan`] computes the whole set from scratch (the
//! reference the property tests hold the planner to).
//!
//! The rules (issue 10, `configs/KEYS.md`):
//! - every `status.loadBalancer.ingress[].ip` of a Service becomes a /32 or /128
//!   (with `load_balancers`), unless the Service is being deleted;
//! - `externalTrafficPolicy: Cluster`: served by every Ready node that is neither
//!   labelled `node.kubernetes.io/exclude-from-external-load-balancers` nor
//!   unschedulable;
//! - `externalTrafficPolicy: Local`: served by the Ready nodes with a ready endpoint
//!   of the Service in any of its EndpointSlices ([`endpoint_ready`]);
//! - node mode: this node's share only; the route's next hop is ours on each session
//!   ([`Route::next_hops`] empty); the node's own pod CIDRs (with `pod_cidrs`), Ready
//!   or not;
//! - cluster mode: next hops are the serving nodes' InternalIPs of the prefix's
//!   family (the first of that family each node lists; a node without one is
//!   skipped), and every node's pod CIDRs via that node;
//! - a relist of a kind, between [`KubeUpdate::SyncBegin`] and
//!   [`KubeUpdate::SyncEnd`], replaces that kind's objects only at the end, and only
//!   the objects that differ count as changed.
//!
//! Several Services may share an ingress address (and a pod CIDR might overlap
//! one): a prefix's route is the union of what each owner contributes, with every
//! owner in its provenance.
//!
//! Incrementality: Services are indexed by the nodes their endpoints are ready on,
//! EndpointSlices by Service, and `Cluster` Services are kept as a set, so a change
//! to one object recomputes the routes of the owners it can affect and no others: an
//! EndpointSlice its Service's; a Service its own; a Node its pod CIDRs, the Services
//! with ready endpoints on it, and (when whether it serves `Cluster` Services
//! changed) the `Cluster` Services, in cluster mode. In node mode other nodes'
//! changes affect nothing, and this node's readiness every Service.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use super::{Endpoint, EndpointSlice, Kind, KubeUpdate, Node, ObjectKey, Service, TrafficPolicy};
use crate::config::KubernetesMode;
use crate::prefix::Prefix;

/// The `[kubernetes]` keys the planner applies (the engine's input).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesSettings {
    pub mode: KubernetesMode,
    /// This node's name (node mode), as the daemon resolved it; empty in cluster mode.
    pub node_name: String,
    pub load_balancers: bool,
    pub pod_cidrs: bool,
}

impl KubernetesSettings {
    /// From the configuration, with the node name the daemon resolved
    /// (`node_name`, `$NODE_NAME`, the host name); ignored in cluster mode.
    pub fn new(cfg: &crate::config::Kubernetes, node_name: impl Into<String>) -> KubernetesSettings {
        let node_name = match cfg.mode {
            KubernetesMode::Node => node_name.into(),
            KubernetesMode::Cluster => String::new(),
        };
        KubernetesSettings { mode: cfg.mode, node_name, load_balancers: cfg.load_balancers, pod_cidrs: cfg.pod_cidrs }
    }
}

/// Who a route is announced for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// A Service's ingress address.
    Service(ObjectKey),
    /// A Node's pod CIDR.
    Node(ObjectKey),
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Service(k) => write!(f, "service {k}"),
            Owner::Node(k) => write!(f, "node {k}"),
        }
    }
}

/// One owner's share of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    pub owner: Owner,
    /// `Local` Services: the nodes with a ready endpoint of the Service (by name,
    /// ascending), whether they are Ready or not. Empty otherwise.
    pub ready_nodes: Vec<String>,
}

/// A route the speaker announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Node mode: empty, the next hop is ours on each session. Cluster mode: the
    /// serving nodes' addresses (of the prefix's family), ascending, never empty.
    pub next_hops: Vec<IpAddr>,
    /// Who wants the route, by owner, ascending; never empty.
    pub provenance: Vec<Provenance>,
}

/// What changed in the announced set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteChange {
    Added(Prefix, Route),
    /// The next hops or the provenance changed: the new route.
    Changed(Prefix, Route),
    Withdrawn(Prefix),
}

impl RouteChange {
    pub fn prefix(&self) -> Prefix {
        match self {
            RouteChange::Added(p, _) | RouteChange::Changed(p, _) | RouteChange::Withdrawn(p) => *p,
        }
    }
}

/// An endpoint counts as ready: `conditions.ready` true, or `serving` true and
/// `terminating` not true. Absent conditions are what the API says they mean: `ready`
/// and `serving` true, `terminating` false.
pub fn endpoint_ready(e: &Endpoint) -> bool {
    e.ready.unwrap_or(true) || (e.serving.unwrap_or(true) && !e.terminating.unwrap_or(false))
}

/// The prefix of an ingress address: /32 or /128.
fn host_prefix(ip: IpAddr) -> Prefix {
    let ip = ip.to_canonical();
    Prefix::of(ip, if ip.is_ipv4() { 32 } else { 128 }).expect("full length is valid")
}

/// The first of the node's InternalIPs of `prefix`'s family.
fn node_address(node: &Node, prefix: Prefix) -> Option<IpAddr> {
    let v4 = matches!(prefix, Prefix::V4(_));
    node.internal_ips.iter().map(|ip| ip.to_canonical()).find(|ip| ip.is_ipv4() == v4)
}

/// The node serves `Cluster` Services (as far as the node goes: Ready, not excluded,
/// schedulable).
fn serves_cluster(node: &Node) -> bool {
    node.ready && !node.unschedulable && !node.exclude_from_load_balancers
}

/// The whole set from scratch: the reference for [`Planner`].
pub fn plan<'a>(
    settings: &KubernetesSettings,
    services: impl IntoIterator<Item = &'a Service>,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    nodes: impl IntoIterator<Item = &'a Node>,
) -> BTreeMap<Prefix, Route> {
    let nodes: BTreeMap<&str, &Node> = nodes.into_iter().map(|n| (n.key.name.as_str(), n)).collect();
    let slices: Vec<&EndpointSlice> = slices.into_iter().collect();
    let cluster = settings.mode == KubernetesMode::Cluster;
    let ours = |name: &str| cluster || name == settings.node_name;
    // prefix -> owner -> (next hops, ready nodes)
    type Shares = BTreeMap<Owner, (BTreeSet<IpAddr>, Vec<String>)>;
    let mut shares: BTreeMap<Prefix, Shares> = BTreeMap::new();
    if settings.load_balancers {
        for s in services.into_iter().filter(|s| !s.deleting) {
            let ready: BTreeSet<&str> = slices
                .iter()
                .filter(|sl| sl.key.namespace == s.key.namespace && sl.service == s.key.name)
                .flat_map(|sl| sl.endpoints.iter())
                .filter(|e| endpoint_ready(e))
                .filter_map(|e| e.node_name.as_deref())
                .collect();
            let serving: Vec<&Node> = nodes
                .values()
                .filter(|n| ours(&n.key.name))
                .filter(|n| match s.traffic_policy {
                    TrafficPolicy::Cluster => serves_cluster(n),
                    TrafficPolicy::Local => n.ready && ready.contains(n.key.name.as_str()),
                })
                .copied()
                .collect();
            let ready_nodes = match s.traffic_policy {
                TrafficPolicy::Local => ready.iter().map(|n| n.to_string()).collect(),
                TrafficPolicy::Cluster => Vec::new(),
            };
            for &ip in &s.ingress {
                let prefix = host_prefix(ip);
                let hops: BTreeSet<IpAddr> = serving.iter().filter_map(|n| node_address(n, prefix)).collect();
                let announced = if cluster { !hops.is_empty() } else { !serving.is_empty() };
                if announced {
                    let share = shares.entry(prefix).or_default().entry(Owner::Service(s.key.clone())).or_default();
                    share.0.extend(if cluster { hops } else { BTreeSet::new() });
                    share.1.clone_from(&ready_nodes);
                }
            }
        }
    }
    if settings.pod_cidrs {
        for n in nodes.values().filter(|n| ours(&n.key.name)) {
            for &prefix in &n.pod_cidrs {
                let hop = node_address(n, prefix);
                if cluster && hop.is_none() {
                    continue;
                }
                let share = shares.entry(prefix).or_default().entry(Owner::Node(n.key.clone())).or_default();
                share.0.extend(hop.filter(|_| cluster));
            }
        }
    }
    shares
        .into_iter()
        .map(|(prefix, owners)| {
            let next_hops: BTreeSet<IpAddr> = owners.values().flat_map(|(h, _)| h.iter().copied()).collect();
            let provenance = owners.into_iter().map(|(owner, (_, ready_nodes))| Provenance { owner, ready_nodes });
            (prefix, Route { next_hops: next_hops.into_iter().collect(), provenance: provenance.collect() })
        })
        .collect()
}

/// The objects of one kind being relisted, until its [`KubeUpdate::SyncEnd`].
#[derive(Default)]
struct Relist {
    services: Option<HashMap<ObjectKey, Service>>,
    slices: Option<HashMap<ObjectKey, EndpointSlice>>,
    nodes: Option<HashMap<String, Node>>,
}

/// One owner's share of one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Share {
    /// Cluster mode: this owner's next hops, ascending.
    next_hops: Vec<IpAddr>,
    ready_nodes: Vec<String>,
}

/// The incremental planner; see the module documentation.
pub struct Planner {
    settings: KubernetesSettings,
    services: HashMap<ObjectKey, Service>,
    slices: HashMap<ObjectKey, EndpointSlice>,
    /// By name.
    nodes: HashMap<String, Node>,
    /// Service key -> the keys of its EndpointSlices.
    slices_of: HashMap<ObjectKey, Vec<ObjectKey>>,
    /// Service key -> the nodes with a ready endpoint of it, ascending (no empty lists).
    ready_nodes: HashMap<ObjectKey, Vec<String>>,
    /// Node name -> the Services with a ready endpoint on it.
    services_on: HashMap<String, HashSet<ObjectKey>>,
    /// Services with `externalTrafficPolicy: Cluster`.
    cluster_policy: HashSet<ObjectKey>,
    /// Owner -> the prefixes it has a share of.
    owned: HashMap<Owner, Vec<Prefix>>,
    /// Prefix -> the shares, by owner.
    shares: HashMap<Prefix, BTreeMap<Owner, Share>>,
    /// The announced set, as last reported.
    routes: HashMap<Prefix, Route>,
    /// Owners whose shares are to be computed again.
    dirty: HashSet<Owner>,
    relist: Relist,
}

impl Planner {
    pub fn new(settings: KubernetesSettings) -> Planner {
        Planner {
            settings,
            services: HashMap::new(),
            slices: HashMap::new(),
            nodes: HashMap::new(),
            slices_of: HashMap::new(),
            ready_nodes: HashMap::new(),
            services_on: HashMap::new(),
            cluster_policy: HashSet::new(),
            owned: HashMap::new(),
            shares: HashMap::new(),
            routes: HashMap::new(),
            dirty: HashSet::new(),
            relist: Relist::default(),
        }
    }

    pub fn settings(&self) -> &KubernetesSettings {
        &self.settings
    }

    /// New settings (a reload): every route is computed again; returns what changed.
    pub fn set_settings(&mut self, settings: KubernetesSettings) -> Vec<RouteChange> {
        if settings != self.settings {
            self.settings = settings;
            self.dirty.extend(self.services.keys().cloned().map(Owner::Service));
            self.dirty.extend(self.nodes.values().map(|n| Owner::Node(n.key.clone())));
            self.dirty.extend(self.owned.keys().cloned());
        }
        self.take_changes()
    }

    /// Applies the client's updates, in order, and returns what changed in the
    /// announced set (each prefix once, however many updates touched it).
    pub fn update(&mut self, updates: impl IntoIterator<Item = KubeUpdate>) -> Vec<RouteChange> {
        for u in updates {
            self.apply(u);
        }
        self.take_changes()
    }

    /// The announced set.
    pub fn routes(&self) -> impl Iterator<Item = (&Prefix, &Route)> {
        self.routes.iter()
    }

    pub fn route(&self, prefix: &Prefix) -> Option<&Route> {
        self.routes.get(prefix)
    }

    /// How many objects of each kind are known: (Services, EndpointSlices, Nodes).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.services.len(), self.slices.len(), self.nodes.len())
    }

    /// Whether a relist of `kind` is in progress.
    pub fn syncing(&self, kind: Kind) -> bool {
        match kind {
            Kind::Service => self.relist.services.is_some(),
            Kind::EndpointSlice => self.relist.slices.is_some(),
            Kind::Node => self.relist.nodes.is_some(),
        }
    }

    /// Records one update; [`Planner::take_changes`] computes its effect.
    pub fn apply(&mut self, update: KubeUpdate) {
        match update {
            KubeUpdate::SyncBegin(kind) => match kind {
                Kind::Service => self.relist.services = Some(HashMap::new()),
                Kind::EndpointSlice => self.relist.slices = Some(HashMap::new()),
                Kind::Node => self.relist.nodes = Some(HashMap::new()),
            },
            KubeUpdate::SyncEnd(kind) => self.sync_end(kind),
            KubeUpdate::Service(s) => match &mut self.relist.services {
                Some(list) => {
                    list.insert(s.key.clone(), s);
                }
                None => self.put_service(s),
            },
            KubeUpdate::ServiceDeleted(key) => match &mut self.relist.services {
                Some(list) => {
                    list.remove(&key);
                }
                None => self.remove_service(&key),
            },
            KubeUpdate::EndpointSlice(s) => match &mut self.relist.slices {
                Some(list) => {
                    list.insert(s.key.clone(), s);
                }
                None => self.put_slice(s),
            },
            KubeUpdate::EndpointSliceDeleted(key) => match &mut self.relist.slices {
                Some(list) => {
                    list.remove(&key);
                }
                None => self.remove_slice(&key),
            },
            KubeUpdate::Node(n) => match &mut self.relist.nodes {
                Some(list) => {
                    list.insert(n.key.name.clone(), n);
                }
                None => self.put_node(n),
            },
            KubeUpdate::NodeDeleted(key) => match &mut self.relist.nodes {
                Some(list) => {
                    list.remove(&key.name);
                }
                None => self.remove_node(&key.name),
            },
        }
    }

    /// The relist of `kind` is complete: what differs from the known set is applied.
    fn sync_end(&mut self, kind: Kind) {
        match kind {
            Kind::Service => {
                let Some(mut list) = self.relist.services.take() else { return };
                let gone: Vec<ObjectKey> = self.services.keys().filter(|k| !list.contains_key(k)).cloned().collect();
                gone.iter().for_each(|k| self.remove_service(k));
                for (k, s) in list.drain() {
                    if self.services.get(&k) != Some(&s) {
                        self.put_service(s);
                    }
                }
            }
            Kind::EndpointSlice => {
                let Some(mut list) = self.relist.slices.take() else { return };
                let gone: Vec<ObjectKey> = self.slices.keys().filter(|k| !list.contains_key(k)).cloned().collect();
                gone.iter().for_each(|k| self.remove_slice(k));
                for (k, s) in list.drain() {
                    if self.slices.get(&k) != Some(&s) {
                        self.put_slice(s);
                    }
                }
            }
            Kind::Node => {
                let Some(mut list) = self.relist.nodes.take() else { return };
                let gone: Vec<String> = self.nodes.keys().filter(|k| !list.contains_key(*k)).cloned().collect();
                gone.iter().for_each(|k| self.remove_node(k));
                for (k, n) in list.drain() {
                    if self.nodes.get(&k) != Some(&n) {
                        self.put_node(n);
                    }
                }
            }
        }
    }

    fn put_service(&mut self, s: Service) {
        if self.services.get(&s.key) == Some(&s) {
            return;
        }
        match s.traffic_policy {
            TrafficPolicy::Cluster => self.cluster_policy.insert(s.key.clone()),
            TrafficPolicy::Local => self.cluster_policy.remove(&s.key),
        };
        self.dirty.insert(Owner::Service(s.key.clone()));
        self.services.insert(s.key.clone(), s);
    }

    fn remove_service(&mut self, key: &ObjectKey) {
        if self.services.remove(key).is_some() {
            self.cluster_policy.remove(key);
            self.dirty.insert(Owner::Service(key.clone()));
        }
    }

    fn service_of(slice: &EndpointSlice) -> ObjectKey {
        ObjectKey::namespaced(slice.key.namespace.clone(), slice.service.clone())
    }

    fn put_slice(&mut self, s: EndpointSlice) {
        if self.slices.get(&s.key) == Some(&s) {
            return;
        }
        let key = s.key.clone();
        let service = Self::service_of(&s);
        let old = self.slices.insert(key.clone(), s);
        if let Some(old_service) = old.map(|o| Self::service_of(&o)).filter(|o| *o != service) {
            self.unlink_slice(&old_service, &key);
            self.refresh_ready(&old_service);
        }
        self.link_slice(&service, &key);
        self.refresh_ready(&service);
    }

    fn remove_slice(&mut self, key: &ObjectKey) {
        if let Some(old) = self.slices.remove(key) {
            let service = Self::service_of(&old);
            self.unlink_slice(&service, key);
            self.refresh_ready(&service);
        }
    }

    fn link_slice(&mut self, service: &ObjectKey, slice: &ObjectKey) {
        let list = self.slices_of.entry(service.clone()).or_default();
        if !list.contains(slice) {
            list.push(slice.clone());
        }
    }

    fn unlink_slice(&mut self, service: &ObjectKey, slice: &ObjectKey) {
        if let Some(list) = self.slices_of.get_mut(service) {
            list.retain(|k| k != slice);
            if list.is_empty() {
                self.slices_of.remove(service);
            }
        }
    }

    /// Recomputes the nodes with a ready endpoint of `service` from its slices; marks
    /// the Service dirty when they changed.
    fn refresh_ready(&mut self, service: &ObjectKey) {
        let mut ready: Vec<String> = Vec::new();
        for slice in self.slices_of.get(service).into_iter().flatten().filter_map(|k| self.slices.get(k)) {
            for e in slice.endpoints.iter().filter(|e| endpoint_ready(e)) {
                if let Some(n) = &e.node_name {
                    ready.push(n.clone());
                }
            }
        }
        ready.sort_unstable();
        ready.dedup();
        let old = self.ready_nodes.get(service).map_or(&[][..], Vec::as_slice);
        if old == ready.as_slice() {
            return;
        }
        for n in old.iter().filter(|n| ready.binary_search(n).is_err()) {
            if let Some(set) = self.services_on.get_mut(n) {
                set.remove(service);
                if set.is_empty() {
                    self.services_on.remove(n);
                }
            }
        }
        for n in &ready {
            self.services_on.entry(n.clone()).or_default().insert(service.clone());
        }
        if ready.is_empty() {
            self.ready_nodes.remove(service);
        } else {
            self.ready_nodes.insert(service.clone(), ready);
        }
        self.dirty.insert(Owner::Service(service.clone()));
    }

    fn put_node(&mut self, n: Node) {
        let name = n.key.name.clone();
        let old = self.nodes.insert(name.clone(), n);
        self.node_changed(&name, old);
    }

    fn remove_node(&mut self, name: &str) {
        if let Some(old) = self.nodes.remove(name) {
            self.node_changed(name, Some(old));
        }
    }

    /// Marks what a node's change (`old` -> what `nodes` holds now) may affect.
    fn node_changed(&mut self, name: &str, old: Option<Node>) {
        let cluster = self.settings.mode == KubernetesMode::Cluster;
        if !cluster && name != self.settings.node_name {
            return;
        }
        let (old, new) = (old.as_ref(), self.nodes.get(name));
        if old == new {
            return;
        }
        fn pods(n: Option<&Node>) -> Option<(&Vec<Prefix>, &Vec<IpAddr>)> {
            n.map(|n| (&n.pod_cidrs, &n.internal_ips))
        }
        let pods_changed = pods(old) != pods(new);
        let ips_changed = cluster && old.map(|n| &n.internal_ips) != new.map(|n| &n.internal_ips);
        let (ready_old, ready_new) = (old.is_some_and(|n| n.ready), new.is_some_and(|n| n.ready));
        let (eligible_old, eligible_new) = (old.is_some_and(serves_cluster), new.is_some_and(serves_cluster));
        if pods_changed {
            self.dirty.insert(Owner::Node(ObjectKey::cluster(name)));
        }
        if eligible_old != eligible_new || (ips_changed && eligible_new) {
            self.dirty.extend(self.cluster_policy.iter().cloned().map(Owner::Service));
        }
        if ready_old != ready_new || (ips_changed && ready_new) {
            let on = self.services_on.get(name).into_iter().flatten();
            self.dirty.extend(on.filter(|k| !self.cluster_policy.contains(*k)).cloned().map(Owner::Service));
        }
    }

    /// Computes the dirty owners' shares again and returns how the announced set
    /// changed, ordered by prefix.
    pub fn take_changes(&mut self) -> Vec<RouteChange> {
        let mut touched: Vec<Prefix> = Vec::new();
        let dirty: Vec<Owner> = self.dirty.drain().collect();
        for owner in dirty {
            let new = self.compute(&owner);
            let old_prefixes = self.owned.remove(&owner).unwrap_or_default();
            for p in &old_prefixes {
                if !new.iter().any(|(q, _)| q == p) {
                    if let Some(shares) = self.shares.get_mut(p) {
                        shares.remove(&owner);
                        if shares.is_empty() {
                            self.shares.remove(p);
                        }
                    }
                    touched.push(*p);
                }
            }
            let mut prefixes = Vec::with_capacity(new.len());
            for (p, share) in new {
                let shares = self.shares.entry(p).or_default();
                if shares.get(&owner) != Some(&share) {
                    shares.insert(owner.clone(), share);
                    touched.push(p);
                }
                prefixes.push(p);
            }
            if !prefixes.is_empty() {
                self.owned.insert(owner, prefixes);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let mut changes = Vec::new();
        for p in touched {
            let route = self.shares.get(&p).map(merge);
            match (self.routes.get(&p), route) {
                (None, None) => {}
                (Some(_), None) => {
                    self.routes.remove(&p);
                    changes.push(RouteChange::Withdrawn(p));
                }
                (None, Some(r)) => {
                    self.routes.insert(p, r.clone());
                    changes.push(RouteChange::Added(p, r));
                }
                (Some(old), Some(r)) if *old == r => {}
                (Some(_), Some(r)) => {
                    self.routes.insert(p, r.clone());
                    changes.push(RouteChange::Changed(p, r));
                }
            }
        }
        changes
    }

    /// An owner's shares as the objects are now.
    fn compute(&self, owner: &Owner) -> Vec<(Prefix, Share)> {
        let cluster = self.settings.mode == KubernetesMode::Cluster;
        match owner {
            Owner::Service(key) => {
                let Some(s) = self.services.get(key).filter(|s| !s.deleting && self.settings.load_balancers) else {
                    return Vec::new();
                };
                let ready = self.ready_nodes.get(key).map_or(&[][..], Vec::as_slice);
                let serving: Vec<&Node> = match (s.traffic_policy, cluster) {
                    (TrafficPolicy::Cluster, true) => self.nodes.values().filter(|n| serves_cluster(n)).collect(),
                    (TrafficPolicy::Cluster, false) => {
                        self.nodes.get(&self.settings.node_name).filter(|n| serves_cluster(n)).into_iter().collect()
                    }
                    (TrafficPolicy::Local, true) => {
                        ready.iter().filter_map(|n| self.nodes.get(n)).filter(|n| n.ready).collect()
                    }
                    (TrafficPolicy::Local, false) => ready
                        .binary_search(&self.settings.node_name)
                        .ok()
                        .and_then(|_| self.nodes.get(&self.settings.node_name))
                        .filter(|n| n.ready)
                        .into_iter()
                        .collect(),
                };
                if serving.is_empty() {
                    return Vec::new();
                }
                let ready_nodes = match s.traffic_policy {
                    TrafficPolicy::Local => ready.to_vec(),
                    TrafficPolicy::Cluster => Vec::new(),
                };
                let mut out: Vec<(Prefix, Share)> = Vec::with_capacity(s.ingress.len());
                for &ip in &s.ingress {
                    let prefix = host_prefix(ip);
                    if out.iter().any(|(p, _)| *p == prefix) {
                        continue;
                    }
                    let mut next_hops = Vec::new();
                    if cluster {
                        next_hops = serving.iter().filter_map(|n| node_address(n, prefix)).collect();
                        if next_hops.is_empty() {
                            continue;
                        }
                        next_hops.sort_unstable();
                        next_hops.dedup();
                    }
                    out.push((prefix, Share { next_hops, ready_nodes: ready_nodes.clone() }));
                }
                out
            }
            Owner::Node(key) => {
                let Some(n) = self.nodes.get(&key.name).filter(|_| self.settings.pod_cidrs) else {
                    return Vec::new();
                };
                if !cluster && key.name != self.settings.node_name {
                    return Vec::new();
                }
                let mut out: Vec<(Prefix, Share)> = Vec::new();
                for &prefix in &n.pod_cidrs {
                    if out.iter().any(|(p, _)| *p == prefix) {
                        continue;
                    }
                    let next_hops = match (cluster, node_address(n, prefix)) {
                        (false, _) => Vec::new(),
                        (true, Some(a)) => vec![a],
                        (true, None) => continue,
                    };
                    out.push((prefix, Share { next_hops, ready_nodes: Vec::new() }));
                }
                out
            }
        }
    }
}

/// A prefix's route from its owners' shares.
fn merge(shares: &BTreeMap<Owner, Share>) -> Route {
    let mut next_hops: Vec<IpAddr> = Vec::new();
    let mut provenance = Vec::with_capacity(shares.len());
    for (owner, share) in shares {
        next_hops.extend_from_slice(&share.next_hops);
        provenance.push(Provenance { owner: owner.clone(), ready_nodes: share.ready_nodes.clone() });
    }
    if shares.len() > 1 {
        next_hops.sort_unstable();
        next_hops.dedup();
    }
    Route { next_hops, provenance }
}

#[cfg(test)]
mod tests;
