//! [`Transaction`]: a database transaction that Thing operations run inside.

use super::handle::Db;
use super::pool::{Pool, TxConn};
use crate::cache::WriteKeys;
use crate::error::Result;
use crate::stats::StatementKind;
use tokio::sync::{Mutex, MutexGuard};

/// An open transaction, from [`Db::begin`] or [`Db::transaction`].
///
/// Pass `&tx` wherever an operation takes an executor. Operations on one
/// transaction run one at a time. Reads inside it go to the database, never the
/// cache. Dropping it without [`commit`](Self::commit) rolls it back.
///
/// ```
/// # use thing::{Db, Thing};
/// # #[derive(Thing, Debug, Default)] struct Item { id: i64, name: String }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// db.create_table::<Item>().await?;
/// let tx = db.begin().await?;
/// let mut item = Item { name: "draft".into(), ..Default::default() };
/// item.save(&tx).await?;
/// tx.rollback().await?;
/// assert!(Item::by_id(&db, item.id).await.unwrap_err().is_not_found());
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
pub struct Transaction {
    db: Db,
    conn: Mutex<TxConn>,
    /// The cache keys of the writes made through this transaction: what its
    /// commit locks and bumps before `COMMIT`, and what it invalidates and
    /// unlocks after.
    writes: std::sync::Mutex<(WriteKeys, WriteKeys)>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("backend", &self.db.dialect())
            .finish_non_exhaustive()
    }
}

impl Transaction {
    pub(crate) fn new(db: Db, conn: TxConn) -> Self {
        db.counters().statement(StatementKind::Other);
        Self {
            db,
            conn: Mutex::new(conn),
            writes: std::sync::Mutex::default(),
        }
    }

    /// The database this transaction runs on.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Locks the connection for one operation.
    pub(crate) async fn lock(&self) -> MutexGuard<'_, TxConn> {
        self.conn.lock().await
    }

    /// Records a write's cache keys: `before` for the steps before `COMMIT`,
    /// `after` for those after it (never on rollback, so a rolled-back
    /// transaction leaves the cache as it was).
    pub(crate) fn record_write(&self, before: WriteKeys, after: WriteKeys) {
        let mut writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        writes.0.extend(before);
        writes.1.extend(after);
    }

    /// Commits every write made through this transaction, then invalidates the
    /// cached rows it wrote.
    pub async fn commit(self) -> Result<()> {
        let (mut before, mut after) = self.writes.into_inner().unwrap_or_else(|e| e.into_inner());
        before.dedup();
        after.dedup();
        let cache = self.db.cache();
        if let Some(cache) = cache {
            cache.begin_write(self.db.counters(), &before).await;
        }
        let conn = self.conn.into_inner();
        self.db.counters().statement(StatementKind::Other);
        let committed = match conn {
            #[cfg(feature = "sqlite")]
            TxConn::Sqlite(tx) => tx.commit().await,
            #[cfg(feature = "postgres")]
            TxConn::Postgres(tx) => tx.commit().await,
            #[cfg(feature = "mysql")]
            TxConn::MySql(tx) => tx.commit().await,
        };
        if let Some(cache) = cache {
            match &committed {
                Ok(()) => cache.end_write(self.db.counters(), &after).await,
                Err(_) => cache.abort_write(self.db.counters(), &before).await,
            }
        }
        Ok(committed?)
    }

    /// Undoes every write made through this transaction; the cache is left
    /// exactly as it was.
    pub async fn rollback(self) -> Result<()> {
        let conn = self.conn.into_inner();
        self.db.counters().statement(StatementKind::Other);
        match conn {
            #[cfg(feature = "sqlite")]
            TxConn::Sqlite(tx) => tx.rollback().await?,
            #[cfg(feature = "postgres")]
            TxConn::Postgres(tx) => tx.rollback().await?,
            #[cfg(feature = "mysql")]
            TxConn::MySql(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

impl Db {
    /// Starts a transaction. Commit it with [`Transaction::commit`]; dropping it
    /// rolls it back.
    pub async fn begin(&self) -> Result<Transaction> {
        let conn = match self.pool() {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => TxConn::Sqlite(pool.begin().await?),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => TxConn::Postgres(pool.begin().await?),
            #[cfg(feature = "mysql")]
            Pool::MySql(pool) => TxConn::MySql(pool.begin().await?),
        };
        Ok(Transaction::new(self.clone(), conn))
    }

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
        let tx = self.begin().await?;
        match f(&tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(err) => {
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(error = %rollback, "rollback failed after an error");
                }
                Err(err)
            }
        }
    }
}
