//! [`DbBuilder`]: a [`Db`]'s settings, and opening its pool.

use super::handle::Db;
use super::pool::Pool;
use crate::backend::health::Health;
use crate::cache::context::{CacheConfig, CacheContext, WritePolicy};
use crate::cache::{Cache, MemoryCache};
use crate::error::{Error, Result};
use crate::events::{Listeners, WriteEvent};
use std::sync::Arc;
use std::time::Duration;

mod sealed {
    pub trait Sealed {}
}

/// A sqlx pool a [`Db`] can run on: `SqlitePool`, `PgPool` or `MySqlPool`
/// (each with its backend's feature). See [`Db::from_pool`].
pub trait SqlxPool: sealed::Sealed {
    #[doc(hidden)]
    fn into_pool(self) -> Pool;
}

macro_rules! sqlx_pool {
    ($feature:literal, $pool:ty, $variant:ident) => {
        #[cfg(feature = $feature)]
        impl sealed::Sealed for $pool {}
        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl SqlxPool for $pool {
            fn into_pool(self) -> Pool {
                Pool::$variant(self)
            }
        }
    };
}

sqlx_pool!("sqlite", sqlx::SqlitePool, Sqlite);
sqlx_pool!("postgres", sqlx::PgPool, Postgres);
sqlx_pool!("mysql", sqlx::MySqlPool, MySql);

impl Db {
    /// A builder for a `Db` on a pool the application already has, so that it
    /// shares its connections with Thing. The cache settings of the builder
    /// apply; the pool's own settings stay as the application made them, so
    /// [`max_connections`](DbBuilder::max_connections),
    /// [`min_connections`](DbBuilder::min_connections),
    /// [`acquire_timeout`](DbBuilder::acquire_timeout),
    /// [`ping_idle_after`](DbBuilder::ping_idle_after) and
    /// [`statement_logging`](DbBuilder::statement_logging) have no effect (the
    /// [statement timeout](DbBuilder::statement_timeout) does). On SQLite,
    /// Thing's `like` is case-sensitive only on connections with
    /// `PRAGMA case_sensitive_like = ON`, which pools Thing opens set.
    ///
    /// ```
    /// # use thing::{Db, Thing};
    /// # #[derive(Thing, Default)] struct Item { id: i64, name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let pool = thing::sqlx::sqlite::SqlitePoolOptions::new()
    ///     .max_connections(1)
    ///     .connect("sqlite::memory:")
    ///     .await?;
    /// let db = Db::from_pool(pool.clone()).build().await?;
    /// db.create_table::<Item>().await?;
    /// Item { name: "pen".into(), ..Default::default() }.save(&db).await?;
    /// let (count,): (i64,) = thing::sqlx::query_as("SELECT count(*) FROM items")
    ///     .fetch_one(&pool)
    ///     .await?;
    /// assert_eq!(count, 1);
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn from_pool(pool: impl SqlxPool) -> DbBuilder {
        let mut builder = DbBuilder::new("");
        builder.pool = Some(pool.into_pool());
        builder
    }

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
        DbBuilder::new(url)
    }
}

