//! One partition: what the metadata says of it (stage ea7), and its log — the record batches,
//! in offset order (dh6 on).
//> zf2
//!
//! Each partition has its own lock, so producers and consumers of different partitions never
//! wait for each other. The lock is held only to append or to pick batches.
//< zf2
//> clients
//! The bytes themselves are [`SharedBytes`] views into the produce request they arrived in, so
//! storing a batch copies nothing, and a fetch clones a few pointers under the lock and writes to
//! the socket after releasing it.
//!
//! Consumers waiting for data (long-poll fetch) register a [`Waiter`] with every partition they
//! read; an append wakes them all. A fetch reads many partitions, and one `Condvar` can only wait
//! for one of them, so each fetch brings its own `Condvar` and the partitions keep a list.
//< clients
//> retention
//!
//! The batches are grouped into segments (stage retention): whole old segments are dropped as
//! the topic's retention says, and the log start offset moves past them (see `retention.rs`).
//< retention
//> transactions
//!
//! Transactions (stage transactions): the partition follows each producer's open transaction
//! from its first transactional batch to the control batch (marker) that ends it. The smallest
//! first offset of an open transaction is the *last stable offset*: read_committed consumers
//! are served up to it, and told which aborted transactions to skip.
//< transactions

use super::metadata::PartitionMeta;
//> eg2
use crate::errors::ErrorCode;
//< eg2
//> zf2
use super::batch::{self, BatchError};
use crate::sync::lock;
use std::sync::{Mutex, MutexGuard};
//< zf2
//> ls8
use super::segment::Segment;
//< ls8
//> clients
use super::batch::BatchHeader;
use crate::wire::SharedBytes;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Weak};
use std::time::Instant;
//< clients
//> retention
use super::retention::{Memory, Policy, Reason};
//< retention
//> dh6

/// A stored batch: its bytes as produced and the header facts a fetch or offset lookup needs
/// without parsing it again.
//> clients
///
/// The bytes are left untouched, so their first 8 bytes still hold the producer's base offset;
/// `base_offset` is the one the log gave the batch, and whoever sends or writes the batch puts
/// it in front of `bytes[8..]` (see [`StoredBatch::write_to`]). Only base_offset is rewritten —
/// it lies outside the CRC.
//< clients
#[derive(Clone, Debug)]
pub struct StoredBatch {
    pub base_offset: i64,
    pub last_offset: i64,
    /*> dh6 < clients
    /// The whole batch, base offset included.
    pub bytes: Vec<u8>,
    */
    pub max_timestamp: i64, //> clients
    pub bytes: SharedBytes, //> clients
}

//> ls8
impl StoredBatch {
    /// The batch as the log holds it.
    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        //> clients
        // The assigned base offset, then the producer's bytes.
        out.write_all(&self.base_offset.to_be_bytes())?;
        out.write_all(&self.bytes[8..])
        //< clients
        /*> ls8 < clients
        out.write_all(&self.bytes)
        */
    }
    //> clients

    /// The bytes after the base offset (a view, no copy).
    pub fn after_base_offset(&self) -> SharedBytes {
        // Every stored batch passed the header check, so it is longer than 8 bytes.
        self.bytes.slice(8..self.bytes.len()).unwrap_or_else(|| self.bytes.clone())
    }
    //< clients
}
//< ls8
//< dh6
//> clients

/// What the idempotence check remembers of a producer: its epoch and its last few batches, so a
/// retried batch is recognised and answered with the offset it was first given.
#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    /// `(first sequence, last sequence, base offset)` of the most recent batches, oldest first.
    recent: VecDeque<(i32, i32, i64)>,
}

/// Kafka keeps the last 5 batches per producer: a producer never has more in flight.
const RECENT_BATCHES: usize = 5;
//< clients
//> dh6

