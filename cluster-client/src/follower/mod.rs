//! The follower: one TCP connection to the leader, registered on one channel, carrying this
//! process's calls and subscriptions for that channel.

mod pending;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::codec::{Codec, CodecError};
use crate::error::{Error, RemoteError, WireError};
use crate::options::Options;
use crate::outbox::{Outbox, PushError};
use crate::protocol::{FrameCodec, FrameKind, Header, Message, Packet};
use crate::request_id::next_id;
use pending::{PendingCalls, PendingGuard, Response};

/// Receives `(key, value)` for every pushed subscription value.
pub(crate) type PushHandler = Arc<dyn Fn(&str, Bytes) + Send + Sync>;

#[derive(Deserialize)]
struct RegisterReply {
    success: bool,
    #[serde(default)]
    error: Option<WireError>,
    #[serde(default, rename = "leaderId")]
    leader_id: Option<String>,
}

pub(crate) struct FollowerConn {
    channel: String,
    port: u16,
    options: Options,
    outbox: Arc<Outbox>,
    pending: Arc<PendingCalls>,
    /// Set when the owner closed the connection on purpose (handle closed), so waiting calls
    /// report `Closed` rather than `LeaderLost`.
    closed_by_user: AtomicBool,
    leader_id: Option<String>,
}

