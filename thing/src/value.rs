//! [`Value`]: a column value inside a filter, bound as a parameter, and a row's
//! indexed values as the cache's stamps key them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

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
