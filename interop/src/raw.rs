//! Raw BGP speakers for the hostile-peer tests: plain tokio sockets created in a
//! namespace, the OPEN/KEEPALIVE exchange done by hand with bgp-core's codec, and
//! then whatever misbehaviour the test wants (stop reading, never confirm, send
//! nothing at all).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp_core::types::Family;
use bgp_core::wire::{Capability, CodecCtx, Message, Open};
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::e2e::socket_in;

/// A TCP connection from `local` (in namespace `ns`) to `remote`, nothing sent.
/// `rcvbuf`, when set, is the socket's receive buffer (set before connecting, so the
/// window it announces stays that small).
pub async fn connect(ns: &str, local: &str, remote: SocketAddr, rcvbuf: Option<u32>) -> Result<TcpStream, String> {
    let local: Ipv4Addr = local.parse().map_err(|e| format!("{local}: {e}"))?;
    let socket = socket_in(ns).map_err(|e| format!("socket in {ns}: {e}"))?;
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size).map_err(|e| format!("SO_RCVBUF: {e}"))?;
    }
    socket.bind(SocketAddr::new(IpAddr::V4(local), 0)).map_err(|e| format!("bind {local}: {e}"))?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(remote))
        .await
        .map_err(|_| format!("connect to {remote} timed out"))?
        .map_err(|e| format!("connect to {remote}: {e}"))
}

/// The capabilities FRR offers on a plain IPv4 session that matter to update groups:
/// IPv4 unicast, 4-octet AS, extended messages (and route refresh).
pub fn frr_like_capabilities(asn: u32) -> Vec<Capability> {
    vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::RouteRefresh,
        Capability::ExtendedMessage,
        Capability::FourOctetAs(asn),
    ]
}

pub use crate::e2e::next_message as read_message;

/// Sends our OPEN (AS `asn`, identifier `id`, `hold_time`, `capabilities`) and reads
/// the daemon's OPEN; with `confirm`, exchanges the KEEPALIVEs too. Returns the
/// context to encode and decode with afterwards.
pub async fn handshake(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    asn: u32,
    id: &str,
    hold_time: u16,
    capabilities: Vec<Capability>,
    confirm: bool,
) -> Result<CodecCtx, String> {
    let open = Open {
        my_as: Open::my_as_field(asn),
        hold_time,
        router_id: id.parse().map_err(|e| format!("{id}: {e}"))?,
        capabilities,
    };
    let extended = open.capabilities.contains(&Capability::ExtendedMessage);
    write(stream, &Message::Open(open), &CodecCtx::default()).await?;
    let theirs = match read_message(stream, buf, &CodecCtx::default()).await? {
        Message::Open(o) => o,
        other => return Err(format!("expected OPEN, got {other:?}")),
    };
    let ctx = CodecCtx {
        four_octet_as: true,
        extended_message: extended && theirs.capabilities.contains(&Capability::ExtendedMessage),
        external: theirs.asn() != asn,
        ..CodecCtx::default()
    };
    if confirm {
        write(stream, &Message::Keepalive, &ctx).await?;
        match read_message(stream, buf, &ctx).await? {
            Message::Keepalive => {}
            other => return Err(format!("expected KEEPALIVE, got {other:?}")),
        }
    }
    Ok(ctx)
}

pub async fn write(stream: &mut TcpStream, message: &Message, ctx: &CodecCtx) -> Result<(), String> {
    let bytes = message.to_bytes(ctx).map_err(|e| e.to_string())?;
    stream.write_all(&bytes).await.map_err(|e| format!("write: {e}"))
}
