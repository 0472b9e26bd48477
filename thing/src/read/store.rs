//! Cached rows: `by_id` and `by_ids` through the cache when the executor is a
//! [`Db`] with one, from the database otherwise. (The keys a write locks and
//! invalidates are [`CacheContext::write_keys`]'s.)
//!
//! Reads lease the keys they miss, read the database, and fill only while their
//! lease holds (see [`crate::cache`]). Reads inside a transaction never come
//! here past the dispatch: they go to the database.

use crate::cache::context::CacheContext;
use crate::cache::flight::{Landing, Role};
use crate::cache::stamps::Stamp;
use crate::cache::{Bytes, CacheError, CacheErrorKind, Fill, LeaseToken, Lookup};
use crate::db::executor::{Executor, Target, with_session};
use crate::db::handle::Db;
use crate::error::{Error, Result};
use crate::read::fetch::{rows_by_ids, select_by_id};
use crate::schema::{Schema, Sealed, Snapshot};
use foldhash::HashSet;
use std::time::{Duration, Instant};

/// The cache of `db`, unless it has none or it is being skipped after a
/// failure (then reads go straight to the database). A handle that could not
/// reach its shared cache since it last drained the outbox drains it first
/// ([`Db::catch_up_outbox`]), and reads the database if that fails.
pub(crate) async fn answering(db: &Db) -> Option<&CacheContext> {
    let cache = db.cache().filter(|cache| cache.store.is_available())?;
    if cache.owes_drain() && !db.catch_up_outbox(cache).await {
        return None;
    }
    Some(cache)
}

/// The executor's `Db` and cache, when reads go through the cache: it is a
/// `Db` (never a transaction) whose cache is [answering].
pub(crate) async fn cached(target: Target<'_>) -> Option<(&Db, &CacheContext)> {
    match target {
        Target::Db(db) => answering(db).await.map(|cache| (db, cache)),
        Target::Tx(_) => None,
    }
}

/// Reads one row by id: through the cache when `executor` is a `Db` with one,
/// from the database otherwise. Soft-deleted rows are [`Error::NotFound`].
pub(crate) async fn by_id<T: Schema, E: Executor + ?Sized>(executor: &E, id: i64) -> Result<T> {
    let target = executor.__target();
    let row = match cached(target).await {
        Some((db, cache)) => cached_by_id::<T>(db, cache, id).await?,
        None => with_session!(target, |session| {
            select_by_id::<T, _>(&mut session, id).await
        })?,
    };
    match row {
        Some(item) if !item.is_deleted() => Ok(item),
        _ => Err(Error::not_found(T::TABLE_NAME, id)),
    }
}

/// Reads rows by id, in the order asked, each id once; missing and
/// soft-deleted rows are skipped.
pub(crate) async fn by_ids<T: Schema, E: Executor + ?Sized>(
    executor: &E,
    ids: &[i64],
) -> Result<Vec<T>> {
    let mut wanted: Vec<i64> = Vec::with_capacity(ids.len());
    let mut seen = HashSet::with_capacity_and_hasher(ids.len(), Default::default());
    wanted.extend(ids.iter().copied().filter(|id| seen.insert(*id)));
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let target = executor.__target();
    let rows = match cached(target).await {
        Some((db, cache)) => load::<T>(db, cache, &wanted).await?,
        None => rows_by_ids::<T>(target, &wanted).await?,
    };
    Ok(rows
        .into_iter()
        .flatten()
        .filter(|item| !item.is_deleted())
        .collect())
}

/// The first byte of a cached value.
const ROW: u8 = 1;
const ABSENT: u8 = 2;

/// What a cached value says about a row.
enum Entry<T> {
    Row(T),
    Absent,
    Corrupt,
}

/// Where the row bytes start in a cached row: after the tag, the table's epoch
/// and the schema hash.
const ROW_START: usize = 1 + 8 + 8;

