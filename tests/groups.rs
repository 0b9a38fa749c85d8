//! Consumer groups (issue 5): every group API at every advertised version, encoded and decoded
//! by `kafka-protocol` (an independent implementation of the wire format), and the behaviour of
//! the coordinator — rebalances with several members on their own threads, expiry, leaving,
//! offsets, and offsets surviving a restart.

mod common;
mod oracle;

use bytes::Bytes;
use common::{Broker, TempDir, connect, start_default};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use mini_kafka::api::SUPPORTED_APIS;
use oracle::{call, create_topic, s, topic_name};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

const FIND_COORDINATOR: i16 = 10;
const JOIN_GROUP: i16 = 11;
const HEARTBEAT: i16 = 12;
const LEAVE_GROUP: i16 = 13;
const SYNC_GROUP: i16 = 14;
const DESCRIBE_GROUPS: i16 = 15;
const LIST_GROUPS: i16 = 16;
const OFFSET_COMMIT: i16 = 8;
const OFFSET_FETCH: i16 = 9;
const DELETE_GROUPS: i16 = 42;

fn versions(api_key: i16) -> std::ops::RangeInclusive<i16> {
    let spec = SUPPORTED_APIS.iter().find(|s| s.key == api_key).unwrap();
    spec.min..=spec.max
}

/// A broker without the initial rebalance delay, so a lone member's join completes at once.
fn start_fast() -> Broker {
    Broker::start("group.initial.rebalance.delay.ms=0")
}

fn gid(name: &str) -> GroupId {
    GroupId(s(name))
}

/// JoinGroup with one "range" protocol whose metadata is `metadata`.
fn join_request(group: &str, member_id: &str, session_ms: i32, rebalance_ms: i32, metadata: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(session_ms)
        .with_rebalance_timeout_ms(rebalance_ms)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default().with_name(s("range")).with_metadata(Bytes::from(metadata.to_string())),
        ])
}

/// Joins as a new member at `version`, doing the MEMBER_ID_REQUIRED round trip of v4+.
fn join_new(stream: &mut TcpStream, version: i16, request: JoinGroupRequest) -> JoinGroupResponse {
    let first: JoinGroupResponse = call(stream, JOIN_GROUP, version, &request);
    if version >= 4 && request.group_instance_id.is_none() {
        assert_eq!(first.error_code, 79, "v{version}: MEMBER_ID_REQUIRED");
        assert!(first.member_id.starts_with("oracle-"), "id is <client_id>-<uuid>: {}", &*first.member_id);
        let again = request.with_member_id(first.member_id.clone());
        let second: JoinGroupResponse = call(stream, JOIN_GROUP, version, &again);
        assert_eq!(second.member_id, first.member_id);
        return second;
    }
    first
}

fn sync(
    stream: &mut TcpStream,
    version: i16,
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &str)],
) -> SyncGroupResponse {
    let request = SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::from(a.to_string()))
                })
                .collect(),
        );
    call(stream, SYNC_GROUP, version, &request)
}

fn heartbeat(stream: &mut TcpStream, version: i16, group: &str, member: &str, generation: i32) -> i16 {
    let request =
        HeartbeatRequest::default().with_group_id(gid(group)).with_generation_id(generation).with_member_id(s(member));
    let response: HeartbeatResponse = call(stream, HEARTBEAT, version, &request);
    response.error_code
}

/// A group with one member that has joined and synced: `(member_id, generation)`.
fn stable_group(stream: &mut TcpStream, group: &str) -> (String, i32) {
    let joined = join_new(stream, 9, join_request(group, "", 10_000, 5_000, "meta"));
    assert_eq!(joined.error_code, 0);
    let member = joined.member_id.to_string();
    let synced = sync(stream, 5, group, &member, joined.generation_id, &[(&member, "assigned")]);
    assert_eq!(synced.error_code, 0);
    (member, joined.generation_id)
}

fn describe(stream: &mut TcpStream, group: &str) -> describe_groups_response::DescribedGroup {
    let response: DescribeGroupsResponse =
        call(stream, DESCRIBE_GROUPS, 5, &DescribeGroupsRequest::default().with_groups(vec![gid(group)]));
    response.groups.into_iter().next().unwrap()
}

fn commit(
    stream: &mut TcpStream,
    version: i16,
    group: &str,
    member: &str,
    generation: i32,
    offsets: &[(&str, i32, i64, &str)],
) -> Vec<i16> {
    let topics = offsets
        .iter()
        .map(|(t, p, o, m)| {
            OffsetCommitRequestTopic::default().with_name(topic_name(t)).with_partitions(vec![
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*o)
                    .with_committed_metadata(Some(s(m))),
            ])
        })
        .collect();
    let request = OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(topics);
    let response: OffsetCommitResponse = call(stream, OFFSET_COMMIT, version, &request);
    response.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect()
}

