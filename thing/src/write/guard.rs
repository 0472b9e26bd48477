//! Guards: a write's statement conditioned on the old values of the row's
//! indexed columns (which its stamps need), and the locked read when a guard
//! matches nothing.

use crate::backend::{Backend, ModelIo};
use crate::cache::stamps::guarded_columns;
use crate::db::executor::{Target, with_session};
use crate::error::{Error, Result};
use crate::read::fetch::select_for_update;
use crate::schema::{Schema, Snapshot};
use crate::sql::Guard;
use crate::value::Value;

/// The row `id` of `T`, locked until `target`'s transaction ends.
pub(super) async fn locked_row<T: Schema>(target: Target<'_>, id: i64) -> Result<T> {
    let row = with_session!(target, |session| {
        select_for_update::<T, _>(&mut session, id).await
    })?;
    row.ok_or_else(|| Error::not_found(T::TABLE_NAME, id))
}

/// What the guards of a write of `item` compare with: `Some(Some(row))`, the
/// row as last read, from the snapshot; `Some(None)` when the model has no
/// indexed column to guard; `None` when the write must read the row locked
/// first (indexed columns, no snapshot).
pub(super) fn guard_basis<T: Schema>(item: &T) -> Option<Option<T>> {
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
pub(super) fn guards_of<T: Schema>(before: &T) -> Vec<Guard> {
    guarded_columns::<T>()
        .map(|column| match before.value(column) {
            Value::Null => Guard::IsNull(column),
            _ => Guard::Equals(column),
        })
        .collect()
}

/// Binds the guards' expected values: the columns of `before`.
pub(super) fn bind_guards<T, DB>(guarded: &Guarded<'_, T>, args: &mut DB::Arguments) -> Result<()>
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
pub(super) struct Guarded<'a, T> {
    pub(super) before: Option<&'a T>,
    pub(super) guards: &'a [Guard],
    pub(super) version: Option<i64>,
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
