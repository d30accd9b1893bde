//! The write side of a connection: callers append encoded frames to one shared buffer, and a
//! writer task sends whatever has accumulated with one write. Many frames per syscall, and no
//! allocation per frame once the buffer has grown.

use std::sync::Mutex;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::protocol::{FrameCodec, Header, Message, Packet, ProtocolError};

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
    buf: Mutex<OutState>,
    wake: Notify,
    codec: FrameCodec,
    /// Bytes that may wait for the peer before it is judged stuck and disconnected.
    limit: usize,
    closed: CancellationToken,
}

#[derive(Debug, Default)]
struct OutState {
    buf: Vec<u8>,
    closed: bool,
}

impl Outbox {
    pub(crate) fn new(codec: FrameCodec, closed: CancellationToken) -> Self {
        Self {
            buf: Mutex::new(OutState::default()),
            wake: Notify::new(),
            limit: codec.max_frame_len().saturating_mul(2),
            codec,
            closed,
        }
    }

    /// Cancelled when the connection is gone, for whatever reason.
    pub(crate) fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Queues a frame whose payload `payload` writes in place.
    pub(crate) fn push<E>(
        &self,
        header: Header,
        message: &Message,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), PushError<E>> {
        let mut st = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        if st.closed || self.closed.is_cancelled() {
            return Err(PushError::Closed);
        }
        Packet::encode_with(&self.codec, header, message, &mut st.buf, |out| {
            payload(out).map_err(PushError::Payload)
        })?;
        if st.buf.len() > self.limit {
            let queued = st.buf.len();
            st.closed = true;
            st.buf = Vec::new();
            drop(st);
            tracing::warn!(
                queued,
                limit = self.limit,
                "closing a connection whose peer is not reading"
            );
            self.closed.cancel();
            return Err(PushError::Closed);
        }
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    /// Queues a frame with a ready-made payload.
    pub(crate) fn push_bytes(
        &self,
        header: Header,
        message: &Message,
        payload: &[u8],
    ) -> Result<(), PushError<std::convert::Infallible>> {
        self.push(
            header,
            message,
            |out: &mut Vec<u8>| -> Result<(), std::convert::Infallible> {
                out.extend_from_slice(payload);
                Ok(())
            },
        )
    }

    /// Writes queued frames until the connection closes. Frames queued before a close are
    /// still flushed when possible.
    pub(crate) async fn run_writer<W: AsyncWrite + Unpin>(&self, mut w: W) {
        let mut spare = Vec::new();
        loop {
            {
                let mut st = self.buf.lock().unwrap_or_else(|p| p.into_inner());
                std::mem::swap(&mut st.buf, &mut spare);
            }
            if spare.is_empty() {
                tokio::select! {
                    _ = self.wake.notified() => continue,
                    _ = self.closed.cancelled() => break,
                }
            }
            if let Err(e) = w.write_all(&spare).await {
                tracing::debug!(error = %e, "write failed; closing the connection");
                self.closed.cancel();
                break;
            }
            // Keep the allocation unless a burst made it huge.
            if spare.capacity() > 1 << 20 {
                spare = Vec::new();
            } else {
                spare.clear();
            }
        }
        let _ = w.shutdown().await;
    }
}
