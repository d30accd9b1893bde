//! Support for the code `#[cluster_client]` generates. Not a public API: it changes with the
//! macro, which is locked to this crate's exact version.
//!
//! Generated code names nothing but `::cluster_client::__private::..` (or the `crate = ".."`
//! override), so it compiles under `#![no_implicit_prelude]` and users need no direct
//! dependency on serde, futures or serde_json. Each generated method is one call into a helper
//! here, where the logic is written (and tested) once.

use std::fmt::Display;

use futures::StreamExt;
use futures::future::Either;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::codec::Codec;
use crate::routing::Answer;

// The runtime and std items generated code names.
pub use crate::arguments::{ArgDecoder, ArgEncoder};
pub use crate::builder::Builder;
pub use crate::codec::{CodecError, PayloadCodec};
pub use crate::error::{Error, ErrorObject, RemoteError};
pub use crate::handle::Handle;
pub use crate::service::{BoxFuture, Call, InvokeError, Service, ValueStream};
pub use crate::status::{ChannelStatus, Status};
pub use core::clone::Clone;
pub use core::default::Default;
pub use core::fmt;
pub use core::future::Future;
pub use core::marker::{PhantomData, Send, Sync};
pub use core::option::Option;
pub use core::result::Result;
pub use futures::Stream;
pub use serde_json::Value;
pub use std::boxed::Box;
pub use std::sync::Arc;
pub use std::time::Duration;
pub use std::vec::Vec;

// ---------------------------------------------------------------------------------------------
// Static checks. Generated code calls them with a span at the user's type, so a missing impl is
// reported there.

/// An argument, or a subscription or publication key: it travels to the leader.
pub fn assert_arg<T: Serialize + DeserializeOwned + Send + 'static>() {}

/// A result or a stream item: it travels back.
pub fn assert_value<T: Serialize + DeserializeOwned + Send + 'static>() {}

/// The error type of an invoke.
pub fn assert_invoke_error<E>()
where
    E: From<Error> + Serialize + DeserializeOwned + Display + Send + 'static,
{
}

// ---------------------------------------------------------------------------------------------
// The handle side: what `{Trait}Cluster<C>` runs in each role.

/// An invoke through the handle: on the leader, `local` calls the real client directly (typed,
/// nothing encoded); on a follower, the call goes over the wire and a failure comes back as
/// the leader's `E` when the leader is a Rust peer.
pub async fn invoke<S, A, T, E, F, Fut>(
    handle: Handle<S>,
    method: &'static str,
    args: A,
    arity: fn(&A) -> u32,
    write: fn(&A, &mut ArgEncoder<'_, '_>) -> Result<(), CodecError>,
    local: F,
) -> Result<T, E>
where
    S: Service,
    T: DeserializeOwned,
    E: From<Error> + DeserializeOwned + 'static,
    F: FnOnce(Arc<S::Client>, A) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    if let Err(e) = handle.check_open() {
        return Err(E::from(e));
    }
    let core = handle.core();
    let codec = &core.options.codec;
    let timeout = handle.call_timeout();
    let count = arity(&args);
    let encode = |args: &A, codec: &PayloadCodec, out: &mut Vec<u8>| {
        write(args, &mut ArgEncoder::new(codec, out))
    };
    let answer = core.call(method, timeout, args, count, encode, local).await;
    match answer {
        Ok(Answer::Local(result)) => result,
        Ok(Answer::Remote(bytes)) => codec
            .decode::<T>(&bytes)
            .map_err(|e| E::from(core.codec_error(method, e))),
        Err(e) => Err(typed_error(codec, e)),
    }
}

/// How many wire arguments a call with `fixed` arguments and a rest argument holds.
pub fn rest_arity<T>(fixed: u32, rest: &[T]) -> u32 {
    fixed.saturating_add(u32::try_from(rest.len()).unwrap_or(u32::MAX))
}

/// The error object of a failed invoke, with the key that carries the typed error value
/// between Rust peers. Node peers read only the first four keys.
#[derive(Serialize)]
struct WireErrorWithValue<'a, E> {
    stack: &'a str,
    name: &'a str,
    message: &'a str,
    code: Option<&'a str>,
    value: &'a E,
}

/// The one key of the error object a Rust follower decodes beyond `Error::Remote`.
#[derive(Deserialize)]
#[serde(bound = "E: DeserializeOwned")]
struct WireErrorValue<E> {
    value: Option<E>,
}

/// The user's `E` from a failed call: decoded from the leader's error object when it carries
/// one, else made from the runtime's error (always, when `E` is the runtime's error itself,
/// which then keeps the channel and method it names).
fn typed_error<E: From<Error> + DeserializeOwned + 'static>(
    codec: &PayloadCodec,
    error: Error,
) -> E {
    if std::any::TypeId::of::<E>() == std::any::TypeId::of::<Error>() {
        return E::from(error);
    }
    if let Error::Remote { payload, .. } = &error {
        if !payload.is_empty() {
            if let Ok(WireErrorValue { value: Some(value) }) =
                codec.decode::<WireErrorValue<E>>(payload)
            {
                return value;
            }
        }
    }
    E::from(error)
}

