//! The group coordinator: Kafka's *classic* consumer-group protocol, broker side — the
//! "consumer groups" stage that comes after the CodeCrafters course. Consumers that share a
//! `group.id` split a topic's partitions between them, and the broker remembers how far each
//! group has read.
//!
//! ## The protocol, from a consumer's point of view
//!
//! ```text
//! FindCoordinator(group) ──► "talk to broker N about this group" (here: always this broker)
//! JoinGroup ──────────────► blocks until every member has (re)joined; one member, the leader,
//!                            gets everyone's subscription metadata
//! SyncGroup ──────────────► the leader sends the assignment it computed; every member blocks
//!                            until it arrives and gets its own part
//! Heartbeat (every few s) ► "still alive"; REBALANCE_IN_PROGRESS means "JoinGroup again"
//! OffsetCommit / OffsetFetch  how far the group has consumed each partition
//! LeaveGroup ─────────────► on close: the others rebalance at once instead of after a timeout
//! ```
//! The broker never looks inside the metadata or the assignments: the *client* (the leader)
//! decides who reads what. The broker's job is to run the rounds and keep time.
//!
//! ## The state machine (one per group, in [`state`])
//!
//! ```text
//!                first JoinGroup                 every member rejoined
//!   +-------+  --------------->  +--------------------+  (or the rebalance  +---------------------+
//!   | Empty |                    | PreparingRebalance |   timeout passed)   | CompletingRebalance |
//!   +-------+  <---------------  +--------------------+  -----------------> +---------------------+
//!       |        the round ends       ^          ^                            |              |
//!       |        with no members      |          |  join, leave, expiry,      |              |
//!       | DeleteGroups                |          |  or a member that never    |              | the leader's
//!       v                             |          |  sent SyncGroup            |              | SyncGroup
//!   +------+                          |          +----------------------------+              v
//!   | Dead |                          |                                                 +--------+
//!   +------+                          +-------------------------------------------------| Stable |
//!                                        a member joins, leaves, expires, or the        +--------+
//!                                        leader rejoins / protocols change
//! ```
//! Each completed JoinGroup round bumps the *generation*; heartbeats, SyncGroup and OffsetCommit
//! carry the member's generation, so a member that missed a rebalance is told
//! (ILLEGAL_GENERATION) instead of committing offsets for partitions it no longer owns.
//!
//! ## Threads, locks and waits
//!
//! Connection threads block inside JoinGroup and SyncGroup (a thread per connection makes that
//! fine), so the locking is designed around waiting:
//!
//! | lock / condvar                        | protects                        | who waits on it, until when |
//! |---------------------------------------|---------------------------------|-----------------------------|
//! | `Inner::groups` (Mutex)               | the id → group map              | nobody: held to look up or insert, and to remove a group (with that group's lock, briefly) |
//! | `Cell::group` (Mutex) + `Cell::changed` (Condvar) | one group's state    | a JoinGroup until the rebalance completes (deadline: the rebalance timeout, or the initial delay); a SyncGroup until the leader's assignment (deadline: the sync timeout = rebalance timeout) |
//! | `Timer::wakeups` (Mutex) + `Timer::cv` (Condvar) | when each group next has something due | the one timer thread, until the earliest due instant (or until woken by an earlier one) |
//! | `Store::live` (Mutex)                 | the groups log                  | nobody waits; held for one append (a write to the OS, no flush to disk) |
//!
//! A lock per group means a member blocked in one group's JoinGroup — `Condvar::wait_timeout`
//! releases the group's mutex while it sleeps — never holds up another group, or the same
//! group's heartbeats. Locks are always taken in the order registry → group → timer/store,
//! never the other way, so they cannot deadlock.
//!
//! Time-based events (a member that stopped heartbeating, a rebalance whose timeout passed)
//! must happen even when no request arrives, so one thread, `group-timer`, sleeps until the
//! earliest instant any group has something due and then runs that group's
//! [`state::Group::tick`]. Nothing polls: every wait in this module is a condvar wait whose
//! deadline is a real event (or an unbounded wait when nothing at all is scheduled).
//!
//! ## Differences from Kafka, on purpose
//! - Session timeouts are accepted from 1 s (Kafka: `group.min.session.timeout.ms` = 6 s) so
//!   that tests and experiments can watch an expiry quickly; the maximum is Kafka's 30 minutes.
//!   Both can be set with `group.min.session.timeout.ms` / `group.max.session.timeout.ms`.
//! - Offsets never expire (`retention_time_ms` is ignored) and are stored in a log file of their
//!   own instead of the `__consumer_offsets` topic (see [`store`]).
//! - A group that never completed a rebalance and holds nothing (a refused first JoinGroup, a
//!   MEMBER_ID_REQUIRED id never claimed) is forgotten at once; Kafka's cleanup runs every
//!   10 minutes. A group that has had members stays, Empty, until DeleteGroups.

