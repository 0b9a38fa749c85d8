//> groups
//! Stage 27 (groups): a consumer group's life on the wire, as kafka-python lives it: find the
//! coordinator, join (twice: the first join only hands out a member id), sync, commit, heartbeat,
//! leave. The first two exchanges are the fixtures of `stages/27-groups-consumer-groups/`; the
//! requests after them carry the member id the broker chose, so they are built here, field by
//! field, by an encoder of this file (independent of `src/`).

mod common;

use common::runner_files::write_stage_files;
use common::*;
use std::net::TcpStream;

const STAGE: &str = "27-groups-consumer-groups";

/// The stage's broker: topic `orders` with two partitions, the advertised address of the
/// fixtures, and no initial rebalance delay (a group's first round completes at once).
fn start_groups_broker(dir: &TempDir) -> Broker {
    let properties = runner_files::server_properties(dir.path());
    Broker::start(&format!(
        "{properties}\nadvertised.listeners=PLAINTEXT://localhost:9092\ngroup.initial.rebalance.delay.ms=0"
    ))
}

/// A flexible request (request header v2, client id "alice"), built field by field.
struct Request(Vec<u8>);

impl Request {
    fn new(api_key: i16, version: i16, correlation_id: i32) -> Request {
        let mut r = Request(Vec::new());
        r.i16(api_key).i16(version).i32(correlation_id);
        r.0.extend([0, 5, b'a', b'l', b'i', b'c', b'e', 0]); // client_id, header TAG_BUFFER
        r
    }
    fn i16(&mut self, v: i16) -> &mut Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    /// COMPACT_(NULLABLE_)STRING or COMPACT_ARRAY length: UNSIGNED_VARINT n+1, 0 = null. Every
    /// length here is below 127, so one byte.
    fn len(&mut self, n: Option<usize>) -> &mut Self {
        self.0.push(n.map_or(0, |n| n as u8 + 1));
        self
    }
    fn string(&mut self, s: &str) -> &mut Self {
        self.len(Some(s.len()));
        self.0.extend(s.as_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.len(Some(b.len()));
        self.0.extend(b);
        self
    }
    /// An empty TAG_BUFFER.
    fn tags(&mut self) -> &mut Self {
        self.0.push(0);
        self
    }
    fn frame(&self) -> Vec<u8> {
        [&(self.0.len() as u32).to_be_bytes()[..], &self.0].concat()
    }
}

/// Reads a flexible response after its header (size, correlation id, TAG_BUFFER).
struct Response {
    bytes: Vec<u8>,
    at: usize,
}

impl Response {
    fn new(bytes: Vec<u8>) -> Response {
        Response { bytes, at: 9 }
    }
    fn take(&mut self, n: usize) -> &[u8] {
        self.at += n;
        &self.bytes[self.at - n..self.at]
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    /// A compact length (n+1, 0 = null), one byte in these tests.
    fn len(&mut self) -> Option<usize> {
        let n = self.take(1)[0];
        assert!(n < 0x80, "a length above 126 at byte {}", self.at - 1);
        (n as usize).checked_sub(1)
    }
    fn string(&mut self) -> Option<String> {
        let n = self.len()?;
        Some(String::from_utf8(self.take(n).to_vec()).unwrap())
    }
    fn bytes(&mut self) -> Vec<u8> {
        let n = self.len().unwrap_or(0);
        self.take(n).to_vec()
    }
    fn tags(&mut self) {
        assert_eq!(self.take(1), &[0], "an empty TAG_BUFFER");
    }
    fn end(&self) {
        assert_eq!(self.at, self.bytes.len(), "trailing bytes: {}", hex(&self.bytes[self.at..]));
    }
}

/// Sends `request` and reads the answer.
fn call(stream: &mut TcpStream, request: &Request) -> Response {
    Response::new(round_trip(stream, &request.frame()))
}

/// The consumer subscription of the fixture's JoinGroup: version 0, topics ["orders"], no user data.
const SUBSCRIPTION: &[u8] = &[0, 0, 0, 0, 0, 1, 0, 6, b'o', b'r', b'd', b'e', b'r', b's', 0xff, 0xff, 0xff, 0xff];
/// The leader's plan for alice: version 0, ["orders": partitions 0 and 1], no user data.
const ASSIGNMENT: &[u8] = &[
    0, 0, 0, 0, 0, 1, 0, 6, b'o', b'r', b'd', b'e', b'r', b's', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff,
    0xff,
];

/// Sends the fixture's first JoinGroup and checks the answer against `join-group-response.hex`,
/// all but the random UUID in the member id. Returns the member id.
fn first_join(stream: &mut TcpStream) -> String {
    let answer = round_trip(stream, &fixture(STAGE, "join-group-request.hex"));
    let expected = fixture(STAGE, "join-group-response.hex");
    let uuid = 29..29 + 36; // after 4 + 4 + 1 + 4 + 2 + 4 + 1 + 1 + 1 + 1 bytes and "alice-"
    assert_eq!(answer.len(), expected.len(), "{}", hex(&answer));
    assert_eq!(hex(&answer[..uuid.start]), hex(&expected[..uuid.start]));
    assert_eq!(hex(&answer[uuid.end..]), hex(&expected[uuid.end..]));
    let id = String::from_utf8(answer[uuid.start - 6..uuid.end].to_vec()).unwrap();
    let dashes: Vec<usize> = id.match_indices('-').map(|(i, _)| i).collect();
    assert_eq!(dashes, [5, 14, 19, 24, 29], "member id {id:?}: alice-<UUID>");
    id
}

/// JoinGroup v7 for `member_id`, otherwise the fixture's request.
fn join(member_id: &str) -> Request {
    let mut r = Request::new(11, 7, 3);
    r.string("billing").i32(10_000).i32(30_000).string(member_id).len(None).string("consumer");
    r.len(Some(1)).string("range").bytes(SUBSCRIPTION).tags().tags();
    r
}

/// SyncGroup v5 of generation 1 from its leader, `member_id`, who assigns herself `ASSIGNMENT`.
fn sync(member_id: &str) -> Request {
    let mut r = Request::new(14, 5, 4);
    r.string("billing").i32(1).string(member_id).len(None).string("consumer").string("range");
    r.len(Some(1)).string(member_id).bytes(ASSIGNMENT).tags().tags();
    r
}

fn heartbeat(member_id: &str, generation: i32) -> Request {
    let mut r = Request::new(12, 4, 6);
    r.string("billing").i32(generation).string(member_id).len(None).tags();
    r
}

/// OffsetCommit v8 of `offset` for orders-0.
fn commit(member_id: &str, generation: i32, offset: i64) -> Request {
    let mut r = Request::new(8, 8, 5);
    r.string("billing").i32(generation).string(member_id).len(None);
    r.len(Some(1)).string("orders").len(Some(1)).i32(0).i64(offset).i32(-1).len(None).tags().tags().tags();
    r
}

/// OffsetFetch v7 of orders-0 and orders-1; returns their committed offsets.
fn fetch_offsets(stream: &mut TcpStream) -> Vec<i64> {
    let mut r = Request::new(9, 7, 7);
    r.string("billing").len(Some(1)).string("orders").len(Some(2)).i32(0).i32(1).tags();
    r.0.push(0); // require_stable = false
    r.tags();
    let mut a = call(stream, &r);
    assert_eq!(a.i32(), 0, "throttle_time_ms");
    assert_eq!(a.len(), Some(1), "topics");
    assert_eq!(a.string().as_deref(), Some("orders"));
    assert_eq!(a.len(), Some(2), "partitions");
    let mut offsets = Vec::new();
    for index in 0..2 {
        assert_eq!(a.i32(), index);
        offsets.push(a.i64());
        assert_eq!(a.i32(), -1, "committed_leader_epoch");
        assert_eq!(a.string().as_deref(), Some(""), "metadata");
        assert_eq!(a.i16(), 0, "error_code");
        a.tags();
    }
    a.tags();
    assert_eq!(a.i16(), 0, "error_code");
    a.tags();
    a.end();
    offsets
}

#[test]
fn find_coordinator_names_this_broker() {
    let dir = TempDir::new("groups");
    write_stage_files(dir.path(), "groups");
    let broker = start_groups_broker(&dir);
    let response = round_trip(&mut connect(&broker), &fixture(STAGE, "find-coordinator-request.hex"));
    assert_eq!(hex(&response), hex(&fixture(STAGE, "find-coordinator-response.hex")));
}

#[test]
fn a_member_joins_syncs_commits_heartbeats_and_leaves() {
    let dir = TempDir::new("groups");
    write_stage_files(dir.path(), "groups");
    let broker = start_groups_broker(&dir);
    let mut alice = connect(&broker);
    let member_id = first_join(&mut alice);

    // The second join, with the id: alice is the only member, so the round completes at once,
    // generation 1, and she leads it: the answer lists the members and their subscriptions.
    let mut a = call(&mut alice, &join(&member_id));
    assert_eq!((a.i32(), a.i16(), a.i32()), (0, 0, 1), "throttle, error_code, generation_id");
    assert_eq!(a.string().as_deref(), Some("consumer"), "protocol_type");
    assert_eq!(a.string().as_deref(), Some("range"), "protocol_name");
    assert_eq!(a.string(), Some(member_id.clone()), "leader");
    assert_eq!(a.string(), Some(member_id.clone()), "member_id");
    assert_eq!(a.len(), Some(1), "members");
    assert_eq!(a.string(), Some(member_id.clone()));
    assert_eq!(a.string(), None, "group_instance_id");
    assert_eq!(a.bytes(), SUBSCRIPTION, "her subscription, as she sent it");
    a.tags();
    a.tags();
    a.end();

    // SyncGroup v5: the leader hands out the plan; each member gets its part back.
    let mut a = call(&mut alice, &sync(&member_id));
    assert_eq!((a.i32(), a.i16()), (0, 0), "throttle, error_code");
    assert_eq!(a.string().as_deref(), Some("consumer"));
    assert_eq!(a.string().as_deref(), Some("range"));
    assert_eq!(a.bytes(), ASSIGNMENT, "her assignment");
    a.tags();
    a.end();

    // OffsetCommit v8 for orders-0, then read back: orders-1 has none (-1).
    let mut a = call(&mut alice, &commit(&member_id, 1, 42));
    assert_eq!(a.i32(), 0);
    assert_eq!((a.len(), a.string().as_deref(), a.len()), (Some(1), Some("orders"), Some(1)));
    assert_eq!((a.i32(), a.i16()), (0, 0), "orders-0: error_code 0");
    assert_eq!(fetch_offsets(&mut alice), [42, -1]);
    // A commit from an old generation is refused: alice may no longer own the partition.
    let mut a = call(&mut alice, &commit(&member_id, 0, 50));
    a.take(4 + 1 + 7 + 1 + 4);
    assert_eq!(a.i16(), 22, "ILLEGAL_GENERATION");
    assert_eq!(fetch_offsets(&mut alice), [42, -1]);

    // Heartbeat v4: all is well; with a wrong generation, rejoin.
    let mut a = call(&mut alice, &heartbeat(&member_id, 1));
    assert_eq!((a.i32(), a.i16()), (0, 0));
    assert_eq!(call(&mut alice, &heartbeat(&member_id, 7)).take(6)[4..], 22i16.to_be_bytes(), "ILLEGAL_GENERATION");

    // LeaveGroup v5: she is gone, her heartbeats are refused, the group's offsets stay.
    let mut leave = Request::new(13, 5, 8);
    leave.string("billing").len(Some(1)).string(&member_id).len(None).len(None).tags().tags();
    let mut a = call(&mut alice, &leave);
    assert_eq!((a.i32(), a.i16()), (0, 0), "throttle, error_code");
    assert_eq!(a.len(), Some(1), "members");
    assert_eq!((a.string(), a.string(), a.i16()), (Some(member_id.clone()), None, 0));
    let mut a = call(&mut alice, &heartbeat(&member_id, 1));
    assert_eq!((a.i32(), a.i16()), (0, 25), "UNKNOWN_MEMBER_ID");
    assert_eq!(fetch_offsets(&mut alice), [42, -1]);
}

#[test]
fn committed_offsets_survive_a_restart() {
    let dir = TempDir::new("groups");
    write_stage_files(dir.path(), "groups");
    {
        let broker = start_groups_broker(&dir);
        let mut alice = connect(&broker);
        let member_id = first_join(&mut alice);
        call(&mut alice, &join(&member_id));
        // Until the round's SyncGroup, commits wait: REBALANCE_IN_PROGRESS.
        let mut a = call(&mut alice, &commit(&member_id, 1, 7));
        a.take(4 + 1 + 7 + 1 + 4);
        assert_eq!(a.i16(), 27, "REBALANCE_IN_PROGRESS");
        call(&mut alice, &sync(&member_id));
        let mut a = call(&mut alice, &commit(&member_id, 1, 7));
        a.take(4 + 1 + 7 + 1 + 4);
        assert_eq!(a.i16(), 0, "committed");
    } // the broker is killed here, as by kill -9
    let broker = start_groups_broker(&dir);
    assert_eq!(fetch_offsets(&mut connect(&broker)), [7, -1]);
}
//< groups
