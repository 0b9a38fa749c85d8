//! [`Writer`]: encodes primitives into a response buffer; [`Frame`]: a finished response.

use std::io::Write;
//> vt6
use super::Uuid;
//< vt6
//> clients
use super::SharedBytes;
use super::zigzag_encode;
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
    //< clients
}
//> clients

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}
//< clients

impl Writer {
    /// A writer for a frame (with a size prefix to be filled in).
    pub fn new() -> Self {
        Writer {
            buf: vec![0; 4],
            //> clients
            shared: Vec::new(),
            shared_len: 0,
            //< clients
        }
    }
    //> clients

    /// Bytes written so far, size prefix excluded.
    pub fn len(&self) -> usize {
        self.buf.len() - 4 + self.shared_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    //< clients
    //> vt6

    pub fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }

    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    //< vt6
    //> nc5

    pub fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    //< nc5

    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    //> dh6

    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    //< dh6
    //> vt6

    pub fn uuid(&mut self, v: Uuid) {
        self.buf.extend_from_slice(&v.0);
    }
    //< vt6
    //> eg2

    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    //< eg2
    //> pv1

    pub fn unsigned_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
    //< pv1
    //> clients

    pub fn varint(&mut self, v: i32) {
        self.unsigned_varint(zigzag_encode(v.into()));
    }

    pub fn varlong(&mut self, v: i64) {
        self.unsigned_varint(zigzag_encode(v));
    }
    //< clients
    //> vt6

    /// STRING (INT16 length) or COMPACT_STRING (UNSIGNED_VARINT length+1).
    //> clients
    /// A classic STRING holds at most 32767 bytes; a longer one (a group id that arrived in a
    /// flexible request, an error message quoting a client's input) is cut at a character boundary,
    /// so the frame stays well-formed.
    //< clients
    pub fn string_v(&mut self, s: &str, flexible: bool) {
        //> clients
        let mut s = s;
        if !flexible && s.len() > i16::MAX as usize {
            let mut end = i16::MAX as usize;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s = &s[..end];
        }
        //< clients
        if flexible {
            self.unsigned_varint(s.len() as u64 + 1)
        } else {
            self.i16(s.len() as i16)
        }
        self.buf.extend_from_slice(s.as_bytes());
    }
    //< vt6
    //> zf2

    /// A string that may be null: length -1 in a classic string, 0 in a compact one.
    pub fn nullable_string_v(&mut self, s: Option<&str>, flexible: bool) {
        match s {
            Some(s) => self.string_v(s, flexible),
            None if flexible => self.unsigned_varint(0),
            None => self.i16(-1),
        }
    }
    //< zf2
    //> clients

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
    //< clients
    //> dh6

    /// The size prefix of a RECORDS field whose `len` bytes follow.
    pub fn records_len_v(&mut self, len: usize, flexible: bool) {
        if flexible { self.unsigned_varint(len as u64 + 1) } else { self.i32(len as i32) }
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
    pub fn array_len_v(&mut self, n: usize, flexible: bool) {
        if flexible { self.unsigned_varint(n as u64 + 1) } else { self.i32(n as i32) }
    }
    //< pv1
    //> clients

    pub fn null_array_v(&mut self, flexible: bool) {
        if flexible { self.unsigned_varint(0) } else { self.i32(-1) }
    }
    //< clients

    /// An empty TAGGED_FIELDS section if the version is flexible. This broker sends no tagged fields.
    pub fn tagged_fields_v(&mut self, flexible: bool) {
        if flexible {
            self.buf.push(0);
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
        w.i32(7);
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
            w.varint(v);
            let bytes = bytes(w);
            assert_eq!(Reader::new(&bytes[4..]).varint("v").unwrap(), v);
        }
        for v in [0i64, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut w = Writer::new();
            w.varlong(v);
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
            w.string_v("foo", flexible);
            w.nullable_string_v(None, flexible); //> clients
            w.string_v("", flexible);
            w.array_len_v(2, flexible);
            w.tagged_fields_v(flexible);
            w.i16(-5);
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
        w.string_v("foo", true);
        assert_eq!(&bytes(w)[4..], &[0x04, b'f', b'o', b'o']);
    }

    //< vt6
    //> clients

    #[test]
    fn a_classic_string_longer_than_32767_bytes_is_cut_and_stays_well_formed() {
        let long = "é".repeat(20_000); // 40,000 bytes
        let mut w = Writer::new();
        w.string_v(&long, false);
        w.i8(7);
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
            w.null_array_v(flexible);
            w.bytes_v(&[1, 2], flexible);
            w.nullable_bytes_v(None, flexible);
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
        w.i8(1);
        w.shared(SharedBytes::from_vec(vec![2, 3]));
        w.i8(4);
        w.shared(SharedBytes::from_vec(vec![5]));
        assert_eq!(w.len(), 5);
        let frame = w.finish();
        assert_eq!(frame.len(), 9);
        assert_eq!(frame.to_vec(), vec![0, 0, 0, 5, 1, 2, 3, 4, 5]);
    }
    //< clients
}
