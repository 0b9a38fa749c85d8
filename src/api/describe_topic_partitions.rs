//! DescribeTopicPartitions (key 75), version 0 — stages vt6, ea7, ku4, wq2.
//!
//! "Tell me about these topics and their partitions", answered from the cluster metadata.
//! Always flexible (it was added in Kafka 3.8, long after KIP-482).
//!
//! ```text
//! request                                       response (header v1)
//!   topics                 COMPACT_ARRAY          throttle_time_ms          INT32
//!     name                 COMPACT_STRING         topics                    COMPACT_ARRAY, sorted by name
//!     TAG_BUFFER                                    error_code              INT16   (3 = unknown topic)
//!   response_partition_limit INT32                  name                    COMPACT_NULLABLE_STRING
//!   cursor                 nullable struct          topic_id                UUID    (zeros if unknown)
//!     (ff = null, else 01 then:)                    is_internal             BOOLEAN
//!     topic_name           COMPACT_STRING           partitions              COMPACT_ARRAY
//!     partition_index      INT32                      error_code, partition_index, leader_id,
//!     TAG_BUFFER                                      leader_epoch          INT16, INT32 x3
//!   TAG_BUFFER                                        replica_nodes, isr_nodes, eligible_leader_replicas,
//!                                                     last_known_elr, offline_replicas  COMPACT_ARRAY[INT32]
//!                                                     TAG_BUFFER
//!                                                   topic_authorized_operations INT32
//!                                                   TAG_BUFFER
//!                                                 next_cursor               nullable struct (as in the request)
//!                                                 TAG_BUFFER
//! ```
//> clients
//!
//! Pagination: at most `response_partition_limit` partitions are returned; if more remain,
//! `next_cursor` names the topic and partition to continue from, and the client asks again with it.
//< clients

use super::{Reply, Request};
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Uuid, Writer};
//> ea7
use crate::broker::Broker;
use crate::log::Topic;
use std::ops::Range;
//< ea7
//> clients
use std::sync::Arc;
//< clients

/// Kafka's value for "every operation a topic supports" (READ, WRITE, CREATE, DELETE, ALTER,
/// DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS), as a bit field.
pub const ALL_TOPIC_OPERATIONS: i32 = 0x0df8;

pub struct DescribeTopicPartitionsRequest<'a> {
    pub topics: Vec<&'a str>,
    pub response_partition_limit: i32,
    pub cursor: Option<Cursor>,
}

/// Where a paginated answer continues.
pub struct Cursor {
    pub topic_name: String,
    pub partition_index: i32,
}

pub fn decode<'a>(r: &mut Reader<'a>) -> Result<DescribeTopicPartitionsRequest<'a>, DecodeError> {
    let topics = r.array_v("topics", true, |r| {
        let name = r.string_v("name", true)?;
        r.tagged_fields("tagged_fields")?;
        Ok(name)
    })?;
    let response_partition_limit = r.i32("response_partition_limit")?;
    // A nullable struct: -1 for null, 1 and then its fields otherwise.
    let cursor = if r.i8("cursor")? < 0 {
        None
    } else {
        let topic_name = r.string_v("topic_name", true)?.to_string();
        let partition_index = r.i32("partition_index")?;
        r.tagged_fields("tagged_fields")?;
        Some(Cursor { topic_name, partition_index })
    };
    r.tagged_fields("tagged_fields")?;
    Ok(DescribeTopicPartitionsRequest { topics, response_partition_limit, cursor })
}
//> clients

/// One topic of the answer: known (with the partitions to list) or not.
enum TopicAnswer<'a> {
    Known { topic: Arc<Topic>, partitions: Range<usize> },
    Unknown { name: &'a str },
}
//< clients

