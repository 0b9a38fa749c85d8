//! Metadata (key 3), versions 0-12 — the first thing a real client asks after ApiVersions:
//! "which brokers are there, which topics, and who leads each partition?"
//!
//! ```text
//! request                                         response
//!   topics  ARRAY (nullable from v1)                throttle_time_ms   INT32 (v3+)
//!     topic_id  UUID (v10+)                         brokers            ARRAY
//!     name      STRING (nullable from v10)            node_id, host, port, rack (v1+)
//!   allow_auto_topic_creation  BOOLEAN (v4+)        cluster_id         NULLABLE_STRING (v2+)
//!   include_cluster_authorized_operations (v8-10)   controller_id      INT32 (v1+)
//!   include_topic_authorized_operations   (v8+)     topics             ARRAY
//!                                                     error_code, name (nullable v12+), topic_id (v10+),
//!                                                     is_internal (v1+), partitions ARRAY
//!                                                       error_code, partition_index, leader_id,
//!                                                       leader_epoch (v7+), replica_nodes, isr_nodes,
//!                                                       offline_replicas (v5+)
//!                                                     topic_authorized_operations (v8+)
//!                                                   cluster_authorized_operations (v8-10)
//! ```
//! Flexible from v9.
//!
//! "All topics" is spelled differently by version — a classic source of bugs: in v0 an *empty*
//! array means all topics; from v1 on, *null* means all and empty means none.
//!
//! Asking for a topic that does not exist creates it (with `num.partitions` partitions) when the
//! request allows it (always before v4) and the broker's `auto.create.topics.enable` is on.

use super::describe_topic_partitions::ALL_TOPIC_OPERATIONS;
use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::log::Topic;
use crate::wire::{DecodeError, Reader, Uuid, Writer};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

#[derive(Debug, PartialEq, Eq)]
pub struct MetadataRequest<'a> {
    /// `None`: every topic.
    pub topics: Option<Vec<TopicRequest<'a>>>,
    pub allow_auto_topic_creation: bool,
    pub include_cluster_authorized_operations: bool,
    pub include_topic_authorized_operations: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct TopicRequest<'a> {
    pub topic_id: Uuid,
    pub name: Option<&'a str>,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<MetadataRequest<'a>, DecodeError> {
    let count = r.nullable_array_len_v("topics", flexible)?;
    let topics = match count {
        None => None,
        Some(0) if version == 0 => None, // v0: empty means all
        Some(n) => {
            let mut topics = Vec::new();
            for _ in 0..n {
                topics.push(r.nested("topic", |r| {
                    let topic_id = if version >= 10 { r.uuid("topic_id")? } else { Uuid::ZERO };
                    let name = if version >= 10 {
                        r.nullable_string_v("name", flexible)?
                    } else {
                        Some(r.string_v("name", flexible)?)
                    };
                    r.tagged_fields_v("tagged_fields", flexible)?;
                    Ok(TopicRequest { topic_id, name })
                })?);
            }
            Some(topics)
        }
    };
    let allow_auto_topic_creation = if version >= 4 { r.bool("allow_auto_topic_creation")? } else { true };
    let include_cluster_authorized_operations =
        if (8..=10).contains(&version) { r.bool("include_cluster_authorized_operations")? } else { false };
    let include_topic_authorized_operations =
        if version >= 8 { r.bool("include_topic_authorized_operations")? } else { false };
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(MetadataRequest {
        topics,
        allow_auto_topic_creation,
        include_cluster_authorized_operations,
        include_topic_authorized_operations,
    })
}

/// One topic of the answer.
enum TopicAnswer {
    Found(Arc<Topic>),
    Error { code: ErrorCode, name: Option<String>, id: Uuid },
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let request = decode(r, req.version, req.flexible)?;
    let answers: Vec<TopicAnswer> = match &request.topics {
        None => broker.log.topics().into_iter().map(TopicAnswer::Found).collect(),
        Some(topics) => {
            // A topic named twice is answered once, as in Kafka: a request must not be able to
            // multiply its response.
            let mut seen = HashSet::new();
            let once = topics.iter().filter(|t| seen.insert((t.name, t.topic_id)));
            once.map(|t| resolve(broker, t, request.allow_auto_topic_creation)).collect()
        }
    };
    encode(broker, w, req, &request, &answers);
    Ok(Reply::Send)
}

fn resolve(broker: &Broker, t: &TopicRequest, allow_auto_create: bool) -> TopicAnswer {
    let Some(name) = t.name else {
        return match broker.log.topic_by_id(t.topic_id) {
            Some(topic) => TopicAnswer::Found(topic),
            None => TopicAnswer::Error { code: ErrorCode::UnknownTopicId, name: None, id: t.topic_id },
        };
    };
    if let Some(topic) = broker.log.topic(name) {
        return TopicAnswer::Found(topic);
    }
    let error = |code| TopicAnswer::Error { code, name: Some(name.to_string()), id: Uuid::ZERO };
    if !crate::log::valid_topic_name(name) {
        return error(ErrorCode::InvalidTopicException);
    }
    if !(allow_auto_create && broker.config.auto_create_topics) {
        return error(ErrorCode::UnknownTopicOrPartition);
    }
    match broker.log.create_topic(name, broker.config.num_partitions, broker.node_id(), BTreeMap::new()) {
        Ok(topic) => TopicAnswer::Found(topic),
        // Another client created it between our lookup and our create: fine.
        Err(ErrorCode::TopicAlreadyExists) => {
            broker.log.topic(name).map_or(error(ErrorCode::UnknownTopicOrPartition), TopicAnswer::Found)
        }
        Err(code) => error(code),
    }
}

