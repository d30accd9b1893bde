//! Every rule the methods of a `#[cluster_client]` item must follow, whatever its form (the
//! readers in `ast` check the shape of the trait or impl itself). Each check records its
//! errors in the [`Ctxt`], spanned at the user's token, and never stops the others.

use std::collections::HashMap;

use quote::ToTokens;
use syn::{FnArg, Pat, ReturnType, Type};

use crate::ast::{self, Method, Output, RESERVED, Service};
use crate::attr::{KINDS, Kind};
use crate::ctxt::Ctxt;

pub fn check(cx: &mut Ctxt, service: &Service<'_>) {
    check_something_delegated(cx, service);
    for method in &service.methods {
        check_method(cx, service, method);
    }
    check_unique_kinds(cx, service);
    check_wire_names(cx, service);
    check_unsubscribe_key(cx, service);
}

/// `a trait`, `an impl block`.
fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {noun}")
}

/// An item whose methods are all kept local shares nothing: the user forgot the attributes.
fn check_something_delegated(cx: &mut Ctxt, service: &Service<'_>) {
    if service.methods.is_empty() && !service.local_methods.is_empty() {
        cx.error_at(
            service.item_span,
            format!(
                "no method of this {} has a `#[delegate(..)]` attribute, so followers could call none; mark each method they may call, e.g. `#[delegate(invoke)]` (the kinds are {KINDS})",
                service.noun
            ),
        );
    }
}

fn check_method(cx: &mut Ctxt, service: &Service<'_>, method: &Method<'_>) {
    let sig = method.sig;
    let name = method.ident.to_string();
    let Some(delegate) = &method.delegate else {
        cx.error_spanned_by(
            method.ident,
            format!(
                "method `{name}` needs a `#[delegate(..)]` attribute, e.g. `#[delegate(invoke)]`; the kinds are {KINDS}"
            ),
        );
        check_signature(cx, method);
        return;
    };
    check_signature(cx, method);
    if service.methods_renamable
        && RESERVED.contains(&name.as_str())
        && !(name == "close" && method.kind() == Some(Kind::Close))
    {
        cx.error_spanned_by(
            method.ident,
            format!(
                "method name `{name}` collides with the generated `{}::{name}`; rename the method and set its wire name with `#[delegate(.., name = \"{name}\")]`",
                service.names.cluster
            ),
        );
    }
    if let Some(body) = method.ignored_body {
        cx.error_spanned_by(
            body,
            "delegated methods have no default body: the real client implements them",
        );
    }
    let Some((kind, kind_span)) = delegate.kind else {
        return;
    };
    check_rest(cx, method, kind);
    let kind_name = kind.as_str();
    let article = if kind_name.starts_with(['i', 'u']) {
        "an"
    } else {
        "a"
    };
    match kind {
        Kind::Invoke => {
            match &method.output {
                Output::Future { output, send } => {
                    if !send {
                        cx.error_spanned_by(
                            &sig.output,
                            "the future of an `invoke` method must be `Send`: write `-> impl Future<Output = ..> + Send` (or an `async fn`)",
                        );
                    }
                    if ast::result_types(output).is_none() {
                        let message = "an `invoke` method returns `Result<T, E>`, with `E: From<cluster_client::Error>` so that failures of the call itself reach the caller";
                        match &sig.output {
                            ReturnType::Type(_, ty) if method.is_async() => {
                                cx.error_spanned_by(ty, message)
                            }
                            ReturnType::Default => cx.error_spanned_by(sig, message),
                            _ => cx.error_spanned_by(output, message),
                        }
                    }
                }
                Output::Value => cx.error_spanned_by(
                    sig.fn_token,
                    "an `invoke` method is async: write `async fn` or return `impl Future<Output = Result<T, E>> + Send`",
                ),
            }
        }
        Kind::InvokeOneway | Kind::Publish | Kind::Unsubscribe => {
            if let Some(a) = &sig.asyncness {
                cx.error_spanned_by(
                    a,
                    format!("{article} `{kind_name}` method is not async: its caller does not wait for an answer"),
                );
            } else if let ReturnType::Type(_, ty) = &sig.output {
                if !ast::is_unit(ty) {
                    cx.error_spanned_by(
                        ty,
                        format!(
                            "{article} `{kind_name}` method returns nothing: its caller does not wait for an answer"
                        ),
                    );
                }
            }
            if kind != Kind::InvokeOneway {
                check_one_arg(cx, method, kind_name, "the key");
            }
        }
        Kind::Subscribe => {
            if let Some(a) = &sig.asyncness {
                cx.error_spanned_by(
                    a,
                    "a `subscribe` method is not async: it returns `impl Stream<Item = T> + Send + 'static` at once",
                );
            } else {
                let message = "a `subscribe` method returns `impl Stream<Item = T> + Send + 'static`";
                match &sig.output {
                    ReturnType::Default => cx.error_spanned_by(sig, message),
                    ReturnType::Type(_, ty) => match ast::impl_trait_assoc(ty, "Stream", "Item") {
                        None => cx.error_spanned_by(ty, message),
                        Some((_, send)) => {
                            let is_static = ast::has_bound(ty, ast::is_static_bound);
                            if !send || !is_static {
                                cx.error_spanned_by(
                                    ty,
                                    "the stream of a `subscribe` method must be `Send + 'static`: the leader runs it in a task of its own",
                                );
                            }
                        }
                    },
                }
            }
            check_one_arg(cx, method, kind_name, "the subscription key");
        }
        Kind::Close => {
            match &method.output {
                Output::Future { output, .. } if ast::is_unit(output) => {}
                Output::Future { .. } => cx.error_spanned_by(
                    &sig.output,
                    "a `close` method returns nothing: write `async fn close(&self);`",
                ),
                Output::Value => cx.error_spanned_by(
                    sig.fn_token,
                    "a `close` method is async: write `async fn close(&self);`",
                ),
            }
            if let Some(first) = method.args.first() {
                cx.error_spanned_by(
                    first.pat,
                    "a `close` method takes no arguments besides `&self`",
                );
            }
        }
    }
    let _ = kind_span;
}

