//! [`CacheContext`]: a [`Db`](crate::Db)'s cache and everything its reads and
//! writes need around it: the settings, the key of every cached value, single
//! flight, the invalidations still owed to the cache, and the rate-limited
//! warning of a cache that does not answer.

use super::hints::{RowHints, ValueHints};
use super::unflushed::Unflushed;
use super::{Bytes, Cache, CacheError, StampedFill, WriteKeys};
use crate::cache::flight::Flights;
use crate::cache::stamps::{RowWrite, Stamp};
use crate::error::Error;
use crate::hash::sha1_hex;
use crate::observe::stats::StatsCounters;
use crate::schema::Schema;
use crate::schema::codec::FORMAT_VERSION;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Cache settings of a `Db`, set on its builder.
#[derive(Debug, Clone)]
pub(crate) struct CacheConfig {
    pub prefix: String,
    pub ttl: Duration,
    pub negative_ttl: Duration,
    pub lease_ttl: Duration,
    /// How many ids of a list query are cached.
    pub list_window: usize,
    pub write_policy: WritePolicy,
    /// How often the outbox is drained in the background.
    pub outbox_interval: Duration,
    /// How long a write waits for its outbox entry to be applied.
    pub outbox_timeout: Duration,
}

/// What a write does when it cannot lock its keys in a shared cache before
/// its commit (the cache is down, hung, or cut off from this process while
/// other processes still use it). Set with
/// [`DbBuilder::write_policy`](crate::DbBuilder::write_policy).
///
/// ```
/// use thing::{Db, WritePolicy};
/// let builder = Db::builder("sqlite::memory:").write_policy(WritePolicy::FailClosed);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WritePolicy {
    /// Commit, and record the write's invalidations in the `thing_outbox`
    /// table in the same transaction; every `Db` on the cache drains that
    /// table into the cache in the background. The write returns once some
    /// process applied them, so no read after it returned sees the old
    /// value; past the [outbox timeout](crate::DbBuilder::outbox_timeout) it
    /// fails with [`Error::CacheNotTold`](crate::Error::CacheNotTold),
    /// committed. The default.
    #[default]
    Outbox,
    /// Fail with [`Error::Cache`](crate::Error::Cache) and write nothing.
    FailClosed,
    /// Commit, and retry the invalidations from this process only, in the
    /// background. Other processes may read the old row or list until the
    /// retry lands, or until the cached value's TTL if this process dies
    /// first. Needs no outbox table.
    BestEffort,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            prefix: "thing".into(),
            ttl: Duration::from_secs(8 * 3600),
            negative_ttl: Duration::from_secs(60),
            lease_ttl: Duration::from_secs(10),
            list_window: 200,
            write_policy: WritePolicy::default(),
            outbox_interval: Duration::from_millis(250),
            outbox_timeout: Duration::from_secs(2),
        }
    }
}

/// How often a failing cache is reported in the log.
const WARNING_INTERVAL_SECS: u64 = 10;

/// The cache of a `Db` and what it needs around it.
pub(crate) struct CacheContext {
    /// The cache itself.
    pub store: Arc<dyn Cache>,
    pub config: CacheConfig,
    /// Loads in progress in this process, by key.
    pub flights: Flights,
    /// Invalidations the cache did not take yet.
    pub unflushed: Arc<Unflushed>,
    /// The rows each list read loaded last.
    pub row_hints: RowHints,
    /// The indexed values of the rows this process last updated by id.
    pub value_hints: ValueHints,
    last_warning: AtomicU64,
    started: Instant,
    /// Cache failures seen (from 1: `build` has not drained the outbox), and
    /// how many of them a complete drain of the outbox has caught up with:
    /// while fewer, reads drain it before they use the cache.
    failures: AtomicU64,
    drained: AtomicU64,
    /// Whether the outbox table exists (`build` created it).
    outbox_ready: AtomicBool,
    /// Taken by the read that drains the outbox for the others waiting.
    pub drain_turn: tokio::sync::Mutex<()>,
    #[cfg(feature = "test-hooks")]
    pub hooks: super::hooks::TestHooks,
}

impl std::fmt::Debug for CacheContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheContext")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// `parts` joined, in one allocation of the exact size: cache keys are built
/// on every cached read, and `format!` costs several times more.
fn concat(parts: &[&str]) -> String {
    let mut joined = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        joined.push_str(part);
    }
    joined
}

