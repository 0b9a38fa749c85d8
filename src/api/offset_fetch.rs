//! OffsetFetch (key 9), versions 1-8 — "where did the group stop?"
//!
//! A consumer that gets partitions asks for the group's committed offsets and starts reading
//! there. A partition without a commit answers offset -1 (the consumer then applies its
//! `auto.offset.reset`); null `topics` (v2+) asks for every partition the group committed.
//!
//! ```text
//! request v1-7                                  response v1-7
//!   group_id            STRING                    throttle_time_ms  INT32 (v3+)
//!   topics              ARRAY (NULLABLE v2+)      topics            ARRAY
//!     name              STRING                      name            STRING
//!     partition_indexes ARRAY of INT32              partitions      ARRAY
//!   require_stable      BOOLEAN (v7+)                 partition_index        INT32
//!                                                     committed_offset       INT64 (-1: none)
//! request v8: many groups at once                     committed_leader_epoch INT32 (v5+)
//!   groups              ARRAY                         metadata               NULLABLE_STRING
//!     group_id          STRING                        error_code             INT16
//!     topics            NULLABLE ARRAY            error_code        INT16 (v2+)
//!       name, partition_indexes
//!   require_stable      BOOLEAN                 response v8: groups ARRAY of
//!                                                 (group_id, topics as above, error_code)
//! ```
/*> groups < transactions
//! v6+ is flexible. `require_stable` asks to wait for pending transactional commits; there are
//! no transactions here, so every offset is stable.
*/
//> transactions
//! v6+ is flexible. `require_stable` (stage transactions): a partition whose offset an open
//! transaction is about to commit answers UNSTABLE_OFFSET_COMMIT, and the client asks again.
//< transactions

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::group::FetchedTopic;
use crate::wire::{DecodeError, Reader, Writer};
//> transactions
use std::collections::HashSet;
//< transactions

#[derive(Debug, PartialEq, Eq)]
pub struct OffsetFetchRequest<'a> {
    /// One entry before v8.
    pub groups: Vec<FetchGroup<'a>>,
    pub require_stable: bool,
}

/// `(topic, partition_indexes)` of one request.
pub type RequestedTopics<'a> = Vec<(&'a str, Vec<i32>)>;

#[derive(Debug, PartialEq, Eq)]
pub struct FetchGroup<'a> {
    pub group_id: &'a str,
    /// `None`: every committed partition.
    pub topics: Option<RequestedTopics<'a>>,
}

fn decode_topics<'a>(
    r: &mut Reader<'a>,
    version: i16,
    flexible: bool,
) -> Result<Option<RequestedTopics<'a>>, DecodeError> {
    let Some(n) = r.nullable_array_len_v("topics", flexible)? else {
        // Null means "all" from v2; v1 had no null, so read it as empty.
        return Ok(if version >= 2 { None } else { Some(Vec::new()) });
    };
    let mut topics = Vec::new();
    for _ in 0..n {
        topics.push(r.nested("topic", |r| {
            let name = r.string_v("name", flexible)?;
            let n = r.array_len_v("partition_indexes", flexible)?;
            let mut partitions = Vec::new();
            for _ in 0..n {
                partitions.push(r.i32("partition_index")?);
            }
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok((name, partitions))
        })?);
    }
    Ok(Some(topics))
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<OffsetFetchRequest<'a>, DecodeError> {
    let mut groups = Vec::new();
    if version <= 7 {
        let group_id = r.string_v("group_id", flexible)?;
        let topics = decode_topics(r, version, flexible)?;
        groups.push(FetchGroup { group_id, topics });
    } else {
        let n = r.array_len_v("groups", flexible)?;
        for _ in 0..n {
            groups.push(r.nested("group", |r| {
                let group_id = r.string_v("group_id", flexible)?;
                let topics = decode_topics(r, version, flexible)?;
                r.tagged_fields_v("tagged_fields", flexible)?;
                Ok(FetchGroup { group_id, topics })
            })?);
        }
    }
    let require_stable = if version >= 7 { r.bool("require_stable")? } else { false };
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(OffsetFetchRequest { groups, require_stable })
}

/// One group's answer: a group-level error and the topics.
fn fetch(broker: &Broker, g: &FetchGroup<'_>) -> (ErrorCode, Vec<FetchedTopic>) {
    if g.group_id.is_empty() {
        // Still list the requested partitions, each with the error (v1 has no top-level code).
        let topics =
            g.topics.iter().flatten().map(|(t, ps)| (t.to_string(), ps.iter().map(|p| (*p, None)).collect())).collect();
        return (ErrorCode::InvalidGroupId, topics);
    }
    (ErrorCode::None, broker.groups.fetch_offsets(g.group_id, g.topics.as_deref()))
}