fn check_one_arg(cx: &mut Ctxt, method: &Method<'_>, kind: &str, what: &str) {
    if method.args.len() != 1 {
        let sig = method.sig;
        let message = format!(
            "a `{kind}` method takes exactly one argument besides `&self`: {what} (found {})",
            method.args.len()
        );
        match method.args.get(1) {
            Some(extra) => cx.error_spanned_by(extra.pat, message),
            None => cx.error_at(sig.paren_token.span.join(), message),
        }
    }
}

/// Rules shared by every kind: `&self`, named owned arguments, no generics.
fn check_signature(cx: &mut Ctxt, method: &Method<'_>) {
    let sig = method.sig;
    let receiver_message = "expected a `&self` receiver: the handle is shared, and followers forward calls made through `&self`";
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) => {
            if r.reference.is_none() || r.mutability.is_some() || r.colon_token.is_some() {
                cx.error_spanned_by(r, receiver_message);
            }
        }
        _ => cx.error_at(sig.paren_token.span.join(), receiver_message),
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            "generic methods are not supported by #[cluster_client]: the leader must know each argument's concrete type",
        );
    } else if let Some(wc) = &sig.generics.where_clause {
        cx.error_spanned_by(wc, "delegated methods take no where clause");
    }
    if let Some(c) = &sig.constness {
        cx.error_spanned_by(c, "delegated methods cannot be `const`");
    }
    if let Some(u) = &sig.unsafety {
        cx.error_spanned_by(u, "delegated methods cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "delegated methods cannot be `extern`");
    }
    if let Some(v) = &sig.variadic {
        cx.error_spanned_by(v, "delegated methods cannot be variadic");
    }
    for arg in &method.args {
        match arg.pat {
            // `mut x` binds in the user's body; the handle takes a plain `x`.
            Pat::Ident(p)
                if p.by_ref.is_none()
                    && p.subpat.is_none()
                    && (p.mutability.is_none() || method.has_body) => {}
            Pat::Wild(_) => cx.error_spanned_by(
                arg.pat,
                "arguments need a name: it documents the call, and the handle forwards it by name",
            ),
            other => cx.error_spanned_by(
                other,
                "patterns are not allowed in delegated method arguments; name the argument (`arg: (u8, u8)`)",
            ),
        }
        check_arg_type(cx, arg.user_ty);
    }
}

