//! Options, with the Node package's defaults and environment variables.

use std::time::Duration;

use crate::codec::PayloadCodec;
use crate::protocol::DEFAULT_MAX_FRAME_LEN;

/// Which role a process may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RolePolicy {
    /// Compete for the port: lead when the bind succeeds, follow otherwise (Node: `isLeader`
    /// unset).
    #[default]
    Auto,
    /// Always lead: fail clearly when another process holds the port (Node: `isLeader: true`).
    Leader,
    /// Never lead: wait for a leader, with backoff, for as long as it takes (Node:
    /// `isLeader: false`, which gives up after `maxWaitTime`; this waits on and recovers).
    Follower,
}

/// What a full subscription buffer does when the consumer does not keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LagPolicy {
    /// Drop the oldest buffered values and keep the newest (right for state such as address
    /// lists, where only the latest value matters). [`crate::Subscription::lagged`] counts
    /// what was dropped.
    #[default]
    KeepLatest,
    /// End the stream; [`crate::Subscription::close_reason`] says it lagged.
    Close,
}

/// Runtime options of a channel. Build them with the handle's builder.
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    /// Loopback port to compete for. Default: `NODE_CLUSTER_CLIENT_PORT` or 7777.
    pub port: u16,
    /// Role policy. Default: auto.
    pub role: RolePolicy,
    /// Follower: timeout of registration and of each call (including the wait for a leader
    /// during re-election). Default 3 s.
    pub response_timeout: Duration,
    /// Follower: TCP connect timeout. Default: `NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT` or 10 s.
    pub connect_timeout: Duration,
    /// Follower heartbeat period; the leader drops connections idle for 3x its own interval.
    /// Default 20 s.
    pub heartbeat_interval: Duration,
    /// Leader: drop idle connections. Default true.
    pub check_heartbeat: bool,
    /// How long `create` waits for a leader when the role is [`RolePolicy::Follower`].
    /// Default 30 s. The handle keeps trying after that; only `create` gives up.
    pub max_wait_time: Duration,
    /// Leader: push each value to every subscriber (true) or to one at random. Default true.
    pub broadcast: bool,
    /// No networking: every handle of the channel in this process shares one real client.
    /// Default: `NODE_CLUSTER_CLIENT_SINGLE_MODE=1`.
    pub single_mode: bool,
    /// Payload codec. Default serialize-json.
    pub codec: PayloadCodec,
    /// Largest frame accepted or sent. Default 64 MiB.
    pub max_frame_len: usize,
    /// Values buffered per subscription stream before the lag policy applies. Default 1024.
    pub subscription_buffer: usize,
    /// What a full subscription buffer does. Default keep-latest.
    pub lag_policy: LagPolicy,
    /// Follower: report a subscription that got no first value within this time (logged as a
    /// warning). Default off.
    pub subscribe_timeout: Option<Duration>,
    /// A shared secret: a leader serves only followers that present it in `register_channel`,
    /// and a follower presents it. Default: `CLUSTER_CLIENT_SECRET`, else none. Node leaders
    /// ignore it; Node followers cannot present it.
    pub secret: Option<String>,
    /// Leader: connections served at once on the port (registered or not). Beyond it a new
    /// connection is closed at once. Default 1024.
    pub max_connections: usize,
    /// Leader: bytes that all connections of the port together may leave unread. Over it, the
    /// connection holding the most is closed. Default 64 MiB.
    pub max_queued_bytes: usize,
    /// Leader: invokes of one connection running at once. Beyond it the leader stops reading
    /// that connection until one finishes (TCP pushes back on the peer). Default 1024.
    pub max_calls_per_connection: usize,
    /// Leader: subscription keys one connection may hold. Beyond it, subscribe requests are
    /// ignored with a warning. Default 100,000.
    pub max_subscriptions_per_connection: usize,
    /// Leader: how many times the factory is tried before the leader gives up (and answers
    /// every follower with the factory's error until the handle closes). Default: no limit,
    /// with a backoff from 200 ms to 5 s. Node tries once.
    pub factory_attempts: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            port: env_parse("NODE_CLUSTER_CLIENT_PORT").unwrap_or(7777),
            role: RolePolicy::Auto,
            response_timeout: Duration::from_millis(3000),
            connect_timeout: Duration::from_millis(
                env_parse("NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT").unwrap_or(10_000),
            ),
            heartbeat_interval: Duration::from_millis(20_000),
            check_heartbeat: true,
            max_wait_time: Duration::from_millis(30_000),
            broadcast: true,
            single_mode: std::env::var("NODE_CLUSTER_CLIENT_SINGLE_MODE").is_ok_and(|v| v == "1"),
            codec: PayloadCodec::default(),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            subscription_buffer: 1024,
            lag_policy: LagPolicy::KeepLatest,
            subscribe_timeout: None,
            secret: std::env::var("CLUSTER_CLIENT_SECRET")
                .ok()
                .filter(|s| !s.is_empty()),
            max_connections: 1024,
            max_queued_bytes: 64 * 1024 * 1024,
            max_calls_per_connection: 1024,
            max_subscriptions_per_connection: 100_000,
            factory_attempts: None,
        }
    }
}

impl Options {
    /// The timeout value written into request headers (milliseconds, saturating).
    pub(crate) fn response_timeout_ms(&self) -> i32 {
        crate::time::header_ms(self.response_timeout)
    }
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    let raw = std::env::var(name).ok()?;
    match raw.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::warn!(variable = name, value = %raw, "ignoring an environment variable that is not a number");
            None
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("port", &self.port)
            .field("role", &self.role)
            .field("response_timeout", &self.response_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("check_heartbeat", &self.check_heartbeat)
            .field("max_wait_time", &self.max_wait_time)
            .field("broadcast", &self.broadcast)
            .field("single_mode", &self.single_mode)
            .field("codec", &self.codec)
            .field("max_frame_len", &self.max_frame_len)
            .field("subscription_buffer", &self.subscription_buffer)
            .field("lag_policy", &self.lag_policy)
            .field("subscribe_timeout", &self.subscribe_timeout)
            // Never print the secret itself.
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("max_connections", &self.max_connections)
            .field("max_queued_bytes", &self.max_queued_bytes)
            .field("max_calls_per_connection", &self.max_calls_per_connection)
            .field(
                "max_subscriptions_per_connection",
                &self.max_subscriptions_per_connection,
            )
            .field("factory_attempts", &self.factory_attempts)
            .finish()
    }
}