/// A partition's log.
struct State {
    batches: Vec<StoredBatch>, //> eg2
    log_start_offset: i64,
    /// The offset the next record gets (the log end offset). With one replica it is also the
    /// high watermark: everything appended is committed.
    next_offset: i64,
    segment: Option<Segment>, //> ls8
    //> clients
    waiters: Vec<Weak<Waiter>>,
    producers: HashMap<i64, ProducerEntry>,
    //< clients
    //> retention
    /// The segments, oldest first: the last one is the active one, appended to.
    segments: VecDeque<Span>,
    /// Bytes of all the segments' batches, kept as they come and go: checked on every append.
    bytes: usize,
    policy: Policy,
    //< retention
    //> transactions
    /// Open transactions: producer id → the offset of its first batch here.
    open_transactions: HashMap<i64, i64>,
    /// Aborted transactions, oldest first: the records a read_committed consumer skips.
    aborted: VecDeque<AbortedTransaction>,
    //< transactions
}
//< dh6
//> transactions

/// A transaction that was aborted: its producer, the offsets from its first batch here to its
/// ABORT marker, and the last stable offset once the marker was written. Every transaction
/// aborted later began at or after that offset, which lets a fetch stop looking (Kafka's
/// `.txnindex` keeps the same four numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}
//< transactions
//> retention

/// One segment of a partition's log: a run of its batches (and, with `log.dirs`, the file
/// `<base_offset>.log` that holds them).
#[derive(Debug)]
struct Span {
    /// The offset the segment starts at, which names its file.
    base_offset: i64,
    batches: usize,
    bytes: usize,
    /// The newest record's timestamp, for `retention.ms`.
    max_timestamp: i64,
    /// When its first batch arrived (or it was loaded), for `segment.ms` and for the memory
    /// budget, which drops the broker's oldest segment first.
    opened: Instant,
}

impl Span {
    fn new(base_offset: i64) -> Span {
        Span { base_offset, batches: 0, bytes: 0, max_timestamp: -1, opened: Instant::now() }
    }
}
//< retention

pub struct Partition {
    pub topic: String,
    pub index: i32,
    /// Leadership as the metadata records it (this broker leads every partition it has).
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /*> dh6 < zf2
    state: State,
    */
    state: Mutex<State>, //> zf2
    memory: Arc<Memory>, //> retention
}
//> zf2

/// The result of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub log_start_offset: i64,
}
//< zf2
//> dh6

/// What a fetch gets from one partition.
#[derive(Debug)]
pub struct Slice {
    //> eg2
    /// NONE, or OFFSET_OUT_OF_RANGE (with the offsets filled in so the client can reset).
    pub error: ErrorCode,
    //< eg2
    pub high_watermark: i64,
    pub log_start_offset: i64,
    //> transactions
    /// Where committed data ends: read_committed reads stop here.
    pub last_stable_offset: i64,
    /// For read_committed: the aborted transactions among the batches served.
    pub aborted: Vec<AbortedTransaction>,
    //< transactions
    //> eg2
    pub batches: Vec<StoredBatch>,
    pub bytes: usize,
    //< eg2
}
//< dh6

