"""Statistics for assessment (projections/stats.py): a month of one authority's 双公示, objections, repairs and
rejections, each number worked out by hand below; the bitemporal cut; gaps; invariance under duplicate
delivery and under reordering across subjects."""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.demo import authority_codes
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from projections.policy import DEFAULT_POLICY, PolicyBook, parse_policy
from projections.stats import (COUNTS, UNATTRIBUTED, Period, StatsError, disclosure_stats, flat_row, period,
                               stats_request)
from tests.unit import events as ev

MARCH = period("2025-03-01", "2025-03-31")
REPORT = datetime(2025, 4, 30, 0, 0, tzinfo=SHANGHAI)
SECRET = {"exemption": "STATE_SECRET", "exemption_basis": "《政府信息公开条例》第十四条：依法确定为国家秘密"}


def no(record_id: str) -> str:
    return ev.decision_no(record_id)


def march() -> list[dict]:
    """March 2025 has no holiday: 7 working days from Monday 03-03 end on Wednesday 03-12."""
    return [
        ev.subject_registered(),
        # two old penalties, decided in November (outside the period), to be repaired in March
        ev.penalty_imposed("P-9", "2024-11-01"), ev.penalty_imposed("P-10", "2024-11-01"),
        ev.penalty_fulfilled("P-9", "2024-11-08"), ev.penalty_fulfilled("P-10", "2024-11-08"),
        ev.decision_registered(no("P-1"), on="2025-03-03"),
        ev.penalty_imposed("P-1", "2025-03-03", recorded_at="2025-03-05T10:00:00+08:00"),   # on time
        ev.decision_registered(no("P-2"), on="2025-03-03"),
        ev.penalty_imposed("P-2", "2025-03-03", recorded_at="2025-03-20T10:00:00+08:00"),   # late (迟报)
        ev.decision_registered(no("P-3"), on="2025-03-03"),                                 # missing (漏报)
        ev.decision_registered(no("P-7"), on="2025-03-03"),
        ev.disclosure_overdue(no("P-7"), due_on="2025-03-12", on="2025-03-13"),
        ev.penalty_imposed("P-7", "2025-03-03", recorded_at="2025-03-25T10:00:00+08:00"),   # late, not missing too
        ev.permit_granted("X-1", "2025-03-04"),                                             # on time, unregistered
        ev.valid("PenaltyImposed", ev.penalty_payload(record_id="P-4", decision_no=no("P-4"), **SECRET),
                 "2025-03-05", classification="INTERNAL"),                                  # exempt
        ev.decision_registered(no("P-5"), on="2025-04-01"),                                 # April: not counted
        # O-1 accepted 03-11, decided by 03-18: in time; O-2 accepted 03-24, decided by 03-31: late
        ev.objection_filed("O-1", "P-1", on="2025-03-10"), ev.objection_accepted("O-1", "P-1", on="2025-03-11"),
        ev.objection_resolved("O-1", "P-1", on="2025-03-17"),
        ev.objection_filed("O-2", "P-2", on="2025-03-21"), ev.objection_accepted("O-2", "P-2", on="2025-03-24"),
        ev.objection_resolved("O-2", "P-2", on="2025-04-07"),
        # R-1 accepted 03-04, decided by 03-11: decided on 03-20, late; R-2 never accepted nor decided
        ev.repair_requested("R-1", "P-9", on="2025-03-03"), ev.repair_accepted("R-1", "P-9", on="2025-03-04"),
        ev.repair_decided("R-1", "P-9", on="2025-03-20"),
        ev.repair_requested("R-2", "P-10", on="2025-03-03"),
    ]


def logged(events: list[dict], partition: int = 0) -> list[tuple[int, int, dict]]:
    return [(partition, offset, event) for offset, event in enumerate(events)]


def rejection(offset: int, rule: str, at: str = "2025-03-14T09:00:00+08:00", partition: int = 0,
              topic: str = "credit.events") -> dict:
    return {"topic": topic, "partition": partition, "offset": offset, "rejected_at": at,
            "reasons": [{"field": "payload.record_id", "rule": rule, "message": "..."}]}


def row_of(result: dict, code: str = ev.AUTHORITY) -> dict:
    (row,) = [row for row in result["rows"] if row.get("authority_code") == code]
    return row


def counts(row: dict) -> dict:
    return {name: row[name] for name in COUNTS if row[name]}


