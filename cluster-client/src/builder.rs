//! The builder of a [`Handle`]: options, then `create` (wait until ready) or `build`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::PayloadCodec;
use crate::core::{Core, Factory};
use crate::error::{Error, RemoteError, synthesized_stack};
use crate::handle::Handle;
use crate::options::{LagPolicy, Options, RolePolicy};
use crate::scope::Scope;
use crate::service::Service;
use crate::task::OwnedTask;

/// Configures and creates a [`Handle`], or the handle type `#[cluster_client]` generates
/// (`{Name}Builder` is this builder with `H = {Name}Cluster`): every option is here once.
///
/// ```no_run
/// # use cluster_client::{Builder, Service, BoxFuture, Call, InvokeError};
/// # use std::sync::Arc;
/// # struct Echo;
/// # impl Service for Echo {
/// #     type Client = ();
/// #     fn channel_name(&self) -> &str { "Echo" }
/// #     fn invoke(&self, _: Arc<()>, _: Call) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
/// #         Box::pin(async { Ok(Vec::new()) })
/// #     }
/// # }
/// # async fn run() -> Result<(), cluster_client::Error> {
/// use std::time::Duration;
///
/// let handle = Builder::new(Echo)
///     .port(7777)
///     .response_timeout(Duration::from_secs(1))
///     .secret("from the service's configuration")
///     .create(|| async { Ok::<_, String>(()) })
///     .await?;
/// # Ok(()) }
/// ```
pub struct Builder<S: Service, H = Handle<S>> {
    service: S,
    channel: Option<String>,
    options: Options,
    scope: Option<Scope>,
    wrap: fn(Handle<S>) -> H,
}

impl<S: Service, H> std::fmt::Debug for Builder<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("channel", &self.channel)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<S: Service> Builder<S> {
    /// A builder with Node's defaults for the service's channel.
    pub fn new(service: S) -> Self {
        Self::wrapping(service, std::convert::identity)
    }
}

impl<S: Service, H> Builder<S, H> {
    /// A builder whose `create` and `build` give `wrap(handle)` (generated handle types are
    /// made this way).
    pub fn wrapping(service: S, wrap: fn(Handle<S>) -> H) -> Self {
        Self {
            service,
            channel: None,
            options: Options::default(),
            scope: None,
            wrap,
        }
    }

    /// Sets the channel name (default: the service's name, i.e. the trait name).
    pub fn name(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// Sets the loopback port to compete for (default `NODE_CLUSTER_CLIENT_PORT` or 7777).
    pub fn port(mut self, port: u16) -> Self {
        self.options.port = port;
        self
    }

    /// Sets the timeout of each call, including the wait for a leader (default 3 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.options.response_timeout = timeout;
        self
    }

