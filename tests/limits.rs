//! Every resource a client can make the broker spend is bounded (issue 11): a request of a few
//! kilobytes must not make the broker build or hold gigabytes. Each test attacks one way and
//! checks the answer and the broker's resident memory (`VmRSS`) afterwards.

mod common;
mod oracle;

use common::{Broker, connect};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use oracle::{call, create_topic, produce, producer_batch, s, topic_name};

/// The broker's resident memory, from /proc.
const MIB: u64 = 1 << 20;

#[test]
fn a_topic_named_many_times_is_described_once_by_metadata() {
    let broker = Broker::start("");
    let mut stream = connect(&broker);
    create_topic(&mut stream, "wide", 2000);
    let before = broker.rss();
    let topic = MetadataRequestTopic::default().with_name(Some(topic_name("wide")));
    let request = MetadataRequest::default().with_topics(Some(vec![topic; 2000]));
    let response: MetadataResponse = call(&mut stream, 3, 1, &request);
    assert_eq!(response.topics.len(), 1);
    assert_eq!(response.topics[0].partitions.len(), 2000);
    assert!(broker.rss() < before + 64 * MIB, "RSS grew by {} MiB", (broker.rss() - before) / MIB);
}

/// One record batch of `n` records of `size` bytes each.
fn big_batch(n: usize, size: usize) -> bytes::Bytes {
    let value = "x".repeat(size);
    let records: Vec<(&str, &str)> = (0..n).map(|_| ("k", value.as_str())).collect();
    producer_batch(&records, 0, -1, -1, 0)
}

fn fetch_v4(stream: &mut std::net::TcpStream, topic: &str, partitions: &[i32], max_bytes: i32) -> FetchResponse {
    let request = FetchRequest::default().with_replica_id(BrokerId(-1)).with_max_bytes(max_bytes).with_topics(vec![
        FetchTopic::default().with_topic(topic_name(topic)).with_partitions(
            partitions
                .iter()
                .map(|p| FetchPartition::default().with_partition(*p).with_partition_max_bytes(i32::MAX))
                .collect(),
        ),
    ]);
    call(stream, 1, 4, &request)
}

#[test]
fn a_partition_named_many_times_is_read_once_by_fetch() {
    let broker = Broker::start("");
    let mut stream = connect(&broker);
    create_topic(&mut stream, "data", 1);
    for _ in 0..4 {
        assert_eq!(produce(&mut stream, "data", 0, big_batch(200, 1000)).0, 0);
    }
    let before = broker.rss();
    let response = fetch_v4(&mut stream, "data", &[0; 300], i32::MAX);
    let partitions: Vec<_> = response.responses.iter().flat_map(|t| &t.partitions).collect();
    assert_eq!(partitions.len(), 1, "one answer for the partition");
    let records = partitions[0].records.as_ref().unwrap().len();
    assert!((800_000..1_000_000).contains(&records), "{records} bytes");
    assert!(broker.rss() < before + 64 * MIB, "RSS grew by {} MiB", (broker.rss() - before) / MIB);
}

#[test]
fn a_fetch_response_holds_at_most_fetch_max_bytes_of_records() {
    let broker = Broker::start("fetch.max.bytes=1000000");
    let mut stream = connect(&broker);
    create_topic(&mut stream, "data", 3);
    for partition in 0..3 {
        for _ in 0..4 {
            assert_eq!(produce(&mut stream, "data", partition, big_batch(100, 1000)).0, 0);
        }
    }
    let response = fetch_v4(&mut stream, "data", &[0, 1, 2], i32::MAX);
    let total: usize =
        response.responses.iter().flat_map(|t| &t.partitions).map(|p| p.records.as_ref().map_or(0, |r| r.len())).sum();
    // Batches of about 100 kB: as many as fit in 1,000,000 bytes, not the 1.2 MB stored.
    assert!((800_000..=1_000_000).contains(&total), "{total} bytes of records");
    // A first batch larger than the limit still comes (or the consumer would be stuck behind it).
    let small = Broker::start("fetch.max.bytes=1000");
    let mut stream = connect(&small);
    create_topic(&mut stream, "data", 1);
    assert_eq!(produce(&mut stream, "data", 0, big_batch(10, 1000)).0, 0);
    let response = fetch_v4(&mut stream, "data", &[0], i32::MAX);
    let records = response.responses[0].partitions[0].records.as_ref().unwrap().len();
    assert!(records > 10_000, "the first batch, whole: {records} bytes");
}

