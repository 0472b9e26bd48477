//! Faults: databases that restart or stop answering, a Redis that hangs, and a
//! writer cut off from Redis while the others still use it. Every fault is
//! forced through a private proxy or a private `redis-server`; the shared
//! servers are never stopped or reconfigured.

use std::time::{Duration, Instant};
use thing::cache::RedisCache;
use thing::{Db, Thing};
use thing_tests::fault::{PrivateRedis, scopeguard};
use thing_tests::models::User;
use thing_tests::{Backend, TestDb};

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

/// A table of users with one row, and that row's id.
async fn one_user(t: &TestDb) -> i64 {
    t.db.create_table::<User>().await.unwrap();
    let mut user = User::new("a@x", "A", 1);
    user.save(&t.db).await.unwrap();
    user.base.id
}

/// Times `rounds` of by_id, save and fetch on `db`.
async fn workload(db: &Db, id: i64, rounds: usize) -> Duration {
    let started = Instant::now();
    for round in 0..rounds {
        let mut user = User::by_id(db, id).await.unwrap();
        user.views = round as i64;
        user.save(db).await.unwrap();
        User::query().filter(User::AGE.ge(0)).all(db).await.unwrap();
    }
    started.elapsed()
}

all_backends! {
    /// While Redis hangs, operations cost about what the database path costs:
    /// after the first timeout the cache is skipped rather than waited for.
    async fn a_hung_redis_costs_about_what_the_database_costs(backend) {
        let Some(server) = PrivateRedis::start_or_skip("a_hung_redis_costs") else { return };
        let Some(t) = TestDb::new(backend).await else { return };
        let id = one_user(&t).await;
        let cached = Db::builder(&t.url)
            .cache(RedisCache::connect(&server.url()).await.unwrap())
            .build()
            .await
            .unwrap();
        let uncached = Db::builder(&t.url).no_cache().build().await.unwrap();
        workload(&cached, id, 3).await;
        workload(&uncached, id, 3).await;

        server.signal("-STOP");
        let resumed = scopeguard(|| server.signal("-CONT"));
        // The first call waits for the command timeout and opens the breaker.
        let first = workload(&cached, id, 1).await;
        let rounds = 20;
        let hung = workload(&cached, id, rounds).await;
        let database = workload(&uncached, id, rounds).await;
        drop(resumed);
        eprintln!(
            "{backend:?}: first round with Redis hung {first:?}; then {rounds} rounds {hung:?}, \
             without a cache {database:?} ({:.2}x)",
            hung.as_secs_f64() / database.as_secs_f64()
        );
        // Without a breaker every round waits for a 250 ms command timeout or
        // a 1 s connect timeout (5 s or more over 20 rounds); with one, only the
        // first does, and a probe after each one-second cool-down.
        assert!(first < Duration::from_secs(3), "first round: {first:?}");
        assert!(
            hung < database * 3 + Duration::from_millis(1500),
            "hung Redis: {hung:?}, database alone: {database:?}"
        );
        drop((cached, uncached));
        t.finish().await;
    }
}
