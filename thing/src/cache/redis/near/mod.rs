//! The near tier of a [`RedisCache`](super::RedisCache): rows, lists and
//! stamps kept in process memory in front of Redis, coherent with every
//! other process's writes.
//!
//! * [`store`] holds the entries, the lease, and the guard against a fill
//!   landing after an invalidation it did not see.
//! * [`tracking`] keeps the tracking connection: Redis client tracking in
//!   broadcast mode sends this tier every change under the key prefix; the
//!   heartbeat renews the lease; the tier answers other writers' markers.
//! * This module is what the cache's calls ask of the tier: hits, what to
//!   keep from Redis' replies, and a write's wait for the other tiers.
//!
//! The protocol and why it keeps the promise are in `docs/consistency.md`.

mod store;
mod tracking;

use crate::cache::{CacheError, CacheErrorKind, Lookup, StampedLookup};
use crate::observe::stats;
use deadpool_redis::redis::{self, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use store::{Held, Store, Ticket};

/// The settings of a [`RedisCache`](super::RedisCache)'s near tier, given to
/// [`RedisCacheBuilder::near`](super::RedisCacheBuilder::near).
///
/// The tier serves hits from process memory only while it holds a lease that
/// its heartbeat renews, and every write through a `RedisCache` with a near
/// tier on the same Redis returns only once every other live tier has dropped
/// what it changed (or that tier's lease ran out). So no read through any
/// handle on that Redis, with a near tier or not, returns a value older than
/// such a write that returned before it started. A write through a
/// `RedisCache` without a near tier does not wait: the tiers may serve the old
/// value for up to one lease after it returned.
///
/// ```
/// use thing::cache::NearOptions;
/// use std::time::Duration;
/// let near = NearOptions::new()
///     .max_bytes(128 << 20)
///     .max_age(Duration::from_secs(30))
///     .key_prefix("app");
/// assert_eq!(near.lease(), NearOptions::DEFAULT_LEASE);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearOptions {
    max_bytes: usize,
    max_age: Duration,
    lease: Duration,
    prefix: String,
}

impl Default for NearOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl NearOptions {
    /// The default [byte bound](NearOptions::max_bytes): 64 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 64 << 20;
    /// The default [maximum age](NearOptions::max_age) of an entry: 60 s.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);
    /// The default [lease](NearOptions::lease): 1 s.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(1);

    /// The defaults: 64 MiB, entries at most 60 s old, a 1 s lease, the key
    /// prefix `thing` (the default of [`DbBuilder::key_prefix`](crate::DbBuilder::key_prefix)).
    pub fn new() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_age: Self::DEFAULT_MAX_AGE,
            lease: Self::DEFAULT_LEASE,
            prefix: "thing".into(),
        }
    }

    /// How many bytes of keys and values the tier holds at most (each entry
    /// also counts a fixed 64 bytes); past it, entries are dropped at random.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// How long an entry is served at most after it was read from Redis.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// How long a heartbeat lets the tier serve hits (renewed four times in
    /// it). It bounds what a tier that stalls or loses its connection costs a
    /// write: the write waits for its answer at most until its lease runs
    /// out. At least 50 ms.
    pub fn lease_time(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(50));
        self
    }

    /// The [lease](NearOptions::lease_time).
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The key prefix of the [`Db`](crate::Db) handles using this cache
    /// ([`DbBuilder::key_prefix`](crate::DbBuilder::key_prefix), default
    /// `thing`). The tier tracks the keys under it and keeps no other: a
    /// handle with another prefix gets no near hits, never wrong ones.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

