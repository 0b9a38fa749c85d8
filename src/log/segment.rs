//! Segment files: a partition's batches on disk, in Kafka's own format (stage dh6 reads them,
//! ls8 appends to them).
//!
//! A partition directory `<log.dirs>/<topic>-<partition>/` holds `.log` files named after the
//! first offset they contain (`00000000000000000000.log`), each a plain concatenation of record
//! batches, and a `partition.metadata` file naming the topic id. That is exactly what Kafka writes
//! (minus its `.index` and `.timeindex` files, which only speed up lookups), and what the
//! CodeCrafters runner writes before a stage and reads back after a Produce.
//!
//! At start the files are read into memory; a batch cut off or corrupted at the end of the last
//! file (a crash mid-write) is left out with a warning.
//> ls8
//! It is cut away from the file, and after that every appended batch is written through before
//! the producer is answered.
//< ls8
//> clients
//! Only a torn tail, though: damage anywhere else (a flipped byte, a batch going back in offsets)
//! would silently drop acknowledged records and hand their offsets out again, so the broker
//! refuses to start and names the file and the byte. `mini-kafka dump-log` shows the damage.
//!
//! A segment file is opened at its partition's first append and kept open while fewer than
//! [`MAX_OPEN_SEGMENTS`] are; beyond that, an append opens and closes it. Ten thousand partitions
//! must not cost ten thousand file descriptors.
//< clients

use super::batch;
use super::partition::StoredBatch;
use std::fs;
use std::io;
use std::path::Path;
//> ls8
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
//< ls8
//> clients
use crate::wire::{SharedBytes, Uuid};
use std::sync::atomic::{AtomicUsize, Ordering};
//< clients

/// The first segment's file name: Kafka names segments by base offset, zero-padded to 20 digits.
pub const FIRST_SEGMENT: &str = "00000000000000000000.log";
//> ls8

/// The segment file new batches are appended to, open from the first append on.
pub struct Segment {
    path: PathBuf,
    file: Option<File>,
    /// Bytes of whole batches in the file: where a failed write is cut back to.
    len: u64,
}
//< ls8
//> clients

/// Segment files kept open at once, across all partitions.
pub const MAX_OPEN_SEGMENTS: usize = 256;

/// Segment files open now.
static OPEN_SEGMENTS: AtomicUsize = AtomicUsize::new(0);

