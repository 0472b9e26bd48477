//! Peers benchmark: Thing beside raw sqlx, SeaORM 2 and Diesel 2.3 on one
//! schema, on SQLite (a file in a temporary folder, WAL), PostgreSQL and
//! MariaDB, interleaved as `shared/notes/benchmarking.md` asks.
//!
//! Workloads: `by_id`, warm and cold (the caches' TTL 1 ms, so that every
//! read misses: the lookup, the query and the fill); lists of the first 1,
//! 100 and 10 000 rows; a filtered
//! list with an order and a limit (20 rows of a team, oldest first); an insert
//! of one row; 100 rows in one `INSERT`; an update of one column; users →
//! posts → comments, one query per level. Contenders: raw sqlx (the
//! baseline), Thing without a cache, with a warm `MemoryCache`, with a warm
//! `RedisCache` and with a warm `RedisCache` + near tier (beside a second
//! handle with a tier on its prefix, so that writes wait for one), SeaORM, Diesel; the write cases and the cold `by_id` add a
//! reference contender, raw sqlx plus two Redis `GET`s, the bound Thing's
//! cached writes and misses aim at. In
//! the 100-row case the baseline runs its `INSERT` in a transaction (`BEGIN`,
//! `INSERT`, `COMMIT`, as SeaORM and Diesel do there) and a second raw
//! contender, "the INSERT alone", without one, as an application that needs
//! nothing else would; the bound adds its two `GET`s to the latter.
//! Every contender's answer is checked against raw sqlx's before timing, and
//! the SQL statements and cache round trips of one Thing operation are
//! printed. Writes go to a table of their own, emptied after each case.
//!
//! At the end the ratios are drawn as an SVG (`THING_BENCH_SVG`, default
//! `docs/img/peers.svg`; a relative path is taken from the workspace root).
//! `THING_BENCH_ROUNDS` defaults to 100 here (30 cases of seven contenders),
//! `THING_BENCH_ROUND_MS` to 25; `THING_BENCH_CASE=<substring>` runs only the
//! cases whose name (`"PostgreSQL: by_id"`) contains it. The servers:
//! `THING_BENCH_POSTGRES_URL`, `THING_BENCH_MYSQL_URL`, `THING_BENCH_REDIS_URL`.
//!
//! ```text
//! cargo bench -p thing-bench --features peers --bench peers
//! ```

mod diesel_peer;
mod model;
mod raw;
mod sea;

use deadpool_redis::redis::{self, AsyncCommands, aio::MultiplexedConnection};
use diesel_peer::{DieselPeer, Held};
use model::{Answer, BenchRow, BenchWrite, NewRow, Post, ToAnswer, User};
use raw::RawPool;
use sea_orm::DatabaseConnection;
use std::cell::RefCell;
use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};
use thing::cache::{NearOptions, RedisCache};
use thing::relation::{Preload, Preloading};
use thing::sqlx::{self, MySqlPool};
use thing::{Db, Thing};
use thing_bench::svg::{self, Bar, Group, Panel};
use thing_bench::{Contender, Plan, Summary, interleave, report, time_async};
use tokio::runtime::Runtime;

const RAW: &str = "raw sqlx";
/// The batch case's second raw contender: its `INSERT` alone, with no
/// transaction around it (the baseline, [`RAW`], runs it in one).
const RAW_ALONE: &str = "raw sqlx, the INSERT alone";
const THING_NONE: &str = "Thing, no cache";
/// Its cache warm in every case but `by_id, cold`, whose name says so.
const THING_MEMORY: &str = "Thing, MemoryCache";
/// As [`THING_MEMORY`].
const THING_REDIS: &str = "Thing, RedisCache";
/// `RedisCache` with a near tier, beside a second handle with one on the same
/// key prefix (two processes' worth of tiers: every write waits for the
/// other's answer). Warm as [`THING_MEMORY`]; not in `by_id, cold`.
const THING_NEAR: &str = "Thing, RedisCache + near";
const SEA: &str = "SeaORM";
const DIESEL: &str = "Diesel";
const BOUND: &str = "raw sqlx + 2 Redis GETs (bound)";
/// The contenders of the summary, in the order of their columns.
const SERIES: [&str; 7] = [
    RAW,
    THING_NONE,
    THING_MEMORY,
    THING_REDIS,
    THING_NEAR,
    SEA,
    DIESEL,
];

