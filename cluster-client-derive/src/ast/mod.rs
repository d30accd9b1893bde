//! The model of one `#[cluster_client]` item: what is shared, under which names, and how the
//! generated code reaches the real client.
//!
//! Three forms are read into this one model: a trait (`from_trait`), an `impl Trait for Type`
//! block and an inherent `impl Type` block (both `from_impl`). Validation and every renderer
//! read only the model, so the forms differ in how they are read, never in how code is
//! rendered. Reading is lenient: every method is kept (even a malformed one), so validation can
//! report all problems and the fallback can still emit well-typed stubs.

mod from_impl;
mod from_trait;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{
    Attribute, Block, GenericArgument, Generics, Ident, Pat, Path, PathArguments, ReturnType,
    Signature, Type, TypeParamBound, Visibility,
};

pub use from_impl::read as from_impl;
pub use from_trait::read as from_trait;

use crate::attr::{Args, Delegate, Kind};
use crate::ctxt::Ctxt;

/// One annotated item, whatever its form.
pub struct Service<'a> {
    pub args: Args,
    /// The methods the handle carries, in the user's order.
    pub methods: Vec<Method<'a>>,
    /// Methods of an impl block without `#[delegate]`: the real client keeps them, the handle
    /// does not have them (a trait's default body serves the handle instead).
    pub local_methods: Vec<&'a Signature>,
    /// The channel name.
    pub channel: String,
    pub names: Names,
    /// The visibility of the generated items.
    pub vis: Visibility,
    /// The generic parameters of the generated items (`<C> where C: Trait + ..` when the real
    /// client is any implementation of a trait; none when it is a known type).
    pub generics: Generics,
    /// The real client's type as generated code names it (`C`, or the impl's type).
    pub client: Type,
    /// The trait the handle implements and the real client is called through; `None` for an
    /// inherent impl (the handle then has inherent methods).
    pub trait_path: Option<Path>,
    /// Items the handle's trait impl repeats from the user's impl (associated types, consts).
    pub handle_items: Vec<TokenStream>,
    /// Where rustc should point when the handle's trait impl lacks an item: from the first to
    /// the last method the user's impl keeps local (a required one must be delegated).
    pub handle_impl_span: Option<(Span, Span)>,
    /// Whether the user names the methods (a trait or an inherent impl) and so can rename one
    /// that collides with the handle's own methods; an impl of a trait cannot.
    pub methods_renamable: bool,
    /// What the user annotated, for messages: "trait" or "impl block".
    pub noun: &'static str,
    /// Where errors about the item as a whole point.
    pub item_span: Span,
    pub docs: Docs,
    /// The user's item as it is emitted again (the trait rewritten, or the impl without its
    /// `#[delegate]` attributes).
    pub item: TokenStream,
    /// The same for the fallback: patterns rustc rejects without a body are made `_`.
    pub fallback_item: TokenStream,
    /// Whether the generated items can exist at all (the fallback emits stubs only then).
    pub shape_ok: bool,
}

/// The names of the generated items.
pub struct Names {
    /// Leader-side dispatch: `{Name}Service`.
    pub service: Ident,
    /// The handle: `{Name}Cluster`.
    pub cluster: Ident,
    /// The builder alias: `{Name}Builder`.
    pub builder: Ident,
}

impl Names {
    /// `{prefix}{base}Service` and so on, spanned at the user's name.
    fn new(prefix: Option<&str>, base: &Ident) -> Names {
        let base_name = format!("{}{}", prefix.unwrap_or(""), base.unraw());
        let span = base.span();
        Names {
            service: format_ident!("{}Service", base_name, span = span),
            cluster: format_ident!("{}Cluster", base_name, span = span),
            builder: format_ident!("{}Builder", base_name, span = span),
        }
    }
}

