"""/dashboard in a real browser: Debian's headless Chromium, driven by playwright, against a real worker
on the real broker. The page must load with no failed request, speak Chinese, move while events are
published (over server-sent events: if the stream stops, the numbers stop and this test fails), list
grade changes, 双公示 timeliness, deadlines and black-list entries, and open a subject's credit file.
It leaves a screenshot in tests/artifacts/dashboard.png. Then, without the browser: the event streams
are bounded, and the recent lists survive a worker restart."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from streams.dashboard_routes import STREAMS_MAX
from streams.sdk import Publisher
from tests.helpers import REPO, Worker, http_json, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SPEED = 21_600.0  # six hours a real second: a deadline due in days fires within the test
ARTIFACT = REPO / "tests" / "artifacts" / "dashboard.png"
BROWSER_TIMEOUT_MS = 60_000
AUTHORITY = {"authority_code": make_uscc("440700", 71, "1", "1"), "authority_name": "江门市市场监督管理局"}
SERIAL = 7_000_000 + os.getpid() % 10_000 * 100  # this run's companies: distinct from other runs' on a kept broker


def company(n: int) -> dict:
    return {"id": make_uscc("440703", SERIAL + n), "kind": "LEGAL_PERSON", "name": f"江门蓬江测试{n}号精密机械有限公司"}


def story(n: int, today, black_list: bool = False) -> list[dict]:
    """A company with something for every panel: a late penalty (grade down, 迟报), a decision never
    published (漏报), a commitment already overdue, one due in a month, and maybe a black-list entry."""
    subject = company(n)

    def event(type_, on, payload):
        return {"type": type_, "subject": subject, "source": AUTHORITY, "occurred_on": on.isoformat(),
                "payload": payload}
    events = [
        event("SubjectRegistered", today - timedelta(days=2000), {"region_code": "440703", "registered_on":
                                                                  (today - timedelta(days=2000)).isoformat()}),
        event("DecisionRegistered", today - timedelta(days=30), {"decision_no": f"江市监罚〔2026〕{900 + n}号",
                                                                  "decision_kind": "PENALTY"}),
        event("DecisionRegistered", today - timedelta(days=20), {"decision_no": f"江市监罚〔2026〕{n}号",
                                                                  "decision_kind": "PENALTY"}),
        event("PenaltyImposed", today, {"record_id": f"JM-P-{n}", "decision_no": f"江市监罚〔2026〕{n}号",
                                        "violation_type": "销售不合格产品", "facts": "抽检电线电缆导体电阻不合格",
                                        "basis": "《中华人民共和国产品质量法》第四十九条", "penalty_kinds": ["FINE"],
                                        "fine_fen": 3_000_000, "severity": "SERIOUS"}),
        event("CommitmentMade", today - timedelta(days=10), {
            "commitment_id": f"JM-C-{n}", "commitment_kind": "DEFERRED_DOCUMENTS", "content": "承诺补齐申请材料",
            "due_on": (today - timedelta(days=2)).isoformat()}),
        event("CommitmentMade", today, {"commitment_id": f"JM-C2-{n}", "commitment_kind": "NOTIFICATION_PROMISE",
                                        "content": "承诺三十日内完成整改", "due_on": (today + timedelta(days=30)).isoformat()}),
    ]
    if black_list:
        events.append(event("ListEntered", today, {"entry_id": f"JM-L-{n}", "list_kind": "SERIOUS_DISHONESTY",
                                                   "reason": "提供虚假材料骗取行政许可，认定为严重失信主体",
                                                   "measures": ["GOV_PROCUREMENT_BAN"]}))
    return events


def wait_in_page(page, expression: str, arg=None, timeout_ms: int = BROWSER_TIMEOUT_MS):
    """page.wait_for_function without its in-page polling, which evaluates strings (eval) and so stops at the
    worker's Content-Security-Policy (script-src 'self'): the expression is evaluated from outside, by
    page.evaluate, until it is true."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        if page.evaluate(expression, arg):
            return
        time.sleep(0.1)
    raise PlaywrightTimeout(f"{expression} not true within {timeout_ms} ms")


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is not installed: run `make setup` (it installs it)")
    return path


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    env = {"CREDIT_LEDGER_CLOCK_SPEED": str(SPEED), "CREDIT_LEDGER_CLOCK_STARTED_S": str(time.time())}
    running = Worker(kafka.bootstrap, tmp_path_factory.mktemp("worker"), free_port(), env=env).start()
    yield running
    running.stop()


