//! The object cache: the [`Cache`] trait and its two implementations,
//! [`MemoryCache`] (in process, the default) and `RedisCache` (shared by every
//! process using the same Redis; the `redis` feature, on by default).
//!
//! # The protocol
//!
//! A cache maps keys to opaque values (a row's bytes, or an "absent" marker for
//! an id that does not exist). Filling a key after a database read is guarded by a
//! token, so that a fill never lands after an invalidation it did not see:
//!
//! 1. [`Cache::get_or_lease`] returns, for each key, its value ([`Lookup::Hit`]),
//!    or — when the key is empty — a token ([`Lookup::Leased`]), or
//!    [`Lookup::Busy`]: read the database, do not fill.
//! 2. The caller reads the database, then calls [`Cache::fill`] with its token.
//! 3. A writer locks its row keys before its commit ([`Cache::begin_write`]),
//!    which makes lookups answer `Busy` and fills fail, and invalidates them
//!    after it ([`Cache::end_write`], or [`Cache::invalidate`] when the lock
//!    could not be taken): every write goes through the one write protocol of
//!    `write/protocol.rs`.
//!
//! The rule every cache keeps: **a fill is stored only if no invalidation of its
//! key happened since the lookup that issued its token.** So a reader that read
//! the old row before a write committed cannot store it after that write's
//! invalidation. Each step is atomic in the cache.
//!
//! The two built-in caches keep the rule two ways:
//!
//! * [`MemoryCache`] places a *lease* on an empty key, as Facebook's memcache does:
//!   one caller at a time may fill it, others get `Busy`, and invalidation removes
//!   values and leases alike.
//! * `RedisCache` writes a *tombstone* on invalidation, as Shopify's
//!   IdentityCache does: the token is what the lookup saw (nothing, or a
//!   tombstone), and a Lua script stores a fill only if the key still holds
//!   exactly that. A hit is then a plain `MGET`, as cheap as Redis gets.
//!
//! Thing drops fills issued longer ago than its lease TTL or the cache's
//! [`Cache::fill_window`] (how long a tombstone lives), so no token is trusted
//! for longer than the cache can vouch for it.
//!
//! # Stamps: lists checked when they are read
//!
//! A cached list is valid only while the *stamps* it was built under have not
//! moved. A stamp is a version number in the cache that writers bump: one per
//! (table, indexed column, value) for lists with an equality on an indexed
//! column, else one per (table, column) for each column the list reads plus a
//! membership stamp, and a table-wide one for raw SQL. So:
//!
//! 1. A reader gets the list and the current values of its stamps in one call
//!    ([`Cache::get_stamped`]) and uses the list only if they match the values
//!    stored in it.
//! 2. On a miss it reads the database and stores the list with the stamp values
//!    it saw ([`Cache::fill_stamped`]), which the cache refuses if any stamp
//!    moved or is locked meanwhile.
//! 3. A writer, before its commit, locks and bumps its stamps and locks its rows
//!    ([`Cache::begin_write`]); after the commit it invalidates the rows, bumps
//!    the stamps again and takes back the locks it took ([`Cache::end_write`]),
//!    and only those: keys it learned by its commit (an insert's new row) are
//!    invalidated and bumped, their locks left to whoever holds them.
//!
//! Nothing has to find the lists a write changes: they stop validating. A
//! missing stamp (evicted, or never written) is created with a random value,
//! never from 0, so no list cached under an older value validates again.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[cfg(feature = "redis")]
mod breaker;
pub(crate) mod context;
pub(crate) mod flight;
pub(crate) mod hints;
#[cfg(feature = "test-hooks")]
pub(crate) mod hooks;
mod memory;
pub(crate) mod outbox;
#[cfg(feature = "redis")]
mod redis;
pub(crate) mod stamps;
pub(crate) mod unflushed;

/// Cached values are [`Bytes`]: a hit shares the stored buffer (a reference
/// count) instead of copying it, and a row keeps it as its snapshot.
pub use bytes::Bytes;
pub use context::WritePolicy;
pub use memory::MemoryCache;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{NearOptions, NearStats, RedisCache, RedisCacheBuilder};

/// A boxed future returned by [`Cache`] methods.
pub type CacheFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CacheError>> + Send + 'a>>;

