//! Durable group state: `<log.dirs>/__mini_kafka_groups/groups.log`, an append-only log of
//! what changed, as Kafka's `__consumer_offsets` topic is.
//!
//! ## Why a log
//!
//! An OffsetCommit appends one record per partition it commits, so it costs the size of the
//! commit however many offsets the broker holds. A membership change (a rebalance, a member
//! leaving) appends the group's record: its members and their assignments, without its offsets.
//! DeleteGroups appends a tombstone. Replaying the file in order at start rebuilds every group.
//!
//! The file only grows, so once it is more than twice the size of what is still live (and past
//! [`COMPACT_AFTER`]) it is compacted: the live records go to `groups.log.tmp`, which is flushed
//! to disk and renamed over the log. A rename within a directory is atomic on POSIX file
//! systems: after a crash the log is the old one or the new one, never half of each. Compaction
//! writes what is live, but only after at least as many bytes were appended: spread over those
//! appends, each commit still pays for its own size. (Kafka's log cleaner does this job for
//! `__consumer_offsets`, in the background.)
//!
//! Like a produced batch, a record is written to the operating system before the client is
//! answered: it survives the broker being killed (Kafka, too, leaves flushing to the OS by
//! default). An append that fails is cut back off the file, the commit is answered with
//! KAFKA_STORAGE_ERROR, and nothing changes in memory. The file is opened for each append: a
//! compaction can replace it between two appends, and no descriptor is held.
//!
//! ## Layout
//!
//! ```text
//! magic             4 bytes  "MKG2"
//! then, per record:
//!   length          UINT32   bytes of the body
//!   not_length      UINT32   the bitwise NOT of length, so that a damaged length is seen as damage
//!                            rather than taken for a record cut short by a crash
//!   crc             UINT32   CRC-32C of the body (the checksum record batches use)
//!   body            type INT8, then
//!     0 GROUP       group_id COMPACT_STRING, protocol_type COMPACT_NULLABLE_STRING,
//!                   generation INT32, protocol, leader COMPACT_NULLABLE_STRING,
//!                   members COMPACT_ARRAY of
//!                     member_id, group_instance_id (nullable), client_id, client_host COMPACT_STRINGs,
//!                     session_timeout_ms, rebalance_timeout_ms INT32, protocol_type COMPACT_STRING,
//!                     protocols COMPACT_ARRAY of (name COMPACT_STRING, metadata COMPACT_BYTES),
//!                     assignment COMPACT_BYTES
//!     1 OFFSET      group_id, topic COMPACT_STRING, partition INT32, offset INT64,
//!                   leader_epoch INT32, metadata COMPACT_STRING, commit_timestamp_ms INT64
//!     2 DELETE      group_id COMPACT_STRING: the group and its offsets are gone
//> transactions
//!     3 TRANSACTION transactional_id COMPACT_STRING, then the transaction's state as
//!                   `txn::encode` writes it (the latest record of an id is its state)
//!     4 FORGET      transactional_id COMPACT_STRING: the id expired
//< transactions
//! ```
//! The bodies use the wire format's own compact types, so the same [`Reader`] that decodes
//! requests decodes them, with every length checked. A group with members loads as Stable (its
//! members get a fresh session timeout to show up again), one without as Empty: what Kafka does
//! when a coordinator loads `__consumer_offsets`.
//!
//! As with partition logs, only a torn tail (a last record cut short by a crash mid-append) is
//! cut at start. Damage anywhere else stops the broker with the file and the byte named:
//! skipping a record would silently bring back an older offset.
//> transactions
//!
//! The transaction coordinator (stage transactions) keeps its state here too: Kafka has a
//! second internal topic for it (`__transaction_state`); one coordinators' log is enough here.
//< transactions

use super::state::{Committed, Group, GroupState, Member};
use crate::sync::lock;
use crate::wire::{DecodeError, Reader, Writer};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const DIR: &str = "__mini_kafka_groups";
const FILE: &str = "groups.log";
const MAGIC: &[u8; 4] = b"MKG2";
/// The log is not compacted before it is this long.
pub const COMPACT_AFTER: u64 = 1 << 20;

