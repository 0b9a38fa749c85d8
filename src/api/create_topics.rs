//! CreateTopics (key 19), versions 2-7 — `AdminClient.create_topics`.
//!
//! ```text
//! request                                       response
//!   topics               ARRAY                    throttle_time_ms  INT32
//!     name               STRING                   topics            ARRAY
//!     num_partitions     INT32 (-1 = default)       name            STRING
//!     replication_factor INT16 (-1 = default)       topic_id        UUID (v7+)
//!     assignments        ARRAY                      error_code      INT16
//!       partition_index  INT32                      error_message   NULLABLE_STRING
//!       broker_ids       ARRAY of INT32             num_partitions, replication_factor (v5+)
//!     configs            ARRAY [name, value]        configs         ARRAY (v5+), as in DescribeConfigs
//!   timeout_ms           INT32
//!   validate_only        BOOLEAN                  (flexible from v5)
//! ```
//!
//! One broker means one replica: a replication factor above 1 is INVALID_REPLICATION_FACTOR.
//! `validate_only` runs every check and creates nothing.

use super::describe_configs::{SOURCE_DEFAULT, SOURCE_DYNAMIC_TOPIC, TOPIC_CONFIGS};
use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Uuid, Writer};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, PartialEq, Eq)]
pub struct CreatableTopic<'a> {
    pub name: &'a str,
    pub num_partitions: i32,
    pub replication_factor: i16,
    /// `(partition_index, broker_ids)`
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: Vec<(&'a str, Option<&'a str>)>,
}

pub fn decode<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<(Vec<CreatableTopic<'a>>, bool), DecodeError> {
    let n = r.array_len_v("topics", flexible)?;
    let mut topics = Vec::new();
    for _ in 0..n {
        topics.push(r.nested("topic", |r| {
            let name = r.string_v("name", flexible)?;
            let num_partitions = r.i32("num_partitions")?;
            let replication_factor = r.i16("replication_factor")?;
            let n = r.array_len_v("assignments", flexible)?;
            let mut assignments = Vec::new();
            for _ in 0..n {
                assignments.push(r.nested("assignment", |r| {
                    let index = r.i32("partition_index")?;
                    let n = r.array_len_v("broker_ids", flexible)?;
                    let ids = (0..n).map(|_| r.i32("broker_id")).collect::<Result<Vec<_>, _>>()?;
                    r.tagged_fields_v("tagged_fields", flexible)?;
                    Ok((index, ids))
                })?);
            }
            let n = r.array_len_v("configs", flexible)?;
            let mut configs = Vec::new();
            for _ in 0..n {
                configs.push(r.nested("config", |r| {
                    let name = r.string_v("name", flexible)?;
                    let value = r.nullable_string_v("value", flexible)?;
                    r.tagged_fields_v("tagged_fields", flexible)?;
                    Ok((name, value))
                })?);
            }
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok(CreatableTopic { name, num_partitions, replication_factor, assignments, configs })
        })?);
    }
    r.i32("timeout_ms")?;
    let validate_only = r.bool("validate_only")?;
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok((topics, validate_only))
}

/// What a topic would be created with, or why it cannot be.
struct Plan {
    partitions: i32,
    configs: BTreeMap<String, String>,
}