def test_a_month_of_one_authority_worked_out_by_hand():
    events = march()
    duplicate = len(events)
    events.append(ev.penalty_imposed("P-1", "2025-03-03", recorded_at="2025-03-14T08:00:00+08:00"))  # rejected
    rejections = [rejection(duplicate, "duplicate_id"), rejection(duplicate, "duplicate_id"),  # published twice
                  rejection(-1, "date", partition=-1), rejection(duplicate, "late", at="2025-05-02T09:00:00+08:00")]
    result = disclosure_stats(logged(events), rejections, MARCH, REPORT, DEFAULT_POLICY)
    row = row_of(result)
    assert (row["registered"], row["gap"], row["authority_name"]) == (True, False, "国家税务总局郑州市税务局")
    # reported: 4 registrations, 3 penalties of 03-03, the permit, the exempt penalty, O-1 ×3, O-2 ×2 (its
    # decision is April's), R-1 ×3, R-2 ×1 = 18 (the timers' DisclosureOverdue is not the authority's)
    assert counts(row) == {
        "reported": 18,
        "penalties_on_time": 1, "penalties_late": 2, "penalties_missing": 1, "penalties_exempt": 1,
        "permits_on_time": 1,
        "objections_filed": 2, "objections_decided": 2, "objections_decided_late": 1,
        "repairs_filed": 2, "repairs_decided": 1, "repairs_decided_late": 1, "repairs_overdue_open": 1,
        "rejected": 1}
    assert row["rejected_by_rule"] == {"duplicate_id": 1}
    # 郑州's tax bureau reports PERMIT, PENALTY, RATING and LIST: none of the last two in March
    assert (row["matters"], row["silent_matters"]) == (["PERMIT", "PENALTY", "RATING", "LIST"], ["RATING", "LIST"])
    unattributed = row_of(result, UNATTRIBUTED)
    assert (unattributed["registered"], unattributed["rejected"], unattributed["rejected_by_rule"]) == (
        False, 1, {"date": 1})
    assert result["totals"]["rejected"] == 2 and result["totals"]["rejected_by_rule"] == {"date": 1, "duplicate_id": 1}
    # rejected again on 04-10 by a worker that folded the log anew: still one rejected event, March's
    again = rejections + [rejection(duplicate, "duplicate_id", at="2025-04-10T09:00:00+08:00")]
    assert row_of(disclosure_stats(logged(events), again, MARCH, REPORT, DEFAULT_POLICY))["rejected"] == 1
    april = disclosure_stats(logged(events), again, period("2025-04-01", "2025-04-30"), REPORT, DEFAULT_POLICY)
    assert row_of(april)["rejected"] == 0


def test_the_figures_are_those_known_at_the_report_instant():
    # On 03-13 at 00:00: P-1 is here on time; P-2, P-3 and P-7 are not here and their 7 working days ended on
    # 03-12 (P-7's timer notice is recorded on 03-13 at 10:00: later); O-1 is open, its decision due 03-18.
    early = disclosure_stats(logged(march()), [], MARCH, datetime(2025, 3, 13, tzinfo=SHANGHAI), DEFAULT_POLICY)
    row = row_of(early)
    assert (row["penalties_on_time"], row["penalties_missing"], row["penalties_late"], row["penalties_pending"]) == (
        1, 3, 0, 0)
    assert (row["objections_filed"], row["objections_decided"], row["objections_overdue_open"]) == (1, 0, 0)
    # R-1 decision was due 03-11 and is not decided on 03-13: overdue and open; R-2's (no acceptance:
    # 03-05 + 5 working days = 03-12) too
    assert (row["repairs_filed"], row["repairs_decided"], row["repairs_overdue_open"]) == (2, 0, 2)
    # on 03-10, the three decisions' periods still run
    earlier = row_of(disclosure_stats(logged(march()), [], MARCH, datetime(2025, 3, 10, tzinfo=SHANGHAI),
                                      DEFAULT_POLICY))
    assert (earlier["penalties_on_time"], earlier["penalties_pending"], earlier["penalties_missing"]) == (1, 3, 0)


def test_an_authority_of_the_register_with_nothing_is_a_row_of_zeros_flagged_as_a_gap():
    result = disclosure_stats(logged(march()), [], MARCH, REPORT, DEFAULT_POLICY)
    gap = row_of(result, ev.OTHER_AUTHORITY)
    assert gap["gap"] and gap["registered"] and counts(gap) == {} and gap["region"] == "410100"
    assert gap["silent_matters"] == gap["matters"] == ["PERMIT", "PENALTY", "COMMITMENT", "RATING"]
    assert len(result["rows"]) == len(DEFAULT_POLICY.authority_register)
    assert result["totals"]["gaps"] == len(DEFAULT_POLICY.authority_register) - 1


def test_rows_by_region_and_by_industry_sum_the_authorities():
    by_authority = disclosure_stats(logged(march()), [], MARCH, REPORT, DEFAULT_POLICY)
    for by in ("region", "industry"):
        grouped = disclosure_stats(logged(march()), [], MARCH, REPORT, DEFAULT_POLICY, by=by)
        assert grouped["totals"] == by_authority["totals"]
        assert sum(row["authorities"] for row in grouped["rows"]) == len(by_authority["rows"])
    regions = {row["region"]: row for row in disclosure_stats(logged(march()), [], MARCH, REPORT, DEFAULT_POLICY,
                                                               by="region")["rows"]}
    assert set(regions) == {"410100", "440700", "630200", "420200"}
    assert (regions["410100"]["authorities"], regions["410100"]["gaps"], regions["410100"]["penalties_late"]) == (7, 6, 2)
    assert regions["440700"]["gaps"] == 7 and regions["440700"]["reported"] == 0


