//! Eager loading: the [`Preload`] trait every relation implements, nesting
//! ([`Nested`]), several relations at once (tuples), [`preload`] on rows in
//! hand, and [`Query::preload`]. Each relation level costs the same number of
//! statements whatever the number of parents, and none once cached.

use crate::db::executor::Executor;
use crate::error::{Error, Result};
use crate::model::Thing;
use crate::query::Query;
use crate::query::filter::Expr;
use crate::read::fetch::take_snapshot;
use crate::schema::Schema;
use crate::value::Value;
use foldhash::{HashMap, HashMapExt};
use std::future::Future;

/// How many ids of a relation's list the cache keeps (a `Db`'s lists keep
/// its `list_window`, 200 by default): a parent's children, or a preload's,
/// are read from the cache whole up to this many.
pub(crate) const RELATION_WINDOW: usize = 10_000;

/// A relation, or several, that can be loaded into many parents at once.
/// Implemented by the relation handles the derive generates (`User::POSTS`),
/// by [`Nested`] (`User::POSTS.then(Post::COMMENTS)`) and by tuples of them
/// (`(User::POSTS, User::ROLES)`).
pub trait Preload<P>: Send + Sync {
    /// Loads the relation into every parent's holder.
    #[doc(hidden)]
    fn preload<'a, E: Executor + ?Sized>(
        &'a self,
        executor: &'a E,
        parents: &'a mut [&mut P],
    ) -> impl Future<Output = Result<()>> + Send + 'a;
}

/// A relation whose loaded rows can have relations of their own loaded.
#[doc(hidden)]
pub trait Related<P>: Preload<P> {
    /// The related model.
    type Child: Thing;

    /// The rows loaded into `parent`'s holder.
    fn children<'p>(&self, parent: &'p mut P) -> Vec<&'p mut Self::Child>;
}

/// `first`, then `next` on every row `first` loaded: users → posts →
/// comments. Built with the `then` method of a relation.
#[derive(Debug, Clone)]
pub struct Nested<A, B> {
    first: A,
    next: B,
}

impl<A, B> Nested<A, B> {
    pub(crate) fn new(first: A, next: B) -> Self {
        Self { first, next }
    }
}

impl<P, A, B> Preload<P> for Nested<A, B>
where
    P: Send + Sync,
    A: Related<P>,
    B: Preload<A::Child>,
{
    async fn preload<'a, E: Executor + ?Sized>(
        &'a self,
        executor: &'a E,
        parents: &'a mut [&mut P],
    ) -> Result<()> {
        self.first.preload(executor, parents).await?;
        let mut children: Vec<&mut A::Child> = parents
            .iter_mut()
            .flat_map(|parent| self.first.children(parent))
            .collect();
        self.next.preload(executor, &mut children).await
    }
}

impl<P, A, B> Preload<P> for (A, B)
where
    P: Send + Sync,
    A: Preload<P>,
    B: Preload<P>,
{
    async fn preload<'a, E: Executor + ?Sized>(
        &'a self,
        executor: &'a E,
        parents: &'a mut [&mut P],
    ) -> Result<()> {
        self.0.preload(executor, parents).await?;
        self.1.preload(executor, parents).await
    }
}

/// Loads `relation` into every row of `items`, with a fixed number of
/// statements per relation level whatever the number of rows (none when
/// cached).
///
/// ```
/// # use thing::{BaseModel, Db, HasMany, Thing};
/// #[derive(Thing, Debug, Default)]
/// struct User {
///     #[thing(base)]
///     base: BaseModel,
///     #[thing(has_many(Post, fk = "user_id"))]
///     posts: HasMany<Post>,
/// }
/// #[derive(Thing, Debug, Default)]
/// struct Post { #[thing(base)] base: BaseModel, #[thing(index)] user_id: i64 }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let db = Db::connect("sqlite::memory:").await?;
/// # db.create_table::<User>().await?;
/// # db.create_table::<Post>().await?;
/// let mut users = vec![User::default(), User::default()];
/// User::save_many(&db, &mut users).await?;
/// Post { user_id: users[0].base.id, ..Default::default() }.save(&db).await?;
///
/// thing::preload(&db, &mut users, &User::POSTS).await?;
/// assert_eq!(users[0].posts.get()?.len(), 1);
/// assert!(users[1].posts.get()?.is_empty());
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
pub async fn preload<P, R, E>(executor: &E, items: &mut [P], relation: &R) -> Result<()>
where
    P: Send + Sync,
    R: Preload<P>,
    E: Executor + ?Sized,
{
    let mut parents: Vec<&mut P> = items.iter_mut().collect();
    relation.preload(executor, &mut parents).await
}

/// A list query whose rows get `relation` preloaded: from
/// [`Query::preload`].
#[derive(Debug, Clone)]
pub struct Preloading<M, R> {
    query: Query<M>,
    relation: R,
}

