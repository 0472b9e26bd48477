//! The byte form of a row: what the cache stores and what a [`Snapshot`](crate::Snapshot)
//! keeps to know, at `save`, which columns changed.
//!
//! A row is the concatenation of its columns in declaration order, each written as
//! a LEB128 length followed by the column's bytes. The length prefix lets
//! [`changed_columns`] compare two rows column by column without decoding either,
//! and it frames every value, so a value needs no length of its own:
//!
//! | type | bytes |
//! |---|---|
//! | `i8`, `i16`, `i32`, `i64` | zigzag LEB128 varint |
//! | `u32` | LEB128 varint |
//! | `f32`, `f64` | IEEE 754, little endian |
//! | `bool` | one byte, 0 or 1 |
//! | `String`, `Vec<u8>` | the bytes themselves (UTF-8 for strings) |
//! | `DateTime<Utc>`, `NaiveDateTime` | seconds since the epoch (zigzag varint), then nanoseconds (varint) |
//! | `NaiveDate` | days since 1 January of year 1 (zigzag varint) |
//! | `Uuid` | its 16 bytes |
//! | `Option<T>` | 0 for `None`; 1, then `T` |
//! | `serde_json::Value`, `#[thing(json)]` | JSON text |
//!
//! Decoding is strict: a value must use exactly its bytes, and anything
//! malformed is `None`, never a panic. [`FORMAT_VERSION`] names this layout; it is
//! part of every cache key, so bytes written in another layout are never
//! decoded as this one.

/// The version of the row layout above. Cache keys carry it: a change of layout
/// moves every key, so a cache shared with older processes never hands them (or
/// this one) bytes of the other layout. Version 1 was bincode 2's standard
/// configuration.
///
/// ```
/// assert_eq!(thing::__private::FORMAT_VERSION, 2);
/// ```
pub const FORMAT_VERSION: u8 = 2;

/// The longest LEB128 encoding of a `u64`.
const MAX_VARINT_LEN: usize = 10;

/// A field type that can be written to and read back from row bytes.
///
/// Thing implements it for every supported column type (see [`crate::backend::types`]).
///
/// ```
/// use thing::__private::Codec;
/// let mut bytes = Vec::new();
/// "héllo".to_string().encode(&mut bytes);
/// assert_eq!(String::decode(&bytes), Some("héllo".to_string()));
/// assert_eq!(u32::decode(&[0xff, 0xff]), None); // malformed bytes are `None`, never a panic
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a column of a Thing model: it has no row encoding",
    label = "not a column type",
    note = "Thing stores i8, i16, i32, i64, u32, f32, f64, bool, String, Vec<u8>, chrono::DateTime<Utc>, chrono::NaiveDateTime, chrono::NaiveDate, uuid::Uuid, serde_json::Value, and Option of these",
    note = "mark the field #[thing(json)] to store a serde type as JSON, or #[thing(skip)] to not store it"
)]
pub trait Codec: Sized {
    /// Appends the value's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads a value from exactly `bytes`; `None` when they are malformed.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

/// Appends `value` as a LEB128 varint.
fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a LEB128 varint from the front of `bytes`: the value and the bytes
/// after it. `None` when it is truncated or does not fit a `u64`.
fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(MAX_VARINT_LEN) {
        let bits = u64::from(byte & 0x7f);
        if i == MAX_VARINT_LEN - 1 && bits > 1 {
            return None; // more than 64 bits
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// The varint filling exactly `bytes`.
fn exact_varint(bytes: &[u8]) -> Option<u64> {
    match read_varint(bytes)? {
        (value, []) => Some(value),
        _ => None,
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

macro_rules! signed_codecs {
    ($($ty:ty),* $(,)?) => {
        $(impl Codec for $ty {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                write_varint(out, zigzag(i64::from(*self)));
            }
            #[inline]
            fn decode(bytes: &[u8]) -> Option<Self> {
                <$ty>::try_from(unzigzag(exact_varint(bytes)?)).ok()
            }
        })*
    };
}

signed_codecs!(i8, i16, i32, i64);

impl Codec for u32 {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, u64::from(*self));
    }
    #[inline]
    fn decode(bytes: &[u8]) -> Option<Self> {
        u32::try_from(exact_varint(bytes)?).ok()
    }
}

macro_rules! float_codecs {
    ($($ty:ty),* $(,)?) => {
        $(impl Codec for $ty {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn decode(bytes: &[u8]) -> Option<Self> {
                Some(<$ty>::from_le_bytes(bytes.try_into().ok()?))
            }
        })*
    };
}

float_codecs!(f32, f64);

impl Codec for bool {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    #[inline]
    fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
}

impl Codec for String {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    #[inline]
    fn decode(bytes: &[u8]) -> Option<Self> {
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    }
}

impl Codec for Vec<u8> {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    #[inline]
    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(bytes.to_vec())
    }
}

impl<T: Codec> Codec for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode(out);
            }
        }
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes.split_first()? {
            (0, []) => Some(None),
            (1, rest) => T::decode(rest).map(Some),
            _ => None,
        }
    }
}

