//! Shared helpers for the integration tests: one fresh, private database per
//! test on each backend, and the models the tests use.
//!
//! Server URLs default to the services on this machine and can be overridden
//! with `THING_TEST_POSTGRES_URL` and `THING_TEST_MYSQL_URL`. When a server is
//! unreachable the test is skipped with a loud message, unless `CI=true`, where
//! it fails.

pub mod capture;
pub mod fault;
pub mod models;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thing::Db;
use thing::sqlx::{self, AssertSqlSafe};

/// The backends the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// A database that exists only for one test.
pub struct TestDb {
    pub db: Db,
    /// The URL of this test's database, for more handles on it.
    pub url: String,
    admin_url: Option<String>,
    name: String,
    pub backend: Backend,
}

/// Skips the test loudly, or fails it in CI.
pub fn skip(test: &str, reason: &str) {
    if in_ci() {
        panic!("{test}: {reason} (CI=true: not skipping)");
    }
    eprintln!("\n*** SKIPPING {test}: {reason} (set CI=true to fail instead) ***\n");
}

/// Whether this is a CI run (`CI=true`), where missing servers fail tests.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

fn server_url(backend: Backend) -> String {
    let (var, default) = match backend {
        Backend::Postgres => (
            "THING_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        ),
        Backend::MySql => ("THING_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
        Backend::Sqlite => unreachable!("SQLite needs no server"),
    };
    std::env::var(var).unwrap_or_else(|_| default.into())
}

/// A name no other test, in this process or another, uses.
pub fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "thing_t_{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database path replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|i| start + i))
        .unwrap_or(base.len());
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl TestDb {
    /// A fresh database on `backend`, or `None` (after a loud message) when its
    /// server is unreachable outside CI.
    pub async fn new(backend: Backend) -> Option<Self> {
        if backend == Backend::Sqlite {
            // A file, so that several handles can share the database.
            let name = unique_name();
            let path = std::env::temp_dir().join(format!("{name}.db"));
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let db = Db::connect(&url).await.expect("SQLite file database");
            return Some(Self {
                db,
                url,
                admin_url: None,
                name: path.display().to_string(),
                backend,
            });
        }
        let url = server_url(backend);
        let admin = match Db::builder(&url)
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .build()
            .await
        {
            Ok(admin) => admin,
            Err(err) => {
                if in_ci() {
                    panic!("CI=true and {backend:?} at {url} is unreachable: {err}");
                }
                eprintln!(
                    "\n*** SKIPPING {backend:?} TEST: {url} is unreachable ({err}). \
                     Start the server or set THING_TEST_*_URL; with CI=true this fails. ***\n"
                );
                return None;
            }
        };
        let name = unique_name();
        run(&admin, &format!("CREATE DATABASE {name}")).await;
        let test_url = with_database(&url, &name);
        let db = Db::builder(&test_url)
            .max_connections(5)
            .build()
            .await
            .expect("connect to the test database");
        Some(Self {
            db,
            url: test_url,
            admin_url: Some(url),
            name,
            backend,
        })
    }

    /// Drops the test's database (servers only).
    pub async fn finish(self) {
        let Some(url) = self.admin_url else {
            drop(self.db);
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.name));
            }
            return;
        };
        drop(self.db);
        let admin = Db::builder(&url)
            .max_connections(1)
            .build()
            .await
            .expect("admin");
        let sql = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        run(&admin, &sql).await;
    }

    /// Runs raw SQL outside Thing, as another client of the database would.
    pub async fn raw(&self, sql: &str) {
        run(&self.db, sql).await;
    }
}

async fn run(db: &Db, sql: &str) {
    let query = || sqlx::raw_sql(AssertSqlSafe(sql.to_owned()));
    let result = match db.dialect() {
        thing::Dialect::Sqlite => query().execute(db.as_sqlite().unwrap()).await.map(drop),
        thing::Dialect::Postgres => query().execute(db.as_postgres().unwrap()).await.map(drop),
        _ => query().execute(db.as_mysql().unwrap()).await.map(drop),
    };
    result.unwrap_or_else(|err| panic!("raw SQL `{sql}` failed: {err}"));
}

/// Waits (up to ten seconds) until every failed invalidation of `db` has been
/// retried into the cache, and asserts that it has.
pub async fn wait_until_flushed(db: &Db) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while db.unflushed_invalidations() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        db.unflushed_invalidations(),
        0,
        "the retried invalidations reached the cache"
    );
}

/// A small deterministic generator (xorshift64*), so random tests replay.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The object cache a test runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheKind {
    Memory,
    Redis,
    /// `RedisCache` with a near tier on each handle.
    Near,
}

