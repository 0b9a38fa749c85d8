//! Every response, traced both ways: what the encoder wrote is what `decode_response` reads.
//!
//! `mini-kafka decode` explains a captured response with the API module's `decode_response`, a
//! walker that reads the fields back by name. Its dump is only worth reading if it is the one the
//! encoder would have shown: the same fields, in the same order, over the same bytes, at the same
//! depth, of the same kind. An encoder that gains a field its walker lacks (or a walker that
//! reads a field some version does not have) would otherwise go unnoticed until someone trusts
//! a wrong dump.
//!
//! So, in-process, against a real [`Broker`]: for every API in [`SUPPORTED_APIS`] at every
//! version it lists, requests that give the encoder real work (non-empty arrays, known and
//! unknown topics, stored record batches, groups through their whole life, transactions
//! committed, aborted and left open, error cases) are dispatched with a traced [`Writer`]. Its
//! spans must equal, one by one, the spans a traced [`Reader`] notes while the walker reads the
//! response, and the walker must read every byte.

use mini_kafka::api::{self, ApiSpec, Reply, Request, SUPPORTED_APIS};
use mini_kafka::broker::Broker;
use mini_kafka::config::Config;
use mini_kafka::log::batch;
use mini_kafka::wire::{Field, FieldSpan, Kind, Reader, SharedBytes, Uuid, Writer};
use std::collections::BTreeMap;

const MEMBER_ID_REQUIRED: i64 = 79;
// The error codes of the transaction coordinator's answers the coverage checks.
const UNKNOWN_TOPIC_OR_PARTITION: i64 = 3;
const INVALID_GROUP_ID: i64 = 24;
const INVALID_PRODUCER_EPOCH: i64 = 47;
const INVALID_TXN_STATE: i64 = 48;
const INVALID_PRODUCER_ID_MAPPING: i64 = 49;
const INVALID_TRANSACTION_TIMEOUT: i64 = 50;
const OPERATION_NOT_ATTEMPTED: i64 = 55;
const UNSTABLE_OFFSET_COMMIT: i64 = 88;
const PRODUCER_FENCED: i64 = 90;
const TRANSACTIONAL_ID_NOT_FOUND: i64 = 105;
/// A consumer's two assignors, with made-up subscription metadata.
const PROTOCOLS: &[(&str, &[u8])] = &[("range", b"\x00\x01apple"), ("roundrobin", b"rr")];
/// A topic that never exists.
const MISSING: &str = "missing";

fn spec(api: &str) -> &'static ApiSpec {
    SUPPORTED_APIS.iter().find(|s| s.name == api).unwrap_or_else(|| panic!("{api} is not supported"))
}

fn flexible(api: &str, version: i16) -> bool {
    version >= spec(api).flexible_from
}

/// How request schemas read: fields only some versions have, arrays of structs.
trait Schema {
    /// Writes what `f` writes if `present`: `w.when(v >= 9, |w| w.i32("current_leader_epoch", -1))`.
    fn when(&mut self, present: bool, f: impl FnOnce(&mut Self));
    /// An array of structs, each ending with its tagged fields (in flexible versions).
    fn structs<T>(&mut self, name: Field, flexible: bool, items: &[T], each: impl FnMut(&mut Self, &T));
}

impl Schema for Writer {
    fn when(&mut self, present: bool, f: impl FnOnce(&mut Self)) {
        if present {
            f(self)
        }
    }

    fn structs<T>(&mut self, name: Field, flexible: bool, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.array_v(name, flexible, items, |w, item| {
            each(w, item);
            w.tagged_fields_v(flexible);
        });
    }
}

/// A response that was checked: its body and the fields its encoder noted.
struct Answer {
    bytes: Vec<u8>,
    spans: Vec<FieldSpan>,
}

impl Answer {
    /// The value bytes of the first top-level field called `name`.
    fn field(&self, name: &str) -> &[u8] {
        let span = self.spans.iter().find(|s| s.name == name && s.depth == 0).expect(name);
        &self.bytes[span.content..span.end]
    }

    /// A non-negative integer field.
    fn int(&self, name: &str) -> i64 {
        self.field(name).iter().fold(0, |n, b| (n << 8) | i64::from(*b))
    }

    fn text(&self, name: &str) -> String {
        String::from_utf8(self.field(name).to_vec()).unwrap()
    }

    /// Every integer field called `name`, at any depth, in the order written.
    fn ints(&self, name: &str) -> Vec<i64> {
        let signed = |bytes: &[u8]| {
            bytes.iter().fold(if bytes[0] & 0x80 != 0 { -1 } else { 0 }, |n, b| (n << 8) | i64::from(*b))
        };
        self.spans
            .iter()
            .filter(|s| s.name == name && s.kind == Kind::Int)
            .map(|s| signed(&self.bytes[s.content..s.end]))
            .collect()
    }

    /// How many elements the arrays called `name` hold, at any depth, together.
    fn elements(&self, name: &str) -> usize {
        self.spans.iter().filter(|s| s.name == name && s.kind == Kind::Group).count()
    }
}