#[test]
fn groups_and_resources_named_many_times_are_answered_once() {
    let broker = Broker::start("");
    let mut stream = connect(&broker);
    create_topic(&mut stream, "configured", 1);
    let groups: DescribeGroupsResponse =
        call(&mut stream, 15, 5, &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g")); 100]));
    assert_eq!(groups.groups.len(), 1);
    let resource = DescribeConfigsResource::default().with_resource_type(2).with_resource_name(s("configured"));
    let configs: DescribeConfigsResponse =
        call(&mut stream, 32, 4, &DescribeConfigsRequest::default().with_resources(vec![resource; 100]));
    assert_eq!(configs.results.len(), 1);
    let group = OffsetFetchRequestGroup::default().with_group_id(GroupId(s("g")));
    let offsets: OffsetFetchResponse =
        call(&mut stream, 9, 8, &OffsetFetchRequest::default().with_groups(vec![group; 100]));
    assert_eq!(offsets.groups.len(), 1);
}

#[test]
fn a_small_batch_in_a_large_request_does_not_keep_the_request_alive() {
    // Each request: 69 bytes for a real topic, 20 MiB of records for one that does not exist. A
    // stored view into the request would keep all 20 MiB alive for as long as the record lives.
    let broker = Broker::start("");
    let mut stream = connect(&broker);
    create_topic(&mut stream, "small", 1);
    let padding = bytes::Bytes::from(vec![0u8; 20 << 20]);
    let before = broker.rss();
    for _ in 0..15 {
        let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(5000).with_topic_data(vec![
            TopicProduceData::default().with_name(topic_name("small")).with_partition_data(vec![
                PartitionProduceData::default().with_index(0).with_records(Some(oracle::batch(&[("k", "v")], 0))),
            ]),
            TopicProduceData::default().with_name(topic_name("absent")).with_partition_data(vec![
                PartitionProduceData::default().with_index(0).with_records(Some(padding.clone())),
            ]),
        ]);
        let response: ProduceResponse = call(&mut stream, 0, 9, &request);
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
        assert_eq!(response.responses[1].partition_responses[0].error_code, 3);
    }
    // 15 × 20 MiB would be 300 MiB; what stays is the records, and the allocator's slack.
    let grown = broker.rss().saturating_sub(before);
    assert!(grown < 64 * MIB, "RSS grew by {} MiB", grown / MIB);
}

/// The most address space the broker ever had (`VmPeak`): what it reserved, touched or not.
fn peak_address_space(broker: &Broker) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", broker.pid())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmPeak:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[test]
fn a_count_in_a_request_reserves_nothing_before_its_elements_decode() {
    // CreateTopics v7 claiming 30 million topics, with 30 MB of zeros after the count: the count
    // passes the "no more elements than bytes left" check, but reserving room for 30 million
    // topics up front would take gigabytes of address space. The first element fails to decode.
    let broker = Broker::start("");
    let mut stream = connect(&broker);
    let count = 30_000_000u64;
    let mut body = vec![0, 19, 0, 7, 0, 0, 0, 1, 0, 0, 0]; // CreateTopics v7, correlation id 1, client "", tags
    let mut n = count + 1; // COMPACT_ARRAY: count + 1, as an unsigned varint
    while n >= 0x80 {
        body.push((n as u8) | 0x80);
        n >>= 7;
    }
    body.push(n as u8);
    body.resize(body.len() + 30_000_000, 0);
    let before = peak_address_space(&broker);
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend(body);
    std::io::Write::write_all(&mut stream, &frame).unwrap();
    common::assert_closed(&mut stream, "malformed CreateTopics");
    let grown = peak_address_space(&broker).saturating_sub(before);
    // The frame itself takes 30 MB, and thread stacks and allocator arenas move the peak too.
    assert!(grown < 512 * MIB, "peak address space grew by {} MiB", grown / MIB);
    // And the broker still serves.
    create_topic(&mut connect(&broker), "after", 1);
}

/// ApiVersions v4 on `stream`: answered means served.
fn served(stream: &mut std::net::TcpStream) -> bool {
    let request = common::parse_hex("00 00 00 11 00 12 00 04 00 00 00 01 00 01 61 00 02 61 02 31 00");
    let mut size = [0u8; 4];
    std::io::Write::write_all(stream, &request).is_ok()
        && stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).is_ok()
        && std::io::Read::read_exact(stream, &mut size).is_ok()
        && std::io::Read::read_exact(stream, &mut vec![0u8; u32::from_be_bytes(size) as usize]).is_ok()
}

