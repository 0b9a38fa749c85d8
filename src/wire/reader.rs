//! [`Reader`]: decodes primitives from a borrowed byte slice, checking every length first.

use super::Field;
use byteorder::{BigEndian, ByteOrder};
//> clients
use super::{FieldSpan, Kind};
//< clients
//> ea7
use super::Uuid;
use super::zigzag_decode;
//< ea7

/// Why a message could not be decoded: the field being read, the byte offset where it started
/// (so a log line points straight at the bad byte), and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub field: &'static str,
    pub at: usize,
    pub problem: String,
}

impl DecodeError {
    pub fn new(field: &'static str, at: usize, problem: impl Into<String>) -> DecodeError {
        DecodeError { field, at, problem: problem.into() }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}: {}", self.field, self.at, self.problem)
    }
}

/// A cursor over a request's bytes. Each method reads one primitive, named after the schema field
/// it decodes, and advances past it.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    //> clients
    spans: Option<Vec<FieldSpan>>,
    depth: u16,
    /// Where `buf` starts in the message: a reader split off for part of it traces at the
    /// message's positions.
    base: usize,
    //< clients
}

type Result<T> = std::result::Result<T, DecodeError>;

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            //> clients
            spans: None,
            depth: 0,
            base: 0,
            //< clients
        }
    }
    //> clients

    /// A reader that also records a [`FieldSpan`] for every field it decodes.
    pub fn traced(buf: &'a [u8]) -> Self {
        Reader { spans: Some(Vec::new()), ..Reader::new(buf) }
    }

    /// A traced reader of part of a message: `buf` starts at byte `base` of it, and its fields
    /// sit `depth` levels deep.
    pub fn traced_at(buf: &'a [u8], base: usize, depth: u16) -> Self {
        Reader { spans: Some(Vec::new()), base, depth, ..Reader::new(buf) }
    }

    /// The fields decoded so far (empty unless created with [`Reader::traced`]).
    pub fn spans(&self) -> &[FieldSpan] {
        self.spans.as_deref().unwrap_or(&[])
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Notes the field that took the bytes from `start` to here.
    fn record(&mut self, name: Field, start: usize, kind: Kind) {
        self.record_value(name, start, start, kind);
    }

    /// Notes a length-prefixed field whose value starts at `content`; a null one as null.
    fn record_value(&mut self, name: Field, start: usize, content: usize, kind: Kind) {
        let (b, end, depth) = (self.base, self.pos, self.depth);
        if let Some(spans) = &mut self.spans {
            spans.push(FieldSpan { name, start: b + start, end: b + end, content: b + content, depth, kind });
        }
    }

    /// A reader of the next `n` bytes, which this one skips: a part that must take exactly `n`
    /// bytes (a record in a batch) is read on its own. It traces when this one does, at the same
    /// positions; [`Reader::join`] adds what it noted to this trace.
    pub fn split_off(&mut self, field: Field, n: usize) -> Result<Reader<'a>> {
        let (start, have) = (self.pos, self.remaining());
        if n > have {
            return Err(DecodeError::new(field, start, format!("needs {n} bytes, only {have} left")));
        }
        self.pos += n;
        let spans = self.spans.as_ref().map(|_| Vec::new());
        Ok(Reader { buf: &self.buf[start..self.pos], pos: 0, spans, depth: self.depth, base: self.base + start })
    }

    /// Adds the fields a reader from [`Reader::split_off`] noted.
    pub fn join(&mut self, part: Reader<'a>) {
        if let (Some(spans), Some(more)) = (&mut self.spans, part.spans) {
            spans.extend(more);
        }
    }

    /// The spans noted, for a traced reader that is done.
    pub fn into_spans(self) -> Vec<FieldSpan> {
        self.spans.unwrap_or_default()
    }

    /// Changes the kind of the last field noted with this name (a batch's `crc` once checked).
    pub fn retype_last(&mut self, name: Field, kind: Kind) {
        if let Some(span) = self.spans.as_mut().and_then(|s| s.iter_mut().rev().find(|s| s.name == name)) {
            span.kind = kind;
        }
    }
    //< clients

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    //> clients

    /// The bytes not read yet, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Decodes a nested structure (an array element, a struct) with `f`: a trace shows its fields
    /// one level deeper.
    pub fn nested<T>(&mut self, name: Field, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let start = self.pos;
        let slot = self.spans.as_ref().map(|s| s.len());
        self.record(name, start, Kind::Group);
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        if let (Some(spans), Some(i)) = (&mut self.spans, slot) {
            spans[i].end = self.base + self.pos;
        }
        result
    }
    //< clients

    /// Takes `n` raw bytes.
    pub fn bytes_exact(&mut self, field: Field, n: usize) -> Result<&'a [u8]> {
        let have = self.remaining();
        if n > have {
            return Err(DecodeError::new(field, self.pos, format!("needs {n} bytes, only {have} left")));
        }
        let start = self.pos;
        self.pos += n;
        self.record(field, start, Kind::Bytes); //> clients
        Ok(&self.buf[start..self.pos])
    }

    /// An INT8..INT64 or a UUID: `N` bytes.
    fn fixed<const N: usize>(&mut self, field: Field) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes_exact(field, N)?);
        self.retype(if N == 16 { Kind::Uuid } else { Kind::Int }); //> clients
        Ok(out)
    }
    //> vt6

    pub fn i8(&mut self, field: Field) -> Result<i8> {
        Ok(self.fixed::<1>(field)?[0] as i8)
    }
    //< vt6
    //> clients

    pub fn bool(&mut self, field: Field) -> Result<bool> {
        let value = self.fixed::<1>(field)?[0] != 0;
        self.retype(Kind::Bool);
        Ok(value)
    }

    /// Changes the kind of the field just noted.
    pub(crate) fn retype(&mut self, kind: Kind) {
        if let Some(last) = self.spans.as_mut().and_then(|s| s.last_mut()) {
            last.kind = kind;
        }
    }
    //< clients

    pub fn i16(&mut self, field: Field) -> Result<i16> {
        Ok(BigEndian::read_i16(&self.fixed::<2>(field)?))
    }

    pub fn i32(&mut self, field: Field) -> Result<i32> {
        Ok(BigEndian::read_i32(&self.fixed::<4>(field)?))
    }
    //> ea7

    pub fn u32(&mut self, field: Field) -> Result<u32> {
        Ok(BigEndian::read_u32(&self.fixed::<4>(field)?))
    }

    pub fn i64(&mut self, field: Field) -> Result<i64> {
        Ok(BigEndian::read_i64(&self.fixed::<8>(field)?))
    }

    pub fn uuid(&mut self, field: Field) -> Result<Uuid> {
        Ok(Uuid(self.fixed::<16>(field)?))
    }
    //< ea7
    //> vt6

    /// Reads up to `max_bytes` 7-bit groups. Unrecorded: callers record the whole field.
    fn varint_raw(&mut self, field: Field, max_bytes: usize) -> Result<u64> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..max_bytes {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(DecodeError::new(field, start, "the varint is cut off"));
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::new(field, start, "varint too long"))
    }
    //> clients

    pub fn unsigned_varint(&mut self, field: Field) -> Result<u32> {
        let start = self.pos;
        let v = self.varint_raw(field, 5)?;
        let v = u32::try_from(v).map_err(|_| DecodeError::new(field, start, "varint too long"))?;
        self.record(field, start, Kind::UnsignedVarint);
        Ok(v)
    }
    //< clients
    //> ea7

    pub fn varint(&mut self, field: Field) -> Result<i32> {
        let start = self.pos;
        let v = self.varint_raw(field, 5)?;
        let v = i32::try_from(zigzag_decode(v)).map_err(|_| DecodeError::new(field, start, "varint too long"))?;
        self.record(field, start, Kind::Varint); //> clients
        Ok(v)
    }

    pub fn varlong(&mut self, field: Field) -> Result<i64> {
        let start = self.pos; //> clients
        let v = zigzag_decode(self.varint_raw(field, 10)?);
        self.record(field, start, Kind::Varint); //> clients
        Ok(v)
    }

    /// A record's key, value or header part: a VARINT length (-1 = null), then the bytes.
    pub fn varint_bytes(&mut self, field: Field) -> Result<Option<&'a [u8]>> {
        let at = self.pos;
        let len = zigzag_decode(self.varint_raw(field, 5)?);
        let len = self.checked_len(field, at, len, true)?;
        let bytes = len.map(|n| &self.buf[self.pos..self.pos + n]);
        let content = self.pos; //> clients
        self.pos += len.unwrap_or(0);
        self.record_value(field, at, content, if len.is_some() { Kind::Bytes } else { Kind::Null }); //> clients
        Ok(bytes)
    }
    //< ea7

    /// A length prefix: `None` for null (-1), an error below that or beyond the bytes left.
    fn checked_len(&self, field: Field, at: usize, len: i64, nullable: bool) -> Result<Option<usize>> {
        if len == -1 && nullable {
            return Ok(None);
        }
        if len < 0 {
            return Err(DecodeError::new(field, at, format!("bad length {len}")));
        }
        let have = self.remaining();
        if len as u64 > have as u64 {
            return Err(DecodeError::new(field, at, format!("length {len}, only {have} bytes left")));
        }
        Ok(Some(len as usize))
    }

    /// A length prefix read as INT16 (classic strings), INT32 (classic bytes and arrays) or, in
    /// flexible versions, as UNSIGNED_VARINT length+1 (0 = null).
    fn length(&mut self, field: Field, classic_bytes: usize, flexible: bool) -> Result<i64> {
        if flexible {
            return Ok(i64::try_from(self.varint_raw(field, 5)?).unwrap_or(i64::MAX) - 1);
        }
        let at = self.pos;
        let prefix =
            self.buf.get(at..at + classic_bytes).ok_or(DecodeError::new(field, at, "the length is cut off"))?;
        self.pos += classic_bytes;
        Ok(if classic_bytes == 2 { BigEndian::read_i16(prefix).into() } else { BigEndian::read_i32(prefix).into() })
    }

    /// A nullable string in the encoding the message version uses: NULLABLE_STRING (INT16 length,
    /// -1 = null), or COMPACT_NULLABLE_STRING (UNSIGNED_VARINT length+1, 0 = null) when `flexible`.
    pub fn nullable_string_v(&mut self, field: Field, flexible: bool) -> Result<Option<&'a str>> {
        let at = self.pos;
        let len = self.length(field, 2, flexible)?;
        let len = self.checked_len(field, at, len, true)?;
        let bytes = len.map(|n| &self.buf[self.pos..self.pos + n]);
        let content = self.pos; //> clients
        self.pos += len.unwrap_or(0);
        self.record_value(field, at, content, if len.is_some() { Kind::Text } else { Kind::Null }); //> clients
        bytes.map(|b| std::str::from_utf8(b).map_err(|_| DecodeError::new(field, at, "not UTF-8"))).transpose()
    }

    /// A non-null string in the encoding the message version uses.
    pub fn string_v(&mut self, field: Field, flexible: bool) -> Result<&'a str> {
        let at = self.pos;
        self.nullable_string_v(field, flexible)?.ok_or(DecodeError::new(field, at, "null where a string is required"))
    }
    //> zf2

    /// NULLABLE_BYTES (INT32 length) or COMPACT_NULLABLE_BYTES. Also used for RECORDS.
    pub fn nullable_bytes_v(&mut self, field: Field, flexible: bool) -> Result<Option<&'a [u8]>> {
        let at = self.pos;
        let len = self.length(field, 4, flexible)?;
        let len = self.checked_len(field, at, len, true)?;
        let bytes = len.map(|n| &self.buf[self.pos..self.pos + n]);
        //> clients
        let content = self.pos;
        let kind = if field == "records" { Kind::Records } else { Kind::Bytes };
        //< clients
        self.pos += len.unwrap_or(0);
        self.record_value(field, at, content, if len.is_some() { kind } else { Kind::Null }); //> clients
        Ok(bytes)
    }
    //< zf2
    //> clients

    /// Non-null BYTES or COMPACT_BYTES.
    pub fn bytes_v(&mut self, field: Field, flexible: bool) -> Result<&'a [u8]> {
        let at = self.pos;
        self.nullable_bytes_v(field, flexible)?.ok_or(DecodeError::new(field, at, "null where bytes are required"))
    }
    //< clients

    /// An ARRAY or COMPACT_ARRAY count; `None` for a null array. Every element takes at least one
    /// byte, so a count larger than the bytes left is rejected here, before anyone allocates for it.
    pub fn nullable_array_len_v(&mut self, field: Field, flexible: bool) -> Result<Option<usize>> {
        let at = self.pos;
        let count = self.length(field, 4, flexible)?;
        let count = self.checked_len(field, at, count, true)?;
        self.record(field, at, if count.is_some() { Kind::Count } else { Kind::Null }); //> clients
        Ok(count)
    }

    /// An array count where null is read as empty (what Kafka's brokers do for most arrays).
    pub fn array_len_v(&mut self, field: Field, flexible: bool) -> Result<usize> {
        Ok(self.nullable_array_len_v(field, flexible)?.unwrap_or(0))
    }

    /// An array (null read as empty) whose elements `element` decodes, each one a nested structure.
    /// The vector grows as elements decode: a count a client made up reserves no memory.
    pub fn array_v<T>(
        &mut self,
        field: Field,
        flexible: bool,
        mut f: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let n = self.array_len_v(field, flexible)?;
        /*> vt6 < clients
        (0..n).map(|_| f(self)).collect()
        */
        (0..n).map(|_| self.nested(field, &mut f)).collect() //> clients
    }

    /// TAGGED_FIELDS: skipped, since this broker reads no optional tagged field. Each field's size
    /// is checked like any other length.
    pub fn tagged_fields(&mut self, field: Field) -> Result<()> {
        let at = self.pos; //> clients
        let count = self.varint_raw(field, 5)?;
        for _ in 0..count {
            self.varint_raw("tag", 5)?;
            let size = i64::try_from(self.varint_raw("tag_size", 5)?).unwrap_or(i64::MAX);
            let size = self.checked_len("tagged_field", self.pos, size, false)?.unwrap_or(0);
            self.pos += size;
        }
        self.record(field, at, Kind::Tags); //> clients
        Ok(())
    }

    /// Tagged fields if the version is flexible, nothing otherwise.
    pub fn tagged_fields_v(&mut self, field: Field, flexible: bool) -> Result<()> {
        if flexible { self.tagged_fields(field) } else { Ok(()) }
    }
    //< vt6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fixed_width_integers_big_endian() {
        let bytes = [0x80, 0x01, 0x02, 0xff, 0xff, 0xff, 0xfe];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.i16("a").unwrap(), -32767);
        assert_eq!(r.i16("b").unwrap(), 0x02ff);
        assert_eq!(r.i16("c").unwrap(), -1);
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.i16("d"), Err(DecodeError::new("d", 6, "needs 2 bytes, only 1 left")));
        assert_eq!(Reader::new(&[0xff, 0xff, 0xff, 0xfe]).i32("e").unwrap(), -2);
        assert_eq!(Reader::new(&[0x80]).i8("f").unwrap(), -128); //> vt6
        assert_eq!(Reader::new(&[0, 0, 0, 0, 0, 0, 1, 0]).i64("g").unwrap(), 256); //> ea7
    }

    #[test]
    fn short_input_is_an_error_not_a_panic() {
        for len in 0..4 {
            let bytes = vec![0xffu8; len];
            assert!(Reader::new(&bytes).i32("x").is_err());
        }
        //> ea7
        assert!(Reader::new(&[0; 7]).i64("x").is_err());
        assert!(Reader::new(&[0; 15]).uuid("x").is_err());
        //< ea7
    }
    //> ea7

    #[test]
    fn varints_decode_and_reject_overlong_input() {
        assert_eq!(Reader::new(&[0x01]).varint("x").unwrap(), -1);
        assert_eq!(Reader::new(&[0x90, 0x01]).varint("x").unwrap(), 72);
        assert!(Reader::new(&[0x80; 6]).varint("x").is_err_and(|e| e.problem.contains("too long")));
        assert!(Reader::new(&[0x80, 0x80]).varint("x").is_err_and(|e| e.problem.contains("cut off")));
        assert_eq!(
            Reader::new(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).varlong("x").unwrap(),
            i64::MAX
        );
        assert!(Reader::new(&[0x80; 11]).varlong("x").is_err());
        //> clients
        assert_eq!(Reader::new(&[0xac, 0x02]).unsigned_varint("x").unwrap(), 300);
        assert_eq!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).unsigned_varint("x").unwrap(), u32::MAX);
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x1f])
                .unsigned_varint("x")
                .is_err_and(|e| e.problem.contains("too long"))
        );
        //< clients
    }
    //< ea7
    //> vt6

    #[test]
    fn strings_in_both_encodings() {
        let mut r = Reader::new(&[0x00, 0x03, b'f', b'o', b'o', 0x04, b'b', b'a', b'r', 0x00, 0xff, 0xff, 0x01]);
        assert_eq!(r.string_v("a", false).unwrap(), "foo");
        assert_eq!(r.string_v("b", true).unwrap(), "bar");
        assert_eq!(r.nullable_string_v("c", true).unwrap(), None);
        assert_eq!(r.nullable_string_v("d", false).unwrap(), None);
        assert_eq!(r.string_v("e", true).unwrap(), "");
    }

    #[test]
    fn lengths_are_checked_before_use() {
        // A string claiming 32767 bytes with 2 present.
        assert!(Reader::new(&[0x7f, 0xff, b'a', b'b']).string_v("s", false).is_err_and(|e| e.problem.contains("left")));
        // Length -2 is never valid.
        assert!(
            Reader::new(&[0xff, 0xfe]).nullable_string_v("s", false).is_err_and(|e| e.problem.contains("bad length"))
        );
        // Null where a value is required.
        assert!(Reader::new(&[0x00]).string_v("s", true).is_err_and(|e| e.problem.contains("null")));
        // An array of 2^31-1 elements in a 4-byte message.
        assert!(Reader::new(&[0x7f, 0xff, 0xff, 0xff]).array_len_v("a", false).is_err());
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x07]).array_len_v("a", true).is_err());
        assert_eq!(Reader::new(&[0xff, 0xff, 0xff, 0xff]).nullable_array_len_v("a", false).unwrap(), None);
        assert_eq!(Reader::new(&[0x00]).nullable_array_len_v("a", true).unwrap(), None);
        assert_eq!(Reader::new(&[0x03, 1, 2]).array_len_v("a", true).unwrap(), 2);
        assert!(Reader::new(&[0x00, 0x01, 0xff]).string_v("s", false).is_err_and(|e| e.problem.contains("UTF-8")));
    }

    #[test]
    fn tagged_fields_are_skipped_with_their_sizes_checked() {
        let mut r = Reader::new(&[0x02, 0x00, 0x01, 0xaa, 0x05, 0x02, 0xbb, 0xcc, 0x42]);
        r.tagged_fields("t").unwrap();
        assert_eq!(r.i8("after").unwrap(), 0x42);
        assert!(Reader::new(&[0x01, 0x00, 0x05, 0xaa]).tagged_fields("t").is_err());
        assert!(Reader::new(&[0x01]).tagged_fields("t").is_err());
    }
    //< vt6
    //> zf2

    #[test]
    fn bytes_and_records() {
        let mut r = Reader::new(&[0, 0, 0, 2, 9, 8, 0xff, 0xff, 0xff, 0xff, 0x03, 7, 7, 0x00]);
        assert_eq!(r.nullable_bytes_v("a", false).unwrap(), Some(&[9, 8][..]));
        assert_eq!(r.nullable_bytes_v("b", false).unwrap(), None);
        assert_eq!(r.nullable_bytes_v("c", true).unwrap(), Some(&[7, 7][..]));
        assert_eq!(r.nullable_bytes_v("d", true).unwrap(), None);
        assert!(Reader::new(&[0, 0, 0, 9, 1]).nullable_bytes_v("e", false).is_err());
    }
    //< zf2
    //> clients

    #[test]
    fn traced_reader_reports_field_names_and_byte_ranges() {
        let bytes = [0x00, 0x12, 0x00, 0x04, 0x02, 0x00, 0x07];
        let mut r = Reader::traced(&bytes);
        r.i16("api_key").unwrap();
        r.i16("api_version").unwrap();
        let n = r.array_len_v("items", true).unwrap();
        for _ in 0..n {
            r.nested("item", |r| r.i16("value")).unwrap();
        }
        let spans: Vec<_> = r.spans().iter().map(|s| (s.name, s.start, s.end, s.depth)).collect();
        assert_eq!(
            spans,
            vec![
                ("api_key", 0, 2, 0),
                ("api_version", 2, 4, 0),
                ("items", 4, 5, 0),
                ("item", 5, 7, 0),
                ("value", 5, 7, 1),
            ]
        );
        assert_eq!(r.spans()[2].kind, Kind::Count);
        assert!(Reader::new(&[0, 0, 0, 2, 9, 8]).bytes_v("b", false).is_ok());
    }

    #[test]
    fn a_part_split_off_traces_at_the_positions_of_the_whole() {
        let bytes = [0x09, 0x02, 0x01, 0x00, 0x03, 0x61, 0x62, 0x63];
        let mut r = Reader::traced(&bytes);
        r.i8("first").unwrap();
        let mut part = r.split_off("part", 7).unwrap();
        part.varint("length").unwrap();
        part.i8("attributes").unwrap();
        part.i8("zero").unwrap();
        part.nullable_string_v("name", false).unwrap_err(); // 0x03 0x61: a 865-byte string
        r.join(part);
        let spans: Vec<_> = r.spans().iter().map(|s| (s.name, s.start, s.end)).collect();
        assert_eq!(spans, vec![("first", 0, 1), ("length", 1, 2), ("attributes", 2, 3), ("zero", 3, 4)]);
        assert!(r.split_off("more", 1).is_err());
        let mut values = Reader::traced(&[0x06, b'k', b'e', b'y', 0x01]);
        assert_eq!(values.varint_bytes("key").unwrap(), Some(&b"key"[..]));
        assert_eq!(values.varint_bytes("value").unwrap(), None);
        let kinds: Vec<_> = values.spans().iter().map(|s| (s.content, s.kind)).collect();
        assert_eq!(kinds, vec![(1, Kind::Bytes), (5, Kind::Null)]);
    }
    //< clients
}
