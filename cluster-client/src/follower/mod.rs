//! The follower: one TCP connection to the leader, registered on one channel, carrying this
//! process's calls and subscriptions for that channel.
//!
//! Two tasks serve a connection, both owned by it: the writer (see [`Outbox`]) and the reader,
//! which also sends the heartbeats and judges the leader's silence (after reading whatever is
//! already in the socket, so a stall of this process is not mistaken for a dead leader).

mod pending;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::codec::CodecError;
use crate::error::{Error, RemoteError, WireError};
use crate::options::Options;
use crate::outbox::{Outbox, PIPELINE_CHUNK, PushError};
use crate::protocol::{FrameCodec, FrameKind, Header, Message, Packet};
use crate::request_id::next_id;
use crate::task::OwnedTask;
use crate::time::{after, deadline_after, header_ms};
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
    #[serde(default, rename = "maxFrameLen")]
    max_frame_len: Option<u64>,
}

/// Why a connection to the port did not give a registered follower.
#[derive(Debug)]
pub(crate) enum ConnectFailure {
    /// Nobody listens on the port (it is free, or its owner is just starting or dying).
    Refused(Error),
    /// Something holds the port that does not answer like a leader: it hung up, sent bytes
    /// that are not a frame, or said nothing. `definitive` when what it sent proves it is not
    /// a cluster-client peer (a hang-up or silence may also be a leader dying or starting).
    Stranger { seen: String, definitive: bool },
    /// Any other failure: the leader refused, timed out, or the socket failed.
    Failed(Error),
}

/// A failed call on a follower connection.
#[derive(Debug)]
pub(crate) enum CallFailure {
    /// The request never left this process: the connection was gone before its frame was
    /// written. It may be sent to the next leader.
    NotSent,
    /// It may have reached the leader, or it failed for good.
    Failed(Error),
}

/// What the reader saw, for explaining a connection that never registered.
#[derive(Default)]
struct Observed {
    /// A valid frame arrived: the peer speaks the protocol.
    peer: AtomicBool,
    /// Why the reader stopped.
    ended: Mutex<Option<String>>,
    /// The reader stopped because the bytes were not a frame.
    garbage: AtomicBool,
}

pub(crate) struct FollowerConn {
    channel: String,
    /// Who this follower is, told to the leader when registering.
    follower_id: String,
    port: u16,
    options: Options,
    outbox: Arc<Outbox>,
    pending: Arc<PendingCalls>,
    observed: Arc<Observed>,
    /// Set once registered: heartbeats start.
    registered: Arc<AtomicBool>,
    /// Set when the owner closed the connection on purpose (handle closed), so waiting calls
    /// report `Closed` rather than `LeaderLost`.
    closed_by_user: AtomicBool,
    /// The leader's incarnation id (Rust leaders send one; Node leaders do not).
    leader_id: Option<String>,
    _writer: OwnedTask,
    _reader: OwnedTask,
}

