//! One follower connection on the leader's side.
//!
//! What one peer can make the leader hold is bounded here: it must register within the connect
//! timeout with frames of at most 64 KiB; once registered, at most `max_calls_per_connection`
//! invokes run at once (at the cap the connection is not read, so TCP pushes back on the
//! peer, and the peer's own deadlines settle its calls) and it holds at most
//! `max_subscriptions_per_connection` keys. Its calls are aborted when it closes, and a call
//! still running past the timeout its header carries is abandoned unanswered (its caller has
//! given up), as Node's leader drops such results. Peer-supplied text is logged escaped, and a
//! peer's warnings are rate-limited.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::server::Shared;
use super::{Endpoint, Sink, SubscriberId, next_subscriber_id};
use crate::KeyHasher;
use crate::codec::PayloadCodec;
use crate::error::{RemoteError, synthesized_stack};
use crate::outbox::{Outbox, PIPELINE_CHUNK, PushError};
use crate::protocol::{
    Frame, FrameCodec, FrameKind, HEADER_LEN, Header, Message, Packet, ProtocolError,
    subscription_key,
};
use crate::service::{Call, InvokeError, encode_remote_error};
use crate::task::{OwnedTask, TaskSet};
use crate::throttle::Throttle;
use crate::time::after;

/// The largest frame a peer may send before it has registered.
const MAX_FRAME_BEFORE_REGISTER: usize = 64 * 1024;

/// How long a refused peer waits for the connection to close (slows down guessing).
const REFUSAL_DELAY: Duration = Duration::from_millis(100);

/// How often a connection that is not being read (its calls are at the cap) checks that its
/// peer is still there.
const PEER_CHECK: Duration = Duration::from_millis(100);

/// The longest follower identity a leader keeps.
const MAX_FOLLOWER_ID: usize = 128;

/// How long a follower's new connection waits for its previous one to be read to the end.
const PREVIOUS_CONNECTION_WAIT: Duration = Duration::from_secs(2);

/// `register_channel_res` payload. `leaderId` lets Rust followers tell a reconnect to the same
/// leader from a new leader, and `maxFrameLen` keeps them from sending frames this leader
/// would refuse; Node followers read only `success`.
#[derive(Serialize)]
struct RegisterOk<'a> {
    success: bool,
    #[serde(rename = "leaderId")]
    leader_id: &'a str,
    #[serde(rename = "maxFrameLen")]
    max_frame_len: u64,
}

/// The failure payload, in Node's key order (`message`, `stack`, `name`, `code`).
#[derive(Serialize)]
struct RegisterFailed<'a> {
    success: bool,
    error: RegisterError<'a>,
}

#[derive(Serialize)]
struct RegisterError<'a> {
    message: &'a str,
    stack: &'a str,
    name: &'a str,
    code: Option<&'a str>,
}

pub(crate) async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
) {
    let span = tracing::debug_span!("leader_connection", port = shared.port(), peer = %peer);
    async move {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let token = shared.shutdown().child_token();
        let limits = shared.limits.clone();
        let codec = FrameCodec::new(limits.max_frame_len);
        let outbox = Outbox::with_budget(
            codec,
            token.clone(),
            limits.max_frame_len.saturating_mul(2),
            &shared.budget,
        );
        let writer = OwnedTask::spawn({
            let outbox = outbox.clone();
            async move { outbox.run_writer(write).await }.in_current_span()
        });
        let mut frames = FramedRead::new(
            read,
            FrameCodec::new(MAX_FRAME_BEFORE_REGISTER.min(limits.max_frame_len)),
        );
        let mut conn = Connection {
            call_slots: Arc::new(Semaphore::new(limits.max_calls_per_connection)),
            max_keys: limits.max_subscriptions_per_connection,
            register_by: after(Instant::now(), limits.register_within),
            shared,
            outbox: outbox.clone(),
            registered: None,
            id: next_subscriber_id(),
            keys: HashSet::default(),
            calls: TaskSet::new(),
            last_active: Instant::now(),
            warnings: Throttle::new(Duration::from_secs(1)),
            stale: None,
            done: CancellationToken::new(),
            follower: None,
            after: None,
        };
        let reason = conn.run(&mut frames, &token).await;
        // Every frame this connection delivered has been handed to the real client: the
        // follower's next connection may be served.
        conn.done.cancel();
        match &reason {
            Ok(()) => tracing::debug!("connection closed"),
            Err(why) => conn.shared.warn_closing(why),
        }
        conn.calls.abort_all();
        if let Some(ep) = &conn.registered {
            let keys: Vec<Arc<str>> = conn.keys.drain().collect();
            ep.drop_subscriber(&keys, conn.id);
            ep.follower_count(false);
            if let Some(follower) = &conn.follower {
                ep.connection_ended(follower, conn.id);
            }
        }
        drop(frames);
        // Send what is already answered (a refusal, say), for at most a second.
        outbox.close_after_flush();
        writer.join().await;
    }
    .instrument(span)
    .await
}

