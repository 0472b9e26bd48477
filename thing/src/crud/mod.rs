//! Writes: `save`, `delete`, `incr`, `update_or_create` and their batch forms,
//! and the one place that orders what a write does to the cache:
//!
//! 1. before the commit, lock the rows and stamps it touches and bump the
//!    stamps ([`CacheContext::begin_write`]);
//! 2. the statement (autocommit), or the transaction's `COMMIT`;
//! 3. after it, invalidate the rows, bump the stamps again and unlock
//!    ([`CacheContext::end_write`]); after a failure, only unlock.
//!
//! Inside a transaction, steps 1 and 3 run around its `COMMIT` (see
//! [`Transaction::commit`]). The stamps need the old values of the indexed
//! columns: a write takes them from the row's snapshot and guards its statement
//! with them (`AND team = ?`); when the guard matches nothing (the row changed
//! since it was read) or there is no snapshot, it reads them in a transaction,
//! with the row locked, and writes there.

mod batch;
mod by_id;

use crate::backend::{Backend, ModelIo, Session};
use crate::cache::context::CacheContext;
use crate::cache::{CacheError, WriteKeys};
use crate::change::unsaved_columns;
use crate::db::executor::{Executor, Target, with_session};
use crate::db::handle::Db;
use crate::db::transaction::Transaction;
use crate::error::{Error, Result};
use crate::events::{WriteEvent, WriteKind};
use crate::fetch::{remember, select_for_update};
use crate::filter::Filter;
use crate::lifecycle::Hooks;
use crate::query::Query;
use crate::schema::{BaseModel, Schema, Snapshot};
use crate::select;
use crate::sql::{self, Guard, dynamic, fixed, insertable, model_sql};
use crate::stamps::{RowWrite, guarded_columns, indexed_values};
use crate::stats::StatementKind;
use crate::value::Value;
use chrono::{DateTime, SubsecRound, Utc};

pub(crate) async fn save<T: Schema + Hooks, E: Executor + ?Sized>(
    executor: &E,
    item: &mut T,
) -> Result<()> {
    let target = executor.__target();
    let creating = item.row_id() == 0;
    before_save(target, item, creating).await?;
    let undo = Undo::capture(item);
    let result = if creating {
        insert_one(target, item).await.map(|()| {
            let all: Vec<usize> = (0..T::COLUMN_DEFS.len()).collect();
            announce::<T>(target, item.row_id(), WriteKind::Insert, &all);
        })
    } else {
        update_one(target, item).await.map(|columns| {
            if !columns.is_empty() {
                announce::<T>(target, item.row_id(), WriteKind::Update, &columns);
            }
        })
    };
    match result {
        Ok(()) => {
            hint_values(target, item);
            let done = if creating { After::Create } else { After::Save };
            after_write(target, item, done).await;
            Ok(())
        }
        Err(err) => {
            undo.restore(item);
            Err(err)
        }
    }
}

/// `before_save`, and for a new row `before_create`, of a model with hooks.
async fn before_save<T: Schema + Hooks>(
    target: Target<'_>,
    item: &mut T,
    creating: bool,
) -> Result<()> {
    if !T::HOOKS {
        return Ok(());
    }
    let executor = target.executor();
    item.before_save(executor)
        .await
        .map_err(|source| Error::hook(T::TABLE_NAME, "before_save", source))?;
    if creating {
        item.before_create(executor)
            .await
            .map_err(|source| Error::hook(T::TABLE_NAME, "before_create", source))?;
    }
    Ok(())
}

/// Which after-hooks a committed write runs.
#[derive(Debug, Clone, Copy)]
enum After {
    /// `after_create`, then `after_save`.
    Create,
    /// `after_save`.
    Save,
    /// `after_delete`.
    Delete,
}

impl After {
    async fn run<T: Hooks>(self, item: &T, db: &Db) {
        match self {
            Self::Create => {
                item.after_create(db).await;
                item.after_save(db).await;
            }
            Self::Save => item.after_save(db).await,
            Self::Delete => item.after_delete(db).await,
        }
    }
}

