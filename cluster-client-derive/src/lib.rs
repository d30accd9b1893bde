//! The `#[cluster_client]` attribute of [`cluster-client`](https://docs.rs/cluster-client).
//!
//! Use it through the runtime crate (`cluster_client::cluster_client`): the generated code
//! calls `cluster_client::__private`, which is locked to this crate's exact version.
//!
//! The steps live in one file each: `attr` parses the attributes; `ast` reads the annotated
//! trait (`ast/from_trait.rs`) or impl block (`ast/from_impl.rs`) into one model; `valid` checks
//! the model (collecting every error in a `ctxt::Ctxt`); and `expand` renders the items from
//! the model, or, when there are errors, stubs beside the errors. Only the readers know which
//! form the user wrote.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Shares one real client between the processes of a host.
///
/// Put it on a trait, or on an impl block, whose shared methods each carry
/// `#[delegate(kind)]`. The processes compete for a loopback port: the winner (the leader)
/// creates the real client, the others (followers) forward their calls to it. The generated
/// handle has the same methods in every process, whatever its role, and keeps working when the
/// leader dies and another process takes over.
///
/// # Which form
///
/// | you have | write | the handle |
/// | --- | --- | --- |
/// | a trait of your own (or you are writing one) | `#[cluster_client] trait Registry { .. }` | `RegistryCluster<C>`, generic over any real client `C: Registry`; implements `Registry` |
/// | a trait you do not own (an SDK's), and a client implementing it | `#[cluster_client] impl sdk::Registry for MyRegistry { .. }` | `RegistryCluster`, serving `MyRegistry`; implements `sdk::Registry` |
/// | a client struct with inherent methods, no trait | `#[cluster_client] impl RealClient { .. }` | `RealClientCluster`, with the same delegated inherent methods |
///
/// * Use the **trait** form when you define the interface: the trait is the contract, test
///   doubles can implement it, and the handle is generic over the real client.
/// * Use the **trait impl** form when the trait comes from another crate: you cannot put an
///   attribute on it, but you can on your impl of it. Associated types and consts of the impl
///   are repeated on the handle's impl. Methods you keep local (no `#[delegate]`) are not on the
///   handle: it gets the trait's provided body instead; if the trait requires the method, rustc
///   reports it missing from the handle's impl, pointing at your local methods: delegate it.
/// * Use the **inherent impl** form for a plain client struct (Node's `cluster(Class)` wraps a
///   class directly). Methods without `#[delegate]` (constructors, local helpers) stay on the
///   real client only.
///
/// The impl forms know the real client's type, so their items are not generic. They take a
/// plain impl: no generics, lifetimes or where clause (wrap a generic client in a concrete
/// newtype), not `unsafe`, negative or `default`, and no macro invocations among the items.
///
/// # What you write
///
/// The trait form:
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
/// An impl of a trait from another crate (no attribute on the trait):
///
/// ```ignore
/// #[cluster_client(name = "Registry")]
/// impl sdk::Registry for MyRegistry {
///     type Error = sdk::Error;
///
///     #[delegate(invoke)]
///     async fn lookup(&self, service: String) -> Result<Vec<String>, Self::Error> {
///         self.sdk.lookup(service).await
///     }
///
///     fn describe(&self) -> String { "mine".into() }   // local; the handle keeps the trait's
/// }
///
/// let registry: RegistryCluster = RegistryCluster::builder()
///     .create(|| async { Ok::<_, String>(MyRegistry::new()) })
///     .await?;
/// use sdk::Registry as _;
/// let addrs = registry.lookup("db".into()).await?;
/// ```
///
/// A struct with inherent methods:
///
/// ```ignore
/// #[cluster_client(vis = "pub")]       // the handle is private unless `vis` widens it
/// impl Inventory {
///     pub fn connect(addr: String) -> Self { /* .. */ }      // local: not on the handle
///
///     #[delegate(invoke)]
///     pub async fn stock_of(&self, item: String) -> Result<u32, InventoryError> { /* .. */ }
///
///     #[delegate(subscribe)]
///     pub fn watch(&self, item: String) -> impl Stream<Item = u32> + Send + 'static { /* .. */ }
/// }
///
/// let inventory: InventoryCluster = InventoryCluster::builder()
///     .create(|| async { Ok::<_, String>(Inventory::connect(addr.clone())) })
///     .await?;
/// let apples = inventory.stock_of("apple".into()).await?;
/// ```
///
/// # What it generates
///
/// The same items for every form, named after the trait (`Registry`) or, for an inherent
/// impl, after the type (`Inventory`). For the trait form:
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
/// For an impl (`impl sdk::Registry for MyRegistry` or `impl Inventory`): the impl itself, as
/// written, without its `#[delegate]` attributes; then `RegistryService`, `RegistryCluster` and
/// `RegistryBuilder` (or `InventoryService`, ...) as above but not generic: they serve the
/// impl's type. The handle implements the same trait, or has the delegated methods as inherent
/// methods with the same signatures and docs. The real client must be `Send + Sync + 'static`
/// (checked at its type).
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
/// At most one `subscribe`, `unsubscribe`, `publish` and `close` per trait or impl. A
/// delegated method takes `&self` and owned, named arguments (at most 12; in an impl, `mut x`
/// is fine), and is not generic. In the trait form every method needs a `#[delegate]` and the
/// trait is not generic; in the impl forms at least one method needs one.
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
/// * `#[cluster_client(name = "Channel")]`: the channel name (default: the trait name, or the
///   type name for an inherent impl, as Node uses the class name);
/// * `#[cluster_client(rename_all = "camelCase")]`: wire method names for Node peers (also
///   `"PascalCase"`, `"snake_case"`, `"SCREAMING_SNAKE_CASE"`, `"kebab-case"`);
///   `#[delegate(invoke, name = "getData")]` sets one method's wire name;
/// * `#[cluster_client(prefix = "Primary")]`: put before the generated names
///   (`PrimaryRegistryCluster`, ...), so that two impls of one trait can sit in one module;
/// * `#[cluster_client(vis = "pub(crate)")]`: the visibility of the generated items (default:
///   the trait's; private for the impl forms, since an impl has no visibility of its own);
/// * `#[cluster_client(crate = "path")]`: where the runtime is, when it is not
///   `::cluster_client`.
#[proc_macro_attribute]
pub fn cluster_client(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(attr.into(), item.into()).into()
}