const BY_ID: &str = "by_id";
const BY_ID_COLD: &str = "by_id, cold";
const LIST_1: &str = "list of 1 row";
const LIST_100: &str = "list of 100 rows";
const LIST_10K: &str = "list of 10 000 rows";
const FILTERED: &str = "filtered list: team, oldest first, 20 rows";
const INSERT_1: &str = "insert 1 row";
const INSERT_100: &str = "insert 100 rows";
const UPDATE: &str = "update one column";
const RELATIONS: &str = "users → posts → comments";
const CASES: [&str; 10] = [
    BY_ID, BY_ID_COLD, LIST_1, LIST_100, LIST_10K, FILTERED, INSERT_1, INSERT_100, UPDATE,
    RELATIONS,
];
/// Short names of the cases in the chart.
const SHORT: [(&str, &str); 10] = [
    (BY_ID, "by_id"),
    (BY_ID_COLD, "by_id cold"),
    (LIST_1, "list 1"),
    (LIST_100, "list 100"),
    (LIST_10K, "list 10 000"),
    (FILTERED, "filtered 20"),
    (INSERT_1, "insert 1"),
    (INSERT_100, "insert 100"),
    (UPDATE, "update 1 column"),
    (RELATIONS, "users→posts→comments"),
];

/// The contenders of one write case, each with its own tag in the rows it
/// writes (`email = {tag}-{n}`) and, for the update, its own row.
const WRITERS: [(&str, &str); 9] = [
    (RAW, "raw"),
    (RAW_ALONE, "raw-alone"),
    (THING_NONE, "thing-none"),
    (THING_MEMORY, "thing-memory"),
    (THING_REDIS, "thing-redis"),
    (THING_NEAR, "thing-near"),
    (SEA, "sea"),
    (DIESEL, "diesel"),
    (BOUND, "bound"),
];

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::MariaDb => "MariaDB",
        }
    }
}

/// The database of this run on one backend, removed at the end.
enum Scratch {
    Sqlite(PathBuf),
    Postgres(thing_bench::BenchDatabase),
    MariaDb { admin: MySqlPool, name: String },
}

impl Scratch {
    /// Creates it; returns it with its URL (for SQLite, the file's path).
    async fn create(backend: Backend) -> (Self, String) {
        let name = format!("thing_bench_peers_{}", std::process::id());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join("peers.db");
                (Scratch::Sqlite(dir), path.display().to_string())
            }
            Backend::Postgres => {
                let database = thing_bench::BenchDatabase::create("thing_bench_peers").await;
                let url = database.url.clone();
                (Scratch::Postgres(database), url)
            }
            Backend::MariaDb => {
                let server = std::env::var("THING_BENCH_MYSQL_URL")
                    .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
                let admin = MySqlPool::connect(&server).await.expect("MariaDB");
                let create = sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"));
                sqlx::raw_sql(create).execute(&admin).await.unwrap();
                let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
                let url = format!("{base}/{name}");
                (Scratch::MariaDb { admin, name }, url)
            }
        }
    }

    async fn drop(self) {
        match self {
            Scratch::Sqlite(dir) => std::fs::remove_dir_all(dir).unwrap(),
            Scratch::Postgres(database) => database.drop().await,
            Scratch::MariaDb { admin, name } => {
                let drop = sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"));
                sqlx::raw_sql(drop).execute(&admin).await.unwrap();
            }
        }
    }
}

/// One contender of a case: its answer (run once to warm, once to check) and
/// its timed run; `db` is Thing's, whose statements and round trips are
/// printed for the checked run.
struct Entry<'a> {
    name: &'static str,
    answer: Box<dyn FnMut() -> Answer + 'a>,
    run: Box<dyn FnMut(u64) -> Duration + 'a>,
    db: Option<&'a Db>,
}

/// An entry from an operation; `finish` turns its output into an answer.
fn entry<'a, T, Fut>(
    runtime: &'a Runtime,
    name: &'static str,
    db: Option<&'a Db>,
    op: impl FnMut() -> Fut + 'a,
    mut finish: impl FnMut(T) -> Answer + 'a,
) -> Entry<'a>
where
    T: 'a,
    Fut: Future<Output = T> + 'a,
{
    let op = Rc::new(RefCell::new(op));
    let checked = Rc::clone(&op);
    Entry {
        name,
        answer: Box::new(move || {
            let future = (checked.borrow_mut())();
            finish(runtime.block_on(future))
        }),
        run: Box::new(move |n| {
            time_async(runtime, n, || {
                let future = (op.borrow_mut())();
                async move {
                    black_box(future.await);
                }
            })
        }),
        db,
    }
}

/// An entry whose output is its answer.
fn read<'a, T: ToAnswer + 'a, Fut: Future<Output = T> + 'a>(
    runtime: &'a Runtime,
    name: &'static str,
    db: Option<&'a Db>,
    op: impl FnMut() -> Fut + 'a,
) -> Entry<'a> {
    entry(runtime, name, db, op, |out: T| out.to_answer())
}