def test_each_decision_counts_once():
    result = disclosure_stats(logged(march()), [], MARCH, REPORT, DEFAULT_POLICY)
    row = row_of(result)
    # P-1, P-2, P-3, P-4, P-7 decided in March: five penalty decisions, one outcome each
    assert sum(row[f"penalties_{o}"] for o in ("on_time", "late", "missing", "pending", "exempt", "historical")) == 5


def test_the_register_is_checked_with_clear_errors():
    assert set(authority_codes()) <= {entry.code for entry in DEFAULT_POLICY.authority_register}
    text = (__import__("pathlib").Path(__file__).parents[2] / "projections/policies/2024.1.yaml").read_text("utf-8")
    first = '{code: "1141010000104729X6", name: 郑州市市场监督管理局, region: "410100"'
    assert first in text
    for broken, message in (
            (first.replace('region: "410100"', "region: 410100"), r"authorities.register\[0\].region: a 6-digit"),
            (first.replace("1141010000104729X6", "1141010000104729X7"), r"register\[0\].code: a unified social"),
            (first.replace("1141010000104729X6", "1141010087525218XA"), r"register\[1\].code: 1141010087525218XA is listed twice"),
            (first.replace("name: 郑州市市场监督管理局", "name: ''"), r"register\[0\].name: 1 to 100")):
        with pytest.raises(ValueError, match=message):
            parse_policy(text.replace(first, broken), "broken.yaml")
    with pytest.raises(ValueError, match=r"register\[0\].matters: a list of distinct matters"):
        parse_policy(text.replace("matters: [PERMIT, PENALTY, COMMITMENT, LIST, INSPECTION]",
                                  "matters: [PERMIT, PERMIT]", 1), "broken.yaml")
    with pytest.raises(ValueError, match=r"register\[0\]: a mapping of exactly"):
        parse_policy(text.replace(first + ", industry:", first + ", sector:", 1), "broken.yaml")


@pytest.mark.parametrize(("from_day", "to_day", "field"), [
    ("2025-03-31", "2025-03-01", "to"), ("2025-3-1", "2025-03-31", "from"), ("1900-01-01", "2025-03-31", "from"),
    ("2000-01-01", "2025-03-31", "to"), (None, "2025-03-31", "from")])
def test_a_bad_period_names_its_parameter(from_day, to_day, field):
    with pytest.raises(StatsError) as raised:
        period(from_day, to_day)
    assert raised.value.field == field


def test_a_bad_grouping_or_a_naive_instant_is_refused():
    with pytest.raises(StatsError, match="by: one of authority, region, industry"):
        disclosure_stats([], [], MARCH, REPORT, DEFAULT_POLICY, by="city")
    with pytest.raises(StatsError, match="as_of"):
        disclosure_stats([], [], MARCH, datetime(2025, 4, 30), DEFAULT_POLICY)


OTHER_COMPANY = make_uscc("410105", 2)


def _for_other_company(event: dict) -> dict:
    return {**event, "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, event["event_id"])),
            "subject": {**event["subject"], "id": OTHER_COMPANY}}


BASE = march()
OTHER = [_for_other_company(event) for event in BASE[:9]]  # the other company: its first decisions only


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_counts_are_invariant_under_duplicate_delivery_and_reordering_across_subjects(data):
    expected = disclosure_stats(logged(BASE + OTHER), [], MARCH, REPORT, DEFAULT_POLICY)
    # an interleaving of the two subjects' events, each subject's own order kept, with some events delivered twice
    picks = data.draw(st.permutations([0] * len(BASE) + [1] * len(OTHER)))
    queues, merged = [list(BASE), list(OTHER)], []
    for pick in picks:
        merged.append(queues[pick].pop(0))
        if data.draw(st.integers(0, 4)) == 0:
            merged.append(merged[-1])  # delivered again (at-least-once): the same event at a later offset
    assert disclosure_stats(logged(merged), [], MARCH, REPORT, DEFAULT_POLICY) == expected


ELSEWHERE = make_uscc("440305", 3)  # a company of 深圳 on which the same authority publishes


def _elsewhere(event: dict) -> dict:
    return {**_for_other_company(event), "subject": {**event["subject"], "id": ELSEWHERE}}


