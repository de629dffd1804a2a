"""Quotas per principal at the edge: how many events a principal may send a minute, and put on one
subject a day (the numbers: the policy's `quotas:` section, projections/policy.py). Pure: every
instant comes in as an argument (`now_s`, seconds since the epoch), so tests drive the clock.

- events_per_minute: a token bucket per principal, as deep as the quota and refilled at quota/60 a
  second: a burst of up to the quota, then the quota a minute. Every line sent counts, refused ones
  too, so it also bounds what a principal can make the edge write to credit.rejected.
- events_per_subject_per_day: accepted events per (principal, subject, day of Asia/Shanghai).
- rejections_recorded_per_minute: refused lines written to credit.rejected per principal; beyond it
  a line is still answered with its reasons, but not written (counted instead). A quota refusal (429)
  itself is never written there.

The tables live in memory, per worker, and are bounded (PRINCIPAL_BUCKETS_MAX, SUBJECT_DAYS_MAX; the
least recently used entry goes first): a worker that restarts, or a second worker, starts its own
counts. The fold's per-authority bound on a subject (records: authority_share) is the hard limit
behind them.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from projections.canonical import SHANGHAI

EVENTS_PER_MINUTE, EVENTS_PER_SUBJECT_PER_DAY, REJECTIONS_RECORDED_PER_MINUTE = (
    "events_per_minute", "events_per_subject_per_day", "rejections_recorded_per_minute")
QUOTA_RULES = (EVENTS_PER_MINUTE, EVENTS_PER_SUBJECT_PER_DAY, REJECTIONS_RECORDED_PER_MINUTE)
QUOTA_ROLES = ("publisher", "admin")  # the roles that may publish
TOO_MANY = 429
PRINCIPAL_BUCKETS_MAX = 10_000  # (principal, rule) buckets; principals are at most 1,000 (streams/principals.py)
SUBJECT_DAYS_MAX = 200_000  # (principal, subject, day) counters: ~40 MB at most
QUOTA_MAX = 100_000_000  # any one number of the quotas: beyond it is no quota


@dataclass(frozen=True)
class Limits:
    """One role's quotas, from the policy."""

    events_per_minute: int
    events_per_subject_per_day: int
    rejections_recorded_per_minute: int


# A subject files its own objections, repair requests and grants (projections/access.py, SELF_FILED_TYPES):
# a few a day, by hand. Fixed here, not a policy number: a person at a counter, not a department's system.
SELF_SERVICE_LIMITS = Limits(events_per_minute=10, events_per_subject_per_day=20, rejections_recorded_per_minute=10)


@dataclass(frozen=True)
class QuotaRefusal:
    rule: str
    retry_after_s: int  # whole seconds, at least 1: the Retry-After header
    message: str


class TokenBucket:
    """`capacity` tokens, refilled at `per_s` a second up to `capacity`; starts full."""

    def __init__(self, capacity: int, per_s: float, now_s: float) -> None:
        self.capacity, self.per_s = capacity, per_s
        self.level, self.updated_s = float(capacity), now_s

    def take_up_to(self, wanted: int, now_s: float) -> int:
        """Take as many of `wanted` tokens as there are (whole ones); returns how many were taken."""
        self._refill(now_s)
        taken = max(0, min(wanted, int(self.level)))
        self.level -= taken
        return taken

    def retry_after_s(self, now_s: float) -> int:
        """Seconds until a whole token is there again (at least 1)."""
        self._refill(now_s)
        missing = 1.0 - self.level
        return max(1, math.ceil(missing / self.per_s)) if missing > 0 else 1

    def _refill(self, now_s: float) -> None:
        if now_s > self.updated_s:  # a clock that steps back refills nothing
            self.level = min(float(self.capacity), self.level + (now_s - self.updated_s) * self.per_s)
            self.updated_s = now_s


def shanghai_day(now_s: float) -> tuple[str, int]:
    """(the day in Asia/Shanghai at `now_s`, whole seconds until the next one begins, at least 1)."""
    moment = datetime.fromtimestamp(now_s, timezone.utc).astimezone(SHANGHAI)
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), SHANGHAI)
    return moment.date().isoformat(), max(1, math.ceil((midnight - moment).total_seconds()))


class Quotas:
    """The edge's quota state: token buckets per (principal, rule), counts per (principal, subject, day)."""

    def __init__(self, max_buckets: int = PRINCIPAL_BUCKETS_MAX, max_subject_days: int = SUBJECT_DAYS_MAX) -> None:
        self._buckets: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()
        self._subject_days: OrderedDict[tuple[str, str, str], int] = OrderedDict()
        self._max_buckets, self._max_subject_days = max_buckets, max_subject_days

    def _bucket(self, principal: str, rule: str, per_minute: int, now_s: float) -> TokenBucket:
        key = (principal, rule)
        bucket = self._buckets.get(key)
        if bucket is None or bucket.capacity != per_minute:  # a new policy: a fresh bucket of its size
            bucket = self._buckets[key] = TokenBucket(per_minute, per_minute / 60.0, now_s)
            while len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        return bucket

    def lines(self, principal: str, wanted: int, limits: Limits, now_s: float) -> tuple[int, QuotaRefusal | None]:
        """How many of the next `wanted` lines may be judged now, and the refusal of the rest (if any)."""
        bucket = self._bucket(principal, EVENTS_PER_MINUTE, limits.events_per_minute, now_s)
        granted = bucket.take_up_to(wanted, now_s)
        if granted == wanted:
            return granted, None
        return granted, QuotaRefusal(EVENTS_PER_MINUTE, bucket.retry_after_s(now_s), (
            f"{principal} may send {limits.events_per_minute:,} events a minute; send the rest again later"))

    def subject(self, principal: str, subject_id: str, limits: Limits, now_s: float) -> QuotaRefusal | None:
        """Count one accepted event of `principal` on `subject_id` today; the refusal when it would be one too many."""
        day, left_s = shanghai_day(now_s)
        key = (principal, subject_id, day)
        count = self._subject_days.get(key, 0)
        if count >= limits.events_per_subject_per_day:
            return QuotaRefusal(EVENTS_PER_SUBJECT_PER_DAY, left_s, (
                f"{principal} may put {limits.events_per_subject_per_day:,} events a day on one subject; "
                f"the count starts again at 00:00 Asia/Shanghai"))
        self._subject_days[key] = count + 1
        self._subject_days.move_to_end(key)
        while len(self._subject_days) > self._max_subject_days:
            self._subject_days.popitem(last=False)
        return None

    def may_record_rejection(self, principal: str, limits: Limits, now_s: float) -> bool:
        bucket = self._bucket(principal, REJECTIONS_RECORDED_PER_MINUTE, limits.rejections_recorded_per_minute, now_s)
        return bucket.take_up_to(1, now_s) == 1

    def sizes(self) -> tuple[int, int]:
        return len(self._buckets), len(self._subject_days)
