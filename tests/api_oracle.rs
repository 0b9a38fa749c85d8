//! Every API at every advertised version, cross-checked with an independent implementation of
//! the Kafka protocol (the `kafka-protocol` crate): requests are encoded by it, and our responses
//! must decode with it to the last byte. If our encoding of any field at any version were off, its
//! decoder would fail or leave bytes over.

mod common;
mod oracle;

use bytes::Bytes;
use common::{connect, start_default};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::records::RecordBatchDecoder;
use mini_kafka::api::SUPPORTED_APIS;
use oracle::{batch, call, create_topic, high_watermark, metadata_topic, partition_count, s, topic_name};
use std::net::TcpStream;

fn versions(api_key: i16) -> std::ops::RangeInclusive<i16> {
    let spec = SUPPORTED_APIS.iter().find(|s| s.key == api_key).unwrap();
    spec.min..=spec.max
}

#[test]
fn api_versions_at_every_version_lists_the_table() {
    let broker = start_default();
    let mut stream = connect(&broker);
    for version in versions(18) {
        let request =
            ApiVersionsRequest::default().with_client_software_name(s("oracle")).with_client_software_version(s("1"));
        let response: ApiVersionsResponse = call(&mut stream, 18, version, &request);
        assert_eq!(response.error_code, 0);
        let listed: Vec<(i16, i16, i16)> =
            response.api_keys.iter().map(|k| (k.api_key, k.min_version, k.max_version)).collect();
        let table: Vec<(i16, i16, i16)> = SUPPORTED_APIS.iter().map(|a| (a.key, a.min, a.max)).collect();
        assert_eq!(listed, table);
        // The transaction coordinator's APIs, at the versions its modules implement.
        for expected in [(22, 0, 4), (24, 0, 3), (25, 0, 3), (26, 0, 3), (28, 0, 3), (65, 0, 0), (66, 0, 1)] {
            assert!(listed.contains(&expected), "v{version}: {expected:?} advertised");
        }
    }
}

#[test]
fn metadata_at_every_version_describes_broker_and_topics() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "meta", 3);
    for version in versions(3) {
        let topics = vec![MetadataRequestTopic::default().with_name(Some(topic_name("meta")))];
        let mut request = MetadataRequest::default().with_topics(Some(topics));
        if version >= 4 {
            request = request.with_allow_auto_topic_creation(false);
        }
        let response: MetadataResponse = call(&mut stream, 3, version, &request);
        assert_eq!(response.brokers.len(), 1, "v{version}");
        assert_eq!(response.brokers[0].port, i32::from(broker.addr.port()));
        assert_eq!(&*response.brokers[0].host, "127.0.0.1");
        if version >= 1 {
            assert_eq!(response.controller_id.0, 1);
        }
        if version >= 2 {
            assert!(response.cluster_id.is_some());
        }
        assert_eq!(response.topics.len(), 1);
        let topic = &response.topics[0];
        assert_eq!(topic.error_code, 0);
        assert_eq!(topic.partitions.len(), 3);
        assert_eq!(topic.partitions[2].partition_index, 2);
        assert_eq!(topic.partitions[2].leader_id.0, 1);
        assert_eq!(topic.partitions[2].replica_nodes.iter().map(|b| b.0).collect::<Vec<_>>(), vec![1]);
        if version >= 10 {
            assert!(!topic.topic_id.is_nil());
        }
    }
}

#[test]
fn metadata_all_topics_spelling_differs_by_version() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "a", 1);
    create_topic(&mut stream, "b", 1);
    // v0: an empty array means every topic.
    let all: MetadataResponse = call(&mut stream, 3, 0, &MetadataRequest::default().with_topics(Some(vec![])));
    assert_eq!(all.topics.len(), 2);
    for version in 1..=12 {
        let all: MetadataResponse = call(&mut stream, 3, version, &MetadataRequest::default().with_topics(None));
        assert_eq!(all.topics.len(), 2, "v{version} null = all");
        let none: MetadataResponse =
            call(&mut stream, 3, version, &MetadataRequest::default().with_topics(Some(vec![])));
        assert_eq!(none.topics.len(), 0, "v{version} empty = none");
    }
}

#[test]
fn metadata_auto_creates_only_when_allowed() {
    let broker = start_default();
    let mut stream = connect(&broker);
    let ask = |name: &str, allow: bool| {
        MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name(name)))]))
            .with_allow_auto_topic_creation(allow)
    };
    let refused: MetadataResponse = call(&mut stream, 3, 12, &ask("nope", false));
    assert_eq!(refused.topics[0].error_code, 3);
    let created: MetadataResponse = call(&mut stream, 3, 12, &ask("auto", true));
    assert_eq!(created.topics[0].error_code, 0);
    assert_eq!(created.topics[0].partitions.len(), 1);
    let invalid: MetadataResponse = call(&mut stream, 3, 12, &ask("bad name!", true));
    assert_eq!(invalid.topics[0].error_code, 17);
}

#[test]
fn create_delete_and_grow_topics_at_every_version() {
    let broker = start_default();
    let mut stream = connect(&broker);
    for version in versions(19) {
        let name = format!("ct{version}");
        let topic = |n: &str, partitions: i32, rf: i16| {
            CreatableTopic::default()
                .with_name(topic_name(n))
                .with_num_partitions(partitions)
                .with_replication_factor(rf)
        };
        let request = CreateTopicsRequest::default().with_topics(vec![
            topic(&name, 2, 1),
            topic(&format!("{name}-rf"), 1, 3),
            topic(&format!("{name} bad"), 1, 1),
            topic(&format!("{name}-zero"), 0, 1),
        ]);
        let response: CreateTopicsResponse = call(&mut stream, 19, version, &request);
        let codes: Vec<i16> = response.topics.iter().map(|t| t.error_code).collect();
        assert_eq!(codes, vec![0, 38, 17, 37], "v{version}");
        let again: CreateTopicsResponse =
            call(&mut stream, 19, version, &CreateTopicsRequest::default().with_topics(vec![topic(&name, 2, 1)]));
        assert_eq!(again.topics[0].error_code, 36);
        let dry: CreateTopicsResponse = call(
            &mut stream,
            19,
            version,
            &CreateTopicsRequest::default()
                .with_topics(vec![topic(&format!("{name}-dry"), 1, -1)])
                .with_validate_only(true),
        );
        assert_eq!(dry.topics[0].error_code, 0);
        // validate_only created nothing; the real creation made both partitions.
        assert_eq!(partition_count(&mut stream, &format!("{name}-dry")), None, "v{version}");
        assert_eq!(partition_count(&mut stream, &name), Some(2), "v{version}");
    }
    for version in versions(37) {
        let name = format!("ct{}", 2 + version);
        let request = CreatePartitionsRequest::default().with_topics(vec![
            CreatePartitionsTopic::default().with_name(topic_name(&name)).with_count(5),
            CreatePartitionsTopic::default().with_name(topic_name("missing")).with_count(5),
        ]);
        let response: CreatePartitionsResponse = call(&mut stream, 37, version, &request);
        assert_eq!(response.results.iter().map(|r| r.error_code).collect::<Vec<_>>(), vec![0, 3], "v{version}");
        assert_eq!(partition_count(&mut stream, &name), Some(5), "v{version}");
        let shrink: CreatePartitionsResponse = call(&mut stream, 37, version, &request);
        assert_eq!(shrink.results[0].error_code, 37);
    }
    for version in versions(20) {
        let name = format!("ct{}", 1 + version);
        let request = if version >= 6 {
            DeleteTopicsRequest::default()
                .with_topics(vec![DeleteTopicState::default().with_name(Some(topic_name(&name)))])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![topic_name(&name)])
        };
        let response: DeleteTopicsResponse = call(&mut stream, 20, version, &request);
        assert_eq!(response.responses[0].error_code, 0, "v{version}");
        assert_eq!(partition_count(&mut stream, &name), None, "v{version}");
        let again: DeleteTopicsResponse = call(&mut stream, 20, version, &request);
        assert_eq!(again.responses[0].error_code, 3);
    }
}

