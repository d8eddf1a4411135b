//! bgp-swarm: many BGP sessions from consecutive source addresses (see `interop::swarm`).
//!
//! ```text
//! bgp-swarm --target 10.77.12.1:179 --first 10.77.12.10 --count 200 \
//!           --local-as 65100 --remote-as 65000 [--hold 90] [--status FILE]
//! ```
//!
//! The source addresses must exist on an interface (run it inside the namespace that
//! has them). Runs until killed; every 200 ms it rewrites FILE (atomically) with
//! counters, one `name value` per line ("established 200", ...), and prints the number
//! of Established sessions on stdout when it changes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use interop::swarm::{self, Counters, SwarmConfig};

fn usage(msg: &str) -> ExitCode {
    eprintln!(
        "bgp-swarm: {msg}\nusage: bgp-swarm --target ADDR:PORT --first IP --count N --local-as N --remote-as N \
         [--hold SECS] [--status FILE]"
    );
    ExitCode::from(2)
}

fn nth_address(first: IpAddr, i: u32) -> IpAddr {
    match first {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) + i)),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) + u128::from(i))),
    }
}

fn main() -> ExitCode {
    let mut target: Option<SocketAddr> = None;
    let mut first: Option<IpAddr> = None;
    let mut count: u32 = 0;
    let mut local_as = 0;
    let mut remote_as = 0;
    let mut hold = 90;
    let mut status: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else { return usage(&format!("{flag} needs a value")) };
        let ok = match flag.as_str() {
            "--target" => value.parse().map(|v| target = Some(v)).is_ok(),
            "--first" => value.parse().map(|v| first = Some(v)).is_ok(),
            "--count" => value.parse().map(|v| count = v).is_ok(),
            "--local-as" => value.parse().map(|v| local_as = v).is_ok(),
            "--remote-as" => value.parse().map(|v| remote_as = v).is_ok(),
            "--hold" => value.parse().map(|v| hold = v).is_ok(),
            "--status" => {
                status = Some(PathBuf::from(value.clone()));
                true
            }
            _ => return usage(&format!("unknown option {flag}")),
        };
        if !ok {
            return usage(&format!("{flag}: bad value {value:?}"));
        }
    }
    let (Some(target), Some(first)) = (target, first) else { return usage("--target and --first are required") };
    if count == 0 || local_as == 0 || remote_as == 0 {
        return usage("--count, --local-as and --remote-as are required");
    }
    let cfg = SwarmConfig {
        target,
        sources: (0..count).map(|i| nth_address(first, i)).collect(),
        local_as,
        remote_as,
        hold_time: hold,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bgp-swarm: {e}");
            return ExitCode::FAILURE;
        }
    };
    let counters = Arc::new(Counters::default());
    runtime.block_on(async move {
        let c = counters.clone();
        tokio::spawn(async move {
            let mut last = u64::MAX;
            loop {
                let now = c.established.load(Ordering::Relaxed);
                if now != last {
                    println!("established {now}/{count}");
                    last = now;
                }
                if let Some(path) = &status {
                    let tmp = path.with_extension("tmp");
                    if std::fs::write(&tmp, c.report()).is_ok() {
                        let _ = std::fs::rename(&tmp, path);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        swarm::run(cfg, counters).await;
    });
    ExitCode::SUCCESS
}
