//! [`Query`]: lists of rows by typed filters, ordered and paged.

use crate::backend::{Backend, ModelIo, Session};
use crate::executor::{Executor, Target, with_session};
use crate::filter::{Expr, Filter, Order};
use crate::sql::{Dialect, dynamic};
use crate::stats::StatementKind;
use crate::value::Value;
use crate::{Error, Result, Thing, crud, lists};
use std::marker::PhantomData;

/// A list query on model `M`, from [`Thing::query`]. Build it with
/// [`filter`](Self::filter), [`order_by`](Self::order_by) and friends, then run it
/// with [`fetch`](Self::fetch), [`all`](Self::all), [`first`](Self::first),
/// [`count`](Self::count) or [`ids`](Self::ids) on any executor.
///
/// Rows come in the given order, then by id, so pages are stable. Soft-deleted
/// rows are left out unless [`include_deleted`](Self::include_deleted).
///
/// ```
/// use thing::{BaseModel, Db, Thing};
///
/// #[derive(Thing, Debug, Clone, Default)]
/// struct User { #[thing(base)] base: BaseModel, name: String, age: i32 }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// db.create_table::<User>().await?;
/// for (name, age) in [("Ann", 31), ("Bob", 17), ("Abe", 45)] {
///     User { name: name.into(), age, ..Default::default() }.save(&db).await?;
/// }
/// let adults = User::query()
///     .filter(User::AGE.ge(18) & User::NAME.like("A%"))
///     .order_by(User::AGE.desc());
/// let names: Vec<String> = adults.all(&db).await?.into_iter().map(|u| u.name).collect();
/// assert_eq!(names, ["Abe", "Ann"]);
/// assert_eq!(adults.count(&db).await?, 2);
/// assert_eq!(adults.fetch(&db, 1, 10).await?.len(), 1);
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
pub struct Query<M> {
    filters: Vec<Expr>,
    order: Vec<(usize, bool)>,
    include_deleted: bool,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Query<M> {
    fn clone(&self) -> Self {
        Self {
            filters: self.filters.clone(),
            order: self.order.clone(),
            include_deleted: self.include_deleted,
            _model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Query<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("filters", &self.filters)
            .field("order", &self.order)
            .field("include_deleted", &self.include_deleted)
            .finish()
    }
}

/// What a statement selects.
#[derive(Clone, Copy)]
enum Select {
    Rows,
    Ids,
    Count,
}

impl<M: Thing> Query<M> {
    pub(crate) fn new() -> Self {
        Self {
            filters: Vec::new(),
            order: Vec::new(),
            include_deleted: false,
            _model: PhantomData,
        }
    }

    /// Keeps only rows matching `filter` (several calls: all must match).
    pub fn filter(mut self, filter: Filter<M>) -> Self {
        self.filters.push(filter.expr);
        self
    }

    /// Keeps only rows matching a SQL fragment, with `?` placeholders bound to
    /// `args` in order (no literal `?` in the fragment). The fragment is
    /// inserted as written: never build it from user input; bind values
    /// instead. Thing cannot tell which rows such a condition selects, so any
    /// write to the table drops this query's cached lists.
    ///
    /// ```
    /// # use thing::{BaseModel, Thing};
    /// # #[derive(Thing, Default)] struct User { #[thing(base)] base: BaseModel, name: String }
    /// let query = User::query().where_raw("lower(name) = ?", ["ann".into()]);
    /// # let _ = query;
    /// ```
    pub fn where_raw(
        mut self,
        sql: impl Into<String>,
        args: impl IntoIterator<Item = Value>,
    ) -> Self {
        self.filters.push(Expr::Raw {
            sql: sql.into(),
            args: args.into_iter().collect(),
        });
        self
    }

    /// Sorts by `order`; call again for the next key. Ties end by id.
    pub fn order_by(mut self, order: Order<M>) -> Self {
        self.order.push((order.column, order.descending));
        self
    }

    /// Includes soft-deleted rows.
    pub fn include_deleted(mut self) -> Self {
        self.include_deleted = true;
        self
    }

    /// The whole condition: the filters and the soft-delete rule.
    pub(crate) fn expr(&self) -> Expr {
        let mut parts = self.filters.clone();
        if let (Some(deleted), false) = (M::META.deleted, self.include_deleted) {
            parts.push(Expr::Cmp {
                column: deleted,
                op: crate::filter::CmpOp::Eq,
                value: Value::Bool(false),
            });
        }
        Expr::And(parts).simplify()
    }

    /// The sort keys, ending with the id.
    pub(crate) fn sort_keys(&self) -> Vec<(usize, bool)> {
        let mut keys = Vec::with_capacity(self.order.len() + 1);
        for &(column, descending) in &self.order {
            if !keys.iter().any(|&(seen, _)| seen == column) {
                keys.push((column, descending));
            }
        }
        if !keys.iter().any(|&(column, _)| column == M::META.id) {
            keys.push((M::META.id, false));
        }
        keys
    }

    /// Up to `limit` rows from position `offset`.
    ///
    /// Through a [`Db`](crate::Db) with a cache, the query's first ids (200 by
    /// default) and its count are cached; a page inside them costs one cache
    /// lookup plus [`Thing::by_ids`] (itself cached), a page past them reads just
    /// its ids from SQL.
    pub async fn fetch<E: Executor + ?Sized>(
        &self,
        executor: &E,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<M>> {
        let target = executor.__target();
        if limit == 0 || self.matches_nothing() {
            return Ok(Vec::new());
        }
        let Some((db, objects)) = cache_of(target) else {
            return self.rows(target, Some((offset, limit))).await;
        };
        let list = lists::list(db, objects, self).await?;
        let end = offset.saturating_add(limit);
        let ids: Vec<i64> = if list.complete || end <= list.ids.len() as u64 {
            let skip = usize::try_from(offset).unwrap_or(usize::MAX);
            let take = usize::try_from(limit).unwrap_or(usize::MAX);
            list.ids.iter().skip(skip).take(take).copied().collect()
        } else {
            self.page_ids(target, Some((offset, limit))).await?
        };
        load(db, objects, &ids).await
    }

    /// Every matching row.
    pub async fn all<E: Executor + ?Sized>(&self, executor: &E) -> Result<Vec<M>> {
        let target = executor.__target();
        if self.matches_nothing() {
            return Ok(Vec::new());
        }
        let Some((db, objects)) = cache_of(target) else {
            return self.rows(target, None).await;
        };
        let list = lists::list(db, objects, self).await?;
        let ids = if list.complete {
            list.ids
        } else {
            self.page_ids(target, None).await?
        };
        load(db, objects, &ids).await
    }

    /// The first matching row, if any.
    pub async fn first<E: Executor + ?Sized>(&self, executor: &E) -> Result<Option<M>> {
        Ok(self.fetch(executor, 0, 1).await?.into_iter().next())
    }

    /// How many rows match (cached with the list).
    pub async fn count<E: Executor + ?Sized>(&self, executor: &E) -> Result<u64> {
        let target = executor.__target();
        if self.matches_nothing() {
            return Ok(0);
        }
        match cache_of(target) {
            Some((db, objects)) => Ok(lists::list(db, objects, self).await?.count),
            None => self.count_in(target).await,
        }
    }

    /// The ids of every matching row, in order.
    pub async fn ids<E: Executor + ?Sized>(&self, executor: &E) -> Result<Vec<i64>> {
        let target = executor.__target();
        if self.matches_nothing() {
            return Ok(Vec::new());
        }
        if let Some((db, objects)) = cache_of(target) {
            let list = lists::list(db, objects, self).await?;
            if list.complete {
                return Ok(list.ids);
            }
        }
        self.page_ids(target, None).await
    }

    fn matches_nothing(&self) -> bool {
        self.expr() == Expr::Const(false)
    }

    /// The count, from SQL.
    pub(crate) async fn count_in(&self, target: Target<'_>) -> Result<u64> {
        let expr = self.expr();
        if expr == Expr::Const(false) {
            return Ok(0);
        }
        with_session!(target, |session| select_count::<M, _>(&mut session, &expr)
            .await)
    }

    pub(crate) async fn page_ids(
        &self,
        target: Target<'_>,
        page: Option<(u64, u64)>,
    ) -> Result<Vec<i64>> {
        let expr = self.expr();
        if expr == Expr::Const(false) || page.is_some_and(|(_, limit)| limit == 0) {
            return Ok(Vec::new());
        }
        let order = self.sort_keys();
        with_session!(target, |session| {
            select_ids::<M, _>(&mut session, &expr, &order, page).await
        })
    }

    async fn rows(&self, target: Target<'_>, page: Option<(u64, u64)>) -> Result<Vec<M>> {
        let expr = self.expr();
        if expr == Expr::Const(false) || page.is_some_and(|(_, limit)| limit == 0) {
            return Ok(Vec::new());
        }
        let order = self.sort_keys();
        with_session!(target, |session| {
            select_rows::<M, _>(&mut session, &expr, &order, page).await
        })
    }
}

/// The executor's `Db` and cache, when reads go through the cache.
fn cache_of(target: Target<'_>) -> Option<(&crate::Db, &crate::store::ObjectCache)> {
    match target {
        Target::Db(db) => db.object_cache().map(|objects| (db, objects)),
        Target::Tx(_) => None,
    }
}

/// Rows by id through the object cache, in the order of `ids` (rows deleted
/// since are skipped).
async fn load<M: Thing>(
    db: &crate::Db,
    objects: &crate::store::ObjectCache,
    ids: &[i64],
) -> Result<Vec<M>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(crate::store::load::<M>(db, objects, ids)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// `SELECT <what> FROM <table> WHERE <expr> [ORDER BY ...] [LIMIT ? OFFSET ?]`
/// and its bound values.
fn statement<'a, T: Thing>(
    dialect: Dialect,
    select: Select,
    expr: &'a Expr,
    order: &[(usize, bool)],
    page: Option<(u64, u64)>,
) -> (String, Vec<&'a Value>) {
    let mut sql = String::from("SELECT ");
    match select {
        Select::Rows => {
            for (i, column) in T::COLUMNS.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                dialect.push_quoted(&mut sql, column.name);
            }
        }
        Select::Ids => dialect.push_quoted(&mut sql, T::COLUMNS[T::META.id].name),
        Select::Count => sql.push_str("COUNT(*)"),
    }
    sql.push_str(" FROM ");
    dialect.push_quoted(&mut sql, T::TABLE);
    let mut args = Vec::new();
    if *expr != Expr::Const(true) {
        sql.push_str(" WHERE ");
        expr.render(dialect, T::COLUMNS, &mut sql, &mut args);
    }
    if !matches!(select, Select::Count) {
        sql.push_str(" ORDER BY ");
        for (i, &(column, descending)) in order.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            dialect.push_quoted(&mut sql, T::COLUMNS[column].name);
            // NULLs sort first ascending and last descending everywhere (the
            // MySQL and SQLite default; PostgreSQL is told).
            sql.push_str(match (descending, dialect) {
                (false, Dialect::Postgres) => " ASC NULLS FIRST",
                (true, Dialect::Postgres) => " DESC NULLS LAST",
                (false, _) => " ASC",
                (true, _) => " DESC",
            });
        }
    }
    if page.is_some() {
        let n = args.len();
        sql.push_str(" LIMIT ");
        dialect.push_placeholder(&mut sql, n + 1);
        sql.push_str(" OFFSET ");
        dialect.push_placeholder(&mut sql, n + 2);
    }
    (sql, args)
}

fn arguments<DB: Backend>(values: &[&Value], page: Option<(u64, u64)>) -> Result<DB::Arguments> {
    let mut args = DB::Arguments::default();
    for value in values {
        DB::bind_value(value, &mut args).map_err(crud::encode_error)?;
    }
    if let Some((offset, limit)) = page {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        DB::bind_id(as_i64(limit), &mut args).map_err(crud::encode_error)?;
        DB::bind_id(as_i64(offset), &mut args).map_err(crud::encode_error)?;
    }
    Ok(args)
}

async fn select_rows<T, DB>(
    session: &mut Session<'_, DB>,
    expr: &Expr,
    order: &[(usize, bool)],
    page: Option<(u64, u64)>,
) -> Result<Vec<T>>
where
    T: Thing + ModelIo<DB>,
    DB: Backend,
{
    let (sql, values) = statement::<T>(DB::DIALECT, Select::Rows, expr, order, page);
    let args = arguments::<DB>(&values, page)?;
    let rows = session
        .fetch_all(StatementKind::Select, dynamic(sql), args)
        .await?;
    rows.iter().map(crud::decode::<T, DB>).collect()
}

async fn select_ids<T, DB>(
    session: &mut Session<'_, DB>,
    expr: &Expr,
    order: &[(usize, bool)],
    page: Option<(u64, u64)>,
) -> Result<Vec<i64>>
where
    T: Thing,
    DB: Backend,
{
    let (sql, values) = statement::<T>(DB::DIALECT, Select::Ids, expr, order, page);
    let args = arguments::<DB>(&values, page)?;
    let rows = session
        .fetch_all(StatementKind::Select, dynamic(sql), args)
        .await?;
    rows.iter()
        .map(|row| DB::decode_id(row).map_err(Error::from))
        .collect()
}

async fn select_count<T, DB>(session: &mut Session<'_, DB>, expr: &Expr) -> Result<u64>
where
    T: Thing,
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