#[test]
fn describe_configs_at_every_version() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "cfg", 1);
    for version in versions(32) {
        let request = DescribeConfigsRequest::default()
            .with_resources(vec![
                DescribeConfigsResource::default().with_resource_type(2).with_resource_name(s("cfg")),
                DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(s("1"))
                    .with_configuration_keys(Some(vec![s("num.partitions"), s("message.max.bytes")])),
                DescribeConfigsResource::default().with_resource_type(2).with_resource_name(s("missing")),
            ])
            .with_include_synonyms(true);
        let response: DescribeConfigsResponse = call(&mut stream, 32, version, &request);
        let topic = &response.results[0];
        assert_eq!(topic.error_code, 0);
        let retention = topic.configs.iter().find(|c| &*c.name == "retention.ms").unwrap();
        assert_eq!(retention.value.as_deref(), Some("604800000"));
        assert_eq!(retention.config_source, 5, "a default is marked as such");
        let brokers = &response.results[1];
        assert_eq!(
            brokers.configs.iter().map(|c| c.name.to_string()).collect::<Vec<_>>(),
            vec!["message.max.bytes", "num.partitions"]
        );
        assert_eq!(response.results[2].error_code, 3);
    }
}

#[test]
fn init_producer_id_at_every_version_hands_out_fresh_ids() {
    let broker = start_default();
    let mut stream = connect(&broker);
    let mut ids = Vec::new();
    for version in versions(22) {
        let response: InitProducerIdResponse = call(
            &mut stream,
            22,
            version,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        );
        assert_eq!(response.error_code, 0);
        assert_eq!(response.producer_epoch, 0);
        ids.push(response.producer_id.0);
    }
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    // v3+: a producer that sends its old id gets a new one, as from Kafka (never someone's epoch).
    let again: InitProducerIdResponse = call(
        &mut stream,
        22,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(ids[0]))
            .with_producer_epoch(0),
    );
    assert_eq!(again.producer_epoch, 0);
    assert!(!ids.contains(&again.producer_id.0));
    let txn: InitProducerIdResponse = call(
        &mut stream,
        22,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s("tx"))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    // With a transactional id (stage transactions) the coordinator answers: the id's own
    // producer id, at epoch 0 the first time.
    assert_eq!((txn.error_code, txn.producer_epoch), (0, 0));
    assert!(!ids.contains(&txn.producer_id.0) && txn.producer_id.0 != again.producer_id.0);
}

#[test]
fn produce_fetch_and_list_offsets_at_every_version() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "data", 1);
    let topic_id = metadata_topic(&mut stream, "data").unwrap().topic_id;
    assert!(!topic_id.is_nil());
    // Produce one batch of two records at every version; offsets follow each other.
    let mut expected_offset = 0;
    for version in versions(0) {
        let records = batch(&[("k", &format!("v{version}a")), ("k", &format!("v{version}b"))], 0);
        let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(1000).with_topic_data(vec![
            TopicProduceData::default().with_name(topic_name("data")).with_partition_data(vec![
                PartitionProduceData::default().with_index(0).with_records(Some(records)),
                PartitionProduceData::default().with_index(7).with_records(Some(batch(&[("x", "y")], 0))),
            ]),
        ]);
        let response: ProduceResponse = call(&mut stream, 0, version, &request);
        let partitions = &response.responses[0].partition_responses;
        assert_eq!((partitions[0].error_code, partitions[0].base_offset), (0, expected_offset), "v{version}");
        assert_eq!(partitions[1].error_code, 3);
        expected_offset += 2;
    }
    // Fetch everything back at every version and decode it with the oracle.
    for version in versions(1) {
        let mut t = FetchTopic::default().with_partitions(vec![
            FetchPartition::default().with_partition(0).with_fetch_offset(4).with_partition_max_bytes(1 << 20),
        ]);
        t = if version >= 13 { t.with_topic_id(topic_id) } else { t.with_topic(topic_name("data")) };
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![t]);
        let response: FetchResponse = call(&mut stream, 1, version, &request);
        let p = &response.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "v{version}");
        assert_eq!(p.high_watermark, expected_offset);
        let mut records = p.records.clone().unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut records).unwrap();
        let values: Vec<String> = sets
            .iter()
            .flat_map(|s| s.records.iter())
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect();
        // Offset 4 is the first record of the batch produced at v5.
        assert_eq!(values.first().map(String::as_str), Some("v5a"), "v{version}");
        assert_eq!(values.len() as i64, expected_offset - 4);
        assert_eq!(sets[0].records[0].offset, 4);
    }
    for version in versions(2) {
        let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            ListOffsetsTopic::default().with_name(topic_name("data")).with_partitions(vec![
                ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1),
                ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-2),
                // The second record of the first batch: found inside the batch, not at its start.
                ListOffsetsPartition::default().with_partition_index(0).with_timestamp(1_700_000_000_001),
                ListOffsetsPartition::default().with_partition_index(0).with_timestamp(1_800_000_000_000),
                ListOffsetsPartition::default().with_partition_index(9).with_timestamp(-1),
            ]),
        ]);
        let response: ListOffsetsResponse = call(&mut stream, 2, version, &request);
        let got: Vec<(i16, i64)> = response.topics[0].partitions.iter().map(|p| (p.error_code, p.offset)).collect();
        assert_eq!(got, vec![(0, expected_offset), (0, 0), (0, 1), (0, -1), (3, -1)], "v{version}");
    }
}

