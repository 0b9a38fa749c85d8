//! Fetch (key 1) — stages dh6, hn6, cm4, eg2, fd8 (version 16), and every consumer (versions
//! 4-16, from stage clients on).
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
/*> dh6 < transactions
//!     topic STRING (v0-12) | topic_id UUID (v13+)   aborted_transactions ARRAY (always empty here)
*/
//!     topic STRING (v0-12) | topic_id UUID (v13+)   aborted_transactions ARRAY (read_committed) //> transactions
//!     partitions      ARRAY                         preferred_read_replica INT32 (v11+)
//!       partition, current_leader_epoch (v9+),      records       RECORDS (the stored batches)
//!       fetch_offset, last_fetched_epoch (v12+),
//!       log_start_offset (v5+), partition_max_bytes
//!   forgotten_topics_data (v7+), rack_id (v11+)
//! ```
//! From v12 on every string, array and RECORDS is compact and every struct ends in TAG_BUFFER.
//> clients
//!
//! **Long-poll.** If fewer than `min_bytes` are available, the broker waits — up to `max_wait_ms` —
//! for a producer to append, instead of answering "nothing" and being asked again at once. The
//! wait is a `Condvar` wait: an idle consumer costs no CPU, and an append wakes it immediately.
//!
//! **Sessions** (KIP-227) let a consumer send only what changed. This broker answers every fetch in
//! full with `session_id` 0, which clients take as "no session" and keep sending full requests.
//< clients

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::log::Topic;
use crate::log::partition::Slice;
use crate::wire::{DecodeError, Reader, Uuid, Writer};
//> clients
use crate::log::partition::Waiter;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
//< clients

pub struct FetchRequest {
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub isolation_level: i8,
    pub session_id: i32,
    pub session_epoch: i32,
    pub topics: Vec<FetchTopic>,
}

/// How a request names a topic: by id.
//> clients
/// Versions before 13 name it by name.
//< clients
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum TopicRef {
    Id(Uuid),
    Name(String), //> clients
}

pub struct FetchTopic {
    pub topic: TopicRef,
    pub partitions: Vec<FetchPartition>,
}

pub struct FetchPartition {
    pub partition: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
}