pub mod state;
pub mod store;

use crate::config::Config;
use crate::errors::ErrorCode;
use crate::sync::lock;
use state::{Committed, Group, GroupState, JoinParams, JoinResult, Limits, Step, SyncResult};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

pub use state::{JoinedMember, MAX_METADATA_BYTES};

/// Kafka's `group.max.session.timeout.ms` default.
const MAX_SESSION_TIMEOUT_MS: u64 = 1_800_000;
/// Kafka's is 6000; 1000 lets tests see an expiry within a few seconds.
const MIN_SESSION_TIMEOUT_MS: u64 = 1000;

/// One group and the condvar its blocked JoinGroup/SyncGroup calls sleep on.
struct Cell {
    group: Mutex<Group>,
    changed: Condvar,
}

/// When each group has something due, as a queue ordered by instant: the timer looks at the
/// front only, so a wake costs the groups that are due, not all the groups there are.
struct Wakeups {
    /// The earliest instant each group has something due.
    at: HashMap<String, Instant>,
    /// The same instants, earliest first. A group rescheduled earlier leaves its old entry
    /// behind: one that no longer matches `at` is skipped when it comes up.
    queue: BinaryHeap<Reverse<(Instant, String)>>,
    stop: bool,
}

impl Wakeups {
    fn schedule(&mut self, group_id: &str, at: Instant) {
        self.at.insert(group_id.to_string(), at);
        self.queue.push(Reverse((at, group_id.to_string())));
        // Left-behind entries are rebuilt away before they outnumber the live ones.
        if self.queue.len() > 2 * self.at.len() + 1024 {
            self.queue = self.at.iter().map(|(id, at)| Reverse((*at, id.clone()))).collect();
        }
    }
}

struct Timer {
    wakeups: Mutex<Wakeups>,
    cv: Condvar,
}

struct Inner {
    groups: Mutex<HashMap<String, Arc<Cell>>>,
    limits: Limits,
    store: Option<store::Store>,
    timer: Timer,
}

/// The group coordinator of this broker (every group's coordinator: there is one broker).
pub struct Coordinator {
    inner: Arc<Inner>,
    timer_thread: Option<thread::JoinHandle<()>>,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: &'static str,
}

/// One partition's offset to commit.
#[derive(Debug, Clone)]
pub struct OffsetToCommit<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: &'a str,
}

/// What a SyncGroup call brings: the member, and (from the leader) everyone's assignment.
pub struct SyncParams<'a> {
    pub member_id: &'a str,
    pub group_instance_id: Option<&'a str>,
    pub generation: i32,
    /// `(protocol_type, protocol_name)`, which v5+ clients send to be checked.
    pub protocol: (Option<&'a str>, Option<&'a str>),
    pub assignments: &'a [(&'a str, &'a [u8])],
}

/// One topic of an OffsetFetch answer: `(partition, committed offset if any)`.
pub type FetchedTopic = (String, Vec<(i32, Option<Committed>)>);

