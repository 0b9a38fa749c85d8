"""kafka-python against mini-kafka, with the client's default settings unless a test says otherwise.

Runs under kafka-python 3.x (idempotent producer, acks=all by default) and again under 2.x (acks=1,
no idempotence by default); ``kp.py`` hides the admin API differences between the two.
"""

import threading
import time

import pytest

import kp
from harness import assert_same_records, unique, wait_until
from kp import Errors, KafkaConsumer, KafkaProducer, TopicPartition

pytestmark = pytest.mark.kafka_python

N_RECORDS = 10_000


def new_topic(broker, partitions, configs=None):
    topic = unique("kp")
    adm = kp.admin(broker.bootstrap)
    try:
        kp.create_topic(adm, topic, partitions, configs)
    finally:
        adm.close()
    return topic


def consumer_for(broker, **config):
    config.setdefault("enable_auto_commit", False)
    return KafkaConsumer(bootstrap_servers=broker.bootstrap, **config)


def read_from_beginning(broker, topic, partitions, expected, timeout=60, **config):
    """Every record of the topic (assign + seek_to_beginning), in arrival order. Reads until
    ``expected`` records came, then polls once more so extra (duplicate) records show up too."""
    consumer = consumer_for(broker, **config)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=500).values():
                records.extend(recs)
        for recs in consumer.poll(timeout_ms=500).values():
            records.extend(recs)
        return records
    finally:
        consumer.close()


def test_10000_keyed_records_with_headers_come_back_exactly_once_in_order(broker):
    topic = new_topic(broker, 3)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)  # the client's defaults
    base_ts = int(time.time() * 1000) - 3_600_000
    sent = []
    for i in range(N_RECORDS):
        key = f"key-{i % 101}".encode()
        value = f"value-{i}-".encode() + bytes(range(i % 7))
        headers = [("seq", str(i).encode()), ("bin", b"\x00\xff"), ("empty", b"")]
        future = producer.send(topic, key=key, value=value, headers=headers, timestamp_ms=base_ts + i)
        sent.append((future, (key, value, headers, base_ts + i)))
    producer.flush(timeout=120)
    expected = {}
    partition_of_key = {}
    last_offset = {}
    for future, record in sent:
        md = future.get(timeout=10)
        assert (md.partition, md.offset) not in expected, f"offset {md.partition}/{md.offset} given twice"
        expected[(md.partition, md.offset)] = record
        # Records are appended in send order within a partition.
        assert md.offset > last_offset.get(md.partition, -1), f"partition {md.partition} out of order"
        last_offset[md.partition] = md.offset
        assert partition_of_key.setdefault(record[0], md.partition) == md.partition, "a key moved partition"
    if kp.MAJOR >= 3:  # 3.x is idempotent by default: it must have got a producer id
        pid = kp.producer_id(producer)
        assert pid is not None and pid >= 0, f"kafka-python 3.x did not run as an idempotent producer (id {pid})"
    producer.close()
    assert {p for p, _ in expected} == {0, 1, 2}, "the default partitioner should spread 101 keys"
    for p in range(3):
        offsets = sorted(o for q, o in expected if q == p)
        assert offsets == list(range(len(offsets))), f"partition {p}: offsets not 0..n-1"

    records = read_from_beginning(broker, topic, 3, N_RECORDS)
    got = {}
    next_offset = {0: 0, 1: 0, 2: 0}
    for r in records:
        assert (r.partition, r.offset) not in got, f"record {r.partition}/{r.offset} delivered twice"
        assert r.offset == next_offset[r.partition], f"partition {r.partition}: got offset {r.offset}, expected {next_offset[r.partition]}"
        next_offset[r.partition] += 1
        assert r.timestamp_type == 0, "CreateTime expected"
        got[(r.partition, r.offset)] = (r.key, r.value, list(r.headers), r.timestamp)
    assert_same_records(expected, got, N_RECORDS)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_round_trip(broker, codec):
    topic = new_topic(broker, 1)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec,
                             linger_ms=20, batch_size=256 * 1024)
    sent = []
    for i in range(2000):
        value = (f"{codec} record {i} " * (1 + i % 20)).encode()
        sent.append((f"k{i}".encode(), value, [("codec", codec.encode())]))
    futures = [producer.send(topic, key=k, value=v, headers=h) for k, v, h in sent]
    producer.flush(timeout=60)
    offsets = [f.get(timeout=10).offset for f in futures]
    producer.close()
    assert offsets == list(range(len(sent)))
    records = read_from_beginning(broker, topic, 1, len(sent))
    assert [(r.key, r.value, list(r.headers)) for r in records] == sent
    assert [r.offset for r in records] == offsets

    # Starting in the middle of a compressed batch: the client skips the records before it.
    consumer = consumer_for(broker)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 1001)
        got = []
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            got = consumer.poll(timeout_ms=500).get(tp, [])
        assert got and (got[0].offset, got[0].value) == (1001, sent[1001][1])
    finally:
        consumer.close()