/// Inherent methods of the generated handle; a trait method of the same name would be
/// shadowed by them, and an inherent one would clash.
pub const RESERVED: &[&str] = &[
    "builder",
    "from_handle",
    "handle",
    "is_leader",
    "ready",
    "close",
    "with_timeout",
    "status",
    "channel_status",
];

/// Markdown the generated docs use.
pub struct Docs {
    /// What the handle shares: "[`Registry`]".
    pub subject: String,
    /// The real client: "`C`" or "[`MyRegistry`]".
    pub client: String,
    /// How the handle carries the methods: "implements the trait".
    pub methods: String,
}

/// One method the handle carries.
pub struct Method<'a> {
    pub ident: &'a Ident,
    /// The signature as the user wrote it.
    pub sig: &'a Signature,
    /// The signature the handle declares (a trait's `async fn` rewritten; arguments are plain
    /// names).
    pub handle_sig: Signature,
    /// The visibility of the handle's method.
    pub vis: Visibility,
    /// Attributes repeated on the handle's method (`#[cfg]`, and docs where the handle's
    /// method is an item of its own).
    pub handle_attrs: Vec<&'a Attribute>,
    /// A body the macro would have to ignore (a trait's default body of a delegated method).
    pub ignored_body: Option<&'a Block>,
    /// Whether the user's method has a body of its own (so `mut` bindings mean something).
    pub has_body: bool,
    pub delegate: Option<Delegate>,
    /// The wire name and where it came from (the `name = ".."` literal, or the method name).
    pub wire_name: String,
    pub wire_span: Span,
    pub args: Vec<Arg<'a>>,
    pub output: Output,
    /// The item type of a returned `impl Stream<Item = T>`, `Self` resolved.
    pub stream_item: Option<Type>,
    /// `#[cfg(..)]` attributes, repeated on everything generated for the method.
    pub cfgs: Vec<&'a Attribute>,
}

/// One argument after the receiver.
pub struct Arg<'a> {
    /// The argument's name (a made-up one when the user wrote a pattern).
    pub ident: Ident,
    pub pat: &'a Pat,
    /// The type as the user wrote it (errors point here).
    pub user_ty: &'a Type,
    /// The type as generated code outside the user's item names it (`Self` resolved).
    pub ty: Type,
    /// `#[rest]`: the argument takes every remaining argument of the call (JavaScript's
    /// `...args`). Its type must be `Vec<T>`.
    pub rest: Option<&'a Attribute>,
}

impl Arg<'_> {
    /// For a `Vec<T>` argument, `T`.
    pub fn vec_item(&self) -> Option<&Type> {
        vec_item(&self.ty)
    }
}

/// For `Vec<T>` (a path ending in `Vec` with one type argument), `T`.
pub fn vec_item(ty: &Type) -> Option<&Type> {
    let Type::Path(tp) = strip_parens(ty) else {
        return None;
    };
    let last = tp.path.segments.last()?;
    if last.ident != "Vec" || tp.qself.is_some() {
        return None;
    }
    let PathArguments::AngleBracketed(ab) = &last.arguments else {
        return None;
    };
    let mut types = ab.args.iter().filter_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    });
    let item = types.next()?;
    types.next().is_none().then_some(item)
}

/// Whether an attribute is the `#[rest]` marker of an argument.
pub fn is_rest(attr: &Attribute) -> bool {
    attr.path().is_ident("rest")
}

/// Removes the `#[rest]` markers from the arguments of `sig` (they are the macro's, not
/// rustc's).
pub fn strip_rest(sig: &mut Signature) {
    for input in &mut sig.inputs {
        if let syn::FnArg::Typed(pt) = input {
            pt.attrs.retain(|a| !is_rest(a));
        }
    }
}

/// What a method gives back.
pub enum Output {
    /// `async fn` or `-> impl Future<Output = X>`: `X` (unit when absent, `Self` resolved),
    /// and whether the future is declared `Send` (an `async fn` is: a trait's is rewritten to
    /// be, and an impl's future is known to the compiler).
    Future { output: Box<Type>, send: bool },
    /// Anything else.
    Value,
}

