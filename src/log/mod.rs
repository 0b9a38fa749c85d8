//! The log: topics, their partitions, and the batches in them (stages vt6 → ov0).
//!
//! ```text
//! Log
//!  ├── topics (RwLock: read by every request, written only to create or delete a topic)
//!  │    └── Topic { name, id, partitions: [Arc<Partition>] }
//!  │              └── Partition (its own Mutex): batches, offsets, segment file, waiting fetchers
//!  └── metadata log (Mutex): appends Topic/Partition records when topics change
//! ```
//!
//! Modules: [`batch`] (the record batch format), [`partition`] (one partition's log),
//! [`segment`] (its files), [`metadata`] (the KRaft cluster metadata log).

pub mod batch;
pub mod metadata;
pub mod partition;
pub mod segment;

use crate::errors::ErrorCode;
use crate::sync::{lock, read, write};
use crate::wire::Uuid;
use metadata::{MetadataLog, PartitionMeta, TopicMeta};
use partition::Partition;
use segment::Segment;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// A topic and its partitions. Immutable: adding partitions replaces the `Arc<Topic>` with a new
/// one that shares the existing `Arc<Partition>`s.
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    /// Sorted by partition index (normally 0..n).
    pub partitions: Vec<Arc<Partition>>,
    /// Topic-level configs given at creation (e.g. `cleanup.policy`): reported by DescribeConfigs.
    /// mini-kafka keeps every record forever, so retention and compaction settings are recorded,
    /// not enforced. In memory only: after a restart topics report Kafka's defaults.
    pub configs: BTreeMap<String, String>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        self.partitions.binary_search_by_key(&index, |p| p.index).ok().map(|i| &self.partitions[i])
    }
}

#[derive(Default)]
struct Topics {
    by_name: BTreeMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
}

pub struct Log {
    dir: Option<PathBuf>,
    node_id: i32,
    topics: RwLock<Topics>,
    metadata: Mutex<MetadataLog>,
}

/// The most partitions one topic may have. Kafka sets no hard limit, but every partition costs
/// memory and (with a log dir) a directory, and a request must not be able to ask for two billion.
pub const MAX_PARTITIONS: i32 = 10_000;

/// Kafka's internal topics. Clients may not create them; `__cluster_metadata` would also share its
/// directory (`__cluster_metadata-0`) with the metadata log.
pub const INTERNAL_TOPICS: &[&str] = &["__cluster_metadata", "__consumer_offsets", "__transaction_state"];

