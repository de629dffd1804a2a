"""The worker's timers (streams/worker_loops.py) without a broker: each tick run once over a Worker whose
store was folded by the real LedgerProcessor and whose reader is an in-memory log of the same records
(tests/driver.MemoryTopics), the way tests/driver.py runs the fold loop. What each tick should publish or
set is worked out here independently: the Merkle roots by RFC 6962's recursion written out below, the lag
from the watermarks, the regraded scores from the policy's points by hand. The timers in a running worker
against a real broker: tests/integration/test_timers.py, test_http_and_rebuild.py (digests), test_grades.py."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter as CountOf
from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace

import pytest
from faust.exceptions import NotReady
from prometheus_client import REGISTRY

from projections.canonical import SHANGHAI
from projections.effects import GradeCounter
from projections.ids import make_uscc
from projections.policy import DEFAULT_POLICY, PolicyBook
from streams import fold_pool, topics, worker_loops
from streams.clock import Clock
from streams.codec import decode_digest, decode_event, decode_grade_changed, encode_event
from streams.fold_pool import FoldPool, PooledProcessor
from streams.ledger import LedgerProcessor
from streams.partitioner import partition_of
from streams.outputs import DeliveryError
from streams.pii import KeyStoreError
from streams.proofs import CATCH_UP_RECORDS_MAX
from streams.store import MemoryStore
from streams.timers import Timers
from streams.worker import Worker
from streams.worker_fold import _fold_batch, settle
from streams.worker_loops import (READY_CHECK_S, READY_POLL_S, Digests, check_ready_once, check_ready_when_due,
                                  deadlines_tick, publish_digests_once, regrade_on_new_policy_once,
                                  tombstone_stray_keys_once)
from tests.driver import MemoryTopics, RecordingProducer
from tests.unit import events as ev


class StoppedClock(Clock):
    """The ledger's clock standing at one instant."""

    def __init__(self, at: datetime):
        super().__init__()
        self.at = at

    def now(self) -> datetime:
        return self.at


class Assigned:
    """The ledger consumer's `assigned()`: the partitions this worker folds, moved by a test's rebalance."""

    def __init__(self, *partitions: int):
        self.partitions = frozenset(partitions)

    def assigned(self) -> frozenset[int]:
        return self.partitions


def worker_over(store: MemoryStore, log: MemoryTopics, now: datetime = ev.NOW, policies=DEFAULT_POLICY,
                processor=None, assigned: Assigned | None = None) -> Worker:
    def produce(topic: str, key: bytes, value: bytes) -> asyncio.Future:  # as EdgeProducer's: acknowledged at once
        delivery = asyncio.get_running_loop().create_future()
        delivery.set_result(log.append(topic, key, value))
        return delivery
    return Worker(settings=None, kafka=None, store=store, clock=StoppedClock(now),
                  policies=policies if isinstance(policies, PolicyBook) else PolicyBook((policies,)),
                  processor=processor, gate=None, key_store=None, pseudonym_key=ev.KEY,
                  ledger_consumer=assigned or Assigned(), outputs=RecordingProducer(),
                  events_producer=SimpleNamespace(produce=produce), reader=log)


def company(n: int) -> dict:
    return {"id": make_uscc("410105", 500 + n), "kind": "LEGAL_PERSON", "name": f"郑州测试{n}号有限公司"}


def logged(log: MemoryTopics, events: list[dict]) -> list[tuple]:
    """`events` appended to credit.events (each on its subject's partition), as the fold's records."""
    records = []
    for event in events:
        key = event["subject"]["id"].encode()
        partition, offset = log.append(topics.EVENTS, key, encode_event(event))
        records.append((partition, offset, key, log.logs[topics.EVENTS][partition][offset][1]))
    return records


def logged_and_folded(log: MemoryTopics, store: MemoryStore, events: list[dict], policy=DEFAULT_POLICY):
    """`events` appended to credit.events (each on its subject's partition) and folded into `store`."""
    records = logged(log, events)
    processor = LedgerProcessor(store, policy=PolicyBook((policy,)), grading_policy=lambda: policy)
    processor.commit(processor.process(records))
    return processor


def gauge(name: str, **labels) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


