//! The object cache: hits, misses, negative caching, invalidation across handles,
//! transactions, the stale-fill race and corrupt entries — on every backend,
//! with the in-process cache and with Redis. Proven by `db.stats()` counts.

use std::sync::Arc;
use std::time::Duration;
use thing::cache::{Cache, Lookup};
use thing::{Db, Thing};
use thing_tests::models::User;
use thing_tests::{CacheKind, CacheTest, cache_tests};
use tokio::sync::Notify;

async fn setup(c: &CacheTest) -> Db {
    let db = c.handle().await;
    db.create_table::<User>().await.unwrap();
    db
}

async fn saved_user(db: &Db, email: &str, age: i32) -> User {
    let mut user = User::new(email, "name", age);
    user.save(db).await.unwrap();
    user
}

/// Forces a `by_id` lease holder to find another reader's load of the row in
/// progress: the holder stops after its lookup, a second reader (which sees the
/// lease) loads the row and stops before its fill, the holder goes on and joins
/// that load, a third reader starts, `meanwhile` runs, and the load finishes.
/// Returns the three readers' rows.
async fn lease_holder_joins(
    db: &Db,
    id: i64,
    meanwhile: impl AsyncFnOnce(&Db),
) -> (User, User, User) {
    let gate = || (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let spawn = || {
        let db = db.clone();
        tokio::spawn(async move { User::by_id(&db, id).await.unwrap() })
    };
    let (holding, go_on) = gate();
    db.__pause_next_lease(holding.clone(), go_on.clone());
    let holder = spawn();
    holding.notified().await;
    let (loaded, fill) = gate();
    db.__pause_next_fill(loaded.clone(), fill.clone());
    let loader = spawn();
    loaded.notified().await;
    go_on.notify_one();
    tokio::time::sleep(Duration::from_millis(50)).await; // the holder joins
    let third = spawn();
    tokio::time::sleep(Duration::from_millis(50)).await;
    meanwhile(db).await;
    fill.notify_one();
    (
        holder.await.unwrap(),
        loader.await.unwrap(),
        third.await.unwrap(),
    )
}

cache_tests! {
    async fn miss_then_hit(c) {
        let db = setup(c).await;
        let user = saved_user(&db, "a@x", 1).await;
        db.reset_stats();
        assert_eq!(User::by_id(&db, user.base.id).await.unwrap(), user);
        let miss = db.stats();
        assert_eq!((miss.selects, miss.cache_misses, miss.cache_fills), (1, 1, 1));
        if c.kind == CacheKind::Redis {
            assert_eq!(miss.cache_round_trips, 2, "one lookup, one fill");
        }

        db.reset_stats();
        assert_eq!(User::by_id(&db, user.base.id).await.unwrap(), user);
        let hit = db.stats();
        assert_eq!((hit.statements(), hit.cache_hits), (0, 1));
        if c.kind == CacheKind::Redis {
            assert_eq!(hit.cache_round_trips, 1);
        }
    }

    async fn by_ids_with_forty_of_a_hundred_cached(c) {
        let db = setup(c).await;
        let mut users: Vec<User> = (0..100).map(|i| User::new(&format!("u{i}@x"), "n", i)).collect();
        User::save_many(&db, &mut users).await.unwrap();
        let ids: Vec<i64> = users.iter().map(|user| user.base.id).collect();
        User::by_ids(&db, &ids[..40]).await.unwrap();

        db.reset_stats();
        let read = User::by_ids(&db, &ids).await.unwrap();
        assert_eq!(read, users);
        let stats = db.stats();
        assert_eq!((stats.selects, stats.cache_hits, stats.cache_misses, stats.cache_fills), (1, 40, 60, 60));
        if c.kind == CacheKind::Redis {
            assert_eq!(stats.cache_round_trips, 2, "one multi-get, one multi-fill");
        }
    }

    async fn missing_id_is_cached_as_absent_until_created(c) {
        let db = setup(c).await;
        let first = saved_user(&db, "a@x", 1).await;
        let next_id = first.base.id + 1;
        db.reset_stats();
        for _ in 0..2 {
            assert!(User::by_id(&db, next_id).await.unwrap_err().is_not_found());
        }
        let stats = db.stats();
        assert_eq!((stats.selects, stats.negative_hits), (1, 1));

        let created = saved_user(&db, "b@x", 2).await;
        assert_eq!(created.base.id, next_id, "ids are sequential in a fresh table");
        assert_eq!(User::by_id(&db, next_id).await.unwrap(), created, "creating the id clears the marker");
    }

    async fn a_write_through_one_handle_is_seen_by_another(c) {
        let reader = setup(c).await;
        let writer = c.handle().await;
        let mut user = saved_user(&writer, "a@x", 1).await;
        assert_eq!(User::by_id(&reader, user.base.id).await.unwrap().age, 1);

        user.age = 2;
        user.save(&writer).await.unwrap();
        assert_eq!(User::by_id(&reader, user.base.id).await.unwrap().age, 2);

        user.delete(&writer).await.unwrap();
        assert!(User::by_id(&reader, user.base.id).await.unwrap_err().is_not_found());
    }

    async fn rollback_leaves_the_cache_as_it_was(c) {
        let db = setup(c).await;
        let user = saved_user(&db, "a@x", 1).await;
        User::by_id(&db, user.base.id).await.unwrap();

        let tx = db.begin().await.unwrap();
        let mut changed = user.clone();
        changed.age = 99;
        changed.save(&tx).await.unwrap();
        db.reset_stats();
        assert_eq!(User::by_id(&tx, user.base.id).await.unwrap().age, 99, "reads in a tx see the tx");
        assert_eq!(db.stats().cache_hits, 0, "reads in a tx never use the cache");
        tx.rollback().await.unwrap();

        db.reset_stats();
        assert_eq!(User::by_id(&db, user.base.id).await.unwrap().age, 1);
        assert_eq!((db.stats().cache_hits, db.stats().invalidations), (1, 0));

        // A value saved in a rolled-back transaction still believes it is saved:
        // start again from the stored row.
        let mut changed = User::by_id(&db, user.base.id).await.unwrap();
        changed.age = 99;
        let tx = db.begin().await.unwrap();
        changed.save(&tx).await.unwrap();
        assert_eq!(db.stats().invalidations, 0, "nothing is invalidated before commit");
        tx.commit().await.unwrap();
        assert_eq!(db.stats().invalidations, 1);
        assert_eq!(User::by_id(&db, user.base.id).await.unwrap().age, 99);
    }

    async fn a_stale_fill_cannot_overwrite_a_committed_write(c) {
        let db = setup(c).await;
        let writer = c.handle().await;
        let mut user = saved_user(&writer, "a@x", 1).await;
        let id = user.base.id;

        let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        db.__pause_next_fill(reached.clone(), release.clone());
        let reader = {
            let db = db.clone();
            tokio::spawn(async move { User::by_id(&db, id).await })
        };
        reached.notified().await; // the reader has read age = 1 and not filled yet

        user.age = 2;
        user.save(&writer).await.unwrap(); // commits and invalidates
        release.notify_one();
        assert_eq!(reader.await.unwrap().unwrap().age, 1, "the read began before the write");
        assert_eq!(db.stats().cache_fills, 0, "its fill was refused");

        assert_eq!(User::by_id(&db, id).await.unwrap().age, 2, "no stale value was cached");
    }

    async fn a_fill_slower_than_the_lease_ttl_is_dropped(c) {
        let db = c.handle_with(|builder| builder.lease_ttl(Duration::from_millis(50))).await;
        db.create_table::<User>().await.unwrap();
        let user = saved_user(&db, "a@x", 1).await;
        let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        db.__pause_next_fill(reached.clone(), release.clone());
        db.reset_stats();
        let reader = {
            let db = db.clone();
            tokio::spawn(async move { User::by_id(&db, user.base.id).await })
        };
        reached.notified().await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        release.notify_one();
        assert_eq!(reader.await.unwrap().unwrap().age, 1);
        assert_eq!(db.stats().cache_fills, 0, "the lease had run out");
        User::by_id(&db, user.base.id).await.unwrap();
        assert_eq!(db.stats().cache_fills, 1, "the next read fills");
    }

    async fn concurrent_misses_load_once(c) {
        let db = setup(c).await;
        let user = saved_user(&db, "a@x", 1).await;
        let id = user.base.id;
        db.reset_stats();

        let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        db.__pause_next_fill(reached.clone(), release.clone());
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { User::by_id(&db, id).await })
            })
            .collect();
        reached.notified().await;
        tokio::time::sleep(Duration::from_millis(50)).await; // let the others queue up
        release.notify_one();
        for reader in readers {
            assert_eq!(reader.await.unwrap().unwrap(), user);
        }
        assert_eq!(db.stats().selects, 1, "one SQL statement for eight concurrent misses");
    }

    // The in-process cache's leases are exclusive: a reader that finds one
    // loads the row without filling. The lease holder that then finds that
    // load under way keeps its lease, and fills with what was loaded, so a
    // third reader joins instead of loading again.
    async fn a_lease_holder_that_joins_a_load_fills_with_it(c) {
        if c.kind != CacheKind::Memory {
            return;
        }
        let db = setup(c).await;
        let user = saved_user(&db, "a@x", 1).await;
        let id = user.base.id;
        db.reset_stats();
        let (holder, loader, third) = lease_holder_joins(&db, id, async |_| {}).await;
        for reader in [holder, loader, third] {
            assert_eq!(reader, user);
        }
        let stats = db.stats();
        assert_eq!(stats.selects, 1, "one load for three readers");
        assert_eq!(stats.cache_fills, 1, "by the lease holder");
        db.reset_stats();
        assert_eq!(User::by_id(&db, id).await.unwrap(), user);
        assert_eq!((db.stats().cache_hits, db.stats().statements()), (1, 0));
    }

    // The same, with a write committed while the load is under way: the lease
    // holder's fill is refused, and the next read sees the write.
    async fn a_lease_holder_never_fills_a_load_older_than_a_write(c) {
        if c.kind != CacheKind::Memory {
            return;
        }
        let db = setup(c).await;
        let mut user = saved_user(&db, "a@x", 1).await;
        let id = user.base.id;
        user.age = 2;
        db.reset_stats();
        let (holder, _, _) = lease_holder_joins(&db, id, async |db| {
            user.save(db).await.unwrap();
        })
        .await;
        assert_eq!(holder.age, 1, "read concurrently with the write: the old row");
        assert_eq!(db.stats().cache_fills, 0);
        assert_eq!(User::by_id(&db, id).await.unwrap().age, 2);
    }

    // A table whose epoch this cache never held (here: made through a handle
    // with another key prefix): the first read creates it and stores nothing,
    // so no row is stored under a missing epoch, and the rows stored after it
    // are still hits after the table's first list (which depends on it too).
    async fn rows_are_stored_only_under_an_epoch_the_cache_holds(c) {
        let db = setup(c).await;
        let ids = [
            saved_user(&db, "a@x", 1).await.base.id,
            saved_user(&db, "b@x", 2).await.base.id,
        ];
        let prefix = thing_tests::unique_name();
        let fresh = c.handle_with(|builder| builder.key_prefix(prefix)).await;
        fresh.reset_stats();
        assert_eq!(User::by_ids(&fresh, &ids).await.unwrap().len(), 2);
        assert_eq!(fresh.stats().cache_fills, 0, "no epoch yet: nothing stored");
        User::by_ids(&fresh, &ids).await.unwrap();
        assert_eq!(fresh.stats().cache_fills, 2, "under the epoch just created");
        let listed = User::query().filter(User::AGE.gt(0)).all(&fresh).await.unwrap();
        assert_eq!(listed.len(), 2);
        fresh.reset_stats();
        assert_eq!(User::by_ids(&fresh, &ids).await.unwrap().len(), 2);
        let stats = fresh.stats();
        assert_eq!((stats.cache_hits, stats.statements()), (2, 0), "kept by the list");
    }

    async fn a_corrupt_entry_is_a_miss_and_is_replaced(c) {
        let db = setup(c).await;
        let user = saved_user(&db, "a@x", 1).await;
        let key = db.cache_key::<User>(user.base.id).unwrap();
        corrupt(c, &key).await;

        db.reset_stats();
        assert_eq!(User::by_id(&db, user.base.id).await.unwrap(), user);
        assert_eq!((db.stats().selects, db.stats().cache_fills), (1, 1));
        db.reset_stats();
        assert_eq!(User::by_id(&db, user.base.id).await.unwrap(), user);
        assert_eq!((db.stats().selects, db.stats().cache_hits), (0, 1));
    }
}

