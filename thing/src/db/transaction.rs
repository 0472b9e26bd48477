//! [`Transaction`]: a database transaction that Thing operations run inside.

use super::handle::Db;
use super::pool::{Pool, TxConn};
use crate::cache::context::CacheContext;
use crate::cache::{CacheError, WriteKeys, outbox};
use crate::error::{Error, Result};
use crate::events::WriteEvent;
use crate::observe;
use crate::stats::StatementKind;
use futures_util::future::BoxFuture;
use tokio::sync::{Mutex, MutexGuard};

/// Work to run once a transaction has committed: a model's after-hooks.
pub(crate) type AfterCommit = Box<dyn FnOnce(Db) -> BoxFuture<'static, ()> + Send>;

/// What a committed transaction hands on, in the order its writes were made.
enum Committed {
    /// A write, for the `Db`'s listeners.
    Event(WriteEvent),
    /// A model's after-hooks.
    Hooks(AfterCommit),
}

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
    /// commit locks and bumps before `COMMIT`, and invalidates, bumps and
    /// unlocks after.
    writes: std::sync::Mutex<WriteKeys>,
    /// The writes to hand to the `Db`'s listeners and the after-hooks to run
    /// once committed.
    committed: std::sync::Mutex<Vec<Committed>>,
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
            committed: std::sync::Mutex::default(),
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

    /// Records a write's cache keys, for the steps around `COMMIT` (after a
    /// rollback only its locks are taken back, so a rolled-back transaction
    /// leaves the cache as it was).
    pub(crate) fn record_write(&self, keys: WriteKeys) {
        let mut writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        writes.extend(keys);
    }

    /// Keeps a write's event for the listeners, who see it after `COMMIT`.
    pub(crate) fn record_event(&self, event: WriteEvent) {
        self.on_commit(Committed::Event(event));
    }

    /// Keeps a model's after-hooks, which run after `COMMIT` (never after a
    /// rollback).
    pub(crate) fn after_commit(&self, hooks: AfterCommit) {
        self.on_commit(Committed::Hooks(hooks));
    }

    fn on_commit(&self, work: Committed) {
        let mut committed = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        committed.push(work);
    }

    /// Commits every write made through this transaction, then invalidates the
    /// cached rows it wrote.
    ///
    /// Before `COMMIT` it locks those rows' keys in the cache. If the cache
    /// cannot be reached, the `Db`'s [`WritePolicy`](crate::WritePolicy) decides: by default the
    /// keys are recorded in the outbox table in this transaction, and the
    /// commit returns once a process applied them to the cache
    /// ([`Error::CacheNotTold`] if none did within the
    /// [outbox timeout](crate::DbBuilder::outbox_timeout): committed); with
    /// [`WritePolicy::FailClosed`](crate::WritePolicy::FailClosed) the transaction is rolled back and the
    /// error is [`Error::Cache`].
    pub async fn commit(self) -> Result<()> {
        let (slow, dialect) = (self.db.slow_threshold(), self.db.dialect());
        observe::op!("commit", Reads::Write, slow, (dialect = ?dialect), self.commit_with(None))
            .await
    }

    /// [`Transaction::commit`] for writes whose lock already failed with `err`.
    pub(crate) async fn commit_unlocked(self, err: CacheError) -> Result<()> {
        self.commit_with(Some(err)).await
    }

    async fn commit_with(self, failed_lock: Option<CacheError>) -> Result<()> {
        let mut keys = self.writes.into_inner().unwrap_or_else(|e| e.into_inner());
        keys.dedup();
        let committed_work = self
            .committed
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        let db = self.db;
        let mut conn = self.conn.into_inner();
        let cache = db.cache();
        let mut locked = false;
        let mut entry = None;
        if let Some(cache) = cache {
            let lock = match failed_lock {
                Some(err) => Err(err),
                None => cache.begin_write(db.counters(), &keys).await,
            };
            locked = lock.is_ok();
            if let Err(err) = lock {
                match unlocked(&db, cache, &mut conn, &keys, err).await {
                    Ok(recorded) => entry = recorded,
                    Err(err) => {
                        if let Err(rollback) = end(&db, conn, false).await {
                            tracing::warn!(error = %rollback, "rollback failed after an error");
                        }
                        return Err(err);
                    }
                }
            }
        }
        let committed = end(&db, conn, true).await;
        if let Some(cache) = cache {
            let committed = committed.is_ok();
            cache
                .finish_write(db.counters(), &keys, locked, committed)
                .await;
        }
        let told = match (&committed, entry) {
            (Ok(()), Some(entry)) => db.await_outbox(entry).await,
            _ => Ok(()),
        };
        if committed.is_ok() {
            for work in committed_work {
                match work {
                    Committed::Event(event) => db.announce(&event),
                    Committed::Hooks(hooks) => hooks(db.clone()).await,
                }
            }
        }
        committed.and(told)
    }

    /// Undoes every write made through this transaction; the cache is left
    /// exactly as it was.
    pub async fn rollback(self) -> Result<()> {
        let (slow, dialect) = (self.db.slow_threshold(), self.db.dialect());
        observe::op!("rollback", Reads::Write, slow, (dialect = ?dialect), self.undo()).await
    }

    /// [`Transaction::rollback`] without the operation's span.
    pub(crate) async fn undo(self) -> Result<()> {
        end(&self.db, self.conn.into_inner(), false).await
    }
}

