//! [`FieldSpan`]: what a traced [`Reader`](super::Reader) or [`Writer`](super::Writer) notes of
//! each field it decodes or encodes. An annotated dump of a message is made from these (see
//! `src/inspect/`): the same code that serves a request and writes its response explains them, so
//! the explanation cannot disagree with what was sent.

use super::Field;

/// One field: its schema name, the bytes it took and how to show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpan {
    pub name: Field,
    /// Byte range in the message, counted from the first byte after `message_size`.
    pub start: usize,
    pub end: usize,
    /// Where the value starts: after the length prefix of a string, bytes or records, else `start`.
    pub content: usize,
    /// Nesting level: 0 for top-level fields, +1 inside each array element or struct.
    pub depth: u16,
    pub kind: Kind,
}

/// How a field's bytes are read back for display. The Reader and the Writer note the same kinds
/// for the same fields, so a request and a response dump look alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// INT8..INT64 (by its length), big-endian, signed.
    Int,
    Bool,
    Uuid,
    /// VARINT or VARLONG: zigzag-encoded.
    Varint,
    UnsignedVarint,
    /// STRING or COMPACT_STRING: UTF-8 after the length prefix.
    Text,
    /// BYTES or COMPACT_BYTES, or a record's key or value: raw bytes after the length prefix.
    Bytes,
    /// RECORDS: record batches after the length prefix.
    Records,
    /// A null string, bytes, records or array.
    Null,
    /// An array's count: INT32, or UNSIGNED_VARINT count+1 in flexible versions.
    Count,
    Tags,
    /// An array element or a struct: the fields below it are one level deeper.
    Group,
    /// A record batch's CRC-32C, with whether it matches the bytes it covers.
    Crc {
        valid: bool,
    },
    /// A record batch's attributes: compression, timestamp type, transactional, control.
    BatchAttributes,
    /// A control record's key: which transaction marker it is (stage transactions).
    ControlKey, //> transactions
}