impl Coordinator {
    /// Loads the groups saved under `log.dirs` (if set) and starts the timer thread.
    pub fn open(config: &Config) -> io::Result<Coordinator> {
        let prop =
            |key: &str, default: u64| config.properties.get(key).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        let limits = Limits {
            min_session_timeout: Duration::from_millis(prop("group.min.session.timeout.ms", MIN_SESSION_TIMEOUT_MS)),
            max_session_timeout: Duration::from_millis(prop("group.max.session.timeout.ms", MAX_SESSION_TIMEOUT_MS)),
            // Capped like a client's timeouts (INT32 ms), so `now + delay` cannot overflow.
            initial_rebalance_delay: Duration::from_millis(
                config.group_initial_rebalance_delay_ms.min(i32::MAX as u64),
            ),
        };
        let (store, loaded) = match &config.log_dir {
            Some(dir) => {
                let (store, groups) = store::Store::open(dir)?;
                (Some(store), groups)
            }
            None => (None, Vec::new()),
        };
        let mut groups = HashMap::new();
        let mut wakeups = Wakeups { at: HashMap::new(), queue: BinaryHeap::new(), stop: false };
        for g in loaded {
            if let Some(t) = g.next_deadline() {
                wakeups.schedule(&g.id, t);
            }
            groups.insert(g.id.clone(), Arc::new(Cell { group: Mutex::new(g), changed: Condvar::new() }));
        }
        let inner = Arc::new(Inner {
            groups: Mutex::new(groups),
            limits,
            store,
            timer: Timer { wakeups: Mutex::new(wakeups), cv: Condvar::new() },
        });
        let for_thread = Arc::clone(&inner);
        let timer_thread = thread::Builder::new().name("group-timer".into()).spawn(move || run_timer(&for_thread))?;
        Ok(Coordinator { inner, timer_thread: Some(timer_thread) })
    }

    fn get(&self, group_id: &str) -> Option<Arc<Cell>> {
        lock(&self.inner.groups).get(group_id).cloned()
    }

    fn get_or_create(&self, group_id: &str) -> Arc<Cell> {
        let mut groups = lock(&self.inner.groups);
        Arc::clone(
            groups
                .entry(group_id.to_string())
                .or_insert_with(|| Arc::new(Cell { group: Mutex::new(Group::new(group_id)), changed: Condvar::new() })),
        )
    }

    /// JoinGroup. Blocks until the rebalance completes (bounded by the rebalance timeout), or
    /// until `client`, the connection the call came on, closes.
    pub fn join(&self, group_id: &str, p: &JoinParams<'_>, client: Option<&TcpStream>) -> JoinResult {
        if group_id.is_empty() {
            return JoinResult::error(ErrorCode::InvalidGroupId, p.member_id);
        }
        let limits = &self.inner.limits;
        if p.session_timeout < limits.min_session_timeout || p.session_timeout > limits.max_session_timeout {
            return JoinResult::error(ErrorCode::InvalidSessionTimeout, p.member_id);
        }
        // Only a new member may create a group; a member id for an unknown group is stale.
        let cell = if p.member_id.is_empty() {
            self.get_or_create(group_id)
        } else {
            match self.get(group_id) {
                Some(cell) => cell,
                None => return JoinResult::error(ErrorCode::UnknownMemberId, p.member_id),
            }
        };
        let mut g = lock(&cell.group);
        let step = g.join(p, Instant::now(), limits);
        self.settle(&cell, &mut g);
        match step {
            Step::Done(result) => {
                drop(g);
                // A refused first join must not leave a group behind.
                self.inner.forget_if_unformed(group_id);
                result
            }
            Step::Wait(ticket) => {
                let lost = JoinResult::error(ErrorCode::UnknownMemberId, p.member_id);
                self.wait(&cell, g, (ticket, client), Group::take_join_reply, lost)
            }
        }
    }

    /// SyncGroup. A follower blocks until the leader's assignment arrives (bounded by the
    /// rebalance timeout, after which members that never synced are removed), or until
    /// `client` closes.
    pub fn sync(&self, group_id: &str, p: &SyncParams<'_>, client: Option<&TcpStream>) -> SyncResult {
        if group_id.is_empty() {
            return SyncResult::error(ErrorCode::InvalidGroupId);
        }
        let Some(cell) = self.get(group_id) else { return SyncResult::error(ErrorCode::UnknownMemberId) };
        let mut g = lock(&cell.group);
        let step = g.sync(p.member_id, p.group_instance_id, p.generation, p.protocol, p.assignments, Instant::now());
        self.settle(&cell, &mut g);
        match step {
            Step::Done(result) => result,
            Step::Wait(ticket) => {
                let lost = SyncResult::error(ErrorCode::RebalanceInProgress);
                self.wait(&cell, g, (ticket, client), Group::take_sync_reply, lost)
            }
        }
    }

