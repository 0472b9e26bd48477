//! Running a [`Query`]: [`fetch`](Query::fetch), [`all`](Query::all),
//! [`first`](Query::first), [`count`](Query::count) and [`ids`](Query::ids),
//! through the cached list and the cached rows when the executor is a `Db` with
//! a cache, from SQL otherwise.

use crate::cache::context::CacheContext;
use crate::db::executor::{Executor, Target, slow_threshold};
use crate::db::handle::Db;
use crate::error::Result;
use crate::observe::{self, Reads};
use crate::query::Query;
use crate::read::list::{self, Hint, HintedRows};
use crate::read::select;
use crate::read::store;
use crate::schema::Schema;
use crate::sql::select::Page;

impl<M: Schema> Query<M> {
    /// Up to `limit` rows from position `offset`.
    ///
    /// Through a [`Db`](crate::Db) with a cache, the query's first ids (200 by
    /// default) and its count are cached; a page inside them costs one cache
    /// lookup plus `by_ids` (itself cached). A page past them reads its rows from
    /// SQL in one statement through Redis, or past 1 500 rows; through the
    /// in-process cache, its ids from SQL, then the cached rows.
    pub async fn fetch<E: Executor + ?Sized>(
        &self,
        executor: &E,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<M>> {
        let work = self.run_fetch(executor, offset, limit);
        let slow = slow_threshold(executor);
        observe::op!(
            "fetch",
            Reads::List,
            slow,
            (table = M::TABLE_NAME, offset, limit),
            work
        )
        .await
    }

    /// Every matching row.
    pub async fn all<E: Executor + ?Sized>(&self, executor: &E) -> Result<Vec<M>> {
        let slow = slow_threshold(executor);
        observe::op!(
            "all",
            Reads::List,
            slow,
            (table = M::TABLE_NAME),
            self.run_all(executor)
        )
        .await
    }

    /// The first matching row, if any.
    pub async fn first<E: Executor + ?Sized>(&self, executor: &E) -> Result<Option<M>> {
        let work = self.run_fetch(executor, 0, 1);
        let slow = slow_threshold(executor);
        let rows = observe::op!("first", Reads::List, slow, (table = M::TABLE_NAME), work).await?;
        Ok(rows.into_iter().next())
    }

    /// How many rows match (cached with the list).
    pub async fn count<E: Executor + ?Sized>(&self, executor: &E) -> Result<u64> {
        let work = self.run_count(executor);
        let slow = slow_threshold(executor);
        observe::op!("count", Reads::List, slow, (table = M::TABLE_NAME), work).await
    }

    /// The ids of every matching row, in order.
    pub async fn ids<E: Executor + ?Sized>(&self, executor: &E) -> Result<Vec<i64>> {
        let slow = slow_threshold(executor);
        observe::op!(
            "ids",
            Reads::List,
            slow,
            (table = M::TABLE_NAME),
            self.run_ids(executor)
        )
        .await
    }
}

impl<M: Schema> Query<M> {
    async fn run_fetch<E: Executor + ?Sized>(
        &self,
        executor: &E,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<M>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.run_rows(executor, Some((offset, limit))).await
    }

    async fn run_all<E: Executor + ?Sized>(&self, executor: &E) -> Result<Vec<M>> {
        self.run_rows(executor, None).await
    }

    /// The rows of `page` (`None`: every row): through the cache, read again
    /// when a write moved them between the list's ids and its rows, and in
    /// one SQL statement after [`ONE_STATE_ATTEMPTS`] such reads.
    async fn run_rows<E: Executor + ?Sized>(&self, executor: &E, page: Page) -> Result<Vec<M>> {
        let target = executor.__target();
        if self.matches_nothing() {
            return Ok(Vec::new());
        }
        let Some((db, cache)) = store::cached(target).await else {
            return select::rows(self, target, page).await;
        };
        for _ in 0..ONE_STATE_ATTEMPTS {
            if let Some(rows) = self.rows_cached(db, cache, page).await? {
                return Ok(rows);
            }
        }
        select::rows(self, target, page).await
    }

    /// The rows of `page` through the cache: the cached list's ids and the
    /// cached rows, or past the list's ids, as [`rows_from_sql`] says; `None`
    /// when a write moved the rows between the list's ids and its rows (see
    /// [`one_state`]).
    async fn rows_cached(
        &self,
        db: &Db,
        cache: &CacheContext,
        page: Page,
    ) -> Result<Option<Vec<M>>> {
        let target = Target::Db(db);
        let (list, hint, validity) = list::list_with_hint(db, cache, self, page).await?;
        let Some(validity) = validity else {
            return select::rows(self, target, page).await.map(Some);
        };
        let (offset, limit) = page.unwrap_or((0, u64::MAX));
        let loaded = if list.complete || offset.saturating_add(limit) <= list.ids.len() as u64 {
            let skip = usize::try_from(offset).unwrap_or(usize::MAX);
            let take = usize::try_from(limit).unwrap_or(usize::MAX);
            let ids: Vec<i64> = list.ids.iter().skip(skip).take(take).copied().collect();
            load_hinted(db, cache, &ids, hint).await?
        } else if rows_from_sql(cache, limit.min(list.count.saturating_sub(offset))) {
            return select::rows(self, target, page).await.map(Some);
        } else {
            let ids = select::ids(self, target, page).await?;
            load(db, cache, &ids).await?
        };
        Ok(one_state(db, cache, loaded, &validity).await)
    }