/// The broker, and what was checked so far, per (API, version).
struct Harness {
    broker: Broker,
    /// Responses checked, and how many of them had an array element.
    checked: BTreeMap<(&'static str, i16), (usize, usize)>,
    /// The first disagreement between encoder and walker, and in how many responses.
    disagreements: BTreeMap<(&'static str, i16), (String, usize)>,
}

impl Harness {
    /// Runs `body` for every version of `api`, with whether that version is flexible.
    fn each_version(&mut self, api: &str, mut body: impl FnMut(&mut Harness, i16, bool)) {
        for v in spec(api).min..=spec(api).max {
            body(self, v, flexible(api, v));
        }
    }

    /// Sends the request `body` writes and checks the response both ways. `None`: no response.
    fn call(&mut self, api: &str, version: i16, body: impl FnOnce(&mut Writer)) -> Option<Answer> {
        let (spec, flexible) = (spec(api), flexible(api, version));
        let mut w = Writer::new();
        body(&mut w);
        let frame = SharedBytes::from_vec(w.finish().to_vec().split_off(4));
        let (client_id, client_host) = (Some("trace"), "/127.0.0.1");
        let request =
            Request { api_key: spec.key, version, flexible, client_id, client_host, frame: &frame, client: None };
        let mut reader = Reader::new(&frame);
        let mut writer = Writer::traced();
        let reply = api::dispatch(&self.broker, &request, &mut reader, &mut writer)
            .unwrap_or_else(|e| panic!("{api} v{version}: the test's request does not decode: {e}"));
        assert_eq!(reader.remaining(), 0, "{api} v{version}: the test's request has bytes the broker did not read");
        match reply {
            Reply::Send => {}
            Reply::Nothing => return None,
            Reply::Close(why) => panic!("{api} v{version}: the broker hung up: {why}"),
        }
        let written = writer.take_spans();
        let bytes = writer.finish().to_vec().split_off(4);
        if let Some(problem) = disagreement(spec.key, version, flexible, &bytes, &written) {
            let message = format!("{api} v{version} ({} bytes): {problem}", bytes.len());
            self.disagreements.entry((spec.name, version)).or_insert((message, 0)).1 += 1;
        }
        let count = self.checked.entry((spec.name, version)).or_default();
        count.0 += 1;
        count.1 += usize::from(written.iter().any(|s| s.kind == Kind::Group));
        Some(Answer { bytes, spans: written })
    }
}

/// Walks `bytes` back with the API's `decode_response`: how it differs from `written`, if it does.
fn disagreement(key: i16, version: i16, flexible: bool, bytes: &[u8], written: &[FieldSpan]) -> Option<String> {
    let mut r = Reader::traced(bytes);
    let walked = api::decode_response(key, version, flexible, &mut r);
    let read = r.spans();
    let mut problems = Vec::new();
    // A group's end is known last: a difference inside it is the one to show.
    let inner =
        |s: Option<&FieldSpan>| s.map(|s| FieldSpan { end: if s.kind == Kind::Group { 0 } else { s.end }, ..*s });
    let n = written.len().max(read.len());
    let first = (0..n).find(|&i| inner(written.get(i)) != inner(read.get(i)));
    if let Some(i) = first.or_else(|| (0..n).find(|&i| written.get(i) != read.get(i))) {
        let (wrote, got) = (written.get(i), read.get(i));
        problems.push(format!("span {i} differs\n      encoder wrote: {wrote:?}\n      walker read:   {got:?}"));
    }
    match walked {
        Err(e) => {
            let there = written.iter().rev().find(|s| s.start <= e.at && e.at < s.end.max(s.start + 1));
            problems.push(format!("the walker failed: {e}\n      the encoder wrote there: {there:?}"));
        }
        Ok(()) if r.remaining() > 0 => problems.push(format!("the walker left {} bytes unread", r.remaining())),
        Ok(()) => {}
    }
    (!problems.is_empty()).then(|| problems.join("\n    "))
}

#[test]
fn every_response_reads_back_as_it_was_written() {
    let config = Config::parse("group.initial.rebalance.delay.ms=0").unwrap();
    let broker = Broker::open(config, 9092).unwrap();
    for (topic, partitions) in [("apple", 2), ("grow", 1), ("doomed-by-id", 1), ("txn", 2)] {
        broker.log.create_topic(topic, partitions, broker.node_id(), BTreeMap::new()).unwrap();
    }
    let mut h = Harness { broker, checked: BTreeMap::new(), disagreements: BTreeMap::new() };
    api_versions(&mut h);
    produce(&mut h); // before Fetch and ListOffsets, which then have records to show
    fetch(&mut h);
    list_offsets(&mut h);
    metadata(&mut h);
    describe_topic_partitions(&mut h);
    create_topics(&mut h);
    create_partitions(&mut h);
    delete_topics(&mut h);
    delete_records(&mut h);
    describe_configs(&mut h);
    alter_configs(&mut h);
    init_producer_id(&mut h);
    find_coordinator(&mut h);
    join_group(&mut h);
    sync_group(&mut h);
    heartbeat(&mut h);
    offset_commit(&mut h);
    offset_fetch(&mut h);
    describe_groups(&mut h);
    list_groups(&mut h);
    leave_group(&mut h); // then DeleteGroups finds the groups it left empty
    delete_groups(&mut h);
    add_partitions_to_txn(&mut h);
    add_offsets_to_txn(&mut h);
    txn_offset_commit(&mut h); // after OffsetCommit: the group "offsets" has offsets of its own
    end_txn(&mut h);
    read_committed(&mut h); // transactions aborted, committed and left open, read by consumers
    describe_transactions(&mut h);
    list_transactions(&mut h);

    let report: Vec<String> =
        h.disagreements.values().map(|(m, n)| format!("  {m}\n    (in {n} of the responses)")).collect();
    assert!(report.is_empty(), "encoders and walkers disagree:\n{}", report.join("\n"));
    let all: Vec<(&str, i16)> = SUPPORTED_APIS.iter().flat_map(|s| (s.min..=s.max).map(|v| (s.name, v))).collect();
    let unchecked: Vec<_> = all.iter().filter(|p| !h.checked.contains_key(p)).collect();
    assert!(unchecked.is_empty(), "never checked: {unchecked:?}");
    let without_arrays: Vec<_> = h.checked.iter().filter(|(_, c)| c.1 == 0).map(|(p, _)| p).collect();
    let responses: usize = h.checked.values().map(|c| c.0).sum();
    eprintln!("{responses} responses for {} API versions; none with an array element: {without_arrays:?}", all.len());
    // Heartbeat, SyncGroup, InitProducerId, AddOffsetsToTxn, EndTxn and the older FindCoordinator
    // and LeaveGroup have no array.
    assert!(without_arrays.len() * 5 < all.len(), "too few versions had array elements: {without_arrays:?}");
}

// ---- the log's APIs -------------------------------------------------------------------------

fn api_versions(h: &mut Harness) {
    h.each_version("ApiVersions", |h, v, _| {
        h.call("ApiVersions", v, |w| {
            w.when(v >= 3, |w| {
                w.string_v("client_software_name", "trace-both-ways", true); // always compact
                w.string_v("client_software_version", "1.0", true);
                w.tagged_fields_v(true);
            })
        });
    });
}

/// A topic of a Produce request: its name and (partition, records); `None` is null records.
type ProduceTopic<'a> = (&'a str, Vec<(i32, Option<Vec<u8>>)>);

fn produce_body(w: &mut Writer, f: bool, transactional_id: Option<&str>, acks: i16, topics: &[ProduceTopic]) {
    w.nullable_string_v("transactional_id", transactional_id, f);
    w.i16("acks", acks);
    w.i32("timeout_ms", 1000);
    w.structs("topic_data", f, topics, |w, (name, partitions)| {
        w.string_v("name", name, f);
        w.structs("partition_data", f, partitions, |w, (index, records)| {
            w.i32("index", *index);
            w.nullable_bytes_v("records", records.as_deref(), f);
        });
    });
    w.tagged_fields_v(f);
}

fn produce(h: &mut Harness) {
    h.each_version("Produce", |h, v, f| {
        let records = || Some(batch::build(0, 1_700_000_000_000 + i64::from(v), &[b"hi".to_vec(), b"there".to_vec()]));
        let topics = [
            ("apple", vec![(0, records()), (1, records()), (7, records()), (0, None)]),
            (MISSING, vec![(0, records())]),
        ];
        h.call("Produce", v, |w| produce_body(w, f, None, -1, &topics));
        // A transactional id with batches that are not transactional: appended as they are.
        h.call("Produce", v, |w| produce_body(w, f, Some("tx"), 1, &topics[..1]));
        h.call("Produce", v, |w| produce_body(w, f, None, 2, &topics[..1])); // invalid acks
        let silent = h.call("Produce", v, |w| produce_body(w, f, None, 0, &[("apple", vec![(1, records())])]));
        assert!(silent.is_none(), "acks=0 gets no response");
    });
}

/// A topic of a Fetch request: (name, id) (by name before v13) and (partition, fetch_offset).
type FetchTopic<'a> = ((&'a str, Uuid), Vec<(i32, i64)>);

