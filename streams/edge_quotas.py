"""The edge's quotas per principal (projections/quotas.py) with the policy in force and the wall clock:
what POST /events and POST /events:batch ask before judging a line, before writing an accepted event,
and before writing a refused one to credit.rejected. Refusals are counted in credit_quota_refusals_total
by rule; the state is this worker's, in memory, bounded (projections/quotas.py)."""
from __future__ import annotations

import time
from collections.abc import Callable

from projections.access import Principal
from projections.policy import Policy
from projections.quotas import TOO_MANY, QuotaRefusal, Quotas
from streams import metrics


def refused_line(refusal: QuotaRefusal) -> dict:
    """A line's result for a quota refusal: 429, when to try again, and why."""
    return {"status": TOO_MANY, "retry_after_s": refusal.retry_after_s,
            "errors": [{"field": "$", "rule": refusal.rule, "message": refusal.message}]}


class EdgeQuotas:
    def __init__(self, policy_now: Callable[[], Policy], now_s: Callable[[], float] = time.time) -> None:
        self.quotas = Quotas()
        self._policy_now = policy_now  # the quotas of the policy in force: a new policy changes them at once
        self._now_s = now_s  # the wall clock, even when the ledger's clock runs fast (the demo)

    def lines(self, principal: Principal, wanted: int) -> tuple[int, dict | None]:
        """How many of the next `wanted` lines may be judged; the result of each of the others (429)."""
        granted, refusal = self.quotas.lines(principal.name, wanted, self._policy_now().quota_limits(principal.role),
                                             self._now_s())
        if refusal is None:
            return granted, None
        metrics.labelled(metrics.QUOTA_REFUSALS, refusal.rule).inc(wanted - granted)
        return granted, refused_line(refusal)

    def subject(self, principal: Principal, subject_id: str) -> dict | None:
        """None when `principal` may put one more event on `subject_id` today (counted), else its 429 result."""
        refusal = self.quotas.subject(principal.name, subject_id, self._policy_now().quota_limits(principal.role),
                                      self._now_s())
        if refusal is None:
            return None
        metrics.labelled(metrics.QUOTA_REFUSALS, refusal.rule).inc()
        return refused_line(refusal)

    def may_record_rejection(self, principal: Principal) -> bool:
        if self.quotas.may_record_rejection(principal.name, self._policy_now().quota_limits(principal.role),
                                            self._now_s()):
            return True
        metrics.REJECTIONS_UNRECORDED.inc()
        return False
