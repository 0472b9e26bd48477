//! [`Transaction`]: a database transaction that Thing operations run inside.

use super::handle::Db;
use super::pool::{Pool, TxConn};
use crate::cache::{WriteKeys, outbox};
use crate::error::{Error, Result};
use crate::events::WriteEvent;
use crate::observe;
use crate::observe::stats::StatementKind;
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

/// What a transaction's commit works with: its handle, its connection, the
/// cache keys of its writes (deduplicated) and what it hands on once
/// committed.
pub(crate) struct Committing {
    pub db: Db,
    pub conn: TxConn,
    pub keys: WriteKeys,
    pub committed: OnCommit,
}

/// What a committed transaction hands on: the events of its writes and the
/// after-hooks of its models, in the order its writes were made.
pub(crate) struct OnCommit(Vec<Committed>);

impl OnCommit {
    /// Hands each event to the listeners and runs each model's after-hooks.
    pub(crate) async fn run(self, db: &Db) {
        for work in self.0 {
            match work {
                Committed::Event(event) => db.announce(&event),
                Committed::Hooks(hooks) => hooks(db.clone()).await,
            }
        }
    }
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

    /// The parts a commit works with, taken out of the transaction.
    pub(crate) fn into_committing(self) -> Committing {
        let mut keys = self.writes.into_inner().unwrap_or_else(|e| e.into_inner());
        keys.dedup();
        let work = self
            .committed
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        Committing {
            db: self.db,
            conn: self.conn.into_inner(),
            keys,
            committed: OnCommit(work),
        }
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

/// Records `keys` in the outbox inside the transaction on `conn`; the
/// entry's id, which the commit waits for a process to apply.
pub(crate) async fn record_outbox(db: &Db, conn: &mut TxConn, keys: &WriteKeys) -> Result<i64> {
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
}

/// Ends the transaction on `conn`: `COMMIT`, or `ROLLBACK`.
pub(crate) async fn end(db: &Db, conn: TxConn, commit: bool) -> Result<()> {
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
}
