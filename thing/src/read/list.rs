//! Cached list queries: a query's first ids and its count, cached under a key
//! from the normalised query together with the values of the stamps it
//! depends on (see [`crate::cache::stamps`]), and used only while those stamps have
//! not moved.
//!
//! A read gets the list and the current stamps in one cache call; a miss reads
//! SQL and stores the list with the stamp values it saw before that read, which
//! the cache refuses if any moved or is locked by a write in flight meanwhile.
//! No writer has to find the lists it changes, so none can be missed.

use crate::cache::context::CacheContext;
use crate::cache::flight::{Landing, Role};
use crate::cache::stamps::{self, Stamp};
use crate::cache::{Bytes, CacheError, Lookup, StampedFill, StampedLookup};
use crate::db::executor::Target;
use crate::db::handle::Db;
use crate::error::Result;
use crate::query::Query;
use crate::read::select;
use crate::schema::Schema;
use std::sync::Arc;
use std::time::Instant;

/// The first byte of a cached list (rows are 1, absent markers 2).
const LIST: u8 = 3;

/// A query's cached first ids (up to the window) and its count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedList {
    pub ids: Vec<i64>,
    pub count: u64,
    /// Whether `ids` holds every matching id.
    pub complete: bool,
}

impl CachedList {
    /// The cached bytes: the list and the stamp values it was built under.
    fn encode(&self, stamps: &[u64]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(12 + (stamps.len() + self.ids.len()) * 8);
        bytes.push(LIST);
        bytes.extend_from_slice(&self.count.to_le_bytes());
        bytes.push(u8::from(self.complete));
        bytes.extend_from_slice(&(stamps.len() as u16).to_le_bytes());
        for stamp in stamps {
            bytes.extend_from_slice(&stamp.to_le_bytes());
        }
        for id in &self.ids {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        bytes
    }

    /// The list and the stamp values it was built under.
    fn decode(bytes: &[u8]) -> Option<(Self, Vec<u64>)> {
        let (&LIST, rest) = bytes.split_first()? else {
            return None;
        };
        let (count, rest) = rest.split_first_chunk::<8>()?;
        let (&complete, rest) = rest.split_first()?;
        let (stamps, rest) = rest.split_first_chunk::<2>()?;
        let stamps = usize::from(u16::from_le_bytes(*stamps));
        if complete > 1 || rest.len() < stamps * 8 {
            return None;
        }
        let (stamps, ids) = rest.split_at(stamps * 8);
        if ids.len() % 8 != 0 {
            return None;
        }
        let list = Self {
            ids: words(ids).map(i64::from_le_bytes).collect(),
            count: u64::from_le_bytes(*count),
            complete: complete == 1,
        };
        Some((list, words(stamps).map(u64::from_le_bytes).collect()))
    }
}

/// The 8-byte words of `bytes` (a cached list's stamps and ids), in order.
pub(crate) fn words(bytes: &[u8]) -> impl Iterator<Item = [u8; 8]> + '_ {
    bytes
        .chunks_exact(8)
        .map(|word| word.try_into().unwrap_or_default())
}

/// The normalised form of a query, which names its cached list: the model's
/// column names (so two structs on one table share lists only when their
/// columns agree), the condition, the order and the tables raw SQL reads.
/// Floats print distinctly (`NaN`, `inf`, `-0.0`), so queries that differ never
/// share a key.
pub(crate) fn spec<T: Schema>(query: &Query<T>) -> String {
    let columns: Vec<&str> = T::COLUMN_DEFS.iter().map(|column| column.name).collect();
    format!(
        "{columns:?}|{:?}|{:?}|{:?}",
        query.expr(),
        query.sort_keys(),
        query.read_tables()
    )
}

/// The query's cached list, read from SQL and cached on a miss. Concurrent
/// misses of one list in this process, under the same stamps, read it once.
pub(crate) async fn list<T: Schema>(
    db: &Db,
    cache: &CacheContext,
    query: &Query<T>,
) -> Result<CachedList> {
    let key = cache.list_key::<T>(spec(query).as_bytes());
    Ok(list_with_rows(db, cache, query, &key, None).await?.0)
}

