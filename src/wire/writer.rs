//! [`Writer`]: encodes primitives into a response buffer; [`Frame`]: a finished response.

use super::{SharedBytes, Uuid, zigzag_encode};
use std::io::{IoSlice, Write};

/// Builds one size-prefixed frame. The first four bytes are reserved for `message_size` and
/// filled in by [`Writer::finish`].
///
/// Stored record batches are not copied into the buffer: [`Writer::shared`] notes where they go,
/// and [`Frame::write_to`] hands the buffer pieces and the batches to the kernel in one vectored
/// write.
pub struct Writer {
    buf: Vec<u8>,
    /// `(offset in buf, bytes)`: stored bytes that belong at that point of the frame.
    shared: Vec<(usize, SharedBytes)>,
    shared_len: usize,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    /// A writer for a frame (with a size prefix to be filled in).
    pub fn new() -> Self {
        Writer { buf: vec![0; 4], shared: Vec::new(), shared_len: 0 }
    }

    /// Bytes written so far, size prefix excluded, shared bytes included.
    pub fn len(&self) -> usize {
        self.buf.len() - 4 + self.shared_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }

    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn uuid(&mut self, v: Uuid) {
        self.buf.extend_from_slice(&v.0);
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn unsigned_varint(&mut self, v: u64) {
        let mut v = v;
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub fn varint(&mut self, v: i32) {
        self.unsigned_varint(zigzag_encode(v.into()));
    }

    pub fn varlong(&mut self, v: i64) {
        self.unsigned_varint(zigzag_encode(v));
    }

    /// A length prefix: INT16 for classic strings, UNSIGNED_VARINT length+1 for compact ones.
    fn string_len(&mut self, len: Option<usize>, flexible: bool) {
        match (len, flexible) {
            (None, false) => self.i16(-1),
            (None, true) => self.unsigned_varint(0),
            (Some(n), false) => self.i16(i16::try_from(n).unwrap_or(i16::MAX)),
            (Some(n), true) => self.unsigned_varint(n as u64 + 1),
        }
    }

    /// STRING or COMPACT_STRING. A classic STRING holds at most 32767 bytes; a longer one (a
    /// group id that arrived in a flexible request, an error message quoting a client's input) is
    /// cut at a character boundary, so the frame stays well-formed.
    pub fn string_v(&mut self, s: &str, flexible: bool) {
        let mut s = s;
        if !flexible && s.len() > i16::MAX as usize {
            let mut end = i16::MAX as usize;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s = &s[..end];
        }
        self.string_len(Some(s.len()), flexible);
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub fn nullable_string_v(&mut self, s: Option<&str>, flexible: bool) {
        match s {
            Some(s) => self.string_v(s, flexible),
            None => self.string_len(None, flexible),
        }
    }

    /// BYTES or COMPACT_BYTES (null = `None`).
    pub fn nullable_bytes_v(&mut self, b: Option<&[u8]>, flexible: bool) {
        match (b, flexible) {
            (None, false) => self.i32(-1),
            (None, true) => self.unsigned_varint(0),
            (Some(b), false) => {
                self.i32(b.len() as i32);
                self.buf.extend_from_slice(b);
            }
            (Some(b), true) => {
                self.unsigned_varint(b.len() as u64 + 1);
                self.buf.extend_from_slice(b);
            }
        }
    }

    pub fn bytes_v(&mut self, b: &[u8], flexible: bool) {
        self.nullable_bytes_v(Some(b), flexible);
    }

    /// The size prefix of a RECORDS field whose `len` bytes follow (through [`Writer::shared`]).
    pub fn records_len_v(&mut self, len: usize, flexible: bool) {
        if flexible { self.unsigned_varint(len as u64 + 1) } else { self.i32(len as i32) }
    }

    /// Stored bytes to be sent at this point of the frame without copying them.
    pub fn shared(&mut self, bytes: SharedBytes) {
        self.shared_len += bytes.len();
        self.shared.push((self.buf.len(), bytes));
    }

    /// ARRAY (INT32 count) or COMPACT_ARRAY (UNSIGNED_VARINT count+1).
    pub fn array_len_v(&mut self, n: usize, flexible: bool) {
        if flexible { self.unsigned_varint(n as u64 + 1) } else { self.i32(n as i32) }
    }

    pub fn null_array_v(&mut self, flexible: bool) {
        if flexible { self.unsigned_varint(0) } else { self.i32(-1) }
    }

    /// An empty TAGGED_FIELDS section if the version is flexible. This broker sends no tagged fields.
    pub fn tagged_fields_v(&mut self, flexible: bool) {
        if flexible {
            self.buf.push(0);
        }
    }

    /// Fills in `message_size` and returns the frame ready to send.
    pub fn finish(mut self) -> Frame {
        let size = (self.len() as u32).to_be_bytes();
        self.buf[..4].copy_from_slice(&size);
        Frame { buf: self.buf, shared: self.shared }
    }
}

/// A complete response: size prefix, header and body, part owned and part shared with the log.
pub struct Frame {
    buf: Vec<u8>,
    shared: Vec<(usize, SharedBytes)>,
}

impl Frame {
    /// Total bytes on the wire, size prefix included.
    pub fn len(&self) -> usize {
        self.buf.len() + self.shared.iter().map(|(_, b)| b.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the whole frame with as few system calls as the kernel allows: normally one
    /// `writev`, so a reader never sees half a response followed by a pause.
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
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
    }

    /// The frame as one contiguous buffer (for tests and tracing).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        // Writing into a Vec cannot fail.
        let _ = self.write_to(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::Reader;
    use super::*;

    #[test]
    fn frame_has_a_size_prefix() {
        let mut w = Writer::new();
        w.i32(7);
        assert_eq!(w.finish().to_vec(), vec![0, 0, 0, 4, 0, 0, 0, 7]);
    }

    #[test]
    fn varint_boundaries_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 16383, 16384, u32::MAX as u64] {
            let mut w = Writer::new();
            w.unsigned_varint(v);
            let bytes = w.finish().to_vec();
            assert_eq!(Reader::new(&bytes[4..]).unsigned_varint("v").unwrap() as u64, v);
        }
        for v in [0i32, -1, 1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut w = Writer::new();
            w.varint(v);
            let bytes = w.finish().to_vec();
            assert_eq!(Reader::new(&bytes[4..]).varint("v").unwrap(), v);
        }
        for v in [0i64, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut w = Writer::new();
            w.varlong(v);
            let bytes = w.finish().to_vec();
            assert_eq!(Reader::new(&bytes[4..]).varlong("v").unwrap(), v);
        }
        let mut w = Writer::new();
        w.unsigned_varint(300);
        assert_eq!(&w.finish().to_vec()[4..], &[0xac, 0x02]);
    }

    #[test]
    fn strings_arrays_and_bytes_round_trip_in_both_encodings() {
        for flexible in [false, true] {
            let mut w = Writer::new();
            w.string_v("foo", flexible);
            w.nullable_string_v(None, flexible);
            w.string_v("", flexible);
            w.array_len_v(3, flexible);
            w.null_array_v(flexible);
            w.bytes_v(&[1, 2], flexible);
            w.nullable_bytes_v(None, flexible);
            w.uuid(Uuid([9; 16]));
            w.tagged_fields_v(flexible);
            w.i16(-5);
            let bytes = w.finish().to_vec();
            let mut r = Reader::new(&bytes[4..]);
            assert_eq!(r.string_v("a", flexible).unwrap(), "foo");
            assert_eq!(r.nullable_string_v("b", flexible).unwrap(), None);
            assert_eq!(r.string_v("c", flexible).unwrap(), "");
            // 3 elements claimed but the reader sees enough bytes left for the check to pass.
            assert_eq!(r.array_len_v("d", flexible).unwrap(), 3);
            assert_eq!(r.nullable_array_len_v("e", flexible).unwrap(), None);
            assert_eq!(r.bytes_v("f", flexible).unwrap(), &[1, 2]);
            assert_eq!(r.nullable_bytes_v("g", flexible).unwrap(), None);
            assert_eq!(r.uuid("h").unwrap(), Uuid([9; 16]));
            r.tagged_fields_v("t", flexible).unwrap();
            assert_eq!(r.i16("i").unwrap(), -5);
            assert_eq!(r.remaining(), 0);
        }
        let mut w = Writer::new();
        w.string_v("foo", true);
        assert_eq!(&w.finish().to_vec()[4..], &[0x04, b'f', b'o', b'o']);
    }

    #[test]
    fn a_classic_string_longer_than_32767_bytes_is_cut_and_stays_well_formed() {
        let long = "é".repeat(20_000); // 40,000 bytes
        let mut w = Writer::new();
        w.string_v(&long, false);
        w.i8(7);
        let bytes = w.finish().to_vec();
        let mut r = Reader::new(&bytes[4..]);
        let read = r.string_v("s", false).unwrap();
        assert_eq!(read.len(), 32766, "cut at a character boundary");
        assert_eq!(r.i8("after").unwrap(), 7);
    }

    #[test]
    fn shared_bytes_are_spliced_in_place() {
        let mut w = Writer::new();
        w.i8(1);
        w.shared(SharedBytes::from_vec(vec![2, 3]));
        w.i8(4);
        w.shared(SharedBytes::from_vec(vec![5]));
        assert_eq!(w.len(), 5);
        let frame = w.finish();
        assert_eq!(frame.len(), 9);
        assert_eq!(frame.to_vec(), vec![0, 0, 0, 5, 1, 2, 3, 4, 5]);
    }
}
