"""`credit-ledger stats` and GET /stats/disclosure against a real broker and worker: events published through
the edge, the CLI's figures equal to the route's, both equal to the answer worked out by hand, and the same
from a worker that folded the log anew (a rebuild). The broker is the session's: other tests' events may be in
the log, so the hand-worked answer is the difference the events published here make to one authority's row."""
from __future__ import annotations

import json
import urllib.parse
from datetime import datetime, timedelta

import pytest

from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI, instant_text
from projections.ids import make_uscc
from projections.stats import COUNTS, UNATTRIBUTED
from streams.ledger_reader import TopicReader
from streams.routes_stats import LogTooLarge, read_stats_log
from tests.helpers import Worker, cli, http_json, wait_for

COURT = "11630200730374434H"  # 海东市中级人民法院: in the register, never a source of the demo's records
SOURCE = {"authority_code": COURT, "authority_name": "海东市中级人民法院"}
COMPANY = make_uscc("630202", 4242)


def _event(type_: str, on: str, **payload) -> dict:
    return {"type": type_, "occurred_on": on, "source": SOURCE, "payload": payload,
            "subject": {"id": COMPANY, "kind": "LEGAL_PERSON", "name": "海东平安统计测试有限公司"}}


def _penalty(record_id: str, no: str, on: str) -> dict:
    return _event("PenaltyImposed", on, record_id=record_id, decision_no=no, severity="GENERAL", fine_fen=500_000,
                  penalty_kinds=["FINE"], violation_type="虚假宣传", facts="发布虚假广告", basis="《广告法》第五十五条")


def _stats(worker: Worker, query: dict, role: str = "supervisor") -> tuple[int, object]:
    return http_json(f"{worker.url}/stats/disclosure?{urllib.parse.urlencode(query)}",
                     token=worker.tokens[role], timeout_s=60)


def _row(result: dict, code: str) -> dict:
    (row,) = [row for row in result["rows"] if row["authority_code"] == code]
    return row


@pytest.fixture()
def worker(kafka, tmp_path):
    running = Worker(kafka.bootstrap, tmp_path / "worker", free_port(), authority_codes=(COURT,)).start()
    yield running
    running.stop()