pub fn decode(
    r: &mut Reader<'_>,
    version: i16, //> clients
    flexible: bool,
) -> Result<FetchRequest, DecodeError> {
    //> clients
    if version <= 14 {
        r.i32("replica_id")?;
    }
    //< clients
    let max_wait_ms = r.i32("max_wait_ms")?;
    let min_bytes = r.i32("min_bytes")?;
    let max_bytes = r.i32("max_bytes")?;
    let isolation_level = r.i8("isolation_level")?;
    /*> dh6 < clients
    let (session_id, session_epoch) = (r.i32("session_id")?, r.i32("session_epoch")?);
    */
    //> clients
    let (session_id, session_epoch) =
        if version >= 7 { (r.i32("session_id")?, r.i32("session_epoch")?) } else { (0, -1) };
    //< clients
    let topics = r.array_v("topics", flexible, |r| {
        /*> dh6 < clients
        let topic = read_topic(r)?;
        */
        let topic = read_topic(r, version, flexible)?; //> clients
        let partitions = r.array_v("partitions", flexible, |r| {
            let partition = r.i32("partition")?;
            //> clients {}
            if version >= 9 {
                r.i32("current_leader_epoch")?;
            }
            let fetch_offset = r.i64("fetch_offset")?;
            //> clients {}
            if version >= 12 {
                r.i32("last_fetched_epoch")?;
            }
            //> clients {}
            if version >= 5 {
                r.i64("log_start_offset")?;
            }
            let partition_max_bytes = r.i32("partition_max_bytes")?;
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok(FetchPartition { partition, fetch_offset, partition_max_bytes })
        })?;
        r.tagged_fields_v("tagged_fields", flexible)?;
        Ok(FetchTopic { topic, partitions })
    })?;
    // Forgotten topics only matter to incremental sessions, which this broker does not keep.
    //> clients {}
    if version >= 7 {
        r.array_v("forgotten_topics_data", flexible, |r| {
            /*> dh6 < clients
            read_topic(r)?;
            */
            read_topic(r, version, flexible)?; //> clients
            r.array_v("partitions", flexible, |r| r.i32("partition"))?;
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
    }
    //> clients {}
    if version >= 11 {
        r.string_v("rack_id", flexible)?;
    }
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(FetchRequest { max_wait_ms, min_bytes, max_bytes, isolation_level, session_id, session_epoch, topics })
}

/// A topic's id (or, before v13, its name).
fn read_topic(
    r: &mut Reader<'_>,
    version: i16,   //> clients
    flexible: bool, //> clients
) -> Result<TopicRef, DecodeError> {
    //> clients
    if version < 13 {
        return Ok(TopicRef::Name(r.string_v("topic", flexible)?.to_string()));
    }
    //< clients
    Ok(TopicRef::Id(r.uuid("topic_id")?))
}

/// The answer for one partition: data, or an error.
struct PartitionAnswer {
    index: i32,
    result: Result<Slice, ErrorCode>,
}

struct TopicAnswer {
    topic: TopicRef,
    partitions: Vec<PartitionAnswer>,
}

//> clients
/// The longest a fetch waits for data (`max_wait_ms` is capped to it): a waiting fetch holds a
/// thread, and a client that asked for days and hung up must not keep it that long. Clients ask
/// for half a second.
const MAX_WAIT_MS: i32 = 30_000;
//< clients

/// A requested topic, and the log's topic of that name or id.
/*> dh6 < clients
type Resolved<'r> = (Option<&'r Topic>, &'r FetchTopic);
*/
type Resolved<'r> = (Option<Arc<Topic>>, &'r FetchTopic); //> clients

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    /*> dh6 < clients
    let request = decode(r, req.flexible)?;
    */
    let mut request = decode(r, req.version, req.flexible)?; //> clients

    //> clients
    // A partition named twice is read and answered once, as in Kafka: a request must not be able
    // to multiply its response. Nor may it ask for more than `fetch.max.bytes` of records.
    let mut seen = HashSet::new();
    for t in &mut request.topics {
        t.partitions.retain(|p| seen.insert((t.topic.clone(), p.partition)));
    }
    request.topics.retain(|t| !t.partitions.is_empty());
    request.max_bytes = request.max_bytes.min(broker.config.fetch_max_bytes);
    if request.session_id != 0 {
        // An incremental fetch for a session we never created: the client falls back to full fetches.
        encode_session_error(w, req, ErrorCode::FetchSessionIdNotFound);
        return Ok(Reply::Send);
    }
    //< clients
    // Topics are looked up once: they do not change while a fetch waits.
    let resolved: Vec<Resolved<'_>> = request
        .topics
        .iter()
        .map(|t| match &t.topic {
            TopicRef::Id(id) => (broker.log.topic_by_id(*id), t),
            TopicRef::Name(name) => (broker.log.topic(name), t), //> clients
        })
        .collect();
    /*> dh6 < clients
    let answers = read_all(&resolved, &request);
    */
    //> clients
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.clamp(0, MAX_WAIT_MS) as u64);
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
        let answers = read_all(&resolved, &request);
        let results = || answers.iter().flat_map(|t| &t.partitions).map(|p| &p.result);
        let bytes: usize = results().map(|r| r.as_ref().map_or(0, |slice| slice.bytes)).sum();
        let any_error = results().any(|r| r.as_ref().map_or(true, |slice| slice.error != ErrorCode::None));
        if !will_wait || any_error || bytes >= request.min_bytes.max(0) as usize {
            break answers;
        }
        // A second at a time, and not at all for a client that has hung up.
        if req.client.is_some_and(crate::limits::hung_up) {
            return Ok(Reply::Close("the client hung up while its fetch waited".to_string()));
        }
        if !waiter.wait_until(deadline.min(Instant::now() + Duration::from_secs(1))) && Instant::now() >= deadline {
            // Timed out: answer with whatever there is now.
            break read_all(&resolved, &request);
        }
    };
    //< clients
    encode(w, req, &answers);
    Ok(Reply::Send)
}

//> transactions
/// `isolation_level` 1: serve only what committed transactions wrote (up to the last stable
/// offset), and name the aborted transactions among it.
const READ_COMMITTED: i8 = 1;

//< transactions
/// Reads every requested partition.
//> fd8
/// `partition_max_bytes` and the response's `max_bytes` are honoured, but the first batch found
/// is returned even if it is larger than both (KIP-74), or a consumer could never get past it.
//< fd8
fn read_all(resolved: &[Resolved<'_>], request: &FetchRequest) -> Vec<TopicAnswer> {
    //> fd8
    let mut remaining = request.max_bytes.max(0) as usize;
    let mut total = 0;
    //< fd8
    /*> dh6 < fd8
    let _ = request;
    */
    let mut answers = Vec::with_capacity(resolved.len());
    for (topic, t) in resolved {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let result = match topic {
                None => match t.topic {
                    TopicRef::Id(_) => Err(ErrorCode::UnknownTopicId),
                    TopicRef::Name(_) => Err(ErrorCode::UnknownTopicOrPartition), //> clients
                },
                Some(topic) => match topic.partition(p.partition) {
                    None => Err(ErrorCode::UnknownTopicOrPartition),
                    /*> dh6 < eg2
                    Some(partition) => Ok(partition.read()),
                    */
                    /*> eg2 < fd8
                    Some(partition) => Ok(partition.read(p.fetch_offset)),
                    */
                    //> fd8
                    Some(partition) => {
                        let limit = (p.partition_max_bytes.max(0) as usize).min(remaining);
                        /*> fd8 < transactions
                        let slice = partition.read(p.fetch_offset, limit, total == 0);
                        */
                        //> transactions
                        let read_committed = request.isolation_level == READ_COMMITTED;
                        let slice = partition.read(p.fetch_offset, limit, total == 0, read_committed);
                        //< transactions
                        total += slice.bytes;
                        remaining = remaining.saturating_sub(slice.bytes);
                        Ok(slice)
                    } //< fd8
                },
            };
            partitions.push(PartitionAnswer { index: p.partition, result });
        }
        answers.push(TopicAnswer { topic: t.topic.clone(), partitions });
    }
    answers
}
//> clients

