//! A list query's SQL: `SELECT` of its rows, ids or count, with its filter,
//! order and page, every value bound.

use crate::backend::{Backend, ModelIo, Session};
use crate::db::executor::{Target, with_session};
use crate::dialect::Dialect;
use crate::error::{Error, Result};
use crate::fetch::{fetch_ids, fetch_models};
use crate::filter::{Bind, Expr};
use crate::query::Query;
use crate::schema::Schema;
use crate::sql::dynamic;
use crate::stats::StatementKind;

/// A page: `(offset, limit)`; `None` for every row.
pub(crate) type Page = Option<(u64, u64)>;

/// The query's condition, checked (see [`Expr::check`]); `None` when the
/// query, or its page, can select no row, so that no SQL is needed.
fn condition<M: Schema>(query: &Query<M>, page: Page) -> Result<Option<Expr>> {
    let expr = query.expr();
    expr.check()?;
    let empty = expr == Expr::Const(false) || page.is_some_and(|(_, limit)| limit == 0);
    Ok((!empty).then_some(expr))
}

/// How many rows match, from SQL.
pub(crate) async fn count<M: Schema>(query: &Query<M>, target: Target<'_>) -> Result<u64> {
    let Some(expr) = condition(query, None)? else {
        return Ok(0);
    };
    with_session!(target, |session| select_count::<M, _>(&mut session, &expr)
        .await)
}

/// The ids of a page of matching rows, in order, from SQL.
pub(crate) async fn ids<M: Schema>(
    query: &Query<M>,
    target: Target<'_>,
    page: Page,
) -> Result<Vec<i64>> {
    let Some(expr) = condition(query, page)? else {
        return Ok(Vec::new());
    };
    let order = query.sort_keys();
    with_session!(target, |session| {
        select_ids::<M, _>(&mut session, &expr, &order, page).await
    })
}

/// A page of matching rows, in order, from SQL.
pub(crate) async fn rows<M: Schema>(
    query: &Query<M>,
    target: Target<'_>,
    page: Page,
) -> Result<Vec<M>> {
    rows_as(query, target, page, Select::Rows).await
}

/// [`rows`], locked until the transaction of `target` ends (`FOR UPDATE`;
/// SQLite locks the whole database at the transaction's first write instead).
pub(crate) async fn locked_rows<M: Schema>(
    query: &Query<M>,
    target: Target<'_>,
    page: Page,
) -> Result<Vec<M>> {
    rows_as(query, target, page, Select::LockedRows).await
}

async fn rows_as<M: Schema>(
    query: &Query<M>,
    target: Target<'_>,
    page: Page,
    select: Select,
) -> Result<Vec<M>> {
    let Some(expr) = condition(query, page)? else {
        return Ok(Vec::new());
    };
    let order = query.sort_keys();
    with_session!(target, |session| {
        select_rows::<M, _>(&mut session, &expr, &order, page, select).await
    })
}

/// What a statement selects.
#[derive(Clone, Copy)]
enum Select {
    Rows,
    /// Rows, `FOR UPDATE`.
    LockedRows,
    Ids,
    Count,
}

/// `SELECT <what> FROM <table> WHERE <expr> [ORDER BY ...] [LIMIT ? OFFSET ?]`
/// (`LIMIT n OFFSET ?` on SQLite: see [`inlines_limit`]) and its bound values.
fn statement<'a, T: Schema>(
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

fn arguments<DB: Backend>(values: &[Bind<'_>], page: Page) -> Result<DB::Arguments> {
    let mut args = DB::Arguments::default();
    for value in values {
        match value {
            Bind::One(value) => DB::bind_value(value, &mut args),
            Bind::List(values) => DB::bind_list(values, &mut args),
        }
        .map_err(Error::encode)?;
    }
    if let Some((offset, limit)) = page {
        if !inlines_limit(DB::DIALECT) {
            DB::bind_id(page_number(limit), &mut args).map_err(Error::encode)?;
        }
        DB::bind_id(page_number(offset), &mut args).map_err(Error::encode)?;
    }
    Ok(args)
}

/// Whether a page's limit is written into the SQL as a number instead of
/// bound: on SQLite, where a bound `LIMIT ?` made a sorted 20-row page
/// (`ORDER BY age DESC, id LIMIT 20` over 200 rows) about a tenth slower than
/// `LIMIT 20`, with the plan unchanged. The number is an integer Thing formats
/// itself, never text from the caller; the offset stays bound, so that the
/// pages of one size share one prepared statement.
fn inlines_limit(dialect: Dialect) -> bool {
    dialect == Dialect::Sqlite
}

/// A page's limit or offset as the `BIGINT` SQL takes (larger ones are
/// clamped: no table has that many rows).
fn page_number(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn select_rows<T, DB>(
    session: &mut Session<'_, DB>,
    expr: &Expr,
    order: &[(usize, bool)],
    page: Page,
    select: Select,
) -> Result<Vec<T>>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let (sql, values) = statement::<T>(DB::DIALECT, select, expr, order, page);
    let args = arguments::<DB>(&values, page)?;
    fetch_models::<T, DB>(session, dynamic(sql), args, expected(page)).await
}

async fn select_ids<T, DB>(
    session: &mut Session<'_, DB>,
    expr: &Expr,
    order: &[(usize, bool)],
    page: Page,
) -> Result<Vec<i64>>
where
    T: Schema,
    DB: Backend,
{
    let (sql, values) = statement::<T>(DB::DIALECT, Select::Ids, expr, order, page);
    let args = arguments::<DB>(&values, page)?;
    fetch_ids::<DB>(
        session,
        StatementKind::Select,
        dynamic(sql),
        args,
        expected(page),
    )
    .await
}

/// The most rows a page's limit makes room for before any arrives: a page of
/// at most this many gets its `Vec` sized once; a larger one starts with room
/// for this many and grows as its rows come, and a list with no page grows
/// from empty (a limit is an upper bound, often far above the rows there).
const MOST_EXPECTED_ROWS: u64 = 16 * 1024;

/// How many rows to make room for: the page's limit, up to
/// [`MOST_EXPECTED_ROWS`].
fn expected(page: Page) -> usize {
    page.map_or(0, |(_, limit)| limit.min(MOST_EXPECTED_ROWS) as usize)
}

async fn select_count<T, DB>(session: &mut Session<'_, DB>, expr: &Expr) -> Result<u64>
where
    T: Schema,
    DB: Backend,
{
    let (sql, values) = statement::<T>(DB::DIALECT, Select::Count, expr, &[], None);
    let args = arguments::<DB>(&values, None)?;
    let row = session
        .fetch_optional(StatementKind::Select, dynamic(sql), args)
        .await?;
    let count = row.map(|row| DB::decode_id(&row)).transpose()?.unwrap_or(0);
    Ok(u64::try_from(count).unwrap_or(0))
}