impl FollowerConn {
    /// Connects to the leader and registers on `channel`.
    pub(crate) async fn connect(
        channel: &str,
        follower_id: &str,
        options: &Options,
        on_push: PushHandler,
    ) -> Result<Arc<Self>, ConnectFailure> {
        let port = options.port;
        let connect_err = |reason: String| Error::Connect {
            channel: channel.to_owned(),
            port,
            reason,
        };
        let stream = match tokio::time::timeout_at(
            deadline_after(options.connect_timeout),
            TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(ConnectFailure::Refused(connect_err(e.to_string())));
            }
            // Accepted and reset before the connection was even set up: not how a leader
            // (of either kind) turns anyone away.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Err(ConnectFailure::Stranger {
                    seen: format!("it reset the connection at once ({e})"),
                    definitive: false,
                });
            }
            Ok(Err(e)) => return Err(ConnectFailure::Failed(connect_err(e.to_string()))),
            Err(_) => {
                return Err(ConnectFailure::Failed(connect_err(format!(
                    "connect timeout ({}ms)",
                    options.connect_timeout.as_millis()
                ))));
            }
        };
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let codec = FrameCodec::new(options.max_frame_len);
        let token = CancellationToken::new();
        let outbox = Outbox::new(
            codec,
            token.clone(),
            options.max_frame_len.saturating_mul(2),
        );
        let pending = Arc::new(PendingCalls::new());
        let observed = Arc::new(Observed::default());
        let registered = Arc::new(AtomicBool::new(false));
        let span = tracing::debug_span!("follower", channel, port);

        let writer = OwnedTask::spawn({
            let outbox = outbox.clone();
            async move { outbox.run_writer(write).await }.instrument(span.clone())
        });
        let reader = OwnedTask::spawn(
            Reader {
                outbox: outbox.clone(),
                pending: pending.clone(),
                on_push,
                observed: observed.clone(),
                registered: registered.clone(),
                heartbeat: options.heartbeat_interval.max(Duration::from_millis(10)),
                response_timeout: header_ms(options.response_timeout),
                channel: channel.to_owned(),
                port,
            }
            .run(FramedRead::new(read, codec))
            .instrument(span),
        );

        let mut conn = Self {
            channel: channel.to_owned(),
            follower_id: follower_id.to_owned(),
            port,
            options: options.clone(),
            outbox,
            pending,
            observed,
            registered,
            closed_by_user: AtomicBool::new(false),
            leader_id: None,
            _writer: writer,
            _reader: reader,
        };
        match conn.register().await {
            Ok(reply) => {
                conn.leader_id = reply.leader_id;
                if let Some(max) = reply.max_frame_len {
                    conn.outbox
                        .limit_frames_to(usize::try_from(max).unwrap_or(usize::MAX));
                }
                conn.registered.store(true, Ordering::Release);
                Ok(Arc::new(conn))
            }
            Err(e) => {
                conn.outbox.close();
                Err(e)
            }
        }
    }

    /// Sends `register_channel` until the leader answers. A leader answers only once its real
    /// client is ready (Node's leaders too), so a silent peer is retried, as Node followers do,
    /// but only for the connect timeout unless it has shown it is a leader.
    async fn register(&self) -> Result<RegisterReply, ConnectFailure> {
        let give_up = deadline_after(self.options.connect_timeout);
        loop {
            let message = Message::RegisterChannel {
                channel_name: self.channel.clone(),
                secret: self.options.secret.clone(),
                follower: Some(self.follower_id.clone()),
            };
            let attempt = deadline_after(self.options.response_timeout);
            let peer_known = self.observed.peer.load(Ordering::Acquire);
            let deadline = if peer_known {
                attempt
            } else {
                attempt.min(give_up)
            };
            let timeout = self.options.response_timeout;
            match self
                .request(&message, "register_channel", deadline, timeout, |_| Ok(()))
                .await
            {
                Ok((_, app)) => return self.read_register_reply(&app),
                Err(CallFailure::Failed(Error::Timeout { .. })) if !self.outbox.is_closed() => {
                    if !self.observed.peer.load(Ordering::Acquire) && Instant::now() >= give_up {
                        return Err(ConnectFailure::Stranger {
                            seen: format!(
                                "no answer to register_channel within {}ms",
                                self.options.connect_timeout.as_millis()
                            ),
                            definitive: false,
                        });
                    }
                    tracing::warn!(
                        channel = %self.channel,
                        port = self.port,
                        "register to channel got no answer in {}ms; retrying",
                        self.options.response_timeout.as_millis()
                    );
                }
                Err(CallFailure::Failed(e)) if !self.outbox.is_closed() => {
                    return Err(ConnectFailure::Failed(e));
                }
                Err(_) => return Err(self.ended_before_registering()),
            }
        }
    }

    /// Explains a connection that ended before its registration was answered.
    fn ended_before_registering(&self) -> ConnectFailure {
        let ended = self
            .observed
            .ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "the connection closed".into());
        if self.observed.garbage.load(Ordering::Acquire) {
            return ConnectFailure::Stranger {
                seen: format!("it sent bytes that are not a cluster-client frame ({ended})"),
                definitive: true,
            };
        }
        if self.observed.peer.load(Ordering::Acquire) {
            // A leader that answered something, then hung up: it is full or going away.
            return ConnectFailure::Failed(Error::Connect {
                channel: self.channel.clone(),
                port: self.port,
                reason: format!(
                    "the leader closed the connection before registering it (it may be at its connection limit): {ended}"
                ),
            });
        }
        ConnectFailure::Stranger {
            seen: format!("it closed the connection without answering register_channel ({ended})"),
            definitive: false,
        }
    }

    fn read_register_reply(&self, app: &[u8]) -> Result<RegisterReply, ConnectFailure> {
        let reply: RegisterReply =
            self.options
                .codec
                .decode(app)
                .map_err(|e| ConnectFailure::Stranger {
                    seen: format!("its answer to register_channel does not decode: {e}"),
                    definitive: true,
                })?;
        if reply.success {
            return Ok(reply);
        }
        let error = RemoteError::from(reply.error.unwrap_or_default());
        let e = match error.code.as_deref() {
            Some("ERR_CLUSTER_AUTH") => Error::Unauthorized {
                channel: self.channel.clone(),
                port: self.port,
                message: error.message,
            },
            Some("ERR_CLUSTER_NO_CHANNEL") => Error::NoLeaderForChannel {
                channel: self.channel.clone(),
                port: self.port,
                message: error.message,
            },
            _ => Error::LeaderNotReady {
                channel: self.channel.clone(),
                error: Box::new(error),
            },
        };
        Err(ConnectFailure::Failed(e))
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

    fn push_failure(&self, method: &str, e: PushError<CodecError>) -> CallFailure {
        match e {
            PushError::Closed if self.closed_by_user.load(Ordering::Acquire) => {
                CallFailure::Failed(self.lost(method))
            }
            PushError::Closed => CallFailure::NotSent,
            PushError::Protocol(p) => CallFailure::Failed(Error::Protocol {
                channel: self.channel.clone(),
                port: self.port,
                source: Arc::new(p),
            }),
            PushError::Payload(e) => CallFailure::Failed(self.codec_error(method, e)),
        }
    }

    /// Sends a two-way request and waits for its response until `deadline`; `timeout` is what
    /// a timeout error reports.
    pub(crate) async fn request(
        &self,
        message: &Message,
        method: &str,
        deadline: Instant,
        timeout: Duration,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<Response, CallFailure> {
        let id = next_id();
        let span = tracing::debug_span!("call", channel = %self.channel, method, request_id = id);
        async move {
            let Some(rx) = self.pending.insert(id) else {
                return Err(self.push_failure(method, PushError::Closed));
            };
            let _guard = PendingGuard {
                pending: &self.pending,
                id,
            };
            let header = Header::request(id, header_ms(self.options.response_timeout));
            let frame = self
                .outbox
                .push(header, message, payload)
                .map_err(|e| self.push_failure(method, e))?;
            match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(_)) if !self.outbox.was_taken(frame) => {
                    Err(self.push_failure(method, PushError::Closed))
                }
                Ok(Err(_)) => Err(CallFailure::Failed(self.lost(method))),
                Err(_) => Err(CallFailure::Failed(Error::Timeout {
                    channel: self.channel.clone(),
                    method: method.to_owned(),
                    port: self.port,
                    timeout,
                })),
            }
        }
        .instrument(span)
        .await
    }

    /// Queues a request that gets no response (oneway invoke, publication, subscribe,
    /// unSubscribe); returns its frame number.
    pub(crate) fn send(
        &self,
        message: &Message,
        method: &str,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<u64, CallFailure> {
        let header = Header::request(next_id(), header_ms(self.options.response_timeout));
        self.outbox
            .push(header, message, payload)
            .map_err(|e| self.push_failure(method, e))
    }

    /// Whether frame `n` of [`FollowerConn::send`] was handed to the socket (final once the
    /// connection is closed).
    pub(crate) fn was_written(&self, n: u64) -> bool {
        self.outbox.was_taken(n)
    }

    /// The leader's incarnation id, when the leader sends one (Rust leaders do).
    pub(crate) fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }

    /// The largest frame the leader accepts (its own limit when it said, else ours).
    pub(crate) fn max_frame_len(&self) -> usize {
        self.outbox.send_max()
    }

    /// Resolves when the connection is gone and its writer has stopped, so which frames were
    /// written is final.
    pub(crate) async fn closed(&self) {
        self.outbox.closed().cancelled().await;
        self.outbox.writer_stopped().await;
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.outbox.is_closed()
    }

    /// Closes the connection on purpose: waiting calls fail with `Closed`.
    pub(crate) fn close(&self) {
        self.closed_by_user.store(true, Ordering::Release);
        self.outbox.close();
    }
}

