//! [`Query`]: the builder of a list query (its filters, order and soft-delete
//! rule). Running it is `read/run.rs`'s; its SQL is `sql/select.rs`'s.

pub(crate) mod cursor;
pub(crate) mod filter;
pub(crate) mod keyset;
pub(crate) mod merge;
pub(crate) mod update;

use crate::query::filter::{CmpOp, Expr, Filter, Order};
use crate::schema::Schema;
use crate::value::Value;
use std::marker::PhantomData;

/// A list query on model `M`, from [`Thing::query`](crate::Thing::query). Build it with
/// [`filter`](Self::filter), [`order_by`](Self::order_by) and friends, then run it
/// with [`fetch`](Self::fetch), [`all`](Self::all), [`first`](Self::first),
/// [`count`](Self::count) or [`ids`](Self::ids) on any executor.
///
/// Rows come in the given order, then by id, so pages are stable. Soft-deleted
/// rows are left out unless [`include_deleted`](Self::include_deleted).
///
/// ```
/// use thing::{BaseModel, Db, Thing};
///
/// #[derive(Thing, Debug, Clone, Default)]
/// struct User { #[thing(base)] base: BaseModel, name: String, age: i32 }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// db.create_table::<User>().await?;
/// for (name, age) in [("Ann", 31), ("Bob", 17), ("Abe", 45)] {
///     User { name: name.into(), age, ..Default::default() }.save(&db).await?;
/// }
/// let adults = User::query()
///     .filter(User::AGE.ge(18) & User::NAME.like("A%"))
///     .order_by(User::AGE.desc());
/// let names: Vec<String> = adults.all(&db).await?.into_iter().map(|u| u.name).collect();
/// assert_eq!(names, ["Abe", "Ann"]);
/// assert_eq!(adults.count(&db).await?, 2);
/// assert_eq!(adults.fetch(&db, 1, 10).await?.len(), 1);
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
pub struct Query<M> {
    filters: Vec<Expr>,
    order: Vec<(usize, bool)>,
    include_deleted: bool,
    /// Other tables raw SQL reads (see [`Query::reads`]).
    reads: Vec<&'static str>,
    /// How many ids of its list the cache keeps, when not the `Db`'s
    /// `list_window` (relation lists keep more).
    window: Option<usize>,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Query<M> {
    fn clone(&self) -> Self {
        Self {
            filters: self.filters.clone(),
            order: self.order.clone(),
            include_deleted: self.include_deleted,
            reads: self.reads.clone(),
            window: self.window,
            _model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Query<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("filters", &self.filters)
            .field("order", &self.order)
            .field("include_deleted", &self.include_deleted)
            .field("reads", &self.reads)
            .finish()
    }
}

impl<M: Schema> Query<M> {
    pub(crate) fn new() -> Self {
        Self {
            filters: Vec::new(),
            order: Vec::new(),
            include_deleted: false,
            reads: Vec::new(),
            window: None,
            _model: PhantomData,
        }
    }

    /// Keeps only rows matching `filter` (several calls: all must match).
    pub fn filter(mut self, filter: Filter<M>) -> Self {
        self.filters.push(filter.expr);
        self
    }

    /// Keeps only rows matching a SQL fragment, with `?` placeholders bound to
    /// `args` in order. A `?` inside a string literal or a quoted identifier is
    /// text; the others must be exactly as many as the arguments, or running the
    /// query fails with [`Error::InvalidInput`](crate::Error::InvalidInput)
    /// before any SQL is sent. The fragment is
    /// inserted as written: never build it from user input; bind values
    /// instead. Thing cannot tell which rows such a condition selects, so any
    /// write to the table drops this query's cached lists; when the fragment
    /// reads other tables (a subquery), name them with [`Query::reads`] so that
    /// their writes drop it too. A fragment holding `SELECT`, `FROM` or `JOIN`
    /// outside quotes with no table named this way is never cached: its
    /// lists are read from SQL every time (its rows still come from the
    /// object cache).
    ///
    /// ```
    /// # use thing::{BaseModel, Thing};
    /// # #[derive(Thing, Default)] struct User { #[thing(base)] base: BaseModel, name: String }
    /// let query = User::query().where_raw("lower(name) = ?", ["ann".into()]);
    /// # let _ = query;
    /// ```
    pub fn where_raw(
        mut self,
        sql: impl Into<String>,
        args: impl IntoIterator<Item = Value>,
    ) -> Self {
        self.filters.push(Expr::Raw {
            sql: sql.into(),
            args: args.into_iter().collect(),
        });
        self
    }

    /// Declares that the query's raw SQL ([`Query::where_raw`]) reads the table
    /// of `O` too, so that every write to `O` also drops its cached lists.
    ///
    /// ```
    /// # use thing::{BaseModel, Thing};
    /// # #[derive(Thing, Default)] struct User { #[thing(base)] base: BaseModel, name: String }
    /// # #[derive(Thing, Default)] struct Ban { #[thing(base)] base: BaseModel, user_id: i64 }
    /// let not_banned = User::query()
    ///     .where_raw("id NOT IN (SELECT user_id FROM bans)", [])
    ///     .reads::<Ban>();
    /// # let _ = not_banned;
    /// ```
    pub fn reads<O: Schema>(mut self) -> Self {
        if !self.reads.contains(&O::TABLE_NAME) {
            self.reads.push(O::TABLE_NAME);
        }
        self
    }

    /// The other tables raw SQL reads, as declared with [`Query::reads`].
    /// Caches up to `ids` ids of this query's list instead of the `Db`'s
    /// `list_window`. Readers with another window share the list: whether it
    /// is complete is stored with it.
    pub(crate) fn with_window(mut self, ids: usize) -> Self {
        self.window = Some(ids);
        self
    }

    /// The window of [`Query::with_window`], if set.
    pub(crate) fn window(&self) -> Option<usize> {
        self.window
    }

    pub(crate) fn read_tables(&self) -> &[&'static str] {
        &self.reads
    }

    /// Whether the query's raw SQL may read tables it did not declare with
    /// [`Query::reads`]: its lists are then never cached, since no stamp
    /// would tell them that those tables changed.
    pub(crate) fn reads_undeclared_tables(&self) -> bool {
        self.reads.is_empty() && self.filters.iter().any(Expr::raw_reads_tables)
    }

    /// Sorts by `order`; call again for the next key. Ties end by id.
    pub fn order_by(mut self, order: Order<M>) -> Self {
        self.order.push((order.column, order.descending));
        self
    }

    /// Includes soft-deleted rows.
    pub fn include_deleted(mut self) -> Self {
        self.include_deleted = true;
        self
    }

    /// The whole condition: the filters and the soft-delete rule.
    pub(crate) fn expr(&self) -> Expr {
        let mut parts = self.filters.clone();
        if let (Some(deleted), false) = (M::MODEL_META.deleted, self.include_deleted) {
            parts.push(Expr::Cmp {
                column: deleted,
                op: CmpOp::Eq,
                value: Value::Bool(false),
            });
        }
        Expr::And(parts).simplify()
    }

    /// The sort keys, ending with the id.
    pub(crate) fn sort_keys(&self) -> Vec<(usize, bool)> {
        let mut keys = Vec::with_capacity(self.order.len() + 1);
        for &(column, descending) in &self.order {
            if !keys.iter().any(|&(seen, _)| seen == column) {
                keys.push((column, descending));
            }
        }
        if !keys.iter().any(|&(column, _)| column == M::MODEL_META.id) {
            keys.push((M::MODEL_META.id, false));
        }
        keys
    }

    /// The query sorted by `keys` instead (a walk backwards reverses them).
    pub(crate) fn with_order(mut self, keys: Vec<(usize, bool)>) -> Self {
        self.order = keys;
        self
    }

    /// The query with one more condition (a keyset page's place).
    pub(crate) fn with_condition(mut self, condition: Expr) -> Self {
        self.filters.push(condition);
        self
    }

    /// Whether the query can match no row (and so needs no SQL).
    pub(crate) fn matches_nothing(&self) -> bool {
        self.expr() == Expr::Const(false)
    }
}