/// A Fetch request; `isolation_level` 1 is read_committed.
fn fetch_body(w: &mut Writer, v: i16, f: bool, session_id: i32, isolation_level: i8, topics: &[FetchTopic]) {
    let topic = |w: &mut Writer, (name, id): &(&str, Uuid)| {
        if v >= 13 { w.uuid("topic_id", *id) } else { w.string_v("topic", name, f) }
    };
    w.when(v <= 14, |w| w.i32("replica_id", -1));
    w.i32("max_wait_ms", 0);
    w.i32("min_bytes", 1);
    w.i32("max_bytes", 1 << 20);
    w.i8("isolation_level", isolation_level);
    w.when(v >= 7, |w| {
        w.i32("session_id", session_id);
        w.i32("session_epoch", -1);
    });
    w.structs("topics", f, topics, |w, (t, partitions)| {
        topic(w, t);
        w.structs("partitions", f, partitions, |w, &(partition, offset)| {
            w.i32("partition", partition);
            w.when(v >= 9, |w| w.i32("current_leader_epoch", -1));
            w.i64("fetch_offset", offset);
            w.when(v >= 12, |w| w.i32("last_fetched_epoch", -1));
            w.when(v >= 5, |w| w.i64("log_start_offset", -1));
            w.i32("partition_max_bytes", 1 << 20);
        });
    });
    w.when(v >= 7, |w| {
        w.structs("forgotten_topics_data", f, &topics[..1], |w, (t, _)| {
            topic(w, t);
            w.array_v("partitions", f, &[1], |w, p| w.i32("partition", *p));
        })
    });
    w.when(v >= 11, |w| w.string_v("rack_id", "", f));
    w.tagged_fields_v(f);
}

fn fetch(h: &mut Harness) {
    let apple = ("apple", h.broker.log.topic("apple").unwrap().id);
    let topics = [(apple, vec![(0, 0), (1, 2), (0, 1000), (9, 0)]), ((MISSING, Uuid::random()), vec![(0, 0)])];
    h.each_version("Fetch", |h, v, f| {
        h.call("Fetch", v, |w| fetch_body(w, v, f, 0, 0, &topics));
        if v >= 7 {
            h.call("Fetch", v, |w| fetch_body(w, v, f, 42, 0, &topics)); // a session this broker never made
        }
    });
}

/// A ListOffsets request: (topic, [(partition, timestamp)]); `isolation_level` 1 is read_committed
/// (v2+).
fn list_offsets_body(w: &mut Writer, v: i16, isolation_level: i8, topics: &[(&str, &[(i32, i64)])]) {
    let f = flexible("ListOffsets", v);
    w.i32("replica_id", -1);
    w.when(v >= 2, |w| w.i8("isolation_level", isolation_level));
    w.structs("topics", f, topics, |w, (name, partitions)| {
        w.string_v("name", name, f);
        w.structs("partitions", f, partitions, |w, &(index, timestamp)| {
            w.i32("partition_index", index);
            w.when(v >= 4, |w| w.i32("current_leader_epoch", -1));
            w.i64("timestamp", timestamp);
        });
    });
    w.tagged_fields_v(f);
}

fn list_offsets(h: &mut Harness) {
    // Timestamps: -1 latest, -2 earliest, -3 max timestamp (v7+), -4 earliest local (v8+), a time.
    let asks = [(0, -1), (1, -2), (0, -3), (1, -4), (0, 1_700_000_000_005), (5, -1)];
    let topics: [(&str, &[(i32, i64)]); 2] = [("apple", &asks), (MISSING, &[(0, -1)])];
    h.each_version("ListOffsets", |h, v, _| {
        h.call("ListOffsets", v, |w| list_offsets_body(w, v, 0, &topics));
    });
}

/// A Metadata request for `topics` as (id, name), or (`None`) for every topic.
fn metadata_body(w: &mut Writer, v: i16, f: bool, topics: Option<&[(Uuid, Option<&str>)]>, allow: bool, ops: bool) {
    match topics {
        None if v == 0 => w.array_len_v("topics", 0, f), // v0: empty means all
        None => w.null_array_v("topics", f),
        Some(topics) => w.structs("topics", f, topics, |w, (id, name)| {
            w.when(v >= 10, |w| w.uuid("topic_id", *id));
            if v >= 10 { w.nullable_string_v("name", *name, f) } else { w.string_v("name", name.unwrap(), f) }
        }),
    }
    w.when(v >= 4, |w| w.bool("allow_auto_topic_creation", allow));
    w.when((8..=10).contains(&v), |w| w.bool("include_cluster_authorized_operations", ops));
    w.when(v >= 8, |w| w.bool("include_topic_authorized_operations", ops));
    w.tagged_fields_v(f);
}

fn metadata(h: &mut Harness) {
    let apple = h.broker.log.topic("apple").unwrap().id;
    h.each_version("Metadata", |h, v, f| {
        let auto = format!("auto-{v}"); // created by the request
        let named = [(Uuid::ZERO, Some("apple")), (Uuid::ZERO, Some(auto.as_str())), (Uuid::ZERO, Some("bad/name"))];
        h.call("Metadata", v, |w| metadata_body(w, v, f, Some(&named), true, true));
        h.call("Metadata", v, |w| metadata_body(w, v, f, Some(&[(Uuid::ZERO, Some(MISSING))]), false, false));
        h.call("Metadata", v, |w| metadata_body(w, v, f, None, false, v % 2 == 0));
        if v >= 10 {
            let by_id = [(apple, None), (Uuid::random(), None)];
            h.call("Metadata", v, |w| metadata_body(w, v, f, Some(&by_id), false, true));
        }
    });
}

fn describe_topic_partitions(h: &mut Harness) {
    let call = |h: &mut Harness, topics: &[&str], limit: i32, cursor: Option<(&str, i32)>| {
        h.call("DescribeTopicPartitions", 0, |w| {
            w.structs("topics", true, topics, |w, name| w.string_v("name", name, true));
            w.i32("response_partition_limit", limit);
            w.i8("cursor", if cursor.is_some() { 1 } else { -1 });
            if let Some((topic, partition)) = cursor {
                w.string_v("topic_name", topic, true);
                w.i32("partition_index", partition);
                w.tagged_fields_v(true);
            }
            w.tagged_fields_v(true);
        })
        .unwrap()
    };
    call(h, &["apple", MISSING, "grow"], 100, None);
    assert_eq!(call(h, &["apple", "grow"], 1, None).int("next_cursor"), 1, "a limit of 1 leaves a cursor");
    call(h, &["apple", "grow"], 1, Some(("apple", 1)));
    call(h, &[], 3, None);
}

/// A CreateTopics topic: name, partitions, replication factor, assignments, configs.
type NewTopic<'a> = (&'a str, i32, i16, &'a [(i32, &'a [i32])], &'a [(&'a str, Option<&'a str>)]);

fn create_topics_body(w: &mut Writer, f: bool, topics: &[NewTopic], validate_only: bool) {
    w.structs("topics", f, topics, |w, (name, partitions, replication, assignments, configs)| {
        w.string_v("name", name, f);
        w.i32("num_partitions", *partitions);
        w.i16("replication_factor", *replication);
        w.structs("assignments", f, assignments, |w, (index, brokers)| {
            w.i32("partition_index", *index);
            w.array_v("broker_ids", f, brokers, |w, id| w.i32("broker_id", *id));
        });
        w.structs("configs", f, configs, |w, (key, value)| {
            w.string_v("name", key, f);
            w.nullable_string_v("value", *value, f);
        });
    });
    w.i32("timeout_ms", 5000);
    w.bool("validate_only", validate_only);
    w.tagged_fields_v(f);
}