/// Settings for a [`Db`], from [`Db::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.build().await`"]
pub struct DbBuilder {
    url: String,
    /// A pool the application built ([`Db::from_pool`]), used instead of one
    /// opened from `url`.
    pool: Option<Pool>,
    max_connections: Option<u32>,
    min_connections: Option<u32>,
    acquire_timeout: Duration,
    statement_timeout: Duration,
    ping_idle_after: Duration,
    slow_operation: Option<Duration>,
    statement_logging: StatementLogging,
    #[cfg(feature = "sqlite")]
    sqlite: super::sqlite_settings::SqliteSettings,
    listeners: Listeners,
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
    /// The default settings for `url`.
    pub(crate) fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            pool: None,
            max_connections: None,
            min_connections: None,
            acquire_timeout: Duration::from_secs(30),
            statement_timeout: Self::DEFAULT_STATEMENT_TIMEOUT,
            ping_idle_after: Self::DEFAULT_PING_IDLE_AFTER,
            slow_operation: Some(Self::DEFAULT_SLOW_OPERATION),
            statement_logging: StatementLogging::default(),
            #[cfg(feature = "sqlite")]
            sqlite: Default::default(),
            listeners: Listeners::default(),
            cache: CacheChoice::Memory,
            cache_config: CacheConfig::default(),
        }
    }

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

    /// The default [statement timeout](Self::statement_timeout): 30 s.
    ///
    /// ```
    /// assert_eq!(thing::DbBuilder::DEFAULT_STATEMENT_TIMEOUT.as_secs(), 30);
    /// ```
    pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

    /// The default [idle time before a ping](Self::ping_idle_after): 60 s.
    ///
    /// ```
    /// assert_eq!(thing::DbBuilder::DEFAULT_PING_IDLE_AFTER.as_secs(), 60);
    /// ```
    pub const DEFAULT_PING_IDLE_AFTER: Duration = Duration::from_secs(60);

    /// How long one statement may take, from sending it to its last row
    /// (default [`DEFAULT_STATEMENT_TIMEOUT`](Self::DEFAULT_STATEMENT_TIMEOUT),
    /// 30 s). A statement that takes longer fails with [`Error::Timeout`] and
    /// its connection is closed, so a database that stops answering cannot
    /// hang the caller. Outside a transaction the wait for a connection (and
    /// opening one) counts too, so the shorter of this and
    /// [`acquire_timeout`](Self::acquire_timeout) bounds that wait.
    ///
    /// ```
    /// let builder = thing::Db::builder("sqlite::memory:")
    ///     .statement_timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// SQLite's [journal mode](https://www.sqlite.org/pragma.html#pragma_journal_mode)
    /// for every connection (`PRAGMA journal_mode`); without it, the
    /// database's own (a new file starts in `DELETE`). Ignored by the other
    /// backends.
    ///
    /// ```
    /// use thing::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    /// let builder = thing::Db::builder("sqlite://app.db?mode=rwc")
    ///     .sqlite_journal_mode(SqliteJournalMode::Wal)
    ///     .sqlite_synchronous(SqliteSynchronous::Normal)
    ///     .sqlite_busy_timeout(std::time::Duration::from_secs(10));
    /// ```
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn sqlite_journal_mode(mut self, mode: sqlx::sqlite::SqliteJournalMode) -> Self {
        self.sqlite.journal_mode = Some(mode);
        self
    }

    /// SQLite's [`synchronous`](https://www.sqlite.org/pragma.html#pragma_synchronous)
    /// for every connection: `Normal` with WAL trades the durability of the
    /// last commits at a power loss for faster writes; without it, SQLite's
    /// `FULL`. Ignored by the other backends.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn sqlite_synchronous(mut self, synchronous: sqlx::sqlite::SqliteSynchronous) -> Self {
        self.sqlite.synchronous = Some(synchronous);
        self
    }

    /// How long a SQLite connection waits for another connection's lock
    /// before failing with "database is locked" (default: sqlx's 5 s).
    /// Ignored by the other backends.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn sqlite_busy_timeout(mut self, timeout: Duration) -> Self {
        self.sqlite.busy_timeout = Some(timeout);
        self
    }

    /// Pings a pooled connection before handing it out when it has been idle
    /// this long (default [`DEFAULT_PING_IDLE_AFTER`](Self::DEFAULT_PING_IDLE_AFTER),
    /// 60 s), and drops it if the ping fails; connections used more recently
    /// are handed out without a ping. Once a statement finds its connection
    /// dead (the server restarted), every connection idle since then is
    /// pinged too, and a read that failed that way runs again on another
    /// connection (at most once per pooled connection, as a restarting server
    /// closes them one after another). `Duration::ZERO` pings on every checkout (sqlx's
    /// `test_before_acquire`); `Duration::MAX` never for idleness, only after
    /// a lost connection.
    ///
    /// ```
    /// let builder = thing::Db::builder("sqlite::memory:")
    ///     .ping_idle_after(std::time::Duration::from_secs(10));
    /// ```
    pub fn ping_idle_after(mut self, idle: Duration) -> Self {
        self.ping_idle_after = idle;
        self
    }

    /// The default [slow-operation threshold](Self::slow_operation_threshold): 1 s.
    ///
    /// ```
    /// assert_eq!(thing::DbBuilder::DEFAULT_SLOW_OPERATION.as_secs(), 1);
    /// ```
    pub const DEFAULT_SLOW_OPERATION: Duration = Duration::from_secs(1);

    /// Operations (a `by_id`, a `save`, a query, a commit, ...) that take this
    /// long or longer are logged as a `WARN` event under the target
    /// `thing::slow`, with the operation, its table, its time, its statements
    /// and cache round trips (default
    /// [`DEFAULT_SLOW_OPERATION`](Self::DEFAULT_SLOW_OPERATION), 1 s).
    /// `None` turns the warning off. Timing costs nothing while no subscriber
    /// listens at `WARN` for `thing::slow`.
    ///
    /// ```
    /// let builder = thing::Db::builder("sqlite::memory:")
    ///     .slow_operation_threshold(Some(std::time::Duration::from_millis(200)));
    /// ```
    pub fn slow_operation_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.slow_operation = threshold;
        self
    }

    /// How sqlx logs the statements it runs (through `log`, which
    /// `tracing-subscriber` picks up with its `tracing-log` feature). By default
    /// sqlx's own settings apply: every statement at `DEBUG`, statements
    /// slower than 1 s at `WARN`. See [`StatementLogging`].
    ///
    /// ```
    /// use thing::StatementLogging;
    /// let quiet = thing::Db::builder("sqlite::memory:").statement_logging(StatementLogging::Off);
    /// let loud = thing::Db::builder("sqlite::memory:").statement_logging(StatementLogging::At {
    ///     level: tracing::Level::INFO,
    ///     slow: tracing::Level::WARN,
    ///     slow_after: std::time::Duration::from_millis(100),
    /// });
    /// ```
    pub fn statement_logging(mut self, logging: StatementLogging) -> Self {
        self.statement_logging = logging;
        self
    }

    /// Calls `listener` with every write through this `Db` once it has
    /// committed — each row inserted, updated, deleted, restored or
    /// incremented, with its table, id and the columns written — for
    /// example to feed a search index. Writes inside a transaction are
    /// reported after its `COMMIT`, in order; rolled-back work never is. The
    /// listener runs on the writer's task, after the write and its cache
    /// invalidation: keep it short (hand the event to a channel for slow
    /// work). Several listeners run in the order they were added.
    ///
    /// ```
    /// # use thing::{Db, Thing, WriteKind};
    /// # #[derive(Thing, Default)] struct Item { id: i64, name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (sender, receiver) = std::sync::mpsc::channel();
    /// let db = Db::builder("sqlite::memory:")
    ///     .on_write(move |event| sender.send(event.clone()).unwrap())
    ///     .build()
    ///     .await?;
    /// db.create_table::<Item>().await?;
    /// let mut pen = Item { name: "pen".into(), ..Default::default() };
    /// pen.save(&db).await?;
    /// let event = receiver.try_recv().unwrap();
    /// assert_eq!((event.table, event.id, event.kind), ("items", pen.id, WriteKind::Insert));
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn on_write(mut self, listener: impl Fn(&WriteEvent) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// The object cache (default: a [`MemoryCache`] of 100 000 entries). Use a
    /// `RedisCache` when several processes write the
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

    /// What a write does when a shared cache cannot be reached to lock its
    /// keys before the commit (default [`WritePolicy::Outbox`]: commit, record
    /// the invalidations in the `thing_outbox` table for any handle to apply,
    /// and return once one did, or fail with [`Error::CacheNotTold`] after the
    /// [outbox timeout](Self::outbox_timeout)). With
    /// [`WritePolicy::FailClosed`] such a write fails with [`Error::Cache`]
    /// and writes nothing.
    ///
    /// ```
    /// let builder = thing::Db::builder("sqlite::memory:")
    ///     .write_policy(thing::WritePolicy::FailClosed);
    /// ```
    pub fn write_policy(mut self, policy: WritePolicy) -> Self {
        self.cache_config.write_policy = policy;
        self
    }

    /// How often this handle applies the outbox to a shared cache in the
    /// background (default 250 ms): a write that could not reach the cache
    /// waits for some process to apply it, so this is most of what such a
    /// write costs while its process is cut off.
    ///
    /// ```
    /// let builder = thing::Db::builder("sqlite::memory:")
    ///     .outbox_interval(std::time::Duration::from_millis(200));
    /// ```
    pub fn outbox_interval(mut self, interval: Duration) -> Self {
        self.cache_config.outbox_interval = interval;
        self
    }

    /// How long a write that could not reach a shared cache, and so left its
    /// invalidations in the outbox, waits for some process to apply them
    /// (default 2 s). Past it, the write fails with
    /// [`Error::CacheNotTold`]: it committed, and other processes may read
    /// the old value until a drain applies it.
    ///
    /// ```
    /// let builder = thing::Db::builder("sqlite::memory:")
    ///     .outbox_timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn outbox_timeout(mut self, timeout: Duration) -> Self {
        self.cache_config.outbox_timeout = timeout;
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

    fn pool_options<DB: sqlx::Database>(
        &self,
        health: &Arc<Health>,
        keep_one: bool,
    ) -> sqlx::pool::PoolOptions<DB> {
        let health = Arc::clone(health);
        let mut options = sqlx::pool::PoolOptions::<DB>::new()
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                let ping = health.should_ping(meta.idle_for);
                let timeout = health.statement_timeout();
                Box::pin(async move {
                    if ping {
                        // A failed or hung ping drops the connection; the pool
                        // then tries the next one or opens a new one.
                        tokio::time::timeout(timeout, sqlx::Connection::ping(conn))
                            .await
                            .map_err(|_| sqlx::Error::PoolTimedOut)??;
                    }
                    Ok(true)
                })
            })
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
        let health = Arc::new(Health::new(self.statement_timeout, self.ping_idle_after));
        let pool = match self.pool.clone() {
            Some(pool) => pool,
            None => self.open_pool(&health).await?,
        };
        let cache: Option<Arc<dyn Cache>> = match self.cache {
            CacheChoice::Memory => Some(Arc::new(MemoryCache::new(DEFAULT_MEMORY_ENTRIES))),
            CacheChoice::Custom(cache) => Some(cache),
            CacheChoice::None => None,
        };
        let cache = cache.map(|cache| CacheContext::new(cache, self.cache_config));
        let returning = insert_returning(&pool).await?;
        let db = Db::from_parts(
            pool,
            cache,
            health,
            self.slow_operation,
            self.listeners,
            returning,
        );
        db.start_outbox().await;
        Ok(db)
    }

    /// The pool of the backend the URL's scheme names.
    async fn open_pool(&self, health: &Arc<Health>) -> Result<Pool> {
        let scheme = self.url.split(':').next().unwrap_or_default();
        match scheme {
            #[cfg(feature = "sqlite")]
            "sqlite" => self.sqlite(health).await,
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => self.postgres(health).await,
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => self.mysql(health).await,
            #[cfg(not(feature = "sqlite"))]
            "sqlite" => Err(disabled("sqlite")),
            #[cfg(not(feature = "postgres"))]
            "postgres" | "postgresql" => Err(disabled("postgres")),
            #[cfg(not(feature = "mysql"))]
            "mysql" | "mariadb" => Err(disabled("mysql")),
            _ => Err(Error::invalid_input(format_args!(
                "unsupported database URL scheme `{scheme}`: use sqlite:, postgres:// or mysql://"
            ))),
        }
    }

    #[cfg(feature = "sqlite")]
    async fn sqlite(&self, health: &Arc<Health>) -> Result<Pool> {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)?;
        let options = self
            .sqlite
            .apply(self.statement_logging.apply(options))
            .create_if_missing(true)
            .foreign_keys(true)
            // LIKE is case-sensitive on every backend Thing supports.
            .pragma("case_sensitive_like", "ON");
        let in_memory = self.url.contains(":memory:") || self.url.contains("mode=memory");
        let pool = self
            .pool_options(health, in_memory)
            .connect_with(options)
            .await?;
        Ok(Pool::Sqlite(pool))
    }

    #[cfg(feature = "postgres")]
    async fn postgres(&self, health: &Arc<Health>) -> Result<Pool> {
        use std::str::FromStr;
        let options = sqlx::postgres::PgConnectOptions::from_str(&self.url)?;
        let options = self.statement_logging.apply(options);
        let pool = self
            .pool_options(health, false)
            .connect_with(options)
            .await?;
        Ok(Pool::Postgres(pool))
    }

    #[cfg(feature = "mysql")]
    async fn mysql(&self, health: &Arc<Health>) -> Result<Pool> {
        let url = match self.url.strip_prefix("mariadb") {
            Some(rest) => format!("mysql{rest}"),
            None => self.url.clone(),
        };
        use std::str::FromStr;
        let options = sqlx::mysql::MySqlConnectOptions::from_str(&url)?;
        let options = self.statement_logging.apply(options);
        let pool = self
            .pool_options(health, false)
            .connect_with(options)
            .await?;
        Ok(Pool::MySql(pool))
    }
}