/// `#[rest]` goes on the last argument of an invoke or oneway method, typed `Vec<T>`.
fn check_rest(cx: &mut Ctxt, method: &Method<'_>, kind: Kind) {
    let last = method.args.len().saturating_sub(1);
    for (i, arg) in method.args.iter().enumerate() {
        let Some(attr) = arg.rest else { continue };
        if !matches!(kind, Kind::Invoke | Kind::InvokeOneway) {
            cx.error_spanned_by(
                attr,
                format!(
                    "`#[rest]` goes on an argument of an `invoke` or `invoke_oneway` method, not of a `{}` method",
                    kind.as_str()
                ),
            );
        } else if i != last {
            cx.error_spanned_by(
                attr,
                "`#[rest]` goes on the last argument: it takes every argument the caller sends after the others",
            );
        } else if arg.vec_item().is_none() {
            cx.error_spanned_by(
                arg.user_ty,
                "a `#[rest]` argument is a `Vec<T>` (for example `Vec<JsValue>`): it holds every remaining argument",
            );
        }
    }
}

fn check_arg_type(cx: &mut Ctxt, ty: &Type) {
    match ty {
        Type::Reference(r) => {
            let elem = r.elem.to_token_stream().to_string();
            let owned = match elem.as_str() {
                "str" => "String".to_owned(),
                "[u8]" => "Vec<u8>".to_owned(),
                _ => elem.clone(),
            };
            cx.error_spanned_by(
                ty,
                format!(
                    "arguments must be owned (`{owned}`, not `&{elem}`): they are sent to the leader"
                ),
            );
        }
        Type::ImplTrait(_) => cx.error_spanned_by(
            ty,
            "`impl Trait` arguments are not supported: the leader must know the argument's concrete type",
        ),
        Type::Paren(p) => check_arg_type(cx, &p.elem),
        _ => {}
    }
}

/// At most one subscribe, unsubscribe, publish and close per item; unsubscribe needs a
/// subscribe.
fn check_unique_kinds(cx: &mut Ctxt, service: &Service<'_>) {
    for kind in [
        Kind::Subscribe,
        Kind::Unsubscribe,
        Kind::Publish,
        Kind::Close,
    ] {
        let mut of_kind = service.methods.iter().filter(|m| m.kind() == Some(kind));
        let Some(first) = of_kind.next() else {
            continue;
        };
        for again in of_kind {
            cx.error_at(
                again.kind_span(),
                format!(
                    "{} has at most one `{}` method; `{}` is one already",
                    with_article(service.noun),
                    kind.as_str(),
                    first.ident
                ),
            );
        }
    }
    if service.method_of_kind(Kind::Subscribe).is_none() {
        if let Some(unsub) = service.method_of_kind(Kind::Unsubscribe) {
            cx.error_at(
                unsub.kind_span(),
                format!(
                    "an `unsubscribe` method needs a `subscribe` method in the same {}",
                    service.noun
                ),
            );
        }
    }
}

fn check_wire_names(cx: &mut Ctxt, service: &Service<'_>) {
    let mut seen: HashMap<&str, &Method<'_>> = HashMap::new();
    for method in &service.methods {
        // Subscribe, unsubscribe and close never travel as invokes, so their names cannot clash.
        if !matches!(
            method.kind(),
            Some(Kind::Invoke | Kind::InvokeOneway | Kind::Publish)
        ) {
            continue;
        }
        match seen.get(method.wire_name.as_str()) {
            Some(first) => cx.error_at(
                method.wire_span,
                format!(
                    "duplicate wire name \"{}\": method `{}` uses it already",
                    method.wire_name, first.ident
                ),
            ),
            None => {
                seen.insert(&method.wire_name, method);
            }
        }
    }
}

fn check_unsubscribe_key(cx: &mut Ctxt, service: &Service<'_>) {
    let (Some(sub), Some(unsub)) = (
        service.method_of_kind(Kind::Subscribe),
        service.method_of_kind(Kind::Unsubscribe),
    ) else {
        return;
    };
    let (Some(sub_key), Some(unsub_key)) = (sub.args.first(), unsub.args.first()) else {
        return;
    };
    let want = sub_key.user_ty.to_token_stream().to_string();
    if unsub_key.user_ty.to_token_stream().to_string() != want {
        cx.error_spanned_by(
            unsub_key.user_ty,
            format!(
                "the key of an `unsubscribe` method has the `subscribe` method's key type `{}`",
                want.replace(' ', "")
            ),
        );
    }
}
