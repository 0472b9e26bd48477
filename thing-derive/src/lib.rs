//! `#[derive(Thing)]`, the compile-time half of the [thing] ORM.
//!
//! Use it through the `thing` crate (`use thing::Thing;`); its documentation lists
//! the attributes.
//!
//! [thing]: https://docs.rs/thing

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod relation;

use proc_macro::TokenStream;

/// Implements `thing::Thing` for a struct with named fields.
///
/// Struct attributes: `#[thing(table = "...")]` (default: the snake_case plural of
/// the struct name), `#[thing(hooks)]` (the model implements `thing::Hooks`
/// itself; without it the derive implements it with every hook a no-op),
/// `#[thing(crate = "...")]` (the path the generated code names the runtime
/// crate by, default `::thing`: `crate = "orm"` in a crate that depends on it
/// as `orm = { package = "thing", ... }`, `crate = "my_facade::thing"` through
/// a re-export). Field attributes: `base` (embed `thing::BaseModel`),
/// `column = "..."`, `skip`, `index`, `unique`, `json`, `default = "<SQL>"`, `version`.
#[proc_macro_derive(Thing, attributes(thing))]
pub fn derive_thing(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    match expand::derive(&input) {
        Ok(tokens) => tokens.into(),
        Err(errors) => expand::fallback(&input, errors).into(),
    }
}
