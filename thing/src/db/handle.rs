//! [`Db`]: the handle every operation starts from: a pool, its counters and its
//! cache.

use super::pool::Pool;
use crate::backend::dialect::Dialect;
use crate::backend::health::Health;
use crate::cache::CacheCounts;
use crate::cache::context::CacheContext;
#[cfg(feature = "test-hooks")]
use crate::cache::hooks::{Gate, PausePoint};
use crate::events::{Listeners, WriteEvent};
use crate::observe::stats::{Stats, StatsCounters};
use crate::schema::Schema;
use std::sync::{Arc, Weak};
use std::time::Duration;
#[cfg(feature = "test-hooks")]
use tokio::sync::Notify;

#[derive(Debug)]
struct Inner {
    pool: Pool,
    stats: StatsCounters,
    cache: Option<CacheContext>,
    health: Arc<Health>,
    /// Operations at least this slow are logged (`thing::slow`).
    slow: Option<Duration>,
    listeners: Listeners,
    /// Whether `INSERT ... RETURNING` works (not on MySQL, on MariaDB 10.5+).
    returning: bool,
}

/// A connection pool to one database. Cheap to clone; clones share the pool and
/// the counters.
///
/// The backend comes from the URL scheme: `sqlite:`, `postgres://` (or
/// `postgresql://`), `mysql://` or `mariadb://`. Each is behind the cargo feature
/// of the same name (`sqlite`, `postgres`, `mysql`), all on by default.
///
/// ```
/// use thing::Db;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// assert_eq!(db.dialect(), thing::Dialect::Sqlite);
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

/// A [`Db`] that does not keep it alive, for background tasks.
pub(crate) struct WeakDb(Weak<Inner>);

impl WeakDb {
    /// The `Db`, unless every handle on it was dropped.
    pub fn upgrade(&self) -> Option<Db> {
        self.0.upgrade().map(|inner| Db { inner })
    }
}

