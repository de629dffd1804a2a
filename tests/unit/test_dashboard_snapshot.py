"""The dashboard snapshot's sections (streams/dashboard_snapshot.py) from buffers built by hand."""
from __future__ import annotations

from collections import Counter, deque

from streams.dashboard_feed import RATE_HISTORY_S, REJECTED_KEY
from streams.dashboard_snapshot import GRADES, RATE_WINDOW_S, SHOWN_MAX, newest, rates, trend_columns

NOW_S = 1_000


def test_the_rates_are_the_mean_of_the_last_full_seconds_with_rejections_apart():
    per_second = deque(maxlen=RATE_HISTORY_S)
    for second in range(NOW_S - 2 * RATE_WINDOW_S, NOW_S):  # twice the window: 3 events and 1 rejection a second
        per_second.append((second, Counter({"PenaltyImposed": 2, "ListEntered": 1, REJECTED_KEY: 1})))
    per_second.append((NOW_S, Counter({"PenaltyImposed": 500})))  # the current second, still filling: left out
    shown = rates(per_second, NOW_S)
    assert shown["per_s"] == 3 and shown["rejected_per_s"] == 1
    assert {t["type"]: t["per_s"] for t in shown["by_type"]} == {"PenaltyImposed": 2, "ListEntered": 1}
    assert [t["type"] for t in shown["by_type"]] == ["PenaltyImposed", "ListEntered"]  # the most first
    series = shown["series"]
    assert len(series) == RATE_HISTORY_S and series[-2 * RATE_WINDOW_S:] == [3] * (2 * RATE_WINDOW_S)
    assert set(series[:-2 * RATE_WINDOW_S]) == {0}  # seconds with no batch


def test_the_trend_is_sent_as_one_column_per_line():
    empty = trend_columns(deque(), 5.0)
    assert empty["from"] is None and all(empty[g] == [] for g in GRADES) and empty["lag"] == []
    points = deque([("2025-06-30T10:00:00+08:00", 1, 2, 3, 4, 10), ("2025-06-30T10:00:05+08:00", 5, 6, 7, 8, 0)])
    columns = trend_columns(points, 5.0)
    assert columns["from"] == "2025-06-30T10:00:00+08:00" and columns["interval_s"] == 5.0
    assert [columns[g] for g in GRADES] == [[1, 5], [2, 6], [3, 7], [4, 8]] and columns["lag"] == [10, 0]


def test_a_list_shows_its_newest_items_first_as_copies():
    items = deque({"n": n} for n in range(SHOWN_MAX + 5))
    shown = newest(items)
    assert [item["n"] for item in shown] == list(range(SHOWN_MAX + 4, 4, -1))
    shown[0]["n"] = "changed"
    assert items[-1]["n"] == SHOWN_MAX + 4
