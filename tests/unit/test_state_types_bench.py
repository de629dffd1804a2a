"""The typed-state measurement (ops/state_types_bench.py, docs/performance.md "Typed state") runs on real
states and gives every number it promises; its timings are never asserted."""
from __future__ import annotations

import msgspec
import orjson
import pytest

from ops.state_types_bench import (GROUPS, MEASURES, VARIANTS, collect_states, forms, run, table,
                                   without_nulls)

# A measurement of ops/, not of the core: kept out of the mutation runs of projections/ (docs/mutation.md)
pytestmark = pytest.mark.slow


def test_a_tiny_run_gives_every_number():
    result = run(subjects=12, long_events=5, repeat=1)
    expected = {"load_avg_1m_before", "load_avg_1m_after"}
    for group in GROUPS:
        expected |= {f"{group}.states", f"{group}.stored_bytes"}
        for variant in VARIANTS:
            expected |= {f"{group}.{variant}.{measure}" for measure in MEASURES}
            if variant != "dict":
                expected |= {f"{group}.{variant}.{measure}_ratio" for measure in MEASURES}
    assert set(result) == expected
    assert result["long.states"] == 1 and result["mixed.states"] >= 12
    assert all(isinstance(value, (int, float)) for value in result.values())
    assert all(f"{group}: " in table(result) for group in GROUPS)


def test_each_typed_form_holds_the_same_state():
    states = collect_states(12, 5)["mixed"]
    made = forms(states)
    for state in states:
        stored = orjson.dumps(state, option=orjson.OPT_SORT_KEYS)
        for name in ("dataclass", "msgspec"):
            typed = made[name].decode(stored)
            assert type(typed).__name__ == "State"
            assert typed.subject.id == state["subject"]["id"]
            assert without_nulls(orjson.loads(made[name].encode(typed))) == without_nulls(state)


def test_a_state_of_another_shape_is_refused_by_the_structs():
    states = collect_states(12, 5)["mixed"]
    broken = orjson.dumps({**states[0], "chain": {"length": "twelve", "head": "0" * 64}})
    with pytest.raises(msgspec.ValidationError, match="chain.length"):
        forms(states)["msgspec"].decode(broken)


@pytest.mark.parametrize("field, values", [("subjects", (0, 12, 5)), ("long_events", (12, 0, 5)),
                                           ("repeat", (12, 5, 0))])
def test_sizes_out_of_bounds_are_refused_by_name(field, values):
    with pytest.raises(ValueError, match=f"^{field}: must be 1.."):
        run(*values)