/// How sqlx logs the statements it runs; see [`DbBuilder::statement_logging`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementLogging {
    /// sqlx's defaults: every statement at `DEBUG`, and at `WARN` when it took
    /// 1 s or more.
    #[default]
    Sqlx,
    /// No statement logging by sqlx.
    Off,
    /// Every statement at `level`, and at `slow` when it took `slow_after` or
    /// more.
    At {
        /// The level of every statement.
        level: tracing::Level,
        /// The level of a slow statement.
        slow: tracing::Level,
        /// From how long a statement is slow.
        slow_after: Duration,
    },
}

/// Whether `pool`'s server takes `INSERT ... RETURNING`: SQLite and
/// PostgreSQL do; on MySQL's protocol, only MariaDB 10.5 and later (asked once,
/// when the `Db` is built).
async fn insert_returning(pool: &Pool) -> Result<bool> {
    match pool {
        #[cfg(feature = "mysql")]
        Pool::MySql(pool) => {
            let version: String = sqlx::query_scalar("SELECT VERSION()")
                .fetch_one(pool)
                .await?;
            Ok(mariadb_with_returning(&version))
        }
        #[allow(unreachable_patterns)]
        _ => Ok(true),
    }
}

/// Whether a MySQL-protocol server's `VERSION()` names MariaDB 10.5 or later.
#[cfg(any(feature = "mysql", test))]
fn mariadb_with_returning(version: &str) -> bool {
    if !version.contains("MariaDB") {
        return false;
    }
    // Older MariaDB servers put MySQL's "5.5.5-" in front of their version.
    let version = version.strip_prefix("5.5.5-").unwrap_or(version);
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse::<u32>().ok());
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    (major, minor) >= (10, 5)
}

