//! The transaction coordinator (stage transactions): exactly-once writes across partitions
//! (KIP-98), broker side. A producer with a `transactional.id` writes to several partitions and
//! commits consumed offsets, and either all of it becomes visible to read_committed consumers
//! or none of it does.
//!
//! ## The protocol, from a producer's point of view
//!
//! ```text
//! FindCoordinator(key_type 1) ► "talk to broker N about this transactional id" (here: this one)
//! InitProducerId(txn id) ─────► a producer id and a new epoch: any older producer with the same
//!                                transactional id is now fenced, and its open transaction aborted
//! AddPartitionsToTxn ─────────► "I am about to write to these partitions" (the transaction begins)
//! Produce (transactional) ────► batches flagged transactional, with the producer id and epoch
//! AddOffsetsToTxn(group) ─────► "I will commit this group's offsets in the transaction"
//! TxnOffsetCommit ────────────► the offsets, held here until the transaction ends
//! EndTxn(commit | abort) ─────► a COMMIT or ABORT marker into every partition, and on commit the
//!                                offsets become the group's
//! ```
//!
//! ## The state machine (one per transactional id)
//!
//! ```text
//!            AddPartitionsToTxn /                EndTxn(commit)
//!  +-------+  AddOffsetsToTxn   +---------+  ----------------> PrepareCommit ──► CompleteCommit
//!  | Empty | -----------------> | Ongoing |                    (markers, offsets)      │
//!  +-------+                    +---------+  ----------------> PrepareAbort ───► CompleteAbort
//!      ^                             ^        EndTxn(abort), the            (markers)  │
//!      │ InitProducerId              │        timeout, or InitProducerId               │
//!      │ (epoch + 1)                 └──────── AddPartitionsToTxn: the next one ───────┘
//! ```
//! Prepare* is written to the log before any marker, Complete* after the last: a broker that
//! stops in between finishes the job when it starts again ([`Coordinator::recover`]).
//!
//! ## What the partitions do
//! Each partition follows transactions itself (`log::partition`): a transactional batch opens
//! its producer's transaction there, a marker closes it. The first offset of the oldest open
//! transaction is the *last stable offset* (LSO): read_committed consumers read up to it, and
//! get the list of aborted transactions in what they read so they can drop those records.
//!
//! ## Fencing
//! The epoch is how a transactional id has one producer at a time: InitProducerId bumps it, and
//! every request of the old producer (same id, older epoch) is refused with PRODUCER_FENCED (or
//! INVALID_PRODUCER_EPOCH for clients older than that error). A transaction open longer than its
//! timeout is aborted with the epoch bumped, so a producer that hung cannot write into it later.
//!
//! ## Locks
//! `transactions` (the id → transaction map) is held only to look up or insert. Each transaction
//! has its own lock, held across a whole request: a transactional produce holds it while it
//! appends (so EndTxn cannot write a marker between the check and the append), and EndTxn while
//! it writes markers. Order: transaction → partition, group, store; never the other way.

use crate::broker::Broker;
use crate::config::Config;
use crate::errors::ErrorCode;
use crate::group::state::Committed;
use crate::log::batch::BatchHeader;
use crate::log::retention::now_ms;
use crate::sync::lock;
use crate::wire::{DecodeError, Reader, Writer};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most groups one transaction commits offsets for. (Kafka's bound is the partitions of
/// `__consumer_offsets` a transaction can add, 50 by default; a group is a few entries here.)
const MAX_GROUPS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    const ALL: [TxnState; 6] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
    ];

    /// Kafka's name for the state, as DescribeTransactions and ListTransactions show it.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One transactional id and its current transaction.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last InitProducerId of a producer that named its own (KIP-360): if
    /// the answer was lost, its retry gets the same one. -1 when there is none.
    pub last_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// The partitions written in the current transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// The groups whose offsets it commits (AddOffsetsToTxn).
    pub groups: BTreeSet<String>,
    /// TxnOffsetCommit's offsets by (group, topic, partition): the groups' on commit.
    pub offsets: BTreeMap<(String, String, i32), Committed>,
    /// When the current transaction began (wall-clock ms), -1 if none is open.
    pub started_ms: i64,
    /// When the id was last used, for `transactional.id.expiration.ms`.
    pub updated_ms: i64,
}

