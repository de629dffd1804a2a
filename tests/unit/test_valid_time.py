"""The valid-time view (`--valid-at`), the transaction-time view (`--as-of`) and `replay --clock`, each at
its boundaries: the day of a decision itself, the day before and after; a record revoked or retracted
later (never true), a correction made later (true all along); an event recorded at the very instant of
`--as-of`; a deadline due at the very instant of `--clock`.

Each test here fails on the small slip it is named for (`<=` written `<`, a status left out, a correction
not carried over): issue 34 found these boundaries untested.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from projections.canonical import SHANGHAI, read_instant
from projections.replay import bitemporal_view, replay, state_as_of, state_valid_at
from tests.unit import events as ev

DECIDED = "2025-03-10"  # a Monday
TODAY = "2025-12-01"
CORRECTION = "罚款金额更正为3万元"


def history_of(*events) -> list[dict]:
    result = replay(enumerate([ev.subject_registered(), *events]))
    assert result.rejected == [], result.rejected
    return result.history[ev.COMPANY]


def record_ids(state: dict | None, collection: str = "penalties") -> set[str]:
    if state is None:
        return set()
    return {record["record_id"] for record in state["records"][collection].values()}


def file_record_ids(view: dict, collection: str = "penalties") -> set[str]:
    return {record["record_id"] for record in view["file"]["records"][collection]}


def event_types(view: dict) -> list[str]:
    return [entry["event"]["type"] for entry in view["history"]]


# --- valid time: the decision day --------------------------------------------------------------------
def test_a_decision_is_true_from_its_own_day_on():
    history = history_of(ev.penalty_imposed("P-1", DECIDED))
    assert record_ids(state_valid_at(history, "2025-03-09")) == set()
    assert record_ids(state_valid_at(history, DECIDED)) == {"P-1"}  # occurred_on == valid_at: included
    assert record_ids(state_valid_at(history, "2025-03-11")) == {"P-1"}


def test_a_subject_exists_from_the_day_it_was_registered():
    history = history_of()  # registered on 2020-01-02
    assert state_valid_at(history, "2020-01-01") is None
    assert state_valid_at(history, "2020-01-02")["subject"]["id"] == ev.COMPANY


def test_the_valid_time_view_shows_the_decision_and_its_event_on_the_day_itself():
    history = history_of(ev.penalty_imposed("P-1", DECIDED))
    before = bitemporal_view(history, None, "2025-03-09", today=TODAY)
    on = bitemporal_view(history, None, DECIDED, today=TODAY)
    after = bitemporal_view(history, None, "2025-03-11", today=TODAY)
    assert event_types(before) == ["SubjectRegistered"] and file_record_ids(before) == set()
    assert event_types(on) == ["SubjectRegistered", "PenaltyImposed"] and file_record_ids(on) == {"P-1"}
    assert event_types(after) == event_types(on) and file_record_ids(after) == {"P-1"}
    assert on["valid_at"] == DECIDED and on["as_of"] is None


# --- valid time: what later proved never true, or was corrected ------------------------------------------
def never_true_history() -> list[dict]:
    return history_of(
        ev.penalty_imposed("P-1", DECIDED), ev.penalty_imposed("P-2", DECIDED), ev.penalty_imposed("P-3", DECIDED),
        ev.permit_granted("X-1", DECIDED),
        ev.objection_filed("O-2", "P-2", "2025-03-12"),
        ev.penalty_revoked("P-1", "2025-04-15"),  # revoked on review
        ev.permit_revoked("X-1", "2025-04-15"),
        ev.objection_resolved("O-2", "P-2", "UPHELD_WITHDRAWN", "2025-04-20"))  # retracted


def test_a_record_revoked_later_was_never_true():
    history = never_true_history()
    for day in (DECIDED, "2025-03-20", "2025-04-14", "2025-04-15", "2025-06-01"):
        state = state_valid_at(history, day)
        assert "P-1" not in record_ids(state), day
        assert record_ids(state, "permits") == set(), day


def test_a_record_retracted_later_was_never_true():
    history = never_true_history()
    for day in (DECIDED, "2025-03-20", "2025-04-20", "2025-06-01"):
        assert "P-2" not in record_ids(state_valid_at(history, day)), day


def test_what_was_not_revoked_or_retracted_stays():
    history = never_true_history()
    assert record_ids(state_valid_at(history, "2025-03-20")) == {"P-3"}
    view = bitemporal_view(history, None, "2025-03-20", today=TODAY)
    assert file_record_ids(view) == {"P-3"} and file_record_ids(view, "permits") == set()


def test_a_revocation_not_yet_recorded_at_as_of_does_not_count():
    # known as of 2025-04-01, before the revocation and the retraction were recorded: all three stood
    history = never_true_history()
    view = bitemporal_view(history, "2025-04-01", "2025-03-20", today=TODAY)
    assert file_record_ids(view) == {"P-1", "P-2", "P-3"} and file_record_ids(view, "permits") == {"X-1"}


def test_a_later_correction_applies_to_what_was_true_before_it():
    history = history_of(ev.penalty_imposed("P-1", DECIDED), ev.penalty_imposed("P-2", DECIDED),
                         ev.objection_filed("O-1", "P-1", "2025-03-12"),
                         ev.objection_filed("O-2", "P-2", "2025-03-12"),
                         ev.objection_resolved("O-1", "P-1", "UPHELD_CORRECTED", "2025-04-20", correction=CORRECTION),
                         ev.objection_resolved("O-2", "P-2", "DISMISSED", "2025-04-20"))
    for day in (DECIDED, "2025-03-20", "2025-04-19"):
        penalties = {r["record_id"]: r for r in state_valid_at(history, day)["records"]["penalties"].values()}
        assert set(penalties) == {"P-1", "P-2"}, day
        assert penalties["P-1"]["correction"] == CORRECTION, day
        assert penalties["P-2"].get("correction") is None, day  # a dismissed objection corrects nothing
    view = bitemporal_view(history, None, "2025-03-20", today=TODAY)
    assert {r["record_id"]: r.get("correction") for r in view["file"]["records"]["penalties"]} == {
        "P-1": CORRECTION, "P-2": None}
    # as of before the correction was recorded, it was not known yet
    then = bitemporal_view(history, "2025-04-19", "2025-03-20", today=TODAY)
    assert {r["record_id"]: r.get("correction") for r in then["file"]["records"]["penalties"]} == {
        "P-1": None, "P-2": None}


# --- transaction time: the instant an event was recorded ---------------------------------------------
def test_as_of_includes_what_was_recorded_at_that_very_instant():
    history = history_of(ev.penalty_imposed("P-1", DECIDED))  # recorded at 10:00 that day
    recorded = datetime.fromisoformat(f"{DECIDED}T10:00:00+08:00")
    assert history[-1]["event"]["recorded_at"] == f"{DECIDED}T10:00:00+08:00"
    assert record_ids(state_as_of(history, recorded)) == {"P-1"}
    assert record_ids(state_as_of(history, recorded - timedelta(microseconds=1))) == set()
    for as_of, shown in ((f"{DECIDED}T10:00:00+08:00", {"P-1"}), (f"{DECIDED}T02:00:00Z", {"P-1"}),
                         (f"{DECIDED}T09:59:59.999999+08:00", set()), (DECIDED, set()), ("2025-03-11", {"P-1"})):
        view = bitemporal_view(history, as_of, None, today=TODAY)
        assert file_record_ids(view) == shown, as_of
        assert ("PenaltyImposed" in event_types(view)) == bool(shown), as_of


# --- replay --clock -------------------------------------------------------------------------------------
def listed_until(entry_id: str, term_until: str) -> dict:
    return ev.list_entered(entry_id, "2025-01-06", list_kind="OTHER_BLACKLIST", term_until=term_until)


def test_a_clock_given_as_a_date_is_midnight_in_shanghai():
    assert read_instant("2025-07-06", "--clock") == datetime(2025, 7, 6, 0, 0, tzinfo=SHANGHAI)


def test_replay_with_a_clock_fires_every_deadline_due_at_the_clocks_instant():
    # both terms run until 2025-07-05: they end, and their timers fire, at 2025-07-06 00:00 +08:00
    events = [ev.subject_registered(), listed_until("L-1", "2025-07-05"), listed_until("L-2", "2025-07-05")]
    result = replay(enumerate(events), clock=read_instant("2025-07-06", "--clock"))
    fired = result.history[ev.COMPANY][3:]
    assert result.fired == 2 and result.rejected == []
    assert [(e["event"]["type"], e["event"]["payload"]["entry_id"], e["event"]["recorded_at"]) for e in fired] == [
        ("ListTermEnded", "L-1", "2025-07-06T00:00:00+08:00"), ("ListTermEnded", "L-2", "2025-07-06T00:00:00+08:00")]
    just_before = replay(enumerate(events), clock=read_instant("2025-07-05T23:59:59.999999+08:00", "--clock"))
    assert just_before.fired == 0 and len(just_before.history[ev.COMPANY]) == 3


def test_an_event_recorded_at_a_deadlines_instant_comes_after_the_firing():
    # the timers fire everything due by an event's recorded_at before folding it, as the worker's would
    late = ev.penalty_imposed("P-1", "2025-07-04", recorded_at="2025-07-06T00:00:00+08:00")
    events = [ev.subject_registered(), listed_until("L-1", "2025-07-05"), late]
    result = replay(enumerate(events), clock=read_instant("2025-08-01", "--clock"))
    assert [(e["offset"], e["event"]["type"]) for e in result.history[ev.COMPANY]] == [
        (0, "SubjectRegistered"), (1, "ListEntered"), (2, "ListTermEnded"), (3, "PenaltyImposed")]
