//! What a bad trait still expands to: the errors, the trait itself, and well-typed stubs of the
//! generated items, so that code using them does not add a cascade of unrelated errors.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ReturnType, TraitItem, Type};

use super::service::private;
use crate::ast::{self, Service};
use crate::ctxt::Ctxt;
use crate::valid;

pub fn expand(cx: &Ctxt, service: &Service<'_>) -> TokenStream {
    let errors = cx.to_compile_errors();
    let trait_def = super::trait_def::rewrite(service, true);
    if !valid::trait_shape_ok(service) {
        return quote!(#errors #trait_def);
    }
    let p = private(service);
    let vis = &service.item.vis;
    let trait_ident = super::trait_ident(service);
    let service_name = &service.names.service;
    let channel = &service.channel;
    let service_common = super::service::common_items(service);
    let cluster_common = super::handle::common_items(service);
    let trait_impl = stub_trait_impl(service, &trait_def);
    quote! {
        #errors
        #trait_def

        #[doc = "Stub: the trait has errors."]
        #vis struct #service_name<C> {
            _client: #p::PhantomData<fn() -> C>,
        }

        #service_common

        impl<C> #p::Service for #service_name<C>
        where
            C: #trait_ident + #p::Send + #p::Sync + 'static,
        {
            type Client = C;

            fn channel_name(&self) -> &str {
                #channel
            }

            fn invoke(
                &self,
                _client: #p::Arc<C>,
                call: #p::Call,
            ) -> #p::BoxFuture<'static, #p::Result<#p::Vec<u8>, #p::InvokeError>> {
                #p::unknown_method(&call, self.channel_name())
            }
        }

        #cluster_common

        #[allow(unused_variables, unreachable_code)]
        const _: () = {
            #trait_impl
        };
    }
}

/// `impl Trait for {Trait}Cluster<C>` with bodies that never run, when every method's return
/// type can be produced without knowing more.
fn stub_trait_impl(service: &Service<'_>, trait_def: &syn::ItemTrait) -> TokenStream {
    let p = private(service);
    let trait_ident = super::trait_ident(service);
    let cluster = &service.names.cluster;
    let mut methods = Vec::new();
    for item in &trait_def.items {
        let TraitItem::Fn(f) = item else {
            continue;
        };
        let mut sig = f.sig.clone();
        // Patterns were replaced by `_` in the rewritten trait; impls take the same.
        let body = match &sig.output {
            ReturnType::Default => quote!(loop {}),
            ReturnType::Type(_, ty) => match &**ty {
                Type::ImplTrait(_) => {
                    if let Some((out, _)) = ast::impl_trait_assoc(ty, "Future", "Output") {
                        quote!(#p::stub_future::<#out>())
                    } else if let Some((item, _)) = ast::impl_trait_assoc(ty, "Stream", "Item") {
                        quote!(#p::stub_stream::<#item>())
                    } else {
                        return TokenStream::new();
                    }
                }
                _ => quote!(loop {}),
            },
        };
        let cfgs = f.attrs.iter().filter(|a| a.path().is_ident("cfg"));
        sig.asyncness = None;
        methods.push(quote! {
            #(#cfgs)*
            #sig {
                #body
            }
        });
    }
    quote! {
        impl<C> #trait_ident for #cluster<C>
        where
            C: #trait_ident + #p::Send + #p::Sync + 'static,
        {
            #(#methods)*
        }
    }
}
