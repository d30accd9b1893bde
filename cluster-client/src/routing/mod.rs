//! Where a call goes: the one path every two-way call takes, whoever makes it (the handle's
//! `invoke` and `invoke_raw`, and the code `#[cluster_client]` generates).
//!
//! A call has one deadline, fixed when it starts. It covers the wait for a leader, the local
//! call or the remote answer, and any retry: a call whose frame never left this process (its
//! connection died first) goes to the next leader; only a call that may have reached a leader
//! fails with `LeaderLost`. Local calls get the same deadline and the same panic capture as
//! calls a leader runs for its followers.

pub(crate) mod ordered;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use tokio::time::Instant;
use tracing::Instrument;

use crate::codec::{CodecError, PayloadCodec};
use crate::core::{Core, Role};
use crate::error::{Error, RemoteError, WireError};
use crate::follower::{CallFailure, FollowerConn};
use crate::protocol::{Message, ProtocolError};
use crate::service::Service;
use crate::time::deadline_after;

/// Where a call made now goes.
enum Route<C> {
    /// This process leads: call the real client directly.
    Local(Arc<C>),
    /// Forward to the leader.
    Remote(Arc<FollowerConn>),
}

/// How a call was answered.
pub(crate) enum Answer<L> {
    /// By this process's real client.
    Local(L),
    /// By the leader: the encoded result.
    Remote(Bytes),
}

/// Counts a call in flight while it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<S: Service> Core<S> {
    /// Runs one two-way call within `timeout`: `local` on this process's real client when it
    /// leads, else over the wire with `args` written by `encode`. The call has a `tracing`
    /// span (`call`, with channel, method, role and outcome) and, with the `metrics` feature,
    /// is counted and timed.
    pub(crate) async fn call<A, L, Fut>(
        &self,
        method: &str,
        timeout: Duration,
        args: A,
        arg_count: u32,
        encode: impl Fn(&A, &PayloadCodec, &mut Vec<u8>) -> Result<(), CodecError>,
        local: impl FnOnce(Arc<S::Client>, A) -> Fut,
    ) -> Result<Answer<L>, Error>
    where
        Fut: Future<Output = L>,
    {
        let _in_flight = InFlight::enter(&self.calls_in_flight);
        let span = tracing::debug_span!(
            "call",
            channel = %self.channel,
            method = ?method,
            role = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let answer = self
            .route_call(method, timeout, args, arg_count, encode, local)
            .instrument(span.clone())
            .await;
        let role = match &answer {
            Ok(Answer::Local(_)) => "leader",
            Ok(Answer::Remote(_)) => "follower",
            Err(_) => "none",
        };
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        span.record("role", role);
        span.record("outcome", outcome);
        crate::metrics::call(&self.channel, role, outcome, started.elapsed());
        answer
    }

    async fn route_call<A, L, Fut>(
        &self,
        method: &str,
        timeout: Duration,
        args: A,
        arg_count: u32,
        encode: impl Fn(&A, &PayloadCodec, &mut Vec<u8>) -> Result<(), CodecError>,
        local: impl FnOnce(Arc<S::Client>, A) -> Fut,
    ) -> Result<Answer<L>, Error>
    where
        Fut: Future<Output = L>,
    {
        let deadline = deadline_after(timeout);
        loop {
            match self.route(method, deadline, timeout).await? {
                Route::Local(client) => {
                    return self
                        .call_local(method, deadline, timeout, client, args, local)
                        .await
                        .map(Answer::Local);
                }
                Route::Remote(conn) => {
                    let message = Message::Invoke {
                        method: method.to_owned(),
                        arg_length: arg_count,
                        oneway: false,
                    };
                    let codec = &self.options.codec;
                    let sent = conn
                        .request(&message, method, deadline, timeout, |out| {
                            encode(&args, codec, out)
                        })
                        .await;
                    match sent {
                        Ok((Message::InvokeResult { success: true }, app)) => {
                            return Ok(Answer::Remote(app));
                        }
                        Ok((Message::InvokeResult { success: false }, app)) => {
                            return Err(remote_error(&self.channel, method, codec, app));
                        }
                        Ok((other, _)) => {
                            return Err(Error::Protocol {
                                channel: self.channel.clone(),
                                port: self.options.port,
                                source: Arc::new(ProtocolError::BadArgs(format!(
                                    "expected invoke_result, got {:?}",
                                    other.type_name()
                                ))),
                            });
                        }
                        // Never written: the next leader gets it, within the same deadline.
                        Err(CallFailure::NotSent) => continue,
                        Err(CallFailure::Failed(e)) => return Err(e),
                    }
                }
            }
        }
    }

    /// Calls the local real client: after the oneway calls made before it have started, with
    /// the call's deadline, and with a panic reported as the caller's error.
    async fn call_local<A, L, Fut>(
        &self,
        method: &str,
        deadline: Instant,
        timeout: Duration,
        client: Arc<S::Client>,
        args: A,
        local: impl FnOnce(Arc<S::Client>, A) -> Fut,
    ) -> Result<L, Error>
    where
        Fut: Future<Output = L>,
    {
        let timed_out = || self.timeout_error(method, timeout);
        if tokio::time::timeout_at(deadline, self.ordered_barrier())
            .await
            .is_err()
        {
            return Err(timed_out());
        }
        let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| local(client, args))) {
            Ok(fut) => fut,
            Err(_) => return Err(self.panicked(method)),
        };
        match tokio::time::timeout_at(deadline, AssertUnwindSafe(fut).catch_unwind()).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(self.panicked(method)),
            Err(_) => Err(timed_out()),
        }
    }

    fn panicked(&self, method: &str) -> Error {
        tracing::error!(channel = %self.channel, method = ?method, "the real client panicked in a local call");
        Error::Remote {
            channel: self.channel.clone(),
            method: method.to_owned(),
            error: Box::new(
                RemoteError::new(
                    "ClusterClientPanicError",
                    format!("method {method:?} panicked"),
                )
                .with_code("ERR_CLUSTER_PANIC"),
            ),
            payload: Bytes::new(),
        }
    }

    /// Where a call made now goes, waiting for an election until `deadline`.
    async fn route(
        &self,
        method: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Route<S::Client>, Error> {
        let mut rx = self.role.subscribe();
        loop {
            {
                let role = rx.borrow_and_update();
                match &*role {
                    Role::Leading { client, .. } => return Ok(Route::Local(client.clone())),
                    Role::Following(conn) if !conn.is_closed() => {
                        return Ok(Route::Remote(conn.clone()));
                    }
                    Role::Failed(e) => return Err(e.clone()),
                    Role::Closed => return Err(self.closed_error()),
                    _ => {}
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(self.closed_error()),
                Err(_) => {
                    return Err(
                        self.timeout_error(&format!("{method} (no leader elected)"), timeout)
                    );
                }
            }
        }
    }
}

/// Decodes a failed invoke's error object.
pub(crate) fn remote_error(
    channel: &str,
    method: &str,
    codec: &PayloadCodec,
    payload: Bytes,
) -> Error {
    let wire: WireError = codec
        .decode(&payload)
        .unwrap_or_else(WireError::undecodable);
    Error::Remote {
        channel: channel.to_owned(),
        method: method.to_owned(),
        error: Box::new(RemoteError::from(wire)),
        payload,
    }
}
