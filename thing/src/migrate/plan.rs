//! The steps that bring a table to what its model declares: the model's
//! columns and indexes compared with the table the database describes. Only
//! additions are planned to run; every other difference is reported.

use super::MigrationStep;
use super::introspect::{FoundColumn, FoundTable};
use crate::backend::dialect::Dialect;
use crate::schema::{ColumnDef, Schema};
use crate::sql::ddl;

/// The steps for `T`'s table, which is `found` (`None`: it does not exist).
pub(crate) fn plan<T: Schema>(dialect: Dialect, found: Option<&FoundTable>) -> Vec<MigrationStep> {
    let Some(found) = found else {
        return vec![MigrationStep::CreateTable {
            statements: ddl::create_table::<T>(dialect),
        }];
    };
    let mut applied = Vec::new();
    let mut indexes = Vec::new();
    let mut reported = Vec::new();
    for (at, column) in T::COLUMN_DEFS.iter().enumerate() {
        match found.column(column.name) {
            None if at == T::MODEL_META.id => reported.push(MigrationStep::ColumnDiffers {
                column: column.name,
                expected: dialect.id_column().to_owned(),
                found: "no such column".to_owned(),
            }),
            None => match new_column::<T>(dialect, column) {
                Ok(step) => applied.push(step),
                Err(step) => {
                    reported.push(step);
                    continue;
                }
            },
            Some(_) if at == T::MODEL_META.id => {}
            Some(existing) => {
                if let Some(step) = differs(dialect, column, existing) {
                    reported.push(step);
                    continue;
                }
            }
        }
        if ddl::is_indexed(column) && !has_index(found, column) {
            indexes.push(MigrationStep::AddIndex {
                column: column.name,
                unique: column.unique,
                sql: ddl::create_index::<T>(dialect, column),
            });
        }
    }
    let declared = |name: &str| T::COLUMN_DEFS.iter().any(|column| column.name == name);
    reported.extend(
        found
            .columns
            .iter()
            .filter(|existing| !declared(&existing.name))
            .map(|existing| MigrationStep::ExtraColumn {
                column: existing.name.clone(),
            }),
    );
    applied.extend(indexes);
    applied.extend(reported);
    applied
}

/// The `ADD COLUMN` of `column`: with its own default, else, when it is
/// `NOT NULL`, the zero of its type for the rows already there; a
/// [`MigrationStep::NeedsDefault`] when that type has none.
fn new_column<T: Schema>(
    dialect: Dialect,
    column: &ColumnDef,
) -> Result<MigrationStep, MigrationStep> {
    let default = match (column.default, column.nullable) {
        (Some(default), _) => Some(default),
        (None, true) => None,
        (None, false) => Some(ddl::zero_default(dialect, column.sql_type).ok_or(
            MigrationStep::NeedsDefault {
                column: column.name,
            },
        )?),
    };
    Ok(MigrationStep::AddColumn {
        column: column.name,
        sql: ddl::add_column::<T>(dialect, column, default),
    })
}

/// A [`MigrationStep::ColumnDiffers`] when `existing` has another type or
/// nullability than `column` declares.
fn differs(dialect: Dialect, column: &ColumnDef, existing: &FoundColumn) -> Option<MigrationStep> {
    let expected = ddl::column_type(dialect, column);
    let same =
        same_type(dialect, expected, &existing.sql_type) && existing.not_null != column.nullable;
    let spell =
        |ty: &str, not_null: bool| format!("{ty} {}", if not_null { "NOT NULL" } else { "NULL" });
    (!same).then(|| MigrationStep::ColumnDiffers {
        column: column.name,
        expected: spell(expected, !column.nullable),
        found: spell(&existing.sql_type, existing.not_null),
    })
}

/// Whether an index of `found` serves `column` as the model asks: one on that
/// column alone, unique when the model says `unique`.
fn has_index(found: &FoundTable, column: &ColumnDef) -> bool {
    found.indexes.iter().any(|index| {
        index.columns.len() == 1
            && index.columns[0] == column.name
            && (index.unique || !column.unique)
    })
}

/// Whether the catalog's spelling `found` names the type Thing declares as
/// `declared`.
pub(crate) fn same_type(dialect: Dialect, declared: &str, found: &str) -> bool {
    canonical(dialect, declared) == canonical(dialect, found)
}

/// One spelling per type: PostgreSQL's catalog names its types in full
/// (`timestamp with time zone`), MySQL's adds display widths (`int(11)`) and
/// keeps `BOOLEAN` as `tinyint(1)`, MariaDB's `JSON` is `longtext`.
fn canonical(dialect: Dialect, ty: &str) -> String {
    let ty = ty.trim().to_ascii_lowercase();
    match dialect {
        Dialect::Sqlite => ty,
        Dialect::Postgres => match ty.as_str() {
            "timestamptz" => "timestamp with time zone".into(),
            "timestamp" => "timestamp without time zone".into(),
            "int" | "int4" => "integer".into(),
            "int2" => "smallint".into(),
            "int8" => "bigint".into(),
            "bool" => "boolean".into(),
            "float4" => "real".into(),
            "float8" => "double precision".into(),
            _ => ty,
        },
        Dialect::MySql => match ty.as_str() {
            "boolean" | "bool" | "tinyint(1)" => "tinyint(1)".into(),
            "json" => "longtext".into(),
            _ => without_display_width(&ty),
        },
    }
}

/// `int(11) unsigned` → `int unsigned`: the width of an integer type is only
/// how it is shown.
fn without_display_width(ty: &str) -> String {
    let integer = ["tinyint(", "smallint(", "mediumint(", "int(", "bigint("]
        .iter()
        .any(|prefix| ty.starts_with(prefix));
    match (integer, ty.find('('), ty.find(')')) {
        (true, Some(open), Some(close)) if open < close => {
            format!("{}{}", &ty[..open], &ty[close + 1..])
        }
        _ => ty.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_spellings_match_the_declared_types() {
        assert!(same_type(
            Dialect::Postgres,
            "TIMESTAMPTZ",
            "timestamp with time zone"
        ));
        assert!(same_type(
            Dialect::Postgres,
            "DOUBLE PRECISION",
            "double precision"
        ));
        assert!(!same_type(Dialect::Postgres, "BIGINT", "text"));
        assert!(same_type(
            Dialect::MySql,
            "INT UNSIGNED",
            "int(10) unsigned"
        ));
        assert!(same_type(Dialect::MySql, "BOOLEAN", "tinyint(1)"));
        assert!(same_type(Dialect::MySql, "TINYINT", "tinyint(4)"));
        assert!(!same_type(Dialect::MySql, "BOOLEAN", "tinyint(4)"));
        assert!(same_type(Dialect::MySql, "JSON", "longtext"));
        assert!(same_type(Dialect::MySql, "VARCHAR(255)", "varchar(255)"));
        assert!(!same_type(Dialect::MySql, "VARCHAR(255)", "longtext"));
        assert!(same_type(Dialect::Sqlite, "INTEGER", "integer"));
        assert!(!same_type(Dialect::Sqlite, "INTEGER", "TEXT"));
    }
}
