//! Retention and DeleteRecords (issue 12): old segments go, from memory and from disk; the log
//! start offset moves and every client is told; offsets are never handed out again; a restart
//! keeps the start; the in-memory log stays within its budget. Requests are encoded and answers
//! decoded by `kafka-protocol`, independent of the broker's codec.

mod common;
mod oracle;

use common::{Broker, TempDir, connect};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use oracle::{batch, call, delete_records, fetch, produce, s, topic_name};
use std::collections::HashMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A batch of 10 records of about 100 bytes each: about 1.1 KB.
fn records() -> bytes::Bytes {
    let value = "v".repeat(100);
    let records: Vec<(&str, &str)> = (0..10).map(|_| ("key", value.as_str())).collect();
    batch(&records, 0)
}

fn create(stream: &mut TcpStream, name: &str, configs: &[(&str, &str)]) -> i16 {
    let configs = configs.iter().map(|(k, v)| CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v))));
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(configs.collect()),
    ]);
    let response: CreateTopicsResponse = call(stream, 19, 7, &request);
    response.topics[0].error_code
}

/// ListOffsets of partition 0 (-2 earliest, -1 latest).
fn list_offset(stream: &mut TcpStream, topic: &str, timestamp: i64) -> i64 {
    oracle::list_offset(stream, topic, 0, timestamp)
}

/// Fetch v12 from `offset`: (error, log start offset).
fn fetch_start(stream: &mut TcpStream, topic: &str, offset: i64) -> (i16, i64) {
    let request = FetchRequest::default().with_replica_id(BrokerId(-1)).with_max_bytes(1 << 20).with_topics(vec![
        fetch_request::FetchTopic::default().with_topic(topic_name(topic)).with_partitions(vec![
            fetch_request::FetchPartition::default().with_fetch_offset(offset).with_partition_max_bytes(1 << 20),
        ]),
    ]);
    let response: FetchResponse = call(stream, 1, 12, &request);
    let p = &response.responses[0].partitions[0];
    (p.error_code, p.log_start_offset)
}

fn segment_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

#[test]
fn retention_bytes_drops_whole_old_segments_and_moves_the_start() {
    let dir = TempDir::new("retention-bytes");
    let properties = common::runner_files::server_properties(dir.path());
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    // Segments of 4 KB hold 3 batches; 8 KB are kept.
    assert_eq!(create(&mut stream, "kept", &[("segment.bytes", "4096"), ("retention.bytes", "8192")]), 0);
    let mut offsets = Vec::new();
    for _ in 0..30 {
        let (error, offset) = produce(&mut stream, "kept", 0, records());
        assert_eq!(error, 0);
        offsets.push(offset);
    }
    assert_eq!(offsets, (0..30).map(|i| i * 10).collect::<Vec<_>>(), "offsets as if nothing was dropped");
    let (earliest, latest) = (list_offset(&mut stream, "kept", -2), list_offset(&mut stream, "kept", -1));
    assert_eq!(latest, 300);
    // 8 KB or more kept: at least 8 batches, and at most 8 KB plus a segment.
    assert!((150..=220).contains(&earliest), "earliest {earliest}");
    assert_eq!(earliest % 30, 0, "the start is a segment's first offset");
    // Below the start: OFFSET_OUT_OF_RANGE, with the start to reset to.
    assert_eq!(fetch_start(&mut stream, "kept", 0), (1, earliest));
    let (error, _, bytes) = fetch(&mut stream, "kept", 0, earliest, 0, 1 << 20);
    assert_eq!(error, 0);
    assert_eq!(i64::from_be_bytes(bytes[..8].try_into().unwrap()), earliest, "served from the start");
    // On disk: the dropped segments' files are gone, the kept ones named after their first offset.
    let files = segment_files(&dir.path().join("kept-0"));
    assert_eq!(files.first().unwrap(), &format!("{earliest:020}.log"));
    assert_eq!(files.len() as i64, (300 - earliest) / 30, "{files:?}");
    let dropped = (earliest / 30) as usize;
    assert_eq!(broker.wait_for_log_lines("dropped segment", dropped), dropped, "one line per dropped segment");

    // A restart keeps the start and goes on at 300: no offset is handed out twice.
    drop(stream);
    drop(broker);
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!(list_offset(&mut stream, "kept", -2), earliest);
    assert_eq!(produce(&mut stream, "kept", 0, records()), (0, 300));
}

