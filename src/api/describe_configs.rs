//! DescribeConfigs (key 32), versions 1-4 — what admin tools show as a topic's or broker's
//! settings (`kafka-configs --describe`, `AdminClient.describe_configs`).
//!
//! ```text
//! request                                      response
//!   resources            ARRAY                   throttle_time_ms   INT32
//!     resource_type      INT8 (2 topic, 4 broker) results           ARRAY
//!     resource_name      STRING                    error_code, error_message, resource_type, resource_name
//!     configuration_keys ARRAY of STRING (null=all) configs         ARRAY
//!   include_synonyms     BOOLEAN                     name, value (nullable), read_only BOOLEAN,
//!   include_documentation BOOLEAN (v3+)              config_source INT8, is_sensitive BOOLEAN,
//!                                                    synonyms ARRAY [name, value, source],
//!                                                    config_type INT8 (v3+), documentation (v3+)
//! ```
//! Flexible from v4.
//!
//! Values come from the properties file where it sets them (source STATIC_BROKER_CONFIG), from a
//! topic's creation configs (DYNAMIC_TOPIC_CONFIG), or are Kafka's defaults (DEFAULT_CONFIG).
/*> clients < retention
//! mini-kafka keeps every record, so retention and compaction settings are reported, not enforced.
*/
//> retention
//! Retention (`retention.bytes`, `retention.ms`, `segment.bytes`, `segment.ms`) is enforced, with
//! the broker's `log.*` keys as the defaults; compaction settings are reported, not enforced.
//!
//! A broker key may also be set while the broker runs (AlterConfigs, src/api/alter_configs.rs):
//! for this broker (DYNAMIC_BROKER_CONFIG) or for the whole cluster (DYNAMIC_DEFAULT_BROKER_CONFIG).
//! The strongest source wins: this broker's, the cluster's, `server.properties`, Kafka's default;
//! a topic's own setting wins over all of them. With `include_synonyms` every value the setting
//! has is listed in that order, as Kafka does. The cluster-wide resource (name "") shows only the
//! defaults set dynamically.
//< retention

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Writer};
//> retention
use crate::log::retention::DYNAMIC_BROKER_CONFIGS;
use std::collections::BTreeMap;
//< retention

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Where a config value comes from (Kafka's `ConfigSource`).
pub const SOURCE_DYNAMIC_TOPIC: i8 = 1;
//> retention
pub const SOURCE_DYNAMIC_BROKER: i8 = 2;
pub const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
//< retention
pub const SOURCE_STATIC_BROKER: i8 = 4;
pub const SOURCE_DEFAULT: i8 = 5;

/// Config types (v3+).
const BOOLEAN: i8 = 1;
const STRING: i8 = 2;
const INT: i8 = 3;
const LONG: i8 = 5;
const DOUBLE: i8 = 6;
pub const LIST: i8 = 7;

/// Topic configs with Kafka's defaults and, where a broker setting provides the default, its name.
pub const TOPIC_CONFIGS: &[(&str, &str, i8, Option<&str>)] = &[
    ("cleanup.policy", "delete", LIST, None),
    ("compression.type", "producer", STRING, None),
    ("delete.retention.ms", "86400000", LONG, None),
    ("file.delete.delay.ms", "60000", LONG, None),
    ("flush.messages", "9223372036854775807", LONG, None),
    ("flush.ms", "9223372036854775807", LONG, None),
    ("index.interval.bytes", "4096", INT, None),
    ("max.compaction.lag.ms", "9223372036854775807", LONG, None),
    ("max.message.bytes", "1048588", INT, Some("message.max.bytes")),
    ("message.timestamp.type", "CreateTime", STRING, None),
    ("min.cleanable.dirty.ratio", "0.5", DOUBLE, None),
    ("min.compaction.lag.ms", "0", LONG, None),
    ("min.insync.replicas", "1", INT, None),
    ("preallocate", "false", BOOLEAN, None),
    /*> clients < retention
    ("retention.bytes", "-1", LONG, None),
    */
    ("retention.bytes", "-1", LONG, Some("log.retention.bytes")), //> retention
    /*> clients < retention
    ("retention.ms", "604800000", LONG, None),
    */
    ("retention.ms", "604800000", LONG, Some("log.retention.ms")), //> retention
    /*> clients < retention
    ("segment.bytes", "1073741824", INT, None),
    */
    ("segment.bytes", "1073741824", INT, Some("log.segment.bytes")), //> retention
    ("segment.index.bytes", "10485760", INT, None),
    ("segment.jitter.ms", "0", LONG, None),
    /*> clients < retention
    ("segment.ms", "604800000", LONG, None),
    */
    ("segment.ms", "604800000", LONG, Some("log.roll.ms")), //> retention
    ("unclean.leader.election.enable", "false", BOOLEAN, None),
];

/// The broker settings mini-kafka has, with Kafka's defaults (listeners and log.dirs have none).
const BROKER_CONFIGS: &[(&str, &str, i8)] = &[
    ("advertised.listeners", "", STRING),
    ("auto.create.topics.enable", "true", BOOLEAN),
    ("broker.id", "1", INT),
    ("default.replication.factor", "1", INT),
    ("group.initial.rebalance.delay.ms", "300", INT),
    ("listeners", "PLAINTEXT://127.0.0.1:9092", STRING),
    ("log.dirs", "", STRING),
    //> retention
    ("log.memory.max.bytes", "1073741824", LONG),
    ("log.retention.bytes", "-1", LONG),
    ("log.retention.check.interval.ms", "300000", LONG),
    ("log.retention.ms", "604800000", LONG),
    ("log.roll.ms", "604800000", LONG),
    ("log.segment.bytes", "1073741824", INT),
    //< retention
    ("message.max.bytes", "1048588", INT),
    ("min.insync.replicas", "1", INT),
    ("node.id", "1", INT),
    ("num.partitions", "1", INT),
    ("socket.request.max.bytes", "104857600", INT),
];

/// One config entry of the answer.
struct Entry {
    name: &'static str,
    value: String,
    source: i8,
    config_type: i8,
    //> retention
    read_only: bool,
    /// Every value the setting has, strongest first: the first is `value` and `source`.
    synonyms: Vec<Synonym>,
    //< retention
}
//> retention

/// A value of a setting and where it comes from (what `include_synonyms` lists).
struct Synonym {
    name: &'static str,
    value: String,
    source: i8,
}

impl Entry {
    /// The entry of a setting: the value in force is its strongest synonym's.
    fn new(name: &'static str, config_type: i8, read_only: bool, synonyms: Vec<Synonym>) -> Entry {
        let (value, source) = synonyms.first().map_or((String::new(), SOURCE_DEFAULT), |s| (s.value.clone(), s.source));
        Entry { name, value, source, config_type, read_only, synonyms }
    }
}

/// The dynamic broker configs, strongest first: this broker's own, then the cluster-wide defaults.
type Dynamic = [(BTreeMap<String, String>, i8); 2];

fn dynamic_configs(broker: &Broker) -> Dynamic {
    [
        (broker.log.broker_configs(&broker.node_id().to_string()), SOURCE_DYNAMIC_BROKER),
        (broker.log.broker_configs(""), SOURCE_DYNAMIC_DEFAULT_BROKER),
    ]
}

/// Whether DescribeConfigs lists `name` for a broker (AlterConfigs tells a read-only key from an
/// unknown one by it).
pub fn is_broker_config(name: &str) -> bool {
    BROKER_CONFIGS.iter().any(|c| c.0 == name)
}

/// A broker key's values, strongest first: set for this broker, set for the cluster, from
/// `server.properties`, and Kafka's default.
fn broker_synonyms(broker: &Broker, dynamic: &Dynamic, name: &'static str, default: &str) -> Vec<Synonym> {
    let set = dynamic.iter().filter_map(|(configs, source)| Some((configs.get(name)?.clone(), *source)));
    let mut synonyms: Vec<Synonym> = set.map(|(value, source)| Synonym { name, value, source }).collect();
    let (value, source) = broker_value(broker, name, default);
    synonyms.push(Synonym { name, value, source });
    if source != SOURCE_DEFAULT {
        synonyms.push(Synonym { name, value: default.to_string(), source: SOURCE_DEFAULT });
    }
    synonyms
}
//< retention

#[derive(Debug, PartialEq, Eq)]
pub struct Resource<'a> {
    pub resource_type: i8,
    pub resource_name: &'a str,
    pub configuration_keys: Option<Vec<&'a str>>,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<(Vec<Resource<'a>>, bool), DecodeError> {
    let n = r.array_len_v("resources", flexible)?;
    let mut resources = Vec::new();
    for _ in 0..n {
        resources.push(r.nested("resource", |r| {
            let resource_type = r.i8("resource_type")?;
            let resource_name = r.string_v("resource_name", flexible)?;
            let configuration_keys = match r.nullable_array_len_v("configuration_keys", flexible)? {
                None => None,
                Some(n) => {
                    Some((0..n).map(|_| r.string_v("configuration_key", flexible)).collect::<Result<Vec<_>, _>>()?)
                }
            };
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok(Resource { resource_type, resource_name, configuration_keys })
        })?);
    }
    let include_synonyms = r.bool("include_synonyms")?;
    if version >= 3 {
        r.bool("include_documentation")?;
    }
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok((resources, include_synonyms))
}

