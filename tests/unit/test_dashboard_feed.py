"""The dashboard's buffers (streams/dashboard_feed.py): what a batch puts in them, and that each stays
within its limit."""
from __future__ import annotations

from collections import OrderedDict, deque

from streams.clock import Clock
from streams.dashboard_feed import (REASON_CHARS_MAX, REJECTED_KEY, DashboardFeed, grade_item, merge,
                                    remember)
from streams.ledger import Batch
from streams.store import MemoryStore
from tests.unit import events as ev


def batch(*events: dict, rejections: int = 0, grade_changes=()) -> Batch:
    """A committed batch as the fold hands it over (streams.ledger.Batch's fields the feed reads)."""
    return Batch(history=[(e["subject"]["id"], n, {"event": e}) for n, e in enumerate(events)],
                 rejections=[object()] * rejections, grade_changes=list(grade_changes))


def test_a_batch_is_counted_in_its_second_with_its_rejections_apart():
    seconds = iter([7.2, 7.9, 8.1])
    feed = DashboardFeed(MemoryStore(), Clock(), monotonic_s=lambda: next(seconds))
    feed.observe(batch(ev.penalty_imposed("P-1"), ev.penalty_imposed("P-2"), rejections=3))
    feed.observe(batch(ev.list_entered("L-1")))
    feed.observe(batch(rejections=1))
    assert [second for second, _ in feed.per_second] == [7, 8]
    first, second = feed.per_second[0][1], feed.per_second[1][1]
    assert first["PenaltyImposed"] == 2 and first["ListEntered"] == 1 and first[REJECTED_KEY] == 3
    assert second == {REJECTED_KEY: 1}


def test_a_listing_ends_only_by_its_own_authority_and_its_reason_is_cut():
    feed = DashboardFeed(MemoryStore(), Clock())
    feed.observe(batch(ev.list_entered("L-1", reason="理" * (REASON_CHARS_MAX + 20))))
    (item,) = feed.blacklist
    assert item["active"] and len(item["reason"]) == REASON_CHARS_MAX and item["name"]
    other = {"authority_code": ev.OTHER_AUTHORITY, "authority_name": "郑州市税务局"}
    feed.observe(batch(ev.valid("ListExited", {"entry_id": "L-1", "exit_reason": "已补报"}, source=other)))
    assert item["active"]
    feed.observe(batch(ev.list_exited("L-1")))
    assert not item["active"]
    assert feed.authority_names == {ev.AUTHORITY: "郑州市市场监督管理局", ev.OTHER_AUTHORITY: "郑州市税务局"}


def test_remembered_names_keep_the_newest_within_their_limit():
    cache: OrderedDict = OrderedDict()
    for n in range(5):
        remember(cache, n, str(n), 3)
    remember(cache, 2, "again", 3)  # known again: the newest now
    remember(cache, 9, "9", 3)
    assert list(cache.items()) == [(4, "4"), (2, "again"), (9, "9")]


def test_a_merge_adds_only_what_the_buffer_lacks_in_order_and_within_its_length():
    buffer = deque([{"id": 1}, {"id": 2}], maxlen=4)
    merge(buffer, [{"id": 2}, {"id": 3}, {"id": 1}, {"id": 4}, {"id": 5}], key=lambda item: item["id"])
    assert [item["id"] for item in buffer] == [2, 3, 4, 5]


def test_a_grade_change_says_which_way_it_went():
    change = {"at": ev.NOW.isoformat(), "subject_id": ev.COMPANY, "from_letter": "B", "to_letter": "D",
              "from_score": 850, "to_score": 640, "cause": "ListEntered", "cause_event_id": "e-1"}
    down = grade_item(change, {"kind": "LEGAL_PERSON", "name": "某公司"})
    assert down["downgrade"] and not down["upgrade"] and down["score_delta"] == 640 - 850 and down["cause_label"]
    up = grade_item({**change, "from_letter": "D", "to_letter": "A"}, {})
    assert up["upgrade"] and not up["downgrade"] and up["name"] is None
    first = grade_item({**change, "from_letter": None, "from_score": None}, {})
    assert not first["upgrade"] and not first["downgrade"] and first["score_delta"] is None
