//! [`RedisCache`]: the shared cache, on one Redis server. Its docs describe
//! the encoding, the round trips and the Redis Cluster limitation.

use super::breaker::{Admit, Breaker};
use super::{
    Bytes, Cache, CacheError, CacheFuture, Fill, LeaseToken, Lookup, StampedFill, StampedLookup,
    WriteKeys,
};
use crate::hash::sha1_hex;
use crate::observe::stats;
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, ErrorKind, IntoConnectionInfo, RedisError, Value,
    aio::MultiplexedConnection,
};
use deadpool_redis::{Connection, Manager, Pool};
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// The first byte of a tombstone; a value must not start with it.
const TOMBSTONE_TAG: u8 = 0x00;

/// The last byte of a write lock (see [`write_lock`]).
const LOCK_TAG: u8 = b'L';

/// The longest TTL sent to Redis, in milliseconds (Redis rejects expiry times
/// that overflow its clock; this is about 285,000 years).
const MAX_TTL_MS: u128 = 1 << 53;

/// Lua shared by the scripts below: `integer(key)`, the key's counter (`nil`
/// when it is missing or holds anything else, including a number Thing would
/// not write: signed, with leading zeros, or past 19 digits — exactly what
/// [`stamp_of`] refuses, so that a stamp the reader cannot read is one the
/// scripts replace); `bump(key, random)` moves a
/// stamp on (a missing one, or one that is not a counter or not above 1
/// after the bump, starts again at `random`); `lock(key, window)` and
/// `unlock(key)` take and give back one write's lock of `key`. Whatever
/// another program left in these keys, the scripts replace it rather than
/// fail. `locked(key)` tells whether a write holds `key`: an unlocked key's
/// lock may be left at 0 until it expires, so that unlocking is one call; a
/// lock Thing did not take (not a counter, or without an expiry: Thing sets
/// both in one script) is deleted, so that it cannot hold fills off for ever.
/// `bump`, `lock` and `unlock` try the
/// counter command first (`INCR`, `DECR` through `redis.pcall`) and repair
/// the key only when it fails (a stamp `INCR` created, at 1, was missing, and
/// starts at `random` instead): one call to bump a stamp, two to lock a key and
/// one to unlock it, which is most of a write's time in Redis (a call inside a
/// script costs about a microsecond and a half here).
const HELPERS: &str = r"
local function integer(key)
    if redis.call('TYPE', key).ok ~= 'string' then
        return nil
    end
    local value = redis.call('GET', key)
    if #value <= 19 and (value == '0' or string.match(value, '^[1-9]%d*$')) then
        return tonumber(value)
    end
    return nil
end
local function failed(reply)
    return type(reply) == 'table' and reply.err ~= nil
end
local function bump(key, random)
    local bumped = redis.pcall('INCR', key)
    if failed(bumped) then
        redis.call('DEL', key)
        redis.call('SET', key, random)
    elseif bumped <= 1 then
        redis.call('SET', key, random)
    end
end
local function lock(key, window)
    local lock = key .. ':L'
    if failed(redis.pcall('INCR', lock)) then
        redis.call('DEL', lock)
        redis.call('INCR', lock)
    end
    redis.call('PEXPIRE', lock, window)
end
local function unlock(key)
    local lock = key .. ':L'
    local held = redis.pcall('DECR', lock)
    if failed(held) or held < 0 then
        redis.call('DEL', lock)
    end
end
local function locked(key)
    local lock = key .. ':L'
    local held = redis.pcall('GET', lock)
    if held == false then
        return false
    end
    if failed(held) or not string.match(held, '^%-?%d+$')
        or redis.call('PTTL', lock) < 0 then
        redis.call('DEL', lock)
        return false
    end
    return tonumber(held) > 0
end
";

