"""The live risk dashboard (/dashboard, 信用风险实时监测): snapshots, server-sent events, pages.

What the page shows is one JSON snapshot, rebuilt at most once a SNAPSHOT_INTERVAL_S and pushed to
every open page over `/dashboard/stream` (text/event-stream); `/dashboard/snapshot` returns it once.
The page itself and its script and style are files of this package (streams/static/): no CDN, no
web font, so it works on an intranet with no internet.

The snapshot's size and cost do not grow with the number of subjects:
- counts come from the store's counters (grades, pending deadlines, 双公示 timeliness per authority);
- the deadlines about to fall due come from the head of the timer index (ordered by instant), read
  with a bounded scan;
- recent items (grade changes, black-list entries, overdue deadlines) and the event rates live in
  bounded in-memory buffers that the ledger fold feeds (`Dashboard.observe`) after each batch;
- every list it sends is cut to a fixed length.

After a restart the buffers are seeded from the tails of credit.grades and credit.events
(SEED_TAIL_RECORDS per partition, read in the background in the first seconds), so the recent grade
changes, black-list entries, overdue deadlines and authority names survive; the event rates and the
trend lines start afresh. An authority whose last event is older than the tail shows its code until
it publishes again.
"""
from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from html import escape
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import orjson
from aiohttp import web as aiohttp_web
from faust.web import View

from projections.access import ANONYMOUS, SUBJECT
from projections.canonical import instant_text
from projections.deadlines import COMMITMENT, KIND_LABELS_ZH, OBJECTION, REPAIR
from projections.effects import (LATE, ON_TIME, OVERDUE, TIMELINESS_JUDGED, TIMELINESS_OUTCOMES, DeadlineCounter,
                                 GradeCounter, TimelinessCounter)
from projections.records import ACTIVE, base_status, own_key
from projections.scopes import Scope, authority_in_scope, in_scope
from projections.watch import WATCHED_TYPES, Blacklisted, DeadlineMissed, ListingEnded, watched
from streams import ledger_reader, metrics, topics
from streams.kafka_access import KafkaAccess
from streams.codec import CodecError, decode_event, decode_grade_changed
from streams.principals import AuthenticationError
from streams.sessions import SESSION_COOKIE, cookie_is_secure
from streams.partitioner import partition_of
from streams.report import EVENT_TYPES_ZH, GRADE_LABELS_ZH, LIST_KINDS_ZH

log = logging.getLogger(__name__)

SNAPSHOT_INTERVAL_S = 1.0  # a snapshot is rebuilt at most this often, however many pages watch
STREAMS_MAX = 32  # open /dashboard/stream connections at most; more get 503
STREAM_RETRY_MS = 3_000  # how soon a browser reconnects after the stream breaks
RATE_HISTORY_S = 120  # per-second event counts kept for the chart
RATE_WINDOW_S = 10  # the rate by type is the mean over this many seconds
TREND_INTERVAL_S = 5.0  # grade distribution and lag sampled this often ...
TREND_POINTS_MAX = 240  # ... and kept this many times (20 minutes)
RECENT_MAX = 100  # grade changes, black-list entries, overdue deadlines kept in memory, each
SHOWN_MAX = 15  # items of each list in a snapshot
REASON_CHARS_MAX = 80  # of a list entry's reason (the credit file has it whole)
AUTHORITIES_SHOWN_MAX = 15  # authorities in the timeliness table (the worst first)
AUTHORITY_NAMES_MAX = 10_000  # authority code -> name, learnt from the events
SUBJECT_NAMES_MAX = 2_000  # subject id -> (kind, name), for the deadlines read from the index
SEED_TAIL_RECORDS = 2_000  # records per partition read back from credit.grades and credit.events at start
NEAR_KINDS = (COMMITMENT, OBJECTION, REPAIR)  # the deadlines of the "close to or past" panel
GRADES = ("A", "B", "C", "D")
REJECTED_KEY = "_rejected"  # rejections counted in the per-second buckets next to the event types
ASSETS = {"dashboard.html": "text/html", "dashboard.js": "text/javascript", "dashboard.css": "text/css"}
HTML_PAGE_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Vary": "Accept"}
# A scoped supervisor's snapshot (projections/scopes.py): its lists are the whole buffers' items in scope; the
# counts of the whole ledger (store counters, event rates, the trend) cannot be told apart by scope, and are
# withheld from it rather than shown whole.
SCOPE_WITHHELD = ("ledger", "rates", "grades.counts", "trend", "deadlines.pending")
SCOPED_SNAPSHOTS_MAX = 64  # scopes whose snapshot is kept (one per scope in the principals file at most)
NEAR_SCAN_MAX = 500  # deadlines read from the head of the index to find a scope's nearest


