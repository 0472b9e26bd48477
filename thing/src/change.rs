//! What changed: the columns of a row that differ from its snapshot or from
//! another value of the same model, and what a committed write did to a row
//! ([`Write`]), which decides what the write makes stale in the cache.

use crate::codec;
use crate::schema::{Schema, Snapshot};
use crate::sql::insertable;
use crate::value::Value;

/// What a committed write did to one row.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// A new row, with every column's value.
    Inserted { id: i64, after: Vec<Value> },
    /// Columns changed in place, with their values before (`None`: unknown, so
    /// any value).
    Updated {
        id: i64,
        before: Option<Vec<(usize, Value)>>,
    },
    /// The row is gone.
    Deleted { id: i64 },
}

impl Write {
    /// The id of the row written.
    pub fn id(&self) -> i64 {
        match self {
            Self::Inserted { id, .. } | Self::Updated { id, .. } | Self::Deleted { id } => *id,
        }
    }
}

/// The columns `save` would write for a saved row: those that changed since
/// it was read or saved, or all but the id without a snapshot.
pub(crate) fn unsaved_columns<T: Schema>(item: &T) -> Vec<usize> {
    let every_column = || insertable::<T>().collect::<Vec<_>>();
    match item.snapshot().and_then(Snapshot::row) {
        Some(before) => codec::changed_columns(before, &item.encode_row())
            .map(|changed| changed.into_iter().filter(|&c| c != T::META.id).collect())
            .unwrap_or_else(every_column),
        None => every_column(),
    }
}

/// The names of the columns whose values differ between `a` and `b`.
pub(crate) fn changed_column_names<T: Schema>(a: &T, b: &T) -> Vec<&'static str> {
    codec::changed_columns(&a.encode_row(), &b.encode_row())
        .unwrap_or_default()
        .into_iter()
        .map(|index| T::COLUMNS[index].name)
        .collect()
}
