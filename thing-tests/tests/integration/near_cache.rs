//! The near tier of `RedisCache`: hits from process memory across handles,
//! and the promise kept through another handle's writes, a tier that stalls
//! or is cut off, and a flushed or killed Redis. The stress of `coherence.rs`
//! and every `cache_tests!` case also run with a near tier on each handle
//! (`CacheKind::Near`).

use std::sync::Arc;
use std::time::{Duration, Instant};
use thing::cache::{NearOptions, RedisCache};
use thing::{Db, Thing};
use thing_tests::fault::{PrivateRedis, Proxy, command, free_port};
use thing_tests::models::User;
use thing_tests::{Backend, CacheKind, CacheTest, redis_url, skip, unique_name};
use tokio::sync::Notify;

/// A near cache on `url` for handles with key prefix `prefix`.
async fn near(url: &str, prefix: &str, lease: Duration) -> RedisCache {
    RedisCache::builder(url)
        .command_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(500))
        .cool_down(Duration::from_millis(100))
        .near(NearOptions::new().key_prefix(prefix).lease_time(lease))
        .build()
        .await
        .expect("a valid URL")
}

/// A handle on the test database with `cache` and `prefix`.
async fn handle(c: &CacheTest, cache: &RedisCache, prefix: &str) -> Db {
    Db::builder(&c.t.url)
        .max_connections(5)
        .key_prefix(prefix)
        .cache(cache.clone())
        .build()
        .await
        .expect("open a handle")
}

async fn test_db(backend: Backend) -> Option<CacheTest> {
    CacheTest::new(backend, CacheKind::Near).await
}

