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

/// Declares every counter once: the public [`Stats`] field and the atomic
/// counter behind it, with the snapshot and reset that copy between them.
macro_rules! counters {
    ($(#[$stats_doc:meta])* pub struct Stats; $($(#[$doc:meta])* $name:ident,)*) => {
        $(#[$stats_doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct Stats {
            $($(#[$doc])* pub $name: u64,)*
            /// Round trips to the cache server (0 for the in-process cache).
            pub cache_round_trips: u64,
        }

        #[derive(Debug, Default)]
        pub(crate) struct StatsCounters {
            $($name: AtomicU64,)*
            /// The cache's round-trip count when the counters were last reset.
            round_trips_base: AtomicU64,
        }

        impl StatsCounters {
            /// The counters now; `round_trips` is the cache's own running count.
            pub fn snapshot(&self, round_trips: u64) -> Stats {
                let base = self.round_trips_base.load(Ordering::Relaxed);
                Stats {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                    cache_round_trips: round_trips.saturating_sub(base),
                }
            }

            pub fn reset(&self, round_trips: u64) {
                $(self.$name.store(0, Ordering::Relaxed);)*
                self.round_trips_base.store(round_trips, Ordering::Relaxed);
            }
        }
    };
}

counters! {
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
    pub struct Stats;

    /// `SELECT` statements.
    selects,
    /// `INSERT` statements.
    inserts,
    /// `UPDATE` statements (soft deletes included).
    updates,
    /// `DELETE` statements.
    deletes,
    /// Other statements: DDL, `BEGIN`, `COMMIT`, `ROLLBACK`.
    other,
    /// Rows served from the object cache.
    cache_hits,
    /// Rows looked up in the cache and not found there (read from the database).
    cache_misses,
    /// Ids found cached as absent: answered `NotFound` without SQL.
    negative_hits,
    /// Values stored in the cache after a miss.
    cache_fills,
    /// Keys invalidated after committed writes.
    invalidations,
    /// Cache operations that failed (the database answered instead).
    cache_errors,
    /// List queries answered from their cached list.
    query_hits,
    /// List queries whose list was read from the database.
    query_misses,
}

impl Stats {
    /// Every SQL statement sent, of any kind.
    pub fn statements(&self) -> u64 {
        self.selects + self.inserts + self.updates + self.deletes + self.other
    }
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

    pub fn query_hit(&self) {
        self.query_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn query_miss(&self) {
        self.query_misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn cache_error(&self) {
        self.cache_errors.fetch_add(1, Ordering::Relaxed);
    }
}
