//> vt6
//! The CodeCrafters runner's side of a stage, rebuilt for the tests (`stages/REFERENCE.md`
//! describes it):
//!
//! 1. the files it writes before starting the broker, byte for byte, so a test can give the
//!    broker exactly what the runner gives it: `meta.properties`, the cluster metadata log, the
//!    partition logs and their `partition.metadata`;
//! 2. the batches it sends in Produce requests and how it reads them back from disk.
//!
//! Written independently of `src/`, CRC-32C included, so that it can serve as an oracle: a broker
//! bug cannot hide behind a matching bug in the test's own encoder.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

/// Timestamps the runner puts in its batches.
pub const FEATURE_TIMESTAMP: i64 = 1726045943832;
pub const TOPICS_TIMESTAMP: i64 = 1726045957397;
pub const MESSAGE_TIMESTAMP: i64 = 1726045973899;

/// `10000000-0000-4000-8000-000000000001`: the log directory id, listed in every PartitionRecord.
pub const DIRECTORY_ID: [u8; 16] = [0x10, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1];

/// A topic id in the runner's pattern `71a59a51-8968-4f8b-937e-<tail as 12 hex digits>`.
pub fn topic_id(tail: u64) -> [u8; 16] {
    let mut id = [0x71, 0xa5, 0x9a, 0x51, 0x89, 0x68, 0x4f, 0x8b, 0x93, 0x7e, 0, 0, 0, 0, 0, 0];
    id[10..].copy_from_slice(&tail.to_be_bytes()[2..]);
    id
}

/// A topic as the runner generates it: a name, an id, and the messages of each partition
/// (`partitions[i]` = the messages of partition i; empty = a 0-byte log file).
pub struct RunnerTopic {
    pub name: &'static str,
    pub id: [u8; 16],
    pub partitions: Vec<Vec<&'static str>>,
}

// ---------------------------------------------------------------------------------------------
// Varints and record batches

/// CRC-32C (Castagnoli), bit by bit: slow and short, and written independently of the broker's.
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}

/// UNSIGNED_VARINT: 7 bits per byte, least significant first, high bit = "more follows".
pub fn unsigned_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// VARINT/VARLONG: zigzag first, so small negative numbers stay short (-1 → `01`).
pub fn varint(n: i64, out: &mut Vec<u8>) {
    unsigned_varint(((n << 1) ^ (n >> 63)) as u64, out);
}

/// One record: null key, `value`, and `headers_count` (the runner writes -1 in partition logs it
/// generates, 0 in the batches it produces).
pub fn record(offset_delta: i64, value: &[u8], headers_count: i64) -> Vec<u8> {
    let mut body = vec![0u8]; // attributes
    varint(0, &mut body); // timestamp_delta
    varint(offset_delta, &mut body);
    varint(-1, &mut body); // key: null
    varint(value.len() as i64, &mut body);
    body.extend_from_slice(value);
    varint(headers_count, &mut body);
    let mut out = Vec::new();
    varint(body.len() as i64, &mut out);
    out.extend(body);
    out
}

