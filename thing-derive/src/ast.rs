//! The typed model of a `#[derive(Thing)]` input: its table and its columns.
//!
//! This module only parses; `crate::check` then checks the parsed model, once,
//! at the end of [`Model::from_ast`].

use crate::attr;
use crate::ctxt::Ctxt;
use proc_macro2::{Span, TokenStream};
use quote::quote;

/// A struct deriving `Thing`.
pub struct Model<'a> {
    pub ident: &'a syn::Ident,
    pub vis: &'a syn::Visibility,
    /// `#[thing(...)]` on the struct.
    pub attrs: attr::Container,
    /// The runtime crate, as the generated code names it: `::thing`, or the
    /// path of `#[thing(crate = "...")]`.
    pub krate: syn::Path,
    pub table: String,
    pub fields: Vec<Field<'a>>,
    pub columns: Vec<Column>,
    /// Index into `columns` of the id. `None` only in a model that
    /// `check::check` rejects, so never in one that is expanded.
    pub id: Option<usize>,
    pub created_at: Option<usize>,
    pub updated_at: Option<usize>,
    pub deleted: Option<usize>,
    /// The `#[thing(version)]` column.
    pub version: Option<usize>,
}

/// A struct field and what it is to Thing.
pub struct Field<'a> {
    pub member: &'a syn::Ident,
    pub ty: &'a syn::Type,
    /// `#[thing(...)]` on the field.
    pub attrs: attr::Field,
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
    /// `#[thing(belongs_to(..))]` and the like: a holder of related rows,
    /// not stored, unloaded when read.
    Relation,
}

/// One column of the table.
pub struct Column {
    pub name: String,
    /// The Rust expression reading it from `self`, e.g. `self.base.id`.
    pub access: TokenStream,
    /// The field path as text, e.g. `base.id`.
    pub field_path: String,
    pub ty: syn::Type,
    /// The type as the schema hash spells it: as written, without spaces.
    pub hashed_ty: String,
    pub json: bool,
    pub index: bool,
    pub unique: bool,
    pub default: Option<String>,
    /// `#[thing(version)]`.
    pub version: bool,
    /// The field name.
    pub span: Span,
    /// Where the column name comes from: the `column = "..."` literal, or the field name.
    pub name_span: Span,
}

/// The columns of `BaseModel`, each with its type as the schema hash spells it:
/// through `::thing` whatever `#[thing(crate = "...")]` says, so that the hash
/// does not depend on how the runtime crate is named.
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
    /// Parses `input` (fields, their roles, the columns, the special columns).
    /// Every problem found while parsing is recorded in `cx`; the checks of the
    /// parsed model run afterwards (`check::check`). `None` when `input` is not a
    /// struct with named fields.
    pub fn from_ast(cx: &Ctxt, input: &'a syn::DeriveInput) -> Option<Self> {
        let attrs = attr::Container::from_ast(cx, &input.attrs);
        reject_generics(cx, &input.generics);
        let named = named_fields(cx, input)?;
        let fields = fields_from_ast(cx, named);
        let krate = attrs.crate_path();
        let columns = columns_of(&fields, &krate);
        let mut model = Model {
            ident: &input.ident,
            vis: &input.vis,
            krate,
            table: table_name(&attrs, &input.ident),
            attrs,
            fields,
            columns,
            id: None,
            created_at: None,
            updated_at: None,
            deleted: None,
            version: None,
        };
        model.find_special_columns();
        Some(model)
    }

    /// Finds the id, timestamp and soft-delete columns among `columns`.
    fn find_special_columns(&mut self) {
        let has_base = self.fields.iter().any(|field| field.role == Role::Base);
        self.id = self.column_named("id");
        self.created_at = self.column_named("created_at").filter(|_| has_base);
        self.updated_at = self.column_named("updated_at").filter(|_| has_base);
        self.deleted = self
            .column_named("deleted")
            .filter(|&column| is_type(&self.columns[column].ty, "bool"));
        self.version = self.columns.iter().position(|column| column.version);
    }

    /// Index of the first column called `name`.
    fn column_named(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| column.name == name)
    }
}

/// Rejects a generic struct.
///
/// Checked here, while parsing, rather than in `check.rs`: [`named_fields`] may
/// end parsing right after, and a generic enum or tuple struct must still be
/// told about its generics, before the error about its shape.
fn reject_generics(cx: &Ctxt, generics: &syn::Generics) {
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            generics,
            "#[derive(Thing)] does not support generic structs; derive it on a concrete struct",
        );
    }
}

