"""The dashboard's server side: what the snapshot holds, that it stays small with 100,000 subjects,
and that its page names no URL outside the worker (it must work on an intranet)."""
from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest

from ops.demo import demo_events
from projections.canonical import SHANGHAI
from projections.effects import DeadlineCounter, GradeCounter, TimelinessCounter
from projections.validate import EdgeContext, validate_event
from streams import dashboard as dash
from streams import dashboard_feed as feed
from streams import dashboard_snapshot as sections
from streams.ledger import Batch
from streams.dashboard_routes import ASSETS
from streams.dashboard_tails import Tails
from streams.clock import Clock
from streams.codec import encode_event
from streams.ledger import LedgerProcessor
from streams.store import MemoryStore, SubjectStore, list_key, timer_key

STATIC = Path(dash.__file__).parent / "static"
SUBJECTS = 100_000
SNAPSHOT_BYTES_MAX = 64 * 1024
BUSY_BATCHES = 1_000  # far more than any buffer holds


# --- the page works offline -----------------------------------------------------------------------
EXTERNAL = [
    re.compile(r"https?://", re.I),  # any absolute URL, even a namespace: the scan cannot tell them apart
    re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*//""", re.I),  # protocol-relative attributes
    re.compile(r"""url\(\s*["']?\s*//""", re.I),  # ... and CSS urls
    re.compile(r"""["'`]\s*//[\w.-]+\.[a-z]{2,}""", re.I),  # ... and strings like "//cdn.example.com"
    re.compile(r"@import", re.I),
    re.compile(r"@font-face", re.I),  # fonts are the system's (Noto Sans CJK SC ...)
]


def test_the_static_files_name_no_url_outside_the_worker():
    files = sorted(STATIC.iterdir())
    assert {f.name for f in files} >= set(ASSETS)
    for path in files:
        text = path.read_text(encoding="utf-8")
        for pattern in EXTERNAL:
            found = pattern.search(text)
            assert found is None, f"{path.name}: {found.group(0)!r} at {found.start()}"


def test_the_page_loads_only_the_dashboards_own_assets():
    html = (STATIC / "dashboard.html").read_text(encoding="utf-8")
    linked = re.findall(r"""(?:src|href)="([^"]+)\"""", html)
    assert linked and all(link == "data:," or link.removeprefix("/dashboard/") in ASSETS for link in linked)
    assert 'lang="zh-CN"' in html and "信用" in html
    assert "Noto Sans CJK SC" in (STATIC / "dashboard.css").read_text(encoding="utf-8")


# --- the snapshot from real batches ---------------------------------------------------------------
def folded_demo(chunks: int = 6):
    """The organisations of the demo dataset folded by the real LedgerProcessor, batch by batch, with the
    dashboard observing every batch as the agent does."""
    events, records = [], []
    for raw in demo_events(seed=5, subjects=24, start=date(2024, 3, 1), days=400):
        if raw["subject"]["kind"] == "NATURAL_PERSON":
            continue  # pseudonymised at the edge: not what this test is about
        now = datetime.combine(date.fromisoformat(raw["occurred_on"]), datetime.min.time(), SHANGHAI) + timedelta(hours=10)
        event, problems = validate_event(raw, EdgeContext(now=now, pseudonym_key=b"k" * 32))
        assert problems == [], problems
        records.append((0, len(events), event["subject"]["id"].encode(), encode_event(event)))
        events.append(event)
    store = MemoryStore()
    processor = LedgerProcessor(store)
    seconds = iter(range(1_000, 2_000))  # one batch a second, and the snapshot the second after
    board = dash.Dashboard(store, Clock(), monotonic_s=lambda: next(seconds))
    size = len(records) // chunks + 1
    for start in range(0, len(records), size):
        batch = processor.process(records[start:start + size])
        processor.commit(batch)
        board.observe(batch)
    return events, store, board


