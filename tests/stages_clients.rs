//> clients
//! Stage 26 (clients): what a real client needs beyond the course, from the bytes librdkafka
//! (kcat) sends. The course speaks only flexible versions; these requests are classic ones, so
//! the same modules must read and write both encodings. The fixtures are in
//! `stages/26-clients-real-kafka-clients/`, and its guide walks through them.

mod common;

use common::runner_files::write_stage_files;
use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const STAGE: &str = "26-clients-real-kafka-clients";

/// The stage's broker: the runner's files with topic `greetings` (one empty partition) and the
/// cluster id of `meta.properties`, and an advertised address, so every answer is predictable.
fn start_clients_broker() -> (TempDir, Broker) {
    let dir = TempDir::new("clients");
    write_stage_files(dir.path(), "clients");
    let properties = runner_files::server_properties(dir.path());
    let broker = Broker::start(&format!("{properties}\nadvertised.listeners=PLAINTEXT://localhost:9092"));
    (dir, broker)
}

/// `frame` with the INT32 at byte `at` replaced.
fn with_i32(frame: &[u8], at: usize, value: i32) -> Vec<u8> {
    let mut frame = frame.to_vec();
    frame[at..at + 4].copy_from_slice(&value.to_be_bytes());
    frame
}

/// Where the fixture `fetch-request.hex` has its `max_wait_ms` and `fetch_offset`.
const FETCH_MAX_WAIT_AT: usize = 25;
const FETCH_OFFSET_AT: usize = 73;
/// Where `produce-request.hex` has its `acks` (INT16).
const PRODUCE_ACKS_AT: usize = 23;

/// The (api_key, min, max) entries of an ApiVersions response: `entry_len` is 6 in the classic
/// encoding (v0-v2) and 7 in the flexible one (a TAG_BUFFER after each entry).
fn api_entries(response: &[u8], flexible: bool) -> Vec<[u8; 6]> {
    let (count, first, entry_len) = if flexible {
        (response[10] as usize - 1, 11, 7)
    } else {
        (u32::from_be_bytes(response[10..14].try_into().unwrap()) as usize, 14, 6)
    };
    (0..count).map(|i| response[first + i * entry_len..][..6].try_into().unwrap()).collect()
}

#[test]
fn api_versions_v0_lists_the_same_apis_in_the_classic_encoding() {
    // Old clients (and every client's first try, in some) ask v0: header v1, no body.
    let request = parse_hex("00 00 00 0e  00 12 00 00  00 00 00 2a  00 04 74 65 73 74");
    let broker = start_default();
    let response = round_trip(&mut connect(&broker), &request);
    assert_eq!(&response[4..10], &[0, 0, 0, 0x2a, 0, 0], "correlation id 42, error_code 0");
    let entries = api_entries(&response, false);
    // v0 has neither throttle_time_ms nor tagged fields: the list is all there is.
    assert_eq!(response.len(), 14 + 6 * entries.len(), "v0: size, correlation id, error, count, entries");
    assert_eq!(entries, api_entries(&api_versions_answer(0), true), "v0 and v4 list the same versions");
}

#[test]
fn metadata_v4_tells_a_client_the_advertised_address_and_every_topic() {
    let (_dir, broker) = start_clients_broker();
    let response = round_trip(&mut connect(&broker), &fixture(STAGE, "metadata-request.hex"));
    assert_eq!(hex(&response), hex(&fixture(STAGE, "metadata-response.hex")));
}

#[test]
fn a_record_produced_with_produce_v7_comes_back_from_fetch_v11_byte_for_byte() {
    let (_dir, broker) = start_clients_broker();
    let mut client = connect(&broker);
    let produced = round_trip(&mut client, &fixture(STAGE, "produce-request.hex"));
    assert_eq!(hex(&produced), hex(&fixture(STAGE, "produce-response.hex")));
    let fetched = round_trip(&mut client, &fixture(STAGE, "fetch-request.hex"));
    assert_eq!(hex(&fetched), hex(&fixture(STAGE, "fetch-response.hex")));
    // The records field is the batch of the Produce request, unchanged.
    let batch = &fixture(STAGE, "produce-request.hex")[56..];
    assert!(fetched.ends_with(batch));
}

#[test]
fn an_idle_fetch_waits_max_wait_ms_and_a_produce_wakes_a_waiting_one() {
    let (_dir, broker) = start_clients_broker();
    // Nothing at offset 0 yet: the broker holds the answer for max_wait_ms (500) and then sends
    // an empty one, rather than letting the consumer spin.
    let started = Instant::now();
    let idle = round_trip(&mut connect(&broker), &fixture(STAGE, "fetch-request.hex"));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(450), "answered after {waited:?}, max_wait_ms is 500");
    assert_eq!(&idle[idle.len() - 4..], &[0, 0, 0, 0], "no records");

    // A consumer waiting up to 20 s is answered as soon as a record arrives.
    let mut consumer = connect(&broker);
    consumer.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let long_wait = with_i32(&fixture(STAGE, "fetch-request.hex"), FETCH_MAX_WAIT_AT, 20_000);
    let started = Instant::now();
    consumer.write_all(&long_wait).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    round_trip(&mut connect(&broker), &fixture(STAGE, "produce-request.hex"));
    let woken = read_response(&mut consumer);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}: the produce did not wake it");
    assert!(woken.ends_with(&fixture(STAGE, "produce-request.hex")[56..]), "the record is in the answer");
}

#[test]
fn a_produce_with_acks_0_gets_no_answer_but_is_stored() {
    let (_dir, broker) = start_clients_broker();
    let mut client = connect(&broker);
    let mut fire_and_forget = fixture(STAGE, "produce-request.hex");
    fire_and_forget[PRODUCE_ACKS_AT..PRODUCE_ACKS_AT + 2].copy_from_slice(&0i16.to_be_bytes());
    client.write_all(&fire_and_forget).unwrap();
    // The next answer on the connection belongs to the next request: the Fetch.
    let fetched = round_trip(&mut client, &fixture(STAGE, "fetch-request.hex"));
    assert_eq!(hex(&fetched), hex(&fixture(STAGE, "fetch-response.hex")));
    // Fetching past the end is an error the consumer can act on, not an empty answer. The
    // partition's error_code is followed by 3 INT64s, 2 INT32s and an empty records field.
    let mut past_end = fixture(STAGE, "fetch-request.hex");
    past_end[FETCH_OFFSET_AT..FETCH_OFFSET_AT + 8].copy_from_slice(&5i64.to_be_bytes());
    let answer = round_trip(&mut client, &past_end);
    assert_eq!(&answer[answer.len() - 38..answer.len() - 36], &1i16.to_be_bytes(), "OFFSET_OUT_OF_RANGE");
}

#[test]
fn a_classic_and_a_flexible_client_can_share_the_broker() {
    // librdkafka's classic Metadata v4 and kafka-python's flexible ApiVersions v4 on one broker,
    // on connections open at the same time.
    let (_dir, broker) = start_clients_broker();
    let (mut classic, mut flexible): (TcpStream, TcpStream) = (connect(&broker), connect(&broker));
    for _ in 0..3 {
        let metadata = round_trip(&mut classic, &fixture(STAGE, "metadata-request.hex"));
        assert_eq!(hex(&metadata), hex(&fixture(STAGE, "metadata-response.hex")));
        let request = with_correlation_id(&fixture("05-pv1-api-versions", "request.hex"), 8, 9);
        let versions = round_trip(&mut flexible, &request);
        assert_eq!(hex(&versions), hex(&api_versions_answer(9)));
    }
}
//< clients