/// A oneway call through the handle. Failures cannot reach the caller (the method returns
/// nothing), so they are logged.
pub fn invoke_oneway<S: Service, A>(
    handle: &Handle<S>,
    method: &'static str,
    args: A,
    arity: fn(&A) -> u32,
    write: fn(&A, &mut ArgEncoder<'_, '_>) -> Result<(), CodecError>,
) {
    if let Err(e) = handle.check_open() {
        tracing::warn!(error = ?e.to_string(), method, "oneway call not sent");
        return;
    }
    let core = handle.core();
    let mut buf = Vec::new();
    if let Err(e) = write(&args, &mut ArgEncoder::new(&core.options.codec, &mut buf)) {
        let e = core.codec_error(method, e);
        tracing::warn!(error = ?e.to_string(), method, "oneway call not sent");
        return;
    }
    core.send_oneway(method, bytes::Bytes::from(buf), arity(&args));
}

/// A publication through the handle (remembered and replayed to every new leader).
pub fn publish<S: Service, P: Serialize>(handle: &Handle<S>, value: &P) {
    if let Err(e) = handle.publish(value) {
        tracing::warn!(error = ?e.to_string(), "publication not sent");
    }
}

/// A subscription through the handle. A closed handle gives an empty stream (and a log line):
/// the trait's signature has no room for an error.
pub fn subscribe<S, R, T>(
    handle: &Handle<S>,
    key: &R,
) -> impl Stream<Item = T> + Send + 'static + use<S, R, T>
where
    S: Service,
    R: Serialize,
    T: DeserializeOwned + Send + 'static,
{
    match handle.subscribe::<R, T>(key) {
        Ok(sub) => Either::Left(sub),
        Err(e) => {
            tracing::warn!(error = ?e.to_string(), "subscription not made");
            Either::Right(futures::stream::empty::<T>())
        }
    }
}

/// Ends this process's subscriptions to `key`.
pub fn unsubscribe<S: Service, R: Serialize>(handle: &Handle<S>, key: &R) {
    if let Err(e) = handle.unsubscribe(key) {
        tracing::warn!(error = ?e.to_string(), "unsubscribe failed");
    }
}

/// Closes the handle.
pub async fn close<S: Service>(handle: Handle<S>) {
    handle.close().await
}

// ---------------------------------------------------------------------------------------------
// The leader side: what `{Trait}Service<C>` runs for each call.

fn bad_args(call: &Call, e: CodecError) -> InvokeError {
    InvokeError::Failure(
        RemoteError::new(
            "ClusterClientArgumentError",
            format!("method \"{}\": {e}", call.method),
        )
        .with_code("ERR_CLUSTER_BAD_ARGS"),
    )
}

fn encode_failure(e: CodecError) -> InvokeError {
    InvokeError::Failure(
        RemoteError::new("ClusterClientCodecError", e.to_string()).with_code("ERR_CLUSTER_CODEC"),
    )
}

fn encode<T: Serialize + ?Sized>(codec: &PayloadCodec, value: &T) -> Result<Vec<u8>, InvokeError> {
    let mut out = Vec::new();
    codec.encode(value, &mut out).map_err(encode_failure)?;
    Ok(out)
}

/// The `name` and `code` of an invoke's error, as the user's [`ErrorObject`] gives them (or
/// the defaults). Generated code finds them with [`ErrorProbe`].
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// The error's `name`.
    pub name: String,
    /// The error's `code`.
    pub code: Option<String>,
}

/// Finds an error's [`ErrorObject`] where the error's type has one, and the defaults where it
/// has none, without asking every error type to implement it: generated code calls
/// `(&ErrorProbe(&e)).error_info()` with both [`HasErrorObject`] and [`NoErrorObject`] in
/// scope, and method resolution picks the first that applies.
pub struct ErrorProbe<'a, E>(pub &'a E);

/// See [`ErrorProbe`]: the error's own [`ErrorObject`].
pub trait HasErrorObject {
    /// The error's name and code.
    fn error_info(&self) -> ErrorInfo;
}

impl<E: ErrorObject> HasErrorObject for ErrorProbe<'_, E> {
    fn error_info(&self) -> ErrorInfo {
        ErrorInfo {
            name: self.0.name(),
            code: self.0.code(),
        }
    }
}

/// See [`ErrorProbe`]: the defaults, for an error type without [`ErrorObject`].
pub trait NoErrorObject {
    /// The error's type name, and no code.
    fn error_info(&self) -> ErrorInfo;
}

