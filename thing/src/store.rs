//! The cached read path (`by_id`, `by_ids` through the object cache) and the
//! invalidation that follows every committed write.
//!
//! Reads lease the keys they miss, read the database, and fill only while their
//! lease holds (see [`crate::cache`]); writes invalidate after commit. Reads and
//! writes inside a transaction never come here.

use crate::cache::unflushed::Unflushed;
use crate::cache::{Cache, CacheError, Fill, LeaseToken, Lookup};
use crate::executor::Target;
use crate::flight::{Flights, Landing, Role};
use crate::{Db, Result, Thing, crud};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Cache settings of a [`Db`], set on its builder.
#[derive(Debug, Clone)]
pub(crate) struct CacheConfig {
    pub prefix: String,
    pub ttl: Duration,
    pub negative_ttl: Duration,
    pub lease_ttl: Duration,
    /// How many ids of a list query are cached.
    pub list_window: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            prefix: "thing".into(),
            ttl: Duration::from_secs(8 * 3600),
            negative_ttl: Duration::from_secs(60),
            lease_ttl: Duration::from_secs(10),
            list_window: 200,
        }
    }
}

/// The first byte of a cached value.
const ROW: u8 = 1;
const ABSENT: u8 = 2;

/// What a cached value says about a row.
enum Entry<T> {
    Row(T),
    Absent,
    Corrupt,
}

/// Decodes a cached value; a row keeps `bytes` as its snapshot (no copy).
fn decode_entry<T: Thing>(bytes: Vec<u8>) -> Entry<T> {
    match bytes.split_first() {
        Some((&ROW, row)) => match T::decode_row(row) {
            Some(mut item) => {
                if let Some(snapshot) = item.__snapshot_mut() {
                    snapshot.set_from(bytes, 1);
                }
                Entry::Row(item)
            }
            None => Entry::Corrupt,
        },
        Some((&ABSENT, [])) => Entry::Absent,
        _ => Entry::Corrupt,
    }
}

fn encode_entry<T: Thing>(item: Option<&T>) -> Vec<u8> {
    match item {
        Some(item) => {
            // A row just read carries its bytes in its snapshot: reuse them
            // rather than encoding the row a second time.
            let encoded;
            let row = match item.__snapshot().and_then(crate::Snapshot::row) {
                Some(row) => row,
                None => {
                    encoded = item.encode_row();
                    &encoded
                }
            };
            let mut bytes = Vec::with_capacity(row.len() + 1);
            bytes.push(ROW);
            bytes.extend_from_slice(row);
            bytes
        }
        None => vec![ABSENT],
    }
}

/// The cache key of row `id` of `T`: `{prefix}:{table}:{schema hash}:{id}`.
pub(crate) fn key<T: Thing>(prefix: &str, id: i64) -> String {
    format!("{prefix}:{}:{:016x}:{id}", T::TABLE, T::SCHEMA_HASH)
}

/// The cache of a [`Db`] and what it needs around it.
pub(crate) struct ObjectCache {
    pub cache: Arc<dyn Cache>,
    pub config: CacheConfig,
    pub flights: Flights,
    last_warning: AtomicU64,
    started: Instant,
    fill_gate: Mutex<Option<FillGate>>,
    /// Invalidations the cache did not take yet.
    pub unflushed: Arc<Unflushed>,
    /// Test hook: skip everything after commits, as if the writer died there.
    pub skip_after_commit: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ObjectCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectCache")
            .field("cache", &self.cache)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A test-only pause between a read's database query and its cache fill.
#[derive(Clone)]
pub(crate) struct FillGate {
    pub reached: Arc<Notify>,
    pub release: Arc<Notify>,
}

impl ObjectCache {
    pub fn new(cache: Arc<dyn Cache>, config: CacheConfig) -> Self {
        Self {
            cache,
            config,
            flights: Flights::default(),
            last_warning: AtomicU64::new(0),
            started: Instant::now(),
            fill_gate: Mutex::default(),
            unflushed: Arc::default(),
            skip_after_commit: Default::default(),
        }
    }

    pub fn set_fill_gate(&self, gate: FillGate) {
        *self.fill_gate.lock().unwrap_or_else(|e| e.into_inner()) = Some(gate);
    }

    pub async fn pass_fill_gate(&self) {
        let gate = self
            .fill_gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(gate) = gate {
            gate.reached.notify_one();
            gate.release.notified().await;
        }
    }

    /// Logs a cache failure at most once every ten seconds.
    pub fn warn(&self, db: &Db, operation: &str, err: &CacheError) {
        db.counters().cache_error();
        let now = self.started.elapsed().as_secs() + 1;
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + 10
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %err, operation, "cache unavailable; using the database");
        }
    }
}

