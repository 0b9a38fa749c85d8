"""RUST_LOG=trace: what a kafka-python producer and consumer send and get, field by field.

The broker logs every request and every response as an annotated field tree, made by the code
that decodes and encodes them. A record produced by kafka-python must appear as text in the
Produce request and in the Fetch response, and error codes by name.
"""

import re
import socket
import subprocess
import sys
import time

import pytest

from harness import BINARY, REPO, Broker, unique
from kp import KafkaConsumer, KafkaProducer, TopicPartition

pytestmark = pytest.mark.kafka_python


def exchanges(log, api, direction):
    """The field trees the broker logged for `api` requests or responses, as text."""
    blocks = re.split(r"\n(?=\[)", log)
    pattern = re.compile(rf"^\[TRACE [^\]]+\] {api} v\d+ corr=\d+ client=\S+: {direction}, ")
    return [b for b in blocks if pattern.match(b)]


def test_a_record_appears_as_text_in_the_produce_request_and_the_fetch_response(tmp_path):
    broker = Broker(tmp_path, props={"auto.create.topics.enable": "true"}, rust_log="trace").start()
    try:
        topic = unique("traced")
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        producer.send(topic, key=b"user-42", value=b"seen on the wire", headers=[("origin", b"test")]).get(10)
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        records = []
        for _ in range(20):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
            if records:
                break
        consumer.close()
        assert [r.value for r in records] == [b"seen on the wire"]
    finally:
        broker.stop()
    log = broker.log_path.read_text(errors="replace")

    produced = [b for b in exchanges(log, "Produce", "request") if "seen on the wire" in b]
    assert produced, "the Produce request's record, as text, in the trace"
    for field in ['key = "user-42"', 'value = "seen on the wire"', 'header_key = "origin"', 'header_value = "test"',
                  "crc = 0x", "✓ matches the batch"]:
        assert field in produced[0], f"{field!r} not in:\n{produced[0]}"
    answers = exchanges(log, "Produce", "response")
    assert any("error_code = NONE (0)" in a for a in answers)

    fetched = [b for b in exchanges(log, "Fetch", "response") if "seen on the wire" in b]
    assert fetched, "the record, as text, in a Fetch response"
    assert 'key = "user-42"' in fetched[0] and 'header_value = "test"' in fetched[0]
    assert "error_code = NONE (0)" in fetched[0]
    # Metadata auto-created the topic: its answer names the topic and its error code by name.
    metadata = [b for b in exchanges(log, "Metadata", "response") if topic in b]
    assert metadata and re.search(r"error_code = [A-Z_]+ \(\d+\)", metadata[0])


def test_frames_captured_by_the_proxy_decode_to_the_record(tmp_path):
    """scripts/capture.py between kafka-python and the broker, then `mini-kafka decode` of what it
    wrote: every frame decodes, and the record is in the Produce request, as text."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        proxy_port = s.getsockname()[1]
    broker = Broker(tmp_path / "broker", props={"auto.create.topics.enable": "true",
                                                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy_port}"}).start()
    out_dir = tmp_path / "frames"
    proxy = subprocess.Popen([sys.executable, str(REPO / "scripts" / "capture.py"), str(proxy_port),
                              broker.bootstrap, str(out_dir)], stdout=subprocess.PIPE)
    try:
        assert b"capturing" in proxy.stdout.readline()
        producer = KafkaProducer(bootstrap_servers=f"127.0.0.1:{proxy_port}")
        producer.send(unique("captured"), key=b"k", value=b"through the proxy").get(10)
        producer.close()
        time.sleep(0.2)
    finally:
        proxy.terminate()
        proxy.wait(5)
        broker.stop()
    files = sorted(out_dir.iterdir())
    requests = [f for f in files if f.name.endswith("-request.hex")]
    assert any("-Produce-" in f.name for f in requests), [f.name for f in files]
    for request in requests:
        # The response has the same connection, API and correlation id, and a later number.
        responses = list(out_dir.glob("*" + request.name[4:].replace("-request.hex", "-response.hex")))
        done = subprocess.run([str(BINARY), "decode", str(request), *map(str, responses)], capture_output=True, text=True)
        assert done.returncode == 0, f"{request.name}: {done.stderr}\n{done.stdout}"
        if "-Produce-" in request.name:
            assert 'value = "through the proxy"' in done.stdout