/// `op` on each of `values` in turn.
fn cycle<'a, V: Copy, Fut>(
    values: &'a [V],
    mut op: impl FnMut(V) -> Fut + 'a,
) -> impl FnMut() -> Fut + 'a {
    let mut next = 0;
    move || {
        let value = values[next % values.len()];
        next += 1;
        op(value)
    }
}

/// `op` on 0, 1, 2, ...
fn counting<'a, Fut>(mut op: impl FnMut(u64) -> Fut + 'a) -> impl FnMut() -> Fut + 'a {
    let mut next = 0;
    move || {
        next += 1;
        op(next - 1)
    }
}

/// The result of one case on one backend.
struct CaseResult {
    backend: Backend,
    case: &'static str,
    summaries: Vec<Summary>,
}

/// Everything the cases of one backend use.
struct Peers<'r, D: DieselPeer> {
    runtime: &'r Runtime,
    plan: Plan,
    backend: Backend,
    only: &'r str,
    raw: RawPool,
    none: Db,
    memory: Db,
    redis: Db,
    near: Db,
    /// The other handle with a near tier on `near`'s prefix, live through
    /// every case.
    _near_peer: Db,
    /// `memory` and `redis` again, with a TTL of 1 ms: every read misses.
    memory_cold: Db,
    redis_cold: Db,
    sea: DatabaseConnection,
    /// The `Db` whose pool SeaORM runs on, kept open with it.
    _sea_pool: Db,
    diesel: Held<D::Conn>,
    redis_conn: MultiplexedConnection,
    by_id_ids: Vec<i64>,
    /// The row each writer updates.
    update_ids: Vec<i64>,
    /// The last id of `bench_writes` before the write cases.
    writes_start: i64,
}

impl<'r, D: DieselPeer> Peers<'r, D> {
    fn title(&self, case: &str) -> String {
        format!("{}: {case}", self.backend.name())
    }

    fn wanted(&self, case: &str) -> bool {
        self.title(case).contains(self.only)
    }

