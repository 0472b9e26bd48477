//! Write-side features: restore of soft-deleted rows, and a `Db` on a pool the
//! application built.

use thing::{Db, Thing};
use thing_tests::models::{Item, Plain, User};
use thing_tests::{backend_tests, cache_tests};

/// The rows another handle sees, by a cached equality list, a cached range
/// list, and `by_id`.
async fn seen(db: &Db, id: i64) -> (usize, usize, bool) {
    let equal = Item::query()
        .filter(Item::NAME.eq("kept"))
        .all(db)
        .await
        .unwrap();
    let range = Item::query().filter(Item::AGE.ge(0)).all(db).await.unwrap();
    let found = Item::by_id(db, id).await.is_ok();
    (equal.len(), range.len(), found)
}

cache_tests! {
    /// Soft delete, then restore, through one handle: the other handle's cached
    /// row and lists follow both; `include_deleted` sees the row throughout;
    /// `delete_hard` removes it for good.
    async fn restore_is_seen_by_every_handle(c) {
        let writer = c.handle().await;
        let reader = c.handle().await;
        writer.create_table::<Item>().await.unwrap();
        let mut item = Item { name: "kept".into(), age: 1, ..Default::default() };
        item.save(&writer).await.unwrap();
        let id = item.base.id;
        assert_eq!(seen(&reader, id).await, (1, 1, true));
        assert_eq!(seen(&reader, id).await, (1, 1, true), "now cached");

        item.delete(&writer).await.unwrap();
        assert_eq!(seen(&reader, id).await, (0, 0, false), "soft-deleted");
        let all = Item::query().include_deleted().all(&reader).await.unwrap();
        assert_eq!(all.len(), 1);
        assert!(all[0].base.deleted);

        all[0].restore(&writer).await.unwrap();
        assert_eq!(seen(&reader, id).await, (1, 1, true), "restored");
        let back = Item::by_id(&reader, id).await.unwrap();
        assert!(!back.base.deleted);
        assert_eq!(back.name, "kept");

        back.delete_hard(&writer).await.unwrap();
        assert_eq!(seen(&reader, id).await, (0, 0, false), "hard-deleted");
        assert!(Item::query().include_deleted().all(&reader).await.unwrap().is_empty());
        assert!(back.restore(&writer).await.unwrap_err().is_not_found());
    }
}

backend_tests! {
    /// A model without a `deleted` column cannot be restored: a typed error,
    /// and nothing sent.
    async fn restore_needs_a_deleted_column(t) {
        t.db.create_table::<Plain>().await.unwrap();
        let mut plain = Plain { label: "a".into(), ..Default::default() };
        plain.save(&t.db).await.unwrap();
        t.db.reset_stats();
        let err = plain.restore(&t.db).await.unwrap_err();
        assert!(matches!(err, thing::Error::InvalidInput(_)), "{err:?}");
        assert_eq!(t.db.stats().statements(), 0);
    }
}

backend_tests! {
    /// `Db::from_pool` on a pool the caller built: rows another client inserted
    /// are read through it, and what it writes is read by another handle.
    async fn a_db_on_the_applications_own_pool(t) {
        use thing::sqlx;
        let db = match t.backend {
            thing_tests::Backend::Sqlite => {
                let pool = sqlx::sqlite::SqlitePoolOptions::new().connect(&t.url).await.unwrap();
                Db::from_pool(pool).build().await.unwrap()
            }
            thing_tests::Backend::Postgres => {
                let pool = sqlx::postgres::PgPoolOptions::new().connect(&t.url).await.unwrap();
                Db::from_pool(pool).build().await.unwrap()
            }
            thing_tests::Backend::MySql => {
                let pool = sqlx::mysql::MySqlPoolOptions::new().connect(&t.url).await.unwrap();
                Db::from_pool(pool).build().await.unwrap()
            }
        };
        db.create_table::<Plain>().await.unwrap();
        let mut plain = Plain { label: "thing".into(), count: 1, ..Default::default() };
        plain.save(&db).await.unwrap();
        t.raw("INSERT INTO plains (label, count) VALUES ('raw', 2)").await;
        let labels: Vec<String> = Plain::query().all(&db).await.unwrap().into_iter().map(|p| p.label).collect();
        assert_eq!(labels, ["thing", "raw"]);
        assert_eq!(Plain::by_id(&db, plain.id).await.unwrap(), plain);
        let other = Db::builder(&t.url).no_cache().build().await.unwrap();
        assert_eq!(Plain::by_id(&other, plain.id).await.unwrap(), plain);
    }
}

