//! Each connection's outgoing queue: bounded in bytes, shared between the
//! session (replies) and the hub (events from other sessions).
//!
//! Pushing never blocks and never waits for the socket. When a reader falls
//! so far behind that its queue passes the limit, the queue is closed and
//! the connection dropped: one slow client must never hold memory or
//! delay anyone else.
//!
//! During a replay (a login's, or one after messages were lost between
//! nodes) the queue can *hold* live events, so that the replayed messages
//! go out first, in order; the held events follow, minus those a replay
//! already carried. Holds nest: events flow again when the last one is
//! released.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};

/// One encoded frame, and the message id when it is a `msg` event.
#[derive(Debug, Clone)]
pub struct OutFrame {
    pub bytes: Bytes,
    pub msg_id: Option<u64>,
}

/// The sending side, shared by the session and the hub.
#[derive(Debug)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Bytes>,
    /// Bytes pushed and not yet written to the socket.
    queued: AtomicUsize,
    limit: usize,
    /// Set when the connection is closing (or overflowed).
    closed: AtomicBool,
    /// Set when the reader fell behind by more than `limit`.
    overflowed: AtomicBool,
    /// Wakes those waiting for the queue to close or overflow.
    closed_notify: Notify,
    /// Wakes those waiting for the queue to shrink (a paced replay).
    space_notify: Notify,
    holding: AtomicBool,
    /// Events held while replays run.
    held: Mutex<Held>,
}

/// What a hold keeps.
#[derive(Debug, Default)]
struct Held {
    /// Holds not yet released.
    holds: usize,
    frames: Vec<OutFrame>,
    /// Their total size.
    bytes: usize,
    /// Message ids the replays sent already: their held copies are dropped.
    sent: HashSet<u64>,
}

/// The receiving side, owned by the connection's writer.
#[derive(Debug)]
pub struct OutboxReceiver {
    rx: mpsc::UnboundedReceiver<Bytes>,
}

impl Outbox {
    /// A queue that closes when more than `limit` bytes wait.
    pub fn new(limit: usize) -> (Arc<Outbox>, OutboxReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let outbox = Outbox {
            tx,
            queued: AtomicUsize::new(0),
            limit,
            closed: AtomicBool::new(false),
            overflowed: AtomicBool::new(false),
            closed_notify: Notify::new(),
            space_notify: Notify::new(),
            holding: AtomicBool::new(false),
            held: Mutex::new(Held::default()),
        };
        (Arc::new(outbox), OutboxReceiver { rx })
    }

    /// Queues a frame for the socket. Returns false when the queue is
    /// closed (now or before).
    pub fn push(&self, bytes: Bytes) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let n = bytes.len();
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before + n > self.limit {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            self.overflow();
            return false;
        }
        if self.tx.send(bytes).is_err() {
            self.closed.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Queues an event from elsewhere: held while a replay runs.
    pub fn push_event(&self, frame: OutFrame) -> bool {
        if self.holding.load(Ordering::Acquire) {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            if held.holds > 0 {
                held.bytes += frame.bytes.len();
                if held.bytes > self.limit {
                    drop(held);
                    self.overflow();
                    return false;
                }
                held.frames.push(frame);
                return true;
            }
        }
        self.push(frame.bytes)
    }

    /// Starts holding events (before a replay starts).
    pub fn hold(&self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.holds += 1;
        self.holding.store(true, Ordering::Release);
    }

    /// Ends one hold; `sent` are the message ids its replay pushed. When no
    /// hold is left, sends the held events but the `msg` events a replay
    /// carried, and stops holding.
    pub fn release(&self, sent: &HashSet<u64>) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.holds == 0 {
            return;
        }
        held.holds -= 1;
        held.sent.extend(sent.iter().copied());
        if held.holds > 0 {
            return;
        }
        let Held { frames, sent, .. } = std::mem::take(&mut *held);
        for f in frames {
            if f.msg_id.is_some_and(|id| sent.contains(&id)) {
                continue;
            }
            self.push(f.bytes);
        }
        self.holding.store(false, Ordering::Release);
    }

    fn overflow(&self) {
        self.closed.store(true, Ordering::Release);
        if !self.overflowed.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                limit = self.limit,
                "outgoing queue full: dropping slow reader"
            );
        }
        self.closed_notify.notify_waiters();
        self.space_notify.notify_waiters();
    }

    /// Closes the queue: pushes fail from now on; what is queued is still
    /// written.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.closed_notify.notify_waiters();
        self.space_notify.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether the reader fell too far behind.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Waits until at most `level` bytes are queued, or the queue closes.
    /// Used to pace a long replay by the client's reading speed.
    pub async fn wait_below(&self, level: usize) {
        wait_until(&self.space_notify, || {
            self.is_closed() || self.queued_bytes() <= level
        })
        .await
    }

    /// Resolves once the queue is closed, for whatever reason.
    pub async fn wait_closed(&self) {
        wait_until(&self.closed_notify, || self.is_closed()).await
    }

    /// Resolves once the reader has fallen too far behind.
    pub async fn wait_overflow(&self) {
        wait_until(&self.closed_notify, || self.overflowed()).await
    }

    /// Called by the writer when bytes reached the socket.
    fn written(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::AcqRel);
        self.space_notify.notify_waiters();
    }
}