/// `ARGV[1]` the fill window in ms; then for each key `KEYS[i]`, from
/// `ARGV[4i-2]`: what its lookup saw (a tombstone, or empty for nothing), the
/// value, the TTL in ms, and (for nothing) when the lookup was made, by the
/// server's clock. Stores the value if the key still holds exactly what was
/// seen (no invalidation since), no write holds its lock, and a lookup that saw
/// nothing is no older than the window — by Redis's own clock, so a fill that
/// arrives late cannot match a tombstone that expired meanwhile. Returns how
/// many were stored.
static FILL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        0,
        format!(
            r"{HELPERS}
local window = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stored = 0
for i, key in ipairs(KEYS) do
    local at = 1 + (i - 1) * 4
    local seen = ARGV[at + 1]
    local looked = ARGV[at + 4]
    local kind = redis.call('TYPE', key).ok
    if kind ~= 'string' and kind ~= 'none' then
        redis.call('DEL', key)
    end
    local current = redis.call('GET', key)
    local fresh = looked == '' or now - tonumber(looked) <= window
    if fresh and ((current == false and seen == '') or current == seen)
        and not locked(key) then
        redis.call('SET', key, ARGV[at + 2], 'PX', ARGV[at + 3])
        stored = stored + 1
    end
end
return stored
"
        ),
    )
});

/// `KEYS[1]` the list, `KEYS[2..]` its stamps; `ARGV[1]` the value, `ARGV[2]`
/// its TTL in ms, then the stamp values seen, then a random start value per
/// stamp. Stores the value if every stamp still has the value seen and none is
/// locked; creates missing stamps. Returns 1 if stored.
static FILL_STAMPED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        1,
        format!(
            r"{HELPERS}
local n = #KEYS - 1
local ok = 1
for i = 1, n do
    local key = KEYS[i + 1]
    local current = integer(key)
    if current == nil then
        bump(key, ARGV[2 + n + i])
        ok = 0
    elseif redis.call('GET', key) ~= ARGV[2 + i] or locked(key) then
        ok = 0
    end
end
if ok == 1 then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return ok
"
        ),
    )
});

/// `KEYS`: the rows (`ARGV[1]` of them), then the stamps; `ARGV[2]` a row's
/// lock marker, `ARGV[3]` the window in ms, `ARGV[4]` unused here (see
/// [`END_WRITE`]), then a random start value per stamp. Locks every key for
/// the window and bumps the stamps.
static BEGIN_WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        2,
        format!(
            r"{HELPERS}
local rows = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
    lock(key, ARGV[3])
    if i <= rows then
        redis.call('SET', key, ARGV[2], 'PX', ARGV[3])
    else
        bump(key, ARGV[4 + i - rows])
    end
end
return 0
"
        ),
    )
});

/// As [`BEGIN_WRITE`], with `ARGV[2]` a tombstone and `ARGV[4]` one byte per
/// key, `1` for a key this write locked: invalidates the rows, bumps the
/// stamps and takes back one lock of each key it locked (and of no other: a
/// key it learned by its commit may be locked by another write).
static END_WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        3,
        format!(
            r"{HELPERS}
local rows = tonumber(ARGV[1])
local locked = ARGV[4]
for i, key in ipairs(KEYS) do
    if i <= rows then
        redis.call('SET', key, ARGV[2], 'PX', ARGV[3])
    else
        bump(key, ARGV[4 + i - rows])
    end
    if string.byte(locked, i) == 49 then
        unlock(key)
    end
end
return 0
"
        ),
    )
});

/// As [`END_WRITE`] for a write that failed: the rows get a tombstone in place
/// of their lock marker (so that readers may fill them again at once), the
/// stamps stay, and every key gives back one lock.
static ABORT_WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        4,
        format!(
            r"{HELPERS}
local rows = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
    if i <= rows then
        redis.call('SET', key, ARGV[2], 'PX', ARGV[3])
    end
    unlock(key)
end
return 0
"
        ),
    )
});

/// Bumps every stamp in `KEYS`, `ARGV[i]` its random start value.
static BUMP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        5,
        format!(
            r"{HELPERS}
for i, key in ipairs(KEYS) do
    bump(key, ARGV[i])
end
return 0
"
        ),
    )
});

/// A Lua script and its SHA-1, as `EVALSHA` wants it.
struct Script {
    /// Bit in [`Link::loaded`]: set once the script was sent with `EVAL` on
    /// that connection.
    bit: u8,
    source: String,
    sha: String,
}

impl Script {
    fn new(index: u8, source: String) -> Self {
        Self {
            bit: 1 << index,
            sha: sha1_hex(source.as_bytes()),
            source,
        }
    }
}

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
/// # Round trips
///
/// [`get_or_lease`](Cache::get_or_lease) is one `MGET` — a hit costs exactly what
/// a plain `GET` does, no script runs. [`fill`](Cache::fill) is one Lua script,
/// atomic in Redis; [`invalidate`](Cache::invalidate) one `MSET`-like pipeline of
/// `SET ... PX`. Each call is one round trip whatever the number of keys, and a
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
    inner: Arc<Inner>,
}

