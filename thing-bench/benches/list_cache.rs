//! List cache benchmark.
//!
//! 1. Hit rate: a 95 % read / 5 % write mix over 50 distinct queries (one per
//!    team, ordered by age), measured from `db.stats()`, beside the hit rate a
//!    flush-the-table strategy would have had on the same operations (every
//!    write drops every list of the table; simulated exactly, by tracking for
//!    each query whether a write happened since it was last filled); then the
//!    same mix over 16 range queries (an age band each).
//! 2. `fetch(0, 20)` all hits: cache round trips, and time against the same
//!    query in raw sqlx, interleaved as `shared/notes/benchmarking.md` asks.
//! 3. Whole lists longer than the cached window (about 250, 1 000 and 2 000
//!    rows): `all()` against ids from SQL then the cached rows, and raw sqlx.
//!
//! ```text
//! cargo bench -p thing-bench --bench list_cache
//! ```

use thing::cache::RedisCache;
use thing::sqlx::{self, Row};
use thing::{BaseModel, Db, Thing};
use thing_bench::{Contender, Plan, Rng, interleave, report, time_async};

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "bench_items")]
struct BenchItem {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    team: i64,
    name: String,
    age: i32,
}

const TEAMS: i64 = 50;
const ROWS: i64 = 2_000;
const OPERATIONS: usize = 10_000;

/// A range of ages: a list without an indexed equality, which depends on the
/// `age` column and the table's membership.
fn age_query(band: i64) -> thing::Query<BenchItem> {
    let from = (band % 16) as i32 * 5;
    BenchItem::query()
        .filter(BenchItem::AGE.ge(from) & BenchItem::AGE.lt(from + 5))
        .order_by(BenchItem::AGE.desc())
}

fn team_query(team: i64) -> thing::Query<BenchItem> {
    BenchItem::query()
        .filter(BenchItem::TEAM.eq(team))
        .order_by(BenchItem::AGE.desc())
}

/// Every row younger than `age`, oldest first: a list longer than the cache's
/// 200-id window once `age` passes about 8.
fn younger_query(age: i32) -> thing::Query<BenchItem> {
    BenchItem::query()
        .filter(BenchItem::AGE.lt(age))
        .order_by(BenchItem::AGE.desc())
}

/// The same rows in raw sqlx, decoded by hand.
async fn raw_younger(pool: &sqlx::PgPool, age: i32) -> Vec<BenchItem> {
    sqlx::query(
        "SELECT id, created_at, updated_at, deleted, team, name, age FROM bench_items \
         WHERE age < $1 AND deleted = FALSE ORDER BY age DESC, id ASC",
    )
    .bind(age)
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|row| BenchItem {
        base: thing_bench::base_model(row),
        team: row.get(4),
        name: row.get(5),
        age: row.get(6),
    })
    .collect()
}

/// The same page in raw sqlx, decoded by hand.
async fn raw_page(pool: &sqlx::PgPool, team: i64) -> Vec<BenchItem> {
    sqlx::query(
        "SELECT id, created_at, updated_at, deleted, team, name, age FROM bench_items \
         WHERE team = $1 AND deleted = FALSE ORDER BY age DESC NULLS LAST, id ASC LIMIT 20",
    )
    .bind(team)
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|row| BenchItem {
        base: thing_bench::base_model(row),
        team: row.get(4),
        name: row.get(5),
        age: row.get(6),
    })
    .collect()
}

