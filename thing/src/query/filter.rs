//! Typed filters: built from column handles (`User::AGE.gt(18)`), combined with
//! `&`, `|` and `!`; checked, and read for the stamps a list depends on (their
//! SQL is written in `sql/filter.rs`).

use crate::error::Error;
use crate::schema::Column;
use crate::value::{Operand, ToValue, Value};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{BitAnd, BitOr, Not};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// The untyped tree of a filter. Columns are indices into `Thing::COLUMNS`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Const(bool),
    Cmp {
        column: usize,
        op: CmpOp,
        value: Value,
    },
    In {
        column: usize,
        values: Vec<Value>,
        negated: bool,
    },
    Like {
        column: usize,
        /// Always [`Value::Text`].
        pattern: Value,
    },
    Null {
        column: usize,
        negated: bool,
    },
    /// A comparison of rows, `(a, b) < (x, y)`: only built for a keyset page
    /// on PostgreSQL (see `query/keyset.rs`), over columns that hold no NULL.
    RowCmp {
        columns: Vec<usize>,
        op: CmpOp,
        values: Vec<Value>,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A SQL fragment with `?` placeholders: never matched in Rust.
    Raw {
        sql: String,
        args: Vec<Value>,
    },
}

/// A condition on rows of model `M`, from the column handles `#[derive(Thing)]`
/// generates. Combine with `&` (and), `|` (or) and `!` (not).
///
/// ```
/// use thing::{BaseModel, Thing};
///
/// #[derive(Thing, Default)]
/// struct User { #[thing(base)] base: BaseModel, name: String, age: i32, bio: Option<String> }
///
/// let adults_named_a = User::AGE.ge(18) & User::NAME.like("A%");
/// let no_bio_or_young = User::BIO.is_null() | !User::AGE.gt(30);
/// let either = adults_named_a | no_bio_or_young;
/// # let _ = either;
/// ```
pub struct Filter<M> {
    pub(crate) expr: Expr,
    _model: PhantomData<fn() -> M>,
}

impl<M> Filter<M> {
    pub(crate) fn new(expr: Expr) -> Self {
        Self {
            expr,
            _model: PhantomData,
        }
    }
}

impl<M> Clone for Filter<M> {
    fn clone(&self) -> Self {
        Self::new(self.expr.clone())
    }
}

impl<M> fmt::Debug for Filter<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

impl<M> BitAnd for Filter<M> {
    type Output = Self;
    fn bitand(self, other: Self) -> Self {
        Self::new(Expr::And(vec![self.expr, other.expr]))
    }
}

impl<M> BitOr for Filter<M> {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        Self::new(Expr::Or(vec![self.expr, other.expr]))
    }
}

impl<M> Not for Filter<M> {
    type Output = Self;
    fn not(self) -> Self {
        Self::new(Expr::Not(Box::new(self.expr)))
    }
}

impl<M> Filter<M> {
    /// Both conditions (as `&`).
    pub fn and(self, other: Self) -> Self {
        self & other
    }

    /// Either condition (as `|`).
    pub fn or(self, other: Self) -> Self {
        self | other
    }
}

impl<M, V: Operand> Column<M, V> {
    fn compare(&self, op: CmpOp, value: impl Into<V::Of>) -> Filter<M> {
        Filter::new(Expr::Cmp {
            column: self.index(),
            op,
            value: value.into().to_value(),
        })
    }

    /// `column = value`.
    pub fn eq(&self, value: impl Into<V::Of>) -> Filter<M> {
        self.compare(CmpOp::Eq, value)
    }

    /// `column <> value` (as in SQL, a NULL column matches neither `eq` nor `ne`).
    pub fn ne(&self, value: impl Into<V::Of>) -> Filter<M> {
        self.compare(CmpOp::Ne, value)
    }

    /// `column > value`.
    pub fn gt(&self, value: impl Into<V::Of>) -> Filter<M> {
        self.compare(CmpOp::Gt, value)
    }

    /// `column >= value`.
    pub fn ge(&self, value: impl Into<V::Of>) -> Filter<M> {
        self.compare(CmpOp::Ge, value)
    }

    /// `column < value`.
    pub fn lt(&self, value: impl Into<V::Of>) -> Filter<M> {
        self.compare(CmpOp::Lt, value)
    }

    /// `column <= value`.
    pub fn le(&self, value: impl Into<V::Of>) -> Filter<M> {
        self.compare(CmpOp::Le, value)
    }

    fn membership<I>(&self, values: I, negated: bool) -> Filter<M>
    where
        I: IntoIterator,
        I::Item: Into<V::Of>,
    {
        Filter::new(Expr::In {
            column: self.index(),
            values: values
                .into_iter()
                .map(|value| value.into().to_value())
                .collect(),
            negated,
        })
    }

    /// `column IN (values)`. An empty list matches nothing (and a query that
    /// can match nothing sends no SQL).
    pub fn is_in<I>(&self, values: I) -> Filter<M>
    where
        I: IntoIterator,
        I::Item: Into<V::Of>,
    {
        self.membership(values, false)
    }

