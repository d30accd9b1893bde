//! Reads `#[cluster_client] impl Trait for Type { .. }` and `#[cluster_client] impl Type { .. }`:
//! the real client is that one type, so the generated items are not generic. The handle
//! implements the same trait (which may come from another crate), or has the same inherent
//! methods. Methods without `#[delegate]` stay on the real client only; the impl is emitted
//! again as written, without its `#[delegate]` attributes.

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Ident, ImplItem, ItemImpl, Type};

use super::{Docs, Method, MethodInput, Names, SelfResolver, Service};
use crate::attr::Args;
use crate::ctxt::Ctxt;

pub fn read<'a>(cx: &mut Ctxt, item: &'a ItemImpl, args: Args) -> Service<'a> {
    let trait_path = item.trait_.as_ref().map(|(_, path, _)| path.clone());
    let type_name = named_type(&item.self_ty);
    check_header(cx, item, type_name.is_some());

    // The names and the channel come from the trait (as for the trait form), or from the type
    // (as Node names a channel after the class).
    let base = match &trait_path {
        Some(path) => path.segments.last().map(|s| &s.ident),
        None => type_name,
    };
    let fallback_base;
    let base = match base {
        Some(ident) => ident,
        None => {
            fallback_base = Ident::new("Client", item.self_ty.span());
            &fallback_base
        }
    };
    let channel = args
        .name
        .as_ref()
        .map(|n| n.value())
        .unwrap_or_else(|| syn::ext::IdentExt::unraw(base).to_string());
    let names = Names::new(args.prefix.as_deref(), base);
    let client = (*item.self_ty).clone();

    let resolver = SelfResolver {
        client: &client,
        trait_path: trait_path.as_ref(),
    };
    let mut methods = Vec::new();
    let mut local_methods = Vec::new();
    let mut handle_items = Vec::new();
    let mut has_macros = false;
    for impl_item in &item.items {
        match impl_item {
            ImplItem::Fn(f) if f.attrs.iter().any(|a| a.path().is_ident("delegate")) => {
                let mut method = Method::read(
                    cx,
                    MethodInput {
                        attrs: &f.attrs,
                        sig: &f.sig,
                        vis: f.vis.clone(),
                        has_body: true,
                    },
                    &args,
                    &resolver,
                );
                // The handle's method is an item of its own: it keeps the user's docs.
                method.handle_attrs = f
                    .attrs
                    .iter()
                    .filter(|a| a.path().is_ident("cfg") || a.path().is_ident("doc"))
                    .collect();
                methods.push(method);
            }
            ImplItem::Fn(f) => local_methods.push(&f.sig),
            // The handle implements the same trait, so it needs the same associated items.
            ImplItem::Type(_) | ImplItem::Const(_) if trait_path.is_some() => {
                handle_items.push(impl_item.to_token_stream());
            }
            ImplItem::Type(_) | ImplItem::Const(_) => {}
            ImplItem::Macro(m) => {
                has_macros = true;
                cx.error_spanned_by(
                    m,
                    format!(
                        "#[cluster_client] cannot see what `{}!` defines inside the impl; move the macro invocation to an impl block of its own",
                        m.mac.path.to_token_stream().to_string().replace(' ', "")
                    ),
                );
            }
            other => {
                has_macros = true;
                cx.error_spanned_by(
                    other,
                    "#[cluster_client] does not understand this item; move it to an impl block of its own",
                );
            }
        }
    }
    // Rustc reports a required trait method the handle lacks at its impl: make that point at
    // the methods the user kept local.
    let handle_impl_span = match (&trait_path, local_methods.first(), local_methods.last()) {
        (Some(_), Some(first), Some(last)) => Some((first.ident.span(), last.ident.span())),
        _ => None,
    };

    // Stubs need a concrete named client, a plain impl, and every item of the impl known.
    let shape_ok = item.generics.params.is_empty()
        && item.generics.where_clause.is_none()
        && type_name.is_some()
        && item.unsafety.is_none()
        && item.defaultness.is_none()
        && !matches!(item.trait_, Some((Some(_), _, _)))
        && !has_macros;
    let self_ty = item.self_ty.to_token_stream().to_string().replace(' ', "");
    let docs = match &trait_path {
        Some(path) => {
            let path = path.to_token_stream().to_string().replace(' ', "");
            Docs {
                subject: format!("[`{path}`] served by [`{self_ty}`]"),
                client: format!("[`{self_ty}`]"),
                methods: "implements the trait".to_owned(),
            }
        }
        None => Docs {
            subject: format!("[`{self_ty}`]"),
            client: format!("[`{self_ty}`]"),
            methods: "has the methods its `#[delegate]`s share".to_owned(),
        },
    };
    let emitted = strip_delegates(item).into_token_stream();
    Service {
        methods,
        local_methods,
        channel,
        names,
        vis: args.vis.clone().unwrap_or(syn::Visibility::Inherited),
        generics: syn::Generics::default(),
        client,
        methods_renamable: trait_path.is_none(),
        trait_path,
        handle_items,
        handle_impl_span,
        noun: "impl block",
        item_span: item.self_ty.span(),
        docs,
        item: emitted.clone(),
        fallback_item: emitted,
        shape_ok,
        args,
    }
}

