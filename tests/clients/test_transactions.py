"""Transactions (KIP-98) with real clients: exactly-once consume–transform–produce loops with
confluent-kafka and kafka-python 3, aborted records hidden from read_committed consumers, fencing
by a second producer with the same transactional id, a producer killed mid-transaction whose
transaction times out, and the admin view (ListTransactions / DescribeTransactions).

kafka-python 2.x has no transactional producer worth testing and no transactions admin, so this
file runs with kafka-python 3.x and confluent-kafka (scripts/test.sh runs it in the 3.x venv only).

Every test shares one broker whose timer looks for timed-out transactions every 500 ms (Kafka's
default is 10 s), so a transaction that outlives its timeout is aborted within half a second.
"""

import select
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kp
from harness import Broker, register_log, unique, wait_until

CLEANUP_INTERVAL_MS = 500
N_RECORDS = 10_000  # both loops, confluent-kafka and kafka-python


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """This module's broker: auto-create on, timed-out transactions aborted every 500 ms."""
    b = Broker(tmp_path_factory.mktemp("txn-broker"), props={
        "auto.create.topics.enable": "true",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": str(CLEANUP_INTERVAL_MS),
    })
    b.start()
    yield b
    b.stop()


# --- helpers -------------------------------------------------------------------------------


def new_topic(broker, partitions):
    topic = unique("txn")
    adm = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = adm.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                operation_timeout=10, request_timeout=15)
    futures[topic].result(timeout=20)
    return topic


