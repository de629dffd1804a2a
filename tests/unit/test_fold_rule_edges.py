"""The fold's rules on the paths the rule-by-rule tests (test_fold_rules.py) did not reach: a
commitment's breach repaired or ended, an objection two authorities hold under one id, a rating that
is not on file, an acceptance already overdue, a repair approved once its penalty was retracted.

Each pins the field, the rule and the words a department reads, as test_fold_rules.py's do.
"""
from __future__ import annotations

from tests.unit import events as ev
from tests.unit.test_fold_rules import applied, fulfilled_penalty, given, rejected_by
from tests.unit.test_ownership import CREDIT_OFFICE, OTHER, by

BREACHED = (ev.commitment_made("C-1", "2025-01-06"), ev.commitment_breached("C-1", "2025-02-03"))


def test_a_repaired_breach_is_not_repaired_again():
    state = given(*BREACHED, ev.repair_requested("R-1", "C-1", on="2025-05-03"),
                  ev.repair_decided("R-1", "C-1", on="2025-05-09"))
    rejected_by(state, ev.repair_requested("R-2", "C-1", on="2025-05-10"), "payload.record_id",
                rule="already_repaired", message="repaired on 2025-05-09")


def test_a_breach_whose_period_of_effect_ended_has_nothing_left_to_repair():
    ended = given(*BREACHED, ev.publicity_ended("C-1", on="2026-02-03"))
    rejected_by(ended, ev.repair_requested("R-1", "C-1", on="2026-02-04"), "payload.record_id",
                rule="not_on_display", message="its period of effect has ended: there is nothing left to repair")


def test_publicity_ends_only_for_a_breached_commitment():
    rejected_by(given(ev.commitment_made("C-1", "2025-01-06")), ev.publicity_ended("C-1"), "payload.record_id",
                rule="not_on_display", message="the commitment is OPEN")
    fulfilled = given(ev.commitment_made("C-1", "2025-01-06"), ev.commitment_fulfilled("C-1", "2025-01-31"))
    rejected_by(fulfilled, ev.publicity_ended("C-1"), "payload.record_id",
                rule="not_on_display", message="the commitment is FULFILLED")
    applied(given(*BREACHED), ev.publicity_ended("C-1", on="2026-02-03"))


def test_an_objection_two_other_authorities_hold_under_one_id_is_ambiguous():
    state = given(ev.penalty_imposed("P-1"), by(OTHER, ev.penalty_imposed("P-1", decision_no="A-1")),
                  ev.objection_filed("O-1", "P-1"), by(OTHER, ev.objection_filed("O-1", "P-1")))
    words = "O-1 names no record of this authority, and records of 1141010074945707X4, 1141010087525218XA"
    for act in (ev.objection_resolved, ev.objection_accepted):
        rejected_by(state, by(CREDIT_OFFICE, act("O-1", "P-1")), "payload.objection_id", rule="ambiguous_record",
                    message=words)
    applied(state, ev.objection_resolved("O-1", "P-1"))  # each authority still reaches its own


def test_a_rating_not_on_file_does_not_expire():
    rejected_by(given(), ev.rating_expired("G-404"), "payload.rating_id", rule="unknown_record",
                message="no rating 'G-404' in this credit file")


def test_an_acceptance_is_overdue_once():
    filed = given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1", "P-1"))
    overdue = given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1", "P-1"),
                    ev.processing_overdue("OBJECTION_ACCEPTANCE", "O-1", on="2025-01-07"))
    assert overdue["objections"] != filed["objections"]
    rejected_by(overdue, ev.processing_overdue("OBJECTION_ACCEPTANCE", "O-1", on="2025-01-08"), "payload.ref_id",
                rule="already_overdue", message="the objection's acceptance is overdue since 2025-01-06")


def test_a_repair_is_not_approved_once_its_penalty_was_retracted():
    requested = (*fulfilled_penalty(), ev.repair_requested("R-1", "P-1", "2025-01-06"),
                 ev.repair_accepted("R-1", "P-1", "2025-01-06"))
    retracted = given(*requested, ev.objection_filed("O-1", "P-1", "2025-01-07"),
                      ev.objection_resolved("O-1", "P-1", outcome="UPHELD_WITHDRAWN"))
    rejected_by(retracted, ev.repair_decided("R-1", "P-1", on="2025-01-09"), "payload.record_id",
                rule="record_retracted", message="penalty P-1 was retracted")
    # a rejection only closes the application, whatever became of the penalty
    file = applied(retracted, ev.repair_decided("R-1", "P-1", outcome="REJECTED", on="2025-01-09"))
    assert [(r["repair_id"], r["status"]) for r in file["pending"]["repairs"]] == []