/// Writes garbage under `key` in the test's cache, as a damaged or foreign entry.
async fn corrupt(c: &CacheTest, key: &str) {
    let cache: Box<dyn Cache> = match c.kind {
        CacheKind::Memory => Box::new(c.memory()),
        CacheKind::Redis => Box::new(
            thing::cache::RedisCache::connect(&thing_tests::redis_url())
                .await
                .unwrap(),
        ),
        // Written through a near tier, so that the handles' tiers drop the key.
        CacheKind::Near => Box::new(c.near_cache().await),
    };
    let keys = [key.to_owned()];
    cache.invalidate(&keys).await.unwrap();
    let Lookup::Leased(token) = cache
        .get_or_lease(&keys, Duration::from_secs(5))
        .await
        .unwrap()[0]
    else {
        panic!("expected a lease on an empty key");
    };
    let fill = thing::cache::Fill {
        key: key.to_owned(),
        token,
        value: vec![1, 0xff, 0xfe, 0x07].into(),
        ttl: Duration::from_secs(60),
    };
    assert_eq!(cache.fill(std::slice::from_ref(&fill)).await.unwrap(), 1);
}

#[tokio::test]
async fn without_a_cache_every_read_is_sql() {
    let db = Db::builder("sqlite::memory:")
        .no_cache()
        .build()
        .await
        .unwrap();
    db.create_table::<User>().await.unwrap();
    let user = saved_user(&db, "a@x", 1).await;
    db.reset_stats();
    for _ in 0..3 {
        User::by_id(&db, user.base.id).await.unwrap();
    }
    assert_eq!((db.stats().selects, db.stats().cache_hits), (3, 0));
}