/// The stamps a list read was valid under, and their values then. A read
/// that loads the list's rows afterwards asks [`still_valid`]: if no stamp
/// moved, no write to a row the list holds (or could hold) began since, so
/// the ids and the rows are of one state.
pub(crate) struct Validity {
    pub stamps: Vec<String>,
    pub seen: Vec<u64>,
}

/// Whether the stamps of `validity` still have the values it saw; `false`
/// too when the cache does not answer.
pub(crate) async fn still_valid(db: &Db, cache: &CacheContext, validity: &Validity) -> bool {
    match cache.store.get_stamps(&validity.stamps).await {
        Ok(now) => now
            .iter()
            .copied()
            .eq(validity.seen.iter().copied().map(Some)),
        Err(err) => {
            cache.warn(db.counters(), "get_stamps", &err);
            false
        }
    }
}

/// A list read through a cache a round trip away, with the rows it named
/// the last time it was read: see [`crate::cache::hints`].
pub(crate) struct Hint {
    /// The read's name among the hints: the list's key and its window.
    pub read: String,
    /// The rows looked up with the list, when it was a hit and had a hint.
    pub rows: Option<HintedRows>,
}

/// Rows looked up along with a list: their ids, keys, the cache's answer and
/// when it was asked.
pub(crate) struct HintedRows {
    pub ids: Arc<[i64]>,
    pub keys: Vec<String>,
    pub answer: std::result::Result<(Vec<Lookup>, Option<u64>), CacheError>,
    pub at: Instant,
}

/// The query's cached list, as [`list`]; through a cache a round trip away,
/// with the rows the same read (`window`: the offset and limit it takes, or
/// `None` for all of it) loaded last time, looked up in the same round trip.
/// With the list, what it was valid under (`None` when it was read from SQL
/// with no stamps to vouch for it).
pub(crate) async fn list_with_hint<T: Schema>(
    db: &Db,
    cache: &CacheContext,
    query: &Query<T>,
    window: Option<(u64, u64)>,
) -> Result<(CachedList, Option<Hint>, Option<Validity>)> {
    let key = cache.list_key::<T>(spec(query).as_bytes());
    if !cache.store.is_shared() {
        let (list, _, validity) = list_with_rows(db, cache, query, &key, None).await?;
        return Ok((list, None, validity));
    }
    // Named only here: a cache in this process keeps no hints.
    let read = match window {
        Some((offset, limit)) => format!("{key}|{offset}+{limit}"),
        None => format!("{key}|all"),
    };
    let hint = cache.row_hints.get(&read).map(|ids| {
        let keys = cache.row_keys::<T>(&ids);
        (ids, keys)
    });
    let epoch = cache.stamp_key::<T>(&Stamp::Epoch);
    let rows = hint
        .as_ref()
        .map(|(_, keys)| (keys.as_slice(), epoch.as_str()));
    let (list, answer, validity) = list_with_rows(db, cache, query, &key, rows).await?;
    let rows = hint
        .zip(answer)
        .map(|((ids, keys), (answer, at))| HintedRows {
            ids,
            keys,
            answer,
            at,
        });
    Ok((list, Some(Hint { read, rows }), validity))
}

/// The cache's answer to a row lookup, and when it was asked.
pub(crate) type RowAnswer = (
    std::result::Result<(Vec<Lookup>, Option<u64>), CacheError>,
    Instant,
);

/// A list, the lookups of the rows asked for with it, and what it was valid
/// under.
type Listed = (CachedList, Option<RowAnswer>, Option<Validity>);

