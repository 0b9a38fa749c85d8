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
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_eq!(txn.error_code, 53);
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
