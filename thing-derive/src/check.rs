//! Checks a parsed [`Model`], as serde_derive's `internals/check.rs` does: run
//! once, at the end of [`Model::from_ast`], over the whole model, recording every
//! problem in the [`Ctxt`] so that all are reported at once.
//!
//! Errors are recorded in this order: the table name, then each field in turn,
//! then what involves several columns (duplicate names, several bases, the id).
//! Errors found while parsing come before all of them: malformed `#[thing(...)]`
//! attributes (`attr.rs`), the shape of the input, without which there is no
//! model to check, and, just before it, generics (both in `ast.rs`).

use crate::ast::{Column, Field, Model, Role, is_type, last_segment};
use crate::attr::{Relation, RelationKind};
use crate::ctxt::Ctxt;
use quote::ToTokens;

/// Runs every check on `model`.
pub fn check(cx: &Ctxt, model: &Model) {
    if let Some(lit) = &model.attrs.table {
        check_identifier(cx, lit, "table");
    }
    for field in &model.fields {
        check_field(cx, field);
        if let Some(relation) = &field.attrs.relation {
            check_relation(cx, model, field, relation);
        }
    }
    check_duplicates(cx, &model.columns);
    check_reserved_handles(cx, model);
    check_single_base(cx, model);
    check_id(cx, model);
    check_single_version(cx, model);
}

/// At most one `#[thing(version)]` column.
fn check_single_version(cx: &Ctxt, model: &Model) {
    for column in model.columns.iter().filter(|column| column.version).skip(1) {
        cx.syn_error(syn::Error::new(
            column.span,
            "only one field can be #[thing(version)]: it is the row's optimistic-lock counter",
        ));
    }
}

/// The attributes and type of one field, for its role.
fn check_field(cx: &Ctxt, field: &Field) {
    match field.role {
        Role::Base if field.attrs.base => check_base(cx, field),
        Role::Base => cx.error_spanned_by(
            field.ty,
            "a `BaseModel` field needs #[thing(base)] to embed its id, timestamp and soft-delete \
             columns: add #[thing(base)] above the field",
        ),
        Role::Skip => check_skip(cx, field),
        Role::Column => check_column(cx, field),
        Role::Snapshot | Role::Relation => {}
    }
}

/// A relation field: its holder type, its keys, and for `belongs_to` its
/// foreign key among this model's columns.
fn check_relation(cx: &Ctxt, model: &Model, field: &Field, relation: &Relation) {
    let kind = relation.kind;
    let attr = kind.attr();
    let Some(target) = &relation.target else {
        cx.syn_error(syn::Error::new(
            relation.span,
            format!(
                "{attr}(..) names the related model first: {}",
                correct_form(kind, "Model")
            ),
        ));
        return;
    };
    let target_name = target.to_token_stream().to_string().replace(' ', "");
    let attrs = &field.attrs;
    if attrs.skip
        || attrs.json
        || attrs.index
        || attrs.unique
        || attrs.version
        || attrs.column.is_some()
        || attrs.default.is_some()
    {
        cx.error_spanned_by(
            field.member,
            format!("#[thing({attr}(..))] holds related rows and is not a column: it takes no column attributes"),
        );
    }
    if holder_target(field.ty, kind.holder()).as_deref() != Some(target_name.as_str()) {
        cx.error_spanned_by(
            field.ty,
            format!(
                "#[thing({attr}({target_name}, ..))] goes on a `thing::{}<{target_name}>` field: {}",
                kind.holder(),
                correct_form(kind, &target_name)
            ),
        );
    }
    let Some(fk) = &relation.fk else {
        cx.syn_error(syn::Error::new(
            relation.span,
            format!(
                "{attr}(..) needs its foreign key: {}",
                correct_form(kind, &target_name)
            ),
        ));
        return;
    };
    check_key_name(cx, fk, "fk");
    match kind {
        RelationKind::BelongsTo => check_own_foreign_key(cx, model, fk, &target_name),
        RelationKind::HasMany => {}
        RelationKind::ManyToMany => check_join(cx, relation, fk, &target_name),
    }
}

