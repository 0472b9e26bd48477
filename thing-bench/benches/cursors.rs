//! Keyset pages against offset pages, interleaved in one process.
//!
//! 1. Cached: a page of 20 inside the cached window (rows 101–120 of a
//!    feed), `fetch(100, 20)` against `after(cursor, 20)`, through the
//!    in-process cache and through Redis (PostgreSQL behind both).
//! 2. Deep pages in SQL, no cache, on a 1 000 000-row table, each backend:
//!    page 1 000 of 20 (`fetch(19 980, 20)`) against the keyset page at the
//!    same place, and pages 10 and 10 000 beside them to show which cost
//!    grows with depth. The order is `score DESC, id DESC` over an index on
//!    `(score, id)`.
//!
//! ```text
//! cargo bench -p thing-bench --bench cursors
//! ```
//!
//! `THING_BENCH_CASE=<substring>` runs only the cases whose name holds it;
//! `THING_BENCH_ROWS` changes the table's size.

use thing::cache::RedisCache;
use thing::sqlx::{self, AssertSqlSafe};
use thing::{BaseModel, Cursor, Db, Query, Thing};
use thing_bench::{Contender, Plan, interleave, report, time_async};

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "bench_feed")]
struct FeedPost {
    #[thing(base)]
    base: BaseModel,
    author: i64,
    score: i32,
}

const PAGE: u64 = 20;

fn feed() -> Query<FeedPost> {
    FeedPost::query()
        .order_by(FeedPost::SCORE.desc())
        .order_by(FeedPost::ID.desc())
}

/// Whether the case `name` runs (`THING_BENCH_CASE`).
fn selected(name: &str) -> bool {
    std::env::var("THING_BENCH_CASE").map_or(true, |only| name.contains(&only))
}

/// Runs `sql` on `db`'s pool.
async fn raw(db: &Db, sql: &str) {
    let query = || sqlx::raw_sql(AssertSqlSafe(sql.to_owned()));
    let result = match db.dialect() {
        thing::Dialect::Sqlite => query().execute(db.as_sqlite().unwrap()).await.map(drop),
        thing::Dialect::Postgres => query().execute(db.as_postgres().unwrap()).await.map(drop),
        _ => query().execute(db.as_mysql().unwrap()).await.map(drop),
    };
    result.unwrap_or_else(|err| panic!("`{sql}`: {err}"));
}

/// `rows` posts, their scores spread over 10 000 values, filled in SQL, and
/// the index the order needs.
async fn fill(db: &Db, rows: u64) {
    db.drop_table::<FeedPost>().await.unwrap();
    db.create_table::<FeedPost>().await.unwrap();
    let now = "'2026-01-01 00:00:00'";
    let sql = match db.dialect() {
        thing::Dialect::Postgres => format!(
            "INSERT INTO bench_feed (created_at, updated_at, deleted, author, score) \
             SELECT TIMESTAMPTZ {now}, TIMESTAMPTZ {now}, FALSE, n % 1000, (n::bigint * 7919) % 10000 \
             FROM generate_series(1, {rows}) AS n"
        ),
        thing::Dialect::MySql => format!(
            "INSERT INTO bench_feed (created_at, updated_at, deleted, author, score) \
             SELECT {now}, {now}, FALSE, seq % 1000, (seq * 7919) % 10000 FROM seq_1_to_{rows}"
        ),
        _ => format!(
            "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < {rows}) \
             INSERT INTO bench_feed (created_at, updated_at, deleted, author, score) \
             SELECT {now}, {now}, 0, v % 1000, (v * 7919) % 10000 FROM n"
        ),
    };
    raw(db, &sql).await;
    raw(
        db,
        "CREATE INDEX bench_feed_score_id ON bench_feed (score, id)",
    )
    .await;
    let analyze = match db.dialect() {
        thing::Dialect::MySql => "ANALYZE TABLE bench_feed",
        _ => "ANALYZE",
    };
    raw(db, analyze).await;
}

/// The cursor of the row just before position `offset` of the feed.
async fn cursor_at(db: &Db, offset: u64) -> Cursor {
    feed()
        .after(db, None, offset)
        .await
        .unwrap()
        .next
        .expect("the table is longer than the offset")
}

/// The cursor before position `offset`, walking in pages of 1 000 (one
/// statement of `offset` rows would be slow to decode).
async fn deep_cursor(db: &Db, offset: u64) -> Cursor {
    let mut cursor: Option<Cursor> = None;
    let mut at = 0;
    while at < offset {
        let step = (offset - at).min(1_000);
        cursor = feed().after(db, cursor.as_ref(), step).await.unwrap().next;
        at += step;
    }
    cursor.expect("the table is longer than the offset")
}

