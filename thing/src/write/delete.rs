//! `delete`, `delete_hard` and `restore`: a row removed, soft-deleted or
//! brought back, guarded by its indexed values; and `delete_many`'s rows in
//! one statement that returns what they held.

use super::after::After;
use super::after::after_write;
use super::after::announce;
use super::guard::Guarded;
use super::guard::bind_guards;
use super::guard::guard_basis;
use super::guard::guards_of;
use super::guard::locked_row;
use super::lifecycle::Hooks;
use super::protocol::atomically;
use super::protocol::cache_of;
use super::protocol::keys_of;
use super::protocol::record;
use super::protocol::{Unwritten, write_through};
use super::save::now;
use crate::backend::dialect::Dialect;
use crate::backend::{Backend, ModelIo, Session};
use crate::cache::stamps::{RowWrite, indexed_values};
use crate::db::executor::{Executor, Target, with_session};
use crate::db::handle::Db;
use crate::db::transaction::Transaction;
use crate::error::{Error, Result};
use crate::events::WriteKind;
use crate::observe::stats::StatementKind;
use crate::read::fetch::{Snapshots, fetch_models};
use crate::schema::Schema;
use crate::sql::{self, Guard, dynamic, model_sql};
use crate::value::Value;

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

/// Binds what a soft delete (`deleted` true) or a restore (false) sets: the
/// `deleted` flag, then `updated_at` when the model has it; returns those
/// columns ([`soft_columns`]), in that order.
fn bind_soft<T: Schema, DB: Backend>(
    deleted: bool,
    args: &mut DB::Arguments,
) -> Result<Vec<usize>> {
    DB::bind_bool(deleted, args).map_err(Error::encode)?;
    if T::MODEL_META.updated_at.is_some() {
        DB::bind_timestamp(now(), args).map_err(Error::encode)?;
    }
    Ok(soft_columns::<T>())
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
        Err(Unwritten::Missed { .. }) if !guards.is_empty() => {
            delete_locked::<T>(target, id, removal).await
        }
        other => other.map_err(Error::from),
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

/// A `DELETE`, a soft delete or a restore, guarded; [`Unwritten::Missed`]
/// when it matches no row.
async fn remove<T, DB>(
    session: &mut Session<'_, DB>,
    id: i64,
    removal: Removal,
    before: Option<&T>,
    guards: &[Guard],
) -> Result<(), Unwritten>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let mut args = DB::Arguments::default();
    let (kind, sql) = match T::MODEL_META.deleted {
        Some(_) if removal != Removal::Hard => {
            let columns = bind_soft::<T, DB>(removal == Removal::Soft, &mut args)?;
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
        return Err(Unwritten::Missed {
            table: T::TABLE_NAME,
            id,
        });
    }
    Ok(())
}

/// Whether `delete_many` of `items` on `db` is one statement: a model without
/// hooks, two items or more, each stored and named once, few enough for one
/// statement, on a backend that returns the rows a `DELETE` wrote — their
/// values are the stamps to move. (MariaDB's soft delete, with no `UPDATE …
/// RETURNING`, reads the rows first, locked: see [`remove_all`].)
pub(super) fn deletes_at_once<T: Schema + Hooks>(db: &Db, items: &[T]) -> bool {
    let mut ids: Vec<i64> = items.iter().map(|item| item.row_id()).collect();
    ids.sort_unstable();
    ids.dedup();
    !T::HOOKS
        && items.len() > 1
        && ids.len() == items.len()
        && !ids.contains(&0)
        && db.insert_returning()
        && items.len() + 2 <= db.dialect().max_parameters()
}

/// `delete_many` of `items` in one statement inside `tx` (see
/// [`deletes_at_once`]): the rows' cache keys come from the values the
/// statement returns, and a row it did not find is [`Error::NotFound`]
/// (the caller's transaction then writes nothing).
pub(super) async fn delete_all<T: Schema>(tx: &Transaction, items: &[T]) -> Result<()> {
    let target = Target::Tx(tx);
    let ids: Vec<i64> = items.iter().map(|item| item.row_id()).collect();
    let removal = Removal::of::<T>(false);
    let removed: Vec<T> = with_session!(target, |session| {
        remove_all::<T, _>(&mut session, &ids, removal).await
    })?;
    if removed.len() < ids.len() {
        let found: Vec<i64> = removed.iter().map(|row| row.row_id()).collect();
        let missing = ids.iter().find(|id| !found.contains(id)).copied();
        return Err(Error::not_found(T::TABLE_NAME, missing.unwrap_or(0)));
    }
    let (kind, columns) = match removal {
        Removal::Soft => (WriteKind::SoftDelete, soft_columns::<T>()),
        _ => (WriteKind::Delete, Vec::new()),
    };
    for row in &removed {
        let write = deletion::<T>(row.row_id(), Some(values_before(row, removal)), removal);
        record::<T>(tx, &write);
        announce::<T>(target, row.row_id(), kind, &columns);
        if let Some(cache) = cache_of(target) {
            cache.value_hints.forget::<T>(row.row_id());
        }
    }
    Ok(())
}

/// The indexed values of a row before `removal`, from the row as the
/// statement returned it: a soft delete's `deleted` was false (or already
/// true, whose stamp the row's membership covers).
fn values_before<T: Schema>(row: &T, removal: Removal) -> Vec<(usize, Value)> {
    let mut values = indexed_values(row);
    if removal == Removal::Soft {
        for (column, value) in &mut values {
            if Some(*column) == T::MODEL_META.deleted {
                *value = Value::Bool(false);
            }
        }
    }
    values
}

/// The `DELETE … IN` (or soft delete's `UPDATE … IN`) of `ids`, returning
/// the rows it wrote. On MariaDB, which has no `UPDATE … RETURNING`, a soft
/// delete reads the rows first with `SELECT … FOR UPDATE` (in the caller's
/// transaction, so that none changes before the `UPDATE`), then updates them:
/// two statements where it took one per row.
async fn remove_all<T, DB>(
    session: &mut Session<'_, DB>,
    ids: &[i64],
    removal: Removal,
) -> Result<Vec<T>>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let mut args = DB::Arguments::default();
    let (kind, set) = match T::MODEL_META.deleted {
        Some(_) if removal == Removal::Soft => {
            (StatementKind::Update, bind_soft::<T, DB>(true, &mut args)?)
        }
        _ => (StatementKind::Delete, Vec::new()),
    };
    for &id in ids {
        DB::bind_id(id, &mut args).map_err(Error::encode)?;
    }
    if !set.is_empty() && DB::DIALECT == Dialect::MySql {
        let rows = select_locked_in::<T, DB>(session, ids).await?;
        let sql = dynamic(sql::remove_in::<T>(DB::DIALECT, &set, ids.len(), false));
        session.execute(kind, sql, args).await?;
        return Ok(rows);
    }
    let sql = dynamic(sql::remove_in::<T>(DB::DIALECT, &set, ids.len(), true));
    let mut snapshots = Snapshots::default();
    session
        .fetch_decoded(kind, sql, args, ids.len(), |row| {
            snapshots.decode::<T, DB>(row)
        })
        .await
}

/// The rows `ids`, locked until the caller's transaction ends.
async fn select_locked_in<T, DB>(session: &mut Session<'_, DB>, ids: &[i64]) -> Result<Vec<T>>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let statements = model_sql::<T>(DB::DIALECT);
    let mut sql = sql::id_list(DB::DIALECT, &statements.select_in_prefix, ids.len());
    sql.push_str(" FOR UPDATE");
    let mut args = DB::Arguments::default();
    for &id in ids {
        DB::bind_id(id, &mut args).map_err(Error::encode)?;
    }
    fetch_models::<T, DB>(session, dynamic(sql), args, ids.len()).await
}