class Dashboard:
    def __init__(self, store, clock, ready: Callable[[], bool] = lambda: True,
                 monotonic_s: Callable[[], float] = time.monotonic):
        self.store = store
        self.clock = clock  # the ledger's (fast in a demo): instants shown, days remaining
        self.ready = ready
        self.monotonic_s = monotonic_s  # real seconds: event rates, snapshot age
        self.per_second: deque[tuple[int, Counter]] = deque(maxlen=RATE_HISTORY_S)  # (monotonic second, counts)
        self.grade_changes: deque[dict] = deque(maxlen=RECENT_MAX)
        self.blacklist: deque[dict] = deque(maxlen=RECENT_MAX)
        self.overdue: deque[dict] = deque(maxlen=RECENT_MAX)
        self.trend: deque[tuple] = deque(maxlen=TREND_POINTS_MAX)  # (ledger instant, A, B, C, D, consumer lag)
        self.authority_names: OrderedDict[str, str] = OrderedDict()
        self.subject_names: OrderedDict[str, tuple[str, str | None]] = OrderedDict()
        self.streams = 0  # open event streams
        self.closing = asyncio.Event()  # set on shutdown: every stream ends
        self._snapshot: tuple[float, bytes] | None = None  # (monotonic s built, JSON)
        self._scoped: dict[Scope, tuple[float, bytes]] = {}  # the same, per scope

    # --- fed by the ledger fold ---------------------------------------------------------------
    def observe(self, batch) -> None:
        """Take what one committed batch (streams.ledger.Batch) changed into the bounded buffers."""
        counts = self._bucket(int(self.monotonic_s()))
        at = instant_text(self.clock.now())
        for _, _, entry in batch.history:
            event = entry["event"]
            counts[event["type"]] += 1
            self._note_event(event)
        if batch.rejections:
            counts[REJECTED_KEY] += len(batch.rejections)
        for change in batch.grade_changes:
            state = batch.states.get(change["subject_id"])
            self.grade_changes.append(_grade_item({**change, "at": at}, state["subject"] if state else {}))

    def _bucket(self, second: int) -> Counter:
        if not self.per_second or self.per_second[-1][0] != second:
            self.per_second.append((second, Counter()))
        return self.per_second[-1][1]

    def _note_event(self, event: dict) -> None:
        source, subject = event["source"], event["subject"]
        if source.get("authority_name"):
            _remember(self.authority_names, source["authority_code"], source["authority_name"], AUTHORITY_NAMES_MAX)
        if subject.get("name"):
            _remember(self.subject_names, subject["id"], (subject["kind"], subject["name"]), SUBJECT_NAMES_MAX)
        noted = watched(event)  # projections/watch.py
        if isinstance(noted, Blacklisted):
            self.blacklist.append({**self._subject(subject), "at": event["recorded_at"], "event_id": event["event_id"],
                                   "entry_id": noted.entry_id, "authority_code": noted.authority_code,
                                   "list_kind": noted.list_kind,
                                   "list_label": LIST_KINDS_ZH.get(noted.list_kind, noted.list_kind),
                                   "reason": noted.reason[:REASON_CHARS_MAX], "occurred_on": event["occurred_on"],
                                   "term_until": noted.term_until, "active": True})
        elif isinstance(noted, ListingEnded):
            for item in self.blacklist:
                # an entry is its listing authority's, which alone ends it (records: not_record_authority)
                if (item["subject_id"], item["entry_id"], item["authority_code"]) == (
                        subject["id"], noted.entry_id, noted.authority_code):
                    item["active"] = False
        elif isinstance(noted, DeadlineMissed):
            self.overdue.append({**self._subject(subject), "at": event["recorded_at"], "event_id": event["event_id"],
                                 "kind": noted.kind, "label": KIND_LABELS_ZH.get(noted.kind, noted.kind),
                                 "ref": noted.ref, "due_on": noted.due_on})

    def _subject(self, subject: dict) -> dict:
        """A subject as the lists show it: id, kind and (organisations only) its name."""
        kind, name = subject.get("kind"), subject.get("name")
        if name is None:
            kind, name = self._subject_name(subject["id"], kind)
        return {"subject_id": subject["id"], "subject_kind": kind, "name": name}

    def _subject_name(self, subject_id: str, kind: str | None = None) -> tuple[str | None, str | None]:
        known = self.subject_names.get(subject_id)
        if known is None:
            state = self.store.get(subject_id)
            if state is None:
                return kind, None
            known = (state["subject"]["kind"], state["subject"].get("name"))  # natural persons have none
            _remember(self.subject_names, subject_id, known, SUBJECT_NAMES_MAX)
        return known

    # --- seeded at start -----------------------------------------------------------------------
    def seed(self, tails: Tails) -> None:
        """Put what the topics' tails hold before what the fold has added since. Only what the store has
        folded is taken: the fold shows the rest as it goes (a fresh store re-folds the whole log)."""
        applied = self.store.applied_offsets()
        for code, name in tails.authorities.items():
            self.authority_names.setdefault(code, name)

        def folded(partition: int, offset: int) -> bool:
            return offset <= applied.get(partition, -1)
        grade_changes = [c for c in tails.grade_changes if c["offset"] < 0  # < 0: a policy sweep, not an event
                         or folded(partition_of(c["subject_id"], tails.partitions), c["offset"])]
        events = [event for partition, offset, event in tails.events if folded(partition, offset)]
        live_changes, live_blacklist, live_overdue = list(self.grade_changes), list(self.blacklist), list(self.overdue)
        self.grade_changes.clear()
        self.blacklist.clear()
        self.overdue.clear()
        for change in grade_changes:
            kind, name = self._subject_name(change["subject_id"])
            self.grade_changes.append(_grade_item(change, {"kind": kind, "name": name}))
        for event in events:
            self._note_event(event)
        for item in self.blacklist:  # the tail may hold an entry the fold rejected, or one ended since
            state = self.store.get(item["subject_id"])
            entry = (state or {}).get("records", {}).get("lists", {}).get(
                own_key(state or {}, item["authority_code"], item["entry_id"]))
            item["active"] = entry is not None and base_status(entry) == ACTIVE
        _merge(self.grade_changes, live_changes, key=lambda c: (c["subject_id"], c["cause_event_id"], c["to_score"]))
        _merge(self.blacklist, live_blacklist, key=lambda item: item["event_id"])
        _merge(self.overdue, live_overdue, key=lambda item: item["event_id"])

    # --- sampled by a timer --------------------------------------------------------------------
    def sample_trend(self) -> None:
        self.trend.append((instant_text(self.clock.now()), *self._grade_counts().values(),
                           sum(_consumer_lag().values())))

    def _trend_columns(self) -> dict:
        """The trend as one list per line of the charts: smaller than a list of points."""
        columns = list(zip(*self.trend)) or [()] * (len(GRADES) + 2)
        return {"interval_s": TREND_INTERVAL_S, "from": columns[0][0] if self.trend else None,
                **{letter: list(column) for letter, column in zip(GRADES, columns[1:])}, "lag": list(columns[-1])}

    # --- the snapshot --------------------------------------------------------------------------
    def snapshot_bytes(self, scope: Scope | None = None) -> bytes:
        """The current snapshot as JSON, rebuilt when the last one is older than SNAPSHOT_INTERVAL_S;
        with a scope, that scope's (scoped_snapshot)."""
        now_s = self.monotonic_s()
        if scope is not None:
            built = self._scoped.get(scope)
            if built is None or now_s - built[0] >= SNAPSHOT_INTERVAL_S * 0.9:
                if built is None and len(self._scoped) >= SCOPED_SNAPSHOTS_MAX:
                    self._scoped.clear()
                built = self._scoped[scope] = (now_s, orjson.dumps(self.scoped_snapshot(scope)))
            return built[1]
        if self._snapshot is None or now_s - self._snapshot[0] >= SNAPSHOT_INTERVAL_S * 0.9:
            self._snapshot = (now_s, orjson.dumps(self.snapshot()))
        return self._snapshot[1]

    def scoped_snapshot(self, scope: Scope) -> dict:
        """The snapshot as a supervisor bounded to `scope` may see it: the recent grade changes, black-list
        entries and deadlines of subjects in scope, the timeliness of authorities in scope; the counts of
        the whole ledger withheld (SCOPE_WITHHELD: null, or empty series)."""
        known: dict[str, bool] = {}

        def inside(subject_id: str) -> bool:
            if subject_id not in known:
                known[subject_id] = in_scope(scope, self.store.get(subject_id))
            return known[subject_id]

        def newest(items: deque) -> list[dict]:
            return [dict(item) for item in reversed(items) if inside(item["subject_id"])][:SHOWN_MAX]
        near = [n for n in self._near_deadlines(NEAR_SCAN_MAX) if inside(n["subject_id"])][:SHOWN_MAX]
        return {**self._header(), "scope": scope.as_dict(), "withheld": list(SCOPE_WITHHELD),
                "ledger": {"records": None, "subjects": None},
                "rates": {"window_s": RATE_WINDOW_S, "per_s": None, "rejected_per_s": None, "by_type": [],
                          "series": [], "series_interval_s": 1},
                "grades": {"counts": None, "labels": GRADE_LABELS_ZH},
                "trend": {"interval_s": TREND_INTERVAL_S, "from": None, **{g: [] for g in GRADES}, "lag": []},
                "grade_changes": newest(self.grade_changes), "timeliness": self._timeliness(scope),
                "deadlines": {"pending": None, "pending_total": None, "near": near, "overdue": newest(self.overdue)},
                "blacklist": newest(self.blacklist), "lag": self._lag(), "streams": self.streams}

    def snapshot(self) -> dict:
        grades = self._grade_counts()
        pending = {counter.kind: count for counter, count in self.store.counters(DeadlineCounter).items()}
        return {
            **self._header(),
            "ledger": {"records": sum(offset + 1 for offset in self.store.applied_offsets().values()),
                       "subjects": sum(grades.values())},
            "rates": self._rates(),
            "grades": {"counts": grades, "labels": GRADE_LABELS_ZH},
            "trend": self._trend_columns(),
            "grade_changes": _newest(self.grade_changes),
            "timeliness": self._timeliness(),
            "deadlines": {"pending": pending, "pending_total": sum(pending.values()),
                          "near": self._near_deadlines(), "overdue": _newest(self.overdue)},
            "blacklist": _newest(self.blacklist),
            "lag": self._lag(),
            "streams": self.streams,
        }

    def _header(self) -> dict:
        return {"generated_at": instant_text(datetime.now().astimezone()), "clock": instant_text(self.clock.now()),
                "clock_speed": self.clock.speed, "ready": bool(self.ready())}

    def _lag(self) -> dict:
        applied, lag = self.store.applied_offsets(), _consumer_lag()
        return {"total": sum(lag.values()), "partitions": [
            {"partition": p, "lag": lag.get(p, 0), "applied_offset": applied.get(p, -1)}
            for p in sorted(set(applied) | set(lag))]}

    def _grade_counts(self) -> dict[str, int]:
        counts = {letter: 0 for letter in GRADES}
        for counter, count in self.store.counters(GradeCounter).items():
            counts[counter.letter] = count
        return counts

    def _rates(self) -> dict:
        now_s = int(self.monotonic_s())
        by_second = {second: counts for second, counts in self.per_second}
        # the current second is still filling: the series and the rates end with the last full one
        series = [sum(v for k, v in by_second.get(s, {}).items() if k != REJECTED_KEY)
                  for s in range(now_s - RATE_HISTORY_S, now_s)]
        window = Counter()
        for second in range(now_s - RATE_WINDOW_S, now_s):
            window.update(by_second.get(second, {}))
        rejected = window.pop(REJECTED_KEY, 0)
        by_type = [{"type": kind, "label": EVENT_TYPES_ZH.get(kind, kind), "count": count,
                    "per_s": round(count / RATE_WINDOW_S, 2)} for kind, count in window.most_common()]
        return {"window_s": RATE_WINDOW_S, "per_s": round(sum(window.values()) / RATE_WINDOW_S, 2),
                "rejected_per_s": round(rejected / RATE_WINDOW_S, 2), "by_type": by_type,
                "series": series, "series_interval_s": 1}

    def _timeliness(self, scope: Scope | None = None) -> dict:
        authorities: dict[str, dict] = {}
        for counter, count in self.store.counters(TimelinessCounter).items():
            if not authority_in_scope(scope, counter.authority_code):
                continue
            counts = authorities.setdefault(counter.authority_code, dict.fromkeys(TIMELINESS_OUTCOMES, 0))
            counts[counter.outcome] = count
        totals = {outcome: sum(a[outcome] for a in authorities.values()) for outcome in TIMELINESS_OUTCOMES}

        def row(code: str, counts: dict) -> dict:
            due = sum(counts[outcome] for outcome in TIMELINESS_JUDGED)  # exempt and historical ones apart
            return {"code": code, "name": self.authority_names.get(code), **counts, "total": due,
                    "timely_ratio": round(counts[ON_TIME] / due, 4) if due else None}
        # the worst first: most overdue (漏报), then most late (迟报)
        worst = heapq.nsmallest(AUTHORITIES_SHOWN_MAX, authorities.items(),
                                key=lambda item: (-item[1][OVERDUE], -item[1][LATE], item[0]))
        return {"authorities": [row(code, counts) for code, counts in worst], "authorities_total": len(authorities),
                "totals": row("", totals) | {"name": "合计"}}

    def _near_deadlines(self, limit: int = SHOWN_MAX) -> list[dict]:
        now = self.clock.now()
        near = []
        for entry in self.store.timers_next(NEAR_KINDS, limit):
            kind, name = self._subject_name(entry["subject_id"])
            remaining_s = (datetime.fromisoformat(entry["fires_at"]) - now).total_seconds()
            near.append({"subject_id": entry["subject_id"], "subject_kind": kind, "name": name, "kind": entry["kind"],
                         "label": KIND_LABELS_ZH.get(entry["kind"], entry["kind"]), "ref": entry["ref"],
                         "due_on": entry["due_on"], "fires_at": entry["fires_at"],
                         "remaining_days": round(remaining_s / 86_400, 2)})
        return near