/// An in-process cache whose invalidations fail while `down` is set, as a Redis
/// that answers reads but not a writer's deletes (or comes back between them).
#[derive(Debug, Clone)]
struct DropsInvalidations {
    inner: thing::cache::MemoryCache,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl DropsInvalidations {
    fn fails<'a, T: Send + 'a>(
        &self,
        work: thing::cache::CacheFuture<'a, T>,
    ) -> thing::cache::CacheFuture<'a, T> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(async {
                Err(thing::cache::CacheError::new(
                    thing::cache::CacheErrorKind::Unreachable,
                    "unreachable",
                ))
            });
        }
        work
    }
}

impl Cache for DropsInvalidations {
    fn get_or_lease<'a>(
        &'a self,
        keys: &'a [String],
        lease_ttl: Duration,
    ) -> thing::cache::CacheFuture<'a, Vec<Lookup>> {
        self.inner.get_or_lease(keys, lease_ttl)
    }
    fn fill<'a>(&'a self, fills: &'a [thing::cache::Fill]) -> thing::cache::CacheFuture<'a, usize> {
        self.inner.fill(fills)
    }
    fn invalidate<'a>(&'a self, keys: &'a [String]) -> thing::cache::CacheFuture<'a, ()> {
        self.fails(self.inner.invalidate(keys))
    }
    fn get_stamped<'a>(
        &'a self,
        key: &'a str,
        stamps: &'a [String],
    ) -> thing::cache::CacheFuture<'a, thing::cache::StampedLookup> {
        self.inner.get_stamped(key, stamps)
    }
    fn fill_stamped<'a>(
        &'a self,
        fill: &'a thing::cache::StampedFill,
    ) -> thing::cache::CacheFuture<'a, bool> {
        self.inner.fill_stamped(fill)
    }
    fn begin_write<'a>(
        &'a self,
        keys: &'a thing::cache::WriteKeys,
    ) -> thing::cache::CacheFuture<'a, ()> {
        self.fails(self.inner.begin_write(keys))
    }
    fn end_write<'a>(
        &'a self,
        locked: &'a thing::cache::WriteKeys,
        learned: &'a thing::cache::WriteKeys,
    ) -> thing::cache::CacheFuture<'a, ()> {
        self.fails(self.inner.end_write(locked, learned))
    }
    fn abort_write<'a>(
        &'a self,
        keys: &'a thing::cache::WriteKeys,
    ) -> thing::cache::CacheFuture<'a, ()> {
        self.fails(self.inner.abort_write(keys))
    }
    fn bump<'a>(&'a self, stamps: &'a [String]) -> thing::cache::CacheFuture<'a, ()> {
        self.fails(self.inner.bump(stamps))
    }
}