#[test]
fn retention_ms_drops_expired_segments_even_when_nothing_is_produced() {
    let dir = TempDir::new("retention-ms");
    let properties =
        format!("{}\nlog.retention.check.interval.ms=100", common::runner_files::server_properties(dir.path()));
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    // The test's records carry timestamps from 2023: far older than a minute.
    assert_eq!(create(&mut stream, "old", &[("retention.ms", "60000")]), 0);
    assert_eq!(create(&mut stream, "forever", &[("retention.ms", "-1")]), 0);
    for _ in 0..5 {
        assert_eq!(produce(&mut stream, "old", 0, records()).0, 0);
        assert_eq!(produce(&mut stream, "forever", 0, records()).0, 0);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while list_offset(&mut stream, "old", -2) < 50 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(list_offset(&mut stream, "old", -2), 50, "every expired record dropped");
    assert_eq!(list_offset(&mut stream, "old", -1), 50);
    assert_eq!(list_offset(&mut stream, "forever", -2), 0, "retention.ms=-1 keeps everything");
    // The active segment was rolled to drop it: an empty file named after the next offset.
    assert_eq!(segment_files(&dir.path().join("old-0")), vec![format!("{:020}.log", 50)]);
    drop(stream);
    drop(broker);
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!((list_offset(&mut stream, "old", -2), list_offset(&mut stream, "old", -1)), (50, 50));
    assert_eq!(produce(&mut stream, "old", 0, records()), (0, 50));
}

#[test]
fn delete_records_moves_the_start_at_every_version_and_survives_a_restart() {
    let dir = TempDir::new("delete-records");
    let properties = common::runner_files::server_properties(dir.path());
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!(create(&mut stream, "trim", &[("segment.bytes", "4096")]), 0);
    for _ in 0..12 {
        assert_eq!(produce(&mut stream, "trim", 0, records()).0, 0);
    }
    for (version, offset) in [(0, 15), (1, 35), (2, 65)] {
        assert_eq!(delete_records(&mut stream, version, "trim", 0, offset), (0, offset), "v{version}");
        assert_eq!(list_offset(&mut stream, "trim", -2), offset);
        assert_eq!(fetch_start(&mut stream, "trim", offset - 1), (1, offset));
    }
    // Below the start already: the start stays. Past the end: OFFSET_OUT_OF_RANGE.
    assert_eq!(delete_records(&mut stream, 2, "trim", 0, 20), (0, 65));
    assert_eq!(delete_records(&mut stream, 2, "trim", 0, 121).0, 1);
    assert_eq!(delete_records(&mut stream, 2, "trim", 7, 1).0, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert_eq!(delete_records(&mut stream, 2, "nowhere", 0, 1).0, 3);
    // Segments wholly before the start are gone (3 batches of 10 records per segment).
    let files = segment_files(&dir.path().join("trim-0"));
    assert_eq!(files.first().unwrap(), &format!("{:020}.log", 60), "{files:?}");
    drop(stream);
    drop(broker);
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!(list_offset(&mut stream, "trim", -2), 65, "the start from log-start-offset-checkpoint");
    assert_eq!(delete_records(&mut stream, 2, "trim", 0, -1), (0, 120), "-1: up to the high watermark");
    assert_eq!(list_offset(&mut stream, "trim", -1), 120);
}

#[test]
fn a_topic_created_again_does_not_inherit_the_old_ones_start() {
    let dir = TempDir::new("delete-records-recreate");
    let properties = common::runner_files::server_properties(dir.path());
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!(create(&mut stream, "again", &[]), 0);
    for _ in 0..5 {
        assert_eq!(produce(&mut stream, "again", 0, records()).0, 0);
    }
    assert_eq!(delete_records(&mut stream, 2, "again", 0, 40), (0, 40));
    let request = DeleteTopicsRequest::default().with_topic_names(vec![topic_name("again")]);
    let response: DeleteTopicsResponse = call(&mut stream, 20, 5, &request);
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(create(&mut stream, "again", &[]), 0);
    assert_eq!(produce(&mut stream, "again", 0, records()), (0, 0));
    drop(stream);
    drop(broker);
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!((list_offset(&mut stream, "again", -2), list_offset(&mut stream, "again", -1)), (0, 10));
}

#[test]
fn the_in_memory_log_stays_within_its_budget() {
    // A budget of 4 MiB: segments of 256 KiB at most; 40 MB produced over four topics. (The
    // records' 2023 timestamps must not expire them first.)
    let broker = Broker::start("log.memory.max.bytes=4194304\nlog.retention.ms=-1");
    let mut stream = connect(&broker);
    let value = "x".repeat(1000);
    let big: Vec<(&str, &str)> = (0..100).map(|_| ("k", value.as_str())).collect();
    let big = batch(&big, 0);
    for topic in ["a", "b", "c", "d"] {
        assert_eq!(create(&mut stream, topic, &[]), 0);
    }
    let rss_before = broker.rss();
    for i in 0..400 {
        let topic = ["a", "b", "c", "d"][i % 4];
        assert_eq!(produce(&mut stream, topic, 0, big.clone()).0, 0);
    }
    // The cleaner runs as soon as the budget is passed; give it a moment for the last batches.
    std::thread::sleep(Duration::from_millis(200));
    let kept: i64 = ["a", "b", "c", "d"]
        .iter()
        .map(|t| list_offset(&mut stream, t, -1) - list_offset(&mut stream, t, -2))
        .sum::<i64>();
    // Each batch is 100 records of about 1 KB: 4 MiB hold about 4,000 records.
    assert!((2_000..=5_000).contains(&kept), "{kept} records kept");
    let grown = broker.rss().saturating_sub(rss_before);
    assert!(grown < 32 << 20, "RSS grew by {} MiB for a 4 MiB budget", grown >> 20);
    // Each batch is about 100 KB and a segment holds two: 200 segments, about 20 of them kept.
    let dropped = broker.wait_for_log_lines("dropped segment", 150);
    assert!(dropped >= 150, "{dropped} segments dropped");
    assert_eq!(broker.log_lines_with(": retention."), 0, "every one for the budget (log.memory.max.bytes)");
    // What is kept is served, from each topic's new start.
    let start = list_offset(&mut stream, "d", -2);
    assert!(start > 0);
    let (error, _, bytes) = fetch(&mut stream, "d", 0, start, 0, 1 << 20);
    assert_eq!((error, i64::from_be_bytes(bytes[..8].try_into().unwrap())), (0, start));
}

#[test]
fn a_topics_retention_survives_a_restart() {
    let dir = TempDir::new("retention-config-restart");
    let properties = common::runner_files::server_properties(dir.path());
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!(create(&mut stream, "kept", &[("segment.bytes", "4096"), ("retention.bytes", "8192")]), 0);
    drop(stream);
    drop(broker);
    // After the restart the topic still drops by its own settings, not the broker's defaults.
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    for _ in 0..30 {
        assert_eq!(produce(&mut stream, "kept", 0, records()).0, 0);
    }
    let earliest = list_offset(&mut stream, "kept", -2);
    assert!((150..=220).contains(&earliest), "earliest {earliest}");
}

#[test]
fn retention_configs_are_checked_and_described() {
    let broker = Broker::start("log.retention.hours=2\nlog.segment.bytes=1048576");
    let mut stream = connect(&broker);
    assert_eq!(create(&mut stream, "bad", &[("retention.ms", "soon")]), 40, "INVALID_CONFIG");
    assert_eq!(create(&mut stream, "tiny", &[("segment.bytes", "1")]), 40);
    assert_eq!(create(&mut stream, "set", &[("retention.bytes", "1000000")]), 0);
    assert_eq!(
        create(&mut stream, "compacted", &[("cleanup.policy", "compact")]),
        0,
        "not a number, not checked as one"
    );
    let topic = configs_of(&mut stream, 2, "set");
    assert_eq!(topic["retention.bytes"], ("1000000".into(), 1), "DYNAMIC_TOPIC_CONFIG");
    assert_eq!(topic["retention.ms"], ("7200000".into(), 4), "from log.retention.hours: STATIC_BROKER_CONFIG");
    assert_eq!(topic["segment.bytes"], ("1048576".into(), 4));
    assert_eq!(topic["segment.ms"], ("604800000".into(), 5), "DEFAULT_CONFIG");
    let broker_configs = configs_of(&mut stream, 4, "1");
    assert_eq!(broker_configs["log.retention.ms"], ("7200000".into(), 4));
    assert_eq!(broker_configs["log.retention.bytes"], ("-1".into(), 5));
}

/// IncrementalAlterConfigs v1 on topic `name`: `(key, operation, value)` entries; the error code.
fn incremental_alter(
    stream: &mut TcpStream,
    name: &str,
    entries: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> i16 {
    incremental_alter_resource(stream, 2, name, entries, validate_only).0
}

/// IncrementalAlterConfigs v1 on one resource (type 2 topic, 4 broker): the error code and message.
fn incremental_alter_resource(
    stream: &mut TcpStream,
    resource_type: i8,
    name: &str,
    entries: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, String) {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs = entries
        .iter()
        .map(|(k, op, v)| AlterableConfig::default().with_name(s(k)).with_config_operation(*op).with_value(v.map(s)))
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_validate_only(validate_only).with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(configs),
    ]);
    let response: IncrementalAlterConfigsResponse = call(stream, 44, 1, &request);
    let answer = &response.responses[0];
    (answer.error_code, answer.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default())
}

/// AlterConfigs at `version` on broker resource `name`: the configs sent replace its dynamic
/// ones. The error code and message.
fn alter_broker(
    stream: &mut TcpStream,
    version: i16,
    name: &str,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> (i16, String) {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs = configs.iter().map(|(k, v)| AlterableConfig::default().with_name(s(k)).with_value(Some(s(v))));
    let request = AlterConfigsRequest::default().with_validate_only(validate_only).with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(s(name))
            .with_configs(configs.collect()),
    ]);
    let response: AlterConfigsResponse = call(stream, 33, version, &request);
    let answer = &response.responses[0];
    (answer.error_code, answer.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default())
}

