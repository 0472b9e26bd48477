//! Write benchmark: what the cache protocol costs a write, beside the same
//! statements in raw sqlx, interleaved as `shared/notes/benchmarking.md` asks.
//!
//! 1. An update of one column of a row already in hand (`save`), against
//!    `UPDATE ... SET score = $1, updated_at = $2 WHERE id = $3` in raw sqlx,
//!    and the same `save` of a model that declares (no-op) hooks.
//! 2. `save_many` of 100 new rows (one transaction), against the same 100
//!    `INSERT`s in one raw sqlx transaction, and against one 100-row `INSERT`
//!    (what SeaORM and Diesel send).
//! 3. `delete_many` of 100 rows (soft, so that it can run again), against one
//!    raw `UPDATE ... WHERE id = ANY` and against 100 `UPDATE`s, each in a
//!    transaction.
//! 4. `save_many` of 100 new rows with `MemoryCache` against the same without a
//!    cache: what the cache's steps cost a batch.
//! 5. `delete_many` of 100 rows, soft, on MariaDB without a cache, against one
//!    raw `UPDATE … IN` and 100 `UPDATE`s.
//!
//! Each is run with `RedisCache`, `MemoryCache` and no cache; the cache round
//! trips and SQL statements of one operation are printed (from `db.stats()`)
//! before timing.
//!
//! ```text
//! cargo bench -p thing-bench --bench writes
//! ```
//!
//! `THING_BENCH_CASE=MariaDB` runs only case 5.

use thing::cache::RedisCache;
use thing::sqlx;
use thing::{BaseModel, Db, Hooks, Thing};
use thing_bench::{Contender, Plan, interleave, report, time_async};

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "bench_writes")]
struct BenchRow {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    team: i64,
    name: String,
    score: i64,
}

/// The same table, with hooks declared (`#[thing(hooks)]`) and left as the
/// no-op defaults: what calling the hooks costs a save.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "bench_writes", hooks)]
struct HookedRow {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    team: i64,
    name: String,
    score: i64,
}

impl Hooks for HookedRow {}

const BATCH: usize = 100;

fn batch(start: usize) -> Vec<BenchRow> {
    (0..BATCH)
        .map(|i| BenchRow {
            team: (i % 10) as i64,
            name: format!("row {}", start + i),
            score: i as i64,
            ..Default::default()
        })
        .collect()
}

async fn raw_update(pool: &sqlx::PgPool, id: i64, score: i64) {
    sqlx::query("UPDATE bench_writes SET score = $1, updated_at = $2 WHERE id = $3")
        .bind(score)
        .bind(chrono_now())
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
}