/// A lease token: unique across processes with overwhelming probability, and
/// never 0.
///
/// A cache may also hand out tokens that say what its lookup *saw* rather than
/// name a lease: `RedisCache`'s token for an empty key is
/// [`LeaseToken::saw_nothing_at`] the lookup's time on the server, which its fill
/// checks against the fill window there. [`LeaseToken::seen`] drops that time.
///
/// A cache that keeps tokens outside the process stores their
/// [bits](LeaseToken::to_bits) and reads them back with
/// [`LeaseToken::from_bits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken(u128);

impl LeaseToken {
    /// The bit of a token from a lookup that found its key empty; the low 64
    /// bits then hold the lookup's time in milliseconds. [`LeaseToken::new`]
    /// never sets it.
    const SAW_NOTHING: u128 = 1 << 127;

    /// A fresh token: 64 bits drawn once per process from the operating
    /// system's random source (less the top bit, see
    /// [`LeaseToken::saw_nothing_at`]), then a counter.
    ///
    /// ```
    /// use thing::cache::LeaseToken;
    /// let (a, b) = (LeaseToken::new(), LeaseToken::new());
    /// assert_ne!(a, b);
    /// assert_ne!(a.to_bits(), 0);
    /// ```
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let count = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(((u128::from(process_seed()) << 64) | u128::from(count)) & !Self::SAW_NOTHING)
    }

    /// The token's 128 bits, as a cache that keeps it outside the process
    /// stores it.
    ///
    /// ```
    /// use thing::cache::LeaseToken;
    /// let token = LeaseToken::new();
    /// assert_eq!(LeaseToken::from_bits(token.to_bits()), token);
    /// ```
    pub const fn to_bits(self) -> u128 {
        self.0
    }

    /// The token whose [bits](LeaseToken::to_bits) are `bits`.
    pub const fn from_bits(bits: u128) -> Self {
        Self(bits)
    }

    /// The token of a lookup that found its key empty at `millis` (the cache's
    /// clock).
    ///
    /// ```
    /// use thing::cache::LeaseToken;
    /// let token = LeaseToken::saw_nothing_at(1_700_000_000_000);
    /// assert_eq!(token.looked_at(), Some(1_700_000_000_000));
    /// assert_eq!(token.seen(), LeaseToken::saw_nothing_at(5).seen());
    /// assert_eq!(LeaseToken::new().looked_at(), None);
    /// ```
    pub fn saw_nothing_at(millis: u64) -> Self {
        Self(Self::SAW_NOTHING | u128::from(millis))
    }

    /// When the lookup that found its key empty was made, for a token of
    /// [`LeaseToken::saw_nothing_at`].
    pub fn looked_at(self) -> Option<u64> {
        (self.0 & Self::SAW_NOTHING != 0).then_some(self.0 as u64)
    }

    /// What the lookup saw, without when: two lookups that saw the same state
    /// of a key have the same `seen()`.
    pub fn seen(self) -> u128 {
        if self.0 & Self::SAW_NOTHING != 0 {
            Self::SAW_NOTHING
        } else {
            self.0
        }
    }
}

/// This process' random half of every token.
fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        // Without the OS source (which fails only on exotic platforms), fall
        // back to the clock and the process id: unique in practice, not in
        // theory, so it is logged.
        getrandom::u64().unwrap_or_else(|err| {
            tracing::warn!(error = %err, "no OS randomness for cache tokens; using the clock");
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos() as u64);
            nanos ^ (u64::from(std::process::id()) << 32)
        })
    })
}

/// A start value for a stamp created, or created again after it was lost, and
/// on Redis every value a write moves a stamp to: below 2^62, so that it has
/// room to count up (`MemoryCache` counts) and never has the bit a locked
/// Redis stamp reads with, and random, so that a stamp
/// lost (evicted, flushed, a restarted Redis) and created again does not come
/// back to a value something was cached under. Each is SplitMix64 of the
/// process' random seed and a counter: distinct within a process, and
/// unrelated across processes.
pub(crate) fn stamp_start() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    splitmix64(process_seed() ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 2
}