/// One config of a resource as DescribeConfigs v4 shows it with `include_synonyms`: its value, its
/// source, whether it is read-only, and its synonyms as (name, value, source), strongest first.
fn described(
    stream: &mut TcpStream,
    resource_type: i8,
    name: &str,
    key: &str,
) -> (String, i8, bool, Vec<(String, String, i8)>) {
    let request = DescribeConfigsRequest::default().with_include_synonyms(true).with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configuration_keys(Some(vec![s(key)])),
    ]);
    let response: DescribeConfigsResponse = call(stream, 32, 4, &request);
    let text = |v: &Option<StrBytes>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let c = &response.results[0].configs[0];
    let synonyms = c.synonyms.iter().map(|s| (s.name.to_string(), text(&s.value), s.source)).collect();
    (text(&c.value), c.config_source, c.read_only, synonyms)
}

/// A resource's configs (type 2 topic, 4 broker) as DescribeConfigs v4 shows them:
/// key → (value, source).
fn configs_of(stream: &mut TcpStream, resource_type: i8, name: &str) -> HashMap<String, (String, i8)> {
    let request = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name)),
    ]);
    let response: DescribeConfigsResponse = call(stream, 32, 4, &request);
    response.results[0]
        .configs
        .iter()
        .map(|c| (c.name.to_string(), (c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(), c.config_source)))
        .collect()
}