fn create_topics(h: &mut Harness) {
    h.each_version("CreateTopics", |h, v, f| {
        let [created, assigned, validated] = ["created", "assigned", "validated"].map(|n| format!("{n}-{v}"));
        let topics: [NewTopic; 8] = [
            (&created, 2, 1, &[], &[("retention.ms", Some("1000")), ("cleanup.policy", None)]),
            (&assigned, -1, -1, &[(0, &[1]), (1, &[1])], &[]),
            ("apple", 1, -1, &[], &[]),                                   // exists
            ("bad/name", 1, -1, &[], &[]),                                // invalid name
            ("odd-config", 1, -1, &[], &[("no.such.config", Some("x"))]), // unknown config
            ("three-copies", 1, 3, &[], &[]),                             // one broker only
            ("twice", 1, -1, &[], &[]),
            ("twice", 1, -1, &[], &[]),
        ];
        h.call("CreateTopics", v, |w| create_topics_body(w, f, &topics, false));
        h.call("CreateTopics", v, |w| create_topics_body(w, f, &[(&validated, 3, 1, &[], &[])], true));
    });
}

/// A CreatePartitions topic: name, new partition count, assignments (null: the broker's choice).
type Grow<'a> = (&'a str, i32, Option<&'a [&'a [i32]]>);

fn create_partitions_body(w: &mut Writer, f: bool, topics: &[Grow], validate_only: bool) {
    w.structs("topics", f, topics, |w, (name, count, assignments)| {
        w.string_v("name", name, f);
        w.i32("count", *count);
        match assignments {
            None => w.null_array_v("assignments", f),
            Some(assignments) => w.structs("assignments", f, assignments, |w, brokers| {
                w.array_v("broker_ids", f, brokers, |w, id| w.i32("broker_id", *id));
            }),
        }
    });
    w.i32("timeout_ms", 5000);
    w.bool("validate_only", validate_only);
    w.tagged_fields_v(f);
}

fn create_partitions(h: &mut Harness) {
    let here: &[&[i32]] = &[&[1]];
    h.each_version("CreatePartitions", |h, v, f| {
        // "grow" has v + 1 partitions: one more each version.
        let topics: [Grow; 3] = [("grow", i32::from(v) + 2, Some(here)), ("apple", 1, None), (MISSING, 3, None)];
        h.call("CreatePartitions", v, |w| create_partitions_body(w, f, &topics, false));
        h.call("CreatePartitions", v, |w| create_partitions_body(w, f, &[("apple", 5, None)], true));
    });
}

fn delete_topics(h: &mut Harness) {
    let by_id = h.broker.log.topic("doomed-by-id").unwrap().id;
    h.each_version("DeleteTopics", |h, v, f| {
        let doomed = format!("doomed-{v}");
        h.broker.log.create_topic(&doomed, 1, 1, BTreeMap::new()).unwrap();
        h.call("DeleteTopics", v, |w| {
            if v >= 6 {
                let topics = [(Some(doomed.as_str()), Uuid::ZERO), (None, by_id), (None, Uuid::random())];
                w.structs("topics", f, &topics, |w, (name, id)| {
                    w.nullable_string_v("name", *name, f);
                    w.uuid("topic_id", *id);
                });
            } else {
                w.array_v("topic_names", f, &[doomed.as_str(), MISSING], |w, name| w.string_v("name", name, f));
            }
            w.i32("timeout_ms", 5000);
            w.tagged_fields_v(f);
        });
    });
}

fn delete_records(h: &mut Harness) {
    // "apple" has records from Produce: partition 0 is trimmed, the others are errors.
    h.each_version("DeleteRecords", |h, v, f| {
        let parts: [(i32, i64); 3] = [(0, i64::from(v)), (1, 1_000_000), (9, 0)];
        h.call("DeleteRecords", v, |w| {
            let topics = [("apple", &parts[..]), (MISSING, &parts[..1])];
            w.structs("topics", f, &topics, |w, (name, parts)| {
                w.string_v("name", name, f);
                w.structs("partitions", f, parts, |w, (index, offset)| {
                    w.i32("partition_index", *index);
                    w.i64("offset", *offset);
                });
            });
            w.i32("timeout_ms", 5000);
            w.tagged_fields_v(f);
        });
    });
}

fn alter_configs(h: &mut Harness) {
    // (resource type, name, [(key, operation, value)]): a change, a bad value, an unknown topic,
    // the broker.
    type Entries<'a> = &'a [(&'a str, i8, Option<&'a str>)];
    let resources: [(i8, &str, Entries); 4] = [
        (2, "apple", &[("retention.ms", 1, None), ("cleanup.policy", 0, Some("delete"))]),
        (2, "apple", &[("segment.bytes", 0, Some("1"))]),
        (2, MISSING, &[]),
        (4, "", &[("log.retention.ms", 0, Some("1"))]),
    ];
    for (api, operations) in [("AlterConfigs", false), ("IncrementalAlterConfigs", true)] {
        h.each_version(api, |h, v, f| {
            h.call(api, v, |w| {
                w.structs("resources", f, &resources, |w, (resource_type, name, configs)| {
                    w.i8("resource_type", *resource_type);
                    w.string_v("resource_name", name, f);
                    w.structs("configs", f, configs, |w, (key, operation, value)| {
                        w.string_v("name", key, f);
                        if operations {
                            w.i8("config_operation", *operation);
                        }
                        w.nullable_string_v("value", *value, f);
                    });
                });
                w.bool("validate_only", v % 2 == 0);
                w.tagged_fields_v(f);
            });
        });
    }
}

fn describe_configs(h: &mut Harness) {
    // (resource type: 2 topic, 4 broker; name; configuration keys, null for all)
    let resources: [(i8, &str, Option<&[&str]>); 6] = [
        (2, "apple", None),
        (2, "apple", Some(&["retention.ms", "cleanup.policy"])),
        (4, "", Some(&["num.partitions"])),
        (2, MISSING, None),
        (4, "7", None), // another broker
        (3, "x", None), // an unsupported resource type
    ];
    h.each_version("DescribeConfigs", |h, v, f| {
        for synonyms in [false, true] {
            h.call("DescribeConfigs", v, |w| {
                w.structs("resources", f, &resources, |w, (kind, name, keys)| {
                    w.i8("resource_type", *kind);
                    w.string_v("resource_name", name, f);
                    match keys {
                        None => w.null_array_v("configuration_keys", f),
                        Some(keys) => w.array_v("configuration_keys", f, keys, |w, k| w.string_v("key", k, f)),
                    }
                });
                w.bool("include_synonyms", synonyms);
                w.when(v >= 3, |w| w.bool("include_documentation", true));
                w.tagged_fields_v(f);
            });
        }
    });
}

/// An InitProducerId request; `producer` is (id, epoch) a v3+ producer already had, (-1, -1) if none.
fn init_producer_id_body(
    w: &mut Writer,
    v: i16,
    transactional_id: Option<&str>,
    timeout_ms: i32,
    producer: (i64, i16),
) {
    let f = flexible("InitProducerId", v);
    w.nullable_string_v("transactional_id", transactional_id, f);
    w.i32("transaction_timeout_ms", timeout_ms);
    w.when(v >= 3, |w| {
        w.i64("producer_id", producer.0);
        w.i16("producer_epoch", producer.1);
    });
    w.tagged_fields_v(f);
}

