//! The Prometheus endpoint (`global.metrics_listen`, off by default): `GET /metrics`
//! over HTTP/1.1 (hyper), in the text format of the official Rust client
//! (`prometheus-client`, OpenMetrics text).
//!
//! ```text
//!  HTTP connection task ──(Scrape: oneshot)──► supervisor ──spawns──► gather task
//!        ▲                                                            │ PeerCmd::Metrics (try_send)
//!        │                                                            │ RibInput::Metrics
//!        │                                                            │ BfdHandle::status
//!        └────────────────────(Snapshot)──────────────────────────────┘
//! ```
//!
//! A scrape reads what `bgpctl show neighbors` and `show summary` read (the peer
//! tasks' counters and the engine's counts), as typed snapshots rendered here. It
//! never stalls the daemon: the supervisor only clones the neighbors' queues and
//! hands the asking to a task of its own; a neighbor whose queue is full is left out
//! and one that does not answer within [`GATHER_TIMEOUT`] too, as are the RIB and
//! the BFD task (`bgpd_scrape_missing` counts what was left out); the engine answers
//! from counts kept as routes change, without walking the table. Nothing holds a lock.
//!
//! Every metric is documented in the README ("Metrics"); names follow frr_exporter's
//! and GoBGP's where they fit (`peer`/`peer_as` labels, `afi`/`safi`, session state
//! 1..6 as GoBGP's `gobgp_peer_session_state`), with the prefix `bgpd_`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bgp_core::ctl::{BfdSessionRow, MessageCounters, NeighborDetail, NeighborSummary, SessionState};
use bgp_core::fsm::{ByCause, NotificationCounts};
use bgp_core::rib::metrics::RibMetrics;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// How long the neighbors and the RIB have to answer one scrape, in all (Prometheus'
/// default scrape timeout is 10 s).
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a scrape waits for the supervisor to hand it a snapshot.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Concurrent HTTP connections; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 8;
/// A connection that has sent no complete request for this long is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// One scrape's request to the supervisor.
pub struct Scrape {
    pub reply: oneshot::Sender<Snapshot>,
}

/// One neighbor's part of a snapshot, from its task.
#[derive(Clone, Debug)]
pub struct PeerMetrics {
    pub detail: NeighborDetail,
    pub notifications: NotificationCounts,
    /// Seconds Established; `None` when not Established.
    pub established_seconds: Option<u64>,
}

/// Everything one scrape shows.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub peers: Vec<PeerMetrics>,
    /// Neighbors without a task that are still shown (remembered dynamic neighbors).
    pub idle: Vec<NeighborSummary>,
    /// `None`: the RIB did not answer in time.
    pub rib: Option<RibMetrics>,
    /// Every BFD session; `None`: the BFD task did not answer in time.
    pub bfd: Option<Vec<BfdSessionRow>>,
    pub rss_bytes: u64,
    /// Neighbors that were asked but did not answer in time (or were too busy).
    pub peers_missing: u64,
}

/// A running endpoint; dropping it does not stop it, [`Endpoint::stop`] does.
pub struct Endpoint {
    task: JoinHandle<()>,
}

impl Endpoint {
    /// Binds `address` (an error leaves nothing running) and serves scrapes, asking
    /// `scrapes` (the supervisor) for each one.
    pub async fn start(address: SocketAddr, scrapes: mpsc::Sender<Scrape>) -> std::io::Result<Endpoint> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        info!(%address, "metrics endpoint listening (GET /metrics)");
        let task = tokio::spawn(serve(listener, scrapes));
        Ok(Endpoint { task })
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, scrapes: mpsc::Sender<Scrape>) {
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(error = %e, "metrics endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let scrapes = scrapes.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| handle(req, scrapes.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            // A whole connection is bounded too: a client that reads nothing is dropped.
            match tokio::time::timeout(Duration::from_secs(60), conn).await {
                Ok(Err(e)) => debug!(%remote, error = %e, "metrics connection"),
                Err(_) => debug!(%remote, "metrics connection: closed after 60 s"),
                Ok(Ok(())) => {}
            }
        });
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    scrapes: mpsc::Sender<Scrape>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r
    };
    if req.uri().path() != "/metrics" {
        return Ok(reply(StatusCode::NOT_FOUND, "not found: the metrics are at /metrics\n".into()));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n".into()));
    }
    let (tx, rx) = oneshot::channel();
    if scrapes.try_send(Scrape { reply: tx }).is_err() {
        return Ok(reply(StatusCode::SERVICE_UNAVAILABLE, "bgp-daemon is busy: try again\n".into()));
    }
    let snapshot = match tokio::time::timeout(SCRAPE_TIMEOUT, rx).await {
        Ok(Ok(s)) => s,
        _ => return Ok(reply(StatusCode::SERVICE_UNAVAILABLE, "bgp-daemon did not answer in time\n".into())),
    };
    let mut r = reply(StatusCode::OK, render(&snapshot));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(r)
}

