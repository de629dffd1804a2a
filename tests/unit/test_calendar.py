"""The working calendar against the State Council's published schedules (国务院办公厅
关于2024/2025/2026年部分节假日安排的通知), the fallback year and the override file."""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.calendar import (
    WORKING_DAYS_MAX, OFFICIAL_YEARS, Due, Overrides, WorkingCalendar, add_months, deadline_instant,
    _official_workday, format_due, parse_overrides,
)
from tests.helpers import REPO

CAL = WorkingCalendar()
FALLBACK_YEAR = 2027  # move these tests when chinesecalendar publishes 2027


def d(text: str) -> date:
    return date.fromisoformat(text)


def span(first: str, last: str) -> list[date]:
    return [d(first) + timedelta(days=i) for i in range((d(last) - d(first)).days + 1)]


# year -> (holiday weeks, 调休 working weekend days), typed in from the notices
OFFICIAL = {
    2024: ([("2024-01-01", "2024-01-01"), ("2024-02-10", "2024-02-17"), ("2024-04-04", "2024-04-06"),
            ("2024-05-01", "2024-05-05"), ("2024-06-10", "2024-06-10"), ("2024-09-15", "2024-09-17"),
            ("2024-10-01", "2024-10-07")],
           ["2024-02-04", "2024-02-18", "2024-04-07", "2024-04-28", "2024-05-11", "2024-09-14",
            "2024-09-29", "2024-10-12"]),
    2025: ([("2025-01-01", "2025-01-01"), ("2025-01-28", "2025-02-04"), ("2025-04-04", "2025-04-06"),
            ("2025-05-01", "2025-05-05"), ("2025-05-31", "2025-06-02"), ("2025-10-01", "2025-10-08")],
           ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"]),
    2026: ([("2026-01-01", "2026-01-03"), ("2026-02-15", "2026-02-23"), ("2026-04-04", "2026-04-06"),
            ("2026-05-01", "2026-05-05"), ("2026-06-19", "2026-06-21"), ("2026-09-25", "2026-09-27"),
            ("2026-10-01", "2026-10-07")],
           ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]),
}


@pytest.mark.parametrize("year", sorted(OFFICIAL))
def test_every_day_of_an_official_year_matches_the_notice(year):
    weeks, workdays = OFFICIAL[year]
    holidays = {day for first, last in weeks for day in span(first, last)}
    assert all(d(w).weekday() >= 5 for w in workdays)  # 调休 days are Saturdays and Sundays
    for day in span(f"{year}-01-01", f"{year}-12-31"):
        expected = day in {d(w) for w in workdays} or (day.weekday() < 5 and day not in holidays)
        assert CAL.is_working_day(day) is expected, day
        assert not CAL.is_provisional(day)


@pytest.mark.parametrize("start, n, due", [
    ("2024-09-27", 7, "2024-10-12"),  # Fri; 9/29 (Sun) works, 10/1-7 rest, 10/12 (Sat) works and is the 7th
    ("2025-01-24", 7, "2025-02-10"),  # 1/26 (Sun), 1/27, then 2/5-2/7, 2/8 (Sat), 2/10
    ("2026-02-13", 5, "2026-02-27"),  # 2/14 (Sat) works, 2/15-23 rest
    ("2024-03-04", 1, "2024-03-05"),  # the day of the event (a working Monday) is not counted
    ("2024-03-08", 1, "2024-03-11"),  # Friday + 1 skips the weekend
    ("2024-10-01", 1, "2024-10-08"),  # starting on a holiday
    ("2025-01-28", 1, "2025-02-05"),  # starting on 除夕
    ("2024-02-03", 1, "2024-02-04"),  # Saturday + 1 is the 调休 Sunday
])
def test_official_deadlines(start, n, due):
    assert CAL.add_working_days(d(start), n) == Due(d(due), provisional=False)