impl Partition {
    /// A partition as the metadata describes it.
    //> dh6
    /// Its log holds `batches`, already validated (loaded from its segment file).
    //< dh6
    pub fn new(
        topic: &str,
        meta: &PartitionMeta,
        batches: Vec<StoredBatch>, //> dh6
        segment: Option<Segment>,  //> ls8
        //> retention
        files: &[i64],
        checkpoint: i64,
        memory: &Arc<Memory>,
        //< retention
    ) -> Partition {
        //> dh6
        /*> dh6 < retention
        let log_start_offset = batches.first().map_or(0, |b| b.base_offset);
        let next_offset = batches.last().map_or(log_start_offset, |b| b.last_offset.saturating_add(1));
        */
        //< dh6
        //> retention
        // Segment files are named after their first offset: an empty last file (rolled just before
        // a restart) still says where the log goes on, and the first says where it starts, unless
        // DeleteRecords moved the start further (the checkpoint).
        let first = batches.first().map_or(0, |b| b.base_offset).max(files.first().copied().unwrap_or(0));
        let next_offset = batches
            .last()
            .map_or(0, |b| b.last_offset.saturating_add(1))
            .max(files.last().copied().unwrap_or(0))
            .max(first);
        // A checkpoint past the log's end belongs to an older topic of the same name.
        let checkpoint = if checkpoint > next_offset {
            log::warn!("{topic}-{}: log start offset {checkpoint} past the log's end ignored", meta.index);
            0
        } else {
            checkpoint
        };
        let log_start_offset = first.max(checkpoint);
        let mut segments: VecDeque<Span> = files.iter().map(|&base| Span::new(base)).collect();
        if segments.is_empty() {
            segments.push_back(Span::new(next_offset));
        }
        let mut at = 0;
        for b in &batches {
            // Each batch belongs to the last segment starting at or before it.
            while at + 1 < segments.len() && segments[at + 1].base_offset <= b.base_offset {
                at += 1;
            }
            add_to(&mut segments[at], b);
        }
        let bytes = segments.iter().map(|s| s.bytes).sum();
        memory.add(bytes);
        //< retention
        //> clients
        let mut producers: HashMap<i64, ProducerEntry> = HashMap::new();
        // Rebuild idempotence state from the log, so a producer that outlives a restart is still
        // deduplicated.
        for b in &batches {
            if let Ok(h) = BatchHeader::decode(&mut crate::wire::Reader::new(&b.bytes))
                && h.producer_id >= 0
                && h.base_sequence >= 0
            {
                let entry = producers.entry(h.producer_id).or_default();
                remember(entry, &h, b.base_offset);
            }
        }
        //< clients
        //> transactions
        // And which transactions are open, and which were aborted, from their batches and markers.
        let (mut open_transactions, mut aborted) = (HashMap::new(), VecDeque::new());
        for b in &batches {
            if let Ok(h) = BatchHeader::decode(&mut crate::wire::Reader::new(&b.bytes))
                && h.is_transactional()
            {
                track_transaction(&mut open_transactions, &mut aborted, &mut producers, &h, b);
            }
        }
        //< transactions
        //> dh6
        let state = State {
            batches, //> eg2
            log_start_offset,
            next_offset,
            segment, //> ls8
            //> clients
            waiters: Vec::new(),
            producers,
            //< clients
            //> retention
            segments,
            bytes,
            policy: Policy::KAFKA,
            //< retention
            //> transactions
            open_transactions,
            aborted,
            //< transactions
        };
        //< dh6
        Partition {
            topic: topic.to_string(),
            index: meta.index,
            leader: meta.leader,
            leader_epoch: meta.leader_epoch,
            replicas: meta.replicas.clone(),
            isr: meta.isr.clone(),
            /*> dh6 < zf2
            state,
            */
            state: Mutex::new(state),   //> zf2
            memory: Arc::clone(memory), //> retention
        }
    }
    //> dh6

    /// The partition's log, to read or change it.
    //> zf2
    /// Locked until the guard is dropped: keep that short.
    //< zf2
    /*> dh6 < zf2
    fn state(&self) -> &State {
        &self.state
    }
    */
    //> zf2
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
    //< zf2
    //< dh6
    //> clients

    /// The high watermark (next offset).
    pub fn high_watermark(&self) -> i64 {
        self.state().next_offset
    }

    pub fn log_start_offset(&self) -> i64 {
        self.state().log_start_offset
    }

    /// The largest producer id in this log (to hand out fresh ids after a restart).
    pub fn max_producer_id(&self) -> i64 {
        self.state().producers.keys().copied().max().unwrap_or(-1)
    }
    //< clients
    //> zf2

