//> transactions
//! Stage 29 (transactions): a transactional producer and a read_committed consumer, as
//! kafka-python 3 runs them. The fixtures of `stages/29-transactions-exactly-once/` were captured
//! between kafka-python 3 and this broker: producer "shop" commits "paid" to `orders-0`, then
//! aborts "refund"; a read_committed consumer fetches from offset 0.

mod common;

use common::runner_files::crc32c;
use common::*;
use std::time::{Duration, Instant};

const STAGE: &str = "29-transactions-exactly-once";

fn send(stream: &mut std::net::TcpStream, name: &str) -> Vec<u8> {
    round_trip(stream, &fixture(STAGE, name))
}

/// The INT16 at `at` of a response frame (size prefix included).
fn i16_at(frame: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([frame[at], frame[at + 1]])
}

fn i64_at(frame: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(frame[at..at + 8].try_into().unwrap())
}

// Where the fields are in the captured responses (see the .hex files): the size prefix, then
// the body offsets `mini-kafka decode` shows.
const INIT_ERROR: usize = 4 + 9; // InitProducerId v4: error_code
const INIT_EPOCH: usize = 4 + 19; // producer_epoch
const END_TXN_ERROR: usize = 4 + 9; // EndTxn v3: error_code
const PRODUCE_ERROR: usize = 4 + 18; // Produce v9: the partition's error_code
const FETCH_HIGH_WATERMARK: usize = 4 + 30; // Fetch v12, the partition's high_watermark
const FETCH_LAST_STABLE: usize = 4 + 38;
const FETCH_ABORTED: usize = 4 + 54; // aborted_transactions: COMPACT_ARRAY length + 1
const FETCH_FIRST_BATCH: usize = 4 + 78;

/// The fetch response with the timestamps of its control batches zeroed: the broker stamps a
/// marker when it writes it, so those 16 bytes differ from run to run (and so does the CRC).
fn without_marker_times(frame: &[u8]) -> Vec<u8> {
    let mut frame = frame.to_vec();
    let mut at = FETCH_FIRST_BATCH;
    while at + 61 <= frame.len() {
        let length = i32::from_be_bytes(frame[at + 8..at + 12].try_into().unwrap()) as usize;
        if frame[at + 22] & 0x20 != 0 {
            frame[at + 17..at + 21].fill(0); // crc
            frame[at + 27..at + 43].fill(0); // base_timestamp, max_timestamp
        }
        at += 12 + length;
    }
    frame
}

/// Topic `orders`, producer "shop", and its first transaction open with "paid" at offset 0.
fn open_a_transaction_with_paid(stream: &mut std::net::TcpStream) {
    for request in ["create-topics", "init-producer-id", "add-partitions-to-txn", "produce-paid"] {
        send(stream, &format!("{request}-request.hex"));
    }
}

/// The transaction of the capture, request by request, against a fresh broker.
fn run_the_captured_transactions(stream: &mut std::net::TcpStream) {
    send(stream, "create-topics-request.hex");
    for (request, response) in [
        ("init-producer-id-request.hex", "init-producer-id-response.hex"),
        ("add-partitions-to-txn-request.hex", "add-partitions-to-txn-response.hex"),
        ("produce-paid-request.hex", "produce-paid-response.hex"),
        ("end-txn-commit-request.hex", "end-txn-commit-response.hex"),
    ] {
        assert_eq!(hex(&send(stream, request)), hex(&fixture(STAGE, response)), "{request}");
    }
    assert_eq!(i16_at(&send(stream, "add-partitions-to-txn-again-request.hex"), 4 + 22), 0, "the next transaction");
    let refund = send(stream, "produce-refund-request.hex");
    assert_eq!(hex(&refund), hex(&fixture(STAGE, "produce-refund-response.hex")), "refund goes to offset 2");
    assert_eq!(i16_at(&send(stream, "end-txn-abort-request.hex"), END_TXN_ERROR), 0, "aborted");
}

