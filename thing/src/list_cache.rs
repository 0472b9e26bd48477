//! Cached list queries: a query's first ids and its count, cached under a key
//! from the normalised query, and dropped precisely when a committed write could
//! change them.
//!
//! Every cached query is registered in its table's registry in the cache, where
//! writers in every process find it. After a write commits, the writer reads
//! the registry, evaluates each registered filter against the row before and
//! after the write, and invalidates exactly the lists it could touch. A reader
//! registers its query *before* its SQL read and fills with a token from a lookup
//! made before that read, so a list read that raced a commit is refused, as
//! objects are.

use crate::cache::context::CacheContext;
use crate::cache::{Fill, LeaseToken, Lookup};
use crate::change::Write;
use crate::db::executor::Target;
use crate::db::handle::Db;
use crate::error::{Error, Result};
use crate::fetch::select_ids;
use crate::filter::Expr;
use crate::flight::{Landing, Role};
use crate::query::Query;
use crate::schema::Schema;
use crate::select;
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The first byte of a cached list (rows are 1, absent markers 2).
const LIST: u8 = 3;

/// A query as registered and as keyed: its whole condition and its sort keys.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Spec {
    pub expr: Expr,
    pub order: Vec<(usize, bool)>,
}

/// A query's cached first ids (up to the window) and its count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedList {
    pub ids: Vec<i64>,
    pub count: u64,
    /// Whether `ids` holds every matching id.
    pub complete: bool,
}

impl CachedList {
    fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(10 + self.ids.len() * 8);
        bytes.push(LIST);
        bytes.extend_from_slice(&self.count.to_le_bytes());
        bytes.push(u8::from(self.complete));
        for id in &self.ids {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (&LIST, rest) = bytes.split_first()? else {
            return None;
        };
        let (count, rest) = rest.split_first_chunk::<8>()?;
        let (&complete, ids) = rest.split_first()?;
        if complete > 1 || ids.len() % 8 != 0 {
            return None;
        }
        Some(Self {
            ids: ids
                .chunks_exact(8)
                .map(|id| i64::from_le_bytes(id.try_into().unwrap_or_default()))
                .collect(),
            count: u64::from_le_bytes(*count),
            complete: complete == 1,
        })
    }
}

/// The query's cached list, read from SQL and cached on a miss. Concurrent
/// misses of one list in this process read it once.
pub(crate) async fn list<T: Schema>(
    db: &Db,
    cache: &CacheContext,
    query: &Query<T>,
) -> Result<CachedList> {
    let spec = Spec {
        expr: query.expr(),
        order: query.sort_keys(),
    };
    let spec = serde_json::to_vec(&spec).map_err(|err| Error::InvalidInput(err.to_string()))?;
    let key = cache.list_key::<T>(&spec);
    let registry = cache.registry_key::<T>();
    if cache.unflushed.contains_registry(&registry) || cache.unflushed.contains(&key) {
        // This process owes the cache an invalidation of this table's lists.
        db.counters().query_miss();
        return read_list(query, cache.config.list_window, db).await;
    }
    loop {
        if let Some(landing) = cache.flights.joinable(&key) {
            match follow(db, &landing).await {
                Some(list) => return Ok(list),
                None => continue,
            }
        }
        let looked_up = Instant::now();
        let token = match lookup(db, cache, &key).await {
            Looked::Hit(list) => return Ok(list),
            Looked::Miss(token) => token,
        };
        let leader = match cache.flights.lead_or_follow(&key) {
            Role::Lead(leader) => leader,
            Role::Follow(landing) => {
                if let Some(token) = token {
                    cache.cache.release(&key, token);
                }
                match follow(db, &landing).await {
                    Some(list) => return Ok(list),
                    None => continue,
                }
            }
        };
        db.counters().query_miss();
        // Registered before the SQL read: a write committing after this point
        // sees the query, and invalidates it if it must.
        let token = match token {
            Some(token) => register(db, cache, &registry, &key, &spec)
                .await
                .then_some(token),
            None => None,
        };
        let list = read_list(query, cache.config.list_window, db).await?;
        cache.pass_fill_gate().await;
        if let Some(token) = token
            && looked_up.elapsed() <= cache.fill_window()
        {
            fill(db, cache, &key, token, &list).await;
        }
        leader.land(|| list.encode());
        return Ok(list);
    }
}

/// What the cache holds for a list.
enum Looked {
    Hit(CachedList),
    /// Not cached: the token to fill it with, if this reader may.
    Miss(Option<LeaseToken>),
}

async fn lookup(db: &Db, cache: &CacheContext, key: &str) -> Looked {
    let keys = [key.to_owned()];
    match cache
        .cache
        .get_or_lease(&keys, cache.config.lease_ttl)
        .await
    {
        Ok(mut lookups) if lookups.len() == 1 => match lookups.remove(0) {
            Lookup::Hit(bytes) => match CachedList::decode(&bytes) {
                Some(list) => {
                    db.counters().query_hit();
                    Looked::Hit(list)
                }
                // Undecodable: dropped, and this read refills it.
                None => Looked::Miss(lease_again(db, cache, &keys).await),
            },
            Lookup::Leased(token) => Looked::Miss(Some(token)),
            Lookup::Busy => Looked::Miss(None),
        },
        Ok(_) => Looked::Miss(None),
        Err(err) => {
            cache.warn(db.counters(), "get", &err);
            Looked::Miss(None)
        }
    }
}