impl Method<'_> {
    pub fn kind(&self) -> Option<Kind> {
        self.delegate.as_ref().and_then(|d| d.kind).map(|(k, _)| k)
    }

    pub fn kind_span(&self) -> Span {
        self.delegate
            .as_ref()
            .and_then(|d| d.kind)
            .map(|(_, s)| s)
            .unwrap_or_else(|| self.ident.span())
    }

    pub fn is_async(&self) -> bool {
        self.sig.asyncness.is_some()
    }

    /// The `X` of the returned future, if the method returns one.
    pub fn future_output(&self) -> Option<&Type> {
        match &self.output {
            Output::Future { output, .. } => Some(output.as_ref()),
            Output::Value => None,
        }
    }
}

impl<'a> Service<'a> {
    pub fn method_of_kind(&self, kind: Kind) -> Option<&Method<'a>> {
        self.methods.iter().find(|m| m.kind() == Some(kind))
    }

    /// The qualified path generated code calls the real client's methods through:
    /// `<C as Registry>`, `<MyRegistry as sdk::Registry>` or `<Inventory>`, spanned at `span`
    /// (the method's name, so type errors in the call name the user's method).
    pub fn client_path(&self, span: Span) -> TokenStream {
        client_path(&self.client, self.trait_path.as_ref(), span)
    }
}

fn krate(args: &Args) -> TokenStream {
    match &args.krate {
        Some(path) => quote!(#path),
        None => quote!(::cluster_client),
    }
}

fn client_path(client: &Type, trait_path: Option<&Path>, span: Span) -> TokenStream {
    match trait_path {
        Some(t) => quote_spanned!(span=> <#client as #t>),
        None => quote_spanned!(span=> <#client>),
    }
}

/// How the readers build a method: everything that does not depend on the form.
pub(crate) struct MethodInput<'a> {
    pub attrs: &'a [Attribute],
    pub sig: &'a Signature,
    pub vis: Visibility,
    pub has_body: bool,
}

/// Resolves `Self` in the types generated code repeats outside the user's item.
#[derive(Clone, Copy)]
pub(crate) struct SelfResolver<'r> {
    pub client: &'r Type,
    pub trait_path: Option<&'r Path>,
}

impl SelfResolver<'_> {
    pub fn resolve(&self, ty: &Type) -> Type {
        let mut ty = ty.clone();
        let mut resolver = *self;
        resolver.visit_type_mut(&mut ty);
        ty
    }
}

impl VisitMut for SelfResolver<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(tp) = ty {
            let first = tp.path.segments.first();
            let is_self = tp.qself.is_none()
                && tp.path.leading_colon.is_none()
                && first.is_some_and(|s| s.ident == "Self" && s.arguments.is_none());
            if is_self {
                let span = tp.path.segments[0].ident.span();
                let rest: Vec<_> = tp.path.segments.iter().skip(1).collect();
                let client = &self.client;
                *ty = if rest.is_empty() {
                    syn::parse_quote_spanned!(span=> #client)
                } else {
                    let base = client_path(self.client, self.trait_path, span);
                    syn::parse_quote_spanned!(span=> #base::#(#rest)::*)
                };
            }
        }
        visit_mut::visit_type_mut(self, ty);
    }
}

