//! The log: topics and their partitions (stage ea7), and the batches in them (dh6 on).
//!
//! ```text
//! Log
//!  ├── topics, by name and by id
//!  │    └── Topic { name, id, partitions }
//!  │              └── Partition: what the metadata says, and its log (batches, offsets, segment file)
//!  └── the metadata log: where topics come from
//! ```
//> clients
//!
//! The topic table sits behind a `RwLock`: read by every request, written only to create or
//! delete a topic, and then only for the moment of the change: the slow part (directories, the
//! metadata log) is done before, without it, so a produce never waits for another topic's
//! creation. Each partition has its own lock, and the metadata log a `Mutex` (it appends Topic
//! and Partition records when topics change).
//< clients
//!
//! Modules: [`batch`] (the record batch format), [`metadata`] (the KRaft cluster metadata log),
//! `partition` (one partition's log), `segment` (its files).

pub mod batch;
pub mod metadata;
pub mod partition; //> dh6
pub mod retention; //> retention
pub mod segment; //> dh6

use crate::wire::Uuid;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
//> ea7
use metadata::PartitionMeta;
//< ea7
//> dh6
use metadata::TopicMeta;
use partition::Partition;
use std::path::PathBuf;
//< dh6
//> clients
use crate::errors::ErrorCode;
use crate::sync::{lock, read, write};
use metadata::MetadataLog;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
//< clients
//> retention
use crate::config::Config;
use metadata::{BrokerConfigs, CONFIG_BROKER, CONFIG_TOPIC};
use retention::{Memory, Policy};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why a config change was refused: the error code and a message for the client.
pub type ConfigError = (ErrorCode, String);

/// Kafka's `message.max.bytes`, until the broker's config gives its own.
const KAFKA_MESSAGE_MAX_BYTES: usize = 1_048_588;
//< retention

/// A topic and its partitions.
//> clients
/// Immutable: adding partitions replaces the `Arc<Topic>` with a new one that shares the existing
/// `Arc<Partition>`s.
//< clients
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    /// Sorted by partition index (normally 0..n).
    /*> ea7 < dh6
    pub partitions: Vec<PartitionMeta>,
    */
    /*> dh6 < clients
    pub partitions: Vec<Partition>,
    */
    pub partitions: Vec<Arc<Partition>>, //> clients
    //> clients
    /// Topic-level configs given at creation (e.g. `cleanup.policy`): reported by DescribeConfigs.
    //< clients
    /*> clients < retention
    /// mini-kafka keeps every record forever, so retention and compaction settings are recorded,
    /// not enforced. In memory only: after a restart topics report Kafka's defaults.
     */
    //> retention
    /// Retention settings are enforced (compaction's are only reported); all are kept in the
    /// metadata log as ConfigRecords, so they survive a restart.
    //< retention
    //> clients
    pub configs: BTreeMap<String, String>,
    //< clients
}
//> dh6

impl Topic {
    /*> dh6 < clients
    pub fn partition(&self, index: i32) -> Option<&Partition> {
    */
    //> clients
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        //< clients
        self.partitions.binary_search_by_key(&index, |p| p.index).ok().map(|i| &self.partitions[i])
    }
}
//< dh6

//> clients
/// The topic table, by name and by id (Fetch names topics by id from v13 on).
#[derive(Default)]
struct Topics {
    by_name: BTreeMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
    /// Partitions of all topics, and of those being created: held to `max.partitions`.
    partitions: usize,
    /// Names being created or deleted right now (their files are being written).
    busy: HashSet<String>,
}

/// A topic name marked busy in the table, and the partitions counted for the change; unmarked
/// when dropped, and the partitions given back unless the change is `done`.
struct Busy<'a> {
    log: &'a Log,
    name: String,
    added: usize,
    done: bool,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut topics = write(&self.log.topics);
        topics.busy.remove(&self.name);
        if !self.done {
            topics.partitions -= self.added;
        }
    }
}
//< clients

