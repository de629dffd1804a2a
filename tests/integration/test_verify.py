"""`credit-ledger verify` against the real broker: a digest file exported from a topic of valid events
verifies its untouched copy and names the first offending record of copies with one record altered,
one removed and two swapped; published roots on credit.digests are checked the same way."""
from __future__ import annotations

import io
import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)

from ops.embedded_kafka import free_port
from ops.kafka_acls import ensure_acls
from projections.canonical import GENESIS_HEAD, SHANGHAI, instant_text, log_link
from projections.ids import make_uscc
from projections.validate import EdgeContext
from streams import ledger_reader, topics
from streams.codec import decode_access_record, decode_event, encode_digest, encode_event
from streams.edge import accept_event
from streams.principals import DEV_PREFIX
from tests.helpers import Worker, cli, kafka_config, kafka_credentials_dir, test_keys_env, wait_for

KEY = b"integration-test-pseudonym-key-0003"
AUTHORITY = {"authority_code": make_uscc("330100", 5, "1", "1"), "authority_name": "杭州市市场监督管理局"}
PARTITIONS = 2
SUBJECTS = 9


def valid_events() -> list[dict]:
    """Four events for each of a few companies: registered, fined, promised, fined again."""
    today = datetime.now(SHANGHAI).date()
    events = []
    for n in range(SUBJECTS):
        company = {"id": make_uscc("330106", 7100 + n), "kind": "LEGAL_PERSON", "name": f"杭州市西湖测试{n}号贸易有限公司"}

        def event(type_, on, payload):
            return {"type": type_, "subject": company, "source": AUTHORITY, "occurred_on": on.isoformat(),
                    "payload": payload}
        events += [
            event("SubjectRegistered", today - timedelta(days=800), {"region_code": "330106",
                                                                     "registered_on": "2021-03-02"}),
            event("PenaltyImposed", today - timedelta(days=2), {
                "record_id": f"HZ-P-{n}", "decision_no": f"杭市监罚〔2026〕{100 + n}号", "violation_type": "虚假宣传",
                "facts": "在网店发布虚假广告", "basis": "《中华人民共和国广告法》第五十五条",
                "penalty_kinds": ["FINE"], "fine_fen": 1_000_000 + n, "severity": "GENERAL"}),
            event("CommitmentMade", today - timedelta(days=1), {
                "commitment_id": f"HZ-C-{n}", "commitment_kind": "NOTIFICATION_PROMISE",
                "content": "承诺三十日内完成整改", "due_on": (today + timedelta(days=30)).isoformat()}),
            event("PenaltyImposed", today, {
                "record_id": f"HZ-Q-{n}", "decision_no": f"杭市监罚〔2026〕{200 + n}号", "violation_type": "未按规定明码标价",
                "facts": "商品未标明价格", "basis": "《价格违法行为行政处罚规定》第十三条",
                "penalty_kinds": ["FINE"], "fine_fen": 50_000 + n, "severity": "GENERAL"}),
        ]
    return events


def write_events(bootstrap: str, topic: str, events: list[dict]) -> None:
    """A ledger of its own to verify: `events` accepted as the edge accepts them, written to `topic` (a
    scratch topic of this test, as the worker's principal: the worker's edge writes only credit.events)."""
    now = datetime.now(timezone.utc)
    encoded = [encode_event(accept_event(raw, EdgeContext(now=now, pseudonym_key=KEY))[0]) for raw in events]
    producer = Producer(kafka_config(bootstrap, **{"acks": "all", "enable.idempotence": True,
                                                   "partitioner": "murmur2_random"}))
    for event, value in zip(events, encoded):
        producer.produce(topic, value=value, key=event["subject"]["id"].encode())
    assert producer.flush(30) == 0


