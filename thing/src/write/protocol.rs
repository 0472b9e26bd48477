//! The one write protocol, which every write follows, alone or in a
//! transaction: lock its keys and bump its stamps before the commit, commit,
//! then invalidate, bump again and unlock; and, when the lock cannot reach the
//! cache, what the write policy says.

use crate::cache::WriteKeys;
use crate::cache::context::CacheContext;
use crate::cache::stamps::RowWrite;
use crate::db::executor::Target;
use crate::db::handle::Db;
use crate::db::pool::TxConn;
use crate::db::transaction::{Committing, Transaction, end, record_outbox};
use crate::error::{Error, Result};
use crate::schema::Schema;

/// Why a write's statement wrote nothing: its guard matched no row, or it
/// failed. Kept apart from [`Error`] so that a guard that missed (and sends
/// the write down its locked path) is never confused with a row that is not
/// there, whichever part of the write said so.
#[derive(Debug)]
pub(super) enum Unwritten {
    /// The guarded statement matched no row: the row changed since its
    /// values were read, or it is gone.
    Missed {
        /// The model's table.
        table: &'static str,
        /// The row's id.
        id: i64,
    },
    /// The write failed.
    Failed(Error),
}

impl From<Error> for Unwritten {
    fn from(err: Error) -> Self {
        Self::Failed(err)
    }
}

/// A miss that reaches the caller is [`Error::NotFound`].
impl From<Unwritten> for Error {
    fn from(unwritten: Unwritten) -> Self {
        match unwritten {
            Unwritten::Missed { table, id } => Error::not_found(table, id),
            Unwritten::Failed(err) => err,
        }
    }
}

/// Runs `work` inside the caller's transaction, or inside a new one that is
/// committed when `work` succeeds and rolled back when it fails.
pub(super) async fn atomically<R>(
    target: Target<'_>,
    work: impl AsyncFnOnce(&Transaction) -> Result<R>,
) -> Result<R> {
    match target {
        Target::Tx(tx) => work(tx).await,
        Target::Db(db) => db.run_transaction(work).await,
    }
}

/// The cache of the executor, if it has one.
pub(super) fn cache_of(target: Target<'_>) -> Option<&CacheContext> {
    match target {
        Target::Db(db) => db.cache(),
        Target::Tx(tx) => tx.db().cache(),
    }
}

/// The cache keys of `write` to `T` (none without a cache).
pub(super) fn keys_of<T: Schema>(target: Target<'_>, write: &RowWrite) -> WriteKeys {
    cache_of(target)
        .map(|cache| cache.write_keys::<T>(std::slice::from_ref(write)))
        .unwrap_or_default()
}

/// Where a write stands after step 1, the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lock {
    /// Its keys are locked and its stamps bumped.
    Held,
    /// The lock failed, and the write goes on without it: only this process
    /// retries its invalidation
    /// ([`WritePolicy::BestEffort`](crate::WritePolicy::BestEffort), or a
    /// cache no other process shares).
    Unheld,
    /// The lock failed, and the write records its keys in the outbox in its
    /// own transaction ([`WritePolicy::Outbox`](crate::WritePolicy::Outbox)
    /// on a shared cache), then waits for a process to apply them.
    Outbox,
}

/// Step 1: locks `keys` and bumps their stamps; when the cache cannot be
/// reached, what the write policy says ([`Error::Cache`](crate::Error::Cache)
/// under [`WritePolicy::FailClosed`](crate::WritePolicy::FailClosed): the
/// write writes nothing).
pub(super) async fn lock(db: &Db, cache: &CacheContext, keys: &WriteKeys) -> Result<Lock> {
    match cache.begin_write(db.counters(), keys).await {
        Ok(()) => Ok(Lock::Held),
        Err(err) => Ok(if cache.after_failed_lock(err)? {
            Lock::Outbox
        } else {
            Lock::Unheld
        }),
    }
}

