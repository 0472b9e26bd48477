//! [`RedisCache`]: the shared cache, on one Redis server. Its docs describe
//! the encoding, the round trips and the Redis Cluster limitation.
//!
//! [`connection`] holds the connection and bounds every call, [`scripts`] the
//! Lua and how it is sent, [`wire`] the bytes in Redis and the reading of
//! replies; this module is the cache itself, each method one round trip.

mod connection;
mod near;
mod scripts;
mod wire;

use super::{
    Cache, CacheCounts, CacheError, CacheErrorKind, CacheFuture, Fill, LeaseToken, Lookup,
    StampedFill, StampedLookup, WriteKeys,
};
use connection::{Link, Server};
use deadpool_redis::redis::{self, IntoConnectionInfo, Value};
use near::Near;
pub use near::{NearOptions, NearStats};
use scripts::Script;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use wire::{
    TOMBSTONE_TAG, add_lookup, locked_flags, lookups_of, random_starts, seen_bytes, stamp_of,
    stamped_mget, stamped_of, tombstone, ttl_ms, unexpected,
};

/// A cache shared by every process using the same Redis server: the cache to
/// use when several processes write the same database.
///
/// It holds one multiplexed connection, which all concurrent calls share (no
/// connection is checked out per call). When a call fails on the connection
/// (I/O error, timeout), the connection is dropped and the next call opens a
/// new one, so that the cache recovers by itself once Redis is back. While no
/// connection can be opened, calls fail with [`CacheError`] and Thing reads the
/// database instead.
///
/// Every call is bounded: opening a connection by the
/// [connect timeout](RedisCacheBuilder::connect_timeout) (only when a call has to
/// open one), the commands by the
/// [command timeout](RedisCacheBuilder::command_timeout). A call that finds
/// another call opening the connection fails at once rather than waiting for it.
///
/// Timeouts use Tokio's timer: the runtime needs its time driver
/// (`enable_time` or `enable_all`).
///
/// Clones share the connection and the [round-trip count](Cache::round_trips).
///
/// # Encoding and the fill guard
///
/// Each cache key is one Redis string key holding either the bytes handed to
/// [`Cache::fill`], verbatim, with the fill's TTL, or a **tombstone**: the byte
/// `0x00` and 16 random bytes, left by [`Cache::invalidate`] for the
/// [fill window](RedisCacheBuilder::fill_window) (IdentityCache's approach). A
/// lookup is a plain `MGET`; for a key without a value it returns
/// [`Lookup::Leased`] with what it saw (nothing, or that tombstone) as the token.
/// A fill stores its value only if the key still holds exactly that. An
/// invalidation writes a new tombstone, so a reader that read the database
/// before it cannot store what it read after it; and since Thing never fills
/// later than the fill window after its lookup, the tombstone outlives every
/// fill it must refuse.
///
/// Values beginning with `0x00` are therefore reserved: [`Cache::fill`] refuses
/// a call containing one with a [`CacheError`], before anything is sent. (An
/// empty value is allowed.) Several processes missing the same key may all try
/// to fill it; the first one stores, the others find a value and store nothing.
/// A key that a writer [locked](Cache::begin_write) before its commit holds a write
/// lock (a tombstone with a trailing `L`) until the writer's invalidation or the
/// fill window: a lookup then answers [`Lookup::Busy`] (read the database, do
/// not fill). TTLs are rounded up to whole milliseconds, at least 1.
///
/// A write lock lives in the key it locks, row or stamp, with how many writes
/// hold it (two writers in flight hold two), and expires with the fill window;
/// a stamp holding one reads as a value no stamp has, so no list is stored
/// under it. A stamp is a random number, replaced at each write. So each key
/// of a write costs one call inside each of its two scripts (two when another
/// write holds it too), and a write leaves no key behind but its rows'
/// tombstones and the stamps it locked: none for an inserted row's id.
///
/// # Round trips
///
/// [`get_or_lease`](Cache::get_or_lease) is one `MGET` — a hit costs exactly what
/// a plain `GET` does, no script runs. [`fill`](Cache::fill) is one Lua script,
/// atomic in Redis, and so is [`invalidate`](Cache::invalidate) (the end of a
/// write, which keeps the locks of the writes in flight on its keys). Each call
/// is one round trip whatever the number of keys, and a
/// call with no keys makes none. The script is sent by SHA-1 (`EVALSHA`), except
/// the first time on each connection (`EVAL`, which also loads it), and after a
/// `NOSCRIPT` reply (the server lost its script cache: the call then takes two
/// round trips, `EVALSHA` and `EVAL`). [`round_trips`](Cache::round_trips) counts
/// every command or pipeline sent (not the handshake of a new connection).
///
/// # Redis Cluster
///
/// `RedisCache` targets a single Redis node (a standalone server or primary).
/// A call's script touches all of its keys, which on a Redis Cluster would
/// have to share one hash slot (a `{tag}` in every key); Cluster is not
/// supported.
///
/// ```no_run
/// use thing::cache::{Cache, Fill, Lookup, RedisCache};
/// use std::time::Duration;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = RedisCache::connect("redis://127.0.0.1:6379").await?;
/// let keys = vec!["user:42".to_string()];
/// match cache.get_or_lease(&keys, Duration::from_secs(5)).await?.remove(0) {
///     Lookup::Hit(bytes) => println!("cached: {bytes:?}"),
///     Lookup::Leased(token) => {
///         let value = b"row bytes".to_vec().into(); // read from the database
///         let fill = Fill { key: keys[0].clone(), token, value, ttl: Duration::from_secs(60) };
///         cache.fill(&[fill]).await?;
///     }
///     Lookup::Busy | Lookup::Loading(_) => { /* use the database, do not fill */ }
/// }
/// # Ok::<(), thing::cache::CacheError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct RedisCache {
    server: Arc<Server>,
    fill_window: Duration,
    near: Option<Arc<Near>>,
}