/// The after-hooks of a committed write of `item`, for a model with hooks:
/// now, or, inside a transaction, after its `COMMIT`, on a copy of the row.
async fn after_write<T: Schema + Hooks>(target: Target<'_>, item: &T, done: After) {
    if !T::HOOKS {
        return;
    }
    match target {
        Target::Db(db) => done.run(item, db).await,
        Target::Tx(tx) => match T::from_row_bytes(&item.row_bytes()) {
            Some(copy) => tx.after_commit(Box::new(move |db| {
                Box::pin(async move { done.run(&copy, &db).await })
            })),
            None => tracing::warn!(
                table = T::TABLE_NAME,
                id = item.row_id(),
                "after-hooks skipped: the row's copy did not decode"
            ),
        },
    }
}

/// Reports a committed write to the `Db`'s listeners: now, or, inside a
/// transaction, after its `COMMIT`. Nothing is built when no one listens.
fn announce<T: Schema>(target: Target<'_>, id: i64, kind: WriteKind, columns: &[usize]) {
    let db = target.db();
    if !db.has_listeners() {
        return;
    }
    let changed = columns
        .iter()
        .map(|&column| T::COLUMN_DEFS[column].name)
        .collect();
    let event = WriteEvent::new(T::TABLE_NAME, id, kind, changed);
    match target {
        Target::Db(db) => db.announce(&event),
        Target::Tx(tx) => tx.record_event(event),
    }
}

/// `delete` (soft when the model has `deleted` and not `hard`) and
/// `delete_hard`, between the model's delete hooks.
pub(crate) async fn delete<T: Schema + Hooks, E: Executor + ?Sized>(
    executor: &E,
    item: &T,
    hard: bool,
) -> Result<()> {
    let target = executor.__target();
    if T::HOOKS {
        item.before_delete(target.executor())
            .await
            .map_err(|source| Error::hook(T::TABLE_NAME, "before_delete", source))?;
    }
    delete_one(target, item, Removal::of::<T>(hard)).await?;
    if let Some(cache) = cache_of(target) {
        cache.value_hints.forget::<T>(item.row_id());
    }
    after_write(target, item, After::Delete).await;
    Ok(())
}

/// Keeps the indexed values `item` was just saved with as this handle's
/// guess for its next write by id (see [`by_id`]), which the write checks.
fn hint_values<T: Schema>(target: Target<'_>, item: &T) {
    if let Some(cache) = cache_of(target)
        && guarded_columns::<T>().next().is_some()
    {
        cache
            .value_hints
            .set::<T>(item.row_id(), &indexed_values(item));
    }
}

/// `restore`: `deleted = false` on a soft-deleted row, which every cached list
/// it belongs to then shows again.
pub(crate) async fn restore<T: Schema, E: Executor + ?Sized>(executor: &E, item: &T) -> Result<()> {
    if T::MODEL_META.deleted.is_none() {
        return Err(Error::invalid_input(format_args!(
            "`{}` has no `deleted` column: its rows are never soft-deleted",
            T::TABLE_NAME
        )));
    }
    delete_one(executor.__target(), item, Removal::Restore).await
}

/// What a delete-family write does to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    /// `DELETE`.
    Hard,
    /// `deleted = true`.
    Soft,
    /// `deleted = false`.
    Restore,
}

impl Removal {
    /// What `delete` (or, with `hard`, `delete_hard`) does to a row of `T`.
    fn of<T: Schema>(hard: bool) -> Self {
        if !hard && T::MODEL_META.deleted.is_some() {
            Self::Soft
        } else {
            Self::Hard
        }
    }
}

