//! The log's promises (issue 3 and the long-poll of issue 4): nothing acknowledged is lost across
//! a restart, corrupt input is refused without a trace, a damaged file tail is cut back, offsets
//! are found by binary search, and a waiting consumer is woken the moment data arrives.

mod common;
mod oracle;

use bytes::Bytes;
use common::{TempDir, connect, start_with_log_dir};
use mini_kafka::log::batch as record_batch;
use mini_kafka::log::metadata::PartitionMeta;
use mini_kafka::log::partition::Partition;
use mini_kafka::wire::SharedBytes;
use oracle::{batch, create_topic, fetch, produce};

/// The batch as the log stores it: the producer's bytes with base_offset rewritten.
fn with_base_offset(records: &Bytes, offset: i64) -> Vec<u8> {
    let mut bytes = records.to_vec();
    bytes[..8].copy_from_slice(&offset.to_be_bytes());
    bytes
}

#[test]
fn a_thousand_acknowledged_batches_survive_a_restart_byte_for_byte() {
    let dir = TempDir::new("restart");
    let mut expected: Vec<Vec<u8>> = vec![Vec::new(); 3];
    {
        let broker = start_with_log_dir(dir.path());
        let mut stream = connect(&broker);
        create_topic(&mut stream, "durable", 3);
        let mut next = [0i64; 3];
        for i in 0..1000 {
            let partition = i % 3;
            let value = format!("record {i} {}", "x".repeat(i % 50));
            let records = batch(&[("key", &value), ("key2", "second")], 0);
            let (error, offset) = produce(&mut stream, "durable", partition as i32, records.clone());
            assert_eq!((error, offset), (0, next[partition]), "batch {i}");
            expected[partition].extend(with_base_offset(&records, offset));
            next[partition] += 2;
        }
    } // connection closed, broker killed (SIGKILL): no chance to flush anything it acknowledged
    let broker = start_with_log_dir(dir.path());
    let mut stream = connect(&broker);
    for (partition, expected) in expected.iter().enumerate() {
        let (error, high_watermark, records) = fetch(&mut stream, "durable", partition as i32, 0, 0, 64 << 20);
        assert_eq!(error, 0);
        let batches = if partition == 0 { 334 } else { 333 }; // 1000 batches round-robin
        assert_eq!(high_watermark, 2 * batches);
        assert_eq!(records.len(), expected.len(), "partition {partition}");
        assert!(records[..] == expected[..], "partition {partition}: bytes differ after restart");
    }
}

#[test]
fn a_batch_with_one_flipped_bit_is_refused_and_nothing_is_written() {
    let dir = TempDir::new("flip");
    let broker = start_with_log_dir(dir.path());
    let mut stream = connect(&broker);
    create_topic(&mut stream, "flip", 1);
    let good = batch(&[("k", "v")], 0);
    assert_eq!(produce(&mut stream, "flip", 0, good.clone()), (0, 0));
    let segment = dir.path().join("flip-0/00000000000000000000.log");
    let before = std::fs::read(&segment).unwrap();
    for bit in [21 * 8, 40 * 8 + 3, (good.len() - 1) * 8 + 7] {
        let mut bad = good.to_vec();
        bad[bit / 8] ^= 1 << (bit % 8);
        let (error, offset) = produce(&mut stream, "flip", 0, Bytes::from(bad));
        assert_eq!((error, offset), (2, -1), "CORRUPT_MESSAGE for bit {bit}");
    }
    assert_eq!(std::fs::read(&segment).unwrap(), before, "nothing written");
    assert_eq!(produce(&mut stream, "flip", 0, good), (0, 1), "the next good batch gets the next offset");
}