/// A model with an optimistic-lock counter, an indexed column and a snapshot.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "docs")]
pub struct Doc {
    #[thing(base)]
    pub base: thing::BaseModel,
    #[thing(index)]
    pub owner: String,
    pub body: String,
    pub hits: i64,
    #[thing(version)]
    pub version: i64,
}

/// The same counter on a model with no snapshot and no indexed column.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
pub struct Counter {
    pub id: i64,
    pub total: i64,
    #[thing(version)]
    pub version: i64,
}

cache_tests! {
    /// Two copies of one row: the first save wins and bumps the version; the
    /// second gets `Error::Conflict`, writes nothing, keeps its own version,
    /// and leaves every cache as it was.
    async fn optimistic_locking_refuses_a_stale_copy(c) {
        let writer = c.handle().await;
        let reader = c.handle().await;
        writer.create_table::<Doc>().await.unwrap();
        let mut doc = Doc { owner: "ann".into(), body: "v1".into(), ..Default::default() };
        doc.save(&writer).await.unwrap();
        assert_eq!(doc.version, 0, "an insert keeps the version it has");
        let mut first = Doc::by_id(&writer, doc.base.id).await.unwrap();
        let mut second = Doc::by_id(&reader, doc.base.id).await.unwrap();
        let owned = Doc::query().filter(Doc::OWNER.eq("ann"));
        assert_eq!(owned.count(&reader).await.unwrap(), 1);

        first.body = "first".into();
        first.save(&writer).await.unwrap();
        assert_eq!(first.version, 1);

        second.body = "second".into();
        second.owner = "bob".into();
        let err = second.save(&reader).await.unwrap_err();
        assert!(err.is_conflict(), "{err:?}");
        let thing::Error::Conflict { table, id, read, found } = err else { unreachable!() };
        assert_eq!((table, id, read, found), (Doc::TABLE, doc.base.id, 0, Some(1)));
        assert_eq!(second.version, 0, "the losing copy keeps the version it read");
        let fresh = Db::builder(&c.t.url).no_cache().build().await.unwrap();
        let stored = Doc::by_id(&fresh, doc.base.id).await.unwrap();
        assert_eq!((stored.body.as_str(), stored.owner.as_str(), stored.version), ("first", "ann", 1));
        assert_eq!(Doc::by_id(&reader, doc.base.id).await.unwrap(), stored);
        assert_eq!(owned.count(&reader).await.unwrap(), 1, "the list kept the row");

        let mut again = Doc::by_id(&reader, doc.base.id).await.unwrap();
        again.body = "second, retried".into();
        again.save(&reader).await.unwrap();
        assert_eq!(Doc::by_id(&writer, doc.base.id).await.unwrap().version, 2);
    }

    /// Without a snapshot or an indexed column, the version guard alone
    /// decides: one statement on success, a conflict when it does not match.
    async fn optimistic_locking_without_a_snapshot(c) {
        let db = c.handle().await;
        db.create_table::<Counter>().await.unwrap();
        let mut a = Counter { total: 1, ..Default::default() };
        a.save(&db).await.unwrap();
        let mut b = a.clone();
        db.reset_stats();
        a.total = 2;
        a.save(&db).await.unwrap();
        assert_eq!((db.stats().updates, db.stats().statements()), (1, 1));
        b.total = 3;
        assert!(matches!(b.save(&db).await.unwrap_err(), thing::Error::Conflict { .. }));
        assert_eq!(Counter::by_id(&db, a.id).await.unwrap(), a);
    }
}

/// A model whose `update_or_create` filter column is unique.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
pub struct Member {
    pub id: i64,
    #[thing(unique)]
    pub email: String,
    pub visits: i64,
}

