//! Keyset pages (`Query::after`, `Query::before`, `Query::merge`) against a
//! plain SQL oracle: random rows with NULLs and ties, random orders, on every
//! backend and cache; walks while another handle inserts and deletes; hostile
//! tokens.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use thing::{Cursor, Db, Error, Order, Page, Query, Thing};
use thing_tests::models::{Item, Plain};
use thing_tests::{Backend, Rng, TestDb, backend_tests, cache_tests};

const NAMES: &[&str] = &["ann", "Ann", "bob", "", "abe", "ANNA", "b", "zed"];

fn random_item(rng: &mut Rng) -> Item {
    Item {
        name: rng.pick(NAMES).to_string(),
        age: rng.below(4) as i32 - 1,
        rank: (rng.below(3) > 0).then(|| rng.below(4) as i64 - 1),
        tag: (rng.below(3) > 0).then(|| rng.pick(NAMES).to_string()),
        active: rng.below(2) == 0,
        ..Default::default()
    }
}

/// One sort key: Thing's order and the oracle's SQL for it (NULLs below
/// every value: first going up, last going down).
fn random_key(rng: &mut Rng, text: bool) -> (Order<Item>, String) {
    let descending = rng.below(2) == 0;
    let columns = if text { 6 } else { 4 };
    let (order, column) = match rng.below(columns) {
        0 => (
            if descending {
                Item::AGE.desc()
            } else {
                Item::AGE.asc()
            },
            "age",
        ),
        1 => (
            if descending {
                Item::RANK.desc()
            } else {
                Item::RANK.asc()
            },
            "rank",
        ),
        2 => (
            if descending {
                Item::ACTIVE.desc()
            } else {
                Item::ACTIVE.asc()
            },
            "active",
        ),
        3 => (
            if descending {
                Item::ID.desc()
            } else {
                Item::ID.asc()
            },
            "id",
        ),
        4 => (
            if descending {
                Item::NAME.desc()
            } else {
                Item::NAME.asc()
            },
            "name",
        ),
        _ => (
            if descending {
                Item::TAG.desc()
            } else {
                Item::TAG.asc()
            },
            "tag",
        ),
    };
    let sql = if descending {
        format!("({column} IS NULL) ASC, {column} DESC")
    } else {
        format!("({column} IS NULL) DESC, {column} ASC")
    };
    (order, sql)
}

/// A random query (a filter or none, one to three keys) and its oracle's
/// `WHERE … ORDER BY …`.
fn random_query(rng: &mut Rng, text: bool) -> (Query<Item>, String) {
    let (mut query, mut sql) = match rng.below(4) {
        0 => (
            Item::query().filter(Item::AGE.ge(0)),
            "age >= 0".to_string(),
        ),
        1 => (
            Item::query().filter(Item::RANK.is_not_null()),
            "rank IS NOT NULL".to_string(),
        ),
        _ => (Item::query(), "1 = 1".to_string()),
    };
    sql.push_str(" ORDER BY ");
    for i in 0..=rng.below(3) {
        let (order, key) = random_key(rng, text);
        query = query.order_by(order);
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&key);
    }
    sql.push_str(", id ASC");
    (query, sql)
}

/// The oracle: the ids `WHERE … ORDER BY …` selects, in raw SQL.
async fn oracle(t: &TestDb, condition_and_order: &str) -> Vec<i64> {
    let sql = format!("SELECT id FROM items WHERE deleted = false AND {condition_and_order}");
    ids_of(t, &sql).await
}

async fn ids_of(t: &TestDb, sql: &str) -> Vec<i64> {
    use thing::sqlx::{self, AssertSqlSafe, Row};
    let sql = AssertSqlSafe(sql.to_owned());
    match t.backend {
        Backend::Sqlite => sqlx::query(sql)
            .fetch_all(t.db.as_sqlite().unwrap())
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect(),
        Backend::Postgres => sqlx::query(sql)
            .fetch_all(t.db.as_postgres().unwrap())
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect(),
        Backend::MySql => sqlx::query(sql)
            .fetch_all(t.db.as_mysql().unwrap())
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect(),
    }
}