/// `by_id` through the cache. A hit costs one lookup; concurrent misses of one
/// key in this process load it once (single flight): the first to miss leads,
/// the others wait for the row it read.
pub(crate) async fn by_id<T: Thing>(db: &Db, objects: &ObjectCache, id: i64) -> Result<Option<T>> {
    let keys = [key::<T>(&objects.config.prefix, id)];
    loop {
        if let Some(landing) = objects.flights.joinable(&keys[0]) {
            match follow::<T>(db, &landing).await {
                Some(item) => return Ok(item),
                None => continue,
            }
        }
        let mut lookups = lookup(db, objects, &keys).await;
        if let Lookup::Hit(bytes) = &mut lookups.answers[0] {
            match decode_entry::<T>(std::mem::take(bytes)) {
                Entry::Row(item) => {
                    db.counters().cache_hit();
                    return Ok(Some(item));
                }
                Entry::Absent => {
                    db.counters().negative_hit();
                    return Ok(None);
                }
                // Replaced by `resolve`, on the miss path below.
                Entry::Corrupt => lookups.answers[0] = Lookup::Hit(Vec::new()),
            }
        }
        let leader = match objects.flights.lead_or_follow(&keys[0]) {
            Role::Lead(leader) => leader,
            Role::Follow(landing) => {
                // Someone in this process is already loading the row. A lease we
                // took is given back, so that it does not block later fills.
                if let Lookup::Leased(token) = lookups.answers[0] {
                    objects.cache.release(&keys[0], token);
                }
                match follow::<T>(db, &landing).await {
                    Some(item) => return Ok(item),
                    None => continue,
                }
            }
        };
        let item = resolve::<T>(db, objects, &[id], &keys, lookups)
            .await?
            .pop()
            .flatten();
        // Followers decode the bytes the cache holds; encoded only for them.
        leader.land(|| encode_entry(item.as_ref()));
        return Ok(item);
    }
}

/// Waits for the leader of a flight: `Some(row or none)` from it, or `None` when
/// it gave up (the caller tries again).
async fn follow<T: Thing>(db: &Db, landing: &Landing) -> Option<Option<T>> {
    let bytes = landing.wait().await?;
    db.counters().cache_hit();
    match decode_entry::<T>(bytes) {
        Entry::Row(item) => Some(Some(item)),
        Entry::Absent => Some(None),
        Entry::Corrupt => None,
    }
}

/// Rows by id through the cache, one per id in order: one cache lookup for all
/// ids, one SQL `IN` for the misses, one fill. Soft-deleted rows are included.
pub(crate) async fn load<T: Thing>(
    db: &Db,
    objects: &ObjectCache,
    ids: &[i64],
) -> Result<Vec<Option<T>>> {
    let keys: Vec<String> = ids
        .iter()
        .map(|&id| key::<T>(&objects.config.prefix, id))
        .collect();
    let lookups = lookup(db, objects, &keys).await;
    resolve(db, objects, ids, &keys, lookups).await
}

/// One cache lookup for `keys`. A failing cache answers `Busy` for every key
/// (read the database, do not fill), and so does a key whose invalidation this
/// process still owes the cache.
async fn lookup(db: &Db, objects: &ObjectCache, keys: &[String]) -> Lookups {
    let at = Instant::now();
    let mut answers = match objects
        .cache
        .get_or_lease(keys, objects.config.lease_ttl)
        .await
    {
        Ok(lookups) if lookups.len() == keys.len() => lookups,
        Ok(_) => {
            objects.warn(db, "get", &CacheError("wrong number of results".into()));
            vec![Lookup::Busy; keys.len()]
        }
        Err(err) => {
            objects.warn(db, "get", &err);
            vec![Lookup::Busy; keys.len()]
        }
    };
    for (lookup, key) in answers.iter_mut().zip(keys) {
        // This process wrote the row and could not invalidate it yet: whatever
        // the cache holds may be older than that write.
        if objects.unflushed.contains(key) {
            *lookup = Lookup::Busy;
        }
    }
    Lookups { answers, at }
}

/// The answers of one cache lookup, and when it was made.
struct Lookups {
    answers: Vec<Lookup>,
    at: Instant,
}

