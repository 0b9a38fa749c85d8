//! The KRaft cluster metadata log, `<log.dirs>/__cluster_metadata-0/00000000000000000000.log`:
//! stage ea7 reads its topics and their partitions, and from stage clients on the topics created
//! at run time are appended to it.
//!
//! In KRaft mode Kafka keeps the cluster's state — topics, partitions, features — as records in
//! an internal log: record batches like any partition's, whose records' values are metadata
//! records:
//!
//! ```text
//! frame_version INT8 (1) | type INT8 | version INT8 | data...
//!
//! type 12 FeatureLevelRecord  name COMPACT_STRING, feature_level INT16, TAG_BUFFER
//! type  2 TopicRecord         name COMPACT_STRING, topic_id UUID, TAG_BUFFER
//! type  3 PartitionRecord     partition_id INT32, topic_id UUID, replicas, isr, removing, adding
//!                             (COMPACT_ARRAY of INT32 each), leader INT32, leader_epoch INT32,
//!                             partition_epoch INT32, [v1+: directories COMPACT_ARRAY of UUID], TAG_BUFFER
//! type  9 RemoveTopicRecord   topic_id UUID, TAG_BUFFER
//! ```
//> retention
//!
//! From stage retention on, a topic's own configs (from CreateTopics and AlterConfigs) are kept
//! as well, and so are the broker's dynamic configs (AlterConfigs on a broker resource: "" for the
//! cluster-wide defaults, a node id for one broker's own):
//!
//! ```text
//! type  4 ConfigRecord        resource_type INT8 (2 = topic, 4 = broker), resource_name COMPACT_STRING,
//!                             name COMPACT_STRING, value COMPACT_NULLABLE_STRING (null: removed), TAG_BUFFER
//! ```
//< retention
//!
//! Replaying the records in order gives the topic table. Types this broker does not use are
//! skipped. A missing log (the runner writes none in stages without topics) means no topics.

use super::batch;
use crate::wire::{DecodeError, Reader, Uuid};
use std::fs;
use std::io;
use std::path::Path;
//> ku4
use std::collections::BTreeMap;
//< ku4
//> clients
use crate::wire::Writer;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
//< clients

pub const TOPIC_RECORD: i8 = 2;
pub const PARTITION_RECORD: i8 = 3; //> ea7
//> clients
pub const REMOVE_TOPIC_RECORD: i8 = 9;
pub const CONFIG_RECORD: i8 = 4; //> retention
pub const FEATURE_LEVEL_RECORD: i8 = 12;
//< clients
//> ea7

/// A partition as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMeta {
    pub index: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}
//< ea7

/// A topic as the metadata describes it.
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    /*> ea7 < ku4
    pub partitions: Vec<PartitionMeta>,
    */
    //> ku4
    /// By index: the records may list them in any order, and may record one again.
    pub partitions: BTreeMap<i32, PartitionMeta>,
    //< ku4
    /// The topic's own configs, from its ConfigRecords.
    pub configs: BTreeMap<String, String>, //> retention
}
//> retention

/// Dynamic broker configs, by broker resource name ("" for the cluster-wide defaults, a node id
/// for one broker's own): key → value.
pub type BrokerConfigs = BTreeMap<String, BTreeMap<String, String>>;

/// One dynamic broker config read from a ConfigRecord: resource name, key, value (`None`: removed).
pub type BrokerConfig = (String, String, Option<String>);
//< retention
//> clients

/// The metadata log file, appended to when topics change at run time. Opened for each append:
/// topics change rarely, and a broker with no descriptor held on it can be shown a full disk.
pub struct MetadataLog {
    path: PathBuf,
    /// Bytes of whole batches in the file: where a failed write is cut back to.
    len: u64,
    next_offset: i64,
}
//< clients

