//! The column types Thing maps: their logical SQL type, and how each backend binds
//! and decodes them.
//!
//! Every field of a model must implement [`ColumnType`] (for `CREATE TABLE` and the
//! schema hash), `Codec` (`schema::codec`) (for the row bytes kept in the cache and in
//! a `Snapshot`) and [`Field`] for each enabled backend.
//! Thing implements all three for:
//!
//! | Rust | SQLite | PostgreSQL | MySQL / MariaDB |
//! |---|---|---|---|
//! | `i8`, `i16` | INTEGER | SMALLINT | TINYINT, SMALLINT |
//! | `i32` | INTEGER | INTEGER | INT |
//! | `i64` | INTEGER | BIGINT | BIGINT |
//! | `u32` | INTEGER | BIGINT | INT UNSIGNED |
//! | `f32`, `f64` | REAL | REAL, DOUBLE PRECISION | FLOAT, DOUBLE |
//! | `bool` | BOOLEAN | BOOLEAN | BOOLEAN (TINYINT(1)) |
//! | `String` | TEXT | TEXT | LONGTEXT, or VARCHAR(255) when indexed |
//! | `Vec<u8>` | BLOB | BYTEA | LONGBLOB |
//! | `chrono::DateTime<Utc>` | TEXT | TIMESTAMPTZ | DATETIME(6) |
//! | `chrono::NaiveDateTime` | TEXT | TIMESTAMP | DATETIME(6) |
//! | `chrono::NaiveDate` | TEXT | DATE | DATE |
//! | `uuid::Uuid` | BLOB | UUID | BINARY(16) |
//! | `serde_json::Value`, `#[thing(json)]` fields | TEXT | JSONB | JSON |
//!
//! and `Option<T>` of each (a nullable column).

use crate::error::RefusedValue;
use sqlx::error::BoxDynError;

/// The logical type of a column; each SQL dialect spells it in its own DDL.
///
/// ```
/// use thing::SqlType;
/// use thing::__private::ColumnType;
/// assert_eq!(<i64 as ColumnType>::SQL_TYPE, SqlType::BigInt);
/// assert!(<Option<String> as ColumnType>::NULLABLE);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlType {
    /// `i8`.
    TinyInt,
    /// `i16`.
    SmallInt,
    /// `i32`.
    Int,
    /// `i64`.
    BigInt,
    /// `u32`.
    UnsignedInt,
    /// `f32`.
    Real,
    /// `f64`.
    Double,
    /// `bool`.
    Bool,
    /// `String`.
    Text,
    /// `Vec<u8>`.
    Blob,
    /// `chrono::DateTime<Utc>`: an instant.
    TimestampTz,
    /// `chrono::NaiveDateTime`: a wall-clock date and time.
    Timestamp,
    /// `chrono::NaiveDate`.
    Date,
    /// `uuid::Uuid`.
    Uuid,
    /// JSON: `serde_json::Value` or a `#[thing(json)]` field.
    Json,
}

impl SqlType {
    /// The values an integer column holds: its Rust type's range, which some
    /// backends do not enforce (SQLite stores any width in `INTEGER`;
    /// PostgreSQL has no unsigned types). `None` for other types.
    ///
    /// ```
    /// use thing::SqlType;
    /// assert_eq!(SqlType::TinyInt.integer_range(), Some((-128, 127)));
    /// assert_eq!(SqlType::Text.integer_range(), None);
    /// ```
    pub fn integer_range(self) -> Option<(i64, i64)> {
        Some(match self {
            Self::TinyInt => (i8::MIN.into(), i8::MAX.into()),
            Self::SmallInt => (i16::MIN.into(), i16::MAX.into()),
            Self::Int => (i32::MIN.into(), i32::MAX.into()),
            Self::BigInt => (i64::MIN, i64::MAX),
            Self::UnsignedInt => (0, u32::MAX.into()),
            _ => return None,
        })
    }
}

