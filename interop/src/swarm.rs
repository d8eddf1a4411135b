//! A load client: many BGP sessions against one speaker, each from its own source
//! address, each driven by bgp-core's own state machine (`bgp_core::fsm::Peer`) and
//! codec. A session connects, exchanges OPEN and KEEPALIVE, then only keeps the hold
//! timer fed; it announces nothing. Sessions that go down are retried by the FSM.
//!
//! One tokio task per session and one connection at a time (the swarm never listens,
//! so there are no collisions). Run it through `bgp-swarm` (src/bin/bgp-swarm.rs)
//! inside the namespace that holds the source addresses.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_core::fsm::{ConnId, Input, Output, Peer, PeerConfig, SessionEvent};
use bgp_core::wire::{self, CodecCtx};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// The speaker under test.
    pub target: SocketAddr,
    /// One session per source address.
    pub sources: Vec<IpAddr>,
    pub local_as: u32,
    pub remote_as: u32,
    /// Hold time proposed in our OPENs.
    pub hold_time: u16,
}

/// Shared counters, read by whoever reports progress.
#[derive(Debug, Default)]
pub struct Counters {
    /// Sessions Established right now.
    pub established: AtomicU64,
    /// Times any session reached Established.
    pub established_total: AtomicU64,
    /// Established sessions that went down.
    pub downs: AtomicU64,
    pub connect_failures: AtomicU64,
    /// Sessions ended by a NOTIFICATION before Established (e.g. the range was full).
    pub refused: AtomicU64,
}

impl Counters {
    pub fn report(&self) -> String {
        format!(
            "established {}\nestablished_total {}\ndowns {}\nconnect_failures {}\nrefused {}\n",
            self.established.load(Ordering::Relaxed),
            self.established_total.load(Ordering::Relaxed),
            self.downs.load(Ordering::Relaxed),
            self.connect_failures.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}

/// Runs every session until the process ends.
pub async fn run(cfg: SwarmConfig, counters: Arc<Counters>) {
    let cfg = Arc::new(cfg);
    let tasks: Vec<_> =
        (0..cfg.sources.len()).map(|i| tokio::spawn(session(cfg.clone(), i, counters.clone()))).collect();
    for t in tasks {
        let _ = t.await;
    }
}

struct Conn {
    id: ConnId,
    stream: TcpStream,
    buf: BytesMut,
}

enum Event {
    Read(io::Result<usize>),
    Timer,
}

async fn connect(src: IpAddr, target: SocketAddr) -> io::Result<TcpStream> {
    let socket = if target.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(src, 0))?;
    socket.set_nodelay(true)?;
    tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(target))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
}

async fn session(cfg: Arc<SwarmConfig>, index: usize, counters: Arc<Counters>) {
    let src = cfg.sources[index];
    let router_id = match src {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => Ipv4Addr::from(0x0a00_0001 + index as u32),
    };
    let mut pc = PeerConfig::new(cfg.local_as, router_id, cfg.remote_as);
    pc.hold_time = cfg.hold_time;
    pc.connect_retry = Duration::from_secs(1);
    pc.connect_retry_max = Duration::from_secs(4);
    let mut peer = Peer::new(pc);
    let mut conn: Option<Conn> = None;
    let mut next_id = 0;
    // Framing accepts the extended size; the decoder checks the negotiated limit.
    let framing = CodecCtx { extended_message: true, ..CodecCtx::default() };
    peer.handle(Input::Start, Instant::now());
    loop {
        while let Some(out) = peer.poll_output() {
            match out {
                Output::Connect => match connect(src, cfg.target).await {
                    Ok(stream) => {
                        next_id += 1;
                        let id = ConnId(next_id);
                        conn = Some(Conn { id, stream, buf: BytesMut::with_capacity(4096) });
                        peer.handle(Input::Connected(id), Instant::now());
                    }
                    Err(_) => {
                        counters.connect_failures.fetch_add(1, Ordering::Relaxed);
                        peer.handle(Input::ConnectFailed, Instant::now());
                    }
                },
                Output::AbortConnect | Output::Deliver(_) => {}
                Output::Send(id, msg) => {
                    if let Some(c) = conn.as_mut().filter(|c| c.id == id) {
                        if let Ok(bytes) = msg.to_bytes(&peer.tx_ctx(id)) {
                            // A failed write shows up as a failed read next; one that
                            // went through is progress for the send hold timer.
                            if c.stream.write_all(&bytes).await.is_ok() {
                                peer.handle(Input::Written(id), Instant::now());
                            }
                        }
                    }
                }
                Output::Close(id) => {
                    if conn.as_ref().is_some_and(|c| c.id == id) {
                        conn = None;
                    }
                }
                Output::Established(..) => {
                    counters.established.fetch_add(1, Ordering::Relaxed);
                    counters.established_total.fetch_add(1, Ordering::Relaxed);
                }
                Output::Down { .. } => {
                    counters.established.fetch_sub(1, Ordering::Relaxed);
                    counters.downs.fetch_add(1, Ordering::Relaxed);
                }
                Output::Event(SessionEvent::NotificationReceived(_)) => {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                }
                Output::Event(_) => {}
            }
        }
        let sleep = tokio::time::sleep_until(match peer.poll_timeout() {
            Some(t) => tokio::time::Instant::from_std(t),
            None => tokio::time::Instant::now() + Duration::from_secs(3600),
        });
        let event = match conn.as_mut() {
            Some(c) => tokio::select! {
                r = c.stream.read_buf(&mut c.buf) => Event::Read(r),
                _ = sleep => Event::Timer,
            },
            None => {
                sleep.await;
                Event::Timer
            }
        };
        let now = Instant::now();
        match event {
            Event::Timer => peer.handle_timeout(now),
            Event::Read(Ok(0) | Err(_)) => {
                if let Some(c) = conn.take() {
                    peer.handle(Input::Closed(c.id), now);
                }
            }
            Event::Read(Ok(_)) => {
                let Some(c) = conn.as_mut() else { continue };
                let id = c.id;
                loop {
                    match wire::frame_len(&c.buf, &framing) {
                        Ok(Some(len)) if c.buf.len() >= len => {
                            let frame = c.buf.split_to(len).freeze();
                            match wire::decode_message(&frame, &peer.rx_ctx(id)) {
                                Ok(m) => peer.handle(Input::Message(id, m), now),
                                Err(e) => peer.handle(Input::DecodeError(id, e), now),
                            }
                        }
                        Ok(_) => break,
                        Err(e) => {
                            peer.handle(Input::DecodeError(id, e), now);
                            break;
                        }
                    }
                }
            }
        }
    }
}
