"""How many deadlines a timer tick fires (streams/timers.py): the earliest TIMERS_DUE_MAX due of the partitions
the worker folds, the rest once those are folded; deadlines another worker folds now hold no tick, however
many there are."""
from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from projections.deadlines import RATING, Deadline, pending_deadlines
from projections.policy import DEFAULT_POLICY
from streams.codec import decode_event
from streams.store import TIMER_SCAN_KEYS_MAX, TIMERS_DUE_MAX, MemoryStore, SubjectStore, timer_key, timer_value
from streams.timers import Timers
from tests.unit import events as ev
from tests.unit.test_fold_rules import given, given_subject
from tests.unit.test_timer_events import FixedClock

NOW = datetime.fromisoformat("2025-01-02T09:00:00+08:00")  # every rating below expired on 2024-12-31


@pytest.fixture(params=["memory", "rocksdb"])
def store(request, tmp_path):
    store = MemoryStore() if request.param == "memory" else SubjectStore(tmp_path / "store")
    yield store
    if request.param == "rocksdb":
        store.close()


def _rated(serial: int = 1, valid_to: str = "2024-12-31") -> dict:
    """A company rated until `valid_to`: one RATING deadline, due at NOW."""
    rating = ev.rating_assigned("G-1", "2024-01-02", valid_to=valid_to)
    if serial == 1:
        return given(rating)
    return given_subject({"id": ev.make_uscc("410105", serial), "kind": "LEGAL_PERSON", "name": f"郑州第{serial}公司"},
                         rating)