struct Inner {
    /// `host:port` (or socket path), for `Debug`; never the password.
    addr: String,
    pool: Pool,
    held: Mutex<Option<Held>>,
    /// Held by the one call opening a connection.
    connecting: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    round_trips: AtomicU64,
    command_timeout: Duration,
    connect_timeout: Duration,
    fill_window: Duration,
    breaker: Breaker,
}

/// The connection in use.
struct Held {
    generation: u64,
    conn: Connection,
    loaded: Arc<AtomicU8>,
}

/// What one call uses: a handle on the held connection.
struct Link {
    generation: u64,
    conn: MultiplexedConnection,
    /// Scripts already sent with `EVAL` on this connection (bits of
    /// [`Script::bit`]).
    loaded: Arc<AtomicU8>,
}

/// Why a command failed.
enum SendError {
    Redis(RedisError),
    Timeout,
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
}

impl RedisCacheBuilder {
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
        let info = self
            .url
            .as_str()
            .into_connection_info()
            .map_err(|err| CacheError(format!("redis: invalid URL: {err}")))?;
        let addr = info.addr().to_string();
        // Timeouts are enforced here, around each call, not by redis-rs.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(None);
        let manager = Manager::new_with_config(info, config)
            .map_err(|err| CacheError(format!("redis: invalid URL: {err}")))?;
        // One connection at a time: the one held.
        let pool = Pool::builder(manager)
            .max_size(1)
            .build()
            .map_err(|err| CacheError(format!("redis: {err}")))?;
        let cache = RedisCache {
            inner: Arc::new(Inner {
                addr,
                pool,
                held: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
                round_trips: AtomicU64::new(0),
                command_timeout: self.command_timeout,
                connect_timeout: self.connect_timeout,
                fill_window: self.fill_window,
                breaker: Breaker::new(self.cool_down),
            }),
        };
        if let Err(err) = cache.inner.link().await {
            tracing::warn!(addr = %cache.inner.addr, error = %err, "Redis cache unreachable; will retry on use");
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
        self.inner.lock_held().is_some()
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
        self.inner.breaker.is_open()
    }
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("addr", &self.inner.addr)
            .field("connected", &self.is_connected())
            .field("cooling_down", &self.is_cooling_down())
            .field("command_timeout", &self.inner.command_timeout)
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("round_trips", &self.round_trips())
            .finish()
    }
}

impl Inner {
    fn lock_held(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn current(&self) -> Option<Link> {
        self.lock_held().as_ref().map(|held| Link {
            generation: held.generation,
            conn: MultiplexedConnection::clone(&held.conn),
            loaded: Arc::clone(&held.loaded),
        })
    }

    /// The held connection, opening one if there is none.
    async fn link(&self) -> Result<Link, CacheError> {
        if let Some(link) = self.current() {
            return Ok(link);
        }
        let Ok(_connecting) = self.connecting.try_lock() else {
            return Err(CacheError(format!(
                "redis {}: not connected (another call is connecting)",
                self.addr
            )));
        };
        if let Some(link) = self.current() {
            return Ok(link);
        }
        let conn = match tokio::time::timeout(self.connect_timeout, self.pool.get()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => {
                self.breaker.failure();
                return Err(CacheError(format!(
                    "redis {}: cannot connect: {err}",
                    self.addr
                )));
            }
            Err(_) => {
                self.breaker.failure();
                return Err(CacheError(format!(
                    "redis {}: cannot connect within {:?}",
                    self.addr, self.connect_timeout
                )));
            }
        };
        let held = Held {
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
            conn,
            loaded: Arc::new(AtomicU8::new(0)),
        };
        let link = Link {
            generation: held.generation,
            conn: MultiplexedConnection::clone(&held.conn),
            loaded: Arc::clone(&held.loaded),
        };
        *self.lock_held() = Some(held);
        Ok(link)
    }

    /// Forgets the connection of `link` (if still held): the next call opens a
    /// new one. It leaves the pool for good rather than being recycled.
    fn drop_link(&self, link: &Link) {
        let mut slot = self.lock_held();
        if let Some(held) = slot.take_if(|held| held.generation == link.generation) {
            drop(Connection::take(held.conn));
        }
    }

    /// Sends one command and counts the round trip. Drops the connection on
    /// any failure other than an error reply from the server.
    async fn send(&self, link: &mut Link, cmd: &redis::Cmd) -> Result<Value, SendError> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        stats::cache_round_trip();
        match cmd.query_async::<Value>(&mut link.conn).await {
            Ok(value) => Ok(value),
            Err(err) => {
                if !is_server_reply(&err) {
                    self.drop_link(link);
                }
                Err(SendError::Redis(err))
            }
        }
    }