def create_topics(kafka, names: list[str], prefix: str) -> None:
    """The topics, and the auditor's ACLs to read them (`verify` reads as the auditor, which may read only
    the ledger's three audited topics unless an operator grants it more, as here)."""
    admin = AdminClient(kafka.config("admin"))
    for future in admin.create_topics([NewTopic(n, PARTITIONS, replication_factor=-1) for n in names]).values():
        future.result(30)
    auditor = f"User:{kafka.access('auditor').username}"
    ensure_acls(kafka.admin, [AclBinding(ResourceType.TOPIC, prefix, ResourcePatternType.PREFIXED, auditor, "*",
                                         operation, AclPermissionType.ALLOW)
                              for operation in (AclOperation.READ, AclOperation.DESCRIBE)])
    for name in names:
        ledger_reader.watermarks(kafka.access("auditor"), name, timeout_s=30)  # waits until the partitions are led


def copy_into(bootstrap: str, topic: str, partitions: dict[int, list[tuple[bytes, bytes]]]) -> None:
    producer = Producer(kafka_config(bootstrap, **{"acks": "all", "enable.idempotence": True}))
    for partition, records in partitions.items():
        for key, value in records:
            producer.produce(topic, value=value, key=key, partition=partition)
    assert producer.flush(30) == 0


def publish_roots(bootstrap: str, topic: str, partitions: dict[int, list[tuple[bytes, bytes]]]) -> None:
    """What the worker publishes to credit.digests: each partition's root at its last offset."""
    producer = Producer(kafka_config(bootstrap, **{"acks": "all"}))
    for partition, records in partitions.items():
        root = GENESIS_HEAD
        for offset, (key, value) in enumerate(records):
            root = log_link(root, offset, key, value)
        producer.produce(topics.DIGESTS, key=str(partition).encode(), value=encode_digest({
            "topic": topic, "partition": partition, "offset": len(records) - 1, "root": root,
            "at": instant_text(datetime.now(timezone.utc))}))
    assert producer.flush(30) == 0


def discrepancy_line(done) -> str:
    lines = [line for line in done.stdout.splitlines() if line.startswith("DISCREPANCY:")]
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    """The worker that records each verify's read on credit.access-log (the auditor's Kafka user writes nothing)."""
    running = Worker(kafka.bootstrap, tmp_path_factory.mktemp("verify"), free_port()).start()
    yield running
    running.stop()


def verify(worker: Worker, *args: str, role: str = "auditor"):
    return cli("verify", *args, "--web-url", worker.url, env={"CREDIT_LEDGER_TOKEN": worker.tokens[role]})