cache_tests! {
    /// Sixteen callers at once over two handles, each `update_or_create` on
    /// the same email, five rounds: one row, and every call succeeds (a
    /// caller whose insert lost to another's retries as an update). On
    /// SQLite with the default journal and with WAL: a transaction that read
    /// before it wrote could not upgrade its lock and failed at once with
    /// "database is locked", under the busy timeout.
    async fn sixteen_racers_converge_on_update_or_create(c) {
        let sqlite = c.t.backend == thing_tests::Backend::Sqlite;
        for wal in [false, true] {
            if wal && !sqlite {
                continue;
            }
            let open = async || {
                c.handle_with(|builder| match wal {
                    true => builder.sqlite_journal_mode(thing::sqlx::sqlite::SqliteJournalMode::Wal),
                    false => builder,
                })
                .await
            };
            let (first, second) = (open().await, open().await);
            first.create_table::<Member>().await.unwrap();
            for round in 0..5 {
                let email = format!("m{round}-{wal}@x");
                let calls: Vec<_> = (0..16)
                    .map(|i| {
                        let db = if i % 2 == 0 { first.clone() } else { second.clone() };
                        let email = email.clone();
                        tokio::spawn(async move {
                            let filter = Member::EMAIL.eq(email.as_str());
                            Member::update_or_create(&db, filter, |member: &mut Member| {
                                member.email = email.clone();
                                member.visits += 1;
                            })
                            .await
                        })
                    })
                    .collect();
                let mut created = 0;
                for call in calls {
                    let (_, was_created) = call.await.unwrap().unwrap_or_else(|err| {
                        panic!("wal {wal}, round {round}: {err}")
                    });
                    created += usize::from(was_created);
                }
                assert_eq!(created, 1, "round {round}: one caller created the row");
                let rows = Member::query()
                    .filter(Member::EMAIL.eq(email.as_str()))
                    .all(&second)
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 1);
                assert_eq!(rows[0].visits, 16, "every call applied once");
            }
        }
    }
}

/// A `Db` whose listener keeps every event, and the events so far.
async fn listened(url: &str) -> (Db, std::sync::Arc<std::sync::Mutex<Vec<thing::WriteEvent>>>) {
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = std::sync::Arc::clone(&events);
    let db = Db::builder(url)
        .on_write(move |event| kept.lock().unwrap().push(event.clone()))
        .build()
        .await
        .unwrap();
    (db, events)
}

fn seen_events(events: &std::sync::Mutex<Vec<thing::WriteEvent>>) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .drain(..)
        .map(|event| event.to_string())
        .collect()
}

backend_tests! {
    /// Every committed write reaches the listener once, with its kind and
    /// columns; writes in a transaction only after its COMMIT, and rolled-back
    /// ones never.
    async fn listeners_see_every_committed_write(t) {
        let (db, events) = listened(&t.url).await;
        db.create_table::<Item>().await.unwrap();
        let mut item = Item { name: "a".into(), age: 1, ..Default::default() };
        item.save(&db).await.unwrap();
        let id = item.base.id;
        assert_eq!(
            seen_events(&events),
            [format!("Insert items {id} [id, created_at, updated_at, deleted, name, age, rank, tag, active]")]
        );
        item.save(&db).await.unwrap();
        assert!(seen_events(&events).is_empty(), "a save that changes nothing is no write");
        item.age = 2;
        item.save(&db).await.unwrap();
        Item::incr(&db, id, Item::AGE, 1).await.unwrap();
        item.delete(&db).await.unwrap();
        item.restore(&db).await.unwrap();
        item.delete_hard(&db).await.unwrap();
        assert_eq!(
            seen_events(&events),
            [
                format!("Update items {id} [age, updated_at]"),
                format!("Increment items {id} [age, updated_at]"),
                format!("SoftDelete items {id} [deleted, updated_at]"),
                format!("Restore items {id} [deleted, updated_at]"),
                format!("Delete items {id} []"),
            ]
        );

        let tx = db.begin().await.unwrap();
        let mut b = Item { name: "b".into(), ..Default::default() };
        b.save(&tx).await.unwrap();
        assert!(seen_events(&events).is_empty(), "not before COMMIT");
        tx.commit().await.unwrap();
        assert_eq!(seen_events(&events).len(), 1);

        let tx = db.begin().await.unwrap();
        let mut c = Item { name: "c".into(), ..Default::default() };
        c.save(&tx).await.unwrap();
        tx.rollback().await.unwrap();
        let mut many = vec![Item { name: "d".into(), ..Default::default() }, Item { name: "d".into(), ..Default::default() }];
        Item::save_many(&db, &mut many).await.unwrap();
        let after = seen_events(&events);
        assert_eq!(after.len(), 2, "the rolled-back insert is not reported: {after:?}");
        assert!(after.iter().all(|event| event.starts_with("Insert items")));
    }
}

