//! OffsetCommit (key 8), versions 2-8 — "the group has consumed up to here".
//!
//! A committed offset is the *next* offset to read, per group and partition, with an optional
//! metadata string. Members of a group commit with their generation, so a member that missed a
//! rebalance cannot overwrite the progress of the partition's new owner. A consumer that assigns
//! partitions itself (no JoinGroup) commits with generation -1 and an empty member id; that is
//! accepted while the group has no members.
//!
//! ```text
//! request                                           response
//!   group_id               STRING                     throttle_time_ms  INT32 (v3+)
//!   generation_id          INT32 (-1: no group)       topics            ARRAY
//!   member_id              STRING                       name            STRING
//!   group_instance_id      NULLABLE_STRING (v7+)        partitions      ARRAY
//!   retention_time_ms      INT64 (v2-4; ignored)          partition_index INT32
//!   topics                 ARRAY                          error_code      INT16
//!     name                 STRING
//!     partitions           ARRAY
//!       partition_index         INT32
//!       committed_offset        INT64
//!       committed_leader_epoch  INT32 (v6+)
//!       committed_metadata      NULLABLE_STRING
//! ```
//! v8 is flexible. With `log.dirs` set the offsets are saved before the answer is sent
//! ([`crate::group::store`]).

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::group::{MAX_METADATA_BYTES, OffsetToCommit};
use crate::wire::{DecodeError, Reader, Writer};

#[derive(Debug, PartialEq, Eq)]
pub struct OffsetCommitRequest<'a> {
    pub group_id: &'a str,
    pub generation_id: i32,
    pub member_id: &'a str,
    pub group_instance_id: Option<&'a str>,
    pub topics: Vec<CommitTopic<'a>>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct CommitTopic<'a> {
    pub name: &'a str,
    pub partitions: Vec<CommitPartition<'a>>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct CommitPartition<'a> {
    pub partition_index: i32,
    pub committed_offset: i64,
    pub committed_leader_epoch: i32,
    pub committed_metadata: Option<&'a str>,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<OffsetCommitRequest<'a>, DecodeError> {
    let group_id = r.string_v("group_id", flexible)?;
    let generation_id = r.i32("generation_id")?;
    let member_id = r.string_v("member_id", flexible)?;
    let group_instance_id = if version >= 7 { r.nullable_string_v("group_instance_id", flexible)? } else { None };
    if version <= 4 {
        r.i64("retention_time_ms")?;
    }
    let n = r.array_len_v("topics", flexible)?;
    let mut topics = Vec::new();
    for _ in 0..n {
        topics.push(r.nested("topic", |r| {
            let name = r.string_v("name", flexible)?;
            let n = r.array_len_v("partitions", flexible)?;
            let mut partitions = Vec::new();
            for _ in 0..n {
                partitions.push(r.nested("partition", |r| {
                    let partition_index = r.i32("partition_index")?;
                    let committed_offset = r.i64("committed_offset")?;
                    let committed_leader_epoch = if version >= 6 { r.i32("committed_leader_epoch")? } else { -1 };
                    let committed_metadata = r.nullable_string_v("committed_metadata", flexible)?;
                    r.tagged_fields_v("tagged_fields", flexible)?;
                    Ok(CommitPartition {
                        partition_index,
                        committed_offset,
                        committed_leader_epoch,
                        committed_metadata,
                    })
                })?);
            }
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok(CommitTopic { name, partitions })
        })?);
    }
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(OffsetCommitRequest { group_id, generation_id, member_id, group_instance_id, topics })
}

/// A topic of the request and, per partition, `(partition_index, error)`.
type TopicOutcome<'a> = (&'a str, Vec<(i32, Option<ErrorCode>)>);

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (version, flexible) = (req.version, req.flexible);
    let q = decode(r, version, flexible)?;

    // Per-partition checks first; what passes is committed together, under one group check.
    // `None`: the partition's outcome is the group check's.
    let mut errors: Vec<TopicOutcome<'_>> = Vec::with_capacity(q.topics.len());
    let mut to_commit = Vec::new();
    for t in &q.topics {
        let mut topic_errors = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let metadata = p.committed_metadata.unwrap_or("");
            let error = if broker.log.partition(t.name, p.partition_index).is_none() {
                Some(ErrorCode::UnknownTopicOrPartition)
            } else if metadata.len() > MAX_METADATA_BYTES {
                Some(ErrorCode::OffsetMetadataTooLarge)
            } else {
                to_commit.push(OffsetToCommit {
                    topic: t.name,
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata,
                });
                None
            };
            topic_errors.push((p.partition_index, error));
        }
        errors.push((t.name, topic_errors));
    }
    let group_error = if q.group_id.is_empty() {
        ErrorCode::InvalidGroupId
    } else if to_commit.is_empty() {
        ErrorCode::None
    } else {
        broker.groups.commit(q.group_id, q.member_id, q.group_instance_id, q.generation_id, &to_commit)
    };

    if version >= 3 {
        w.i32("throttle_time_ms", 0);
    }
    w.array_v("topics", flexible, &errors, |w, (name, partitions)| {
        w.string_v("name", name, flexible);
        w.array_v("partitions", flexible, partitions, |w, (partition_index, error)| {
            w.i32("partition_index", *partition_index);
            w.i16("error_code", error.unwrap_or(group_error).code());
            w.tagged_fields_v(flexible);
        });
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    if version >= 3 {
        r.i32("throttle_time_ms")?;
    }
    r.array_v("topics", flexible, |r| {
        r.string_v("name", flexible)?;
        r.array_v("partitions", flexible, |r| {
            r.i32("partition_index")?;
            r.i16("error_code")?;
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