def _remember(cache: OrderedDict, key, value, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def _newest(items: deque) -> list[dict]:
    return [dict(item) for item in list(items)[-SHOWN_MAX:][::-1]]


def _merge(buffer: deque, live: list, key) -> None:
    seen = {key(item) for item in buffer}
    buffer.extend(item for item in live if key(item) not in seen)


def _grade_item(change: dict, subject: dict) -> dict:
    before, after = change.get("from_letter"), change["to_letter"]
    return {"at": change["at"], "subject_id": change["subject_id"], "subject_kind": subject.get("kind"),
            "name": subject.get("name"), "from_letter": before, "to_letter": after,
            "from_score": change.get("from_score"), "to_score": change["to_score"],
            "cause": change["cause"], "cause_event_id": change.get("cause_event_id"),
            "cause_label": EVENT_TYPES_ZH.get(change["cause"], change["cause"]),
            "downgrade": before is not None and after > before,  # A is best, D worst
            "upgrade": before is not None and after < before,
            "score_delta": change["to_score"] - change["from_score"] if change.get("from_score") is not None else None}


def _consumer_lag() -> dict[int, int]:
    """credit_consumer_lag_messages by partition, as the worker's readiness check last set it."""
    return {int(sample.labels["partition"]): int(sample.value)
            for family in metrics.CONSUMER_LAG.collect() for sample in family.samples}


SEEDED_TYPES = WATCHED_TYPES


@dataclass
class Tails:
    """What the end of the topics holds, read back at start to seed the dashboard."""

    grade_changes: list[dict]  # GradeChanged of credit.grades, oldest first
    events: list[tuple[int, int, dict]]  # (partition, offset, event) of credit.events of SEEDED_TYPES, oldest first
    partitions: int  # of credit.events
    authorities: dict[str, str]  # authority code -> name, from every event read


def read_tails(bootstrap: KafkaAccess | str, records: int = SEED_TAIL_RECORDS) -> Tails:
    """The last `records` records of each partition of credit.grades and credit.events.
    Blocking: run it in an executor."""
    changes, events, authorities = [], [], {}
    for _, _, value in _tail(bootstrap, topics.GRADES, ledger_reader.watermarks(bootstrap, topics.GRADES), records):
        with suppress(CodecError):  # a record no GradeChanged: nothing to show
            changes.append(decode_grade_changed(value))
    ledger = ledger_reader.watermarks(bootstrap, topics.EVENTS)
    for partition, offset, value in _tail(bootstrap, topics.EVENTS, ledger, records):
        try:
            event = decode_event(value)
        except CodecError:
            continue  # a poison record: the ledger fold rejected it, the dashboard skips it
        if event["source"].get("authority_name"):
            authorities[event["source"]["authority_code"]] = event["source"]["authority_name"]
        if event["type"] in SEEDED_TYPES:
            events.append((partition, offset, event))
    changes.sort(key=lambda c: c["at"])
    events.sort(key=lambda item: item[2]["recorded_at"])
    return Tails(changes, events, len(ledger), dict(list(authorities.items())[-AUTHORITY_NAMES_MAX:]))


def _tail(bootstrap: KafkaAccess | str, topic: str, marks: dict[int, tuple[int, int]], records: int):
    """(partition, offset, value) of the last `records` records of each partition (marks: low, high)."""
    for partition, (low, high) in marks.items():
        for offset, _, value, _ in ledger_reader.read_range(bootstrap, topic, partition, max(low, high - records), high):
            yield partition, offset, value or b""


# --- HTTP ------------------------------------------------------------------------------------------
def prefers_html(request) -> bool:
    """Whether the request's Accept header ranks text/html above application/json: a browser opening a
    link. Clients that send no Accept, or */*, get JSON as before."""
    ranges = []
    for part in (request.headers.get("Accept") or "").split(","):
        media, *params = [p.strip() for p in part.split(";")]
        if "/" not in media:
            continue
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        ranges.append((media.lower(), quality))

    def quality_of(media: str) -> float:
        kind = media.split("/")[0]
        for candidate in (media, f"{kind}/*", "*/*"):  # the most specific range decides
            matches = [q for m, q in ranges if m == candidate]
            if matches:
                return max(matches)
        return 0.0
    return quality_of("text/html") > quality_of("application/json")


def not_found_page(subject_id: str) -> str:
    """What a browser gets for an unknown subject: a page in Chinese, not a JSON error."""
    return ('<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>未找到信用主体</title>'
            '<link rel="icon" href="data:,"></head>'
            '<body style="font-family:\'Noto Sans CJK SC\',\'Microsoft YaHei\',sans-serif;margin:40px">'
            f'<h1>未找到信用主体</h1><p>账本中没有主体 <code>{escape(subject_id)}</code> 的记录。</p>'
            '<p><a href="/dashboard">返回信用风险监测</a></p></body></html>\n')


def _asset(name: str) -> bytes:
    return (resources.files("streams") / "static" / name).read_bytes()


def refusal_page(message: str) -> str:
    return ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>需要授权</title></head>'
            '<body style="font-family: sans-serif; margin: 3em">'
            '<h1>信用风险监测需要监管人员授权</h1>'
            f'<p>{escape(message)}</p>'
            '<p><a href="/dashboard/login">以监管人员令牌登录</a></p></body></html>\n')


