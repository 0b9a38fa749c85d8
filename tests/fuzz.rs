//! The fuzzer (issue 11): generated and mutated request frames, for every API at every version,
//! at two levels:
//!
//! 1. **Handler level**, in process: each frame goes to `server::handle_frame` of a broker with a
//!    log dir, under `catch_unwind`, so a panic is caught, counted and shown with its frame. One
//!    frame in ten is handled with trace logging on (to a logger that drops the lines), so the
//!    field trees of requests and responses are built from fuzzed bytes too.
//! 2. **Connection level**: then the broker binary is started on the log dir the first level
//!    left (it must load whatever millions of fuzzed requests made of it) and clients send it
//!    size-prefixed frames, some with a wrong size, over loopback: answered, closed or waited on,
//!    a client reconnects and goes on. A prober asks ApiVersions all along to time how soon a
//!    fresh request is served. The broker's stderr is searched for panics; its death is an abort.
//!
//! The seeds are requests built by `kafka-protocol` (independent of our encoder) for every API
//! and version the broker advertises (and, for the APIs transactions change, a transactional
//! variant: a transactional id, a transactional batch, read_committed, require_stable), the stage
//! fixtures and the frames captured from real clients. The transactional seeds name a producer the
//! broker really has, so that they reach past the fencing checks into the transaction's states.
//! Mutations flip bits, set extreme values, cut, insert, repeat and splice bytes, and change the
//! API version; one frame in twenty is generated from scratch. Everything is deterministic for a
//! seed, so a failure reproduces.
//!
//! `cargo test --test fuzz` runs a short round; `scripts/fuzz.sh [FRAMES]` a long one
//! (`FUZZ_FRAMES`, `FUZZ_SEED`). It fails on any panic, abort, stall (a request waiting over
//! 2 s for its answer, in process, or the prober waiting that long) or growth of resident memory
//! past 256 MiB.

mod common;
mod oracle;

use bytes::{Bytes, BytesMut};
use common::XorShift;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion};
use mini_kafka::broker::Broker;
use mini_kafka::config::Config;
use mini_kafka::server::handle_frame;
use mini_kafka::wire::SharedBytes;
use oracle::{batch, s, topic_name, transactional_batch};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames in the short round `cargo test` runs.
const SHORT_ROUND: u64 = 120_000;
const STALL: Duration = Duration::from_secs(2);
const MAX_RSS_GROWTH: u64 = 256 << 20;
/// The broker's configuration: few partitions, so fuzzed CreateTopics stay quick.
const PROPERTIES: &str = "max.partitions=400\nnum.partitions=2\ngroup.initial.rebalance.delay.ms=0\n";

fn main() {
    let frames = std::env::var("FUZZ_FRAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(SHORT_ROUND);
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15);
    // A tenth of the frames over sockets: each costs a round trip, not a function call.
    let over_sockets = frames / 10;
    let dir = common::TempDir::new("fuzz");
    let started = Instant::now();
    println!("fuzz: {frames} frames, seed {seed}, log dir {}", dir.path().display());
    let handler = handler_level(dir.path(), frames - over_sockets, seed);
    handler.print("handler level");
    let connection = connection_level(dir.path(), over_sockets, seed);
    connection.print("connection level");
    println!("fuzz: {:.1} s in all", started.elapsed().as_secs_f64());
    let problems = handler.problems() + connection.problems();
    if problems > 0 {
        println!("fuzz: FAILED ({problems} problems)");
        // The line scripts/test.sh counts, as libtest prints it.
        println!("test result: FAILED. 0 passed; 1 failed; 0 ignored");
        std::process::exit(1);
    }
    println!("test result: ok. 1 passed; 0 failed; 0 ignored");
}

/// What a level saw.
#[derive(Default)]
struct Report {
    frames: u64,
    answered: u64,
    closed: u64,
    /// Requests still waiting when the client gave up on them (connection level).
    waited: u64,
    panics: Vec<String>,
    aborted: Option<String>,
    stalls: Vec<String>,
    rss_growth: u64,
    slowest: Duration,
    seconds: f64,
}