/// The list under `key`; when `rows` (row keys and the epoch stamp key) are
/// given and the list is a hit, their lookups made in the same cache call.
async fn list_with_rows<T: Schema>(
    db: &Db,
    cache: &CacheContext,
    query: &Query<T>,
    key: &str,
    mut rows: Option<(&[String], &str)>,
) -> Result<Listed> {
    let unvouched = async || Ok((uncached(db, cache, query).await?, None, None));
    let Some(stamps) = vouching_stamps(cache, query) else {
        return unvouched().await;
    };
    let valid_under = |seen: Vec<u64>| {
        Some(Validity {
            stamps: stamps.clone(),
            seen,
        })
    };
    let mut created_stamps = false;
    loop {
        let (looked, answer) = look(db, cache, key, &stamps, rows.take(), |bytes| {
            CachedList::decode(bytes)
        })
        .await;
        let seen = match looked {
            Looked::Hit(list, seen) => return Ok((list, answer, valid_under(seen))),
            Looked::Miss(seen) => seen,
            Looked::MissingStamps if !created_stamps => {
                created_stamps = true;
                cache.create_stamps(db.counters(), key, &stamps).await;
                continue;
            }
            Looked::MissingStamps | Looked::Unavailable => return unvouched().await,
        };
        let leader = match cache.flights.lead_or_follow(&format!("{key}#{seen:?}")) {
            Role::Lead(leader) => leader,
            Role::Follow(landing) => match follow(db, &landing).await {
                Some(list) => return Ok((list, None, valid_under(seen))),
                None => continue,
            },
        };
        db.counters().query_miss();
        let list = read_list(query, window(cache, query), db).await?;
        cache.pass_fill_gate().await;
        let bytes = Bytes::from(list.encode(&seen));
        fill(db, cache, key, &stamps, seen.clone(), bytes.clone()).await;
        leader.land(|| bytes);
        return Ok((list, None, valid_under(seen)));
    }
}

/// The keys of the stamps `query`'s cached lists are checked against; `None`
/// when the cache cannot vouch for them now: the query's raw SQL reads tables
/// no stamp covers, or this process owes the cache a bump of one of them.
pub(crate) fn vouching_stamps<T: Schema>(
    cache: &CacheContext,
    query: &Query<T>,
) -> Option<Vec<String>> {
    if query.reads_undeclared_tables() {
        return None;
    }
    let depends = stamps::of_query::<T>(&query.expr(), &query.sort_keys(), query.read_tables());
    let stamps = cache.stamp_keys::<T>(&depends);
    (!cache.unflushed.contains_any_stamp(&stamps)).then_some(stamps)
}

/// How many ids of `query`'s list to cache.
pub(crate) fn window<T: Schema>(cache: &CacheContext, query: &Query<T>) -> usize {
    query.window().unwrap_or(cache.config.list_window)
}

/// How a cached list's bytes are read: the list, and the stamp values it
/// was built under.
pub(crate) type Decode<L> = fn(&Bytes) -> Option<(L, Vec<u64>)>;

/// What the cache holds for a list (`L`: its decoded form).
pub(crate) enum Looked<L> {
    /// A list built under the stamps' current values, and those values.
    Hit(L, Vec<u64>),
    /// No valid list; the stamps' current values, to fill under.
    Miss(Vec<u64>),
    /// A stamp does not exist (never written, or evicted).
    MissingStamps,
    /// The cache did not answer.
    Unavailable,
}

/// One cache call: the list and its stamps, and with them the rows `rows`
/// (row keys and the epoch stamp key) when given; `decode` reads the list
/// and the stamp values it was built under.
pub(crate) async fn look<L>(
    db: &Db,
    cache: &CacheContext,
    key: &str,
    stamps: &[String],
    rows: Option<(&[String], &str)>,
    decode: Decode<L>,
) -> (Looked<L>, Option<RowAnswer>) {
    let at = Instant::now();
    let (looked, answer) = match rows {
        None => (cache.store.get_stamped(key, stamps).await, None),
        Some((rows, epoch)) => {
            let lease_ttl = cache.config.lease_ttl;
            match cache
                .store
                .get_stamped_with_rows(key, stamps, rows, epoch, lease_ttl)
                .await
            {
                Ok((looked, lookups, epoch)) => (Ok(looked), Some((Ok((lookups, epoch)), at))),
                Err(err) => (Err(err), None),
            }
        }
    };
    (judge(db, cache, stamps, looked, decode), answer)
}

