//! Generates the `Thing` and `ModelIo` impls and the typed column handles.

use crate::ast::{Model, Role};
use crate::ctxt::Ctxt;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

pub fn derive(input: &syn::DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let model = Model::from_ast(&cx, input);
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
    let never = quote!(::core::unreachable!("#[derive(Thing)] reported errors"));
    quote! {
        #errors
        const _: () = {
            #[automatically_derived]
            impl ::thing::Thing for #ident {
                const TABLE: &'static str = "";
                const COLUMNS: &'static [::thing::ColumnDef] = &[];
                const META: ::thing::ModelMeta = ::thing::ModelMeta {
                    id: 0, created_at: None, updated_at: None, deleted: None,
                };
                const SCHEMA_HASH: u64 = 0;
                fn id(&self) -> i64 { #never }
                fn encode_row(&self) -> ::std::vec::Vec<u8> { #never }
                fn decode_row(_: &[u8]) -> ::core::option::Option<Self> { #never }
                fn __set_id(&mut self, _: i64) { #never }
                fn __base(&self) -> ::core::option::Option<&::thing::BaseModel> { #never }
                fn __base_mut(&mut self) -> ::core::option::Option<&mut ::thing::BaseModel> { #never }
                fn __is_deleted(&self) -> bool { #never }
                fn __value(&self, _: usize) -> ::thing::value::Value { #never }
                fn __snapshot(&self) -> ::core::option::Option<&::thing::Snapshot> { #never }
                fn __snapshot_mut(&mut self) -> ::core::option::Option<&mut ::thing::Snapshot> { #never }
                fn __statements() -> &'static ::thing::__private::StatementCache { #never }
            }
            #[automatically_derived]
            impl<__DB: ::thing::__private::Backend> ::thing::__private::ModelIo<__DB> for #ident {
                fn bind_column(
                    &self,
                    _: usize,
                    _: &mut <__DB as ::thing::__private::Database>::Arguments,
                ) -> ::core::result::Result<(), ::thing::__private::BoxDynError> { #never }
                fn from_row(
                    _: &<__DB as ::thing::__private::Database>::Row,
                ) -> ::thing::Result<Self> { #never }
            }
        };
    }
}

fn expand(model: &Model) -> TokenStream {
    let thing_impl = thing_impl(model);
    let io_impl = model_io_impl(model);
    let handles = column_handles(model);
    let assertions = type_assertions(model);
    quote! {
        #handles
        const _: () = {
            #assertions
            #thing_impl
            #io_impl
        };
    }
}

fn thing_impl(model: &Model) -> TokenStream {
    let ident = model.ident;
    let table = &model.table;
    let column_defs = model.columns.iter().map(|column| {
        let name = &column.name;
        let field = &column.field_path;
        let (index, unique) = (column.index, column.unique);
        let default = match &column.default {
            Some(default) => quote!(::core::option::Option::Some(#default)),
            None => quote!(::core::option::Option::None),
        };
        let (sql_type, nullable) = if column.json {
            (quote!(::thing::__private::SqlType::Json), quote!(false))
        } else {
            let ty = &column.ty;
            (
                quote!(<#ty as ::thing::__private::ColumnType>::SQL_TYPE),
                quote!(<#ty as ::thing::__private::ColumnType>::NULLABLE),
            )
        };
        quote! {
            ::thing::ColumnDef {
                name: #name,
                field: #field,
                sql_type: #sql_type,
                nullable: #nullable,
                index: #index,
                unique: #unique,
                default: #default,
            }
        }
    });
    let option = |index: Option<usize>| match index {
        Some(index) => quote!(::core::option::Option::Some(#index)),
        None => quote!(::core::option::Option::None),
    };
    let id_index = model.id;
    let (created_at, updated_at, deleted) = (
        option(model.created_at),
        option(model.updated_at),
        option(model.deleted),
    );
    let schema_parts = std::iter::once(table.clone()).chain(model.columns.iter().map(|column| {
        let ty = &column.ty;
        let json = if column.json { ":json" } else { "" };
        format!(
            "{}:{}{json}",
            column.name,
            quote!(#ty).to_string().replace(' ', "")
        )
    }));
    let schema_hash = schema_parts.map(|part| {
        let bytes = syn::LitByteStr::new(part.as_bytes(), Span::call_site());
        quote!(let hash = ::thing::__private::fnv1a(hash, #bytes);)
    });

    let id_access = &model.columns[model.id].access;
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
    let decode_columns = model.columns.iter().enumerate().map(|(i, column)| {
        let var = format_ident!("__c{}", i);
        let ty = &column.ty;
        if column.json {
            quote!(let #var: #ty = reader.json_column::<#ty>()?;)
        } else {
            quote!(let #var: #ty = reader.column()?;)
        }
    });
    let construct = construct(model);
    let base_field = model.fields.iter().find(|field| field.role == Role::Base);
    let snapshot_field = model
        .fields
        .iter()
        .find(|field| field.role == Role::Snapshot);
    let (base, base_mut) = match base_field {
        Some(field) => {
            let member = field.member;
            (
                quote!(::core::option::Option::Some(&self.#member)),
                quote!(::core::option::Option::Some(&mut self.#member)),
            )
        }
        None => (
            quote!(::core::option::Option::None),
            quote!(::core::option::Option::None),
        ),
    };
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
        (None, None) => (
            quote!(::core::option::Option::None),
            quote!(::core::option::Option::None),
        ),
    };
    let values = model.columns.iter().enumerate().map(|(i, column)| {
        let access = &column.access;
        if column.json {
            quote!(#i => ::thing::value::Value::Opaque)
        } else {
            quote!(#i => ::thing::value::ToValue::to_value(&#access))
        }
    });
    let is_deleted = match model.deleted {
        Some(index) => {
            let access = &model.columns[index].access;
            quote!(#access)
        }
        None => quote!(false),
    };

    // The impl holds under these bounds rather than requiring them: written with
    // `for<'__thing>` they are not checked where the impl is declared, so a field
    // type that is not a column is reported once, at the field, by
    // `type_assertions`, instead of again in every item of this impl and, through
    // the `ModelIoAll` supertrait, once per backend at the struct name. When
    // every field type is a column type the bounds hold and change nothing.
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
                for<'__thing> #ty: ::thing::__private::ColumnType + ::thing::__private::Codec + ::thing::value::ToValue
            }
        });

    quote! {
        #[automatically_derived]
        impl ::thing::Thing for #ident
        where
            for<'__thing> Self: ::thing::backend::ModelIoAll,
            #(#column_bounds,)*
        {
            const TABLE: &'static str = #table;
            const COLUMNS: &'static [::thing::ColumnDef] = &[#(#column_defs),*];
            const META: ::thing::ModelMeta = ::thing::ModelMeta {
                id: #id_index,
                created_at: #created_at,
                updated_at: #updated_at,
                deleted: #deleted,
            };
            const SCHEMA_HASH: u64 = {
                let hash = ::thing::__private::FNV_OFFSET;
                #(#schema_hash)*
                hash
            };

            #[inline]
            fn id(&self) -> i64 {
                #id_access
            }

            fn encode_row(&self) -> ::std::vec::Vec<u8> {
                let mut writer = ::thing::__private::RowWriter::new();
                #(#encode)*
                writer.finish()
            }

            fn decode_row(bytes: &[u8]) -> ::core::option::Option<Self> {
                let mut reader = ::thing::__private::RowReader::new(bytes);
                #(#decode_columns)*
                if !reader.is_empty() {
                    return ::core::option::Option::None;
                }
                ::core::option::Option::Some(#construct)
            }

            #[inline]
            fn __set_id(&mut self, id: i64) {
                #id_access = id;
            }

            #[inline]
            fn __base(&self) -> ::core::option::Option<&::thing::BaseModel> {
                #base
            }

            #[inline]
            fn __base_mut(&mut self) -> ::core::option::Option<&mut ::thing::BaseModel> {
                #base_mut
            }

            fn __value(&self, column: usize) -> ::thing::value::Value {
                match column {
                    #(#values,)*
                    _ => ::thing::value::Value::Null,
                }
            }

            #[inline]
            fn __is_deleted(&self) -> bool {
                #is_deleted
            }

            #[inline]
            fn __snapshot(&self) -> ::core::option::Option<&::thing::Snapshot> {
                #snapshot
            }

            #[inline]
            fn __snapshot_mut(&mut self) -> ::core::option::Option<&mut ::thing::Snapshot> {
                #snapshot_mut
            }

            fn __statements() -> &'static ::thing::__private::StatementCache {
                static STATEMENTS: ::thing::__private::StatementCache =
                    ::thing::__private::StatementCache::new();
                &STATEMENTS
            }
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
                let var = format_ident!("__c{}", next_column);
                next_column += 1;
                quote!(#member: #var)
            }
            Role::Base => {
                let vars: Vec<_> = (next_column..next_column + 4)
                    .map(|i| format_ident!("__c{}", i))
                    .collect();
                next_column += 4;
                let [id, created_at, updated_at, deleted] = &vars[..] else {
                    unreachable!("BaseModel has four columns")
                };
                quote!(#member: {
                    let mut base = ::thing::BaseModel::default();
                    base.id = #id;
                    base.created_at = #created_at;
                    base.updated_at = #updated_at;
                    base.deleted = #deleted;
                    base
                })
            }
            Role::Snapshot | Role::Skip => quote!(#member: ::core::default::Default::default()),
        }
    });
    let fields: Vec<_> = fields.collect();
    quote!(Self { #(#fields),* })
}

fn model_io_impl(model: &Model) -> TokenStream {
    let ident = model.ident;
    let table = &model.table;
    let bounds = model
        .columns
        .iter()
        .filter(|column| !column.json)
        .map(|column| {
            let ty = &column.ty;
            quote!(#ty: ::thing::__private::Field<__DB>)
        });
    let binds = model.columns.iter().enumerate().map(|(i, column)| {
        let access = &column.access;
        let ty = &column.ty;
        if column.json {
            quote!(#i => <__DB as ::thing::__private::Backend>::bind_json::<#ty>(&#access, args))
        } else {
            quote!(#i => <#ty as ::thing::__private::Field<__DB>>::bind(&#access, args))
        }
    });
    let decodes = model.columns.iter().enumerate().map(|(i, column)| {
        let var = format_ident!("__c{}", i);
        let ty = &column.ty;
        let name = &column.name;
        let read = if column.json {
            quote!(<__DB as ::thing::__private::Backend>::decode_json::<#ty>(row, #i))
        } else {
            quote!(<#ty as ::thing::__private::Field<__DB>>::decode(row, #i))
        };
        quote! {
            let #var: #ty = #read
                .map_err(|err| ::thing::__private::decode_error(#table, #name, err))?;
        }
    });
    let construct = construct(model);
    let column_count = model.columns.len();
    quote! {
        #[automatically_derived]
        impl<__DB: ::thing::__private::Backend> ::thing::__private::ModelIo<__DB> for #ident
        where
            #(#bounds,)*
        {
            fn bind_column(
                &self,
                column: usize,
                args: &mut <__DB as ::thing::__private::Database>::Arguments,
            ) -> ::core::result::Result<(), ::thing::__private::BoxDynError> {
                match column {
                    #(#binds,)*
                    other => ::core::result::Result::Err(::std::format!(
                        "column index {} out of range for {} ({} columns)",
                        other, #table, #column_count
                    ).into()),
                }
            }

            fn from_row(
                row: &<__DB as ::thing::__private::Database>::Row,
            ) -> ::thing::Result<Self> {
                #(#decodes)*
                ::core::result::Result::Ok(#construct)
            }
        }
    }
}

fn column_handles(model: &Model) -> TokenStream {
    let ident = model.ident;
    let vis = model.vis;
    let handles = model.columns.iter().enumerate().map(|(i, column)| {
        let const_name = syn::Ident::new(
            &column
                .field_path
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .trim_start_matches("r#")
                .to_uppercase(),
            column.span,
        );
        let ty = &column.ty;
        let name = &column.name;
        let doc = format!("The `{name}` column.");
        quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            #vis const #const_name: ::thing::Column<#ident, #ty> = ::thing::Column::new(#i, #name);
        }
    });
    quote! {
        #[automatically_derived]
        impl #ident {
            #(#handles)*
        }
    }
}

/// One assertion per column type, spanned at the field, so that an unsupported
/// type is reported where it is written, with the message of `ColumnType`'s
/// `#[diagnostic::on_unimplemented]`. Only `ColumnType` is asserted: a type that
/// lacks it almost always lacks `Codec` and `Field` too, and one error per field
/// is enough. A type with `ColumnType` but without the others (a hand-written
/// column type missing an impl) leaves the model without a `Thing` impl, which
/// is reported, naming the missing trait, where the model is used.
fn type_assertions(model: &Model) -> TokenStream {
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
        fn __assert_column<T: ::thing::__private::ColumnType>() {}
        #[allow(dead_code)]
        fn __assert_columns() {
            #(#checks)*
        }
    }
}
