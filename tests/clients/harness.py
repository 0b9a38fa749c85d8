"""The harness of the real-client tests: a mini-kafka broker on an ephemeral port, and helpers.

Every test talks to a broker started from the release binary (``target/release/mini-kafka``, or
``$MINI_KAFKA_BIN``) with a properties file written into a temporary directory. The broker listens
on ``127.0.0.1:0``; the port it got is read from its ``listening on 127.0.0.1:PORT`` log line.
The broker's stderr goes to a file (never a pipe nobody drains), and when a test fails the last
lines of every broker log that was alive during the test are attached to the report.

``RUST_LOG`` is passed through (default ``info``); ``RUST_LOG=debug scripts/test.sh`` shows every
request the clients sent.
"""

import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("MINI_KAFKA_BIN", REPO / "target" / "release" / "mini-kafka"))
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Brokers running right now, and other logs of the current test (group members' stderr), so a
# failing test can show them.
_LIVE_BROKERS = []
_TEST_LOGS = []


def register_log(name, path):
    """Attach the tail of this file to the report if the current test fails."""
    _TEST_LOGS.append((name, Path(path)))


def tail(path, lines=80):
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class Broker:
    """One mini-kafka process. ``props`` are extra server.properties keys."""

    def __init__(self, workdir, props=None, log_dir=False, rust_log=None):
        self.workdir = Path(workdir)
        self.rust_log = rust_log
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.props = dict(props or {})
        self.log_dir = self.workdir / "data" if log_dir else None
        self.proc = None
        self.port = None
        self.log_path = self.workdir / "broker.log"
        self._starts = 0

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def start(self, port=0, timeout=15.0):
        """Starts the broker (on ``port``, 0 = ephemeral) and waits for its listening line."""
        assert self.proc is None, "broker already running"
        if not BINARY.exists():
            pytest.fail(f"broker binary {BINARY} is missing: run `cargo build --release` first")
        self._starts += 1
        lines = [f"listeners=PLAINTEXT://127.0.0.1:{port}"]
        if self.log_dir is not None:
            lines.append(f"log.dirs={self.log_dir}")
        lines += [f"{k}={v}" for k, v in self.props.items()]
        props_path = self.workdir / "server.properties"
        props_path.write_text("\n".join(lines) + "\n")
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        if self.rust_log:
            env["RUST_LOG"] = self.rust_log
        log = open(self.log_path, "ab")
        log.write(f"=== start #{self._starts}: {BINARY} {props_path}\n".encode())
        log.flush()
        offset = log.tell()
        try:
            self.proc = subprocess.Popen(
                [str(BINARY), str(props_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            )
        finally:
            log.close()
        _LIVE_BROKERS.append(self)
        deadline = time.monotonic() + timeout
        pattern = re.compile(rb"listening on (\S+):(\d+)")
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                m = pattern.search(f.read())
            if m:
                self.port = int(m.group(2))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        code = self.proc.poll()
        self.stop()
        pytest.fail(f"broker did not start (exit code {code}); log:\n{self.log_tail()}")

    def stop(self):
        """Stops the broker: SIGTERM, then SIGKILL after 5 s. Safe to call twice."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self in _LIVE_BROKERS:
            _LIVE_BROKERS.remove(self)

    def restart(self):
        """Stops the broker and starts it again on the same port, with the same log dir."""
        port = self.port
        self.stop()
        return self.start(port=port)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self):
        """User + system CPU time the broker process used so far (from /proc/PID/stat)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            stat = f.read()
        # The command name (field 2) may hold spaces; fields after the closing paren are fixed.
        fields = stat[stat.rindex(")") + 2:].split()
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
        return (utime + stime) / CLK_TCK

    def log_tail(self, lines=80):
        return tail(self.log_path, lines)


def unique(prefix="t"):
    """A topic or group name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate, timeout, interval=0.1, what="condition"):
    """Calls ``predicate`` until it returns a truthy value or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def assert_same_records(expected, got, n_records):
    """Every record came back exactly once, as sent: `expected` and `got` map
    (partition, offset) to (key, value, headers, timestamp)."""
    assert len(got) == n_records, f"got {len(got)} of {n_records} records"
    mismatched = [k for k in expected if got.get(k) != expected[k]]
    assert not mismatched, (
        f"{len(mismatched)} records differ, e.g. {mismatched[0]}: "
        f"sent {expected[mismatched[0]]}, got {got.get(mismatched[0])}"
    )
