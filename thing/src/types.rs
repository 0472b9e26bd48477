//! The column types Thing maps: their logical SQL type, and how each backend binds
//! and decodes them.
//!
//! Every field of a model must implement [`ColumnType`] (for `CREATE TABLE` and the
//! schema hash), `thing::codec::Codec` (for the row bytes kept in the cache and in
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

use sqlx::error::BoxDynError;

/// The logical type of a column; each SQL dialect spells it in its own DDL.
///
/// ```
/// use thing::types::{ColumnType, SqlType};
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
    /// use thing::types::SqlType;
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
/// use thing::types::{ColumnType, SqlType};
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
native_fields!(sqlx::Sqlite: i8, i16, i32, i64, u32, f32, f64, bool, String, Vec<u8>,
    chrono::DateTime<chrono::Utc>, chrono::NaiveDateTime, chrono::NaiveDate, uuid::Uuid,
    serde_json::Value);

#[cfg(feature = "postgres")]
native_fields!(sqlx::Postgres: i16, i32, i64, f32, f64, bool, String, Vec<u8>,
    chrono::DateTime<chrono::Utc>, chrono::NaiveDateTime, chrono::NaiveDate, uuid::Uuid,
    serde_json::Value);
#[cfg(feature = "postgres")]
widened_fields!(sqlx::Postgres: i8 as i16, u32 as i64);

#[cfg(feature = "mysql")]
native_fields!(sqlx::MySql: i8, i16, i32, i64, u32, f32, f64, bool, String, Vec<u8>,
    chrono::DateTime<chrono::Utc>, chrono::NaiveDateTime, chrono::NaiveDate, uuid::Uuid,
    serde_json::Value);
