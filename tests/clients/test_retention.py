"""Retention and DeleteRecords (issue 12, stage 28) as real clients see them: the log start offset
moves, a consumer below it is told OFFSET_OUT_OF_RANGE and resets as its auto.offset.reset says,
both admin clients delete records, and both change a topic's configs and this broker's dynamic
configs (resource type BROKER named after its id; neither client names the cluster-wide resource "":
confluent-kafka refuses an empty name, kafka-python wants an integer, so tests/retention.rs covers it).

kafka-python 2.x has no delete_records, so this file runs with kafka-python 3.x and
confluent-kafka (scripts/test.sh runs it in the 3.x venv only).
"""

import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka import TopicPartition as CTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kp
from harness import unique

VALUE = b"v" * 1000


def kp_produce(broker, topic, count):
    """One batch per record (each send waited for): about 1.1 KB each."""
    producer = kp.KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
    offsets = [producer.send(topic, VALUE + b"%d" % i).get(timeout=10).offset for i in range(count)]
    producer.close()
    return offsets


def kp_earliest_and_latest(broker, topic):
    consumer = kp.KafkaConsumer(bootstrap_servers=broker.bootstrap)
    tp = kp.TopicPartition(topic, 0)
    earliest = consumer.beginning_offsets([tp])[tp]
    latest = consumer.end_offsets([tp])[tp]
    consumer.close()
    return earliest, latest


def kp_read_from(broker, topic, offset, reset, expected):
    """Assigns partition 0, seeks to `offset`, and reads `expected` records (or until 10 s)."""
    consumer = kp.KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset=reset,
                                enable_auto_commit=False, consumer_timeout_ms=10000)
    tp = kp.TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, offset)
    offsets = []
    for message in consumer:
        offsets.append(message.offset)
        if len(offsets) == expected:
            break
    consumer.close()
    return offsets


@pytest.mark.kafka_python
def test_kafka_python_resets_past_segments_retention_dropped(make_broker):
    broker = make_broker(log_dir=True)
    topic = unique("kept")
    adm = kp.admin(broker.bootstrap)
    # Segments of 4 KB (three records), 8 KB kept.
    kp.create_topic(adm, topic, 1, {"segment.bytes": "4096", "retention.bytes": "8192"})
    adm.close()
    assert kp_produce(broker, topic, 30) == list(range(30))
    earliest, latest = kp_earliest_and_latest(broker, topic)
    assert latest == 30
    assert 15 <= earliest <= 24 and earliest % 3 == 0, earliest
    # Asked for offset 0, told OFFSET_OUT_OF_RANGE: "earliest" goes on from the new start...
    assert kp_read_from(broker, topic, 0, "earliest", 30 - earliest) == list(range(earliest, 30))
    # ..."latest" from the end (nothing more to read), and "none" raises the error to the caller.
    assert kp_read_from(broker, topic, 0, "latest", 1) == []
    consumer = kp.KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="none",
                                enable_auto_commit=False)
    tp = kp.TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    with pytest.raises(kp.Errors.OffsetOutOfRangeError):
        deadline = time.time() + 10
        while time.time() < deadline:
            consumer.poll(timeout_ms=500)
    consumer.close()


@pytest.mark.kafka_python
def test_kafka_python_delete_records(make_broker):
    broker = make_broker(log_dir=True)
    topic = unique("trim")
    adm = kp.admin(broker.bootstrap)
    kp.create_topic(adm, topic, 1)
    kp_produce(broker, topic, 10)
    result = adm.delete_records({kp.TopicPartition(topic, 0): 6})
    adm.close()
    assert result[kp.TopicPartition(topic, 0)]["low_watermark"] == 6
    assert kp_earliest_and_latest(broker, topic) == (6, 10)
    assert kp_read_from(broker, topic, 0, "earliest", 4) == [6, 7, 8, 9]
    # The new start survives a restart.
    broker.stop()
    broker.start()
    assert kp_earliest_and_latest(broker, topic) == (6, 10)