/// Runs the 95/5 mix over `queries` lists of `query`: Thing's list hit rate,
/// the simulated flush-the-table hit rate, reads and writes. Each mix needs its
/// own `seed`: replaying another mix's writes would write values already there
/// (no SQL, nothing to invalidate).
async fn hit_rate(
    db: &Db,
    query: fn(i64) -> thing::Query<BenchItem>,
    queries: i64,
    seed: u64,
) -> (f64, f64, u64, u64) {
    let mut rng = Rng(seed);
    // For the flush-the-table simulation: whether each query's list would
    // still be cached (filled since the last write).
    let mut flush_cached = vec![false; queries as usize];
    let (mut flush_hits, mut reads, mut writes) = (0u64, 0u64, 0u64);
    db.reset_stats();
    for _ in 0..OPERATIONS {
        if rng.below(100) < 95 {
            let which = rng.below(queries as u64) as i64;
            query(which).fetch(db, 0, 20).await.unwrap();
            reads += 1;
            if flush_cached[which as usize] {
                flush_hits += 1;
            }
            flush_cached[which as usize] = true;
        } else {
            let id = 1 + rng.below(ROWS as u64) as i64;
            let mut item = BenchItem::by_id(db, id).await.unwrap();
            match rng.below(3) {
                0 => item.team = rng.below(TEAMS as u64) as i64,
                1 => item.age = rng.below(80) as i32,
                _ => item.name = format!("renamed {}", rng.below(1000)),
            }
            item.save(db).await.unwrap();
            writes += 1;
            flush_cached.fill(false);
        }
    }
    let stats = db.stats();
    (
        stats.query_hits as f64 / reads as f64,
        flush_hits as f64 / reads as f64,
        reads,
        writes,
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plan = Plan::from_env();
    let redis_url = thing_bench::redis_url();
    let database = runtime.block_on(thing_bench::BenchDatabase::create("thing_bench_lists"));
    let url = database.url.clone();

    for cache in ["memory", "redis"] {
        let db = runtime.block_on(async {
            let builder = Db::builder(&url)
                .key_prefix(format!("thing-bench-lists:{}:{cache}", std::process::id()))
                .max_connections(4);
            let builder = match cache {
                "redis" => builder.cache(RedisCache::connect(&redis_url).await.expect("Redis")),
                _ => builder,
            };
            let db = builder.build().await.unwrap();
            db.drop_table::<BenchItem>().await.unwrap();
            db.create_table::<BenchItem>().await.unwrap();
            let mut rng = Rng(42);
            let mut items: Vec<BenchItem> = (0..ROWS)
                .map(|i| BenchItem {
                    team: i % TEAMS,
                    name: format!("item {i}"),
                    age: rng.below(80) as i32,
                    ..Default::default()
                })
                .collect();
            BenchItem::save_many(&db, &mut items).await.unwrap();
            db
        });

        // 1. Hit rate under a 95 % read / 5 % write mix, on equality lists
        //    (precise by value) and on range lists (by column).
        let mixes = [
            (
                "TEAM.eq(t)",
                team_query as fn(i64) -> thing::Query<BenchItem>,
                TEAMS,
                7,
            ),
            ("AGE in a 5-year band", age_query, 16, 8),
        ];
        for (kind, query, queries, seed) in mixes {
            let (precise, flush, reads, writes) =
                runtime.block_on(hit_rate(&db, query, queries, seed));
            println!(
                "\n### {cache}: hit rate of {kind}, {reads} reads / {writes} writes\n\n\
                 | strategy | list hit rate |\n|---|---:|\n\
                 | Thing (stamps) | {:.1} % |\n\
                 | flush the table on every write (simulated) | {:.1} % |",
                precise * 100.0,
                flush * 100.0
            );
        }

        // 2. fetch(0, 20), all hits, vs the same page in raw sqlx.
        let pool = db.as_postgres().unwrap().clone();
        runtime.block_on(async {
            for team in 0..TEAMS {
                let expected = raw_page(&pool, team).await;
                assert_eq!(team_query(team).fetch(&db, 0, 20).await.unwrap(), expected);
            }
            db.reset_stats();
            team_query(3).fetch(&db, 0, 20).await.unwrap();
            let stats = db.stats();
            println!(
                "\nfetch(0, 20), all cached ({cache}): {} cache round trip(s), {} SQL statement(s)",
                stats.cache_round_trips,
                stats.statements()
            );
            assert_eq!(stats.statements(), 0);
        });
        let team = std::cell::Cell::new(0i64);
        let next_team = || {
            team.set((team.get() + 1) % TEAMS);
            team.get()
        };
        let summaries = interleave(
            plan,
            vec![
                Contender::new("raw sqlx page (20 rows)", |n| {
                    time_async(&runtime, n, || async {
                        std::hint::black_box(raw_page(&pool, next_team()).await);
                    })
                }),
                Contender::new("thing fetch(0, 20), cached", |n| {
                    time_async(&runtime, n, || async {
                        std::hint::black_box(
                            team_query(next_team()).fetch(&db, 0, 20).await.unwrap(),
                        );
                    })
                }),
            ],
        );
        report(
            &format!("fetch(0, 20): {cache} cache, all hits"),
            &summaries,
        );
        // 3. Lists past the cached window, whole: `all()` (the rows from SQL
        //    through Redis or past 1 500 rows, else ids then the cached rows)
        //    against ids from SQL then the cached rows, at three lengths.
        for age in [10, 40, 80] {
            let expected = runtime.block_on(raw_younger(&pool, age));
            let query = younger_query(age);
            runtime.block_on(async {
                assert_eq!(query.all(&db).await.unwrap(), expected);
                let ids = query.ids(&db).await.unwrap();
                assert_eq!(BenchItem::by_ids(&db, &ids).await.unwrap(), expected);
            });
            let summaries = interleave(
                plan,
                vec![
                    Contender::new("raw sqlx rows", |n| {
                        time_async(&runtime, n, || async {
                            std::hint::black_box(raw_younger(&pool, age).await);
                        })
                    }),
                    Contender::new("thing all()", |n| {
                        time_async(&runtime, n, || async {
                            std::hint::black_box(query.all(&db).await.unwrap());
                        })
                    }),
                    Contender::new("ids from SQL, then the cached rows", |n| {
                        time_async(&runtime, n, || async {
                            let ids = query.ids(&db).await.unwrap();
                            std::hint::black_box(BenchItem::by_ids(&db, &ids).await.unwrap());
                        })
                    }),
                ],
            );
            report(
                &format!(
                    "all() of {} rows past the window: {cache} cache",
                    expected.len()
                ),
                &summaries,
            );
        }
        drop((db, pool));
    }

    runtime.block_on(async {
        database.drop().await;
    });
}