/// Reads the topics from `<log_dir>/__cluster_metadata-0/`.
//> clients
/// Returns them with the log, opened for appends (a damaged tail is cut off first).
//< clients
pub fn load(
    log_dir: &Path,
    //> retention
) -> io::Result<(MetadataLog, Vec<TopicMeta>, BrokerConfigs)> {
    //< retention
    /*> clients < retention
    ) -> io::Result<(MetadataLog, Vec<TopicMeta>)> {
    */
    /*> ea7 < clients
    ) -> io::Result<Vec<TopicMeta>> {
    */
    let dir = log_dir.join("__cluster_metadata-0");
    let path = dir.join("00000000000000000000.log");
    let bytes =
        fs::read(&path).or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(Vec::new()) } else { Err(e) })?;
    let (batches, damage) = batch::split(&bytes);
    if let Some(e) = &damage {
        log::warn!("{}: {e}; the rest is ignored", path.display());
    }
    let mut topics: Vec<TopicMeta> = Vec::new();
    let mut broker_configs = BrokerConfigs::new(); //> retention
    for (_, b) in &batches {
        let records = batch::records(b).unwrap_or_else(|e| {
            log::warn!("{}: metadata batch skipped: {e}", path.display());
            Vec::new()
        });
        for value in records.iter().filter_map(|r| r.value) {
            /*> ea7 < retention
            if let Err(e) = apply(&mut topics, &mut Reader::new(value)) {
                log::warn!("{}: metadata record skipped: {e}", path.display());
            }
            */
            //> retention
            match apply(&mut topics, &mut Reader::new(value)) {
                Ok(None) => {}
                Ok(Some((broker, name, value))) => set_config(broker_configs.entry(broker).or_default(), name, value),
                Err(e) => log::warn!("{}: metadata record skipped: {e}", path.display()),
            }
            //< retention
        }
    }
    /*> ea7 < clients
    Ok(topics)
    */
    //> clients
    let next_offset = batches.last().map_or(0, |(header, _)| header.last_offset() + 1);
    let valid = damage.map_or(bytes.len(), |e| e.at);
    // As for segments: a torn tail is cut, damage elsewhere would silently lose topics.
    if !batch::torn_tail(&bytes[valid..]) {
        let message = format!(
            "{}: damaged at byte {valid} (see `mini-kafka dump-log`): starting would lose the topics after it",
            path.display()
        );
        return Err(io::Error::new(io::ErrorKind::InvalidData, message));
    }
    // The file is created on the first write, so a read-only start leaves the directory alone.
    if valid < bytes.len() {
        log::warn!("{}: torn tail of {} bytes cut", path.display(), bytes.len() - valid);
        OpenOptions::new().write(true).open(&path)?.set_len(valid as u64)?;
    }
    /*> clients < retention
    Ok((MetadataLog { path, len: valid as u64, next_offset }, topics))
    */
    //> retention
    Ok((MetadataLog { path, len: valid as u64, next_offset }, topics, broker_configs))
    //< retention
    //< clients
}
//> clients

impl MetadataLog {
    /// A metadata log that only lives in memory (no `log.dirs`).
    pub fn in_memory() -> MetadataLog {
        MetadataLog { path: PathBuf::new(), len: 0, next_offset: 0 }
    }

    /// Appends metadata records (values built by [`topic_record`] and friends) as one batch. A
    /// write that fails half-way is cut back off, so the log never holds a torn batch before the
    /// next one (which would stop the next start).
    pub fn append(&mut self, values: &[Vec<u8>]) -> io::Result<()> {
        if self.path.as_os_str().is_empty() {
            return Ok(()); // in memory only
        }
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let bytes = batch::build(self.next_offset, now, values);
        if let Err(e) = file.write_all(&bytes) {
            let _ = file.set_len(self.len);
            return Err(e);
        }
        self.len += bytes.len() as u64;
        self.next_offset += values.len() as i64;
        Ok(())
    }
}
//< clients

