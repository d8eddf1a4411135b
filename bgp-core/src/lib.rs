//! `bgp-core`: the pure protocol logic of the BGP speaker. No sockets, no tasks, no
//! clock reads: inputs in, outputs and errors out, so every part is tested in
//! microseconds. `bgp-daemon` drives it with tokio; `bgpctl` shares its control types.
//!
//! How a route travels, and the module that handles each step:
//!
//! ```text
//!  bytes ─► wire::decode_message ─► fsm::Peer (one per neighbor: OPEN, timers, errors)
//!                                      │ Output::Deliver(UPDATE)
//!                                      ▼
//!  local sources (announce, ──► rib::engine::Engine ── policy (import) ─► rib::RibState
//!   kernel, Kubernetes)          │  rib::decision (RFC 4271 §9.1)          (Loc-RIB, Adj-RIB-In)
//!                                │  rib::groups + rib::out: export rules, policy (export),
//!                                │  Adj-RIB-Out once per update group, wire::pack_* encoding
//!                                ▼
//!                  Output::Send(bytes) per peer, timers via poll_timeout
//! ```
//!
//! The modules:
//! - [`wire`]: the message codec. RFC 4271 (messages), RFC 4760 (multiprotocol),
//!   RFC 2918 and RFC 7313 (route refresh, enhanced), RFC 5492 (capabilities),
//!   RFC 6793 (4-octet AS with the AS4_PATH merge), RFC 7911 (ADD-PATH), RFC 8654
//!   (extended messages), RFC 9072 (extended optional parameters), RFC 8950
//!   (IPv6 next hop for IPv4), RFC 4724 and RFC 8538 (graceful restart capability,
//!   Hard Reset), long-lived graceful restart, RFC 1997, RFC 4360, RFC 8092
//!   (communities), RFC 4456 (reflection attributes), RFC 9003 (shutdown
//!   communication), and RFC 7606 (revised UPDATE error handling) throughout.
//! - [`fsm`]: one neighbor's session (RFC 4271 §8): collision detection, capability
//!   negotiation, timers, backoff; sans-IO, its driver contract at its top.
//! - [`rib`]: the routing table ([`rib::RibState`]), the decision process, export
//!   and reflection (RFC 4456), update groups, and [`rib::engine::Engine`], which owns
//!   all of it with the peers' routing state, graceful restart in both roles (RFC
//!   4724), MRAI, max-prefix (RFC 4486) and route refresh; sans-IO, its driver
//!   contract at its top.
//! - [`bfd`]: BFD (RFC 5880 asynchronous mode, RFC 5881 single hop): the control
//!   packet codec, one session's state machine, and the timer wheel the daemon's BFD
//!   task sleeps on; sans-IO.
//! - [`policy`]: prefix lists and policies, compiled from the configuration; RFC 8212
//!   defaults.
//! - [`attrs`]: interned path attribute sets, one id per distinct set.
//! - [`config`]: the TOML configuration, validated whole, with errors naming file,
//!   line and key.
//! - [`ctl`]: the control socket's requests and replies (JSON lines).
//! - [`kernel`] and [`kubernetes`]: what the daemon reads from the kernel and from the
//!   Kubernetes API server, as the engine's local sources see it.
//! - [`prefix`] and [`types`]: compact prefix keys and address families.
//!
//! Words: a *neighbor* is what the configuration and `bgpctl` name (an address, or a
//! `neighbor_range`); a *peer* is a neighbor at run time (its task, its FSM, its
//! routing state, named by a [`rib::engine::PeerId`] inside the engine); a *session*
//! is one Established connection of a peer.

pub mod attrs;
pub mod bfd;
pub mod config;
pub mod ctl;
pub mod fsm;
pub mod kernel;
pub mod kubernetes;
mod names;
pub mod policy;
pub mod prefix;
pub mod rib;
#[doc(hidden)]
pub mod testkit;
pub mod types;
pub mod wire;
