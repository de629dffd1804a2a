"""Who may act on a record (DESIGN "Who may act on a record"), and the ids no one can occupy.

- Each event type that acts on an existing record is refused from another authority
  (not_record_authority, the record unchanged), and accepted from the issuing authority and, where
  the policy names it (authorities.credit_office_acts_on), from the credit office.
- Records are identified per issuing authority: one authority's record ids and decision numbers
  never block another's, and no authority's events change another's records.
- Query grants come from the credit office on the subject's written authorisation, never from the
  querier they name.
- The timers' events have ids of their own: a publisher's event under the id of a system event still
  to come does not block it; the same id with other content is a conflict.
"""
from __future__ import annotations

import re
import uuid
from copy import deepcopy
from importlib import resources

import pytest
from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st

from projections.fold import APPLIED, DUPLICATE, REJECTED, credit_file, fold, id_conflict
from projections.policy import ACTIONS_ON_A_RECORD, DEFAULT_POLICY, parse_policy
from projections.records import key_authority
from projections.state_versions import VERSION_KEY, upcast
from projections.deadlines import pending_deadlines, system_event
from projections.validate import TIMER_SYSTEM, EdgeContext, validate_event
from tests.unit import events as ev
from tests.unit.test_fold_rules import applied, given, rejected_by, when

ISSUER, OTHER, CREDIT_OFFICE = ev.AUTHORITY, ev.OTHER_AUTHORITY, ev.CREDIT_OFFICE
NAMES = {ISSUER: "郑州市市场监督管理局", OTHER: "郑州市生态环境局", CREDIT_OFFICE: "郑州市发展和改革委员会"}


def by(authority: str, event: dict) -> dict:
    """The event as `authority` writes it: its source, and an id of its own."""
    return {**deepcopy(event), "event_id": str(uuid.uuid4()),
            "source": {"authority_code": authority, "authority_name": NAMES[authority]}}


def test_the_packaged_policy_names_the_credit_office_for_objections_and_repairs():
    assert CREDIT_OFFICE in DEFAULT_POLICY.credit_office and ISSUER not in DEFAULT_POLICY.credit_office
    assert DEFAULT_POLICY.credit_office_acts_on == {"ObjectionFiled", "ObjectionAccepted", "ObjectionResolved",
                                                     "RepairRequested", "RepairAccepted", "RepairDecided"}


def test_a_policy_names_valid_codes_and_actions_only():
    text = (resources.files("projections") / "policies" / "2024.1.yaml").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="authorities.credit_office:"):
        parse_policy(text.replace(f'"{CREDIT_OFFICE}"', '"91X"'))
    with pytest.raises(ValueError, match="authorities.credit_office_acts_on:"):
        parse_policy(text.replace("[ObjectionFiled,", "[PenaltyImposed, ObjectionFiled,"))


# --- one test per event type that acts on a record -------------------------------------------------
def acted_on_only_by_its_authority(state: dict, act, field: str, credit_office_may: bool) -> None:
    """`act()` builds the event (as the issuer's): refused from another authority with the record
    unchanged; from the credit office as the policy says; applied from the issuing authority."""
    event_type = act()["type"]
    who_may = "the issuing authority" + (", or the credit office" if credit_office_may else "")
    rejected_by(state, by(OTHER, act()), field, rule="not_record_authority",
                message=f"the record is {ISSUER}'s; {OTHER} may not write {event_type} on it (only {who_may})")
    if credit_office_may:
        applied(state, by(CREDIT_OFFICE, act()))
    else:
        rejected_by(state, by(CREDIT_OFFICE, act()), field, rule="not_record_authority",
                    message=f"the record is {ISSUER}'s; {CREDIT_OFFICE} may not write {event_type} on it (only {who_may})")
    applied(state, by(ISSUER, act()))


def test_permit_revoked_only_by_the_issuing_authority():
    acted_on_only_by_its_authority(given(ev.permit_granted("X-1")), lambda: ev.permit_revoked("X-1"),
                                   "payload.record_id", credit_office_may=False)


def test_penalty_revoked_only_by_the_issuing_authority():
    acted_on_only_by_its_authority(given(ev.penalty_imposed("P-1")), lambda: ev.penalty_revoked("P-1"),
                                   "payload.record_id", credit_office_may=False)


