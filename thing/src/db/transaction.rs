//! [`Transaction`]: a database transaction that Thing operations run inside.

use super::handle::Db;
use super::pool::{Pool, TxConn};
use crate::error::Result;
use crate::stats::StatementKind;
use tokio::sync::{Mutex, MutexGuard};

/// Cache work deferred to after the commit.
pub(crate) type OnCommit =
    Box<dyn FnOnce(Db) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send>;

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
    /// What to do with the cache once this transaction commits.
    on_commit: std::sync::Mutex<Vec<OnCommit>>,
    /// Cache keys to lock against fills just before the commit.
    locks: std::sync::Mutex<Vec<String>>,
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
            on_commit: std::sync::Mutex::default(),
            locks: std::sync::Mutex::default(),
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

    /// Locks `keys` against fills just before the commit (never on rollback, so
    /// a rolled-back transaction leaves the cache as it was).
    pub(crate) fn lock_before_commit(&self, keys: impl Iterator<Item = String>) {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(keys);
    }

    /// Runs `action` once the transaction has committed (never on rollback).
    pub(crate) fn on_commit(&self, action: OnCommit) {
        self.on_commit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(action);
    }

    /// Commits every write made through this transaction, then invalidates the
    /// cached rows it wrote.
    pub async fn commit(self) -> Result<()> {
        let mut locks = self.locks.into_inner().unwrap_or_else(|e| e.into_inner());
        locks.sort_unstable();
        locks.dedup();
        if let Some(cache) = self.db.cache() {
            cache.lock(self.db.counters(), &locks).await;
        }
        let conn = self.conn.into_inner();
        self.db.counters().statement(StatementKind::Other);
        match conn {
            #[cfg(feature = "sqlite")]
            TxConn::Sqlite(tx) => tx.commit().await?,
            #[cfg(feature = "postgres")]
            TxConn::Postgres(tx) => tx.commit().await?,
            #[cfg(feature = "mysql")]
            TxConn::MySql(tx) => tx.commit().await?,
        }
        let actions = self
            .on_commit
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        for action in actions {
            action(self.db.clone()).await;
        }
        Ok(())
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