    /// Validates and appends the record batch of a Produce request's RECORDS field.
    //> ls8
    ///
    /// Produce v3+ carries exactly one batch per partition (Kafka refuses more with
    /// INVALID_RECORD). It is checked (length, magic, CRC, record count) before anything is
    /// stored. Its offsets are assigned under the lock, and it is written through to the segment
    /// file.
    //< ls8
    //> clients
    /// Waiting fetchers are woken. It is stored as a view into `records` — the request's own
    /// buffer — so nothing is copied.
    //< clients
    pub fn append(
        &self,
        records: &SharedBytes, //> clients
        /*> zf2 < clients
        records: &[u8],
        */
        max_batch_bytes: usize, //> clients
    ) -> Result<Appended, AppendError> {
        let (batches, damage) = batch::split(records);
        if let Some(e) = damage {
            return Err(AppendError::Corrupt(e));
        }
        //> ls8
        // Produce v3 and later carry exactly one batch per partition; Kafka refuses a second.
        if batches.len() > 1 {
            return Err(AppendError::Invalid("more than one record batch"));
        }
        //< ls8
        // A produce names a partition to give it a batch: an empty or null RECORDS field is refused.
        let Some(&(header, bytes)) = batches.first() else {
            return Err(AppendError::Invalid("no record batch"));
        };
        batch::check_record_count(&header).map_err(AppendError::Invalid)?; //> yd8

        //> clients
        if bytes.len() > max_batch_bytes {
            return Err(AppendError::Refused(ErrorCode::MessageTooLarge));
        }
        let bytes = records.view_of(bytes).ok_or(AppendError::Corrupt(BatchError::new(0, "no record batch")))?;
        //< clients

        let mut state = self.state();
        //> clients
        let idempotent = header.producer_id >= 0 && header.base_sequence >= 0;
        // Idempotent producers: a batch seen before is acknowledged again with its first offset.
        if idempotent && let Some(offset) = check_sequence(state.producers.get(&header.producer_id), &header)? {
            return Ok(Appended { base_offset: offset, log_start_offset: state.log_start_offset });
        }
        //< clients
        let base_offset = state.next_offset;
        /*> zf2 < clients
        // The log gives the batch its offsets: its first 8 bytes, outside the CRC, say where it starts.
        let mut bytes = bytes.to_vec();
        bytes[..8].copy_from_slice(&base_offset.to_be_bytes());
        */
        let stored = StoredBatch {
            base_offset,
            last_offset: base_offset.saturating_add(i64::from(header.last_offset_delta)),
            max_timestamp: header.max_timestamp, //> clients
            bytes,
        };
        //> retention
        if state.roll_due(stored.bytes.len())
            && let Err(e) = state.roll()
        {
            log::error!("{}-{}: cannot roll to a new segment: {e}", self.topic, self.index);
            return Err(AppendError::Refused(ErrorCode::KafkaStorageError));
        }
        //< retention
        //> ls8
        if let Some(segment) = &mut state.segment
            && let Err(e) = segment.append(&stored)
        {
            log::error!("{}-{}: cannot write segment: {e}", self.topic, self.index);
            return Err(AppendError::Refused(ErrorCode::KafkaStorageError));
        }
        //< ls8
        state.next_offset = stored.last_offset.saturating_add(1);
        //> clients
        if idempotent {
            remember(state.producers.entry(header.producer_id).or_default(), &header, base_offset);
        }
        //< clients
        //> transactions
        if header.is_transactional() {
            let State { open_transactions, aborted, producers, .. } = &mut *state;
            track_transaction(open_transactions, aborted, producers, &header, &stored);
        }
        //< transactions
        //> retention
        if let Some(active) = state.segments.back_mut() {
            add_to(active, &stored);
        }
        state.bytes += stored.bytes.len();
        self.memory.add(stored.bytes.len());
        //< retention
        state.batches.push(stored);
        //> retention
        // Size limits are checked as data arrives; time limits by the cleaner (Log::clean).
        self.enforce(&mut state, None);
        //< retention
        //> clients
        for waiter in state.waiters.drain(..) {
            if let Some(waiter) = waiter.upgrade() {
                waiter.wake();
            }
        }
        //< clients
        Ok(Appended { base_offset, log_start_offset: state.log_start_offset })
    }
    //< zf2
    //> dh6