    fn things(&self) -> [(&'static str, &Db); 4] {
        [
            (THING_NONE, &self.none),
            (THING_MEMORY, &self.memory),
            (THING_REDIS, &self.redis),
            (THING_NEAR, &self.near),
        ]
    }

    /// Checks every entry against the first, then times them interleaved.
    fn run(&self, case: &'static str, mut entries: Vec<Entry<'_>>) -> CaseResult {
        let title = self.title(case);
        let mut expected = None;
        for entry in &mut entries {
            (entry.answer)();
            if let Some(db) = entry.db {
                db.reset_stats();
            }
            let answer = (entry.answer)();
            if let Some(db) = entry.db {
                let stats = db.stats();
                println!(
                    "{title} ({}): {} SQL statement(s), {} cache round trip(s)",
                    entry.name,
                    stats.statements(),
                    stats.cache_round_trips
                );
            }
            let expected = expected.get_or_insert_with(|| answer.clone());
            assert_eq!(
                &answer, expected,
                "{title}: {} differs from {RAW}",
                entry.name
            );
        }
        let contenders = entries
            .into_iter()
            .map(|entry| Contender {
                name: entry.name,
                run: entry.run,
            })
            .collect();
        let summaries = interleave(self.plan, contenders);
        report(&title, &summaries);
        CaseResult {
            backend: self.backend,
            case,
            summaries,
        }
    }

    fn by_id(&self) -> CaseResult {
        self.run(BY_ID, self.by_id_entries(&self.things()))
    }

    /// `by_id` where every read misses the cache (its TTL is 1 ms, and each
    /// id comes back a thousand reads later): the lookup, the `SELECT` and
    /// the fill, which a workload that touches each row once pays. The bound
    /// is raw sqlx plus two Redis `GET`s.
    fn by_id_cold(&self) -> CaseResult {
        let cold = [
            (THING_NONE, &self.none),
            (THING_MEMORY, &self.memory_cold),
            (THING_REDIS, &self.redis_cold),
        ];
        let mut entries = self.by_id_entries(&cold);
        let raw = &self.raw;
        let op = cycle(&self.by_id_ids, move |id| async move {
            let row = raw.by_id(id).await;
            self.two_round_trips().await;
            row
        });
        entries.push(read(self.runtime, BOUND, None, op));
        self.run(BY_ID_COLD, entries)
    }

    /// The `by_id` contenders, Thing's through `things`.
    fn by_id_entries<'a>(&'a self, things: &[(&'static str, &'a Db)]) -> Vec<Entry<'a>> {
        let (rt, raw, sea, diesel) = (self.runtime, &self.raw, &self.sea, &self.diesel);
        let ids = self.by_id_ids.as_slice();
        let mut entries = vec![read(rt, RAW, None, cycle(ids, move |id| raw.by_id(id)))];
        for &(name, db) in things {
            let op = cycle(ids, move |id| async move {
                BenchRow::by_id(db, id).await.unwrap()
            });
            entries.push(read(rt, name, Some(db), op));
        }
        entries.push(read(
            rt,
            SEA,
            None,
            cycle(ids, move |id| sea::by_id(sea, id)),
        ));
        let op = cycle(ids, move |id| async move {
            diesel.with(async |c| D::by_id(c, id).await).await
        });
        entries.push(read(rt, DIESEL, None, op));
        entries
    }

    fn list(&self, case: &'static str, n: i64) -> CaseResult {
        let (rt, raw, sea, diesel) = (self.runtime, &self.raw, &self.sea, &self.diesel);
        let mut entries = vec![read(rt, RAW, None, move || raw.first_rows(n))];
        for (name, db) in self.things() {
            let op = move || async move {
                let query = BenchRow::query().order_by(BenchRow::ID.asc());
                query.fetch(db, 0, n as u64).await.unwrap()
            };
            entries.push(read(rt, name, Some(db), op));
        }
        entries.push(read(rt, SEA, None, move || sea::first_rows(sea, n as u64)));
        let op = move || async move { diesel.with(async |c| D::first_rows(c, n).await).await };
        entries.push(read(rt, DIESEL, None, op));
        self.run(case, entries)
    }

    fn filtered(&self) -> CaseResult {
        let (rt, raw, sea, diesel) = (self.runtime, &self.raw, &self.sea, &self.diesel);
        let teams: &[i64] = &TEAM_IDS;
        let mut entries = vec![read(rt, RAW, None, cycle(teams, move |t| raw.team_page(t)))];
        for (name, db) in self.things() {
            let op = cycle(teams, move |team| async move {
                team_query(team).fetch(db, 0, 20).await.unwrap()
            });
            entries.push(read(rt, name, Some(db), op));
        }
        let op = cycle(teams, move |team| sea::team_page(sea, team));
        entries.push(read(rt, SEA, None, op));
        let op = cycle(teams, move |team| async move {
            diesel.with(async |c| D::team_page(c, team).await).await
        });
        entries.push(read(rt, DIESEL, None, op));
        self.run(FILTERED, entries)
    }

    /// A write entry: its answer is what its last `rows` rows hold.
    fn writer<'a, T: 'a, Fut: Future<Output = T> + 'a>(
        &'a self,
        name: &'static str,
        db: Option<&'a Db>,
        rows: i64,
        op: impl FnMut() -> Fut + 'a,
    ) -> Entry<'a> {
        let tag = tag_of(name);
        let (rt, raw) = (self.runtime, &self.raw);
        let read_back = move |_: T| Answer::Written(rt.block_on(raw.read_back(tag, rows)));
        entry(rt, name, db, op, read_back)
    }

    /// Two Redis round trips, the cache's share of the bound.
    async fn two_round_trips(&self) {
        let mut conn = self.redis_conn.clone();
        for _ in 0..2 {
            let value: Option<Vec<u8>> = conn.get("thing-bench-peers:absent").await.unwrap();
            black_box(value);
        }
    }

    fn insert_one(&self) -> CaseResult {
        let (raw, sea, diesel) = (&self.raw, &self.sea, &self.diesel);
        let new = |name| {
            let tag = tag_of(name);
            move |n| NewRow::nth(tag, n)
        };
        let mut entries = Vec::new();
        let row = new(RAW);
        let op = counting(move |n| async move { raw.insert_one(&row(n)).await });
        entries.push(self.writer(RAW, None, 1, op));
        for (name, db) in self.things() {
            let row = new(name);
            let op = counting(move |n| async move {
                let mut write = BenchWrite::from(row(n));
                write.save(db).await.unwrap();
                write.base.id
            });
            entries.push(self.writer(name, Some(db), 1, op));
        }
        let row = new(SEA);
        let op = counting(move |n| async move { sea::insert_one(sea, &row(n)).await });
        entries.push(self.writer(SEA, None, 1, op));
        let row = new(DIESEL);
        let op = counting(move |n| async move {
            let new = row(n);
            diesel.with(async |c| D::insert_one(c, &new).await).await
        });
        entries.push(self.writer(DIESEL, None, 1, op));
        let row = new(BOUND);
        let op = counting(move |n| async move {
            raw.insert_one(&row(n)).await;
            self.two_round_trips().await;
        });
        entries.push(self.writer(BOUND, None, 1, op));
        self.run(INSERT_1, entries)
    }

    fn insert_batch(&self) -> CaseResult {
        let (raw, sea, diesel) = (&self.raw, &self.sea, &self.diesel);
        let rows = model::BATCH as i64;
        let batch = |name| {
            let tag = tag_of(name);
            move |n: u64| NewRow::batch(tag, n * model::BATCH as u64)
        };
        let mut entries = Vec::new();
        let new = batch(RAW);
        let op = counting(move |n| async move { raw.insert_batch(&new(n), true).await });
        entries.push(self.writer(RAW, None, rows, op));
        let new = batch(RAW_ALONE);
        let op = counting(move |n| async move { raw.insert_batch(&new(n), false).await });
        entries.push(self.writer(RAW_ALONE, None, rows, op));
        for (name, db) in self.things() {
            let new = batch(name);
            let op = counting(move |n| async move {
                let mut writes: Vec<BenchWrite> =
                    new(n).into_iter().map(BenchWrite::from).collect();
                BenchWrite::save_many(db, &mut writes).await.unwrap();
            });
            entries.push(self.writer(name, Some(db), rows, op));
        }
        let new = batch(SEA);
        let op = counting(move |n| async move { sea::insert_batch(sea, &new(n)).await });
        entries.push(self.writer(SEA, None, rows, op));
        let new = batch(DIESEL);
        let op = counting(move |n| async move {
            let rows = new(n);
            diesel.with(async |c| D::insert_batch(c, &rows).await).await
        });
        entries.push(self.writer(DIESEL, None, rows, op));
        let new = batch(BOUND);
        let op = counting(move |n| async move {
            raw.insert_batch(&new(n), false).await;
            self.two_round_trips().await;
        });
        entries.push(self.writer(BOUND, None, rows, op));
        self.run(INSERT_100, entries)
    }

    fn update(&self) -> CaseResult {
        let (raw, sea, diesel) = (&self.raw, &self.sea, &self.diesel);
        let id_of = |name| self.update_ids[WRITERS.iter().position(|(n, _)| *n == name).unwrap()];
        let mut entries = Vec::new();
        let id = id_of(RAW);
        let op = counting(move |n| async move { raw.update_views(id, n as i64 + 1).await });
        entries.push(self.writer(RAW, None, 1, op));
        for (name, db) in self.things() {
            let id = id_of(name);
            let op = counting(move |n| async move {
                BenchWrite::update(id)
                    .set(BenchWrite::VIEWS, n as i64 + 1)
                    .execute(db)
                    .await
                    .unwrap();
            });
            entries.push(self.writer(name, Some(db), 1, op));
        }
        let id = id_of(SEA);
        let op = counting(move |n| async move { sea::update_views(sea, id, n as i64 + 1).await });
        entries.push(self.writer(SEA, None, 1, op));
        let id = id_of(DIESEL);
        let op = counting(move |n| async move {
            let views = n as i64 + 1;
            diesel
                .with(async |c| D::update_views(c, id, views).await)
                .await
        });
        entries.push(self.writer(DIESEL, None, 1, op));
        let id = id_of(BOUND);
        let op = counting(move |n| async move {
            raw.update_views(id, n as i64 + 1).await;
            self.two_round_trips().await;
        });
        entries.push(self.writer(BOUND, None, 1, op));
        self.run(UPDATE, entries)
    }

    fn relations(&self) -> CaseResult {
        let (rt, raw, sea, diesel) = (self.runtime, &self.raw, &self.sea, &self.diesel);
        let mut entries = vec![read(rt, RAW, None, move || raw.tree())];
        for (name, db) in self.things() {
            let op = move || async move { tree_query().all(db).await.unwrap() };
            entries.push(read(rt, name, Some(db), op));
        }
        entries.push(read(rt, SEA, None, move || sea::tree(sea)));
        let op = move || async move { diesel.with(async |c| D::tree(c).await).await };
        entries.push(read(rt, DIESEL, None, op));
        self.run(RELATIONS, entries)
    }

    /// Runs the wanted cases, in the order of `CASES`.
    fn all(&self) -> Vec<CaseResult> {
        let mut results = Vec::new();
        for case in CASES {
            if !self.wanted(case) {
                continue;
            }
            let result = match case {
                BY_ID => self.by_id(),
                BY_ID_COLD => self.by_id_cold(),
                LIST_1 => self.list(case, 1),
                LIST_100 => self.list(case, 100),
                LIST_10K => self.list(case, model::ROWS as i64),
                FILTERED => self.filtered(),
                INSERT_1 => self.insert_one(),
                INSERT_100 => self.insert_batch(),
                UPDATE => self.update(),
                _ => self.relations(),
            };
            if [INSERT_1, INSERT_100].contains(&case) {
                self.runtime
                    .block_on(self.raw.delete_writes_after(self.writes_start));
            }
            results.push(result);
        }
        results
    }
}

