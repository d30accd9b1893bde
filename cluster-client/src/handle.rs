//! The role-agnostic handle: what the application calls, whatever this process's role is
//! now. The work happens in the channel's core (`core/`), its routing (`routing/`) and its
//! elections (`election.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::arguments::EncodeArgs;
use crate::codec::{CodecError, Direction, PayloadCodec};
use crate::core::{Core, Role};
use crate::error::{Error, RemoteError};
use crate::leader::guarded_invoke;
use crate::protocol::{ArgsWriter, subscription_key};
use crate::routing::{Answer, remote_error};
use crate::service::{Call, InvokeError, Service};
use crate::status::{ChannelStatus, RoleStatus, Status};
use crate::subscription::{RawSubscription, Subscription};

/// A handle on a shared client. Clones share one handle (closing one closes them all); every
/// `create` makes a new handle, and all handles of a channel in a process share one core.
pub struct Handle<S: Service> {
    inner: Arc<HandleInner<S>>,
    /// This view's call timeout, when it is not the handle's `response_timeout`.
    timeout: Option<Duration>,
}

impl<S: Service> Clone for Handle<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            timeout: self.timeout,
        }
    }
}

impl<S: Service> std::fmt::Debug for Handle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("channel", &self.core().channel)
            .field("port", &self.core().options.port)
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
            if let Some(supervisor) = self.core.release() {
                // The core was told to stop; its supervisor only tears the role down (closes
                // the real client, releases the port) and ends. Nobody is left to wait for it.
                supervisor.detach();
            }
        }
    }
}

pub(crate) fn encode_typed<A: EncodeArgs>(
    args: &A,
    codec: &PayloadCodec,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    args.encode_args(codec, &mut ArgsWriter::new(out))
}

fn encode_raw(args: &Bytes, _: &PayloadCodec, out: &mut Vec<u8>) -> Result<(), CodecError> {
    out.extend_from_slice(args);
    Ok(())
}

impl<S: Service> Handle<S> {
    pub(crate) fn new(core: Arc<Core<S>>) -> Self {
        Self {
            inner: Arc::new(HandleInner {
                core,
                closed: AtomicBool::new(false),
            }),
            timeout: None,
        }
    }