fn init_producer_id(h: &mut Harness) {
    h.each_version("InitProducerId", |h, v, _| {
        // Idempotent; transactional (each one bumps the epoch of "tx"); an empty transactional id.
        for transactional_id in [None, Some("tx"), Some("")] {
            h.call("InitProducerId", v, |w| init_producer_id_body(w, v, transactional_id, 60_000, (-1, -1)));
        }
        let timeout = h.call("InitProducerId", v, |w| init_producer_id_body(w, v, Some("tx"), 0, (-1, -1)));
        assert_eq!(timeout.unwrap().int("error_code"), INVALID_TRANSACTION_TIMEOUT as _, "InitProducerId v{v}");
        if v >= 3 {
            // A producer that names an id and epoch "tx" never had: fenced.
            let fenced = h.call("InitProducerId", v, |w| init_producer_id_body(w, v, Some("tx"), 60_000, (1 << 40, 7)));
            let expected = if v >= 4 { PRODUCER_FENCED } else { INVALID_PRODUCER_EPOCH };
            assert_eq!(fenced.unwrap().ints("error_code"), [expected], "InitProducerId v{v}");
        }
    });
}

// ---- the group coordinator's APIs -----------------------------------------------------------

fn find_coordinator(h: &mut Harness) {
    h.each_version("FindCoordinator", |h, v, f| {
        // key_type 0: a group; 1: a transactional id (this broker coordinates them too); 5: no such type.
        for key_type in if v == 0 { vec![0] } else { vec![0, 1, 5] } {
            h.call("FindCoordinator", v, |w| {
                w.when(v <= 3, |w| w.string_v("key", "group-a", f));
                w.when(v >= 1, |w| w.i8("key_type", key_type));
                w.when(v >= 4, |w| w.array_v("coordinator_keys", f, &["a", "b"], |w, k| w.string_v("key", k, f)));
                w.tagged_fields_v(f);
            });
        }
    });
}

fn join_body(w: &mut Writer, v: i16, group: &str, member_id: &str, instance: Option<&str>, session_ms: i32) {
    let f = flexible("JoinGroup", v);
    w.string_v("group_id", group, f);
    w.i32("session_timeout_ms", session_ms);
    w.when(v >= 1, |w| w.i32("rebalance_timeout_ms", 30_000));
    w.string_v("member_id", member_id, f);
    w.when(v >= 5, |w| w.nullable_string_v("group_instance_id", instance, f));
    w.string_v("protocol_type", "consumer", f);
    w.structs("protocols", f, PROTOCOLS, |w, (name, metadata)| {
        w.string_v("name", name, f);
        w.bytes_v("metadata", metadata, f);
    });
    w.when(v >= 8, |w| w.nullable_string_v("reason", Some("tracing"), f));
    w.tagged_fields_v(f);
}

/// Joins `group` as its only member with JoinGroup `v` (from v4 through MEMBER_ID_REQUIRED):
/// `(member_id, generation_id)`.
fn join(h: &mut Harness, v: i16, group: &str, instance: Option<&str>) -> (String, i32) {
    let mut answer = h.call("JoinGroup", v, |w| join_body(w, v, group, "", instance, 30_000)).unwrap();
    if answer.int("error_code") == MEMBER_ID_REQUIRED {
        let id = answer.text("member_id");
        answer = h.call("JoinGroup", v, |w| join_body(w, v, group, &id, instance, 30_000)).unwrap();
    }
    assert_eq!(answer.int("error_code"), 0, "JoinGroup v{v} to {group}");
    (answer.text("member_id"), answer.int("generation_id") as i32)
}

/// SyncGroup `v` for `member_id`, as the leader: the assignment is for itself.
fn sync(h: &mut Harness, v: i16, group: &str, member_id: &str, generation: i32) {
    let f = flexible("SyncGroup", v);
    h.call("SyncGroup", v, |w| {
        w.string_v("group_id", group, f);
        w.i32("generation_id", generation);
        w.string_v("member_id", member_id, f);
        w.when(v >= 3, |w| w.nullable_string_v("group_instance_id", None, f));
        w.when(v >= 5, |w| {
            w.nullable_string_v("protocol_type", Some("consumer"), f);
            w.nullable_string_v("protocol_name", Some("range"), f);
        });
        w.structs("assignments", f, &[(member_id, b"\x00\x01apple-0")], |w, (member, assignment)| {
            w.string_v("member_id", member, f);
            w.bytes_v("assignment", *assignment, f);
        });
        w.tagged_fields_v(f);
    });
}

/// A Stable group whose one member joined and synced (with the newest versions).
fn stable_group(h: &mut Harness, group: &str, instance: Option<&str>) -> (String, i32) {
    let (member_id, generation) = join(h, spec("JoinGroup").max, group, instance);
    sync(h, spec("SyncGroup").max, group, &member_id, generation);
    (member_id, generation)
}

fn join_group(h: &mut Harness) {
    h.each_version("JoinGroup", |h, v, _| {
        let group = format!("join-{v}");
        let (member_id, generation) = join(h, v, &group, None);
        sync(h, spec("SyncGroup").max, &group, &member_id, generation);
        // The leader rejoins a Stable group: a new generation, and the members again.
        h.call("JoinGroup", v, |w| join_body(w, v, &group, &member_id, None, 30_000));
        h.call("JoinGroup", v, |w| join_body(w, v, "no-such-group", "ghost", None, 30_000));
        h.call("JoinGroup", v, |w| join_body(w, v, &group, "", None, 10)); // session timeout too short
        if v >= 5 {
            join(h, v, &format!("join-static-{v}"), Some("instance-j")); // a group_instance_id
        }
    });
}

fn sync_group(h: &mut Harness) {
    h.each_version("SyncGroup", |h, v, _| {
        let group = format!("sync-{v}");
        let (member_id, generation) = join(h, spec("JoinGroup").max, &group, None);
        sync(h, v, &group, &member_id, generation);
        sync(h, v, &group, &member_id, generation + 5); // a generation that never was
        sync(h, v, "no-such-group", "ghost", 1);
    });
}

fn heartbeat(h: &mut Harness) {
    h.each_version("Heartbeat", |h, v, f| {
        let group = format!("heartbeat-{v}");
        let (member, generation) = stable_group(h, &group, None);
        for (group, member, generation) in [(&*group, &*member, generation), (&*group, &*member, 9), ("none", "x", 1)] {
            h.call("Heartbeat", v, |w| {
                w.string_v("group_id", group, f);
                w.i32("generation_id", generation);
                w.string_v("member_id", member, f);
                w.when(v >= 3, |w| w.nullable_string_v("group_instance_id", None, f));
                w.tagged_fields_v(f);
            });
        }
    });
}

/// Offsets to commit, per topic: (partition, offset, metadata).
type Offsets<'a> = [(&'a str, &'a [(i32, i64, Option<&'a str>)])];

fn commit(h: &mut Harness, v: i16, group: &str, member: &str, generation: i32, topics: &Offsets) {
    let f = flexible("OffsetCommit", v);
    h.call("OffsetCommit", v, |w| {
        w.string_v("group_id", group, f);
        w.i32("generation_id", generation);
        w.string_v("member_id", member, f);
        w.when(v >= 7, |w| w.nullable_string_v("group_instance_id", None, f));
        w.when(v <= 4, |w| w.i64("retention_time_ms", -1));
        w.structs("topics", f, topics, |w, (name, partitions)| {
            w.string_v("name", name, f);
            w.structs("partitions", f, partitions, |w, &(index, offset, metadata)| {
                w.i32("partition_index", index);
                w.i64("committed_offset", offset);
                w.when(v >= 6, |w| w.i32("committed_leader_epoch", -1));
                w.nullable_string_v("committed_metadata", metadata, f);
            });
        });
        w.tagged_fields_v(f);
    });
}

