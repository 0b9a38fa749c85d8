//! Damaged files and failed writes (issue 11). What was acknowledged is never quietly lost: a
//! flipped byte on disk either stops the start with the file and the byte named, or leaves every
//! record served; only a torn tail (a crash mid-write) is cut; a directory that belongs to no
//! topic is moved aside, not adopted; and a write that fails reaches the client as
//! KAFKA_STORAGE_ERROR (56), with memory and disk left as they were.

mod common;
mod oracle;

use common::runner_files::server_properties;
use common::{Broker, TempDir, connect, start_with_log_dir};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::*;
use mini_kafka::log::batch as record_batch;
use mini_kafka::log::{Log, metadata, segment};
use mini_kafka::wire::Uuid;
use oracle::{batch, call, create_topic, fetch, partition_count, produce, topic_name};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KAFKA_STORAGE_ERROR: i16 = 56;

/// Starts the broker on `dir`, expecting it to refuse: returns what it wrote to stderr.
fn refused_start(dir: &Path) -> String {
    let config = TempDir::new("config");
    let properties = config.path().join("server.properties");
    std::fs::write(&properties, format!("{}\nlisteners=PLAINTEXT://127.0.0.1:0\n", server_properties(dir))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mini-kafka"))
        .arg(&properties)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the broker started on a damaged log");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The values of every record in `bytes`, a run of batches.
fn values(bytes: &[u8]) -> Vec<Vec<u8>> {
    let (batches, _) = record_batch::split(bytes);
    let records = batches.iter().flat_map(|(_, b)| record_batch::records(b).unwrap());
    records.map(|r| r.value.unwrap_or_default().to_vec()).collect()
}

/// A partition directory with 101 one-record batches ("value 0".."value 100") at offsets 0..=100.
fn partition_with_101_batches(dir: &Path, id: Uuid) -> Vec<u8> {
    segment::load(dir, id).unwrap();
    let mut file = Vec::new();
    for i in 0..=100 {
        file.extend(record_batch::build(i, 1_700_000_000_000, &[format!("value {i}").into_bytes()]));
    }
    std::fs::write(dir.join(segment::FIRST_SEGMENT), &file).unwrap();
    file
}

#[test]
fn a_flipped_byte_anywhere_in_a_segment_stops_the_load_or_loses_nothing() {
    let dir = TempDir::new("flip-sweep");
    let id = Uuid::random();
    let partition = dir.path().join("t-0");
    let good = partition_with_101_batches(&partition, id);
    let expected = values(&good);
    let path = partition.join(segment::FIRST_SEGMENT);
    let (mut refused, mut loaded) = (0, 0);
    for (at, flip) in (0..good.len()).flat_map(|at| [(at, 0xff), (at, 0x01)]) {
        let mut flipped = good.clone();
        flipped[at] ^= flip;
        std::fs::write(&path, &flipped).unwrap();
        match segment::load(&partition, id) {
            Err(e) => {
                let message = e.to_string();
                assert!(message.contains(&path.display().to_string()), "byte {at}: {message}");
                assert!(message.contains("damaged at byte "), "byte {at}: {message}");
                assert_eq!(std::fs::read(&path).unwrap(), flipped, "byte {at}: the file is left as it is");
                refused += 1;
            }
            Ok((batches, _)) => {
                // Bytes the CRC does not cover (base offset, leader epoch) of the last batch:
                // every record is still there, and no offset can be handed out again.
                let stored: Vec<u8> = batches.iter().flat_map(|b| b.bytes.to_vec()).collect();
                assert_eq!(values(&stored), expected, "byte {at}: loaded, so nothing may be missing");
                assert!(batches.last().unwrap().last_offset >= 100, "byte {at}: an offset would be reused");
                loaded += 1;
            }
        }
    }
    assert!(refused > 2 * good.len() * 9 / 10, "{refused} refused, {loaded} loaded");

    // A crash mid-write, though, cut anywhere in the last batch: that batch is cut off, never
    // acknowledged, and everything before it is served.
    let last = record_batch::split(&good).0.last().unwrap().1.len();
    for cut in good.len() - last + 1..good.len() {
        std::fs::write(&path, &good[..cut]).unwrap();
        let (batches, _) = segment::load(&partition, id).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(batches.len(), 100, "cut at {cut}");
        assert_eq!(std::fs::read(&path).unwrap(), good[..good.len() - last], "cut at {cut}: the torn tail is cut");
    }
}

#[test]
fn a_flipped_byte_anywhere_in_the_metadata_log_stops_the_load_or_loses_no_topic() {
    let dir = TempDir::new("meta-sweep");
    {
        let log = Log::open(dir.path()).unwrap();
        for (name, partitions) in [("m1", 1), ("m2", 3), ("m3", 2)] {
            log.create_topic(name, partitions, 1, BTreeMap::new()).unwrap();
        }
        log.delete_topic("m1").unwrap();
    }
    let summary = |topics: &[metadata::TopicMeta]| -> Vec<(String, Uuid, usize)> {
        topics.iter().map(|t| (t.name.clone(), t.id, t.partitions.len())).collect()
    };
    let expected = summary(&metadata::load(dir.path()).unwrap().1);
    assert_eq!(expected.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(), ["m2", "m3"]);
    let path = dir.path().join("__cluster_metadata-0/00000000000000000000.log");
    let good = std::fs::read(&path).unwrap();
    let mut refused = 0;
    for at in 0..good.len() {
        let mut flipped = good.clone();
        flipped[at] ^= 0xff;
        std::fs::write(&path, &flipped).unwrap();
        match metadata::load(dir.path()) {
            Err(e) => {
                assert!(e.to_string().contains("damaged at byte "), "byte {at}: {e}");
                assert_eq!(std::fs::read(&path).unwrap(), flipped, "byte {at}: the file is left as it is");
                refused += 1;
            }
            Ok((_, topics, _)) => assert_eq!(summary(&topics), expected, "byte {at}: loaded, so no topic may be lost"),
        }
    }
    assert!(refused > good.len() * 8 / 10, "{refused} of {} refused", good.len());
}

#[test]
fn a_damaged_segment_stops_the_broker_naming_the_file_and_the_byte() {
    let dir = TempDir::new("flip-start");
    let sizes: Vec<usize>;
    {
        let broker = start_with_log_dir(dir.path());
        let mut stream = connect(&broker);
        create_topic(&mut stream, "held", 1);
        sizes = (0..101)
            .map(|i| {
                let records = batch(&[("k", &format!("record {i}"))], 0);
                assert_eq!(produce(&mut stream, "held", 0, records.clone()), (0, i as i64));
                records.len()
            })
            .collect();
    }
    let path = dir.path().join("held-0").join(segment::FIRST_SEGMENT);
    let good = std::fs::read(&path).unwrap();
    let batch_10: usize = sizes[..10].iter().sum();
    let mut flipped = good.clone();
    flipped[batch_10 + 40] ^= 0x01;
    std::fs::write(&path, &flipped).unwrap();

    let stderr = refused_start(dir.path());
    assert!(stderr.contains(&format!("{}: damaged at byte {batch_10}", path.display())), "{stderr}");
    assert_eq!(std::fs::read(&path).unwrap(), flipped, "nothing cut");

    // Put right, every record is back and the next offset is 101.
    std::fs::write(&path, &good).unwrap();
    let broker = start_with_log_dir(dir.path());
    let mut stream = connect(&broker);
    let (error, high_watermark, records) = fetch(&mut stream, "held", 0, 0, 0, 1 << 20);
    assert_eq!((error, high_watermark, records.len()), (0, 101, good.len()));
    assert_eq!(produce(&mut stream, "held", 0, batch(&[("k", "next")], 0)), (0, 101));
}

#[test]
fn a_damaged_metadata_log_or_a_foreign_partition_directory_stops_the_broker() {
    let dir = TempDir::new("meta-start");
    {
        let broker = start_with_log_dir(dir.path());
        let mut stream = connect(&broker);
        for name in ["m1", "m2", "m3"] {
            create_topic(&mut stream, name, 1);
        }
    }
    let path = dir.path().join("__cluster_metadata-0/00000000000000000000.log");
    let good = std::fs::read(&path).unwrap();
    let mut flipped = good.clone();
    flipped[40] ^= 0x01; // in the first batch: every topic after it would be gone
    std::fs::write(&path, &flipped).unwrap();
    let stderr = refused_start(dir.path());
    assert!(stderr.contains(&format!("{}: damaged at byte 0", path.display())), "{stderr}");
    std::fs::write(&path, &good).unwrap();

    // m2's partition directory claims to belong to another topic.
    let meta = dir.path().join("m2-0/partition.metadata");
    let original = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let stderr = refused_start(dir.path());
    assert!(stderr.contains(&meta.display().to_string()) && stderr.contains("AAAAAAAAAAAAAAAAAAAAAA"), "{stderr}");
    std::fs::write(&meta, original).unwrap();
    let broker = start_with_log_dir(dir.path());
    let mut stream = connect(&broker);
    for name in ["m1", "m2", "m3"] {
        assert_eq!(partition_count(&mut stream, name), Some(1), "{name}");
    }
}

#[test]
fn a_directory_left_by_another_topic_is_moved_aside_not_served() {
    let dir = TempDir::new("leftover");
    {
        let broker = start_with_log_dir(dir.path());
        let mut stream = connect(&broker);
        create_topic(&mut stream, "old", 1);
        assert_eq!(produce(&mut stream, "old", 0, batch(&[("k", "old record")], 0)), (0, 0));
    }
    // As if a topic "m2" had been deleted while its files could not be removed.
    let status = Command::new("cp").arg("-r").arg(dir.path().join("old-0")).arg(dir.path().join("m2-0")).status();
    assert!(status.unwrap().success());
    let broker = start_with_log_dir(dir.path());
    let mut stream = connect(&broker);
    create_topic(&mut stream, "m2", 1);
    let (error, high_watermark, records) = fetch(&mut stream, "m2", 0, 0, 0, 1 << 20);
    assert_eq!((error, high_watermark, records.len()), (0, 0, 0), "the new m2 is empty");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("m2-0.left-"))
        .collect();
    assert_eq!(aside.len(), 1, "kept aside");
    let kept = std::fs::read(dir.path().join(&aside[0]).join(segment::FIRST_SEGMENT)).unwrap();
    assert_eq!(values(&kept), [b"old record".to_vec()]);
    assert_eq!(broker.wait_for_log_lines("belongs to no topic", 1), 1);
}

fn create_topics(stream: &mut std::net::TcpStream, name: &str, partitions: i32) -> i16 {
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1),
    ]);
    let response: CreateTopicsResponse = call(stream, 19, 7, &request);
    response.topics[0].error_code
}

