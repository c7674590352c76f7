//! The listeners: TCP (plain or TLS) and, beside it, the web listener and
//! the operators' one. Accepts connections up to the limit, runs a session
//! for each, and shuts down in order: stop accepting, let sessions answer
//! what they have read, flush the writer, close the store.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use tokio::sync::mpsc;

use crate::auth::Passwords;
use crate::cache::RelCache;
use crate::cluster::local::LocalBus;
use crate::cluster::redis::RedisBus;
use crate::cluster::{Bus, ClusterEvent, slots};
use crate::config::Config;
use crate::hub::Hub;
use crate::ids::{IdGen, now_ms};
use crate::node::Node;
use crate::router::Router;
use crate::store::{MessageStore, SqlStore, Store, StoreOptions};
use crate::tls::Tls;
use crate::web::WebServer;
use crate::writer::Writer;

/// Users' friend lists and groups' member lists kept in memory.
const RELATION_CACHE: usize = 200_000;

/// A bound, ready node.
pub struct Server {
    listener: TcpListener,
    http: Option<TcpListener>,
    web: Option<WebServer>,
    /// The certificate of both listeners, when TLS is on.
    tls: Option<Arc<Tls>>,
    node: Node,
    store: Arc<SqlStore>,
    writer_task: JoinHandle<()>,
    writer_stop: CancellationToken,
    /// Stops the background tasks: slot lease, bus, cluster events.
    background: CancellationToken,
    slot_task: JoinHandle<()>,
    events: mpsc::UnboundedReceiver<ClusterEvent>,
}

/// Who holds a node slot: unique per process start.
fn owner_name(config: &Config) -> String {
    let mut raw = [0u8; 6];
    let _ = getrandom::fill(&mut raw);
    let tag: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into());
    format!("{host}:{}:{tag}", config.port)
}

