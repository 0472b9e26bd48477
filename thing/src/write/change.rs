//! What changed: the columns of a row that differ from its snapshot, or from
//! another value of the same model.

use crate::schema::codec;
use crate::schema::{Schema, Snapshot};
use crate::sql::insertable;

/// The columns `save` would write for a saved row: those that changed since
/// it was read or saved, or all but the id without a snapshot.
pub(crate) fn unsaved_columns<T: Schema>(item: &T) -> Vec<usize> {
    let every_column = || insertable::<T>().collect::<Vec<_>>();
    match item.snapshot().and_then(Snapshot::row) {
        Some(before) => codec::changed_columns(before, &item.row_bytes())
            .map(|changed| {
                changed
                    .into_iter()
                    .filter(|&c| c != T::MODEL_META.id)
                    .collect()
            })
            .unwrap_or_else(every_column),
        None => every_column(),
    }
}

/// The names of the columns whose values differ between `a` and `b`.
pub(crate) fn changed_column_names<T: Schema>(a: &T, b: &T) -> Vec<&'static str> {
    codec::changed_columns(&a.row_bytes(), &b.row_bytes())
        .unwrap_or_default()
        .into_iter()
        .map(|index| T::COLUMN_DEFS[index].name)
        .collect()
}