/// OffsetFetch v`version` (1-7) of `(topic, partitions)`, or everything with `None`:
/// `(topic, partition, offset, metadata)` sorted.
fn fetch_offsets(
    stream: &mut TcpStream,
    version: i16,
    group: &str,
    topics: Option<&[(&str, &[i32])]>,
) -> (i16, Vec<(String, i32, i64, String)>) {
    let topics = topics.map(|ts| {
        ts.iter()
            .map(|(t, ps)| {
                OffsetFetchRequestTopic::default().with_name(topic_name(t)).with_partition_indexes(ps.to_vec())
            })
            .collect()
    });
    let request = OffsetFetchRequest::default().with_group_id(gid(group)).with_topics(topics);
    let response: OffsetFetchResponse = call(stream, OFFSET_FETCH, version, &request);
    let mut out: Vec<_> = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                assert_eq!(p.error_code, 0);
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.committed_offset,
                    p.metadata.as_deref().unwrap_or("").to_string(),
                )
            })
        })
        .collect();
    out.sort();
    (response.error_code, out)
}

// ---- every API at every version ---------------------------------------------------------

#[test]
fn find_coordinator_at_every_version_names_this_broker() {
    let broker = start_fast();
    let mut stream = connect(&broker);
    for version in versions(FIND_COORDINATOR) {
        let mut request = FindCoordinatorRequest::default();
        if version <= 3 {
            request = request.with_key(s("g"));
        } else {
            request = request.with_coordinator_keys(vec![s("g1"), s("g2")]);
        }
        let response: FindCoordinatorResponse = call(&mut stream, FIND_COORDINATOR, version, &request);
        if version <= 3 {
            assert_eq!(response.error_code, 0, "v{version}");
            assert_eq!(
                (response.node_id.0, &*response.host, response.port),
                (1, "127.0.0.1", i32::from(broker.addr.port()))
            );
        } else {
            let keys: Vec<&str> = response.coordinators.iter().map(|c| &*c.key).collect();
            assert_eq!(keys, ["g1", "g2"]);
            for c in &response.coordinators {
                assert_eq!((c.error_code, c.node_id.0, c.port), (0, 1, i32::from(broker.addr.port())));
            }
        }
        if version >= 1 {
            // Transactional ids (key type 1) are coordinated here too.
            let mut request = FindCoordinatorRequest::default().with_key_type(1);
            if version <= 3 {
                request = request.with_key(s("tx"));
            } else {
                request = request.with_coordinator_keys(vec![s("tx")]);
            }
            let response: FindCoordinatorResponse = call(&mut stream, FIND_COORDINATOR, version, &request);
            let (error, node, port) = if version <= 3 {
                (response.error_code, response.node_id.0, response.port)
            } else {
                let c = &response.coordinators[0];
                (c.error_code, c.node_id.0, c.port)
            };
            assert_eq!((error, node, port), (0, 1, i32::from(broker.addr.port())), "v{version}");
        }
    }
}

#[test]
fn join_and_sync_at_every_version() {
    let broker = start_fast();
    let mut stream = connect(&broker);
    for version in versions(JOIN_GROUP) {
        let group = format!("join-v{version}");
        let joined = join_new(&mut stream, version, join_request(&group, "", 10_000, 5_000, "sub"));
        assert_eq!(joined.error_code, 0, "v{version}");
        assert_eq!(joined.generation_id, 1);
        assert_eq!(joined.leader, joined.member_id);
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
        if version >= 7 {
            assert_eq!(joined.protocol_type.as_deref(), Some("consumer"));
        }
        assert!(!joined.skip_assignment);
        assert_eq!(joined.members.len(), 1);
        assert_eq!(&joined.members[0].metadata[..], b"sub");
        // Every SyncGroup version against the fresh generation: the first call (leader)
        // completes it, later ones read the assignment of the Stable group.
        for sync_version in versions(SYNC_GROUP) {
            let member = joined.member_id.to_string();
            let response = sync(&mut stream, sync_version, &group, &member, joined.generation_id, &[(&member, "mine")]);
            assert_eq!(response.error_code, 0, "join v{version} sync v{sync_version}");
            assert_eq!(&response.assignment[..], b"mine");
            if sync_version >= 5 {
                assert_eq!(response.protocol_type.as_deref(), Some("consumer"));
                assert_eq!(response.protocol_name.as_deref(), Some("range"));
            }
        }
    }
}

