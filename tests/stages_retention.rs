//> retention
//! Stage 28 (retention): DeleteRecords and what a consumer below the log start offset hears, as
//! kafka-python lives it. The fixtures of `stages/28-retention-a-log-that-forgets/` were captured
//! between kafka-python 3 and this broker: the admin client deletes `events-0` below offset 4,
//! then a consumer asks for offset 1 and is told OFFSET_OUT_OF_RANGE, with the new start.

mod common;

use common::runner_files::write_stage_files;
use common::*;

const STAGE: &str = "28-retention-a-log-that-forgets";

#[test]
fn delete_records_moves_the_start_and_a_fetch_below_it_is_out_of_range() {
    let dir = TempDir::new("retention");
    write_stage_files(dir.path(), "retention");
    let broker = start_with_log_dir(dir.path());
    let mut stream = connect(&broker);
    // Before: offset 1 is there to read.
    let response = round_trip(&mut stream, &fixture(STAGE, "fetch-out-of-range-request.hex"));
    assert_eq!(i16::from_be_bytes([response[32], response[33]]), 0, "offset 1 is readable before");
    let response = round_trip(&mut stream, &fixture(STAGE, "delete-records-request.hex"));
    assert_eq!(hex(&response), hex(&fixture(STAGE, "delete-records-response.hex")));
    let response = round_trip(&mut stream, &fixture(STAGE, "fetch-out-of-range-request.hex"));
    assert_eq!(hex(&response), hex(&fixture(STAGE, "fetch-out-of-range-response.hex")));
    // The new start is saved as Kafka saves it, and a restart keeps it.
    let checkpoint = std::fs::read_to_string(dir.path().join("log-start-offset-checkpoint")).unwrap();
    assert_eq!(checkpoint, "0\n1\nevents 0 4\n");
    drop(broker);
    let broker = start_with_log_dir(dir.path());
    let response = round_trip(&mut connect(&broker), &fixture(STAGE, "fetch-out-of-range-request.hex"));
    assert_eq!(hex(&response), hex(&fixture(STAGE, "fetch-out-of-range-response.hex")));
}

#[test]
fn api_versions_lists_delete_records() {
    let broker = start_default();
    let request = fixture("05-pv1-api-versions", "request.hex");
    let response = round_trip(&mut connect(&broker), &request);
    assert_api_listed(&response, 21, 2);
}
//< retention
