//! One consumer group's state machine, without locks, threads or clocks of its own: every method
//! takes the current time `now`, changes the group, and leaves replies for blocked callers in
//! the group. [`super::Coordinator`] adds the locking and the waiting; the unit tests at the
//! bottom drive this file with made-up instants.
//!
//! Blocked callers are identified by a *ticket*: a JoinGroup or SyncGroup that cannot be
//! answered yet parks its ticket on its member (`awaiting_join` / `awaiting_sync`), and whoever
//! completes the rebalance later puts the answer under that ticket in `join_replies` /
//! `sync_replies`. A ticket per call (not per member) means a member that retries a JoinGroup on
//! a new connection releases the old, abandoned call instead of leaving it hanging.

use crate::errors::ErrorCode;
use crate::wire::Uuid;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Kafka's `offset.metadata.max.bytes`: longer commit metadata is refused per partition.
pub const MAX_METADATA_BYTES: usize = 4096;

/// The five states of a classic group, named as DescribeGroups and ListGroups name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Timeouts the broker enforces or applies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub min_session_timeout: Duration,
    pub max_session_timeout: Duration,
    /// `group.initial.rebalance.delay.ms`: how long an empty group's first rebalance waits for
    /// more members (again after each newcomer, up to the rebalance timeout), so that consumers
    /// started together land in one generation.
    pub initial_rebalance_delay: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    /// Static membership (KIP-345): a stable name that survives restarts of the client.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// `(name, metadata)` in the member's order of preference.
    pub protocols: Vec<(String, Vec<u8>)>,
    /// What the leader assigned to this member in the current generation.
    pub assignment: Vec<u8>,
    /// The member is dead unless it heartbeats before this (members blocked in JoinGroup or
    /// SyncGroup are kept alive: they cannot heartbeat on the connection they are blocking).
    pub expires_at: Instant,
    pub awaiting_join: Option<u64>,
    pub awaiting_sync: Option<u64>,
    /// Sent SyncGroup in the current generation.
    pub synced: bool,
}

