"""The declared type of a state (projections/state_types.py) against every state the fold makes, and the
store's typed read: a field the fold writes and the types leave out would be dropped by the store's decode,
so every state of every event type must come back from it whole. (Generated ledgers of every catalogue
type are checked the same way in test_fold_totality.py.)"""
from __future__ import annotations

from typing import TypedDict

import orjson
import pytest

from ops.demo import demo_events
from projections.fold import APPLIED, fold, new_state
from projections.records import HANDLERS
from projections.replay import replay
from projections.state_types import STATE_DECODER, UNDECLARED_SHOWN_MAX, _walk, undeclared_fields
from projections.state_versions import STATE_VERSION, UnknownStateVersion
from streams.store import StoredStateError, StoreError, SubjectStore
from streams.worker_build import state_version_notice
from tests.unit import events as ev


def stored_bytes(state: dict) -> bytes:
    return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)  # as the store writes a state


def assert_declared_whole(state: dict) -> None:
    assert undeclared_fields(state) == []
    assert STATE_DECODER.decode(stored_bytes(state)) == state


def every_type_story() -> list[dict]:
    """One subject's events, of every type the fold applies but the erasure (a person's own)."""
    decision, earlier = ev.decision_no("P-1"), "2024-06-03"
    return [
        ev.subject_registered(), ev.decision_registered(decision, on=earlier),
        ev.penalty_imposed("P-1", on=earlier, decision_no=decision), ev.permit_granted("X-1"), ev.permit_revoked("X-1"),
        ev.objection_filed("O-1", "P-1"), ev.objection_accepted("O-1", "P-1"),
        ev.objection_resolved("O-1", "P-1", outcome="UPHELD_CORRECTED", correction="罚款金额更正"),
        ev.penalty_fulfilled("P-1"), ev.repair_requested("R-1", "P-1"), ev.repair_accepted("R-1", "P-1"),
        ev.repair_decided("R-1", "P-1"), ev.penalty_imposed("P-2"), ev.penalty_revoked("P-2"),
        ev.objection_filed("O-2", "P-2"), ev.processing_overdue("OBJECTION", "O-2"),
        ev.commitment_made("C-1"), ev.commitment_fulfilled("C-1"), ev.commitment_made("C-2"),
        ev.commitment_breached("C-2"), ev.commitment_made("C-3", on=earlier, due_on="2024-12-31"),
        ev.commitment_overdue("C-3", due_on="2024-12-31"), ev.commitment_made("C-4", on=earlier, due_on="2025-01-03"),
        ev.commitment_overdue("C-4", due_on="2025-01-03"), ev.commitment_fulfilled("C-4", on="2025-01-03"),
        ev.list_entered("L-1", measures=["BIDDING_BAN"]), ev.measure_feedback("MeasureApplied", "K-1", "L-1"),
        ev.measure_feedback("MeasureDeclined", "K-2", "L-1"), ev.list_exited("L-1", on="2025-02-04"),
        ev.list_entered("L-2", on=earlier, term_until="2024-12-31"), ev.list_term_ended("L-2"),
        ev.rating_assigned("G-1"), ev.objection_filed("O-3", "G-1"), ev.processing_overdue("OBJECTION_ACCEPTANCE", "O-3"),
        ev.rating_assigned("G-2", on=earlier, rating_kind="CUSTOMS", valid_to="2024-12-31"),
        ev.rating_expired("G-2", valid_to="2024-12-31"), ev.query_authorized("Q-1"),
        ev.query_authorization_revoked("Q-1"), ev.decision_registered("D-9", on=earlier),
        ev.disclosure_overdue("D-9", due_on="2024-06-12"), ev.penalty_imposed("P-3", on=earlier),
        ev.publicity_ended("P-3"), ev.inspection_recorded("CC-1"), ev.subject_deregistered(on="2025-03-03"),
    ]


def test_a_state_of_every_event_type_is_declared_whole():
    state, applied = None, set()
    for offset, event in enumerate(every_type_story()):
        state, outcome = fold(state, event, offset)
        assert outcome.kind == APPLIED, (event["type"], outcome.reasons)
        applied.add(event["type"])
        assert_declared_whole(state)
    assert set(HANDLERS) - applied == {"PersonalInfoErased"}  # a person's own: the test after this one


def test_a_persons_erased_file_is_declared_whole():
    person = {"id": "np-" + "ab" * 16, "kind": "NATURAL_PERSON"}  # as the edge writes it: pseudonymised
    penalty = {**ev.penalty_imposed("P-1"), "subject": person}
    erased = {**ev.valid("PersonalInfoErased", {"reason": "本人申请删除", "requested_by": "dev-admin",
                                                "keys_erased": 1}, on="2025-02-03"), "subject": person}
    state, outcome = fold(fold(None, penalty, 0)[0], erased, 1)
    assert outcome.kind == APPLIED, outcome.reasons
    assert state["subject"]["personal_info_erased_on"] == "2025-02-03"
    assert_declared_whole(state)


def test_every_state_of_the_demo_is_declared_whole():
    events = list(demo_events(7))
    for event in events:
        event["recorded_at"] = event["occurred_on"] + "T00:00:00+08:00"
    states = replay(enumerate(events), pseudonym_key=b"k" * 32).states
    assert len(states) > 40
    for state in states.values():
        assert_declared_whole(state)


def test_an_undeclared_field_is_named_by_its_path():
    state = new_state({"id": "91410100MA44XY0Q3H", "kind": "ENTERPRISE"})
    state["records"]["penalties"]["A/P-1"] = {"colour": "red", "history": [{"mood": 1}]}
    state["extra"] = 1
    assert undeclared_fields(state) == ["$.records.penalties['A/P-1'].colour",
                                        "$.records.penalties['A/P-1'].history[0].mood", "$.extra"]


