//! A TCP path that can be cut or stalled, then restored: the database
//! link (and any other) of a chaos run.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a [`FaultProxy`] does with its traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    /// Bytes flow both ways.
    Open,
    /// Every connection is dropped; new ones are accepted and closed.
    Cut,
    /// Nothing is forwarded and nothing is closed: bytes wait in the
    /// proxy (and the kernel's buffers), new connections are accepted and
    /// held. Restoring lets everything through as it was.
    Stall,
}

/// A TCP path to a backing service that a test can cut, stall and
/// restore, without touching the service itself (others may share it).
pub struct FaultProxy {
    pub addr: SocketAddr,
    link: Arc<Link>,
    task: JoinHandle<()>,
}

/// What the proxy's connections share.
struct Link {
    mode: watch::Sender<LinkMode>,
    /// Bytes that, once seen going to the service, stall and then cut the
    /// link (see [`FaultProxy::cut_after`]).
    trigger: Mutex<Option<Vec<u8>>>,
}

impl FaultProxy {
    /// Forwards connections on a new local port to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<FaultProxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let link = Arc::new(Link {
            mode: watch::channel(LinkMode::Open).0,
            trigger: Mutex::new(None),
        });
        let shared = link.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if *shared.mode.borrow() == LinkMode::Cut {
                    drop(client);
                    continue;
                }
                let _ = client.set_nodelay(true);
                tokio::spawn(forward(client, target, shared.clone()));
            }
        });
        Ok(FaultProxy { addr, link, task })
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.link.mode.send_replace(LinkMode::Cut);
    }

    /// Stops forwarding without closing anything.
    pub fn stall(&self) {
        self.link.mode.send_replace(LinkMode::Stall);
    }

    /// Forwards again (a stalled connection resumes where it stopped).
    pub fn restore(&self) {
        *self.link.trigger.lock().unwrap() = None;
        self.link.mode.send_replace(LinkMode::Open);
    }

    /// Arms a one-shot fault: the next time `pattern` goes to the service,
    /// that chunk is delivered, the link stalls at once (the answer does
    /// not come back) and is cut 100 ms later. To make a database commit
    /// whose outcome the client cannot know: `cut_after(b"COMMIT")`.
    pub fn cut_after(&self, pattern: &[u8]) {
        *self.link.trigger.lock().unwrap() = Some(pattern.to_vec());
    }

    pub fn mode(&self) -> LinkMode {
        *self.link.mode.borrow()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        // Connections in flight end too.
        self.link.mode.send_replace(LinkMode::Cut);
    }
}

impl Link {
    /// Whether `chunk` (going to the service) fires the armed trigger;
    /// if so the link stalls now and is cut shortly.
    fn fires(self: &Arc<Self>, chunk: &[u8]) -> bool {
        let mut trigger = self.trigger.lock().unwrap();
        let hit = trigger
            .as_ref()
            .is_some_and(|p| !p.is_empty() && chunk.windows(p.len()).any(|w| w == p.as_slice()));
        if hit {
            *trigger = None;
            self.mode.send_replace(LinkMode::Stall);
            let link = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                link.mode.send_if_modified(|m| {
                    let stalled = *m == LinkMode::Stall;
                    if stalled {
                        *m = LinkMode::Cut;
                    }
                    stalled
                });
            });
        }
        hit
    }
}

/// Waits until the link is open; false when it is cut meanwhile (or the
/// proxy is gone).
async fn open(watch: &mut watch::Receiver<LinkMode>) -> bool {
    matches!(
        watch.wait_for(|m| *m != LinkMode::Stall).await.map(|m| *m),
        Ok(LinkMode::Open)
    )
}

async fn forward(client: TcpStream, target: SocketAddr, link: Arc<Link>) {
    // A connection made during a stall is held until the link opens.
    if !open(&mut link.mode.subscribe()).await {
        return;
    }
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let mut cut = link.mode.subscribe();
    tokio::select! {
        _ = pump(cr, sw, &link, true) => {}
        _ = pump(sr, cw, &link, false) => {}
        _ = cut.wait_for(|m| *m == LinkMode::Cut) => {}
    }
}

/// Copies one direction, holding bytes (and the end of the stream) while
/// the link is stalled. `upstream`: towards the service (where the
/// trigger looks).
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, link: &Arc<Link>, upstream: bool) {
    let mut watch = link.mode.subscribe();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !open(&mut watch).await {
            return;
        }
        let n = from.read(&mut buf).await.unwrap_or(0);
        // The chunk that fires the trigger goes through; nothing after.
        if upstream && n > 0 && link.fires(&buf[..n]) {
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
            continue;
        }
        // What was read while a stall began waits for the link to open;
        // so does the end of the stream.
        if !open(&mut watch).await || n == 0 {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_proxy_cuts_stalls_and_restores() {
        let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let proxy = FaultProxy::start(target).await.unwrap();
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        let mut buf = [0u8; 2];
        s.write_all(b"hi").await.unwrap();
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");

        proxy.stall();
        s.write_all(b"yo").await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(300), s.read_exact(&mut buf)).await;
        assert!(waited.is_err(), "nothing passes a stalled link");
        proxy.restore();
        // read_exact is not cancel safe; a new read gets what was held.
        let mut all = Vec::new();
        while all.len() < 2 {
            let mut b = [0u8; 2];
            let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut b))
                .await
                .unwrap()
                .unwrap();
            all.extend_from_slice(&b[..n]);
        }
        assert_eq!(all, b"yo", "the stalled bytes arrive once restored");

        // A trigger: "go" reaches the service, its echo does not come
        // back, and the link is cut.
        proxy.cut_after(b"go");
        s.write_all(b"go").await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(
            n, 0,
            "the answer to the trigger never comes; the link is cut"
        );
        assert_eq!(proxy.mode(), LinkMode::Cut);
        proxy.restore();
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"go").await.unwrap();
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"go", "restore disarms and reopens");

        proxy.cut();
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "a cut closes the connection");
        proxy.restore();
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"ok").await.unwrap();
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ok");
    }
}
