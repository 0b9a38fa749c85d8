"""One consumer-group member, run as its own process by test_groups.py.

    python group_member.py '{"client": "kafka-python"|"confluent", "bootstrap": "127.0.0.1:PORT",
                             "group": "...", "topics": ["..."], "name": "m1", ...}'

It subscribes, then polls in a loop. After every poll it reports, as JSON lines on stdout:

    {"event": "assigned", "partitions": [[topic, partition], ...]}    when its assignment changed
    {"event": "records", "records": [[topic, partition, offset, value], ...]}
    {"event": "committed"}  /  {"event": "commit_failed", "error": "..."}

Records are printed ("processed") first and committed synchronously afterwards, so a member that
closes cleanly has committed everything it printed. Reading "close" on stdin makes it close the
consumer (leaving the group) and print {"event": "closed"}; SIGKILL is the unclean way out. It
exits by itself after ``lifetime_s`` so a forgotten member cannot linger.
"""

import json
import sys
import threading
import time

cfg = json.loads(sys.argv[1])
closing = threading.Event()


def emit(**event):
    event["t"] = time.monotonic()
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def watch_stdin():
    for line in sys.stdin:
        if line.strip() == "close":
            closing.set()
            return
    closing.set()  # the test process went away


def kafka_python_member():
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        *cfg["topics"],
        bootstrap_servers=cfg["bootstrap"],
        group_id=cfg["group"],
        client_id=cfg["name"],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=cfg["session_timeout_ms"],
        heartbeat_interval_ms=cfg["heartbeat_interval_ms"],
        max_poll_interval_ms=cfg["max_poll_interval_ms"],
    )
    emit(event="started")
    last = None
    deadline = time.monotonic() + cfg["lifetime_s"]
    while not closing.is_set() and time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=100)
        assigned = sorted([tp.topic, tp.partition] for tp in consumer.assignment())
        if assigned != last:
            emit(event="assigned", partitions=assigned)
            last = assigned
        records = [[r.topic, r.partition, r.offset, r.value.decode()] for recs in batch.values() for r in recs]
        if records:
            emit(event="records", records=records)
            try:
                consumer.commit()
                emit(event="committed")
            except Exception as e:  # noqa: BLE001 - reported to the test, which decides
                emit(event="commit_failed", error=repr(e))
    consumer.close()
    emit(event="closed")


def confluent_member():
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": cfg["bootstrap"],
        "group.id": cfg["group"],
        "client.id": cfg["name"],
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": cfg["session_timeout_ms"],
        "heartbeat.interval.ms": cfg["heartbeat_interval_ms"],
        "max.poll.interval.ms": cfg["max_poll_interval_ms"],
    })
    consumer.subscribe(cfg["topics"])
    emit(event="started")
    last = None
    deadline = time.monotonic() + cfg["lifetime_s"]
    while not closing.is_set() and time.monotonic() < deadline:
        messages = consumer.consume(num_messages=500, timeout=0.1)
        assigned = sorted([tp.topic, tp.partition] for tp in consumer.assignment())
        if assigned != last:
            emit(event="assigned", partitions=assigned)
            last = assigned
        records, next_offsets = [], {}
        for m in messages:
            if m.error():
                emit(event="error", error=str(m.error()))
                continue
            records.append([m.topic(), m.partition(), m.offset(), m.value().decode()])
            next_offsets[(m.topic(), m.partition())] = m.offset() + 1
        if records:
            emit(event="records", records=records)
            try:
                consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in next_offsets.items()],
                                asynchronous=False)
                emit(event="committed")
            except Exception as e:  # noqa: BLE001
                emit(event="commit_failed", error=repr(e))
    consumer.close()
    emit(event="closed")


if __name__ == "__main__":
    threading.Thread(target=watch_stdin, daemon=True).start()
    {"kafka-python": kafka_python_member, "confluent": confluent_member}[cfg["client"]]()
