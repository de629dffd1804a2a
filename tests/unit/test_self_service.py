"""A subject's self-service (projections/access.py, role subject): bound to its own file, it reads that
file whole and files its own objections, repair requests and grants, and nothing on any other file:
at the edge (publish_problems, 403) and in the fold (not_record_authority, not_credit_office)."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections import access
from projections.access import SUBJECT, Principal, forbidden, known_state, publish_problems, view_file
from projections.catalogue import SELF_SOURCE_NAME
from projections.fold import APPLIED, REJECTED, credit_file, fold
from projections.ids import make_uscc
from projections.policy import DEFAULT_POLICY
from projections.pseudonym import pseudonym
from projections.quotas import SELF_SERVICE_LIMITS
from projections.records import SELF_FILED_TYPES
from projections.validate import EdgeContext, validate_event
from streams.principals import PrincipalsError, parse_principals
from tests.unit import events as ev
from tests.unit.events import CREDIT_OFFICE_SOURCE
from tests.unit.test_access import TODAY, penalty

OTHER_COMPANY = make_uscc("410105", 2)
ME = Principal(f"dev-subject-{ev.COMPANY}", SUBJECT, subject_id=ev.COMPANY)
MY_SOURCE = {"authority_code": ev.COMPANY, "authority_name": "郑州金水宏达机械制造有限公司"}
EXPIRES = "2030-01-01T00:00:00+08:00"


def given_file(*events: dict, subject: dict | None = None) -> dict:
    state = None
    for offset, event in enumerate([ev.subject_registered(), *events]):
        if subject is not None:
            event = {**event, "subject": subject}
        state, outcome = fold(state, event, offset)
        assert outcome.kind == APPLIED, (event["type"], outcome.reasons)
    return state


def my_event(type_: str, payload: dict, subject_id: str = ev.COMPANY, source: dict = MY_SOURCE) -> dict:
    return ev.valid(type_, payload, subject={"id": subject_id, "kind": "LEGAL_PERSON", "name": "某公司"},
                    source=source)


OBJECTION = {"objection_id": "O-1", "record_id": "P-INT", "grounds": "违法事实认定不清"}
REPAIR = {"repair_id": "R-1", "record_id": "P-INT", "corrective_actions": "已缴清罚款并完成整改"}
GRANT = {"grant_id": "Q-1", "grantee": ev.BANK, "scope": ["penalties"], "valid_until": "2025-12-31",
         "authorisation_ref": "本人授权书-1"}


# --- the principals file -----------------------------------------------------------------------------
def entry(**fields) -> dict:
    return {"name": "me", "role": "subject", "token_sha256": "b" * 64, "expires_at": EXPIRES, **fields}


def test_a_subject_is_bound_to_a_uscc_or_a_pseudonym():
    [company] = parse_principals({"principals": [entry(subject_id=ev.COMPANY)]})
    assert company.principal == Principal("me", SUBJECT, subject_id=ev.COMPANY)
    assert parse_principals({"principals": [company.as_dict()]}) == [company]
    [person] = parse_principals({"principals": [entry(subject_id="np-" + "0123456789abcdef" * 2)]})
    assert person.principal.subject_id.startswith("np-")


@pytest.mark.parametrize("fields, message", [
    ({}, "principals[0].subject_id: a subject, and only a subject"),
    ({"subject_id": "np-XYZ"}, "principals[0].subject_id: a unified social credit code, or"),
    ({"subject_id": "91410105MA0000000X"}, "principals[0].subject_id: a unified social credit code, or"),
    ({"subject_id": ev.COMPANY, "authority_code": ev.AUTHORITY}, "principals[0].authority_code: a subject acts as"),
    ({"subject_id": ev.COMPANY, "role": "supervisor"}, "principals[0].subject_id: a subject, and only a subject"),
])
def test_a_badly_bound_subject_is_refused_naming_the_field(fields, message):
    with pytest.raises(PrincipalsError) as refused:
        parse_principals({"principals": [entry(**fields)]})
    assert message in str(refused.value), str(refused.value)


# --- reading -----------------------------------------------------------------------------------------
def test_a_subject_reads_its_own_file_whole_and_no_other():
    mine = given_file(penalty("P-PUB"), penalty("P-INT", "INTERNAL"))
    theirs = given_file(penalty("P-PUB"), subject={"id": OTHER_COMPANY, "kind": "LEGAL_PERSON", "name": "别家公司"})
    assert known_state(mine, ME, TODAY) is mine
    assert known_state(theirs, ME, TODAY) is None  # public records and all: absent to it
    assert known_state(None, ME, TODAY) is None
    view, decision = view_file(credit_file(mine), mine, ME, TODAY)
    assert sorted(r["record_id"] for r in view["records"]["penalties"]) == ["P-INT", "P-PUB"]
    assert view["grade"]["letter"] and view["grade"]["reasons"]
    assert view["pending"] == credit_file(mine)["pending"]
    assert decision.non_public and decision.record_ids == ("P-INT",) and "本人" in decision.reason
    public, _ = view_file(credit_file(mine), mine, access.ANONYMOUS_PRINCIPAL, TODAY)
    assert [r["record_id"] for r in public["records"]["penalties"]] == ["P-PUB"]
    # the view of a file not its own (were a route to ask) is the public's, never more
    other_view, other = view_file(credit_file(theirs), theirs, ME, TODAY)
    assert other_view["grade"] is None and not other.non_public


def test_a_subject_may_read_its_grade_personal_info_and_access_log_and_publish():
    for action in ("grade", "personal_info", "subject_access_log", "self_service", "publish"):
        assert access.can(ME, action) is None, action
    for action in ("dashboard", "timeliness", "history", "verify", "access_log", "erase_personal_info"):
        assert access.can(ME, action) is not None, action


# --- filing at the edge ------------------------------------------------------------------------------
@pytest.mark.parametrize("type_, payload", [("ObjectionFiled", OBJECTION), ("RepairRequested", REPAIR),
                                            ("QueryAuthorized", GRANT)])
def test_a_subject_files_its_three_types_on_its_own_file_as_itself(type_, payload):
    raw = {"type": type_, "subject": {"id": ev.COMPANY, "kind": "LEGAL_PERSON"}, "source": MY_SOURCE,
           "payload": payload}
    assert publish_problems(ME, raw) == []
    on_other = {**raw, "subject": {"id": OTHER_COMPANY, "kind": "LEGAL_PERSON"}}
    as_other = {**raw, "source": {"authority_code": ev.AUTHORITY, "authority_name": "市监局"}}
    for refused, rule in ((on_other, "subject_own_file"), (as_other, "subject_source"),
                          ({**raw, "type": "PenaltyImposed"}, "subject_event_type"),
                          ({**raw, "payload": {**payload, "historical": True}}, "historical_admin_only")):
        problems = publish_problems(ME, refused)
        assert [p.rule for p in problems] == [rule] and forbidden(problems), rule


@settings(max_examples=300, deadline=None)
@given(type_=st.one_of(st.sampled_from([*SELF_FILED_TYPES, "PenaltyImposed", "ListExited", "QueryAuthorizationRevoked",
                                        "ObjectionResolved"]), st.none(), st.integers(), st.text(max_size=30)),
       subject_id=st.one_of(st.sampled_from([ev.COMPANY, OTHER_COMPANY]), st.none(), st.integers()),
       source_code=st.one_of(st.sampled_from([ev.COMPANY, OTHER_COMPANY, ev.AUTHORITY]), st.none(),
                             st.lists(st.integers(), max_size=2)),
       shape=st.sampled_from(["dict", "no_subject", "no_source", "not_a_dict"]))
def test_a_subject_may_publish_only_its_own_filings_whatever_it_sends(type_, subject_id, source_code, shape):
    raw = {"type": type_, "subject": {"id": subject_id, "kind": "LEGAL_PERSON"},
           "source": {"authority_code": source_code}, "payload": {}}
    if shape == "no_subject":
        raw["subject"] = "x"
    elif shape == "no_source":
        del raw["source"]
    elif shape == "not_a_dict":
        raw = [raw]
    problems = publish_problems(ME, raw)
    allowed = (shape == "dict" and type_ in SELF_FILED_TYPES and subject_id == ev.COMPANY and source_code == ev.COMPANY)
    assert (problems == []) == allowed
    assert allowed or (forbidden(problems) and len(problems) == 1)


def test_a_subject_files_under_the_fixed_self_service_quotas():
    assert DEFAULT_POLICY.quota_limits(SUBJECT) == SELF_SERVICE_LIMITS
    assert SELF_SERVICE_LIMITS.events_per_minute < DEFAULT_POLICY.quota_limits("publisher").events_per_minute


# --- filing in the fold --------------------------------------------------------------------------------
def fold_one(state: dict, event: dict):
    return fold(state, event, state["as_of"]["offset"] + 1)


def test_the_fold_takes_a_subjects_own_objection_and_grant():
    mine = given_file(penalty("P-INT", "INTERNAL"))
    objected, outcome = fold_one(mine, my_event("ObjectionFiled", OBJECTION))
    assert outcome.kind == APPLIED, outcome.reasons
    [(key, objection)] = objected["objections"].items()
    assert key == ev.key_of("O-1") and objection["status"] == "PENDING"  # under the record's authority, who answers
    granted, outcome = fold_one(mine, my_event("QueryAuthorized", GRANT))
    assert outcome.kind == APPLIED, outcome.reasons
    assert list(granted["grants"]) == [f"{ev.COMPANY}/Q-1"]


def test_the_fold_refuses_a_filing_whose_source_is_not_the_subject_itself():
    mine = given_file(penalty("P-INT", "INTERNAL"))
    other_source = {"authority_code": OTHER_COMPANY, "authority_name": "别家公司"}
    for type_, payload, rule in (("ObjectionFiled", OBJECTION, "not_record_authority"),
                                 ("RepairRequested", REPAIR, "not_record_authority"),
                                 ("QueryAuthorized", GRANT, "not_credit_office")):
        _, outcome = fold_one(mine, my_event(type_, payload, source=other_source))
        assert outcome.kind == REJECTED and rule in {p.rule for p in outcome.reasons}, (type_, outcome.reasons)


def test_a_subject_repair_request_is_judged_as_the_authoritys_would_be():
    mine = given_file(penalty("P-INT", "INTERNAL"))
    by_me = fold_one(mine, my_event("RepairRequested", REPAIR))[1]
    by_authority = fold_one(mine, ev.valid("RepairRequested", REPAIR))[1]
    assert "not_record_authority" not in {p.rule for p in by_me.reasons}
    assert by_me.kind == by_authority.kind and {p.rule for p in by_me.reasons} == {p.rule for p in by_authority.reasons}


def test_a_subject_acts_on_no_record_by_any_other_type():
    mine = given_file(penalty("P-INT", "INTERNAL"))
    _, outcome = fold_one(mine, my_event("PenaltyRevoked", {"record_id": "P-INT", "reason": "本人认为不应处罚"}))
    assert outcome.kind == REJECTED and "not_record_authority" in {p.rule for p in outcome.reasons}


# --- a natural person files as itself (its pseudonym, 本人) -------------------------------------------------
PERSON_ID_NUMBER = ev.person()["id_number"]
OTHER_ID_NUMBER = ev.person(ev.make_resident_id("410105", date(1990, 7, 1), 11))["id_number"]
PERSON, OTHER_PERSON = (pseudonym(number, ev.KEY) for number in (PERSON_ID_NUMBER, OTHER_ID_NUMBER))
PERSON_ME = Principal("dev-subject-person", SUBJECT, subject_id=PERSON)
PERSON_SOURCE = {"authority_code": PERSON, "authority_name": SELF_SOURCE_NAME}


def person_raw(type_: str, payload: dict, subject_id: str = PERSON, source: dict = PERSON_SOURCE, **envelope) -> dict:
    """A natural person's filing as it sends it: its file named by its pseudonym, no name, no ID number."""
    return {"type": type_, "subject": {"id": subject_id, "kind": "NATURAL_PERSON"}, "source": source,
            "occurred_on": ev.DAY, "payload": payload, **envelope}


