//! Record batches (magic v2): the unit a producer sends, the log stores and a consumer fetches
//! (stage ea7 reads them first: the cluster metadata log is made of them).
//!
//! ```text
//! offset  field                   type     note
//!  0      base_offset             INT64    the log's offset replaces the producer's when served
//!  8      batch_length            INT32    bytes after this field (total size - 12)
//! 12      partition_leader_epoch  INT32
//! 16      magic                   INT8     2
//! 17      crc                     UINT32   CRC-32C of bytes [21, end)
//! 21      attributes              INT16    bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control
//! 23      last_offset_delta       INT32    records - 1
//! 27      base_timestamp          INT64
//! 35      max_timestamp           INT64
//! 43      producer_id             INT64    -1 unless idempotent
//! 51      producer_epoch          INT16
//! 53      base_sequence           INT32
//! 57      records_count           INT32
//! 61      records...                       (compressed as a whole if attributes say so)
//! ```
//!
//! Each record: `length` VARINT, `attributes` INT8, `timestamp_delta` VARLONG, `offset_delta`
//! VARINT, `key` and `value` (VARINT length, -1 = null, then the bytes), `headers` (VARINT count,
//! then a key and a value per header).
//> ls8
//!
//! The CRC starts at `attributes`, so the broker may give a batch its own `base_offset` without
//! recomputing the CRC.
//< ls8
//> clients
//! mini-kafka keeps the producer's bytes untouched and writes the assigned offset in front of
//! `bytes[8..]` whenever it sends or stores the batch (`log::partition::StoredBatch`). Compressed
//! batches are never opened: their header says all the broker needs.
//< clients

use crate::wire::{DecodeError, Reader};
//> clients
use crate::wire::{Kind, Writer};
//< clients

/// Size of the batch header, up to the first record.
pub const HEADER_LEN: usize = 61;
/// Where the CRC-covered bytes start.
const CRC_START: usize = 21; //> ls8

/// The fixed header of a record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Decodes the header fields (no validation beyond the lengths the reader checks).
    pub fn decode(r: &mut Reader<'_>) -> Result<BatchHeader, DecodeError> {
        Ok(BatchHeader {
            base_offset: r.i64("base_offset")?,
            batch_length: r.i32("batch_length")?,
            partition_leader_epoch: r.i32("partition_leader_epoch")?,
            magic: r.i8("magic")?,
            crc: r.u32("crc")?,
            attributes: r.i16("attributes")?,
            last_offset_delta: r.i32("last_offset_delta")?,
            base_timestamp: r.i64("base_timestamp")?,
            max_timestamp: r.i64("max_timestamp")?,
            producer_id: r.i64("producer_id")?,
            producer_epoch: r.i16("producer_epoch")?,
            base_sequence: r.i32("base_sequence")?,
            records_count: r.i32("records_count")?,
        })
    }

    /// Total size of the batch on the wire (a negative `batch_length`, which the checks refuse,
    /// counts as none).
    pub fn total_len(&self) -> usize {
        self.batch_length.max(0) as usize + 12
    }
    //> dh6

    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }
    //< dh6
    //> clients

    /// Compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> i16 {
        self.attributes & 0x07
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }
    //> transactions

    /// A control batch holds a transaction marker written by the broker, not records.
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
    //< transactions

    /// Sequence number of the batch's last record (sequences wrap at i32::MAX).
    pub fn last_sequence(&self) -> i32 {
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) { (last - i64::from(i32::MAX) - 1) as i32 } else { last as i32 }
    }
    //< clients
}

/// Why bytes are not a valid record batch: where the batch starts, and what is wrong with it.
//> zf2
/// Every one of these is CORRUPT_MESSAGE to a producer.
//< zf2
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    pub at: usize,
    pub problem: String,
}

impl BatchError {
    pub fn new(at: usize, problem: impl Into<String>) -> BatchError {
        BatchError { at, problem: problem.into() }
    }
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "batch at byte {}: {}", self.at, self.problem)
    }
}

