//! CRUD, transactions and type round trips, on every backend.

use chrono::{NaiveDate, TimeZone, Utc};
use thing::{Db, Error, Thing};
use thing_tests::models::{Account, Everything, Plain, Settings, User};
use thing_tests::{Backend, TestDb, backend_tests};

async fn with_tables(t: &TestDb) -> &Db {
    let db = &t.db;
    db.create_table::<User>().await.unwrap();
    db.create_table::<Everything>().await.unwrap();
    db.create_table::<Plain>().await.unwrap();
    db.create_table::<Account>().await.unwrap();
    db.reset_stats();
    db
}

fn full_row() -> Everything {
    Everything {
        tiny: i8::MIN,
        small: i16::MAX,
        int: -42,
        big: i64::MAX,
        unsigned: u32::MAX,
        float: 1.5,
        double: -0.125,
        flag: true,
        text: "'); DROP TABLE users; -- \" ` \\ ünïcødé 🦀".into(),
        bytes: vec![0, 1, 254, 255],
        instant: Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 58).unwrap()
            + chrono::Duration::microseconds(123_456),
        wall_clock: NaiveDate::from_ymd_opt(1999, 12, 31)
            .unwrap()
            .and_hms_micro_opt(1, 2, 3, 4)
            .unwrap(),
        day: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        uuid: uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
        doc: serde_json::json!({"k": [1, "two", null, {"x": 1.5}], "quote": "'\""}),
        settings: Settings {
            theme: "dark".into(),
            tags: vec!["a".into(), "ü".into()],
        },
        opt_int: Some(i32::MIN),
        opt_big: Some(i64::MIN),
        opt_unsigned: Some(0),
        opt_double: Some(f64::MAX),
        opt_flag: Some(false),
        opt_text: Some(String::new()),
        opt_bytes: Some(Vec::new()),
        opt_instant: Some(Utc.timestamp_opt(0, 0).unwrap()),
        opt_day: Some(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()),
        opt_uuid: Some(uuid::Uuid::nil()),
        opt_doc: Some(serde_json::json!([])),
        not_stored: "not stored".into(),
        ..Default::default()
    }
}