    async fn run_count<E: Executor + ?Sized>(&self, executor: &E) -> Result<u64> {
        let target = executor.__target();
        if self.matches_nothing() {
            return Ok(0);
        }
        match store::cached(target).await {
            Some((db, cache)) => Ok(list::list(db, cache, self).await?.count),
            None => select::count(self, target).await,
        }
    }

    async fn run_ids<E: Executor + ?Sized>(&self, executor: &E) -> Result<Vec<i64>> {
        let target = executor.__target();
        if self.matches_nothing() {
            return Ok(Vec::new());
        }
        if let Some((db, cache)) = store::cached(target).await {
            let list = list::list(db, cache, self).await?;
            if list.complete {
                return Ok(list.ids);
            }
        }
        select::ids(self, target, None).await
    }
}

/// Up to how many rows a read past a list's cached ids takes its ids from SQL
/// and its rows from an in-process cache; longer reads take the rows from
/// SQL. Measured (`list_cache` bench, PostgreSQL, 9 columns): against raw
/// sqlx, ids then the cached rows cost 1.15× at 260 rows and 1.07× at 1 000,
/// 1.24× at 2 000, where the rows from SQL cost 1.17–1.19× at every length.
const IN_PROCESS_ROWS_UP_TO: u64 = 1_500;

/// Whether a read of about `rows` rows past a list's cached ids takes them
/// from SQL rather than ids then the cache: always through a cache that is
/// a round trip away (through Redis, 1.21–1.27× raw sqlx against 1.64–2.08×),
/// and past [`IN_PROCESS_ROWS_UP_TO`] through the in-process one.
fn rows_from_sql(cache: &CacheContext, rows: u64) -> bool {
    cache.store.is_shared() || rows > IN_PROCESS_ROWS_UP_TO
}

/// How many times a cached page or list is read again when a write moved its
/// rows between its ids and its rows, before it is read in one SQL statement.
pub(crate) const ONE_STATE_ATTEMPTS: usize = 3;

/// Rows read after the ids that placed them, and whether they are sure to be
/// of the ids' state: none, or all from the cache call that read the list.
pub(crate) struct Loaded<M> {
    pub rows: Vec<M>,
    pub with_the_list: bool,
}

/// The rows, if they are of one state with the list that placed them: read
/// in the list's own cache call, or with the list's stamps unmoved since it
/// was valid — then no write to a row it holds or could hold began in
/// between (a write bumps them before its commit). `None`: read again.
pub(crate) async fn one_state<M>(
    db: &Db,
    cache: &CacheContext,
    loaded: Loaded<M>,
    validity: &list::Validity,
) -> Option<Vec<M>> {
    if loaded.with_the_list || list::still_valid(db, cache, validity).await {
        return Some(loaded.rows);
    }
    tracing::debug!(target: "thing", "a write moved a cached list's rows while they were read: reading again");
    None
}

/// Rows `ids` through the object cache, as [`load`]; from the rows looked up
/// along with their list when that hint named exactly these ids, else
/// remembered as the hint of the read's next time.
pub(crate) async fn load_hinted<M: Schema>(
    db: &Db,
    cache: &CacheContext,
    ids: &[i64],
    hint: Option<Hint>,
) -> Result<Loaded<M>> {
    let Some(hint) = hint.filter(|_| !ids.is_empty()) else {
        return load(db, cache, ids).await;
    };
    match hint.rows {
        Some(rows) if *rows.ids == *ids => {
            let lookups = store::looked(db, cache, &rows.keys, rows.answer, rows.at);
            let (found, with_the_list) =
                store::resolve_telling::<M>(db, cache, ids, &rows.keys, lookups).await?;
            Ok(Loaded {
                rows: found.into_iter().flatten().collect(),
                with_the_list,
            })
        }
        unused => {
            // A cache whose tokens are leases gets back those of the hint.
            if let Some(HintedRows {
                keys,
                answer: Ok((lookups, _)),
                ..
            }) = unused
            {
                store::release_leases(cache, &keys, lookups);
            }
            cache.row_hints.set(&hint.read, ids);
            load(db, cache, ids).await
        }
    }
}

/// Rows by id through the object cache, in the order of `ids` (rows deleted
/// since are skipped), in a cache call of their own.
pub(crate) async fn load<M: Schema>(
    db: &Db,
    cache: &CacheContext,
    ids: &[i64],
) -> Result<Loaded<M>> {
    if ids.is_empty() {
        return Ok(Loaded {
            rows: Vec::new(),
            with_the_list: true,
        });
    }
    cache.pass_list_rows_gate().await;
    let rows = store::load::<M>(db, cache, ids).await?;
    Ok(Loaded {
        rows: rows.into_iter().flatten().collect(),
        with_the_list: false,
    })
}