impl<E> NoErrorObject for &ErrorProbe<'_, E> {
    fn error_info(&self) -> ErrorInfo {
        ErrorInfo {
            name: crate::error::short_type_name::<E>().to_owned(),
            code: None,
        }
    }
}

/// Encodes the real client's error as the wire error object plus its typed value.
fn encode_error<E: Serialize + Display>(
    codec: &PayloadCodec,
    method: &str,
    error: &E,
    info: ErrorInfo,
) -> InvokeError {
    let message = error.to_string();
    let stack = crate::error::synthesized_stack(&info.name, &message, method);
    let wire = WireErrorWithValue {
        stack: &stack,
        name: &info.name,
        message: &message,
        code: info.code.as_deref(),
        value: error,
    };
    match encode(codec, &wire) {
        Ok(bytes) => InvokeError::Encoded(bytes),
        // The value does not encode: peers still get its name, message and code.
        Err(_) => {
            let mut e = RemoteError::new(info.name, message);
            e.code = info.code;
            e.stack = stack;
            InvokeError::Failure(e)
        }
    }
}

/// Runs a two-way invoke on the real client: `decode` reads the arguments (see
/// [`ArgDecoder`]) and returns the call's future; its result or error is encoded.
pub fn dispatch_invoke<T, E, F, Fut>(
    call: Call,
    decode: F,
    describe: fn(&E) -> ErrorInfo,
) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>>
where
    T: Serialize,
    E: Serialize + Display + 'static,
    F: FnOnce(&mut ArgDecoder<'_>) -> Result<Fut, CodecError>,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let fut = match decode_with(&call, decode) {
        Ok(fut) => fut,
        Err(e) => return Box::pin(std::future::ready(Err(e))),
    };
    let codec = call.codec;
    let method = call.method;
    Box::pin(async move {
        match fut.await {
            Ok(value) => encode(&codec, &value),
            Err(error) => Err(encode_error(&codec, &method, &error, describe(&error))),
        }
    })
}

/// Runs a oneway invoke (or a publication) on the real client: `decode` reads the arguments
/// and returns the call to make once they all decoded.
pub fn dispatch_oneway<F, G>(
    call: Call,
    decode: F,
) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>>
where
    F: FnOnce(&mut ArgDecoder<'_>) -> Result<G, CodecError>,
    G: FnOnce(),
{
    let result = decode_with(&call, decode).and_then(|run| {
        run();
        encode(&call.codec, &())
    });
    Box::pin(std::future::ready(result))
}

/// Decodes a call's arguments with `decode`, ignoring extra ones.
fn decode_with<R>(
    call: &Call,
    decode: impl FnOnce(&mut ArgDecoder<'_>) -> Result<R, CodecError>,
) -> Result<R, InvokeError> {
    let mut args = ArgDecoder::new(&call.codec, call.args());
    let value = decode(&mut args).map_err(|e| bad_args(call, e))?;
    args.finish().map_err(|e| bad_args(call, e))?;
    Ok(value)
}

/// The answer to a method the trait does not delegate.
pub fn unknown_method(
    call: &Call,
    channel: &str,
) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
    Box::pin(std::future::ready(Err(call.unknown_method(channel))))
}

/// Subscribes the real client to the key `reg` (plain JSON from the runtime) and encodes what
/// it yields.
pub fn dispatch_subscribe<R, T, St, F>(
    reg: Value,
    codec: &PayloadCodec,
    f: F,
) -> Result<ValueStream, RemoteError>
where
    R: DeserializeOwned,
    T: Serialize,
    St: Stream<Item = T> + Send + 'static,
    F: FnOnce(R) -> St,
{
    let key: R = serde_json::from_value(reg).map_err(|e| {
        RemoteError::new(
            "ClusterClientArgumentError",
            format!("the subscription key does not decode: {e}"),
        )
        .with_code("ERR_CLUSTER_BAD_ARGS")
    })?;
    let codec = codec.clone();
    Ok(Box::pin(f(key).map(move |value| {
        let mut out = Vec::new();
        codec.encode(&value, &mut out).map(|()| out)
    })))
}

/// Tells the real client that nobody subscribes to `reg` any more.
pub fn dispatch_unsubscribe<R, F>(reg: Value, f: F) -> BoxFuture<'static, ()>
where
    R: DeserializeOwned,
    F: FnOnce(R),
{
    match serde_json::from_value::<R>(reg) {
        Ok(key) => f(key),
        Err(e) => tracing::warn!(error = ?e.to_string(), "unsubscribe: the key does not decode"),
    }
    Box::pin(std::future::ready(()))
}

// ---------------------------------------------------------------------------------------------
// Stubs for a trait the macro rejected: well-typed, never run.

/// A future for a stub method.
pub fn stub_future<T>() -> std::future::Pending<T> {
    std::future::pending()
}

/// A stream for a stub method.
pub fn stub_stream<T>() -> futures::stream::Pending<T> {
    futures::stream::pending()
}