/// The last name of a named type (`Inventory` for `crate::inventory::Inventory`).
fn named_type(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(tp) if tp.qself.is_none() => tp.path.segments.last().map(|s| &s.ident),
        Type::Group(g) => named_type(&g.elem),
        _ => None,
    }
}

/// What the header of the impl must be: a plain impl of (or for) one concrete, named type.
/// Each error says what to write instead.
fn check_header(cx: &mut Ctxt, item: &ItemImpl, named: bool) {
    if let Some(default) = &item.defaultness {
        cx.error_spanned_by(
            default,
            "#[cluster_client] does not take a `default impl`: the handle needs every method it shares; put the attribute on a plain `impl`",
        );
    }
    if let Some(unsafety) = &item.unsafety {
        cx.error_spanned_by(
            unsafety,
            "#[cluster_client] does not take an `unsafe impl`: the handle cannot make the unsafe trait's promise for the real client; put the attribute on a safe impl of the client's methods",
        );
    }
    if let Some((Some(bang), _, _)) = &item.trait_ {
        cx.error_spanned_by(
            bang,
            "a negative impl has no methods to share; put #[cluster_client] on the impl that defines the client's methods",
        );
    }
    let generics = &item.generics;
    if !generics.params.is_empty() {
        let only_lifetimes = generics
            .params
            .iter()
            .all(|p| matches!(p, syn::GenericParam::Lifetime(_)));
        let message = if only_lifetimes {
            "#[cluster_client] does not take an impl with lifetimes: the leader owns its real client for as long as it leads, so the client is an owned (`'static`) type; make the client own what it borrows and put #[cluster_client] on that type's impl"
        } else {
            "#[cluster_client] does not take a generic impl: the leader and its followers must agree on one concrete client type; wrap the generic client in a concrete newtype (`struct MyClient(Client<Concrete>);`) and put #[cluster_client] on its impl"
        };
        cx.error_spanned_by(generics, message);
    } else if let Some(wc) = &generics.where_clause {
        cx.error_spanned_by(
            wc,
            "#[cluster_client] impls take no where clause: the client type is concrete, so remove the bounds (a bound that does not hold is then reported where the client is used)",
        );
    }
    if !named {
        let ty = item.self_ty.to_token_stream().to_string().replace(' ', "");
        cx.error_spanned_by(
            &item.self_ty,
            format!(
                "#[cluster_client] shares a named client type, not `{ty}`; wrap it in a newtype (`struct MyClient(..);`) and put #[cluster_client] on the newtype's impl"
            ),
        );
    }
}

/// The impl as it is emitted again: the same, without the `#[delegate]` attributes.
fn strip_delegates(item: &ItemImpl) -> ItemImpl {
    let mut item = item.clone();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(f) = impl_item {
            f.attrs.retain(|a| !a.path().is_ident("delegate"));
            crate::ast::strip_rest(&mut f.sig);
        }
    }
    item
}