impl CacheContext {
    pub fn new(cache: Arc<dyn Cache>, config: CacheConfig) -> Self {
        Self {
            store: cache,
            config,
            flights: Flights::default(),
            unflushed: Arc::default(),
            row_hints: RowHints::default(),
            value_hints: ValueHints::default(),
            last_warning: AtomicU64::new(0),
            started: Instant::now(),
            failures: AtomicU64::new(1),
            drained: AtomicU64::new(0),
            outbox_ready: AtomicBool::new(false),
            drain_turn: tokio::sync::Mutex::new(()),
            #[cfg(feature = "test-hooks")]
            hooks: Default::default(),
        }
    }

    /// The key of row `id` of `T`: `{prefix}:{table}:v{codec format}:{id}`.
    /// By table, not by struct: every struct on a table shares (and so
    /// invalidates) its rows; the value names the struct's schema hash.
    pub fn row_key<T: Schema>(&self, id: i64) -> String {
        let (mut version, mut digits) = (itoa::Buffer::new(), itoa::Buffer::new());
        let prefix = &self.config.prefix;
        let version = version.format(FORMAT_VERSION);
        concat(&[
            prefix,
            ":",
            T::TABLE_NAME,
            ":v",
            version,
            ":",
            digits.format(id),
        ])
    }

    /// The keys of rows `ids` of `T`, in order.
    pub fn row_keys<T: Schema>(&self, ids: &[i64]) -> Vec<String> {
        let prefix = format!(
            "{}:{}:v{FORMAT_VERSION}:",
            self.config.prefix,
            T::TABLE_NAME
        );
        let mut digits = itoa::Buffer::new();
        ids.iter()
            .map(|&id| concat(&[&prefix, digits.format(id)]))
            .collect()
    }

    /// The key of a cached query of `T`, from its normalised form `spec`:
    /// `{prefix}:{table}:q:{sha1 of spec}` (by table: every struct on a table
    /// shares its lists' stamps).
    pub fn list_key<T: Schema>(&self, spec: &[u8]) -> String {
        format!(
            "{}:{}:q:v{FORMAT_VERSION}:{}",
            self.config.prefix,
            T::TABLE_NAME,
            sha1_hex(spec)
        )
    }

    /// The key of the cached seek list of a query of `T` (see
    /// `read/seek.rs`), from the SHA-1 `digest` of its normalised form:
    /// `{prefix}:{table}:q:{digest}:seek`.
    pub fn seek_key<T: Schema>(&self, digest: &[u8; 20]) -> String {
        format!(
            "{}:{}:q:v{FORMAT_VERSION}:{}:seek",
            self.config.prefix,
            T::TABLE_NAME,
            crate::hash::hex(digest)
        )
    }

    /// The key of a stamp of `T`'s table: `{prefix}:{table}:s:...`.
    /// Built on every cached read and every write (a batch of 100 rows has
    /// hundreds): joined without `format!`.
    pub fn stamp_key<T: Schema>(&self, stamp: &Stamp) -> String {
        let prefix = &self.config.prefix;
        let table = T::TABLE_NAME;
        match stamp {
            Stamp::Value { column, value } => concat(&[
                prefix,
                ":",
                table,
                ":s:v:",
                T::COLUMN_DEFS[*column].name,
                ":",
                value,
            ]),
            Stamp::Column(column) => {
                concat(&[prefix, ":", table, ":s:c:", T::COLUMN_DEFS[*column].name])
            }
            Stamp::Members => concat(&[prefix, ":", table, ":s:m"]),
            Stamp::Table(other) => concat(&[prefix, ":", other, ":s:t"]),
            Stamp::Epoch => concat(&[prefix, ":", table, ":s:e"]),
        }
    }

    /// The keys of `stamps` of `T`.
    pub fn stamp_keys<T: Schema>(&self, stamps: &[Stamp]) -> Vec<String> {
        stamps
            .iter()
            .map(|stamp| self.stamp_key::<T>(stamp))
            .collect()
    }

