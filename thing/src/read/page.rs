//! Keyset pages: [`Query::after`], [`Query::before`] and the same for a
//! [`Merge`]. Through a `Db` with a cache, a page inside the query's seek
//! list (`read/seek.rs`) is a binary search there and the cached rows;
//! otherwise one statement with the place as its condition (`query/keyset.rs`).

use crate::cache::context::CacheContext;
use crate::cache::stamps::Stamp;
use crate::db::executor::{Executor, Target, slow_threshold};
use crate::db::handle::Db;
use crate::error::{Error, Result};
use crate::hash;
use crate::observe::{self, Reads};
use crate::query::Query;
use crate::query::cursor::{Cursor, Page};
use crate::query::keyset;
use crate::query::merge::Merge;
use crate::read::list::{Hint, HintedRows};
use crate::read::run::{self, ONE_STATE_ATTEMPTS};
use crate::read::seek::{self, SeekList};
use crate::read::{list, select, store};
use crate::schema::Schema;
use crate::value::Value;
use std::collections::HashSet;

/// A page read as the operation `$name` (span `thing.$name`, with the table
/// and the limit), on `$executor`.
macro_rules! page_op {
    ($name:literal, $executor:expr, $limit:expr, $work:expr) => {{
        let (slow, limit) = (slow_threshold($executor), $limit);
        observe::op!(
            $name,
            Reads::List,
            slow,
            (table = M::TABLE_NAME, limit),
            $work
        )
        .await
    }};
}

/// Which way a page goes from its place.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// The rows after the place.
    Forward,
    /// The rows before it.
    Backward,
}

/// A page's rows in the query's order, and whether a row lies beyond them
/// in the walk's direction.
struct Rows<M> {
    rows: Vec<M>,
    more: bool,
}