#[test]
fn describe_topic_partitions_paginates_with_a_cursor() {
    use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "alpha", 3);
    create_topic(&mut stream, "beta", 2);
    create_topic(&mut stream, "gamma", 1);
    let ask = |cursor: Option<(&str, i32)>| {
        DescribeTopicPartitionsRequest::default()
            .with_topics(
                ["gamma", "alpha", "nope", "beta"]
                    .iter()
                    .map(|n| TopicRequest::default().with_name(topic_name(n)))
                    .collect(),
            )
            .with_response_partition_limit(2)
            .with_cursor(cursor.map(|(t, p)| Cursor::default().with_topic_name(topic_name(t)).with_partition_index(p)))
    };
    // Walk the pages; collect (topic, partition) in the order served.
    let mut seen: Vec<(String, i32)> = Vec::new();
    let mut cursor: Option<(String, i32)> = None;
    for page in 0..10 {
        let request = ask(cursor.as_ref().map(|(t, p)| (t.as_str(), *p)));
        let response: DescribeTopicPartitionsResponse = call(&mut stream, 75, 0, &request);
        let served: usize = response.topics.iter().map(|t| t.partitions.len()).sum();
        assert!(served <= 2, "page {page}: limit honoured");
        for t in &response.topics {
            let name = t.name.as_ref().unwrap().to_string();
            if name == "nope" {
                assert_eq!(t.error_code, 3);
            }
            seen.extend(t.partitions.iter().map(|p| (name.clone(), p.partition_index)));
        }
        match response.next_cursor {
            Some(c) => cursor = Some((c.topic_name.0.to_string(), c.partition_index)),
            None => break,
        }
    }
    let expected: Vec<(String, i32)> =
        [("alpha", 0), ("alpha", 1), ("alpha", 2), ("beta", 0), ("beta", 1), ("gamma", 0)]
            .iter()
            .map(|(t, p)| (t.to_string(), *p))
            .collect();
    assert_eq!(seen, expected, "every partition once, sorted by topic then partition");
}

#[test]
fn metadata_authorized_operations_only_when_asked() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "ops", 1);
    let topics = Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name("ops")))]);
    for ask in [false, true] {
        let request = MetadataRequest::default()
            .with_topics(topics.clone())
            .with_include_cluster_authorized_operations(ask)
            .with_include_topic_authorized_operations(ask);
        let response: MetadataResponse = call(&mut stream, 3, 8, &request);
        // Bits are Kafka's AclOperation codes; kafka-python 2.x decodes them and rejects unknown ones.
        let (cluster, topic) = if ask { (0x1fa0, 0x0df8) } else { (i32::MIN, i32::MIN) };
        assert_eq!(response.cluster_authorized_operations, cluster);
        assert_eq!(response.topics[0].topic_authorized_operations, topic);
    }
}

/// Produces `records` (raw RECORDS bytes) to `topic`/0 with acks=-1; returns the partition's error code.
fn produce_raw(stream: &mut TcpStream, topic: &str, records: Bytes) -> i16 {
    let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(1000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))]),
    ]);
    let response: ProduceResponse = call(stream, 0, 11, &request);
    response.responses[0].partition_responses[0].error_code
}

#[test]
fn produce_refuses_what_kafka_refuses() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "strict", 1);
    // Two batches for one partition: Produce v3+ carries exactly one (INVALID_RECORD).
    let mut two = batch(&[("k", "a")], 0).to_vec();
    two.extend_from_slice(&batch(&[("k", "b")], 0));
    assert_eq!(produce_raw(&mut stream, "strict", Bytes::from(two)), 87);
    // No batch at all: the same rule (INVALID_RECORD), whether the field is empty or null.
    assert_eq!(produce_raw(&mut stream, "strict", Bytes::new()), 87);
    // A batch that claims fewer offsets than it has records: offsets after it would overlap its
    // records. Kafka's log validator refuses it with INVALID_RECORD, as it does a batch that
    // claims no records; a damaged batch (bad CRC) is CORRUPT_MESSAGE instead.
    let with_crc = |mut b: Vec<u8>| {
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(b)
    };
    let mut lying = batch(&[("k", "a"), ("k", "b")], 0).to_vec();
    lying[23..27].copy_from_slice(&0i32.to_be_bytes()); // last_offset_delta 0: one record
    assert_eq!(produce_raw(&mut stream, "strict", with_crc(lying.clone())), 87);
    let mut empty = batch(&[("k", "a")], 0).to_vec();
    empty[57..61].copy_from_slice(&0i32.to_be_bytes()); // records_count 0
    assert_eq!(produce_raw(&mut stream, "strict", with_crc(empty)), 87);
    lying[30] ^= 1; // a flipped bit the CRC no longer covers
    assert_eq!(produce_raw(&mut stream, "strict", Bytes::from(lying)), 2);
    assert_eq!(high_watermark(&mut stream, "strict", 0), 0, "nothing stored");
    // Internal topic names cannot be created, neither explicitly nor by Metadata's auto-create.
    let internal = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic_name("__cluster_metadata"))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    let refused: CreateTopicsResponse = call(&mut stream, 19, 7, &internal);
    assert_eq!(refused.topics[0].error_code, 17);
    let auto = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name("__consumer_offsets")))]))
        .with_allow_auto_topic_creation(true);
    let refused: MetadataResponse = call(&mut stream, 3, 12, &auto);
    assert_eq!(refused.topics[0].error_code, 17);
}

#[test]
fn idempotent_producers_get_retries_deduplicated_and_gaps_refused() {
    use oracle::producer_batch;
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "idem", 1);
    let first = producer_batch(&[("k", "a"), ("k", "b")], 0, 77, 0, 0);
    assert_eq!(produce_raw(&mut stream, "idem", first.clone()), 0);
    // The same batch again (a retry): acknowledged, not stored twice.
    assert_eq!(produce_raw(&mut stream, "idem", first), 0);
    assert_eq!(high_watermark(&mut stream, "idem", 0), 2);
    // A gap in the sequence: OUT_OF_ORDER_SEQUENCE_NUMBER.
    assert_eq!(produce_raw(&mut stream, "idem", producer_batch(&[("k", "c")], 0, 77, 0, 5)), 45);
    // The next sequence is fine; an older epoch afterwards is fenced.
    assert_eq!(produce_raw(&mut stream, "idem", producer_batch(&[("k", "c")], 0, 77, 1, 0)), 0);
    assert_eq!(produce_raw(&mut stream, "idem", producer_batch(&[("k", "d")], 0, 77, 0, 2)), 47);
    assert_eq!(high_watermark(&mut stream, "idem", 0), 3);
}

#[test]
fn a_failed_acks_0_produce_closes_the_connection() {
    use std::io::{Read, Write};
    let broker = start_default();
    let mut stream = connect(&broker);
    let request = ProduceRequest::default().with_acks(0).with_timeout_ms(1000).with_topic_data(vec![
        TopicProduceData::default().with_name(topic_name("missing")).with_partition_data(vec![
            PartitionProduceData::default().with_index(0).with_records(Some(batch(&[("k", "v")], 0))),
        ]),
    ]);
    let header = RequestHeader::default().with_request_api_key(0).with_request_api_version(11).with_correlation_id(1);
    let mut body = bytes::BytesMut::new();
    kafka_protocol::protocol::Encodable::encode(&header, &mut body, 2).unwrap();
    kafka_protocol::protocol::Encodable::encode(&request, &mut body, 11).unwrap();
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame).unwrap();
    // No response for acks=0: the broker hangs up instead, so the client refreshes its metadata.
    let mut buf = [0u8; 1];
    assert_eq!(stream.read(&mut buf).unwrap(), 0, "connection closed, nothing sent");
}