/// One step of SplitMix64: a bijection of `u64` that scatters its input.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Default for LeaseToken {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`Cache::get_or_lease`] found for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The stored value.
    Hit(Bytes),
    /// The key was empty; the caller may fill it with this token.
    Leased(LeaseToken),
    /// The key is empty and may not be filled by this caller (a write is in
    /// flight, or the cache cannot grant leases now): read the source, do not
    /// fill.
    Busy,
    /// The key is empty and another reader of this process holds its lease,
    /// with this token: wait for that reader's load (it was granted after the
    /// key's last invalidation), or read the source; do not fill.
    Loading(LeaseToken),
}

/// One value to store with [`Cache::fill`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// The key.
    pub key: String,
    /// The lease returned by [`Cache::get_or_lease`] for this key.
    pub token: LeaseToken,
    /// The value.
    pub value: Bytes,
    /// How long it lives.
    pub ttl: Duration,
}

pub use crate::error::{CacheError, CacheErrorKind};

/// The running totals a [`Cache`] keeps itself, from [`Cache::counts`]; a
/// [`Db`](crate::Db) reports what they grew by since its last reset in
/// [`Stats`](crate::Stats) (`cache_round_trips`, `near_hits`, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Round trips to the cache server.
    pub round_trips: u64,
    /// Keys served by a near tier from process memory.
    pub near_hits: u64,
    /// Times a near tier dropped everything it held.
    pub near_flushes: u64,
    /// Writes that waited for other processes' near tiers.
    pub near_write_waits: u64,
}

/// What [`Cache::get_stamped`] found: a list's bytes, if cached, and the value
/// of each of its stamps now (`None`: the stamp does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampedLookup {
    /// The cached bytes.
    pub value: Option<Bytes>,
    /// One per stamp asked for, in order.
    pub stamps: Vec<Option<u64>>,
}

/// A value to store with [`Cache::fill_stamped`]: only if each stamp still has
/// the value the lookup saw, and none is locked by a write in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampedFill {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Bytes,
    /// How long it lives.
    pub ttl: Duration,
    /// The stamps the value was built under.
    pub stamps: Vec<String>,
    /// Their values, as [`Cache::get_stamped`] returned them.
    pub seen: Vec<u64>,
}

/// What one write touches in the cache: the keys of the rows it writes and the
/// stamps it bumps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteKeys {
    /// Row keys.
    pub rows: Vec<String>,
    /// Stamp keys.
    pub stamps: Vec<String>,
}

impl WriteKeys {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.stamps.is_empty()
    }

    /// Adds `other`'s keys (see [`WriteKeys::dedup`]).
    pub fn extend(&mut self, other: WriteKeys) {
        self.rows.extend(other.rows);
        self.stamps.extend(other.stamps);
    }

    /// Keeps each key once.
    pub fn dedup(&mut self) {
        for keys in [&mut self.rows, &mut self.stamps] {
            keys.sort_unstable();
            keys.dedup();
        }
    }

    /// The keys of `self` that are not in `other`: what a write learned by
    /// its commit (an insert's new id) beyond the keys it locked before.
    ///
    /// ```
    /// use thing::cache::WriteKeys;
    /// let locked = WriteKeys { rows: vec![], stamps: vec!["table".into()] };
    /// let after = WriteKeys { rows: vec!["row 7".into()], stamps: vec!["table".into(), "id 7".into()] };
    /// let learned = after.without(&locked);
    /// assert_eq!((learned.rows, learned.stamps), (vec!["row 7".to_string()], vec!["id 7".to_string()]));
    /// ```
    pub fn without(&self, other: &WriteKeys) -> WriteKeys {
        let keep = |keys: &[String], known: &[String]| -> Vec<String> {
            let known: std::collections::HashSet<&str> = known.iter().map(String::as_str).collect();
            keys.iter()
                .filter(|key| !known.contains(key.as_str()))
                .cloned()
                .collect()
        };
        WriteKeys {
            rows: keep(&self.rows, &other.rows),
            stamps: keep(&self.stamps, &other.stamps),
        }
    }
}