def test_penalty_fulfilled_only_by_the_issuing_authority():
    acted_on_only_by_its_authority(given(ev.penalty_imposed("P-1")), lambda: ev.penalty_fulfilled("P-1"),
                                   "payload.record_id", credit_office_may=False)


def test_commitment_fulfilled_only_by_the_authority_it_was_made_to():
    acted_on_only_by_its_authority(given(ev.commitment_made("C-1")), lambda: ev.commitment_fulfilled("C-1"),
                                   "payload.commitment_id", credit_office_may=False)


def test_commitment_breached_only_by_the_authority_it_was_made_to():
    acted_on_only_by_its_authority(given(ev.commitment_made("C-1")),
                                   lambda: ev.commitment_breached("C-1", false_commitment=True),
                                   "payload.commitment_id", credit_office_may=False)


def test_list_exited_only_by_the_listing_authority():
    state = given(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY"))
    acted_on_only_by_its_authority(state, lambda: ev.list_exited("L-1"), "payload.entry_id", credit_office_may=False)


def test_an_escalation_ends_only_its_own_authority_s_entry():
    # SERIOUS_DISHONESTY naming an ABNORMAL_OPERATION entry as its basis ends it (转入): the listing authority's
    # own escalation does; another's is an entry of its own, and the first entry stays (as a ListExited would)
    state = given(ev.list_entered("L-1"))
    escalation = ev.list_entered("L-9", list_kind="SERIOUS_DISHONESTY", basis_record_id="L-1")
    for authority, status in ((OTHER, "ACTIVE"), (ISSUER, "EXITED")):
        after, outcome = when(state, by(authority, escalation))
        assert outcome.kind == APPLIED, outcome.reasons
        lists = after["records"]["lists"]
        assert (lists[ev.key_of("L-1")]["status"], lists[f"{authority}/L-9"]["status"]) == (status, "ACTIVE"), authority


def test_objection_filed_by_the_issuing_authority_or_the_credit_office():
    acted_on_only_by_its_authority(given(ev.penalty_imposed("P-1")), lambda: ev.objection_filed("O-1", "P-1"),
                                   "payload.record_id", credit_office_may=True)


def test_objection_resolved_by_the_issuing_authority_or_the_credit_office():
    # the issue's case: another department withdrawing (UPHELD_WITHDRAWN) a record it did not issue
    state = given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1", "P-1"))
    acted_on_only_by_its_authority(state, lambda: ev.objection_resolved("O-1", "P-1", "UPHELD_WITHDRAWN"),
                                   "payload.record_id", credit_office_may=True)


def test_objection_accepted_by_the_issuing_authority_or_the_credit_office():
    state = given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1", "P-1"))
    acted_on_only_by_its_authority(state, lambda: ev.objection_accepted("O-1", "P-1"), "payload.record_id",
                                   credit_office_may=True)


def test_repair_accepted_by_the_issuing_authority_or_the_credit_office():
    state = given(ev.penalty_imposed("P-1", "2024-06-03"), ev.penalty_fulfilled("P-1", "2024-06-03"),
                  by(CREDIT_OFFICE, ev.repair_requested("R-1", "P-1")))
    acted_on_only_by_its_authority(state, lambda: ev.repair_accepted("R-1", "P-1"), "payload.record_id",
                                   credit_office_may=True)


def test_objection_filed_through_the_credit_office_is_resolved_by_the_issuing_authority():
    state = given(ev.penalty_imposed("P-1"), by(CREDIT_OFFICE, ev.objection_filed("O-1", "P-1")))
    assert set(state["objections"]) == {ev.key_of("O-1")}  # under the record's authority, not its filer's
    file = applied(state, ev.objection_resolved("O-1", "P-1", "UPHELD_CORRECTED", correction="罚款金额更正"))
    assert file["records"]["penalties"][0]["correction"] == "罚款金额更正"


def test_repair_requested_by_the_issuing_authority_or_the_credit_office():
    state = given(ev.penalty_imposed("P-1", "2024-06-03"), ev.penalty_fulfilled("P-1", "2024-06-03"))
    acted_on_only_by_its_authority(state, lambda: ev.repair_requested("R-1", "P-1"), "payload.record_id",
                                   credit_office_may=True)


def test_repair_decided_by_the_issuing_authority_or_the_credit_office():
    state = given(ev.penalty_imposed("P-1", "2024-06-03"), ev.penalty_fulfilled("P-1", "2024-06-03"),
                  by(CREDIT_OFFICE, ev.repair_requested("R-1", "P-1")))
    acted_on_only_by_its_authority(state, lambda: ev.repair_decided("R-1", "P-1", "APPROVED"), "payload.record_id",
                                   credit_office_may=True)


def test_query_authorization_revoked_only_by_the_credit_office():
    state = given(ev.query_authorized("Q-1"))
    revoke = ev.query_authorization_revoked("Q-1")
    rejected_by(state, by(OTHER, revoke), "source.authority_code", rule="not_credit_office",
                message="1141010074945707X4 is not the credit office: only it writes QueryAuthorizationRevoked (2024.1 policy)")
    assert applied(state, revoke)["grants"][0]["revoked"]


def test_every_action_on_a_record_has_its_test_here():
    snake = lambda t: re.sub(r"(?<!^)(?=[A-Z])", "_", t).lower()  # noqa: E731
    names = [name for name in globals() if name.startswith("test_")]
    assert [t for t in ACTIONS_ON_A_RECORD if not any(n.startswith(f"test_{snake(t)}") for n in names)] == []


def test_system_events_act_for_the_record_s_authority_whoever_filed():
    # an objection filed through the credit office falls overdue under the record's authority, and applies
    state = given(ev.penalty_imposed("P-1"), by(CREDIT_OFFICE, ev.objection_filed("O-1", "P-1", "2025-01-24")),
                  by(CREDIT_OFFICE, ev.objection_accepted("O-1", "P-1", "2025-01-24")))
    (deadline,) = [d for d in pending_deadlines(state, DEFAULT_POLICY) if d.kind == "OBJECTION"]
    event = system_event(state, deadline, deadline.fires_at, DEFAULT_POLICY)
    assert event["source"]["authority_code"] == ISSUER and event["payload"]["ref_id"] == "O-1"
    new, outcome = when(state, event)
    assert outcome.kind == APPLIED and new["objections"][ev.key_of("O-1")]["overdue"]


# --- ids per issuing authority ----------------------------------------------------------------------
def test_one_authority_s_ids_and_decision_numbers_never_block_another_s():
    number = ev.decision_no("P-1")
    # A registers B's coming decision number as a PERMIT and takes B's coming record id first; B's own
    # decision and penalty are then refused neither as duplicate_id nor as decision_kind_mismatch
    state = given(by(OTHER, ev.decision_registered(number, "PERMIT")),
                  by(OTHER, ev.penalty_imposed("P-1", decision_no="A-1")),
                  ev.decision_registered(number), ev.penalty_imposed("P-1"))
    assert {key_authority(k) for k in state["records"]["penalties"]} == {ISSUER, OTHER}
    decisions = state["decisions"]
    assert decisions[ev.key_of(number)]["arrived"] and not decisions[ev.key_of(number, OTHER)]["arrived"]
    fulfilled = applied(state, ev.penalty_fulfilled("P-1"))  # B's own P-1, not A's
    assert {p["source"]["authority_code"]: p["fulfilled"] for p in fulfilled["records"]["penalties"]} == {
        ISSUER: True, OTHER: False}
    rejected_by(state, ev.penalty_imposed("P-1", decision_no="B-2"), "payload.record_id", rule="duplicate_id",
                message="P-1 is already a penalty of this authority on this subject")


def test_a_record_of_several_other_authorities_is_ambiguous_for_the_credit_office():
    state = given(ev.penalty_imposed("P-1"), by(OTHER, ev.penalty_imposed("P-1", decision_no="A-1")))
    rejected_by(state, by(CREDIT_OFFICE, ev.objection_filed("O-1", "P-1")), "payload.record_id",
                rule="ambiguous_record",
                message="P-1 names no record of this authority, and records of 1141010074945707X4, 1141010087525218XA")
    applied(state, ev.objection_filed("O-1", "P-1"))  # each authority still reaches its own


def test_references_reach_another_authority_s_record():
    # 联合惩戒: the credit office lists on a department's penalty, and takes a repair commitment about it
    state = given(ev.penalty_imposed("P-1"))
    file = applied(state, by(CREDIT_OFFICE, ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY",
                                                           basis_record_id="P-1")))
    assert file["records"]["lists"][0]["basis_record_id"] == "P-1"
    applied(state, by(CREDIT_OFFICE, ev.commitment_made("C-1", commitment_kind="CREDIT_REPAIR",
                                                        related_record_id="P-1")))