#[test]
fn heartbeat_and_leave_at_every_version() {
    let broker = start_fast();
    let mut stream = connect(&broker);
    for version in versions(HEARTBEAT) {
        let group = format!("hb-v{version}");
        let (member, generation) = stable_group(&mut stream, &group);
        assert_eq!(heartbeat(&mut stream, version, &group, &member, generation), 0, "v{version}");
        assert_eq!(heartbeat(&mut stream, version, &group, &member, generation + 1), 22, "v{version}");
        assert_eq!(heartbeat(&mut stream, version, &group, "nobody", generation), 25, "v{version}");
        assert_eq!(heartbeat(&mut stream, version, "", &member, generation), 24, "v{version}");
    }
    for version in versions(LEAVE_GROUP) {
        let group = format!("leave-v{version}");
        let (member, _) = stable_group(&mut stream, &group);
        let mut request = LeaveGroupRequest::default().with_group_id(gid(&group));
        if version <= 2 {
            request = request.with_member_id(s(&member));
        } else {
            request = request.with_members(vec![
                MemberIdentity::default().with_member_id(s(&member)),
                MemberIdentity::default().with_member_id(s("nobody")),
            ]);
        }
        let response: LeaveGroupResponse = call(&mut stream, LEAVE_GROUP, version, &request);
        assert_eq!(response.error_code, 0, "v{version}");
        if version >= 3 {
            let errors: Vec<i16> = response.members.iter().map(|m| m.error_code).collect();
            assert_eq!(errors, [0, 25]);
        }
        let d = describe(&mut stream, &group);
        assert_eq!((&*d.group_state, d.members.len()), ("Empty", 0), "v{version}");
    }
}

#[test]
fn offset_commit_and_fetch_at_every_version() {
    let broker = start_fast();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "events", 3);
    for version in versions(OFFSET_COMMIT) {
        let group = format!("oc-v{version}");
        let (member, generation) = stable_group(&mut stream, &group);
        let errors = commit(
            &mut stream,
            version,
            &group,
            &member,
            generation,
            &[("events", 0, 10 + i64::from(version), "m"), ("events", 9, 1, "")],
        );
        assert_eq!(errors, [0, 3], "v{version}: partition 9 does not exist");
        assert_eq!(
            commit(&mut stream, version, &group, &member, generation + 1, &[("events", 1, 5, "")]),
            [22],
            "v{version}"
        );
        assert_eq!(
            commit(&mut stream, version, &group, "nobody", generation, &[("events", 1, 5, "")]),
            [25],
            "v{version}"
        );
        let (_, fetched) = fetch_offsets(&mut stream, 5, &group, Some(&[("events", &[0, 1])]));
        assert_eq!(
            fetched,
            [("events".into(), 0, 10 + i64::from(version), "m".into()), ("events".into(), 1, -1, "".into())]
        );
    }
    // One group, committed by a "simple" consumer (generation -1, no member id).
    assert_eq!(commit(&mut stream, 8, "of", "", -1, &[("events", 0, 7, "zero"), ("events", 2, 9, "two")]), [0, 0]);
    for version in versions(OFFSET_FETCH).filter(|v| *v <= 7) {
        let (error, fetched) = fetch_offsets(&mut stream, version, "of", Some(&[("events", &[0, 1, 2])]));
        assert_eq!(error, 0);
        assert_eq!(
            fetched,
            [
                ("events".into(), 0, 7, "zero".into()),
                ("events".into(), 1, -1, "".into()),
                ("events".into(), 2, 9, "two".into())
            ],
            "v{version}"
        );
        if version >= 2 {
            // Null topics: everything the group committed.
            let (_, all) = fetch_offsets(&mut stream, version, "of", None);
            assert_eq!(
                all,
                [("events".into(), 0, 7, "zero".into()), ("events".into(), 2, 9, "two".into())],
                "v{version}"
            );
        }
    }
    // v8: several groups in one request, one of them unknown.
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default().with_group_id(gid("of")).with_topics(None),
        OffsetFetchRequestGroup::default().with_group_id(gid("unknown")).with_topics(Some(vec![
            OffsetFetchRequestTopics::default().with_name(topic_name("events")).with_partition_indexes(vec![0]),
        ])),
    ]);
    let response: OffsetFetchResponse = call(&mut stream, OFFSET_FETCH, 8, &request);
    assert_eq!(response.groups.len(), 2);
    assert_eq!(response.groups[0].topics[0].partitions.len(), 2);
    assert_eq!(response.groups[0].topics[0].partitions[1].committed_offset, 9);
    assert_eq!(response.groups[1].topics[0].partitions[0].committed_offset, -1);
    assert_eq!(response.groups[1].error_code, 0);
}

