//! The role-agnostic handle, `{Name}Cluster`: carries the shared methods (as an impl of the
//! trait, or as inherent methods), routing each call to the local real client (leader) or over
//! the wire (follower), whichever holds now.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use super::assertions::method_checks;
use super::service::{private, stream_item};
use crate::ast::{Method, Service, respan};
use crate::attr::Kind;

pub fn expand(service: &Service<'_>) -> TokenStream {
    let methods = service.methods.iter().map(|m| {
        let sig = &m.handle_sig;
        let vis = &m.vis;
        let attrs = &m.handle_attrs;
        let body = method_body(service, m);
        let span = m.ident.span();
        quote_spanned! {span=>
            #(#attrs)*
            #vis #sig {
                #body
            }
        }
    });
    let common = common_items(service);
    let methods_impl = methods_impl(service, quote!(#(#methods)*));
    quote! {
        #common

        #methods_impl
    }
}

/// The block that holds the shared methods: `impl Trait for {Name}Cluster { .. }` (with the
/// trait's associated items the user's impl defines), or `impl {Name}Cluster { .. }`.
pub fn methods_impl(service: &Service<'_>, methods: TokenStream) -> TokenStream {
    let (impl_generics, ty_generics, where_clause) = service.generics.split_for_impl();
    let items = &service.handle_items;
    let cluster = &service.names.cluster;
    let trait_for = service.trait_path.as_ref().map(|t| quote!(#t for));
    let mut body = Group::new(
        Delimiter::Brace,
        quote! {
            #(#items)*
            #methods
        },
    );
    // Rustc reports a missing trait item at the impl's header, from its first to its last
    // token: put those at the methods the user kept local.
    let (impl_token, name) = match service.handle_impl_span {
        Some((first, last)) => {
            body.set_span(last);
            (quote_spanned!(first=> impl), respan(quote!(#cluster), last))
        }
        None => (quote!(impl), quote!(#cluster)),
    };
    quote! {
        #impl_token #impl_generics #trait_for #name #ty_generics #where_clause #body
    }
}

/// How the handle counts and writes a call's arguments, one by one (a `#[rest]` argument as
/// one wire argument per element): two non-capturing closures over the argument tuple.
fn argument_writers(service: &Service<'_>, m: &Method<'_>) -> (TokenStream, TokenStream) {
    let span = m.ident.span();
    let p = respan(private(service), span);
    if m.args.is_empty() {
        return (
            quote_spanned!(span=> |_: &()| 0u32),
            quote_spanned!(span=> |_: &(), _: &mut #p::ArgEncoder<'_, '_>| #p::Result::Ok(())),
        );
    }
    let all = Ident::new("__all", Span::mixed_site());
    let w = Ident::new("__w", Span::mixed_site());
    let fixed = proc_macro2::Literal::u32_suffixed(
        m.args.iter().filter(|a| a.rest.is_none()).count() as u32,
    );
    let rest = m
        .args
        .iter()
        .position(|a| a.rest.is_some())
        .map(syn::Index::from);
    let arity = match rest {
        Some(i) => quote_spanned!(span=> |#all: &_| #p::rest_arity(#fixed, &#all.#i)),
        None => quote_spanned!(span=> |_: &_| #fixed),
    };
    // Spanned at each argument's type: a type that does not serialize is named there.
    let writes = m.args.iter().enumerate().map(|(i, a)| {
        let at = syn::spanned::Spanned::span(a.user_ty);
        let i = syn::Index {
            index: i as u32,
            span: at,
        };
        match a.rest {
            Some(_) => {
                let item = a
                    .vec_item()
                    .map(|t| quote!(#t))
                    .unwrap_or_else(|| quote!(_));
                quote_spanned!(at=> #w.rest::<#item>(&#all.#i)?;)
            }
            None => {
                let ty = &a.ty;
                quote_spanned!(at=> #w.arg::<#ty>(&#all.#i)?;)
            }
        }
    });
    let write = quote_spanned! {span=>
        |#all: &_, #w: &mut #p::ArgEncoder<'_, '_>| -> #p::Result<(), #p::CodecError> {
            #(#writes)*
            #p::Result::Ok(())
        }
    };
    (arity, write)
}

fn method_body(service: &Service<'_>, m: &Method<'_>) -> TokenStream {
    // Spanned at the method (see `service::invoke_arm`).
    let span = m.ident.span();
    let p = respan(private(service), span);
    let path = service.client_path(span);
    let real = &service.client;
    let method = m.ident;
    let wire = &m.wire_name;
    let client = Ident::new("client", Span::mixed_site());
    let args: Vec<_> = m.args.iter().map(|a| &a.ident).collect();
    let tys: Vec<_> = m.args.iter().map(|a| &a.ty).collect();
    let first = args.first();
    // An `async fn` of the handle awaits the runtime's future; a method returning
    // `impl Future` returns it.
    let awaited = m
        .handle_sig
        .asyncness
        .map(|_| quote_spanned!(span=> .await));
    let (arity, write) = argument_writers(service, m);
    let checks = method_checks(service, m);
    let call = match m.kind() {
        Some(Kind::Invoke) => {
            let (ok, err) = m
                .future_output()
                .and_then(crate::ast::result_types)
                .map(|(t, e)| (quote!(#t), quote!(#e)))
                .unwrap_or_else(|| (quote!(_), quote!(_)));
            quote_spanned! {span=>
                #p::invoke(
                    #p::Clone::clone(&self.handle),
                    #wire,
                    (#(#args,)*),
                    #arity,
                    #write,
                    #p::invoke_types::<#ok, #err>(),
                    |#client: #p::Arc<#real>, (#(#args,)*)| async move {
                        #path::#method(&*#client, #(#args),*).await
                    },
                )
                #awaited
            }
        }
        Some(Kind::InvokeOneway) => quote_spanned! {span=>
            #p::invoke_oneway(&self.handle, #wire, (#(#args,)*), #arity, #write)
        },
        Some(Kind::Publish) => {
            let ty = tys[0];
            quote_spanned! {span=>
                #p::publish::<_, #ty>(&self.handle, &#first)
            }
        }
        Some(Kind::Subscribe) => {
            let key = tys[0];
            let item = stream_item(m);
            quote_spanned! {span=>
                #p::subscribe::<_, #key, #item>(&self.handle, &#first)
            }
        }
        Some(Kind::Unsubscribe) => {
            let key = tys[0];
            quote_spanned! {span=>
                #p::unsubscribe::<_, #key>(&self.handle, &#first)
            }
        }
        Some(Kind::Close) => quote_spanned! {span=>
            #p::close(#p::Clone::clone(&self.handle)) #awaited
        },
        None => quote!(loop {}),
    };
    quote! {
        #checks
        #call
    }
}

/// The handle's struct, builder alias and inherent methods (shared with the fallback).
pub fn common_items(service: &Service<'_>) -> TokenStream {
    let p = private(service);
    let vis = &service.vis;
    let (impl_generics, ty_generics, where_clause) = service.generics.split_for_impl();
    let name = &service.names.cluster;
    let name_str = name.to_string();
    let service_name = &service.names.service;
    let builder = &service.names.builder;
    let channel = &service.channel;
    let subject = &service.docs.subject;
    let methods = &service.docs.methods;
    let doc = format!(
        "A shared {subject} (channel `\"{channel}\"`): {methods} for every \
         process of the host, leader or follower, and keeps working when the role changes.\n\n\
         Create one with [`{name}::builder`]. Generated by `#[cluster_client]`."
    );
    let builder_doc = format!(
        "Configures and creates a [`{name}`]: `.port(..)`, timeouts, a fixed role, the codec, \
         single mode, then `.create(factory).await`. Generated by `#[cluster_client]`."
    );
    // An inherent impl may share its own `close`: the handle's method is then that one.
    let close = (service.trait_path.is_some()
        || !service.methods.iter().any(|m| m.ident == "close"))
    .then(|| {
        quote! {
            /// Closes the handle (and, on the leader, the real client); clones share it.
            #vis async fn close(&self) {
                self.handle.close().await
            }
        }
    });
    quote! {
        #[doc = #doc]
        #vis struct #name #ty_generics #where_clause {
            handle: #p::Handle<#service_name #ty_generics>,
        }

        #[doc = #builder_doc]
        #vis type #builder #ty_generics = #p::Builder<#service_name #ty_generics, #name #ty_generics>;

        impl #impl_generics #p::Clone for #name #ty_generics #where_clause {
            fn clone(&self) -> Self {
                Self {
                    handle: #p::Clone::clone(&self.handle),
                }
            }
        }

        impl #impl_generics #p::fmt::Debug for #name #ty_generics #where_clause {
            fn fmt(&self, f: &mut #p::fmt::Formatter<'_>) -> #p::fmt::Result {
                f.debug_tuple(#name_str).field(&self.handle).finish()
            }
        }

        impl #impl_generics #name #ty_generics #where_clause {
            /// A builder with Node's defaults (port 7777, response timeout 3 s, ...); its
            /// `create(factory)` elects, then leads or follows.
            #vis fn builder() -> #builder #ty_generics {
                #p::Builder::wrapping(#service_name::new(), Self::from_handle)
            }

            /// Wraps a runtime handle of its dispatch table.
            #vis fn from_handle(handle: #p::Handle<#service_name #ty_generics>) -> Self {
                Self { handle }
            }

            /// The runtime handle (channel, port, elections, raw calls).
            #vis fn handle(&self) -> &#p::Handle<#service_name #ty_generics> {
                &self.handle
            }

            /// A view of this handle whose calls have `timeout` as their one deadline instead
            /// of the response timeout; the same handle otherwise.
            #vis fn with_timeout(&self, timeout: #p::Duration) -> Self {
                Self { handle: self.handle.with_timeout(timeout) }
            }

            /// What this handle is doing right now (role, leader, followers, keys, calls).
            #vis fn status(&self) -> #p::Status {
                self.handle.status()
            }

            /// What the channel's leader serves; `None` from a leader that does not say (a
            /// Node leader).
            #vis async fn channel_status(&self) -> #p::Result<#p::Option<#p::ChannelStatus>, #p::Error> {
                self.handle.channel_status().await
            }

            /// Whether this process leads the channel right now.
            #vis fn is_leader(&self) -> bool {
                self.handle.is_leader()
            }

            /// Waits until this process leads or follows a ready leader.
            #vis async fn ready(&self) -> #p::Result<(), #p::Error> {
                self.handle.ready().await
            }

            #close
        }
    }
}
