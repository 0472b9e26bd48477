//! [`MemoryCache`]: the in-process cache, bounded, with per-entry expiry.
//!
//! The key space is split into shards, each one map under one mutex holding the
//! shard's values, the leases of its empty keys and the locks of writes in
//! flight. A lookup, a fill and an invalidation of a key each take its shard's
//! lock once, which is what makes "store only while the lease holds" atomic. A
//! hit hashes the key twice (its shard, its slot), takes an uncontended mutex and
//! shares the value's bytes (a reference count, no copy).
//!
//! A full shard evicts by CLOCK (second chance): a hit marks its entry used, and
//! the eviction hand passes over used entries once, clearing the mark, and drops
//! the first entry not used since, or expired. Stamps and their locks live in
//! one more map under one lock, which makes a stamped fill's check-and-store
//! atomic; it is taken before a shard's lock, never after.
//!
//! Values and leases are kept under their keys. Stamps and write locks are
//! kept under a 64-bit seeded hash of their keys ([`KeyHash`]), so a write
//! copies no key and frees none: a batch of 100 rows takes about 200 locks and
//! bumps. Two keys whose hashes are equal share one stamp and one lock, which
//! can only make a write invalidate or hold back more than it must, never let
//! a stale value be stored or read (`keys_whose_hashes_collide_only_lock_more`).

use super::{Cache, CacheFuture, Fill, LeaseToken, Lookup, StampedFill, StampedLookup, WriteKeys};
use bytes::Bytes;
use foldhash::HashMap;
use indexmap::IndexMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Shards of the key space.
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

/// The latest instant `ttl` after `now` that the clock can hold.
fn deadline(now: Instant, ttl: Duration) -> Instant {
    now.checked_add(ttl)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// One stored value.
#[derive(Debug)]
struct Slot {
    bytes: Bytes,
    expires: Instant,
    /// Hit since the eviction hand last passed it.
    used: bool,
}

/// The values of one shard, bounded, evicted by CLOCK.
#[derive(Debug, Default)]
struct Values {
    slots: IndexMap<Box<str>, Slot, foldhash::fast::RandomState>,
    /// Where the eviction hand is in `slots`.
    hand: usize,
}

impl Values {
    /// The live value of `key`, marked used; an expired one is dropped.
    fn get(&mut self, key: &str, now: Instant) -> Option<Bytes> {
        let (index, _, slot) = self.slots.get_full_mut(key)?;
        if slot.expires <= now {
            self.slots.swap_remove_index(index);
            return None;
        }
        slot.used = true;
        Some(slot.bytes.clone())
    }

    /// Stores `bytes` under `key` for `ttl`, evicting first if the shard holds
    /// `capacity` values.
    fn insert(&mut self, key: &str, bytes: Bytes, ttl: Duration, now: Instant, capacity: usize) {
        let expires = deadline(now, ttl);
        if let Some(slot) = self.slots.get_mut(key) {
            *slot = Slot {
                bytes,
                expires,
                used: true,
            };
            return;
        }
        if capacity == 0 {
            return;
        }
        while self.slots.len() >= capacity {
            self.evict_one(now);
        }
        let slot = Slot {
            bytes,
            expires,
            used: false,
        };
        self.slots.insert(key.into(), slot);
    }

    /// Drops the first value at or past the hand that is expired or not used
    /// since the hand last passed it, clearing the marks it passes.
    fn evict_one(&mut self, now: Instant) {
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let Some((_, slot)) = self.slots.get_index_mut(self.hand) else {
                return;
            };
            if slot.used && slot.expires > now {
                slot.used = false;
                self.hand += 1;
            } else {
                // The last value moves into the hand's place, to be looked at next.
                self.slots.swap_remove_index(self.hand);
                return;
            }
        }
    }

    fn remove(&mut self, key: &str) {
        self.slots.swap_remove(key);
    }

    fn len(&self) -> usize {
        self.slots.len()
    }
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

/// A key's 64-bit hash under its cache's seed: what stamps and write locks
/// are kept under, and what picks the key's shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct KeyHash(u64);

/// The write locks of a shard's keys or of the stamps.
type Locks = HashMap<KeyHash, Lock>;

/// The values, leases and row locks of one shard of the key space.
#[derive(Debug, Default)]
struct Shard {
    values: Values,
    leases: HashMap<String, Lease>,
    locks: Locks,
}

impl Shard {
    /// Drops the key's value and lease.
    fn forget(&mut self, key: &str) {
        self.leases.remove(key);
        self.values.remove(key);
    }
}

/// Stamps and their locks.
#[derive(Debug, Default)]
struct Stamps {
    values: HashMap<KeyHash, u64>,
    locks: Locks,
}

impl Stamps {
    /// The stamp's value, created at random when missing.
    fn current(&mut self, key: KeyHash) -> u64 {
        if let Some(&value) = self.values.get(&key) {
            return value;
        }
        if self.values.len() >= MAX_STAMPS {
            self.values.clear();
        }
        let value = super::stamp_start();
        self.values.insert(key, value);
        value
    }

    /// Moves the stamp on. A missing one is left missing: no fill validates
    /// against it (the first refused fill creates it at random), and a batch
    /// of new rows does not fill the map with the stamps of their ids.
    fn bump(&mut self, key: KeyHash) {
        if let Some(value) = self.values.get_mut(&key) {
            *value = value.wrapping_add(1);
        }
    }
}

/// Whether a write holds a lock of `key`.
fn locked(locks: &Locks, key: KeyHash, now: Instant) -> bool {
    locks.get(&key).is_some_and(|lock| lock.held(now))
}

/// Takes one lock of `key` for the window (a lock that expired counts
/// again from 1).
fn lock(locks: &mut Locks, key: KeyHash, now: Instant) {
    let until = now + LOCK_WINDOW;
    let lock = locks.entry(key).or_insert(Lock { count: 0, until });
    lock.count = if lock.held(now) { lock.count + 1 } else { 1 };
    lock.until = until;
}

fn unlock(locks: &mut Locks, key: KeyHash) {
    if let Some(lock) = locks.get_mut(&key) {
        lock.count = lock.count.saturating_sub(1);
        if lock.count == 0 {
            locks.remove(&key);
        }
    }
}

fn shard_index(key: KeyHash) -> usize {
    (key.0 % SHARDS as u64) as usize
}

fn lock_shard(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|e| e.into_inner())
}