/// Decodes a cached value; a row keeps `bytes` as its snapshot (no copy). A
/// value cached under another epoch of the table (it was dropped or created
/// since), or a row of a struct of another shape (another schema hash), is
/// `Corrupt`: a miss, replaced by this read.
fn decode_entry<T: Schema>(bytes: Bytes, epoch: u64) -> Entry<T> {
    let Some((&tag, rest)) = bytes.split_first() else {
        return Entry::Corrupt;
    };
    let Some((stored, rest)) = rest.split_first_chunk::<8>() else {
        return Entry::Corrupt;
    };
    if u64::from_le_bytes(*stored) != epoch {
        return Entry::Corrupt;
    }
    match (tag, rest.split_first_chunk::<8>()) {
        (ROW, Some((hash, row))) if u64::from_le_bytes(*hash) == T::SHAPE_HASH => {
            match T::from_row_bytes(row) {
                Some(mut item) => {
                    if let Some(snapshot) = item.snapshot_mut(Sealed::new()) {
                        snapshot.set_from(bytes, ROW_START);
                    }
                    Entry::Row(item)
                }
                None => Entry::Corrupt,
            }
        }
        (ABSENT, None) if rest.is_empty() => Entry::Absent,
        _ => Entry::Corrupt,
    }
}

/// The cached value of a row (or of its absence) under the table's `epoch`.
fn encode_entry<T: Schema>(item: Option<&T>, epoch: u64) -> Vec<u8> {
    match item {
        Some(item) => {
            // A row just read carries its bytes in its snapshot: reuse them
            // rather than encoding the row a second time.
            let encoded;
            let row = match item.snapshot().and_then(Snapshot::row) {
                Some(row) => row,
                None => {
                    encoded = item.row_bytes();
                    &encoded
                }
            };
            let mut bytes = Vec::with_capacity(row.len() + ROW_START);
            bytes.push(ROW);
            bytes.extend_from_slice(&epoch.to_le_bytes());
            bytes.extend_from_slice(&T::SHAPE_HASH.to_le_bytes());
            bytes.extend_from_slice(row);
            bytes
        }
        None => {
            let mut bytes = vec![ABSENT];
            bytes.extend_from_slice(&epoch.to_le_bytes());
            bytes
        }
    }
}

/// `by_id` through the cache. A hit costs one lookup; concurrent misses of one
/// key in this process load it once (single flight): the first to miss leads,
/// the others wait for the row it read. A reader joins only a load whose lookup
/// saw the same token as its own, so it never returns a row read before a
/// write it must see.
async fn cached_by_id<T: Schema>(db: &Db, cache: &CacheContext, id: i64) -> Result<Option<T>> {
    let keys = [cache.row_key::<T>(id)];
    loop {
        let mut lookups = lookup::<T>(db, cache, &keys).await;
        if let Some(item) = hit::<T>(db, &mut lookups) {
            return Ok(item);
        }
        let epoch = lookups.epoch;
        let flight = match lookups.answers[0] {
            Lookup::Leased(token) | Lookup::Loading(token) => {
                format!("{}#{:x}@{epoch:x}", keys[0], token.seen())
            }
            _ => {
                return Ok(resolve::<T>(db, cache, &[id], &keys, lookups)
                    .await?
                    .pop()
                    .flatten());
            }
        };
        if matches!(lookups.answers[0], Lookup::Leased(_)) {
            cache.pass_lease_gate().await;
        }
        let leader = match cache.flights.lead_or_follow(&flight) {
            Role::Lead(leader) => leader,
            Role::Follow(landing) => {
                // Someone in this process is already loading the row, having
                // seen what this read saw.
                match follow_holding::<T>(db, cache, &keys[0], &lookups, &landing).await {
                    Some(item) => return Ok(item),
                    None => continue,
                }
            }
        };
        if matches!(lookups.answers[0], Lookup::Loading(_))
            && let Some(item) = landed_meanwhile::<T>(db, cache, &keys).await
        {
            leader.land(|| encode_entry(item.as_ref(), epoch).into());
            return Ok(item);
        }
        let item = resolve::<T>(db, cache, &[id], &keys, lookups)
            .await?
            .pop()
            .flatten();
        // Followers decode the bytes the cache holds; encoded only for them.
        leader.land(|| encode_entry(item.as_ref(), epoch).into());
        return Ok(item);
    }
}