/// Applies one metadata record, read with `r`, to the topic table being rebuilt.
//> clients
/// `mini-kafka dump-log` passes a traced reader to show the record's fields.
//< clients
//> retention
/// A dynamic broker config belongs to no topic: it is returned, for the caller to keep.
//< retention
/*> ea7 < retention
pub fn apply(topics: &mut Vec<TopicMeta>, r: &mut Reader<'_>) -> Result<(), DecodeError> {
*/
//> retention
pub fn apply(topics: &mut Vec<TopicMeta>, r: &mut Reader<'_>) -> Result<Option<BrokerConfig>, DecodeError> {
    //< retention
    /*> ea7 < clients
    let [_frame_version, record_type, _version] = [r.i8("frame_version")?, r.i8("type")?, r.i8("version")?];
    */
    let [_frame_version, record_type, version] = [r.i8("frame_version")?, r.i8("type")?, r.i8("version")?]; //> clients
    match record_type {
        TOPIC_RECORD => {
            let name = r.string_v("name", true)?.to_string();
            let id = r.uuid("topic_id")?;
            r.tagged_fields("tagged_fields")?; //> clients
            topics.retain(|t| t.name != name);
            topics.push(TopicMeta {
                name,
                id,
                /*> ea7 < ku4
                partitions: Vec::new(),
                */
                partitions: BTreeMap::new(), //> ku4
                configs: BTreeMap::new(),    //> retention
            });
        }
        //> ea7
        PARTITION_RECORD => {
            let index = r.i32("partition_id")?;
            let topic_id = r.uuid("topic_id")?;
            let replicas = r.array_v("replicas", true, |r| r.i32("replicas"))?;
            let isr = r.array_v("isr", true, |r| r.i32("isr"))?;
            r.array_v("removing_replicas", true, |r| r.i32("removing_replicas"))?;
            r.array_v("adding_replicas", true, |r| r.i32("adding_replicas"))?;
            let leader = r.i32("leader")?;
            let leader_epoch = r.i32("leader_epoch")?;
            //> clients
            r.i32("partition_epoch")?;
            if version >= 1 {
                r.array_v("directories", true, |r| r.uuid("directories"))?;
            }
            r.tagged_fields("tagged_fields")?;
            //< clients
            if let Some(topic) = topics.iter_mut().find(|t| t.id == topic_id) {
                let partition = PartitionMeta { index, leader, leader_epoch, replicas, isr };
                /*> ea7 < ku4
                topic.partitions.push(partition);
                */
                topic.partitions.insert(index, partition); //> ku4
            }
        }
        //< ea7
        //> clients
        REMOVE_TOPIC_RECORD => {
            let id = r.uuid("topic_id")?;
            r.tagged_fields("tagged_fields")?;
            topics.retain(|t| t.id != id);
        }
        //< clients
        //> retention
        CONFIG_RECORD => {
            let resource_type = r.i8("resource_type")?;
            let resource = r.string_v("resource_name", true)?;
            let name = r.string_v("name", true)?.to_string();
            let value = r.nullable_string_v("value", true)?.map(str::to_string);
            r.tagged_fields("tagged_fields")?;
            if resource_type == CONFIG_BROKER {
                return Ok(Some((resource.to_string(), name, value)));
            }
            let topic = topics.iter_mut().find(|t| t.name == resource).filter(|_| resource_type == CONFIG_TOPIC);
            if let Some(topic) = topic {
                set_config(&mut topic.configs, name, value);
            }
        }
        //< retention
        //> clients
        // Nothing this broker needs, but read for `mini-kafka dump-log`.
        FEATURE_LEVEL_RECORD => {
            r.string_v("name", true)?;
            r.i16("feature_level")?;
            r.tagged_fields("tagged_fields")?;
        }
        //< clients
        _ => {} // the many other record types: nothing this broker needs
    }
    /*> ea7 < retention
    Ok(())
    */
    Ok(None) //> retention
}
//> retention

/// A ConfigRecord's change to a resource's configs: a value set, or (null) removed.
fn set_config(configs: &mut BTreeMap<String, String>, name: String, value: Option<String>) {
    match value {
        Some(value) => configs.insert(name, value),
        None => configs.remove(&name),
    };
}
//< retention
//> clients

fn header(w: &mut Writer, record_type: i8, version: i8) {
    w.i8("frame_version", 1);
    w.i8("type", record_type);
    w.i8("version", version);
}

