//! The [`Thing`] trait that `#[derive(Thing)]` implements: what a model can do,
//! each operation delegating to the runtime below it.

use crate::db::executor::{Executor, slow_threshold};
use crate::db::transaction::Transaction;
use crate::error::Result;
use crate::observe::{self, Reads};
use crate::query::Query;
use crate::query::filter::Filter;
use crate::query::update::Update;
use crate::read::{fetch, store};
use crate::schema::{Column, ColumnDef, ModelMeta, Schema};
use crate::value::Numeric;
use crate::write;
use crate::write::change;
use crate::write::lifecycle::Hooks;
use std::future::Future;

/// A database-backed model. Implement it with `#[derive(Thing)]`, which also
/// implements [`Schema`], the description of the model the runtime works from:
/// every item of `Thing` has a default, the constants and `id`/`encode_row`/
/// `decode_row` taken from `Schema`, the operations delegating to the runtime.
///
/// ```
/// use thing::{BaseModel, Db, Thing};
///
/// #[derive(Thing, Debug, Clone, Default)]
/// #[thing(table = "people")]
/// struct Person {
///     #[thing(base)]
///     base: BaseModel,
///     #[thing(unique)]
///     email: String,
///     age: i32,
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// db.create_table::<Person>().await?;
///
/// let mut ann = Person { email: "ann@example.com".into(), age: 30, ..Default::default() };
/// ann.save(&db).await?;                       // INSERT
/// ann.age += 1;
/// ann.save(&db).await?;                       // UPDATE people SET age = ?, updated_at = ? ...
///
/// let again = Person::by_id(&db, ann.base.id).await?;
/// assert_eq!(again.age, 31);
/// again.delete(&db).await?;                   // soft delete: BaseModel has `deleted`
/// assert!(Person::by_id(&db, ann.base.id).await.unwrap_err().is_not_found());
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Thing model",
    label = "not a model",
    note = "derive it: `#[derive(Thing)] struct {Self} {{ ... }}`"
)]
pub trait Thing: Schema + Hooks {
    /// The table name.
    const TABLE: &'static str = <Self as Schema>::TABLE_NAME;
    /// Every column, in declaration order.
    const COLUMNS: &'static [ColumnDef] = <Self as Schema>::COLUMN_DEFS;
    /// Where the id, timestamps and soft-delete flag are.
    const META: ModelMeta = <Self as Schema>::MODEL_META;
    /// A hash of the column names and types: it changes when the struct does, so
    /// cached rows of an older shape are never decoded as this one.
    const SCHEMA_HASH: u64 = <Self as Schema>::SHAPE_HASH;

    /// The primary key (0 before the first save).
    fn id(&self) -> i64 {
        Schema::row_id(self)
    }

    /// The row's bytes: every column in order (see [`crate::schema::codec`]).
    fn encode_row(&self) -> Vec<u8> {
        Schema::row_bytes(self)
    }

    /// A model from row bytes; `None` when they do not decode.
    fn decode_row(bytes: &[u8]) -> Option<Self> {
        <Self as Schema>::from_row_bytes(bytes)
    }