def test_verify_names_the_first_altered_removed_or_reordered_record(kafka, worker, tmp_path):
    bootstrap = kafka.bootstrap
    name = f"credit-ledger-test.verify-{uuid.uuid4().hex[:8]}"  # the worker's prefix: it may write them
    copies = {kind: f"{name}-{kind}" for kind in ("copy", "altered", "removed", "swapped", "published")}
    create_topics(kafka, [name, *copies.values()], prefix=name)
    write_events(bootstrap, name, valid_events())

    log: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(PARTITIONS)}
    for partition, offset, key, value, _ in ledger_reader.read_topic(kafka.access("auditor"), name):
        assert offset == len(log[partition])
        log[partition].append((key, value))
    partition = max(log, key=lambda p: len(log[p]))  # the tampering happens in the fuller partition
    records = log[partition]
    assert len(records) >= 8, {p: len(r) for p, r in log.items()}
    event_ids = [decode_event(value)["event_id"] for _, value in records]

    digest = tmp_path / "digest.json"
    done = verify(worker, "--export-digest", str(digest), "--topic", name, "--kafka", bootstrap)
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(digest.read_text("utf-8"))
    assert document["format"] == 1 and document["topic"] == name
    assert {p: len(body["records"]) for p, body in document["partitions"].items()} == {
        str(p): len(r) for p, r in log.items()}
    assert document["partitions"][str(partition)]["records"][0][2] == event_ids[0]
    assert len(document["subjects"]) == SUBJECTS and {c["length"] for c in document["subjects"].values()} == {4}

    # the forgeries, each in the fuller partition; the other partition is copied as it is
    altered_at = next(i for i, (_, value) in enumerate(records) if i >= 2
                      and decode_event(value)["type"] == "PenaltyImposed")
    forged_event = decode_event(records[altered_at][1])
    forged_event["payload"]["fine_fen"] = 1  # a fine quietly reduced to one fen
    altered = list(records)
    altered[altered_at] = (records[altered_at][0], encode_event(forged_event))
    removed_at, swapped_at = 5, 3
    removed = records[:removed_at] + records[removed_at + 1:]
    swapped = records[:swapped_at] + [records[swapped_at + 1], records[swapped_at]] + records[swapped_at + 2:]
    for kind, forged in (("copy", records), ("altered", altered), ("removed", removed), ("swapped", swapped),
                         ("published", altered)):
        copy_into(bootstrap, copies[kind], {**log, partition: forged})
    publish_roots(bootstrap, copies["published"], log)  # the roots of the untouched log, for the altered copy
    altered_subject = forged_event["subject"]["id"]
    intact_subject = next(s for s in document["subjects"] if s != altered_subject)

    runs = {
        "copy": ("--digest", str(digest), "--topic", copies["copy"]),
        "altered": ("--digest", str(digest), "--topic", copies["altered"]),
        "removed": ("--digest", str(digest), "--topic", copies["removed"]),
        "swapped": ("--digest", str(digest), "--topic", copies["swapped"]),
        "published": ("--topic", copies["published"]),
        "subject-altered": ("--digest", str(digest), "--topic", copies["altered"], "--subject", altered_subject),
        "subject-intact": ("--digest", str(digest), "--topic", copies["altered"], "--subject", intact_subject),
        "usage": ("--digest", str(digest), "--export-digest", str(tmp_path / "x.json")),
        "no-digest": ("--topic", name),
        "no-subject": ("--digest", str(digest), "--topic", copies["copy"], "--subject", make_uscc("330106", 1)),
    }
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {k: pool.submit(verify, worker, *args, "--kafka", bootstrap) for k, args in runs.items()}
        results = {k: f.result() for k, f in futures.items()}

    clean = results["copy"]
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "VERIFIED" in clean.stdout and "DISCREPANCY" not in clean.stdout

    expected = {
        "altered": f"altered, partition {partition}, offset {altered_at}, event {event_ids[altered_at]}",
        "removed": f"removed, partition {partition}, offset {removed_at}, event {event_ids[removed_at]}",
        "swapped": f"reordered, partition {partition}, offset {swapped_at}, event {event_ids[swapped_at]}",
    }
    for kind, naming in expected.items():
        done = results[kind]
        assert done.returncode == 1, done.stdout + done.stderr
        assert discrepancy_line(done) == f"DISCREPANCY: {naming}", done.stdout
    assert f"now at offset {swapped_at + 1}" in results["swapped"].stdout
    assert f"holds event {event_ids[removed_at + 1]}, saved at offset {removed_at + 1}" in results["removed"].stdout

    # published roots only: the partition and the offsets the first difference lies in
    published = results["published"]
    assert published.returncode == 1, published.stdout + published.stderr
    assert discrepancy_line(published) == (f"DISCREPANCY: root_differs, partition {partition}, "
                                           f"offsets 0..{len(records) - 1}")

    # one subject's chain: the altered fine breaks its owner's chain only
    broken = results["subject-altered"]
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"only the chain of subject {altered_subject} is verified" in broken.stdout
    assert re.search(rf"chain_differs, subject {altered_subject}, partition {partition}, offset {altered_at}, "
                     rf"event {event_ids[altered_at]}", broken.stdout), broken.stdout
    intact = results["subject-intact"]
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert f"only the chain of subject {intact_subject} is verified" in intact.stdout and "VERIFIED" in intact.stdout

    # nothing to verify against, or no such subject: exit 2, said why
    assert results["usage"].returncode == 2 and "not both" in results["usage"].stderr
    assert results["no-digest"].returncode == 2 and "nothing verified" in results["no-digest"].stderr
    assert results["no-subject"].returncode == 2 and "no subject" in results["no-subject"].stderr


