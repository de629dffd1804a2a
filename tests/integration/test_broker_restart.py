"""The broker restarts mid-stream (its own broker, not the session's): the SDK, through the worker's
edge, loses nothing (acks=all, idempotence, the edge's wait for the broker, the SDK's retries) and says
so in its report, the worker resumes on its own, and every published event is in the log and applied
once (an event the edge could not confirm in time is sent again: the log may hold it twice, the fold
takes it once).

It runs alone, after the other tests (`make test`): beside another test process on this 2-core
machine, librdkafka's producers (the SDK's, the worker's outputs) were seen to hold their records
after the restart until their delivery timeouts, in 2 of 4 full-suite runs on 2026-12-02 (one
publisher thread still waiting after 300 s; one worker that never folded again), and in none of
4 runs of this test alone beside a CPU burner. What holds them is not found yet.

That the outage met the publishing is shown, not assumed: every HTTP request the SDK makes is recorded
with the instants it was sent and answered, next to the instants the broker was down between (its JVM
gone, not yet started again). The last third of the events is published from the moment the broker is
down, by a stream of its own (the first may be held in a request the edge cannot confirm). Asserted:
requests were sent while the broker was down, none of them was confirmed (202) before it came back
(the edge cannot confirm a write no broker took), and requests were answered only after it came back.
Had the broker not gone away, the last third's requests would be confirmed within the 12 s it is kept
down, and the test fails (checked: with the broker left up, 13 of 20 requests fell in that window and
each was confirmed within it)."""
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
from tests.helpers import Worker, kafka_access, test_broker, wait_for, wait_until_equal_to_refold

DOWN_S = 12.0  # longer than the worker's 10 s watermark timeout: its readiness check meets the outage
ACCEPTED = 202


class RecordingPublisher(Publisher):
    """The SDK, with each of its HTTP requests (its first sending of a batch and every retry) recorded:
    {"sent_s", "answered_s" (None until answered; monotonic), "lines", "accepted" (answered 202), "error"}."""

    def __init__(self, *args, attempts: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.attempts = attempts

    def _post(self, body: bytes, lines: int) -> list[dict]:  # the SDK's one place that sends a request
        attempt = {"sent_s": time.monotonic(), "answered_s": None, "lines": lines, "accepted": 0, "error": None}
        self.attempts.append(attempt)
        try:
            results = super()._post(body, lines)
        except Exception as error:  # the SDK retries a 503 or a lost connection: recorded, passed on
            attempt["error"] = f"{error.__class__.__name__}: {error}"[:200]
            raise
        finally:
            attempt["answered_s"] = time.monotonic()
        attempt["accepted"] = sum(1 for result in results if result.get("status") == ACCEPTED)
        return results

pytestmark = pytest.mark.alone  # see above


def test_a_broker_restart_loses_nothing_and_the_worker_resumes(tmp_path):
    events = demo_events(seed=31, subjects=120, start=date.today() - timedelta(days=300), days=299)
    broker = test_broker(tmp_path / "kafka", port=free_port()).start()
    worker = None
    try:
        ensure_topics(broker.admin_access)
        worker = Worker(broker.bootstrap, tmp_path / "worker", free_port()).start()
        reports, attempts = [], []
        third = len(events) // 3
        broker_down = threading.Event()

        def publish(part: list[dict], after: threading.Event | None = None):
            if after is not None:
                after.wait(300)
            with RecordingPublisher(worker.url, token=worker.tokens["admin"], attempts=attempts) as publisher:
                for start in range(0, len(part), 50):  # a steady stream, not one burst
                    reports.append(publisher.publish_many(part[start:start + 50]))
                    time.sleep(0.05)
        # two thirds from the start; the last third from the moment the broker is down, whether or not a
        # request of the first stream is held then
        publishing = [threading.Thread(target=publish, args=(events[:2 * third],)),
                      threading.Thread(target=publish, args=(events[2 * third:], broker_down))]
        for thread in publishing:
            thread.start()
        wait_for(lambda: sum(len(r.delivered) for r in reports) >= third, 120, what="a third published")  # mid-stream
        broker.stop()
        down_from_s = time.monotonic()  # the broker's JVM has exited
        broker_down.set()
        wait_for(lambda: any(a["sent_s"] > down_from_s for a in attempts), 60, what="a request sent while the broker is down")
        time.sleep(DOWN_S)  # the outage itself
        down_until_s = time.monotonic()  # the broker starts again after this instant
        broker.start()
        for thread in publishing:
            thread.join(300)
            assert not thread.is_alive()

        # The outage met the publishing: requests were sent while the broker was down, and none of them was
        # confirmed (202) before it was back: the edge held them (or answered 503 and the SDK sent them again).
        sent_while_down = [a for a in attempts if down_from_s < a["sent_s"] < down_until_s]
        confirmed_while_down = [a for a in sent_while_down if a["answered_s"] < down_until_s and a["accepted"]]
        held = [a for a in attempts if a["sent_s"] < down_until_s and a["answered_s"] > down_until_s]
        refused = [a for a in attempts if a["error"] or a["accepted"] < a["lines"]]
        print(f"requests: {len(attempts)}; sent while the broker was down: {len(sent_while_down)}; answered only "
              f"after it came back: {len(held)} (sent {[round(a['sent_s'] - down_from_s, 1) for a in held]} s after "
              f"it went down); not every line accepted (sent again): {len(refused)} {[a['error'] for a in refused][:3]}")
        assert sent_while_down, [(a["sent_s"] - down_from_s, a["answered_s"] - down_from_s) for a in attempts]
        assert confirmed_while_down == [], [(a["sent_s"] - down_from_s, a["answered_s"] - down_from_s)
                                            for a in confirmed_while_down]
        assert held  # (those sent while it was down among them)

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