fn cached_case(runtime: &tokio::runtime::Runtime, plan: Plan, url: &str) {
    let mut filled = false;
    for cache in ["memory", "redis"] {
        let name = format!("a cached page of 20 at row 100, {cache} cache, PostgreSQL");
        if !selected(&name) {
            continue;
        }
        if !std::mem::replace(&mut filled, true) {
            runtime.block_on(async {
                let db = Db::builder(url).no_cache().build().await.unwrap();
                fill(&db, 10_000).await;
            });
        }
        let db = runtime.block_on(async {
            let builder = Db::builder(url)
                .key_prefix(format!(
                    "thing-bench-cursors:{}:{cache}",
                    std::process::id()
                ))
                .max_connections(4);
            let builder = match cache {
                "redis" => builder.cache(
                    RedisCache::connect(&thing_bench::redis_url())
                        .await
                        .expect("Redis"),
                ),
                _ => builder,
            };
            builder.build().await.unwrap()
        });
        let cursor = runtime.block_on(cursor_at(&db, 100));
        let offset_ids: Vec<i64> = runtime
            .block_on(feed().fetch(&db, 100, PAGE))
            .unwrap()
            .iter()
            .map(|post| post.base.id)
            .collect();
        let cursor_ids: Vec<i64> = runtime
            .block_on(feed().after(&db, Some(&cursor), PAGE))
            .unwrap()
            .rows
            .iter()
            .map(|post| post.base.id)
            .collect();
        assert_eq!(offset_ids, cursor_ids, "the same page both ways");
        let query = feed();
        // What a web handler does: the cursor from its text, the next one
        // written out.
        let text = cursor.to_string();
        let summaries = interleave(
            plan,
            vec![
                Contender::new("fetch(100, 20)", |n| {
                    time_async(runtime, n, || async {
                        query.fetch(&db, 100, PAGE).await.unwrap();
                    })
                }),
                Contender::new("after(cursor, 20)", |n| {
                    time_async(runtime, n, || async {
                        query.after(&db, Some(&cursor), PAGE).await.unwrap();
                    })
                }),
                Contender::new("after(text.parse(), 20), next.to_string()", |n| {
                    time_async(runtime, n, || async {
                        let cursor: Cursor = text.parse().unwrap();
                        let page = query.after(&db, Some(&cursor), PAGE).await.unwrap();
                        std::hint::black_box(page.next.map(|next| next.to_string()));
                    })
                }),
            ],
        );
        report(&name, &summaries);
    }
}

fn deep_case(runtime: &tokio::runtime::Runtime, plan: Plan, backend: &str, url: &str, rows: u64) {
    let name = format!("deep pages of 20, {rows} rows, no cache, {backend}");
    if !selected(&name) {
        return;
    }
    let db = runtime.block_on(async {
        let db = Db::builder(url)
            .no_cache()
            .max_connections(4)
            .build()
            .await
            .unwrap();
        fill(&db, rows).await;
        db
    });
    let pages = [10u64, 1_000, 10_000];
    let cursors: Vec<Cursor> = pages
        .iter()
        .map(|page| runtime.block_on(deep_cursor(&db, (page - 1) * PAGE)))
        .collect();
    let query = feed();
    let mut contenders = Vec::new();
    for (page, cursor) in pages.iter().zip(&cursors) {
        let offset = (page - 1) * PAGE;
        let (query, db) = (&query, &db);
        let by_offset = runtime.block_on(query.fetch(db, offset, PAGE)).unwrap();
        let by_cursor = runtime
            .block_on(query.after(db, Some(cursor), PAGE))
            .unwrap();
        assert_eq!(
            by_offset.iter().map(|p| p.base.id).collect::<Vec<_>>(),
            by_cursor.rows.iter().map(|p| p.base.id).collect::<Vec<_>>(),
            "page {page}: the same rows both ways"
        );
        let offset_name: &'static str =
            Box::leak(format!("page {page}: fetch({offset}, 20)").into_boxed_str());
        let cursor_name: &'static str =
            Box::leak(format!("page {page}: after(cursor, 20)").into_boxed_str());
        contenders.push(Contender::new(offset_name, move |n| {
            time_async(runtime, n, || async {
                query.fetch(db, offset, PAGE).await.unwrap();
            })
        }));
        contenders.push(Contender::new(cursor_name, move |n| {
            time_async(runtime, n, || async {
                query.after(db, Some(cursor), PAGE).await.unwrap();
            })
        }));
    }
    // The baseline is page 1 000 by offset: the case the issue names.
    contenders.swap(0, 2);
    let summaries = interleave(plan, contenders);
    report(&name, &summaries);
    runtime.block_on(db.drop_table::<FeedPost>()).unwrap();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plan = Plan::from_env();
    let rows: u64 = std::env::var("THING_BENCH_ROWS")
        .ok()
        .and_then(|rows| rows.parse().ok())
        .unwrap_or(1_000_000);
    let database = runtime.block_on(thing_bench::BenchDatabase::create("thing_bench_cursors"));
    let url = database.url.clone();

    cached_case(&runtime, plan, &url);
    deep_case(&runtime, plan, "PostgreSQL", &url, rows);
    let mysql = std::env::var("THING_BENCH_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    deep_case(&runtime, plan, "MariaDB", &mysql, rows);
    let sqlite =
        std::env::temp_dir().join(format!("thing-bench-cursors-{}.db", std::process::id()));
    let sqlite_url = format!("sqlite://{}?mode=rwc", sqlite.display());
    deep_case(&runtime, plan, "SQLite", &sqlite_url, rows);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite.display()));
    }
    runtime.block_on(database.drop());
}