impl<M: Schema> Query<M> {
    /// Up to `limit` rows after `cursor` in the query's order (from the
    /// first row when `None`), with the cursors beside them: keyset
    /// pagination, which neither repeats nor skips rows when rows are
    /// inserted or deleted above the page, and costs the same at any depth.
    ///
    /// The order is the query's sort keys, then the id; NULLs come first
    /// going up and last going down, on every backend. A cursor holds the
    /// sort values of its row, so a page after it continues from there even
    /// when that row was deleted or changed since; a cursor of another query
    /// is [`Error::InvalidCursor`]. A cursor can be used in either
    /// direction.
    ///
    /// Through a [`Db`](crate::Db) with a cache, when the query is ordered by
    /// integers, booleans, times or dates (and the id), its first rows' ids
    /// and sort values (200 by default, as for [`fetch`](Self::fetch)) are
    /// cached, checked against the same stamps as its lists, and a page
    /// inside them is a binary search there plus the cached rows. Other
    /// pages, and every page of a query ordered by text, floats, bytes or
    /// UUIDs (whose order the database decides), are one statement:
    /// `WHERE <filters> AND <after the cursor> ORDER BY <keys> LIMIT <limit + 1>`.
    ///
    /// ```
    /// use thing::{BaseModel, Db, Thing};
    ///
    /// #[derive(Thing, Debug, Clone, Default)]
    /// struct Post { #[thing(base)] base: BaseModel, score: Option<i32> }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = Db::connect("sqlite::memory:").await?;
    /// db.create_table::<Post>().await?;
    /// for score in [Some(3), None, Some(7), Some(3), None] {
    ///     Post { score, ..Default::default() }.save(&db).await?;
    /// }
    /// let best = Post::query().order_by(Post::SCORE.desc());
    /// let first = best.after(&db, None, 2).await?;
    /// let ids = |page: &thing::Page<Post>| page.rows.iter().map(|p| p.base.id).collect::<Vec<_>>();
    /// assert_eq!(ids(&first), [3, 1]);
    /// let second = best.after(&db, first.next.as_ref(), 2).await?;
    /// assert_eq!(ids(&second), [4, 2]); // NULLs last going down, ties by id
    /// let back = best.before(&db, second.prev.as_ref(), 2).await?;
    /// assert_eq!(ids(&back), [3, 1]);
    /// let cursor: thing::Cursor = second.next.unwrap().to_string().parse()?; // from a URL
    /// assert_eq!(ids(&best.after(&db, Some(&cursor), 2).await?), [5]);
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn after<E: Executor + ?Sized>(
        &self,
        executor: &E,
        cursor: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<M>> {
        page_op!(
            "after",
            executor,
            limit,
            self.run_page(executor, Walk::Forward, cursor, limit)
        )
    }

    /// Up to `limit` rows before `cursor` in the query's order (the last
    /// rows when `None`), in the query's order, with the cursors beside
    /// them: [`Query::after`] walking back.
    pub async fn before<E: Executor + ?Sized>(
        &self,
        executor: &E,
        cursor: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<M>> {
        page_op!(
            "before",
            executor,
            limit,
            self.run_page(executor, Walk::Backward, cursor, limit)
        )
    }

    async fn run_page<E: Executor + ?Sized>(
        &self,
        executor: &E,
        walk: Walk,
        cursor: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<M>> {
        let part = Part::of(self);
        let keys = &part.keys;
        let fingerprint = part.fingerprint();
        let place = cursor
            .map(|cursor| cursor.position(fingerprint, keys, M::COLUMN_DEFS))
            .transpose()?;
        let found = page_rows(&part, executor.__target(), walk, place.as_deref(), limit).await?;
        paged(found, walk, cursor.is_some(), fingerprint, keys)
    }
}

impl<M: Schema> Merge<M> {
    /// Up to `limit` rows after `cursor` in the parts' common order (from
    /// the first when `None`), each row once: every part's page after the
    /// cursor, merged. A cursor of another merge is
    /// [`Error::InvalidCursor`].
    pub async fn after<E: Executor + ?Sized>(
        &self,
        executor: &E,
        cursor: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<M>> {
        page_op!(
            "merge_after",
            executor,
            limit,
            self.run_page(executor, Walk::Forward, cursor, limit)
        )
    }

    /// Up to `limit` rows before `cursor` (the last when `None`), in order:
    /// [`Merge::after`] walking back.
    pub async fn before<E: Executor + ?Sized>(
        &self,
        executor: &E,
        cursor: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<M>> {
        page_op!(
            "merge_before",
            executor,
            limit,
            self.run_page(executor, Walk::Backward, cursor, limit)
        )
    }

    /// The parts' common sort keys, checked to be one order Rust can compare
    /// rows by.
    fn keys(&self) -> Result<Vec<(usize, bool)>> {
        let Some(first) = self.parts.first() else {
            return Err(Error::invalid_input("Query::merge of no query"));
        };
        let keys = first.sort_keys();
        if self.parts.iter().any(|part| part.sort_keys() != keys) {
            return Err(Error::invalid_input(
                "Query::merge: every query must have the same order",
            ));
        }
        if !seek::seekable(&keys, M::COLUMN_DEFS) {
            return Err(Error::invalid_input(
                "Query::merge: rows are merged in Rust, so the order must be by integers, \
                 booleans, times, dates or the id",
            ));
        }
        Ok(keys)
    }

    /// Each part with its normalised form, and the merge's fingerprint.
    fn parts(&self) -> (Vec<Part<'_, M>>, u64) {
        let parts: Vec<Part<'_, M>> = self.parts.iter().map(Part::of).collect();
        let mut digests = b"merge".to_vec();
        for part in &parts {
            digests.extend_from_slice(&part.digest);
        }
        let digest = hash::sha1(&digests);
        (
            parts,
            u64::from_le_bytes(digest[..8].try_into().unwrap_or_default()),
        )
    }

    async fn run_page<E: Executor + ?Sized>(
        &self,
        executor: &E,
        walk: Walk,
        cursor: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<M>> {
        let keys = self.keys()?;
        let (parts, fingerprint) = self.parts();
        let place = cursor
            .map(|cursor| cursor.position(fingerprint, &keys, M::COLUMN_DEFS))
            .transpose()?;
        let target = executor.__target();
        let mut pages = Vec::with_capacity(parts.len());
        for part in &parts {
            pages.push(page_rows(part, target, walk, place.as_deref(), limit).await?);
        }
        let merged = merged(pages, walk, &keys, limit)?;
        paged(merged, walk, cursor.is_some(), fingerprint, &keys)
    }
}

/// A query to read a page of, with the SHA-1 of its normalised form (see
/// [`list::spec`]), which names its cursors and its cached seek list.
struct Part<'q, M> {
    query: &'q Query<M>,
    /// Its sort keys, the id last.
    keys: Vec<(usize, bool)>,
    digest: [u8; 20],
}

impl<'q, M: Schema> Part<'q, M> {
    fn of(query: &'q Query<M>) -> Self {
        Self {
            query,
            keys: query.sort_keys(),
            digest: hash::sha1(list::spec(query).as_bytes()),
        }
    }

    /// The name of the query in its cursors.
    fn fingerprint(&self) -> u64 {
        u64::from_le_bytes(self.digest[..8].try_into().unwrap_or_default())
    }
}

/// The page of `found` rows with its cursors (`from_cursor`: whether it was
/// read from a cursor, so that rows lie on that side of it).
fn paged<M: Schema>(
    found: Rows<M>,
    walk: Walk,
    from_cursor: bool,
    fingerprint: u64,
    keys: &[(usize, bool)],
) -> Result<Page<M>> {
    let cursor_of = |row: Option<&M>| -> Result<Option<Cursor>> {
        row.map(|row| Cursor::new(fingerprint, &values_of(row, keys)))
            .transpose()
    };
    let (has_next, has_prev) = match walk {
        Walk::Forward => (found.more, from_cursor),
        Walk::Backward => (from_cursor, found.more),
    };
    Ok(Page {
        next: cursor_of(found.rows.last().filter(|_| has_next))?,
        prev: cursor_of(found.rows.first().filter(|_| has_prev))?,
        rows: found.rows,
    })
}

/// A row's sort tuple.
fn values_of<M: Schema>(row: &M, keys: &[(usize, bool)]) -> Vec<Value> {
    keys.iter().map(|&(column, _)| row.value(column)).collect()
}

/// The parts' pages merged in order, each row once, cut to `limit` on the
/// walk's far side.
fn merged<M: Schema>(
    parts: Vec<Rows<M>>,
    walk: Walk,
    keys: &[(usize, bool)],
    limit: u64,
) -> Result<Rows<M>> {
    let mut more = parts.iter().any(|part| part.more);
    let mut keyed = Vec::new();
    for row in parts.into_iter().flat_map(|part| part.rows) {
        let Some(key) = seek::sort_key(keys, &values_of(&row, keys)) else {
            return Err(Error::invalid_input(
                "Query::merge: a time outside the years 1677 to 2262 cannot be compared in Rust",
            ));
        };
        keyed.push((key, row));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut seen = HashSet::new();
    keyed.retain(|(_, row)| seen.insert(row.row_id()));
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if keyed.len() > limit {
        more = true;
        match walk {
            Walk::Forward => keyed.truncate(limit),
            Walk::Backward => {
                keyed.drain(..keyed.len() - limit);
            }
        }
    }
    Ok(Rows {
        rows: keyed.into_iter().map(|(_, row)| row).collect(),
        more,
    })
}

/// Up to `limit` rows of `query` on the `walk` side of `place` (`None`: from
/// the start, or the end going back), in the query's order.
async fn page_rows<M: Schema>(
    part: &Part<'_, M>,
    target: Target<'_>,
    walk: Walk,
    place: Option<&[Value]>,
    limit: u64,
) -> Result<Rows<M>> {
    let query = part.query;
    if limit == 0 || query.matches_nothing() {
        return Ok(Rows {
            rows: Vec::new(),
            more: false,
        });
    }
    if let Some((db, cache)) = store::cached(target).await {
        for _ in 0..ONE_STATE_ATTEMPTS {
            match cached_rows(db, cache, part, walk, place, limit).await? {
                Cached::Rows(rows) => return Ok(rows),
                Cached::Moved => continue,
                Cached::OutOfReach => break,
            }
        }
    }
    rows_from_sql(query, target, walk, place, limit).await
}

/// What the cache gave for a page.
enum Cached<M> {
    /// The page.
    Rows(Rows<M>),
    /// A write moved its rows while they were read: read again.
    Moved,
    /// The page is past the cached window, or the cache cannot place it.
    OutOfReach,
}

/// A page from the query's cached seek list and the cached rows. Through a
/// cache a round trip away, the rows this same page read loaded last time
/// are looked up with the seek list (see [`crate::cache::hints`]).
async fn cached_rows<M: Schema>(
    db: &Db,
    cache: &CacheContext,
    part: &Part<'_, M>,
    walk: Walk,
    place: Option<&[Value]>,
    limit: u64,
) -> Result<Cached<M>> {
    let query = part.query;
    let place = match place.map(|values| seek::sort_key(&part.keys, values)) {
        Some(None) => return Ok(Cached::OutOfReach),
        Some(Some(key)) => Some(key),
        None => None,
    };
    let key = cache.seek_key::<M>(&part.digest);
    let read = cache
        .store
        .is_shared()
        .then(|| read_name(&key, walk, place.as_deref(), limit));
    let hinted = read
        .as_deref()
        .and_then(|read| cache.row_hints.get(read))
        .map(|ids| {
            let keys = cache.row_keys::<M>(&ids);
            (ids, keys)
        });
    let epoch = hinted.as_ref().map(|_| cache.stamp_key::<M>(&Stamp::Epoch));
    let rows = hinted
        .as_ref()
        .zip(epoch.as_deref())
        .map(|((_, keys), epoch)| (keys.as_slice(), epoch));
    let Some(sought) = seek::seek_list(db, cache, query, &key, rows).await? else {
        return Ok(Cached::OutOfReach);
    };
    let Some((start, end, more)) = span(&sought.list, walk, place.as_deref(), limit) else {
        return Ok(Cached::OutOfReach);
    };
    if let Some(mut rows) = sought.rows {
        // Read from SQL just now with the list: of one state with it.
        rows.truncate(end);
        rows.drain(..start);
        return Ok(Cached::Rows(Rows { rows, more }));
    }
    let hint = read.map(|read| Hint {
        read,
        rows: hinted
            .zip(sought.answer)
            .map(|((ids, keys), (answer, at))| HintedRows {
                ids,
                keys,
                answer,
                at,
            }),
    });
    let ids = sought.list.ids(start, end);
    let loaded = run::load_hinted(db, cache, &ids, hint).await?;
    Ok(
        match run::one_state(db, cache, loaded, &sought.validity).await {
            Some(rows) => Cached::Rows(Rows { rows, more }),
            None => Cached::Moved,
        },
    )
}

/// The name of one page read among the row hints: the seek list, the walk,
/// the place and the limit.
fn read_name(key: &str, walk: Walk, place: Option<&[u8]>, limit: u64) -> String {
    let walk = if walk == Walk::Forward {
        "after"
    } else {
        "before"
    };
    let place = hash::hex(place.unwrap_or_default());
    format!("{key}|{walk}|{limit}|{place}")
}

/// Where a page lies in a seek list: its first and past-the-last index, and
/// whether a row lies beyond it; `None` when the list cannot tell (it is not
/// seekable, or the page reaches past its window).
fn span(
    list: &SeekList,
    walk: Walk,
    place: Option<&[u8]>,
    limit: u64,
) -> Option<(usize, usize, bool)> {
    if !list.seekable() {
        return None;
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let len = list.len();
    match walk {
        Walk::Forward => {
            let start = place.map_or(0, |key| list.after(key));
            let end = start.saturating_add(limit);
            if end < len {
                Some((start, end, true))
            } else if list.complete() {
                Some((start.min(len), len, false))
            } else {
                None
            }
        }
        Walk::Backward => {
            let end = place.map_or(len, |key| list.at_or_after(key));
            if end == len && !list.complete() {
                return None;
            }
            let start = end.saturating_sub(limit);
            Some((start, end, start > 0))
        }
    }
}

/// A page in one statement: the place as a condition, the order reversed
/// going back, one row more than the page to tell whether one lies beyond.
async fn rows_from_sql<M: Schema>(
    query: &Query<M>,
    target: Target<'_>,
    walk: Walk,
    place: Option<&[Value]>,
    limit: u64,
) -> Result<Rows<M>> {
    let keys = match walk {
        Walk::Forward => query.sort_keys(),
        Walk::Backward => keyset::reversed(&query.sort_keys()),
    };
    let mut seek = query.clone().with_order(keys.clone());
    if let Some(values) = place {
        let dialect = target.db().dialect();
        seek = seek.with_condition(keyset::after(&keys, values, M::COLUMN_DEFS, dialect));
    }
    let mut rows = select::rows(&seek, target, Some((0, limit.saturating_add(1)))).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    if walk == Walk::Backward {
        rows.reverse();
    }
    Ok(Rows { rows, more })
}
