//! An interleaved benchmark harness, as `shared/notes/benchmarking.md` asks:
//! every contender of a case runs in round-robin batches in one process, and the
//! result is the median per-round ratio to the baseline, with a confidence
//! interval, beside the median absolute time. Timings on shared VMs drift by up
//! to 2.5× within seconds; ratios of neighbouring batches do not.

use std::time::{Duration, Instant};

pub mod svg;

/// One way of doing the case's work: runs `n` operations, returns their time.
pub struct Contender<'a> {
    pub name: &'static str,
    pub run: Box<dyn FnMut(u64) -> Duration + 'a>,
}

impl<'a> Contender<'a> {
    pub fn new(name: &'static str, run: impl FnMut(u64) -> Duration + 'a) -> Self {
        Self {
            name,
            run: Box::new(run),
        }
    }
}

/// The summary of one contender against the baseline (the first contender).
#[derive(Debug, Clone)]
pub struct Summary {
    pub name: &'static str,
    /// Median time per operation.
    pub median: Duration,
    /// Median of the per-round ratios to the baseline.
    pub ratio: f64,
    /// 95 % confidence interval of that median (order statistics).
    pub ratio_low: f64,
    pub ratio_high: f64,
}

/// Settings of a run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub rounds: usize,
    pub round_time: Duration,
}

impl Plan {
    /// From `THING_BENCH_ROUNDS` and `THING_BENCH_ROUND_MS` (defaults 150 and 25).
    pub fn from_env() -> Self {
        let read = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|value| value.parse().ok())
                .unwrap_or(default)
        };
        Self {
            rounds: read("THING_BENCH_ROUNDS", 150) as usize,
            round_time: Duration::from_millis(read("THING_BENCH_ROUND_MS", 25)),
        }
    }
}

/// How many operations fill about `target` for this contender.
fn calibrate(contender: &mut Contender<'_>, target: Duration) -> u64 {
    let mut n = 1u64;
    loop {
        let elapsed = (contender.run)(n);
        if elapsed >= target / 4 || n >= 1 << 24 {
            let per_op = elapsed.as_secs_f64() / n as f64;
            return ((target.as_secs_f64() / per_op.max(1e-9)) as u64).max(1);
        }
        n *= 4;
    }
}

/// Runs the contenders interleaved; the first is the baseline.
pub fn interleave(plan: Plan, mut contenders: Vec<Contender<'_>>) -> Vec<Summary> {
    let sizes: Vec<u64> = contenders
        .iter_mut()
        .map(|contender| calibrate(contender, plan.round_time))
        .collect();
    let count = contenders.len();
    let mut per_op: Vec<Vec<f64>> = vec![Vec::with_capacity(plan.rounds); count];
    for round in 0..plan.rounds {
        // Rotate the order so that no contender always runs first.
        for offset in 0..count {
            let index = (round + offset) % count;
            let elapsed = (contenders[index].run)(sizes[index]);
            per_op[index].push(elapsed.as_secs_f64() / sizes[index] as f64);
        }
    }
    contenders
        .iter()
        .enumerate()
        .map(|(index, contender)| {
            let mut ratios: Vec<f64> = per_op[index]
                .iter()
                .zip(&per_op[0])
                .map(|(time, base)| time / base)
                .collect();
            let mut times = per_op[index].clone();
            let (ratio, ratio_low, ratio_high) = median_with_interval(&mut ratios);
            let (median, _, _) = median_with_interval(&mut times);
            Summary {
                name: contender.name,
                median: Duration::from_secs_f64(median),
                ratio,
                ratio_low,
                ratio_high,
            }
        })
        .collect()
}

/// The median and a 95 % distribution-free confidence interval for it.
fn median_with_interval(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let half_width = (1.96 * (n as f64).sqrt() / 2.0).ceil() as usize;
    let middle = n / 2;
    let low = middle.saturating_sub(half_width);
    let high = (middle + half_width).min(n - 1);
    let median = if n.is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    };
    (median, values[low], values[high])
}