    /// What a fetch gets from this partition.
    //> eg2
    /// The batches come from the one containing `offset` on.
    //< eg2
    //> fd8
    /// They stop before `max_bytes` is passed — but at least one whole batch is taken when
    /// `at_least_one` is set: a batch larger than the limit must still be served, or the consumer
    /// would be stuck behind it forever.
    //< fd8
    pub fn read(
        &self,
        offset: i64,          //> eg2
        max_bytes: usize,     //> fd8
        at_least_one: bool,   //> fd8
        read_committed: bool, //> transactions
    ) -> Slice {
        let state = self.state();
        //> eg2
        let (mut batches, mut bytes) = (Vec::new(), 0);
        let in_range = state.log_start_offset <= offset && offset <= state.next_offset;
        // Batches are sorted by offset: binary search for the first one ending at or after `offset`.
        let first =
            if in_range { state.batches.partition_point(|b| b.last_offset < offset) } else { state.batches.len() };
        //> transactions
        // read_committed stops where the oldest open transaction starts.
        let last_stable_offset = state.last_stable_offset();
        let end = if read_committed { last_stable_offset } else { state.next_offset };
        //< transactions
        for b in &state.batches[first..] {
            //> transactions
            if b.base_offset >= end {
                break;
            }
            //< transactions
            //> fd8
            let fits = bytes + b.bytes.len() <= max_bytes;
            let must_take_one = at_least_one && batches.is_empty();
            if !(fits || must_take_one) {
                break;
            }
            //< fd8
            bytes += b.bytes.len();
            batches.push(b.clone());
        }
        //< eg2
        //> transactions
        // The aborted transactions that overlap what is served, so the consumer can drop their
        // records (it reads their ABORT markers in the same batches, or later).
        let served_end = batches.last().map_or(offset, |b: &StoredBatch| b.last_offset);
        let aborted = if read_committed {
            // Kept in the order of their markers, so those ending before `offset` are skipped
            // by a binary search.
            let from = state.aborted.partition_point(|a| a.last_offset < offset);
            // Past one that ended after what is served with nothing open before it then, every
            // later one began after what is served too.
            let later = |a: &&AbortedTransaction| a.last_offset <= served_end || a.last_stable_offset <= served_end;
            let overlaps = |a: &&AbortedTransaction| a.first_offset <= served_end;
            state.aborted.range(from..).take_while(later).filter(overlaps).copied().collect()
        } else {
            Vec::new()
        };
        //< transactions
        Slice {
            // Out of range: the offsets still tell the consumer where to go on from.
            error: if in_range { ErrorCode::None } else { ErrorCode::OffsetOutOfRange }, //> eg2
            high_watermark: state.next_offset,
            log_start_offset: state.log_start_offset,
            //> transactions
            last_stable_offset,
            aborted,
            //< transactions
            batches, //> eg2
            bytes,   //> eg2
        }
    }
    //< dh6
    //> clients

    /// Bytes available from `offset` on (what long-poll compares with `min_bytes`).
    pub fn bytes_from(&self, offset: i64) -> usize {
        let state = self.state();
        let first = state.batches.partition_point(|b| b.last_offset < offset);
        state.batches[first..].iter().map(|b| b.bytes.len()).sum()
    }