/// What woke the connection's loop.
enum Event {
    Stop,
    Frame(Option<Result<Frame, ProtocolError>>),
    Check,
}

struct Connection {
    shared: Arc<Shared>,
    outbox: Arc<Outbox>,
    registered: Option<Arc<dyn Endpoint>>,
    id: SubscriberId,
    /// The keys this connection subscribes to.
    keys: HashSet<Arc<str>, KeyHasher>,
    max_keys: usize,
    /// Invokes still running for this connection.
    calls: TaskSet,
    call_slots: Arc<Semaphore>,
    register_by: Instant,
    last_active: Instant,
    warnings: Throttle,
    /// After the connection was not read for a while: how long, and how many bytes were
    /// already buffered then (frames in them waited at least that long).
    stale: Option<(Duration, usize)>,
    /// Cancelled when this connection has been served to its end.
    done: CancellationToken,
    /// The identity a Rust follower registered with.
    follower: Option<String>,
    /// The end of the same follower's previous connection, to wait for before serving more.
    after: Option<CancellationToken>,
}

impl Connection {
    /// Serves packets until the peer leaves (`Ok`) or must be dropped (`Err` with the reason).
    async fn run(
        &mut self,
        frames: &mut FramedRead<OwnedReadHalf, FrameCodec>,
        token: &CancellationToken,
    ) -> Result<(), String> {
        let mut handled: u64 = 0;
        let mut buffered = 0;
        loop {
            if let Some(previous) = self.after.take() {
                // What the follower sent on its previous connection, still unread there, comes
                // first: it was sent first.
                tokio::select! {
                    biased;
                    _ = token.cancelled() => return Ok(()),
                    _ = previous.cancelled() => {}
                    _ = tokio::time::sleep(PREVIOUS_CONNECTION_WAIT) => {
                        tracing::debug!("the follower's previous connection is still open; serving this one");
                    }
                }
                self.last_active = Instant::now();
            }
            let slot = match self.call_slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => match self.wait_for_a_call_slot(frames, token).await {
                    Some(slot) => slot,
                    None => return Ok(()),
                },
            };
            let stopped = self.registered.as_ref().map(|e| e.stopped().clone());
            let check_at = self.next_check();
            // Frames first: what is already in the socket counts before idleness is judged.
            let event = tokio::select! {
                biased;
                _ = token.cancelled() => Event::Stop,
                _ = async {
                    match &stopped {
                        Some(stopped) => stopped.cancelled().await,
                        None => std::future::pending().await,
                    }
                } => Event::Stop,
                frame = frames.next() => Event::Frame(frame),
                _ = tokio::time::sleep_until(check_at) => Event::Check,
            };
            let frame = match event {
                Event::Stop => return Ok(()),
                Event::Check => {
                    // A frame arriving slowly is activity too.
                    let now_buffered = frames.read_buffer().len();
                    if now_buffered != buffered {
                        buffered = now_buffered;
                        self.last_active = Instant::now();
                    }
                    self.judge()?;
                    continue;
                }
                Event::Frame(None) => return Ok(()),
                Event::Frame(Some(Err(ProtocolError::Io(e)))) => {
                    tracing::debug!(error = ?e.to_string(), "the peer's connection failed");
                    return Ok(());
                }
                Event::Frame(Some(Err(e))) => return Err(e.to_string()),
                Event::Frame(Some(Ok(frame))) => frame,
            };
            buffered = frames.read_buffer().len();
            let waited = self.waited(&frame);
            let packet = Packet::from_frame(frame).map_err(|e| e.to_string())?;
            self.last_active = Instant::now();
            let was_registered = self.registered.is_some();
            self.handle(packet, slot, waited, token).await?;
            if !was_registered {
                if let Some(ep) = &self.registered {
                    frames
                        .decoder_mut()
                        .set_max_frame_len(ep.options().max_frame_len);
                }
            }
            handled += 1;
            if handled % PIPELINE_CHUNK == 0 {
                // Let the writer send what is answered so far, so the follower starts on it
                // while the rest of a large batch is still being read and run here.
                tokio::task::yield_now().await;
            }
        }
    }

    /// At the call cap: waits for a running call to finish without reading, checking every
    /// 100 ms that the peer is still there. `None` when the connection should end.
    async fn wait_for_a_call_slot(
        &mut self,
        frames: &mut FramedRead<OwnedReadHalf, FrameCodec>,
        token: &CancellationToken,
    ) -> Option<OwnedSemaphorePermit> {
        let since = Instant::now();
        loop {
            tokio::select! {
                _ = token.cancelled() => return None,
                slot = self.call_slots.clone().acquire_owned() => {
                    let slot = slot.ok()?;
                    self.stale = Some((since.elapsed(), frames.read_buffer().len()));
                    return Some(slot);
                }
                _ = tokio::time::sleep(PEER_CHECK) => {
                    // Unread data may sit before the peer's FIN, so reading cannot tell that
                    // it left; the socket's read-closed readiness can. A peer that left with
                    // more unsent than this side's window holds still has its FIN queued
                    // behind that data, so nothing arrives at all: a few bytes written to it
                    // make its kernel answer with a reset. The probe is a `heartbeat_res` no
                    // request has (id 0): followers of either kind ignore it, and a live one
                    // learns that the leader is there, only busy. Sent only when nothing else
                    // is queued, so a peer that does not read gets no more than one.
                    if self.outbox.is_closed() {
                        return None;
                    }
                    if self.outbox.queued() == 0 {
                        tell_alive(&self.outbox);
                    }
                    let ready = frames
                        .get_ref()
                        .ready(tokio::io::Interest::READABLE)
                        .now_or_never();
                    match ready {
                        Some(Ok(r)) if r.is_read_closed() => return None,
                        Some(Err(_)) => return None,
                        _ => {}
                    }
                }
            }
        }
    }

    /// How long `frame` has certainly waited in this process (frames that were buffered while
    /// the connection was not read).
    fn waited(&mut self, frame: &Frame) -> Duration {
        let Some((waited, bytes)) = self.stale else {
            return Duration::ZERO;
        };
        let len = HEADER_LEN + frame.conn.len() + frame.app.len();
        self.stale = bytes
            .checked_sub(len)
            .filter(|b| *b > 0)
            .map(|b| (waited, b));
        waited
    }

    fn idle_limit(&self) -> Option<Duration> {
        let o = self.registered.as_ref()?.options();
        o.check_heartbeat
            .then(|| o.heartbeat_interval.saturating_mul(3))
    }

    fn next_check(&self) -> Instant {
        match (&self.registered, self.idle_limit()) {
            (None, _) => self.register_by,
            (Some(_), Some(limit)) => after(self.last_active, limit) + Duration::from_millis(1),
            (Some(_), None) => after(Instant::now(), Duration::from_secs(3600)),
        }
    }

    /// Drops a peer that did not register in time, or went idle for longer than the limit.
    fn judge(&self) -> Result<(), String> {
        if self.registered.is_none() {
            if Instant::now() >= self.register_by {
                return Err(format!(
                    "the peer did not register within {}ms",
                    self.shared.limits.register_within.as_millis()
                ));
            }
            return Ok(());
        }
        if let Some(limit) = self.idle_limit() {
            let idle = self.last_active.elapsed();
            if idle > limit {
                return Err(format!(
                    "client no response in {}ms exceeding maxIdleTime {}ms",
                    idle.as_millis(),
                    limit.as_millis()
                ));
            }
        }
        Ok(())
    }

    /// Logs a warning caused by this peer, at most once a second.
    fn warn(&mut self, what: std::fmt::Arguments<'_>) {
        if let Some(held_back) = self.warnings.allow() {
            tracing::warn!(held_back, "{what}");
        }
    }

    async fn handle(
        &mut self,
        packet: Packet,
        slot: OwnedSemaphorePermit,
        waited: Duration,
        token: &CancellationToken,
    ) -> Result<(), String> {
        let Packet {
            header,
            message,
            app,
        } = packet;
        if header.kind == FrameKind::Response {
            // Acks of our pushes (`subscribe_result_res`) need no action.
            return Ok(());
        }
        if let Message::RegisterChannel {
            channel_name,
            secret,
            follower,
        } = &message
        {
            return self
                .register(
                    header,
                    channel_name,
                    secret.as_deref(),
                    follower.as_deref(),
                    token,
                )
                .await;
        }
        let Some(ep) = self.registered.clone() else {
            return Err(format!(
                "{:?} packet before register_channel",
                message.type_name()
            ));
        };
        let codec = ep.options().codec.clone();
        match message {
            Message::Heartbeat => {
                let _ = self.outbox.push_bytes(
                    Header::response(header.id, header.timeout),
                    &Message::HeartbeatRes,
                    &[],
                );
            }
            Message::Invoke {
                method,
                arg_length,
                oneway,
            } => {
                let timeout = u64::try_from(header.timeout).unwrap_or(0);
                if !oneway && timeout > 0 && waited > Duration::from_millis(timeout) {
                    let error = busy(&method, waited, timeout);
                    answer(&self.outbox, header, &method, &codec, Err(error));
                    return Ok(());
                }
                let about = CallInfo {
                    method: method.clone(),
                    oneway,
                    codec: codec.clone(),
                };
                let call = Call {
                    method,
                    args: app,
                    arg_length,
                    oneway,
                    codec,
                };
                self.run_call(ep.invoke(call), header, about, slot);
            }
            Message::Publish {
                method,
                publisher,
                slot: key_slot,
                seq,
            } => {
                let about = CallInfo {
                    method: method.clone(),
                    oneway: true,
                    codec: codec.clone(),
                };
                let call = Call {
                    method,
                    args: app,
                    arg_length: 1,
                    oneway: true,
                    codec,
                };
                if let Some(fut) = ep.publish(&publisher, key_slot, seq, call) {
                    self.run_call(fut, header, about, slot);
                }
            }
            Message::Subscribe { reg, .. } => {
                let key: Arc<str> = subscription_key(&reg).into();
                if !self.keys.contains(&key) {
                    if self.keys.len() >= self.max_keys {
                        let max = self.max_keys;
                        self.warn(format_args!(
                            "ignoring a subscription: the connection holds {max} keys, its limit (key {key:?})"
                        ));
                        return Ok(());
                    }
                    self.keys.insert(key.clone());
                }
                let sink = Sink::Remote {
                    outbox: self.outbox.clone(),
                    timeout_ms: ep.options().response_timeout_ms(),
                };
                ep.subscribe(key, reg, self.id, sink);
            }
            Message::Unsubscribe { reg, .. } => {
                let key = subscription_key(&reg);
                if self.keys.remove(key.as_str()) {
                    ep.unsubscribe(&key, self.id);
                }
            }
            Message::Status => {
                let (connections, queued) = self.shared.load();
                let status = ep.status(self.shared.port(), connections, queued);
                let reply = Header::response(header.id, header.timeout);
                let pushed = self
                    .outbox
                    .push(reply, &Message::StatusRes, |out| codec.encode(&status, out));
                if let Err(e) = pushed {
                    tracing::debug!(error = ?e.to_string(), "could not answer status");
                }
            }
            Message::Unknown { type_name, .. } => {
                self.warn(format_args!(
                    "unsupported packet type {type_name:?}; ignored"
                ));
            }
            other => {
                let type_name = other.type_name().to_owned();
                self.warn(format_args!(
                    "a follower sent {type_name:?}, a packet only leaders send; ignored"
                ));
            }
        }
        Ok(())
    }

    async fn register(
        &mut self,
        header: Header,
        channel: &str,
        secret: Option<&str>,
        follower: Option<&str>,
        token: &CancellationToken,
    ) -> Result<(), String> {
        let reply = Header::response(header.id, header.timeout);
        let port = self.shared.port();
        let Some(ep) = self.shared.endpoint(channel) else {
            if self.shared.guarded() {
                // The same answer as a wrong secret, so a refused peer learns no channel names.
                return self
                    .refuse(reply, &self.shared.any_codec(), refused(channel, port))
                    .await;
            }
            let message = format!(
                "channel {channel:?} is not served on port {port}: the process that owns the port has no client for it"
            );
            let error = RemoteError::new("ClusterClientNoLeaderError", message)
                .with_code("ERR_CLUSTER_NO_CHANNEL");
            return self.refuse(reply, &self.shared.any_codec(), error).await;
        };
        let codec = ep.options().codec.clone();
        if let Some(expected) = &ep.options().secret {
            if !secret.is_some_and(|given| secrets_match(given, expected)) {
                return self.refuse(reply, &codec, refused(channel, port)).await;
            }
        }
        if !ep.is_ready() {
            // Not ready yet: say at once that a leader holds the port (a response no request
            // has, which Node followers ignore), then answer when the real client is ready.
            tell_alive(&self.outbox);
        }
        let ready = tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = ep.stopped().cancelled() => return Ok(()),
            ready = ep.wait_ready() => ready,
        };
        match ready {
            Ok(()) => {
                let payload = RegisterOk {
                    success: true,
                    leader_id: ep.instance_id(),
                    max_frame_len: ep.options().max_frame_len as u64,
                };
                if let Err(e) = self
                    .outbox
                    .push(reply, &Message::RegisterChannelRes, |out| {
                        codec.encode(&payload, out)
                    })
                {
                    tracing::debug!(error = ?e.to_string(), "could not answer register_channel");
                }
                tracing::debug!(channel = ?channel, "follower registered");
                if self.registered.is_none() {
                    ep.follower_count(true);
                    // Rust followers' ids are short; anything else is not one.
                    if let Some(follower) = follower.filter(|f| f.len() <= MAX_FOLLOWER_ID) {
                        self.after = ep.current_connection(follower, self.id, self.done.clone());
                        self.follower = Some(follower.to_owned());
                    }
                }
                self.registered = Some(ep);
            }
            Err(error) => self.send_register_failure(reply, &codec, &error),
        }
        Ok(())
    }

    /// Answers a refused registration, then closes the connection after a short delay.
    async fn refuse(
        &mut self,
        reply: Header,
        codec: &PayloadCodec,
        error: RemoteError,
    ) -> Result<(), String> {
        self.send_register_failure(reply, codec, &error);
        tokio::time::sleep(REFUSAL_DELAY).await;
        Err(error.message)
    }

    fn send_register_failure(&self, reply: Header, codec: &PayloadCodec, error: &RemoteError) {
        let payload = RegisterFailed {
            success: false,
            error: RegisterError {
                message: &error.message,
                stack: &error.stack,
                name: &error.name,
                code: error.code.as_deref(),
            },
        };
        if let Err(e) = self
            .outbox
            .push(reply, &Message::RegisterChannelRes, |out| {
                codec.encode(&payload, out)
            })
        {
            tracing::debug!(error = ?e.to_string(), "could not answer register_channel");
        }
    }

    /// Runs an invoke. Most real-client methods answer without waiting, so the call is polled
    /// once right here and answered at once; only a call that has to wait gets a task of its
    /// own, owned by this connection and holding one of its call slots.
    fn run_call(
        &self,
        mut fut: crate::service::BoxFuture<'static, Result<Vec<u8>, InvokeError>>,
        header: Header,
        call: CallInfo,
        slot: OwnedSemaphorePermit,
    ) {
        let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
        if let std::task::Poll::Ready(result) = fut.as_mut().poll(&mut cx) {
            if !call.oneway {
                answer(&self.outbox, header, &call.method, &call.codec, result);
            } else {
                log_oneway(&call.method, &result);
            }
            return;
        }
        let outbox = self.outbox.clone();
        let timeout = u64::try_from(header.timeout).unwrap_or(0);
        let give_up = (!call.oneway && timeout > 0)
            .then(|| after(Instant::now(), Duration::from_millis(timeout)));
        let span = tracing::debug_span!("invoke", method = ?call.method, request_id = header.id, oneway = call.oneway);
        self.calls.spawn(
            async move {
                let _slot = slot;
                let result = match give_up {
                    Some(at) => match tokio::time::timeout_at(at, fut).await {
                        Ok(result) => result,
                        Err(_) => {
                            tracing::debug!("the call ran past its caller's timeout; abandoned");
                            return;
                        }
                    },
                    None => fut.await,
                };
                if call.oneway {
                    log_oneway(&call.method, &result);
                } else {
                    answer(&outbox, header, &call.method, &call.codec, result);
                }
            }
            .instrument(span),
        );
    }
}

