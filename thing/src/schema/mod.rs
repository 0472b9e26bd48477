//! What a model is, as `#[derive(Thing)]` describes it at compile time: its
//! columns ([`ColumnDef`], [`ModelMeta`]), typed column handles ([`Column`]), the
//! common columns ([`BaseModel`]), the row as last read ([`Snapshot`]), and the
//! [`Schema`] trait through which the runtime reads all of it.
//!
//! Users meet these through [`Thing`](crate::Thing), which re-exposes `Schema`'s
//! public items; the runtime below `Thing` depends on `Schema` alone.

pub(crate) mod codec;
pub(crate) mod statements;

use crate::backend::ModelIoAll;
use crate::backend::types::SqlType;
use crate::schema::statements::StatementCache;
use crate::value::Value;
use bytes::{Buf, Bytes};
use chrono::{DateTime, Utc};
use std::fmt;
use std::marker::PhantomData;

/// The DDL of a table: its `CREATE TABLE` and indexes in a dialect.
#[doc(hidden)]
pub type JoinTableSql = fn(crate::backend::dialect::Dialect) -> Vec<String>;

/// One column of a model, as `#[derive(Thing)]` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDef {
    /// The column name in the database.
    pub name: &'static str,
    /// The Rust field it comes from (`base.id` for columns of [`BaseModel`]).
    pub field: &'static str,
    /// Its logical SQL type.
    pub sql_type: SqlType,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// `#[thing(index)]`.
    pub index: bool,
    /// `#[thing(unique)]`.
    pub unique: bool,
    /// `#[thing(default = "...")]`: the SQL default in `CREATE TABLE`.
    pub default: Option<&'static str>,
}

/// Where the special columns of a model are, by index into [`Thing::COLUMNS`](crate::Thing::COLUMNS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelMeta {
    /// The `i64` primary key.
    pub id: usize,
    /// `created_at`, set on insert (models with [`BaseModel`]).
    pub created_at: Option<usize>,
    /// `updated_at`, set on every write (models with [`BaseModel`]).
    pub updated_at: Option<usize>,
    /// `deleted: bool`: when present, [`Thing::delete`](crate::Thing::delete) is a soft delete.
    pub deleted: Option<usize>,
    /// `#[thing(version)] version: i64`: when present, `save` updates only
    /// the version it read, and bumps it.
    pub version: Option<usize>,
}

/// The common columns most models embed with `#[thing(base)]`: an `i64` id,
/// creation and update times, and a soft-delete flag.
///
/// ```
/// use thing::{BaseModel, Thing};
///
/// #[derive(Thing, Debug, Clone, Default)]
/// struct Note {
///     #[thing(base)]
///     base: BaseModel,
///     text: String,
/// }
///
/// let note = Note { text: "hi".into(), ..Default::default() };
/// assert_eq!(note.base.id, 0); // not saved yet
/// assert_eq!(Note::COLUMNS[0].name, "id");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BaseModel {
    /// The primary key; 0 until the row is inserted.
    pub id: i64,
    /// When the row was inserted.
    pub created_at: DateTime<Utc>,
    /// When the row was last written.
    pub updated_at: DateTime<Utc>,
    /// Soft-delete flag: deleted rows are invisible to `by_id` and queries.
    pub deleted: bool,
    snapshot: Snapshot,
}

impl BaseModel {
    #[doc(hidden)]
    pub fn __snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    #[doc(hidden)]
    pub fn __snapshot_mut(&mut self) -> &mut Snapshot {
        &mut self.snapshot
    }
}

/// The row as it was last read from or written to the database, kept inside a
/// model value so that [`Thing::save`](crate::Thing::save) can update only the columns that changed.
///
/// [`BaseModel`] carries one. A model without `BaseModel` can carry its own by
/// declaring a field of this type; without one, `save` writes every column.
/// Snapshots never take part in comparisons: two snapshots are always equal, so a
/// `#[derive(PartialEq)]` on the model compares only its data.
///
/// ```
/// use thing::{Snapshot, Thing};
///
/// #[derive(Thing, Debug, Clone, Default, PartialEq)]
/// struct Tag {
///     id: i64,
///     label: String,
///     snapshot: Snapshot, // not a column
/// }
/// assert_eq!(Tag::COLUMNS.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct Snapshot(Option<Bytes>);

impl Snapshot {
    /// Keeps `row` as the last known row.
    pub(crate) fn set(&mut self, row: Vec<u8>) {
        self.0 = Some(Bytes::from(row));
    }

    /// Keeps `buffer[start..]` as the last known row, sharing the buffer it
    /// arrived in (a cache value starts with a header, which `start` skips):
    /// keeping it copies nothing.
    pub(crate) fn set_from(&mut self, mut buffer: Bytes, start: usize) {
        buffer.advance(start.min(buffer.len()));
        self.0 = Some(buffer);
    }

    pub(crate) fn row(&self) -> Option<&[u8]> {
        self.0.as_deref()
    }
}

impl PartialEq for Snapshot {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row() {
            Some(row) => write!(f, "Snapshot({} bytes)", row.len()),
            None => f.write_str("Snapshot(none)"),
        }
    }
}