    /// ListOffsets by time: the first record whose timestamp is at or after `timestamp`, as
    /// `(offset, timestamp)`. The batch is found from the batch headers' max timestamps (timestamps
    /// need not grow with offsets, so this is a scan, not a binary search); `None` if every record
    /// is older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Option<(i64, i64)> {
        let state = self.state();
        let b = state.batches.iter().find(|b| b.max_timestamp >= timestamp)?;
        let (delta, ts) = batch::first_record_at_or_after(&b.bytes, timestamp)?;
        Some((b.base_offset + delta, ts))
    }

    /// The record with the largest timestamp (ListOffsets -3, MAX_TIMESTAMP): `(offset, timestamp)`.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let state = self.state();
        // max_by_key keeps the last maximum; Kafka answers the first, so compare strictly.
        let mut best: Option<&StoredBatch> = None;
        for b in &state.batches {
            if best.is_none_or(|x| b.max_timestamp > x.max_timestamp) {
                best = Some(b);
            }
        }
        let best = best?;
        let (delta, ts) = batch::max_timestamp_record(&best.bytes)?;
        Some((best.base_offset + delta, ts))
    }

    /// Registers a waiter to be woken by the next append (once, however often it is called).
    /// Waiters whose fetch has finished are dropped here, so an idle partition's list stays short.
    pub fn add_waiter(&self, waiter: &Arc<Waiter>) {
        let mut state = self.state();
        state.waiters.retain(|w| w.strong_count() > 0);
        let weak = Arc::downgrade(waiter);
        if !state.waiters.iter().any(|w| w.ptr_eq(&weak)) {
            state.waiters.push(weak);
        }
    }

    //> retention
    /// Sets the retention policy (the broker's defaults with the topic's settings over them).
    pub fn set_policy(&self, policy: Policy) {
        let mut state = self.state();
        state.policy = policy;
        // Sizes at once; time only when the cleaner looks (as Kafka, not at start).
        self.enforce(&mut state, None);
    }

    /// Drops the segments the policy no longer keeps; `now_ms` (wall-clock milliseconds) also
    /// checks `retention.ms`, which only the cleaner does.
    pub fn enforce_retention(&self, now_ms: i64) {
        let mut state = self.state();
        self.enforce(&mut state, Some(now_ms));
    }

    fn enforce(&self, state: &mut State, now_ms: Option<i64>) {
        loop {
            let (Some(front), segments) = (state.segments.front(), state.segments.len()) else { return };
            let policy = state.policy;
            // Kafka's rule: a segment goes while the rest still hold `retention.bytes`; never
            // the active one for size.
            let rest = (state.bytes - front.bytes) as u64;
            let reason = if segments > 1 && policy.bytes >= 0 && rest >= policy.bytes as u64 {
                Reason::RetentionBytes
            } else if segments > 1 && state.segments[1].base_offset <= state.log_start_offset {
                Reason::DeleteRecords
            } else if let Some(now) = now_ms
                && policy.ms >= 0
                && front.batches > 0
                && front.max_timestamp < now.saturating_sub(policy.ms)
            {
                Reason::RetentionMs
            } else {
                return;
            };
            if !self.drop_oldest(state, reason) {
                return;
            }
        }
    }

    /// When this partition's oldest segment started, if it holds anything: the memory budget
    /// drops the broker's oldest segment first.
    pub fn oldest_segment(&self) -> Option<Instant> {
        let state = self.state();
        state.segments.front().filter(|s| s.bytes > 0).map(|s| s.opened)
    }

    /// Drops the oldest segment to bring the in-memory log within its budget.
    pub fn drop_oldest_segment(&self) -> bool {
        let mut state = self.state();
        self.drop_oldest(&mut state, Reason::MemoryBudget)
    }

    /// Drops the oldest segment, rolling first if it is the active one. False if the log holds
    /// nothing to drop.
    fn drop_oldest(&self, state: &mut State, reason: Reason) -> bool {
        if state.segments.len() == 1 && state.segments[0].batches > 0 && state.roll().is_err() {
            return false; // the roll said why
        }
        if state.segments.len() < 2 {
            return false;
        }
        let Some(dropped) = state.segments.pop_front() else { return false };
        state.batches.drain(..dropped.batches);
        state.bytes -= dropped.bytes;
        self.memory.sub(dropped.bytes);
        let next = state.segments.front().map_or(state.next_offset, |s| s.base_offset);
        state.log_start_offset = state.log_start_offset.max(next);
        //> transactions
        // Aborted transactions wholly before the log are nobody's concern any more.
        while state.aborted.front().is_some_and(|a| a.last_offset < state.log_start_offset) {
            state.aborted.pop_front();
        }
        //< transactions
        if let Some(segment) = &state.segment
            && let Err(e) = segment.delete(dropped.base_offset)
        {
            log::error!("{}-{}: cannot delete segment {}: {e}", self.topic, self.index, dropped.base_offset);
        }
        log::info!(
            "{}-{}: dropped segment {} ({} batches, {} bytes), log start offset now {}: {}",
            self.topic,
            self.index,
            dropped.base_offset,
            dropped.batches,
            dropped.bytes,
            state.log_start_offset,
            reason.describe()
        );
        true
    }

    /// DeleteRecords: every record before `offset` (-1: the high watermark) is deleted. Returns the
    /// new log start offset (the "low watermark"); OFFSET_OUT_OF_RANGE past the high watermark.
    pub fn delete_records(&self, offset: i64) -> Result<i64, ErrorCode> {
        let mut state = self.state();
        let offset = if offset == -1 { state.next_offset } else { offset };
        if !(0..=state.next_offset).contains(&offset) {
            return Err(ErrorCode::OffsetOutOfRange);
        }
        state.log_start_offset = state.log_start_offset.max(offset);
        self.enforce(&mut state, None);
        Ok(state.log_start_offset)
    }

    /// Bytes of batches held (for tests and the cleaner's log).
    pub fn bytes_held(&self) -> usize {
        self.state().bytes
    }
    //< retention

    /// Number of batches (for tests and logging).
    pub fn batch_count(&self) -> usize {
        self.state().batches.len()
    }
    //< clients
    //> transactions

    /// The last stable offset: where the oldest open transaction starts, or the high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.state().last_stable_offset()
    }

    /// Whether `producer_id` has a transaction open here.
    pub fn has_open_transaction(&self, producer_id: i64) -> bool {
        self.state().open_transactions.contains_key(&producer_id)
    }

    /// Ends a producer's transaction here with a COMMIT or ABORT marker, appended like any batch
    /// (written through to the segment, waking waiting fetches, which may now read further).
    pub fn append_marker(&self, producer_id: i64, producer_epoch: i16, commit: bool) -> Result<i64, ErrorCode> {
        let marker = batch::control_batch(producer_id, producer_epoch, commit, 0, super::retention::now_ms());
        self.append(&SharedBytes::from_vec(marker), usize::MAX).map(|a| a.base_offset).map_err(|e| e.code())
    }
    //< transactions
}
//> zf2

