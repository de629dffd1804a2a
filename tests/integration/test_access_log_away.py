"""The broker stops mid-run (its own broker, not the session's): a real worker refuses every read it must log
with one clear 503 (JSON, rule `unavailable`, naming credit.access-log) instead of serving it unlogged, a
bare 5xx or a hang, and goes on serving the public's reads from its store; once the broker is back the
same read is served and logged. The same per route, without a broker: tests/unit/test_access_log_unavailable.py.

Run alone (`make test` runs the `alone` tests after the others), as tests/integration/test_broker_restart.py:
it stops and starts a broker of its own on this 2-core machine."""
from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from ops.demo import demo_events
from ops.embedded_kafka import free_port
from streams import ledger_reader, topics
from streams.codec import decode_access_record
from streams.gate import ACCESS_RECORD_SEND_TIMEOUT_MS
from streams.sdk import Publisher
from streams.topics import ensure_topics
from tests.helpers import Worker, http_json, kafka_access, test_broker, wait_for

pytestmark = pytest.mark.alone
# a bound on a hang, not a timing assert: the gate gives up after ACCESS_RECORD_SEND_TIMEOUT_MS
ANSWER_WITHIN_S = ACCESS_RECORD_SEND_TIMEOUT_MS / 1000 + 30


def read_as(worker: Worker, path: str, role: str | None) -> tuple[int, object]:
    return http_json(worker.url + path, token=worker.tokens[role] if role else None, timeout_s=ANSWER_WITHIN_S)


def history_reads(bootstrap: str, subject_id: str) -> int:
    return sum(1 for *_, value, _ in ledger_reader.read_topic(kafka_access(bootstrap, "auditor"), topics.ACCESS_LOG)
               if (record := decode_access_record(value))["subject_id"] == subject_id
               and record["endpoint"] == "GET /subjects/{id}/history")


def test_with_the_broker_stopped_a_logged_read_is_a_clear_503_and_a_public_read_is_served(tmp_path):
    events = demo_events(seed=30, subjects=12, start=date.today() - timedelta(days=60), days=59)
    broker = test_broker(tmp_path / "kafka", port=free_port()).start()
    worker = None
    try:
        ensure_topics(broker.admin_access)
        worker = Worker(broker.bootstrap, tmp_path / "worker", free_port()).start()
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            report = publisher.publish_many(events)
        assert report.ok, (report.invalid, report.failed)
        subject_id = report.delivered[-1].subject_id
        wait_for(lambda: worker.file(subject_id), 120, what="the subject's file folded")
        path = f"/subjects/{subject_id}/history"
        assert read_as(worker, path, "auditor")[0] == 200  # logged, with the broker up
        assert history_reads(broker.bootstrap, subject_id) == 1

        broker.stop()  # its JVM has exited
        started_s = time.monotonic()
        status, body = read_as(worker, path, "auditor")
        took_s = time.monotonic() - started_s
        print(f"GET {{history}} with the broker stopped: {status} after {took_s:.1f} s: {body}")
        assert status == 503, body
        (error,) = body["errors"]
        assert error["rule"] == "unavailable" and f"{topics.ACCESS_LOG} cannot be written" in error["message"]
        assert subject_id not in str(body)
        status, body = read_as(worker, f"/subjects/{subject_id}", None)  # the public's read: not logged
        assert status == 200 and body["subject"]["id"] == subject_id
        assert worker.alive()

        broker.start()
        served = wait_for(lambda: read_as(worker, path, "auditor")[0] == 200, 180, interval_s=2.0,
                          what="the logged read served again once the broker is back")
        assert served
        # the served read is on the log; the refused one's record may be too, had it waited in the producer
        logged = history_reads(broker.bootstrap, subject_id)
        print(f"history reads on {topics.ACCESS_LOG} after the restart: {logged} (1 before the stop, "
              f"1 refused while it was stopped, >= 1 served after)")
        assert logged >= 2
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
