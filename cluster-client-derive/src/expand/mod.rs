//! Expansion: read the item into the model, validate it, then generate, or fall back to stubs
//! beside the errors. Everything after the reading works on the model alone.

mod assertions;
mod fallback;
mod handle;
mod service;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Item;
use syn::spanned::Spanned;

use crate::ast::{self, Service};
use crate::attr::Args;
use crate::ctxt::Ctxt;
use crate::valid;

/// Expands `#[cluster_client(attr)] item`.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::new();
    let args = Args::parse(&mut cx, attr);
    let item: Item = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(e) => {
            let error = e.to_compile_error();
            return quote!(#error #item);
        }
    };
    let service = match &item {
        Item::Trait(item_trait) => ast::from_trait(&mut cx, item_trait, args),
        Item::Impl(item_impl) => ast::from_impl(&mut cx, item_impl, args),
        other => {
            let (span, message) = misplaced(other);
            cx.error_at(span, message);
            let errors = cx.to_compile_errors();
            return quote!(#errors #item);
        }
    };
    valid::check(&mut cx, &service);
    if cx.has_errors() {
        return fallback::expand(&cx, &service);
    }
    generate(&service)
}

/// Everything generated for a valid item.
fn generate(service: &Service<'_>) -> TokenStream {
    let item = &service.item;
    let service_items = service::expand(service);
    let handle_items = handle::expand(service);
    quote! {
        #item
        #service_items
        #handle_items
    }
}

/// Where to point, and what to say, for an item that is neither a trait nor an impl block.
fn misplaced(item: &Item) -> (Span, String) {
    let (span, what, name) = match item {
        Item::Struct(s) => (s.struct_token.span, "a struct", Some(&s.ident)),
        Item::Enum(e) => (e.enum_token.span, "an enum", Some(&e.ident)),
        Item::Union(u) => (u.union_token.span, "a union", Some(&u.ident)),
        Item::Fn(f) => (f.sig.fn_token.span, "a function", None),
        Item::Mod(m) => (m.mod_token.span, "a module", None),
        Item::Type(t) => (t.type_token.span, "a type alias", None),
        Item::Const(c) => (c.const_token.span, "a const", None),
        Item::Static(s) => (s.static_token.span, "a static", None),
        other => (other.span(), "this item", None),
    };
    let message = match name {
        Some(name) => format!(
            "#[cluster_client] goes on a trait or an impl block, not on {what}: put it on `impl {name} {{ .. }}` (the client's methods) or on `impl SomeTrait for {name} {{ .. }}`"
        ),
        None => format!("#[cluster_client] goes on a trait or an impl block, not on {what}"),
    };
    (span, message)
}
