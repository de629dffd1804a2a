"""Joint measures end to end against a real worker and broker (issue 31 part 3): the credit office lists a
company with the bidding ban; the housing bureau checks it at a tender (GET /subjects/{id}/measures, logged on
credit.access-log with its purpose and matter, which the company reads on its own access log), then reports
what it did (MeasureApplied through POST /events, folded onto the entry); the tax bureau, which does not
implement the ban, is refused at the edge (403) and, in an admin's import, by the fold with its reason on
credit.rejected; it may not check as housing either."""
from __future__ import annotations

import json
import random
import urllib.parse
from datetime import datetime, timedelta

import pytest

from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from streams import ledger_reader, topics
from streams.codec import decode_access_record, decode_rejection
from tests.helpers import Worker, http_json, wait_for

# 郑州's 发展和改革委员会 (the credit office), 住房和城乡建设局 and 税务局: ops/demo.py serials 5, 4 and 1, in the
# packaged policy's register (the housing bureau implements BIDDING_BAN, the tax bureau INVOICE_RESTRICTION)
CREDIT = {"authority_code": make_uscc("410100", 5, "1", "1"), "authority_name": "郑州市发展和改革委员会"}
HOUSING = {"authority_code": make_uscc("410100", 4, "1", "1"), "authority_name": "郑州市住房和城乡建设局"}
TAX = {"authority_code": make_uscc("410100", 1, "1", "1"), "authority_name": "国家税务总局郑州市税务局"}
PURPOSE, MATTER = "工程建设项目招标投标资格审查", "郑建招〔2026〕17号"


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    company = make_uscc("410105", random.Random().randint(10_000, 900_000))
    worker = Worker(kafka.bootstrap, tmp_path_factory.mktemp("measures"), free_port(),
                    authority_codes=[CREDIT["authority_code"], HOUSING["authority_code"], TAX["authority_code"]],
                    subject_ids=[company]).start()
    today = datetime.now(SHANGHAI).date()
    entry = {"type": "ListEntered", "subject": {"id": company, "kind": "LEGAL_PERSON", "name": "郑州金水测试建筑有限公司"},
             "source": CREDIT, "occurred_on": (today - timedelta(days=3)).isoformat(),
             "payload": {"entry_id": "MD-1", "list_kind": "SERIOUS_DISHONESTY", "reason": "违法分包，认定为严重失信主体",
                         "measures": ["BIDDING_BAN", "PUBLIC_NOTICE"]}}
    status, body = post(worker, CREDIT, entry)
    assert status == 202, body
    wait_for(lambda: (worker.file(company) or {}).get("events_total") == 1, 60, what="the entry folded")
    yield {"worker": worker, "company": company, "today": today, "kafka": kafka}
    worker.stop()


def post(worker: Worker, authority: dict, event: dict) -> tuple[int, object]:
    return http_json(worker.url + "/events", json.dumps(event, ensure_ascii=False).encode(),
                     token=worker.tokens["publishers"][authority["authority_code"]])


def feedback(world, source: dict, case_id: str, type_: str = "MeasureApplied") -> dict:
    return {"type": type_, "subject": {"id": world["company"], "kind": "LEGAL_PERSON"}, "source": source,
            "occurred_on": world["today"].isoformat(),
            "payload": {"case_id": case_id, "entry_id": "MD-1", "measure": "BIDDING_BAN", "matter": MATTER,
                        "result": "投标资格审查不予通过"}}


def check(world, token: str, **query) -> tuple[int, object]:
    return http_json(f"{world['worker'].url}/subjects/{world['company']}/measures?{urllib.parse.urlencode(query)}",
                     token=token)


