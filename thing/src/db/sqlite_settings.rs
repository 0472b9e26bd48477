//! [`SqliteSettings`]: what a [`DbBuilder`](super::DbBuilder) sets on each
//! SQLite connection — the journal mode, `synchronous`, the busy timeout —
//! when the application asks; sqlx's and SQLite's defaults otherwise.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use std::time::Duration;

/// The SQLite settings a builder was given.
#[derive(Debug, Clone, Default)]
pub(crate) struct SqliteSettings {
    pub journal_mode: Option<SqliteJournalMode>,
    pub synchronous: Option<SqliteSynchronous>,
    pub busy_timeout: Option<Duration>,
}

impl SqliteSettings {
    /// `options` with the settings that were given.
    pub fn apply(&self, mut options: SqliteConnectOptions) -> SqliteConnectOptions {
        if let Some(mode) = self.journal_mode {
            options = options.journal_mode(mode);
        }
        if let Some(synchronous) = self.synchronous {
            options = options.synchronous(synchronous);
        }
        if let Some(timeout) = self.busy_timeout {
            options = options.busy_timeout(timeout);
        }
        options
    }
}