/// A key-value cache that supports the protocol in the [module docs](self).
///
/// Implement it to put Thing in front of another store; every method must be
/// atomic per key, and [`fill_stamped`](Cache::fill_stamped) atomic as a whole.
pub trait Cache: Send + Sync + fmt::Debug + 'static {
    /// For each key: its value, or a fill token if it is empty, or `Busy`.
    /// Returns one [`Lookup`] per key, in order.
    fn get_or_lease<'a>(
        &'a self,
        keys: &'a [String],
        lease_ttl: Duration,
    ) -> CacheFuture<'a, Vec<Lookup>>;

    /// [`get_or_lease`](Cache::get_or_lease), and the current value of the
    /// stamp `stamp` (`None`: missing), read together. Thing reads a table's
    /// epoch with its rows. The default makes two calls; the built-in caches
    /// make one.
    fn get_or_lease_at<'a>(
        &'a self,
        keys: &'a [String],
        stamp: &'a str,
        lease_ttl: Duration,
    ) -> CacheFuture<'a, (Vec<Lookup>, Option<u64>)> {
        Box::pin(async move {
            let stamps = [stamp.to_owned()];
            let epoch = self
                .get_stamped(stamp, &stamps)
                .await?
                .stamps
                .pop()
                .flatten();
            Ok((self.get_or_lease(keys, lease_ttl).await?, epoch))
        })
    }

    /// Stores each value whose key still holds the fill's lease and is not
    /// locked by a write in flight; returns how many were stored.
    fn fill<'a>(&'a self, fills: &'a [Fill]) -> CacheFuture<'a, usize>;

    /// Removes the keys (values and leases): no fill issued before can land.
    fn invalidate<'a>(&'a self, keys: &'a [String]) -> CacheFuture<'a, ()>;

    /// The value of `key` and the current value of each stamp, read together.
    fn get_stamped<'a>(
        &'a self,
        key: &'a str,
        stamps: &'a [String],
    ) -> CacheFuture<'a, StampedLookup>;

    /// The current value of each stamp (`None`: missing), read together.
    /// Thing reads a list's stamps again once it has loaded the list's rows,
    /// to tell whether a write began meanwhile. The default reads them with
    /// [`get_stamped`](Cache::get_stamped) of an empty key; the built-in
    /// caches read only the stamps.
    ///
    /// ```
    /// use thing::cache::{Cache, MemoryCache};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = MemoryCache::new(100);
    /// assert_eq!(cache.get_stamps(&["stamp".to_string()]).await?, vec![None]);
    /// # Ok::<(), thing::cache::CacheError>(())
    /// # }).unwrap();
    /// ```
    fn get_stamps<'a>(&'a self, stamps: &'a [String]) -> CacheFuture<'a, Vec<Option<u64>>> {
        Box::pin(async move { Ok(self.get_stamped("", stamps).await?.stamps) })
    }

    /// [`get_stamped`](Cache::get_stamped) of a list, and
    /// [`get_or_lease_at`](Cache::get_or_lease_at) of rows `rows` with the stamp
    /// `epoch`, read together: Thing looks up the rows a list named when it was
    /// last read along with the list, so that a list hit whose rows are cached
    /// costs one call. The default makes the two calls in turn; `RedisCache`
    /// sends both in one round trip.
    ///
    /// ```
    /// use thing::cache::{Cache, Lookup, MemoryCache};
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = MemoryCache::new(100);
    /// let (stamps, rows) = (vec!["stamp".to_string()], vec!["row 1".to_string()]);
    /// let (list, lookups, epoch) = cache
    ///     .get_stamped_with_rows("list", &stamps, &rows, "epoch", Duration::from_secs(5))
    ///     .await?;
    /// assert_eq!((list.value, list.stamps, epoch), (None, vec![None], None));
    /// assert!(matches!(lookups[..], [Lookup::Leased(_)]));
    /// # Ok::<(), thing::cache::CacheError>(())
    /// # }).unwrap();
    /// ```
    fn get_stamped_with_rows<'a>(
        &'a self,
        key: &'a str,
        stamps: &'a [String],
        rows: &'a [String],
        epoch: &'a str,
        lease_ttl: Duration,
    ) -> CacheFuture<'a, (StampedLookup, Vec<Lookup>, Option<u64>)> {
        Box::pin(async move {
            let list = self.get_stamped(key, stamps).await?;
            let (lookups, epoch) = self.get_or_lease_at(rows, epoch, lease_ttl).await?;
            Ok((list, lookups, epoch))
        })
    }

    /// Stores the fill if every stamp still has the value seen and none is
    /// locked; a missing stamp is created (with a random value) and the fill
    /// refused. Returns whether it was stored.
    fn fill_stamped<'a>(&'a self, fill: &'a StampedFill) -> CacheFuture<'a, bool>;

    /// Before a write commits: locks its rows and stamps against fills for the
    /// [fill window](Cache::fill_window) (a locked row looks up as `Busy`) and
    /// bumps its stamps (gives them any value they did not have: a counter's
    /// next, a random one, a lock), so that every value cached before is already invalid
    /// (a missing stamp may be left missing, since no fill validates against
    /// one). Locks are counted: two writers in flight hold two.
    fn begin_write<'a>(&'a self, keys: &'a WriteKeys) -> CacheFuture<'a, ()>;

    /// After a write committed: invalidates the rows and bumps the stamps of
    /// `locked` and `learned`, and takes back one lock of each key of `locked`.
    ///
    /// `locked` are the keys the write gave [`begin_write`](Cache::begin_write)
    /// (none if that failed); `learned` those it knew only once its SQL ran,
    /// such as an insert's new row. A lock is taken back only by the write
    /// that took it: another write may hold one on a learned key (an update
    /// of the new row from another process), and must keep it until its own
    /// commit is invalidated.
    fn end_write<'a>(
        &'a self,
        locked: &'a WriteKeys,
        learned: &'a WriteKeys,
    ) -> CacheFuture<'a, ()>;

    /// After a write failed (nothing committed): takes back its locks. The
    /// stamps may be left at new values (on Redis the lock took their place),
    /// which costs the lists on them one refill.
    fn abort_write<'a>(&'a self, keys: &'a WriteKeys) -> CacheFuture<'a, ()>;

    /// Bumps stamps (a retry of an [`end_write`](Cache::end_write) that did not
    /// reach the cache; rows are retried with [`invalidate`](Cache::invalidate)).
    fn bump<'a>(&'a self, stamps: &'a [String]) -> CacheFuture<'a, ()>;

    /// Gives back the token of a key the caller will not fill after all, so that
    /// it does not hold up other fillers. Default: nothing to do.
    fn release(&self, key: &str, token: LeaseToken) {
        let _ = (key, token);
    }

    /// How long after its lookup a fill token may still be used, and how long
    /// a write's locks last. Thing drops fills older than this (or than its
    /// lease TTL, if shorter). Default: unbounded.
    fn fill_window(&self) -> Duration {
        Duration::MAX
    }

    /// Cache round trips made so far (0 for an in-process cache).
    fn round_trips(&self) -> u64 {
        0
    }

    /// What the cache counted itself so far, read into [`Stats`](crate::Stats).
    /// Default: the [round trips](Cache::round_trips), nothing else.
    fn counts(&self) -> CacheCounts {
        CacheCounts {
            round_trips: self.round_trips(),
            ..CacheCounts::default()
        }
    }

    /// Whether other processes share this cache (and so may miss an
    /// invalidation this process could not deliver). Thing keeps an outbox in
    /// the database only for shared caches. Default: `true`.
    fn is_shared(&self) -> bool {
        true
    }

    /// Whether calls are expected to reach the cache now: `false` while a
    /// circuit breaker skips it after a failure. List queries then read their
    /// rows in one SQL statement rather than through the cache's path (ids,
    /// then rows by id). Default: `true`.
    fn is_available(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_starts_are_distinct_spread_and_leave_room_to_count() {
        let starts: std::collections::HashSet<u64> = (0..10_000).map(|_| stamp_start()).collect();
        assert_eq!(starts.len(), 10_000);
        assert!(starts.iter().all(|&start| start < 1 << 62));
        // Spread over the range, not a counter: most are far above 2^40.
        assert!(starts.iter().filter(|&&start| start > 1 << 40).count() > 9_900);
    }

    #[test]
    fn tokens_are_distinct_and_never_zero() {
        let tokens: std::collections::HashSet<u128> =
            (0..1000).map(|_| LeaseToken::new().0).collect();
        assert_eq!(tokens.len(), 1000);
        assert!(!tokens.contains(&0));
        let seed = u128::from(process_seed()) & !(LeaseToken::SAW_NOTHING >> 64);
        assert!(tokens.iter().all(|token| token >> 64 == seed));
        assert!(
            tokens
                .iter()
                .all(|token| token & LeaseToken::SAW_NOTHING == 0)
        );
    }
}
