//! `RedisCache` against a real Redis: the lease protocol, round trips, and
//! recovery after an outage.
//!
//! Most tests use the shared Redis at `redis://127.0.0.1:6379` (override with
//! `THING_TEST_REDIS_URL`), each under its own random key prefix: they never
//! flush, scan or touch other keys. The outage tests start private
//! `redis-server` processes on free ports and kill only those. When Redis (or
//! `redis-server`) is unavailable the test is skipped with a loud message,
//! unless `CI=true`, where it fails.

use std::net::TcpStream;
use std::time::{Duration, Instant};
use thing::cache::{Bytes, Cache, CacheErrorKind, Fill, LeaseToken, Lookup, RedisCache};
use thing_tests::fault::{PrivateRedis, Reply, command, free_port, scopeguard};
use thing_tests::{redis_url, skip, unique_name};

const LEASE_TTL: Duration = Duration::from_secs(5);
const VALUE_TTL: Duration = Duration::from_secs(60);

/// A key prefix no other test (in this process or another) uses.
fn unique_prefix() -> String {
    format!("thing-test:{}:", unique_name())
}

/// A cache on the shared Redis, and this test's key prefix.
struct Shared {
    cache: RedisCache,
    prefix: String,
}

impl Shared {
    /// `None` (after a loud skip message) when the shared Redis is unreachable.
    async fn connect(test: &str) -> Option<Self> {
        let url = redis_url();
        let cache = RedisCache::connect(&url)
            .await
            .expect("the Redis URL is valid");
        let prefix = unique_prefix();
        // A DEL of one of our own keys: the cheapest way to see Redis answer.
        if let Err(err) = cache.invalidate(&[format!("{prefix}probe")]).await {
            skip(test, &format!("Redis at {url} is unreachable: {err}"));
            return None;
        }
        Some(Self { cache, prefix })
    }