def person_file(*events: dict) -> dict:
    """A natural person's file: events a department published with its name and ID number, as the log holds them."""
    return given_file(*events, subject={"id": PERSON, "kind": "NATURAL_PERSON"})


def validated(raw: dict) -> tuple[dict | None, list]:
    return validate_event(raw, EdgeContext(now=ev.NOW, pseudonym_key=ev.KEY))


@pytest.mark.parametrize("type_, payload", [("ObjectionFiled", OBJECTION), ("RepairRequested", REPAIR),
                                            ("QueryAuthorized", GRANT)])
def test_a_person_files_its_three_types_on_its_own_file_as_itself(type_, payload):
    raw = person_raw(type_, payload)
    assert publish_problems(PERSON_ME, raw) == []
    event, problems = validated(raw)
    assert problems == [] and event["subject"] == {"id": PERSON, "kind": "NATURAL_PERSON"}
    assert event["source"] == {"authority_code": PERSON, "authority_name": "本人"}  # who filed: the person


@pytest.mark.parametrize("change, field, rule", [
    ({"subject": {"id": OTHER_PERSON, "kind": "NATURAL_PERSON"}}, "subject.id", "subject_own_file"),
    ({"source": {"authority_code": OTHER_PERSON, "authority_name": "本人"}}, "source.authority_code", "subject_source"),
    ({"source": {"authority_code": ev.AUTHORITY, "authority_name": "市监局"}}, "source.authority_code",
     "subject_source"),
    ({"type": "PenaltyImposed"}, "type", "subject_event_type"),
    # its own id beside another's ID number: validation would file it on the other's file
    ({"subject": {"id": PERSON, "kind": "NATURAL_PERSON", "id_number": OTHER_ID_NUMBER}}, "subject.id_number",
     "subject_own_file"),
    ({"subject": {"kind": "NATURAL_PERSON", "name": "张三", "id_number": PERSON_ID_NUMBER}}, "subject.id_number",
     "subject_own_file"),
])
def test_a_person_files_nothing_else_and_on_no_other_file(change, field, rule):
    problems = publish_problems(PERSON_ME, {**person_raw("ObjectionFiled", OBJECTION), **change})
    assert [(p.field, p.rule) for p in problems] == [(field, rule)] and forbidden(problems)
    assert not any(OTHER_ID_NUMBER[-4:] in p.message or PERSON_ID_NUMBER[-4:] in p.message for p in problems)