/// Builds a [`RedisCache`] with non-default timeouts.
///
/// ```no_run
/// use thing::cache::RedisCache;
/// use std::time::Duration;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = RedisCache::builder("redis://cache.internal:6379/2")
///     .command_timeout(Duration::from_millis(100))
///     .connect_timeout(Duration::from_millis(500))
///     .build()
///     .await?;
/// # Ok::<(), thing::cache::CacheError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct RedisCacheBuilder {
    url: String,
    command_timeout: Duration,
    connect_timeout: Duration,
    fill_window: Duration,
    cool_down: Duration,
    near: Option<NearOptions>,
}

impl RedisCacheBuilder {
    /// Puts a near tier in front of Redis: rows, lists and stamps read
    /// through this cache are kept in process memory and served from there,
    /// coherent with every other process's writes (see [`NearOptions`]).
    /// Give every handle writing under the same key prefix a near tier too:
    /// a `RedisCache` without one does not wait for the tiers, so they may
    /// serve what it changed for up to one [lease](NearOptions::lease_time)
    /// after its write returned.
    ///
    /// ```no_run
    /// use thing::cache::{NearOptions, RedisCache};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = RedisCache::builder("redis://127.0.0.1:6379")
    ///     .near(NearOptions::new().max_bytes(64 << 20).key_prefix("app"))
    ///     .build()
    ///     .await?;
    /// let db = thing::Db::builder("sqlite::memory:").key_prefix("app").cache(cache).build().await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn near(mut self, options: NearOptions) -> Self {
        self.near = Some(options);
        self
    }

    /// How long the commands of one call may take, from sending to the last
    /// reply (default [`RedisCache::DEFAULT_COMMAND_TIMEOUT`], 250 ms). A call
    /// that takes longer fails with [`CacheError`], and the connection is
    /// replaced.
    ///
    /// ```
    /// # use thing::cache::RedisCache;
    /// # use std::time::Duration;
    /// let builder = RedisCache::builder("redis://127.0.0.1:6379")
    ///     .command_timeout(Duration::from_millis(50));
    /// ```
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How long opening a connection may take, including the handshake
    /// (default [`RedisCache::DEFAULT_CONNECT_TIMEOUT`], 1 s).
    ///
    /// ```
    /// # use thing::cache::RedisCache;
    /// # use std::time::Duration;
    /// let builder = RedisCache::builder("redis://127.0.0.1:6379")
    ///     .connect_timeout(Duration::from_millis(200));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long an invalidation's tombstone stays, and so how long after its
    /// lookup a reader may still fill (default
    /// [`RedisCache::DEFAULT_FILL_WINDOW`], 10 s). Thing drops fills older than
    /// this (or than its own lease TTL, if shorter). Every process sharing the
    /// Redis should use the same window.
    ///
    /// ```
    /// # use thing::cache::RedisCache;
    /// # use std::time::Duration;
    /// let builder = RedisCache::builder("redis://127.0.0.1:6379")
    ///     .fill_window(Duration::from_secs(5));
    /// ```
    pub fn fill_window(mut self, window: Duration) -> Self {
        self.fill_window = window;
        self
    }

    /// How long calls skip Redis after it failed (default
    /// [`RedisCache::DEFAULT_COOL_DOWN`], 1 s). A call that times out or cannot
    /// connect opens the cache's circuit breaker: for the cool-down every call
    /// fails at once with [`CacheError`] (so reads go to the database and
    /// writes keep their invalidations for later) instead of waiting for the
    /// timeout again. Then one call goes through as a probe; if Redis answers
    /// it, calls use Redis again, else the cool-down starts over.
    ///
    /// ```
    /// # use thing::cache::RedisCache;
    /// # use std::time::Duration;
    /// let builder = RedisCache::builder("redis://127.0.0.1:6379")
    ///     .cool_down(Duration::from_millis(250));
    /// ```
    pub fn cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down;
        self
    }

    /// Creates the cache and tries to open its connection.
    ///
    /// Fails only when the URL is malformed or unsupported (`redis://` and
    /// `unix://` are; `rediss://` needs Thing's `tls-rustls` feature). An
    /// unreachable server does not make it fail, since the cache is optional: the attempt is bounded by the
    /// connect timeout, a warning is logged, and the calls fail with
    /// [`CacheError`] (so reads go to the database) until the server is
    /// reachable, when the next call connects.
    ///
    /// ```
    /// # use thing::cache::RedisCache;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// assert!(RedisCache::builder("not a url").build().await.is_err());
    /// # });
    /// ```
    pub async fn build(self) -> Result<RedisCache, CacheError> {
        let server = Server::new(
            &self.url,
            self.command_timeout,
            self.connect_timeout,
            self.cool_down,
        )?;
        let near = match self.near {
            Some(options) => {
                let info = self.url.as_str().into_connection_info().map_err(|err| {
                    CacheError::new(CacheErrorKind::InvalidInput, "redis: invalid URL")
                        .with_source(err)
                })?;
                Some(Arc::new(Near::start(options, info, self.connect_timeout)))
            }
            None => None,
        };
        let cache = RedisCache {
            server: Arc::new(server),
            fill_window: self.fill_window,
            near,
        };
        if let Err(err) = cache.server.connect().await {
            tracing::warn!(addr = %cache.server.addr, error = %err, "Redis cache unreachable; will retry on use");
        }
        if let Some(near) = &cache.near
            && !near.ready(self.connect_timeout).await
        {
            tracing::warn!(addr = %cache.server.addr, "near tier: no lease yet; reads go to Redis until it has one");
        }
        Ok(cache)
    }
}