@pytest.mark.confluent
def test_confluent_delete_records_and_reset(make_broker):
    broker = make_broker()
    topic = unique("trim")
    adm = AdminClient({"bootstrap.servers": broker.bootstrap})
    adm.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(10):
        producer.produce(topic, VALUE + b"%d" % i)
        producer.flush(10)
    deleted = adm.delete_records([CTopicPartition(topic, 0, 7)])
    [(tp, future)] = deleted.items()
    assert future.result(15).low_watermark == 7
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("g"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    low, high = consumer.get_watermark_offsets(CTopicPartition(topic, 0), timeout=10)
    assert (low, high) == (7, 10)
    # Asked for offset 2, librdkafka is told OFFSET_OUT_OF_RANGE and resets to the earliest: 7.
    consumer.assign([CTopicPartition(topic, 0, 2)])
    offsets = []
    deadline = time.time() + 15
    while len(offsets) < 3 and time.time() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            offsets.append(message.offset())
    consumer.close()
    assert offsets == [7, 8, 9]
    # -1 (OFFSET_END): everything up to the high watermark.
    everything = adm.delete_records([CTopicPartition(topic, 0, -1)])
    assert list(everything.values())[0].result(15).low_watermark == 10


@pytest.mark.confluent
def test_confluent_incremental_alter_configs_changes_retention(make_broker):
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    broker = make_broker(log_dir=True)
    topic = unique("alter")
    adm = AdminClient({"bootstrap.servers": broker.bootstrap})
    adm.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
    ])

    def described():
        plain = ConfigResource(ResourceType.TOPIC, topic)
        configs = adm.describe_configs([plain])[plain].result(15)
        return configs["retention.ms"], configs["cleanup.policy"].value

    # validate_only: accepted, nothing changes.
    for future in adm.incremental_alter_configs([resource], validate_only=True).values():
        future.result(15)
    retention, policy = described()
    assert (retention.value, retention.is_default, policy) == ("604800000", True, "delete")
    for future in adm.incremental_alter_configs([resource]).values():
        future.result(15)
    retention, policy = described()
    assert (retention.value, retention.is_default, policy) == ("3600000", False, "delete,compact")
    # An unknown key is refused with INVALID_CONFIG.
    bad = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as exc:
        for future in adm.incremental_alter_configs([bad]).values():
            future.result(15)
    assert exc.value.args[0].name() == "INVALID_CONFIG"
    # The change survives a restart.
    broker.stop()
    broker.start()
    adm = AdminClient({"bootstrap.servers": broker.bootstrap})
    retention, policy = described()
    assert (retention.value, policy) == ("3600000", "delete,compact")


@pytest.mark.kafka_python
@pytest.mark.parametrize("incremental", [True, False], ids=["IncrementalAlterConfigs", "AlterConfigs"])
def test_kafka_python_alter_configs_changes_retention(make_broker, incremental):
    broker = make_broker(log_dir=True)
    topic = unique("alter")
    adm = kp.admin(broker.bootstrap)
    kp.create_topic(adm, topic, 1, {"segment.bytes": "4096"})

    def alter(validate_only):
        resource = kp.ConfigResource(kp.ConfigResourceType.TOPIC, topic, configs={"retention.bytes": "8192"})
        return adm.alter_configs([resource], validate_only=validate_only, incremental=incremental)

    alter(validate_only=True)
    assert kp.describe_configs(adm, "topic", topic)["retention.bytes"] == "-1", "validate_only changes nothing"
    result = alter(validate_only=False)
    configs = kp.describe_configs(adm, "topic", topic)
    # With AlterConfigs the client sends the other settings it changed too, or they would be reset.
    assert (configs["retention.bytes"], configs["segment.bytes"]) == ("8192", "4096"), result
    adm.close()
    kp_produce(broker, topic, 30)
    earliest, latest = kp_earliest_and_latest(broker, topic)
    assert latest == 30 and 15 <= earliest <= 24, (earliest, latest)
    broker.stop()
    broker.start()
    adm = kp.admin(broker.bootstrap)
    configs = kp.describe_configs(adm, "topic", topic)
    adm.close()
    assert (configs["retention.bytes"], configs["segment.bytes"]) == ("8192", "4096")