#[test]
fn describe_list_and_delete_at_every_version() {
    let broker = start_fast();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "t", 1);
    let (member, _) = stable_group(&mut stream, "busy");
    assert_eq!(commit(&mut stream, 8, "idle", "", -1, &[("t", 0, 1, "")]), [0]);
    for version in versions(DESCRIBE_GROUPS) {
        let request = DescribeGroupsRequest::default().with_groups(vec![gid("busy"), gid("idle"), gid("nope")]);
        let request = if version >= 3 { request.with_include_authorized_operations(true) } else { request };
        let response: DescribeGroupsResponse = call(&mut stream, DESCRIBE_GROUPS, version, &request);
        let busy = &response.groups[0];
        assert_eq!(
            (busy.error_code, &*busy.group_state, &*busy.protocol_type, &*busy.protocol_data),
            (0, "Stable", "consumer", "range")
        );
        assert_eq!(busy.members.len(), 1);
        let m = &busy.members[0];
        assert_eq!((&*m.member_id, &*m.client_id), (member.as_str(), "oracle"));
        assert_eq!(&*m.client_host, "/127.0.0.1", "the member's address, as Kafka writes it");
        assert_eq!((&m.member_metadata[..], &m.member_assignment[..]), (&b"meta"[..], &b"assigned"[..]));
        if version >= 3 {
            assert_eq!(busy.authorized_operations, (1 << 3) | (1 << 6) | (1 << 8));
        }
        assert_eq!(&*response.groups[1].group_state, "Empty");
        assert_eq!((response.groups[2].error_code, &*response.groups[2].group_state), (0, "Dead"));
    }
    for version in versions(LIST_GROUPS) {
        let response: ListGroupsResponse = call(&mut stream, LIST_GROUPS, version, &ListGroupsRequest::default());
        assert_eq!(response.error_code, 0);
        let ids: Vec<&str> = response.groups.iter().map(|g| g.group_id.as_str()).collect();
        assert_eq!(ids, ["busy", "idle"], "v{version}");
        assert_eq!(&*response.groups[0].protocol_type, "consumer");
        if version >= 4 {
            assert_eq!(&*response.groups[0].group_state, "Stable");
            let filtered: ListGroupsResponse = call(
                &mut stream,
                LIST_GROUPS,
                version,
                &ListGroupsRequest::default().with_states_filter(vec![s("empty")]),
            );
            let ids: Vec<&str> = filtered.groups.iter().map(|g| g.group_id.as_str()).collect();
            assert_eq!(ids, ["idle"]);
        }
    }
    for version in versions(DELETE_GROUPS) {
        let idle = format!("idle-{version}");
        assert_eq!(commit(&mut stream, 8, &idle, "", -1, &[("t", 0, 1, "")]), [0]);
        let request = DeleteGroupsRequest::default().with_groups_names(vec![gid(&idle), gid("busy"), gid("nope")]);
        let response: DeleteGroupsResponse = call(&mut stream, DELETE_GROUPS, version, &request);
        let results: Vec<(&str, i16)> = response.results.iter().map(|r| (r.group_id.as_str(), r.error_code)).collect();
        assert_eq!(results, [(idle.as_str(), 0), ("busy", 68), ("nope", 69)], "v{version}");
        // Its offsets are gone with it.
        let (_, fetched) = fetch_offsets(&mut stream, 7, &idle, None);
        assert!(fetched.is_empty());
    }
}

// ---- behaviour --------------------------------------------------------------------------

/// Joins on its own connection (a thread per member, like real consumers) and returns the
/// JoinGroup answer.
fn join_on_thread(
    broker: &Broker,
    group: &'static str,
    member_id: String,
    metadata: &'static str,
) -> thread::JoinHandle<(TcpStream, JoinGroupResponse)> {
    let mut stream = connect(broker);
    thread::spawn(move || {
        let request = join_request(group, &member_id, 10_000, 3_000, metadata);
        let response = if member_id.is_empty() {
            join_new(&mut stream, 9, request)
        } else {
            call(&mut stream, JOIN_GROUP, 9, &request)
        };
        (stream, response)
    })
}