#[test]
fn read_committed_gets_the_committed_record_and_the_aborted_transaction_named() {
    let broker = start_default();
    let mut stream = connect(&broker);
    run_the_captured_transactions(&mut stream);
    let response = send(&mut stream, "fetch-read-committed-request.hex");
    let expected = fixture(STAGE, "fetch-read-committed-response.hex");
    assert_eq!(hex(&without_marker_times(&response)), hex(&without_marker_times(&expected)));
    // paid (0), COMMIT (1), refund (2), ABORT (3); the consumer drops producer 0's records from
    // offset 2 on until it reads that ABORT marker.
    assert_eq!(i64_at(&response, FETCH_LAST_STABLE), 4);
    assert_eq!(response[FETCH_ABORTED], 2, "one aborted transaction");
    assert_eq!((i64_at(&response, FETCH_ABORTED + 1), i64_at(&response, FETCH_ABORTED + 9)), (0, 2));
}

#[test]
fn an_open_transaction_holds_read_committed_back_and_read_uncommitted_does_not_wait() {
    let broker = start_default();
    let mut stream = connect(&broker);
    open_a_transaction_with_paid(&mut stream);
    // Open: the last stable offset stays at the transaction's first offset, 0.
    let committed = send(&mut stream, "fetch-read-committed-request.hex");
    assert_eq!((i64_at(&committed, FETCH_HIGH_WATERMARK), i64_at(&committed, FETCH_LAST_STABLE)), (1, 0));
    // No aborted transactions (an empty array: one byte), and RECORDS empty (one byte, too).
    assert_eq!((committed[FETCH_ABORTED], committed[FETCH_ABORTED + 5]), (1, 1), "nothing to read yet");
    let mut uncommitted_request = fixture(STAGE, "fetch-read-committed-request.hex");
    uncommitted_request[4 + 33] = 0; // isolation_level = 0 (read_uncommitted)
    let uncommitted = round_trip(&mut stream, &uncommitted_request);
    assert!(uncommitted.windows(4).any(|w| w == b"paid"), "read_uncommitted sees the open transaction's record");
    // Committed: the marker moves the last stable offset past it.
    send(&mut stream, "end-txn-commit-request.hex");
    let committed = send(&mut stream, "fetch-read-committed-request.hex");
    assert_eq!(i64_at(&committed, FETCH_LAST_STABLE), 2);
    assert!(committed.windows(4).any(|w| w == b"paid"));
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let broker = start_default();
    let mut stream = connect(&broker);
    open_a_transaction_with_paid(&mut stream);
    // A second "shop" starts. The first's open transaction is aborted under epoch 1 (so that
    // producer cannot write into it), and the new producer gets epoch 2, as from Kafka.
    let second = send(&mut stream, "init-producer-id-request.hex");
    assert_eq!((i16_at(&second, INIT_ERROR), i16_at(&second, INIT_EPOCH)), (0, 2));
    assert_eq!(i16_at(&send(&mut stream, "end-txn-commit-request.hex"), END_TXN_ERROR), 90, "PRODUCER_FENCED");
    let late = send(&mut stream, "produce-refund-request.hex");
    assert_eq!(i16_at(&late, PRODUCE_ERROR), 47, "INVALID_PRODUCER_EPOCH: epoch 0 is gone");
    let fetched = send(&mut stream, "fetch-read-committed-request.hex");
    assert_eq!(i64_at(&fetched, FETCH_LAST_STABLE), 2, "paid (0) and its ABORT marker (1)");
    assert_eq!(fetched[FETCH_ABORTED], 2, "the fenced transaction was aborted");
}