/*> ea7 < ls8
/// Splits a RECORDS field (or a log file) into its batches and checks each one's length and magic.
*/
//> ls8
/// Splits a RECORDS field (or a log file) into its batches and checks each one: length, magic and
/// CRC-32C.
//< ls8
/// Stops at the first bad batch: returns the good batches before it, as `(header, batch bytes)`,
/// and what is wrong with the rest.
pub fn split(bytes: &[u8]) -> (Vec<(BatchHeader, &[u8])>, Option<BatchError>) {
    let mut batches = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match check_batch(&bytes[at..], at) {
            Ok((header, batch)) => {
                at += batch.len();
                batches.push((header, batch));
            }
            Err(e) => return (batches, Some(e)),
        }
    }
    (batches, None)
}

/// Checks the batch at the start of `bytes` (which may hold more after it).
fn check_batch(bytes: &[u8], at: usize) -> Result<(BatchHeader, &[u8]), BatchError> {
    let header =
        BatchHeader::decode(&mut Reader::new(bytes)).map_err(|_| BatchError::new(at, "the header is cut off"))?;
    if header.batch_length < (HEADER_LEN - 12) as i32 {
        return Err(BatchError::new(at, format!("batch_length {} is too small", header.batch_length)));
    }
    if header.magic != 2 {
        return Err(BatchError::new(at, format!("magic {}: only 2 is supported", header.magic)));
    }
    let Some(batch) = bytes.get(..header.total_len()) else {
        return Err(BatchError::new(
            at,
            format!("cut off: {} bytes announced, {} there", header.total_len(), bytes.len()),
        ));
    };
    //> ls8
    let computed = crc32c::crc32c(&batch[CRC_START..]);
    if computed != header.crc {
        return Err(BatchError::new(at, format!("crc {:#010x} stored, {computed:#010x} computed", header.crc)));
    }
    //< ls8
    //> yd8
    if header.last_offset_delta < 0 || header.records_count < 0 {
        return Err(BatchError::new(at, "negative record count or offset delta"));
    }
    //< yd8
    Ok((header, batch))
}
//> yd8

/// A producer's batch must say what it holds: at least one record, and `last_offset_delta + 1`
/// of them, or the offsets given to the next batch would overlap its records. Only checked on
/// produce: compacted logs (Kafka's, on disk) may legitimately hold fewer records than that.
pub fn check_record_count(header: &BatchHeader) -> Result<(), &'static str> {
    if header.records_count <= 0 {
        return Err("a batch without records");
    }
    if i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1 {
        return Err("record count does not match last_offset_delta + 1");
    }
    Ok(())
}
//< yd8
//> ls8

/// Writes the base offset into a batch's first 8 bytes (outside the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
}
//< ls8

/// One record of an uncompressed batch, borrowing from the batch bytes.
pub struct Record<'a> {
    pub offset_delta: i32,
    pub timestamp_delta: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// Decodes the records of an uncompressed batch (used for the cluster metadata log, whose
/// records the broker must read). Headers are skipped; a header count of -1, as the CodeCrafters
/// runner writes, means none.
pub fn records(batch: &[u8]) -> Result<Vec<Record<'_>>, DecodeError> {
    let mut r = Reader::new(batch);
    let header = BatchHeader::decode(&mut r)?;
    if header.attributes & 0x07 != 0 {
        return Err(DecodeError::new("attributes", 21, "the records are compressed"));
    }
    let mut out = Vec::new();
    for _ in 0..header.records_count.max(0) {
        let length = r.varint("length")?;
        let body = r.bytes_exact("record", usize::try_from(length).unwrap_or(usize::MAX))?;
        out.push(record(&mut Reader::new(body))?);
    }
    Ok(out)
}

/// One record's fields, after its length: `r` reads exactly the record.
fn record<'a>(r: &mut Reader<'a>) -> Result<Record<'a>, DecodeError> {
    r.i8("attributes")?;
    let timestamp_delta = r.varlong("timestamp_delta")?;
    let offset_delta = r.varint("offset_delta")?;
    let key = r.varint_bytes("key")?;
    let value = r.varint_bytes("value")?;
    let headers = r.varint("headers_count")?;
    for _ in 0..headers.max(0) {
        r.varint_bytes("header_key")?;
        r.varint_bytes("header_value")?;
    }
    Ok(Record { offset_delta, timestamp_delta, key, value })
}
//> clients

