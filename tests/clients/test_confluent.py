"""confluent-kafka (librdkafka) against mini-kafka: Producer, Consumer with assign, AdminClient."""

import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic, ResourceType

from harness import assert_same_records, unique, wait_until

pytestmark = pytest.mark.confluent

N_RECORDS = 10_000


def admin_for(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def new_topic(broker, partitions, config=None):
    topic = unique("ck")
    adm = admin_for(broker)  # keep the client alive until the future resolves
    futures = adm.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=10, request_timeout=15)
    futures[topic].result(timeout=20)
    return topic


def topics_of(adm):
    return set(adm.list_topics(timeout=10).topics)


class Delivery:
    """Collects delivery reports: (partition, offset) or the error, per message, in send order."""

    def __init__(self):
        self.results = []

    def callback(self, index):
        def report(err, msg):
            self.results.append((index, err, None if err else (msg.partition(), msg.offset())))
        return report


def produce_all(producer, topic, records):
    """Produces ``(key, value, headers, timestamp)`` records; returns [(partition, offset)] in send
    order, failing on any delivery error."""
    delivery = Delivery()
    deadline = time.monotonic() + 120
    for i, (key, value, headers, ts) in enumerate(records):
        while True:
            assert time.monotonic() < deadline, "the producer queue stayed full for 2 minutes"
            try:
                extra = {} if ts is None else {"timestamp": ts}
                producer.produce(topic, key=key, value=value, headers=headers,
                                 on_delivery=delivery.callback(i), **extra)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(60)
    assert remaining == 0, f"{remaining} messages not delivered"
    errors = [(i, err) for i, err, _ in delivery.results if err]
    assert not errors, f"delivery errors: {errors[:5]}"
    by_index = {i: where for i, _, where in delivery.results}
    assert len(by_index) == len(records)
    return [by_index[i] for i in range(len(records))]


def consumer_for(broker, **config):
    return Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("ck-assign"),
                     "enable.auto.commit": False, **config})


def read_from_beginning(broker, topic, partitions, expected, timeout=60):
    consumer = consumer_for(broker)
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        messages = []
        deadline = time.monotonic() + timeout
        while len(messages) < expected and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=1000, timeout=0.5):
                assert m.error() is None, m.error()
                messages.append(m)
        for m in consumer.consume(num_messages=1000, timeout=0.5):
            assert m.error() is None, m.error()
            messages.append(m)
        return messages
    finally:
        consumer.close()


@pytest.mark.parametrize("idempotent", [False, True], ids=["default", "idempotent"])
def test_10000_keyed_records_with_headers_come_back_exactly_once_in_order(broker, idempotent):
    topic = new_topic(broker, 3)
    config = {"bootstrap.servers": broker.bootstrap}
    if idempotent:
        config["enable.idempotence"] = True
    producer = Producer(config)
    base_ts = int(time.time() * 1000) - 3_600_000
    records = []
    for i in range(N_RECORDS):
        key = f"key-{i % 101}".encode()
        value = f"value-{i}-".encode() + bytes(range(i % 7))
        headers = [("seq", str(i).encode()), ("bin", b"\x00\xff"), ("empty", b"")]
        records.append((key, value, headers, base_ts + i))
    where = produce_all(producer, topic, records)

    expected = {}
    last = {}
    for (p, o), rec in zip(where, records):
        assert (p, o) not in expected, f"offset {p}/{o} given twice"
        assert o > last.get(p, -1), f"partition {p} out of send order"
        last[p] = o
        expected[(p, o)] = rec
    assert {p for p, _ in expected} == {0, 1, 2}
    for p in range(3):
        offsets = sorted(o for q, o in expected if q == p)
        assert offsets == list(range(len(offsets))), f"partition {p}: offsets not 0..n-1"

    got = {}
    next_offset = {0: 0, 1: 0, 2: 0}
    for m in read_from_beginning(broker, topic, 3, N_RECORDS):
        p, o = m.partition(), m.offset()
        assert (p, o) not in got, f"{p}/{o} delivered twice"
        assert o == next_offset[p], f"partition {p}: got offset {o}, expected {next_offset[p]}"
        next_offset[p] += 1
        ts_type, ts = m.timestamp()
        assert ts_type == 1, "CreateTime expected"  # TIMESTAMP_CREATE_TIME
        got[(p, o)] = (m.key(), m.value(), [(k, v if v is not None else b"") for k, v in m.headers() or []], ts)
    assert_same_records(expected, got, N_RECORDS)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_round_trip(broker, codec):
    topic = new_topic(broker, 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec, "linger.ms": 20})
    records = [(f"k{i}".encode(), (f"{codec} record {i} " * (1 + i % 20)).encode(), [("codec", codec.encode())], None)
               for i in range(2000)]
    where = produce_all(producer, topic, records)
    assert [o for _, o in where] == list(range(len(records)))
    messages = read_from_beginning(broker, topic, 1, len(records))
    assert [(m.key(), m.value(), m.headers()) for m in messages] == [(k, v, h) for k, v, h, _ in records]

    # Starting in the middle of a compressed batch: the client skips the records before it.
    consumer = consumer_for(broker)
    try:
        consumer.assign([TopicPartition(topic, 0, 1001)])
        got = []
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            got = consumer.consume(num_messages=1, timeout=0.5)
        assert got and (got[0].offset(), got[0].value()) == (1001, records[1001][1])
    finally:
        consumer.close()


