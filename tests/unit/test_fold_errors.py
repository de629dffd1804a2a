"""What a reader sees of a bug: an internal error's reason cut at its limit, and the empty grade that says why
(projections/fold.py internal_error, shown_grade)."""
from __future__ import annotations

from projections.fold import ERROR_CHARS_MAX, internal_error, shown_grade
from projections.grading import grade
from projections.policy import DEFAULT_POLICY


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
