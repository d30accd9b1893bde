//! The role-agnostic handle: elects, leads or follows, and keeps the application's calls and
//! subscriptions working across any number of role changes.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::arguments::EncodeArgs;
use crate::backoff::Backoff;
use crate::codec::{Codec, CodecError, PayloadCodec};
use crate::error::{Error, RemoteError, WireError};
use crate::follower::{FollowerConn, PushHandler};
use crate::leader::{ChannelLeader, Endpoint, PortServer, SubscriberId, next_subscriber_id};
use crate::options::{LagPolicy, Options, RolePolicy};
use crate::protocol::{ArgsWriter, Message, subscription_key};
use crate::scope::Scope;
use crate::service::{BoxFuture, Call, InvokeError, Service};
use crate::subscription::{CloseReason, Detach, Listener, RawSubscription, Subscription};

type Factory<C> = Arc<dyn Fn() -> BoxFuture<'static, Result<C, String>> + Send + Sync>;

/// Configures and creates a [`Handle`].
pub struct Builder<S: Service> {
    service: S,
    channel: Option<String>,
    options: Options,
    scope: Option<Scope>,
}

impl<S: Service> Builder<S> {
    /// A builder with Node's defaults for the service's channel.
    pub fn new(service: S) -> Self {
        Self {
            service,
            channel: None,
            options: Options::default(),
            scope: None,
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

    /// Sets the follower's response timeout (default 3 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.options.response_timeout = timeout;
        self
    }

    /// Sets the follower's connect timeout (default 10 s).
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
    /// `max_wait_time`.
    ///
    /// `factory` is called whenever this process becomes the leader (again).
    pub async fn create<F, Fut, E>(self, factory: F) -> Result<Handle<S>, Error>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S::Client, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let wait = self.options.max_wait_time;
        let handle = self.build(factory)?;
        let channel = handle.channel().to_owned();
        let port = handle.port();
        match tokio::time::timeout(wait, handle.ready()).await {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(e)) => {
                handle.close().await;
                Err(e)
            }
            Err(_) => {
                handle.close().await;
                Err(Error::Timeout {
                    channel,
                    method: "ready (waiting for a leader)".into(),
                    port,
                    timeout: wait,
                })
            }
        }
    }

    /// Creates the handle without waiting: calls made before it is ready wait for it within
    /// their timeout. Must be called inside a tokio runtime.
    pub fn build<F, Fut, E>(self, factory: F) -> Result<Handle<S>, Error>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S::Client, E>> + Send + 'static,
        E: std::fmt::Display,
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
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        });
        let service = Arc::new(self.service);
        let made = scope.core(port_key, &channel, || {
            Arc::new_cyclic(|weak| Core {
                channel: channel.clone(),
                options: options.clone(),
                service,
                factory,
                scope: scope.clone(),
                state: watch::Sender::new(State::Electing),
                locals: Mutex::new(Locals::default()),
                publications: Mutex::new(Vec::new()),
                handles: AtomicUsize::new(0),
                elections: std::sync::atomic::AtomicU64::new(0),
                shutdown: CancellationToken::new(),
                supervisor: Mutex::new(None),
                local_id: next_subscriber_id(),
                weak: weak.clone(),
            })
        });
        let (core, fresh) = made.map_err(|()| Error::ChannelTypeMismatch {
            channel: channel.clone(),
            port: options.port,
        })?;
        core.handles.fetch_add(1, Ordering::AcqRel);
        if fresh {
            let task = runtime.spawn(core.clone().supervise());
            *core.supervisor.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
        Ok(Handle {
            inner: Arc::new(HandleInner {
                core,
                closed: AtomicBool::new(false),
            }),
        })
    }
}

/// A handle on a shared client. Clones share one handle (closing one closes them all); every
/// `create` makes a new handle, and all handles of a channel in a process share one core.
pub struct Handle<S: Service> {
    inner: Arc<HandleInner<S>>,
}

