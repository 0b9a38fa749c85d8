//! Retention and DeleteRecords (issue 12): old segments go, from memory and from disk; the log
//! start offset moves and every client is told; offsets are never handed out again; a restart
//! keeps the start; the in-memory log stays within its budget. Requests are encoded and answers
//! decoded by `kafka-protocol`, independent of the broker's codec.

mod common;
mod oracle;

use common::{Broker, TempDir, connect};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::*;
use oracle::{batch, call, fetch, produce, s, topic_name};
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

/// ListOffsets v8 with `timestamp` (-2 earliest, -1 latest).
fn list_offset(stream: &mut TcpStream, topic: &str, timestamp: i64) -> i64 {
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(timestamp)]),
    ]);
    let response: ListOffsetsResponse = call(stream, 2, 8, &request);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
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

fn delete_records(stream: &mut TcpStream, version: i16, topic: &str, partition: i32, offset: i64) -> (i16, i64) {
    let request = DeleteRecordsRequest::default().with_timeout_ms(5000).with_topics(vec![
        DeleteRecordsTopic::default().with_name(topic_name(topic)).with_partitions(vec![
            DeleteRecordsPartition::default().with_partition_index(partition).with_offset(offset),
        ]),
    ]);
    let response: DeleteRecordsResponse = call(stream, 21, version, &request);
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.low_watermark)
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
    assert_eq!(broker.log_lines_with("dropped segment"), (earliest / 30) as usize, "one line per dropped segment");

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
    let rss_before = rss(&broker);
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
    let grown = rss(&broker).saturating_sub(rss_before);
    assert!(grown < 32 << 20, "RSS grew by {} MiB for a 4 MiB budget", grown >> 20);
    let dropped = broker.log_lines_with("dropped segment");
    assert!(dropped > 100, "{dropped} segments dropped");
    assert_eq!(broker.log_lines_with("log.memory.max.bytes"), dropped, "each for the budget, each said once");
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
    let describe = |stream: &mut TcpStream, resource_type: i8, name: &str| {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name)),
        ]);
        let response: DescribeConfigsResponse = call(stream, 32, 4, &request);
        response.results[0]
            .configs
            .iter()
            .map(|c| (c.name.to_string(), (c.value.as_ref().map(|v| v.to_string()), c.config_source)))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let topic = describe(&mut stream, 2, "set");
    assert_eq!(topic["retention.bytes"], (Some("1000000".into()), 1), "DYNAMIC_TOPIC_CONFIG");
    assert_eq!(topic["retention.ms"], (Some("7200000".into()), 4), "from log.retention.hours: STATIC_BROKER_CONFIG");
    assert_eq!(topic["segment.bytes"], (Some("1048576".into()), 4));
    assert_eq!(topic["segment.ms"], (Some("604800000".into()), 5), "DEFAULT_CONFIG");
    let broker_configs = describe(&mut stream, 4, "1");
    assert_eq!(broker_configs["log.retention.ms"], (Some("7200000".into()), 4));
    assert_eq!(broker_configs["log.retention.bytes"], (Some("-1".into()), 5));
}

fn rss(broker: &Broker) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", broker.pid())).unwrap();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().split_whitespace().next().unwrap();
    kb.parse::<u64>().unwrap() * 1024
}