const GROUP: i8 = 0;
const OFFSET: i8 = 1;
const DELETE: i8 = 2;
//> transactions
const TRANSACTION: i8 = 3;
const FORGET: i8 = 4;
//< transactions

/// The log and, in memory, the framed records that are still live: what a compaction writes.
pub struct Store {
    path: PathBuf,
    live: Mutex<Live>,
}

#[derive(Default)]
struct Live {
    /// By group id: its last GROUP record, and its OFFSET records by partition.
    groups: BTreeMap<String, LiveGroup>,
    //> transactions
    /// By transactional id: its last TRANSACTION record.
    transactions: BTreeMap<String, Vec<u8>>,
    //< transactions
    /// Bytes of the live records, and of the file.
    live_bytes: u64,
    file_bytes: u64,
}

#[derive(Default)]
struct LiveGroup {
    header: Option<Vec<u8>>,
    offsets: HashMap<(String, i32), Vec<u8>>,
}

impl Store {
    /// Opens (creating the directory) and replays the log into groups. A torn tail is cut;
    /// other damage is an error naming the byte.
    pub fn open(log_dir: &Path) -> io::Result<(Store, Vec<Group>)> {
        let dir = log_dir.join(DIR);
        fs::create_dir_all(&dir)?;
        let path = dir.join(FILE);
        if dir.join("groups.dat").exists() {
            log::warn!("{}/groups.dat, an earlier mini-kafka's group file, is not read", dir.display());
        }
        let bytes =
            fs::read(&path).or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(Vec::new()) } else { Err(e) })?;
        let damaged = |at: usize, why: &str| {
            let message = format!(
                "{}: damaged at byte {at} ({why}): starting would lose the group state after it; \
                 move the file aside to start without it",
                path.display()
            );
            io::Error::new(io::ErrorKind::InvalidData, message)
        };
        let mut live = Live::default();
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        let now = Instant::now();
        let mut valid = 0; // an empty file, or a magic cut short, is an empty log
        if bytes.len() >= MAGIC.len() {
            if !bytes.starts_with(MAGIC) {
                return Err(damaged(0, "not a mini-kafka groups log"));
            }
            valid = MAGIC.len();
        }
        while valid >= MAGIC.len() && valid < bytes.len() {
            let rest = &bytes[valid..];
            let Some(header) = rest.get(..12).filter(|_| rest.iter().any(|b| *b != 0)) else {
                break; // torn inside a header, or zeros the file system had allocated
            };
            let word = |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
            let (length, not_length, crc) = (word(0), word(4), word(8));
            if not_length != !length {
                return Err(damaged(valid, "the two copies of the length differ"));
            }
            let Some(body) = rest.get(12..12 + length as usize) else { break }; // torn inside the body
            if crc32c::crc32c(body) != crc {
                return Err(damaged(valid, "CRC mismatch"));
            }
            let record = &rest[..12 + body.len()];
            replay(body, record, &mut groups, &mut live, now).map_err(|e| damaged(valid, &e.to_string()))?;
            valid += record.len();
        }
        if valid < bytes.len() {
            log::warn!("{}: torn tail of {} bytes cut", path.display(), bytes.len() - valid);
            OpenOptions::new().write(true).open(&path)?.set_len(valid as u64)?;
        }
        live.file_bytes = valid as u64;
        let groups = groups
            .into_values()
            .map(|mut g| {
                g.state = if g.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
                g
            })
            .collect();
        Ok((Store { path, live: Mutex::new(live) }, groups))
    }

    /// Records a group's membership after it changed, or forgets the group if it was deleted
    /// or holds nothing any more.
    pub fn save_group(&self, group: &Group) -> io::Result<()> {
        if group.state == GroupState::Dead || group.is_vacant() {
            return self.delete(&group.id);
        }
        let record = frame(&encode_group(group));
        let mut live = lock(&self.live);
        self.append(&mut live, &record)?;
        let entry = live.groups.entry(group.id.clone()).or_default();
        let old = entry.header.replace(record).map_or(0, |r| r.len());
        let new = entry.header.as_ref().map_or(0, |r| r.len());
        live.live_bytes = live.live_bytes + new as u64 - old as u64;
        self.compact_if_due(&mut live);
        Ok(())
    }

    /// Records committed offsets, one record each; on an error none of them counts.
    pub fn commit(&self, group_id: &str, offsets: &[(&str, i32, Committed)]) -> io::Result<()> {
        let records: Vec<Vec<u8>> = offsets.iter().map(|(t, p, c)| frame(&encode_offset(group_id, t, *p, c))).collect();
        let mut live = lock(&self.live);
        self.append(&mut live, &records.concat())?;
        let mut change = 0i64;
        let entry = live.groups.entry(group_id.to_string()).or_default();
        for ((topic, partition, _), record) in offsets.iter().zip(records) {
            change += record.len() as i64;
            if let Some(old) = entry.offsets.insert((topic.to_string(), *partition), record) {
                change -= old.len() as i64;
            }
        }
        live.live_bytes = live.live_bytes.saturating_add_signed(change);
        self.compact_if_due(&mut live);
        Ok(())
    }

    /// Forgets a group and its offsets (a tombstone, if the log holds anything of it).
    pub fn delete(&self, group_id: &str) -> io::Result<()> {
        let mut live = lock(&self.live);
        let Some(old) = live.groups.get(group_id) else { return Ok(()) };
        let freed = old.header.iter().chain(old.offsets.values()).map(|r| r.len() as u64).sum::<u64>();
        let mut w = Writer::new();
        w.i8("type", DELETE);
        w.string_v("group_id", group_id, true);
        self.append(&mut live, &frame(&body(w)))?;
        live.groups.remove(group_id);
        live.live_bytes -= freed;
        self.compact_if_due(&mut live);
        Ok(())
    }

    //> transactions
    /// Records a transaction's state (`state`: what `txn::encode` wrote).
    pub fn save_transaction(&self, transactional_id: &str, state: &[u8]) -> io::Result<()> {
        let mut w = Writer::new();
        w.i8("type", TRANSACTION);
        w.string_v("transactional_id", transactional_id, true);
        w.raw(state);
        let record = frame(&body(w));
        let mut live = lock(&self.live);
        self.append(&mut live, &record)?;
        let size = record.len() as u64;
        let old = live.transactions.insert(transactional_id.to_string(), record).map_or(0, |r| r.len() as u64);
        live.live_bytes = live.live_bytes + size - old;
        self.compact_if_due(&mut live);
        Ok(())
    }

    /// Forgets an expired transactional id.
    pub fn forget_transaction(&self, transactional_id: &str) -> io::Result<()> {
        let mut live = lock(&self.live);
        let Some(old) = live.transactions.get(transactional_id).map(|r| r.len() as u64) else { return Ok(()) };
        let mut w = Writer::new();
        w.i8("type", FORGET);
        w.string_v("transactional_id", transactional_id, true);
        self.append(&mut live, &frame(&body(w)))?;
        live.transactions.remove(transactional_id);
        live.live_bytes -= old;
        self.compact_if_due(&mut live);
        Ok(())
    }

    /// The transactions the log holds, as `(transactional_id, state)` for `txn::decode`.
    pub fn transactions(&self) -> Vec<(String, Vec<u8>)> {
        let live = lock(&self.live);
        // After the frame (12 bytes), the type and the id: the state `save_transaction` wrote.
        let state_of = |record: &[u8]| {
            let mut r = Reader::new(record.get(12..).unwrap_or_default());
            r.i8("type").and_then(|_| r.string_v("transactional_id", true)).map_or(Vec::new(), |_| r.rest().to_vec())
        };
        live.transactions.iter().map(|(id, record)| (id.clone(), state_of(record))).collect()
    }
    //< transactions

    /// Appends framed records in one write; a write that fails is cut back off.
    fn append(&self, live: &mut Live, records: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        let bytes = if live.file_bytes == 0 { [MAGIC.as_slice(), records].concat() } else { records.to_vec() };
        if let Err(e) = file.write_all(&bytes) {
            let _ = file.set_len(live.file_bytes);
            return Err(e);
        }
        live.file_bytes += bytes.len() as u64;
        Ok(())
    }

    /// Rewrites the log with only its live records once most of it is dead.
    fn compact_if_due(&self, live: &mut Live) {
        if live.file_bytes < COMPACT_AFTER || live.file_bytes < 2 * live.live_bytes {
            return;
        }
        let mut bytes = MAGIC.to_vec();
        for g in live.groups.values() {
            bytes.extend(g.header.iter().flatten());
            bytes.extend(g.offsets.values().flatten());
        }
        bytes.extend(live.transactions.values().flatten()); //> transactions
        let tmp = self.path.with_extension("log.tmp");
        let written = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            // Data on disk before the rename, or a power cut could leave a renamed empty file.
            file.sync_data()?;
            fs::rename(&tmp, &self.path)?;
            fs::File::open(self.path.parent().unwrap_or(Path::new(".")))?.sync_all()
        })();
        match written {
            Ok(()) => {
                log::debug!("{}: compacted from {} to {} bytes", self.path.display(), live.file_bytes, bytes.len());
                live.file_bytes = bytes.len() as u64;
            }
            // The log itself is intact: the next append tries again.
            Err(e) => log::warn!("{}: cannot compact: {e}", self.path.display()),
        }
    }
}

