//> yk1
//! The CodeCrafters listing-partitions stages (yk1, vt6, ea7, ku4, wq2): DescribeTopicPartitions v0,
//! answered from the cluster metadata log the runner writes. Each test writes the runner's files
//! (tests/common/runner_files.rs) into a temporary log dir, starts the broker on it, and compares
//! the answer with `stages/<stage>/response.hex` byte for byte.

mod common;

use common::*;
//> ea7
use common::runner_files::*;
//< ea7

#[test]
fn yk1_api_versions_lists_describe_topic_partitions_v0() {
    let broker = start_default();
    let stage = "08-yk1-describe-topic-partitions-in-api-versions";
    let response = round_trip(&mut connect(&broker), &fixture(stage, "request.hex"));
    assert_eq!(hex(&response), hex(&api_versions_answer(0x4a3b2c1d)));
    // What the runner checks: an entry for DescribeTopicPartitions (75) that includes v0.
    assert_api_listed(&response, 75, 0);
}
/*> yk1 < vt6

#[test]
fn describe_topic_partitions_is_listed_but_not_answered_until_vt6() {
    // The version table lists DescribeTopicPartitions from yk1 on; its module arrives at vt6.
    // Until then a request for it closes the connection instead of getting an answer of another
    // API, and other clients are still served.
    let broker = start_default();
    let mut early = connect(&broker);
    // DescribeTopicPartitions v0 for topic "foo", correlation id 1, client id "".
    let request = parse_hex("00 00 00 17 00 4b 00 00 00 00 00 01 00 00 00 02 04 66 6f 6f 00 00 00 00 01 ff 00");
    std::io::Write::write_all(&mut early, &request).unwrap();
    assert_closed(&mut early, "DescribeTopicPartitions before vt6");
    let stage = "08-yk1-describe-topic-partitions-in-api-versions";
    let response = round_trip(&mut connect(&broker), &fixture(stage, "request.hex"));
    assert_eq!(hex(&response), hex(&api_versions_answer(0x4a3b2c1d)));
}
*/
//> vt6

#[test]
fn vt6_unknown_topic_gets_error_3_and_a_zero_id() {
    assert_stage_matches_fixture("09-vt6-describe-unknown-topic");
}
//< vt6
//> ea7

#[test]
fn ea7_single_partition_topic_is_described() {
    assert_stage_matches_fixture("10-ea7-describe-single-partition");
}

#[test]
fn ea7_metadata_log_fixture_is_what_the_runner_writes() {
    // The guide's annotated metadata log is the file the test (and the runner) writes for ea7.
    let written = metadata_log(&stage_topics("ea7"));
    let shown = fixture("10-ea7-describe-single-partition", "cluster-metadata.log.hex");
    assert_eq!(hex(&shown), hex(&written));
}

#[test]
fn the_runner_files_are_laid_out_as_kafka_lays_them_out() {
    // The small files, and the base64 of the directory id in meta.properties.
    assert_eq!(base64(&DIRECTORY_ID), "EAAAAAAAQACAAAAAAAAAAQ==");
    assert_eq!(base64(&topic_id(0x07d1)), "caWaUYloT4uTfgAAAAAH0Q==");
    let dir = TempDir::new("layout");
    let topics = [RunnerTopic { name: "apple", id: topic_id(0x07d1), partitions: vec![vec!["hello"], vec![]] }];
    write_runner_files(dir.path(), &topics);
    let read = |p: &str| std::fs::read(dir.path().join(p)).unwrap();
    assert_eq!(read("apple-0/partition.metadata"), b"version: 0\ntopic_id: caWaUYloT4uTfgAAAAAH0Q==");
    assert_eq!(read("__cluster_metadata-0/partition.metadata"), b"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ");
    assert!(read("apple-1/00000000000000000000.log").is_empty());
    // A runner's message batch: one record whose header count is -1 (01).
    let batch = read("apple-0/00000000000000000000.log");
    assert_eq!(batch.len(), 73);
    assert_eq!(batch[72], 0x01);
    assert_eq!(u32::from_be_bytes(batch[17..21].try_into().unwrap()), crc32c(&batch[21..]));
    assert_eq!(crc32c(b"123456789"), 0xE3069283, "CRC-32C's check value");
}
//< ea7
//> ku4

#[test]
fn ku4_partitions_are_listed_in_order() {
    assert_stage_matches_fixture("11-ku4-describe-multiple-partitions");
}
//< ku4
//> wq2

#[test]
fn wq2_topics_are_sorted_by_name() {
    // Generated (and requested) pear first: the answer must still list apple first.
    assert_stage_matches_fixture("12-wq2-describe-multiple-topics");
}

#[test]
fn a_known_and_an_unknown_topic_in_one_request() {
    let dir = TempDir::new("known-and-unknown");
    let topics =
        [RunnerTopic { name: "apple", id: topic_id(0x07d1), partitions: vec![vec![SIX_WORDS], vec![SIX_WORDS]] }];
    write_runner_files(dir.path(), &topics);
    let broker = start_with_log_dir(dir.path());
    // ["pear", "apple"] (a name twice as well: it is answered once), limit 3.
    let request = parse_hex(
        "00 00 00 31  00 4b 00 00  4a 3b 2c 1d  00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72  00
         04  05 70 65 61 72 00  06 61 70 70 6c 65 00  05 70 65 61 72 00  00 00 00 03  ff  00",
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
//< wq2
//< yk1
