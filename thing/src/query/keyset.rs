//! The condition of a keyset page: the rows strictly after a place in a
//! query's order, as an [`Expr`] every backend serves from an index on the
//! sort keys.
//!
//! Thing's order puts NULL below every value (first going up, last going
//! down: `sql/select.rs`), so "after" is NULL-aware per key and direction.
//! The condition is the expanded form with a leading bound on the first key,
//! `a >= x AND (a > x OR (a = x AND (b > y OR (b = y AND id > z))))`: the bound
//! is what an index range starts from on every backend (MariaDB uses no index
//! for a row comparison `(a, b) > (x, y)`, and a comparison of rows cannot say
//! where NULLs go). PostgreSQL gets the row comparison where it means the
//! same: every key one way, no NULLs.

use crate::backend::dialect::Dialect;
use crate::query::filter::{CmpOp, Expr};
use crate::schema::ColumnDef;
use crate::value::Value;

/// The same sort keys the other way round: the order of a walk backwards
/// (NULLs still below every value, so the reverse of the order exactly).
pub(crate) fn reversed(keys: &[(usize, bool)]) -> Vec<(usize, bool)> {
    keys.iter()
        .map(|&(column, descending)| (column, !descending))
        .collect()
}

/// The rows strictly after the place `values` (one per key) in the order
/// `keys`, of a table with columns `columns`, for `dialect`.
///
/// On PostgreSQL, when every key goes the same way and none can hold NULL,
/// the place is a row comparison, `(a, b) < (x, y)`: the planner reads it as
/// one index range, where near the end of an index it served the expanded
/// form with a bitmap of every row before the place and a sort (6.4 ms
/// against 0.06 ms for a page of 21 on a million rows).
pub(crate) fn after(
    keys: &[(usize, bool)],
    values: &[Value],
    columns: &[ColumnDef],
    dialect: Dialect,
) -> Expr {
    let one_way = keys.iter().all(|&(_, descending)| descending == keys[0].1);
    let no_nulls = keys.iter().all(|&(column, _)| !columns[column].nullable);
    if dialect == Dialect::Postgres && keys.len() > 1 && one_way && no_nulls {
        return Expr::RowCmp {
            columns: keys.iter().map(|&(column, _)| column).collect(),
            op: if keys[0].1 { CmpOp::Lt } else { CmpOp::Gt },
            values: values.to_vec(),
        };
    }
    let key = |i: usize| Key {
        column: keys[i].0,
        descending: keys[i].1,
        nullable: columns[keys[i].0].nullable,
        value: &values[i],
    };
    let mut rest = key(keys.len() - 1).beyond();
    if keys.len() == 1 {
        // The condition is its own bound.
        return rest.simplify();
    }
    for i in (0..keys.len() - 1).rev() {
        rest = Expr::Or(vec![key(i).beyond(), Expr::And(vec![key(i).equal(), rest])]);
    }
    Expr::And(vec![key(0).at_or_beyond(), rest]).simplify()
}

/// One sort key and the place's value for it.
struct Key<'v> {
    column: usize,
    descending: bool,
    nullable: bool,
    value: &'v Value,
}

impl Key<'_> {
    fn compare(&self, op: CmpOp) -> Expr {
        Expr::Cmp {
            column: self.column,
            op,
            value: self.value.clone(),
        }
    }

    fn null(&self, negated: bool) -> Expr {
        Expr::Null {
            column: self.column,
            negated,
        }
    }

    /// The column holds the value (NULL: is NULL).
    fn equal(&self) -> Expr {
        match self.value {
            Value::Null => self.null(false),
            _ => self.compare(CmpOp::Eq),
        }
    }

    /// The column's value comes strictly after this one.
    fn beyond(&self) -> Expr {
        match (self.descending, self.value) {
            (false, Value::Null) => self.null(true),
            (false, _) => self.compare(CmpOp::Gt),
            (true, Value::Null) => Expr::Const(false),
            (true, _) if self.nullable => Expr::Or(vec![self.compare(CmpOp::Lt), self.null(false)]),
            (true, _) => self.compare(CmpOp::Lt),
        }
    }

    /// The column's value is this one or comes after it.
    fn at_or_beyond(&self) -> Expr {
        match (self.descending, self.value) {
            (false, Value::Null) => Expr::Const(true),
            (false, _) => self.compare(CmpOp::Ge),
            (true, Value::Null) => self.null(false),
            (true, _) if self.nullable => Expr::Or(vec![self.compare(CmpOp::Le), self.null(false)]),
            (true, _) => self.compare(CmpOp::Le),
        }
    }
}