impl Drop for FollowerConn {
    fn drop(&mut self) {
        self.outbox.close();
    }
}

/// The reading side of a follower connection.
struct Reader {
    outbox: Arc<Outbox>,
    pending: Arc<PendingCalls>,
    on_push: PushHandler,
    observed: Arc<Observed>,
    registered: Arc<AtomicBool>,
    heartbeat: Duration,
    response_timeout: i32,
    channel: String,
    port: u16,
}

impl Reader {
    async fn run(self, mut frames: FramedRead<tokio::net::tcp::OwnedReadHalf, FrameCodec>) {
        let mut handled: u64 = 0;
        let mut last_rx = Instant::now();
        let mut next_beat = after(Instant::now(), self.heartbeat);
        let reason = loop {
            // Frames first: what is already in the socket counts before silence is judged.
            let frame = tokio::select! {
                biased;
                _ = self.outbox.closed().cancelled() => break "closed".to_owned(),
                frame = frames.next() => frame,
                _ = tokio::time::sleep_until(next_beat) => {
                    next_beat = after(Instant::now(), self.heartbeat);
                    if !self.registered.load(Ordering::Acquire) {
                        continue;
                    }
                    let silent_for = last_rx.elapsed();
                    if silent_for > self.heartbeat.saturating_mul(2) {
                        tracing::warn!(
                            channel = %self.channel,
                            port = self.port,
                            "leader sent nothing for {}ms; dropping the connection",
                            silent_for.as_millis()
                        );
                        break "the leader went silent".to_owned();
                    }
                    let header = Header::request(next_id(), self.response_timeout);
                    let _ = self.outbox.push_bytes(header, &Message::Heartbeat, &[]);
                    continue;
                }
            };
            let packet = match frame {
                None => break "the leader closed the connection".to_owned(),
                Some(Err(e)) => {
                    let reset = matches!(&e, crate::protocol::ProtocolError::Io(_));
                    if !reset {
                        self.observed.garbage.store(true, Ordering::Release);
                    }
                    break e.to_string();
                }
                Some(Ok(frame)) => match Packet::from_frame(frame) {
                    Ok(p) => p,
                    Err(e) => {
                        self.observed.garbage.store(true, Ordering::Release);
                        break e.to_string();
                    }
                },
            };
            self.observed.peer.store(true, Ordering::Release);
            last_rx = Instant::now();
            let Packet {
                header,
                message,
                app,
            } = packet;
            match (header.kind, message) {
                (FrameKind::Response, message) => {
                    self.pending.complete(header.id, (message, app));
                    handled += 1;
                    if handled % PIPELINE_CHUNK == 0 {
                        // Let the callers just answered send their next requests before reading
                        // on, so leader and follower work at the same time instead of in turns.
                        tokio::task::yield_now().await;
                    }
                }
                (FrameKind::Request, Message::SubscribeResult { key }) => {
                    // Ack first (the leader times pushes out), then deliver. A push without a
                    // payload carries nothing to deliver; Node drops it too.
                    let _ = self.outbox.push_bytes(
                        Header::response(header.id, 0),
                        &Message::SubscribeResultRes,
                        &[],
                    );
                    if !app.is_empty() {
                        (self.on_push)(&key, app);
                    }
                }
                (FrameKind::Request, other) => {
                    tracing::debug!(
                        packet_type = ?other.type_name(),
                        "ignoring a request followers do not handle"
                    );
                }
            }
        };
        tracing::debug!(reason = ?reason, "follower connection ended");
        *self
            .observed
            .ended
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(reason);
        // Close, and let the writer stop, before failing the calls: after that, which frames
        // were written is final.
        self.outbox.close();
        self.outbox.writer_stopped().await;
        let failed = self.pending.fail_all();
        if failed > 0 {
            tracing::debug!(failed, "in-flight calls failed with the connection");
        }
    }
}
