//! DeleteRecords (key 21), versions 0-2 — `AdminClient.delete_records`: every record of a
//! partition before an offset is deleted (stage retention).
//!
//! ```text
//! request                                      response
//!   topics              ARRAY                    throttle_time_ms    INT32
//!     name              STRING                   topics              ARRAY
//!     partitions        ARRAY                      name              STRING
//!       partition_index INT32                      partitions        ARRAY
//!       offset          INT64 (-1: the end)          partition_index INT32
//!   timeout_ms          INT32                        low_watermark   INT64 (the new start)
//!                                                    error_code      INT16
//! ```
//! Flexible from v2. The partition's log start offset moves to `offset`: a consumer below it
//! gets OFFSET_OUT_OF_RANGE, and segments wholly before it are dropped, as retention drops them.
//! An offset past the high watermark is OFFSET_OUT_OF_RANGE.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Writer};

/// `(topic, [(partition, offset)])`, as asked.
pub type Topics<'a> = Vec<(&'a str, Vec<(i32, i64)>)>;

pub fn decode<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<Topics<'a>, DecodeError> {
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
                    let offset = r.i64("offset")?;
                    r.tagged_fields_v("tagged_fields", flexible)?;
                    Ok((index, offset))
                })?);
            }
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok((name, partitions))
        })?);
    }
    r.i32("timeout_ms")?;
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(topics)
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let flexible = req.flexible;
    let mut topics = decode(r, flexible)?;
    // A partition named twice is answered once, as Kafka does.
    let mut seen = std::collections::HashSet::new();
    for (name, partitions) in &mut topics {
        partitions.retain(|(index, _)| seen.insert((*name, *index)));
    }
    w.i32("throttle_time_ms", 0);
    w.array_v("topics", flexible, &topics, |w, (name, partitions)| {
        let topic = broker.log.topic(name);
        w.string_v("name", name, flexible);
        w.array_v("partitions", flexible, partitions, |w, &(index, offset)| {
            let partition = topic.as_ref().and_then(|t| t.partition(index));
            let result = match partition {
                Some(p) => broker.log.delete_records(p, offset),
                None => Err(ErrorCode::UnknownTopicOrPartition),
            };
            w.i32("partition_index", index);
            w.i64("low_watermark", *result.as_ref().unwrap_or(&-1));
            w.i16("error_code", result.err().unwrap_or(ErrorCode::None).code());
            w.tagged_fields_v(flexible);
        });
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, _version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.array_v("topics", flexible, |r| {
        r.string_v("name", flexible)?;
        r.array_v("partitions", flexible, |r| {
            r.i32("partition_index")?;
            r.i64("low_watermark")?;
            r.i16("error_code")?;
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
