//! `Thing::update(id).set(..).execute(..)`: an update by id that reads nothing
//! first, on every backend and both caches. Its cached rows and lists must
//! follow it through a second handle, also when the guess of the row's
//! indexed values it guards its statement with is wrong.

use chrono::{NaiveDate, TimeZone, Utc};
use thing::{Db, Thing};
use thing_tests::models::{Everything, Item, User};
use thing_tests::{CacheTest, cache_tests};

async fn setup(c: &CacheTest) -> (Db, Db) {
    let db = c.handle().await;
    db.create_table::<User>().await.unwrap();
    db.create_table::<Item>().await.unwrap();
    (db, c.handle().await)
}

async fn item(db: &Db, name: &str, age: i32) -> Item {
    let mut item = Item {
        name: name.into(),
        age,
        ..Default::default()
    };
    item.save(db).await.unwrap();
    item
}

fn names(rows: &[Item]) -> Vec<(String, i32)> {
    rows.iter().map(|row| (row.name.clone(), row.age)).collect()
}

cache_tests! {
    async fn an_update_by_id_is_seen_by_every_cached_read(c) {
        let (db, other) = setup(c).await;
        let a = item(&db, "a", 1).await;
        item(&db, "a", 2).await;
        item(&db, "b", 3).await;
        // An equality list depends only on the stamps of its values: a change
        // of `age` must reach it through the old value of `name`.
        let a_by_age = Item::query().filter(Item::NAME.eq("a")).order_by(Item::AGE.desc());
        let b_list = Item::query().filter(Item::NAME.eq("b"));
        assert_eq!(names(&a_by_age.all(&db).await.unwrap()), [("a".into(), 2), ("a".into(), 1)]);
        assert_eq!(b_list.count(&db).await.unwrap(), 1);
        Item::by_id(&db, a.base.id).await.unwrap();

        Item::update(a.base.id).set(Item::AGE, 9).execute(&other).await.unwrap();
        assert_eq!(names(&a_by_age.all(&db).await.unwrap()), [("a".into(), 9), ("a".into(), 2)]);
        assert_eq!(Item::by_id(&db, a.base.id).await.unwrap().age, 9);

        // A change of the indexed column itself: the row leaves one list and
        // joins the other.
        Item::update(a.base.id).set(Item::NAME, "b").execute(&other).await.unwrap();
        assert_eq!(names(&a_by_age.all(&db).await.unwrap()), [("a".into(), 2)]);
        assert_eq!(b_list.count(&db).await.unwrap(), 2);
        let read = Item::by_id(&db, a.base.id).await.unwrap();
        assert_eq!((read.name.as_str(), read.age), ("b", 9));
        assert!(read.base.updated_at > a.base.updated_at, "updated_at is set");
    }

    async fn a_wrong_guess_is_caught_by_the_guard(c) {
        let (db, other) = setup(c).await;
        let a = item(&db, "a", 1).await;
        item(&db, "c", 5).await;
        // The cached row says `a`; SQL behind Thing's back makes it `c`, so the
        // update's guess is wrong. The list of `c` is read after that SQL.
        Item::by_id(&other, a.base.id).await.unwrap();
        c.t.raw(&format!("UPDATE items SET name = 'c' WHERE id = {}", a.base.id)).await;
        let c_by_age = Item::query().filter(Item::NAME.eq("c")).order_by(Item::AGE.desc());
        let ages: Vec<i32> = c_by_age.all(&db).await.unwrap().iter().map(|row| row.age).collect();
        assert_eq!(ages, [5, 1], "the list is right (its second row, cached, is not)");

        other.reset_stats();
        Item::update(a.base.id).set(Item::AGE, 9).execute(&other).await.unwrap();
        let stats = other.stats();
        assert_eq!(stats.cache_hits, 1, "the guess came from the cached row");
        assert!(stats.updates >= 2, "the guarded UPDATE matched nothing, then the locked one ran");
        assert_eq!(names(&c_by_age.all(&db).await.unwrap()), [("c".into(), 9), ("c".into(), 5)]);
    }

    async fn an_update_by_id_costs_one_statement_when_nothing_is_guessed(c) {
        let (db, other) = setup(c).await;
        let user = {
            let mut user = User::new("u@x", "U", 1);
            user.save(&db).await.unwrap();
            user
        };
        let it = item(&db, "a", 1).await;
        // No cache: no stamps, nothing to read first.
        let bare = Db::builder(&c.t.url).no_cache().build().await.unwrap();
        Item::update(it.base.id).set(Item::AGE, 2).execute(&bare).await.unwrap();
        User::incr(&bare, user.base.id, User::VIEWS, 1).await.unwrap();
        let stats = bare.stats();
        assert_eq!((stats.updates, stats.statements()), (2, 2));
        // A cached row is the guess: one UPDATE, no SELECT.
        Item::by_id(&db, it.base.id).await.unwrap();
        db.reset_stats();
        Item::update(it.base.id).set(Item::AGE, 3).execute(&db).await.unwrap();
        let stats = db.stats();
        assert_eq!((stats.selects, stats.updates, stats.statements()), (0, 1, 1));
        // No cached row, and a handle that has not updated it: a SELECT for
        // the guess, then the UPDATE.
        Item::update(it.base.id).set(Item::AGE, 4).execute(&other).await.unwrap();
        let stats = other.stats();
        assert_eq!((stats.selects, stats.updates, stats.statements()), (1, 1, 2));
        assert_eq!(Item::by_id(&db, it.base.id).await.unwrap().age, 4);
    }

    async fn a_second_update_by_id_reads_nothing(c) {
        let (db, other) = setup(c).await;
        let it = item(&db, "a", 1).await;
        Item::update(it.base.id).set(Item::AGE, 2).execute(&db).await.unwrap();
        db.reset_stats();
        Item::update(it.base.id).set(Item::AGE, 3).execute(&db).await.unwrap();
        let stats = db.stats();
        assert_eq!((stats.selects, stats.updates, stats.statements()), (0, 1, 1));
        let scripts = if c.kind == thing_tests::CacheKind::Memory { 0 } else { 2 };
        assert_eq!(stats.cache_round_trips, scripts, "the lock and the invalidation only");

        // Another handle moves the row to `c`: this process's guess is old,
        // the guard catches it, and the list of `c` follows.
        let c_by_age = Item::query().filter(Item::NAME.eq("c")).order_by(Item::AGE.desc());
        item(&db, "c", 5).await;
        Item::update(it.base.id).set(Item::NAME, "c").execute(&other).await.unwrap();
        let ages = |rows: Vec<Item>| rows.iter().map(|row| row.age).collect::<Vec<_>>();
        assert_eq!(ages(c_by_age.all(&db).await.unwrap()), [5, 3]);
        Item::update(it.base.id).set(Item::AGE, 9).execute(&db).await.unwrap();
        assert_eq!(ages(c_by_age.all(&db).await.unwrap()), [9, 5]);
        assert_eq!(Item::by_id(&other, it.base.id).await.unwrap().name, "c");
    }

    async fn bad_updates_are_refused_before_any_sql(c) {
        let (db, _) = setup(c).await;
        let it = item(&db, "a", 1).await;
        db.reset_stats();
        let nothing = Item::update(it.base.id).execute(&db).await.unwrap_err();
        assert!(matches!(nothing, thing::Error::InvalidInput(_)), "{nothing}");
        let id = Item::update(it.base.id).set(Item::ID, 5).execute(&db).await.unwrap_err();
        assert!(matches!(id, thing::Error::InvalidInput(_)), "{id}");
        assert_eq!(db.stats().statements(), 0);
        let missing = Item::update(it.base.id + 100).set(Item::AGE, 2).execute(&db).await;
        assert!(missing.unwrap_err().is_not_found());
        let bare = Db::builder(&c.t.url).no_cache().build().await.unwrap();
        let missing = Item::update(it.base.id + 100).set(Item::AGE, 2).execute(&bare).await;
        assert!(missing.unwrap_err().is_not_found());
        // A unique violation leaves the row and the cache as they were.
        let mut first = User::new("one@x", "One", 1);
        first.save(&db).await.unwrap();
        let mut second = User::new("two@x", "Two", 2);
        second.save(&db).await.unwrap();
        let taken = User::update(second.base.id).set(User::EMAIL, "one@x").execute(&db).await;
        let err = taken.unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        assert_eq!(User::by_id(&db, second.base.id).await.unwrap().email, "two@x");
        assert_eq!(User::query().filter(User::EMAIL.eq("one@x")).count(&db).await.unwrap(), 1);
    }

    async fn an_update_in_a_transaction_lands_with_its_commit(c) {
        let (db, other) = setup(c).await;
        let it = item(&db, "a", 1).await;
        let a_list = Item::query().filter(Item::NAME.eq("a"));
        assert_eq!(a_list.count(&other).await.unwrap(), 1);
        let tx = db.begin().await.unwrap();
        Item::update(it.base.id).set(Item::NAME, "b").execute(&tx).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(Item::by_id(&other, it.base.id).await.unwrap().name, "a");
        let tx = db.begin().await.unwrap();
        Item::update(it.base.id).set(Item::NAME, "b").execute(&tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(a_list.count(&other).await.unwrap(), 0);
        assert_eq!(Item::by_id(&other, it.base.id).await.unwrap().name, "b");
    }

    async fn a_soft_delete_by_update_leaves_the_lists(c) {
        let (db, other) = setup(c).await;
        let it = item(&db, "a", 1).await;
        let everything = Item::query().order_by(Item::AGE.asc());
        assert_eq!(everything.count(&other).await.unwrap(), 1);
        Item::update(it.base.id).set(Item::DELETED, true).execute(&db).await.unwrap();
        assert_eq!(everything.count(&other).await.unwrap(), 0);
        assert!(Item::by_id(&other, it.base.id).await.unwrap_err().is_not_found());
        Item::update(it.base.id).set(Item::DELETED, false).execute(&db).await.unwrap();
        assert_eq!(everything.count(&other).await.unwrap(), 1);
    }

    async fn every_column_type_can_be_set_and_cleared(c) {
        let db = c.handle().await;
        db.create_table::<Everything>().await.unwrap();
        let mut row = Everything {
            opt_int: Some(1),
            opt_text: Some("x".into()),
            opt_instant: Some(Utc::now()),
            opt_uuid: Some(uuid::Uuid::new_v4()),
            ..Default::default()
        };
        row.save(&db).await.unwrap();
        let instant = Utc.with_ymd_and_hms(2026, 5, 4, 3, 2, 1).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 5, 4).unwrap();
        let uuid = uuid::Uuid::new_v4();
        Everything::update(row.base.id)
            .set(Everything::TINY, -7_i8)
            .set(Everything::SMALL, 300_i16)
            .set(Everything::INT, 70_000)
            .set(Everything::BIG, 1_i64 << 40)
            .set(Everything::UNSIGNED, u32::MAX)
            .set(Everything::FLOAT, 1.5_f32)
            .set(Everything::DOUBLE, 2.25)
            .set(Everything::FLAG, true)
            .set(Everything::TEXT, "text")
            .set(Everything::BYTES, vec![0_u8, 1, 255])
            .set(Everything::INSTANT, instant)
            .set(Everything::WALL_CLOCK, instant.naive_utc())
            .set(Everything::DAY, day)
            .set(Everything::UUID, uuid)
            .set(Everything::OPT_INT, None)
            .set(Everything::OPT_BIG, Some(5))
            .set(Everything::OPT_UNSIGNED, None)
            .set(Everything::OPT_DOUBLE, None)
            .set(Everything::OPT_FLAG, None)
            .set(Everything::OPT_TEXT, None)
            .set(Everything::OPT_BYTES, None)
            .set(Everything::OPT_INSTANT, None)
            .set(Everything::OPT_DAY, None)
            .set(Everything::OPT_UUID, None)
            .execute(&db)
            .await
            .unwrap();
        let read = Everything::by_id(&db, row.base.id).await.unwrap();
        let expected = Everything {
            tiny: -7,
            small: 300,
            int: 70_000,
            big: 1 << 40,
            unsigned: u32::MAX,
            float: 1.5,
            double: 2.25,
            flag: true,
            text: "text".into(),
            bytes: vec![0, 1, 255],
            instant,
            wall_clock: instant.naive_utc(),
            day,
            uuid,
            opt_big: Some(5),
            base: read.base.clone(),
            doc: read.doc.clone(),
            settings: read.settings.clone(),
            opt_doc: read.opt_doc.clone(),
            ..Default::default()
        };
        assert_eq!(read, expected);
    }
}