/// A transaction as DescribeTransactions shows it.
pub struct Described {
    pub state: &'static str,
    pub timeout_ms: i32,
    pub started_ms: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<(String, i32)>,
}

pub struct Coordinator {
    transactions: Mutex<HashMap<String, Arc<Mutex<Transaction>>>>,
    max_timeout_ms: i64,
    max_ids: usize,
    /// The most offsets all open transactions together hold until they end: ten per partition
    /// the broker may have (`max.partitions`).
    max_pending_offsets: usize,
    id_expiration_ms: i64,
    /// How often the timer looks for transactions past their timeout.
    pub check_interval: Duration,
}

impl Coordinator {
    /// The coordinator, with the transactions the coordinators' log kept (`saved`, as
    /// `(transactional_id, state)`). Call [`Coordinator::recover`] once the broker is open.
    pub fn new(config: &Config, saved: Vec<(String, Vec<u8>)>) -> std::io::Result<Coordinator> {
        let mut transactions = HashMap::new();
        for (id, state) in saved {
            let txn = decode(&id, &mut Reader::new(&state))
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("transaction {id}: {e}")))?;
            transactions.insert(id, Arc::new(Mutex::new(txn)));
        }
        Ok(Coordinator {
            transactions: Mutex::new(transactions),
            max_timeout_ms: i64::from(config.transaction_max_timeout_ms),
            max_ids: config.max_transactional_ids,
            max_pending_offsets: config.max_partitions.saturating_mul(10),
            id_expiration_ms: config.transactional_id_expiration_ms,
            check_interval: Duration::from_millis(config.transaction_check_interval_ms),
        })
    }

    /// The largest producer id a transactional id holds: the broker hands out ids above it, as
    /// an id's producer id outlives the batches that carried it.
    pub fn max_producer_id(&self) -> i64 {
        lock(&self.transactions).values().map(|cell| lock(cell).producer_id).max().unwrap_or(-1)
    }

    fn get(&self, id: &str) -> Option<Arc<Mutex<Transaction>>> {
        lock(&self.transactions).get(id).cloned()
    }

    /// InitProducerId with a transactional id: a producer id (the id's own, kept across
    /// producers) and a new epoch, which fences every older producer of the id. A transaction the
    /// old producer left open is aborted first. `expected` is what a v3+ producer that already
    /// had an id sends (KIP-360): it must be the id's current producer (see `init_locked`).
    pub fn init_producer_id(
        &self,
        broker: &Broker,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ErrorCode> {
        if timeout_ms <= 0 || i64::from(timeout_ms) > self.max_timeout_ms {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        let cell = {
            let mut all = lock(&self.transactions);
            if !all.contains_key(id) && all.len() >= self.max_ids {
                log::warn!("transactional id {id} refused: {} ids held (max.transactional.ids)", all.len());
                return Err(ErrorCode::TransactionalIdAuthorizationFailed);
            }
            let new = || {
                let txn = Transaction {
                    producer_id: -1,
                    producer_epoch: -1,
                    last_epoch: -1,
                    timeout_ms,
                    state: TxnState::Empty,
                    partitions: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    offsets: BTreeMap::new(),
                    started_ms: -1,
                    updated_ms: now_ms(),
                };
                Arc::new(Mutex::new(txn))
            };
            Arc::clone(all.entry(id.to_string()).or_insert_with(new))
        };
        let mut txn = lock(&cell);
        let result = self.init_locked(broker, id, &mut txn, timeout_ms, expected);
        if result.is_err() && txn.producer_id < 0 {
            // A new id that got nothing is not kept (nor counted against the limit).
            drop(txn);
            let mut all = lock(&self.transactions);
            if all.get(id).is_some_and(|cell| lock(cell).producer_id < 0) {
                all.remove(id);
            }
        }
        result
    }

    fn init_locked(
        &self,
        broker: &Broker,
        id: &str,
        txn: &mut Transaction,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ErrorCode> {
        // A producer that already had an id names it (KIP-360, v3+): it must be the id's current
        // producer, or that producer asking again because the answer to its last InitProducerId
        // was lost (its epoch is then `last_epoch`, and it gets the same answer). A new or
        // forgotten id takes any.
        if let Some((producer_id, epoch)) = expected
            && txn.producer_id >= 0
        {
            if producer_id != txn.producer_id || (epoch != txn.producer_epoch && epoch != txn.last_epoch) {
                return Err(ErrorCode::ProducerFenced);
            }
            if epoch == txn.last_epoch && epoch != txn.producer_epoch && txn.state != TxnState::Ongoing {
                return Ok((txn.producer_id, txn.producer_epoch));
            }
        }
        match txn.state {
            // The previous producer's transaction is aborted under a bumped epoch, so that
            // producer cannot write into it any more.
            TxnState::Ongoing => self.fence_and_abort(broker, id, txn)?,
            // One a storage error left half-ended is finished first.
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                let commit = txn.state == TxnState::PrepareCommit;
                self.end(broker, id, txn, commit)?;
            }
            _ => {}
        }
        let before = txn.clone();
        if txn.producer_id < 0 || txn.producer_epoch >= i16::MAX - 1 {
            // A new id, or the epochs ran out (Kafka keeps the last one for a fence): a new
            // producer id.
            txn.producer_id = broker.new_producer_id();
            txn.producer_epoch = 0;
            txn.last_epoch = -1;
        } else {
            txn.last_epoch = if expected.is_some() { txn.producer_epoch } else { -1 };
            txn.producer_epoch += 1;
        }
        txn.timeout_ms = timeout_ms;
        txn.state = TxnState::Empty;
        txn.updated_ms = now_ms();
        if let Err(code) = save(broker, id, txn) {
            *txn = before;
            return Err(code);
        }
        Ok((txn.producer_id, txn.producer_epoch))
    }

    /// Aborts an open transaction under the next epoch of the same producer id: its markers
    /// carry that epoch, so the producer that left it is fenced. If nothing could be written
    /// (the Prepare state not saved), nothing changes; once it is saved, the end is finished
    /// later whatever happens.
    fn fence_and_abort(&self, broker: &Broker, id: &str, txn: &mut Transaction) -> Result<(), ErrorCode> {
        let before = txn.clone();
        txn.producer_epoch = txn.producer_epoch.saturating_add(1);
        txn.last_epoch = -1;
        let ended = self.end(broker, id, txn, false);
        if ended.is_err() && txn.state == TxnState::Ongoing {
            *txn = before;
        }
        ended
    }

    /// AddPartitionsToTxn: the transaction begins (if it has not) and will write these
    /// partitions. All or nothing: one partition that does not exist fails the others with
    /// OPERATION_NOT_ATTEMPTED.
    pub fn add_partitions(
        &self,
        broker: &Broker,
        id: &str,
        producer: (i64, i16),
        partitions: &[(String, i32)],
    ) -> Vec<ErrorCode> {
        let all = |code| vec![code; partitions.len()];
        let Some(cell) = self.get(id) else { return all(ErrorCode::InvalidProducerIdMapping) };
        let mut txn = lock(&cell);
        if let Err(code) = check_producer(&txn, producer) {
            return all(code);
        }
        let missing: Vec<bool> = partitions.iter().map(|(t, p)| broker.log.partition(t, *p).is_none()).collect();
        if missing.iter().any(|m| *m) {
            let why = |m: &bool| if *m { ErrorCode::UnknownTopicOrPartition } else { ErrorCode::OperationNotAttempted };
            return missing.iter().map(why).collect();
        }
        let before = txn.clone();
        begin(&mut txn);
        txn.partitions.extend(partitions.iter().cloned());
        match save(broker, id, &txn) {
            Ok(()) => all(ErrorCode::None),
            Err(code) => {
                *txn = before;
                all(code)
            }
        }
    }

    /// AddOffsetsToTxn: the transaction (begun if it has not) will commit offsets of `group`.
    pub fn add_offsets(&self, broker: &Broker, id: &str, producer: (i64, i16), group: &str) -> ErrorCode {
        let Some(cell) = self.get(id) else { return ErrorCode::InvalidProducerIdMapping };
        let mut txn = lock(&cell);
        if let Err(code) = check_producer(&txn, producer) {
            return code;
        }
        if group.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        if !txn.groups.contains(group) && txn.groups.len() >= MAX_GROUPS {
            log::warn!("transaction {id}: a group past the {MAX_GROUPS} one transaction may commit offsets for");
            return ErrorCode::InvalidRequest;
        }
        let before = txn.clone();
        begin(&mut txn);
        txn.groups.insert(group.to_string());
        save(broker, id, &txn).map_or_else(
            |code| {
                *txn = before;
                code
            },
            |()| ErrorCode::None,
        )
    }

    /// TxnOffsetCommit: offsets held by the transaction until it ends. The group must have been
    /// added (AddOffsetsToTxn), and the member and generation, if given, must be current.
    pub fn commit_offsets(
        &self,
        broker: &Broker,
        id: &str,
        producer: (i64, i16),
        group: &str,
        member: (&str, Option<&str>, i32),
        offsets: Vec<(String, i32, Committed)>,
    ) -> ErrorCode {
        let Some(cell) = self.get(id) else { return ErrorCode::InvalidProducerIdMapping };
        // Counted before this transaction is locked: one lock at a time, so two commits cannot
        // wait for each other.
        let pending = self.pending_offset_count();
        let mut txn = lock(&cell);
        if let Err(code) = check_producer(&txn, producer) {
            return code;
        }
        if pending.saturating_add(offsets.len()) > self.max_pending_offsets {
            log::warn!("transaction {id}: offsets refused, open transactions hold {pending} already");
            return ErrorCode::InvalidRequest;
        }
        if txn.state != TxnState::Ongoing || !txn.groups.contains(group) {
            return ErrorCode::InvalidTxnState;
        }
        let (member_id, instance, generation) = member;
        let error = broker.groups.check_transactional_commit(group, member_id, instance, generation);
        if error != ErrorCode::None {
            return error;
        }
        let before = txn.offsets.clone();
        for (topic, partition, committed) in offsets {
            txn.offsets.insert((group.to_string(), topic, partition), committed);
        }
        // Saved before the answer, as Kafka does: a producer told its offsets are in the
        // transaction must find them there after a restart, or its commit would lose them.
        if let Err(code) = save(broker, id, &txn) {
            txn.offsets = before;
            return code;
        }
        ErrorCode::None
    }

    /// EndTxn: commits or aborts the open transaction. A retried EndTxn of a transaction that
    /// already ended the same way succeeds again.
    pub fn end_transaction(&self, broker: &Broker, id: &str, producer: (i64, i16), commit: bool) -> ErrorCode {
        let Some(cell) = self.get(id) else { return ErrorCode::InvalidProducerIdMapping };
        let mut txn = lock(&cell);
        if let Err(code) = check_producer(&txn, producer) {
            return code;
        }
        match (txn.state, commit) {
            (TxnState::Ongoing, _) => self.end(broker, id, &mut txn, commit).err().unwrap_or(ErrorCode::None),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => ErrorCode::None,
            _ => ErrorCode::InvalidTxnState,
        }
    }

    /// Ends the transaction: Prepare* saved, a marker into every partition it wrote, the offsets
    /// to their groups on commit, Complete* saved. On a storage error it stays Prepare*, and the
    /// timer finishes it later.
    fn end(&self, broker: &Broker, id: &str, txn: &mut Transaction, commit: bool) -> Result<(), ErrorCode> {
        let prepared = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
        if txn.state != prepared {
            let before = txn.state;
            txn.state = prepared;
            if let Err(code) = save(broker, id, txn) {
                txn.state = before;
                return Err(code);
            }
        }
        for (topic, index) in &txn.partitions {
            // Where the producer wrote nothing (or a marker is there already), nothing is open.
            let Some(partition) = broker.log.partition(topic, *index) else { continue };
            if partition.has_open_transaction(txn.producer_id)
                && let Err(code) = partition.append_marker(txn.producer_id, txn.producer_epoch, commit)
            {
                log::error!("transaction {id}: cannot write its marker to {topic}-{index}: {code:?}");
                return Err(ErrorCode::CoordinatorNotAvailable);
            }
        }
        if commit {
            let mut by_group: BTreeMap<&str, Vec<(&str, i32, Committed)>> = BTreeMap::new();
            for ((group, topic, partition), committed) in &txn.offsets {
                by_group.entry(group).or_default().push((topic, *partition, committed.clone()));
            }
            for (group, offsets) in by_group {
                if let Err(e) = broker.groups.commit_transaction_offsets(group, &offsets) {
                    log::error!("transaction {id}: cannot commit the offsets of group {group}: {e}");
                    return Err(ErrorCode::CoordinatorNotAvailable);
                }
            }
        }
        log::info!(
            "transaction {id} (producer {} epoch {}): {} in {} partitions",
            txn.producer_id,
            txn.producer_epoch,
            if commit { "committed" } else { "aborted" },
            txn.partitions.len()
        );
        txn.state = if commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        txn.partitions.clear();
        txn.groups.clear();
        txn.offsets.clear();
        txn.started_ms = -1;
        txn.updated_ms = now_ms();
        // The markers are written: a failed save only means the next start writes none again.
        save(broker, id, txn).or(Ok(()))
    }

    /// Runs a transactional Produce's `append` for one partition, if the batch may be written:
    /// the transactional id's current producer, in an open transaction that added the partition.
    /// Other batches are appended as they are; a control batch is the broker's alone.
    pub fn produce<T>(
        &self,
        id: Option<&str>,
        header: &BatchHeader,
        partition: (&str, i32),
        append: impl FnOnce() -> Result<T, ErrorCode>,
    ) -> Result<T, ErrorCode> {
        if header.is_control() {
            return Err(ErrorCode::InvalidRecord);
        }
        if !header.is_transactional() {
            return append();
        }
        let Some(cell) = id.and_then(|id| self.get(id)) else { return Err(ErrorCode::InvalidProducerIdMapping) };
        let txn = lock(&cell);
        if header.producer_id != txn.producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if header.producer_epoch != txn.producer_epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        let (topic, index) = partition;
        if txn.state != TxnState::Ongoing || !txn.partitions.contains(&(topic.to_string(), index)) {
            return Err(ErrorCode::InvalidTxnState);
        }
        append()
    }

    fn pending_offset_count(&self) -> usize {
        let cells: Vec<_> = lock(&self.transactions).values().cloned().collect();
        cells.iter().map(|cell| lock(cell).offsets.len()).sum()
    }

    /// The group's partitions whose offsets open transactions hold (OffsetFetch's
    /// `require_stable`).
    pub fn pending_offsets(&self, group: &str) -> HashSet<(String, i32)> {
        let cells: Vec<_> = lock(&self.transactions).values().cloned().collect();
        let mut pending = HashSet::new();
        for cell in cells {
            let txn = lock(&cell);
            let of_group = txn.offsets.keys().filter(|(g, _, _)| g == group);
            pending.extend(of_group.map(|(_, topic, partition)| (topic.clone(), *partition)));
        }
        pending
    }

    /// DescribeTransactions for one id.
    pub fn describe(&self, id: &str) -> Option<Described> {
        let cell = self.get(id)?;
        let txn = lock(&cell);
        Some(Described {
            state: txn.state.name(),
            timeout_ms: txn.timeout_ms,
            started_ms: txn.started_ms,
            producer_id: txn.producer_id,
            producer_epoch: txn.producer_epoch,
            partitions: txn.partitions.iter().cloned().collect(),
        })
    }

    /// ListTransactions: `(id, producer id, state)` of every transaction that passes the
    /// filters (an empty filter passes everything; `min_duration_ms` -1 too).
    pub fn list(
        &self,
        states: &[TxnState],
        producer_ids: &[i64],
        min_duration_ms: i64,
    ) -> Vec<(String, i64, &'static str)> {
        let cells: Vec<_> = lock(&self.transactions).iter().map(|(id, c)| (id.clone(), Arc::clone(c))).collect();
        let now = now_ms();
        let mut out: Vec<_> = cells
            .into_iter()
            .filter_map(|(id, cell)| {
                let txn = lock(&cell);
                let open_long_enough =
                    min_duration_ms < 0 || (txn.started_ms >= 0 && now - txn.started_ms >= min_duration_ms);
                let passes = (states.is_empty() || states.contains(&txn.state))
                    && (producer_ids.is_empty() || producer_ids.contains(&txn.producer_id))
                    && open_long_enough;
                passes.then(|| (id, txn.producer_id, txn.state.name()))
            })
            .collect();
        out.sort();
        out
    }

    /// At start: finishes the transactions a stop left half-ended (Prepare*). Open ones stay
    /// open, and are aborted when their timeout passes, counted from when they began.
    pub fn recover(&self, broker: &Broker) {
        let cells: Vec<_> = lock(&self.transactions).iter().map(|(id, c)| (id.clone(), Arc::clone(c))).collect();
        for (id, cell) in cells {
            let mut txn = lock(&cell);
            if matches!(txn.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                let commit = txn.state == TxnState::PrepareCommit;
                let _ = self.end(broker, &id, &mut txn, commit);
            }
        }
    }

    /// One round of the timer: aborts transactions open past their timeout (bumping the epoch:
    /// the producer that left it is fenced), retries ends a storage error interrupted, and
    /// forgets ids unused for `transactional.id.expiration.ms`.
    pub fn expire(&self, broker: &Broker) {
        let now = now_ms();
        let cells: Vec<_> = lock(&self.transactions).iter().map(|(id, c)| (id.clone(), Arc::clone(c))).collect();
        for (id, cell) in cells {
            let mut txn = lock(&cell);
            match txn.state {
                TxnState::Ongoing if now - txn.started_ms > i64::from(txn.timeout_ms) => {
                    log::info!("transaction {id}: open longer than its timeout of {} ms: aborting", txn.timeout_ms);
                    let _ = self.fence_and_abort(broker, &id, &mut txn);
                }
                TxnState::PrepareCommit | TxnState::PrepareAbort => {
                    let commit = txn.state == TxnState::PrepareCommit;
                    let _ = self.end(broker, &id, &mut txn, commit);
                }
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                    if now - txn.updated_ms > self.id_expiration_ms =>
                {
                    drop(txn);
                    self.forget_if_unused(broker, &id, now);
                }
                _ => {}
            }
        }
    }

    /// Forgets an id unused for `transactional.id.expiration.ms`. The map is locked first and
    /// then the transaction (the order every other path takes), so no request holds the
    /// transaction between the check and the removal.
    fn forget_if_unused(&self, broker: &Broker, id: &str, now: i64) {
        let mut all = lock(&self.transactions);
        let Some(cell) = all.get(id).cloned() else { return };
        let txn = lock(&cell);
        let ended = matches!(txn.state, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort);
        if !ended || now - txn.updated_ms <= self.id_expiration_ms {
            return;
        }
        if broker.groups.store().map_or(Ok(()), |store| store.forget_transaction(id)).is_ok() {
            drop(txn);
            all.remove(id);
            log::info!("transactional id {id}: unused for {} ms, forgotten", self.id_expiration_ms);
        }
    }

    /// The `txn-timer` thread's loop.
    pub fn run_timer(&self, broker: &Broker) {
        loop {
            std::thread::sleep(self.check_interval);
            self.expire(broker);
        }
    }
}

/// The producer a request names must be the id's current one.
fn check_producer(txn: &Transaction, (producer_id, epoch): (i64, i16)) -> Result<(), ErrorCode> {
    if producer_id != txn.producer_id {
        Err(ErrorCode::InvalidProducerIdMapping)
    } else if epoch != txn.producer_epoch {
        Err(ErrorCode::ProducerFenced)
    } else if matches!(txn.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
        // Only after a storage error: the end is retried by the timer.
        Err(ErrorCode::ConcurrentTransactions)
    } else {
        Ok(())
    }
}

/// The first AddPartitionsToTxn or AddOffsetsToTxn after Empty or Complete* begins a transaction.
fn begin(txn: &mut Transaction) {
    if txn.state != TxnState::Ongoing {
        txn.state = TxnState::Ongoing;
        txn.partitions.clear();
        txn.groups.clear();
        txn.offsets.clear();
        txn.started_ms = now_ms();
    }
    txn.updated_ms = now_ms();
}

/// Writes the transaction's state to the coordinators' log (with `log.dirs`).
fn save(broker: &Broker, id: &str, txn: &Transaction) -> Result<(), ErrorCode> {
    let Some(store) = broker.groups.store() else { return Ok(()) };
    store.save_transaction(id, &encode(txn)).map_err(|e| {
        log::error!("transaction {id}: cannot save its state: {e}");
        // What Kafka answers when its coordinator cannot write: clients retry.
        ErrorCode::CoordinatorNotAvailable
    })
}

/// The state as the coordinators' log keeps it, in the wire format's compact types:
///
/// ```text
/// producer_id INT64, producer_epoch INT16, last_epoch INT16, timeout_ms INT32, state INT8,
/// started_ms INT64, updated_ms INT64,
/// partitions COMPACT_ARRAY of (topic COMPACT_STRING, partition INT32),
/// groups COMPACT_ARRAY of COMPACT_STRING,
/// offsets COMPACT_ARRAY of (group, topic COMPACT_STRING, partition INT32, offset INT64,
///                           leader_epoch INT32, metadata COMPACT_STRING)
/// ```
pub fn encode(txn: &Transaction) -> Vec<u8> {
    let mut w = Writer::new();
    w.i64("producer_id", txn.producer_id);
    w.i16("producer_epoch", txn.producer_epoch);
    w.i16("last_epoch", txn.last_epoch);
    w.i32("timeout_ms", txn.timeout_ms);
    w.i8("state", TxnState::ALL.iter().position(|s| *s == txn.state).unwrap_or(0) as i8);
    w.i64("started_ms", txn.started_ms);
    w.i64("updated_ms", txn.updated_ms);
    let partitions: Vec<_> = txn.partitions.iter().collect();
    w.array_v("partitions", true, &partitions, |w, (topic, partition)| {
        w.string_v("topic", topic, true);
        w.i32("partition", *partition);
    });
    let groups: Vec<_> = txn.groups.iter().collect();
    w.array_v("groups", true, &groups, |w, group| w.string_v("group", group, true));
    let offsets: Vec<_> = txn.offsets.iter().collect();
    w.array_v("offsets", true, &offsets, |w, ((group, topic, partition), c)| {
        w.string_v("group", group, true);
        w.string_v("topic", topic, true);
        w.i32("partition", *partition);
        w.i64("offset", c.offset);
        w.i32("leader_epoch", c.leader_epoch);
        w.string_v("metadata", &c.metadata, true);
    });
    w.finish().to_vec().split_off(4)
}

/// Reads back what [`encode`] wrote; every length is checked by the reader.
pub fn decode(id: &str, r: &mut Reader<'_>) -> Result<Transaction, DecodeError> {
    let producer_id = r.i64("producer_id")?;
    let producer_epoch = r.i16("producer_epoch")?;
    let last_epoch = r.i16("last_epoch")?;
    let timeout_ms = r.i32("timeout_ms")?;
    let state = r.i8("state")?;
    let state = *TxnState::ALL
        .get(usize::try_from(state).unwrap_or(usize::MAX))
        .ok_or_else(|| DecodeError::new("state", 0, format!("transaction {id}: unknown state {state}")))?;
    let started_ms = r.i64("started_ms")?;
    let updated_ms = r.i64("updated_ms")?;
    let partitions =
        r.array_v("partitions", true, |r| Ok((r.string_v("topic", true)?.to_string(), r.i32("partition")?)))?;
    let groups = r.array_v("groups", true, |r| Ok(r.string_v("group", true)?.to_string()))?;
    let offsets = r.array_v("offsets", true, |r| {
        let key = (r.string_v("group", true)?.to_string(), r.string_v("topic", true)?.to_string(), r.i32("partition")?);
        let (offset, leader_epoch) = (r.i64("offset")?, r.i32("leader_epoch")?);
        let metadata = r.string_v("metadata", true)?.to_string();
        Ok((key, Committed { offset, leader_epoch, metadata, commit_timestamp_ms: now_ms() }))
    })?;
    Ok(Transaction {
        producer_id,
        producer_epoch,
        last_epoch,
        timeout_ms,
        state,
        partitions: partitions.into_iter().collect(),
        groups: groups.into_iter().collect(),
        offsets: offsets.into_iter().collect(),
        started_ms,
        updated_ms,
    })
}

/// PRODUCER_FENCED arrived in Kafka 2.7; clients older than the API version that knows it
/// (`fenced_from`) are told INVALID_PRODUCER_EPOCH, which they take to mean the same.
pub fn for_version(error: ErrorCode, version: i16, fenced_from: i16) -> ErrorCode {
    if error == ErrorCode::ProducerFenced && version < fenced_from { ErrorCode::InvalidProducerEpoch } else { error }
}