/// Reads `id` through `db` until the near tier of `cache` serves it.
async fn warm(db: &Db, cache: &RedisCache, id: i64) -> User {
    let before = cache.near_stats().unwrap().hits;
    for _ in 0..20 {
        let user = User::by_id(db, id).await.unwrap();
        if cache.near_stats().unwrap().hits > before {
            return user;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no near hit in 20 reads: {:?}", cache.near_stats());
}

/// Two handles on one prefix, each with a near tier: `a` on Redis, `b` on
/// Redis or through a proxy; the table made, one user saved through `a` and
/// served from `b`'s memory.
struct Pair {
    cache_a: RedisCache,
    cache_b: RedisCache,
    a: Db,
    b: Db,
    user: User,
}

/// Two handles on a new key prefix, each with a near tier (`b`'s through
/// `proxy`, if given), and the users table made.
async fn two_tiers(
    c: &CacheTest,
    lease: Duration,
    proxy: Option<&Proxy>,
) -> (RedisCache, RedisCache, Db, Db) {
    let prefix = unique_name();
    let url_b = proxy.map_or_else(redis_url, |proxy| proxy.url_for(&redis_url()));
    let cache_a = near(&redis_url(), &prefix, lease).await;
    let cache_b = near(&url_b, &prefix, lease).await;
    let (a, b) = (
        handle(c, &cache_a, &prefix).await,
        handle(c, &cache_b, &prefix).await,
    );
    a.create_table::<User>().await.unwrap();
    (cache_a, cache_b, a, b)
}

async fn pair(c: &CacheTest, lease: Duration, proxy: Option<&Proxy>) -> Pair {
    let (cache_a, cache_b, a, b) = two_tiers(c, lease, proxy).await;
    let mut user = User::new("pair@example.com", "pair", 1);
    user.save(&a).await.unwrap();
    warm(&b, &cache_b, user.id()).await;
    Pair {
        cache_a,
        cache_b,
        a,
        b,
        user,
    }
}

/// Writes through one handle, each read through the other handle's near
/// tier at once after the write returned: never the old row.
async fn writes_are_seen_at_once(backend: Backend) {
    let Some(c) = test_db(backend).await else {
        return;
    };
    let Pair {
        cache_a,
        cache_b,
        a,
        b,
        mut user,
    } = pair(&c, Duration::from_secs(1), None).await;
    for age in 2..60 {
        user.age = age;
        user.save(&a).await.unwrap();
        let seen = User::by_id(&b, user.id()).await.unwrap();
        assert_eq!(
            seen.age, age,
            "a read after the write returned saw the old row"
        );
        // And the row is served from memory again before the next write.
        assert_eq!(warm(&b, &cache_b, user.id()).await.age, age);
    }
    let stats_a = cache_a.near_stats().unwrap();
    assert!(
        stats_a.write_waits >= 58,
        "each write waited for b: {stats_a:?}"
    );
    assert_eq!(
        stats_a.lease_expiries, 0,
        "b answered every write: {stats_a:?}"
    );
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_seen_at_once_sqlite() {
    writes_are_seen_at_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_seen_at_once_postgres() {
    writes_are_seen_at_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_seen_at_once_mysql() {
    writes_are_seen_at_once(Backend::MySql).await;
}

/// A list read through the near tier, then a row of it changed through the
/// other handle: the next page has the new row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_through_the_near_tier_follow_other_handles_writes() {
    let Some(c) = test_db(Backend::Sqlite).await else {
        return;
    };
    let (_, cache_b, a, b) = two_tiers(&c, Duration::from_secs(1), None).await;
    for i in 0..5 {
        User::new(&format!("l{i}@example.com"), "team", i)
            .save(&a)
            .await
            .unwrap();
    }
    let page = || {
        User::query()
            .filter(User::NAME.eq("team"))
            .order_by(User::AGE.asc())
    };
    for _ in 0..3 {
        assert_eq!(page().all(&b).await.unwrap().len(), 5);
    }
    let hits = cache_b.near_stats().unwrap().hits;
    assert_eq!(page().all(&b).await.unwrap().len(), 5);
    assert!(
        cache_b.near_stats().unwrap().hits > hits,
        "the page came from memory"
    );
    for round in 0..20 {
        let mut first = page().all(&b).await.unwrap().remove(0);
        first.age = 100 + round;
        first.save(&a).await.unwrap();
        let ages: Vec<i32> = page()
            .all(&b)
            .await
            .unwrap()
            .iter()
            .map(|u| u.age)
            .collect();
        assert!(ages.contains(&(100 + round)), "round {round}: {ages:?}");
        let mut moved = User::new(&format!("m{round}@example.com"), "team", -1);
        moved.save(&a).await.unwrap();
        assert_eq!(
            page().all(&b).await.unwrap()[0].id(),
            moved.id(),
            "round {round}"
        );
        moved.delete(&a).await.unwrap();
        assert_ne!(
            page().all(&b).await.unwrap()[0].id(),
            moved.id(),
            "round {round}"
        );
    }
    c.finish().await;
}

/// A live tier that never answers (registered by hand, as a stalled process
/// would stay): a write waits until its lease runs out, and no longer; the
/// next write does not wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tier_costs_a_write_its_lease_once() {
    let Some(c) = test_db(Backend::Sqlite).await else {
        return;
    };
    let prefix = unique_name();
    let cache = near(&redis_url(), &prefix, Duration::from_secs(1)).await;
    let db = handle(&c, &cache, &prefix).await;
    db.create_table::<User>().await.unwrap();
    let mut user = User::new("stall@example.com", "s", 1);
    user.save(&db).await.unwrap();
    let lease_ms = 400;
    let address = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let script = "local t = redis.call('TIME') \
         redis.call('ZADD', KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000) + ARGV[1], '12345')";
    command(
        &mut stream,
        &[
            "EVAL",
            script,
            "1",
            &format!("{prefix}~near:tiers"),
            &lease_ms.to_string(),
        ],
    )
    .unwrap();
    let started = Instant::now();
    user.age = 2;
    user.save(&db).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(lease_ms - 50),
        "the write returned after {waited:?}, before the silent tier's lease ran out"
    );
    let stats = cache.near_stats().unwrap();
    assert_eq!(stats.lease_expiries, 1, "{stats:?}");
    let before = stats.write_waits;
    user.age = 3;
    user.save(&db).await.unwrap();
    assert_eq!(
        cache.near_stats().unwrap().write_waits,
        before,
        "no wait for a tier gone"
    );
    c.finish().await;
}

/// A read through the near tier gets the old row from Redis, and before it
/// keeps it, another handle's write invalidates the row and returns: what
/// the read got is not kept, and the next read sees the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_overtaken_by_an_invalidation_is_not_kept() {
    let Some(c) = test_db(Backend::Sqlite).await else {
        return;
    };
    let (_, cache_b, a, b) = two_tiers(&c, Duration::from_secs(1), None).await;
    let mut user = User::new("overtaken@example.com", "o", 1);
    user.save(&a).await.unwrap();
    // Redis holds the row; b's tier does not (its fill came from a).
    User::by_id(&a, user.id()).await.unwrap();
    assert_eq!(cache_b.near_stats().unwrap().entries, 0);

    let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    cache_b.__pause_next_near_keep(reached.clone(), release.clone());
    let read = tokio::spawn({
        let b = b.clone();
        let id = user.id();
        async move { User::by_id(&b, id).await.unwrap().age }
    });
    reached.notified().await;
    user.age = 2;
    user.save(&a).await.unwrap();
    release.notify_one();
    assert_eq!(read.await.unwrap(), 1, "it read before the write");
    // The row was not kept (the table's stamp, which an update leaves as it
    // is, may be).
    assert_eq!(User::by_id(&b, user.id()).await.unwrap().age, 2);
    c.finish().await;
}

/// A process that stalls (the one thread of its runtime blocked, as in a long
/// pause or `SIGSTOP`): a write through another handle returns once the
/// stalled tier's lease ran out, without its answer, and the stalled
/// process's first read after waking (before it applied anything queued
/// meanwhile) does not serve the old row from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_process_stops_serving_and_writers_go_on() {
    let Some(c) = test_db(Backend::Sqlite).await else {
        return;
    };
    let prefix = unique_name();
    let lease = Duration::from_millis(400);
    let cache_a = near(&redis_url(), &prefix, lease).await;
    let a = handle(&c, &cache_a, &prefix).await;
    a.create_table::<User>().await.unwrap();
    let mut user = User::new("stalled@example.com", "s", 1);
    user.save(&a).await.unwrap();

    let (ready, is_ready) = tokio::sync::oneshot::channel();
    let (url, id) = (c.t.url.clone(), user.id());
    let reader = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let cache_b = near(&redis_url(), &prefix, lease).await;
            let b = Db::builder(&url)
                .key_prefix(prefix)
                .cache(cache_b.clone())
                .build()
                .await
                .unwrap();
            warm(&b, &cache_b, id).await;
            ready.send(()).unwrap();
            // The stall: nothing of this runtime runs, the tier's tracking
            // connection and heartbeat included.
            std::thread::sleep(Duration::from_secs(3));
            let hits = cache_b.near_stats().unwrap().hits;
            let age = User::by_id(&b, id).await.unwrap().age;
            (age, cache_b.near_stats().unwrap().hits - hits)
        })
    });
    is_ready.await.unwrap();
    let started = Instant::now();
    user.age = 2;
    user.save(&a).await.unwrap();
    let waited = started.elapsed();
    assert!(
        !reader.is_finished(),
        "the write returned after {waited:?}, only once the stalled process woke"
    );
    let stats = cache_a.near_stats().unwrap();
    assert_eq!(stats.lease_expiries, 1, "waited for the lease: {stats:?}");
    let (age, hits) = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (age, hits),
        (2, 0),
        "the stalled process's first read after waking"
    );
    c.finish().await;
}

