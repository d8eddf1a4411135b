//! The fake API server's state, without I/O: objects, one resourceVersion counter for
//! all kinds (as etcd's revision), and a bounded history of watch events. A watch from
//! a resourceVersion older than the history is answered with `410 Gone` (`Expired`),
//! as the real server does once etcd has compacted it.

use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

use serde_json::{json, Value};

use super::objects::{identity, rfc3339, Kind};
use super::selector::{FieldSelector, LabelSelector};

/// `ADDED`, `MODIFIED` or `DELETED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, kept in the history.
#[derive(Clone, Debug)]
pub struct Change {
    pub rv: u64,
    pub kind: Kind,
    pub namespace: String,
    pub typ: EventType,
    /// The object after the change (for DELETED: as it was, with the deletion's
    /// resourceVersion).
    pub object: Value,
    /// The object before it (None for ADDED), so that a watch with a selector sees an
    /// object that leaves the selection as DELETED and one that enters it as ADDED.
    pub prev: Option<Value>,
}

/// What a watch or a list is restricted to.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn matches(&self, kind: Kind, namespace: &str, object: &Value) -> bool {
        (!kind.namespaced() || self.namespace.as_deref().is_none_or(|n| n == namespace))
            && self.labels.matches(object)
            && self.fields.matches(object)
    }
}

/// One watch event for the wire: type and object.
pub type WatchEvent = (&'static str, Value);

pub struct Store {
    rv: u64,
    objects: BTreeMap<(Kind, String, String), Value>,
    history: VecDeque<Change>,
    /// Changes kept at most.
    pub history_limit: usize,
    /// Watches from a resourceVersion below this get 410 Gone.
    compacted: u64,
    uids: u64,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(10_000)
    }
}

impl Store {
    pub fn new(history_limit: usize) -> Store {
        // Start above 1 like a real cluster, so "0" (any) stands out.
        Store { rv: 1000, objects: BTreeMap::new(), history: VecDeque::new(), history_limit, compacted: 1000, uids: 0 }
    }

    /// The current resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch can start from.
    pub fn oldest(&self) -> u64 {
        self.compacted
    }

    fn record(&mut self, change: Change) {
        self.history.push_back(change);
        while self.history.len() > self.history_limit {
            if let Some(c) = self.history.pop_front() {
                self.compacted = c.rv;
            }
        }
    }

