//! Stamps: which versions a cached list depends on, and which a write bumps.
//!
//! A list with an equality (or `IN`) on an indexed column depends on one stamp
//! per value, `(table, column, value)`: only writes to rows that had or get one
//! of those values move it. So does an `AND` holding one, at any depth, and an
//! `OR` of such conditions on the union of their stamps (see
//! [`value_stamps`]). Any other list depends on a stamp per column its
//! filter and order read, plus the table's membership stamp (inserts, deletes,
//! soft deletes and restores). A list with raw SQL depends on the table-wide
//! stamp of its table and of every table it declares it reads. A write bumps,
//! for each row, the value stamps of its indexed columns' old and new values,
//! the stamps of the columns it changed, the membership stamp when the row
//! enters or leaves the table, and the table-wide stamp.
//!
//! Correctness rests on these sets covering each other, never on evaluating a
//! filter in Rust.

use crate::query::filter::{CmpOp, Expr};
use crate::schema::Schema;
use crate::value::Value;

/// One stamp of a table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stamp {
    /// Rows whose indexed `column` holds a value, by its [`value_key`].
    Value { column: usize, value: String },
    /// Any change of `column`.
    Column(usize),
    /// A row entering or leaving the table.
    Members,
    /// Any write to the table named.
    Table(&'static str),
    /// The table itself: bumped when it is dropped or created, so that nothing
    /// cached for an older table of the same name is used.
    Epoch,
}

/// What a committed write did to one row, as far as stamps are concerned.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowWrite {
    /// The row's id.
    pub id: i64,
    /// The columns whose value changed in place (none for an insert or a hard
    /// delete, whose membership stamp covers them).
    pub changed: Vec<usize>,
    /// The indexed columns' values before the write (none for an insert).
    pub before: Vec<(usize, Value)>,
    /// The indexed columns' values after it (none for a hard delete).
    pub after: Vec<(usize, Value)>,
    /// Whether the row entered or left the table (insert, delete, soft delete,
    /// restore).
    pub membership: bool,
}

/// Whether `column` of `T` has value stamps: indexed (or the id) and of a type
/// whose equality Thing can key exactly.
pub(crate) fn has_value_stamps<T: Schema>(column: usize) -> bool {
    let def = &T::COLUMN_DEFS[column];
    (column == T::MODEL_META.id || def.index || def.unique)
        && matches!(
            def.sql_type,
            crate::backend::types::SqlType::TinyInt
                | crate::backend::types::SqlType::SmallInt
                | crate::backend::types::SqlType::Int
                | crate::backend::types::SqlType::BigInt
                | crate::backend::types::SqlType::UnsignedInt
                | crate::backend::types::SqlType::Bool
                | crate::backend::types::SqlType::Text
                | crate::backend::types::SqlType::Blob
                | crate::backend::types::SqlType::Date
                | crate::backend::types::SqlType::Uuid
        )
}

/// The columns of `T` with value stamps, other than the id: the ones a write
/// must know the old values of.
pub(crate) fn guarded_columns<T: Schema>() -> impl Iterator<Item = usize> {
    (0..T::COLUMN_DEFS.len())
        .filter(|&column| column != T::MODEL_META.id && has_value_stamps::<T>(column))
}

/// The key of a value under a value stamp; `None` for values whose SQL
/// equality Thing cannot key exactly (floats, timestamps, JSON).
///
/// Text is keyed lower-cased and without trailing spaces, so that collations
/// that ignore case or trailing spaces (MySQL's PAD SPACE) put every value
/// they consider equal under one stamp: a coarser stamp costs a refill, never a
/// stale list.
pub(crate) fn value_key(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => "n".into(),
        Value::Int(n) => int_key(*n),
        // Every row of a soft-deletable model has one (`deleted`): no `format!`.
        Value::Bool(b) => String::from(if *b { "b1" } else { "b0" }),
        Value::Text(text) => {
            let text = text.trim_end_matches(' ').to_lowercase();
            if text.len() <= 64 {
                format!("t{text}")
            } else {
                format!("h{}", crate::hash::sha1_hex(text.as_bytes()))
            }
        }
        Value::Bytes(bytes) => format!("x{}", crate::hash::sha1_hex(bytes)),
        Value::Date(date) => format!("d{date}"),
        Value::Uuid(uuid) => format!("u{}", uuid.simple()),
        Value::Float(_) | Value::TimestampTz(_) | Value::Timestamp(_) | Value::Opaque => {
            return None;
        }
    })
}

/// The key of an integer under a value stamp, `i{n}` (built for every row a
/// write touches: without `format!`).
fn int_key(n: i64) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n);
    let mut key = String::with_capacity(1 + digits.len());
    key.push('i');
    key.push_str(digits);
    key
}

