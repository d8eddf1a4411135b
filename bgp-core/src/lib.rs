//! `bgp-core`: the pure protocol logic of the BGP speaker. No sockets, no tasks, no
//! clock reads: inputs in, outputs and errors out, so every part is tested in
//! microseconds.
//!
//! Implemented so far:
//! - [`wire`]: the message codec. RFC 4271 (messages), RFC 4760 (multiprotocol),
//!   RFC 2918 and RFC 7313 (route refresh, enhanced), RFC 5492 (capabilities),
//!   RFC 6793 (4-octet AS with the AS4_PATH merge), RFC 7911 (ADD-PATH), RFC 8654
//!   (extended messages), RFC 9072 (extended optional parameters), RFC 8950
//!   (IPv6 next hop for IPv4), RFC 4724 and RFC 8538 (graceful restart capability,
//!   Hard Reset), long-lived graceful restart, RFC 1997, RFC 4360, RFC 8092
//!   (communities), RFC 4456 (reflection attributes), RFC 9003 (shutdown
//!   communication), and RFC 7606 (revised UPDATE error handling) throughout.
//! - [`prefix`] and [`types`]: compact prefix keys and address families.

pub mod attrs;
pub mod config;
pub mod ctl;
pub mod fsm;
mod names;
pub mod policy;
pub mod prefix;
pub mod rib;
#[doc(hidden)]
pub mod testkit;
pub mod types;
pub mod wire;
