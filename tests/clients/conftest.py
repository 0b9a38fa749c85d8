"""pytest fixtures for the real-client tests (see harness.py for the Broker they start)."""

import pytest

from harness import _LIVE_BROKERS, _TEST_LOGS, Broker, tail


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for broker in list(_LIVE_BROKERS):
            report.sections.append((f"mini-kafka log tail ({broker.log_path})", broker.log_tail()))
        for name, path in _TEST_LOGS:
            report.sections.append((f"{name} ({path})", tail(path, 40)))


@pytest.fixture(autouse=True)
def _fresh_test_logs():
    _TEST_LOGS.clear()
    yield


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A broker shared by one test module (auto-create on, 1 partition by default).
    Tests that share it use unique topic names."""
    b = Broker(tmp_path_factory.mktemp("broker"), props={"auto.create.topics.enable": "true"})
    b.start()
    yield b
    b.stop()


@pytest.fixture
def make_broker(tmp_path):
    """Factory for a broker of the test's own: ``make_broker(props={...}, log_dir=True)``."""
    started = []

    def make(props=None, log_dir=False):
        b = Broker(tmp_path / f"broker{len(started)}", props=props, log_dir=log_dir)
        started.append(b)
        return b.start()

    yield make
    for b in started:
        b.stop()
