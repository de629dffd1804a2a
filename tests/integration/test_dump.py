"""`credit-ledger dump` and `credit-ledger kafka-tool` against the real broker: an event published through the
worker's edge dumps decoded at its partition and offset, as the auditor, after the worker put the read on
credit.access-log (no record, no read); a record that is no Avro of the ledger dumps as undecodable, and the
dump goes on; Kafka's own consumer-groups tool runs offline as the worker's principal, and the auditor's is
refused what its ACLs do not give it."""
from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from ops.embedded_kafka import free_port
from projections.ids import make_uscc
from streams import ledger_reader, topics
from streams.codec import decode_access_record, encode_digest
from streams.sdk import Publisher
from tests.helpers import Worker, cli, kafka_config

AUTHORITY = {"authority_code": make_uscc("320500", 31, "1", "1"), "authority_name": "苏州市市场监督管理局"}


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    """The worker whose edge takes the event and which records each dump's read."""
    running = Worker(kafka.bootstrap, tmp_path_factory.mktemp("dump"), free_port()).start()
    yield running
    running.stop()


def dump(worker: Worker, kafka, *args: str, web_url: str | None = None):
    return cli("dump", *args, "--kafka", kafka.bootstrap, "--web-url", web_url or worker.url,
               env={"CREDIT_LEDGER_TOKEN": worker.tokens["auditor"]})


def produced(bootstrap: str, topic: str, records: list[bytes]) -> list[tuple[int, int]]:
    """Write `records` to partition 0 of `topic` as the worker's principal; their (partition, offset)."""
    where = []
    producer = Producer(kafka_config(bootstrap, **{"acks": "all"}))
    for value in records:
        producer.produce(topic, value=value, key=b"dump-test", partition=0,
                         on_delivery=lambda error, message: where.append((message.partition(), message.offset())))
    assert producer.flush(30) == 0 and len(where) == len(records)
    return sorted(where)


def test_dump_prints_records_decoded_after_the_read_is_recorded(kafka, worker):
    company = {"id": make_uscc("320508", 5150), "kind": "LEGAL_PERSON", "name": "苏州姑苏转储测试有限公司"}
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        receipt = publisher.publish({"type": "SubjectRegistered", "subject": company, "source": AUTHORITY,
                                     "occurred_on": "2024-03-01",
                                     "payload": {"region_code": "320508", "registered_on": "2019-05-06"}})
    done = dump(worker, kafka, topics.EVENTS, "--partition", str(receipt.partition), "--from", str(receipt.offset),
                "--limit", "1", "--json")
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(text) for text in done.stdout.splitlines()]
    assert (line["partition"], line["offset"], line["key"]) == (receipt.partition, receipt.offset, company["id"])
    assert line["value"]["event_id"] == receipt.event_id and line["value"]["subject"]["name"] == company["name"]

    # credit.alerts, read as the worker's principal: a record that is no Avro of the ledger, then one that is
    digest = {"topic": topics.EVENTS, "partition": 0, "offset": 1, "root": "cd" * 32, "at": "2026-03-01T08:00:00+08:00"}
    (_, garbage_at), (_, digest_at) = produced(kafka.bootstrap, topics.ALERTS, [b"\xc3\x01not-avro", encode_digest(digest)])
    done = dump(worker, kafka, topics.ALERTS, "--partition", "0", "--from", str(garbage_at), "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(text) for text in done.stdout.splitlines()]
    assert [(l["offset"], l.get("undecodable"), l.get("bytes")) for l in lines[:2]] == [
        (garbage_at, True, 10), (digest_at, None, None)]
    assert lines[1]["value"] == {**digest, "tree_size": 0, "tree_root": "", "tree_offset": -1}  # no tree: defaults
    table = dump(worker, kafka, topics.ALERTS, "--partition", "0", "--from", str(garbage_at), "--limit", "2")
    assert table.returncode == 0 and "undecodable (10 bytes)" in table.stdout and "cd" * 32 in table.stdout

    # every dump above is on credit.access-log, as the auditor whose token asked, before it read
    commands = [decode_access_record(value) for *_, value, _ in
                ledger_reader.read_topic(kafka.access("auditor"), topics.ACCESS_LOG)]
    mine = [r for r in commands if r["endpoint"].startswith("credit-ledger dump ")
            and r["principal"] == "dev-auditor"]
    assert {r["endpoint"] for r in mine} >= {
        f"credit-ledger dump {topics.EVENTS} --from {receipt.offset} --partition {receipt.partition} --limit 1",
        f"credit-ledger dump {topics.ALERTS} --from {garbage_at} --partition 0 --limit 100"}
    assert {r["action"] for r in mine} == {"verify"}

    # no record, no read: a worker that is not there
    unrecorded = dump(worker, kafka, topics.EVENTS, web_url=f"http://127.0.0.1:{free_port()}")
    assert unrecorded.returncode == 2 and unrecorded.stdout == "" and "cannot record the read" in unrecorded.stderr
    past = dump(worker, kafka, topics.EVENTS, "--partition", "99")
    assert past.returncode == 2 and "--partition 99" in past.stderr


def test_kafka_tool_runs_consumer_groups_offline_as_the_role_given(kafka):
    group = f"credit-ledger-test-tool-{uuid.uuid4().hex[:8]}"  # the worker's prefix: its principal may use it
    consumer = Consumer(kafka_config(kafka.bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    try:
        consumer.commit(offsets=[TopicPartition(topics.EVENTS, 0, 0)], asynchronous=False)
    finally:
        consumer.close()
    done = cli("kafka-tool", "consumer-groups", "--describe", "--group", group, "--kafka", kafka.bootstrap)
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(line.split()[:4] == [group, topics.EVENTS, "0", "0"] for line in done.stdout.splitlines()), done.stdout
    refused = cli("kafka-tool", "--as", "auditor", "consumer-groups", "--describe", "--group", group,
                  "--kafka", kafka.bootstrap)
    assert "GroupAuthorizationException" in refused.stdout + refused.stderr
    bad = cli("kafka-tool", "consumer-group", "--list")
    assert bad.returncode == 2 and "TOOL 'consumer-group'" in bad.stderr