/// The SQL type of a Rust field type, known at compile time.
///
/// ```
/// use thing::SqlType;
/// use thing::__private::ColumnType;
/// assert_eq!(<chrono::NaiveDate as ColumnType>::SQL_TYPE, SqlType::Date);
/// assert!(!<chrono::NaiveDate as ColumnType>::NULLABLE);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a column of a Thing model",
    label = "not a column type",
    note = "Thing stores i8, i16, i32, i64, u32, f32, f64, bool, String, Vec<u8>, chrono::DateTime<Utc>, chrono::NaiveDateTime, chrono::NaiveDate, uuid::Uuid, serde_json::Value, and Option of these",
    note = "mark the field #[thing(json)] to store a serde type as JSON, or #[thing(skip)] to not store it"
)]
pub trait ColumnType {
    /// The logical SQL type.
    const SQL_TYPE: SqlType;
    /// Whether the column accepts NULL (`Option<T>`).
    const NULLABLE: bool = false;
}

/// Binding and decoding of one field type on one backend.
///
/// Implemented by Thing for the types listed in the [module docs](self); the code
/// `#[derive(Thing)]` generates calls these, monomorphised per backend.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a column of a Thing model on `{DB}`",
    label = "not a column type on `{DB}`",
    note = "Thing stores i8, i16, i32, i64, u32, f32, f64, bool, String, Vec<u8>, chrono::DateTime<Utc>, chrono::NaiveDateTime, chrono::NaiveDate, uuid::Uuid, serde_json::Value, and Option of these",
    note = "mark the field #[thing(json)] to store a serde type as JSON, or #[thing(skip)] to not store it"
)]
pub trait Field<DB: sqlx::Database>: Sized {
    /// Appends `self` to the statement's arguments.
    fn bind(&self, args: &mut DB::Arguments) -> Result<(), BoxDynError>;
    /// Appends a NULL of this type (for `Option<Self>` set to `None`).
    fn bind_null(args: &mut DB::Arguments) -> Result<(), BoxDynError>;
    /// Reads column `index` of `row`.
    fn decode(row: &DB::Row, index: usize) -> Result<Self, sqlx::Error>;
    /// Reads column `index` of `row`, which may be NULL.
    fn decode_nullable(row: &DB::Row, index: usize) -> Result<Option<Self>, sqlx::Error>;
}

impl<T: ColumnType> ColumnType for Option<T> {
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const NULLABLE: bool = true;
}

impl<DB: sqlx::Database, T: Field<DB>> Field<DB> for Option<T> {
    fn bind(&self, args: &mut DB::Arguments) -> Result<(), BoxDynError> {
        match self {
            Some(value) => value.bind(args),
            None => T::bind_null(args),
        }
    }
    fn bind_null(args: &mut DB::Arguments) -> Result<(), BoxDynError> {
        T::bind_null(args)
    }
    fn decode(row: &DB::Row, index: usize) -> Result<Self, sqlx::Error> {
        T::decode_nullable(row, index)
    }
    fn decode_nullable(row: &DB::Row, index: usize) -> Result<Option<Self>, sqlx::Error> {
        T::decode_nullable(row, index).map(Some)
    }
}

macro_rules! column_types {
    ($($ty:ty => $sql:ident),* $(,)?) => {
        $(impl ColumnType for $ty {
            const SQL_TYPE: SqlType = SqlType::$sql;
        })*
    };
}

column_types! {
    i8 => TinyInt, i16 => SmallInt, i32 => Int, i64 => BigInt, u32 => UnsignedInt,
    f32 => Real, f64 => Double, bool => Bool, String => Text, Vec<u8> => Blob,
    chrono::DateTime<chrono::Utc> => TimestampTz, chrono::NaiveDateTime => Timestamp,
    chrono::NaiveDate => Date, uuid::Uuid => Uuid, serde_json::Value => Json,
}

