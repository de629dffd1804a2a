"""`make mutation SAMPLE=N` (ops/mutation_sample.py): a seeded, uniform sample of a module's mutants, and the
property tests' cap under mutation (tests/mutmut_compat.py)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.mutation_sample import main, mutant_names, sample
from tests.mutmut_compat import MUTATION_EXAMPLES_MAX, _fewer_examples

NAMES = [f"projections.fold.x_fold__mutmut_{i}" for i in range(1, 201)]


def test_a_sample_is_the_percent_asked_drawn_the_same_for_the_same_seed():
    five = sample(NAMES, 5, seed=34)
    assert len(five) == 10 and set(five) <= set(NAMES) and five == sorted(five)
    assert sample(NAMES, 5, seed=34) == five and sample(NAMES, 5, seed=35) != five
    assert sample(NAMES, 100, seed=1) == sorted(NAMES)
    assert len(sample(NAMES[:3], 1, seed=34)) == 1  # at least one
    with pytest.raises(AssertionError):
        sample(NAMES, 0, seed=34)


def test_a_sample_draws_every_mutant_alike():
    counts = dict.fromkeys(NAMES, 0)
    for seed in range(2000):
        for name in sample(NAMES, 5, seed):
            counts[name] += 1
    # each is drawn with probability 1/20: 100 times in 2,000 draws, give or take sqrt(95) ~ 10
    assert 50 < min(counts.values()) and max(counts.values()) < 150


def test_the_names_are_read_from_mutmuts_results(tmp_path):
    meta = tmp_path / "projections" / "fold.py.meta"
    meta.parent.mkdir()
    meta.write_text(json.dumps({"exit_code_by_key": {"b__mutmut_2": None, "a__mutmut_1": 1}}), encoding="utf-8")
    assert mutant_names("projections/fold.py", tmp_path) == ["a__mutmut_1", "b__mutmut_2"]


def test_a_percent_out_of_range_is_refused_before_anything_is_generated(capsys):
    for bad in ("0", "101", "-5"):
        with pytest.raises(SystemExit):
            main(["--percent", bad, "projections/fold.py"])
        assert "--percent: from more than 0 to 100" in capsys.readouterr().err


def test_a_property_test_runs_at_most_the_cap_under_mutation():
    runs = []

    @settings(max_examples=300, database=None)
    @given(st.integers())
    def many(number):
        runs.append(number)

    @settings(max_examples=5, database=None)
    @given(st.integers())
    def few(number):
        runs.append(number)

    _fewer_examples(many)
    many()
    assert len(runs) == MUTATION_EXAMPLES_MAX
    runs.clear()
    _fewer_examples(few)
    few()
    assert len(runs) == 5
    _fewer_examples(lambda: None)  # not a property test: left alone
