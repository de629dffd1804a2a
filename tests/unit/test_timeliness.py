"""双公示 timeliness as the worker counts it (projections/effects.py timeliness_deltas): each decision once, in its final
outcome: on time, late (迟报) or missing (漏报); issue 29 R6."""
from __future__ import annotations

from collections import Counter

from projections.deadlines import pending_deadlines, system_event
from projections.fold import APPLIED, fold
from projections.policy import DEFAULT_POLICY
from streams import metrics
from projections.effects import TimelinessCounter, timeliness_deltas
from tests.unit import events as ev


def counted(*events: dict) -> Counter:
    """The worker's timeliness counters after folding these events, each applied; the timers' DisclosureOverdue
    is written when `events` holds the string "TIMER" at its place."""
    state, totals = None, Counter()
    for offset, event in enumerate([ev.subject_registered(), *events]):
        if event == "TIMER":
            (deadline,) = [d for d in pending_deadlines(state, DEFAULT_POLICY) if d.kind == "DISCLOSURE"]
            event = system_event(state, deadline, deadline.fires_at, DEFAULT_POLICY)
        before = state
        state, outcome = fold(state, event, offset)
        assert outcome.kind == APPLIED, outcome.reasons
        for delta in timeliness_deltas(event, before, state):
            totals[delta.outcome] += delta.delta
            assert delta.outcome in metrics.TIMELINESS  # the worker tallies each outcome's metric
    return +totals


NO = ev.decision_no("P-1")


def test_a_decision_found_missing_then_arriving_late_counts_once_as_late():
    late = ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-02-20T10:00:00+08:00")
    assert counted(ev.decision_registered(NO, on="2025-01-02"), "TIMER", late) == {"late": 1}


def test_a_decision_never_arriving_counts_once_as_missing():
    assert counted(ev.decision_registered(NO, on="2025-01-02"), "TIMER") == {"overdue": 1}


def test_a_record_on_time_counts_once_on_time_and_a_late_one_without_notice_once_late():
    assert counted(ev.decision_registered(NO, on="2025-01-02"), ev.penalty_imposed("P-1", "2025-01-02")) == {"on_time": 1}
    late = ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-02-20T10:00:00+08:00")
    assert counted(ev.decision_registered(NO, on="2025-01-02"), late) == {"late": 1}


def test_the_timely_ratio_counts_each_decision_once():
    late = ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-02-20T10:00:00+08:00")
    totals = counted(ev.decision_registered(NO, on="2025-01-02"), "TIMER", late)
    # one decision, one outcome: the dashboard's timely_ratio is on_time / (on_time + late + overdue)
    assert sum(totals.values()) == 1


def test_an_exempt_record_is_counted_apart_from_the_judged_outcomes():
    secret = ev.valid("PenaltyImposed", ev.penalty_payload(record_id="P-1", decision_no=NO, exemption="STATE_SECRET",
                                                           exemption_basis="《政府信息公开条例》第十四条：依法确定为国家秘密"),
                      "2025-01-02", classification="INTERNAL", recorded_at="2025-02-20T10:00:00+08:00")
    assert counted(ev.decision_registered(NO, on="2025-01-02"), secret) == {"exempt": 1}
    assert counted(ev.decision_registered(NO, on="2025-01-02"), "TIMER", secret) == {"exempt": 1}


def test_the_dashboard_leaves_exempt_records_out_of_the_timely_ratio():
    from streams.dashboard_snapshot import timeliness
    from streams.store import MemoryStore
    store = MemoryStore()
    store.write({}, {}, counters={TimelinessCounter("A1", "on_time"): 3, TimelinessCounter("A1", "late"): 1,
                                  TimelinessCounter("A1", "exempt"): 4})
    table = timeliness(store, authority_names={})
    (row,) = table["authorities"]
    assert (row["exempt"], row["total"], row["timely_ratio"]) == (4, 4, 0.75)
    assert table["totals"]["exempt"] == 4


def test_a_historical_import_is_counted_apart():
    old = ev.penalty_imposed("P-1", "2019-03-04", recorded_at="2025-01-06T10:00:00+08:00", historical=True)
    assert counted(old) == {"historical": 1}


def test_only_an_admin_publishes_a_historical_import():
    from projections.access import ADMIN, PUBLISHER, Principal, forbidden, publish_problems
    event = ev.event("PenaltyImposed", ev.penalty_payload(historical=True))
    publisher = Principal("郑州市市场监督管理局", PUBLISHER, ev.AUTHORITY)
    problems = publish_problems(publisher, event)
    assert [p.rule for p in problems] == ["historical_admin_only"] and forbidden(problems)
    assert publish_problems(Principal("ops", ADMIN), event) == []
    assert publish_problems(publisher, ev.event("PenaltyImposed", ev.penalty_payload())) == []


def test_publish_historical_marks_the_permits_and_penalties_of_a_file():
    import json

    from ops.cli import _marked_historical
    penalty = ev.event("PenaltyImposed", ev.penalty_payload())
    assert _marked_historical(penalty)["payload"]["historical"] is True and "historical" not in penalty["payload"]
    line = json.dumps(penalty, ensure_ascii=False).encode()
    assert json.loads(_marked_historical(line))["payload"]["historical"] is True
    registered = ev.event("SubjectRegistered", {"region_code": "410105", "registered_on": "2020-01-02"})
    assert _marked_historical(registered) == registered and _marked_historical(b"{not json") == b"{not json"