/// Whether a topic is one of Kafka's internal topics (Metadata's `is_internal`).
pub fn is_internal(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// Kafka's rule for topic names: 1-249 characters from `[a-zA-Z0-9._-]`, not `.` or `..`, and not
/// an internal topic's name.
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && !is_internal(name)
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

impl Log {
    /// An empty log in memory.
    pub fn in_memory(node_id: i32) -> Log {
        Log { dir: None, node_id, topics: RwLock::default(), metadata: Mutex::new(MetadataLog::in_memory()) }
    }

    /// Loads the topics from the metadata log and every partition's segments.
    pub fn open(dir: &Path, node_id: i32) -> io::Result<Log> {
        std::fs::create_dir_all(dir)?;
        let (metadata, metas) = MetadataLog::load(dir)?;
        let log =
            Log { dir: Some(dir.to_path_buf()), node_id, topics: RwLock::default(), metadata: Mutex::new(metadata) };
        for meta in metas {
            let mut partitions = Vec::with_capacity(meta.partitions.len());
            for p in meta.partitions.values() {
                partitions.push(Arc::new(log.open_partition(&meta.name, meta.id, p)?));
            }
            let batches: usize = partitions.iter().map(|p| p.batch_count()).sum();
            log::info!(
                "loaded topic {} ({}) with {} partitions, {batches} batches",
                meta.name,
                meta.id,
                partitions.len()
            );
            let topic = Arc::new(Topic { name: meta.name, id: meta.id, partitions, configs: BTreeMap::new() });
            let mut topics = write(&log.topics);
            topics.by_id.insert(topic.id, Arc::clone(&topic));
            topics.by_name.insert(topic.name.clone(), topic);
        }
        Ok(log)
    }

    fn open_partition(&self, topic: &str, id: Uuid, meta: &PartitionMeta) -> io::Result<Partition> {
        let mut partition = match &self.dir {
            Some(dir) => {
                let (batches, segment) = Segment::load(&dir.join(format!("{topic}-{}", meta.index)), id)?;
                Partition::new(topic, meta.index, batches, Some(segment))
            }
            None => Partition::new(topic, meta.index, Vec::new(), None),
        };
        partition.leader = meta.leader;
        partition.leader_epoch = meta.leader_epoch;
        partition.replicas = meta.replicas.clone();
        partition.isr = meta.isr.clone();
        Ok(partition)
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        read(&self.topics).by_name.get(name).cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        read(&self.topics).by_id.get(&id).cloned()
    }

    /// Every topic, sorted by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        read(&self.topics).by_name.values().cloned().collect()
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.topic(topic)?.partition(index).cloned()
    }

    /// The largest producer id found in any partition (-1 if none).
    pub fn max_producer_id(&self) -> i64 {
        self.topics().iter().flat_map(|t| t.partitions.iter()).map(|p| p.max_producer_id()).max().unwrap_or(-1)
    }

    fn partition_meta(&self, index: i32) -> PartitionMeta {
        PartitionMeta {
            index,
            leader: self.node_id,
            leader_epoch: 0,
            replicas: vec![self.node_id],
            isr: vec![self.node_id],
        }
    }

    /// Creates a topic with a random id and `partitions` empty partitions, persisting it to the
    /// metadata log and creating its directories when there is a log dir.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, ErrorCode> {
        if !valid_topic_name(name) {
            return Err(ErrorCode::InvalidTopicException);
        }
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(ErrorCode::InvalidPartitions);
        }
        let mut topics = write(&self.topics);
        if topics.by_name.contains_key(name) {
            return Err(ErrorCode::TopicAlreadyExists);
        }
        let meta = TopicMeta {
            name: name.to_string(),
            id: Uuid::random(),
            partitions: (0..partitions).map(|i| (i, self.partition_meta(i))).collect(),
        };
        let mut records = vec![metadata::topic_record(name, meta.id)];
        records.extend(meta.partitions.values().map(|p| metadata::partition_record(meta.id, p)));
        let opened: io::Result<Vec<_>> =
            meta.partitions.values().map(|p| self.open_partition(name, meta.id, p).map(Arc::new)).collect();
        let persisted = opened.and_then(|parts| lock(&self.metadata).append(&records).map(|_| parts));
        let partitions = persisted.map_err(|e| {
            log::error!("cannot create topic {name}: {e}");
            ErrorCode::InvalidConfig
        })?;
        let topic = Arc::new(Topic { name: name.to_string(), id: meta.id, partitions, configs });
        topics.by_id.insert(topic.id, Arc::clone(&topic));
        topics.by_name.insert(topic.name.clone(), Arc::clone(&topic));
        log::info!("created topic {name} ({}) with {} partitions", topic.id, topic.partitions.len());
        Ok(topic)
    }

    /// Grows a topic to `total` partitions.
    pub fn create_partitions(&self, name: &str, total: i32) -> Result<(), ErrorCode> {
        let mut topics = write(&self.topics);
        let Some(old) = topics.by_name.get(name).cloned() else {
            return Err(ErrorCode::UnknownTopicOrPartition);
        };
        let current = old.partitions.len() as i32;
        if total <= current || total > MAX_PARTITIONS {
            return Err(ErrorCode::InvalidPartitions);
        }
        let mut partitions = old.partitions.clone();
        let mut records = Vec::new();
        for i in current..total {
            let meta = self.partition_meta(i);
            let p = self.open_partition(name, old.id, &meta).map_err(|_| ErrorCode::InvalidPartitions)?;
            partitions.push(Arc::new(p));
            records.push(metadata::partition_record(old.id, &meta));
        }
        if let Err(e) = lock(&self.metadata).append(&records) {
            log::error!("cannot persist partitions of {name}: {e}");
        }
        let topic = Arc::new(Topic { name: old.name.clone(), id: old.id, partitions, configs: old.configs.clone() });
        topics.by_id.insert(topic.id, Arc::clone(&topic));
        topics.by_name.insert(topic.name.clone(), topic);
        Ok(())
    }

    /// Deletes a topic: it disappears at once; its files are removed.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid, ErrorCode> {
        let mut topics = write(&self.topics);
        let Some(topic) = topics.by_name.remove(name) else {
            return Err(ErrorCode::UnknownTopicOrPartition);
        };
        topics.by_id.remove(&topic.id);
        if let Err(e) = lock(&self.metadata).append(&[metadata::remove_topic_record(topic.id)]) {
            log::error!("cannot persist deletion of {name}: {e}");
        }
        if let Some(dir) = &self.dir {
            for p in &topic.partitions {
                let _ = std::fs::remove_dir_all(dir.join(format!("{name}-{}", p.index)));
            }
        }
        log::info!("deleted topic {name} ({})", topic.id);
        Ok(topic.id)
    }
}