const TEAM_IDS: [i64; model::TEAMS as usize] = {
    let mut teams = [0; model::TEAMS as usize];
    let mut team = 0;
    while team < teams.len() {
        teams[team] = team as i64;
        team += 1;
    }
    teams
};

fn team_query(team: i64) -> thing::Query<BenchRow> {
    BenchRow::query()
        .filter(BenchRow::TEAM.eq(team))
        .order_by(BenchRow::AGE.desc())
}

fn tree_query() -> Preloading<User, impl Preload<User>> {
    User::query().preload(User::POSTS.then(Post::COMMENTS))
}

fn tag_of(name: &str) -> &'static str {
    WRITERS
        .iter()
        .find(|(writer, _)| *writer == name)
        .map(|(_, tag)| *tag)
        .unwrap()
}

/// The Redis keys of this run.
fn key_prefix(backend: Backend) -> String {
    format!(
        "thing-bench-peers:{}:{}",
        std::process::id(),
        backend.name()
    )
}

/// Thing's `Db`s on `url` (no cache, the default `MemoryCache`, `RedisCache`,
/// `RedisCache` with a near tier and a second such handle on its key prefix,
/// and the first two caches again with a TTL of 1 ms; four connections each,
/// as in the other benches) and one more
/// without a cache whose pool SeaORM runs on: the same pool settings as raw
/// sqlx's, and connections of its own, as a SeaORM application has. (On
/// raw sqlx's pool, every SeaORM insert on SQLite took 10–17 ms in this
/// bench; see docs/benchmarks.md.)
/// Thing's handles of one backend, from [`thing_dbs`].
struct ThingDbs {
    none: Db,
    memory: Db,
    redis: Db,
    near: Db,
    near_peer: Db,
    for_sea: Db,
    memory_cold: Db,
    redis_cold: Db,
}

