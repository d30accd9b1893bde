//! Elections: bind the port and lead, or connect and follow; hold the role until it ends; then
//! compete again, paced so that no peer can make this process reconnect in a tight loop.
//!
//! Pacing, from the point of view of one core:
//! - after a role ends, the first attempt is immediate (as Node re-competes at once), unless
//!   more than 4 roles that lasted less than `min(heartbeat, 1 s)` ended within 10 s: then
//!   the attempts back off;
//! - a failed attempt backs off with jitter, from 5 ms doubling to 2 s: a peer that accepts and
//!   hangs up gets about a dozen attempts in the first 2 s, then one every 1-2 s;
//! - a connect that finds nobody listening is retried within 50-100 ms whatever the backoff,
//!   so a fixed follower meets a new leader soon after it appears.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::backoff::{Backoff, random_below};
use crate::core::{Core, Role};
use crate::error::{Error, RemoteError};
use crate::follower::{ConnectFailure, FollowerConn};
use crate::leader::{ChannelLeader, PortServer};
use crate::options::RolePolicy;
use crate::service::Service;

/// Short roles tolerated within [`STORM_WINDOW`] before re-election backs off.
const SHORT_ROLES: usize = 4;
const STORM_WINDOW: Duration = Duration::from_secs(10);

/// What an election won.
enum Won {
    /// Lead, serving followers through this port server (none in single mode).
    Lead(Option<Arc<PortServer>>),
    Follow(Arc<FollowerConn>),
}

/// Why an attempt failed, for pacing and for what callers are told.
enum Lost {
    /// Nobody listens: retry soon.
    Refused(Error),
    /// Something else holds the port.
    Stranger { seen: String, definitive: bool },
    /// A failure callers should see at once (the election keeps retrying).
    Definitive(Error),
    /// A fixed leader that cannot lead: final until the handle closes.
    Final(Error),
    /// Anything else: retried with backoff.
    Transient(Error),
}

/// When to attempt the next election.
struct Pacing {
    backoff: Backoff,
    healthy_after: Duration,
    short_roles: VecDeque<Instant>,
    /// Since when every attempt met a stranger on the port.
    stranger_since: Option<Instant>,
}

impl Pacing {
    fn new(heartbeat: Duration) -> Self {
        Self {
            backoff: Backoff::new(Duration::from_millis(5), Duration::from_secs(2)),
            healthy_after: heartbeat.min(Duration::from_secs(1)),
            short_roles: VecDeque::new(),
            stranger_since: None,
        }
    }

    /// A role of `lasted` ended; the delay before the next attempt.
    fn role_ended(&mut self, lasted: Duration) -> Duration {
        self.stranger_since = None;
        if lasted >= self.healthy_after {
            self.short_roles.clear();
            self.backoff.reset();
            return Duration::ZERO;
        }
        let now = Instant::now();
        self.short_roles.push_back(now);
        while self
            .short_roles
            .front()
            .is_some_and(|t| now.duration_since(*t) > STORM_WINDOW)
        {
            self.short_roles.pop_front();
        }
        if self.short_roles.len() <= SHORT_ROLES {
            self.backoff.reset();
            return Duration::ZERO;
        }
        self.backoff.next_delay()
    }

    /// An attempt failed; the delay before the next one.
    fn failed(&mut self, lost: &Lost) -> Duration {
        match lost {
            Lost::Refused(_) => Duration::from_micros(50_000 + random_below(50_000)),
            _ => self.backoff.next_delay(),
        }
    }
}

