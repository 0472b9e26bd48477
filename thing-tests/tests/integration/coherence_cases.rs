//! One test per way a cached row or list used to go stale, each forcing its
//! interleaving (a pause between a read's SQL and its fill, a writer that dies
//! after its commit, a stale copy of a row, a second struct on the table), on
//! every backend with both caches. Each failed before lists were checked
//! against stamps (see docs/consistency.md).

use std::sync::Arc;
use thing::{BaseModel, Db, Thing};
use thing_tests::models::{Item, User};
use thing_tests::{Backend, CacheKind, CacheTest, cache_tests};
use tokio::sync::Notify;

/// A second struct on the `items` table, with fewer columns (another schema
/// hash), as another service or another version of this one would declare it.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "items")]
struct ItemName {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    name: String,
    age: i32,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "authors")]
struct Author {
    #[thing(base)]
    base: BaseModel,
    #[thing(has_many(Article, fk = "author_id"))]
    articles: thing::HasMany<Article>,
}

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "articles")]
struct Article {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    author_id: i64,
    stars: i32,
}

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "owners")]
struct Owner {
    id: i64,
    active: bool,
}

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "pets")]
struct Pet {
    id: i64,
    owner_id: i64,
    name: String,
}

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "scores")]
struct Score {
    id: i64,
    value: f64,
}

async fn items(c: &CacheTest) -> (Db, Item) {
    let db = c.handle().await;
    db.create_table::<Item>().await.unwrap();
    let mut ann = Item {
        name: "ann".into(),
        age: 30,
        ..Default::default()
    };
    ann.save(&db).await.unwrap();
    (db, ann)
}

fn gate() -> (Arc<Notify>, Arc<Notify>) {
    (Arc::new(Notify::new()), Arc::new(Notify::new()))
}

