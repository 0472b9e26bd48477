//! The bytes [`RedisCache`](super::RedisCache) keeps in Redis and reads back:
//! tombstones, write locks, lease tokens, TTLs and stamps, and how each reply
//! is read (anything else is [`unexpected`]).

use super::connection::SendError;
use crate::cache::{Bytes, LeaseToken, Lookup, StampedLookup, WriteKeys, stamp_start};
use deadpool_redis::redis::{self, ErrorKind, RedisError, Value};
use std::time::Duration;

/// The first byte of a tombstone; a value must not start with it.
pub(super) const TOMBSTONE_TAG: u8 = 0x00;

/// The byte after a write lock's tombstone (see [`write_lock`]).
const LOCK_TAG: u8 = b'L';

/// The top bit of what a locked stamp reads as (see [`stamp_of`]): set in no
/// value Thing writes (random starts are below 2^62).
const LOCKED_STAMP: u64 = 1 << 63;

/// The longest TTL sent to Redis, in milliseconds (Redis rejects expiry times
/// that overflow its clock; this is about 285,000 years).
const MAX_TTL_MS: u128 = 1 << 53;

/// The bytes of a tombstone.
pub(super) fn tombstone(token: LeaseToken) -> [u8; 17] {
    let mut bytes = [TOMBSTONE_TAG; 17];
    bytes[1..].copy_from_slice(&token.0.to_be_bytes());
    bytes
}

/// A write lock as `begin_write.lua` leaves it in each key the write locks: a
/// tombstone of the write's own, `L`, and how many writes hold the key
/// (`holders` in `helpers.lua`). No lookup hands it out as a token, so no
/// fill can match it. The scripts are sent its first 17 bytes, the
/// tombstone, and append the rest.
#[cfg(test)]
fn write_lock(token: LeaseToken, holders: u32) -> Vec<u8> {
    let mut bytes = tombstone(token).to_vec();
    bytes.push(LOCK_TAG);
    bytes.extend_from_slice(holders.to_string().as_bytes());
    bytes
}

/// Whether `bytes` are a write lock (an earlier version's too, which had no
/// count of holders).
fn is_lock(bytes: &[u8]) -> bool {
    bytes.len() >= 18 && bytes[0] == TOMBSTONE_TAG && bytes[17] == LOCK_TAG
}

/// What a stamp holding the write lock `bytes` reads as: a value with the
/// top bit set, which no stamp ever has, so that no list is stored under
/// it, and which differs for each lock (each write's tombstone is random,
/// and the count of holders is in it), so that two readers share a load
/// only if they saw the same lock (FNV-1a of the bytes).
fn locked_stamp(bytes: &[u8]) -> u64 {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash | LOCKED_STAMP
}

/// What a lookup saw, as a token: nothing (at the server's time `now_ms`), or
/// the tombstone's id.
fn token_of(seen: Option<&[u8]>, now_ms: u64) -> Option<LeaseToken> {
    match seen {
        None => Some(LeaseToken::saw_nothing_at(now_ms)),
        Some([TOMBSTONE_TAG, id @ ..]) => {
            Some(LeaseToken(u128::from_be_bytes(id.try_into().ok()?)))
        }
        Some(_) => None,
    }
}

/// The token as the fill script compares it: empty for nothing.
pub(super) fn seen_bytes(token: LeaseToken) -> Vec<u8> {
    match token.looked_at() {
        Some(_) => Vec::new(),
        None => tombstone(token).to_vec(),
    }
}

/// What one `MGET` item says about a key looked up at `now_ms`. Bytes that
/// begin like a tombstone but are none are handed back as a hit, which the
/// caller cannot decode: a miss, repaired by its next fill, never an error for
/// the batch.
fn lookup_of(item: Value, now_ms: u64) -> Result<Lookup, SendError> {
    match item {
        Value::Nil => Ok(Lookup::Leased(LeaseToken::saw_nothing_at(now_ms))),
        Value::BulkString(bytes) if is_lock(&bytes) => Ok(Lookup::Busy),
        Value::BulkString(bytes) if bytes.first() == Some(&TOMBSTONE_TAG) => {
            Ok(match token_of(Some(&bytes), now_ms) {
                Some(token) => Lookup::Leased(token),
                None => Lookup::Hit(Bytes::from(bytes)),
            })
        }
        Value::BulkString(bytes) => Ok(Lookup::Hit(Bytes::from(bytes))),
        other => Err(unexpected("get_or_lease", &other)),
    }
}