/// The reader's connection to Redis (its tracking connection with it) hangs
/// in a proxy: it stops serving hits within its lease, the writer returns
/// once that lease ran out, and the reader's next read sees the new row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_reader_stops_serving_and_the_writer_waits_for_its_lease() {
    let Some(c) = test_db(Backend::Sqlite).await else {
        return;
    };
    let lease = Duration::from_millis(400);
    let proxy = Proxy::in_front_of(&redis_url()).await;
    let Pair {
        cache_b,
        a,
        b,
        mut user,
        ..
    } = pair(&c, lease, Some(&proxy)).await;
    proxy.hang();
    let started = Instant::now();
    user.age = 2;
    user.save(&a).await.unwrap();
    assert!(
        started.elapsed() >= lease / 2,
        "returned after {:?}",
        started.elapsed()
    );
    assert_eq!(User::by_id(&b, user.id()).await.unwrap().age, 2);
    assert!(!cache_b.is_near_serving());
    proxy.resume();
    c.finish().await;
}

/// A writer without a near tier does not wait for the tiers: with the
/// reader's invalidations held up in a proxy, the reader may serve the old
/// row, but once its lease (counted from a heartbeat sent before the write)
/// ran out it no longer does, so the old row is never served past one lease
/// after the write returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_without_a_tier_is_seen_within_one_lease() {
    let Some(c) = test_db(Backend::Sqlite).await else {
        return;
    };
    let lease = Duration::from_millis(400);
    let proxy = Proxy::in_front_of(&redis_url()).await;
    let prefix = unique_name();
    let cache_b = near(&proxy.url_for(&redis_url()), &prefix, lease).await;
    let plain = RedisCache::connect(&redis_url()).await.unwrap();
    let (a, b) = (
        handle(&c, &plain, &prefix).await,
        handle(&c, &cache_b, &prefix).await,
    );
    a.create_table::<User>().await.unwrap();
    let mut user = User::new("plain@example.com", "p", 1);
    user.save(&a).await.unwrap();
    warm(&b, &cache_b, user.id()).await;
    proxy.hang();
    user.age = 2;
    user.save(&a).await.unwrap();
    let returned = Instant::now();
    tokio::time::sleep(lease).await;
    let seen = User::by_id(&b, user.id()).await.unwrap().age;
    assert_eq!(
        seen,
        2,
        "read {:?} after the write returned",
        returned.elapsed()
    );
    proxy.resume();
    c.finish().await;
}