async fn thing_dbs(backend: Backend, url: &str) -> ThingDbs {
    let build_under = |prefix: String, builder: thing::DbBuilder| async move {
        let builder = builder.key_prefix(prefix).max_connections(4);
        let builder = match backend {
            Backend::Sqlite => builder
                .sqlite_journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .sqlite_synchronous(sqlx::sqlite::SqliteSynchronous::Normal),
            _ => builder,
        };
        builder.build().await.unwrap()
    };
    let build = |builder| build_under(key_prefix(backend), builder);
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{url}"),
        _ => url.to_owned(),
    };
    let none = build(Db::builder(&url).no_cache()).await;
    let memory = build(Db::builder(&url)).await;
    let redis_cache = RedisCache::connect(&thing_bench::redis_url())
        .await
        .expect("Redis");
    let redis = build(Db::builder(&url).cache(redis_cache)).await;
    // A prefix of their own, which their tiers track.
    let near_prefix = format!("{}:near", key_prefix(backend));
    let near_handle = || async {
        let cache = RedisCache::builder(&thing_bench::redis_url())
            .near(NearOptions::new().key_prefix(near_prefix.clone()))
            .build()
            .await
            .expect("Redis");
        build_under(near_prefix.clone(), Db::builder(&url).cache(cache)).await
    };
    let near = near_handle().await;
    let near_peer = near_handle().await;
    let for_sea = build(Db::builder(&url).no_cache()).await;
    // Keys of their own: the warm handles' rows, cached for hours, would hit.
    let cold = |builder: thing::DbBuilder| {
        let ttl = Duration::from_millis(1);
        let prefix = format!("{}:cold", key_prefix(backend));
        build_under(prefix, builder.ttl(ttl).negative_ttl(ttl))
    };
    let memory_cold = cold(Db::builder(&url)).await;
    let redis_cache = RedisCache::connect(&thing_bench::redis_url())
        .await
        .expect("Redis");
    let redis_cold = cold(Db::builder(&url).cache(redis_cache)).await;
    ThingDbs {
        none,
        memory,
        redis,
        near,
        near_peer,
        for_sea,
        memory_cold,
        redis_cold,
    }
}

fn raw_pool(db: &Db) -> RawPool {
    if let Some(pool) = db.as_sqlite() {
        RawPool::Sqlite(pool.clone())
    } else if let Some(pool) = db.as_postgres() {
        RawPool::Postgres(pool.clone())
    } else {
        RawPool::MySql(db.as_mysql().expect("a pool").clone())
    }
}