/// The shared Redis of this machine (override with `THING_TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("THING_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Whether the shared Redis answers; outside CI, prints a loud skip message
/// when it does not, and in CI panics.
pub fn redis_available() -> bool {
    let url = redis_url();
    let address = url.trim_start_matches("redis://").trim_end_matches('/');
    let reachable = address
        .parse::<std::net::SocketAddr>()
        .ok()
        .and_then(|addr| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok())
        .is_some();
    if !reachable {
        if in_ci() {
            panic!("CI=true and Redis at {url} is unreachable");
        }
        eprintln!(
            "\n*** SKIPPING REDIS TEST: {url} is unreachable. With CI=true this fails. ***\n"
        );
    }
    reachable
}

/// A cache test: a database, and handles on it that share one cache.
pub struct CacheTest {
    pub t: TestDb,
    pub kind: CacheKind,
    prefix: String,
    memory: thing::cache::MemoryCache,
}

impl CacheTest {
    pub async fn new(backend: Backend, kind: CacheKind) -> Option<Self> {
        if kind != CacheKind::Memory && !redis_available() {
            return None;
        }
        let t = TestDb::new(backend).await?;
        Some(Self {
            t,
            kind,
            prefix: unique_name(),
            memory: thing::cache::MemoryCache::new(10_000),
        })
    }

    /// A new `Db` handle on the test database sharing this test's cache (the
    /// same `MemoryCache`, or the same Redis key prefix).
    pub async fn handle(&self) -> Db {
        self.handle_with(|builder| builder).await
    }

    /// [`CacheTest::handle`] with more builder settings.
    pub async fn handle_with(
        &self,
        configure: impl FnOnce(thing::DbBuilder) -> thing::DbBuilder,
    ) -> Db {
        let builder = Db::builder(&self.t.url)
            .max_connections(5)
            .key_prefix(self.prefix.clone());
        let builder = match self.kind {
            CacheKind::Memory => builder.cache(self.memory.clone()),
            CacheKind::Redis => builder.cache(
                thing::cache::RedisCache::connect(&redis_url())
                    .await
                    .expect("connect to Redis"),
            ),
            CacheKind::Near => builder.cache(self.near_cache().await),
        };
        configure(builder).build().await.expect("open a handle")
    }

    /// A `RedisCache` with a near tier on this test's key prefix, its lease
    /// held.
    pub async fn near_cache(&self) -> thing::cache::RedisCache {
        let cache = thing::cache::RedisCache::builder(&redis_url())
            .near(thing::cache::NearOptions::new().key_prefix(self.prefix.clone()))
            .build()
            .await
            .expect("connect to Redis");
        assert!(
            cache.is_near_serving(),
            "the near tier holds its lease once built"
        );
        cache
    }

    /// The in-process cache the handles share (for `CacheKind::Memory`).
    pub fn memory(&self) -> thing::cache::MemoryCache {
        self.memory.clone()
    }

    pub async fn finish(self) {
        self.t.finish().await;
    }
}

/// Defines one `#[tokio::test]` per backend and cache kind running `$body` with
/// `$c: &CacheTest`.
#[macro_export]
macro_rules! cache_tests {
    ($($(#[$doc:meta])* async fn $name:ident($c:ident) $body:block)*) => {
        $($(#[$doc])* mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($c: &$crate::CacheTest) $body

            async fn run(backend: $crate::Backend, kind: $crate::CacheKind) {
                let Some(test) = $crate::CacheTest::new(backend, kind).await else { return };
                body(&test).await;
                test.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_memory() { run($crate::Backend::Sqlite, $crate::CacheKind::Memory).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_redis() { run($crate::Backend::Sqlite, $crate::CacheKind::Redis).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_memory() { run($crate::Backend::Postgres, $crate::CacheKind::Memory).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() { run($crate::Backend::Postgres, $crate::CacheKind::Redis).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql_memory() { run($crate::Backend::MySql, $crate::CacheKind::Memory).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql_redis() { run($crate::Backend::MySql, $crate::CacheKind::Redis).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_near() { run($crate::Backend::Sqlite, $crate::CacheKind::Near).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_near() { run($crate::Backend::Postgres, $crate::CacheKind::Near).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql_near() { run($crate::Backend::MySql, $crate::CacheKind::Near).await }
        })*
    };
}

/// Defines one `#[tokio::test]` per backend running `$body` with `$db: &Db`.
#[macro_export]
macro_rules! backend_tests {
    ($($(#[$doc:meta])* async fn $name:ident($t:ident) $body:block)*) => {
        $($(#[$doc])* mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($t: &$crate::TestDb) $body

            async fn run(backend: $crate::Backend) {
                let Some(test_db) = $crate::TestDb::new(backend).await else { return };
                body(&test_db).await;
                test_db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { run($crate::Backend::Sqlite).await }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { run($crate::Backend::Postgres).await }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() { run($crate::Backend::MySql).await }
        })*
    };
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            with_database("postgres://h/test?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