# --- the digests of the log ------------------------------------------------------------------------
def rfc6962_root(leaves: list[bytes]) -> bytes:
    """MTH(D[0:n]) of RFC 6962 section 2.1, written out: SHA-256 of nothing, of 0x00 || leaf, of 0x01 || the
    roots of the first 2^k leaves (the largest power of two below n) and of the rest."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:k]) + rfc6962_root(leaves[k:])).digest()


def leaf(offset: int, key: bytes | None, value: bytes | None) -> bytes:
    """A record framed as docs/events.md's digests say: offset (8 bytes), key and value after their lengths."""
    key, value = key or b"", value or b""
    return offset.to_bytes(8, "big") + len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value


def expected_digest(log: MemoryTopics, store: MemoryStore, partition: int) -> dict:
    records = log.logs[topics.EVENTS][partition]
    return {"topic": topics.EVENTS, "partition": partition, "offset": len(records) - 1,
            "root": store.log_root(partition), "tree_size": len(records), "tree_offset": len(records) - 1,
            "tree_root": rfc6962_root([leaf(o, k, v) for o, (k, v) in enumerate(records)]).hex()}


def run_digests(worker: Worker, digests: Digests, fail_with: Exception | None = None) -> list[dict]:
    sent: list[dict] = []

    async def send(key: bytes, value: bytes) -> None:
        if fail_with is not None:
            raise fail_with
        digest = decode_digest(value)
        assert key == str(digest["partition"]).encode()  # keyed by partition, as verify reads them
        sent.append({k: v for k, v in digest.items() if k != "at"})
    asyncio.run(publish_digests_once(worker, digests, send))
    return sent


def test_each_partition_folded_gets_its_log_root_and_merkle_root_once_until_it_moves():
    log, store = MemoryTopics(), MemoryStore()
    logged_and_folded(log, store, [ev.subject_registered(), ev.penalty_imposed("P-1")]
                      + [{**ev.subject_registered(), "subject": company(n)} for n in range(6)])
    worker, digests = worker_over(store, log), Digests()
    folded = sorted(store.applied_offsets())
    assert len(folded) >= 2  # the companies fall on more than one partition
    assert sorted(run_digests(worker, digests), key=lambda d: d["partition"]) == [
        expected_digest(log, store, p) for p in folded]
    assert run_digests(worker, digests) == []  # nothing moved: nothing published
    logged_and_folded(log, store, [ev.penalty_imposed("P-2")])  # the company's partition moves, no other
    assert run_digests(worker, digests) == [expected_digest(log, store, partition_of(ev.COMPANY, len(
        log.logs[topics.EVENTS])))]


class UnreadLog(MemoryTopics):
    """A log the worker's parts must not read records from (a read fails the test)."""

    def read_range(self, *args, **kwargs):
        raise AssertionError("the log was read")


def fold_in_the_loop(worker: Worker, records: list[tuple]) -> None:
    async def fold_and_settle():  # as fold_ledger: the batch folded, its outputs delivered, then written
        await _fold_batch(worker, records)
        await settle(worker)
    asyncio.run(fold_and_settle())


def test_the_fold_grows_the_trees_and_the_digests_read_nothing_of_the_log():
    log, store = UnreadLog(), MemoryStore()
    records = logged(log, [ev.subject_registered(), ev.penalty_imposed("P-1")]
                     + [{**ev.subject_registered(), "subject": company(n)} for n in range(6)])
    worker = worker_over(store, log, processor=LedgerProcessor(store, policy=PolicyBook((DEFAULT_POLICY,))))
    fold_in_the_loop(worker, records[:3])
    fold_in_the_loop(worker, records[3:])
    folded = sorted(store.applied_offsets())
    assert len(folded) >= 2 and worker.trees_catching_up == set()
    assert sorted(run_digests(worker, Digests()), key=lambda d: d["partition"]) == [
        expected_digest(log, store, p) for p in folded]


def test_the_fold_leaves_a_tree_alone_while_the_digests_timer_catches_it_up():
    log, store = MemoryTopics(), MemoryStore()
    records = logged(log, [ev.subject_registered(), ev.penalty_imposed("P-1")])
    worker = worker_over(store, log, processor=LedgerProcessor(store, policy=PolicyBook((DEFAULT_POLICY,))))
    (partition,) = {r[0] for r in records}
    worker.trees_catching_up.add(partition)
    fold_in_the_loop(worker, records)
    assert store.applied_offset(partition) == 1 and worker.tree(partition).size == 0
    worker.trees_catching_up.clear()
    assert run_digests(worker, Digests()) == [expected_digest(log, store, partition)]  # read from the log
    assert worker.tree(partition).size == 2


