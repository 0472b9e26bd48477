//! Hostile and oversized input: every case gets a typed error before anything
//! is written, or round-trips. Never a protocol error, a panic, or a row that
//! cannot be read back.

use thing::{Db, Thing};
use thing_tests::models::{Everything, Item, User};
use thing_tests::{Backend, CacheKind, CacheTest, backend_tests};

/// Far more values than any backend takes as bound parameters (65 535).
const MANY: usize = 100_000;

async fn items(db: &Db, count: i32) {
    db.create_table::<Item>().await.unwrap();
    let mut rows: Vec<Item> = (0..count)
        .map(|n| Item {
            name: format!("n{n}"),
            age: n,
            rank: Some(i64::from(n)),
            ..Default::default()
        })
        .collect();
    Item::save_many(db, &mut rows).await.unwrap();
}

backend_tests! {
    async fn is_in_and_not_in_take_any_number_of_values(t) {
        items(&t.db, 50).await;
        let ages: Vec<i32> = (0..MANY as i32).collect();
        let names: Vec<String> = (0..MANY).map(|n| format!("n{}", n * 7)).collect();
        let ranks: Vec<i64> = (0..MANY as i64).map(|n| n * 2).collect();

        let query = Item::query().filter(Item::AGE.is_in(ages.clone()));
        assert_eq!(query.count(&t.db).await.unwrap(), 50);
        assert_eq!(query.all(&t.db).await.unwrap().len(), 50);
        let query = Item::query().filter(Item::AGE.not_in(ages));
        assert_eq!(query.count(&t.db).await.unwrap(), 0);
        // n0, n7, ..., n49: 8 names.
        let query = Item::query().filter(Item::NAME.is_in(names.clone()));
        assert_eq!(query.count(&t.db).await.unwrap(), 8);
        let query = Item::query().filter(Item::NAME.not_in(names) & Item::AGE.lt(10));
        assert_eq!(query.count(&t.db).await.unwrap(), 8);
        // An Option column, and a list combined with another condition.
        let query = Item::query().filter(Item::RANK.is_in(ranks) | Item::AGE.eq(1));
        assert_eq!(query.count(&t.db).await.unwrap(), 26);
    }

    /// Lists between a handful and a thousand values (bound as one array on
    /// PostgreSQL past 16) match as short and long ones do; NULL values of an
    /// `Option` column match neither `is_in` nor `not_in`.
    async fn lists_of_every_length_match_alike(t) {
        items(&t.db, 50).await;
        let mut unranked = Item { name: "unranked".into(), age: 1000, rank: None, ..Default::default() };
        unranked.save(&t.db).await.unwrap();
        for size in [3i32, 16, 17, 40, 999] {
            let ages: Vec<i32> = (0..size).collect();
            let inside = size.min(50) as u64;
            let query = Item::query().filter(Item::AGE.is_in(ages.clone()));
            assert_eq!(query.count(&t.db).await.unwrap(), inside, "{size}");
            assert_eq!(query.all(&t.db).await.unwrap().len() as u64, inside, "{size}");
            let query = Item::query().filter(Item::AGE.not_in(ages));
            assert_eq!(query.count(&t.db).await.unwrap(), 51 - inside, "{size}");
            // An Option column: NULL ranks match neither IN nor NOT IN.
            let ranks: Vec<i64> = (0..size as i64).collect();
            let matched = Item::query().filter(Item::RANK.is_in(ranks.clone()));
            let excluded = Item::query().filter(Item::RANK.not_in(ranks));
            let ranked = Item::query().filter(Item::RANK.is_not_null());
            assert_eq!(
                matched.count(&t.db).await.unwrap() + excluded.count(&t.db).await.unwrap(),
                ranked.count(&t.db).await.unwrap(),
                "{size}"
            );
        }
    }

    async fn by_ids_takes_any_number_of_ids(t) {
        items(&t.db, 50).await;
        let ids: Vec<i64> = (1..=MANY as i64).collect();
        let rows = Item::by_ids(&t.db, &ids).await.unwrap();
        assert_eq!(rows.len(), 50);
    }
}

