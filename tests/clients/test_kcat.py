"""kcat (librdkafka's command-line client) against mini-kafka: -L, -P with keys and headers,
-C -o beginning -e. kcat must be installed (.ci/run installs Debian's `kcat`)."""

import json
import shutil
import subprocess
from collections import defaultdict

import pytest

from harness import Broker, unique

pytestmark = pytest.mark.kcat

KCAT = shutil.which("kcat")


@pytest.fixture(scope="module")
def kbroker(tmp_path_factory):
    assert KCAT, "kcat is not installed (apt-get install kcat)"
    b = Broker(tmp_path_factory.mktemp("kcat-broker"),
               props={"auto.create.topics.enable": "true", "num.partitions": "3", "node.id": "1"})
    b.start()
    yield b
    b.stop()


def kcat(broker, *args, input=None, timeout=60):
    proc = subprocess.run([KCAT, "-b", broker.bootstrap, *args], input=input, capture_output=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"kcat {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
    return proc.stdout


def consume_all(broker, topic, *extra):
    out = kcat(broker, "-C", "-t", topic, "-o", "beginning", "-e", "-J", *extra)
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def test_produce_keys_and_headers_then_consume_from_beginning(kbroker):
    topic = unique("kcat")
    lines = [f"key-{i % 13}:value-{i}" for i in range(300)]
    kcat(kbroker, "-P", "-t", topic, "-K", ":", "-H", "app=mini-kafka-tests", "-H", "empty=",
         input=("\n".join(lines) + "\n").encode())

    messages = consume_all(kbroker, topic)
    assert len(messages) == 300, f"got {len(messages)} of 300"
    by_partition = defaultdict(list)
    for m in messages:
        assert m["topic"] == topic
        assert m["headers"] == ["app", "mini-kafka-tests", "empty", ""], m
        assert m["tstype"] == "create" and m["ts"] > 0, m
        by_partition[m["partition"]].append(m)
    for p, ms in by_partition.items():
        assert [m["offset"] for m in ms] == list(range(len(ms))), f"partition {p}: offsets not 0..n-1"
    got = sorted((int(m["payload"].split("-")[1]), m["key"]) for m in messages)
    assert got == [(i, f"key-{i % 13}") for i in range(300)]
    # One key, one partition; within it, send order.
    for key in {m["key"] for m in messages}:
        parts = {m["partition"] for m in messages if m["key"] == key}
        assert len(parts) == 1, f"{key} in partitions {parts}"
        seq = [int(m["payload"].split("-")[1]) for m in by_partition[parts.pop()] if m["key"] == key]
        assert seq == sorted(seq), f"{key} out of order"


def test_metadata_listing(kbroker):
    topic = unique("kcat-meta")
    kcat(kbroker, "-P", "-t", topic, input=b"one\n")
    meta = json.loads(kcat(kbroker, "-L", "-J"))
    assert [(b["id"], b["name"]) for b in meta["brokers"]] == [(1, f"127.0.0.1:{kbroker.port}")]
    assert meta["controllerid"] == 1
    topics = {t["topic"]: t for t in meta["topics"]}
    assert topic in topics, sorted(topics)
    parts = topics[topic]["partitions"]
    assert sorted(p["partition"] for p in parts) == [0, 1, 2]
    assert all(p["leader"] == 1 and p["replicas"] == [{"id": 1}] for p in parts), parts
    assert "error" not in topics[topic], topics[topic]

    # The plain-text listing a person would read.
    text = kcat(kbroker, "-L", "-t", topic).decode()
    assert f'topic "{topic}" with 3 partitions' in text, text


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_produce_and_consume(kbroker, codec):
    topic = unique(f"kcat-{codec}")
    lines = [f"{codec}-{i}-" + "z" * (i % 40) for i in range(500)]
    kcat(kbroker, "-P", "-t", topic, "-p", "0", "-z", codec, input=("\n".join(lines) + "\n").encode())
    messages = consume_all(kbroker, topic, "-p", "0")
    assert [m["payload"] for m in messages] == lines
    assert [m["offset"] for m in messages] == list(range(500))