fn create_partitions(stream: &mut std::net::TcpStream, name: &str, count: i32) -> i16 {
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default().with_name(topic_name(name)).with_count(count)])
        .with_timeout_ms(5000);
    let response: CreatePartitionsResponse = call(stream, 37, 3, &request);
    response.results[0].error_code
}

fn delete_topics(stream: &mut std::net::TcpStream, name: &str) -> i16 {
    let request = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_name(Some(topic_name(name)))])
        .with_timeout_ms(5000);
    let response: DeleteTopicsResponse = call(stream, 20, 6, &request);
    response.responses[0].error_code
}

#[test]
fn topic_changes_that_cannot_be_written_are_storage_errors_and_change_nothing() {
    let dir = TempDir::new("meta-full");
    let broker = start_with_log_dir(dir.path());
    let mut stream = connect(&broker);
    create_topic(&mut stream, "before", 1);
    let metadata_log = dir.path().join("__cluster_metadata-0/00000000000000000000.log");
    let restore = common::replace_with_full_disk(&metadata_log);

    assert_eq!(create_topics(&mut stream, "new", 2), KAFKA_STORAGE_ERROR);
    assert_eq!(partition_count(&mut stream, "new"), None);
    assert!(!dir.path().join("new-0").exists(), "no directory left for a topic that is not");
    assert_eq!(create_partitions(&mut stream, "before", 3), KAFKA_STORAGE_ERROR);
    assert_eq!(partition_count(&mut stream, "before"), Some(1));
    assert!(!dir.path().join("before-1").exists());
    assert_eq!(delete_topics(&mut stream, "before"), KAFKA_STORAGE_ERROR);
    assert_eq!(produce(&mut stream, "before", 0, batch(&[("k", "still here")], 0)), (0, 0));

    restore();
    assert_eq!(create_topics(&mut stream, "new", 2), 0, "the name is free again");
    assert_eq!(create_partitions(&mut stream, "before", 3), 0);
    drop(broker);
    let broker = start_with_log_dir(dir.path());
    let mut stream = connect(&broker);
    assert_eq!((partition_count(&mut stream, "new"), partition_count(&mut stream, "before")), (Some(2), Some(3)));
    assert_eq!(fetch(&mut stream, "before", 0, 0, 0, 1 << 20).1, 1);
}

