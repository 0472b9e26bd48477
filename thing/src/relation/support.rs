//! What the relation code `#[derive(Thing)]` generates calls: compile-time
//! checks that need the related model's items, and the DDL of join tables.

use crate::backend::dialect::Dialect;
use crate::model::Thing;
use crate::schema::{Column, Schema};
use crate::sql::ddl;

/// `CREATE TABLE` of a join model, with its indexes.
pub fn create_table_sql<T: Schema>(dialect: Dialect) -> Vec<String> {
    ddl::create_table::<T>(dialect)
}

/// Compiles only when `T` is a model.
pub const fn assert_model<T: Thing>() {}

/// A type a foreign key can have: `i64` or `Option<i64>`.
#[diagnostic::on_unimplemented(
    message = "a foreign key must be an `i64` or `Option<i64>` column, not `{Self}`",
    label = "this column is `{Self}`",
    note = "declare the key in the related model as `#[thing(index)] user_id: i64` (or `Option<i64>`)"
)]
pub trait ForeignKey {}

impl ForeignKey for i64 {}
impl ForeignKey for Option<i64> {}

/// The position of the foreign key `column` of `T`, which must be an indexed
/// `i64` or `Option<i64>` column (a compile error otherwise).
pub const fn foreign_key_index<T: Schema, V: ForeignKey>(column: Column<T, V>) -> usize {
    let def = &T::COLUMN_DEFS[column.index()];
    if !def.index && !def.unique {
        panic!(
            "the foreign key of has_many must be indexed in the related model: \
             mark it `#[thing(index)] user_id: i64`, so that only writes to a parent's \
             children drop its cached list"
        );
    }
    column.index()
}
