//! What a table looks like in the database: its columns (name, type as the
//! database spells it, `NOT NULL`) and its indexes, read from each backend's
//! catalog.

use crate::backend::dialect::Dialect;
use crate::backend::{Backend, Session};
use crate::error::{Error, Result};
use crate::observe::stats::StatementKind;
use crate::sql::dynamic;
use crate::value::Value;

/// A column of a table as the database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundColumn {
    pub name: String,
    /// The type as the catalog spells it (`bigint`, `int(11)`, `TEXT`, ...).
    pub sql_type: String,
    pub not_null: bool,
}

/// An index of a table, with its columns in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundIndex {
    pub name: String,
    pub unique: bool,
    pub columns: Vec<String>,
}

/// A table as the database describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FoundTable {
    pub columns: Vec<FoundColumn>,
    pub indexes: Vec<FoundIndex>,
}

impl FoundTable {
    pub fn column(&self, name: &str) -> Option<&FoundColumn> {
        self.columns.iter().find(|column| column.name == name)
    }
}

/// `table` as the database describes it; `None` when there is no such table
/// (in the current schema or database).
pub(crate) async fn read_table<DB: Backend>(
    session: &mut Session<'_, DB>,
    table: &str,
) -> Result<Option<FoundTable>> {
    let columns = text_rows(session, columns_sql(DB::DIALECT), table, 3).await?;
    if columns.is_empty() {
        return Ok(None);
    }
    let columns = columns
        .into_iter()
        .map(|row| {
            let [name, sql_type, not_null] = take3(row);
            FoundColumn {
                name,
                sql_type,
                not_null: not_null == "1",
            }
        })
        .collect();
    let mut indexes: Vec<FoundIndex> = Vec::new();
    for row in text_rows(session, indexes_sql(DB::DIALECT), table, 3).await? {
        let [name, unique, column] = take3(row);
        match indexes.last_mut() {
            Some(index) if index.name == name => index.columns.push(column),
            _ => indexes.push(FoundIndex {
                name,
                unique: unique == "1",
                columns: vec![column],
            }),
        }
    }
    Ok(Some(FoundTable { columns, indexes }))
}

/// Runs a catalog query on `table` whose `width` columns are all text.
async fn text_rows<DB: Backend>(
    session: &mut Session<'_, DB>,
    sql: &'static str,
    table: &str,
    width: usize,
) -> Result<Vec<Vec<String>>> {
    let mut args = DB::Arguments::default();
    DB::bind_value(&Value::Text(table.to_owned()), &mut args).map_err(Error::encode)?;
    session
        .fetch_decoded(
            StatementKind::Other,
            dynamic(sql.to_owned()),
            args,
            0,
            |row| {
                (0..width)
                    .map(|at| DB::decode_text(row, at).map_err(Error::from))
                    .collect()
            },
        )
        .await
}

fn take3(row: Vec<String>) -> [String; 3] {
    let mut row = row.into_iter();
    std::array::from_fn(|_| row.next().unwrap_or_default())
}

/// Name, type and `'1'` for `NOT NULL`, of each column in order.
fn columns_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "SELECT name, type, CAST(\"notnull\" AS TEXT) FROM pragma_table_info(?) ORDER BY cid"
        }
        Dialect::Postgres => {
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
             CASE WHEN a.attnotnull THEN '1' ELSE '0' END \
             FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid \
             WHERE t.relname = $1 AND t.relkind IN ('r', 'p') \
             AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        }
        Dialect::MySql => {
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), \
             CASE WHEN IS_NULLABLE = 'NO' THEN '1' ELSE '0' END \
             FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
        }
    }
}

/// Index name, `'1'` when unique, and column, one row per column of each
/// index, in order.
fn indexes_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "SELECT il.name, CAST(il.\"unique\" AS TEXT), ii.name \
             FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii \
             ORDER BY il.name, ii.seqno"
        }
        Dialect::Postgres => {
            "SELECT i.relname::text, CASE WHEN ix.indisunique THEN '1' ELSE '0' END, a.attname::text \
             FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid \
             JOIN pg_class i ON i.oid = ix.indexrelid \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(ix.indkey) \
             WHERE t.relname = $1 \
             AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
             ORDER BY i.relname, array_position(ix.indkey::int2[], a.attnum)"
        }
        Dialect::MySql => {
            "SELECT CAST(INDEX_NAME AS CHAR), CASE WHEN NON_UNIQUE = 0 THEN '1' ELSE '0' END, \
             CAST(COLUMN_NAME AS CHAR) FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
             ORDER BY INDEX_NAME, SEQ_IN_INDEX"
        }
    }
}