def test_a_rating_supersedes_only_its_own_authority_s_ratings_of_the_kind():
    state = given(ev.rating_assigned("G-1", level="D"))
    file = applied(state, by(OTHER, ev.rating_assigned("G-1", level="A", on="2025-02-03")))
    assert sorted((r["source"]["authority_code"], r["status"]) for r in file["records"]["ratings"]) == sorted(
        [(ISSUER, "ACTIVE"), (OTHER, "ACTIVE")])
    file = applied(state, ev.rating_assigned("G-2", level="B", on="2025-02-03"))
    assert {r["rating_id"]: r["status"] for r in file["records"]["ratings"]} == {"G-1": "SUPERSEDED", "G-2": "ACTIVE"}


def _story_of(authority: str, ops: list[tuple[str, int]]) -> list[dict]:
    build = {
        "penalty": lambda i: ev.penalty_imposed(f"P-{i}", decision_no=f"N-{i}"),
        "fulfil": lambda i: ev.penalty_fulfilled(f"P-{i}"),
        "revoke": lambda i: ev.penalty_revoked(f"P-{i}"),
        "permit": lambda i: ev.permit_granted(f"P-{i}", decision_no=f"N-{i}"),
        "decision": lambda i: ev.decision_registered(f"N-{i}", "PERMIT"),
        "commit": lambda i: ev.commitment_made(f"C-{i}"),
        "keep": lambda i: ev.commitment_fulfilled(f"C-{i}"),
        "list": lambda i: ev.list_entered(f"L-{i}", list_kind="OTHER_BLACKLIST"),
        "exit": lambda i: ev.list_exited(f"L-{i}"),
        "object": lambda i: ev.objection_filed(f"O-{i}", f"P-{i}"),
        "resolve": lambda i: ev.objection_resolved(f"O-{i}", f"P-{i}", "UPHELD_WITHDRAWN"),
    }
    return [by(authority, build[op](i)) for op, i in ops]