    /// `column NOT IN (values)`. An empty list matches every row whose column
    /// is not NULL... and, as in Thing's other filters, NULL columns never
    /// match a comparison.
    pub fn not_in<I>(&self, values: I) -> Filter<M>
    where
        I: IntoIterator,
        I::Item: Into<V::Of>,
    {
        self.membership(values, true)
    }

    /// Ascending order on this column (NULLs first).
    pub fn asc(&self) -> Order<M> {
        Order::new(self.index(), false)
    }

    /// Descending order on this column (NULLs last).
    pub fn desc(&self) -> Order<M> {
        Order::new(self.index(), true)
    }
}

impl<M, V: Operand<Of = String>> Column<M, V> {
    /// `column LIKE pattern`, case-sensitive on every backend: `%` any run,
    /// `_` one character, `\` takes the next character as itself (`\%`, `\_`,
    /// `\\`). A pattern holding NUL or ending in a lone `\` fails with
    /// [`Error::InvalidInput`] when the query runs,
    /// before any SQL: backends would read it differently.
    pub fn like(&self, pattern: impl Into<String>) -> Filter<M> {
        Filter::new(Expr::Like {
            column: self.index(),
            pattern: Value::Text(pattern.into()),
        })
    }
}

impl<M, T> Column<M, Option<T>> {
    /// `column IS NULL`.
    pub fn is_null(&self) -> Filter<M> {
        Filter::new(Expr::Null {
            column: self.index(),
            negated: false,
        })
    }

    /// `column IS NOT NULL`.
    pub fn is_not_null(&self) -> Filter<M> {
        Filter::new(Expr::Null {
            column: self.index(),
            negated: true,
        })
    }
}

/// A sort key: a column and a direction, from [`Column::asc`] or
/// [`Column::desc`].
pub struct Order<M> {
    pub(crate) column: usize,
    pub(crate) descending: bool,
    _model: PhantomData<fn() -> M>,
}

impl<M> Order<M> {
    fn new(column: usize, descending: bool) -> Self {
        Self {
            column,
            descending,
            _model: PhantomData,
        }
    }
}

impl<M> Clone for Order<M> {
    fn clone(&self) -> Self {
        Self::new(self.column, self.descending)
    }
}

impl<M> fmt::Debug for Order<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let direction = if self.descending { "desc" } else { "asc" };
        write!(f, "Order({}, {direction})", self.column)
    }
}

impl Expr {
    /// Folds constants: an empty `IN` is false, an empty `NOT IN` needs only a
    /// non-NULL column, `AND`/`OR` of constants collapse.
    pub fn simplify(self) -> Self {
        match self {
            Self::In {
                values,
                negated: false,
                ..
            } if values.is_empty() => Self::Const(false),
            Self::In {
                column,
                values,
                negated: true,
            } if values.is_empty() => Self::Null {
                column,
                negated: true,
            },
            Self::And(parts) => {
                let mut kept = Vec::with_capacity(parts.len());
                for part in parts.into_iter().map(Self::simplify) {
                    match part {
                        Self::Const(false) => return Self::Const(false),
                        Self::Const(true) => {}
                        other => kept.push(other),
                    }
                }
                match kept.len() {
                    0 => Self::Const(true),
                    1 => kept.pop().unwrap_or(Self::Const(true)),
                    _ => Self::And(kept),
                }
            }
            Self::Or(parts) => {
                let mut kept = Vec::with_capacity(parts.len());
                for part in parts.into_iter().map(Self::simplify) {
                    match part {
                        Self::Const(true) => return Self::Const(true),
                        Self::Const(false) => {}
                        other => kept.push(other),
                    }
                }
                match kept.len() {
                    0 => Self::Const(false),
                    1 => kept.pop().unwrap_or(Self::Const(false)),
                    _ => Self::Or(kept),
                }
            }
            Self::Not(inner) => match inner.simplify() {
                Self::Const(value) => Self::Const(!value),
                other => Self::Not(Box::new(other)),
            },
            other => other,
        }
    }

    /// Whether the filter holds raw SQL that may read other tables (see
    /// [`reads_tables`]).
    pub fn raw_reads_tables(&self) -> bool {
        match self {
            Self::Raw { sql, .. } => reads_tables(sql),
            Self::And(parts) | Self::Or(parts) => parts.iter().any(Self::raw_reads_tables),
            Self::Not(inner) => inner.raw_reads_tables(),
            _ => false,
        }
    }

    /// Adds the columns the filter reads to `out`; `false` when it holds raw
    /// SQL, which could read any column.
    pub fn columns(&self, out: &mut Vec<usize>) -> bool {
        match self {
            Self::Const(_) => true,
            Self::Cmp { column, .. }
            | Self::In { column, .. }
            | Self::Like { column, .. }
            | Self::Null { column, .. } => {
                out.push(*column);
                true
            }
            Self::RowCmp { columns, .. } => {
                out.extend_from_slice(columns);
                true
            }
            Self::And(parts) | Self::Or(parts) => parts.iter().all(|part| part.columns(out)),
            Self::Not(inner) => inner.columns(out),
            Self::Raw { .. } => false,
        }
    }

