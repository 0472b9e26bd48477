//! The typed model of a `#[derive(Thing)]` input: its table and its columns.

use crate::attr;
use crate::ctxt::Ctxt;
use proc_macro2::{Span, TokenStream};
use quote::quote;

/// A struct deriving `Thing`.
pub struct Model<'a> {
    pub ident: &'a syn::Ident,
    pub vis: &'a syn::Visibility,
    pub table: String,
    pub fields: Vec<Field<'a>>,
    pub columns: Vec<Column>,
    /// Index into `columns` of the id.
    pub id: usize,
    pub created_at: Option<usize>,
    pub updated_at: Option<usize>,
    pub deleted: Option<usize>,
}

/// A struct field and what it is to Thing.
pub struct Field<'a> {
    pub member: &'a syn::Ident,
    pub role: Role,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// One column.
    Column,
    /// `#[thing(base)]`: the four columns of `BaseModel`.
    Base,
    /// A `thing::Snapshot`: bookkeeping, not a column.
    Snapshot,
    /// `#[thing(skip)]`: not stored, `Default::default()` when read.
    Skip,
}

/// One column of the table.
pub struct Column {
    pub name: String,
    /// The Rust expression reading it from `self`, e.g. `self.base.id`.
    pub access: TokenStream,
    /// The field path as text, e.g. `base.id`.
    pub field_path: String,
    pub ty: syn::Type,
    pub json: bool,
    pub index: bool,
    pub unique: bool,
    pub default: Option<String>,
    /// The field name.
    pub span: Span,
    /// Where the column name comes from: the `column = "..."` literal, or the field name.
    pub name_span: Span,
}

const BASE_COLUMNS: [(&str, &str); 4] = [
    ("id", "i64"),
    (
        "created_at",
        "::thing::__private::DateTime<::thing::__private::Utc>",
    ),
    (
        "updated_at",
        "::thing::__private::DateTime<::thing::__private::Utc>",
    ),
    ("deleted", "bool"),
];