// ---- transactions ------------------------------------------------------------------------------

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_GROUP_ID: i16 = 24;
const INVALID_REQUEST: i16 = 42;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const OPERATION_NOT_ATTEMPTED: i16 = 55;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const PRODUCER_FENCED: i16 = 90;
const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;

/// A transactional producer, as InitProducerId made it.
#[derive(Clone, Debug)]
struct Txn {
    id: String,
    producer_id: i64,
    epoch: i16,
}

fn txn_id(id: &str) -> TransactionalId {
    TransactionalId(s(id))
}

/// InitProducerId `version` for `id` (a fresh producer: no id or epoch of its own).
fn init_txn_at(stream: &mut TcpStream, version: i16, id: &str) -> InitProducerIdResponse {
    let mut request =
        InitProducerIdRequest::default().with_transactional_id(Some(txn_id(id))).with_transaction_timeout_ms(60_000);
    if version >= 3 {
        request = request.with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    }
    call(stream, 22, version, &request)
}

/// InitProducerId v4 for `id`, asserting success.
fn init_txn(stream: &mut TcpStream, id: &str) -> Txn {
    let response = init_txn_at(stream, 4, id);
    assert_eq!(response.error_code, 0, "InitProducerId for {id}");
    Txn { id: id.to_string(), producer_id: response.producer_id.0, epoch: response.producer_epoch }
}

/// AddPartitionsToTxn `version`: the partitions' error codes, in the order asked.
fn add_partitions(stream: &mut TcpStream, version: i16, txn: &Txn, topics: &[(&str, &[i32])]) -> Vec<i16> {
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(&txn.id))
        .with_v3_and_below_producer_id(ProducerId(txn.producer_id))
        .with_v3_and_below_producer_epoch(txn.epoch)
        .with_v3_and_below_topics(
            topics
                .iter()
                .map(|(name, partitions)| {
                    AddPartitionsToTxnTopic::default().with_name(topic_name(name)).with_partitions(partitions.to_vec())
                })
                .collect(),
        );
    let response: AddPartitionsToTxnResponse = call(stream, 24, version, &request);
    let names: Vec<String> = response.results_by_topic_v3_and_below.iter().map(|t| t.name.0.to_string()).collect();
    assert_eq!(
        names,
        topics.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(),
        "v{version}: every topic answered"
    );
    response
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code))
        .collect()
}

/// AddOffsetsToTxn `version`: the error code.
fn add_offsets(stream: &mut TcpStream, version: i16, txn: &Txn, group: &str) -> i16 {
    let request = AddOffsetsToTxnRequest::default()
        .with_transactional_id(txn_id(&txn.id))
        .with_producer_id(ProducerId(txn.producer_id))
        .with_producer_epoch(txn.epoch)
        .with_group_id(GroupId(s(group)));
    let response: AddOffsetsToTxnResponse = call(stream, 25, version, &request);
    response.error_code
}

/// TxnOffsetCommit `version` of `offsets` (partition, offset) of `topic` for `group`: the
/// partitions' error codes.
fn txn_commit(
    stream: &mut TcpStream,
    version: i16,
    txn: &Txn,
    group: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Vec<i16> {
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    let partitions = offsets
        .iter()
        .map(|&(index, offset)| {
            TxnOffsetCommitRequestPartition::default()
                .with_partition_index(index)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s("txn")))
        })
        .collect();
    let request = TxnOffsetCommitRequest::default()
        .with_transactional_id(txn_id(&txn.id))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(txn.producer_id))
        .with_producer_epoch(txn.epoch)
        .with_topics(vec![
            TxnOffsetCommitRequestTopic::default().with_name(topic_name(topic)).with_partitions(partitions),
        ]);
    let response: TxnOffsetCommitResponse = call(stream, 28, version, &request);
    assert_eq!(response.topics.len(), 1, "v{version}");
    assert_eq!(&*response.topics[0].name.0, topic);
    response.topics[0].partitions.iter().map(|p| p.error_code).collect()
}

/// EndTxn `version`, committing or aborting: the error code.
fn end_txn(stream: &mut TcpStream, version: i16, txn: &Txn, commit: bool) -> i16 {
    let request = EndTxnRequest::default()
        .with_transactional_id(txn_id(&txn.id))
        .with_producer_id(ProducerId(txn.producer_id))
        .with_producer_epoch(txn.epoch)
        .with_committed(commit);
    let response: EndTxnResponse = call(stream, 26, version, &request);
    response.error_code
}

/// Produce v11 of one transactional batch of `values` to `topic`/`partition`: (error, base offset).
fn produce_txn(
    stream: &mut TcpStream,
    txn: &Txn,
    (topic, partition): (&str, i32),
    sequence: i32,
    values: &[&str],
) -> (i16, i64) {
    let records: Vec<(&str, &str)> = values.iter().map(|v| ("k", *v)).collect();
    let batch = oracle::transactional_batch(&records, txn.producer_id, txn.epoch, sequence);
    let request = ProduceRequest::default()
        .with_transactional_id(Some(txn_id(&txn.id)))
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default().with_name(topic_name(topic)).with_partition_data(vec![
            PartitionProduceData::default().with_index(partition).with_records(Some(batch)),
        ])]);
    let response: ProduceResponse = call(stream, 0, 11, &request);
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// DescribeTransactions v0 of `ids`.
fn describe_txns(stream: &mut TcpStream, ids: &[&str]) -> DescribeTransactionsResponse {
    let request =
        DescribeTransactionsRequest::default().with_transactional_ids(ids.iter().map(|id| txn_id(id)).collect());
    call(stream, 65, 0, &request)
}

/// ListTransactions `version` with filters (the duration filter from v1): (id, producer id, state)
/// sorted, and the unknown state filters.
fn list_txns(
    stream: &mut TcpStream,
    version: i16,
    states: &[&str],
    producer_ids: &[i64],
    duration_ms: i64,
) -> (Vec<(String, i64, String)>, Vec<String>) {
    let mut request = ListTransactionsRequest::default()
        .with_state_filters(states.iter().map(|state| s(state)).collect())
        .with_producer_id_filters(producer_ids.iter().map(|id| ProducerId(*id)).collect());
    if version >= 1 {
        request = request.with_duration_filter(duration_ms);
    }
    let response: ListTransactionsResponse = call(stream, 66, version, &request);
    assert_eq!(response.error_code, 0, "ListTransactions v{version}");
    let mut listed: Vec<(String, i64, String)> = response
        .transaction_states
        .iter()
        .map(|t| (t.transactional_id.0.to_string(), t.producer_id.0, t.transaction_state.to_string()))
        .collect();
    listed.sort();
    (listed, response.unknown_state_filters.iter().map(|f| f.to_string()).collect())
}