#[test]
fn connections_over_max_connections_are_closed_and_the_others_served() {
    let broker = Broker::start("max.connections=5");
    let mut open: Vec<_> = (0..5).map(|_| connect(&broker)).collect();
    for stream in &mut open {
        assert!(served(stream));
    }
    let mut sixth = connect(&broker);
    common::assert_closed(&mut sixth, "the sixth connection");
    assert!(broker.wait_for_log_lines("(max.connections)", 1) >= 1);
    drop(open.pop());
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(served(&mut connect(&broker)), "a slot freed by a closed connection is used again");
}

#[test]
fn idle_and_stalled_connections_are_closed() {
    let broker = Broker::start("connections.max.idle.ms=400");
    let started = std::time::Instant::now();
    let mut idle = connect(&broker);
    assert!(served(&mut idle));
    // Half a request, then nothing: its bytes are freed with the connection.
    let mut stalled = connect(&broker);
    std::io::Write::write_all(&mut stalled, &[0, 0, 0, 100, 0, 18, 0, 4]).unwrap();
    common::assert_closed(&mut idle, "idle for connections.max.idle.ms");
    common::assert_closed(&mut stalled, "a request stalled for connections.max.idle.ms");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "closed after {:?}", started.elapsed());
    assert!(served(&mut connect(&broker)));
}

