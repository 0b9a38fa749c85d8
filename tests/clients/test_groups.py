"""Consumer groups with real clients: kafka-python and confluent-kafka, each member a process of
its own (group_member.py) so it can leave cleanly ("close") or die without a word (SIGKILL).

Members use a 6 s session timeout, 500 ms heartbeats and a 10 s max.poll.interval (which is also
the rebalance timeout their JoinGroup carries), so every scenario settles in seconds.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import kp
from harness import register_log, tail, unique, wait_until

try:  # venv B (kafka-python 2.x) has no confluent-kafka; its run selects -m kafka_python
    import confluent_kafka
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:
    confluent_kafka = None

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 500
REBALANCE_TIMEOUT_MS = 10_000  # max.poll.interval.ms
MEMBER_SCRIPT = Path(__file__).with_name("group_member.py")

CLIENTS = [
    pytest.param("kafka-python", marks=pytest.mark.kafka_python, id="kafka-python"),
    pytest.param("confluent", marks=pytest.mark.confluent, id="confluent"),
]


# --- members -------------------------------------------------------------------------------


class Member:
    """A group member process and what it reported."""

    def __init__(self, client, bootstrap, group, topic, name, workdir, lifetime_s=150):
        self.name = name
        cfg = {
            "client": client, "bootstrap": bootstrap, "group": group, "topics": [topic], "name": name,
            "session_timeout_ms": SESSION_TIMEOUT_MS, "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
            "max_poll_interval_ms": REBALANCE_TIMEOUT_MS, "lifetime_s": lifetime_s,
        }
        self.stderr_path = Path(workdir) / f"member-{name}.log"
        register_log(f"member {name} stderr", self.stderr_path)
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, str(MEMBER_SCRIPT), json.dumps(cfg)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        self.leaving = False  # set when the test closes or kills it
        self.lock = threading.Lock()
        self.events = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(event)

    def _events(self, kind):
        with self.lock:
            return [e for e in self.events if e["event"] == kind]

    def check_alive(self):
        """Fails the test at once if the member died on its own (a client exception)."""
        if not self.leaving and self.proc.poll() is not None:
            raise AssertionError(f"member {self.name} exited with {self.proc.returncode}:\n"
                                 f"{tail(self.stderr_path, 30)}")

    @property
    def assignment(self):
        """The member's latest assignment as a set of partitions (None before the first one)."""
        assigned = self._events("assigned")
        if not assigned:
            return None
        return {p for _, p in assigned[-1]["partitions"]}

    @property
    def records(self):
        """[(partition, offset, value)] in the order the member processed them."""
        return [(p, o, v) for e in self._events("records") for _, p, o, v in e["records"]]

    def errors(self):
        return self._events("commit_failed") + self._events("error")

    def close(self, timeout=30):
        """Asks the member to leave the group cleanly; returns when it has closed."""
        self.check_alive()
        self.leaving = True
        self.proc.stdin.write(b"close\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout)
        self.reader.join(5)
        assert self._events("closed"), f"{self.name} did not close cleanly (exit {self.proc.returncode})"
        return self._events("closed")[-1]["t"]

    def kill(self):
        self.leaving = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.reader.join(5)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def members(tmp_path):
    """Factory for members; every member still running at the end of the test is killed."""
    started = []

    def start(client, broker, group, topic, name):
        m = Member(client, broker.bootstrap, group, topic, name, tmp_path)
        started.append(m)
        return m

    yield start
    for m in started:
        m.stop()


def wait_for_assignments(group_members, expected_sizes, timeout, what):
    """Waits until the members' latest assignments are disjoint, cover partitions 0..n-1 and
    have the given sizes (in any order)."""
    total = sum(expected_sizes)

    def settled():
        for m in group_members:
            m.check_alive()
        assignments = [m.assignment for m in group_members]
        if any(a is None for a in assignments):
            return False
        union = set().union(*assignments)
        disjoint = sum(len(a) for a in assignments) == len(union)
        ok = disjoint and union == set(range(total)) and sorted(map(len, assignments)) == sorted(expected_sizes)
        return assignments if ok else False

    return wait_until(settled, timeout, interval=0.05,
                      what=f"{what}; latest: {[(m.name, m.assignment) for m in group_members]}")


# --- the client's own producer and admin ---------------------------------------------------


def create_topic(client, broker, partitions):
    topic = unique(f"grp-{client}")
    if client == "kafka-python":
        adm = kp.admin(broker.bootstrap)
        try:
            kp.create_topic(adm, topic, partitions)
        finally:
            adm.close()
    else:
        adm = AdminClient({"bootstrap.servers": broker.bootstrap})
        adm.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                          request_timeout=15)[topic].result(timeout=20)
    return topic