/// Creates and fills the tables; returns the ids of `bench_rows`.
async fn seed(db: &Db) -> Vec<i64> {
    db.create_table::<BenchRow>().await.unwrap();
    db.create_table::<BenchWrite>().await.unwrap();
    db.create_table::<User>().await.unwrap();
    db.create_table::<Post>().await.unwrap();
    db.create_table::<model::Comment>().await.unwrap();
    let mut rows = model::seed_rows();
    for chunk in rows.chunks_mut(1_000) {
        BenchRow::save_many(db, chunk).await.unwrap();
    }
    seed_relations(db).await;
    rows.iter().map(|row| row.base.id).collect()
}

async fn seed_relations(db: &Db) {
    let mut users: Vec<User> = (0..model::USERS)
        .map(|n| User {
            name: format!("user {n}"),
            ..Default::default()
        })
        .collect();
    User::save_many(db, &mut users).await.unwrap();
    let mut posts: Vec<Post> = users
        .iter()
        .flat_map(|user| {
            (0..model::POSTS_PER_USER).map(|n| Post {
                user_id: user.base.id,
                title: format!("{} post {n}", user.name),
                ..Default::default()
            })
        })
        .collect();
    Post::save_many(db, &mut posts).await.unwrap();
    let mut comments: Vec<model::Comment> = posts
        .iter()
        .flat_map(|post| {
            (0..model::COMMENTS_PER_POST).map(|n| model::Comment {
                post_id: post.base.id,
                body: format!("comment {n} on {}", post.title),
                ..Default::default()
            })
        })
        .collect();
    model::Comment::save_many(db, &mut comments).await.unwrap();
}

/// One row per writer for the update case, all alike (`views = 0`).
async fn update_rows(db: &Db) -> Vec<i64> {
    let mut rows: Vec<BenchWrite> = WRITERS
        .iter()
        .map(|(_, tag)| BenchWrite::from(NewRow::nth(&format!("update-{tag}"), 0)))
        .collect();
    BenchWrite::save_many(db, &mut rows).await.unwrap();
    rows.iter().map(|row| row.base.id).collect()
}

/// Fills the caches of `dbs` with what the read cases read. The lists come
/// first: a table's first cached list starts its stamps, and rows cached
/// before it were found missing afterwards (seen in this bench's checks).
async fn warm(dbs: &[&Db], ids: &[i64]) {
    for &db in dbs {
        for team in TEAM_IDS {
            team_query(team).fetch(db, 0, 20).await.unwrap();
        }
        tree_query().all(db).await.unwrap();
        BenchRow::by_ids(db, ids).await.unwrap();
    }
}