impl FollowerConn {
    /// Connects to the leader and registers on `channel`.
    pub(crate) async fn connect(
        channel: &str,
        options: &Options,
        on_push: PushHandler,
    ) -> Result<Arc<Self>, Error> {
        let port = options.port;
        let connect_err = |reason: String| Error::Connect {
            channel: channel.to_owned(),
            port,
            reason,
        };
        let stream = match tokio::time::timeout(
            options.connect_timeout,
            TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(connect_err(e.to_string())),
            Err(_) => {
                return Err(connect_err(format!(
                    "connect timeout ({}ms)",
                    options.connect_timeout.as_millis()
                )));
            }
        };
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let codec = FrameCodec::new(options.max_frame_len);
        let token = CancellationToken::new();
        let outbox = Arc::new(Outbox::new(codec, token.clone()));
        let pending = Arc::new(PendingCalls::new());
        let last_rx = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let span = tracing::debug_span!("follower", channel, port);

        tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.run_writer(write).await }.instrument(span.clone())
        });
        tokio::spawn(
            read_loop(
                FramedRead::new(read, codec),
                outbox.clone(),
                pending.clone(),
                on_push,
                last_rx.clone(),
                started,
            )
            .instrument(span.clone()),
        );

        let mut conn = Self {
            channel: channel.to_owned(),
            port,
            options: options.clone(),
            outbox,
            pending,
            closed_by_user: AtomicBool::new(false),
            leader_id: None,
        };
        match conn.register().await {
            Ok(leader_id) => conn.leader_id = leader_id,
            Err(e) => {
                conn.outbox.closed().cancel();
                return Err(e);
            }
        }
        let conn = Arc::new(conn);
        tokio::spawn(heartbeat_loop(Arc::downgrade(&conn), last_rx, started).instrument(span));
        Ok(conn)
    }

    /// Sends `register_channel` until the leader answers (a Node leader that does not serve
    /// the channel never answers; its followers retry, and so do we).
    async fn register(&self) -> Result<Option<String>, Error> {
        loop {
            let message = Message::RegisterChannel {
                channel_name: self.channel.clone(),
                secret: self.options.secret.clone(),
            };
            let deadline = Instant::now() + self.options.response_timeout;
            match self
                .request(&message, "register_channel", deadline, |_| Ok(()))
                .await
            {
                Ok((_, app)) => return self.read_register_reply(&app),
                Err(Error::Timeout { .. }) if !self.outbox.is_closed() => {
                    tracing::warn!(
                        channel = %self.channel,
                        port = self.port,
                        "register to channel got no answer in {}ms; retrying",
                        self.options.response_timeout.as_millis()
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn read_register_reply(&self, app: &[u8]) -> Result<Option<String>, Error> {
        let reply: RegisterReply = self
            .options
            .codec
            .decode(app)
            .map_err(|e| self.codec_error("register_channel", e))?;
        if reply.success {
            return Ok(reply.leader_id);
        }
        let error = RemoteError::from(reply.error.unwrap_or_default());
        if error.code.as_deref() == Some("ERR_CLUSTER_AUTH") {
            return Err(Error::Unauthorized {
                channel: self.channel.clone(),
                port: self.port,
                message: error.message,
            });
        }
        if error.code.as_deref() == Some("ERR_CLUSTER_NO_CHANNEL") {
            return Err(Error::NoLeaderForChannel {
                channel: self.channel.clone(),
                port: self.port,
                message: error.message,
            });
        }
        Err(Error::LeaderNotReady {
            channel: self.channel.clone(),
            error: Box::new(error),
        })
    }

    fn codec_error(&self, method: &str, e: CodecError) -> Error {
        Error::Codec {
            channel: self.channel.clone(),
            method: method.to_owned(),
            source: Arc::new(e),
        }
    }

    fn lost(&self, method: &str) -> Error {
        if self.closed_by_user.load(Ordering::Acquire) {
            Error::Closed {
                channel: self.channel.clone(),
            }
        } else {
            Error::LeaderLost {
                channel: self.channel.clone(),
                method: method.to_owned(),
                port: self.port,
            }
        }
    }

    fn push_error<E>(
        &self,
        method: &str,
        e: PushError<E>,
        payload_error: impl FnOnce(E) -> Error,
    ) -> Error {
        match e {
            PushError::Closed => self.lost(method),
            PushError::Protocol(p) => Error::Protocol {
                channel: self.channel.clone(),
                port: self.port,
                source: Arc::new(p),
            },
            PushError::Payload(e) => payload_error(e),
        }
    }

    /// Sends a two-way request and waits for its response until `deadline`.
    pub(crate) async fn request(
        &self,
        message: &Message,
        method: &str,
        deadline: Instant,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<Response, Error> {
        let id = next_id();
        let span = tracing::debug_span!("call", channel = %self.channel, method, request_id = id);
        async move {
            let Some(rx) = self.pending.insert(id) else {
                return Err(self.lost(method));
            };
            let _guard = PendingGuard {
                pending: &self.pending,
                id,
            };
            let header = Header::request(id, self.options.response_timeout_ms());
            self.outbox
                .push(header, message, payload)
                .map_err(|e| self.push_error(method, e, |e| self.codec_error(method, e)))?;
            match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(_)) => Err(self.lost(method)),
                Err(_) => Err(Error::Timeout {
                    channel: self.channel.clone(),
                    method: method.to_owned(),
                    port: self.port,
                    timeout: self.options.response_timeout,
                }),
            }
        }
        .instrument(span)
        .await
    }

    /// Sends a request that gets no response (oneway invoke, subscribe, unSubscribe).
    pub(crate) fn send(
        &self,
        message: &Message,
        method: &str,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(), Error> {
        let header = Header::request(next_id(), self.options.response_timeout_ms());
        self.outbox
            .push(header, message, payload)
            .map_err(|e| self.push_error(method, e, |e| self.codec_error(method, e)))
    }

    /// The leader's incarnation id, when the leader sends one (Rust leaders do).
    pub(crate) fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }

    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// Resolves when the connection is gone.
    pub(crate) async fn closed(&self) {
        self.outbox.closed().cancelled().await
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.outbox.is_closed()
    }

    /// Closes the connection on purpose: waiting calls fail with `Closed`.
    pub(crate) fn close(&self) {
        self.closed_by_user.store(true, Ordering::Release);
        self.outbox.closed().cancel();
    }
}

impl Drop for FollowerConn {
    fn drop(&mut self) {
        self.outbox.closed().cancel();
    }
}

async fn read_loop(
    mut frames: FramedRead<tokio::net::tcp::OwnedReadHalf, FrameCodec>,
    outbox: Arc<Outbox>,
    pending: Arc<PendingCalls>,
    on_push: PushHandler,
    last_rx: Arc<AtomicU64>,
    started: Instant,
) {
    let mut handled: u64 = 0;
    let reason = loop {
        let frame = tokio::select! {
            _ = outbox.closed().cancelled() => break "closed".to_owned(),
            frame = frames.next() => frame,
        };
        let packet = match frame {
            None => break "the leader closed the connection".to_owned(),
            Some(Err(e)) => break e.to_string(),
            Some(Ok(frame)) => match Packet::from_frame(frame) {
                Ok(p) => p,
                Err(e) => break e.to_string(),
            },
        };
        last_rx.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        let Packet {
            header,
            message,
            app,
        } = packet;
        match (header.kind, message) {
            (FrameKind::Response, message) => {
                pending.complete(header.id, (message, app));
                handled += 1;
                if handled % crate::leader::PIPELINE_CHUNK == 0 {
                    // Let the callers just answered send their next requests before reading
                    // on, so leader and follower work at the same time instead of in turns.
                    tokio::task::yield_now().await;
                }
            }
            (FrameKind::Request, Message::SubscribeResult { key }) => {
                // Ack first (the leader times pushes out), then deliver. A push without a
                // payload carries nothing to deliver; Node drops it too.
                let _ = outbox.push_bytes(
                    Header::response(header.id, 0),
                    &Message::SubscribeResultRes,
                    &[],
                );
                if !app.is_empty() {
                    on_push(&key, app);
                }
            }
            (FrameKind::Request, other) => {
                tracing::debug!(
                    packet_type = other.type_name(),
                    "ignoring a request followers do not handle"
                );
            }
        }
    };
    tracing::debug!(%reason, "follower connection ended");
    outbox.closed().cancel();
    let failed = pending.fail_all();
    if failed > 0 {
        tracing::debug!(failed, "in-flight calls failed with the connection");
    }
}

/// Sends a heartbeat every interval, also while calls are in flight, and drops the connection
/// when the leader has sent nothing for two intervals.
async fn heartbeat_loop(
    conn: std::sync::Weak<FollowerConn>,
    last_rx: Arc<AtomicU64>,
    started: Instant,
) {
    let Some(interval) = conn.upgrade().map(|c| c.options.heartbeat_interval) else {
        return;
    };
    let interval = interval.max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    let closed = match conn.upgrade() {
        Some(c) => c.outbox.closed().clone(),
        None => return,
    };
    loop {
        tokio::select! {
            _ = closed.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let Some(conn) = conn.upgrade() else { return };
        let silent_for = started
            .elapsed()
            .saturating_sub(Duration::from_millis(last_rx.load(Ordering::Relaxed)));
        if silent_for > interval * 2 {
            tracing::warn!(
                channel = %conn.channel,
                port = conn.port,
                "leader sent nothing for {}ms; dropping the connection",
                silent_for.as_millis()
            );
            conn.outbox.closed().cancel();
            return;
        }
        let _ = conn.send(&Message::Heartbeat, "heartbeat", |_| Ok(()));
    }
}