# kafka-python 2.x never flushes an acks=0 request by itself (KafkaClient.send only marks a
# connection for writing when the future is not yet done, and acks=0 futures complete at once), so
# its acks=0 records leave only with a later request on the same connection: a client bug, not
# something a broker can fix. acks=0 is therefore exercised with 3.x only.
ACKS = [0, 1] if kp.MAJOR >= 3 else [1]


@pytest.mark.parametrize("acks", ACKS)
def test_acks_0_and_1(broker, acks):
    topic = new_topic(broker, 1)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=acks, enable_idempotence=False)
    futures = [producer.send(topic, value=f"acks{acks}-{i}".encode()) for i in range(200)]
    producer.flush(timeout=30)
    for f in futures:
        f.get(timeout=10)
    # acks=0 gets no response: the connection must stay in step for the next request.
    last = KafkaProducer(bootstrap_servers=broker.bootstrap)
    last.send(topic, value=b"last").get(timeout=15)
    last.close()
    producer.close()
    records = read_from_beginning(broker, topic, 1, 201)
    assert [r.value for r in records] == [f"acks{acks}-{i}".encode() for i in range(200)] + [b"last"]


def test_assign_seek_and_offsets_for_times(broker):
    topic = new_topic(broker, 1)
    tp = TopicPartition(topic, 0)
    base = int(time.time() * 1000) - 600_000
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(10):
        producer.send(topic, key=b"k", value=f"v{i}".encode(), timestamp_ms=base + i * 1000)
    producer.flush(timeout=30)

    consumer = consumer_for(broker)
    try:
        consumer.assign([tp])
        assert consumer.beginning_offsets([tp]) == {tp: 0}
        assert consumer.end_offsets([tp]) == {tp: 10}

        consumer.seek_to_end(tp)
        assert consumer.position(tp) == 10
        consumer.seek_to_beginning(tp)
        assert consumer.position(tp) == 0
        batch = consumer.poll(timeout_ms=5000, max_records=1)
        assert [(r.offset, r.value) for r in batch.get(tp, [])] == [(0, b"v0")]

        found = consumer.offsets_for_times({tp: base + 3500})[tp]
        assert (found.offset, found.timestamp) == (4, base + 4000)
        found = consumer.offsets_for_times({tp: base - 10_000})[tp]
        assert (found.offset, found.timestamp) == (0, base)
        assert consumer.offsets_for_times({tp: base + 60_000})[tp] is None

        consumer.seek(tp, 4)
        records = []
        deadline = time.monotonic() + 10
        while len(records) < 6 and time.monotonic() < deadline:
            records += consumer.poll(timeout_ms=500).get(tp, [])
        assert [r.value for r in records] == [f"v{i}".encode() for i in range(4, 10)]
        assert [r.timestamp for r in records] == [base + i * 1000 for i in range(4, 10)]

        # After seek_to_end only what is produced next comes back.
        consumer.seek_to_end(tp)
        assert consumer.position(tp) == 10
        producer.send(topic, value=b"late").get(timeout=10)
        records = []
        deadline = time.monotonic() + 10
        while not records and time.monotonic() < deadline:
            records += consumer.poll(timeout_ms=500).get(tp, [])
        assert [(r.offset, r.value) for r in records] == [(10, b"late")]
    finally:
        consumer.close()
        producer.close()


