//! Static checks spanned at the user's types, so that "`Foo` is not `Serialize`" points at
//! `Foo` in the user's signature rather than at the attribute.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::service::private;
use crate::ast::{self, Service};
use crate::attr::Kind;

pub fn expand(service: &Service<'_>) -> TokenStream {
    let p = private(service);
    let mut checks = Vec::new();
    for m in &service.methods {
        let cfgs = &m.cfgs;
        let mut one = Vec::new();
        for arg in &m.args {
            let ty = &arg.ty;
            one.push(quote_spanned!(ty.span()=> #p::assert_arg::<#ty>();));
        }
        match m.kind() {
            Some(Kind::Invoke) => {
                if let Some((ok, err)) = m.future_output().and_then(ast::result_types) {
                    one.push(quote_spanned!(ok.span()=> #p::assert_value::<#ok>();));
                    one.push(quote_spanned!(err.span()=> #p::assert_invoke_error::<#err>();));
                }
            }
            Some(Kind::Subscribe) => {
                if let Some(item) = &m.stream_item {
                    one.push(quote_spanned!(item.span()=> #p::assert_value::<#item>();));
                }
            }
            _ => {}
        }
        if !one.is_empty() {
            checks.push(quote! {
                #(#cfgs)*
                {
                    #(#one)*
                }
            });
        }
    }
    if checks.is_empty() {
        return TokenStream::new();
    }
    quote! {
        const _: () = {
            #[allow(dead_code)]
            fn assertions() {
                #(#checks)*
            }
        };
    }
}