/// Adds to `pipe` the lookup of `keys` and `stamp`: an `MGET`, then `TIME`.
pub(super) fn add_lookup(pipe: &mut redis::Pipeline, keys: &[String], stamp: Option<&str>) {
    let mget = pipe.cmd("MGET");
    for key in keys.iter().map(String::as_str).chain(stamp) {
        mget.arg(key);
    }
    pipe.cmd("TIME");
}

/// The lookups of `keys` keys (and the stamp after them, if asked) from the
/// replies of [`add_lookup`]'s `MGET` and `TIME`.
pub(super) fn lookups_of(
    reply: Value,
    time: &Value,
    keys: usize,
    with_stamp: bool,
) -> Result<(Vec<Lookup>, Option<u64>), SendError> {
    let now_ms = server_ms(time).ok_or_else(|| unexpected("TIME", time))?;
    let Value::Array(mut items) = reply else {
        return Err(unexpected("get_or_lease", &reply));
    };
    if items.len() != keys + usize::from(with_stamp) {
        return Err(unexpected(
            "get_or_lease: wrong length",
            &Value::Array(items),
        ));
    }
    let stamp = with_stamp.then(|| items.pop()).flatten().and_then(stamp_of);
    let lookups = items
        .into_iter()
        .map(|item| lookup_of(item, now_ms))
        .collect::<Result<_, _>>()?;
    Ok((lookups, stamp))
}

/// The `MGET` of a list `key` and its `stamps`.
pub(super) fn stamped_mget(key: &str, stamps: &[String]) -> redis::Cmd {
    let mut mget = redis::cmd("MGET");
    mget.arg(key);
    for stamp in stamps {
        mget.arg(stamp.as_str());
    }
    mget
}

/// A list and its `stamps` from the reply of [`stamped_mget`].
pub(super) fn stamped_of(reply: Value, stamps: usize) -> Result<StampedLookup, SendError> {
    let Value::Array(items) = reply else {
        return Err(unexpected("get_stamped", &reply));
    };
    if items.len() != stamps + 1 {
        return Err(unexpected(
            "get_stamped: wrong length",
            &Value::Array(items),
        ));
    }
    let mut items = items.into_iter();
    let value = match items.next() {
        Some(Value::BulkString(bytes)) => Some(Bytes::from(bytes)),
        _ => None,
    };
    Ok(StampedLookup {
        value,
        stamps: items.map(stamp_of).collect(),
    })
}

