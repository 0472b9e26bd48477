//! A query's cached seek list: the ids of its first rows (up to its window)
//! with their sort tuples in a byte form whose byte order is the query's
//! order, so that a cursor's place in it is a binary search. It is cached
//! beside the query's list, under the same stamps, and trusted as lists are:
//! only while none of them moved.
//!
//! Only orders Rust can follow exactly are kept this way: integers, booleans,
//! times and dates (the id is an integer). Text is left to the database (its
//! collation decides its order), and so are floats, bytes and UUIDs; and a
//! list whose rows, as read, do not come in strictly increasing byte order
//! (a backend storing times more finely than Thing compares them, say) is
//! cached as not seekable. Pages of such queries come from SQL.

use crate::backend::types::SqlType;
use crate::cache::Bytes;
use crate::cache::context::CacheContext;
use crate::db::executor::Target;
use crate::db::handle::Db;
use crate::error::Result;
use crate::query::Query;
use crate::read::list::{self, Looked, RowAnswer, Validity};
use crate::read::select;
use crate::schema::{ColumnDef, Schema};
use crate::value::Value;

/// The first byte of a cached seek list (lists are 3).
const SEEK: u8 = 4;

/// Bytes per sort key: a NULL flag, then the value as a big-endian `u64`.
const KEY_BYTES: usize = 9;

/// A query's first ids, each with its sort tuple in byte order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeekList {
    /// The ids, 8 bytes each (little-endian), as cached: read only for the
    /// page taken.
    ids: Bytes,
    /// One key of `width` bytes per id, in order.
    keys: Bytes,
    width: usize,
    /// Whether `ids` holds every matching id.
    complete: bool,
    /// Whether the order can be followed in Rust (otherwise `ids` is empty
    /// and pages come from SQL).
    seekable: bool,
}

impl SeekList {
    /// The list of `rows` (the query's first, in its order, sorted by
    /// `keys`): seekable when every key has a byte form and they increase.
    fn of<T: Schema>(rows: &[T], keys: &[(usize, bool)], complete: bool) -> Self {
        let unseekable = Self {
            ids: Bytes::new(),
            keys: Bytes::new(),
            width: keys.len() * KEY_BYTES,
            complete,
            seekable: false,
        };
        if !seekable(keys, T::COLUMN_DEFS) {
            return unseekable;
        }
        let width = keys.len() * KEY_BYTES;
        let mut ids = Vec::with_capacity(rows.len() * 8);
        let mut sorted: Vec<u8> = Vec::with_capacity(rows.len() * width);
        for row in rows {
            let values: Vec<Value> = keys.iter().map(|&(column, _)| row.value(column)).collect();
            let Some(key) = sort_key(keys, &values) else {
                return unseekable;
            };
            if sorted.len() >= width && sorted[sorted.len() - width..] >= *key {
                return unseekable;
            }
            ids.extend_from_slice(&row.row_id().to_le_bytes());
            sorted.extend_from_slice(&key);
        }
        Self {
            ids: Bytes::from(ids),
            keys: Bytes::from(sorted),
            seekable: true,
            ..unseekable
        }
    }

    /// How many ids the list holds.
    pub(crate) fn len(&self) -> usize {
        self.ids.len() / 8
    }

    /// The ids from index `start` to before `end`, in order.
    pub(crate) fn ids(&self, start: usize, end: usize) -> Vec<i64> {
        list::words(&self.ids[start * 8..end * 8])
            .map(i64::from_le_bytes)
            .collect()
    }

    /// Whether the list holds every matching id.
    pub(crate) fn complete(&self) -> bool {
        self.complete
    }

    /// Whether cursors can be placed in the list.
    pub(crate) fn seekable(&self) -> bool {
        self.seekable
    }

    fn key(&self, i: usize) -> &[u8] {
        &self.keys[i * self.width..(i + 1) * self.width]
    }

    /// The index of the first id strictly after the place `key`.
    pub(crate) fn after(&self, key: &[u8]) -> usize {
        self.partition(|entry| entry <= key)
    }

    /// The index of the first id at or after the place `key`.
    pub(crate) fn at_or_after(&self, key: &[u8]) -> usize {
        self.partition(|entry| entry < key)
    }

    /// The number of leading entries `before` holds for (they are sorted).
    fn partition(&self, before: impl Fn(&[u8]) -> bool) -> usize {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = low + (high - low) / 2;
            if before(self.key(middle)) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }

