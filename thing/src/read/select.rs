//! A list query's statements run: its rows, ids or count (the text is
//! [`crate::sql::select`]'s), every value bound.

use crate::backend::{Backend, ModelIo, Session};
use crate::db::executor::{Target, with_session};
use crate::error::{Error, Result};
use crate::observe::stats::StatementKind;
use crate::query::Query;
use crate::query::filter::Expr;
use crate::read::fetch::{fetch_ids, fetch_models};
use crate::schema::Schema;
use crate::sql::dynamic;
use crate::sql::filter::Bind;
use crate::sql::select::{Page, Select, inlines_limit, page_number, statement};

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
        page_ids::<M, _>(&mut session, &expr, &order, page).await
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

async fn page_ids<T, DB>(
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
