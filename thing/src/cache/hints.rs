//! The ids each cached list read loaded last, by list and window: the rows a
//! later read of that list looks up along with the list, so that through a
//! cache a round trip away a list hit whose rows are cached costs one round
//! trip. A hint is only a guess: the rows are used only when the list, once
//! validated, names exactly these ids, and the row lookups keep their own
//! protocol (tokens, locks), so a wrong or old hint costs a second lookup,
//! never a stale row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Hints kept before all are dropped at once.
const MAX_HINTS: usize = 10_000;

/// The most ids a hint holds: a guess of a longer read looks up more rows
/// than a wrong guess should cost.
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

#[cfg(test)]
mod tests {
    use super::*;

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
