//! `incr` and `update_or_create`, on every backend and both caches.

use thing::{Db, Thing};
use thing_tests::models::{Item, User};
use thing_tests::{CacheTest, cache_tests};

async fn setup(c: &CacheTest) -> Db {
    let db = c.handle().await;
    db.create_table::<User>().await.unwrap();
    db.create_table::<Item>().await.unwrap();
    db
}

cache_tests! {
    async fn incr_is_atomic_across_handles(c) {
        let db = setup(c).await;
        let other = c.handle().await;
        let mut user = User::new("a@x", "A", 1);
        user.save(&db).await.unwrap();
        let id = user.base.id;
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let handle = if i % 2 == 0 { db.clone() } else { other.clone() };
                tokio::spawn(async move { User::incr(&handle, id, User::VIEWS, 1).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(User::by_id(&db, id).await.unwrap().views, 20);
        assert_eq!(User::by_id(&other, id).await.unwrap().views, 20);
        User::incr(&db, id, User::VIEWS, -5).await.unwrap();
        assert_eq!(User::by_id(&other, id).await.unwrap().views, 15);
        assert!(User::incr(&db, 987_654, User::VIEWS, 1).await.unwrap_err().is_not_found());
    }

    async fn incr_keeps_the_cache_right(c) {
        let db = setup(c).await;
        let mut user = User::new("a@x", "A", 1);
        user.save(&db).await.unwrap();
        let before = User::by_id(&db, user.base.id).await.unwrap(); // cached
        db.reset_stats();
        User::incr(&db, user.base.id, User::VIEWS, 3).await.unwrap();
        // User has indexed columns: incr guards its statement with their
        // values in the cached row, so it reads nothing first.
        let stats = db.stats();
        assert_eq!((stats.updates, stats.selects, stats.statements()), (1, 0, 1));
        db.reset_stats();
        let after = User::by_id(&db, user.base.id).await.unwrap();
        assert_eq!(after.views, 3);
        assert!(after.base.updated_at >= before.base.updated_at);
        assert_eq!(db.stats().cache_hits, 0, "the cached row was dropped");
    }

    async fn incr_moves_the_lists_of_the_rows_indexed_values(c) {
        let db = setup(c).await;
        let other = c.handle().await;
        let mut ann = User::new("ann@x", "A", 1);
        ann.save(&db).await.unwrap();
        let mut bob = User::new("bob@x", "A", 2);
        bob.save(&db).await.unwrap();
        User::incr(&db, bob.base.id, User::VIEWS, 5).await.unwrap();
        // An equality list depends only on the stamps of `name = 'A'`: an
        // incr must bump them, from a guess of the row's name.
        let a_by_views = User::query().filter(User::NAME.eq("A")).order_by(User::VIEWS.desc());
        let views = |rows: Vec<User>| rows.iter().map(|u| u.views).collect::<Vec<_>>();
        assert_eq!(views(a_by_views.all(&db).await.unwrap()), [5, 0]);
        // A guess from this handle's last incr (bob), from the cached row
        // (ann, read just now), then one made wrong behind Thing's back.
        User::incr(&other, ann.base.id, User::VIEWS, 9).await.unwrap();
        assert_eq!(views(a_by_views.all(&db).await.unwrap()), [9, 5]);
        User::incr(&db, bob.base.id, User::VIEWS, 10).await.unwrap();
        assert_eq!(views(a_by_views.all(&db).await.unwrap()), [15, 9]);
        let both = format!("{}, {}", ann.base.id, bob.base.id);
        c.t.raw(&format!("UPDATE users SET name = 'B' WHERE id IN ({both})")).await;
        let b_by_views = User::query().filter(User::NAME.eq("B")).order_by(User::VIEWS.desc());
        assert_eq!(views(b_by_views.all(&db).await.unwrap()), [15, 9]);
        // The cached row says `A`: the guard catches it, the locked read
        // finds `B`, and the list of `B` follows.
        User::incr(&db, ann.base.id, User::VIEWS, 10).await.unwrap();
        assert_eq!(views(b_by_views.all(&db).await.unwrap()), [19, 15]);
        // A sum out of range is still refused on the guessed path.
        let err = User::incr(&db, ann.base.id, User::AGE, i32::MAX).await.unwrap_err();
        assert!(matches!(err, thing::Error::InvalidInput(_)), "{err}");
        assert!(User::incr(&db, 987_654, User::VIEWS, 1).await.unwrap_err().is_not_found());
    }

    async fn incr_drops_only_the_lists_that_read_the_column(c) {
        let db = setup(c).await;
        let mut items: Vec<Item> = (0..4)
            .map(|i| Item { name: format!("i{i}"), age: i, ..Default::default() })
            .collect();
        Item::save_many(&db, &mut items).await.unwrap();
        let by_age = Item::query().order_by(Item::AGE.desc());
        let by_name = Item::query().filter(Item::NAME.like("i%")).order_by(Item::NAME.asc());
        for query in [&by_age, &by_name] {
            query.fetch(&db, 0, 10).await.unwrap();
        }
        Item::incr(&db, items[0].base.id, Item::AGE, 10).await.unwrap();
        db.reset_stats();
        by_name.fetch(&db, 0, 10).await.unwrap();
        assert_eq!(db.stats().query_hits, 1, "a list that does not read `age` keeps its hit");
        let rows = by_age.fetch(&db, 0, 10).await.unwrap();
        assert_eq!(db.stats().query_hits, 1, "the list ordered by `age` was dropped");
        assert_eq!(rows[0].name, "i0");
        assert_eq!(rows[0].age, 10);
    }

    async fn update_or_create_creates_then_updates(c) {
        let db = setup(c).await;
        let upsert = |name: &'static str| {
            move |user: &mut User| {
                user.email = "ann@x".into();
                user.name = name.into();
                user.data = serde_json::json!({});
            }
        };
        let (ann, created) = User::update_or_create(&db, User::EMAIL.eq("ann@x"), upsert("Ann")).await.unwrap();
        assert!(created && ann.base.id > 0);
        let cached = User::by_id(&db, ann.base.id).await.unwrap();
        let (again, created) = User::update_or_create(&db, User::EMAIL.eq("ann@x"), upsert("Annie")).await.unwrap();
        assert!(!created);
        assert_eq!(again.base.id, ann.base.id);
        assert_eq!(cached.name, "Ann");
        assert_eq!(User::by_id(&db, ann.base.id).await.unwrap().name, "Annie", "the cache saw the update");
        assert_eq!(User::query().filter(User::EMAIL.eq("ann@x")).count(&db).await.unwrap(), 1);

        // Inside a caller's transaction, and rolled back with it.
        let tx = db.begin().await.unwrap();
        let (bob, created) = User::update_or_create(&tx, User::EMAIL.eq("bob@x"), |user: &mut User| {
            user.email = "bob@x".into();
        })
        .await
        .unwrap();
        assert!(created);
        tx.rollback().await.unwrap();
        assert!(User::by_id(&db, bob.base.id).await.unwrap_err().is_not_found());

        // A failing save leaves nothing behind.
        let err = User::update_or_create(&db, User::EMAIL.eq("nobody@x"), |user: &mut User| {
            user.email = "ann@x".into(); // taken: the unique index refuses it
        })
        .await
        .unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        assert_eq!(User::query().count(&db).await.unwrap(), 1);
    }
}

cache_tests! {
    // `incr` keeps an integer column inside its Rust type's range, which
    // SQLite (any width in INTEGER) and PostgreSQL (no unsigned types) do not:
    // past it, a typed error and nothing written, and the row still reads.
    async fn incr_past_a_columns_range_is_refused(c) {
        let db = c.handle().await;
        db.create_table::<thing_tests::models::Everything>().await.unwrap();
        use thing_tests::models::Everything;
        let mut row = Everything::default();
        row.save(&db).await.unwrap();
        let id = row.base.id;
        Everything::incr(&db, id, Everything::TINY, 100).await.unwrap();
        let err = Everything::incr(&db, id, Everything::TINY, 100).await.unwrap_err();
        assert!(matches!(err, thing::Error::InvalidInput(_)), "{err}");
        Everything::incr(&db, id, Everything::UNSIGNED, u32::MAX).await.unwrap();
        let err = Everything::incr(&db, id, Everything::UNSIGNED, 1).await.unwrap_err();
        assert!(matches!(err, thing::Error::InvalidInput(_)), "{err}");
        let back = Everything::by_id(&db, id).await.unwrap();
        assert_eq!((back.tiny, back.unsigned), (100, u32::MAX), "nothing written");
        Everything::incr(&db, id, Everything::TINY, 27).await.unwrap();
        assert_eq!(Everything::by_id(&db, id).await.unwrap().tiny, 127);
        let missing = Everything::incr(&db, id + 1000, Everything::TINY, 1).await.unwrap_err();
        assert!(missing.is_not_found());
    }

    // The ends of `i64` in both directions: on SQLite `i64::MIN - 1` is a
    // REAL that compares equal to `i64::MIN`, so a range check written as
    // `c + ? BETWEEN min AND max` let it through and the row stopped decoding.
    async fn incr_past_either_end_of_i64_is_refused(c) {
        let db = c.handle().await;
        db.create_table::<thing_tests::models::Everything>().await.unwrap();
        use thing_tests::models::Everything;
        let truth = Db::builder(&c.t.url).no_cache().build().await.unwrap();
        for (start, delta) in [(i64::MIN, -1), (i64::MIN + 5, -6), (i64::MIN, i64::MIN), (i64::MAX, 1), (i64::MAX - 2, 3), (-1, i64::MIN)] {
            let mut row = Everything { big: start, ..Default::default() };
            row.save(&db).await.unwrap();
            let id = row.base.id;
            let err = Everything::incr(&db, id, Everything::BIG, delta).await.unwrap_err();
            assert!(matches!(err, thing::Error::InvalidInput(_)), "{start} + {delta}: {err}");
            assert_eq!(Everything::by_id(&truth, id).await.unwrap().big, start, "nothing written");
            assert_eq!(Everything::by_id(&db, id).await.unwrap().big, start);
        }
        let mut row = Everything { big: i64::MIN + 1, ..Default::default() };
        row.save(&db).await.unwrap();
        Everything::incr(&db, row.base.id, Everything::BIG, -1).await.unwrap();
        assert_eq!(Everything::by_id(&truth, row.base.id).await.unwrap().big, i64::MIN);
        Everything::incr(&db, row.base.id, Everything::BIG, i64::MAX).await.unwrap();
        assert_eq!(Everything::by_id(&db, row.base.id).await.unwrap().big, -1);
        let err = Everything::incr(&db, row.base.id, Everything::INT, i32::MIN).await;
        assert!(err.is_ok(), "0 + i32::MIN fits");
        let err = Everything::incr(&db, row.base.id, Everything::INT, -1).await.unwrap_err();
        assert!(matches!(err, thing::Error::InvalidInput(_)), "i32::MIN - 1: {err}");
    }
}