/// The server's time in milliseconds, from a `TIME` reply.
fn server_ms(reply: &Value) -> Option<u64> {
    let Value::Array(parts) = reply else {
        return None;
    };
    let part = |at: usize| -> Option<u64> {
        match parts.get(at)? {
            Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
            Value::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    };
    Some(part(0)? * 1000 + part(1)? / 1000)
}

/// A TTL as Redis `PX` milliseconds: at least 1 (0 is an error in Redis).
pub(super) fn ttl_ms(ttl: Duration) -> Vec<u8> {
    let ms = ttl.as_nanos().div_ceil(1_000_000).clamp(1, MAX_TTL_MS);
    ms.to_string().into_bytes()
}

pub(super) fn unexpected(what: &str, value: &Value) -> SendError {
    SendError::Redis(RedisError::from((
        ErrorKind::UnexpectedReturnType,
        "unexpected reply",
        format!("{what}: {value:?}"),
    )))
}

/// `end_write.lua`'s flags for the keys of `locked` then `learned`, rows then
/// stamps: `1` for a key of `locked`, `0` for one of `learned`.
pub(super) fn locked_flags(locked: &WriteKeys, learned: &WriteKeys) -> Vec<u8> {
    let flag = |keys: &[String], byte: u8| std::iter::repeat_n(byte, keys.len());
    flag(&locked.rows, b'1')
        .chain(flag(&learned.rows, b'0'))
        .chain(flag(&locked.stamps, b'1'))
        .chain(flag(&learned.stamps, b'0'))
        .collect()
}

/// A random value for each of `count` stamps: the start of a missing one, or
/// the next value of one a write moves on (below 2^62).
pub(super) fn random_starts(count: usize) -> Vec<String> {
    (0..count).map(|_| stamp_start().to_string()).collect()
}

/// A stamp's value as Redis returned it: `None` when missing or not a number
/// as Thing writes them (decimal digits, no sign, no leading zero, at most
/// 19: the scripts' `counter` accepts exactly these, and replaces anything
/// else), and for a stamp a write holds, a value no stamp has
/// ([`locked_stamp`]).
pub(super) fn stamp_of(value: Value) -> Option<u64> {
    match value {
        Value::BulkString(bytes) if is_lock(&bytes) => Some(locked_stamp(&bytes)),
        Value::BulkString(bytes) => canonical_decimal(&bytes),
        Value::Int(n) => u64::try_from(n).ok(),
        _ => None,
    }
}

/// `bytes` as a number if they are one as Thing writes a stamp (and as
/// Redis's `INCR` does): decimal digits, no sign, no leading zero, at most 19.
fn canonical_decimal(bytes: &[u8]) -> Option<u64> {
    let canonical = matches!(bytes, [b'0'] | [b'1'..=b'9', ..])
        && bytes.len() <= 19
        && bytes.iter().all(u8::is_ascii_digit);
    canonical.then(|| std::str::from_utf8(bytes).ok()?.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_tokens_and_ttls_are_encoded_for_redis() {
        let stone = tombstone(LeaseToken(0x0102));
        assert_eq!(stone[0], 0);
        assert_eq!(&stone[15..], &[1, 2]);
        assert_eq!(token_of(Some(&stone), 9), Some(LeaseToken(0x0102)));
        assert_eq!(token_of(None, 9), Some(LeaseToken::saw_nothing_at(9)));
        assert_eq!(
            token_of(Some(&[0, 1]), 9),
            None,
            "a short tombstone is malformed"
        );
        assert_eq!(seen_bytes(LeaseToken::saw_nothing_at(9)), b"");
        assert_eq!(seen_bytes(LeaseToken(0x0102)), stone.to_vec());
        let lock = write_lock(LeaseToken(0x0102), 1);
        assert!(is_lock(&lock) && !is_lock(&stone));
        assert!(is_lock(&lock[..18]), "an earlier version's lock");
        assert_ne!(
            token_of(Some(&lock), 9),
            Some(LeaseToken(0x0102)),
            "a lock is never a token"
        );
        assert_eq!(ttl_ms(Duration::ZERO), b"1");
        assert_eq!(ttl_ms(Duration::from_micros(1500)), b"2");
        assert_eq!(ttl_ms(Duration::from_secs(60)), b"60000");
        assert_eq!(
            ttl_ms(Duration::MAX),
            (1u128 << 53).to_string().into_bytes()
        );
    }

    #[test]
    fn a_locked_stamp_reads_as_no_value_a_stamp_has_and_differs_per_lock() {
        let locked = |token, holders| {
            stamp_of(Value::BulkString(write_lock(LeaseToken(token), holders))).unwrap()
        };
        assert!(locked(7, 1) >= LOCKED_STAMP);
        assert_ne!(locked(7, 1), locked(8, 1), "another write's lock");
        assert_ne!(locked(7, 1), locked(7, 2), "one more holder");
        assert_eq!(locked(7, 2), locked(7, 2));
        assert_eq!(stamp_of(Value::BulkString(b"42".to_vec())), Some(42));
    }

    #[test]
    fn stamps_read_only_as_incr_writes_them() {
        assert_eq!(canonical_decimal(b"0"), Some(0));
        assert_eq!(canonical_decimal(b"4611686018427387904"), Some(1 << 62));
        for bad in [
            &b""[..],
            b"-5",
            b"+5",
            b"007",
            b" 5",
            b"1.5",
            b"12345678901234567890",
        ] {
            assert_eq!(canonical_decimal(bad), None, "{bad:?}");
        }
    }
}
