//! Cached list queries: hits, and invalidation that drops exactly the lists a
//! committed write could change — on every backend, with the in-process cache
//! and with Redis. Whether a read hit or missed is read from `db.stats()`.

use std::sync::Arc;
use thing::{Db, Query, Thing};
use thing_tests::models::Item;
use thing_tests::{CacheKind, CacheTest, Rng, cache_tests};
use tokio::sync::Notify;

async fn setup(c: &CacheTest) -> (Db, Vec<Item>) {
    let db = c.handle().await;
    db.create_table::<Item>().await.unwrap();
    let mut items = vec![
        item("ann", 30, Some(1), Some("red"), true),
        item("bob", 12, None, Some("blue"), true),
        item("a_b", 45, Some(3), None, false),
        item("axb", 10, Some(3), Some("red"), true),
        item("cid", 5, None, None, true),
    ];
    Item::save_many(&db, &mut items).await.unwrap();
    (db, items)
}

fn item(name: &str, age: i32, rank: Option<i64>, tag: Option<&str>, active: bool) -> Item {
    Item {
        name: name.into(),
        age,
        rank,
        tag: tag.map(Into::into),
        active,
        ..Default::default()
    }
}

fn names(items: &[Item]) -> Vec<&str> {
    items.iter().map(|item| item.name.as_str()).collect()
}

/// Reads the query twice from `db`: returns whether the second read was a hit.
async fn read(db: &Db, query: &Query<Item>) -> (Vec<Item>, bool) {
    db.reset_stats();
    let rows = query.fetch(db, 0, 20).await.unwrap();
    (rows, db.stats().query_hits == 1)
}

/// Caches `query`, runs `write`, and says whether the next read hit.
async fn hit_after<F: AsyncFnOnce(&Db)>(
    db: &Db,
    query: &Query<Item>,
    write: F,
) -> (Vec<Item>, bool) {
    query.fetch(db, 0, 20).await.unwrap();
    let (_, hit) = read(db, query).await;
    assert!(hit, "a second read hits");
    write(db).await;
    read(db, query).await
}