def test_a_department_checks_the_measures_binding_it_and_the_check_is_logged(world):
    worker, company = world["worker"], world["company"]
    housing_token = worker.tokens["publishers"][HOUSING["authority_code"]]
    status, body = check(world, housing_token, authority=HOUSING["authority_code"], purpose=PURPOSE, matter=MATTER)
    assert status == 200, body
    assert [(m["entry_id"], m["measure"], m["kind"]) for m in body["measures"]] == [("MD-1", "BIDDING_BAN", "PUNISHMENT")]
    assert body["measures"][0]["entry_authority_code"] == CREDIT["authority_code"] and body["measures"][0]["basis"]
    # the credit office implements the public notice (and, in this register, the bidding ban): a supervisor sees any
    status, body = check(world, worker.tokens["supervisor"], authority=CREDIT["authority_code"], purpose="监管",
                         matter="季度核查")
    assert status == 200 and {m["measure"] for m in body["measures"]} == {"PUBLIC_NOTICE", "BIDDING_BAN"}
    # another department's measures are not the housing bureau's to read; a check says why and in which matter
    status, body = check(world, housing_token, authority=TAX["authority_code"], purpose=PURPOSE, matter=MATTER)
    assert status == 403 and body["errors"][0]["rule"] == "measure_check_authority"
    status, body = check(world, housing_token, authority=HOUSING["authority_code"], matter=MATTER)
    assert status == 400 and [(e["field"], e["rule"]) for e in body["errors"]] == [("purpose", "required")]
    assert check(world, None, authority=HOUSING["authority_code"], purpose=PURPOSE, matter=MATTER)[0] == 403

    def logged():
        records = [decode_access_record(v) for *_, v, _ in
                   ledger_reader.read_topic(world["kafka"].access(), topics.ACCESS_LOG)]
        return [r for r in records if r["subject_id"] == company and r["action"] == "measure_check"
                and r["authority_code"] == HOUSING["authority_code"]] or None
    (record, *_) = wait_for(logged, 30, what="the check on credit.access-log")
    assert record["endpoint"] == "GET /subjects/{id}/measures" and record["record_ids"] == ["MD-1"]
    assert f"purpose: {PURPOSE}" in record["reason"] and f"matter: {MATTER}" in record["reason"]
    # the company reads who checked it, why and in which matter
    status, body = http_json(f"{worker.url}/subjects/{company}/access-log", token=worker.tokens["subjects"][company])
    assert status == 200 and any(r["action"] == "measure_check" and MATTER in r["reason"] for r in body["reads"])


def test_the_implementing_department_reports_back_and_another_is_refused_by_the_fold(world):
    worker, company = world["worker"], world["company"]
    status, body = post(worker, HOUSING, feedback(world, HOUSING, "K-1"))
    assert status == 202, body
    status, body = post(worker, TAX, feedback(world, TAX, "K-2"))  # not a measure the tax bureau implements
    assert status == 403 and [e["rule"] for e in body["errors"]] == ["measure_implementer"], body
    assert post(worker, HOUSING, feedback(world, TAX, "K-3"))[0] == 403  # as another authority: never
    # an admin's import is not asked at the edge; the fold holds the same rule
    status, refused = http_json(worker.url + "/events", json.dumps(feedback(world, TAX, "K-4"), ensure_ascii=False)
                                .encode(), token=worker.tokens["admin"])
    assert status == 202, refused

    def folded():
        entries = (worker.file(company) or {}).get("records", {}).get("lists", [])
        return entries[0] if entries and entries[0].get("feedback_counts") else None
    entry = wait_for(folded, 60, what="the feedback folded")
    assert entry["feedback_counts"] == {"BIDDING_BAN": {"APPLIED": 1, "DECLINED": 0}}
    assert [(c["case_id"], c["authority_code"], c["matter"]) for c in entry["feedback"]] == [
        ("K-1", HOUSING["authority_code"], MATTER)]

    def rejected():
        found = [decode_rejection(v) for *_, v, _ in ledger_reader.read_topic(world["kafka"].access(), topics.REJECTED)]
        return [r for r in found if r.get("event_id") == refused["event_id"]]
    (rejection, *_) = wait_for(rejected, 30, what="the rejection on credit.rejected")
    assert [reason["rule"] for reason in rejection["reasons"]] == ["not_measure_implementer"]
    public = http_json(f"{worker.url}/subjects/{company}")[1]
    assert "feedback" not in public["records"]["lists"][0]  # the cases are the departments' and supervisors'
