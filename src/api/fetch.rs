//! Fetch (key 1), versions 4-16 — stages dh6, hn6, cm4, eg2, fd8, and every consumer.
//!
//! A consumer asks for records from given offsets of given partitions; the broker answers with
//! the stored record batches, byte for byte as they were produced except for the base offset,
//! which is the one the log gave each batch.
//!
//! ```text
//! request                                     response
//!   replica_id        INT32  (v0-14)            throttle_time_ms      INT32
//!   max_wait_ms       INT32                     error_code            INT16 (v7+)
//!   min_bytes         INT32                     session_id            INT32 (v7+)
//!   max_bytes         INT32                     responses             ARRAY
//!   isolation_level   INT8                        topic (v0-12) | topic_id (v13+)
//!   session_id        INT32  (v7+)                partitions          ARRAY
//!   session_epoch     INT32  (v7+)                  partition_index, error_code
//!   topics            ARRAY                         high_watermark, last_stable_offset, log_start_offset
//!     topic STRING (v0-12) | topic_id UUID (v13+)   aborted_transactions ARRAY (always empty here)
//!     partitions      ARRAY                         preferred_read_replica INT32 (v11+)
//!       partition, current_leader_epoch (v9+),      records       RECORDS (the stored batches)
//!       fetch_offset, last_fetched_epoch (v12+),
//!       log_start_offset (v5+), partition_max_bytes
//!   forgotten_topics_data (v7+), rack_id (v11+)
//! ```
//! From v12 on every string, array and RECORDS is compact and every struct ends in TAG_BUFFER.
//!
//! **Long-poll.** If fewer than `min_bytes` are available, the broker waits — up to `max_wait_ms` —
//! for a producer to append, instead of answering "nothing" and being asked again at once. The
//! wait is a `Condvar` wait: an idle consumer costs no CPU, and an append wakes it immediately.
//!
//! **Sessions** (KIP-227) let a consumer send only what changed. This broker answers every fetch in
//! full with `session_id` 0, which clients take as "no session" and keep sending full requests.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::log::Topic;
use crate::log::partition::{Partition, Slice, Waiter};
use crate::wire::{DecodeError, Reader, Uuid, Writer};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, PartialEq, Eq)]
pub struct FetchRequest<'a> {
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub isolation_level: i8,
    pub session_id: i32,
    pub session_epoch: i32,
    pub topics: Vec<FetchTopic<'a>>,
}

/// A topic is named by name before v13 and by id from v13.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRef<'a> {
    Name(&'a str),
    Id(Uuid),
}

#[derive(Debug, PartialEq, Eq)]
pub struct FetchTopic<'a> {
    pub topic: TopicRef<'a>,
    pub partitions: Vec<FetchPartition>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct FetchPartition {
    pub partition: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<FetchRequest<'a>, DecodeError> {
    if version <= 14 {
        r.i32("replica_id")?;
    }
    let max_wait_ms = r.i32("max_wait_ms")?;
    let min_bytes = r.i32("min_bytes")?;
    let max_bytes = r.i32("max_bytes")?;
    let isolation_level = r.i8("isolation_level")?;
    let (session_id, session_epoch) =
        if version >= 7 { (r.i32("session_id")?, r.i32("session_epoch")?) } else { (0, -1) };
    let n = r.array_len_v("topics", flexible)?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        topics.push(r.nested("topic", |r| {
            let topic = if version >= 13 {
                TopicRef::Id(r.uuid("topic_id")?)
            } else {
                TopicRef::Name(r.string_v("topic", flexible)?)
            };
            let n = r.array_len_v("partitions", flexible)?;
            let mut partitions = Vec::with_capacity(n);
            for _ in 0..n {
                partitions.push(r.nested("partition", |r| {
                    let partition = r.i32("partition")?;
                    if version >= 9 {
                        r.i32("current_leader_epoch")?;
                    }
                    let fetch_offset = r.i64("fetch_offset")?;
                    if version >= 12 {
                        r.i32("last_fetched_epoch")?;
                    }
                    if version >= 5 {
                        r.i64("log_start_offset")?;
                    }
                    let partition_max_bytes = r.i32("partition_max_bytes")?;
                    r.tagged_fields_v("tagged_fields", flexible)?;
                    Ok(FetchPartition { partition, fetch_offset, partition_max_bytes })
                })?);
            }
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok(FetchTopic { topic, partitions })
        })?);
    }
    if version >= 7 {
        // Forgotten topics only matter to incremental sessions, which this broker does not keep.
        let n = r.array_len_v("forgotten_topics_data", flexible)?;
        for _ in 0..n {
            r.nested("forgotten_topic", |r| {
                if version >= 13 {
                    r.uuid("topic_id").map(drop)?
                } else {
                    r.string_v("topic", flexible).map(drop)?
                }
                let n = r.array_len_v("partitions", flexible)?;
                for _ in 0..n {
                    r.i32("partition")?;
                }
                r.tagged_fields_v("tagged_fields", flexible)
            })?;
        }
    }
    if version >= 11 {
        r.string_v("rack_id", flexible)?;
    }
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(FetchRequest { max_wait_ms, min_bytes, max_bytes, isolation_level, session_id, session_epoch, topics })
}

/// The answer for one partition: data, or an error.
struct PartitionAnswer {
    index: i32,
    result: Result<Slice, ErrorCode>,
}

struct TopicAnswer<'a> {
    topic: TopicRef<'a>,
    partitions: Vec<PartitionAnswer>,
}

