//! The operators' HTTP endpoints (`--http ADDR`, on axum): `/healthz` says
//! whether the store and the bus answer; `/metrics` is the Prometheus text
//! format. Kept apart from the web listener so metrics can stay private;
//! the web listener serves `/healthz` too, for load balancers.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::node::Node;

/// Serves the endpoints until `stop`.
pub async fn serve(listener: TcpListener, node: Node, stop: CancellationToken) {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(node);
    let done = stop.clone();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { done.cancelled().await })
        .await
    {
        tracing::warn!(error = %e, "admin listener stopped");
    }
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

async fn healthz(State(node): State<Node>) -> Response {
    health(&node).await
}

/// 200 when the store (and the bus, in a cluster) answer, else 503.
pub async fn health(node: &Node) -> Response {
    let store = tokio::time::timeout(Duration::from_secs(2), node.store.ping()).await;
    let store_ok = matches!(store, Ok(Ok(())));
    let bus_ok = node.router.bus().healthy().await;
    let word = |ok: bool| if ok { "ok" } else { "down" };
    let health = Health {
        store: word(store_ok),
        bus: bus_ok.map_or("none", word),
        sessions: node.router.hub().session_count(),
    };
    let status = if store_ok && bus_ok != Some(false) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = serde_json::to_string(&health).unwrap_or_default();
    body.push('\n');
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn metrics() -> Response {
    match crate::metrics::render() {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable\n",
        )
            .into_response(),
    }
}