impl Report {
    fn problems(&self) -> usize {
        self.panics.len()
            + self.aborted.iter().count()
            + self.stalls.len()
            + usize::from(self.rss_growth > MAX_RSS_GROWTH)
    }

    fn print(&self, level: &str) {
        println!(
            "{level}: {} frames in {:.1} s ({:.0}/s): {} answered, {} closed, {} waited on; {} panics, {} stalls, \
             slowest {:?}, RSS +{} MiB{}",
            self.frames,
            self.seconds,
            self.frames as f64 / self.seconds.max(1e-9),
            self.answered,
            self.closed,
            self.waited,
            self.panics.len(),
            self.stalls.len(),
            self.slowest,
            self.rss_growth >> 20,
            self.aborted.as_ref().map_or(String::new(), |a| format!("; ABORTED: {a}")),
        );
        for problem in self.panics.iter().chain(&self.stalls).take(10) {
            println!("  {problem}");
        }
    }
}

// ---- seeds ------------------------------------------------------------------------------------

/// Header and body of a request (no size prefix), or `None` if `kafka-protocol` cannot encode
/// `request` at `version` (a field set that the version does not have).
fn encode<R: Encodable + HeaderVersion>(api_key: i16, version: i16, request: &R) -> Option<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(s("fuzz")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(version)).ok()?;
    request.encode(&mut buf, version).ok()?;
    Some(buf.to_vec())
}

/// The first of the candidate requests that encodes at `version`.
macro_rules! first_encoding {
    ($key:expr, $version:expr, $($request:expr),+ $(,)?) => {
        None$(.or_else(|| encode($key, $version, &$request)))+
    };
}

const TOPIC: &str = "fuzz";
const GROUP: &str = "fuzz-group";
/// The transactional id whose producer (id and epoch) the seeds name.
const TXN: &str = "fuzz-txn";
/// The transactional id InitProducerId's seeds bump: another, so that TXN's epoch stays current.
const TXN_INIT: &str = "fuzz-txn-init";

/// What the seeds name of the fuzzed broker's state.
#[derive(Clone, Copy)]
struct Known {
    topic_id: uuid::Uuid,
    /// TXN's producer id and epoch.
    producer: (i64, i16),
}