def test_the_snapshot_shows_what_the_batches_changed():
    events, store, board = folded_demo()
    snap = orjson.loads(board.snapshot_bytes())
    assert snap["ledger"] == {"records": len(events), "subjects": len({e["subject"]["id"] for e in events})}
    assert sum(snap["grades"]["counts"].values()) == snap["ledger"]["subjects"]
    assert snap["rates"]["per_s"] > 0 and {t["type"] for t in snap["rates"]["by_type"]} >= {"PenaltyImposed"}
    assert all(t["label"] for t in snap["rates"]["by_type"])

    changes = snap["grade_changes"]
    assert 0 < len(changes) <= sections.SHOWN_MAX
    assert all(c["name"] and c["cause_label"] for c in changes)
    downgrades = [c for c in board.feed.grade_changes if c["downgrade"]]
    assert downgrades and all(c["to_letter"] > c["from_letter"] for c in downgrades)

    black = {(item["subject_id"], item["entry_id"]): item for item in board.feed.blacklist}
    listed = [e for e in events if e["type"] == "ListEntered" and e["payload"]["list_kind"] != "RED_LIST"]
    assert set(black) == {(e["subject"]["id"], e["payload"]["entry_id"]) for e in listed}
    exited = {(e["subject"]["id"], e["payload"]["entry_id"]) for e in events if e["type"] == "ListExited"}
    assert exited and all(black[key]["active"] is (key not in exited) for key in black)
    assert all(item["list_label"] and item["name"] for item in snap["blacklist"])

    timeliness = snap["timeliness"]
    assert timeliness["authorities"] and all(a["name"] for a in timeliness["authorities"])
    totals = timeliness["totals"]
    assert totals["late"] > 0 and totals["on_time"] > totals["late"]
    assert totals["total"] == sum(a["total"] for a in timeliness["authorities"])  # fewer authorities than shown
    overdue_first = [a["overdue"] for a in timeliness["authorities"]]
    assert overdue_first == sorted(overdue_first, reverse=True)

    pending = snap["deadlines"]["pending"]
    assert snap["deadlines"]["pending_total"] == sum(pending.values()) > 0
    near = snap["deadlines"]["near"]
    assert {d["kind"] for d in near} <= set(sections.NEAR_KINDS)
    assert [d["fires_at"] for d in near] == sorted(d["fires_at"] for d in near)


def test_seeding_after_a_restart_keeps_the_order_and_adds_no_duplicate():
    events, store, board = folded_demo()
    restarted = dash.Dashboard(store, Clock())
    # what the agent folded since the start comes first, then the topics' tails arrive
    restarted.feed.grade_changes.append(dict(board.feed.grade_changes[-1]))
    tail_changes = [{**c, "offset": offset} for offset, c in enumerate(board.feed.grade_changes)]  # offsets: all folded
    authorities = {e["source"]["authority_code"]: e["source"]["authority_name"] for e in events}
    restarted.seed(Tails(tail_changes, [(0, offset, event) for offset, event in enumerate(events)],
                              partitions=1, authorities=authorities))
    assert [c["cause_event_id"] for c in restarted.feed.grade_changes] == [c["cause_event_id"] for c in board.feed.grade_changes]
    assert [(b["entry_id"], b["active"]) for b in restarted.feed.blacklist] == [(b["entry_id"], b["active"]) for b in board.feed.blacklist]
    assert all(a["name"] for a in restarted.snapshot()["timeliness"]["authorities"])


def test_seeding_leaves_what_the_store_has_not_folded_yet_to_the_agent():
    events, store, board = folded_demo()
    restarted = dash.Dashboard(store, Clock())
    beyond = len(events)  # past the store's applied offset: the agent will fold it and show it then
    tail_changes = [{**c, "offset": beyond} for c in board.feed.grade_changes]
    restarted.seed(Tails(tail_changes, [(0, beyond + offset, event) for offset, event in enumerate(events)],
                              partitions=1, authorities={}))
    assert not restarted.feed.grade_changes and not restarted.feed.blacklist and not restarted.feed.overdue


