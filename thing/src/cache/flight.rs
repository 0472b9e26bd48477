//! Single flight: concurrent misses of one key in this process load it once.
//! The first to miss leads; the others wait for the bytes it read.

use bytes::Bytes;
use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// The loads in progress, by cache key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Arc<Landing>>>,
}

/// Where followers wait for a leader.
#[derive(Debug, Default)]
pub(crate) struct Landing {
    done: Notify,
    finished: AtomicBool,
    /// The cache value the leader read, if it finished and had followers.
    bytes: Mutex<Option<Bytes>>,
}

/// What a reader that missed does.
pub(crate) enum Role<'a> {
    Lead(Leader<'a>),
    Follow(Arc<Landing>),
}

impl Flights {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Landing>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leads the load of `key`, or follows the one in progress.
    pub fn lead_or_follow(&self, key: &str) -> Role<'_> {
        let mut map = self.map();
        if let Some(landing) = map.get(key) {
            return Role::Follow(Arc::clone(landing));
        }
        let landing = Arc::new(Landing::default());
        map.insert(key.to_owned(), Arc::clone(&landing));
        Role::Lead(Leader {
            flights: self,
            key: key.to_owned(),
            landing,
        })
    }
}

/// The reader loading a key for the others. Dropping it without [`land`]
/// (an error, a cancelled task) lets the followers try on their own.
///
/// [`land`]: Leader::land
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: String,
    landing: Arc<Landing>,
}

impl Leader<'_> {
    /// Hands the followers the cache value read; `bytes` runs only if there
    /// are followers.
    pub fn land(self, bytes: impl FnOnce() -> Bytes) {
        self.flights.map().remove(&self.key);
        // No one can join any more: the count is final.
        if Arc::strong_count(&self.landing) > 1 {
            *self.landing.bytes.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes());
        }
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut map = self.flights.map();
        if map
            .get(&self.key)
            .is_some_and(|landing| Arc::ptr_eq(landing, &self.landing))
        {
            map.remove(&self.key);
        }
        drop(map);
        self.landing.finished.store(true, Ordering::Release);
        self.landing.done.notify_waiters();
    }
}

impl Landing {
    /// Waits for the leader: the cache value it read, or `None` when it gave up.
    pub async fn wait(&self) -> Option<Bytes> {
        let mut notified = pin!(self.done.notified());
        notified.as_mut().enable();
        if !self.finished.load(Ordering::Acquire) {
            notified.await;
        }
        self.bytes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_get_the_leaders_bytes() {
        let flights = Flights::default();
        let Role::Lead(leader) = flights.lead_or_follow("k") else {
            panic!("the first reader leads");
        };
        let Role::Follow(landing) = flights.lead_or_follow("k") else {
            panic!("the second follows");
        };
        let waiter = tokio::spawn(async move { landing.wait().await });
        tokio::task::yield_now().await;
        leader.land(|| Bytes::from_static(b"row"));
        assert_eq!(waiter.await.unwrap(), Some(Bytes::from_static(b"row")));
        assert!(
            matches!(flights.lead_or_follow("k"), Role::Lead(_)),
            "landed: a new load leads"
        );
    }

    #[tokio::test]
    async fn a_leader_without_followers_encodes_nothing_and_a_dropped_one_releases_them() {
        let flights = Flights::default();
        let Role::Lead(leader) = flights.lead_or_follow("k") else {
            panic!("leads");
        };
        leader.land(|| panic!("no follower, no encoding"));

        let Role::Lead(leader) = flights.lead_or_follow("k") else {
            panic!("leads again");
        };
        let Role::Follow(landing) = flights.lead_or_follow("k") else {
            panic!("follows");
        };
        drop(leader); // failed or cancelled
        assert_eq!(landing.wait().await, None);
        assert!(matches!(flights.lead_or_follow("k"), Role::Lead(_)));
    }
}