/// A typed handle on one column of model `M` holding values of type `V`, such as
/// `User::EMAIL`. Generated by `#[derive(Thing)]` for every column.
///
/// ```
/// use thing::{BaseModel, Column, Thing};
///
/// #[derive(Thing, Default)]
/// struct User {
///     #[thing(base)]
///     base: BaseModel,
///     #[thing(column = "mail")]
///     email: String,
/// }
/// let email: Column<User, String> = User::EMAIL;
/// assert_eq!(email.name(), "mail");
/// assert_eq!(User::ID.name(), "id");
/// ```
pub struct Column<M, V> {
    index: usize,
    name: &'static str,
    _types: PhantomData<fn() -> (M, V)>,
}

impl<M, V> Column<M, V> {
    #[doc(hidden)]
    pub const fn new(index: usize, name: &'static str) -> Self {
        Self {
            index,
            name,
            _types: PhantomData,
        }
    }

    /// The column name in the database.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The position of the column in [`Thing::COLUMNS`](crate::Thing::COLUMNS).
    pub const fn index(&self) -> usize {
        self.index
    }
}

impl<M, V> Clone for Column<M, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M, V> Copy for Column<M, V> {}

impl<M, V> fmt::Debug for Column<M, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Column").field(&self.name).finish()
    }
}

/// What the setters of [`Schema`] take, so that only Thing calls them: code
/// outside it cannot make one. A model's id, base, version and snapshot
/// change only through Thing's reads and writes, which keep the cache right.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Sealed(());

impl Sealed {
    /// The one way to make one, inside Thing.
    pub(crate) const fn new() -> Self {
        Self(())
    }
}

/// The compile-time description of a model that the runtime works from,
/// implemented by `#[derive(Thing)]` together with [`Thing`](crate::Thing). Never
/// implement it by hand: the hidden items are the derive's and may change.
///
/// Its public items (`TABLE_NAME`, `COLUMN_DEFS`, `MODEL_META`, `SHAPE_HASH`,
/// `row_id`, `row_bytes`, `from_row_bytes`) are `Thing`'s `TABLE`, `COLUMNS`,
/// `META`, `SCHEMA_HASH`, `id`, `encode_row` and `decode_row` under names of
/// their own, so that code generic over `T: Thing`, which sees both traits,
/// names each item once (`ui-pass/generic_helpers.rs`). Bounds such as
/// `Db::create_table::<T: Schema>` accept every model.
///
/// ```
/// use thing::Schema;
/// # use thing::Thing;
/// #[derive(Thing, Default)]
/// struct Item { id: i64, name: String }
///
/// fn table_of<T: Schema>() -> &'static str {
///     T::TABLE_NAME
/// }
/// assert_eq!(table_of::<Item>(), "items");
/// ```
pub trait Schema: Sized + Send + Sync + 'static + ModelIoAll {
    /// The table name.
    const TABLE_NAME: &'static str;
    /// The DDL of the join tables of the model's `many_to_many` relations,
    /// which `create_table` creates with the model's own table.
    #[doc(hidden)]
    const JOIN_TABLES: &'static [JoinTableSql] = &[];
    /// Whether the model implements its own [`Hooks`](crate::Hooks)
    /// (`#[thing(hooks)]`); the writes call them only then.
    const HOOKS: bool = false;
    /// Every column, in declaration order.
    const COLUMN_DEFS: &'static [ColumnDef];
    /// Where the id, timestamps and soft-delete flag are.
    const MODEL_META: ModelMeta;
    /// A hash of the column names and types: it changes when the struct does, so
    /// cached rows of an older shape are never decoded as this one.
    const SHAPE_HASH: u64;

    /// The primary key (0 before the first save).
    fn row_id(&self) -> i64;

    /// The row's bytes: every column in order (see [`crate::schema::codec`]).
    fn row_bytes(&self) -> Vec<u8>;

    /// Appends the row's bytes to `writer` (what [`Schema::row_bytes`]
    /// returns).
    #[doc(hidden)]
    fn write_row(&self, writer: &mut crate::schema::codec::RowWriter);

    /// A model from row bytes; `None` when they do not decode.
    fn from_row_bytes(bytes: &[u8]) -> Option<Self>;

    /// Sets the id (after an `INSERT`). Thing's own: only it has a
    /// [`Sealed`].
    #[doc(hidden)]
    fn set_id(&mut self, id: i64, sealed: Sealed);
    #[doc(hidden)]
    fn base(&self) -> Option<&BaseModel>;
    /// The `#[thing(base)]` field, to set its timestamps. Thing's own.
    #[doc(hidden)]
    fn base_mut(&mut self, sealed: Sealed) -> Option<&mut BaseModel>;
    #[doc(hidden)]
    fn is_deleted(&self) -> bool;
    #[doc(hidden)]
    fn value(&self, column: usize) -> Value;
    #[doc(hidden)]
    fn snapshot(&self) -> Option<&Snapshot>;

    /// The `#[thing(version)]` field, if the model has one, to bump it.
    /// Thing's own.
    #[doc(hidden)]
    fn version_mut(&mut self, sealed: Sealed) -> Option<&mut i64> {
        let _ = sealed;
        None
    }
    /// The snapshot, to set it to the row as read or saved. Thing's own.
    #[doc(hidden)]
    fn snapshot_mut(&mut self, sealed: Sealed) -> Option<&mut Snapshot>;
    #[doc(hidden)]
    fn statements() -> &'static StatementCache;
}
