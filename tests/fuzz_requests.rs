//! No input makes the broker panic. Real requests (the stage fixtures and requests built by the
//! independent `kafka-protocol` crate, for every API at every version) are mutated at random —
//! bytes flipped, frames cut short, lengths set to extremes, garbage appended — and handed to
//! the request handler in process: no socket in between, so a panic fails the test directly.
//! Each must end in a response or a "close the connection" error.
//!
//! Deterministic (a fixed-seed xorshift generator), so a failure reproduces.

mod common;
mod oracle;

use bytes::BytesMut;
use common::XorShift;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion};
use mini_kafka::broker::Broker;
use mini_kafka::config::Config;
use mini_kafka::server::handle_frame;
use mini_kafka::wire::{Reader, SharedBytes};
use oracle::{batch, s, topic_name};

/// A request frame body (no size prefix): header + body, as kafka-protocol encodes them.
fn encode<R: Encodable + HeaderVersion>(api_key: i16, version: i16, request: &R) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(version)
        .with_correlation_id(42)
        .with_client_id(Some(s("fuzz")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(version)).unwrap();
    request.encode(&mut buf, version).unwrap();
    buf.to_vec()
}

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for spec in mini_kafka::api::SUPPORTED_APIS {
        for v in spec.min..=spec.max {
            match spec.key {
                0 => seeds.push(encode(
                    0,
                    v,
                    &ProduceRequest::default().with_acks(1).with_topic_data(vec![
                        TopicProduceData::default().with_name(topic_name("fuzz")).with_partition_data(vec![
                            PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(batch(&[("k", "v"), ("k2", "v2")], 0))),
                        ]),
                    ]),
                )),
                2 => seeds.push(encode(
                    2,
                    v,
                    &ListOffsetsRequest::default().with_topics(vec![
                        ListOffsetsTopic::default().with_name(topic_name("fuzz")).with_partitions(vec![
                            ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1),
                        ]),
                    ]),
                )),
                3 => seeds.push(encode(
                    3,
                    v,
                    &MetadataRequest::default()
                        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name("fuzz")))])),
                )),
                18 => seeds.push(encode(
                    18,
                    v,
                    &ApiVersionsRequest::default()
                        .with_client_software_name(s("f"))
                        .with_client_software_version(s("1")),
                )),
                19 => seeds.push(encode(
                    19,
                    v,
                    &CreateTopicsRequest::default().with_topics(vec![
                        CreatableTopic::default()
                            .with_name(topic_name("fuzz"))
                            .with_num_partitions(2)
                            .with_replication_factor(1)
                            .with_configs(vec![
                                CreatableTopicConfig::default()
                                    .with_name(s("retention.ms"))
                                    .with_value(Some(s("1000"))),
                            ]),
                    ]),
                )),
                20 => seeds.push(encode(
                    20,
                    v,
                    &DeleteTopicsRequest::default().with_topic_names(vec![topic_name("gone")]),
                )),
                32 => seeds.push(encode(
                    32,
                    v,
                    &DescribeConfigsRequest::default().with_resources(vec![
                        DescribeConfigsResource::default().with_resource_type(2).with_resource_name(s("fuzz")),
                    ]),
                )),
                _ => {}
            }
        }
    }
    // The CodeCrafters stage fixtures: ApiVersions, DescribeTopicPartitions, Fetch and Produce.
    let stages = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stages");
    for dir in std::fs::read_dir(stages).unwrap().flatten() {
        if let Ok(text) = std::fs::read_to_string(dir.path().join("request.hex")) {
            let frame = common::parse_hex(&text);
            if frame.len() > 4 {
                seeds.push(frame[4..].to_vec());
            }
        }
    }
    seeds
}

fn mutate(rng: &mut XorShift, seed: &[u8]) -> Vec<u8> {
    let mut frame = seed.to_vec();
    for _ in 0..=rng.below(3) {
        if frame.is_empty() {
            break;
        }
        let at = rng.below(frame.len());
        match rng.below(5) {
            0 => frame[at] ^= 1 << rng.below(8),
            1 => frame[at] = rng.next() as u8,
            2 => frame.truncate(at),
            3 => {
                // An extreme length or count where an INT16/INT32 might be.
                let extreme: [u8; 4] =
                    [[0x7f, 0xff, 0xff, 0xff], [0xff, 0xff, 0xff, 0xff], [0x80, 0, 0, 0], [0xff, 0xff, 0xff, 0xfe]]
                        [rng.below(4)];
                for (i, b) in extreme.iter().enumerate() {
                    if let Some(slot) = frame.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            _ => frame.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
        }
    }
    frame
}

#[test]
fn mutated_requests_never_panic_the_broker() {
    let broker = Broker::open(Config::parse("").unwrap(), 9092).unwrap();
    let mut rng = XorShift(0x9e3779b97f4a7c15);
    let seeds = seeds();
    assert!(seeds.len() > 60, "seeds for every API version and every stage fixture");
    let mut answered = 0;
    let mut closed = 0;
    for seed in &seeds {
        for _ in 0..1500 {
            let frame = mutate(&mut rng, seed);
            // A Fetch may legitimately wait up to its max_wait_ms for data: only decode those.
            if frame.get(..2) == Some(&[0, 1]) {
                let mut r = Reader::new(&frame);
                let version = frame.get(2..4).map_or(0, |v| i16::from_be_bytes([v[0], v[1]]));
                if mini_kafka::header::decode_prefix(&mut r).is_ok()
                    && mini_kafka::header::decode_client_id(&mut r, version >= 12).is_ok()
                {
                    let _ = mini_kafka::api::fetch::decode(&mut r, version, version >= 12);
                }
                continue;
            }
            match handle_frame(&broker, &SharedBytes::from_vec(frame), "/127.0.0.1", None) {
                Ok(_) => answered += 1,
                Err(_) => closed += 1,
            }
        }
    }
    // Both outcomes happen: the mutations are neither all harmless nor all fatal.
    assert!(answered > 1000 && closed > 1000, "answered {answered}, closed {closed}");
}
