//! What a committed write tells: the model's after-hooks, the `Db`'s
//! listeners, and the indexed values a write by id starts from next (a hint).

use super::lifecycle::Hooks;
use super::protocol::cache_of;
use crate::cache::stamps::{guarded_columns, indexed_values};
use crate::db::executor::Target;
use crate::db::handle::Db;
use crate::events::{WriteEvent, WriteKind};
use crate::schema::Schema;

/// Which after-hooks a committed write runs.
#[derive(Debug, Clone, Copy)]
pub(super) enum After {
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
pub(super) async fn after_write<T: Schema + Hooks>(target: Target<'_>, item: &T, done: After) {
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
pub(super) fn announce<T: Schema>(target: Target<'_>, id: i64, kind: WriteKind, columns: &[usize]) {
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

/// Keeps the indexed values `item` was just saved with as this handle's
/// hint for its next write by id (see [`by_id`]), which the write checks.
pub(super) fn hint_values<T: Schema>(target: Target<'_>, item: &T) {
    if let Some(cache) = cache_of(target)
        && guarded_columns::<T>().next().is_some()
    {
        cache
            .value_hints
            .set::<T>(item.row_id(), &indexed_values(item));
    }
}
