//! A line client whose reads survive timeouts (a reader task feeds a
//! channel), for clients that give up on a silent node and carry on
//! elsewhere.

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A line client whose frames are read by a task into a channel, so that
/// a timed-out wait loses nothing and the connection stays usable.
pub struct Conn {
    wr: OwnedWriteHalf,
    rx: mpsc::UnboundedReceiver<Value>,
    reader: JoinHandle<()>,
    next_id: u64,
    pub port: u16,
    closed: bool,
}

impl Conn {
    /// Connects to 127.0.0.1:`port` within `within`.
    pub async fn connect(port: u16, within: Duration) -> anyhow::Result<Conn> {
        let stream = tokio::time::timeout(within, TcpStream::connect(("127.0.0.1", port)))
            .await
            .context("connect timed out")??;
        stream.set_nodelay(true)?;
        let (rd, wr) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(rd).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Ok(Conn {
            wr,
            rx,
            reader,
            next_id: 1,
            port,
            closed: false,
        })
    }

    /// Whether the server closed the connection (seen so far).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends `frame` with a fresh `id` and waits up to `within` for its
    /// reply; events that arrive meanwhile go to `events`. `None`: no
    /// reply came (timeout, or the connection closed).
    pub async fn request(
        &mut self,
        mut frame: Value,
        within: Duration,
        events: &mut Vec<Value>,
    ) -> Option<Value> {
        if self.closed {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        frame["id"] = json!(id);
        let mut line = serde_json::to_vec(&frame).ok()?;
        line.push(b'\n');
        let deadline = tokio::time::Instant::now() + within;
        match tokio::time::timeout_at(deadline, self.wr.write_all(&line)).await {
            Ok(Ok(())) => {}
            _ => {
                self.closed = true;
                return None;
            }
        }
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => return None,
                Ok(None) => {
                    self.closed = true;
                    return None;
                }
                Ok(Some(v)) => {
                    if v.get("ev").is_some() {
                        events.push(v);
                    } else if v["re"] == json!(id) {
                        return Some(v);
                    }
                    // A reply to an earlier request that timed out: skip.
                }
            }
        }
    }

    /// Sends a frame without waiting for anything.
    pub async fn send(&mut self, frame: &Value) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(frame)?;
        line.push(b'\n');
        self.wr.write_all(&line).await?;
        Ok(())
    }

    /// Moves the events received so far into `events`, without waiting.
    /// Returns false once the connection is closed.
    pub fn drain(&mut self, events: &mut Vec<Value>) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(v) => {
                    if v.get("ev").is_some() {
                        events.push(v);
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => return !self.closed,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.closed = true;
                    return false;
                }
            }
        }
    }

    /// Waits up to `within` for events, moving them into `events`.
    pub async fn events_for(&mut self, within: Duration, events: &mut Vec<Value>) {
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(next) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            match next {
                Some(v) if v.get("ev").is_some() => events.push(v),
                Some(_) => {}
                None => {
                    self.closed = true;
                    return;
                }
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