def test_a_scoped_supervisor_counts_only_the_subjects_and_authorities_of_its_scope():
    from projections.scopes import Scope

    # 深圳's company is not registered here: its region is its code's (440305); it comes first in the log, so
    # a scope that stopped at the first subject outside it would miss ours
    elsewhere = [_elsewhere(event) for event in march()[1:9]]
    events = elsewhere + march()
    ours, theirs = len(elsewhere) + 5, 4  # P-1's DecisionRegistered, ours and 深圳's
    rejections = [rejection(ours, "duplicate_id"), rejection(theirs, "late"), rejection(-1, "date", partition=-1)]
    everything = disclosure_stats(logged(events), rejections, MARCH, REPORT, DEFAULT_POLICY)
    alone = disclosure_stats(logged(march()), rejections[:1], MARCH, REPORT, DEFAULT_POLICY)
    # 深圳's company adds three penalty decisions of March (P-1, P-2, P-3 arrived or not) and their reports
    assert row_of(everything)["penalties_on_time"] == 2 * row_of(alone)["penalties_on_time"]
    zhengzhou = disclosure_stats(logged(events), rejections, MARCH, REPORT, DEFAULT_POLICY,
                                 scope=Scope(region_prefix="4101"))
    assert counts(row_of(zhengzhou)) == counts(row_of(alone))  # the hand-worked month, 深圳's left out
    assert row_of(zhengzhou)["rejected_by_rule"] == {"duplicate_id": 1}
    assert UNATTRIBUTED not in {row["authority_code"] for row in zhengzhou["rows"]}  # the edge's: no subject
    assert zhengzhou["scope"] == {"authority_codes": [], "region_prefix": "4101", "industry_sections": []}
    assert {row["authority_code"][2:6] for row in zhengzhou["rows"]} == {"4101"}  # authorities of its region only
    shenzhen = disclosure_stats(logged(events), rejections, MARCH, REPORT, DEFAULT_POLICY,
                                scope=Scope(region_prefix="4403"))
    assert shenzhen["rows"] == [] and shenzhen["totals"]["reported"] == 0  # 郑州's authority is not 深圳's
    by_code = disclosure_stats(logged(events), rejections, MARCH, REPORT, DEFAULT_POLICY,
                               scope=Scope(authority_codes=(ev.AUTHORITY,)))
    assert [row["authority_code"] for row in by_code["rows"]] == [ev.AUTHORITY]
    assert counts(row_of(by_code)) == {**counts(row_of(everything)), "rejected": 2}
    assert row_of(by_code)["rejected_by_rule"] == {"duplicate_id": 1, "late": 1}
    manufacturers = disclosure_stats(logged(events), rejections, MARCH, REPORT, DEFAULT_POLICY,
                                     scope=Scope(industry_sections=("C",)))  # no subject names an industry
    assert manufacturers["totals"]["reported"] == manufacturers["totals"]["rejected"] == 0
    assert by_code == disclosure_stats(logged(events), rejections, MARCH, REPORT, DEFAULT_POLICY, by="authority",
                                       scope=Scope(authority_codes=(ev.AUTHORITY,)))


# --- the request's parameters and the CSV cells (GET /stats/disclosure, `credit-ledger stats`) -----------
NOW = datetime(2025, 4, 30, 15, 30, tzinfo=SHANGHAI)


def test_a_request_without_by_or_as_of_groups_by_authority_at_now():
    assert stats_request("2025-03-01", "2025-03-31", None, None, NOW) == (MARCH, "authority", NOW)
    for by in ("authority", "region", "industry"):
        assert stats_request("2025-03-01", "2025-03-31", by, None, NOW)[1] == by


def test_a_request_as_of_a_day_means_that_day_at_midnight_in_shanghai():
    _, _, moment = stats_request("2025-03-01", "2025-03-31", "region", "2025-04-02", NOW)
    assert moment == datetime(2025, 4, 2, 0, 0, tzinfo=SHANGHAI)
    _, _, moment = stats_request("2025-03-01", "2025-03-31", None, "2025-04-02T01:00:00+00:00", NOW)
    assert moment.isoformat() == "2025-04-02T01:00:00+00:00"


def test_a_request_with_a_bad_grouping_names_by_and_the_choices():
    with pytest.raises(StatsError) as raised:
        stats_request("2025-03-01", "2025-03-31", "city", None, NOW)
    assert raised.value.as_dict() == {"field": "by", "rule": "stats", "message": "one of authority, region, industry"}
    assert str(raised.value) == "by: one of authority, region, industry"


def test_a_request_with_a_bad_period_or_instant_names_the_parameter():
    with pytest.raises(StatsError) as raised:
        stats_request("2025-03-31", "2025-03-01", None, None, NOW)
    assert raised.value.as_dict() == {"field": "to", "rule": "stats", "message": "2025-03-01 is before from 2025-03-31"}
    with pytest.raises(ValueError, match="as_of"):
        stats_request("2025-03-01", "2025-03-31", None, "yesterday", NOW)


def test_a_row_as_csv_cells():
    row = {"authority_code": "X", "authority_name": None, "matters": ["PERMIT", "PENALTY"], "registered": True,
           "gap": False, "reported": 0, "silent_matters": [], "rejected_by_rule": {"format": 2, "range": 1}}
    assert flat_row(row) == {"authority_code": "X", "authority_name": "", "matters": "PERMIT;PENALTY",
                             "registered": "true", "gap": "false", "reported": 0, "silent_matters": "",
                             "rejected_by_rule": "format=2;range=1"}
    assert flat_row({"rejected_by_rule": {}, "matters": ["LIST"]}) == {"rejected_by_rule": "", "matters": "LIST"}