    /// Sends a pipeline as one round trip; failures as in [`Inner::send`].
    async fn send_pipeline(
        &self,
        link: &mut Link,
        pipe: &redis::Pipeline,
    ) -> Result<(), SendError> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        stats::cache_round_trip();
        match pipe.query_async::<()>(&mut link.conn).await {
            Ok(()) => Ok(()),
            Err(err) => {
                if !is_server_reply(&err) {
                    self.drop_link(link);
                }
                Err(SendError::Redis(err))
            }
        }
    }

    /// Sends a pipeline as one round trip and returns its replies; failures as
    /// in [`Inner::send`].
    async fn send_pipeline_replies(
        &self,
        link: &mut Link,
        pipe: &redis::Pipeline,
    ) -> Result<Vec<Value>, SendError> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        stats::cache_round_trip();
        match pipe.query_async::<Vec<Value>>(&mut link.conn).await {
            Ok(replies) => Ok(replies),
            Err(err) => {
                if !is_server_reply(&err) {
                    self.drop_link(link);
                }
                Err(SendError::Redis(err))
            }
        }
    }

    /// Runs `script` with `keys` and `args`: `EVALSHA`, or `EVAL` when the
    /// script was not sent on this connection yet or the server lost it
    /// (`NOSCRIPT`).
    async fn eval(
        &self,
        link: &mut Link,
        script: &Script,
        keys: &[&str],
        args: &[&[u8]],
    ) -> Result<Value, SendError> {
        let command = |name: &str, body: &str| {
            let mut cmd = redis::cmd(name);
            cmd.arg(body).arg(keys.len());
            for key in keys {
                cmd.arg(*key);
            }
            for arg in args {
                cmd.arg(*arg);
            }
            cmd
        };
        if link.loaded.load(Ordering::Relaxed) & script.bit != 0 {
            match self.send(link, &command("EVALSHA", &script.sha)).await {
                Err(SendError::Redis(err))
                    if err.kind() == ErrorKind::Server(redis::ServerErrorKind::NoScript) => {}
                other => return other,
            }
        }
        let value = self.send(link, &command("EVAL", &script.source)).await?;
        link.loaded.fetch_or(script.bit, Ordering::Relaxed);
        Ok(value)
    }

    /// Runs `work` on the connection within the command timeout, unless the
    /// breaker says to skip Redis for now.
    async fn call<T>(
        &self,
        what: &str,
        work: impl AsyncFnOnce(&Self, &mut Link) -> Result<T, SendError>,
    ) -> Result<T, CacheError> {
        if self.breaker.admit() == Admit::Open {
            return Err(CacheError(format!(
                "redis {}: {what}: skipped in the {:?} cool-down after a failure",
                self.addr,
                self.breaker.cool_down()
            )));
        }
        let mut link = self.link().await?;
        let outcome = match tokio::time::timeout(self.command_timeout, work(self, &mut link)).await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(SendError::Timeout),
        };
        match &outcome {
            Err(SendError::Redis(err)) if !is_server_reply(err) => self.breaker.failure(),
            Err(SendError::Timeout) => self.breaker.failure(),
            _ => self.breaker.success(),
        }
        outcome.map_err(|err| match err {
            SendError::Redis(err) => CacheError(format!("redis {}: {what}: {err}", self.addr)),
            SendError::Timeout => {
                self.drop_link(&link);
                CacheError(format!(
                    "redis {}: {what}: no reply within {:?}",
                    self.addr, self.command_timeout
                ))
            }
        })
    }
}

