"""The embedded broker is a real Kafka that keeps its data and cleans up after itself."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from ops.embedded_kafka import EmbeddedKafka, PortInUseError, ensure_topics, free_port
from streams import topics
from tests.helpers import kafka_config, test_broker

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[2]


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer(kafka_config(bootstrap, **{"acks": "all", "enable.idempotence": True}))
    for i, value in enumerate(values):
        producer.produce(topic, key=str(i).encode(), value=value)
    assert producer.flush(30) == 0


def jvm_arguments(broker: EmbeddedKafka) -> list[str]:
    return Path(f"/proc/{broker.process.pid}/cmdline").read_bytes().decode().split("\0")


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> list[bytes]:
    consumer = Consumer(kafka_config(bootstrap, **{"group.id": f"credit-ledger-test-{uuid.uuid4()}",
                                                   "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    consumer.subscribe([topic])
    got, deadline = [], time.monotonic() + timeout_s
    try:
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg.value())
    finally:
        consumer.close()
    return got


def retention_ms(admin: AdminClient, topic: str) -> str:
    [future] = admin.describe_configs([ConfigResource("topic", topic)]).values()
    return future.result()["retention.ms"].value


def live_processes_mentioning(text: str) -> list[int]:
    """pids of non-zombie processes whose command line contains `text`."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text in (proc / "cmdline").read_bytes().decode(errors="replace") \
                    and (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


def test_topics_exist_and_the_ledger_never_expires(kafka):
    assert ensure_topics(kafka.admin) == []  # idempotent: all there already
    assert ensure_topics(kafka.access("worker")) == []  # as the worker checks them at start: no change to make
    admin = AdminClient(kafka_config(kafka.bootstrap))
    metadata = admin.list_topics(timeout=10)
    for name in topics.ALL:
        # one partition for the key store, the releases and the exports' receipts (each read in one order)
        assert len(metadata.topics[name].partitions) == (1 if name in (topics.PII_KEYS, topics.RELEASES, topics.EXPORTS)
                                                          else topics.PARTITIONS_DEFAULT)
    for name in (topics.EVENTS, topics.REJECTED, topics.ACCESS_LOG, topics.RELEASES, topics.EXPORTS):
        [future] = admin.describe_configs([ConfigResource("topic", name)]).values()
        config = future.result()
        assert (config["retention.ms"].value, config["cleanup.policy"].value) == ("-1", "delete"), name
    # natural persons' keys: compacted, so that an erased key's wrapped bytes leave the brokers' disks
    [future] = admin.describe_configs([ConfigResource("topic", topics.PII_KEYS)]).values()
    config = future.result()
    assert {k: config[k].value for k in topics.COMPACTED_PROMPTLY} == topics.COMPACTED_PROMPTLY


def test_produce_consume_round_trip(kafka):
    topic = f"credit-ledger-test.round-trip.{uuid.uuid4().hex[:8]}"  # auto-created (the worker's prefix); not credit.*
    values = [f"record {i} 信用".encode() for i in range(20)]
    produce(kafka.bootstrap, topic, values)
    assert sorted(consume_all(kafka.bootstrap, topic, len(values))) == sorted(values)


def test_occupied_port_is_reported_by_number(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} is already in use"):
            EmbeddedKafka(tmp_path, port=port).start()
    assert not (tmp_path / "server.properties").exists()  # failed before doing anything


def test_free_ports_lie_below_the_ephemeral_range_where_no_client_connection_takes_them():
    ephemeral_low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    ports = [free_port() for _ in range(50)]
    assert all(20_000 <= port < ephemeral_low for port in ports)
    assert len(set(ports)) > 40  # random picks, not one port again and again
    with socket.socket() as taken:  # and free: a listener can have it
        taken.bind(("127.0.0.1", ports[0]))
        taken.listen()


@pytest.mark.slow
def test_restart_keeps_messages_and_stop_leaves_no_jvm(tmp_path):
    values = [f"kept {i}".encode() for i in range(10)]
    with test_broker(tmp_path, port=free_port()) as first:
        produce(first.bootstrap, topics.EVENTS, values)  # auto-created (a fresh broker)
        assert "-XX:TieredStopAtLevel=1" in jvm_arguments(first)  # the quick compiler only, by default
    assert first.process is None
    assert live_processes_mentioning(str(tmp_path / "server.properties")) == []

    # same data dir, other ports: formatted storage is reused, the messages are still there
    second = test_broker(tmp_path, port=free_port(), controller_port=free_port(), full_jit=True)
    with second:
        assert not [a for a in jvm_arguments(second) if a.startswith("-XX:TieredStopAtLevel")]
        assert sorted(consume_all(second.bootstrap, topics.EVENTS, len(values))) == sorted(values)
        # a topic auto-created with the broker's defaults is fixed up to never expire (by its super user)
        ensure_topics(second.admin_access)
        admin = AdminClient(kafka_config(second.bootstrap))
        deadline = time.monotonic() + 10  # the broker applies a committed change a moment later
        while retention_ms(admin, topics.EVENTS) != "-1" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert retention_ms(admin, topics.EVENTS) == "-1"
    assert live_processes_mentioning(str(tmp_path / "server.properties")) == []
    assert (tmp_path / "kafka.log").stat().st_size < 64 * 1024  # WARN-level log stays small


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_jvm_dies_when_its_python_parent_is_killed(tmp_path):
    script = ("import sys, time; from pathlib import Path; from ops.embedded_kafka import *; "
              f"k = EmbeddedKafka(Path({str(tmp_path)!r}), port=free_port()).start(); "
              "print(k.process.pid, flush=True); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        jvm_pid = int(parent.stdout.readline())
    finally:
        os.kill(parent.pid, signal.SIGKILL)  # no chance to clean up
        parent.wait()
    deadline = time.monotonic() + 15
    while live_processes_mentioning(str(tmp_path / "server.properties")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_processes_mentioning(str(tmp_path / "server.properties")) == [], f"JVM {jvm_pid} orphaned"
