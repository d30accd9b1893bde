//! One follower connection on the leader's side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tracing::Instrument;

use super::server::PortServer;
use super::{Endpoint, Sink, next_subscriber_id};
use crate::codec::Codec;
use crate::error::RemoteError;
use crate::outbox::Outbox;
use crate::protocol::{FrameCodec, FrameKind, Header, Message, Packet, subscription_key};
use crate::service::{Call, InvokeError, encode_remote_error};

/// `register_channel_res` payload. `leaderId` lets Rust followers tell a reconnect to the same
/// leader from a new leader; Node followers only read `success`.
#[derive(Serialize)]
struct RegisterOk<'a> {
    success: bool,
    #[serde(rename = "leaderId")]
    leader_id: &'a str,
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

/// Packets handled before the reading task yields to the writer (see [`Connection::run`]).
pub(crate) const PIPELINE_CHUNK: u64 = 16;

pub(crate) async fn serve_connection(server: Arc<PortServer>, stream: TcpStream, peer: SocketAddr) {
    let span = tracing::debug_span!("leader_connection", port = server.port(), peer = %peer);
    async move {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let token = server.shutdown_token().child_token();
        // The frame limit of the port's first channel applies until the peer registers.
        let max_frame_len = server
            .any_endpoint()
            .map_or(crate::protocol::DEFAULT_MAX_FRAME_LEN, |e| {
                e.options().max_frame_len
            });
        let codec = FrameCodec::new(max_frame_len);
        let outbox = Arc::new(Outbox::new(codec, token.clone()));
        let writer = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.run_writer(write).await }.in_current_span()
        });
        let mut conn = Connection {
            server,
            outbox,
            registered: None,
            id: next_subscriber_id(),
            last_active: Instant::now(),
        };
        let reason = conn.run(FramedRead::new(read, codec), &token).await;
        match &reason {
            Ok(()) => tracing::debug!("connection closed"),
            Err(why) => tracing::warn!(reason = %why, "closing follower connection"),
        }
        token.cancel();
        if let Some(ep) = &conn.registered {
            ep.drop_subscriber(conn.id);
        }
        let _ = writer.await;
    }
    .instrument(span)
    .await
}

struct Connection {
    server: Arc<PortServer>,
    outbox: Arc<Outbox>,
    registered: Option<Arc<dyn Endpoint>>,
    id: u64,
    last_active: Instant,
}

impl Connection {
    /// Serves packets until the peer leaves (`Ok`) or must be dropped (`Err` with the reason).
    async fn run(
        &mut self,
        mut frames: FramedRead<tokio::net::tcp::OwnedReadHalf, FrameCodec>,
        token: &tokio_util::sync::CancellationToken,
    ) -> Result<(), String> {
        let mut handled: u64 = 0;
        let mut idle_check = tokio::time::interval(Duration::from_secs(3600));
        idle_check.reset();
        loop {
            let frame = tokio::select! {
                _ = token.cancelled() => return Ok(()),
                _ = idle_check.tick(), if self.idle_limit().is_some() => {
                    let limit = self.idle_limit().unwrap_or(Duration::MAX);
                    let idle = self.last_active.elapsed();
                    if idle > limit {
                        return Err(format!(
                            "client no response in {}ms exceeding maxIdleTime {}ms",
                            idle.as_millis(),
                            limit.as_millis()
                        ));
                    }
                    continue;
                }
                frame = frames.next() => frame,
            };
            let frame = match frame {
                None => return Ok(()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(frame)) => frame,
            };
            let packet = Packet::from_frame(frame).map_err(|e| e.to_string())?;
            let was_registered = self.registered.is_some();
            self.handle(packet, token).await?;
            handled += 1;
            if handled % PIPELINE_CHUNK == 0 {
                // Let the writer send what is answered so far, so the follower starts on it
                // while the rest of a large batch is still being read and run here.
                tokio::task::yield_now().await;
            }
            if !was_registered && self.registered.is_some() {
                if let Some(every) = self.idle_limit().map(|l| l / 3) {
                    idle_check = tokio::time::interval_at(Instant::now() + every, every);
                }
            }
        }
    }

    fn idle_limit(&self) -> Option<Duration> {
        let ep = self.registered.as_ref()?;
        let o = ep.options();
        o.check_heartbeat
            .then(|| o.heartbeat_interval.saturating_mul(3))
    }