cache_tests! {
    /// `save_many` of 1 200 new rows (several multi-row INSERTs where the
    /// backend returns ids) with two stored rows changed: every row gets its
    /// own id back (read by id, each with its own name), another handle's
    /// cached lists and count see them all, and a unique violation in the
    /// last statement inserts none of the batch.
    /// A batch of new rows that fits one statement is that statement alone,
    /// with no `BEGIN` or `COMMIT` around it (one statement is atomic on its
    /// own); every handle sees its rows and lists at once, and a batch that
    /// fails writes nothing and puts the ids back.
    async fn a_batch_that_fits_one_statement_is_one_statement(c) {
        let writer = c.handle().await;
        let reader = c.handle().await;
        writer.create_table::<User>().await.unwrap();
        let kept = || User::query().filter(User::NAME.eq("kept"));
        assert_eq!(kept().count(&reader).await.unwrap(), 0, "the empty list is cached");
        let mut batch: Vec<User> =
            (0..100).map(|n| User::new(&format!("one{n}@x"), "kept", n)).collect();
        writer.reset_stats();
        User::save_many(&writer, &mut batch).await.unwrap();
        let stats = writer.stats();
        assert_eq!((stats.inserts, stats.other, stats.statements()), (1, 0, 1), "{stats:?}");
        assert!(batch.iter().all(|user| user.base.id != 0));
        assert_eq!(kept().count(&reader).await.unwrap(), 100);
        for user in &batch {
            assert_eq!(User::by_id(&reader, user.base.id).await.unwrap().email, user.email);
        }

        let mut failing: Vec<User> =
            (0..3).map(|n| User::new(&format!("two{n}@x"), "late", n)).collect();
        failing[2].email = "one0@x".into();
        let err = User::save_many(&writer, &mut failing).await.unwrap_err();
        assert!(err.is_unique_violation(), "{err:?}");
        assert!(failing.iter().all(|user| user.base.id == 0), "ids put back");
        assert_eq!(User::query().filter(User::NAME.eq("late")).count(&reader).await.unwrap(), 0);
        assert_eq!(User::query().count(&reader).await.unwrap(), 100);
    }

    /// `delete_many` of rows without hooks is one statement (`DELETE … IN`,
    /// or the soft delete's `UPDATE … IN`, returning the rows' values for
    /// their stamps) in its transaction, where the backend returns rows from
    /// it (everywhere for a hard delete, not MariaDB for a soft one); every
    /// handle sees the rows gone at once, and a batch with a missing row
    /// deletes none.
    async fn delete_many_is_one_statement(c) {
        let writer = c.handle().await;
        let reader = c.handle().await;
        writer.create_table::<User>().await.unwrap();
        let mut users: Vec<User> =
            (0..10).map(|n| User::new(&format!("d{n}@x"), if n < 5 { "gone" } else { "kept" }, n)).collect();
        User::save_many(&writer, &mut users).await.unwrap();
        let gone = || User::query().filter(User::NAME.eq("gone"));
        assert_eq!(gone().count(&reader).await.unwrap(), 5, "the list is cached");
        for user in &users {
            User::by_id(&reader, user.base.id).await.unwrap();
        }

        let mut missing = users[..5].to_vec();
        missing[4].base.id = 999_999;
        let err = User::delete_many(&writer, &missing).await.unwrap_err();
        assert!(matches!(err, thing::Error::NotFound { id: 999_999, .. }), "{err:?}");
        assert_eq!(gone().count(&reader).await.unwrap(), 5, "none deleted");

        writer.reset_stats();
        User::delete_many(&writer, &users[..5]).await.unwrap();
        let stats = writer.stats();
        if writer.dialect() == thing::Dialect::MySql {
            // No `UPDATE … RETURNING`: the rows are read, locked, first.
            assert_eq!(stats.statements(), 4, "BEGIN, SELECT … FOR UPDATE, UPDATE, COMMIT: {stats:?}");
        } else {
            assert_eq!(stats.statements(), 3, "BEGIN, one statement, COMMIT: {stats:?}");
        }
        assert_eq!(gone().count(&reader).await.unwrap(), 0);
        assert_eq!(User::query().count(&reader).await.unwrap(), 5);
        for user in &users[..5] {
            assert!(User::by_id(&reader, user.base.id).await.is_err(), "gone for every handle");
        }
        for user in &users[5..] {
            assert_eq!(User::by_id(&reader, user.base.id).await.unwrap().email, user.email);
        }
    }

    /// `delete_many` of copies read before another handle moved the rows to
    /// another indexed value: the lists on the values the rows held when
    /// deleted drop them, not only the lists on the values the copies hold.
    async fn delete_many_of_stale_copies_moves_the_stamps_of_what_the_rows_held(c) {
        let writer = c.handle().await;
        let other = c.handle().await;
        let reader = c.handle().await;
        writer.create_table::<User>().await.unwrap();
        let mut users: Vec<User> =
            (0..3).map(|n| User::new(&format!("s{n}@x"), "before", n)).collect();
        User::save_many(&writer, &mut users).await.unwrap();
        let stale = users.clone();
        for user in &mut users {
            user.name = "after".into();
            user.save(&other).await.unwrap();
        }
        let after = || User::query().filter(User::NAME.eq("after"));
        assert_eq!(after().count(&reader).await.unwrap(), 3, "the list is cached");
        User::delete_many(&writer, &stale).await.unwrap();
        assert_eq!(after().count(&reader).await.unwrap(), 0, "the rows held `after` when deleted");
        assert_eq!(User::query().count(&reader).await.unwrap(), 0);
    }

    async fn save_many_inserts_in_batches_and_every_handle_sees_them(c) {
        let writer = c.handle().await;
        let reader = c.handle().await;
        writer.create_table::<User>().await.unwrap();
        let mut stored = vec![User::new("a@x", "kept", 1), User::new("b@x", "kept", 2)];
        User::save_many(&writer, &mut stored).await.unwrap();
        let kept = || User::query().filter(User::NAME.eq("kept"));
        assert_eq!(kept().count(&reader).await.unwrap(), 2);
        assert_eq!(User::query().count(&reader).await.unwrap(), 2);

        let mut batch: Vec<User> = (0..1200)
            .map(|n| User::new(&format!("u{n}@x"), if n % 3 == 0 { "kept" } else { "other" }, n))
            .collect();
        stored[0].name = "moved".into();
        batch.push(stored[0].clone());
        User::save_many(&writer, &mut batch).await.unwrap();
        for user in &batch {
            let read = User::by_id(&reader, user.base.id).await.unwrap();
            assert_eq!((read.email.as_str(), read.age), (user.email.as_str(), user.age));
        }
        assert_eq!(kept().count(&reader).await.unwrap(), 400 + 1);
        assert_eq!(User::query().count(&reader).await.unwrap(), 1202);

        let mut failing: Vec<User> = (0..600)
            .map(|n| User::new(&format!("v{n}@x"), "late", n))
            .collect();
        failing[599].email = "u0@x".into();
        assert!(User::save_many(&writer, &mut failing).await.is_err());
        assert!(failing.iter().all(|user| user.base.id == 0), "ids put back");
        assert_eq!(User::query().filter(User::NAME.eq("late")).count(&reader).await.unwrap(), 0);
        assert_eq!(User::query().count(&reader).await.unwrap(), 1202);
    }
}

