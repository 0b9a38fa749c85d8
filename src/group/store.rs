//! Durable group state: `<log.dirs>/__mini_kafka_groups/groups.dat`.
//!
//! ## Why one file, rewritten whole and renamed
//!
//! Kafka keeps offsets in `__consumer_offsets`, an append-only log that a background cleaner
//! compacts. Appending is cheap, but it needs the cleaner (or the file grows forever) and a
//! replay on startup that must cope with a torn last record. This broker's groups are small —
//! tens of groups, hundreds of offsets, a few kilobytes — so it does the simplest thing that is
//! always correct: on every change it writes the *whole* state to `groups.dat.tmp`, flushes it
//! to disk, and renames it over `groups.dat`. A rename within a directory is atomic on POSIX
//! file systems, so after a crash or a power cut the file is the old snapshot or the new one,
//! never half of each; there is nothing to compact and nothing to repair. The price is writing
//! every group's bytes on every commit, which stays in the microseconds at this size.
//!
//! ## Layout
//!
//! ```text
//! magic           4 bytes  "MKG1"
//! then, per group:
//!   length        INT32    bytes of the body
//!   crc           UINT32   CRC-32C of the body (the checksum record batches use)
//!   body:
//!     group_id        COMPACT_STRING
//!     protocol_type   COMPACT_NULLABLE_STRING
//!     generation      INT32
//!     protocol        COMPACT_NULLABLE_STRING
//!     leader          COMPACT_NULLABLE_STRING
//!     members         COMPACT_ARRAY
//!       member_id, group_instance_id (nullable), client_id, client_host   COMPACT_STRINGs
//!       session_timeout_ms, rebalance_timeout_ms                          INT32
//!       protocols     COMPACT_ARRAY of (name COMPACT_STRING, metadata COMPACT_BYTES)
//!       assignment    COMPACT_BYTES
//!     offsets         COMPACT_ARRAY
//!       topic COMPACT_STRING, partition INT32, offset INT64, leader_epoch INT32,
//!       metadata COMPACT_STRING, commit_timestamp_ms INT64
//! ```
//! The body uses the wire format's own compact types, so the same [`Reader`] that decodes
//! requests decodes it, with every length checked. A group with members loads as Stable (its
//! members get a fresh session timeout to show up again), one without as Empty — what Kafka does
//! when a coordinator loads `__consumer_offsets`.
//!
//! A group that holds nothing (no members, no offsets) is not written at all, and a deleted
//! group's record goes with it.

use super::state::{Committed, Group, GroupState, Member};
use crate::sync::lock;
use crate::wire::{DecodeError, Reader, Writer};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const DIR: &str = "__mini_kafka_groups";
const FILE: &str = "groups.dat";
const MAGIC: &[u8; 4] = b"MKG1";