fn topic_configs(stream: &mut TcpStream, name: &str) -> HashMap<String, (String, i8)> {
    configs_of(stream, 2, name)
}

#[test]
fn incremental_alter_configs_changes_a_topics_retention_live_and_for_good() {
    let dir = TempDir::new("alter-configs");
    let properties = common::runner_files::server_properties(dir.path());
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!(create(&mut stream, "live", &[("segment.bytes", "4096")]), 0);
    for _ in 0..30 {
        assert_eq!(produce(&mut stream, "live", 0, records()).0, 0);
    }
    assert_eq!(list_offset(&mut stream, "live", -2), 0, "no retention yet");
    // validate_only: checked, nothing changes.
    assert_eq!(incremental_alter(&mut stream, "live", &[("retention.bytes", 0, Some("8192"))], true), 0);
    assert_eq!(topic_configs(&mut stream, "live")["retention.bytes"], ("-1".into(), 5));
    assert_eq!(list_offset(&mut stream, "live", -2), 0);
    // SET: the topic's partitions follow at once.
    assert_eq!(incremental_alter(&mut stream, "live", &[("retention.bytes", 0, Some("8192"))], false), 0);
    assert_eq!(topic_configs(&mut stream, "live")["retention.bytes"], ("8192".into(), 1), "DYNAMIC_TOPIC_CONFIG");
    let earliest = list_offset(&mut stream, "live", -2);
    assert!((150..=220).contains(&earliest), "earliest {earliest}");
    // APPEND and SUBTRACT on a list; a number cannot be appended to; bad and unknown keys.
    assert_eq!(incremental_alter(&mut stream, "live", &[("cleanup.policy", 2, Some("compact"))], false), 0);
    assert_eq!(topic_configs(&mut stream, "live")["cleanup.policy"].0, "delete,compact");
    assert_eq!(incremental_alter(&mut stream, "live", &[("cleanup.policy", 3, Some("delete"))], false), 0);
    assert_eq!(topic_configs(&mut stream, "live")["cleanup.policy"].0, "compact");
    assert_eq!(incremental_alter(&mut stream, "live", &[("retention.ms", 2, Some("5"))], false), 40);
    assert_eq!(incremental_alter(&mut stream, "live", &[("retention.ms", 0, Some("soon"))], false), 40);
    assert_eq!(incremental_alter(&mut stream, "live", &[("no.such.key", 0, Some("1"))], false), 40);
    assert_eq!(incremental_alter(&mut stream, "nowhere", &[("retention.ms", 0, Some("1"))], false), 3);
    // A refused change changes nothing, not even its valid entries.
    let both = [("retention.ms", 0, Some("123")), ("segment.bytes", 0, Some("1"))];
    assert_eq!(incremental_alter(&mut stream, "live", &both, false), 40);
    assert_eq!(topic_configs(&mut stream, "live")["retention.ms"].1, 5, "still the default");
    // After a restart: the same settings, and the same behaviour.
    drop(stream);
    drop(broker);
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    let configs = topic_configs(&mut stream, "live");
    assert_eq!(
        (configs["retention.bytes"].clone(), configs["cleanup.policy"].clone()),
        (("8192".into(), 1), ("compact".into(), 1))
    );
    // DELETE: back to the default (no size limit), so nothing more is dropped.
    assert_eq!(incremental_alter(&mut stream, "live", &[("retention.bytes", 1, None)], false), 0);
    assert_eq!(topic_configs(&mut stream, "live")["retention.bytes"], ("-1".into(), 5));
    for _ in 0..10 {
        assert_eq!(produce(&mut stream, "live", 0, records()).0, 0);
    }
    assert_eq!(list_offset(&mut stream, "live", -2), earliest);
}