/// Why an append was refused.
#[derive(Debug)]
pub enum AppendError {
    /// Damaged bytes: CORRUPT_MESSAGE.
    Corrupt(BatchError),
    /// Intact batches that break the rules of a produce: INVALID_RECORD.
    Invalid(&'static str),
    Refused(ErrorCode), //> ls8
}

impl AppendError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AppendError::Corrupt(_) => ErrorCode::CorruptMessage,
            AppendError::Invalid(_) => ErrorCode::InvalidRecord,
            AppendError::Refused(code) => *code, //> ls8
        }
    }
}
//< zf2
//> clients

//> transactions

/// Follows one transactional batch: the first one of a producer opens its transaction here; a
/// marker closes it (an ABORT is remembered for read_committed consumers), and fences the
/// producer's older epochs, as the coordinator may have bumped the epoch to end it.
fn track_transaction(
    open: &mut HashMap<i64, i64>,
    aborted: &mut VecDeque<AbortedTransaction>,
    producers: &mut HashMap<i64, ProducerEntry>,
    h: &BatchHeader,
    stored: &StoredBatch,
) {
    if !h.is_control() {
        open.entry(h.producer_id).or_insert(stored.base_offset);
        return;
    }
    let entry = producers.entry(h.producer_id).or_default();
    if h.producer_epoch > entry.epoch {
        entry.epoch = h.producer_epoch;
        entry.recent.clear();
    }
    let first_offset = open.remove(&h.producer_id);
    if let (Some(first_offset), Some(false)) = (first_offset, batch::control_type(&stored.bytes)) {
        let (producer_id, last_offset) = (h.producer_id, stored.base_offset);
        let last_stable_offset = open.values().copied().min().unwrap_or(last_offset.saturating_add(1));
        aborted.push_back(AbortedTransaction { producer_id, first_offset, last_offset, last_stable_offset });
    }
}
//< transactions