cache_tests! {
    async fn a_cached_page_costs_no_sql(c) {
        let (db, _) = setup(c).await;
        let query = Item::query().filter(Item::AGE.gt(8)).order_by(Item::AGE.desc());
        let first = query.fetch(&db, 0, 20).await.unwrap();
        assert_eq!(names(&first), ["a_b", "ann", "bob", "axb"]);
        db.reset_stats();
        let again = query.fetch(&db, 0, 20).await.unwrap();
        assert_eq!(again, first);
        let stats = db.stats();
        assert_eq!((stats.query_hits, stats.statements()), (1, 0));
        if c.kind == CacheKind::Redis {
            assert_eq!(stats.cache_round_trips, 1, "the list and its rows together");
        }
        assert_eq!(query.count(&db).await.unwrap(), 4);
        assert_eq!(db.stats().statements(), 0, "the count is cached with the list");
    }

    // Through Redis a list read looks up the rows it loaded last time along
    // with the list. The guess is checked against the list: a changed row is a
    // miss of its own, another set of ids costs one more lookup, and neither
    // is ever read stale, whichever handle wrote.
    async fn a_list_and_its_rows_come_in_one_round_trip_and_a_wrong_guess_is_never_stale(c) {
        let (db, items) = setup(c).await;
        let other = c.handle().await;
        let query = Item::query().filter(Item::AGE.gt(8)).order_by(Item::AGE.desc());
        let whole = Item::query().filter(Item::AGE.gt(8)).order_by(Item::AGE.desc());
        query.fetch(&db, 0, 20).await.unwrap();
        whole.all(&db).await.unwrap();
        let round_trips = |db: &Db| match c.kind {
            CacheKind::Redis | CacheKind::Near => db.stats().cache_round_trips,
            CacheKind::Memory => 0,
        };

        // A row of the list changes: the list still hits, the row misses.
        let mut ann = items[0].clone();
        ann.name = "ann 2".into();
        ann.save(&other).await.unwrap();
        db.reset_stats();
        let rows = query.fetch(&db, 0, 20).await.unwrap();
        assert_eq!(names(&rows), ["a_b", "ann 2", "bob", "axb"]);
        let stats = db.stats();
        assert_eq!((stats.query_hits, stats.selects), (1, 1), "the changed row alone");
        if c.kind == CacheKind::Redis {
            // The row read from SQL is checked against the list's stamps
            // once loaded (one state): one more round trip.
            assert_eq!(round_trips(&db), 3, "list and rows, the fill, the list's stamps again");
        }

        // Another set of ids: the guess is dropped and the rows looked up again.
        let mut dan = item("dan", 50, None, None, true);
        dan.save(&other).await.unwrap();
        db.reset_stats();
        let rows = query.fetch(&db, 0, 20).await.unwrap();
        assert_eq!(names(&rows), ["dan", "a_b", "ann 2", "bob", "axb"]);
        if c.kind == CacheKind::Redis {
            assert_eq!(round_trips(&db), 5, "list and old rows, list fill, rows, row fill, stamps");
        }
        db.reset_stats();
        let again = query.fetch(&db, 0, 20).await.unwrap();
        assert_eq!(again, rows);
        assert_eq!(db.stats().statements(), 0);
        if c.kind == CacheKind::Redis {
            assert_eq!(round_trips(&db), 1, "the new guess holds");
        }

        // `all` and a page of the same list keep guesses of their own.
        db.reset_stats();
        let all = whole.all(&db).await.unwrap();
        assert_eq!(all, rows);
        let page = query.fetch(&db, 1, 2).await.unwrap();
        assert_eq!(names(&page), ["a_b", "ann 2"]);
        db.reset_stats();
        assert_eq!(query.fetch(&db, 1, 2).await.unwrap(), page);
        assert_eq!(whole.all(&db).await.unwrap(), all);
        assert_eq!(db.stats().statements(), 0);
        if c.kind == CacheKind::Redis {
            assert_eq!(round_trips(&db), 2, "one each");
        }

        // A row deleted through the other handle leaves the list and the rows.
        ann.delete(&other).await.unwrap();
        let rows = query.fetch(&db, 0, 20).await.unwrap();
        assert_eq!(names(&rows), ["dan", "a_b", "bob", "axb"]);
        assert_eq!(names(&whole.all(&db).await.unwrap()), names(&rows));
    }

    async fn writes_a_list_does_not_depend_on_keep_it(c) {
        let (db, items) = setup(c).await;
        // Without an indexed equality, a list depends on the columns it reads.
        let adults = Item::query().filter(Item::AGE.gt(18));
        let (_, hit) = hit_after(&db, &adults, async |db| {
            let mut ann = items[0].clone();
            ann.tag = Some("green".into());
            ann.save(db).await.unwrap();
        }).await;
        assert!(hit, "a column the query does not read");

        // With an equality on an indexed column, only writes to rows that have
        // (or get, or had) one of its values drop it.
        let anns = Item::query().filter(Item::NAME.eq("ann")).order_by(Item::AGE.asc());
        let (_, hit) = hit_after(&db, &anns, async |db| {
            let mut cid = items[4].clone();
            cid.age = 6;
            cid.save(db).await.unwrap();
        }).await;
        assert!(hit, "another row's column");
        let (_, hit) = hit_after(&db, &anns, async |db| {
            item("dan", 3, None, None, true).save(db).await.unwrap();
        }).await;
        assert!(hit, "an insert of another name");
        let (_, hit) = hit_after(&db, &anns, async |db| {
            Item::by_id(db, items[1].base.id).await.unwrap().delete(db).await.unwrap();
        }).await;
        assert!(hit, "a soft delete of another name");
        let (rows, hit) = hit_after(&db, &anns, async |db| {
            let mut ann = Item::by_id(db, items[0].base.id).await.unwrap();
            ann.tag = None;
            ann.save(db).await.unwrap();
        }).await;
        assert!(!hit, "any write to a row of the list");
        assert_eq!(rows[0].tag, None);
        let pair = Item::query().filter(Item::NAME.is_in(["ann", "axb"]));
        let (_, hit) = hit_after(&db, &pair, async |db| {
            let mut cid = Item::by_id(db, items[4].base.id).await.unwrap();
            cid.age = 7;
            cid.save(db).await.unwrap();
        }).await;
        assert!(hit, "`IN` on an indexed column: a row outside it");

        // Of two indexed equalities, the one naming fewer values decides: here
        // the id's, so a write to cid (whose name the `IN` names) keeps it.
        let ann_only = Item::query()
            .filter(Item::NAME.is_in(["ann", "cid"]))
            .filter(Item::ID.eq(items[0].base.id));
        let (rows, hit) = hit_after(&db, &ann_only, async |db| {
            let mut cid = Item::by_id(db, items[4].base.id).await.unwrap();
            cid.age = 14;
            cid.save(db).await.unwrap();
        }).await;
        assert!(hit, "the id's stamp, not the names'");
        assert_eq!(names(&rows), ["ann"]);
    }

    async fn writes_that_matter_drop_the_list(c) {
        let (db, items) = setup(c).await;
        let query = Item::query().filter(Item::AGE.gt(18)).order_by(Item::AGE.asc());
        let (rows, hit) = hit_after(&db, &query, async |db| {
            let mut bob = items[1].clone();
            bob.age = 20;
            bob.save(db).await.unwrap();
        }).await;
        assert!(!hit, "a row entering the filter");
        assert_eq!(names(&rows), ["bob", "ann", "a_b"]);

        let (rows, hit) = hit_after(&db, &query, async |db| {
            item("eve", 99, None, None, true).save(db).await.unwrap();
        }).await;
        assert!(!hit, "a matching insert");
        assert_eq!(names(&rows), ["bob", "ann", "a_b", "eve"]);

        let (rows, hit) = hit_after(&db, &query, async |db| {
            let mut ann = Item::by_id(db, items[0].base.id).await.unwrap();
            ann.age = 50;
            ann.save(db).await.unwrap();
        }).await;
        assert!(!hit, "a matching row whose sort column changed moves");
        assert_eq!(names(&rows), ["bob", "a_b", "ann", "eve"]);

        let (rows, hit) = hit_after(&db, &query, async |db| {
            Item::by_id(db, items[2].base.id).await.unwrap().delete(db).await.unwrap();
        }).await;
        assert!(!hit, "a soft delete");
        assert_eq!(names(&rows), ["bob", "ann", "eve"]);

        let (rows, hit) = hit_after(&db, &query, async |db| {
            let mut restored = Item::query().include_deleted().filter(Item::NAME.eq("a_b")).first(db).await.unwrap().unwrap();
            restored.base.deleted = false;
            restored.save(db).await.unwrap();
        }).await;
        assert!(!hit, "a restore");
        assert_eq!(names(&rows), ["bob", "a_b", "ann", "eve"]);
    }

    async fn lists_without_an_indexed_equality_depend_on_their_columns(c) {
        let (db, items) = setup(c).await;
        let not_three = Item::query().filter(Item::RANK.ne(3));
        let (_, hit) = hit_after(&db, &not_three, async |db| {
            let mut bob = items[1].clone();
            bob.age = 13;
            bob.save(db).await.unwrap();
        }).await;
        assert!(hit, "rank did not change");
        let (rows, hit) = hit_after(&db, &not_three, async |db| {
            let mut bob = Item::by_id(db, items[1].base.id).await.unwrap();
            bob.rank = Some(7);
            bob.save(db).await.unwrap();
        }).await;
        assert!(!hit, "NULL -> 7 enters `rank <> 3`");
        assert_eq!(names(&rows), ["ann", "bob"]);

        // LIKE is no equality: any change of the name drops the list (a
        // coarser stamp costs a refill, never a stale list).
        let underscore = Item::query().filter(Item::NAME.like("a\\_%"));
        let (rows, hit) = hit_after(&db, &underscore, async |db| {
            let mut axb = items[3].clone();
            axb.name = "axbx".into();
            axb.save(db).await.unwrap();
        }).await;
        assert!(!hit);
        assert_eq!(names(&rows), ["a_b"]);
        let (rows, _) = hit_after(&db, &underscore, async |db| {
            let mut axb = Item::by_id(db, items[3].base.id).await.unwrap();
            axb.name = "a_x".into();
            axb.save(db).await.unwrap();
        }).await;
        assert_eq!(names(&rows), ["a_b", "a_x"]);

        // `tag` is not indexed: `IN` on it depends on the column.
        let reds = Item::query().filter(Item::TAG.is_in(["red"]));
        let (rows, hit) = hit_after(&db, &reds, async |db| {
            let mut bob = Item::by_id(db, items[1].base.id).await.unwrap();
            bob.tag = Some("red".into());
            bob.save(db).await.unwrap();
        }).await;
        assert!(!hit);
        assert_eq!(rows.len(), 3);
    }

    async fn raw_queries_are_dropped_by_any_write(c) {
        let (db, items) = setup(c).await;
        let raw = Item::query().where_raw("age * 2 > ?", [40.into()]);
        let (_, hit) = hit_after(&db, &raw, async |db| {
            let mut cid = items[4].clone();
            cid.name = "cyd".into();
            cid.save(db).await.unwrap();
        }).await;
        assert!(!hit, "Thing cannot tell what raw SQL reads");
    }

    async fn a_write_through_one_handle_reaches_the_others_lists(c) {
        let (reader, items) = setup(c).await;
        let writer = c.handle().await;
        let query = Item::query().filter(Item::ACTIVE.eq(true)).order_by(Item::NAME.asc());
        assert_eq!(query.count(&reader).await.unwrap(), 4);
        let mut a_b = Item::by_id(&writer, items[2].base.id).await.unwrap();
        a_b.active = true;
        a_b.save(&writer).await.unwrap();
        assert_eq!(query.count(&reader).await.unwrap(), 5);
        assert_eq!(names(&query.all(&reader).await.unwrap()), ["a_b", "ann", "axb", "bob", "cid"]);
    }

    async fn rollback_keeps_the_list(c) {
        let (db, _) = setup(c).await;
        let query = Item::query().filter(Item::AGE.gt(18));
        let (_, hit) = hit_after(&db, &query, async |db| {
            let tx = db.begin().await.unwrap();
            item("tom", 40, None, None, true).save(&tx).await.unwrap();
            assert_eq!(query.count(&tx).await.unwrap(), 3, "the transaction sees its insert");
            tx.rollback().await.unwrap();
        }).await;
        assert!(hit);
        let (rows, hit) = hit_after(&db, &query, async |db| {
            let tx = db.begin().await.unwrap();
            item("tom", 40, None, None, true).save(&tx).await.unwrap();
            tx.commit().await.unwrap();
        }).await;
        assert!(!hit, "dropped at commit");
        assert_eq!(rows.len(), 3);
    }

    async fn a_stale_list_fill_is_refused(c) {
        let (db, _) = setup(c).await;
        let writer = c.handle().await;
        let query = Item::query().filter(Item::AGE.gt(18));
        let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        db.__pause_next_fill(reached.clone(), release.clone());
        let reader = {
            let (db, query) = (db.clone(), query.clone());
            tokio::spawn(async move { query.count(&db).await })
        };
        reached.notified().await; // the reader has counted 2, not filled yet
        item("new", 77, None, None, true).save(&writer).await.unwrap();
        release.notify_one();
        assert_eq!(reader.await.unwrap().unwrap(), 2, "its read began before the insert");
        assert_eq!(query.count(&db).await.unwrap(), 3, "and its list was not cached");
    }

    async fn concurrent_misses_of_a_list_read_it_once(c) {
        let (db, _) = setup(c).await;
        let query = Item::query().filter(Item::AGE.gt(8)).order_by(Item::AGE.desc());
        db.reset_stats();
        let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        db.__pause_next_fill(reached.clone(), release.clone());
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let (db, query) = (db.clone(), query.clone());
                tokio::spawn(async move { query.count(&db).await })
            })
            .collect();
        reached.notified().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await; // let the others queue up
        release.notify_one();
        for reader in readers {
            assert_eq!(reader.await.unwrap().unwrap(), 4);
        }
        assert_eq!(db.stats().selects, 1, "one SQL read for eight concurrent misses");
    }

    async fn pages_across_the_window_edge(c) {
        let db = c.handle_with(|builder| builder.list_window(200)).await;
        db.create_table::<Item>().await.unwrap();
        let mut many: Vec<Item> = (0..220).map(|i| item(&format!("n{i:03}"), i % 50, None, None, i % 3 != 0)).collect();
        Item::save_many(&db, &mut many).await.unwrap();
        let query = Item::query().filter(Item::AGE.ge(0)).order_by(Item::AGE.desc());
        let tx = db.begin().await.unwrap(); // reads in a transaction skip the cache: the oracle
        let expected = query.ids(&tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(expected.len(), 220);
        for _ in 0..2 {
            let page: Vec<i64> = query.fetch(&db, 198, 10).await.unwrap().iter().map(|i| i.base.id).collect();
            assert_eq!(page, expected[198..208]);
            let inside: Vec<i64> = query.fetch(&db, 190, 10).await.unwrap().iter().map(|i| i.base.id).collect();
            assert_eq!(inside, expected[190..200]);
            assert_eq!(query.count(&db).await.unwrap(), 220);
            assert_eq!(query.ids(&db).await.unwrap(), expected);
        }
        db.reset_stats();
        query.fetch(&db, 190, 10).await.unwrap();
        assert_eq!(db.stats().statements(), 0, "inside the window: no SQL");
        query.fetch(&db, 200, 8).await.unwrap(); // rows 198..208 were read above
        assert_eq!(db.stats().selects, 1, "past it: the page's ids only (rows are cached)");
    }
}

