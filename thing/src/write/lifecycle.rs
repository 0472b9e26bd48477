//! [`Hooks`]: what a model does before and after its own writes (normalize a
//! field, refuse a value, feed another system), declared with
//! `#[thing(hooks)]` and an `impl Hooks`.

use crate::db::executor::Executor;
use crate::db::handle::Db;
use std::future::Future;

/// The error a hook returns: any error, boxed (`"reason".into()` works too).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The lifecycle hooks of a model. Every method has a no-op default, so an
/// impl overrides only the hooks it needs.
///
/// Without `#[thing(hooks)]`, `#[derive(Thing)]` implements `Hooks` itself
/// with the defaults, and the writes never call them: a model without hooks
/// costs nothing. With `#[thing(hooks)]`, write the impl yourself.
///
/// **When they run.** `save` of a new row (id 0): `before_save`,
/// `before_create`, the `INSERT`, then `after_create`, `after_save`. `save` of
/// a stored row: `before_save`, the `UPDATE` (none when nothing changed), then
/// `after_save`. `delete` and `delete_hard`: `before_delete`, the statement,
/// then `after_delete`. `save_many`, `delete_many` and `update_or_create` run
/// the hooks of every row they save or delete. `restore` and `incr` run no
/// model hooks (they have no value in hand); the `Db`'s write listeners
/// ([`DbBuilder::on_write`](crate::DbBuilder::on_write)) see them.
///
/// **Before-hooks** run first, with the executor of the write (the
/// transaction, inside one), so they can read or write through it. One that
/// returns an error stops the operation: nothing is written to the database
/// or the cache, and the caller gets [`Error::Hook`](crate::Error::Hook) with
/// that error as its source. Changes a before-hook made to the value stay.
///
/// **After-hooks** run once the write has committed and the cache has been
/// updated, after the `Db`'s write listeners, and get the [`Db`]. They cannot
/// undo the write, so they return nothing: handle their failures inside. A
/// write inside a transaction runs them after its `COMMIT`, on a copy of the
/// row's columns as written (fields marked `skip` hold their default), and
/// never when the transaction is rolled back.
///
/// A hook of `T` that saves another `T` makes `save`'s future contain itself:
/// box that inner call (`Box::pin(other.save(executor)).await`).
///
/// ```
/// use thing::{BaseModel, BoxError, Db, Error, Executor, Hooks, Thing};
///
/// #[derive(Thing, Debug, Default)]
/// #[thing(hooks)]
/// struct Account {
///     #[thing(base)]
///     base: BaseModel,
///     email: String,
/// }
///
/// impl Hooks for Account {
///     async fn before_save(&mut self, _: &dyn Executor) -> Result<(), BoxError> {
///         self.email = self.email.trim().to_lowercase();
///         if !self.email.contains('@') {
///             return Err(format!("`{}` is not an email address", self.email).into());
///         }
///         Ok(())
///     }
///
///     async fn after_create(&self, _: &Db) {
///         println!("welcome, {}", self.email);
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// db.create_table::<Account>().await?;
///
/// let mut ann = Account { email: " Ann@Example.com ".into(), ..Default::default() };
/// ann.save(&db).await?;
/// assert_eq!(Account::by_id(&db, ann.base.id).await?.email, "ann@example.com");
///
/// let mut bad = Account { email: "nobody".into(), ..Default::default() };
/// let err = bad.save(&db).await.unwrap_err();
/// assert!(matches!(err, Error::Hook { hook: "before_save", .. }));
/// assert_eq!(Account::query().count(&db).await?, 1); // nothing was written
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` declares `#[thing(hooks)]` but does not implement `thing::Hooks`",
    label = "no `impl thing::Hooks for {Self}`",
    note = "write `impl thing::Hooks for {Self} {{ ... }}` with the hooks you need, or remove `#[thing(hooks)]`"
)]
pub trait Hooks: Sized + Send + Sync {
    /// Before every `save` (insert or update); may change the value.
    fn before_save(
        &mut self,
        executor: &dyn Executor,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = executor;
        async { Ok(()) }
    }

    /// Before the `INSERT` of a new row, after `before_save`; may change the
    /// value.
    fn before_create(
        &mut self,
        executor: &dyn Executor,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = executor;
        async { Ok(()) }
    }

    /// Before `delete` or `delete_hard`.
    fn before_delete(
        &self,
        executor: &dyn Executor,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = executor;
        async { Ok(()) }
    }

    /// After a new row was inserted and committed (its id is set), before
    /// `after_save`.
    fn after_create(&self, db: &Db) -> impl Future<Output = ()> + Send {
        let _ = db;
        async {}
    }

    /// After every successful `save`, including one that had nothing to write.
    fn after_save(&self, db: &Db) -> impl Future<Output = ()> + Send {
        let _ = db;
        async {}
    }

    /// After `delete` or `delete_hard` committed.
    fn after_delete(&self, db: &Db) -> impl Future<Output = ()> + Send {
        let _ = db;
        async {}
    }
}