impl RedisCache {
    /// The default [command timeout](RedisCacheBuilder::command_timeout): 250 ms.
    ///
    /// ```
    /// # use thing::cache::RedisCache;
    /// assert_eq!(RedisCache::DEFAULT_COMMAND_TIMEOUT.as_millis(), 250);
    /// ```
    pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);

    /// The default [connect timeout](RedisCacheBuilder::connect_timeout): 1 s.
    ///
    /// ```
    /// # use thing::cache::RedisCache;
    /// assert_eq!(RedisCache::DEFAULT_CONNECT_TIMEOUT.as_secs(), 1);
    /// ```
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

    /// The default [fill window](RedisCacheBuilder::fill_window): 10 s.
    ///
    /// ```
    /// # use thing::cache::RedisCache;
    /// assert_eq!(RedisCache::DEFAULT_FILL_WINDOW.as_secs(), 10);
    /// ```
    pub const DEFAULT_FILL_WINDOW: Duration = Duration::from_secs(10);

    /// The default [cool-down](RedisCacheBuilder::cool_down) after a failure: 1 s.
    ///
    /// ```
    /// # use thing::cache::RedisCache;
    /// assert_eq!(RedisCache::DEFAULT_COOL_DOWN.as_secs(), 1);
    /// ```
    pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(1);

    /// A cache on the Redis server at `url` (e.g. `redis://127.0.0.1:6379/0`,
    /// `redis://:password@host:6379`), with the default timeouts. See
    /// [`RedisCacheBuilder::build`]: it fails only on a malformed URL, never
    /// because the server is down.
    ///
    /// ```no_run
    /// use thing::cache::RedisCache;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = RedisCache::connect("redis://127.0.0.1:6379").await?;
    /// # Ok::<(), thing::cache::CacheError>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect(url: &str) -> Result<Self, CacheError> {
        Self::builder(url).build().await
    }

    /// A builder, to set timeouts before connecting.
    ///
    /// ```no_run
    /// use thing::cache::RedisCache;
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = RedisCache::builder("redis://127.0.0.1:6379")
    ///     .command_timeout(Duration::from_millis(100))
    ///     .build()
    ///     .await?;
    /// # Ok::<(), thing::cache::CacheError>(())
    /// # }).unwrap();
    /// ```
    pub fn builder(url: &str) -> RedisCacheBuilder {
        RedisCacheBuilder {
            url: url.to_owned(),
            command_timeout: Self::DEFAULT_COMMAND_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            fill_window: Self::DEFAULT_FILL_WINDOW,
            cool_down: Self::DEFAULT_COOL_DOWN,
            near: None,
        }
    }

    /// Whether a connection is currently held (it may still turn out broken on
    /// the next call).
    ///
    /// ```no_run
    /// use thing::cache::RedisCache;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = RedisCache::connect("redis://127.0.0.1:6379").await?;
    /// if !cache.is_connected() {
    ///     eprintln!("Redis is down; reads go to the database");
    /// }
    /// # Ok::<(), thing::cache::CacheError>(())
    /// # }).unwrap();
    /// ```
    pub fn is_connected(&self) -> bool {
        self.server.is_connected()
    }

    /// Whether calls skip Redis now, in the [cool-down](RedisCacheBuilder::cool_down)
    /// after a failure.
    ///
    /// ```no_run
    /// use thing::cache::RedisCache;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = RedisCache::connect("redis://127.0.0.1:6379").await?;
    /// assert!(!cache.is_cooling_down());
    /// # Ok::<(), thing::cache::CacheError>(())
    /// # }).unwrap();
    /// ```
    pub fn is_cooling_down(&self) -> bool {
        self.server.is_cooling_down()
    }

    /// What the [near tier](RedisCacheBuilder::near) did, if there is one.
    ///
    /// ```no_run
    /// use thing::cache::RedisCache;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = RedisCache::connect("redis://127.0.0.1:6379").await?;
    /// assert!(cache.near_stats().is_none());
    /// # Ok::<(), thing::cache::CacheError>(())
    /// # }).unwrap();
    /// ```
    pub fn near_stats(&self) -> Option<NearStats> {
        self.near.as_ref().map(|near| near.stats())
    }

    /// Test hook (feature `test-hooks`): the next row lookup that goes to
    /// Redis stops after Redis' reply, before the near tier keeps any of it,
    /// notifies `reached`, and waits for `release`. Does nothing without a
    /// near tier.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __pause_next_near_keep(
        &self,
        reached: Arc<tokio::sync::Notify>,
        release: Arc<tokio::sync::Notify>,
    ) {
        if let Some(near) = &self.near {
            near.pause_next_keep(reached, release);
        }
    }

    /// Whether the [near tier](RedisCacheBuilder::near) holds its lease now,
    /// and so serves hits from process memory (`false` without one).
    pub fn is_near_serving(&self) -> bool {
        self.near.as_ref().is_some_and(|near| near.is_serving())
    }
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("addr", &self.server.addr)
            .field("connected", &self.is_connected())
            .field("cooling_down", &self.is_cooling_down())
            .field("command_timeout", &self.server.command_timeout)
            .field("connect_timeout", &self.server.connect_timeout)
            .field("round_trips", &self.round_trips())
            .finish()
    }
}

