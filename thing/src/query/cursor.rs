//! Keyset pagination's tokens: a [`Cursor`] names a place in one query's
//! order (the query's fingerprint, the direction it was made for, the whole
//! sort tuple ending with the id), as opaque, URL-safe text; a [`Page`] is
//! what [`Query::after`](crate::Query::after) and
//! [`Query::before`](crate::Query::before) return.

use crate::error::{Error, Result};
use crate::schema::ColumnDef;
use crate::value::Value;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::fmt;
use std::str::FromStr;

/// The token format; a token of another version is refused.
const VERSION: u8 = 1;

/// A place in a query's order, to page from: the `next` or `prev` of a
/// [`Page`]. It holds the sort values of the row it was made from (the id
/// last), so a page after it continues from those values even when that row
/// was deleted or moved since.
///
/// Its text ([`Display`](fmt::Display), so `cursor.to_string()`) is URL-safe
/// base64, to hand to a client and take back with [`FromStr`] or
/// [`Cursor::parse`]; it is written only when asked for. A cursor is tied to its query: given to another query
/// (another filter, order, table or model) it is
/// [`Error::InvalidCursor`]; so is a truncated or altered one. It is checked,
/// not signed: whoever rewrites one so that its checksum matches can only
/// move where a page of the same query starts (its values are bound, never
/// SQL text).
///
/// ```
/// use thing::Cursor;
/// assert!(matches!("not a cursor".parse::<Cursor>(), Err(thing::Error::InvalidCursor { .. })));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The token's bytes (version, fingerprint, values) and its checksum.
    body: Vec<u8>,
}

impl Cursor {
    /// A cursor from its text, checked for its shape and checksum (whether it
    /// belongs to a query is checked when a page is read with it).
    pub fn parse(text: &str) -> Result<Self> {
        let body = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| invalid("not URL-safe base64"))?;
        check_body(&body)?;
        Ok(Self { body })
    }

    /// The cursor of a place: `values` is the whole sort tuple, the id last.
    pub(crate) fn new(fingerprint: u64, values: &[Value]) -> Result<Self> {
        let mut body = vec![VERSION];
        body.extend_from_slice(&fingerprint.to_le_bytes());
        let count = u8::try_from(values.len())
            .map_err(|_| Error::invalid_input("a cursor holds at most 255 sort keys"))?;
        body.push(count);
        for value in values {
            encode_value(value, &mut body)?;
        }
        let check = checksum(&body);
        body.extend_from_slice(&check.to_le_bytes());
        Ok(Self { body })
    }

    /// The sort tuple of this cursor, if it was made for the query with
    /// `fingerprint` and sort keys `keys` (columns `columns`): every value
    /// of its column's type, NULL only where the column takes it.
    pub(crate) fn position(
        &self,
        fingerprint: u64,
        keys: &[(usize, bool)],
        columns: &[ColumnDef],
    ) -> Result<Vec<Value>> {
        let mut reader = Reader(&self.body[1..self.body.len() - 8]);
        if reader.u64()? != fingerprint {
            return Err(invalid("it was made for another query"));
        }
        let count = usize::from(reader.u8()?);
        if count != keys.len() {
            return Err(invalid("it was made for another query"));
        }
        let mut values = Vec::with_capacity(count);
        for &(column, _) in keys {
            let value = reader.value()?;
            if !fits(&value, &columns[column]) {
                return Err(invalid("a value does not fit its column"));
            }
            values.push(value);
        }
        if !reader.0.is_empty() {
            return Err(invalid("trailing bytes"));
        }
        Ok(values)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(&self.body))
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cursor").field(&self.to_string()).finish()
    }
}