def test_admin_create_describe_configs_create_partitions_list_delete(broker):
    adm = admin_for(broker)
    topic = unique("ck-admin")
    adm.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                                config={"retention.ms": "3600000"})],
                      operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    wait_until(lambda: topic in topics_of(adm), 10, what=f"{topic} listed")
    assert len(adm.list_topics(topic, timeout=10).topics[topic].partitions) == 2

    with pytest.raises(KafkaException) as exc:
        adm.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                          request_timeout=15)[topic].result(timeout=20)
    assert exc.value.args[0].name() == "TOPIC_ALREADY_EXISTS"

    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = adm.describe_configs([resource], request_timeout=15)[resource].result(timeout=20)
    assert configs["retention.ms"].value == "3600000", {k: v.value for k, v in configs.items()}

    node_id = str(next(iter(adm.list_topics(timeout=10).brokers)))
    broker_resource = ConfigResource(ResourceType.BROKER, node_id)
    broker_configs = adm.describe_configs([broker_resource], request_timeout=15)[broker_resource].result(timeout=20)
    assert broker_configs["auto.create.topics.enable"].value == "true"

    adm.create_partitions([NewPartitions(topic, 5)], operation_timeout=10,
                          request_timeout=15)[topic].result(timeout=20)
    wait_until(lambda: len(adm.list_topics(topic, timeout=10).topics[topic].partitions) == 5, 10,
               what="5 partitions in metadata")
    # The new partitions take records.
    producer = Producer({"bootstrap.servers": broker.bootstrap, "topic.metadata.refresh.interval.ms": 500})
    delivered = []
    producer.produce(topic, value=b"to p4", partition=4,
                     on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())))
    assert producer.flush(20) == 0
    assert delivered == [(None, 4, 0)]

    with pytest.raises(KafkaException) as exc:
        adm.create_partitions([NewPartitions(topic, 3)], request_timeout=15)[topic].result(timeout=20)
    assert exc.value.args[0].name() == "INVALID_PARTITIONS"

    adm.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    wait_until(lambda: topic not in topics_of(adm), 10, what=f"{topic} gone")
    with pytest.raises(KafkaException) as exc:
        adm.delete_topics([topic], request_timeout=15)[topic].result(timeout=20)
    assert exc.value.args[0].name() == "UNKNOWN_TOPIC_OR_PART"


def test_auto_create_on_and_off(make_broker):
    on = make_broker(props={"auto.create.topics.enable": "true", "num.partitions": "3"})
    topic = unique("ck-auto")
    where = produce_all(Producer({"bootstrap.servers": on.bootstrap}), topic, [(b"k", b"v", [], None)])
    assert where[0][1] == 0
    assert len(admin_for(on).list_topics(topic, timeout=10).topics[topic].partitions) == 3

    off = make_broker(props={"auto.create.topics.enable": "false"})
    producer = Producer({"bootstrap.servers": off.bootstrap, "message.timeout.ms": 3000})
    errors = []
    producer.produce(topic, value=b"nowhere", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(15)
    assert len(errors) == 1 and errors[0] is not None, f"delivery to a missing topic must fail: {errors}"
    assert topic not in topics_of(admin_for(off))


def test_waiting_consumer_wakes_on_produce_and_idles_without_cpu(make_broker):
    b = make_broker()
    topic = new_topic(b, 2)
    producer = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0})
    produce_all(producer, topic, [(None, b"warm-up", [], None)])  # connections, metadata
    consumer = consumer_for(b)
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
        assert consumer.consume(num_messages=10, timeout=1.5) == []

        cpu_before = b.cpu_seconds()
        idle_until = time.monotonic() + 2.0
        while time.monotonic() < idle_until:
            assert consumer.consume(num_messages=10, timeout=0.2) == []
        cpu_used = b.cpu_seconds() - cpu_before
        assert cpu_used < 0.05, f"broker used {cpu_used * 1000:.0f} ms of CPU in 2 s of idle long-polling"

        sent_at = {}

        def produce_later():
            time.sleep(1.0)
            sent_at["t"] = time.monotonic()
            producer.produce(topic, partition=0, value=b"wake up")
            producer.flush(10)

        thread = threading.Thread(target=produce_later)
        thread.start()
        messages = []
        deadline = time.monotonic() + 10
        while not messages and time.monotonic() < deadline:
            messages += consumer.consume(num_messages=10, timeout=0.05)
        received = time.monotonic()
        thread.join()
        assert [m.value() for m in messages] == [b"wake up"], [m.error() for m in messages]
        latency = received - sent_at["t"]
        assert latency < 0.1, f"record reached the waiting consumer {latency * 1000:.0f} ms after it was produced"
    finally:
        consumer.close()


def test_produce_to_deleted_topic(make_broker):
    b = make_broker(props={"auto.create.topics.enable": "false"})
    topic = new_topic(b, 1)
    producer = Producer({"bootstrap.servers": b.bootstrap, "message.timeout.ms": 4000,
                         "topic.metadata.refresh.interval.ms": 1000})
    assert produce_all(producer, topic, [(None, b"before", [], None)]) == [(0, 0)]
    adm = admin_for(b)
    adm.delete_topics([topic], request_timeout=15)[topic].result(timeout=20)
    wait_until(lambda: topic not in topics_of(adm), 10, what=f"{topic} deleted")

    reports = []
    producer.produce(topic, value=b"after", on_delivery=lambda err, msg: reports.append(err))
    producer.flush(20)
    assert len(reports) == 1 and reports[0] is not None, f"producing to a deleted topic must fail: {reports}"
    assert topic not in topics_of(adm), "the topic came back although auto-create is off"
