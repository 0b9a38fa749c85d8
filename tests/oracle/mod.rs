//! Requests and record batches built with `kafka-protocol`, an implementation of the Kafka wire
//! format independent of ours: what the tests send is not shaped by our own encoder, and what
//! the broker answers must decode with its decoder.
//!
//! Also the questions tests ask about the broker's state (does a topic exist, how many partitions,
//! its high watermark, a fresh producer id), asked as a client asks them: over the protocol.
#![allow(dead_code)]

use crate::common::read_response;
use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use std::io::Write;
use std::net::TcpStream;

pub fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

pub fn topic_name(text: &str) -> TopicName {
    TopicName(s(text))
}

/// Sends `request` as `api_key` v`version` and decodes the response, checking the correlation id
/// and that no byte is left over.
pub fn call<Req, Resp>(stream: &mut TcpStream, api_key: i16, version: i16, request: &Req) -> Resp
where
    Req: Encodable + HeaderVersion,
    Resp: Decodable + HeaderVersion,
{
    let correlation_id = send(stream, api_key, version, request);
    let mut response = Bytes::from(read_response(stream)).slice(4..);
    let header = ResponseHeader::decode(&mut response, Resp::header_version(version)).unwrap();
    assert_eq!(header.correlation_id, correlation_id, "api {api_key} v{version}");
    let decoded = Resp::decode(&mut response, version).unwrap_or_else(|e| panic!("api {api_key} v{version}: {e}"));
    assert_eq!(response.remaining(), 0, "api {api_key} v{version}: bytes left over");
    decoded
}

/// Sends `request` as `api_key` v`version` without reading the answer; returns its correlation id.
pub fn send<Req: Encodable + HeaderVersion>(stream: &mut TcpStream, api_key: i16, version: i16, request: &Req) -> i32 {
    let correlation_id = 1000 + i32::from(version);
    let header = RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(s("oracle")));
    let mut body = BytesMut::new();
    header.encode(&mut body, Req::header_version(version)).unwrap();
    request.encode(&mut body, version).unwrap();
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame).unwrap();
    correlation_id
}

/// One uncompressed batch of `(key, value)` records, timestamps 1_700_000_000_000 + i.
pub fn batch(records: &[(&str, &str)], offset: i64) -> Bytes {
    producer_batch(records, offset, -1, -1, 0)
}

/// One batch from an idempotent producer: its id, epoch and the first record's sequence.
pub fn producer_batch(
    records: &[(&str, &str)],
    offset: i64,
    producer_id: i64,
    producer_epoch: i16,
    first_sequence: i32,
) -> Bytes {
    encode_batch(records, offset, producer_id, producer_epoch, first_sequence, false)
}

/// One batch from a transactional producer (the batch's transactional flag set), at offset 0: its
/// id, epoch and the first record's sequence.
pub fn transactional_batch(
    records: &[(&str, &str)],
    producer_id: i64,
    producer_epoch: i16,
    first_sequence: i32,
) -> Bytes {
    encode_batch(records, 0, producer_id, producer_epoch, first_sequence, true)
}

fn encode_batch(
    records: &[(&str, &str)],
    offset: i64,
    producer_id: i64,
    producer_epoch: i16,
    first_sequence: i32,
    transactional: bool,
) -> Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: offset + i as i64,
            // Records whose offset - sequence agree go into one batch.
            sequence: first_sequence + i as i32,
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(k.to_string())),
            value: Some(Bytes::from(v.to_string())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression: Compression::None })
        .unwrap();
    buf.freeze()
}

/// Creates a topic (CreateTopics v7), asserting success.
pub fn create_topic(stream: &mut TcpStream, name: &str, partitions: i32) {
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1),
    ]);
    let response: CreateTopicsResponse = call(stream, 19, 7, &request);
    assert_eq!(response.topics[0].error_code, 0);
}