/// Deletes this run's Redis keys.
async fn delete_keys(conn: &mut MultiplexedConnection, prefix: &str) {
    let pattern = format!("{prefix}:*");
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1_000)
            .query_async(conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = conn.del(&keys).await.unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// Sets up one backend, runs its wanted cases, removes what it made.
fn run_backend<D: DieselPeer>(
    runtime: &Runtime,
    plan: Plan,
    backend: Backend,
    only: &str,
) -> Vec<CaseResult> {
    let title = |case: &str| format!("{}: {case}", backend.name());
    if !CASES.iter().any(|case| title(case).contains(only)) {
        return Vec::new();
    }
    let (scratch, url) = runtime.block_on(Scratch::create(backend));
    let ThingDbs {
        none,
        memory,
        redis,
        near,
        near_peer,
        for_sea,
        memory_cold,
        redis_cold,
    } = runtime.block_on(thing_dbs(backend, &url));
    let ids = runtime.block_on(seed(&none));
    let update_ids = runtime.block_on(update_rows(&none));
    let by_id_ids = ids[..model::BY_ID_IDS].to_vec();
    // A near tier keeps what a lookup hits, not what a fill stores: its
    // handle reads everything twice more.
    runtime.block_on(warm(&[&memory, &redis, &near, &near, &near], &by_id_ids));
    let raw = raw_pool(&none);
    let writes_start = runtime.block_on(raw.last_write_id());
    let diesel = Held::new(runtime.block_on(D::connect(&url)));
    let client = redis::Client::open(thing_bench::redis_url()).unwrap();
    let redis_conn = runtime
        .block_on(client.get_multiplexed_async_connection())
        .expect("Redis");
    let peers = Peers::<D> {
        runtime,
        plan,
        backend,
        only,
        sea: sea::connect(&raw_pool(&for_sea)),
        _sea_pool: for_sea,
        raw,
        none,
        memory,
        redis,
        near,
        _near_peer: near_peer,
        memory_cold,
        redis_cold,
        diesel,
        redis_conn,
        by_id_ids,
        update_ids,
        writes_start,
    };
    let results = peers.all();
    let mut conn = peers.redis_conn.clone();
    drop(peers);
    runtime.block_on(async {
        delete_keys(&mut conn, &key_prefix(backend)).await;
        scratch.drop().await;
    });
    results
}

/// `THING_BENCH_SVG`, relative to the workspace root; `docs/img/peers.svg`.
fn svg_path() -> PathBuf {
    let path = std::env::var("THING_BENCH_SVG").unwrap_or_else(|_| "docs/img/peers.svg".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    root.parent().unwrap_or(&root).join(path)
}

fn chart(results: &[CaseResult], plan: Plan) -> String {
    let backends = [Backend::Sqlite, Backend::Postgres, Backend::MariaDb];
    let panels: Vec<Panel> = backends
        .iter()
        .map(|&backend| Panel {
            title: backend.name().to_owned(),
            groups: results
                .iter()
                .filter(|result| result.backend == backend)
                .map(group)
                .collect(),
        })
        .filter(|panel| !panel.groups.is_empty())
        .collect();
    let subtitle = format!(
        "median per-round ratio to raw sqlx (the black line, 1.0×; log scale; whiskers: \
         95 % CI), {} interleaved rounds of ~{} ms per contender; caches warm but in by_id cold",
        plan.rounds,
        plan.round_time.as_millis()
    );
    svg::ratio_chart(
        "Thing and its peers, ratio to raw sqlx 0.9 (lower is faster)",
        &subtitle,
        &SERIES[1..],
        &panels,
    )
}

fn group(result: &CaseResult) -> Group {
    let label = SHORT
        .iter()
        .find(|(case, _)| *case == result.case)
        .map_or(result.case, |(_, short)| short);
    Group {
        label: label.to_owned(),
        bars: result
            .summaries
            .iter()
            .map(|summary| Bar {
                series: summary.name.to_owned(),
                ratio: summary.ratio,
                low: summary.ratio_low,
                high: summary.ratio_high,
            })
            .collect(),
    }
}

/// A ratio with two decimals, or three below 0.1.
fn ratio(value: f64) -> String {
    match value < 0.1 {
        true => format!("{value:.3}×"),
        false => format!("{value:.2}×"),
    }
}

/// One Markdown table per backend: a row per case, the raw sqlx time and
/// every contender's ratio (with its 95 % interval).
fn print_summary(results: &[CaseResult]) {
    let names = SERIES.iter().skip(1).chain([&BOUND]);
    let header: Vec<&str> = names.clone().copied().collect();
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MariaDb] {
        let rows: Vec<&CaseResult> = results.iter().filter(|r| r.backend == backend).collect();
        if rows.is_empty() {
            continue;
        }
        println!("\n### {}: ratio to raw sqlx (95 % CI)\n", backend.name());
        println!("| workload | raw sqlx | {} |", header.join(" | "));
        println!("|---|---:|{}", "---:|".repeat(header.len()));
        for result in rows {
            let cells: Vec<String> = header
                .iter()
                .map(|name| {
                    let summary = result.summaries.iter().find(|s| s.name == *name);
                    summary.map_or(String::new(), |s| {
                        let (low, high) = (ratio(s.ratio_low), ratio(s.ratio_high));
                        format!(
                            "{} ({}–{})",
                            ratio(s.ratio),
                            low.trim_end_matches('×'),
                            high
                        )
                    })
                })
                .collect();
            let base = result.summaries[0].median.as_secs_f64() * 1e6;
            println!("| {} | {base:.1} µs | {} |", result.case, cells.join(" | "));
        }
    }
}

fn main() {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut plan = Plan::from_env();
    if std::env::var("THING_BENCH_ROUNDS").is_err() {
        plan.rounds = 100;
    }
    let only = std::env::var("THING_BENCH_CASE").unwrap_or_default();
    println!(
        "plan: {} rounds of ~{} ms per contender",
        plan.rounds,
        plan.round_time.as_millis()
    );
    let mut results =
        run_backend::<diesel_peer::sqlite::DieselSqlite>(&runtime, plan, Backend::Sqlite, &only);
    results.extend(run_backend::<diesel_peer::postgres::DieselPg>(
        &runtime,
        plan,
        Backend::Postgres,
        &only,
    ));
    results.extend(run_backend::<diesel_peer::mysql::DieselMysql>(
        &runtime,
        plan,
        Backend::MariaDb,
        &only,
    ));
    print_summary(&results);
    let path = svg_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&path, chart(&results, plan)).unwrap();
    println!(
        "\nchart: {}\ntotal: {:.0} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}