def _timers(store, sent: list[dict], partitions=lambda: None) -> Timers:
    async def send(key: str, value: bytes):
        sent.append(decode_event(value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done
    return Timers(store, DEFAULT_POLICY, FixedClock(NOW), send, partitions=partitions)


def test_a_tick_fires_the_earliest_due_and_the_rest_once_those_are_folded(store):
    states = [_rated(serial) for serial in range(100, 100 + TIMERS_DUE_MAX + 5)]
    deadlines = [d for state in states for d in pending_deadlines(state, DEFAULT_POLICY)]
    assert len(deadlines) == TIMERS_DUE_MAX + 5
    store.write({state["subject"]["id"]: state for state in states}, {0: TIMERS_DUE_MAX + 5},
                index={timer_key(d): timer_value(d, 0) for d in deadlines})
    sent: list[dict] = []
    timers = _timers(store, sent)

    assert asyncio.run(timers.fire_due()) == TIMERS_DUE_MAX
    first = {event["event_id"] for event in sent}
    assert len(first) == TIMERS_DUE_MAX
    # not folded yet: the window is full of what is in flight, and nothing more is published
    assert asyncio.run(timers.fire_due()) == 0
    # folded: the fold takes the fired deadlines out of the index, and the next tick fires the rest
    store.write({}, {}, index={timer_key(d): None for d in deadlines if d.event_id() in first})
    assert asyncio.run(timers.fire_due()) == 5
    assert {event["event_id"] for event in sent[TIMERS_DUE_MAX:]} == {d.event_id() for d in deadlines} - first


def test_deadlines_of_partitions_another_worker_folds_now_hold_no_tick(store):
    """After a rebalance the store keeps the partitions it gave up as they stood: their deadlines come due
    and are never this worker's to fire. However many come first, its own still fire, and an overdue one
    written before all of them too."""
    state = _rated()
    (own,) = pending_deadlines(state, DEFAULT_POLICY)
    others = [Deadline("2024-07-01T00:00:00+08:00", ev.make_uscc("410105", 9), RATING, f"other/G-{n:05d}", "2024-06-30",
                       False) for n in range(TIMER_SCAN_KEYS_MAX + 5)]  # more than a tick reads
    assert all(timer_key(other) < timer_key(own) for other in others)  # due first
    store.write({state["subject"]["id"]: state}, {0: state["as_of"]["offset"]},
                index={timer_key(own): timer_value(own, 0), **{timer_key(d): timer_value(d, 1) for d in others}})
    sent: list[dict] = []
    timers = _timers(store, sent, partitions=lambda: frozenset({0}))

    assert [asyncio.run(timers.fire_due()) for _ in range(3)] in ([0, 1, 0], [1, 0, 0])
    assert [event["event_id"] for event in sent] == [own.event_id()]
    # an overdue deadline of the worker's own, due before all the others: the next tick fires it
    late = _rated(7, valid_to="2024-03-31")
    (overdue,) = pending_deadlines(late, DEFAULT_POLICY)
    assert timer_key(overdue) < min(map(timer_key, others))
    store.write({late["subject"]["id"]: late}, {0: state["as_of"]["offset"] + 1},
                index={timer_key(overdue): timer_value(overdue, 0)})
    assert asyncio.run(timers.fire_due()) == 1
    assert sent[-1]["event_id"] == overdue.event_id()
    assert store.timers_due(NOW, 3, frozenset({1})) == [{**other.__dict__, "partition": 1} for other in sorted(others)][:3]


def test_a_worker_giving_up_partitions_does_not_read_the_stale_deadlines_again_one_gaining_them_does(store):
    """Where the last scan stopped still holds for fewer partitions: each stale deadline is read once. A
    partition gained makes its deadlines the worker's, so the scans start from the index's first key."""
    state = _rated()
    (own,) = pending_deadlines(state, DEFAULT_POLICY)
    others = [Deadline("2024-07-01T00:00:00+08:00", ev.make_uscc("410105", 9), RATING, f"other/G-{n:05d}", "2024-06-30",
                       False) for n in range(TIMER_SCAN_KEYS_MAX + 5)]  # more than a tick reads
    store.write({state["subject"]["id"]: state}, {0: state["as_of"]["offset"]},
                index={timer_key(own): timer_value(own, 0), **{timer_key(d): timer_value(d, 1) for d in others}})
    folded = {"partitions": frozenset({0, 2})}
    sent: list[dict] = []
    timers = _timers(store, sent, partitions=lambda: folded["partitions"])
    assert sum(asyncio.run(timers.fire_due()) for _ in range(2)) == 1  # past the stale ones, once
    store.write({}, {}, index={timer_key(own): None})  # folded

    # partition 2 given up; a deadline of the worker's own comes due after the stale ones: the first tick fires it
    folded["partitions"] = frozenset({0})
    later = _rated(8, valid_to="2025-01-01")
    (due,) = pending_deadlines(later, DEFAULT_POLICY)
    assert max(map(timer_key, [own, *others])) < timer_key(due)  # not overdue: written after where the scan stopped
    store.write({later["subject"]["id"]: later}, {0: state["as_of"]["offset"] + 1},
                index={timer_key(due): timer_value(due, 0)})
    assert asyncio.run(timers.fire_due()) == 1
    assert sent[-1]["event_id"] == due.event_id()

    # partition 1 gained: its deadlines are this worker's now, the earliest first
    folded["partitions"] = frozenset({0, 1})
    assert store.timers_due(NOW, 2, folded["partitions"]) == [{**d.__dict__, "partition": 1} for d in sorted(others)[:2]]


def test_the_oldest_unfired_deadline_is_of_the_partitions_the_worker_folds(store):
    """The gauge behind the "deadline unfired" alert: a given-up partition's deadlines are not this worker's
    to fire, and would set it off for ever."""
    from prometheus_client import REGISTRY
    state = _rated()
    (own,) = pending_deadlines(state, DEFAULT_POLICY)
    other = Deadline("2024-07-01T00:00:00+08:00", ev.make_uscc("410105", 9), RATING, "other/G-1", "2024-06-30", False)
    store.write({state["subject"]["id"]: state}, {0: state["as_of"]["offset"]},
                index={timer_key(own): timer_value(own, 0), timer_key(other): timer_value(other, 1)})
    for partitions, oldest in ((frozenset({0}), own), (None, other)):
        _timers(store, [], partitions=lambda: partitions).update_gauges()
        assert REGISTRY.get_sample_value("credit_deadline_unfired_seconds") == (
            NOW - datetime.fromisoformat(oldest.fires_at)).total_seconds()
