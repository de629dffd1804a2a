"""`credit-ledger erase` in the pure parts: who may, what a request must be, the PersonalInfoErased event it
writes (the edges refuse it from publishers; the fold applies it, the grade unchanged). With a broker and two
workers: tests/integration/test_erase.py."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from projections import access
from projections.catalogue import SYSTEM_TYPES
from projections.fold import DUPLICATE, REJECTED, credit_file, fold
from projections.grading import grade
from projections.policy import DEFAULT_POLICY
from projections.replay import replay
from projections.validate import TIMER_SYSTEM, validate_event
from streams import codec
from streams.edge import accept_event
from streams.erasure import erase_problems, erasure_event
from tests.unit import events as ev

PERSON = "np-" + "0123456789abcdef" * 2
MARKER = {"erased_at": "2025-06-30T09:00:00+08:00", "reason": "本人申请删除（个人信息保护法第四十七条）",
          "requested_by": "dev-admin", "keys_erased": 1}


def test_only_the_admin_may_erase_personal_information():
    for role in access.ROLES:
        principal = access.Principal(f"p-{role}", role, ev.AUTHORITY if role == access.PUBLISHER else None,
                                     subject_id=ev.COMPANY if role == access.SUBJECT else None)
        reason = access.can(principal, "erase_personal_info")
        assert (reason is None) == (role == access.ADMIN), role
    assert access.ACTIONS["erase_personal_info"].non_public  # the act goes to credit.access-log


@pytest.mark.parametrize("subject_id, body, rule", [
    (ev.COMPANY, b'{"reason": "x"}', "pseudonym"),
    ("np-0123", b'{"reason": "x"}', "pseudonym"),
    (PERSON, b"not json", "required"),
    (PERSON, b'{"reason": "  "}', "required"),
    (PERSON, b'{"reason": 5}', "required"),
    (PERSON, json.dumps({"reason": "x" * 501}).encode(), "max_length"),
    (PERSON, b'{"reason": "a\\nb"}', "text"),
    (PERSON, None, "size_limit"),
])
def test_a_bad_erase_request_is_named(subject_id, body, rule):
    reason, problems = erase_problems(subject_id, body)
    assert reason is None and [p.rule for p in problems] == [rule]


def test_a_good_erase_request_gives_its_reason():
    assert erase_problems(PERSON, json.dumps({"reason": " 本人申请 "}).encode()) == ("本人申请", [])


def person_log() -> tuple[list[dict], str]:
    raws = [ev.event("SubjectRegistered", {"region_code": "410105", "registered_on": "2001-01-01"},
                     subject=ev.person(), occurred_on="2025-05-06"),
            ev.event(subject=ev.person())]
    events = [accept_event(raw, ev.CTX)[0] for raw in raws]
    return events, events[0]["subject"]["id"]


def erased(subject_id: str, now=ev.NOW, marker=MARKER) -> dict:
    ctx = replace(ev.CTX_SYSTEM, now=now, stamp_recorded_at=False)  # as the worker validates it
    event, problems = validate_event(erasure_event(subject_id, marker, now, DEFAULT_POLICY), ctx)
    assert problems == []
    return event


def test_the_erasure_event_carries_no_data_folds_and_leaves_the_grade():
    events, subject_id = person_log()
    event = erased(subject_id)
    assert event["type"] in SYSTEM_TYPES and event["source"]["system"] == TIMER_SYSTEM
    assert event["payload"] == {"reason": MARKER["reason"], "requested_by": "dev-admin", "keys_erased": 1}
    assert event["classification"] == "INTERNAL" and set(event["subject"]) == {"id", "kind"}
    assert codec.decode_event(codec.encode_event(event)) == event
    before = replay(enumerate(events)).states[subject_id]
    after = replay(enumerate(events + [event])).states[subject_id]
    assert grade(after, DEFAULT_POLICY) == grade(before, DEFAULT_POLICY)
    assert credit_file(after)["records"] == credit_file(before)["records"]
    assert credit_file(after)["subject"]["personal_info_erased_on"] == "2025-06-30"
    # asked again later: the same event but its recorded_at, which the fold takes as a duplicate
    again = erased(subject_id, now=ev.NOW + timedelta(hours=3))
    assert again["event_id"] == event["event_id"] and again["recorded_at"] != event["recorded_at"]
    assert fold(after, again, 99)[1].kind == DUPLICATE


def test_publishers_may_not_send_it_and_the_fold_refuses_it_for_an_organisation():
    _, subject_id = person_log()
    raw = erasure_event(subject_id, MARKER, ev.NOW, DEFAULT_POLICY)
    for attempt in (raw, {**raw, "source": {k: v for k, v in raw["source"].items() if k != "system"}}):
        forged = {k: v for k, v in attempt.items() if k not in ("recorded_at", "event_id")}
        event, problems = accept_event(forged, ev.CTX, principal=access.OPERATOR)  # even as the admin
        assert event is None and "system_type" in {p.rule for p in problems}
    company = erased(subject_id) | {"subject": {"id": ev.COMPANY, "kind": "LEGAL_PERSON"}}
    state, outcome = fold(None, company, 0)
    assert outcome.kind == REJECTED and [r.rule for r in outcome.reasons] == ["erasure_natural_person"]


def test_an_erase_reason_naming_the_person_by_id_number_is_refused():
    # the reason goes to credit.access-log and into the PersonalInfoErased event on credit.events
    id_number = ev.person()["id_number"]
    reason, problems = erase_problems(PERSON, json.dumps({"reason": f"申请人 {id_number} 要求删除"}).encode())
    assert reason is None and [(p.field, p.rule) for p in problems] == [("reason", "personal_identifier")]
    assert id_number not in problems[0].message