/// An in-process cache, bounded by entry count: a full cache drops entries not
/// read lately first (CLOCK, per shard). The default cache of
/// [`Db::connect`](crate::Db::connect).
///
/// It is coherent only for writes made through `Db` handles sharing it; when
/// several processes write the same database, use a `RedisCache`.
///
/// ```
/// use thing::cache::{Bytes, Cache, Fill, Lookup, MemoryCache};
/// use std::time::Duration;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cache = MemoryCache::new(10_000);
/// let keys = vec!["k".to_string()];
/// let Lookup::Leased(token) = cache.get_or_lease(&keys, Duration::from_secs(5)).await? [0] else {
///     unreachable!()
/// };
/// let value = Bytes::from_static(b"v");
/// let fill = Fill { key: "k".into(), token, value: value.clone(), ttl: Duration::from_secs(60) };
/// assert_eq!(cache.fill(std::slice::from_ref(&fill)).await?, 1);
/// assert_eq!(cache.get_or_lease(&keys, Duration::from_secs(5)).await?, vec![Lookup::Hit(value)]);
/// # Ok::<(), thing::cache::CacheError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryCache {
    shards: Arc<[Mutex<Shard>; SHARDS]>,
    /// Values one shard holds at most.
    per_shard: usize,
    stamps: Arc<Mutex<Stamps>>,
    /// The seed of [`KeyHash`]es, random per cache.
    hasher: KeyHasher,
}

/// How a cache hashes its keys: seeded at random, or (in tests) every key to
/// one hash.
#[derive(Clone)]
enum KeyHasher {
    Seeded(foldhash::quality::RandomState),
    #[cfg(test)]
    Colliding,
}

impl KeyHasher {
    fn hash(&self, key: &str) -> KeyHash {
        match self {
            Self::Seeded(state) => KeyHash(state.hash_one(key)),
            #[cfg(test)]
            Self::Colliding => KeyHash(7),
        }
    }
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.entry_count())
            .finish()
    }
}