/// A body with its length, the length's complement and its CRC in front.
fn frame(body: &[u8]) -> Vec<u8> {
    let length = body.len() as u32;
    let mut record = Vec::with_capacity(12 + body.len());
    record.extend_from_slice(&length.to_be_bytes());
    record.extend_from_slice(&(!length).to_be_bytes());
    record.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
    record.extend_from_slice(body);
    record
}

/// The writer's bytes without the 4-byte size it frames with.
fn body(w: Writer) -> Vec<u8> {
    w.finish().to_vec().split_off(4)
}

/// Applies one record of the log to the groups being rebuilt, and to the live records.
fn replay(
    body: &[u8],
    record: &[u8],
    groups: &mut BTreeMap<String, Group>,
    live: &mut Live,
    now: Instant,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(body);
    let kind = r.i8("type")?;
    //> transactions
    if kind == TRANSACTION || kind == FORGET {
        let id = r.string_v("transactional_id", true)?.to_string();
        // The body is checked now, so a damaged one stops the load here, naming its byte.
        if kind == TRANSACTION {
            crate::txn::decode(&id, &mut r)?;
        }
        let old = match kind {
            TRANSACTION => live.transactions.insert(id, record.to_vec()),
            _ => live.transactions.remove(&id),
        };
        let added = if kind == TRANSACTION { record.len() as u64 } else { 0 };
        live.live_bytes = live.live_bytes + added - old.map_or(0, |r| r.len() as u64);
        return Ok(());
    }
    //< transactions
    let group_id = r.string_v("group_id", true)?.to_string();
    let group = groups.entry(group_id.clone()).or_insert_with(|| Group::new(&group_id));
    let entry = live.groups.entry(group_id.clone()).or_default();
    let size = record.len() as u64;
    match kind {
        GROUP => {
            read_group(&mut r, group, now)?;
            let old = entry.header.replace(record.to_vec()).map_or(0, |r| r.len() as u64);
            live.live_bytes = live.live_bytes + size - old;
        }
        OFFSET => {
            let (topic, partition, committed) = read_offset(&mut r)?;
            group.offsets.insert((topic.clone(), partition), committed);
            let old = entry.offsets.insert((topic, partition), record.to_vec()).map_or(0, |r| r.len() as u64);
            live.live_bytes = live.live_bytes + size - old;
        }
        DELETE => {
            groups.remove(&group_id);
            if let Some(old) = live.groups.remove(&group_id) {
                live.live_bytes -= old.header.iter().chain(old.offsets.values()).map(|r| r.len() as u64).sum::<u64>();
            }
        }
        other => return Err(DecodeError::new("type", 0, format!("unknown record type {other}"))),
    }
    Ok(())
}