type Labels = Vec<(&'static str, String)>;

/// Builds the registry of one scrape from rows of (labels, value).
struct Out {
    registry: Registry,
}

impl Out {
    fn gauge(&mut self, name: &str, help: &str, rows: impl IntoIterator<Item = (Labels, u64)>) {
        let family = Family::<Labels, Gauge>::default();
        for (labels, value) in rows {
            family.get_or_create(&labels).set(i64::try_from(value).unwrap_or(i64::MAX));
        }
        self.registry.register(name, help, family);
    }

    /// `name` without `_total`: the encoder appends it.
    fn counter(&mut self, name: &str, help: &str, rows: impl IntoIterator<Item = (Labels, u64)>) {
        let family = Family::<Labels, Counter>::default();
        for (labels, value) in rows {
            family.get_or_create(&labels).inc_by(value);
        }
        self.registry.register(name, help, family);
    }
}

/// GoBGP's numbering of the session states (`gobgp_peer_session_state`).
fn state_number(state: SessionState) -> u64 {
    match state {
        SessionState::Idle => 1,
        SessionState::Connect => 2,
        SessionState::Active => 3,
        SessionState::OpenSent => 4,
        SessionState::OpenConfirm => 5,
        SessionState::Established => 6,
    }
}

/// RFC 5880 §4.1's numbers of the states `BfdSessionRow` names.
fn bfd_state_number(state: &str) -> Option<u64> {
    match state {
        "AdminDown" => Some(0),
        "Down" => Some(1),
        "Init" => Some(2),
        "Up" => Some(3),
        _ => None,
    }
}

fn by_type(c: &MessageCounters) -> [(&'static str, u64); 5] {
    [
        ("open", c.open),
        ("update", c.update),
        ("notification", c.notification),
        ("keepalive", c.keepalive),
        ("route_refresh", c.route_refresh),
    ]
}

fn by_cause(p: &PeerMetrics, sent: bool) -> &ByCause {
    if sent {
        &p.notifications.sent
    } else {
        &p.notifications.received
    }
}

const AFIS: [(&str, &str); 2] = [("ipv4", "unicast"), ("ipv6", "unicast")];

/// The text Prometheus reads.
pub fn render(s: &Snapshot) -> String {
    let mut out = Out { registry: Registry::default() };
    let peer =
        |n: &NeighborSummary| -> Labels { vec![("peer", n.address.to_string()), ("peer_as", n.asn.to_string())] };
    let with = |mut l: Labels, more: &[(&'static str, &str)]| {
        l.extend(more.iter().map(|(k, v)| (*k, v.to_string())));
        l
    };
    let summaries: Vec<&NeighborSummary> = s.peers.iter().map(|p| &p.detail.summary).chain(&s.idle).collect();

    out.gauge(
        "bgpd_peer_up",
        "1 while the session is Established, else 0",
        summaries.iter().map(|n| (peer(n), u64::from(n.state == SessionState::Established))),
    );
    out.gauge(
        "bgpd_peer_state",
        "Session state: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established",
        summaries.iter().map(|n| (peer(n), state_number(n.state))),
    );
    out.gauge(
        "bgpd_peer_admin_down",
        "1 while the neighbor is administratively down (shutdown)",
        summaries.iter().map(|n| (peer(n), u64::from(n.admin_down))),
    );
    out.gauge(
        "bgpd_peer_drained",
        "1 while the neighbor is drained (RFC 8326 graceful shutdown: bgpctl drain)",
        summaries.iter().map(|n| (peer(n), u64::from(n.drained))),
    );
    out.gauge(
        "bgpd_peer_uptime_seconds",
        "Seconds the session has been Established, 0 when it is not",
        s.peers.iter().map(|p| (peer(&p.detail.summary), p.established_seconds.unwrap_or(0))),
    );
    out.counter(
        "bgpd_peer_messages_received",
        "BGP messages received, by type",
        s.peers
            .iter()
            .flat_map(|p| by_type(&p.detail.received).map(|(t, v)| (with(peer(&p.detail.summary), &[("type", t)]), v))),
    );
    out.counter(
        "bgpd_peer_messages_sent",
        "BGP messages sent, by type",
        s.peers
            .iter()
            .flat_map(|p| by_type(&p.detail.sent).map(|(t, v)| (with(peer(&p.detail.summary), &[("type", t)]), v))),
    );
    // The engine counts a peer's routes by family; the peer task knows the totals.
    let routes: BTreeMap<IpAddr, [u64; 2]> = s
        .rib
        .iter()
        .flat_map(|r| &r.sources)
        .filter_map(|src| Some((src.peer?, [src.routes.ipv4, src.routes.ipv6])))
        .collect();
    // Refused routes are not kept: what is received is what was accepted (as
    // `bgpctl show neighbors`), so both gauges show the same counts.
    let per_afi = || {
        s.peers.iter().flat_map(|p| {
            let n = &p.detail.summary;
            let counts = routes.get(&n.address).copied().unwrap_or_default();
            AFIS.iter().zip(counts).map(move |(&(afi, safi), v)| (with(peer(n), &[("afi", afi), ("safi", safi)]), v))
        })
    };
    out.gauge("bgpd_peer_prefixes_received", "Prefixes received from the peer and held, by family", per_afi());
    out.gauge("bgpd_peer_prefixes_accepted", "Prefixes from the peer its import policy accepted, by family", per_afi());
    let advertised: BTreeMap<IpAddr, [u64; 2]> =
        s.rib.iter().flat_map(|r| &r.advertised).map(|(a, c)| (*a, [c.ipv4, c.ipv6])).collect();
    out.gauge(
        "bgpd_peer_prefixes_advertised",
        "Prefixes the peer holds from us, by family",
        s.peers.iter().flat_map(|p| {
            let n = &p.detail.summary;
            let counts = advertised.get(&n.address).copied().unwrap_or_default();
            AFIS.iter().zip(counts).map(move |(&(afi, safi), v)| (with(peer(n), &[("afi", afi), ("safi", safi)]), v))
        }),
    );
    let notifications = |sent: bool| {
        s.peers.iter().flat_map(move |p| {
            by_cause(p, sent).by_code.iter().map(move |(&(code, subcode), &v)| {
                let l =
                    with(peer(&p.detail.summary), &[("code", &code.to_string()), ("subcode", &subcode.to_string())]);
                (l, v)
            })
        })
    };
    out.counter(
        "bgpd_peer_notifications_sent",
        "NOTIFICATIONs sent, by error code and subcode of the cause (RFC 4271 §4.5; a Hard Reset under the one it carries)",
        notifications(true),
    );
    out.counter(
        "bgpd_peer_notifications_received",
        "NOTIFICATIONs received, by error code and subcode of the cause (a Hard Reset under the one it carries)",
        notifications(false),
    );
    let hard_resets = |sent: bool| {
        s.peers.iter().flat_map(move |p| {
            let direction = if sent { "sent" } else { "received" };
            let n = by_cause(p, sent).hard_resets;
            (n > 0).then(|| (with(peer(&p.detail.summary), &[("direction", direction)]), n))
        })
    };
    out.counter(
        "bgpd_peer_hard_resets",
        "NOTIFICATIONs sent or received as Hard Reset (RFC 8538): graceful restart state ends",
        hard_resets(true).chain(hard_resets(false)),
    );
    out.counter(
        "bgpd_peer_established",
        "Times the session reached Established",
        s.peers.iter().map(|p| (peer(&p.detail.summary), p.detail.sessions_established)),
    );
    out.counter(
        "bgpd_peer_flaps",
        "Times an Established session went down",
        s.peers.iter().map(|p| {
            let up = u64::from(p.detail.summary.state == SessionState::Established);
            (peer(&p.detail.summary), p.detail.sessions_established.saturating_sub(up))
        }),
    );
    out.gauge(
        "bgpd_peer_out_queue_messages",
        "Messages waiting to be written to the peer",
        s.peers.iter().map(|p| (peer(&p.detail.summary), p.detail.summary.out_queue)),
    );

    if let Some(r) = &s.rib {
        let mut by_source: BTreeMap<&str, [u64; 2]> =
            ["peer", "static", "kernel", "kubernetes"].into_iter().map(|k| (k, [0, 0])).collect();
        for src in &r.sources {
            let c = by_source.entry(src.kind).or_default();
            c[0] += src.routes.ipv4;
            c[1] += src.routes.ipv6;
        }
        out.gauge(
            "bgpd_source_routes",
            "Paths in the RIB by source (peer: all peers together) and family",
            by_source.iter().flat_map(|(kind, counts)| {
                AFIS.iter().zip(*counts).map(move |(&(afi, safi), v)| {
                    (vec![("source", kind.to_string()), ("afi", afi.into()), ("safi", safi.into())], v)
                })
            }),
        );
        let afi = |afi: &str| -> Labels { vec![("afi", afi.into()), ("safi", "unicast".into())] };
        out.gauge(
            "bgpd_rib_prefixes",
            "Prefixes in the RIB (with at least one path), by family",
            [(afi("ipv4"), r.prefixes.ipv4), (afi("ipv6"), r.prefixes.ipv6)],
        );
        out.gauge("bgpd_rib_attribute_sets", "Distinct interned path attribute sets", [(vec![], r.attribute_sets)]);
        out.gauge("bgpd_rib_attribute_refs", "References routes hold to attribute sets", [(vec![], r.attribute_refs)]);
        let f = &r.fib;
        out.gauge(
            "bgpd_fib_routes_installed",
            "Routes of ours in the kernel (or being written)",
            [(vec![], f.installed)],
        );
        out.gauge("bgpd_fib_routes_failed", "Routes the kernel refused, held to be tried again", [(vec![], f.refused)]);
        out.gauge(
            "bgpd_fib_routes_partial",
            "Routes installed without some of their next hops (the kernel refused those)",
            [(vec![], f.partial)],
        );
        out.gauge(
            "bgpd_fib_queue_routes",
            "Routes waiting to be written to the kernel or awaiting its answer",
            [(vec![], f.queued + f.in_flight)],
        );
        out.counter("bgpd_fib_writes", "Route writes the kernel answered", [(vec![], f.writes)]);
        out.counter("bgpd_fib_write_failures", "Route writes the kernel refused", [(vec![], f.failures)]);
        out.gauge("bgpd_fib_memory_bytes", "Bytes of the FIB writer's own state", [(vec![], f.memory_bytes)]);
    }
    if let Some(rows) = &s.bfd {
        let bfd_peer = |r: &BfdSessionRow| -> Labels { vec![("peer", r.peer.to_string())] };
        out.gauge(
            "bgpd_bfd_session_up",
            "1 while the BFD session is Up, else 0",
            rows.iter().map(|r| (bfd_peer(r), u64::from(r.state == "Up"))),
        );
        out.gauge(
            "bgpd_bfd_session_state",
            "BFD session state as RFC 5880 §4.1 numbers it: 0 AdminDown, 1 Down, 2 Init, 3 Up",
            rows.iter().filter_map(|r| Some((bfd_peer(r), bfd_state_number(&r.state)?))),
        );
        out.counter(
            "bgpd_bfd_packets_received",
            "BFD control packets received for the session",
            rows.iter().map(|r| (bfd_peer(r), r.packets_in)),
        );
        out.counter(
            "bgpd_bfd_packets_sent",
            "BFD control packets sent",
            rows.iter().map(|r| (bfd_peer(r), r.packets_out)),
        );
        out.counter(
            "bgpd_bfd_packets_dropped",
            "BFD packets for the session dropped (bad TTL, failed checks)",
            rows.iter().map(|r| (bfd_peer(r), r.packets_dropped)),
        );
        out.gauge(
            "bgpd_bfd_detection_time_milliseconds",
            "How long without a packet from the peer before the BFD session goes down",
            rows.iter().map(|r| (bfd_peer(r), r.detection_time_ms)),
        );
    }
    out.gauge(
        "bgpd_scrape_missing",
        "Parts left out of this scrape because they did not answer in time (part: rib, bfd, or peers: how many)",
        [
            (vec![("part", "rib".to_string())], u64::from(s.rib.is_none())),
            (vec![("part", "bfd".to_string())], u64::from(s.bfd.is_none())),
            (vec![("part", "peers".into())], s.peers_missing),
        ],
    );
    out.gauge(
        "process_resident_memory_bytes",
        "Resident memory of bgp-daemon (VmRSS), most of it the RIB",
        [(vec![], s.rss_bytes)],
    );
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &out.registry);
    text
}
