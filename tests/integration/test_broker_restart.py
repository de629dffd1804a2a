"""The broker restarts mid-stream (its own broker, not the session's): the SDK, through the worker's
edge, loses nothing (acks=all, idempotence, the edge's wait for the broker, the SDK's retries) and says
so in its report, the worker resumes on its own, and every published event is in the log and applied
once (an event the edge could not confirm in time is sent again: the log may hold it twice, the fold
takes it once).

It runs alone, after the other tests (`make test`): beside another test process on this 2-core
machine, librdkafka's producers (the SDK's, the worker's outputs) were seen to hold their records
after the restart until their delivery timeouts, in 2 of 4 full-suite runs on 2026-12-02 (one
publisher thread still waiting after 300 s; one worker that never folded again), and in none of
4 runs of this test alone beside a CPU burner. What holds them is not found yet."""
from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import date, timedelta

import pytest

from ops.demo import demo_events
from ops.embedded_kafka import free_port
from projections.deadlines import TIMER_SYSTEM
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_event
from streams.sdk import Publisher
from streams.topics import ensure_topics
from tests.helpers import Worker, kafka_access, test_broker, wait_until_equal_to_refold

DOWN_S = 12.0  # longer than the worker's 10 s watermark timeout: its readiness check meets the outage

pytestmark = pytest.mark.alone  # see above


def test_a_broker_restart_loses_nothing_and_the_worker_resumes(tmp_path):
    events = demo_events(seed=31, subjects=120, start=date.today() - timedelta(days=300), days=299)
    broker = test_broker(tmp_path / "kafka", port=free_port()).start(timeout_s=120)
    worker = None
    try:
        ensure_topics(broker.admin_access)
        worker = Worker(broker.bootstrap, tmp_path / "worker", free_port()).start()
        reports = []

        def publish():
            with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
                for start in range(0, len(events), 50):  # a steady stream, not one burst
                    reports.append(publisher.publish_many(events[start:start + 50]))
                    time.sleep(0.05)
        publishing = threading.Thread(target=publish)
        publishing.start()
        time.sleep(1.0)  # mid-stream
        broker.stop()
        time.sleep(DOWN_S)
        broker.start(timeout_s=120)
        publishing.join(300)
        assert not publishing.is_alive()

        delivered = [r for report in reports for r in report.delivered]
        failed = [f for report in reports for f in report.failed.values()]
        invalid = [i for report in reports for i in report.invalid.values()]
        assert invalid == [] and failed == [], (invalid[:3], failed[:3])  # nothing had to be given up
        assert len(delivered) == len(events)

        in_log, system_ids = Counter(), set()
        for *_, value, _ in ledger_reader.read_topic(kafka_access(broker.bootstrap), topics.EVENTS):
            try:
                event = decode_event(value)
            except CodecError:
                continue
            in_log[event["event_id"]] += 1
            if event["source"].get("system") == TIMER_SYSTEM:
                system_ids.add(event["event_id"])
        assert {r.event_id for r in delivered} <= set(in_log)  # nothing lost
        # Written twice only when sent twice: an event the edge answered 503 for (not confirmed within its
        # delivery timeout) and the SDK sent again, or a system event the timers published again across
        # the outage (not folded in time). Either way its id is the same, so the fold takes it once, which
        # the comparison with a clean re-fold below checks, history by history.
        print(f"written twice: {sum(1 for r in delivered if in_log[r.event_id] > 1)} published events, "
              f"{sum(1 for e in system_ids if in_log[e] > 1)} system events")
        subject_ids = sorted({r.subject_id for r in delivered})
        wait_until_equal_to_refold(worker, broker.bootstrap, subject_ids, 180)
        for subject_id in subject_ids:
            _, body = worker.get(f"/subjects/{subject_id}/history")
            applied = Counter(entry["event"]["event_id"] for entry in body["history"])
            assert max(applied.values()) == 1, f"{subject_id}: an event applied twice"
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
