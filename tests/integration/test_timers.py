"""Real timers against the real broker: deadlines fire as system events on credit.events,
the fold reflects them, and a SIGKILL and a downtime neither repeat nor lose one."""
from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import date, datetime, timedelta

from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI
from projections.deadlines import TIMER_SYSTEM
from projections.ids import make_uscc
from streams import ledger_reader, topics
from streams.codec import decode_event, decode_rejection
from streams.sdk import Publisher
from tests.helpers import Worker, http_json, wait_for, wait_until_equal_to_refold

AUTHORITY = {"authority_code": make_uscc("420200", 7, "1", "1"), "authority_name": "黄石市市场监督管理局"}
# a quarter day per real second: the list term (ending tomorrow) fires within ~8 s of the clock's start,
# the objection's acceptance (2 working days) a few seconds later, live or, on a loaded machine, at the
# restart; the commitment (due in 2 days) likewise: each takes effect once either way
SPEED = 21_600.0
SUBJECTS = 12


def company_events(n: int, today) -> list[dict]:
    """One company whose file holds a deadline of each live kind."""
    company = {"id": make_uscc("420202", 7000 + n), "kind": "LEGAL_PERSON", "name": f"黄石市测试{n}号商贸有限公司"}

    def event(type_, on, payload):
        return {"type": type_, "subject": company, "source": AUTHORITY, "occurred_on": on.isoformat(),
                "payload": payload}
    return [
        event("SubjectRegistered", today - timedelta(days=900), {"region_code": "420202", "registered_on": "2020-03-02"}),
        # never published: DisclosureOverdue is long due, so it fires as soon as the worker is ready
        event("DecisionRegistered", today - timedelta(days=30), {"decision_no": f"黄市监罚〔2026〕{900 + n}号",
                                                                  "decision_kind": "PENALTY"}),
        event("PenaltyImposed", today, {"record_id": f"HS-P-{n}", "decision_no": f"黄市监罚〔2026〕{n}号",
                                        "violation_type": "未按规定明码标价", "facts": "商品未标明价格",
                                        "basis": "《价格违法行为行政处罚规定》第十三条", "penalty_kinds": ["WARNING"],
                                        "severity": "GENERAL"}),
        # accepted within 2 working days or ProcessingOverdue
        event("ObjectionFiled", today, {"objection_id": f"HS-O-{n}", "record_id": f"HS-P-{n}",
                                        "grounds": "价格标签已张贴，系顾客撕毁"}),
        # ends tomorrow: ListTermEnded fires live, within seconds at this speed
        event("ListEntered", today, {"entry_id": f"HS-L-{n}", "list_kind": "OTHER_BLACKLIST", "reason": "测试名单",
                                     "term_until": (today + timedelta(days=1)).isoformat(), "measures": ["PUBLIC_NOTICE"]}),
        event("CommitmentMade", today, {"commitment_id": f"HS-C-{n}", "commitment_kind": "NOTIFICATION_PROMISE",
                                        "content": "承诺十日内完成整改", "due_on": (today + timedelta(days=2)).isoformat()}),
    ]


def system_events(bootstrap, subject_ids: set[str]) -> list[dict]:
    found = []
    for *_, value, _ in ledger_reader.read_topic(bootstrap, topics.EVENTS):
        try:
            event = decode_event(value)
        except Exception:  # other tests' poison records share this topic
            continue
        if event["subject"]["id"] in subject_ids and event["source"].get("system") == TIMER_SYSTEM:
            found.append(event)
    return found