def test_a_tree_that_cannot_be_read_stays_and_catches_up_at_the_next_tick(caplog):
    log, store = MemoryTopics(), MemoryStore()
    logged_and_folded(log, store, [ev.subject_registered(), ev.penalty_imposed("P-1")])
    worker, digests = worker_over(store, log), Digests()
    (first,) = run_digests(worker, digests)
    logged_and_folded(log, store, [ev.penalty_imposed("P-2")])
    log.away = True
    with caplog.at_level(logging.WARNING):
        (stale,) = run_digests(worker, digests)
    assert "the Merkle tree stays at 2 records" in caplog.text
    # the log root moved on; the tree is the one it had
    assert (stale["offset"], stale["root"], stale["tree_size"], stale["tree_root"]) == (
        2, store.log_root(first["partition"]), 2, first["tree_root"])
    log.away = False
    assert run_digests(worker, digests) == [expected_digest(log, store, first["partition"])]


def test_a_digest_the_stopping_producer_refused_is_published_at_the_next_tick():
    log, store = MemoryTopics(), MemoryStore()
    logged_and_folded(log, store, [ev.subject_registered()])
    worker, digests = worker_over(store, log), Digests()
    assert run_digests(worker, digests, fail_with=NotReady()) == []
    (partition,) = store.applied_offsets()
    assert worker.tree(partition).published() is None and digests.published == {}
    assert run_digests(worker, digests) == [expected_digest(log, store, partition)]


def test_a_tick_extends_a_tree_by_at_most_its_bound():
    log, store = MemoryTopics(), MemoryStore()
    for offset in range(CATCH_UP_RECORDS_MAX + 1):
        log.append(topics.EVENTS, b"k", offset.to_bytes(4, "big"), partition=0)
    store.write({}, {0: CATCH_UP_RECORDS_MAX})  # folded up to the last (a store's offsets alone: no states)
    worker, digests = worker_over(store, log), Digests()
    (first,) = run_digests(worker, digests)
    assert (first["tree_size"], first["tree_offset"], first["offset"]) == (
        CATCH_UP_RECORDS_MAX, CATCH_UP_RECORDS_MAX - 1, CATCH_UP_RECORDS_MAX)
    (second,) = run_digests(worker, digests)
    assert second == expected_digest(log, store, 0)


# --- readiness and the lag gauges --------------------------------------------------------------------
def test_ready_once_every_partition_reaches_where_the_log_stood_at_the_first_look(caplog):
    log, store = MemoryTopics(), MemoryStore()
    for partition, count in ((0, 10), (1, 3)):
        for n in range(count):
            log.append(topics.EVENTS, b"k", b"v", partition=partition)
    store.write({}, {0: 4, 1: 2})
    assigned = Assigned(0, 1)
    worker = worker_over(store, log, assigned=assigned)
    asyncio.run(check_ready_once(worker))
    assert (worker.readiness.ready, worker.readiness.targets) == (False, {0: 10, 1: 3})
    # lag: the high watermark less the next offset to fold (10 - 5, 3 - 3)
    assert [gauge("credit_consumer_lag_messages", partition=p) for p in "01"] == [5, 0]
    assert [gauge("credit_applied_offset", partition=p) for p in "01"] == [4, 2]
    for _ in range(5):  # the log grows meanwhile: the target stays where it stood
        log.append(topics.EVENTS, b"k", b"v", partition=0)
    store.write({}, {0: 9})
    asyncio.run(check_ready_once(worker))
    assert worker.readiness.ready and worker.readiness.targets == {0: 10, 1: 3}
    assert gauge("credit_consumer_lag_messages", partition="0") == 15 - 10
    assigned.partitions = frozenset({1})  # partition 0 went to another worker: its gauges are not ours
    asyncio.run(check_ready_once(worker))
    assert gauge("credit_consumer_lag_messages", partition="0") is None and worker.readiness.ready
    log.away = True
    with caplog.at_level(logging.WARNING):
        asyncio.run(check_ready_once(worker))  # a broker away: no raise (a timer that raised stops the app)
    assert "cannot read the watermarks" in caplog.text and worker.readiness.ready