/// Whether the bytes after a file's last whole batch are what a crash mid-write leaves: the
/// start of one batch that runs past the end of the file, or zeros the file system had allocated.
///
/// A whole batch whose length field was damaged also seems to run past the end. It is told
/// apart by what a torn write cannot have: a CRC (which does not cover the length) that holds
/// over the bytes that are there, or the next batch (starting with the offset after this one's
/// last) somewhere behind it.
pub fn torn_tail(rest: &[u8]) -> bool {
    if rest.iter().all(|b| *b == 0) {
        return true;
    }
    let (Some(base), Some(length)) = (rest.get(0..8), rest.get(8..12)) else { return true };
    let declared = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    if declared < (HEADER_LEN - 12) as i32 || 12 + declared as usize <= rest.len() {
        return false; // a batch that would have fit: damaged, not cut short
    }
    if rest.len() < HEADER_LEN {
        return true;
    }
    let crc = u32::from_be_bytes([rest[17], rest[18], rest[19], rest[20]]);
    if crc32c::crc32c(&rest[CRC_START..]) == crc {
        return false;
    }
    let base = i64::from_be_bytes([base[0], base[1], base[2], base[3], base[4], base[5], base[6], base[7]]);
    let delta = i32::from_be_bytes([rest[23], rest[24], rest[25], rest[26]]);
    let next = base.wrapping_add(i64::from(delta)).wrapping_add(1).to_be_bytes();
    let next_batch_behind = (HEADER_LEN..=rest.len().saturating_sub(HEADER_LEN))
        .any(|at| rest[at..at + 8] == next && !split(&rest[at..]).0.is_empty());
    !next_batch_behind
}

/// Walks record batches with `r`, a traced reader, so that a dump shows each batch's header,
/// whether its CRC holds, and each record: the decoding the log itself uses. Stops at the first
/// batch it cannot read, with the reason; what was read before it stays in the trace.
pub fn trace(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    while r.remaining() > 0 {
        r.nested("batch", |r| {
            let bytes = r.rest();
            let header = BatchHeader::decode(r)?;
            let crc_holds = bytes.get(CRC_START..header.total_len()).is_some_and(|b| crc32c::crc32c(b) == header.crc);
            r.retype_last("crc", Kind::Crc { valid: crc_holds });
            r.retype_last("attributes", Kind::BatchAttributes);
            let mut body = r.split_off("records", header.total_len().saturating_sub(HEADER_LEN))?;
            if header.attributes & 0x07 != 0 {
                // Compressed as a whole: without a decompressor the records stay bytes.
                body.bytes_exact("compressed_records", body.remaining())?;
            }
            for _ in 0..if header.attributes & 0x07 == 0 { header.records_count.max(0) } else { 0 } {
                body.nested("record", |r| {
                    let length = r.varint("length")?;
                    let mut fields = r.split_off("record", usize::try_from(length).unwrap_or(usize::MAX))?;
                    let read = record(&mut fields).map(drop);
                    r.join(fields);
                    //> transactions
                    if header.is_control() {
                        r.retype_last("key", Kind::ControlKey);
                    }
                    //< transactions
                    read
                })?;
            }
            r.join(body);
            Ok(())
        })?;
    }
    Ok(())
}
//< clients
//> clients

/// The first record of a batch with a timestamp at or after `timestamp`: `(offset delta,
/// timestamp)`. Only uncompressed batches can be looked into; for a compressed one the answer is
/// its first record and its max timestamp (its records are behind the compression).
pub fn first_record_at_or_after(batch: &[u8], timestamp: i64) -> Option<(i64, i64)> {
    let header = BatchHeader::decode(&mut Reader::new(batch)).ok()?;
    if header.max_timestamp < timestamp {
        return None;
    }
    if header.compression() != 0 {
        return Some((0, header.max_timestamp));
    }
    let found =
        records(batch).ok()?.into_iter().find(|r| header.base_timestamp.saturating_add(r.timestamp_delta) >= timestamp);
    Some(found.map_or((0, header.max_timestamp), |r| {
        (i64::from(r.offset_delta), header.base_timestamp.saturating_add(r.timestamp_delta))
    }))
}