impl Db {
    /// A handle on `pool`, counting into fresh counters, reading through `cache`.
    pub(crate) fn from_parts(
        pool: Pool,
        cache: Option<CacheContext>,
        health: Arc<Health>,
        slow: Option<Duration>,
        listeners: Listeners,
        returning: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                stats: StatsCounters::default(),
                cache,
                health,
                slow,
                listeners,
                returning,
            }),
        }
    }

    /// Whether the server takes `INSERT ... RETURNING`: SQLite, PostgreSQL,
    /// MariaDB 10.5 and later; not MySQL.
    pub(crate) fn insert_returning(&self) -> bool {
        self.inner.returning
    }

    /// Whether anyone listens to this handle's committed writes.
    pub(crate) fn has_listeners(&self) -> bool {
        !self.inner.listeners.is_empty()
    }

    /// Hands a committed write to the listeners.
    pub(crate) fn announce(&self, event: &WriteEvent) {
        self.inner.listeners.emit(event);
    }

    /// The slow-operation threshold, if any.
    pub(crate) fn slow_threshold(&self) -> Option<Duration> {
        self.inner.slow
    }

    /// A handle that does not keep the pool open.
    pub(crate) fn downgrade(&self) -> WeakDb {
        WeakDb(Arc::downgrade(&self.inner))
    }

    /// The statement timeout and what is known of the pool's connections.
    pub(crate) fn health(&self) -> &Health {
        &self.inner.health
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(crate) fn counters(&self) -> &StatsCounters {
        &self.inner.stats
    }

    /// The SQL dialect of the backend.
    pub fn dialect(&self) -> Dialect {
        match self.pool() {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            Pool::MySql(_) => Dialect::MySql,
        }
    }

    /// The cache and its context, unless the cache is off.
    pub(crate) fn cache(&self) -> Option<&CacheContext> {
        self.inner.cache.as_ref()
    }

    fn cache_counts(&self) -> CacheCounts {
        self.cache()
            .map_or_else(CacheCounts::default, |cache| cache.store.counts())
    }

    /// What this handle has done since it was created or last reset.
    pub fn stats(&self) -> Stats {
        self.inner.stats.snapshot(self.cache_counts())
    }

    /// Sets every counter of [`Db::stats`] back to zero.
    pub fn reset_stats(&self) {
        self.inner.stats.reset(self.cache_counts());
    }

    /// How many cache invalidations of this handle's writes the cache has not
    /// taken yet (it was unreachable). They are retried in the background; until
    /// then this handle reads those rows from the database. 0 without a cache.
    pub fn unflushed_invalidations(&self) -> usize {
        self.cache().map_or(0, |cache| cache.unflushed.len())
    }

    /// The cache key of row `id` of `T`, or `None` when this handle has no cache.
    ///
    /// ```
    /// # use thing::{Db, Thing};
    /// # #[derive(Thing, Default)] struct Item { id: i64, name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = Db::builder("sqlite::memory:").key_prefix("app").build().await?;
    /// let key = db.cache_key::<Item>(7).unwrap();
    /// assert!(key.starts_with("app:items:") && key.ends_with(":7"));
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn cache_key<T: Schema>(&self, id: i64) -> Option<String> {
        self.cache().map(|cache| cache.row_key::<T>(id))
    }

    /// Test hook (feature `test-hooks`): when `on`, writes through this handle
    /// commit and then skip every cache invalidation, as if the process died
    /// right after its commit.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __die_after_commit(&self, on: bool) {
        if let Some(cache) = self.cache() {
            cache.hooks.set_die_after_commit(on);
        }
    }

    /// Test hook (feature `test-hooks`): the next cached `by_id` granted a
    /// lease stops before it leads or joins a load of its key, notifies
    /// `reached`, and waits for `release`. Used to force a lease holder to
    /// find another reader's load in progress.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __pause_next_lease(&self, reached: Arc<Notify>, release: Arc<Notify>) {
        self.pause_next(PausePoint::Lease, reached, release);
    }

    /// Test hook (feature `test-hooks`): the next cached read that misses stops
    /// between its database query and its cache fill, notifies `reached`, and
    /// waits for `release`. Used to force the stale-fill interleaving.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __pause_next_fill(&self, reached: Arc<Notify>, release: Arc<Notify>) {
        self.pause_next(PausePoint::Fill, reached, release);
    }

    /// Test hook (feature `test-hooks`): the next write outside a transaction
    /// stops after its cache lock and before its SQL, notifies `reached`, and
    /// waits for `release`.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __pause_next_write_after_lock(&self, reached: Arc<Notify>, release: Arc<Notify>) {
        self.pause_next(PausePoint::WriteLocked, reached, release);
    }

    /// Test hook (feature `test-hooks`): the next write outside a transaction
    /// stops after its commit and before its cache invalidation, notifies
    /// `reached`, and waits for `release`.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __pause_next_write_after_commit(&self, reached: Arc<Notify>, release: Arc<Notify>) {
        self.pause_next(PausePoint::WriteCommitted, reached, release);
    }

    /// Test hook (feature `test-hooks`): the next cached list read (`fetch`,
    /// `all`, a keyset page) that loads its rows in a cache call of its own
    /// stops between its ids and that load, notifies `reached`, and waits
    /// for `release`. Used to force a write between a list and its rows.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __pause_next_list_rows(&self, reached: Arc<Notify>, release: Arc<Notify>) {
        self.pause_next(PausePoint::ListRows, reached, release);
    }

    #[cfg(feature = "test-hooks")]
    fn pause_next(&self, point: PausePoint, reached: Arc<Notify>, release: Arc<Notify>) {
        if let Some(cache) = self.cache() {
            cache.hooks.set_gate(point, Gate { reached, release });
        }
    }

    /// The SQLite pool, for queries Thing does not cover.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn as_sqlite(&self) -> Option<&sqlx::SqlitePool> {
        #[allow(irrefutable_let_patterns)]
        if let Pool::Sqlite(pool) = self.pool() {
            Some(pool)
        } else {
            None
        }
    }

    /// The PostgreSQL pool, for queries Thing does not cover.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub fn as_postgres(&self) -> Option<&sqlx::PgPool> {
        #[allow(irrefutable_let_patterns)]
        if let Pool::Postgres(pool) = self.pool() {
            Some(pool)
        } else {
            None
        }
    }

    /// The MySQL/MariaDB pool, for queries Thing does not cover.
    #[cfg(feature = "mysql")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
    pub fn as_mysql(&self) -> Option<&sqlx::MySqlPool> {
        #[allow(irrefutable_let_patterns)]
        if let Pool::MySql(pool) = self.pool() {
            Some(pool)
        } else {
            None
        }
    }
}