# --- an authority outside the register, the rejections' places and bounds, the report's own fields -------
UNKNOWN = make_uscc("410100", 9, "1", "1")  # in no register


def test_an_authority_outside_the_register_has_a_row_of_its_own_whole():
    log = [ev.subject_registered(),
           ev.valid("PenaltyImposed", ev.penalty_payload(record_id="P-U", decision_no="某罚〔2025〕1号"), "2025-03-03",
                    source={"authority_code": UNKNOWN, "authority_name": "某局"})]
    result = disclosure_stats(logged(log), [], MARCH, REPORT, DEFAULT_POLICY)
    zeros = dict.fromkeys(COUNTS, 0)
    assert row_of(result, UNKNOWN) == {
        "authority_code": UNKNOWN, "authority_name": None, "region": "UNREGISTERED", "industry": "UNREGISTERED",
        "matters": [], "registered": False, "gap": False, "silent_matters": [],
        **zeros, "reported": 1, "penalties_on_time": 1, "rejected_by_rule": {}, "measures_by_code": {}}
    assert result["rows"][-1]["authority_code"] == UNKNOWN  # after the register's rows


def test_the_report_names_its_period_grouping_instant_in_shanghai_and_the_policy_then():
    from datetime import timezone
    book = PolicyBook((DEFAULT_POLICY, replace(DEFAULT_POLICY, version="2025.1", effective_from="2025-04-01")))
    # 2025-03-31 16:30 UTC is 2025-04-01 00:30 in Shanghai: the policy of 04-01
    as_of = datetime(2025, 3, 31, 16, 30, tzinfo=timezone.utc)
    result = disclosure_stats(logged(march()), [], MARCH, as_of, book, by="region")
    assert {k: v for k, v in result.items() if k not in ("rows", "totals")} == {
        "from": "2025-03-01", "to": "2025-03-31", "as_of": "2025-04-01T00:30:00+08:00", "by": "region",
        "policy_version": "2025.1"}
    before = disclosure_stats(logged(march()), [], MARCH, datetime(2025, 3, 31, 15, 59, tzinfo=timezone.utc), book)
    assert before["policy_version"] == "2024.1"


def test_each_rejection_is_placed_by_its_topic_partition_and_offset_and_counted_by_rule():
    log = [ev.subject_registered()] + [ev.penalty_imposed(f"P-{n}", "2025-03-03") for n in range(1, 5)]
    at = "2025-03-14T09:00:00+08:00"
    rejections = [
        {"topic": "credit.events", "rejected_at": "not an instant", "partition": 0, "offset": 1, "reasons": []},
        {**rejection(0, "format"), "reasons": [{"rule": "format"}, {"field": "x"}]},  # offset 0: the authority's
        rejection(1, "late", at="2025-04-02T09:00:00+08:00"),  # April: not in March
        rejection(2, "range", at=REPORT.isoformat()),  # at the report instant itself: known
        rejection(3, "range", at="2025-04-30T00:00:01+08:00"),  # after it: not known
        rejection(4, "format", topic="credit.other"),  # another topic: it never reached the log
        {"topic": "credit.events", "partition": 0, "rejected_at": at, "reasons": [{"rule": "json"}]},  # no offset
    ]
    result = disclosure_stats(logged(log), rejections, MARCH, REPORT, DEFAULT_POLICY)
    row, unattributed = row_of(result), row_of(result, UNATTRIBUTED)
    assert (row["rejected"], row["rejected_by_rule"]) == (1, {"?": 1, "format": 1})
    assert (unattributed["rejected"], unattributed["rejected_by_rule"]) == (2, {"format": 1, "json": 1})
    april = disclosure_stats(logged(log), rejections, period("2025-04-01", "2025-04-30"), REPORT, DEFAULT_POLICY)
    assert (row_of(april)["rejected"], row_of(april)["rejected_by_rule"]) == (2, {"late": 1, "range": 1})


def test_a_row_keeps_at_most_200_rules_and_still_counts_those_it_keeps():
    at = "2025-03-14T09:00:00+08:00"
    rejections = [{"topic": "edge", "rejected_at": at, "reasons": [{"rule": f"r{n:03d}"}]} for n in range(201)]
    rejections.append({"topic": "edge", "rejected_at": at, "reasons": [{"rule": "r000"}]})
    unattributed = row_of(disclosure_stats([], rejections, MARCH, REPORT, DEFAULT_POLICY), UNATTRIBUTED)
    assert unattributed["rejected"] == 202
    assert unattributed["rejected_by_rule"] == {"r000": 2, **{f"r{n:03d}": 1 for n in range(1, 200)}}


