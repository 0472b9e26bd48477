//! [`Store`]: the near tier's entries in process memory, its lease, and the
//! guard that keeps a fill from landing after an invalidation it did not see.
//!
//! Every change and every read of the store happens under one mutex (held by
//! [`Near`](super::Near)), so the invalidations applied by the tracking
//! connection's push handler and the fills of readers are totally ordered.

use crate::cache::Bytes;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// How many slots the fill guard hashes keys into: two keys sharing a slot
/// only cost a skipped fill.
const SLOTS: usize = 4096;

/// What the store holds for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Held {
    /// A row's or a list's bytes.
    Value(Bytes),
    /// A stamp's value.
    Stamp(u64),
}

impl Held {
    fn size(&self) -> usize {
        match self {
            Held::Value(bytes) => bytes.len(),
            Held::Stamp(_) => 8,
        }
    }
}

struct Entry {
    held: Held,
    stored: Instant,
}

/// A reader's place in the order of invalidations, taken before its Redis
/// call: what it read may be kept only if no invalidation of its key (and no
/// flush) came after it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    at: u64,
    serving: bool,
}

/// The entries, the lease and the guard.
pub(crate) struct Store {
    entries: HashMap<String, Entry, foldhash::fast::FixedState>,
    bytes: usize,
    max_bytes: usize,
    max_age: Duration,
    /// Counts invalidations and flushes, each taking the next value.
    clock: u64,
    /// The clock at the last invalidation of a key hashing to each slot.
    slots: Box<[u64]>,
    /// The clock at the last flush.
    flushed: u64,
    /// Until when this tier may serve hits, and its incarnation then.
    lease: Option<(Instant, u64)>,
    /// The last incarnation whose connection ended: never renewed again.
    dead: u64,
}

/// A rough count of the bytes an entry costs beyond its key and value.
const OVERHEAD: usize = 64;