/// `incr`: `SET column = column + delta`, in one statement when there is no
/// cache or the model has no indexed columns besides the id, else guarded by
/// a guess of their values or with the row read locked first (see [`by_id`]).
pub(crate) async fn incr<T: Schema, E: Executor + ?Sized>(
    executor: &E,
    id: i64,
    column: usize,
    delta: Value,
) -> Result<()> {
    if Some(column) == T::MODEL_META.version {
        return Err(Error::invalid_input(format_args!(
            "incr: {}.{} is the version column, which every write bumps by itself",
            T::TABLE_NAME,
            T::COLUMN_DEFS[column].name
        )));
    }
    let mut changed = vec![column];
    changed.extend(T::MODEL_META.updated_at);
    changed.extend(T::MODEL_META.version);
    let write = RowWrite {
        id,
        changed,
        ..Default::default()
    };
    let change = by_id::Change::Add {
        column,
        delta: &delta,
    };
    by_id::execute::<T>(executor.__target(), change, write, WriteKind::Increment).await
}

/// How many times `update_or_create` runs when it keeps losing to concurrent
/// callers.
const UPSERT_ATTEMPTS: u32 = 12;

/// How long `update_or_create` waits before its attempt `attempt` (from 2):
/// a random time below 1 ms doubled per attempt, up to 64 ms, so that callers
/// who lost together (a deadlock on MySQL's gap locks picks one victim of
/// each pair) do not meet again on their next attempt.
fn upsert_backoff(attempt: u32) -> std::time::Duration {
    let ceiling = 1_000u64 << attempt.saturating_sub(2).min(6);
    let random = getrandom::u64().unwrap_or(u64::from(attempt) * 7_919);
    std::time::Duration::from_micros(random % ceiling)
}

/// `update_or_create`: the first match updated (read locked), or a default
/// row created, in one transaction. When the transaction is its own and it
/// lost to a concurrent caller — its insert beaten (a unique violation), or
/// the database chose it as a deadlock's victim (MySQL's gap locks on the
/// missing row) — it waits a little ([`upsert_backoff`]) and runs again, and
/// then finds the row.
pub(crate) async fn update_or_create<T, E, F>(
    executor: &E,
    filter: Filter<T>,
    mut apply: F,
) -> Result<(T, bool)>
where
    T: Schema + Hooks + Default,
    E: Executor + ?Sized,
    F: FnMut(&mut T) + Send,
{
    let query = Query::<T>::new().filter(filter);
    let target = executor.__target();
    let mut attempt = 1;
    loop {
        let result = atomically(target, async |tx: &Transaction| {
            let found = select::locked_rows(&query, Target::Tx(tx), Some((0, 1)))
                .await?
                .pop();
            let created = found.is_none();
            let mut row = found.unwrap_or_default();
            apply(&mut row);
            save(tx, &mut row).await?;
            Ok((row, created))
        })
        .await;
        match result {
            Err(err)
                if matches!(target, Target::Db(_))
                    && attempt < UPSERT_ATTEMPTS
                    && lost_to_a_concurrent_caller(&err) =>
            {
                attempt += 1;
                tokio::time::sleep(upsert_backoff(attempt)).await;
            }
            other => return other,
        }
    }
}

/// Whether `err` says the transaction lost to another and was rolled back: a
/// unique violation, a serialization failure or a deadlock (SQLSTATE 40001,
/// 40P01).
fn lost_to_a_concurrent_caller(err: &Error) -> bool {
    err.as_database_error().is_some_and(|db| {
        db.is_unique_violation() || matches!(db.code().as_deref(), Some("40001" | "40P01"))
    })
}

/// `save_many`: every item saved in one transaction, or none. New rows of a
/// model without hooks go first, in multi-row `INSERT`s where the backend
/// returns their ids ([`batch`]); every other item is saved one by one.
pub(crate) async fn save_many<T: Schema + Hooks, E: Executor + ?Sized>(
    executor: &E,
    items: &mut [T],
) -> Result<()> {
    let undo: Vec<Undo> = items.iter_mut().map(|item| Undo::capture(item)).collect();
    let result = atomically(executor.__target(), async |tx: &Transaction| {
        if !batch::batches::<T>(tx) {
            for item in items.iter_mut() {
                save(tx, item).await?;
            }
            return Ok(());
        }
        let (mut new, stored): (Vec<&mut T>, Vec<&mut T>) =
            items.iter_mut().partition(|item| item.row_id() == 0);
        batch::insert_all(tx, &mut new).await?;
        for item in stored {
            save(tx, item).await?;
        }
        Ok(())
    })
    .await;
    if result.is_err() {
        for (item, undo) in items.iter_mut().zip(undo) {
            undo.restore(item);
        }
    }
    result
}

