//! The record batches the generator sends, and the topics they go to.

use crate::{
    BIG_RECORD, BIG_RECORDS_PER_BATCH, FETCH_PARTITION_MAX_BYTES, PARTITIONS, SMALL_RECORD, SMALL_TOPIC, TOPIC,
};
use mini_kafka::log::batch;
use mini_kafka::log::metadata::{PartitionMeta, partition_record, topic_record};
use mini_kafka::wire::{SharedBytes, Uuid};
use std::io;
use std::path::Path;

pub struct Fixtures {
    pub topic_id: Uuid,
    pub small_topic_id: Uuid,
    /// One batch of 100 records × 1 KiB, valid (CRC included); the broker rewrites its base offset.
    pub big_batch: Vec<u8>,
    /// One batch of one 100-byte record.
    pub small_batch: Vec<u8>,
}

impl Fixtures {
    pub fn new() -> Fixtures {
        let now = now_ms();
        // Values with some variety (the content does not matter without compression).
        let value = |len: usize, seed: usize| (0..len).map(|i| (i * 31 + seed * 7) as u8).collect::<Vec<u8>>();
        let big: Vec<Vec<u8>> = (0..BIG_RECORDS_PER_BATCH).map(|i| value(BIG_RECORD, i)).collect();
        Fixtures {
            topic_id: Uuid::random(),
            small_topic_id: Uuid::random(),
            big_batch: batch::build(0, now, &big),
            small_batch: batch::build(0, now, &[value(SMALL_RECORD, 0)]),
        }
    }

    /// The cluster metadata log that creates the topics, as the CodeCrafters runner writes it.
    pub fn write_metadata_log(&self, log_dir: &Path) -> io::Result<()> {
        let mut values = vec![topic_record(TOPIC, self.topic_id)];
        let partition = |index| PartitionMeta { index, leader: 1, leader_epoch: 0, replicas: vec![1], isr: vec![1] };
        values.extend((0..PARTITIONS).map(|i| partition_record(self.topic_id, &partition(i))));
        values.push(topic_record(SMALL_TOPIC, self.small_topic_id));
        values.push(partition_record(self.small_topic_id, &partition(0)));
        let dir = log_dir.join("__cluster_metadata-0");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("00000000000000000000.log"), batch::build(0, now_ms(), &values))
    }

    /// What the broker answers to a 1 MiB-per-partition fetch of the big batches: as many whole
    /// batches as fit (the sink sends this to every fetch). Base offsets 0, 100, 200, ...
    pub fn fetch_records(&self) -> SharedBytes {
        let n = (FETCH_PARTITION_MAX_BYTES as usize / self.big_batch.len()).max(1);
        let mut out = Vec::with_capacity(n * self.big_batch.len());
        for i in 0..n {
            let start = out.len();
            out.extend_from_slice(&self.big_batch);
            batch::set_base_offset(&mut out[start..], (i * BIG_RECORDS_PER_BATCH) as i64);
        }
        SharedBytes::from_vec(out)
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
