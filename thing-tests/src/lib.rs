//! Shared helpers for the integration tests: one fresh, private database per
//! test on each backend, and the models the tests use.
//!
//! Server URLs default to the services on this machine and can be overridden
//! with `THING_TEST_POSTGRES_URL` and `THING_TEST_MYSQL_URL`. When a server is
//! unreachable the test is skipped with a loud message, unless `CI=true`, where
//! it fails.

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
    admin_url: Option<String>,
    name: String,
    pub backend: Backend,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

fn server_url(backend: Backend) -> String {
    let (var, default) = match backend {
        Backend::Postgres => (
            "THING_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        ),
        Backend::MySql => ("THING_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
        Backend::Sqlite => return "sqlite::memory:".into(),
    };
    std::env::var(var).unwrap_or_else(|_| default.into())
}

fn unique_name() -> String {
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
        let url = server_url(backend);
        if backend == Backend::Sqlite {
            let db = Db::connect(&url).await.expect("in-memory SQLite");
            return Some(Self {
                db,
                admin_url: None,
                name: String::new(),
                backend,
            });
        }
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
        let db = Db::builder(&with_database(&url, &name))
            .max_connections(5)
            .build()
            .await
            .expect("connect to the test database");
        Some(Self {
            db,
            admin_url: Some(url),
            name,
            backend,
        })
    }

    /// Drops the test's database (servers only).
    pub async fn finish(self) {
        let Some(url) = self.admin_url else { return };
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
        thing::sql::Dialect::Sqlite => query().execute(db.as_sqlite().unwrap()).await.map(drop),
        thing::sql::Dialect::Postgres => query().execute(db.as_postgres().unwrap()).await.map(drop),
        _ => query().execute(db.as_mysql().unwrap()).await.map(drop),
    };
    result.unwrap_or_else(|err| panic!("raw SQL `{sql}` failed: {err}"));
}

/// Defines one `#[tokio::test]` per backend running `$body` with `$db: &Db`.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($t:ident) $body:block)*) => {
        $(mod $name {
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