OPS = st.tuples(st.sampled_from(["penalty", "fulfil", "revoke", "permit", "decision", "commit", "keep", "list",
                                 "exit", "object", "resolve"]), st.integers(0, 1))


def _records_of(state: dict, authority: str) -> dict:
    tables = {**state["records"], "decisions": state["decisions"], "objections": state["objections"]}
    return {(name, k): {f: v for f, v in item.items() if f not in ("offset", "history", "event_id", "recorded_at")}
            for name, table in tables.items() for k, item in table.items() if key_authority(k) == authority}


@settings(max_examples=150, deadline=None)
@hypothesis_given(st.lists(st.tuples(st.sampled_from([ISSUER, OTHER]), OPS), max_size=30))
def test_no_authority_s_events_change_another_s_records(steps):
    """Two departments using the same ids on one subject: each one's records, and which of its events
    apply, are what its events alone make of them."""
    events = {a: _story_of(a, [op for who, op in steps if who == a]) for a in (ISSUER, OTHER)}
    mixed, outcomes = given(), {}
    iters = {a: iter(events[a]) for a in events}
    for who, _ in steps:
        event = next(iters[who])
        mixed, outcome = when(mixed, event)
        outcomes[event["event_id"]] = outcome.kind
    for authority in (ISSUER, OTHER):
        alone = given()
        for event in events[authority]:
            alone, outcome = when(alone, event)
            assert outcome.kind == outcomes[event["event_id"]], event["type"]
        assert _records_of(mixed, authority) == _records_of(alone, authority)


# --- query grants (授权查询) ---------------------------------------------------------------------------
def test_rule_not_credit_office_a_publisher_never_grants_itself_a_query():
    # the issue's case: a department naming itself as grantee, to read AUTHORIZED records
    rejected_by(given(), ev.query_authorized("Q-1", source={"authority_code": ISSUER, "authority_name": "x"},
                                             grantee=ISSUER), "source.authority_code", rule="not_credit_office",
                                             message="1141010087525218XA is not the credit office: only it writes QueryAuthorized (2024.1 policy)")
    rejected_by(given(), ev.query_authorized("Q-1", source={"authority_code": OTHER, "authority_name": "x"}),
                "source.authority_code", rule="not_credit_office",
                message="1141010074945707X4 is not the credit office: only it writes QueryAuthorized (2024.1 policy)")