/// One request of each API, at `version`, about the topic, group and transactional id the fuzzed
/// broker has.
fn request(key: i16, v: i16, known: Known) -> Option<Vec<u8>> {
    let (topic_id, (producer_id, producer_epoch)) = (known.topic_id, known.producer);
    let group = || GroupId(s(GROUP));
    let txn = || TransactionalId(s(TXN));
    match key {
        0 => first_encoding!(
            0,
            v,
            ProduceRequest::default().with_acks(-1).with_timeout_ms(1000).with_topic_data(vec![
                TopicProduceData::default().with_name(topic_name(TOPIC)).with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch(&[("k", "v"), ("k2", "")], 0))),
                ]),
            ])
        ),
        1 => {
            let partition = FetchPartition::default().with_partition(0).with_partition_max_bytes(1 << 20);
            let topic = FetchTopic::default().with_partitions(vec![partition]);
            let fetch = |topic: FetchTopic| {
                FetchRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_max_wait_ms(0)
                    .with_min_bytes(0)
                    .with_max_bytes(1 << 20)
                    .with_topics(vec![topic])
            };
            first_encoding!(
                1,
                v,
                fetch(topic.clone().with_topic(topic_name(TOPIC))),
                fetch(topic.with_topic_id(topic_id))
            )
        }
        2 => first_encoding!(
            2,
            v,
            ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic_name(TOPIC))
                    .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)]),
            ])
        ),
        3 => first_encoding!(
            3,
            v,
            MetadataRequest::default()
                .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name(TOPIC)))]))
        ),
        8 => first_encoding!(
            8,
            v,
            OffsetCommitRequest::default().with_group_id(group()).with_generation_id_or_member_epoch(-1).with_topics(
                vec![OffsetCommitRequestTopic::default().with_name(topic_name(TOPIC)).with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(5)
                        .with_committed_metadata(Some(s("m"))),
                ])]
            )
        ),
        9 => first_encoding!(
            9,
            v,
            OffsetFetchRequest::default().with_group_id(group()).with_topics(Some(vec![
                OffsetFetchRequestTopic::default().with_name(topic_name(TOPIC)).with_partition_indexes(vec![0, 1]),
            ])),
            OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default().with_group_id(group()).with_topics(Some(vec![
                    OffsetFetchRequestTopics::default().with_name(topic_name(TOPIC)).with_partition_indexes(vec![0]),
                ]))
            ])
        ),
        10 => first_encoding!(
            10,
            v,
            FindCoordinatorRequest::default().with_key(s(GROUP)),
            FindCoordinatorRequest::default().with_coordinator_keys(vec![s(GROUP)])
        ),
        11 => {
            let join = JoinGroupRequest::default()
                .with_group_id(group())
                .with_session_timeout_ms(10_000)
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![
                    JoinGroupRequestProtocol::default().with_name(s("range")).with_metadata(Bytes::from_static(b"m")),
                ]);
            first_encoding!(11, v, join.clone().with_rebalance_timeout_ms(10_000), join)
        }
        12 => first_encoding!(
            12,
            v,
            HeartbeatRequest::default().with_group_id(group()).with_generation_id(1).with_member_id(s("m"))
        ),
        13 => first_encoding!(
            13,
            v,
            LeaveGroupRequest::default().with_group_id(group()).with_member_id(s("m")),
            LeaveGroupRequest::default()
                .with_group_id(group())
                .with_members(vec![MemberIdentity::default().with_member_id(s("m"))])
        ),
        14 => {
            let sync = SyncGroupRequest::default()
                .with_group_id(group())
                .with_generation_id(1)
                .with_member_id(s("m"))
                .with_assignments(vec![
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s("m"))
                        .with_assignment(Bytes::from_static(b"\x00\x01")),
                ]);
            first_encoding!(14, v, sync.clone().with_protocol_type(Some(s("consumer"))), sync)
        }
        15 => first_encoding!(15, v, DescribeGroupsRequest::default().with_groups(vec![group()])),
        16 => first_encoding!(16, v, ListGroupsRequest::default()),
        18 => first_encoding!(
            18,
            v,
            ApiVersionsRequest::default().with_client_software_name(s("fuzz")).with_client_software_version(s("1")),
            ApiVersionsRequest::default()
        ),
        19 => first_encoding!(
            19,
            v,
            CreateTopicsRequest::default().with_timeout_ms(5000).with_topics(vec![
                CreatableTopic::default()
                    .with_name(topic_name("fuzz-new"))
                    .with_num_partitions(2)
                    .with_replication_factor(1)
                    .with_configs(vec![
                        CreatableTopicConfig::default().with_name(s("retention.ms")).with_value(Some(s("1000"))),
                    ]),
            ])
        ),
        20 => first_encoding!(
            20,
            v,
            DeleteTopicsRequest::default().with_topic_names(vec![topic_name("fuzz-new")]),
            DeleteTopicsRequest::default()
                .with_topics(vec![DeleteTopicState::default().with_name(Some(topic_name("fuzz-new")))])
        ),
        21 => first_encoding!(
            21,
            v,
            DeleteRecordsRequest::default().with_timeout_ms(1000).with_topics(vec![
                DeleteRecordsTopic::default()
                    .with_name(topic_name(TOPIC))
                    .with_partitions(vec![DeleteRecordsPartition::default().with_partition_index(0).with_offset(1),]),
            ])
        ),
        22 => first_encoding!(22, v, InitProducerIdRequest::default().with_transaction_timeout_ms(60_000)),
        32 => first_encoding!(
            32,
            v,
            DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default().with_resource_type(2).with_resource_name(s(TOPIC)),
            ])
        ),
        37 => first_encoding!(
            37,
            v,
            CreatePartitionsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![CreatePartitionsTopic::default().with_name(topic_name("fuzz-new")).with_count(3)])
        ),
        33 => first_encoding!(
            33,
            v,
            AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s(TOPIC))
                    .with_configs(vec![
                        alter_configs_request::AlterableConfig::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("-1"))),
                    ]),
            ])
        ),
        44 => first_encoding!(
            44,
            v,
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s(TOPIC))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s("cleanup.policy"))
                            .with_config_operation(2)
                            .with_value(Some(s("delete"))),
                    ]),
            ])
        ),
        42 => first_encoding!(42, v, DeleteGroupsRequest::default().with_groups_names(vec![group()])),
        24 => first_encoding!(
            24,
            v,
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(txn())
                .with_v3_and_below_producer_id(ProducerId(producer_id))
                .with_v3_and_below_producer_epoch(producer_epoch)
                .with_v3_and_below_topics(vec![
                    AddPartitionsToTxnTopic::default().with_name(topic_name(TOPIC)).with_partitions(vec![0, 1]),
                ])
        ),
        25 => first_encoding!(
            25,
            v,
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(txn())
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
                .with_group_id(group())
        ),
        26 => first_encoding!(
            26,
            v,
            EndTxnRequest::default()
                .with_transactional_id(txn())
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
                .with_committed(v % 2 == 0)
        ),
        28 => first_encoding!(
            28,
            v,
            TxnOffsetCommitRequest::default()
                .with_transactional_id(txn())
                .with_group_id(group())
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
                .with_topics(vec![
                    TxnOffsetCommitRequestTopic::default().with_name(topic_name(TOPIC)).with_partitions(vec![
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1)
                            .with_committed_leader_epoch(0)
                            .with_committed_metadata(Some(s("m"))),
                        TxnOffsetCommitRequestPartition::default().with_partition_index(1).with_committed_offset(0),
                    ])
                ])
        ),
        65 => first_encoding!(
            65,
            v,
            DescribeTransactionsRequest::default().with_transactional_ids(vec![
                txn(),
                TransactionalId(s(TXN_INIT)),
                TransactionalId(s("none"))
            ])
        ),
        66 => {
            let list = ListTransactionsRequest::default()
                .with_state_filters(vec![s("Ongoing"), s("CompleteCommit"), s("Unheard")])
                .with_producer_id_filters(vec![ProducerId(producer_id)]);
            first_encoding!(66, v, list.clone().with_duration_filter(0), list)
        }
        75 => first_encoding!(
            75,
            v,
            DescribeTopicPartitionsRequest::default()
                .with_topics(vec![TopicRequest::default().with_name(topic_name(TOPIC))])
                .with_response_partition_limit(100)
        ),
        _ => None,
    }
}

