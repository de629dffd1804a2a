"""`credit-ledger release` folds only the subjects that ever entered the list (ops/release.py): the rows are
those of folding the whole log, whatever else the log holds."""
from __future__ import annotations

from ops.release import listed_keys, rows_from
from projections.policy import DEFAULT_POLICIES
from projections.releases import known_on, release_rows
from projections.replay import replay
from streams.codec import encode_event
from tests.unit import events as ev
from tests.unit.test_releases import DAY, company, entered, exited


def the_log() -> list[dict]:
    return [
        ev.valid("PenaltyImposed", ev.penalty_payload(record_id="P-1", decision_no="郑市监罚〔2025〕91号"), "2025-02-01",
                 subject=company(1)),
        entered(1, "L-1", basis_record_id="P-1"),
        entered(2, "L-2", list_kind="RED_LIST", reason="纳税信用A级"),  # another list: not folded for this one
        ev.valid("PenaltyImposed", ev.penalty_payload(record_id="P-3"), "2025-02-01", subject=company(3)),  # never listed
        entered(4, "L-4"), exited(4, "L-4", "2025-03-05"),
        entered(5, "L-5", on="2025-03-10", recorded_at="2025-03-11T08:00:00+08:00"),  # known the day after
    ]


def records(log: list[dict]) -> list[tuple[int, bytes, bytes]]:
    return [(offset, event["subject"]["id"].encode(), encode_event(event)) for offset, event in enumerate(log)]


def test_only_the_subjects_that_entered_the_list_are_folded():
    assert listed_keys(records(the_log()), "SERIOUS_DISHONESTY") == {company(n)["id"].encode() for n in (1, 4, 5)}
    assert listed_keys(records(the_log()) + [(99, b"x", b"not avro ListEntered")], "RED_LIST") == {
        company(2)["id"].encode()}


def test_the_rows_are_those_of_folding_the_whole_log():
    log = the_log()
    for kind, day in (("SERIOUS_DISHONESTY", DAY), ("SERIOUS_DISHONESTY", "2025-03-11"), ("RED_LIST", DAY)):
        whole = release_rows(replay(known_on(enumerate(log), day), deadlines=False, policy=DEFAULT_POLICIES).states,
                             kind, day)
        assert rows_from(lambda: iter(records(log)), kind, day, DEFAULT_POLICIES) == whole
    (row,) = rows_from(lambda: iter(records(log)), "SERIOUS_DISHONESTY", DAY, DEFAULT_POLICIES)
    assert row["entry_id"] == "L-1" and row["basis"] == "郑市监罚〔2025〕91号（郑州市市场监督管理局）"
