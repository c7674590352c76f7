//! The operator's HTTP endpoints (`--http ADDR`): `/healthz` says whether
//! the store and the bus answer; `/metrics` is the Prometheus text format.
//!
//! A deliberately small HTTP/1.1 responder: GET only, one request per
//! connection, bounded request size and time.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::node::Node;

/// The process's metrics recorder. The `metrics` facade is process-wide by
/// design, so this is the one global: nodes in one process share it.
static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once; returns its handle.
pub fn recorder() -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let buckets = [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0,
            ];
            let builder = PrometheusBuilder::new().set_buckets(&buckets).ok()?;
            match builder.install_recorder() {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// Serves the endpoints until `stop`.
pub async fn serve(listener: TcpListener, node: Node, stop: CancellationToken) {
    let handle = recorder();
    if let Some(h) = handle.clone() {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => h.run_upkeep(),
                }
            }
        });
    }
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let node = node.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(Duration::from_secs(10), answer(stream, node, handle)).await;
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    node: Node,
    handle: Option<PrometheusHandle>,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 8192 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/healthz") => health(&node).await,
        ("GET", "/metrics") => match handle {
            Some(h) => ("200 OK", "text/plain; version=0.0.4", h.render()),
            None => (
                "503 Service Unavailable",
                "text/plain",
                "metrics recorder unavailable\n".into(),
            ),
        },
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The body of `/healthz`.
#[derive(serde::Serialize)]
struct Health {
    /// `ok` or `down`.
    store: &'static str,
    /// `ok`, `down`, or `none` (a single node has no bus to ask).
    bus: &'static str,
    /// Logged-in sessions on this node.
    sessions: usize,
}

async fn health(node: &Node) -> (&'static str, &'static str, String) {
    let store = tokio::time::timeout(Duration::from_secs(2), node.store.ping()).await;
    let store_ok = matches!(store, Ok(Ok(())));
    let bus_ok = node.router.bus().healthy().await;
    let word = |ok: bool| if ok { "ok" } else { "down" };
    let health = Health {
        store: word(store_ok),
        bus: bus_ok.map_or("none", word),
        sessions: node.router.hub().session_count(),
    };
    let mut body = serde_json::to_string(&health).unwrap_or_default();
    body.push('\n');
    if store_ok && bus_ok != Some(false) {
        ("200 OK", "application/json", body)
    } else {
        ("503 Service Unavailable", "application/json", body)
    }
}
