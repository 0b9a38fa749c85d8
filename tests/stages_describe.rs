//! CodeCrafters listing-partitions stages (yk1, vt6, ea7, ku4, wq2): DescribeTopicPartitions v0
//! answered from the cluster metadata log the runner writes. Each test writes the runner's files
//! (tests/common/runner_files.rs) into a temporary log dir, starts the broker on it, and compares
//! the answer with `stages/<stage>/response.hex` byte for byte.
//!
//! Also: the contract's worked examples §6.4 (a DescribeTopicPartitions exchange) and §6.8 (the
//! metadata log bytes, which check the runner file writer itself).

mod common;

use common::runner_files::*;
use common::*;

/// Writes the runner's files for the stage's data set (`runner_files::stage_topics`), starts a
/// broker on them, sends the stage's request and checks the response against the stage's
/// fixture, byte for byte.
fn assert_stage(stage: &str) {
    assert_stage_matches_fixture(stage);
}

#[test]
fn yk1_api_versions_lists_describe_topic_partitions_v0() {
    let broker = start_default();
    let stage = "08-yk1-describe-topic-partitions-in-api-versions";
    let response = round_trip(&mut connect(&broker), &fixture(stage, "request.hex"));
    assert_api_versions(&response, &fixture(stage, "response.hex"), true, &[(18, 4), (75, 0)]);
}

#[test]
fn vt6_unknown_topic_gets_error_3_and_a_zero_id() {
    assert_stage("09-vt6-describe-unknown-topic");
}

#[test]
fn ea7_single_partition_topic_is_described() {
    assert_stage("10-ea7-describe-single-partition");
}

#[test]
fn ku4_partitions_are_listed_in_order() {
    assert_stage("11-ku4-describe-multiple-partitions");
}

#[test]
fn wq2_topics_are_sorted_by_name() {
    // Generated (and requested) pear first: the answer must still list apple first.
    assert_stage("12-wq2-describe-multiple-topics");
}

#[test]
fn worked_example_6_4_describe_known_and_unknown_topic() {
    let dir = TempDir::new("example-6-4");
    let topics =
        [RunnerTopic { name: "apple", id: topic_id(0x07d1), partitions: vec![vec![SIX_WORDS], vec![SIX_WORDS]] }];
    write_runner_files(dir.path(), &topics);
    let broker = start_with_log_dir(dir.path());
    let request = parse_hex(
        "00 00 00 2b  00 4b 00 00  4a 3b 2c 1d  00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72  00
         03  05 70 65 61 72 00  06 61 70 70 6c 65 00  00 00 00 03  ff  00",
    );
    let expected = parse_hex(
        "00 00 00 81  4a 3b 2c 1d  00  00 00 00 00  03
         00 00  06 61 70 70 6c 65  71 a5 9a 51 89 68 4f 8b 93 7e 00 00 00 00 07 d1  00  03
         00 00  00 00 00 00  00 00 00 01  00 00 00 00  02 00 00 00 01  02 00 00 00 01  01  01  01  00
         00 00  00 00 00 01  00 00 00 01  00 00 00 00  02 00 00 00 01  02 00 00 00 01  01  01  01  00
         00 00 0d f8  00
         00 03  05 70 65 61 72  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  00  01  00 00 0d f8  00
         ff  00",
    );
    assert_eq!(expected.len(), 133);
    let response = round_trip(&mut connect(&broker), &request);
    assert_eq!(hex(&response), hex(&expected));
}

#[test]
fn worked_example_6_8_metadata_log_is_byte_identical() {
    let batch1 = parse_hex(
        "00 00 00 00 00 00 00 01  00 00 00 4f  00 00 00 01  02  b0 69 45 7c
         00 00  00 00 00 00  00 00 01 91 e0 5a f8 18  00 00 01 91 e0 5a f8 18
         ff ff ff ff ff ff ff ff  ff ff  ff ff ff ff  00 00 00 01
         3a 00 00 00 01 2e  01 0c 00  11 6d 65 74 61 64 61 74 61 2e 76 65 72 73 69 6f 6e  00 14  00  00",
    );
    assert_eq!(batch1.len(), 91);
    assert_eq!(hex(&feature_level_batch()), hex(&batch1), "the runner's first metadata batch");

    let batch2 = parse_hex(
        "00 00 00 00 00 00 00 02  00 00 00 e6  00 00 00 01  02  4f 8d 6e 29
         00 00  00 00 00 02  00 00 01 91 e0 5b 2d 15  00 00 01 91 e0 5b 2d 15
         ff ff ff ff ff ff ff ff  ff ff  ff ff ff ff  00 00 00 03
         40 00 00 00 01 34  01 02 00  06 61 70 70 6c 65  71 a5 9a 51 89 68 4f 8b 93 7e 00 00 00 00 07 d1  00  00
         90 01 00 00 02 01 82 01  01 03 01  00 00 00 00  71 a5 9a 51 89 68 4f 8b 93 7e 00 00 00 00 07 d1
         02 00 00 00 01  02 00 00 00 01  01  01  00 00 00 01  00 00 00 00  00 00 00 00
         02 10 00 00 00 00 00 40 00 80 00 00 00 00 00 00 01  00  00
         90 01 00 00 04 01 82 01 01 03 01 00 00 00 01 71 a5 9a 51 89 68 4f 8b 93 7e 00 00 00 00 07 d1 02
         00 00 00 01 02 00 00 00 01 01 01 00 00 00 01 00 00 00 00 00 00 00 00 02 10 00 00 00 00 00 40 00
         80 00 00 00 00 00 00 01 00 00",
    );
    assert_eq!(batch2.len(), 242);
    let apple = RunnerTopic { name: "apple", id: topic_id(0x07d1), partitions: vec![vec![], vec![]] };
    assert_eq!(hex(&topic_batch(2, &apple)), hex(&batch2), "the topic batch for apple");
    assert_eq!(metadata_log(&[apple]), [batch1, batch2].concat());
}

#[test]
fn runner_files_layout_matches_the_contract() {
    // §3.2: the small files, and the base64 of the directory id in meta.properties.
    assert_eq!(base64(&DIRECTORY_ID), "EAAAAAAAQACAAAAAAAAAAQ==");
    assert_eq!(base64(&topic_id(0x07d1)), "caWaUYloT4uTfgAAAAAH0Q==");
    let dir = TempDir::new("layout");
    let topics = [RunnerTopic { name: "apple", id: topic_id(0x07d1), partitions: vec![vec!["hello"], vec![]] }];
    write_runner_files(dir.path(), &topics);
    let read = |p: &str| std::fs::read(dir.path().join(p)).unwrap();
    assert_eq!(read("apple-0/partition.metadata"), b"version: 0\ntopic_id: caWaUYloT4uTfgAAAAAH0Q==");
    assert_eq!(read("__cluster_metadata-0/partition.metadata"), b"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ");
    assert!(read("apple-1/00000000000000000000.log").is_empty());
    // §3.4: the runner's message batch is §6.5's "hello" batch with the header count -1 (01),
    // which changes the CRC and nothing else.
    let batch = read("apple-0/00000000000000000000.log");
    assert_eq!(batch.len(), 73);
    assert_eq!(batch[72], 0x01);
    assert_eq!(u32::from_be_bytes(batch[17..21].try_into().unwrap()), crc32c::crc32c(&batch[21..]));
}