def test_a_digest_published_while_verify_reads_is_not_taken_for_records_gone(kafka, worker, monkeypatch):
    """The worker publishes a digest every few seconds, naming an offset it has folded. verify reads the
    published digests before the log's ends: read the other way round, a digest published between the two
    named a record past the ends read, and verify said the records were gone (exit 1, on an intact log)."""
    from rich.console import Console

    from ops.verify import run_verify

    bootstrap, name = kafka.bootstrap, f"credit-ledger-test.verify-{uuid.uuid4().hex[:8]}"
    create_topics(kafka, [name], prefix=name)
    events = valid_events()
    write_events(bootstrap, name, events[:-1])

    def published_roots() -> None:  # as the worker does: each partition's root at its last offset
        log: dict[int, list[tuple[bytes, bytes]]] = {}
        for partition, _, key, value, _ in ledger_reader.read_topic(kafka.access("auditor"), name):
            log.setdefault(partition, []).append((key, value))
        publish_roots(bootstrap, name, log)
    published_roots()
    ends_read, moved_on = ledger_reader.watermarks, []

    def ends_then_the_ledger_moves_on(access, topic, *args, **options):
        ends = ends_read(access, topic, *args, **options)
        if topic == name and not moved_on:  # right after verify read the ends: one more event, its digest
            moved_on.append(ends)  # first: reading the topic back reads its ends too
            write_events(bootstrap, name, events[-1:])
            published_roots()
        return ends
    monkeypatch.setattr(ledger_reader, "watermarks", ends_then_the_ledger_moves_on)
    for variable, value in {"CREDIT_LEDGER_DATA_DIR": str(kafka_credentials_dir()), **test_keys_env(),
                            "CREDIT_LEDGER_TOKEN": worker.tokens["auditor"]}.items():
        monkeypatch.setenv(variable, value)
    out, err = io.StringIO(), io.StringIO()
    code = run_verify(kafka=bootstrap, topic=name, web_url=worker.url, out=Console(file=out, width=200),
                      err=Console(file=err, width=200))
    assert moved_on, "the ledger did not move on while verify read it"
    assert code == 0 and "VERIFIED" in out.getvalue(), out.getvalue() + err.getvalue()


def test_each_verify_is_on_the_access_log_before_it_reads_and_none_reads_unrecorded(kafka, worker):
    subject = make_uscc("330106", 7100)
    done = verify(worker, "--subject", subject, "--kafka", kafka.bootstrap)
    assert done.returncode in (0, 2), done.stdout + done.stderr  # whatever it finds: the read was recorded

    def recorded():
        found = [decode_access_record(v) for *_, v, _ in ledger_reader.read_topic(kafka.access("auditor"),
                                                                                  topics.ACCESS_LOG)]
        return [r for r in found if r["endpoint"].startswith("credit-ledger verify") and r["subject_id"] == subject]
    (record, *_) = wait_for(recorded, 30, what="the verify's access record")
    assert (record["principal"], record["role"], record["action"]) == (DEV_PREFIX + "auditor", "auditor", "verify")
    assert record["endpoint"] == f"credit-ledger verify --topic {topics.EVENTS} --subject {subject}"

    # a role that may not verify, or a worker that does not answer: nothing is read, exit 2, said why
    refused = verify(worker, "--subject", subject, "--kafka", kafka.bootstrap, role="supervisor")
    assert refused.returncode == 2 and "refused to record the read (403" in refused.stderr
    away = cli("verify", "--kafka", kafka.bootstrap, "--web-url", f"http://127.0.0.1:{free_port()}",
               env={"CREDIT_LEDGER_TOKEN": worker.tokens["auditor"]})
    assert away.returncode == 2 and "cannot record the read" in away.stderr
    assert "VERIFIED" not in refused.stdout + away.stdout and len(recorded()) == 1