impl<M: Thing> Query<M> {
    /// Preloads `relation` (a handle such as `User::POSTS`, nested with
    /// `then`) into every row this query returns.
    ///
    /// ```
    /// # use thing::{BaseModel, Db, HasMany, Thing};
    /// # #[derive(Thing, Debug, Default)]
    /// # struct User { #[thing(base)] base: BaseModel, #[thing(has_many(Post, fk = "user_id"))] posts: HasMany<Post> }
    /// # #[derive(Thing, Debug, Default)]
    /// # struct Post { #[thing(base)] base: BaseModel, #[thing(index)] user_id: i64, title: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = Db::connect("sqlite::memory:").await?;
    /// # db.create_table::<User>().await?;
    /// # db.create_table::<Post>().await?;
    /// # let mut ann = User::default();
    /// # ann.save(&db).await?;
    /// # Post { user_id: ann.base.id, title: "b".into(), ..Default::default() }.save(&db).await?;
    /// # Post { user_id: ann.base.id, title: "a".into(), ..Default::default() }.save(&db).await?;
    /// let users = User::query()
    ///     .preload(User::POSTS.order_by(Post::TITLE.asc()))
    ///     .all(&db)
    ///     .await?;
    /// let titles: Vec<&str> = users[0].posts.get()?.iter().map(|p| p.title.as_str()).collect();
    /// assert_eq!(titles, ["a", "b"]);
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn preload<R: Preload<M>>(self, relation: R) -> Preloading<M, R> {
        Preloading {
            query: self,
            relation,
        }
    }
}

impl<M: Thing, R: Preload<M>> Preloading<M, R> {
    /// Preloads `next` too.
    pub fn preload<N: Preload<M>>(self, next: N) -> Preloading<M, (R, N)> {
        Preloading {
            query: self.query,
            relation: (self.relation, next),
        }
    }

    /// Every matching row, with the relations loaded.
    pub async fn all<E: Executor + ?Sized>(&self, executor: &E) -> Result<Vec<M>> {
        let mut rows = self.query.all(executor).await?;
        preload(executor, &mut rows, &self.relation).await?;
        Ok(rows)
    }

    /// Up to `limit` rows from position `offset`, with the relations loaded.
    pub async fn fetch<E: Executor + ?Sized>(
        &self,
        executor: &E,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<M>> {
        let mut rows = self.query.fetch(executor, offset, limit).await?;
        preload(executor, &mut rows, &self.relation).await?;
        Ok(rows)
    }

    /// The first matching row, with the relations loaded.
    pub async fn first<E: Executor + ?Sized>(&self, executor: &E) -> Result<Option<M>> {
        let mut rows: Vec<M> = self.query.first(executor).await?.into_iter().collect();
        preload(executor, &mut rows, &self.relation).await?;
        Ok(rows.pop())
    }
}

/// What a preload asks for: the parents' ids in their order, the same ids
/// sorted and distinct, and those in an `IN` on `column` (the related rows'
/// key, or the join table's).
pub(crate) fn parent_ids<P: Schema>(
    parents: &[&mut P],
    column: usize,
) -> (Vec<i64>, Vec<i64>, Expr) {
    let keys: Vec<i64> = parents.iter().map(|parent| parent.row_id()).collect();
    let mut ids = keys.clone();
    ids.sort_unstable();
    ids.dedup();
    let within = Expr::In {
        column,
        values: ids.iter().map(|&id| Value::Int(id)).collect(),
        negated: false,
    };
    (keys, ids, within)
}

/// Values by key, handed to the parents that want them: a copy (through the
/// row's bytes) while more parents will want the same value, the value itself
/// to the last.
pub(crate) struct Shares<V> {
    values: HashMap<i64, (V, usize)>,
    copy: fn(&V) -> Result<V>,
}

impl<T: Schema> Shares<T> {
    /// Rows by id.
    pub fn new(
        values: impl IntoIterator<Item = (i64, T)>,
        wanted: impl IntoIterator<Item = i64>,
    ) -> Self {
        Self::with_copy(values, wanted, copy_row)
    }
}

impl<T: Schema> Shares<Vec<T>> {
    /// Lists of rows by parent id.
    pub fn of_lists(
        values: impl IntoIterator<Item = (i64, Vec<T>)>,
        wanted: impl IntoIterator<Item = i64>,
    ) -> Self {
        Self::with_copy(values, wanted, |rows| rows.iter().map(copy_row).collect())
    }
}

impl<V> Shares<V> {
    fn with_copy(
        values: impl IntoIterator<Item = (i64, V)>,
        wanted: impl IntoIterator<Item = i64>,
        copy: fn(&V) -> Result<V>,
    ) -> Self {
        let mut uses: HashMap<i64, usize> = HashMap::new();
        for key in wanted {
            *uses.entry(key).or_default() += 1;
        }
        let values = values
            .into_iter()
            .filter_map(|(key, value)| uses.get(&key).map(|&uses| (key, (value, uses))))
            .collect();
        Self { values, copy }
    }

    /// The value of `key` for one of the parents that want it.
    pub fn take(&mut self, key: i64) -> Result<Option<V>> {
        match self.values.get_mut(&key) {
            None => Ok(None),
            Some((value, uses)) if *uses > 1 => {
                *uses -= 1;
                (self.copy)(value).map(Some)
            }
            Some(_) => Ok(self.values.remove(&key).map(|(value, _)| value)),
        }
    }
}

/// A copy of `row` made from its bytes, with its snapshot, as if read again.
fn copy_row<T: Schema>(row: &T) -> Result<T> {
    let mut copy = T::from_row_bytes(&row.row_bytes()).ok_or_else(|| {
        Error::invalid_input(format_args!(
            "a row of `{}` did not decode from its own bytes",
            T::TABLE_NAME
        ))
    })?;
    take_snapshot(&mut copy);
    Ok(copy)
}