/// Runs one write's statements, `work`, through the protocol: `before`
/// locked and bumped first ([`lock`]), then `work` (autocommit), then `after`
/// (of what `work` returned) invalidated and `before` unlocked; `before` only
/// unlocked if it failed. In a transaction `work` only records its keys, for
/// the steps around the transaction's `COMMIT` ([`commit`]). A write that
/// must record its keys in the outbox runs in a transaction of its own.
pub(super) async fn write_through<R>(
    target: Target<'_>,
    before: &WriteKeys,
    after: impl FnOnce(&R) -> WriteKeys,
    work: impl AsyncFnOnce(Target<'_>) -> Result<R, Unwritten>,
) -> Result<R, Unwritten> {
    let db = match target {
        Target::Tx(tx) => return in_transaction(tx, after, work).await,
        Target::Db(db) => db,
    };
    let Some(cache) = db.cache() else {
        return work(target).await;
    };
    match lock(db, cache, before).await? {
        Lock::Held => {}
        Lock::Unheld => {
            let value = work(target).await?;
            cache
                .finish_write(db.counters(), &after(&value), false, true)
                .await;
            return Ok(value);
        }
        Lock::Outbox => return through_outbox(db, before, after, work).await,
    }
    cache.pass_write_locked_gate().await;
    match work(target).await {
        Ok(value) => {
            cache.pass_write_committed_gate().await;
            let learned = after(&value).without(before);
            cache.end_write(db.counters(), before, &learned).await;
            Ok(value)
        }
        Err(err) => {
            cache.abort_write(db.counters(), before).await;
            Err(err)
        }
    }
}

/// `work` inside `tx`, its keys recorded for the commit's cache steps.
async fn in_transaction<R>(
    tx: &Transaction,
    after: impl FnOnce(&R) -> WriteKeys,
    work: impl AsyncFnOnce(Target<'_>) -> Result<R, Unwritten>,
) -> Result<R, Unwritten> {
    let value = work(Target::Tx(tx)).await?;
    tx.record_write(after(&value));
    Ok(value)
}

/// A write whose lock failed under [`Lock::Outbox`]: run in a transaction of
/// its own, whose commit records its keys in the outbox.
async fn through_outbox<R>(
    db: &Db,
    before: &WriteKeys,
    after: impl FnOnce(&R) -> WriteKeys,
    work: impl AsyncFnOnce(Target<'_>) -> Result<R, Unwritten>,
) -> Result<R, Unwritten> {
    let tx = db.open().await?;
    let value = match in_transaction(&tx, after, work).await {
        Ok(value) => value,
        Err(err) => {
            rollback_after_error(tx).await;
            return Err(err);
        }
    };
    tx.record_write(before.clone());
    commit(tx, Some(Lock::Outbox)).await?;
    Ok(value)
}

/// Commits `tx` through the protocol: its keys locked ([`lock`], unless
/// `locked` says how that went already), recorded in the outbox inside it
/// under [`Lock::Outbox`], `COMMIT`, then invalidated and unlocked (only
/// unlocked if `COMMIT` failed); under [`Lock::Outbox`] it then waits for a
/// process to apply its entry. Once committed, its events reach the
/// listeners and its after-hooks run, in the order of its writes.
pub(super) async fn commit(tx: Transaction, locked: Option<Lock>) -> Result<()> {
    let Committing {
        db,
        mut conn,
        keys,
        committed: after_commit,
    } = tx.into_committing();
    let cache = db.cache();
    let lock = match (cache, locked) {
        (None, _) => None,
        (Some(_), Some(lock)) => Some(lock),
        (Some(cache), None) => match lock(&db, cache, &keys).await {
            Ok(lock) => Some(lock),
            Err(err) => return Err(rolled_back(&db, conn, err).await),
        },
    };
    let mut entry = None;
    if lock == Some(Lock::Outbox) {
        match record_outbox(&db, &mut conn, &keys).await {
            Ok(id) => entry = Some(id),
            Err(err) => return Err(rolled_back(&db, conn, err).await),
        }
    }
    let committed = end(&db, conn, true).await;
    if let Some(cache) = cache {
        let held = lock == Some(Lock::Held);
        cache
            .finish_write(db.counters(), &keys, held, committed.is_ok())
            .await;
    }
    let told = match (&committed, entry) {
        (Ok(()), Some(entry)) => db.await_outbox(entry).await,
        _ => Ok(()),
    };
    if committed.is_ok() {
        after_commit.run(&db).await;
    }
    committed.and(told)
}

/// `err`, after rolling back the transaction on `conn` (a failed rollback is
/// only logged: the connection is dropped, which ends it).
async fn rolled_back(db: &Db, conn: TxConn, err: Error) -> Error {
    if let Err(rollback) = end(db, conn, false).await {
        tracing::warn!(error = %rollback, "rollback failed after an error");
    }
    err
}

/// Rolls `tx` back after an error (a failed rollback is only logged).
pub(super) async fn rollback_after_error(tx: Transaction) {
    if let Err(rollback) = tx.undo().await {
        tracing::warn!(error = %rollback, "rollback failed after an error");
    }
}

/// Records `write` in `tx`, for its commit's cache steps.
pub(super) fn record<T: Schema>(tx: &Transaction, write: &RowWrite) {
    if let Some(cache) = tx.db().cache() {
        tx.record_write(cache.write_keys::<T>(std::slice::from_ref(write)));
    }
}
