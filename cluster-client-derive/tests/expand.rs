//! Expansion snapshots: the code generated for representative traits, formatted with
//! prettyplease, compared with the checked-in `tests/expand/*.expanded.rs`.
//!
//! After a deliberate change to the generated code, regenerate with
//! `CLUSTER_CLIENT_BLESS=1 cargo test -p cluster-client-derive --test expand` and review the diff.

// The macro's modules, compiled into this test (a proc-macro crate exports only its macros).
#[allow(dead_code)]
#[path = "../src/ast.rs"]
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