#[test]
fn an_open_transaction_is_aborted_after_its_timeout_even_across_a_restart() {
    let dir = TempDir::new("transactions");
    let properties =
        format!("log.dirs={}\ntransaction.abort.timed.out.transaction.cleanup.interval.ms=100\n", dir.path().display());
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    send(&mut stream, "create-topics-request.hex");
    let mut init = fixture(STAGE, "init-producer-id-request.hex");
    init[4 + 20..4 + 24].copy_from_slice(&1500i32.to_be_bytes()); // transaction_timeout_ms
    assert_eq!(i16_at(&round_trip(&mut stream, &init), INIT_ERROR), 0);
    send(&mut stream, "add-partitions-to-txn-request.hex");
    send(&mut stream, "produce-paid-request.hex");
    drop(stream);
    drop(broker); // killed with the transaction open
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    let held = send(&mut stream, "fetch-read-committed-request.hex");
    assert_eq!(i64_at(&held, FETCH_LAST_STABLE), 0, "after the restart the transaction is still open");
    let deadline = Instant::now() + Duration::from_secs(10);
    let fetched = loop {
        let fetched = send(&mut stream, "fetch-read-committed-request.hex");
        if i64_at(&fetched, FETCH_LAST_STABLE) == 2 || Instant::now() > deadline {
            break fetched;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(i64_at(&fetched, FETCH_LAST_STABLE), 2, "aborted: the ABORT marker is at 1");
    assert_eq!(fetched[FETCH_ABORTED], 2);
    assert_eq!(broker.wait_for_log_lines("open longer than its timeout", 1), 1);
    // The abort bumped the epoch: the producer that left the transaction is fenced.
    assert_eq!(i16_at(&send(&mut stream, "end-txn-commit-request.hex"), END_TXN_ERROR), 90);
    // And the coordinator's state survives a restart: the next producer gets epoch 2.
    drop(stream);
    drop(broker);
    let broker = Broker::start(&properties);
    let next = round_trip(&mut connect(&broker), &init);
    assert_eq!((i16_at(&next, INIT_ERROR), i16_at(&next, INIT_EPOCH)), (0, 2));
}

#[test]
fn a_produced_control_batch_is_refused() {
    let broker = start_default();
    let mut stream = connect(&broker);
    send(&mut stream, "create-topics-request.hex");
    send(&mut stream, "init-producer-id-request.hex");
    send(&mut stream, "add-partitions-to-txn-request.hex");
    let mut forged = fixture(STAGE, "produce-paid-request.hex");
    let batch = 4 + 40;
    forged[batch + 22] |= 0x20; // the control bit
    let crc = crc32c(&forged[batch + 21..]);
    forged[batch + 17..batch + 21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(i16_at(&round_trip(&mut stream, &forged), PRODUCE_ERROR), 87, "INVALID_RECORD");
}

#[test]
fn when_the_epochs_run_out_the_id_gets_a_new_producer_and_no_transaction_is_left_open() {
    let broker = start_default();
    let mut stream = connect(&broker);
    send(&mut stream, "create-topics-request.hex");
    let init = fixture(STAGE, "init-producer-id-request.hex");
    let producer_id = |r: &[u8]| i64_at(r, INIT_ERROR + 2);
    let mut answer = round_trip(&mut stream, &init);
    let first_producer = producer_id(&answer);
    while i16_at(&answer, INIT_EPOCH) < i16::MAX - 1 {
        answer = round_trip(&mut stream, &init);
    }
    // At epoch 32766 a transaction writes "paid"...
    let epoch = i16::MAX - 1;
    let mut add = fixture(STAGE, "add-partitions-to-txn-request.hex");
    add[4 + 28..4 + 30].copy_from_slice(&epoch.to_be_bytes());
    assert_eq!(i16_at(&round_trip(&mut stream, &add), 4 + 22), 0);
    let mut produce = fixture(STAGE, "produce-paid-request.hex");
    let batch = 4 + 40;
    produce[batch + 51..batch + 53].copy_from_slice(&epoch.to_be_bytes());
    let batch_end = produce.len() - 3;
    let crc = crc32c(&produce[batch + 21..batch_end]);
    produce[batch + 17..batch + 21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(i16_at(&round_trip(&mut stream, &produce), PRODUCE_ERROR), 0);
    // ...and a new producer fences it: aborted under the last epoch of the same producer id,
    // then a new producer id for the new producer.
    let fenced = round_trip(&mut stream, &init);
    assert_eq!(i16_at(&fenced, INIT_ERROR), 0);
    assert_ne!(producer_id(&fenced), first_producer, "a new producer id");
    assert_eq!(i16_at(&fenced, INIT_EPOCH), 0);
    let fetched = send(&mut stream, "fetch-read-committed-request.hex");
    assert_eq!((i64_at(&fetched, FETCH_HIGH_WATERMARK), i64_at(&fetched, FETCH_LAST_STABLE)), (2, 2), "aborted");
}

#[test]
fn api_versions_lists_the_transaction_apis() {
    let broker = start_default();
    let response = round_trip(&mut connect(&broker), &fixture("05-pv1-api-versions", "request.hex"));
    for (key, max) in [(24, 3), (25, 3), (26, 3), (28, 3), (65, 0), (66, 1)] {
        assert_api_listed(&response, key, max);
    }
}
//< transactions