    /// The cached bytes: the list and the stamp values it was built under.
    fn encode(&self, stamps: &[u64]) -> Vec<u8> {
        let mut bytes =
            Vec::with_capacity(12 + stamps.len() * 8 + self.ids.len() + self.keys.len());
        bytes.extend_from_slice(&[SEEK, u8::from(self.complete), u8::from(self.seekable)]);
        bytes.extend_from_slice(&(stamps.len() as u16).to_le_bytes());
        for stamp in stamps {
            bytes.extend_from_slice(&stamp.to_le_bytes());
        }
        bytes.extend_from_slice(&(self.width as u16).to_le_bytes());
        bytes.extend_from_slice(&(self.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&self.ids);
        bytes.extend_from_slice(&self.keys);
        bytes
    }

    /// The list and the stamp values it was built under; the ids and keys
    /// are slices of the cached bytes, not copies.
    fn decode(cached: &Bytes) -> Option<(Self, Vec<u64>)> {
        let bytes: &[u8] = cached;
        let (&[SEEK, complete, seekable], rest) = bytes.split_first_chunk::<3>()? else {
            return None;
        };
        let (stamps, rest) = rest.split_first_chunk::<2>()?;
        let (stamps, rest) = rest.split_at_checked(usize::from(u16::from_le_bytes(*stamps)) * 8)?;
        let (width, rest) = rest.split_first_chunk::<2>()?;
        let (count, rest) = rest.split_first_chunk::<4>()?;
        let width = usize::from(u16::from_le_bytes(*width));
        let count = u32::from_le_bytes(*count) as usize;
        let (ids, keys) = rest.split_at_checked(count.checked_mul(8)?)?;
        if complete > 1 || seekable > 1 || keys.len() != count.checked_mul(width)? {
            return None;
        }
        let list = Self {
            ids: cached.slice_ref(ids),
            keys: cached.slice_ref(keys),
            width,
            complete: complete == 1,
            seekable: seekable == 1,
        };
        Some((list, list::words(stamps).map(u64::from_le_bytes).collect()))
    }
}

/// Whether every sort key is of a type whose order Rust follows exactly as
/// every backend sorts it.
pub(crate) fn seekable(keys: &[(usize, bool)], columns: &[ColumnDef]) -> bool {
    keys.iter().all(|&(column, _)| {
        columns[column].sql_type.integer_range().is_some()
            || matches!(
                columns[column].sql_type,
                SqlType::Bool | SqlType::TimestampTz | SqlType::Timestamp | SqlType::Date
            )
    })
}

/// The sort tuple `values` in order `keys` as bytes whose order is the
/// query's: per key a flag (NULL below every value), the value as a
/// big-endian `u64` that keeps its order, every byte inverted going down.
/// `None` for a value with no such form.
pub(crate) fn sort_key(keys: &[(usize, bool)], values: &[Value]) -> Option<Vec<u8>> {
    let mut key = Vec::with_capacity(keys.len() * KEY_BYTES);
    for (&(_, descending), value) in keys.iter().zip(values) {
        let start = key.len();
        match value {
            Value::Null => key.extend_from_slice(&[0; KEY_BYTES]),
            value => {
                key.push(1);
                key.extend_from_slice(&ordered(value)?.to_be_bytes());
            }
        }
        if descending {
            key[start..].iter_mut().for_each(|byte| *byte = !*byte);
        }
    }
    Some(key)
}

/// A value as a `u64` in the same order.
fn ordered(value: &Value) -> Option<u64> {
    let signed = |n: i64| (n as u64) ^ (1 << 63);
    Some(match value {
        Value::Int(n) => signed(*n),
        Value::Bool(b) => u64::from(*b),
        Value::TimestampTz(at) => signed(at.timestamp_nanos_opt()?),
        Value::Timestamp(at) => signed(at.and_utc().timestamp_nanos_opt()?),
        Value::Date(day) => signed(i64::from(chrono::Datelike::num_days_from_ce(day))),
        _ => return None,
    })
}

/// What [`seek_list`] found: the list, what it is valid under, and when it
/// was read from SQL just now, its rows; or when it was a hit, the cache's
/// answer for the rows asked for with it.
pub(crate) struct Sought<T> {
    pub list: SeekList,
    pub validity: Validity,
    pub rows: Option<Vec<T>>,
    pub answer: Option<RowAnswer>,
}

/// `query`'s seek list under `key`, read from SQL (its rows, up to its
/// window) and cached on a miss; on a hit, with the lookups of `rows` (row
/// keys and the epoch stamp key) made in the same cache call when given.
/// `None` when the cache cannot vouch for a list of this query now (see
/// [`list::vouching_stamps`]) or does not answer.
pub(crate) async fn seek_list<T: Schema>(
    db: &Db,
    cache: &CacheContext,
    query: &Query<T>,
    key: &str,
    mut rows: Option<(&[String], &str)>,
) -> Result<Option<Sought<T>>> {
    let Some(stamps) = list::vouching_stamps(cache, query) else {
        return Ok(None);
    };
    let mut created_stamps = false;
    loop {
        let (looked, answer) =
            list::look(db, cache, key, &stamps, rows.take(), SeekList::decode).await;
        let seen = match looked {
            Looked::Hit(list, seen) => {
                let validity = Validity { stamps, seen };
                return Ok(Some(Sought {
                    list,
                    validity,
                    rows: None,
                    answer,
                }));
            }
            Looked::Miss(seen) => seen,
            Looked::MissingStamps if !created_stamps => {
                created_stamps = true;
                cache.create_stamps(db.counters(), key, &stamps).await;
                continue;
            }
            Looked::MissingStamps | Looked::Unavailable => return Ok(None),
        };
        db.counters().query_miss();
        let window = list::window(cache, query);
        let mut rows = select::rows(query, Target::Db(db), Some((0, window as u64 + 1))).await?;
        let complete = rows.len() <= window;
        rows.truncate(window);
        let list = SeekList::of(&rows, &query.sort_keys(), complete);
        cache.pass_fill_gate().await;
        let bytes = Bytes::from(list.encode(&seen));
        list::fill(db, cache, key, &stamps, seen.clone(), bytes).await;
        let validity = Validity { stamps, seen };
        return Ok(Some(Sought {
            list,
            validity,
            rows: Some(rows),
            answer: None,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn byte_keys_keep_the_order_nulls_lowest_and_reversed_going_down() {
        let up = [(0, false), (1, false)];
        let down = [(0, true), (1, false)];
        let tuples = [
            vec![Value::Null, Value::Int(5)],
            vec![Value::Int(i64::MIN), Value::Int(1)],
            vec![Value::Int(-1), Value::Int(0)],
            vec![Value::Int(-1), Value::Int(3)],
            vec![Value::Int(0), Value::Int(2)],
            vec![Value::Int(i64::MAX), Value::Int(-9)],
        ];
        let keys: Vec<Vec<u8>> = tuples.iter().map(|t| sort_key(&up, t).unwrap()).collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        let keys: Vec<Vec<u8>> = tuples.iter().map(|t| sort_key(&down, t).unwrap()).collect();
        // Going down on the first key: NULL last, values reversed, ties by id up.
        let order = [5, 4, 2, 3, 1, 0];
        assert!(order.windows(2).all(|pair| keys[pair[0]] < keys[pair[1]]));
        let early = DateTime::from_timestamp(0, 1).unwrap();
        let late = DateTime::from_timestamp(0, 2).unwrap();
        let times = |at| sort_key(&up[..1], &[Value::TimestampTz(at)]).unwrap();
        assert!(times(early) < times(late));
        assert_eq!(sort_key(&up[..1], &[Value::Text("a".into())]), None);
    }

    #[test]
    fn seek_lists_round_trip_find_places_and_reject_garbage() {
        let keys = [(0, false)];
        let mut sorted = Vec::new();
        let mut ids = Vec::new();
        for (id, n) in [(10i64, 1), (20, 2), (30, 4)] {
            ids.extend_from_slice(&id.to_le_bytes());
            sorted.extend(sort_key(&keys, &[Value::Int(n)]).unwrap());
        }
        let list = SeekList {
            ids: Bytes::from(ids),
            keys: Bytes::from(sorted),
            width: KEY_BYTES,
            complete: false,
            seekable: true,
        };
        let stamps = vec![9, u64::MAX];
        let encoded = Bytes::from(list.encode(&stamps));
        assert_eq!(SeekList::decode(&encoded), Some((list.clone(), stamps)));
        assert_eq!(list.ids(1, 3), [20, 30]);
        for cut in 0..encoded.len() {
            assert_eq!(SeekList::decode(&encoded.slice(..cut)), None);
        }
        let at = |n| sort_key(&keys, &[Value::Int(n)]).unwrap();
        assert_eq!(list.after(&at(0)), 0);
        assert_eq!(list.after(&at(2)), 2);
        assert_eq!(list.at_or_after(&at(2)), 1);
        assert_eq!(list.after(&at(3)), 2);
        assert_eq!(list.at_or_after(&at(3)), 2);
        assert_eq!(list.after(&at(9)), 3);
    }
}