async fn raw_batch(pool: &sqlx::PgPool, rows: &[BenchRow]) {
    let mut tx = pool.begin().await.unwrap();
    for row in rows {
        sqlx::query(
            "INSERT INTO bench_writes (created_at, updated_at, deleted, team, name, score) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(chrono_now())
        .bind(chrono_now())
        .bind(false)
        .bind(row.team)
        .bind(&row.name)
        .bind(row.score)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The soft delete of `ids` in a transaction: one `UPDATE ... WHERE id = ANY`
/// (`at_once`), or one `UPDATE` per row (what `delete_many` sent before it
/// was one statement).
async fn raw_soft_delete(pool: &sqlx::PgPool, ids: &[i64], at_once: bool) {
    let mut tx = pool.begin().await.unwrap();
    if at_once {
        sqlx::query("UPDATE bench_writes SET deleted = true, updated_at = $1 WHERE id = ANY($2)")
            .bind(chrono_now())
            .bind(ids)
            .execute(&mut *tx)
            .await
            .unwrap();
    } else {
        for &id in ids {
            sqlx::query("UPDATE bench_writes SET deleted = true, updated_at = $1 WHERE id = $2")
                .bind(chrono_now())
                .bind(id)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// The same 100 rows in one multi-row `INSERT ... RETURNING id`, in a
/// transaction: what SeaORM and Diesel send for a batch.
async fn raw_batch_one_statement(pool: &sqlx::PgPool, rows: &[BenchRow]) {
    let mut sql = String::from(
        "INSERT INTO bench_writes (created_at, updated_at, deleted, team, name, score) VALUES ",
    );
    for i in 0..rows.len() {
        let n = i * 6;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6
        ));
    }
    sql.push_str(" RETURNING id");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        query = query
            .bind(chrono_now())
            .bind(chrono_now())
            .bind(false)
            .bind(row.team)
            .bind(row.name.clone())
            .bind(row.score);
    }
    let mut tx = pool.begin().await.unwrap();
    let ids = query.fetch_all(&mut *tx).await.unwrap();
    assert_eq!(ids.len(), rows.len());
    tx.commit().await.unwrap();
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plan = Plan::from_env();
    if std::env::var("THING_BENCH_CASE").is_ok_and(|case| case.contains("MariaDB")) {
        // Only case 5.
        mariadb_soft_delete_many(&runtime, plan);
        return;
    }
    let redis_url = thing_bench::redis_url();
    let database = runtime.block_on(thing_bench::BenchDatabase::create("thing_bench_writes"));
    let url = database.url.clone();

    for cache in ["redis", "memory", "none"] {
        let db = runtime.block_on(async {
            let builder = Db::builder(&url)
                .key_prefix(format!("thing-bench-writes:{}:{cache}", std::process::id()))
                .max_connections(4);
            let builder = match cache {
                "redis" => builder.cache(RedisCache::connect(&redis_url).await.expect("Redis")),
                "none" => builder.no_cache(),
                _ => builder,
            };
            let db = builder.build().await.unwrap();
            db.drop_table::<BenchRow>().await.unwrap();
            db.create_table::<BenchRow>().await.unwrap();
            db
        });
        let pool = db.as_postgres().unwrap().clone();

        // 1. Update one column of a row in hand.
        let row = runtime.block_on(async {
            let mut row = batch(0).remove(0);
            row.save(&db).await.unwrap();
            db.reset_stats();
            row.score += 1;
            row.save(&db).await.unwrap();
            let stats = db.stats();
            println!(
                "\nsave of one column ({cache}): {} cache round trip(s), {} SQL statement(s)",
                stats.cache_round_trips,
                stats.statements()
            );
            assert_eq!(
                BenchRow::by_id(&db, row.base.id).await.unwrap().score,
                row.score
            );
            row
        });
        let id = row.base.id;
        let hooked = runtime.block_on(async {
            let mut hooked = HookedRow {
                team: 3,
                ..Default::default()
            };
            hooked.save(&db).await.unwrap();
            hooked
        });
        let score = std::cell::Cell::new(0i64);
        let row = std::cell::RefCell::new(row);
        let hooked = std::cell::RefCell::new(hooked);
        let summaries = interleave(
            plan,
            vec![
                Contender::new("raw sqlx UPDATE", |n| {
                    time_async(&runtime, n, || async {
                        score.set(score.get() + 1);
                        raw_update(&pool, id, score.get()).await;
                    })
                }),
                Contender::new("thing save (one column)", |n| {
                    time_async(&runtime, n, || async {
                        // The raw contender changes `score` behind this
                        // row's snapshot; the save's guard is on `team` (the
                        // indexed column), which nothing changes, so each save
                        // stays one guarded UPDATE.
                        let mut saved = row.take();
                        saved.score += 1;
                        saved.save(&db).await.unwrap();
                        row.replace(saved);
                    })
                }),
                Contender::new("thing save, no-op hooks declared", |n| {
                    time_async(&runtime, n, || async {
                        let mut saved = hooked.take();
                        saved.score += 1;
                        saved.save(&db).await.unwrap();
                        hooked.replace(saved);
                    })
                }),
            ],
        );
        report(&format!("update one column: {cache}"), &summaries);

        // 2. save_many of 100 new rows.
        runtime.block_on(async {
            let mut rows = batch(1);
            db.reset_stats();
            BenchRow::save_many(&db, &mut rows).await.unwrap();
            let stats = db.stats();
            println!(
                "\nsave_many({BATCH}) ({cache}): {} cache round trip(s), {} SQL statement(s)",
                stats.cache_round_trips,
                stats.statements()
            );
        });
        let next = std::cell::Cell::new(1_000usize);
        let summaries = interleave(
            plan,
            vec![
                Contender::new("raw sqlx: 100 INSERTs in a transaction", |n| {
                    time_async(&runtime, n, || async {
                        next.set(next.get() + BATCH);
                        raw_batch(&pool, &batch(next.get())).await;
                    })
                }),
                Contender::new("raw sqlx: one 100-row INSERT in a transaction", |n| {
                    time_async(&runtime, n, || async {
                        next.set(next.get() + BATCH);
                        raw_batch_one_statement(&pool, &batch(next.get())).await;
                    })
                }),
                Contender::new("thing save_many(100)", |n| {
                    time_async(&runtime, n, || async {
                        next.set(next.get() + BATCH);
                        let mut rows = batch(next.get());
                        BenchRow::save_many(&db, &mut rows).await.unwrap();
                    })
                }),
            ],
        );
        report(&format!("save_many(100): {cache}"), &summaries);

        // 3. delete_many of 100 rows (soft, so that it can run again).
        let doomed = runtime.block_on(async {
            let mut rows = batch(10_000_000);
            BenchRow::save_many(&db, &mut rows).await.unwrap();
            db.reset_stats();
            BenchRow::delete_many(&db, &rows).await.unwrap();
            let stats = db.stats();
            println!(
                "\ndelete_many({BATCH}) ({cache}): {} cache round trip(s), {} SQL statement(s)",
                stats.cache_round_trips,
                stats.statements()
            );
            rows
        });
        let ids: Vec<i64> = doomed.iter().map(|row| row.base.id).collect();
        let summaries = interleave(
            plan,
            vec![
                Contender::new("raw sqlx: one UPDATE ... = ANY in a transaction", |n| {
                    time_async(&runtime, n, || raw_soft_delete(&pool, &ids, true))
                }),
                Contender::new("raw sqlx: 100 UPDATEs in a transaction", |n| {
                    time_async(&runtime, n, || raw_soft_delete(&pool, &ids, false))
                }),
                Contender::new("thing delete_many(100)", |n| {
                    time_async(&runtime, n, || async {
                        BenchRow::delete_many(&db, &doomed).await.unwrap();
                    })
                }),
            ],
        );
        report(&format!("delete_many(100), soft: {cache}"), &summaries);
        drop((db, pool));
    }

    cache_share_of_a_batch(&runtime, plan, &url);
    runtime.block_on(async {
        database.drop().await;
    });
    mariadb_soft_delete_many(&runtime, plan);
}

/// 5. `delete_many` of 100 rows, soft, on MariaDB, no cache: with no `UPDATE
///    … RETURNING` there, Thing reads the rows locked, then updates them,
///    against one raw `UPDATE … IN` and 100 raw `UPDATE`s, each in a
///    transaction (the table `bench_writes` in `THING_BENCH_MYSQL_URL`,
///    default the local `test`, dropped at the end).
fn mariadb_soft_delete_many(runtime: &tokio::runtime::Runtime, plan: Plan) {
    let url = std::env::var("THING_BENCH_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let (db, rows) = runtime.block_on(async {
        let db = Db::builder(&url)
            .no_cache()
            .max_connections(4)
            .build()
            .await
            .unwrap();
        db.drop_table::<BenchRow>().await.unwrap();
        db.create_table::<BenchRow>().await.unwrap();
        let mut rows = batch(0);
        BenchRow::save_many(&db, &mut rows).await.unwrap();
        db.reset_stats();
        BenchRow::delete_many(&db, &rows).await.unwrap();
        println!(
            "\ndelete_many({BATCH}) (MariaDB, no cache): {} SQL statement(s)",
            db.stats().statements()
        );
        (db, rows)
    });
    let pool = db.as_mysql().unwrap().clone();
    let ids: Vec<i64> = rows.iter().map(|row| row.base.id).collect();
    let raw = |at_once: bool| {
        let (pool, ids) = (&pool, &ids);
        async move {
            let mut tx = pool.begin().await.unwrap();
            let update = "UPDATE bench_writes SET deleted = true, updated_at = ? WHERE id";
            if at_once {
                let marks = vec!["?"; ids.len()].join(", ");
                let sql = format!("{update} IN ({marks})");
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(chrono_now());
                for id in ids {
                    query = query.bind(id);
                }
                query.execute(&mut *tx).await.unwrap();
            } else {
                for id in ids {
                    let sql = format!("{update} = ?");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(chrono_now())
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                }
            }
            tx.commit().await.unwrap();
        }
    };
    let summaries = interleave(
        plan,
        vec![
            Contender::new("raw sqlx: one UPDATE ... IN in a transaction", |n| {
                time_async(runtime, n, || raw(true))
            }),
            Contender::new("raw sqlx: 100 UPDATEs in a transaction", |n| {
                time_async(runtime, n, || raw(false))
            }),
            Contender::new("thing delete_many(100)", |n| {
                time_async(runtime, n, || async {
                    BenchRow::delete_many(&db, &rows).await.unwrap();
                })
            }),
        ],
    );
    report("delete_many(100), soft: MariaDB, no cache", &summaries);
    runtime.block_on(db.drop_table::<BenchRow>()).unwrap();
}

/// 4. What `MemoryCache` adds to `save_many` of 100 new rows: two handles on
///    the same table, one with the cache and one without, interleaved.
fn cache_share_of_a_batch(runtime: &tokio::runtime::Runtime, plan: Plan, url: &str) {
    let (none, memory) = runtime.block_on(async {
        let builder = || Db::builder(url).max_connections(4);
        let none = builder().no_cache().build().await.unwrap();
        none.drop_table::<BenchRow>().await.unwrap();
        none.create_table::<BenchRow>().await.unwrap();
        (none, builder().build().await.unwrap())
    });
    let next = std::cell::Cell::new(1_000_000usize);
    let summaries = interleave(
        plan,
        vec![
            batch_saver("thing save_many(100), no cache", runtime, &next, &none),
            batch_saver("thing save_many(100), MemoryCache", runtime, &next, &memory),
        ],
    );
    report("save_many(100): MemoryCache against no cache", &summaries);
}

/// A contender saving 100 new rows through `db`, numbered from `next` on.
fn batch_saver<'a>(
    name: &'static str,
    runtime: &'a tokio::runtime::Runtime,
    next: &'a std::cell::Cell<usize>,
    db: &'a Db,
) -> Contender<'a> {
    Contender::new(name, move |n| {
        time_async(runtime, n, || async {
            next.set(next.get() + BATCH);
            let mut rows = batch(next.get());
            BenchRow::save_many(db, &mut rows).await.unwrap();
        })
    })
}