/// One partition of a read_committed Fetch `version` from `offset` (by name before v13, by id from it).
fn fetch_committed(
    stream: &mut TcpStream,
    version: i16,
    (topic, topic_id): (&str, uuid::Uuid),
    partition: i32,
    offset: i64,
) -> fetch_response::PartitionData {
    let mut t = FetchTopic::default().with_partitions(vec![
        FetchPartition::default().with_partition(partition).with_fetch_offset(offset).with_partition_max_bytes(1 << 20),
    ]);
    t = if version >= 13 { t.with_topic_id(topic_id) } else { t.with_topic(topic_name(topic)) };
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(1)
        .with_session_epoch(-1)
        .with_topics(vec![t]);
    let response: FetchResponse = call(stream, 1, version, &request);
    response.responses[0].partitions[0].clone()
}

/// The records of a Fetch answer, control records (markers) included: (offset, value, control),
/// where a marker's value is what its key says, "COMMIT" or "ABORT".
fn records_of(partition: &fetch_response::PartitionData) -> Vec<(i64, String, bool)> {
    let mut bytes = partition.records.clone().unwrap_or_default();
    let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
    sets.iter()
        .flat_map(|set| set.records.iter())
        .map(|r| {
            let value = match r.key.as_deref() {
                Some([0, 0, 0, 1]) if r.control => "COMMIT".to_string(),
                Some([0, 0, 0, 0]) if r.control => "ABORT".to_string(),
                _ => r.value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default(),
            };
            (r.offset, value, r.control)
        })
        .collect()
}

/// The aborted transactions a Fetch answer names: (producer id, first offset).
fn aborted_of(partition: &fetch_response::PartitionData) -> Vec<(i64, i64)> {
    let aborted = partition.aborted_transactions.as_deref().unwrap_or_default();
    aborted.iter().map(|a| (a.producer_id.0, a.first_offset)).collect()
}

/// ListOffsets `version` (v2+) for the latest offset of `topic`/`partition` with `isolation_level`.
fn latest_offset(stream: &mut TcpStream, version: i16, topic: &str, partition: i32, isolation_level: i8) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default().with_name(topic_name(topic)).with_partitions(vec![
            ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(-1),
        ])]);
    let response: ListOffsetsResponse = call(stream, 2, version, &request);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0, "ListOffsets v{version}");
    p.offset
}

/// OffsetFetch `version` (v7+) of `topic`'s `partitions` for `group`, requiring stable offsets:
/// (error code, committed offset) per partition.
fn offset_fetch_stable(
    stream: &mut TcpStream,
    version: i16,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i16, i64)> {
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    let request = if version >= 8 {
        OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default().with_group_id(GroupId(s(group))).with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(topic_name(topic))
                    .with_partition_indexes(partitions.to_vec()),
            ])),
        ])
    } else {
        OffsetFetchRequest::default().with_group_id(GroupId(s(group))).with_topics(Some(vec![
            OffsetFetchRequestTopic::default().with_name(topic_name(topic)).with_partition_indexes(partitions.to_vec()),
        ]))
    };
    let response: OffsetFetchResponse = call(stream, 9, version, &request.with_require_stable(true));
    if version >= 8 {
        assert_eq!(response.groups[0].error_code, 0);
        response.groups[0].topics[0].partitions.iter().map(|p| (p.error_code, p.committed_offset)).collect()
    } else {
        assert_eq!(response.error_code, 0);
        response.topics[0].partitions.iter().map(|p| (p.error_code, p.committed_offset)).collect()
    }
}

#[test]
fn find_coordinator_answers_for_transactional_ids() {
    let broker = start_default();
    let mut stream = connect(&broker);
    for version in versions(10).filter(|v| *v >= 1) {
        let request = FindCoordinatorRequest::default().with_key_type(1);
        let request =
            if version >= 4 { request.with_coordinator_keys(vec![s("tx-a")]) } else { request.with_key(s("tx-a")) };
        let response: FindCoordinatorResponse = call(&mut stream, 10, version, &request);
        let (error, node, port) = match response.coordinators.first() {
            Some(c) => (c.error_code, c.node_id.0, c.port),
            None => (response.error_code, response.node_id.0, response.port),
        };
        assert_eq!((error, node, port), (0, 1, i32::from(broker.addr.port())), "v{version}");
    }
}

#[test]
fn init_producer_id_with_a_transactional_id_keeps_the_id_and_bumps_the_epoch() {
    let broker = start_default();
    let mut stream = connect(&broker);
    let mut producers = Vec::new();
    for version in versions(22) {
        let response = init_txn_at(&mut stream, version, "tx");
        assert_eq!(response.error_code, 0, "v{version}");
        producers.push((response.producer_id.0, response.producer_epoch));
    }
    let first = producers[0].0;
    assert!(first >= 0);
    let expected: Vec<(i64, i16)> = (0..producers.len() as i16).map(|epoch| (first, epoch)).collect();
    assert_eq!(producers, expected, "one producer id, a new epoch each time");
    // v3+: a producer naming the id's current producer and epoch gets the next epoch; asking
    // again with the same (its answer lost), the same answer; naming an older epoch, it is
    // fenced (INVALID_PRODUCER_EPOCH before v4, which knows PRODUCER_FENCED).
    let (id, epoch) = producers[producers.len() - 1];
    let again = |stream: &mut TcpStream, version: i16, epoch: i16| -> InitProducerIdResponse {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(txn_id("tx")))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch);
        call(stream, 22, version, &request)
    };
    let current = again(&mut stream, 4, epoch);
    assert_eq!((current.error_code, current.producer_id.0, current.producer_epoch), (0, id, epoch + 1));
    let retried = again(&mut stream, 4, epoch);
    assert_eq!((retried.error_code, retried.producer_id.0, retried.producer_epoch), (0, id, epoch + 1));
    for (version, expected) in [(3, INVALID_PRODUCER_EPOCH), (4, PRODUCER_FENCED)] {
        let stale = again(&mut stream, version, epoch - 1);
        assert_eq!((stale.error_code, stale.producer_id.0, stale.producer_epoch), (expected, -1, -1), "v{version}");
    }
    // Refused: an empty transactional id; a timeout of 0 or past transaction.max.timeout.ms.
    let empty = init_txn_at(&mut stream, 4, "");
    assert_eq!(empty.error_code, INVALID_REQUEST);
    for timeout in [0, 900_001] {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(txn_id("tx-timeout")))
            .with_transaction_timeout_ms(timeout)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let response: InitProducerIdResponse = call(&mut stream, 22, 4, &request);
        assert_eq!(response.error_code, INVALID_TRANSACTION_TIMEOUT, "timeout {timeout}");
    }
}