impl RedisCache {
    /// One `MGET` of `keys` (and of `stamp`, when given) with the server's
    /// `TIME`, in one round trip: the lookups, and the stamp's value.
    async fn lookup(
        &self,
        keys: &[String],
        stamp: Option<&str>,
    ) -> Result<(Vec<Lookup>, Option<u64>), CacheError> {
        if keys.is_empty() && stamp.is_none() {
            return Ok((Vec::new(), None));
        }
        // The server's time dates the tokens of empty keys (see `fill.lua`).
        let mut pipe = redis::pipe();
        add_lookup(&mut pipe, keys, stamp);
        self.server
            .call("get_or_lease", async |server: &Server, link: &mut Link| {
                let mut replies = server.send::<Vec<Value>>(link, &pipe).await?.into_iter();
                let (Some(reply), Some(time)) = (replies.next(), replies.next()) else {
                    return Err(unexpected("get_or_lease", &Value::Nil));
                };
                lookups_of(reply, &time, keys.len(), stamp.is_some())
            })
            .await
    }

    /// [`RedisCache::lookup`], through the near tier if there is one.
    async fn near_lookup(
        &self,
        keys: &[String],
        stamp: Option<&str>,
    ) -> Result<(Vec<Lookup>, Option<u64>), CacheError> {
        let Some(near) = &self.near else {
            return self.lookup(keys, stamp).await;
        };
        if let Some(found) = near.rows(keys, stamp) {
            return Ok(found);
        }
        let ticket = near.ticket();
        let (lookups, epoch) = self.lookup(keys, stamp).await?;
        near.before_keep().await;
        near.keep_rows(ticket, keys, &lookups, stamp.map(|stamp| (stamp, epoch)));
        Ok((lookups, epoch))
    }

