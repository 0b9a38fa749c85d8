//! [`Writer`]: encodes primitives into a response buffer; [`Frame`]: a finished response.

use super::Field;
use std::io::Write;
//> vt6
use super::Uuid;
//< vt6
//> clients
use super::zigzag_encode;
use super::{FieldSpan, Kind, SharedBytes};
use std::io::IoSlice;
//< clients

/// Builds one size-prefixed frame. The first four bytes are reserved for `message_size` and
/// filled in by [`Writer::finish`].
//> clients
///
/// Stored record batches are not copied into the buffer: [`Writer::shared`] notes where they go,
/// and [`Frame::write_to`] hands the buffer pieces and the batches to the kernel in one vectored
/// write.
//< clients
pub struct Writer {
    buf: Vec<u8>,
    //> clients
    /// `(offset in buf, bytes)`: stored bytes that belong at that point of the frame.
    shared: Vec<(usize, SharedBytes)>,
    shared_len: usize,
    spans: Option<Vec<FieldSpan>>,
    depth: u16,
    /// Set when an array stopped short at [`MAX_RESPONSE_BYTES`]: the frame must not be sent.
    too_large: bool,
    //< clients
}
//> clients

/// The largest response this broker builds: 256 MiB. Requests are de-duplicated and Fetch is held
/// to `fetch.max.bytes` (55 MiB by default), so real answers stay far below; past this bound an
/// array stops growing and the request is refused (its connection closed, with a log line),
/// rather than the broker holding gigabytes for one client. It also keeps `message_size`, an
/// INT32, truthful.
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;
//< clients
//> clients

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}
//< clients

/*> wa6 < clients
// The fields' names are for traces, which arrive at stage clients.
#[allow(unused_variables)]
*/
impl Writer {
    /// A writer for a frame (with a size prefix to be filled in).
    pub fn new() -> Self {
        Writer {
            buf: vec![0; 4],
            //> clients
            shared: Vec::new(),
            shared_len: 0,
            spans: None,
            depth: 0,
            too_large: false,
            //< clients
        }
    }
    //> clients

    /// A writer that also notes a [`FieldSpan`] for every field it encodes.
    pub fn traced() -> Self {
        Writer { spans: Some(Vec::new()), ..Writer::new() }
    }

    /// The fields written so far (none unless created with [`Writer::traced`]).
    pub fn take_spans(&mut self) -> Vec<FieldSpan> {
        self.spans.take().unwrap_or_default()
    }

    /// Notes the field that took the bytes from `start` to here.
    fn note(&mut self, name: Field, start: usize, kind: Kind) {
        self.note_value(name, start, start, kind);
    }

    /// Notes a length-prefixed field whose value starts at `content`.
    fn note_value(&mut self, name: Field, start: usize, content: usize, kind: Kind) {
        let (end, depth) = (self.len(), self.depth);
        if let Some(spans) = &mut self.spans {
            spans.push(FieldSpan { name, start, end, content, depth, kind });
        }
    }

    /// Whether the response outgrew [`MAX_RESPONSE_BYTES`] (and is incomplete).
    pub fn too_large(&self) -> bool {
        self.too_large || self.len() > MAX_RESPONSE_BYTES
    }

