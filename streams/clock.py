"""The clock the worker's timers and the edges read: the system's, or a fast one for demos.

Nothing in projections/ reads a clock; time enters the fold only through events.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

SPEED_MAX = 1_000_000.0  # a year in half a minute is plenty for a demo


class Clock:
    """Wall-clock time, or `speed` times faster from the moment it was made."""

    def __init__(self, speed: float = 1.0):
        if not 0 < speed <= SPEED_MAX:
            raise ValueError(f"clock speed must be in (0, {SPEED_MAX:g}], not {speed}")
        self.speed = speed
        self._origin_s = time.time()
        self._origin_monotonic_s = time.monotonic()

    def now(self) -> datetime:
        elapsed_s = (time.monotonic() - self._origin_monotonic_s) * self.speed
        return datetime.fromtimestamp(self._origin_s + elapsed_s, timezone.utc)

    def seconds_until(self, moment: datetime) -> float:
        """Real seconds until the clock shows `moment` (0 when it already has)."""
        return max(0.0, (moment - self.now()).total_seconds() / self.speed)