impl MemoryCache {
    /// A cache holding at most `max_entries` entries (rows and lists), rounded
    /// up to a multiple of its 16 shards; each shard holds a sixteenth.
    ///
    /// ```
    /// let cache = thing::cache::MemoryCache::new(1_000);
    /// assert_eq!(cache.entry_count(), 0);
    /// ```
    pub fn new(max_entries: u64) -> Self {
        let per_shard = max_entries.div_ceil(SHARDS as u64);
        Self {
            shards: Arc::new(std::array::from_fn(|_| Mutex::default())),
            per_shard: usize::try_from(per_shard).unwrap_or(usize::MAX),
            stamps: Arc::default(),
            hasher: KeyHasher::Seeded(foldhash::quality::RandomState::default()),
        }
    }

    /// How many values (rows, absences and lists) the cache holds now,
    /// expired ones not yet dropped included.
    ///
    /// ```
    /// let cache = thing::cache::MemoryCache::new(1_000);
    /// assert_eq!(cache.entry_count(), 0);
    /// ```
    pub fn entry_count(&self) -> u64 {
        self.shards
            .iter()
            .map(|shard| lock_shard(shard).values.len() as u64)
            .sum()
    }

    fn key_hash(&self, key: &str) -> KeyHash {
        self.hasher.hash(key)
    }

    /// The shard of `key`, locked, and the key's hash.
    fn shard(&self, key: &str) -> (MutexGuard<'_, Shard>, KeyHash) {
        let hash = self.key_hash(key);
        (lock_shard(&self.shards[shard_index(hash)]), hash)
    }