/// The queries the random test keeps cached.
fn standing_queries() -> Vec<Query<Item>> {
    vec![
        Item::query()
            .filter(Item::AGE.gt(20))
            .order_by(Item::AGE.desc()),
        Item::query().filter(Item::AGE.le(10) | Item::RANK.is_null()),
        Item::query()
            .filter(Item::RANK.ne(2))
            .order_by(Item::RANK.asc()),
        Item::query().filter(Item::NAME.like("a%") & Item::ACTIVE.eq(true)),
        Item::query()
            .filter(Item::TAG.is_in(["red", "blue"]))
            .order_by(Item::NAME.desc()),
        Item::query().filter(!Item::TAG.eq("red")),
        Item::query()
            .filter(Item::AGE.not_in([1, 2, 3]))
            .include_deleted(),
        Item::query()
            .order_by(Item::ACTIVE.asc())
            .order_by(Item::AGE.asc()),
        Item::query().where_raw("age % 2 = ?", [0.into()]),
    ]
}

cache_tests! {
    async fn random_writes_never_leave_a_stale_list(c) {
        let (db, _) = setup(c).await;
        let other = c.handle().await; // writes also come from another handle
        let queries = standing_queries();
        let names = ["ann", "abe", "bob", "a_b", "cid"];
        let tags = [None, Some("red"), Some("blue"), Some("green")];
        let mut rng = Rng(0x1157_ca11);
        let (mut hits, mut reads) = (0, 0);
        for round in 0..120 {
            // Read every standing query through the cache and check it.
            for (i, query) in queries.iter().enumerate() {
                db.reset_stats();
                let cached: Vec<i64> = query.fetch(&db, 0, 50).await.unwrap().iter().map(|item| item.base.id).collect();
                hits += db.stats().query_hits;
                reads += 1;
                let tx = db.begin().await.unwrap();
                let truth = query.fetch(&tx, 0, 50).await.unwrap();
                tx.commit().await.unwrap();
                let truth: Vec<i64> = truth.iter().map(|item| item.base.id).collect();
                assert_eq!(cached, truth, "round {round}, query {i}: a stale list");
                assert_eq!(query.count(&db).await.unwrap(), {
                    let tx = db.begin().await.unwrap();
                    let n = query.count(&tx).await.unwrap();
                    tx.commit().await.unwrap();
                    n
                }, "round {round}, query {i}: a stale count");
            }
            // One random write, from either handle.
            let writer = if rng.below(2) == 0 { &db } else { &other };
            let all = Item::query().include_deleted().ids(writer).await.unwrap();
            match rng.below(6) {
                0 => {
                    let mut new = item(names[rng.below(5) as usize], rng.below(40) as i32, None, tags[rng.below(4) as usize], rng.below(2) == 0);
                    new.rank = (rng.below(2) == 0).then(|| rng.below(4) as i64);
                    new.save(writer).await.unwrap();
                }
                1 => {
                    let id = all[rng.below(all.len() as u64) as usize];
                    if let Ok(row) = Item::by_id(writer, id).await {
                        row.delete(writer).await.unwrap();
                    }
                }
                _ => {
                    let id = all[rng.below(all.len() as u64) as usize];
                    let Some(mut row) = Item::query().include_deleted().filter(Item::ID.eq(id)).first(writer).await.unwrap() else { continue };
                    match rng.below(5) {
                        0 => row.age = rng.below(40) as i32,
                        1 => row.rank = (rng.below(2) == 0).then(|| rng.below(4) as i64),
                        2 => row.tag = tags[rng.below(4) as usize].map(Into::into),
                        3 => row.name = names[rng.below(5) as usize].into(),
                        _ => row.base.deleted = !row.base.deleted,
                    }
                    row.save(writer).await.unwrap();
                }
            }
        }
        assert!(hits * 4 > reads, "most reads should still hit: {hits}/{reads}");
    }
}

