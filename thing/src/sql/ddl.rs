//! The DDL of a model's table: `CREATE TABLE` with its indexes, `DROP TABLE`,
//! and the pieces a migration adds to a table that exists (`ADD COLUMN`,
//! `CREATE INDEX`), each spelled for one dialect from the identifiers
//! `#[derive(Thing)]` checked at compile time.

use crate::backend::dialect::Dialect;
use crate::backend::types::SqlType;
use crate::schema::{ColumnDef, Schema};
use std::fmt::Write;

/// `CREATE TABLE IF NOT EXISTS` and its indexes, one statement per item.
pub(crate) fn create_table<T: Schema>(dialect: Dialect) -> Vec<String> {
    let table = dialect.quote(T::TABLE_NAME);
    let mut create = format!("CREATE TABLE IF NOT EXISTS {table} (");
    for (at, column) in T::COLUMN_DEFS.iter().enumerate() {
        if at > 0 {
            create.push_str(", ");
        }
        dialect.push_quoted(&mut create, column.name);
        create.push(' ');
        if at == T::MODEL_META.id {
            create.push_str(dialect.id_column());
        } else {
            create.push_str(&definition(dialect, column, column.default));
        }
    }
    let indexed = T::COLUMN_DEFS.iter().filter(|column| is_indexed(column));
    let mut statements = Vec::new();
    for column in indexed {
        if dialect == Dialect::MySql {
            // MySQL has no CREATE INDEX IF NOT EXISTS; indexes go inline.
            let key = if column.unique { "UNIQUE KEY" } else { "KEY" };
            let name = dialect.quote(&index_name(T::TABLE_NAME, column));
            let _ = write!(create, ", {key} {name} ({})", dialect.quote(column.name));
        } else {
            statements.push(create_index::<T>(dialect, column));
        }
    }
    create.push(')');
    if dialect == Dialect::MySql {
        create.push_str(" DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin");
    }
    statements.insert(0, create);
    statements
}

/// `DROP TABLE IF EXISTS <table>`.
pub(crate) fn drop_table<T: Schema>(dialect: Dialect) -> String {
    format!("DROP TABLE IF EXISTS {}", dialect.quote(T::TABLE_NAME))
}

/// Whether the model asks for an index on `column`.
pub(crate) fn is_indexed(column: &ColumnDef) -> bool {
    column.index || column.unique
}

/// The declared type of `column` (not of the id, whose type is
/// [`Dialect::id_column`]).
pub(crate) fn column_type(dialect: Dialect, column: &ColumnDef) -> &'static str {
    dialect.column_type(column.sql_type, is_indexed(column))
}

/// A column's type and constraints after its name: `BIGINT NOT NULL DEFAULT 0`.
fn definition(dialect: Dialect, column: &ColumnDef, default: Option<&str>) -> String {
    let mut sql = column_type(dialect, column).to_owned();
    if !column.nullable {
        sql.push_str(" NOT NULL");
    }
    if let Some(default) = default {
        let _ = write!(sql, " DEFAULT {default}");
    }
    sql
}

/// The name Thing gives the index of `column`: `ix_<table>_<column>`, or
/// `uq_<table>_<column>` for a unique one.
pub(crate) fn index_name(table: &str, column: &ColumnDef) -> String {
    let prefix = if column.unique { "uq" } else { "ix" };
    format!("{prefix}_{table}_{}", column.name)
}

/// `CREATE [UNIQUE] INDEX` of `column` on `T`'s table (with `IF NOT EXISTS`
/// where the dialect has it). On PostgreSQL a nullable column's index keeps
/// NULLs first, as Thing's orders do (`ASC NULLS FIRST`, and `DESC NULLS
/// LAST` read backwards), so that it serves them.
pub(crate) fn create_index<T: Schema>(dialect: Dialect, column: &ColumnDef) -> String {
    index_sql(dialect, T::TABLE_NAME, column)
}

/// [`create_index`] on the table named `table`.
fn index_sql(dialect: Dialect, table: &str, column: &ColumnDef) -> String {
    let unique = if column.unique { "UNIQUE " } else { "" };
    let if_not_exists = if dialect == Dialect::MySql {
        ""
    } else {
        "IF NOT EXISTS "
    };
    let nulls = if dialect == Dialect::Postgres && column.nullable {
        " NULLS FIRST"
    } else {
        ""
    };
    format!(
        "CREATE {unique}INDEX {if_not_exists}{} ON {} ({}{nulls})",
        dialect.quote(&index_name(table, column)),
        dialect.quote(table),
        dialect.quote(column.name)
    )
}

/// `ALTER TABLE ... ADD COLUMN` of `column`, with `default` (its own, or the
/// one a migration chose to fill existing rows).
pub(crate) fn add_column<T: Schema>(
    dialect: Dialect,
    column: &ColumnDef,
    default: Option<&str>,
) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN {} {}",
        dialect.quote(T::TABLE_NAME),
        dialect.quote(column.name),
        definition(dialect, column, default)
    )
}

/// The value existing rows get in a new `NOT NULL` column without a default
/// of its own: the Rust type's `Default` (0, `false`, empty), as SQL. `None`
/// for types without an obvious one (times, UUIDs, JSON), which need
/// `#[thing(default = "...")]`.
pub(crate) fn zero_default(dialect: Dialect, ty: SqlType) -> Option<&'static str> {
    use SqlType::*;
    Some(match (ty, dialect) {
        (TinyInt | SmallInt | Int | BigInt | UnsignedInt | Real | Double, _) => "0",
        (Bool, _) => "FALSE",
        // MySQL takes a default on TEXT and BLOB columns only as an
        // expression.
        (Text | Blob, Dialect::MySql) => "('')",
        (Text, _) => "''",
        (Blob, Dialect::Sqlite) => "X''",
        (Blob, Dialect::Postgres) => "''",
        (TimestampTz | Timestamp | Date | Uuid | Json, _) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnDef;

    fn column(sql_type: SqlType, nullable: bool) -> ColumnDef {
        ColumnDef {
            name: "score",
            field: "score",
            sql_type,
            nullable,
            index: false,
            unique: true,
            default: None,
        }
    }

    #[test]
    fn index_names_say_whether_they_are_unique() {
        assert_eq!(
            index_name("users", &column(SqlType::Int, false)),
            "uq_users_score"
        );
    }

    #[test]
    fn definitions_carry_nullability_and_defaults() {
        let not_null = column(SqlType::BigInt, false);
        assert_eq!(
            definition(Dialect::Postgres, &not_null, Some("0")),
            "BIGINT NOT NULL DEFAULT 0"
        );
        assert_eq!(
            definition(Dialect::MySql, &column(SqlType::Text, true), None),
            "VARCHAR(255)"
        );
    }

    #[test]
    fn postgres_indexes_of_nullable_columns_keep_nulls_first() {
        let nullable = column(SqlType::BigInt, true);
        let sql = |dialect| index_sql(dialect, "items", &nullable);
        assert!(sql(Dialect::Postgres).ends_with(r#"("score" NULLS FIRST)"#));
        assert!(sql(Dialect::Sqlite).ends_with(r#"("score")"#));
    }

    #[test]
    fn only_types_with_an_obvious_zero_get_one() {
        assert_eq!(zero_default(Dialect::MySql, SqlType::Text), Some("('')"));
        assert_eq!(zero_default(Dialect::Sqlite, SqlType::Blob), Some("X''"));
        assert_eq!(zero_default(Dialect::Postgres, SqlType::Json), None);
        assert_eq!(zero_default(Dialect::Sqlite, SqlType::TimestampTz), None);
    }
}