    async fn handle(
        &mut self,
        packet: Packet,
        token: &tokio_util::sync::CancellationToken,
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
        } = &message
        {
            self.last_active = Instant::now();
            return self
                .register(header, channel_name, secret.as_deref(), token)
                .await;
        }
        let Some(ep) = self.registered.clone() else {
            return Err(format!(
                "{} packet before register_channel",
                message.type_name()
            ));
        };
        self.last_active = Instant::now();
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
                let call = Call {
                    method,
                    args: app,
                    arg_length,
                    oneway,
                    codec: ep.options().codec.clone(),
                };
                self.invoke(ep, header, call);
            }
            Message::Subscribe { reg, .. } => {
                let key = subscription_key(&reg);
                let sink = Sink::Remote {
                    outbox: self.outbox.clone(),
                    timeout_ms: ep.options().response_timeout_ms(),
                };
                ep.subscribe(key, reg, self.id, sink);
            }
            Message::Unsubscribe { reg, .. } => ep.unsubscribe(&subscription_key(&reg), self.id),
            Message::Unknown { type_name, .. } => {
                tracing::warn!(packet_type = %type_name, "unsupported packet type; ignored");
            }
            other => {
                tracing::warn!(
                    packet_type = other.type_name(),
                    "a follower sent a packet only leaders send; ignored"
                );
            }
        }
        Ok(())
    }

    async fn register(
        &mut self,
        header: Header,
        channel: &str,
        secret: Option<&str>,
        token: &tokio_util::sync::CancellationToken,
    ) -> Result<(), String> {
        let reply = Header::response(header.id, header.timeout);
        let Some(ep) = self.server.endpoint(channel) else {
            tracing::warn!(
                channel,
                "a follower asked for a channel this port does not serve"
            );
            let message = format!(
                "channel \"{channel}\" is not served on port {}: the process that owns the port has no client for it",
                self.server.port()
            );
            let error = RemoteError::new("ClusterClientNoLeaderError", message)
                .with_code("ERR_CLUSTER_NO_CHANNEL");
            // The peer's codec is unknown: assume the one the port's other channels use.
            let codec = self
                .server
                .any_endpoint()
                .map(|e| e.options().codec.clone())
                .unwrap_or_default();
            self.send_register_failure(reply, &codec, &error);
            return Ok(());
        };
        if let Some(expected) = &ep.options().secret {
            if !secret.is_some_and(|given| secrets_match(given, expected)) {
                let why = if secret.is_some() { "a wrong" } else { "no" };
                tracing::warn!(
                    channel,
                    "refusing a follower that presented {why} shared secret"
                );
                let error = RemoteError::new(
                    "ClusterClientAuthError",
                    format!(
                        "channel \"{channel}\" on port {} requires a shared secret and the follower presented {why} secret",
                        self.server.port()
                    ),
                )
                .with_code("ERR_CLUSTER_AUTH");
                let codec = ep.options().codec.clone();
                self.send_register_failure(reply, &codec, &error);
                return Ok(());
            }
        }
        let ready = tokio::select! {
            _ = token.cancelled() => return Ok(()),
            ready = ep.wait_ready() => ready,
        };
        match ready {
            Ok(()) => {
                let payload = RegisterOk {
                    success: true,
                    leader_id: ep.instance_id(),
                };
                let codec = ep.options().codec.clone();
                if let Err(e) = self
                    .outbox
                    .push(reply, &Message::RegisterChannelRes, |out| {
                        codec.encode(&payload, out)
                    })
                {
                    tracing::warn!(error = %e, "could not answer register_channel");
                }
                tracing::debug!(channel, "follower registered");
                self.registered = Some(ep);
            }
            Err(error) => {
                let codec = ep.options().codec.clone();
                self.send_register_failure(reply, &codec, &error);
            }
        }
        Ok(())
    }

    fn send_register_failure(
        &self,
        reply: Header,
        codec: &crate::codec::PayloadCodec,
        error: &RemoteError,
    ) {
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
            tracing::warn!(error = %e, "could not answer register_channel");
        }
    }

    /// Runs an invoke. Most real-client methods answer without waiting, so the call is polled
    /// once right here and answered at once; only a call that has to wait gets a task of its own.
    fn invoke(&self, ep: Arc<dyn Endpoint>, header: Header, call: Call) {
        let oneway = call.oneway;
        let codec = call.codec.clone();
        let method = call.method.clone();
        let mut fut = ep.invoke(call);
        let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
        if let std::task::Poll::Ready(result) = fut.as_mut().poll(&mut cx) {
            answer(&self.outbox, header, oneway, &codec, result);
            return;
        }
        let outbox = self.outbox.clone();
        let span = tracing::debug_span!("invoke", %method, request_id = header.id, oneway);
        tokio::spawn(
            async move {
                let result = fut.await;
                answer(&outbox, header, oneway, &codec, result);
            }
            .instrument(span),
        );
    }
}

/// Sends the outcome of an invoke back to the follower (nothing for a oneway call).
fn answer(
    outbox: &Outbox,
    header: Header,
    oneway: bool,
    codec: &crate::codec::PayloadCodec,
    result: Result<Vec<u8>, InvokeError>,
) {
    if oneway {
        if let Err(InvokeError::Failure(e)) = &result {
            tracing::warn!(error = %e, "oneway call failed");
        }
        return;
    }
    let reply = Header::response(header.id, header.timeout);
    let pushed = match result {
        Ok(bytes) => outbox
            .push_bytes(reply, &Message::InvokeResult { success: true }, &bytes)
            .map_err(|e| e.to_string()),
        Err(InvokeError::Encoded(bytes)) => outbox
            .push_bytes(reply, &Message::InvokeResult { success: false }, &bytes)
            .map_err(|e| e.to_string()),
        Err(InvokeError::Failure(error)) => {
            tracing::debug!(error = %error, "answering a failed call");
            outbox
                .push(reply, &Message::InvokeResult { success: false }, |out| {
                    encode_remote_error(codec, &error, out)
                })
                .map_err(|e| e.to_string())
        }
    };
    if let Err(e) = pushed {
        tracing::debug!(error = %e, "could not answer: the follower is gone");
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