/// A whole transaction at every version of AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit
/// and EndTxn: begun, written to two partitions, offsets committed in it, described and listed
/// while open, committed, then read by a read_committed consumer.
#[test]
fn a_transaction_round_trip_at_every_version() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "rt", 2);
    create_topic(&mut stream, "rt-in", 1);
    let topic_id = metadata_topic(&mut stream, "rt").unwrap().topic_id;
    for version in versions(24) {
        for api in [25, 26, 28] {
            assert!(versions(api).contains(&version), "api {api} v{version}");
        }
        let id = format!("round-trip-{version}");
        let group = format!("rt-group-{version}");
        let txn = init_txn(&mut stream, &id);
        let empty = describe_txns(&mut stream, &[&id]);
        assert_eq!(&*empty.transaction_states[0].transaction_state, "Empty", "v{version}");

        assert_eq!(add_partitions(&mut stream, version, &txn, &[("rt", &[0, 1])]), [0, 0], "v{version}");
        let start = oracle::high_watermark(&mut stream, "rt", 0);
        let (error, base) = produce_txn(&mut stream, &txn, ("rt", 0), 0, &["a", "b"]);
        assert_eq!((error, base), (0, start), "v{version}");
        assert_eq!(produce_txn(&mut stream, &txn, ("rt", 1), 0, &["c"]).0, 0, "v{version}");
        assert_eq!(add_offsets(&mut stream, version, &txn, &group), 0, "v{version}");
        let committed = 10 + i64::from(version);
        assert_eq!(txn_commit(&mut stream, version, &txn, &group, "rt-in", &[(0, committed)]), [0], "v{version}");

        // Open: read_committed consumers stop at its first offset; its offsets are unstable.
        let open = fetch_committed(&mut stream, 12, ("rt", topic_id), 0, start);
        assert_eq!((open.error_code, open.high_watermark, open.last_stable_offset), (0, start + 2, start));
        assert_eq!(records_of(&open), vec![], "v{version}: nothing stable past the open transaction");
        assert_eq!(latest_offset(&mut stream, 8, "rt", 0, 1), start);
        assert_eq!(latest_offset(&mut stream, 8, "rt", 0, 0), start + 2);
        for v in [7, 8] {
            assert_eq!(offset_fetch_stable(&mut stream, v, &group, "rt-in", &[0]), [(UNSTABLE_OFFSET_COMMIT, -1)]);
        }
        let described = describe_txns(&mut stream, &[&id]);
        let state = &described.transaction_states[0];
        assert_eq!(state.error_code, 0);
        assert_eq!(&*state.transactional_id.0, id.as_str());
        assert_eq!(&*state.transaction_state, "Ongoing");
        assert_eq!((state.producer_id.0, state.producer_epoch), (txn.producer_id, txn.epoch));
        assert_eq!(state.transaction_timeout_ms, 60_000);
        assert!(state.transaction_start_time_ms > 1_600_000_000_000, "the start, wall-clock ms");
        let topics: Vec<(String, Vec<i32>)> =
            state.topics.iter().map(|t| (t.topic.0.to_string(), t.partitions.clone())).collect();
        assert_eq!(topics, vec![("rt".to_string(), vec![0, 1])]);
        for list_version in versions(66) {
            let (listed, unknown) = list_txns(&mut stream, list_version, &["Ongoing"], &[], -1);
            assert_eq!(listed, vec![(id.clone(), txn.producer_id, "Ongoing".to_string())], "v{list_version}");
            assert!(unknown.is_empty());
        }

        assert_eq!(end_txn(&mut stream, version, &txn, true), 0, "v{version}");
        // Committed: every record and the marker are readable; the offsets are the group's.
        let done = fetch_committed(&mut stream, 12, ("rt", topic_id), 0, start);
        assert_eq!(
            (done.high_watermark, done.last_stable_offset),
            (start + 3, start + 3),
            "the marker after the batch"
        );
        assert_eq!(aborted_of(&done), []);
        let expected = [(start, "a", false), (start + 1, "b", false), (start + 2, "COMMIT", true)]
            .map(|(o, v, c)| (o, v.to_string(), c));
        assert_eq!(records_of(&done), expected, "v{version}");
        for v in [7, 8] {
            assert_eq!(offset_fetch_stable(&mut stream, v, &group, "rt-in", &[0]), [(0, committed)], "v{version}");
        }
        let described = describe_txns(&mut stream, &[&id]);
        assert_eq!(&*described.transaction_states[0].transaction_state, "CompleteCommit");
        assert!(described.transaction_states[0].topics.is_empty());
    }
    let (listed, _) = list_txns(&mut stream, 0, &["CompleteCommit"], &[], -1);
    let ids: Vec<&str> = listed.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["round-trip-0", "round-trip-1", "round-trip-2", "round-trip-3"]);
}

/// Aborted transactions: their records stay in the log, and read_committed consumers are told which
/// producers' records to drop (Fetch's aborted_transactions) at every Fetch version.
#[test]
fn read_committed_fetches_name_the_aborted_transactions() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "ab", 1);
    let topic_id = metadata_topic(&mut stream, "ab").unwrap().topic_id;
    // Offsets: aborted 0-1 (marker 2), committed 3 (marker 4), aborted again 5 (marker 6), then
    // a transaction left open from 7.
    let mut aborted = Vec::new();
    for (id, commit, values) in [("ab-1", false, &["x1", "x2"][..]), ("ab-2", true, &["ok"]), ("ab-3", false, &["x3"])]
    {
        let txn = init_txn(&mut stream, id);
        assert_eq!(add_partitions(&mut stream, 3, &txn, &[("ab", &[0])]), [0]);
        let (error, base) = produce_txn(&mut stream, &txn, ("ab", 0), 0, values);
        assert_eq!(error, 0);
        assert_eq!(end_txn(&mut stream, 3, &txn, commit), 0);
        if !commit {
            aborted.push((txn.producer_id, base));
        }
    }
    let open = init_txn(&mut stream, "ab-open");
    assert_eq!(add_partitions(&mut stream, 3, &open, &[("ab", &[0])]), [0]);
    assert_eq!(produce_txn(&mut stream, &open, ("ab", 0), 0, &["pending"]), (0, 7));
    assert_eq!(aborted, vec![(aborted[0].0, 0), (aborted[1].0, 5)]);
    for version in versions(1) {
        let p = fetch_committed(&mut stream, version, ("ab", topic_id), 0, 0);
        assert_eq!((p.error_code, p.high_watermark, p.last_stable_offset), (0, 8, 7), "v{version}");
        assert_eq!(aborted_of(&p), aborted, "v{version}");
        let records = records_of(&p);
        let offsets: Vec<i64> = records.iter().map(|r| r.0).collect();
        assert_eq!(offsets, (0..7).collect::<Vec<_>>(), "v{version}: up to the last stable offset");
        let markers: Vec<(i64, &str)> = records.iter().filter(|r| r.2).map(|r| (r.0, r.1.as_str())).collect();
        assert_eq!(markers, [(2, "ABORT"), (4, "COMMIT"), (6, "ABORT")], "v{version}");
        // From the last marker on, the transaction it ended is still named (as by Kafka, up to its
        // marker); from past it, none.
        let marker = fetch_committed(&mut stream, version, ("ab", topic_id), 0, 6);
        assert_eq!(aborted_of(&marker), aborted[1..], "v{version}");
        let later = fetch_committed(&mut stream, version, ("ab", topic_id), 0, 7);
        assert_eq!(aborted_of(&later), [], "v{version}");
    }
    for version in versions(2).filter(|v| *v >= 2) {
        assert_eq!(latest_offset(&mut stream, version, "ab", 0, 1), 7, "v{version}: the last stable offset");
        assert_eq!(latest_offset(&mut stream, version, "ab", 0, 0), 8, "v{version}: the high watermark");
    }
    assert_eq!(end_txn(&mut stream, 3, &open, false), 0);
    assert_eq!(latest_offset(&mut stream, 8, "ab", 0, 1), 9, "ended: the last stable offset catches up");
    let p = fetch_committed(&mut stream, 16, ("ab", topic_id), 0, 7);
    assert_eq!(aborted_of(&p), [(open.producer_id, 7)]);
}