    /// Sets the follower's connect timeout, also the time a peer has to register with a
    /// leader (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self
    }

    /// Sets the heartbeat interval (default 20 s; the leader's idle limit is 3x).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.options.heartbeat_interval = interval;
        self
    }

    /// Whether the leader drops idle connections (default true).
    pub fn check_heartbeat(mut self, check: bool) -> Self {
        self.options.check_heartbeat = check;
        self
    }

    /// How long [`Builder::create`] waits for the handle to become ready (default 30 s).
    pub fn max_wait_time(mut self, wait: Duration) -> Self {
        self.options.max_wait_time = wait;
        self
    }

    /// Broadcast each value to every subscriber (default) or to one at random.
    pub fn broadcast(mut self, broadcast: bool) -> Self {
        self.options.broadcast = broadcast;
        self
    }

    /// Fixes the role: `true` must lead, `false` never leads (default: compete).
    pub fn is_leader(mut self, leader: bool) -> Self {
        self.options.role = if leader {
            RolePolicy::Leader
        } else {
            RolePolicy::Follower
        };
        self
    }

    /// Sets the role policy.
    pub fn role(mut self, role: RolePolicy) -> Self {
        self.options.role = role;
        self
    }

    /// No networking: the handles of this process share one real client.
    pub fn single_mode(mut self, single: bool) -> Self {
        self.options.single_mode = single;
        self
    }

    /// Sets the payload codec (default serialize-json; every peer must agree).
    pub fn codec(mut self, codec: PayloadCodec) -> Self {
        self.options.codec = codec;
        self
    }

    /// Sets the largest frame accepted or sent (default 64 MiB).
    pub fn max_frame_len(mut self, len: usize) -> Self {
        self.options.max_frame_len = len;
        self
    }

    /// Sets how many values each subscription stream buffers (default 1024).
    pub fn subscription_buffer(mut self, len: usize) -> Self {
        self.options.subscription_buffer = len;
        self
    }

    /// Warns when a subscription gets no first value within `timeout` (default off).
    pub fn subscribe_timeout(mut self, timeout: Duration) -> Self {
        self.options.subscribe_timeout = Some(timeout);
        self
    }

    /// Sets what a full subscription buffer does (default: keep the latest values).
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.options.lag_policy = policy;
        self
    }

    /// Requires (as a leader) and presents (as a follower) a shared secret; see
    /// [`Options::secret`].
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.options.secret = Some(secret.into());
        self
    }

    /// Leader: connections served at once on the port (default 1024).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.options.max_connections = max;
        self
    }

    /// Leader: bytes all connections of the port may leave unread together (default 64 MiB).
    pub fn max_queued_bytes(mut self, max: usize) -> Self {
        self.options.max_queued_bytes = max;
        self
    }

    /// Leader: invokes of one connection running at once (default 1024).
    pub fn max_calls_per_connection(mut self, max: usize) -> Self {
        self.options.max_calls_per_connection = max;
        self
    }

    /// Leader: subscription keys one connection may hold (default 100,000).
    pub fn max_subscriptions_per_connection(mut self, max: usize) -> Self {
        self.options.max_subscriptions_per_connection = max;
        self
    }

    /// How many times the factory is tried when it fails, before the leader gives up and
    /// answers every follower with its error until the handle closes (default: no limit, with
    /// a backoff from 200 ms to 5 s; Node tries once).
    pub fn factory_attempts(mut self, attempts: u32) -> Self {
        self.options.factory_attempts = Some(attempts.max(1));
        self
    }

    /// Replaces all options at once.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Uses a scope other than the process-wide one (tests model processes this way).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Creates the handle and waits until it is ready: it leads (its real client is created)
    /// or it follows a ready leader. Fails with the first definitive error, or after
    /// `max_wait_time` with [`Error::Timeout`] (and the handle is closed), in every role, as
    /// Node's `ready()` does. A handle from [`Builder::build`] never gives up: a fixed
    /// follower built that way waits for a leader for as long as it takes.
    ///
    /// `factory` is called whenever this process becomes the leader (again). Its error
    /// reaches followers as the `message` of `ERR_CLUSTER_CLIENT_CREATE`; return a
    /// [`RemoteError`] (or an [`Error`]) to choose the `name` and `code` they get.
    pub async fn create<F, Fut, E>(self, factory: F) -> Result<H, Error>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S::Client, E>> + Send + 'static,
        E: std::fmt::Display + 'static,
    {
        let wait = self.options.max_wait_time;
        let wrap = self.wrap;
        let handle = self.build_handle(factory)?;
        match tokio::time::timeout_at(crate::time::deadline_after(wait), handle.ready()).await {
            Ok(Ok(())) => Ok(wrap(handle)),
            Ok(Err(e)) => {
                handle.close().await;
                Err(e)
            }
            Err(_) => {
                let waiting = if handle.core().options.role == RolePolicy::Follower {
                    "ready (waiting for a leader; a handle from build() keeps waiting)"
                } else {
                    "ready (waiting for a leader)"
                };
                let e = Error::Timeout {
                    channel: handle.channel().to_owned(),
                    method: waiting.into(),
                    port: handle.port(),
                    timeout: wait,
                };
                handle.close().await;
                Err(e)
            }
        }
    }

    /// Creates the handle without waiting: calls made before it is ready wait for it within
    /// their timeout. Must be called inside a tokio runtime.
    pub fn build<F, Fut, E>(self, factory: F) -> Result<H, Error>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S::Client, E>> + Send + 'static,
        E: std::fmt::Display + 'static,
    {
        let wrap = self.wrap;
        self.build_handle(factory).map(wrap)
    }

    fn build_handle<F, Fut, E>(self, factory: F) -> Result<Handle<S>, Error>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S::Client, E>> + Send + 'static,
        E: std::fmt::Display + 'static,
    {
        let channel = self
            .channel
            .unwrap_or_else(|| self.service.channel_name().to_owned());
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::Usage {
            channel: channel.clone(),
            message: "a handle must be built inside a tokio runtime".into(),
        })?;
        let scope = self.scope.unwrap_or_else(Scope::global);
        let options = self.options;
        let port_key = (!options.single_mode).then_some(options.port);
        let factory: Factory<S::Client> = Arc::new(move || {
            let fut = factory();
            Box::pin(async move { fut.await.map_err(factory_error) })
        });
        let service = Arc::new(self.service);
        let made = scope.core(port_key, &channel, || {
            Core::new(
                channel.clone(),
                options.clone(),
                service,
                factory,
                scope.clone(),
            )
        });
        let (core, fresh) = made.map_err(|()| Error::ChannelTypeMismatch {
            channel: channel.clone(),
            port: options.port,
        })?;
        core.acquire();
        if fresh {
            let supervisor = OwnedTask::spawn_on(&runtime, core.clone().supervise());
            core.set_supervisor(supervisor);
        }
        Ok(Handle::new(core))
    }
}

/// What followers are told when the factory fails: the factory's own error object when it
/// returned one, else its message under `ERR_CLUSTER_CLIENT_CREATE`; always with a stack.
fn factory_error<E: std::fmt::Display + 'static>(e: E) -> RemoteError {
    let any: &dyn std::any::Any = &e;
    let mut error = if let Some(remote) = any.downcast_ref::<RemoteError>() {
        remote.clone()
    } else if let Some(runtime) = any.downcast_ref::<Error>() {
        runtime.to_remote()
    } else {
        RemoteError::new("Error", e.to_string()).with_code("ERR_CLUSTER_CLIENT_CREATE")
    };
    if error.stack.is_empty() {
        error.stack = synthesized_stack(&error.name, &error.message, "the real client's factory");
    }
    error
}
