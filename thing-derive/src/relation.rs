//! Generates what a model's relation fields give it: a handle per relation
//! (`User::POSTS`), a lazy `load_<field>` accessor, a join model per
//! `many_to_many`, the join tables `create_table` creates, and the
//! compile-time checks that need the related model's own items.

use crate::ast::{Field, Model};
use crate::attr::{Relation, RelationKind};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

/// The relation fields of `model`, with their attributes.
fn relations<'m>(model: &'m Model) -> impl Iterator<Item = (&'m Field<'m>, &'m Relation)> {
    model.fields.iter().filter_map(|field| {
        field
            .attrs
            .relation
            .as_ref()
            .map(|relation| (field, relation))
    })
}

/// Everything generated for the relations, outside the `const _` block (the
/// handles and accessors are public items of the model; join models are
/// types of their own).
pub fn items(model: &Model) -> TokenStream {
    let ident = model.ident;
    let mut handles = Vec::new();
    let mut joins = Vec::new();
    let mut checks = Vec::new();
    for (field, relation) in relations(model) {
        handles.push(handle(model, field, relation));
        checks.extend(foreign_key_check(&model.krate, relation));
        if relation.kind == RelationKind::ManyToMany {
            joins.push(join_model(model, field, relation));
        }
    }
    if handles.is_empty() {
        return TokenStream::new();
    }
    quote! {
        #(#joins)*
        #[automatically_derived]
        impl #ident {
            #(#handles)*
        }
        #(#checks)*
    }
}

/// For a `has_many`: the check of its key in the related model (an indexed
/// `i64` or `Option<i64>` column), evaluated at compile time even when the
/// handle is never used.
fn foreign_key_check(krate: &syn::Path, relation: &Relation) -> Option<TokenStream> {
    if relation.kind != RelationKind::HasMany {
        return None;
    }
    let index = has_many_key_index(krate, relation);
    Some(quote! {
        const _: usize = #index;
    })
}

/// The position of a `has_many` key in the related model, checked.
fn has_many_key_index(krate: &syn::Path, relation: &Relation) -> TokenStream {
    let target = relation.target.as_ref().expect("checked");
    let fk = relation.fk.as_ref().expect("checked");
    let fk_handle = syn::Ident::new(&fk.value().to_uppercase(), fk.span());
    let krate = respanned(krate, fk.span());
    quote_spanned! {fk.span()=>
        #krate::__private::foreign_key_index::<#target, _>(<#target>::#fk_handle)
    }
}