/// Implements [`Field`] for types the driver handles natively.
macro_rules! native_fields {
    ($db:ty: $($ty:ty),* $(,)?) => {
        $(impl Field<$db> for $ty {
            #[inline]
            fn bind(&self, args: &mut <$db as sqlx::Database>::Arguments) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, self)
            }
            #[inline]
            fn bind_null(args: &mut <$db as sqlx::Database>::Arguments) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, None::<$ty>)
            }
            #[inline]
            fn decode(row: &<$db as sqlx::Database>::Row, index: usize) -> Result<Self, sqlx::Error> {
                sqlx::Row::try_get(row, index)
            }
            #[inline]
            fn decode_nullable(
                row: &<$db as sqlx::Database>::Row,
                index: usize,
            ) -> Result<Option<Self>, sqlx::Error> {
                sqlx::Row::try_get(row, index)
            }
        })*
    };
}

/// Implements [`Field`] for a type the driver lacks, through a wider one it has
/// (for example `u32` as `i64` on PostgreSQL).
#[cfg(feature = "postgres")]
macro_rules! widened_fields {
    ($db:ty: $($ty:ty as $wide:ty),* $(,)?) => {
        $(impl Field<$db> for $ty {
            fn bind(&self, args: &mut <$db as sqlx::Database>::Arguments) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, <$wide>::from(*self))
            }
            fn bind_null(args: &mut <$db as sqlx::Database>::Arguments) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, None::<$wide>)
            }
            fn decode(row: &<$db as sqlx::Database>::Row, index: usize) -> Result<Self, sqlx::Error> {
                let wide: $wide = sqlx::Row::try_get(row, index)?;
                narrow(wide, index)
            }
            fn decode_nullable(
                row: &<$db as sqlx::Database>::Row,
                index: usize,
            ) -> Result<Option<Self>, sqlx::Error> {
                let wide: Option<$wide> = sqlx::Row::try_get(row, index)?;
                wide.map(|wide| narrow(wide, index)).transpose()
            }
        })*
    };
}

#[cfg(feature = "postgres")]
fn narrow<W, N>(wide: W, index: usize) -> Result<N, sqlx::Error>
where
    N: TryFrom<W>,
    <N as TryFrom<W>>::Error: std::error::Error + Send + Sync + 'static,
{
    N::try_from(wide).map_err(|err| sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: Box::new(err),
    })
}

#[cfg(feature = "sqlite")]
native_fields!(sqlx::Sqlite: i8, i16, i32, i64, u32, bool, String, Vec<u8>,
    chrono::DateTime<chrono::Utc>, chrono::NaiveDateTime, chrono::NaiveDate, uuid::Uuid);

#[cfg(feature = "postgres")]
native_fields!(sqlx::Postgres: i16, i32, i64, f32, f64, bool, String, Vec<u8>,
    chrono::DateTime<chrono::Utc>, chrono::NaiveDateTime, chrono::NaiveDate, uuid::Uuid);
#[cfg(feature = "postgres")]
widened_fields!(sqlx::Postgres: i8 as i16, u32 as i64);

#[cfg(feature = "mysql")]
native_fields!(sqlx::MySql: i8, i16, i32, i64, u32, f32, f64, bool, String, Vec<u8>,
    chrono::DateTime<chrono::Utc>, chrono::NaiveDateTime, chrono::NaiveDate, uuid::Uuid);

