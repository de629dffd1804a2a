"""The worker's fold loop, driven without a broker (tests/driver.py), ends where a replay of the same log does."""
from __future__ import annotations

import functools
from collections import Counter
from datetime import date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ops.demo import demo_events
from projections.canonical import SHANGHAI
from projections.deadlines import pending_deadlines
from projections.effects import DeadlineCounter, GradeCounter, TimelinessCounter
from projections.grading import grade
from projections.lists import active_entries
from projections.policy import DEFAULT_POLICY
from projections.replay import replay
from projections.validate import EdgeContext, require_valid
from streams import topics
from streams.codec import decode_event, decode_grade_changed, decode_rejection, encode_event
from streams.partitioner import partition_of
from streams.store import list_key, timer_key, timer_value
from tests.driver import drive
from tests.unit.test_effects import timeliness_recount

PARTITIONS = 3
KEY = b"unit-test-pseudonym-key-0123456789"
POISON = b"\x00not an event"


@functools.lru_cache(maxsize=1)
def demo_log() -> list[tuple[int, int, bytes, bytes]]:
    """The demo's stories, validated at 10:00 of their day, on PARTITIONS partitions by subject; on each
    partition also a poison record, a publisher's retry (a duplicate) and an event id reused (rejected)."""
    records, next_offset = [], dict.fromkeys(range(PARTITIONS), 0)

    def append(partition: int, key: bytes, value: bytes) -> None:
        records.append((partition, next_offset[partition], key, value))
        next_offset[partition] += 1
    for raw in demo_events(seed=3, subjects=24, start=date(2024, 1, 2), days=500):
        now = datetime.combine(date.fromisoformat(raw["occurred_on"]), time(10), SHANGHAI)
        event = require_valid(raw, EdgeContext(now=now, pseudonym_key=KEY))
        partition, key = partition_of(event["subject"]["id"], PARTITIONS), event["subject"]["id"].encode()
        append(partition, key, encode_event(event))
        if next_offset[partition] == 7:
            append(partition, b"poison", POISON)
        if next_offset[partition] == 20:
            append(partition, key, encode_event(event))
            other_day = (date.fromisoformat(event["occurred_on"]) - timedelta(days=1)).isoformat()
            append(partition, key, encode_event({**event, "occurred_on": other_day}))  # event_id_conflict
    return records


def replayed(records):
    """projections.replay of each partition's records (a subject's events all lie in its partition)."""
    states, history, rejected = {}, {}, 0
    for partition in {r[0] for r in records}:
        entries = [(offset, decode_event(value)) for p, offset, _, value in records if p == partition and value != POISON]
        result = replay(entries, policy=DEFAULT_POLICY)
        states.update(result.states)
        history.update(result.history)
        rejected += len(result.rejected)
    return states, history, rejected


def partition_of_subject(records) -> dict[str, int]:
    return {key.decode(): partition for partition, _, key, value in records if value != POISON}


def test_the_driven_fold_ends_where_a_replay_of_the_same_log_does():
    records = demo_log()
    driven = drive(records, policy=DEFAULT_POLICY, grading=DEFAULT_POLICY, take_max=50)
    assert driven.error is None
    store, states, (replay_states, history, rejected) = driven.store, driven.store.states, replayed(records)
    assert states == replay_states and store.histories == history
    assert len(states) > 20 and sum(len(h) for h in history.values()) > 200  # the demo's stories, not a few
    assert store.applied_offsets() == {p: max(o for q, o, _, _ in records if q == p) for p in range(PARTITIONS)}
    # every rejection published before its batch was committed, the poison records' too
    published = [decode_rejection(value) for _, value in driven.producer.on(topics.REJECTED)]
    assert len(published) == rejected + PARTITIONS and rejected > 0
    assert Counter(r["reasons"][0]["rule"] for r in published)["avro"] == PARTITIONS
    # the indexes and the counts are those of the replayed files
    partitions = partition_of_subject(records)
    deadlines = [d for s in states.values() for d in pending_deadlines(s, DEFAULT_POLICY)]
    assert {k: v for k, v in store.index.items() if k.startswith(b"t/")} == {
        timer_key(d): timer_value(d, partitions[d.subject_id]) for d in deadlines}
    assert {k for k in store.index if k.startswith(b"l/")} == {
        list_key(kind, s, entry_id) for s, state in states.items() for entry_id, kind in active_entries(state).items()}
    assert store.counters(DeadlineCounter) == {DeadlineCounter(k): n for k, n in Counter(d.kind for d in deadlines).items()}
    graded = {s: grade(state, DEFAULT_POLICY) for s, state in states.items() if history.get(s)}
    assert {s: (g["letter"], g["score"]) for s, g in store.grades.items()} == {
        s: (g["letter"], g["score"]) for s, g in graded.items()}
    assert store.counters(GradeCounter) == {GradeCounter(k): n for k, n in Counter(
        g["letter"] for g in graded.values()).items()}
    recount = sum((timeliness_recount(state) for state in states.values()), Counter())
    assert store.counters(TimelinessCounter) == {TimelinessCounter(a, o): n for (a, o), n in recount.items() if n}
    # each subject's last GradeChanged is its stored grade, and the dashboard saw every applied event
    last = {}
    for _, value in driven.producer.on(topics.GRADES):
        change = decode_grade_changed(value)
        last[change["subject_id"]] = change["to_letter"]
    assert last == {s: g["letter"] for s, g in store.grades.items()}
    changes = driven.producer.on(topics.GRADES)
    assert len(driven.dashboard.feed.grade_changes) == min(len(changes), driven.dashboard.feed.grade_changes.maxlen)
    assert driven.consumer.closed and max(driven.consumer.takes) <= 50


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 120), st.integers(0, 2))
def test_where_the_batches_end_changes_nothing_stored(take_max, redelivered):
    """A take of any size, and records delivered again (a rebalance), give the same store as one big take."""
    records = demo_log()[:400]
    again = [r for r in records if r[1] < redelivered * 5]  # the first offsets of each partition once more
    one = drive(records, policy=DEFAULT_POLICY, grading=DEFAULT_POLICY)
    many = drive(records + again, policy=DEFAULT_POLICY, grading=DEFAULT_POLICY, take_max=take_max)
    assert many.error is None
    for name in ("states", "histories", "index", "counts", "grades", "offsets", "roots"):
        assert getattr(many.store, name) == getattr(one.store, name), name
    def published(driven) -> list[dict]:  # what was published, but the instant of publication
        return [{k: v for k, v in decode_grade_changed(value).items() if k != "at"}
                for _, value in driven.producer.on(topics.GRADES)] + [
            decode_rejection(value)["offset"] for _, value in driven.producer.on(topics.REJECTED)]
    assert published(many) == published(one)