#[test]
fn alter_configs_replaces_a_topics_settings() {
    let broker = Broker::start("");
    let mut stream = connect(&broker);
    assert_eq!(create(&mut stream, "whole", &[("retention.ms", "1000"), ("segment.bytes", "4096")]), 0);
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    for (version, validate_only) in [(0, true), (1, false), (2, false)] {
        let retention = format!("{}", 60_000 + i32::from(version));
        let request = AlterConfigsRequest::default().with_validate_only(validate_only).with_resources(vec![
            AlterConfigsResource::default().with_resource_type(2).with_resource_name(s("whole")).with_configs(vec![
                AlterableConfig::default().with_name(s("retention.ms")).with_value(Some(s(&retention))),
            ]),
            AlterConfigsResource::default().with_resource_type(4).with_resource_name(s("2")),
        ]);
        let response: AlterConfigsResponse = call(&mut stream, 33, version, &request);
        assert_eq!(response.responses[0].error_code, 0, "v{version}");
        assert_eq!(response.responses[1].error_code, 42, "another broker: INVALID_REQUEST");
        let configs = topic_configs(&mut stream, "whole");
        if validate_only {
            assert_eq!(configs["retention.ms"], ("1000".into(), 1));
        } else {
            // segment.bytes was not sent: back to its default.
            assert_eq!(configs["retention.ms"], (retention, 1));
            assert_eq!(configs["segment.bytes"], ("1073741824".into(), 5));
        }
    }
}