def test_the_rules_of_all_rows_are_summed_and_sorted_in_the_totals():
    at = "2025-03-14T09:00:00+08:00"
    rejections = [rejection(0, "zone", at=at), rejection(0, "zone", at=at, partition=1),
                  {"topic": "edge", "rejected_at": at, "reasons": [{"rule": "zone"}, {"rule": "alpha"}]}]
    events = [(0, 0, ev.subject_registered()), (1, 0, _for_other_company(ev.subject_registered()))]
    totals = disclosure_stats(events, rejections, MARCH, REPORT, DEFAULT_POLICY)["totals"]
    assert (totals["rejected"], list(totals["rejected_by_rule"].items())) == (3, [("alpha", 1), ("zone", 3)])


@pytest.mark.parametrize("from_day, to_day", [
    ("2025-03-01", "2025-03-01"),  # one day
    ("2025-03-01", "2035-04-17"),  # 3,700 days, both included (2025-03-01 + 3,699)
])
def test_a_period_within_its_bounds_is_taken(from_day, to_day):
    assert period(from_day, to_day) == Period(from_day, to_day)


def test_the_catalogue_s_first_and_last_days_are_in_range():
    from projections.catalogue import EARLIEST_DATE, LATEST_DATE
    assert period(EARLIEST_DATE, EARLIEST_DATE).from_day == EARLIEST_DATE
    assert period(LATEST_DATE, LATEST_DATE).to_day == LATEST_DATE


@pytest.mark.parametrize("from_day, to_day, problem", [
    ("2025-3-1", "2025-03-31", {"field": "from", "message": "a date like 2024-01-01"}),  # the text not repeated
    ("2025-03-01", "x" * 50, {"field": "to", "message": "a date like 2024-01-01"}),
    ("2025-03-01", "2035-04-18", {"field": "to", "message": "a period of at most 3,700 days"}),
    ("2025-03-01", "2100-01-01", {"field": "to", "message": "a date from 1949-10-01 to 2099-12-31"}),
])
def test_a_bad_period_says_which_parameter_and_why(from_day, to_day, problem):
    with pytest.raises(StatsError) as raised:
        period(from_day, to_day)
    assert raised.value.as_dict() == {**problem, "rule": "stats"}


def test_a_report_instant_without_its_offset_is_refused_by_name():
    with pytest.raises(StatsError) as raised:
        disclosure_stats([], [], MARCH, datetime(2025, 4, 30), DEFAULT_POLICY)
    assert raised.value.as_dict() == {"field": "as_of", "rule": "stats", "message": "an instant with its offset"}


def test_a_rejection_s_day_is_shanghai_s_and_one_of_an_event_not_given_is_unattributed():
    log = [ev.subject_registered()]
    rejections = [{**rejection(0, "date"), "rejected_at": "2025-02-28T17:00:00+00:00"},  # 03-01 01:00 in Shanghai
                  {**rejection(0, "date"), "rejected_at": "2025-03-31T16:00:00+00:00"},  # 04-01 00:00: April's
                  rejection(99, "range"),  # the events given end at offset 0
                  {"topic": "edge", "rejected_at": "2025-03-14T09:00:00+08:00"}]  # no reasons at all
    result = disclosure_stats(logged(log), rejections, MARCH, REPORT, DEFAULT_POLICY)
    assert (row_of(result)["rejected"], row_of(result)["rejected_by_rule"]) == (1, {"date": 1})
    unattributed = row_of(result, UNATTRIBUTED)
    assert (unattributed["rejected"], unattributed["rejected_by_rule"]) == (2, {"range": 1})
    assert [row["authority_code"] for row in result["rows"]].count(None) == 0


def test_a_registered_decision_reports_its_matter():
    log = [ev.subject_registered(on="2025-03-03"), ev.decision_registered(ev.decision_no("X-9", "PERMIT"), "PERMIT",
                                                                          on="2025-03-04")]
    row = row_of(disclosure_stats(logged(log), [], MARCH, REPORT, DEFAULT_POLICY))
    assert row["reported"] == 2 and "PERMIT" not in row["silent_matters"] and "PENALTY" in row["silent_matters"]


def test_a_request_s_bad_instant_is_named_as_of():
    with pytest.raises(ValueError) as raised:
        stats_request("2025-03-01", "2025-03-31", None, "yesterday", NOW)
    assert raised.value.as_dict()["field"] == "as_of"


def test_a_historical_import_and_an_exempt_permit_have_outcomes_of_their_own():
    exempt_permit = ev.valid("PermitGranted", {"record_id": "X-E", "decision_no": no("X-E"), "permit_kind": "普通",
                                               "content": "预包装食品销售", "valid_from": "2025-03-04",
                                               "valid_to": "2029-12-31", **SECRET}, "2025-03-04",
                             classification="INTERNAL")
    log = [ev.subject_registered(), exempt_permit,
           # imported in April, years of records at once: not late, counted apart (R10)
           ev.penalty_imposed("P-H", "2025-03-04", recorded_at="2025-04-20T10:00:00+08:00", historical=True)]
    row = row_of(disclosure_stats(logged(log), [], MARCH, REPORT, DEFAULT_POLICY))
    assert {name: count for name, count in counts(row).items() if name != "reported"} == {
        "permits_exempt": 1, "penalties_historical": 1}