def test_an_unready_worker_looks_at_every_poll_a_ready_one_every_check_interval():
    log, store = MemoryTopics(), MemoryStore()
    log.append(topics.EVENTS, b"k", b"v", partition=0)
    worker = worker_over(store, log, assigned=Assigned(0))
    asyncio.run(check_ready_when_due(worker, 100.0))
    assert worker.readiness.targets == {0: 1} and not worker.readiness.ready
    store.write({}, {0: 0})
    asyncio.run(check_ready_when_due(worker, 100.0 + READY_POLL_S))  # not ready yet: the next poll looks
    assert worker.readiness.ready
    log.append(topics.EVENTS, b"k", b"v", partition=0)
    asyncio.run(check_ready_when_due(worker, 100.0 + READY_POLL_S + READY_CHECK_S / 2))  # ready: not yet again
    assert gauge("credit_consumer_lag_messages", partition="0") == 0
    asyncio.run(check_ready_when_due(worker, 100.0 + READY_POLL_S + READY_CHECK_S))
    assert gauge("credit_consumer_lag_messages", partition="0") == 1


def test_a_worker_with_no_partition_yet_is_not_ready_and_reads_nothing():
    log = MemoryTopics()
    log.away = True  # it would raise, were it read
    worker = worker_over(MemoryStore(), log)
    asyncio.run(check_ready_once(worker))
    assert (worker.readiness.ready, worker.readiness.targets) == (False, None)


# --- the regrade sweep --------------------------------------------------------------------------------
OLD = replace(DEFAULT_POLICY, version="2025.0", effective_from="2020-01-01")
NEW = replace(DEFAULT_POLICY, version="2025.6", effective_from="2025-06-01",
              penalty_points={severity: 2 * points for severity, points in DEFAULT_POLICY.penalty_points.items()})


def by_hand(policy, severities: list[str]) -> tuple[str, int]:
    """The grade of a company with these penalties on display, from the policy's numbers (no list, no rating)."""
    score = policy.start_score + sum(policy.penalty_points[severity] for severity in severities)
    return next((letter for letter in "ABC" if score >= policy.grade_thresholds[letter]), "D"), score


def penalised(severities: dict[int, list[str]]) -> list[dict]:
    """Company n registered, then penalised once for each of severities[n]."""
    events = []
    for n, kinds in severities.items():
        events.append({**ev.subject_registered(), "subject": company(n)})
        events += [{**ev.penalty_imposed(f"P-{n}-{i}", severity=kind), "subject": company(n)}
                   for i, kind in enumerate(kinds)]
    return events


def test_a_policy_taking_effect_regrades_every_subject_publishing_only_the_changes():
    severities = {0: [], 1: ["GENERAL"], 2: ["SERIOUS"], 3: ["GENERAL", "SEVERE"]}
    events = penalised(severities)
    log, store = MemoryTopics(), MemoryStore()
    processor = logged_and_folded(log, store, events, OLD)
    store.write({}, {}, meta={"graded_with": OLD.version})
    assert {n: store.grade(company(n)["id"])["score"] for n in severities} == {
        n: by_hand(OLD, kinds)[1] for n, kinds in severities.items()}
    worker = worker_over(store, log, policies=PolicyBook((OLD, NEW)), processor=processor)
    regraded_before = gauge("credit_regraded_subjects_total") or 0
    asyncio.run(regrade_on_new_policy_once(worker))  # not ready yet: the sweep waits
    assert store.meta("graded_with") == OLD.version and worker.outputs.produced == []
    worker.readiness.ready = True
    asyncio.run(regrade_on_new_policy_once(worker))
    assert store.meta("graded_with") == NEW.version
    assert {n: (store.grade(company(n)["id"])["letter"], store.grade(company(n)["id"])["score"])
            for n in severities} == {n: by_hand(NEW, kinds) for n, kinds in severities.items()}
    published = [decode_grade_changed(value) for _, value in worker.outputs.on(topics.GRADES)]
    assert sorted((c["subject_id"], c["to_score"]) for c in published) == sorted(
        (company(n)["id"], by_hand(NEW, kinds)[1]) for n, kinds in severities.items() if kinds)  # 0: unchanged
    assert gauge("credit_regrade_progress_ratio") == 1
    assert gauge("credit_regraded_subjects_total") - regraded_before == len(severities)
    asyncio.run(regrade_on_new_policy_once(worker))  # graded with it already: nothing again
    assert len(worker.outputs.on(topics.GRADES)) == len(published)