impl Codec for chrono::DateTime<chrono::Utc> {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, zigzag(self.timestamp()));
        write_varint(out, u64::from(self.timestamp_subsec_nanos()));
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        let (secs, rest) = read_varint(bytes)?;
        let nanos = u32::try_from(exact_varint(rest)?).ok()?;
        chrono::DateTime::from_timestamp(unzigzag(secs), nanos)
    }
}

impl Codec for chrono::NaiveDateTime {
    fn encode(&self, out: &mut Vec<u8>) {
        self.and_utc().encode(out);
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        chrono::DateTime::<chrono::Utc>::decode(bytes).map(|instant| instant.naive_utc())
    }
}

impl Codec for chrono::NaiveDate {
    fn encode(&self, out: &mut Vec<u8>) {
        chrono::Datelike::num_days_from_ce(self).encode(out);
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        chrono::NaiveDate::from_num_days_from_ce_opt(i32::decode(bytes)?)
    }
}

impl Codec for uuid::Uuid {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        uuid::Uuid::from_slice(bytes).ok()
    }
}

impl Codec for serde_json::Value {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_json(self, out);
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        decode_json(bytes)
    }
}

/// Writes a `#[thing(json)]` field as JSON text.
#[doc(hidden)]
pub fn encode_json<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // A type whose Serialize impl fails (a map with non-string keys, say) is
    // written as an empty column; it then never decodes, which makes the cached
    // row a miss instead of a wrong value.
    let start = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(start);
    }
}

/// Reads a `#[thing(json)]` field from JSON text.
#[doc(hidden)]
pub fn decode_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes).ok()
}

/// Builds the bytes of one row, a column at a time.
///
/// ```
/// use thing::__private::{RowReader, RowWriter};
/// let mut writer = RowWriter::new();
/// writer.column(&7_i64);
/// writer.column(&"ann".to_string());
/// let bytes = writer.finish();
///
/// let mut reader = RowReader::new(&bytes);
/// assert_eq!(reader.column::<i64>(), Some(7));
/// assert_eq!(reader.column::<String>(), Some("ann".into()));
/// assert!(reader.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct RowWriter {
    out: Vec<u8>,
}

impl RowWriter {
    /// An empty row.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty row with room for `bytes` bytes, so that writing a row of
    /// about that size does not grow its buffer column after column.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            out: Vec::with_capacity(bytes),
        }
    }

    /// Appends one column.
    pub fn column<T: Codec>(&mut self, value: &T) {
        self.framed(|out| value.encode(out));
    }

    /// Appends one `#[thing(json)]` column.
    #[doc(hidden)]
    pub fn json_column<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        self.framed(|out| encode_json(value, out));
    }

    /// Writes one column after its length, in place: one byte is kept for
    /// the length and widened afterwards for a column of 128 bytes or more,
    /// so that a short column is never copied.
    fn framed(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let at = self.out.len();
        self.out.push(0);
        write(&mut self.out);
        let len = self.out.len() - at - 1;
        match u8::try_from(len) {
            Ok(short) if short < 0x80 => self.out[at] = short,
            _ => {
                let mut prefix = Vec::with_capacity(MAX_VARINT_LEN);
                write_len(&mut prefix, len);
                self.out.splice(at..=at, prefix);
            }
        }
    }

    /// The finished row bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    /// The bytes written so far.
    #[doc(hidden)]
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }

    /// Forgets what was written, keeping the buffer.
    #[doc(hidden)]
    pub fn clear(&mut self) {
        self.out.clear();
    }
}