# --- bounded at 100,000 subjects ------------------------------------------------------------------
def fill(store: SubjectStore, subjects: int, now: datetime) -> None:
    """A store as 100,000 graded subjects leave it, cheaply: counters, and the timer and list index
    entries (two pending deadlines each; one in ten on a black list), without their states."""
    index = {}
    for i in range(subjects):
        subject_id = f"91{i:016d}"
        for kind, days in (("PUBLICITY", 1 + i % 1000), ("COMMITMENT", 1 + i % 90)):
            fires_at = (now + timedelta(days=days, seconds=i)).astimezone(SHANGHAI)
            deadline = SimpleNamespace(fires_at=fires_at.isoformat(), subject_id=subject_id, key=f"{kind}/R{i}")
            index[timer_key(deadline)] = orjson.dumps({"fires_at": deadline.fires_at, "subject_id": subject_id,
                                                       "kind": kind, "ref": f"R{i}", "partition": i % 4,
                                                       "due_on": fires_at.date().isoformat(), "provisional": False})
        if i % 10 == 0:
            index[list_key("SERIOUS_DISHONESTY", subject_id, f"L{i}")] = b""
    counters = {GradeCounter(letter): subjects // 4 for letter in "ABCD"}
    counters |= {DeadlineCounter("PUBLICITY"): subjects, DeadlineCounter("COMMITMENT"): subjects}
    counters |= {TimelinessCounter(f"1144{a:014d}", outcome): 100 + a for a in range(500)
                 for outcome in ("on_time", "late", "overdue")}
    store.write({}, {p: subjects // 4 - 1 for p in range(4)}, index=index, counters=counters)


def busy_batch(n: int, at: str) -> Batch:
    """A batch as the agent hands it over: applied events, rejections, grade changes."""
    subject = {"id": f"91{n:016d}", "kind": "LEGAL_PERSON", "name": f"压力测试{n}号有限公司"}
    source = {"authority_code": f"1144{n % 500:014d}", "authority_name": f"第{n % 500}号行政机关"}
    event = {"event_id": f"e-{n}", "type": "ListEntered", "subject": subject, "source": source, "recorded_at": at,
             "occurred_on": at[:10], "payload": {"entry_id": f"L{n}", "list_kind": "OTHER_BLACKLIST", "reason": "测试" * 50}}
    overdue = {**event, "event_id": f"o-{n}", "type": "CommitmentOverdue",
               "payload": {"commitment_id": f"C{n}", "due_on": at[:10]}}
    change = {"subject_id": subject["id"], "from_letter": "A", "to_letter": "D", "from_score": 1000, "to_score": 600,
              "cause": "ListEntered", "cause_event_id": f"e-{n}", "offset": n}
    return Batch(history=[(subject["id"], 1, {"event": event}), (subject["id"], 2, {"event": overdue})],
                 rejections=[object()], grade_changes=[change], states={subject["id"]: {"subject": subject}})


@pytest.mark.slow
def test_the_snapshot_stays_small_with_100000_subjects(tmp_path):
    now = datetime.now(timezone.utc)
    sizes = {}
    for subjects in (1_000, SUBJECTS):
        store = SubjectStore(tmp_path / str(subjects))
        fill(store, subjects, now)
        board = dash.Dashboard(store, Clock(), monotonic_s=itertools.count(0, 0.5).__next__)  # two batches a second
        for n in range(BUSY_BATCHES):
            board.observe(busy_batch(n, now.astimezone(SHANGHAI).isoformat()))
            board.sample_trend()
        snap = board.snapshot()
        sizes[subjects] = len(orjson.dumps(snap))
        # every buffer and every list is bounded, whatever went through
        assert len(board.feed.grade_changes) == len(board.feed.blacklist) == len(board.feed.overdue) == feed.RECENT_MAX
        assert len(board.trend) == len(snap["trend"]["D"]) == dash.TREND_POINTS_MAX
        assert len(board.feed.per_second) <= feed.RATE_HISTORY_S
        assert len(board.feed.authority_names) <= feed.AUTHORITY_NAMES_MAX
        assert len(board.feed.subject_names) <= feed.SUBJECT_NAMES_MAX
        for items in (snap["grade_changes"], snap["blacklist"], snap["deadlines"]["overdue"], snap["deadlines"]["near"]):
            assert len(items) == sections.SHOWN_MAX
        assert len(snap["timeliness"]["authorities"]) == sections.AUTHORITIES_SHOWN_MAX
        assert snap["timeliness"]["authorities_total"] == 500
        # ... while the counts are those of every subject
        assert snap["ledger"] == {"records": subjects, "subjects": subjects}
        assert snap["deadlines"]["pending_total"] == 2 * subjects
        assert [d["kind"] for d in snap["deadlines"]["near"]] == ["COMMITMENT"] * sections.SHOWN_MAX
        store.close()
    assert sizes[SUBJECTS] <= SNAPSHOT_BYTES_MAX
    assert sizes[SUBJECTS] - sizes[1_000] < 0.1 * sizes[1_000]  # only the digits of the counts grow


def test_what_the_dashboard_watches_for_read_off_each_kind_of_event():
    from projections.watch import Blacklisted, DeadlineMissed, ListingEnded, watched

    def event(event_type: str, **payload) -> dict:
        return {"type": event_type, "payload": payload, "source": {"authority_code": "A-1"}}
    assert watched(event("ListEntered", entry_id="L-1", list_kind="ABNORMAL_OPERATION", reason="未年报",
                         term_until="2026-01-01")) == Blacklisted("L-1", "A-1", "ABNORMAL_OPERATION", "未年报",
                                                                  "2026-01-01")
    assert watched(event("ListEntered", entry_id="L-2", list_kind="SERIOUS_DISHONESTY")) == Blacklisted(
        "L-2", "A-1", "SERIOUS_DISHONESTY", "", None)
    assert watched(event("ListEntered", entry_id="L-3", list_kind="RED_LIST", reason="守信")) is None
    assert watched(event("ListExited", entry_id="L-1")) == ListingEnded("L-1", "A-1")
    assert watched(event("ListTermEnded", entry_id="L-2")) == ListingEnded("L-2", "A-1")
    assert watched(event("CommitmentOverdue", commitment_id="C-1", due_on="2025-03-01")) == DeadlineMissed(
        "COMMITMENT", "C-1", "2025-03-01")
    assert watched(event("ProcessingOverdue", kind="OBJECTION", ref_id="O-1", due_on="2025-03-02")) == DeadlineMissed(
        "OBJECTION", "O-1", "2025-03-02")
    assert watched(event("ProcessingOverdue", kind="REPAIR", ref_id="R-1")) == DeadlineMissed("REPAIR", "R-1", None)
    assert watched(event("PenaltyImposed", record_id="P-1")) is None