/// The record with the largest timestamp (the first one, if several share it): `(offset delta, timestamp)`.
pub fn max_timestamp_record(batch: &[u8]) -> Option<(i64, i64)> {
    let header = BatchHeader::decode(&mut Reader::new(batch)).ok()?;
    first_record_at_or_after(batch, header.max_timestamp)
}
//< clients

//> clients

/// Builds an uncompressed batch of records with null keys and no headers (what the broker writes
/// to its cluster metadata log).
pub fn build(base_offset: i64, timestamp: i64, values: &[Vec<u8>]) -> Vec<u8> {
    let mut w = Writer::new();
    w.i64("base_offset", base_offset);
    w.i32("batch_length", 0); // patched below
    w.i32("partition_leader_epoch", 0);
    w.i8("magic", 2);
    w.i32("crc", 0); // patched below
    w.i16("attributes", 0);
    w.i32("last_offset_delta", values.len() as i32 - 1);
    w.i64("base_timestamp", timestamp);
    w.i64("max_timestamp", timestamp);
    w.i64("producer_id", -1);
    w.i16("producer_epoch", -1);
    w.i32("base_sequence", -1);
    w.i32("records_count", values.len() as i32);
    for (delta, value) in values.iter().enumerate() {
        let mut rec = Writer::new();
        rec.i8("attributes", 0);
        rec.varlong("timestamp_delta", 0);
        rec.varint("offset_delta", delta as i32);
        rec.varint("key_length", -1); // null
        rec.varint("value_length", value.len() as i32);
        rec.raw(value);
        rec.varint("headers_count", 0);
        let rec = rec.finish().to_vec();
        w.varint("length", (rec.len() - 4) as i32);
        w.raw(&rec[4..]);
    }
    let mut batch = w.finish().to_vec().split_off(4);
    let batch_length = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}
//< clients
//> transactions

/// Attributes of a control batch: transactional (bit 4) and control (bit 5), uncompressed.
const CONTROL_ATTRIBUTES: i16 = 0x30;