/// `delete_many`: every item deleted in one transaction, or none.
pub(crate) async fn delete_many<T: Schema + Hooks, E: Executor + ?Sized>(
    executor: &E,
    items: &[T],
) -> Result<()> {
    atomically(executor.__target(), async |tx: &Transaction| {
        for item in items {
            delete(tx, item, false).await?;
        }
        Ok(())
    })
    .await
}

/// Runs `work` inside the caller's transaction, or inside a new one that is
/// committed when `work` succeeds and rolled back when it fails.
async fn atomically<R>(
    target: Target<'_>,
    work: impl AsyncFnOnce(&Transaction) -> Result<R>,
) -> Result<R> {
    match target {
        Target::Tx(tx) => work(tx).await,
        Target::Db(db) => db.run_transaction(work).await,
    }
}

/// The cache of the executor, if it has one.
fn cache_of(target: Target<'_>) -> Option<&CacheContext> {
    match target {
        Target::Db(db) => db.cache(),
        Target::Tx(tx) => tx.db().cache(),
    }
}

/// The cache keys of `write` to `T` (none without a cache).
fn keys_of<T: Schema>(target: Target<'_>, write: &RowWrite) -> WriteKeys {
    cache_of(target)
        .map(|cache| cache.write_keys::<T>(std::slice::from_ref(write)))
        .unwrap_or_default()
}