def test_neither_a_department_nor_an_organisation_may_file_as_a_person():
    as_person = person_raw("ObjectionFiled", OBJECTION)
    department = publish_problems(Principal("amr-cases", "publisher", ev.AUTHORITY), as_person)
    assert [p.rule for p in department] == ["publisher_authority"]
    assert [p.rule for p in publish_problems(ME, as_person)] == ["subject_own_file"]
    assert [p.rule for p in publish_problems(PERSON_ME, {**as_person, "subject": {
        "id": ev.COMPANY, "kind": "LEGAL_PERSON"}})] == ["subject_own_file"]


@pytest.mark.parametrize("change, field", [
    ({"type": "PenaltyImposed", "payload": ev.penalty_payload()}, "type"),  # a person imposes nothing
    ({"subject": {"id": OTHER_PERSON, "kind": "NATURAL_PERSON"}}, "source.authority_code"),  # on another's file
    ({"subject": {"id": ev.COMPANY, "kind": "LEGAL_PERSON"}}, "source.authority_code"),  # on an organisation's
    ({"source": {**PERSON_SOURCE, "authority_name": "张三"}}, "source.authority_name"),  # a name in the source
    ({"source": {**PERSON_SOURCE, "system": "我的系统"}}, "source.system"),
    ({"source": {**PERSON_SOURCE, "authority_code": "np-XYZ"}}, "source.authority_code"),  # no pseudonym's form
    ({"source": {**PERSON_SOURCE, "authority_code": PERSON.upper().replace("NP-", "np-")}}, "source.authority_code"),
])
def test_validation_takes_a_persons_source_only_on_its_own_filing(change, field):
    """What an admin (who may publish as anyone) or a forged record in the log sends: the same rule, self_source."""
    _, problems = validated({**person_raw("ObjectionFiled", OBJECTION), **change})
    assert (field, "self_source") in {(p.field, p.rule) for p in problems}, problems
    assert all("张三" not in p.message and "张三" not in p.field for p in problems)


