//! Procedural macros for `cluster-client`.
//!
//! Use them through the `cluster-client` crate (`cluster_client::cluster_client`), which
//! re-exports them together with the runtime the generated code calls.

use proc_macro::TokenStream;

/// Turns a trait into a cluster-shared client (work in progress: currently passes the trait
/// through unchanged).
#[proc_macro_attribute]
pub fn cluster_client(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