pub struct Log {
    dir: Option<PathBuf>, //> dh6
    /*> ea7 < clients
    /// By name.
    topics: BTreeMap<String, Topic>,
    */
    //> clients
    topics: RwLock<Topics>,
    metadata: Mutex<MetadataLog>,
    /// The most partitions all topics together may have (`max.partitions`).
    max_partitions: usize,
    //< clients
    //> retention
    /// The broker's retention defaults from `server.properties`; the dynamic broker configs, then
    /// each topic's settings, go over them.
    retention: Policy,
    /// Dynamic broker configs (AlterConfigs on a broker resource), by resource name: "" for the
    /// cluster-wide defaults, a node id for one broker's own, which win. Kept as ConfigRecords.
    broker_configs: RwLock<BrokerConfigs>,
    /// This broker's node id, as a resource name: whose per-broker configs apply here.
    node: String,
    /// `message.max.bytes` from `server.properties`, and as it is now, with the dynamic configs
    /// over it: every produce reads it, so it is an atomic rather than behind a lock.
    static_message_max_bytes: usize,
    message_max_bytes: AtomicUsize,
    /// Bytes the partitions hold in memory, and the in-memory log's budget.
    memory: Arc<Memory>,
    /// Log start offsets moved by DeleteRecords, as read at start (`log-start-offset-checkpoint`).
    checkpoint: HashMap<(String, i32), i64>,
    /// Held while the checkpoint file is rewritten.
    checkpoint_file: Mutex<()>,
    /// Held through a change of configs, so two changes cannot lose one another.
    config_changes: Mutex<()>,
    //< retention
}
//> clients

/// Kafka's internal topics. Clients may not create them; `__cluster_metadata` would also share
/// its directory (`__cluster_metadata-0`) with the metadata log.
pub const INTERNAL_TOPICS: &[&str] = &["__cluster_metadata", "__consumer_offsets", "__transaction_state"];