/// Structs on one table: what one knows of a row's indexed values means
/// nothing to another that numbers or indexes its columns otherwise.
mod shared_table {
    use thing::{BaseModel, Thing};

    #[derive(Thing, Debug, Clone, Default)]
    #[thing(table = "shared_rows")]
    pub struct TeamIndexed {
        #[thing(base)]
        pub base: BaseModel,
        #[thing(index)]
        pub team: i64,
        pub age: i64,
    }

    /// The same columns in the same order (the same schema hash), another
    /// index.
    #[derive(Thing, Debug, Clone, Default)]
    #[thing(table = "shared_rows")]
    pub struct AgeIndexed {
        #[thing(base)]
        pub base: BaseModel,
        pub team: i64,
        #[thing(index)]
        pub age: i64,
    }

    /// The columns in another order.
    #[derive(Thing, Debug, Clone, Default)]
    #[thing(table = "shared_rows")]
    pub struct AgeFirst {
        #[thing(base)]
        pub base: BaseModel,
        pub age: i64,
        #[thing(index)]
        pub team: i64,
    }
}

cache_tests! {
    async fn a_hint_of_one_struct_is_not_used_by_another_on_its_table(c) {
        use shared_table::{AgeFirst, AgeIndexed, TeamIndexed};
        let db = c.handle().await;
        db.create_table::<TeamIndexed>().await.unwrap();
        db.create_table::<AgeIndexed>().await.unwrap();
        let mut first = TeamIndexed { team: 1, age: 1, ..Default::default() };
        first.save(&db).await.unwrap();
        let mut second = TeamIndexed { team: 5, age: 1, ..Default::default() };
        second.save(&db).await.unwrap();
        let id = first.base.id;
        // TeamIndexed's hint: column 4 (`team`) is 1. AgeIndexed's indexed
        // column is `age` (5); AgeFirst's column 4 is `age`, which is 1 too:
        // a guard built from that hint would pass while no stamp of their
        // lists moved.
        TeamIndexed::update(id).set(TeamIndexed::TEAM, 1).execute(&db).await.unwrap();
        let teams = |rows: Vec<AgeIndexed>| rows.iter().map(|row| row.team).collect::<Vec<_>>();
        let age_1_by_team = AgeIndexed::query().filter(AgeIndexed::AGE.eq(1)).order_by(AgeIndexed::TEAM.desc());
        assert_eq!(teams(age_1_by_team.all(&db).await.unwrap()), [5, 1]);
        AgeIndexed::update(id).set(AgeIndexed::TEAM, 9).execute(&db).await.unwrap();
        assert_eq!(teams(age_1_by_team.all(&db).await.unwrap()), [9, 5]);

        TeamIndexed::update(id).set(TeamIndexed::TEAM, 1).execute(&db).await.unwrap();
        let ages = |rows: Vec<AgeFirst>| rows.iter().map(|row| row.age).collect::<Vec<_>>();
        let team_1_by_age = AgeFirst::query().filter(AgeFirst::TEAM.eq(1)).order_by(AgeFirst::AGE.desc());
        let mut third = AgeFirst { team: 1, age: 5, ..Default::default() };
        third.save(&db).await.unwrap();
        assert_eq!(ages(team_1_by_age.all(&db).await.unwrap()), [5, 1]);
        AgeFirst::update(id).set(AgeFirst::AGE, 9).execute(&db).await.unwrap();
        assert_eq!(ages(team_1_by_age.all(&db).await.unwrap()), [9, 5]);
    }
}