def test_the_cli_and_the_route_agree_with_the_hand_worked_answer_and_after_a_rebuild(worker, kafka, tmp_path):
    today = datetime.now(SHANGHAI).date()
    old, now = (today - timedelta(days=60)).isoformat(), today.isoformat()
    query = {"from": (today - timedelta(days=90)).isoformat(), "to": now, "by": "authority"}
    status, before = _stats(worker, {**query, "as_of": instant_text(datetime.now(SHANGHAI))})
    assert status == 200, before
    url = f"{worker.url}/stats/disclosure?{urllib.parse.urlencode(query)}"
    assert http_json(url, token=next(iter(worker.tokens["publishers"].values())))[0] == 403  # supervisors only
    assert http_json(url)[0] == 403  # nor anonymous
    status, body = _stats(worker, {**query, "to": "2020-13-01"})
    assert status == 400 and body["errors"][0]["field"] == "to"
    events = [
        _event("SubjectRegistered", "2015-06-01", region_code="630202", registered_on="2015-06-01"),
        _event("DecisionRegistered", old, decision_no="海东法罚〔1〕号", decision_kind="PENALTY"),
        _penalty("S-1", "海东法罚〔1〕号", old),                      # 60 days after its decision: late
        _event("DecisionRegistered", now, decision_no="海东法罚〔2〕号", decision_kind="PENALTY"),
        _penalty("S-2", "海东法罚〔2〕号", now),                      # the same day: on time
        _event("DecisionRegistered", old, decision_no="海东法罚〔3〕号", decision_kind="PENALTY"),  # missing
        _event("PermitGranted", now, record_id="SX-1", decision_no="海东法许〔1〕号", permit_kind="普通",
               content="统计测试", valid_from=now, valid_to="2029-12-31"),  # on time, never registered
        _penalty("S-2", "海东法罚〔4〕号", now),                      # S-2 again: the fold rejects it
        # the court lists the company and, as the implementer of the consumption ban, reports two cases (联合奖惩)
        _event("ListEntered", old, entry_id="SL-1", list_kind="DISHONEST_JUDGMENT_DEBTOR", reason="拒不履行",
               measures=["HIGH_CONSUMPTION_BAN"]),
        _event("MeasureApplied", now, case_id="SK-1", entry_id="SL-1", measure="HIGH_CONSUMPTION_BAN",
               matter="统计测试-1", result="限制乘坐飞机"),
        _event("MeasureDeclined", now, case_id="SK-2", entry_id="SL-1", measure="HIGH_CONSUMPTION_BAN",
               matter="统计测试-2", result="就医所需，不予限制"),
    ]
    admin = worker.tokens["admin"]
    for event in events:
        status, body = http_json(worker.url + "/events", json.dumps(event, ensure_ascii=False).encode(), token=admin)
        assert status == 202, body
    status, body = http_json(worker.url + "/events", json.dumps(_event("SubjectRegistered", "2015-02-29")).encode(),
                             token=admin)
    assert status == 422, body  # refused at the edge: it never reaches the log, no authority to charge it to

    def settled():
        status, result = _stats(worker, {**query, "as_of": instant_text(datetime.now(SHANGHAI))})
        return result if status == 200 and _row(result, COURT)["rejected"] > _row(before, COURT)["rejected"] else None
    wait_for(settled, 60, what="the worker's rejection on credit.rejected")
    as_of = instant_text(datetime.now(SHANGHAI))
    status, by_route = _stats(worker, {**query, "as_of": as_of})
    assert status == 200, by_route
    done = cli("stats", "--from", query["from"], "--to", now, "--by", "authority", "--as-of", as_of,
               "--format", "json", "--kafka", kafka.bootstrap, "--web-url", worker.url,
               env={"CREDIT_LEDGER_TOKEN": worker.tokens["supervisor"]})
    assert done.returncode == 0, done.stdout + done.stderr
    by_cli = json.loads(done.stdout)
    assert by_cli == by_route

    gained = {name: _row(by_route, COURT)[name] - _row(before, COURT)[name] for name in COUNTS}
    assert {name: n for name, n in gained.items() if n} == {
        "reported": 9, "penalties_late": 1, "penalties_on_time": 1, "penalties_missing": 1, "permits_on_time": 1,
        "measures_applied": 1, "measures_declined": 1, "rejected": 1}
    court = _row(by_route, COURT)
    assert court["measures_by_code"]["HIGH_CONSUMPTION_BAN"]["declined"] >= 1
    assert court["gap"] is False and court["registered"] and court["rejected_by_rule"].get("duplicate_id", 0) >= 1
    assert (_row(by_route, UNATTRIBUTED)["rejected"]
            - next((r["rejected"] for r in before["rows"] if r["authority_code"] == UNATTRIBUTED), 0)) == 1
    # the CSV says the same
    done = cli("stats", "--from", query["from"], "--to", now, "--as-of", as_of, "--format", "csv",
               "--kafka", kafka.bootstrap, "--web-url", worker.url, env={"CREDIT_LEDGER_TOKEN": worker.tokens["supervisor"]})
    assert done.returncode == 0, done.stderr
    header, *lines = done.stdout.splitlines()
    (line,) = [line for line in lines if line.startswith(COURT + ",")]
    cells = dict(zip(header.split(","), line.split(",")))
    assert (cells["penalties_late"], cells["reported"]) == (str(court["penalties_late"]), str(court["reported"]))
    consumption = court["measures_by_code"]["HIGH_CONSUMPTION_BAN"]
    assert f"HIGH_CONSUMPTION_BAN={consumption['applied']}/{consumption['declined']}" in cells["measures_by_code"]

    # the route folds a bounded log: beyond its bound, nothing is read and the command is named
    with pytest.raises(LogTooLarge, match="credit-ledger stats"):
        read_stats_log(TopicReader(kafka.access("worker")), events_max=len(events) - 1)

    # a worker that folds the log anew into an empty store gives the same figures
    worker.stop()
    again = Worker(kafka.bootstrap, tmp_path / "rebuilt", free_port()).start()
    try:
        status, rebuilt = _stats(again, {**query, "as_of": as_of})
        assert status == 200 and rebuilt == by_route
    finally:
        again.stop()
