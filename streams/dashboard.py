"""The live risk dashboard (/dashboard, 信用风险实时监测): its state and its snapshot.

What the page shows is one JSON snapshot, rebuilt at most once a SNAPSHOT_INTERVAL_S (per scope for a
scoped supervisor) and pushed to every open page (streams/dashboard_routes.py). The parts:
- streams/dashboard_feed.py: the bounded buffers of recent events the ledger fold feeds;
- streams/dashboard_tails.py: the topics' tails read back at start to seed them;
- streams/dashboard_snapshot.py: the snapshot's sections, from the store's counters and the buffers;
- streams/dashboard_routes.py and dashboard_login.py: the pages, the JSON and the event stream;
- streams/static/: the page, its script and style (no CDN, no web font: it works on an intranet).

After a restart the recent grade changes, black-list entries, overdue deadlines and authority names
come back from the tails; the event rates and the trend lines start afresh.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import orjson

from projections.canonical import instant_text
from projections.effects import DeadlineCounter
from projections.scopes import Scope, in_scope
from streams import dashboard_snapshot as sections
from streams.dashboard_feed import DashboardFeed
from streams.dashboard_snapshot import GRADES, RATE_WINDOW_S, SHOWN_MAX
from streams.report import GRADE_LABELS_ZH

if TYPE_CHECKING:
    from streams.dashboard_tails import Tails

SNAPSHOT_INTERVAL_S = 1.0  # a snapshot is rebuilt at most this often, however many pages watch
TREND_INTERVAL_S = 5.0  # grade distribution and lag sampled this often ...
TREND_POINTS_MAX = 240  # ... and kept this many times (20 minutes)
# A scoped supervisor's snapshot (projections/scopes.py): its lists are the whole buffers' items in scope; the
# counts of the whole ledger (store counters, event rates, the trend) cannot be told apart by scope, and are
# withheld from it rather than shown whole.
SCOPE_WITHHELD = ("ledger", "rates", "grades.counts", "trend", "deadlines.pending")
SCOPED_SNAPSHOTS_MAX = 64  # scopes whose snapshot is kept (one per scope in the principals file at most)
NEAR_SCAN_MAX = 500  # deadlines read from the head of the index to find a scope's nearest
REBUILD_AFTER = 0.9  # of SNAPSHOT_INTERVAL_S: a stream ticking every interval gets a fresh one each time


class Dashboard:
    def __init__(self, store, clock, ready: Callable[[], bool] = lambda: True,
                 monotonic_s: Callable[[], float] = time.monotonic):
        self.store = store
        self.clock = clock  # the ledger's (fast in a demo): instants shown, days remaining
        self.ready = ready
        self.monotonic_s = monotonic_s  # real seconds: event rates, snapshot age
        self.feed = DashboardFeed(store, clock, monotonic_s)
        self.trend: deque[tuple] = deque(maxlen=TREND_POINTS_MAX)  # (ledger instant, A, B, C, D, consumer lag)
        self.streams = 0  # open event streams
        self.closing = asyncio.Event()  # set on shutdown: every stream ends
        self._snapshot: tuple[float, bytes] | None = None  # (monotonic s built, JSON)
        self._scoped: dict[Scope, tuple[float, bytes]] = {}  # the same, per scope

    def observe(self, batch) -> None:
        """What one committed batch changed, into the feed's buffers (the ledger fold calls it)."""
        self.feed.observe(batch)

    def seed(self, tails: Tails) -> None:
        self.feed.seed(tails)

    def sample_trend(self) -> None:
        """One point of the trend: the grade distribution and the consumer lag now (a timer calls it)."""
        self.trend.append((instant_text(self.clock.now()), *sections.grade_counts(self.store).values(),
                           sum(sections.consumer_lag().values())))

    def snapshot_bytes(self, scope: Scope | None = None) -> bytes:
        """The current snapshot as JSON, rebuilt when the last one is older than SNAPSHOT_INTERVAL_S;
        with a scope, that scope's (scoped_snapshot)."""
        now_s = self.monotonic_s()
        if scope is not None:
            built = self._scoped.get(scope)
            if built is None or now_s - built[0] >= SNAPSHOT_INTERVAL_S * REBUILD_AFTER:
                if built is None and len(self._scoped) >= SCOPED_SNAPSHOTS_MAX:
                    self._scoped.clear()
                built = self._scoped[scope] = (now_s, orjson.dumps(self.scoped_snapshot(scope)))
            return built[1]
        if self._snapshot is None or now_s - self._snapshot[0] >= SNAPSHOT_INTERVAL_S * REBUILD_AFTER:
            self._snapshot = (now_s, orjson.dumps(self.snapshot()))
        return self._snapshot[1]

    def snapshot(self) -> dict:
        feed, grades = self.feed, sections.grade_counts(self.store)
        pending = {counter.kind: count for counter, count in self.store.counters(DeadlineCounter).items()}
        return {
            **self._header(),
            "ledger": {"records": sum(offset + 1 for offset in self.store.applied_offsets().values()),
                       "subjects": sum(grades.values())},
            "rates": sections.rates(feed.per_second, int(self.monotonic_s())),
            "grades": {"counts": grades, "labels": GRADE_LABELS_ZH},
            "trend": sections.trend_columns(self.trend, TREND_INTERVAL_S),
            "grade_changes": sections.newest(feed.grade_changes),
            "timeliness": sections.timeliness(self.store, feed.authority_names),
            "deadlines": {"pending": pending, "pending_total": sum(pending.values()),
                          "near": sections.near_deadlines(self.store, self.clock.now(), feed.subject_name),
                          "overdue": sections.newest(feed.overdue)},
            "blacklist": sections.newest(feed.blacklist),
            "lag": sections.lag(self.store),
            "streams": self.streams,
        }

    def scoped_snapshot(self, scope: Scope) -> dict:
        """The snapshot as a supervisor bounded to `scope` may see it: the recent grade changes, black-list
        entries and deadlines of subjects in scope, the timeliness of authorities in scope; the counts of
        the whole ledger withheld (SCOPE_WITHHELD: null, or empty series)."""
        known: dict[str, bool] = {}
        feed = self.feed

        def inside(subject_id: str) -> bool:
            if subject_id not in known:
                known[subject_id] = in_scope(scope, self.store.get(subject_id))
            return known[subject_id]

        def newest(items: deque) -> list[dict]:
            return [dict(item) for item in reversed(items) if inside(item["subject_id"])][:SHOWN_MAX]
        near = [n for n in sections.near_deadlines(self.store, self.clock.now(), feed.subject_name, NEAR_SCAN_MAX)
                if inside(n["subject_id"])][:SHOWN_MAX]
        return {**self._header(), "scope": scope.as_dict(), "withheld": list(SCOPE_WITHHELD),
                "ledger": {"records": None, "subjects": None},
                "rates": {"window_s": RATE_WINDOW_S, "per_s": None, "rejected_per_s": None, "by_type": [],
                          "series": [], "series_interval_s": 1},
                "grades": {"counts": None, "labels": GRADE_LABELS_ZH},
                "trend": {"interval_s": TREND_INTERVAL_S, "from": None, **{g: [] for g in GRADES}, "lag": []},
                "grade_changes": newest(feed.grade_changes),
                "timeliness": sections.timeliness(self.store, feed.authority_names, scope),
                "deadlines": {"pending": None, "pending_total": None, "near": near, "overdue": newest(feed.overdue)},
                "blacklist": newest(feed.blacklist), "lag": sections.lag(self.store), "streams": self.streams}

    def _header(self) -> dict:
        return {"generated_at": instant_text(datetime.now().astimezone()), "clock": instant_text(self.clock.now()),
                "clock_speed": self.clock.speed, "ready": bool(self.ready())}
