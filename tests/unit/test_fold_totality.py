"""The fold is total: every event the edge accepts folds (applies, or is rejected with reasons), and
what the worker derives from the result (deadlines, grade, the credit file) never raises.

Events of every catalogue type are generated field by field from the catalogue itself, with every
integer and date drawn at its bounds, one step past them, and far past them (9999-12-31, 4,000
working days: the values that once halted the worker). The edge refuses what is out of bounds with
the `range` rule naming the field; whatever it accepts is folded after any prefix of other events
of the same subject, which share a few ids so that events act on each other's records, and no step
raises; every state it makes comes back whole through the store's typed read. Containment (a fold that raises is quarantined) is tested on its own below.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import catalogue as cat
from projections.canonical import SHANGHAI
from projections.deadlines import pending_deadlines, system_event
from projections.fold import APPLIED, INTERNAL_ERROR, QUARANTINED, REJECTED, credit_file, fold
from projections.grading import grade
from projections.policy import DEFAULT_POLICY
from projections.replay import replay, step
from projections.state_types import STATE_DECODER, undeclared_fields
from projections.validate import EDGE_RULES, EdgeContext, validate_event
from tests.unit import events as ev

TOTALITY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
START = datetime(2025, 1, 6, 10, 0, tzinfo=SHANGHAI)
SHARED_IDS = ("A", "B", "C")  # record, entry, commitment, objection, repair and grant ids, decision numbers
REFERENCE_FIELDS = {"record_id", "decision_no", "related_record_id", "basis_record_id", "commitment_id", "repair_id",
                    "objection_id", "entry_id", "rating_id", "grant_id", "ref_id"}


def _day(text: str, days: int) -> str:
    return (date.fromisoformat(text) + timedelta(days=days)).isoformat()


def mostly(inside, edges):
    """Values inside the bounds four times in five, so that sequences reach the fold and act on each other."""
    return st.one_of(inside, inside, inside, inside, edges)


def int_values(bounds: cat.Bounds):
    low, high = bounds.low, bounds.high
    return mostly(st.integers(low, min(high, low + 60)) | st.sampled_from([low, high]),
                  st.sampled_from([low - 1, high + 1, 4000, 10**20]))


def date_values(bounds: cat.Bounds):
    return mostly(st.dates(date(2020, 1, 1), date(2031, 12, 31)).map(date.isoformat)
                  | st.sampled_from([bounds.low, bounds.high]),
                  st.sampled_from([_day(bounds.low, -1), _day(bounds.high, 1), "9999-12-31", "0001-01-01"]))


def field_values(fld: cat.Field):
    if fld.name in REFERENCE_FIELDS:
        return st.sampled_from(SHARED_IDS)
    if fld.kind == cat.INT:
        return int_values(fld.bounds)
    if fld.kind == cat.DATE:
        return date_values(fld.bounds)
    if fld.kind == cat.BOOL:
        return st.booleans()
    if fld.kind == cat.ENUM:
        return st.sampled_from(fld.values)
    if fld.kind == cat.ENUM_LIST:
        return st.lists(st.sampled_from(fld.values), min_size=1, max_size=3)
    if fld.kind == cat.STR_LIST:
        return st.lists(st.sampled_from(["M1", "M2", "PUBLIC", "AUTHORIZED", "INTERNAL"]), min_size=1, max_size=3)
    return st.sampled_from(["普通", "GENERAL", "410105", "C1761", "SPECIAL_EQUIPMENT", "按期整改", "A"])


@st.composite
def payloads(draw, spec: cat.EventType) -> dict:
    payload = {}
    for fld in spec.fields:
        if fld.required or draw(st.booleans()):
            payload[fld.name] = draw(field_values(fld))
    return payload


# every type twice but deregistration, which ends most business after it
TYPES = [name for name in sorted(cat.EVENT_TYPES) for _ in range(1 if name == "SubjectDeregistered" else 2)]


@st.composite
def raw_events(draw) -> dict:
    spec = cat.EVENT_TYPES[draw(st.sampled_from(TYPES))]
    occurred_on = draw(mostly(st.sampled_from(["2024-06-03", "2024-12-02", "2025-01-03"]),
                              st.sampled_from([cat.EARLIEST_DATE, _day(cat.EARLIEST_DATE, -1)])))
    return ev.event(spec.name, draw(payloads(spec)), occurred_on=occurred_on)


def check_problems(problems) -> None:
    for p in problems:
        assert p.rule in EDGE_RULES, p
        if p.rule == "range":
            assert p.field.startswith(("payload.", "occurred_on")) and ".." in p.message, p


def derived_views(state: dict) -> None:
    """What the worker and the API compute from a state after each event: none of it may raise. And
    the store's round trip: written as JSON, read back through the declared types (state_types), whole."""
    pending_deadlines(state, DEFAULT_POLICY)
    grade(state, DEFAULT_POLICY)
    credit_file(state, DEFAULT_POLICY)
    assert undeclared_fields(state) == []
    assert STATE_DECODER.decode(orjson.dumps(state, option=orjson.OPT_SORT_KEYS)) == state


