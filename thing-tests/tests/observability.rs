//! The `tracing` spans of Thing's operations, seen by a capturing subscriber:
//! their names and fields for a hit, a miss, a negative hit, a joined load, a
//! bypass, a list and a write, and the slow-operation warning.

use std::sync::Arc;
use std::time::Duration;
use thing::{Db, Thing};
use thing_tests::capture::{Capture, Captured, capture};
use thing_tests::models::{Item, User};
use thing_tests::{Backend, CacheKind, CacheTest, TestDb};
use tokio::sync::Notify;

/// Runs `body` on SQLite and PostgreSQL, each with the memory cache and Redis,
/// one test at a time (they share the capturing subscriber).
macro_rules! observed {
    ($(#[$doc:meta])* async fn $name:ident($c:ident, $capture:ident) $body:block) => {
        $(#[$doc])*
        mod $name {
            use super::*;
            async fn body($c: &CacheTest, $capture: &Capture) $body
            async fn run(backend: Backend, kind: CacheKind) {
                let (_lock, capture) = capture().await;
                let Some(test) = CacheTest::new(backend, kind).await else { return };
                body(&test, &capture).await;
                test.finish().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_memory() { run(Backend::Sqlite, CacheKind::Memory).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_redis() { run(Backend::Sqlite, CacheKind::Redis).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_memory() { run(Backend::Postgres, CacheKind::Memory).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() { run(Backend::Postgres, CacheKind::Redis).await }
        }
    };
}

/// The one span named `name` closed since the capture was last cleared.
/// SQLite's driver hands the current span to its worker thread with each
/// command, so a span may close a moment after its operation returned: wait
/// for it (up to 2 s).
async fn only(capture: &Capture, name: &str) -> Captured {
    for _ in 0..200 {
        if !capture.spans(name).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let spans = capture.spans(name);
    assert_eq!(
        spans.len(),
        1,
        "{name}: {spans:#?}; all: {:?}",
        capture.names()
    );
    spans.into_iter().next().unwrap()
}

/// A table with one user; returns once the spans of that work have closed.
async fn setup(c: &CacheTest, capture: &Capture) -> (Db, User) {
    let db = c.handle().await;
    db.create_table::<User>().await.unwrap();
    let mut user = User::new("a@x", "Ann", 30);
    user.save(&db).await.unwrap();
    only(capture, "thing.save").await;
    (db, user)
}

observed! {
    /// A miss reads the database (one statement); the next read is a hit with
    /// none; a Redis hit is one round trip.
    async fn by_id_miss_then_hit(c, capture) {
        let (db, user) = setup(c, capture).await;
        capture.clear();
        User::by_id(&db, user.base.id).await.unwrap();
        let miss = only(capture, "thing.by_id").await;
        assert_eq!(miss.target, "thing");
        assert_eq!(miss.level, tracing::Level::DEBUG);
        assert_eq!(miss.field("table"), Some("users"));
        assert_eq!(miss.field("id"), Some(user.base.id.to_string().as_str()));
        assert_eq!(miss.field("cache"), Some("miss"));
        assert_eq!(miss.field("statements"), Some("1"));
        assert_eq!(miss.field("cache_fills"), Some("1"));

        capture.clear();
        User::by_id(&db, user.base.id).await.unwrap();
        let hit = only(capture, "thing.by_id").await;
        assert_eq!(hit.field("cache"), Some("hit"));
        assert_eq!(hit.field("statements"), Some("0"));
        let round_trips = if c.kind == CacheKind::Redis { Some("1") } else { None };
        assert_eq!(hit.field("cache_round_trips"), round_trips);
    }
}

observed! {
    /// A missing row: the first read fails with NotFound (recorded) and caches
    /// its absence; the second is a negative hit with no SQL.
    async fn by_id_negative(c, capture) {
        let (db, _) = setup(c, capture).await;
        capture.clear();
        assert!(User::by_id(&db, 999).await.unwrap_err().is_not_found());
        let first = only(capture, "thing.by_id").await;
        assert_eq!(first.field("cache"), Some("miss"));
        assert_eq!(first.field("error"), Some("users with id 999 not found"));
        capture.clear();
        User::by_id(&db, 999).await.unwrap_err();
        let second = only(capture, "thing.by_id").await;
        assert_eq!(second.field("cache"), Some("negative"));
        assert_eq!(second.field("statements"), Some("0"));
    }
}

observed! {
    /// Two concurrent misses of one row: one reads, the other joins its load.
    async fn by_id_joined(c, capture) {
        let (db, user) = setup(c, capture).await;
        let id = user.base.id;
        let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        db.__pause_next_fill(reached.clone(), release.clone());
        capture.clear();
        let leader = tokio::spawn({
            let db = db.clone();
            async move { User::by_id(&db, id).await }
        });
        reached.notified().await;
        let follower = tokio::spawn({
            let db = db.clone();
            async move { User::by_id(&db, id).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        release.notify_one();
        leader.await.unwrap().unwrap();
        follower.await.unwrap().unwrap();
        for _ in 0..200 {
            if capture.spans("thing.by_id").len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut outcomes: Vec<String> = capture
            .spans("thing.by_id")
            .iter()
            .map(|span| span.field("cache").unwrap_or_default().to_owned())
            .collect();
        outcomes.sort();
        assert_eq!(outcomes, ["joined", "miss"]);
    }
}

observed! {
    /// Reads in a transaction bypass the cache.
    async fn by_id_bypassed_in_a_transaction(c, capture) {
        let (db, user) = setup(c, capture).await;
        capture.clear();
        let tx = db.begin().await.unwrap();
        User::by_id(&tx, user.base.id).await.unwrap();
        let read = only(capture, "thing.by_id").await;
        assert_eq!(read.field("cache"), Some("bypassed"));
        assert_eq!(read.field("statements"), Some("1"));
        tx.commit().await.unwrap();
        assert_eq!(only(capture, "thing.commit").await.field("statements"), Some("1"));
        assert_eq!(only(capture, "thing.begin").await.field("statements"), Some("1"));
    }
}

observed! {
    /// A list query: a miss reads its ids and count, then the rows; a hit
    /// reads nothing. `by_ids` reports its hits and misses.
    async fn list_and_by_ids(c, capture) {
        let (db, user) = setup(c, capture).await;
        let query = User::query().filter(User::AGE.ge(18));
        capture.clear();
        query.all(&db).await.unwrap();
        let miss = only(capture, "thing.all").await;
        assert_eq!(miss.field("cache"), Some("miss"));
        assert_eq!(miss.field("query_misses"), Some("1"));
        capture.clear();
        query.all(&db).await.unwrap();
        let hit = only(capture, "thing.all").await;
        assert_eq!(hit.field("cache"), Some("hit"));
        assert_eq!(hit.field("statements"), Some("0"));

        capture.clear();
        User::by_ids(&db, &[user.base.id, 999]).await.unwrap();
        let rows = only(capture, "thing.by_ids").await;
        assert_eq!(rows.field("ids"), Some("2"));
        assert_eq!((rows.field("cache_hits"), rows.field("cache_misses")), (Some("1"), Some("1")));
        assert_eq!(rows.field("cache"), Some("miss"));
    }
}

observed! {
    /// A keyset page: `thing.after` and `thing.before` with the table and
    /// the limit, a miss reading one statement then a hit reading none; a
    /// merge's page is `thing.merge_after`.
    async fn cursor_pages(c, capture) {
        let (db, _) = setup(c, capture).await;
        let query = User::query().order_by(User::AGE.desc());
        capture.clear();
        let page = query.after(&db, None, 5).await.unwrap();
        let miss = only(capture, "thing.after").await;
        assert_eq!((miss.field("table"), miss.field("limit")), (Some("users"), Some("5")));
        assert_eq!(miss.field("cache"), Some("miss"));
        assert_eq!(miss.field("statements"), Some("1"));
        // The seek list's hit loads the rows through the object cache, which
        // the miss (rows straight from SQL) did not fill: the next one is
        // all hits.
        for statements in ["1", "0"] {
            capture.clear();
            query.after(&db, None, 5).await.unwrap();
            let hit = only(capture, "thing.after").await;
            assert_eq!(hit.field("cache"), Some("hit"));
            assert_eq!(hit.field("statements"), Some(statements));
        }
        capture.clear();
        query.before(&db, page.prev.as_ref(), 2).await.unwrap();
        assert_eq!(only(capture, "thing.before").await.field("limit"), Some("2"));
        capture.clear();
        thing::Query::merge([query.clone(), query]).after(&db, None, 3).await.unwrap();
        assert_eq!(only(capture, "thing.merge_after").await.field("table"), Some("users"));
    }
}

observed! {
    /// A write: its statements and invalidations, and its table and id.
    async fn save_and_delete(c, capture) {
        let (db, mut user) = setup(c, capture).await;
        capture.clear();
        user.age = 31;
        user.save(&db).await.unwrap();
        let save = only(capture, "thing.save").await;
        assert_eq!(save.field("table"), Some("users"));
        assert_eq!(save.field("id"), Some(user.base.id.to_string().as_str()));
        assert_eq!(save.field("statements"), Some("1"));
        assert_eq!(save.field("invalidations"), Some("1"));
        assert_eq!(save.field("cache"), None);
        let round_trips = if c.kind == CacheKind::Redis { Some("2") } else { None };
        assert_eq!(save.field("cache_round_trips"), round_trips, "lock, then invalidate");
        capture.clear();
        user.delete(&db).await.unwrap();
        assert_eq!(only(capture, "thing.delete").await.field("statements"), Some("1"));
    }
}

/// A near tier: a hit from process memory is `near_hits` in its span (no
/// round trip) and in `Db::stats`; a write that waited for the other handle's
/// tier is `near_write_waits`; `reset_stats` starts both from zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_hits_and_write_waits_are_counted() {
    let (_lock, capture) = capture().await;
    let Some(c) = CacheTest::new(Backend::Sqlite, CacheKind::Near).await else {
        return;
    };
    let (writer, reader) = (c.handle().await, c.handle().await);
    writer.create_table::<User>().await.unwrap();
    let mut user = User::new("near@x", "Near", 30);
    user.save(&writer).await.unwrap();
    // The first read fills Redis; a later one keeps Redis' reply in memory
    // (once the fill's own invalidation came back), and the next is served
    // from there.
    reader.reset_stats();
    for _ in 0..50 {
        if reader.stats().near_hits > 0 {
            break;
        }
        User::by_id(&reader, user.base.id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(reader.stats().near_hits > 0, "{:?}", reader.stats());
    reader.reset_stats();
    capture.clear();
    User::by_id(&reader, user.base.id).await.unwrap();
    let hit = only(&capture, "thing.by_id").await;
    assert_eq!(hit.field("cache"), Some("hit"));
    // Two keys: the row, and the stamp it is checked against.
    assert_eq!(hit.field("near_hits"), Some("2"));
    assert_eq!(hit.field("cache_round_trips"), None, "{hit:?}");
    let stats = reader.stats();
    assert_eq!(
        (stats.near_hits, stats.cache_round_trips),
        (2, 0),
        "{stats:?}"
    );

    writer.reset_stats();
    capture.clear();
    user.age = 31;
    user.save(&writer).await.unwrap();
    let save = only(&capture, "thing.save").await;
    assert_eq!(save.field("near_write_waits"), Some("1"), "{save:?}");
    assert_eq!(writer.stats().near_write_waits, 1);
    reader.reset_stats();
    assert_eq!(reader.stats().near_hits, 0);
    assert_eq!(User::by_id(&reader, user.base.id).await.unwrap().age, 31);
    c.finish().await;
}

/// Operations slower than the threshold are a WARN event under `thing::slow`,
/// inside their span; with no threshold there is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_operations_are_warned_about() {
    let (_lock, capture) = capture().await;
    let Some(c) = CacheTest::new(Backend::Sqlite, CacheKind::Memory).await else {
        return;
    };
    let db = c
        .handle_with(|builder| builder.slow_operation_threshold(Some(Duration::ZERO)))
        .await;
    db.create_table::<User>().await.unwrap();
    let mut user = User::new("a@x", "Ann", 30);
    user.save(&db).await.unwrap();
    let warnings = capture.events("thing::slow");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0].level, tracing::Level::WARN);
    assert_eq!(warnings[0].field("operation"), Some("save"));
    assert_eq!(warnings[0].field("statements"), Some("1"));
    assert_eq!(warnings[0].parent.as_deref(), Some("thing.save"));

    let quiet = c
        .handle_with(|builder| builder.slow_operation_threshold(None))
        .await;
    capture.clear();
    User::by_id(&quiet, user.base.id).await.unwrap();
    assert!(capture.events("thing::slow").is_empty());
    c.finish().await;
}

/// The SQL sqlx logged for each statement since the capture began.
fn logged_statements(capture: &Capture) -> Vec<String> {
    capture
        .events("sqlx::query")
        .iter()
        .filter_map(|event| event.field("db.statement").map(str::to_owned))
        .collect()
}

/// On PostgreSQL, which sorts NULLs last going up, an order on a nullable
/// column says `NULLS FIRST` (as the other backends sort), and an order on a
/// NOT NULL column (the id, `age`) says nothing, so that a plain index on it
/// serves the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_orders_name_nulls_only_for_nullable_columns() {
    let Some(t) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    t.db.create_table::<Item>().await.unwrap();
    let (_guard, capture) = capture().await;
    let uncached = Db::builder(&t.url).no_cache().build().await.unwrap();
    Item::query()
        .order_by(Item::AGE.desc())
        .all(&uncached)
        .await
        .unwrap();
    Item::query()
        .order_by(Item::RANK.asc())
        .all(&uncached)
        .await
        .unwrap();
    let logged = logged_statements(&capture);
    let by_age = logged.iter().find(|sql| sql.contains(r#"ORDER BY "age""#));
    let by_rank = logged.iter().find(|sql| sql.contains(r#"ORDER BY "rank""#));
    let (by_age, by_rank) = (by_age.expect("logged"), by_rank.expect("logged"));
    assert!(
        by_age.contains(r#""age" DESC, "id" ASC"#) && !by_age.contains("NULLS"),
        "{by_age}"
    );
    assert!(
        by_rank.contains(r#""rank" ASC NULLS FIRST, "id" ASC"#),
        "{by_rank}"
    );
    drop(uncached);
    t.finish().await;
}