cache_tests! {
    /// An update by id bumps the version without checking it (it read no
    /// version): a copy read before it is then stale, and its save is refused.
    /// The same on a model without indexed columns (one statement).
    async fn an_update_by_id_bumps_the_version(c) {
        let db = c.handle().await;
        db.create_table::<Doc>().await.unwrap();
        db.create_table::<Counter>().await.unwrap();
        let mut doc = Doc { owner: "ann".into(), body: "v1".into(), ..Default::default() };
        doc.save(&db).await.unwrap();
        let mut stale = Doc::by_id(&db, doc.base.id).await.unwrap();
        Doc::update(doc.base.id).set(Doc::BODY, "v2").execute(&db).await.unwrap();
        let read = Doc::by_id(&db, doc.base.id).await.unwrap();
        assert_eq!((read.body.as_str(), read.version), ("v2", doc.version + 1));
        stale.body = "lost".into();
        let err = stale.save(&db).await.unwrap_err();
        assert!(matches!(err, thing::Error::Conflict { .. }), "{err}");
        let err = Doc::update(doc.base.id).set(Doc::VERSION, 7).execute(&db).await.unwrap_err();
        assert!(matches!(err, thing::Error::InvalidInput(_)), "{err}");

        let mut counter = Counter::default();
        counter.save(&db).await.unwrap();
        db.reset_stats();
        Counter::update(counter.id).set(Counter::TOTAL, 5).execute(&db).await.unwrap();
        assert_eq!(db.stats().statements(), 1);
        let read = Counter::by_id(&db, counter.id).await.unwrap();
        assert_eq!((read.total, read.version), (5, counter.version + 1));
    }

    /// An `incr` is a write: it bumps the version, so a copy read before it
    /// is stale and its save is refused instead of undoing the increment.
    /// With and without indexed columns; the version itself is not
    /// incremented by hand.
    async fn an_incr_bumps_the_version(c) {
        let db = c.handle().await;
        let other = c.handle().await;
        db.create_table::<Counter>().await.unwrap();
        db.create_table::<Doc>().await.unwrap();
        let mut counter = Counter { total: 1, ..Default::default() };
        counter.save(&db).await.unwrap();
        let mut stale = Counter::by_id(&other, counter.id).await.unwrap();
        Counter::incr(&db, counter.id, Counter::TOTAL, 5).await.unwrap();
        let read = Counter::by_id(&other, counter.id).await.unwrap();
        assert_eq!((read.total, read.version), (6, counter.version + 1));
        stale.total = 1;
        let err = stale.save(&other).await.unwrap_err();
        assert!(matches!(err, thing::Error::Conflict { .. }), "{err}");
        let fresh = Db::builder(&c.t.url).no_cache().build().await.unwrap();
        assert_eq!(Counter::by_id(&fresh, counter.id).await.unwrap().total, 6, "the increment stays");

        // An indexed column: the guarded statement bumps it too.
        let mut doc = Doc { owner: "ann".into(), body: "v1".into(), ..Default::default() };
        doc.save(&db).await.unwrap();
        let mut stale = Doc::by_id(&other, doc.base.id).await.unwrap();
        Doc::incr(&db, doc.base.id, Doc::HITS, 5).await.unwrap();
        let read = Doc::by_id(&other, doc.base.id).await.unwrap();
        assert_eq!((read.hits, read.version), (5, doc.version + 1));
        stale.body = "lost".into();
        let err = stale.save(&other).await.unwrap_err();
        assert!(matches!(err, thing::Error::Conflict { .. }), "{err}");
        assert_eq!(Doc::by_id(&fresh, doc.base.id).await.unwrap().hits, 5, "the increment stays");
        let err = Doc::incr(&db, doc.base.id, Doc::VERSION, 3).await.unwrap_err();
        assert!(matches!(err, thing::Error::InvalidInput(_)), "{err}");
        assert_eq!(Doc::by_id(&fresh, doc.base.id).await.unwrap().version, doc.version + 1);
    }
}