#[test]
fn two_members_share_a_generation_and_get_their_assignments() {
    // The default initial delay (300 ms) lets both land in the first generation.
    let broker = start_default();
    let a = join_on_thread(&broker, "pair", String::new(), "meta-a");
    let b = join_on_thread(&broker, "pair", String::new(), "meta-b");
    let (sa, ja) = a.join().unwrap();
    let (sb, jb) = b.join().unwrap();
    assert_eq!((ja.error_code, jb.error_code), (0, 0));
    assert_eq!((ja.generation_id, jb.generation_id), (1, 1));
    assert_eq!(ja.leader, jb.leader);
    let (mut leader, leader_join, mut follower, follower_join) =
        if ja.leader == ja.member_id { (sa, ja, sb, jb) } else { (sb, jb, sa, ja) };
    let mut metadata: Vec<&[u8]> = leader_join.members.iter().map(|m| &m.metadata[..]).collect();
    metadata.sort();
    assert_eq!(metadata, [&b"meta-a"[..], &b"meta-b"[..]]);
    assert!(follower_join.members.is_empty());

    // The follower's SyncGroup blocks until the leader's arrives.
    let follower_id = follower_join.member_id.to_string();
    let waiting = thread::spawn(move || {
        let r = sync(&mut follower, 5, "pair", &follower_id, 1, &[]);
        (follower, r)
    });
    thread::sleep(Duration::from_millis(100));
    let leader_id = leader_join.member_id.to_string();
    let follower_id = follower_join.member_id.to_string();
    let r = sync(&mut leader, 5, "pair", &leader_id, 1, &[(&leader_id, "p0"), (&follower_id, "p1")]);
    assert_eq!((r.error_code, &r.assignment[..]), (0, &b"p0"[..]));
    let (mut follower, r) = waiting.join().unwrap();
    assert_eq!((r.error_code, &r.assignment[..]), (0, &b"p1"[..]));
    assert_eq!(heartbeat(&mut follower, 4, "pair", &follower_id, 1), 0);
    assert_eq!(&*describe(&mut leader, "pair").group_state, "Stable");
}