/// Implements [`Field`] for SQLite's floats, which refuse NaN: SQLite stores
/// NaN as NULL, which would read back as `None` (or fail to read back).
#[cfg(feature = "sqlite")]
macro_rules! sqlite_float_fields {
    ($($ty:ty),*) => {
        $(impl Field<sqlx::Sqlite> for $ty {
            fn bind(&self, args: &mut <sqlx::Sqlite as sqlx::Database>::Arguments) -> Result<(), BoxDynError> {
                if self.is_nan() {
                    return Err(Box::new(RefusedValue(
                        "SQLite cannot store NaN (it would read back as NULL)".into(),
                    )));
                }
                sqlx::Arguments::add(args, self)
            }
            fn bind_null(args: &mut <sqlx::Sqlite as sqlx::Database>::Arguments) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, None::<$ty>)
            }
            fn decode(row: &<sqlx::Sqlite as sqlx::Database>::Row, index: usize) -> Result<Self, sqlx::Error> {
                sqlx::Row::try_get(row, index)
            }
            fn decode_nullable(
                row: &<sqlx::Sqlite as sqlx::Database>::Row,
                index: usize,
            ) -> Result<Option<Self>, sqlx::Error> {
                sqlx::Row::try_get(row, index)
            }
        })*
    };
}

#[cfg(feature = "sqlite")]
sqlite_float_fields!(f32, f64);

// JSON columns: refuse on save what could not be read back. serde_json reads
// at most 127 levels of nesting (its recursion limit); a deeper document would
// be stored and then fail every read of its row.

/// The deepest nesting of arrays and objects a JSON column takes.
pub(crate) const MAX_DEPTH: usize = 127;

/// `Ok` when the JSON text `json` (as serde_json writes it) nests at most
/// [`MAX_DEPTH`] levels.
fn check_depth(json: &str) -> Result<(), RefusedValue> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in json.bytes() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(RefusedValue(format!(
                        "a JSON value nests deeper than {MAX_DEPTH} levels, which could not be read back"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// `value` as JSON text, checked to be readable back ([`MAX_DEPTH`]).
#[doc(hidden)]
pub fn checked_json<T: serde::Serialize + ?Sized>(
    value: &T,
) -> Result<Box<serde_json::value::RawValue>, BoxDynError> {
    let text = serde_json::to_string(value)?;
    check_depth(&text)?;
    Ok(serde_json::value::RawValue::from_string(text)?)
}

/// Implements [`Field`] for `serde_json::Value`, bound through [`checked_json`].
macro_rules! json_value_field {
    ($db:ty) => {
        impl Field<$db> for serde_json::Value {
            fn bind(
                &self,
                args: &mut <$db as sqlx::Database>::Arguments,
            ) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, sqlx::types::Json(checked_json(self)?))
            }
            fn bind_null(args: &mut <$db as sqlx::Database>::Arguments) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, None::<serde_json::Value>)
            }
            fn decode(
                row: &<$db as sqlx::Database>::Row,
                index: usize,
            ) -> Result<Self, sqlx::Error> {
                sqlx::Row::try_get(row, index)
            }
            fn decode_nullable(
                row: &<$db as sqlx::Database>::Row,
                index: usize,
            ) -> Result<Option<Self>, sqlx::Error> {
                sqlx::Row::try_get(row, index)
            }
        }
    };
}

#[cfg(feature = "sqlite")]
json_value_field!(sqlx::Sqlite);
#[cfg(feature = "postgres")]
json_value_field!(sqlx::Postgres);
#[cfg(feature = "mysql")]
json_value_field!(sqlx::MySql);

#[cfg(test)]
mod tests {
    use super::{MAX_DEPTH, check_depth};

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn the_deepest_document_serde_json_reads_passes_and_one_more_does_not() {
        let deepest = nested(MAX_DEPTH);
        assert!(check_depth(&deepest).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(&deepest).is_ok());
        let deeper = nested(MAX_DEPTH + 1);
        assert!(check_depth(&deeper).is_err());
        assert!(serde_json::from_str::<serde_json::Value>(&deeper).is_err());
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let text = serde_json::json!({ "a": "[[[[\\\"[[[", "b": ["{"] }).to_string();
        assert!(check_depth(&text).is_ok());
        let brackets = format!("[\"{}\"]", "[".repeat(500));
        assert!(check_depth(&brackets).is_ok());
    }
}