cache_tests! {
    // `incr` of an indexed column: its new value is the guess plus the delta,
    // and the row moves between the lists of both values.
    async fn an_incr_of_an_indexed_column_moves_the_row(c) {
        use shared_table::TeamIndexed;
        let db = c.handle().await;
        let other = c.handle().await;
        db.create_table::<TeamIndexed>().await.unwrap();
        let mut row = TeamIndexed { team: 1, ..Default::default() };
        row.save(&db).await.unwrap();
        let team = |n: i64| TeamIndexed::query().filter(TeamIndexed::TEAM.eq(n));
        for _ in 0..2 {
            assert_eq!((team(1).count(&other).await.unwrap(), team(2).count(&other).await.unwrap()), (1, 0));
            TeamIndexed::incr(&db, row.base.id, TeamIndexed::TEAM, 1).await.unwrap();
            assert_eq!((team(1).count(&other).await.unwrap(), team(2).count(&other).await.unwrap()), (0, 1));
            TeamIndexed::incr(&db, row.base.id, TeamIndexed::TEAM, -1).await.unwrap();
        }
    }
}

cache_tests! {
    // A saved row's indexed values are this handle's guess for its next
    // update by id: an insert, then an update, reads nothing.
    async fn an_update_after_a_save_reads_nothing(c) {
        let (db, other) = setup(c).await;
        let mut it = item(&db, "a", 1).await;
        db.reset_stats();
        Item::update(it.base.id).set(Item::AGE, 2).execute(&db).await.unwrap();
        assert_eq!((db.stats().selects, db.stats().statements()), (0, 1));
        // A save that moves the row: the next update guesses the new name.
        let a_list = Item::query().filter(Item::NAME.eq("b"));
        assert_eq!(a_list.count(&other).await.unwrap(), 0);
        it = Item::by_id(&db, it.base.id).await.unwrap();
        it.name = "b".into();
        it.save(&db).await.unwrap();
        db.reset_stats();
        Item::update(it.base.id).set(Item::AGE, 3).execute(&db).await.unwrap();
        assert_eq!((db.stats().selects, db.stats().updates), (0, 1));
        assert_eq!(a_list.count(&other).await.unwrap(), 1);
    }
}