    fn stamps(&self) -> MutexGuard<'_, Stamps> {
        self.stamps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks up one key, leasing it when empty. Runs on the calling thread.
    fn lookup(&self, key: &str, lease_ttl: Duration, now: Instant) -> Lookup {
        let (mut shard, hash) = self.shard(key);
        if let Some(bytes) = shard.values.get(key, now) {
            return Lookup::Hit(bytes);
        }
        if locked(&shard.locks, hash, now) {
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

    /// Looks up every key, in order, at one instant.
    fn lookups(&self, keys: &[String], lease_ttl: Duration) -> Vec<Lookup> {
        let now = Instant::now();
        keys.iter()
            .map(|key| self.lookup(key, lease_ttl, now))
            .collect()
    }

    /// Stores the fill if its lease still holds and no write is in flight,
    /// under the shard's lock.
    fn fill_one(&self, fill: &Fill) -> bool {
        let (mut shard, hash) = self.shard(&fill.key);
        let now = Instant::now();
        let holds = !locked(&shard.locks, hash, now)
            && shard
                .leases
                .get(&fill.key)
                .is_some_and(|lease| lease.token == fill.token && lease.until > now);
        if holds {
            shard.leases.remove(&fill.key);
            let value = fill.value.clone();
            shard
                .values
                .insert(&fill.key, value, fill.ttl, now, self.per_shard);
        }
        holds
    }

    /// Drops the key's value and lease, under the shard's lock.
    fn invalidate_one(&self, key: &str) {
        self.shard(key).0.forget(key);
    }

    /// Locks a row key: its value and lease are dropped, and nothing fills it
    /// until it is unlocked.
    fn lock_row(&self, key: &str, now: Instant) {
        let (mut shard, hash) = self.shard(key);
        shard.forget(key);
        lock(&mut shard.locks, hash, now);
    }

    /// After a write's commit: drops the row key's value and lease (filled
    /// from a read that came before the commit) and one of its locks.
    fn end_row(&self, key: &str) {
        let (mut shard, hash) = self.shard(key);
        shard.forget(key);
        unlock(&mut shard.locks, hash);
    }

    /// After a write's rollback: one of the row key's locks.
    fn abort_row(&self, key: &str) {
        let (mut shard, hash) = self.shard(key);
        unlock(&mut shard.locks, hash);
    }

    /// Whether the fill's stamps still have the values it saw and none is
    /// locked; a missing stamp is created (and the answer is no).
    fn stamps_hold(&self, stamps: &mut Stamps, fill: &StampedFill, now: Instant) -> bool {
        let mut hold = true;
        for (key, seen) in fill.stamps.iter().zip(&fill.seen) {
            let key = self.key_hash(key);
            let missing = !stamps.values.contains_key(&key);
            let current = stamps.current(key);
            hold &= !missing && !locked(&stamps.locks, key, now) && current == *seen;
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
        let epoch = self.stamps().values.get(&self.key_hash(stamp)).copied();
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
        let value = self.shard(key).0.values.get(key, Instant::now());
        let current = {
            let held = self.stamps();
            stamps
                .iter()
                .map(|stamp| held.values.get(&self.key_hash(stamp)).copied())
                .collect()
        };
        Box::pin(std::future::ready(Ok(StampedLookup {
            value,
            stamps: current,
        })))
    }

    fn get_stamps<'a>(&'a self, stamps: &'a [String]) -> CacheFuture<'a, Vec<Option<u64>>> {
        let held = self.stamps();
        let current = stamps
            .iter()
            .map(|stamp| held.values.get(&self.key_hash(stamp)).copied())
            .collect();
        Box::pin(std::future::ready(Ok(current)))
    }

    fn fill_stamped<'a>(&'a self, fill: &'a StampedFill) -> CacheFuture<'a, bool> {
        let mut stamps = self.stamps();
        let now = Instant::now();
        let stored = self.stamps_hold(&mut stamps, fill, now);
        if stored {
            // Under the stamps' lock: no write can bump them in between.
            let value = fill.value.clone();
            self.shard(&fill.key)
                .0
                .values
                .insert(&fill.key, value, fill.ttl, now, self.per_shard);
        }
        Box::pin(std::future::ready(Ok(stored)))
    }

    fn begin_write<'a>(&'a self, keys: &'a WriteKeys) -> CacheFuture<'a, ()> {
        let now = Instant::now();
        for row in &keys.rows {
            self.lock_row(row, now);
        }
        let mut stamps = self.stamps();
        for stamp in &keys.stamps {
            let stamp = self.key_hash(stamp);
            lock(&mut stamps.locks, stamp, now);
            stamps.bump(stamp);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn end_write<'a>(
        &'a self,
        locked: &'a WriteKeys,
        learned: &'a WriteKeys,
    ) -> CacheFuture<'a, ()> {
        for row in &locked.rows {
            self.end_row(row);
        }
        for row in &learned.rows {
            self.invalidate_one(row);
        }
        let mut stamps = self.stamps();
        for stamp in &locked.stamps {
            let stamp = self.key_hash(stamp);
            stamps.bump(stamp);
            unlock(&mut stamps.locks, stamp);
        }
        for stamp in &learned.stamps {
            stamps.bump(self.key_hash(stamp));
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn abort_write<'a>(&'a self, keys: &'a WriteKeys) -> CacheFuture<'a, ()> {
        for row in &keys.rows {
            self.abort_row(row);
        }
        let mut stamps = self.stamps();
        for stamp in &keys.stamps {
            unlock(&mut stamps.locks, self.key_hash(stamp));
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn bump<'a>(&'a self, keys: &'a [String]) -> CacheFuture<'a, ()> {
        let mut stamps = self.stamps();
        for stamp in keys {
            stamps.bump(self.key_hash(stamp));
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn release(&self, key: &str, token: LeaseToken) {
        let (mut shard, _) = self.shard(key);
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
            value: Bytes::copy_from_slice(value),
            ttl: Duration::from_secs(60),
        }
    }

    #[test]
    fn one_lease_at_a_time_and_invalidation_revokes_it() {
        let cache = MemoryCache::new(100);
        let Lookup::Leased(first) = cache.lookup("k", LEASE, Instant::now()) else {
            panic!("an empty key is leased");
        };
        assert_eq!(
            cache.lookup("k", LEASE, Instant::now()),
            Lookup::Loading(first)
        );
        cache.invalidate_one("k");
        assert!(!cache.fill_one(&fill("k", first, b"stale")), "revoked");
        let Lookup::Leased(second) = cache.lookup("k", LEASE, Instant::now()) else {
            panic!("leased again after the invalidation");
        };
        assert!(!cache.fill_one(&fill("k", first, b"stale")));
        assert!(cache.fill_one(&fill("k", second, b"fresh")));
        assert!(
            !cache.fill_one(&fill("k", second, b"again")),
            "a lease fills once"
        );
        assert_eq!(
            cache.lookup("k", LEASE, Instant::now()),
            Lookup::Hit(Bytes::from_static(b"fresh"))
        );

        let Lookup::Leased(unused) = cache.lookup("other", LEASE, Instant::now()) else {
            panic!("leased");
        };
        cache.release("other", LeaseToken(7)); // not its lease: kept
        assert_eq!(
            cache.lookup("other", LEASE, Instant::now()),
            Lookup::Loading(unused)
        );
        cache.release("other", unused);
        assert!(matches!(
            cache.lookup("other", LEASE, Instant::now()),
            Lookup::Leased(_)
        ));
    }

    #[test]
    fn expired_leases_are_granted_again_and_swept() {
        let cache = MemoryCache::new(100);
        let Lookup::Leased(old) = cache.lookup("k", Duration::ZERO, Instant::now()) else {
            panic!("leased");
        };
        let Lookup::Leased(new) = cache.lookup("k", LEASE, Instant::now()) else {
            panic!("an expired lease is granted again");
        };
        assert!(!cache.fill_one(&fill("k", old, b"late")));
        assert!(cache.fill_one(&fill("k", new, b"row")));

        for i in 0..SWEEP_AT * SHARDS * 2 {
            cache.lookup(&format!("abandoned{i}"), Duration::ZERO, Instant::now());
        }
        for shard in cache.shards.iter() {
            let held = shard.lock().unwrap().leases.len();
            assert!(held <= SWEEP_AT, "expired leases are swept: {held} held");
        }
    }

    fn stamped_fill(key: &str, stamps: &[&str], seen: Vec<u64>) -> StampedFill {
        StampedFill {
            key: key.into(),
            value: Bytes::from_static(b"list"),
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
            assert_eq!(
                cache.lookup("row", LEASE, Instant::now()),
                Lookup::Busy,
                "a locked row"
            );
            cache
                .end_write(&write, &WriteKeys::default())
                .await
                .unwrap();
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
            assert!(matches!(
                cache.lookup("row", LEASE, Instant::now()),
                Lookup::Leased(_)
            ));
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
            cache
                .end_write(&write, &WriteKeys::default())
                .await
                .unwrap();
            assert_eq!(
                cache.lookup("row", LEASE, Instant::now()),
                Lookup::Busy,
                "one still in flight"
            );
            cache.abort_write(&write).await.unwrap();
            assert!(matches!(
                cache.lookup("row", LEASE, Instant::now()),
                Lookup::Leased(_)
            ));
        });
    }

    /// Fills `key` through a lease of its own.
    fn store(cache: &MemoryCache, key: &str, value: &[u8], ttl: Duration) {
        let Lookup::Leased(token) = cache.lookup(key, LEASE, Instant::now()) else {
            panic!("{key} is empty");
        };
        let mut fill = fill(key, token, value);
        fill.ttl = ttl;
        assert!(cache.fill_one(&fill));
    }

    fn holds(cache: &MemoryCache, key: &str) -> bool {
        matches!(cache.lookup(key, LEASE, Instant::now()), Lookup::Hit(_))
    }

    #[test]
    fn a_full_shard_drops_what_was_not_read_since_the_hand_passed() {
        // 16 entries: one per shard.
        let cache = MemoryCache::new(SHARDS as u64);
        let hour = Duration::from_secs(3600);
        let keys: Vec<String> = (0..2_000).map(|i| format!("key {i}")).collect();
        for key in &keys[..400] {
            store(&cache, key, b"row", hour);
        }
        assert!(cache.entry_count() <= SHARDS as u64, "bounded");
        // Two keys of one shard: the one read survives the next insert there,
        // the one not read goes.
        let cache = MemoryCache::new(2 * SHARDS as u64);
        let shard_of = |key: &str| shard_index(cache.key_hash(key));
        let mut same: Vec<&String> = keys.iter().filter(|key| shard_of(key) == 0).collect();
        let (kept, dropped, newcomer) = (same.remove(0), same.remove(0), same.remove(0));
        store(&cache, kept, b"kept", hour);
        store(&cache, dropped, b"dropped", hour);
        assert!(holds(&cache, kept), "read: marked used");
        store(&cache, newcomer, b"new", hour);
        assert!(holds(&cache, kept), "a second chance");
        assert!(holds(&cache, newcomer));
        assert!(
            matches!(
                cache.lookup(dropped, LEASE, Instant::now()),
                Lookup::Leased(_)
            ),
            "not read since it was stored: evicted"
        );
    }

    #[test]
    fn an_expired_value_is_a_miss_and_is_dropped() {
        let cache = MemoryCache::new(100);
        store(&cache, "short", b"row", Duration::from_millis(1));
        store(&cache, "long", b"row", Duration::MAX);
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(
            cache.lookup("short", LEASE, Instant::now()),
            Lookup::Leased(_)
        ));
        assert!(holds(&cache, "long"), "Duration::MAX does not overflow");
        assert_eq!(cache.entry_count(), 1);
    }

    #[test]
    fn a_write_leaves_a_missing_stamp_missing_and_no_fill_passes_it() {
        block_on(async {
            let cache = MemoryCache::new(100);
            let stamps = vec!["s".to_string()];
            let write = WriteKeys {
                rows: Vec::new(),
                stamps: stamps.clone(),
            };
            cache.begin_write(&write).await.unwrap();
            cache
                .end_write(&write, &WriteKeys::default())
                .await
                .unwrap();
            let seen = cache.get_stamped("list", &stamps).await.unwrap().stamps;
            assert_eq!(seen, vec![None], "not created by the write");
            let fill = stamped_fill("list", &["s"], vec![0]);
            assert!(
                !cache.fill_stamped(&fill).await.unwrap(),
                "missing: refused"
            );
            let seen = cache.get_stamped("list", &stamps).await.unwrap().stamps;
            let fill = stamped_fill("list", &["s"], vec![seen[0].expect("created")]);
            assert!(cache.fill_stamped(&fill).await.unwrap());
        });
    }

    #[test]
    fn keys_whose_hashes_collide_only_lock_more() {
        block_on(async {
            let cache = MemoryCache {
                hasher: KeyHasher::Colliding,
                ..MemoryCache::new(100)
            };
            store(&cache, "a", b"value of a", Duration::from_secs(60));
            store(&cache, "b", b"value of b", Duration::from_secs(60));
            let lookup = |key| cache.lookup(key, LEASE, Instant::now());
            assert_eq!(lookup("a"), Lookup::Hit(Bytes::from_static(b"value of a")));
            assert_eq!(lookup("b"), Lookup::Hit(Bytes::from_static(b"value of b")));

            let stamps = vec!["s-of-list".to_string()];
            cache.get_stamped("list", &stamps).await.unwrap();
            let fill = stamped_fill("list", &["s-of-list"], vec![0]);
            assert!(!cache.fill_stamped(&fill).await.unwrap(), "created");
            let seen = cache.get_stamped("list", &stamps).await.unwrap().stamps;
            let seen: Vec<u64> = seen.into_iter().map(Option::unwrap).collect();

            // Two writes of other keys, sharing the list's stamp and lock.
            let first = WriteKeys {
                rows: vec!["row 1".into()],
                stamps: vec!["s-1".into()],
            };
            let second = WriteKeys {
                rows: vec!["row 2".into()],
                stamps: vec!["s-2".into()],
            };
            cache.begin_write(&first).await.unwrap();
            cache.begin_write(&second).await.unwrap();
            assert_eq!(
                lookup("b"),
                Lookup::Hit(Bytes::from_static(b"value of b")),
                "a lock drops only its own key's value"
            );
            cache.invalidate_one("a");
            assert_eq!(lookup("a"), Lookup::Busy, "a write of row 1 holds a");
            cache
                .end_write(&first, &WriteKeys::default())
                .await
                .unwrap();
            assert_eq!(lookup("a"), Lookup::Busy, "the second write still holds");
            let fill = stamped_fill("list", &["s-of-list"], seen);
            assert!(
                !cache.fill_stamped(&fill).await.unwrap(),
                "another stamp's bump moved this one"
            );
            cache
                .end_write(&second, &WriteKeys::default())
                .await
                .unwrap();

            let now = cache.get_stamped("list", &stamps).await.unwrap().stamps;
            let now: Vec<u64> = now.into_iter().map(Option::unwrap).collect();
            let fill = stamped_fill("list", &["s-of-list"], now);
            assert!(
                cache.fill_stamped(&fill).await.unwrap(),
                "no lock outlives its writes"
            );
            assert!(matches!(lookup("a"), Lookup::Leased(_)));
        });
    }

    #[test]
    fn past_the_cap_every_stamp_is_dropped_and_comes_back_at_random() {
        let mut stamps = Stamps::default();
        let s = KeyHash(u64::MAX);
        let before = stamps.current(s);
        for i in 0..MAX_STAMPS as u64 {
            stamps.current(KeyHash(i));
        }
        assert!(stamps.values.len() <= MAX_STAMPS, "bounded");
        assert!(!stamps.values.contains_key(&s), "dropped with the rest");
        assert_ne!(
            stamps.current(s),
            before,
            "a new random value: old lists never validate"
        );
    }
}
