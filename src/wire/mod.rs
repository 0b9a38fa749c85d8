//! The Kafka wire format's primitive types, read and written by hand.
//!
//! Every Kafka message is a tree of a dozen primitive types, all big-endian:
//!
//! | type                    | bytes                                                         |
//! |-------------------------|---------------------------------------------------------------|
//! | INT8 / INT16 / INT32 / INT64 | 1 / 2 / 4 / 8, two's complement                          |
//> pv1
//! | UNSIGNED_VARINT         | 7 bits a byte, low group first, high bit = "more follows" (300 = `ac 02`) |
//! | ARRAY / COMPACT_ARRAY   | INT32 count (-1 = null) / UNSIGNED_VARINT count+1 (`00` = null) |
//! | TAGGED_FIELDS           | UNSIGNED_VARINT count, then (tag, size, bytes) for each field |
//< pv1
//> vt6
//! | BOOLEAN                 | 1 byte, 0 = false                                             |
//! | UUID                    | 16 raw bytes                                                  |
//! | STRING                  | INT16 length, then UTF-8 (`-1` = null for NULLABLE_STRING)    |
//! | COMPACT_STRING          | UNSIGNED_VARINT length+1, then UTF-8 (`00` = null)            |
//< vt6
//> ea7
//! | VARINT / VARLONG        | zigzag (`(n << 1) ^ (n >> 63)`), then UNSIGNED_VARINT (-1 = `01`) |
//< ea7
//> zf2
//! | BYTES / COMPACT_BYTES   | as the strings, with an INT32 length for BYTES                |
//< zf2
//> pv1
//!
//! "Flexible" versions of a message (KIP-482) use the COMPACT_ forms and end every structure with
//! TAGGED_FIELDS; older versions use the classic forms. [`Reader`] and [`Writer`] offer both, and the
//! `_v` helpers (`string_v`, `array_len_v`, ...) pick one from a `flexible` flag so that an API's
//! code reads like its schema.
//< pv1
//!
//! Decoding never panics and never trusts a length: every length is checked against the bytes that
//! are actually left before anything is sliced or allocated.

mod reader;
mod shared; //> clients
mod span; //> clients
mod writer;

pub use reader::{DecodeError, Reader};
pub use writer::{Frame, Writer};
//> clients
pub use shared::SharedBytes;
pub use span::{FieldSpan, Kind};
pub use writer::MAX_RESPONSE_BYTES;
//< clients

/// A field's name in Kafka's schema (`throttle_time_ms`, `topics`, …): decoding errors and
/// traces name the field they are about.
pub type Field = &'static str;
//> vt6

/// A 16-byte UUID, as Kafka uses for topic ids.
/*> vt6 < clients
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
*/
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)] //> clients
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// All zeros: Kafka's "no id".
    pub const ZERO: Uuid = Uuid([0; 16]);
    //> clients

    /// A random version-4 UUID. std has no random number generator, but every `RandomState` is
    /// seeded from the operating system's randomness, which is all a topic id needs.
    pub fn random() -> Uuid {
        use std::collections::hash_map::RandomState;
        use std::hash::{BuildHasher, Hasher};
        let mut bytes = [0u8; 16];
        for half in bytes.chunks_mut(8) {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u128(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
            );
            half.copy_from_slice(&hasher.finish().to_be_bytes());
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
        Uuid(bytes)
    }

    /// The form Kafka prints ids in (`Uuid.toString()`): URL-safe base64 without padding, 22
    /// characters. Kafka writes topic ids this way in `partition.metadata` and cluster ids in
    /// `meta.properties`.
    pub fn to_kafka_string(&self) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::with_capacity(22);
        for chunk in self.0.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            // A chunk of k bytes carries k + 1 significant characters.
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
    //< clients
}
//> clients

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
//< clients
//< vt6
//> ea7

/// Zigzag decoding: VARINTs carry signed numbers as unsigned ones, small magnitudes small
/// (0→0, 1→-1, 2→1).
pub fn zigzag_decode(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}
//> clients

/// The inverse of [`zigzag_decode`]: -1→1, 1→2.
pub fn zigzag_encode(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}
//< clients
//< ea7
//> ea7

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_matches_the_protocol_examples() {
        for (n, z) in [(0i64, 0u64), (-1, 1), (1, 2), (5, 10), (11, 22), (72, 144), (i64::MIN, u64::MAX)] {
            assert_eq!(zigzag_encode(n), z); //> clients
            assert_eq!(zigzag_decode(z), n);
        }
    }

    //> clients

    #[test]
    fn uuid_text() {
        let id = Uuid([0x10, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(id.to_string(), "10000000-0000-4000-8000-000000000001");
        assert_eq!(id.to_kafka_string(), "EAAAAAAAQACAAAAAAAAAAQ");
        // The URL-safe alphabet: 0xfb 0xff → "-_" where standard base64 has "+/".
        assert!(
            Uuid([0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
                .to_kafka_string()
                .starts_with("-_-_-_-_")
        );
        let r = Uuid::random();
        assert_ne!(r, Uuid::random());
        assert_eq!(r.0[6] >> 4, 4);
    }
    //< clients
}
//< ea7
