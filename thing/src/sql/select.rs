//! A list query's `SELECT` text: its rows, ids or count, with its filter,
//! order and page; the values it binds, in order.

use crate::backend::dialect::Dialect;
use crate::query::filter::Expr;
use crate::schema::Schema;
use crate::sql::filter::Bind;

/// A page: `(offset, limit)`; `None` for every row.
pub(crate) type Page = Option<(u64, u64)>;

/// What a statement selects.
#[derive(Clone, Copy)]
pub(crate) enum Select {
    Rows,
    /// Rows, `FOR UPDATE`.
    LockedRows,
    Ids,
    Count,
}

/// `SELECT <what> FROM <table> WHERE <expr> [ORDER BY ...] [LIMIT ? OFFSET ?]`
/// (`LIMIT n OFFSET ?` on SQLite: see [`inlines_limit`]) and its bound values.
pub(crate) fn statement<'a, T: Schema>(
    dialect: Dialect,
    select: Select,
    expr: &'a Expr,
    order: &[(usize, bool)],
    page: Page,
) -> (String, Vec<Bind<'a>>) {
    let mut sql = String::from("SELECT ");
    push_selected::<T>(dialect, select, &mut sql);
    sql.push_str(" FROM ");
    dialect.push_quoted(&mut sql, T::TABLE_NAME);
    let mut args = Vec::new();
    if *expr != Expr::Const(true) {
        sql.push_str(" WHERE ");
        expr.render(dialect, T::COLUMN_DEFS, &mut sql, &mut args);
    }
    if !matches!(select, Select::Count) {
        push_order_by::<T>(dialect, order, &mut sql);
    }
    if let Some((_, limit)) = page {
        let mut bound = args.len();
        sql.push_str(" LIMIT ");
        if inlines_limit(dialect) {
            sql.push_str(itoa::Buffer::new().format(page_number(limit)));
        } else {
            bound += 1;
            dialect.push_placeholder(&mut sql, bound);
        }
        sql.push_str(" OFFSET ");
        dialect.push_placeholder(&mut sql, bound + 1);
    }
    if matches!(select, Select::LockedRows) && dialect != Dialect::Sqlite {
        sql.push_str(" FOR UPDATE");
    }
    (sql, args)
}

/// What comes between `SELECT` and `FROM`.
fn push_selected<T: Schema>(dialect: Dialect, select: Select, sql: &mut String) {
    match select {
        Select::Rows | Select::LockedRows => {
            for (i, column) in T::COLUMN_DEFS.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                dialect.push_quoted(sql, column.name);
            }
        }
        Select::Ids => dialect.push_quoted(sql, T::COLUMN_DEFS[T::MODEL_META.id].name),
        Select::Count => sql.push_str("COUNT(*)"),
    }
}

/// ` ORDER BY` the sort keys. NULLs sort first ascending and last descending
/// everywhere (the MySQL and SQLite default; PostgreSQL is told).
fn push_order_by<T: Schema>(dialect: Dialect, order: &[(usize, bool)], sql: &mut String) {
    sql.push_str(" ORDER BY ");
    for (i, &(column, descending)) in order.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let def = &T::COLUMN_DEFS[column];
        dialect.push_quoted(sql, def.name);
        // PostgreSQL sorts NULLs last going up, the others first: it is told
        // to sort them as the others do, but only for a column that can hold
        // NULL, so that a plain index on a NOT NULL column (the id's primary
        // key) serves the order.
        sql.push_str(
            match (descending, dialect == Dialect::Postgres && def.nullable) {
                (false, true) => " ASC NULLS FIRST",
                (true, true) => " DESC NULLS LAST",
                (false, false) => " ASC",
                (true, false) => " DESC",
            },
        );
    }
}

/// Whether a page's limit is written into the SQL as a number instead of
/// bound: on SQLite, where a bound `LIMIT ?` made a sorted 20-row page
/// (`ORDER BY age DESC, id LIMIT 20` over 200 rows) about a tenth slower than
/// `LIMIT 20`, with the plan unchanged. The number is an integer Thing formats
/// itself, never text from the caller; the offset stays bound, so that the
/// pages of one size share one prepared statement.
pub(crate) fn inlines_limit(dialect: Dialect) -> bool {
    dialect == Dialect::Sqlite
}

/// A page's limit or offset as the `BIGINT` SQL takes (larger ones are
/// clamped: no table has that many rows).
pub(crate) fn page_number(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
