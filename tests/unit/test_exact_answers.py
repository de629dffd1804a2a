"""Exact answers where the other tests only look for a word: the texts an operator or a caller reads
(a refused --as-of, a bad calendar override file), and the boundaries of the core's small functions.

Written for the mutants `make mutation` found surviving in projections/canonical.py, calendar.py,
ids.py and replay.py (docs/mutation.md): each test pins what such a slip would change.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from projections.calendar import parse_overrides
from projections.canonical import SHANGHAI, BadInstant, instant_text, read_instant
from projections.fold import INTERNAL_ERROR, QUARANTINED, REJECTED, internal_error
from projections.ids import (
    id_kind,
    make_resident_id,
    make_uscc,
    resident_id_check_char,
    resident_id_problems,
    uscc_problems,
)
from projections.policy import DEFAULT_POLICY, PolicyBook
from projections.replay import (
    INVALID,
    Step,
    bitemporal_view,
    fold_entries,
    quarantined,
    replay,
    state_as_of,
    state_valid_at,
    step,
)
from tests.unit import events as ev

# --- projections/canonical.py: what a refused instant says -------------------------------------------
IN_BOUNDS = "in 1949-10-01..2099-12-31 (Asia/Shanghai)"
INSTANT = "a date (2025-06-01) or an instant with its offset (2025-06-01T12:00:00+08:00)"
FORTY = "2025-06-01T12:00:00.000000+08:00:00.0000"  # a valid instant of INSTANT_CHARS_MAX (40) characters


@pytest.mark.parametrize("text, field, date_only, rule, message", [
    (5, "as_of", False, "instant", f"must be text: {INSTANT} {IN_BOUNDS}"),
    (None, "valid_at", True, "date", f"must be text: a date (2025-06-01) {IN_BOUNDS}"),
    ("x" * 40, "--at", False, "instant", f"'{'x' * 40}' is not {INSTANT} {IN_BOUNDS}"),
    ("x" * 41, "--at", False, "instant", f"'{'x' * 40}'… is not {INSTANT} {IN_BOUNDS}"),
    (FORTY + "0", "--clock", False, "instant", f"'{FORTY}'… is not {INSTANT} {IN_BOUNDS}"),
    ("2025-06-01T12:00:00", "as_of", False, "instant", f"'2025-06-01T12:00:00' has no offset: {INSTANT} {IN_BOUNDS}"),
    ("2100-01-01", "as_of", False, "range", "'2100-01-01' is outside 1949-10-01..2099-12-31 (Asia/Shanghai)"),
    ("2025-06-01T00:00:00+08:00", "valid_at", True, "date",
     f"'2025-06-01T00:00:00+08:00' is not a date (2025-06-01) {IN_BOUNDS}"),
])
def test_a_refused_instant_names_its_parameter_the_rule_and_the_form(text, field, date_only, rule, message):
    with pytest.raises(BadInstant) as raised:
        read_instant(text, field, date_only=date_only)
    error = raised.value
    assert (error.field, error.rule, error.message) == (field, rule, message)
    assert error.as_dict() == {"field": field, "rule": rule, "message": message}
    assert str(error) == f"{field}: {message}"


def test_the_parameter_is_called_instant_unless_named():
    with pytest.raises(BadInstant) as raised:
        read_instant(5)
    assert raised.value.field == "instant"


def test_an_instant_of_forty_characters_is_read():
    assert read_instant(FORTY, "--clock") == datetime(2025, 6, 1, 12, 0, tzinfo=SHANGHAI)


def test_an_instant_needs_a_time_zone_to_be_written():
    assert instant_text(datetime(2025, 6, 1, 4, 0, tzinfo=None).replace(tzinfo=SHANGHAI)) == "2025-06-01T04:00:00+08:00"
    with pytest.raises(ValueError, match="^an instant needs a time zone$"):
        instant_text(datetime(2025, 6, 1, 4, 0))


# --- projections/calendar.py: what a bad override file says -------------------------------------------
ANY_DAY = "expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD"


@pytest.mark.parametrize("text, message", [
    ('holidays = ["2027-01-01"]', "calendar overrides: top-level 'holidays' must be a [YYYY] year section"),
    ("2027 = 5", "calendar overrides: top-level '2027' must be a [YYYY] year section"),
    ('[2027]\nholiday = ["2027-01-01"]\nsource = "x"',
     "calendar overrides: [2027] unknown key(s) ['holiday']; expected holidays, workdays, source"),
    ('[2027]\nholidays = "2027-01-01"', "calendar overrides: [2027] holidays must be a list"),
    ('[2027]\nworkdays = "x"', "calendar overrides: [2027] workdays must be a list"),
    ("[2027]\nholidays = [5]", f"calendar overrides: [2027] holidays[0] '5' (line 2): bad date (not a date); {ANY_DAY}"),
    ("[2027]\nholidays = [1e3]",  # '1000.0' stands on no line of the file: no line is named
     f"calendar overrides: [2027] holidays[0] '1000.0': bad date (not a date); {ANY_DAY}"),
    ('# 2027\n[2027]\nsource = "notice"\nholidays = [\n  "2027-01-01",\n  "2027-02-11..2027-02-05",\n]',
     "calendar overrides: [2027] holidays[1] '2027-02-11..2027-02-05' (line 6): range ends before it starts"),
    ('[2027]\nholidays = ["2026-12-31"]',
     "calendar overrides: [2027] holidays[0] '2026-12-31' (line 2): date outside its year section [2027]"),
    ('[2027]\nholidays = ["2026-12-31..2027-01-02"]',  # starts before its year
     "calendar overrides: [2027] holidays[0] '2026-12-31..2027-01-02' (line 2): date outside its year section [2027]"),
    ('[2027]\nholidays = ["2027-12-30..2028-01-02"]',  # ends after it
     "calendar overrides: [2027] holidays[0] '2027-12-30..2028-01-02' (line 2): date outside its year section [2027]"),
    ('[2027]\nworkdays = ["2027-02-10"]',
     "calendar overrides: [2027] workdays 2027-02-10 is a 星期三; 调休 workdays are weekend days"),
    ('[2027]\nholidays = ["2027-02-13..2027-02-14"]\nworkdays = ["2027-02-14", "2027-02-13"]',
     "calendar overrides: [2027] ['2027-02-13', '2027-02-14'] both holiday and workday"),
])
def test_a_bad_override_file_is_refused_with_the_exact_reason(text, message):
    with pytest.raises(ValueError) as raised:
        parse_overrides(text)
    assert str(raised.value) == message


def test_a_file_that_is_no_toml_is_refused_with_the_parsers_reason():
    with pytest.raises(ValueError) as raised:
        parse_overrides("[2027\n")
    prefix = "calendar overrides: not valid TOML: "
    assert str(raised.value).startswith(prefix) and "line 1" in str(raised.value)[len(prefix):]


def test_override_sections_come_out_by_year_with_their_source():
    overrides = parse_overrides('[2028]\nsource = "国务院办公厅 2028"\nworkdays = [2028-01-29]\n[2027]\n')
    assert [(s.year, s.source) for s in overrides.years] == [(2027, ""), (2028, "国务院办公厅 2028")]
    assert overrides.years[1].workdays == frozenset({date(2028, 1, 29)})


# --- projections/ids.py: what a bad code is told, and the shape rules ---------------------------------
GB11643 = "(GB 11643-1999)"


@pytest.mark.parametrize("code, today, problems", [
    ("1101051949123100A2", None, [f"character 17 'A': positions 1-17 must be digits {GB11643}"]),
    ("11010519491231002x", None, [f"character 18 'x': the check character X must be uppercase {GB11643}"]),
    ("11010519491231002Y", None, [f"character 18 'Y': the check character must be a digit or X {GB11643}"]),
    ("11010519491231002:", None, [f"character 18 ':': the check character must be a digit or X {GB11643}"]),
    # no digit of the number, the birth date or the check character expected is quoted (issue 28)
    ("110105199902300021", None, [f"characters 7-14: the birth date is not a calendar date {GB11643}",
                                  f"character 18: the check character does not match characters 1-17 {GB11643}"]),
    ("410105203001010125", date(2025, 1, 1), [f"characters 7-14: the birth date is after today {GB11643}"]),
    ("１１０１０５１９４９１２３１００２X", None,
     [f"character {i}, a digit of another script than ASCII 0-9: positions 1-17 must be digits {GB11643}"
      for i in range(1, 18)]),
    ("410105203001010125", date(2030, 1, 1), []),  # born today
])
def test_resident_id_problems_are_exact(code, today, problems):
    assert resident_id_problems(code, today=today) == problems


def test_a_character_that_cannot_be_printed_is_shown_escaped():
    from projections.ids import _uscc_problems
    _uscc_problems.cache_clear()  # computed here, not remembered from an earlier test
    assert uscc_problems("91440300192203821\x00") == [
        "character 18 '\\x00': not in the code alphabet (digits and capitals except I, O, Z, S, V) (GB 32100-2015)"]


@pytest.mark.parametrize("code, kind", [
    ("1101051949123100２X", "USCC"),  # a full-width digit is no ASCII digit
    ("11010519491231002Ｘ", "RESIDENT_ID"),  # only positions 1-17 decide
    ("91110108MA011015XY", "USCC"),  # a month and a day in positions 11-14, but letters before
    ("110105194913310021", "USCC"),  # month 13
    ("110105194912320021", "USCC"),  # day 32
    ("110105180001010021", "RESIDENT_ID"),  # born in the 1800s
])
def test_id_kind_by_shape(code, kind):
    assert id_kind(code) == kind


@pytest.mark.parametrize("call, message", [
    (lambda: make_uscc("41010a", 1), "region_code must be 6 digits, got '41010a'"),
    (lambda: make_uscc("410105", -1), "serial must not be negative"),
    (lambda: make_uscc("410105", 31**6), "serial must be below 887503681"),  # "MA" + 6 of 31 characters
    (lambda: make_uscc("410100", 10**8, "1", "1"), "serial must be below 100000000"),  # 8 digits
    (lambda: make_uscc("410105", 1, "Z", "X"), "no category 'X' under registration authority 'Z'"),
    (lambda: make_resident_id("41010a", date(1990, 1, 1), 1), "region_code must be 6 digits, got '41010a'"),
    (lambda: make_resident_id("410105", date(1990, 1, 1), 1000), "serial must be 0-999"),
    (lambda: make_resident_id("410105", date(1990, 1, 1), -1), "serial must be 0-999"),
])
def test_generators_refuse_with_the_exact_reason(call, message):
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


def test_the_last_serials_of_each_space_are_valid():
    for code in (make_uscc("410105", 31**6 - 1), make_uscc("410100", 10**8 - 1, "1", "1")):
        assert uscc_problems(code) == [], code


def test_gb_11714_values_letters_by_their_place_in_the_latin_alphabet():
    from projections.ids import _org_value
    assert [_org_value(ch) for ch in "09AMYZ"] == [0, 9, 10, 22, 34, 35]


def test_check_characters_are_asked_only_of_17_digits():
    with pytest.raises(AssertionError):
        resident_id_check_char("1101051949123100A")
    with pytest.raises(AssertionError):
        resident_id_check_char("1101051949123100")


# --- projections/replay.py: one step, its failures, and the policy each fold is given --------------------
def _longer_publicity_from_march_2025() -> PolicyBook:
    """From 2025-03-01 a repair waits 6 months of publicity, not 3: the fold's verdicts depend on the book."""
    longer = replace(DEFAULT_POLICY, version="2025.1", effective_from="2025-03-01",
                     min_publicity_months_by_severity={"GENERAL": 6, "SERIOUS": 6, "SEVERE": 12})
    return PolicyBook((DEFAULT_POLICY, longer))