def test_a_source_that_is_neither_a_uscc_nor_a_pseudonym_is_still_refused():
    _, problems = validated(person_raw("ObjectionFiled", OBJECTION, source={"authority_code": "PERSON-1",
                                                                              "authority_name": "本人"}))
    assert [(p.field, p.rule) for p in problems] == [("source.authority_code", "uscc")]


def person_event(type_: str, payload: dict, **change) -> dict:
    raw = {**person_raw(type_, payload), **change}
    return ev.valid(raw["type"], raw["payload"], subject=raw["subject"], source=raw["source"])


def test_the_fold_takes_a_persons_own_objection_repair_and_grant_and_says_who_filed():
    mine = person_file(penalty("P-INT", "INTERNAL"))
    objected, outcome = fold_one(mine, person_event("ObjectionFiled", OBJECTION))
    assert outcome.kind == APPLIED, outcome.reasons
    [(key, objection)] = objected["objections"].items()
    assert key == ev.key_of("O-1") and objection["source"] == PERSON_SOURCE  # the person, not a department
    repaired, outcome = fold_one(mine, person_event("RepairRequested", REPAIR))
    by_authority = fold_one(mine, ev.valid("RepairRequested", REPAIR, subject={"id": PERSON, "kind": "NATURAL_PERSON"}))
    assert {p.rule for p in outcome.reasons} == {p.rule for p in by_authority[1].reasons}  # judged as the authority's
    assert "not_record_authority" not in {p.rule for p in outcome.reasons}
    granted, outcome = fold_one(mine, person_event("QueryAuthorized", GRANT))
    assert outcome.kind == APPLIED, outcome.reasons
    assert list(granted["grants"]) == [f"{PERSON}/Q-1"]
    assert credit_file(granted)["grants"][0]["source"] == PERSON_SOURCE


