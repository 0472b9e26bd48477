//! [`MemoryCache`]: the in-process cache, bounded, on moka.
//!
//! Values live in moka (bounded, per-entry expiry). Leases and write locks live
//! beside them in a few mutex-guarded maps, one per shard of the key space; a
//! fill and an invalidation of a key both run under its shard's lock, which is
//! what makes "store only while the lease holds" atomic. Hits take no lock.
//! Stamps and their locks live in one more map under one lock, which makes a
//! stamped fill's check-and-store atomic.

use super::{Cache, CacheFuture, Fill, LeaseToken, Lookup, StampedFill, StampedLookup, WriteKeys};
use moka::sync::Cache as Moka;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Shards of the lease maps.
const SHARDS: usize = 16;

/// A shard's lease count past which its expired leases (of readers that never
/// filled) are swept.
const SWEEP_AT: usize = 1024;

/// How long a write's locks last if it never ends them (its task was
/// cancelled between the two steps).
const LOCK_WINDOW: Duration = Duration::from_secs(10);

/// Stamps kept before all are dropped at once. Dropping is safe: a missing stamp
/// comes back with a new random value, so no list built before validates.
const MAX_STAMPS: usize = 200_000;

#[derive(Clone, Debug)]
struct Value {
    bytes: Arc<[u8]>,
    ttl: Duration,
}

#[derive(Debug)]
struct Lease {
    token: LeaseToken,
    until: Instant,
}

/// Writes in flight on one key: how many, and until when at the latest.
#[derive(Debug, Clone, Copy)]
struct Lock {
    count: u32,
    until: Instant,
}

impl Lock {
    fn held(&self, now: Instant) -> bool {
        self.count > 0 && self.until > now
    }
}

/// The leases and row locks of one shard of the key space.
#[derive(Debug, Default)]
struct Shard {
    leases: HashMap<String, Lease>,
    locks: HashMap<String, Lock>,
}

impl Shard {
    fn locked(&self, key: &str, now: Instant) -> bool {
        self.locks.get(key).is_some_and(|lock| lock.held(now))
    }
}

/// Stamps and their locks.
#[derive(Debug, Default)]
struct Stamps {
    values: HashMap<String, u64>,
    locks: HashMap<String, Lock>,
}

impl Stamps {
    /// The stamp's value, created at random when missing.
    fn current(&mut self, key: &str) -> u64 {
        if self.values.len() >= MAX_STAMPS && !self.values.contains_key(key) {
            self.values.clear();
        }
        *self
            .values
            .entry(key.to_owned())
            .or_insert_with(|| LeaseToken::new().0 as u64 >> 2)
    }

    fn bump(&mut self, key: &str) {
        let next = self.current(key).wrapping_add(1);
        self.values.insert(key.to_owned(), next);
    }
}

fn lock(locks: &mut HashMap<String, Lock>, key: &str, now: Instant) {
    let lock = locks.entry(key.to_owned()).or_insert(Lock {
        count: 0,
        until: now,
    });
    if !lock.held(now) {
        lock.count = 0;
    }
    lock.count += 1;
    lock.until = now + LOCK_WINDOW;
}

fn unlock(locks: &mut HashMap<String, Lock>, key: &str) {
    if let Some(lock) = locks.get_mut(key) {
        lock.count = lock.count.saturating_sub(1);
        if lock.count == 0 {
            locks.remove(key);
        }
    }
}

struct ValueExpiry;

impl moka::Expiry<String, Value> for ValueExpiry {
    fn expire_after_create(&self, _: &String, value: &Value, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
    fn expire_after_update(
        &self,
        _: &String,
        value: &Value,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// An in-process cache, bounded by entry count (least recently used entries go
/// first). The default cache of [`Db::connect`](crate::Db::connect).
///
/// It is coherent only for writes made through `Db` handles sharing it; when
/// several processes write the same database, use a `RedisCache`.
///
/// ```
/// use thing::cache::{Cache, Fill, Lookup, MemoryCache};
/// use std::time::Duration;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cache = MemoryCache::new(10_000);
/// let keys = vec!["k".to_string()];
/// let Lookup::Leased(token) = cache.get_or_lease(&keys, Duration::from_secs(5)).await? [0] else {
///     unreachable!()
/// };
/// let fill = Fill { key: "k".into(), token, value: b"v".to_vec(), ttl: Duration::from_secs(60) };
/// assert_eq!(cache.fill(std::slice::from_ref(&fill)).await?, 1);
/// assert_eq!(cache.get_or_lease(&keys, Duration::from_secs(5)).await?, vec![Lookup::Hit(b"v".to_vec())]);
/// # Ok::<(), thing::cache::CacheError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryCache {
    values: Moka<String, Value, foldhash::fast::RandomState>,
    shards: Arc<[Mutex<Shard>; SHARDS]>,
    stamps: Arc<Mutex<Stamps>>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.values.entry_count())
            .finish()
    }
}