/// Produces one batch; returns (error_code, base_offset).
pub fn produce(stream: &mut TcpStream, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(5000).with_topic_data(vec![
        TopicProduceData::default().with_name(topic_name(topic)).with_partition_data(vec![
            PartitionProduceData::default().with_index(partition).with_records(Some(records)),
        ]),
    ]);
    let response: ProduceResponse = call(stream, 0, 11, &request);
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// Fetches from `offset` (by name, v12) with a wait; returns (error, high watermark, records bytes).
pub fn fetch(
    stream: &mut TcpStream,
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    max_bytes: i32,
) -> (i16, i64, Bytes) {
    fetch_min(stream, topic, partition, offset, max_wait_ms, 1, max_bytes)
}

/// [`fetch`] that waits for at least `min_bytes`.
pub fn fetch_min(
    stream: &mut TcpStream,
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
) -> (i16, i64, Bytes) {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default().with_topic(topic_name(topic)).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(max_bytes),
            ])]);
    let response: FetchResponse = call(stream, 1, 12, &request);
    let p = &response.responses[0].partitions[0];
    (p.error_code, p.high_watermark, p.records.clone().unwrap_or_default())
}

/// Metadata v12 for `topic` alone, never auto-creating it: `None` when the broker does not know
/// the topic (UNKNOWN_TOPIC_OR_PARTITION), else its entry (error_code 0 asserted).
pub fn metadata_topic(stream: &mut TcpStream, topic: &str) -> Option<metadata_response::MetadataResponseTopic> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name(topic)))]))
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = call(stream, 3, 12, &request);
    assert_eq!(response.topics.len(), 1, "{topic}: one topic asked, one answered");
    let entry = response.topics.into_iter().next().unwrap();
    match entry.error_code {
        3 => None,
        0 => Some(entry),
        code => panic!("{topic}: Metadata error {code}"),
    }
}

/// How many partitions the broker reports for `topic`; `None` when it does not exist.
pub fn partition_count(stream: &mut TcpStream, topic: &str) -> Option<usize> {
    metadata_topic(stream, topic).map(|t| t.partitions.len())
}

/// DeleteRecords `version` of one partition below `offset`: (error, low watermark).
pub fn delete_records(stream: &mut TcpStream, version: i16, topic: &str, partition: i32, offset: i64) -> (i16, i64) {
    let request = DeleteRecordsRequest::default().with_timeout_ms(5000).with_topics(vec![
        DeleteRecordsTopic::default().with_name(topic_name(topic)).with_partitions(vec![
            DeleteRecordsPartition::default().with_partition_index(partition).with_offset(offset),
        ]),
    ]);
    let response: DeleteRecordsResponse = call(stream, 21, version, &request);
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.low_watermark)
}

/// The high watermark of `topic`/`partition`: ListOffsets v8 for the latest offset (timestamp -1,
/// read-uncommitted), which is the high watermark.
pub fn high_watermark(stream: &mut TcpStream, topic: &str, partition: i32) -> i64 {
    list_offset(stream, topic, partition, -1)
}

/// ListOffsets v8 for `timestamp` (-1 latest, -2 earliest: the log start offset), asserting success.
pub fn list_offset(stream: &mut TcpStream, topic: &str, partition: i32, timestamp: i64) -> i64 {
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default().with_name(topic_name(topic)).with_partitions(vec![
            ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(timestamp),
        ]),
    ]);
    let response: ListOffsetsResponse = call(stream, 2, 8, &request);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0, "{topic}/{partition}: ListOffsets");
    p.offset
}

/// A new producer id from InitProducerId v4 (no transactional id), asserting success and epoch 0.
pub fn init_producer_id(stream: &mut TcpStream) -> i64 {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let response: InitProducerIdResponse = call(stream, 22, 4, &request);
    assert_eq!((response.error_code, response.producer_epoch), (0, 0), "InitProducerId");
    response.producer_id.0
}
