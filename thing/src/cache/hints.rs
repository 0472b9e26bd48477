//! Hints this process keeps to save a round trip, each checked before it is
//! trusted, so that a wrong or old one costs a second step, never a stale
//! value:
//!
//! - [`RowHints`]: the ids each cached list read loaded last, by list and
//!   window: the rows a later read of that list looks up along with the list,
//!   so that through a cache a round trip away a list hit whose rows are
//!   cached costs one round trip. The rows are used only when the list, once
//!   validated, names exactly these ids, and the row lookups keep their own
//!   protocol (tokens, locks).
//! - [`ValueHints`]: the indexed values a row had after this handle's last
//!   save, update by id or `incr` of it: the next update by id or `incr`
//!   guards its statement with them (`AND team = ?`) instead of reading them
//!   first.

use crate::schema::Schema;
use crate::value::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Hints kept before all are dropped at once.
const MAX_HINTS: usize = 10_000;

/// The most ids a hint holds: a hint of a longer read looks up more rows
/// than a wrong hint should cost.
pub(crate) const MAX_HINTED_IDS: usize = 500;

/// Row ids by list read (the list's key and its window).
#[derive(Debug, Default)]
pub(crate) struct RowHints {
    ids: Mutex<HashMap<String, Arc<[i64]>>>,
}

impl RowHints {
    fn held(&self) -> MutexGuard<'_, HashMap<String, Arc<[i64]>>> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ids the read `read` loaded last.
    pub fn get(&self, read: &str) -> Option<Arc<[i64]>> {
        self.held().get(read).cloned()
    }

    /// Remembers that the read `read` loaded `ids` (not kept past
    /// [`MAX_HINTED_IDS`]).
    pub fn set(&self, read: &str, ids: &[i64]) {
        let mut held = self.held();
        if ids.len() > MAX_HINTED_IDS {
            held.remove(read);
            return;
        }
        if held.len() >= MAX_HINTS && !held.contains_key(read) {
            held.clear();
        }
        held.insert(read.to_owned(), Arc::from(ids));
    }
}

/// The indexed values of one row.
pub(crate) type Values = Arc<[(usize, Value)]>;

/// A row of one model: its table, the model's schema hash (two structs on
/// one table number their columns differently) and the id.
type RowOf = (&'static str, u64, i64);

fn row_of<T: Schema>(id: i64) -> RowOf {
    (T::TABLE_NAME, T::SHAPE_HASH, id)
}

/// Indexed values by model and row id.
#[derive(Debug, Default)]
pub(crate) struct ValueHints {
    values: Mutex<HashMap<RowOf, Values>>,
}

impl ValueHints {
    fn held(&self) -> MutexGuard<'_, HashMap<RowOf, Values>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The indexed values row `id` of `T` had after this process last wrote
    /// it by id.
    pub fn get<T: Schema>(&self, id: i64) -> Option<Values> {
        self.get_at(row_of::<T>(id))
    }

    /// Remembers the indexed `values` of row `id` of `T`.
    pub fn set<T: Schema>(&self, id: i64, values: &[(usize, Value)]) {
        self.set_at(row_of::<T>(id), values);
    }

    /// Forgets row `id` of `T`.
    pub fn forget<T: Schema>(&self, id: i64) {
        self.held().remove(&row_of::<T>(id));
    }

    fn get_at(&self, row: RowOf) -> Option<Values> {
        self.held().get(&row).cloned()
    }

    fn set_at(&self, row: RowOf, values: &[(usize, Value)]) {
        let mut held = self.held();
        if held.len() >= MAX_HINTS && !held.contains_key(&row) {
            held.clear();
        }
        held.insert(row, Arc::from(values));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_hints_are_by_model_and_bounded() {
        let hints = ValueHints::default();
        let (a, b) = (("t", 1, 7), ("t", 2, 7));
        hints.set_at(a, &[(1, Value::Int(5))]);
        assert_eq!(hints.get_at(a).as_deref(), Some(&[(1, Value::Int(5))][..]));
        assert_eq!(hints.get_at(b), None, "another struct on the table");
        for id in 0..=MAX_HINTS as i64 {
            hints.set_at(("t", 1, id), &[]);
        }
        assert!(hints.held().len() <= MAX_HINTS);
    }

    #[test]
    fn hints_are_bounded_and_long_reads_are_not_hinted() {
        let hints = RowHints::default();
        hints.set("a", &[1, 2]);
        assert_eq!(hints.get("a").as_deref(), Some(&[1, 2][..]));
        hints.set("a", &vec![7; MAX_HINTED_IDS + 1]);
        assert_eq!(hints.get("a"), None, "too long: the old hint goes too");
        for i in 0..=MAX_HINTS {
            hints.set(&i.to_string(), &[1]);
        }
        assert!(hints.held().len() <= MAX_HINTS);
    }
}