def _repair_history(*more: dict) -> list[dict]:
    """A repair requested in March 2025 of a penalty fulfilled in October 2024: accepted under the 2024
    policy alone (3 months passed), refused under the book (6 months have not). Then `more`."""
    events = [ev.subject_registered(), ev.penalty_imposed("P-1", "2024-10-15"), ev.penalty_fulfilled("P-1", "2024-10-15"),
              ev.repair_requested("R-1", "P-1", "2025-03-10"), *more]
    result = replay(enumerate(events))
    assert result.rejected == []
    return result.history[ev.COMPANY]


def test_every_refold_applies_the_policy_book_it_is_given():
    history, book = _repair_history(), _longer_publicity_from_march_2025()
    assert list(fold_entries(history)[0]["repairs"]) == [ev.key_of("R-1")]
    assert fold_entries(history, book)[0]["repairs"] == {}
    assert state_as_of(history, datetime(2026, 1, 1, tzinfo=SHANGHAI), book)["repairs"] == {}
    assert state_valid_at(history, "2025-12-01", book)["repairs"] == {}
    for as_of, valid_at in ((None, None), ("2026-01-01", None), (None, "2025-12-01")):
        view = bitemporal_view(history, as_of, valid_at, book, today="2025-12-01")
        assert view["file"]["pending"]["repairs"] == [], (as_of, valid_at)