/// Runs one write's statements, `work`, between the cache's steps: `before`
/// locked and bumped first, `after` (of what `work` returned) invalidated and
/// unlocked once it succeeded; `before` only unlocked if it failed. In a
/// transaction both steps wait for its commit and cover `after`'s keys. When
/// the lock cannot reach the cache, the write policy decides (see
/// [`unlocked`]).
async fn write_through<R>(
    target: Target<'_>,
    before: &WriteKeys,
    after: impl FnOnce(&R) -> WriteKeys,
    work: impl AsyncFnOnce(Target<'_>) -> Result<R>,
) -> Result<R> {
    let db = match target {
        Target::Tx(tx) => return in_transaction(tx, after, work).await,
        Target::Db(db) => db,
    };
    let Some(cache) = db.cache() else {
        return work(target).await;
    };
    if let Err(err) = cache.begin_write(db.counters(), before).await {
        return unlocked(db, cache, err, before, after, work).await;
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
    work: impl AsyncFnOnce(Target<'_>) -> Result<R>,
) -> Result<R> {
    let value = work(Target::Tx(tx)).await?;
    tx.record_write(after(&value));
    Ok(value)
}

/// A write whose lock failed with `err`, as the write policy says: refused
/// ([`WritePolicy::FailClosed`](crate::WritePolicy::FailClosed)); run in a transaction that also records its
/// keys in the outbox ([`WritePolicy::Outbox`](crate::WritePolicy::Outbox) on a shared cache); or run
/// with its invalidation retried from this process only.
async fn unlocked<R>(
    db: &Db,
    cache: &CacheContext,
    err: CacheError,
    before: &WriteKeys,
    after: impl FnOnce(&R) -> WriteKeys,
    work: impl AsyncFnOnce(Target<'_>) -> Result<R>,
) -> Result<R> {
    if !cache.after_failed_lock(err.clone())? {
        let value = work(Target::Db(db)).await?;
        cache
            .finish_write(db.counters(), &after(&value), false, true)
            .await;
        return Ok(value);
    }
    let tx = db.open().await?;
    let value = match in_transaction(&tx, after, work).await {
        Ok(value) => value,
        Err(err) => {
            if let Err(rollback) = tx.undo().await {
                tracing::warn!(error = %rollback, "rollback failed after an error");
            }
            return Err(err);
        }
    };
    tx.record_write(before.clone());
    tx.commit_unlocked(err).await?;
    Ok(value)
}

/// Records `write` in `tx`, for its commit's cache steps.
fn record<T: Schema>(tx: &Transaction, write: &RowWrite) {
    if let Some(cache) = tx.db().cache() {
        tx.record_write(cache.write_keys::<T>(std::slice::from_ref(write)));
    }
}

/// The row `id` of `T`, locked until `target`'s transaction ends.
async fn locked_row<T: Schema>(target: Target<'_>, id: i64) -> Result<T> {
    let row = with_session!(target, |session| {
        select_for_update::<T, _>(&mut session, id).await
    })?;
    row.ok_or_else(|| Error::not_found(T::TABLE_NAME, id))
}

/// What the guards of a write of `item` compare with: `Some(Some(row))`, the
/// row as last read, from the snapshot; `Some(None)` when the model has no
/// indexed column to guard; `None` when the write must read the row locked
/// first (indexed columns, no snapshot).
fn guard_basis<T: Schema>(item: &T) -> Option<Option<T>> {
    match snapshot_row(item) {
        Some(before) => Some(Some(before)),
        None if guarded_columns::<T>().next().is_none() => Some(None),
        None => None,
    }
}

/// The row as last read or saved, from the value's snapshot.
fn snapshot_row<T: Schema>(item: &T) -> Option<T> {
    item.snapshot()
        .and_then(Snapshot::row)
        .and_then(T::from_row_bytes)
}

/// The guards of a write whose row was `before`: each indexed column as it was.
fn guards_of<T: Schema>(before: &T) -> Vec<Guard> {
    guarded_columns::<T>()
        .map(|column| match before.value(column) {
            Value::Null => Guard::IsNull(column),
            _ => Guard::Equals(column),
        })
        .collect()
}

async fn insert_one<T: Schema>(target: Target<'_>, item: &mut T) -> Result<()> {
    if let Some(base) = item.base_mut() {
        let now = now();
        if base.created_at == DateTime::<Utc>::default() {
            base.created_at = now;
        }
        base.updated_at = now;
    }
    // A new row changes no column of another: its membership stamp and its
    // values' stamps cover every list it can enter.
    let mut write = RowWrite {
        id: 0,
        changed: Vec::new(),
        before: Vec::new(),
        after: indexed_values(item),
        membership: true,
    };
    // The new id is known only after the INSERT: the stamps are locked
    // before it, the row key and the id's stamp too after it.
    let before = keys_of::<T>(target, &write);
    let id = {
        let item = &*item;
        write_through(
            target,
            &before,
            |&id| {
                write.id = id;
                keys_of::<T>(target, &write)
            },
            async |target| {
                with_session!(target, |session| insert::<T, _>(&mut session, item).await)
            },
        )
        .await?
    };
    item.set_id(id);
    remember(item);
    Ok(())
}

/// Writes the columns of `item` that changed; returns them (none: nothing
/// sent).
async fn update_one<T: Schema>(target: Target<'_>, item: &mut T) -> Result<Vec<usize>> {
    let mut columns = unsaved_columns(item);
    if columns.is_empty() {
        return Ok(columns);
    }
    if let (Some(updated_at), Some(base)) = (T::MODEL_META.updated_at, item.base_mut()) {
        base.updated_at = now();
        if !columns.contains(&updated_at) {
            columns.push(updated_at);
        }
    }
    let membership = T::MODEL_META
        .deleted
        .is_some_and(|deleted| columns.contains(&deleted));
    let expected = bump_version(item, &mut columns);
    write_columns(target, item, columns.clone(), membership, expected).await?;
    Ok(columns)
}

/// The `UPDATE` of `columns` of `item`: guarded by the snapshot's indexed
/// values (and the version read), or, when the guard fails or there is no
/// snapshot, with the row read locked first.
async fn write_columns<T: Schema>(
    target: Target<'_>,
    item: &mut T,
    columns: Vec<usize>,
    membership: bool,
    expected: Option<i64>,
) -> Result<()> {
    let id = item.row_id();
    let Some(before) = guard_basis(item) else {
        return update_locked(target, item, columns, membership, expected).await;
    };
    let write = RowWrite {
        id,
        changed: columns.clone(),
        before: before.as_ref().map(indexed_values).unwrap_or_default(),
        after: indexed_values(item),
        membership,
    };
    let mut guards = before.as_ref().map(guards_of).unwrap_or_default();
    guards.extend(
        expected
            .zip(T::MODEL_META.version)
            .map(|(_, column)| Guard::Version(column)),
    );
    let keys = keys_of::<T>(target, &write);
    let updated = {
        let item = &*item;
        let (columns, guards) = (&columns, &guards);
        write_through(
            target,
            &keys,
            |_| keys.clone(),
            async |target| {
                with_session!(target, |session| {
                    let guarded = Guarded {
                        before: before.as_ref(),
                        guards,
                        version: expected,
                    };
                    update::<T, _>(&mut session, item, columns, guarded).await
                })
            },
        )
        .await
    };
    match updated {
        Ok(()) => {
            remember(item);
            Ok(())
        }
        // The row changed since it was read (or is gone): read it locked.
        Err(err) if err.is_not_found() && !guards.is_empty() => {
            update_locked(target, item, columns, membership, expected).await
        }
        Err(err) => Err(err),
    }
}

/// An update whose old values are read from the row, locked, in a transaction.
async fn update_locked<T: Schema>(
    target: Target<'_>,
    item: &mut T,
    columns: Vec<usize>,
    membership: bool,
    expected: Option<i64>,
) -> Result<()> {
    let id = item.row_id();
    atomically(target, async |tx: &Transaction| {
        let target = Target::Tx(tx);
        let current = locked_row::<T>(target, id).await?;
        check_version(&current, expected)?;
        let write = RowWrite {
            id,
            changed: columns.clone(),
            before: indexed_values(&current),
            after: indexed_values(&*item),
            membership,
        };
        let item = &*item;
        with_session!(target, |session| {
            update::<T, _>(&mut session, item, &columns, Guarded::default()).await
        })?;
        record::<T>(tx, &write);
        Ok(())
    })
    .await?;
    remember(item);
    Ok(())
}

async fn delete_one<T: Schema>(target: Target<'_>, item: &T, removal: Removal) -> Result<()> {
    let done = remove_one(target, item, removal).await;
    if done.is_ok() {
        let (kind, columns) = match removal {
            Removal::Hard => (WriteKind::Delete, Vec::new()),
            Removal::Soft => (WriteKind::SoftDelete, soft_columns::<T>()),
            Removal::Restore => (WriteKind::Restore, soft_columns::<T>()),
        };
        announce::<T>(target, item.row_id(), kind, &columns);
    }
    done
}

/// The columns a soft delete or a restore writes.
fn soft_columns<T: Schema>() -> Vec<usize> {
    T::MODEL_META
        .deleted
        .into_iter()
        .chain(T::MODEL_META.updated_at)
        .collect()
}

/// [`delete_one`] without telling the listeners.
async fn remove_one<T: Schema>(target: Target<'_>, item: &T, removal: Removal) -> Result<()> {
    let id = item.row_id();
    let Some(before) = guard_basis(item) else {
        return delete_locked::<T>(target, id, removal).await;
    };
    let write = deletion::<T>(id, before.as_ref().map(indexed_values), removal);
    let guards = before.as_ref().map(guards_of).unwrap_or_default();
    let keys = keys_of::<T>(target, &write);
    let deleted = write_through(
        target,
        &keys,
        |_| keys.clone(),
        async |target| {
            with_session!(target, |session| {
                remove::<T, _>(&mut session, id, removal, before.as_ref(), &guards).await
            })
        },
    )
    .await;
    match deleted {
        Err(err) if err.is_not_found() && !guards.is_empty() => {
            delete_locked::<T>(target, id, removal).await
        }
        other => other,
    }
}

/// A delete whose old values are read from the row, locked, in a transaction.
async fn delete_locked<T: Schema>(target: Target<'_>, id: i64, removal: Removal) -> Result<()> {
    atomically(target, async |tx: &Transaction| {
        let target = Target::Tx(tx);
        let current = locked_row::<T>(target, id).await?;
        let write = deletion::<T>(id, Some(indexed_values(&current)), removal);
        with_session!(target, |session| {
            remove::<T, _>(&mut session, id, removal, None, &[]).await
        })?;
        record::<T>(tx, &write);
        Ok(())
    })
    .await
}

/// What deleting (or restoring) row `id`, whose indexed columns were
/// `before`, changes: its membership in every list, and for a soft delete or a
/// restore its `deleted` and `updated_at` columns.
fn deletion<T: Schema>(id: i64, before: Option<Vec<(usize, Value)>>, removal: Removal) -> RowWrite {
    let before = before.unwrap_or_default();
    let soft = removal != Removal::Hard;
    let changed = if soft {
        soft_columns::<T>()
    } else {
        Vec::new()
    };
    RowWrite {
        id,
        changed,
        after: if soft { before.clone() } else { Vec::new() },
        before,
        membership: true,
    }
}

/// Binds the guards' expected values: the columns of `before`.
fn bind_guards<T, DB>(guarded: &Guarded<'_, T>, args: &mut DB::Arguments) -> Result<()>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    for guard in guarded.guards {
        match (guard, guarded.before, guarded.version) {
            (Guard::Equals(column), Some(before), _) => {
                <T as ModelIo<DB>>::bind_column(before, *column, args).map_err(Error::encode)?;
            }
            (Guard::Version(_), _, Some(version)) => {
                DB::bind_id(version, args).map_err(Error::encode)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// What an `UPDATE` checks besides the id: the old values of the guarded
/// columns (from `before`), and the version the writer read.
struct Guarded<'a, T> {
    before: Option<&'a T>,
    guards: &'a [Guard],
    version: Option<i64>,
}

impl<T> Default for Guarded<'_, T> {
    fn default() -> Self {
        Self {
            before: None,
            guards: &[],
            version: None,
        }
    }
}

/// For a model with `#[thing(version)]`: bumps the value's version, adds the
/// column to those written, and returns the version it had (which the update
/// must still find in the row).
fn bump_version<T: Schema>(item: &mut T, columns: &mut Vec<usize>) -> Option<i64> {
    let column = T::MODEL_META.version?;
    let version = item.version_mut()?;
    let expected = *version;
    *version = expected.wrapping_add(1);
    if !columns.contains(&column) {
        columns.push(column);
    }
    Some(expected)
}

/// [`Error::Conflict`] when the row's version is not the one the writer read.
fn check_version<T: Schema>(current: &T, expected: Option<i64>) -> Result<()> {
    let (Some(expected), Some(column)) = (expected, T::MODEL_META.version) else {
        return Ok(());
    };
    match current.value(column) {
        Value::Int(found) if found == expected => Ok(()),
        found => Err(Error::Conflict(format!(
            "{} with id {}: saved from version {expected}, but the row is at {found:?}",
            T::TABLE_NAME,
            current.row_id()
        ))),
    }
}

/// `INSERT`: the new id.
async fn insert<T, DB>(session: &mut Session<'_, DB>, item: &T) -> Result<i64>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let statements = model_sql::<T>(DB::DIALECT);
    let mut args = DB::Arguments::default();
    for column in insertable::<T>() {
        <T as ModelIo<DB>>::bind_column(item, column, &mut args).map_err(Error::encode)?;
    }
    let sql = fixed(&statements.insert);
    if DB::DIALECT.insert_returns_id() {
        let row = session
            .fetch_optional(StatementKind::Insert, sql, args)
            .await?;
        let row = row.ok_or_else(|| Error::invalid_input("INSERT ... RETURNING gave no row"))?;
        Ok(DB::decode_id(&row)?)
    } else {
        let (_, id) = session.execute(StatementKind::Insert, sql, args).await?;
        id.ok_or_else(|| Error::invalid_input("the driver returned no insert id"))
    }
}

/// `UPDATE` of `columns`, guarded; [`Error::NotFound`] when it matches no row.
async fn update<T, DB>(
    session: &mut Session<'_, DB>,
    item: &T,
    columns: &[usize],
    guarded: Guarded<'_, T>,
) -> Result<()>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let mut args = DB::Arguments::default();
    for &column in columns {
        <T as ModelIo<DB>>::bind_column(item, column, &mut args).map_err(Error::encode)?;
    }
    DB::bind_id(item.row_id(), &mut args).map_err(Error::encode)?;
    bind_guards::<T, DB>(&guarded, &mut args)?;
    let sql = dynamic(sql::update::<T>(DB::DIALECT, columns, guarded.guards));
    let (affected, _) = session.execute(StatementKind::Update, sql, args).await?;
    if affected == 0 {
        return Err(Error::not_found(T::TABLE_NAME, item.row_id()));
    }
    Ok(())
}

/// A `DELETE`, a soft delete or a restore, guarded; [`Error::NotFound`] when
/// it matches no row.
async fn remove<T, DB>(
    session: &mut Session<'_, DB>,
    id: i64,
    removal: Removal,
    before: Option<&T>,
    guards: &[Guard],
) -> Result<()>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let mut args = DB::Arguments::default();
    let (kind, sql) = match T::MODEL_META.deleted {
        Some(deleted) if removal != Removal::Hard => {
            DB::bind_bool(removal == Removal::Soft, &mut args).map_err(Error::encode)?;
            if T::MODEL_META.updated_at.is_some() {
                DB::bind_timestamp(now(), &mut args).map_err(Error::encode)?;
            }
            let columns: Vec<usize> = std::iter::once(deleted)
                .chain(T::MODEL_META.updated_at)
                .collect();
            (
                StatementKind::Update,
                sql::update::<T>(DB::DIALECT, &columns, guards),
            )
        }
        _ => (StatementKind::Delete, sql::delete::<T>(DB::DIALECT, guards)),
    };
    DB::bind_id(id, &mut args).map_err(Error::encode)?;
    let guarded = Guarded {
        before,
        guards,
        version: None,
    };
    bind_guards::<T, DB>(&guarded, &mut args)?;
    let (affected, _) = session.execute(kind, dynamic(sql), args).await?;
    if affected == 0 {
        return Err(Error::not_found(T::TABLE_NAME, id));
    }
    Ok(())
}

/// What `save` changes in the value, put back when the write fails so that the
/// value still describes what is in the database.
struct Undo {
    id: i64,
    base: Option<BaseModel>,
    snapshot: Option<Snapshot>,
    version: Option<i64>,
}

impl Undo {
    fn capture<T: Schema>(item: &mut T) -> Self {
        Self {
            id: item.row_id(),
            base: item.base().cloned(),
            snapshot: item.snapshot().cloned(),
            version: item.version_mut().map(|version| *version),
        }
    }

    fn restore<T: Schema>(self, item: &mut T) {
        item.set_id(self.id);
        if let (Some(before), Some(version)) = (self.version, item.version_mut()) {
            *version = before;
        }
        if let (Some(before), Some(base)) = (self.base, item.base_mut()) {
            *base = before;
        }
        if let (Some(before), Some(snapshot)) = (self.snapshot, item.snapshot_mut()) {
            *snapshot = before;
        }
    }
}

/// The current time at the precision every backend stores (microseconds), so
/// that a value read back equals the value written.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
