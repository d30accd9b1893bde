//! Expansion snapshots: the code generated for representative traits, formatted with
//! prettyplease, compared with the checked-in `tests/expand/*.expanded.rs`.
//!
//! After a deliberate change to the generated code, regenerate with
//! `CLUSTER_CLIENT_BLESS=1 cargo test -p cluster-client-derive --test expand` and review the diff.

// The macro's modules, compiled into this test (a proc-macro crate exports only its macros).
#[allow(dead_code)]
#[path = "../src/ast/mod.rs"]
mod ast;
#[allow(dead_code)]
#[path = "../src/attr.rs"]
mod attr;
#[allow(dead_code)]
#[path = "../src/ctxt.rs"]
mod ctxt;
#[allow(dead_code)]
#[path = "../src/expand/mod.rs"]
mod expand;
#[allow(dead_code)]
#[path = "../src/valid.rs"]
mod valid;

use std::path::PathBuf;

use proc_macro2::TokenStream;
use quote::quote;

fn check(name: &str, attr: TokenStream, item: TokenStream) {
    let tokens = expand::expand(attr, item);
    let file: syn::File = syn::parse2(tokens).expect("the expansion parses as a file");
    let actual = prettyplease::unparse(&file);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expand")
        .join(format!("{name}.expanded.rs"));
    if std::env::var_os("CLUSTER_CLIENT_BLESS").is_some() {
        std::fs::write(&path, &actual).expect("write the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "the expansion of {name} changed; rerun with CLUSTER_CLIENT_BLESS=1 and review:\n{actual}"
    );
}

#[test]
fn registry_with_every_kind() {
    check(
        "registry",
        quote!(rename_all = "camelCase"),
        quote! {
            pub trait Registry: Send + Sync + 'static {
                /// Looks an entry up.
                #[delegate(invoke)]
                async fn get_data(&self, id: String) -> Result<Data, RegistryError>;
                #[delegate(invoke_oneway)]
                fn report(&self, stat: Stat);
                #[delegate(subscribe)]
                fn subscribe(&self, topic: Topic) -> impl Stream<Item = Vec<Addr>> + Send + 'static;
                #[delegate(unsubscribe)]
                fn unsubscribe(&self, topic: Topic);
                #[delegate(publish, name = "publishRegistration")]
                fn publish(&self, reg: Registration);
                #[delegate(close)]
                async fn close(&self);
            }
        },
    );
}

#[test]
fn a_bad_trait_expands_to_its_errors_and_stubs() {
    check(
        "fallback",
        quote!(),
        quote! {
            pub trait Metrics {
                #[delegate(fetch)]
                fn report(&self, value: u64);
                #[delegate(invoke)]
                async fn total(&self) -> u64;
            }
        },
    );
}

#[test]
fn an_impl_of_a_trait_from_elsewhere() {
    check(
        "trait_impl",
        quote!(name = "Registry", prefix = "Sdk", vis = "pub(crate)"),
        quote! {
            impl sdk::Registry for MyRegistry {
                type Error = sdk::SdkError;

                #[delegate(invoke)]
                async fn get(&self, key: String) -> Result<Option<String>, Self::Error> {
                    self.inner.get(key).await
                }
                #[delegate(invoke_oneway)]
                fn note(&self, mut text: String) {
                    text.push('!');
                    self.inner.note(text)
                }
                #[delegate(subscribe)]
                fn watch(&self, topic: Topic) -> impl Stream<Item = Vec<String>> + Send + 'static {
                    self.inner.watch(topic)
                }
                #[delegate(close)]
                async fn close(&self) {}

                /// Kept on the real client: the handle uses the trait's default body.
                fn describe(&self) -> String {
                    "mine".into()
                }
            }
        },
    );
}

#[test]
fn an_inherent_impl() {
    check(
        "inherent_impl",
        quote!(rename_all = "camelCase", vis = "pub"),
        quote! {
            impl Inventory {
                /// Connects (not shared: an associated function).
                pub fn connect(backend: Backend) -> Self {
                    Self { backend }
                }

                /// The stock of an item.
                #[delegate(invoke)]
                pub async fn stock_of(&self, item: String) -> Result<u32, InventoryError> {
                    self.backend.stock(&item).await
                }
                /// Records a sale.
                #[delegate(invoke_oneway)]
                pub fn record_sale(&self, item: String, count: u32) {
                    self.backend.sell(item, count)
                }
                /// Stock changes of an item.
                #[delegate(subscribe)]
                pub fn watch(&self, item: String) -> impl Stream<Item = u32> + Send + 'static {
                    self.backend.watch(item)
                }
                #[delegate(unsubscribe)]
                pub fn unwatch(&self, item: String) {}
                #[delegate(publish)]
                pub fn restock(&self, delivery: Delivery) {
                    self.backend.restock(delivery)
                }
                /// Closes the backend connection.
                #[delegate(close)]
                pub async fn close(&self) {
                    self.backend.close().await
                }
            }
        },
    );
}