def test_the_dashboard_is_alive_in_chinese_and_opens_credit_files(worker, kafka):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    today = datetime.now(SHANGHAI).date()
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        assert publisher.publish_many([e for n in range(4) for e in story(n, today, black_list=n == 0)]).ok
    listed = company(0)
    # the worker has folded them and its timers have fired the overdue ones
    wait_for(lambda: (lambda s, snap: s == 200 and snap["deadlines"]["overdue"] and any(
        b["subject_id"] == listed["id"] for b in snap["blacklist"]))(*http_json(worker.url + "/dashboard/snapshot", token=worker.tokens["supervisor"])),
        60, what="the snapshot shows the black-list entry and an overdue commitment")

    problems = []
    with sync_playwright() as playwright:
        # Debian's chromium, never a browser playwright would download
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
            context.set_default_timeout(BROWSER_TIMEOUT_MS)
            context.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
            context.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

            # as `up` says: open /dashboard, log in with the supervisor's token; the browser keeps a session
            # cookie (HttpOnly: no script of the page can read it), never the token, which is in no URL
            page.goto(worker.url + "/dashboard")
            assert page.url == worker.url + "/dashboard/login"
            page.fill("input[name=token]", worker.tokens["supervisor"])
            page.click("button[type=submit]")
            page.wait_for_url(worker.url + "/dashboard")
            (cookie,) = context.cookies()
            assert cookie["name"] == "credit_ledger_session" and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert worker.tokens["supervisor"] not in cookie["value"]
            assert page.evaluate("document.cookie") == ""
            wait_in_page(page, "Number(document.body.dataset.updates || 0) >= 2")  # two snapshots arrived
            text = page.inner_text("body")
            assert "信用风险实时监测" in text and "信用等级分布" in text and "双公示及时率" in text

            # the numbers move while events are published: they arrive only over the event stream
            before = page.inner_text("#kpi-records")
            with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
                assert publisher.publish_many([e for n in range(4, 7) for e in story(n, today, black_list=n == 6)]).ok
            try:
                wait_in_page(page, "before => document.getElementById('kpi-records').textContent !== before",
                                       arg=before)
            except PlaywrightTimeout:
                pytest.fail(f"the ledger's record count stayed {before} on the page while events were published: "
                            "/dashboard/stream stopped sending new snapshots")
            assert int(page.inner_text("#kpi-records").replace(",", "")) > int(before.replace(",", ""))
            newest = company(6)
            page.wait_for_selector(f'#blacklist a[href="/subjects/{newest["id"]}"]')

            # every panel shows entries
            assert page.locator("#changes tbody tr.downgrade").count() >= 1
            assert page.locator("#timeliness tbody tr").count() >= 1 and page.locator("#timeliness tfoot tr").count() == 1
            assert page.locator("#near tbody tr td.num").count() >= 1  # a row, not the 暂无 placeholder
            assert page.locator("#overdue tbody tr.overdue").count() >= 1
            # the rates end with the last full second: the events just folded show a snapshot later
            page.wait_for_selector("#rates tbody tr td.num")
            assert "严重失信主体名单" in page.inner_text("#blacklist")
            assert "承诺履行" in page.inner_text("#panel-deadlines")
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            # the whole page in one viewport, taken just after a snapshot arrived: nothing repaints meanwhile
            page.set_viewport_size({"width": 1600, "height": page.evaluate("document.documentElement.scrollHeight")})
            updates = int(page.evaluate("document.body.dataset.updates"))
            wait_in_page(page, "n => Number(document.body.dataset.updates) > n", arg=updates)
            page.screenshot(path=str(ARTIFACT))

            # a subject opens its credit file (信用报告) in a new tab, as HTML
            with context.expect_page() as opened:
                page.click(f'#blacklist a[href="/subjects/{newest["id"]}"]')
            report = opened.value
            report.wait_for_load_state()
            assert report.url.endswith(f"/subjects/{newest['id']}")
            assert "信用报告" in report.inner_text("h1") and newest["name"] in report.inner_text("body")
            assert "严重失信主体名单" in report.inner_text("body")
            updates = int(page.evaluate("document.body.dataset.updates"))
            wait_in_page(page, "n => Number(document.body.dataset.updates) > n", arg=updates)  # still streaming
            seen = list(problems)  # closing the page aborts its event stream: not a failure
        finally:
            browser.close()
    assert seen == []
    # programs asking for JSON (or for nothing in particular) still get JSON
    status, body = http_json(f"{worker.url}/subjects/{newest['id']}", token=worker.tokens["supervisor"])
    assert status == 200 and body["grade"]["letter"] == "D"
    # the dashboard's data is for supervisors: the public is refused, a wrong token is not anyone
    assert http_json(worker.url + "/dashboard/snapshot")[0] == 403
    assert http_json(worker.url + "/dashboard/snapshot", token="x" * 43)[0] == 401


