"""Prometheus metrics of the worker and the web server (names start with credit_).

Two registries: the default one is /metrics, open to anyone and labelled by nothing an authority or a
subject could be told apart by; BY_AUTHORITY holds the 双公示 timeliness counts per authority (迟报, 漏报:
what /timeliness restricts to supervisors) and is /metrics/authorities, served only with a supervisor's,
an auditor's or an admin's token (Prometheus scrapes it with one: ops/prometheus/prometheus.yml).
"""
from __future__ import annotations

import time
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BY_AUTHORITY = CollectorRegistry()

EVENTS = Counter("credit_events", "Events folded into the ledger, by type", ["type"])
REJECTED = Counter("credit_events_rejected", "Events rejected, by rule", ["reason"])
QUARANTINED = Counter("credit_events_quarantined", "Valid events set aside because folding them raised "
                      "(reason internal_error on credit.rejected): a bug to fix, the ledger folds on")
DUPLICATES = Counter("credit_events_duplicate", "Events whose id the subject had already accepted")
REDELIVERED = Counter("credit_events_redelivered", "Records at or below the applied offset (at-least-once redelivery)")
LAG = Histogram("credit_event_lag_seconds", "recorded_at to applied",
                buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
CONSUMER_LAG = Gauge("credit_consumer_lag_messages", "High watermark minus next offset to fold", ["partition"])
FOLD_BATCHES = Counter("credit_fold_batches", "Batches the fold wrote to the store (credit_events_total over it: "
                       "the mean batch)")
APPLIED_OFFSET = Gauge("credit_applied_offset", "Last offset folded into the store", ["partition"])
DISCLOSURE_LATE = Counter("credit_disclosure_late", "Permits and penalties that reached the ledger after "
                          "their 7 working days (迟报), by authority", ["authority"], registry=BY_AUTHORITY)
DISCLOSURE_OVERDUE = Counter("credit_disclosure_overdue", "Registered decisions whose record did not arrive "
                             "in time (漏报), by authority", ["authority"], registry=BY_AUTHORITY)
DISCLOSURE_ON_TIME = Counter("credit_disclosure_on_time", "Permits and penalties that reached the ledger "
                             "within their 7 working days, by authority", ["authority"], registry=BY_AUTHORITY)
DISCLOSURE_EXEMPT = Counter("credit_disclosure_exempt", "Permits and penalties published under a legal exemption "
                            "(国家秘密, 商业秘密, 个人隐私), not judged on time or late, by authority", ["authority"], registry=BY_AUTHORITY)
DISCLOSURE_HISTORICAL = Counter("credit_disclosure_historical", "Permits and penalties of an admin's historical "
                                "import, not judged on time or late, by authority", ["authority"], registry=BY_AUTHORITY)
TIMELINESS = {"on_time": DISCLOSURE_ON_TIME, "late": DISCLOSURE_LATE, "overdue": DISCLOSURE_OVERDUE,
              "exempt": DISCLOSURE_EXEMPT, "historical": DISCLOSURE_HISTORICAL}
DEADLINES_PENDING = Gauge("credit_deadlines_pending", "Deadlines the timers hold, by kind", ["kind"])
TIMERS_FIRED = Counter("credit_timers_fired", "System events the timers published, by deadline kind", ["kind"])
TIMER_DELAY = Histogram("credit_timer_delay_seconds", "Real seconds from a deadline's instant to its event's publication",
                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30, 300))
GRADE_CHANGES = Counter("credit_grade_changes", "GradeChanged records written, by the new letter", ["grade"])
# The counters a batch's fold tallies (streams/ledger.Batch.tally), by name: a fold process hands its tallies
# back by name (streams/fold_pool.py), and the process serving /metrics increments them
FOLD_TALLIED = {counter._name: counter for counter in (EVENTS, REJECTED, QUARANTINED, DUPLICATES, REDELIVERED,
                                                         GRADE_CHANGES, *TIMELINESS.values())}
GRADE_SUBJECTS = Gauge("credit_grade_subjects", "Subjects by their current grade", ["grade"])
REGRADE_PROGRESS = Gauge("credit_regrade_progress_ratio", "Share of subjects regraded by the running policy sweep "
                         "(1 when none runs)")
REGRADED = Counter("credit_regraded_subjects", "Subjects regraded by policy sweeps")
REGRADE_PROGRESS.set(1)  # no sweep runs until a new policy takes effect
DEADLINE_UNFIRED = Gauge("credit_deadline_unfired_seconds", "Real seconds the oldest deadline past its instant "
                         "has waited for its system event to be folded (0 when none is due): rises when timers stall")
LAG_MAX_S = 3600.0  # older events (replays, imports) would only swamp the histogram
CHILDREN_KEPT_MAX = 100_000  # labelled series `labelled` remembers (authorities are the many)
_children: dict[tuple[int, str], object] = {}


def labelled(metric, value: str):
    """metric.labels(value), remembered: labels() costs more than the increment itself, and the fold
    asks for it several times per event. Only for series that are never removed (not the per-partition
    gauges, which follow the assignment)."""
    key = (id(metric), value)
    child = _children.get(key)
    if child is None:
        if len(_children) >= CHILDREN_KEPT_MAX:
            _children.clear()
        child = _children[key] = metric.labels(value)
    return child


def observe_lag(recorded_at: str) -> None:
    lag_s = time.time() - datetime.fromisoformat(recorded_at).timestamp()
    if 0 <= lag_s <= LAG_MAX_S:
        LAG.observe(lag_s)
QUOTA_REFUSALS = Counter("credit_quota_refusals", "Lines the edge refused with 429 for a quota of the policy, by rule "
                         "(events_per_minute, events_per_subject_per_day)", ["rule"])
REJECTIONS_UNRECORDED = Counter("credit_rejections_unrecorded", "Refused lines answered with their reasons but not "
                                "written to credit.rejected: their principal's rejections_recorded_per_minute was spent")