    /// A view of this handle whose calls have `timeout` as their one deadline (covering the
    /// wait for a leader, any re-routing and the answer) instead of the response timeout. It
    /// is the same handle otherwise: closing either closes both.
    ///
    /// ```no_run
    /// # async fn run(handle: cluster_client::Handle<impl cluster_client::Service>) -> Result<(), cluster_client::Error> {
    /// use std::time::Duration;
    /// let quick = handle.with_timeout(Duration::from_millis(200));
    /// let answer: String = quick.invoke("echo", ("hi".to_string(),)).await?;
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            inner: self.inner.clone(),
            timeout: Some(timeout),
        }
    }

    /// The timeout of each call made through this view.
    pub fn call_timeout(&self) -> Duration {
        self.timeout.unwrap_or(self.core().options.response_timeout)
    }

    pub(crate) fn core(&self) -> &Arc<Core<S>> {
        &self.inner.core
    }

    pub(crate) fn check_open(&self) -> Result<(), Error> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(self.core().closed_error());
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
        matches!(&*self.core().role.borrow(), Role::Leading { .. })
    }

    /// How many times this channel (in this process) has started leading or following a
    /// leader: 1 after the first election, one more after every failover or reconnect.
    pub fn elections(&self) -> u64 {
        self.core().elections.load(Ordering::Acquire)
    }

    /// What this handle is doing right now: role, leader, followers (when leading), keys
    /// subscribed, calls in flight, elections.
    ///
    /// ```no_run
    /// # fn run(handle: cluster_client::Handle<impl cluster_client::Service>) {
    /// let status = handle.status();
    /// println!("{:?} on {}:{}, leader pid {:?}", status.role, status.channel, status.port, status.leader_pid);
    /// # }
    /// ```
    pub fn status(&self) -> Status {
        let mut status = self.core().status();
        if self.inner.closed.load(Ordering::Acquire) {
            status.role = RoleStatus::Closed;
        }
        status
    }

    /// What the channel's leader serves: its process and incarnation, followers, connections,
    /// upstream keys, queued bytes. `None` when the leader does not say (a Node leader);
    /// waits for a leader within the call timeout.
    pub async fn channel_status(&self) -> Result<Option<ChannelStatus>, Error> {
        self.check_open()?;
        self.core().channel_status(self.call_timeout()).await
    }

    /// Waits until the handle leads or follows a ready leader; fails with a definitive error
    /// (the leader's client could not be created, the port is taken by another process for a
    /// fixed leader, the port is held by something that is not a leader, the handle is
    /// closed).
    pub async fn ready(&self) -> Result<(), Error> {
        self.check_open()?;
        self.core().wait_ready().await
    }

    /// Invokes `method` with an encoded argument list; returns the encoded result.
    pub async fn invoke_raw(
        &self,
        method: &str,
        args: Bytes,
        arg_length: u32,
    ) -> Result<Bytes, Error> {
        self.check_open()?;
        let core = self.core();
        let service = core.service.clone();
        let channel = core.channel.clone();
        let codec = core.options.codec.clone();
        let local = move |client, args: Bytes| {
            let call = Call {
                method: method.to_owned(),
                args,
                arg_length,
                oneway: false,
                codec,
            };
            guarded_invoke(&*service, &channel, client, call)
        };
        let answer = core
            .call(
                method,
                self.call_timeout(),
                args,
                arg_length,
                encode_raw,
                local,
            )
            .await?;
        match answer {
            Answer::Remote(bytes) => Ok(bytes),
            Answer::Local(result) => self.local_outcome(method, result),
        }
    }

    /// The outcome of a call the local real client ran through the service.
    fn local_outcome(
        &self,
        method: &str,
        result: Result<Vec<u8>, InvokeError>,
    ) -> Result<Bytes, Error> {
        let core = self.core();
        match result {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(InvokeError::Encoded(bytes)) => Err(remote_error(
                &core.channel,
                method,
                &core.options.codec,
                Bytes::from(bytes),
            )),
            Err(InvokeError::Failure(error)) => Err(Error::Remote {
                channel: core.channel.clone(),
                method: method.to_owned(),
                error: Box::new(error),
                payload: Bytes::new(),
            }),
        }
    }

    /// Invokes `method` with typed arguments and decodes the result.
    pub async fn invoke<A: EncodeArgs, T: DeserializeOwned>(
        &self,
        method: &str,
        args: A,
    ) -> Result<T, Error> {
        self.check_open()?;
        let core = self.core();
        let service = core.service.clone();
        let channel = core.channel.clone();
        let codec = core.options.codec.clone();
        let local = {
            let codec = codec.clone();
            move |client, args: A| {
                let mut buf = Vec::new();
                let encoded = encode_typed(&args, &codec, &mut buf);
                let call = Call {
                    method: method.to_owned(),
                    args: buf.into(),
                    arg_length: A::COUNT,
                    oneway: false,
                    codec,
                };
                async move {
                    encoded.map_err(|e| {
                        InvokeError::Failure(
                            RemoteError::new("ClusterClientCodecError", e.to_string())
                                .with_code("ERR_CLUSTER_CODEC"),
                        )
                    })?;
                    guarded_invoke(&*service, &channel, client, call).await
                }
            }
        };
        let answer = core
            .call(
                method,
                self.call_timeout(),
                args,
                A::COUNT,
                encode_typed::<A>,
                local,
            )
            .await?;
        let bytes = match answer {
            Answer::Remote(bytes) => bytes,
            Answer::Local(result) => self.local_outcome(method, result)?,
        };
        codec
            .decode(&bytes)
            .map_err(|e| core.codec_error(method, e))
    }

    /// Invokes `method` without waiting for (or receiving) a result. Calls of one handle reach
    /// the real client in the order they were made; when no leader is known yet, the call is
    /// sent once one is. Failures are logged.
    pub fn invoke_oneway<A: EncodeArgs>(&self, method: &str, args: A) -> Result<(), Error> {
        self.check_open()?;
        let core = self.core();
        let mut buf = Vec::new();
        encode_typed(&args, &core.options.codec, &mut buf)
            .map_err(|e| core.codec_error(method, e))?;
        core.send_oneway(method, Bytes::from(buf), A::COUNT);
        Ok(())
    }

    /// Subscribes to values for `reg`, decoded as `T`.
    pub fn subscribe<R: Serialize, T: DeserializeOwned>(
        &self,
        reg: &R,
    ) -> Result<Subscription<T>, Error> {
        let reg = self.to_json("subscribe", reg)?;
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
        let reg = self.to_json("unsubscribe", reg)?;
        self.core().unsubscribe_all(&subscription_key(&reg));
        Ok(())
    }

    /// Publishes `reg` through the real client's publish method. The last publication per
    /// key is remembered and re-sent to every new connection and every new leader; a Rust
    /// leader hands each to its real client once.
    pub fn publish<R: Serialize>(&self, reg: &R) -> Result<(), Error> {
        self.check_open()?;
        let core = self.core();
        if core.service.publish_method().is_none() {
            return Err(Error::Usage {
                channel: core.channel.clone(),
                message: "this client has no publish method".into(),
            });
        }
        let json = self.to_json("publish", reg)?;
        let mut buf = Vec::new();
        ArgsWriter::new(&mut buf)
            .push(|out| core.options.codec.encode(reg, out))
            .map_err(|e| core.codec_error("publish", e))?;
        core.send_publication(&subscription_key(&json), Bytes::from(buf));
        Ok(())
    }

    fn to_json<R: Serialize>(&self, method: &str, reg: &R) -> Result<Value, Error> {
        serde_json::to_value(reg).map_err(|e| {
            self.core()
                .codec_error(method, CodecError::new("json", Direction::Encode, e))
        })
    }

    /// Closes this handle. The last handle of a channel in a process closes its connection,
    /// or, when leading, the real client and the port (the followers then re-elect). Returns
    /// even when the handle never became ready; closing twice is fine.
    pub async fn close(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(supervisor) = self.core().release() {
            supervisor.join().await;
        }
    }
}