def test_the_sweep_first_writes_the_batches_the_fold_processes_hold(monkeypatch):
    """A batch handed to the fold processes and not merged yet is merged and written before the sweep grades
    from the store: else the sweep would grade a state without it, and the batch's grade, computed from the
    grade stored before the sweep, would then count the old letter out a second time."""
    monkeypatch.setattr(fold_pool, "PIPELINE_FROM_RECORDS", 1)  # every batch merged one later
    severities = {0: [], 1: ["GENERAL"], 2: ["SERIOUS"]}
    events = penalised(severities)
    log, store = MemoryTopics(), MemoryStore()
    logged_and_folded(log, store, events, OLD)
    store.write({}, {}, meta={"graded_with": OLD.version})
    book = PolicyBook((OLD, NEW))
    pool = FoldPool(2, book)
    try:
        worker = worker_over(store, log, policies=book)
        worker.processor = processor = PooledProcessor(store, pool, grading_policy=worker.policy_now)
        late = logged(log, [{**ev.penalty_imposed("P-1-late", severity="SERIOUS"), "subject": company(1)}])

        async def nothing() -> None:
            pass
        assert asyncio.run(processor.fold(late, nothing)) is None and processor.folding  # a child holds it
        worker.readiness.ready = True
        asyncio.run(regrade_on_new_policy_once(worker))
        assert not processor.folding and store.meta("graded_with") == NEW.version
        severities[1].append("SERIOUS")
        grades = {n: store.grade(company(n)["id"]) for n in severities}
        assert {n: (g["letter"], g["score"]) for n, g in grades.items()} == {
            n: by_hand(NEW, kinds) for n, kinds in severities.items()}
        assert {c.letter: count for c, count in store.counters(GradeCounter).items()} == dict(
            CountOf(g["letter"] for g in grades.values()))
    finally:
        pool.close()


# --- the deadlines and the stray keys -----------------------------------------------------------------
def test_a_deadline_due_fires_once_ready_and_the_gauges_follow_the_store():
    log, store = MemoryTopics(), MemoryStore()
    logged_and_folded(log, store, [ev.subject_registered(), ev.list_entered(
        "L-1", "2025-01-06", list_kind="OTHER_BLACKLIST", term_until="2025-07-05")])
    after_the_term = datetime(2025, 7, 10, 10, 0, tzinfo=SHANGHAI)
    worker = worker_over(store, log, now=after_the_term)
    timers = Timers(store, worker.policies, worker.clock, worker.send_event, partitions=lambda: None)
    held = len(log.logs[topics.EVENTS][0]) + sum(len(p) for p in log.logs[topics.EVENTS][1:])
    asyncio.run(deadlines_tick(worker, timers))  # not caught up: nothing fires, the gauges are set
    assert sum(len(p) for p in log.logs[topics.EVENTS]) == held
    assert gauge("credit_deadlines_pending", kind="LIST_TERM") == 1
    letter = store.grade(ev.COMPANY)["letter"]
    assert gauge("credit_grade_subjects", grade=letter) == 1
    worker.readiness.ready = True
    asyncio.run(deadlines_tick(worker, timers))
    fired = [decode_event(value) for partition in log.logs[topics.EVENTS] for _, value in partition][held:]
    assert [(e["type"], e["subject"]["id"], e["payload"]["entry_id"]) for e in fired] == [
        ("ListTermEnded", ev.COMPANY, "L-1")]


