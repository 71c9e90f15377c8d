"""Reconnect delays: exponential backoff with full jitter (SPEC §5: 1 s → 30 s cap)."""

from __future__ import annotations

import random

# 2**62 is far past any cap; clamping the exponent keeps the arithmetic from overflowing a float
# after a very long outage.
_MAX_EXPONENT = 62


class Backoff:
    """Full jitter: the n-th delay is uniform in [0, min(cap, base * 2**n)].

    Full jitter spreads a fleet of daemons reconnecting after a hub restart evenly over the
    window instead of in synchronized waves.
    """

    def __init__(
        self, base: float = 1.0, cap: float = 30.0, rng: random.Random | None = None
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        # Not used for security, only to spread reconnects; tests inject a seeded instance.
        self._rng = rng or random.Random()  # noqa: S311
        self.attempt = 0

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        return min(self.cap, self.base * float(2 ** min(self.attempt, _MAX_EXPONENT)))

    def next_delay(self) -> float:
        """The delay before the next attempt; each call widens the window until the cap."""
        delay = self._rng.uniform(0, self.ceiling())
        self.attempt += 1
        return delay

    def slow_delay(self) -> float:
        """A delay near the cap, for failures that retrying soon cannot fix (a rejected key).

        Jitter in [cap/2, cap] still keeps a fleet from retrying in lockstep.
        """
        self.attempt += 1
        return self._rng.uniform(self.cap / 2, self.cap)

    def reset(self) -> None:
        self.attempt = 0
