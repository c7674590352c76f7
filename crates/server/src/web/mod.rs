//! The web listener (`--web`, on axum): the web client at `/` (files
//! embedded in the binary, [`assets`]), the WebSocket transport at `/ws`
//! ([`ws`]), and `/healthz` for load balancers. With a certificate it
//! speaks HTTPS and WSS.
//!
//! WebSocket sessions are ordinary sessions: they count against the
//! connection limit, live in the same task tracker (so shutdown waits for
//! them), and run the same session code as TCP. A page from another origin
//! is refused unless `--web-origin` allows it.

pub mod assets;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::node::Node;
use crate::tls::Tls;

/// The least the WebSocket library is allowed to buffer for one message.
const WS_LIBRARY_LIMIT: usize = 16 * 1024 * 1024;

/// How much the WebSocket library reads from the socket at a time. Its
/// default, 128 KiB, is zero-filled before every read, which showed as the
/// top symbol of a WebSocket profile (a chat read brings ~100 bytes);
/// longer messages are still read whole, over several reads.
const WS_READ_CHUNK: usize = 8 * 1024;

/// What every web request sees.
#[derive(Clone)]
struct Web {
    node: Node,
    /// The connection limit shared with the TCP listener.
    slots: Arc<Semaphore>,
    /// Sessions live here, beside the TCP ones, so shutdown waits for them.
    tracker: TaskTracker,
    shutdown: CancellationToken,
    /// Origins allowed besides the listener's own.
    origins: Arc<Vec<String>>,
    /// Whether pages come over HTTPS.
    secure: bool,
}

/// The web listener, bound and ready.
pub struct WebServer {
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
}

impl WebServer {
    pub async fn bind(addr: &str, tls: Option<Arc<Tls>>) -> anyhow::Result<WebServer> {
        use anyhow::Context;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for the web"))?;
        Ok(WebServer { listener, tls })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address to open in a browser.
    pub fn url(&self) -> Option<String> {
        let addr = self.local_addr().ok()?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Some(format!("{scheme}://{addr}/"))
    }

    /// Serves until `shutdown` fires.
    pub async fn run(
        self,
        node: Node,
        slots: Arc<Semaphore>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) {
        let web = Web {
            origins: Arc::new(node.config.web_origin.clone()),
            secure: self.tls.is_some(),
            node,
            slots,
            tracker,
            shutdown: shutdown.clone(),
        };
        let app = Router::new()
            .route("/ws", get(websocket))
            .route(
                "/healthz",
                get(|State(web): State<Web>| async move { crate::admin::health(&web.node).await }),
            )
            .fallback(get(asset))
            .with_state(web.clone());
        let app = app.into_make_service_with_connect_info::<Peer>();
        let stop = shutdown.clone();
        let result = match self.tls {
            None => {
                axum::serve(self.listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
            }
            Some(tls) => {
                let listener = TlsListener {
                    tcp: self.listener,
                    tls,
                };
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "web listener stopped");
        }
    }
}

/// The address of a web client, plain or over TLS.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TcpListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// TLS connections on a TCP listener, for axum. A failed handshake is
/// logged and skipped.
struct TlsListener {
    tcp: TcpListener,
    tls: Arc<Tls>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, peer) = match self.tcp.accept().await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "web accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let handshake = self.tls.acceptor().accept(stream);
            match tokio::time::timeout(std::time::Duration::from_secs(10), handshake).await {
                Ok(Ok(tls)) => return (tls, peer),
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl Web {
    /// Whether a page from `origin` may open the WebSocket: the
    /// listener's own origin (the Host the browser asked for, on a
    /// loopback or named host) or one that `--web-origin` lists.
    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
            // Not a browser page: nothing to protect against.
            return true;
        };
        if self
            .origins
            .iter()
            .any(|o| o.trim_end_matches('/') == origin)
        {
            return true;
        }
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let scheme = if self.secure { "https" } else { "http" };
        origin == format!("{scheme}://{host}")
    }
}

async fn websocket(
    State(web): State<Web>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !web.origin_allowed(&headers) {
        tracing::info!(%peer, "websocket from a foreign origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    let Ok(permit) = web.slots.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is at its connection limit; try again later\n",
        )
            .into_response();
    };
    // The library's own limit sits well above ours, so an oversized frame
    // is read whole and answered with `frame_too_large` (and close 1009)
    // rather than cut off mid-message. It still bounds what one message
    // may cost.
    let limit = web
        .node
        .config
        .max_frame
        .saturating_mul(4)
        .max(WS_LIBRARY_LIMIT);
    let token = web.tracker.token();
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(WS_READ_CHUNK)
        .on_upgrade(move |socket| async move {
            crate::metrics::connection_opened();
            ws::serve(web.node, socket, peer, web.shutdown).await;
            crate::metrics::connection_closed();
            drop(permit);
            drop(token);
        })
}

async fn asset(uri: Uri) -> Response {
    match assets::find(uri.path()) {
        Some((ctype, body)) => (
            [
                (header::CONTENT_TYPE, ctype),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                     style-src 'self'; script-src 'self'; frame-ancestors 'none'",
                ),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