    /// Bytes written so far, size prefix excluded.
    pub fn len(&self) -> usize {
        self.buf.len() - 4 + self.shared_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A struct or an array element that `f` writes: a trace shows its fields one level deeper.
    pub fn nested(&mut self, name: Field, f: impl FnOnce(&mut Self)) {
        let (start, slot) = (self.len(), self.spans.as_ref().map(Vec::len));
        self.note(name, start, Kind::Group);
        self.depth += 1;
        f(self);
        self.depth -= 1;
        let end = self.len();
        if let (Some(spans), Some(i)) = (&mut self.spans, slot) {
            spans[i].end = end;
        }
    }
    //< clients
    //> vt6

    pub fn i8(&mut self, name: Field, v: i8) {
        self.buf.push(v as u8);
        self.note(name, self.len() - 1, Kind::Int); //> clients
    }

    pub fn bool(&mut self, name: Field, v: bool) {
        self.buf.push(u8::from(v));
        self.note(name, self.len() - 1, Kind::Bool); //> clients
    }
    //< vt6
    //> nc5

    pub fn i16(&mut self, name: Field, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self.note(name, self.len() - 2, Kind::Int); //> clients
    }
    //< nc5

    pub fn i32(&mut self, name: Field, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self.note(name, self.len() - 4, Kind::Int); //> clients
    }
    //> dh6

    pub fn i64(&mut self, name: Field, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self.note(name, self.len() - 8, Kind::Int); //> clients
    }
    //< dh6
    //> vt6

    pub fn uuid(&mut self, name: Field, v: Uuid) {
        self.buf.extend_from_slice(&v.0);
        self.note(name, self.len() - 16, Kind::Uuid); //> clients
    }
    //< vt6
    //> pv1

    /// Bytes that are part of a field already begun (a length prefix, a RECORDS field's batches).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// An UNSIGNED_VARINT, as length prefixes use it (part of their field, so not noted alone).
    pub fn unsigned_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
    //< pv1
    //> clients

    pub fn varint(&mut self, name: Field, v: i32) {
        let start = self.len();
        self.unsigned_varint(zigzag_encode(v.into()));
        self.note(name, start, Kind::Varint);
    }

    pub fn varlong(&mut self, name: Field, v: i64) {
        let start = self.len();
        self.unsigned_varint(zigzag_encode(v));
        self.note(name, start, Kind::Varint);
    }
    //< clients
    //> vt6

    /// STRING (INT16 length) or COMPACT_STRING (UNSIGNED_VARINT length+1).
    //> clients
    /// A classic STRING holds at most 32767 bytes; a longer one (a group id that arrived in a
    /// flexible request, an error message quoting a client's input) is cut at a character boundary,
    /// so the frame stays well-formed.
    //< clients
    pub fn string_v(&mut self, name: Field, s: &str, flexible: bool) {
        //> clients
        let mut s = s;
        if !flexible && s.len() > i16::MAX as usize {
            let mut end = i16::MAX as usize;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s = &s[..end];
        }
        let start = self.len();
        //< clients
        if flexible {
            self.unsigned_varint(s.len() as u64 + 1)
        } else {
            self.raw(&(s.len() as i16).to_be_bytes())
        }
        let content = self.len(); //> clients
        self.buf.extend_from_slice(s.as_bytes());
        self.note_value(name, start, content, Kind::Text); //> clients
    }
    //< vt6
    //> zf2

    /// A string that may be null: length -1 in a classic string, 0 in a compact one.
    pub fn nullable_string_v(&mut self, name: Field, s: Option<&str>, flexible: bool) {
        let start = self.len(); //> clients
        match s {
            Some(s) => self.string_v(name, s, flexible),
            None if flexible => self.unsigned_varint(0),
            None => self.raw(&(-1i16).to_be_bytes()),
        }
        //> clients
        if s.is_none() {
            self.note_value(name, start, self.len(), Kind::Null);
        }
        //< clients
    }
    //< zf2
    //> clients

    /// BYTES or COMPACT_BYTES (null = `None`).
    pub fn nullable_bytes_v(&mut self, name: Field, b: Option<&[u8]>, flexible: bool) {
        let start = self.len();
        match (b, flexible) {
            (None, false) => self.raw(&(-1i32).to_be_bytes()),
            (None, true) => self.unsigned_varint(0),
            (Some(b), false) => self.raw(&(b.len() as i32).to_be_bytes()),
            (Some(b), true) => self.unsigned_varint(b.len() as u64 + 1),
        }
        let content = self.len();
        self.buf.extend_from_slice(b.unwrap_or_default());
        self.note_value(name, start, content, if b.is_some() { Kind::Bytes } else { Kind::Null });
    }

    pub fn bytes_v(&mut self, name: Field, b: &[u8], flexible: bool) {
        self.nullable_bytes_v(name, Some(b), flexible);
    }
    //< clients
    //> dh6

    /// A RECORDS field of `len` bytes: the size prefix, then the batches, which `f` writes.
    pub fn records_v(&mut self, name: Field, flexible: bool, len: usize, f: impl FnOnce(&mut Self)) {
        let start = self.len(); //> clients
        if flexible {
            self.unsigned_varint(len as u64 + 1)
        } else {
            self.raw(&(len as i32).to_be_bytes())
        }
        let content = self.len(); //> clients
        f(self);
        self.note_value(name, start, content, Kind::Records); //> clients
    }
    //< dh6
    //> clients

    /// Stored bytes to be sent at this point of the frame without copying them.
    pub fn shared(&mut self, bytes: SharedBytes) {
        self.shared_len += bytes.len();
        self.shared.push((self.buf.len(), bytes));
    }
    //< clients
    //> pv1

    /// ARRAY (INT32 count) or COMPACT_ARRAY (UNSIGNED_VARINT count+1).
    pub fn array_len_v(&mut self, name: Field, n: usize, flexible: bool) {
        let start = self.len(); //> clients
        if flexible {
            self.unsigned_varint(n as u64 + 1)
        } else {
            self.raw(&(n as i32).to_be_bytes())
        }
        self.note(name, start, Kind::Count); //> clients
    }

    /// An array: its count, then each item, which `f` writes.
    pub fn array_v<T>(&mut self, name: Field, flexible: bool, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.array_len_v(name, items.len(), flexible);
        /*> pv1 < clients
        items.iter().for_each(|item| f(self, item));
        */
        //> clients
        for item in items {
            if self.len() > MAX_RESPONSE_BYTES {
                self.too_large = true;
                return;
            }
            self.nested(name, |w| f(w, item));
        }
        //< clients
    }
    //< pv1
    //> clients

    pub fn null_array_v(&mut self, name: Field, flexible: bool) {
        let start = self.len();
        if flexible {
            self.unsigned_varint(0)
        } else {
            self.raw(&(-1i32).to_be_bytes())
        }
        self.note(name, start, Kind::Null);
    }
    //< clients

    /// An empty TAGGED_FIELDS section if the version is flexible. This broker sends no tagged fields.
    pub fn tagged_fields_v(&mut self, flexible: bool) {
        if flexible {
            self.buf.push(0);
            self.note("tagged_fields", self.len() - 1, Kind::Tags); //> clients
        }
    }

    /// Fills in `message_size` and returns the frame ready to send.
    pub fn finish(mut self) -> Frame {
        /*> wa6 < clients
        let size = (self.buf.len() as u32 - 4).to_be_bytes();
        */
        let size = (self.len() as u32).to_be_bytes(); //> clients
        self.buf[..4].copy_from_slice(&size);
        Frame {
            buf: self.buf,
            shared: self.shared, //> clients
        }
    }
}

/// A complete response: size prefix, header and body.
//> clients
/// Part of it is owned, and part shared with the log.
//< clients
pub struct Frame {
    buf: Vec<u8>,
    shared: Vec<(usize, SharedBytes)>, //> clients
}

impl Frame {
    //> clients
    /// Total bytes on the wire, size prefix included.
    pub fn len(&self) -> usize {
        self.buf.len() + self.shared.iter().map(|(_, b)| b.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    //< clients

    /// Writes the whole frame at once, so a reader never sees half a response followed by a
    /// pause.
    //> clients
    /// With as few system calls as the kernel allows: normally one `writev`.
    //< clients
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        /*> wa6 < clients
        out.write_all(&self.buf)
        */
        //> clients
        let mut slices = Vec::with_capacity(self.shared.len() * 2 + 1);
        let mut from = 0;
        for (at, bytes) in &self.shared {
            slices.push(IoSlice::new(&self.buf[from..*at]));
            slices.push(IoSlice::new(bytes));
            from = *at;
        }
        slices.push(IoSlice::new(&self.buf[from..]));
        slices.retain(|s| !s.is_empty());
        let mut remaining = &mut slices[..];
        while !remaining.is_empty() {
            let n = out.write_vectored(remaining)?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut remaining, n);
        }
        Ok(())
        //< clients
    }
    //> clients

