//! [`Merge`]: several queries of one model and one order read as one feed,
//! paged by the same cursors as a single query (running it is
//! `read/page.rs`'s).

use crate::query::Query;
use crate::schema::Schema;

/// Queries of one model with the same order, read as one list: a k-way merge
/// of their pages with each row once (by id), from
/// [`Query::merge`]. Each part is read, and cached, as the query it is.
///
/// ```
/// use thing::{BaseModel, Db, Query, Thing};
///
/// #[derive(Thing, Debug, Clone, Default)]
/// struct Post { #[thing(base)] base: BaseModel, author: i64, pinned: bool }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// db.create_table::<Post>().await?;
/// for (author, pinned) in [(1, false), (2, true), (3, false), (1, true)] {
///     Post { author, pinned, ..Default::default() }.save(&db).await?;
/// }
/// let newest = Post::ID.desc();
/// let feed = Query::merge([
///     Post::query().filter(Post::AUTHOR.eq(1)).order_by(newest.clone()),
///     Post::query().filter(Post::PINNED.eq(true)).order_by(newest),
/// ]);
/// let page = feed.after(&db, None, 2).await?;
/// let ids: Vec<i64> = page.rows.iter().map(|post| post.base.id).collect();
/// assert_eq!(ids, [4, 2]);
/// let rest = feed.after(&db, page.next.as_ref(), 2).await?;
/// assert_eq!(rest.rows.len(), 1);
/// assert!(rest.next.is_none());
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
pub struct Merge<M> {
    pub(crate) parts: Vec<Query<M>>,
}

impl<M> Clone for Merge<M> {
    fn clone(&self) -> Self {
        Self {
            parts: self.parts.clone(),
        }
    }
}

impl<M> std::fmt::Debug for Merge<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merge").field("parts", &self.parts).finish()
    }
}

impl<M: Schema> Query<M> {
    /// The queries `parts` as one list, paged with [`Merge::after`] and
    /// [`Merge::before`]. They must have the same order, and an order Rust
    /// can compare rows by (integers, booleans, times, dates and the id:
    /// see [`Query::after`]); otherwise reading a page is
    /// [`Error::InvalidInput`](crate::Error::InvalidInput).
    pub fn merge(parts: impl IntoIterator<Item = Query<M>>) -> Merge<M> {
        Merge {
            parts: parts.into_iter().collect(),
        }
    }
}