backend_tests! {
    async fn every_type_round_trips(t) {
        let db = with_tables(t).await;
        let mut full = full_row();
        full.save(db).await.unwrap();
        let mut empty = Everything { doc: serde_json::json!(null), ..Default::default() };
        empty.save(db).await.unwrap();

        let read = Everything::by_id(db, full.base.id).await.unwrap();
        assert_eq!(read.not_stored, "", "skipped fields are not stored");
        assert_eq!(read, Everything { not_stored: String::new(), ..full.clone() });
        let read_empty = Everything::by_id(db, empty.base.id).await.unwrap();
        assert_eq!(read_empty, empty);
        assert_eq!(read_empty.opt_text, None);
        assert_eq!(read_empty.text, "");
    }

    async fn insert_fills_id_and_timestamps(t) {
        let db = with_tables(t).await;
        let before = Utc::now() - chrono::Duration::seconds(1);
        let mut ann = User::new("ann@example.com", "Ann", 30);
        ann.save(db).await.unwrap();
        assert!(ann.base.id > 0);
        assert!(ann.base.created_at >= before);
        assert_eq!(ann.base.created_at, ann.base.updated_at);
        let mut bob = User::new("bob@example.com", "Bob", 40);
        bob.save(db).await.unwrap();
        assert!(bob.base.id > ann.base.id);
        assert_eq!(db.stats().inserts, 2);
        assert_eq!(db.stats().statements(), 2);
        assert_eq!(User::by_id(db, ann.base.id).await.unwrap(), ann);
    }

    async fn update_writes_only_changed_columns(t) {
        let db = with_tables(t).await;
        let mut ann = User::new("ann@example.com", "Ann", 30);
        ann.save(db).await.unwrap();
        let id = ann.base.id;

        // Another client changes a different column behind our back.
        t.raw(&format!("UPDATE users SET views = 77 WHERE id = {id}")).await;

        db.reset_stats();
        let created = ann.base.created_at;
        ann.name = "Annie".into();
        ann.save(db).await.unwrap();
        assert_eq!((db.stats().updates, db.stats().statements()), (1, 1));
        assert!(ann.base.updated_at >= created);

        let read = User::by_id(db, id).await.unwrap();
        assert_eq!(read.name, "Annie");
        assert_eq!(read.views, 77, "the concurrent change to `views` survives");
        assert_eq!(read.base.created_at, created);
        assert_eq!(ann.changed_columns(&read), vec!["views"]);
    }

    async fn saving_unchanged_value_sends_no_sql(t) {
        let db = with_tables(t).await;
        let mut ann = User::new("ann@example.com", "Ann", 30);
        ann.save(db).await.unwrap();
        db.reset_stats();
        ann.save(db).await.unwrap();
        assert_eq!(db.stats().statements(), 0);

        let mut read = User::by_id(db, ann.base.id).await.unwrap();
        db.reset_stats();
        read.save(db).await.unwrap();
        assert_eq!(db.stats().statements(), 0, "a value read back is clean too");
        read.age = 31;
        read.save(db).await.unwrap();
        assert_eq!(db.stats().updates, 1);
        read.save(db).await.unwrap();
        assert_eq!(db.stats().updates, 1);
    }

    async fn missing_and_deleted_rows_are_not_found(t) {
        let db = with_tables(t).await;
        let err = User::by_id(db, 424_242).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { table: "users", id: 424_242 }), "{err}");

        let mut ann = User::new("ann@example.com", "Ann", 30);
        ann.save(db).await.unwrap();
        db.reset_stats();
        ann.delete(db).await.unwrap();
        assert_eq!((db.stats().updates, db.stats().deletes), (1, 0), "soft delete is an UPDATE");
        assert!(User::by_id(db, ann.base.id).await.unwrap_err().is_not_found());
        assert!(User::by_ids(db, &[ann.base.id]).await.unwrap().is_empty());

        // The row is still there, flagged.
        let tx = db.begin().await.unwrap();
        ann.delete_hard(&tx).await.unwrap();
        tx.commit().await.unwrap();
        assert!(ann.delete_hard(db).await.unwrap_err().is_not_found(), "already gone");
    }

    async fn plain_models_write_every_column_and_delete_hard(t) {
        let db = with_tables(t).await;
        let mut plain = Plain { label: "a".into(), count: 1, ..Default::default() };
        plain.save(db).await.unwrap();
        db.reset_stats();
        plain.save(db).await.unwrap();
        assert_eq!(db.stats().updates, 1, "no snapshot: every save writes");
        plain.delete(db).await.unwrap();
        assert_eq!(db.stats().deletes, 1);
        assert!(Plain::by_id(db, plain.id).await.unwrap_err().is_not_found());
        let mut ghost = Plain { id: plain.id, ..Default::default() };
        assert!(ghost.save(db).await.unwrap_err().is_not_found(), "update of a missing row");
    }

    async fn plain_model_with_snapshot_and_soft_delete(t) {
        let db = with_tables(t).await;
        let mut account = Account { owner: "zoe".into(), balance: 10, ..Default::default() };
        account.save(db).await.unwrap();
        db.reset_stats();
        account.save(db).await.unwrap();
        assert_eq!(db.stats().statements(), 0);
        account.balance = 20;
        account.save(db).await.unwrap();
        assert_eq!(db.stats().updates, 1);
        assert_eq!(Account::by_id(db, account.id).await.unwrap().balance, 20);
        account.delete(db).await.unwrap();
        assert!(Account::by_id(db, account.id).await.unwrap_err().is_not_found());
        assert_eq!(Account::COLUMNS[1].name, "owner_name");
    }

    async fn by_ids_keeps_order_skips_missing_and_batches(t) {
        let db = with_tables(t).await;
        let mut ids = Vec::new();
        for i in 0..3 {
            let mut user = User::new(&format!("u{i}@x"), "u", i);
            user.save(db).await.unwrap();
            ids.push(user.base.id);
        }
        db.reset_stats();
        let asked = [ids[2], 999_999, ids[0], ids[2], ids[1]];
        let users = User::by_ids(db, &asked).await.unwrap();
        let got: Vec<i64> = users.iter().map(|user| user.base.id).collect();
        assert_eq!(got, vec![ids[2], ids[0], ids[1]]);
        assert_eq!(db.stats().selects, 1);
        assert!(User::by_ids(db, &[]).await.unwrap().is_empty());
        assert_eq!(db.stats().selects, 1, "no ids, no SQL");

        let many: Vec<i64> = (1..=1_200).collect();
        db.reset_stats();
        assert_eq!(User::by_ids(db, &many).await.unwrap().len(), 3);
        assert_eq!(db.stats().selects, 3, "500 ids per statement");
    }

    async fn unique_violation_is_a_database_error_and_changes_nothing(t) {
        let db = with_tables(t).await;
        let mut ann = User::new("ann@example.com", "Ann", 30);
        ann.save(db).await.unwrap();
        let mut bob = User::new("bob@example.com", "Bob", 40);
        bob.save(db).await.unwrap();

        let mut copy = User::new("ann@example.com", "Copy", 1);
        let err = copy.save(db).await.unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        assert_eq!(copy.base.id, 0, "a failed insert leaves the value unsaved");

        let updated_before = bob.base.updated_at;
        bob.email = "ann@example.com".into();
        bob.age = 41;
        let err = bob.save(db).await.unwrap_err();
        assert!(matches!(err, Error::Database(_)), "{err}");
        assert_eq!(bob.base.updated_at, updated_before, "the value is as before the save");
        let stored = User::by_id(db, bob.base.id).await.unwrap();
        assert_eq!((stored.email.as_str(), stored.age), ("bob@example.com", 40));

        // The value still knows what changed: fixing the email saves both columns.
        bob.email = "robert@example.com".into();
        bob.save(db).await.unwrap();
        let stored = User::by_id(db, bob.base.id).await.unwrap();
        assert_eq!((stored.email.as_str(), stored.age), ("robert@example.com", 41));
    }

    async fn transaction_commits_on_ok(t) {
        let db = with_tables(t).await;
        let (a, b) = db
            .transaction(async |tx| {
                let mut a = User::new("a@x", "A", 1);
                let mut b = User::new("b@x", "B", 2);
                a.save(tx).await?;
                b.save(tx).await?;
                // Reads inside the transaction see its own writes.
                assert_eq!(User::by_id(tx, a.base.id).await?.name, "A");
                a.delete(tx).await?;
                Ok((a.base.id, b.base.id))
            })
            .await
            .unwrap();
        assert!(User::by_id(db, a).await.unwrap_err().is_not_found());
        assert_eq!(User::by_id(db, b).await.unwrap().name, "B");
    }

    async fn transaction_rolls_back_on_err(t) {
        let db = with_tables(t).await;
        let mut existing = User::new("e@x", "E", 1);
        existing.save(db).await.unwrap();
        let mut created = 0;
        let result: thing::Result<()> = db
            .transaction(async |tx| {
                let mut user = User::new("new@x", "N", 1);
                user.save(tx).await?;
                created = user.base.id;
                existing.age = 99;
                existing.save(tx).await?;
                Err(Error::custom("changed my mind"))
            })
            .await;
        assert!(matches!(&result, Err(Error::Custom(why)) if why.to_string() == "changed my mind"), "{result:?}");
        assert!(User::by_id(db, created).await.unwrap_err().is_not_found());
        assert_eq!(User::by_id(db, existing.base.id).await.unwrap().age, 1);
    }

    async fn manual_rollback_and_drop_leave_nothing(t) {
        let db = with_tables(t).await;
        let tx = db.begin().await.unwrap();
        let mut a = User::new("a@x", "A", 1);
        a.save(&tx).await.unwrap();
        tx.rollback().await.unwrap();
        assert!(User::by_id(db, a.base.id).await.unwrap_err().is_not_found());

        let tx = db.begin().await.unwrap();
        let mut b = User::new("b@x", "B", 1);
        b.save(&tx).await.unwrap();
        drop(tx);
        assert!(User::by_id(db, b.base.id).await.unwrap_err().is_not_found());
    }

    async fn transaction_rolls_back_on_panic(t) {
        let db = with_tables(t).await;
        let task_db = db.clone();
        let joined = tokio::spawn(async move {
            let tx = task_db.begin().await.unwrap();
            let mut user = User::new("p@x", "P", 1);
            user.save(&tx).await.unwrap();
            panic!("boom after insert {}", user.base.id);
        })
        .await;
        assert!(joined.unwrap_err().is_panic());
        assert!(User::by_ids(db, &[1, 2, 3]).await.unwrap().is_empty());
    }

    async fn save_many_is_all_or_nothing(t) {
        let db = with_tables(t).await;
        let mut taken = User::new("taken@x", "T", 1);
        taken.save(db).await.unwrap();

        let mut batch = vec![User::new("one@x", "1", 1), User::new("taken@x", "dup", 2)];
        assert!(User::save_many(db, &mut batch).await.is_err());
        assert_eq!(batch[0].base.id, 0, "the first item's insert was rolled back");
        assert!(User::by_ids(db, &[taken.base.id + 1, taken.base.id + 2]).await.unwrap().is_empty());

        batch[1].email = "two@x".into();
        User::save_many(db, &mut batch).await.unwrap();
        let ids: Vec<i64> = batch.iter().map(|user| user.base.id).collect();
        assert_eq!(User::by_ids(db, &ids).await.unwrap(), batch);

        User::delete_many(db, &batch).await.unwrap();
        assert!(User::by_ids(db, &ids).await.unwrap().is_empty());
    }

    async fn transaction_statements_are_counted(t) {
        let db = with_tables(t).await;
        let tx = db.begin().await.unwrap();
        let mut user = User::new("c@x", "C", 1);
        user.save(&tx).await.unwrap();
        tx.commit().await.unwrap();
        let stats = db.stats();
        assert_eq!((stats.other, stats.inserts), (2, 1), "BEGIN, INSERT, COMMIT");
    }

    async fn create_table_is_idempotent(t) {
        let db = with_tables(t).await;
        db.create_table::<User>().await.unwrap();
        let mut user = User::new("x@x", "X", 1);
        user.save(db).await.unwrap();
        db.create_table::<User>().await.unwrap();
        assert_eq!(User::by_id(db, user.base.id).await.unwrap(), user);
        if t.backend != Backend::Sqlite {
            db.drop_table::<Plain>().await.unwrap();
            assert!(Plain::by_id(db, 1).await.is_err(), "table is gone");
        }
    }
}