/// The transactional variant of a request whose API transactions change, at `version`: `None`
/// for the other APIs, and for versions without the field.
fn transactional(key: i16, v: i16, known: Known) -> Option<Vec<u8>> {
    let (producer_id, producer_epoch) = known.producer;
    match key {
        0 => first_encoding!(
            0,
            v,
            ProduceRequest::default()
                .with_transactional_id(Some(TransactionalId(s(TXN))))
                .with_acks(-1)
                .with_timeout_ms(1000)
                .with_topic_data(vec![TopicProduceData::default().with_name(topic_name(TOPIC)).with_partition_data(
                    vec![PartitionProduceData::default().with_index(0).with_records(Some(transactional_batch(
                        &[("k", "in a transaction")],
                        producer_id,
                        producer_epoch,
                        0
                    )))]
                )])
        ),
        1 => {
            let partition = FetchPartition::default().with_partition(0).with_partition_max_bytes(1 << 20);
            let topic = FetchTopic::default().with_partitions(vec![partition]);
            let fetch = |topic: FetchTopic| {
                FetchRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_max_wait_ms(0)
                    .with_min_bytes(0)
                    .with_max_bytes(1 << 20)
                    .with_isolation_level(1)
                    .with_topics(vec![topic])
            };
            first_encoding!(
                1,
                v,
                fetch(topic.clone().with_topic(topic_name(TOPIC))),
                fetch(topic.with_topic_id(known.topic_id))
            )
        }
        2 if v >= 2 => first_encoding!(
            2,
            v,
            ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_isolation_level(1).with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic_name(TOPIC))
                    .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)]),
            ])
        ),
        9 if v >= 7 => first_encoding!(
            9,
            v,
            OffsetFetchRequest::default().with_require_stable(true).with_group_id(GroupId(s(GROUP))).with_topics(Some(
                vec![
                    OffsetFetchRequestTopic::default().with_name(topic_name(TOPIC)).with_partition_indexes(vec![0, 1]),
                ]
            )),
            OffsetFetchRequest::default().with_require_stable(true).with_groups(vec![
                OffsetFetchRequestGroup::default().with_group_id(GroupId(s(GROUP))).with_topics(Some(vec![
                    OffsetFetchRequestTopics::default().with_name(topic_name(TOPIC)).with_partition_indexes(vec![0]),
                ]))
            ])
        ),
        10 if v >= 1 => first_encoding!(
            10,
            v,
            FindCoordinatorRequest::default().with_key_type(1).with_key(s(TXN)),
            FindCoordinatorRequest::default().with_key_type(1).with_coordinator_keys(vec![s(TXN)])
        ),
        22 => first_encoding!(
            22,
            v,
            InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s(TXN_INIT))))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
            InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s(TXN_INIT))))
                .with_transaction_timeout_ms(60_000)
        ),
        _ => None,
    }
}