fn offset_commit(h: &mut Harness) {
    let offsets: &Offsets = &[("apple", &[(0, 2, Some("m")), (1, 1, None), (9, 1, None)]), (MISSING, &[(0, 5, None)])];
    h.each_version("OffsetCommit", |h, v, _| {
        let group = format!("commit-{v}");
        let (member_id, generation) = stable_group(h, &group, None);
        commit(h, v, &group, &member_id, generation, offsets);
        commit(h, v, &group, &member_id, generation + 1, offsets); // illegal generation
        commit(h, v, "offsets", "", -1, offsets); // a consumer that assigns itself partitions
        commit(h, v, "", "", -1, offsets); // invalid group id
    });
}

fn offset_fetch(h: &mut Harness) {
    let some: Asked = Some(&[("apple", &[0, 1, 5]), (MISSING, &[0])]);
    h.each_version("OffsetFetch", |h, v, _| {
        let mut groups = vec![("offsets", some), ("", some), ("no-such-group", some)];
        if v >= 2 {
            groups.push(("offsets", None));
        }
        if v >= 8 {
            h.call("OffsetFetch", v, |w| offset_fetch_body(w, v, &groups, true));
            return;
        }
        for group in &groups {
            h.call("OffsetFetch", v, |w| offset_fetch_body(w, v, std::slice::from_ref(group), true));
        }
    });
}

fn describe_groups(h: &mut Harness) {
    stable_group(h, "described", Some("instance-d"));
    h.each_version("DescribeGroups", |h, v, f| {
        h.call("DescribeGroups", v, |w| {
            // Stable, CompletingRebalance (after its leader rejoined), Dead, and an invalid id.
            let groups = ["described", "join-0", "no-such-group", ""];
            w.array_v("groups", f, &groups, |w, g| w.string_v("group", g, f));
            w.when(v >= 3, |w| w.bool("include_authorized_operations", v % 2 == 1));
            w.tagged_fields_v(f);
        });
    });
}

fn list_groups(h: &mut Harness) {
    h.each_version("ListGroups", |h, v, f| {
        let filters: &[&[&str]] = if v >= 4 { &[&[], &["stable", "Empty"], &["Dead"]] } else { &[&[]] };
        for states in filters {
            h.call("ListGroups", v, |w| {
                w.when(v >= 4, |w| w.array_v("states_filter", f, states, |w, s| w.string_v("state", s, f)));
                w.tagged_fields_v(f);
            });
        }
    });
}

/// LeaveGroup for `members` as (member_id, group_instance_id); before v3 only the first one.
fn leave_body(w: &mut Writer, v: i16, group: &str, members: &[(&str, Option<&str>)]) {
    let f = flexible("LeaveGroup", v);
    w.string_v("group_id", group, f);
    if v <= 2 {
        w.string_v("member_id", members[0].0, f);
    } else {
        w.structs("members", f, members, |w, (member, instance)| {
            w.string_v("member_id", member, f);
            w.nullable_string_v("group_instance_id", *instance, f);
            w.when(v >= 5, |w| w.nullable_string_v("reason", Some("done"), f));
        });
    }
    w.tagged_fields_v(f);
}

fn leave_group(h: &mut Harness) {
    h.each_version("LeaveGroup", |h, v, _| {
        let group = format!("leave-{v}");
        let (member_id, _) = stable_group(h, &group, None);
        let members = [(member_id.as_str(), None), ("ghost", None), ("", Some("nobody"))];
        h.call("LeaveGroup", v, |w| leave_body(w, v, &group, &members));
        h.call("LeaveGroup", v, |w| leave_body(w, v, "no-such-group", &members[1..]));
        h.call("LeaveGroup", v, |w| leave_body(w, v, "", &members[1..]));
    });
}

fn delete_groups(h: &mut Harness) {
    h.each_version("DeleteGroups", |h, v, f| {
        // Empty since its member left; with a member; unknown; invalid.
        let groups = [format!("leave-{v}"), "described".into(), "no-such-group".into(), String::new()];
        h.call("DeleteGroups", v, |w| {
            w.array_v("groups_names", f, &groups, |w, g| w.string_v("group_name", g, f));
            w.tagged_fields_v(f);
        });
    });
}

// ---- the transaction coordinator's APIs -----------------------------------------------------

/// A transactional producer: (transactional id, producer id, epoch).
type Producer = (String, i64, i16);

/// InitProducerId (newest version) for `id`: its producer, with a new epoch.
fn init_transactional(h: &mut Harness, id: &str) -> Producer {
    let v = spec("InitProducerId").max;
    let answer = h.call("InitProducerId", v, |w| init_producer_id_body(w, v, Some(id), 60_000, (-1, -1))).unwrap();
    assert_eq!(answer.int("error_code"), 0, "InitProducerId for {id}");
    (id.to_string(), answer.int("producer_id"), answer.int("producer_epoch") as i16)
}

/// The fields AddPartitionsToTxn, AddOffsetsToTxn and EndTxn begin with.
fn txn_producer(w: &mut Writer, f: bool, (id, producer_id, epoch): &Producer) {
    w.string_v("transactional_id", id, f);
    w.i64("producer_id", *producer_id);
    w.i16("producer_epoch", *epoch);
}

/// AddPartitionsToTxn `v` for `topics` as (name, partitions): the partitions' error codes.
fn add_partitions(h: &mut Harness, v: i16, p: &Producer, topics: &[(&str, &[i32])]) -> Vec<i64> {
    let f = flexible("AddPartitionsToTxn", v);
    let answer = h.call("AddPartitionsToTxn", v, |w| {
        txn_producer(w, f, p);
        w.structs("topics", f, topics, |w, (name, partitions)| {
            w.string_v("name", name, f);
            w.array_v("partitions", f, partitions, |w, p| w.i32("partition", *p));
        });
        w.tagged_fields_v(f);
    });
    answer.unwrap().ints("partition_error_code")
}

/// AddOffsetsToTxn `v` for `group`: the error code.
fn add_offsets(h: &mut Harness, v: i16, p: &Producer, group: &str) -> i64 {
    let f = flexible("AddOffsetsToTxn", v);
    let answer = h.call("AddOffsetsToTxn", v, |w| {
        txn_producer(w, f, p);
        w.string_v("group_id", group, f);
        w.tagged_fields_v(f);
    });
    answer.unwrap().int("error_code")
}

/// EndTxn `v`, committing or aborting: the error code.
fn end(h: &mut Harness, v: i16, p: &Producer, commit: bool) -> i64 {
    let f = flexible("EndTxn", v);
    let answer = h.call("EndTxn", v, |w| {
        txn_producer(w, f, p);
        w.bool("committed", commit);
        w.tagged_fields_v(f);
    });
    answer.unwrap().int("error_code")
}

