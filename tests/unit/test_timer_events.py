"""The worker's timers (streams/timers.py) fire every kind of deadline the pure core names, without a broker:
a memory store holding a folded state and its timer index, a fixed clock, and a send that keeps what it got."""
from __future__ import annotations

import asyncio
from datetime import datetime

from projections.deadlines import pending_deadlines
from projections.fold import APPLIED, fold
from projections.policy import DEFAULT_POLICY
from streams.codec import decode_event
from streams.store import MemoryStore, timer_key, timer_value
from streams.timers import Timers
from tests.unit import events as ev
from tests.unit.test_fold_rules import given


class FixedClock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def seconds_since(self, instant: str) -> float:
        return (self.moment - datetime.fromisoformat(instant)).total_seconds()


def fired(state: dict, now: str) -> list[dict]:
    """What the worker's timers publish for this one state at `now`, decoded."""
    store = MemoryStore()
    subject_id = state["subject"]["id"]
    store.write({subject_id: state}, {0: state["as_of"]["offset"]},
                index={timer_key(d): timer_value(d, 0) for d in pending_deadlines(state, DEFAULT_POLICY)})
    sent: list[tuple[str, bytes]] = []

    async def send(key: str, value: bytes):
        sent.append((key, value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    timers = Timers(store, DEFAULT_POLICY, FixedClock(datetime.fromisoformat(now)), send, partitions=lambda: None)
    assert asyncio.run(timers.fire_due()) == len(sent)
    assert {key for key, _ in sent} <= {subject_id}
    return [decode_event(value) for _, value in sent]


def test_the_workers_timers_fire_rating_expired_and_it_folds():
    state = given(ev.rating_assigned("G-1", "2024-01-02", level="D", valid_to="2024-12-31"))
    assert fired(state, "2024-12-31T23:59:59+08:00") == []
    (event,) = fired(state, "2025-01-01T00:00:00+08:00")
    assert event["type"] == "RatingExpired" and event["payload"] == {"rating_id": "G-1", "valid_to": "2024-12-31"}
    new, outcome = fold(state, event, state["as_of"]["offset"] + 1)
    assert outcome.kind == APPLIED and new["records"]["ratings"][ev.key_of("G-1")]["status"] == "EXPIRED"


def test_every_edge_refuses_a_publishers_system_event_rating_expired_among_them():
    import pytest
    from projections.catalogue import SYSTEM_TYPES
    from projections.validate import InvalidEvent, require_valid
    assert "RatingExpired" in SYSTEM_TYPES
    for type_ in sorted(SYSTEM_TYPES):
        raw = ev.event(type_, {"rating_id": "G-1", "valid_to": "2024-12-31"})
        with pytest.raises(InvalidEvent) as refused:
            require_valid(raw, ev.CTX)
        assert "system_type" in {p.rule for p in refused.value.problems}
