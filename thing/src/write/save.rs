//! `save`: an `INSERT` of a new row, or an `UPDATE` of the columns that
//! changed, guarded by their old values, with the model's version checked and
//! bumped; the item is left as it was when the save fails.

use super::after::After;
use super::after::after_write;
use super::after::announce;
use super::after::hint_values;
use super::change::unsaved_columns;
use super::guard::Guarded;
use super::guard::bind_guards;
use super::guard::guard_basis;
use super::guard::guards_of;
use super::guard::locked_row;
use super::lifecycle::Hooks;
use super::protocol::atomically;
use super::protocol::keys_of;
use super::protocol::record;
use super::protocol::{Unwritten, write_through};
use crate::backend::{Backend, ModelIo, Session};
use crate::cache::stamps::{RowWrite, indexed_values};
use crate::db::executor::{Executor, Target, with_session};
use crate::db::transaction::Transaction;
use crate::error::{Error, Result};
use crate::events::WriteKind;
use crate::observe::stats::StatementKind;
use crate::read::fetch::take_snapshot;
use crate::schema::{BaseModel, Schema, Sealed, Snapshot};
use crate::sql::{self, Guard, dynamic, fixed, insertable, model_sql};
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

async fn insert_one<T: Schema>(target: Target<'_>, item: &mut T) -> Result<()> {
    if let Some(base) = item.base_mut(Sealed::new()) {
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
                let id = with_session!(target, |session| insert::<T, _>(&mut session, item).await)?;
                Ok(id)
            },
        )
        .await?
    };
    item.set_id(id, Sealed::new());
    take_snapshot(item);
    Ok(())
}

/// Writes the columns of `item` that changed; returns them (none: nothing
/// sent).
async fn update_one<T: Schema>(target: Target<'_>, item: &mut T) -> Result<Vec<usize>> {
    let mut columns = unsaved_columns(item);
    if columns.is_empty() {
        return Ok(columns);
    }
    if let (Some(updated_at), Some(base)) = (T::MODEL_META.updated_at, item.base_mut(Sealed::new()))
    {
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
            take_snapshot(item);
            Ok(())
        }
        // The row changed since it was read (or is gone): read it locked.
        Err(Unwritten::Missed { .. }) if !guards.is_empty() => {
            update_locked(target, item, columns, membership, expected).await
        }
        Err(err) => Err(err.into()),
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
    take_snapshot(item);
    Ok(())
}

/// For a model with `#[thing(version)]`: bumps the value's version, adds the
/// column to those written, and returns the version it had (which the update
/// must still find in the row).
fn bump_version<T: Schema>(item: &mut T, columns: &mut Vec<usize>) -> Option<i64> {
    let column = T::MODEL_META.version?;
    let version = item.version_mut(Sealed::new())?;
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
    let found = match current.value(column) {
        Value::Int(found) if found == expected => return Ok(()),
        Value::Int(found) => Some(found),
        _ => None,
    };
    Err(Error::Conflict {
        table: T::TABLE_NAME,
        id: current.row_id(),
        read: expected,
        found,
    })
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
        let row = row.ok_or_else(|| Error::protocol("INSERT ... RETURNING gave no row"))?;
        Ok(DB::decode_id(&row)?)
    } else {
        let (_, id) = session.execute(StatementKind::Insert, sql, args).await?;
        id.ok_or_else(|| Error::protocol("the driver returned no insert id"))
    }
}

/// `UPDATE` of `columns`, guarded; [`Unwritten::Missed`] when it matches no
/// row.
async fn update<T, DB>(
    session: &mut Session<'_, DB>,
    item: &T,
    columns: &[usize],
    guarded: Guarded<'_, T>,
) -> Result<(), Unwritten>
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
        return Err(Unwritten::Missed {
            table: T::TABLE_NAME,
            id: item.row_id(),
        });
    }
    Ok(())
}

/// What `save` changes in the value, put back when the write fails so that the
/// value still describes what is in the database.
pub(super) struct Undo {
    id: i64,
    base: Option<BaseModel>,
    snapshot: Option<Snapshot>,
    version: Option<i64>,
}

impl Undo {
    pub(super) fn capture<T: Schema>(item: &mut T) -> Self {
        Self {
            id: item.row_id(),
            base: item.base().cloned(),
            snapshot: item.snapshot().cloned(),
            version: item.version_mut(Sealed::new()).map(|version| *version),
        }
    }

    pub(super) fn restore<T: Schema>(self, item: &mut T) {
        item.set_id(self.id, Sealed::new());
        if let (Some(before), Some(version)) = (self.version, item.version_mut(Sealed::new())) {
            *version = before;
        }
        if let (Some(before), Some(base)) = (self.base, item.base_mut(Sealed::new())) {
            *base = before;
        }
        if let (Some(before), Some(snapshot)) = (self.snapshot, item.snapshot_mut(Sealed::new())) {
            *snapshot = before;
        }
    }
}

/// The current time at the precision every backend stores (microseconds), so
/// that a value read back equals the value written.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
