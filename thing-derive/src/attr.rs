//! Reads `#[thing(...)]` attributes on the struct and its fields.

use crate::ctxt::Ctxt;
use syn::spanned::Spanned;

const CONTAINER_KEYS: &[&str] = &["table", "hooks", "crate"];
const FIELD_KEYS: &[&str] = &[
    "base",
    "column",
    "skip",
    "index",
    "unique",
    "json",
    "default",
    "version",
    "belongs_to",
    "has_many",
    "many_to_many",
];

/// `#[thing(...)]` on the struct.
#[derive(Default)]
pub struct Container {
    pub table: Option<syn::LitStr>,
    /// `#[thing(hooks)]`: the model implements `thing::Hooks` itself.
    pub hooks: bool,
    /// `#[thing(crate = "...")]` as written, for the join models of
    /// `many_to_many` fields, which are derived with it too.
    pub crate_lit: Option<syn::LitStr>,
    /// The path of `crate_lit`, when it parses as one.
    pub crate_path: Option<syn::Path>,
}

/// `#[thing(...)]` on a field.
#[derive(Default)]
pub struct Field {
    pub base: bool,
    pub column: Option<syn::LitStr>,
    pub skip: bool,
    pub index: bool,
    pub unique: bool,
    pub json: bool,
    pub default: Option<syn::LitStr>,
    /// `#[thing(version)]`: the optimistic-lock counter.
    pub version: bool,
    /// `#[thing(belongs_to(..))]`, `has_many(..)` or `many_to_many(..)`.
    pub relation: Option<Relation>,
}

/// Which relation a field holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    BelongsTo,
    HasMany,
    ManyToMany,
}

impl RelationKind {
    /// The attribute's name.
    pub fn attr(self) -> &'static str {
        match self {
            Self::BelongsTo => "belongs_to",
            Self::HasMany => "has_many",
            Self::ManyToMany => "many_to_many",
        }
    }

    /// The holder type the field must have.
    pub fn holder(self) -> &'static str {
        match self {
            Self::BelongsTo => "BelongsTo",
            Self::HasMany => "HasMany",
            Self::ManyToMany => "ManyToMany",
        }
    }
}

/// `belongs_to(User, fk = "user_id")`, `has_many(Post, fk = "user_id")` or
/// `many_to_many(Role, join = "user_roles", fk = "user_id", other_fk = "role_id")`.
pub struct Relation {
    pub kind: RelationKind,
    /// Where the attribute is, for errors about it as a whole.
    pub span: proc_macro2::Span,
    /// The related model.
    pub target: Option<syn::Path>,
    pub fk: Option<syn::LitStr>,
    pub join: Option<syn::LitStr>,
    pub other_fk: Option<syn::LitStr>,
}

impl Container {
    pub fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut container = Self::default();
        for attr in thing_attrs(attrs) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("table") {
                    set_once(cx, &meta, &mut container.table)
                } else if meta.path.is_ident("crate") {
                    set_once(cx, &meta, &mut container.crate_lit)
                } else if meta.path.is_ident("hooks") {
                    if container.hooks {
                        cx.error_spanned_by(&meta.path, "duplicate `hooks` attribute");
                    }
                    container.hooks = true;
                    Ok(())
                } else {
                    Err(unknown(&meta, CONTAINER_KEYS, "the struct"))
                }
            });
            if let Err(err) = result {
                cx.syn_error(err);
            }
        }
        if let Some(lit) = &container.crate_lit {
            container.crate_path = parse_crate_path(lit);
            if container.crate_path.is_none() {
                cx.error_spanned_by(lit, bad_crate_path(lit));
            }
        }
        container
    }

    /// The path the generated code names the runtime crate by: `crate = "..."`,
    /// else `::thing`.
    pub fn crate_path(&self) -> syn::Path {
        self.crate_path.clone().unwrap_or_else(default_crate_path)
    }
}

/// `::thing`, the runtime crate's path without `crate = "..."`.
fn default_crate_path() -> syn::Path {
    syn::parse_quote!(::thing)
}

/// The path in `crate = "..."`, or `None` when the string is not one.
fn parse_crate_path(lit: &syn::LitStr) -> Option<syn::Path> {
    lit.parse::<syn::Path>().ok()
}

fn bad_crate_path(lit: &syn::LitStr) -> String {
    format!(
        "`crate` takes the path of the thing crate, e.g. `crate = \"orm\"` or \
         `crate = \"my_facade::thing\"`; {:?} is not a path",
        lit.value()
    )
}