/// The value and source of a setting from the properties file, or its default.
fn broker_value(broker: &Broker, name: &str, default: &str) -> (String, i8) {
    let props = &broker.config.properties;
    if let Some(v) = props.get(name) {
        return (v.clone(), SOURCE_STATIC_BROKER);
    }
    // node.id and broker.id are synonyms, as in Kafka.
    let synonym = match name {
        "node.id" => props.get("broker.id"),
        "broker.id" => props.get("node.id"),
        _ => None,
    };
    //> retention
    // Kafka's time settings come in coarser units too; the broker resolved them to milliseconds.
    let coarser = match name {
        "log.retention.ms" => ["log.retention.minutes", "log.retention.hours"].iter().any(|k| props.contains_key(*k)),
        "log.roll.ms" => props.contains_key("log.roll.hours"),
        _ => false,
    };
    if coarser {
        let ms = if name == "log.roll.ms" {
            broker.config.log_roll_ms.to_string()
        } else {
            broker.config.log_retention_ms.to_string()
        };
        return (ms, SOURCE_STATIC_BROKER);
    }
    //< retention
    match synonym {
        Some(v) => (v.clone(), SOURCE_STATIC_BROKER),
        None => (default.to_string(), SOURCE_DEFAULT),
    }
}

fn topic_entries(broker: &Broker, topic: &crate::log::Topic) -> Vec<Entry> {
    let dynamic = dynamic_configs(broker); //> retention
    TOPIC_CONFIGS
        .iter()
        .map(|&(name, default, config_type, broker_name)| {
            /*> clients < retention
            let (value, source) = match (topic.configs.get(name), broker_name) {
                (Some(v), _) => (v.clone(), SOURCE_DYNAMIC_TOPIC),
                (None, Some(b)) => broker_value(broker, b, default),
                (None, None) => (default.to_string(), SOURCE_DEFAULT),
            };
            Entry { name, value, source, config_type }
            */
            //> retention
            // The topic's own value, then the values of the broker key that gives its default.
            let own = topic.configs.get(name).map(|v| Synonym { name, value: v.clone(), source: SOURCE_DYNAMIC_TOPIC });
            let fallback = match broker_name {
                Some(key) => broker_synonyms(broker, &dynamic, key, default),
                None => vec![Synonym { name, value: default.to_string(), source: SOURCE_DEFAULT }],
            };
            Entry::new(name, config_type, false, own.into_iter().chain(fallback).collect())
            //< retention
        })
        .collect()
}

