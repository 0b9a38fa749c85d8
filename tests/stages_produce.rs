//> xz1
//! The CodeCrafters producing-messages stages (xz1, zf2, gg1, ls8, yd8, ct4, ov0): Produce v11, the
//! answer compared with `stages/<stage>/response.hex`, then (from ls8 on) the runner's disk check:
//! each partition's first segment must begin with the batch that was sent, CRC included.

mod common;

use common::*;
//> zf2
use common::runner_files::*;
//< zf2
//> ls8
use std::path::Path;
//< ls8
//> ls8

/// One (topic, partition, values) the request of a stage produces to.
type Produced = (&'static str, i32, &'static [&'static str]);

/// Checks what the runner checks after a successful Produce, and a little more: the log file is
/// exactly the batch that was sent (the log was empty, so even base_offset 0 is unchanged).
fn assert_on_disk(dir: &Path, request: &[u8], produced: &[Produced]) {
    for &(topic, partition, values) in produced {
        let batch = producer_batch(values);
        // The fixture's request really carries this batch (the guide and the test agree).
        assert!(request.windows(batch.len()).any(|w| w == batch), "{topic}-{partition}: batch not in the request");
        let sent_crc = u32::from_be_bytes(batch[17..21].try_into().unwrap());
        assert_eq!(crc_of_first_batch_on_disk(dir, topic, partition), sent_crc, "{topic}-{partition}: CRC on disk");
        let on_disk = std::fs::read(dir.join(format!("{topic}-{partition}/00000000000000000000.log"))).unwrap();
        assert_eq!(hex(&on_disk), hex(&batch), "{topic}-{partition}: log file");
    }
}

/// Writes the runner's files, starts a broker, sends the stage's request, compares the response
/// with the fixture and checks the disk. Returns the temp dir for further checks.
fn assert_stage(stage: &str, produced: &[Produced]) -> TempDir {
    let (dir, request) = assert_stage_matches_fixture(stage);
    assert_on_disk(dir.path(), &request, produced);
    dir
}
//< ls8

#[test]
fn xz1_api_versions_lists_produce_v11() {
    let broker = start_default();
    let stage = "19-xz1-produce-in-api-versions";
    let response = round_trip(&mut connect(&broker), &fixture(stage, "request.hex"));
    assert_eq!(hex(&response), hex(&api_versions_answer(0x4a3b2c1d)));
    // What the runner checks: an entry for Produce (0) that includes v11.
    assert_api_listed(&response, 0, 11);
}
//> zf2

#[test]
fn zf2_unknown_partition_and_unknown_topic_get_error_3() {
    let stage = "20-zf2-produce-invalid-topic-or-partition";
    let dir = TempDir::new(stage);
    write_stage_files(dir.path(), "zf2"); // apple, partition 0 only, holding "orange"
    let broker = start_with_log_dir(dir.path());
    // Two requests on one connection, as the runner sends them.
    let mut client = connect(&broker);
    for n in ["-1", "-2"] {
        let response = round_trip(&mut client, &fixture(stage, &format!("request{n}.hex")));
        assert_eq!(hex(&response), hex(&fixture(stage, &format!("response{n}.hex"))), "exchange {n}");
    }
    // Nothing is created for unknown topics or partitions, and apple-0 is untouched.
    assert!(!dir.path().join("apple-512").exists(), "apple-512 must not be created");
    assert!(!dir.path().join("grape-0").exists(), "grape-0 must not be created");
    let apple0 = std::fs::read(dir.path().join("apple-0/00000000000000000000.log")).unwrap();
    assert_eq!(apple0, partition_log(&["orange"]));
}

//< zf2
//> gg1

#[test]
fn gg1_valid_topic_and_partition_get_a_success_row() {
    // The runner does not look at the disk in gg1 (from ls8 on the batch is on disk as well).
    assert_stage_matches_fixture("21-gg1-produce-valid-topic-and-partition");
}
//< gg1
//> ls8

#[test]
fn ls8_single_record_is_written_to_disk() {
    assert_stage("22-ls8-produce-single-record", &[("pear", 0, &["apple"])]);
}

#[test]
fn gg1_batch_is_on_disk_too() {
    assert_stage("21-gg1-produce-valid-topic-and-partition", &[("orange", 0, &["mango"])]);
}
//< ls8
//> yd8

#[test]
fn yd8_multiple_records_are_written_as_one_batch() {
    assert_stage("23-yd8-produce-multiple-records", &[("apple", 0, &["pear", "mango"])]);
}

#[test]
fn yd8_a_batch_that_miscounts_its_records_is_refused_with_invalid_record() {
    // The stage's request with its batch claiming one offset for its two records: the log would
    // give the next batch an offset this one's second record already has. The batch is intact
    // (its CRC is recomputed), so Kafka's answer is INVALID_RECORD (87), not CORRUPT_MESSAGE.
    let stage = "23-yd8-produce-multiple-records";
    let dir = TempDir::new("yd8-miscount");
    write_stage_files(dir.path(), "yd8");
    let broker = start_with_log_dir(dir.path());
    let mut request = fixture(stage, "request.hex");
    let batch = producer_batch(&["pear", "mango"]);
    let at = request.windows(batch.len()).position(|w| w == batch).expect("the batch in the request");
    request[at + 23..at + 27].copy_from_slice(&0i32.to_be_bytes()); // last_offset_delta 0
    let crc = crc32c(&request[at + 21..at + batch.len()]);
    request[at + 17..at + 21].copy_from_slice(&crc.to_be_bytes());
    let response = round_trip(&mut connect(&broker), &request);
    // response.hex, with error_code 87 and no offsets (base_offset and log_start_offset -1).
    let mut expected = fixture(stage, "response.hex");
    expected[21..23].copy_from_slice(&87i16.to_be_bytes());
    expected[23..31].copy_from_slice(&(-1i64).to_be_bytes());
    expected[39..47].copy_from_slice(&(-1i64).to_be_bytes());
    assert_eq!(hex(&response), hex(&expected));
    let log = std::fs::read(dir.path().join("apple-0/00000000000000000000.log")).unwrap();
    assert!(log.is_empty(), "nothing is stored");
}

//< yd8
//> ct4

#[test]
fn ct4_each_partition_gets_its_own_batch() {
    let produced: [Produced; 3] = [
        ("banana", 0, &["apple", "pear"]),
        ("banana", 1, &["grape", "mango", "orange"]),
        ("banana", 2, &["strawberry", "raspberry"]),
    ];
    assert_stage("24-ct4-produce-multiple-partitions", &produced);
}

//< ct4
//> ov0

#[test]
fn ov0_partitions_of_several_topics_get_their_batches() {
    let produced: [Produced; 3] = [
        ("grape", 0, &["apple", "banana"]),
        ("grape", 1, &["pear", "mango", "orange"]),
        ("blueberry", 0, &["pineapple", "apple"]),
    ];
    assert_stage("25-ov0-produce-multiple-topics", &produced);
}

//< ov0
//> gg1

#[test]
fn produced_batches_are_served_by_fetch() {
    // gg1's produce, then a Fetch of the same partition: the batch comes back byte for byte.
    let dir = TempDir::new("produce-then-fetch");
    write_stage_files(dir.path(), "gg1"); // orange, one empty partition, id ...0991
    let broker = start_with_log_dir(dir.path());
    let mut client = connect(&broker);
    round_trip(&mut client, &fixture("21-gg1-produce-valid-topic-and-partition", "request.hex"));
    let mut fetch = fixture("15-hn6-fetch-unknown-topic", "request.hex");
    // hn6's request names topic id ...0b2e at bytes 49..65 (27 bytes of size and header, 21 of
    // fetch fields, the topics count); point it at orange's id instead.
    assert_eq!(&fetch[49..65], &topic_id(0x0b2e));
    fetch[49..65].copy_from_slice(&topic_id(0x0991));
    let response = round_trip(&mut client, &fetch);
    let batch = producer_batch(&["mango"]);
    assert!(response.windows(batch.len()).any(|w| w == batch), "produced batch not in the Fetch answer");
}
//< gg1
//> yd8

// ---------------------------------------------------------------------------------------------
// The worked example of stages/REFERENCE.md: two records, and the same request for a topic that
// does not exist

#[test]
fn two_records_and_an_unknown_topic() {
    let request = parse_hex(
        "00 00 00 82  00 00 00 0b  4a 3b 2c 1d  00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72  00
         00  ff ff  00 00 75 30
         02  06 61 70 70 6c 65
             02  00 00 00 00
                 55
                 00 00 00 00 00 00 00 00 00 00 00 48 00 00 00 00 02 79 2d d5 4a 00 00 00 00 00 01
                 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00 00 00 00 00 00 00 00 00 00
                 00 00 00 02  14 00 00 00 01 08 70 65 61 72 00  16 00 00 02 01 0a 6d 61 6e 67 6f 00
                 00
             00
         00",
    );
    assert_eq!(request.len(), 134);
    assert_eq!(request, fixture("23-yd8-produce-multiple-records", "request.hex"), "the request is yd8's");
    let success = parse_hex(
        "00 00 00 34  4a 3b 2c 1d 00
         02  06 61 70 70 6c 65
             02  00 00 00 00  00 00  00 00 00 00 00 00 00 00  ff ff ff ff ff ff ff ff  00 00 00 00 00 00 00 00  01  00  00
             00
         00 00 00 00  00",
    );
    assert_eq!(success.len(), 56);
    assert_eq!(success, fixture("23-yd8-produce-multiple-records", "response.hex"), "the answer is yd8's");

    // The same request for topic "kiwi", which does not exist: the error row, 55 bytes.
    let dir = TempDir::new("example-6-7");
    let topics = [RunnerTopic { name: "apple", id: topic_id(0x07d1), partitions: vec![vec![]] }];
    write_runner_files(dir.path(), &topics);
    let broker = start_with_log_dir(dir.path());
    // The name "apple" is at bytes 35..41 (27 header bytes, then 00, ff ff, 00 00 75 30, 02).
    let mut kiwi = request[..35].to_vec();
    kiwi.extend(parse_hex("05 6b 69 77 69"));
    kiwi.extend(&request[41..]);
    let size = kiwi.len() as i32 - 4;
    kiwi[0..4].copy_from_slice(&size.to_be_bytes());
    let response = round_trip(&mut connect(&broker), &kiwi);
    let error = parse_hex(
        "00 00 00 33  4a 3b 2c 1d 00
         02  05 6b 69 77 69
             02  00 00 00 00  00 03  ff ff ff ff ff ff ff ff  ff ff ff ff ff ff ff ff  ff ff ff ff ff ff ff ff  01  00  00
             00
         00 00 00 00  00",
    );
    assert_eq!(hex(&response), hex(&error));
    assert!(!dir.path().join("kiwi-0").exists(), "nothing is created for an unknown topic");
}
//< yd8
//< xz1