impl Drop for Segment {
    fn drop(&mut self) {
        if self.file.is_some() {
            OPEN_SEGMENTS.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
//< clients

/// Loads the batches of a partition directory (created if missing).
//> ls8
/// Its last segment is opened for appending.
//< ls8
/*> dh6 < ls8
pub fn load(dir: &Path) -> io::Result<Vec<StoredBatch>> {
*/
/*> ls8 < clients
pub fn load(dir: &Path) -> io::Result<(Vec<StoredBatch>, Segment)> {
*/
//> clients
pub fn load(dir: &Path, topic_id: Uuid) -> io::Result<(Vec<StoredBatch>, Segment)> {
    //< clients
    fs::create_dir_all(dir)?;
    //> clients
    // partition.metadata names the topic the directory belongs to: a directory left behind by
    // another topic of the same name must not lend it its records.
    let meta = dir.join("partition.metadata");
    // The id is base64, with or without `=` padding (the runner writes it, Kafka does not).
    let expected = topic_id.to_kafka_string();
    match fs::read_to_string(&meta) {
        Ok(text) => {
            let found = text.lines().find_map(|l| l.strip_prefix("topic_id:")).map(str::trim);
            if found.map(|id| id.trim_end_matches('=')) != Some(&expected) {
                let found = found.unwrap_or("no topic_id");
                let message = format!("{}: topic_id {found}, but the metadata log says {expected}", meta.display());
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::write(&meta, format!("version: 0\ntopic_id: {expected}"))?,
        Err(e) => return Err(e),
    }
    //< clients
    /*> dh6 < clients
    // Kafka rolls a partition's log over into more segment files; this broker writes only the first.
    let files = [dir.join(FIRST_SEGMENT)];
    */
    //> clients
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    if files.is_empty() {
        files.push(dir.join(FIRST_SEGMENT));
    }
    //< clients
    let mut last = files[files.len() - 1].clone(); //> ls8
    let mut batches: Vec<StoredBatch> = Vec::new();
    for path in &files {
        let bytes =
            fs::read(path).or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(vec![]) } else { Err(e) })?;
        //> clients
        // The file is read once; its batches are stored as views into that one buffer.
        let bytes = SharedBytes::from_vec(bytes);
        //< clients
        /*> dh6 < clients
        let valid = read_batches(&bytes, &mut batches);
        */
        let valid = read_batches(&bytes, &mut batches, path); //> clients
        if valid < bytes.len() {
            //> clients
            if Some(path) != files.last() || !batch::torn_tail(&bytes[valid..]) {
                let message = format!(
                    "{}: damaged at byte {valid} (see `mini-kafka dump-log`): starting would lose its records \
                     and reuse their offsets; move the file aside to start without it",
                    path.display()
                );
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
            //< clients
            let lost = bytes.len() - valid;
            log::warn!("{}: {lost} bytes of damaged data after byte {valid} left out", path.display());
            //> ls8
            OpenOptions::new().write(true).open(path)?.set_len(valid as u64)?;
            last = path.clone();
            //< ls8
            break;
        }
    }
    //> ls8
    // Created now, as Kafka does, but opened for appending only when written to.
    let len = OpenOptions::new().create(true).append(true).open(&last)?.metadata()?.len();
    Ok((batches, Segment { path: last, file: None, len }))
    //< ls8
    /*> dh6 < ls8
    Ok(batches)
    */
}
//> ls8

impl Segment {
    /// Appends batches and hands them to the operating system before returning (no fsync: like
    /// Kafka by default, durability across a machine crash comes from replication, which a
    /// one-broker cluster does not have).
    ///
    /// A write that fails half-way (disk full) is cut back off the file, so the file never holds
    /// a torn batch that a restart would stop at.
    pub fn append(&mut self, batch: &StoredBatch) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let file = OpenOptions::new().append(true).open(&self.path)?;
                OPEN_SEGMENTS.fetch_add(1, Ordering::Relaxed); //> clients
                self.file.insert(file)
            }
        };
        if let Err(e) = batch.write_to(file) {
            let _ = file.set_len(self.len);
            self.file = None; // reopened by the next append, in case the file was replaced
            OPEN_SEGMENTS.fetch_sub(1, Ordering::Relaxed); //> clients
            return Err(e);
        }
        self.len += batch.bytes.len() as u64;
        //> clients
        // Over the budget, this partition gives its descriptor back until its next append.
        if OPEN_SEGMENTS.load(Ordering::Relaxed) > MAX_OPEN_SEGMENTS {
            self.file = None;
            OPEN_SEGMENTS.fetch_sub(1, Ordering::Relaxed);
        }
        //< clients
        Ok(())
    }
    //> retention

    /// Closes this file and goes on in a new one, `<base_offset>.log` beside it.
    pub fn roll(&mut self, base_offset: i64) -> io::Result<()> {
        let path = self.path.with_file_name(file_name(base_offset));
        OpenOptions::new().create(true).append(true).open(&path)?;
        if self.file.take().is_some() {
            OPEN_SEGMENTS.fetch_sub(1, Ordering::Relaxed);
        }
        (self.path, self.len) = (path, 0);
        Ok(())
    }

    /// Deletes the older segment file starting at `base_offset` (and Kafka's index files for it,
    /// should there be any).
    pub fn delete(&self, base_offset: i64) -> io::Result<()> {
        let log = self.path.with_file_name(file_name(base_offset));
        for index in ["index", "timeindex"] {
            let _ = fs::remove_file(log.with_extension(index));
        }
        fs::remove_file(log)
    }
    //< retention
}
//< ls8
//> retention

/// A segment's file name: its base offset, zero-padded to 20 digits.
fn file_name(base_offset: i64) -> String {
    format!("{base_offset:020}.log")
}

/// The base offsets of a partition directory's segment files, from their names, in order.
pub fn file_offsets(dir: &Path) -> io::Result<Vec<i64>> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "log") {
            let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or_default();
            let offset = name.parse::<i64>().map_err(|_| {
                let message = format!("{}: a segment file is named after its first offset", path.display());
                io::Error::new(io::ErrorKind::InvalidData, message)
            })?;
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}
//< retention

/// Parses the batches of one file into `out`; returns how many bytes were valid.
fn read_batches(
    bytes: &SharedBytes, //> clients
    /*> dh6 < clients
    bytes: &[u8],
    */
    out: &mut Vec<StoredBatch>,
    path: &Path, //> clients
) -> usize {
    let (batches, damage) = batch::split(bytes);
    for (header, b) in batches {
        //> clients
        let expected = out.last().map_or(0, |l| l.last_offset.saturating_add(1));
        if header.base_offset < expected {
            let at = b.as_ptr() as usize - bytes.as_ptr() as usize;
            log::warn!("{}: batch at byte {at} goes back to offset {}", path.display(), header.base_offset);
            return at;
        }
        //< clients
        out.push(StoredBatch {
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            /*> dh6 < clients
            bytes: b.to_vec(),
            */
            max_timestamp: header.max_timestamp, //> clients
            bytes: bytes.view_of(b).unwrap_or_else(|| SharedBytes::from_vec(b.to_vec())), //> clients
        });
    }
    damage.map_or(bytes.len(), |e| e.at)
}