    /// The row keys and stamp keys of `writes` to `T` (no row key for a write
    /// whose id is not known yet, 0).
    pub fn write_keys<T: Schema>(&self, writes: &[RowWrite]) -> WriteKeys {
        let ids: Vec<i64> = writes
            .iter()
            .map(|write| write.id)
            .filter(|&id| id != 0)
            .collect();
        WriteKeys {
            rows: self.row_keys::<T>(&ids),
            stamps: self.stamp_keys::<T>(&crate::cache::stamps::of_writes::<T>(writes)),
        }
    }

    /// The longest a fill may come after its lookup: the lease TTL, or less if
    /// the cache cannot vouch for a token that long.
    pub fn fill_window(&self) -> Duration {
        self.config.lease_ttl.min(self.store.fill_window())
    }

    /// Counts a cache failure and logs it at most once every ten seconds.
    pub fn warn(&self, counters: &StatsCounters, operation: &str, err: &CacheError) {
        counters.cache_error();
        self.failures.fetch_add(1, Ordering::AcqRel);
        let now = self.started.elapsed().as_secs() + 1;
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + WARNING_INTERVAL_SECS
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %err, operation, "cache unavailable; using the database");
        }
    }

    /// Before a write commits: locks its keys and bumps its stamps (see
    /// [`Cache::begin_write`]). A failure is counted and logged, and returned
    /// for the write policy to decide.
    pub async fn begin_write(
        &self,
        counters: &StatsCounters,
        keys: &WriteKeys,
    ) -> Result<(), CacheError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.store.begin_write(keys).await.inspect_err(|err| {
            self.warn(counters, "begin_write", err);
        })
    }

    /// Whether a write whose lock failed records its keys in the outbox.
    pub fn uses_outbox(&self) -> bool {
        self.config.write_policy == WritePolicy::Outbox && self.store.is_shared()
    }

    /// The outbox table exists: from now on reads drain it first when they
    /// must (see [`owes_drain`](Self::owes_drain)).
    pub fn outbox_ready(&self) {
        self.outbox_ready.store(true, Ordering::Release);
    }

    /// Whether a read must drain the outbox before it uses the cache: this
    /// handle could not reach the cache since its last complete drain, or
    /// never drained since `build`. Two atomic loads.
    pub fn owes_drain(&self) -> bool {
        self.failures.load(Ordering::Acquire) > self.drained.load(Ordering::Acquire)
            && self.outbox_ready.load(Ordering::Acquire)
    }

    /// How many cache failures this handle has seen, for
    /// [`caught_up`](Self::caught_up).
    pub fn failures_seen(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }

    /// A drain of the whole outbox, begun when `seen` failures had been
    /// seen, succeeded.
    pub fn caught_up(&self, seen: u64) {
        self.drained.fetch_max(seen, Ordering::AcqRel);
    }

    /// What a write whose lock failed with `err` does, as the write policy
    /// says: [`Error::Cache`] (write nothing) under `FailClosed`; else `true`
    /// when it records its keys in the outbox, `false` when it goes on and
    /// only this process retries its invalidation.
    pub fn after_failed_lock(&self, err: CacheError) -> Result<bool, Error> {
        if self.config.write_policy == WritePolicy::FailClosed {
            return Err(Error::Cache(err));
        }
        Ok(self.uses_outbox())
    }

    /// After a write committed: invalidates its rows, bumps its stamps, takes
    /// back the locks of `locked` (see [`Cache::end_write`]). What the cache
    /// does not take is kept and retried in the background, and read from the
    /// database by this process meanwhile; the locks then expire.
    pub async fn end_write(
        &self,
        counters: &StatsCounters,
        locked: &WriteKeys,
        learned: &WriteKeys,
    ) {
        if (locked.is_empty() && learned.is_empty()) || self.dies_after_commit() {
            return;
        }
        match self.store.end_write(locked, learned).await {
            Ok(()) => counters.invalidations((locked.rows.len() + learned.rows.len()) as u64),
            Err(err) => {
                self.warn(counters, "end_write", &err);
                self.unflushed.add_write(&self.store, locked);
                self.unflushed.add_write(&self.store, learned);
            }
        }
    }

    /// After a write whose keys are all `keys` (a transaction's, or an
    /// epoch's): [`end_write`](Self::end_write) if it `committed`, with `keys`
    /// as locked or, when its lock failed (`!locked`), as learned; else
    /// [`abort_write`](Self::abort_write) of what it locked.
    pub async fn finish_write(
        &self,
        counters: &StatsCounters,
        keys: &WriteKeys,
        locked: bool,
        committed: bool,
    ) {
        let nothing = WriteKeys::default();
        match (committed, locked) {
            (true, true) => self.end_write(counters, keys, &nothing).await,
            (true, false) => self.end_write(counters, &nothing, keys).await,
            (false, true) => self.abort_write(counters, keys).await,
            (false, false) => {}
        }
    }

    /// After a write failed: takes back its locks (nothing changed).
    pub async fn abort_write(&self, counters: &StatsCounters, keys: &WriteKeys) {
        if keys.is_empty() {
            return;
        }
        if let Err(err) = self.store.abort_write(keys).await {
            self.warn(counters, "abort_write", &err);
        }
    }

    /// Creates those of `stamps` the cache does not hold (never written, or
    /// evicted), at random, without moving those another reader created
    /// meanwhile: a stamped fill of `key` under values no stamp has
    /// (`u64::MAX`; stamps start below 2^62) is refused, and creates its
    /// missing stamps.
    pub async fn create_stamps(&self, counters: &StatsCounters, key: &str, stamps: &[String]) {
        let fill = StampedFill {
            key: key.to_owned(),
            value: Bytes::new(),
            ttl: self.config.ttl,
            stamps: stamps.to_vec(),
            seen: vec![u64::MAX; stamps.len()],
        };
        if let Err(err) = self.store.fill_stamped(&fill).await {
            self.warn(counters, "fill_stamped", &err);
        }
    }

    /// Creates `T`'s epoch stamp if the cache does not hold it (see
    /// [`create_stamps`](Self::create_stamps)). Rows are stored only under an
    /// epoch the cache holds, so that a missing epoch never reads as the one
    /// rows were stored under before the table was dropped or created again,
    /// and the table's first list, which creates it too, does not orphan the
    /// rows cached before it.
    pub async fn create_epoch<T: Schema>(&self, counters: &StatsCounters) {
        let epoch = self.stamp_key::<T>(&Stamp::Epoch);
        let key = concat(&[&epoch, ":create"]);
        self.create_stamps(counters, &key, &[epoch]).await;
    }

    /// Test hook: waits here, between a read's SQL and its fill, when a test
    /// asked for it. Nothing without the `test-hooks` feature.
    pub async fn pass_fill_gate(&self) {
        #[cfg(feature = "test-hooks")]
        self.hooks.pass(super::hooks::PausePoint::Fill).await;
    }

    /// Test hook: a `by_id` granted a lease stops here, before it leads or
    /// joins a load, when a test asked for it. Nothing without the
    /// `test-hooks` feature.
    pub async fn pass_lease_gate(&self) {
        #[cfg(feature = "test-hooks")]
        self.hooks.pass(super::hooks::PausePoint::Lease).await;
    }

    /// Test hook: a write stops here, after its cache lock and before its
    /// SQL, when a test asked for it. Nothing without the `test-hooks` feature.
    pub async fn pass_write_locked_gate(&self) {
        #[cfg(feature = "test-hooks")]
        self.hooks.pass(super::hooks::PausePoint::WriteLocked).await;
    }

    /// Test hook: a write stops here, after its commit and before its cache
    /// invalidation, when a test asked for it. Nothing without the
    /// `test-hooks` feature.
    pub async fn pass_write_committed_gate(&self) {
        #[cfg(feature = "test-hooks")]
        self.hooks
            .pass(super::hooks::PausePoint::WriteCommitted)
            .await;
    }

    /// Test hook: a cached list read stops here, between its ids and the
    /// load of their rows, when a test asked for it. Nothing without the
    /// `test-hooks` feature.
    pub async fn pass_list_rows_gate(&self) {
        #[cfg(feature = "test-hooks")]
        self.hooks.pass(super::hooks::PausePoint::ListRows).await;
    }

    /// Test hook: whether writes skip everything after their commit, as if the
    /// writer died there. Always `false` without the `test-hooks` feature.
    pub fn dies_after_commit(&self) -> bool {
        #[cfg(feature = "test-hooks")]
        return self.hooks.dies_after_commit();
        #[cfg(not(feature = "test-hooks"))]
        false
    }
}
