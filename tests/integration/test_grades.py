"""Grades against the real broker: GradeChanged on credit.grades as events move a grade, the grade
endpoint and command (now and as of an instant), and the regrade sweep when a new policy takes effect."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import projections
from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from streams import ledger_reader, topics
from streams.clock import Clock
from streams.codec import decode_grade_changed
from streams.sdk import Publisher
from tests.helpers import Worker, cli, http_json, wait_for

AUTHORITY = {"authority_code": make_uscc("410100", 9, "1", "1"), "authority_name": "郑州市生态环境局"}
PACKAGED_POLICY = Path(projections.__file__).parent / "policies" / "2024.1.yaml"


def changes_of(bootstrap, subject_id: str) -> list[dict]:
    return [decode_grade_changed(v) for _, _, k, v, _ in ledger_reader.read_topic(bootstrap, topics.GRADES)
            if k == subject_id.encode()]


def test_grade_changes_are_published_served_and_regraded_by_a_new_policy(kafka, tmp_path):
    today = datetime.now(SHANGHAI).date()
    company = {"id": make_uscc("410105", 9100), "kind": "LEGAL_PERSON", "name": "郑州金水测试化工有限公司"}

    def event(type_, on, payload):
        return {"type": type_, "subject": company, "source": AUTHORITY, "occurred_on": on.isoformat(), "payload": payload}
    registered = event("SubjectRegistered", today - timedelta(days=400), {"region_code": "410105", "registered_on": "2019-05-05"})
    penalty = event("PenaltyImposed", today, {"record_id": "ZZ-EP-1", "decision_no": "郑环罚〔2026〕91号",
                                              "violation_type": "超标排放", "facts": "废水化学需氧量超标",
                                              "basis": "《水污染防治法》第八十三条", "penalty_kinds": ["FINE", "SUSPENSION"],
                                              "fine_fen": 20_000_000, "severity": "SEVERE"})
    # a provincial policy taking effect in six days: a SEVERE penalty then costs 300 points
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    text = PACKAGED_POLICY.read_text(encoding="utf-8").replace('version: "2024.1"', 'version: "2099.9"')
    text = text.replace("effective_from: 2020-01-01", f"effective_from: {today + timedelta(days=8)}")
    text = text.replace("SEVERE: -150}", "SEVERE: -300}")
    (policy_dir / "2099.9.yaml").write_text(text, encoding="utf-8")
    # a quarter day a second: the new policy takes effect ~32 s from now, the worker's edge stamps the events
    # on this clock, so they are recorded under the old one (a worker starts in 5-15 s)
    clock = Clock(21_600.0)
    worker = Worker(kafka.bootstrap, tmp_path / "w", free_port(), env={
        "CREDIT_LEDGER_POLICY_DIR": str(policy_dir), "CREDIT_LEDGER_CLOCK_SPEED": str(clock.speed),
        "CREDIT_LEDGER_CLOCK_STARTED_S": str(clock.started_s)}).start()
    try:
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            assert publisher.publish(registered)  # returns once the edge has stamped it and the broker has it
            recorded = clock.now().astimezone(SHANGHAI)  # the ledger's time, after the registration's recorded_at
            time.sleep(1.1)  # the registration's recorded_at is now strictly before the penalty's
            assert publisher.publish(penalty)  # no wait between the two: the new policy's day comes ~30 s on
        seen: list = []

        def three_moves():
            seen[:] = changes_of(kafka.access(), company["id"])
            return len(seen) >= 3
        try:
            wait_for(three_moves, 90, what="the penalty's and the new policy's grade changes")
        except AssertionError:
            raise AssertionError(f"grade changes seen: {seen}; file: {worker.file(company['id'])}") from None
        moves = list(seen)
        first, by_penalty, by_policy = moves[:3]
        assert (first["from_letter"], first["to_letter"], first["to_score"], first["cause"]) == (None, "A", 1000,
                                                                                                  "SubjectRegistered")
        assert (by_penalty["from_letter"], by_penalty["to_letter"], by_penalty["to_score"]) == ("A", "B", 850)
        assert by_penalty["cause"] == "PenaltyImposed" and by_penalty["offset"] >= 0
        assert [(r["record_id"], r["rule"], r["points"]) for r in by_penalty["added"]] == [
            ("ZZ-EP-1", "penalty_on_display", -150)]
        assert (by_policy["from_letter"], by_policy["to_letter"], by_policy["to_score"]) == ("B", "C", 700)
        assert by_policy["cause"] == "policy 2099.9" and by_policy["offset"] == -1 and by_policy["cause_event_id"] is None

        status, now = worker.get(f"/subjects/{company['id']}/grade")
        assert status == 200 and (now["letter"], now["score"], now["policy_version"]) == ("C", 700, "2099.9")
        assert worker.file(company["id"])["grade"] == {k: v for k, v in now.items() if k != "subject_id"}
        status, then = worker.get(f"/subjects/{company['id']}/grade?at={quote(recorded.isoformat())}")
        assert status == 200 and (then["letter"], then["score"], then["policy_version"]) == ("A", 1000, "2024.1")
        assert worker.get(f"/subjects/{company['id']}/grade?at=someday")[0] == 400
        done = cli("grade", company["id"], "--web-url", worker.url, env={"CREDIT_LEDGER_TOKEN": worker.tokens["supervisor"]})
        assert done.returncode == 0 and "grade C" in done.stdout and "ZZ-EP-1" in done.stdout
        # the sweep regrades the whole ledger 500 subjects at a time, this company's chunk among them
        metrics = wait_for(lambda: (lambda text: text if "credit_regrade_progress_ratio 1.0" in text else None)(
            http_text(f"{worker.url}/metrics")), 30, what="the regrade sweep done")
        assert 'credit_grade_subjects{grade="C"}' in metrics
        check_public_list(kafka, worker, event)
        # the 双随机 sample drawn live from the ledger (a re-fold of credit.events): ⌈ratio × count⌉ of each grade
        import json
        done = cli("sample", "--seed", "7", "--region", "410105", "--kafka", kafka.bootstrap)
        assert done.returncode == 0, done.stderr
        drawn = json.loads(done.stdout)
        assert sum(drawn["population"].values()) >= 1 and drawn["drawn"] == drawn["by_ratio"]
        assert len(drawn["sample"]) == sum(drawn["drawn"].values()) >= 1
    finally:
        worker.stop()


def test_a_worker_folding_from_an_empty_store_does_not_regrade_what_it_graded_as_it_folded(kafka, tmp_path):
    company = {"id": make_uscc("410105", 9101), "kind": "LEGAL_PERSON", "name": "郑州金水复评测试有限公司"}
    for restart in range(2):  # a fresh store, then the same store restarted
        worker = Worker(kafka.bootstrap, tmp_path / "w", free_port()).start()
        try:
            if not restart:
                with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
                    assert publisher.publish({"type": "SubjectRegistered", "subject": company, "source": AUTHORITY,
                                              "occurred_on": "2024-03-01", "payload": {"region_code": "410105",
                                                                                      "registered_on": "2019-05-05"}})
            wait_for(lambda: worker.get(f"/subjects/{company['id']}/grade")[0] == 200, 30, what="the grade")
            time.sleep(3)  # three policy checks: each found the store graded under the policy in force
            metrics = http_text(f"{worker.url}/metrics")
            assert "credit_regraded_subjects_total 0.0" in metrics, [
                line for line in metrics.splitlines() if line.startswith("credit_regrade")]
        finally:
            worker.stop()


def check_public_list(kafka, worker, event):
    """A list entry appears on the public list with its measures and its sector, and leaves it when it exits.
    (A black list: the company has a SEVERE penalty on display, beside which a red entry is refused.)"""
    today = datetime.now(SHANGHAI).date()
    entered = event("ListEntered", today, {"entry_id": "ZZ-BL-1", "list_kind": "OTHER_BLACKLIST",
                                           "reason": "环境违法失信企业", "sector": "ENVIRONMENT",
                                           "measures": ["ENHANCED_INSPECTION", "PUBLIC_NOTICE"]})
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        subject_id = publisher.publish(entered).subject_id

    def listed(query: str = ""):
        status, body = http_json(f"{worker.url}/lists/OTHER_BLACKLIST?limit=1000{query}")
        return status == 200 and [e for e in body["entries"] if e["subject_id"] == subject_id]
    (entry,) = wait_for(listed, 30, what="the entry on the public OTHER_BLACKLIST")
    assert entry["entry_id"] == "ZZ-BL-1" and entry["name"] == "郑州金水测试化工有限公司"
    assert [(m["code"], m["kind"], m["known"]) for m in entry["measures"]] == [
        ("ENHANCED_INSPECTION", "PUNISHMENT", True), ("PUBLIC_NOTICE", "PUNISHMENT", True)]
    assert entry["measures"][0]["authority"] and entry["measures"][0]["name"]
    assert listed("&sector=ENVIRONMENT") and not listed("&sector=WORK_SAFETY")  # issue 29: by sector
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        publisher.publish(event("ListExited", today, {"entry_id": "ZZ-BL-1", "exit_reason": "信用修复，依法移出"}))
    wait_for(lambda: not listed(), 30, what="the exited entry off the public list")
    assert http_json(f"{worker.url}/lists/NO_SUCH_LIST")[0] == 404
    assert http_json(f"{worker.url}/lists/OTHER_BLACKLIST?limit=0")[0] == 400


def http_text(url: str) -> str:
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()