/// TxnOffsetCommit `v` of `offsets` for `group`, by `member` as (member id, generation) (v3+):
/// the partitions' error codes.
fn txn_commit(h: &mut Harness, v: i16, p: &Producer, group: &str, member: (&str, i32), offsets: &Offsets) -> Vec<i64> {
    let f = flexible("TxnOffsetCommit", v);
    let (id, producer_id, epoch) = p;
    let answer = h.call("TxnOffsetCommit", v, |w| {
        w.string_v("transactional_id", id, f);
        w.string_v("group_id", group, f);
        w.i64("producer_id", *producer_id);
        w.i16("producer_epoch", *epoch);
        w.when(v >= 3, |w| {
            w.i32("generation_id", member.1);
            w.string_v("member_id", member.0, f);
            w.nullable_string_v("group_instance_id", None, f);
        });
        w.structs("topics", f, offsets, |w, (name, partitions)| {
            w.string_v("name", name, f);
            w.structs("partitions", f, partitions, |w, &(index, offset, metadata)| {
                w.i32("partition_index", index);
                w.i64("committed_offset", offset);
                w.when(v >= 2, |w| w.i32("committed_leader_epoch", -1));
                w.nullable_string_v("committed_metadata", metadata, f);
            });
        });
        w.tagged_fields_v(f);
    });
    answer.unwrap().ints("error_code")
}

