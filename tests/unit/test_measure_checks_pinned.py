"""The credit check at the point of action (projections/measure_checks.py), answers pinned whole: each
refusal's parameter, rule and words, the lengths at their limit and one past, a binding measure as the
worker answers it, and the access-log decision with every field."""
from __future__ import annotations

from datetime import date

import pytest

from projections import access, measure_checks as m
from projections.access import AccessDecision, Principal
from projections.fold import fold
from projections.ids import make_resident_id
from projections.policy import DEFAULT_POLICY
from projections.scopes import Scope
from projections.validate import Problem
from tests.unit import events as ev

HOUSING = "11410100497866853M"  # ev.HOUSING spelled out: 郑州市住房和城乡建设局
COMPANY, AUTHORITY = "91410105MADGK41F4E", "1141010087525218XA"
SUPERVISOR = Principal("sup", access.SUPERVISOR)
REQUIRED = Problem("authority", "required", "the implementing authority's unified social credit code")
NOT_USCC = Problem("authority", "uscc", "not a unified social credit code (GB 32100-2015)")
QUERY = {"authority": HOUSING, "purpose": "工程建设项目招标投标资格审查", "matter": "郑建招〔2025〕7号"}


def test_the_codes_spelled_out_are_the_test_events_codes():
    assert (ev.HOUSING, ev.COMPANY, ev.AUTHORITY) == (HOUSING, COMPANY, AUTHORITY)


def problems(**changes) -> list[Problem]:
    query = {k: v for k, v in {**QUERY, **changes}.items() if v is not None}
    request, found = m.check_request(query, SUPERVISOR)
    assert request is None
    return found


@pytest.mark.parametrize("changes, problem", [
    ({"authority": None}, REQUIRED), ({"authority": 11410100}, REQUIRED),
    ({"authority": "91440300192203821X"}, NOT_USCC),
    ({"purpose": " "}, Problem("purpose", "required", "say the purpose of the check (1 to 200 characters)")),
    ({"matter": None}, Problem("matter", "required", "say the matter of the check (1 to 100 characters)")),
    ({"purpose": "审" * 201}, Problem("purpose", "max_length", "1 to 200 printable characters")),
    ({"matter": "M" * 101}, Problem("matter", "max_length", "1 to 100 printable characters")),
    ({"matter": "投标人" + make_resident_id("410105", date(1985, 3, 14), 7)},
     Problem("matter", "personal_identifier", "no resident ID number: the check is logged")),
    ({"as_of_" + "x" * 45: "2025-01-01"}, Problem("as_of_" + "x" * 34, "unknown_field",
                                                   "the parameters are authority, purpose, matter")),
])
def test_each_refusal_whole(changes, problem):
    assert problems(**changes) == [problem]


def test_lengths_at_their_limit_are_taken():
    query = {**QUERY, "purpose": "审" * 200, "matter": "M" * 100}
    assert m.check_request(query, SUPERVISOR) == (query, [])


def test_a_publisher_asking_as_another_authority_is_told_whose_it_may_ask():
    housing = Principal("housing", access.PUBLISHER, HOUSING)
    assert m.check_request({**QUERY, "authority": AUTHORITY}, housing) == (None, [Problem(
        "authority", m.FORBIDDEN_RULE,
        f"publisher housing checks only the measures its own authority {HOUSING} implements")])


def blacklisted() -> dict:
    state = None
    events = [ev.subject_registered(), ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY",
                                                       measures=["BIDDING_BAN", "PUBLIC_NOTICE"])]
    for offset, event in enumerate(events):
        state, outcome = fold(state, event, offset)
        assert outcome.kind == "applied", outcome.reasons
    return state


def test_a_binding_measure_whole():
    assert m.binding_measures(blacklisted(), HOUSING, "2025-02-10", DEFAULT_POLICY) == [{
        "entry_id": "L-1", "list_kind": "SERIOUS_DISHONESTY", "entry_authority_code": AUTHORITY,
        "entered_on": "2025-01-06", "term_until": "2028-01-05", "measure": "BIDDING_BAN",
        "name": "限制参与工程建设项目招标投标", "kind": "PUNISHMENT", "basis": "失信企业协同监管和联合惩戒合作备忘录"}]


def test_the_decision_whole():
    scoped = Principal("zhengzhou", access.SUPERVISOR, scope=Scope(region_prefix="4101"))
    found = m.binding_measures(blacklisted(), HOUSING, "2025-02-10", DEFAULT_POLICY)
    assert m.decision(scoped, COMPANY, QUERY, found) == AccessDecision(
        "zhengzhou", "supervisor", None, COMPANY, "measure_check", True,
        f"信用审查 (credit check at the point of action) by authority {HOUSING}: purpose: 工程建设项目招标投标资格审查; "
        "matter: 郑建招〔2025〕7号; 1 measure(s) binding", ("L-1",), Scope(region_prefix="4101"))
