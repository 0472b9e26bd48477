//! Model hooks: their order and counts, a refusing before-hook that leaves the
//! database and every cache as they were, and after-hooks that run only once
//! a transaction committed.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use thing::{BaseModel, BoxError, Db, Error, Executor, Hooks, Thing};
use thing_tests::{cache_tests, unique_name};

/// What the hooks saw, by the `tag` of the rows that ran them (each test has
/// its own tag, so tests running at once do not mix).
static LOGS: LazyLock<Mutex<HashMap<String, Vec<String>>>> = LazyLock::new(Mutex::default);

fn log(tag: &str, line: String) {
    let mut logs = LOGS.lock().unwrap();
    logs.entry(tag.to_owned()).or_default().push(line);
}

/// The hooks run so far for `tag`, emptied.
fn take(tag: &str) -> Vec<String> {
    LOGS.lock().unwrap().remove(tag).unwrap_or_default()
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "hooked", hooks)]
struct Hooked {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    name: String,
    tag: String,
}

impl Hooks for Hooked {
    async fn before_save(&mut self, _: &dyn Executor) -> Result<(), BoxError> {
        log(&self.tag, format!("before_save {}", self.name));
        if self.name == "refuse" {
            return Err("no `refuse` here".into());
        }
        self.name = self.name.trim().to_owned();
        Ok(())
    }

    /// Refuses a second row of the same name, read through the write's own
    /// executor (the transaction, inside one).
    async fn before_create(&mut self, executor: &dyn Executor) -> Result<(), BoxError> {
        log(&self.tag, format!("before_create {}", self.name));
        let same = Hooked::query()
            .filter(Hooked::NAME.eq(self.name.clone()))
            .count(executor)
            .await?;
        if same > 0 {
            return Err(format!("`{}` is taken", self.name).into());
        }
        Ok(())
    }

    async fn before_delete(&self, _: &dyn Executor) -> Result<(), BoxError> {
        log(&self.tag, format!("before_delete {}", self.name));
        if self.name == "keep" {
            return Err("`keep` is kept".into());
        }
        Ok(())
    }

    async fn after_create(&self, db: &Db) {
        log(
            &self.tag,
            format!("after_create {} {}", self.name, seen(db, self).await),
        );
    }

    async fn after_save(&self, db: &Db) {
        log(
            &self.tag,
            format!("after_save {} {}", self.name, seen(db, self).await),
        );
    }

    async fn after_delete(&self, db: &Db) {
        log(
            &self.tag,
            format!("after_delete {} {}", self.name, seen(db, self).await),
        );
    }
}

/// What a read through `db` finds of `row` from inside an after-hook: its
/// name, or `gone` — the committed state, through the cache.
async fn seen(db: &Db, row: &Hooked) -> String {
    match Hooked::by_id(db, row.base.id).await {
        Ok(found) => format!("sees {}", found.name),
        Err(err) if err.is_not_found() => "sees gone".to_owned(),
        Err(err) => panic!("{err}"),
    }
}

fn hooked(name: &str, tag: &str) -> Hooked {
    Hooked {
        name: name.into(),
        tag: tag.into(),
        ..Default::default()
    }
}

/// The names a cached list of `name` and `by_id` show through `db`.
async fn through(db: &Db, id: i64, name: &str) -> (usize, Option<String>) {
    let listed = Hooked::query()
        .filter(Hooked::NAME.eq(name))
        .all(db)
        .await
        .unwrap()
        .len();
    let found = Hooked::by_id(db, id).await.ok().map(|row| row.name);
    (listed, found)
}