class Producer:
    """Produces ``value`` strings with keys; ``send`` blocks until they are acknowledged."""

    def __init__(self, client, broker):
        self.client = client
        if client == "kafka-python":
            self.p = kp.KafkaProducer(bootstrap_servers=broker.bootstrap)
        else:
            self.p = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})

    def send(self, topic, values):
        if self.client == "kafka-python":
            futures = [self.p.send(topic, key=v.encode(), value=v.encode()) for v in values]
            self.p.flush(30)
            for f in futures:
                f.get(timeout=10)
        else:
            errors = []
            for v in values:
                self.p.produce(topic, key=v.encode(), value=v.encode(),
                               on_delivery=lambda err, msg: err and errors.append(err))
            assert self.p.flush(30) == 0
            assert not errors, errors

    def close(self):
        if self.client == "kafka-python":
            self.p.close()


class GroupAdmin:
    """list/describe/delete groups and list their committed offsets, with the client's admin API."""

    def __init__(self, client, broker):
        self.client = client
        if client == "kafka-python":
            self.adm = kp.admin(broker.bootstrap)
        else:
            self.adm = AdminClient({"bootstrap.servers": broker.bootstrap})

    def list(self):
        if self.client == "kafka-python":
            return kp.list_groups(self.adm)
        result = self.adm.list_consumer_groups(request_timeout=15).result(timeout=20)
        assert not result.errors, result.errors
        return {g.group_id for g in result.valid}

    def describe(self, group):
        """{'state': 'stable'|'empty'|..., 'members': {member_id: (client_id, {partitions})}}"""
        if self.client == "kafka-python":
            d = kp.describe_group(self.adm, group)
            return {"state": (d["state"] or "").lower(),
                    "members": {mid: (m["client_id"], {tp.partition for tp in m["partitions"]})
                                for mid, m in d["members"].items()}}
        d = self.adm.describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
        return {"state": d.state.name.lower(),
                "members": {m.member_id: (m.client_id, {tp.partition for tp in m.assignment.topic_partitions})
                            for m in d.members}}

    def delete(self, group):
        """None on success, else Kafka's error name (e.g. NON_EMPTY_GROUP)."""
        if self.client == "kafka-python":
            return kp.delete_group(self.adm, group)
        try:
            self.adm.delete_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
            return None
        except confluent_kafka.KafkaException as e:
            return e.args[0].name()

    def offsets(self, group):
        """{(topic, partition): committed offset}"""
        if self.client == "kafka-python":
            return {(tp.topic, tp.partition): o for tp, o in kp.list_group_offsets(self.adm, group).items()}
        request = confluent_kafka.ConsumerGroupTopicPartitions(group)
        result = self.adm.list_consumer_group_offsets([request], request_timeout=15)[group].result(timeout=20)
        return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions or []}

    def close(self):
        if self.client == "kafka-python":
            self.adm.close()


def wait_for_records(group_members, count, timeout):
    """Waits until the members processed ``count`` distinct records between them."""
    def done():
        for m in group_members:
            if m.proc.poll() is None or m.leaving:
                continue
            m.check_alive()
        seen = {(p, o) for m in group_members for p, o, _ in m.records}
        return len(seen) >= count

    wait_until(done, timeout, interval=0.1,
               what=f"{count} records; have {[(m.name, len(m.records)) for m in group_members]}")


def no_duplicates(group_members):
    counts = Counter((p, o) for m in group_members for p, o, _ in m.records)
    return [po for po, n in counts.items() if n > 1]


# --- scenarios -----------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_three_members_share_six_partitions_then_one_closes_and_one_dies(broker, members, client):
    topic = create_topic(client, broker, 6)
    group = unique("g-share")
    m1, m2, m3 = (members(client, broker, group, topic, f"m{i}") for i in (1, 2, 3))
    wait_for_assignments([m1, m2, m3], [2, 2, 2], 30, "three members with 2 partitions each")

    closed_at = m3.close()
    wait_for_assignments([m1, m2], [3, 3], REBALANCE_TIMEOUT_MS / 1000, "m3 left: m1 and m2 own all 6")
    assert time.monotonic() - closed_at <= REBALANCE_TIMEOUT_MS / 1000

    killed_at = time.monotonic()
    m2.kill()
    wait_for_assignments([m1], [6], SESSION_TIMEOUT_MS / 1000 + REBALANCE_TIMEOUT_MS / 1000,
                         "m2 killed: m1 owns all 6 after the session timeout")
    moved_after = time.monotonic() - killed_at
    print(f"partitions of the killed member moved after {moved_after:.1f} s")
    assert moved_after <= SESSION_TIMEOUT_MS / 1000 + REBALANCE_TIMEOUT_MS / 1000
    assert not m1.errors(), m1.errors()