LOGIN_BODY_BYTES_MAX = 4096  # a token is 43 characters


def login_page(message: str | None = None) -> str:
    """The dashboard's login form: the token goes in a POST body, never in a URL (history, proxies' logs)."""
    notice = f'<p role="alert" style="color:#b00020">{escape(message)}</p>' if message else ""
    return ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>登录 · 信用风险实时监测</title>'
            '<link rel="icon" href="data:,"></head>'
            '<body style="font-family:\'Noto Sans CJK SC\',\'Microsoft YaHei\',sans-serif;margin:3em;max-width:40em">'
            f'<h1>信用风险实时监测</h1>{notice}'
            '<form method="post" action="/dashboard/login">'
            '<p><label for="token">令牌（监管人员或信用主体本人）</label><br>'
            '<input id="token" name="token" type="password" autocomplete="off" required size="50"></p>'
            '<p><button type="submit">登录</button></p></form>'
            '<p>嵌入式部署（credit-ledger up）的令牌见数据目录中 tokens.json 的 "supervisor"；'
            '信用主体以本人令牌（"subjects"）登录后进入本人信用信息页。'
            '登录后浏览器只保存一个会话 Cookie，不保存令牌。</p></body></html>\n')


def same_site_problem(request) -> str | None:
    """A login posted from another site's page (login CSRF) is refused: by the browser's Sec-Fetch-Site
    when it sends one, else by the Origin. A client that sends neither (curl, a script) is not a browser
    on another site, nor is an Origin "null" (what a page with no referrer policy sends) alone."""
    fetch_site = (request.headers.get("Sec-Fetch-Site") or "").lower()
    if fetch_site:
        return None if fetch_site in ("same-origin", "none") else "the login form was sent from another site"
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return None
    if urlsplit(origin).netloc.lower() != (request.headers.get("Host") or "").strip().lower():
        return "the login form was sent from another site"
    return None


