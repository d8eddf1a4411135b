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
//! Wiring: the supervisor (`start_kernel`) starts the reader first and gives its
//! prefixes to the writer as `stale`; the RIB task feeds the writer, sends `Sweep`
//! when the engine says the restart is over, and `Flush` on `bgpctl shutdown` /
//! `on_stop = "shutdown"` and before `SetMetric`.

pub mod fib;
pub mod nl;
pub mod reader;
mod sock;

#[cfg(test)]
mod netns_tests;
