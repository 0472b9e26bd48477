//! [`StatementCache`]: the fixed statements of one model, built once per dialect
//! and kept for the life of the process. What the statements say is in
//! `sql/model.rs`; this module only stores them.

use crate::backend::dialect::Dialect;
use std::sync::OnceLock;

/// The statements of one model in one dialect.
#[derive(Debug)]
pub(crate) struct ModelSql {
    /// `SELECT <columns> FROM <table> WHERE id = ?`
    pub select_by_id: String,
    /// `SELECT <columns> FROM <table> WHERE id IN (`, completed by the caller.
    pub select_in_prefix: String,
    /// `INSERT INTO <table> (<columns but id>) VALUES (...)` [`RETURNING id`]
    pub insert: String,
}

/// The lazily built [`ModelSql`] of one model, one slot per dialect. The derive
/// gives every model a `static` of this type.
#[doc(hidden)]
#[derive(Debug)]
pub struct StatementCache {
    slots: [OnceLock<ModelSql>; Dialect::COUNT],
}

impl StatementCache {
    /// Empty slots (a `const fn`, for the derive's `static`).
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self {
            slots: [OnceLock::new(), OnceLock::new(), OnceLock::new()],
        }
    }

    /// The statements for `dialect`, built by `build` the first time.
    pub(crate) fn get_or_build(
        &self,
        dialect: Dialect,
        build: impl FnOnce() -> ModelSql,
    ) -> &ModelSql {
        self.slots[dialect.slot()].get_or_init(build)
    }
}
