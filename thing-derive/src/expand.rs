//! Generates the `Thing` and `ModelIo` impls and the typed column handles.
//!
//! Each generator function below builds one piece of the output; [`thing_impl`],
//! [`model_io_impl`] and [`expand`] only put the pieces together.

use crate::ast::{Column, Field, Model, Role};
use crate::attr;
use crate::check;
use crate::ctxt::Ctxt;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

/// Parses and checks `input`, then generates the impls, or returns every error found.
pub fn derive(input: &syn::DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let model = Model::from_ast(&cx, input);
    if let Some(model) = &model {
        check::check(&cx, model);
    }
    match (cx.check(), model) {
        (Ok(()), Some(model)) => Ok(expand(&model)),
        (Err(err), _) => Err(err),
        (Ok(()), None) => unreachable!("a model that failed to parse reported an error"),
    }
}

/// What is emitted when the input has errors: the errors, plus impls whose
/// bodies never run, so that uses of the model do not pile more errors on top.
pub fn fallback(input: &syn::DeriveInput, errors: syn::Error) -> TokenStream {
    let ident = &input.ident;
    let errors = errors.to_compile_error();
    if !input.generics.params.is_empty() {
        return errors;
    }
    // A `crate = "..."` that is not a path leaves nothing to name the traits by.
    let Some(krate) = attr::declared_crate_path(&input.attrs) else {
        return errors;
    };
    let krate = &krate;
    let never = quote!(::core::unreachable!("#[derive(Thing)] reported errors"));
    let thing_impl = fallback_thing_impl(krate, ident, &never);
    let hooks_impl =
        (!attr::declares_hooks(&input.attrs)).then(|| default_hooks_impl(krate, ident));
    let io_impl = fallback_model_io_impl(krate, ident, &never);
    quote! {
        #errors
        const _: () = {
            #thing_impl
            #hooks_impl
            #io_impl
        };
    }
}

/// `impl Hooks` with every hook the default no-op, for a model without
/// `#[thing(hooks)]`.
fn default_hooks_impl(krate: &syn::Path, ident: &syn::Ident) -> TokenStream {
    quote! {
        #[automatically_derived]
        impl #krate::Hooks for #ident {}
    }
}