/// Tells the peer a leader is here: a `heartbeat_res` that answers no request (id 0), which
/// followers of either kind take as a sign of life and otherwise ignore.
fn tell_alive(outbox: &Outbox) {
    let _ = outbox.push_bytes(Header::response(0, 0), &Message::HeartbeatRes, &[]);
}

/// What answering an invoke needs once the call itself was handed to the real client.
struct CallInfo {
    method: String,
    oneway: bool,
    codec: PayloadCodec,
}

fn refused(channel: &str, port: u16) -> RemoteError {
    RemoteError::new(
        "ClusterClientAuthError",
        format!(
            "registration refused: channel {channel:?} on port {port} requires a shared secret that this follower did not present, or is not served there"
        ),
    )
    .with_code("ERR_CLUSTER_AUTH")
}

fn busy(method: &str, waited: Duration, timeout: u64) -> InvokeError {
    InvokeError::Failure(
        RemoteError::new(
            "ClusterClientBusyError",
            format!(
                "method {method:?} was not started: it waited {}ms for one of the connection's call slots, past its timeout of {timeout}ms",
                waited.as_millis()
            ),
        )
        .with_code("ERR_CLUSTER_BUSY"),
    )
}

fn log_oneway(method: &str, result: &Result<Vec<u8>, InvokeError>) {
    if let Err(InvokeError::Failure(e)) = result {
        tracing::debug!(method = ?method, error = ?e.to_string(), "oneway call failed");
    }
}