def test_a_refold_keeps_each_events_offset():
    history = _repair_history()
    state, left_out = fold_entries(history)
    assert left_out == [] and state["as_of"] == {"offset": 3, "recorded_at": "2025-03-10T10:00:00+08:00"}
    assert state["records"]["penalties"][ev.key_of("P-1")]["offset"] == 1


@pytest.fixture()
def plant_fold_bug(monkeypatch):
    """Plants a bug in the fold (when called): it raises on the entry at `offset`, whatever the state."""
    from projections import replay as module

    real = module.fold

    def plant(offset: int = 2):
        def fold(state, event, at, *args, **kwargs):
            if at == offset:
                raise ZeroDivisionError("a bug planted by the test")
            return real(state, event, at, *args, **kwargs)
        monkeypatch.setattr(module, "fold", fold)
    return plant


def test_a_refold_leaves_out_the_entries_it_raises_on(plant_fold_bug):
    history = _repair_history()  # offset 2: the penalty fulfilled
    plant_fold_bug()
    state, left_out = fold_entries(history)
    assert left_out == [2]
    assert state["as_of"]["offset"] == 3 and state["records"]["penalties"][ev.key_of("P-1")]["fulfilled"] is False
    view = bitemporal_view(history, None, None, today="2025-12-01")
    assert view["unshown"] == [{"offset": 2, "why": "folding this event raised; the file is shown without it"}]
    assert [p["record_id"] for p in view["file"]["records"]["penalties"]] == ["P-1"]


