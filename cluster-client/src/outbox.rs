//! The write side of a connection: callers append encoded frames to one shared buffer, and a
//! writer task sends whatever has accumulated with one write. Many frames per syscall, and no
//! allocation per frame once the buffer has grown. A large payload that is already in a
//! [`Bytes`] (a subscription value pushed to many followers, an invoke's result) is not copied
//! into the buffer: it is written from where it is, in the same vectored write.
//!
//! Each frame gets a number, and the outbox knows which frames reached the socket whole: a
//! frame still queued, or only partly written, when the connection closes can never be read by
//! the peer, so the call it carried can go to the next leader instead of failing as "may have
//! run". The count is final once the writer has stopped ([`Outbox::writer_stopped`]).
//!
//! Bytes waiting for a peer are bounded twice: per connection (`limit`) and, on a leader, across
//! every connection of the port ([`QueueBudget`]). A peer over either bound is disconnected,
//! and every write races the connection's cancellation, so a peer that never reads cannot keep
//! the writer (and its descriptor) busy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use std::io::IoSlice;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::protocol::{FrameCodec, Header, Message, Packet, ProtocolError};

/// Packets a reader handles before it yields to the writer of its connection, so that a large
/// batch is answered while the rest of it is still being read and run.
pub(crate) const PIPELINE_CHUNK: u64 = 16;

/// Payloads from this size on are written from their own [`Bytes`], not copied into the buffer.
const SHARE_FROM: usize = 64 * 1024;

/// Buffers a vectored write hands the socket at most.
const MAX_SLICES: usize = 64;

/// How long a closing connection may take to send what it already queued.
const FLUSH_ON_CLOSE: Duration = Duration::from_secs(1);

/// Why a frame could not be queued.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PushError<E> {
    #[error("connection closed")]
    Closed,
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("{0}")]
    Payload(E),
}

#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<OutState>,
    wake: Notify,
    /// Bytes that may wait for the peer before it is judged stuck and disconnected.
    limit: usize,
    /// Bytes queued or being written, read without the lock by the budget.
    queued: AtomicUsize,
    /// The largest frame this side sends: its own limit, or the peer's when that is smaller.
    send_max: AtomicUsize,
    closed: CancellationToken,
    /// Cancelled when the writer has stopped: no byte is written after it.
    writer_stopped: CancellationToken,
    /// Frames written whole to the socket (numbers below this may have reached the peer).
    written: AtomicU64,
    budget: Option<(Arc<QueueBudget>, u64)>,
}

#[derive(Debug, Default)]
struct OutState {
    buf: Vec<u8>,
    /// Large payloads written from their own buffers: each goes after the first `at` bytes of
    /// `buf` (in order of `at`).
    shared: Vec<(usize, Bytes)>,
    /// The bytes in `shared`.
    shared_len: usize,
    /// Where each frame ends, counting the bytes of `buf` and `shared` in the order they are
    /// written.
    ends: Vec<usize>,
    closed: bool,
    /// Close once everything queued is written.
    closing: bool,
    /// Frames queued so far; the next frame gets this number.
    pushed: u64,
}

impl OutState {
    /// Bytes queued, in `buf` and in `shared`.
    fn len(&self) -> usize {
        self.buf.len() + self.shared_len
    }
}

impl Outbox {
    /// An outbox whose peer may leave up to `limit` bytes unread.
    pub(crate) fn new(codec: FrameCodec, closed: CancellationToken, limit: usize) -> Arc<Self> {
        Self::build(codec, closed, limit, None)
    }

    /// An outbox that also counts against a port-wide budget.
    pub(crate) fn with_budget(
        codec: FrameCodec,
        closed: CancellationToken,
        limit: usize,
        budget: &Arc<QueueBudget>,
    ) -> Arc<Self> {
        Self::build(codec, closed, limit, Some(budget))
    }