impl<S: Service> Clone for Handle<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S: Service> std::fmt::Debug for Handle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("channel", &self.inner.core.channel)
            .field("port", &self.inner.core.options.port)
            .field("leader", &self.is_leader())
            .finish()
    }
}

struct HandleInner<S: Service> {
    core: Arc<Core<S>>,
    closed: AtomicBool,
}

impl<S: Service> Drop for HandleInner<S> {
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.core.release();
        }
    }
}

/// Where a call goes right now.
pub enum Route<C> {
    /// This process leads: call the real client directly.
    Local(Arc<C>),
    /// Forward to the leader.
    Remote(Remote),
}

/// A follower connection, for forwarding one call.
pub struct Remote {
    conn: Arc<FollowerConn>,
    channel: String,
}

impl Remote {
    /// Sends a two-way invoke and returns the encoded result.
    /// `payload` appends the argument list (see [`ArgsWriter`]) holding `arg_count` arguments.
    pub async fn invoke(
        &self,
        method: &str,
        deadline: Instant,
        arg_count: u32,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<Bytes, Error> {
        let message = Message::Invoke {
            method: method.to_owned(),
            arg_length: arg_count,
            oneway: false,
        };
        let (reply, app) = self
            .conn
            .request(&message, method, deadline, payload)
            .await?;
        match reply {
            Message::InvokeResult { success: true } => Ok(app),
            Message::InvokeResult { success: false } => Err(remote_error(
                &self.channel,
                method,
                &self.conn.options().codec,
                app,
            )),
            other => Err(Error::Protocol {
                channel: self.channel.clone(),
                port: self.conn.options().port,
                source: Arc::new(crate::protocol::ProtocolError::BadArgs(format!(
                    "expected invoke_result, got {}",
                    other.type_name()
                ))),
            }),
        }
    }

    /// Sends a oneway invoke.
    pub fn invoke_oneway(
        &self,
        method: &str,
        arg_count: u32,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(), Error> {
        let message = Message::Invoke {
            method: method.to_owned(),
            arg_length: arg_count,
            oneway: true,
        };
        self.conn.send(&message, method, payload)
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
    let error = RemoteError::from(wire);
    Error::Remote {
        channel: channel.to_owned(),
        method: method.to_owned(),
        error: Box::new(error),
        payload,
    }
}

impl<S: Service> Handle<S> {
    fn core(&self) -> &Arc<Core<S>> {
        &self.inner.core
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed {
                channel: self.core().channel.clone(),
            });
        }
        Ok(())
    }

    /// The channel name.
    pub fn channel(&self) -> &str {
        &self.core().channel
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.core().options.port
    }

    /// The payload codec.
    pub fn codec(&self) -> &PayloadCodec {
        &self.core().options.codec
    }

    /// Whether this process currently leads the channel (always true in single mode).
    pub fn is_leader(&self) -> bool {
        matches!(&*self.core().state.borrow(), State::Leader(_))
    }

    /// How many times this channel (in this process) has started leading or following a
    /// leader: 1 after the first election, one more after every failover or reconnect.
    pub fn elections(&self) -> u64 {
        self.core().elections.load(Ordering::Acquire)
    }

    /// Waits until the handle leads or follows a ready leader; fails with a definitive error
    /// (the leader's client could not be created, the port is taken by another process for a
    /// fixed leader, the handle is closed).
    pub async fn ready(&self) -> Result<(), Error> {
        self.check_open()?;
        let mut rx = self.core().state.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                State::Leader(_) | State::Follower(_) => return Ok(()),
                State::Failed(e) => return Err(e.clone()),
                State::Closed => {
                    return Err(Error::Closed {
                        channel: self.core().channel.clone(),
                    });
                }
                State::Electing => {}
            }
            if rx.changed().await.is_err() {
                return Err(Error::Closed {
                    channel: self.core().channel.clone(),
                });
            }
        }
    }

    /// Where a call made now goes, waiting for an election until `deadline`.
    pub async fn route(&self, method: &str, deadline: Instant) -> Result<Route<S::Client>, Error> {
        self.check_open()?;
        self.core().route(method, deadline).await
    }

    /// The deadline of a call started now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.core().options.response_timeout
    }

    /// Invokes `method` with an encoded argument list; returns the encoded result.
    pub async fn invoke_raw(
        &self,
        method: &str,
        args: Bytes,
        arg_length: u32,
    ) -> Result<Bytes, Error> {
        let core = self.core();
        match self.route(method, self.deadline()).await? {
            Route::Local(client) => {
                let call = Call {
                    method: method.to_owned(),
                    args,
                    arg_length,
                    oneway: false,
                    codec: core.options.codec.clone(),
                };
                core.invoke_local(client, call).await
            }
            Route::Remote(remote) => {
                remote
                    .invoke(method, self.deadline(), arg_length, |out| {
                        out.extend_from_slice(&args);
                        Ok(())
                    })
                    .await
            }
        }
    }

    /// Invokes `method` with typed arguments and decodes the result.
    pub async fn invoke<A: EncodeArgs, T: DeserializeOwned>(
        &self,
        method: &str,
        args: A,
    ) -> Result<T, Error> {
        let core = self.core();
        let codec = core.options.codec.clone();
        let bytes = match self.route(method, self.deadline()).await? {
            Route::Local(client) => {
                let mut buf = Vec::new();
                let mut w = ArgsWriter::new(&mut buf);
                args.encode_args(&codec, &mut w)
                    .map_err(|e| core.codec_error(method, e))?;
                let call = Call {
                    method: method.to_owned(),
                    args: buf.into(),
                    arg_length: A::COUNT,
                    oneway: false,
                    codec: codec.clone(),
                };
                core.invoke_local(client, call).await?
            }
            Route::Remote(remote) => {
                remote
                    .invoke(method, self.deadline(), A::COUNT, |out| {
                        args.encode_args(&codec, &mut ArgsWriter::new(out))
                    })
                    .await?
            }
        };
        codec
            .decode(&bytes)
            .map_err(|e| core.codec_error(method, e))
    }

    /// Invokes `method` without waiting for (or receiving) a result. When no leader is known
    /// yet, the call is sent once one is, within the response timeout; failures are logged.
    pub fn invoke_oneway<A: EncodeArgs + Send + 'static>(
        &self,
        method: &str,
        args: A,
    ) -> Result<(), Error> {
        self.check_open()?;
        let core = self.core().clone();
        let codec = core.options.codec.clone();
        let mut buf = Vec::new();
        let mut w = ArgsWriter::new(&mut buf);
        args.encode_args(&codec, &mut w)
            .map_err(|e| core.codec_error(method, e))?;
        core.send_oneway(method.to_owned(), Bytes::from(buf), A::COUNT);
        Ok(())
    }

    /// Subscribes to values for `reg`, decoded as `T`.
    pub fn subscribe<R: Serialize, T: DeserializeOwned>(
        &self,
        reg: &R,
    ) -> Result<Subscription<T>, Error> {
        let reg = serde_json::to_value(reg).map_err(|e| {
            self.core().codec_error(
                "subscribe",
                CodecError::new("json", crate::codec::Direction::Encode, e),
            )
        })?;
        Ok(Subscription::new(
            self.subscribe_raw(reg)?,
            self.core().options.codec.clone(),
        ))
    }

    /// Subscribes to the encoded values for `reg`.
    pub fn subscribe_raw(&self, reg: Value) -> Result<RawSubscription, Error> {
        self.check_open()?;
        Ok(self.core().subscribe(reg))
    }

    /// Ends every subscription of this process to `reg`.
    pub fn unsubscribe<R: Serialize>(&self, reg: &R) -> Result<(), Error> {
        self.check_open()?;
        let reg = serde_json::to_value(reg).map_err(|e| {
            self.core().codec_error(
                "unsubscribe",
                CodecError::new("json", crate::codec::Direction::Encode, e),
            )
        })?;
        self.core().unsubscribe_all(&subscription_key(&reg));
        Ok(())
    }

    /// Publishes `reg` through the real client's publish method. The last publication per
    /// key is remembered and re-sent to each new leader.
    pub fn publish<R: Serialize>(&self, reg: &R) -> Result<(), Error> {
        self.check_open()?;
        let core = self.core();
        let json = serde_json::to_value(reg).map_err(|e| {
            core.codec_error(
                "publish",
                CodecError::new("json", crate::codec::Direction::Encode, e),
            )
        })?;
        let mut buf = Vec::new();
        ArgsWriter::new(&mut buf)
            .push(|out| core.options.codec.encode(reg, out))
            .map_err(|e| core.codec_error("publish", e))?;
        core.publish(subscription_key(&json), Bytes::from(buf))
    }

    /// Closes this handle. The last handle of a channel in a process closes its connection,
    /// or, when leading, the real client and the port (the followers then re-elect). Returns
    /// even when the handle never became ready; closing twice is fine.
    pub async fn close(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(task) = self.core().release() {
            let _ = task.await;
        }
    }
}

