"""Subject kinds per the Civil Code, derived from the USCC (GB 32100-2015): issue 29 R7."""
from __future__ import annotations

import pytest
from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st

from projections.fold import credit_file
from projections.ids import USCC_CATEGORIES, make_uscc
from projections.lists import active_entries, public_entry
from projections.replay import log_context
from projections.subject_kinds import (CIVIL_CODE_KINDS, FOR_PROFIT, NON_PROFIT, SPECIAL, UNINCORPORATED, WIRE_KIND,
                                       category, civil_code_kind, kind_problem)
from projections.validate import validate_event
from tests.unit import events as ev
from tests.unit.test_fold_rules import given_subject, of_subject

WIRE = ("LEGAL_PERSON", "OTHER_ORGANIZATION", "INDIVIDUAL_BUSINESS")


@pytest.mark.parametrize("authority, kind_code, claimed, civil, register", [
    ("1", "1", "LEGAL_PERSON", SPECIAL, "ORGAN"),  # 机关法人
    ("1", "2", "LEGAL_PERSON", NON_PROFIT, "PUBLIC_INSTITUTION"),  # 事业单位
    ("5", "1", "LEGAL_PERSON", NON_PROFIT, "SOCIAL_ORGANIZATION"),  # 社会团体
    ("5", "3", "LEGAL_PERSON", NON_PROFIT, "SOCIAL_ORGANIZATION"),  # 基金会
    ("9", "1", "LEGAL_PERSON", FOR_PROFIT, "ENTERPRISE"),  # 公司
    ("9", "1", "OTHER_ORGANIZATION", UNINCORPORATED, "ENTERPRISE"),  # 分公司, 合伙企业, 个人独资企业
    ("9", "2", "INDIVIDUAL_BUSINESS", "INDIVIDUAL_BUSINESS", "INDIVIDUAL_BUSINESS"),
    ("9", "3", "LEGAL_PERSON", SPECIAL, "FARMER_COOPERATIVE"),  # 城镇农村的合作经济组织法人
    ("N", "2", "LEGAL_PERSON", SPECIAL, "RURAL_COLLECTIVE"),  # 农村集体经济组织法人
])
def test_the_civil_code_kind_follows_the_codes_first_two_characters(authority, kind_code, claimed, civil, register):
    subject = {"id": make_uscc("410105", 7, authority, kind_code), "kind": claimed}
    assert (civil_code_kind(subject), category(subject)) == (civil, register)
    assert kind_problem(claimed, subject["id"]) is None


@pytest.mark.parametrize("authority, kind_code, claimed", [
    ("1", "2", "OTHER_ORGANIZATION"), ("5", "1", "OTHER_ORGANIZATION"), ("5", "3", "OTHER_ORGANIZATION"),
    ("1", "1", "OTHER_ORGANIZATION"), ("9", "3", "OTHER_ORGANIZATION"), ("9", "1", "INDIVIDUAL_BUSINESS"),
    ("9", "2", "LEGAL_PERSON"),
])
def test_a_claimed_kind_that_contradicts_the_code_is_rejected_at_the_edge(authority, kind_code, claimed):
    raw = ev.event(subject={"id": make_uscc("410105", 7, authority, kind_code), "kind": claimed, "name": "某单位"})
    event, problems = validate_event(raw, ev.CTX)
    assert event is None and ("subject.kind", "kind_contradicts_code") in {(p.field, p.rule) for p in problems}
    # a record already in the log reads as it was written: the log is not judged anew
    stamped = {**raw, "recorded_at": "2025-06-30T10:00:00+08:00"}
    assert validate_event(stamped, log_context(stamped))[1] == []


@settings(max_examples=200, deadline=None)
@hypothesis_given(st.sampled_from(sorted((a, c) for a, cs in USCC_CATEGORIES.items() for c in cs)),
                  st.integers(0, 10**6), st.sampled_from(WIRE))
def test_the_edge_accepts_exactly_the_kinds_the_code_admits(code_category, serial, claimed):
    code = make_uscc("410105", serial, *code_category)
    raw = ev.event(subject={"id": code, "kind": claimed, "name": "某单位"})
    _, problems = validate_event(raw, ev.CTX)
    contradicts = "kind_contradicts_code" in {p.rule for p in problems}
    assert contradicts == (kind_problem(claimed, code) is not None)
    derived = civil_code_kind({"id": code, "kind": claimed})
    assert derived is None or (derived in CIVIL_CODE_KINDS and WIRE_KIND[derived] == claimed)


def test_the_credit_file_and_the_lists_show_the_derived_kind():
    cooperative = {"id": make_uscc("410105", 3, "9", "3"), "kind": "LEGAL_PERSON", "name": "郑州绿源农民专业合作社"}
    state = given_subject(cooperative, *of_subject(cooperative, ev.list_entered("L-1", "2024-01-08")))
    file = credit_file(state)
    assert (file["subject"]["category"], file["subject"]["civil_code_kind"]) == ("FARMER_COOPERATIVE", SPECIAL)
    (entry_key,) = active_entries(state)
    shown = public_entry(state, entry_key)
    assert (shown["subject_kind"], shown["civil_code_kind"], shown["category"]) == (
        "LEGAL_PERSON", SPECIAL, "FARMER_COOPERATIVE")


def test_the_report_names_the_civil_code_kind():
    from streams.report import _subject_kind
    assert _subject_kind({"kind": "LEGAL_PERSON", "civil_code_kind": NON_PROFIT, "category": "PUBLIC_INSTITUTION"}) \
        == "非营利法人（事业单位）"
    assert _subject_kind({"kind": "OTHER_ORGANIZATION"}) == "非法人组织"  # a file stored before: as sent


def test_a_natural_person_is_a_natural_person_whatever_its_pseudonym_begins_with():
    for pseudonym_id in ("np-" + "a" * 40, "91" + "0" * 16, "92" + "0" * 16):  # by its kind, never by its id
        subject = {"id": pseudonym_id, "kind": "NATURAL_PERSON"}
        assert (civil_code_kind(subject), category(subject)) == ("NATURAL_PERSON", "NATURAL_PERSON")
        assert kind_problem("NATURAL_PERSON", pseudonym_id) is None


def test_a_contradiction_names_the_category_the_kinds_it_admits_and_the_claim():
    code = make_uscc("410105", 7, "5", "2")  # 民办非企业单位: 非营利法人 or 非法人组织
    assert kind_problem("INDIVIDUAL_BUSINESS", code) == (
        "the code's registration category 52 (社会组织) is 非营利法人、非法人组织 under the Civil Code: "
        "subject.kind LEGAL_PERSON or OTHER_ORGANIZATION, not INDIVIDUAL_BUSINESS (GB 32100-2015)")
