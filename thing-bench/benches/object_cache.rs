//! Object cache benchmark: Thing's cached `by_id`/`by_ids` against the raw
//! work it wraps, interleaved in one process (see `thing_bench`).
//!
//! ```text
//! cargo bench -p thing-bench --bench object_cache
//! ```
//!
//! Needs PostgreSQL (`THING_BENCH_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) and Redis (`THING_BENCH_REDIS_URL`,
//! default `redis://127.0.0.1:6379`). It creates and drops a database of its own
//! and uses a key prefix of its own.

use deadpool_redis::redis::{self, AsyncCommands};
use thing::cache::{Cache, MemoryCache, RedisCache};
use thing::sqlx::{self, Row};
use thing::{BaseModel, Db, Thing};
use thing_bench::{Contender, Plan, interleave, report, time_async};

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "bench_users")]
struct BenchUser {
    #[thing(base)]
    base: BaseModel,
    email: String,
    name: String,
    age: i32,
    bio: Option<String>,
    views: i64,
}

/// A raw sqlx read of the same row, decoded by hand as an application would.
async fn raw_select(pool: &sqlx::PgPool, id: i64) -> BenchUser {
    let row = sqlx::query(
        "SELECT id, created_at, updated_at, deleted, email, name, age, bio, views \
         FROM bench_users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap();
    BenchUser {
        base: thing_bench::base_model(&row),
        email: row.get(4),
        name: row.get(5),
        age: row.get(6),
        bio: row.get(7),
        views: row.get(8),
    }
}

/// Where the row bytes start in a cached row: after the kind byte, the table's
/// epoch and the schema hash (8 bytes each).
const ROW_START: usize = 1 + 8 + 8;

/// Rows in the table, all cached: enough that the cache's entries do not sit
/// in the processor's caches.
const ROWS: usize = 10_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plan = Plan::from_env();
    let redis_url = thing_bench::redis_url();
    let prefix = format!("thing-bench:{}", std::process::id());

    let database = runtime.block_on(thing_bench::BenchDatabase::create("thing_bench"));
    let url = database.url.clone();

    let memory = MemoryCache::new(100_000);
    let (db_redis, db_memory, ids, mut redis_conn) = runtime.block_on(async {
        let redis_cache = RedisCache::connect(&redis_url).await.expect("Redis");
        let db_redis = Db::builder(&url)
            .cache(redis_cache)
            .key_prefix(prefix.clone())
            .max_connections(4)
            .build()
            .await
            .unwrap();
        let db_memory = Db::builder(&url)
            .cache(memory.clone())
            .key_prefix(prefix.clone())
            .max_connections(4)
            .build()
            .await
            .unwrap();
        db_redis.create_table::<BenchUser>().await.unwrap();
        let mut users: Vec<BenchUser> = (0..ROWS as i32)
            .map(|i| BenchUser {
                email: format!("user{i}@example.com"),
                name: format!("User {i}"),
                age: i % 90,
                bio: (i % 3 == 0).then(|| "likes benchmarks".to_owned()),
                views: i64::from(i) * 7,
                ..Default::default()
            })
            .collect();
        BenchUser::save_many(&db_redis, &mut users).await.unwrap();
        let ids: Vec<i64> = users.iter().map(|user| user.base.id).collect();
        // Warm both caches.
        BenchUser::by_ids(&db_redis, &ids).await.unwrap();
        BenchUser::by_ids(&db_memory, &ids).await.unwrap();
        let client = redis::Client::open(redis_url.as_str()).unwrap();
        let conn = client.get_multiplexed_async_connection().await.unwrap();
        (db_redis, db_memory, ids, conn)
    });
    let id = ids[0];
    let key = db_redis.cache_key::<BenchUser>(id).unwrap();
    let hundred: Vec<i64> = ids[..100].to_vec();
    let hundred_keys: Vec<String> = hundred
        .iter()
        .map(|&id| db_redis.cache_key::<BenchUser>(id).unwrap())
        .collect();
    let pool = db_memory.as_postgres().unwrap().clone();

    // Check every contender's answer before timing anything.
    runtime.block_on(async {
        let expected = raw_select(&pool, id).await;
        let bytes: Vec<u8> = redis_conn.get(&key).await.unwrap();
        assert_eq!(
            BenchUser::decode_row(&bytes[ROW_START..]).unwrap(),
            expected
        );
        assert_eq!(BenchUser::by_id(&db_redis, id).await.unwrap(), expected);
        assert_eq!(BenchUser::by_id(&db_memory, id).await.unwrap(), expected);
        let many: Vec<Vec<u8>> = redis_conn.mget(&hundred_keys).await.unwrap();
        assert_eq!(many.len(), 100);
        assert_eq!(
            BenchUser::by_ids(&db_redis, &hundred).await.unwrap().len(),
            100
        );
        db_redis.reset_stats();
        BenchUser::by_ids(&db_redis, &hundred).await.unwrap();
        let stats = db_redis.stats();
        println!(
            "by_ids(100), all cached in Redis: {} cache round trip(s), {} SQL statement(s)",
            stats.cache_round_trips,
            stats.statements()
        );
        assert_eq!((stats.cache_round_trips, stats.statements()), (1, 0));
    });
    println!(
        "plan: {} rounds of ~{} ms per contender",
        plan.rounds,
        plan.round_time.as_millis()
    );

    let cached_bytes = runtime.block_on(async {
        let bytes: Vec<u8> = redis_conn.get(&key).await.unwrap();
        bytes
    });
    // Every row's cached bytes, for the floor of hits spread over all keys.
    let all_bytes: Vec<Vec<u8>> = runtime.block_on(async {
        let mut all = Vec::with_capacity(ROWS);
        for chunk in ids.chunks(1_000) {
            let keys: Vec<String> = chunk
                .iter()
                .map(|&id| db_redis.cache_key::<BenchUser>(id).unwrap())
                .collect();
            let many: Vec<Vec<u8>> = redis_conn.mget(&keys).await.unwrap();
            all.extend(many);
        }
        all
    });
    assert_eq!(all_bytes.len(), ROWS);

    // THING_BENCH_CASE=<substring> runs only the matching cases (for profiling).
    let only = std::env::var("THING_BENCH_CASE").unwrap_or_default();
    let wanted = |case: &str| case.contains(only.as_str());

    // 1. by_id, Redis hit, vs a raw GET + decode.
    if wanted("by_id: Redis hit") {
        let conn = redis_conn.clone();
        let summaries = interleave(
            plan,
            vec![
                Contender::new("raw Redis GET + decode", |n| {
                    time_async(&runtime, n, || {
                        let mut conn = conn.clone();
                        let key = key.clone();
                        async move {
                            let bytes: Vec<u8> = conn.get(&key).await.unwrap();
                            std::hint::black_box(
                                BenchUser::decode_row(&bytes[ROW_START..]).unwrap(),
                            );
                        }
                    })
                }),
                Contender::new("thing by_id (RedisCache hit)", |n| {
                    time_async(&runtime, n, || async {
                        std::hint::black_box(BenchUser::by_id(&db_redis, id).await.unwrap());
                    })
                }),
            ],
        );
        report("by_id: Redis hit", &summaries);
    }

    // 2. by_id, memory hit, vs decoding the same bytes (the floor).
    if wanted("by_id: memory hit") {
        let summaries = interleave(
            plan,
            vec![
                Contender::new("decode row bytes only", |n| {
                    time_async(&runtime, n, || async {
                        std::hint::black_box(
                            BenchUser::decode_row(&cached_bytes[ROW_START..]).unwrap(),
                        );
                    })
                }),
                Contender::new("thing by_id (MemoryCache hit)", |n| {
                    time_async(&runtime, n, || async {
                        std::hint::black_box(BenchUser::by_id(&db_memory, id).await.unwrap());
                    })
                }),
            ],
        );
        report("by_id: memory hit", &summaries);
    }

    // 3. by_id, miss, vs a raw sqlx select on the same pool.
    if wanted("by_id: miss (memory cache) vs raw sqlx") {
        let keys = [key.clone()];
        let summaries = interleave(
            plan,
            vec![
                Contender::new("raw sqlx SELECT + decode", |n| {
                    time_async(&runtime, n, || async {
                        std::hint::black_box(raw_select(&pool, id).await);
                    })
                }),
                Contender::new("thing by_id (MemoryCache miss)", |n| {
                    time_async(&runtime, n, || async {
                        memory.invalidate(&keys).await.unwrap();
                        std::hint::black_box(BenchUser::by_id(&db_memory, id).await.unwrap());
                    })
                }),
            ],
        );
        report("by_id: miss (memory cache) vs raw sqlx", &summaries);
    }

    // 4. by_ids(100), all Redis hits, vs a raw MGET + decode.
    if wanted("by_ids(100): Redis hits") {
        let conn = redis_conn.clone();
        let summaries = interleave(
            plan,
            vec![
                Contender::new("raw Redis MGET(100) + decode", |n| {
                    time_async(&runtime, n, || {
                        let mut conn = conn.clone();
                        let keys = &hundred_keys;
                        async move {
                            let many: Vec<Vec<u8>> = conn.mget(keys).await.unwrap();
                            for bytes in &many {
                                std::hint::black_box(
                                    BenchUser::decode_row(&bytes[ROW_START..]).unwrap(),
                                );
                            }
                        }
                    })
                }),
                Contender::new("thing by_ids(100) (RedisCache hits)", |n| {
                    time_async(&runtime, n, || async {
                        std::hint::black_box(BenchUser::by_ids(&db_redis, &hundred).await.unwrap());
                    })
                }),
            ],
        );
        report("by_ids(100): Redis hits", &summaries);
    }

    // 5. by_id, memory hits spread over every key, vs decoding the same bytes.
    if wanted("by_id: memory hits over 10 000 keys") {
        let mut next_floor = 0usize;
        let mut next_hit = 0usize;
        let summaries = interleave(
            plan,
            vec![
                Contender::new("decode the row bytes, keys in turn", |n| {
                    time_async(&runtime, n, || {
                        next_floor = (next_floor + 7919) % ROWS;
                        let bytes = &all_bytes[next_floor];
                        async move {
                            std::hint::black_box(
                                BenchUser::decode_row(&bytes[ROW_START..]).unwrap(),
                            );
                        }
                    })
                }),
                Contender::new("thing by_id (MemoryCache hit, keys in turn)", |n| {
                    time_async(&runtime, n, || {
                        next_hit = (next_hit + 7919) % ROWS;
                        let (db, id) = (&db_memory, ids[next_hit]);
                        async move {
                            std::hint::black_box(BenchUser::by_id(db, id).await.unwrap());
                        }
                    })
                }),
            ],
        );
        report("by_id: memory hits over 10 000 keys", &summaries);
    }

    // 6. by_ids(1 000), all memory hits, vs decoding the same bytes.
    if wanted("by_ids(1000): memory hits") {
        let thousand: Vec<i64> = ids.iter().step_by(10).copied().collect();
        let summaries = interleave(
            plan,
            vec![
                Contender::new("decode 1 000 rows' bytes", |n| {
                    time_async(&runtime, n, || async {
                        for bytes in all_bytes.iter().step_by(10) {
                            std::hint::black_box(
                                BenchUser::decode_row(&bytes[ROW_START..]).unwrap(),
                            );
                        }
                    })
                }),
                Contender::new("thing by_ids(1000) (MemoryCache hits)", |n| {
                    time_async(&runtime, n, || async {
                        std::hint::black_box(
                            BenchUser::by_ids(&db_memory, &thousand).await.unwrap(),
                        );
                    })
                }),
            ],
        );
        report("by_ids(1000): memory hits", &summaries);
    }

    runtime.block_on(async {
        let keys: Vec<String> = ids
            .iter()
            .map(|&id| db_redis.cache_key::<BenchUser>(id).unwrap())
            .collect();
        let _: () = redis_conn.del(&keys).await.unwrap();
        drop((db_redis, db_memory, pool));
        database.drop().await;
    });
}