/// What a near tier did, from [`RedisCache::near_stats`](super::RedisCache::near_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NearStats {
    /// Keys served from process memory.
    pub hits: u64,
    /// Calls that went to Redis (some key was not held, or no lease).
    pub misses: u64,
    /// Times everything was dropped: a lost connection, a `FLUSHALL`, a lease
    /// that ran out.
    pub flushes: u64,
    /// Writes that waited for another live tier's answer.
    pub write_waits: u64,
    /// Their waits in all, in microseconds.
    pub write_wait_micros: u64,
    /// Writes whose wait ended because a tier's lease ran out, not because
    /// it answered.
    pub lease_expiries: u64,
    /// Entries and bytes held now.
    pub entries: u64,
    /// See [`NearStats::entries`].
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    flushes: AtomicU64,
    write_waits: AtomicU64,
    write_wait_micros: AtomicU64,
    lease_expiries: AtomicU64,
}

/// The names the tier uses in Redis, all derived from the key prefix.
#[derive(Debug)]
struct Names {
    /// What every tracked key begins with: `{prefix}:`.
    tracked: String,
    /// What a write's marker key begins with: `{prefix}:~near:w:`.
    marker: String,
    /// The sorted set of live tiers and their lease ends (Redis time, ms):
    /// `{prefix}~near:tiers`, outside the tracked prefix.
    tiers: String,
    /// What a tier's answer channel begins with: `{prefix}~near:ack:`.
    acks: String,
}

impl Names {
    fn new(prefix: &str) -> Self {
        Self {
            tracked: format!("{prefix}:"),
            marker: format!("{prefix}:~near:w:"),
            tiers: format!("{prefix}~near:tiers"),
            acks: format!("{prefix}~near:ack:"),
        }
    }

    fn ack_channel(&self, incarnation: u64) -> String {
        format!("{}{incarnation}", self.acks)
    }
}

/// A write waiting for the other tiers' answers to its marker.
#[derive(Debug, Default)]
struct Waiter {
    answered: Mutex<HashSet<u64>>,
    notify: tokio::sync::Notify,
}

/// What the tier, its tracking task and its push handler share.
struct Shared {
    options: NearOptions,
    names: Names,
    store: Mutex<Store>,
    waiters: Mutex<HashMap<u64, Arc<Waiter>>>,
    next_write: AtomicU64,
    counters: Counters,
    /// Test hook: where the next lookup stops between Redis' reply and
    /// keeping it (`reached`, `release`).
    #[cfg(feature = "test-hooks")]
    keep_gate: Mutex<Option<(Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>)>>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn waiters(&self) -> MutexGuard<'_, HashMap<u64, Arc<Waiter>>> {
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn flushed(&self, held: bool) {
        if held {
            self.counters.flushes.fetch_add(1, Ordering::Relaxed);
            stats::near_flush();
        }
    }
}

/// A near tier: its shared state and its tracking task (stopped on drop).
pub(super) struct Near {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Near {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A write's announcement to the other tiers, made by its last script (the
/// marker, which they answer once they dropped what the write changed).
/// Dropped (the write done, or its future dropped mid-way), it takes its
/// waiter out of the map.
pub(super) struct Announce {
    write: u64,
    incarnation: Option<u64>,
    waiter: Arc<Waiter>,
    shared: Arc<Shared>,
}

impl Drop for Announce {
    fn drop(&mut self) {
        self.shared.waiters().remove(&self.write);
    }
}

impl Near {
    /// Starts the tier's tracking task on the server at `info`.
    pub(super) fn start(
        options: NearOptions,
        info: redis::ConnectionInfo,
        connect_timeout: Duration,
    ) -> Self {
        let shared = Arc::new(Shared {
            names: Names::new(&options.prefix),
            store: Mutex::new(Store::new(options.max_bytes, options.max_age)),
            options,
            waiters: Mutex::new(HashMap::new()),
            next_write: AtomicU64::new(1),
            counters: Counters::default(),
            #[cfg(feature = "test-hooks")]
            keep_gate: Mutex::new(None),
        });
        let task = tokio::spawn(tracking::run(Arc::clone(&shared), info, connect_timeout));
        Self { shared, task }
    }

    /// Whether the tier holds its lease now (it serves hits).
    pub(super) fn is_serving(&self) -> bool {
        self.shared.store().serving(Instant::now())
    }

    /// Waits until the tier holds its lease, at most `limit`.
    pub(super) async fn ready(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if self.is_serving() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        self.is_serving()
    }