@TOTALITY
@given(raws=st.lists(raw_events(), min_size=1, max_size=16))
def test_every_accepted_event_folds_after_any_prefix_without_raising(raws):
    state = None
    for offset, raw in enumerate(raws):
        ctx = EdgeContext(now=START + timedelta(days=offset), pseudonym_key=ev.KEY, allow_system=True)
        event, problems = validate_event(raw, ctx)
        check_problems(problems)
        if event is None:
            continue
        state, outcome = fold(state, event, offset)
        assert outcome.kind in (APPLIED, REJECTED) or outcome.reasons == (), outcome
        derived_views(state)
        for deadline in pending_deadlines(state, DEFAULT_POLICY):  # and what the timers would write
            fired = system_event(state, deadline, deadline.fires_at, DEFAULT_POLICY)
            assert validate_event(fired, EdgeContext(now=datetime.fromisoformat(deadline.fires_at),
                                                     pseudonym_key=ev.KEY, allow_system=True,
                                                     stamp_recorded_at=False))[1] == []


@pytest.mark.parametrize("field, value, bound", [
    ("due_working_days", 4000, "1..750"), ("due_working_days", 0, "1..750"), ("due_working_days", 751, "1..750"),
    ("due_on", "9999-12-31", "1949-10-01..2099-12-31"), ("due_on", "2100-01-01", "1949-10-01..2099-12-31"),
    ("due_on", "1949-09-30", "1949-10-01..2099-12-31")])
def test_a_value_past_its_bound_is_refused_naming_field_bound_and_value(field, value, bound):
    payload = {"commitment_id": "C-1", "commitment_kind": "VOLUNTARY", "content": "按期整改", field: value}
    _, problems = validate_event(ev.event("CommitmentMade", payload), ev.CTX)
    assert [(p.field, p.rule) for p in problems] == [(f"payload.{field}", "range")]
    # the value is quoted, but for its runs of 4 or more digits (an ID number's, a birth date's: issue 28)
    shown = str(value) if isinstance(value, str) or value < 1000 else "…"
    assert bound in problems[0].message and shown in problems[0].message


@pytest.mark.parametrize("field, value", [("due_working_days", 1), ("due_working_days", 750),
                                          ("due_on", "2099-12-31")])
def test_a_value_at_its_bound_is_accepted_and_its_deadline_computed(field, value):
    payload = {"commitment_id": "C-1", "commitment_kind": "VOLUNTARY", "content": "按期整改", field: value}
    event, problems = validate_event(ev.event("CommitmentMade", payload), ev.CTX)
    assert problems == []
    state, outcome = fold(None, event, 0)
    assert outcome.kind == APPLIED
    [deadline] = pending_deadlines(state, DEFAULT_POLICY)
    assert deadline.due_on <= "2103-12-31"


def test_recorded_at_of_an_exported_log_is_bounded_too():
    ctx = EdgeContext(now=datetime(2026, 1, 1, tzinfo=SHANGHAI), pseudonym_key=ev.KEY, stamp_recorded_at=False)
    for instant in ("9999-12-31T23:59:59+14:00", "1949-09-30T23:59:59+08:00", "0001-01-01T00:00:00-12:00"):
        _, problems = validate_event(ev.event(recorded_at=instant), ctx)
        assert [(p.field, p.rule) for p in problems] == [("recorded_at", "range")], instant


# --- containment: what the fold still raises on is quarantined, not fatal ------------------------

@pytest.fixture()
def broken_commitments(monkeypatch):
    """A bug planted in the fold: applying a CommitmentMade raises after writing half of it."""
    from projections import records

    check, apply = records.HANDLERS["CommitmentMade"]

    def half_then_raise(draft, event, offset, policy):
        apply(draft, event, offset, policy)
        raise ZeroDivisionError("a bug planted by the test")
    monkeypatch.setitem(records.HANDLERS, "CommitmentMade", (check, half_then_raise))


def _commitments() -> list[tuple[int, dict]]:
    made = ev.valid("CommitmentMade", {"commitment_id": "C-1", "commitment_kind": "VOLUNTARY", "content": "整改",
                                       "due_working_days": 5})
    permit = ev.valid("PermitGranted", {"record_id": "PG-1", "decision_no": "许〔2025〕1号", "permit_kind": "普通",
                                        "content": "食品经营许可", "valid_from": ev.DAY})
    return [(0, permit), (1, made), (2, {**permit, "event_id": ev.event()["event_id"],
                                         "payload": {**permit["payload"], "record_id": "PG-2",
                                                     "decision_no": "许〔2025〕2号"}})]


def test_a_fold_that_raises_is_quarantined_with_the_state_as_before(broken_commitments):
    entries = _commitments()
    states = {}
    outcomes = []
    for offset, event in entries:
        done = step(states.get, event, offset)
        outcomes.append(done.outcome)
        if done.state is not None:
            states[done.subject_id] = done.state
        if done.outcome == QUARANTINED:
            assert [p.rule for p in done.problems] == [INTERNAL_ERROR]
            assert done.problems[0].message == "ZeroDivisionError: a bug planted by the test"
    assert outcomes == [APPLIED, QUARANTINED, APPLIED]
    state = states[ev.COMPANY]
    assert state["records"]["commitments"] == {} and state["chain"]["length"] == 2


def test_a_replay_folding_in_place_recovers_the_state_a_copy_on_write_fold_keeps(broken_commitments):
    entries = _commitments()
    in_place = replay(entries)
    assert in_place.quarantined == 1 and [r["offset"] for r in in_place.rejected] == [1]
    states = {}
    for offset, event in entries:  # copy-on-write, as the live worker folds
        done = step(states.get, event, offset)
        if done.state is not None:
            states[done.subject_id] = done.state
    assert in_place.states == states
