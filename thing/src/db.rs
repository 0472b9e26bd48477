//! [`Db`]: the handle every operation starts from, over one sqlx pool.

use crate::backend::{Backend, Session};
use crate::cache::{Cache, MemoryCache};
use crate::executor::{Target, with_session};
use crate::sql::{self, Dialect};
use crate::stats::{StatementKind, Stats, StatsCounters};
use crate::store::{CacheConfig, FillGate, ObjectCache};
use crate::transaction::{Transaction, TxConn};
use crate::{Error, Result, Thing};
use std::sync::Arc;
use std::time::Duration;

/// The sqlx pool of the backend chosen by the URL.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    stats: StatsCounters,
    cache: Option<ObjectCache>,
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
/// assert_eq!(db.dialect(), thing::sql::Dialect::Sqlite);
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

impl Db {
    /// Connects with default settings. See [`Db::builder`] to tune them.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url).build().await
    }

    /// A builder for a `Db` on `url`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = thing::Db::builder("sqlite::memory:")
    ///     .max_connections(4)
    ///     .acquire_timeout(std::time::Duration::from_secs(5))
    ///     .build()
    ///     .await?;
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn builder(url: &str) -> DbBuilder {
        DbBuilder {
            url: url.to_owned(),
            max_connections: None,
            min_connections: None,
            acquire_timeout: Duration::from_secs(30),
            cache: CacheChoice::Memory,
            cache_config: CacheConfig::default(),
        }
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

    pub(crate) fn object_cache(&self) -> Option<&ObjectCache> {
        self.inner.cache.as_ref()
    }

    fn cache_round_trips(&self) -> u64 {
        self.object_cache()
            .map_or(0, |objects| objects.cache.round_trips())
    }

    /// What this handle has done since it was created or last reset.
    pub fn stats(&self) -> Stats {
        self.inner.stats.snapshot(self.cache_round_trips())
    }

    /// Sets every counter of [`Db::stats`] back to zero.
    pub fn reset_stats(&self) {
        self.inner.stats.reset(self.cache_round_trips());
    }

    /// How many cache invalidations of this handle's writes the cache has not
    /// taken yet (it was unreachable). They are retried in the background; until
    /// then this handle reads those rows from the database. 0 without a cache.
    pub fn unflushed_invalidations(&self) -> usize {
        self.object_cache()
            .map_or(0, |objects| objects.unflushed.len())
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
    pub fn cache_key<T: Thing>(&self, id: i64) -> Option<String> {
        self.object_cache()
            .map(|objects| crate::store::key::<T>(&objects.config.prefix, id))
    }

    /// Test hook: when `on`, writes through this handle commit and then skip
    /// every cache invalidation, as if the process died right after its commit.
    #[doc(hidden)]
    pub fn __die_after_commit(&self, on: bool) {
        if let Some(objects) = self.object_cache() {
            objects
                .skip_after_commit
                .store(on, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Test hook: the next cached read that misses stops between its database
    /// query and its cache fill, notifies `reached`, and waits for `release`.
    /// Used to force the stale-fill interleaving deterministically.
    #[doc(hidden)]
    pub fn __pause_next_fill(
        &self,
        reached: std::sync::Arc<tokio::sync::Notify>,
        release: std::sync::Arc<tokio::sync::Notify>,
    ) {
        if let Some(objects) = self.object_cache() {
            objects.set_fill_gate(FillGate { reached, release });
        }
    }

    /// The SQLite pool, for queries Thing does not cover.
    #[cfg(feature = "sqlite")]
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
    pub fn as_mysql(&self) -> Option<&sqlx::MySqlPool> {
        #[allow(irrefutable_let_patterns)]
        if let Pool::MySql(pool) = self.pool() {
            Some(pool)
        } else {
            None
        }
    }

    /// Starts a transaction. Commit it with [`Transaction::commit`]; dropping it
    /// rolls it back.
    pub async fn begin(&self) -> Result<Transaction> {
        let conn = match self.pool() {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => TxConn::Sqlite(pool.begin().await?),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => TxConn::Postgres(pool.begin().await?),
            #[cfg(feature = "mysql")]
            Pool::MySql(pool) => TxConn::MySql(pool.begin().await?),
        };
        Ok(Transaction::new(self.clone(), conn))
    }

    /// Runs `f` in a transaction: commits when it returns `Ok`, rolls back when
    /// it returns `Err` (handing that error back) or panics.
    ///
    /// ```
    /// # use thing::{Db, Thing};
    /// # #[derive(Thing, Default)] struct Item { id: i64, name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = Db::connect("sqlite::memory:").await?;
    /// db.create_table::<Item>().await?;
    /// let id = db
    ///     .transaction(async |tx| {
    ///         let mut item = Item { name: "kept".into(), ..Default::default() };
    ///         item.save(tx).await?;
    ///         Ok(item.id)
    ///     })
    ///     .await?;
    /// assert_eq!(Item::by_id(&db, id).await?.name, "kept");
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// The future this returns is not `Send` (the closure's future cannot be
    /// named yet); in a task that must be `Send`, use [`Db::begin`].
    pub async fn transaction<R, F>(&self, f: F) -> Result<R>
    where
        F: AsyncFnOnce(&Transaction) -> Result<R>,
    {
        let tx = self.begin().await?;
        match f(&tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(err) => {
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(error = %rollback, "rollback failed after an error");
                }
                Err(err)
            }
        }
    }

    /// Creates the model's table and indexes if they do not exist.
    ///
    /// ```
    /// # use thing::{Db, Thing};
    /// # #[derive(Thing, Default)] struct Item { id: i64, #[thing(unique)] name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = Db::connect("sqlite::memory:").await?;
    /// db.create_table::<Item>().await?;
    /// db.create_table::<Item>().await?; // idempotent
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn create_table<T: Thing>(&self) -> Result<()> {
        let statements = sql::create_table::<T>(self.dialect());
        with_session!(Target::Db(self), |session| run_ddl(
            &mut session,
            statements
        )
        .await)
    }

    /// Drops the model's table if it exists.
    pub async fn drop_table<T: Thing>(&self) -> Result<()> {
        let statements = vec![sql::drop_table::<T>(self.dialect())];
        with_session!(Target::Db(self), |session| run_ddl(
            &mut session,
            statements
        )
        .await)
    }
}

async fn run_ddl<DB: Backend>(
    session: &mut Session<'_, DB>,
    statements: Vec<String>,
) -> Result<()> {
    for statement in statements {
        session
            .execute(
                StatementKind::Other,
                sql::dynamic(statement),
                DB::Arguments::default(),
            )
            .await?;
    }
    Ok(())
}

/// Settings for a [`Db`], from [`Db::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.build().await`"]
pub struct DbBuilder {
    url: String,
    max_connections: Option<u32>,
    min_connections: Option<u32>,
    acquire_timeout: Duration,
    cache: CacheChoice,
    cache_config: CacheConfig,
}

#[derive(Debug, Clone)]
enum CacheChoice {
    Memory,
    Custom(Arc<dyn Cache>),
    None,
}

/// Entries of the default [`MemoryCache`].
const DEFAULT_MEMORY_ENTRIES: u64 = 100_000;

impl DbBuilder {
    /// The most connections the pool opens (default: sqlx's, 10).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// The connections the pool keeps open even when idle (default 0; 1 for an
    /// in-memory SQLite database, which would vanish with its last connection).
    pub fn min_connections(mut self, min: u32) -> Self {
        self.min_connections = Some(min);
        self
    }

    /// How long an operation waits for a free connection before failing.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The object cache (default: a [`MemoryCache`] of 100 000 entries). Use a
    /// [`RedisCache`](crate::cache::RedisCache) when several processes write the
    /// same database.
    pub fn cache(mut self, cache: impl Cache) -> Self {
        self.cache = CacheChoice::Custom(Arc::new(cache));
        self
    }

    /// Turns the object cache off: every read goes to the database.
    pub fn no_cache(mut self) -> Self {
        self.cache = CacheChoice::None;
        self
    }

    /// How long a cached row lives (default 8 hours).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.cache_config.ttl = ttl;
        self
    }

    /// How long a missing id is remembered as absent (default 60 seconds).
    /// Creating the row clears the marker at once.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.cache_config.negative_ttl = ttl;
        self
    }

    /// The prefix of every cache key (default `thing`). Handles that share a
    /// Redis and a database must use the same prefix.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.cache_config.prefix = prefix.into();
        self
    }

    /// How many ids of each list query are cached (default 200): pages within
    /// them are served from the cache, pages past them from SQL.
    pub fn list_window(mut self, ids: usize) -> Self {
        self.cache_config.list_window = ids;
        self
    }

    /// How long a reader may hold a key's lease between its database read and
    /// its fill (default 10 seconds); a slower reader's fill is dropped.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.cache_config.lease_ttl = ttl;
        self
    }

    fn pool_options<DB: sqlx::Database>(&self, keep_one: bool) -> sqlx::pool::PoolOptions<DB> {
        let mut options = sqlx::pool::PoolOptions::<DB>::new()
            .test_before_acquire(false)
            .acquire_timeout(self.acquire_timeout);
        if let Some(max) = self.max_connections {
            options = options.max_connections(max);
        }
        let min = self.min_connections.unwrap_or(u32::from(keep_one));
        options = options.min_connections(min);
        if keep_one {
            options = options.idle_timeout(None).max_lifetime(None);
        }
        options
    }

    /// Opens the pool.
    pub async fn build(self) -> Result<Db> {
        let scheme = self.url.split(':').next().unwrap_or_default();
        let pool = match scheme {
            "sqlite" => self.sqlite().await?,
            "postgres" | "postgresql" => self.postgres().await?,
            "mysql" | "mariadb" => self.mysql().await?,
            _ => {
                return Err(Error::invalid_input(format_args!(
                    "unsupported database URL scheme `{scheme}`: use sqlite:, postgres:// or mysql://"
                )));
            }
        };
        let cache: Option<Arc<dyn Cache>> = match self.cache {
            CacheChoice::Memory => Some(Arc::new(MemoryCache::new(DEFAULT_MEMORY_ENTRIES))),
            CacheChoice::Custom(cache) => Some(cache),
            CacheChoice::None => None,
        };
        Ok(Db {
            inner: Arc::new(Inner {
                pool,
                stats: StatsCounters::default(),
                cache: cache.map(|cache| ObjectCache::new(cache, self.cache_config)),
            }),
        })
    }

    #[cfg(feature = "sqlite")]
    async fn sqlite(&self) -> Result<Pool> {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)?
            .create_if_missing(true)
            .foreign_keys(true)
            // LIKE is case-sensitive on every backend Thing supports.
            .pragma("case_sensitive_like", "ON");
        let in_memory = self.url.contains(":memory:") || self.url.contains("mode=memory");
        let pool = self.pool_options(in_memory).connect_with(options).await?;
        Ok(Pool::Sqlite(pool))
    }

    #[cfg(feature = "postgres")]
    async fn postgres(&self) -> Result<Pool> {
        let pool = self.pool_options(false).connect(&self.url).await?;
        Ok(Pool::Postgres(pool))
    }

    #[cfg(feature = "mysql")]
    async fn mysql(&self) -> Result<Pool> {
        let url = match self.url.strip_prefix("mariadb") {
            Some(rest) => format!("mysql{rest}"),
            None => self.url.clone(),
        };
        let pool = self.pool_options(false).connect(&url).await?;
        Ok(Pool::MySql(pool))
    }

    #[cfg(not(feature = "sqlite"))]
    async fn sqlite(&self) -> Result<Pool> {
        Err(disabled("sqlite"))
    }

    #[cfg(not(feature = "postgres"))]
    async fn postgres(&self) -> Result<Pool> {
        Err(disabled("postgres"))
    }

    #[cfg(not(feature = "mysql"))]
    async fn mysql(&self) -> Result<Pool> {
        Err(disabled("mysql"))
    }
}

#[allow(dead_code)]
fn disabled(feature: &str) -> Error {
    Error::invalid_input(format_args!(
        "this URL needs the `{feature}` feature of thing, which is not enabled"
    ))
}