fn remember(entry: &mut ProducerEntry, h: &BatchHeader, base_offset: i64) {
    if h.producer_epoch != entry.epoch {
        entry.epoch = h.producer_epoch;
        entry.recent.clear();
    }
    if entry.recent.len() == RECENT_BATCHES {
        entry.recent.pop_front();
    }
    entry.recent.push_back((h.base_sequence, h.last_sequence(), base_offset));
}

/// Kafka's idempotence rules, per producer and partition:
/// - an older epoch is fenced (INVALID_PRODUCER_EPOCH);
/// - a batch equal to one of the last five is a retry: `Ok(Some(its first offset))`;
/// - otherwise the first sequence must follow the last one (0 after a new epoch), or it is
///   OUT_OF_ORDER_SEQUENCE_NUMBER. A producer never seen before may start anywhere, as in Kafka.
fn check_sequence(entry: Option<&ProducerEntry>, h: &BatchHeader) -> Result<Option<i64>, AppendError> {
    let Some(entry) = entry else {
        return Ok(None);
    };
    if h.producer_epoch < entry.epoch {
        return Err(AppendError::Refused(ErrorCode::InvalidProducerEpoch));
    }
    if h.producer_epoch > entry.epoch {
        return if h.base_sequence == 0 {
            Ok(None)
        } else {
            Err(AppendError::Refused(ErrorCode::OutOfOrderSequenceNumber))
        };
    }
    let retry = entry.recent.iter().find(|(first, last, _)| *first == h.base_sequence && *last == h.last_sequence());
    if let Some(&(_, _, offset)) = retry {
        return Ok(Some(offset));
    }
    // Sequences wrap from i32::MAX to 0.
    let next = entry.recent.back().map_or(0, |&(_, last, _)| if last == i32::MAX { 0 } else { last + 1 });
    if h.base_sequence != next {
        return Err(AppendError::Refused(ErrorCode::OutOfOrderSequenceNumber));
    }
    Ok(None)
}

//> retention

impl State {
    //> transactions
    /// Never below the log start offset: retention may have dropped an open transaction's
    /// first batches (as Kafka, the LSO then starts where the log does).
    fn last_stable_offset(&self) -> i64 {
        let first_open = self.open_transactions.values().copied().min().unwrap_or(self.next_offset);
        first_open.max(self.log_start_offset)
    }
    //< transactions

    /// Whether the active segment is full or old enough to be closed before `incoming` bytes.
    fn roll_due(&self, incoming: usize) -> bool {
        self.segments.back().is_some_and(|active| {
            active.batches > 0
                && ((active.bytes + incoming) as u64 > self.policy.segment_bytes
                    || active.opened.elapsed().as_millis() >= u128::from(self.policy.segment_ms))
        })
    }

    /// Closes the active segment and starts a new one at the next offset (and its file).
    fn roll(&mut self) -> std::io::Result<()> {
        if let Some(segment) = &mut self.segment {
            segment.roll(self.next_offset)?;
        }
        self.segments.push_back(Span::new(self.next_offset));
        Ok(())
    }
}

fn add_to(span: &mut Span, batch: &StoredBatch) {
    if span.batches == 0 {
        span.opened = Instant::now();
    }
    span.batches += 1;
    span.bytes += batch.bytes.len();
    // A batch without timestamps counts as written now.
    let stamp = if batch.max_timestamp >= 0 { batch.max_timestamp } else { super::retention::now_ms() };
    span.max_timestamp = span.max_timestamp.max(stamp);
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.memory.sub(self.bytes_held());
    }
}
//< retention

/// A fetch waiting for data: woken by the first append to any partition it registered with.
#[derive(Default)]
pub struct Waiter {
    woken: Mutex<bool>,
    condvar: Condvar,
}

impl Waiter {
    pub fn wake(&self) {
        *lock(&self.woken) = true;
        self.condvar.notify_all();
    }

    /// Sleeps until woken or `deadline`, without spinning; returns whether it was woken. Clears the
    /// flag so the waiter can wait again.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let mut woken = lock(&self.woken);
        while !*woken {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            woken = match self.condvar.wait_timeout(woken, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        *woken = false;
        true
    }
}
//< clients
