//! IncrementalAlterConfigs (key 44), versions 0-1 — how admin clients change configs today
//! (confluent-kafka's `incremental_alter_configs`, `kafka-configs --alter`): each entry is an
//! operation on one key (stage retention).
//!
//! ```text
//! request                                   response: as AlterConfigs (src/api/alter_configs.rs)
//!   resources          ARRAY
//!     resource_type    INT8 (2 topic, 4 broker)
//!     resource_name    STRING
//!     configs          ARRAY
//!       name           STRING
//!       config_operation INT8: 0 SET, 1 DELETE (back to the default),
//!                      2 APPEND, 3 SUBTRACT (list configs: add or remove items)
//!       value          NULLABLE_STRING
//!   validate_only      BOOLEAN
//! ```
//! Flexible from v1. Keys not named keep their values. Which resources and keys may be changed,
//! and the answers when they may not: the table in src/api/alter_configs.rs. DELETE takes a broker
//! key back to `server.properties` (or Kafka's default); no broker key this broker changes is a
//! list.

use super::alter_configs::{self, APPEND, DELETE, SET, SUBTRACT};
use super::describe_configs::{LIST, TOPIC_CONFIGS};
use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Writer};

pub fn decode<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<(Vec<alter_configs::Resource<'a>>, bool), DecodeError> {
    alter_configs::decode_resources(r, flexible, true)
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (resources, validate_only) = decode(r, req.flexible)?;
    let results = alter_configs::alter(broker, &resources, validate_only, |configs, entries| {
        for &(key, operation, value) in entries {
            let is_list = TOPIC_CONFIGS.iter().any(|&(name, _, kind, _)| name == key && kind == LIST);
            let invalid = |why: &str| (ErrorCode::InvalidConfig, format!("{key}: {why}"));
            match (operation, value) {
                (SET, Some(value)) => {
                    configs.insert(key.to_string(), value.to_string());
                }
                (SET, None) => return Err(invalid("SET needs a value")),
                (DELETE, _) => {
                    configs.remove(key);
                }
                (APPEND | SUBTRACT, _) if !is_list => return Err(invalid("not a list: it can only be set")),
                (APPEND | SUBTRACT, None) => return Err(invalid("APPEND and SUBTRACT need a value")),
                (APPEND | SUBTRACT, Some(items)) => {
                    // A list's current value: the resource's own, else the topic config's default.
                    let default = TOPIC_CONFIGS.iter().find(|c| c.0 == key).map_or("", |c| c.1);
                    let current = configs.get(key).map_or(default, String::as_str);
                    let mut list: Vec<&str> = current.split(',').map(str::trim).filter(|i| !i.is_empty()).collect();
                    for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                        if operation == APPEND && !list.contains(&item) {
                            list.push(item);
                        } else if operation == SUBTRACT {
                            list.retain(|i| *i != item);
                        }
                    }
                    configs.insert(key.to_string(), list.join(","));
                }
                (other, _) => return Err((ErrorCode::InvalidRequest, format!("{key}: unknown operation {other}"))),
            }
        }
        Ok(())
    });
    alter_configs::encode(w, req.flexible, &resources, &results);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the same layout as AlterConfigs'.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    alter_configs::decode_response(r, version, flexible)
}