/// Kafka's "not requested" value for the authorized-operations fields.
const NOT_REQUESTED: i32 = i32::MIN;

/// Cluster operations a client may perform here (no ACLs: every one this broker has): CREATE,
/// ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, as a bit
/// field indexed by Kafka's AclOperation codes.
const CLUSTER_OPERATIONS: i32 = (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

fn encode(broker: &Broker, w: &mut Writer, req: &Request, request: &MetadataRequest, answers: &[TopicAnswer]) {
    let (version, flexible) = (req.version, req.flexible);
    if version >= 3 {
        w.i32("throttle_time_ms", 0);
    }
    // Just this one broker.
    w.array_v("brokers", flexible, &[broker], |w, broker| {
        w.i32("node_id", broker.node_id());
        w.string_v("host", &broker.advertised_host, flexible);
        w.i32("port", i32::from(broker.advertised_port));
        if version >= 1 {
            w.nullable_string_v("rack", None, flexible);
        }
        w.tagged_fields_v(flexible);
    });
    if version >= 2 {
        w.nullable_string_v("cluster_id", Some(&broker.cluster_id), flexible);
    }
    if version >= 1 {
        // This broker is its own controller (KRaft combined mode).
        w.i32("controller_id", broker.node_id());
    }
    w.array_v("topics", flexible, answers, |w, answer| {
        match answer {
            TopicAnswer::Found(topic) => {
                w.i16("error_code", ErrorCode::None.code());
                topic_name(w, Some(&topic.name), version, flexible);
                if version >= 10 {
                    w.uuid("topic_id", topic.id);
                }
                if version >= 1 {
                    w.bool("is_internal", crate::log::is_internal(&topic.name));
                }
                w.array_v("partitions", flexible, &topic.partitions, |w, p| {
                    w.i16("error_code", ErrorCode::None.code());
                    w.i32("partition_index", p.index);
                    w.i32("leader_id", p.leader);
                    if version >= 7 {
                        w.i32("leader_epoch", p.leader_epoch);
                    }
                    w.array_v("replica_nodes", flexible, &p.replicas, |w, n| w.i32("replica_nodes", *n));
                    w.array_v("isr_nodes", flexible, &p.isr, |w, n| w.i32("isr_nodes", *n));
                    if version >= 5 {
                        w.array_len_v("offline_replicas", 0, flexible);
                    }
                    w.tagged_fields_v(flexible);
                });
            }
            TopicAnswer::Error { code, name, id } => {
                w.i16("error_code", code.code());
                topic_name(w, name.as_deref(), version, flexible);
                if version >= 10 {
                    w.uuid("topic_id", *id);
                }
                if version >= 1 {
                    w.bool("is_internal", false);
                }
                w.array_len_v("partitions", 0, flexible);
            }
        }
        if version >= 8 {
            let operations =
                if request.include_topic_authorized_operations { ALL_TOPIC_OPERATIONS } else { NOT_REQUESTED };
            w.i32("topic_authorized_operations", operations);
        }
        w.tagged_fields_v(flexible);
    });
    if (8..=10).contains(&version) {
        let operations = if request.include_cluster_authorized_operations { CLUSTER_OPERATIONS } else { NOT_REQUESTED };
        w.i32("cluster_authorized_operations", operations);
    }
    w.tagged_fields_v(flexible);
}

/// The topic name: nullable from v12 (a topic asked for by an unknown id has none).
fn topic_name(w: &mut Writer, name: Option<&str>, version: i16, flexible: bool) {
    if version >= 12 {
        w.nullable_string_v("name", name, flexible);
    } else {
        w.string_v("name", name.unwrap_or(""), flexible);
    }
}

/// Reads a response back (for `mini-kafka decode`): the fields `encode` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    if version >= 3 {
        r.i32("throttle_time_ms")?;
    }
    r.array_v("brokers", flexible, |r| {
        r.i32("node_id")?;
        r.string_v("host", flexible)?;
        r.i32("port")?;
        if version >= 1 {
            r.nullable_string_v("rack", flexible)?;
        }
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    if version >= 2 {
        r.nullable_string_v("cluster_id", flexible)?;
    }
    if version >= 1 {
        r.i32("controller_id")?;
    }
    r.array_v("topics", flexible, |r| {
        r.i16("error_code")?;
        r.nullable_string_v("name", flexible)?;
        if version >= 10 {
            r.uuid("topic_id")?;
        }
        if version >= 1 {
            r.bool("is_internal")?;
        }
        r.array_v("partitions", flexible, |r| {
            r.i16("error_code")?;
            r.i32("partition_index")?;
            r.i32("leader_id")?;
            if version >= 7 {
                r.i32("leader_epoch")?;
            }
            r.array_v("replica_nodes", flexible, |r| r.i32("replica_nodes"))?;
            r.array_v("isr_nodes", flexible, |r| r.i32("isr_nodes"))?;
            if version >= 5 {
                r.array_v("offline_replicas", flexible, |r| r.i32("offline_replicas"))?;
            }
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
        if version >= 8 {
            r.i32("topic_authorized_operations")?;
        }
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    if (8..=10).contains(&version) {
        r.i32("cluster_authorized_operations")?;
    }
    r.tagged_fields_v("tagged_fields", flexible)
}
