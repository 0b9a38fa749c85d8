//! AlterConfigs (key 33), versions 0-2 — the older way to change configs
//! (kafka-python's `alter_configs`): the configs sent *replace* the resource's own settings, so a
//! key left out goes back to its default (stage retention).
//!
//! ```text
//! request                                   response
//!   resources          ARRAY                  throttle_time_ms  INT32
//!     resource_type    INT8 (2 topic,         responses         ARRAY
//!                            4 broker)          error_code      INT16
//!     resource_name    STRING                   error_message   NULLABLE_STRING
//!     configs          ARRAY                    resource_type   INT8
//!       name           STRING                   resource_name   STRING
//!       value          NULLABLE_STRING
//!   validate_only      BOOLEAN (check, change nothing)
//! ```
//! Flexible from v2. Both APIs answer each resource on its own, and a resource whose change is
//! refused changes not at all:
//!
//! | resource                  | keys it takes                    | refused                        |
//! |---------------------------|----------------------------------|--------------------------------|
//! | topic (2), its name       | those DescribeConfigs lists for a topic; the ones this broker acts on (retention, segment sizes and times, `max.message.bytes`) are checked | unknown key, bad value: INVALID_CONFIG; no such topic: UNKNOWN_TOPIC_OR_PARTITION |
//! | broker (4), "": the cluster-wide defaults (DYNAMIC_DEFAULT_BROKER_CONFIG) | [`DYNAMIC_BROKER_CONFIGS`]: `log.retention.bytes`, `log.retention.ms`, `log.segment.bytes`, `log.roll.ms`, `message.max.bytes` | any other key the broker has (read-only) or a bad value: INVALID_REQUEST, as Kafka answers; a key it does not know: INVALID_CONFIG |
//! | broker (4), this broker's node id (DYNAMIC_BROKER_CONFIG, wins over "") | the same | the same; another node id: INVALID_REQUEST |
//!
//! A broker key set here wins over `server.properties` at once: every partition of a topic without
//! its own setting follows the new retention, and the next produce is held to the new
//! `message.max.bytes`. Both kinds of resource are kept in the metadata log as ConfigRecords, so a
//! change survives a restart (with `log.dirs`). Kafka can change more broker keys at run time
//! (listener and thread settings…); this broker only those it can act on while it runs.

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC, TOPIC_CONFIGS, is_broker_config};
use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::log::ConfigError;
use crate::log::retention::DYNAMIC_BROKER_CONFIGS;
use crate::wire::{DecodeError, Reader, Writer};
use std::collections::BTreeMap;

/// One resource of the request: `(type, name, [(key, operation, value)])`. AlterConfigs has no
/// operations; its entries carry [`SET`].
pub type Resource<'a> = (i8, &'a str, Vec<(&'a str, i8, Option<&'a str>)>);

/// IncrementalAlterConfigs' operations (AlterConfigs only sets).
pub const SET: i8 = 0;
pub const DELETE: i8 = 1;
pub const APPEND: i8 = 2;
pub const SUBTRACT: i8 = 3;

pub fn decode<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<(Vec<Resource<'a>>, bool), DecodeError> {
    decode_resources(r, flexible, false)
}

/// The request body of both APIs: IncrementalAlterConfigs adds an operation to each entry.
pub fn decode_resources<'a>(
    r: &mut Reader<'a>,
    flexible: bool,
    with_operations: bool,
) -> Result<(Vec<Resource<'a>>, bool), DecodeError> {
    let n = r.array_len_v("resources", flexible)?;
    let mut resources = Vec::new();
    for _ in 0..n {
        resources.push(r.nested("resource", |r| {
            let resource_type = r.i8("resource_type")?;
            let resource_name = r.string_v("resource_name", flexible)?;
            let n = r.array_len_v("configs", flexible)?;
            let mut configs = Vec::new();
            for _ in 0..n {
                configs.push(r.nested("config", |r| {
                    let name = r.string_v("name", flexible)?;
                    let operation = if with_operations { r.i8("config_operation")? } else { SET };
                    let value = r.nullable_string_v("value", flexible)?;
                    r.tagged_fields_v("tagged_fields", flexible)?;
                    Ok((name, operation, value))
                })?);
            }
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok((resource_type, resource_name, configs))
        })?);
    }
    let validate_only = r.bool("validate_only")?;
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok((resources, validate_only))
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (resources, validate_only) = decode(r, req.flexible)?;
    // The configs sent are the resource's settings from now on: the others go back to their defaults.
    let results = alter(broker, &resources, validate_only, |configs, entries| {
        configs.clear();
        for &(key, _, value) in entries {
            if let Some(value) = value {
                configs.insert(key.to_string(), value.to_string());
            }
        }
        Ok(())
    });
    encode(w, req.flexible, &resources, &results);
    Ok(Reply::Send)
}

