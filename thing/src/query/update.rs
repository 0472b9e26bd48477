//! [`Update`]: the builder of an update of one row by id, without reading it
//! first. Running it is `write/by_id.rs`'s.

use crate::error::{Error, Result};
use crate::schema::{Column, Schema};
use crate::value::{Operand, ToValue, Value};
use std::marker::PhantomData;

/// An update of the row with one id, from [`Thing::update`](crate::Thing::update):
/// `UPDATE … SET` the columns given to [`set`](Self::set) (and `updated_at`
/// and the version, when the model has them) `WHERE id = ?`, run with
/// [`execute`](Self::execute) on any executor. Nothing is read first, and no
/// hook runs, since there is no model in hand.
///
/// The cache is kept right as by [`Thing::save`](crate::Thing::save): the row
/// and every cached list the write can change are dropped after it commits.
///
/// ```
/// use thing::{BaseModel, Db, Thing};
///
/// #[derive(Thing, Debug, Default)]
/// struct Post { #[thing(base)] base: BaseModel, title: String, views: i64, note: Option<String> }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// db.create_table::<Post>().await?;
/// let mut post = Post { title: "draft".into(), ..Default::default() };
/// post.save(&db).await?;
///
/// Post::update(post.base.id)
///     .set(Post::VIEWS, 7)
///     .set(Post::TITLE, "final")
///     .set(Post::NOTE, None)
///     .execute(&db)
///     .await?;                      // UPDATE posts SET views = ?, title = ?, note = ?, updated_at = ? WHERE id = ?
/// let read = Post::by_id(&db, post.base.id).await?;
/// assert_eq!((read.views, read.title.as_str()), (7, "final"));
///
/// let gone = Post::update(post.base.id + 1).set(Post::VIEWS, 1).execute(&db).await;
/// assert!(gone.unwrap_err().is_not_found());
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
#[must_use = "an update does nothing until it is executed"]
pub struct Update<M> {
    id: i64,
    /// The columns to set and their values, each column once, in the order
    /// first given.
    sets: Vec<(usize, Value)>,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Update<M> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            sets: self.sets.clone(),
            _model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Update<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Update")
            .field("id", &self.id)
            .field("sets", &self.sets)
            .finish()
    }
}

impl<M: Schema> Update<M> {
    pub(crate) fn new(id: i64) -> Self {
        Self {
            id,
            sets: Vec::new(),
            _model: PhantomData,
        }
    }

    /// Sets `column` to `value`. Setting a column again replaces its value.
    /// JSON columns cannot be set this way (save the model instead).
    ///
    /// ```
    /// # use thing::{BaseModel, Thing};
    /// # #[derive(Thing, Default)] struct User { #[thing(base)] base: BaseModel, name: String, age: i32 }
    /// let update = User::update(1).set(User::NAME, "Ann").set(User::AGE, 31);
    /// # let _ = update;
    /// ```
    pub fn set<V: Operand + ToValue>(mut self, column: Column<M, V>, value: impl Into<V>) -> Self {
        let value = value.into().to_value();
        match self.sets.iter_mut().find(|(at, _)| *at == column.index()) {
            Some((_, old)) => *old = value,
            None => self.sets.push((column.index(), value)),
        }
        self
    }

    /// The id of the row to update.
    pub fn row_id(&self) -> i64 {
        self.id
    }

    /// What the statement writes, checked: the columns set, then `updated_at`
    /// (now) when the model has it and it was not set. The id and the version
    /// are not settable, and something must be set.
    pub(crate) fn assignments(&self, now: Value) -> Result<Vec<(usize, Value)>> {
        if self.sets.is_empty() {
            return Err(Error::invalid_input(format_args!(
                "update of {} {}: no column to set",
                M::TABLE_NAME,
                self.id
            )));
        }
        let managed = [Some(M::MODEL_META.id), M::MODEL_META.version];
        if let Some((column, _)) = self
            .sets
            .iter()
            .find(|(column, _)| managed.contains(&Some(*column)))
        {
            return Err(Error::invalid_input(format_args!(
                "update of {} {}: {} is not settable (Thing manages it)",
                M::TABLE_NAME,
                self.id,
                M::COLUMN_DEFS[*column].name
            )));
        }
        let mut sets = self.sets.clone();
        if let Some(updated_at) = M::MODEL_META.updated_at
            && !sets.iter().any(|(column, _)| *column == updated_at)
        {
            sets.push((updated_at, now));
        }
        Ok(sets)
    }
}
