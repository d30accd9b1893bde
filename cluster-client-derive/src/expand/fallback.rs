//! What a bad item still expands to: the errors, the user's item itself, and well-typed stubs
//! of the generated items, so that code using them does not add a cascade of unrelated errors.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ReturnType, Type};

use super::service::private;
use crate::ast::{self, Service};
use crate::ctxt::Ctxt;

pub fn expand(cx: &Ctxt, service: &Service<'_>) -> TokenStream {
    let errors = cx.to_compile_errors();
    let item = &service.fallback_item;
    if !service.shape_ok {
        return quote!(#errors #item);
    }
    let p = private(service);
    let vis = &service.vis;
    let service_name = &service.names.service;
    let (impl_generics, ty_generics, where_clause) = service.generics.split_for_impl();
    let real = &service.client;
    let channel = &service.channel;
    let service_common = super::service::common_items(service);
    let cluster_common = super::handle::common_items(service);
    let methods = stub_methods(service);
    let stub_doc = format!("Stub: the {} has errors.", service.noun);
    quote! {
        #errors
        #item

        #[doc = #stub_doc]
        #vis struct #service_name #ty_generics {
            _client: #p::PhantomData<fn() -> #real>,
        }

        #service_common

        impl #impl_generics #p::Service for #service_name #ty_generics #where_clause {
            type Client = #real;

            fn channel_name(&self) -> &str {
                #channel
            }

            fn invoke(
                &self,
                _client: #p::Arc<#real>,
                call: #p::Call,
            ) -> #p::BoxFuture<'static, #p::Result<#p::Vec<u8>, #p::InvokeError>> {
                #p::unknown_method(&call, self.channel_name())
            }
        }

        #cluster_common

        #[allow(unused_variables, unreachable_code)]
        const _: () = {
            #methods
        };
    }
}

/// The handle's methods with bodies that never run, when every method's return type can be
/// produced without knowing more.
fn stub_methods(service: &Service<'_>) -> TokenStream {
    let mut methods = Vec::new();
    for m in &service.methods {
        // Inherent methods named like the handle's own are reported already; a stub of one
        // would only clash with it (a `close` of its own replaces the handle's).
        if service.trait_path.is_none()
            && m.ident != "close"
            && ast::RESERVED.iter().any(|r| m.ident == r)
        {
            continue;
        }
        let sig = &m.handle_sig;
        let Some(body) = stub_body(service, sig) else {
            return TokenStream::new();
        };
        let attrs = &m.handle_attrs;
        let vis = &m.vis;
        methods.push(quote! {
            #(#attrs)*
            #vis #sig {
                #body
            }
        });
    }
    // In a trait's impl, the methods kept local are stubbed too: the fallback cannot tell a
    // required one from one with a default, and the user's mistake is elsewhere.
    if service.trait_path.is_some() {
        for sig in &service.local_methods {
            let sig = ast::plain_arguments(sig);
            let Some(body) = stub_body(service, &sig) else {
                return TokenStream::new();
            };
            methods.push(quote! {
                #sig {
                    #body
                }
            });
        }
    }
    super::handle::methods_impl(service, quote!(#(#methods)*))
}

/// A body of type `sig`'s return type that never runs, when one can be written.
fn stub_body(service: &Service<'_>, sig: &syn::Signature) -> Option<TokenStream> {
    let p = private(service);
    Some(match &sig.output {
        _ if sig.asyncness.is_some() => quote!(loop {}),
        ReturnType::Default => quote!(loop {}),
        ReturnType::Type(_, ty) => match &**ty {
            Type::ImplTrait(_) => {
                if let Some((out, _)) = ast::impl_trait_assoc(ty, "Future", "Output") {
                    quote!(#p::stub_future::<#out>())
                } else if let Some((item, _)) = ast::impl_trait_assoc(ty, "Stream", "Item") {
                    quote!(#p::stub_stream::<#item>())
                } else {
                    return None;
                }
            }
            _ => quote!(loop {}),
        },
    })
}