// ---- dynamic broker configs: resource type 4, "" (the cluster) or the node id (this broker) ----

/// Sources of a config value (Kafka's ConfigSource).
const DYNAMIC_BROKER: i8 = 2;
const DYNAMIC_DEFAULT_BROKER: i8 = 3;
const STATIC_BROKER: i8 = 4;
const DEFAULT: i8 = 5;

#[test]
fn a_broker_default_set_live_drops_segments_of_topics_without_their_own_and_survives_a_restart() {
    let dir = TempDir::new("broker-configs");
    // Segments of 4 KB (3 batches) for every topic, from server.properties.
    let properties = format!("{}\nlog.segment.bytes=4096", common::runner_files::server_properties(dir.path()));
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!(create(&mut stream, "follows", &[]), 0);
    assert_eq!(create(&mut stream, "own", &[("retention.bytes", "-1")]), 0);
    for _ in 0..30 {
        assert_eq!(produce(&mut stream, "follows", 0, records()).0, 0);
        assert_eq!(produce(&mut stream, "own", 0, records()).0, 0);
    }
    let set = [("log.retention.bytes", 0, Some("8192"))];
    // validate_only: checked, nothing changes.
    assert_eq!(incremental_alter_resource(&mut stream, 4, "", &set, true).0, 0);
    assert_eq!(described(&mut stream, 4, "1", "log.retention.bytes").0, "-1");
    assert_eq!(list_offset(&mut stream, "follows", -2), 0);
    // The cluster-wide default: the topic without its own setting follows at once.
    assert_eq!(incremental_alter_resource(&mut stream, 4, "", &set, false).0, 0);
    let (value, source, read_only, _) = described(&mut stream, 4, "1", "log.retention.bytes");
    assert_eq!((value.as_str(), source, read_only), ("8192", DYNAMIC_DEFAULT_BROKER, false));
    assert_eq!(topic_configs(&mut stream, "follows")["retention.bytes"], ("8192".into(), DYNAMIC_DEFAULT_BROKER));
    assert_eq!(topic_configs(&mut stream, "own")["retention.bytes"], ("-1".into(), 1), "its own setting wins");
    let earliest = list_offset(&mut stream, "follows", -2);
    assert!((150..=220).contains(&earliest), "earliest {earliest}");
    assert_eq!(list_offset(&mut stream, "own", -2), 0);
    // This broker's own value wins over the cluster's; synonyms list every value, strongest first.
    let own = [("log.segment.bytes", 0, Some("8192"))];
    assert_eq!(incremental_alter_resource(&mut stream, 4, "", &[("log.segment.bytes", 0, Some("6000"))], false).0, 0);
    assert_eq!(incremental_alter_resource(&mut stream, 4, "1", &own, false).0, 0);
    let synonyms =
        |list: &[(&str, &str, i8)]| list.iter().map(|(n, v, s)| (n.to_string(), v.to_string(), *s)).collect();
    let expected: Vec<_> = synonyms(&[
        ("log.segment.bytes", "8192", DYNAMIC_BROKER),
        ("log.segment.bytes", "6000", DYNAMIC_DEFAULT_BROKER),
        ("log.segment.bytes", "4096", STATIC_BROKER),
        ("log.segment.bytes", "1073741824", DEFAULT),
    ]);
    assert_eq!(
        described(&mut stream, 4, "1", "log.segment.bytes"),
        ("8192".into(), DYNAMIC_BROKER, false, expected.clone())
    );
    // A topic's value lists its broker key's after its own.
    let topic = described(&mut stream, 2, "follows", "segment.bytes");
    assert_eq!((topic.0.as_str(), topic.1, topic.3), ("8192", DYNAMIC_BROKER, expected));
    // The cluster-wide resource shows only what was set for the cluster.
    assert_eq!(
        configs_of(&mut stream, 4, ""),
        HashMap::from([
            ("log.retention.bytes".into(), ("8192".into(), DYNAMIC_DEFAULT_BROKER)),
            ("log.segment.bytes".into(), ("6000".into(), DYNAMIC_DEFAULT_BROKER)),
        ])
    );

    // After a restart: the same values, from the metadata log's ConfigRecords, and the same behaviour.
    drop(stream);
    drop(broker);
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!(described(&mut stream, 4, "1", "log.segment.bytes").1, DYNAMIC_BROKER);
    assert_eq!(topic_configs(&mut stream, "follows")["retention.bytes"], ("8192".into(), DYNAMIC_DEFAULT_BROKER));
    assert_eq!(list_offset(&mut stream, "follows", -2), earliest);
    for _ in 0..10 {
        assert_eq!(produce(&mut stream, "follows", 0, records()).0, 0);
    }
    assert!(list_offset(&mut stream, "follows", -2) > earliest, "retention.bytes still applies");
    // DELETE: back to server.properties, or to Kafka's default.
    let delete = |key| [(key, 1, None)];
    assert_eq!(incremental_alter_resource(&mut stream, 4, "1", &delete("log.segment.bytes"), false).0, 0);
    assert_eq!(incremental_alter_resource(&mut stream, 4, "", &delete("log.segment.bytes"), false).0, 0);
    assert_eq!(incremental_alter_resource(&mut stream, 4, "", &delete("log.retention.bytes"), false).0, 0);
    assert_eq!(described(&mut stream, 4, "1", "log.segment.bytes").0, "4096");
    assert_eq!(described(&mut stream, 4, "1", "log.segment.bytes").1, STATIC_BROKER);
    assert_eq!(described(&mut stream, 4, "1", "log.retention.bytes").1, DEFAULT);
    assert!(configs_of(&mut stream, 4, "").is_empty());
    let kept = list_offset(&mut stream, "follows", -2);
    for _ in 0..10 {
        assert_eq!(produce(&mut stream, "follows", 0, records()).0, 0);
    }
    assert_eq!(list_offset(&mut stream, "follows", -2), kept, "no size limit any more");
}

