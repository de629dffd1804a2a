"""Working days on the official PRC calendar, and when deadlines end.

Pure: no I/O; callers pass the override file's text to `parse_overrides`.

How a day is decided, first match wins:
1. the operator overrides (a State Council notice typed in, see
   ops/calendar_overrides.example.toml): a listed holiday rests, a listed workday
   works. They take precedence day by day, also in years chinesecalendar covers,
   so a late correction needs only the days that changed;
2. chinesecalendar, for the years it covers (`OFFICIAL_YEARS`): holidays and 调休;
3. a year with an override section but no listed status for the day: weekends rest;
4. otherwise the FALLBACK: weekends and the fixed-date statutory holidays of the
   2025 rules (Jan 1; May 1-2; Oct 1-3) rest. The lunar holidays (春节 除夕-初三,
   清明, 端午, 中秋) and the 调休 days are unknown until the notice is published
   (neither the stdlib nor chinesecalendar gives lunar dates for such a year), so
   a day decided here is PROVISIONAL.
A day is provisional iff its year is covered neither by chinesecalendar nor by an
override section.
"""
from __future__ import annotations

import calendar as _gregorian
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import chinese_calendar

from projections.canonical import SHANGHAI  # a fixed offset: China has no DST

WORKING_DAYS_MAX = 3660  # ~14 years: far above any legal period; bounds the walk
OFFICIAL_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
FALLBACK_HOLIDAYS_MMDD = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})
WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


@dataclass(frozen=True)
class YearSchedule:
    year: int
    holidays: frozenset[date]  # rest days (the weekends inside a holiday week may be listed too)
    workdays: frozenset[date]  # 调休: weekend days that are working days
    source: str = ""  # e.g. the notice's title and number, for the audit trail


@dataclass(frozen=True)
class Overrides:
    years: tuple[YearSchedule, ...] = ()


@dataclass(frozen=True)
class Due:
    due_on: date
    provisional: bool

    @property
    def ends_at(self) -> datetime:
        return deadline_instant(self.due_on)


def deadline_instant(due_on: date) -> datetime:
    """A deadline ends at 24:00 Asia/Shanghai of its day, i.e. 00:00 +08:00 of the next day."""
    return datetime.combine(due_on + timedelta(days=1), time(0), tzinfo=SHANGHAI)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(d: date, months: int) -> date:
    """Calendar months, clamped to the month's end: 2024-11-30 + 3 -> 2025-02-28."""
    month_index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(month_index, 12)
    # not calendar.monthrange: it also computes the month's first weekday, a third of a fold's calendar time
    last_day = 29 if month == 1 and _gregorian.isleap(year) else _MONTH_DAYS[month]
    return date(year, month + 1, min(d.day, last_day))


def format_due(due: Due) -> str:
    text = f"{due.due_on.isoformat()} ({WEEKDAYS_ZH[due.due_on.weekday()]})"
    return text + "（暂定 provisional）" if due.provisional else text


# chinesecalendar's own rule on its own tables, for the years it covers (the caller checks the year).
# Its is_workday first checks the date against the range of the whole table, a min and a max over
# every holiday: ~100 µs a day not yet asked (measured), so a fresh process (`history`, `report`,
# a rebuild's child) folding 1,000 permits spent ~100-140 ms on it. Two set lookups instead.
_OFFICIAL_HOLIDAYS = frozenset(chinese_calendar.holidays)
_OFFICIAL_WORKDAYS = frozenset(chinese_calendar.workdays)  # 调休: the weekend days worked


def _official_workday(d: date) -> bool:
    return d in _OFFICIAL_WORKDAYS or (d.weekday() <= 4 and d not in _OFFICIAL_HOLIDAYS)


WORKING_DAYS_MEMO_MAX = 65_536  # (start, n) answers a calendar remembers; then it starts afresh