/// A transactional producer's batch of `values`: `batch::build`'s, flagged transactional
/// (attributes bit 4) and carrying the producer's id, epoch and first sequence; its CRC again.
fn transactional_batch((_, producer_id, epoch): &Producer, sequence: i32, values: &[Vec<u8>]) -> Vec<u8> {
    let mut b = batch::build(0, 1_700_000_000_000, values);
    b[21..23].copy_from_slice(&0x10i16.to_be_bytes()); // attributes
    b[43..51].copy_from_slice(&producer_id.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&sequence.to_be_bytes()); // base_sequence
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Produces (Produce `v`) a transactional batch of two records to `topic`/`partition`.
fn produce_transactional(h: &mut Harness, v: i16, p: &Producer, sequence: i32, (topic, partition): (&str, i32)) {
    let records = transactional_batch(p, sequence, &[format!("{} {sequence}", p.0).into_bytes(), b"more".to_vec()]);
    let f = flexible("Produce", v);
    h.call("Produce", v, |w| produce_body(w, f, Some(&p.0), -1, &[(topic, vec![(partition, Some(records))])]));
}

/// The producer a second InitProducerId fenced, and the one it made: (fenced, current).
fn fenced_pair(h: &mut Harness, id: &str) -> (Producer, Producer) {
    let old = init_transactional(h, id);
    let new = init_transactional(h, id);
    assert_eq!((old.1, old.2 + 1), (new.1, new.2), "{id}: the same producer id, the next epoch");
    (old, new)
}

/// What a fenced producer is told at version `v` of an API that knows PRODUCER_FENCED from v2.
fn fenced(v: i16) -> i64 {
    if v >= 2 { PRODUCER_FENCED } else { INVALID_PRODUCER_EPOCH }
}

fn add_partitions_to_txn(h: &mut Harness) {
    h.each_version("AddPartitionsToTxn", |h, v, _| {
        let (old, p) = fenced_pair(h, &format!("add-partitions-{v}"));
        assert_eq!(add_partitions(h, v, &p, &[("apple", &[0, 1]), ("txn", &[1])]), [0, 0, 0], "v{v}");
        // All or nothing: the partitions that exist are not attempted.
        let unknown = add_partitions(h, v, &p, &[("apple", &[0]), (MISSING, &[0, 1]), ("txn", &[7])]);
        let expected = [OPERATION_NOT_ATTEMPTED, UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_OR_PARTITION];
        assert_eq!(unknown, [&expected[..], &[UNKNOWN_TOPIC_OR_PARTITION]].concat(), "v{v}");
        assert_eq!(add_partitions(h, v, &old, &[("apple", &[0])]), [fenced(v)], "v{v}");
        let stranger = ("no-such-transaction".to_string(), p.1, p.2);
        assert_eq!(add_partitions(h, v, &stranger, &[("apple", &[0])]), [INVALID_PRODUCER_ID_MAPPING], "v{v}");
        add_partitions(h, v, &p, &[]);
        assert_eq!(end(h, spec("EndTxn").max, &p, false), 0);
    });
}

fn add_offsets_to_txn(h: &mut Harness) {
    h.each_version("AddOffsetsToTxn", |h, v, _| {
        let (old, p) = fenced_pair(h, &format!("add-offsets-{v}"));
        assert_eq!(add_offsets(h, v, &p, "offsets"), 0, "v{v}");
        assert_eq!(add_offsets(h, v, &p, ""), INVALID_GROUP_ID, "v{v}");
        assert_eq!(add_offsets(h, v, &old, "offsets"), fenced(v), "v{v}");
        let stranger = ("no-such-transaction".to_string(), p.1, p.2);
        assert_eq!(add_offsets(h, v, &stranger, "offsets"), INVALID_PRODUCER_ID_MAPPING, "v{v}");
        assert_eq!(end(h, spec("EndTxn").max, &p, false), 0);
    });
}

fn txn_offset_commit(h: &mut Harness) {
    let offsets: &Offsets =
        &[("apple", &[(0, 1, Some("txn")), (1, 1, None), (9, 1, None)]), (MISSING, &[(0, 5, None)])];
    let no_member = ("", -1);
    h.each_version("TxnOffsetCommit", |h, v, _| {
        let (old, p) = fenced_pair(h, &format!("txn-offsets-{v}"));
        // Before AddOffsetsToTxn: the transaction does not commit the group's offsets.
        let unknown = UNKNOWN_TOPIC_OR_PARTITION;
        let not_added = txn_commit(h, v, &p, "offsets", no_member, offsets);
        assert_eq!(not_added, [INVALID_TXN_STATE, INVALID_TXN_STATE, unknown, unknown], "v{v}");
        assert_eq!(add_offsets(h, spec("AddOffsetsToTxn").max, &p, "offsets"), 0);
        assert_eq!(txn_commit(h, v, &p, "offsets", no_member, offsets), [0, 0, unknown, unknown], "v{v}");
        let invalid = txn_commit(h, v, &p, "", no_member, &offsets[..1]);
        assert_eq!(invalid, [INVALID_GROUP_ID, INVALID_GROUP_ID, unknown], "v{v}");
        assert_eq!(txn_commit(h, v, &old, "offsets", no_member, &offsets[..1])[0], fenced(v), "v{v}");
        if v >= 3 {
            txn_commit(h, v, &p, "offsets", ("ghost", 5), &offsets[..1]); // a member the group lacks
        }
        // Even versions commit, odd ones abort: the offsets become the group's, or are dropped.
        assert_eq!(end(h, spec("EndTxn").max, &p, v % 2 == 0), 0);
    });
}

fn end_txn(h: &mut Harness) {
    h.each_version("EndTxn", |h, v, _| {
        let (old, p) = fenced_pair(h, &format!("end-{v}"));
        // Even versions commit, odd ones abort.
        let commit = v % 2 == 0;
        assert_eq!(end(h, v, &p, commit), INVALID_TXN_STATE, "v{v}: no transaction is open");
        assert_eq!(add_partitions(h, spec("AddPartitionsToTxn").max, &p, &[("txn", &[1])]), [0]);
        produce_transactional(h, spec("Produce").max, &p, 0, ("txn", 1));
        assert_eq!(end(h, v, &p, commit), 0, "v{v}");
        assert_eq!(end(h, v, &p, commit), 0, "v{v}: a retry of the same end");
        assert_eq!(end(h, v, &p, !commit), INVALID_TXN_STATE, "v{v}: the other end");
        assert_eq!(end(h, v, &old, commit), fenced(v), "v{v}");
        let stranger = ("no-such-transaction".to_string(), p.1, p.2);
        assert_eq!(end(h, v, &stranger, commit), INVALID_PRODUCER_ID_MAPPING, "v{v}");
    });
}

/// Topics of an OffsetFetch: (name, partitions), or `None` for every committed partition (v2+).
type Asked<'a> = Option<&'a [(&'a str, &'a [i32])]>;

/// An OffsetFetch request for `groups` (v8+; before it, for the first alone).
fn offset_fetch_body(w: &mut Writer, v: i16, groups: &[(&str, Asked)], require_stable: bool) {
    let f = flexible("OffsetFetch", v);
    let topics = |w: &mut Writer, topics: Asked| match topics {
        None => w.null_array_v("topics", f),
        Some(topics) => w.structs("topics", f, topics, |w, (name, partitions)| {
            w.string_v("name", name, f);
            w.array_v("partition_indexes", f, partitions, |w, p| w.i32("partition_index", *p));
        }),
    };
    if v >= 8 {
        w.structs("groups", f, groups, |w, (group, asked)| {
            w.string_v("group_id", group, f);
            topics(w, *asked);
        });
    } else {
        let (group, asked) = groups[0];
        w.string_v("group_id", group, f);
        topics(w, asked);
    }
    w.when(v >= 7, |w| w.bool("require_stable", require_stable));
    w.tagged_fields_v(f);
}

/// What consumers see of transactions: two aborted around a committed one and one left open in
/// txn/0, read with read_committed (Fetch, with its aborted transactions; ListOffsets' latest,
/// the last stable offset), and offsets an open transaction holds (OffsetFetch's require_stable).
fn read_committed(h: &mut Harness) {
    let (produce, add, end_v) = (spec("Produce").max, spec("AddPartitionsToTxn").max, spec("EndTxn").max);
    for (id, commit) in [("aborted-1", false), ("committed", true), ("aborted-2", false)] {
        let p = init_transactional(h, id);
        assert_eq!(add_partitions(h, add, &p, &[("txn", &[0])]), [0]);
        produce_transactional(h, produce, &p, 0, ("txn", 0));
        assert_eq!(end(h, end_v, &p, commit), 0);
    }
    let open = init_transactional(h, "open");
    assert_eq!(add_partitions(h, add, &open, &[("txn", &[0])]), [0]);
    let stable = h.broker.log.partition("txn", 0).unwrap().high_watermark();
    // The open transaction writes at every Produce version.
    let mut sequence = 0;
    h.each_version("Produce", |h, v, _| {
        produce_transactional(h, v, &open, sequence, ("txn", 0));
        sequence += 2;
    });
    produce_transactional(h, produce, &open, sequence, ("txn", 1)); // a partition it did not add
    let partition = h.broker.log.partition("txn", 0).unwrap();
    assert_eq!(partition.last_stable_offset(), stable, "the open transaction's first offset");
    assert_eq!(partition.high_watermark(), stable + i64::from(sequence), "every transactional batch stored");

    let txn = ("txn", h.broker.log.topic("txn").unwrap().id);
    let topics = [(txn, vec![(0, 0), (1, 0), (0, stable)])];
    h.each_version("Fetch", |h, v, f| {
        let answer = h.call("Fetch", v, |w| fetch_body(w, v, f, 0, 1, &topics)).unwrap();
        assert_eq!(answer.ints("last_stable_offset")[0], stable, "Fetch v{v}");
        // txn/0's two, and txn/1's from EndTxn's odd versions.
        assert!(answer.elements("aborted_transactions") >= 2, "Fetch v{v}: the aborted transactions are named");
    });
    h.each_version("ListOffsets", |h, v, _| {
        let asks: [(&str, &[(i32, i64)]); 1] = [("txn", &[(0, -1), (0, -2), (1, -1)])];
        let answer = h.call("ListOffsets", v, |w| list_offsets_body(w, v, 1, &asks)).unwrap();
        if v >= 2 {
            assert_eq!(answer.ints("offset")[0], stable, "ListOffsets v{v}: read_committed's latest");
        }
    });

    // Offsets held by an open transaction are unstable for a consumer that requires stable ones.
    let pending = init_transactional(h, "pending-offsets");
    assert_eq!(add_offsets(h, spec("AddOffsetsToTxn").max, &pending, "offsets"), 0);
    let offsets: &Offsets = &[("apple", &[(0, 2, None), (1, 2, Some("pending"))])];
    assert_eq!(txn_commit(h, spec("TxnOffsetCommit").max, &pending, "offsets", ("", -1), offsets), [0, 0]);
    let asked: Asked = Some(&[("apple", &[0, 1, 5])]);
    h.each_version("OffsetFetch", |h, v, _| {
        for require_stable in [true, false] {
            let answer = h.call("OffsetFetch", v, |w| offset_fetch_body(w, v, &[("offsets", asked)], require_stable));
            let codes = answer.unwrap().ints("error_code");
            let unstable = if v >= 7 && require_stable { UNSTABLE_OFFSET_COMMIT } else { 0 };
            assert_eq!(codes[..2], [unstable, unstable], "OffsetFetch v{v} require_stable {require_stable}");
        }
    });
}

fn describe_transactions(h: &mut Harness) {
    // Open, committed, aborted, open with offsets, ended by a timeout of none; unknown; twice.
    let ids = ["open", "committed", "aborted-1", "pending-offsets", "tx", "no-such-transaction", "open"];
    for ids in [&ids[..], &[]] {
        let answer = h
            .call("DescribeTransactions", 0, |w| {
                w.array_v("transactional_ids", true, ids, |w, id| w.string_v("transactional_id", id, true));
                w.tagged_fields_v(true);
            })
            .unwrap();
        let codes = answer.ints("error_code");
        if !ids.is_empty() {
            assert_eq!(codes, [0, 0, 0, 0, 0, TRANSACTIONAL_ID_NOT_FOUND], "one state per id, once");
            assert_eq!(answer.elements("topics"), 1, "the open transaction's partitions");
        }
    }
}

fn list_transactions(h: &mut Harness) {
    let open = h.broker.transactions.describe("open").unwrap().producer_id;
    let filters: [(&[&str], &[i64]); 5] = [
        (&[], &[]),
        (&["Ongoing", "Bogus"], &[]),
        (&["Bogus"], &[]),
        (&[], &[open, 1 << 40]),
        (&["CompleteCommit", "CompleteAbort"], &[]),
    ];
    h.each_version("ListTransactions", |h, v, _| {
        for (states, producer_ids) in filters {
            let answer = h
                .call("ListTransactions", v, |w| {
                    w.array_v("state_filters", true, states, |w, s| w.string_v("state_filter", s, true));
                    w.array_v("producer_id_filters", true, producer_ids, |w, id| w.i64("producer_id_filter", *id));
                    w.when(v >= 1, |w| w.i64("duration_filter", if states.contains(&"Ongoing") { 0 } else { -1 }));
                    w.tagged_fields_v(true);
                })
                .unwrap();
            let listed = answer.elements("transaction_states");
            match (states, producer_ids) {
                (["Bogus"], _) => assert_eq!((listed, answer.elements("unknown_state_filters")), (0, 1)),
                ([], [_, _]) => assert_eq!(answer.ints("producer_id"), [open], "ListTransactions v{v}"),
                _ => assert!(listed >= 2, "ListTransactions v{v} {states:?}: {listed} listed"),
            }
        }
    });
}
