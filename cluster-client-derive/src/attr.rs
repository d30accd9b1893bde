//! Parsing of `#[cluster_client(..)]` and `#[delegate(..)]`. Unknown or duplicate keys are
//! errors that list what is accepted; parsing goes on after an error so that every mistake is
//! reported at once.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr, Path, Visibility};

use crate::ctxt::Ctxt;

/// The keys of `#[cluster_client(..)]`, in the order error messages list them.
const ITEM_KEYS: &str = "`name`, `rename_all`, `crate`, `prefix`, `vis`";

/// The delegate kinds, in the order error messages list them.
pub const KINDS: &str = "`invoke`, `invoke_oneway`, `subscribe`, `unsubscribe`, `publish`, `close`";

/// What a method delegates to on the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invoke,
    InvokeOneway,
    Subscribe,
    Unsubscribe,
    Publish,
    Close,
}

impl Kind {
    fn from_ident(name: &str) -> Option<Kind> {
        Some(match name {
            "invoke" => Kind::Invoke,
            "invoke_oneway" => Kind::InvokeOneway,
            "subscribe" => Kind::Subscribe,
            "unsubscribe" => Kind::Unsubscribe,
            "publish" => Kind::Publish,
            "close" => Kind::Close,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invoke => "invoke",
            Kind::InvokeOneway => "invoke_oneway",
            Kind::Subscribe => "subscribe",
            Kind::Unsubscribe => "unsubscribe",
            Kind::Publish => "publish",
            Kind::Close => "close",
        }
    }
}

/// How method names become wire names when no `name = ".."` is given.
// The variants are named after serde's rule names, which all end in "case".
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameAll {
    CamelCase,
    PascalCase,
    SnakeCase,
    ScreamingSnakeCase,
    KebabCase,
}

const RENAME_RULES: &str =
    "\"camelCase\", \"PascalCase\", \"snake_case\", \"SCREAMING_SNAKE_CASE\", \"kebab-case\"";

impl RenameAll {
    fn from_str(s: &str) -> Option<Self> {
        Some(match s {
            "camelCase" => RenameAll::CamelCase,
            "PascalCase" => RenameAll::PascalCase,
            "snake_case" => RenameAll::SnakeCase,
            "SCREAMING_SNAKE_CASE" => RenameAll::ScreamingSnakeCase,
            "kebab-case" => RenameAll::KebabCase,
            _ => return None,
        })
    }

    /// Applies the rule to a snake_case Rust method name.
    pub fn apply(self, name: &str) -> String {
        let words = name.split('_').filter(|w| !w.is_empty());
        match self {
            RenameAll::SnakeCase => name.to_owned(),
            RenameAll::ScreamingSnakeCase => name.to_uppercase(),
            RenameAll::KebabCase => name.replace('_', "-"),
            RenameAll::PascalCase => words.map(capitalize).collect(),
            RenameAll::CamelCase => {
                let mut out = String::new();
                for (i, w) in words.enumerate() {
                    if i == 0 {
                        out.push_str(w);
                    } else {
                        out.push_str(&capitalize(w));
                    }
                }
                out
            }
        }
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The arguments of `#[cluster_client(..)]`, the same for every form.
#[derive(Default)]
pub struct Args {
    /// The channel name (default: the trait name, or the type name of an inherent impl).
    pub name: Option<LitStr>,
    pub rename_all: Option<RenameAll>,
    /// Where the runtime lives (default `::cluster_client`).
    pub krate: Option<Path>,
    /// Put before the generated names (`{prefix}{Name}Cluster`), so that two impls of one
    /// trait can sit in one module.
    pub prefix: Option<String>,
    /// The visibility of the generated items (default: the trait's; private for an impl).
    pub vis: Option<Visibility>,
}

impl Args {
    pub fn parse(cx: &mut Ctxt, tokens: TokenStream) -> Args {
        let mut args = Args::default();
        let mut seen: Vec<String> = Vec::new();
        let parser = syn::meta::parser(|meta| {
            let key = path_to_string(&meta.path);
            if seen.contains(&key) {
                cx.error_spanned_by(&meta.path, format!("duplicate key `{key}`"));
                return skip_value(&meta);
            }
            seen.push(key.clone());
            match key.as_str() {
                "name" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() {
                        cx.error_spanned_by(&lit, "the channel name must not be empty");
                    }
                    args.name = Some(lit);
                }
                "rename_all" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    match RenameAll::from_str(&lit.value()) {
                        Some(rule) => args.rename_all = Some(rule),
                        None => cx.error_spanned_by(
                            &lit,
                            format!(
                                "unknown rename rule {:?}, expected one of {RENAME_RULES}",
                                lit.value()
                            ),
                        ),
                    }
                }
                "crate" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    match lit.parse::<Path>() {
                        Ok(path) => args.krate = Some(path),
                        Err(_) => cx
                            .error_spanned_by(&lit, "expected a path such as \"::cluster_client\""),
                    }
                }
                "prefix" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    let value = lit.value();
                    if is_ident_start(&value) {
                        args.prefix = Some(value);
                    } else {
                        cx.error_spanned_by(
                            &lit,
                            "the prefix starts the generated type names: write an identifier such as \"Primary\"",
                        );
                    }
                }
                "vis" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    match lit.parse::<Visibility>() {
                        Ok(vis) => args.vis = Some(vis),
                        Err(_) => cx.error_spanned_by(
                            &lit,
                            "expected a visibility such as \"pub\", \"pub(crate)\" or \"pub(super)\"",
                        ),
                    }
                }
                _ => {
                    cx.error_spanned_by(
                        &meta.path,
                        format!("unknown key `{key}`, expected one of {ITEM_KEYS}"),
                    );
                    return skip_value(&meta);
                }
            }
            Ok(())
        });
        if let Err(e) = syn::parse::Parser::parse2(parser, tokens) {
            cx.syn_error(e);
        }
        args
    }
}