@dataclass(frozen=True)
class WorkingCalendar:
    overrides: Overrides = Overrides()
    _by_year: dict[int, YearSchedule] = field(init=False, repr=False, compare=False)
    # Every record's deadlines are recounted on each event of its subject: the same few periods
    # from the same days, again and again. The answers depend on nothing but the overrides.
    _memo: dict[tuple[date, int], Due] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_year", {s.year: s for s in self.overrides.years})
        object.__setattr__(self, "_memo", {})

    def is_provisional(self, d: date) -> bool:
        return d.year not in OFFICIAL_YEARS and d.year not in self._by_year

    def is_working_day(self, d: date) -> bool:
        schedule = self._by_year.get(d.year)
        if schedule is not None and d in schedule.holidays:
            return False
        if schedule is not None and d in schedule.workdays:
            return True
        if d.year in OFFICIAL_YEARS:
            return _official_workday(d)
        weekend = d.weekday() >= 5
        if schedule is not None:
            return not weekend
        return not weekend and (d.month, d.day) not in FALLBACK_HOLIDAYS_MMDD

    def add_working_days(self, start: date, n: int) -> Due:
        """The n-th working day AFTER `start` (the day of the event is never counted).

        n must be 1..WORKING_DAYS_MAX: "within 0 working days" is not a period, so a
        policy saying so is a mistake, not a same-day deadline. Provisional when any
        day examined (start excluded) lies in a provisional year.
        """
        known = self._memo.get((start, n))
        if known is not None:
            return known
        if not 1 <= n <= WORKING_DAYS_MAX:
            raise ValueError(f"working days must be 1..{WORKING_DAYS_MAX}, got {n}")
        day, counted, provisional = start, 0, False
        while counted < n:
            day += timedelta(days=1)
            provisional = provisional or self.is_provisional(day)
            counted += self.is_working_day(day)
        if len(self._memo) >= WORKING_DAYS_MEMO_MAX:
            self._memo.clear()
        due = self._memo[(start, n)] = Due(day, provisional)
        return due


_DAY = r"(\d{4}-\d{2}-\d{2})"  # strict: fromisoformat alone would also take 20270101, 2027-W01-1
_DAYS = re.compile(rf"{_DAY}(?:\.\.{_DAY})?")


def parse_overrides(text: str) -> Overrides:
    """Parse the operator's TOML override file (format: ops/calendar_overrides.example.toml).

    Raises ValueError naming the section, key, item (and line when found) and the problem.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"calendar overrides: not valid TOML: {error}") from None
    schedules = []
    for key, section in document.items():
        if not re.fullmatch(r"\d{4}", key) or not isinstance(section, dict):
            raise ValueError(f"calendar overrides: top-level {key!r} must be a [YYYY] year section")
        year = int(key)
        unknown = set(section) - {"holidays", "workdays", "source"}
        if unknown:
            raise ValueError(f"calendar overrides: [{key}] unknown key(s) {sorted(unknown)}; "
                             "expected holidays, workdays, source")
        days = {kind: _parse_days(text, year, kind, section.get(kind, [])) for kind in ("holidays", "workdays")}
        for d in sorted(days["workdays"]):
            if d.weekday() < 5:  # a weekday already works: listing it is almost surely a typo
                raise ValueError(f"calendar overrides: [{key}] workdays {d} is a {WEEKDAYS_ZH[d.weekday()]}; "
                                 "调休 workdays are weekend days")
        both = days["holidays"] & days["workdays"]
        if both:
            raise ValueError(f"calendar overrides: [{key}] {sorted(map(str, both))} both holiday and workday")
        schedules.append(YearSchedule(year, days["holidays"], days["workdays"], str(section.get("source", ""))))
    return Overrides(tuple(sorted(schedules, key=lambda s: s.year)))


def _parse_days(text: str, year: int, kind: str, items: object) -> frozenset[date]:
    if not isinstance(items, list):
        raise ValueError(f"calendar overrides: [{year}] {kind} must be a list")
    days: set[date] = set()
    for index, item in enumerate(items):
        where = f"calendar overrides: [{year}] {kind}[{index}] {str(item)!r}{_line_of(text, str(item))}"
        try:
            if isinstance(item, date) and not isinstance(item, datetime):  # a bare TOML date
                first = last = item
            elif isinstance(item, str) and (match := _DAYS.fullmatch(item.strip())):
                first = date.fromisoformat(match[1])
                last = date.fromisoformat(match[2]) if match[2] else first
            else:
                raise ValueError("not a date")
        except ValueError as error:
            raise ValueError(f"{where}: bad date ({error}); expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD") from None
        if first > last:
            raise ValueError(f"{where}: range ends before it starts")
        if first.year != year or last.year != year:  # a notice's late-December days go in that year's section
            raise ValueError(f"{where}: date outside its year section [{year}]")
        days.update(first + timedelta(days=i) for i in range((last - first).days + 1))
    return frozenset(days)


def _line_of(text: str, needle: str) -> str:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return f" (line {number})"
    return ""
