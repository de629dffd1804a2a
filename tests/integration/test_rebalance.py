"""Two workers share the ledger's partitions; one is stopped and started again mid-stream, so
partitions move to the other and back. Afterwards, for every subject, the worker that folds its
partition now serves the same file as a single clean re-fold of the log."""
from __future__ import annotations

import signal
from datetime import date, timedelta

from ops.demo import demo_events
from ops.embedded_kafka import free_port
from projections.fold import credit_file
from streams.sdk import Publisher
from tests.helpers import Worker, folded_file, refold_log, wait_for

KEY = b"rebalance-test-pseudonym-key-000001"
PARTITIONS = 4  # the ledger's, as the tests' broker creates it


def test_a_worker_leaving_and_coming_back_ends_in_the_single_worker_state(kafka, tmp_path):
    events = demo_events(seed=41, subjects=200, start=date.today() - timedelta(days=300), days=299)
    third = len(events) // 3
    env = {"CREDIT_LEDGER_PSEUDONYM_KEY": KEY.decode()}
    first = Worker(kafka.bootstrap, tmp_path / "first", free_port(), env=env).start()
    second = Worker(kafka.bootstrap, tmp_path / "second", free_port(), env=env).start()
    try:
        with Publisher(first.url, token=first.tokens["admin"]) as publisher:  # the worker never stopped
            receipts = publisher.publish_many(events[:third]).delivered
            second.stop(signal.SIGKILL)  # its partitions go to the first worker after the session times out
            receipts += publisher.publish_many(events[third:2 * third]).delivered
            wait_for(lambda: len(first.get("/readyz")[1]["applied_offsets"]) == PARTITIONS, 90,
                     what="the first worker folding every partition")
            second.start()  # and some come back
            receipts += publisher.publish_many(events[2 * third:]).delivered
        assert len(receipts) == len(events)
        subjects = sorted({r.subject_id for r in receipts})

        def served(subject_id: str) -> dict | None:
            # the worker folding the subject's partition now is the one that has gone furthest in it
            files = [folded_file(f) for f in (first.file(subject_id), second.file(subject_id)) if f]
            return max(files, key=lambda f: f["as_of"]["offset"]) if files else None

        differing: list = []

        def all_equal() -> bool:
            expected = refold_log(kafka.bootstrap)
            differing[:] = [s for s in subjects if served(s) != credit_file(expected.get(s))][:3]
            return not differing
        wait_for(all_equal, 180, interval_s=2.0, what="both workers together equal a single clean re-fold")
        by_worker = [sum(1 for s in subjects if folded_file(w.file(s) or {}) == served(s)) for w in (first, second)]
        assert all(by_worker), by_worker  # both fold some of the subjects now
    finally:
        second.stop()
        first.stop()
