"""Scoped supervisors (projections/scopes.py): the scope in the principals file, which subjects and
authorities it holds, and every view of a scoped supervisor bounded by it."""
from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections import access
from projections.access import SUPERVISOR, Principal
from projections.effects import TimelinessCounter
from projections.fold import credit_file, fold
from projections.ids import make_uscc
from projections.scopes import (INDUSTRY_SECTIONS, Scope, authority_in_scope, in_scope, scope_of, scope_problems,
                                states_in_scope, subject_region)
from streams import dashboard_snapshot as dash
from streams.codec import decode_access_record, encode_access_record
from streams.principals import PrincipalsError, parse_principals
from streams.routes_public import scoped_exposition
from tests.unit.events import AUTHORITY, COMPANY, OTHER_AUTHORITY, penalty_imposed, subject_registered
from tests.unit.test_dashboard import folded_demo

EXPIRES = "2030-01-01T00:00:00+08:00"
FUTIAN = make_uscc("440304", 7)  # a company registered in 深圳福田
NANSHAN_AUTHORITY = make_uscc("440305", 8, "1", "1")


def principal_entry(**fields) -> dict:
    return {"name": "futian-supervisor", "role": "supervisor", "token_sha256": "a" * 64, "expires_at": EXPIRES,
            **fields}


def state(subject_id: str = FUTIAN, kind: str = "LEGAL_PERSON", authorities=(AUTHORITY,), **subject) -> dict:
    return {"subject": {"id": subject_id, "kind": kind, **subject}, "records": {},
            "events_by_authority": {code: 1 for code in authorities}}


# --- the principals file ---------------------------------------------------------------------------
def test_a_supervisor_carries_its_scope_and_the_file_writes_it_back():
    scope = {"authority_codes": [AUTHORITY], "region_prefix": "4403", "industry_sections": ["C", "F"]}
    [credential] = parse_principals({"principals": [principal_entry(scope=scope)]})
    assert credential.principal.scope == Scope((AUTHORITY,), "4403", ("C", "F"))
    assert credential.as_dict()["scope"] == scope
    assert parse_principals({"principals": [credential.as_dict()]}) == [credential]
    [unscoped] = parse_principals({"principals": [principal_entry()]})
    assert unscoped.principal.scope is None and "scope" not in unscoped.as_dict()


@pytest.mark.parametrize("scope, role, field", [
    ({"region_prefix": "4403"}, "publisher", "principals[0].scope: only a supervisor"),
    ({"region_prefix": "4403"}, "auditor", "principals[0].scope: only a supervisor"),
    ({}, "supervisor", "principals[0].scope: an object"),
    ({"region": "4403"}, "supervisor", "principals[0].scope: an object"),
    ([], "supervisor", "principals[0].scope: an object"),
    ({"region_prefix": None}, "supervisor", "principals[0].scope: name at least one"),
    ({"region_prefix": "4"}, "supervisor", "principals[0].scope.region_prefix:"),
    ({"region_prefix": "4403051"}, "supervisor", "principals[0].scope.region_prefix:"),
    ({"region_prefix": "99"}, "supervisor", "principals[0].scope.region_prefix:"),  # no such province
    ({"region_prefix": "44O3"}, "supervisor", "principals[0].scope.region_prefix:"),
    ({"region_prefix": 4403}, "supervisor", "principals[0].scope.region_prefix:"),
    ({"region_prefix": "４４０３"}, "supervisor", "principals[0].scope.region_prefix:"),  # full-width digits
    ({"industry_sections": []}, "supervisor", "principals[0].scope.industry_sections:"),
    ({"industry_sections": ["U"]}, "supervisor", "principals[0].scope.industry_sections:"),
    ({"industry_sections": ["C", "C"]}, "supervisor", "principals[0].scope.industry_sections:"),
    ({"industry_sections": ["C17"]}, "supervisor", "principals[0].scope.industry_sections:"),
    ({"industry_sections": "C"}, "supervisor", "principals[0].scope.industry_sections:"),
    ({"authority_codes": []}, "supervisor", "principals[0].scope.authority_codes:"),
    ({"authority_codes": [AUTHORITY, AUTHORITY]}, "supervisor", "principals[0].scope.authority_codes:"),
    ({"authority_codes": [AUTHORITY, "not-a-code"]}, "supervisor", "principals[0].scope.authority_codes[1]:"),
    ({"authority_codes": [AUTHORITY] * 201}, "supervisor", "principals[0].scope.authority_codes:"),
])
def test_a_bad_scope_is_refused_naming_the_field(scope, role, field):
    extra = {"authority_code": AUTHORITY} if role == "publisher" else {}
    with pytest.raises(PrincipalsError) as refused:
        parse_principals({"principals": [principal_entry(role=role, scope=scope, **extra)]})
    assert field in str(refused.value), str(refused.value)