/// A SQLite database, a cache that drops invalidations on demand, and two
/// handles on both (a writer and "another process"). Their write policy is
/// `BestEffort`, the one whose writes rely on this retry alone: under the
/// default `Outbox` a write that no handle can invalidate fails with
/// `Error::CacheNotTold` (see `faults.rs`).
async fn flaky_handles() -> (thing_tests::TestDb, DropsInvalidations, Db, Db) {
    let t = thing_tests::TestDb::new(thing_tests::Backend::Sqlite)
        .await
        .unwrap();
    let cache = DropsInvalidations {
        inner: thing::cache::MemoryCache::new(1_000),
        down: Arc::default(),
    };
    let open = || {
        Db::builder(&t.url)
            .cache(cache.clone())
            .write_policy(thing::WritePolicy::BestEffort)
            .build()
    };
    let (writer, other) = (open().await.unwrap(), open().await.unwrap());
    writer.create_table::<User>().await.unwrap();
    (t, cache, writer, other)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_invalidation_is_retried_and_never_read_stale_meanwhile() {
    let (t, cache, writer, other) = flaky_handles().await;
    let mut user = saved_user(&writer, "a@x", 1).await;
    assert_eq!(User::by_id(&other, user.base.id).await.unwrap().age, 1); // cached

    cache.down.store(true, std::sync::atomic::Ordering::SeqCst);
    user.age = 2;
    user.save(&writer).await.unwrap();
    // What waits: the row's key, and the stamps the write bumps (its lists).
    assert!(writer.unflushed_invalidations() >= 2);
    assert_eq!(
        writer.stats().cache_errors,
        2,
        "the write's two cache steps"
    );
    writer.reset_stats();
    assert_eq!(
        User::by_id(&writer, user.base.id).await.unwrap().age,
        2,
        "the writer never reads its stale row"
    );
    assert_eq!((writer.stats().selects, writer.stats().cache_fills), (1, 0));

    cache.down.store(false, std::sync::atomic::Ordering::SeqCst);
    thing_tests::wait_until_flushed(&writer).await;
    assert_eq!(
        User::by_id(&other, user.base.id).await.unwrap().age,
        2,
        "and other handles see the write"
    );
    drop((writer, other));
    t.finish().await;
}

/// Writes whose stamps the cache does not take: the writer reads the lists that
/// depend on them from the database until the cache answers again; then the
/// stamps move, for every handle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_a_write_could_not_invalidate_are_dropped_later() {
    let (t, cache, writer, other) = flaky_handles().await;
    saved_user(&writer, "a@x", 30).await;
    let adults = User::query().filter(User::AGE.ge(18));
    assert_eq!(adults.count(&other).await.unwrap(), 1); // cached

    cache.down.store(true, std::sync::atomic::Ordering::SeqCst);
    saved_user(&writer, "b@x", 40).await;
    assert!(writer.unflushed_invalidations() >= 1);
    writer.reset_stats();
    assert_eq!(
        adults.count(&writer).await.unwrap(),
        2,
        "the writer never reads its stale list"
    );
    assert_eq!(writer.stats().query_hits, 0);

    cache.down.store(false, std::sync::atomic::Ordering::SeqCst);
    thing_tests::wait_until_flushed(&writer).await;
    assert_eq!(
        adults.count(&other).await.unwrap(),
        2,
        "and the others' lists were dropped"
    );
    drop((writer, other));
    t.finish().await;
}