fn finish(w: Writer) -> Vec<u8> {
    w.finish().to_vec().split_off(4)
}

/// A TopicRecord value.
pub fn topic_record(name: &str, id: Uuid) -> Vec<u8> {
    let mut w = Writer::new();
    header(&mut w, TOPIC_RECORD, 0);
    w.string_v("name", name, true);
    w.uuid("topic_id", id);
    w.tagged_fields_v(true);
    finish(w)
}

/// A PartitionRecord value (version 0: no directory assignment).
pub fn partition_record(topic_id: Uuid, p: &PartitionMeta) -> Vec<u8> {
    let mut w = Writer::new();
    header(&mut w, PARTITION_RECORD, 0);
    w.i32("partition_id", p.index);
    w.uuid("topic_id", topic_id);
    w.array_v("replicas", true, &p.replicas, |w, n| w.i32("replicas", *n));
    w.array_v("isr", true, &p.isr, |w, n| w.i32("isr", *n));
    w.array_len_v("removing_replicas", 0, true);
    w.array_len_v("adding_replicas", 0, true);
    w.i32("leader", p.leader);
    w.i32("leader_epoch", p.leader_epoch);
    w.i32("partition_epoch", 0);
    w.tagged_fields_v(true);
    finish(w)
}

//> retention
/// ConfigRecord's resource types: a topic, a broker.
pub const CONFIG_TOPIC: i8 = 2;
pub const CONFIG_BROKER: i8 = 4;

/// A ConfigRecord value: config `name` of a resource (a topic's name, or a broker resource's)
/// set to `value` (`None`: back to the default).
pub fn config_record(resource_type: i8, resource: &str, name: &str, value: Option<&str>) -> Vec<u8> {
    let mut w = Writer::new();
    header(&mut w, CONFIG_RECORD, 0);
    w.i8("resource_type", resource_type);
    w.string_v("resource_name", resource, true);
    w.string_v("name", name, true);
    w.nullable_string_v("value", value, true);
    w.tagged_fields_v(true);
    finish(w)
}
//< retention

/// A RemoveTopicRecord value.
pub fn remove_topic_record(id: Uuid) -> Vec<u8> {
    let mut w = Writer::new();
    header(&mut w, REMOVE_TOPIC_RECORD, 0);
    w.uuid("topic_id", id);
    w.tagged_fields_v(true);
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_written_here_are_read_back() {
        let id = Uuid([7; 16]);
        let p = PartitionMeta { index: 0, leader: 1, leader_epoch: 0, replicas: vec![1], isr: vec![1] };
        let mut topics = Vec::new();
        apply(&mut topics, &mut Reader::new(&topic_record("apple", id))).unwrap();
        apply(&mut topics, &mut Reader::new(&partition_record(id, &p))).unwrap();
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].partitions[&0], p);
        //> retention
        let set = config_record(CONFIG_TOPIC, "apple", "retention.ms", Some("60000"));
        assert_eq!(apply(&mut topics, &mut Reader::new(&set)).unwrap(), None);
        assert_eq!(topics[0].configs["retention.ms"], "60000");
        apply(&mut topics, &mut Reader::new(&config_record(CONFIG_TOPIC, "apple", "retention.ms", None))).unwrap();
        assert!(topics[0].configs.is_empty());
        // A broker's config is handed back, not applied to a topic.
        let broker = config_record(CONFIG_BROKER, "", "log.retention.ms", Some("1000"));
        let expected = Some((String::new(), "log.retention.ms".to_string(), Some("1000".to_string())));
        assert_eq!(apply(&mut topics, &mut Reader::new(&broker)).unwrap(), expected);
        assert!(topics[0].configs.is_empty());
        //< retention
        apply(&mut topics, &mut Reader::new(&remove_topic_record(id))).unwrap();
        assert!(topics.is_empty());
        assert!(apply(&mut topics, &mut Reader::new(&[1, 2])).is_err());
    }
}
//< clients