/// A private Redis: `FLUSHALL` empties the tier (a flush push), and a killed
/// server ends its lease; after a restart it serves again, without the old
/// entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_or_a_dead_server_empties_the_tier() {
    let Some(c) = test_db(Backend::Sqlite).await else {
        return;
    };
    let mut server = match PrivateRedis::start(free_port()) {
        Ok(server) => server,
        Err(reason) => {
            skip("a_flush_or_a_dead_server_empties_the_tier", &reason);
            return;
        }
    };
    let prefix = unique_name();
    let cache = near(&server.url(), &prefix, Duration::from_millis(400)).await;
    let db = handle(&c, &cache, &prefix).await;
    db.create_table::<User>().await.unwrap();
    let mut user = User::new("flush@example.com", "f", 1);
    user.save(&db).await.unwrap();
    warm(&db, &cache, user.id()).await;
    let flushes = cache.near_stats().unwrap().flushes;
    server.command(&["FLUSHALL"]);
    wait_for(|| cache.near_stats().unwrap().flushes > flushes).await;
    assert_eq!(cache.near_stats().unwrap().entries, 0);
    assert!(db.stats().near_flushes > 0, "{:?}", db.stats());
    warm(&db, &cache, user.id()).await;
    let flushes = cache.near_stats().unwrap().flushes;
    server.kill();
    wait_for(|| !cache.is_near_serving()).await;
    assert!(cache.near_stats().unwrap().flushes > flushes);
    assert_eq!(cache.near_stats().unwrap().entries, 0);
    // Written with Redis down: the write goes through the outbox.
    server.restart();
    wait_for(|| cache.is_near_serving()).await;
    user.age = 5;
    user.save(&db).await.unwrap();
    assert_eq!(User::by_id(&db, user.id()).await.unwrap().age, 5);
    c.finish().await;
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "not within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A handle whose key prefix is not the tier's gets no near hits (and no
/// wrong ones).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_outside_the_tracked_prefix_are_never_kept() {
    let Some(c) = test_db(Backend::Sqlite).await else {
        return;
    };
    let cache = near(&redis_url(), &unique_name(), Duration::from_secs(1)).await;
    let db = handle(&c, &cache, &unique_name()).await;
    db.create_table::<User>().await.unwrap();
    let mut user = User::new("other@example.com", "o", 1);
    user.save(&db).await.unwrap();
    for _ in 0..3 {
        User::by_id(&db, user.id()).await.unwrap();
    }
    let stats = cache.near_stats().unwrap();
    assert_eq!((stats.hits, stats.entries), (0, 0), "{stats:?}");
    c.finish().await;
}

/// The reader's invalidations held up in a proxy (for less than its lease):
/// the writer does not return until the reader applied them and answered,
/// and from then on the reader sees the new row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_returns_only_once_a_late_tier_applied_it() {
    let Some(c) = test_db(Backend::Sqlite).await else {
        return;
    };
    let proxy = Proxy::in_front_of(&redis_url()).await;
    let Pair {
        cache_a,
        a,
        b,
        user,
        ..
    } = pair(&c, Duration::from_secs(3), Some(&proxy)).await;
    let before = cache_a.near_stats().unwrap();
    proxy.hang();
    let write = tokio::spawn({
        let a = a.clone();
        let mut user = user.clone();
        async move {
            user.age = 2;
            user.save(&a).await.unwrap();
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !write.is_finished(),
        "the write returned before the late tier applied it"
    );
    // Not returned yet: the old row may still be read.
    assert_eq!(User::by_id(&b, user.id()).await.unwrap().age, 1);
    proxy.resume();
    write.await.unwrap();
    assert_eq!(User::by_id(&b, user.id()).await.unwrap().age, 2);
    let stats = cache_a.near_stats().unwrap();
    assert_eq!(
        (stats.write_waits - before.write_waits, stats.lease_expiries),
        (1, 0),
        "b answered: {stats:?}"
    );
    c.finish().await;
}