def test_admin_create_list_delete_topics(broker):
    adm = kp.admin(broker.bootstrap)
    consumer = consumer_for(broker)
    try:
        topic = unique("kp-admin")
        kp.create_topic(adm, topic, 3)
        wait_until(lambda: topic in kp.list_topics(adm), 10, what=f"{topic} in list_topics")
        assert consumer.partitions_for_topic(topic) == {0, 1, 2}
        with pytest.raises(Errors.TopicAlreadyExistsError):
            kp.create_topic(adm, topic, 3)

        kp.delete_topic(adm, topic)
        wait_until(lambda: topic not in kp.list_topics(adm), 10, what=f"{topic} gone from list_topics")
        with pytest.raises(Errors.UnknownTopicOrPartitionError):
            kp.delete_topic(adm, topic)
    finally:
        consumer.close()
        adm.close()


def test_admin_describe_configs(make_broker):
    b = make_broker(props={"node.id": "1", "auto.create.topics.enable": "true", "num.partitions": "2"})
    adm = kp.admin(b.bootstrap)
    try:
        broker_configs = kp.describe_configs(adm, "broker", "1")
        assert broker_configs.get("auto.create.topics.enable") == "true", broker_configs
        assert broker_configs.get("num.partitions") == "2", broker_configs

        topic = unique("kp-configs")
        kp.create_topic(adm, topic, 1, configs={"retention.ms": "3600000"})
        topic_configs = kp.describe_configs(adm, "topic", topic)
        assert topic_configs.get("retention.ms") == "3600000", topic_configs
    finally:
        adm.close()


def test_auto_create_on(make_broker):
    b = make_broker(props={"auto.create.topics.enable": "true", "num.partitions": "2"})
    topic = unique("kp-auto")
    producer = KafkaProducer(bootstrap_servers=b.bootstrap, max_block_ms=10_000)
    consumer = consumer_for(b)
    try:
        md = producer.send(topic, key=b"k", value=b"created on first use").get(timeout=15)
        assert md.topic == topic
        assert consumer.partitions_for_topic(topic) == {0, 1}
        tp = TopicPartition(topic, md.partition)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        records = []
        deadline = time.monotonic() + 10
        while not records and time.monotonic() < deadline:
            records += consumer.poll(timeout_ms=500).get(tp, [])
        assert [r.value for r in records] == [b"created on first use"]
    finally:
        producer.close()
        consumer.close()


def test_auto_create_off(make_broker):
    b = make_broker(props={"auto.create.topics.enable": "false"})
    topic = unique("kp-noauto")
    producer = KafkaProducer(bootstrap_servers=b.bootstrap, max_block_ms=3000,
                             request_timeout_ms=2000, delivery_timeout_ms=5000)
    consumer = consumer_for(b)  # allow_auto_create_topics=True by default: the broker must say no
    adm = kp.admin(b.bootstrap)
    try:
        with pytest.raises(Errors.KafkaError):
            producer.send(topic, value=b"nowhere to go").get(timeout=15)
        assert not consumer.partitions_for_topic(topic)
        assert topic not in kp.list_topics(adm)

        kp.create_topic(adm, topic, 1)
        producer2 = KafkaProducer(bootstrap_servers=b.bootstrap, max_block_ms=10_000)
        try:
            assert producer2.send(topic, value=b"now it exists").get(timeout=15).offset == 0
        finally:
            producer2.close()
    finally:
        producer.close(timeout=5)
        consumer.close()
        adm.close()


def test_produce_to_deleted_topic_without_auto_create_fails(make_broker):
    b = make_broker(props={"auto.create.topics.enable": "false"})
    adm = kp.admin(b.bootstrap)
    topic = unique("kp-deleted")
    kp.create_topic(adm, topic, 1)
    producer = KafkaProducer(bootstrap_servers=b.bootstrap, max_block_ms=3000,
                             request_timeout_ms=2000, delivery_timeout_ms=5000)
    try:
        for i in range(3):
            producer.send(topic, value=f"before {i}".encode()).get(timeout=15)
        kp.delete_topic(adm, topic)
        wait_until(lambda: topic not in kp.list_topics(adm), 10, what="topic deleted")

        with pytest.raises(Errors.KafkaError):
            producer.send(topic, value=b"after delete").get(timeout=20)
        assert topic not in kp.list_topics(adm), "the topic came back although auto-create is off"

        # The broker still serves other topics.
        other = unique("kp-other")
        kp.create_topic(adm, other, 1)
        fresh = KafkaProducer(bootstrap_servers=b.bootstrap, max_block_ms=10_000)
        try:
            assert fresh.send(other, value=b"still fine").get(timeout=15).offset == 0
        finally:
            fresh.close()
    finally:
        producer.close(timeout=5)
        adm.close()