cache_tests! {
    /// A whole list longer than the cached window: through Redis its rows come
    /// from SQL in one statement, with no row lookup; through the in-process
    /// cache (a list this short), its ids from SQL, then the cached rows. The
    /// same rows either way, as the database has them.
    async fn lists_past_the_window_read_the_cheaper_way(c) {
        let db = c.handle_with(|builder| builder.list_window(5)).await;
        db.create_table::<Item>().await.unwrap();
        let mut rows: Vec<Item> = (0..20)
            .map(|n| Item { name: format!("n{n}"), age: n, ..Default::default() })
            .collect();
        Item::save_many(&db, &mut rows).await.unwrap();
        let query = Item::query().filter(Item::AGE.ge(0)).order_by(Item::AGE.desc());
        let truth = query.all(&Db::builder(&c.t.url).no_cache().build().await.unwrap()).await.unwrap();
        assert_eq!(query.all(&db).await.unwrap(), truth, "cold");
        db.reset_stats();
        assert_eq!(query.all(&db).await.unwrap(), truth, "warm");
        let stats = db.stats();
        assert_eq!((stats.query_hits, stats.statements()), (1, 1), "{stats:?}");
        match c.kind {
            CacheKind::Redis | CacheKind::Near => assert_eq!(stats.cache_hits, 0, "no row lookups: {stats:?}"),
            CacheKind::Memory => assert_eq!(stats.cache_hits, 20, "rows from the cache: {stats:?}"),
        }
        let page = query.fetch(&db, 10, 5).await.unwrap();
        assert_eq!(page, truth[10..15].to_vec());
    }
}