/// Times `n` runs of an async operation on `runtime`, on the calling thread.
pub fn time_async<F, Fut>(runtime: &tokio::runtime::Runtime, n: u64, mut op: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    runtime.block_on(async {
        let started = Instant::now();
        for _ in 0..n {
            op().await;
        }
        started.elapsed()
    })
}

/// A contender: `T::update(id).set(column, value).execute(db)` of row `id`,
/// `value` counting up from 1 over every run.
pub fn updating<'a, T: thing::Thing>(
    runtime: &'a tokio::runtime::Runtime,
    db: &'a thing::Db,
    id: i64,
    column: thing::Column<T, i64>,
) -> impl FnMut(u64) -> Duration + 'a {
    let mut value = 0;
    move |n| {
        time_async(runtime, n, || {
            value += 1;
            async move {
                T::update(id).set(column, value).execute(db).await.unwrap();
            }
        })
    }
}

/// A deterministic generator (xorshift64*): the same operations on every run.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// The Redis a bench uses (`THING_BENCH_REDIS_URL`, default the local one).
pub fn redis_url() -> String {
    std::env::var("THING_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A PostgreSQL database that exists only for one bench run, on the server at
/// `THING_BENCH_POSTGRES_URL` (default the local one).
pub struct BenchDatabase {
    /// The URL of the new database.
    pub url: String,
    name: String,
    admin: thing::sqlx::PgPool,
}

impl BenchDatabase {
    /// Creates `{name}_{pid}`.
    pub async fn create(name: &str) -> Self {
        let server = std::env::var("THING_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("{name}_{}", std::process::id());
        let admin = thing::sqlx::PgPool::connect(&server)
            .await
            .expect("PostgreSQL");
        raw(&admin, &format!("CREATE DATABASE {name}")).await;
        let url = format!(
            "{}/{name}",
            server
                .rsplit_once('/')
                .map_or(server.as_str(), |(base, _)| base)
        );
        Self { url, name, admin }
    }

    /// Drops the database.
    pub async fn drop(self) {
        raw(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await;
    }
}

/// The `BaseModel` in the first four columns of a raw row (`id`, `created_at`,
/// `updated_at`, `deleted`), decoded by hand as an application using sqlx would.
pub fn base_model(row: &thing::sqlx::postgres::PgRow) -> thing::BaseModel {
    use thing::sqlx::Row;
    let mut base = thing::BaseModel::default();
    base.id = row.get(0);
    base.created_at = row.get(1);
    base.updated_at = row.get(2);
    base.deleted = row.get(3);
    base
}

/// Runs SQL on `pool`, panicking on failure (bench set-up only).
pub async fn raw(pool: &thing::sqlx::PgPool, sql: &str) {
    thing::sqlx::raw_sql(thing::sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|err| panic!("`{sql}`: {err}"));
}

/// Prints one case as a Markdown table.
pub fn report(case: &str, summaries: &[Summary]) {
    println!("\n### {case}\n");
    println!("| contender | median per op | ratio to baseline (95 % CI) |");
    println!("|---|---:|---:|");
    for summary in summaries {
        println!(
            "| {} | {:.2} µs | {:.2}× ({:.2}–{:.2}) |",
            summary.name,
            summary.median.as_secs_f64() * 1e6,
            summary.ratio,
            summary.ratio_low,
            summary.ratio_high
        );
    }
}

#[cfg(test)]
mod tests {
    use super::median_with_interval;

    #[test]
    fn median_and_interval_of_known_values() {
        let mut values: Vec<f64> = (1..=101).map(f64::from).collect();
        let (median, low, high) = median_with_interval(&mut values);
        assert_eq!(median, 51.0);
        assert!(low < median && median < high);
        assert_eq!((low, high), (41.0, 61.0));
    }
}