    /// Locks `keys`, rows and stamps alike (`begin_write.lua`).
    async fn lock(&self, keys: &WriteKeys) -> Result<(), CacheError> {
        if keys.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = keys
            .rows
            .iter()
            .chain(&keys.stamps)
            .map(String::as_str)
            .collect();
        let lock = tombstone(LeaseToken::new());
        let window = ttl_ms(self.fill_window);
        let args: [&[u8]; 2] = [&lock, &window];
        self.server
            .call("begin_write", async |server: &Server, link: &mut Link| {
                server
                    .eval(link, Script::BeginWrite, &names, &args)
                    .await
                    .map(drop)
            })
            .await
    }

    /// Invalidates the rows and moves on the stamps of `locked` then
    /// `learned`, giving back the locks of `locked` (`end_write.lua`).
    async fn unlock(
        &self,
        what: &str,
        locked: &WriteKeys,
        learned: &WriteKeys,
    ) -> Result<(), CacheError> {
        if locked.is_empty() && learned.is_empty() {
            return Ok(());
        }
        let rows = locked.rows.iter().chain(&learned.rows);
        let stamps = locked.stamps.iter().chain(&learned.stamps);
        let names: Vec<&str> = rows
            .clone()
            .chain(stamps.clone())
            .map(String::as_str)
            .collect();
        let (rows, stamps) = (rows.count().to_string(), stamps.count());
        let stone = tombstone(LeaseToken::new());
        let window = ttl_ms(self.fill_window);
        let flags = locked_flags(locked, learned);
        let next = random_starts(stamps);
        let mut args: Vec<&[u8]> = vec![rows.as_bytes(), &stone, &window, &flags];
        args.extend(next.iter().map(|value| value.as_bytes()));
        // A failed write changed nothing another tier may hold: no wait.
        let announces = what != "abort_write";
        self.write_script(what, Script::EndWrite, &names, args, announces)
            .await
    }

