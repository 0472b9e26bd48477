//! [`MemoryCache`]: the in-process cache, bounded, on moka.

use super::{Cache, CacheFuture, Fill, LeaseToken, Lookup};
use moka::ops::compute::{CompResult, Op};
use moka::sync::Cache as Moka;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
enum Slot {
    Value { bytes: Arc<[u8]>, ttl: Duration },
    Lease { token: LeaseToken, ttl: Duration },
}

struct SlotExpiry;

impl moka::Expiry<String, Slot> for SlotExpiry {
    fn expire_after_create(&self, _: &String, slot: &Slot, _: Instant) -> Option<Duration> {
        Some(slot.ttl())
    }
    fn expire_after_update(
        &self,
        _: &String,
        slot: &Slot,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(slot.ttl())
    }
}

impl Slot {
    fn ttl(&self) -> Duration {
        match self {
            Self::Value { ttl, .. } | Self::Lease { ttl, .. } => *ttl,
        }
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
    entries: Moka<String, Slot>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl MemoryCache {
    /// A cache holding at most `max_entries` entries.
    pub fn new(max_entries: u64) -> Self {
        Self {
            entries: Moka::builder()
                .max_capacity(max_entries)
                .expire_after(SlotExpiry)
                .build(),
        }
    }

    /// Looks up one key, leasing it when empty. Runs on the calling thread.
    pub(crate) fn lookup(&self, key: &str, lease_ttl: Duration) -> Lookup {
        if let Some(Slot::Value { bytes, .. }) = self.entries.get(key) {
            return Lookup::Hit(bytes.to_vec());
        }
        let token = LeaseToken::new();
        let result = self
            .entries
            .entry(key.to_owned())
            .and_compute_with(|current| match current.map(|entry| entry.into_value()) {
                Some(_) => Op::Nop,
                None => Op::Put(Slot::Lease {
                    token,
                    ttl: lease_ttl,
                }),
            });
        match result {
            CompResult::Inserted(_) => Lookup::Leased(token),
            CompResult::Unchanged(entry) | CompResult::ReplacedWith(entry) => {
                match entry.into_value() {
                    Slot::Value { bytes, .. } => Lookup::Hit(bytes.to_vec()),
                    Slot::Lease { .. } => Lookup::Busy,
                }
            }
            CompResult::StillNone(_) | CompResult::Removed(_) => Lookup::Busy,
        }
    }

    fn fill_one(&self, fill: &Fill) -> bool {
        let bytes: Arc<[u8]> = Arc::from(fill.value.as_slice());
        let ttl = fill.ttl;
        let result = self
            .entries
            .entry(fill.key.clone())
            .and_compute_with(|current| match current.map(|entry| entry.into_value()) {
                Some(Slot::Lease { token, .. }) if token == fill.token => {
                    Op::Put(Slot::Value { bytes, ttl })
                }
                _ => Op::Nop,
            });
        matches!(result, CompResult::ReplacedWith(_))
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
            self.entries.invalidate(key);
        }
        Box::pin(std::future::ready(Ok(())))
    }
}