/// Whether a topic is one of Kafka's internal topics (`is_internal` in Metadata and friends).
pub fn is_internal(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// The most partitions one topic may have, and by default all topics together (`max.partitions`).
/// Kafka sets no hard limit, but every partition costs memory and, with a log dir, a directory
/// and a file; a request must not be able to ask for two billion.
pub const MAX_PARTITIONS: i32 = 10_000;

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
//< clients

impl Log {
    /// An empty log in memory.
    pub fn in_memory() -> Log {
        Log {
            dir: None, //> dh6
            /*> ea7 < clients
            topics: BTreeMap::new(),
            */
            //> clients
            topics: RwLock::default(),
            metadata: Mutex::new(MetadataLog::in_memory()),
            max_partitions: MAX_PARTITIONS as usize,
            //< clients
            //> retention
            retention: Policy::KAFKA,
            broker_configs: RwLock::default(),
            node: String::new(),
            static_message_max_bytes: KAFKA_MESSAGE_MAX_BYTES,
            message_max_bytes: AtomicUsize::new(KAFKA_MESSAGE_MAX_BYTES),
            memory: Arc::new(Memory::new(usize::MAX)),
            checkpoint: HashMap::new(),
            checkpoint_file: Mutex::new(()),
            config_changes: Mutex::new(()),
            //< retention
        }
    }

    /// Loads the topics from the metadata log.
    //> dh6
    /// Every partition's segments are loaded too.
    //< dh6
    pub fn open(dir: &Path) -> io::Result<Log> {
        std::fs::create_dir_all(dir)?;
        /*> ea7 < clients
        let metas = metadata::load(dir)?;
        let mut log = Log {
        */
        //> clients
        /*> clients < retention
        let (metadata, metas) = metadata::load(dir)?;
        */
        let (metadata, metas, broker_configs) = metadata::load(dir)?; //> retention
        let log = Log {
            //< clients
            dir: Some(dir.to_path_buf()), //> dh6
            /*> ea7 < clients
            topics: BTreeMap::new(),
            */
            //> clients
            topics: RwLock::default(),
            metadata: Mutex::new(metadata),
            max_partitions: MAX_PARTITIONS as usize,
            //< clients
            //> retention
            retention: Policy::KAFKA,
            broker_configs: RwLock::new(broker_configs),
            node: String::new(),
            static_message_max_bytes: KAFKA_MESSAGE_MAX_BYTES,
            message_max_bytes: AtomicUsize::new(KAFKA_MESSAGE_MAX_BYTES),
            memory: Arc::new(Memory::new(usize::MAX)),
            checkpoint: read_checkpoint(dir)?,
            checkpoint_file: Mutex::new(()),
            config_changes: Mutex::new(()),
            //< retention
        };
        for meta in metas {
            /*> ea7 < ku4
            let partitions = meta.partitions;
            */
            /*> ku4 < dh6
            let partitions = meta.partitions.into_values().collect();
            */
            //> dh6
            let mut partitions = Vec::with_capacity(meta.partitions.len());
            for p in meta.partitions.values() {
                /*> dh6 < clients
                partitions.push(log.open_partition(&meta, p)?);
                */
                partitions.push(Arc::new(log.open_partition(&meta, p)?)); //> clients
            }
            //< dh6
            //> clients
            let batches: usize = partitions.iter().map(|p| p.batch_count()).sum();
            log::info!(
                "loaded topic {} ({}) with {} partitions, {batches} batches",
                meta.name,
                meta.id,
                partitions.len()
            );
            //< clients
            let topic = Topic {
                name: meta.name,
                id: meta.id,
                partitions,
                /*> clients < retention
                configs: BTreeMap::new(),
                */
                configs: meta.configs, //> retention
            };
            /*> ea7 < clients
            log.topics.insert(topic.name.clone(), topic);
            */
            //> clients
            let mut topics = write(&log.topics);
            let topic = Arc::new(topic);
            topics.partitions += topic.partitions.len();
            topics.by_id.insert(topic.id, Arc::clone(&topic));
            topics.by_name.insert(topic.name.clone(), topic);
            //< clients
        }
        Ok(log)
    }
    //> dh6

    /// A partition of a topic, with its log loaded from `<log.dirs>/<topic>-<index>/`.
    fn open_partition(&self, topic: &TopicMeta, meta: &PartitionMeta) -> io::Result<Partition> {
        //> dh6
        let dir = self.dir.as_ref().map(|d| d.join(format!("{}-{}", topic.name, meta.index)));
        /*> dh6 < ls8
        let batches = match dir {
            Some(dir) => segment::load(&dir)?,
            None => Vec::new(),
        };
        */
        //> ls8
        let (batches, segment) = match dir {
            Some(dir) => {
                /*> ls8 < clients
                let (batches, segment) = segment::load(&dir)?;
                */
                let (batches, segment) = segment::load(&dir, topic.id)?; //> clients
                (batches, Some(segment))
            }
            None => (Vec::new(), None),
        };
        //< ls8
        //< dh6
        /*> dh6 < ls8
        Ok(Partition::new(&topic.name, meta, batches))
        */
        /*> ls8 < retention
        Ok(Partition::new(&topic.name, meta, batches, segment))
        */
        //> retention
        let files = match &self.dir {
            Some(dir) => segment::file_offsets(&dir.join(format!("{}-{}", topic.name, meta.index)))?,
            None => Vec::new(),
        };
        let checkpoint = self.checkpoint.get(&(topic.name.clone(), meta.index)).copied().unwrap_or(0);
        Ok(Partition::new(&topic.name, meta, batches, segment, &files, checkpoint, &self.memory))
        //< retention
    }
    //< dh6

    /*> ea7 < clients
    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.get(name)
    }
    */
    //> clients
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        read(&self.topics).by_name.get(name).cloned()
    }
    //< clients
    /*> dh6 < clients
    pub fn topic_by_id(&self, id: Uuid) -> Option<&Topic> {
        // A scan: a handful of topics. From stage clients on, an index by id.
        self.topics.values().find(|t| t.id == id)
    }
    */
    /*> zf2 < clients

    pub fn partition(&self, topic: &str, index: i32) -> Option<&Partition> {
        self.topic(topic)?.partition(index)
    }
    */
    //> clients

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

    fn partition_meta(node_id: i32, index: i32) -> PartitionMeta {
        PartitionMeta { index, leader: node_id, leader_epoch: 0, replicas: vec![node_id], isr: vec![node_id] }
    }

    /// The same log, holding all topics together to `max` partitions (`max.partitions`).
    pub fn with_max_partitions(mut self, max: usize) -> Log {
        self.max_partitions = max;
        self
    }
    //> retention

    /// Takes the broker's retention defaults, `message.max.bytes` and node id from its config and,
    /// for the in-memory log, its budget, then puts the dynamic broker configs read from the
    /// metadata log in force over them: the loaded partitions are held to their sizes at once (to
    /// times when the cleaner first looks).
    pub fn with_retention(mut self, config: &Config) -> Log {
        self.retention = Policy::from_config(config);
        self.static_message_max_bytes = config.message_max_bytes;
        self.node = config.node_id.to_string();
        if self.dir.is_none() {
            self.memory.set_max(config.log_memory_max_bytes);
        }
        self.apply_broker_configs();
        self
    }

    /// A topic's policy: the broker's defaults (static, then dynamic) with the topic's settings
    /// over them. In memory, segments are a sixteenth of the budget at most, so the budget drops
    /// data in small steps.
    fn policy_for(&self, configs: &BTreeMap<String, String>) -> Policy {
        let broker_configs = read(&self.broker_configs);
        let defaults = self.dynamic_layers(&broker_configs).fold(self.retention, Policy::with_broker);
        let mut policy = defaults.with_topic(configs);
        if self.dir.is_none() {
            policy.segment_bytes = policy.segment_bytes.min((self.memory.max() / 16).max(1) as u64);
        }
        policy
    }

    /// The cleaner's round: drops segments past `retention.ms` (and any other limit) in every
    /// partition, then, while the in-memory log is over its budget, the broker's oldest segment.
    pub fn clean(&self) {
        let partitions: Vec<Arc<Partition>> = self.topics().iter().flat_map(|t| t.partitions.iter().cloned()).collect();
        let now = retention::now_ms();
        for p in &partitions {
            p.enforce_retention(now);
        }
        while self.memory.is_over() {
            let oldest = partitions.iter().filter_map(|p| Some((p.oldest_segment()?, p))).min_by_key(|(at, _)| *at);
            match oldest {
                Some((_, p)) if p.drop_oldest_segment() => {}
                _ => break,
            }
        }
    }

    /// Runs the cleaner every `interval`, and whenever an append takes the in-memory log over its
    /// budget. Never returns: the server runs it on a thread of its own.
    pub fn run_cleaner(&self, interval: std::time::Duration) {
        loop {
            self.memory.wait(interval);
            self.clean();
        }
    }

    /// Bytes all partitions hold in memory.
    pub fn memory_used(&self) -> usize {
        self.memory.used()
    }

    /// DeleteRecords for one partition: its log start offset moves to `offset` (-1: the high
    /// watermark), and is saved in `log-start-offset-checkpoint`. Returns the new start.
    pub fn delete_records(&self, partition: &Partition, offset: i64) -> Result<i64, ErrorCode> {
        let start = partition.delete_records(offset)?;
        if let Err(e) = self.save_checkpoint() {
            log::error!("cannot save log-start-offset-checkpoint: {e}");
            return Err(ErrorCode::KafkaStorageError);
        }
        Ok(start)
    }

    /// The dynamic broker configs in force here, weakest first: the cluster-wide defaults, then
    /// this broker's own.
    fn dynamic_layers<'a>(&self, configs: &'a BrokerConfigs) -> impl Iterator<Item = &'a BTreeMap<String, String>> {
        [configs.get(""), configs.get(&self.node)].into_iter().flatten()
    }

    /// Puts the dynamic broker configs in force: `message.max.bytes` for the next produce, and the
    /// broker's retention defaults for every partition (a topic's own settings still win).
    fn apply_broker_configs(&self) {
        let max_set = {
            let configs = read(&self.broker_configs);
            let layers = self.dynamic_layers(&configs);
            layers.filter_map(|c| c.get("message.max.bytes")?.parse().ok()).last()
        };
        self.message_max_bytes.store(max_set.unwrap_or(self.static_message_max_bytes), Ordering::Relaxed);
        for topic in self.topics() {
            let policy = self.policy_for(&topic.configs);
            topic.partitions.iter().for_each(|p| p.set_policy(policy));
        }
    }

    /// `message.max.bytes` now: the largest batch a produce may carry.
    pub fn message_max_bytes(&self) -> usize {
        self.message_max_bytes.load(Ordering::Relaxed)
    }

    /// The dynamic configs of broker resource `name`: "" for the cluster-wide defaults, a node id
    /// for that broker's own.
    pub fn broker_configs(&self, name: &str) -> BTreeMap<String, String> {
        read(&self.broker_configs).get(name).cloned().unwrap_or_default()
    }

    /// AlterConfigs for a topic: `change` edits a copy of its configs (and may refuse); the result
    /// is checked, saved as ConfigRecords for the keys that changed, and its partitions follow it
    /// at once. With `validate_only`, or on any error, nothing changes.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        validate_only: bool,
        change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        let _one_at_a_time = lock(&self.config_changes);
        let unknown = || (ErrorCode::UnknownTopicOrPartition, format!("topic {name} does not exist"));
        let topic = self.topic(name).ok_or_else(unknown)?;
        let mut configs = topic.configs.clone();
        change(&mut configs)?;
        for (key, value) in &configs {
            retention::check_topic_config(key, value).map_err(|m| (ErrorCode::InvalidConfig, m))?;
        }
        if validate_only {
            return Ok(());
        }
        self.save_configs(CONFIG_TOPIC, name, &topic.configs, &configs)?;
        let mut topics = write(&self.topics);
        let current = topics.by_name.get(name).filter(|t| t.id == topic.id).cloned().ok_or_else(unknown)?;
        let policy = self.policy_for(&configs);
        current.partitions.iter().for_each(|p| p.set_policy(policy));
        log::info!("topic {name}: configs now {configs:?}");
        let partitions = current.partitions.clone();
        let updated = Arc::new(Topic { name: current.name.clone(), id: current.id, partitions, configs });
        topics.by_id.insert(updated.id, Arc::clone(&updated));
        topics.by_name.insert(updated.name.clone(), updated);
        Ok(())
    }

    /// AlterConfigs for a broker resource (`name` "" or this broker's node id), as for a topic:
    /// `change` edits a copy of its dynamic configs, the result is checked, the keys that changed
    /// are saved as ConfigRecords, and the new values are in force at once. With `validate_only`,
    /// or on any error, nothing changes.
    pub fn alter_broker_configs(
        &self,
        name: &str,
        validate_only: bool,
        change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        let _one_at_a_time = lock(&self.config_changes);
        let old = self.broker_configs(name);
        let mut configs = old.clone();
        change(&mut configs)?;
        for (key, value) in &configs {
            // INVALID_REQUEST, as Kafka answers for a broker value it refuses (its KAFKA-13609:
            // INVALID_CONFIG would say it better, but clients already know this one).
            retention::check_broker_config(key, value).map_err(|m| (ErrorCode::InvalidRequest, m))?;
        }
        if validate_only {
            return Ok(());
        }
        self.save_configs(CONFIG_BROKER, name, &old, &configs)?;
        log::info!("broker resource {name:?}: dynamic configs now {configs:?}");
        write(&self.broker_configs).insert(name.to_string(), configs);
        self.apply_broker_configs();
        Ok(())
    }

    /// Saves a resource's configs that differ between `old` and `new` as ConfigRecords, in one
    /// batch of the metadata log.
    fn save_configs(
        &self,
        resource_type: i8,
        name: &str,
        old: &BTreeMap<String, String>,
        new: &BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        let records: Vec<Vec<u8>> = keys
            .into_iter()
            .filter(|k| old.get(*k) != new.get(*k))
            .map(|k| metadata::config_record(resource_type, name, k, new.get(k).map(String::as_str)))
            .collect();
        if !records.is_empty()
            && let Err(e) = lock(&self.metadata).append(&records)
        {
            log::error!("cannot save the configs of {name:?}: {e}");
            return Err((ErrorCode::KafkaStorageError, format!("cannot save the configs of {name:?}")));
        }
        Ok(())
    }

    /// Rewrites `log-start-offset-checkpoint` (Kafka's format: version, count, then `topic
    /// partition offset` lines) from every partition whose start DeleteRecords moved.
    fn save_checkpoint(&self) -> io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let _writing = lock(&self.checkpoint_file);
        let mut lines = Vec::new();
        for topic in self.topics() {
            for p in &topic.partitions {
                if p.log_start_offset() > 0 {
                    lines.push(format!("{} {} {}", topic.name, p.index, p.log_start_offset()));
                }
            }
        }
        let text = format!("0\n{}\n{}", lines.len(), lines.iter().map(|l| format!("{l}\n")).collect::<String>());
        let tmp = dir.join("log-start-offset-checkpoint.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(tmp, dir.join("log-start-offset-checkpoint"))
    }
    //< retention

    /// Creates a topic with a random id and `partitions` empty partitions led by `node_id`,
    /// persisting it to the metadata log and creating its directories when there is a log dir.
    /// A failed write is `KAFKA_STORAGE_ERROR`, and leaves no topic behind.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        node_id: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, ErrorCode> {
        if !valid_topic_name(name) {
            return Err(ErrorCode::InvalidTopicException);
        }
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(ErrorCode::InvalidPartitions);
        }
        let mut busy = self.reserve(name, ErrorCode::TopicAlreadyExists, |topics| {
            if topics.by_name.contains_key(name) { Err(ErrorCode::TopicAlreadyExists) } else { Ok(partitions as usize) }
        })?;
        // The slow part, without the topic table's lock: directories, files, the metadata log.
        let meta = TopicMeta {
            name: name.to_string(),
            id: Uuid::random(),
            partitions: (0..partitions).map(|i| (i, Log::partition_meta(node_id, i))).collect(),
            configs: BTreeMap::new(), //> retention
        };
        let mut records = vec![metadata::topic_record(name, meta.id)];
        records.extend(meta.partitions.values().map(|p| metadata::partition_record(meta.id, p)));
        records.extend(configs.iter().map(|(k, v)| metadata::config_record(CONFIG_TOPIC, name, k, Some(v)))); //> retention
        self.move_aside_leftovers(name, partitions).map_err(|e| {
            log::error!("cannot create topic {name}: {e}");
            ErrorCode::KafkaStorageError
        })?;
        let opened: io::Result<Vec<_>> =
            meta.partitions.values().map(|p| self.open_partition(&meta, p).map(Arc::new)).collect();
        let persisted = opened.and_then(|parts| lock(&self.metadata).append(&records).map(|_| parts));
        let partitions = persisted.map_err(|e| {
            log::error!("cannot create topic {name}: {e}");
            self.remove_partition_dirs(name, 0..partitions);
            ErrorCode::KafkaStorageError
        })?;
        let topic = Arc::new(Topic { name: name.to_string(), id: meta.id, partitions, configs });
        let mut topics = write(&self.topics);
        //> retention
        // Under the table's lock: a change of the broker's defaults sees this topic, or came first.
        let policy = self.policy_for(&topic.configs);
        topic.partitions.iter().for_each(|p| p.set_policy(policy));
        //< retention
        topics.by_id.insert(topic.id, Arc::clone(&topic));
        topics.by_name.insert(topic.name.clone(), Arc::clone(&topic));
        busy.done = true;
        log::info!("created topic {name} ({}) with {} partitions", topic.id, topic.partitions.len());
        Ok(topic)
    }

    /// Directories named like the new topic's partitions belong to no topic (one deleted whose
    /// files could not be removed): renamed aside, kept, and said so, rather than lending the new
    /// topic their records.
    fn move_aside_leftovers(&self, name: &str, partitions: i32) -> io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let stamp = std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_millis());
        for i in 0..partitions {
            let old = dir.join(format!("{name}-{i}"));
            if old.exists() {
                let aside = dir.join(format!("{name}-{i}.left-{stamp}"));
                std::fs::rename(&old, &aside)?;
                log::warn!("{} belongs to no topic: moved to {}", old.display(), aside.display());
            }
        }
        Ok(())
    }

    /// Removes the directories of partitions `indexes` of `name`: deleted, or never recorded in
    /// the metadata log. One that cannot be removed is moved aside when the name is next created.
    fn remove_partition_dirs(&self, name: &str, indexes: std::ops::Range<i32>) {
        let Some(dir) = &self.dir else { return };
        for i in indexes {
            let path = dir.join(format!("{name}-{i}"));
            match std::fs::remove_dir_all(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => log::warn!("{}: not removed ({e})", path.display()),
                _ => {}
            }
        }
    }

    /// Marks `name` busy while its files are written (`if_busy` if it is already), after `check`
    /// passed, and counts the partitions `check` says the change adds, if they fit in
    /// `max.partitions`: a change that fails gives them back.
    fn reserve(
        &self,
        name: &str,
        if_busy: ErrorCode,
        check: impl FnOnce(&Topics) -> Result<usize, ErrorCode>,
    ) -> Result<Busy<'_>, ErrorCode> {
        let mut topics = write(&self.topics);
        if topics.busy.contains(name) {
            return Err(if_busy);
        }
        let added = check(&topics)?;
        if topics.partitions + added > self.max_partitions {
            let (exist, max) = (topics.partitions, self.max_partitions);
            log::warn!("refusing {added} partitions for {name}: {exist} exist, max.partitions is {max}");
            return Err(ErrorCode::InvalidPartitions);
        }
        topics.partitions += added;
        topics.busy.insert(name.to_string());
        Ok(Busy { log: self, name: name.to_string(), added, done: false })
    }

    /// Grows a topic to `total` partitions, led by `node_id`.
    pub fn create_partitions(&self, name: &str, total: i32, node_id: i32) -> Result<(), ErrorCode> {
        let mut current = 0;
        let mut busy = self.reserve(name, ErrorCode::InvalidPartitions, |topics| {
            let topic = topics.by_name.get(name).ok_or(ErrorCode::UnknownTopicOrPartition)?;
            current = topic.partitions.len() as i32;
            if total <= current || total > MAX_PARTITIONS {
                return Err(ErrorCode::InvalidPartitions);
            }
            Ok((total - current) as usize)
        })?;
        let old = self.topic(name).ok_or(ErrorCode::UnknownTopicOrPartition)?;
        /*> clients < retention
        let meta = TopicMeta { name: old.name.clone(), id: old.id, partitions: BTreeMap::new() };
        */
        //> retention
        let meta =
            TopicMeta { name: old.name.clone(), id: old.id, partitions: BTreeMap::new(), configs: BTreeMap::new() };
        //< retention
        let mut partitions = old.partitions.clone();
        let mut records = Vec::new();
        let failed = |e: io::Error| {
            log::error!("cannot create partitions of {name}: {e}");
            self.remove_partition_dirs(name, current..total);
            ErrorCode::KafkaStorageError
        };
        for i in current..total {
            let p = Log::partition_meta(node_id, i);
            partitions.push(Arc::new(self.open_partition(&meta, &p).map_err(failed)?));
            records.push(metadata::partition_record(old.id, &p));
        }
        lock(&self.metadata).append(&records).map_err(failed)?;
        /*> clients < retention
        let topic = Arc::new(Topic { name: old.name.clone(), id: old.id, partitions, configs: old.configs.clone() });
        let mut topics = write(&self.topics);
        */
        //> retention
        let mut topics = write(&self.topics);
        // The configs as they are now: AlterConfigs may have changed them meanwhile.
        let configs = topics.by_name.get(name).map_or_else(|| old.configs.clone(), |t| t.configs.clone());
        let policy = self.policy_for(&configs);
        partitions.iter().for_each(|p| p.set_policy(policy));
        let topic = Arc::new(Topic { name: old.name.clone(), id: old.id, partitions, configs });
        //< retention
        topics.by_id.insert(topic.id, Arc::clone(&topic));
        topics.by_name.insert(topic.name.clone(), topic);
        busy.done = true;
        Ok(())
    }

    /// Deletes a topic: it disappears at once; its files are removed. If the deletion cannot be
    /// written to the metadata log, the topic stays, and the answer is `KAFKA_STORAGE_ERROR`.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid, ErrorCode> {
        let _busy = self.reserve(name, ErrorCode::UnknownTopicOrPartition, |topics| {
            if topics.by_name.contains_key(name) { Ok(0) } else { Err(ErrorCode::UnknownTopicOrPartition) }
        })?;
        let topic = self.topic(name).ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if let Err(e) = lock(&self.metadata).append(&[metadata::remove_topic_record(topic.id)]) {
            log::error!("cannot persist deletion of {name}: {e}");
            return Err(ErrorCode::KafkaStorageError);
        }
        {
            let mut topics = write(&self.topics);
            topics.by_name.remove(name);
            topics.by_id.remove(&topic.id);
            topics.partitions -= topic.partitions.len();
        }
        self.remove_partition_dirs(name, 0..topic.partitions.len() as i32);
        //> retention
        // A topic created later under this name must not inherit this one's start offsets.
        if let Err(e) = self.save_checkpoint() {
            log::error!("cannot save log-start-offset-checkpoint: {e}");
        }
        //< retention
        log::info!("deleted topic {name} ({})", topic.id);
        Ok(topic.id)
    }
    //< clients
}
//> retention

/// Reads `log-start-offset-checkpoint`, if there is one: `(topic, partition) → log start offset`.
fn read_checkpoint(dir: &Path) -> io::Result<HashMap<(String, i32), i64>> {
    let path = dir.join("log-start-offset-checkpoint");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(e),
    };
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("{}: not a checkpoint file", path.display()));
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        return Err(bad());
    }
    let count: usize = lines.next().and_then(|l| l.trim().parse().ok()).ok_or_else(bad)?;
    let mut offsets = HashMap::new();
    for line in lines.take(count) {
        let mut fields = line.split_whitespace();
        let (Some(topic), Some(partition), Some(offset)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad());
        };
        let (partition, offset) = (partition.parse().map_err(|_| bad())?, offset.parse().map_err(|_| bad())?);
        offsets.insert((topic.to_string(), partition), offset);
    }
    Ok(offsets)
}
//< retention