@pytest.mark.parametrize("client", CLIENTS)
def test_6000_records_consumed_exactly_once_while_members_come_and_go(broker, members, client):
    topic = create_topic(client, broker, 6)
    group = unique("g-churn")
    total = 6000
    producer = Producer(client, broker)
    produced = []
    failure = []

    def produce():
        try:
            for chunk in range(60):  # 100 records every 100 ms: ~6 s of production
                values = [f"r{chunk * 100 + i}" for i in range(100)]
                producer.send(topic, values)
                produced.extend(values)
                time.sleep(0.1)
        except Exception as e:  # noqa: BLE001 - reported below
            failure.append(e)

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        m1 = members(client, broker, group, topic, "m1")
        time.sleep(1.0)
        m2 = members(client, broker, group, topic, "m2")
        time.sleep(1.0)
        m3 = members(client, broker, group, topic, "m3")
        time.sleep(1.5)
        m1.close()
        time.sleep(1.0)
        m4 = members(client, broker, group, topic, "m4")
        time.sleep(1.5)
        m2.close()
    finally:
        thread.join(60)
    producer.close()
    assert not failure, failure
    assert len(produced) == total

    everyone = [m1, m2, m3, m4]
    wait_for_records(everyone, total, 60)
    time.sleep(1.0)  # anything delivered twice shows up now
    m3.close()
    m4.close()

    consumed = Counter(v for m in everyone for _, _, v in m.records)
    missing = set(produced) - set(consumed)
    assert not missing, f"{len(missing)} records never consumed, e.g. {sorted(missing)[:5]}"
    twice = {v: n for v, n in consumed.items() if n > 1}
    assert not twice, f"{len(twice)} records delivered more than once across clean handovers, e.g. {list(twice.items())[:5]}"
    assert not no_duplicates(everyone)
    busy = [m.name for m in everyone if m.records]
    assert len(busy) >= 3, f"the scenario should hand partitions over between members; only {busy} consumed"
    for m in everyone:
        assert not m.errors(), (m.name, m.errors())


@pytest.mark.parametrize("client", CLIENTS)
def test_two_groups_each_see_every_record(broker, members, client):
    topic = create_topic(client, broker, 3)
    producer = Producer(client, broker)
    values = [f"v{i}" for i in range(300)]
    producer.send(topic, values)
    producer.close()
    a = members(client, broker, unique("g-a"), topic, "a1")
    b = members(client, broker, unique("g-b"), topic, "b1")
    wait_for_records([a], 300, 30)
    wait_for_records([b], 300, 30)
    time.sleep(0.5)
    for m in (a, b):
        assert sorted(v for _, _, v in m.records) == sorted(values), m.name
    a.close()
    b.close()


def resume_scenario(client, broker, members, restart=None):
    topic = create_topic(client, broker, 2)
    group = unique("g-resume")
    producer = Producer(client, broker)
    first = [f"first{i}" for i in range(100)]
    producer.send(topic, first)
    m1 = members(client, broker, group, topic, "m1")
    wait_for_records([m1], 100, 30)
    m1.close()
    assert sorted(v for _, _, v in m1.records) == sorted(first)
    committed_end = {}
    for p, o, _ in m1.records:
        committed_end[p] = max(committed_end.get(p, 0), o + 1)

    if restart:
        producer.close()
        restart()
        producer = Producer(client, broker)
    second = [f"second{i}" for i in range(50)]
    producer.send(topic, second)
    producer.close()
    m2 = members(client, broker, group, topic, "m2")
    wait_for_records([m2], 50, 30)
    time.sleep(1.0)  # re-delivered old records would show up now
    m2.close()
    assert sorted(v for _, _, v in m2.records) == sorted(second), "the new member must resume at the committed offsets"
    for p, o, _ in m2.records:
        assert o >= committed_end.get(p, 0)


@pytest.mark.parametrize("client", CLIENTS)
def test_restarted_consumer_resumes_from_committed_offset(broker, members, client):
    resume_scenario(client, broker, members)


@pytest.mark.parametrize("client", CLIENTS)
def test_committed_offsets_survive_a_broker_restart(make_broker, members, client):
    b = make_broker(log_dir=True)
    resume_scenario(client, b, members, restart=b.restart)


@pytest.mark.parametrize("client", CLIENTS)
def test_admin_list_describe_offsets_and_delete_groups(broker, members, client):
    topic = create_topic(client, broker, 4)
    group = unique("g-admin")
    producer = Producer(client, broker)
    producer.send(topic, [f"x{i}" for i in range(40)])
    producer.close()
    m1 = members(client, broker, group, topic, "admin-m1")
    m2 = members(client, broker, group, topic, "admin-m2")
    wait_for_assignments([m1, m2], [2, 2], 30, "two members with 2 partitions each")
    wait_for_records([m1, m2], 40, 30)

    adm = GroupAdmin(client, broker)
    try:
        assert group in adm.list()

        def described():
            d = adm.describe(group)
            return d if d["state"] == "stable" and len(d["members"]) == 2 else False

        d = wait_until(described, 10, what="a stable group of 2 in describe")
        by_client = {client_id: parts for client_id, parts in d["members"].values()}
        assert by_client == {"admin-m1": m1.assignment, "admin-m2": m2.assignment}, d

        ends = Counter(p for m in (m1, m2) for p, _, _ in m.records)
        expected = {(topic, p): n for p, n in ends.items()}
        wait_until(lambda: adm.offsets(group) == expected, 10,
                   what=f"committed offsets {expected}; have {adm.offsets(group)}")

        assert adm.delete(group) == "NON_EMPTY_GROUP"
        m1.close()
        m2.close()
        wait_until(lambda: adm.describe(group)["state"] == "empty", 10, what="group empty after both left")
        assert adm.delete(group) is None
        assert group not in adm.list()
        assert adm.offsets(group) == {}
    finally:
        adm.close()