@pytest.mark.parametrize("failure", [DeliveryError("_MSG_TIMED_OUT: Local: Message timed out"), BufferError()])
def test_a_system_event_not_on_the_broker_ends_the_tick_and_fires_again(caplog, failure):
    log, store = MemoryTopics(), MemoryStore()
    logged_and_folded(log, store, [ev.subject_registered(), ev.list_entered(
        "L-1", "2025-01-06", list_kind="OTHER_BLACKLIST", term_until="2025-07-05")])
    worker = worker_over(store, log, now=datetime(2025, 7, 10, 10, 0, tzinfo=SHANGHAI))
    worker.readiness.ready = True

    async def failing(subject_id: str, value: bytes) -> asyncio.Future:
        if isinstance(failure, BufferError):
            raise failure  # the producer's queue full: raised by produce itself
        delivery = asyncio.get_running_loop().create_future()
        delivery.set_exception(failure)  # not acknowledged in time
        return delivery
    timers = Timers(store, worker.policies, worker.clock, failing, partitions=lambda: None)
    with caplog.at_level(logging.WARNING):
        asyncio.run(deadlines_tick(worker, timers))  # raised, it would stop the app
    assert "fire again" in caplog.text
    timers.in_flight.clear()  # as REFIRE_AFTER_S later
    timers.send = worker.send_event  # the broker back
    asyncio.run(deadlines_tick(worker, timers))
    fired = [decode_event(value) for partition in log.logs[topics.EVENTS] for _, value in partition]
    assert [e["type"] for e in fired if e["type"] == "ListTermEnded"] == ["ListTermEnded"]


class StrayKeys:
    """A key store's `tombstone_strays`: counts its calls, or raises what a broker away makes it raise."""

    def __init__(self, away: bool = False):
        self.away, self.calls = away, 0

    def tombstone_strays(self) -> int:
        self.calls += 1
        if self.away:
            raise KeyStoreError("credit.pii-keys cannot be read: no broker answered")
        return 0


def test_stray_keys_are_tombstoned_each_round_and_a_broker_away_only_warns(caplog):
    keys = StrayKeys()
    asyncio.run(tombstone_stray_keys_once(keys))
    asyncio.run(tombstone_stray_keys_once(None))  # sealing off: nothing to do
    assert keys.calls == 1
    away = StrayKeys(away=True)
    with caplog.at_level(logging.WARNING):
        asyncio.run(tombstone_stray_keys_once(away))
    assert away.calls == 1 and "key store: credit.pii-keys cannot be read" in caplog.text


def test_no_persons_data_in_what_the_sweep_publishes_nor_in_the_log(caplog):
    person = ev.person()
    penalty = ev.valid("PenaltyImposed", ev.penalty_payload(record_id="NP-1"), "2025-01-06", subject=person)
    log, store = MemoryTopics(), MemoryStore()
    processor = logged_and_folded(log, store, [penalty], OLD)
    store.write({}, {}, meta={"graded_with": OLD.version})
    worker = worker_over(store, log, policies=PolicyBook((OLD, NEW)), processor=processor)
    worker.readiness.ready = True
    with caplog.at_level(logging.DEBUG):
        asyncio.run(regrade_on_new_policy_once(worker))
    (value,) = [value for _, value in worker.outputs.on(topics.GRADES)]  # the person's grade moved
    assert decode_grade_changed(value)["subject_id"] == penalty["subject"]["id"]  # by pseudonym
    for secret in (person["id_number"], person["name"]):
        assert secret.encode() not in value and secret not in caplog.text


def test_a_sweep_whose_grade_changes_are_not_delivered_stops_the_worker_and_writes_nothing(monkeypatch):
    """An error of the sweep stops the worker as the fold's do; escaping the timer, it would crash the app
    (whose shutdown can hang) and leave it ready, with the chunk's memos kept though never written."""
    class Undelivered(RecordingProducer):
        async def delivered(self) -> None:
            raise DeliveryError("4 producers could not deliver the batch")
    log, store = MemoryTopics(), MemoryStore()
    processor = logged_and_folded(log, store, penalised({0: ["GENERAL"], 1: ["SERIOUS"]}), OLD)
    store.write({}, {}, meta={"graded_with": OLD.version})
    worker = worker_over(store, log, policies=PolicyBook((OLD, NEW)), processor=processor)
    worker.readiness.ready, worker.outputs = True, Undelivered()
    stopped: list[Exception] = []

    async def stop(_worker, error: Exception) -> None:  # instead of stop_worker's SIGTERM to this process
        stopped.append(error)
    monkeypatch.setattr(worker_loops, "stop_worker", stop)
    graded_before = {n: store.grade(company(n)["id"]) for n in (0, 1)}
    asyncio.run(regrade_on_new_policy_once(worker))  # returns: the timer's tick goes on
    assert [type(error) for error in stopped] == [DeliveryError]
    assert store.meta("graded_with") == OLD.version
    assert {n: store.grade(company(n)["id"]) for n in (0, 1)} == graded_before
    assert processor._graded == {} and processor._pending_known == {}  # nothing remembered of what was not written
