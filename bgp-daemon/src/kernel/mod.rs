//! The daemon's netlink side: [`reader`] reads the kernel's links, addresses and
//! routes into `bgp_core::kernel::KernelUpdate`s; [`fib`] writes the engine's
//! `FibRoute`s. Both speak rtnetlink by hand ([`nl`]) on `rtnetlink::sys` sockets.

// Not wired into the daemon yet (the supervisor will spawn both tasks).
#![allow(dead_code)]

pub mod fib;
pub mod nl;
pub mod reader;
mod sock;

#[cfg(test)]
mod netns_tests;