impl FromStr for Cursor {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

/// One page of a keyset walk: its rows in the query's order, and the cursors
/// to the pages beside it.
#[derive(Debug, Clone)]
pub struct Page<M> {
    /// The page's rows, in the query's order.
    pub rows: Vec<M>,
    /// The cursor of the last row, for [`Query::after`](crate::Query::after):
    /// `None` when no row follows the page (an `after` page read one row
    /// more to know; a `before` page from a cursor has rows after it).
    pub next: Option<Cursor>,
    /// The cursor of the first row, for
    /// [`Query::before`](crate::Query::before): `None` when no row precedes
    /// the page (a `before` page read one row more to know; an `after` page
    /// from a cursor may have rows before it).
    pub prev: Option<Cursor>,
}

/// Checks a token's bytes: long enough, its checksum, its version.
fn check_body(body: &[u8]) -> Result<()> {
    if body.len() < 1 + 8 + 1 + 8 {
        return Err(invalid("too short"));
    }
    let (rest, check) = body.split_at(body.len() - 8);
    let check = u64::from_le_bytes(check.try_into().unwrap_or_default());
    if checksum(rest) != check {
        return Err(invalid("its checksum does not match"));
    }
    if rest[0] != VERSION {
        return Err(invalid("another version's token"));
    }
    Ok(())
}

/// A token body's checksum (FNV-1a: it catches a cut or a changed byte;
/// it is no signature).
fn checksum(body: &[u8]) -> u64 {
    crate::hash::fnv1a(crate::hash::FNV_OFFSET, body)
}

fn invalid(reason: &'static str) -> Error {
    Error::InvalidCursor { reason }
}

/// Whether `value` is of `column`'s type (NULL where it takes NULL).
fn fits(value: &Value, column: &ColumnDef) -> bool {
    use crate::backend::types::SqlType as T;
    match value {
        Value::Null => column.nullable,
        Value::Int(n) => column
            .sql_type
            .integer_range()
            .is_some_and(|(low, high)| (low..=high).contains(n)),
        Value::Float(_) => matches!(column.sql_type, T::Real | T::Double),
        Value::Bool(_) => column.sql_type == T::Bool,
        Value::Text(_) => column.sql_type == T::Text,
        Value::Bytes(_) => column.sql_type == T::Blob,
        Value::TimestampTz(_) => column.sql_type == T::TimestampTz,
        Value::Timestamp(_) => column.sql_type == T::Timestamp,
        Value::Date(_) => column.sql_type == T::Date,
        Value::Uuid(_) => column.sql_type == T::Uuid,
        Value::Opaque => false,
    }
}

/// Appends a sort value: a tag byte, then its bytes.
fn encode_value(value: &Value, out: &mut Vec<u8>) -> Result<()> {
    match value {
        Value::Null => out.push(0),
        Value::Int(n) => {
            out.push(1);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::Float(x) => {
            out.push(2);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::Bool(b) => out.extend_from_slice(&[3, u8::from(*b)]),
        Value::Text(text) => {
            out.push(4);
            push_bytes(text.as_bytes(), out)?;
        }
        Value::Bytes(bytes) => {
            out.push(5);
            push_bytes(bytes, out)?;
        }
        Value::TimestampTz(at) => {
            out.push(6);
            push_instant(*at, out);
        }
        Value::Timestamp(at) => {
            out.push(7);
            push_instant(at.and_utc(), out);
        }
        Value::Date(day) => {
            out.push(8);
            out.extend_from_slice(&day.num_days_from_ce().to_le_bytes());
        }
        Value::Uuid(uuid) => {
            out.push(9);
            out.extend_from_slice(uuid.as_bytes());
        }
        Value::Opaque => {
            return Err(Error::invalid_input(
                "a query ordered by a JSON column cannot be paged by cursor",
            ));
        }
    }
    Ok(())
}

fn push_bytes(bytes: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| Error::invalid_input("a cursor's value is too long"))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn push_instant(at: DateTime<Utc>, out: &mut Vec<u8>) {
    out.extend_from_slice(&at.timestamp().to_le_bytes());
    out.extend_from_slice(&at.timestamp_subsec_nanos().to_le_bytes());
}

/// Reads a token's body.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.0.len() < n {
            return Err(invalid("truncated"));
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().unwrap_or([0; N]))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<Vec<u8>> {
        let len = u32::from_le_bytes(self.array()?) as usize;
        Ok(self.take(len)?.to_vec())
    }

    fn instant(&mut self) -> Result<DateTime<Utc>> {
        let seconds = i64::from_le_bytes(self.array()?);
        let nanos = u32::from_le_bytes(self.array()?);
        DateTime::from_timestamp(seconds, nanos).ok_or(invalid("a time out of range"))
    }

    fn value(&mut self) -> Result<Value> {
        Ok(match self.u8()? {
            0 => Value::Null,
            1 => Value::Int(i64::from_le_bytes(self.array()?)),
            2 => Value::Float(f64::from_bits(u64::from_le_bytes(self.array()?))),
            3 => match self.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return Err(invalid("a bool that is neither")),
            },
            4 => Value::Text(
                String::from_utf8(self.bytes()?).map_err(|_| invalid("text not UTF-8"))?,
            ),
            5 => Value::Bytes(self.bytes()?),
            6 => Value::TimestampTz(self.instant()?),
            7 => Value::Timestamp(self.instant()?.naive_utc()),
            8 => {
                let days = i32::from_le_bytes(self.array()?);
                Value::Date(
                    NaiveDate::from_num_days_from_ce_opt(days)
                        .ok_or(invalid("a date out of range"))?,
                )
            }
            9 => Value::Uuid(uuid::Uuid::from_bytes(self.array()?)),
            _ => return Err(invalid("an unknown value tag")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::types::SqlType;

    fn column(sql_type: SqlType, nullable: bool) -> ColumnDef {
        ColumnDef {
            name: "c",
            field: "c",
            sql_type,
            nullable,
            index: false,
            unique: false,
            default: None,
        }
    }

    #[test]
    fn a_cursor_round_trips_and_refuses_what_is_not_its() {
        let columns = [
            column(SqlType::BigInt, false),
            column(SqlType::Text, true),
            column(SqlType::TimestampTz, true),
        ];
        let keys = [(1, true), (2, false), (0, false)];
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        let values = vec![
            Value::Text("é/?".into()),
            Value::TimestampTz(at),
            Value::Int(-4),
        ];
        let cursor = Cursor::new(77, &values).unwrap();
        let text = cursor.to_string();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(cursor.position(77, &keys, &columns).unwrap(), values);
        let again: Cursor = text.parse().unwrap();
        assert_eq!(again, cursor);
        let nulls = vec![Value::Null, Value::Null, Value::Int(1)];
        let cursor = Cursor::new(77, &nulls).unwrap();
        assert_eq!(cursor.position(77, &keys, &columns).unwrap(), nulls);

        let refused =
            |result: Result<Vec<Value>>| matches!(result, Err(Error::InvalidCursor { .. }));
        assert!(refused(cursor.position(78, &keys, &columns)));
        assert!(refused(cursor.position(77, &keys[..2], &columns)));
        let text = cursor.to_string();
        for cut in 0..text.len() {
            assert!(Cursor::parse(&text[..cut]).is_err(), "cut at {cut}");
        }
        let mut tampered = URL_SAFE_NO_PAD.decode(&text).unwrap();
        tampered[11] ^= 1;
        assert!(Cursor::parse(&URL_SAFE_NO_PAD.encode(&tampered)).is_err());
        // A value of the wrong type, with its checksum made to match.
        let forged = Cursor::new(77, &[Value::Int(1), Value::Null, Value::Int(1)]).unwrap();
        assert!(refused(forged.position(77, &keys, &columns)));
        let not_null = [(0, false), (0, false), (0, false)];
        assert!(refused(cursor.position(77, &not_null, &columns)));
    }
}