impl<'a> Method<'a> {
    /// Reads one method; the readers then set what depends on the form.
    pub(crate) fn read(
        cx: &mut Ctxt,
        input: MethodInput<'a>,
        args: &Args,
        resolver: &SelfResolver<'_>,
    ) -> Method<'a> {
        let MethodInput {
            attrs,
            sig,
            vis,
            has_body,
        } = input;
        let delegate = Delegate::from_attrs(cx, attrs);
        let ident = &sig.ident;
        let rust_name = ident.unraw().to_string();
        let (wire_name, wire_span) = match delegate.as_ref().and_then(|d| d.name.as_ref()) {
            Some(lit) => (lit.value(), lit.span()),
            None => (
                match args.rename_all {
                    Some(rule) => rule.apply(&rust_name),
                    None => rust_name,
                },
                ident.span(),
            ),
        };
        let method_args: Vec<Arg<'a>> = sig
            .inputs
            .iter()
            .filter_map(|input| match input {
                syn::FnArg::Typed(pt) => Some(pt),
                syn::FnArg::Receiver(_) => None,
            })
            .enumerate()
            .map(|(i, pt)| Arg {
                ident: match &*pt.pat {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
                    _ => format_ident!("__arg{}", i, span = pt.pat.span()),
                },
                pat: &pt.pat,
                user_ty: &pt.ty,
                ty: resolver.resolve(&pt.ty),
                rest: read_rest(cx, &pt.attrs),
            })
            .collect();
        let cfgs: Vec<&Attribute> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
        let stream_item = match &sig.output {
            ReturnType::Type(_, ty) => {
                impl_trait_assoc(ty, "Stream", "Item").map(|(item, _)| resolver.resolve(item))
            }
            ReturnType::Default => None,
        };
        Method {
            ident,
            sig,
            handle_sig: plain_arguments(sig),
            vis,
            handle_attrs: cfgs.clone(),
            ignored_body: None,
            has_body,
            delegate,
            wire_name,
            wire_span,
            args: method_args,
            output: output_of(sig, resolver),
            stream_item,
            cfgs,
        }
    }
}

/// The `#[rest]` marker among an argument's attributes; `#[rest(..)]` and `#[rest = ..]` are
/// errors.
fn read_rest<'a>(cx: &mut Ctxt, attrs: &'a [Attribute]) -> Option<&'a Attribute> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| is_rest(a)) {
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            cx.error_spanned_by(attr, "`#[rest]` takes no arguments");
        }
        if found.is_some() {
            cx.error_spanned_by(attr, "duplicate `#[rest]`");
        }
        found = Some(attr);
    }
    found
}

/// `sig` with every argument a plain name (`mut x` becomes `x`, a pattern `_`), as the
/// handle's method takes it: the handle forwards its arguments and binds nothing.
pub(crate) fn plain_arguments(sig: &Signature) -> Signature {
    let mut sig = sig.clone();
    for input in &mut sig.inputs {
        if let syn::FnArg::Typed(pt) = input {
            pt.attrs.clear();
            *pt.pat = match &*pt.pat {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                    let mut p = p.clone();
                    p.mutability = None;
                    Pat::Ident(p)
                }
                _ => syn::parse_quote!(_),
            };
        }
    }
    sig
}

fn unit() -> Type {
    syn::parse_quote!(())
}

fn output_of(sig: &Signature, resolver: &SelfResolver<'_>) -> Output {
    let ty = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(&**ty),
    };
    if sig.asyncness.is_some() {
        return Output::Future {
            output: Box::new(ty.map(|t| resolver.resolve(t)).unwrap_or_else(unit)),
            send: true,
        };
    }
    if let Some(ty) = ty {
        if let Some((output, send)) = impl_trait_assoc(ty, "Future", "Output") {
            return Output::Future {
                output: Box::new(resolver.resolve(output)),
                send,
            };
        }
    }
    Output::Value
}

/// For `impl Trait<Assoc = X> + ..`, returns `X` and whether the bounds include `Send`.
pub fn impl_trait_assoc<'t>(
    ty: &'t Type,
    trait_name: &str,
    assoc: &str,
) -> Option<(&'t Type, bool)> {
    let Type::ImplTrait(it) = strip_parens(ty) else {
        return None;
    };
    let mut found = None;
    for bound in &it.bounds {
        let TypeParamBound::Trait(tb) = bound else {
            continue;
        };
        let Some(last) = tb.path.segments.last() else {
            continue;
        };
        if last.ident != trait_name {
            continue;
        }
        if let PathArguments::AngleBracketed(ab) = &last.arguments {
            for arg in &ab.args {
                if let GenericArgument::AssocType(at) = arg {
                    if at.ident == assoc {
                        found = Some(&at.ty);
                    }
                }
            }
        }
    }
    found.map(|t| (t, has_bound(ty, |b| trait_bound_named(b, "Send"))))
}

