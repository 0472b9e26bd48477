//! Counters of what a [`Db`](crate::Db) did, for tests and monitoring.

use std::sync::atomic::{AtomicU64, Ordering};

/// The kind of a SQL statement, as counted in [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    /// DDL and transaction control.
    Other,
}

/// A snapshot of a [`Db`](crate::Db)'s counters, from [`Db::stats`](crate::Db::stats).
///
/// Counts only what went through Thing (not statements run directly on the sqlx
/// pool). Tests use it to prove what an operation cost:
///
/// ```
/// # use thing::{Db, Thing};
/// # #[derive(Thing, Default)] struct Item { id: i64, name: String }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// db.create_table::<Item>().await?;
/// db.reset_stats();
/// Item { name: "pen".into(), ..Default::default() }.save(&db).await?;
/// let stats = db.stats();
/// assert_eq!((stats.inserts, stats.selects, stats.statements()), (1, 0, 1));
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// `SELECT` statements.
    pub selects: u64,
    /// `INSERT` statements.
    pub inserts: u64,
    /// `UPDATE` statements (soft deletes included).
    pub updates: u64,
    /// `DELETE` statements.
    pub deletes: u64,
    /// Other statements: DDL, `BEGIN`, `COMMIT`, `ROLLBACK`.
    pub other: u64,
}

impl Stats {
    /// Every SQL statement sent, of any kind.
    pub fn statements(&self) -> u64 {
        self.selects + self.inserts + self.updates + self.deletes + self.other
    }
}

#[derive(Debug, Default)]
pub(crate) struct StatsCounters {
    selects: AtomicU64,
    inserts: AtomicU64,
    updates: AtomicU64,
    deletes: AtomicU64,
    other: AtomicU64,
}

impl StatsCounters {
    pub fn statement(&self, kind: StatementKind) {
        let counter = match kind {
            StatementKind::Select => &self.selects,
            StatementKind::Insert => &self.inserts,
            StatementKind::Update => &self.updates,
            StatementKind::Delete => &self.deletes,
            StatementKind::Other => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn counters(&self) -> [&AtomicU64; 5] {
        [
            &self.selects,
            &self.inserts,
            &self.updates,
            &self.deletes,
            &self.other,
        ]
    }

    pub fn snapshot(&self) -> Stats {
        let [selects, inserts, updates, deletes, other] = self
            .counters()
            .map(|counter| counter.load(Ordering::Relaxed));
        Stats {
            selects,
            inserts,
            updates,
            deletes,
            other,
        }
    }

    pub fn reset(&self) {
        for counter in self.counters() {
            counter.store(0, Ordering::Relaxed);
        }
    }
}