impl<'a> Model<'a> {
    pub fn from_ast(cx: &Ctxt, input: &'a syn::DeriveInput) -> Option<Self> {
        let container = attr::Container::from_ast(cx, &input.attrs);
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "#[derive(Thing)] does not support generic structs; derive it on a concrete struct",
            );
        }
        let ident = &input.ident;
        let named = match &input.data {
            syn::Data::Struct(syn::DataStruct {
                fields: syn::Fields::Named(named),
                ..
            }) => named,
            syn::Data::Struct(syn::DataStruct {
                fields: syn::Fields::Unnamed(unnamed),
                ..
            }) => {
                cx.error_spanned_by(
                    unnamed,
                    format!(
                        "#[derive(Thing)] needs named fields, which name the columns: \
                         write `struct {ident} {{ id: i64, ... }}` instead of a tuple struct"
                    ),
                );
                return None;
            }
            syn::Data::Struct(syn::DataStruct {
                fields: syn::Fields::Unit,
                ..
            }) => {
                cx.error_spanned_by(
                    ident,
                    format!(
                        "#[derive(Thing)] needs named fields, at least an id: \
                         write `struct {ident} {{ id: i64, ... }}`"
                    ),
                );
                return None;
            }
            syn::Data::Enum(data) => {
                let keyword = data.enum_token;
                cx.error_spanned_by(
                    quote!(#keyword #ident),
                    "#[derive(Thing)] works only on structs with named fields, not on enums; \
                     to store an enum in a column, mark that field #[thing(json)]",
                );
                return None;
            }
            syn::Data::Union(data) => {
                let keyword = data.union_token;
                cx.error_spanned_by(
                    quote!(#keyword #ident),
                    "#[derive(Thing)] works only on structs with named fields, not on unions",
                );
                return None;
            }
        };

        let table = match &container.table {
            Some(lit) => {
                let table = lit.value();
                check_identifier(cx, lit, &table, "table");
                table
            }
            None => default_table_name(&input.ident.to_string()),
        };

        let mut fields = Vec::new();
        let mut columns = Vec::new();
        for field in &named.named {
            let member = field.ident.as_ref().expect("named field");
            let attrs = attr::Field::from_ast(cx, &field.attrs);
            let role = role_of(cx, field, &attrs);
            match role {
                Role::Base => {
                    for (name, ty) in BASE_COLUMNS {
                        let column = syn::Ident::new(name, Span::call_site());
                        columns.push(Column {
                            name: name.to_owned(),
                            access: quote!(self.#member.#column),
                            field_path: format!("{member}.{name}"),
                            ty: syn::parse_str(ty).expect("valid type"),
                            json: false,
                            index: false,
                            unique: false,
                            default: None,
                            span: member.span(),
                            name_span: member.span(),
                        });
                    }
                }
                Role::Column => {
                    let name = match &attrs.column {
                        Some(lit) => {
                            let name = lit.value();
                            check_identifier(cx, lit, &name, "column");
                            name
                        }
                        None => member.to_string().trim_start_matches("r#").to_owned(),
                    };
                    if !attrs.json {
                        check_supported_type(cx, &field.ty);
                    }
                    columns.push(Column {
                        name,
                        access: quote!(self.#member),
                        field_path: member.to_string(),
                        ty: field.ty.clone(),
                        json: attrs.json,
                        index: attrs.index,
                        unique: attrs.unique,
                        default: attrs.default.as_ref().map(syn::LitStr::value),
                        span: member.span(),
                        name_span: attrs
                            .column
                            .as_ref()
                            .map_or_else(|| member.span(), syn::LitStr::span),
                    });
                }
                Role::Snapshot | Role::Skip => {}
            }
            fields.push(Field { member, role });
        }

        check_duplicates(cx, &columns);
        let find = |name: &str| columns.iter().position(|column| column.name == name);
        let has_base = fields.iter().any(|field| field.role == Role::Base);
        if fields
            .iter()
            .filter(|field| field.role == Role::Base)
            .count()
            > 1
        {
            cx.error_spanned_by(
                &input.ident,
                "a model can embed only one #[thing(base)] field",
            );
        }
        let Some(id) = find("id") else {
            cx.error_spanned_by(
                ident,
                format!(
                    "model `{ident}` has no id: add `#[thing(base)] base: thing::BaseModel` or a field `id: i64`"
                ),
            );
            return None;
        };
        if !is_type(&columns[id].ty, "i64") {
            cx.error_spanned_by(
                &columns[id].ty,
                format!(
                    "the `id` column is the primary key and must be `i64`: change the type of `{}` \
                     to `i64`, or map the field to another column with #[thing(column = \"...\")]",
                    columns[id].field_path
                ),
            );
            return None;
        }
        let deleted = find("deleted").filter(|&column| is_type(&columns[column].ty, "bool"));
        Some(Model {
            ident: &input.ident,
            vis: &input.vis,
            table,
            fields,
            id,
            created_at: find("created_at").filter(|_| has_base),
            updated_at: find("updated_at").filter(|_| has_base),
            deleted,
            columns,
        })
    }
}

fn role_of(cx: &Ctxt, field: &syn::Field, attrs: &attr::Field) -> Role {
    if attrs.base {
        if !is_type(&field.ty, "BaseModel") {
            cx.error_spanned_by(
                &field.ty,
                "#[thing(base)] goes on a `thing::BaseModel` field: change the type to \
                 `thing::BaseModel`, or remove #[thing(base)]",
            );
        }
        if attrs.skip || attrs.json || attrs.column.is_some() || attrs.default.is_some() {
            cx.error_spanned_by(
                field.ident.as_ref(),
                "#[thing(base)] cannot be combined with other attributes",
            );
        }
        return Role::Base;
    }
    if attrs.skip {
        if attrs.json
            || attrs.index
            || attrs.unique
            || attrs.column.is_some()
            || attrs.default.is_some()
        {
            cx.error_spanned_by(
                field.ident.as_ref(),
                "#[thing(skip)] cannot be combined with column attributes, as a skipped field is not stored: \
                 remove one or the other",
            );
        }
        return Role::Skip;
    }
    if is_type(&field.ty, "Snapshot") {
        return Role::Snapshot;
    }
    if is_type(&field.ty, "BaseModel") {
        cx.error_spanned_by(
            &field.ty,
            "a `BaseModel` field needs #[thing(base)] to embed its id, timestamp and soft-delete \
             columns: add #[thing(base)] above the field",
        );
        // Go on as if it were there, so that the missing id is not reported too.
        return Role::Base;
    }
    Role::Column
}

/// Whether `ty` is a path whose last segment is `name`.
fn is_type(ty: &syn::Type, name: &str) -> bool {
    last_segment(ty).is_some_and(|segment| segment.ident == name)
}

fn last_segment(ty: &syn::Type) -> Option<&syn::PathSegment> {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        syn::Type::Group(group) => last_segment(&group.elem),
        _ => None,
    }
}

/// Kept in step with the `#[diagnostic::on_unimplemented]` notes of `ColumnType`,
/// `Codec` and `Field` in the thing crate.
const UNSUPPORTED_HINT: &str = "Thing stores i8, i16, i32, i64, u32, f32, f64, bool, String, Vec<u8>, \
chrono::DateTime<Utc>, chrono::NaiveDateTime, chrono::NaiveDate, uuid::Uuid, serde_json::Value, \
and Option of these; mark the field #[thing(json)] to store a serde type as JSON, or \
#[thing(skip)] to not store it";

/// Rejects, at the field, types that are certainly not columns. Types this
/// cannot judge (aliases, newtypes) are left to the trait bounds.
fn check_supported_type(cx: &Ctxt, ty: &syn::Type) {
    let unsupported = match ty {
        syn::Type::Reference(_) => Some((
            "a reference",
            "store an owned value (`String` rather than `&str`)",
        )),
        syn::Type::Tuple(_) => Some((
            "a tuple",
            "use one field per column, or mark it #[thing(json)]",
        )),
        syn::Type::Array(_) | syn::Type::Slice(_) => Some((
            "an array",
            "use `Vec<u8>` for bytes, or mark it #[thing(json)]",
        )),
        syn::Type::Ptr(_) | syn::Type::BareFn(_) | syn::Type::TraitObject(_) => {
            Some(("this type", "mark it #[thing(skip)]"))
        }
        _ => None,
    };
    if let Some((what, fix)) = unsupported {
        cx.error_spanned_by(
            ty,
            format!("{what} cannot be a column: {fix}. {UNSUPPORTED_HINT}"),
        );
        return;
    }
    let Some(segment) = last_segment(ty) else {
        return;
    };
    let name = segment.ident.to_string();
    let inner = match &segment.arguments {
        syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::Type(ty) => Some(ty),
            _ => None,
        }),
        _ => None,
    };
    match (name.as_str(), inner) {
        ("Option", Some(inner)) => check_supported_type(cx, inner),
        ("Vec", Some(inner)) if !is_type(inner, "u8") => cx.error_spanned_by(
            ty,
            format!(
                "`Vec` cannot be a column unless it is `Vec<u8>` (a blob): mark it #[thing(json)] \
                 to store the list as JSON. {UNSUPPORTED_HINT}"
            ),
        ),
        (name, _) => {
            if let Some(fix) = unsupported_fix(name) {
                cx.error_spanned_by(
                    ty,
                    format!("unsupported field type `{name}`: {fix}. {UNSUPPORTED_HINT}"),
                );
            }
        }
    }
}

