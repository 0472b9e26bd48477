//! [`MemoryCache`]: the in-process cache, bounded, on moka.
//!
//! Values live in moka (bounded, per-entry expiry). Leases live beside them in a
//! few mutex-guarded maps, one per shard of the key space; a fill and an
//! invalidation of a key both run under its shard's lock, which is what makes
//! "store only while the lease holds" atomic. Hits take no lock.

use super::{Cache, CacheFuture, Fill, LeaseToken, Lookup};
use moka::sync::Cache as Moka;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// An instant far enough ahead to stand for "never" (an `Instant` cannot hold
/// `now + Duration::MAX`).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// Shards of the lease maps.
const SHARDS: usize = 16;

/// A shard's lease count past which its expired leases (of readers that never
/// filled) are swept.
const SWEEP_AT: usize = 1024;

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
/// several processes write the same database, use [`RedisCache`](super::RedisCache).
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
    values: Moka<String, Value>,
    leases: Arc<[Mutex<HashMap<String, Lease>>; SHARDS]>,
    registries: Arc<Mutex<HashMap<String, Registry>>>,
}

/// The cached queries of one table: query key → (spec, expiry).
type Registry = HashMap<String, (Vec<u8>, Instant)>;

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.values.entry_count())
            .finish()
    }
}

impl MemoryCache {
    /// A cache holding at most `max_entries` entries.
    pub fn new(max_entries: u64) -> Self {
        Self {
            values: Moka::builder()
                .max_capacity(max_entries)
                .expire_after(ValueExpiry)
                .build(),
            leases: Arc::new(std::array::from_fn(|_| Mutex::default())),
            registries: Arc::default(),
        }
    }

    /// The lease map of `key`'s shard, locked.
    fn shard(&self, key: &str) -> MutexGuard<'_, HashMap<String, Lease>> {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        self.leases[hash as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn registries(&self) -> MutexGuard<'_, HashMap<String, Registry>> {
        self.registries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks up one key, leasing it when empty. Runs on the calling thread.
    fn lookup(&self, key: &str, lease_ttl: Duration) -> Lookup {
        if let Some(value) = self.values.get(key) {
            return Lookup::Hit(value.bytes.to_vec());
        }
        let mut leases = self.shard(key);
        // A fill may have landed since the first look.
        if let Some(value) = self.values.get(key) {
            return Lookup::Hit(value.bytes.to_vec());
        }
        let now = Instant::now();
        if leases.get(key).is_some_and(|lease| lease.until > now) {
            return Lookup::Busy;
        }
        if leases.len() >= SWEEP_AT {
            leases.retain(|_, lease| lease.until > now);
        }
        let token = LeaseToken::new();
        leases.insert(
            key.to_owned(),
            Lease {
                token,
                until: now + lease_ttl,
            },
        );
        Lookup::Leased(token)
    }

    /// Stores the fill if its lease still holds, under the shard's lock.
    fn fill_one(&self, fill: &Fill) -> bool {
        let mut leases = self.shard(&fill.key);
        let holds = leases
            .get(&fill.key)
            .is_some_and(|lease| lease.token == fill.token && lease.until > Instant::now());
        if holds {
            leases.remove(&fill.key);
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
        let mut leases = self.shard(key);
        leases.remove(key);
        self.values.invalidate(key);
    }
}

impl Cache for MemoryCache {
    fn get_or_lease<'a>(
        &'a self,
        keys: &'a [String],
        lease_ttl: Duration,
    ) -> CacheFuture<'a, Vec<Lookup>> {
        let lookups = keys.iter().map(|key| self.lookup(key, lease_ttl)).collect();
        Box::pin(std::future::ready(Ok(lookups)))
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

    fn register<'a>(
        &'a self,
        registry: &'a str,
        query: &'a str,
        spec: &'a [u8],
        ttl: Duration,
    ) -> CacheFuture<'a, ()> {
        let until = Instant::now().checked_add(ttl).unwrap_or_else(far_future);
        self.registries()
            .entry(registry.to_owned())
            .or_default()
            .insert(query.to_owned(), (spec.to_vec(), until));
        Box::pin(std::future::ready(Ok(())))
    }

    fn registered<'a>(&'a self, registry: &'a str) -> CacheFuture<'a, Vec<(String, Vec<u8>)>> {
        let now = Instant::now();
        let mut registries = self.registries();
        let entries = match registries.get_mut(registry) {
            Some(entries) => {
                entries.retain(|_, (_, until)| *until > now);
                entries
                    .iter()
                    .map(|(query, (spec, _))| (query.clone(), spec.clone()))
                    .collect()
            }
            None => Vec::new(),
        };
        Box::pin(std::future::ready(Ok(entries)))
    }

    fn unregister<'a>(&'a self, registry: &'a str, queries: &'a [String]) -> CacheFuture<'a, ()> {
        if let Some(entries) = self.registries().get_mut(registry) {
            for query in queries {
                entries.remove(query);
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn release(&self, key: &str, token: LeaseToken) {
        let mut leases = self.shard(key);
        if leases.get(key).is_some_and(|lease| lease.token == token) {
            leases.remove(key);
        }
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
        assert_eq!(cache.lookup("k", LEASE), Lookup::Busy);
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
        assert_eq!(cache.lookup("other", LEASE), Lookup::Busy);
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
        for shard in cache.leases.iter() {
            let held = shard.lock().unwrap().len();
            assert!(held <= SWEEP_AT, "expired leases are swept: {held} held");
        }
    }
}