fn plan(broker: &Broker, t: &CreatableTopic<'_>, duplicate: bool) -> Result<Plan, (ErrorCode, String)> {
    if duplicate {
        return Err((ErrorCode::InvalidRequest, format!("topic '{}' appears more than once in the request", t.name)));
    }
    if !crate::log::valid_topic_name(t.name) {
        return Err((
            ErrorCode::InvalidTopicException,
            format!("'{}' is not a valid topic name: use 1-249 of [a-zA-Z0-9._-]", t.name),
        ));
    }
    if broker.log.topic(t.name).is_some() {
        return Err((ErrorCode::TopicAlreadyExists, format!("Topic '{}' already exists.", t.name)));
    }
    if t.replication_factor > 1 || t.replication_factor == 0 || t.replication_factor < -1 {
        return Err((
            ErrorCode::InvalidReplicationFactor,
            format!("replication factor {} is impossible: this cluster has one broker", t.replication_factor),
        ));
    }
    let partitions = if t.assignments.is_empty() {
        match t.num_partitions {
            -1 => broker.config.num_partitions,
            n if (1..=crate::log::MAX_PARTITIONS).contains(&n) => n,
            n => {
                let max = crate::log::MAX_PARTITIONS;
                return Err((
                    ErrorCode::InvalidPartitions,
                    format!("number of partitions must be 1 to {max}, got {n}"),
                ));
            }
        }
    } else {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err((ErrorCode::InvalidRequest, "give either assignments or partitions/replication factor".into()));
        }
        let mut indexes: Vec<i32> = t.assignments.iter().map(|(i, _)| *i).collect();
        indexes.sort_unstable();
        let consecutive = indexes.iter().enumerate().all(|(i, p)| *p == i as i32);
        let here = t.assignments.iter().all(|(_, ids)| ids.as_slice() == [broker.node_id()]);
        if !consecutive || !here {
            return Err((
                ErrorCode::InvalidReplicaAssignment,
                format!("partitions must be 0..n, each on broker {}", broker.node_id()),
            ));
        }
        indexes.len() as i32
    };
    let mut configs = BTreeMap::new();
    for (name, value) in &t.configs {
        if !TOPIC_CONFIGS.iter().any(|(known, ..)| known == name) {
            return Err((ErrorCode::InvalidConfig, format!("unknown topic config {name}")));
        }
        if let Some(value) = value {
            crate::log::retention::check_topic_config(name, value).map_err(|m| (ErrorCode::InvalidConfig, m))?; //> retention
            configs.insert(name.to_string(), value.to_string());
        }
    }
    Ok(Plan { partitions, configs })
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (topics, validate_only) = decode(r, req.flexible)?;
    let (version, flexible) = (req.version, req.flexible);
    w.i32("throttle_time_ms", 0);
    // Names that appear more than once in the request are refused (counted once, not pairwise).
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for t in &topics {
        *seen.entry(t.name).or_default() += 1;
    }
    w.array_v("topics", flexible, &topics, |w, t| {
        let duplicate = seen.get(t.name).is_some_and(|n| *n > 1);
        let outcome = plan(broker, t, duplicate).and_then(|plan| {
            if validate_only {
                return Ok((Uuid::ZERO, plan));
            }
            let topic = broker
                .log
                .create_topic(t.name, plan.partitions, broker.node_id(), plan.configs.clone())
                .map_err(|code| (code, format!("cannot create topic '{}'", t.name)))?;
            Ok((topic.id, plan))
        });
        w.string_v("name", t.name, flexible);
        if version >= 7 {
            w.uuid("topic_id", outcome.as_ref().map_or(Uuid::ZERO, |(id, _)| *id));
        }
        match &outcome {
            Ok(_) => {
                w.i16("error_code", ErrorCode::None.code());
                w.nullable_string_v("error_message", None, flexible);
            }
            Err((code, message)) => {
                w.i16("error_code", code.code());
                w.nullable_string_v("error_message", Some(message), flexible);
            }
        }
        if version >= 5 {
            match &outcome {
                Ok((_, plan)) => {
                    w.i32("num_partitions", plan.partitions);
                    w.i16("replication_factor", 1);
                    w.array_v("configs", flexible, TOPIC_CONFIGS, |w, (name, default, ..)| {
                        let given = plan.configs.get(*name);
                        w.string_v("name", name, flexible);
                        w.nullable_string_v("value", Some(given.map_or(*default, |v| v.as_str())), flexible);
                        w.bool("read_only", false);
                        let source = if given.is_some() { SOURCE_DYNAMIC_TOPIC } else { SOURCE_DEFAULT };
                        w.i8("config_source", source);
                        w.bool("is_sensitive", false);
                        w.tagged_fields_v(flexible);
                    });
                }
                Err(_) => {
                    w.i32("num_partitions", -1);
                    w.i16("replication_factor", -1);
                    w.null_array_v("configs", flexible);
                }
            }
        }
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.array_v("topics", flexible, |r| {
        r.string_v("name", flexible)?;
        if version >= 7 {
            r.uuid("topic_id")?;
        }
        r.i16("error_code")?;
        r.nullable_string_v("error_message", flexible)?;
        if version >= 5 {
            r.i32("num_partitions")?;
            r.i16("replication_factor")?;
            // Null when the topic could not be created.
            r.array_v("configs", flexible, |r| {
                r.string_v("name", flexible)?;
                r.nullable_string_v("value", flexible)?;
                r.bool("read_only")?;
                r.i8("config_source")?;
                r.bool("is_sensitive")?;
                r.tagged_fields_v("tagged_fields", flexible)
            })?;
        }
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