cache_tests! {
    /// Two transactions read one row with `by_id_for_update`, add one to it
    /// and save: the second waits for the first's commit and reads its
    /// value, so no update is lost; the cache of another handle follows. A
    /// soft-deleted row is not found.
    async fn by_id_for_update_loses_no_update(c) {
        let db = c.handle().await;
        let other = c.handle().await;
        db.create_table::<Item>().await.unwrap();
        let mut item = Item { name: "counted".into(), age: 0, ..Default::default() };
        item.save(&db).await.unwrap();
        let id = item.base.id;
        assert_eq!(Item::by_id(&other, id).await.unwrap().age, 0);

        let first = db.begin().await.unwrap();
        let mut row = Item::by_id_for_update(&first, id).await.unwrap();
        let second = {
            let db = db.clone();
            tokio::spawn(async move {
                let tx = db.begin().await?;
                let mut row = Item::by_id_for_update(&tx, id).await?;
                row.age += 1;
                row.save(&tx).await?;
                tx.commit().await
            })
        };
        // The second is waiting for the row (or, on SQLite, the database).
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        row.age += 1;
        row.save(&first).await.unwrap();
        first.commit().await.unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(Item::by_id(&other, id).await.unwrap().age, 2, "no update lost");

        item = Item::by_id(&db, id).await.unwrap();
        item.delete(&db).await.unwrap();
        let tx = db.begin().await.unwrap();
        let gone = Item::by_id_for_update(&tx, id).await.unwrap_err();
        assert!(gone.is_not_found(), "{gone:?}");
        tx.rollback().await.unwrap();
    }
}