def test_a_refold_that_leaves_an_entry_out_still_applies_the_policy_book(plant_fold_bug):
    history = _repair_history(ev.permit_granted("X-1", "2025-03-11"))  # offset 4: the permit
    book = _longer_publicity_from_march_2025()
    plant_fold_bug(4)
    state, left_out = fold_entries(history, book)
    assert left_out == [4] and state["records"]["permits"] == {}
    assert state["repairs"] == {}  # the repair refused under the 2025 policy
    state, left_out = fold_entries(history)
    assert left_out == [4] and list(state["repairs"]) == [ev.key_of("R-1")]  # and accepted under 2024's


def test_a_replay_with_a_clock_folds_under_the_policy_book():
    events = [entry["event"] for entry in _repair_history()]
    result = replay(enumerate(events), policy=_longer_publicity_from_march_2025(),
                    clock=datetime(2025, 3, 11, tzinfo=SHANGHAI))
    assert [r["reasons"][0]["rule"] for r in result.rejected] == ["min_publicity_not_reached"]


def test_a_view_names_the_parameter_it_refuses():
    history = _repair_history()
    for as_of, valid_at, field, rule in (("soon", None, "as_of", "instant"),
                                         (None, "2025-03-10T00:00:00+08:00", "valid_at", "date")):
        with pytest.raises(BadInstant) as raised:
            bitemporal_view(history, as_of, valid_at, today="2025-12-01")
        assert (raised.value.field, raised.value.rule) == (field, rule)


def test_a_view_as_of_an_instant_grades_on_that_instants_day_in_shanghai():
    book = PolicyBook((DEFAULT_POLICY, replace(DEFAULT_POLICY, version="2025.1", effective_from="2025-07-01")))
    history = replay(enumerate([ev.subject_registered()]), policy=book).history[ev.COMPANY]
    view = bitemporal_view(history, "2025-06-30T17:00:00+00:00", None, book, today="2025-01-01")  # 07-01 01:00 +08:00
    assert view["as_of"] == "2025-07-01T01:00:00+08:00" and view["valid_at"] is None
    assert view["file"]["grade"]["policy_version"] == "2025.1"


def _no_recorded_at() -> dict:
    event = ev.penalty_imposed("P-1")
    del event["recorded_at"]
    return event