def test_produce_to_deleted_topic_with_auto_create_starts_a_new_log(broker):
    adm = kp.admin(broker.bootstrap)
    topic = unique("kp-recreated")
    try:
        kp.create_topic(adm, topic, 1)
        old = KafkaProducer(bootstrap_servers=broker.bootstrap)
        for i in range(3):
            old.send(topic, value=f"old {i}".encode()).get(timeout=15)
        old.close()
        kp.delete_topic(adm, topic)
        wait_until(lambda: topic not in kp.list_topics(adm), 10, what="topic deleted")

        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, max_block_ms=10_000)
        try:
            md = producer.send(topic, value=b"new").get(timeout=15)
        finally:
            producer.close()
        assert (md.partition, md.offset) == (0, 0), "a re-created topic starts empty"
        records = read_from_beginning(broker, topic, 1, 1, timeout=10)
        assert [r.value for r in records] == [b"new"]
    finally:
        adm.close()


def test_idempotent_producer_explicitly_enabled(broker):
    topic = new_topic(broker, 2)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True, acks="all")
    futures = [producer.send(topic, key=f"k{i % 5}".encode(), value=f"v{i}".encode()) for i in range(500)]
    producer.flush(timeout=60)
    sent = {(f.get(timeout=10).partition, f.get(timeout=10).offset) for f in futures}
    pid = kp.producer_id(producer)
    assert pid is not None and pid >= 0, f"no producer id ({pid}): idempotence is not in effect"
    producer.close()
    assert len(sent) == 500
    records = read_from_beginning(broker, topic, 2, 500)
    assert sorted((r.partition, r.offset) for r in records) == sorted(sent)
    assert sorted(r.value for r in records) == sorted(f"v{i}".encode() for i in range(500))


def test_waiting_consumer_wakes_on_produce_and_idles_without_cpu(make_broker):
    b = make_broker()
    topic = new_topic(b, 2)
    tp, warm_tp = TopicPartition(topic, 0), TopicPartition(topic, 1)
    producer = KafkaProducer(bootstrap_servers=b.bootstrap, linger_ms=0)
    consumer = consumer_for(b)
    try:
        # Warm both clients up (connections, metadata, producer id) away from partition 0.
        producer.send(topic, partition=1, value=b"warm-up").get(timeout=15)
        consumer.assign([tp])
        consumer.seek_to_end(tp)
        assert consumer.position(tp) == 0
        assert consumer.poll(timeout_ms=1000) == {}

        # Idle: the consumer long-polls an empty partition; the broker must not spin.
        cpu_before = b.cpu_seconds()
        idle_until = time.monotonic() + 2.0
        while time.monotonic() < idle_until:
            assert consumer.poll(timeout_ms=200) == {}
        cpu_used = b.cpu_seconds() - cpu_before
        assert cpu_used < 0.05, f"broker used {cpu_used * 1000:.0f} ms of CPU in 2 s of idle long-polling"

        # A record produced 1 s into a wait arrives promptly.
        sent_at = {}

        def produce_later():
            time.sleep(1.0)
            sent_at["t"] = time.monotonic()
            producer.send(topic, partition=0, value=b"wake up").get(timeout=15)
            sent_at["acked"] = time.monotonic()

        thread = threading.Thread(target=produce_later)
        thread.start()
        records = []
        deadline = time.monotonic() + 10
        while not records and time.monotonic() < deadline:
            records += consumer.poll(timeout_ms=5000).get(tp, [])
        received = time.monotonic()
        thread.join()
        assert [r.value for r in records] == [b"wake up"]
        latency = received - sent_at["t"]
        assert latency < 0.1, f"record reached the waiting consumer {latency * 1000:.0f} ms after it was produced"
    finally:
        producer.close()
        consumer.close()