def test_timers_fire_live_survive_a_kill_and_catch_up_after_downtime(kafka, tmp_path):
    port = free_port()
    clock = {"CREDIT_LEDGER_CLOCK_SPEED": str(SPEED), "CREDIT_LEDGER_CLOCK_STARTED_S": str(time.time())}
    worker = Worker(kafka.bootstrap, tmp_path / "w", port, env=clock).start()
    # the stories begin on the ledger's day once the worker is up, however long its start took at this speed
    today = date.fromisoformat(http_json(f"{worker.url}/releases")[1]["today"])
    events = [e for n in range(SUBJECTS) for e in company_events(n, today)]
    subject_ids = {e["subject"]["id"] for e in events}
    try:
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            assert publisher.publish_many(events).ok

        def files_show(predicate) -> bool:
            files = [worker.file(s) for s in subject_ids]
            return all(f is not None and predicate(f) for f in files)

        # live: the long-due disclosure fires at once, the list term within seconds
        wait_for(lambda: files_show(lambda f: f["decisions"][0]["overdue"]), 60, what="DisclosureOverdue folded")
        wait_for(lambda: files_show(lambda f: f["records"]["lists"][0]["status"] == "TERM_ENDED"), 60,
                 what="ListTermEnded folded")

        # killed without warning, and down long enough (sim days) for the objections to fall due
        worker.stop(signal.SIGKILL)
        time.sleep(8 * 86_400 / SPEED)
        worker.start()
        wait_for(lambda: files_show(lambda f: f["pending"]["objections"][0]["acceptance_overdue"]
                                    and f["records"]["commitments"][0]["status"] == "OVERDUE"),
                 60, what="deadlines that fell due while the worker was down fired at start-up")

        # each deadline took effect once: one system event of each kind per subject in every history
        for subject_id in subject_ids:
            _, body = worker.get(f"/subjects/{subject_id}/history")
            kinds = Counter(h["event"]["type"] for h in body["history"]
                            if h["event"]["source"].get("system") == TIMER_SYSTEM)
            assert kinds == {"DisclosureOverdue": 1, "ListTermEnded": 1, "ProcessingOverdue": 1,
                             "CommitmentOverdue": 1}, (subject_id, kinds)
            pending = {d["kind"] for d in worker.file(subject_id)["pending"]["deadlines"]}
            assert pending == {"PUBLICITY"}  # the only one years away
        # published more than once is possible (a kill between publication and fold); never rejected
        published = system_events(kafka.access(), subject_ids)
        assert len({e["event_id"] for e in published}) == 4 * SUBJECTS <= len(published)
        rejected_ids = {decode_rejection(v).get("event_id") for *_, v, _ in
                        ledger_reader.read_topic(kafka.access(), topics.REJECTED)}
        assert not rejected_ids & {e["event_id"] for e in published}

        # the worker's files are what a clean re-fold of the log gives, system events included
        wait_until_equal_to_refold(worker, kafka.bootstrap, sorted(subject_ids))
        status, timeliness = worker.get("/timeliness", role="supervisor")
        counts = timeliness["authorities"][AUTHORITY["authority_code"]]
        # each company: one decision registered and never published (overdue), one penalty published the day
        # it was imposed (on time); the authority is this test's alone
        assert status == 200 and (counts["overdue"], counts["on_time"], counts["late"]) == (SUBJECTS, SUBJECTS, 0), counts
        metrics = http_json_text(f"{worker.url}/metrics")
        assert 'credit_deadlines_pending{kind="PUBLICITY"}' in metrics
        overdue = f'credit_disclosure_overdue_total{{authority="{AUTHORITY["authority_code"]}"}}'
        assert "authority=" not in metrics  # per authority only for supervisors, as /timeliness
        assert overdue in http_json_text(f"{worker.url}/metrics/authorities", worker.tokens["supervisor"])
        assert http_json_text_status(f"{worker.url}/metrics/authorities") == 403
    finally:
        worker.stop()


def http_json_text(url: str, token: str | None = None) -> str:
    import urllib.request
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
        return response.read().decode()


def http_json_text_status(url: str) -> int:
    import urllib.error
    try:
        http_json_text(url)
    except urllib.error.HTTPError as error:
        return error.code
    return 200


STOPPED_WHILE_FIRING = 5_000  # long-due deadlines: their firing spans several ticks of the timers


def test_a_worker_stopped_while_its_timers_fire_exits_cleanly(kafka, tmp_path):
    """SIGTERM stops the producer while a tick still publishes: the stop is a stop (status 0), not a
    crash (what was not published stays in the timer index: the test above restarts after a kill)."""
    today = datetime.now(SHANGHAI).date()
    events = [{"type": "DecisionRegistered", "source": AUTHORITY, "occurred_on": (today - timedelta(days=30)).isoformat(),
               "subject": {"id": make_uscc("420203", 20_000 + n), "kind": "LEGAL_PERSON", "name": f"黄石市停机{n}号有限公司"},
               "payload": {"decision_no": f"黄市监罚〔2026〕停{n}号", "decision_kind": "PENALTY"}}
              for n in range(STOPPED_WHILE_FIRING)]
    worker = Worker(kafka.bootstrap, tmp_path / "w", free_port()).start()
    try:
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            assert publisher.publish_many(events).ok

        def fired() -> float:
            text = http_json_text(f"{worker.url}/metrics")
            return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith('credit_timers_fired_total{kind="DISCLOSURE"}'))
        wait_for(lambda: fired() > 0, 120, interval_s=0.05, what="the timers firing")
        assert fired() < STOPPED_WHILE_FIRING  # still firing when the stop comes
    finally:
        status = worker.stop()
    log = worker.log_path.read_text(errors="replace")
    assert status == 0 and "Crashed" not in log, log[-3000:]