    pub(super) fn stats(&self) -> NearStats {
        let counters = &self.shared.counters;
        let store = self.shared.store();
        NearStats {
            hits: counters.hits.load(Ordering::Relaxed),
            misses: counters.misses.load(Ordering::Relaxed),
            flushes: counters.flushes.load(Ordering::Relaxed),
            write_waits: counters.write_waits.load(Ordering::Relaxed),
            write_wait_micros: counters.write_wait_micros.load(Ordering::Relaxed),
            lease_expiries: counters.lease_expiries.load(Ordering::Relaxed),
            entries: store.len() as u64,
            bytes: store.bytes() as u64,
        }
    }

    fn hit(&self, keys: usize) {
        self.shared
            .counters
            .hits
            .fetch_add(keys as u64, Ordering::Relaxed);
        stats::near_hits(keys as u64);
    }

    /// A call going to Redis: its ticket, for keeping what it reads.
    pub(super) fn ticket(&self) -> Ticket {
        self.shared.counters.misses.fetch_add(1, Ordering::Relaxed);
        self.shared.store().ticket(Instant::now())
    }

    /// Every key's value, if the tier serves and holds them all.
    fn values(store: &mut Store, keys: &[String], now: Instant) -> Option<Vec<Lookup>> {
        keys.iter()
            .map(|key| match store.get(key, now)? {
                Held::Value(bytes) => Some(Lookup::Hit(bytes)),
                Held::Stamp(_) => None,
            })
            .collect()
    }

    /// A stamp's value, if the tier holds it.
    fn stamp_value(store: &mut Store, stamp: &str, now: Instant) -> Option<u64> {
        match store.get(stamp, now)? {
            Held::Stamp(value) => Some(value),
            Held::Value(_) => None,
        }
    }

    fn stamp_values(
        store: &mut Store,
        stamps: &[String],
        now: Instant,
    ) -> Option<Vec<Option<u64>>> {
        stamps
            .iter()
            .map(|stamp| Self::stamp_value(store, stamp, now).map(Some))
            .collect()
    }
    /// The rows, and the stamp if asked, all from memory.
    pub(super) fn rows(
        &self,
        keys: &[String],
        stamp: Option<&str>,
    ) -> Option<(Vec<Lookup>, Option<u64>)> {
        let now = Instant::now();
        let mut store = self.shared.store();
        if !store.serving(now) {
            return None;
        }
        let epoch = match stamp {
            Some(stamp) => Some(Self::stamp_value(&mut store, stamp, now)?),
            None => None,
        };
        let rows = Self::values(&mut store, keys, now)?;
        drop(store);
        self.hit(keys.len() + usize::from(stamp.is_some()));
        Some((rows, epoch))
    }

    /// A list and its stamps, all from memory (`key` empty: the stamps only).
    pub(super) fn list(&self, key: &str, stamps: &[String]) -> Option<StampedLookup> {
        let now = Instant::now();
        let mut store = self.shared.store();
        if !store.serving(now) {
            return None;
        }
        let value = if key.is_empty() {
            None
        } else {
            match store.get(key, now)? {
                Held::Value(bytes) => Some(bytes),
                Held::Stamp(_) => return None,
            }
        };
        let stamps = Self::stamp_values(&mut store, stamps, now)?;
        drop(store);
        self.hit(stamps.len() + usize::from(!key.is_empty()));
        Some(StampedLookup { value, stamps })
    }

    /// Test hook: the next lookup through Redis stops after the reply, before
    /// anything of it is kept, notifies `reached` and waits for `release`.
    #[cfg(feature = "test-hooks")]
    pub(super) fn pause_next_keep(
        &self,
        reached: Arc<tokio::sync::Notify>,
        release: Arc<tokio::sync::Notify>,
    ) {
        *self.shared.keep_gate.lock().unwrap() = Some((reached, release));
    }