/// Registers the query in its table's registry; `false` when the cache did
/// not take it (the list is then read but not filled).
async fn register(db: &Db, cache: &CacheContext, registry: &str, key: &str, spec: &[u8]) -> bool {
    match cache
        .cache
        .register(registry, key, spec, cache.config.ttl)
        .await
    {
        Ok(()) => true,
        Err(err) => {
            cache.warn(db.counters(), "register", &err);
            false
        }
    }
}

async fn fill(db: &Db, cache: &CacheContext, key: &str, token: LeaseToken, list: &CachedList) {
    let fill = Fill {
        key: key.to_owned(),
        token,
        value: list.encode(),
        ttl: cache.config.ttl,
    };
    match cache.cache.fill(std::slice::from_ref(&fill)).await {
        Ok(stored) => db.counters().cache_fills(stored as u64),
        Err(err) => cache.warn(db.counters(), "fill", &err),
    }
}

/// Waits for this process' reader of the same list: `None` when it gave up.
async fn follow(db: &Db, landing: &Landing) -> Option<CachedList> {
    let list = CachedList::decode(&landing.wait().await?)?;
    db.counters().query_hit();
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

async fn lease_again(db: &Db, cache: &CacheContext, keys: &[String]) -> Option<LeaseToken> {
    if let Err(err) = cache.cache.invalidate(keys).await {
        cache.warn(db.counters(), "invalidate", &err);
        return None;
    }
    match cache.cache.get_or_lease(keys, cache.config.lease_ttl).await {
        Ok(lookups) => match lookups.first() {
            Some(Lookup::Leased(token)) => Some(*token),
            _ => None,
        },
        Err(err) => {
            cache.warn(db.counters(), "get", &err);
            None
        }
    }
}

/// After `writes` to `T` committed: invalidates every cached list of `T` they
/// could change.
pub(crate) async fn after_write<T: Schema>(db: &Db, cache: &CacheContext, writes: &[Write]) {
    let registry = cache.registry_key::<T>();
    let registered = match cache.cache.registered(&registry).await {
        Ok(registered) => registered,
        Err(err) => {
            // Which lists the write touched cannot be told now: drop them all
            // once the cache answers, and read this table's lists from the
            // database meanwhile.
            cache.warn(db.counters(), "registered", &err);
            cache.unflushed.add_registry(&cache.cache, &registry);
            return;
        }
    };
    if registered.is_empty() || writes.is_empty() {
        return;
    }
    let updated: Vec<i64> = writes
        .iter()
        .filter(|write| matches!(write, Write::Updated { .. }))
        .map(Write::id)
        .collect();
    // The rows as they are now: the after-image of every update. (Read after
    // the commit; a later writer's own invalidation covers what it changes.)
    let current: Vec<Option<T>> = if updated.is_empty() {
        Vec::new()
    } else {
        match select_ids::<T>(Target::Db(db), &updated).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read rows to invalidate lists; dropping them all");
                updated.iter().map(|_| None).collect()
            }
        }
    };
    let touched: Vec<String> = registered
        .into_iter()
        .filter(|(_, spec)| match serde_json::from_slice::<Spec>(spec) {
            Ok(spec) => writes.iter().any(|write| {
                let after = updated
                    .iter()
                    .position(|&id| id == write.id())
                    .and_then(|at| current[at].as_ref());
                touches(write, after, &spec)
            }),
            Err(_) => true,
        })
        .map(|(query, _)| query)
        .collect();
    if touched.is_empty() {
        return;
    }
    cache.invalidate(db.counters(), &touched).await;
    if let Err(err) = cache.cache.unregister(&registry, &touched).await {
        // Harmless: an entry left behind only costs a later writer a look.
        cache.warn(db.counters(), "unregister", &err);
    }
}

/// Whether `write` could change the list of `spec`. `after` is the row as it is
/// now, for updates.
fn touches<T: Schema>(write: &Write, after: Option<&T>, spec: &Spec) -> bool {
    match write {
        Write::Inserted { after, .. } => {
            spec.expr.eval(&|column| after[column].clone()).may_match()
        }
        Write::Deleted { .. } => true,
        Write::Updated { before, .. } => {
            let Some(after) = after else {
                return true; // gone since: it may have been in the list
            };
            if let Some(before) = before
                && !references_any(spec, before.iter().map(|(column, _)| *column))
            {
                return false; // neither the filter nor the order reads a changed column
            }
            let old = |column: usize| match before {
                Some(before) => before
                    .iter()
                    .find(|(changed, _)| *changed == column)
                    .map_or_else(|| after.value(column), |(_, value)| value.clone()),
                None => Value::Opaque,
            };
            spec.expr.eval(&old).may_match()
                || spec.expr.eval(&|column| after.value(column)).may_match()
        }
    }
}

fn references_any(spec: &Spec, mut columns: impl Iterator<Item = usize>) -> bool {
    let mut read = Vec::new();
    if !spec.expr.columns(&mut read) {
        return true; // raw SQL: could read anything
    }
    read.extend(spec.order.iter().map(|&(column, _)| column));
    columns.any(|column| read.contains(&column))
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
        assert_eq!(CachedList::decode(&list.encode()), Some(list));
        assert_eq!(CachedList::decode(&[LIST, 1, 2]), None);
        assert_eq!(CachedList::decode(&[1, 0, 0]), None);
    }
}