/// Every seed: a request per API and version (and the transactional variants), and the request
/// frames kept in `stages/`.
fn seeds(known: Known) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for spec in mini_kafka::api::SUPPORTED_APIS {
        for v in spec.min..=spec.max {
            let built = request(spec.key, v, known);
            assert!(built.is_some(), "no seed for {} v{v}", spec.name);
            seeds.extend(built);
            seeds.extend(transactional(spec.key, v, known));
        }
    }
    let stages = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stages");
    for dir in std::fs::read_dir(stages).unwrap().flatten() {
        for file in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            if name.ends_with("request.hex") {
                let frame = common::parse_hex(&std::fs::read_to_string(file.path()).unwrap());
                seeds.extend(frame.get(4..).map(<[u8]>::to_vec));
            }
        }
    }
    seeds
}

// ---- frames -----------------------------------------------------------------------------------

/// Values at the edges of INT16, INT32 and the varints, where lengths and counts are.
const EXTREMES: &[&[u8]] = &[
    &[0x7f, 0xff, 0xff, 0xff],
    &[0xff, 0xff, 0xff, 0xff],
    &[0x80, 0x00, 0x00, 0x00],
    &[0x00, 0x00, 0x00, 0x00],
    &[0xff, 0xff, 0xff, 0xfe],
    &[0x7f, 0xff],
    &[0xff, 0xff],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
];

fn random_bytes(rng: &mut XorShift, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next() as u8).collect()
}