    /// Another cache on the same Redis, as another process would have.
    async fn other_process(&self) -> RedisCache {
        RedisCache::connect(&redis_url()).await.unwrap()
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn keys(&self, count: usize) -> Vec<String> {
        (0..count).map(|i| self.key(&format!("k{i}"))).collect()
    }

    /// Removes this test's keys (they would expire anyway).
    async fn clean(&self, keys: &[String]) {
        self.cache.invalidate(keys).await.unwrap();
    }
}

/// A plain connection to the shared Redis, for writing bytes Thing would not.
fn raw_redis() -> TcpStream {
    let address = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    TcpStream::connect(address).unwrap()
}

async fn lease(cache: &RedisCache, key: &str, ttl: Duration) -> LeaseToken {
    match cache
        .get_or_lease(&[key.to_owned()], ttl)
        .await
        .unwrap()
        .remove(0)
    {
        Lookup::Leased(token) => token,
        other => panic!("expected a lease on {key}, got {other:?}"),
    }
}

async fn lookup(cache: &RedisCache, key: &str) -> Lookup {
    cache
        .get_or_lease(&[key.to_owned()], LEASE_TTL)
        .await
        .unwrap()
        .remove(0)
}

fn fill(key: &str, token: LeaseToken, value: &[u8]) -> Fill {
    Fill {
        key: key.to_owned(),
        token,
        value: value.to_vec().into(),
        ttl: VALUE_TTL,
    }
}

#[tokio::test]
async fn lease_then_fill_then_hit() {
    let Some(t) = Shared::connect("lease_then_fill_then_hit").await else {
        return;
    };
    let (row, empty) = (t.key("row"), t.key("empty"));
    let value: Vec<u8> = (1..=255).chain(0..=255).collect(); // binary, but not starting with 0x00

    let token = lease(&t.cache, &row, LEASE_TTL).await;
    assert_eq!(t.cache.fill(&[fill(&row, token, &value)]).await.unwrap(), 1);
    assert_eq!(
        lookup(&t.cache, &row).await,
        Lookup::Hit(value.clone().into())
    );
    assert_eq!(
        lookup(&t.cache, &row).await,
        Lookup::Hit(value.clone().into())
    );
    // The token was for an empty key: once filled, filling again with it
    // stores nothing.
    assert_eq!(
        t.cache.fill(&[fill(&row, token, b"again")]).await.unwrap(),
        0
    );
    assert_eq!(lookup(&t.cache, &row).await, Lookup::Hit(value.into()));

    // An empty value is a value, not a miss.
    let token = lease(&t.cache, &empty, LEASE_TTL).await;
    assert_eq!(t.cache.fill(&[fill(&empty, token, b"")]).await.unwrap(), 1);
    assert_eq!(lookup(&t.cache, &empty).await, Lookup::Hit(Bytes::new()));

    t.clean(&[row, empty]).await;
}

#[tokio::test]
async fn fill_after_invalidate_is_refused() {
    let Some(t) = Shared::connect("fill_after_invalidate_is_refused").await else {
        return;
    };
    let key = t.key("row");
    // A reader leases the key and reads the old row; a writer commits and
    // invalidates; the reader's fill of the old row must not land.
    let token = lease(&t.cache, &key, LEASE_TTL).await;
    t.cache
        .invalidate(std::slice::from_ref(&key))
        .await
        .unwrap();
    assert_eq!(
        t.cache
            .fill(&[fill(&key, token, b"stale row")])
            .await
            .unwrap(),
        0
    );
    let next = lease(&t.cache, &key, LEASE_TTL).await;
    assert_ne!(next, token);

    // Nor does a fill with a token that was never granted, or an old one
    // after a new lease was granted.
    assert_eq!(
        t.cache
            .fill(&[fill(&key, LeaseToken::from_bits(7), b"forged")])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        t.cache
            .fill(&[fill(&key, token, b"stale row")])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        t.cache
            .fill(&[fill(&key, next, b"fresh row")])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        lookup(&t.cache, &key).await,
        Lookup::Hit(Bytes::from_static(b"fresh row"))
    );

    // Invalidation removes values too.
    t.cache
        .invalidate(std::slice::from_ref(&key))
        .await
        .unwrap();
    assert!(matches!(lookup(&t.cache, &key).await, Lookup::Leased(_)));
    t.clean(&[key]).await;
}

/// Two processes missing the same key get the same token; the first fill
/// stores, the second finds a value; an invalidation refuses both tokens.
#[tokio::test]
async fn concurrent_missers_may_fill_until_an_invalidation() {
    let Some(t) = Shared::connect("concurrent_missers_may_fill_until_an_invalidation").await else {
        return;
    };
    let other = t.other_process().await;
    let (key, free) = (t.key("row"), t.key("free"));
    let mine = lease(&t.cache, &key, LEASE_TTL).await;
    let theirs = lease(&other, &key, LEASE_TTL).await;
    assert_eq!(
        mine.seen(),
        theirs.seen(),
        "the token is what the lookup saw"
    );

    // In one call, each key gets its own answer, in order.
    assert_eq!(t.cache.fill(&[fill(&key, mine, b"row")]).await.unwrap(), 1);
    let both = other
        .get_or_lease(&[key.clone(), free.clone()], LEASE_TTL)
        .await
        .unwrap();
    assert_eq!(both[0], Lookup::Hit(Bytes::from_static(b"row")));
    assert!(matches!(both[1], Lookup::Leased(_)));
    assert_eq!(other.fill(&[fill(&key, theirs, b"row")]).await.unwrap(), 0);

    other.invalidate(std::slice::from_ref(&key)).await.unwrap();
    for token in [mine, theirs] {
        assert_eq!(t.cache.fill(&[fill(&key, token, b"old")]).await.unwrap(), 0);
    }
    assert!(
        matches!(lookup(&t.cache, &key).await, Lookup::Leased(next) if next.seen() != mine.seen())
    );
    t.clean(&[key, free]).await;
}

#[tokio::test]
async fn a_hundred_keys_take_one_round_trip() {
    let Some(t) = Shared::connect("a_hundred_keys_take_one_round_trip").await else {
        return;
    };
    let keys = t.keys(100);

    let before = t.cache.round_trips();
    let lookups = t.cache.get_or_lease(&keys, LEASE_TTL).await.unwrap();
    assert_eq!(t.cache.round_trips() - before, 1);
    assert_eq!(lookups.len(), 100);
    let Lookup::Leased(token) = lookups[0] else {
        panic!("expected leases, got {lookups:?}");
    };
    // One token per call.
    assert!(
        lookups
            .iter()
            .all(|lookup| *lookup == Lookup::Leased(token))
    );

    let fills: Vec<Fill> = keys
        .iter()
        .map(|key| fill(key, token, format!("value of {key}").as_bytes()))
        .collect();
    let before = t.cache.round_trips();
    assert_eq!(t.cache.fill(&fills).await.unwrap(), 100);
    assert_eq!(t.cache.round_trips() - before, 1);

    // The second run of a script (EVALSHA) is one round trip as well.
    let before = t.cache.round_trips();
    let lookups = t.cache.get_or_lease(&keys, LEASE_TTL).await.unwrap();
    assert_eq!(t.cache.round_trips() - before, 1);
    for (key, lookup) in keys.iter().zip(&lookups) {
        assert_eq!(
            *lookup,
            Lookup::Hit(format!("value of {key}").into_bytes().into())
        );
    }

    // Nothing to do: no round trip.
    let before = t.cache.round_trips();
    assert!(
        t.cache
            .get_or_lease(&[], LEASE_TTL)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(t.cache.fill(&[]).await.unwrap(), 0);
    assert_eq!(t.cache.round_trips() - before, 0);
    t.clean(&keys).await;
}

/// Past the 1000-key slices of the lookup script, with hits, leases and busy
/// keys mixed: still one round trip, and every answer at its key.
#[tokio::test]
async fn thousands_of_mixed_keys_take_one_round_trip() {
    let Some(t) = Shared::connect("thousands_of_mixed_keys_take_one_round_trip").await else {
        return;
    };
    let keys = t.keys(2_500);
    let Lookup::Leased(token) = t
        .cache
        .get_or_lease(&keys[..1_200], LEASE_TTL)
        .await
        .unwrap()[0]
    else {
        panic!("expected a lease");
    };
    // Fill every other key of the first 1200; the rest of them stay empty.
    let fills: Vec<Fill> = keys[..1_200]
        .iter()
        .step_by(2)
        .map(|key| fill(key, token, key.as_bytes()))
        .collect();
    assert_eq!(t.cache.fill(&fills).await.unwrap(), 600);

    let before = t.cache.round_trips();
    let lookups = t.cache.get_or_lease(&keys, LEASE_TTL).await.unwrap();
    assert_eq!(t.cache.round_trips() - before, 1);
    assert_eq!(lookups.len(), 2_500);
    for (i, (key, lookup)) in keys.iter().zip(&lookups).enumerate() {
        match i {
            0..1_200 if i % 2 == 0 => {
                assert_eq!(*lookup, Lookup::Hit(key.clone().into_bytes().into()))
            }
            0..1_200 => assert!(
                matches!(lookup, Lookup::Leased(seen) if seen.seen() == token.seen()),
                "key {i}: never filled"
            ),
            _ => assert!(matches!(lookup, Lookup::Leased(_)), "key {i}: {lookup:?}"),
        }
    }
    t.clean(&keys).await;
}

#[tokio::test]
async fn invalidating_many_keys_takes_one_round_trip() {
    let Some(t) = Shared::connect("invalidating_many_keys_takes_one_round_trip").await else {
        return;
    };
    let keys = t.keys(500);
    let lookups = t.cache.get_or_lease(&keys, LEASE_TTL).await.unwrap();
    let Lookup::Leased(token) = lookups[0] else {
        panic!("expected leases, got {lookups:?}");
    };
    // Half values, half leases: invalidation removes both.
    let fills: Vec<Fill> = keys[..250]
        .iter()
        .map(|key| fill(key, token, b"v"))
        .collect();
    assert_eq!(t.cache.fill(&fills).await.unwrap(), 250);

    let before = t.cache.round_trips();
    t.cache.invalidate(&keys).await.unwrap();
    assert_eq!(t.cache.round_trips() - before, 1);

    let before = t.cache.round_trips();
    t.cache.invalidate(&[]).await.unwrap();
    assert_eq!(t.cache.round_trips() - before, 0);

    let lookups = t.cache.get_or_lease(&keys, LEASE_TTL).await.unwrap();
    assert!(
        lookups
            .iter()
            .all(|lookup| matches!(lookup, Lookup::Leased(_)))
    );
    t.clean(&keys).await;
}

#[tokio::test]
async fn fill_rejects_a_value_starting_with_zero() {
    let Some(t) = Shared::connect("fill_rejects_a_value_starting_with_zero").await else {
        return;
    };
    let other = t.other_process().await;
    let (key, good) = (t.key("row"), t.key("good"));
    let token = lease(&t.cache, &key, LEASE_TTL).await;
    let good_token = lease(&t.cache, &good, LEASE_TTL).await;

    // The whole call is refused before anything is sent.
    let before = t.cache.round_trips();
    let err = t
        .cache
        .fill(&[
            fill(&good, good_token, b"fine"),
            fill(&key, token, &[0, 1, 2]),
        ])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("0x00"), "{err}");
    assert_eq!(err.kind(), CacheErrorKind::InvalidInput);
    assert_eq!(t.cache.round_trips() - before, 0);
    // So nothing was stored.
    assert!(matches!(lookup(&other, &key).await, Lookup::Leased(_)));
    assert!(matches!(lookup(&other, &good).await, Lookup::Leased(_)));

    // A zero byte elsewhere is fine; several fills are one round trip.
    let before = t.cache.round_trips();
    let stored = t
        .cache
        .fill(&[
            fill(&good, good_token, b"fine"),
            fill(&key, token, &[1, 0, 0]),
        ])
        .await
        .unwrap();
    assert_eq!((stored, t.cache.round_trips() - before), (2, 1));
    assert_eq!(
        lookup(&other, &key).await,
        Lookup::Hit(Bytes::from_static(&[1, 0, 0]))
    );
    t.clean(&[key, good]).await;
}

#[tokio::test]
async fn connect_fails_on_a_bad_url_but_not_on_a_server_that_is_down() {
    assert!(RedisCache::connect("not a url").await.is_err());
    assert!(RedisCache::connect("http://127.0.0.1:6379").await.is_err());

    // Nothing listens on this port.
    let port = free_port();
    let started = Instant::now();
    let cache = RedisCache::builder(&format!("redis://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(300))
        .build()
        .await
        .expect("an unreachable server does not fail connect");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!cache.is_connected());

    let keys = vec!["thing-test:unreachable".to_owned()];
    let started = Instant::now();
    assert!(cache.get_or_lease(&keys, LEASE_TTL).await.is_err());
    assert!(
        cache
            .fill(&[fill(&keys[0], LeaseToken::from_bits(1), b"v")])
            .await
            .is_err()
    );
    assert!(cache.invalidate(&keys).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(format!("{cache:?}").contains(&format!("127.0.0.1:{port}")));
}

/// Starts a private server, or `None` after a loud skip.
fn private_redis(test: &str) -> Option<PrivateRedis> {
    match PrivateRedis::start(free_port()) {
        Ok(server) => Some(server),
        Err(reason) => {
            skip(test, &reason);
            None
        }
    }
}

const COMMAND_TIMEOUT: Duration = Duration::from_millis(200);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// How long calls skip a server that failed.
const COOL_DOWN: Duration = Duration::from_millis(100);
/// How long a failing call may take: its timeouts, plus slack for a busy machine.
const FAIL_WITHIN: Duration = Duration::from_millis(200 + 300 + 1500);

async fn private_cache(server: &PrivateRedis) -> RedisCache {
    RedisCache::builder(&server.url())
        .command_timeout(COMMAND_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .cool_down(COOL_DOWN)
        .build()
        .await
        .unwrap()
}

/// Lease, fill and hit `key` on `cache`, which must be working.
async fn use_cache(cache: &RedisCache, key: &str) {
    let token = lease(cache, key, LEASE_TTL).await;
    assert_eq!(cache.fill(&[fill(key, token, b"row")]).await.unwrap(), 1);
    assert_eq!(
        lookup(cache, key).await,
        Lookup::Hit(Bytes::from_static(b"row"))
    );
}

/// Every kind of call fails, each within `FAIL_WITHIN`.
async fn assert_calls_fail(cache: &RedisCache, key: &str) {
    let keys = vec![key.to_owned()];
    for _ in 0..3 {
        let started = Instant::now();
        let result = cache.get_or_lease(&keys, LEASE_TTL).await;
        assert!(result.is_err(), "{result:?}");
        assert!(
            started.elapsed() < FAIL_WITHIN,
            "took {:?}",
            started.elapsed()
        );

        let started = Instant::now();
        assert!(
            cache
                .fill(&[fill(key, LeaseToken::from_bits(1), b"v")])
                .await
                .is_err()
        );
        assert!(cache.invalidate(&keys).await.is_err());
        assert!(
            started.elapsed() < FAIL_WITHIN * 2,
            "took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn recovers_after_the_server_is_killed_and_restarted() {
    let Some(mut server) = private_redis("recovers_after_the_server_is_killed_and_restarted")
    else {
        return;
    };
    let cache = private_cache(&server).await;
    assert!(cache.is_connected());
    use_cache(&cache, "before").await;

    server.kill();
    assert_calls_fail(&cache, "during").await;
    assert!(!cache.is_connected());

    assert!(cache.is_cooling_down());

    server.restart();
    // The same RedisCache, with no help from the caller: the first call after
    // the cool-down connects to the new server (which starts empty).
    tokio::time::sleep(COOL_DOWN).await;
    use_cache(&cache, "after").await;
    assert!(cache.is_connected());
    assert!(matches!(lookup(&cache, "before").await, Lookup::Leased(_)));
}

#[tokio::test]
async fn a_hung_server_times_out_and_recovers() {
    let Some(server) = private_redis("a_hung_server_times_out_and_recovers") else {
        return;
    };
    let cache = private_cache(&server).await;
    use_cache(&cache, "before").await;

    // Stopped, the server still accepts TCP connections but never answers.
    server.signal("-STOP");
    let resumed = scopeguard(|| server.signal("-CONT"));
    assert_calls_fail(&cache, "during").await;
    drop(resumed);

    tokio::time::sleep(COOL_DOWN).await;
    use_cache(&cache, "after").await;
    assert_eq!(
        lookup(&cache, "before").await,
        Lookup::Hit(Bytes::from_static(b"row"))
    );
}

/// Each failure says what it is: a bad URL, a server that is gone (with the
/// I/O error behind it), the cool-down after it, a server that does not
/// answer.
#[tokio::test]
async fn cache_errors_say_what_kind_of_failure_they_are() {
    use std::error::Error as _;
    let bad = RedisCache::connect("not a url").await.unwrap_err();
    assert_eq!(bad.kind(), CacheErrorKind::InvalidInput, "{bad}");
    let Some(mut server) = private_redis("cache_errors_say_what_kind_of_failure_they_are") else {
        return;
    };
    let cache = private_cache(&server).await;
    use_cache(&cache, "before").await;
    let keys = vec!["k".to_owned()];

    server.kill();
    let gone = cache.get_or_lease(&keys, LEASE_TTL).await.unwrap_err();
    assert_eq!(gone.kind(), CacheErrorKind::Unreachable, "{gone}");
    assert!(gone.source().is_some(), "the I/O error behind it: {gone:?}");
    let skipped = cache.get_or_lease(&keys, LEASE_TTL).await.unwrap_err();
    assert_eq!(skipped.kind(), CacheErrorKind::CoolingDown, "{skipped}");

    server.restart();
    tokio::time::sleep(COOL_DOWN).await;
    use_cache(&cache, "after").await;
    server.signal("-STOP");
    let resumed = scopeguard(|| server.signal("-CONT"));
    let silent = cache.get_or_lease(&keys, LEASE_TTL).await.unwrap_err();
    assert_eq!(silent.kind(), CacheErrorKind::Timeout, "{silent}");
    assert!(silent.is_timeout());
    drop(resumed);
}

#[tokio::test]
async fn a_flushed_script_cache_costs_one_extra_round_trip() {
    let Some(server) = private_redis("a_flushed_script_cache_costs_one_extra_round_trip") else {
        return;
    };
    let cache = private_cache(&server).await;
    // Each fill needs a fresh token: invalidate, look up, fill.
    let fill_once = async |value: &[u8]| {
        let keys = ["k".to_string()];
        cache.invalidate(&keys).await.unwrap();
        let Lookup::Leased(token) = lookup(&cache, "k").await else {
            panic!("expected a token");
        };
        let before = cache.round_trips();
        assert_eq!(cache.fill(&[fill("k", token, value)]).await.unwrap(), 1);
        cache.round_trips() - before
    };
    assert_eq!(fill_once(b"one").await, 1, "EVAL loads the script");
    assert_eq!(fill_once(b"two").await, 1, "EVALSHA");

    // EVALSHA gets NOSCRIPT, then EVAL runs (and reloads) the script.
    assert!(server.command(&["SCRIPT", "FLUSH"]).starts_with("+OK"));
    assert_eq!(fill_once(b"three").await, 2);
    assert!(cache.is_connected());
    assert_eq!(fill_once(b"four").await, 1);
    assert_eq!(
        lookup(&cache, "k").await,
        Lookup::Hit(Bytes::from_static(b"four"))
    );
}

/// The whole ORM over a Redis that dies mid-run: every operation still succeeds
/// from the database, and once Redis is back, hits come back, with no restart.
/// Under `WritePolicy::BestEffort`: under the default `Outbox`, a write that no
/// process can invalidate waits for the outbox timeout and fails with
/// `Error::CacheNotTold`, committed (`faults.rs`).
#[tokio::test]
async fn the_orm_keeps_working_while_redis_is_down() {
    use thing::Thing;
    use thing_tests::models::User;

    let Some(mut server) = private_redis("the_orm_keeps_working_while_redis_is_down") else {
        return;
    };
    let t = thing_tests::TestDb::new(thing_tests::Backend::Sqlite)
        .await
        .expect("SQLite needs no server");
    let db = thing::Db::builder(&t.url)
        .cache(private_cache(&server).await)
        .write_policy(thing::WritePolicy::BestEffort)
        .build()
        .await
        .unwrap();
    db.create_table::<User>().await.unwrap();
    let mut user = User::new("a@x", "A", 1);
    user.save(&db).await.unwrap();
    User::by_id(&db, user.base.id).await.unwrap();
    db.reset_stats();
    User::by_id(&db, user.base.id).await.unwrap();
    assert_eq!((db.stats().cache_hits, db.stats().selects), (1, 0));

    server.kill();
    db.reset_stats();
    let started = Instant::now();
    assert_eq!(User::by_id(&db, user.base.id).await.unwrap(), user);
    user.age = 2;
    user.save(&db).await.unwrap();
    assert_eq!(
        User::by_ids(&db, &[user.base.id]).await.unwrap(),
        vec![user.clone()]
    );
    let mut other = User::new("b@x", "B", 3);
    other.save(&db).await.unwrap();
    other.delete(&db).await.unwrap();
    assert!(
        User::by_id(&db, other.base.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let down = db.stats();
    assert!(
        down.cache_errors >= 5,
        "every cache call failed and was counted: {down:?}"
    );
    assert_eq!(
        (down.cache_hits, down.selects),
        (0, 3),
        "reads went to the database"
    );
    assert!(started.elapsed() < FAIL_WITHIN * 8, "nothing hung");

    server.restart();
    // The writes made during the outage are invalidated again once Redis is
    // back; until then their rows are read from the database.
    thing_tests::wait_until_flushed(&db).await;
    // The restarted server lost the table's epoch: the first read creates it
    // and stores nothing, the second stores the row.
    User::by_id(&db, user.base.id).await.unwrap();
    User::by_id(&db, user.base.id).await.unwrap();
    db.reset_stats();
    assert_eq!(User::by_id(&db, user.base.id).await.unwrap(), user);
    assert_eq!(
        (db.stats().cache_hits, db.stats().selects),
        (1, 0),
        "hits are back"
    );
    drop(db);
    t.finish().await;
}

/// A write that commits while Redis hangs cannot invalidate; once Redis answers
/// again, the retried invalidation reaches it, so another process (here another
/// `Db` with its own connection) does not go on reading the old row. Under
/// `WritePolicy::BestEffort`, whose writes rely on this retry alone.
#[tokio::test]
async fn an_invalidation_lost_to_a_hung_redis_reaches_it_later() {
    use thing::Thing;
    use thing_tests::models::User;

    let Some(server) = private_redis("an_invalidation_lost_to_a_hung_redis_reaches_it_later")
    else {
        return;
    };
    let t = thing_tests::TestDb::new(thing_tests::Backend::Sqlite)
        .await
        .expect("SQLite needs no server");
    let writer = thing::Db::builder(&t.url)
        .cache(private_cache(&server).await)
        .write_policy(thing::WritePolicy::BestEffort)
        .build()
        .await
        .unwrap();
    let reader = thing::Db::builder(&t.url)
        .cache(private_cache(&server).await)
        .build()
        .await
        .unwrap();
    writer.create_table::<User>().await.unwrap();
    let mut user = User::new("a@x", "A", 1);
    user.save(&writer).await.unwrap();
    assert_eq!(User::by_id(&reader, user.base.id).await.unwrap().age, 1);

    server.signal("-STOP");
    user.age = 2;
    user.save(&writer).await.unwrap();
    // The row's key and every stamp the write bumps wait.
    assert!(writer.unflushed_invalidations() >= 2);
    server.signal("-CONT");

    thing_tests::wait_until_flushed(&writer).await;
    assert_eq!(User::by_id(&reader, user.base.id).await.unwrap().age, 2);
    drop((writer, reader));
    t.finish().await;
}

/// A reader slower than the fill window: the writer's tombstone has expired by
/// the time it fills, so the cache alone would take its stale row; Thing must
/// not send that fill.
#[tokio::test]
async fn a_reader_slower_than_the_fill_window_does_not_fill() {
    use std::sync::Arc;
    use thing::Thing;
    use thing_tests::models::User;
    use tokio::sync::Notify;

    let Some(t) = Shared::connect("a_reader_slower_than_the_fill_window_does_not_fill").await
    else {
        return;
    };
    let (db_test, reader, writer) = orm_pair(&t, Duration::from_millis(50)).await;
    let mut user = User::new("a@x", "A", 1);
    user.save(&writer).await.unwrap();
    // Let the insert's tombstone expire: the reader's lookup sees nothing.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    reader.__pause_next_fill(reached.clone(), release.clone());
    let slow = {
        let reader = reader.clone();
        let id = user.base.id;
        tokio::spawn(async move { User::by_id(&reader, id).await })
    };
    reached.notified().await; // it has read age 1
    user.age = 2;
    user.save(&writer).await.unwrap(); // tombstone for 50 ms
    tokio::time::sleep(Duration::from_millis(150)).await; // tombstone gone
    release.notify_one();
    assert_eq!(slow.await.unwrap().unwrap().age, 1);
    assert_eq!(reader.stats().cache_fills, 0);
    assert_eq!(User::by_id(&reader, user.base.id).await.unwrap().age, 2);
    drop((reader, writer));
    db_test.finish().await;
}

/// A writer that dies between its commit and its invalidation leaves no stale
/// row behind: it locked the key before committing, so every other process reads
/// the database until the lock expires, and then caches the committed row.
#[tokio::test]
async fn a_writer_dying_after_its_commit_leaves_no_stale_row() {
    use thing::Thing;
    use thing_tests::models::User;

    let Some(t) = Shared::connect("a_writer_dying_after_its_commit_leaves_no_stale_row").await
    else {
        return;
    };
    let window = Duration::from_millis(300);
    let (db_test, reader, writer) = orm_pair(&t, window).await;
    let mut user = User::new("a@x", "A", 1);
    user.save(&writer).await.unwrap();
    tokio::time::sleep(window * 2).await; // the insert's tombstone is gone
    assert_eq!(User::by_id(&reader, user.base.id).await.unwrap().age, 1);
    assert_eq!(User::by_id(&reader, user.base.id).await.unwrap().age, 1); // cached

    writer.__die_after_commit(true);
    user.age = 2;
    user.save(&writer).await.unwrap();
    reader.reset_stats();
    assert_eq!(
        User::by_id(&reader, user.base.id).await.unwrap().age,
        2,
        "no stale row"
    );
    assert_eq!(
        (reader.stats().cache_hits, reader.stats().cache_fills),
        (0, 0)
    );

    // The same inside a transaction: the lock is taken just before COMMIT.
    let tx = writer.begin().await.unwrap();
    user.age = 3;
    user.save(&tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        User::by_id(&reader, user.base.id).await.unwrap().age,
        3,
        "no stale row"
    );

    // Once the lock expires, the committed row is cached again.
    tokio::time::sleep(window * 2).await;
    User::by_id(&reader, user.base.id).await.unwrap();
    reader.reset_stats();
    assert_eq!(User::by_id(&reader, user.base.id).await.unwrap().age, 3);
    assert_eq!(reader.stats().cache_hits, 1);
    drop((reader, writer));
    db_test.finish().await;
}

/// A write gives back only the locks it took. An insert locks its stamps
/// before its row has an id and invalidates the new row's key after its
/// commit; before, it also took back one lock of that key — the lock of
/// another process's update of the new row, taken between the insert's commit
/// and its invalidation. A read of the old row then filled the cache before
/// that update committed, and with the updater dead after its commit the
/// stale row stayed for the row TTL.
#[tokio::test]
async fn a_write_gives_back_only_the_locks_it_took() {
    use std::sync::Arc;
    use thing::Thing;
    use thing::sqlx::{self, Row};
    use thing_tests::models::User;
    use tokio::sync::Notify;

    let Some(t) = Shared::connect("a_write_gives_back_only_the_locks_it_took").await else {
        return;
    };
    let (db_test, first, second) = orm_pair(&t, Duration::from_secs(10)).await;
    let gate = || (Arc::new(Notify::new()), Arc::new(Notify::new()));

    // The first process inserts the row and stops before invalidating it.
    let (committed, invalidate) = gate();
    first.__pause_next_write_after_commit(committed.clone(), invalidate.clone());
    let insert = tokio::spawn({
        let first = first.clone();
        async move { User::new("a@x", "A", 1).save(&first).await }
    });
    committed.notified().await;
    let id: i64 = sqlx::query("SELECT id FROM users WHERE email = 'a@x'")
        .fetch_one(second.as_sqlite().unwrap())
        .await
        .unwrap()
        .get(0);

    // The second process updates it: locked, its SQL not run yet.
    let mut user = User::by_id(&second, id).await.unwrap();
    second.__die_after_commit(true);
    let (locked, run) = gate();
    second.__pause_next_write_after_lock(locked.clone(), run.clone());
    let update = tokio::spawn({
        let second = second.clone();
        async move {
            user.age = 2;
            user.save(&second).await
        }
    });
    locked.notified().await;

    // The insert invalidates its row; the old row is read while the update
    // holds its lock, and must not be cached.
    invalidate.notify_one();
    insert.await.unwrap().unwrap();
    assert_eq!(User::by_id(&first, id).await.unwrap().age, 1);

    // The update commits and its process dies before invalidating.
    run.notify_one();
    update.await.unwrap().unwrap();
    assert_eq!(
        User::by_id(&first, id).await.unwrap().age,
        2,
        "no stale row"
    );
    drop((first, second));
    db_test.finish().await;
}

/// A SQLite database with the `User` table, and two ORM handles on it ("two
/// processes") sharing this test's Redis key prefix, with the given fill window.
async fn orm_pair(t: &Shared, window: Duration) -> (thing_tests::TestDb, thing::Db, thing::Db) {
    let db_test = thing_tests::TestDb::new(thing_tests::Backend::Sqlite)
        .await
        .expect("SQLite needs no server");
    let open = async || {
        let cache = RedisCache::builder(&redis_url())
            .fill_window(window)
            .build()
            .await
            .unwrap();
        thing::Db::builder(&db_test.url)
            .cache(cache)
            .key_prefix(t.key("orm"))
            .build()
            .await
            .unwrap()
    };
    let (reader, writer) = (open().await, open().await);
    reader
        .create_table::<thing_tests::models::User>()
        .await
        .unwrap();
    (db_test, reader, writer)
}

/// A stamp evicted from Redis, or replaced by a value of another type, never
/// lets a list validate: the read misses, the stamp comes back at a random
/// value, and writers bump it without an error (before stamps, an evicted or
/// corrupt registry dropped nothing, and a wrong-type registry made the
/// writer's retry spin).
#[tokio::test]
async fn an_evicted_or_corrupt_stamp_never_validates_a_list() {
    use thing::Thing;
    use thing_tests::models::User;

    let Some(t) = Shared::connect("an_evicted_or_corrupt_stamp_never_validates_a_list").await
    else {
        return;
    };
    let (db_test, reader, writer) = orm_pair(&t, Duration::from_secs(10)).await;
    let mut ann = User::new("ann@x", "ann", 30);
    ann.save(&writer).await.unwrap();
    let anns = User::query().filter(User::NAME.eq("ann"));
    let hits = async |expected: u64| {
        reader.reset_stats();
        assert_eq!(anns.count(&reader).await.unwrap(), expected);
        reader.stats().query_hits
    };
    hits(1).await;
    hits(1).await;
    assert_eq!(hits(1).await, 1, "cached");

    let stamp = format!("{}:users:s:v:name:tann", t.key("orm"));
    let mut redis = raw_redis();
    assert!(
        command(&mut redis, &["DEL", &stamp])
            .unwrap()
            .starts_with(":1")
    );
    assert_eq!(
        hits(1).await,
        0,
        "an evicted stamp: the list does not validate"
    );

    ann.age = 31;
    ann.save(&writer).await.unwrap();
    hits(1).await;
    assert_eq!(hits(1).await, 1, "cached again under the new stamp");

    command(&mut redis, &["DEL", &stamp]).unwrap();
    command(&mut redis, &["HSET", &stamp, "field", "value"]).unwrap();
    assert_eq!(hits(1).await, 0, "a stamp of another type: no hit");
    writer.reset_stats();
    let mut bob = User::new("bob@x", "ann", 5);
    bob.save(&writer).await.unwrap();
    assert_eq!(
        writer.stats().cache_errors,
        0,
        "the write replaced the bad stamp"
    );
    assert_eq!(writer.unflushed_invalidations(), 0, "nothing left to retry");
    hits(2).await;
    assert_eq!(hits(2).await, 1, "and lists validate again");

    // A stamp that is a string but no counter, and a lock that is no counter:
    // replaced, never an error (a write would otherwise fail, and its retry
    // spin, for ever).
    command(&mut redis, &["SET", &stamp, "1.5"]).unwrap();
    command(&mut redis, &["SET", &format!("{stamp}:L"), "x"]).unwrap();
    writer.reset_stats();
    let mut cat = User::new("cat@x", "ann", 7);
    cat.save(&writer).await.unwrap();
    assert_eq!(writer.stats().cache_errors, 0);
    assert_eq!(writer.unflushed_invalidations(), 0);
    hits(3).await;
    assert_eq!(hits(3).await, 1);
    drop((reader, writer));
    db_test.finish().await;
}

/// A fill sent within the fill window but reaching Redis after it (here Redis is
/// paused while it travels) is refused by Redis itself, by its own clock —
/// though the writer's tombstone, which would have refused it, has expired.
#[tokio::test]
async fn a_fill_reaching_redis_after_the_window_is_refused_there() {
    let Some(server) = private_redis("a_fill_reaching_redis_after_the_window_is_refused_there")
    else {
        return;
    };
    let window = Duration::from_millis(600);
    let open = async || {
        RedisCache::builder(&server.url())
            .fill_window(window)
            .command_timeout(Duration::from_secs(10))
            .build()
            .await
            .unwrap()
    };
    let (reader, writer) = (open().await, open().await);
    let key = "row".to_string();
    let token = lease(&reader, &key, LEASE_TTL).await; // saw nothing
    writer.invalidate(std::slice::from_ref(&key)).await.unwrap(); // a write committed
    server.signal("-STOP");
    let late = tokio::spawn(async move {
        let stored = reader.fill(&[fill("row", token, b"stale")]).await;
        (stored, reader)
    });
    tokio::time::sleep(window * 2).await; // the tombstone expires meanwhile
    server.signal("-CONT");
    let (stored, reader) = late.await.unwrap();
    assert_eq!(
        stored.unwrap(),
        0,
        "refused: its lookup is older than the window"
    );
    assert!(
        matches!(lookup(&reader, &key).await, Lookup::Leased(_)),
        "nothing stored"
    );
}

/// Any bytes in a row's key are data: a value that begins like a tombstone but
/// is none (here two bytes) is a miss, repaired by the next fill, and never an
/// error — nor does it fail the other keys of the batch it is read with.
#[tokio::test]
async fn a_value_that_looks_like_a_tombstone_is_a_miss_and_is_repaired() {
    use thing::Thing;
    use thing_tests::models::User;

    let Some(t) =
        Shared::connect("a_value_that_looks_like_a_tombstone_is_a_miss_and_is_repaired").await
    else {
        return;
    };
    let (db_test, reader, writer) = orm_pair(&t, Duration::from_secs(10)).await;
    let mut users = vec![User::new("a@x", "a", 1), User::new("b@x", "b", 2)];
    User::save_many(&writer, &mut users).await.unwrap();
    let ids = [users[0].base.id, users[1].base.id];
    User::by_ids(&reader, &ids).await.unwrap(); // both cached
    let key = reader.cache_key::<User>(ids[0]).unwrap();
    let mut redis = raw_redis();
    command(&mut redis, &["SET", &key, "\u{0}\u{1}"]).unwrap();

    reader.reset_stats();
    assert_eq!(User::by_ids(&reader, &ids).await.unwrap().len(), 2);
    let stats = reader.stats();
    assert_eq!(stats.cache_errors, 0, "no error");
    assert_eq!(
        (stats.cache_hits, stats.cache_misses),
        (1, 1),
        "the other key still hits"
    );
    reader.reset_stats();
    assert_eq!(User::by_id(&reader, ids[0]).await.unwrap().age, 1);
    assert_eq!(reader.stats().cache_hits, 1, "repaired by the fill");
    drop((reader, writer));
    db_test.finish().await;
}

/// A list built while a write holds one of its stamps is refused, even when
/// its stamps still have the values seen (the write may commit and its
/// process die before it bumps them again); once the write gave its lock
/// back (on Redis the lock key may be left at 0 until it expires), fills are
/// taken again. On Redis and, for the same rule, on `MemoryCache`.
#[tokio::test]
async fn a_stamped_fill_is_refused_while_a_write_holds_a_stamp() {
    let memory = thing::cache::MemoryCache::new(100);
    stamped_fills_wait_for_writes(&memory, "list", "stamp").await;
    let Some(t) = Shared::connect("a_stamped_fill_is_refused_while_a_write_holds_a_stamp").await
    else {
        return;
    };
    let (list, stamp) = (t.key("list"), t.key("stamp"));
    stamped_fills_wait_for_writes(&t.cache, &list, &stamp).await;
    t.clean(&[list, stamp.clone(), format!("{stamp}:L")]).await;
}

/// A write takes back only the locks it took: the keys it learned by its
/// commit (an insert's new row and its id's stamp) are invalidated and
/// bumped, but another write's lock on them holds until that write ends. On
/// Redis and on `MemoryCache`.
#[tokio::test]
async fn a_learned_key_keeps_another_writes_lock() {
    let memory = thing::cache::MemoryCache::new(100);
    learned_keys_keep_locks(&memory, "row", "list", "stamp").await;
    let Some(t) = Shared::connect("a_learned_key_keeps_another_writes_lock").await else {
        return;
    };
    let (row, list, stamp) = (t.key("row"), t.key("list"), t.key("stamp"));
    learned_keys_keep_locks(&t.cache, &row, &list, &stamp).await;
    let locks = [format!("{row}:L"), format!("{stamp}:L")];
    t.clean(&[row, list, stamp]).await;
    t.clean(&locks).await;
}

async fn learned_keys_keep_locks(cache: &dyn Cache, row: &str, list: &str, stamp: &str) {
    use thing::cache::WriteKeys;
    let keys = WriteKeys {
        rows: vec![row.to_owned()],
        stamps: vec![stamp.to_owned()],
    };
    let nothing = WriteKeys::default();
    let stamps = [stamp.to_owned()];
    let fill_list = async || fill_list_now(cache, list, &stamps).await;
    let fill_row = async || fill_row_now(cache, row).await;
    let _ = fill_list().await; // creates the stamp
    assert!(fill_list().await && fill_row().await, "no write: stored");

    // An update locks the keys; an insert that learned them ends.
    cache.begin_write(&keys).await.unwrap();
    cache.end_write(&nothing, &keys).await.unwrap();
    assert!(!fill_list().await, "the update holds the stamp: refused");
    assert!(!fill_row().await, "the update holds the row: refused");

    cache.end_write(&keys, &nothing).await.unwrap();
    assert!(fill_list().await, "the update gave its lock back: stored");
    assert!(fill_row().await, "the update gave its lock back: stored");
}

/// Looks `row` up and fills it with what its lookup leased; whether stored
/// (not when the lookup found it busy or cached).
async fn fill_row_now(cache: &dyn Cache, row: &str) -> bool {
    let lookups = cache
        .get_or_lease(&[row.to_owned()], LEASE_TTL)
        .await
        .unwrap();
    match lookups[..] {
        [Lookup::Leased(token)] => cache.fill(&[fill(row, token, b"old")]).await.unwrap() == 1,
        _ => false,
    }
}

/// Reads `list`'s stamps and fills it under the values seen; whether stored.
async fn fill_list_now(cache: &dyn Cache, list: &str, stamps: &[String]) -> bool {
    let seen = cache.get_stamped(list, stamps).await.unwrap();
    let fill = thing::cache::StampedFill {
        key: list.to_owned(),
        value: Bytes::from_static(b"ids"),
        ttl: Duration::from_secs(60),
        stamps: stamps.to_vec(),
        seen: seen.stamps.into_iter().map(|v| v.unwrap_or(0)).collect(),
    };
    cache.fill_stamped(&fill).await.unwrap()
}

async fn stamped_fills_wait_for_writes(cache: &dyn Cache, list: &str, stamp: &str) {
    use thing::cache::WriteKeys;
    let write = WriteKeys {
        rows: Vec::new(),
        stamps: vec![stamp.to_owned()],
    };
    let stamps = [stamp.to_owned()];
    let fill_now = async || fill_list_now(cache, list, &stamps).await;
    // A first look creates the stamp; the next fill is stored.
    let _ = fill_now().await;
    assert!(fill_now().await, "no write: stored");
    cache.begin_write(&write).await.unwrap();
    assert!(!fill_now().await, "a write holds the stamp: refused");
    cache.begin_write(&write).await.unwrap();
    cache
        .end_write(&write, &WriteKeys::default())
        .await
        .unwrap();
    assert!(
        !fill_now().await,
        "one of two writes still holds it: refused"
    );
    cache
        .end_write(&write, &WriteKeys::default())
        .await
        .unwrap();
    assert!(fill_now().await, "both gave it back: stored");
    cache.begin_write(&write).await.unwrap();
    cache.abort_write(&write).await.unwrap();
    assert!(fill_now().await, "an aborted write gave it back: stored");
}

/// A stamp lost from Redis (evicted, flushed, a restarted server) is created
/// again at a random start, never at a value it had: a list cached under that
/// value would otherwise validate again, stale. Fifty losses in a row, in one
/// process, give fifty different values.
#[tokio::test]
async fn a_lost_stamp_never_comes_back_at_a_value_it_had() {
    let Some(t) = Shared::connect("a_lost_stamp_never_comes_back_at_a_value_it_had").await else {
        return;
    };
    let stamp = t.key("stamp");
    let mut redis = raw_redis();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        t.cache.bump(std::slice::from_ref(&stamp)).await.unwrap();
        let value = t
            .cache
            .get_stamped(&t.key("list"), std::slice::from_ref(&stamp))
            .await
            .unwrap()
            .stamps[0]
            .expect("the bump created the stamp");
        assert!(
            seen.insert(value),
            "stamp came back at {value}, a value it had"
        );
        command(&mut redis, &["DEL", &stamp]).unwrap();
    }
}

/// Bad bytes in the table's epoch or in a list's stamp are data, as in a row:
/// the next read replaces them with a fresh random value (which also drops
/// what was cached under the old one), and the reads after it hit again —
/// with no write in between. Before, every read missed for as long as the
/// bad key stayed: junk, a number of the wrong length or sign, or a key of
/// another Redis type.
#[tokio::test]
async fn a_corrupt_epoch_or_stamp_is_replaced_by_the_next_read() {
    use thing::Thing;
    use thing_tests::models::User;

    let Some(t) = Shared::connect("a_corrupt_epoch_or_stamp_is_replaced_by_the_next_read").await
    else {
        return;
    };
    let (db_test, reader, writer) = orm_pair(&t, Duration::from_secs(10)).await;
    let mut ann = User::new("ann@x", "ann", 30);
    ann.save(&writer).await.unwrap();
    let id = ann.base.id;
    let anns = User::query().filter(User::NAME.eq("ann"));
    let mut redis = raw_redis();
    let epoch = format!("{}:users:s:e", t.key("orm"));
    let stamp = format!("{}:users:s:v:name:tann", t.key("orm"));
    let junk: [&[&str]; 9] = [
        &["SET", "{key}", "garbage"],
        &["SET", "{key}", "123456789012345678901234567"],
        &["SET", "{key}", "-5"],
        &["SET", "{key}", "007"],
        &["SET", "{key}:L", "junk"],
        &["SET", "{key}:L", "3"],
        &["SET", "{key}", "\u{0}\u{1}\u{2}"],
        &["HSET", "{key}", "field", "value"],
        &["RPUSH", "{key}", "a", "b"],
    ];
    for key in [&epoch, &stamp] {
        for bad in junk {
            // Cached and hitting first.
            for _ in 0..3 {
                assert_eq!(User::by_id(&reader, id).await.unwrap().age, 30);
                assert_eq!(anns.count(&reader).await.unwrap(), 1);
            }
            command(&mut redis, &["DEL", key, &format!("{key}:L")]).unwrap();
            let bad: Vec<String> = bad.iter().map(|part| part.replace("{key}", key)).collect();
            let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
            command(&mut redis, &bad).unwrap();
            for _ in 0..3 {
                assert_eq!(User::by_id(&reader, id).await.unwrap().age, 30);
                assert_eq!(anns.count(&reader).await.unwrap(), 1);
            }
            reader.reset_stats();
            assert_eq!(User::by_id(&reader, id).await.unwrap().age, 30);
            assert_eq!(anns.count(&reader).await.unwrap(), 1);
            let stats = reader.stats();
            assert_eq!(
                (
                    stats.cache_hits,
                    stats.query_hits,
                    stats.selects,
                    stats.cache_errors
                ),
                (1, 1, 0, 0),
                "{key} set by {bad:?}: hits again, {stats:?}"
            );
        }
    }
    drop((reader, writer));
    db_test.finish().await;
}

/// What a write costs Redis: its scripts make one call per key they touch
/// (none for the key's lock, which lives in the key itself), and it leaves no
/// key behind but its rows' tombstones and the stamps it locked — no lock
/// keys, and no stamp for an inserted row's id. Counted on a private server,
/// whose slow log records every call a script makes
/// (`slowlog-log-slower-than 0`).
#[tokio::test]
async fn a_write_makes_one_redis_call_per_key_and_leaves_only_tombstones() {
    use thing::Thing;
    use thing_tests::models::User;

    let Some(server) =
        private_redis("a_write_makes_one_redis_call_per_key_and_leaves_only_tombstones")
    else {
        return;
    };
    let db_test = thing_tests::TestDb::new(thing_tests::Backend::Sqlite)
        .await
        .expect("SQLite needs no server");
    let db = thing::Db::builder(&db_test.url)
        .cache(private_cache(&server).await)
        .build()
        .await
        .unwrap();
    db.create_table::<User>().await.unwrap();
    let mut users: Vec<User> = (0..20)
        .map(|i| User::new(&format!("u{i}@x"), &format!("name {}", i % 4), i))
        .collect();
    User::save_many(&db, &mut users).await.unwrap();
    let ids: Vec<i64> = users.iter().map(|user| user.base.id).collect();
    User::by_ids(&db, &ids).await.unwrap(); // the rows are cached
    let by_name = User::query().filter(User::NAME.eq("name 1"));
    by_name.all(&db).await.unwrap(); // creates its stamps
    by_name.all(&db).await.unwrap(); // and is cached under them

    server.command(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    server.command(&["CONFIG", "SET", "slowlog-max-len", "100000"]);
    let cost = |server: &PrivateRedis| {
        let log = server.query(&["SLOWLOG", "GET", "-1"]);
        server.command(&["SLOWLOG", "RESET"]);
        script_cost(&log)
    };
    cost(&server);

    // The first write of a stamp no list has read yet creates it; the next
    // writes add nothing.
    users[1].age += 1;
    users[1].save(&db).await.unwrap();
    cost(&server);
    let keys_before = dbsize(&server);
    users[1].age += 1;
    users[1].save(&db).await.unwrap();
    let (scripts, keys, calls) = cost(&server);
    assert_eq!(scripts, 2, "an update is two scripts");
    assert!(
        calls <= keys,
        "an update: {calls} calls inside its scripts for {keys} keys"
    );
    assert_eq!(
        dbsize(&server),
        keys_before,
        "an update of a cached row adds no key to Redis"
    );

    let mut more: Vec<User> = (20..40)
        .map(|i| User::new(&format!("u{i}@x"), &format!("name {}", i % 4), i))
        .collect();
    User::save_many(&db, &mut more).await.unwrap();
    let (scripts, keys, calls) = cost(&server);
    assert_eq!(scripts, 2, "a batch is two scripts");
    assert!(
        calls <= keys,
        "a batch of 20 rows: {calls} calls inside its scripts for {keys} keys"
    );
    assert_eq!(
        dbsize(&server),
        keys_before + 20 + 20,
        "a batch of 20 new rows adds their 20 tombstones and the stamps of their 20 new \
         emails (a unique column), none for their ids and no lock key"
    );
    assert_eq!(
        by_name.all(&db).await.unwrap().len(),
        10,
        "and lists see it"
    );
    db_test.finish().await;
}

/// How many keys the server holds.
fn dbsize(server: &PrivateRedis) -> usize {
    let reply = server.command(&["DBSIZE"]);
    reply.trim().trim_start_matches(':').parse().unwrap()
}

/// From a `SLOWLOG GET` reply: the scripts run (`EVALSHA`, `EVAL`), the keys
/// they were given in all, and the calls they made (every other command
/// logged, but the test's own: `SLOWLOG`, `CONFIG`, `DBSIZE`).
fn script_cost(log: &Reply) -> (usize, usize, usize) {
    let (mut scripts, mut keys, mut calls) = (0, 0, 0);
    for entry in log.items() {
        // id, time, duration, the command's arguments, ...
        let args = entry.items()[3].items();
        match args[0].text().to_ascii_uppercase().as_str() {
            "EVALSHA" | "EVAL" => {
                scripts += 1;
                keys += args[2].text().parse::<usize>().unwrap();
            }
            "SLOWLOG" | "CONFIG" | "DBSIZE" => {}
            _ => calls += 1,
        }
    }
    (scripts, keys, calls)
}

/// An invalidation (a write's retried end, an outbox entry applied, a
/// corrupt value dropped) never takes away a lock another write in flight
/// holds on the key: a read of the old row made meanwhile is still refused.
/// On Redis and on `MemoryCache`.
#[tokio::test]
async fn an_invalidation_keeps_the_locks_writes_hold() {
    let memory = thing::cache::MemoryCache::new(100);
    invalidations_keep_locks(&memory, "row").await;
    let Some(t) = Shared::connect("an_invalidation_keeps_the_locks_writes_hold").await else {
        return;
    };
    let row = t.key("row");
    invalidations_keep_locks(&t.cache, &row).await;
    t.clean(&[row]).await;
}

async fn invalidations_keep_locks(cache: &dyn Cache, row: &str) {
    use thing::cache::WriteKeys;
    let keys = WriteKeys {
        rows: vec![row.to_owned()],
        stamps: Vec::new(),
    };
    let fill_row = async || fill_row_now(cache, row).await;
    cache.begin_write(&keys).await.unwrap();
    cache.invalidate(&keys.rows).await.unwrap();
    assert!(!fill_row().await, "a write still holds the row: refused");
    cache.end_write(&keys, &WriteKeys::default()).await.unwrap();
    assert!(fill_row().await, "the write gave its lock back: stored");
}