SCOPE_VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=8),
                         st.lists(st.one_of(st.text(max_size=20), st.integers(), st.just(AUTHORITY)), max_size=4))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["authority_codes", "region_prefix", "industry_sections", "other"]),
                       st.one_of(SCOPE_VALUES, st.sampled_from(["44", "4403", "440304"]),
                                 st.lists(st.sampled_from(INDUSTRY_SECTIONS), max_size=3, unique=True)),
                       max_size=4))
def test_any_value_is_a_scope_or_refused_with_a_reason(value):
    problems = scope_problems(value)
    if problems:
        assert all(isinstance(field, str) and message for field, message in problems)
        with pytest.raises(PrincipalsError):
            parse_principals({"principals": [principal_entry(scope=value)]})
    else:
        scope = scope_of(value)  # a Scope checks itself again
        assert scope.named() == {k: v for k, v in value.items() if v is not None}


# --- which subjects and authorities a scope holds --------------------------------------------------
def test_a_subject_is_placed_by_its_registered_region_else_by_its_uscc():
    assert subject_region(state()["subject"]) == "440304"
    assert subject_region(state(region_code="110105")["subject"]) == "110105"
    assert subject_region(state("p" * 43, kind="NATURAL_PERSON")["subject"]) is None
    assert in_scope(Scope(region_prefix="4403"), state())
    assert not in_scope(Scope(region_prefix="4403"), state(region_code="110105"))
    assert not in_scope(Scope(region_prefix="44"), state("p" * 43, kind="NATURAL_PERSON"))


def test_a_scope_holds_a_subject_that_meets_every_part_it_names():
    manufacturer = state(industry_code="C1761", authorities=(AUTHORITY, OTHER_AUTHORITY))
    assert in_scope(Scope((OTHER_AUTHORITY,), "440304", ("C",)), manufacturer)
    assert not in_scope(Scope((NANSHAN_AUTHORITY,), "440304", ("C",)), manufacturer)  # no event of it
    assert not in_scope(Scope((OTHER_AUTHORITY,), "440305", ("C",)), manufacturer)  # another district
    assert not in_scope(Scope((OTHER_AUTHORITY,), "440304", ("F",)), manufacturer)  # another industry
    assert not in_scope(Scope(industry_sections=("C",)), state())  # no industry code: in no section
    assert in_scope(None, manufacturer) and not in_scope(Scope(region_prefix="44"), None)


@settings(max_examples=200, deadline=None)
@given(codes=st.lists(st.sampled_from([AUTHORITY, OTHER_AUTHORITY, NANSHAN_AUTHORITY]), max_size=2, unique=True),
       region=st.one_of(st.none(), st.sampled_from(["44", "4403", "440304", "440305", "11"])),
       sections=st.lists(st.sampled_from("CFGM"), max_size=2, unique=True),
       subject_region_code=st.one_of(st.none(), st.sampled_from(["440304", "440305", "110105"])),
       industry=st.one_of(st.none(), st.sampled_from(["C1761", "F51", "M"])),
       published=st.lists(st.sampled_from([AUTHORITY, OTHER_AUTHORITY, NANSHAN_AUTHORITY]), max_size=3))
def test_a_scope_is_the_and_of_its_parts(codes, region, sections, subject_region_code, industry, published):
    if not (codes or region or sections):
        return
    fields = {k: v for k, v in (("region_code", subject_region_code), ("industry_code", industry)) if v}
    subject = state(authorities=published, **fields)
    parts = [Scope(authority_codes=tuple(codes))] if codes else []
    parts += [Scope(region_prefix=region)] if region else []
    parts += [Scope(industry_sections=tuple(sections))] if sections else []
    assert in_scope(Scope(tuple(codes), region, tuple(sections)), subject) == all(in_scope(p, subject) for p in parts)
    assert states_in_scope(Scope(tuple(codes), region, tuple(sections)), [subject]) == (
        [subject] if all(in_scope(p, subject) for p in parts) else [])


