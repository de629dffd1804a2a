"""What the dashboard reads back from the topics' ends at start (streams/dashboard_tails.py), without a broker:
credit.grades and credit.events an in-memory log of the reader's interface (tests/driver.MemoryTopics). What
the tails must hold is worked out here from what was appended: the last N records of each partition, the
watched events only, oldest first, a record that does not decode skipped. Seeding the dashboard from them:
tests/unit/test_dashboard.py."""
from __future__ import annotations

from streams import topics
from streams.codec import encode_event, encode_grade_changed
from streams.dashboard_feed import AUTHORITY_NAMES_MAX
from streams.dashboard_tails import read_tails
from tests.driver import MemoryTopics
from tests.unit import events as ev


def change(n: int, at: str) -> dict:
    return {"subject_id": f"91{n:016d}", "from_letter": "A", "to_letter": "B", "from_score": 1000, "to_score": 900,
            "policy_version": "2024.1", "cause": "PenaltyImposed", "cause_event_id": None, "offset": n,
            "added": [], "removed": [], "at": at}


def test_the_last_records_of_each_partition_oldest_first_undecodable_ones_skipped():
    log = MemoryTopics()
    for n in range(6):  # partition 0: minutes 0, 2, 4, ...; partition 1: 1, 3, 5, ...
        log.append(topics.GRADES, b"k", encode_grade_changed(change(n, f"2025-06-30T10:{n:02d}:00+08:00")),
                   partition=n % 2)
    log.append(topics.GRADES, b"k", b"\x00not a GradeChanged", partition=0)
    watched = [ev.list_entered(f"L-{n}", "2025-06-0" + str(n + 1)) for n in range(3)]
    unwatched = ev.valid("PenaltyImposed", ev.penalty_payload(), "2025-06-05",
                         source={"authority_code": ev.OTHER_AUTHORITY, "authority_name": "郑州市交通运输局"})
    for event in (*watched, unwatched):
        log.append(topics.EVENTS, event["subject"]["id"].encode(), encode_event(event), partition=0)
    log.append(topics.EVENTS, b"k", b"\x00not a CreditEvent", partition=1)
    tails = read_tails(log, records=3)  # partition 0 of credit.grades: minutes 2 and 4, then the bad record
    assert [c["at"][14:16] for c in tails.grade_changes] == ["01", "02", "03", "04", "05"]
    assert [(p, o, e["payload"]["entry_id"]) for p, o, e in tails.events] == [(0, 1, "L-1"), (0, 2, "L-2")]
    assert tails.partitions == len(log.logs[topics.EVENTS])
    assert tails.authorities == {ev.AUTHORITY: "郑州市市场监督管理局", ev.OTHER_AUTHORITY: "郑州市交通运输局"}
    assert {(topic, end - start) for topic, _, start, end in log.ranges_read} <= {
        (topics.GRADES, 3), (topics.EVENTS, 3), (topics.EVENTS, 1)}  # never more than the tail


def test_the_authorities_learnt_are_bounded_the_newest_kept():
    log, base = MemoryTopics(), ev.penalty_imposed("P-1")
    codes = [f"1141{n:014d}" for n in range(AUTHORITY_NAMES_MAX + 1)]
    for code in codes:
        event = {**base, "source": {"authority_code": code, "authority_name": f"机关{code[-5:]}"}}
        log.append(topics.EVENTS, b"k", encode_event(event), partition=0)
    tails = read_tails(log, records=len(codes))
    assert len(tails.authorities) == AUTHORITY_NAMES_MAX and codes[0] not in tails.authorities
    assert codes[-1] in tails.authorities and tails.events == []  # no watched event among them