impl Field {
    pub fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut field = Self::default();
        for attr in thing_attrs(attrs) {
            let result = attr.parse_nested_meta(|meta| {
                let path = &meta.path;
                let flag = if path.is_ident("base") {
                    &mut field.base
                } else if path.is_ident("skip") {
                    &mut field.skip
                } else if path.is_ident("index") {
                    &mut field.index
                } else if path.is_ident("unique") {
                    &mut field.unique
                } else if path.is_ident("json") {
                    &mut field.json
                } else if path.is_ident("version") {
                    &mut field.version
                } else if let Some(kind) = relation_kind(path) {
                    if field.relation.is_some() {
                        cx.error_spanned_by(path, "a field holds one relation");
                    }
                    field.relation = Some(Relation::from_meta(cx, kind, &meta)?);
                    return Ok(());
                } else if path.is_ident("column") {
                    return set_once(cx, &meta, &mut field.column);
                } else if path.is_ident("default") {
                    return set_once(cx, &meta, &mut field.default);
                } else {
                    return Err(unknown(&meta, FIELD_KEYS, "a field"));
                };
                if *flag {
                    cx.error_spanned_by(path, format!("duplicate `{}` attribute", path_name(path)));
                }
                *flag = true;
                Ok(())
            });
            if let Err(err) = result {
                cx.syn_error(err);
            }
        }
        field
    }
}

fn relation_kind(path: &syn::Path) -> Option<RelationKind> {
    [
        RelationKind::BelongsTo,
        RelationKind::HasMany,
        RelationKind::ManyToMany,
    ]
    .into_iter()
    .find(|kind| path.is_ident(kind.attr()))
}

impl Relation {
    /// The parenthesized list after the relation's name: the model first,
    /// then `key = "..."` pairs.
    fn from_meta(
        cx: &Ctxt,
        kind: RelationKind,
        meta: &syn::meta::ParseNestedMeta<'_>,
    ) -> syn::Result<Self> {
        let mut relation = Self {
            kind,
            span: meta.path.span(),
            target: None,
            fk: None,
            join: None,
            other_fk: None,
        };
        meta.parse_nested_meta(|inner| {
            let slot = if inner.path.is_ident("fk") {
                &mut relation.fk
            } else if inner.path.is_ident("join") && kind == RelationKind::ManyToMany {
                &mut relation.join
            } else if inner.path.is_ident("other_fk") && kind == RelationKind::ManyToMany {
                &mut relation.other_fk
            } else if inner.input.peek(syn::Token![=]) || relation.target.is_some() {
                let expected = match kind {
                    RelationKind::ManyToMany => "`join`, `fk` and `other_fk`",
                    _ => "`fk`",
                };
                return Err(inner.error(format!(
                    "unknown key in {}(..): it takes the related model, then {expected}",
                    kind.attr()
                )));
            } else {
                relation.target = Some(inner.path.clone());
                return Ok(());
            };
            set_once(cx, &inner, slot)
        })?;
        Ok(relation)
    }
}

/// Whether `attrs` hold `#[thing(hooks)]`, for the impls emitted beside
/// errors (which cannot rely on a parsed [`Container`]).
pub fn declares_hooks(attrs: &[syn::Attribute]) -> bool {
    thing_attrs(attrs).any(|attr| {
        let mut found = false;
        let _ = attr.parse_nested_meta(|meta| {
            found |= meta.path.is_ident("hooks");
            if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            }
            Ok(())
        });
        found
    })
}

/// The crate path `attrs` declare, for the impls emitted beside errors:
/// `::thing` without `crate = "..."`, `None` when its value is not a path
/// (then nothing can name the crate).
pub fn declared_crate_path(attrs: &[syn::Attribute]) -> Option<syn::Path> {
    let mut path = Some(default_crate_path());
    for attr in thing_attrs(attrs) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                // No path, unless the value parses as one.
                path = None;
                path = parse_crate_path(&meta.value()?.parse()?);
            } else if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            }
            Ok(())
        });
    }
    path
}

fn thing_attrs(attrs: &[syn::Attribute]) -> impl Iterator<Item = &syn::Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("thing"))
}

fn set_once(
    cx: &Ctxt,
    meta: &syn::meta::ParseNestedMeta<'_>,
    slot: &mut Option<syn::LitStr>,
) -> syn::Result<()> {
    let value: syn::LitStr = meta.value()?.parse()?;
    if slot.is_some() {
        cx.error_spanned_by(
            &meta.path,
            format!("duplicate `{}` attribute", path_name(&meta.path)),
        );
    }
    *slot = Some(value);
    Ok(())
}

fn unknown(meta: &syn::meta::ParseNestedMeta<'_>, expected: &[&str], place: &str) -> syn::Error {
    let name = path_name(&meta.path);
    let listed = expected
        .iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let suggestion = expected
        .iter()
        .find(|key| edit_distance(&name, key) <= 2)
        .map(|key| format!("did you mean `{key}`? "))
        .unwrap_or_default();
    let expected = match expected {
        [only] => format!("the only one on {place} is `{only}`"),
        _ => format!("expected one of {listed}"),
    };
    let expected = if suggestion.is_empty() {
        expected
    } else {
        format!("({expected})")
    };
    syn::Error::new(
        meta.path.span(),
        format!("unknown thing attribute `{name}` on {place}; {suggestion}{expected}"),
    )
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

fn path_name(path: &syn::Path) -> String {
    quote::quote!(#path).to_string().replace(' ', "")
}
