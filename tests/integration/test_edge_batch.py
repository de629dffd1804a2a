"""The HTTP edge as the ledger's only way in, against a real worker on the real broker: POST /events:batch
(NDJSON in, a result a line out), the SDK over it (receipts with partition and offset, retries across a
worker restart, idempotence by event id), a publisher's token in a batch, system events refused, limits."""
from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import date, datetime, timedelta

import pytest

from ops.demo import demo_events
from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from projections.validate import TIMER_SYSTEM
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_event, decode_rejection
from projections.personal_data import rejection_digest
from streams.sdk import InvalidEvent, Publisher, PublishError
from tests.helpers import Worker, deployment_pseudonym_key, wait_for, wait_until_equal_to_refold

A = {"authority_code": make_uscc("350100", 81, "1", "1"), "authority_name": "福州市市场监督管理局"}
B = {"authority_code": make_uscc("350100", 82, "1", "1"), "authority_name": "福州市生态环境局"}
BATCH_LINES_MAX, BATCH_BYTES_MAX = 5_000, 16 * 1024 * 1024  # streams/routes_publishing.py


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    running = Worker(kafka.bootstrap, tmp_path_factory.mktemp("edge"), free_port(),
                     authority_codes=[A["authority_code"], B["authority_code"]]).start()
    yield running
    running.stop()