def test_an_objection_is_due_from_its_acceptance_decided_on_its_due_day_in_time_and_filed_in_the_period():
    # March 2025 has no holiday. O-1: filed Mon 03-03, accepted Fri 03-07, due 5 working days later, Fri 03-14,
    # decided that day: in time (from the filing it would have been due Wed 03-12). O-2: never accepted, due
    # 03-03 + 2 + 5 working days = Wed 03-12, decided Thu 03-13: late. O-0 was filed in February: not counted.
    log = [ev.subject_registered(), ev.penalty_imposed("P-1", "2025-02-03"), ev.penalty_imposed("P-2", "2025-02-03"),
           ev.objection_filed("O-0", "P-1", on="2025-02-27"), ev.objection_accepted("O-0", "P-1", on="2025-02-28"),
           ev.objection_resolved("O-0", "P-1", on="2025-02-28"),
           ev.objection_filed("O-1", "P-1", on="2025-03-03"), ev.objection_accepted("O-1", "P-1", on="2025-03-07"),
           ev.objection_resolved("O-1", "P-1", on="2025-03-14"),
           ev.objection_filed("O-2", "P-2", on="2025-03-03"), ev.objection_resolved("O-2", "P-2", on="2025-03-13")]
    row = row_of(disclosure_stats(logged(log), [], MARCH, REPORT, DEFAULT_POLICY))
    assert (row["objections_filed"], row["objections_decided"], row["objections_decided_late"],
            row["objections_overdue_open"]) == (2, 2, 1, 0)


# --- what the mutation run of stats.py showed untested (docs/mutation.md) ---------------------------------
def test_the_log_s_word_that_an_objection_is_overdue_counts_before_the_day_the_report_computes():
    """A ProcessingOverdue in the log (here written early, by timers counting fewer days) makes the objection
    late or overdue, whatever day the statistics compute: the report instant, Fri 03-07 noon, is before the due
    day computed (accepted 03-04 + 5 working days: 03-11)."""
    log = [ev.subject_registered(), ev.penalty_imposed("P-2", "2025-02-03"), ev.penalty_imposed("P-3", "2025-02-03"),
           ev.objection_filed("O-1", "P-2", on="2025-03-03"), ev.objection_accepted("O-1", "P-2", on="2025-03-04"),
           ev.processing_overdue("OBJECTION", "O-1", due_on="2025-03-05", on="2025-03-06"),
           ev.objection_resolved("O-1", "P-2", on="2025-03-06"),  # before its computed due day, 03-11
           ev.objection_filed("O-2", "P-3", on="2025-03-03"), ev.objection_accepted("O-2", "P-3", on="2025-03-04"),
           ev.processing_overdue("OBJECTION", "O-2", due_on="2025-03-05", on="2025-03-06")]
    report = datetime(2025, 3, 7, 12, 0, tzinfo=SHANGHAI)
    row = row_of(disclosure_stats(logged(log), [], MARCH, report, DEFAULT_POLICY))
    # reported: the five objection events of March (the timers' not counted)
    assert counts(row) == {"reported": 5, "objections_filed": 2, "objections_decided": 1,
                           "objections_decided_late": 1, "objections_overdue_open": 1}


def test_an_objection_and_a_repair_are_each_due_by_their_own_working_days():
    # objections decided within 2 working days, repairs within 10: both accepted Tue 03-04 and decided Mon 03-10,
    # the 4th working day after (no holiday in March 2025): the objection late (due 03-06), the repair in time
    policy = replace(DEFAULT_POLICY, objection_decision_working_days=2, repair_decision_working_days=10)
    log = [ev.subject_registered(), ev.penalty_imposed("P-1", "2025-02-03"),
           ev.penalty_imposed("P-9", "2024-11-01"), ev.penalty_fulfilled("P-9", "2024-11-08"),
           ev.objection_filed("O-1", "P-1", on="2025-03-03"), ev.objection_accepted("O-1", "P-1", on="2025-03-04"),
           ev.objection_resolved("O-1", "P-1", on="2025-03-10"),
           ev.repair_requested("R-1", "P-9", on="2025-03-03"), ev.repair_accepted("R-1", "P-9", on="2025-03-04"),
           ev.repair_decided("R-1", "P-9", on="2025-03-10")]
    row = row_of(disclosure_stats(logged(log), [], MARCH, REPORT, policy))
    assert (row["objections_decided"], row["objections_decided_late"]) == (1, 1)
    assert (row["repairs_decided"], row["repairs_decided_late"]) == (1, 0)


