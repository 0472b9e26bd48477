//! Every statement's text, in one place: a model's fixed statements
//! ([`model`]), writes ([`write`]), list selects ([`select`]) and the filters
//! inside them ([`filter`]), DDL ([`ddl`]) and the outbox's table
//! ([`outbox`]). All of it is built from identifiers `#[derive(Thing)]`
//! checked at compile time and the placeholders of each dialect; every value
//! is a bound parameter. The modules that run statements (`read`, `write`,
//! `cache::outbox`, `migrate`) hold no SQL of their own, except the catalog
//! queries of `migrate::introspect`.

pub(crate) mod ddl;
pub(crate) mod filter;
pub(crate) mod model;
pub(crate) mod outbox;
pub(crate) mod select;
pub(crate) mod write;

pub(crate) use model::{insertable, model_sql};
pub(crate) use write::{
    Guard, delete, increment, insert_rows, remove_in, select_for_update, set, touch, update,
};

use crate::backend::dialect::Dialect;
use crate::schema::ColumnDef;

/// A statement built at run time from compile-time identifiers and placeholders.
pub(crate) fn dynamic(sql: String) -> sqlx::SqlStr {
    sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(sql))
}

/// A statement kept for the life of the process.
pub(crate) fn fixed(sql: &'static str) -> sqlx::SqlStr {
    sqlx::SqlSafeStr::into_sql_str(sql)
}

/// The quoted names of `columns`, comma-separated.
fn column_list<'a>(dialect: Dialect, columns: impl Iterator<Item = &'a ColumnDef>) -> String {
    let mut sql = String::new();
    for (i, column) in columns.enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        dialect.push_quoted(&mut sql, column.name);
    }
    sql
}

/// `prefix` (such as `SELECT ... WHERE id IN (`) followed by `count`
/// placeholders and the closing parenthesis.
pub(crate) fn id_list(dialect: Dialect, prefix: &str, count: usize) -> String {
    let mut sql = String::with_capacity(prefix.len() + count * 4 + 1);
    sql.push_str(prefix);
    push_id_list(dialect, &mut sql, 1, count);
    sql
}

/// `count` placeholders from number `first` on, comma-separated, and the
/// closing parenthesis.
pub(crate) fn push_id_list(dialect: Dialect, sql: &mut String, first: usize, count: usize) {
    for n in first..first + count {
        if n > first {
            sql.push_str(", ");
        }
        dialect.push_placeholder(sql, n);
    }
    sql.push(')');
}