cache_tests! {
    /// The Go original's `IncrementalCacheUpdate_GroupedOR` and `_Complex`
    /// cases: an OR of equalities on indexed columns depends on the union of
    /// their value stamps, and an AND holding an indexed equality (nested in
    /// the filter, beside the soft-delete rule) on that equality's stamps —
    /// never on `deleted = false`, which every live row shares. So a write to
    /// an unrelated row keeps them (before: every such insert dropped both),
    /// while a write that moves a row in or out is seen.
    async fn lists_on_indexed_equalities_survive_unrelated_writes(c) {
        use thing_tests::models::User;
        let db = c.handle().await;
        let other = c.handle().await;
        db.create_table::<User>().await.unwrap();
        User::new("grouped-or@example.com", "Grouped OR", 1).save(&db).await.unwrap();
        let mut bob = User::new("bob@example.com", "Bob", 2);
        bob.save(&db).await.unwrap();
        let grouped = User::query()
            .filter(User::NAME.eq("Grouped OR") | User::EMAIL.eq("grouped-or@example.com"));
        let complex = User::query().filter(User::NAME.eq("Bob") & User::EMAIL.like("%@example.com"));
        let counts = async |db: &Db| (grouped.count(db).await.unwrap(), complex.count(db).await.unwrap());
        assert_eq!(counts(&db).await, (1, 1));

        let rounds = 20;
        let mut hits = 0;
        for round in 0..rounds {
            let mut unrelated = User::new(&format!("other{round}@example.com"), "Other", 3);
            unrelated.save(&other).await.unwrap();
            unrelated.age = 4;
            unrelated.save(&other).await.unwrap();
            db.reset_stats();
            assert_eq!(counts(&db).await, (1, 1));
            hits += db.stats().query_hits;
        }
        eprintln!("{:?}: {hits} hits in {} reads after unrelated writes", c.kind, 2 * rounds);
        assert_eq!(hits, 2 * rounds, "unrelated writes keep both lists");

        // Writes that move rows in or out, through the other handle.
        User::new("second@example.com", "Grouped OR", 5).save(&other).await.unwrap();
        let mut stray = User::new("stray@example.com", "Stray", 7);
        stray.save(&other).await.unwrap();
        stray.email = "stray@example.org".into();
        stray.name = "Bob".into();
        stray.save(&other).await.unwrap();
        assert_eq!(counts(&db).await, (2, 1), "an insert joins the OR; a non-matching Bob stays out");
        bob.email = "bob@example.org".into();
        bob.save(&other).await.unwrap();
        assert_eq!(counts(&db).await, (2, 0), "Bob left by his other column");
        let mut stray = User::by_id(&other, stray.base.id).await.unwrap();
        stray.email = "stray@example.com".into();
        stray.save(&other).await.unwrap();
        assert_eq!(counts(&db).await, (2, 1), "and another Bob joined by it");
        let grouped_row = grouped.all(&db).await.unwrap().into_iter().find(|u| u.age == 1).unwrap();
        grouped_row.delete(&other).await.unwrap();
        assert_eq!(counts(&db).await, (1, 1), "a soft delete leaves the OR");
    }
}