def test_an_objection_is_due_under_the_policy_of_the_day_it_was_recorded_and_folded_under_the_book():
    """From 03-01 this book's policy wants an objection decided 1 working day after its acceptance, and lets the
    credit office resolve none. O-1, filed Fri 02-28 but recorded Mon 03-03, falls under it: accepted 03-03,
    decided 03-05, late (due 03-04). O-2's resolution by the credit office on 03-05 is refused by the fold under
    the book: O-2 stays open, overdue at the report instant (accepted 03-03: due 03-04)."""
    later = replace(DEFAULT_POLICY, version="2025.1", effective_from="2025-03-01", objection_decision_working_days=1,
                    credit_office_acts_on=DEFAULT_POLICY.credit_office_acts_on - {"ObjectionResolved"})
    filed = ev.valid("ObjectionFiled", {"objection_id": "O-1", "record_id": "P-1", "grounds": "违法事实认定不清"},
                     "2025-02-28", recorded_at="2025-03-03T09:00:00+08:00")
    by_the_office = {**ev.objection_resolved("O-2", "P-2", on="2025-03-05"), "source": ev.CREDIT_OFFICE_SOURCE}
    log = [ev.subject_registered(), ev.penalty_imposed("P-1", "2025-02-03"), ev.penalty_imposed("P-2", "2025-02-03"),
           filed, ev.objection_accepted("O-1", "P-1", on="2025-03-03"), ev.objection_resolved("O-1", "P-1", on="2025-03-05"),
           ev.objection_filed("O-2", "P-2", on="2025-03-03"), ev.objection_accepted("O-2", "P-2", on="2025-03-03"),
           by_the_office]
    february_and_march = period("2025-02-01", "2025-03-31")
    row = row_of(disclosure_stats(logged(log), [], february_and_march, REPORT, PolicyBook((DEFAULT_POLICY, later))))
    assert (row["objections_filed"], row["objections_decided"], row["objections_decided_late"],
            row["objections_overdue_open"]) == (2, 1, 1, 1)


def test_a_rejection_without_a_partition_is_not_placed_on_partition_1():
    log = [ev.subject_registered(), ev.penalty_imposed("P-1", "2025-03-03")]
    without_partition = rejection(1, "range")
    del without_partition["partition"]
    result = disclosure_stats(logged(log, partition=1), [without_partition], MARCH, REPORT, DEFAULT_POLICY)
    assert (row_of(result)["rejected"], row_of(result, UNATTRIBUTED)["rejected"]) == (0, 1)


def test_a_record_of_the_log_without_a_subject_changes_no_figure():
    log = [ev.subject_registered(), ev.penalty_imposed("P-1", "2025-03-03")]
    broken = {key: value for key, value in ev.penalty_imposed("P-2", "2025-03-03").items() if key != "subject"}
    alone = disclosure_stats(logged(log), [], MARCH, REPORT, DEFAULT_POLICY)
    assert disclosure_stats(logged([*log, broken]), [], MARCH, REPORT, DEFAULT_POLICY) == alone
    assert disclosure_stats(logged([*log, {**broken, "subject": None}]), [], MARCH, REPORT, DEFAULT_POLICY) == alone


def test_the_figures_need_no_deadline_derived(monkeypatch):
    """The statistics fold the log as it is: nothing of the timers' work (a subject's pending deadlines) is
    derived, so a fault there sets no event aside from the figures."""
    from projections import replay as module
    expected = disclosure_stats(logged(march()), [], MARCH, REPORT, DEFAULT_POLICY)

    def raising(state, policy):
        raise ZeroDivisionError("a bug planted by the test")
    monkeypatch.setattr(module, "pending_deadlines", raising)
    assert disclosure_stats(logged(march()), [], MARCH, REPORT, DEFAULT_POLICY) == expected


def test_the_rejection_of_a_timers_event_that_lost_its_race_counts_for_nobody():
    # The timers wrote the decision's DisclosureOverdue while its record was on its way; the record was folded
    # first, so the fold refused the overdue event (decision_arrived). Whether that happens is the worker's
    # timing, not the authority's doing: its row counts the publisher's own rejection (offset 4) only.
    number = ev.decision_no("P-1")
    log = [ev.subject_registered(), ev.decision_registered(number, on="2025-03-03"),
           ev.penalty_imposed("P-1", "2025-03-03"), ev.disclosure_overdue(number, due_on="2025-03-12"),
           ev.penalty_imposed("P-1", "2025-03-03")]
    rejections = [rejection(3, "decision_arrived"), rejection(4, "duplicate_id")]
    result = disclosure_stats(logged(log), rejections, MARCH, REPORT, DEFAULT_POLICY)
    assert (row_of(result)["rejected"], row_of(result)["rejected_by_rule"]) == (1, {"duplicate_id": 1})
    assert result["totals"]["rejected"] == 1
    assert not [row for row in result["rows"] if row["authority_code"] == UNATTRIBUTED and row["rejected"]]