#[test]
fn a_silent_member_is_expired_and_the_other_rejoins() {
    let broker = start_fast();
    let mut a = connect(&broker);
    let mut b = connect(&broker);
    let ja = join_new(&mut a, 9, join_request("expiry", "", 10_000, 3_000, "a"));
    let a_id = ja.member_id.to_string();
    // b joins with a 1 s session: a must rejoin for the second generation.
    let b_join = thread::spawn(move || {
        let r = join_new(&mut b, 9, join_request("expiry", "", 1_000, 3_000, "b"));
        (b, r)
    });
    thread::sleep(Duration::from_millis(100));
    assert_eq!(heartbeat(&mut a, 4, "expiry", &a_id, 1), 27);
    let ja = call::<_, JoinGroupResponse>(&mut a, JOIN_GROUP, 9, &join_request("expiry", &a_id, 10_000, 3_000, "a"));
    let (_b, jb) = b_join.join().unwrap();
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    let b_id = jb.member_id.to_string();
    let leader = ja.leader.to_string();
    let assignments = [(a_id.as_str(), "x"), (b_id.as_str(), "y")];
    let r = if leader == a_id { sync(&mut a, 5, "expiry", &a_id, 2, &assignments) } else { panic!("a stays leader") };
    assert_eq!(r.error_code, 0);

    // Now b goes silent. Nobody sends anything: the coordinator's timer must act on its own.
    let started = Instant::now();
    thread::sleep(Duration::from_millis(1_300));
    let d = describe(&mut a, "expiry");
    assert_eq!((&*d.group_state, d.members.len()), ("PreparingRebalance", 1), "b expired without any request");
    assert_eq!(heartbeat(&mut a, 4, "expiry", &a_id, 2), 27);
    let ja = call::<_, JoinGroupResponse>(&mut a, JOIN_GROUP, 9, &join_request("expiry", &a_id, 10_000, 3_000, "a"));
    assert_eq!((ja.error_code, ja.generation_id, ja.members.len()), (0, 3, 1));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn leaving_starts_a_rebalance_and_a_stale_member_is_told() {
    let broker = start_fast();
    let mut a = connect(&broker);
    let (a_id, generation) = stable_group(&mut a, "leaving");
    let b = join_on_thread(&broker, "leaving", String::new(), "b");
    thread::sleep(Duration::from_millis(100));
    assert_eq!(heartbeat(&mut a, 4, "leaving", &a_id, generation), 27);
    let ja: JoinGroupResponse = call(&mut a, JOIN_GROUP, 9, &join_request("leaving", &a_id, 10_000, 3_000, "a"));
    let (mut b, jb) = b.join().unwrap();
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    let b_id = jb.member_id.to_string();
    assert_eq!(sync(&mut a, 5, "leaving", &a_id, 2, &[]).error_code, 0);
    assert_eq!(sync(&mut b, 5, "leaving", &b_id, 2, &[]).error_code, 0);
    // A member with a stale generation may not commit.
    assert_eq!(heartbeat(&mut b, 4, "leaving", &b_id, 1), 22);

    let request = LeaveGroupRequest::default()
        .with_group_id(gid("leaving"))
        .with_members(vec![MemberIdentity::default().with_member_id(s(&b_id))]);
    let response: LeaveGroupResponse = call(&mut b, LEAVE_GROUP, 5, &request);
    assert_eq!((response.error_code, response.members[0].error_code), (0, 0));
    assert_eq!(heartbeat(&mut a, 4, "leaving", &a_id, 2), 27);
    let ja: JoinGroupResponse = call(&mut a, JOIN_GROUP, 9, &join_request("leaving", &a_id, 10_000, 3_000, "a"));
    assert_eq!((ja.generation_id, ja.members.len()), (3, 1));
    assert_eq!(heartbeat(&mut b, 4, "leaving", &b_id, 2), 25);
}

#[test]
fn a_blocked_join_stalls_neither_other_groups_nor_heartbeats() {
    let broker = start_fast();
    let mut a = connect(&broker);
    let (a_id, generation) = stable_group(&mut a, "slow");
    // b's join waits for a to rejoin (up to a's 5 s rebalance timeout).
    let b = join_on_thread(&broker, "slow", String::new(), "b");
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let mut other = connect(&broker);
    stable_group(&mut other, "fast");
    assert_eq!(heartbeat(&mut a, 4, "slow", &a_id, generation), 27);
    assert!(started.elapsed() < Duration::from_millis(500), "took {:?}", started.elapsed());
    let ja: JoinGroupResponse = call(&mut a, JOIN_GROUP, 9, &join_request("slow", &a_id, 10_000, 5_000, "meta"));
    let (_b, jb) = b.join().unwrap();
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
}

#[test]
fn join_errors() {
    let broker = start_fast();
    let mut stream = connect(&broker);
    let r: JoinGroupResponse = call(&mut stream, JOIN_GROUP, 5, &join_request("", "", 10_000, 5_000, ""));
    assert_eq!(r.error_code, 24);
    let r: JoinGroupResponse = call(&mut stream, JOIN_GROUP, 5, &join_request("g", "", 999, 5_000, ""));
    assert_eq!(r.error_code, 26);
    let r: JoinGroupResponse = call(&mut stream, JOIN_GROUP, 5, &join_request("g", "", 1_800_001, 5_000, ""));
    assert_eq!(r.error_code, 26);
    let r: JoinGroupResponse = call(&mut stream, JOIN_GROUP, 5, &join_request("nope", "ghost", 10_000, 5_000, ""));
    assert_eq!(r.error_code, 25);
    let (_, _) = stable_group(&mut stream, "g");
    let other = join_request("g", "", 10_000, 5_000, "").with_protocols(vec![
        JoinGroupRequestProtocol::default().with_name(s("roundrobin")).with_metadata(Bytes::new()),
    ]);
    let r: JoinGroupResponse = call(&mut stream, JOIN_GROUP, 3, &other);
    assert_eq!(r.error_code, 23);
    let r = sync(&mut stream, 3, "g", "ghost", 1, &[]);
    assert_eq!(r.error_code, 25);
    // A refused first join leaves no group behind.
    let r: JoinGroupResponse =
        call(&mut stream, JOIN_GROUP, 3, &join_request("never", "", 10_000, 5_000, "").with_protocol_type(s("")));
    assert_eq!(r.error_code, 23);
    let response: ListGroupsResponse = call(&mut stream, LIST_GROUPS, 4, &ListGroupsRequest::default());
    let ids: Vec<&str> = response.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(ids, ["g"]);
}

#[test]
fn a_static_member_keeps_its_assignment_across_a_restart() {
    let broker = start_fast();
    let mut stream = connect(&broker);
    let request = join_request("static", "", 10_000, 5_000, "m").with_group_instance_id(Some(s("host-1")));
    let first = join_new(&mut stream, 7, request.clone());
    assert_eq!(first.error_code, 0, "static members need no MEMBER_ID_REQUIRED round");
    let id = first.member_id.to_string();
    assert!(id.starts_with("host-1-"));
    assert_eq!(sync(&mut stream, 3, "static", &id, 1, &[(&id, "mine")]).error_code, 0);
    // The client restarts: same instance id, no member id. Same generation, no rebalance.
    let second: JoinGroupResponse = call(&mut stream, JOIN_GROUP, 7, &request);
    assert_eq!((second.error_code, second.generation_id), (0, 1));
    let new_id = second.member_id.to_string();
    assert_ne!(new_id, id);
    let again = sync(&mut stream, 3, "static", &new_id, 1, &[]);
    assert_eq!((again.error_code, &again.assignment[..]), (0, &b"mine"[..]));
    // The old incarnation is fenced.
    let hb = HeartbeatRequest::default()
        .with_group_id(gid("static"))
        .with_generation_id(1)
        .with_member_id(s(&id))
        .with_group_instance_id(Some(s("host-1")));
    let r: HeartbeatResponse = call(&mut stream, HEARTBEAT, 3, &hb);
    assert_eq!(r.error_code, 82);
}

#[test]
fn offsets_and_groups_survive_a_restart() {
    let dir = TempDir::new("groups");
    let properties = format!("log.dirs={}\ngroup.initial.rebalance.delay.ms=0", dir.path().display());
    {
        let broker = Broker::start(&properties);
        let mut stream = connect(&broker);
        create_topic(&mut stream, "kept", 2);
        let (member, generation) = stable_group(&mut stream, "durable");
        assert_eq!(
            commit(&mut stream, 8, "durable", &member, generation, &[("kept", 0, 42, "note"), ("kept", 1, 7, "")]),
            [0, 0]
        );
        assert_eq!(commit(&mut stream, 2, "simple", "", -1, &[("kept", 1, 3, "")]), [0]);
    }
    // The first broker was killed (SIGKILL) when dropped: what it acknowledged must already be on
    // disk, for a new one on the same directory to read.
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    let (_, fetched) = fetch_offsets(&mut stream, 7, "durable", None);
    assert_eq!(fetched, [("kept".into(), 0, 42, "note".into()), ("kept".into(), 1, 7, "".into())]);
    let (_, fetched) = fetch_offsets(&mut stream, 1, "simple", Some(&[("kept", &[1])]));
    assert_eq!(fetched, [("kept".into(), 1, 3, "".into())]);
    let d = describe(&mut stream, "durable");
    assert_eq!((&*d.group_state, d.members.len(), &*d.protocol_data), ("Stable", 1, "range"));
    let response: ListGroupsResponse = call(&mut stream, LIST_GROUPS, 4, &ListGroupsRequest::default());
    assert_eq!(response.groups.len(), 2);
}

#[test]
fn an_unclaimed_member_id_expires_with_its_session() {
    let broker = start_fast();
    let mut stream = connect(&broker);
    let r: JoinGroupResponse = call(&mut stream, JOIN_GROUP, 9, &join_request("unclaimed", "", 1_000, 1_000, ""));
    assert_eq!(r.error_code, 79);
    let listed = |stream: &mut TcpStream| -> usize {
        let response: ListGroupsResponse = call(stream, LIST_GROUPS, 4, &ListGroupsRequest::default());
        response.groups.len()
    };
    assert_eq!(listed(&mut stream), 1);
    // Nobody sends anything: the timer thread drops the id after the session timeout, and with
    // it the group that never formed.
    thread::sleep(Duration::from_millis(1_300));
    assert_eq!(listed(&mut stream), 0);
    let late: JoinGroupResponse =
        call(&mut stream, JOIN_GROUP, 9, &join_request("unclaimed", &r.member_id, 1_000, 1_000, ""));
    assert_eq!(late.error_code, 25);
}

// ---- the store and the timer under load (issue 11) --------------------------------------------

fn delete_group(stream: &mut TcpStream, group: &str) -> i16 {
    let request = DeleteGroupsRequest::default().with_groups_names(vec![gid(group)]);
    let response: DeleteGroupsResponse = call(stream, DELETE_GROUPS, 2, &request);
    response.results[0].error_code
}

#[test]
fn a_commit_or_delete_that_cannot_be_saved_is_a_storage_error_and_changes_nothing() {
    let dir = TempDir::new("groups-full");
    let properties = format!("log.dirs={}\ngroup.initial.rebalance.delay.ms=0", dir.path().display());
    let store = dir.path().join("__mini_kafka_groups/groups.log");
    {
        let broker = Broker::start(&properties);
        let mut stream = connect(&broker);
        create_topic(&mut stream, "t", 1);
        assert_eq!(commit(&mut stream, 8, "simple", "", -1, &[("t", 0, 1, "")]), [0]);
        assert_eq!(commit(&mut stream, 8, "doomed", "", -1, &[("t", 0, 5, "")]), [0]);
        let restore = common::replace_with_full_disk(&store);
        const KAFKA_STORAGE_ERROR: i16 = 56;
        assert_eq!(commit(&mut stream, 8, "simple", "", -1, &[("t", 0, 2, "")]), [KAFKA_STORAGE_ERROR]);
        assert_eq!(fetch_offsets(&mut stream, 7, "simple", None).1, [("t".into(), 0, 1, "".into())]);
        assert_eq!(delete_group(&mut stream, "doomed"), KAFKA_STORAGE_ERROR);
        assert_eq!(fetch_offsets(&mut stream, 7, "doomed", None).1, [("t".into(), 0, 5, "".into())]);
        restore();
        assert_eq!(commit(&mut stream, 8, "simple", "", -1, &[("t", 0, 3, "")]), [0]);
    }
    let broker = Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!(fetch_offsets(&mut stream, 7, "simple", None).1, [("t".into(), 0, 3, "".into())]);
    assert_eq!(fetch_offsets(&mut stream, 7, "doomed", None).1, [("t".into(), 0, 5, "".into())]);
    assert_eq!(delete_group(&mut stream, "doomed"), 0);
}

#[test]
fn a_commit_costs_the_same_however_many_offsets_are_stored() {
    // 40 groups of 1,000 offsets each: a one-offset commit must not rewrite them all.
    let dir = TempDir::new("groups-many");
    let broker = Broker::start(&format!("log.dirs={}", dir.path().display()));
    let mut stream = connect(&broker);
    create_topic(&mut stream, "wide", 1000);
    let median_commit = |stream: &mut TcpStream| {
        let mut times: Vec<Duration> = (0..41)
            .map(|i| {
                let started = Instant::now();
                assert_eq!(commit(stream, 8, "probe", "", -1, &[("wide", 7, i, "")]), [0]);
                started.elapsed()
            })
            .collect();
        times.sort();
        times[20]
    };
    let alone = median_commit(&mut stream);
    let offsets: Vec<(&str, i32, i64, &str)> = (0..1000).map(|p| ("wide", p, i64::from(p), "")).collect();
    for g in 0..40 {
        assert!(commit(&mut stream, 8, &format!("big-{g}"), "", -1, &offsets).iter().all(|e| *e == 0));
    }
    let among_many = median_commit(&mut stream);
    eprintln!("median commit: {alone:?} alone, {among_many:?} beside 40,000 offsets");
    assert!(among_many < alone * 3 + Duration::from_millis(1), "{alone:?} → {among_many:?}");
}

#[test]
fn the_group_timer_costs_what_is_due_not_how_many_groups_exist() {
    use mini_kafka::group::{Coordinator, state::JoinParams};
    // In process, to count the timer thread's own CPU time: 100,000 groups wait far in the
    // future, while 2,000 others expire one by one. Each expiry must not cost a look at them all.
    let config = mini_kafka::config::Config::parse("group.initial.rebalance.delay.ms=0").unwrap();
    let coordinator = Coordinator::open(&config).unwrap();
    let join = |group: &str, timeout: Duration| {
        let params = JoinParams {
            member_id: "",
            group_instance_id: None,
            client_id: "c",
            client_host: "h",
            session_timeout: timeout,
            rebalance_timeout: timeout,
            protocol_type: "consumer",
            protocols: vec![("range", b"".as_slice())],
            require_known_member_id: false,
        };
        assert_eq!(coordinator.join(group, &params, None).error, mini_kafka::errors::ErrorCode::None);
    };
    for i in 0..100_000 {
        join(&format!("waiting-{i}"), Duration::from_secs(1800));
    }
    let timer_cpu = || {
        let tasks = std::fs::read_dir("/proc/self/task").unwrap().filter_map(|t| t.ok());
        let timer = tasks
            .map(|t| t.path())
            .find(|t| std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == "group-timer"))
            .expect("the group-timer thread");
        let stat = std::fs::read_to_string(timer.join("stat")).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        (fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()) as f64 / 100.0
    };
    let before = timer_cpu();
    let started = Instant::now();
    for i in 0..2_000 {
        join(&format!("expiring-{i}"), Duration::from_secs(1));
        thread::sleep(Duration::from_micros(200));
    }
    thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()) + Duration::from_millis(1_200));
    let used = timer_cpu() - before;
    let listing = coordinator.list();
    let expired = listing.iter().filter(|g| g.group_id.starts_with("expiring-") && g.state == "Empty").count();
    assert_eq!(expired, 2_000, "every short session ended");
    assert!(used < 0.25, "the timer used {used} s of CPU for 2,000 expiries");
}