async def posted_token(request) -> str | None:
    """The token of a login: a form's `token` field or a JSON {"token": ...}; None when there is none."""
    if request.content_length is not None and request.content_length > LOGIN_BODY_BYTES_MAX:
        return None
    body = await request.content.read(LOGIN_BODY_BYTES_MAX + 1)
    if len(body) > LOGIN_BODY_BYTES_MAX:
        return None
    media = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media == "application/json":
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        token = value.get("token") if isinstance(value, dict) else None
    else:
        token = (parse_qs(body.decode("utf-8", "replace"), max_num_fields=4).get("token") or [None])[0]
    return token.strip() if isinstance(token, str) else None


def install(app, store, clock, gate, *, bootstrap: KafkaAccess | str, ready: Callable[[], bool]) -> Dashboard:
    """Add the dashboard's pages, stream and timers to the Faust app; returns the Dashboard for the fold to feed.
    The data (snapshot, stream) is for supervisors and up (streams/gate.py); the static assets are public."""
    dashboard = Dashboard(store, clock, ready)
    assets = {name: _asset(name) for name in ASSETS}  # read once: a handful of kilobytes
    install_page(app, gate, assets)
    install_login(app, gate)
    for name in ("dashboard.js", "dashboard.css"):
        app.page(f"/dashboard/{name}", name=f"dashboard_{name.replace('.', '_')}")(asset_page(assets, name))
    install_data(app, dashboard, gate)
    install_background(app, dashboard, bootstrap)
    return dashboard