#[test]
fn requests_in_flight_share_queued_max_request_bytes() {
    // Eight clients each send 15 MiB of a 16 MiB request and stop. The broker holds at most
    // queued.max.request.bytes (32 MiB) of them, not 120 MiB; the others wait for room.
    let broker = Broker::start(
        "socket.request.max.bytes=16777216\nqueued.max.request.bytes=33554432\nconnections.max.idle.ms=3000",
    );
    let before = broker.rss();
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let mut stream = connect(&broker);
            std::thread::spawn(move || {
                let _ = std::io::Write::write_all(&mut stream, &(16u32 << 20).to_be_bytes());
                let _ = std::io::Write::write_all(&mut stream, &vec![0u8; 15 << 20]);
                stream // kept open: the requests stay unfinished
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let grown = broker.rss().saturating_sub(before);
    assert!(grown < 48 * MIB, "RSS grew by {} MiB", grown / MIB);
    // The broker still answers others (small requests need little room) ...
    assert!(served(&mut connect(&broker)));
    // ... and once the stalled requests are dropped, their memory is free for new ones.
    for sender in senders {
        drop(sender.join());
    }
    std::thread::sleep(std::time::Duration::from_millis(4000));
    let mut stream = connect(&broker);
    create_topic(&mut stream, "after", 1);
    assert_eq!(produce(&mut stream, "after", 0, big_batch(10, 100_000)).0, 0);
}

/// CPU seconds the broker has used (user + system), from /proc.
fn cpu_seconds(broker: &Broker) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", broker.pid())).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

#[test]
fn out_of_file_descriptors_the_broker_waits_instead_of_spinning() {
    // 64 descriptors: a few for the broker itself, the rest taken by connections. Past that,
    // accept fails with EMFILE: the broker must pause rather than retry at once, log a line a
    // second rather than thousands, and serve again as soon as a descriptor is free.
    let broker = Broker::start_with_open_files("", 64);
    let mut held = Vec::new();
    for _ in 0..80 {
        match std::net::TcpStream::connect(broker.addr) {
            Ok(stream) => held.push(stream),
            Err(_) => break,
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (cpu, lines) = (cpu_seconds(&broker), broker.log_lines_with("accept failed"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    let used = cpu_seconds(&broker) - cpu;
    assert!(used < 1.0, "{used} s of CPU in 2 s with no descriptor left: it spins");
    let logged = broker.log_lines_with("accept failed") - lines;
    assert!(logged <= 4, "{logged} 'accept failed' lines in 2 s");
    held.clear();
    let started = std::time::Instant::now();
    assert!(served(&mut connect(&broker)));
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "served after {:?}", started.elapsed());
}

#[test]
fn a_fetch_waiting_for_a_client_that_hung_up_ends() {
    // Fetches that would wait for days, from clients that hang up while they wait: each must
    // give its thread back, not keep it for max_wait_ms.
    let broker = Broker::start("");
    let mut stream = connect(&broker);
    create_topic(&mut stream, "quiet", 1);
    let threads = |broker: &Broker| {
        let status = std::fs::read_to_string(format!("/proc/{}/status", broker.pid())).unwrap();
        status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse::<usize>().unwrap()
    };
    let before = threads(&broker);
    let mut clients = Vec::new();
    for _ in 0..50 {
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(i32::MAX)
            .with_min_bytes(i32::MAX)
            .with_max_bytes(i32::MAX)
            .with_topics(vec![FetchTopic::default().with_topic(topic_name("quiet")).with_partitions(vec![
                FetchPartition::default().with_partition(0).with_partition_max_bytes(i32::MAX),
            ])]);
        let mut client = connect(&broker);
        oracle::send(&mut client, 1, 4, &request);
        clients.push(client);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(threads(&broker) >= before + 40, "the fetches are waiting");
    drop(clients);
    std::thread::sleep(std::time::Duration::from_millis(2000));
    assert!(threads(&broker) <= before + 2, "{} threads left", threads(&broker) - before);
}

fn open_descriptors(broker: &Broker) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", broker.pid())).unwrap().count()
}

#[test]
fn ten_thousand_partitions_on_disk_fit_in_a_thousand_descriptors() {
    // With log.dirs and `ulimit -n 1024`: all the partitions the broker allows, one batch written
    // to each of 2,000 of them, and then more partitions asked for. The broker must hold its
    // descriptors to its segment budget, refuse past max.partitions, serve a new client at once,
    // and sit idle afterwards.
    let dir = common::TempDir::new("many-partitions");
    let broker = Broker::start_with_open_files(&common::runner_files::server_properties(dir.path()), 1024);
    let mut stream = connect(&broker);
    stream.set_read_timeout(Some(std::time::Duration::from_secs(120))).unwrap(); // 20,000 files to create
    create_topic(&mut stream, "wide", 10_000);
    let request = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(topic_name("more"))
            .with_num_partitions(100)
            .with_replication_factor(1),
    ]);
    let response: CreateTopicsResponse = call(&mut stream, 19, 7, &request);
    assert_eq!(response.topics[0].error_code, 37, "INVALID_PARTITIONS past max.partitions");
    let records = oracle::batch(&[("k", "v")], 0);
    let partitions: Vec<_> =
        (0..2000).map(|i| PartitionProduceData::default().with_index(i).with_records(Some(records.clone()))).collect();
    let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(5000).with_topic_data(vec![
        TopicProduceData::default().with_name(topic_name("wide")).with_partition_data(partitions),
    ]);
    let response: ProduceResponse = call(&mut stream, 0, 9, &request);
    let answers = &response.responses[0].partition_responses;
    assert!(answers.iter().all(|p| p.error_code == 0 && p.base_offset == 0), "every partition written");
    let descriptors = open_descriptors(&broker);
    assert!(descriptors < 400, "{descriptors} descriptors open");

    let started = std::time::Instant::now();
    assert!(served(&mut connect(&broker)));
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "served after {:?}", started.elapsed());
    let cpu = cpu_seconds(&broker);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let used = cpu_seconds(&broker) - cpu;
    assert!(used < 1.0, "{used} s of CPU in 2 s idle");
}

#[test]
fn a_produce_does_not_wait_for_another_topics_creation() {
    // Creating 3,000 partitions on disk takes seconds; the topic table is locked only for the
    // moment the new topic is added, so a produce to another topic goes on meanwhile.
    let dir = common::TempDir::new("create-while-producing");
    let broker = Broker::start(&common::runner_files::server_properties(dir.path()));
    let mut stream = connect(&broker);
    create_topic(&mut stream, "busy", 1);
    // Creation usually takes seconds here; should one be too quick to tell, another topic is made.
    for attempt in 0..3 {
        let mut creator = connect(&broker);
        let creating = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            create_topic(&mut creator, &format!("huge-{attempt}"), 3_000);
            started.elapsed()
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (mut slowest, mut produced) = (std::time::Duration::ZERO, 0);
        while !creating.is_finished() {
            let started = std::time::Instant::now();
            assert_eq!(produce(&mut stream, "busy", 0, oracle::batch(&[("k", "v")], 0)).0, 0);
            slowest = slowest.max(started.elapsed());
            produced += 1;
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let creation = creating.join().unwrap();
        eprintln!("creation {creation:?}, {produced} produces, the slowest {slowest:?}");
        if creation < std::time::Duration::from_millis(300) {
            continue;
        }
        assert!(produced > 10, "{produced} produces while creating");
        assert!(slowest < std::time::Duration::from_millis(250).min(creation / 4), "a produce waited {slowest:?}");
        return;
    }
    panic!("three creations of 3,000 partitions were each too quick to tell");
}