/// Whether `err` is a reply of the server (it is up and answering), not a
/// failure to reach it.
fn is_server_reply(err: &RedisError) -> bool {
    matches!(err.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
}

/// The bytes of a tombstone.
fn tombstone(token: LeaseToken) -> [u8; 17] {
    let mut bytes = [TOMBSTONE_TAG; 17];
    bytes[1..].copy_from_slice(&token.0.to_be_bytes());
    bytes
}

/// The bytes of a write lock: a tombstone with a trailing `L`, which no lookup
/// hands out as a token, so no fill can match it.
fn write_lock(token: LeaseToken) -> [u8; 18] {
    let mut bytes = [LOCK_TAG; 18];
    bytes[..17].copy_from_slice(&tombstone(token));
    bytes
}

fn is_lock(bytes: &[u8]) -> bool {
    bytes.len() == 18 && bytes[0] == TOMBSTONE_TAG && bytes[17] == LOCK_TAG
}

/// What a lookup saw, as a token: nothing (at the server's time `now_ms`), or
/// the tombstone's id.
fn token_of(seen: Option<&[u8]>, now_ms: u64) -> Option<LeaseToken> {
    match seen {
        None => Some(LeaseToken::saw_nothing_at(now_ms)),
        Some([TOMBSTONE_TAG, id @ ..]) => {
            Some(LeaseToken(u128::from_be_bytes(id.try_into().ok()?)))
        }
        Some(_) => None,
    }
}

/// The token as the fill script compares it: empty for nothing.
fn seen_bytes(token: LeaseToken) -> Vec<u8> {
    match token.looked_at() {
        Some(_) => Vec::new(),
        None => tombstone(token).to_vec(),
    }
}

/// What one `MGET` item says about a key looked up at `now_ms`. Bytes that
/// begin like a tombstone but are none are handed back as a hit, which the
/// caller cannot decode: a miss, repaired by its next fill, never an error for
/// the batch.
fn lookup_of(item: Value, now_ms: u64) -> Result<Lookup, SendError> {
    match item {
        Value::Nil => Ok(Lookup::Leased(LeaseToken::saw_nothing_at(now_ms))),
        Value::BulkString(bytes) if is_lock(&bytes) => Ok(Lookup::Busy),
        Value::BulkString(bytes) if bytes.first() == Some(&TOMBSTONE_TAG) => {
            Ok(match token_of(Some(&bytes), now_ms) {
                Some(token) => Lookup::Leased(token),
                None => Lookup::Hit(Bytes::from(bytes)),
            })
        }
        Value::BulkString(bytes) => Ok(Lookup::Hit(Bytes::from(bytes))),
        other => Err(unexpected("get_or_lease", &other)),
    }
}

/// Adds to `pipe` the lookup of `keys` and `stamp`: an `MGET`, then `TIME`.
fn add_lookup(pipe: &mut redis::Pipeline, keys: &[String], stamp: Option<&str>) {
    let mget = pipe.cmd("MGET");
    for key in keys.iter().map(String::as_str).chain(stamp) {
        mget.arg(key);
    }
    pipe.cmd("TIME");
}

/// The lookups of `keys` keys (and the stamp after them, if asked) from the
/// replies of [`add_lookup`]'s `MGET` and `TIME`.
fn lookups_of(
    reply: Value,
    time: &Value,
    keys: usize,
    with_stamp: bool,
) -> Result<(Vec<Lookup>, Option<u64>), SendError> {
    let now_ms = server_ms(time).ok_or_else(|| unexpected("TIME", time))?;
    let Value::Array(mut items) = reply else {
        return Err(unexpected("get_or_lease", &reply));
    };
    if items.len() != keys + usize::from(with_stamp) {
        return Err(unexpected(
            "get_or_lease: wrong length",
            &Value::Array(items),
        ));
    }
    let stamp = with_stamp.then(|| items.pop()).flatten().and_then(stamp_of);
    let lookups = items
        .into_iter()
        .map(|item| lookup_of(item, now_ms))
        .collect::<Result<_, _>>()?;
    Ok((lookups, stamp))
}

/// The `MGET` of a list `key` and its `stamps`.
fn stamped_mget(key: &str, stamps: &[String]) -> redis::Cmd {
    let mut mget = redis::cmd("MGET");
    mget.arg(key);
    for stamp in stamps {
        mget.arg(stamp.as_str());
    }
    mget
}

/// A list and its `stamps` from the reply of [`stamped_mget`].
fn stamped_of(reply: Value, stamps: usize) -> Result<StampedLookup, SendError> {
    let Value::Array(items) = reply else {
        return Err(unexpected("get_stamped", &reply));
    };
    if items.len() != stamps + 1 {
        return Err(unexpected(
            "get_stamped: wrong length",
            &Value::Array(items),
        ));
    }
    let mut items = items.into_iter();
    let value = match items.next() {
        Some(Value::BulkString(bytes)) => Some(Bytes::from(bytes)),
        _ => None,
    };
    Ok(StampedLookup {
        value,
        stamps: items.map(stamp_of).collect(),
    })
}

/// The server's time in milliseconds, from a `TIME` reply.
fn server_ms(reply: &Value) -> Option<u64> {
    let Value::Array(parts) = reply else {
        return None;
    };
    let part = |at: usize| -> Option<u64> {
        match parts.get(at)? {
            Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
            Value::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    };
    Some(part(0)? * 1000 + part(1)? / 1000)
}

/// A TTL as Redis `PX` milliseconds: at least 1 (0 is an error in Redis).
fn ttl_ms(ttl: Duration) -> Vec<u8> {
    let ms = ttl.as_nanos().div_ceil(1_000_000).clamp(1, MAX_TTL_MS);
    ms.to_string().into_bytes()
}

fn unexpected(what: &str, value: &Value) -> SendError {
    SendError::Redis(RedisError::from((
        ErrorKind::UnexpectedReturnType,
        "unexpected reply",
        format!("{what}: {value:?}"),
    )))
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
        // The server's time dates the tokens of empty keys (see `FILL`).
        let mut pipe = redis::pipe();
        add_lookup(&mut pipe, keys, stamp);
        self.inner
            .call("get_or_lease", async |inner: &Inner, link: &mut Link| {
                let mut replies = inner.send_pipeline_replies(link, &pipe).await?.into_iter();
                let (Some(reply), Some(time)) = (replies.next(), replies.next()) else {
                    return Err(unexpected("get_or_lease", &Value::Nil));
                };
                lookups_of(reply, &time, keys.len(), stamp.is_some())
            })
            .await
    }

    /// Sets every key to `marker` (a tombstone) for the fill window, in one
    /// pipeline.
    async fn mark(&self, what: &str, keys: &[String], marker: Vec<u8>) -> Result<(), CacheError> {
        if keys.is_empty() {
            return Ok(());
        }
        let window = ttl_ms(self.inner.fill_window);
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("SET")
                .arg(key.as_str())
                .arg(marker.as_slice())
                .arg("PX")
                .arg(window.as_slice())
                .ignore();
        }
        self.inner
            .call(what, async |inner: &Inner, link: &mut Link| {
                inner.send_pipeline(link, &pipe).await
            })
            .await
    }

    /// Runs one of the write scripts over `keys`: `marker` is what a row key
    /// is set to, and every stamp gets a random start value in case it is
    /// missing.
    /// Runs a write's `script` over the rows, then the stamps, of each of
    /// `parts` in turn, with `marker` and `flags` (one byte per key, in that
    /// order, for [`END_WRITE`]).
    async fn write_script(
        &self,
        what: &str,
        script: &Script,
        parts: &[&WriteKeys],
        marker: &[u8],
        flags: &[u8],
    ) -> Result<(), CacheError> {
        if parts.iter().all(|keys| keys.is_empty()) {
            return Ok(());
        }
        let rows = parts.iter().flat_map(|keys| &keys.rows);
        let stamps = parts.iter().flat_map(|keys| &keys.stamps);
        let names: Vec<&str> = rows
            .clone()
            .chain(stamps.clone())
            .map(String::as_str)
            .collect();
        let (rows, stamps) = (rows.count().to_string(), stamps.count());
        let window = ttl_ms(self.inner.fill_window);
        let starts = random_starts(stamps);
        let mut args: Vec<&[u8]> = vec![rows.as_bytes(), marker, window.as_slice(), flags];
        args.extend(starts.iter().map(|start| start.as_bytes()));
        self.inner
            .call(what, async |inner: &Inner, link: &mut Link| {
                inner.eval(link, script, &names, &args).await.map(drop)
            })
            .await
    }
}