/// The header fields that differ between the runner's batches.
#[derive(Clone, Copy)]
pub struct BatchFields {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

/// A magic-2 record batch holding `records` (already encoded), uncompressed.
pub fn record_batch(f: BatchFields, records: &[Vec<u8>]) -> Vec<u8> {
    // The CRC covers everything from `attributes` on, so build that part first.
    let mut tail = Vec::new();
    tail.extend(0i16.to_be_bytes()); // attributes
    tail.extend((records.len() as i32 - 1).to_be_bytes()); // last_offset_delta
    tail.extend(f.timestamp.to_be_bytes()); // base_timestamp
    tail.extend(f.timestamp.to_be_bytes()); // max_timestamp
    tail.extend(f.producer_id.to_be_bytes());
    tail.extend(f.producer_epoch.to_be_bytes());
    tail.extend(f.base_sequence.to_be_bytes());
    tail.extend((records.len() as i32).to_be_bytes());
    records.iter().for_each(|r| tail.extend(r));

    let mut batch = Vec::with_capacity(21 + tail.len());
    batch.extend(f.base_offset.to_be_bytes());
    batch.extend((4 + 1 + 4 + tail.len() as i32).to_be_bytes()); // batch_length: epoch + magic + crc + tail
    batch.extend(f.partition_leader_epoch.to_be_bytes());
    batch.push(2); // magic
    batch.extend(crc32c(&tail).to_be_bytes());
    batch.extend(tail);
    batch
}

/// The batch the runner writes for message number `offset` of a partition log: one record,
/// header count -1.
pub fn runner_message_batch(offset: i64, value: &str) -> Vec<u8> {
    let f = BatchFields {
        base_offset: offset,
        partition_leader_epoch: 0,
        timestamp: MESSAGE_TIMESTAMP,
        producer_id: 0,
        producer_epoch: 0,
        base_sequence: 0,
    };
    record_batch(f, &[record(0, value.as_bytes(), -1)])
}

/// The batch the runner sends in a Produce request: n records, header count 0.
pub fn producer_batch(values: &[&str]) -> Vec<u8> {
    let f = BatchFields {
        base_offset: 0,
        partition_leader_epoch: 0,
        timestamp: MESSAGE_TIMESTAMP,
        producer_id: 0,
        producer_epoch: 0,
        base_sequence: 0,
    };
    let records: Vec<Vec<u8>> = values.iter().enumerate().map(|(i, v)| record(i as i64, v.as_bytes(), 0)).collect();
    record_batch(f, &records)
}

/// A partition log as the runner writes it: one batch per message, offsets 0, 1, 2, ...
pub fn partition_log(messages: &[&str]) -> Vec<u8> {
    messages.iter().enumerate().flat_map(|(i, m)| runner_message_batch(i as i64, m)).collect()
}

// ---------------------------------------------------------------------------------------------
// The cluster metadata log

fn compact_string(s: &str, out: &mut Vec<u8>) {
    unsigned_varint(s.len() as u64 + 1, out);
    out.extend_from_slice(s.as_bytes());
}

/// FeatureLevelRecord `metadata.version` = 20 (frame 1, type 12, version 0).
pub fn feature_level_value() -> Vec<u8> {
    let mut v = vec![1, 12, 0];
    compact_string("metadata.version", &mut v);
    v.extend(20i16.to_be_bytes());
    v.push(0); // tagged fields
    v
}

/// TopicRecord (frame 1, type 2, version 0).
pub fn topic_record_value(name: &str, id: [u8; 16]) -> Vec<u8> {
    let mut v = vec![1, 2, 0];
    compact_string(name, &mut v);
    v.extend(id);
    v.push(0);
    v
}

/// PartitionRecord (frame 1, type 3, version 1) with the runner's fixed values.
pub fn partition_record_value(partition: i32, topic: [u8; 16]) -> Vec<u8> {
    let mut v = vec![1, 3, 1];
    v.extend(partition.to_be_bytes());
    v.extend(topic);
    v.extend([2, 0, 0, 0, 1]); // replicas [1]
    v.extend([2, 0, 0, 0, 1]); // isr [1]
    v.push(1); // removing_replicas []
    v.push(1); // adding_replicas []
    v.extend(1i32.to_be_bytes()); // leader
    v.extend(0i32.to_be_bytes()); // leader_epoch
    v.extend(0i32.to_be_bytes()); // partition_epoch
    v.push(2); // directories: one
    v.extend(DIRECTORY_ID);
    v.push(0); // tagged fields
    v
}

fn metadata_batch(base_offset: i64, timestamp: i64, values: &[Vec<u8>]) -> Vec<u8> {
    let f = BatchFields {
        base_offset,
        partition_leader_epoch: 1,
        timestamp,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
    let records: Vec<Vec<u8>> = values.iter().enumerate().map(|(i, v)| record(i as i64, v, 0)).collect();
    record_batch(f, &records)
}

/// The runner's first metadata batch: base_offset 1 (not 0), one FeatureLevelRecord (91 bytes).
pub fn feature_level_batch() -> Vec<u8> {
    metadata_batch(1, FEATURE_TIMESTAMP, &[feature_level_value()])
}

/// One topic's metadata batch: its TopicRecord, then a PartitionRecord per partition.
pub fn topic_batch(base_offset: i64, topic: &RunnerTopic) -> Vec<u8> {
    let mut values = vec![topic_record_value(topic.name, topic.id)];
    values.extend((0..topic.partitions.len() as i32).map(|p| partition_record_value(p, topic.id)));
    metadata_batch(base_offset, TOPICS_TIMESTAMP, &values)
}

/// The whole metadata log: the feature batch, then a batch per topic in generation order (not
/// sorted), offsets continuing from 2.
pub fn metadata_log(topics: &[RunnerTopic]) -> Vec<u8> {
    let mut log = feature_level_batch();
    let mut next_offset = 2;
    for t in topics {
        log.extend(topic_batch(next_offset, t));
        next_offset += 1 + t.partitions.len() as i64;
    }
    log
}

// ---------------------------------------------------------------------------------------------
// The directory

/// Standard base64 with `=` padding, as in `partition.metadata` and `directory.id`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char } else { '=' });
        }
    }
    out
}