/// The row `id` as the cache holds it, if it holds it: a hint of the row's
/// values for a write that checks them. No lease is kept and nothing is
/// filled.
pub(crate) async fn cached_row<T: Schema>(db: &Db, id: i64) -> Option<T> {
    let cache = answering(db).await?;
    let keys = [cache.row_key::<T>(id)];
    let mut lookups = lookup::<T>(db, cache, &keys).await;
    if let Some(found) = hit::<T>(db, &mut lookups) {
        return found;
    }
    release_leases(cache, &keys, lookups.answers);
    None
}

/// The row, if the load this read saw in progress (`Loading`) stored it between
/// this read's lookup and its taking the lead: a second look, so that a reader
/// that lost that race does not read the database again.
async fn landed_meanwhile<T: Schema>(
    db: &Db,
    cache: &CacheContext,
    keys: &[String; 1],
) -> Option<Option<T>> {
    hit::<T>(db, &mut lookup::<T>(db, cache, keys).await)
}

/// The row (or its cached absence) if the lookup of one key hit, counted. A
/// corrupt entry is not a hit: it is left for `resolve` to replace.
fn hit<T: Schema>(db: &Db, lookups: &mut Lookups) -> Option<Option<T>> {
    let Lookup::Hit(bytes) = &mut lookups.answers[0] else {
        return None;
    };
    match decode_entry::<T>(std::mem::take(bytes), lookups.epoch) {
        Entry::Row(item) => {
            db.counters().cache_hits(1);
            Some(Some(item))
        }
        Entry::Absent => {
            db.counters().negative_hits(1);
            Some(None)
        }
        Entry::Corrupt => None,
    }
}

/// Follows the load `landing` of `key`. A reader that holds the key's exclusive
/// lease (an in-process cache's; the leader then saw it as `Loading` and cannot
/// fill) keeps it while it waits and fills the key with what the leader read:
/// that read began after the lease was granted, and any invalidation since
/// revoked it. Otherwise a token this read took is given back, so that it does
/// not block later fills.
async fn follow_holding<T: Schema>(
    db: &Db,
    cache: &CacheContext,
    key: &str,
    lookups: &Lookups,
    landing: &Landing,
) -> Option<Option<T>> {
    let lease = match lookups.answers[0] {
        Lookup::Leased(token) => Some(token),
        _ => None,
    };
    let exclusive = lease.filter(|_| !cache.store.is_shared());
    if let (Some(token), None) = (lease, exclusive) {
        cache.store.release(key, token);
    }
    let Some(bytes) = landing.wait().await else {
        if let Some(token) = exclusive {
            cache.store.release(key, token);
        }
        return None;
    };
    let item = decode_landed::<T>(db, bytes.clone(), lookups.epoch);
    match (exclusive, &item) {
        (Some(token), Some(row)) => {
            let row = row.is_some();
            fill_landed(db, cache, key, token, bytes, row, lookups.at).await;
        }
        (Some(token), None) => cache.store.release(key, token),
        (None, _) => {}
    }
    item
}

/// Stores the bytes a leader read under `key` with this reader's `token`,
/// unless the lookup that granted it is older than the cache vouches for.
async fn fill_landed(
    db: &Db,
    cache: &CacheContext,
    key: &str,
    token: LeaseToken,
    value: Bytes,
    row: bool,
    looked_at: Instant,
) {
    if looked_at.elapsed() > cache.fill_window() {
        cache.store.release(key, token);
        return;
    }
    let fill = Fill {
        key: key.to_owned(),
        token,
        value,
        ttl: entry_ttl(cache, row),
    };
    send_fills(db, cache, std::slice::from_ref(&fill)).await;
}

/// How long a cached row (`row`) or a cached absence lives.
fn entry_ttl(cache: &CacheContext, row: bool) -> Duration {
    if row {
        cache.config.ttl
    } else {
        cache.config.negative_ttl
    }
}

/// Sends `fills` to the cache, counting those it stored.
async fn send_fills(db: &Db, cache: &CacheContext, fills: &[Fill]) {
    match cache.store.fill(fills).await {
        Ok(stored) => db.counters().cache_fills(stored as u64),
        Err(err) => cache.warn(db.counters(), "fill", &err),
    }
}

/// What a leader handed over: `Some(row or none)`, or `None` when its bytes do
/// not decode (the caller tries again).
fn decode_landed<T: Schema>(db: &Db, bytes: Bytes, epoch: u64) -> Option<Option<T>> {
    db.counters().cache_hits(1);
    db.counters().join();
    match decode_entry::<T>(bytes, epoch) {
        Entry::Row(item) => Some(Some(item)),
        Entry::Absent => Some(None),
        Entry::Corrupt => None,
    }
}

