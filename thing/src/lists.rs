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

use crate::cache::{Fill, LeaseToken, Lookup};
use crate::executor::Target;
use crate::filter::Expr;
use crate::flight::{Landing, Role};
use crate::query::Query;
use crate::store::ObjectCache;
use crate::value::Value;
use crate::{Db, Result, Thing, crud};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The first byte of a cached list (rows are 1, absent markers 2).
const LIST: u8 = 3;

/// What a committed write did to one row.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// A new row, with every column's value.
    Inserted { id: i64, after: Vec<Value> },
    /// Columns changed in place, with their values before (`None`: unknown, so
    /// any value).
    Updated {
        id: i64,
        before: Option<Vec<(usize, Value)>>,
    },
    /// The row is gone.
    Deleted { id: i64 },
}

impl Write {
    pub fn id(&self) -> i64 {
        match self {
            Self::Inserted { id, .. } | Self::Updated { id, .. } | Self::Deleted { id } => *id,
        }
    }
}

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

/// The registry of `T`'s cached queries.
fn registry<T: Thing>(prefix: &str) -> String {
    format!("{prefix}:{}:{:016x}:queries", T::TABLE, T::SCHEMA_HASH)
}

/// The cache key of a query's list.
fn list_key<T: Thing>(prefix: &str, spec: &[u8]) -> String {
    format!(
        "{prefix}:{}:{:016x}:q:{}",
        T::TABLE,
        T::SCHEMA_HASH,
        crate::sha1::sha1_hex(spec)
    )
}

/// The query's cached list, read from SQL and cached on a miss.
pub(crate) async fn list<T: Thing>(
    db: &Db,
    objects: &ObjectCache,
    query: &Query<T>,
) -> Result<CachedList> {
    let spec = Spec {
        expr: query.expr(),
        order: query.sort_keys(),
    };
    let spec =
        serde_json::to_vec(&spec).map_err(|err| crate::Error::InvalidInput(err.to_string()))?;
    let keys = [list_key::<T>(&objects.config.prefix, &spec)];
    let registry = registry::<T>(&objects.config.prefix);
    if objects.unflushed.contains_registry(&registry) || objects.unflushed.contains(&keys[0]) {
        // This process owes the cache an invalidation of this table's lists.
        db.counters().query_miss();
        return read_list(query, objects.config.list_window, db).await;
    }
    loop {
        // Concurrent misses of one list in this process read it once.
        if let Some(landing) = objects.flights.joinable(&keys[0]) {
            match follow(db, &landing).await {
                Some(list) => return Ok(list),
                None => continue,
            }
        }
        let looked_up = Instant::now();
        let token = match objects
            .cache
            .get_or_lease(&keys, objects.config.lease_ttl)
            .await
        {
            Ok(mut lookups) if lookups.len() == 1 => match lookups.remove(0) {
                Lookup::Hit(bytes) => match CachedList::decode(&bytes) {
                    Some(list) => {
                        db.counters().query_hit();
                        return Ok(list);
                    }
                    // Undecodable: dropped, and this read refills it.
                    None => lease_again(db, objects, &keys).await,
                },
                Lookup::Leased(token) => Some(token),
                Lookup::Busy => None,
            },
            Ok(_) => None,
            Err(err) => {
                objects.warn(db, "get", &err);
                None
            }
        };
        let leader = match objects.flights.lead_or_follow(&keys[0]) {
            Role::Lead(leader) => leader,
            Role::Follow(landing) => {
                if let Some(token) = token {
                    objects.cache.release(&keys[0], token);
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
            Some(token) => match objects
                .cache
                .register(&registry, &keys[0], &spec, objects.config.ttl)
                .await
            {
                Ok(()) => Some(token),
                Err(err) => {
                    objects.warn(db, "register", &err);
                    None
                }
            },
            None => None,
        };

        let list = read_list(query, objects.config.list_window, db).await?;

        objects.pass_fill_gate().await;
        let fill_window = objects.config.lease_ttl.min(objects.cache.fill_window());
        if let Some(token) = token
            && looked_up.elapsed() <= fill_window
        {
            let fill = Fill {
                key: keys[0].clone(),
                token,
                value: list.encode(),
                ttl: objects.config.ttl,
            };
            match objects.cache.fill(std::slice::from_ref(&fill)).await {
                Ok(stored) => db.counters().cache_fills(stored as u64),
                Err(err) => objects.warn(db, "fill", &err),
            }
        }
        leader.land(|| list.encode());
        return Ok(list);
    }
}

/// Waits for this process' reader of the same list: `None` when it gave up.
async fn follow(db: &Db, landing: &Landing) -> Option<CachedList> {
    let list = CachedList::decode(&landing.wait().await?)?;
    db.counters().query_hit();
    Some(list)
}

/// The list from SQL: up to `window` ids, and the count.
async fn read_list<T: Thing>(query: &Query<T>, window: usize, db: &Db) -> Result<CachedList> {
    let mut ids = query
        .page_ids(Target::Db(db), Some((0, window as u64 + 1)))
        .await?;
    let complete = ids.len() <= window;
    ids.truncate(window);
    let count = if complete {
        ids.len() as u64
    } else {
        query.count_in(Target::Db(db)).await?
    };
    Ok(CachedList {
        ids,
        count,
        complete,
    })
}

async fn lease_again(db: &Db, objects: &ObjectCache, keys: &[String]) -> Option<LeaseToken> {
    if let Err(err) = objects.cache.invalidate(keys).await {
        objects.warn(db, "invalidate", &err);
        return None;
    }
    match objects
        .cache
        .get_or_lease(keys, objects.config.lease_ttl)
        .await
    {
        Ok(lookups) => match lookups.first() {
            Some(Lookup::Leased(token)) => Some(*token),
            _ => None,
        },
        Err(err) => {
            objects.warn(db, "get", &err);
            None
        }
    }
}

/// After `writes` to `T` committed: invalidates every cached list of `T` they
/// could change.
pub(crate) async fn after_write<T: Thing>(db: &Db, objects: &ObjectCache, writes: &[Write]) {
    let registry = registry::<T>(&objects.config.prefix);
    let registered = match objects.cache.registered(&registry).await {
        Ok(registered) => registered,
        Err(err) => {
            // Which lists the write touched cannot be told now: drop them all
            // once the cache answers, and read this table's lists from the
            // database meanwhile.
            objects.warn(db, "registered", &err);
            objects.unflushed.add_registry(&objects.cache, &registry);
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
        match crud::select_ids::<T>(Target::Db(db), &updated).await {
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
    match objects.cache.invalidate(&touched).await {
        Ok(()) => db.counters().invalidations(touched.len() as u64),
        Err(err) => {
            objects.warn(db, "invalidate", &err);
            objects.unflushed.add(&objects.cache, &touched);
        }
    }
    if let Err(err) = objects.cache.unregister(&registry, &touched).await {
        // Harmless: an entry left behind only costs a later writer a look.
        objects.warn(db, "unregister", &err);
    }
}

/// Whether `write` could change the list of `spec`. `after` is the row as it is
/// now, for updates.
fn touches<T: Thing>(write: &Write, after: Option<&T>, spec: &Spec) -> bool {
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
                    .map_or_else(|| after.__value(column), |(_, value)| value.clone()),
                None => Value::Opaque,
            };
            spec.expr.eval(&old).may_match()
                || spec.expr.eval(&|column| after.__value(column)).may_match()
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
