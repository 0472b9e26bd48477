//! Schema creation: [`Db::create_table`] and [`Db::drop_table`] (which bumps the
//! table's epoch, see [`crate::cache::stamps`]), and the epoch bump around any
//! statement that changes a table.

use crate::backend::{Backend, Session};
use crate::cache::WriteKeys;
use crate::cache::stamps::Stamp;
use crate::db::executor::{Target, with_session};
use crate::db::handle::Db;
use crate::error::Result;
use crate::observe::stats::StatementKind;
use crate::schema::Schema;
use crate::sql;
use crate::sql::ddl;

impl Db {
    /// Creates the model's table and indexes if they do not exist, and the
    /// join tables of its `many_to_many` relations. With a cache, it also
    /// gives the table an epoch there if it has none: rows are cached only
    /// under one, so a table Thing did not create has its first read stored
    /// by the read after it.
    ///
    /// ```
    /// # use thing::{Db, Thing};
    /// # #[derive(Thing, Default)] struct Item { id: i64, #[thing(unique)] name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = Db::connect("sqlite::memory:").await?;
    /// db.create_table::<Item>().await?;
    /// db.create_table::<Item>().await?; // idempotent
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn create_table<T: Schema>(&self) -> Result<()> {
        let mut statements = ddl::create_table::<T>(self.dialect());
        for join_table in T::JOIN_TABLES {
            statements.extend(join_table(self.dialect()));
        }
        with_session!(Target::Db(self), |session| run_ddl(
            &mut session,
            statements
        )
        .await)?;
        // Its rows are cached from the first read on (see `create_epoch`).
        if let Some(cache) = self.cache() {
            cache.create_epoch::<T>(self.counters()).await;
        }
        Ok(())
    }

    /// Drops the model's table if it exists, and bumps its epoch in the cache:
    /// nothing cached for it, in any process sharing the cache, is used again
    /// (a table of the same name created later starts with a cold cache).
    ///
    /// ```
    /// # use thing::{Db, Thing};
    /// # #[derive(Thing, Debug, Default)] struct Item { id: i64, name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = Db::connect("sqlite::memory:").await?;
    /// db.create_table::<Item>().await?;
    /// let mut pen = Item { name: "pen".into(), ..Default::default() };
    /// pen.save(&db).await?;
    /// Item::by_id(&db, pen.id).await?; // cached
    /// db.drop_table::<Item>().await?;
    /// db.create_table::<Item>().await?;
    /// assert!(Item::by_id(&db, pen.id).await.unwrap_err().is_not_found());
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn drop_table<T: Schema>(&self) -> Result<()> {
        let statements = vec![ddl::drop_table::<T>(self.dialect())];
        self.bumping_epoch::<T, _>(async {
            with_session!(Target::Db(self), |session| run_ddl(
                &mut session,
                statements
            )
            .await)
        })
        .await
    }

    /// Runs `ddl`, which changes `T`'s table and commits on its own, with the
    /// table's epoch locked and bumped around it, as a write's stamps are: no
    /// process sharing the cache uses what it cached of the table before. When
    /// the lock cannot reach the cache, the write policy decides; under the
    /// outbox, the epoch goes to the outbox right after `ddl`, and this
    /// returns once a process applied it.
    pub(crate) async fn bumping_epoch<T: Schema, R>(
        &self,
        ddl: impl Future<Output = Result<R>>,
    ) -> Result<R> {
        let Some(cache) = self.cache() else {
            return ddl.await;
        };
        let epoch = WriteKeys {
            rows: Vec::new(),
            stamps: vec![cache.stamp_key::<T>(&Stamp::Epoch)],
        };
        let (locked, in_outbox) = match cache.begin_write(self.counters(), &epoch).await {
            Ok(()) => (true, false),
            Err(err) => (false, cache.after_failed_lock(err)?),
        };
        let done = ddl.await;
        let entry = match (in_outbox, &done) {
            (true, Ok(_)) => Some(self.record_in_outbox(&epoch).await?),
            _ => None,
        };
        cache
            .finish_write(self.counters(), &epoch, locked, done.is_ok())
            .await;
        if let Some(entry) = entry {
            self.await_outbox(entry).await?;
        }
        done
    }
}

/// Runs `statements` in order on `session`.
pub(crate) async fn run_ddl<DB: Backend>(
    session: &mut Session<'_, DB>,
    statements: Vec<String>,
) -> Result<()> {
    for statement in statements {
        session
            .execute(
                StatementKind::Other,
                sql::dynamic(statement),
                DB::Arguments::default(),
            )
            .await?;
    }
    Ok(())
}