def test_a_folded_file_is_in_the_scope_of_the_authorities_that_published_on_it():
    folded = None
    for offset, event in enumerate([subject_registered(industry_code="C1761"), penalty_imposed()]):
        folded, _ = fold(folded, event, offset)
    assert folded["subject"]["region_code"] == "410105"
    assert in_scope(Scope((AUTHORITY,), "4101", ("C",)), folded)
    assert not in_scope(Scope((OTHER_AUTHORITY,)), folded)
    assert not in_scope(Scope(region_prefix="4102"), folded)


def test_an_authority_is_in_scope_by_its_code_and_its_region():
    assert authority_in_scope(None, AUTHORITY)
    assert authority_in_scope(Scope(region_prefix="4101"), AUTHORITY)
    assert not authority_in_scope(Scope(region_prefix="4403"), AUTHORITY)
    assert authority_in_scope(Scope((AUTHORITY,)), AUTHORITY) and not authority_in_scope(Scope((AUTHORITY,)),
                                                                                         OTHER_AUTHORITY)
    assert authority_in_scope(Scope(industry_sections=("C",)), AUTHORITY)  # sections say nothing of authorities


# --- the views -------------------------------------------------------------------------------------
def folded_company():
    folded = None
    for offset, event in enumerate([subject_registered(), penalty_imposed()]):
        folded, _ = fold(folded, event, offset)
    return folded


def test_a_file_outside_the_scope_is_as_absent_and_a_read_inside_logs_the_scope():
    company = folded_company()
    assert company["subject"]["id"] == COMPANY and access.public_as_of(company) is not None  # the public sees it
    outside = Principal("shenzhen", SUPERVISOR, scope=Scope(region_prefix="4403"))
    inside = Principal("zhengzhou", SUPERVISOR, scope=Scope(region_prefix="4101"))
    assert access.known_state(company, outside, "2025-02-01") is None
    assert access.known_state(company, inside, "2025-02-01") is company
    assert access.known_state(company, Principal("all", SUPERVISOR), "2025-02-01") is company
    _, decision = access.view_file(credit_file(company), company, inside, "2025-02-01")
    record = access.access_record(decision, "GET /subjects/{id}", "2025-02-01T10:00:00+08:00")
    assert record["scope"] == {"authority_codes": [], "region_prefix": "4101", "industry_sections": []}
    assert decode_access_record(encode_access_record(record))["scope"] == record["scope"]
    grade = access.endpoint_decision(inside, "grade", COMPANY)
    assert grade.scope == inside.scope
    unscoped = access.access_record(access.endpoint_decision(Principal("all", SUPERVISOR), "grade", COMPANY),
                                    "GET /subjects/{id}/grade", "2025-02-01T10:00:00+08:00")
    assert unscoped["scope"] is None and decode_access_record(encode_access_record(unscoped))["scope"] is None


def test_only_a_supervisor_carries_a_scope():
    with pytest.raises(AssertionError):
        Principal("auditor", access.AUDITOR, scope=Scope(region_prefix="44"))


def test_the_authority_metrics_keep_the_authorities_in_scope():
    exposition = (f'# HELP credit_disclosure_late x\ncredit_disclosure_late_total{{authority="{AUTHORITY}"}} 3.0\n'
                  f'credit_disclosure_late_total{{authority="{NANSHAN_AUTHORITY}"}} 1.0\n').encode()
    assert scoped_exposition(exposition, None) == exposition
    kept = scoped_exposition(exposition, Scope(region_prefix="4403")).decode()
    assert NANSHAN_AUTHORITY in kept and AUTHORITY not in kept and "# HELP credit_disclosure_late" in kept


