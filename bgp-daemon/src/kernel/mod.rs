//! The daemon's netlink side. Both halves speak rtnetlink by hand ([`nl`]) on
//! `rtnetlink::sys` sockets, and open their sockets in the calling thread's network
//! namespace on the current tokio runtime.
//!
//! - [`reader::spawn_reader`]`(table, protocol, out) -> io::Result<Vec<Prefix>>`:
//!   streams `KernelUpdate` batches (a dump bracketed by `SyncBegin`/`SyncEnd`, then
//!   notifications; a new dump after an overrun) and returns the prefixes of our own
//!   routes found at start, which the kernel reader never reports.
//! - [`fib::spawn_writer`]`(FibSettings, stale, results) -> io::Result<Sender<FibCmd>>`:
//!   installs and removes our routes, answering with `FibResult` batches; `Sweep`
//!   and `Flush` remove ours.
//!
//! Wiring (the supervisor's job): start the reader first, give its prefixes to the
//! writer as `stale`, send `Sweep` when graceful restart is over, `Flush` on
//! `bgpctl shutdown` / `on_stop = "shutdown"` and before `SetMetric`.

// Not wired into the daemon yet (the supervisor will spawn both tasks).
#![allow(dead_code)]

pub mod fib;
pub mod nl;
pub mod reader;
mod sock;

#[cfg(test)]
mod netns_tests;