/// A second InitProducerId for the same transactional id fences the first producer: every request
/// of its old epoch is refused with PRODUCER_FENCED (INVALID_PRODUCER_EPOCH at v0-1, which predate
/// it), and its open transaction is aborted.
#[test]
fn a_new_producer_fences_the_old_one_at_every_version() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "fence", 1);
    for version in versions(26) {
        let id = format!("fenced-{version}");
        let old = init_txn(&mut stream, &id);
        assert_eq!(add_partitions(&mut stream, version, &old, &[("fence", &[0])]), [0]);
        assert_eq!(produce_txn(&mut stream, &old, ("fence", 0), 0, &["old"]).0, 0);
        assert_eq!(add_offsets(&mut stream, version, &old, "fence-group"), 0);
        // The same producer id, a later epoch: one bump to abort the open transaction (as Kafka's
        // fencing does), one for the new producer.
        let new = init_txn(&mut stream, &id);
        assert_eq!((new.producer_id, new.epoch), (old.producer_id, old.epoch + 2), "v{version}");
        let state = describe_txns(&mut stream, &[&id]);
        assert_eq!(&*state.transaction_states[0].transaction_state, "Empty", "the old transaction aborted");
        let fenced = if version >= 2 { PRODUCER_FENCED } else { INVALID_PRODUCER_EPOCH };
        assert_eq!(end_txn(&mut stream, version, &old, true), fenced, "EndTxn v{version}");
        assert_eq!(
            add_partitions(&mut stream, version, &old, &[("fence", &[0])]),
            [fenced],
            "AddPartitionsToTxn v{version}"
        );
        assert_eq!(add_offsets(&mut stream, version, &old, "fence-group"), fenced, "AddOffsetsToTxn v{version}");
        assert_eq!(
            txn_commit(&mut stream, version, &old, "fence-group", "fence", &[(0, 1)]),
            [fenced],
            "TxnOffsetCommit v{version}"
        );
        // Produce has no PRODUCER_FENCED: an old epoch's batch is INVALID_PRODUCER_EPOCH.
        assert_eq!(produce_txn(&mut stream, &old, ("fence", 0), 1, &["late"]).0, INVALID_PRODUCER_EPOCH);
        // The new producer has no transaction to end yet; then it has one.
        assert_eq!(end_txn(&mut stream, version, &new, true), INVALID_TXN_STATE, "v{version}");
        assert_eq!(add_partitions(&mut stream, version, &new, &[("fence", &[0])]), [0]);
        assert_eq!(produce_txn(&mut stream, &new, ("fence", 0), 0, &["new"]).0, 0);
        assert_eq!(end_txn(&mut stream, version, &new, true), 0, "v{version}");
    }
    // The old producers' records were aborted, the new ones' committed.
    let topic_id = metadata_topic(&mut stream, "fence").unwrap().topic_id;
    let p = fetch_committed(&mut stream, 16, ("fence", topic_id), 0, 0);
    assert_eq!(aborted_of(&p).len(), versions(26).count());
    let values: Vec<String> = records_of(&p).into_iter().filter(|r| !r.2).map(|r| r.1).collect();
    assert_eq!(values.iter().filter(|v| *v == "new").count(), versions(26).count());
}

#[test]
fn transaction_requests_that_are_refused() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "refused", 1);
    for version in versions(24) {
        let id = format!("refused-{version}");
        let txn = init_txn(&mut stream, &id);
        // All or nothing: a partition that does not exist fails the others.
        let codes = add_partitions(&mut stream, version, &txn, &[("refused", &[0, 4]), ("nope", &[0])]);
        assert_eq!(codes, [OPERATION_NOT_ATTEMPTED, UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_OR_PARTITION]);
        // A transactional id the coordinator does not know.
        let stranger = Txn { id: "stranger".to_string(), ..txn.clone() };
        assert_eq!(
            add_partitions(&mut stream, version, &stranger, &[("refused", &[0])]),
            [INVALID_PRODUCER_ID_MAPPING]
        );
        assert_eq!(add_offsets(&mut stream, version, &stranger, "g"), INVALID_PRODUCER_ID_MAPPING);
        assert_eq!(end_txn(&mut stream, version, &stranger, false), INVALID_PRODUCER_ID_MAPPING);
        assert_eq!(
            txn_commit(&mut stream, version, &stranger, "g", "refused", &[(0, 1)]),
            [INVALID_PRODUCER_ID_MAPPING]
        );
        // A batch for a partition the transaction did not add.
        assert_eq!(produce_txn(&mut stream, &txn, ("refused", 0), 0, &["x"]).0, INVALID_TXN_STATE);
        // Offsets of a group the transaction did not add; an empty group id.
        assert_eq!(txn_commit(&mut stream, version, &txn, "g", "refused", &[(0, 1)]), [INVALID_TXN_STATE]);
        assert_eq!(add_offsets(&mut stream, version, &txn, ""), INVALID_GROUP_ID);
        // Offsets of an aborted transaction never become the group's.
        assert_eq!(add_offsets(&mut stream, version, &txn, "g"), 0);
        let codes = txn_commit(&mut stream, version, &txn, "g", "refused", &[(0, 1), (3, 1)]);
        assert_eq!(codes, [0, UNKNOWN_TOPIC_OR_PARTITION]);
        assert_eq!(end_txn(&mut stream, version, &txn, false), 0);
        assert_eq!(end_txn(&mut stream, version, &txn, true), INVALID_TXN_STATE, "v{version}: aborted, not committed");
        assert_eq!(offset_fetch_stable(&mut stream, 8, "g", "refused", &[0]), [(0, -1)]);
    }
    // DescribeTransactions: an unknown id; each id once.
    let described = describe_txns(&mut stream, &["refused-0", "nope", "refused-0"]);
    let states: Vec<(i16, String, String)> = described
        .transaction_states
        .iter()
        .map(|t| (t.error_code, t.transactional_id.0.to_string(), t.transaction_state.to_string()))
        .collect();
    assert_eq!(
        states,
        [
            (0, "refused-0".to_string(), "CompleteAbort".to_string()),
            (TRANSACTIONAL_ID_NOT_FOUND, "nope".to_string(), String::new())
        ]
    );
    // ListTransactions: filters by state (an unknown one is returned), producer id, duration.
    let producer_id = described.transaction_states[0].producer_id.0;
    for version in versions(66) {
        let (all, _) = list_txns(&mut stream, version, &[], &[], -1);
        assert_eq!(all.len(), versions(24).count(), "v{version}");
        let (none, unknown) = list_txns(&mut stream, version, &["Bogus"], &[], -1);
        assert_eq!((none.len(), unknown), (0, vec!["Bogus".to_string()]), "v{version}");
        let (one, _) = list_txns(&mut stream, version, &["CompleteAbort", "Bogus"], &[producer_id], -1);
        assert_eq!(one, [("refused-0".to_string(), producer_id, "CompleteAbort".to_string())], "v{version}");
    }
    let open = init_txn(&mut stream, "long-open");
    assert_eq!(add_offsets(&mut stream, 3, &open, "g"), 0);
    let (listed, _) = list_txns(&mut stream, 1, &[], &[], 3_600_000);
    assert!(listed.is_empty(), "open for less than an hour");
    let (listed, _) = list_txns(&mut stream, 1, &["Ongoing"], &[], 0);
    assert_eq!(listed, [("long-open".to_string(), open.producer_id, "Ongoing".to_string())]);
}