/// The `Schema` and `Thing` impls of [`fallback`], every method of which is
/// `never`.
fn fallback_thing_impl(krate: &syn::Path, ident: &syn::Ident, never: &TokenStream) -> TokenStream {
    quote! {
        #[automatically_derived]
        impl #krate::Thing for #ident {}
        #[automatically_derived]
        impl #krate::__private::Schema for #ident {
            const TABLE_NAME: &'static str = "";
            const COLUMN_DEFS: &'static [#krate::ColumnDef] = &[];
            const MODEL_META: #krate::ModelMeta = #krate::ModelMeta {
                id: 0, created_at: None, updated_at: None, deleted: None, version: None,
            };
            const SHAPE_HASH: u64 = 0;
            fn row_id(&self) -> i64 { #never }
            fn row_bytes(&self) -> ::std::vec::Vec<u8> { #never }
            fn write_row(&self, _: &mut #krate::__private::RowWriter) { #never }
            fn from_row_bytes(_: &[u8]) -> ::core::option::Option<Self> { #never }
            fn set_id(&mut self, _: i64, _: #krate::__private::Sealed) { #never }
            fn base(&self) -> ::core::option::Option<&#krate::BaseModel> { #never }
            fn base_mut(&mut self, _: #krate::__private::Sealed) -> ::core::option::Option<&mut #krate::BaseModel> { #never }
            fn is_deleted(&self) -> bool { #never }
            fn value(&self, _: usize) -> #krate::value::Value { #never }
            fn snapshot(&self) -> ::core::option::Option<&#krate::Snapshot> { #never }
            fn snapshot_mut(&mut self, _: #krate::__private::Sealed) -> ::core::option::Option<&mut #krate::Snapshot> { #never }
            fn statements() -> &'static #krate::__private::StatementCache { #never }
        }
    }
}

/// The `ModelIo` impl of [`fallback`], every method of which is `never`.
fn fallback_model_io_impl(
    krate: &syn::Path,
    ident: &syn::Ident,
    never: &TokenStream,
) -> TokenStream {
    quote! {
        #[automatically_derived]
        impl<__DB: #krate::__private::Backend> #krate::__private::ModelIo<__DB> for #ident {
            fn bind_column(
                &self,
                _: usize,
                _: &mut <__DB as #krate::__private::Database>::Arguments,
            ) -> ::core::result::Result<(), #krate::__private::BoxDynError> { #never }
            fn from_row(
                _: &<__DB as #krate::__private::Database>::Row,
            ) -> #krate::Result<Self> { #never }
        }
    }
}

/// Everything generated for a valid model.
fn expand(model: &Model) -> TokenStream {
    let thing_impl = thing_impl(model);
    let io_impl = model_io_impl(model);
    let handles = column_handles(model);
    let relations = crate::relation::items(model);
    let assertions = type_assertions(model);
    quote! {
        #handles
        #relations
        const _: () = {
            #assertions
            #thing_impl
            #io_impl
        };
    }
}

/// The `Schema` impl, assembled from the generators below, and the `Thing`
/// impl over it (every item of `Thing` has a default).
fn thing_impl(model: &Model) -> TokenStream {
    let ident = model.ident;
    let krate = &model.krate;
    let table = &model.table;
    let bounds = thing_bounds(model);
    let columns = columns_const(model);
    let meta = meta_const(model);
    let schema_hash = schema_hash_const(model);
    let id = id_fn(model);
    let encode_row = encode_row_fn(model);
    let decode_row = decode_row_fn(model);
    let set_id = set_id_fn(model);
    let base = base_fns(model);
    let value = value_fn(model);
    let is_deleted = is_deleted_fn(model);
    let version = version_fn(model);
    let snapshot = snapshot_fns(model);
    let statements = statements_fn(krate);
    let hooks = model.attrs.hooks;
    let join_tables = crate::relation::join_tables_const(model);
    let hooks_impl = (!hooks).then(|| default_hooks_impl(krate, ident));
    quote! {
        #[automatically_derived]
        impl #krate::Thing for #ident where for<'__thing> Self: #krate::__private::Schema {}

        #hooks_impl

        #[automatically_derived]
        impl #krate::__private::Schema for #ident
        where
            #bounds
        {
            const TABLE_NAME: &'static str = #table;
            const HOOKS: bool = #hooks;
            #join_tables
            #columns
            #meta
            #schema_hash

            #id

            #encode_row

            #decode_row

            #set_id

            #base

            #value

            #is_deleted

            #version

            #snapshot

            #statements
        }
    }
}

/// The `where` bounds of the `Schema` impl: `ModelIoAll` and the column traits
/// of each column type.
///
/// The impl holds under these bounds rather than requiring them: written with
/// `for<'__thing>` they are not checked where the impl is declared, so a field
/// type that is not a column is reported once, at the field, by
/// `type_assertions`, instead of again in every item of this impl and, through
/// the `ModelIoAll` supertrait, once per backend at the struct name. When
/// every field type is a column type the bounds hold and change nothing.
fn thing_bounds(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let mut seen = std::collections::HashSet::new();
    let column_bounds = model
        .columns
        .iter()
        .filter(|column| !column.json)
        .filter(|column| {
            let ty = &column.ty;
            seen.insert(quote!(#ty).to_string())
        })
        .map(|column| {
            let ty = &column.ty;
            quote! {
                for<'__thing> #ty: #krate::__private::ColumnType + #krate::__private::Codec + #krate::value::ToValue
            }
        });
    quote! {
        for<'__thing> Self: #krate::__private::ModelIoAll,
        #(#column_bounds,)*
    }
}

/// `const COLUMNS`: the `ColumnDef` of each column.
fn columns_const(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let column_defs = model.columns.iter().map(|column| column_def(krate, column));
    quote! {
        const COLUMN_DEFS: &'static [#krate::ColumnDef] = &[#(#column_defs),*];
    }
}

/// The `ColumnDef` of one column.
fn column_def(krate: &syn::Path, column: &Column) -> TokenStream {
    let name = &column.name;
    let field = &column.field_path;
    let (index, unique) = (column.index, column.unique);
    let default = match &column.default {
        Some(default) => quote!(::core::option::Option::Some(#default)),
        None => none(),
    };
    let (sql_type, nullable) = if column.json {
        (quote!(#krate::__private::SqlType::Json), quote!(false))
    } else {
        let ty = &column.ty;
        (
            quote!(<#ty as #krate::__private::ColumnType>::SQL_TYPE),
            quote!(<#ty as #krate::__private::ColumnType>::NULLABLE),
        )
    };
    quote! {
        #krate::ColumnDef {
            name: #name,
            field: #field,
            sql_type: #sql_type,
            nullable: #nullable,
            index: #index,
            unique: #unique,
            default: #default,
        }
    }
}

/// `const META`: the indexes of the id, timestamp and soft-delete columns.
fn meta_const(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let id_index = id_index(model);
    let created_at = option_index(model.created_at);
    let updated_at = option_index(model.updated_at);
    let deleted = option_index(model.deleted);
    let version = option_index(model.version);
    quote! {
        const MODEL_META: #krate::ModelMeta = #krate::ModelMeta {
            id: #id_index,
            created_at: #created_at,
            updated_at: #updated_at,
            deleted: #deleted,
            version: #version,
        };
    }
}

/// `const SCHEMA_HASH`: FNV-1a, computed at compile time, over the table name and
/// each column's name and type.
fn schema_hash_const(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let schema_hash = schema_parts(model).map(|part| {
        let bytes = syn::LitByteStr::new(part.as_bytes(), Span::call_site());
        quote!(let hash = #krate::__private::fnv1a(hash, #bytes);)
    });
    quote! {
        const SHAPE_HASH: u64 = {
            let hash = #krate::__private::FNV_OFFSET;
            #(#schema_hash)*
            hash
        };
    }
}

/// What the schema hash covers: the table name, then `name:type` (with `:json`
/// for JSON columns) for each column; the same whatever `crate = "..."` says.
fn schema_parts<'m>(model: &'m Model) -> impl Iterator<Item = String> + 'm {
    let columns = model.columns.iter().map(|column| {
        let json = if column.json { ":json" } else { "" };
        format!("{}:{}{json}", column.name, column.hashed_ty)
    });
    std::iter::once(model.table.clone()).chain(columns)
}

/// `fn id`: reads the id column.
fn id_fn(model: &Model) -> TokenStream {
    let id_access = &id_column(model).access;
    quote! {
        #[inline]
        fn row_id(&self) -> i64 {
            #id_access
        }
    }
}

/// `fn encode_row`: writes every column, in order, into the cache's row format.
fn encode_row_fn(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let encode = model.columns.iter().map(|column| {
        let access = &column.access;
        if column.json {
            // The type is written out in this call and the other json calls,
            // so that a type without serde's traits is reported at the field.
            let ty = &column.ty;
            quote!(writer.json_column::<#ty>(&#access);)
        } else {
            quote!(writer.column(&#access);)
        }
    });
    // Room for a typical row: a length byte and a few bytes per column.
    let capacity = 16 + 12 * model.columns.len();
    quote! {
        fn row_bytes(&self) -> ::std::vec::Vec<u8> {
            let mut writer = #krate::__private::RowWriter::with_capacity(#capacity);
            #krate::__private::Schema::write_row(self, &mut writer);
            writer.finish()
        }

        fn write_row(&self, writer: &mut #krate::__private::RowWriter) {
            #(#encode)*
        }
    }
}

/// `fn decode_row`: the inverse of `encode_row`, `None` on a malformed row.
fn decode_row_fn(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let decode_columns = model.columns.iter().enumerate().map(|(i, column)| {
        let var = column_var(i);
        let ty = &column.ty;
        if column.json {
            quote!(let #var: #ty = reader.json_column::<#ty>()?;)
        } else {
            quote!(let #var: #ty = reader.column()?;)
        }
    });
    let construct = construct(model);
    quote! {
        fn from_row_bytes(bytes: &[u8]) -> ::core::option::Option<Self> {
            let mut reader = #krate::__private::RowReader::new(bytes);
            #(#decode_columns)*
            if !reader.is_empty() {
                return ::core::option::Option::None;
            }
            ::core::option::Option::Some(#construct)
        }
    }
}

/// `fn set_id`: writes the id column.
fn set_id_fn(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let id_access = &id_column(model).access;
    quote! {
        #[inline]
        fn set_id(&mut self, id: i64, _: #krate::__private::Sealed) {
            #id_access = id;
        }
    }
}

/// `fn base` and `fn base_mut`: the `#[thing(base)]` field, if any.
fn base_fns(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let (base, base_mut) = match field_with_role(model, Role::Base) {
        Some(field) => {
            let member = field.member;
            (
                quote!(::core::option::Option::Some(&self.#member)),
                quote!(::core::option::Option::Some(&mut self.#member)),
            )
        }
        None => (none(), none()),
    };
    quote! {
        #[inline]
        fn base(&self) -> ::core::option::Option<&#krate::BaseModel> {
            #base
        }

        #[inline]
        fn base_mut(
            &mut self,
            _: #krate::__private::Sealed,
        ) -> ::core::option::Option<&mut #krate::BaseModel> {
            #base_mut
        }
    }
}

/// `fn value`: a column's value by index, `Opaque` for JSON columns.
fn value_fn(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let values = model.columns.iter().enumerate().map(|(i, column)| {
        let access = &column.access;
        if column.json {
            quote!(#i => #krate::value::Value::Opaque)
        } else {
            quote!(#i => #krate::value::ToValue::to_value(&#access))
        }
    });
    quote! {
        fn value(&self, column: usize) -> #krate::value::Value {
            match column {
                #(#values,)*
                _ => #krate::value::Value::Null,
            }
        }
    }
}

/// `fn version_mut`: the `#[thing(version)]` field, when there is one (the
/// trait's default says there is none).
fn version_fn(model: &Model) -> TokenStream {
    let Some(index) = model.version else {
        return TokenStream::new();
    };
    let krate = &model.krate;
    let access = &model.columns[index].access;
    quote! {
        #[inline]
        fn version_mut(&mut self, _: #krate::__private::Sealed) -> ::core::option::Option<&mut i64> {
            ::core::option::Option::Some(&mut #access)
        }
    }
}

/// `fn is_deleted`: the soft-delete column, or `false` without one.
fn is_deleted_fn(model: &Model) -> TokenStream {
    let is_deleted = match model.deleted {
        Some(index) => {
            let access = &model.columns[index].access;
            quote!(#access)
        }
        None => quote!(false),
    };
    quote! {
        #[inline]
        fn is_deleted(&self) -> bool {
            #is_deleted
        }
    }
}

/// `fn snapshot` and `fn snapshot_mut`: the `Snapshot` field, else the one
/// inside the base, else none.
fn snapshot_fns(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let base_field = field_with_role(model, Role::Base);
    let snapshot_field = field_with_role(model, Role::Snapshot);
    let (snapshot, snapshot_mut) = match (base_field, snapshot_field) {
        (_, Some(field)) => {
            let member = field.member;
            (
                quote!(::core::option::Option::Some(&self.#member)),
                quote!(::core::option::Option::Some(&mut self.#member)),
            )
        }
        (Some(field), None) => {
            let member = field.member;
            (
                quote!(::core::option::Option::Some(self.#member.__snapshot())),
                quote!(::core::option::Option::Some(self.#member.__snapshot_mut())),
            )
        }
        (None, None) => (none(), none()),
    };
    quote! {
        #[inline]
        fn snapshot(&self) -> ::core::option::Option<&#krate::Snapshot> {
            #snapshot
        }

        #[inline]
        fn snapshot_mut(
            &mut self,
            _: #krate::__private::Sealed,
        ) -> ::core::option::Option<&mut #krate::Snapshot> {
            #snapshot_mut
        }
    }
}

/// `fn statements`: the model's own cache of prepared SQL.
fn statements_fn(krate: &syn::Path) -> TokenStream {
    quote! {
        fn statements() -> &'static #krate::__private::StatementCache {
            static STATEMENTS: #krate::__private::StatementCache =
                #krate::__private::StatementCache::new();
            &STATEMENTS
        }
    }
}

/// `Self { ... }` from the decoded column variables `__c0`, `__c1`, ...
fn construct(model: &Model) -> TokenStream {
    let mut next_column = 0usize;
    let fields = model.fields.iter().map(|field| {
        let member = field.member;
        match field.role {
            Role::Column => {
                let var = column_var(next_column);
                next_column += 1;
                quote!(#member: #var)
            }
            Role::Base => {
                let base = construct_base(&model.krate, next_column);
                next_column += 4;
                quote!(#member: #base)
            }
            Role::Snapshot | Role::Skip | Role::Relation => {
                quote!(#member: ::core::default::Default::default())
            }
        }
    });
    let fields: Vec<_> = fields.collect();
    quote!(Self { #(#fields),* })
}

/// A `BaseModel` block from the four column variables from `__c{first}` on.
fn construct_base(krate: &syn::Path, first: usize) -> TokenStream {
    let [id, created_at, updated_at, deleted] = [0, 1, 2, 3].map(|i| column_var(first + i));
    quote!({
        let mut base = #krate::BaseModel::default();
        base.id = #id;
        base.created_at = #created_at;
        base.updated_at = #updated_at;
        base.deleted = #deleted;
        base
    })
}

/// The `ModelIo<__DB>` impl: binds and decodes columns through sqlx.
fn model_io_impl(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let ident = model.ident;
    let bounds = model
        .columns
        .iter()
        .filter(|column| !column.json)
        .map(|column| {
            let ty = &column.ty;
            quote!(#ty: #krate::__private::Field<__DB>)
        });
    let bind_column = bind_column_fn(model);
    let from_row = from_row_fn(model);
    quote! {
        #[automatically_derived]
        impl<__DB: #krate::__private::Backend> #krate::__private::ModelIo<__DB> for #ident
        where
            #(#bounds,)*
        {
            #bind_column

            #from_row
        }
    }
}

/// `fn bind_column`: binds one column, by index, as a query argument.
fn bind_column_fn(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let table = &model.table;
    let binds = model.columns.iter().enumerate().map(|(i, column)| {
        let access = &column.access;
        let ty = &column.ty;
        if column.json {
            quote!(#i => <__DB as #krate::__private::Backend>::bind_json::<#ty>(&#access, args))
        } else {
            quote!(#i => <#ty as #krate::__private::Field<__DB>>::bind(&#access, args))
        }
    });
    let column_count = model.columns.len();
    quote! {
        fn bind_column(
            &self,
            column: usize,
            args: &mut <__DB as #krate::__private::Database>::Arguments,
        ) -> ::core::result::Result<(), #krate::__private::BoxDynError> {
            match column {
                #(#binds,)*
                other => ::core::result::Result::Err(::std::format!(
                    "column index {} out of range for {} ({} columns)",
                    other, #table, #column_count
                ).into()),
            }
        }
    }
}

/// `fn from_row`: decodes every column of a database row, then builds the model.
fn from_row_fn(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let table = &model.table;
    let decodes = model.columns.iter().enumerate().map(|(i, column)| {
        let var = column_var(i);
        let ty = &column.ty;
        let name = &column.name;
        let read = if column.json {
            quote!(<__DB as #krate::__private::Backend>::decode_json::<#ty>(row, #i))
        } else {
            quote!(<#ty as #krate::__private::Field<__DB>>::decode(row, #i))
        };
        quote! {
            let #var: #ty = #read
                .map_err(|err| #krate::__private::decode_error(#table, #name, err))?;
        }
    });
    let construct = construct(model);
    quote! {
        fn from_row(
            row: &<__DB as #krate::__private::Database>::Row,
        ) -> #krate::Result<Self> {
            #(#decodes)*
            ::core::result::Result::Ok(#construct)
        }
    }
}

/// `impl Model { pub const FIELD: Column<Model, T> }`: one typed handle per column.
fn column_handles(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let ident = model.ident;
    let vis = model.vis;
    let handles = model.columns.iter().enumerate().map(|(i, column)| {
        let const_name = handle_name(column);
        let ty = &column.ty;
        let name = &column.name;
        let doc = format!("The `{name}` column.");
        quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            #vis const #const_name: #krate::Column<#ident, #ty> = #krate::Column::new(#i, #name);
        }
    });
    quote! {
        #[automatically_derived]
        impl #ident {
            #(#handles)*
        }
    }
}

/// The name of a column's handle: its field's name in upper case, spanned at the field.
fn handle_name(column: &Column) -> syn::Ident {
    let field = column.field_path.rsplit('.').next().unwrap_or_default();
    syn::Ident::new(&field.trim_start_matches("r#").to_uppercase(), column.span)
}

/// One assertion per column type, spanned at the field, so that an unsupported
/// type is reported where it is written, with the message of `ColumnType`'s
/// `#[diagnostic::on_unimplemented]`. Only `ColumnType` is asserted: a type that
/// lacks it almost always lacks `Codec` and `Field` too, and one error per field
/// is enough. A type with `ColumnType` but without the others (a hand-written
/// column type missing an impl) leaves the model without a `Thing` impl, which
/// is reported, naming the missing trait, where the model is used.
fn type_assertions(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let checks = model
        .columns
        .iter()
        .filter(|column| !column.json)
        .map(|column| {
            let ty = &column.ty;
            quote_spanned! {column.span=>
                let _ = __assert_column::<#ty>;
            }
        });
    quote! {
        #[allow(dead_code)]
        fn __assert_column<T: #krate::__private::ColumnType>() {}
        #[allow(dead_code)]
        fn __assert_columns() {
            #(#checks)*
        }
    }
}

/// The id column; `check` rejects a model without one before anything is generated.
fn id_column<'m>(model: &'m Model) -> &'m Column {
    &model.columns[id_index(model)]
}

/// The index of the id column, see [`id_column`].
fn id_index(model: &Model) -> usize {
    model.id.expect("check rejects a model without an id")
}

/// The first field with `role`.
fn field_with_role<'m, 'a>(model: &'m Model<'a>, role: Role) -> Option<&'m Field<'a>> {
    model.fields.iter().find(|field| field.role == role)
}

/// The variable `__c{index}` holding a decoded column.
fn column_var(index: usize) -> syn::Ident {
    format_ident!("__c{}", index)
}

/// `Some(index)` or `None`, as tokens.
fn option_index(index: Option<usize>) -> TokenStream {
    match index {
        Some(index) => quote!(::core::option::Option::Some(#index)),
        None => none(),
    }
}

/// `::core::option::Option::None`.
fn none() -> TokenStream {
    quote!(::core::option::Option::None)
}

#[cfg(test)]
mod tests {
    use super::{Ctxt, Model, derive, schema_parts};

    fn expanded(input: &syn::DeriveInput) -> String {
        derive(input).expect("a valid model").to_string()
    }

    fn hashed(input: &syn::DeriveInput) -> Vec<String> {
        let cx = Ctxt::new();
        let model = Model::from_ast(&cx, input);
        cx.check().expect("a valid model");
        schema_parts(&model.expect("a struct")).collect()
    }

    fn with_relations(crate_attr: Option<&str>) -> syn::DeriveInput {
        let attr = crate_attr.map(|path| quote::quote!(#[thing(crate = #path)]));
        syn::parse_quote! {
            #attr
            struct User {
                #[thing(base)]
                base: BaseModel,
                #[thing(json)]
                tags: Vec<String>,
                #[thing(version)]
                version: i64,
                #[thing(index)]
                team_id: i64,
                #[thing(belongs_to(Team, fk = "team_id"))]
                team: BelongsTo<Team>,
                #[thing(has_many(Post, fk = "user_id"))]
                posts: HasMany<Post>,
                #[thing(many_to_many(Role, join = "user_roles", fk = "user_id", other_fk = "role_id"))]
                roles: ManyToMany<Role>,
            }
        }
    }

    #[test]
    fn crate_path_names_the_runtime_crate_everywhere() {
        let out = expanded(&with_relations(Some("orm")));
        assert!(
            !out.contains("thing ::"),
            "a path through `thing` is left: {out}"
        );
        assert!(out.contains("impl orm :: __private :: Schema for User"));
        // The join model is derived through the same path.
        assert!(out.contains("# [derive (orm :: Thing"));
        assert!(out.contains("# [thing (crate = \"orm\")]"));
    }

    #[test]
    fn default_crate_path_is_thing() {
        let plain = syn::parse_quote! {
            struct Tag {
                id: i64,
                #[thing(unique)]
                name: String,
            }
        };
        let explicit = syn::parse_quote! {
            #[thing(crate = "::thing")]
            struct Tag {
                id: i64,
                #[thing(unique)]
                name: String,
            }
        };
        let out = expanded(&plain);
        assert!(out.contains("impl :: thing :: __private :: Schema for Tag"));
        assert_eq!(out, expanded(&explicit));
    }

    #[test]
    fn crate_path_leaves_the_schema_hash_alone() {
        assert_eq!(
            hashed(&with_relations(None)),
            hashed(&with_relations(Some("orm")))
        );
        assert!(hashed(&with_relations(Some("orm"))).contains(
            &"created_at:::thing::__private::DateTime<::thing::__private::Utc>".to_owned()
        ));
    }
}
