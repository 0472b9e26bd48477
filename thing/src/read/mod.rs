//! Reads: rows by id straight from the database ([`fetch`]), a list query's
//! statements run ([`select`]), cached rows ([`store`]), cached lists
//! ([`list`]), and running a [`Query`](crate::Query) ([`run`]).

pub(crate) mod fetch;
pub(crate) mod list;
pub(crate) mod page;
pub(crate) mod run;
pub(crate) mod seek;
pub(crate) mod select;
pub(crate) mod store;