@pytest.mark.kafka_python
def test_kafka_python_alter_configs_sets_this_brokers_retention(make_broker):
    broker = make_broker(props={"node.id": "1", "log.segment.bytes": "4096"}, log_dir=True)
    topic = unique("follows")
    adm = kp.admin(broker.bootstrap)
    kp.create_topic(adm, topic, 1)
    this_broker = kp.ConfigResource(kp.ConfigResourceType.BROKER, "1", configs={"log.retention.bytes": "8192"})
    assert adm.alter_configs([this_broker], incremental=False) == {"broker": {"1": "OK"}}

    def described():
        plain = kp.ConfigResource(kp.ConfigResourceType.BROKER, "1", configs=["log.retention.bytes"])
        return adm.describe_configs([plain], include_synonyms=True, config_filter="all")["broker"]["1"]

    entry = described()["log.retention.bytes"]
    assert (entry["value"], entry["config_source"], entry["read_only"]) == ("8192", "DYNAMIC_BROKER_CONFIG", False)
    assert [(s["value"], s["source"]) for s in entry["synonyms"]] == [
        ("8192", "DYNAMIC_BROKER_CONFIG"), ("-1", "DEFAULT_CONFIG")]
    # The topic has no retention of its own: it follows the broker's, at once.
    assert kp.describe_configs(adm, "topic", topic)["retention.bytes"] == "8192"
    # A read-only key: DescribeConfigs says so, and kafka-python refuses it before sending.
    read_only = kp.ConfigResource(kp.ConfigResourceType.BROKER, "1",
                                  configs={"log.retention.check.interval.ms": "1000"})
    with pytest.raises(ValueError):
        adm.alter_configs([read_only])
    adm.close()
    kp_produce(broker, topic, 30)
    earliest, latest = kp_earliest_and_latest(broker, topic)
    assert latest == 30 and 15 <= earliest <= 24, (earliest, latest)
    # The change survives a restart (a ConfigRecord in the metadata log).
    broker.stop()
    broker.start()
    adm = kp.admin(broker.bootstrap)
    assert described()["log.retention.bytes"]["config_source"] == "DYNAMIC_BROKER_CONFIG"
    adm.close()


@pytest.mark.confluent
def test_confluent_incremental_alter_configs_sets_this_brokers_message_max_bytes(make_broker):
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, ResourceType

    broker = make_broker(props={"node.id": "1"})
    topic = unique("sized")
    adm = AdminClient({"bootstrap.servers": broker.bootstrap})
    adm.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)

    def alter(name, key, op, value=None, validate_only=False):
        entry = ConfigEntry(key, value, incremental_operation=op)
        resource = ConfigResource(ResourceType.BROKER, name, incremental_configs=[entry])
        for future in adm.incremental_alter_configs([resource], validate_only=validate_only).values():
            future.result(15)

    def described():
        this_broker = ConfigResource(ResourceType.BROKER, "1")
        return adm.describe_configs([this_broker])[this_broker].result(15)["message.max.bytes"]

    def produce(size):
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        outcome = []
        producer.produce(topic, b"x" * size, on_delivery=lambda err, msg: outcome.append(err))
        producer.flush(15)
        return outcome[0]

    alter("1", "message.max.bytes", AlterConfigOpType.SET, "2000", validate_only=True)
    assert described().source == ConfigSource.DEFAULT_CONFIG.value
    alter("1", "message.max.bytes", AlterConfigOpType.SET, "2000")
    entry = described()
    assert (entry.value, entry.source) == ("2000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    assert produce(100) is None
    assert produce(3000).name() == "MSG_SIZE_TOO_LARGE"
    # Read-only and unknown keys are refused, naming the key.
    with pytest.raises(KafkaException) as exc:
        alter("1", "log.retention.check.interval.ms", AlterConfigOpType.SET, "1000")
    assert exc.value.args[0].name() == "INVALID_REQUEST"
    assert "log.retention.check.interval.ms" in exc.value.args[0].str()
    with pytest.raises(KafkaException) as exc:
        alter("1", "no.such.config", AlterConfigOpType.SET, "1")
    assert exc.value.args[0].name() == "INVALID_CONFIG"
    # DELETE: back to Kafka's default.
    alter("1", "message.max.bytes", AlterConfigOpType.DELETE)
    assert described().source == ConfigSource.DEFAULT_CONFIG.value
    assert produce(3000) is None