    /// Stops at the gate of [`Near::pause_next_keep`], if set (a no-op
    /// without the `test-hooks` feature).
    pub(super) async fn before_keep(&self) {
        #[cfg(feature = "test-hooks")]
        {
            let gate = self.shared.keep_gate.lock().unwrap().take();
            if let Some((reached, release)) = gate {
                reached.notify_one();
                release.notified().await;
            }
        }
    }

    /// Keeps what a lookup found: its hits, and the stamp.
    pub(super) fn keep_rows(
        &self,
        ticket: Ticket,
        keys: &[String],
        lookups: &[Lookup],
        stamp: Option<(&str, Option<u64>)>,
    ) {
        let now = Instant::now();
        let mut store = self.shared.store();
        for (key, lookup) in keys.iter().zip(lookups) {
            if let Lookup::Hit(bytes) = lookup {
                self.keep(&mut store, ticket, key, Held::Value(bytes.clone()), now);
            }
        }
        if let Some((stamp, Some(value))) = stamp {
            self.keep(&mut store, ticket, stamp, Held::Stamp(value), now);
        }
    }

    /// Keeps a list's bytes (if any) and its stamps' values.
    pub(super) fn keep_list(
        &self,
        ticket: Ticket,
        key: &str,
        value: Option<&crate::cache::Bytes>,
        stamps: &[String],
        values: &[Option<u64>],
    ) {
        let now = Instant::now();
        let mut store = self.shared.store();
        if let Some(bytes) = value {
            self.keep(&mut store, ticket, key, Held::Value(bytes.clone()), now);
        }
        for (stamp, value) in stamps.iter().zip(values) {
            if let Some(value) = value {
                self.keep(&mut store, ticket, stamp, Held::Stamp(*value), now);
            }
        }
    }

    /// Keeps one value: only a key under the tracked prefix, and not a marker.
    fn keep(&self, store: &mut Store, ticket: Ticket, key: &str, held: Held, now: Instant) {
        let names = &self.shared.names;
        if key.starts_with(&names.tracked) && !key.starts_with(&names.marker) {
            store.keep(ticket, key, held, now);
        }
    }

    /// Drops `keys` from memory (a write of this process changed them).
    pub(super) fn forget<'k>(&self, keys: impl IntoIterator<Item = &'k str>) {
        let mut store = self.shared.store();
        for key in keys {
            store.invalidate(key);
        }
    }

    /// Registers a write about to run its script, for the answers to its
    /// marker.
    pub(super) fn announce(&self) -> Announce {
        let write = self.shared.next_write.fetch_add(1, Ordering::Relaxed);
        let waiter = Arc::new(Waiter::default());
        self.shared.waiters().insert(write, Arc::clone(&waiter));
        Announce {
            write,
            incarnation: self.shared.store().incarnation(),
            waiter,
            shared: Arc::clone(&self.shared),
        }
    }

    /// The last three arguments of the write's script (see `announce` in
    /// `scripts/helpers.lua`): the live tiers' sorted set, the marker (set
    /// under the tracked prefix when another tier is live, so that every tier
    /// gets it with the write's keys), and this tier's incarnation.
    pub(super) fn announce_args(&self, announce: &Announce) -> [Vec<u8>; 3] {
        let names = &self.shared.names;
        let own = announce.incarnation.unwrap_or(0);
        let marker = format!("{}{own}:{}", names.marker, announce.write);
        [
            names.tiers.as_bytes().to_vec(),
            marker.into_bytes(),
            own.to_string().into_bytes(),
        ]
    }

    /// After the write's script: waits until every other live tier answered
    /// its marker or its lease ran out. `reply` is the script's (`None` when
    /// the call failed: the write's invalidations then go through the
    /// outbox, whose own calls wait).
    pub(super) async fn settle(
        &self,
        announce: Announce,
        reply: Option<&Value>,
    ) -> Result<(), CacheError> {
        let others = match reply {
            Some(reply) => live_others(reply).ok_or_else(|| {
                CacheError::new(
                    CacheErrorKind::BadReply,
                    format!("redis: near tier: unexpected reply to a write: {reply:?}"),
                )
            })?,
            None => Vec::new(),
        };
        if !others.is_empty() {
            self.wait(&announce, others).await;
        }
        Ok(())
    }