impl MemoryCache {
    /// A cache holding at most `max_entries` entries.
    ///
    /// ```
    /// let cache = thing::cache::MemoryCache::new(1_000);
    /// # let _ = cache;
    /// ```
    pub fn new(max_entries: u64) -> Self {
        Self {
            values: Moka::builder()
                .max_capacity(max_entries)
                .expire_after(ValueExpiry)
                .build_with_hasher(foldhash::fast::RandomState::default()),
            shards: Arc::new(std::array::from_fn(|_| Mutex::default())),
            stamps: Arc::default(),
        }
    }

    /// The shard of `key`, locked.
    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        self.shards[hash as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn stamps(&self) -> MutexGuard<'_, Stamps> {
        self.stamps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks up one key, leasing it when empty. Runs on the calling thread.
    fn lookup(&self, key: &str, lease_ttl: Duration) -> Lookup {
        if let Some(value) = self.values.get(key) {
            return Lookup::Hit(value.bytes.to_vec());
        }
        let mut shard = self.shard(key);
        // A fill may have landed since the first look.
        if let Some(value) = self.values.get(key) {
            return Lookup::Hit(value.bytes.to_vec());
        }
        let now = Instant::now();
        if shard.locked(key, now) {
            return Lookup::Busy;
        }
        if let Some(lease) = shard.leases.get(key).filter(|lease| lease.until > now) {
            return Lookup::Loading(lease.token);
        }
        if shard.leases.len() >= SWEEP_AT {
            shard.leases.retain(|_, lease| lease.until > now);
        }
        let token = LeaseToken::new();
        shard.leases.insert(
            key.to_owned(),
            Lease {
                token,
                until: now + lease_ttl,
            },
        );
        Lookup::Leased(token)
    }

    /// Looks up every key, in order.
    fn lookups(&self, keys: &[String], lease_ttl: Duration) -> Vec<Lookup> {
        keys.iter().map(|key| self.lookup(key, lease_ttl)).collect()
    }

    /// Stores the fill if its lease still holds and no write is in flight,
    /// under the shard's lock.
    fn fill_one(&self, fill: &Fill) -> bool {
        let mut shard = self.shard(&fill.key);
        let now = Instant::now();
        let holds = !shard.locked(&fill.key, now)
            && shard
                .leases
                .get(&fill.key)
                .is_some_and(|lease| lease.token == fill.token && lease.until > now);
        if holds {
            shard.leases.remove(&fill.key);
            self.values.insert(
                fill.key.clone(),
                Value {
                    bytes: Arc::from(fill.value.as_slice()),
                    ttl: fill.ttl,
                },
            );
        }
        holds
    }

    /// Drops the key's value and lease, under the shard's lock.
    fn invalidate_one(&self, key: &str) {
        let mut shard = self.shard(key);
        shard.leases.remove(key);
        self.values.invalidate(key);
    }

    /// Locks a row key: its value and lease are dropped, and nothing fills it
    /// until it is unlocked.
    fn lock_row(&self, key: &str) {
        let mut shard = self.shard(key);
        shard.leases.remove(key);
        self.values.invalidate(key);
        lock(&mut shard.locks, key, Instant::now());
    }

    fn unlock_row(&self, key: &str) {
        unlock(&mut self.shard(key).locks, key);
    }

    /// Whether the fill's stamps still have the values it saw and none is
    /// locked; a missing stamp is created (and the answer is no).
    fn stamps_hold(stamps: &mut Stamps, fill: &StampedFill, now: Instant) -> bool {
        let mut hold = true;
        for (key, seen) in fill.stamps.iter().zip(&fill.seen) {
            let missing = !stamps.values.contains_key(key);
            let current = stamps.current(key);
            let locked = stamps.locks.get(key).is_some_and(|lock| lock.held(now));
            hold &= !missing && !locked && current == *seen;
        }
        hold && fill.stamps.len() == fill.seen.len()
    }
}

impl Cache for MemoryCache {
    fn get_or_lease<'a>(
        &'a self,
        keys: &'a [String],
        lease_ttl: Duration,
    ) -> CacheFuture<'a, Vec<Lookup>> {
        Box::pin(std::future::ready(Ok(self.lookups(keys, lease_ttl))))
    }

    fn get_or_lease_at<'a>(
        &'a self,
        keys: &'a [String],
        stamp: &'a str,
        lease_ttl: Duration,
    ) -> CacheFuture<'a, (Vec<Lookup>, Option<u64>)> {
        let epoch = self.stamps().values.get(stamp).copied();
        Box::pin(std::future::ready(Ok((
            self.lookups(keys, lease_ttl),
            epoch,
        ))))
    }

    fn fill<'a>(&'a self, fills: &'a [Fill]) -> CacheFuture<'a, usize> {
        let stored = fills.iter().filter(|fill| self.fill_one(fill)).count();
        Box::pin(std::future::ready(Ok(stored)))
    }

    fn invalidate<'a>(&'a self, keys: &'a [String]) -> CacheFuture<'a, ()> {
        for key in keys {
            self.invalidate_one(key);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn get_stamped<'a>(
        &'a self,
        key: &'a str,
        stamps: &'a [String],
    ) -> CacheFuture<'a, StampedLookup> {
        let value = self.values.get(key).map(|value| value.bytes.to_vec());
        let current = {
            let held = self.stamps();
            stamps
                .iter()
                .map(|stamp| held.values.get(stamp).copied())
                .collect()
        };
        Box::pin(std::future::ready(Ok(StampedLookup {
            value,
            stamps: current,
        })))
    }

    fn fill_stamped<'a>(&'a self, fill: &'a StampedFill) -> CacheFuture<'a, bool> {
        let mut stamps = self.stamps();
        let stored = Self::stamps_hold(&mut stamps, fill, Instant::now());
        if stored {
            // Under the stamps' lock: no write can bump them in between.
            self.values.insert(
                fill.key.clone(),
                Value {
                    bytes: Arc::from(fill.value.as_slice()),
                    ttl: fill.ttl,
                },
            );
        }
        Box::pin(std::future::ready(Ok(stored)))
    }

    fn begin_write<'a>(&'a self, keys: &'a WriteKeys) -> CacheFuture<'a, ()> {
        for row in &keys.rows {
            self.lock_row(row);
        }
        let mut stamps = self.stamps();
        let now = Instant::now();
        for stamp in &keys.stamps {
            lock(&mut stamps.locks, stamp, now);
            stamps.bump(stamp);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn end_write<'a>(&'a self, keys: &'a WriteKeys) -> CacheFuture<'a, ()> {
        for row in &keys.rows {
            self.invalidate_one(row);
            self.unlock_row(row);
        }
        let mut stamps = self.stamps();
        for stamp in &keys.stamps {
            stamps.bump(stamp);
            unlock(&mut stamps.locks, stamp);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn abort_write<'a>(&'a self, keys: &'a WriteKeys) -> CacheFuture<'a, ()> {
        for row in &keys.rows {
            self.unlock_row(row);
        }
        let mut stamps = self.stamps();
        for stamp in &keys.stamps {
            unlock(&mut stamps.locks, stamp);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn bump<'a>(&'a self, keys: &'a [String]) -> CacheFuture<'a, ()> {
        let mut stamps = self.stamps();
        for stamp in keys {
            stamps.bump(stamp);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn release(&self, key: &str, token: LeaseToken) {
        let mut shard = self.shard(key);
        if shard
            .leases
            .get(key)
            .is_some_and(|lease| lease.token == token)
        {
            shard.leases.remove(key);
        }
    }

    fn is_shared(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(5);

    fn fill(key: &str, token: LeaseToken, value: &[u8]) -> Fill {
        Fill {
            key: key.into(),
            token,
            value: value.to_vec(),
            ttl: Duration::from_secs(60),
        }
    }

    #[test]
    fn one_lease_at_a_time_and_invalidation_revokes_it() {
        let cache = MemoryCache::new(100);
        let Lookup::Leased(first) = cache.lookup("k", LEASE) else {
            panic!("an empty key is leased");
        };
        assert_eq!(cache.lookup("k", LEASE), Lookup::Loading(first));
        cache.invalidate_one("k");
        assert!(!cache.fill_one(&fill("k", first, b"stale")), "revoked");
        let Lookup::Leased(second) = cache.lookup("k", LEASE) else {
            panic!("leased again after the invalidation");
        };
        assert!(!cache.fill_one(&fill("k", first, b"stale")));
        assert!(cache.fill_one(&fill("k", second, b"fresh")));
        assert!(
            !cache.fill_one(&fill("k", second, b"again")),
            "a lease fills once"
        );
        assert_eq!(cache.lookup("k", LEASE), Lookup::Hit(b"fresh".to_vec()));

        let Lookup::Leased(unused) = cache.lookup("other", LEASE) else {
            panic!("leased");
        };
        cache.release("other", LeaseToken(7)); // not its lease: kept
        assert_eq!(cache.lookup("other", LEASE), Lookup::Loading(unused));
        cache.release("other", unused);
        assert!(matches!(cache.lookup("other", LEASE), Lookup::Leased(_)));
    }

    #[test]
    fn expired_leases_are_granted_again_and_swept() {
        let cache = MemoryCache::new(100);
        let Lookup::Leased(old) = cache.lookup("k", Duration::ZERO) else {
            panic!("leased");
        };
        let Lookup::Leased(new) = cache.lookup("k", LEASE) else {
            panic!("an expired lease is granted again");
        };
        assert!(!cache.fill_one(&fill("k", old, b"late")));
        assert!(cache.fill_one(&fill("k", new, b"row")));

        for i in 0..SWEEP_AT * SHARDS * 2 {
            cache.lookup(&format!("abandoned{i}"), Duration::ZERO);
        }
        for shard in cache.shards.iter() {
            let held = shard.lock().unwrap().leases.len();
            assert!(held <= SWEEP_AT, "expired leases are swept: {held} held");
        }
    }

    fn stamped_fill(key: &str, stamps: &[&str], seen: Vec<u64>) -> StampedFill {
        StampedFill {
            key: key.into(),
            value: b"list".to_vec(),
            ttl: Duration::from_secs(60),
            stamps: stamps.iter().map(|s| s.to_string()).collect(),
            seen,
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_stamped_fill_needs_every_stamp_unmoved_and_unlocked() {
        block_on(async {
            let cache = MemoryCache::new(100);
            let stamps = vec!["s1".to_string(), "s2".to_string()];
            let first = cache.get_stamped("list", &stamps).await.unwrap();
            assert_eq!(first.stamps, vec![None, None], "stamps start missing");
            let fill = stamped_fill("list", &["s1", "s2"], vec![0, 0]);
            assert!(
                !cache.fill_stamped(&fill).await.unwrap(),
                "missing: refused"
            );
            let seen: Vec<u64> = cache
                .get_stamped("list", &stamps)
                .await
                .unwrap()
                .stamps
                .into_iter()
                .map(|s| s.expect("created by the refused fill"))
                .collect();
            let write = WriteKeys {
                rows: vec!["row".into()],
                stamps: vec!["s2".into()],
            };
            cache.begin_write(&write).await.unwrap();
            let fill = stamped_fill("list", &["s1", "s2"], seen.clone());
            assert!(
                !cache.fill_stamped(&fill).await.unwrap(),
                "bumped and locked"
            );
            let during = cache.get_stamped("list", &stamps).await.unwrap().stamps;
            let during: Vec<u64> = during.into_iter().map(Option::unwrap).collect();
            let fill = stamped_fill("list", &["s1", "s2"], during.clone());
            assert!(!cache.fill_stamped(&fill).await.unwrap(), "locked");
            assert_eq!(cache.lookup("row", LEASE), Lookup::Busy, "a locked row");
            cache.end_write(&write).await.unwrap();
            assert!(!cache.fill_stamped(&fill).await.unwrap(), "bumped again");
            let after: Vec<u64> = cache
                .get_stamped("list", &stamps)
                .await
                .unwrap()
                .stamps
                .into_iter()
                .map(Option::unwrap)
                .collect();
            assert_eq!(after[0], seen[0]);
            assert_eq!(after[1], seen[1].wrapping_add(2));
            let fill = stamped_fill("list", &["s1", "s2"], after);
            assert!(cache.fill_stamped(&fill).await.unwrap());
            let hit = cache.get_stamped("list", &stamps).await.unwrap();
            assert_eq!(hit.value.as_deref(), Some(&b"list"[..]));
            assert!(matches!(cache.lookup("row", LEASE), Lookup::Leased(_)));
        });
    }

    #[test]
    fn two_writers_hold_two_locks() {
        block_on(async {
            let cache = MemoryCache::new(100);
            let write = WriteKeys {
                rows: vec!["row".into()],
                stamps: vec!["s".into()],
            };
            cache.begin_write(&write).await.unwrap();
            cache.begin_write(&write).await.unwrap();
            cache.end_write(&write).await.unwrap();
            assert_eq!(
                cache.lookup("row", LEASE),
                Lookup::Busy,
                "one still in flight"
            );
            cache.abort_write(&write).await.unwrap();
            assert!(matches!(cache.lookup("row", LEASE), Lookup::Leased(_)));
        });
    }

    #[test]
    fn past_the_cap_every_stamp_is_dropped_and_comes_back_at_random() {
        let mut stamps = Stamps::default();
        let before = stamps.current("s");
        for i in 0..MAX_STAMPS {
            stamps.current(&format!("other {i}"));
        }
        assert!(stamps.values.len() <= MAX_STAMPS, "bounded");
        assert!(!stamps.values.contains_key("s"), "dropped with the rest");
        assert_ne!(
            stamps.current("s"),
            before,
            "a new random value: old lists never validate"
        );
    }
}