def test_an_event_without_recorded_at_is_invalid_in_the_log_whatever_the_clock():
    # the log's events are judged against their own recorded_at; without one, against 1970-01-01
    done = step(lambda _: None, _no_recorded_at(), 3)
    assert (done.outcome, done.subject_id, done.state, done.event) == (INVALID, ev.COMPANY, None, None)
    assert {(p.field, p.rule) for p in done.problems} == {("recorded_at", "required"), ("occurred_on", "not_in_future")}
    assert step(lambda _: None, {**_no_recorded_at(), "subject": {"id": 7}}, 3).subject_id is None
    assert step(lambda _: None, [], 3).subject_id is None


def test_a_step_derives_deadlines_only_when_asked_and_only_for_an_applied_event():
    before = step(lambda _: None, ev.subject_registered(), 0).state
    listed = ev.list_entered("L-1", "2025-01-06", list_kind="OTHER_BLACKLIST", term_until="2025-07-05")
    assert step(lambda _: before, listed, 1).deadlines == ()
    done = step(lambda _: before, listed, 1, deadlines=True)
    assert [(d.kind, d.due_on, d.fires_at) for d in done.deadlines] == [("LIST_TERM", "2025-07-05", "2025-07-06T00:00:00+08:00")]
    refused = step(lambda _: done.state, ev.penalty_fulfilled("P-9"), 2, deadlines=True)
    assert refused.outcome == REJECTED and refused.deadlines == ()


def test_a_step_whose_fold_raises_is_quarantined_with_the_state_before_it(plant_fold_bug):
    before = step(lambda _: None, ev.subject_registered(), 0).state
    event = ev.penalty_imposed("P-1")
    plant_fold_bug()
    done = step(lambda _: before, event, 2)
    assert (done.outcome, done.subject_id, done.event) == (QUARANTINED, ev.COMPANY, event)
    assert done.state is before
    assert [(p.rule, p.message) for p in done.problems] == [(INTERNAL_ERROR, "ZeroDivisionError: a bug planted by the test")]


def test_quarantined_sets_a_step_aside_with_the_state_before_it():
    before = step(lambda _: None, ev.subject_registered(), 0).state
    done = step(lambda _: before, ev.penalty_imposed("P-1"), 1)
    error = ZeroDivisionError("deadlines")
    assert quarantined(done, before, error) == Step(QUARANTINED, ev.COMPANY, before, done.event,
                                                    (internal_error(error),))


def test_a_replay_sets_aside_an_event_whose_deadlines_raise(monkeypatch):
    from projections import replay as module

    def raising(state, policy):
        raise ZeroDivisionError("a bug planted by the test")
    monkeypatch.setattr(module, "pending_deadlines", raising)
    result = replay(enumerate([ev.subject_registered()]))
    assert result.quarantined == 1 and result.states[ev.COMPANY] is None


def test_a_replay_with_a_clock_reads_natural_persons_with_the_key():
    registered = ev.event("SubjectRegistered", {"region_code": "410105", "registered_on": "2020-01-02"},
                          subject=ev.person(), occurred_on="2020-01-02", recorded_at="2020-01-02T10:00:00+08:00")
    result = replay(enumerate([registered]), ev.KEY, clock=datetime(2025, 1, 1, tzinfo=SHANGHAI))
    assert result.rejected == [] and len(result.history) == 1


def test_replay_timers_fire_under_the_policy_book():
    book = _longer_publicity_from_march_2025()
    events = [ev.subject_registered(),
              ev.list_entered("L-1", "2025-01-06", list_kind="OTHER_BLACKLIST", term_until="2025-07-05")]
    result = replay(enumerate(events), policy=book, clock=datetime(2025, 8, 1, tzinfo=SHANGHAI))
    assert result.fired == 1 and result.rejected == []