    async fn wait(&self, announce: &Announce, others: Vec<(u64, Instant)>) {
        let counters = &self.shared.counters;
        counters.write_waits.fetch_add(1, Ordering::Relaxed);
        stats::near_write_wait();
        let started = Instant::now();
        let waiter = &announce.waiter;
        loop {
            let notified = waiter.notify.notified();
            let now = Instant::now();
            let pending = {
                let answered = waiter
                    .answered
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                others
                    .iter()
                    .filter(|(tier, _)| !answered.contains(tier))
                    .map(|&(_, until)| until)
                    .collect::<Vec<_>>()
            };
            let Some(next) = pending.iter().copied().filter(|&until| until > now).min() else {
                if !pending.is_empty() {
                    counters.lease_expiries.fetch_add(1, Ordering::Relaxed);
                }
                break;
            };
            let _ = tokio::time::timeout_at(next.into(), notified).await;
        }
        counters
            .write_wait_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

/// The other tiers live at the write, with when their lease runs out here,
/// from the script's reply `{now, tier, until, ...}` (`{}`: no near tier).
/// Members that are not tiers are left out.
fn live_others(reply: &Value) -> Option<Vec<(u64, Instant)>> {
    let Value::Array(items) = reply else {
        return None;
    };
    let Some((now, pairs)) = items.split_first() else {
        return Some(Vec::new());
    };
    let server_ms = number(now)?;
    let here = Instant::now();
    let mut others = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks(2) {
        let [member, until] = pair else { return None };
        let until = number(until)?;
        if let Some(tier) = number(member)
            && until > server_ms
        {
            others.push((tier, here + Duration::from_millis(until - server_ms)));
        }
    }
    Some(others)
}

/// A whole number in a reply: an integer, or its digits (a score may come
/// with a fraction, which is dropped).
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::BulkString(bytes) => {
            let text = std::str::from_utf8(bytes).ok()?;
            let whole = text.split_once('.').map_or(text, |(whole, _)| whole);
            whole.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deadpool_redis::redis::IntoConnectionInfo;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn the_live_tiers_are_read_from_the_scripts_reply() {
        let reply = Value::Array(vec![
            Value::Int(1_700_000_000_000),
            bulk("42"),
            bulk("1700000001000"),
            bulk("x"),
            bulk("1700000001000"),
            bulk("7"),
            bulk("1699999999000"),
        ]);
        let others = live_others(&reply).unwrap();
        assert_eq!(others.len(), 1, "{others:?}");
        assert_eq!(others[0].0, 42);
        let left = others[0].1 - Instant::now();
        assert!(left <= Duration::from_secs(1) && left > Duration::from_millis(900));
        assert_eq!(live_others(&Value::Array(vec![])), Some(vec![]));
        assert_eq!(live_others(&Value::Nil), None);
        assert_eq!(number(&bulk("12.5")), Some(12));
    }

    #[tokio::test]
    async fn a_write_dropped_before_it_settled_leaves_no_waiter() {
        let info = "redis://127.0.0.1:1".into_connection_info().unwrap();
        let near = Near::start(NearOptions::new(), info, Duration::from_millis(10));
        let settled = near.announce();
        near.settle(settled, Some(&Value::Array(vec![])))
            .await
            .unwrap();
        let dropped = near.announce();
        assert_eq!(near.shared.waiters().len(), 1);
        drop(dropped);
        assert!(near.shared.waiters().is_empty(), "the waiter leaked");
    }

    #[test]
    fn names_come_from_the_prefix() {
        let names = Names::new("app");
        assert_eq!(names.tracked, "app:");
        assert!(names.marker.starts_with(&names.tracked));
        assert!(!names.tiers.starts_with(&names.tracked));
        assert!(!names.ack_channel(7).starts_with(&names.tracked));
    }
}