/// Whether `impl ..` lists a bound matching `pred`.
pub fn has_bound(ty: &Type, pred: impl Fn(&TypeParamBound) -> bool) -> bool {
    match strip_parens(ty) {
        Type::ImplTrait(it) => it.bounds.iter().any(pred),
        _ => false,
    }
}

pub fn trait_bound_named(bound: &TypeParamBound, name: &str) -> bool {
    matches!(bound, TypeParamBound::Trait(tb) if tb.path.segments.last().is_some_and(|s| s.ident == name))
}

pub fn is_static_bound(bound: &TypeParamBound) -> bool {
    matches!(bound, TypeParamBound::Lifetime(l) if l.ident == "static")
}

fn strip_parens(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => strip_parens(&p.elem),
        Type::Group(g) => strip_parens(&g.elem),
        other => other,
    }
}

/// For `Result<T, E>` (any path ending in `Result` with two type arguments), `(T, E)`.
pub fn result_types(ty: &Type) -> Option<(&Type, &Type)> {
    let Type::Path(tp) = strip_parens(ty) else {
        return None;
    };
    if tp.qself.is_some() {
        return None;
    }
    let last = tp.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(ab) = &last.arguments else {
        return None;
    };
    let mut types = ab.args.iter().filter_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    });
    let (ok, err) = (types.next()?, types.next()?);
    types.next().is_none().then_some((ok, err))
}

/// Whether `ty` is `()`.
pub fn is_unit(ty: &Type) -> bool {
    matches!(strip_parens(ty), Type::Tuple(t) if t.elems.is_empty())
}

/// `tokens` with every token at `span` (for paths generated next to a user's item).
pub fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            tt.set_span(span);
            tt
        })
        .collect()
}

/// `<crate>::__private`.
pub fn private(args: &Args) -> TokenStream {
    let krate = krate(args);
    quote!(#krate::__private)
}

#[cfg(test)]
mod tests {
    use quote::ToTokens;

    use super::SelfResolver;

    fn resolved(client: &str, trait_path: Option<&str>, ty: &str) -> String {
        let client: syn::Type = syn::parse_str(client).unwrap();
        let trait_path: Option<syn::Path> = trait_path.map(|t| syn::parse_str(t).unwrap());
        let resolver = SelfResolver {
            client: &client,
            trait_path: trait_path.as_ref(),
        };
        let ty: syn::Type = syn::parse_str(ty).unwrap();
        resolver
            .resolve(&ty)
            .to_token_stream()
            .to_string()
            .replace(' ', "")
    }

    #[test]
    fn self_becomes_the_real_client_and_its_associated_types_go_through_the_trait() {
        let registry = |ty| resolved("MyRegistry", Some("sdk::Registry"), ty);
        assert_eq!(registry("Self"), "MyRegistry");
        assert_eq!(
            registry("Self::Error"),
            "<MyRegistryassdk::Registry>::Error"
        );
        assert_eq!(
            registry("Result<Vec<Self>, Self::Error>"),
            "Result<Vec<MyRegistry>,<MyRegistryassdk::Registry>::Error>"
        );
        assert_eq!(registry("String"), "String");
        assert_eq!(
            resolved("Inventory", None, "Option<Self>"),
            "Option<Inventory>"
        );
        assert_eq!(
            resolved("C", Some("Registry"), "Self::Key"),
            "<CasRegistry>::Key"
        );
    }
}
