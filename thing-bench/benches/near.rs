//! The near tier of `RedisCache` beside Redis alone and raw sqlx, on
//! PostgreSQL and the shared Redis, interleaved (`shared/notes/benchmarking.md`):
//!
//! - reads: `by_id` over 10 000 warm rows, raw sqlx's `SELECT` the baseline;
//! - writes: `update(id).set(..)` of one column, raw sqlx's `UPDATE` the
//!   baseline, beside the bound (raw sqlx + 2 `GET`s), Redis alone, a near
//!   tier with no other live tier, and a near tier with one other live tier
//!   (a second near cache on the same prefix, in this process: its answers
//!   cross Redis as another process's would); and a near tier that tracks
//!   another prefix than its handle's keys, which takes no pushes for its
//!   own writes: what those pushes cost the writer.
//!
//! ```text
//! cargo bench -p thing-bench --bench near
//! ```

use deadpool_redis::redis::{self, aio::MultiplexedConnection};
use std::hint::black_box;
use std::time::Duration;
use thing::cache::{NearOptions, RedisCache};
use thing::{BaseModel, Db, Thing};
use thing_bench::{BenchDatabase, Contender, Plan, interleave, report, time_async, updating};
use tokio::runtime::Runtime;

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "near_rows")]
struct Row {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    team: i64,
    views: i64,
}

const ROWS: i64 = 10_000;

async fn near_cache(url: &str, prefix: &str) -> RedisCache {
    RedisCache::builder(url)
        .near(NearOptions::new().key_prefix(prefix))
        .build()
        .await
        .unwrap()
}

async fn handle(database: &str, cache: RedisCache, prefix: &str) -> Db {
    Db::builder(database)
        .cache(cache)
        .key_prefix(prefix)
        .build()
        .await
        .unwrap()
}

/// `by_id` of every row in turn on `db`.
fn reading<'a>(rt: &'a Runtime, db: &'a Db) -> impl FnMut(u64) -> Duration + 'a {
    let mut id = 0;
    move |n| {
        time_async(rt, n, || {
            id = id % ROWS + 1;
            async move {
                black_box(Row::by_id(db, id).await.unwrap());
            }
        })
    }
}

async fn get(conn: &MultiplexedConnection) {
    let mut conn = conn.clone();
    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg("near-bench:nothing")
        .query_async(&mut conn)
        .await
        .unwrap();
    black_box(value);
}

fn main() {
    // A worker thread, so that the near tiers' heartbeats run between batches.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let rt = &runtime;
    let database = rt.block_on(BenchDatabase::create("near"));
    let url = thing_bench::redis_url();
    let pid = std::process::id();
    let (redis_prefix, near_prefix, shared_prefix) = (
        format!("near-bench-redis:{pid}"),
        format!("near-bench-alone:{pid}"),
        format!("near-bench-shared:{pid}"),
    );
    let (pool, conn, redis_db, near_db, shared_db, _other_db, untracked_db) = rt.block_on(async {
        let pool = thing::sqlx::PgPool::connect(&database.url).await.unwrap();
        let conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let redis_db = handle(
            &database.url,
            RedisCache::connect(&url).await.unwrap(),
            &redis_prefix,
        )
        .await;
        redis_db.create_table::<Row>().await.unwrap();
        let mut rows: Vec<Row> = (0..ROWS)
            .map(|i| Row {
                team: i % 10,
                ..Default::default()
            })
            .collect();
        Row::save_many(&redis_db, &mut rows).await.unwrap();
        let near_db = handle(
            &database.url,
            near_cache(&url, &near_prefix).await,
            &near_prefix,
        )
        .await;
        let shared_db = handle(
            &database.url,
            near_cache(&url, &shared_prefix).await,
            &shared_prefix,
        )
        .await;
        let other_db = handle(
            &database.url,
            near_cache(&url, &shared_prefix).await,
            &shared_prefix,
        )
        .await;
        // Every row in Redis and in the near tier (a near tier keeps what a
        // lookup hits, not what it fills), and the other tier holding the
        // row the shared handle writes.
        for _ in 0..3 {
            for id in 1..=ROWS {
                Row::by_id(&redis_db, id).await.unwrap();
                Row::by_id(&near_db, id).await.unwrap();
            }
        }
        Row::by_id(&other_db, 3).await.unwrap();
        let untracked_db = handle(
            &database.url,
            near_cache(&url, &format!("near-bench-elsewhere:{pid}")).await,
            &format!("near-bench-untracked:{pid}"),
        )
        .await;
        (
            pool,
            conn,
            redis_db,
            near_db,
            shared_db,
            other_db,
            untracked_db,
        )
    });
    let raw_select = |n: u64| {
        let mut id = 0;
        time_async(rt, n, || {
            id = id % ROWS + 1;
            let pool = &pool;
            async move {
                let row = thing::sqlx::query("SELECT * FROM near_rows WHERE id = $1")
                    .bind(id)
                    .fetch_one(pool)
                    .await
                    .unwrap();
                black_box(row);
            }
        })
    };
    let reads = vec![
        Contender::new("raw sqlx SELECT by id", raw_select),
        Contender::new("Thing by_id, RedisCache", reading(rt, &redis_db)),
        Contender::new("Thing by_id, RedisCache + near", reading(rt, &near_db)),
    ];
    let summaries = interleave(Plan::from_env(), reads);
    report("PostgreSQL: by_id over 10 000 warm rows", &summaries);

    let raw_update = |gets: bool| {
        let (pool, conn) = (&pool, &conn);
        move |n: u64| {
            let mut views = 0;
            time_async(rt, n, || {
                views += 1;
                async move {
                    thing::sqlx::query("UPDATE near_rows SET views = $1 WHERE id = $2")
                        .bind(views)
                        .bind(1_i64)
                        .execute(pool)
                        .await
                        .unwrap();
                    if gets {
                        get(conn).await;
                        get(conn).await;
                    }
                }
            })
        }
    };
    let writes = vec![
        Contender::new("raw sqlx UPDATE", raw_update(false)),
        Contender::new("raw sqlx UPDATE + 2 GETs (bound)", raw_update(true)),
        Contender::new(
            "Thing update, RedisCache",
            updating(rt, &redis_db, 2, Row::VIEWS),
        ),
        Contender::new(
            "Thing update, near, no other tier",
            updating(rt, &near_db, 2, Row::VIEWS),
        ),
        Contender::new(
            "Thing update, near, one other live tier",
            updating(rt, &shared_db, 3, Row::VIEWS),
        ),
        Contender::new(
            "Thing update, near tracking another prefix (no own pushes)",
            updating(rt, &untracked_db, 4, Row::VIEWS),
        ),
    ];
    let summaries = interleave(Plan::from_env(), writes);
    report("PostgreSQL: update(id).set of one column", &summaries);
    rt.block_on(database.drop());
}
