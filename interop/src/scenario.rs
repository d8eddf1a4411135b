//! A test's setup in a few lines: [`Scenario`] creates the lab and the namespaces of
//! one topology (a point-to-point link, or a shared segment) and starts FRR, BIRD and
//! our daemon in them with the suite's defaults; the functions below write the config
//! text the tests share (a `[[neighbor]]` table, FRR's neighbor lines, BIRD's
//! `protocol bgp`).
//!
//! Drop order: the processes a test starts are its own locals, declared after the
//! scenario, so they stop before the scenario drops its namespaces and, last, its work
//! directory (see the crate documentation).

use std::ops::Deref;

use crate::{ip, veth, Bird, Daemon, Frr, Lab, Netns};

/// A test's lab and namespaces: ours (`it-<name>-us`, at `.1`) and one per peer role.
/// Derefs to its [`Lab`] for addresses, `step` and `global_toml`.
pub struct Scenario {
    // Fields drop in this order: the namespaces, then the work directory.
    peers: Vec<(String, Netns)>,
    us: Netns,
    lab: Lab,
}

impl Scenario {
    /// Two namespaces, ours and `role`'s, joined by a veth pair (`ifname("u")` on our
    /// side, `ifname("p")` on theirs) with `.1`/`::1` on our side and `.2`/`::2` on the
    /// peer's. With `INTEROP_PCAP=1` the peer's end is captured.
    pub fn link(name: &str, id: u8, role: &str) -> Scenario {
        let lab = Lab::new(name, id);
        let us = lab.netns("us");
        let mut peer = lab.netns(role);
        let (ua, pb) = (lab.ifname("u"), lab.ifname("p"));
        veth(&us, &ua, &peer, &pb);
        peer.capture(&lab, &pb);
        us.addr(&ua, &format!("{}/24", lab.v4(1)));
        us.addr(&ua, &format!("{}/64", lab.v6(1)));
        peer.addr(&pb, &format!("{}/24", lab.v4(2)));
        peer.addr(&pb, &format!("{}/64", lab.v6(2)));
        Scenario { peers: vec![(role.to_string(), peer)], us, lab }
    }

    /// One shared IPv4 segment: a bridge in our namespace (`.1`) and a namespace per
    /// role, the n-th (from 0) at `.n+2`, each joined to the bridge by a veth pair.
    pub fn segment(name: &str, id: u8, roles: &[&str]) -> Scenario {
        let lab = Lab::new(name, id);
        let us = lab.netns("us");
        let br = lab.ifname("br");
        ip(&["-n", &us.name, "link", "add", &br, "type", "bridge"]);
        ip(&["-n", &us.name, "link", "set", &br, "up"]);
        us.addr(&br, &format!("{}/24", lab.v4(1)));
        let mut peers = Vec::new();
        for (i, role) in roles.iter().enumerate() {
            let host = i as u8 + 2;
            let ns = lab.netns(role);
            let (ours, theirs) = (lab.ifname(&format!("u{host}")), lab.ifname(&format!("p{host}")));
            veth(&us, &ours, &ns, &theirs);
            ip(&["-n", &us.name, "link", "set", &ours, "master", &br]);
            ns.addr(&theirs, &format!("{}/24", lab.v4(host)));
            peers.push((role.to_string(), ns));
        }
        Scenario { peers, us, lab }
    }

    /// Our namespace.
    pub fn us(&self) -> &Netns {
        &self.us
    }

    /// The namespace of `role`.
    pub fn ns(&self, role: &str) -> &Netns {
        &self.peers[self.index(role)].1
    }

    /// The IPv4 address of `role`: `.2` on a link, `.n+2` for the n-th role of a
    /// segment.
    pub fn addr(&self, role: &str) -> String {
        self.lab.v4(self.index(role) as u8 + 2)
    }

    fn index(&self, role: &str) -> usize {
        self.peers.iter().position(|(r, _)| r == role).unwrap_or_else(|| panic!("no namespace for {role}"))
    }