    /// Checks what the database would read otherwise than Thing, before any
    /// SQL: every raw fragment has as many placeholders (`?` outside quotes)
    /// as arguments, so that nothing is bound to the wrong place, and every
    /// `like` pattern means the same on every backend (see [`check_like`]).
    pub fn check(&self) -> Result<(), Error> {
        match self {
            Self::Like {
                pattern: Value::Text(pattern),
                ..
            } => check_like(pattern),
            Self::Raw { sql, args } => {
                let placeholders = placeholders(sql).len();
                if placeholders == args.len() {
                    Ok(())
                } else {
                    Err(Error::invalid_input(format_args!(
                        "where_raw: {placeholders} placeholder(s) `?` but {} argument(s) in {sql:?}",
                        args.len()
                    )))
                }
            }
            Self::And(parts) | Self::Or(parts) => parts.iter().try_for_each(Self::check),
            Self::Not(inner) => inner.check(),
            _ => Ok(()),
        }
    }
}

/// Refuses a `like` pattern the backends would read differently: one with
/// NUL (SQLite ends the pattern there, and matches rows it should not;
/// PostgreSQL refuses NUL in text) or one ending in a lone escape `\`
/// (PostgreSQL fails, but only once a row reaches the comparison; SQLite and
/// MySQL match it otherwise).
fn check_like(pattern: &str) -> Result<(), Error> {
    if pattern.contains('\0') {
        return Err(Error::invalid_input(format_args!(
            "like: the pattern {pattern:?} holds NUL, which backends read differently"
        )));
    }
    let escapes = pattern
        .bytes()
        .rev()
        .take_while(|&byte| byte == b'\\')
        .count();
    if escapes % 2 == 1 {
        return Err(Error::invalid_input(format_args!(
            "like: the pattern {pattern:?} ends in a lone escape `\\`; write `\\\\` for a backslash"
        )));
    }
    Ok(())
}

/// The bytes of a raw fragment outside string literals (`'...'`) and quoted
/// identifiers (`"..."`, `` `...` ``), with their offsets; a quote is
/// escaped by doubling it, as in standard SQL.
fn unquoted(fragment: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut quote: Option<u8> = None;
    fragment
        .bytes()
        .enumerate()
        .filter(move |&(_, byte)| match quote {
            None if matches!(byte, b'\'' | b'"' | b'`') => {
                quote = Some(byte);
                false
            }
            None => true,
            // A doubled quote closes and reopens: the same state.
            Some(open) => {
                if byte == open {
                    quote = None;
                }
                false
            }
        })
}

/// The byte offsets of the placeholders of a raw fragment: each `?` outside
/// quotes (see [`unquoted`]).
pub(crate) fn placeholders(fragment: &str) -> Vec<usize> {
    unquoted(fragment)
        .filter(|&(_, byte)| byte == b'?')
        .map(|(at, _)| at)
        .collect()
}

/// Whether a raw fragment may read other tables: it holds the word `SELECT`,
/// `FROM` or `JOIN` (in any case) outside quotes. Words in comments count
/// too, which can only keep a list out of the cache.
fn reads_tables(fragment: &str) -> bool {
    let mut word = Vec::new();
    let mut next = 0;
    let mut found = false;
    let mut end_word = |word: &mut Vec<u8>| {
        found |= [&b"select"[..], b"from", b"join"]
            .iter()
            .any(|keyword| word.eq_ignore_ascii_case(keyword));
        word.clear();
    };
    for (at, byte) in unquoted(fragment) {
        let in_word =
            byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'$') || !byte.is_ascii();
        if !in_word || at != next {
            end_word(&mut word);
        }
        if in_word {
            word.push(byte);
        }
        next = at + 1;
    }
    end_word(&mut word);
    found
}

#[cfg(test)]
mod tests {
    use super::{placeholders, reads_tables};

    #[test]
    fn fragments_that_name_tables_outside_quotes() {
        for reads in [
            "owner_id IN (SELECT id FROM owners)",
            "EXISTS (select 1 from t)",
            "a.id = b.id JOIN",
            "x IN (Select\ny)",
            "'a'from",
        ] {
            assert!(reads_tables(reads), "{reads}");
        }
        for own in [
            "lower(name) = ?",
            "name = 'SELECT x FROM y'",
            "\"from\" = ? AND `join` = 1",
            "from_date > ? AND selected AND rejoin",
            "name = 'it''s FROM'",
        ] {
            assert!(!reads_tables(own), "{own}");
        }
    }

    #[test]
    fn placeholders_outside_quotes_only() {
        assert_eq!(placeholders("a = ? AND b = ?"), [4, 14]);
        assert_eq!(placeholders("a = '?' OR b = ?"), [15]);
        assert_eq!(
            placeholders("a = 'it''s ?' AND \"c?\" = ? AND `d?` > ?"),
            [25, 38]
        );
        assert!(placeholders("no placeholders").is_empty());
    }
}
