//! [`Value`]: a column value inside a filter, bound as a parameter and compared
//! in Rust (to decide which cached lists a write touches) with the same
//! semantics as SQL, NULLs included.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A filter operand or a row's column value.
///
/// ```
/// use thing::value::{ToValue, Value};
/// assert_eq!(7_i32.to_value(), Value::Int(7));
/// assert_eq!(None::<String>.to_value(), Value::Null);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any integer column (`i8` to `i64`, `u32`).
    Int(i64),
    /// `f32` or `f64`.
    Float(f64),
    /// `bool`.
    Bool(bool),
    /// `String`.
    Text(String),
    /// `Vec<u8>`.
    Bytes(Vec<u8>),
    /// `DateTime<Utc>`.
    TimestampTz(DateTime<Utc>),
    /// `NaiveDateTime`.
    Timestamp(NaiveDateTime),
    /// `NaiveDate`.
    Date(NaiveDate),
    /// `Uuid`.
    Uuid(uuid::Uuid),
    /// A JSON column: never compared.
    Opaque,
}

/// A column type's value as a [`Value`]. Implemented for every column type;
/// JSON columns are [`Value::Opaque`].
pub trait ToValue {
    /// The value.
    fn to_value(&self) -> Value;
}

/// The type a filter on a column of type `Self` takes: the type itself, or `T`
/// for `Option<T>`. JSON columns have none, so they cannot be filtered.
///
/// ```compile_fail
/// # use thing::{Thing, BaseModel};
/// #[derive(Thing, Default)]
/// struct User { #[thing(base)] base: BaseModel, age: i32 }
/// let _ = User::AGE.eq("x"); // an i32 column takes an i32
/// ```
pub trait Operand {
    /// What filters on this column compare with.
    type Of: ToValue;
}

macro_rules! values {
    ($($ty:ty => |$v:ident| $value:expr),* $(,)?) => {
        $(
            impl ToValue for $ty {
                fn to_value(&self) -> Value {
                    let $v = self;
                    $value
                }
            }
            impl Operand for $ty {
                type Of = $ty;
            }
        )*
    };
}

values! {
    i8 => |v| Value::Int(i64::from(*v)),
    i16 => |v| Value::Int(i64::from(*v)),
    i32 => |v| Value::Int(i64::from(*v)),
    i64 => |v| Value::Int(*v),
    u32 => |v| Value::Int(i64::from(*v)),
    f32 => |v| Value::Float(f64::from(*v)),
    f64 => |v| Value::Float(*v),
    bool => |v| Value::Bool(*v),
    String => |v| Value::Text(v.clone()),
    Vec<u8> => |v| Value::Bytes(v.clone()),
    DateTime<Utc> => |v| Value::TimestampTz(*v),
    NaiveDateTime => |v| Value::Timestamp(*v),
    NaiveDate => |v| Value::Date(*v),
    uuid::Uuid => |v| Value::Uuid(*v),
}

/// A column type [`Thing::incr`](crate::Thing::incr) can add to: the integers
/// and floats (not `Option`s: NULL plus anything stays NULL).
pub trait Numeric: ToValue {}

impl Numeric for i8 {}
impl Numeric for i16 {}
impl Numeric for i32 {}
impl Numeric for i64 {}
impl Numeric for u32 {}
impl Numeric for f32 {}
impl Numeric for f64 {}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

impl<T: Operand> Operand for Option<T> {
    type Of = T::Of;
}

impl ToValue for serde_json::Value {
    fn to_value(&self) -> Value {
        Value::Opaque
    }
}

/// What a condition says about a row, in SQL's three-valued logic, plus
/// `Maybe` where Rust cannot be sure the database would agree (collation-
/// dependent text ordering). Deciding which cached lists a write touches treats
/// `Maybe` as a match, so a doubt costs a refill, never a stale list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Truth {
    True,
    False,
    /// SQL NULL: the row is not selected, and `NOT` keeps it unknown.
    Unknown,
    Maybe,
}

impl Truth {
    pub fn from_bool(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }

    pub fn not(self) -> Self {
        match self {
            Self::True => Self::False,
            Self::False => Self::True,
            other => other,
        }
    }

    pub fn and(self, other: Self) -> Self {
        use Truth::*;
        match (self, other) {
            (False, _) | (_, False) => False,
            (Maybe, _) | (_, Maybe) => Maybe,
            (Unknown, _) | (_, Unknown) => Unknown,
            (True, True) => True,
        }
    }