/// What a transaction whose keys could not be locked does before `COMMIT`, as
/// the write policy says: record them in the outbox (the entry's id, which
/// the commit waits for a process to apply), go on without, or refuse.
async fn unlocked(
    db: &Db,
    cache: &CacheContext,
    conn: &mut TxConn,
    keys: &WriteKeys,
    err: CacheError,
) -> Result<Option<i64>> {
    if !cache.after_failed_lock(err)? {
        return Ok(None);
    }
    db.counters().statement(StatementKind::Other);
    bounded(db, async {
        match conn {
            #[cfg(feature = "sqlite")]
            TxConn::Sqlite(tx) => outbox::record::<sqlx::Sqlite>(tx, keys).await,
            #[cfg(feature = "postgres")]
            TxConn::Postgres(tx) => outbox::record::<sqlx::Postgres>(tx, keys).await,
            #[cfg(feature = "mysql")]
            TxConn::MySql(tx) => outbox::record::<sqlx::MySql>(tx, keys).await,
        }
    })
    .await
    .map(Some)
}

/// Ends the transaction on `conn`: `COMMIT`, or `ROLLBACK`.
async fn end(db: &Db, conn: TxConn, commit: bool) -> Result<()> {
    db.counters().statement(StatementKind::Other);
    bounded(db, async {
        match (conn, commit) {
            #[cfg(feature = "sqlite")]
            (TxConn::Sqlite(tx), true) => tx.commit().await?,
            #[cfg(feature = "sqlite")]
            (TxConn::Sqlite(tx), false) => tx.rollback().await?,
            #[cfg(feature = "postgres")]
            (TxConn::Postgres(tx), true) => tx.commit().await?,
            #[cfg(feature = "postgres")]
            (TxConn::Postgres(tx), false) => tx.rollback().await?,
            #[cfg(feature = "mysql")]
            (TxConn::MySql(tx), true) => tx.commit().await?,
            #[cfg(feature = "mysql")]
            (TxConn::MySql(tx), false) => tx.rollback().await?,
        }
        Ok(())
    })
    .await
}

/// `work` within `db`'s statement timeout ([`Error::Timeout`] past it).
async fn bounded<T>(db: &Db, work: impl Future<Output = Result<T>>) -> Result<T> {
    let after = db.health().statement_timeout();
    tokio::time::timeout(after, work)
        .await
        .unwrap_or(Err(Error::Timeout { after }))
}

impl Db {
    /// Starts a transaction. Commit it with [`Transaction::commit`]; dropping it
    /// rolls it back. On SQLite it is `BEGIN IMMEDIATE`: it takes the
    /// database's write lock at once, waiting for it up to the busy timeout,
    /// so that a transaction that reads and then writes never fails at once
    /// with "database is locked"; read-only work needs no transaction.
    pub async fn begin(&self) -> Result<Transaction> {
        let (slow, dialect) = (self.slow_threshold(), self.dialect());
        observe::op!("begin", Reads::Write, slow, (dialect = ?dialect), self.open()).await
    }

    /// `BEGIN` on a pooled connection (without the operation's span, for
    /// Thing's own transactions). On SQLite `BEGIN IMMEDIATE`, which takes the
    /// write lock at once and waits for it up to the busy timeout: a deferred
    /// transaction that read first could not upgrade its lock to write while
    /// another held it, and SQLite answers that with "database is locked" at
    /// once, without waiting (`sixteen_racers_converge_on_update_or_create`).
    pub(crate) async fn open(&self) -> Result<Transaction> {
        let conn = bounded(self, async {
            Ok(match self.pool() {
                #[cfg(feature = "sqlite")]
                Pool::Sqlite(pool) => TxConn::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
                #[cfg(feature = "postgres")]
                Pool::Postgres(pool) => TxConn::Postgres(pool.begin().await?),
                #[cfg(feature = "mysql")]
                Pool::MySql(pool) => TxConn::MySql(pool.begin().await?),
            })
        })
        .await?;
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
                tx.commit_with(None).await?;
                Ok(value)
            }
            Err(err) => {
                if let Err(rollback) = tx.undo().await {
                    tracing::warn!(error = %rollback, "rollback failed after an error");
                }
                Err(err)
            }
        }
    }
}
