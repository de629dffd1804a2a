"""What a reader sees of a bug: an internal error's reason cut at its limit, and the empty grade that says why
(projections/fold.py internal_error, shown_grade), and a credit file whose parts cannot be computed."""
from __future__ import annotations

import copy

from projections.fold import ERROR_CHARS_MAX, credit_file, internal_error, shown_grade
from projections.grading import grade
from projections.policy import DEFAULT_POLICY
from tests.unit import events as ev
from tests.unit.test_fold_rules import given


def test_an_internal_error_names_its_class_and_is_cut_after_300_characters():
    assert ERROR_CHARS_MAX == 300
    fits = ValueError("x" * (300 - len("ValueError: ")))  # 300 characters whole
    assert internal_error(fits).as_dict() == {"field": "$", "rule": "internal_error",
                                              "message": "ValueError: " + "x" * 288}
    longer = KeyError("y" * 400)
    assert internal_error(longer).message == ("KeyError: '" + "y" * 400)[:300] + "…"
    assert len(internal_error(longer).message) == 301


def test_a_grade_that_cannot_be_computed_is_shown_empty_with_why():
    try:
        grade({}, DEFAULT_POLICY)
    except Exception as error:  # noqa: BLE001 - the stored state here is broken on purpose
        why = f"{type(error).__name__}: {error}"
    assert shown_grade({}, DEFAULT_POLICY) == {
        "letter": None, "score": None, "policy_version": "2024.1", "reasons": [],
        "unshown": [{"part": "grade", "why": why}]}


def test_a_credit_file_whose_parts_raise_shows_the_rest_and_names_each_part():
    state = given(ev.penalty_imposed("P-1"), ev.list_entered("L-1"))
    whole = credit_file(state)
    broken = copy.deepcopy(state)
    del broken["subject"]["kind"]  # the subject's kinds and its deadlines read it
    next(iter(broken["records"]["penalties"].values()))["severity"] = "BOGUS"  # grading reads it
    entry_key = next(iter(broken["records"]["lists"]))  # the list entry is kept under authority/entry_id
    broken["records"]["lists"][entry_key]["measures"] = None
    file = credit_file(broken)
    assert file["unshown"] == [
        {"part": "subject.kinds", "why": "KeyError: 'kind'"},
        {"part": "grade", "why": "KeyError: 'BOGUS'"},
        {"part": f"records.lists.{entry_key}.measure_details", "why": "TypeError: 'NoneType' object is not iterable"},
        {"part": "pending.deadlines", "why": "KeyError: 'kind'"},
    ]
    assert file["subject"] == broken["subject"]
    assert file["grade"] == {"letter": None, "score": None, "policy_version": "2024.1", "reasons": []}
    assert file["pending"]["deadlines"] == [] != whole["pending"]["deadlines"]
    assert file["records"]["lists"][0]["measure_details"] == [] != whole["records"]["lists"][0]["measure_details"]
    unchanged = ("decisions", "grants", "inspections", "events_by_type", "events_total", "rejected", "chain", "as_of")
    assert {key: file[key] for key in unchanged} == {key: whole[key] for key in unchanged}
    assert "unshown" not in whole