#[test]
fn a_dynamic_log_retention_ms_expires_a_topic_that_has_none_of_its_own() {
    // Kept forever by server.properties; the records' timestamps are from 2023.
    let broker = Broker::start("log.retention.check.interval.ms=100\nlog.segment.bytes=4096\nlog.retention.ms=-1");
    let mut stream = connect(&broker);
    assert_eq!(create(&mut stream, "old", &[]), 0);
    assert_eq!(create(&mut stream, "forever", &[("retention.ms", "-1")]), 0);
    for _ in 0..6 {
        assert_eq!(produce(&mut stream, "old", 0, records()).0, 0);
        assert_eq!(produce(&mut stream, "forever", 0, records()).0, 0);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(list_offset(&mut stream, "old", -2), 0);
    assert_eq!(incremental_alter_resource(&mut stream, 4, "1", &[("log.retention.ms", 0, Some("60000"))], false).0, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while list_offset(&mut stream, "old", -2) < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(list_offset(&mut stream, "old", -2), 60, "every expired record dropped");
    assert_eq!(list_offset(&mut stream, "forever", -2), 0, "its own retention.ms=-1 keeps everything");
}

#[test]
fn alter_configs_replaces_the_broker_settings_and_message_max_bytes_applies_at_once() {
    let broker = Broker::start("message.max.bytes=100000");
    let mut stream = connect(&broker);
    assert_eq!(create(&mut stream, "sized", &[]), 0);
    for version in 0..=2 {
        // A batch of about 1.1 KB: over a limit of 1000.
        assert_eq!(alter_broker(&mut stream, version, "1", &[("message.max.bytes", "1000")], true).0, 0);
        assert_eq!(produce(&mut stream, "sized", 0, records()).0, 0, "v{version}: validate_only changes nothing");
        assert_eq!(alter_broker(&mut stream, version, "1", &[("message.max.bytes", "1000")], false).0, 0);
        assert_eq!(produce(&mut stream, "sized", 0, records()).0, 10, "v{version}: MESSAGE_TOO_LARGE");
        assert_eq!(described(&mut stream, 4, "1", "message.max.bytes").0, "1000");
        // The topic's max.message.bytes comes from it too.
        assert_eq!(topic_configs(&mut stream, "sized")["max.message.bytes"], ("1000".into(), DYNAMIC_BROKER));
        // AlterConfigs replaces: a key not sent goes back to server.properties.
        assert_eq!(alter_broker(&mut stream, version, "1", &[("log.retention.ms", "3600000")], false).0, 0);
        assert_eq!(described(&mut stream, 4, "1", "message.max.bytes").1, STATIC_BROKER);
        assert_eq!(produce(&mut stream, "sized", 0, records()).0, 0);
        assert_eq!(alter_broker(&mut stream, version, "1", &[], false).0, 0);
        assert_eq!(described(&mut stream, 4, "1", "log.retention.ms").1, DEFAULT);
    }
}

#[test]
fn broker_configs_that_cannot_change_are_refused_and_change_nothing() {
    let broker = Broker::start("node.id=3");
    let mut stream = connect(&broker);
    let set = |key, value| [(key, 0, Some(value))];
    // A read-only key: INVALID_REQUEST with Kafka's message, the same through both APIs.
    let read_only = incremental_alter_resource(&mut stream, 4, "", &set("log.retention.check.interval.ms", "1"), false);
    assert_eq!(read_only, (42, "Cannot update these configs dynamically: Set(log.retention.check.interval.ms)".into()));
    assert_eq!(alter_broker(&mut stream, 1, "3", &[("num.partitions", "3"), ("log.dirs", "/tmp")], false).0, 42);
    let (error, message) = alter_broker(&mut stream, 2, "3", &[("log.retention.hours", "1")], false);
    assert_eq!((error, message.contains("log.retention.hours")), (42, true), "{message}");
    // A bad value: INVALID_REQUEST too (Kafka's code for a broker value), naming the key.
    let (error, message) = incremental_alter_resource(&mut stream, 4, "3", &set("log.retention.ms", "soon"), false);
    assert_eq!((error, message.contains("log.retention.ms")), (42, true), "{message}");
    assert_eq!(incremental_alter_resource(&mut stream, 4, "3", &set("log.segment.bytes", "13"), false).0, 42);
    // A key the broker does not know: INVALID_CONFIG, naming it.
    let (error, message) = incremental_alter_resource(&mut stream, 4, "", &set("no.such.config", "1"), false);
    assert_eq!((error, message.contains("no.such.config")), (40, true), "{message}");
    // Not a list: no APPEND. Not this broker: INVALID_REQUEST, as Kafka says it.
    let append = [("log.retention.ms", 2, Some("5"))];
    assert_eq!(incremental_alter_resource(&mut stream, 4, "3", &append, false).0, 40);
    let other = incremental_alter_resource(&mut stream, 4, "1", &set("log.retention.ms", "5"), false);
    assert_eq!(other, (42, "Unexpected broker id, expected 3, but received 1".into()));
    assert_eq!(incremental_alter_resource(&mut stream, 4, "x", &set("log.retention.ms", "5"), false).0, 42);
    // One bad entry refuses the whole resource: the good one is not applied either.
    let both = [("log.retention.ms", 0, Some("5000")), ("log.roll.ms", 0, Some("0"))];
    assert_eq!(incremental_alter_resource(&mut stream, 4, "3", &both, false).0, 42);
    assert_eq!(described(&mut stream, 4, "3", "log.retention.ms").1, DEFAULT);
    // DescribeConfigs says which keys can change.
    assert!(described(&mut stream, 4, "3", "log.retention.check.interval.ms").2, "read-only");
    assert!(!described(&mut stream, 4, "3", "log.roll.ms").2);
    assert!(configs_of(&mut stream, 4, "").is_empty());
}