pub fn handle(
    broker: &Broker, //> ea7
    _req: &Request,
    r: &mut Reader<'_>,
    w: &mut Writer,
) -> Result<Reply, DecodeError> {
    let request = decode(r)?;
    //> wq2
    // Topics are answered in name order, each once.
    let mut names = request.topics.clone();
    names.sort_unstable();
    names.dedup();
    //< wq2
    /*> vt6 < wq2
    let names = &request.topics;
    */
    w.i32("throttle_time_ms", 0);

    /*> vt6 < clients
    w.array_v("topics", true, &names, |w, name| {
        /*> vt6 < ea7
        // This broker does not read the cluster metadata yet (stage ea7 does): it knows no topic.
        encode_unknown(w, name);
        */
        //> ea7
        match broker.log.topic(name) {
            Some(topic) => encode_topic(w, topic, 0..topic.partitions.len()),
            None => encode_unknown(w, name),
        }
        //< ea7
    });
    w.i8("next_cursor", -1); // null: everything was answered
    */
    //> clients
    // No topics named: every topic.
    let all_topics;
    if request.topics.is_empty() {
        all_topics = broker.log.topics();
        names = all_topics.iter().map(|t| t.name.as_str()).collect();
    }
    let mut budget = request.response_partition_limit.max(0) as usize;
    let mut answers = Vec::new();
    let mut next_cursor = None;
    for name in names {
        if let Some(c) = &request.cursor
            && name < c.topic_name.as_str()
        {
            continue;
        }
        let Some(topic) = broker.log.topic(name) else {
            answers.push(TopicAnswer::Unknown { name });
            continue;
        };
        let first = match &request.cursor {
            Some(c) if c.topic_name == name => topic.partitions.partition_point(|p| p.index < c.partition_index),
            _ => 0,
        };
        let available = topic.partitions.len() - first;
        if budget == 0 {
            // Nothing more fits: continue from here next time.
            if available > 0 {
                next_cursor =
                    Some(Cursor { topic_name: name.to_string(), partition_index: topic.partitions[first].index });
            }
            break;
        }
        let count = available.min(budget);
        budget -= count;
        let partitions = first..first + count;
        if count < available {
            next_cursor =
                Some(Cursor { topic_name: name.to_string(), partition_index: topic.partitions[first + count].index });
            answers.push(TopicAnswer::Known { topic, partitions });
            break;
        }
        answers.push(TopicAnswer::Known { topic, partitions });
    }
    w.array_v("topics", true, &answers, |w, answer| match answer {
        TopicAnswer::Known { topic, partitions } => encode_topic(w, topic, partitions.clone()),
        TopicAnswer::Unknown { name } => encode_unknown(w, name),
    });
    // A nullable struct: -1 for null, 1 and then its fields otherwise.
    match next_cursor {
        None => w.i8("next_cursor", -1),
        Some(c) => {
            w.i8("next_cursor", 1);
            w.string_v("topic_name", &c.topic_name, true);
            w.i32("partition_index", c.partition_index);
            w.tagged_fields_v(true);
        }
    }
    //< clients
    w.tagged_fields_v(true);
    Ok(Reply::Send)
}

/// A topic this broker does not have: error 3, the name echoed, a zero id, no partitions.
fn encode_unknown(w: &mut Writer, name: &str) {
    w.i16("error_code", ErrorCode::UnknownTopicOrPartition.code());
    w.string_v("name", name, true); // COMPACT_NULLABLE_STRING, never null here
    w.uuid("topic_id", Uuid::ZERO);
    w.bool("is_internal", false);
    w.array_len_v("partitions", 0, true);
    w.i32("topic_authorized_operations", ALL_TOPIC_OPERATIONS);
    w.tagged_fields_v(true);
}
//> ea7

/// A topic and the given range of its partitions, from the metadata.
fn encode_topic(w: &mut Writer, topic: &Topic, partitions: Range<usize>) {
    w.i16("error_code", ErrorCode::None.code());
    w.string_v("name", &topic.name, true);
    w.uuid("topic_id", topic.id);
    w.bool("is_internal", crate::log::is_internal(&topic.name)); //> clients

    /*> ea7 < clients
    w.bool("is_internal", false); // the topics of the course are never Kafka's own
    */
    w.array_v("partitions", true, &topic.partitions[partitions], |w, p| {
        w.i16("error_code", ErrorCode::None.code());
        w.i32("partition_index", p.index);
        w.i32("leader_id", p.leader);
        w.i32("leader_epoch", p.leader_epoch);
        w.array_v("replica_nodes", true, &p.replicas, |w, n| w.i32("replica_nodes", *n));
        w.array_v("isr_nodes", true, &p.isr, |w, n| w.i32("isr_nodes", *n));
        ["eligible_leader_replicas", "last_known_elr", "offline_replicas"]
            .iter()
            .for_each(|e| w.array_len_v(e, 0, true));
        w.tagged_fields_v(true);
    });
    w.i32("topic_authorized_operations", ALL_TOPIC_OPERATIONS);
    w.tagged_fields_v(true);
}
//< ea7
//> clients

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, _version: i16, _flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.array_v("topics", true, |r| {
        r.i16("error_code")?;
        r.nullable_string_v("name", true)?;
        r.uuid("topic_id")?;
        r.bool("is_internal")?;
        r.array_v("partitions", true, |r| {
            r.i16("error_code")?;
            r.i32("partition_index")?;
            r.i32("leader_id")?;
            r.i32("leader_epoch")?;
            for list in ["replica_nodes", "isr_nodes", "eligible_leader_replicas", "last_known_elr", "offline_replicas"]
            {
                r.array_v(list, true, |r| r.i32(list))?;
            }
            r.tagged_fields("tagged_fields")
        })?;
        r.i32("topic_authorized_operations")?;
        r.tagged_fields("tagged_fields")
    })?;
    if r.i8("next_cursor")? >= 0 {
        r.string_v("topic_name", true)?;
        r.i32("partition_index")?;
        r.tagged_fields("tagged_fields")?;
    }
    r.tagged_fields("tagged_fields")
}
//< clients
