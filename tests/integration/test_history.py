"""Auditors' reconstruction from the log: `history --as-of T` gives exactly the credit file the live
worker served at T (captured during the run), read via the worker's index or by a scan."""
from __future__ import annotations

import json
import re
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import quote

from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from streams import ledger_reader, topics
from streams.codec import decode_access_record
from streams.sdk import Publisher
from tests.helpers import Worker, cli, http_json, wait_for

AUTHORITY = {"authority_code": make_uscc("440700", 12, "1", "1"), "authority_name": "江门市市场监督管理局"}


def _as_read(page: str) -> str:
    """A report page without what differs between two builds of the same file: when, and from what."""
    page = re.sub(r"生成时间 [0-9T:.+-]+", "生成时间 …", page)
    return re.sub(r"数据来源</th><td>[^<]*", "数据来源</th><td>…", page)


def test_as_of_views_equal_what_the_live_worker_served_then(kafka, tmp_path):
    today = datetime.now(SHANGHAI).date()
    company = {"id": make_uscc("440703", 9300), "kind": "LEGAL_PERSON", "name": "江门蓬江审计测试有限公司"}

    def event(type_, on, payload):
        return {"type": type_, "subject": company, "source": AUTHORITY, "occurred_on": on.isoformat(), "payload": payload}
    story = [
        event("SubjectRegistered", today - timedelta(days=800), {"region_code": "440703", "registered_on": "2018-06-01"}),
        event("PenaltyImposed", today - timedelta(days=3), {
            "record_id": "JM-A-1", "decision_no": "江市监罚〔2026〕301号", "violation_type": "虚假宣传", "facts": "夸大功效",
            "basis": "《反不正当竞争法》第八条", "penalty_kinds": ["FINE"], "fine_fen": 3_000_000, "severity": "SERIOUS"}),
        event("ObjectionFiled", today, {"objection_id": "JM-O-1", "record_id": "JM-A-1", "grounds": "宣传内容有检测报告支持"}),
        event("ObjectionResolved", today, {"objection_id": "JM-O-1", "record_id": "JM-A-1", "outcome": "UPHELD_WITHDRAWN"}),
    ]
    worker = Worker(kafka.bootstrap, tmp_path / "w", free_port()).start()
    auditor = {"CREDIT_LEDGER_TOKEN": worker.tokens["auditor"]}
    captured = []  # (instant just after the live file was read, the file)
    try:
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            for n, item in enumerate(story, start=1):
                publisher.publish(item)
                file = wait_for(lambda: (lambda f: f if f and f["events_total"] == n else None)(worker.file(company["id"])),
                                30, what=f"event {n} folded")
                captured.append((datetime.now(SHANGHAI).isoformat(), file))
                time.sleep(1.1)  # the next event is recorded strictly later
        for moment, live in captured:
            done = cli("history", company["id"], "--as-of", moment, "--json", "--kafka", kafka.bootstrap,
                       "--web-url", worker.url, env=auditor)
            assert done.returncode == 0, done.stderr
            view = json.loads(done.stdout)
            assert view["source"] == "index" and view["file"] == live
            status, served = worker.get(f"/subjects/{company['id']}/history?as_of={quote(moment)}", role="auditor")
            assert status == 200 and served["file"] == live
        # without the worker's index the partition is scanned, with the same result
        moment, live = captured[1]
        done = cli("history", company["id"], "--as-of", moment, "--json", "--kafka", kafka.bootstrap,
                   "--web-url", worker.url, "--scan", env=auditor)
        view = json.loads(done.stdout)
        assert view["source"].startswith("scan") and view["file"] == live
        # every read is on the access log first, as the principal the token names; none without a record
        unrecorded = cli("history", company["id"], "--kafka", kafka.bootstrap, "--web-url",
                         f"http://127.0.0.1:{free_port()}", env=auditor)
        assert unrecorded.returncode == 2 and "cannot record the read" in unrecorded.stderr
        assert unrecorded.stdout == ""
        public = cli("report", company["id"], "--out", str(tmp_path / "public.html"), "--kafka", kafka.bootstrap,
                     "--web-url", worker.url, env={"CREDIT_LEDGER_TOKEN": ""})
        assert public.returncode == 2 and "(403" in public.stderr and not (tmp_path / "public.html").exists()
        # valid time: the withdrawn penalty was never valid, even on the day it was decided
        done = cli("history", company["id"], "--valid-at", (today - timedelta(days=2)).isoformat(), "--json",
                   "--kafka", kafka.bootstrap, "--web-url", worker.url, env=auditor)
        assert json.loads(done.stdout)["file"]["records"]["penalties"] == []
        assert captured[1][1]["records"]["penalties"][0]["record_id"] == "JM-A-1"  # though known then
        report = urllib.request.Request(f"{worker.url}/subjects/{company['id']}/report",
                                        headers={"Authorization": f"Bearer {worker.tokens['auditor']}"})
        with urllib.request.urlopen(report, timeout=10) as response:
            served_page = response.read().decode()
            assert response.headers["Content-Type"].startswith("text/html") and "信用报告" in served_page
            assert company["name"] in served_page and captured[-1][1]["chain"]["head"] in served_page
        # `report` builds the same file from the log: by the worker's index, and by a scan without it
        for scan, read_by in (((), "按工作进程的偏移量索引逐条读取"), (("--scan",), "扫描了该主体所在分区的全部记录")):
            out = tmp_path / "信用报告.html"
            done = cli("report", company["id"], "--out", str(out), "--kafka", kafka.bootstrap, "--web-url", worker.url,
                       *scan, env=auditor)
            assert done.returncode == 0, done.stderr
            page = out.read_text(encoding="utf-8")
            assert read_by in page and company["name"] in page and captured[-1][1]["chain"]["head"] in page
            assert f"随附事件链共 {len(story)} 条，末端哈希与档案一致" in page
            assert _as_read(page) == _as_read(served_page)  # the page the worker serves from its own state
        unknown = cli("report", make_uscc("440703", 9301), "--out", str(tmp_path / "x.html"), "--kafka", kafka.bootstrap,
                      "--web-url", worker.url, env=auditor)
        assert unknown.returncode == 1 and "no accepted event" in unknown.stderr and not (tmp_path / "x.html").exists()
        bad = cli("history", company["id"], "--as-of", "yesterday", "--kafka", kafka.bootstrap, "--web-url", worker.url, env=auditor)
        assert bad.returncode == 2 and "as-of" in bad.stderr
        reads = [decode_access_record(v) for *_, v, _ in ledger_reader.read_topic(kafka.access("auditor"),
                                                                                  topics.ACCESS_LOG)]
        commands = Counter(r["endpoint"].split(" ")[1] for r in reads if r["subject_id"] == company["id"]
                           and r["endpoint"].startswith("credit-ledger "))
        assert commands == {"history": len(captured) + 2, "report": 2}  # the refused and the unrecorded: none
        assert {r["principal"] for r in reads if r["endpoint"].startswith("credit-ledger ")} >= {"dev-auditor"}
    finally:
        worker.stop()