//> transactions
fn unstable_partitions(broker: &Broker, group_id: &str, require_stable: bool) -> HashSet<(String, i32)> {
    if require_stable { broker.transactions.pending_offsets(group_id) } else { HashSet::new() }
}

//< transactions
/*> groups < transactions
fn encode_topics(w: &mut Writer, version: i16, flexible: bool, error: ErrorCode, topics: &[FetchedTopic]) {
*/
//> transactions
/// `unstable`: the partitions an open transaction holds offsets for (with `require_stable`).
fn encode_topics(
    w: &mut Writer,
    (version, flexible): (i16, bool),
    error: ErrorCode,
    topics: &[FetchedTopic],
    unstable: &HashSet<(String, i32)>,
) {
    //< transactions
    w.array_v("topics", flexible, topics, |w, (name, partitions)| {
        w.string_v("name", name, flexible);
        w.array_v("partitions", flexible, partitions, |w, (index, committed)| {
            //> transactions
            let (error, committed) = if unstable.contains(&(name.clone(), *index)) {
                (ErrorCode::UnstableOffsetCommit, &None)
            } else {
                (error, committed)
            };
            //< transactions
            w.i32("partition_index", *index);
            w.i64("committed_offset", committed.as_ref().map_or(-1, |c| c.offset));
            if version >= 5 {
                w.i32("committed_leader_epoch", committed.as_ref().map_or(-1, |c| c.leader_epoch));
            }
            // Kafka answers "" (not null) when there is no metadata.
            w.nullable_string_v("metadata", Some(committed.as_ref().map_or("", |c| c.metadata.as_str())), flexible);
            w.i16("error_code", error.code());
            w.tagged_fields_v(flexible);
        });
        w.tagged_fields_v(flexible);
    });
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (version, flexible) = (req.version, req.flexible);
    let mut q = decode(r, version, flexible)?;
    // A group named twice is answered once: a request must not be able to multiply its response.
    let mut seen = std::collections::HashSet::new();
    q.groups.retain(|g| seen.insert(g.group_id));
    if version >= 3 {
        w.i32("throttle_time_ms", 0);
    }
    if version <= 7 {
        let (error, topics) = q.groups.first().map(|g| fetch(broker, g)).unwrap_or((ErrorCode::None, Vec::new()));
        /*> groups < transactions
        encode_topics(w, version, flexible, error, &topics);
        */
        //> transactions
        let unstable =
            q.groups.first().map(|g| unstable_partitions(broker, g.group_id, q.require_stable)).unwrap_or_default();
        encode_topics(w, (version, flexible), error, &topics, &unstable);
        //< transactions
        if version >= 2 {
            w.i16("error_code", error.code());
        }
    } else {
        w.array_v("groups", flexible, &q.groups, |w, g| {
            let (error, topics) = fetch(broker, g);
            w.string_v("group_id", g.group_id, flexible);
            /*> groups < transactions
            encode_topics(w, version, flexible, error, &topics);
            */
            //> transactions
            let unstable = unstable_partitions(broker, g.group_id, q.require_stable);
            encode_topics(w, (version, flexible), error, &topics, &unstable);
            //< transactions
            w.i16("error_code", error.code());
            w.tagged_fields_v(flexible);
        });
    }
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads the `topics` array that `encode_topics` writes.
fn decode_response_topics(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.array_v("topics", flexible, |r| {
        r.string_v("name", flexible)?;
        r.array_v("partitions", flexible, |r| {
            r.i32("partition_index")?;
            r.i64("committed_offset")?;
            if version >= 5 {
                r.i32("committed_leader_epoch")?;
            }
            r.nullable_string_v("metadata", flexible)?;
            r.i16("error_code")?;
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    Ok(())
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    if version >= 3 {
        r.i32("throttle_time_ms")?;
    }
    if version <= 7 {
        decode_response_topics(r, version, flexible)?;
        if version >= 2 {
            r.i16("error_code")?;
        }
    } else {
        r.array_v("groups", flexible, |r| {
            r.string_v("group_id", flexible)?;
            decode_response_topics(r, version, flexible)?;
            r.i16("error_code")?;
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
    }
    r.tagged_fields_v("tagged_fields", flexible)
}