def test_a_scoped_dashboard_shows_its_subjects_and_withholds_the_ledgers_counts():
    events, store, board = folded_demo()
    regions = sorted({store.get(s)["subject"].get("region_code") for s in {e["subject"]["id"] for e in events}} - {None})
    assert len(regions) > 1, regions  # the demo's subjects lie in more than one region
    scope = Scope(region_prefix=regions[0])
    snap = orjson.loads(board.snapshot_bytes(scope))
    whole = orjson.loads(board.snapshot_bytes())
    assert snap["scope"]["region_prefix"] == regions[0] and snap["withheld"]
    assert snap["ledger"] == {"records": None, "subjects": None} and snap["grades"]["counts"] is None
    assert snap["deadlines"]["pending"] is None and snap["rates"]["per_s"] is None and snap["trend"]["A"] == []
    for part in ("grade_changes", "blacklist"):
        expected = [item["subject_id"] for item in reversed(getattr(board.feed, part))
                    if in_scope(scope, store.get(item["subject_id"]))][:dash.SHOWN_MAX]
        assert [item["subject_id"] for item in snap[part]] == expected, part
    everything = [item["subject_id"] for part in ("grade_changes", "blacklist") for item in whole[part]]
    assert any(not in_scope(scope, store.get(s)) for s in everything)  # the filter had something to drop
    assert all(in_scope(scope, store.get(d["subject_id"])) for d in snap["deadlines"]["near"])
    authorities = {counter.authority_code for counter in store.counters(TimelinessCounter)}
    by_region = Scope(region_prefix=sorted(authorities)[0][2:6])  # the city of one of the authorities
    timeliness = orjson.loads(board.snapshot_bytes(by_region))["timeliness"]
    expected = {code for code in authorities if code[2:6] == by_region.region_prefix}
    assert timeliness["authorities_total"] == len(expected) > 0
    assert {a["code"] for a in timeliness["authorities"]} <= expected


def test_the_authorities_of_a_state_stored_before_they_were_counted_are_its_records_sources():
    from projections.scopes import state_authorities
    old = {"records": {"penalties": {"P-1": {"source": {"authority_code": AUTHORITY}}},
                       "lists": {"L-1": {"source": None}, "L-2": {}, "L-3": {"source": {"authority_code": 7}}}}}
    assert state_authorities(old) == {AUTHORITY}
    assert state_authorities({**old, "events_by_authority": {OTHER_AUTHORITY: 2}}) == {AUTHORITY, OTHER_AUTHORITY}
    assert state_authorities({"events_by_authority": {OTHER_AUTHORITY: 1}}) == {OTHER_AUTHORITY}  # no records kept
    assert state_authorities({}) == set()


def test_a_subject_s_region_is_a_valid_code_s_division_and_never_a_natural_person_s():
    from projections.scopes import subject_region
    assert subject_region({"id": FUTIAN, "kind": "LEGAL_PERSON"}) == "440304"
    assert subject_region({"id": FUTIAN, "kind": "LEGAL_PERSON", "region_code": "440305"}) == "440305"
    assert subject_region({"id": FUTIAN, "kind": "NATURAL_PERSON"}) is None  # whatever its id looks like
    assert subject_region({"id": "91440304ABCDEFGHIJ", "kind": "LEGAL_PERSON"}) is None  # no valid code
    assert subject_region({"id": None, "kind": "LEGAL_PERSON"}) is None


def test_each_broken_rule_of_a_scope_is_named_in_words():
    assert scope_problems({"city": "x"}) == [
        ("", "an object of one or more of authority_codes, region_prefix, industry_sections; nothing else")]
    assert scope_problems({"authority_codes": [], "region_prefix": "4", "industry_sections": ["Z"]}) == [
        ("authority_codes", "a list of 1 to 200 distinct unified social credit codes"),
        ("region_prefix", "2 to 6 digits of a GB/T 2260 division code, from its province (e.g. 44, 4403, 440305)"),
        ("industry_sections", "a list of distinct GB/T 4754 section letters A to T")]
    assert scope_problems({"authority_codes": [AUTHORITY, "bad", 7]}) == [
        ("authority_codes[1]", "not a unified social credit code"), ("authority_codes[2]", "not a unified social credit code")]
    assert scope_problems({"authority_codes": None}) == [
        ("", "name at least one of authority_codes, region_prefix, industry_sections")]


def test_a_scope_at_its_bounds_is_a_scope():
    codes = [make_uscc("410100", n, "1", "1") for n in range(1, 201)]
    assert len(set(codes)) == 200 and scope_problems({"authority_codes": codes}) == []
    assert scope_problems({"authority_codes": [*codes, make_uscc("410100", 201, "1", "1")]})[0][0] == "authority_codes"
    assert scope_problems({"industry_sections": list(INDUSTRY_SECTIONS)}) == []