/// The most keys one cache call carries: a bigger `by_ids` is served in
/// chunks, each small enough to answer within a cache's command timeout.
const CACHE_CHUNK: usize = 2000;

/// Rows by id through the cache, one per id in order: per chunk of
/// [`CACHE_CHUNK`] ids, one cache lookup, one SQL `IN` for the misses, one
/// fill. Soft-deleted rows are included.
pub(crate) async fn load<T: Schema>(
    db: &Db,
    cache: &CacheContext,
    ids: &[i64],
) -> Result<Vec<Option<T>>> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CACHE_CHUNK) {
        let keys = cache.row_keys::<T>(chunk);
        let lookups = lookup::<T>(db, cache, &keys).await;
        rows.extend(resolve(db, cache, chunk, &keys, lookups).await?);
    }
    Ok(rows)
}

/// One cache lookup for `keys`. A failing cache answers `Busy` for every key
/// (read the database, do not fill), and so does a key whose invalidation this
/// process still owes the cache, and every key while the table has no epoch
/// in the cache, which this lookup then creates.
async fn lookup<T: Schema>(db: &Db, cache: &CacheContext, keys: &[String]) -> Lookups {
    let at = Instant::now();
    let epoch_key = cache.stamp_key::<T>(&Stamp::Epoch);
    let answer = cache
        .store
        .get_or_lease_at(keys, &epoch_key, cache.config.lease_ttl)
        .await;
    let no_epoch = matches!(answer, Ok((_, None)));
    let lookups = looked(db, cache, keys, answer, at);
    if no_epoch {
        // Rows are stored only under an epoch the cache holds: see
        // `CacheContext::create_epoch`.
        cache.create_epoch::<T>(db.counters()).await;
    }
    lookups
}

/// Every lookup as `Busy`, giving back the leases among them.
fn unfillable(cache: &CacheContext, keys: &[String], lookups: Vec<Lookup>) -> Vec<Lookup> {
    release_leases(cache, keys, lookups);
    vec![Lookup::Busy; keys.len()]
}

/// Gives back the leases among the `lookups` of `keys` that will not fill.
pub(crate) fn release_leases(cache: &CacheContext, keys: &[String], lookups: Vec<Lookup>) {
    for (key, lookup) in keys.iter().zip(lookups) {
        if let Lookup::Leased(token) = lookup {
            cache.store.release(key, token);
        }
    }
}

/// The lookups of `keys` from the cache's `answer` to a lookup made at `at`.
pub(crate) fn looked(
    db: &Db,
    cache: &CacheContext,
    keys: &[String],
    answer: std::result::Result<(Vec<Lookup>, Option<u64>), CacheError>,
    at: Instant,
) -> Lookups {
    let (mut answers, epoch) = match answer {
        Ok((lookups, Some(epoch))) if lookups.len() == keys.len() => (lookups, epoch),
        Ok((lookups, None)) if lookups.len() == keys.len() => (unfillable(cache, keys, lookups), 0),
        Ok(_) => {
            cache.warn(
                db.counters(),
                "get",
                &CacheError::new(CacheErrorKind::BadReply, "wrong number of results"),
            );
            (vec![Lookup::Busy; keys.len()], 0)
        }
        Err(err) => {
            cache.warn(db.counters(), "get", &err);
            (vec![Lookup::Busy; keys.len()], 0)
        }
    };
    for (lookup, key) in answers.iter_mut().zip(keys) {
        // This process wrote the row and could not invalidate it yet: whatever
        // the cache holds may be older than that write.
        if cache.unflushed.contains(key) {
            *lookup = Lookup::Busy;
        }
    }
    Lookups { answers, epoch, at }
}

/// The answers of one cache lookup, the table's epoch then (0 while it has
/// none), and when it was made.
pub(crate) struct Lookups {
    answers: Vec<Lookup>,
    epoch: u64,
    at: Instant,
}

