//! Committing a [`Transaction`] through the write protocol
//! ([`protocol::commit`]), and [`Db::transaction`], which commits one when its
//! closure succeeds. Starting one, rolling it back and what it records are
//! `db::transaction`'s.

use super::protocol;
use crate::db::handle::Db;
use crate::db::transaction::Transaction;
use crate::error::Result;
use crate::observe;

impl Transaction {
    /// Commits every write made through this transaction, then invalidates the
    /// cached rows it wrote.
    ///
    /// Before `COMMIT` it locks those rows' keys in the cache. If the cache
    /// cannot be reached, the `Db`'s [`WritePolicy`](crate::WritePolicy) decides: by default the
    /// keys are recorded in the outbox table in this transaction, and the
    /// commit returns once a process applied them to the cache
    /// ([`Error::CacheNotTold`](crate::Error::CacheNotTold) if none did within the
    /// [outbox timeout](crate::DbBuilder::outbox_timeout): committed); with
    /// [`WritePolicy::FailClosed`](crate::WritePolicy::FailClosed) the transaction is rolled back and the
    /// error is [`Error::Cache`](crate::Error::Cache).
    pub async fn commit(self) -> Result<()> {
        let (slow, dialect) = (self.db().slow_threshold(), self.db().dialect());
        observe::op!("commit", Reads::Write, slow, (dialect = ?dialect), protocol::commit(self, None))
            .await
    }
}

impl Db {
    /// Runs `f` in a transaction: commits when it returns `Ok`, rolls back when
    /// it returns `Err` (handing that error back) or panics.
    ///
    /// ```
    /// # use thing::{Db, Thing};
    /// # #[derive(Thing, Default)] struct Item { id: i64, name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = Db::connect("sqlite::memory:").await?;
    /// db.create_table::<Item>().await?;
    /// let id = db
    ///     .transaction(async |tx| {
    ///         let mut item = Item { name: "kept".into(), ..Default::default() };
    ///         item.save(tx).await?;
    ///         Ok(item.id)
    ///     })
    ///     .await?;
    /// assert_eq!(Item::by_id(&db, id).await?.name, "kept");
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// The future this returns is not `Send` (the closure's future cannot be
    /// named yet); in a task that must be `Send`, use [`Db::begin`].
    pub async fn transaction<R, F>(&self, f: F) -> Result<R>
    where
        F: AsyncFnOnce(&Transaction) -> Result<R>,
    {
        let (slow, dialect) = (self.slow_threshold(), self.dialect());
        let work = self.run_transaction(f);
        observe::op!("transaction", Reads::Write, slow, (dialect = ?dialect), work).await
    }

    /// [`Db::transaction`] without the operation's span (for Thing's own
    /// transactions, inside an operation that has one).
    pub(crate) async fn run_transaction<R, F>(&self, f: F) -> Result<R>
    where
        F: AsyncFnOnce(&Transaction) -> Result<R>,
    {
        let tx = self.open().await?;
        match f(&tx).await {
            Ok(value) => {
                protocol::commit(tx, None).await?;
                Ok(value)
            }
            Err(err) => {
                protocol::rollback_after_error(tx).await;
                Err(err)
            }
        }
    }
}