/// Reads the columns of row bytes in order. Every read returns `None` on
/// malformed input instead of panicking.
///
/// See [`RowWriter`] for an example.
#[derive(Debug, Clone)]
pub struct RowReader<'a> {
    rest: &'a [u8],
}

impl<'a> RowReader<'a> {
    /// Reads `bytes` from the first column.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The raw bytes of the next column.
    pub fn raw(&mut self) -> Option<&'a [u8]> {
        let (len, after) = read_len(self.rest)?;
        if after.len() < len {
            return None;
        }
        let (column, rest) = after.split_at(len);
        self.rest = rest;
        Some(column)
    }

    /// Decodes the next column.
    pub fn column<T: Codec>(&mut self) -> Option<T> {
        T::decode(self.raw()?)
    }

    /// Decodes the next column as a `#[thing(json)]` field.
    #[doc(hidden)]
    pub fn json_column<T: serde::de::DeserializeOwned>(&mut self) -> Option<T> {
        decode_json(self.raw()?)
    }

    /// Whether every column has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

fn write_len(out: &mut Vec<u8>, len: usize) {
    write_varint(out, len as u64);
}

fn read_len(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let (len, rest) = read_varint(bytes)?;
    Some((usize::try_from(len).ok()?, rest))
}

/// The indices of the columns whose bytes differ between two rows of the same
/// model, or `None` when either row is malformed or they have different widths.
///
/// ```
/// use thing::__private::{RowWriter, changed_columns};
/// let row = |name: &str, age: i32| {
///     let mut w = RowWriter::new();
///     w.column(&name.to_string());
///     w.column(&age);
///     w.finish()
/// };
/// assert_eq!(changed_columns(&row("ann", 30), &row("ann", 31)), Some(vec![1]));
/// assert_eq!(changed_columns(&row("ann", 30), &row("ann", 30)), Some(vec![]));
/// ```
pub fn changed_columns(old: &[u8], new: &[u8]) -> Option<Vec<usize>> {
    let (mut old, mut new) = (RowReader::new(old), RowReader::new(new));
    let mut changed = Vec::new();
    let mut index = 0;
    while !old.is_empty() || !new.is_empty() {
        if old.raw()? != new.raw()? {
            changed.push(index);
        }
        index += 1;
    }
    Some(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Codec + PartialEq + std::fmt::Debug>(value: T) {
        let mut bytes = Vec::new();
        value.encode(&mut bytes);
        assert_eq!(T::decode(&bytes).as_ref(), Some(&value));
    }

    #[test]
    fn every_codec_round_trips() {
        round_trip(i64::MIN);
        round_trip(i64::MAX);
        round_trip(-1_i8);
        round_trip(u32::MAX);
        round_trip(1.5_f32);
        round_trip(f64::MIN_POSITIVE);
        round_trip(true);
        round_trip(String::new());
        round_trip("'); DROP TABLE users; --".to_string());
        round_trip(vec![0_u8, 255]);
        round_trip(Some(3_i32));
        round_trip(None::<String>);
        round_trip(chrono::DateTime::from_timestamp(-1, 999_999_999).unwrap());
        round_trip(chrono::NaiveDate::from_ymd_opt(1, 1, 1).unwrap());
        round_trip(uuid::Uuid::from_u128(42));
        round_trip(serde_json::json!({"a": [1, "b", null]}));
    }

    #[test]
    fn small_values_take_one_byte() {
        let encoded = |value: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = Vec::new();
            value(&mut bytes);
            bytes
        };
        assert_eq!(encoded(&|out| 0_i64.encode(out)), [0]);
        assert_eq!(encoded(&|out| (-1_i32).encode(out)), [1]);
        assert_eq!(encoded(&|out| 63_i16.encode(out)), [126]);
        assert_eq!(encoded(&|out| 127_u32.encode(out)), [127]);
        assert_eq!(encoded(&|out| 128_u32.encode(out)), [0x80, 1]);
        assert_eq!(encoded(&|out| i64::MIN.encode(out)).len(), MAX_VARINT_LEN);
        assert_eq!(encoded(&|out| "ab".to_string().encode(out)), b"ab");
    }

    #[test]
    fn malformed_values_are_rejected() {
        assert_eq!(i64::decode(&[]), None, "empty");
        assert_eq!(i64::decode(&[0x80]), None, "truncated varint");
        assert_eq!(i64::decode(&[1, 0]), None, "trailing byte");
        assert_eq!(u64_overflow(), None, "more than 64 bits");
        assert_eq!(i8::decode(&[0x80, 0x02]), None, "128 does not fit an i8");
        assert_eq!(u32::decode(&[0xff, 0xff, 0xff, 0xff, 0x7f]), None);
        assert_eq!(bool::decode(&[2]), None);
        assert_eq!(f64::decode(&[0; 7]), None);
        assert_eq!(String::decode(&[0xff]), None, "not UTF-8");
        assert_eq!(uuid::Uuid::decode(&[0; 15]), None);
        assert_eq!(Option::<i32>::decode(&[2]), None);
        assert_eq!(Option::<i32>::decode(&[0, 0]), None);
        let mut date = Vec::new();
        chrono::DateTime::from_timestamp(5, 6)
            .unwrap()
            .encode(&mut date);
        date.push(0);
        assert_eq!(chrono::DateTime::<chrono::Utc>::decode(&date), None);
    }

    fn u64_overflow() -> Option<i64> {
        i64::decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
    }

    #[test]
    fn every_integer_width_round_trips_at_its_limits() {
        for value in [i8::MIN, -1, 0, 1, i8::MAX] {
            round_trip(value);
        }
        for value in [i16::MIN, i16::MAX] {
            round_trip(value);
        }
        for value in [i32::MIN, i32::MAX] {
            round_trip(value);
        }
        for value in [0, 1 << 40, i64::MIN + 1, i64::MAX - 1] {
            round_trip(value);
        }
        round_trip(0_u32);
        round_trip(f32::NEG_INFINITY);
        round_trip(chrono::NaiveDate::MAX);
        round_trip(chrono::NaiveDate::MIN);
        round_trip(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        round_trip(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    }

    #[test]
    fn long_columns_keep_their_length() {
        let long = "x".repeat(100_000);
        let mut writer = RowWriter::new();
        writer.column(&long);
        writer.column(&1_i32);
        let bytes = writer.finish();
        let mut reader = RowReader::new(&bytes);
        assert_eq!(reader.column::<String>(), Some(long));
        assert_eq!(reader.column::<i32>(), Some(1));
    }

    #[test]
    fn columns_at_every_length_boundary_keep_their_neighbours() {
        let lengths = [0, 1, 127, 128, 129, 16_383, 16_384, 16_385];
        let mut writer = RowWriter::new();
        for len in lengths {
            writer.column(&"y".repeat(len));
            writer.column(&(len as i64));
        }
        // A JSON column that fails to serialize is empty; its neighbours stay.
        let unserializable: std::collections::HashMap<(i32, i32), i32> = [((1, 2), 3)].into();
        writer.json_column(&unserializable);
        writer.column(&true);
        let bytes = writer.finish();
        let mut reader = RowReader::new(&bytes);
        for len in lengths {
            assert_eq!(reader.column::<String>(), Some("y".repeat(len)), "{len}");
            assert_eq!(reader.column::<i64>(), Some(len as i64));
        }
        assert_eq!(reader.raw(), Some(&[][..]), "the failed JSON column");
        assert_eq!(reader.column::<bool>(), Some(true));
        assert!(reader.is_empty());
    }

    #[test]
    fn truncated_rows_are_rejected() {
        let mut writer = RowWriter::new();
        writer.column(&"abc".to_string());
        let bytes = writer.finish();
        for cut in 0..bytes.len() {
            let mut reader = RowReader::new(&bytes[..cut]);
            assert_eq!(reader.column::<String>(), None, "cut at {cut}");
        }
        assert_eq!(changed_columns(&bytes, &bytes[..2]), None);
    }
}