/// Turns lookups into rows, one per id in order (`None`: no such row):
/// decodes the hits, reads the misses with one SQL `IN`, and fills the keys
/// this caller may fill.
pub(crate) async fn resolve<T: Schema>(
    db: &Db,
    cache: &CacheContext,
    ids: &[i64],
    keys: &[String],
    lookups: Lookups,
) -> Result<Vec<Option<T>>> {
    Ok(resolve_telling(db, cache, ids, keys, lookups).await?.0)
}

/// [`resolve`], and whether every row came from the lookups themselves
/// (`false` when some had to be read from the database).
pub(crate) async fn resolve_telling<T: Schema>(
    db: &Db,
    cache: &CacheContext,
    ids: &[i64],
    keys: &[String],
    lookups: Lookups,
) -> Result<(Vec<Option<T>>, bool)> {
    let counters = db.counters();
    let mut rows: Vec<Option<T>> = Vec::with_capacity(ids.len());
    let mut misses: Vec<(usize, Option<LeaseToken>)> = Vec::new();
    let mut corrupt: Vec<usize> = Vec::new();
    let (mut hits, mut negative_hits) = (0, 0);
    for (index, lookup) in lookups.answers.into_iter().enumerate() {
        // Decoded straight into its place: a row is moved as few times as can be.
        rows.push(match lookup {
            Lookup::Hit(bytes) => match decode_entry::<T>(bytes, lookups.epoch) {
                Entry::Row(item) => {
                    hits += 1;
                    Some(item)
                }
                Entry::Absent => {
                    negative_hits += 1;
                    None
                }
                Entry::Corrupt => {
                    corrupt.push(index);
                    None
                }
            },
            Lookup::Leased(token) => {
                misses.push((index, Some(token)));
                None
            }
            Lookup::Busy | Lookup::Loading(_) => {
                misses.push((index, None));
                None
            }
        });
    }
    counters.cache_hits(hits);
    counters.negative_hits(negative_hits);
    if !corrupt.is_empty() {
        misses.extend(replace_corrupt(db, cache, keys, &corrupt).await);
    }
    if misses.is_empty() {
        return Ok((rows, true));
    }
    counters.cache_misses(misses.len() as u64);

    let miss_ids: Vec<i64> = misses.iter().map(|&(index, _)| ids[index]).collect();
    let loaded = rows_by_ids::<T>(Target::Db(db), &miss_ids).await?;
    cache.pass_fill_gate().await;
    for (&(index, _), row) in misses.iter().zip(loaded) {
        rows[index] = row;
    }

    // A token is only honoured for `lease_ttl`, and never longer than the cache
    // can vouch for it: a reader slower than that does not fill.
    if lookups.at.elapsed() > cache.fill_window() {
        return Ok((rows, false));
    }
    let fills: Vec<Fill> = misses
        .iter()
        .filter_map(|&(index, token)| {
            let item = rows[index].as_ref();
            Some(Fill {
                key: keys[index].clone(),
                token: token?,
                value: encode_entry(item, lookups.epoch).into(),
                ttl: entry_ttl(cache, item.is_some()),
            })
        })
        .collect();
    if !fills.is_empty() {
        send_fills(db, cache, &fills).await;
    }
    Ok((rows, false))
}

/// Drops undecodable values (written by another version, or damaged) and leases
/// their keys so that this read replaces them.
async fn replace_corrupt(
    db: &Db,
    cache: &CacheContext,
    keys: &[String],
    corrupt: &[usize],
) -> Vec<(usize, Option<LeaseToken>)> {
    let corrupt_keys: Vec<String> = corrupt.iter().map(|&index| keys[index].clone()).collect();
    let no_fill = || corrupt.iter().map(|&index| (index, None)).collect();
    if let Err(err) = cache.store.invalidate(&corrupt_keys).await {
        cache.warn(db.counters(), "invalidate", &err);
        return no_fill();
    }
    match cache
        .store
        .get_or_lease(&corrupt_keys, cache.config.lease_ttl)
        .await
    {
        Ok(lookups) => corrupt
            .iter()
            .zip(lookups)
            .map(|(&index, lookup)| match lookup {
                Lookup::Leased(token) => (index, Some(token)),
                _ => (index, None),
            })
            .collect(),
        Err(err) => {
            cache.warn(db.counters(), "get", &err);
            no_fill()
        }
    }
}
