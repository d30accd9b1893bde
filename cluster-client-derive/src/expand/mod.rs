//! Expansion: parse, validate, then generate, or fall back to stubs beside the errors.

mod assertions;
mod fallback;
mod handle;
mod service;
mod trait_def;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Item, ItemTrait};

use crate::ast::Service;
use crate::attr::TraitArgs;
use crate::ctxt::Ctxt;
use crate::valid;

/// Expands `#[cluster_client(attr)] item`.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::new();
    let args = TraitArgs::parse(&mut cx, attr);
    let item: Item = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(e) => {
            let error = e.to_compile_error();
            return quote!(#error #item);
        }
    };
    let Item::Trait(item_trait) = &item else {
        let (span, what) = describe(&item);
        cx.error_at(
            span,
            format!("#[cluster_client] goes on a trait, not on {what}"),
        );
        let errors = cx.to_compile_errors();
        return quote!(#errors #item);
    };
    let service = Service::from_syn(&mut cx, item_trait, args);
    valid::check(&mut cx, &service);
    if cx.has_errors() {
        return fallback::expand(&cx, &service);
    }
    generate(&service)
}

/// Everything generated for a valid trait.
fn generate(service: &Service<'_>) -> TokenStream {
    let trait_def = trait_def::rewrite(service, false);
    let service_items = service::expand(service);
    let handle_items = handle::expand(service);
    let assertions = assertions::expand(service);
    quote! {
        #trait_def
        #service_items
        #handle_items
        #assertions
    }
}

/// Where to point, and what to call an item that is not a trait.
fn describe(item: &Item) -> (Span, &'static str) {
    match item {
        Item::Struct(s) => (s.struct_token.span, "a struct"),
        Item::Enum(e) => (e.enum_token.span, "an enum"),
        Item::Union(u) => (u.union_token.span, "a union"),
        Item::Fn(f) => (f.sig.fn_token.span, "a function"),
        Item::Impl(i) => (i.impl_token.span, "an impl block"),
        Item::Mod(m) => (m.mod_token.span, "a module"),
        Item::Type(t) => (t.type_token.span, "a type alias"),
        Item::Const(c) => (c.const_token.span, "a const"),
        Item::Static(s) => (s.static_token.span, "a static"),
        other => (other.span(), "this item"),
    }
}

/// The trait's path tokens (its identifier: the generated items sit next to it).
fn trait_ident<'a>(service: &Service<'a>) -> &'a syn::Ident {
    let ItemTrait { ident, .. } = service.item;
    ident
}
