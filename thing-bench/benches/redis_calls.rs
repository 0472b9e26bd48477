//! What the Redis share of a cached write costs, piece by piece, beside the
//! bound the `peers` bench uses (raw sqlx plus two `GET`s): interleaved, as
//! `shared/notes/benchmarking.md` asks, on PostgreSQL and Redis.
//!
//! The contenders, for one `UPDATE` of one column by id:
//!
//! - the `UPDATE` alone (raw sqlx, the baseline);
//! - with two `GET`s after it, and with one `GET` before it and one after it
//!   (where a write's two round trips must be);
//! - with an empty script (`EVALSHA` of `return 0`) before and after it;
//! - with a pipeline of seven `SET … PX … GET` before and after it (the
//!   commands a write of seven keys makes inside its scripts, sent plainly);
//! - with `RedisCache::begin_write` and `end_write` of seven keys (a row and
//!   six stamps, as Thing's update of one column of the bench's model);
//! - the two scripts alone, and the two `GET`s alone;
//! - Thing's `update(id).set(..)` without a cache and with `RedisCache`.
//!
//! ```text
//! cargo bench -p thing-bench --bench redis_calls
//! ```

use deadpool_redis::redis::{self, AsyncCommands, aio::MultiplexedConnection};
use std::hint::black_box;
use thing::cache::{Cache, RedisCache, WriteKeys};
use thing::{BaseModel, Db, Thing};
use thing_bench::{BenchDatabase, Contender, Plan, interleave, report, time_async};
use tokio::runtime::Runtime;

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "redis_calls_rows")]
struct Row {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    team: i64,
    views: i64,
}

/// What runs around the raw `UPDATE`.
#[derive(Clone, Copy)]
enum Around {
    /// Nothing.
    Alone,
    /// Two `GET`s after it.
    GetsAfter,
    /// A `GET` before it and one after it.
    GetBeforeAndAfter,
    /// An empty script before it and one after it.
    EmptyScripts,
    /// Seven `SET … GET`, pipelined, before it and after it.
    SetsBeforeAndAfter,
    /// `begin_write` before it, `end_write` after it.
    WriteScripts,
}

/// Everything the contenders share.
struct Setup {
    pool: thing::sqlx::PgPool,
    conn: MultiplexedConnection,
    cache: RedisCache,
    plain: Db,
    cached: Db,
    /// A write's seven keys: a row and six stamps.
    keys: WriteKeys,
    /// The SHA-1 of `return 0`, loaded.
    empty: String,
}

