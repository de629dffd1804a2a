"""The timer index's keys and values (streams/store.py) against the Deadline they stand for."""
from __future__ import annotations

from dataclasses import asdict, fields

import orjson

from projections.deadlines import Deadline
from streams.store import timer_key, timer_value

DEADLINE = Deadline("2026-12-09T00:00:00+08:00", "91420200MA4KXXXX0X", "OBJECTION", "HS-O-1", "2026-12-08", True)


def test_a_timer_value_holds_every_field_of_its_deadline_and_the_partition():
    value = orjson.loads(timer_value(DEADLINE, 3))
    assert value == {**asdict(DEADLINE), "partition": 3}
    assert set(value) == {f.name for f in fields(Deadline)} | {"partition"}  # a new field is not left out


def test_timer_keys_sort_in_firing_order():
    later = Deadline("2026-12-10T00:00:00+08:00", "0", "REPAIR", "R", "2026-12-09", False)
    assert timer_key(DEADLINE) < timer_key(later)
    assert timer_key(DEADLINE).decode().endswith("/91420200MA4KXXXX0X/OBJECTION/HS-O-1")