    pub fn or(self, other: Self) -> Self {
        use Truth::*;
        match (self, other) {
            (True, _) | (_, True) => True,
            (Maybe, _) | (_, Maybe) => Maybe,
            (Unknown, _) | (_, Unknown) => Unknown,
            (False, False) => False,
        }
    }

    /// Whether a row might be selected.
    pub fn may_match(self) -> bool {
        matches!(self, Self::True | Self::Maybe)
    }
}

impl Value {
    /// Equality as SQL sees it. Text equality is exact in PostgreSQL and
    /// SQLite; MySQL's PAD SPACE collations ignore trailing spaces, so text that
    /// differs only there is `Maybe`.
    pub(crate) fn sql_eq(&self, other: &Self) -> Truth {
        match (self, other) {
            (Self::Null, _) | (_, Self::Null) => Truth::Unknown,
            (Self::Opaque, _) | (_, Self::Opaque) => Truth::Maybe,
            (Self::Text(a), Self::Text(b))
                if a != b && a.trim_end_matches(' ') == b.trim_end_matches(' ') =>
            {
                Truth::Maybe
            }
            (a, b) => Truth::from_bool(a == b),
        }
    }

    /// Ordering as SQL sees it; text ordering depends on the collation, so it
    /// is `None` (undecided) unless the texts are equal.
    pub(crate) fn sql_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => Some(a.cmp(b)),
            (Self::Float(a), Self::Float(b)) => a.partial_cmp(b),
            (Self::Bool(a), Self::Bool(b)) => Some(a.cmp(b)),
            (Self::Bytes(a), Self::Bytes(b)) => Some(a.cmp(b)),
            (Self::TimestampTz(a), Self::TimestampTz(b)) => Some(a.cmp(b)),
            (Self::Timestamp(a), Self::Timestamp(b)) => Some(a.cmp(b)),
            (Self::Date(a), Self::Date(b)) => Some(a.cmp(b)),
            (Self::Uuid(a), Self::Uuid(b)) => Some(a.cmp(b)),
            (Self::Text(a), Self::Text(b)) if a == b => Some(Ordering::Equal),
            _ => None,
        }
    }
}

/// Whether `text` matches the SQL `LIKE` `pattern` (`%` any run, `_` one
/// character, `\` escapes the next character), case-sensitively.
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        tokens.push(match ch {
            '\\' => Like::Char(chars.next().unwrap_or('\\')),
            '%' => Like::Any,
            '_' => Like::One,
            other => Like::Char(other),
        });
    }
    // Iterative matching with backtracking to the last `%`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Like::Char(c)) if *c == text[t] => (t, p) = (t + 1, p + 1),
            Some(Like::One) => (t, p) = (t + 1, p + 1),
            Some(Like::Any) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    star = Some((star_p, star_t + 1));
                    (t, p) = (star_t + 1, star_p + 1);
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| matches!(token, Like::Any))
}

enum Like {
    Char(char),
    Any,
    One,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_follows_sql() {
        assert!(like("Ann", "A%"));
        assert!(like("Ann", "A_n"));
        assert!(!like("Ann", "a%"), "case-sensitive");
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
        assert!(like("abcabc", "%bc%bc"));
        assert!(!like("abcab", "%bc%bc"));
        assert!(like("ünï", "_n_"));
    }

    #[test]
    fn three_valued_logic() {
        use Truth::*;
        assert_eq!(Unknown.not(), Unknown);
        assert_eq!(Unknown.and(False), False);
        assert_eq!(Unknown.or(True), True);
        assert_eq!(Unknown.and(True), Unknown);
        assert_eq!(Maybe.and(Unknown), Maybe);
        assert!(!Unknown.may_match() && Maybe.may_match());
        assert_eq!(Value::Null.sql_eq(&Value::Null), Unknown);
        assert_eq!(
            Value::Text("a ".into()).sql_eq(&Value::Text("a".into())),
            Maybe
        );
        assert_eq!(
            Value::Text("a".into()).sql_cmp(&Value::Text("b".into())),
            None
        );
    }
}

macro_rules! from_values {
    ($($ty:ty),* $(,)?) => {
        $(impl From<$ty> for Value {
            fn from(value: $ty) -> Self {
                value.to_value()
            }
        })*
    };
}

from_values!(
    i8,
    i16,
    i32,
    i64,
    u32,
    f32,
    f64,
    bool,
    String,
    Vec<u8>,
    DateTime<Utc>,
    NaiveDateTime,
    NaiveDate,
    uuid::Uuid
);

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_owned())
    }
}