    /// Runs a write's script, `args` followed by its announcement to the near
    /// tiers (empty without a near tier, or when it does not `announces`);
    /// with a near tier, drops its keys from memory once it ran, and waits
    /// for the other live tiers to drop them too.
    async fn write_script(
        &self,
        what: &str,
        script: Script,
        names: &[&str],
        args: Vec<&[u8]>,
        announces: bool,
    ) -> Result<(), CacheError> {
        let near = self.near.as_ref();
        let announce = near.filter(|_| announces).map(|near| near.announce());
        let words = match (near, &announce) {
            (Some(near), Some(announce)) => near.announce_args(announce),
            _ => Default::default(),
        };
        let mut args = args;
        args.extend(words.iter().map(Vec::as_slice));
        let outcome = self
            .server
            .call(what, async |server: &Server, link: &mut Link| {
                server.eval(link, script, names, &args).await
            })
            .await;
        let Some(near) = near else {
            return outcome.map(drop);
        };
        near.forget(names.iter().copied());
        if let Some(announce) = announce {
            near.settle(announce, outcome.as_ref().ok()).await?;
        }
        outcome.map(drop)
    }
}

impl Cache for RedisCache {
    fn get_or_lease<'a>(
        &'a self,
        keys: &'a [String],
        _lease_ttl: Duration,
    ) -> CacheFuture<'a, Vec<Lookup>> {
        Box::pin(async move { Ok(self.near_lookup(keys, None).await?.0) })
    }

    fn get_or_lease_at<'a>(
        &'a self,
        keys: &'a [String],
        stamp: &'a str,
        _lease_ttl: Duration,
    ) -> CacheFuture<'a, (Vec<Lookup>, Option<u64>)> {
        Box::pin(self.near_lookup(keys, Some(stamp)))
    }

    fn fill<'a>(&'a self, fills: &'a [Fill]) -> CacheFuture<'a, usize> {
        Box::pin(async move {
            if let Some(fill) = fills
                .iter()
                .find(|fill| fill.value.first() == Some(&TOMBSTONE_TAG))
            {
                return Err(CacheError::new(
                    CacheErrorKind::InvalidInput,
                    format!(
                        "redis: cannot fill {:?}: values beginning with 0x00 are reserved for tombstones",
                        fill.key
                    ),
                ));
            }
            if fills.is_empty() {
                return Ok(0);
            }
            let keys: Vec<&str> = fills.iter().map(|fill| fill.key.as_str()).collect();
            let seen: Vec<Vec<u8>> = fills.iter().map(|fill| seen_bytes(fill.token)).collect();
            let ttls: Vec<Vec<u8>> = fills.iter().map(|fill| ttl_ms(fill.ttl)).collect();
            let looked: Vec<Vec<u8>> = fills
                .iter()
                .map(|fill| {
                    fill.token
                        .looked_at()
                        .map_or_else(Vec::new, |ms| ms.to_string().into_bytes())
                })
                .collect();
            let window = ttl_ms(self.fill_window);
            // A near tier keeps nothing of a fill: the fill's own write of
            // the key reaches it as an invalidation right after. The next
            // lookup's hit is kept.
            let mut args: Vec<&[u8]> = Vec::with_capacity(1 + fills.len() * 4);
            args.push(window.as_slice());
            for (((fill, seen), ttl), looked) in fills.iter().zip(&seen).zip(&ttls).zip(&looked) {
                args.extend([
                    seen.as_slice(),
                    &fill.value[..],
                    ttl.as_slice(),
                    looked.as_slice(),
                ]);
            }
            let stored = self
                .server
                .call(
                    "fill",
                    async |server: &Server, link: &mut Link| match server
                        .eval(link, Script::Fill, &keys, &args)
                        .await?
                    {
                        Value::Int(stored) if stored >= 0 => Ok(stored as usize),
                        other => Err(unexpected("fill", &other)),
                    },
                )
                .await?;
            Ok(stored)
        })
    }

    fn invalidate<'a>(&'a self, keys: &'a [String]) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            // As the end of a write that learned these rows: tombstones, and
            // the locks of the writes in flight on them put back.
            let rows = WriteKeys {
                rows: keys.to_vec(),
                stamps: Vec::new(),
            };
            self.unlock("invalidate", &WriteKeys::default(), &rows)
                .await
        })
    }

    fn fill_window(&self) -> Duration {
        self.fill_window
    }

    fn get_stamped<'a>(
        &'a self,
        key: &'a str,
        stamps: &'a [String],
    ) -> CacheFuture<'a, StampedLookup> {
        Box::pin(async move {
            let near = self.near.as_ref();
            if let Some(found) = near.and_then(|near| near.list(key, stamps)) {
                return Ok(found);
            }
            let ticket = near.map(|near| near.ticket());
            let mget = stamped_mget(key, stamps);
            let found = self
                .server
                .call("get_stamped", async |server: &Server, link: &mut Link| {
                    stamped_of(server.send::<Value>(link, &mget).await?, stamps.len())
                })
                .await?;
            if let (Some(near), Some(ticket)) = (near, ticket) {
                near.keep_list(ticket, key, found.value.as_ref(), stamps, &found.stamps);
            }
            Ok(found)
        })
    }

    fn get_stamps<'a>(&'a self, stamps: &'a [String]) -> CacheFuture<'a, Vec<Option<u64>>> {
        Box::pin(async move {
            if stamps.is_empty() {
                return Ok(Vec::new());
            }
            let near = self.near.as_ref();
            if let Some(found) = near.and_then(|near| near.list("", stamps)) {
                return Ok(found.stamps);
            }
            let ticket = near.map(|near| near.ticket());
            let mut mget = redis::cmd("MGET");
            for stamp in stamps {
                mget.arg(stamp.as_str());
            }
            let found = self
                .server
                .call(
                    "get_stamps",
                    async |server: &Server, link: &mut Link| match server
                        .send::<Value>(link, &mget)
                        .await?
                    {
                        Value::Array(items) if items.len() == stamps.len() => {
                            Ok(items.into_iter().map(stamp_of).collect::<Vec<_>>())
                        }
                        reply => Err(unexpected("get_stamps", &reply)),
                    },
                )
                .await?;
            if let (Some(near), Some(ticket)) = (near, ticket) {
                near.keep_list(ticket, "", None, stamps, &found);
            }
            Ok(found)
        })
    }

    fn get_stamped_with_rows<'a>(
        &'a self,
        key: &'a str,
        stamps: &'a [String],
        rows: &'a [String],
        epoch: &'a str,
        _lease_ttl: Duration,
    ) -> CacheFuture<'a, (StampedLookup, Vec<Lookup>, Option<u64>)> {
        Box::pin(async move {
            let near = self.near.as_ref();
            if let Some(near) = near
                && let Some(list) = near.list(key, stamps)
                && let Some((lookups, epoch)) = near.rows(rows, Some(epoch))
            {
                return Ok((list, lookups, epoch));
            }
            let ticket = near.map(|near| near.ticket());
            let mut pipe = redis::pipe();
            pipe.add_command(stamped_mget(key, stamps));
            add_lookup(&mut pipe, rows, Some(epoch));
            let (list, lookups, found_epoch) = self
                .server
                .call("get_stamped", async |server: &Server, link: &mut Link| {
                    let mut replies = server.send::<Vec<Value>>(link, &pipe).await?.into_iter();
                    let (Some(list), Some(found), Some(time)) =
                        (replies.next(), replies.next(), replies.next())
                    else {
                        return Err(unexpected("get_stamped", &Value::Nil));
                    };
                    let list = stamped_of(list, stamps.len())?;
                    let (lookups, epoch) = lookups_of(found, &time, rows.len(), true)?;
                    Ok((list, lookups, epoch))
                })
                .await?;
            if let (Some(near), Some(ticket)) = (near, ticket) {
                near.keep_list(ticket, key, list.value.as_ref(), stamps, &list.stamps);
                near.keep_rows(ticket, rows, &lookups, Some((epoch, found_epoch)));
            }
            Ok((list, lookups, found_epoch))
        })
    }

    fn fill_stamped<'a>(&'a self, fill: &'a StampedFill) -> CacheFuture<'a, bool> {
        Box::pin(async move {
            if fill.stamps.len() != fill.seen.len() {
                return Ok(false);
            }
            let keys: Vec<&str> = std::iter::once(fill.key.as_str())
                .chain(fill.stamps.iter().map(String::as_str))
                .collect();
            let ttl = ttl_ms(fill.ttl);
            let seen: Vec<String> = fill.seen.iter().map(u64::to_string).collect();
            let starts = random_starts(fill.stamps.len());
            let mut args: Vec<&[u8]> = vec![&fill.value[..], ttl.as_slice()];
            args.extend(seen.iter().map(|value| value.as_bytes()));
            args.extend(starts.iter().map(|start| start.as_bytes()));
            self.server
                .call(
                    "fill_stamped",
                    async |server: &Server, link: &mut Link| match server
                        .eval(link, Script::FillStamped, &keys, &args)
                        .await?
                    {
                        Value::Int(stored) => Ok(stored == 1),
                        other => Err(unexpected("fill_stamped", &other)),
                    },
                )
                .await
        })
    }

    fn begin_write<'a>(&'a self, keys: &'a WriteKeys) -> CacheFuture<'a, ()> {
        Box::pin(self.lock(keys))
    }

    fn end_write<'a>(
        &'a self,
        locked: &'a WriteKeys,
        learned: &'a WriteKeys,
    ) -> CacheFuture<'a, ()> {
        Box::pin(self.unlock("end_write", locked, learned))
    }

    fn abort_write<'a>(&'a self, keys: &'a WriteKeys) -> CacheFuture<'a, ()> {
        // Nothing changed, but the stamps were moved off their values by the
        // lock: they get new ones, as after a write.
        Box::pin(async move {
            self.unlock("abort_write", keys, &WriteKeys::default())
                .await
        })
    }

    fn bump<'a>(&'a self, stamps: &'a [String]) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            if stamps.is_empty() {
                return Ok(());
            }
            let keys: Vec<&str> = stamps.iter().map(String::as_str).collect();
            let window = ttl_ms(self.fill_window);
            let next = random_starts(stamps.len());
            let mut args: Vec<&[u8]> = vec![&window];
            args.extend(next.iter().map(|value| value.as_bytes()));
            self.write_script("bump", Script::Bump, &keys, args, true)
                .await
        })
    }

    fn round_trips(&self) -> u64 {
        self.server.round_trips()
    }

    fn counts(&self) -> CacheCounts {
        let near = self.near_stats().unwrap_or_default();
        CacheCounts {
            round_trips: self.round_trips(),
            near_hits: near.hits,
            near_flushes: near.flushes,
            near_write_waits: near.write_waits,
        }
    }

    fn is_available(&self) -> bool {
        !self.server.is_cooling_down()
    }
}