def test_an_undeclared_field_under_an_optional_part_or_in_a_list_of_records_is_named():
    state = new_state({"id": "91410100MA44XY0Q3H", "kind": "ENTERPRISE"})
    state["public_as_of"] = {"offset": 3, "recorded_at": None, "note": "x"}  # AsOf | None
    state["rejected"] = [{"event_id": "e", "type": "T", "offset": 1, "recorded_at": "r",
                          "reasons": [{"field": "f", "rule": "r", "message": "m", "hint": "h"}]}]
    state["seen_event_ids"] = {"e": [1, "digest"], "f": 2}  # list[int | str] | int: no object inside
    assert undeclared_fields(state) == ["$.public_as_of.note", "$.rejected[0].reasons[0].hint"]


def test_undeclared_fields_are_named_up_to_a_bound():
    state = new_state({"id": "91410100MA44XY0Q3H", "kind": "ENTERPRISE"})
    state["subject"].update({f"extra_{n:02d}": n for n in range(UNDECLARED_SHOWN_MAX + 5)})
    named = undeclared_fields(state)
    assert named == [f"$.subject.extra_{n:02d}" for n in range(UNDECLARED_SHOWN_MAX)]


class Pair(TypedDict):
    a: int


@pytest.mark.parametrize("value, hint, named", [
    ({"a": 1, "b": 2}, list[Pair] | Pair, ["$.b"]),  # an object: its object arm, whatever comes first
    ([{"a": 1, "c": 3}], Pair | list[Pair], ["$[0].c"]),  # a list: its list arm
    ({"k": {"a": 1, "z": 0}}, list[Pair] | dict[str, Pair], ["$['k'].z"]),  # a table: its table arm
])
def test_a_union_is_walked_by_the_arm_of_the_values_own_kind(value, hint, named):
    found: list[str] = []
    _walk(value, hint, "$", found)
    assert found == named


# --- the store's typed read -----------------------------------------------------------------------
def folded() -> dict:
    return fold(None, ev.penalty_imposed("P-1"), 0)[0]


SUBJECT = folded()["subject"]["id"]


def store_holding(tmp_path, raw: bytes) -> SubjectStore:
    store = SubjectStore(tmp_path / "subjects")
    store._db[b"s/" + SUBJECT.encode()] = raw
    return store


def test_the_store_reads_a_state_typed_and_whole(tmp_path):
    state = folded()
    store = SubjectStore(tmp_path / "subjects")
    store.write({SUBJECT: state}, {0: 0})
    assert store.get(SUBJECT) == state


def test_a_stored_state_of_a_wrong_type_is_refused_naming_its_path(tmp_path):
    state = folded()
    state["chain"]["length"] = "1"
    store = store_holding(tmp_path, stored_bytes(state))
    with pytest.raises(StoredStateError, match=r"Expected `int`, got `str` - at `\$.chain.length`.*empty data dir"):
        store.get(SUBJECT)
    assert isinstance(StoredStateError("x"), StoreError)  # the worker stops rather than fold over it


def test_a_stored_state_of_an_older_version_is_upcast_and_checked(tmp_path):
    state = folded()
    old = {**state, "seen_event_ids": list(state["seen_event_ids"])}  # version 0: a list of ids, no version
    del old["state_version"]
    read = store_holding(tmp_path, stored_bytes(old)).get(SUBJECT)
    assert read["state_version"] == STATE_VERSION
    assert read["seen_event_ids"] == {event_id: -1 for event_id in state["seen_event_ids"]}
    assert_declared_whole(read)


def test_a_stored_state_of_this_version_from_before_a_later_field_is_read(tmp_path):
    state = folded()
    del state["public_as_of"]  # kept since a later change of version 2 (projections/access.public_as_of)
    assert store_holding(tmp_path, stored_bytes(state)).get(SUBJECT) == state


def test_a_stored_state_of_a_newer_version_is_refused(tmp_path):
    store = store_holding(tmp_path, stored_bytes({**folded(), "state_version": STATE_VERSION + 1}))
    with pytest.raises(UnknownStateVersion, match="re-fold the store from the log"):
        store.get(SUBJECT)


# --- what start-up says of the states' version ----------------------------------------------------
def test_a_fresh_store_is_marked_with_the_state_version_and_says_nothing(tmp_path):
    store = SubjectStore(tmp_path / "subjects")
    assert state_version_notice(store) is None
    assert store.meta("state_version") == str(STATE_VERSION)
    store.write({SUBJECT: folded()}, {0: 0})
    assert state_version_notice(store) is None


def test_a_store_of_an_older_version_says_its_states_are_upcast_and_how_to_rewrite_them(tmp_path):
    store = SubjectStore(tmp_path / "subjects")
    store.write({SUBJECT: folded()}, {0: 0}, meta={"state_version": str(STATE_VERSION - 1)})
    notice = state_version_notice(store)
    assert f"holds states of version {STATE_VERSION - 1}" in notice and "upcast" in notice
    assert "start it on an empty data dir" in notice


def test_a_store_written_before_versions_were_marked_says_so(tmp_path):
    store = SubjectStore(tmp_path / "subjects")
    store.write({SUBJECT: folded()}, {0: 0})
    assert "written before stores noted the version" in state_version_notice(store)
    assert store.meta("state_version") is None  # only a re-fold from nothing marks it


def test_a_store_of_a_newer_version_stops_the_start(tmp_path):
    store = SubjectStore(tmp_path / "subjects")
    store.write({}, {}, meta={"state_version": str(STATE_VERSION + 1)})
    with pytest.raises(StoreError, match=f"version {STATE_VERSION + 1}, written by newer code"):
        state_version_notice(store)
