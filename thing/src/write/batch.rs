//! `save_many`'s new rows in multi-row `INSERT ... RETURNING`s: up to
//! [`ROWS_PER_INSERT`] rows per statement (fewer when the backend's parameter
//! limit needs it), each returning its ids. A batch of new rows that fits one
//! statement, outside a transaction, is that statement alone through the
//! write protocol (one statement is atomic on its own); any other batch runs
//! in a transaction, whose commit runs the cache steps of every row.

use super::after::announce;
use super::delete::{delete, delete_all, deletes_at_once};
use super::lifecycle::Hooks;
use super::protocol::{atomically, cache_of, write_through};
use super::save::Undo;
use super::save::now;
use super::save::save;
use crate::backend::{Backend, ModelIo, Session};
use crate::cache::WriteKeys;
use crate::cache::stamps::{RowWrite, indexed_values};
use crate::db::executor::Executor;
use crate::db::executor::{Target, with_session};
use crate::db::handle::Db;
use crate::db::transaction::Transaction;
use crate::error::{Error, Result};
use crate::events::WriteKind;
use crate::observe::stats::StatementKind;
use crate::read::fetch::{Snapshots, fetch_ids};
use crate::schema::{Schema, Sealed};
use crate::sql::{self, dynamic, insertable};
use chrono::{DateTime, Utc};

/// The most rows one `INSERT` carries.
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// Whether `save_many` of `T` through `tx` inserts its new rows in batches:
/// when `T` has no hooks (whose before-hooks must see the rows inserted
/// before theirs), has a column besides its id, and the server returns the
/// ids of a multi-row `INSERT` (SQLite, PostgreSQL, MariaDB 10.5+; not
/// MySQL).
pub(crate) fn batches<T: Schema>(tx: &Transaction) -> bool {
    !T::HOOKS && insertable::<T>().next().is_some() && tx.db().insert_returning()
}

/// Inserts `items` (all new) in multi-row statements through `tx`, filling
/// their ids, timestamps and snapshots, and records their cache keys and
/// events for the commit.
pub(crate) async fn insert_all<T: Schema>(tx: &Transaction, items: &mut [&mut T]) -> Result<()> {
    for chunk in items.chunks_mut(rows_per_insert::<T>(tx.db())) {
        insert_chunk(tx, chunk).await?;
    }
    Ok(())
}

/// The most rows of `T` one `INSERT` on `db` carries: [`ROWS_PER_INSERT`],
/// or fewer under the backend's parameter limit.
fn rows_per_insert<T: Schema>(db: &Db) -> usize {
    let width = insertable::<T>().count().max(1);
    ROWS_PER_INSERT.min(db.dialect().max_parameters() / width)
}

/// Whether `save_many` of `items` through `target` is one `INSERT` and
/// nothing else: a `Db` (not a transaction), a model whose new rows go in
/// batches, every item new, and few enough of them for one statement.
fn is_one_insert<T: Schema>(target: Target<'_>, items: &[T]) -> bool {
    let Target::Db(db) = target else {
        return false;
    };
    !items.is_empty()
        && !T::HOOKS
        && insertable::<T>().next().is_some()
        && db.insert_returning()
        && items.len() <= rows_per_insert::<T>(db)
        && items.iter().all(|item| item.row_id() == 0)
}

/// The new rows `items` in one `INSERT`, through the write protocol: their
/// stamps locked and bumped before it, their row keys and id stamps learned
/// from the ids it returns (as a single insert's are). No transaction, unless
/// the write policy needs one for the outbox.
async fn insert_alone<T: Schema>(db: &Db, items: &mut [T]) -> Result<()> {
    set_timestamps(items.iter_mut());
    let target = Target::Db(db);
    let ids = {
        let items = &*items;
        let before = batch_keys(target, items, &vec![0; items.len()]);
        write_through(
            target,
            &before,
            |ids: &Vec<i64>| batch_keys(target, items, ids),
            async |target| {
                let rows: Vec<&T> = items.iter().collect();
                let ids =
                    with_session!(target, |session| insert_rows::<T, _>(&mut session, &rows)
                        .await)?;
                Ok(ids)
            },
        )
        .await?
    };
    settle_inserted(target, items.iter_mut(), ids);
    Ok(())
}

/// The cache keys of inserting `items` as the rows `ids` (0: not known yet),
/// none without a cache.
fn batch_keys<T: Schema>(target: Target<'_>, items: &[T], ids: &[i64]) -> WriteKeys {
    let Some(cache) = cache_of(target) else {
        return WriteKeys::default();
    };
    let writes: Vec<RowWrite> = items
        .iter()
        .zip(ids)
        .map(|(item, &id)| inserted(id, item))
        .collect();
    cache.write_keys::<T>(&writes)
}

/// What inserting `item` as row `id` does, for its stamps.
fn inserted<T: Schema>(id: i64, item: &T) -> RowWrite {
    RowWrite {
        id,
        changed: Vec::new(),
        before: Vec::new(),
        after: indexed_values(item),
        membership: true,
    }
}

