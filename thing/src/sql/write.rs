//! The text of writes: multi-row `INSERT`, `UPDATE` and `DELETE` by id with
//! their guards, increments with their range check, `SELECT ... FOR UPDATE`.

use super::column_list;
use super::model::{insertable, model_sql};
use crate::backend::dialect::Dialect;
use crate::schema::Schema;
use std::fmt::Write;

/// `INSERT` of `rows` rows in one statement, returning their ids:
/// `INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) RETURNING id`.
pub(crate) fn insert_rows<T: Schema>(dialect: Dialect, rows: usize) -> String {
    let table = dialect.quote(T::TABLE_NAME);
    let columns = column_list(
        dialect,
        insertable::<T>().map(|index| &T::COLUMN_DEFS[index]),
    );
    let width = insertable::<T>().count();
    let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            n += 1;
            dialect.push_placeholder(&mut sql, n);
        }
        sql.push(')');
    }
    let _ = write!(
        sql,
        " RETURNING {}",
        dialect.quote(T::COLUMN_DEFS[T::MODEL_META.id].name)
    );
    sql
}

/// A condition on a column's value before a write: `= ?` (bound to the value
/// the writer expects) or `IS NULL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    Equals(usize),
    IsNull(usize),
    /// `= ?`, bound to the version the writer read (`#[thing(version)]`).
    Version(usize),
}

/// `UPDATE <table> SET <columns> = ? ... WHERE id = ?` for the given column
/// indices, then `AND` each guard.
pub(crate) fn update<T: Schema>(dialect: Dialect, columns: &[usize], guards: &[Guard]) -> String {
    set::<T>(dialect, columns, None, guards)
}

/// [`update`], with `, v = v + 1` after the columns for the version column
/// `bumped`, when there is one.
pub(crate) fn set<T: Schema>(
    dialect: Dialect,
    columns: &[usize],
    bumped: Option<usize>,
    guards: &[Guard],
) -> String {
    let mut sql = update_set::<T>(dialect, columns);
    if let Some(version) = bumped {
        push_bump(dialect, &mut sql, T::COLUMN_DEFS[version].name);
    }
    push_where_id::<T>(dialect, &mut sql, columns.len() + 1, guards);
    sql
}

/// `UPDATE <table> SET <columns> = ?, ...`, placeholders from 1.
fn update_set<T: Schema>(dialect: Dialect, columns: &[usize]) -> String {
    let mut sql = String::from("UPDATE ");
    dialect.push_quoted(&mut sql, T::TABLE_NAME);
    sql.push_str(" SET ");
    for (i, &column) in columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        dialect.push_quoted(&mut sql, T::COLUMN_DEFS[column].name);
        sql.push_str(" = ");
        dialect.push_placeholder(&mut sql, i + 1);
    }
    sql
}

/// `DELETE FROM <table> WHERE id = ?`, then `AND` each guard.
pub(crate) fn delete<T: Schema>(dialect: Dialect, guards: &[Guard]) -> String {
    let mut sql = String::from("DELETE FROM ");
    dialect.push_quoted(&mut sql, T::TABLE_NAME);
    push_where_id::<T>(dialect, &mut sql, 1, guards);
    sql
}

/// `delete_many` in one statement: `DELETE FROM <table> WHERE id IN (?, …)`,
/// or with `set` (a soft delete's `deleted` and `updated_at`) `UPDATE <table>
/// SET <set> = ?, … WHERE id IN (…)`, returning every column of the rows it
/// wrote when `returning`. Placeholders: `set`'s, then the `count` ids.
pub(crate) fn remove_in<T: Schema>(
    dialect: Dialect,
    set: &[usize],
    count: usize,
    returning: bool,
) -> String {
    let mut sql = if set.is_empty() {
        let mut sql = String::from("DELETE FROM ");
        dialect.push_quoted(&mut sql, T::TABLE_NAME);
        sql
    } else {
        update_set::<T>(dialect, set)
    };
    sql.push_str(" WHERE ");
    dialect.push_quoted(&mut sql, T::COLUMN_DEFS[T::MODEL_META.id].name);
    sql.push_str(" IN (");
    super::push_id_list(dialect, &mut sql, set.len() + 1, count);
    if returning {
        sql.push_str(" RETURNING ");
        sql.push_str(&super::column_list(dialect, T::COLUMN_DEFS.iter()));
    }
    sql
}