/// What a list lookup's answer says.
fn judge<L>(
    db: &Db,
    cache: &CacheContext,
    stamps: &[String],
    looked: std::result::Result<StampedLookup, CacheError>,
    decode: Decode<L>,
) -> Looked<L> {
    let looked = match looked {
        Ok(looked) if looked.stamps.len() == stamps.len() => looked,
        Ok(_) => return Looked::Unavailable,
        Err(err) => {
            cache.warn(db.counters(), "get_stamped", &err);
            return Looked::Unavailable;
        }
    };
    let Some(seen) = looked.stamps.iter().copied().collect::<Option<Vec<u64>>>() else {
        return Looked::MissingStamps;
    };
    match valid(&looked, &seen, decode) {
        Some(list) => {
            db.counters().query_hit();
            Looked::Hit(list, seen)
        }
        None => Looked::Miss(seen),
    }
}

/// The list from SQL, not cached (the cache cannot vouch for it now).
async fn uncached<T: Schema>(
    db: &Db,
    cache: &CacheContext,
    query: &Query<T>,
) -> Result<CachedList> {
    db.counters().query_miss();
    read_list(query, window(cache, query), db).await
}

/// The cached list, if there is one built under exactly the stamps `seen`.
fn valid<L>(looked: &StampedLookup, seen: &[u64], decode: Decode<L>) -> Option<L> {
    let (list, built_under) = decode(looked.value.as_ref()?)?;
    (built_under == seen).then_some(list)
}

/// Stores a list's `bytes` as built under the stamp values `seen`.
pub(crate) async fn fill(
    db: &Db,
    cache: &CacheContext,
    key: &str,
    stamps: &[String],
    seen: Vec<u64>,
    bytes: Bytes,
) {
    let fill = StampedFill {
        key: key.to_owned(),
        value: bytes,
        ttl: cache.config.ttl,
        stamps: stamps.to_vec(),
        seen,
    };
    match cache.store.fill_stamped(&fill).await {
        Ok(stored) => db.counters().cache_fills(u64::from(stored)),
        Err(err) => cache.warn(db.counters(), "fill_stamped", &err),
    }
}

/// Waits for this process' reader of the same list: `None` when it gave up.
async fn follow(db: &Db, landing: &Landing) -> Option<CachedList> {
    let (list, _) = CachedList::decode(&landing.wait().await?)?;
    db.counters().query_hit();
    db.counters().join();
    Some(list)
}

/// The list from SQL: up to `window` ids, and the count.
async fn read_list<T: Schema>(query: &Query<T>, window: usize, db: &Db) -> Result<CachedList> {
    let mut ids = select::ids(query, Target::Db(db), Some((0, window as u64 + 1))).await?;
    let complete = ids.len() <= window;
    ids.truncate(window);
    let count = if complete {
        ids.len() as u64
    } else {
        select::count(query, Target::Db(db)).await?
    };
    Ok(CachedList {
        ids,
        count,
        complete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_reject_garbage() {
        let list = CachedList {
            ids: vec![3, -1, i64::MAX],
            count: 250,
            complete: false,
        };
        let stamps = vec![7, u64::MAX];
        assert_eq!(
            CachedList::decode(&list.encode(&stamps)),
            Some((list.clone(), stamps))
        );
        assert_eq!(
            CachedList::decode(&list.encode(&[])).map(|(_, s)| s),
            Some(vec![])
        );
        assert_eq!(CachedList::decode(&[LIST, 1, 2]), None);
        assert_eq!(CachedList::decode(&[1, 0, 0]), None);
        let mut short = list.encode(&[1, 2]);
        short.truncate(short.len() - 3);
        assert_eq!(CachedList::decode(&short), None);
    }
}