fn ids<T: Thing>(page: &Page<T>) -> Vec<i64> {
    page.rows.iter().map(Thing::id).collect()
}

/// Every row, page after page from the first (random page sizes), checking
/// each page's cursors: generic, as an application's helper would be.
async fn walk_forward<T: Thing>(db: &Db, query: &Query<T>, rng: &mut Rng) -> Vec<i64> {
    let mut walked = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for _ in 0..1000 {
        let size = 1 + rng.below(6);
        let page = query.after(db, cursor.as_ref(), size).await.unwrap();
        assert!(page.rows.len() as u64 <= size);
        assert_eq!(
            page.prev.is_some(),
            cursor.is_some() && !page.rows.is_empty()
        );
        walked.extend(ids(&page));
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.rows.len() as u64,
                    size,
                    "a page with a next page is full"
                );
                cursor = Some(next);
            }
            None => return walked,
        }
    }
    panic!("the walk did not end");
}

/// Every row, page before page from the last, in the query's order.
async fn walk_back<T: Thing>(db: &Db, query: &Query<T>, rng: &mut Rng) -> Vec<i64> {
    let mut pages = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for _ in 0..1000 {
        let size = 1 + rng.below(6);
        let page = query.before(db, cursor.as_ref(), size).await.unwrap();
        assert!(page.rows.len() as u64 <= size);
        assert_eq!(
            page.next.is_some(),
            cursor.is_some() && !page.rows.is_empty()
        );
        pages.push(ids(&page));
        match page.prev {
            Some(prev) => {
                assert_eq!(
                    page.rows.len() as u64,
                    size,
                    "a page with a previous page is full"
                );
                cursor = Some(prev);
            }
            None => return pages.into_iter().rev().flatten().collect(),
        }
    }
    panic!("the walk did not end");
}

async fn seeded(t: &TestDb, seed: u64, rows: usize) -> Rng {
    t.db.create_table::<Item>().await.unwrap();
    let mut rng = Rng(seed);
    let mut items: Vec<Item> = (0..rows).map(|_| random_item(&mut rng)).collect();
    Item::save_many(&t.db, &mut items).await.unwrap();
    for item in items.iter().step_by(9) {
        item.delete(&t.db).await.unwrap();
    }
    rng
}