def test_rule_self_source_a_person_acts_only_as_itself_on_its_own_file():
    """A natural person's pseudonym as the source (its own filing, issue 31 part 5) on an organisation's file."""
    person = {"authority_code": "np-" + "0123456789abcdef" * 2, "authority_name": "本人"}
    state = given(ev.penalty_imposed("P-1"))
    rejected_by(state, {**ev.objection_filed("O-1"), "source": person}, "source.authority_code", rule="self_source",
                message="a natural person files only ObjectionFiled, RepairRequested, QueryAuthorized, on its own file")
    rejected_by(state, {**ev.penalty_imposed("P-2"), "source": person}, "source.authority_code", rule="self_source",
                message="a natural person files only ObjectionFiled, RepairRequested, QueryAuthorized, on its own file")
    applied(state, ev.objection_filed("O-1"))  # from the issuing authority


def test_rule_grant_to_self_not_even_the_credit_office():
    rejected_by(given(), ev.query_authorized("Q-1", grantee=CREDIT_OFFICE), "payload.grantee", rule="grant_to_self",
                message="no authority grants a query to itself")


def test_rule_no_written_authorisation_a_grant_rests_on_the_subject_s_written_authorisation():
    grant = ev.query_authorized("Q-1")
    del grant["payload"]["authorisation_ref"]
    rejected_by(given(), grant, "payload.authorisation_ref", rule="no_written_authorisation",
                message="a grant names the subject's written authorisation (书面授权) it rests on")
    file = applied(given(), ev.query_authorized("Q-1", grantee=ISSUER))  # the office grants the department
    assert file["grants"][0]["authorisation_ref"] == "授权书-Q-1"


# --- system events and event ids --------------------------------------------------------------------
def _timer_event(state: dict, kind: str) -> dict:
    (deadline,) = [d for d in pending_deadlines(state, DEFAULT_POLICY) if d.kind == kind]
    return system_event(state, deadline, deadline.fires_at, DEFAULT_POLICY)


@pytest.mark.parametrize("setup, kind", [
    (lambda: [ev.decision_registered(ev.decision_no("P-1"), on="2025-01-02")], "DISCLOSURE"),
    (lambda: [ev.commitment_made("C-1", due_on="2025-02-28")], "COMMITMENT"),
    (lambda: [ev.list_entered("L-1", "2022-01-10")], "ESCALATION"),  # to 严重违法失信名单
])
def test_a_pre_empted_system_event_id_no_longer_blocks_the_notice(setup, kind):
    state = given(*setup())
    notice = _timer_event(state, kind)
    # the department computes the notice's id (a UUIDv5 of the deadline) and publishes under it first
    decoy = {**ev.rating_assigned("G-9"), "event_id": notice["event_id"]}
    state, outcome = when(state, decoy)
    assert outcome.kind == APPLIED
    checked, problems = validate_event(notice, EdgeContext(now=ev.NOW, pseudonym_key=ev.KEY, stamp_recorded_at=False,
                                                           allow_system=True))
    assert problems == []
    after, outcome = when(state, checked)
    assert outcome.kind == APPLIED  # not a duplicate of the decoy
    assert kind not in {d.kind for d in pending_deadlines(after, DEFAULT_POLICY)}
    assert when(after, checked)[1].kind == DUPLICATE  # the timer firing again changes nothing
    assert when(after, decoy)[1].kind == DUPLICATE  # nor the decoy again


def test_rule_system_source_no_publisher_writes_as_the_timers():
    state = given(ev.decision_registered(ev.decision_no("P-1"), on="2025-01-02"))
    notice = _timer_event(state, "DISCLOSURE")
    forged = {**notice, "source": {k: v for k, v in notice["source"].items() if k != "system"}}
    rejected_by(state, forged, "source.system", rule="system_source",
                message="DisclosureOverdue is written only by the ledger's timers")  # a system type from a publisher
    escalation = _timer_event(given(ev.list_entered("L-1", "2022-01-10")), "ESCALATION")
    assert escalation["source"]["system"] == TIMER_SYSTEM and escalation["type"] == "ListEntered"
    claimed = {**ev.penalty_imposed("P-9"), "source": {**notice["source"]}}
    rejected_by(state, claimed, "source.system", rule="system_source",
                message="the timers never write PenaltyImposed")  # a type the timers never write
    # and the edges refuse the timers' source to a publisher
    raw = ev.event("PenaltyImposed", source={"authority_code": ISSUER, "authority_name": "x", "system": TIMER_SYSTEM})
    _, problems = validate_event(raw, ev.CTX)
    assert ("source.system", "system_source") in {(p.field, p.rule) for p in problems}


