//! The text of the outbox's statements: its table, an entry's `INSERT`, the
//! check that an entry is still there, the drain's `SELECT` and `DELETE`.

use super::id_list;
use crate::backend::dialect::Dialect;

/// The outbox table.
pub(crate) const TABLE: &str = "thing_outbox";

/// `CREATE TABLE IF NOT EXISTS` for the outbox.
pub(crate) fn create_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "CREATE TABLE IF NOT EXISTS thing_outbox \
             (id INTEGER PRIMARY KEY AUTOINCREMENT, invalidations TEXT NOT NULL)"
        }
        Dialect::Postgres => {
            "CREATE TABLE IF NOT EXISTS thing_outbox \
             (id BIGSERIAL PRIMARY KEY, invalidations TEXT NOT NULL)"
        }
        Dialect::MySql => {
            "CREATE TABLE IF NOT EXISTS thing_outbox \
             (id BIGINT AUTO_INCREMENT PRIMARY KEY, invalidations LONGTEXT NOT NULL)"
        }
    }
}

/// `INSERT` of one entry (its id returned where the dialect can).
pub(crate) fn insert_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "INSERT INTO thing_outbox (invalidations) VALUES ($1) RETURNING id",
        _ => "INSERT INTO thing_outbox (invalidations) VALUES (?)",
    }
}

/// Whether one entry is still there (not yet applied).
pub(crate) fn holds_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "SELECT id FROM thing_outbox WHERE id = $1",
        _ => "SELECT id FROM thing_outbox WHERE id = ?",
    }
}

/// The oldest entries, a hundred at a time.
pub(crate) const SELECT_SQL: &str =
    "SELECT id, invalidations FROM thing_outbox ORDER BY id LIMIT 100";

/// `DELETE` of exactly `count` entries, by id.
pub(crate) fn delete_sql(dialect: Dialect, count: usize) -> String {
    id_list(dialect, "DELETE FROM thing_outbox WHERE id IN (", count)
}
