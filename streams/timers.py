"""The timers: when a deadline's instant comes, publish its system event to credit.events.

Which deadlines are pending is decided by the pure core (projections/deadlines.py); the
store keeps them in a timer index ordered by instant, written by LedgerProcessor in the
same atomic batch as the states, so the index always matches the folded log. A timer
only reads that index and publishes. Whatever happens, the fold settles it:
- fired twice (a restart before the event was folded, a rebalance): the event id is a
  UUIDv5 of the deadline, so the second one is a DUPLICATE and changes nothing;
- the worker was down: the index is on disk, so everything due fires at the first tick;
- the publication was lost: the deadline is still in the index and fires again after
  REFIRE_AFTER_S.
Memory stays bounded however many deadlines are pending: the index lives in RocksDB and
a tick reads at most TIMERS_DUE_MAX due entries (of the partitions this worker folds); `in_flight` holds
at most as many. So a tick fires at most TIMERS_DUE_MAX, and what it published stays in that window until
it is folded.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from projections.canonical import instant_text
from projections.deadlines import Deadline, system_event
from projections.effects import DeadlineCounter
from projections.policy import Policy, PolicyBook, policy_for
from projections.validate import EdgeContext, validate_event
from streams import metrics
from streams.clock import Clock
from streams.codec import encode_event

log = logging.getLogger(__name__)

TICK_S = 0.2  # real seconds between scans: a deadline fires within a second of its instant
REFIRE_AFTER_S = 30.0  # a published event not folded by then is published again (same id)
DEADLINE_FIELDS = ("fires_at", "subject_id", "kind", "ref", "due_on", "provisional")

Send = Callable[[str, bytes], Awaitable[Awaitable]]  # (subject id, encoded event) -> delivery future


class Timers:
    def __init__(self, store, policy: Policy | PolicyBook, clock: Clock, send: Send,
                 partitions: Callable[[], frozenset[int] | None]):
        self.store = store
        self.policy = policy
        self.clock = clock
        self.send = send
        self.partitions = partitions  # the ones this worker folds now (None: all); after a rebalance, fewer
        self.in_flight: dict[str, float] = {}  # event id -> monotonic second it was published
        self.started_at = clock.now()  # what fell due before is catch-up, not a live firing

    async def fire_due(self) -> int:
        """Publish the system event of each deadline due now, the earliest TIMERS_DUE_MAX of them; returns how
        many were published."""
        now = self.clock.now()
        recorded_at = instant_text(now)
        policy = policy_for(self.policy, recorded_at)
        deliveries, due_ids = [], set()
        for entry in self.store.timers_due(now, partitions=self.partitions()):
            deadline = Deadline(**{name: entry[name] for name in DEADLINE_FIELDS})
            event_id = deadline.event_id()
            due_ids.add(event_id)
            published_s = self.in_flight.get(event_id)
            if published_s is not None and time.monotonic() - published_s < REFIRE_AFTER_S:
                continue
            self.in_flight[event_id] = time.monotonic()
            state = self.store.get(deadline.subject_id)
            raw = system_event(state, deadline, recorded_at, policy)
            event, problems = validate_event(raw, EdgeContext(now=now, pseudonym_key=b"", stamp_recorded_at=False,
                                                              allow_system=True))
            if problems:  # a bug, not bad input: say so loudly and try again later
                log.error("timer %s of %s makes an invalid event: %s", deadline.key, deadline.subject_id, problems)
                continue
            deliveries.append(await self.send(deadline.subject_id, encode_event(event)))
            await asyncio.sleep(0)  # the producer's send does not yield: the fold and the web server in between
            metrics.TIMERS_FIRED.labels(deadline.kind).inc()
            if datetime.fromisoformat(deadline.fires_at) > self.started_at:
                metrics.TIMER_DELAY.observe(self.clock.seconds_since(deadline.fires_at))
        for delivery in deliveries:
            await delivery  # acknowledged by the broker before the next tick
        # What is no longer due has been folded (or belongs to another worker now).
        self.in_flight = {event_id: s for event_id, s in self.in_flight.items() if event_id in due_ids}
        return len(deliveries)

    def update_gauges(self) -> None:
        for counter, count in self.store.counters(DeadlineCounter).items():
            metrics.DEADLINES_PENDING.labels(counter.kind).set(count)
        # the oldest due of the partitions this worker folds: those it gave up in a rebalance are never its to fire
        oldest = self.store.timers_due(self.clock.now(), 1, self.partitions())
        waited_s = self.clock.seconds_since(oldest[0]["fires_at"]) if oldest else 0.0
        metrics.DEADLINE_UNFIRED.set(max(0.0, waited_s))