cache_tests! {
    // Forward and back, from the cache and past its window (a handle that
    // keeps 8 ids of a list), every walk is the database's order with no
    // row twice and none skipped; a page back from a page's `prev` is the
    // page before it.
    async fn cursor_walks_equal_the_database_order(c) {
        let t = &c.t;
        let seed = std::env::var("THING_QUERY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xc0_7507);
        let mut rng = seeded(t, seed, 45).await;
        let wide = c.handle().await;
        let narrow = c.handle_with(|builder| builder.list_window(8)).await;
        let uncached = Db::builder(&t.url).no_cache().build().await.unwrap();
        // One way and no NULLs (a row comparison on PostgreSQL), then random.
        let fixed = [
            (Item::query().order_by(Item::AGE.asc()), "1 = 1 ORDER BY age ASC, id ASC"),
            (Item::query().order_by(Item::ACTIVE.desc()).order_by(Item::AGE.desc()).order_by(Item::ID.desc()), "1 = 1 ORDER BY active DESC, age DESC, id DESC"),
        ];
        let mut queries: Vec<(Query<Item>, String)> = fixed.into_iter().map(|(query, sql)| (query, sql.to_string())).collect();
        queries.extend((0..25).map(|_| random_query(&mut rng, true)));
        for (round, (query, sql)) in queries.into_iter().enumerate() {
            let expected = oracle(t, &sql).await;
            for (name, db) in [("wide", &wide), ("narrow", &narrow), ("uncached", &uncached)] {
                for pass in ["miss", "hit"] {
                    let why = format!("seed {seed:#x} round {round} {name} {pass}: {sql}");
                    assert_eq!(walk_forward(db, &query, &mut rng).await, expected, "forward, {why}");
                    assert_eq!(walk_back(db, &query, &mut rng).await, expected, "back, {why}");
                }
            }
            // A page, then back from its `prev`: the page before it.
            let first = query.after(&wide, None, 4).await.unwrap();
            if let Some(next) = first.next.as_ref() {
                let second = query.after(&narrow, Some(next), 4).await.unwrap();
                let back = query.before(&uncached, second.prev.as_ref(), 4).await.unwrap();
                assert_eq!(ids(&back), ids(&first), "round {round}: {sql}");
            }
        }
    }

    // A page inside the cached window sends no SQL once the seek list and
    // the rows are cached, for an order Rust can follow; an order by text asks the
    // database; a write moves the stamps and the next page is fresh.
    async fn cached_pages_send_no_sql_and_follow_writes(c) {
        let t = &c.t;
        let _ = seeded(t, 3, 30).await;
        let db = c.handle().await;
        let other = c.handle().await;
        let mut rng = Rng(5);
        let query = Item::query().order_by(Item::RANK.desc()).order_by(Item::AGE.asc());
        // The first walk reads the seek list with its rows; the second the
        // rows through the object cache; the third needs neither.
        let expected = walk_forward(&db, &query, &mut rng).await;
        assert_eq!(walk_forward(&db, &query, &mut rng).await, expected);
        db.reset_stats();
        assert_eq!(walk_forward(&db, &query, &mut rng).await, expected);
        assert_eq!(walk_back(&db, &query, &mut rng).await, expected);
        assert_eq!(db.stats().statements(), 0, "pages from the cache");

        let by_text = Item::query().order_by(Item::NAME.asc());
        let _ = walk_forward(&db, &by_text, &mut rng).await;
        db.reset_stats();
        let _ = walk_forward(&db, &by_text, &mut rng).await;
        assert!(db.stats().statements() > 0, "an order by text asks the database");

        // A warm page through Redis is one round trip: the rows this page
        // read loaded last are looked up with the seek list.
        let first = query.after(&db, None, 3).await.unwrap();
        let second = query.after(&db, first.next.as_ref(), 3).await.unwrap();
        db.reset_stats();
        assert_eq!(ids(&query.after(&db, first.next.as_ref(), 3).await.unwrap()), ids(&second));
        if c.kind == thing_tests::CacheKind::Redis {
            assert_eq!(db.stats().cache_round_trips, 1, "{:?}", db.stats());
        }
        assert_eq!(db.stats().statements(), 0);

        // A write through another handle: the first page is read again, in
        // one statement (the seek list with its rows).
        let mut top = first.rows[0].clone();
        top.rank = Some(-50);
        top.save(&other).await.unwrap();
        db.reset_stats();
        let again = query.after(&db, None, 3).await.unwrap();
        assert_eq!(db.stats().statements(), 1, "{:?}", db.stats());
        assert!(!ids(&again).contains(&top.base.id), "the moved row left the first page");
        let expected = oracle(t, "1 = 1 ORDER BY (rank IS NULL) ASC, rank DESC, age ASC, id ASC").await;
        assert_eq!(walk_forward(&db, &query, &mut rng).await, expected);
    }

    // A write between a cached page's ids and the load of its rows (forced:
    // the read stops there while another handle moves a row of the page to
    // the end of the order): the page is read again, so its rows come in
    // their order, never a moved row at its old place. The same for `fetch`.
    // (Rows looked up in the list's own cache call, through Redis, have no
    // such gap.)
    async fn a_write_between_a_pages_ids_and_its_rows_is_never_mixed_in(c) {
        let t = &c.t;
        let _ = seeded(t, 17, 30).await;
        let db = c.handle().await;
        let other = c.handle().await;
        let query = Item::query().order_by(Item::AGE.desc()).order_by(Item::ID.desc());
        let in_order = |rows: &[Item]| rows.windows(2).all(|pair| (pair[0].age, pair[0].base.id) > (pair[1].age, pair[1].base.id));
        for fetch in [false, true] {
            // Warm: the list and the rows are cached.
            let mut rng = Rng(2);
            walk_forward(&db, &query, &mut rng).await;
            walk_forward(&db, &query, &mut rng).await;
            query.fetch(&db, 0, 6).await.unwrap();
            let before = query.after(&db, None, 6).await.unwrap();
            let (reached, release) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
            db.__pause_next_list_rows(reached.clone(), release.clone());
            let read = {
                let (db, query) = (db.clone(), query.clone());
                // A limit not read before: through Redis no row hint is
                // looked up with the list, so the rows are a call of their own.
                tokio::spawn(async move {
                    if fetch {
                        query.fetch(&db, 0, 7).await.unwrap()
                    } else {
                        query.after(&db, None, 7).await.unwrap().rows
                    }
                })
            };
            tokio::time::timeout(std::time::Duration::from_secs(10), reached.notified())
                .await
                .expect("the read stopped between its ids and its rows");
            let mut moved = before.rows[2].clone();
            moved.age = -1_000 - i32::from(fetch);
            moved.save(&other).await.unwrap();
            release.notify_one();
            let rows = read.await.unwrap();
            assert!(in_order(&rows), "fetch {fetch}: {:?}", rows.iter().map(|r| (r.base.id, r.age)).collect::<Vec<_>>());
            assert!(!rows.iter().any(|row| row.base.id == moved.base.id), "fetch {fetch}: the moved row left the page");
        }
    }

    // A cursor keeps the sort values of its row: after that row is deleted,
    // or moved elsewhere in the order, the next page is what it was.
    async fn a_cursor_outlives_its_row(c) {
        let t = &c.t;
        let _ = seeded(t, 8, 30).await;
        let db = c.handle().await;
        let other = c.handle().await;
        let query = Item::query().order_by(Item::AGE.desc()).order_by(Item::TAG.asc());
        for window in [None, Some(2)] {
            let db = match window {
                None => db.clone(),
                Some(ids) => c.handle_with(|builder| builder.list_window(ids)).await,
            };
            let first = query.after(&db, None, 5).await.unwrap();
            let next = first.next.clone().unwrap();
            let before = ids(&query.after(&db, Some(&next), 5).await.unwrap());
            let mut last = first.rows.last().unwrap().clone();
            last.age = -100;
            last.save(&other).await.unwrap();
            assert_eq!(ids(&query.after(&db, Some(&next), 5).await.unwrap()), before, "moved");
            last.delete(&other).await.unwrap();
            assert_eq!(ids(&query.after(&db, Some(&next), 5).await.unwrap()), before, "deleted");
            let rank = Item::query().order_by(Item::RANK.asc());
            let page = rank.after(&db, None, 3).await.unwrap();
            let cursor = page.next.unwrap();
            let expected = ids(&rank.after(&db, Some(&cursor), 3).await.unwrap());
            for item in &page.rows {
                item.delete(&other).await.unwrap();
            }
            assert_eq!(ids(&rank.after(&db, Some(&cursor), 3).await.unwrap()), expected);
            assert_eq!(rank.before(&db, Some(&cursor), 3).await.unwrap().rows.len(), 0, "the rows before it are gone");
        }
    }

    // While another handle inserts and deletes rows, a walk skips no row
    // that existed for the whole walk, repeats none, and no page holds a row
    // whose delete had returned before the page was asked for.
    async fn walks_under_concurrent_writes_skip_nothing_and_are_never_stale(c) {
        let t = &c.t;
        let _ = seeded(t, 21, 40).await;
        let reader = c.handle().await;
        let writer = c.handle().await;
        let query = Item::query().order_by(Item::RANK.asc()).order_by(Item::AGE.desc());
        let by_text = Item::query().order_by(Item::NAME.desc());
        for query in [query, by_text] {
            let stable: HashSet<i64> = query.ids(&writer).await.unwrap().into_iter().collect();
            let deleted: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
            let writes = {
                let (writer, deleted) = (writer.clone(), deleted.clone());
                tokio::spawn(async move {
                    let mut rng = Rng(99);
                    for _ in 0..40 {
                        let mut item = random_item(&mut rng);
                        item.save(&writer).await.unwrap();
                        if rng.below(2) == 0 {
                            item.delete(&writer).await.unwrap();
                            deleted.lock().unwrap().insert(item.base.id, Instant::now());
                        }
                        tokio::task::yield_now().await;
                    }
                })
            };
            let mut rng = Rng(4);
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let asked = Instant::now();
                let page = query.after(&reader, cursor.as_ref(), 1 + rng.below(4)).await.unwrap();
                for id in ids(&page) {
                    let gone = deleted.lock().unwrap().get(&id).copied();
                    assert!(gone.is_none_or(|at| at > asked), "row {id} was deleted before the page was asked for");
                }
                seen.extend(ids(&page));
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            writes.await.unwrap();
            let distinct: HashSet<i64> = seen.iter().copied().collect();
            assert_eq!(distinct.len(), seen.len(), "no row twice");
            assert!(stable.is_subset(&distinct), "skipped: {:?}", stable.difference(&distinct).collect::<Vec<_>>());
        }
    }

    // A merge of queries with one order is the database's order of their
    // union, each row once, forward and back, cached or not.
    async fn merged_queries_page_as_their_union(c) {
        let t = &c.t;
        let _ = seeded(t, 13, 45).await;
        let wide = c.handle().await;
        let narrow = c.handle_with(|builder| builder.list_window(6)).await;
        let db = &narrow;
        let order = "(rank IS NULL) ASC, rank DESC, id DESC";
        let parts = || {
            let query = || Item::query().order_by(Item::RANK.desc()).order_by(Item::ID.desc());
            [
                query().filter(Item::ACTIVE.eq(true)),
                query().filter(Item::AGE.eq(0)),
                query().filter(Item::RANK.is_null() & Item::AGE.ge(1)),
            ]
        };
        let expected = oracle(t, &format!("(active = true OR age = 0 OR (rank IS NULL AND age >= 1)) ORDER BY {order}")).await;
        let merge = Query::merge(parts());
        let mut rng = Rng(1);
        for db in [&wide, &narrow, &wide] {
            let mut walked = Vec::new();
            let mut cursor = None;
            loop {
                let page = merge.after(db, cursor.as_ref(), 1 + rng.below(5)).await.unwrap();
                walked.extend(ids(&page));
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(walked, expected);
            let mut pages = Vec::new();
            let mut cursor = None;
            loop {
                let page = merge.before(db, cursor.as_ref(), 1 + rng.below(5)).await.unwrap();
                pages.push(ids(&page));
                match page.prev {
                    Some(prev) => cursor = Some(prev),
                    None => break,
                }
            }
            assert_eq!(pages.into_iter().rev().flatten().collect::<Vec<_>>(), expected);
        }
        // A merge's cursor is not its parts', nor a part's the merge's.
        let page = merge.after(db, None, 2).await.unwrap();
        let [part, ..] = parts();
        assert!(matches!(part.after(db, page.next.as_ref(), 2).await, Err(Error::InvalidCursor { .. })));
        let own = part.after(db, None, 2).await.unwrap();
        assert!(matches!(merge.after(db, own.next.as_ref(), 2).await, Err(Error::InvalidCursor { .. })));
    }
}

/// A model on the `items` table with fewer columns.
#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "items")]
struct ItemName {
    #[thing(base)]
    base: thing::BaseModel,
    name: String,
}

backend_tests! {
    // Inside a transaction a page reads the transaction, its own writes
    // included, and the same cursors work outside it.
    async fn pages_in_a_transaction_read_the_transaction(t) {
        let _ = seeded(t, 6, 12).await;
        let db = &t.db;
        let query = Item::query().order_by(Item::AGE.desc());
        let outside = query.after(db, None, 3).await.unwrap();
        let tx = db.begin().await.unwrap();
        let mut top = Item { age: 1_000, name: "new".into(), ..Default::default() };
        top.save(&tx).await.unwrap();
        let inside = query.after(&tx, None, 3).await.unwrap();
        assert_eq!(ids(&inside)[0], top.base.id, "its own insert");
        let next = query.after(&tx, inside.next.as_ref(), 3).await.unwrap();
        assert_eq!(ids(&inside)[1..], ids(&outside)[..2]);
        assert_eq!(ids(&next)[0], ids(&outside)[2], "the page after the transaction's second row");
        tx.rollback().await.unwrap();
        assert_eq!(ids(&query.after(db, None, 3).await.unwrap()), ids(&outside));
    }

    // A cursor from another query, table or model, a truncated or altered
    // one, and a merge it cannot do are typed errors, before any SQL.
    async fn hostile_cursors_and_merges_are_typed_errors(t) {
        let _ = seeded(t, 2, 10).await;
        t.db.create_table::<Plain>().await.unwrap();
        for count in 0..3 {
            Plain { label: "p".into(), count, ..Default::default() }.save(&t.db).await.unwrap();
        }
        let db = &t.db;
        let query = Item::query().order_by(Item::AGE.asc());
        let cursor = query.after(db, None, 2).await.unwrap().next.unwrap();
        let plain = Plain::query().after(db, None, 1).await.unwrap();
        let text = cursor.to_string();
        let text = text.as_str();
        let mut tampered = text.to_string().into_bytes();
        tampered[text.len() / 2] = if tampered[text.len() / 2] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for hostile in [&text[..text.len() - 3], &tampered, "", "%%%", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            assert!(matches!(hostile.parse::<Cursor>(), Err(Error::InvalidCursor { .. })), "{hostile:?}");
        }
        let others = [
            Item::query().order_by(Item::AGE.desc()),
            Item::query().filter(Item::AGE.gt(0)).order_by(Item::AGE.asc()),
            Item::query().order_by(Item::AGE.asc()).include_deleted(),
        ];
        db.reset_stats();
        for other in &others {
            let err = other.after(db, Some(&cursor), 2).await.unwrap_err();
            assert!(matches!(err, Error::InvalidCursor { .. }), "{err}");
            let err = other.before(db, Some(&cursor), 2).await.unwrap_err();
            assert!(matches!(err, Error::InvalidCursor { .. }), "{err}");
        }
        let err = ItemName::query().order_by(ItemName::NAME.asc()).after(db, Some(&cursor), 2).await.unwrap_err();
        assert!(matches!(err, Error::InvalidCursor { .. }), "another model: {err}");
        let err = Item::query().after(db, plain.next.as_ref(), 2).await.unwrap_err();
        assert!(matches!(err, Error::InvalidCursor { .. }), "another table: {err}");
        let by_text = Query::merge([Item::query().order_by(Item::NAME.asc())]);
        assert!(matches!(by_text.after(db, None, 2).await, Err(Error::InvalidInput(_))));
        let mixed = Query::merge([Item::query().order_by(Item::AGE.asc()), Item::query()]);
        assert!(matches!(mixed.after(db, None, 2).await, Err(Error::InvalidInput(_))));
        assert_eq!(db.stats().statements(), 0, "nothing sent");
    }
}