enum State<S: Service> {
    Electing,
    Leader(Arc<ChannelLeader<S>>),
    Follower(Arc<FollowerConn>),
    Failed(Error),
    Closed,
}

impl<S: Service> Clone for State<S> {
    fn clone(&self) -> Self {
        match self {
            State::Electing => State::Electing,
            State::Leader(l) => State::Leader(l.clone()),
            State::Follower(f) => State::Follower(f.clone()),
            State::Failed(e) => State::Failed(e.clone()),
            State::Closed => State::Closed,
        }
    }
}

/// A publication remembered for replay to later leaders.
struct Publication {
    key: String,
    /// The encoded argument list (one argument).
    args: Bytes,
    /// Made while no leader was reachable: still owed to the current leader.
    pending: bool,
}

#[derive(Default)]
struct Locals {
    keys: HashMap<String, LocalKey>,
    next_listener: u64,
}

struct LocalKey {
    reg: Value,
    listeners: Vec<(u64, Arc<Listener>)>,
    last: Option<Bytes>,
}

enum Elected {
    /// Lead, serving followers through this port server (none in single mode).
    Leader(Option<Arc<PortServer>>),
    Follower(Arc<FollowerConn>),
}

/// Everything the handles of one channel in one scope share.
pub(crate) struct Core<S: Service> {
    channel: String,
    options: Options,
    service: Arc<S>,
    factory: Factory<S::Client>,
    scope: Scope,
    state: watch::Sender<State<S>>,
    locals: Mutex<Locals>,
    /// The last publication per key, in first-publication order.
    publications: Mutex<Vec<Publication>>,
    handles: AtomicUsize,
    /// Completed elections: times this core started leading or following a leader.
    elections: std::sync::atomic::AtomicU64,
    shutdown: CancellationToken,
    supervisor: Mutex<Option<JoinHandle<()>>>,
    /// This core's identity as a subscriber of its own leader.
    local_id: SubscriberId,
    weak: Weak<Core<S>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<S: Service> Core<S> {
    fn codec_error(&self, method: &str, e: CodecError) -> Error {
        Error::Codec {
            channel: self.channel.clone(),
            method: method.to_owned(),
            source: Arc::new(e),
        }
    }

    /// Drops one handle; the last one shuts the core down. Returns the supervisor to await.
    fn release(&self) -> Option<JoinHandle<()>> {
        if self.handles.fetch_sub(1, Ordering::AcqRel) != 1 {
            return None;
        }
        let port_key = (!self.options.single_mode).then_some(self.options.port);
        self.scope
            .remove_core(port_key, &self.channel, self as *const Self as *const ());
        self.shutdown.cancel();
        lock(&self.supervisor).take()
    }

    async fn route(&self, method: &str, deadline: Instant) -> Result<Route<S::Client>, Error> {
        let mut rx = self.state.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                State::Leader(leader) => {
                    if let Some(client) = leader.client() {
                        return Ok(Route::Local(client));
                    }
                }
                State::Follower(conn) if !conn.is_closed() => {
                    return Ok(Route::Remote(Remote {
                        conn: conn.clone(),
                        channel: self.channel.clone(),
                    }));
                }
                State::Failed(e) => return Err(e.clone()),
                State::Closed => {
                    return Err(Error::Closed {
                        channel: self.channel.clone(),
                    });
                }
                _ => {}
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(Error::Closed {
                        channel: self.channel.clone(),
                    });
                }
                Err(_) => {
                    return Err(Error::Timeout {
                        channel: self.channel.clone(),
                        method: format!("{method} (no leader elected)"),
                        port: self.options.port,
                        timeout: self.options.response_timeout,
                    });
                }
            }
        }
    }

    async fn invoke_local(&self, client: Arc<S::Client>, call: Call) -> Result<Bytes, Error> {
        let method = call.method.clone();
        let codec = call.codec.clone();
        let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.service.invoke(client, call)
        })) {
            Ok(f) => f,
            Err(_) => return Err(self.panicked(&method)),
        };
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(Ok(bytes)) => Ok(Bytes::from(bytes)),
            Ok(Err(InvokeError::Encoded(bytes))) => Err(remote_error(
                &self.channel,
                &method,
                &codec,
                Bytes::from(bytes),
            )),
            Ok(Err(InvokeError::Failure(error))) => Err(Error::Remote {
                channel: self.channel.clone(),
                method,
                error: Box::new(error),
                payload: Bytes::new(),
            }),
            Err(_) => Err(self.panicked(&method)),
        }
    }

    fn panicked(&self, method: &str) -> Error {
        Error::Remote {
            channel: self.channel.clone(),
            method: method.to_owned(),
            error: Box::new(
                RemoteError::new(
                    "ClusterClientPanicError",
                    format!("method \"{method}\" panicked"),
                )
                .with_code("ERR_CLUSTER_PANIC"),
            ),
            payload: Bytes::new(),
        }
    }

    /// Sends (or runs locally) a oneway call, waiting for a leader in the background if needed.
    fn send_oneway(self: &Arc<Self>, method: String, args: Bytes, arg_length: u32) {
        let state = self.state.borrow().clone();
        let routable = match &state {
            State::Leader(leader) => leader.client().is_some(),
            State::Follower(conn) => !conn.is_closed(),
            _ => false,
        };
        if routable {
            self.send_oneway_in(&state, method, args, arg_length);
            return;
        }
        let core = self.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + core.options.response_timeout;
            match core.route(&method, deadline).await {
                Ok(_) => {
                    let state = core.state.borrow().clone();
                    core.send_oneway_in(&state, method, args, arg_length);
                }
                Err(e) => tracing::warn!(error = %e, "oneway call dropped"),
            }
        });
    }

    /// Sends a oneway call through `state`; returns whether it was handed to a live route.
    fn send_oneway_in(
        self: &Arc<Self>,
        state: &State<S>,
        method: String,
        args: Bytes,
        arg_length: u32,
    ) -> bool {
        match state {
            State::Leader(leader) => {
                let Some(client) = leader.client() else {
                    return false;
                };
                {
                    let call = Call {
                        method,
                        args,
                        arg_length,
                        oneway: true,
                        codec: self.options.codec.clone(),
                    };
                    let core = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = core.invoke_local(client, call).await {
                            tracing::warn!(error = %e, "oneway call failed");
                        }
                    });
                }
                true
            }
            State::Follower(conn) => {
                let remote = Remote {
                    conn: conn.clone(),
                    channel: self.channel.clone(),
                };
                let sent = remote.invoke_oneway(&method, arg_length, |out| {
                    out.extend_from_slice(&args);
                    Ok(())
                });
                match sent {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::debug!(error = %e, "oneway call not sent");
                        false
                    }
                }
            }
            _ => false,
        }
    }

    fn publish(self: &Arc<Self>, key: String, args: Bytes) -> Result<(), Error> {
        let Some(method) = self.service.publish_method().map(str::to_owned) else {
            return Err(Error::Usage {
                channel: self.channel.clone(),
                message: "this client has no publish method".into(),
            });
        };
        let mut pubs = lock(&self.publications);
        // Sent under the lock so a concurrent leader change cannot replay it a second time.
        let state = self.state.borrow().clone();
        let pending = !self.send_oneway_in(&state, method, args.clone(), 1);
        match pubs.iter_mut().find(|p| p.key == key) {
            Some(entry) => {
                entry.args = args;
                entry.pending = pending;
            }
            None => pubs.push(Publication { key, args, pending }),
        }
        Ok(())
    }

    fn subscribe(self: &Arc<Self>, reg: Value) -> RawSubscription {
        let key = subscription_key(&reg);
        let listener = Listener::new(self.options.subscription_buffer, self.options.lag_policy);
        let mut locals = lock(&self.locals);
        locals.next_listener += 1;
        let id = locals.next_listener;
        let state = self.state.borrow().clone();
        match locals.keys.get_mut(&key) {
            Some(entry) => {
                if let Some(last) = &entry.last {
                    listener.push(last.clone());
                }
                entry.listeners.push((id, listener.clone()));
            }
            None => {
                let mut entry = LocalKey {
                    reg: reg.clone(),
                    listeners: vec![(id, listener.clone())],
                    last: None,
                };
                self.attach(&state, &key, &mut entry);
                locals.keys.insert(key.clone(), entry);
                self.watch_first_value(&key);
            }
        }
        drop(locals);
        let owner: Arc<dyn Detach> = self.clone();
        RawSubscription::new(key, id, listener, Some(owner))
    }

    /// With a subscribe timeout set, warns when a new subscription gets no first value in
    /// time (the value is still delivered whenever it comes).
    fn watch_first_value(&self, key: &str) {
        let Some(limit) = self.options.subscribe_timeout else {
            return;
        };
        let weak = self.weak.clone();
        let key = key.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            let Some(core) = weak.upgrade() else { return };
            let waiting = lock(&core.locals)
                .keys
                .get(&key)
                .is_some_and(|e| e.last.is_none());
            if waiting {
                tracing::warn!(
                    channel = %core.channel,
                    key = %key,
                    "subscribe timeout: no value within {}ms",
                    limit.as_millis()
                );
            }
        });
    }

    /// Starts receiving `key` from the current leader (called with `locals` held).
    fn attach(&self, state: &State<S>, key: &str, entry: &mut LocalKey) {
        match state {
            State::Leader(leader) => {
                let replay = leader.subscribe_local(
                    key.to_owned(),
                    entry.reg.clone(),
                    self.local_id,
                    self.local_sink(),
                );
                if let Some(value) = replay {
                    entry.last = Some(value.clone());
                    for (_, l) in &entry.listeners {
                        l.push(value.clone());
                    }
                }
            }
            State::Follower(conn) => {
                let message = Message::Subscribe {
                    key: key.to_owned(),
                    reg: entry.reg.clone(),
                };
                if let Err(e) = conn.send(&message, "subscribe", |_| Ok(())) {
                    tracing::debug!(error = %e, key, "subscribe not sent; it is replayed on the next leader");
                }
            }
            _ => {}
        }
    }

    fn detach_key(&self, key: &str, reg: &Value) {
        match &*self.state.borrow() {
            State::Leader(leader) => Endpoint::unsubscribe(&**leader, key, self.local_id),
            State::Follower(conn) => {
                let message = Message::Unsubscribe {
                    key: key.to_owned(),
                    reg: reg.clone(),
                };
                let _ = conn.send(&message, "unSubscribe", |_| Ok(()));
            }
            _ => {}
        }
    }

    fn unsubscribe_all(&self, key: &str) {
        let mut locals = lock(&self.locals);
        if let Some(entry) = locals.keys.remove(key) {
            for (_, l) in &entry.listeners {
                l.close(CloseReason::Unsubscribed);
            }
            self.detach_key(key, &entry.reg);
        }
    }

    fn local_sink(&self) -> crate::leader::Sink {
        let weak = self.weak.clone();
        crate::leader::Sink::Local(Arc::new(move |key: &str, value: &Bytes| {
            if let Some(core) = weak.upgrade() {
                core.deliver_local(key, value.clone());
            }
        }))
    }

    fn push_handler(&self) -> PushHandler {
        let weak = self.weak.clone();
        Arc::new(move |key: &str, value: Bytes| {
            if let Some(core) = weak.upgrade() {
                core.deliver_local(key, value);
            }
        })
    }

    fn deliver_local(&self, key: &str, value: Bytes) {
        let mut locals = lock(&self.locals);
        if let Some(entry) = locals.keys.get_mut(key) {
            entry.last = Some(value.clone());
            for (_, l) in &entry.listeners {
                l.push(value.clone());
            }
        }
    }

    /// Switches to a new role and replays this process's subscriptions (always) and
    /// publications: all of them to a leader that changed, and to the same leader only those
    /// made while no leader was reachable.
    fn enter(self: &Arc<Self>, state: State<S>, replay_publications: bool) {
        let mut locals = lock(&self.locals);
        let mut pubs = lock(&self.publications);
        if self.shutdown.is_cancelled() {
            return;
        }
        self.elections.fetch_add(1, Ordering::AcqRel);
        self.state.send_replace(state.clone());
        for (key, entry) in locals.keys.iter_mut() {
            self.attach(&state, key, entry);
        }
        drop(locals);
        if let Some(method) = self.service.publish_method() {
            for p in pubs.iter_mut().filter(|p| replay_publications || p.pending) {
                p.pending = !self.send_oneway_in(&state, method.to_owned(), p.args.clone(), 1);
            }
        }
    }

    fn set_state(&self, state: State<S>) {
        if !self.shutdown.is_cancelled() {
            self.state.send_replace(state);
        }
    }

    async fn elect(&self) -> Result<Elected, Error> {
        if self.options.single_mode {
            return Ok(Elected::Leader(None));
        }
        let port = self.options.port;
        if self.options.role != RolePolicy::Follower {
            let _guard = self.scope.election_lock().await;
            if let Some(server) = self.scope.port_server(port) {
                return Ok(Elected::Leader(Some(server)));
            }
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => {
                    let server = PortServer::start(listener, port);
                    self.scope.set_port_server(port, &server);
                    tracing::info!(channel = %self.channel, port, "won the port: leading");
                    return Ok(Elected::Leader(Some(server)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    if self.options.role == RolePolicy::Leader {
                        return Err(Error::PortOccupied {
                            channel: self.channel.clone(),
                            port,
                        });
                    }
                }
                Err(e) => {
                    return Err(Error::Bind {
                        channel: self.channel.clone(),
                        port,
                        source: Arc::new(e),
                    });
                }
            }
        }
        let conn = FollowerConn::connect(&self.channel, &self.options, self.push_handler()).await?;
        tracing::info!(channel = %self.channel, port, "following the leader");
        Ok(Elected::Follower(conn))
    }

    /// Runs elections until the core shuts down, then tears down whatever role it held.
    async fn supervise(self: Arc<Self>) {
        let mut backoff = Backoff::new(Duration::from_millis(5), Duration::from_secs(2));
        let mut last_leader: Option<String> = None;
        while !self.shutdown.is_cancelled() {
            let elected = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                elected = self.elect() => elected,
            };
            match elected {
                Ok(Elected::Leader(server)) => {
                    backoff.reset();
                    last_leader = None;
                    self.lead(server).await;
                }
                Ok(Elected::Follower(conn)) => {
                    backoff.reset();
                    let changed =
                        conn.leader_id().is_none() || conn.leader_id() != last_leader.as_deref();
                    last_leader = conn.leader_id().map(str::to_owned);
                    self.follow(conn, changed).await;
                    // The leader is gone: re-compete after a short jittered pause.
                }
                Err(e) => {
                    let definitive = matches!(
                        e,
                        Error::PortOccupied { .. }
                            | Error::LeaderNotReady { .. }
                            | Error::NoLeaderForChannel { .. }
                            | Error::Unauthorized { .. }
                            | Error::Bind { .. }
                    );
                    if definitive {
                        tracing::warn!(error = %e, "election failed");
                        self.set_state(State::Failed(e.clone()));
                    } else {
                        tracing::debug!(error = %e, "election attempt failed; retrying");
                    }
                    if matches!(e, Error::PortOccupied { .. }) {
                        // A fixed leader that cannot lead stays failed until closed.
                        self.shutdown.cancelled().await;
                        break;
                    }
                }
            }
            if self.shutdown.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
        self.state.send_replace(State::Closed);
        let keys: Vec<_> = lock(&self.locals).keys.drain().collect();
        for (_, entry) in keys {
            for (_, l) in entry.listeners {
                l.close(CloseReason::HandleClosed);
            }
        }
    }

    async fn lead(self: &Arc<Self>, server: Option<Arc<PortServer>>) {
        let leader = ChannelLeader::new(
            self.channel.clone(),
            self.service.clone(),
            self.options.clone(),
        );
        if let Some(server) = &server {
            server.add_channel(leader.clone());
        }
        let mut retry = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            let created = tokio::select! {
                _ = self.shutdown.cancelled() => None,
                created = AssertUnwindSafe((self.factory)()).catch_unwind() => Some(created),
            };
            match created {
                None => break,
                Some(Ok(Ok(client))) => {
                    leader.set_ready(Arc::new(client));
                    self.enter(State::Leader(leader.clone()), true);
                    let server_down = async {
                        match &server {
                            Some(s) => s.shutdown_token().cancelled().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = self.shutdown.cancelled() => {}
                        _ = server_down => tracing::warn!(channel = %self.channel, "the port server closed; re-electing"),
                    }
                    break;
                }
                Some(failed) => {
                    let message = match failed {
                        Ok(Err(message)) => message,
                        _ => "the client factory panicked".to_owned(),
                    };
                    let error =
                        RemoteError::new("Error", message).with_code("ERR_CLUSTER_CLIENT_CREATE");
                    tracing::warn!(channel = %self.channel, error = %error, "creating the real client failed; retrying");
                    leader.set_failed(error.clone());
                    self.set_state(State::Failed(Error::LeaderNotReady {
                        channel: self.channel.clone(),
                        error: Box::new(error),
                    }));
                    tokio::select! {
                        _ = self.shutdown.cancelled() => break,
                        _ = tokio::time::sleep(retry.next_delay()) => {}
                    }
                }
            }
        }
        self.set_state(State::Electing);
        if let Some(server) = &server {
            server.remove_channel(&self.channel);
        }
        leader.close().await;
    }

    async fn follow(self: &Arc<Self>, conn: Arc<FollowerConn>, leader_changed: bool) {
        self.enter(State::Follower(conn.clone()), leader_changed);
        tokio::select! {
            _ = self.shutdown.cancelled() => conn.close(),
            _ = conn.closed() => {
                tracing::warn!(channel = %self.channel, port = self.options.port, "lost the leader; re-electing");
            }
        }
        self.set_state(State::Electing);
    }
}

impl<S: Service> Detach for Core<S> {
    fn detach(&self, key: &str, listener_id: u64) {
        let mut locals = lock(&self.locals);
        let Some(entry) = locals.keys.get_mut(key) else {
            return;
        };
        entry.listeners.retain(|(id, _)| *id != listener_id);
        if entry.listeners.is_empty() {
            if let Some(entry) = locals.keys.remove(key) {
                self.detach_key(key, &entry.reg);
            }
        }
    }
}