def ck_produce_plain(broker, topic, records):
    """Non-transactional: ``records`` are (partition or None, key, value); returns their
    (partition, offset) in send order."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20})
    results = {}
    for i, (partition, key, value) in enumerate(records):
        extra = {} if partition is None else {"partition": partition}
        while True:
            try:
                producer.produce(topic, key=key, value=value, **extra,
                                 on_delivery=lambda err, msg, i=i: results.__setitem__(
                                     i, err or (msg.partition(), msg.offset())))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(30) == 0, "records not delivered in 30 s"
    errors = [r for r in results.values() if isinstance(r, KafkaError)]
    assert not errors, f"delivery errors: {errors[:5]}"
    return [results[i] for i in range(len(records))]


def ck_txn_producer(broker, txn_id, **config):
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": txn_id,
                         "linger.ms": 5, **config})
    producer.init_transactions(15)
    return producer


def ck_send_in_txn(producer, topic, values, partition=0):
    """Produces ``values`` inside the open transaction and flushes (so they are in the log);
    returns their offsets."""
    reports = []
    for v in values:
        producer.produce(topic, value=v, partition=partition,
                         on_delivery=lambda err, msg: reports.append((err, msg.offset())))
    assert producer.flush(15) == 0
    assert [err for err, _ in reports] == [None] * len(values), reports
    return [offset for _, offset in reports]


def ck_consumer(broker, isolation, **config):
    return Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("txn-reader"),
                     "enable.auto.commit": False, "isolation.level": isolation, **config})


def ck_read_all(broker, topic, partitions, isolation, expected, timeout=20):
    """[(partition, offset, value)] a consumer with ``isolation`` reads from the beginning: until
    ``expected`` records came (or ``timeout``), then half a second more to catch any extra."""
    consumer = ck_consumer(broker, isolation)
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            got += consumer.consume(num_messages=1000, timeout=0.2)
        got += consumer.consume(num_messages=1000, timeout=0.5)
        for m in got:
            assert m.error() is None, m.error()
        return [(m.partition(), m.offset(), m.value()) for m in got]
    finally:
        consumer.close()


def end_offsets(broker, topic, partitions):
    consumer = ck_consumer(broker, "read_uncommitted")
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)}
    finally:
        consumer.close()


def input_records(n):
    return [(None, b"k%d" % i, b"in-%d" % i) for i in range(n)]


def expected_output(n):
    return Counter(b"out-in-%d" % i for i in range(n))


# --- 1. confluent-kafka: consume–transform–produce, exactly once ----------------------------


@pytest.mark.confluent
def test_confluent_consume_transform_produce_is_exactly_once(broker):
    src, dst = new_topic(broker, 3), new_topic(broker, 3)
    ck_produce_plain(broker, src, input_records(N_RECORDS))
    ends = end_offsets(broker, src, 3)
    assert sum(ends.values()) == N_RECORDS and all(ends.values()), ends

    group = unique("eos-ck")
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([src])
    producer = ck_txn_producer(broker, unique("eos-ck-app"))
    transactions, aborted_records, aborts = 0, 0, 0
    done = {}  # partition -> the offset committed with the last committed transaction
    deadline = time.monotonic() + 40
    try:
        while done != ends:
            assert time.monotonic() < deadline, f"loop not done in 40 s: committed {done}, end {ends}"
            batch = consumer.consume(num_messages=1000, timeout=0.5)
            if not batch:
                continue
            for m in batch:
                assert m.error() is None, m.error()
            producer.begin_transaction()
            for m in batch:
                producer.produce(dst, key=b"out-" + m.key(), value=b"out-" + m.value())
            transactions += 1
            if transactions in (3, 6):
                # On purpose: the records reach the log, then the transaction is aborted, and
                # the consumer goes back to the committed offsets, as a real app must.
                assert producer.flush(15) == 0
                producer.abort_transaction(15)
                aborts += 1
                aborted_records += len(batch)
                for tp in consumer.committed(list(consumer.assignment()), timeout=10):
                    tp.offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
                    consumer.seek(tp)
                continue
            positions = [tp for tp in consumer.position(list(consumer.assignment())) if tp.offset >= 0]
            producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 15)
            producer.commit_transaction(15)
            done.update({tp.partition: tp.offset for tp in positions})
    finally:
        consumer.close()
    assert aborts == 2 and aborted_records > 0
    assert transactions >= 4

    committed = ck_read_all(broker, dst, 3, "read_committed", N_RECORDS)
    got = Counter(v for _, _, v in committed)
    assert got == expected_output(N_RECORDS), (
        f"{len(committed)} records; missing {sum((expected_output(N_RECORDS) - got).values())}, "
        f"extra {sum((got - expected_output(N_RECORDS)).values())}")
    # The aborted transactions' records are in the log all the same.
    everything = ck_read_all(broker, dst, 3, "read_uncommitted", N_RECORDS + aborted_records)
    assert len(everything) == N_RECORDS + aborted_records

    # The group's offsets came with the transactions: exactly the input's end.
    reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        offsets = reader.committed([TopicPartition(src, p) for p in range(3)], timeout=10)
    finally:
        reader.close()
    assert {tp.partition: tp.offset for tp in offsets} == ends


# --- 2. aborted records: invisible to read_committed, visible to read_uncommitted ----------


@pytest.mark.confluent
@pytest.mark.kafka_python
def test_aborted_records_are_skipped_by_read_committed_only(broker):
    topic = new_topic(broker, 1)
    producer = ck_txn_producer(broker, unique("abort"))

    producer.begin_transaction()
    assert ck_send_in_txn(producer, topic, [b"a0", b"a1", b"a2"]) == [0, 1, 2]
    producer.commit_transaction(15)  # COMMIT marker at 3
    producer.begin_transaction()
    assert ck_send_in_txn(producer, topic, [b"b0", b"b1", b"b2"]) == [4, 5, 6]
    producer.abort_transaction(15)  # ABORT marker at 7
    producer.begin_transaction()
    assert ck_send_in_txn(producer, topic, [b"c0", b"c1", b"c2"]) == [8, 9, 10]
    producer.commit_transaction(15)  # COMMIT marker at 11
    # A plain record after it all.
    assert ck_produce_plain(broker, topic, [(0, None, b"d0")]) == [(0, 12)]

    assert end_offsets(broker, topic, 1) == {0: 13}
    committed = ck_read_all(broker, topic, 1, "read_committed", 7)
    assert [(o, v) for _, o, v in committed] == [
        (0, b"a0"), (1, b"a1"), (2, b"a2"), (8, b"c0"), (9, b"c1"), (10, b"c2"), (12, b"d0")]
    uncommitted = ck_read_all(broker, topic, 1, "read_uncommitted", 10)
    assert [(o, v) for _, o, v in uncommitted] == [
        (0, b"a0"), (1, b"a1"), (2, b"a2"), (4, b"b0"), (5, b"b1"), (6, b"b2"),
        (8, b"c0"), (9, b"c1"), (10, b"c2"), (12, b"d0")]

    # kafka-python 3 reads the same.
    for isolation, expected in [("read_committed", committed), ("read_uncommitted", uncommitted)]:
        consumer = kp.KafkaConsumer(bootstrap_servers=broker.bootstrap, isolation_level=isolation,
                                    enable_auto_commit=False, consumer_timeout_ms=3000)
        tp = kp.TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got = []
        for message in consumer:
            got.append((0, message.offset, message.value))
            if len(got) == len(expected):
                break
        consumer.close()
        assert got == expected, isolation


# --- 3. fencing ----------------------------------------------------------------------------


@pytest.mark.confluent
def test_second_producer_with_the_same_transactional_id_fences_the_first(broker):
    topic = new_topic(broker, 1)
    txn_id = unique("fence")
    first = ck_txn_producer(broker, txn_id)
    first.begin_transaction()
    assert ck_send_in_txn(first, topic, [b"old-0", b"old-1"]) == [0, 1]

    second = ck_txn_producer(broker, txn_id)  # InitProducerId: epoch + 1, the open transaction aborted

    # The first producer's next Produce is refused (INVALID_PRODUCER_EPOCH, as Kafka's partition
    # leader answers an old epoch), which librdkafka reports as the fatal error _FENCED.
    # (No flush() before the commit: it would raise the fatal error out of a delivery callback.)
    with pytest.raises(KafkaException) as exc:
        first.produce(topic, value=b"old-2", partition=0)
        first.commit_transaction(15)
    error = exc.value.args[0]
    assert error.fatal() and error.code() == KafkaError._FENCED, error

    second.begin_transaction()
    assert ck_send_in_txn(second, topic, [b"new-0"]) == [3]  # after old-0, old-1, ABORT at 2
    second.commit_transaction(15)

    assert [(o, v) for _, o, v in ck_read_all(broker, topic, 1, "read_committed", 1)] == [(3, b"new-0")]
    assert [(o, v) for _, o, v in ck_read_all(broker, topic, 1, "read_uncommitted", 3)] == [
        (0, b"old-0"), (1, b"old-1"), (3, b"new-0")]


@pytest.mark.kafka_python
def test_kafka_python_fenced_producer_cannot_commit(broker):
    topic = new_topic(broker, 1)
    txn_id = unique("fence-kp")
    first = kp.KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=txn_id)
    first.init_transactions()
    first.begin_transaction()
    assert first.send(topic, b"old", partition=0).get(timeout=10).offset == 0
    second = kp.KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=txn_id)
    second.init_transactions()
    # EndTxn with the old epoch: the coordinator answers PRODUCER_FENCED.
    with pytest.raises(kp.Errors.ProducerFencedError):
        first.commit_transaction()
    first.close(timeout=5)
    second.begin_transaction()
    assert second.send(topic, b"new", partition=0).get(timeout=10).offset == 2  # ABORT marker at 1
    second.commit_transaction()
    second.close(timeout=5)
    assert [(o, v) for _, o, v in ck_read_all(broker, topic, 1, "read_committed", 1)] == [(2, b"new")]


# --- 4. a producer killed mid-transaction --------------------------------------------------

KILLED_PRODUCER = r"""
import sys, time
from confluent_kafka import Producer
bootstrap, txn_id, topic, timeout_ms = sys.argv[1:5]
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
              "transaction.timeout.ms": int(timeout_ms), "linger.ms": 5})