#[test]
fn a_join_waiting_for_a_client_that_hung_up_ends() {
    // A stable member that will never rejoin, and 20 newcomers whose JoinGroup waits for it: their
    // clients hang up, and each waiting call must give its thread back rather than wait for the
    // rebalance (up to the newcomers' rebalance timeout: days).
    let broker = start_fast();
    let mut stream = connect(&broker);
    let joined = join_new(&mut stream, 3, join_request("waits", "", 60_000, 60_000, "meta"));
    let member = joined.member_id.to_string();
    assert_eq!(sync(&mut stream, 3, "waits", &member, joined.generation_id, &[(&member, "a")]).error_code, 0);
    let threads = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", broker.pid())).unwrap();
        status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse::<usize>().unwrap()
    };
    let before = threads();
    let clients: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut client = connect(&broker);
            oracle::send(&mut client, JOIN_GROUP, 3, &join_request("waits", "", 60_000, i32::MAX, "meta"));
            client
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    assert!(threads() >= before + 20, "the joins are waiting");
    drop(clients);
    thread::sleep(Duration::from_millis(2_000));
    assert!(threads() <= before + 1, "{} threads left", threads() - before);
    assert_eq!(heartbeat(&mut stream, 3, "waits", &member, joined.generation_id), 27, "REBALANCE_IN_PROGRESS");
}
