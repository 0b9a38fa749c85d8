//! AlterConfigs (key 33), versions 0-2 — the older way to change configs
//! (kafka-python's `alter_configs`): the configs sent *replace* the resource's own settings, so a
//! key left out goes back to its default (stage retention).
//!
//! ```text
//! request                                   response
//!   resources          ARRAY                  throttle_time_ms  INT32
//!     resource_type    INT8 (2 topic)         responses         ARRAY
//!     resource_name    STRING                   error_code      INT16
//!     configs          ARRAY                    error_message   NULLABLE_STRING
//!       name           STRING                   resource_type   INT8
//!       value          NULLABLE_STRING          resource_name   STRING
//!   validate_only      BOOLEAN (check, change nothing)
//! ```
//! Flexible from v2. A topic takes the keys DescribeConfigs lists for it; the ones this broker
//! acts on (retention and segment sizes and times) are checked; an unknown key is INVALID_CONFIG.
//! Broker settings come from `server.properties`: changing them here is INVALID_REQUEST.

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC, TOPIC_CONFIGS};
use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::log::ConfigError;
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
    // The configs sent are the topic's settings from now on: the others go back to their defaults.
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
            match *resource_type {
                RESOURCE_TOPIC => {}
                RESOURCE_BROKER => {
                    let message = "broker settings come from server.properties; restart to change them";
                    return Err((ErrorCode::InvalidRequest, message.to_string()));
                }
                other => return Err((ErrorCode::InvalidRequest, format!("resource type {other} is not supported"))),
            }
            let mut seen = std::collections::HashSet::new();
            for (key, ..) in entries {
                if !TOPIC_CONFIGS.iter().any(|(known, ..)| known == key) {
                    return Err((ErrorCode::InvalidConfig, format!("unknown topic config {key}")));
                }
                if !seen.insert(*key) {
                    return Err((ErrorCode::InvalidRequest, format!("{key} is named twice")));
                }
            }
            broker.log.alter_topic_configs(name, validate_only, |configs| change(configs, entries))
        })
        .collect()
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