fn encode_session_error(w: &mut Writer, req: &Request, error: ErrorCode) {
    w.i32("throttle_time_ms", 0);
    w.i16("error_code", error.code());
    w.i32("session_id", 0);
    w.array_len_v("responses", 0, req.flexible);
    w.tagged_fields_v(req.flexible);
}
//< clients

fn encode(w: &mut Writer, req: &Request, answers: &[TopicAnswer]) {
    let flexible = req.flexible;
    let version = req.version; //> clients
    w.i32("throttle_time_ms", 0);

    //> clients {}
    if version >= 7 {
        w.i16("error_code", ErrorCode::None.code());
        w.i32("session_id", 0); // no session: every fetch is a full one
    }
    w.array_v("responses", flexible, answers, |w, t| {
        match &t.topic {
            TopicRef::Id(id) => w.uuid("topic_id", *id),
            TopicRef::Name(name) => w.string_v("topic", name, flexible), //> clients
        }
        w.array_v("partitions", flexible, &t.partitions, |w, p| {
            w.i32("partition_index", p.index);
            match &p.result {
                Ok(slice) => {
                    w.i16("error_code", slice.error.code()); //> eg2

                    /*> dh6 < eg2
                    w.i16("error_code", ErrorCode::None.code());
                    */
                    w.i64("high_watermark", slice.high_watermark);
                    /*> dh6 < transactions
                    w.i64("last_stable_offset", slice.high_watermark); // no open transactions
                    */
                    w.i64("last_stable_offset", slice.last_stable_offset); //> transactions

                    //> clients {}
                    if version >= 5 {
                        w.i64("log_start_offset", slice.log_start_offset);
                    }
                }
                Err(code) => {
                    w.i16("error_code", code.code());
                    w.i64("high_watermark", -1);
                    w.i64("last_stable_offset", -1);
                    //> clients {}
                    if version >= 5 {
                        w.i64("log_start_offset", -1);
                    }
                }
            }
            /*> dh6 < transactions
            w.array_len_v("aborted_transactions", 0, flexible);
            */
            //> transactions
            let aborted = p.result.as_ref().map_or(&[][..], |slice| &slice.aborted[..]);
            w.array_v("aborted_transactions", flexible, aborted, |w, a| {
                w.i64("producer_id", a.producer_id);
                w.i64("first_offset", a.first_offset);
                w.tagged_fields_v(flexible);
            });
            //< transactions

            //> clients {}
            if version >= 11 {
                w.i32("preferred_read_replica", -1); // read from the leader, i.e. here
            }
            match &p.result {
                //> eg2
                Ok(slice) => w.records_v("records", flexible, slice.bytes, |w| {
                    //> clients
                    // Each batch: the offset the log gave it, then the producer's bytes, unchanged.
                    for batch in &slice.batches {
                        w.raw(&batch.base_offset.to_be_bytes());
                        w.shared(batch.after_base_offset());
                    }
                    //< clients
                    /*> eg2 < clients
                    // Each batch as the log holds it, base offset included.
                    slice.batches.iter().for_each(|batch| w.raw(&batch.bytes));
                    */
                }),
                //< eg2
                /*> dh6 < eg2
                // The records themselves arrive in stage eg2; until then, none.
                Ok(_) => w.records_v("records", flexible, 0, |_| {}),
                */
                Err(_) => w.records_v("records", flexible, 0, |_| {}),
            }
            w.tagged_fields_v(flexible);
        });
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
}
//> clients

/// Reads a response back (for `mini-kafka decode`): the fields `encode` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    if version >= 7 {
        r.i16("error_code")?;
        r.i32("session_id")?;
    }
    r.array_v("responses", flexible, |r| {
        if version >= 13 {
            r.uuid("topic_id")?;
        } else {
            r.string_v("topic", flexible)?;
        }
        r.array_v("partitions", flexible, |r| {
            r.i32("partition_index")?;
            r.i16("error_code")?;
            r.i64("high_watermark")?;
            r.i64("last_stable_offset")?;
            if version >= 5 {
                r.i64("log_start_offset")?;
            }
            r.array_v("aborted_transactions", flexible, |r| {
                r.i64("producer_id")?;
                r.i64("first_offset")?;
                r.tagged_fields_v("tagged_fields", flexible)
            })?;
            if version >= 11 {
                r.i32("preferred_read_replica")?;
            }
            r.nullable_bytes_v("records", flexible)?;
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
//< clients