def test_event_streams_are_bounded_and_each_sends_snapshots(worker):
    """At most STREAMS_MAX pages stream at once; one more is refused (503), and a closed page frees its place."""
    def open_stream() -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        connection = http.client.HTTPConnection(urlsplit(worker.url).hostname, urlsplit(worker.url).port, timeout=10)
        connection.request("GET", "/dashboard/stream",
                           headers={"Authorization": f"Bearer {worker.tokens['supervisor']}"})
        return connection, connection.getresponse()

    def wait_until_no_stream_is_open() -> None:
        # the snapshot is rebuilt once a second: only one built after the streams closed counts them
        closed_at = datetime.now(timezone.utc)

        def none_open() -> bool:
            snapshot = http_json(worker.url + "/dashboard/snapshot", token=worker.tokens["supervisor"])[1]
            return datetime.fromisoformat(snapshot["generated_at"]) > closed_at and snapshot["streams"] == 0
        wait_for(none_open, 30, what="the server noticed the closed streams")
    wait_until_no_stream_is_open()  # the browser test's page is gone
    streams = []
    try:
        for _ in range(STREAMS_MAX):
            streams.append(open_stream())
            assert streams[-1][1].status == 200
            assert streams[-1][1].getheader("Content-Type").startswith("text/event-stream")
        status, body = http_json(worker.url + "/dashboard/stream", token=worker.tokens["supervisor"])
        assert status == 503 and str(STREAMS_MAX) in body["error"]
        response = streams[0][1]
        lines = [response.readline() for _ in range(5)]  # retry:, blank, event:, data:, blank
        assert lines[2] == b"event: snapshot\n" and lines[3].startswith(b"data: {")
        assert {"ledger", "grades", "grade_changes"} <= set(json.loads(lines[3][len(b"data: "):]))
    finally:
        for connection, _ in streams:
            connection.close()
    wait_until_no_stream_is_open()
    connection, response = open_stream()
    connection.close()
    assert response.status == 200


def test_recent_lists_survive_a_worker_restart(worker, kafka):
    """The recent grade changes, black-list entries and overdue deadlines live in memory; a restarted worker
    reads them back from the tails of credit.grades and credit.events."""
    today = datetime.now(SHANGHAI).date()
    listed = company(20)
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        assert publisher.publish_many(story(20, today, black_list=True)).ok

    def shown() -> dict | None:
        status, snapshot = http_json(worker.url + "/dashboard/snapshot", token=worker.tokens["supervisor"])
        entries = [b for b in snapshot["blacklist"] if b["subject_id"] == listed["id"]] if status == 200 else []
        changes = [c for c in snapshot["grade_changes"] if c["subject_id"] == listed["id"]] if entries else []
        return snapshot if entries and entries[0]["active"] and changes else None
    before = wait_for(shown, 60, what="the new black-list entry and grade change on the dashboard")
    worker.stop()
    worker.start()
    after = wait_for(shown, 60, what="the same entries read back after the restart")
    assert after["blacklist"][0]["name"] == listed["name"]
    names = {a["code"]: a["name"] for a in after["timeliness"]["authorities"]}  # the worst 15, if ours is among them
    assert names.get(AUTHORITY["authority_code"], AUTHORITY["authority_name"]) == AUTHORITY["authority_name"]
    # newest first: every change shown before the restart is shown after it, in order, below any that
    # happened since (the fast clock keeps firing this company's deadlines, each a possible grade change)
    shown_before = [c["cause_event_id"] for c in before["grade_changes"] if c["subject_id"] == listed["id"]]
    shown_after = [c["cause_event_id"] for c in after["grade_changes"] if c["subject_id"] == listed["id"]]
    assert shown_after[len(shown_after) - len(shown_before):] == shown_before, (shown_before, shown_after)
