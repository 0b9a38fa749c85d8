//! CreatePartitions (key 37), versions 0-3 — grow a topic (`AdminClient.create_partitions`).
//!
//! ```text
//! request                                     response
//!   topics          ARRAY                       throttle_time_ms  INT32
//!     name          STRING                      results           ARRAY
//!     count         INT32 (new total)             name            STRING
//!     assignments   ARRAY (nullable)              error_code      INT16
//!       broker_ids  ARRAY of INT32                error_message   NULLABLE_STRING
//!   timeout_ms      INT32
//!   validate_only   BOOLEAN                     (flexible from v2)
//! ```
//! Partitions can only be added, never removed: a count not above the current one is
//! INVALID_PARTITIONS. The new partitions start empty.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Writer};

#[derive(Debug, PartialEq, Eq)]
pub struct PartitionsTopic<'a> {
    pub name: &'a str,
    pub count: i32,
    pub assignments: Option<Vec<Vec<i32>>>,
}

pub fn decode<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<(Vec<PartitionsTopic<'a>>, bool), DecodeError> {
    let n = r.array_len_v("topics", flexible)?;
    let mut topics = Vec::new();
    for _ in 0..n {
        topics.push(r.nested("topic", |r| {
            let name = r.string_v("name", flexible)?;
            let count = r.i32("count")?;
            let assignments = match r.nullable_array_len_v("assignments", flexible)? {
                None => None,
                Some(n) => {
                    let mut all = Vec::new();
                    for _ in 0..n {
                        all.push(r.nested("assignment", |r| {
                            let n = r.array_len_v("broker_ids", flexible)?;
                            let ids = (0..n).map(|_| r.i32("broker_id")).collect::<Result<Vec<_>, _>>()?;
                            r.tagged_fields_v("tagged_fields", flexible)?;
                            Ok(ids)
                        })?);
                    }
                    Some(all)
                }
            };
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok(PartitionsTopic { name, count, assignments })
        })?);
    }
    r.i32("timeout_ms")?;
    let validate_only = r.bool("validate_only")?;
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok((topics, validate_only))
}

fn grow(broker: &Broker, t: &PartitionsTopic<'_>, validate_only: bool) -> Result<(), (ErrorCode, String)> {
    let Some(topic) = broker.log.topic(t.name) else {
        return Err((ErrorCode::UnknownTopicOrPartition, format!("topic '{}' does not exist", t.name)));
    };
    let current = topic.partitions.len() as i32;
    if t.count > crate::log::MAX_PARTITIONS {
        return Err((
            ErrorCode::InvalidPartitions,
            format!("at most {} partitions per topic", crate::log::MAX_PARTITIONS),
        ));
    }
    if t.count <= current {
        return Err((
            ErrorCode::InvalidPartitions,
            format!("topic has {current} partitions; the new count must be more, got {}", t.count),
        ));
    }
    // Null or empty: the broker places the partitions (here: on itself).
    if let Some(assignments) = t.assignments.as_ref().filter(|a| !a.is_empty()) {
        let here = assignments.iter().all(|ids| ids.as_slice() == [broker.node_id()]);
        if assignments.len() as i32 != t.count - current || !here {
            return Err((
                ErrorCode::InvalidReplicaAssignment,
                format!("each new partition must be on broker {}", broker.node_id()),
            ));
        }
    }
    if validate_only {
        return Ok(());
    }
    broker
        .log
        .create_partitions(t.name, t.count, broker.node_id())
        .map_err(|code| (code, format!("cannot add partitions to '{}'", t.name)))
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (topics, validate_only) = decode(r, req.flexible)?;
    let flexible = req.flexible;
    w.i32("throttle_time_ms", 0);
    w.array_v("results", flexible, &topics, |w, t| {
        let result = grow(broker, t, validate_only);
        w.string_v("name", t.name, flexible);
        match &result {
            Ok(()) => {
                w.i16("error_code", ErrorCode::None.code());
                w.nullable_string_v("error_message", None, flexible);
            }
            Err((code, message)) => {
                w.i16("error_code", code.code());
                w.nullable_string_v("error_message", Some(message), flexible);
            }
        }
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, _version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.array_v("results", flexible, |r| {
        r.string_v("name", flexible)?;
        r.i16("error_code")?;
        r.nullable_string_v("error_message", flexible)?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