impl Member {
    fn metadata_for(&self, protocol: Option<&str>) -> Vec<u8> {
        self.protocols.iter().find(|(n, _)| Some(n.as_str()) == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    fn same_protocols(&self, protocols: &[(&str, &[u8])]) -> bool {
        self.protocols.len() == protocols.len()
            && self.protocols.iter().zip(protocols).all(|((n, m), (n2, m2))| n == n2 && m.as_slice() == *m2)
    }

    fn kept_alive(&self) -> bool {
        self.awaiting_join.is_some() || self.awaiting_sync.is_some()
    }
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// What a JoinGroup call receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error: ErrorCode,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member and its metadata for the chosen protocol — for the leader only.
    pub members: Vec<JoinedMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Vec<u8>,
}

impl JoinResult {
    pub fn error(error: ErrorCode, member_id: &str) -> JoinResult {
        JoinResult {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// What a SyncGroup call receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Vec<u8>,
}

impl SyncResult {
    pub fn error(error: ErrorCode) -> SyncResult {
        SyncResult { error, protocol_type: None, protocol_name: None, assignment: Vec::new() }
    }
}

/// Either an answer now, or a ticket to wait on.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<T> {
    Done(T),
    Wait(u64),
}

/// A JoinGroup request, as the state machine needs it.
#[derive(Debug, Clone)]
pub struct JoinParams<'a> {
    pub member_id: &'a str,
    pub group_instance_id: Option<&'a str>,
    pub client_id: &'a str,
    pub client_host: &'a str,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: &'a str,
    pub protocols: Vec<(&'a str, &'a [u8])>,
    /// JoinGroup v4+: a new dynamic member first gets its id with MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

/// One group: membership, generation, assignments and committed offsets.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// In join order; when the leader goes, the first member that rejoined leads.
    pub members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until the member rejoins with it.
    pub pending: HashMap<String, Instant>,
    /// End of the initial delay of an empty group's first rebalance.
    pub not_before: Option<Instant>,
    /// PreparingRebalance ends here even if not everyone rejoined.
    pub rebalance_deadline: Option<Instant>,
    /// CompletingRebalance: members that have not sent SyncGroup by then are removed.
    pub sync_deadline: Option<Instant>,
    pub offsets: BTreeMap<(String, i32), Committed>,
    join_replies: HashMap<u64, JoinResult>,
    sync_replies: HashMap<u64, SyncResult>,
    next_ticket: u64,
    /// Its membership changed since the last save (committed offsets are saved as they come).
    pub dirty: bool,
}

impl Group {
    pub fn new(id: &str) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            not_before: None,
            rebalance_deadline: None,
            sync_deadline: None,
            offsets: BTreeMap::new(),
            join_replies: HashMap::new(),
            sync_replies: HashMap::new(),
            next_ticket: 0,
            dirty: false,
        }
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.member_id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.member_id == id)
    }

    fn by_instance(&self, instance: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.group_instance_id.as_deref() == Some(instance))
    }

    /// KIP-345 fencing: the instance id belongs to a different member id.
    fn fenced(&self, member_id: &str, instance: Option<&str>) -> bool {
        instance.and_then(|i| self.by_instance(i)).is_some_and(|m| m.member_id != member_id)
    }

    /// Kafka's member check, the first of every member request after the group's own state: a
    /// static member is known by its instance id (another member id there is a fenced zombie),
    /// any other by its member id.
    fn validate_member(&self, member_id: &str, instance: Option<&str>) -> ErrorCode {
        let known = match instance {
            Some(instance) => match self.by_instance(instance) {
                Some(m) if m.member_id != member_id => return ErrorCode::FencedInstanceId,
                found => found.is_some(),
            },
            None => self.member(member_id).is_some(),
        };
        if known { ErrorCode::None } else { ErrorCode::UnknownMemberId }
    }

    fn ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    pub fn take_join_reply(&mut self, ticket: u64) -> Option<JoinResult> {
        self.join_replies.remove(&ticket)
    }

    pub fn take_sync_reply(&mut self, ticket: u64) -> Option<SyncResult> {
        self.sync_replies.remove(&ticket)
    }

    /// Whether some member still holds this ticket (so an answer will come).
    pub fn is_parked(&self, ticket: u64) -> bool {
        self.members.iter().any(|m| m.awaiting_join == Some(ticket) || m.awaiting_sync == Some(ticket))
    }

    /// Takes a parked call off its member, unanswered: its client hung up. The member then
    /// counts as not having rejoined (or synced), as if the call had never come.
    pub fn release(&mut self, ticket: u64) {
        for m in &mut self.members {
            if m.awaiting_join == Some(ticket) {
                m.awaiting_join = None;
            }
            if m.awaiting_sync == Some(ticket) {
                m.awaiting_sync = None;
            }
        }
    }

    fn answer_join(&mut self, ticket: Option<u64>, result: JoinResult) {
        if let Some(t) = ticket {
            self.join_replies.insert(t, result);
        }
    }

    fn answer_sync(&mut self, ticket: Option<u64>, error: ErrorCode) {
        if let Some(t) = ticket {
            self.sync_replies.insert(t, SyncResult::error(error));
        }
    }

    /// A group with no members, no pending ids and no offsets holds nothing worth keeping.
    pub fn is_vacant(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty() && self.offsets.is_empty()
    }

    // ---- the rebalance protocol ----------------------------------------------------------

    /// Whether a member with these protocols may join: same protocol type as the group, and at
    /// least one protocol every other member also supports.
    fn supports(&self, member_id: &str, protocol_type: &str, protocols: &[(&str, &[u8])]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        let others: Vec<&Member> = self.members.iter().filter(|m| m.member_id != member_id).collect();
        if others.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| others.iter().all(|m| m.protocols.iter().any(|(n, _)| n == name)))
    }

    /// Kafka's choice: among the protocols every member supports, each member votes for the
    /// first one in its own preference order; most votes wins (ties: the first member's order).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|name| self.members.iter().all(|m| m.protocols.iter().any(|(n, _)| n == name)))
            .collect();
        let mut votes = vec![0usize; candidates.len()];
        for m in &self.members {
            if let Some(i) = m.protocols.iter().find_map(|(n, _)| candidates.iter().position(|c| c == n)) {
                votes[i] += 1;
            }
        }
        let best = votes.iter().enumerate().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))?.0;
        candidates.get(best).map(|s| s.to_string())
    }

    fn max_rebalance_timeout(&self) -> Duration {
        self.members.iter().map(|m| m.rebalance_timeout).max().unwrap_or_default()
    }

    /// Starts (or restarts) a rebalance: everyone must rejoin.
    fn prepare_rebalance(&mut self, now: Instant, limits: &Limits) {
        if self.state == GroupState::CompletingRebalance {
            // Followers waiting in SyncGroup will get no assignment from this generation.
            let tickets: Vec<Option<u64>> = self.members.iter_mut().map(|m| m.awaiting_sync.take()).collect();
            for t in tickets {
                self.answer_sync(t, ErrorCode::RebalanceInProgress);
            }
        }
        let timeout = self.max_rebalance_timeout();
        if self.state == GroupState::Empty {
            let delay = limits.initial_rebalance_delay;
            self.not_before = Some(now + delay);
            self.rebalance_deadline = Some(now + timeout.max(delay));
        } else {
            self.not_before = None;
            self.rebalance_deadline = Some(now + timeout);
        }
        self.sync_deadline = None;
        for m in &mut self.members {
            m.synced = false;
        }
        self.state = GroupState::PreparingRebalance;
        log::debug!(
            "group {}: PreparingRebalance ({} members, waiting up to {timeout:?})",
            self.id,
            self.members.len()
        );
    }

    /// Ends PreparingRebalance when every member has rejoined (and an empty group's initial
    /// delay is over), or when the rebalance timeout has passed.
    fn maybe_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.iter().all(|m| m.awaiting_join.is_some()) && self.pending.is_empty();
        let delay_over = self.not_before.is_none_or(|t| now >= t);
        let timed_out = self.rebalance_deadline.is_some_and(|t| now >= t);
        if !(timed_out || (all_joined && delay_over)) {
            return;
        }
        // Dynamic members that did not rejoin in time are gone; static ones keep their place
        // until their session times out (they may be restarting).
        self.members.retain(|m| m.awaiting_join.is_some() || m.group_instance_id.is_some());
        self.generation += 1;
        self.not_before = None;
        self.rebalance_deadline = None;
        self.dirty = true;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            log::debug!("group {}: Empty (generation {})", self.id, self.generation);
            return;
        }
        self.protocol = self.select_protocol();
        let leader_rejoined =
            self.leader.as_deref().and_then(|l| self.member(l)).is_some_and(|m| m.awaiting_join.is_some());
        if !leader_rejoined {
            let first = self.members.iter().find(|m| m.awaiting_join.is_some()).or(self.members.first());
            self.leader = first.map(|m| m.member_id.clone());
        }
        self.state = GroupState::CompletingRebalance;
        log::debug!(
            "group {}: CompletingRebalance, generation {}, {} members, leader {}, protocol {}",
            self.id,
            self.generation,
            self.members.len(),
            self.leader.as_deref().unwrap_or("-"),
            self.protocol.as_deref().unwrap_or("-")
        );
        self.sync_deadline = Some(now + self.max_rebalance_timeout());
        let all = self.joined_members();
        let leader = self.leader.clone().unwrap_or_default();
        let mut replies = Vec::new();
        for m in &mut self.members {
            m.assignment.clear();
            m.synced = false;
            m.expires_at = now + m.session_timeout;
            if let Some(t) = m.awaiting_join.take() {
                replies.push((t, m.member_id.clone()));
            }
        }
        for (t, member_id) in replies {
            let members = if member_id == leader { all.clone() } else { Vec::new() };
            let result = self.current_result(&member_id, members);
            self.join_replies.insert(t, result);
        }
    }

    fn joined_members(&self) -> Vec<JoinedMember> {
        self.members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(self.protocol.as_deref()),
            })
            .collect()
    }

    fn current_result(&self, member_id: &str, members: Vec<JoinedMember>) -> JoinResult {
        JoinResult {
            error: ErrorCode::None,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
        }
    }

    /// Removes a member and moves the group on: a stable group rebalances, a rebalancing one
    /// may now be complete. Calls the member had blocked get UNKNOWN_MEMBER_ID.
    fn remove_member(&mut self, member_id: &str, now: Instant, limits: &Limits) {
        let Some(i) = self.members.iter().position(|m| m.member_id == member_id) else { return };
        let m = self.members.remove(i);
        self.answer_join(m.awaiting_join, JoinResult::error(ErrorCode::UnknownMemberId, member_id));
        self.answer_sync(m.awaiting_sync, ErrorCode::UnknownMemberId);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now, limits),
            GroupState::PreparingRebalance => {}
            GroupState::Empty | GroupState::Dead => return,
        }
        self.maybe_complete_join(now);
    }

    /// JoinGroup, after the coordinator checked the group id and session timeout.
    pub fn join(&mut self, p: &JoinParams<'_>, now: Instant, limits: &Limits) -> Step<JoinResult> {
        if self.state == GroupState::Dead {
            return Step::Done(JoinResult::error(ErrorCode::CoordinatorNotAvailable, p.member_id));
        }
        if !self.supports(p.member_id, p.protocol_type, &p.protocols) {
            return Step::Done(JoinResult::error(ErrorCode::InconsistentGroupProtocol, p.member_id));
        }
        if p.member_id.is_empty() {
            if let Some(instance) = p.group_instance_id {
                if let Some(old) = self.by_instance(instance) {
                    let old = old.member_id.clone();
                    return self.replace_static_member(&old, p, now, limits);
                }
                // A new static member is trusted with its id at once: no MEMBER_ID_REQUIRED.
                let id = format!("{instance}-{}", Uuid::random());
                return self.add_member(id, p, now, limits);
            }
            let id = format!("{}-{}", p.client_id, Uuid::random());
            if p.require_known_member_id {
                // KIP-394: the member must come back with this id, so a client that retries a
                // timed-out JoinGroup does not leave a ghost member behind.
                self.pending.insert(id.clone(), now + p.session_timeout);
                return Step::Done(JoinResult::error(ErrorCode::MemberIdRequired, &id));
            }
            return self.add_member(id, p, now, limits);
        }
        if self.pending.remove(p.member_id).is_some() {
            return self.add_member(p.member_id.to_string(), p, now, limits);
        }
        if self.fenced(p.member_id, p.group_instance_id) {
            return Step::Done(JoinResult::error(ErrorCode::FencedInstanceId, p.member_id));
        }
        let Some(member) = self.member(p.member_id) else {
            return Step::Done(JoinResult::error(ErrorCode::UnknownMemberId, p.member_id));
        };
        let unchanged = member.same_protocols(&p.protocols);
        let is_leader = self.leader.as_deref() == Some(p.member_id);
        match self.state {
            GroupState::CompletingRebalance if unchanged => {
                // The member missed its JoinGroup answer: send it again.
                let members = if is_leader { self.joined_members() } else { Vec::new() };
                Step::Done(self.current_result(p.member_id, members))
            }
            GroupState::Stable if unchanged && !is_leader => {
                // Nothing changed for a follower: let it sync with the current generation.
                Step::Done(self.current_result(p.member_id, Vec::new()))
            }
            GroupState::PreparingRebalance | GroupState::CompletingRebalance | GroupState::Stable => {
                let ticket = self.update_member(p, now);
                if self.state != GroupState::PreparingRebalance {
                    self.prepare_rebalance(now, limits);
                }
                self.maybe_complete_join(now);
                Step::Wait(ticket)
            }
            GroupState::Empty | GroupState::Dead => {
                Step::Done(JoinResult::error(ErrorCode::UnknownMemberId, p.member_id))
            }
        }
    }

    /// Refreshes a known member from its JoinGroup and parks the call.
    fn update_member(&mut self, p: &JoinParams<'_>, now: Instant) -> u64 {
        let ticket = self.ticket();
        let Some(m) = self.member_mut(p.member_id) else { return ticket };
        m.protocols = p.protocols.iter().map(|(n, md)| (n.to_string(), md.to_vec())).collect();
        m.session_timeout = p.session_timeout;
        m.rebalance_timeout = p.rebalance_timeout;
        m.client_id = p.client_id.to_string();
        m.client_host = p.client_host.to_string();
        m.expires_at = now + p.session_timeout;
        let old = m.awaiting_join.replace(ticket);
        // An earlier JoinGroup of the same member is still parked (the client gave up on it):
        // release it.
        self.answer_join(old, JoinResult::error(ErrorCode::RebalanceInProgress, p.member_id));
        ticket
    }

    fn add_member(&mut self, member_id: String, p: &JoinParams<'_>, now: Instant, limits: &Limits) -> Step<JoinResult> {
        if self.members.is_empty() {
            self.protocol_type = Some(p.protocol_type.to_string());
        }
        let ticket = self.ticket();
        self.members.push(Member {
            member_id,
            group_instance_id: p.group_instance_id.map(str::to_string),
            client_id: p.client_id.to_string(),
            client_host: p.client_host.to_string(),
            session_timeout: p.session_timeout,
            rebalance_timeout: p.rebalance_timeout,
            protocol_type: p.protocol_type.to_string(),
            protocols: p.protocols.iter().map(|(n, m)| (n.to_string(), m.to_vec())).collect(),
            assignment: Vec::new(),
            expires_at: now + p.session_timeout,
            awaiting_join: Some(ticket),
            awaiting_sync: None,
            synced: false,
        });
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now, limits);
        } else if let (Some(_), Some(deadline)) = (self.not_before, self.rebalance_deadline) {
            // Still in a new group's initial delay: a newcomer extends it (up to the rebalance
            // timeout), so consumers started one after another still share the first generation.
            self.not_before = Some((now + limits.initial_rebalance_delay).min(deadline));
        }
        self.maybe_complete_join(now);
        Step::Wait(ticket)
    }

    /// A static member restarted: it takes over the old member's place under a new member id,
    /// and the old id is fenced (its blocked calls get FENCED_INSTANCE_ID).
    fn replace_static_member(
        &mut self,
        old_id: &str,
        p: &JoinParams<'_>,
        now: Instant,
        limits: &Limits,
    ) -> Step<JoinResult> {
        let instance = p.group_instance_id.unwrap_or_default();
        let new_id = format!("{instance}-{}", Uuid::random());
        let leader_before = self.leader.clone().unwrap_or_default();
        let Some(m) = self.member_mut(old_id) else {
            return Step::Done(JoinResult::error(ErrorCode::UnknownMemberId, p.member_id));
        };
        let (old_join, old_sync) = (m.awaiting_join.take(), m.awaiting_sync.take());
        let unchanged = m.same_protocols(&p.protocols);
        m.member_id = new_id.clone();
        self.answer_join(old_join, JoinResult::error(ErrorCode::FencedInstanceId, old_id));
        self.answer_sync(old_sync, ErrorCode::FencedInstanceId);
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        self.dirty = true;
        if self.state == GroupState::Stable && unchanged {
            if let Some(m) = self.member_mut(&new_id) {
                m.expires_at = now + p.session_timeout;
            }
            // No rebalance: the member keeps its assignment. The old leader id is returned so
            // that a restarted leader does not compute an assignment a stable group would
            // never distribute.
            let mut result = self.current_result(&new_id, Vec::new());
            result.leader = leader_before;
            return Step::Done(result);
        }
        let params = JoinParams { member_id: &new_id, ..p.clone() };
        let ticket = self.update_member(&params, now);
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now, limits);
        }
        self.maybe_complete_join(now);
        Step::Wait(ticket)
    }

    /// SyncGroup: the leader brings the assignment, followers wait for it.
    pub fn sync(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: &[(&str, &[u8])],
        now: Instant,
    ) -> Step<SyncResult> {
        if self.state == GroupState::Dead {
            return Step::Done(SyncResult::error(ErrorCode::CoordinatorNotAvailable));
        }
        if self.fenced(member_id, instance) {
            return Step::Done(SyncResult::error(ErrorCode::FencedInstanceId));
        }
        if self.member(member_id).is_none() {
            return Step::Done(SyncResult::error(ErrorCode::UnknownMemberId));
        }
        if generation != self.generation {
            return Step::Done(SyncResult::error(ErrorCode::IllegalGeneration));
        }
        let (protocol_type, protocol_name) = protocol;
        if protocol_type.is_some_and(|t| self.protocol_type.as_deref() != Some(t))
            || protocol_name.is_some_and(|n| self.protocol.as_deref() != Some(n))
        {
            return Step::Done(SyncResult::error(ErrorCode::InconsistentGroupProtocol));
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => Step::Done(SyncResult::error(ErrorCode::UnknownMemberId)),
            GroupState::PreparingRebalance => Step::Done(SyncResult::error(ErrorCode::RebalanceInProgress)),
            GroupState::Stable => {
                let Some(m) = self.member_mut(member_id) else {
                    return Step::Done(SyncResult::error(ErrorCode::UnknownMemberId));
                };
                m.expires_at = now + m.session_timeout;
                let assignment = m.assignment.clone();
                Step::Done(self.sync_result(assignment))
            }
            GroupState::CompletingRebalance => {
                let ticket = self.ticket();
                let Some(m) = self.member_mut(member_id) else {
                    return Step::Done(SyncResult::error(ErrorCode::UnknownMemberId));
                };
                m.synced = true;
                let old = m.awaiting_sync.replace(ticket);
                self.answer_sync(old, ErrorCode::RebalanceInProgress);
                if self.leader.as_deref() == Some(member_id) {
                    self.complete_sync(assignments, now);
                }
                Step::Wait(ticket)
            }
        }
    }

    fn sync_result(&self, assignment: Vec<u8>) -> SyncResult {
        SyncResult {
            error: ErrorCode::None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            assignment,
        }
    }

    /// The leader's assignment arrived: hand every waiting member its part; the group is Stable.
    fn complete_sync(&mut self, assignments: &[(&str, &[u8])], now: Instant) {
        let mut replies = Vec::new();
        for m in &mut self.members {
            m.assignment =
                assignments.iter().find(|(id, _)| *id == m.member_id).map(|(_, a)| a.to_vec()).unwrap_or_default();
            m.expires_at = now + m.session_timeout;
            if let Some(t) = m.awaiting_sync.take() {
                replies.push((t, m.assignment.clone()));
            }
        }
        self.state = GroupState::Stable;
        log::debug!("group {}: Stable, generation {}", self.id, self.generation);
        self.sync_deadline = None;
        self.dirty = true;
        for (t, assignment) in replies {
            let result = self.sync_result(assignment);
            self.sync_replies.insert(t, result);
        }
    }

    /// Heartbeat: "I am alive, and is my generation still current?"
    pub fn heartbeat(&mut self, member_id: &str, instance: Option<&str>, generation: i32, now: Instant) -> ErrorCode {
        if self.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        // Kafka's order: the member, then the generation, then what the group is doing.
        let error = self.validate_member(member_id, instance);
        if error != ErrorCode::None {
            return error;
        }
        if generation != self.generation {
            return ErrorCode::IllegalGeneration;
        }
        let state = self.state;
        let Some(m) = self.member_mut(member_id) else { return ErrorCode::UnknownMemberId };
        match state {
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => {
                m.expires_at = now + m.session_timeout;
                ErrorCode::RebalanceInProgress
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                m.expires_at = now + m.session_timeout;
                ErrorCode::None
            }
        }
    }

    /// LeaveGroup for one member (by member id, or by instance id for static members).
    pub fn leave(&mut self, member_id: &str, instance: Option<&str>, now: Instant, limits: &Limits) -> ErrorCode {
        if self.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        let target = match instance {
            Some(instance) => match self.by_instance(instance) {
                None => return ErrorCode::UnknownMemberId,
                Some(m) if !member_id.is_empty() && m.member_id != member_id => return ErrorCode::FencedInstanceId,
                Some(m) => m.member_id.clone(),
            },
            None => {
                if self.pending.remove(member_id).is_some() {
                    self.maybe_complete_join(now);
                    return ErrorCode::None;
                }
                if self.member(member_id).is_none() {
                    return ErrorCode::UnknownMemberId;
                }
                member_id.to_string()
            }
        };
        self.remove_member(&target, now, limits);
        ErrorCode::None
    }

    /// The checks of OffsetCommit before any offset is stored (Kafka's order).
    pub fn check_commit(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> ErrorCode {
        if self.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if generation < 0 && self.state == GroupState::Empty {
            // A consumer that assigns partitions itself and uses the group only for offsets.
            return ErrorCode::None;
        }
        // Kafka's order: the member, then the generation, and only a commit from the current
        // generation hears that the group is completing a rebalance (a stale one is simply stale).
        if generation >= 0 || !member_id.is_empty() || instance.is_some() {
            let error = self.validate_member(member_id, instance);
            if error != ErrorCode::None {
                return error;
            }
            if generation != self.generation {
                return ErrorCode::IllegalGeneration;
            }
        } else {
            // No member and no generation: only an empty group takes such a commit.
            return ErrorCode::UnknownMemberId;
        }
        if self.state == GroupState::CompletingRebalance {
            return ErrorCode::RebalanceInProgress;
        }
        if let Some(m) = self.member_mut(member_id) {
            m.expires_at = now + m.session_timeout;
        }
        ErrorCode::None
    }

    //> transactions
    /// TxnOffsetCommit's check, in Kafka's order: the member, then the generation.
    pub fn check_transactional_commit(&self, member_id: &str, instance: Option<&str>, generation: i32) -> ErrorCode {
        if self.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if !member_id.is_empty() || instance.is_some() {
            let error = self.validate_member(member_id, instance);
            if error != ErrorCode::None {
                return error;
            }
        }
        if generation >= 0 && generation != self.generation {
            return ErrorCode::IllegalGeneration;
        }
        ErrorCode::None
    }
    //< transactions

    pub fn commit(&mut self, topic: &str, partition: i32, committed: Committed) {
        self.offsets.insert((topic.to_string(), partition), committed);
    }

    // ---- time ----------------------------------------------------------------------------

    /// Does whatever is due at `now` — expire silent members and unclaimed member ids, end a
    /// rebalance whose timeout passed, remove members that never synced — and returns the next
    /// instant at which something will be due.
    pub fn tick(&mut self, now: Instant, limits: &Limits) -> Option<Instant> {
        let before = self.pending.len();
        self.pending.retain(|_, expires| *expires > now);
        if self.pending.len() != before {
            self.maybe_complete_join(now);
        }
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| !m.kept_alive() && m.expires_at <= now)
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            log::info!("group {}: member {id} expired (no heartbeat within its session timeout)", self.id);
            self.remove_member(&id, now, limits);
        }
        if self.state == GroupState::CompletingRebalance && self.sync_deadline.is_some_and(|t| t <= now) {
            let unsynced: Vec<String> =
                self.members.iter().filter(|m| !m.synced).map(|m| m.member_id.clone()).collect();
            for id in unsynced {
                log::info!("group {}: member {id} did not send SyncGroup in time", self.id);
                self.remove_member(&id, now, limits);
            }
        }
        self.maybe_complete_join(now);
        self.next_deadline()
    }

    /// The earliest instant at which [`Group::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let members = self.members.iter().filter(|m| !m.kept_alive()).map(|m| m.expires_at);
        let rebalance = match self.state {
            GroupState::PreparingRebalance => {
                let all_joined = self.members.iter().all(|m| m.awaiting_join.is_some()) && self.pending.is_empty();
                // Waiting only for the initial delay, or for stragglers until the timeout.
                if all_joined { self.not_before.or(self.rebalance_deadline) } else { self.rebalance_deadline }
            }
            GroupState::CompletingRebalance => self.sync_deadline,
            _ => None,
        };
        members.chain(self.pending.values().copied()).chain(rebalance).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        min_session_timeout: Duration::from_millis(1000),
        max_session_timeout: Duration::from_secs(1800),
        initial_rebalance_delay: Duration::from_millis(300),
    };

    fn params<'a>(member_id: &'a str, protocols: Vec<(&'a str, &'a [u8])>) -> JoinParams<'a> {
        JoinParams {
            member_id,
            group_instance_id: None,
            client_id: "c",
            client_host: "",
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(5),
            protocol_type: "consumer",
            protocols,
            require_known_member_id: false,
        }
    }

    /// A new group that two members joined at once, past its initial delay: generation 1.
    fn two_joined() -> (Group, JoinResult, JoinResult, Instant) {
        let t0 = Instant::now();
        let mut g = Group::new("g");
        let a = wait_ticket(g.join(&params("", vec![("range", b"")]), t0, &LIMITS));
        let b = wait_ticket(g.join(&params("", vec![("range", b"")]), t0, &LIMITS));
        let t1 = t0 + Duration::from_millis(300);
        g.tick(t1, &LIMITS);
        let (ra, rb) = (g.take_join_reply(a).unwrap(), g.take_join_reply(b).unwrap());
        (g, ra, rb, t1)
    }

    fn wait_ticket<T: std::fmt::Debug>(step: Step<T>) -> u64 {
        match step {
            Step::Wait(t) => t,
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    #[test]
    fn two_members_join_one_generation_and_sync() {
        let t0 = Instant::now();
        let mut g = Group::new("g");
        let a = wait_ticket(g.join(&params("", vec![("range", b"A")]), t0, &LIMITS));
        let b = wait_ticket(g.join(&params("", vec![("range", b"B")]), t0, &LIMITS));
        assert_eq!(g.state, GroupState::PreparingRebalance);
        // Everyone joined, but the initial delay is not over yet.
        assert_eq!(g.next_deadline(), Some(t0 + LIMITS.initial_rebalance_delay));
        g.tick(t0 + Duration::from_millis(300), &LIMITS);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let ra = g.take_join_reply(a).unwrap();
        let rb = g.take_join_reply(b).unwrap();
        assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
        assert_eq!(ra.leader, ra.member_id);
        assert_eq!(ra.members.len(), 2);
        assert!(rb.members.is_empty());
        let now = t0 + Duration::from_millis(400);
        let sb = wait_ticket(g.sync(&rb.member_id, None, 1, (None, None), &[], now));
        let assignments = [(ra.member_id.as_str(), &b"x"[..]), (rb.member_id.as_str(), &b"y"[..])];
        let sa = wait_ticket(g.sync(&ra.member_id, None, 1, (None, None), &assignments, now));
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.take_sync_reply(sa).unwrap().assignment, b"x");
        assert_eq!(g.take_sync_reply(sb).unwrap().assignment, b"y");
    }

    #[test]
    fn each_newcomer_extends_the_initial_delay() {
        let t0 = Instant::now();
        let mut g = Group::new("g");
        let a = wait_ticket(g.join(&params("", vec![("range", b"")]), t0, &LIMITS));
        let t1 = t0 + Duration::from_millis(200);
        g.tick(t1, &LIMITS);
        let b = wait_ticket(g.join(&params("", vec![("range", b"")]), t1, &LIMITS));
        g.tick(t0 + Duration::from_millis(300), &LIMITS);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        g.tick(t1 + Duration::from_millis(300), &LIMITS);
        assert_eq!(g.take_join_reply(a).unwrap().members.len() + g.take_join_reply(b).unwrap().members.len(), 2);
    }

    #[test]
    fn silent_member_expires_and_group_rebalances() {
        let (mut g, ra, rb, t1) = two_joined();
        let s = wait_ticket(g.sync(&ra.member_id, None, 1, (None, None), &[], t1));
        g.take_sync_reply(s).unwrap();
        // a heartbeats, b does not.
        let t2 = t1 + Duration::from_secs(9);
        assert_eq!(g.heartbeat(&ra.member_id, None, 1, t2), ErrorCode::None);
        assert_eq!(g.next_deadline(), Some(t1 + Duration::from_secs(10)));
        g.tick(t1 + Duration::from_secs(10), &LIMITS);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(g.heartbeat(&rb.member_id, None, 1, t2), ErrorCode::UnknownMemberId);
        let t3 = t1 + Duration::from_secs(11);
        assert_eq!(g.heartbeat(&ra.member_id, None, 1, t3), ErrorCode::RebalanceInProgress);
        let a2 = wait_ticket(g.join(&params(&ra.member_id, vec![("range", b"")]), t3, &LIMITS));
        let r = g.take_join_reply(a2).unwrap();
        assert_eq!((r.generation_id, r.members.len()), (2, 1));
    }

    #[test]
    fn member_id_required_then_rejoin() {
        let t0 = Instant::now();
        let mut g = Group::new("g");
        let mut p = params("", vec![("range", b"")]);
        p.require_known_member_id = true;
        let Step::Done(r) = g.join(&p, t0, &LIMITS) else { panic!() };
        assert_eq!(r.error, ErrorCode::MemberIdRequired);
        assert!(r.member_id.starts_with("c-"));
        let p2 = JoinParams { member_id: &r.member_id, ..p.clone() };
        let t = wait_ticket(g.join(&p2, t0, &LIMITS));
        g.tick(t0 + Duration::from_secs(1), &LIMITS);
        assert_eq!(g.take_join_reply(t).unwrap().leader, r.member_id);
        // An id never handed out is refused.
        let p3 = JoinParams { member_id: "nobody", ..p };
        assert_eq!(g.join(&p3, t0, &LIMITS), Step::Done(JoinResult::error(ErrorCode::UnknownMemberId, "nobody")));
    }

    #[test]
    fn protocols_must_overlap() {
        let t0 = Instant::now();
        let mut g = Group::new("g");
        wait_ticket(g.join(&params("", vec![("range", b"")]), t0, &LIMITS));
        let Step::Done(r) = g.join(&params("", vec![("roundrobin", b"")]), t0, &LIMITS) else { panic!() };
        assert_eq!(r.error, ErrorCode::InconsistentGroupProtocol);
        let mut p = params("", vec![("range", b"")]);
        p.protocol_type = "connect";
        let Step::Done(r) = g.join(&p, t0, &LIMITS) else { panic!() };
        assert_eq!(r.error, ErrorCode::InconsistentGroupProtocol);
    }

    #[test]
    fn protocol_vote() {
        let t0 = Instant::now();
        let mut g = Group::new("g");
        g.join(&params("", vec![("range", b""), ("rr", b"")]), t0, &LIMITS);
        g.join(&params("", vec![("rr", b""), ("range", b"")]), t0, &LIMITS);
        g.join(&params("", vec![("rr", b""), ("sticky", b"")]), t0, &LIMITS);
        assert_eq!(g.select_protocol().as_deref(), Some("rr"));
    }

    #[test]
    fn static_member_keeps_its_place() {
        let t0 = Instant::now();
        let mut g = Group::new("g");
        let mut p = params("", vec![("range", b"")]);
        p.group_instance_id = Some("i1");
        let t = wait_ticket(g.join(&p, t0, &LIMITS));
        g.tick(t0 + Duration::from_secs(1), &LIMITS);
        let r = g.take_join_reply(t).unwrap();
        assert!(r.member_id.starts_with("i1-"));
        let s = wait_ticket(g.sync(&r.member_id, Some("i1"), 1, (None, None), &[(&r.member_id, b"A")], t0));
        g.take_sync_reply(s).unwrap();
        // The client restarts: same instance id, empty member id. No rebalance.
        let Step::Done(r2) = g.join(&p, t0, &LIMITS) else { panic!() };
        assert_eq!((r2.error, r2.generation_id), (ErrorCode::None, 1));
        assert_ne!(r2.member_id, r.member_id);
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.heartbeat(&r.member_id, Some("i1"), 1, t0), ErrorCode::FencedInstanceId);
        let Step::Done(s2) = g.sync(&r2.member_id, Some("i1"), 1, (None, None), &[], t0) else { panic!() };
        assert_eq!(s2.assignment, b"A");
    }

    #[test]
    fn a_leader_that_never_syncs_is_removed_and_waiting_followers_are_told() {
        let (mut g, ra, rb, t1) = two_joined();
        let (leader, follower) = if ra.leader == ra.member_id { (ra, rb) } else { (rb, ra) };
        let waiting = wait_ticket(g.sync(&follower.member_id, None, 1, (None, None), &[], t1));
        // The sync deadline is the rebalance timeout (5 s); the leader never calls SyncGroup.
        assert_eq!(g.next_deadline(), Some(t1 + Duration::from_secs(5)));
        g.tick(t1 + Duration::from_secs(5), &LIMITS);
        assert_eq!(g.take_sync_reply(waiting).unwrap().error, ErrorCode::RebalanceInProgress);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(g.heartbeat(&leader.member_id, None, 1, t1), ErrorCode::UnknownMemberId);
    }

    #[test]
    fn a_join_during_completing_rebalance_restarts_the_round() {
        let t0 = Instant::now();
        let mut g = Group::new("g");
        let a = wait_ticket(g.join(&params("", vec![("range", b"")]), t0, &LIMITS));
        g.tick(t0 + Duration::from_millis(300), &LIMITS);
        let ra = g.take_join_reply(a).unwrap();
        assert_eq!(g.state, GroupState::CompletingRebalance);
        wait_ticket(g.join(&params("", vec![("range", b"")]), t0, &LIMITS));
        assert_eq!(g.state, GroupState::PreparingRebalance);
        // a's SyncGroup for generation 1 is now too late.
        let Step::Done(r) = g.sync(&ra.member_id, None, 1, (None, None), &[], t0) else { panic!() };
        assert_eq!(r.error, ErrorCode::RebalanceInProgress);
    }

    #[test]
    fn during_a_rebalance_a_stale_commit_is_illegal_and_a_current_one_must_wait() {
        // Generation 1, stable; then a third member makes everyone rejoin: generation 2 is
        // completing (assignments not yet synced) when a member of generation 1 commits.
        let (mut g, ra, rb, t1) = two_joined();
        let assignments = [(ra.member_id.as_str(), &b"x"[..]), (rb.member_id.as_str(), &b"y"[..])];
        wait_ticket(g.sync(&rb.member_id, None, 1, (None, None), &[], t1));
        wait_ticket(g.sync(&ra.member_id, None, 1, (None, None), &assignments, t1));
        assert_eq!(g.state, GroupState::Stable);
        wait_ticket(g.join(&params("", vec![("range", b"")]), t1, &LIMITS));
        wait_ticket(g.join(&params(&ra.member_id, vec![("range", b"")]), t1, &LIMITS));
        let _ = g.join(&params(&rb.member_id, vec![("range", b"")]), t1, &LIMITS);
        assert_eq!((g.state, g.generation), (GroupState::CompletingRebalance, 2));
        // Kafka's order: member, generation, then the group's state.
        assert_eq!(g.check_commit(&ra.member_id, None, 1, t1), ErrorCode::IllegalGeneration);
        assert_eq!(g.check_commit(&ra.member_id, None, 2, t1), ErrorCode::RebalanceInProgress);
        assert_eq!(g.check_commit("ghost", None, 1, t1), ErrorCode::UnknownMemberId);
        assert_eq!(g.check_commit("", None, -1, t1), ErrorCode::UnknownMemberId, "no member: only for an empty group");
        assert_eq!(g.heartbeat(&rb.member_id, None, 1, t1), ErrorCode::IllegalGeneration);
        assert_eq!(g.heartbeat(&rb.member_id, None, 2, t1), ErrorCode::None);
    }

    #[test]
    fn leaving_last_member_empties_the_group() {
        let t0 = Instant::now();
        let mut g = Group::new("g");
        let t = wait_ticket(g.join(&params("", vec![("range", b"")]), t0, &LIMITS));
        g.tick(t0 + Duration::from_secs(1), &LIMITS);
        let r = g.take_join_reply(t).unwrap();
        assert_eq!(g.leave(&r.member_id, None, t0, &LIMITS), ErrorCode::None);
        assert_eq!((g.state, g.generation), (GroupState::Empty, 2));
        assert_eq!(g.leave(&r.member_id, None, t0, &LIMITS), ErrorCode::UnknownMemberId);
        assert_eq!(g.check_commit("", None, -1, t0), ErrorCode::None);
    }
}