fn broker_entries(broker: &Broker) -> Vec<Entry> {
    let dynamic = dynamic_configs(broker); //> retention
    BROKER_CONFIGS
        .iter()
        .map(|&(name, default, config_type)| {
            /*> clients < retention
            let (value, source) = broker_value(broker, name, default);
            Entry { name, value, source, config_type }
            */
            //> retention
            let read_only = !DYNAMIC_BROKER_CONFIGS.iter().any(|(key, _)| *key == name);
            Entry::new(name, config_type, read_only, broker_synonyms(broker, &dynamic, name, default))
            //< retention
        })
        .collect()
}
//> retention

/// The cluster-wide broker resource: only the defaults set dynamically, as Kafka shows it.
fn cluster_default_entries(broker: &Broker) -> Vec<Entry> {
    let configs = broker.log.broker_configs("");
    let set = BROKER_CONFIGS.iter().filter_map(|&(name, _, config_type)| Some((name, config_type, configs.get(name)?)));
    set.map(|(name, config_type, value)| {
        let synonym = Synonym { name, value: value.clone(), source: SOURCE_DYNAMIC_DEFAULT_BROKER };
        Entry::new(name, config_type, false, vec![synonym])
    })
    .collect()
}
//< retention

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (mut resources, include_synonyms) = decode(r, req.version, req.flexible)?;
    // A resource named twice is described once: a request must not be able to multiply its response.
    let mut seen = std::collections::HashSet::new();
    resources.retain(|res| seen.insert((res.resource_type, res.resource_name)));
    let (version, flexible) = (req.version, req.flexible);
    w.i32("throttle_time_ms", 0);
    w.array_v("results", flexible, &resources, |w, res| {
        let result: Result<Vec<Entry>, (ErrorCode, String)> = match res.resource_type {
            RESOURCE_TOPIC => match broker.log.topic(res.resource_name) {
                Some(topic) => Ok(topic_entries(broker, &topic)),
                None => {
                    Err((ErrorCode::UnknownTopicOrPartition, format!("topic {} does not exist", res.resource_name)))
                }
            },
            /*> clients < retention
            RESOURCE_BROKER if res.resource_name.is_empty() || res.resource_name == broker.node_id().to_string() => {
                Ok(broker_entries(broker))
            }
            */
            //> retention
            RESOURCE_BROKER if res.resource_name.is_empty() => Ok(cluster_default_entries(broker)),
            RESOURCE_BROKER if res.resource_name == broker.node_id().to_string() => Ok(broker_entries(broker)),
            //< retention
            RESOURCE_BROKER => Err((ErrorCode::InvalidRequest, format!("this is broker {}", broker.node_id()))),
            other => Err((ErrorCode::InvalidRequest, format!("resource type {other} is not supported"))),
        };
        let (error, message, mut entries) = match result {
            Ok(entries) => (ErrorCode::None, None, entries),
            Err((code, message)) => (code, Some(message), Vec::new()),
        };
        // Null or empty: every config (as Kafka reads it).
        if let Some(keys) = res.configuration_keys.as_ref().filter(|k| !k.is_empty()) {
            entries.retain(|e| keys.contains(&e.name));
        }
        w.i16("error_code", error.code());
        w.nullable_string_v("error_message", message.as_deref(), flexible);
        w.i8("resource_type", res.resource_type);
        w.string_v("resource_name", res.resource_name, flexible);
        w.array_v("configs", flexible, &entries, |w, e| {
            w.string_v("name", e.name, flexible);
            w.nullable_string_v("value", Some(&e.value), flexible);
            /*> clients < retention
            w.bool("read_only", false);
            */
            w.bool("read_only", e.read_only); //> retention
            w.i8("config_source", e.source);
            w.bool("is_sensitive", false);
            /*> clients < retention
            // The one synonym a value has here is the setting itself, when the client asks for them.
            w.array_v("synonyms", flexible, if include_synonyms { std::slice::from_ref(e) } else { &[] }, |w, e| {
                w.string_v("name", e.name, flexible);
                w.nullable_string_v("value", Some(&e.value), flexible);
                w.i8("source", e.source);
                w.tagged_fields_v(flexible);
            });
            */
            //> retention
            // Every value the setting has, strongest first, when the client asks for them.
            w.array_v("synonyms", flexible, if include_synonyms { &e.synonyms[..] } else { &[] }, |w, s| {
                w.string_v("name", s.name, flexible);
                w.nullable_string_v("value", Some(&s.value), flexible);
                w.i8("source", s.source);
                w.tagged_fields_v(flexible);
            });
            //< retention
            if version >= 3 {
                w.i8("config_type", e.config_type);
                w.nullable_string_v("documentation", None, flexible);
            }
            w.tagged_fields_v(flexible);
        });
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.array_v("results", flexible, |r| {
        r.i16("error_code")?;
        r.nullable_string_v("error_message", flexible)?;
        r.i8("resource_type")?;
        r.string_v("resource_name", flexible)?;
        r.array_v("configs", flexible, |r| {
            r.string_v("name", flexible)?;
            r.nullable_string_v("value", flexible)?;
            r.bool("read_only")?;
            r.i8("config_source")?;
            r.bool("is_sensitive")?;
            r.array_v("synonyms", flexible, |r| {
                r.string_v("name", flexible)?;
                r.nullable_string_v("value", flexible)?;
                r.i8("source")?;
                r.tagged_fields_v("tagged_fields", flexible)
            })?;
            if version >= 3 {
                r.i8("config_type")?;
                r.nullable_string_v("documentation", flexible)?;
            }
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