def post_batch(worker: Worker, body: bytes, token: str | None) -> tuple[int, object]:
    """(status, [result per line] for 200, else the JSON error body)."""
    headers = {"Content-Type": "application/x-ndjson", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(worker.url + "/events:batch", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.headers["Content-Type"].startswith("application/x-ndjson")
            return response.status, [json.loads(line) for line in response.read().splitlines()]
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def company(serial: int) -> dict:
    return {"id": make_uscc("350102", serial), "kind": "LEGAL_PERSON", "name": f"福州鼓楼边缘测试{serial}号有限公司"}


def registered(subject: dict, source: dict = A) -> dict:
    return {"type": "SubjectRegistered", "subject": subject, "source": source,
            "occurred_on": datetime.now(SHANGHAI).date().isoformat(),
            "payload": {"region_code": "350102", "registered_on": "2015-06-01"}}


def at_offsets(kafka, receipts) -> dict[tuple[int, int], str]:
    """The event id at each receipt's (partition, offset) in credit.events."""
    found = {}
    for partition in {r.partition for r in receipts}:
        offsets = sorted(r.offset for r in receipts if r.partition == partition)
        receipt_offsets = set(offsets)
        for offset, _, value, _ in ledger_reader.read_range(kafka.access(), topics.EVENTS, partition, offsets[0],
                                                            offsets[-1] + 1):
            if offset not in receipt_offsets:  # another writer's record between them (the timers', another test's)
                continue
            try:
                found[(partition, offset)] = decode_event(value)["event_id"]
            except CodecError:  # another test's poison
                pass
    return found


def test_the_sdk_keeps_its_receipts_and_its_idempotence_across_a_worker_restart(worker, kafka):
    events = demo_events(seed=61, subjects=12, start=date.today() - timedelta(days=200), days=199)
    for event in events[::2]:  # half without an id: the edge derives it from the content, the same each time
        del event["event_id"]
    admin = worker.tokens["admin"]
    with Publisher(worker.url, token=admin, batch_lines=40) as publisher:  # a few batches
        first = publisher.publish_many(events)
    assert first.ok, (first.invalid, first.failed)
    assert [r.event_id for r in first.delivered][1::2] == [e["event_id"] for e in events[1::2]]
    assert at_offsets(kafka, first.delivered) == {(r.partition, r.offset): r.event_id
                                                            for r in first.delivered}

    # the same events again, sent while the worker is down: the SDK retries until it is back
    worker.stop()
    second: list = []
    sending = threading.Thread(target=lambda: second.append(Publisher(worker.url, token=admin).publish_many(events)))
    sending.start()
    time.sleep(1.0)  # a few connections refused
    worker.start()
    sending.join(120)
    (again,) = second
    assert again.ok, (again.invalid, again.failed)
    assert [r.event_id for r in again.delivered] == [r.event_id for r in first.delivered]  # same ids, same kind
    assert all(r.offset > f.offset for r, f in zip(again.delivered, first.delivered) if r.partition == f.partition)
    assert at_offsets(kafka, again.delivered) == {(r.partition, r.offset): r.event_id
                                                            for r in again.delivered}

    # each event is in the log twice, and in its subject's file at most once: the files are what a clean
    # re-fold of the log makes them (which of the demo's events apply depends on when the timers fired
    # beside them, e.g. an overdue notice before a late fulfilment, so the re-fold is the answer)
    last = max(again.delivered, key=lambda r: r.offset)
    wait_for(lambda: int(worker.get("/readyz")[1]["applied_offsets"].get(str(last.partition), -1)) >= last.offset,
             60, what="the second copies folded")
    subjects = {r.subject_id for r in first.delivered}
    for subject_id in subjects:
        _, body = worker.get(f"/subjects/{subject_id}/history")
        applied = Counter(h["event"]["event_id"] for h in body["history"])
        assert max(applied.values()) == 1, f"{subject_id}: an event applied twice: {applied.most_common(1)}"
    wait_until_equal_to_refold(worker, kafka.bootstrap, subjects)


def test_a_publisher_token_publishes_only_its_own_lines_and_no_system_event(worker, kafka):
    marker = f"EDGE-{random.randrange(10**9)}"
    own, foreign = company(random.randint(10_000, 900_000)), company(random.randint(10_000, 900_000))
    system = {**registered(own), "type": "DisclosureOverdue",
              "payload": {"decision_no": f"{marker}-D", "decision_kind": "PENALTY", "due_on": "2026-01-05"}}
    lines = [registered(own), registered(foreign, B), {**registered(foreign), "payload": {"region_code": marker}},
             system, {**registered(own), "source": {**A, "system": TIMER_SYSTEM}}]
    texts = [json.dumps(line, ensure_ascii=False).encode() for line in lines] + [b"{" + marker.encode()]
    body = b"\n".join(texts[:-1]) + b"\n\n" + texts[-1] + b"\n"  # a blank line (skipped) and one that is no JSON
    status, results = post_batch(worker, body, worker.tokens["publishers"][A["authority_code"]])
    assert status == 200
    assert [(r["line"], r["status"]) for r in results] == [(1, 202), (2, 403), (3, 422), (4, 422), (5, 422),
                                                           (7, 400)]
    assert results[0]["subject_id"] == own["id"] and results[0]["partition"] >= 0 and results[0]["offset"] >= 0
    rules = [{e["rule"] for e in r.get("errors", [])} for r in results]
    assert rules[1] == {"publisher_authority"} and "required" in rules[2] and "system_type" in rules[3]
    assert "system_source" in rules[4] and rules[5] == {"json"}

    # every refused line is on credit.rejected with its reasons, known by the keyed digest of its bytes
    digests = {rejection_digest(deployment_pseudonym_key(), text) for text in texts[1:]}

    def refused():
        found = [decode_rejection(v) for *_, v, _ in ledger_reader.read_topic(kafka.access(), topics.REJECTED)]
        mine = [r for r in found if r.get("raw_digest") in digests]
        return mine if {r["raw_digest"] for r in mine} == digests else None
    mine = wait_for(refused, 30, what="the refused lines on credit.rejected")
    assert {e["rule"] for r in mine for e in r["reasons"]} >= {"publisher_authority", "required", "system_type",
                                                               "json"}

    # the SDK says the same, by position
    with Publisher(worker.url, token=worker.tokens["publishers"][A["authority_code"]]) as publisher:
        report = publisher.publish_many([registered(own), registered(foreign, B), system])
        with pytest.raises(InvalidEvent) as raised:
            publisher.publish(system)
    assert len(report.delivered) == 1 and report.statuses == {2: 403, 3: 422} and not report.failed
    assert report.rejected == [2, 3] and report.invalid[2][0].rule == "publisher_authority"
    assert raised.value.status == 422 and "system_type" in {p.rule for p in raised.value.problems}


def test_a_reused_event_id_with_other_content_is_a_conflict_409(worker):
    token = worker.tokens["publishers"][A["authority_code"]]
    subject = company(random.randint(10_000, 900_000))
    first = {**registered(subject), "event_id": str(uuid.uuid4())}
    other = {**first, "payload": {"region_code": "350103", "registered_on": "2015-06-01"}}
    with Publisher(worker.url, token=token) as publisher:
        receipt = publisher.publish(first)
        wait_for(lambda: worker.get(f"/subjects/{subject['id']}")[0] == 200, 30, what="the first event folded")
        again = publisher.publish(first)  # the same event again: accepted (the fold keeps it once)
        with pytest.raises(InvalidEvent) as raised:
            publisher.publish(other)
    assert again.event_id == receipt.event_id == first["event_id"]
    assert raised.value.status == 409 and [p.rule for p in raised.value.problems] == ["event_id_conflict"]
    assert f"offset {receipt.offset}" in raised.value.problems[0].message

    # two lines of one request with one id and other content: the second is the conflict
    fresh = {**registered(company(random.randint(10_000, 900_000))), "event_id": str(uuid.uuid4())}
    twin = {**fresh, "occurred_on": "2020-01-02"}
    status, results = post_batch(worker, b"\n".join(json.dumps(e, ensure_ascii=False).encode()
                                                    for e in (fresh, twin, fresh)), token)
    assert status == 200 and [r["status"] for r in results] == [202, 409, 202]
    assert results[1]["errors"][0]["rule"] == "event_id_conflict"
    # the subject's file holds the first event once, and nothing of the conflicting one
    _, body = worker.get(f"/subjects/{subject['id']}/history")
    assert [h["event"]["payload"]["region_code"] for h in body["history"]] == ["350102"]


def test_a_batch_beyond_its_limits_or_without_the_right_is_refused_whole(worker):
    admin = worker.tokens["admin"]
    line = json.dumps(registered(company(99)), ensure_ascii=False).encode()
    status, body = post_batch(worker, b"\n".join([line] * (BATCH_LINES_MAX + 1)), admin)
    assert status == 413 and body["errors"][0]["rule"] == "line_limit"
    assert "5,000 lines" in body["errors"][0]["message"] and "16 MiB" in body["errors"][0]["message"]
    status, body = post_batch(worker, b" " * (BATCH_BYTES_MAX + 1), admin)
    assert status == 413 and body["errors"][0]["rule"] == "size_limit" and "5,000 lines" in body["errors"][0]["message"]
    huge = json.dumps({**registered(company(98)), "payload": {"x": "y" * 300_000}}).encode()
    status, results = post_batch(worker, line + b"\n" + huge, admin)
    assert status == 200 and [r["status"] for r in results] == [202, 413]

    assert post_batch(worker, line, "x" * 43)[0] == 401
    status, body = post_batch(worker, line, worker.tokens["auditor"])
    assert status == 403 and "may not" in body["errors"][0]["message"]
    with pytest.raises(PublishError) as raised:
        Publisher(worker.url, token=worker.tokens["auditor"]).publish_many([registered(company(97))])
    assert raised.value.status == 403
