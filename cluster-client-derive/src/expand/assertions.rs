//! Static checks spanned at the user's types, so that "`Foo` cannot be an argument of a
//! delegated method" points at `Foo` in the user's signature rather than at the attribute.
//!
//! Every generated body that uses a method's types starts with that method's checks. When a
//! type lacks what it needs, the check is its one error: rustc drops the body's other failures
//! on that type (same span, implied by the check), and prints the identical check of the other
//! bodies once (see the traits in `__private`).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::service::private;
use crate::ast::{self, Method, Service};
use crate::attr::Kind;

/// `let () = <T as Check>::CHECK;` for each type of `m` that crosses the wire.
pub fn method_checks(service: &Service<'_>, m: &Method<'_>) -> TokenStream {
    let p = private(service);
    let check = |ty: &syn::Type, traits: &[&str]| {
        let traits = traits
            .iter()
            .map(|t| syn::Ident::new(t, proc_macro2::Span::call_site()));
        quote_spanned!(ty.span()=> #(let () = <#ty as #p::#traits>::CHECK;)*)
    };
    let mut checks = Vec::new();
    for arg in &m.args {
        checks.push(check(&arg.ty, &["WireArgument"]));
    }
    match m.kind() {
        Some(Kind::Invoke) => {
            if let Some((ok, err)) = m.future_output().and_then(ast::result_types) {
                checks.push(check(ok, &["WireResult"]));
                checks.push(check(err, &["InvokeErrorFrom", "WireInvokeError"]));
            }
        }
        Some(Kind::Subscribe) => {
            if let Some(item) = &m.stream_item {
                checks.push(check(item, &["WireItem"]));
            }
        }
        _ => {}
    }
    quote!(#(#checks)*)
}