    fn build(
        codec: FrameCodec,
        closed: CancellationToken,
        limit: usize,
        budget: Option<&Arc<QueueBudget>>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|weak| Self {
            state: Mutex::new(OutState::default()),
            wake: Notify::new(),
            limit: limit.max(codec.max_frame_len()),
            queued: AtomicUsize::new(0),
            send_max: AtomicUsize::new(codec.max_frame_len()),
            closed,
            writer_stopped: CancellationToken::new(),
            written: AtomicU64::new(0),
            budget: budget.map(|b| (b.clone(), b.join(weak.clone()))),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, OutState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cancelled when the connection is gone, for whatever reason.
    pub(crate) fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Lowers the largest frame sent to what the peer said it accepts.
    pub(crate) fn limit_frames_to(&self, peer_max: usize) {
        self.send_max.fetch_min(peer_max, Ordering::Relaxed);
    }

    /// The largest frame this side sends.
    pub(crate) fn send_max(&self) -> usize {
        self.send_max.load(Ordering::Relaxed)
    }

    /// Bytes queued or being written.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Whether frame `n` (as returned by [`Outbox::push`]) was written whole to the socket,
    /// so the peer may have read it. Final once [`Outbox::writer_stopped`] has resolved.
    pub(crate) fn was_taken(&self, n: u64) -> bool {
        n < self.written.load(Ordering::Acquire)
    }

    /// Resolves when the writer has stopped for good (it stops soon after the outbox closes).
    pub(crate) async fn writer_stopped(&self) {
        self.writer_stopped.cancelled().await;
    }

    /// Queues a frame whose payload `payload` writes in place; returns the frame's number.
    pub(crate) fn push<E>(
        &self,
        header: Header,
        message: &Message,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<u64, PushError<E>> {
        let mut st = self.state();
        if st.closed || st.closing || self.closed.is_cancelled() {
            return Err(PushError::Closed);
        }
        let before = st.len();
        let codec = FrameCodec::new(self.send_max());
        Packet::encode_with(&codec, header, message, &mut st.buf, |out| {
            payload(out).map_err(PushError::Payload)
        })?;
        self.queued_frame(st, before)
    }

    /// Queues a frame whose payload is written from `payload` itself when it is large (the
    /// buffer is shared, not copied), or copied like [`Outbox::push_bytes`] when it is small.
    pub(crate) fn push_shared(
        &self,
        header: Header,
        message: &Message,
        payload: &Bytes,
    ) -> Result<u64, PushError<std::convert::Infallible>> {
        if payload.len() < SHARE_FROM {
            return self.push_bytes(header, message, payload);
        }
        let mut st = self.state();
        if st.closed || st.closing || self.closed.is_cancelled() {
            return Err(PushError::Closed);
        }
        let before = st.len();
        let codec = FrameCodec::new(self.send_max());
        Packet::encode_head(&codec, header, message, &mut st.buf, payload.len())?;
        let at = st.buf.len();
        st.shared.push((at, payload.clone()));
        st.shared_len += payload.len();
        self.queued_frame(st, before)
    }

    /// Queues a frame whose payload the caller gives away: a large one is written from its own
    /// buffer, a small one is copied (and its buffer dropped).
    pub(crate) fn push_owned(
        &self,
        header: Header,
        message: &Message,
        payload: Vec<u8>,
    ) -> Result<u64, PushError<std::convert::Infallible>> {
        if payload.len() < SHARE_FROM {
            self.push_bytes(header, message, &payload)
        } else {
            self.push_shared(header, message, &Bytes::from(payload))
        }
    }

    /// Records the frame just appended after `before` queued bytes, counts its bytes against
    /// the limits and wakes the writer; returns the frame's number.
    fn queued_frame<E>(
        &self,
        mut st: std::sync::MutexGuard<'_, OutState>,
        before: usize,
    ) -> Result<u64, PushError<E>> {
        let end = st.len();
        let added = end - before;
        st.ends.push(end);
        let number = st.pushed;
        st.pushed += 1;
        // Counted before the lock is released: the writer (or close) can take these bytes and
        // release them the moment it is, and must never release more than was counted.
        let queued = self.queued.fetch_add(added, Ordering::Relaxed) + added;
        let port_used = self.budget.as_ref().map(|(b, _)| b.reserve(added));
        drop(st);
        if let (Some((budget, _)), Some(used)) = (&self.budget, port_used) {
            budget.enforce(used);
        }
        if queued > self.limit {
            tracing::warn!(
                queued,
                limit = self.limit,
                "closing a connection whose peer is not reading"
            );
            self.close();
            return Err(PushError::Closed);
        }
        if self.is_closed() {
            // The port's budget chose this connection to close.
            return Err(PushError::Closed);
        }
        self.wake.notify_one();
        Ok(number)
    }

    /// Queues a frame with a ready-made payload.
    pub(crate) fn push_bytes(
        &self,
        header: Header,
        message: &Message,
        payload: &[u8],
    ) -> Result<u64, PushError<std::convert::Infallible>> {
        self.push(
            header,
            message,
            |out: &mut Vec<u8>| -> Result<(), std::convert::Infallible> {
                out.extend_from_slice(payload);
                Ok(())
            },
        )
    }

    /// Closes the connection now: nothing more is written, queued frames are dropped.
    pub(crate) fn close(&self) {
        let (dropped, shared) = {
            let mut st = self.state();
            st.closed = true;
            st.ends.clear();
            let dropped = st.len();
            st.buf = Vec::new();
            st.shared_len = 0;
            (dropped, std::mem::take(&mut st.shared))
        };
        // Dropped outside the lock: a payload's last reference may go with them.
        drop(shared);
        self.release(dropped);
        self.closed.cancel();
    }

    /// Closes the connection once what is queued has been written (within a second).
    pub(crate) fn close_after_flush(&self) {
        self.state().closing = true;
        self.wake.notify_one();
    }

    fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.queued.fetch_sub(bytes, Ordering::Relaxed);
        if let Some((budget, _)) = &self.budget {
            budget.sub(bytes);
        }
    }

    /// Writes queued frames until the connection closes. Every write races the
    /// cancellation, so a peer that stops reading cannot hold this task.
    pub(crate) async fn run_writer<W: AsyncWrite + Unpin>(&self, mut w: W) {
        // Also when this task is aborted: nothing is written after that either.
        let stopped = self.writer_stopped.clone().drop_guard();
        self.write_until_closed(&mut w).await;
        self.close();
        // From here on nothing is written: which frames went out is final.
        drop(stopped);
        let _ = tokio::time::timeout(FLUSH_ON_CLOSE, w.shutdown()).await;
    }

    async fn write_until_closed<W: AsyncWrite + Unpin>(&self, w: &mut W) {
        let mut spare = Vec::new();
        let mut spare_ends = Vec::new();
        let mut spare_shared = Vec::new();
        let mut flush_deadline = None;
        loop {
            let closing = {
                let mut st = self.state();
                if st.closed || self.closed.is_cancelled() {
                    return;
                }
                std::mem::swap(&mut st.buf, &mut spare);
                std::mem::swap(&mut st.ends, &mut spare_ends);
                std::mem::swap(&mut st.shared, &mut spare_shared);
                st.shared_len = 0;
                st.closing
            };
            let total = spare.len() + spare_shared.iter().map(|(_, b)| b.len()).sum::<usize>();
            if closing && flush_deadline.is_none() {
                flush_deadline = Some(crate::time::deadline_after(FLUSH_ON_CLOSE));
            }
            if total == 0 {
                if closing {
                    return;
                }
                tokio::select! {
                    _ = self.wake.notified() => continue,
                    _ = self.closed.cancelled() => return,
                }
            }
            // Frames before this batch were all written whole (else the writer stopped).
            let base = self.written.load(Ordering::Acquire);
            let (mut pos, mut whole) = (0, 0);
            let mut slices: Vec<IoSlice<'_>> = Vec::new();
            let result = loop {
                if pos == total {
                    break Ok(());
                }
                let give_up = async {
                    match flush_deadline {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                // Closing wins over a write that is also ready: a write that never completed
                // wrote nothing, so every frame not counted below is certainly unwritten.
                let write = async {
                    if spare_shared.is_empty() {
                        w.write(&spare[pos..]).await
                    } else {
                        slices_from(&spare, &spare_shared, pos, &mut slices);
                        w.write_vectored(&slices).await
                    }
                };
                let wrote = tokio::select! {
                    biased;
                    _ = self.closed.cancelled() => None,
                    _ = give_up => None,
                    r = write => Some(r),
                };
                match wrote {
                    None => break Err(None),
                    Some(Ok(0)) => break Err(Some("the socket accepts no more bytes".to_owned())),
                    Some(Ok(n)) => {
                        pos += n;
                        while whole < spare_ends.len() && spare_ends[whole] <= pos {
                            whole += 1;
                        }
                        self.written.store(base + whole as u64, Ordering::Release);
                        self.release(n);
                    }
                    Some(Err(e)) => break Err(Some(e.to_string())),
                }
            };
            drop(slices);
            spare_shared.clear();
            // What was not written is released with the rest.
            self.release(total - pos);
            if let Err(failed) = result {
                if let Some(e) = failed {
                    tracing::debug!(error = ?e, "write failed; closing the connection");
                }
                return;
            }
            // Keep the allocation unless a burst made it huge.
            if spare.capacity() > 1 << 20 {
                spare = Vec::new();
            } else {
                spare.clear();
            }
            spare_ends.clear();
        }
    }
}

/// The buffers to write from `pos` on, in order: `buf` with the `shared` payloads at their
/// places (at most [`MAX_SLICES`] of them).
fn slices_from<'a>(
    buf: &'a [u8],
    shared: &'a [(usize, Bytes)],
    pos: usize,
    slices: &mut Vec<IoSlice<'a>>,
) {
    slices.clear();
    let (mut start, mut from) = (0, 0);
    let mut add = |part: &'a [u8], slices: &mut Vec<IoSlice<'a>>| {
        let end = start + part.len();
        if end > pos && !part.is_empty() && slices.len() < MAX_SLICES {
            slices.push(IoSlice::new(&part[pos.saturating_sub(start)..]));
        }
        start = end;
    };
    for (at, payload) in shared {
        add(&buf[from..*at], slices);
        add(payload, slices);
        from = *at;
    }
    add(&buf[from..], slices);
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if let Some((budget, id)) = &self.budget {
            let held = *self.queued.get_mut();
            budget.sub(held);
            budget.leave(*id);
        }
    }
}

/// The bytes that every connection of one port may leave unread, together. Over the limit,
/// the connection holding the most is closed.
#[derive(Debug)]
pub(crate) struct QueueBudget {
    limit: usize,
    used: AtomicUsize,
    members: Mutex<HashMap<u64, Weak<Outbox>>>,
    next_id: AtomicU64,
}

impl QueueBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
            members: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        })
    }

    fn members(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Weak<Outbox>>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn join(&self, outbox: Weak<Outbox>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.members().insert(id, outbox);
        id
    }

    fn leave(&self, id: u64) {
        self.members().remove(&id);
    }

    /// Bytes queued across the port right now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn sub(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Counts `bytes` more; returns the port's total.
    fn reserve(&self, bytes: usize) -> usize {
        self.used.fetch_add(bytes, Ordering::Relaxed) + bytes
    }

    /// Closes the connection holding the most if the port's total `used` is over the limit.
    fn enforce(&self, used: usize) {
        if used <= self.limit {
            return;
        }
        let largest = {
            let members = self.members();
            members
                .values()
                .filter_map(Weak::upgrade)
                .filter(|o| !o.is_closed())
                .max_by_key(|o| o.queued())
        };
        if let Some(outbox) = largest {
            tracing::warn!(
                queued = outbox.queued(),
                port_total = used,
                limit = self.limit,
                "closing the connection with the most unread bytes: the port's queue budget is spent"
            );
            outbox.close();
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every writer task spawned here is joined by its test before the test ends.
    use super::*;
    use crate::protocol::{FrameCodec, Header, Message};
    use tokio::io::AsyncReadExt;

    fn heartbeat(outbox: &Outbox) -> Result<u64, PushError<std::convert::Infallible>> {
        outbox.push_bytes(Header::request(1, 0), &Message::Heartbeat, &[])
    }

    #[tokio::test]
    async fn frames_never_taken_by_the_writer_are_known_as_unwritten() {
        let outbox = Outbox::new(FrameCodec::default(), CancellationToken::new(), 1 << 20);
        let first = heartbeat(&outbox).unwrap();
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.run_writer(client).await })
        };
        let mut buf = [0u8; 44];
        server.read_exact(&mut buf).await.unwrap();
        assert!(outbox.was_taken(first));
        outbox.close();
        writer.await.unwrap();
        assert!(heartbeat(&outbox).is_err());
        // Frames queued after the writer stopped are never written.
        let late = Outbox::new(FrameCodec::default(), CancellationToken::new(), 1 << 20);
        let n = heartbeat(&late).unwrap();
        late.close();
        assert!(!late.was_taken(n));
    }

    /// Small frames and frames with large shared payloads, read back through a pipe that takes
    /// a few KiB at a time (so vectored writes end mid-buffer and mid-payload): every frame
    /// arrives whole, in order, and the payload buffer itself was never copied by the outbox.
    #[tokio::test]
    async fn large_shared_payloads_are_written_in_order_from_their_own_buffers() {
        use futures::StreamExt;
        let outbox = Outbox::new(FrameCodec::default(), CancellationToken::new(), 1 << 26);
        let (client, server) = tokio::io::duplex(5000);
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.run_writer(client).await })
        };
        let value = |i: usize| Bytes::from(vec![i as u8; SHARE_FROM + i * 1000]);
        let mut sent = Vec::new();
        let mut numbers = Vec::new();
        for i in 0..12 {
            let header = Header::request(i as i64 + 1, 0);
            let message = Message::SubscribeResult {
                key: format!("k{i}"),
            };
            let payload = if i % 3 == 0 {
                Bytes::from_static(b"small")
            } else {
                value(i)
            };
            let before = payload.as_ptr();
            numbers.push(outbox.push_shared(header, &message, &payload).unwrap());
            if payload.len() >= SHARE_FROM {
                let st = outbox.state();
                let (_, queued) = st.shared.last().expect("kept as it is");
                assert_eq!(queued.as_ptr(), before, "the payload is not copied");
            }
            sent.push((i as i64 + 1, payload));
        }
        let mut frames = tokio_util::codec::FramedRead::new(server, FrameCodec::default());
        for (id, payload) in &sent {
            let frame = frames.next().await.unwrap().unwrap();
            assert_eq!(frame.header.id, *id);
            assert_eq!(&frame.app[..], &payload[..]);
        }
        assert!(numbers.iter().all(|n| outbox.was_taken(*n)));
        assert_eq!(outbox.queued(), 0);
        outbox.close();
        writer.await.unwrap();
    }

    /// Closing with shared payloads still queued releases every byte they counted.
    #[test]
    fn closing_releases_the_bytes_of_shared_payloads() {
        let budget = QueueBudget::new(1 << 30);
        let outbox = Outbox::with_budget(
            FrameCodec::default(),
            CancellationToken::new(),
            1 << 30,
            &budget,
        );
        let payload = Bytes::from(vec![1u8; 4 * SHARE_FROM]);
        let n = outbox
            .push_shared(Header::request(1, 0), &Message::Heartbeat, &payload)
            .unwrap();
        assert!(outbox.queued() > payload.len());
        assert_eq!(budget.used(), outbox.queued());
        outbox.close();
        assert_eq!(outbox.queued(), 0);
        assert_eq!(budget.used(), 0);
        assert!(!outbox.was_taken(n));
    }

    #[tokio::test]
    async fn a_writer_blocked_on_a_peer_that_never_reads_ends_when_the_connection_closes() {
        let outbox = Outbox::new(FrameCodec::default(), CancellationToken::new(), 1 << 24);
        // A pipe with a tiny buffer that nobody reads.
        let (client, _server) = tokio::io::duplex(64);
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.run_writer(client).await })
        };
        for _ in 0..100 {
            heartbeat(&outbox).unwrap();
        }
        tokio::task::yield_now().await;
        outbox.close();
        tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the writer stops at once")
            .unwrap();
        assert_eq!(outbox.queued(), 0);
    }

    #[tokio::test]
    async fn the_port_budget_closes_the_connection_holding_the_most() {
        let budget = QueueBudget::new(200);
        let codec = FrameCodec::default();
        let small = Outbox::with_budget(codec, CancellationToken::new(), 1 << 20, &budget);
        let big = Outbox::with_budget(codec, CancellationToken::new(), 1 << 20, &budget);
        heartbeat(&small).unwrap();
        for _ in 0..4 {
            let _ = heartbeat(&big);
        }
        assert!(big.is_closed(), "the largest queue is closed");
        assert!(!small.is_closed());
        assert_eq!(budget.used(), small.queued());
        drop(small);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_connection_over_its_own_limit_is_closed() {
        let codec = FrameCodec::new(64);
        let outbox = Outbox::new(codec, CancellationToken::new(), 100);
        let mut results = Vec::new();
        for _ in 0..4 {
            results.push(heartbeat(&outbox).is_ok());
        }
        assert_eq!(results, [true, true, false, false]);
        assert!(outbox.is_closed());
        assert_eq!(outbox.queued(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pushes_racing_the_writer_keep_the_counts_exact() {
        // The writer takes and releases bytes while other threads push: a count taken after the
        // lock is released would let a release run first and wrap the counter.
        let budget = QueueBudget::new(1 << 30);
        let outbox = Outbox::with_budget(
            FrameCodec::default(),
            CancellationToken::new(),
            1 << 30,
            &budget,
        );
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.run_writer(tokio::io::sink()).await })
        };
        let pushers: Vec<_> = (0..3)
            .map(|_| {
                let outbox = outbox.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        heartbeat(&outbox).unwrap();
                    }
                })
            })
            .collect();
        for p in pushers {
            p.join().expect("no push panics");
        }
        // The writer releases the connection's count, then the port's: wait for both.
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        while outbox.queued() != 0 || budget.used() != 0 {
            assert!(
                std::time::Instant::now() < give_up,
                "counts left: {} / {}",
                outbox.queued(),
                budget.used()
            );
            assert!(outbox.queued() < 1 << 30, "the count never wraps");
            assert!(budget.used() < 1 << 30, "the port's count never wraps");
            tokio::task::yield_now().await;
        }
        outbox.close();
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn a_frame_written_only_in_part_when_the_connection_closes_counts_as_unwritten() {
        let outbox = Outbox::new(FrameCodec::default(), CancellationToken::new(), 1 << 20);
        let frames: Vec<u64> = (0..3).map(|_| heartbeat(&outbox).unwrap()).collect();
        let frame_len = outbox.queued() / 3;
        // Room for the first frame and part of the second; nobody reads.
        let (client, _server) = tokio::io::duplex(frame_len + frame_len / 2);
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.run_writer(client).await })
        };
        while !outbox.was_taken(frames[0]) {
            tokio::task::yield_now().await;
        }
        outbox.close();
        outbox.writer_stopped().await;
        let written: Vec<bool> = frames.iter().map(|&n| outbox.was_taken(n)).collect();
        assert_eq!(written, [true, false, false]);
        writer.await.unwrap();
    }
}