    /// Forgets the history: every watch from an earlier resourceVersion gets 410.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// Creates or replaces an object (ADDED or MODIFIED); fills in `uid`,
    /// `resourceVersion` and `creationTimestamp`, keeping the first two of an existing
    /// object. Returns the new resourceVersion.
    pub fn apply(&mut self, mut object: Value) -> Result<u64, String> {
        let (kind, ns, name) = identity(&object)?;
        let key = (kind, ns.clone(), name);
        self.rv += 1;
        let prev = self.objects.get(&key).cloned();
        object["kind"] = json!(kind.name());
        object["apiVersion"] = json!(kind.api_version());
        let meta = &mut object["metadata"];
        if kind.namespaced() {
            meta["namespace"] = json!(ns);
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        match &prev {
            Some(p) => {
                meta["uid"] = p["metadata"]["uid"].clone();
                meta["creationTimestamp"] = p["metadata"]["creationTimestamp"].clone();
            }
            None => {
                self.uids += 1;
                meta["uid"] = json!(format!("{:08x}-6b75-4be1-8000-{:012x}", self.uids, self.rv));
                meta["creationTimestamp"] = json!(rfc3339(SystemTime::now()));
            }
        }
        meta["resourceVersion"] = json!(self.rv.to_string());
        let typ = if prev.is_some() { EventType::Modified } else { EventType::Added };
        self.objects.insert(key, object.clone());
        self.record(Change { rv: self.rv, kind, namespace: ns, typ, object, prev });
        Ok(self.rv)
    }

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<&Value> {
        let ns = if kind.namespaced() { namespace } else { "" };
        self.objects.get(&(kind, ns.to_string(), name.to_string()))
    }

    /// Marks an object as being deleted (`metadata.deletionTimestamp`, as while
    /// finalizers run): a MODIFIED event.
    pub fn begin_delete(&mut self, kind: Kind, namespace: &str, name: &str) -> Result<u64, String> {
        let mut o = self
            .get(kind, namespace, name)
            .cloned()
            .ok_or_else(|| format!("{} {namespace}/{name} not found", kind.plural()))?;
        o["metadata"]["deletionTimestamp"] = json!(rfc3339(SystemTime::now()));
        o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if !o["metadata"]["finalizers"].is_array() {
            o["metadata"]["finalizers"] = json!(["service.kubernetes.io/load-balancer-cleanup"]);
        }
        self.apply(o)
    }

    /// Deletes an object: a DELETED event carrying it with the deletion's
    /// resourceVersion.
    pub fn delete(&mut self, kind: Kind, namespace: &str, name: &str) -> Result<u64, String> {
        let ns = if kind.namespaced() { namespace } else { "" };
        let key = (kind, ns.to_string(), name.to_string());
        let prev =
            self.objects.remove(&key).ok_or_else(|| format!("{} {namespace}/{name} not found", kind.plural()))?;
        self.rv += 1;
        let mut object = prev.clone();
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.record(Change {
            rv: self.rv,
            kind,
            namespace: ns.to_string(),
            typ: EventType::Deleted,
            object,
            prev: Some(prev),
        });
        Ok(self.rv)
    }

    /// The objects of a kind that match, in key order (namespace, name), and the
    /// resourceVersion of the list.
    pub fn list(&self, kind: Kind, filter: &Filter) -> (Vec<Value>, u64) {
        let items = self
            .objects
            .iter()
            .filter(|((k, ns, _), o)| *k == kind && filter.matches(kind, ns, o))
            .map(|(_, o)| o.clone())
            .collect();
        (items, self.rv)
    }

    /// The watch events after `from` for a watch of `kind` with `filter`, and the
    /// resourceVersion to continue from; `Err(oldest)` when `from` is older than the
    /// history (410 Gone).
    pub fn events_since(&self, kind: Kind, filter: &Filter, from: u64) -> Result<(Vec<WatchEvent>, u64), u64> {
        if from < self.compacted {
            return Err(self.compacted);
        }
        let mut out = Vec::new();
        let start = self.history.partition_point(|c| c.rv <= from);
        for c in self.history.iter().skip(start) {
            if c.kind != kind {
                continue;
            }
            let now = filter.matches(kind, &c.namespace, &c.object);
            let before = c.prev.as_ref().is_some_and(|p| filter.matches(kind, &c.namespace, p));
            let typ = match (c.typ, before, now) {
                (EventType::Deleted, true, _) => EventType::Deleted,
                (EventType::Deleted, false, _) => continue,
                (_, false, true) => EventType::Added,
                (_, true, false) => EventType::Deleted,
                (_, true, true) => EventType::Modified,
                (_, false, false) => continue,
            };
            out.push((typ.as_str(), c.object.clone()));
        }
        Ok((out, self.rv))
    }
}

/// The `Status` object of a failure, as the API server writes it.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// The 410 of a watch from a compacted resourceVersion.
pub fn gone(requested: u64, oldest: u64) -> Value {
    status(410, "Expired", &format!("too old resource version: {requested} ({oldest})"))
}

#[cfg(test)]
mod tests {
    use super::super::objects::{endpoint_slice, node, service, Endpoint};
    use super::*;

    fn filter(ns: Option<&str>, labels: &str, fields: &str) -> Filter {
        Filter {
            namespace: ns.map(String::from),
            labels: LabelSelector::parse(labels).unwrap(),
            fields: FieldSelector::parse(fields).unwrap(),
        }
    }