impl Server {
    /// Opens the store (running migrations), joins the cluster when Redis
    /// is configured, starts the writer and binds the listeners.
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        crate::metrics::install();
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(Arc::new(Tls::load(cert, key)?)),
            _ => None,
        };
        let opts = StoreOptions {
            sqlite_sync: config.sqlite_sync,
            pool_size: config.db_pool,
            verify_at_commit: config.bus_target().is_some(),
            ..StoreOptions::default()
        };
        let store = Arc::new(SqlStore::open(&config.db, &opts).await.with_context(|| {
            format!("cannot open the store {}", crate::store::redact(&config.db))
        })?);
        let dyn_store: Arc<dyn Store> = store.clone();
        let owner = owner_name(&config);
        let slot = slots::claim_slot(&*dyn_store, &owner).await?;
        let floor = store.max_message_id().await?;
        let ids = Arc::new(IdGen::new(slot, floor));
        let background = CancellationToken::new();
        let slot_task = tokio::spawn(slots::keep_slot(
            dyn_store.clone(),
            ids.clone(),
            owner,
            background.clone(),
        ));
        let hub = Arc::new(Hub::new());
        let cache = Arc::new(RelCache::new(RELATION_CACHE));
        let (events_tx, events) = mpsc::unbounded_channel();
        let bus: Arc<dyn Bus> = match config.bus_target() {
            None => Arc::new(LocalBus::new(hub.clone())),
            Some(target) => RedisBus::start(
                &target,
                &config.redis_prefix,
                slot,
                hub.clone(),
                cache.clone(),
                events_tx,
                background.clone(),
            )
            .await
            .with_context(|| format!("cannot reach the {target}"))?,
        };
        let router = Router::new(hub, bus, cache);
        let writer_stop = CancellationToken::new();
        let (writer, writer_task) = Writer::start(
            store.clone(),
            ids,
            router.clone(),
            config.write_batch,
            writer_stop.clone(),
        );
        let passwords = Passwords::new(
            config.argon2_memory_kib,
            config.argon2_passes,
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )?;
        let dummy_hash = passwords.hash("not anyone's password".into()).await?;
        let addr = format!("{}:{}", config.host, config.port);
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let http = match &config.http {
            None => None,
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .with_context(|| format!("cannot listen on {a} for http"))?,
            ),
        };
        let web = match config.web_addr() {
            None => None,
            Some(a) => Some(WebServer::bind(a, tls.clone()).await?),
        };
        let node = Node::new(config, dyn_store, router, writer, passwords, dummy_hash);
        Ok(Server {
            listener,
            http,
            web,
            tls,
            node,
            store,
            writer_task,
            writer_stop,
            background,
            slot_task,
            events,
        })
    }

    /// Where the server listens.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where the web listener listens, when enabled.
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web.as_ref().and_then(|w| w.local_addr().ok())
    }

    /// The web client's address, to open in a browser.
    pub fn web_url(&self) -> Option<String> {
        self.web.as_ref().and_then(WebServer::url)
    }

    /// The certificate holder, to reload on SIGHUP (when TLS is on).
    pub fn tls(&self) -> Option<Arc<Tls>> {
        self.tls.clone()
    }

    /// Where the HTTP endpoints listen, when enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The store's URL, without credentials.
    pub fn store_description(&self) -> &str {
        self.store.describe()
    }

    /// How this node routes: "in-process", "redis" or "redis-cluster".
    pub fn routing(&self) -> &'static str {
        self.node.router.bus().kind()
    }

    /// Serves until `shutdown` resolves, then stops gracefully.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Server {
            listener,
            http,
            web,
            tls,
            node,
            store,
            writer_task,
            writer_stop,
            background,
            slot_task,
            events,
        } = self;
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let slots = Arc::new(Semaphore::new(node.config.max_connections));
        let housekeeping = tokio::spawn(housekeeping(node.clone(), cancel.clone()));
        tokio::spawn(cluster_events(node.clone(), events, background.clone()));
        if let Some(http) = http {
            tokio::spawn(crate::admin::serve(http, node.clone(), background.clone()));
        }
        let web_task = web.map(|web| {
            tokio::spawn(web.run(node.clone(), slots.clone(), tracker.clone(), cancel.clone()))
        });
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => match slots.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let node = node.clone();
                            let cancel = cancel.clone();
                            let tls = tls.clone();
                            tracker.spawn(async move {
                                crate::metrics::connection_opened();
                                match tls {
                                    None => crate::tcp::serve(node, stream, peer, cancel).await,
                                    Some(tls) => crate::tcp::serve_tls(node, stream, peer, &tls, cancel).await,
                                }
                                crate::metrics::connection_closed();
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            tracing::warn!(%peer, "connection limit reached; refusing");
                            tracker.spawn(refuse(stream));
                        }
                    },
                    Err(e) => {
                        // Out of file descriptors, usually: wait for some to
                        // be released rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        tracing::info!("shutting down: no new connections; finishing requests in flight");
        drop(listener);
        cancel.cancel();
        if let Some(task) = web_task {
            let _ = task.await;
        }
        tracker.close();
        let grace = Duration::from_secs(node.config.shutdown_grace);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!("some connections did not finish within the grace period");
            for s in node.router.hub().all_sessions() {
                s.outbox.close();
            }
        }
        writer_stop.cancel();
        let _ = writer_task.await;
        housekeeping.abort();
        node.router.bus().unregister().await;
        background.cancel();
        let _ = slot_task.await;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Hands what the cluster reports to the service, one event at a time.
async fn cluster_events(
    node: Node,
    mut events: mpsc::UnboundedReceiver<ClusterEvent>,
    stop: CancellationToken,
) {
    loop {
        let ev = tokio::select! {
            _ = stop.cancelled() => return,
            e = events.recv() => match e { Some(e) => e, None => return },
        };
        crate::service::cluster_event(&node, ev).await;
    }
}

/// Tells a client over the connection limit why it is being closed.
async fn refuse(mut stream: TcpStream) {
    let line = chat_proto::reply::err_line(
        None,
        chat_proto::ErrorCode::Unavailable,
        "the server is at its connection limit; try again later",
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&line)).await;
    let _ = stream.shutdown().await;
}

/// Periodic chores: dropping expired tokens.
async fn housekeeping(node: Node, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {
                match node.store.purge_tokens(now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(tokens = n, "expired tokens purged"),
                    Err(e) => tracing::warn!(error = %e, "token purge failed"),
                }
            }
        }
    }
}
