"""A scoped supervisor against a real worker and broker (projections/scopes.py): it sees the subjects and
authorities of its scope and nothing of the others, in every view, and its reads are logged with the scope."""
from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from ops.embedded_kafka import free_port
from projections.access import SUPERVISOR, Principal
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from projections.scopes import Scope
from streams import ledger_reader, topics
from streams.codec import decode_access_record
from streams.principals import Credential, Principals, new_token, token_sha256, write_principals
from streams.sdk import Publisher
from tests.helpers import Worker, cli, http_json, wait_for

CHENGDU = {"authority_code": make_uscc("510100", 41, "1", "1"), "authority_name": "成都市市场监督管理局"}
HANGZHOU = {"authority_code": make_uscc("330100", 42, "1", "1"), "authority_name": "杭州市市场监督管理局"}
SCOPE = Scope(region_prefix="5101", industry_sections=("C",))  # 成都's manufacturers
SCOPED = "chengdu-manufacturing-supervisor"


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    """Three companies, each with a penalty and a black-list entry: a manufacturer in 成都 (in scope), a
    retailer in 成都 (another industry) and a manufacturer in 杭州 (another region); a supervisor scoped to
    成都's manufacturers next to the development principals."""
    data_dir = tmp_path_factory.mktemp("scopes")
    worker = Worker(kafka.bootstrap, data_dir, free_port(),
                    authority_codes=[CHENGDU["authority_code"], HANGZHOU["authority_code"]]).start()
    token = new_token()
    path = data_dir / "principals.json"
    expires_at = datetime.now(timezone.utc) + timedelta(days=1)
    write_principals(path, [*Principals.load(path).credentials,
                            Credential(Principal(SCOPED, SUPERVISOR, scope=SCOPE), token_sha256(token), expires_at)])
    rng = random.Random()
    today = datetime.now(SHANGHAI).date()
    companies = {
        "inside": ({"id": make_uscc("510104", rng.randint(10_000, 900_000)), "kind": "LEGAL_PERSON",
                    "name": "成都锦江范围测试机械有限公司"}, "510104", "C3411", CHENGDU),
        "other_industry": ({"id": make_uscc("510104", rng.randint(10_000, 900_000)), "kind": "LEGAL_PERSON",
                            "name": "成都锦江范围测试商贸有限公司"}, "510104", "F5211", CHENGDU),
        "other_region": ({"id": make_uscc("330106", rng.randint(10_000, 900_000)), "kind": "LEGAL_PERSON",
                          "name": "杭州西湖范围测试机械有限公司"}, "330106", "C3411", HANGZHOU),
    }
    story = []
    for n, (subject, region, industry, source) in enumerate(companies.values()):
        def event(type_, payload, on=today - timedelta(days=2)):
            return {"type": type_, "subject": subject, "source": source, "occurred_on": on.isoformat(),
                    "payload": payload}
        story += [event("SubjectRegistered", {"region_code": region, "industry_code": industry,
                                              "registered_on": "2012-03-01"}),
                  event("PenaltyImposed", {"record_id": f"P-{n}", "decision_no": f"罚〔2026〕{n}号",
                                           "violation_type": "虚假宣传", "facts": "夸大功效",
                                           "basis": "《广告法》第二十八条", "penalty_kinds": ["FINE"],
                                           "fine_fen": 1_000_000, "severity": "GENERAL"}),
                  event("ListEntered", {"entry_id": f"L-{n}", "list_kind": "ABNORMAL_OPERATION",
                                        "reason": "未按照规定期限公示年度报告", "measures": ["PUBLIC_NOTICE"]})]
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        report = publisher.publish_many(story)
    assert report.ok, report.invalid or report.failed
    ids = {name: subject["id"] for name, (subject, *_) in companies.items()}
    wait_for(lambda: all((worker.file(i) or {}).get("events_total") == 3 for i in ids.values()), 60,
             what="the story folded")
    # the worker re-reads the principals file within a second of its change
    wait_for(lambda: http_json(worker.url + "/timeliness", token=token)[0] == 200, 30, what="the scoped principal")
    yield {"worker": worker, "token": token, "ids": ids, "kafka": kafka}
    worker.stop()