/// One multi-row `INSERT` of `chunk`.
async fn insert_chunk<T: Schema>(tx: &Transaction, chunk: &mut [&mut T]) -> Result<()> {
    set_timestamps(chunk.iter_mut().map(|item| &mut **item));
    let target = Target::Tx(tx);
    let ids = {
        let rows: Vec<&T> = chunk.iter().map(|item| &**item).collect();
        with_session!(target, |session| insert_rows::<T, _>(&mut session, &rows)
            .await)?
    };
    settle_inserted(target, chunk.iter_mut().map(|item| &mut **item), ids);
    if let Some(cache) = tx.db().cache() {
        let writes: Vec<RowWrite> = chunk
            .iter()
            .map(|item| inserted(item.row_id(), &**item))
            .collect();
        tx.record_write(cache.write_keys::<T>(&writes));
    }
    Ok(())
}

/// `created_at` (unless set) and `updated_at` of new rows, all at one time.
fn set_timestamps<'a, T: Schema>(items: impl Iterator<Item = &'a mut T>) {
    let now = now();
    for item in items {
        if let Some(base) = item.base_mut(Sealed::new()) {
            if base.created_at == DateTime::<Utc>::default() {
                base.created_at = now;
            }
            base.updated_at = now;
        }
    }
}

/// New rows after their `INSERT` returned `ids`: each gets its id and its
/// snapshot, and the listeners hear of it.
fn settle_inserted<'a, T: Schema>(
    target: Target<'_>,
    items: impl Iterator<Item = &'a mut T>,
    ids: Vec<i64>,
) {
    let all: Vec<usize> = (0..T::COLUMN_DEFS.len()).collect();
    let mut snapshots = Snapshots::default();
    for (item, id) in items.zip(ids) {
        item.set_id(id, Sealed::new());
        snapshots.take(item);
        announce::<T>(target, id, WriteKind::Insert, &all);
    }
}

/// The `INSERT` of `rows`: their ids, in the order of `rows`.
///
/// The ids come back through `RETURNING`, whose order SQLite does not
/// promise; the rows of one statement are inserted in the order of its
/// `VALUES`, each taking the next id, so the ids sorted are the rows' ids.
async fn insert_rows<T, DB>(session: &mut Session<'_, DB>, rows: &[&T]) -> Result<Vec<i64>>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let mut args = DB::Arguments::default();
    for row in rows {
        for column in insertable::<T>() {
            <T as ModelIo<DB>>::bind_column(*row, column, &mut args).map_err(Error::encode)?;
        }
    }
    let sql = dynamic(sql::insert_rows::<T>(DB::DIALECT, rows.len()));
    let mut ids = fetch_ids::<DB>(session, StatementKind::Insert, sql, args, rows.len()).await?;
    if ids.len() != rows.len() {
        return Err(Error::protocol(format_args!(
            "INSERT of {} rows into `{}` returned {} ids",
            rows.len(),
            T::TABLE_NAME,
            ids.len()
        )));
    }
    ids.sort_unstable();
    Ok(ids)
}

/// `save_many`: every item saved in one transaction, or none. New rows of a
/// model without hooks go first, in multi-row `INSERT`s where the backend
/// returns their ids ([`batch`]); every other item is saved one by one.
pub(crate) async fn save_many<T: Schema + Hooks, E: Executor + ?Sized>(
    executor: &E,
    items: &mut [T],
) -> Result<()> {
    let undo: Vec<Undo> = items.iter_mut().map(|item| Undo::capture(item)).collect();
    let target = executor.__target();
    let result = match target {
        Target::Db(db) if is_one_insert(target, items) => insert_alone(db, items).await,
        _ => in_transaction(target, items).await,
    };
    if result.is_err() {
        for (item, undo) in items.iter_mut().zip(undo) {
            undo.restore(item);
        }
    }
    result
}

/// `save_many` in one transaction: the caller's, or one of its own.
async fn in_transaction<T: Schema + Hooks>(target: Target<'_>, items: &mut [T]) -> Result<()> {
    atomically(target, async |tx: &Transaction| {
        if !batches::<T>(tx) {
            for item in items.iter_mut() {
                save(tx, item).await?;
            }
            return Ok(());
        }
        let (mut new, stored): (Vec<&mut T>, Vec<&mut T>) =
            items.iter_mut().partition(|item| item.row_id() == 0);
        insert_all(tx, &mut new).await?;
        for item in stored {
            save(tx, item).await?;
        }
        Ok(())
    })
    .await
}

/// `delete_many`: every item deleted in one transaction, or none; in one
/// statement when [`deletes_at_once`] says it can be.
pub(crate) async fn delete_many<T: Schema + Hooks, E: Executor + ?Sized>(
    executor: &E,
    items: &[T],
) -> Result<()> {
    let target = executor.__target();
    let at_once = deletes_at_once(target.db(), items);
    atomically(target, async |tx: &Transaction| {
        if at_once {
            return delete_all(tx, items).await;
        }
        for item in items {
            delete(tx, item, false).await?;
        }
        Ok(())
    })
    .await
}