/// ` WHERE id = ?` (placeholder `n`) and the guards, with the placeholders after.
fn push_where_id<T: Schema>(dialect: Dialect, sql: &mut String, n: usize, guards: &[Guard]) {
    sql.push_str(" WHERE ");
    dialect.push_quoted(sql, T::COLUMN_DEFS[T::MODEL_META.id].name);
    sql.push_str(" = ");
    dialect.push_placeholder(sql, n);
    let mut next = n + 1;
    for guard in guards {
        // MySQL would merge the primary key with the guard's index and lock
        // through it (deadlocking concurrent single-row writes): as an
        // expression, the guard is only checked on the row the id found.
        let (open, close) = match dialect {
            Dialect::MySql => ("(", ") IS TRUE"),
            _ => ("", ""),
        };
        sql.push_str(" AND ");
        sql.push_str(open);
        match *guard {
            Guard::Equals(column) | Guard::Version(column) => {
                dialect.push_quoted(sql, T::COLUMN_DEFS[column].name);
                sql.push_str(" = ");
                dialect.push_placeholder(sql, next);
                next += 1;
            }
            Guard::IsNull(column) => {
                dialect.push_quoted(sql, T::COLUMN_DEFS[column].name);
                sql.push_str(" IS NULL");
            }
        }
        sql.push_str(close);
    }
}

/// `SELECT <columns> FROM <table> WHERE id = ?`, locking the row until the
/// transaction ends: `FOR UPDATE` on PostgreSQL and MySQL. SQLite has no row
/// locks; [`touch`] takes its write lock first.
pub(crate) fn select_for_update<T: Schema>(dialect: Dialect) -> String {
    let mut sql = model_sql::<T>(dialect).select_by_id.clone();
    if dialect != Dialect::Sqlite {
        sql.push_str(" FOR UPDATE");
    }
    sql
}

/// `UPDATE <table> SET id = id WHERE id = ?`: a write that changes nothing,
/// which makes a SQLite transaction take the database's write lock, so that
/// what it reads next cannot change before it commits.
pub(crate) fn touch<T: Schema>(dialect: Dialect) -> String {
    let id = dialect.quote(T::COLUMN_DEFS[T::MODEL_META.id].name);
    let mut sql = format!(
        "UPDATE {} SET {id} = {id} WHERE {id} = ",
        dialect.quote(T::TABLE_NAME)
    );
    dialect.push_placeholder(&mut sql, 1);
    sql
}

/// `UPDATE <table> SET c = c + ?[, updated_at = ?][, version = version + 1]
/// WHERE id = ?`, then `AND` each guard, and for an integer column `AND c
/// BETWEEN ? AND ?` (the values it may hold for the sum to stay in range).
pub(crate) fn increment<T: Schema>(dialect: Dialect, column: usize, guards: &[Guard]) -> String {
    let mut sql = String::from("UPDATE ");
    dialect.push_quoted(&mut sql, T::TABLE_NAME);
    sql.push_str(" SET ");
    dialect.push_quoted(&mut sql, T::COLUMN_DEFS[column].name);
    sql.push_str(" = ");
    dialect.push_quoted(&mut sql, T::COLUMN_DEFS[column].name);
    sql.push_str(" + ");
    dialect.push_placeholder(&mut sql, 1);
    let mut n = 1;
    if let Some(updated_at) = T::MODEL_META.updated_at {
        n += 1;
        sql.push_str(", ");
        dialect.push_quoted(&mut sql, T::COLUMN_DEFS[updated_at].name);
        sql.push_str(" = ");
        dialect.push_placeholder(&mut sql, n);
    }
    if let Some(version) = T::MODEL_META.version {
        push_bump(dialect, &mut sql, T::COLUMN_DEFS[version].name);
    }
    push_where_id::<T>(dialect, &mut sql, n + 1, guards);
    if T::COLUMN_DEFS[column].sql_type.integer_range().is_some() {
        let bound = guards
            .iter()
            .filter(|guard| !matches!(guard, Guard::IsNull(_)))
            .count();
        push_in_range::<T>(dialect, &mut sql, column, n + 2 + bound);
    }
    sql
}

/// `, v = v + 1`: the version column's bump.
fn push_bump(dialect: Dialect, sql: &mut String, version: &str) {
    sql.push_str(", ");
    dialect.push_quoted(sql, version);
    sql.push_str(" = ");
    dialect.push_quoted(sql, version);
    sql.push_str(" + 1");
}

/// ` AND c BETWEEN ? AND ?` (placeholders from `n`): the values the column
/// may hold for its sum to stay in its type's range, computed by the caller,
/// so that the check itself does no arithmetic that could overflow.
fn push_in_range<T: Schema>(dialect: Dialect, sql: &mut String, column: usize, n: usize) {
    sql.push_str(" AND ");
    dialect.push_quoted(sql, T::COLUMN_DEFS[column].name);
    sql.push_str(" BETWEEN ");
    dialect.push_placeholder(sql, n);
    sql.push_str(" AND ");
    dialect.push_placeholder(sql, n + 1);
}