/// `/tmp/server.properties` as the runner writes it, pointing at `log_dir` instead.
pub fn server_properties(log_dir: &Path) -> String {
    format!(
        "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\n\
         listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n\
         log.dirs={}",
        log_dir.display()
    )
}

/// What every stage has: `meta.properties` and `.kafka_cleanshutdown` (no metadata log).
pub fn write_base_files(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("meta.properties"),
        "#\n#Mon Nov 23 09:03:03 UTC 2026\ncluster.id=IAAAAAAAQACAAAAAAAAAAQ\ndirectory.id=EAAAAAAAQACAAAAAAAAAAQ==\nnode.id=1\nversion=1\n",
    )
    .unwrap();
    fs::write(dir.join(".kafka_cleanshutdown"), r#"{"version":0,"brokerEpoch":10}"#).unwrap();
}

/// Everything a topic stage has: the base files, the metadata log, and for each partition its
/// directory with `partition.metadata` and its log (0 bytes when it has no messages).
pub fn write_runner_files(dir: &Path, topics: &[RunnerTopic]) {
    write_base_files(dir);
    let meta_dir = dir.join("__cluster_metadata-0");
    fs::create_dir_all(&meta_dir).unwrap();
    fs::write(meta_dir.join("00000000000000000000.log"), metadata_log(topics)).unwrap();
    fs::write(meta_dir.join("partition.metadata"), "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ").unwrap();
    for t in topics {
        for (p, messages) in t.partitions.iter().enumerate() {
            let pdir = dir.join(format!("{}-{p}", t.name));
            fs::create_dir_all(&pdir).unwrap();
            fs::write(pdir.join("partition.metadata"), format!("version: 0\ntopic_id: {}", base64(&t.id))).unwrap();
            fs::write(pdir.join("00000000000000000000.log"), partition_log(messages)).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading back, as the runner does

/// The runner's disk check after Produce: decode one batch at byte 0 of the partition's
/// first segment, check its length and CRC, and return its CRC.
pub fn crc_of_first_batch_on_disk(dir: &Path, topic: &str, partition: i32) -> u32 {
    let path = dir.join(format!("{topic}-{partition}")).join("00000000000000000000.log");
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() >= 61, "{}: {} bytes, too short for a batch", path.display(), bytes.len());
    let batch_length = i32::from_be_bytes(bytes[8..12].try_into().unwrap());
    assert!(
        batch_length > 0 && 12 + batch_length as usize <= bytes.len(),
        "{}: bad batch_length {batch_length}",
        path.display()
    );
    let batch = &bytes[..12 + batch_length as usize];
    let stored = u32::from_be_bytes(batch[17..21].try_into().unwrap());
    assert_eq!(stored, crc32c(&batch[21..]), "{}: stored CRC does not match the bytes", path.display());
    stored
}

// ---------------------------------------------------------------------------------------------
// The data set of each stage: one definition, used by the tests and by the guide's try-it step

/// The one message per partition of the listing stages (the runner writes six words).
pub const SIX_WORDS: &str = "apple banana pear grape mango orange";

/// The topics the runner would write for a stage (by slug), with this guide's fixed names and
/// ids; `stages/<stage>/README.md` describes them and the fixtures are computed from them.
/// Stages without topics have none (and no metadata log at all).
pub fn stage_topics(slug: &str) -> Vec<RunnerTopic> {
    let t = |name, tail, partitions| RunnerTopic { name, id: topic_id(tail), partitions };
    match slug {
        "vt6" => vec![t("banana", 0x0ba1, vec![vec![SIX_WORDS]])],
        "ea7" => vec![t("pear", 0x0ea7, vec![vec![SIX_WORDS]])],
        "ku4" => vec![t("apple", 0x07d1, vec![vec![SIX_WORDS], vec![SIX_WORDS]])],
        // Generated (and requested) pear first: not sorted.
        "wq2" => {
            vec![t("pear", 0x0b02, vec![vec![SIX_WORDS]]), t("apple", 0x0a02, vec![vec![SIX_WORDS], vec![SIX_WORDS]])]
        }
        "hn6" => vec![t("mango", 0x0b2d, vec![vec![SIX_WORDS]])],
        "cm4" => vec![t("strawberry", 0x0c34, vec![vec![]])],
        "eg2" => vec![t("raspberry", 0x0e62, vec![vec!["blueberry"]])],
        "fd8" => vec![t("pineapple", 0x0fd8, vec![vec!["apple", "banana", "grape"]])],
        "zf2" => vec![t("apple", 0x0f22, vec![vec!["orange"]])],
        "gg1" => vec![t("orange", 0x0991, vec![vec![]])],
        "ls8" => vec![t("pear", 0x0158, vec![vec![]])],
        "yd8" => vec![t("apple", 0x0d8d, vec![vec![]])],
        "ct4" => vec![t("banana", 0x0c74, vec![vec![], vec![], vec![]])],
        "ov0" => vec![t("grape", 0x0a00, vec![vec![], vec![]]), t("blueberry", 0x0b00, vec![vec![]])],
        //> clients
        // Beyond the course: one empty topic for the clients, two partitions for a group to share.
        "clients" => vec![t("greetings", 0x0c1e, vec![vec![]])],
        //< clients
        "groups" => vec![t("orders", 0x0a27, vec![vec![], vec![]])], //> groups
        //> retention
        "retention" => {
            vec![t("events", 0x0e7e, vec![vec!["event-0", "event-1", "event-2", "event-3", "event-4", "event-5"]])]
        }
        //< retention
        _ => vec![],
    }
}

/// Writes a stage's files into `dir` as the runner would: the base files always, the metadata
/// log and partition directories when the stage has topics.
pub fn write_stage_files(dir: &Path, slug: &str) {
    let topics = stage_topics(slug);
    if topics.is_empty() {
        write_base_files(dir);
    } else {
        write_runner_files(dir, &topics);
    }
}

/// For the guide's try-it step (`cargo run -q --example stage_files -- ea7`): writes
/// `/tmp/mini-kafka-stages/ea7/logs/` and `/tmp/mini-kafka-stages/ea7/server.properties` (a fresh
/// copy each time), for `cargo run --release --bin mini-kafka -- /tmp/mini-kafka-stages/ea7/server.properties`.
pub fn write_try_it_files(slug: &str) {
    let root = std::env::temp_dir().join("mini-kafka-stages").join(slug);
    let logs = root.join("logs");
    let _ = fs::remove_dir_all(&logs);
    write_stage_files(&logs, slug);
    fs::write(root.join("server.properties"), server_properties(&logs)).unwrap();
    println!("wrote {} and {}", logs.display(), root.join("server.properties").display());
}
//< vt6