def asset_page(assets: dict[str, bytes], name: str):
    async def serve(web, request):
        return web.bytes(assets[name], headers={"Content-Type": f"{ASSETS[name]}; charset=utf-8",
                                                "Cache-Control": "no-cache"})
    return serve


def install_page(app, gate, assets: dict[str, bytes]) -> None:
    """GET /dashboard: the page for those who may see it, the login form for a browser without a session."""

    @app.page("/dashboard", name="dashboard")
    async def page(web, request):
        if "token" in request.query:  # the old link: a token in a URL is refused, never kept; log in instead
            return web.bytes(b"", status=303, headers={"Location": "/dashboard/login", "Cache-Control": "no-store"})
        principal, refusal = await gate.admit(request, "dashboard", "GET /dashboard")
        if refusal:
            body, status = refusal
            if principal is None or principal.role == ANONYMOUS:  # nobody yet, or a session that ended
                return web.bytes(b"", status=303, headers={"Location": "/dashboard/login", "Cache-Control": "no-store"})
            return web.bytes(refusal_page(body["errors"][0]["message"]).encode(), status=status,
                             headers=HTML_PAGE_HEADERS)
        return await asset_page(assets, "dashboard.html")(web, request)


def install_login(app, gate) -> None:
    @app.page("/dashboard/login", name="dashboard_login")
    class Login(View):
        """GET: the login form. POST (a form's `token` field, or JSON {"token": ...}): for a valid token a
        session cookie (streams/sessions.py) and 303 to /dashboard (JSON: 200 with the principal and the
        session's lifetime); 401 otherwise. The token is checked, never stored, logged or put in the cookie."""

        async def get(self, request):
            # its form's POST carries Origin "null" (the worker's Referrer-Policy is no-referrer): the browser's
            # Sec-Fetch-Site says where it came from (same_site_problem)
            return self.web.bytes(login_page().encode(), headers={**HTML_PAGE_HEADERS, "Cache-Control": "no-store"})

        async def post(self, request):
            wants_json = (request.headers.get("Content-Type") or "").lower().startswith("application/json")
            problem = same_site_problem(request)
            token = None if problem else await posted_token(request)
            try:
                if problem:
                    raise AuthenticationError(problem)
                principal, session_id, max_age_s = gate.login(token or "")
            except AuthenticationError as error:
                if wants_json:
                    return self.web.bytes(orjson.dumps({"errors": [{"field": "token", "rule": "authentication",
                                                                    "message": error.reason}]}), status=401,
                                          headers={"Content-Type": "application/json; charset=utf-8"})
                return self.web.bytes(login_page(f"登录失败：{error.reason}").encode(), status=401,
                                      headers={**HTML_PAGE_HEADERS, "Cache-Control": "no-store"})
            if wants_json:
                response = self.web.bytes(orjson.dumps({"principal": principal.name, "role": principal.role,
                                                        "expires_in_s": max_age_s}),
                                          headers={"Content-Type": "application/json; charset=utf-8",
                                                   "Cache-Control": "no-store"})
            else:  # a subject (本人) to its own page, every other principal to the dashboard
                home = "/self" if principal.role == SUBJECT else "/dashboard"
                response = self.web.bytes(b"", status=303, headers={"Location": home, "Cache-Control": "no-store"})
            response.set_cookie(SESSION_COOKIE, session_id, max_age=max_age_s, httponly=True, samesite="Strict",
                                path="/", secure=cookie_is_secure(request.scheme,
                                                                  request.headers.get("X-Forwarded-Proto")))
            return response


