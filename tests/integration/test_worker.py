"""The Faust worker against the real broker: it folds what the SDK publishes, survives
poison bytes and a SIGKILL, and its state equals a clean re-fold of the log."""
from __future__ import annotations

import signal
from datetime import date, timedelta

from confluent_kafka import Producer

from ops.demo import demo_events
from ops.embedded_kafka import free_port
from projections.fold import credit_file
from streams import ledger_reader, topics
from streams.codec import decode_rejection
from streams.ledger import LedgerProcessor
from streams.sdk import Publisher
from streams.store import MemoryStore
from tests.helpers import Worker, wait_for

KEY = b"integration-test-pseudonym-key-0001"


def refold_log(bootstrap: str) -> MemoryStore:
    store = MemoryStore()
    processor = LedgerProcessor(store)
    records = [(p, o, k, v) for p, o, k, v, _ in ledger_reader.read_topic(bootstrap, topics.EVENTS)]
    processor.commit(processor.process(records))
    return store


def test_worker_folds_survives_poison_and_a_kill_and_equals_a_clean_refold(kafka, tmp_path):
    events = demo_events(seed=11, subjects=30, start=date.today() - timedelta(days=400), days=399)
    half = len(events) // 2
    worker = Worker(kafka.bootstrap, tmp_path / "worker", free_port()).start()
    try:
        check_fold_poison_and_kill(kafka, worker, events, half)
    finally:
        worker.stop()


def check_fold_poison_and_kill(kafka, worker, events, half):
    with Publisher(kafka.bootstrap, pseudonym_key=KEY) as publisher:
        first = publisher.publish_many(events[:half])
        assert first.ok, (first.invalid, first.failed)
        # poison: bytes that are no CreditEvent, on the subject's own partition key
        poison_key = first.delivered[0].subject_id.encode()
        producer = Producer({"bootstrap.servers": kafka.bootstrap, "partitioner": "murmur2_random"})
        poison = []
        producer.produce(topics.EVENTS, key=poison_key, value=b"\x00not avro at all",
                         on_delivery=lambda err, msg: poison.append((msg.partition(), msg.offset())))
        producer.flush(10)
        worker.stop(signal.SIGKILL)  # mid-stream, without any clean-up
        worker.start()
        second = publisher.publish_many(events[half:])
        assert second.ok
    receipts = first.delivered + second.delivered
    subject_ids = sorted({r.subject_id for r in receipts})
    expected = refold_log(kafka.bootstrap)
    for subject_id in subject_ids:
        want = credit_file(expected.get(subject_id))
        wait_for(lambda: worker.file(subject_id) == want, 60, what=f"{subject_id} folded like the clean re-fold")
    # the poison record went to credit.rejected with its partition and offset, and the worker kept going
    rejections = [decode_rejection(v) for *_, v, _ in ledger_reader.read_topic(kafka.bootstrap, topics.REJECTED)]
    assert any((r["partition"], r["offset"]) == poison[0] and r["reasons"][0]["rule"] == "avro" for r in rejections)


def test_worker_refolds_a_lost_store_from_the_log(kafka, tmp_path):
    # The consumer group has committed offsets, but the worker's data dir is new:
    # the gap between the empty store and the group's position is re-read from the log.
    events = demo_events(seed=12, subjects=12, start=date.today() - timedelta(days=200), days=199)
    port = free_port()
    worker = Worker(kafka.bootstrap, tmp_path / "a", port).start()
    try:
        with Publisher(kafka.bootstrap, pseudonym_key=KEY) as publisher:
            report = publisher.publish_many(events)
        subject_id = report.delivered[-1].subject_id
        wait_for(lambda: worker.file(subject_id), 60, what="first worker folded")
    finally:
        worker.stop()
    fresh = Worker(kafka.bootstrap, tmp_path / "b", port).start()
    try:
        expected = credit_file(refold_log(kafka.bootstrap).get(subject_id))
        assert fresh.file(subject_id) == expected  # ready means caught up, gap included
    finally:
        fresh.stop()