impl StatementLogging {
    fn apply<O: sqlx::ConnectOptions>(self, options: O) -> O {
        match self {
            Self::Sqlx => options,
            Self::Off => options.disable_statement_logging(),
            Self::At {
                level,
                slow,
                slow_after,
            } => options
                .log_statements(log_level(level))
                .log_slow_statements(log_level(slow), slow_after),
        }
    }
}

/// `level` as the `log` crate's filter, which sqlx takes.
fn log_level(level: tracing::Level) -> log::LevelFilter {
    match level {
        tracing::Level::ERROR => log::LevelFilter::Error,
        tracing::Level::WARN => log::LevelFilter::Warn,
        tracing::Level::INFO => log::LevelFilter::Info,
        tracing::Level::DEBUG => log::LevelFilter::Debug,
        tracing::Level::TRACE => log::LevelFilter::Trace,
    }
}

/// The error for a URL whose backend this build leaves out.
#[cfg(not(all(feature = "sqlite", feature = "postgres", feature = "mysql")))]
fn disabled(feature: &str) -> Error {
    Error::invalid_input(format_args!(
        "this URL needs the `{feature}` feature of thing, which is not enabled"
    ))
}

#[cfg(test)]
mod tests {
    use super::mariadb_with_returning;

    #[test]
    fn only_mariadb_from_10_5_returns_inserted_ids() {
        assert!(mariadb_with_returning("10.11.19-MariaDB-0+deb12u1"));
        assert!(mariadb_with_returning("5.5.5-10.5.2-MariaDB"));
        assert!(!mariadb_with_returning("10.4.32-MariaDB"));
        assert!(!mariadb_with_returning("8.0.36"));
        assert!(!mariadb_with_returning("8.4.0-MySQL Community"));
    }
}