#[tokio::test]
async fn unknown_url_scheme_is_invalid_input() {
    let err = Db::connect("oracle://x").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

backend_tests! {
    // The rows of one read keep their snapshots in shared chunks (8 KB): each
    // must be its own row's bytes, also across chunks and for a row bigger
    // than a chunk, so that saving an unchanged row sends nothing and a
    // change sends only its column.
    async fn the_snapshots_of_a_many_row_read_are_each_rows_own(t) {
        let db = &t.db;
        db.create_table::<User>().await.unwrap();
        let mut users: Vec<User> = (0..300)
            .map(|i| {
                let mut user = User::new(&format!("u{i:03}@x"), &format!("user {i}"), i);
                if i == 150 {
                    user.bio = Some("b".repeat(20_000));
                }
                user
            })
            .collect();
        User::save_many(db, &mut users).await.unwrap();
        let bare = Db::builder(&t.url).no_cache().build().await.unwrap();
        let by_email = User::query().order_by(User::EMAIL.asc());
        // Saved rows, rows read past the cached window (one SELECT), rows
        // read through the cache (ids, then `IN` batches), and uncached.
        let reads = [
            users,
            by_email.fetch(db, 0, 300).await.unwrap(),
            by_email.all(db).await.unwrap(),
            by_email.all(&bare).await.unwrap(),
        ];
        for mut rows in reads {
            assert_eq!(rows.len(), 300);
            db.reset_stats();
            for row in &mut rows {
                row.save(db).await.unwrap();
            }
            assert_eq!(db.stats().statements(), 0, "every snapshot is its row");
            for at in [0, 149, 150, 151, 299] {
                rows[at].age += 1000;
                db.reset_stats();
                rows[at].save(db).await.unwrap();
                assert_eq!(db.stats().updates, 1);
            }
            let back = User::by_id(db, rows[150].base.id).await.unwrap();
            assert_eq!(back.bio.as_deref().map(str::len), Some(20_000));
        }
        let ages: Vec<i32> = by_email.all(&bare).await.unwrap().iter().map(|u| u.age).collect();
        assert_eq!(ages[150], 150 + 1000);
        assert_eq!(ages[1], 1, "an untouched row kept its value");
    }
}