/// A transaction marker: the control batch the coordinator writes into each partition of a
/// transaction when it ends. One record, whose key says what happened and whose value says which
/// coordinator wrote it:
///
/// ```text
/// key    version INT16 (0), type INT16 (0 = ABORT, 1 = COMMIT)
/// value  version INT16 (0), coordinator_epoch INT32
/// ```
/// The batch carries the producer's id and epoch (no sequence: -1), so the log knows whose
/// transaction it closes.
pub fn control_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    now_ms: i64,
) -> Vec<u8> {
    let key = [0, 0, 0, u8::from(commit)];
    let mut value = vec![0, 0];
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    // One record: attributes 0, timestamp and offset deltas 0, key and value, no headers.
    let mut record = vec![0, 0, 0, (key.len() as u8) << 1];
    record.extend_from_slice(&key);
    record.push((value.len() as u8) << 1);
    record.extend_from_slice(&value);
    record.push(0);
    let mut batch = Vec::with_capacity(HEADER_LEN + 1 + record.len());
    batch.extend_from_slice(&0i64.to_be_bytes()); // base_offset: the log's to give
    batch.extend_from_slice(&0i32.to_be_bytes()); // batch_length, patched below
    batch.extend_from_slice(&0i32.to_be_bytes()); // partition_leader_epoch
    batch.push(2); // magic
    batch.extend_from_slice(&0u32.to_be_bytes()); // crc, patched below
    batch.extend_from_slice(&CONTROL_ATTRIBUTES.to_be_bytes());
    batch.extend_from_slice(&0i32.to_be_bytes()); // last_offset_delta: one record
    batch.extend_from_slice(&now_ms.to_be_bytes()); // base_timestamp
    batch.extend_from_slice(&now_ms.to_be_bytes()); // max_timestamp
    batch.extend_from_slice(&producer_id.to_be_bytes());
    batch.extend_from_slice(&producer_epoch.to_be_bytes());
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // base_sequence: markers have none
    batch.extend_from_slice(&1i32.to_be_bytes()); // records_count
    batch.push((record.len() as u8) << 1); // the record's length, a zigzag VARINT
    batch.extend_from_slice(&record);
    let batch_length = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// What a control batch says: `Some(true)` for COMMIT, `Some(false)` for ABORT, `None` if it is
/// not a transaction marker that can be read.
pub fn control_type(batch: &[u8]) -> Option<bool> {
    let record = records(batch).ok()?.into_iter().next()?;
    match record.key? {
        [0, 0, 0, 0] => Some(false),
        [0, 0, 0, 1] => Some(true),
        _ => None,
    }
}
//< transactions

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch holding one record, "hello" (stages/REFERENCE.md shows it byte by byte).
    pub const HELLO: &str = "0000000000000000 0000003d 00000000 02 a2247559 0000 00000000 0000019 1e05b6d8b \
        000001 91e05b6d8b 0000000000000000 0000 00000000 00000001 16 00 00 00 01 0a 68656c6c6f 00";

    pub fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn parses_a_batch_and_its_record() {
        let bytes = hex(HELLO);
        assert_eq!(bytes.len(), 73);
        let (all, damage) = split(&bytes);
        assert_eq!((all.len(), damage), (1, None));
        let (h, b) = all[0];
        assert_eq!(b.len(), 73);
        assert_eq!((h.base_offset, h.batch_length, h.magic, h.crc, h.records_count), (0, 61, 2, 0xa2247559, 1));
        let recs = records(b).unwrap();
        assert_eq!(recs[0].value, Some(&b"hello"[..]));
        assert_eq!(recs[0].key, None);
    }

    #[test]
    fn truncation_is_detected_at_every_length() {
        let good = hex(HELLO);
        for len in 1..good.len() {
            let (all, damage) = split(&good[..len]);
            assert!(all.is_empty() && damage.is_some_and(|e| e.at == 0), "len {len}");
        }
        let twice = [&good[..], &good[..10]].concat();
        assert!(split(&twice).1.is_some_and(|e| e.at == 73), "a cut-off second batch is found where it starts");
        let mut bad = good.clone();
        bad[16] = 1;
        assert!(split(&bad).1.is_some_and(|e| e.problem.contains("magic 1")));
    }
    //> ls8

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE3069283);
    }

    #[test]
    fn any_flipped_bit_after_the_crc_start_is_caught() {
        let good = hex(HELLO);
        for byte in CRC_START..good.len() {
            let mut bad = good.clone();
            bad[byte] ^= 0x10;
            assert!(split(&bad).1.is_some_and(|e| e.problem.contains("crc")), "byte {byte}");
        }
        // base_offset is outside the CRC on purpose.
        let mut moved = good.clone();
        set_base_offset(&mut moved, 42);
        assert_eq!(split(&moved).0[0].0.base_offset, 42);
    }
    //< ls8
    //> clients

    #[test]
    fn built_batches_are_valid() {
        let batch = build(5, 1000, &[b"a".to_vec(), b"bc".to_vec()]);
        let (h, _) = split(&batch).0[0];
        assert_eq!((h.base_offset, h.records_count, h.last_offset()), (5, 2, 6));
        let recs = records(&batch).unwrap();
        assert_eq!(recs[1].value, Some(&b"bc"[..]));
        assert_eq!(recs[1].offset_delta, 1);
    }
    //< clients
    //> transactions

    #[test]
    fn a_control_batch_is_a_valid_batch_that_says_which_marker_it_is() {
        for commit in [true, false] {
            let marker = control_batch(7, 3, commit, 0, 1_700_000_000_000);
            let (batches, damage) = split(&marker);
            assert_eq!((batches.len(), damage), (1, None), "the CRC holds");
            let header = batches[0].0;
            assert!(header.is_control() && header.is_transactional());
            assert_eq!((header.producer_id, header.producer_epoch, header.base_sequence), (7, 3, -1));
            assert_eq!(check_record_count(&header), Ok(()));
            assert_eq!(control_type(&marker), Some(commit));
            assert_eq!(records(&marker).unwrap()[0].value, Some(&[0, 0, 0, 0, 0, 0][..]));
        }
        assert_eq!(control_type(&build(0, 0, &[b"not a marker".to_vec()])), None);
    }
    //< transactions
}
