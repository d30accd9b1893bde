//! Support for the code `#[cluster_client]` generates. Not a public API: it changes with the
//! macro, which is locked to this crate's exact version.
//!
//! Generated code names nothing but `::cluster_client::__private::..` (or the `crate = ".."`
//! override), so it compiles under `#![no_implicit_prelude]` and users need no direct
//! dependency on serde, futures or serde_json. Each generated method is one call into a helper
//! here, where the logic is written (and tested) once.

use std::fmt::Display;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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
// Static checks. Each generated body that uses a user's type first names
// `<T as Wire..>::CHECK`, spanned at `T` in the user's signature. When `T` lacks what it needs,
// that is the one error the user sees: `do_not_recommend` makes rustc report the check itself
// (with the message below) instead of each missing serde trait, rustc drops the body's other
// failures on `T` at the same span as implied by it, and the copies from other bodies are
// identical, so they are printed once.

/// An argument of a delegated method, or a subscription or publication key: it travels to the
/// leader.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a delegated method: it must be `Serialize + Deserialize + Send + 'static`",
    label = "arguments travel to the leader's process",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}` (a type from another crate: enable its `serde` feature, or wrap it in a type of yours)"
)]
pub trait WireArgument {
    /// Names the check.
    const CHECK: () = ();
}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Send + 'static> WireArgument for T {}

/// The `T` of an invoke's `Result<T, E>`: it travels back from the leader.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a delegated method: it must be `Serialize + Deserialize + Send + 'static`",
    label = "results travel back from the leader's process",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}` (a type from another crate: enable its `serde` feature, or wrap it in a type of yours)"
)]
pub trait WireResult {
    /// Names the check.
    const CHECK: () = ();
}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Send + 'static> WireResult for T {}

/// The item of a subscription's stream: it travels from the leader to every subscriber.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the item of a subscription: it must be `Serialize + Deserialize + Send + 'static`",
    label = "stream items travel from the leader's process to every subscriber",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}` (a type from another crate: enable its `serde` feature, or wrap it in a type of yours)"
)]
pub trait WireItem {
    /// Names the check.
    const CHECK: () = ();
}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Send + 'static> WireItem for T {}

/// The `E` of an invoke's `Result<T, E>`: the runtime's own failures reach callers through it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error type of an invoke: it must implement `From<cluster_client::Error>`",
    label = "timeouts and lost leaders reach callers as this type",
    note = "add `impl From<cluster_client::Error> for {Self}` (a type from another crate: wrap it in a type of yours), or use `cluster_client::Error` as the error type"
)]
pub trait InvokeErrorFrom {
    /// Names the check.
    const CHECK: () = ();
}

#[diagnostic::do_not_recommend]
impl<E: From<Error>> InvokeErrorFrom for E {}

/// The `E` of an invoke's `Result<T, E>`: the error value travels back from the leader.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error type of an invoke: it must be `Serialize + Deserialize + Display + Send + 'static`",
    label = "the error value travels back from the leader's process",
    note = "use `cluster_client::Error`, or a type of yours with `#[derive(serde::Serialize, serde::Deserialize)]`, `Display` and `From<cluster_client::Error>` (`Box<dyn Error>` cannot cross between processes)"
)]
pub trait WireInvokeError {
    /// Names the check.
    const CHECK: () = ();
}

#[diagnostic::do_not_recommend]
impl<E: Serialize + DeserializeOwned + Display + Send + 'static> WireInvokeError for E {}

// ---------------------------------------------------------------------------------------------
// The handle side: what `{Trait}Cluster<C>` runs in each role.

/// What an invoke does with its result and error types that needs their traits, as plain
/// functions made where the types are named (by [`invoke_types`]). [`invoke`] itself then has
/// no bounds on them, so neither has the future the handle returns: a type without serde is
/// reported once, by its check, and not again at the method's name.
pub struct InvokeTypes<T, E> {
    decode: fn(&PayloadCodec, &[u8]) -> Result<T, CodecError>,
    from_error: fn(Error) -> E,
    typed_error: fn(&PayloadCodec, Error) -> E,
}

/// The [`InvokeTypes`] of an invoke returning `Result<T, E>`.
pub fn invoke_types<T, E>() -> InvokeTypes<T, E>
where
    T: DeserializeOwned,
    E: From<Error> + DeserializeOwned + 'static,
{
    InvokeTypes {
        decode: decode_value::<T>,
        from_error: E::from,
        typed_error: typed_error::<E>,
    }
}

fn decode_value<T: DeserializeOwned>(codec: &PayloadCodec, bytes: &[u8]) -> Result<T, CodecError> {
    codec.decode(bytes)
}

/// An invoke through the handle: on the leader, `local` calls the real client directly (typed,
/// nothing encoded); on a follower, the call goes over the wire and a failure comes back as
/// the leader's `E` when the leader is a Rust peer.
pub async fn invoke<S, A, T, E, F, Fut>(
    handle: Handle<S>,
    method: &'static str,
    args: A,
    arity: fn(&A) -> u32,
    write: fn(&A, &mut ArgEncoder<'_, '_>) -> Result<(), CodecError>,
    types: InvokeTypes<T, E>,
    local: F,
) -> Result<T, E>
where
    S: Service,
    F: FnOnce(Arc<S::Client>, A) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    if let Err(e) = handle.check_open() {
        return Err((types.from_error)(e));
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
        Ok(Answer::Remote(bytes)) => (types.decode)(codec, &bytes)
            .map_err(|e| (types.from_error)(core.codec_error(method, e))),
        Err(e) => Err((types.typed_error)(codec, e)),
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
///
/// Boxed (once per subscription): the method's `impl Stream` is then a type whose `Stream`
/// impl has no bounds on `T`, so a `T` without serde is reported once, by its check.
pub fn subscribe<S, R, T>(handle: &Handle<S>, key: &R) -> futures::stream::BoxStream<'static, T>
where
    S: Service,
    R: Serialize,
    T: DeserializeOwned + Send + 'static,
{
    match handle.subscribe::<R, T>(key) {
        Ok(sub) => Box::pin(sub),
        Err(e) => {
            tracing::warn!(error = ?e.to_string(), "subscription not made");
            Box::pin(futures::stream::empty::<T>())
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