def test_rule_event_id_conflict_the_same_id_with_other_content():
    first = ev.penalty_imposed("P-1")
    state = given(first)
    other = {**deepcopy(first), "payload": {**first["payload"], "fine_fen": 1}}
    rejected_by(state, other, "event_id", rule="event_id_conflict",
                message=f"{first['event_id']} is the id of another event, applied at offset 1")
    # the same content again, stamped later and with the subject's name spelt anew: a duplicate
    again = {**deepcopy(first), "recorded_at": "2025-01-07T09:00:00+08:00",
             "subject": {**first["subject"], "name": "更名后的公司"}}
    assert when(state, again)[1].kind == DUPLICATE


EDITS = st.sampled_from(["type", "subject", "authority", "occurred_on", "classification", "payload"])


@settings(max_examples=60, deadline=None)
@hypothesis_given(EDITS, st.text(min_size=1, max_size=8))
def test_any_other_content_under_a_taken_id_is_a_conflict(edit, text):
    first = ev.penalty_imposed("P-1")
    state = given(first)
    other = deepcopy(first)
    if edit == "type":
        other["type"] = "PenaltyFulfilled"
    elif edit == "subject":
        other["subject"]["kind"] = "OTHER_ORGANIZATION"
    elif edit == "authority":
        other["source"]["authority_code"] = OTHER
    elif edit == "occurred_on":
        other["occurred_on"] = "2025-01-03"
    elif edit == "classification":
        other["classification"] = "INTERNAL"
    else:
        other["payload"]["facts"] += text
    new, outcome = when(state, other)
    assert outcome.kind == REJECTED and [p.rule for p in outcome.reasons] == ["event_id_conflict"]
    assert credit_file(new)["records"] == credit_file(state)["records"]
    # and the edge, asking the worker's copy of the file, answers the same before writing it (HTTP 409)
    assert id_conflict(state, other).rule == "event_id_conflict"
    assert id_conflict(state, first) is None and id_conflict(None, other) is None


# --- states stored before ---------------------------------------------------------------------------
def unscoped(state: dict) -> dict:
    """A state as it was stored before records were identified per authority (ids, no digests)."""
    old = deepcopy(state)
    del old["scoped_ids"], old[VERSION_KEY]
    for collection, table in old["records"].items():
        old["records"][collection] = {k.partition("/")[2]: v for k, v in table.items()}
    for name in ("objections", "repairs", "decisions", "grants"):
        old[name] = {k.partition("/")[2]: v for k, v in old[name].items()}
    old["seen_event_ids"] = {k: v[0] for k, v in old["seen_event_ids"].items()}
    return old


def test_a_state_stored_before_folds_on_as_the_scoped_one():
    log = [ev.penalty_imposed("P-1", "2024-06-03"), ev.penalty_fulfilled("P-1", "2024-06-03"),
           ev.objection_filed("O-1", "P-1"), ev.commitment_made("C-1"), ev.query_authorized("Q-1"),
           ev.decision_registered("N-1"), by(CREDIT_OFFICE, ev.repair_requested("R-1", "P-1"))]
    state = given(*log)
    old = unscoped(state)
    for event in (ev.objection_resolved("O-1", "P-1"), by(CREDIT_OFFICE, ev.repair_decided("R-1", "P-1", "REJECTED")),
                  ev.commitment_fulfilled("C-1"), ev.query_authorization_revoked("Q-1"), ev.penalty_imposed("P-2")):
        new, outcome = when(state, event)
        from_old, old_outcome = when(upcast(old), event)
        assert outcome.kind == old_outcome.kind == APPLIED, (event["type"], old_outcome.reasons)
        assert {k: v for k, v in from_old.items() if k != "seen_event_ids"} == {
            k: v for k, v in new.items() if k != "seen_event_ids"}
        state, old = new, unscoped(new)
    assert when(upcast(old), log[0])[1].kind == DUPLICATE  # an id stored with its offset alone stays a duplicate
    assert credit_file(old)["records"] == credit_file(state)["records"]  # the views read either shape


def test_the_fold_never_mutates_its_input_nor_an_old_state():
    old = unscoped(given(ev.penalty_imposed("P-1")))
    frozen = deepcopy(old)
    fold(upcast(old), ev.penalty_fulfilled("P-1"), 99)
    assert old == frozen
