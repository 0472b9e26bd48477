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
    /// Rows served from the object cache.
    pub cache_hits: u64,
    /// Rows looked up in the cache and not found there (read from the database).
    pub cache_misses: u64,
    /// Ids found cached as absent: answered `NotFound` without SQL.
    pub negative_hits: u64,
    /// Values stored in the cache after a miss.
    pub cache_fills: u64,
    /// Keys invalidated after committed writes.
    pub invalidations: u64,
    /// Cache operations that failed (the database answered instead).
    pub cache_errors: u64,
    /// Round trips to the cache server (0 for the in-process cache).
    pub cache_round_trips: u64,
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
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    negative_hits: AtomicU64,
    cache_fills: AtomicU64,
    invalidations: AtomicU64,
    cache_errors: AtomicU64,
    /// The cache's round-trip count when the counters were last reset.
    round_trips_base: AtomicU64,
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

    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn negative_hit(&self) {
        self.negative_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn cache_misses(&self, count: u64) {
        self.cache_misses.fetch_add(count, Ordering::Relaxed);
    }

    pub fn cache_fills(&self, count: u64) {
        self.cache_fills.fetch_add(count, Ordering::Relaxed);
    }

    pub fn invalidations(&self, count: u64) {
        self.invalidations.fetch_add(count, Ordering::Relaxed);
    }

    pub fn cache_error(&self) {
        self.cache_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn counters(&self) -> [&AtomicU64; 11] {
        [
            &self.selects,
            &self.inserts,
            &self.updates,
            &self.deletes,
            &self.other,
            &self.cache_hits,
            &self.cache_misses,
            &self.negative_hits,
            &self.cache_fills,
            &self.invalidations,
            &self.cache_errors,
        ]
    }

    /// The counters now; `round_trips` is the cache's own running count.
    pub fn snapshot(&self, round_trips: u64) -> Stats {
        let [
            selects,
            inserts,
            updates,
            deletes,
            other,
            cache_hits,
            cache_misses,
            negative_hits,
            cache_fills,
            invalidations,
            cache_errors,
        ] = self
            .counters()
            .map(|counter| counter.load(Ordering::Relaxed));
        let base = self.round_trips_base.load(Ordering::Relaxed);
        Stats {
            selects,
            inserts,
            updates,
            deletes,
            other,
            cache_hits,
            cache_misses,
            negative_hits,
            cache_fills,
            invalidations,
            cache_errors,
            cache_round_trips: round_trips.saturating_sub(base),
        }
    }

    pub fn reset(&self, round_trips: u64) {
        for counter in self.counters() {
            counter.store(0, Ordering::Relaxed);
        }
        self.round_trips_base.store(round_trips, Ordering::Relaxed);
    }
}
