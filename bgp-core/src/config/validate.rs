//! Validation and defaults: from the raw tables to the [`Config`], first problem
//! first.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use toml::Spanned;

use super::peer::{RawNeighbor, RawRange};
use super::raw::*;
use super::*;
use crate::kernel::{RouteType, PROTOCOL_KERNEL, TABLE_DEFAULT, TABLE_LOCAL};
use crate::policy::{self, PolicySet};
use crate::prefix::{Prefix, Prefix4, Prefix6};
use crate::types::AS_TRANS;
use crate::wire::{Community, LargeCommunity};

impl Cx<'_> {
    /// An integer in `range`; `what` completes "N is not a valid ...".
    pub(crate) fn int(&self, value: &Spanned<i64>, key: &str, range: Range<i64>, what: &str) -> Res<i64> {
        let v = *value.get_ref();
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(self.value_err(value, key, format!("{v} is not a valid {what} ({}..={})", range.start, range.end - 1)))
        }
    }

    /// A Unix socket path: absolute, a file name, at most [`MAX_SOCKET_PATH_LEN`] bytes.
    fn socket_path(&self, value: &Spanned<String>, key: &str) -> Res<PathBuf> {
        let s = value.get_ref();
        if !Path::new(s).is_absolute() {
            return Err(self.value_err(value, key, format!("{s:?} is not an absolute path")));
        }
        if s.len() > MAX_SOCKET_PATH_LEN || s.ends_with('/') {
            return Err(self.value_err(
                value,
                key,
                format!("{s:?} is not a usable socket path (a file name of at most {MAX_SOCKET_PATH_LEN} bytes)"),
            ));
        }
        Ok(PathBuf::from(s))
    }

    pub(crate) fn asn(&self, value: &Spanned<i64>, key: &str) -> Res<u32> {
        let v = self.int(value, key, 1..1 << 32, "AS number")?;
        if v == i64::from(AS_TRANS) {
            return Err(self.value_err(
                value,
                key,
                "23456 is AS_TRANS (RFC 6793), the 2-octet stand-in for 4-octet AS numbers, not a usable AS",
            ));
        }
        Ok(v as u32)
    }

    pub(crate) fn hold_time(&self, value: &Spanned<i64>, key: &str) -> Res<u16> {
        let v = *value.get_ref();
        if v == 0 || (3..=65535).contains(&v) {
            Ok(v as u16)
        } else {
            Err(self.value_err(
                value,
                key,
                format!("{v} is not a valid hold time: use 0 (no keepalives) or 3..=65535 seconds (RFC 4271 §4.2)"),
            ))
        }
    }

    pub(crate) fn ip(&self, value: &Spanned<String>, key: &str) -> Res<IpAddr> {
        let s = value.get_ref();
        let ip: IpAddr =
            s.parse().map_err(|_| self.value_err(value, key, format!("{s:?} is not an IPv4 or IPv6 address")))?;
        let ip = ip.to_canonical();
        if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Err(self.value_err(value, key, format!("{s:?} cannot be a peer's or a local address")));
        }
        Ok(ip)
    }

    pub(crate) fn text_opt(&self, value: &Opt<String>) -> Option<String> {
        value.as_ref().map(|v| v.get_ref().clone())
    }

    /// A next hop address; `alternatives` is put before "an IPv4 or IPv6 address" in
    /// the message for a value that is not one.
    pub(crate) fn next_hop(&self, value: &Spanned<String>, key: &str, alternatives: &str) -> Res<IpAddr> {
        let s = value.get_ref();
        let a = s
            .parse::<IpAddr>()
            .map_err(|_| self.value_err(value, key, format!("{s:?} is not {alternatives}an IPv4 or IPv6 address")))?;
        let a = a.to_canonical();
        if a.is_unspecified() || a.is_multicast() || a == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Err(self.value_err(value, key, format!("{s:?} cannot be a next hop")));
        }
        Ok(a)
    }

    /// An IPv4 or IPv6 prefix without host bits.
    pub(crate) fn ipnet(&self, value: &Spanned<String>, key: &str) -> Res<IpNet> {
        let s = value.get_ref();
        let prefix: IpNet = s.parse().map_err(|_| {
            self.value_err(value, key, format!("{s:?} is not an IPv4 or IPv6 prefix like \"10.0.0.0/24\""))
        })?;
        if prefix.trunc() != prefix {
            return Err(self.value_err(
                value,
                key,
                format!("{s:?} has host bits set; did you mean \"{}\"?", prefix.trunc()),
            ));
        }
        Ok(prefix)
    }

    /// [`Cx::ipnet`] as a route prefix.
    pub(crate) fn prefix(&self, value: &Spanned<String>, key: &str) -> Res<Prefix> {
        Ok(match self.ipnet(value, key)? {
            IpNet::V4(n) => Prefix::V4(Prefix4::new(n.addr(), n.prefix_len()).expect("ipnet lengths are valid")),
            IpNet::V6(n) => Prefix::V6(Prefix6::new(n.addr(), n.prefix_len()).expect("ipnet lengths are valid")),
        })
    }

    /// A 32-bit attribute value (LOCAL_PREF, MED).
    pub(crate) fn value32(&self, value: &Spanned<i64>, key: &str, what: &str) -> Res<u32> {
        Ok(self.int(value, key, 0..1 << 32, what)? as u32)
    }

    /// The name of a policy, term or prefix list; `what` completes "not a valid ... name".
    pub(crate) fn name(&self, value: &Spanned<String>, key: &str, what: &str) -> Res<String> {
        let s = value.get_ref();
        let ok = (1..=MAX_NAME_LEN).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            return Err(self.value_err(
                value,
                key,
                format!("{s:?} is not a valid {what} name (1..={MAX_NAME_LEN} letters, digits, '-', '_', '.')"),
            ));
        }
        Ok(s.clone())
    }

    /// A non-empty list without duplicates; `item` checks each entry (its key is
    /// `key[i]`). `what` names one entry in the message for an empty list.
    pub(crate) fn list<T, U: PartialEq + fmt::Display>(
        &self,
        value: &Opt<Vec<Spanned<T>>>,
        key: &str,
        what: &str,
        item: impl Fn(&Spanned<T>, &str) -> Res<U>,
    ) -> Res<Vec<U>> {
        let Some(value) = value else { return Ok(Vec::new()) };
        if value.get_ref().is_empty() {
            return Err(self.value_err(
                value,
                key,
                format!("is empty: list at least one {what}, or leave the key out"),
            ));
        }
        let mut out: Vec<U> = Vec::with_capacity(value.get_ref().len());
        for (i, entry) in value.get_ref().iter().enumerate() {
            let k = format!("{key}[{i}]");
            let v = item(entry, &k)?;
            if out.contains(&v) {
                return Err(self.err(entry, k, ErrorKind::Conflict(format!("{v} is listed twice"))));
            }
            out.push(v);
        }
        Ok(out)
    }

    pub(crate) fn communities(&self, value: &Opt<Vec<Spanned<String>>>, key: &str) -> Res<Vec<Community>> {
        self.list(value, key, "community", |v, k| {
            policy::parse_community(v.get_ref()).map_err(|e| self.value_err(v, k, e))
        })
    }

    pub(crate) fn large_communities(&self, value: &Opt<Vec<Spanned<String>>>, key: &str) -> Res<Vec<LargeCommunity>> {
        self.list(value, key, "large community", |v, k| {
            policy::parse_large_community(v.get_ref()).map_err(|e| self.value_err(v, k, e))
        })
    }

    pub(crate) fn asns(&self, value: &Opt<Vec<Spanned<i64>>>, key: &str) -> Res<Vec<u32>> {
        self.list(value, key, "AS number", |v, k| Ok(self.int(v, k, 1..1 << 32, "AS number")? as u32))
    }

    /// No entry of `added` (from key `add_key`) is also in `removed` (list `value`).
    pub(crate) fn no_overlap<T: PartialEq + fmt::Display>(
        &self,
        value: &Opt<Vec<Spanned<String>>>,
        key: &str,
        removed: &[T],
        added: &[T],
        add_key: &str,
    ) -> Res<()> {
        if let (Some(value), Some(i)) = (value, removed.iter().position(|r| added.contains(r))) {
            return Err(self.err(
                &value.get_ref()[i],
                format!("{key}[{i}]"),
                ErrorKind::Conflict(format!("{} is also in {add_key}", removed[i])),
            ));
        }
        Ok(())
    }

    pub(crate) fn resolve(&self, raw: &RawConfig, names: &RtNames) -> Res<Config> {
        let global = match &raw.global {
            Some(g) => self.global(g)?,
            None => return Err(self.err_at(0, "global", ErrorKind::Missing)),
        };
        let policies = self.policies(raw)?;
        let neighbors = raw
            .neighbor
            .iter()
            .enumerate()
            .map(|(i, n)| self.neighbor(&global, &policies, n, &format!("neighbor[{i}]")))
            .collect::<Res<Vec<_>>>()?;
        let neighbor_ranges = raw
            .neighbor_range
            .iter()
            .enumerate()
            .map(|(i, r)| self.range(&global, &policies, r, &format!("neighbor_range[{i}]")))
            .collect::<Res<Vec<_>>>()?;
        let announcements = self.announcements(raw)?;
        let kernel = match &raw.kernel {
            Some(k) => self.kernel(k, &policies, names)?,
            None => Kernel::default(),
        };
        let kubernetes = raw.kubernetes.as_ref().map(|k| self.kubernetes(k)).transpose()?;

        // Unique neighbor addresses.
        let mut seen: HashMap<IpAddr, usize> = HashMap::new();
        for (i, n) in neighbors.iter().enumerate() {
            if let Some(&first) = seen.get(&n.address) {
                let span = raw.neighbor[i].get_ref().address.as_ref().expect("checked");
                let first_span = raw.neighbor[first].get_ref().address.as_ref().expect("checked");
                return Err(self.err(
                    span,
                    format!("neighbor[{i}].address"),
                    ErrorKind::Conflict(format!(
                        "duplicate neighbor address {}: already neighbor[{first}] (line {})",
                        n.address,
                        self.line_of(first_span)
                    )),
                ));
            }
            seen.insert(n.address, i);
        }

        // Ranges do not overlap (two prefixes overlap when one contains the other).
        for (i, r) in neighbor_ranges.iter().enumerate() {
            for (j, earlier) in neighbor_ranges[..i].iter().enumerate() {
                if r.prefix.contains(&earlier.prefix) || earlier.prefix.contains(&r.prefix) {
                    let span = raw.neighbor_range[i].get_ref().prefix.as_ref().expect("checked");
                    let first_span = raw.neighbor_range[j].get_ref().prefix.as_ref().expect("checked");
                    return Err(self.err(
                        span,
                        format!("neighbor_range[{i}].prefix"),
                        ErrorKind::Conflict(format!(
                            "{} overlaps neighbor_range[{j}].prefix {} (line {})",
                            r.prefix,
                            earlier.prefix,
                            self.line_of(first_span)
                        )),
                    ));
                }
            }
        }

        // Something must listen for passive neighbors and ranges.
        if global.listen.is_empty() {
            let who = match neighbors.iter().position(|n| n.passive && !n.shutdown) {
                Some(i) => Some(format!("neighbor[{i}] is passive")),
                None if !neighbor_ranges.is_empty() => Some("neighbor_range[0] only accepts connections".to_string()),
                None => None,
            };
            if let Some(who) = who {
                let listen = raw.global.as_ref().and_then(|g| g.get_ref().listen.as_ref()).expect("listen was set");
                return Err(self.err(
                    listen,
                    "global.listen",
                    ErrorKind::Conflict(format!("is empty, so no connection is accepted, but {who}")),
                ));
            }
        }

        Ok(Config { global, neighbors, neighbor_ranges, policies, announcements, kernel, kubernetes })
    }

    pub(crate) fn global(&self, table: &Spanned<RawGlobal>) -> Res<Global> {
        let g = table.get_ref();
        let asn = self.asn(self.required(table, &g.asn, "global.asn".into())?, "global.asn")?;
        let router_id_raw = self.required(table, &g.router_id, "global.router_id".into())?;
        let router_id = match router_id_raw.get_ref().parse::<Ipv4Addr>() {
            Ok(id) if !id.is_unspecified() => id,
            Ok(_) => return Err(self.value_err(router_id_raw, "global.router_id", "0.0.0.0 is not a valid router ID")),
            Err(_) => {
                return Err(self.value_err(
                    router_id_raw,
                    "global.router_id",
                    format!("{:?} is not an IPv4 address (the BGP identifier is 4 octets)", router_id_raw.get_ref()),
                ))
            }
        };
        let mut out = Global::new(asn, router_id);

        if let Some(listen) = &g.listen {
            out.listen.clear();
            for (i, entry) in listen.get_ref().iter().enumerate() {
                let key = format!("global.listen[{i}]");
                let addr: SocketAddr = entry.get_ref().parse().map_err(|_| {
                    self.value_err(
                        entry,
                        &key,
                        format!("{:?} is not ADDRESS:PORT (like \"0.0.0.0:179\" or \"[::]:179\")", entry.get_ref()),
                    )
                })?;
                if out.listen.contains(&addr) {
                    return Err(self.err(entry, key, ErrorKind::Conflict(format!("{addr} is listed twice"))));
                }
                out.listen.push(addr);
            }
        }
        if let Some(sock) = &g.control_socket {
            out.control_socket = self.socket_path(sock, "global.control_socket")?;
        }
        if let Some(sock) = &g.control_socket_readonly {
            let key = "global.control_socket_readonly";
            let path = self.socket_path(sock, key)?;
            if path == out.control_socket {
                return Err(self.err(
                    sock,
                    key,
                    ErrorKind::Conflict("is the same path as global.control_socket".into()),
                ));
            }
            out.control_socket_readonly = Some(path);
        }
        if let Some(v) = &g.hold_time {
            out.hold_time = self.hold_time(v, "global.hold_time")?;
        }
        if let Some(v) = &g.min_hold_time {
            out.min_hold_time = Some(self.int(v, "global.min_hold_time", 3..65536, "hold time in seconds")? as u16);
        }
        if let Some(v) = &g.send_hold_time {
            out.send_hold_time = Some(self.int(v, "global.send_hold_time", 3..65536, "time in seconds")? as u16);
        }
        if let Some(v) = &g.connect_retry {
            out.connect_retry =
                Duration::from_secs(self.int(v, "global.connect_retry", 1..3601, "delay in seconds")? as u64);
        }
        if let Some(v) = &g.connect_retry_max {
            out.connect_retry_max =
                Duration::from_secs(self.int(v, "global.connect_retry_max", 1..86401, "delay in seconds")? as u64);
        }
        if out.connect_retry_max < out.connect_retry {
            let (max, retry) = (out.connect_retry_max.as_secs(), out.connect_retry.as_secs());
            return Err(match (&g.connect_retry_max, &g.connect_retry) {
                (Some(v), _) => self.err(
                    v,
                    "global.connect_retry_max",
                    ErrorKind::Conflict(format!("{max} is less than connect_retry ({retry})")),
                ),
                (None, Some(v)) => self.err(
                    v,
                    "global.connect_retry",
                    ErrorKind::Conflict(format!(
                        "{retry} is more than connect_retry_max ({max}, the default); raise connect_retry_max too"
                    )),
                ),
                (None, None) => unreachable!("the defaults are ordered"),
            });
        }
        if let Some(v) = &g.graceful_restart_time {
            out.graceful_restart_time =
                self.int(v, "global.graceful_restart_time", 1..4096, "restart time in seconds (RFC 4724: 12 bits)")?
                    as u16;
        }
        if let Some(v) = &g.on_stop {
            out.on_stop = v.get_ref().parse().map_err(|e: String| self.value_err(v, "global.on_stop", e))?;
        }
        if let Some(v) = &g.hostname {
            let s = v.get_ref();
            let ok = (1..=MAX_HOSTNAME_LEN).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            if !ok {
                return Err(self.value_err(
                    v,
                    "global.hostname",
                    format!("{s:?} is not a hostname (1..={MAX_HOSTNAME_LEN} letters, digits, '-', '.', '_')"),
                ));
            }
            out.hostname = Some(s.clone());
        }
        if let Some(v) = &g.cluster_id {
            out.cluster_id = match v.get_ref().parse::<Ipv4Addr>() {
                Ok(id) if !id.is_unspecified() => id,
                Ok(_) => return Err(self.value_err(v, "global.cluster_id", "0.0.0.0 is not a valid cluster ID")),
                Err(_) => {
                    return Err(self.value_err(
                        v,
                        "global.cluster_id",
                        format!("{:?} is not an IPv4 address (CLUSTER_ID is 4 octets, RFC 4456)", v.get_ref()),
                    ))
                }
            };
        }
        if let Some(v) = &g.multipath {
            let max = i64::from(MAX_MULTIPATH);
            out.multipath = self.int(v, "global.multipath", 1..max + 1, "number of ECMP paths")? as u8;
        }
        if let Some(v) = &g.always_compare_med {
            out.always_compare_med = *v.get_ref();
        }
        if let Some(v) = &g.min_advertisement_interval {
            out.min_advertisement_interval =
                Duration::from_secs(
                    self.int(v, "global.min_advertisement_interval", 0..601, "interval in seconds")? as u64
                );
        }
        if let Some(v) = &g.drain_time {
            out.drain_time =
                Duration::from_secs(self.int(v, "global.drain_time", 1..3601, "drain time in seconds")? as u64);
        }
        if let Some(v) = &g.metrics_listen {
            let key = "global.metrics_listen";
            let addr: SocketAddr = v.get_ref().parse().map_err(|_| {
                self.value_err(v, key, format!("{:?} is not ADDRESS:PORT (like \"127.0.0.1:9179\")", v.get_ref()))
            })?;
            if out.listen.contains(&addr) {
                return Err(self.err(v, key, ErrorKind::Conflict(format!("{addr} is in global.listen too"))));
            }
            out.metrics_listen = Some(addr);
        }
        Ok(out)
    }

    pub(crate) fn neighbor(
        &self,
        global: &Global,
        policies: &PolicySet,
        table: &Spanned<RawNeighbor>,
        path: &str,
    ) -> Res<Neighbor> {
        let n = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let address = self.ip(self.required(table, &n.address, key("address"))?, &key("address"))?;
        let settings = self.peer(global, policies, table, n.peer(), path)?;
        let mut out =
            Neighbor { address, port: DEFAULT_PORT, passive: false, local_address: None, shutdown: false, settings };
        if let Some(v) = &n.port {
            out.port = self.int(v, &key("port"), 1..65536, "TCP port")? as u16;
        }
        if let Some(v) = &n.passive {
            out.passive = *v.get_ref();
        }
        if let Some(v) = &n.local_address {
            let local = self.ip(v, &key("local_address"))?;
            if local.is_ipv4() != address.is_ipv4() {
                return Err(self.err(
                    v,
                    key("local_address"),
                    ErrorKind::Conflict(format!(
                        "{local} and the neighbor's address {address} are of different families"
                    )),
                ));
            }
            out.local_address = Some(local);
        }
        if let Some(v) = &n.shutdown {
            out.shutdown = *v.get_ref();
        }
        Ok(out)
    }

    pub(crate) fn range(
        &self,
        global: &Global,
        policies: &PolicySet,
        table: &Spanned<RawRange>,
        path: &str,
    ) -> Res<NeighborRange> {
        let r = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let prefix = self.ipnet(self.required(table, &r.prefix, key("prefix"))?, &key("prefix"))?;
        let settings = self.peer(global, policies, table, r.peer(), path)?;
        let mut out = NeighborRange { prefix, limit: DEFAULT_RANGE_LIMIT, settings };
        if let Some(v) = &r.limit {
            out.limit = self.int(v, &key("limit"), 1..10001, "session limit")? as u32;
        }
        Ok(out)
    }

    /// `[[prefix_list]]` then `[[policy]]`, compiled into a set with the built-ins.
    /// Every `[[announce]]`; prefixes are unique.
    pub(crate) fn announcements(&self, raw: &RawConfig) -> Res<Vec<Announce>> {
        let mut out: Vec<Announce> = Vec::new();
        for (i, table) in raw.announce.iter().enumerate() {
            let path = format!("announce[{i}]");
            let key = |k: &str| format!("{path}.{k}");
            let a = table.get_ref();
            let prefix_raw = self.required(table, &a.prefix, key("prefix"))?;
            let mut announce = Announce::new(self.prefix(prefix_raw, &key("prefix"))?);
            if let Some(j) = out.iter().position(|earlier| earlier.prefix == announce.prefix) {
                let first_span = raw.announce[j].get_ref().prefix.as_ref().expect("checked");
                return Err(self.err(
                    prefix_raw,
                    key("prefix"),
                    ErrorKind::Conflict(format!(
                        "{} is already announced by announce[{j}] (line {})",
                        announce.prefix,
                        self.line_of(first_span)
                    )),
                ));
            }
            announce.communities = self.communities(&a.communities, &key("communities"))?;
            announce.large_communities = self.large_communities(&a.large_communities, &key("large_communities"))?;
            if let Some(v) = &a.local_pref {
                announce.local_pref = Some(self.value32(v, &key("local_pref"), "LOCAL_PREF")?);
            }
            if let Some(v) = &a.med {
                announce.med = Some(self.value32(v, &key("med"), "MED")?);
            }
            if let Some(v) = &a.next_hop {
                let next_hop = self.next_hop(v, &key("next_hop"), "")?;
                if next_hop.is_ipv4() != matches!(announce.prefix, Prefix::V4(_)) {
                    return Err(self.err(
                        v,
                        key("next_hop"),
                        ErrorKind::Conflict(format!(
                            "{next_hop} and the prefix {} are of different families",
                            announce.prefix
                        )),
                    ));
                }
                announce.next_hop = Some(next_hop);
            }
            out.push(announce);
        }
        Ok(out)
    }

    /// The `[kernel]` table and its `[[kernel.import]]` entries.
    pub(crate) fn kernel(&self, table: &Spanned<RawKernel>, policies: &PolicySet, names: &RtNames) -> Res<Kernel> {
        let k = table.get_ref();
        let mut out = Kernel::default();
        if let Some(v) = &k.install {
            out.install = *v.get_ref();
        }
        if let Some(v) = &k.table {
            out.table = self.kernel_table(v, "kernel.table", names)?;
        }
        if let Some(v) = &k.protocol {
            let key = "kernel.protocol";
            out.protocol = self.kernel_protocol(v, key, names)?;
            if out.protocol == PROTOCOL_KERNEL {
                return Err(self.value_err(
                    v,
                    key,
                    format!(
                        "{} is the kernel's own protocol (the routes it adds for this host's addresses): \
                         the daemon replaces and removes routes of its protocol, so pick another, e.g. \"bgp\" (186)",
                        self.number_label(v, PROTOCOL_KERNEL.into())
                    ),
                ));
            }
        }
        if let Some(v) = &k.metric {
            out.metric = self.value32(v, "kernel.metric", "metric")?;
        }
        if let Some(v) = &k.install_policy {
            out.install_policy = Some(self.policy_name(v, "kernel.install_policy", policies)?);
        }
        if let Some(v) = &k.resolve_via_default {
            out.resolve_via_default = *v.get_ref();
        }
        for (i, entry) in k.import.iter().enumerate() {
            let import = self.kernel_import(entry, &format!("kernel.import[{i}]"), &out, names)?;
            out.import.push(import);
        }
        Ok(out)
    }

    fn kernel_import(
        &self,
        table: &Spanned<RawKernelImport>,
        path: &str,
        kernel: &Kernel,
        names: &RtNames,
    ) -> Res<KernelImport> {
        let m = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let within = self.required(table, &m.within, key("within"))?;
        if within.get_ref().is_empty() {
            return Err(self.value_err(within, key("within"), "is empty: list at least one prefix to import from"));
        }
        let within = self.list(&m.within, &key("within"), "prefix", |v, k| self.prefix(v, k))?;
        let mut out = KernelImport {
            within,
            protocol: Vec::new(),
            kind: vec![RouteType::Unicast, RouteType::Blackhole],
            table: crate::kernel::TABLE_MAIN,
            communities: self.communities(&m.communities, &key("communities"))?,
            large_communities: self.large_communities(&m.large_communities, &key("large_communities"))?,
            local_pref: None,
            med: None,
        };
        if let Some(v) = &m.table {
            out.table = self.kernel_table(v, &key("table"), names)?;
        }
        out.protocol =
            self.list(&m.protocol, &key("protocol"), "protocol", |v, k| self.kernel_protocol(v, k, names))?;
        if out.table == kernel.table {
            if let Some(i) = out.protocol.iter().position(|&p| p == kernel.protocol) {
                let v = &m.protocol.as_ref().expect("listed").get_ref()[i];
                return Err(self.err(
                    v,
                    format!("{path}.protocol[{i}]"),
                    ErrorKind::Conflict(format!(
                        "{} is kernel.protocol, the routes this daemon installs in this table: \
                         they are never imported",
                        self.number_label(v, kernel.protocol.into())
                    )),
                ));
            }
        }
        if m.kind.is_some() {
            out.kind = self.list(&m.kind, &key("type"), "route type", |v, k| {
                Ok(match v.get_ref().as_str() {
                    "unicast" => RouteType::Unicast,
                    "blackhole" => RouteType::Blackhole,
                    "unreachable" => RouteType::Unreachable,
                    "prohibit" => RouteType::Prohibit,
                    s => {
                        return Err(self.value_err(
                            v,
                            k,
                            format!(
                                "{s:?} is not a route type (expected \"unicast\", \"blackhole\", \
                                 \"unreachable\" or \"prohibit\")"
                            ),
                        ))
                    }
                })
            })?;
        }
        if let Some(v) = &m.local_pref {
            out.local_pref = Some(self.value32(v, &key("local_pref"), "LOCAL_PREF")?);
        }
        if let Some(v) = &m.med {
            out.med = Some(self.value32(v, &key("med"), "MED")?);
        }
        Ok(out)
    }

    /// The `[kubernetes]` table.
    pub(crate) fn kubernetes(&self, table: &Spanned<RawKubernetes>) -> Res<Kubernetes> {
        let k = table.get_ref();
        let mut out = Kubernetes::default();
        if let Some(v) = &k.kubeconfig {
            if v.get_ref().is_empty() {
                return Err(self.value_err(v, "kubernetes.kubeconfig", "is empty: name a file, or leave the key out"));
            }
            out.kubeconfig = Some(PathBuf::from(v.get_ref()));
        }
        if let Some(v) = &k.mode {
            out.mode = v.get_ref().parse().map_err(|e: String| self.value_err(v, "kubernetes.mode", e))?;
        }
        if let Some(v) = &k.node_name {
            let key = "kubernetes.node_name";
            if !crate::kubernetes::selector::is_dns_subdomain(v.get_ref()) {
                return Err(self.value_err(
                    v,
                    key,
                    format!(
                        "{:?} is not a valid node name (a DNS subdomain: at most 253 lowercase letters, digits, \
                         '-' and '.')",
                        v.get_ref()
                    ),
                ));
            }
            if out.mode == KubernetesMode::Cluster {
                return Err(self.err(
                    v,
                    key,
                    ErrorKind::Conflict(
                        "is for mode = \"node\" only: in cluster mode the speaker announces for every node; \
                         leave the key out"
                            .into(),
                    ),
                ));
            }
            out.node_name = Some(v.get_ref().clone());
        }
        if let Some(v) = &k.load_balancers {
            out.load_balancers = *v.get_ref();
        }
        if let Some(v) = &k.pod_cidrs {
            out.pod_cidrs = *v.get_ref();
        }
        if let Some(v) = &k.service_selector {
            let key = "kubernetes.service_selector";
            if v.get_ref().trim().is_empty() {
                return Err(self.value_err(v, key, "is empty: leave the key out to select every Service"));
            }
            crate::kubernetes::selector::Selector::parse(v.get_ref())
                .map_err(|e| self.value_err(v, key, format!("{:?} is not a label selector: {e}", v.get_ref())))?;
            out.service_selector = Some(v.get_ref().clone());
        }
        if !out.load_balancers && !out.pod_cidrs {
            let v = k.load_balancers.as_ref().expect("false only when written");
            return Err(self.err(
                v,
                "kubernetes.load_balancers",
                ErrorKind::Conflict(
                    "and kubernetes.pod_cidrs are both false: nothing would be announced; remove [kubernetes] instead"
                        .into(),
                ),
            ));
        }
        Ok(out)
    }

    /// A kernel routing table: 1..=4294967295 but the kernel's `default` (253) and
    /// `local` (255), by number or by name.
    fn kernel_table(&self, value: &Spanned<NumberOrName>, key: &str, names: &RtNames) -> Res<u32> {
        let range = "1..=4294967295";
        let n = self.number_or_name(value, key, &format!("table number ({range})"), "rt_tables", |s| {
            names.table_number(s).map(i64::from).ok_or_else(|| names.table_names())
        })?;
        let label = self.number_label(value, n);
        let use_instead = "use main (254) or a table of your own";
        match u32::try_from(n) {
            Ok(0) | Err(_) => Err(self.value_err(value, key, format!("{label} is not a valid table number ({range})"))),
            Ok(TABLE_DEFAULT) => Err(self.value_err(
                value,
                key,
                format!("{label} is the kernel's default table, looked up only after main: {use_instead}"),
            )),
            Ok(TABLE_LOCAL) => Err(self.value_err(
                value,
                key,
                format!("{label} is the kernel's local table, which holds this host's own addresses: {use_instead}"),
            )),
            Ok(n) => Ok(n),
        }
    }

    /// A route protocol, 1..=255, by number or by name.
    fn kernel_protocol(&self, value: &Spanned<NumberOrName>, key: &str, names: &RtNames) -> Res<u8> {
        let n = self.number_or_name(value, key, "protocol number (1..=255)", "rt_protos", |s| {
            names.protocol_number(s).map(i64::from).ok_or_else(|| names.protocol_names())
        })?;
        match u8::try_from(n) {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(self.value_err(
                value,
                key,
                format!("{} is not a valid protocol number (1..=255)", self.number_label(value, n)),
            )),
        }
    }

    /// The number `value` is or names (unchecked): an integer, a string of digits, or
    /// a name `lookup` knows (else it returns every name it knows, for the hint).
    /// `what` ("table number (1..=N)") and `file` (in `/etc/iproute2`) word the error.
    fn number_or_name(
        &self,
        value: &Spanned<NumberOrName>,
        key: &str,
        what: &str,
        file: &str,
        lookup: impl Fn(&str) -> Result<i64, Vec<String>>,
    ) -> Res<i64> {
        match value.get_ref() {
            NumberOrName::Number(n) => Ok(*n),
            NumberOrName::Name(s) => s.parse::<i64>().or_else(|_| lookup(s)).map_err(|known| {
                let hint = did_you_mean(s, &known).map(|h| format!("; did you mean {h:?}?")).unwrap_or_default();
                self.value_err(value, key, format!("{s:?} is not a {what} or a name in /etc/iproute2/{file}{hint}"))
            }),
        }
    }

    /// How a message names number `n` written as `value`: `n`, or `"name" (n)`.
    fn number_label(&self, value: &Spanned<NumberOrName>, n: i64) -> String {
        match value.get_ref() {
            NumberOrName::Name(s) if s.parse::<i64>().is_err() => format!("{s:?} ({n})"),
            _ => n.to_string(),
        }
    }
}