#[test]
fn a_log_cut_inside_its_last_batch_loads_everything_before_it() {
    let dir = TempDir::new("cut");
    let batches: Vec<Bytes> = (0..3).map(|i| batch(&[("k", &format!("value {i}"))], 0)).collect();
    {
        let broker = start_with_log_dir(dir.path());
        let mut stream = connect(&broker);
        create_topic(&mut stream, "cut", 1);
        for (i, b) in batches.iter().enumerate() {
            assert_eq!(produce(&mut stream, "cut", 0, b.clone()), (0, i as i64));
        }
    }
    let segment = dir.path().join("cut-0/00000000000000000000.log");
    let full = std::fs::read(&segment).unwrap();
    let cut = full.len() - batches[2].len() / 2;
    std::fs::write(&segment, &full[..cut]).unwrap();

    let broker = start_with_log_dir(dir.path());
    let mut stream = connect(&broker);
    let (error, high_watermark, records) = fetch(&mut stream, "cut", 0, 0, 0, 1 << 20);
    assert_eq!((error, high_watermark), (0, 2));
    let mut expected = with_base_offset(&batches[0], 0);
    expected.extend(with_base_offset(&batches[1], 1));
    assert!(records[..] == expected[..]);
    // The damaged tail is gone from the file too, so the next append lands after batch 1.
    assert_eq!(produce(&mut stream, "cut", 0, batches[2].clone()), (0, 2));
    let file = std::fs::read(&segment).unwrap();
    let (good, bad) = record_batch::split(&file);
    assert_eq!((good.len(), bad), (3, None));
}

#[test]
fn a_hundred_thousand_batches_are_searched_by_offset() {
    // The partition's own index, in process: a hundred thousand produce round trips would test
    // the network, not the search.
    let meta = PartitionMeta { index: 0, leader: 1, leader_epoch: 0, replicas: vec![1], isr: vec![1] };
    let memory = std::sync::Arc::new(mini_kafka::log::retention::Memory::new(usize::MAX));
    let partition = Partition::new("big", &meta, Vec::new(), None, &[], 0, &memory);
    // Batches of 1, 2 or 3 records, so offsets and batch positions differ.
    let mut firsts = Vec::with_capacity(100_000);
    let mut next = 0i64;
    for i in 0..100_000u32 {
        let records = (i % 3 + 1) as usize;
        let values: Vec<Vec<u8>> = (0..records).map(|r| format!("{i}.{r}").into_bytes()).collect();
        let bytes = record_batch::build(0, 0, &values);
        let appended = partition.append(&SharedBytes::from_vec(bytes), 1 << 20).unwrap();
        assert_eq!(appended.base_offset, next);
        firsts.push(next);
        next += records as i64;
    }
    assert_eq!(partition.high_watermark(), next);
    for probe in [0, 1, 2, 3, 12_345, 99_999, 150_000, next - 1] {
        let slice = partition.read(probe, 1, true, false);
        assert_eq!(slice.batches.len(), 1, "offset {probe}");
        let found = &slice.batches[0];
        assert!(found.base_offset <= probe && probe <= found.last_offset, "offset {probe} in its batch");
        assert!(firsts.binary_search(&found.base_offset).is_ok());
        // The stored bytes are a whole valid batch whose record count matches the offsets.
        let (good, bad) = record_batch::split(&found.bytes);
        assert_eq!((good.len(), bad.is_none()), (1, true));
        let header = good[0].0;
        assert_eq!(found.base_offset + i64::from(header.last_offset_delta), found.last_offset);
    }
    assert_eq!(partition.read(next, 1 << 20, true, false).batches.len(), 0, "at the high watermark: nothing yet");
    assert_eq!(partition.read(next + 1, 1 << 20, true, false).error.code(), 1, "past it: OFFSET_OUT_OF_RANGE");
}

#[test]
fn a_producer_id_near_the_top_from_the_log_does_not_break_the_next_start() {
    use oracle::{init_producer_id, producer_batch};
    let dir = TempDir::new("pid");
    {
        let broker = start_with_log_dir(dir.path());
        let mut stream = connect(&broker);
        create_topic(&mut stream, "pid", 1);
        // Producer ids in batches come from clients; this one is as large as it gets.
        assert_eq!(produce(&mut stream, "pid", 0, producer_batch(&[("k", "v")], 0, i64::MAX, 0, 0)).0, 0);
    }
    // The restart itself must succeed (start_with_log_dir waits for "listening on"), and the next
    // id handed out must not wrap to a negative one (which would switch idempotence off).
    let broker = start_with_log_dir(dir.path());
    let id = init_producer_id(&mut connect(&broker));
    assert!(id >= 0, "ids handed out stay non-negative: {id}");
}
