"""The worker against the real broker: it folds what the SDK publishes through its edge, survives
poison bytes and a SIGKILL, and its state equals a clean re-fold of the log."""
from __future__ import annotations

import signal
import time
import urllib.request
from datetime import date, timedelta

from confluent_kafka import Producer

from ops.demo import demo_events
from ops.embedded_kafka import free_port
from streams import ledger_reader, topics
from streams.codec import decode_rejection
from streams.sdk import Publisher
from streams.rebuild import rebuild_from_log
from tests.helpers import Worker, wait_for, wait_until_equal_to_refold

TRICKLE_EVENTS = 4
TRICKLE_PAUSE_S = 0.5  # between two events: the takes in between come back empty
FOLLOW_WITHIN_S = 15.0  # the group's offsets follow the store's within this (a commit a second, on a loaded machine)


def test_worker_folds_survives_poison_and_a_kill_and_equals_a_clean_refold(kafka, tmp_path):
    events = demo_events(seed=11, subjects=300, start=date.today() - timedelta(days=400), days=399)  # ~2,200
    half = len(events) // 2
    worker = Worker(kafka.bootstrap, tmp_path / "worker", free_port()).start()
    try:
        check_fold_poison_and_kill(kafka, worker, events, half)
    finally:
        worker.stop()


def check_fold_poison_and_kill(kafka, worker, events, half):
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        first = publisher.publish_many(events[:half])
        assert first.ok, (first.invalid, first.failed)
        # poison: bytes that are no CreditEvent, on the subject's own partition key
        poison_key = first.delivered[0].subject_id.encode()
        producer = Producer(kafka.config(partitioner="murmur2_random"))
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
    wait_until_equal_to_refold(worker, kafka.bootstrap, subject_ids)
    # byte for byte: the digest over every stored state equals a clean re-fold's up to the same offsets
    def same_digest():
        _, live = worker.get("/state/digest")
        until = {int(p): o for p, o in live["applied_offsets"].items()}
        return rebuild_from_log(kafka.access("auditor"), until)[0].state_digest()["digest"] == live["digest"]
    wait_for(same_digest, 60, interval_s=1, what="the live state digest equals a clean re-fold's")
    # the poison record went to credit.rejected with its partition and offset, and the worker kept going
    rejections = [decode_rejection(v) for *_, v, _ in ledger_reader.read_topic(kafka.access(), topics.REJECTED)]
    assert any((r["partition"], r["offset"]) == poison[0] and r["reasons"][0]["rule"] == "avro" for r in rejections)


def published_and_folded(kafka, data_dir, port: int, seed: int) -> str:
    """A worker in `data_dir` folds a dozen companies' stories, then stops; returns one subject's id."""
    events = demo_events(seed=seed, subjects=12, start=date.today() - timedelta(days=200), days=199)
    worker = Worker(kafka.bootstrap, data_dir, port).start()
    try:
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            report = publisher.publish_many(events)
        subject_id = report.delivered[-1].subject_id
        wait_until_equal_to_refold(worker, kafka.bootstrap, [subject_id])
        stacks = worker.stacks()  # what an operator gets from `kill -USR1` when a worker stops moving
        assert "fold_ledger" in stacks and "Thread 0x" in stacks and worker.alive(), stacks[-2000:]
    finally:
        worker.stop()
    return subject_id


def test_worker_refolds_a_lost_store_from_the_log(kafka, tmp_path):
    # The consumer group has committed offsets, but the worker's data dir is new: the store is the
    # position, so the fresh worker folds the log from its start, not from the group's offsets.
    port = free_port()
    subject_id = published_and_folded(kafka, tmp_path / "a", port, seed=12)
    fresh = Worker(kafka.bootstrap, tmp_path / "b", port).start()
    try:
        assert fresh.file(subject_id) is not None  # ready means caught up from the log's start
        wait_until_equal_to_refold(fresh, kafka.bootstrap, [subject_id])
    finally:
        fresh.stop()


def test_a_restarted_worker_resumes_from_its_store_not_from_the_groups_offsets(kafka, tmp_path):
    # The group's committed offsets are rewound to the log's start while the worker is down (an
    # operator's reset, a lost __consumer_offsets): the worker still takes up each partition right
    # after the last offset its store folded, so nothing reaches the fold twice.
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    from streams.ledger_consumer import GROUP_ID

    port = free_port()
    subject_id = published_and_folded(kafka, tmp_path / "worker", port, seed=13)
    rewound = ConsumerGroupTopicPartitions(GROUP_ID, [TopicPartition(topics.EVENTS, p, 0) for p in
                                                      ledger_reader.watermarks(kafka.access(), topics.EVENTS)])
    admin = AdminClient(kafka.config())  # held: a collected client never answers
    for future in admin.alter_consumer_group_offsets([rewound]).values():
        future.result(30)
    worker = Worker(kafka.bootstrap, tmp_path / "worker", port).start()
    try:
        wait_until_equal_to_refold(worker, kafka.bootstrap, [subject_id])
        metrics = urllib.request.urlopen(worker.url + "/metrics", timeout=5).read().decode()
        redelivered = [line for line in metrics.splitlines() if line.startswith("credit_events_redelivered_total ")]
        assert redelivered == ["credit_events_redelivered_total 0.0"], redelivered

        def group_follows_the_store() -> bool:  # what kafka-consumer-groups shows operators
            applied = {int(p): o for p, o in worker.get("/readyz")[1]["applied_offsets"].items()}
            return ledger_reader.committed_offsets(kafka.access(), GROUP_ID, topics.EVENTS) == {
                p: o + 1 for p, o in applied.items()}
        wait_for(group_follows_the_store, 30, interval_s=0.5, what="the group's offsets follow the store's")
    finally:
        worker.stop()


def wait_until_the_group_follows_the_store(worker, bootstrap, within_s: float) -> None:
    """Until the group's committed offsets (what `kafka-consumer-groups --describe` reads) are the
    store's applied offsets + 1, on every partition the store holds."""
    from streams.ledger_consumer import GROUP_ID

    deadline = time.monotonic() + within_s
    while True:
        expected = {int(p): o + 1 for p, o in worker.get("/readyz")[1]["applied_offsets"].items()}
        committed = ledger_reader.committed_offsets(bootstrap, GROUP_ID, topics.EVENTS)
        found = {p: committed.get(p) for p in expected}
        if found == expected:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"the group's offsets {found} are not the store's + 1 {expected} "
                                 f"after {within_s} s")
        time.sleep(0.2)


def test_the_groups_offsets_follow_the_store_while_events_trickle_in(kafka, tmp_path):
    # A caught-up worker, events one at a time with pauses between: after each, the group's offsets
    # catch up with the store within a few seconds, though the takes since the event's came back empty.
    events = demo_events(seed=14, subjects=12, start=date.today() - timedelta(days=100), days=99)[:TRICKLE_EVENTS]
    worker = Worker(kafka.bootstrap, tmp_path / "worker", free_port()).start()
    try:
        wait_until_the_group_follows_the_store(worker, kafka.access(), FOLLOW_WITHIN_S)
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            for event in events:
                receipt = publisher.publish(event)
                wait_for(lambda: int(worker.get("/readyz")[1]["applied_offsets"].get(str(receipt.partition), -1))
                         >= receipt.offset, 30, interval_s=0.1, what=f"offset {receipt.offset} folded")
                time.sleep(TRICKLE_PAUSE_S)
                wait_until_the_group_follows_the_store(worker, kafka.access(), FOLLOW_WITHIN_S)
    finally:
        worker.stop()
