"""The sections of the dashboard's snapshot, each built from the store's counters and index heads or the
feed's buffers, and cut to a fixed length: its size does not grow with the number of subjects."""
from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime

from projections.deadlines import COMMITMENT, KIND_LABELS_ZH, OBJECTION, REPAIR
from projections.effects import (LATE, ON_TIME, OVERDUE, TIMELINESS_JUDGED, TIMELINESS_OUTCOMES, GradeCounter,
                                 TimelinessCounter)
from projections.scopes import Scope, authority_in_scope
from streams import metrics
from streams.dashboard_feed import REJECTED_KEY, RATE_HISTORY_S
from streams.report import EVENT_TYPES_ZH

RATE_WINDOW_S = 10  # the rate by type is the mean over this many seconds
SHOWN_MAX = 15  # items of each list in a snapshot
AUTHORITIES_SHOWN_MAX = 15  # authorities in the timeliness table (the worst first)
NEAR_KINDS = (COMMITMENT, OBJECTION, REPAIR)  # the deadlines of the "close to or past" panel
GRADES = ("A", "B", "C", "D")
SECONDS_PER_DAY = 86_400


def newest(items: deque) -> list[dict]:
    """The SHOWN_MAX newest items of a buffer, newest first, as copies."""
    return [dict(item) for item in list(items)[-SHOWN_MAX:][::-1]]


def grade_counts(store) -> dict[str, int]:
    """Subjects by grade letter, from the store's counters."""
    counts = {letter: 0 for letter in GRADES}
    for counter, count in store.counters(GradeCounter).items():
        counts[counter.letter] = count
    return counts


def consumer_lag() -> dict[int, int]:
    """credit_consumer_lag_messages by partition, as the worker's readiness check last set it."""
    return {int(sample.labels["partition"]): int(sample.value)
            for family in metrics.CONSUMER_LAG.collect() for sample in family.samples}


def lag(store) -> dict:
    """The consumer lag and the applied offset of each partition."""
    applied, behind = store.applied_offsets(), consumer_lag()
    return {"total": sum(behind.values()), "partitions": [
        {"partition": p, "lag": behind.get(p, 0), "applied_offset": applied.get(p, -1)}
        for p in sorted(set(applied) | set(behind))]}


def rates(per_second: deque[tuple[int, Counter]], now_s: int) -> dict:
    """Events a second over the last RATE_WINDOW_S full seconds, by type, and the RATE_HISTORY_S series;
    the current second is still filling: the series and the rates end with the last full one."""
    by_second = {second: counts for second, counts in per_second}
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


def timeliness(store, authority_names: dict[str, str], scope: Scope | None = None) -> dict:
    """双公示 timeliness: the AUTHORITIES_SHOWN_MAX worst authorities (in scope) and the totals."""
    authorities: dict[str, dict] = {}
    for counter, count in store.counters(TimelinessCounter).items():
        if not authority_in_scope(scope, counter.authority_code):
            continue
        counts = authorities.setdefault(counter.authority_code, dict.fromkeys(TIMELINESS_OUTCOMES, 0))
        counts[counter.outcome] = count
    totals = {outcome: sum(a[outcome] for a in authorities.values()) for outcome in TIMELINESS_OUTCOMES}

    def row(code: str, counts: dict) -> dict:
        due = sum(counts[outcome] for outcome in TIMELINESS_JUDGED)  # exempt and historical ones apart
        return {"code": code, "name": authority_names.get(code), **counts, "total": due,
                "timely_ratio": round(counts[ON_TIME] / due, 4) if due else None}
    # the worst first: most overdue (漏报), then most late (迟报)
    worst = heapq.nsmallest(AUTHORITIES_SHOWN_MAX, authorities.items(),
                            key=lambda item: (-item[1][OVERDUE], -item[1][LATE], item[0]))
    return {"authorities": [row(code, counts) for code, counts in worst], "authorities_total": len(authorities),
            "totals": row("", totals) | {"name": "合计"}}


def near_deadlines(store, now: datetime, subject_name: Callable[[str], tuple], limit: int = SHOWN_MAX) -> list[dict]:
    """The `limit` deadlines of NEAR_KINDS that fall due first, from the head of the store's timer index."""
    near = []
    for entry in store.timers_next(NEAR_KINDS, limit):
        kind, name = subject_name(entry["subject_id"])
        remaining_s = (datetime.fromisoformat(entry["fires_at"]) - now).total_seconds()
        near.append({"subject_id": entry["subject_id"], "subject_kind": kind, "name": name, "kind": entry["kind"],
                     "label": KIND_LABELS_ZH.get(entry["kind"], entry["kind"]), "ref": entry["ref"],
                     "due_on": entry["due_on"], "fires_at": entry["fires_at"],
                     "remaining_days": round(remaining_s / SECONDS_PER_DAY, 2)})
    return near


def trend_columns(trend: deque[tuple], interval_s: float) -> dict:
    """The trend (ledger instant, A, B, C, D, lag) as one list per line of the charts: smaller than points."""
    columns = list(zip(*trend)) or [()] * (len(GRADES) + 2)
    return {"interval_s": interval_s, "from": columns[0][0] if trend else None,
            **{letter: list(column) for letter, column in zip(GRADES, columns[1:])}, "lag": list(columns[-1])}