/// Sends the outcome of a two-way invoke back to the follower. An answer over the frame limit
/// becomes an error answer that says so.
fn answer(
    outbox: &Outbox,
    header: Header,
    method: &str,
    codec: &PayloadCodec,
    result: Result<Vec<u8>, InvokeError>,
) {
    let reply = Header::response(header.id, header.timeout);
    // The payload is handed over as it is: a large one is written from its own buffer.
    let (success, payload) = match result {
        Ok(bytes) => (true, bytes),
        Err(InvokeError::Encoded(bytes)) => (false, bytes),
        Err(InvokeError::Failure(error)) => {
            return push_error(outbox, reply, codec, method, &error);
        }
    };
    let pushed = outbox
        .push_owned(reply, &Message::InvokeResult { success }, payload)
        .map(drop);
    match pushed {
        Ok(()) => {}
        Err(PushError::Protocol(ProtocolError::FrameTooLarge { len, max })) => {
            let what = if success { "result" } else { "error" };
            tracing::warn!(method = ?method, len, max, "an answer is over the frame limit; answering with an error instead");
            let error = RemoteError::new(
                "ClusterClientTooLargeError",
                format!(
                    "the {what} of {method:?} is {len} bytes framed, over the frame limit of {max} bytes"
                ),
            )
            .with_code("ERR_CLUSTER_TOO_LARGE");
            push_error(outbox, reply, codec, method, &error);
        }
        Err(e) => {
            tracing::debug!(error = ?e.to_string(), "could not answer: the connection is closed")
        }
    }
}

/// Sends an error answer; an error without a stack gets one (Node followers expect it).
fn push_error(
    outbox: &Outbox,
    reply: Header,
    codec: &PayloadCodec,
    method: &str,
    error: &RemoteError,
) {
    let with_stack;
    let error = if error.stack.is_empty() {
        let mut e = error.clone();
        e.stack = synthesized_stack(&e.name, &e.message, method);
        with_stack = e;
        &with_stack
    } else {
        error
    };
    let pushed = outbox.push(reply, &Message::InvokeResult { success: false }, |out| {
        encode_remote_error(codec, error, out)
    });
    if let Err(e) = pushed {
        tracing::debug!(error = ?e.to_string(), "could not send an error answer");
    }
}

/// Compares secrets in time that depends only on their lengths, so a local attacker timing
/// register attempts learns nothing about the secret's content.
fn secrets_match(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_match_only_when_equal() {
        assert!(super::secrets_match("s3cret", "s3cret"));
        assert!(!super::secrets_match("s3cret", "s3creT"));
        assert!(!super::secrets_match("s3cre", "s3cret"));
        assert!(!super::secrets_match("", "x"));
        assert!(super::secrets_match("", ""));
    }
}