    #[test]
    fn apply_list_delete() {
        let mut s = Store::new(100);
        let rv1 = s.apply(service("default", "web", &["10.0.0.1"], true)).unwrap();
        s.apply(service("other", "db", &[], false)).unwrap();
        s.apply(node("node1", &["10.1.0.1"], true, &[])).unwrap();
        let (all, rv) = s.list(Kind::Service, &Filter::default());
        assert_eq!(all.len(), 2);
        assert_eq!(rv, s.rv());
        let (ns, _) = s.list(Kind::Service, &filter(Some("other"), "", ""));
        assert_eq!(ns.len(), 1);
        assert_eq!(ns[0]["metadata"]["name"], "db");
        let web = s.get(Kind::Service, "default", "web").unwrap().clone();
        assert_eq!(web["metadata"]["resourceVersion"], rv1.to_string());
        let uid = web["metadata"]["uid"].clone();
        let rv2 = s.apply(service("default", "web", &["10.0.0.2"], true)).unwrap();
        let web = s.get(Kind::Service, "default", "web").unwrap();
        assert_eq!(web["metadata"]["uid"], uid, "a replaced object keeps its uid");
        assert_eq!(web["metadata"]["resourceVersion"], rv2.to_string());
        let (events, _) = s.events_since(Kind::Service, &Filter::default(), rv1).unwrap();
        let types: Vec<_> = events.iter().map(|e| (e.0, e.1["metadata"]["name"].as_str().unwrap())).collect();
        assert_eq!(types, [("ADDED", "db"), ("MODIFIED", "web")], "the node is not a Service event");
        let rv3 = s.delete(Kind::Service, "default", "web").unwrap();
        let (events, next) = s.events_since(Kind::Service, &Filter::default(), rv2).unwrap();
        assert_eq!(next, rv3);
        assert_eq!(events[0].0, "DELETED");
        assert_eq!(events[0].1["metadata"]["resourceVersion"], rv3.to_string());
        assert!(s.delete(Kind::Service, "default", "web").is_err());
    }

    #[test]
    fn watch_with_selector_sees_objects_enter_and_leave() {
        let mut s = Store::new(100);
        let from = s.rv();
        let mut n = node("node1", &["10.1.0.1"], true, &[]);
        s.apply(n.clone()).unwrap();
        s.apply(node("node2", &["10.1.0.2"], true, &[])).unwrap();
        let f = filter(None, "role=lb", "metadata.name=node1");
        assert!(s.events_since(Kind::Node, &f, from).unwrap().0.is_empty());
        super::super::objects::set_label(&mut n, "role", Some("lb"));
        s.apply(n.clone()).unwrap();
        super::super::objects::set_label(&mut n, "role", None);
        s.apply(n).unwrap();
        let types: Vec<_> = s.events_since(Kind::Node, &f, from).unwrap().0.into_iter().map(|e| e.0).collect();
        assert_eq!(types, ["ADDED", "DELETED"]);
    }

    #[test]
    fn old_resource_versions_are_gone() {
        let mut s = Store::new(2);
        let start = s.rv();
        for i in 0..3 {
            s.apply(endpoint_slice("default", "web", &i.to_string(), &[Endpoint::ready("10.42.0.1", "n")])).unwrap();
        }
        assert_eq!(s.events_since(Kind::EndpointSlice, &Filter::default(), start), Err(start + 1));
        assert_eq!(s.events_since(Kind::EndpointSlice, &Filter::default(), start + 1).unwrap().0.len(), 2);
        s.compact();
        assert!(s.events_since(Kind::EndpointSlice, &Filter::default(), start + 2).is_err());
        assert!(s.events_since(Kind::EndpointSlice, &Filter::default(), s.rv()).unwrap().0.is_empty());
    }

    #[test]
    fn deletion_timestamp_is_a_modification() {
        let mut s = Store::new(100);
        s.apply(service("default", "web", &["10.0.0.1"], false)).unwrap();
        let from = s.rv();
        s.begin_delete(Kind::Service, "default", "web").unwrap();
        let (events, _) = s.events_since(Kind::Service, &Filter::default(), from).unwrap();
        assert_eq!(events[0].0, "MODIFIED");
        assert!(events[0].1["metadata"]["deletionTimestamp"].is_string());
    }
}