impl Store {
    pub(crate) fn new(max_bytes: usize, max_age: Duration) -> Self {
        Self {
            entries: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0x6e65_6172)),
            bytes: 0,
            max_bytes,
            max_age,
            clock: 0,
            slots: vec![0; SLOTS].into_boxed_slice(),
            flushed: 0,
            lease: None,
            dead: 0,
        }
    }

    fn slot(&self, key: &str) -> usize {
        (self.entries.hasher().hash_one(key) as usize) % SLOTS
    }

    /// Whether hits may be served now: the lease is held and has not run out.
    /// A lease found run out is dropped, and everything with it.
    pub(crate) fn serving(&mut self, now: Instant) -> bool {
        match self.lease {
            Some((until, _)) if now < until => true,
            Some(_) => {
                self.lease = None;
                self.flush();
                false
            }
            None => false,
        }
    }

    /// The incarnation holding the lease now, if any.
    pub(crate) fn incarnation(&self) -> Option<u64> {
        self.lease.map(|(_, incarnation)| incarnation)
    }

    /// Holds the lease until `until` for `incarnation`, unless that
    /// incarnation's connection ended (its heartbeat's reply may have come
    /// just before the end, and no push comes after it).
    pub(crate) fn renew(&mut self, incarnation: u64, until: Instant) {
        if incarnation != self.dead {
            self.lease = Some((until, incarnation));
        }
    }

    /// The connection of `incarnation` ended: its pushes stopped, so its
    /// lease and every entry go. Returns whether any entry was held.
    pub(crate) fn drop_lease_of(&mut self, incarnation: u64) -> bool {
        self.dead = incarnation;
        if self.incarnation().is_some_and(|held| held != incarnation) {
            return false;
        }
        self.lease = None;
        self.flush()
    }

    /// A ticket for a Redis call about to be sent.
    pub(crate) fn ticket(&mut self, now: Instant) -> Ticket {
        Ticket {
            at: self.clock,
            serving: self.serving(now),
        }
    }

    /// The entry of `key`, if held and younger than the maximum age.
    pub(crate) fn get(&mut self, key: &str, now: Instant) -> Option<Held> {
        let entry = self.entries.get(key)?;
        if now.duration_since(entry.stored) < self.max_age {
            return Some(entry.held.clone());
        }
        self.remove(key);
        None
    }

    /// Keeps `held` for `key`, read from Redis under `ticket`, unless an
    /// invalidation of the key or a flush came since, or the lease is gone.
    /// Returns whether it was kept.
    pub(crate) fn keep(&mut self, ticket: Ticket, key: &str, held: Held, now: Instant) -> bool {
        if !ticket.serving
            || self.flushed > ticket.at
            || self.slots[self.slot(key)] > ticket.at
            || !self.serving(now)
        {
            return false;
        }
        let size = key.len() + held.size() + OVERHEAD;
        if size > self.max_bytes {
            return false;
        }
        self.remove(key);
        self.bytes += size;
        self.entries
            .insert(key.to_owned(), Entry { held, stored: now });
        if self.bytes > self.max_bytes {
            self.evict(key);
        }
        true
    }

    /// Drops `key` and refuses the fills of tickets taken before.
    pub(crate) fn invalidate(&mut self, key: &str) {
        self.clock += 1;
        let slot = self.slot(key);
        self.slots[slot] = self.clock;
        self.remove(key);
    }

    /// Drops everything and refuses the fills of tickets taken before.
    /// Returns whether anything was held.
    pub(crate) fn flush(&mut self) -> bool {
        self.clock += 1;
        self.flushed = self.clock;
        let held = !self.entries.is_empty();
        self.entries.clear();
        self.bytes = 0;
        held
    }

    /// Bytes held (keys, values and a fixed overhead per entry).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.bytes -= key.len() + entry.held.size() + OVERHEAD;
        }
    }

    /// Drops entries other than `keep` (in the map's order, which is
    /// unrelated to use: random eviction) until a tenth of the bound is free.
    fn evict(&mut self, keep: &str) {
        let target = self.max_bytes - self.max_bytes / 10;
        let mut dropped = 0;
        self.entries.retain(|key, entry| {
            if self.bytes - dropped <= target || key == keep {
                return true;
            }
            dropped += key.len() + entry.held.size() + OVERHEAD;
            false
        });
        self.bytes -= dropped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leased() -> (Store, Instant) {
        let mut store = Store::new(1 << 20, Duration::from_secs(60));
        let now = Instant::now();
        store.renew(7, now + Duration::from_secs(1));
        (store, now)
    }

    fn value(text: &str) -> Held {
        Held::Value(Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn a_fill_after_an_invalidation_of_its_key_is_refused() {
        let (mut store, now) = leased();
        let ticket = store.ticket(now);
        store.invalidate("a");
        assert!(!store.keep(ticket, "a", value("old"), now));
        let ticket = store.ticket(now);
        assert!(store.keep(ticket, "a", value("new"), now));
        assert_eq!(store.get("a", now), Some(value("new")));
    }

    #[test]
    fn a_flush_refuses_every_earlier_fill() {
        let (mut store, now) = leased();
        let ticket = store.ticket(now);
        store.flush();
        assert!(!store.keep(ticket, "b", value("old"), now));
    }

    #[test]
    fn nothing_is_kept_or_served_without_a_lease() {
        let mut store = Store::new(1 << 20, Duration::from_secs(60));
        let now = Instant::now();
        let ticket = store.ticket(now);
        assert!(!store.keep(ticket, "a", value("x"), now));
        store.renew(1, now + Duration::from_millis(10));
        let ticket = store.ticket(now);
        assert!(store.keep(ticket, "a", value("x"), now));
        // The lease runs out: the entry goes with it.
        assert!(!store.serving(now + Duration::from_millis(10)));
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn an_ended_incarnation_is_never_renewed() {
        let (mut store, now) = leased();
        let ticket = store.ticket(now);
        assert!(store.keep(ticket, "a", value("x"), now));
        assert!(store.drop_lease_of(7));
        store.renew(7, now + Duration::from_secs(1));
        assert!(!store.serving(now));
        store.renew(8, now + Duration::from_secs(1));
        assert!(store.serving(now));
        // The end of an older incarnation leaves the new one alone.
        assert!(!store.drop_lease_of(7));
        assert!(store.serving(now));
    }

    #[test]
    fn a_ticket_taken_without_a_lease_stays_refused_after_a_renewal() {
        let mut store = Store::new(1 << 20, Duration::from_secs(60));
        let now = Instant::now();
        let ticket = store.ticket(now);
        store.renew(1, now + Duration::from_secs(1));
        assert!(!store.keep(ticket, "a", value("x"), now));
    }

    #[test]
    fn entries_older_than_the_maximum_age_are_misses() {
        let mut store = Store::new(1 << 20, Duration::from_millis(5));
        let now = Instant::now();
        store.renew(1, now + Duration::from_secs(1));
        let ticket = store.ticket(now);
        assert!(store.keep(ticket, "a", value("x"), now));
        assert_eq!(store.get("a", now + Duration::from_millis(5)), None);
        assert_eq!(store.bytes(), 0);
    }

    #[test]
    fn the_byte_bound_holds() {
        let mut store = Store::new(10_000, Duration::from_secs(60));
        let now = Instant::now();
        store.renew(1, now + Duration::from_secs(1));
        for i in 0..1000 {
            let key = format!("key {i}");
            let ticket = store.ticket(now);
            assert!(store.keep(ticket, &key, value("0123456789"), now));
            assert!(store.bytes() <= 10_000, "{} bytes", store.bytes());
            assert!(store.get(&key, now).is_some(), "the newest entry stays");
        }
        assert!(store.len() > 50);
    }
}