/// A frame (header and body, no size prefix): mostly a mutated seed, sometimes one from scratch.
fn next_frame(rng: &mut XorShift, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.below(20) == 0 {
        let mut frame = Vec::new();
        frame.extend_from_slice(&(rng.below(80) as i16).to_be_bytes());
        frame.extend_from_slice(&(rng.below(22) as i16 - 1).to_be_bytes());
        frame.extend_from_slice(&(rng.next() as i32).to_be_bytes());
        let n = rng.below(64);
        frame.extend(random_bytes(rng, n));
        return frame;
    }
    let mut frame = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(frame.len() + 1);
        let byte = at.min(frame.len().saturating_sub(1));
        match rng.below(10) {
            0 | 1 if !frame.is_empty() => frame[byte] ^= 1 << rng.below(8),
            2 if !frame.is_empty() => frame[byte] = rng.next() as u8,
            3 => frame.truncate(at),
            4 => {
                let extreme = EXTREMES[rng.below(EXTREMES.len())];
                let end = (at + extreme.len()).min(frame.len());
                frame.splice(at.min(end)..end, extreme.iter().copied());
            }
            5 => {
                let n = rng.below(16);
                let bytes = random_bytes(rng, n);
                frame.splice(at..at, bytes);
            }
            6 => {
                // A stretch repeated: arrays that hold more elements than they say.
                let from = rng.below(at + 1);
                let stretch = frame[from..at].to_vec();
                for _ in 0..=rng.below(8) {
                    frame.splice(at..at, stretch.iter().copied());
                }
            }
            7 if frame.len() >= 4 => {
                // Another version of the same API: fields read that were never written.
                let version = rng.below(20) as i16 - 1;
                frame[2..4].copy_from_slice(&version.to_be_bytes());
            }
            8 => {
                // Spliced: this frame up to `at`, another's tail.
                let other = &seeds[rng.below(seeds.len())];
                frame.truncate(at);
                frame.extend_from_slice(&other[rng.below(other.len())..]);
            }
            _ => {
                let n = rng.below(32);
                frame.extend(random_bytes(rng, n));
            }
        }
    }
    frame
}

fn api_of(frame: &[u8]) -> String {
    match frame.get(..4) {
        Some(h) => format!("api {} v{}", i16::from_be_bytes([h[0], h[1]]), i16::from_be_bytes([h[2], h[3]])),
        None => "no header".to_string(),
    }
}

fn hex_prefix(frame: &[u8]) -> String {
    let shown: Vec<String> = frame.iter().take(96).map(|b| format!("{b:02x}")).collect();
    format!("{}{}", shown.join(""), if frame.len() > 96 { "…" } else { "" })
}

fn rss_of(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 1024
}

// ---- handler level ----------------------------------------------------------------------------

/// A logger that drops every line but says yes to every level, so that trace-only work (the
/// field trees) is done for the frames handled while the level is Trace.
struct Sink;

impl log::Log for Sink {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, _: &log::Record<'_>) {}
    fn flush(&self) {}
}

fn handler_level(dir: &std::path::Path, frames: u64, seed: u64) -> Report {
    let config = Config::parse(&format!("{PROPERTIES}log.dirs={}", dir.display())).unwrap();
    let broker = Broker::open(config, 9092).unwrap();
    let topic = broker.log.create_topic(TOPIC, 3, broker.node_id(), Default::default()).unwrap();
    let producer = broker.transactions.init_producer_id(&broker, TXN, 60_000, None).expect("a transactional producer");
    let seeds = seeds(Known { topic_id: uuid::Uuid::from_bytes(topic.id.0), producer });
    // A client that has hung up: a request that would wait for more data or for other members
    // ends at once, as it does for a real client gone.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    drop(listener.accept().unwrap());
    let _ = log::set_logger(&Sink);
    let panics = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&panics);
    std::panic::set_hook(Box::new(move |info| {
        let mut panics = recorded.lock().unwrap_or_else(|p| p.into_inner());
        panics.push(info.to_string());
    }));

    let mut rng = XorShift(seed);
    let mut report = Report::default();
    let started = Instant::now();
    let mut baseline = None;
    for i in 0..frames {
        if i == frames / 100 {
            baseline = Some(rss_of("self")); // after the warm-up: topics, groups, buffers made
        }
        let frame = next_frame(&mut rng, &seeds);
        log::set_max_level(if rng.below(10) == 0 { log::LevelFilter::Trace } else { log::LevelFilter::Off });
        let shared = SharedBytes::from_vec(frame.clone());
        let handled = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| handle_frame(&broker, &shared, "/127.0.0.1", Some(&client))));
        let took = handled.elapsed();
        report.slowest = report.slowest.max(took);
        match outcome {
            Ok(Ok(_)) => report.answered += 1,
            Ok(Err(_)) => report.closed += 1,
            Err(_) => {
                let message = panics.lock().unwrap().pop().unwrap_or_default();
                report.panics.push(format!("panic on {}: {message}\n    frame {}", api_of(&frame), hex_prefix(&frame)));
            }
        }
        if took > STALL {
            report.stalls.push(format!("{} took {took:?}: {}", api_of(&frame), hex_prefix(&frame)));
        }
    }
    log::set_max_level(log::LevelFilter::Off);
    let _ = std::panic::take_hook();
    if broker.log.topic(TOPIC).is_none() {
        println!("handler level: the fuzz topic was deleted by a fuzzed request (a legal one)");
    }
    report.frames = frames;
    report.seconds = started.elapsed().as_secs_f64();
    report.rss_growth = rss_of("self").saturating_sub(baseline.unwrap_or(0));
    report
}