/// `join` and `other_fk` of a `many_to_many`: given, and naming two columns.
fn check_join(cx: &Ctxt, relation: &Relation, fk: &syn::LitStr, target: &str) {
    let form = correct_form(RelationKind::ManyToMany, target);
    match &relation.join {
        Some(join) => check_identifier(cx, join, "join"),
        None => cx.syn_error(syn::Error::new(
            relation.span,
            format!("many_to_many(..) needs its join table: {form}"),
        )),
    }
    match &relation.other_fk {
        Some(other) if other.value() == fk.value() => cx.error_spanned_by(
            other,
            format!("`fk` and `other_fk` are the two columns of the join table and must differ: {form}"),
        ),
        Some(other) => check_key_name(cx, other, "other_fk"),
        None => cx.syn_error(syn::Error::new(
            relation.span,
            format!("many_to_many(..) needs `other_fk`, the join table's key of the related model: {form}"),
        )),
    }
}

/// A `belongs_to` key: an indexed `i64` or `Option<i64>` column of this model.
fn check_own_foreign_key(cx: &Ctxt, model: &Model, fk: &syn::LitStr, target: &str) {
    let name = fk.value();
    let form = format!(
        "`#[thing(index)] {name}: i64` (or `Option<i64>`) beside `#[thing(belongs_to({target}, fk = \"{name}\"))]`"
    );
    let Some(column) = model.columns.iter().find(|column| column.name == name) else {
        cx.error_spanned_by(
            fk,
            format!("no column `{name}` in `{}`: the foreign key of belongs_to is a column of this model, {form}", model.ident),
        );
        return;
    };
    let is_key = is_type(&column.ty, "i64")
        || (is_type(&column.ty, "Option")
            && option_inner(&column.ty).is_some_and(|inner| is_type(inner, "i64")));
    if !is_key || column.json {
        cx.error_spanned_by(
            fk,
            format!("the foreign key `{name}` must be an `i64` or `Option<i64>` column: {form}"),
        );
    } else if !column.index && !column.unique {
        cx.error_spanned_by(
            fk,
            format!("the foreign key `{name}` must be indexed, so that only writes to its own rows drop their cached relation lists: {form}"),
        );
    }
}

/// `T` of `Option<T>`.
fn option_inner(ty: &syn::Type) -> Option<&syn::Type> {
    match &last_segment(ty)?.arguments {
        syn::PathArguments::AngleBracketed(args) => match args.args.first()? {
            syn::GenericArgument::Type(inner) => Some(inner),
            _ => None,
        },
        _ => None,
    }
}

/// The `X` of a `holder<X>` type, spelled without spaces.
fn holder_target(ty: &syn::Type, holder: &str) -> Option<String> {
    if !is_type(ty, holder) {
        return None;
    }
    option_inner(ty).map(|inner| inner.to_token_stream().to_string().replace(' ', ""))
}

/// A key of a relation (`fk`, `other_fk`): a column name.
fn check_key_name(cx: &Ctxt, lit: &syn::LitStr, what: &str) {
    let name = lit.value();
    if syn::parse_str::<syn::Ident>(&name).is_err() || name.starts_with("r#") {
        cx.error_spanned_by(
            lit,
            format!("`{what}` names a column: a plain identifier such as \"user_id\""),
        );
    }
}

/// The attribute and field as they should be written.
fn correct_form(kind: RelationKind, target: &str) -> String {
    let lower = target.to_lowercase();
    match kind {
        RelationKind::BelongsTo => format!(
            "`#[thing(belongs_to({target}, fk = \"{lower}_id\"))] {lower}: thing::BelongsTo<{target}>`"
        ),
        RelationKind::HasMany => format!(
            "`#[thing(has_many({target}, fk = \"<model>_id\"))] {lower}s: thing::HasMany<{target}>`"
        ),
        RelationKind::ManyToMany => format!(
            "`#[thing(many_to_many({target}, join = \"<model>_{lower}s\", fk = \"<model>_id\", other_fk = \"{lower}_id\"))] {lower}s: thing::ManyToMany<{target}>`"
        ),
    }
}

/// A `#[thing(base)]` field: a `BaseModel`, with no other attribute.
fn check_base(cx: &Ctxt, field: &Field) {
    if !is_type(field.ty, "BaseModel") {
        cx.error_spanned_by(
            field.ty,
            "#[thing(base)] goes on a `thing::BaseModel` field: change the type to \
             `thing::BaseModel`, or remove #[thing(base)]",
        );
    }
    let attrs = &field.attrs;
    if attrs.skip || attrs.json || attrs.column.is_some() || attrs.default.is_some() {
        cx.error_spanned_by(
            field.member,
            "#[thing(base)] cannot be combined with other attributes",
        );
    }
}