/// The file and, in memory, the encoded record of every group, so that saving one group does
/// not need the locks of the others.
pub struct Store {
    dir: PathBuf,
    /// Encoded records by group id. The mutex also serialises the rewrites of the file.
    records: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl Store {
    /// Opens (creating the directory) and loads every group. A damaged record is skipped with a
    /// warning rather than keeping the broker down.
    pub fn open(log_dir: &Path) -> io::Result<(Store, Vec<Group>)> {
        let dir = log_dir.join(DIR);
        fs::create_dir_all(&dir)?;
        let mut records = BTreeMap::new();
        let mut groups = Vec::new();
        match fs::read(dir.join(FILE)) {
            Ok(bytes) => {
                for body in split_records(&bytes) {
                    match decode_group(body, Instant::now()) {
                        Ok(g) => {
                            records.insert(g.id.clone(), body.to_vec());
                            groups.push(g);
                        }
                        Err(e) => log::warn!("{}: skipping a group record: {e}", dir.join(FILE).display()),
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok((Store { dir, records: Mutex::new(records) }, groups))
    }

    /// Records the group's current state (or forgets it, if it holds nothing) and rewrites the file.
    pub fn save(&self, group: &Group) -> io::Result<()> {
        let mut records = lock(&self.records);
        if group.state == GroupState::Dead || group.is_vacant() {
            if records.remove(&group.id).is_none() {
                return Ok(());
            }
        } else {
            records.insert(group.id.clone(), encode_group(group));
        }
        self.rewrite(&records)
    }

    fn rewrite(&self, records: &BTreeMap<String, Vec<u8>>) -> io::Result<()> {
        let mut bytes = MAGIC.to_vec();
        for body in records.values() {
            bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
            bytes.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
            bytes.extend_from_slice(body);
        }
        let tmp = self.dir.join(format!("{FILE}.tmp"));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        // Data on disk before the rename, or a power cut could leave a renamed empty file.
        file.sync_data()?;
        fs::rename(&tmp, self.dir.join(FILE))?;
        // And the rename itself on disk.
        fs::File::open(&self.dir)?.sync_all()
    }
}

/// The bodies of the records whose length and CRC check out.
fn split_records(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let Some(mut rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        log::warn!("group store: unknown file format, starting with no groups");
        return out;
    };
    while !rest.is_empty() {
        let mut r = Reader::new(rest);
        let (Ok(len), Ok(crc)) = (r.i32("length"), r.u32("crc")) else { break };
        let Ok(body) = r.bytes_exact("body", len.max(0) as usize) else {
            log::warn!("group store: truncated record, ignoring the rest of the file");
            break;
        };
        if crc32c::crc32c(body) == crc {
            out.push(body);
        } else {
            log::warn!("group store: a record failed its CRC check and is skipped");
        }
        rest = r.rest();
    }
    out
}

fn encode_group(g: &Group) -> Vec<u8> {
    let mut w = Writer::new();
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
    let offsets: Vec<_> = g.offsets.iter().collect();
    w.array_v("offsets", true, &offsets, |w, ((topic, partition), c)| {
        w.string_v("topic", topic, true);
        w.i32("partition", *partition);
        w.i64("offset", c.offset);
        w.i32("leader_epoch", c.leader_epoch);
        w.string_v("metadata", &c.metadata, true);
        w.i64("commit_timestamp_ms", c.commit_timestamp_ms);
    });
    // The writer frames with a 4-byte size; the store adds its own length and CRC.
    w.finish().to_vec().split_off(4)
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn duration(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

fn decode_group(body: &[u8], now: Instant) -> Result<Group, DecodeError> {
    let mut r = Reader::new(body);
    let mut g = Group::new(r.string_v("group_id", true)?);
    g.protocol_type = r.nullable_string_v("protocol_type", true)?.map(str::to_string);
    g.generation = r.i32("generation")?;
    g.protocol = r.nullable_string_v("protocol", true)?.map(str::to_string);
    g.leader = r.nullable_string_v("leader", true)?.map(str::to_string);
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
    let n = r.array_len_v("offsets", true)?;
    for _ in 0..n {
        let topic = r.string_v("topic", true)?.to_string();
        let partition = r.i32("partition")?;
        let committed = Committed {
            offset: r.i64("offset")?,
            leader_epoch: r.i32("leader_epoch")?,
            metadata: r.string_v("metadata", true)?.to_string(),
            commit_timestamp_ms: r.i64("commit_timestamp_ms")?,
        };
        g.offsets.insert((topic, partition), committed);
    }
    g.state = if g.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_survive_a_reopen_and_a_damaged_record_is_skipped() {
        let dir = std::env::temp_dir().join(format!("mini-kafka-group-store-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (store, loaded) = Store::open(&dir).unwrap();
        assert!(loaded.is_empty());
        let mut g = Group::new("g1");
        g.generation = 3;
        g.protocol_type = Some("consumer".into());
        g.commit("t", 0, Committed { offset: 42, leader_epoch: -1, metadata: "m".into(), commit_timestamp_ms: 7 });
        store.save(&g).unwrap();
        let mut h = Group::new("g2");
        h.commit("u", 1, Committed { offset: 1, leader_epoch: 0, metadata: String::new(), commit_timestamp_ms: 0 });
        store.save(&h).unwrap();
        drop(store);

        let (_, loaded) = Store::open(&dir).unwrap();
        assert_eq!(loaded.len(), 2);
        let g1 = loaded.iter().find(|g| g.id == "g1").unwrap();
        assert_eq!((g1.generation, g1.state), (3, GroupState::Empty));
        assert_eq!(g1.offsets.get(&("t".to_string(), 0)).map(|c| c.offset), Some(42));

        // Flip a byte in the last record: the other group still loads.
        let path = dir.join(DIR).join(FILE);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        let (_, loaded) = Store::open(&dir).unwrap();
        assert_eq!(loaded.len(), 1);
        let _ = fs::remove_dir_all(&dir);
    }
}
