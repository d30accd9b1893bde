//! The port owner: accepts connections and routes each to the channel named in its
//! `register_channel` packet. One per port per process (scope); it serves every channel this
//! process leads on that port.
//!
//! Everything a peer can make the port hold is bounded: connections (a semaphore; beyond it a
//! connection is told so and closed at once), bytes queued for peers across all connections
//! ([`QueueBudget`]), and, per connection, the time to register, the frame size before
//! registration, calls in flight and subscription keys (see `connection.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::Endpoint;
use super::connection::serve_connection;
use crate::options::Options;
use crate::outbox::QueueBudget;
use crate::protocol::{FrameCodec, Header, Message, Packet};
use crate::task::{OwnedTask, TaskSet};
use crate::throttle::Throttle;

/// The bounds of one port, from the options of the channel that won it.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) max_frame_len: usize,
    pub(crate) register_within: Duration,
    pub(crate) max_calls_per_connection: usize,
    pub(crate) max_subscriptions_per_connection: usize,
}

pub(crate) struct PortServer {
    shared: Arc<Shared>,
    _accept: OwnedTask,
}

/// What the accept loop and the connections share.
pub(crate) struct Shared {
    port: u16,
    channels: Mutex<HashMap<String, Arc<dyn Endpoint>>>,
    has_channel: watch::Sender<bool>,
    /// Cancelled to close the listener and every accepted connection.
    shutdown: CancellationToken,
    pub(crate) budget: Arc<QueueBudget>,
    pub(crate) limits: Limits,
    connections: TaskSet,
    slots: Arc<Semaphore>,
    warnings: Mutex<Throttle>,
    closings: Mutex<Throttle>,
}

impl PortServer {
    /// Starts serving a listener this process just bound. Nothing is accepted before the
    /// first channel is added, so no early follower is told the channel does not exist.
    pub(crate) fn start(listener: TcpListener, port: u16, options: &Options) -> Arc<Self> {
        let shared = Arc::new(Shared {
            port,
            channels: Mutex::new(HashMap::new()),
            has_channel: watch::Sender::new(false),
            shutdown: CancellationToken::new(),
            budget: QueueBudget::new(options.max_queued_bytes),
            limits: Limits {
                max_frame_len: options.max_frame_len,
                register_within: options.connect_timeout,
                max_calls_per_connection: options.max_calls_per_connection.max(1),
                max_subscriptions_per_connection: options.max_subscriptions_per_connection,
            },
            connections: TaskSet::new(),
            slots: Arc::new(Semaphore::new(
                options.max_connections.clamp(1, Semaphore::MAX_PERMITS),
            )),
            warnings: Mutex::new(Throttle::new(Duration::from_secs(10))),
            closings: Mutex::new(Throttle::with_burst(Duration::from_secs(1), 20)),
        });
        let accept = OwnedTask::spawn(accept_loop(shared.clone(), listener));
        Arc::new(Self {
            shared,
            _accept: accept,
        })
    }

    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.shared.shutdown
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shared.shutdown.is_cancelled()
    }

    /// Starts serving a channel (replacing an older leader of the same name, whose own
    /// connections end when it stops).
    pub(crate) fn add_channel(&self, endpoint: Arc<dyn Endpoint>) {
        let name = endpoint.channel().to_owned();
        let replaced = self.shared.channels().insert(name, endpoint);
        self.shared.has_channel.send_replace(true);
        drop(replaced);
    }

    /// Stops serving a channel if `instance` still serves it. When it was the last channel,
    /// closes the listener and every connection, so the followers of all channels on this
    /// port re-elect. Returns whether the server shut down.
    pub(crate) fn remove_channel(&self, channel: &str, instance: &str) -> bool {
        let (removed, empty) = {
            let mut channels = self.shared.channels();
            let same = channels
                .get(channel)
                .is_some_and(|e| e.instance_id() == instance);
            let removed = if same { channels.remove(channel) } else { None };
            (removed, channels.is_empty())
        };
        drop(removed);
        if empty {
            self.shared.shutdown.cancel();
        }
        empty
    }
}

impl PortServer {
    /// Connections open on the port, and bytes queued for them.
    pub(crate) fn load(&self) -> (usize, usize) {
        self.shared.load()
    }
}

impl Drop for PortServer {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        self.shared.connections.abort_all();
    }
}

impl Shared {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn Endpoint>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Connections open on the port, and bytes queued for them.
    pub(crate) fn load(&self) -> (usize, usize) {
        (self.connections.len(), self.budget.used())
    }

    pub(crate) fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    pub(crate) fn endpoint(&self, channel: &str) -> Option<Arc<dyn Endpoint>> {
        self.channels().get(channel).cloned()
    }

    /// The codec of some channel of the port, for answering a peer before it named one.
    pub(crate) fn any_codec(&self) -> crate::codec::PayloadCodec {
        self.channels()
            .values()
            .next()
            .map(|e| e.options().codec.clone())
            .unwrap_or_default()
    }

    /// Whether any channel of the port requires a shared secret.
    pub(crate) fn guarded(&self) -> bool {
        self.channels()
            .values()
            .any(|e| e.options().secret.is_some())
    }

    /// Logs a port-wide warning at most once per 10 s.
    fn warn_throttled(&self, what: &str, detail: &dyn std::fmt::Display) {
        let allowed = self
            .warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow();
        if let Some(held_back) = allowed {
            tracing::warn!(port = self.port, held_back, "{what}: {detail}");
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut has_channel = shared.has_channel.subscribe();
    tokio::select! {
        _ = shared.shutdown.cancelled() => return,
        _ = has_channel.wait_for(|has| *has) => {}
    }
    let port = shared.port;
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => match shared.slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    let conn = serve_connection(shared.clone(), stream, peer, slot);
                    shared.connections.spawn(conn);
                }
                Err(_) => {
                    shared.warn_throttled(
                        "closing a new connection: the port is at its connection limit",
                        &format_args!("{} connections (peer {peer})", shared.connections.len()),
                    );
                    tell_full(&stream);
                }
            },
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                shared.warn_throttled("accept failed", &e);
                tokio::select! {
                    _ = shared.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
    tracing::debug!(port, "port server stopped; the port is released");
}

impl Shared {
    /// Logs why a connection was closed, at most 20 times a second for the whole port (a peer
    /// can open and close connections as fast as it likes).
    pub(crate) fn warn_closing(&self, why: &str) {
        let allowed = self
            .closings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow();
        if let Some(held_back) = allowed {
            tracing::warn!(port = self.port, reason = ?why, held_back, "closing a follower connection");
        }
    }
}

/// Tells a peer that the port is served but full: one `heartbeat_res` with id 0 (which no
/// request has, so Node followers ignore it), then the connection closes. A Rust follower
/// knows from it that a leader holds the port and retries later.
fn tell_full(stream: &tokio::net::TcpStream) {
    let mut frame = Vec::with_capacity(48);
    let packet = Packet {
        header: Header::response(0, 0),
        message: Message::HeartbeatRes,
        app: bytes::Bytes::new(),
    };
    if packet.encode(&FrameCodec::default(), &mut frame).is_ok() {
        // A fresh socket's buffer takes these few bytes at once; if not, the peer learns less.
        let _ = stream.try_write(&frame);
    }
}
