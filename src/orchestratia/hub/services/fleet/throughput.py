"""Terminal output per project over the last few minutes, for the overview's sparkline.

Counted in memory where the hub stores output: a frame adds to a per-project counter of its
10-second bucket, never a database row. Each replica counts the daemons connected to it, and a
restart starts from zero: the sparkline shows the present, not history."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

BUCKET_SECONDS = 10
BUCKETS = 60  # ten minutes


class OutputMeter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rings: dict[str, dict[int, int]] = {}

    def _bucket(self) -> int:
        return int(self._clock() // BUCKET_SECONDS)

    def add(self, project_id: str, size: int) -> None:
        now = self._bucket()
        ring = self._rings.setdefault(project_id, {})
        ring[now] = ring.get(now, 0) + size
        if len(ring) > BUCKETS:  # at most one bucket too many before this prunes it
            for old in [b for b in ring if b <= now - BUCKETS]:
                del ring[old]

    def series(self, project_ids: Iterable[str]) -> list[int]:
        """Bytes per bucket for these projects together, oldest first, ending with the current
        (partly filled) bucket."""
        now = self._bucket()
        rings = [r for p in project_ids if (r := self._rings.get(p))]
        return [sum(r.get(b, 0) for r in rings) for b in range(now - BUCKETS + 1, now + 1)]
