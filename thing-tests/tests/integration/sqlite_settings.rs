//! SQLite connection settings from the builder: journal mode, `synchronous`
//! and the busy timeout reach every pooled connection; without them, the
//! database's and SQLite's defaults stay.

use std::time::Duration;
use thing::Db;
use thing::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use thing::sqlx::{self, Row};

/// `(journal_mode, synchronous, busy_timeout)` as each of `n` connections of
/// `db`'s pool reports them.
async fn pragmas(db: &Db, n: usize) -> Vec<(String, i64, i64)> {
    let pool = db.as_sqlite().expect("a SQLite Db");
    let mut held = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..n {
        let mut conn = pool.acquire().await.unwrap();
        let read = |sql: &'static str| sqlx::query(sql);
        let journal: String = read("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .get(0);
        let synchronous: i64 = read("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .get(0);
        let busy: i64 = read("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .get(0);
        seen.push((journal, synchronous, busy));
        held.push(conn);
    }
    seen
}

#[tokio::test]
async fn sqlite_settings_reach_every_connection() {
    let dir = std::env::temp_dir().join(format!(
        "thing-sqlite-settings-{}",
        thing_tests::unique_name()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());

    let tuned = Db::builder(&url("tuned.db"))
        .max_connections(3)
        .sqlite_journal_mode(SqliteJournalMode::Wal)
        .sqlite_synchronous(SqliteSynchronous::Normal)
        .sqlite_busy_timeout(Duration::from_millis(1500))
        .build()
        .await
        .unwrap();
    assert_eq!(
        pragmas(&tuned, 3).await,
        vec![("wal".to_owned(), 1, 1500); 3]
    );

    let plain = Db::builder(&url("plain.db"))
        .max_connections(2)
        .build()
        .await
        .unwrap();
    assert_eq!(
        pragmas(&plain, 2).await,
        vec![("delete".to_owned(), 2, 5000); 2]
    );
    drop((tuned, plain));
    let _ = std::fs::remove_dir_all(&dir);
}
