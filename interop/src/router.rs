//! FRR as a home router runs it: zebra (the routes reach the namespace's kernel), bfdd
//! (BFD for `neighbor X bfd`) and bgpd, which reaches both through zebra's socket. The
//! BFD tests measure failover to the kernel's route, so they need all three; the other
//! tests use [`crate::Frr`], bgpd alone.
//!
//! Dropping it stops bgpd, bfdd, then zebra (each SIGTERM, SIGKILL after 5 s).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::{run_ok, tail, wait_until, Lab, Netns, Proc, FRR_BGPD};

/// FRR's zebra and bfdd as Debian installs them.
pub const FRR_ZEBRA: &str = "/usr/lib/frr/zebra";
pub const FRR_BFDD: &str = "/usr/lib/frr/bfdd";

pub struct FrrRouter {
    pub name: String,
    pub dir: PathBuf,
    pub ns: String,
    // Fields drop in this order: bgpd, bfdd, zebra.
    bgpd: Proc,
    bfdd: Proc,
    zebra: Proc,
}

/// Why the router cannot run here (zebra or bfdd missing), for `SKIP:`.
pub fn skip_reason() -> Option<String> {
    [FRR_ZEBRA, FRR_BFDD]
        .iter()
        .find(|p| !Path::new(p).is_file())
        .map(|p| format!("FRR's {p} is not installed: apt install frr"))
}

impl FrrRouter {
    /// zebra, bfdd and bgpd in `ns` for AS `asn`: `router bgp` with the router id, no
    /// policy required for eBGP, no import check, keepalive 3 s and hold 9 s, then
    /// `body` (lines inside `router bgp`), then `after` (lines after it, e.g. a `bfd`
    /// block with profiles). Waits until bgpd is zebra's client.
    pub fn start(lab: &Lab, ns: &Netns, name: &str, asn: u32, router_id: &str, body: &str, after: &str) -> FrrRouter {
        let dir = lab.path(name);
        fs::create_dir_all(&dir).expect("mkdir");
        // The daemons drop to the frr user and write their logs, pid files and sockets here.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        let d = dir.display().to_string();
        let write = |file: &str, text: String| {
            let path = dir.join(file);
            fs::write(&path, text).expect("write an FRR config");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        };
        write("zebra.conf", format!("hostname {name}\nlog file {d}/zebra.log\n!\n"));
        write("bfdd.conf", format!("hostname {name}\nlog file {d}/bfdd.log\ndebug bfd peer\n!\n"));
        write(
            "bgpd.conf",
            format!(
                "hostname {name}\nlog file {d}/bgpd.log\ndebug bgp neighbor-events\ndebug bgp bfd\n!\nrouter bgp {asn}\n \
                 bgp router-id {router_id}\n no bgp ebgp-requires-policy\n no bgp network import-check\n \
                 timers bgp 3 9\n{body}\nexit\n!\n{after}\n"
            ),
        );
        let zserv = format!("{d}/zserv.api");
        let mut cmd = ns.cmd(FRR_ZEBRA);
        cmd.args(["-f", &format!("{d}/zebra.conf"), "-i", &format!("{d}/zebra.pid"), "-z", &zserv]);
        cmd.args(["--vty_socket", &d, "-P", "0"]);
        let mut zebra = Proc::spawn(&format!("FRR {name} zebra"), cmd, &dir.join("zebra.out"));
        wait_until(Duration::from_secs(15), "FRR zebra answers on its vty", || {
            if !zebra.running() {
                panic!("FRR zebra exited: {}", zebra.log_text());
            }
            if !Path::new(&zserv).exists() {
                return Err("no zserv socket yet".into());
            }
            vtysh(&dir, "zebra", "show version").map(drop)
        });
        let mut cmd = ns.cmd(FRR_BFDD);
        cmd.args(["-f", &format!("{d}/bfdd.conf"), "-i", &format!("{d}/bfdd.pid"), "-z", &zserv]);
        cmd.args(["--vty_socket", &d, "-P", "0", "--bfdctl", &format!("{d}/bfdd.sock")]);
        let mut bfdd = Proc::spawn(&format!("FRR {name} bfdd"), cmd, &dir.join("bfdd.out"));
        wait_until(Duration::from_secs(15), "FRR bfdd answers on its vty", || {
            if !bfdd.running() {
                panic!("FRR bfdd exited: {}", bfdd.log_text());
            }
            vtysh(&dir, "bfdd", "show bfd peers").map(drop)
        });
        let mut cmd = ns.cmd(FRR_BGPD);
        cmd.args(["-f", &format!("{d}/bgpd.conf"), "-i", &format!("{d}/bgpd.pid"), "-z", &zserv]);
        cmd.args(["--vty_socket", &d, "-P", "0"]);
        let mut bgpd = Proc::spawn(&format!("FRR {name} bgpd"), cmd, &dir.join("bgpd.out"));
        wait_until(Duration::from_secs(15), "FRR bgpd answers and is zebra's client", || {
            if !bgpd.running() {
                panic!("FRR bgpd exited: {}", bgpd.log_text());
            }
            vtysh(&dir, "bgpd", "show bgp summary json")?;
            let clients = vtysh(&dir, "zebra", "show zebra client summary")?;
            if clients.contains("bgp") {
                Ok(())
            } else {
                Err(format!("bgpd is not a client of zebra yet:\n{clients}"))
            }
        });
        for file in ["bgpd.log", "bfdd.log"] {
            let log = fs::read_to_string(dir.join(file)).unwrap_or_default();
            for line in log.lines().filter(|l| l.contains("Unknown command") || l.contains("No such command")) {
                eprintln!("WARNING: FRR {name} rejected a config line ({file}): {line}");
            }
        }
        FrrRouter { name: name.to_string(), dir, ns: ns.name.clone(), bgpd, bfdd, zebra }
    }