impl<S: Service> Core<S> {
    /// Runs elections until the core shuts down, then tears down whatever role it held.
    pub(crate) async fn supervise(self: Arc<Self>) {
        let mut pacing = Pacing::new(self.options.heartbeat_interval);
        while !self.shutdown.is_cancelled() {
            let attempt = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                attempt = self.elect() => attempt,
            };
            let delay = match attempt {
                Ok(won) => {
                    let started = Instant::now();
                    match won {
                        Won::Lead(server) => self.lead(server).await,
                        Won::Follow(conn) => self.follow(conn).await,
                    }
                    pacing.role_ended(started.elapsed())
                }
                Err(lost) => {
                    let delay = pacing.failed(&lost);
                    if self.report(lost, &mut pacing).await {
                        break;
                    }
                    delay
                }
            };
            if self.shutdown.is_cancelled() {
                break;
            }
            if !delay.is_zero() {
                tokio::select! {
                    _ = self.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
        self.set_role(Role::Closed);
        self.close_streams();
        self.tasks.abort_all();
    }

    /// Tells callers about a failed attempt when they should know. Returns true when the
    /// election is over for good.
    async fn report(&self, lost: Lost, pacing: &mut Pacing) -> bool {
        match lost {
            Lost::Refused(e) | Lost::Transient(e) => {
                pacing.stranger_since = None;
                tracing::debug!(error = ?e.to_string(), "election attempt failed; retrying");
            }
            Lost::Definitive(e) => {
                pacing.stranger_since = None;
                tracing::warn!(error = ?e.to_string(), "election failed; retrying in the background");
                self.set_role(Role::Failed(e));
            }
            Lost::Stranger { seen, definitive } => {
                let since = *pacing.stranger_since.get_or_insert_with(Instant::now);
                if definitive || since.elapsed() >= self.options.connect_timeout {
                    let e = Error::PortHeldByStranger {
                        channel: self.channel.clone(),
                        port: self.options.port,
                        seen,
                    };
                    tracing::warn!(error = ?e.to_string(), "the port is not held by a cluster-client leader; retrying in the background");
                    self.set_role(Role::Failed(e));
                } else {
                    tracing::debug!(seen = ?seen, "the port's owner did not answer like a leader; retrying");
                }
            }
            Lost::Final(e) => {
                tracing::warn!(error = ?e.to_string(), "election failed");
                self.set_role(Role::Failed(e));
                // A fixed leader that cannot lead stays failed until closed.
                self.shutdown.cancelled().await;
                return true;
            }
        }
        false
    }

    async fn elect(&self) -> Result<Won, Lost> {
        if self.options.single_mode {
            return Ok(Won::Lead(None));
        }
        let port = self.options.port;
        // Set when another process holds the port: a refused connection then most likely met
        // it between its bind and its listen, so the next attempt comes soon.
        let mut port_taken = false;
        if self.options.role != RolePolicy::Follower {
            let _guard = self.scope.election_lock().await;
            if let Some(server) = self.scope.port_server(port) {
                return Ok(Won::Lead(Some(server)));
            }
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => {
                    let server = PortServer::start(listener, port, &self.options);
                    self.scope.set_port_server(port, &server);
                    tracing::info!(channel = %self.channel, port, "won the port: leading");
                    return Ok(Won::Lead(Some(server)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    port_taken = true;
                    if self.options.role == RolePolicy::Leader {
                        return Err(Lost::Final(Error::PortOccupied {
                            channel: self.channel.clone(),
                            port,
                        }));
                    }
                }
                Err(e) => {
                    return Err(Lost::Definitive(Error::Bind {
                        channel: self.channel.clone(),
                        port,
                        source: Arc::new(e),
                    }));
                }
            }
        }
        match FollowerConn::connect(
            &self.channel,
            &self.publisher,
            &self.options,
            self.push_handler(),
        )
        .await
        {
            Ok(conn) => {
                tracing::info!(channel = %self.channel, port, "following the leader");
                Ok(Won::Follow(conn))
            }
            Err(ConnectFailure::Refused(e)) if port_taken => Err(Lost::Transient(e)),
            Err(ConnectFailure::Refused(e)) => Err(Lost::Refused(e)),
            Err(ConnectFailure::Stranger { seen, definitive }) => {
                Err(Lost::Stranger { seen, definitive })
            }
            Err(ConnectFailure::Failed(e)) => Err(match &e {
                Error::LeaderNotReady { .. }
                | Error::NoLeaderForChannel { .. }
                | Error::Unauthorized { .. } => Lost::Definitive(e),
                _ => Lost::Transient(e),
            }),
        }
    }

    /// Leads until the core shuts down or the port server closes.
    async fn lead(self: &Arc<Self>, server: Option<Arc<PortServer>>) {
        let leader = ChannelLeader::new(
            self.channel.clone(),
            self.service.clone(),
            self.options.clone(),
        );
        if let Some(server) = &server {
            server.add_channel(leader.clone());
        }
        let server_down = async {
            match &server {
                Some(s) => s.shutdown_token().cancelled().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(server_down);
        let mut retry = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let mut attempts: u32 = 0;
        loop {
            attempts = attempts.saturating_add(1);
            let created = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = &mut server_down => break,
                created = AssertUnwindSafe((self.factory)()).catch_unwind() => created,
            };
            match created {
                Ok(Ok(client)) => {
                    let client = Arc::new(client);
                    leader.set_ready(client.clone());
                    self.enter(Role::Leading {
                        leader: leader.clone(),
                        client,
                    });
                    tokio::select! {
                        _ = self.shutdown.cancelled() => {}
                        _ = &mut server_down => tracing::warn!(channel = %self.channel, "the port server closed; re-electing"),
                    }
                    break;
                }
                failed => {
                    let error = match failed {
                        Ok(Err(error)) => error,
                        _ => RemoteError::new("Error", "the client factory panicked")
                            .with_code("ERR_CLUSTER_CLIENT_CREATE"),
                    };
                    leader.set_failed(error.clone());
                    self.set_role(Role::Failed(Error::LeaderNotReady {
                        channel: self.channel.clone(),
                        error: Box::new(error.clone()),
                    }));
                    let last = self
                        .options
                        .factory_attempts
                        .is_some_and(|max| attempts >= max);
                    let wait = if last {
                        tracing::warn!(channel = %self.channel, error = ?error.to_string(), attempts, "creating the real client failed; giving up: followers get this error until the handle closes");
                        None
                    } else {
                        let delay = retry.next_delay();
                        tracing::warn!(channel = %self.channel, error = ?error.to_string(), attempt = attempts, retry_in_ms = delay.as_millis() as u64, "creating the real client failed; retrying");
                        Some(delay)
                    };
                    let retry_at = async {
                        match wait {
                            Some(delay) => tokio::time::sleep(delay).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = self.shutdown.cancelled() => break,
                        _ = &mut server_down => break,
                        _ = retry_at => {}
                    }
                }
            }
        }
        self.set_role(Role::Electing);
        if let Some(server) = &server {
            server.remove_channel(
                &self.channel,
                crate::leader::Endpoint::instance_id(&*leader),
            );
        }
        leader.close().await;
    }

    /// Follows `conn` until it closes or the core shuts down.
    async fn follow(self: &Arc<Self>, conn: Arc<FollowerConn>) {
        self.enter(Role::Following(conn.clone()));
        tokio::select! {
            _ = self.shutdown.cancelled() => conn.close(),
            _ = conn.closed() => {
                tracing::warn!(channel = %self.channel, port = self.options.port, "lost the leader; re-electing");
            }
        }
        self.set_role(Role::Electing);
    }
}
