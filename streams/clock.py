"""The clock the worker's timers and the edges read: the system's, or a fast one for demos.

Nothing in projections/ reads a clock; time enters the fold only through events.
A fast clock shows real time at `started_s` and runs `speed` times faster from there;
`up` hands the same (speed, started_s) to its worker, so both see the same instant.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

SPEED_MAX = 10_000_000.0  # ~4 months a second: still enough for a timer tick to see each day


class Clock:
    def __init__(self, speed: float = 1.0, started_s: float | None = None):
        if not 0 < speed <= SPEED_MAX:
            raise ValueError(f"clock speed must be in (0, {SPEED_MAX:g}], not {speed}")
        self.speed = speed
        self.started_s = time.time() if started_s is None else started_s

    def now(self) -> datetime:
        real_s = time.time()
        return datetime.fromtimestamp(self.started_s + (real_s - self.started_s) * self.speed, timezone.utc)

    def seconds_until(self, moment: datetime) -> float:
        """Real seconds until the clock shows `moment` (0 when it already has)."""
        return max(0.0, (moment - self.now()).total_seconds() / self.speed)

    def seconds_since(self, instant: str) -> float:
        """Real seconds since the clock showed the ISO `instant` (negative if it has not yet)."""
        return (self.now() - datetime.fromisoformat(instant)).total_seconds() / self.speed