    /// One vtysh command to `daemon` (`bgpd`, `bfdd`, `zebra`).
    pub fn vtysh(&self, daemon: &str, command: &str) -> Result<String, String> {
        vtysh(&self.dir, daemon, command)
    }

    pub fn json(&self, daemon: &str, command: &str) -> Result<Value, String> {
        let text = self.vtysh(daemon, command)?;
        serde_json::from_str(&text).map_err(|e| format!("`{command}` is not JSON ({e}): {text}"))
    }

    /// `Ok` once bgpd has `addr` Established.
    pub fn established(&self, addr: &str) -> Result<Value, String> {
        let v = self.json("bgpd", &format!("show bgp neighbors {addr} json"))?;
        let n = v.get(addr).cloned().ok_or_else(|| format!("FRR {} has no neighbor {addr}: {v}", self.name))?;
        match n["bgpState"].as_str() {
            Some("Established") => Ok(n),
            other => Err(format!("FRR {} sees {addr} in {other:?} (last reset: {})", self.name, n["lastResetDueTo"])),
        }
    }

    /// bfdd's status of the session with `peer` (`"up"`, `"down"`, `"init"`, ...).
    pub fn bfd_status(&self, peer: &str) -> Result<String, String> {
        let v = self.json("bfdd", "show bfd peers json")?;
        let peers = v.as_array().ok_or_else(|| format!("show bfd peers json: not an array: {v}"))?;
        let p = peers
            .iter()
            .find(|p| p["peer"].as_str() == Some(peer))
            .ok_or_else(|| format!("bfdd has no session with {peer}: {v}"))?;
        Ok(p["status"].as_str().unwrap_or("?").to_string())
    }

    /// The gateways of the namespace's kernel route to `dest` from BGP (sorted; empty
    /// when there is no such route).
    pub fn kernel_hops(&self, dest: &str) -> Vec<String> {
        kernel_hops(&self.ns, dest)
    }

    pub fn log(&self, daemon: &str) -> String {
        fs::read_to_string(self.dir.join(format!("{daemon}.log"))).unwrap_or_default()
    }

    pub fn pids(&self) -> [u32; 3] {
        [self.zebra.pid(), self.bfdd.pid(), self.bgpd.pid()]
    }
}

/// The gateways of `ns`'s kernel route to `dest` with `proto bgp` (sorted).
pub fn kernel_hops(ns: &str, dest: &str) -> Vec<String> {
    let out = run_ok(Command::new("ip").args(["-n", ns, "route", "show", dest, "proto", "bgp"])).unwrap_or_default();
    let mut hops: Vec<String> = out
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "via")
        .map(|w| w[1].to_string())
        .collect();
    hops.sort();
    hops
}

fn vtysh(dir: &Path, daemon: &str, command: &str) -> Result<String, String> {
    run_ok(Command::new("vtysh").arg("--vty_socket").arg(dir).args(["-d", daemon, "-c", command]))
}

impl Drop for FrrRouter {
    fn drop(&mut self) {
        if thread::panicking() {
            for file in ["bgpd.log", "bfdd.log"] {
                eprintln!("----- last lines of FRR {} {file} -----\n{}", self.name, tail(&self.dir.join(file), 40));
            }
        }
        // The Procs' drops stop bgpd, bfdd, then zebra.
    }
}
