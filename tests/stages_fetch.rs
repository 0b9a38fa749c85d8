//> gs0
//! The CodeCrafters consuming-messages stages (gs0, dh6, hn6, cm4, eg2, fd8): Fetch v16 served from
//! the partition logs the runner writes. Each test writes the runner's files into a temporary log
//! dir, starts the broker on it and compares the answer with `stages/<stage>/response.hex`.

mod common;

use common::*;
//> dh6
use std::io::Write;
//< dh6
//> fd8
use common::runner_files::*;
//< fd8

#[test]
fn gs0_api_versions_lists_fetch_v16() {
    let broker = start_default();
    let stage = "13-gs0-fetch-in-api-versions";
    let response = round_trip(&mut connect(&broker), &fixture(stage, "request.hex"));
    assert_eq!(hex(&response), hex(&api_versions_answer(0x4a3b2c1d)));
    // What the runner checks: an entry for Fetch (1) that includes v16.
    assert_api_listed(&response, 1, 16);
}
//> dh6

#[test]
fn dh6_fetch_without_topics_answers_an_empty_array() {
    assert_stage_matches_fixture("14-dh6-fetch-no-topics");
}

#[test]
fn an_unsupported_fetch_version_closes_the_connection() {
    let broker = start_default();
    // Fetch v17: unlike ApiVersions there is no error format every client reads, so the
    // connection is closed, as Kafka does.
    let mut request = fixture("14-dh6-fetch-no-topics", "request.hex");
    request[6..8].copy_from_slice(&17i16.to_be_bytes());
    let mut bad = connect(&broker);
    bad.write_all(&request).unwrap();
    assert_closed(&mut bad, "Fetch v17");
}
//< dh6
//> hn6

#[test]
fn hn6_unknown_topic_id_gets_error_100() {
    assert_stage_matches_fixture("15-hn6-fetch-unknown-topic");
}
//< hn6
//> cm4

#[test]
fn cm4_empty_topic_answers_no_records() {
    assert_stage_matches_fixture("16-cm4-fetch-empty-topic");
}
//< cm4
//> eg2

#[test]
fn eg2_single_message_is_served_from_disk() {
    assert_stage_matches_fixture("17-eg2-fetch-single-message");
}
//< eg2
//> fd8

#[test]
fn fd8_multiple_messages_are_served_in_file_order() {
    assert_stage_matches_fixture("18-fd8-fetch-multiple-messages");
}

#[test]
fn fetch_fixture_records_are_the_runner_log_bytes() {
    // The records inside eg2's and fd8's response.hex are exactly the log files the runner
    // writes: the guide shows what is on disk, not something re-encoded.
    for (stage, values) in [
        ("17-eg2-fetch-single-message", &["blueberry"][..]),
        ("18-fd8-fetch-multiple-messages", &["apple", "banana", "grape"][..]),
    ] {
        let response = fixture(stage, "response.hex");
        let log = partition_log(values);
        // The records end 3 bytes before the frame does (partition, topic and body TAG_BUFFERs).
        let records_at = response.len() - 3 - log.len();
        assert_eq!(&response[records_at..response.len() - 3], &log[..], "{stage}");
    }
}