pub fn handle(broker: &Broker, req: &Request<'_>, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let request = decode(r, req.version, req.flexible)?;
    if request.session_id != 0 {
        // An incremental fetch for a session we never created: the client falls back to full fetches.
        encode_session_error(w, req, ErrorCode::FetchSessionIdNotFound);
        return Ok(Reply::Send);
    }
    // Resolve topics and partitions once; they do not change while we wait.
    let resolved: Vec<(Option<Arc<Topic>>, &FetchTopic<'_>)> = request
        .topics
        .iter()
        .map(|t| {
            let topic = match &t.topic {
                TopicRef::Name(name) => broker.log.topic(name),
                TopicRef::Id(id) => broker.log.topic_by_id(*id),
            };
            (topic, t)
        })
        .collect();

    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let waiter = Arc::new(Waiter::default());
    let answers = loop {
        // Register before reading, so an append between the read and the wait still wakes us.
        // Again on every round: an append that woke us also took us off that partition's list.
        let will_wait = request.min_bytes > 0 && Instant::now() < deadline;
        if will_wait {
            for (topic, t) in &resolved {
                for p in &t.partitions {
                    if let Some(partition) = topic.as_ref().and_then(|topic| topic.partition(p.partition)) {
                        partition.add_waiter(&waiter);
                    }
                }
            }
        }
        let (answers, bytes, any_error) = read_all(&resolved, &request);
        if !will_wait || any_error || bytes >= request.min_bytes.max(0) as usize {
            break answers;
        }
        if !waiter.wait_until(deadline) {
            // Timed out: answer with whatever there is now.
            break read_all(&resolved, &request).0;
        }
    };
    encode(w, req, &answers);
    Ok(Reply::Send)
}

/// Reads every requested partition, honouring `partition_max_bytes` and the response's
/// `max_bytes`; the first batch found is returned even if it is larger than both (KIP-74), or a
/// consumer could never get past it.
fn read_all<'a>(
    resolved: &[(Option<Arc<Topic>>, &FetchTopic<'a>)],
    request: &FetchRequest<'a>,
) -> (Vec<TopicAnswer<'a>>, usize, bool) {
    let mut remaining = request.max_bytes.max(0) as usize;
    let mut total = 0;
    let mut any_error = false;
    let mut answers = Vec::with_capacity(resolved.len());
    for (topic, t) in resolved {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let result = match topic {
                None if matches!(t.topic, TopicRef::Id(_)) => Err(ErrorCode::UnknownTopicId),
                None => Err(ErrorCode::UnknownTopicOrPartition),
                Some(topic) => match topic.partition(p.partition) {
                    None => Err(ErrorCode::UnknownTopicOrPartition),
                    Some(partition) => read_partition(partition, p, remaining, total == 0),
                },
            };
            match &result {
                Ok(slice) => {
                    total += slice.bytes;
                    remaining = remaining.saturating_sub(slice.bytes);
                    any_error |= slice.error != ErrorCode::None;
                }
                Err(_) => any_error = true,
            }
            partitions.push(PartitionAnswer { index: p.partition, result });
        }
        answers.push(TopicAnswer { topic: t.topic.clone(), partitions });
    }
    (answers, total, any_error)
}

fn read_partition(
    partition: &Partition,
    p: &FetchPartition,
    remaining: usize,
    first: bool,
) -> Result<Slice, ErrorCode> {
    let limit = (p.partition_max_bytes.max(0) as usize).min(remaining);
    Ok(partition.read(p.fetch_offset, limit, first))
}

fn encode_session_error(w: &mut Writer, req: &Request<'_>, error: ErrorCode) {
    w.i32(0); // throttle_time_ms
    w.i16(error.code());
    w.i32(0); // session_id
    w.array_len_v(0, req.flexible);
    w.tagged_fields_v(req.flexible);
}

fn encode(w: &mut Writer, req: &Request<'_>, answers: &[TopicAnswer<'_>]) {
    let (version, flexible) = (req.version, req.flexible);
    w.i32(0); // throttle_time_ms
    if version >= 7 {
        w.i16(ErrorCode::None.code());
        w.i32(0); // session_id: no session, every fetch is a full one
    }
    w.array_len_v(answers.len(), flexible);
    for t in answers {
        match &t.topic {
            TopicRef::Name(name) => w.string_v(name, flexible),
            TopicRef::Id(id) => w.uuid(*id),
        }
        w.array_len_v(t.partitions.len(), flexible);
        for p in &t.partitions {
            w.i32(p.index);
            match &p.result {
                Ok(slice) => {
                    w.i16(slice.error.code());
                    w.i64(slice.high_watermark);
                    w.i64(slice.high_watermark); // last_stable_offset: no open transactions
                    if version >= 5 {
                        w.i64(slice.log_start_offset);
                    }
                }
                Err(code) => {
                    w.i16(code.code());
                    w.i64(-1);
                    w.i64(-1);
                    if version >= 5 {
                        w.i64(-1);
                    }
                }
            }
            w.array_len_v(0, flexible); // aborted_transactions
            if version >= 11 {
                w.i32(-1); // preferred_read_replica: read from the leader, i.e. here
            }
            match &p.result {
                Ok(slice) => {
                    w.records_len_v(slice.bytes, flexible);
                    // Each batch: the offset the log gave it, then the producer's bytes, unchanged.
                    for batch in &slice.batches {
                        w.i64(batch.base_offset);
                        w.shared(batch.after_base_offset());
                    }
                }
                Err(_) => w.records_len_v(0, flexible),
            }
            w.tagged_fields_v(flexible);
        }
        w.tagged_fields_v(flexible);
    }
    w.tagged_fields_v(flexible);
}