    /// FRR named `role` in its namespace, with its IPv4 address as router id; `body`
    /// as for [`Frr::start`] (see [`frr_neighbor`]).
    pub fn frr(&self, role: &str, asn: u32, body: &str) -> Frr {
        Frr::start(&self.lab, self.ns(role), role, asn, &self.addr(role), body)
    }

    /// BIRD named `role` in its namespace, with its IPv4 address as router id; `body`
    /// as for [`Bird::start`] (see [`bird_bgp`]).
    pub fn bird(&self, role: &str, body: &str) -> Bird {
        Bird::start(&self.lab, self.ns(role), role, &self.addr(role), body)
    }

    /// Our daemon's config: the `[global]` table of [`Lab::global_toml`] for AS `asn`
    /// with router id `.1`, then `tables` (see [`neighbor`]).
    pub fn config(&self, asn: u32, tables: &str) -> String {
        self.lab.global_toml(asn, &self.lab.v4(1), &[]) + tables
    }

    /// Our daemon in our namespace with [`Scenario::config`].
    pub fn ours(&self, asn: u32, tables: &str) -> Daemon {
        self.start_ours(&self.config(asn, tables))
    }

    /// Our daemon in our namespace with a whole config.
    pub fn start_ours(&self, config: &str) -> Daemon {
        Daemon::start(&self.lab, &self.us, config)
    }
}

impl Deref for Scenario {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

/// A `[[neighbor]]` table of our config: `address`, `asn`, then the `extra` lines.
pub fn neighbor(address: &str, asn: u32, extra: &[&str]) -> String {
    let mut s = format!("\n[[neighbor]]\naddress = \"{address}\"\nasn = {asn}\n");
    if !extra.iter().any(|l| l.starts_with("import_policy")) {
        // The tests count the routes a peer sends, and we keep only those we accept:
        // without a policy, RFC 8212 would refuse all of an eBGP peer's.
        s.push_str("import_policy = \"accept-all\"\n");
    }
    for l in extra {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// FRR's side of a session with us at `a` (lines inside `router bgp`): the neighbor
/// with AS `asn`, the `neighbor {a} ...` `options` (e.g. `password KEY`), connect retry
/// 1 s, and, when there are any, IPv4 `networks` announced.
pub fn frr_neighbor(a: &str, asn: u32, options: &[&str], networks: &[&str]) -> String {
    let mut s = format!(" neighbor {a} remote-as {asn}\n");
    for o in options {
        s += &format!(" neighbor {a} {o}\n");
    }
    s += &format!(" neighbor {a} timers connect 1");
    if !networks.is_empty() {
        s += "\n address-family ipv4 unicast\n";
        for n in networks {
            s += &format!("  network {n}\n");
        }
        s += " exit-address-family";
    }
    s
}

/// BIRD's `protocol static` (`s4` or `s6`) for `channel` (`ipv4`, `ipv6`) with
/// `routes` (e.g. `10.0.0.0/24 blackhole`), a line.
pub fn bird_static(channel: &str, routes: &[&str]) -> String {
    let name = if channel == "ipv6" { "s6" } else { "s4" };
    let routes: String = routes.iter().map(|r| format!(" route {r};")).collect();
    format!("protocol static {name} {{ {channel};{routes} }}\n")
}

/// BIRD's `protocol bgp NAME` from `local` (AS `asn`) to us at `neighbor` (AS
/// `our_as`): the suite's short timers (hold 9 s, keepalive 3 s, connect retry 2 s),
/// then the `options` (e.g. `direct;`; a timer given again here wins), then the
/// `channel` (e.g. `ipv4 { import all; export all; }`).
pub fn bird_bgp(
    name: &str,
    local: &str,
    asn: u32,
    neighbor: &str,
    our_as: u32,
    options: &str,
    channel: &str,
) -> String {
    format!(
        "protocol bgp {name} {{\n  local {local} as {asn};\n  neighbor {neighbor} as {our_as};\n  \
         hold time 9; keepalive time 3;\n  connect delay time 1; connect retry time 2; error wait time 1, 5;\n  \
         {options}\n  {channel};\n}}"
    )
}