@pytest.mark.parametrize("type_, payload", [
    ("PenaltyRevoked", {"record_id": "P-INT", "reason": "本人认为不应处罚"}),
    ("PenaltyImposed", ev.penalty_payload(record_id="P-SELF", decision_no="自拟〔2025〕1号")),
])
def test_the_fold_rejects_a_forged_person_source_of_any_other_type(type_, payload):
    """A record in the log that validation would refuse (written before the rule, or forged): the fold says why."""
    mine = person_file(penalty("P-INT", "INTERNAL"))
    forged = {**ev.valid(type_, payload, subject={"id": PERSON, "kind": "NATURAL_PERSON"}), "source": PERSON_SOURCE}
    new, outcome = fold_one(mine, forged)
    assert outcome.kind == REJECTED and ("source.authority_code", "self_source") in {
        (p.field, p.rule) for p in outcome.reasons}, outcome.reasons
    assert credit_file(new)["records"] == credit_file(mine)["records"]


def test_the_fold_rejects_a_persons_filing_on_another_file():
    theirs = given_file(penalty("P-INT", "INTERNAL"), subject={"id": OTHER_PERSON, "kind": "NATURAL_PERSON"})
    for type_, payload in (("ObjectionFiled", OBJECTION), ("QueryAuthorized", GRANT)):
        forged = {**ev.valid(type_, payload, subject={"id": OTHER_PERSON, "kind": "NATURAL_PERSON"},
                             source=CREDIT_OFFICE_SOURCE), "source": PERSON_SOURCE}
        _, outcome = fold_one(theirs, forged)
        assert outcome.kind == REJECTED and "self_source" in {p.rule for p in outcome.reasons}, outcome.reasons