/// A `#[thing(skip)]` field: no column attributes, as it is not stored.
fn check_skip(cx: &Ctxt, field: &Field) {
    let attrs = &field.attrs;
    if attrs.json
        || attrs.index
        || attrs.unique
        || attrs.column.is_some()
        || attrs.default.is_some()
    {
        cx.error_spanned_by(
            field.member,
            "#[thing(skip)] cannot be combined with column attributes, as a skipped field is not stored: \
             remove one or the other",
        );
    }
}

/// A column field: its `column = "..."` name, and its type unless it is JSON.
fn check_column(cx: &Ctxt, field: &Field) {
    if let Some(lit) = &field.attrs.column {
        check_identifier(cx, lit, "column");
    }
    if !field.attrs.json {
        check_supported_type(cx, field.ty);
    }
    if field.attrs.version && (field.attrs.json || !is_type(field.ty, "i64")) {
        cx.error_spanned_by(
            field.ty,
            "#[thing(version)] needs an `i64` field, bumped by every save: \
             `#[thing(version)] version: i64`",
        );
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
    if let Some((what, fix)) = unsupported_kind(ty) {
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
    match (name.as_str(), first_type_argument(segment)) {
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

/// What `ty` is and how to fix it, when it is of a kind (reference, tuple, ...)
/// of which no type is a column.
fn unsupported_kind(ty: &syn::Type) -> Option<(&'static str, &'static str)> {
    match ty {
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
    }
}

/// The first type argument of `segment`: `T` in `Option<T>`.
fn first_type_argument(segment: &syn::PathSegment) -> Option<&syn::Type> {
    match &segment.arguments {
        syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::Type(ty) => Some(ty),
            _ => None,
        }),
        _ => None,
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

/// Each column name at most once, reported at every repeat.
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

/// The constants of `Thing` a model reads as `User::TABLE`: a field whose
/// handle (its name in upper case) is one of them would shadow it.
const RESERVED_HANDLES: [&str; 4] = ["TABLE", "COLUMNS", "META", "SCHEMA_HASH"];

/// No column or relation field whose handle would shadow a constant of
/// `Thing`: `User::TABLE` must stay the table name, not a column handle.
fn check_reserved_handles(cx: &Ctxt, model: &Model) {
    let handled = model
        .fields
        .iter()
        .filter(|field| matches!(field.role, Role::Column | Role::Relation));
    for field in handled {
        let name = field.member.to_string();
        let name = name.trim_start_matches("r#");
        let handle = name.to_uppercase();
        if RESERVED_HANDLES.contains(&handle.as_str()) {
            cx.error_spanned_by(
                field.member,
                format!(
                    "a field named `{name}` would make the handle `{ident}::{handle}`, which is \
                     `Thing::{handle}`: rename the field, and keep its column name with \
                     #[thing(column = \"{name}\")]",
                    ident = model.ident
                ),
            );
        }
    }
}

/// At most one `#[thing(base)]` field (a `BaseModel` without it counts too).
fn check_single_base(cx: &Ctxt, model: &Model) {
    let bases = model
        .fields
        .iter()
        .filter(|field| field.role == Role::Base)
        .count();
    if bases > 1 {
        cx.error_spanned_by(
            model.ident,
            "a model can embed only one #[thing(base)] field",
        );
    }
}

/// An `id` column, of type `i64`.
fn check_id(cx: &Ctxt, model: &Model) {
    let ident = model.ident;
    let Some(id) = model.id else {
        cx.error_spanned_by(
            ident,
            format!(
                "model `{ident}` has no id: add `#[thing(base)] base: thing::BaseModel` or a field `id: i64`"
            ),
        );
        return;
    };
    let id = &model.columns[id];
    if !is_type(&id.ty, "i64") {
        cx.error_spanned_by(
            &id.ty,
            format!(
                "the `id` column is the primary key and must be `i64`: change the type of `{}` \
                 to `i64`, or map the field to another column with #[thing(column = \"...\")]",
                id.field_path
            ),
        );
    }
}

/// A `table` or `column` name: ASCII letters, digits and `_`, not starting with a
/// digit, at most 63 characters (PostgreSQL's limit).
fn check_identifier(cx: &Ctxt, lit: &syn::LitStr, what: &str) {
    let name = lit.value();
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
