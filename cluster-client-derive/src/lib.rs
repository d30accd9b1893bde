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
/// The trait form (each example here runs as a doc test, in single mode so it needs no port):
///
/// ```
/// use cluster_client::cluster_client;
/// use futures::{Stream, StreamExt};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Serialize, Deserialize)]
/// # pub struct RegistryError(String);
/// # impl std::fmt::Display for RegistryError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) }
/// # }
/// # impl From<cluster_client::Error> for RegistryError {
/// #     fn from(e: cluster_client::Error) -> Self { RegistryError(e.to_string()) }
/// # }
///
/// #[cluster_client(rename_all = "camelCase")]        // options: see below
/// pub trait Registry: Send + Sync + 'static {
///     /// Two-way call: the caller waits for the leader's answer.
///     #[delegate(invoke)]
///     async fn get_data(&self, id: String) -> Result<Vec<String>, RegistryError>;
///
///     /// One-way call: sent, not answered. `#[rest]` takes every remaining argument.
///     #[delegate(invoke_oneway)]
///     fn report(&self, level: u8, #[rest] lines: Vec<String>);
///
///     /// The leader subscribes once per key and fans the values out to every process.
///     #[delegate(subscribe)]
///     fn subscribe(&self, service: String) -> impl Stream<Item = Vec<String>> + Send + 'static;
///
///     /// Called on the real client when no process subscribes to the key any more.
///     #[delegate(unsubscribe)]
///     fn unsubscribe(&self, service: String);
///
///     /// Remembered per process and re-sent to every new connection and leader.
///     #[delegate(publish)]
///     fn publish(&self, address: String);
///
///     /// Closes the real client when its leader shuts down.
///     #[delegate(close)]
///     async fn close(&self);
/// }
///
/// // `RegistryError: From<cluster_client::Error> + Serialize + DeserializeOwned + Display`.
/// struct RealRegistry;
///
/// impl Registry for RealRegistry {                      // ordinary `async fn`s
///     async fn get_data(&self, id: String) -> Result<Vec<String>, RegistryError> {
///         Ok(vec![format!("{id}:80")])
///     }
///     fn report(&self, _level: u8, _lines: Vec<String>) {}
///     fn subscribe(&self, service: String) -> impl Stream<Item = Vec<String>> + Send + 'static {
///         futures::stream::iter([vec![format!("{service}:80")]])
///     }
///     fn unsubscribe(&self, _service: String) {}
///     fn publish(&self, _address: String) {}
///     async fn close(&self) {}
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // In every process:
/// let registry = RegistryCluster::builder()
///     .single_mode(true)                                 // or .port(7777) between processes
///     .create(|| async { Ok::<_, String>(RealRegistry) }) // runs only where this process leads
///     .await?;
/// let data = registry.get_data("svc".into()).await;     // the same trait in every role
/// assert_eq!(data.unwrap(), ["svc:80"]);
/// registry.report(1, vec!["a".into(), "b".into()]);
/// assert_eq!(registry.subscribe("db".into()).next().await, Some(vec!["db:80".to_string()]));
/// registry.close().await;
/// # Ok(()) }
/// ```
///
/// An impl of a trait from another crate (no attribute on the trait):
///
/// ```
/// # mod sdk {
/// #     pub trait Registry: Send + Sync + 'static {
/// #         type Error;
/// #         fn lookup(&self, service: String)
/// #             -> impl std::future::Future<Output = Result<Vec<String>, Self::Error>> + Send;
/// #         fn describe(&self) -> String { "an sdk registry".into() }
/// #     }
/// #     #[derive(Debug, serde::Serialize, serde::Deserialize)]
/// #     pub struct Error(pub String);
/// #     impl std::fmt::Display for Error {
/// #         fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) }
/// #     }
/// #     impl From<cluster_client::Error> for Error {
/// #         fn from(e: cluster_client::Error) -> Self { Error(e.to_string()) }
/// #     }
/// # }
/// use cluster_client::cluster_client;
///
/// struct MyRegistry;
///
/// #[cluster_client(name = "Registry")]
/// impl sdk::Registry for MyRegistry {
///     type Error = sdk::Error;                           // repeated on the handle's impl
///
///     #[delegate(invoke)]
///     async fn lookup(&self, service: String) -> Result<Vec<String>, Self::Error> {
///         Ok(vec![format!("{service}.mine:80")])
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sdk::Error> {
/// use sdk::Registry as _;
/// let registry: RegistryCluster = RegistryCluster::builder()
///     .single_mode(true)
///     .create(|| async { Ok::<_, String>(MyRegistry) })
///     .await?;
/// assert_eq!(registry.lookup("db".into()).await?, ["db.mine:80"]);
/// assert_eq!(registry.describe(), "an sdk registry");  // the trait's own body: not delegated
/// # Ok(()) }
/// ```
///
/// A struct with inherent methods:
///
/// ```
/// use cluster_client::cluster_client;
/// # #[derive(Debug, serde::Serialize, serde::Deserialize)]
/// # pub struct InventoryError(String);
/// # impl std::fmt::Display for InventoryError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) }
/// # }
/// # impl From<cluster_client::Error> for InventoryError {
/// #     fn from(e: cluster_client::Error) -> Self { InventoryError(e.to_string()) }
/// # }
///
/// pub struct Inventory {
///     apples: u32,
/// }
///
/// #[cluster_client(vis = "pub")]       // the handle is private unless `vis` widens it
/// impl Inventory {
///     pub fn connect() -> Self {          // no #[delegate]: stays on the real client
///         Inventory { apples: 3 }
///     }
///
///     #[delegate(invoke)]
///     pub async fn stock_of(&self, item: String) -> Result<u32, InventoryError> {
///         Ok(if item == "apple" { self.apples } else { 0 })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), InventoryError> {
/// let inventory: InventoryCluster = InventoryCluster::builder()
///     .single_mode(true)
///     .create(|| async { Ok::<_, String>(Inventory::connect()) })
///     .await?;
/// assert_eq!(inventory.stock_of("apple".into()).await?, 3);
/// # Ok(()) }
/// ```
///
/// # What it generates
///
/// The same items for every form, named after the trait (`Registry`) or, for an inherent
/// impl, after the type (`Inventory`). For the trait form:
///
/// * **the trait itself**, with the `#[delegate]` and `#[rest]` attributes removed and every
///   `async fn` rewritten to `fn .. -> impl Future<Output = ..> + Send` (implementations may
///   still write `async fn`; the futures must be `Send` because the leader runs them on
///   tokio's multi-threaded runtime);
/// * **`RegistryService<C>`**, the leader's dispatch table: implements
///   `cluster_client::Service` for any `C: Registry + Send + Sync + 'static`. For each call it
///   matches the wire method name, reads the arguments one by one with JavaScript's meaning
///   (a missing one is `undefined`, extra ones are ignored), calls the real client and encodes
///   the result, or the error with the name and code of its `ErrorObject`, if it has one;
/// * **`RegistryCluster<C>`**, the handle (cheap to `Clone`): implements `Registry` itself.
///   An invoke goes straight to the real client when this process leads (typed, nothing is
///   encoded) and over the wire when it follows; subscriptions are
///   `cluster_client::Subscription` streams that survive failover. Inherent methods:
///   `builder()`, `from_handle(..)`, `handle()`, `with_timeout(d)`, `status()`,
///   `channel_status().await`, `is_leader()`, `ready().await`, `close().await`;
/// * **`RegistryBuilder<C>`**: `cluster_client::Builder` making `RegistryCluster<C>`, with
///   every option of the runtime (`.port(..)`, timeouts, `.secret(..)`, a fixed role, single
///   mode, the codec, the leader's bounds, ...), then `.create(factory).await` (waits until
///   ready) or `.build(factory)`;
/// * static checks spanned at your types (arguments and keys `Serialize + DeserializeOwned +
///   Send + 'static`, results and stream items likewise, invoke errors also
///   `From<cluster_client::Error> + Display`): a type that lacks one gets one error, at the
///   type, naming what to add (for example "`Sample` cannot be an argument of a delegated
///   method: it must be `Serialize + Deserialize + Send + 'static`").
///
/// For an impl (`impl sdk::Registry for MyRegistry` or `impl Inventory`): the impl itself, as
/// written, without its `#[delegate]` attributes; then `RegistryService`, `RegistryCluster` and
/// `RegistryBuilder` (or `InventoryService`, ...) as above but not generic: they serve the
/// impl's type. The handle implements the same trait, or has the delegated methods as inherent
/// methods with the same signatures and docs. The real client must be `Send + Sync + 'static`
/// (checked at its type).
///
/// Roughly, for `get_data` (the expansion snapshots in `tests/expand/` have it in full):
///
/// ```text
/// impl<C: Registry + Send + Sync + 'static> cluster_client::Service for RegistryService<C> {
///     type Client = C;
///     fn invoke(&self, client: Arc<C>, call: Call) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
///         match call.method.as_str() {
///             "getData" => {
///                 let () = <String as __private::WireArgument>::CHECK;  // the static checks
///                 // .. one per type of the method
///                 __private::dispatch_invoke::<Vec<String>, RegistryError, _, _>(
///                 call,
///                 move |args| {
///                     let id: String = args.next::<String>("id")?;
///                     Ok(async move { <C as Registry>::get_data(&*client, id).await })
///                 },
///                 |error: &RegistryError| /* its ErrorObject, or the defaults */,
///             )},
///             // .. one arm per invoke, oneway and publish method
///             _ => __private::unknown_method(&call, self.channel_name()),
///         }
///     }
///     // subscribe / unsubscribe / publish_method / close, when the trait has them
/// }
///
/// impl<C: Registry + Send + Sync + 'static> Registry for RegistryCluster<C> {
///     fn get_data(&self, id: String) -> impl Future<Output = Result<Vec<String>, RegistryError>> + Send {
///         let () = <String as __private::WireArgument>::CHECK;  // the same checks
///         __private::invoke(
///             self.handle.clone(), "getData", (id,),
///             |_| 1,                                       // how many wire arguments
///             |args, w| { w.arg::<String>(&args.0)?; Ok(()) }, // writing them
///             __private::invoke_types::<Vec<String>, RegistryError>(), // decoding the answer
///             |client, (id,)| async move {                 // when this process leads
///                 <C as Registry>::get_data(&*client, id).await
///             },
///         )
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
/// delegated method takes `&self` and owned, named arguments (any number; in an impl, `mut x`
/// is fine; `#[rest] args: Vec<T>` on the last argument of an `invoke` or `invoke_oneway`
/// takes every remaining argument), and is not generic. In the trait form every method needs a `#[delegate]` and the
/// trait is not generic; in the impl forms at least one method needs one.
///
/// # Errors of an invoke
///
/// `E` receives the failures of the call itself (timeout, lost leader, closed handle) through
/// `From<cluster_client::Error>`. Between Rust peers the leader's `E` value itself reaches the
/// follower; from a Node.js leader, `E` is built from `cluster_client::Error::Remote`, whose
/// `remote()` gives the leader's name, message, stack and code. Node followers see `E`'s
/// `ErrorObject` name and code (default: the type's name, no code) and a stack.
/// `cluster_client::Error` itself can be `E`.
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