def test_what_proved_never_true_is_judged_under_the_policy_book():
    # the credit office resolves objections under the 2024 policy; in this book, from 2025-03-01, it may not
    narrower = replace(DEFAULT_POLICY, version="2025.1", effective_from="2025-03-01",
                       credit_office_acts_on=DEFAULT_POLICY.credit_office_acts_on - {"ObjectionResolved"})
    withdrawn = {**ev.objection_resolved("O-1", "P-1", "UPHELD_WITHDRAWN", "2025-04-21"),
                 "source": ev.CREDIT_OFFICE_SOURCE}
    events = [ev.subject_registered(), ev.penalty_imposed("P-1", "2025-03-10"), ev.objection_filed("O-1", "P-1", "2025-03-12"),
              withdrawn]
    history = replay(enumerate(events)).history[ev.COMPANY]
    assert len(history) == 4  # under the 2024 policy alone, the withdrawal applied
    penalties = lambda state: {r["record_id"] for r in state["records"]["penalties"].values()}  # noqa: E731
    assert penalties(state_valid_at(history, "2025-03-20")) == set()  # retracted: never true
    assert penalties(state_valid_at(history, "2025-03-20", PolicyBook((DEFAULT_POLICY, narrower)))) == {"P-1"}


def test_a_timer_firing_derives_the_next_deadlines_under_the_policy_book():
    # from 2025-03-01 an objection must be accepted within 1 working day, not 2. The list term ends first
    # (fires 03-11 00:00); the deadlines derived after that firing keep the book's 1 day: due 03-11, fired 03-12.
    faster = replace(DEFAULT_POLICY, version="2025.1", effective_from="2025-03-01",
                     objection_acceptance_working_days=1, objection_decision_working_days=2)
    events = [ev.subject_registered(), ev.penalty_imposed("P-1", "2025-01-06"),
              ev.list_entered("L-1", "2025-01-06", list_kind="OTHER_BLACKLIST", term_until="2025-03-10"),
              ev.objection_filed("O-1", "P-1", "2025-03-10")]
    result = replay(enumerate(events), policy=PolicyBook((DEFAULT_POLICY, faster)),
                    clock=datetime(2025, 3, 20, tzinfo=SHANGHAI))
    assert [(e["event"]["type"], e["event"]["recorded_at"]) for e in result.history[ev.COMPANY][4:]] == [
        ("ListTermEnded", "2025-03-11T00:00:00+08:00"), ("ProcessingOverdue", "2025-03-12T00:00:00+08:00")]


def test_a_replay_stops_past_the_bound_on_timer_firings(monkeypatch):
    from projections import replay as module

    events = [ev.subject_registered()] + [
        ev.list_entered(f"L-{n}", "2025-01-06", list_kind="OTHER_BLACKLIST", term_until="2025-07-05") for n in (1, 2)]
    monkeypatch.setattr(module, "TIMER_FIRINGS_MAX", 2)
    assert replay(enumerate(events), clock=datetime(2025, 8, 1, tzinfo=SHANGHAI)).fired == 2
    monkeypatch.setattr(module, "TIMER_FIRINGS_MAX", 1)
    with pytest.raises(RuntimeError) as raised:
        replay(enumerate(events), clock=datetime(2025, 8, 1, tzinfo=SHANGHAI))
    assert str(raised.value) == "more than 1 timer firings in one replay"


# --- projections/verification.py: what a malformed digest file is told ------------------------------------
HEX, GENESIS = "a" * 64, "0" * 64


def _one_partition(body) -> dict:
    return {"format": 1, "topic": "t", "partitions": {"0": body}}


def _subjects(subjects) -> dict:
    return {"format": 1, "topic": "t", "partitions": {}, "subjects": subjects}


RECORD_FORM = "partitions.0.records[0]: must be [offset, 64 hex digits, event id or null]"
OFFSET_FORM = "partitions.0.offset: must be a whole number >= -1"
CHAIN_FORM = "subjects.s: must be {length: a whole number >= 1, head: 64 hex digits}"