/// The stamps a list of `T` with condition `expr`, sort keys `order`, and raw
/// SQL reading the tables `reads` depends on: those of what it reads, and the
/// table's epoch.
pub(crate) fn of_query<T: Schema>(
    expr: &Expr,
    order: &[(usize, bool)],
    reads: &[&'static str],
) -> Vec<Stamp> {
    let mut stamps = by_content::<T>(expr, order, reads);
    stamps.push(Stamp::Epoch);
    stamps
}

/// The stamps of what a list reads: see [`of_query`].
fn by_content<T: Schema>(
    expr: &Expr,
    order: &[(usize, bool)],
    reads: &[&'static str],
) -> Vec<Stamp> {
    let mut columns = Vec::new();
    if !expr.columns(&mut columns) {
        let mut stamps: Vec<Stamp> = std::iter::once(T::TABLE_NAME)
            .chain(reads.iter().copied())
            .map(Stamp::Table)
            .collect();
        stamps.sort();
        stamps.dedup();
        return stamps;
    }
    if let Some(chosen) = value_stamps::<T>(expr) {
        return chosen.stamps;
    }
    columns.extend(order.iter().map(|&(column, _)| column));
    columns.retain(|&column| column != T::MODEL_META.id);
    columns.sort_unstable();
    columns.dedup();
    let mut stamps: Vec<Stamp> = columns.into_iter().map(Stamp::Column).collect();
    stamps.push(Stamp::Members);
    stamps
}

/// The most values an `IN` list is keyed by, one stamp each; a longer list
/// depends on its column's stamp instead (one key to read, not thousands).
const MOST_VALUE_STAMPS: usize = 64;

/// Value stamps a list can depend on instead of column stamps, and whether
/// any of them is a boolean column's, which half the table may share.
struct ValueStamps {
    stamps: Vec<Stamp>,
    broad: bool,
}

impl ValueStamps {
    /// Which of two choices a list prefers: a narrow one, then fewer stamps.
    fn rank(&self) -> (bool, usize) {
        (self.broad, self.stamps.len())
    }
}

/// The value stamps `expr` can depend on, if every row it matches has, before
/// or after any write to it, one of their values — so that the write bumps
/// one of them (a write bumps the stamps of its row's indexed values before
/// and after it):
///
/// - an equality, or an `IN` of at most [`MOST_VALUE_STAMPS`] values, on a
///   column with value stamps: a stamp per value;
/// - an `AND`: the best of its parts' (a row it matches matches each part),
///   a narrow one before a boolean's, then the fewest stamps;
/// - an `OR`: the union of every part's, when each has some (a row it matches
///   matches one part), up to [`MOST_VALUE_STAMPS`].
fn value_stamps<T: Schema>(expr: &Expr) -> Option<ValueStamps> {
    let (column, values) = match expr {
        Expr::Cmp {
            column,
            op: CmpOp::Eq,
            value,
        } => (*column, std::slice::from_ref(value)),
        Expr::In {
            column,
            values,
            negated: false,
        } if values.len() <= MOST_VALUE_STAMPS => (*column, values.as_slice()),
        Expr::And(parts) => {
            return parts
                .iter()
                .filter_map(value_stamps::<T>)
                .min_by_key(ValueStamps::rank);
        }
        Expr::Or(parts) => {
            let mut union = ValueStamps {
                stamps: Vec::new(),
                broad: false,
            };
            for part in parts {
                let part = value_stamps::<T>(part)?;
                union.stamps.extend(part.stamps);
                union.broad |= part.broad;
            }
            union.stamps.sort();
            union.stamps.dedup();
            return (union.stamps.len() <= MOST_VALUE_STAMPS).then_some(union);
        }
        _ => return None,
    };
    if !has_value_stamps::<T>(column) {
        return None;
    }
    let mut stamps = values
        .iter()
        .map(|value| {
            Some(Stamp::Value {
                column,
                value: value_key(value)?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    stamps.sort();
    stamps.dedup();
    let broad = T::COLUMN_DEFS[column].sql_type == crate::backend::types::SqlType::Bool;
    Some(ValueStamps { stamps, broad })
}

/// The stamps a write to rows of `T` bumps.
pub(crate) fn of_writes<T: Schema>(writes: &[RowWrite]) -> Vec<Stamp> {
    let mut stamps = vec![Stamp::Table(T::TABLE_NAME)];
    for write in writes {
        // (An insert's id is not known before its statement: 0.)
        if write.id != 0 {
            stamps.push(Stamp::Value {
                column: T::MODEL_META.id,
                value: int_key(write.id),
            });
        }
        for (column, value) in write.before.iter().chain(&write.after) {
            if has_value_stamps::<T>(*column)
                && let Some(value) = value_key(value)
            {
                stamps.push(Stamp::Value {
                    column: *column,
                    value,
                });
            }
        }
        // Every list that depends on column stamps also depends on the
        // membership stamp (`by_content`), so a write that bumps it (an insert,
        // a delete, a restore) need not bump its columns' stamps too: on
        // Redis, each stamp is a call inside the write's two scripts.
        if write.membership {
            stamps.push(Stamp::Members);
        } else {
            stamps.extend(write.changed.iter().copied().map(Stamp::Column));
        }
    }
    stamps.sort();
    stamps.dedup();
    stamps
}

/// The indexed columns' values of `row` (for [`RowWrite::before`] and
/// [`RowWrite::after`]).
pub(crate) fn indexed_values<T: Schema>(row: &T) -> Vec<(usize, Value)> {
    guarded_columns::<T>()
        .map(|column| (column, row.value(column)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_keyed_as_loose_collations_compare_them() {
        let key = |value: Value| value_key(&value);
        assert_eq!(
            key(Value::Text("Ann  ".into())),
            key(Value::Text("ann".into()))
        );
        assert_ne!(
            key(Value::Text("ann".into())),
            key(Value::Text("anne".into()))
        );
        assert_eq!(key(Value::Int(-3)).as_deref(), Some("i-3"));
        assert_ne!(key(Value::Int(1)), key(Value::Bool(true)));
        assert_eq!(key(Value::Float(1.0)), None, "floats are never keyed");
        assert_eq!(key(Value::Opaque), None);
        let long = "x".repeat(100);
        assert!(key(Value::Text(long)).unwrap().starts_with('h'));
    }
}
