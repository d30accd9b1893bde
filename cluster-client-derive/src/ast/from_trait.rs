//! Reads `#[cluster_client] trait Name { .. }`: the real client is any implementation `C` of
//! the trait, the handle implements the trait too, and the trait is emitted again with its
//! `#[delegate]` attributes removed and each `async fn` turned into
//! `fn .. -> impl Future<Output = ..> + Send`, so the leader can run the real client's futures
//! on a multi-threaded runtime (implementations may still write `async fn`).

use quote::{ToTokens, quote};
use syn::{FnArg, ItemTrait, Pat, ReturnType, TraitItem};

use super::{
    Docs, Method, MethodInput, Names, SelfResolver, Service, krate, plain_arguments, private,
    respan,
};
use crate::attr::Args;
use crate::ctxt::Ctxt;

pub fn read<'a>(cx: &mut Ctxt, item: &'a ItemTrait, args: Args) -> Service<'a> {
    let ident = &item.ident;
    let channel = args
        .name
        .as_ref()
        .map(|n| n.value())
        .unwrap_or_else(|| syn::ext::IdentExt::unraw(ident).to_string());
    let names = Names::new(args.prefix.as_deref(), ident);
    let p = private(&args);
    let client: syn::Type = syn::parse_quote!(C);
    let trait_path: syn::Path = ident.clone().into();
    let mut generics: syn::Generics = syn::parse_quote!(<C>);
    generics.where_clause = Some(syn::parse_quote! {
        where
            C: #ident + #p::Send + #p::Sync + 'static,
    });

    let rewritten = rewrite(item, &args, false);
    let resolver = SelfResolver {
        client: &client,
        trait_path: Some(&trait_path),
    };
    let mut methods = Vec::new();
    for (original, rewritten) in item.items.iter().zip(&rewritten.items) {
        let (TraitItem::Fn(f), TraitItem::Fn(r)) = (original, rewritten) else {
            continue;
        };
        let mut method = Method::read(
            cx,
            MethodInput {
                attrs: &f.attrs,
                sig: &f.sig,
                vis: syn::Visibility::Inherited,
                has_body: f.default.is_some(),
            },
            &args,
            &resolver,
        );
        method.handle_sig = plain_arguments(&r.sig);
        method.ignored_body = f.default.as_ref();
        methods.push(method);
    }
    check_shape(cx, item);

    let shape_ok = item.generics.params.is_empty()
        && item.generics.where_clause.is_none()
        && item.items.iter().all(|i| matches!(i, TraitItem::Fn(_)));
    let vis = args.vis.clone().unwrap_or_else(|| item.vis.clone());
    let fallback_item = rewrite(item, &args, true).into_token_stream();
    Service {
        methods,
        local_methods: Vec::new(),
        channel,
        docs: Docs {
            subject: format!("[`{ident}`]"),
            client: "`C`".to_owned(),
            methods: "implements the trait".to_owned(),
        },
        names,
        vis,
        generics,
        client,
        trait_path: Some(trait_path),
        handle_items: Vec::new(),
        handle_impl_span: None,
        methods_renamable: true,
        noun: "trait",
        item_span: ident.span(),
        item: rewritten.into_token_stream(),
        fallback_item,
        shape_ok,
        args,
    }
}

/// The rules of the trait itself (its methods are checked by `valid`).
fn check_shape(cx: &mut Ctxt, item: &ItemTrait) {
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.generics,
            "generic traits are not supported by #[cluster_client]: the leader and its followers must agree on one concrete type per argument",
        );
    } else if let Some(wc) = &item.generics.where_clause {
        cx.error_spanned_by(wc, "#[cluster_client] traits take no where clause");
    }
    if let Some(unsafety) = &item.unsafety {
        cx.error_spanned_by(unsafety, "#[cluster_client] traits cannot be `unsafe`");
    }
    if let Some(auto) = &item.auto_token {
        cx.error_spanned_by(auto, "#[cluster_client] traits cannot be `auto`");
    }
    for other in &item.items {
        match other {
            TraitItem::Fn(_) => {}
            TraitItem::Type(t) => cx.error_spanned_by(
                t,
                "associated types are not supported by #[cluster_client]; use concrete types in the method signatures",
            ),
            TraitItem::Const(c) => cx.error_spanned_by(
                c,
                "associated consts are not supported by #[cluster_client]",
            ),
            other => cx.error_spanned_by(other, "#[cluster_client] traits hold only methods"),
        }
    }
}

/// The rewritten trait. With `sanitize` (fallback only), argument patterns that rustc rejects
/// in a method without body become `_`, so the user sees the macro's error and no other.
fn rewrite(item: &ItemTrait, args: &Args, sanitize: bool) -> ItemTrait {
    let krate = krate(args);
    let mut item = item.clone();
    for ti in &mut item.items {
        let TraitItem::Fn(f) = ti else {
            continue;
        };
        f.attrs.retain(|a| !a.path().is_ident("delegate"));
        crate::ast::strip_rest(&mut f.sig);
        if f.sig.asyncness.take().is_some() {
            let output = match &f.sig.output {
                ReturnType::Default => quote!(()),
                ReturnType::Type(_, ty) => quote!(#ty),
            };
            // Spanned at the method, so errors about the future name it.
            let span = f.sig.ident.span();
            let krate = respan(krate.clone(), span);
            f.sig.output = syn::parse_quote_spanned! {span=>
                -> impl #krate::__private::Future<Output = #output> + #krate::__private::Send
            };
        }
        if sanitize {
            for input in &mut f.sig.inputs {
                if let FnArg::Typed(pt) = input {
                    let plain = matches!(&*pt.pat, Pat::Ident(p) if p.by_ref.is_none() && p.mutability.is_none() && p.subpat.is_none());
                    if !plain {
                        *pt.pat = syn::parse_quote!(_);
                    }
                }
            }
        }
    }
    item
}