def test_a_deadline_ends_at_24_00_shanghai():
    instant = deadline_instant(d("2024-10-12"))
    assert instant == datetime(2024, 10, 13, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    assert instant.utcoffset() == timedelta(hours=8) and instant.isoformat() == "2024-10-13T00:00:00+08:00"
    assert instant == datetime(2024, 10, 12, 16, 0, tzinfo=timezone.utc)
    assert CAL.add_working_days(d("2024-09-27"), 7).ends_at == instant


@pytest.mark.parametrize("n", [0, -1, WORKING_DAYS_MAX + 1])
def test_working_days_out_of_range_are_refused(n):
    with pytest.raises(ValueError, match="working days"):
        CAL.add_working_days(d("2024-01-02"), n)


def test_the_fallback_year_is_weekends_plus_fixed_statutory_days_and_provisional():
    assert FALLBACK_YEAR not in OFFICIAL_YEARS, "chinesecalendar now covers 2027: test the next year"
    fixed = {d(x) for x in ("2027-01-01", "2027-05-01", "2027-05-02", "2027-10-01", "2027-10-02", "2027-10-03")}
    for day in span("2027-01-01", "2027-12-31"):
        assert CAL.is_working_day(day) is (day.weekday() < 5 and day not in fixed), day
        assert CAL.is_provisional(day)
    assert CAL.add_working_days(d("2027-09-29"), 3) == Due(d("2027-10-05"), provisional=True)  # 10/1 Fri rests


def test_a_deadline_crossing_into_the_fallback_year_is_provisional():
    assert CAL.add_working_days(d("2026-12-30"), 3) == Due(d("2027-01-05"), provisional=True)
    assert CAL.add_working_days(d("2026-12-29"), 2) == Due(d("2026-12-31"), provisional=False)


OVERRIDE_2027 = """
# 国务院办公厅关于2027年部分节假日安排的通知 (test fixture, invented dates)
[2027]
source = "test"
holidays = ["2027-10-01..2027-10-07", "2027-10-05..2027-10-06", 2027-01-01]  # overlaps are fine
workdays = ["2027-09-26", "2027-10-09"]
"""


def test_an_override_makes_the_year_official_and_changes_the_result():
    cal = WorkingCalendar(parse_overrides(OVERRIDE_2027))
    assert cal.add_working_days(d("2027-09-29"), 3) == Due(d("2027-10-09"), provisional=False)
    assert cal.is_working_day(d("2027-09-26")) and not cal.is_working_day(d("2027-10-07"))
    assert cal.is_working_day(d("2027-05-03")) and not cal.is_provisional(d("2027-05-03"))
    # a section defines its year: no fallback holiday is assumed (May 1-2 2027 are a weekend anyway)
    assert WorkingCalendar(parse_overrides("[2027]\n")).is_working_day(d("2027-10-01"))
    assert cal.is_provisional(d("2028-01-03"))  # the next year is still the fallback


def test_overrides_take_precedence_in_a_covered_year():
    cal = WorkingCalendar(parse_overrides('[2026]\nholidays = ["2026-10-09"]\nworkdays = ["2026-10-03"]'))
    assert not cal.is_working_day(d("2026-10-09")) and cal.is_working_day(d("2026-10-03"))
    assert cal.is_working_day(d("2026-10-10")) and not cal.is_working_day(d("2026-10-04"))  # the rest: chinesecalendar
    assert CAL.add_working_days(d("2026-10-08"), 1).due_on == d("2026-10-09")
    assert cal.add_working_days(d("2026-10-08"), 1).due_on == d("2026-10-10")


def test_the_example_override_file_parses():
    overrides = parse_overrides((REPO / "ops" / "calendar_overrides.example.toml").read_text(encoding="utf-8"))
    assert [s.year for s in overrides.years] == [2027] and "EXAMPLE" in overrides.years[0].source
    assert not WorkingCalendar(overrides).is_provisional(d("2027-06-01"))


@pytest.mark.parametrize("text, problem", [
    ('[2027]\nholidays = ["2027-02-30"]', r"holidays\[0\] '2027-02-30' \(line 2\): bad date"),
    ('[2027]\nholidays = ["2027-2-5"]', "bad date"),
    ('[2027]\nholidays = [5]', "bad date"),
    ('[2027]\nholidays = "2027-01-01"', "holidays must be a list"),
    ('[2027]\nholidays = ["2026-12-31"]', r"outside its year section \[2027\]"),
    ('[2027]\nholidays = ["2027-12-30..2028-01-02"]', "outside its year section"),
    ('[2027]\nholidays = ["2027-02-11..2027-02-05"]', "ends before it starts"),
    ('[2027]\nholidays = ["2027-02-05..2027-02-14"]\nworkdays = ["2027-02-13"]', "both holiday and workday"),
    ('[2027]\nworkdays = ["2027-02-10"]', "is a 星期三; 调休 workdays are weekend days"),
    ('[2027]\nholiday = ["2027-01-01"]', r"unknown key\(s\) \['holiday'\]"),
    ('holidays = ["2027-01-01"]', "year section"),
    ('[2027\n', "not valid TOML"),
])
def test_override_errors_name_the_problem(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_overrides(text)


def test_values_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CAL.overrides = Overrides()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Due(d("2024-01-02"), False).due_on = d("2024-01-03")  # type: ignore[misc]


def test_format_due():
    assert format_due(Due(d("2024-10-11"), False)) == "2024-10-11 (星期五)"
    assert format_due(Due(d("2027-01-05"), True)) == "2027-01-05 (星期二)（暂定 provisional）"


@pytest.mark.parametrize("start, months, result", [
    ("2024-11-30", 3, "2025-02-28"), ("2024-02-29", 12, "2025-02-28"), ("2024-01-31", 1, "2024-02-29"),
    ("2024-05-15", 36, "2027-05-15"), ("2024-03-31", -1, "2024-02-29"), ("2024-12-31", 0, "2024-12-31"),
])
def test_add_months_clamps_to_the_month_end(start, months, result):
    assert add_months(d(start), months) == d(result)


@settings(max_examples=200, deadline=None)
@given(start=st.dates(date(2003, 1, 1), date(2028, 12, 31)), n=st.integers(1, 40))
def test_add_working_days_properties(start, n):
    due, next_due = CAL.add_working_days(start, n), CAL.add_working_days(start, n + 1)
    assert start < due.due_on < next_due.due_on  # strictly increasing in n
    assert CAL.is_working_day(due.due_on)  # never lands on a rest day
    between = [start + timedelta(days=i) for i in range(1, (due.due_on - start).days)]
    assert sum(CAL.is_working_day(x) for x in between) == n - 1
    assert due.provisional == any(CAL.is_provisional(x) for x in [*between, due.due_on])


def test_the_official_rule_is_chinesecalendars_on_every_day_it_covers():
    day, last = date(OFFICIAL_YEARS.start, 1, 1), date(OFFICIAL_YEARS.stop - 1, 12, 31)
    checked = 0
    while day <= last:
        assert _official_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
        checked += 1
    assert checked > 365 * 10  # 2004 onwards