@pytest.mark.parametrize("document, message", [
    ([], "$: not a JSON object"),
    ({"format": 2, "topic": "t", "partitions": {}}, "format: must be 1, got 2"),
    ({"format": 1, "partitions": {}}, "topic: must be a topic name"),
    ({"format": 1, "topic": "", "partitions": {}}, "topic: must be a topic name"),
    ({"format": 1, "topic": "t", "partitions": []}, "partitions: must be an object {partition: {offset, root, records}}"),
    ({"format": 1, "topic": "t", "partitions": {"01": {}}}, "partitions.01: a partition is a whole number"),
    ({"format": 1, "topic": "t", "partitions": {"1234567890": {}}}, "partitions.1234567890: a partition is a whole number"),
    (_one_partition([]), "partitions.0: must be an object {offset, root, records}"),
    (_one_partition({"offset": "1", "root": HEX}), OFFSET_FORM),
    (_one_partition({"offset": True, "root": HEX}), OFFSET_FORM),
    (_one_partition({"offset": -2, "root": HEX}), OFFSET_FORM),
    (_one_partition({"offset": 0, "root": HEX.upper()}), "partitions.0.root: must be 64 lower-case hex digits"),
    (_one_partition({"offset": -1, "root": HEX}), "partitions.0.root: an empty partition (offset -1) has the genesis root"),
    (_one_partition({"offset": 0, "root": HEX, "records": {}}),
     "partitions.0.records: must be a list of [offset, fingerprint, event id or null]"),
    (_one_partition({"offset": 0, "root": HEX, "records": [[0, HEX]]}), RECORD_FORM),
    (_one_partition({"offset": 0, "root": HEX, "records": [[True, HEX, None]]}), RECORD_FORM),
    (_one_partition({"offset": 0, "root": HEX, "records": [[0, 5, None]]}), RECORD_FORM),
    (_one_partition({"offset": 0, "root": HEX, "records": [[0, "z" * 64, None]]}), RECORD_FORM),
    (_one_partition({"offset": 0, "root": HEX, "records": [[0, HEX, 7]]}), RECORD_FORM),
    (_one_partition({"offset": 0, "root": HEX, "records": [(0, HEX, None)]}), RECORD_FORM),
    (_one_partition({"offset": 1, "root": HEX, "records": [[1, HEX, None], [1, HEX, None]]}),
     "partitions.0.records[1]: offset 1 does not follow 1"),
    (_one_partition({"offset": 1, "root": HEX, "records": [[0, HEX, None]]}),
     "partitions.0.records: the last record's offset (0) is not the partition's (1)"),
    (_subjects([]), "subjects: must be an object {subject id: {length, head}}"),
    (_subjects({"s": {"length": 0, "head": HEX}}), CHAIN_FORM),
    (_subjects({"s": {"length": True, "head": HEX}}), CHAIN_FORM),
    (_subjects({"s": {"length": 1, "head": "x"}}), CHAIN_FORM),
    (_subjects({"s": [1, HEX]}), CHAIN_FORM),
])
def test_a_malformed_digest_file_is_refused_with_the_exact_reason(document, message):
    from projections.verification import DigestFileError, load_digest
    with pytest.raises(DigestFileError) as raised:
        load_digest(document)
    assert str(raised.value) == message


def test_a_well_formed_digest_file_is_read_as_it_stands():
    from projections.verification import SavedDigest, SavedPartition, load_digest
    records = [[0, HEX, "e"], [1, HEX, None]]
    document = {"format": 1, "topic": "t", "exported_at": 5, "subjects": {"s": {"length": 1, "head": HEX}},
                "partitions": {"123456789": {"offset": -1, "root": GENESIS}, "0": {"offset": 1, "root": HEX, "records": records}}}
    assert load_digest(document) == SavedDigest(
        "t", None, {123456789: SavedPartition(-1, GENESIS), 0: SavedPartition(1, HEX, records)}, {"s": (1, HEX)})
    assert load_digest({**document, "exported_at": "2026-01-05T10:00:00+08:00"}).exported_at == "2026-01-05T10:00:00+08:00"
    assert load_digest({"format": 1, "topic": "t", "partitions": {}}).subjects is None


def test_the_record_limit_counts_every_partitions_records(monkeypatch):
    from projections import verification as v
    monkeypatch.setattr(v, "RECORDS_PER_FILE_MAX", 2)
    two = {"format": 1, "topic": "t", "partitions": {
        "0": {"offset": 0, "root": HEX, "records": [[0, HEX, None]]},
        "1": {"offset": 0, "root": HEX, "records": [[0, HEX, None]]}}}
    assert len(v.load_digest(two).partitions) == 2
    three = {**two, "partitions": {**two["partitions"], "2": {"offset": 0, "root": HEX, "records": [[0, HEX, None]]}}}
    with pytest.raises(v.DigestFileError) as raised:
        v.load_digest(three)
    assert str(raised.value) == "partitions: more than 2 records"