impl Setup {
    /// One `UPDATE` of row 1 by raw sqlx.
    async fn update(&self, views: u64) {
        thing::sqlx::query(
            "UPDATE redis_calls_rows SET views = $1, updated_at = now() WHERE id = $2",
        )
        .bind(views as i64)
        .bind(1_i64)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// The `UPDATE` with what runs `around` it.
    async fn update_with(&self, around: Around, views: u64) {
        match around {
            Around::Alone => self.update(views).await,
            Around::GetsAfter => {
                self.update(views).await;
                self.get().await;
                self.get().await;
            }
            Around::GetBeforeAndAfter => {
                self.get().await;
                self.update(views).await;
                self.get().await;
            }
            Around::EmptyScripts => {
                self.empty_script().await;
                self.update(views).await;
                self.empty_script().await;
            }
            Around::SetsBeforeAndAfter => {
                self.seven_sets().await;
                self.update(views).await;
                self.seven_sets().await;
            }
            Around::WriteScripts => {
                self.begin().await;
                self.update(views).await;
                self.end().await;
            }
        }
    }

    async fn get(&self) {
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = conn.get("redis_calls:absent").await.unwrap();
        black_box(value);
    }

    async fn empty_script(&self) {
        let mut conn = self.conn.clone();
        let value: i64 = redis::cmd("EVALSHA")
            .arg(&self.empty)
            .arg(0)
            .query_async(&mut conn)
            .await
            .unwrap();
        black_box(value);
    }

    async fn seven_sets(&self) {
        let mut pipe = redis::pipe();
        for key in self.keys.rows.iter().chain(&self.keys.stamps) {
            pipe.cmd("SET")
                .arg(format!("{key}:plain"))
                .arg("0123456789abcdefghL1")
                .arg("PX")
                .arg(10_000)
                .arg("GET");
        }
        let mut conn = self.conn.clone();
        let values: Vec<Option<Vec<u8>>> = pipe.query_async(&mut conn).await.unwrap();
        black_box(values);
    }

    async fn begin(&self) {
        self.cache.begin_write(&self.keys).await.unwrap();
    }

    async fn end(&self) {
        let nothing = WriteKeys::default();
        self.cache.end_write(&self.keys, &nothing).await.unwrap();
    }
}

fn setup(runtime: &Runtime, database: &BenchDatabase) -> Setup {
    let url = thing_bench::redis_url();
    let prefix = format!("redis_calls:{}", std::process::id());
    let (pool, conn, cache, plain, cached, empty) = runtime.block_on(async {
        let pool = thing::sqlx::PgPool::connect(&database.url).await.unwrap();
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let empty: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg("return 0")
            .query_async(&mut conn)
            .await
            .unwrap();
        let cache = RedisCache::connect(&url).await.unwrap();
        let plain = Db::connect(&database.url).await.unwrap();
        plain.create_table::<Row>().await.unwrap();
        let cached = Db::builder(&database.url)
            .cache(RedisCache::connect(&url).await.unwrap())
            .key_prefix(prefix.clone())
            .build()
            .await
            .unwrap();
        for _ in 0..3 {
            let mut row = Row {
                team: 3,
                ..Default::default()
            };
            row.save(&plain).await.unwrap();
        }
        (pool, conn, cache, plain, cached, empty)
    });
    let keys = WriteKeys {
        rows: vec![format!("{prefix}:row:1")],
        stamps: (0..6).map(|i| format!("{prefix}:stamp:{i}")).collect(),
    };
    Setup {
        pool,
        conn,
        cache,
        plain,
        cached,
        keys,
        empty,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = &runtime;
    let database = rt.block_on(BenchDatabase::create("redis_calls"));
    let s = &setup(rt, &database);
    let updating = |around: Around| {
        move |n: u64| {
            let mut views = 0;
            time_async(rt, n, || {
                views += 1;
                s.update_with(around, views)
            })
        }
    };
    let contenders = vec![
        Contender::new("raw UPDATE", updating(Around::Alone)),
        Contender::new("+ 2 GETs after", updating(Around::GetsAfter)),
        Contender::new("GET + UPDATE + GET", updating(Around::GetBeforeAndAfter)),
        Contender::new(
            "empty script + UPDATE + empty script",
            updating(Around::EmptyScripts),
        ),
        Contender::new(
            "7 SETs + UPDATE + 7 SETs (pipelines)",
            updating(Around::SetsBeforeAndAfter),
        ),
        Contender::new(
            "begin_write + UPDATE + end_write (7 keys)",
            updating(Around::WriteScripts),
        ),
        Contender::new("begin_write + end_write alone", |n| {
            time_async(rt, n, || async {
                s.begin().await;
                s.end().await;
            })
        }),
        Contender::new("2 GETs alone", |n| {
            time_async(rt, n, || async {
                s.get().await;
                s.get().await;
            })
        }),
        Contender::new(
            "Thing update(id).set, no cache",
            thing_bench::updating(rt, &s.plain, 2, Row::VIEWS),
        ),
        Contender::new(
            "Thing update(id).set, RedisCache",
            thing_bench::updating(rt, &s.cached, 3, Row::VIEWS),
        ),
    ];
    let summaries = interleave(Plan::from_env(), contenders);
    report(
        "PostgreSQL: one UPDATE and its Redis round trips",
        &summaries,
    );
    rt.block_on(database.drop());
}