/// One `#[delegate(..)]` attribute.
pub struct Delegate {
    pub kind: Option<(Kind, Span)>,
    pub name: Option<LitStr>,
}

impl Delegate {
    /// Parses every `#[delegate]` of a method; `None` when it has none.
    pub fn from_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> Option<Delegate> {
        let mut found: Option<Delegate> = None;
        for attr in attrs.iter().filter(|a| a.path().is_ident("delegate")) {
            if found.is_some() {
                cx.error_spanned_by(
                    attr,
                    "duplicate `#[delegate]` attribute; a method has exactly one",
                );
                continue;
            }
            found = Some(Self::parse_one(cx, attr));
        }
        found
    }

    fn parse_one(cx: &mut Ctxt, attr: &Attribute) -> Delegate {
        let mut out = Delegate {
            kind: None,
            name: None,
        };
        if let syn::Meta::Path(_) = attr.meta {
            cx.error_spanned_by(
                attr,
                format!("missing delegate kind: write `#[delegate(kind)]` with one of {KINDS}"),
            );
            return out;
        }
        let errors_before = cx.error_count();
        let mut name_seen = false;
        let result = attr.parse_nested_meta(|meta| {
            let key = path_to_string(&meta.path);
            if key == "name" {
                if name_seen {
                    cx.error_spanned_by(&meta.path, "duplicate key `name`");
                    return skip_value(&meta);
                }
                name_seen = true;
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    cx.error_spanned_by(&lit, "the wire name must not be empty");
                }
                out.name = Some(lit);
                return Ok(());
            }
            let has_value = meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren);
            match Kind::from_ident(&key) {
                Some(kind) if !has_value => match out.kind {
                    Some((first, _)) => cx.error_spanned_by(
                        &meta.path,
                        format!(
                            "a method has one delegate kind, found `{}` and `{}`",
                            first.as_str(),
                            kind.as_str()
                        ),
                    ),
                    None => out.kind = Some((kind, meta.path_span())),
                },
                _ if has_value => {
                    cx.error_spanned_by(
                        &meta.path,
                        format!(
                            "unknown key `{key}`, expected `name` (or a delegate kind: {KINDS})"
                        ),
                    );
                    return skip_value(&meta);
                }
                _ => cx.error_spanned_by(
                    &meta.path,
                    format!("unknown delegate kind `{key}`, expected one of {KINDS}"),
                ),
            }
            Ok(())
        });
        if let Err(e) = result {
            cx.syn_error(e);
        }
        if out.kind.is_none() && cx.error_count() == errors_before {
            cx.error_spanned_by(
                attr,
                format!("missing delegate kind, expected one of {KINDS}"),
            );
        }
        out
    }
}

/// Whether `s` can start a type name (`Primary`, `Fallback2`, `_Backup`).
fn is_ident_start(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

trait PathSpan {
    fn path_span(&self) -> Span;
}

impl PathSpan for ParseNestedMeta<'_> {
    fn path_span(&self) -> Span {
        syn::spanned::Spanned::span(&self.path)
    }
}

fn path_to_string(path: &Path) -> String {
    quote::quote!(#path).to_string().replace(' ', "")
}

/// Consumes `= value` or `(..)` after a key that was rejected, so parsing can go on.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| skip_value(&inner))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{RenameAll, is_ident_start};

    #[test]
    fn a_prefix_is_the_start_of_an_identifier() {
        assert!(is_ident_start("Primary"));
        assert!(is_ident_start("_Backup2"));
        assert!(!is_ident_start(""));
        assert!(!is_ident_start("2nd"));
        assert!(!is_ident_start("my-prefix"));
    }

    #[test]
    fn rename_rules_turn_snake_case_into_each_style() {
        assert_eq!(RenameAll::CamelCase.apply("get_data_now"), "getDataNow");
        assert_eq!(RenameAll::PascalCase.apply("get_data"), "GetData");
        assert_eq!(RenameAll::SnakeCase.apply("get_data"), "get_data");
        assert_eq!(RenameAll::ScreamingSnakeCase.apply("get_data"), "GET_DATA");
        assert_eq!(RenameAll::KebabCase.apply("get_data"), "get-data");
        assert_eq!(RenameAll::CamelCase.apply("close"), "close");
    }
}