// ---- connection level -------------------------------------------------------------------------

fn connection_level(dir: &std::path::Path, frames: u64, seed: u64) -> Report {
    let mut report = Report::default();
    let config_dir = common::TempDir::new("fuzz-config");
    let properties = config_dir.path().join("server.properties");
    // Room for a few more partitions than the first level could fill, should the fuzz topic need
    // creating again.
    let text =
        format!("{PROPERTIES}max.partitions=410\nlog.dirs={}\nlisteners=PLAINTEXT://127.0.0.1:0\n", dir.display());
    std::fs::write(&properties, text).unwrap();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_mini-kafka"))
            .arg(&properties)
            .env("RUST_LOG", "error,mini_kafka::server=info")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the broker"),
    );
    let pid = child.id().to_string();
    // The broker's stderr: its address, then any panic (counted, the first few kept).
    let (address, listening) = std::sync::mpsc::channel();
    let panics = Arc::new(Mutex::new((0u64, Vec::new())));
    let seen = Arc::clone(&panics);
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        let mut last_lines: Vec<String> = Vec::new();
        for line in stderr.lines().map_while(Result::ok) {
            if let Some((_, addr)) = line.split_once("listening on ") {
                let _ = address.send(addr.trim().parse::<SocketAddr>().ok());
            }
            if line.contains("panicked at") {
                let mut seen = seen.lock().unwrap();
                seen.0 += 1;
                if seen.1.len() < 10 {
                    seen.1.push(line.clone());
                }
            }
            last_lines.push(line);
            if last_lines.len() > 5 {
                last_lines.remove(0);
            }
        }
        let _ = address.send(None);
        let mut seen = seen.lock().unwrap();
        seen.1.extend(last_lines.into_iter().map(|l| format!("last words: {l}")));
    });
    let Ok(Some(addr)) = listening.recv_timeout(Duration::from_secs(30)) else {
        let _ = child.kill();
        let _ = child.wait();
        report.aborted = Some("the broker did not start on the log dir the handler level left".to_string());
        report.panics = panics.lock().unwrap().1.clone();
        return report;
    };
    let baseline = rss_of(&pid);

    let seeds = Arc::new(seeds(known_of(addr)));
    let done = Arc::new(AtomicBool::new(false));
    let slowest_probe = Arc::new(AtomicU64::new(0));
    let prober = {
        let (done, slowest) = (Arc::clone(&done), Arc::clone(&slowest_probe));
        std::thread::spawn(move || {
            let request = common::parse_hex("00 00 00 0c 00 12 00 00 00 00 00 01 00 02 70 72");
            while !done.load(Ordering::Relaxed) {
                let asked = Instant::now();
                let answered = TcpStream::connect(addr).and_then(|mut stream| {
                    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
                    stream.write_all(&request)?;
                    stream.read_exact(&mut [0u8; 4])
                });
                let took = if answered.is_ok() { asked.elapsed() } else { Duration::from_secs(30) };
                slowest.fetch_max(took.as_micros() as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    const CLIENTS: u64 = 4;
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let seeds = Arc::clone(&seeds);
            let share = frames / CLIENTS + u64::from(c < frames % CLIENTS);
            std::thread::spawn(move || client(addr, &seeds, share, seed ^ (c + 1).wrapping_mul(0x2545_f491_4f6c_dd1d)))
        })
        .collect();
    for c in clients {
        let (answered, closed, waited) = c.join().unwrap();
        report.answered += answered;
        report.closed += closed;
        report.waited += waited;
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.frames = frames;
    done.store(true, Ordering::Relaxed);
    let _ = prober.join();
    report.slowest = Duration::from_micros(slowest_probe.load(Ordering::Relaxed));
    if report.slowest > STALL {
        report.stalls.push(format!("a fresh ApiVersions waited {:?} for its answer", report.slowest));
    }
    report.rss_growth = rss_of(&pid).saturating_sub(baseline);
    if let Ok(Some(status)) = child.try_wait() {
        report.aborted = Some(format!("the broker exited: {status}"));
    }
    let _ = child.kill();
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(100)); // the stderr reader's last lines
    let (count, lines) = panics.lock().unwrap().clone();
    if count > 0 || report.aborted.is_some() {
        report.panics = lines;
    }
    report
}

/// The broker process, killed however the level ends (a panic included).
struct KillOnDrop(std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the seeds name in the broker at `addr`: the fuzzed topic's id, from Metadata v12, and a
/// new epoch of the transactional producer (InitProducerId v4). A fuzzed request may have deleted
/// the topic (a DeleteTopics spliced with a Fetch's topic id does): then it is created again.
fn known_of(addr: SocketAddr) -> Known {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let found = oracle::metadata_topic(&mut stream, TOPIC).unwrap_or_else(|| {
        println!("connection level: the fuzz topic was deleted by a fuzzed request; creating it again");
        oracle::create_topic(&mut stream, TOPIC, 3);
        oracle::metadata_topic(&mut stream, TOPIC).expect("the fuzz topic, created again")
    });
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(TXN))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let producer: InitProducerIdResponse = oracle::call(&mut stream, 22, 4, &init);
    assert_eq!(producer.error_code, 0, "connection level: InitProducerId for {TXN}");
    Known { topic_id: found.topic_id, producer: (producer.producer_id.0, producer.producer_epoch) }
}

/// One client's share of the frames: sent one at a time, each answer read (or the connection
/// closed, or the request left waiting after 100 ms), reconnecting whenever the connection ends.
/// Returns (answered, closed, waited).
fn client(addr: SocketAddr, seeds: &[Vec<u8>], frames: u64, seed: u64) -> (u64, u64, u64) {
    let mut rng = XorShift(seed | 1);
    let (mut answered, mut closed, mut waited) = (0, 0, 0);
    let mut stream: Option<TcpStream> = None;
    for _ in 0..frames {
        let connected = match stream.take() {
            Some(s) => s,
            None => match TcpStream::connect(addr) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                    s
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(10));
                    closed += 1;
                    continue;
                }
            },
        };
        let mut s = connected;
        let frame = next_frame(&mut rng, seeds);
        let size = match rng.below(100) {
            0 => rng.next() as u32,                      // any size at all
            1 => (frame.len() as u32).saturating_sub(1), // one short
            _ => frame.len() as u32,
        };
        let mut bytes = size.to_be_bytes().to_vec();
        bytes.extend_from_slice(&frame);
        if s.write_all(&bytes).is_err() {
            closed += 1;
            continue;
        }
        if size as usize > frame.len() {
            // The broker waits for bytes that will not come: say so.
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        let mut prefix = [0u8; 4];
        match s.read_exact(&mut prefix) {
            Ok(()) => {
                let mut body = vec![0u8; u32::from_be_bytes(prefix).min(64 << 20) as usize];
                if s.read_exact(&mut body).is_ok() && size as usize == frame.len() {
                    answered += 1;
                    stream = Some(s);
                } else {
                    closed += 1;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                waited += 1; // dropped: the broker notices the hang-up and ends the wait
            }
            Err(_) => closed += 1,
        }
    }
    (answered, closed, waited)
}
