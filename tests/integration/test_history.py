"""Auditors' reconstruction from the log: `history --as-of T` gives exactly the credit file the live
worker served at T (captured during the run), proved by the worker's Merkle proofs against the roots on
credit.digests or read by a scan; a worker that serves a changed event, proof or root is named, exit 1."""
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
from tests.helpers import Worker, cli, wait_for

AUTHORITY = {"authority_code": make_uscc("440700", 12, "1", "1"), "authority_name": "江门市市场监督管理局"}


def _proved(worker: Worker, subject_id: str) -> dict | None:
    """The subject's history with proofs; None while the worker has not folded the subject yet (404)."""
    status, body = worker.get(f"/subjects/{subject_id}/history?proofs=1", role="auditor")
    if status == 404 and body == {"error": f"no subject {subject_id} in the ledger"}:
        return None  # published, not yet folded: the caller waits
    assert status == 200, body
    return body


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
        wait_for(lambda: (_proved(worker, company["id"]) or {}).get("tree"), 30, what="a Merkle root published")
        for moment, live in captured:
            done = cli("history", company["id"], "--as-of", moment, "--json", "--kafka", kafka.bootstrap,
                       "--web-url", worker.url, env=auditor)
            assert done.returncode == 0, done.stderr
            view = json.loads(done.stdout)
            assert view["source"] == "proofs" and view["file"] == live
            status, served = worker.get(f"/subjects/{company['id']}/history?as_of={quote(moment)}", role="auditor")
            assert status == 200 and served["file"] == live
        # without the worker's index the partition is scanned, with the same result
        moment, live = captured[1]
        done = cli("history", company["id"], "--as-of", moment, "--json", "--kafka", kafka.bootstrap,
                   "--web-url", worker.url, "--scan", env=auditor)
        view = json.loads(done.stdout)
        assert view["source"].startswith("scan") and view["file"] == live
        assert "records give the Merkle root on credit.digests" in view["source"]  # checked as the proofs are
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
        for scan, read_by in (((), "工作进程逐条提供默克尔包含证明"), (("--scan",), "扫描了该主体所在分区的全部记录")):
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


class FakeWorker:
    """A worker that records reads and serves a history it was given (the real worker's, changed)."""

    def __init__(self, subject_id: str):
        import http.server
        import threading

        self.answer: dict = {}
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # /access-log: the read is recorded
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._send({"recorded": True})

            def do_GET(self):
                assert self.path == f"/subjects/{quote(subject_id)}/history?proofs=1"
                self._send(fake.answer)

            def _send(self, body: dict):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _relinked(history: list[dict]) -> None:
    """The chain hashes recomputed over the (changed) events: a forger's cover, so only the proofs tell."""
    from projections.canonical import GENESIS_HEAD, chain_link
    head = GENESIS_HEAD
    for entry in history:
        head = entry["chain_hash"] = chain_link(head, entry["event"])


def test_a_changed_event_proof_or_root_from_a_worker_fails_loudly_naming_the_record(kafka, tmp_path):
    import copy

    from projections import merkle

    company = {"id": make_uscc("440703", 9310), "kind": "LEGAL_PERSON", "name": "江门证明测试有限公司"}
    story = [{"type": "SubjectRegistered", "subject": company, "source": AUTHORITY, "occurred_on": "2020-03-02",
              "payload": {"region_code": "440703", "registered_on": "2020-03-02"}}] + [
        {"type": "PermitGranted", "subject": company, "source": AUTHORITY, "occurred_on": f"2024-0{n}-03",
         "payload": {"record_id": f"JM-X-{n}", "decision_no": f"江市监许〔2024〕{n}号", "permit_kind": "普通",
                     "content": "预包装食品销售", "valid_from": f"2024-0{n}-03", "valid_to": "2029-12-31"}}
        for n in range(1, 6)]
    worker = Worker(kafka.bootstrap, tmp_path / "w", free_port()).start()
    fake = FakeWorker(company["id"])
    auditor = {"CREDIT_LEDGER_TOKEN": worker.tokens["auditor"]}
    try:
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            for item in story:
                publisher.publish(item)
        honest = wait_for(lambda: (lambda a: a if a and a["tree"] and None not in a["proofs"]
                                   and len(a["history"]) == len(story) else None)(_proved(worker, company["id"])),
                          60, what="every event proved against a published root")
        offsets = [e["offset"] for e in honest["history"]]

        def history_via_fake(answer: dict):
            fake.answer = answer
            return cli("history", company["id"], "--json", "--kafka", kafka.bootstrap, "--web-url", fake.url, env=auditor)

        done = history_via_fake(honest)  # the real worker's answer, relayed: it holds
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["source"] == "proofs"
        assert [e["offset"] for e in json.loads(done.stdout)["history"]] == offsets

        changed = copy.deepcopy(honest)  # one permit's content changed, the chain recomputed over it
        changed["history"][3]["event"]["payload"]["content"] = "预包装食品及散装食品销售"
        _relinked(changed["history"])
        done = history_via_fake(changed)
        assert done.returncode == 1 and done.stdout == ""
        assert f"the record at offset {offsets[3]}" in done.stderr and "not the one the log holds" in done.stderr

        bent = copy.deepcopy(honest)  # a true event with a proof hash changed: the last, nearest the root
        path, top = bent["proofs"][2]["proof"], len(bent["proofs"][2]["proof"]) - 64
        bent["proofs"][2]["proof"] = path[:top] + ("0" if path[top] != "0" else "1") + path[top + 1:]
        done = history_via_fake(bent)
        assert done.returncode == 1 and f"the record at offset {offsets[2]}" in done.stderr
        assert "does not reach the published root" in done.stderr

        unchained = copy.deepcopy(honest)  # an event changed, its chain hash left as it was
        unchained["history"][1]["event"]["occurred_on"] = "2024-01-04"
        done = history_via_fake(unchained)
        assert done.returncode == 1 and f"the record at offset {offsets[1]}" in done.stderr and "chain" in done.stderr

        # a forger's whole tree: its root proves its events, but credit.digests never published it
        forged = copy.deepcopy(changed)
        nodes: dict = {}
        leaves = [merkle.record_leaf_hash(e["offset"], company["id"].encode(), _encoded(e["event"]))
                  for e in forged["history"]]
        for index, leaf in enumerate(leaves):
            for level, position, value in merkle.appended(index, leaf, lambda lv, ix: nodes[lv, ix]):
                nodes[level, position] = value
        forged["tree"]["root"] = merkle.tree_root(len(leaves), lambda lv, ix: nodes[lv, ix]).hex()
        forged["tree"]["size"] = len(leaves)
        forged["proofs"] = [{"leaf_index": i, "proof": b"".join(merkle.inclusion_proof(
            i, len(leaves), lambda lv, ix: nodes[lv, ix])).hex()} for i in range(len(leaves))]
        done = history_via_fake(forged)
        assert done.returncode == 1 and "credit.digests does not hold" in done.stderr

        done = cli("history", company["id"], "--json", "--kafka", kafka.bootstrap, "--web-url", fake.url, "--scan",
                   env=auditor)  # trusting no worker: the partition read and folded
        assert done.returncode == 0, done.stderr
        view = json.loads(done.stdout)
        assert view["source"].startswith("scan") and [e["offset"] for e in view["history"]] == offsets
        assert "records give the Merkle root on credit.digests" in view["source"]
        assert [e["chain_hash"] for e in view["history"]] == [e["chain_hash"] for e in honest["history"]]
    finally:
        fake.close()
        worker.stop()


def _encoded(event: dict) -> bytes:
    from streams.codec import encode_event
    return encode_event(event)
