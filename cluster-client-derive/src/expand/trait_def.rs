//! The user's trait, re-emitted: `#[delegate]` attributes removed and each `async fn` turned
//! into `fn .. -> impl Future<Output = ..> + Send`, so the leader can run the real client's
//! futures on a multi-threaded runtime. Implementations may still use `async fn`.

use syn::{FnArg, ItemTrait, Pat, ReturnType, TraitItem};

use crate::ast::Service;

/// The rewritten trait. With `sanitize` (fallback only), argument patterns that rustc rejects
/// in a method without body become `_`, so the user sees the macro's error and no other.
pub fn rewrite(service: &Service<'_>, sanitize: bool) -> ItemTrait {
    let krate = service.krate();
    let mut item = service.item.clone();
    for ti in &mut item.items {
        let TraitItem::Fn(f) = ti else {
            continue;
        };
        f.attrs.retain(|a| !a.path().is_ident("delegate"));
        if f.sig.asyncness.take().is_some() {
            let output = match &f.sig.output {
                ReturnType::Default => quote::quote!(()),
                ReturnType::Type(_, ty) => quote::quote!(#ty),
            };
            // Spanned at the method, so errors about the future name it.
            let span = f.sig.ident.span();
            let krate = super::service::respan(krate.clone(), span);
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
