//! The `#[cluster_client]` attribute of [`cluster-client`](https://docs.rs/cluster-client).
//!
//! Use it through the runtime crate (`cluster_client::cluster_client`): the generated code
//! calls `cluster_client::__private`, which is locked to this crate's exact version.
//!
//! The steps live in one file each: `attr` parses the attributes, `ast` models the trait,
//! `valid` checks it (collecting every error in a `ctxt::Ctxt`), and `expand` renders the
//! items, or, when the trait has errors, stubs beside the errors.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Shares one real client between the processes of a host.
///
/// Put it on a trait whose methods each carry `#[delegate(kind)]`. The processes compete for a
/// loopback port: the winner (the leader) creates the real client, the others (followers)
/// forward their calls to it. The generated handle implements the same trait in every process,
/// whatever its role, and keeps working when the leader dies and another process takes over.
///
/// # What you write
///
/// ```ignore
/// use cluster_client::cluster_client;
/// use futures::Stream;
///
/// #[cluster_client(rename_all = "camelCase")]        // options: see below
/// pub trait Registry: Send + Sync + 'static {
///     /// Two-way call: the caller waits for the leader's answer.
///     #[delegate(invoke)]
///     async fn get_data(&self, id: String) -> Result<Data, RegistryError>;
///
///     /// One-way call: sent, not answered.
///     #[delegate(invoke_oneway)]
///     fn report(&self, stat: Stat);
///
///     /// The leader subscribes once per key and fans the values out to every process.
///     #[delegate(subscribe)]
///     fn subscribe(&self, topic: Topic) -> impl Stream<Item = Vec<Addr>> + Send + 'static;
///
///     /// Called on the real client when no process subscribes to the key any more.
///     #[delegate(unsubscribe)]
///     fn unsubscribe(&self, topic: Topic);
///
///     /// Remembered per process and re-sent to every new leader.
///     #[delegate(publish)]
///     fn publish(&self, reg: Registration);
///
///     /// Closes the real client when its leader shuts down.
///     #[delegate(close)]
///     async fn close(&self);
/// }
///
/// // `RegistryError: From<cluster_client::Error> + Serialize + DeserializeOwned + Display`.
/// impl Registry for RealRegistry { /* ordinary `async fn`s talking to the backend */ }
///
/// // In every process:
/// let registry = RegistryCluster::builder()
///     .port(7777)
///     .create(|| async { RealRegistry::connect(addr).await })   // runs only where this process leads
///     .await?;
/// let data = registry.get_data("svc".into()).await?;            // the same trait in every role
/// ```
///
/// # What it generates
///
/// For a trait `Registry`:
///
/// * **the trait itself**, with the `#[delegate]` attributes removed and every `async fn`
///   rewritten to `fn .. -> impl Future<Output = ..> + Send` (implementations may still write
///   `async fn`; the futures must be `Send` because the leader runs them on tokio's
///   multi-threaded runtime);
/// * **`RegistryService<C>`**, the leader's dispatch table: implements
///   `cluster_client::Service` for any `C: Registry + Send + Sync + 'static`. For each call it
///   matches the wire method name, decodes the argument tuple, calls the real client and
///   encodes the result;
/// * **`RegistryCluster<C>`**, the handle (cheap to `Clone`): implements `Registry` itself.
///   An invoke goes straight to the real client when this process leads (typed, nothing is
///   encoded) and over the wire when it follows; subscriptions are
///   `cluster_client::Subscription` streams that survive failover. Inherent methods:
///   `builder()`, `from_handle(..)`, `handle()`, `is_leader()`, `ready().await`,
///   `close().await`;
/// * **`RegistryBuilder<C>`**, the builder `RegistryCluster::builder()` returns: `.name(..)`,
///   `.port(..)`, `.response_timeout(..)`, `.connect_timeout(..)`, `.heartbeat_interval(..)`,
///   `.is_leader(bool)`, `.single_mode(bool)`, `.codec(..)`, `.broadcast(..)`, `.scope(..)`,
///   `.options(..)`, then `.create(factory).await` (waits until ready) or `.build(factory)`;
/// * static checks spanned at your types (arguments and keys `Serialize + DeserializeOwned +
///   Send + 'static`, results and stream items likewise, invoke errors also
///   `From<cluster_client::Error> + Display`).
///
/// Roughly, for `get_data`:
///
/// ```ignore
/// impl<C: Registry + Send + Sync + 'static> cluster_client::Service for RegistryService<C> {
///     type Client = C;
///     fn invoke(&self, client: Arc<C>, call: Call) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
///         match call.method.as_str() {
///             "getData" => __private::dispatch_invoke(call, move |(id,): (String,)| async move {
///                 <C as Registry>::get_data(&*client, id).await
///             }),
///             // .. one arm per invoke, oneway and publish method
///             _ => __private::unknown_method(&call, self.channel_name()),
///         }
///     }
///     // subscribe / unsubscribe / publish_method / close, when the trait has them
/// }
///
/// impl<C: Registry + Send + Sync + 'static> Registry for RegistryCluster<C> {
///     fn get_data(&self, id: String) -> impl Future<Output = Result<Data, RegistryError>> + Send {
///         __private::invoke(self.handle.clone(), "getData", (id,), |client, (id,)| async move {
///             <C as Registry>::get_data(&*client, id).await   // when this process leads
///         })
///     }
///     fn subscribe(&self, topic: Topic) -> impl Stream<Item = Vec<Addr>> + Send + 'static {
///         __private::subscribe::<_, _, Vec<Addr>>(&self.handle, &topic)
///     }
///     // ..
/// }
/// ```
///
/// # Delegate kinds
///
/// | kind | signature | on a follower |
/// | --- | --- | --- |
/// | `invoke` | `async fn m(&self, args..) -> Result<T, E>` (or `-> impl Future<Output = Result<T, E>> + Send`) | sent, answer awaited within the response timeout |
/// | `invoke_oneway` | `fn m(&self, args..)` | sent, not answered |
/// | `subscribe` | `fn m(&self, key: K) -> impl Stream<Item = T> + Send + 'static` | the leader subscribes once per key |
/// | `unsubscribe` | `fn m(&self, key: K)` (same `K`; needs a `subscribe`) | ends this process's streams of the key |
/// | `publish` | `fn m(&self, value: P)` | sent now and to every later leader |
/// | `close` | `async fn m(&self)` | closes the handle; the leader closes the real client |
///
/// At most one `subscribe`, `unsubscribe`, `publish` and `close` per trait. Every method needs
/// a `#[delegate]`, takes `&self` and owned, named arguments (at most 12), and is not generic;
/// the trait is not generic either.
///
/// # Errors of an invoke
///
/// `E` receives the failures of the call itself (timeout, lost leader, closed handle) through
/// `From<cluster_client::Error>`. Between Rust peers the leader's `E` value itself reaches the
/// follower; from a Node.js leader, `E` is built from `cluster_client::Error::Remote` (name,
/// message, stack, code).
///
/// # Options
///
/// * `#[cluster_client(name = "Channel")]`: the channel name (default: the trait name, as Node
///   uses the class name);
/// * `#[cluster_client(rename_all = "camelCase")]`: wire method names for Node peers (also
///   `"PascalCase"`, `"snake_case"`, `"SCREAMING_SNAKE_CASE"`, `"kebab-case"`);
///   `#[delegate(invoke, name = "getData")]` sets one method's wire name;
/// * `#[cluster_client(crate = "path")]`: where the runtime is, when it is not
///   `::cluster_client`.
#[proc_macro_attribute]
pub fn cluster_client(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(attr.into(), item.into()).into()
}
