"""Shared fixtures. `kafka`: ONE real broker for the whole session, started on first use."""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest


@dataclass
class KafkaForTests:
    bootstrap: str
    broker: object | None = None  # the EmbeddedKafka, or None for an external broker


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    # imported here so that the pure unit tests never need the Kafka client
    from ops.embedded_kafka import EmbeddedKafka, ensure_topics, free_port

    external = os.environ.get("CREDIT_LEDGER_TEST_KAFKA")
    if external:  # e.g. a broker left running for a fast edit-test loop
        ensure_topics(external)
        yield KafkaForTests(external)
        return
    data_dir = tmp_path_factory.mktemp("kafka")
    broker = EmbeddedKafka(data_dir, port=free_port()).start(timeout_s=120)
    try:
        ensure_topics(broker.bootstrap)
        yield KafkaForTests(broker.bootstrap, broker)
    finally:
        broker.stop()


# `make test` runs two processes (pytest-xdist, --dist loadgroup). A file's tests stay together;
# these files, which load the cores or watch the clock, share one process and run one after
# another, so that the two heaviest never meet and the clock-watching ones never meet a heavy one.
ONE_AT_A_TIME = {"test_offline_commands.py", "test_worker_kill.py", "test_soak.py", "test_disk_full.py",
                 "test_timers.py", "test_grades.py"}


def pytest_collection_modifyitems(items):
    for item in items:
        # a test that uses the broker is a `kafka` test, so `-m "not kafka"` skips it
        if "kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)
        name = item.path.name
        item.add_marker(pytest.mark.xdist_group("one-at-a-time" if name in ONE_AT_A_TIME else str(item.path)))