async def admitted(gate, web, request, endpoint: str):
    """(the reader's scope, None) for a reader who may see the dashboard's data (read logged), else
    (None, the JSON refusal). A scoped supervisor gets its scope's snapshot (Dashboard.scoped_snapshot)."""
    principal, refusal = await gate.admit(request, "dashboard", endpoint)
    if refusal:
        body, status = refusal
        return None, web.bytes(orjson.dumps(body), status=status,
                               headers={"Content-Type": "application/json; charset=utf-8"})
    return principal.scope, None


def install_data(app, dashboard: Dashboard, gate) -> None:
    """The snapshot, once (/dashboard/snapshot) or pushed every second (/dashboard/stream)."""

    @app.page("/dashboard/snapshot", name="dashboard_snapshot")
    async def snapshot(web, request):
        scope, refusal = await admitted(gate, web, request, "GET /dashboard/snapshot")
        if refusal:
            return refusal
        return web.bytes(dashboard.snapshot_bytes(scope), headers={"Content-Type": "application/json; charset=utf-8",
                                                              "Cache-Control": "no-cache"})

    @app.page("/dashboard/stream", name="dashboard_stream")
    async def stream(web, request):
        """A snapshot every SNAPSHOT_INTERVAL_S as a server-sent event, until the page goes or we stop."""
        scope, refusal = await admitted(gate, web, request, "GET /dashboard/stream")  # logged once per stream
        if refusal:
            return refusal
        if dashboard.streams >= STREAMS_MAX:
            return web.bytes(orjson.dumps({"error": f"at most {STREAMS_MAX} dashboard streams are open"}),
                             status=503, headers={"Content-Type": "application/json; charset=utf-8",
                                                  "Retry-After": "10"})
        # faust's aiohttp driver hands the handler aiohttp's own request, so aiohttp streams the response
        response = aiohttp_web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no"})  # a reverse proxy must not hold the events back
        dashboard.streams += 1
        try:
            await response.prepare(request)
            await response.write(b"retry: %d\n\n" % STREAM_RETRY_MS)
            while not dashboard.closing.is_set():
                await response.write(b"event: snapshot\ndata: " + dashboard.snapshot_bytes(scope) + b"\n\n")
                try:
                    await asyncio.wait_for(dashboard.closing.wait(), SNAPSHOT_INTERVAL_S)
                except asyncio.TimeoutError:
                    pass
        except ConnectionError:
            pass  # the page was closed
        finally:
            dashboard.streams -= 1
        return response


def install_background(app, dashboard: Dashboard, bootstrap: KafkaAccess | str) -> None:
    """The streams' end at shutdown, the trend's samples, and the buffers seeded from the topics' tails."""

    async def close_streams(*args, **kwargs) -> None:
        dashboard.closing.set()
    # Whichever comes first: the app stopping, or the web server shutting down (which would otherwise
    # wait for open streams for a minute).
    app.on_before_shutdown.connect(close_streams)
    app.web.web_app.on_shutdown.append(close_streams)

    @app.timer(TREND_INTERVAL_S)
    async def sample_dashboard_trend():
        dashboard.sample_trend()

    @app.task
    async def seed_dashboard():
        try:
            tails = await asyncio.get_running_loop().run_in_executor(None, read_tails, bootstrap)
        except Exception as error:  # the dashboard starts empty rather than stopping the worker
            log.warning("dashboard: could not read the topics' tails (%s); recent lists start empty", error)
            return
        dashboard.seed(tails)
        dashboard.sample_trend()