cache_tests! {
    // Single flight: a read that starts after a write returned must not wait
    // for a load whose SQL ran before that write.
    async fn a_read_after_a_write_never_joins_an_older_row_load(c) {
        let (db, mut ann) = items(c).await;
        let (reached, release) = gate();
        db.__pause_next_fill(reached.clone(), release.clone());
        let early = {
            let (db, id) = (db.clone(), ann.base.id);
            tokio::spawn(async move { Item::by_id(&db, id).await })
        };
        reached.notified().await; // it read age 30 and waits before its fill
        ann.age = 31;
        ann.save(&db).await.unwrap();
        let late = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            Item::by_id(&db, ann.base.id),
        )
        .await;
        release.notify_one();
        assert_eq!(early.await.unwrap().unwrap().age, 30, "it began before the write");
        assert_eq!(late.expect("did not wait for the older load").unwrap().age, 31);
        assert_eq!(Item::by_id(&db, ann.base.id).await.unwrap().age, 31);
    }

    async fn a_read_after_a_write_never_joins_an_older_list_load(c) {
        let (db, mut ann) = items(c).await;
        let thirties = Item::query().filter(Item::AGE.ge(30));
        // Cached once (its stamps exist), then made stale, so that the next
        // read is an ordinary miss that others may join.
        thirties.count(&db).await.unwrap();
        ann.age = 35;
        ann.save(&db).await.unwrap();
        let (reached, release) = gate();
        db.__pause_next_fill(reached.clone(), release.clone());
        let early = {
            let (db, query) = (db.clone(), thirties.clone());
            tokio::spawn(async move { query.count(&db).await })
        };
        reached.notified().await;
        ann.age = 20;
        ann.save(&db).await.unwrap();
        let late = tokio::time::timeout(std::time::Duration::from_secs(5), thirties.count(&db)).await;
        release.notify_one();
        assert_eq!(early.await.unwrap().unwrap(), 1);
        assert_eq!(late.expect("did not wait for the older load").unwrap(), 0);
        assert_eq!(thirties.count(&db).await.unwrap(), 0, "and the older list was not kept");
    }

    // A delete locks its row before COMMIT, like every write: if the deleter
    // dies right after its commit, other handles do not serve the row.
    async fn a_deleter_dying_after_its_commit_leaves_no_row(c) {
        let (writer, ann) = items(c).await;
        let other = c.handle().await;
        let mut bob = Item { name: "bob".into(), age: 5, ..Default::default() };
        bob.save(&writer).await.unwrap();
        for id in [ann.base.id, bob.base.id] {
            Item::by_id(&other, id).await.unwrap(); // cached
        }
        let everyone = Item::query().order_by(Item::AGE.asc());
        assert_eq!(everyone.count(&other).await.unwrap(), 2); // cached
        writer.__die_after_commit(true);
        ann.delete(&writer).await.unwrap();
        bob.delete_hard(&writer).await.unwrap();
        assert!(Item::by_id(&other, ann.base.id).await.unwrap_err().is_not_found());
        assert!(Item::by_id(&other, bob.base.id).await.unwrap_err().is_not_found());
        assert_eq!(everyone.count(&other).await.unwrap(), 0);
    }

    // The old values of a write come from the database, not from the copy's
    // snapshot: saving a stale copy still drops the lists the row was in.
    async fn saving_a_stale_copy_drops_the_lists_the_row_is_in(c) {
        let (db, ann) = items(c).await;
        let (mut fresh, mut stale) = (ann.clone(), ann.clone());
        fresh.name = "zed".into();
        fresh.age = 40;
        fresh.save(&db).await.unwrap();
        let zeds = Item::query().filter(Item::NAME.eq("zed"));
        let over_35 = Item::query().filter(Item::AGE.gt(35));
        assert_eq!((zeds.count(&db).await.unwrap(), over_35.count(&db).await.unwrap()), (1, 1));

        stale.name = "bob".into(); // its snapshot still says "ann", 30
        stale.age = 10;
        stale.save(&db).await.unwrap();
        assert_eq!(zeds.count(&db).await.unwrap(), 0, "the row left `name = zed`");
        assert_eq!(over_35.count(&db).await.unwrap(), 0, "and `age > 35`");
        assert_eq!(Item::by_id(&db, ann.base.id).await.unwrap().name, "bob");

        // The same after an incr, which the copy knows nothing of.
        let mut kept = Item::by_id(&db, ann.base.id).await.unwrap();
        Item::incr(&db, ann.base.id, Item::AGE, 30).await.unwrap(); // 40
        let over_35 = Item::query().filter(Item::AGE.gt(35)).filter(Item::NAME.eq("bob"));
        assert_eq!(over_35.count(&db).await.unwrap(), 1);
        kept.name = "cat".into();
        kept.save(&db).await.unwrap();
        assert_eq!(over_35.count(&db).await.unwrap(), 0);
    }

    // Keys and stamps are by table: two structs on one table (or two versions
    // of one struct during a rolling deploy) invalidate each other.
    async fn two_structs_on_one_table_share_invalidation(c) {
        let (db, mut ann) = items(c).await;
        let view = c.handle().await;
        assert_eq!(ItemName::by_id(&view, ann.base.id).await.unwrap().age, 30); // cached
        let anns = ItemName::query().filter(ItemName::NAME.eq("ann"));
        assert_eq!(anns.count(&view).await.unwrap(), 1); // cached
        ann.age = 31;
        ann.name = "ann2".into();
        ann.save(&db).await.unwrap();
        assert_eq!(ItemName::by_id(&view, ann.base.id).await.unwrap().age, 31);
        assert_eq!(anns.count(&view).await.unwrap(), 0);
        // And back: the other struct's write reaches this one.
        let mut renamed = ItemName::by_id(&view, ann.base.id).await.unwrap();
        renamed.name = "ann".into();
        renamed.save(&view).await.unwrap();
        assert_eq!(Item::by_id(&db, ann.base.id).await.unwrap().name, "ann");
        assert_eq!(Item::query().filter(Item::NAME.eq("ann")).count(&db).await.unwrap(), 1);
    }

    // Raw SQL that reads another table declares it, and that table's writes
    // drop the list.
    async fn raw_sql_reading_another_table_is_dropped_by_its_writes(c) {
        let (db, _) = items(c).await;
        db.create_table::<User>().await.unwrap();
        let older_than_users = Item::query()
            .where_raw("age > (SELECT COUNT(*) FROM users) + ?", [27.into()])
            .reads::<User>();
        assert_eq!(older_than_users.count(&db).await.unwrap(), 1); // 30 > 0 + 27
        for i in 0..3 {
            User::new(&format!("u{i}@x"), "u", 1).save(&db).await.unwrap();
        }
        assert_eq!(older_than_users.count(&db).await.unwrap(), 0, "30 > 3 + 27 is false");
    }

    // Raw SQL that reads another table but does not declare it (no
    // `.reads`) is never cached: a write to that table through another
    // handle is seen at once. Declared, it is cached and dropped by those
    // writes; raw SQL that reads only its own table is cached as before,
    // whatever words its string literals hold.
    async fn raw_sql_reading_an_undeclared_table_is_never_stale(c) {
        let db = c.handle().await;
        let other = c.handle().await;
        db.create_table::<Owner>().await.unwrap();
        db.create_table::<Pet>().await.unwrap();
        let mut owner = Owner { active: true, ..Default::default() };
        owner.save(&db).await.unwrap();
        for name in ["a", "b", "c"] {
            Pet { owner_id: owner.id, name: name.into(), ..Default::default() }.save(&db).await.unwrap();
        }
        let fragment = "owner_id IN (SELECT id FROM owners WHERE active = ?)";
        let undeclared = Pet::query().where_raw(fragment, [true.into()]);
        let declared = Pet::query().where_raw(fragment, [true.into()]).reads::<Owner>();
        let joined = Pet::query().where_raw(
            "EXISTS (SELECT 1 FROM owners o\nJOIN owners p ON p.id = o.id WHERE o.id = owner_id AND o.active = ?)",
            [true.into()],
        );
        for query in [&undeclared, &declared, &joined] {
            assert_eq!(query.count(&db).await.unwrap(), 3);
            assert_eq!(query.count(&db).await.unwrap(), 3);
        }
        db.reset_stats();
        assert_eq!(undeclared.count(&db).await.unwrap(), 3);
        assert_eq!(joined.count(&db).await.unwrap(), 3);
        assert_eq!(db.stats().query_hits, 0, "undeclared: never cached");
        assert_eq!(declared.count(&db).await.unwrap(), 3);
        assert_eq!(db.stats().query_hits, 1, "declared: cached");

        let mut gone = Owner::by_id(&other, owner.id).await.unwrap();
        gone.active = false;
        gone.save(&other).await.unwrap();
        for query in [&undeclared, &declared, &joined] {
            assert_eq!(query.count(&db).await.unwrap(), 0, "{query:?}");
            assert_eq!(query.all(&db).await.unwrap().len(), 0, "{query:?}");
        }

        let own = Pet::query().where_raw("name <> 'SELECT x FROM y' AND \"name\" <> ?", ["from".into()]);
        assert_eq!(own.count(&db).await.unwrap(), 3);
        db.reset_stats();
        assert_eq!(own.count(&db).await.unwrap(), 3);
        assert_eq!(db.stats().query_hits, 1, "its own table only: cached");
    }

    // A cached read returns one state. A page, and a preload of a filtered
    // `has_many`, read their ids, then their rows; here a write moves a row
    // between the two (forced by the pause before the list's fill): the row
    // left the filter and changed parent. Before, the page returned it with
    // 2 stars under `stars >= 4`, and the preload placed it under the author
    // it moved to, whose filtered relation it never matched.
    async fn a_cached_page_or_preload_never_mixes_two_states(c) {
        let db = c.handle().await;
        let other = c.handle().await;
        db.create_table::<Author>().await.unwrap();
        db.create_table::<Article>().await.unwrap();
        let mut authors = vec![Author::default(), Author::default()];
        Author::save_many(&db, &mut authors).await.unwrap();
        let (first, second) = (authors[0].base.id, authors[1].base.id);
        let mut kept = Article { author_id: first, stars: 4, ..Default::default() };
        kept.save(&db).await.unwrap();
        let starred = Article::query().filter(Article::STARS.ge(4)).order_by(Article::STARS.desc());
        let relation = Author::ARTICLES.filter(Article::STARS.ge(4)).order_by(Article::STARS.desc());
        for preloading in [false, true] {
            let mut moving = Article { author_id: second, stars: 5, ..Default::default() };
            moving.save(&db).await.unwrap();
            let (reached, release) = gate();
            db.__pause_next_fill(reached.clone(), release.clone());
            let read = {
                let (db, starred, relation) = (db.clone(), starred.clone(), relation.clone());
                let mut authors = authors.clone();
                tokio::spawn(async move {
                    if preloading {
                        thing::preload(&db, &mut authors, &relation).await.unwrap();
                        let placed: Vec<(i64, Vec<Article>)> = authors
                            .iter()
                            .map(|author| (author.base.id, author.articles.get().unwrap().to_vec()))
                            .collect();
                        placed
                    } else {
                        vec![(0, starred.fetch(&db, 0, 10).await.unwrap())]
                    }
                })
            };
            reached.notified().await; // its ids are read; its rows are not
            let mut moved = Article::by_id(&other, moving.base.id).await.unwrap();
            moved.author_id = first;
            moved.stars = 2;
            moved.save(&other).await.unwrap();
            release.notify_one();
            for (author, articles) in read.await.unwrap() {
                for article in &articles {
                    assert!(article.stars >= 4, "preloading {preloading}: {article:?} under `stars >= 4`");
                    if preloading {
                        assert_eq!(article.author_id, author, "{article:?} placed under author {author}");
                    }
                }
            }
            moved.delete_hard(&db).await.unwrap();
        }
        assert_eq!(starred.all(&db).await.unwrap(), vec![kept]);
    }

    // Queries that differ only in a float that JSON cannot spell (inf, -inf,
    // NaN) have lists of their own.
    async fn float_operands_that_json_cannot_spell_key_distinct_lists(c) {
        if c.t.backend == Backend::MySql {
            return; // MySQL has no infinite doubles to bind
        }
        let db = c.handle().await;
        db.create_table::<Score>().await.unwrap();
        Score { id: 0, value: 1.5 }.save(&db).await.unwrap();
        let above = |bound: f64| Score::query().filter(Score::VALUE.gt(bound));
        assert_eq!(above(f64::NEG_INFINITY).count(&db).await.unwrap(), 1);
        assert_eq!(above(f64::INFINITY).count(&db).await.unwrap(), 0);
        assert_eq!(above(f64::NEG_INFINITY).count(&db).await.unwrap(), 1);
    }

    // A write that fails (here a unique violation) takes its locks back: the
    // row is read, filled and hit again at once, not refused for the window.
    async fn a_failed_write_leaves_no_lock(c) {
        let db = c.handle().await;
        db.create_table::<User>().await.unwrap();
        let mut ann = User::new("ann@x", "ann", 1);
        ann.save(&db).await.unwrap();
        let mut bob = User::new("bob@x", "bob", 2);
        bob.save(&db).await.unwrap();
        User::by_id(&db, bob.base.id).await.unwrap();
        bob.email = "ann@x".into();
        assert!(bob.save(&db).await.is_err(), "a unique violation");
        User::by_id(&db, bob.base.id).await.unwrap();
        db.reset_stats();
        let again = User::by_id(&db, bob.base.id).await.unwrap();
        assert_eq!(again.email, "bob@x");
        assert_eq!((db.stats().cache_hits, db.stats().statements()), (1, 0), "filled and hit");
    }

    // A table dropped and created again starts with a cold cache: rows, absent
    // markers and lists cached for the old table (whose ids the new one
    // reuses) are never served for it.
    async fn recreating_a_table_drops_what_was_cached_for_it(c) {
        let (db, ann) = items(c).await;
        let other = c.handle().await;
        assert_eq!(Item::by_id(&other, ann.base.id).await.unwrap().name, "ann"); // cached
        let next = ann.base.id + 1;
        assert!(Item::by_id(&other, next).await.unwrap_err().is_not_found()); // cached as absent
        let anns = Item::query().filter(Item::NAME.eq("ann"));
        for _ in 0..3 {
            assert_eq!(anns.count(&other).await.unwrap(), 1); // cached
        }
        db.drop_table::<Item>().await.unwrap();
        db.create_table::<Item>().await.unwrap();
        let mut bob = Item { name: "bob".into(), ..Default::default() };
        bob.save(&db).await.unwrap();
        let mut cid = Item { name: "cid".into(), ..Default::default() };
        cid.save(&db).await.unwrap();
        assert_eq!(bob.base.id, ann.base.id, "the new table reuses the ids");
        assert_eq!(Item::by_id(&other, bob.base.id).await.unwrap().name, "bob");
        assert_eq!(Item::by_id(&other, next).await.unwrap().name, "cid");
        assert_eq!(anns.count(&other).await.unwrap(), 0);
    }

    // What a write costs the cache (docs/consistency.md): one round trip before
    // the commit and one after, however many rows a transaction writes.
    async fn a_write_costs_two_round_trips_however_many_rows(c) {
        let (db, mut ann) = items(c).await;
        ann.age = 31;
        db.reset_stats();
        ann.save(&db).await.unwrap();
        let stats = db.stats();
        assert_eq!(stats.statements(), 1, "one guarded UPDATE");
        if c.kind == CacheKind::Redis {
            assert_eq!(stats.cache_round_trips, 2);
        }
        let mut many: Vec<Item> = (0..100)
            .map(|i| Item { name: format!("n{i}"), age: i, ..Default::default() })
            .collect();
        db.reset_stats();
        Item::save_many(&db, &mut many).await.unwrap();
        let stats = db.stats();
        // One multi-row INSERT where the server returns the ids (MariaDB 10.5+
        // does, MySQL does not: it inserts row by row).
        let returning = match db.as_mysql() {
            Some(pool) => {
                let version: String = thing::sqlx::query_scalar("SELECT VERSION()")
                    .fetch_one(pool)
                    .await
                    .unwrap();
                version.contains("MariaDB")
            }
            None => true,
        };
        // One INSERT is atomic alone; row by row needs BEGIN and COMMIT.
        let (inserts, statements) = if returning { (1, 1) } else { (100, 102) };
        assert_eq!(stats.statements(), statements, "the INSERTs (and BEGIN, COMMIT)");
        assert_eq!(stats.inserts, inserts);
        if c.kind == CacheKind::Redis {
            assert_eq!(stats.cache_round_trips, 2);
        }
    }
}