#[test]
fn fd8_size_limits_fall_between_batches_but_never_before_the_first() {
    // The runner asks for everything; a real consumer sets max_bytes (the whole response) and
    // partition_max_bytes. A limit cuts between whole batches, but the first batch is sent even
    // when it alone is over the limit (KIP-74): otherwise a consumer would be stuck behind it.
    let stage = "18-fd8-fetch-multiple-messages";
    let dir = TempDir::new("fd8-limits");
    write_stage_files(dir.path(), "fd8");
    let broker = start_with_log_dir(dir.path());
    let batches: Vec<Vec<u8>> =
        ["apple", "banana", "grape"].iter().enumerate().map(|(i, m)| runner_message_batch(i as i64, m)).collect();
    let two = (batches[0].len() + batches[1].len()) as i32;
    // (max_bytes, partition_max_bytes, batches expected)
    for (max_bytes, partition_max_bytes, expected) in
        [(i32::MAX, two, 2), (i32::MAX, two - 1, 1), (i32::MAX, 1, 1), (two, i32::MAX, 2), (1, 1, 1)]
    {
        // In request.hex, max_bytes is at bytes 35..39 and partition_max_bytes at 94..98.
        let mut request = fixture(stage, "request.hex");
        request[35..39].copy_from_slice(&max_bytes.to_be_bytes());
        request[94..98].copy_from_slice(&partition_max_bytes.to_be_bytes());
        let response = round_trip(&mut connect(&broker), &request);
        // The answer is response.hex with fewer batches in its COMPACT_RECORDS field.
        let full = fixture(stage, "response.hex");
        let all_records = batches.concat();
        let length_at = full.len() - 3 - all_records.len() - 2; // 3 batches: a 2-byte varint
        let records = batches[..expected].concat();
        let mut expected_bytes = full[..length_at].to_vec();
        unsigned_varint(records.len() as u64 + 1, &mut expected_bytes);
        expected_bytes.extend(&records);
        expected_bytes.extend(&full[full.len() - 3..]);
        let size = (expected_bytes.len() - 4) as u32;
        expected_bytes[..4].copy_from_slice(&size.to_be_bytes());
        assert_eq!(
            hex(&response),
            hex(&expected_bytes),
            "max_bytes {max_bytes}, partition_max_bytes {partition_max_bytes}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The worked example of stages/REFERENCE.md: a log of two batches, "hello" and "world"

/// The two batches ("hello" and "world", header count 0).
fn hello_world_batches() -> Vec<u8> {
    parse_hex(
        "00 00 00 00 00 00 00 00  00 00 00 3d  00 00 00 00  02  a2 24 75 59
         00 00  00 00 00 00  00 00 01 91 e0 5b 6d 8b  00 00 01 91 e0 5b 6d 8b
         00 00 00 00 00 00 00 00  00 00  00 00 00 00  00 00 00 01
         16 00 00 00 01 0a 68 65 6c 6c 6f 00
         00 00 00 00 00 00 00 01 00 00 00 3d 00 00 00 00 02 43 b4 de 94 00 00 00 00 00 00 00 00 01 91 e0 5b 6d 8b
         00 00 01 91 e0 5b 6d 8b 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 16 00 00 00 01 0a 77 6f 72 6c 64 00",
    )
}

#[test]
fn the_reference_batches_are_what_the_test_encoder_writes() {
    let batches = hello_world_batches();
    let fields = |base_offset| BatchFields {
        base_offset,
        partition_leader_epoch: 0,
        timestamp: MESSAGE_TIMESTAMP,
        producer_id: 0,
        producer_epoch: 0,
        base_sequence: 0,
    };
    let hello = record_batch(fields(0), &[record(0, b"hello", 0)]);
    let world = record_batch(fields(1), &[record(0, b"world", 0)]);
    assert_eq!(hex(&hello), hex(&batches[..73]));
    assert_eq!(hex(&world), hex(&batches[73..]));
}

const EXAMPLE_REQUEST: &str = "
    00 00 00 63  00 01 00 10  4a 3b 2c 1d  00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72  00
    00 00 01 f4  00 00 00 01  7f ff ff ff  00  00 00 00 00  00 00 00 00
    02  71 a5 9a 51 89 68 4f 8b 93 7e 00 00 00 00 0b 2e
        02  00 00 00 00  ff ff ff ff  00 00 00 00 00 00 00 00  ff ff ff ff  ff ff ff ff ff ff ff ff  7f ff ff ff  00
        00
    01  01  00";

#[test]
fn a_partition_log_of_two_batches_is_served_whole() {
    let request = parse_hex(EXAMPLE_REQUEST);
    assert_eq!(request.len(), 103);
    assert_eq!(request, fixture("15-hn6-fetch-unknown-topic", "request.hex"), "the request is hn6's");

    // No topics (dh6).
    let no_topics = parse_hex("00 00 00 11  4a 3b 2c 1d 00  00 00 00 00  00 00  00 00 00 00  01  00");
    assert_eq!(no_topics, fixture("14-dh6-fetch-no-topics", "response.hex"), "the empty answer is dh6's");

    // Unknown topic id (hn6): 76 bytes.
    let unknown = parse_hex(
        "00 00 00 48  4a 3b 2c 1d 00  00 00 00 00  00 00  00 00 00 00
         02  71 a5 9a 51 89 68 4f 8b 93 7e 00 00 00 00 0b 2e
             02  00 00 00 00  00 64  ff ff ff ff ff ff ff ff  ff ff ff ff ff ff ff ff  ff ff ff ff ff ff ff ff
                 01  ff ff ff ff  01  00
             00
         00",
    );
    assert_eq!(unknown, fixture("15-hn6-fetch-unknown-topic", "response.hex"), "the unknown-id answer is hn6's");

    // The topic exists and its log holds the two batches: 223 bytes, the batches verbatim.
    let dir = TempDir::new("example-6-6");
    let topics = [RunnerTopic { name: "apple", id: topic_id(0x0b2e), partitions: vec![vec![]] }];
    write_runner_files(dir.path(), &topics);
    std::fs::write(dir.path().join("apple-0/00000000000000000000.log"), hello_world_batches()).unwrap();
    let broker = start_with_log_dir(dir.path());
    let response = round_trip(&mut connect(&broker), &request);
    let mut expected = parse_hex(
        "00 00 00 db  4a 3b 2c 1d 00  00 00 00 00  00 00  00 00 00 00
         02  71 a5 9a 51 89 68 4f 8b 93 7e 00 00 00 00 0b 2e
             02  00 00 00 00  00 00  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 00
                 01  ff ff ff ff  93 01",
    );
    expected.extend(hello_world_batches());
    expected.extend([0, 0, 0]);
    assert_eq!(expected.len(), 223);
    assert_eq!(hex(&response), hex(&expected));
}
//< fd8
//< gs0