cache_tests! {
    /// Create, update, an update with nothing to write, and delete: each hook
    /// once, in order, and every after-hook already reads the committed row
    /// through the cache.
    async fn hooks_run_in_order_around_each_write(c) {
        let db = c.handle().await;
        db.create_table::<Hooked>().await.unwrap();
        let tag = unique_name();
        let mut row = hooked(" ann ", &tag);
        row.save(&db).await.unwrap();
        assert_eq!(row.name, "ann", "before_save's change was saved");
        assert_eq!(take(&tag), [
            "before_save  ann ",
            "before_create ann",
            "after_create ann sees ann",
            "after_save ann sees ann",
        ]);

        row.name = "bob".into();
        row.save(&db).await.unwrap();
        row.save(&db).await.unwrap();
        assert_eq!(take(&tag), [
            "before_save bob",
            "after_save bob sees bob",
            "before_save bob",
            "after_save bob sees bob",
        ]);

        row.delete(&db).await.unwrap();
        assert_eq!(take(&tag), ["before_delete bob", "after_delete bob sees gone"]);
        let stored = Hooked::query().include_deleted().all(&db).await.unwrap();
        stored[0].restore(&db).await.unwrap();
        assert!(take(&tag).is_empty(), "restore runs no model hooks");
        let restored = Hooked::by_id(&db, row.base.id).await.unwrap();
        restored.delete_hard(&db).await.unwrap();
        assert_eq!(take(&tag), ["before_delete bob", "after_delete bob sees gone"]);
    }

    /// A before-save that refuses: `Error::Hook` with its source, no statement
    /// sent, and the row, its cached copy and a cached list unchanged for
    /// another handle and for a handle without a cache. The value still saves
    /// once the refusal is gone.
    async fn a_refusing_before_save_writes_nothing(c) {
        let writer = c.handle().await;
        let reader = c.handle().await;
        writer.create_table::<Hooked>().await.unwrap();
        let tag = unique_name();
        let mut row = hooked("ann", &tag);
        row.save(&writer).await.unwrap();
        let id = row.base.id;
        assert_eq!(through(&reader, id, "ann").await, (1, Some("ann".into())));

        let mut copy = Hooked::by_id(&writer, id).await.unwrap();
        copy.name = "refuse".into();
        writer.reset_stats();
        let err = copy.save(&writer).await.unwrap_err();
        let Error::Hook { table, hook, source } = &err else { panic!("{err:?}") };
        assert_eq!((*table, *hook), ("hooked", "before_save"));
        assert_eq!(source.to_string(), "no `refuse` here");
        assert_eq!(
            err.to_string(),
            "before_save hook of `hooked` refused the operation: no `refuse` here"
        );
        let stats = writer.stats();
        assert_eq!((stats.statements(), stats.invalidations), (0, 0), "{stats:?}");

        assert_eq!(through(&reader, id, "ann").await, (1, Some("ann".into())));
        assert_eq!(through(&reader, id, "refuse").await, (0, Some("ann".into())));
        let fresh = Db::builder(&c.t.url).no_cache().build().await.unwrap();
        assert_eq!(through(&fresh, id, "ann").await, (1, Some("ann".into())));

        copy.name = "bob".into();
        copy.save(&writer).await.unwrap();
        assert_eq!(through(&reader, id, "bob").await, (1, Some("bob".into())));
        assert_eq!(through(&reader, id, "ann").await, (0, Some("bob".into())));
    }

    /// A refusing before-create (a name taken, read through the executor)
    /// inserts nothing and leaves the value unsaved; a refusing before-delete
    /// deletes nothing. Both seen through another handle.
    async fn refusing_before_create_and_before_delete_write_nothing(c) {
        let writer = c.handle().await;
        let reader = c.handle().await;
        writer.create_table::<Hooked>().await.unwrap();
        let tag = unique_name();
        let mut keep = hooked("keep", &tag);
        keep.save(&writer).await.unwrap();
        take(&tag);
        assert_eq!(through(&reader, keep.base.id, "keep").await, (1, Some("keep".into())));

        let mut twin = hooked("keep", &tag);
        let err = twin.save(&writer).await.unwrap_err();
        assert!(matches!(err, Error::Hook { hook: "before_create", .. }), "{err:?}");
        assert_eq!(twin.base.id, 0);
        assert_eq!(Hooked::query().count(&reader).await.unwrap(), 1);

        let err = keep.delete(&writer).await.unwrap_err();
        assert!(matches!(err, Error::Hook { hook: "before_delete", .. }), "{err:?}");
        let err = keep.delete_hard(&writer).await.unwrap_err();
        assert!(matches!(err, Error::Hook { hook: "before_delete", .. }), "{err:?}");
        assert_eq!(through(&reader, keep.base.id, "keep").await, (1, Some("keep".into())));
        let lines = take(&tag);
        assert!(!lines.iter().any(|line| line.starts_with("after_")), "{lines:?}");
    }

    /// Inside a transaction the before-hooks run at once (the before-create
    /// reads through the transaction), the after-hooks only after `COMMIT`,
    /// and never for work rolled back.
    async fn after_hooks_of_a_transaction_wait_for_its_commit(c) {
        let db = c.handle().await;
        db.create_table::<Hooked>().await.unwrap();
        let tag = unique_name();

        let tx = db.begin().await.unwrap();
        let mut ann = hooked("ann", &tag);
        ann.save(&tx).await.unwrap();
        let mut twin = hooked("ann", &tag);
        let err = twin.save(&tx).await.unwrap_err();
        assert!(matches!(err, Error::Hook { hook: "before_create", .. }), "the tx's own row: {err:?}");
        assert_eq!(take(&tag), [
            "before_save ann",
            "before_create ann",
            "before_save ann",
            "before_create ann",
        ]);
        tx.commit().await.unwrap();
        assert_eq!(take(&tag), ["after_create ann sees ann", "after_save ann sees ann"]);

        let tx = db.begin().await.unwrap();
        let mut bob = hooked("bob", &tag);
        bob.save(&tx).await.unwrap();
        ann.delete(&tx).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(take(&tag), ["before_save bob", "before_create bob", "before_delete ann"]);
        assert_eq!(Hooked::query().count(&db).await.unwrap(), 1);

        let tx = db.begin().await.unwrap();
        let mut cid = hooked("cid", &tag);
        cid.save(&tx).await.unwrap();
        drop(tx);
        assert_eq!(take(&tag), ["before_save cid", "before_create cid"], "dropped: rolled back");
    }

    /// `save_many`, `delete_many` and `update_or_create` run the hooks of each
    /// row; one refusal in a batch writes none of it.
    async fn batch_writes_run_each_rows_hooks(c) {
        let db = c.handle().await;
        db.create_table::<Hooked>().await.unwrap();
        let tag = unique_name();
        let mut rows = vec![hooked("a", &tag), hooked("b", &tag)];
        Hooked::save_many(&db, &mut rows).await.unwrap();
        assert_eq!(take(&tag), [
            "before_save a",
            "before_create a",
            "before_save b",
            "before_create b",
            "after_create a sees a",
            "after_save a sees a",
            "after_create b sees b",
            "after_save b sees b",
        ]);

        let mut batch = vec![hooked("c", &tag), hooked("refuse", &tag)];
        let err = Hooked::save_many(&db, &mut batch).await.unwrap_err();
        assert!(matches!(err, Error::Hook { hook: "before_save", .. }), "{err:?}");
        assert_eq!(batch[0].base.id, 0, "the batch was rolled back");
        assert_eq!(Hooked::query().count(&db).await.unwrap(), 2);
        take(&tag);

        let (row, created) = Hooked::update_or_create(&db, Hooked::NAME.eq("a"), |row| {
            row.tag = tag.clone();
        })
        .await
        .unwrap();
        assert!(!created);
        assert_eq!(row.name, "a");
        assert_eq!(take(&tag), ["before_save a", "after_save a sees a"]);

        Hooked::delete_many(&db, &rows).await.unwrap();
        assert_eq!(take(&tag), [
            "before_delete a",
            "before_delete b",
            "after_delete a sees gone",
            "after_delete b sees gone",
        ]);
    }
}