def status_of(url: str, token: str) -> int:
    """The HTTP status of a GET (the report is a page, not JSON)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_scoped_supervisor_reads_the_files_of_its_scope_and_no_other(world):
    worker, token, ids = world["worker"], world["token"], world["ids"]
    status, file = http_json(f"{worker.url}/subjects/{ids['inside']}", token=token)
    assert status == 200 and file["grade"]["letter"] and [r["record_id"] for r in file["records"]["penalties"]] == ["P-0"]
    assert http_json(f"{worker.url}/subjects/{ids['inside']}/grade", token=token)[0] == 200
    for outside in (ids["other_industry"], ids["other_region"]):
        for path in (f"/subjects/{outside}", f"/subjects/{outside}/report", f"/subjects/{outside}/grade"):
            status, body = http_json(worker.url + path, token=token)
            assert status == 404 and body == {"error": f"no subject {outside} in the ledger"}, path
            assert status_of(worker.url + path, worker.tokens["supervisor"]) == 200, path  # the whole ledger's
    assert http_json(f"{worker.url}/subjects/{ids['other_region']}")[0] == 200  # the public sees PUBLIC records


def test_lists_timeliness_and_the_dashboard_keep_the_scope(world):
    worker, token, ids = world["worker"], world["token"], world["ids"]
    listed = lambda who: {e["subject_id"] for e in who("/lists/ABNORMAL_OPERATION?limit=1000")[1]["entries"]}  # noqa
    scoped_get = lambda path: http_json(worker.url + path, token=token)  # noqa: E731
    assert ids["inside"] in listed(scoped_get)
    assert not {ids["other_industry"], ids["other_region"]} & listed(scoped_get)
    assert set(ids.values()) <= listed(lambda path: worker.get(path, role="supervisor"))

    status, timeliness = scoped_get("/timeliness")
    assert status == 200 and set(timeliness["authorities"]) == {CHENGDU["authority_code"]}  # 杭州's is another region
    assert set(worker.get("/timeliness", role="supervisor")[1]["authorities"]) >= {CHENGDU["authority_code"],
                                                                                   HANGZHOU["authority_code"]}
    today = datetime.now(SHANGHAI).date()
    stats_path = f"/stats/disclosure?from={today - timedelta(days=10)}&to={today}"
    status, scoped_stats = scoped_get(stats_path)  # counts 成都's manufacturer only, 成都's authorities only
    assert status == 200 and scoped_stats["scope"]["region_prefix"] == "5101", scoped_stats
    (chengdu,) = [row for row in scoped_stats["rows"] if row["authority_code"] == CHENGDU["authority_code"]]
    assert (chengdu["reported"], chengdu["penalties_on_time"]) == (3, 1)
    assert {row["authority_code"][2:6] for row in scoped_stats["rows"]} == {"5101"}
    whole_rows = {row["authority_code"]: row for row in worker.get(stats_path, role="supervisor")[1]["rows"]}
    assert (whole_rows[CHENGDU["authority_code"]]["reported"], whole_rows[HANGZHOU["authority_code"]]["reported"]) == (6, 3)
    status, snapshot = scoped_get("/dashboard/snapshot")
    assert status == 200 and snapshot["scope"]["region_prefix"] == "5101"
    assert {b["subject_id"] for b in snapshot["blacklist"]} & set(ids.values()) == {ids["inside"]}
    assert snapshot["ledger"]["subjects"] is None and snapshot["grades"]["counts"] is None
    _, whole = worker.get("/dashboard/snapshot", role="supervisor")
    assert set(ids.values()) <= {b["subject_id"] for b in whole["blacklist"]} and whole["ledger"]["subjects"] >= 3


def test_the_access_log_records_the_scope_of_each_read(world):
    worker, token, ids, kafka = world["worker"], world["token"], world["ids"], world["kafka"]
    http_json(f"{worker.url}/subjects/{ids['inside']}", token=token)
    worker.get(f"/subjects/{ids['inside']}", role="supervisor")

    def reads():
        records = [decode_access_record(v) for *_, v, _ in ledger_reader.read_topic(kafka.access(), topics.ACCESS_LOG)]
        found = {r["principal"]: r for r in records if r["subject_id"] == ids["inside"] and r["action"] == "read_file"}
        return found if {SCOPED, "dev-supervisor"} <= set(found) else None
    logged = wait_for(reads, 30, what="the access records")
    assert logged[SCOPED]["scope"] == {"authority_codes": [], "region_prefix": "5101", "industry_sections": ["C"]}
    assert logged["dev-supervisor"]["scope"] is None


def test_the_sample_of_a_scoped_supervisor_draws_from_its_scope(world):
    worker = world["worker"]
    scoped = cli("sample", "--seed", "7", "--scope-of", SCOPED, env=worker.env)
    assert scoped.returncode == 0, scoped.stderr
    drawn = json.loads(scoped.stdout)
    assert drawn["sample"] and all(row["region_code"].startswith("5101") and row["industry_code"].startswith("C")
                                   for row in drawn["sample"])
    everyone = json.loads(cli("sample", "--seed", "7", env=worker.env).stdout)
    assert sum(everyone["population"].values()) > sum(drawn["population"].values()) >= 1
    refused = cli("sample", "--seed", "7", "--scope-of", "dev-supervisor", env=worker.env)
    assert refused.returncode == 2 and "has no scope" in refused.stderr
