//! Faults: databases that restart or stop answering, a Redis that hangs, and a
//! writer cut off from Redis while the others still use it (those with a
//! plain `RedisCache` and again with a near tier on every handle). Every fault
//! is forced through a private proxy or a private `redis-server`; the shared
//! servers are never stopped or reconfigured.

use std::time::{Duration, Instant};
use thing::cache::{NearOptions, RedisCache};
use thing::{Db, Thing};
use thing_tests::fault::{PrivateRedis, Proxy, scopeguard};
use thing_tests::models::User;
use thing_tests::{Backend, TestDb, redis_available, redis_url, unique_name};

/// Runs `body` once per server backend (the faults are network faults).
macro_rules! server_tests {
    ($($(#[$doc:meta])* async fn $name:ident($backend:ident) $body:block)*) => {
        $($(#[$doc])* mod $name {
            use super::*;
            async fn body($backend: Backend) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { body(Backend::Postgres).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() { body(Backend::MySql).await }
        })*
    };
}

/// Runs `body` once per backend.
macro_rules! all_backends {
    ($($(#[$doc:meta])* async fn $name:ident($backend:ident) $body:block)*) => {
        $($(#[$doc])* mod $name {
            use super::*;
            async fn body($backend: Backend) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { body(Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { body(Backend::Postgres).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() { body(Backend::MySql).await }
        })*
    };
}

/// Runs `body` once per backend, with a plain `RedisCache` and again with a
/// near tier on every handle of [`redis_handle_with`] (`*_near`).
macro_rules! partition_tests {
    ($($(#[$doc:meta])* async fn $name:ident($backend:ident) $body:block)*) => {
        $($(#[$doc])* mod $name {
            use super::*;
            async fn body($backend: Backend) $body
            async fn run(backend: Backend, near: bool) {
                NEAR.scope(near, body(backend)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { run(Backend::Sqlite, false).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { run(Backend::Postgres, false).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() { run(Backend::MySql, false).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_near() { run(Backend::Sqlite, true).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_near() { run(Backend::Postgres, true).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql_near() { run(Backend::MySql, true).await }
        })*
    };
}

tokio::task_local! {
    /// Whether the handles of [`redis_handle_with`] get a near tier.
    static NEAR: bool;
}

/// A table of users with one row, and that row's id.
async fn one_user(t: &TestDb) -> i64 {
    t.db.create_table::<User>().await.unwrap();
    let mut user = User::new("a@x", "A", 1);
    user.save(&t.db).await.unwrap();
    user.base.id
}

server_tests! {
    /// The server restarts (every pooled connection dies) and is back before
    /// the next read: no read fails, and neither does the write after them.
    async fn reads_after_a_database_restart_all_succeed(backend) {
        let Some(t) = TestDb::new(backend).await else { return };
        let id = one_user(&t).await;
        let proxy = Proxy::in_front_of(&t.url).await;
        let db = Db::builder(&proxy.url_for(&t.url))
            .max_connections(6)
            .no_cache()
            .build()
            .await
            .unwrap();
        // Six connections open and idle in the pool.
        let reads: Vec<_> = (0..6)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { User::by_id(&db, id).await })
            })
            .collect();
        for read in reads {
            read.await.unwrap().unwrap();
        }

        proxy.reset();
        for attempt in 0..6 {
            let read = User::by_id(&db, id).await;
            assert!(read.is_ok(), "read {attempt} after the restart: {read:?}");
        }
        let mut user = User::by_id(&db, id).await.unwrap();
        user.age = 2;
        user.save(&db).await.unwrap();
        drop(db);
        t.finish().await;
    }
}

server_tests! {
    /// The connection dies in the middle of a many-row read, after some of its
    /// rows came: the read runs again on a new connection and returns every
    /// row once (the rows taken before the cut are dropped, not kept).
    async fn a_read_cut_off_midway_returns_each_row_once(backend) {
        let Some(t) = TestDb::new(backend).await else { return };
        t.db.create_table::<User>().await.unwrap();
        let mut users: Vec<User> = (0..2_000)
            .map(|i| User::new(&format!("u{i}@x"), &format!("User {i}"), i))
            .collect();
        User::save_many(&t.db, &mut users).await.unwrap();
        let proxy = Proxy::in_front_of(&t.url).await;
        let db = Db::builder(&proxy.url_for(&t.url))
            .no_cache()
            .build()
            .await
            .unwrap();
        User::by_id(&db, users[0].base.id).await.unwrap();

        // Far fewer bytes than the 2 000 rows take, far more than one row.
        proxy.reset_after(40_000);
        let read = User::query()
            .order_by(User::ID.asc())
            .fetch(&db, 0, 5_000)
            .await
            .unwrap();
        assert_eq!(proxy.cuts(), 1, "the read was cut off midway");
        let ids: Vec<i64> = read.iter().map(|user| user.base.id).collect();
        let expected: Vec<i64> = users.iter().map(|user| user.base.id).collect();
        assert_eq!(ids.len(), expected.len(), "every row once");
        assert_eq!(ids, expected);
        drop(db);
        t.finish().await;
    }
}

server_tests! {
    /// The server accepts and never answers: a read fails with
    /// `Error::Timeout` once the statement timeout passes, and once the server
    /// answers again the next reads work (the hung connections were dropped).
    async fn a_database_that_stops_answering_times_out(backend) {
        let Some(t) = TestDb::new(backend).await else { return };
        let id = one_user(&t).await;
        let proxy = Proxy::in_front_of(&t.url).await;
        let db = Db::builder(&proxy.url_for(&t.url))
            .statement_timeout(Duration::from_millis(500))
            .no_cache()
            .build()
            .await
            .unwrap();
        User::by_id(&db, id).await.unwrap();

        proxy.hang();
        let started = Instant::now();
        let read = tokio::time::timeout(Duration::from_secs(15), User::by_id(&db, id))
            .await
            .expect("the read is bounded by the statement timeout");
        assert!(matches!(read, Err(thing::Error::Timeout { .. })), "{read:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

        proxy.resume();
        for _ in 0..3 {
            User::by_id(&db, id).await.unwrap();
        }
        drop(db);
        t.finish().await;
    }
}

/// Time spent in reads (`by_id`, a list) and in saves.
#[derive(Debug, Default, Clone, Copy)]
struct Spent {
    reads: Duration,
    saves: Duration,
}

impl Spent {
    fn total(self) -> Duration {
        self.reads + self.saves
    }
}

/// Times `rounds` of by_id, save and fetch on `db`.
async fn workload(db: &Db, id: i64, rounds: usize) -> Spent {
    let mut spent = Spent::default();
    for round in 0..rounds {
        let started = Instant::now();
        let mut user = User::by_id(db, id).await.unwrap();
        User::query().filter(User::AGE.ge(0)).all(db).await.unwrap();
        spent.reads += started.elapsed();
        let started = Instant::now();
        user.views = round as i64;
        user.save(db).await.unwrap();
        spent.saves += started.elapsed();
    }
    spent
}

all_backends! {
    /// While Redis hangs, operations cost about what the database path costs:
    /// after the first timeout the cache is skipped rather than waited for.
    /// Saves are timed under `WritePolicy::BestEffort`, which does not wait
    /// for anyone to apply them; under the default `Outbox` a save waits for
    /// the outbox timeout (no process reaches the hung Redis) and returns
    /// `Error::CacheNotTold`, committed.
    async fn a_hung_redis_costs_about_what_the_database_costs(backend) {
        let Some(server) = PrivateRedis::start_or_skip("a_hung_redis_costs") else { return };
        let Some(t) = TestDb::new(backend).await else { return };
        let id = one_user(&t).await;
        let cached = Db::builder(&t.url)
            .cache(RedisCache::connect(&server.url()).await.unwrap())
            .write_policy(thing::WritePolicy::BestEffort)
            .build()
            .await
            .unwrap();
        let strict = Db::builder(&t.url)
            .cache(RedisCache::connect(&server.url()).await.unwrap())
            .outbox_timeout(Duration::from_millis(300))
            .build()
            .await
            .unwrap();
        workload(&strict, id, 1).await;
        let uncached = Db::builder(&t.url).no_cache().build().await.unwrap();
        workload(&cached, id, 3).await;
        workload(&uncached, id, 3).await;

        server.signal("-STOP");
        let resumed = scopeguard(|| server.signal("-CONT"));
        // The first call waits for the command timeout and opens the breaker.
        let first = workload(&cached, id, 1).await.total();
        let rounds = 50;
        let hung = workload(&cached, id, rounds).await;
        let database = workload(&uncached, id, rounds).await;
        drop(resumed);
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        eprintln!(
            "{backend:?}: first round with Redis hung {first:?}; then {rounds} rounds: reads \
             {:?} ({:.2}x without a cache), saves {:?} ({:.2}x), all {:.2}x",
            hung.reads,
            ratio(hung.reads, database.reads),
            hung.saves,
            ratio(hung.saves, database.saves),
            ratio(hung.total(), database.total()),
        );
        // Without a breaker every round waits for a 250 ms command timeout or
        // a 1 s connect timeout (12 s or more over 50 rounds); with one, only the
        // first does, and a probe after each one-second cool-down.
        assert!(first < Duration::from_secs(3), "first round: {first:?}");
        assert!(
            hung.total() < database.total() * 3 + Duration::from_millis(1500),
            "hung Redis: {hung:?}, database alone: {database:?}"
        );
        let resumed = scopeguard(|| server.signal("-CONT"));
        server.signal("-STOP");
        let mut user = User::by_id(&strict, id).await.unwrap();
        user.views = -1;
        let started = Instant::now();
        let saved = user.save(&strict).await;
        let took = started.elapsed();
        drop(resumed);
        eprintln!("{backend:?}: with Redis hung, a save under the default policy: {took:?}, {saved:?}");
        assert!(saved.as_ref().is_err_and(thing::Error::is_committed), "{saved:?}");
        assert!(took < Duration::from_millis(300) + Duration::from_secs(1), "{took:?}");
        assert_eq!(User::by_id(&uncached, id).await.unwrap().views, -1, "committed");
        drop((cached, strict, uncached));
        t.finish().await;
    }
}

/// A handle on `t`'s database sharing `prefix` on the Redis at `url`.
async fn redis_handle(t: &TestDb, url: &str, prefix: &str) -> Db {
    redis_handle_with(t, url, prefix, |builder| builder).await
}

async fn redis_handle_with(
    t: &TestDb,
    url: &str,
    prefix: &str,
    configure: impl FnOnce(thing::DbBuilder) -> thing::DbBuilder,
) -> Db {
    let cache = RedisCache::builder(url);
    let cache = match NEAR.try_with(|near| *near).unwrap_or(false) {
        true => cache.near(NearOptions::new().key_prefix(prefix)),
        false => cache,
    };
    let builder = Db::builder(&t.url)
        .key_prefix(prefix)
        .cache(cache.build().await.unwrap());
    configure(builder).build().await.unwrap()
}

/// Polls until `check` holds, for at most `limit`; returns how long it took.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Reads of `reader`, row and list, show `age` for the row `id`.
async fn reader_sees(reader: &Db, id: i64, age: i32) -> bool {
    let row = User::by_id(reader, id).await.unwrap();
    let list = User::query()
        .filter(User::NAME.eq("A"))
        .all(reader)
        .await
        .unwrap();
    row.age == age && list.len() == 1 && list[0].age == age
}

/// A database with one user, a reader on the shared Redis and a writer on the
/// same Redis through a proxy that can cut it off, sharing one key prefix.
struct CutOff {
    t: TestDb,
    id: i64,
    proxy: Proxy,
    reader: Db,
    writer: Db,
    /// The key prefix both handles share.
    prefix: String,
}

impl CutOff {
    async fn new(
        backend: Backend,
        configure: impl FnOnce(thing::DbBuilder) -> thing::DbBuilder,
    ) -> Option<Self> {
        if !redis_available() {
            return None;
        }
        let t = TestDb::new(backend).await?;
        let id = one_user(&t).await;
        let prefix = unique_name();
        let proxy = Proxy::in_front_of(&redis_url()).await;
        let reader = redis_handle(&t, &redis_url(), &prefix).await;
        let writer = redis_handle_with(&t, &proxy.url_for(&redis_url()), &prefix, configure).await;
        assert!(reader_sees(&reader, id, 1).await);
        assert!(reader_sees(&reader, id, 1).await, "now cached");
        Some(Self {
            t,
            id,
            proxy,
            reader,
            writer,
            prefix,
        })
    }
}

partition_tests! {
    /// A writer cut off from Redis (the database reachable, the other handle
    /// still on Redis) commits and dies before Redis hears of it. The other
    /// handle's cached row and list go stale only until an outbox drain.
    async fn a_writer_cut_off_from_redis_is_not_stale_past_the_drain(backend) {
        let Some(CutOff { t, id, proxy, reader, writer, .. }) = CutOff::new(backend, |b| b).await else { return };

        proxy.hang();
        let mut user = User::by_id(&writer, id).await.unwrap();
        user.age = 2;
        user.save(&writer).await.unwrap();
        drop(writer);

        let took = within(Duration::from_secs(5), async || reader_sees(&reader, id, 2).await).await;
        eprintln!("{backend:?}: the other handle saw the write after {took:?}");
        assert!(took.is_some(), "the other handle still reads the old row or list");
        drop((reader, proxy));
        t.finish().await;
    }

    /// Redis pauses; a write commits during the pause and its writer dies
    /// before Redis answers again. No process could apply it, so the write
    /// says so (`Error::CacheNotTold`, committed) rather than `Ok`. The other
    /// handle is not stale for long after Redis is back.
    async fn a_writer_dying_during_a_redis_pause_is_not_stale_past_the_drain(backend) {
        let Some(server) = PrivateRedis::start_or_skip("a_writer_dying_during_a_redis_pause") else { return };
        let Some(t) = TestDb::new(backend).await else { return };
        let id = one_user(&t).await;
        let prefix = unique_name();
        let reader = redis_handle(&t, &server.url(), &prefix).await;
        let writer = redis_handle(&t, &server.url(), &prefix).await;
        assert!(reader_sees(&reader, id, 1).await);

        server.signal("-STOP");
        let resumed = scopeguard(|| server.signal("-CONT"));
        let mut user = User::by_id(&writer, id).await.unwrap();
        user.age = 2;
        let saved = user.save(&writer).await;
        assert!(saved.as_ref().is_err_and(thing::Error::is_committed), "{saved:?}");
        drop(writer);
        drop(resumed);

        let took = within(Duration::from_secs(5), async || reader_sees(&reader, id, 2).await).await;
        eprintln!("{backend:?}: after the pause, the other handle saw the write after {took:?}");
        assert!(took.is_some(), "the other handle still reads the old row or list");
        drop(reader);
        t.finish().await;
    }
}

/// A statement slower than the statement timeout fails with `Error::Timeout`
/// in time, on SQLite too (the in-process database has no network to cut), and
/// the handle keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_slower_than_the_timeout_fails_on_sqlite() {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let id = one_user(&t).await;
    let db = Db::builder(&t.url)
        .statement_timeout(Duration::from_millis(300))
        .no_cache()
        .build()
        .await
        .unwrap();
    let slow = "id <= (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                WHERE x < 200000000) SELECT max(x) FROM c)";
    let started = Instant::now();
    let read = User::query().where_raw(slow, []).all(&db).await;
    assert!(
        matches!(read, Err(thing::Error::Timeout { .. })),
        "{read:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(User::by_id(&db, id).await.unwrap().age, 1);
    drop(db);
    t.finish().await;
}

partition_tests! {
    /// With `WritePolicy::FailClosed`, a writer cut off from Redis gets
    /// `Error::Cache` and writes nothing: the database and the other handle's
    /// cache keep the old row. In a transaction too.
    async fn fail_closed_writes_nothing_when_redis_is_unreachable(backend) {
        let fail_closed = |builder: thing::DbBuilder| builder.write_policy(thing::WritePolicy::FailClosed);
        let Some(CutOff { t, id, proxy, reader, writer, .. }) = CutOff::new(backend, fail_closed).await else { return };

        proxy.hang();
        let mut user = User::by_id(&writer, id).await.unwrap();
        user.age = 2;
        let saved = user.save(&writer).await;
        assert!(matches!(saved, Err(thing::Error::Cache(_))), "{saved:?}");
        let mut other = User::new("b@x", "B", 3);
        let tx = writer.begin().await.unwrap();
        other.save(&tx).await.unwrap();
        let committed = tx.commit().await;
        assert!(matches!(committed, Err(thing::Error::Cache(_))), "{committed:?}");

        let fresh = Db::builder(&t.url).no_cache().build().await.unwrap();
        assert_eq!(User::by_id(&fresh, id).await.unwrap().age, 1, "nothing written");
        assert_eq!(User::query().count(&fresh).await.unwrap(), 1, "the transaction rolled back");
        assert!(reader_sees(&reader, id, 1).await);
        drop((reader, writer, fresh, proxy));
        t.finish().await;
    }

    /// A transaction whose commit cannot reach Redis records its keys in the
    /// outbox with its writes; another handle applies them.
    async fn a_transaction_cut_off_from_redis_is_not_stale_past_the_drain(backend) {
        let Some(CutOff { t, id, proxy, reader, writer, .. }) = CutOff::new(backend, |b| b).await else { return };

        proxy.hang();
        let tx = writer.begin().await.unwrap();
        let mut user = User::by_id(&tx, id).await.unwrap();
        user.age = 2;
        user.save(&tx).await.unwrap();
        tx.commit().await.unwrap();
        drop(writer);

        let took = within(Duration::from_secs(5), async || reader_sees(&reader, id, 2).await).await;
        eprintln!("{backend:?}: the other handle saw the transaction after {took:?}");
        assert!(took.is_some(), "the other handle still reads the old row or list");
        drop((reader, proxy));
        t.finish().await;
    }
}

partition_tests! {
    /// A cut-off writer drops the table (which cannot run in a transaction):
    /// its epoch bump goes to the outbox after the `DROP`, so the other handle
    /// stops serving the old table's cached row once a drain applies it, even
    /// for a row with the same id put there by raw SQL.
    async fn a_table_dropped_by_a_cut_off_writer_is_not_served_past_the_drain(backend) {
        let Some(CutOff { t, id, proxy, reader, writer, .. }) = CutOff::new(backend, |b| b).await else { return };
        proxy.hang();
        writer.drop_table::<User>().await.unwrap();
        drop(writer);
        let fresh = Db::builder(&t.url).no_cache().build().await.unwrap();
        fresh.create_table::<User>().await.unwrap();
        let mut user = User::new("b@x", "B", 7);
        user.save(&fresh).await.unwrap();
        assert_eq!(user.base.id, id, "the new table reuses the id");

        let took = within(Duration::from_secs(5), async || {
            User::by_id(&reader, id).await.is_ok_and(|user| user.age == 7)
        })
        .await;
        eprintln!("{backend:?}: the other handle saw the new table after {took:?}");
        assert!(took.is_some(), "the other handle still serves the dropped table's row");
        drop((reader, fresh, proxy));
        t.finish().await;
    }
}

partition_tests! {
    /// Strict under partition: a writer cut off from Redis (the other handle
    /// still on it) returns only once its invalidations were applied — here by
    /// the other handle's drain — so the other handle's first read after the
    /// write returned sees it: a save, a transaction and an insert. Before,
    /// the save returned at once and the other handle read the old row and
    /// list until its next drain.
    async fn a_write_cut_off_from_redis_is_seen_as_soon_as_it_returns(backend) {
        let Some(CutOff { t, id, proxy, reader, writer, .. }) = CutOff::new(backend, |b| b).await else { return };

        proxy.hang();
        let mut user = User::by_id(&writer, id).await.unwrap();
        user.age = 2;
        let started = Instant::now();
        user.save(&writer).await.unwrap();
        let save = started.elapsed();
        assert!(reader_sees(&reader, id, 2).await, "the old row or list after the save returned");

        let started = Instant::now();
        let tx = writer.begin().await.unwrap();
        let mut user = User::by_id(&tx, id).await.unwrap();
        user.age = 3;
        user.save(&tx).await.unwrap();
        tx.commit().await.unwrap();
        let transaction = started.elapsed();
        assert!(reader_sees(&reader, id, 3).await, "the old row or list after the commit returned");

        let names_a = User::query().filter(User::NAME.eq("A"));
        let started = Instant::now();
        User::new("b@x", "A", 9).save(&writer).await.unwrap();
        let insert = started.elapsed();
        assert_eq!(names_a.count(&reader).await.unwrap(), 2, "the old list after the insert returned");
        eprintln!("{backend:?}: cut off from Redis, a save took {save:?}, a transaction {transaction:?}, an insert {insert:?}");
        drop((reader, writer, proxy));
        t.finish().await;
    }

    /// When no process applies a cut-off writer's invalidations within the
    /// outbox timeout, the write fails with `Error::CacheNotTold`, which says
    /// it committed (the value keeps what it saved). A process started after
    /// that applies the outbox before its first read, and never serves the
    /// old cached row or list.
    async fn a_write_no_process_can_apply_is_cache_not_told(backend) {
        let timeout = |b: thing::DbBuilder| b.outbox_timeout(Duration::from_millis(500));
        let Some(CutOff { t, id, proxy, reader, writer, prefix }) = CutOff::new(backend, timeout).await else { return };
        drop(reader); // the only other process ends

        proxy.hang();
        let mut user = User::by_id(&writer, id).await.unwrap();
        user.age = 2;
        let started = Instant::now();
        let err = user.save(&writer).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, thing::Error::CacheNotTold { .. }) && err.is_committed(), "{err:?}");
        assert!(took >= Duration::from_millis(500), "{took:?}");
        eprintln!("{backend:?}: unconfirmed after {took:?}: {err}");
        let fresh = Db::builder(&t.url).no_cache().build().await.unwrap();
        assert_eq!(User::by_id(&fresh, id).await.unwrap().age, 2, "committed");
        user.bio = Some("again".into());
        user.save(&fresh).await.unwrap();
        assert_eq!(User::by_id(&fresh, id).await.unwrap().age, 2, "the value kept what it saved");

        let quiet = |b: thing::DbBuilder| b.outbox_interval(Duration::from_secs(3600));
        let late = redis_handle_with(&t, &redis_url(), &prefix, quiet).await;
        assert!(reader_sees(&late, id, 2).await, "a new process served the old row or list");
        drop((late, writer, fresh, proxy));
        t.finish().await;
    }

    /// Two handles cut off from Redis together: a write nobody can apply is
    /// `CacheNotTold`, and its process ends; the other handle reads the
    /// database meanwhile, and once Redis is back it applies the outbox
    /// before it reads from Redis again, so it never serves the old row it had
    /// cached (it does not drain in the background here).
    async fn a_handle_cut_off_applies_the_outbox_before_it_reads_redis_again(backend) {
        if !redis_available() {
            return;
        }
        let Some(t) = TestDb::new(backend).await else { return };
        let id = one_user(&t).await;
        let prefix = unique_name();
        let proxy = Proxy::in_front_of(&redis_url()).await;
        let url = proxy.url_for(&redis_url());
        let quiet = |b: thing::DbBuilder| {
            b.outbox_interval(Duration::from_secs(3600)).outbox_timeout(Duration::from_millis(300))
        };
        let reader = redis_handle_with(&t, &url, &prefix, quiet).await;
        let writer = redis_handle_with(&t, &url, &prefix, quiet).await;
        assert!(reader_sees(&reader, id, 1).await);
        assert!(reader_sees(&reader, id, 1).await, "now cached");

        proxy.hang();
        let mut user = User::by_id(&writer, id).await.unwrap();
        user.age = 2;
        let err = user.save(&writer).await.unwrap_err();
        assert!(matches!(err, thing::Error::CacheNotTold { .. }), "{err:?}");
        drop(writer); // its process ends, and with it its own retries
        if NEAR.get() {
            // Cut off too, a near tier serves what it holds until its lease
            // runs out (its heartbeat fails within half a lease), as the
            // error says: the old value until the outbox is applied.
            let took = within(NearOptions::DEFAULT_LEASE, async || reader_sees(&reader, id, 2).await).await;
            assert!(took.is_some(), "the near tier served the old row past its lease");
        }
        assert!(reader_sees(&reader, id, 2).await, "cut off, the reader reads the database");

        // Redis is back; what was held on the way is dropped, not delivered.
        proxy.reset();
        proxy.resume();
        let until = Instant::now() + Duration::from_secs(3);
        let mut through_redis = 0;
        while Instant::now() < until {
            reader.reset_stats();
            assert!(reader_sees(&reader, id, 2).await, "the old row or list, from Redis");
            through_redis += reader.stats().cache_round_trips;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(through_redis > 0, "the reader went back to Redis");
        drop((reader, proxy));
        t.finish().await;
    }
}