p.init_transactions(15)
p.begin_transaction()
for i in range(3):
    p.produce(topic, value=b"open-%d" % i, partition=0)
assert p.flush(15) == 0
print("flushed", flush=True)
time.sleep(120)
"""


@pytest.mark.confluent
def test_transaction_of_a_killed_producer_is_aborted_after_its_timeout(broker, tmp_path):
    timeout_ms = 5000
    topic = new_topic(broker, 1)
    stderr_path = tmp_path / "killed-producer.log"
    register_log("killed producer stderr", stderr_path)
    spawned = time.monotonic()  # the transaction begins after this
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", KILLED_PRODUCER, broker.bootstrap, unique("killed"),
                                 topic, str(timeout_ms)], stdout=subprocess.PIPE, stderr=err)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready and proc.stdout.readline() == b"flushed\n", "the producer did not flush its transaction"
    finally:
        proc.send_signal(signal.SIGKILL)  # no commit, no abort, no goodbye
        proc.wait(10)
        proc.stdout.close()
    # Later records from a plain producer: above the open transaction, so held back.
    assert ck_produce_plain(broker, topic, [(0, None, b"later-%d" % i) for i in range(3)]) == [
        (0, 3), (0, 4), (0, 5)]

    consumer = ck_consumer(broker, "read_committed")
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        # Before the timeout: the last stable offset is the open transaction's first offset.
        low, lso = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        assert (low, lso) == (0, 0), "ListOffsets(latest, read_committed) must give the LSO"
        early = consumer.consume(num_messages=100, timeout=1.0)
        checked_before = time.monotonic() - spawned
        assert checked_before < timeout_ms / 1000, "too slow to look before the timeout"
        assert [m.value() for m in early] == [], "read_committed read past the open transaction"
        assert end_offsets(broker, topic, 1) == {0: 6}

        # After it: the transaction is aborted (marker at 6) and the later records come.
        got = []
        deadline = time.monotonic() + timeout_ms / 1000 + 10
        while len(got) < 3 and time.monotonic() < deadline:
            got += consumer.consume(num_messages=100, timeout=0.1)
        visible_after = time.monotonic() - spawned
        assert [(m.offset(), m.value()) for m in got] == [(3, b"later-0"), (4, b"later-1"), (5, b"later-2")]
        assert visible_after >= timeout_ms / 1000, f"aborted {visible_after:.1f} s after start, before the timeout"
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 7)
    finally:
        consumer.close()
    assert end_offsets(broker, topic, 1) == {0: 7}
    assert [(o, v) for _, o, v in ck_read_all(broker, topic, 1, "read_uncommitted", 6)] == [
        (0, b"open-0"), (1, b"open-1"), (2, b"open-2"), (3, b"later-0"), (4, b"later-1"), (5, b"later-2")]


# --- 5. kafka-python 3: consume–transform–produce, exactly once -----------------------------


@pytest.mark.kafka_python
def test_kafka_python_consume_transform_produce_is_exactly_once(broker):
    from kafka.structs import OffsetAndMetadata

    src, dst = new_topic(broker, 3), new_topic(broker, 3)
    plain = kp.KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20)
    for key, value in ((k, v) for _, k, v in input_records(N_RECORDS)):
        plain.send(src, key=key, value=value)
    plain.flush(30)
    plain.close()
    tps = [kp.TopicPartition(src, p) for p in range(3)]

    group = unique("eos-kp")
    consumer = kp.KafkaConsumer(src, bootstrap_servers=broker.bootstrap, group_id=group,
                                isolation_level="read_committed", enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=1000)
    ends = consumer.end_offsets(tps)
    assert sum(ends.values()) == N_RECORDS and all(ends.values()), ends
    producer = kp.KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=unique("eos-kp-app"),
                                linger_ms=5)
    producer.init_transactions()
    transactions, aborted_records, aborts = 0, 0, 0
    done = {}
    deadline = time.monotonic() + 40
    try:
        while done != ends:
            assert time.monotonic() < deadline, f"loop not done in 40 s: committed {done}, end {ends}"
            batch = consumer.poll(timeout_ms=500)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            producer.begin_transaction()
            for r in records:
                producer.send(dst, key=b"out-" + r.key, value=b"out-" + r.value)
            transactions += 1
            if transactions in (3, 6):
                producer.flush(15)
                producer.abort_transaction()
                aborts += 1
                aborted_records += len(records)
                for tp in consumer.assignment():
                    offset = consumer.committed(tp)
                    if offset is None:
                        consumer.seek_to_beginning(tp)
                    else:
                        consumer.seek(tp, offset)
                continue
            offsets = {tp: OffsetAndMetadata(consumer.position(tp), "", -1) for tp in consumer.assignment()}
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
            done.update({tp: om.offset for tp, om in offsets.items()})
    finally:
        consumer.close()
        producer.close(timeout=5)
    assert aborts == 2 and aborted_records > 0

    reader = kp.KafkaConsumer(bootstrap_servers=broker.bootstrap, isolation_level="read_committed",
                              enable_auto_commit=False, consumer_timeout_ms=3000)
    reader.assign([kp.TopicPartition(dst, p) for p in range(3)])
    reader.seek_to_beginning()
    got = Counter()
    for message in reader:
        got[message.value] += 1
    reader.close()
    expected = expected_output(N_RECORDS)
    assert got == expected, (f"{sum(got.values())} records; missing {sum((expected - got).values())}, "
                             f"extra {sum((got - expected).values())}")
    assert len(ck_read_all(broker, dst, 3, "read_uncommitted", N_RECORDS + aborted_records)) == (
        N_RECORDS + aborted_records)

    adm = kp.admin(broker.bootstrap)
    try:
        assert kp.list_group_offsets(adm, group) == ends
    finally:
        adm.close()


# --- 6. admin: ListTransactions, DescribeTransactions ---------------------------------------


@pytest.mark.kafka_python
def test_admin_lists_and_describes_transactions(broker):
    from kafka.admin._transactions import TransactionState

    topic = new_topic(broker, 2)
    txn_id = unique("admin")
    producer = kp.KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=txn_id,
                                transaction_timeout_ms=30000)
    producer.init_transactions()
    ids = producer._transaction_manager.producer_id_and_epoch
    pid, epoch = ids.producer_id, ids.epoch
    assert pid >= 0 and epoch >= 0
    adm = kp.admin(broker.bootstrap)

    def describe():
        return adm.describe_transactions([txn_id])[txn_id]

    def listed(**filters):
        return {(t.transactional_id, t.producer_id, t.state)
                for listings in adm.list_transactions(**filters).values() for t in listings}

    try:
        d = describe()
        assert (d.state, d.producer_id, d.producer_epoch, d.topic_partitions) == (
            TransactionState.EMPTY, pid, epoch, set())
        assert d.transaction_timeout_ms == 30000

        producer.begin_transaction()
        producer.send(topic, b"x", partition=0).get(timeout=10)
        producer.send(topic, b"y", partition=1).get(timeout=10)
        d = describe()
        assert (d.state, d.producer_id, d.producer_epoch) == (TransactionState.ONGOING, pid, epoch)
        assert d.topic_partitions == {kp.TopicPartition(topic, 0), kp.TopicPartition(topic, 1)}
        assert abs(d.transaction_start_time_ms - time.time() * 1000) < 30_000, d.transaction_start_time_ms
        assert (txn_id, pid, TransactionState.ONGOING) in listed()
        assert (txn_id, pid, TransactionState.ONGOING) in listed(state_filters=["Ongoing"])
        assert listed(producer_id_filters=[pid]) == {(txn_id, pid, TransactionState.ONGOING)}

        producer.commit_transaction()
        d = describe()
        assert (d.state, d.producer_id, d.producer_epoch) == (TransactionState.COMPLETE_COMMIT, pid, epoch)
        assert txn_id not in {t for t, _, _ in listed(state_filters=["Ongoing"])}
        assert (txn_id, pid, TransactionState.COMPLETE_COMMIT) in listed()

        producer.begin_transaction()
        producer.send(topic, b"z", partition=0).get(timeout=10)
        producer.abort_transaction()
        d = describe()
        assert (d.state, d.producer_id, d.producer_epoch) == (TransactionState.COMPLETE_ABORT, pid, epoch)

        with pytest.raises(kp.Errors.TransactionalIdNotFoundError):
            adm.describe_transactions([unique("nobody")])
    finally:
        adm.close()
        producer.close(timeout=5)


@pytest.mark.kafka_python
def test_kafka_python_transaction_past_its_timeout_is_aborted_with_an_epoch_bump(broker):
    from kafka.admin._transactions import TransactionState

    topic = new_topic(broker, 1)
    txn_id = unique("slow")
    producer = kp.KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=txn_id,
                                transaction_timeout_ms=1000)
    producer.init_transactions()
    ids = producer._transaction_manager.producer_id_and_epoch
    adm = kp.admin(broker.bootstrap)
    try:
        producer.begin_transaction()
        assert producer.send(topic, b"late", partition=0).get(timeout=10).offset == 0
        began = time.monotonic()
        assert adm.describe_transactions([txn_id])[txn_id].state == TransactionState.ONGOING

        def aborted():
            d = adm.describe_transactions([txn_id])[txn_id]
            return d if d.state == TransactionState.COMPLETE_ABORT else None

        d = wait_until(aborted, 10, interval=0.05, what="the timeout's abort")
        assert time.monotonic() - began < 1 + CLEANUP_INTERVAL_MS / 1000 + 2
        assert (d.producer_id, d.producer_epoch) == (ids.producer_id, ids.epoch + 1)
        # The producer that hung is fenced: EndTxn with its old epoch gets PRODUCER_FENCED.
        with pytest.raises(kp.Errors.ProducerFencedError):
            producer.commit_transaction()
    finally:
        adm.close()
        producer.close(timeout=5)
    assert ck_read_all(broker, topic, 1, "read_committed", 0) == []
    assert end_offsets(broker, topic, 1) == {0: 2}  # the record and the ABORT marker
