//! Counters of what a [`Db`](crate::Db) did, for tests and monitoring.

use crate::cache::CacheCounts;
use futures_util::FutureExt;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// Declares every counter once: the public [`Stats`] field, the atomic counter
/// behind it, its [`Counter`], and its metric name, with the snapshot and reset
/// that copy between them. The counters after `kept by the cache` are running
/// totals the cache keeps itself (`stats_field = CacheCounts field`): the
/// handle keeps only where they stood at its last reset.
macro_rules! counters {
    (
        $(#[$stats_doc:meta])* pub struct Stats;
        $($(#[$doc:meta])* $name:ident,)*
        ; kept by the cache:
        $($(#[$kept_doc:meta])* $kept:ident = $source:ident,)*
    ) => {
        $(#[$stats_doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct Stats {
            $($(#[$doc])* pub $name: u64,)*
            $($(#[$kept_doc])* pub $kept: u64,)*
        }

        /// One of the counters of [`Stats`].
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub(crate) enum Counter {
            $($name,)*
            $($kept,)*
        }

        impl Counter {
            /// Every counter, in the order of their fields.
            pub const ALL: &[Counter] = &[$(Counter::$name,)* $(Counter::$kept,)*];

            /// The field name, which is also the span field of the counter.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Counter::$name => stringify!($name),)*
                    $(Counter::$kept => stringify!($kept),)*
                }
            }

            /// The name under which the `metrics` feature exports it.
            #[cfg(feature = "metrics")]
            #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
            pub const fn metric(self) -> &'static str {
                match self {
                    $(Counter::$name => concat!("thing_", stringify!($name), "_total"),)*
                    $(Counter::$kept => concat!("thing_", stringify!($kept), "_total"),)*
                }
            }
        }

        #[derive(Debug, Default)]
        pub(crate) struct StatsCounters {
            $($name: AtomicU64,)*
            /// The cache's own counts when the counters were last reset.
            $($kept: AtomicU64,)*
        }

        impl StatsCounters {
            fn atomic(&self, counter: Counter) -> &AtomicU64 {
                match counter {
                    $(Counter::$name => &self.$name,)*
                    // Kept by the cache itself; see `snapshot`.
                    $(Counter::$kept => &self.$kept,)*
                }
            }

            /// The counters now; `cache` is what the cache counted in all.
            pub fn snapshot(&self, cache: CacheCounts) -> Stats {
                Stats {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                    $($kept: cache.$source.saturating_sub(self.$kept.load(Ordering::Relaxed)),)*
                }
            }

            pub fn reset(&self, cache: CacheCounts) {
                $(self.$name.store(0, Ordering::Relaxed);)*
                $(self.$kept.store(cache.$source, Ordering::Relaxed);)*
            }
        }

        impl Stats {
            /// Every counter, in the order of [`Counter::ALL`].
            pub(crate) fn fields(&self) -> [u64; COUNTERS] {
                [$(self.$name,)* $(self.$kept,)*]
            }
        }

        impl Operation {
            /// What the operation did, as [`Stats`].
            pub fn stats(&self) -> Stats {
                Stats {
                    $($name: self.get(Counter::$name),)*
                    $($kept: self.get(Counter::$kept),)*
                }
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
    /// Reads that waited for the same load by another caller in this process
    /// (single flight) instead of reading the database themselves.
    joins,
    ; kept by the cache:
    /// Round trips to the cache server (0 for the in-process cache).
    cache_round_trips = round_trips,
    /// Keys (rows, lists, stamps) served from a `RedisCache`'s
    /// [near tier](crate::cache::RedisCacheBuilder::near) without a round trip.
    near_hits = near_hits,
    /// Times the near tier dropped everything it held (a lost connection, a
    /// `FLUSHALL`, a lease that ran out). Counted by the tier's own task: a
    /// span never shows one.
    near_flushes = near_flushes,
    /// Writes that waited for another process's near tier to drop what they
    /// changed.
    near_write_waits = near_write_waits,
}

impl Stats {
    /// Every SQL statement sent, of any kind.
    pub fn statements(&self) -> u64 {
        self.selects + self.inserts + self.updates + self.deletes + self.other
    }
}

impl StatsCounters {
    /// Adds `n` to `counter`: in these counters, in the operation running now
    /// (if it is observed), and in the `metrics` recorder (feature `metrics`).
    fn add(&self, counter: Counter, n: u64) {
        self.atomic(counter).fetch_add(n, Ordering::Relaxed);
        count_in_operation(counter, n);
        #[cfg(feature = "metrics")]
        metrics::counter!(counter.metric()).increment(n);
    }

    pub fn statement(&self, kind: StatementKind) {
        let counter = match kind {
            StatementKind::Select => Counter::selects,
            StatementKind::Insert => Counter::inserts,
            StatementKind::Update => Counter::updates,
            StatementKind::Delete => Counter::deletes,
            StatementKind::Other => Counter::other,
        };
        self.add(counter, 1);
    }

    pub fn cache_hits(&self, count: u64) {
        if count > 0 {
            self.add(Counter::cache_hits, count);
        }
    }

    pub fn negative_hits(&self, count: u64) {
        if count > 0 {
            self.add(Counter::negative_hits, count);
        }
    }

    pub fn cache_misses(&self, count: u64) {
        self.add(Counter::cache_misses, count);
    }

    pub fn cache_fills(&self, count: u64) {
        self.add(Counter::cache_fills, count);
    }

    pub fn invalidations(&self, count: u64) {
        self.add(Counter::invalidations, count);
    }

    pub fn query_hit(&self) {
        self.add(Counter::query_hits, 1);
    }

    pub fn query_miss(&self) {
        self.add(Counter::query_misses, 1);
    }

    pub fn cache_error(&self) {
        self.add(Counter::cache_errors, 1);
    }

    pub fn join(&self) {
        self.add(Counter::joins, 1);
    }
}

/// A cache round trip, counted in the operation running now. (The cache keeps
/// the running total that [`Stats::cache_round_trips`] reports.)
#[cfg(feature = "redis")]
pub(crate) fn cache_round_trip() {
    counted_by_cache(Counter::cache_round_trips, 1);
}

/// `n` keys served by the near tier, counted in the operation running now.
#[cfg(feature = "redis")]
pub(crate) fn near_hits(n: u64) {
    counted_by_cache(Counter::near_hits, n);
}

/// A write that waited for other near tiers, counted in the operation running
/// now.
#[cfg(feature = "redis")]
pub(crate) fn near_write_wait() {
    counted_by_cache(Counter::near_write_waits, 1);
}

/// A near tier's flush, for the `metrics` recorder (no operation is running:
/// the tier's task flushes).
#[cfg(feature = "redis")]
pub(crate) fn near_flush() {
    #[cfg(feature = "metrics")]
    metrics::counter!(Counter::near_flushes.metric()).increment(1);
}

/// `n` of `counter`, which the cache keeps the total of: in the operation
/// running now and in the `metrics` recorder.
#[cfg(feature = "redis")]
fn counted_by_cache(counter: Counter, n: u64) {
    count_in_operation(counter, n);
    #[cfg(feature = "metrics")]
    metrics::counter!(counter.metric()).increment(n);
}

/// The counters of one operation, while it runs (see [`Operation::scope`]).
#[derive(Debug, Default)]
pub(crate) struct Operation {
    counts: [Cell<u64>; COUNTERS],
}

const COUNTERS: usize = Counter::ALL.len();

tokio::task_local! {
    static OPERATION: Operation;
}

/// How many observed operations are running, in any task: while none is, a
/// counter does not look for one (one atomic load instead of a task-local).
static OBSERVED: AtomicUsize = AtomicUsize::new(0);

fn count_in_operation(counter: Counter, n: u64) {
    if OBSERVED.load(Ordering::Relaxed) == 0 {
        return;
    }
    let _ = OPERATION.try_with(|operation| {
        let cell = &operation.counts[counter as usize];
        cell.set(cell.get() + n);
    });
}

/// One observed operation counted in [`OBSERVED`] from its start until it is
/// done or dropped.
struct Running;

impl Running {
    fn start() -> Self {
        OBSERVED.fetch_add(1, Ordering::Relaxed);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        OBSERVED.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Operation {
    fn get(&self, counter: Counter) -> u64 {
        self.counts[counter as usize].get()
    }

    /// Runs `work`, counting what it does; returns its output and its counts.
    /// An operation inside another adds its counts to the outer one too.
    /// (Combinators, not an `async fn`, so that `work` is held once.)
    pub fn scope<F: Future>(work: F) -> impl Future<Output = (F::Output, Stats)> {
        let running = Running::start();
        let counted = work.map(|output| (output, OPERATION.with(Operation::stats)));
        OPERATION
            .scope(Operation::default(), counted)
            .map(move |(output, stats)| {
                drop(running);
                let _ = OPERATION.try_with(|outer| {
                    for (cell, n) in outer.counts.iter().zip(stats.fields()) {
                        cell.set(cell.get() + n);
                    }
                });
                (output, stats)
            })
    }
}
