"""POST /events, /subjects/{id}/history and `credit-ledger rebuild` against a live worker."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from ops.demo import demo_events
from ops.embedded_kafka import free_port
from projections.canonical import GENESIS_HEAD, chain_link, log_link
from projections.catalogue import LIST_KINDS
from projections.effects import COUNTER_TYPES
from projections.ids import make_uscc
from streams import ledger_reader, topics
from streams.codec import decode_digest
from streams.rebuild import RebuiltStore, rebuild_from_log
from streams.sdk import Publisher
from tests.helpers import Worker, cli, http_json, wait_for



@pytest.fixture()
def worker(kafka, tmp_path):
    running = Worker(kafka.bootstrap, tmp_path / "worker", free_port()).start()
    yield running
    running.stop()


def test_post_events_validates_publishes_and_the_history_chains(worker, kafka):
    admin = worker.tokens["admin"]
    company = make_uscc("420202", 77)
    source = {"authority_code": make_uscc("420200", 5, "1", "1"), "authority_name": "黄石市生态环境局"}
    event = {"type": "SubjectRegistered", "subject": {"id": company, "kind": "LEGAL_PERSON", "name": "黄石港环保科技有限公司"},
             "source": source, "occurred_on": "2015-06-01", "payload": {"region_code": "420202", "registered_on": "2015-06-01"}}
    status, body = http_json(worker.url + "/events", json.dumps(event, ensure_ascii=False).encode(), token=admin)
    assert status == 202 and body["subject_id"] == company and body["offset"] >= 0
    status, body = http_json(worker.url + "/events", b"{nope", token=admin)
    assert status == 400 and body["errors"][0]["rule"] == "json"
    bad = dict(event, occurred_on="2015-02-29", type="SubjectRegistered")
    bad["payload"] = {}
    status, body = http_json(worker.url + "/events", json.dumps(bad).encode(), token=admin)
    assert status == 422
    assert {(e["field"], e["rule"]) for e in body["errors"]} >= {("occurred_on", "date"),
                                                               ("payload.region_code", "required")}
    history = wait_for(lambda: (lambda s, b: b if s == 200 else None)(
        *worker.get(f"/subjects/{company}/history")), 30, what="history")["history"]
    assert [h["event"]["type"] for h in history] == ["SubjectRegistered"]
    assert history[0]["chain_hash"] == chain_link(GENESIS_HEAD, history[0]["event"])


def test_rebuild_equals_the_live_state(worker, kafka):
    admin = worker.tokens["admin"]
    events = demo_events(seed=21, subjects=20, start=date.today() - timedelta(days=300), days=299)
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        report = publisher.publish_many(events)
    last = report.delivered[-1]
    wait_for(lambda: (worker.file(last.subject_id) or {}).get("as_of", {}).get("offset", -1) >= last.offset, 60,
             what="worker caught up")
    done = cli("rebuild", "--verify", "--kafka", kafka.bootstrap, "--web-url", worker.url,
               env={"CREDIT_LEDGER_TOKEN": admin})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "equal" in done.stdout and "records/s" in done.stdout
    # the comparison needs an auditor's (or admin's) token; --verify says so instead of only rebuilding
    refused = cli("rebuild", "--verify", "--kafka", kafka.bootstrap, "--web-url", worker.url,
                  env={"CREDIT_LEDGER_TOKEN": worker.tokens["supervisor"]})
    assert refused.returncode == 2 and "403" in refused.stderr


def test_a_rebuild_folds_partitions_side_by_side_into_the_same_store(worker, kafka):
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        assert publisher.publish_many(demo_events(seed=23, subjects=40, start=date.today() - timedelta(days=200),
                                                  days=199)).ok
    alone, records = rebuild_from_log(kafka.access("auditor"))
    until = alone.applied_offsets()  # the worker's timers may append meanwhile
    assert len(until) > 1 and records > 0
    side_by_side, records_too = rebuild_from_log(kafka.access("auditor"), until, parallel_min_records=0)
    try:
        assert records_too == records
        assert isinstance(side_by_side, RebuiltStore)  # on disk, the children's table files ingested
        assert len(alone.states) > 40
        assert read_back(side_by_side, until) == read_back(alone, until)
        assert side_by_side.state_digest() == alone.state_digest()
    finally:
        side_by_side.close()


def read_back(store, offsets: dict[int, int]) -> dict:
    """Everything a reader of `store` is told: states, histories, grades, offsets and log roots, the
    timer and list indexes, the counters."""
    subject_ids = store.subject_ids_after("", 10**6)
    return {"subjects": {s: (store.get(s), store.history(s), store.grade(s)) for s in subject_ids},
            "offsets": store.applied_offsets(), "roots": {p: store.log_root(p) for p in offsets},
            "timers": store.timers_due(datetime(9999, 1, 1, tzinfo=timezone.utc), 10**6),
            "lists": {kind: store.list_members(kind, limit=10**6) for kind in LIST_KINDS},
            "counters": {t: {c: n for c, n in store.counters(t).items() if n} for t in COUNTER_TYPES}}


def test_published_partition_digests_match_the_log(worker, kafka):
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        report = publisher.publish_many(demo_events(seed=22, subjects=12, start=date.today() - timedelta(days=100),
                                                    days=99))
    partition, offset = report.delivered[-1].partition, report.delivered[-1].offset

    def newest_digest():
        digests = [decode_digest(v) for *_, v, _ in ledger_reader.read_topic(kafka.access(), topics.DIGESTS)]
        mine = [d for d in digests if d["partition"] == partition and d["offset"] >= offset]
        return mine[-1] if mine else None

    digest = wait_for(newest_digest, 60, interval_s=1, what="a digest covering the last event")
    root = GENESIS_HEAD
    for off, key, value, _ in ledger_reader.read_range(kafka.access(), topics.EVENTS, partition, 0, digest["offset"] + 1):
        root = log_link(root, off, key, value)
    assert digest["root"] == root and digest["topic"] == topics.EVENTS