    /// The names of the columns whose values differ between `self` and `other`.
    ///
    /// ```
    /// # use thing::Thing;
    /// #[derive(Thing, Clone, Default)]
    /// struct Item { id: i64, name: String, qty: i32 }
    /// let a = Item { id: 1, name: "pen".into(), qty: 1 };
    /// let b = Item { qty: 2, ..a.clone() };
    /// assert_eq!(a.changed_columns(&b), vec!["qty"]);
    /// ```
    fn changed_columns(&self, other: &Self) -> Vec<&'static str> {
        change::changed_column_names(self, other)
    }

    /// A list query on this model; see [`Query`](crate::Query).
    fn query() -> Query<Self> {
        Query::new()
    }

    /// An update of the row `id` that does not read it first; see
    /// [`Update`](crate::Update).
    ///
    /// ```
    /// # use thing::{BaseModel, Db, Thing};
    /// #[derive(Thing, Default)]
    /// struct Post { #[thing(base)] base: BaseModel, views: i64 }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = Db::connect("sqlite::memory:").await?;
    /// # db.create_table::<Post>().await?;
    /// # let mut post = Post::default();
    /// # post.save(&db).await?;
    /// Post::update(post.base.id).set(Post::VIEWS, 10).execute(&db).await?;
    /// assert_eq!(Post::by_id(&db, post.base.id).await?.views, 10);
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    fn update(id: i64) -> Update<Self> {
        Update::new(id)
    }

    /// Reads one row by id: from the cache when the executor is a
    /// [`Db`](crate::Db) with one (the default), from the database in a
    /// transaction.
    ///
    /// Fails with [`Error::NotFound`](crate::Error::NotFound) when there is no such
    /// row or it is soft-deleted.
    fn by_id<E: Executor + ?Sized>(
        executor: &E,
        id: i64,
    ) -> impl Future<Output = Result<Self>> + Send {
        observe::op!(
            "by_id",
            Reads::Rows,
            slow_threshold(executor),
            (table = <Self as Schema>::TABLE_NAME, id),
            store::by_id(executor, id)
        )
    }

    /// Reads one row by id inside `tx` and locks it until `tx` ends, so that
    /// no other transaction writes it (or locks it) in between: a
    /// read-modify-write that never loses another's update. `SELECT … FOR
    /// UPDATE` on PostgreSQL and MySQL; on SQLite, whose transactions take the
    /// database's write lock at `BEGIN`, the row is read under that lock. Read
    /// from the database, never from the cache; the cache follows `tx`'s
    /// writes at its commit.
    ///
    /// Fails with [`Error::NotFound`](crate::Error::NotFound) when there is no such
    /// row or it is soft-deleted.
    ///
    /// ```
    /// # use thing::{BaseModel, Db, Thing};
    /// #[derive(Thing, Debug, Default)]
    /// struct Account { #[thing(base)] base: BaseModel, balance: i64 }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = Db::connect("sqlite::memory:").await?;
    /// # db.create_table::<Account>().await?;
    /// # let mut account = Account::default();
    /// # account.save(&db).await?;
    /// # let id = account.base.id;
    /// let tx = db.begin().await?;
    /// let mut account = Account::by_id_for_update(&tx, id).await?; // locked until commit
    /// account.balance += 10;
    /// account.save(&tx).await?;
    /// tx.commit().await?;
    /// assert_eq!(Account::by_id(&db, id).await?.balance, 10);
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    fn by_id_for_update(tx: &Transaction, id: i64) -> impl Future<Output = Result<Self>> + Send {
        observe::op!(
            "by_id_for_update",
            Reads::Rows,
            slow_threshold(tx),
            (table = <Self as Schema>::TABLE_NAME, id),
            fetch::by_id_locked(tx, id)
        )
    }

    /// Reads many rows by id, in the order asked. Ids that do not exist (or are
    /// soft-deleted) are skipped; an id asked for twice is returned once, at its
    /// first position.
    ///
    /// Through a [`Db`](crate::Db) with a cache, for each chunk of 2 000 ids: one
    /// cache lookup, one SQL `IN` for those not cached (in batches of 500), one
    /// fill.
    fn by_ids<E: Executor + ?Sized>(
        executor: &E,
        ids: &[i64],
    ) -> impl Future<Output = Result<Vec<Self>>> + Send {
        observe::op!(
            "by_ids",
            Reads::Rows,
            slow_threshold(executor),
            (table = <Self as Schema>::TABLE_NAME, ids = ids.len()),
            store::by_ids(executor, ids)
        )
    }

    /// Inserts the row when its id is 0 (filling the id and, with [`BaseModel`](crate::BaseModel),
    /// the timestamps), otherwise updates the columns that changed since it was
    /// read or last saved. Nothing changed: no SQL at all.
    fn save<'a, E: Executor + ?Sized>(
        &'a mut self,
        executor: &'a E,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        observe::op!(
            "save",
            Reads::Write,
            slow_threshold(executor),
            (
                table = <Self as Schema>::TABLE_NAME,
                id = Schema::row_id(self)
            ),
            write::save(executor, self)
        )
    }

    /// Deletes the row: a soft delete (`deleted = true`) when the model has a
    /// `deleted` column, otherwise a real `DELETE`.
    fn delete<'a, E: Executor + ?Sized>(
        &'a self,
        executor: &'a E,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        observe::op!(
            "delete",
            Reads::Write,
            slow_threshold(executor),
            (
                table = <Self as Schema>::TABLE_NAME,
                id = Schema::row_id(self)
            ),
            write::delete::<Self, E>(executor, self, false)
        )
    }

    /// Deletes the row with `DELETE`, even when the model supports soft delete.
    fn delete_hard<'a, E: Executor + ?Sized>(
        &'a self,
        executor: &'a E,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        observe::op!(
            "delete_hard",
            Reads::Write,
            slow_threshold(executor),
            (
                table = <Self as Schema>::TABLE_NAME,
                id = Schema::row_id(self)
            ),
            write::delete::<Self, E>(executor, self, true)
        )
    }

    /// Brings a soft-deleted row back (`deleted = false`): `by_id` finds it
    /// again, and so does every query it matches, through every handle and
    /// process sharing the cache. Restoring a row that is not deleted changes
    /// nothing but its `updated_at`. Fails with
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) on a model without
    /// a `deleted` column, and with [`Error::NotFound`](crate::Error::NotFound)
    /// when the row does not exist.
    ///
    /// ```
    /// # use thing::{BaseModel, Db, Thing};
    /// #[derive(Thing, Debug, Default)]
    /// struct Post { #[thing(base)] base: BaseModel, title: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = Db::connect("sqlite::memory:").await?;
    /// # db.create_table::<Post>().await?;
    /// let mut post = Post { title: "draft".into(), ..Default::default() };
    /// post.save(&db).await?;
    /// post.delete(&db).await?;
    /// assert!(Post::by_id(&db, post.base.id).await.unwrap_err().is_not_found());
    /// post.restore(&db).await?;
    /// assert_eq!(Post::by_id(&db, post.base.id).await?.title, "draft");
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    fn restore<'a, E: Executor + ?Sized>(
        &'a self,
        executor: &'a E,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        observe::op!(
            "restore",
            Reads::Write,
            slow_threshold(executor),
            (
                table = <Self as Schema>::TABLE_NAME,
                id = Schema::row_id(self)
            ),
            write::restore::<Self, E>(executor, self)
        )
    }

    /// Saves every item in one transaction: all are written, or none.
    fn save_many<'a, E: Executor + ?Sized>(
        executor: &'a E,
        items: &'a mut [Self],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        observe::op!(
            "save_many",
            Reads::Write,
            slow_threshold(executor),
            (table = <Self as Schema>::TABLE_NAME, rows = items.len()),
            write::save_many(executor, items)
        )
    }

    /// Adds `delta` to a numeric column of row `id`, atomically in SQL
    /// (`SET views = views + ?`), and keeps the cache right: the row and every
    /// cached list that reads the column are dropped after the write commits.
    ///
    /// ```
    /// # use thing::{BaseModel, Db, Thing};
    /// #[derive(Thing, Default)]
    /// struct Post { #[thing(base)] base: BaseModel, views: i64 }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = Db::connect("sqlite::memory:").await?;
    /// # db.create_table::<Post>().await?;
    /// let mut post = Post::default();
    /// post.save(&db).await?;
    /// Post::incr(&db, post.base.id, Post::VIEWS, 1).await?;
    /// Post::incr(&db, post.base.id, Post::VIEWS, 2).await?;
    /// assert_eq!(Post::by_id(&db, post.base.id).await?.views, 3);
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    fn incr<E: Executor + ?Sized, V: Numeric>(
        executor: &E,
        id: i64,
        column: Column<Self, V>,
        delta: V,
    ) -> impl Future<Output = Result<()>> + Send {
        observe::op!(
            "incr",
            Reads::Write,
            slow_threshold(executor),
            (
                table = <Self as Schema>::TABLE_NAME,
                id,
                column = <Self as Schema>::COLUMN_DEFS[column.index()].name
            ),
            write::incr::<Self, E>(executor, id, column.index(), delta.to_value()),
        )
    }

    /// Finds the first row matching `filter` and applies `apply` to it, or, when
    /// there is none, applies `apply` to `Self::default()`; then saves it, all in
    /// one transaction. Returns the row and whether it was created.
    ///
    /// Concurrent callers on one filter end with one row when a unique index
    /// covers the filter's columns: a caller whose insert loses to another's
    /// (a unique violation) runs again, in a new transaction, where it finds
    /// that row and updates it, so `apply` may run twice (once on a default
    /// row that is thrown away). Inside a transaction you pass in, the
    /// violation is returned instead (the transaction cannot go on). Without
    /// such an index, two callers at once can both create a row. On SQLite,
    /// where writers take turns, a concurrent caller may get the database's
    /// busy error instead.
    ///
    /// ```
    /// # use thing::{BaseModel, Db, Thing};
    /// #[derive(Thing, Default)]
    /// struct User { #[thing(base)] base: BaseModel, #[thing(unique)] email: String, name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = Db::connect("sqlite::memory:").await?;
    /// # db.create_table::<User>().await?;
    /// let set_name = |name: &'static str| move |user: &mut User| {
    ///     user.email = "ann@example.com".into();
    ///     user.name = name.into();
    /// };
    /// let email = || User::EMAIL.eq("ann@example.com");
    /// let (ann, created) = User::update_or_create(&db, email(), set_name("Ann")).await?;
    /// assert!(created);
    /// let (ann2, created) = User::update_or_create(&db, email(), set_name("Annie")).await?;
    /// assert!(!created);
    /// assert_eq!((ann2.base.id, ann2.name.as_str()), (ann.base.id, "Annie"));
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    fn update_or_create<'a, E, F>(
        executor: &'a E,
        filter: Filter<Self>,
        apply: F,
    ) -> impl Future<Output = Result<(Self, bool)>> + Send + 'a
    where
        Self: Default,
        E: Executor + ?Sized,
        F: FnMut(&mut Self) + Send + 'a,
    {
        observe::op!(
            "update_or_create",
            Reads::Write,
            slow_threshold(executor),
            (table = <Self as Schema>::TABLE_NAME),
            write::update_or_create(executor, filter, apply)
        )
    }

    /// Deletes every item (as [`Thing::delete`] does) in one transaction.
    fn delete_many<'a, E: Executor + ?Sized>(
        executor: &'a E,
        items: &'a [Self],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        observe::op!(
            "delete_many",
            Reads::Write,
            slow_threshold(executor),
            (table = <Self as Schema>::TABLE_NAME, rows = items.len()),
            write::delete_many(executor, items)
        )
    }
}