    /// The frame as one contiguous buffer (for tests and tracing).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        // Writing into a Vec cannot fail.
        let _ = self.write_to(&mut out);
        out
    }
    //< clients
}

#[cfg(test)]
mod tests {
    use super::super::Reader; //> vt6
    use super::*;

    /// The frame as bytes, as a client receives it.
    fn bytes(w: Writer) -> Vec<u8> {
        let mut out = Vec::new();
        w.finish().write_to(&mut out).unwrap();
        out
    }

    #[test]
    fn frame_has_a_size_prefix() {
        let mut w = Writer::new();
        w.i32("correlation_id", 7);
        assert_eq!(bytes(w), vec![0, 0, 0, 4, 0, 0, 0, 7]);
    }
    //> pv1

    #[test]
    fn unsigned_varints_use_7_bits_a_byte() {
        let mut w = Writer::new();
        w.unsigned_varint(300);
        w.unsigned_varint(5);
        assert_eq!(&bytes(w)[4..], &[0xac, 0x02, 0x05]);
    }
    //< pv1
    //> clients

    #[test]
    fn varint_boundaries_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 16383, 16384, u32::MAX as u64] {
            let mut w = Writer::new();
            w.unsigned_varint(v);
            let bytes = bytes(w);
            assert_eq!(Reader::new(&bytes[4..]).unsigned_varint("v").unwrap() as u64, v);
        }
        for v in [0i32, -1, 1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut w = Writer::new();
            w.varint("v", v);
            let bytes = bytes(w);
            assert_eq!(Reader::new(&bytes[4..]).varint("v").unwrap(), v);
        }
        for v in [0i64, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut w = Writer::new();
            w.varlong("v", v);
            let bytes = bytes(w);
            assert_eq!(Reader::new(&bytes[4..]).varlong("v").unwrap(), v);
        }
    }
    //< clients
    //> vt6

    #[test]
    fn strings_and_arrays_round_trip_in_both_encodings() {
        for flexible in [false, true] {
            let mut w = Writer::new();
            w.string_v("a", "foo", flexible);
            w.nullable_string_v("b", None, flexible); //> clients
            w.string_v("c", "", flexible);
            w.array_len_v("d", 2, flexible);
            w.tagged_fields_v(flexible);
            w.i16("i", -5);
            let bytes = bytes(w);
            let mut r = Reader::new(&bytes[4..]);
            assert_eq!(r.string_v("a", flexible).unwrap(), "foo");
            assert_eq!(r.nullable_string_v("b", flexible).unwrap(), None); //> clients
            assert_eq!(r.string_v("c", flexible).unwrap(), "");
            // 2 elements claimed: the reader only checks that enough bytes are left for them.
            assert_eq!(r.array_len_v("d", flexible).unwrap(), 2);
            r.tagged_fields_v("t", flexible).unwrap();
            assert_eq!(r.i16("i").unwrap(), -5);
            assert_eq!(r.remaining(), 0);
        }
        let mut w = Writer::new();
        w.string_v("s", "foo", true);
        assert_eq!(&bytes(w)[4..], &[0x04, b'f', b'o', b'o']);
    }

    //< vt6
    //> clients

    #[test]
    fn a_classic_string_longer_than_32767_bytes_is_cut_and_stays_well_formed() {
        let long = "é".repeat(20_000); // 40,000 bytes
        let mut w = Writer::new();
        w.string_v("s", &long, false);
        w.i8("after", 7);
        let bytes = bytes(w);
        let mut r = Reader::new(&bytes[4..]);
        let read = r.string_v("s", false).unwrap();
        assert_eq!(read.len(), 32766, "cut at a character boundary");
        assert_eq!(r.i8("after").unwrap(), 7);
    }

    #[test]
    fn bytes_round_trip_in_both_encodings() {
        for flexible in [false, true] {
            let mut w = Writer::new();
            w.null_array_v("e", flexible);
            w.bytes_v("f", &[1, 2], flexible);
            w.nullable_bytes_v("g", None, flexible);
            let bytes = bytes(w);
            let mut r = Reader::new(&bytes[4..]);
            assert_eq!(r.nullable_array_len_v("e", flexible).unwrap(), None);
            assert_eq!(r.bytes_v("f", flexible).unwrap(), &[1, 2]);
            assert_eq!(r.nullable_bytes_v("g", flexible).unwrap(), None);
        }
    }

    #[test]
    fn shared_bytes_are_spliced_in_place() {
        let mut w = Writer::new();
        w.i8("a", 1);
        w.shared(SharedBytes::from_vec(vec![2, 3]));
        w.i8("b", 4);
        w.shared(SharedBytes::from_vec(vec![5]));
        assert_eq!(w.len(), 5);
        let frame = w.finish();
        assert_eq!(frame.len(), 9);
        assert_eq!(frame.to_vec(), vec![0, 0, 0, 5, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn an_array_stops_growing_at_the_response_bound() {
        let chunk = vec![0u8; 8 << 20];
        let mut w = Writer::new();
        w.array_v("chunks", true, &[(); 40], |w, _| w.raw(&chunk));
        assert!(w.too_large());
        assert!(w.len() <= MAX_RESPONSE_BYTES + chunk.len() + 8, "{} bytes", w.len());
        let mut small = Writer::new();
        small.array_v("chunks", true, &[(); 2], |w, _| w.raw(&chunk));
        assert!(!small.too_large());
    }

    #[test]
    fn a_traced_writer_notes_what_a_traced_reader_notes() {
        // The same fields written and read back: the two traces must be the same, field for field.
        let mut w = Writer::traced();
        w.i16("error_code", 0);
        w.array_v("topics", true, &["a", "bc"], |w, name| {
            w.string_v("name", name, true);
            w.bool("is_internal", false);
            w.tagged_fields_v(true);
        });
        w.nullable_string_v("next", None, true);
        let written = w.take_spans();
        let bytes = bytes(w);
        let mut r = Reader::traced(&bytes[4..]);
        r.i16("error_code").unwrap();
        r.array_v("topics", true, |r| {
            r.string_v("name", true)?;
            r.bool("is_internal")?;
            r.tagged_fields("tagged_fields")
        })
        .unwrap();
        r.nullable_string_v("next", true).unwrap();
        assert_eq!(r.spans(), &written[..]);
        assert_eq!(written.len(), 11);
        assert_eq!((written[2].name, written[2].start, written[2].end, written[2].kind), ("topics", 3, 7, Kind::Group));
    }
    //< clients
}