fn encode_group(g: &Group) -> Vec<u8> {
    let mut w = Writer::new();
    w.i8("type", GROUP);
    w.string_v("group_id", &g.id, true);
    w.nullable_string_v("protocol_type", g.protocol_type.as_deref(), true);
    w.i32("generation", g.generation);
    w.nullable_string_v("protocol", g.protocol.as_deref(), true);
    w.nullable_string_v("leader", g.leader.as_deref(), true);
    w.array_v("members", true, &g.members, |w, m| {
        w.string_v("member_id", &m.member_id, true);
        w.nullable_string_v("group_instance_id", m.group_instance_id.as_deref(), true);
        w.string_v("client_id", &m.client_id, true);
        w.string_v("client_host", &m.client_host, true);
        w.i32("session_timeout_ms", millis(m.session_timeout));
        w.i32("rebalance_timeout_ms", millis(m.rebalance_timeout));
        w.string_v("protocol_type", &m.protocol_type, true);
        w.array_v("protocols", true, &m.protocols, |w, (name, metadata)| {
            w.string_v("name", name, true);
            w.bytes_v("metadata", metadata, true);
        });
        w.bytes_v("assignment", &m.assignment, true);
    });
    body(w)
}

fn encode_offset(group_id: &str, topic: &str, partition: i32, c: &Committed) -> Vec<u8> {
    let mut w = Writer::new();
    w.i8("type", OFFSET);
    w.string_v("group_id", group_id, true);
    w.string_v("topic", topic, true);
    w.i32("partition", partition);
    w.i64("offset", c.offset);
    w.i32("leader_epoch", c.leader_epoch);
    w.string_v("metadata", &c.metadata, true);
    w.i64("commit_timestamp_ms", c.commit_timestamp_ms);
    body(w)
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn duration(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// Reads a GROUP record's fields after its id into `g`, replacing its members.
fn read_group(r: &mut Reader<'_>, g: &mut Group, now: Instant) -> Result<(), DecodeError> {
    g.protocol_type = r.nullable_string_v("protocol_type", true)?.map(str::to_string);
    g.generation = r.i32("generation")?;
    g.protocol = r.nullable_string_v("protocol", true)?.map(str::to_string);
    g.leader = r.nullable_string_v("leader", true)?.map(str::to_string);
    g.members.clear();
    let n = r.array_len_v("members", true)?;
    for _ in 0..n {
        let member_id = r.string_v("member_id", true)?.to_string();
        let group_instance_id = r.nullable_string_v("group_instance_id", true)?.map(str::to_string);
        let client_id = r.string_v("client_id", true)?.to_string();
        let client_host = r.string_v("client_host", true)?.to_string();
        let session_timeout = duration(r.i32("session_timeout_ms")?);
        let rebalance_timeout = duration(r.i32("rebalance_timeout_ms")?);
        let protocol_type = r.string_v("protocol_type", true)?.to_string();
        let np = r.array_len_v("protocols", true)?;
        let mut protocols = Vec::new();
        for _ in 0..np {
            protocols.push((r.string_v("name", true)?.to_string(), r.bytes_v("metadata", true)?.to_vec()));
        }
        let assignment = r.bytes_v("assignment", true)?.to_vec();
        g.members.push(Member {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            session_timeout,
            rebalance_timeout,
            protocol_type,
            protocols,
            assignment,
            expires_at: now + session_timeout,
            awaiting_join: None,
            awaiting_sync: None,
            synced: true,
        });
    }
    Ok(())
}

/// Reads an OFFSET record's fields after its group id.
fn read_offset(r: &mut Reader<'_>) -> Result<(String, i32, Committed), DecodeError> {
    let topic = r.string_v("topic", true)?.to_string();
    let partition = r.i32("partition")?;
    let committed = Committed {
        offset: r.i64("offset")?,
        leader_epoch: r.i32("leader_epoch")?,
        metadata: r.string_v("metadata", true)?.to_string(),
        commit_timestamp_ms: r.i64("commit_timestamp_ms")?,
    };
    Ok((topic, partition, committed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(offset: i64) -> Committed {
        Committed { offset, leader_epoch: -1, metadata: "m".into(), commit_timestamp_ms: 7 }
    }

    /// `(group, generation, members, offsets)` of each group, to compare loads.
    type Summary = Vec<(String, i32, usize, Vec<((String, i32), i64)>)>;

    fn summary(groups: &[Group]) -> Summary {
        let mut out: Vec<_> = groups
            .iter()
            .map(|g| {
                let offsets = g.offsets.iter().map(|(k, c)| (k.clone(), c.offset)).collect();
                (g.id.clone(), g.generation, g.members.len(), offsets)
            })
            .collect();
        out.sort();
        out
    }

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(label: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("mini-kafka-store-{label}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            TempDir(dir)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Three groups: g1 with a generation and two offsets (one committed twice), g2 with one
    /// offset, g3 deleted.
    fn three_groups(dir: &Path) -> Vec<Group> {
        let (store, loaded) = Store::open(dir).unwrap();
        assert!(loaded.is_empty());
        let mut g1 = Group::new("g1");
        g1.generation = 3;
        g1.protocol_type = Some("consumer".into());
        store.commit("g1", &[("t", 0, offset(42)), ("t", 1, offset(5))]).unwrap();
        g1.commit("t", 0, offset(42));
        store.save_group(&g1).unwrap();
        store.commit("g1", &[("t", 1, offset(6))]).unwrap();
        store.commit("g2", &[("u", 0, offset(1))]).unwrap();
        store.commit("g3", &[("u", 0, offset(9))]).unwrap();
        store.delete("g3").unwrap();
        drop(store);
        Store::open(dir).unwrap().1
    }

    #[test]
    fn groups_replay_from_the_log() {
        let dir = TempDir::new("replay");
        let loaded = three_groups(&dir.0);
        let expected = vec![
            ("g1".to_string(), 3, 0, vec![(("t".to_string(), 0), 42), (("t".to_string(), 1), 6)]),
            ("g2".to_string(), 0, 0, vec![(("u".to_string(), 0), 1)]),
        ];
        assert_eq!(summary(&loaded), expected);
        assert!(loaded.iter().all(|g| g.state == GroupState::Empty));
    }

    #[test]
    fn a_flipped_byte_stops_the_load_and_only_a_torn_tail_is_cut() {
        let dir = TempDir::new("damage");
        let expected = summary(&three_groups(&dir.0));
        let path = dir.0.join(DIR).join(FILE);
        let good = fs::read(&path).unwrap();
        for at in 0..good.len() {
            let mut flipped = good.clone();
            flipped[at] ^= 0x01;
            fs::write(&path, &flipped).unwrap();
            match Store::open(&dir.0) {
                Err(e) => assert!(e.to_string().contains("damaged at byte"), "byte {at}: {e}"),
                Ok((_, groups)) => panic!("byte {at}: loaded {:?}", summary(&groups)),
            }
            assert_eq!(fs::read(&path).unwrap(), flipped, "byte {at}: the file is left as it is");
        }
        // Cut inside the last record (the tombstone of g3): g3 comes back, nothing else changes.
        let last = 12 + 1 + 1 + 2; // header, type, group_id "g3"
        for cut in good.len() - last + 1..good.len() {
            fs::write(&path, &good[..cut]).unwrap();
            let (_, groups) = Store::open(&dir.0).unwrap();
            assert_eq!(summary(&groups).len(), 3, "cut at {cut}: g3 not yet deleted");
            assert_eq!(fs::read(&path).unwrap().len(), good.len() - last, "cut at {cut}");
        }
        fs::write(&path, &good).unwrap();
        assert_eq!(summary(&Store::open(&dir.0).unwrap().1), expected);
    }

    #[test]
    fn the_log_is_compacted_and_keeps_every_live_offset() {
        let dir = TempDir::new("compact");
        let (store, _) = Store::open(&dir.0).unwrap();
        let path = dir.0.join(DIR).join(FILE);
        let mut longest = 0;
        for i in 0..40_000 {
            store.commit("g", &[("t", i % 100, offset(i64::from(i)))]).unwrap();
            longest = longest.max(fs::metadata(&path).unwrap().len());
        }
        assert!(longest <= COMPACT_AFTER + 100, "the log grew to {longest} bytes");
        drop(store);
        let (_, groups) = Store::open(&dir.0).unwrap();
        let offsets = &groups[0].offsets;
        assert_eq!(offsets.len(), 100);
        assert!((0..100).all(|p| offsets[&("t".to_string(), p)].offset == i64::from(39_900 + p)));
    }
}
