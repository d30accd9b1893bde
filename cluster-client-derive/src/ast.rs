//! The model of one `#[cluster_client]` trait, built leniently from syn's tree: every method is
//! kept (even a malformed one), so validation can report all problems and the fallback can
//! still emit well-typed stubs.

use proc_macro2::Span;
use quote::format_ident;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, GenericArgument, Ident, ItemTrait, Pat, PathArguments, ReturnType, TraitItem,
    TraitItemFn, Type, TypeParamBound,
};

use crate::attr::{Delegate, Kind, TraitArgs};
use crate::ctxt::Ctxt;

/// One annotated trait.
pub struct Service<'a> {
    pub item: &'a ItemTrait,
    pub args: TraitArgs,
    pub methods: Vec<Method<'a>>,
    /// The channel name.
    pub channel: String,
    pub names: Names,
}

/// The names of the generated items.
pub struct Names {
    /// Leader-side dispatch: `{Trait}Service<C>`.
    pub service: Ident,
    /// The handle: `{Trait}Cluster<C>`.
    pub cluster: Ident,
    /// The builder alias: `{Trait}Builder<C>`.
    pub builder: Ident,
}

/// One method of the trait.
pub struct Method<'a> {
    pub func: &'a TraitItemFn,
    pub ident: &'a Ident,
    pub delegate: Option<Delegate>,
    /// The wire name and where it came from (the `name = ".."` literal, or the method name).
    pub wire_name: String,
    pub wire_span: Span,
    pub args: Vec<Arg<'a>>,
    pub output: Output,
    /// `#[cfg(..)]` attributes, repeated on everything generated for the method.
    pub cfgs: Vec<&'a Attribute>,
}

/// One argument after the receiver.
pub struct Arg<'a> {
    /// The argument's name (a made-up one when the user wrote a pattern).
    pub ident: Ident,
    pub pat: &'a Pat,
    pub ty: &'a Type,
}

/// What a method gives back.
pub enum Output {
    /// `async fn` or `-> impl Future<Output = X>`: `X` (unit when absent), and whether the
    /// future is declared `Send` (an `async fn` becomes `Send` when the trait is rewritten).
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
        self.func.sig.asyncness.is_some()
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
    pub fn from_syn(cx: &mut Ctxt, item: &'a ItemTrait, args: TraitArgs) -> Service<'a> {
        let trait_name = item.ident.unraw().to_string();
        let channel = args
            .name
            .as_ref()
            .map(|n| n.value())
            .unwrap_or_else(|| trait_name.clone());
        let names = Names {
            service: format_ident!("{}Service", trait_name, span = item.ident.span()),
            cluster: format_ident!("{}Cluster", trait_name, span = item.ident.span()),
            builder: format_ident!("{}Builder", trait_name, span = item.ident.span()),
        };
        let methods = item
            .items
            .iter()
            .filter_map(|i| match i {
                TraitItem::Fn(f) => Some(Method::from_syn(cx, f, &args)),
                _ => None,
            })
            .collect();
        Service {
            item,
            args,
            methods,
            channel,
            names,
        }
    }

    /// The path of the runtime crate.
    pub fn krate(&self) -> proc_macro2::TokenStream {
        match &self.args.krate {
            Some(path) => quote::quote!(#path),
            None => quote::quote!(::cluster_client),
        }
    }

    pub fn method_of_kind(&self, kind: Kind) -> Option<&Method<'a>> {
        self.methods.iter().find(|m| m.kind() == Some(kind))
    }
}

impl<'a> Method<'a> {
    fn from_syn(cx: &mut Ctxt, func: &'a TraitItemFn, trait_args: &TraitArgs) -> Method<'a> {
        let delegate = Delegate::from_attrs(cx, &func.attrs);
        let ident = &func.sig.ident;
        let rust_name = ident.unraw().to_string();
        let (wire_name, wire_span) = match delegate.as_ref().and_then(|d| d.name.as_ref()) {
            Some(lit) => (lit.value(), lit.span()),
            None => (
                match trait_args.rename_all {
                    Some(rule) => rule.apply(&rust_name),
                    None => rust_name,
                },
                ident.span(),
            ),
        };
        let args = func
            .sig
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
                ty: &pt.ty,
            })
            .collect();
        Method {
            func,
            ident,
            delegate,
            wire_name,
            wire_span,
            args,
            output: output_of(func),
            cfgs: func
                .attrs
                .iter()
                .filter(|a| a.path().is_ident("cfg"))
                .collect(),
        }
    }
}

fn unit() -> Type {
    syn::parse_quote!(())
}

fn output_of(func: &TraitItemFn) -> Output {
    let ty = match &func.sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(&**ty),
    };
    if func.sig.asyncness.is_some() {
        return Output::Future {
            output: Box::new(ty.cloned().unwrap_or_else(unit)),
            send: true,
        };
    }
    if let Some(ty) = ty {
        if let Some((output, send)) = impl_trait_assoc(ty, "Future", "Output") {
            return Output::Future {
                output: Box::new(output.clone()),
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