/// [`END_WRITE`]'s flags for the keys of `locked` then `learned`, rows then
/// stamps: `1` for a key of `locked`, `0` for one of `learned`.
fn locked_flags(locked: &WriteKeys, learned: &WriteKeys) -> Vec<u8> {
    let flag = |keys: &[String], byte: u8| std::iter::repeat_n(byte, keys.len());
    flag(&locked.rows, b'1')
        .chain(flag(&learned.rows, b'0'))
        .chain(flag(&locked.stamps, b'1'))
        .chain(flag(&learned.stamps, b'0'))
        .collect()
}

/// A random start value for each of `count` stamps, below 2^62 so that it has
/// room to count up.
fn random_starts(count: usize) -> Vec<String> {
    (0..count)
        .map(|_| super::stamp_start().to_string())
        .collect()
}

/// A stamp's value as Redis returned it: `None` when missing or not a number
/// as Thing writes them (decimal digits, no sign, no leading zero, at most
/// 19): the scripts' `integer` refuses exactly these, and so replaces them.
fn stamp_of(value: Value) -> Option<u64> {
    match value {
        Value::BulkString(bytes) => canonical_decimal(&bytes),
        Value::Int(n) => u64::try_from(n).ok(),
        _ => None,
    }
}

/// `bytes` as a number if they are one as Redis's `INCR` writes it.
fn canonical_decimal(bytes: &[u8]) -> Option<u64> {
    let canonical = matches!(bytes, [b'0'] | [b'1'..=b'9', ..])
        && bytes.len() <= 19
        && bytes.iter().all(u8::is_ascii_digit);
    canonical.then(|| std::str::from_utf8(bytes).ok()?.parse().ok())?
}