/// `const JOIN_TABLES` of the `Schema` impl: the DDL of each join table.
pub fn join_tables_const(model: &Model) -> TokenStream {
    let krate = &model.krate;
    let joins: Vec<_> = relations(model)
        .filter(|(_, relation)| relation.kind == RelationKind::ManyToMany)
        .map(|(field, _)| {
            let join = join_ident(model, field);
            quote!(#krate::__private::create_table_sql::<#join>)
        })
        .collect();
    if joins.is_empty() {
        return TokenStream::new();
    }
    quote! {
        const JOIN_TABLES: &'static [#krate::__private::JoinTableSql] = &[#(#joins),*];
    }
}

/// The handle const, its holder function and the lazy accessor of one
/// relation field.
fn handle(model: &Model, field: &Field, relation: &Relation) -> TokenStream {
    let krate = &model.krate;
    let vis = model.vis;
    let member = field.member;
    let name = member.to_string();
    let name = name.trim_start_matches("r#");
    let const_name = syn::Ident::new(&name.to_uppercase(), member.span());
    let holder_fn = format_ident!("__thing_{}_holder", name);
    let load = format_ident!("load_{}", name);
    let target = relation.target.as_ref().expect("checked");
    let fk = relation.fk.as_ref().expect("checked");
    let model_check = {
        let krate = respanned(krate, target_span(relation));
        quote_spanned! {target_span(relation)=>
            #krate::__private::assert_model::<#target>()
        }
    };
    let holder_ty = field.ty;
    let (handle_ty, handle_new, loaded_ty, load_doc) = match relation.kind {
        RelationKind::BelongsTo => {
            let fk_index = model
                .columns
                .iter()
                .position(|column| column.name == fk.value())
                .expect("checked");
            (
                quote!(#krate::relation::BelongsToRelation<Self, #target>),
                quote!(#krate::relation::BelongsToRelation::new(#fk_index, Self::#holder_fn)),
                quote!(::core::option::Option<&#target>),
                format!("Loads `{name}` (the cached `by_id` of its key) and returns it."),
            )
        }
        RelationKind::HasMany => {
            let fk_index = has_many_key_index(krate, relation);
            (
                quote!(#krate::relation::HasManyRelation<Self, #target>),
                quote!(#krate::relation::HasManyRelation::new(#fk_index, Self::#holder_fn)),
                quote!(&[#target]),
                format!("Loads `{name}` (a cached list on the foreign key) and returns them."),
            )
        }
        RelationKind::ManyToMany => {
            let join = join_ident(model, field);
            let mine = syn::Ident::new(&fk.value().to_uppercase(), Span::call_site());
            let other = relation.other_fk.as_ref().expect("checked");
            let other = syn::Ident::new(&other.value().to_uppercase(), Span::call_site());
            (
                quote!(#krate::relation::ManyToManyRelation<Self, #target, #join>),
                quote!(#krate::relation::ManyToManyRelation::new(
                    #join::#mine.index(),
                    #join::#other.index(),
                    Self::#holder_fn,
                )),
                quote!(&[#target]),
                format!(
                    "Loads `{name}` (cached join rows, then the cached `by_ids`) and returns them."
                ),
            )
        }
    };
    let doc = format!("The `{name}` relation, to load, preload or nest.");
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #vis const #const_name: #handle_ty = {
            #model_check;
            #handle_new
        };

        #[doc(hidden)]
        fn #holder_fn(model: &mut Self) -> &mut #holder_ty {
            &mut model.#member
        }

        #[doc = #load_doc]
        #[allow(dead_code)]
        #vis async fn #load<__E: #krate::Executor + ?::core::marker::Sized>(
            &mut self,
            executor: &__E,
        ) -> #krate::Result<#loaded_ty> {
            Self::#const_name.load(executor, self).await
        }
    }
}

/// `path` with every token at `span`, for a path inside `quote_spanned!`,
/// whose own tokens keep the span they were made with.
fn respanned(path: &syn::Path, span: Span) -> TokenStream {
    quote!(#path)
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect()
}

/// Where errors about the related model point: its name in the attribute.
fn target_span(relation: &Relation) -> Span {
    relation
        .target
        .as_ref()
        .map_or(relation.span, syn::spanned::Spanned::span)
}

/// The name of the join model of a `many_to_many` field.
fn join_ident(model: &Model, field: &Field) -> syn::Ident {
    let name = field.member.to_string();
    format_ident!(
        "__ThingJoin_{}_{}",
        model.ident,
        name.trim_start_matches("r#")
    )
}

/// The model of a join table: an id and the two keys, indexed, in the order
/// of their names, so that both sides of a relation declare the same columns
/// (and share its cached rows and lists).
fn join_model(model: &Model, field: &Field, relation: &Relation) -> TokenStream {
    let krate = &model.krate;
    // The join model names the runtime crate as its model does.
    let crate_attr = model
        .attrs
        .crate_lit
        .as_ref()
        .map(|lit| quote!(#[thing(crate = #lit)]));
    let vis = model.vis;
    let join = join_ident(model, field);
    let table = relation.join.as_ref().expect("checked").value();
    let mine = relation.fk.as_ref().expect("checked").value();
    let other = relation.other_fk.as_ref().expect("checked").value();
    let mut keys = [mine.clone(), other];
    keys.sort();
    let [first, second] = keys.map(|key| syn::Ident::new(&key, Span::call_site()));
    let first_handle = syn::Ident::new(&first.to_string().to_uppercase(), Span::call_site());
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(#krate::Thing, Debug, Clone, Default)]
        #[thing(table = #table)]
        #crate_attr
        #vis struct #join {
            id: i64,
            #[thing(index)]
            #first: i64,
            #[thing(index)]
            #second: i64,
        }

        #[automatically_derived]
        impl #krate::relation::JoinRow for #join {
            fn link(mine_column: usize, mine: i64, other: i64) -> Self {
                if mine_column == Self::#first_handle.index() {
                    Self { id: 0, #first: mine, #second: other }
                } else {
                    Self { id: 0, #first: other, #second: mine }
                }
            }
        }
    }
}
