//! TxnOffsetCommit (key 28), versions 0-3 — a consumer group's offsets, committed as part of a
//! transaction (stage transactions): the "consume" half of consume–transform–produce. The
//! offsets are held by the transaction and become the group's only if it commits; an abort
//! drops them, and the group's consumers read the same records again.
//!
//! ```text
//! request                                       response
//!   transactional_id    STRING                    throttle_time_ms  INT32
//!   group_id            STRING                    topics            ARRAY
//!   producer_id         INT64                       name            STRING
//!   producer_epoch      INT16                       partitions      ARRAY
//!   generation_id       INT32 (v3+)                   partition_index  INT32
//!   member_id           STRING (v3+)                  error_code       INT16
//!   group_instance_id   NULLABLE_STRING (v3+)
//!   topics              ARRAY
//!     name              STRING
//!     partitions        ARRAY
//!       partition_index         INT32
//!       committed_offset        INT64
//!       committed_leader_epoch  INT32 (v2+)
//!       committed_metadata      NULLABLE_STRING
//! ```
//! Flexible from v3. From v3 the consumer's member id and generation come along (KIP-447), so a
//! producer whose consumer lost its partitions in a rebalance cannot commit for them.

use super::offset_commit::{CommitPartition, CommitTopic};
use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::group::MAX_METADATA_BYTES;
use crate::group::state::Committed;
use crate::log::retention::now_ms;
use crate::txn::for_version;
use crate::wire::{DecodeError, Reader, Writer};

#[derive(Debug, PartialEq, Eq)]
pub struct TxnOffsetCommitRequest<'a> {
    pub transactional_id: &'a str,
    pub group_id: &'a str,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub generation_id: i32,
    pub member_id: &'a str,
    pub group_instance_id: Option<&'a str>,
    pub topics: Vec<CommitTopic<'a>>,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<TxnOffsetCommitRequest<'a>, DecodeError> {
    let transactional_id = r.string_v("transactional_id", flexible)?;
    let group_id = r.string_v("group_id", flexible)?;
    let (producer_id, producer_epoch) = (r.i64("producer_id")?, r.i16("producer_epoch")?);
    let (generation_id, member_id, group_instance_id) = if version >= 3 {
        (
            r.i32("generation_id")?,
            r.string_v("member_id", flexible)?,
            r.nullable_string_v("group_instance_id", flexible)?,
        )
    } else {
        (-1, "", None)
    };
    let topics = r.array_v("topics", flexible, |r| {
        let name = r.string_v("name", flexible)?;
        let partitions = r.array_v("partitions", flexible, |r| {
            let partition_index = r.i32("partition_index")?;
            let committed_offset = r.i64("committed_offset")?;
            let committed_leader_epoch = if version >= 2 { r.i32("committed_leader_epoch")? } else { -1 };
            let committed_metadata = r.nullable_string_v("committed_metadata", flexible)?;
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok(CommitPartition { partition_index, committed_offset, committed_leader_epoch, committed_metadata })
        })?;
        r.tagged_fields_v("tagged_fields", flexible)?;
        Ok(CommitTopic { name, partitions })
    })?;
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(TxnOffsetCommitRequest {
        transactional_id,
        group_id,
        producer_id,
        producer_epoch,
        generation_id,
        member_id,
        group_instance_id,
        topics,
    })
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (version, flexible) = (req.version, req.flexible);
    let q = decode(r, version, flexible)?;
    // Per-partition checks first (as OffsetCommit's); what passes goes to the transaction together.
    let mut offsets = Vec::new();
    let checked: Vec<Vec<Option<ErrorCode>>> = q
        .topics
        .iter()
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| {
                    let metadata = p.committed_metadata.unwrap_or("");
                    if broker.log.partition(t.name, p.partition_index).is_none() {
                        return Some(ErrorCode::UnknownTopicOrPartition);
                    }
                    if metadata.len() > MAX_METADATA_BYTES {
                        return Some(ErrorCode::OffsetMetadataTooLarge);
                    }
                    let committed = Committed {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: metadata.to_string(),
                        commit_timestamp_ms: now_ms(),
                    };
                    offsets.push((t.name.to_string(), p.partition_index, committed));
                    None
                })
                .collect()
        })
        .collect();
    let group_error = if q.group_id.is_empty() {
        ErrorCode::InvalidGroupId
    } else {
        let producer = (q.producer_id, q.producer_epoch);
        let member = (q.member_id, q.group_instance_id, q.generation_id);
        broker.transactions.commit_offsets(broker, q.transactional_id, producer, q.group_id, member, offsets)
    };
    let group_error = for_version(group_error, version, 2);
    w.i32("throttle_time_ms", 0);
    let answers: Vec<_> = q.topics.iter().zip(&checked).collect();
    w.array_v("topics", flexible, &answers, |w, (t, errors)| {
        w.string_v("name", t.name, flexible);
        let partitions: Vec<_> = t.partitions.iter().zip(errors.iter()).collect();
        w.array_v("partitions", flexible, &partitions, |w, (p, error)| {
            w.i32("partition_index", p.partition_index);
            w.i16("error_code", error.unwrap_or(group_error).code());
            w.tagged_fields_v(flexible);
        });
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): OffsetCommit's v3+ layout, field for field.
pub fn decode_response(r: &mut Reader<'_>, _version: i16, flexible: bool) -> Result<(), DecodeError> {
    super::offset_commit::decode_response(r, 3, flexible)
}