    pub fn heartbeat(&self, group_id: &str, member_id: &str, instance: Option<&str>, generation: i32) -> ErrorCode {
        if group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        let Some(cell) = self.get(group_id) else { return ErrorCode::UnknownMemberId };
        let mut g = lock(&cell.group);
        let error = g.heartbeat(member_id, instance, generation, Instant::now());
        self.settle(&cell, &mut g);
        error
    }

    /// LeaveGroup: `(member_id, group_instance_id)` of each member leaving; an error each.
    pub fn leave(&self, group_id: &str, members: &[(&str, Option<&str>)]) -> Result<Vec<ErrorCode>, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        let Some(cell) = self.get(group_id) else {
            return Ok(vec![ErrorCode::UnknownMemberId; members.len()]);
        };
        let mut g = lock(&cell.group);
        let now = Instant::now();
        let errors = members.iter().map(|(id, instance)| g.leave(id, *instance, now, &self.inner.limits)).collect();
        self.settle(&cell, &mut g);
        Ok(errors)
    }

    /// OffsetCommit: checks the member and generation, then stores every offset. One error for
    /// the whole request (per-partition checks are the caller's).
    pub fn commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        offsets: &[OffsetToCommit<'_>],
    ) -> ErrorCode {
        let cell = if generation < 0 {
            // A consumer that assigns itself partitions commits into a group nobody joined.
            self.get_or_create(group_id)
        } else {
            match self.get(group_id) {
                Some(cell) => cell,
                None => return ErrorCode::IllegalGeneration,
            }
        };
        let mut g = lock(&cell.group);
        let mut error = g.check_commit(member_id, instance, generation, Instant::now());
        if error == ErrorCode::None {
            let now_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let committed: Vec<_> = offsets
                .iter()
                .map(|o| {
                    let c = Committed {
                        offset: o.offset,
                        leader_epoch: o.leader_epoch,
                        metadata: o.metadata.to_string(),
                        commit_timestamp_ms: now_ms,
                    };
                    (o.topic, o.partition, c)
                })
                .collect();
            // Written first: an offset the store could not keep is not committed at all.
            let saved = self.inner.store.as_ref().map_or(Ok(()), |store| store.commit(group_id, &committed));
            match saved {
                Ok(()) => committed.into_iter().for_each(|(topic, partition, c)| g.commit(topic, partition, c)),
                Err(e) => {
                    log::error!("group {group_id}: cannot save committed offsets: {e}");
                    error = ErrorCode::KafkaStorageError;
                }
            }
        }
        self.settle(&cell, &mut g);
        error
    }

    //> transactions
    /// TxnOffsetCommit's check, made when a transaction sends its offsets: the member (if one is
    /// named) and the generation (if one is given). Unlike OffsetCommit, no rebalance state: the
    /// offsets only count once the transaction commits.
    pub fn check_transactional_commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
    ) -> ErrorCode {
        match self.get(group_id) {
            Some(cell) => lock(&cell.group).check_transactional_commit(member_id, instance, generation),
            None if !member_id.is_empty() || instance.is_some() => ErrorCode::UnknownMemberId,
            None if generation >= 0 => ErrorCode::IllegalGeneration,
            None => ErrorCode::None,
        }
    }

    /// Makes a committed transaction's offsets the group's, written to the store first like any
    /// commit (their member was checked when TxnOffsetCommit sent them).
    pub fn commit_transaction_offsets(&self, group_id: &str, offsets: &[(&str, i32, Committed)]) -> io::Result<()> {
        let cell = self.get_or_create(group_id);
        let mut g = lock(&cell.group);
        if let Some(store) = &self.inner.store {
            store.commit(group_id, offsets)?;
        }
        for (topic, partition, committed) in offsets {
            g.commit(topic, *partition, committed.clone());
        }
        self.settle(&cell, &mut g);
        Ok(())
    }

    /// The coordinators' log (with `log.dirs`), which keeps transactions too.
    pub fn store(&self) -> Option<&store::Store> {
        self.inner.store.as_ref()
    }
    //< transactions

    /// OffsetFetch for one group: the committed offset of each requested partition (`None` if
    /// nothing was committed), or of every committed partition when `topics` is `None`.
    pub fn fetch_offsets(&self, group_id: &str, topics: Option<&[(&str, Vec<i32>)]>) -> Vec<FetchedTopic> {
        let group = self.get(group_id);
        let g = group.as_ref().map(|cell| lock(&cell.group));
        let offsets = g.as_ref().map(|g| &g.offsets);
        match topics {
            Some(topics) => topics
                .iter()
                .map(|(topic, partitions)| {
                    let found = partitions
                        .iter()
                        .map(|p| (*p, offsets.and_then(|o| o.get(&(topic.to_string(), *p))).cloned()))
                        .collect();
                    (topic.to_string(), found)
                })
                .collect(),
            None => {
                let mut out: Vec<FetchedTopic> = Vec::new();
                for ((topic, partition), c) in offsets.into_iter().flatten() {
                    match out.last_mut() {
                        Some((t, parts)) if t == topic => parts.push((*partition, Some(c.clone()))),
                        _ => out.push((topic.clone(), vec![(*partition, Some(c.clone()))])),
                    }
                }
                out
            }
        }
    }

    /// DescribeGroups for one group. An unknown group is described as Dead, as Kafka does.
    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let dead = GroupDescription {
            state: "Dead",
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        };
        let Some(cell) = self.get(group_id) else { return dead };
        let g = lock(&cell.group);
        // Metadata and assignments belong to a generation; only a Stable group has a settled one.
        let stable = g.state == GroupState::Stable;
        let protocol = if stable { g.protocol.clone().unwrap_or_default() } else { String::new() };
        let members = g
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.protocols.iter().find(|(n, _)| *n == protocol).map(|(_, md)| md.clone()).unwrap_or_default()
                } else {
                    Vec::new()
                },
                assignment: if stable { m.assignment.clone() } else { Vec::new() },
            })
            .collect();
        GroupDescription {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        }
    }

    /// Every group (sorted by id), for ListGroups.
    pub fn list(&self) -> Vec<GroupListing> {
        let cells: Vec<Arc<Cell>> = lock(&self.inner.groups).values().cloned().collect();
        let mut out: Vec<GroupListing> = cells
            .iter()
            .map(|cell| {
                let g = lock(&cell.group);
                GroupListing {
                    group_id: g.id.clone(),
                    protocol_type: g.protocol_type.clone().unwrap_or_default(),
                    state: g.state.name(),
                }
            })
            .filter(|l| l.state != "Dead")
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DeleteGroups for one group: only a group without members can go; its offsets go too.
    pub fn delete(&self, group_id: &str) -> ErrorCode {
        let mut groups = lock(&self.inner.groups);
        let Some(cell) = groups.get(group_id).cloned() else { return ErrorCode::GroupIdNotFound };
        let mut g = lock(&cell.group);
        if g.state == GroupState::Dead {
            return ErrorCode::GroupIdNotFound;
        }
        if !g.members.is_empty() || g.state != GroupState::Empty {
            return ErrorCode::NonEmptyGroup;
        }
        if let Some(Err(e)) = self.inner.store.as_ref().map(|store| store.delete(group_id)) {
            log::error!("group {group_id}: cannot save its deletion: {e}");
            return ErrorCode::KafkaStorageError;
        }
        g.state = GroupState::Dead;
        g.offsets.clear();
        g.pending.clear();
        groups.remove(group_id);
        drop(groups);
        self.settle(&cell, &mut g);
        ErrorCode::None
    }

    /// After every change to a group: save it if needed, wake its waiters, schedule its next
    /// deadline with the timer thread.
    fn settle(&self, cell: &Cell, g: &mut Group) {
        self.inner.settle(cell, g);
    }

    /// Waits, with the group unlocked, until the call behind `ticket` has its answer, or its
    /// `client` has hung up (checked between waits of at most a second).
    fn wait<T>(
        &self,
        cell: &Cell,
        mut g: MutexGuard<'_, Group>,
        (ticket, client): (u64, Option<&TcpStream>),
        take: fn(&mut Group, u64) -> Option<T>,
        lost: T,
    ) -> T {
        loop {
            if let Some(reply) = take(&mut g, ticket) {
                return reply;
            }
            if !g.is_parked(ticket) {
                // No member holds the ticket any more and nobody answered it: cannot happen by
                // design, but never wait for an answer that will not come.
                return lost;
            }
            // Do whatever is due (the timer thread would do it too; whoever wakes first does).
            let now = Instant::now();
            g.tick(now, &self.inner.limits);
            self.settle(cell, &mut g);
            if let Some(reply) = take(&mut g, ticket) {
                return reply;
            }
            let Some(deadline) = g.next_deadline() else { return lost };
            if client.is_some_and(crate::limits::hung_up) {
                g.release(ticket);
                self.settle(cell, &mut g);
                return lost;
            }
            let timeout =
                deadline.saturating_duration_since(now).clamp(Duration::from_millis(1), Duration::from_secs(1));
            g = match cell.changed.wait_timeout(g, timeout) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Inner {
    fn settle(&self, cell: &Cell, g: &mut Group) {
        if g.dirty {
            g.dirty = false;
            if let Some(store) = &self.store
                && let Err(e) = store.save_group(g)
            {
                log::error!("group {}: cannot save the group state: {e}", g.id);
            }
        }
        cell.changed.notify_all();
        if let Some(at) = g.next_deadline() {
            let mut w = lock(&self.timer.wakeups);
            let earlier = w.at.get(&g.id).is_none_or(|t| at < *t);
            if earlier {
                w.schedule(&g.id, at);
                self.timer.cv.notify_one();
            }
        }
    }

    /// Runs one group's due work (from the timer thread).
    fn tick_group(&self, group_id: &str) {
        let Some(cell) = lock(&self.groups).get(group_id).cloned() else { return };
        let mut g = lock(&cell.group);
        g.tick(Instant::now(), &self.limits);
        self.settle(&cell, &mut g);
        drop(g);
        self.forget_if_unformed(group_id);
    }

    /// Removes a group that never completed a rebalance and holds nothing: created by a refused
    /// JoinGroup, or by a MEMBER_ID_REQUIRED whose member never came back. (A group that has had
    /// a generation stays, Empty, as in Kafka, until DeleteGroups.)
    fn forget_if_unformed(&self, group_id: &str) {
        let mut groups = lock(&self.groups);
        let Some(cell) = groups.get(group_id).cloned() else { return };
        let mut g = lock(&cell.group);
        if g.generation == 0 && g.state == GroupState::Empty && g.is_vacant() {
            g.state = GroupState::Dead;
            groups.remove(group_id);
        }
    }
}

/// The `group-timer` thread: sleeps until the earliest scheduled instant, then ticks the groups
/// that are due. A group reschedules itself (in [`Inner::settle`]) with its next deadline.
fn run_timer(inner: &Inner) {
    let mut w = lock(&inner.timer.wakeups);
    loop {
        if w.stop {
            return;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = w.queue.peek()
            && *at <= now
        {
            let Some(Reverse((at, id))) = w.queue.pop() else { break };
            if w.at.get(&id) == Some(&at) {
                w.at.remove(&id);
                due.push(id);
            }
        }
        if due.is_empty() {
            let next = w.queue.peek().map(|Reverse((at, _))| *at);
            w = match next {
                Some(t) => match inner.timer.cv.wait_timeout(w, t.saturating_duration_since(now)) {
                    Ok((guard, _)) => guard,
                    Err(poisoned) => poisoned.into_inner().0,
                },
                None => inner.timer.cv.wait(w).unwrap_or_else(|poisoned| poisoned.into_inner()),
            };
            continue;
        }
        // Groups are locked without the timer lock held: the lock order is group → timer.
        drop(w);
        for id in due {
            inner.tick_group(&id);
        }
        w = lock(&inner.timer.wakeups);
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        lock(&self.inner.timer.wakeups).stop = true;
        self.inner.timer.cv.notify_all();
        if let Some(t) = self.timer_thread.take() {
            let _ = t.join();
        }
    }
}
