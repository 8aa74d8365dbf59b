//! The listeners' edge: what stands between the open network and the handlers. Every listener
//! caps its open connections (in all and per client address), closes a connection whose request
//! headers — or whose next request on an idle keep-alive — do not arrive in time, bounds every
//! request's body size and duration, and adds the security headers to every answer.
//!
//! `axum::serve` has none of the connection-level limits (no header-read timeout, no cap), so
//! connections are accepted here and handed to hyper's HTTP/1 server with a timer.
//!
//! The caps also protect the daemon's own work: a connection over a cap is closed at once, so
//! anonymous clients can hold at most `max_connections` descriptors per listener, and the
//! daemon checks at start that its listeners, probes and database pool fit within the process's
//! descriptor limit (see [`descriptor_budget`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::metrics::{EdgeLabels, ListenerLabels, Metrics};

/// The limits of one listener (from `[http]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub max_per_client: usize,
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
}

impl Limits {
    pub fn from_config(c: &crate::config::HttpConfig) -> Self {
        Limits {
            max_connections: c.max_connections,
            max_per_client: c.max_connections_per_client,
            header_read_timeout: Duration::from_secs(c.header_read_timeout_secs),
            request_timeout: Duration::from_secs(c.request_timeout_secs),
            max_body_bytes: c.max_body_bytes,
        }
    }
}

/// How long open connections may finish their request after shutdown before they are dropped.
const DRAIN: Duration = Duration::from_secs(3);

/// The headers every answer carries: no script, no framing, no sniffing, no referrer. The pages
/// are server-rendered with one inline stylesheet and inline SVG.
const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CACHE_CONTROL, "no-store"),
];

/// `app` with the per-request limits (body size, duration) and the security headers.
pub fn guard(app: Router, limits: Limits) -> Router {
    let timeout = limits.request_timeout;
    app.layer(middleware::from_fn(move |req: Request, next: Next| {
        bounded(timeout, req, next)
    }))
    .layer(DefaultBodyLimit::max(limits.max_body_bytes))
    .layer(middleware::from_fn(security_headers))
}

/// An error answer of the edge, shaped as the API's (`{"error": "<reason>"}`).
#[derive(serde::Serialize)]
struct Reason {
    error: String,
}

async fn bounded(timeout: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(Reason {
                error: format!(
                    "the request did not complete within {} s (http.request_timeout_secs)",
                    timeout.as_secs()
                ),
            }),
        )
            .into_response(),
    }
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

/// Open connections per client address, released when a connection's guard drops.
#[derive(Default)]
struct PerClient(Mutex<HashMap<IpAddr, usize>>);

struct ClientSlot {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = t.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut t = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = t.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.remove(&self.ip);
            }
        }
    }
}

/// An accepted connection's two slots, held until it closes.
struct Admitted {
    _total: OwnedSemaphorePermit,
    _client: ClientSlot,
}

/// Serves `app` (already [`guard`]ed) on `listener` until `cancel`, then lets open requests
/// finish for a few seconds and drops what is left.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    app: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let total = Arc::new(Semaphore::new(limits.max_connections));
    let clients = Arc::new(PerClient::default());
    let graceful = GracefulShutdown::new();
    let refused = |reason: &'static str| {
        metrics
            .guards
            .http_connections_refused
            .get_or_create(&EdgeLabels {
                listener: name.into(),
                reason: reason.into(),
            })
            .inc();
    };
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = cancel.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (or a connection reset before accept): wait a little
                // instead of spinning; the caps keep this from starving the daemon's own work.
                refused("accept_error");
                tracing::warn!(listener = name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = admit(&total, &clients, peer, limits, &refused) else {
            drop(stream);
            continue;
        };
        let conn = connection(stream, app.clone(), limits);
        let conn = graceful.watch(conn);
        let open = metrics
            .guards
            .http_connections_open
            .get_or_create(&ListenerLabels {
                listener: name.into(),
            })
            .clone();
        open.inc();
        tokio::spawn(async move {
            // Errors here are the client's (reset, header timeout, malformed request).
            if let Err(e) = conn.await {
                tracing::debug!(listener = name, %peer, error = %e, "connection closed");
            }
            open.dec();
            drop(admitted);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => {
            tracing::info!(listener = name, "connections still open after {} s of shutdown were dropped", DRAIN.as_secs());
        }
    }
    Ok(())
}

fn admit(
    total: &Arc<Semaphore>,
    clients: &Arc<PerClient>,
    peer: SocketAddr,
    limits: Limits,
    refused: &impl Fn(&'static str),
) -> Option<Admitted> {
    let Ok(permit) = total.clone().try_acquire_owned() else {
        refused("max_connections");
        return None;
    };
    let Some(slot) = clients.take(peer.ip(), limits.max_per_client) else {
        refused("max_connections_per_client");
        return None;
    };
    Some(Admitted {
        _total: permit,
        _client: slot,
    })
}

fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
) -> hyper::server::conn::http1::Connection<TokioIo<TcpStream>, TowerToHyperService<Router>> {
    let _ = stream.set_nodelay(true);
    hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // Also the wait for the next request on a keep-alive connection: an idle client is
        // closed after this time.
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
}

/// Raises the soft descriptor limit to the hard one and checks that what the daemon may hold
/// open at once — every listener's connection cap, the probe concurrency, the database pool and
/// a reserve for the chain client, logs and files — fits. Returns the limit.
pub fn descriptor_budget(c: &crate::config::Config) -> anyhow::Result<u64> {
    let limit = raise_nofile_limit();
    let listeners =
        usize::from(c.http.enabled) + usize::from(c.web.enabled && c.web.listen.is_some());
    let probes = if c
        .uptime
        .sources
        .contains(&crate::config::UptimeSource::Probe)
    {
        c.uptime.probe.concurrency
    } else {
        0
    };
    let needed = (listeners * c.http.max_connections
        + probes
        + c.database.max_connections as usize
        + RESERVED_DESCRIPTORS) as u64;
    if let Some(limit) = limit
        && needed > limit
    {
        anyhow::bail!(
            "the descriptor limit ({limit}, ulimit -n / LimitNOFILE) is below what the daemon may hold open: {needed} = {listeners} listener(s) × http.max_connections {} + uptime.probe.concurrency {probes} + database.max_connections {} + {RESERVED_DESCRIPTORS} reserved; raise the limit or lower http.max_connections",
            c.http.max_connections,
            c.database.max_connections,
        );
    }
    Ok(limit.unwrap_or(u64::MAX))
}

/// Descriptors kept for the chain client, logs, the lease connection and files.
const RESERVED_DESCRIPTORS: usize = 64;

/// The soft `RLIMIT_NOFILE` after raising it to the hard limit; `None` where unknown.
#[cfg(unix)]
fn raise_nofile_limit() -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return None;
        }
        if r.rlim_cur < r.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                r = raised;
            }
        }
    }
    Some(r.rlim_cur)
}

#[cfg(not(unix))]
fn raise_nofile_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_client_slots_are_released() {
        let t = Arc::new(PerClient::default());
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let a = t.take(ip, 2).unwrap();
        let _b = t.take(ip, 2).unwrap();
        assert!(
            t.take(ip, 2).is_none(),
            "a third connection is over the cap"
        );
        assert!(t.take("127.0.0.3".parse().unwrap(), 2).is_some());
        drop(a);
        assert!(
            t.take(ip, 2).is_some(),
            "a closed connection frees its slot"
        );
    }
}
