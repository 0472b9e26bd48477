//! Long `IN` lists bound as one parameter, so that `is_in`/`not_in` take any
//! number of values: no backend takes more than 65 535 bound parameters
//! (SQLite 32 766). PostgreSQL binds an array (`= ANY($1)`); SQLite and
//! MySQL/MariaDB a JSON array, read back as rows (`json_each`, `JSON_TABLE`).

use crate::backend::dialect::Dialect;
use crate::value::Value;

/// Lists longer than this are bound as one parameter on SQLite and MySQL
/// (shorter ones keep one placeholder per value, which they plan best).
pub(crate) const ONE_PARAMETER_FROM: usize = 1000;

/// Lists longer than this are bound as one array on PostgreSQL, which plans
/// `= ANY($1)` as it plans `IN`: one parameter to encode instead of one per
/// value, and one statement text (one prepared statement) for every length.
pub(crate) const POSTGRES_ARRAY_FROM: usize = 16;

/// The length from which a list is bound as one parameter in `dialect`.
pub(crate) fn one_parameter_from(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Postgres => POSTGRES_ARRAY_FROM,
        Dialect::Sqlite | Dialect::MySql => ONE_PARAMETER_FROM,
    }
}

/// The element type of a list: what its non-null values all are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    Int,
    Float,
    Bool,
    Text,
    Bytes,
    TimestampTz,
    Timestamp,
    Date,
    Uuid,
}

impl ListKind {
    /// The kind of `values`, if they have one non-null type.
    pub fn of(values: &[Value]) -> Option<Self> {
        let mut kind = None;
        for value in values {
            let this = match value {
                Value::Null => continue,
                Value::Int(_) => Self::Int,
                Value::Float(_) => Self::Float,
                Value::Bool(_) => Self::Bool,
                Value::Text(_) => Self::Text,
                Value::Bytes(_) => Self::Bytes,
                Value::TimestampTz(_) => Self::TimestampTz,
                Value::Timestamp(_) => Self::Timestamp,
                Value::Date(_) => Self::Date,
                Value::Uuid(_) => Self::Uuid,
                Value::Opaque => return None,
            };
            match kind {
                None => kind = Some(this),
                Some(seen) if seen != this => return None,
                Some(_) => {}
            }
        }
        kind
    }

    /// Whether `dialect` can bind a list of this kind as one parameter. JSON
    /// carries numbers, booleans and text exactly as SQLite and MySQL store
    /// them; other types keep a placeholder per value there.
    pub fn one_parameter(self, dialect: Dialect) -> bool {
        match dialect {
            Dialect::Postgres => true,
            Dialect::Sqlite => matches!(self, Self::Int | Self::Float | Self::Bool | Self::Text),
            Dialect::MySql => matches!(self, Self::Int | Self::Float | Self::Text),
        }
    }

    /// The `JSON_TABLE` column type of this kind on MySQL.
    fn mysql_type(self) -> &'static str {
        match self {
            Self::Float => "DOUBLE",
            Self::Text => "LONGTEXT",
            _ => "BIGINT",
        }
    }
}

/// Appends `IN` (or `NOT IN`) over the one parameter `placeholder` holding a
/// list of `kind`, after the column.
pub(crate) fn push_membership(
    dialect: Dialect,
    kind: ListKind,
    negated: bool,
    sql: &mut String,
    placeholder: impl FnOnce(&mut String),
) {
    match dialect {
        Dialect::Postgres => {
            sql.push_str(if negated { " <> ALL(" } else { " = ANY(" });
            placeholder(sql);
            sql.push(')');
        }
        Dialect::Sqlite => {
            sql.push_str(if negated { " NOT IN " } else { " IN " });
            sql.push_str("(SELECT value FROM json_each(");
            placeholder(sql);
            sql.push_str("))");
        }
        Dialect::MySql => {
            sql.push_str(if negated { " NOT IN " } else { " IN " });
            sql.push_str("(SELECT v FROM JSON_TABLE(");
            placeholder(sql);
            sql.push_str(", '$[*]' COLUMNS (v ");
            sql.push_str(kind.mysql_type());
            sql.push_str(" PATH '$')) AS thing_in)");
        }
    }
}

/// The JSON array SQLite and MySQL read a list from. A float that JSON cannot
/// spell (NaN, ±inf) becomes `null`, which matches nothing.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) fn json_array(values: &[Value]) -> String {
    let items: Vec<serde_json::Value> = values
        .iter()
        .map(|value| match value {
            Value::Int(v) => serde_json::Value::from(*v),
            Value::Float(v) => {
                serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, Into::into)
            }
            Value::Bool(v) => serde_json::Value::from(*v),
            Value::Text(v) => serde_json::Value::from(v.as_str()),
            _ => serde_json::Value::Null,
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

#[cfg(test)]
mod tests {
    use super::{ListKind, json_array, push_membership};
    use crate::backend::dialect::Dialect;
    use crate::value::Value;

    #[test]
    fn a_list_has_a_kind_when_its_values_share_a_type() {
        assert_eq!(
            ListKind::of(&[Value::Int(1), Value::Null]),
            Some(ListKind::Int)
        );
        assert_eq!(
            ListKind::of(&[Value::Int(1), Value::Text("a".into())]),
            None
        );
        assert_eq!(ListKind::of(&[Value::Null]), None);
        assert!(ListKind::Uuid.one_parameter(Dialect::Postgres));
        assert!(!ListKind::Uuid.one_parameter(Dialect::Sqlite));
    }

    #[test]
    fn the_sql_and_json_of_each_dialect() {
        let render = |dialect, negated| {
            let mut sql = String::from("a");
            push_membership(dialect, ListKind::Int, negated, &mut sql, |sql| {
                dialect.push_placeholder(sql, 1)
            });
            sql
        };
        assert_eq!(render(Dialect::Postgres, false), "a = ANY($1)");
        assert_eq!(render(Dialect::Postgres, true), "a <> ALL($1)");
        assert_eq!(
            render(Dialect::Sqlite, true),
            "a NOT IN (SELECT value FROM json_each(?))"
        );
        assert_eq!(
            render(Dialect::MySql, false),
            "a IN (SELECT v FROM JSON_TABLE(?, '$[*]' COLUMNS (v BIGINT PATH '$')) AS thing_in)"
        );
        let values = [
            Value::Int(1),
            Value::Text("x\"".into()),
            Value::Float(f64::NAN),
            Value::Null,
        ];
        assert_eq!(json_array(&values), r#"[1,"x\"",null,null]"#);
    }
}