/// Turns lookups into rows, one per id in order (`None`: no such row):
/// decodes the hits, reads the misses with one SQL `IN`, and fills the keys
/// this caller may fill.
async fn resolve<T: Thing>(
    db: &Db,
    objects: &ObjectCache,
    ids: &[i64],
    keys: &[String],
    lookups: Lookups,
) -> Result<Vec<Option<T>>> {
    let counters = db.counters();
    let mut rows: Vec<Option<T>> = Vec::with_capacity(ids.len());
    let mut misses: Vec<(usize, Option<LeaseToken>)> = Vec::new();
    let mut corrupt: Vec<usize> = Vec::new();
    for (index, lookup) in lookups.answers.into_iter().enumerate() {
        rows.push(None);
        match lookup {
            Lookup::Hit(bytes) => match decode_entry::<T>(bytes) {
                Entry::Row(item) => {
                    counters.cache_hit();
                    rows[index] = Some(item);
                }
                Entry::Absent => counters.negative_hit(),
                Entry::Corrupt => corrupt.push(index),
            },
            Lookup::Leased(token) => misses.push((index, Some(token))),
            Lookup::Busy => misses.push((index, None)),
        }
    }
    if !corrupt.is_empty() {
        misses.extend(replace_corrupt(db, objects, keys, &corrupt).await);
    }
    if misses.is_empty() {
        return Ok(rows);
    }
    counters.cache_misses(misses.len() as u64);

    let miss_ids: Vec<i64> = misses.iter().map(|&(index, _)| ids[index]).collect();
    let loaded = crud::select_ids::<T>(Target::Db(db), &miss_ids).await?;
    objects.pass_fill_gate().await;
    for (&(index, _), row) in misses.iter().zip(loaded) {
        rows[index] = row;
    }

    // A token is only honoured for `lease_ttl`, and never longer than the cache
    // can vouch for it: a reader slower than that does not fill.
    let window = objects.config.lease_ttl.min(objects.cache.fill_window());
    if lookups.at.elapsed() > window {
        return Ok(rows);
    }
    let fills: Vec<Fill> = misses
        .iter()
        .filter_map(|&(index, token)| {
            let item = rows[index].as_ref();
            let ttl = match item {
                Some(_) => objects.config.ttl,
                None => objects.config.negative_ttl,
            };
            Some(Fill {
                key: keys[index].clone(),
                token: token?,
                value: encode_entry(item),
                ttl,
            })
        })
        .collect();
    if !fills.is_empty() {
        match objects.cache.fill(&fills).await {
            Ok(stored) => counters.cache_fills(stored as u64),
            Err(err) => objects.warn(db, "fill", &err),
        }
    }
    Ok(rows)
}

/// Drops undecodable values (written by another version, or damaged) and leases
/// their keys so that this read replaces them.
async fn replace_corrupt(
    db: &Db,
    objects: &ObjectCache,
    keys: &[String],
    corrupt: &[usize],
) -> Vec<(usize, Option<LeaseToken>)> {
    let corrupt_keys: Vec<String> = corrupt.iter().map(|&index| keys[index].clone()).collect();
    let no_fill = || corrupt.iter().map(|&index| (index, None)).collect();
    if let Err(err) = objects.cache.invalidate(&corrupt_keys).await {
        objects.warn(db, "invalidate", &err);
        return no_fill();
    }
    match objects
        .cache
        .get_or_lease(&corrupt_keys, objects.config.lease_ttl)
        .await
    {
        Ok(lookups) => corrupt
            .iter()
            .zip(lookups)
            .map(|(&index, lookup)| match lookup {
                Lookup::Leased(token) => (index, Some(token)),
                _ => (index, None),
            })
            .collect(),
        Err(err) => {
            objects.warn(db, "get", &err);
            no_fill()
        }
    }
}

/// Before a write to rows `ids` of `T`: locks their keys against fills until
/// the write's invalidation (see [`Cache::lock`]). Failures are logged; the
/// write goes on.
pub(crate) async fn lock<T: Thing>(db: &Db, ids: &[i64]) {
    let Some(objects) = db.object_cache() else {
        return;
    };
    let keys: Vec<String> = ids
        .iter()
        .map(|&id| key::<T>(&objects.config.prefix, id))
        .collect();
    lock_keys(db, &keys).await;
}

/// Locks `keys` against fills (see [`Cache::lock`]).
pub(crate) async fn lock_keys(db: &Db, keys: &[String]) {
    let Some(objects) = db.object_cache() else {
        return;
    };
    if keys.is_empty() {
        return;
    }
    if let Err(err) = objects.cache.lock(keys).await {
        objects.warn(db, "lock", &err);
    }
}

/// After `writes` to `T` committed: invalidates their rows and the cached
/// lists they could change.
pub(crate) async fn after_write<T: Thing>(db: &Db, writes: Vec<crate::lists::Write>) {
    let Some(objects) = db.object_cache() else {
        return;
    };
    if objects.skip_after_commit.load(Ordering::Relaxed) {
        return; // test hook: the writer "died" right after its commit
    }
    let keys: Vec<String> = writes
        .iter()
        .map(|write| key::<T>(&objects.config.prefix, write.id()))
        .collect();
    invalidate(db, &keys).await;
    crate::lists::after_write::<T>(db, objects, &writes).await;
}

/// Invalidates committed writes' keys. Failures are counted and logged; the
/// write itself has succeeded.
pub(crate) async fn invalidate(db: &Db, keys: &[String]) {
    let Some(objects) = db.object_cache() else {
        return;
    };
    if keys.is_empty() {
        return;
    }
    match objects.cache.invalidate(keys).await {
        Ok(()) => db.counters().invalidations(keys.len() as u64),
        Err(err) => {
            objects.warn(db, "invalidate", &err);
            objects.unflushed.add(&objects.cache, keys);
        }
    }
}
