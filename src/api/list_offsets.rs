//! ListOffsets (key 2), versions 1-8 — how a consumer finds where to start: the earliest offset,
//! the latest, or the first offset at or after a point in time (`offsets_for_times`).
//!
//! ```text
//! request                                   response
//!   replica_id       INT32                    throttle_time_ms  INT32 (v2+)
//!   isolation_level  INT8 (v2+)               topics            ARRAY
//!   topics           ARRAY                      name            STRING
//!     name           STRING                     partitions      ARRAY
//!     partitions     ARRAY                        partition_index, error_code INT32, INT16
//!       partition_index       INT32               timestamp       INT64
//!       current_leader_epoch  INT32 (v4+)         offset          INT64
//!       timestamp             INT64               leader_epoch    INT32 (v4+)
//! ```
//! Flexible from v6. `timestamp` is a time in ms, or a special value: -1 latest (the high
//! watermark, where the next record will go), -2 earliest, -3 the record with the largest
//! timestamp (v7+), -4 earliest local (v8+; the same as earliest here, nothing is tiered).

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::log::partition::Partition;
use crate::wire::{DecodeError, Reader, Writer};

pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL: i64 = -4;

#[derive(Debug, PartialEq, Eq)]
pub struct ListOffsetsTopic<'a> {
    pub name: &'a str,
    /// `(partition_index, timestamp)`
    pub partitions: Vec<(i32, i64)>,
}

/*> clients < transactions
pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<Vec<ListOffsetsTopic<'a>>, DecodeError> {
    r.i32("replica_id")?;
    if version >= 2 {
        r.i8("isolation_level")?;
    }
*/
//> transactions
/// The request: `(isolation_level, topics)`.
pub fn decode<'a>(
    r: &mut Reader<'a>,
    version: i16,
    flexible: bool,
) -> Result<(i8, Vec<ListOffsetsTopic<'a>>), DecodeError> {
    r.i32("replica_id")?;
    let isolation_level = if version >= 2 { r.i8("isolation_level")? } else { 0 };
    //< transactions
    let n = r.array_len_v("topics", flexible)?;
    let mut topics = Vec::new();
    for _ in 0..n {
        topics.push(r.nested("topic", |r| {
            let name = r.string_v("name", flexible)?;
            let n = r.array_len_v("partitions", flexible)?;
            let mut partitions = Vec::new();
            for _ in 0..n {
                partitions.push(r.nested("partition", |r| {
                    let index = r.i32("partition_index")?;
                    if version >= 4 {
                        r.i32("current_leader_epoch")?;
                    }
                    let timestamp = r.i64("timestamp")?;
                    r.tagged_fields_v("tagged_fields", flexible)?;
                    Ok((index, timestamp))
                })?);
            }
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok(ListOffsetsTopic { name, partitions })
        })?);
    }
    r.tagged_fields_v("tagged_fields", flexible)?;
    /*> clients < transactions
    Ok(topics)
    */
    Ok((isolation_level, topics)) //> transactions
}

/// `(timestamp, offset)` for one partition; `(-1, -1)` when no record is that recent.
/*> clients < transactions
fn lookup(partition: &Partition, timestamp: i64) -> (i64, i64) {
    match timestamp {
        LATEST => (-1, partition.high_watermark()),
*/
//> transactions
/// For a read_committed consumer (`isolation_level` 1) the latest offset is the last stable one,
/// and a lookup by time finds nothing at or past it (as in Kafka).
fn lookup(partition: &Partition, timestamp: i64, isolation_level: i8) -> (i64, i64) {
    let found = lookup_uncommitted(partition, timestamp);
    match timestamp {
        LATEST if isolation_level == 1 => (-1, partition.last_stable_offset()),
        LATEST | EARLIEST | EARLIEST_LOCAL => found,
        _ if isolation_level == 1 && found.1 >= partition.last_stable_offset() => (-1, -1),
        _ => found,
    }
}

fn lookup_uncommitted(partition: &Partition, timestamp: i64) -> (i64, i64) {
    match timestamp {
        LATEST => (-1, partition.high_watermark()),
        //< transactions
        EARLIEST | EARLIEST_LOCAL => (-1, partition.log_start_offset()),
        MAX_TIMESTAMP => partition.max_timestamp().map_or((-1, -1), |(offset, ts)| (ts, offset)),
        ts => partition.offset_for_timestamp(ts).map_or((-1, -1), |(offset, ts)| (ts, offset)),
    }
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    /*> clients < transactions
    let topics = decode(r, req.version, req.flexible)?;
    */
    let (isolation_level, topics) = decode(r, req.version, req.flexible)?; //> transactions
    let (version, flexible) = (req.version, req.flexible);
    if version >= 2 {
        w.i32("throttle_time_ms", 0);
    }
    w.array_v("topics", flexible, &topics, |w, t| {
        w.string_v("name", t.name, flexible);
        let topic = broker.log.topic(t.name);
        w.array_v("partitions", flexible, &t.partitions, |w, &(index, timestamp)| {
            let partition = topic.as_ref().and_then(|topic| topic.partition(index));
            let (error, (ts, offset), epoch) = match partition {
                None => (ErrorCode::UnknownTopicOrPartition, (-1, -1), -1),
                Some(_) if timestamp == MAX_TIMESTAMP && version < 7 => (ErrorCode::UnsupportedVersion, (-1, -1), -1),
                /*> clients < transactions
                Some(p) => (ErrorCode::None, lookup(p, timestamp), p.leader_epoch),
                */
                Some(p) => (ErrorCode::None, lookup(p, timestamp, isolation_level), p.leader_epoch), //> transactions
            };
            w.i32("partition_index", index);
            w.i16("error_code", error.code());
            w.i64("timestamp", ts);
            w.i64("offset", offset);
            if version >= 4 {
                w.i32("leader_epoch", epoch);
            }
            w.tagged_fields_v(flexible);
        });
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    if version >= 2 {
        r.i32("throttle_time_ms")?;
    }
    r.array_v("topics", flexible, |r| {
        r.string_v("name", flexible)?;
        r.array_v("partitions", flexible, |r| {
            r.i32("partition_index")?;
            r.i16("error_code")?;
            r.i64("timestamp")?;
            r.i64("offset")?;
            if version >= 4 {
                r.i32("leader_epoch")?;
            }
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