impl Cache for RedisCache {
    fn get_or_lease<'a>(
        &'a self,
        keys: &'a [String],
        _lease_ttl: Duration,
    ) -> CacheFuture<'a, Vec<Lookup>> {
        Box::pin(async move { Ok(self.lookup(keys, None).await?.0) })
    }

    fn get_or_lease_at<'a>(
        &'a self,
        keys: &'a [String],
        stamp: &'a str,
        _lease_ttl: Duration,
    ) -> CacheFuture<'a, (Vec<Lookup>, Option<u64>)> {
        Box::pin(self.lookup(keys, Some(stamp)))
    }

    fn fill<'a>(&'a self, fills: &'a [Fill]) -> CacheFuture<'a, usize> {
        Box::pin(async move {
            if let Some(fill) = fills
                .iter()
                .find(|fill| fill.value.first() == Some(&TOMBSTONE_TAG))
            {
                return Err(CacheError(format!(
                    "redis: cannot fill {:?}: values beginning with 0x00 are reserved for tombstones",
                    fill.key
                )));
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
            let window = ttl_ms(self.inner.fill_window);
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
            self.inner
                .call("fill", async |inner: &Inner, link: &mut Link| {
                    match inner.eval(link, &FILL, &keys, &args).await? {
                        Value::Int(stored) if stored >= 0 => Ok(stored as usize),
                        other => Err(unexpected("fill", &other)),
                    }
                })
                .await
        })
    }

    fn invalidate<'a>(&'a self, keys: &'a [String]) -> CacheFuture<'a, ()> {
        Box::pin(self.mark("invalidate", keys, tombstone(LeaseToken::new()).to_vec()))
    }

    fn fill_window(&self) -> Duration {
        self.inner.fill_window
    }

    fn get_stamped<'a>(
        &'a self,
        key: &'a str,
        stamps: &'a [String],
    ) -> CacheFuture<'a, StampedLookup> {
        Box::pin(async move {
            let mget = stamped_mget(key, stamps);
            self.inner
                .call("get_stamped", async |inner: &Inner, link: &mut Link| {
                    stamped_of(inner.send(link, &mget).await?, stamps.len())
                })
                .await
        })
    }

    fn get_stamps<'a>(&'a self, stamps: &'a [String]) -> CacheFuture<'a, Vec<Option<u64>>> {
        Box::pin(async move {
            if stamps.is_empty() {
                return Ok(Vec::new());
            }
            let mut mget = redis::cmd("MGET");
            for stamp in stamps {
                mget.arg(stamp.as_str());
            }
            self.inner
                .call(
                    "get_stamps",
                    async |inner: &Inner, link: &mut Link| match inner.send(link, &mget).await? {
                        Value::Array(items) if items.len() == stamps.len() => {
                            Ok(items.into_iter().map(stamp_of).collect())
                        }
                        reply => Err(unexpected("get_stamps", &reply)),
                    },
                )
                .await
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
            let mut pipe = redis::pipe();
            pipe.add_command(stamped_mget(key, stamps));
            add_lookup(&mut pipe, rows, Some(epoch));
            self.inner
                .call("get_stamped", async |inner: &Inner, link: &mut Link| {
                    let mut replies = inner.send_pipeline_replies(link, &pipe).await?.into_iter();
                    let (Some(list), Some(found), Some(time)) =
                        (replies.next(), replies.next(), replies.next())
                    else {
                        return Err(unexpected("get_stamped", &Value::Nil));
                    };
                    let list = stamped_of(list, stamps.len())?;
                    let (lookups, epoch) = lookups_of(found, &time, rows.len(), true)?;
                    Ok((list, lookups, epoch))
                })
                .await
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
            self.inner
                .call(
                    "fill_stamped",
                    async |inner: &Inner, link: &mut Link| match inner
                        .eval(link, &FILL_STAMPED, &keys, &args)
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
        let marker = write_lock(LeaseToken::new());
        Box::pin(async move {
            self.write_script("begin_write", &BEGIN_WRITE, &[keys], &marker, b"")
                .await
        })
    }

    fn end_write<'a>(
        &'a self,
        locked: &'a WriteKeys,
        learned: &'a WriteKeys,
    ) -> CacheFuture<'a, ()> {
        let marker = tombstone(LeaseToken::new());
        let flags = locked_flags(locked, learned);
        Box::pin(async move {
            let parts = [locked, learned];
            self.write_script("end_write", &END_WRITE, &parts, &marker, &flags)
                .await
        })
    }

    fn abort_write<'a>(&'a self, keys: &'a WriteKeys) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            self.write_script("abort_write", &ABORT_WRITE, &[keys], b"", b"")
                .await
        })
    }

    fn bump<'a>(&'a self, stamps: &'a [String]) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            if stamps.is_empty() {
                return Ok(());
            }
            let keys: Vec<&str> = stamps.iter().map(String::as_str).collect();
            let starts = random_starts(stamps.len());
            let args: Vec<&[u8]> = starts.iter().map(|start| start.as_bytes()).collect();
            self.inner
                .call("bump", async |inner: &Inner, link: &mut Link| {
                    inner.eval(link, &BUMP, &keys, &args).await.map(drop)
                })
                .await
        })
    }

    fn round_trips(&self) -> u64 {
        self.inner.round_trips.load(Ordering::Relaxed)
    }

    fn is_available(&self) -> bool {
        !self.inner.breaker.is_open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_tokens_and_ttls_are_encoded_for_redis() {
        let stone = tombstone(LeaseToken(0x0102));
        assert_eq!(stone[0], 0);
        assert_eq!(&stone[15..], &[1, 2]);
        assert_eq!(token_of(Some(&stone), 9), Some(LeaseToken(0x0102)));
        assert_eq!(token_of(None, 9), Some(LeaseToken::saw_nothing_at(9)));
        assert_eq!(
            token_of(Some(&[0, 1]), 9),
            None,
            "a short tombstone is malformed"
        );
        assert_eq!(seen_bytes(LeaseToken::saw_nothing_at(9)), b"");
        assert_eq!(seen_bytes(LeaseToken(0x0102)), stone.to_vec());
        let lock = write_lock(LeaseToken(0x0102));
        assert!(is_lock(&lock) && !is_lock(&stone));
        assert_ne!(
            token_of(Some(&lock), 9),
            Some(LeaseToken(0x0102)),
            "a lock is never a token"
        );
        assert_eq!(ttl_ms(Duration::ZERO), b"1");
        assert_eq!(ttl_ms(Duration::from_micros(1500)), b"2");
        assert_eq!(ttl_ms(Duration::from_secs(60)), b"60000");
        assert_eq!(
            ttl_ms(Duration::MAX),
            (1u128 << 53).to_string().into_bytes()
        );
    }

    #[test]
    fn stamps_read_only_as_incr_writes_them() {
        assert_eq!(canonical_decimal(b"0"), Some(0));
        assert_eq!(canonical_decimal(b"4611686018427387904"), Some(1 << 62));
        for bad in [
            &b""[..],
            b"-5",
            b"+5",
            b"007",
            b" 5",
            b"1.5",
            b"12345678901234567890",
        ] {
            assert_eq!(canonical_decimal(bad), None, "{bad:?}");
        }
    }
}
