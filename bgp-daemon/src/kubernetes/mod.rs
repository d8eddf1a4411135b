//! The Kubernetes client (the `kubernetes` cargo feature): where the API server is
//! ([`client`]), the watchers feeding the RIB task ([`watch`]), API objects to the
//! planner's ([`convert`]) and what `bgpctl show kubernetes` shows ([`status`]).

pub mod client;
pub mod convert;
pub mod status;
pub mod watch;