#[test]
fn what_transactions_hold_is_bounded() {
    // Transactional ids: `max.transactional.ids`; the next new id is refused, a known one is not.
    let broker = common::Broker::start("max.transactional.ids=3\n");
    let mut stream = connect(&broker);
    for id in ["a", "b", "c"] {
        init_txn(&mut stream, id);
    }
    assert_eq!(init_txn_at(&mut stream, 4, "d").error_code, 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED");
    assert_eq!(init_txn_at(&mut stream, 4, "a").error_code, 0, "a known id is served");
    assert_eq!(broker.wait_for_log_lines("max.transactional.ids", 1), 1);
    // Groups of one transaction: at most 100.
    create_topic(&mut stream, "bounded", 1);
    let txn = init_txn(&mut stream, "b");
    for g in 0..100 {
        assert_eq!(add_offsets(&mut stream, 3, &txn, &format!("g{g}")), 0);
    }
    assert_eq!(add_offsets(&mut stream, 3, &txn, "g100"), INVALID_REQUEST, "the 101st group");
    assert_eq!(add_offsets(&mut stream, 3, &txn, "g7"), 0, "a group already added");
    assert_eq!(end_txn(&mut stream, 3, &txn, false), 0);
}

#[test]
fn offsets_held_by_open_transactions_are_bounded() {
    // Ten per partition the broker may have: 20 partitions, 200 offsets.
    let broker = common::Broker::start("max.partitions=20\n");
    let mut stream = connect(&broker);
    create_topic(&mut stream, "held", 20);
    let txn = init_txn(&mut stream, "holder");
    let all: Vec<(i32, i64)> = (0..20).map(|p| (p, 1)).collect();
    for g in 0..10 {
        assert_eq!(add_offsets(&mut stream, 3, &txn, &format!("g{g}")), 0);
        assert!(txn_commit(&mut stream, 3, &txn, &format!("g{g}"), "held", &all).iter().all(|c| *c == 0));
    }
    assert_eq!(add_offsets(&mut stream, 3, &txn, "g10"), 0);
    let refused = txn_commit(&mut stream, 3, &txn, "g10", "held", &all[..1]);
    assert_eq!(refused, [INVALID_REQUEST], "the 201st offset");
    assert_eq!(broker.wait_for_log_lines("offsets refused", 1), 1);
    // Committed, they are the groups' own and no longer held: there is room again.
    assert_eq!(end_txn(&mut stream, 3, &txn, true), 0);
    let txn = init_txn(&mut stream, "holder");
    assert_eq!(add_offsets(&mut stream, 3, &txn, "g10"), 0);
    assert_eq!(txn_commit(&mut stream, 3, &txn, "g10", "held", &all[..1]), [0]);
}

#[test]
fn a_transactions_offsets_survive_a_restart_before_it_commits() {
    let dir = common::TempDir::new("txn-offsets");
    let properties = format!("log.dirs={}\n", dir.path().display());
    let broker = common::Broker::start(&properties);
    let mut stream = connect(&broker);
    create_topic(&mut stream, "input", 1);
    let txn = init_txn(&mut stream, "etl");
    assert_eq!(add_offsets(&mut stream, 3, &txn, "readers"), 0);
    assert_eq!(txn_commit(&mut stream, 3, &txn, "readers", "input", &[(0, 42)]), [0]);
    // The broker stops between TxnOffsetCommit and EndTxn: the offsets were saved with the
    // transaction, so the commit after the restart still carries them.
    drop(stream);
    drop(broker);
    let broker = common::Broker::start(&properties);
    let mut stream = connect(&broker);
    assert_eq!(offset_fetch_stable(&mut stream, 8, "readers", "input", &[0]), [(UNSTABLE_OFFSET_COMMIT, -1)]);
    assert_eq!(end_txn(&mut stream, 3, &txn, true), 0);
    assert_eq!(offset_fetch_stable(&mut stream, 8, "readers", "input", &[0]), [(0, 42)]);
}

#[test]
fn the_last_stable_offset_never_falls_below_the_log_start() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "cut", 1);
    let txn = init_txn(&mut stream, "cutter");
    assert_eq!(add_partitions(&mut stream, 3, &txn, &[("cut", &[0])]), [0]);
    assert_eq!(produce_txn(&mut stream, &txn, ("cut", 0), 0, &["open"]), (0, 0));
    assert_eq!(latest_offset(&mut stream, 8, "cut", 0, 1), 0, "the open transaction holds it at 0");
    // DeleteRecords past the open transaction's first batch: the LSO starts where the log does.
    assert_eq!(oracle::delete_records(&mut stream, 2, "cut", 0, 1), (0, 1));
    assert_eq!(latest_offset(&mut stream, 8, "cut", 0, 1), 1);
    // The ABORT marker still closes the transaction.
    assert_eq!(end_txn(&mut stream, 3, &txn, false), 0);
    assert_eq!(latest_offset(&mut stream, 8, "cut", 0, 1), 2);
}