#[test]
fn a_produce_that_cannot_be_written_is_a_storage_error_and_no_offset_is_given() {
    let dir = TempDir::new("segment-full");
    let broker = start_with_log_dir(dir.path());
    let mut stream = connect(&broker);
    create_topic(&mut stream, "full", 1);
    let segment = dir.path().join("full-0").join(segment::FIRST_SEGMENT);
    let restore = common::replace_with_full_disk(&segment);
    let records = batch(&[("k", "v")], 0);
    assert_eq!(produce(&mut stream, "full", 0, records.clone()), (KAFKA_STORAGE_ERROR, -1));
    assert_eq!(fetch(&mut stream, "full", 0, 0, 0, 1 << 20).1, 0, "nothing to read");
    restore();
    assert_eq!(produce(&mut stream, "full", 0, records.clone()), (0, 0));
    drop(broker);
    let broker = start_with_log_dir(dir.path());
    let mut stream = connect(&broker);
    let (error, high_watermark, stored) = fetch(&mut stream, "full", 0, 0, 0, 1 << 20);
    assert_eq!((error, high_watermark, values(&stored)), (0, 1, vec![b"v".to_vec()]));
}

#[test]
fn max_partitions_holds_across_every_way_to_add_partitions() {
    let broker = Broker::start("max.partitions=20\nnum.partitions=4");
    let mut stream = connect(&broker);
    const INVALID_PARTITIONS: i16 = 37;
    assert_eq!(create_topics(&mut stream, "fifteen", 15), 0);
    assert_eq!(create_topics(&mut stream, "ten", 10), INVALID_PARTITIONS);
    assert_eq!(create_partitions(&mut stream, "fifteen", 18), 0);
    assert_eq!(create_partitions(&mut stream, "fifteen", 21), INVALID_PARTITIONS);
    // Metadata's auto-create asks for num.partitions (4): only 2 are left.
    let request = MetadataRequest::default()
        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default().with_name(Some(topic_name("auto")))]))
        .with_allow_auto_topic_creation(true);
    let response: MetadataResponse = call(&mut stream, 3, 12, &request);
    assert_eq!(response.topics[0].error_code, INVALID_PARTITIONS);
    assert_eq!(delete_topics(&mut stream, "fifteen"), 0);
    assert_eq!(create_topics(&mut stream, "ten", 10), 0, "deleted partitions are given back");
    assert_eq!(broker.wait_for_log_lines("max.partitions is 20", 3), 3);
}