/// How to fix a field of a common type that is not a column type, or `None` when
/// `name` is not one of them.
fn unsupported_fix(name: &str) -> Option<&'static str> {
    Some(match name {
        "u8" => "use `i16`",
        "u16" => "use `i32` or `u32`",
        "u64" | "usize" => "use `i64`, or `u32` when the values fit",
        "isize" => "use `i64`",
        "u128" | "i128" => "use `i64`, or `uuid::Uuid` for 128-bit ids",
        "char" => "use `String`",
        "HashMap" | "BTreeMap" | "HashSet" | "BTreeSet" => "mark it #[thing(json)]",
        "Box" | "Rc" | "Arc" | "Cow" => "store the inner type itself",
        _ => return None,
    })
}

fn check_duplicates(cx: &Ctxt, columns: &[Column]) {
    for (i, column) in columns.iter().enumerate() {
        if let Some(first) = columns[..i].iter().find(|other| other.name == column.name) {
            cx.syn_error(syn::Error::new(
                column.name_span,
                format!(
                    "duplicate column `{}`: field `{}` already maps to it; give one of them another \
                     name with #[thing(column = \"...\")]",
                    column.name, first.field_path
                ),
            ));
        }
    }
}

fn check_identifier(cx: &Ctxt, lit: &syn::LitStr, name: &str, what: &str) {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && name.len() <= 63;
    if !valid {
        cx.error_spanned_by(
            lit,
            format!(
                "invalid {what} name `{name}`: use ASCII letters, digits and `_`, starting with a letter or `_`, at most 63 characters"
            ),
        );
    }
}

/// `BlogPost` → `blog_posts`, `Category` → `categories`, `Box` → `boxes`.
pub fn default_table_name(ident: &str) -> String {
    let mut snake = String::with_capacity(ident.len() + 4);
    for (i, ch) in ident.char_indices() {
        if ch.is_uppercase() {
            if i > 0 {
                snake.push('_');
            }
            snake.extend(ch.to_lowercase());
        } else {
            snake.push(ch);
        }
    }
    if let Some(stem) = snake.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if snake.ends_with(['s', 'x', 'z']) || snake.ends_with("ch") || snake.ends_with("sh") {
        snake.push_str("es");
    } else {
        snake.push('s');
    }
    snake
}

#[cfg(test)]
mod tests {
    use super::default_table_name;

    #[test]
    fn table_names_are_snake_case_plurals() {
        assert_eq!(default_table_name("User"), "users");
        assert_eq!(default_table_name("BlogPost"), "blog_posts");
        assert_eq!(default_table_name("Category"), "categories");
        assert_eq!(default_table_name("Day"), "days");
        assert_eq!(default_table_name("Box"), "boxes");
        assert_eq!(default_table_name("Match"), "matches");
        assert_eq!(default_table_name("Address"), "addresses");
    }
}