/// The named fields of the struct.
///
/// Any other shape (tuple or unit struct, enum, union) is reported here, while
/// parsing, and ends it: without named fields there are no columns to parse, so
/// there is no model to check.
fn named_fields<'a>(cx: &Ctxt, input: &'a syn::DeriveInput) -> Option<&'a syn::FieldsNamed> {
    let ident = &input.ident;
    match &input.data {
        syn::Data::Struct(data) => match &data.fields {
            syn::Fields::Named(named) => return Some(named),
            syn::Fields::Unnamed(unnamed) => cx.error_spanned_by(
                unnamed,
                format!(
                    "#[derive(Thing)] needs named fields, which name the columns: \
                     write `struct {ident} {{ id: i64, ... }}` instead of a tuple struct"
                ),
            ),
            syn::Fields::Unit => cx.error_spanned_by(
                ident,
                format!(
                    "#[derive(Thing)] needs named fields, at least an id: \
                     write `struct {ident} {{ id: i64, ... }}`"
                ),
            ),
        },
        syn::Data::Enum(data) => {
            let keyword = data.enum_token;
            cx.error_spanned_by(
                quote!(#keyword #ident),
                "#[derive(Thing)] works only on structs with named fields, not on enums; \
                 to store an enum in a column, mark that field #[thing(json)]",
            );
        }
        syn::Data::Union(data) => {
            let keyword = data.union_token;
            cx.error_spanned_by(
                quote!(#keyword #ident),
                "#[derive(Thing)] works only on structs with named fields, not on unions",
            );
        }
    }
    None
}

/// The `table = "..."` name, else the snake_case plural of the struct name.
fn table_name(attrs: &attr::Container, ident: &syn::Ident) -> String {
    match &attrs.table {
        Some(lit) => lit.value(),
        None => default_table_name(&ident.to_string()),
    }
}

/// Each field with its `#[thing(...)]` attributes and its role.
fn fields_from_ast<'a>(cx: &Ctxt, named: &'a syn::FieldsNamed) -> Vec<Field<'a>> {
    named
        .named
        .iter()
        .map(|field| {
            let attrs = attr::Field::from_ast(cx, &field.attrs);
            Field {
                member: field.ident.as_ref().expect("named field"),
                ty: &field.ty,
                role: role_of(&field.ty, &attrs),
                attrs,
            }
        })
        .collect()
}

/// What a field is to Thing. Conflicting attributes are left to `check.rs`.
fn role_of(ty: &syn::Type, attrs: &attr::Field) -> Role {
    if attrs.base {
        Role::Base
    } else if attrs.relation.is_some() {
        Role::Relation
    } else if attrs.skip {
        Role::Skip
    } else if is_type(ty, "Snapshot") {
        Role::Snapshot
    } else if is_type(ty, "BaseModel") {
        // Reported by `check.rs` for lacking #[thing(base)]; taken as if it had
        // it, so that the missing id is not reported too.
        Role::Base
    } else {
        Role::Column
    }
}

/// The table's columns in field order: four per base field, one per column field.
fn columns_of(fields: &[Field], krate: &syn::Path) -> Vec<Column> {
    fields
        .iter()
        .flat_map(|field| match field.role {
            Role::Base => base_columns(field.member, krate),
            Role::Column => vec![field_column(field)],
            Role::Snapshot | Role::Skip | Role::Relation => Vec::new(),
        })
        .collect()
}

/// The four columns of the `BaseModel` in field `member`.
fn base_columns(member: &syn::Ident, krate: &syn::Path) -> Vec<Column> {
    BASE_COLUMNS
        .iter()
        .map(|&(name, hashed_ty)| {
            let column = syn::Ident::new(name, Span::call_site());
            let ty = match name {
                "id" => syn::parse_quote!(i64),
                "deleted" => syn::parse_quote!(bool),
                _ => syn::parse_quote!(#krate::__private::DateTime<#krate::__private::Utc>),
            };
            Column {
                name: name.to_owned(),
                access: quote!(self.#member.#column),
                field_path: format!("{member}.{name}"),
                ty,
                hashed_ty: hashed_ty.to_owned(),
                json: false,
                index: false,
                unique: false,
                default: None,
                version: false,
                span: member.span(),
                name_span: member.span(),
            }
        })
        .collect()
}

/// The column of a field with [`Role::Column`].
fn field_column(field: &Field) -> Column {
    let member = field.member;
    let attrs = &field.attrs;
    Column {
        name: match &attrs.column {
            Some(lit) => lit.value(),
            None => member.to_string().trim_start_matches("r#").to_owned(),
        },
        access: quote!(self.#member),
        field_path: member.to_string(),
        ty: field.ty.clone(),
        hashed_ty: {
            let ty = field.ty;
            quote!(#ty).to_string().replace(' ', "")
        },
        json: attrs.json,
        index: attrs.index,
        unique: attrs.unique,
        default: attrs.default.as_ref().map(syn::LitStr::value),
        version: attrs.version,
        span: member.span(),
        name_span: attrs
            .column
            .as_ref()
            .map_or_else(|| member.span(), syn::LitStr::span),
    }
}

/// Whether `ty` is a path whose last segment is `name`.
pub fn is_type(ty: &syn::Type, name: &str) -> bool {
    last_segment(ty).is_some_and(|segment| segment.ident == name)
}

/// The last segment of `ty` when it is a path (`Option<i32>` of `std::option::Option<i32>`).
pub fn last_segment(ty: &syn::Type) -> Option<&syn::PathSegment> {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        syn::Type::Group(group) => last_segment(&group.elem),
        _ => None,
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