/// Waits until `done()` holds, re-checking whenever `notify` fires. The
/// waiter registers before checking, so a change between the check and the
/// wait is never missed.
async fn wait_until(notify: &Notify, done: impl Fn() -> bool) {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if done() {
            return;
        }
        notified.await;
    }
}

/// What the writer should do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Frames were appended to the buffer: write them.
    Write,
    /// The queue was closed and everything in it has been handed out.
    Closed,
    /// The reader fell too far behind: drop the connection now.
    Overflowed,
}

impl OutboxReceiver {
    /// Waits for the next frame; `Err` says why there is none.
    async fn first(&mut self, outbox: &Outbox) -> Result<Bytes, Next> {
        loop {
            if outbox.overflowed.load(Ordering::Acquire) {
                return Err(Next::Overflowed);
            }
            match self.rx.try_recv() {
                Ok(b) => return Ok(b),
                Err(mpsc::error::TryRecvError::Disconnected) => return Err(Next::Closed),
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            let notified = outbox.closed_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if outbox.is_closed() {
                // Closed after the queue was seen empty; a push that raced
                // the close is picked up by the next try_recv.
                return self.rx.try_recv().map_err(|_| Next::Closed);
            }
            tokio::select! {
                f = self.rx.recv() => return f.ok_or(Next::Closed),
                _ = notified => continue,
            }
        }
    }

    /// Waits for frames and appends as many as are ready (up to about
    /// `max` bytes) to `buf`, for a byte stream.
    pub async fn next_batch(&mut self, outbox: &Outbox, buf: &mut Vec<u8>, max: usize) -> Next {
        match self.first(outbox).await {
            Ok(first) => buf.extend_from_slice(&first),
            Err(why) => return why,
        }
        while buf.len() < max {
            match self.rx.try_recv() {
                Ok(b) => buf.extend_from_slice(&b),
                Err(_) => break,
            }
        }
        Next::Write
    }

    /// Waits for frames and moves as many as are ready (up to about `max`
    /// bytes) into `frames`, one item a frame, for a message transport.
    pub async fn next_frames(
        &mut self,
        outbox: &Outbox,
        frames: &mut Vec<Bytes>,
        max: usize,
    ) -> Next {
        let mut size = match self.first(outbox).await {
            Ok(first) => {
                let n = first.len();
                frames.push(first);
                n
            }
            Err(why) => return why,
        };
        while size < max {
            match self.rx.try_recv() {
                Ok(b) => {
                    size += b.len();
                    frames.push(b);
                }
                Err(_) => break,
            }
        }
        Next::Write
    }

    /// Reports `n` bytes as written.
    pub fn ack_written(&self, outbox: &Outbox, n: usize) {
        outbox.written(n);
    }
}

/// Most bytes one write to a byte stream carries.
const WRITE_CHUNK: usize = 64 * 1024;

/// Drains the outbox into a byte stream (a TCP socket, a TLS stream), many
/// frames per write, until it is closed or the reader fell too far behind.
pub async fn write_stream<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: OutboxReceiver,
    outbox: Arc<Outbox>,
) {
    let mut buf = Vec::new();
    loop {
        match rx.next_batch(&outbox, &mut buf, WRITE_CHUNK).await {
            Next::Write => {
                let n = buf.len();
                let written = tokio::select! {
                    r = wr.write_all(&buf) => r.is_ok(),
                    _ = outbox.wait_overflow() => false,
                };
                if !written {
                    break;
                }
                rx.ack_written(&outbox, n);
                buf.clear();
            }
            Next::Closed => {
                let _ = wr.shutdown().await;
                break;
            }
            Next::Overflowed => break,
        }
        // Keep no buffer while idle: thousands of quiet connections should
        // cost almost nothing.
        if buf.capacity() > 0 && outbox.queued_bytes() == 0 {
            buf = Vec::new();
        }
    }
    // Readers blocked on this connection must notice it is gone.
    outbox.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &'static str, msg_id: Option<u64>) -> OutFrame {
        OutFrame {
            bytes: Bytes::from_static(text.as_bytes()),
            msg_id,
        }
    }

    async fn drain(rx: &mut OutboxReceiver, outbox: &Outbox) -> Vec<u8> {
        let mut buf = Vec::new();
        while outbox.queued_bytes() > 0 {
            let before = buf.len();
            assert_eq!(rx.next_batch(outbox, &mut buf, 1 << 20).await, Next::Write);
            rx.ack_written(outbox, buf.len() - before);
        }
        buf
    }

    #[tokio::test]
    async fn frames_go_out_in_order_many_per_write() {
        let (outbox, mut rx) = Outbox::new(1024);
        for s in ["a\n", "b\n", "c\n"] {
            assert!(outbox.push(Bytes::from_static(s.as_bytes())));
        }
        let mut buf = Vec::new();
        assert_eq!(rx.next_batch(&outbox, &mut buf, 1024).await, Next::Write);
        assert_eq!(buf, b"a\nb\nc\n");
        rx.ack_written(&outbox, buf.len());
        assert_eq!(outbox.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn a_reader_past_the_limit_overflows_and_closes() {
        let (outbox, mut rx) = Outbox::new(8);
        assert!(outbox.push(Bytes::from_static(b"12345\n")));
        assert!(
            !outbox.push(Bytes::from_static(b"6789\n")),
            "over the limit"
        );
        assert!(outbox.overflowed() && outbox.is_closed());
        assert!(!outbox.push(Bytes::from_static(b"x")), "closed for good");
        let mut buf = Vec::new();
        assert_eq!(rx.next_batch(&outbox, &mut buf, 64).await, Next::Overflowed);
        // Waiters wake at once.
        outbox.wait_overflow().await;
        outbox.wait_closed().await;
    }

    #[tokio::test]
    async fn a_closed_queue_still_writes_what_it_holds() {
        let (outbox, mut rx) = Outbox::new(64);
        outbox.push(Bytes::from_static(b"last\n"));
        outbox.close();
        let mut buf = Vec::new();
        assert_eq!(rx.next_batch(&outbox, &mut buf, 64).await, Next::Write);
        assert_eq!(buf, b"last\n");
        rx.ack_written(&outbox, buf.len());
        assert_eq!(rx.next_batch(&outbox, &mut buf, 64).await, Next::Closed);
    }

    #[tokio::test]
    async fn held_events_follow_the_replay_without_its_messages() {
        let (outbox, mut rx) = Outbox::new(1024);
        outbox.hold();
        assert!(outbox.push_event(frame("m1\n", Some(1))));
        assert!(outbox.push_event(frame("p\n", None)));
        assert!(outbox.push_event(frame("m2\n", Some(2))));
        // Replies and the replay go straight out while events are held.
        outbox.push(Bytes::from_static(b"reply\n"));
        outbox.push(Bytes::from_static(b"m1\n"));
        outbox.release(&HashSet::from([1]));
        assert_eq!(drain(&mut rx, &outbox).await, b"reply\nm1\np\nm2\n");
        // After the release events go straight out again.
        outbox.push_event(frame("m3\n", Some(3)));
        assert_eq!(drain(&mut rx, &outbox).await, b"m3\n");
    }

    #[tokio::test]
    async fn holds_nest_and_the_last_release_sends() {
        let (outbox, mut rx) = Outbox::new(1024);
        outbox.hold();
        outbox.hold();
        assert!(outbox.push_event(frame("m1\n", Some(1))));
        assert!(outbox.push_event(frame("m2\n", Some(2))));
        outbox.release(&HashSet::from([1]));
        assert_eq!(outbox.queued_bytes(), 0, "one hold is still on");
        outbox.push(Bytes::from_static(b"m2\n"));
        outbox.release(&HashSet::from([2]));
        assert_eq!(drain(&mut rx, &outbox).await, b"m2\n");
        // A release without a hold changes nothing.
        outbox.release(&HashSet::new());
        outbox.push_event(frame("m3\n", Some(3)));
        assert_eq!(drain(&mut rx, &outbox).await, b"m3\n");
    }

    #[tokio::test]
    async fn held_events_count_against_the_limit() {
        let (outbox, _rx) = Outbox::new(6);
        outbox.hold();
        assert!(outbox.push_event(frame("1234\n", None)));
        assert!(!outbox.push_event(frame("5678\n", None)));
        assert!(outbox.overflowed());
    }

    #[tokio::test]
    async fn a_paced_writer_waits_for_the_reader() {
        let (outbox, mut rx) = Outbox::new(1024);
        outbox.push(Bytes::from_static(b"0123456789\n"));
        let waiting = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.wait_below(4).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "11 bytes queued, more than 4");
        drain(&mut rx, &outbox).await;
        waiting.await.unwrap();
    }
}
