//! Invalidations the cache did not take (it was down or slow), kept and retried
//! in the background until it does.
//!
//! While a key is here, reads in this process treat it as a miss and do not fill
//! it, so this process never serves the value its own write made stale. Once the
//! cache is reachable again the retry deletes the key there too, for every other
//! process.

use super::{Cache, WriteKeys};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const FIRST_RETRY: Duration = Duration::from_millis(50);
const LAST_RETRY: Duration = Duration::from_secs(2);

/// What a failed invalidation left to do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Pending {
    /// Drop this row key.
    Key(String),
    /// Bump this stamp (every list built under it is then invalid).
    Stamp(String),
}

/// The invalidations that failed.
#[derive(Debug, Default)]
pub(crate) struct Unflushed {
    pending: Mutex<HashSet<Pending>>,
    /// Set while a retry task runs (and so while `pending` may be non-empty).
    retrying: AtomicBool,
}

impl Unflushed {
    fn pending(&self) -> MutexGuard<'_, HashSet<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many invalidations wait.
    pub fn len(&self) -> usize {
        if !self.retrying.load(Ordering::Acquire) {
            return 0;
        }
        self.pending().len()
    }

    fn holds(&self, pending: &Pending) -> bool {
        self.retrying.load(Ordering::Acquire) && self.pending().contains(pending)
    }

    /// Whether `key` waits for its invalidation. Cheap when nothing does.
    pub fn contains(&self, key: &str) -> bool {
        // Checked before the key is copied: most lookups stop here.
        self.retrying.load(Ordering::Acquire) && self.holds(&Pending::Key(key.to_owned()))
    }

    /// Whether any of `stamps` waits to be bumped. Cheap when nothing does.
    pub fn contains_any_stamp(&self, stamps: &[String]) -> bool {
        self.retrying.load(Ordering::Acquire) && {
            let pending = self.pending();
            stamps
                .iter()
                .any(|stamp| pending.contains(&Pending::Stamp(stamp.clone())))
        }
    }

    /// Keeps the rows and stamps of a write whose end the cache did not take,
    /// and makes sure a task retries them.
    pub fn add_write(self: &Arc<Self>, cache: &Arc<dyn Cache>, keys: &WriteKeys) {
        let rows = keys.rows.iter().cloned().map(Pending::Key);
        let stamps = keys.stamps.iter().cloned().map(Pending::Stamp);
        self.keep(cache, rows.chain(stamps));
    }

    fn keep(self: &Arc<Self>, cache: &Arc<dyn Cache>, pending: impl Iterator<Item = Pending>) {
        self.pending().extend(pending);
        if !self.retrying.swap(true, Ordering::AcqRel) {
            tokio::spawn(retry(Arc::downgrade(self), Arc::clone(cache)));
        }
    }
}

/// Does one pending invalidation against the cache.
async fn flush(cache: &dyn Cache, pending: &Pending) -> bool {
    match pending {
        Pending::Key(key) => cache.invalidate(std::slice::from_ref(key)).await.is_ok(),
        Pending::Stamp(stamp) => cache.bump(std::slice::from_ref(stamp)).await.is_ok(),
    }
}

/// Retries until every pending invalidation is done, backing off up to two
/// seconds between tries. Stops when the `Db` that owns the set is dropped.
async fn retry(unflushed: std::sync::Weak<Unflushed>, cache: Arc<dyn Cache>) {
    let mut pause = FIRST_RETRY;
    loop {
        tokio::time::sleep(pause).await;
        let Some(unflushed) = unflushed.upgrade() else {
            return;
        };
        let batch: Vec<Pending> = unflushed.pending().iter().cloned().collect();
        let mut done = Vec::with_capacity(batch.len());
        for pending in batch {
            if !flush(cache.as_ref(), &pending).await {
                break;
            }
            done.push(pending);
        }
        let mut pending = unflushed.pending();
        let progressed = !done.is_empty();
        for item in &done {
            pending.remove(item);
        }
        if pending.is_empty() {
            // Cleared under the lock: anything added after this point sees
            // `retrying == false` and starts a new task.
            unflushed.retrying.store(false, Ordering::Release);
            return;
        }
        pause = if progressed {
            FIRST_RETRY
        } else {
            (pause * 2).min(LAST_RETRY)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{
        CacheError, CacheErrorKind, CacheFuture, Fill, Lookup, StampedFill, StampedLookup,
    };
    use std::sync::atomic::AtomicUsize;

    /// Fails the first `failures` invalidations, then takes them.
    #[derive(Debug)]
    struct Flaky {
        failures: AtomicUsize,
        taken: Mutex<Vec<String>>,
    }

    impl Cache for Flaky {
        fn get_or_lease<'a>(
            &'a self,
            _: &'a [String],
            _: Duration,
        ) -> CacheFuture<'a, Vec<Lookup>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn fill<'a>(&'a self, _: &'a [Fill]) -> CacheFuture<'a, usize> {
            Box::pin(async { Ok(0) })
        }
        fn get_stamped<'a>(
            &'a self,
            _: &'a str,
            _: &'a [String],
        ) -> CacheFuture<'a, StampedLookup> {
            Box::pin(async { Err(CacheError::new(CacheErrorKind::Unreachable, "unused")) })
        }
        fn fill_stamped<'a>(&'a self, _: &'a StampedFill) -> CacheFuture<'a, bool> {
            Box::pin(async { Ok(false) })
        }
        fn begin_write<'a>(&'a self, _: &'a WriteKeys) -> CacheFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn end_write<'a>(&'a self, _: &'a WriteKeys, _: &'a WriteKeys) -> CacheFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn abort_write<'a>(&'a self, _: &'a WriteKeys) -> CacheFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn bump<'a>(&'a self, _: &'a [String]) -> CacheFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn invalidate<'a>(&'a self, keys: &'a [String]) -> CacheFuture<'a, ()> {
            Box::pin(async move {
                let left = self.failures.load(Ordering::SeqCst);
                if left > 0 {
                    self.failures.store(left - 1, Ordering::SeqCst);
                    return Err(CacheError::new(CacheErrorKind::Unreachable, "down"));
                }
                self.taken.lock().unwrap().extend(keys.iter().cloned());
                Ok(())
            })
        }
    }

    fn keys(rows: &[&str]) -> WriteKeys {
        WriteKeys {
            rows: rows.iter().map(|row| row.to_string()).collect(),
            stamps: Vec::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn kept_keys_are_retried_until_the_cache_takes_them() {
        let flaky = Arc::new(Flaky {
            failures: AtomicUsize::new(3),
            taken: Mutex::default(),
        });
        let cache: Arc<dyn Cache> = flaky.clone();
        let unflushed = Arc::new(Unflushed::default());
        unflushed.add_write(&cache, &keys(&["a", "b"]));
        assert!(unflushed.contains("a") && !unflushed.contains("c"));
        assert_eq!(unflushed.len(), 2);

        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(unflushed.len(), 0);
        assert!(!unflushed.contains("a"));
        let mut taken = flaky.taken.lock().unwrap().clone();
        taken.sort();
        assert_eq!(taken, vec!["a".to_string(), "b".to_string()]);

        // A later failure starts a new retry.
        unflushed.add_write(&cache, &keys(&["c"]));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(unflushed.len(), 0);
        assert!(flaky.taken.lock().unwrap().contains(&"c".to_string()));
    }
}