/// Applies `change` to each resource (after the checks both APIs share) and returns each one's
/// outcome, in order.
pub fn alter<'a>(
    broker: &Broker,
    resources: &[Resource<'a>],
    validate_only: bool,
    change: impl Fn(&mut BTreeMap<String, String>, &[(&'a str, i8, Option<&'a str>)]) -> Result<(), ConfigError>,
) -> Vec<Result<(), ConfigError>> {
    resources
        .iter()
        .map(|(resource_type, name, entries)| {
            let mut seen = std::collections::HashSet::new();
            if let Some((key, ..)) = entries.iter().find(|(key, ..)| !seen.insert(*key)) {
                return Err((ErrorCode::InvalidRequest, format!("{key} is named twice")));
            }
            let keys = entries.iter().map(|(key, ..)| *key);
            match *resource_type {
                RESOURCE_TOPIC => {
                    if let Some(key) = keys.clone().find(|key| !TOPIC_CONFIGS.iter().any(|(known, ..)| known == key)) {
                        return Err((ErrorCode::InvalidConfig, format!("unknown topic config {key}")));
                    }
                    broker.log.alter_topic_configs(name, validate_only, |configs| change(configs, entries))
                }
                RESOURCE_BROKER => {
                    check_broker_resource(broker, name)?;
                    check_broker_keys(broker, keys)?;
                    broker.log.alter_broker_configs(name, validate_only, |configs| change(configs, entries))
                }
                other => Err((ErrorCode::InvalidRequest, format!("resource type {other} is not supported"))),
            }
        })
        .collect()
}

/// A broker resource is named "" (the cluster-wide defaults) or after this broker's node id; any
/// other name is refused as Kafka refuses it, with its messages.
fn check_broker_resource(broker: &Broker, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name == broker.node_id().to_string() {
        return Ok(());
    }
    let message = match name.parse::<i32>() {
        Err(_) => format!("Node id must be an integer, but it is: {name}"),
        Ok(_) => format!("Unexpected broker id, expected {}, but received {name}", broker.node_id()),
    };
    Err((ErrorCode::InvalidRequest, message))
}

/// Only the dynamic keys may be changed. Any other key the broker has (DescribeConfigs lists it,
/// `server.properties` sets it, or it is a coarser unit of a retention time) is read-only: Kafka
/// answers INVALID_REQUEST, naming every such key. A key the broker does not know would change
/// nothing here: INVALID_CONFIG (Kafka would store it for plugins to read).
fn check_broker_keys<'a>(broker: &Broker, keys: impl Iterator<Item = &'a str>) -> Result<(), ConfigError> {
    let mut read_only = Vec::new();
    for key in keys.filter(|key| !DYNAMIC_BROKER_CONFIGS.iter().any(|(dynamic, _)| dynamic == key)) {
        let coarser = ["log.retention.minutes", "log.retention.hours", "log.roll.hours"].contains(&key);
        if !(coarser || is_broker_config(key) || broker.config.properties.contains_key(key)) {
            return Err((ErrorCode::InvalidConfig, format!("unknown broker config {key}")));
        }
        read_only.push(key);
    }
    if !read_only.is_empty() {
        let message = format!("Cannot update these configs dynamically: Set({})", read_only.join(", "));
        return Err((ErrorCode::InvalidRequest, message));
    }
    Ok(())
}

/// The response of both APIs: one outcome per resource.
pub fn encode(w: &mut Writer, flexible: bool, resources: &[Resource<'_>], results: &[Result<(), ConfigError>]) {
    w.i32("throttle_time_ms", 0);
    let answers: Vec<_> = resources.iter().zip(results).collect();
    w.array_v("responses", flexible, &answers, |w, ((resource_type, name, _), result)| {
        let (code, message) = match result {
            Ok(()) => (ErrorCode::None, None),
            Err((code, message)) => (*code, Some(message.as_str())),
        };
        w.i16("error_code", code.code());
        w.nullable_string_v("error_message", message, flexible);
        w.i8("resource_type", *resource_type);
        w.string_v("resource_name", name, flexible);
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
}

/// Reads a response back (for `mini-kafka decode`): the fields `encode` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, _version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.array_v("responses", flexible, |r| {
        r.i16("error_code")?;
        r.nullable_string_v("error_message", flexible)?;
        r.i8("resource_type")?;
        r.string_v("resource_name", flexible)?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
