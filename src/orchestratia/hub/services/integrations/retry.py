"""When a failed attempt (a webhook's, a Telegram message's) is tried again: exponential backoff
with full jitter.

After the ``n``-th failed attempt the next one waits ``uniform(0, min(cap, base * 2**n))``
seconds: the ceiling doubles per failure up to ``cap``, and drawing anywhere below it spreads
the retries of many deliveries that failed together (a receiver's outage) instead of sending
them back in one burst when it recovers."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

# 2**60 times any sensible base is far past any cap; the bound keeps the float finite.
_MAX_EXPONENT = 60


def ceiling(attempts: int, base: float, cap: float) -> float:
    """The longest wait after ``attempts`` failed attempts."""
    return min(cap, base * 2.0 ** min(max(attempts, 0), _MAX_EXPONENT))


def backoff_delay(
    attempts: int, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """A wait drawn uniformly from ``[0, ceiling(attempts, base, cap)]`` (full jitter)."""
    draw = (rng or _rng).uniform
    return draw(0.0, ceiling(attempts, base, cap))


def next_attempt_at(
    now: datetime, attempts: int, base: float, cap: float, give_up_at: datetime
) -> datetime | None:
    """When to try again after ``attempts`` failures, or None when that would be past
    ``give_up_at`` (the series ends failed)."""
    when = now + timedelta(seconds=backoff_delay(attempts, base, cap))
    return None if when > give_up_at else when


# Jitter needs no secrecy, only spread.
_rng = random.Random()  # noqa: S311