/// A `by_ids` of 100 000 ids on Redis is looked up and filled in chunks: no
/// cache call is too big to answer within the command timeout, and the second
/// read is all hits, rows and absent markers.
async fn a_huge_by_ids_is_served_from_redis(backend: Backend) {
    let Some(c) = CacheTest::new(backend, CacheKind::Redis).await else {
        return;
    };
    let db = c.handle().await;
    items(&db, 2000).await;
    let ids: Vec<i64> = (1..=MANY as i64).collect();
    assert_eq!(Item::by_ids(&db, &ids).await.unwrap().len(), 2000);
    db.reset_stats();
    assert_eq!(Item::by_ids(&db, &ids).await.unwrap().len(), 2000);
    let stats = db.stats();
    assert_eq!((stats.cache_errors, stats.selects), (0, 0), "{stats:?}");
    assert_eq!(
        stats.cache_hits + stats.negative_hits,
        MANY as u64,
        "{stats:?}"
    );
    drop(db);
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_by_ids_is_served_from_redis_on_sqlite() {
    a_huge_by_ids_is_served_from_redis(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_by_ids_is_served_from_redis_on_postgres() {
    a_huge_by_ids_is_served_from_redis(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_by_ids_is_served_from_redis_on_mysql() {
    a_huge_by_ids_is_served_from_redis(Backend::MySql).await;
}

/// JSON nested deeper than serde_json reads back (128 levels).
fn nested(depth: usize) -> serde_json::Value {
    let mut value = serde_json::json!(1);
    for _ in 0..depth {
        value = serde_json::json!([value]);
    }
    value
}

backend_tests! {
    /// serde_json reads back 127 levels; a deeper document is refused on save
    /// with `Error::InvalidInput`, before anything is written. MariaDB's own
    /// JSON check stops at 31 levels: deeper is its constraint error, also
    /// with nothing written.
    async fn json_too_deep_to_read_back_is_refused_before_it_is_written(t) {
        t.db.create_table::<User>().await.unwrap();
        let readable = if t.backend == Backend::MySql { 31 } else { 127 };
        let mut user = User::new("deep@x", "Deep", 1);
        user.data = nested(readable);
        user.save(&t.db).await.unwrap();
        let fresh = Db::builder(&t.url).no_cache().build().await.unwrap();
        assert_eq!(User::by_id(&fresh, user.base.id).await.unwrap().data, nested(readable));
        if t.backend == Backend::MySql {
            let mut refused = User::new("db@x", "Db", 1);
            refused.data = nested(32);
            let err = refused.save(&t.db).await.unwrap_err();
            assert!(err.as_database_error().is_some(), "{err:?}");
        }

        let mut deep = User::new("deeper@x", "Deeper", 1);
        deep.data = nested(128);
        let saved = deep.save(&t.db).await;
        assert!(matches!(saved, Err(thing::Error::InvalidInput(_))), "{saved:?}");
        assert_eq!(User::query().count(&fresh).await.unwrap(), 1, "nothing written");

        user.data = nested(128);
        let saved = user.save(&t.db).await;
        assert!(matches!(saved, Err(thing::Error::InvalidInput(_))), "{saved:?}");
        assert_eq!(User::by_id(&fresh, user.base.id).await.unwrap().data, nested(readable));
        assert_eq!(User::by_id(&t.db, user.base.id).await.unwrap().data, nested(readable));
    }

    /// `save` cannot write an integer its column cannot hold: each field's
    /// column type holds every value of the field's Rust type (a `u32` gets a
    /// 64-bit column where the backend has no unsigned one), so the limits
    /// round-trip.
    async fn every_integer_field_round_trips_at_its_limits(t) {
        t.db.create_table::<Everything>().await.unwrap();
        let mut row = Everything::default();
        for high in [false, true] {
            row.tiny = if high { i8::MAX } else { i8::MIN };
            row.small = if high { i16::MAX } else { i16::MIN };
            row.int = if high { i32::MAX } else { i32::MIN };
            row.big = if high { i64::MAX } else { i64::MIN };
            row.unsigned = if high { u32::MAX } else { u32::MIN };
            row.opt_unsigned = Some(row.unsigned);
            row.opt_big = Some(row.big);
            row.save(&t.db).await.unwrap();
            let fresh = Db::builder(&t.url).no_cache().build().await.unwrap();
            let back = Everything::by_id(&fresh, row.base.id).await.unwrap();
            assert_eq!(
                (back.tiny, back.small, back.int, back.big, back.unsigned, back.opt_unsigned, back.opt_big),
                (row.tiny, row.small, row.int, row.big, row.unsigned, row.opt_unsigned, row.opt_big)
            );
        }
    }
}

backend_tests! {
    /// NaN and the infinities: what each backend stores. PostgreSQL keeps all
    /// three; SQLite keeps the infinities; MariaDB keeps none. What a backend
    /// cannot keep is refused with a typed error and nothing written, never
    /// stored as something else.
    async fn nan_and_infinities_round_trip_or_are_refused(t) {
        t.db.create_table::<Everything>().await.unwrap();
        let specials = [("NaN", f64::NAN), ("+inf", f64::INFINITY), ("-inf", f64::NEG_INFINITY)];
        for ((name, value), only_optional) in specials.into_iter().flat_map(|s| [(s, false), (s, true)]) {
            let double = if only_optional { 0.0 } else { value };
            let mut row = Everything { double, opt_double: Some(value), ..Default::default() };
            let saved = row.save(&t.db).await;
            let fresh = Db::builder(&t.url).no_cache().build().await.unwrap();
            match saved {
                Ok(()) => {
                    let back = Everything::by_id(&fresh, row.base.id).await;
                    eprintln!("{:?} {name}: saved, read back {:?}", t.backend, back.as_ref().map(|b| (b.double, b.opt_double)));
                    let back = back.unwrap();
                    assert_eq!(back.double.to_bits(), double.to_bits(), "{name}");
                    assert_eq!(back.opt_double.map(f64::to_bits), Some(value.to_bits()), "{name}");
                }
                Err(err) => {
                    eprintln!("{:?} {name}: refused: {err}", t.backend);
                    assert_eq!(Everything::query().count(&fresh).await.unwrap(), 0, "{name}: nothing written");
                }
            }
            Everything::query().all(&t.db).await.unwrap();
            for row in Everything::query().all(&fresh).await.unwrap() {
                row.delete(&t.db).await.unwrap();
            }
        }
    }
}

thing_tests::cache_tests! {
    /// `like` means one thing on every backend, cached or not: `%` any run,
    /// `_` one character, `\` takes the next character as itself. A pattern
    /// with NUL (SQLite ends the pattern there and matches more) or ending in
    /// a lone `\` (PostgreSQL fails only once a row reaches the comparison)
    /// is refused before any SQL, through every handle.
    async fn like_patterns_mean_one_thing_everywhere(c) {
        let db = c.handle().await;
        let truth = Db::builder(&c.t.url).no_cache().build().await.unwrap();
        db.create_table::<Item>().await.unwrap();
        for name in ["ab", "a%", "a_b", "a\\", "a\\b", "abc"] {
            Item { name: name.into(), ..Default::default() }.save(&db).await.unwrap();
        }
        let names = |rows: Vec<Item>| {
            let mut names: Vec<String> = rows.into_iter().map(|row| row.name).collect();
            names.sort();
            names
        };
        for handle in [&db, &truth] {
            for bad in ["a\0", "a\0%", "%\\", "a\\\\\\"] {
                let query = Item::query().filter(Item::NAME.like(bad));
                let err = query.all(handle).await.unwrap_err();
                assert!(matches!(err, thing::Error::InvalidInput(_)), "{bad:?}: {err}");
                let err = query.count(handle).await.unwrap_err();
                assert!(matches!(err, thing::Error::InvalidInput(_)), "{bad:?}: {err}");
            }
            for (pattern, expected) in [
                ("a%", vec!["a%", "a\\", "a\\b", "a_b", "ab", "abc"]),
                ("a\\%", vec!["a%"]),
                ("a\\_b", vec!["a_b"]),
                ("a_b", vec!["a\\b", "a_b"]),
                ("a\\\\", vec!["a\\"]),
                ("a\\b", vec!["ab"]),
            ] {
                let query = Item::query().filter(Item::NAME.like(pattern));
                assert_eq!(names(query.all(handle).await.unwrap()), expected, "{pattern:?}");
                assert_eq!(names(query.all(handle).await.unwrap()), expected, "{pattern:?}, again");
            }
        }
    }
}
