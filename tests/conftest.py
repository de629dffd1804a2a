"""Shared fixtures. `kafka`: ONE real broker for the whole session, started on first use."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class KafkaForTests:
    """The session's broker, with SASL/SCRAM and ACLs as in production: clients authenticate as the
    worker's or the auditor's principal (tests/helpers.py: kafka_access, kafka_config, kafka_env);
    `admin` is the broker's own principal, its super user (topics, ACLs)."""
    bootstrap: str
    admin: object  # streams.kafka_access.KafkaAccess
    broker: object | None = None  # the EmbeddedKafka, or None for an external broker

    def access(self, role: str = "worker"):
        """As the worker's principal, the auditor's, the broker's own ("admin"), or with none ("none")."""
        from tests.helpers import kafka_access

        return self.admin if role == "admin" else kafka_access(self.bootstrap, role)

    def config(self, role: str = "worker", **settings) -> dict:
        from streams.kafka_access import client_config

        return client_config(self.access(role), **settings)


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    # imported here so that the pure unit tests never need the Kafka client
    from ops.embedded_kafka import BROKER_CREDENTIALS, ensure_topics, free_port
    from ops.kafka_acls import BROKER_USER
    from streams.kafka_access import KafkaAccess
    from tests.helpers import kafka_credentials_dir, test_broker

    external = os.environ.get("CREDIT_LEDGER_TEST_KAFKA")
    if external:  # e.g. a broker left running for a fast edit-test loop (see tests/helpers.py)
        password = json.loads((kafka_credentials_dir() / BROKER_CREDENTIALS).read_text())["password"]
        admin = KafkaAccess(external, "SASL_PLAINTEXT", "SCRAM-SHA-512", BROKER_USER, password)
        ensure_topics(admin)
        yield KafkaForTests(external, admin)
        return
    data_dir = Path(tmp_path_factory.mktemp("kafka"))
    broker = test_broker(data_dir, port=free_port()).start()
    try:
        ensure_topics(broker.admin_access)
        yield KafkaForTests(broker.bootstrap, broker.admin_access, broker)
    finally:
        broker.stop()


# `make test` runs three processes (pytest-xdist, --dist loadgroup). A file's tests stay together;
# these files, which load the cores or watch the clock, share one process and run one after
# another, so that the two heaviest never meet and the clock-watching ones never meet a heavy one.
# Run one after another they are the suite's longest chain (~8 of its 9 minutes with three processes).
ONE_AT_A_TIME = {"test_offline_commands.py", "test_worker_kill.py", "test_soak.py", "test_disk_full.py",
                 "test_timers.py", "test_grades.py", "test_releases.py"}


def pytest_configure(config):
    # each of `make test`'s processes starts its servers on ports of its own (ops/embedded_kafka.free_port)
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if worker.startswith("gw") and count.isdigit():
        from ops.embedded_kafka import share_listen_ports

        share_listen_ports(int(worker[2:]), int(count))


def pytest_collection_modifyitems(items):
    for item in items:
        # a test that uses the broker is a `kafka` test, so `-m "not kafka"` skips it
        if "kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)
        name = item.path.name
        item.add_marker(pytest.mark.xdist_group("one-at-a-time" if name in ONE_AT_A_TIME else str(item.path)))
