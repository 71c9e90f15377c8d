"""Sliding-window login throttle per account and per IP (soft lockout, in memory per replica)."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class LoginThrottle:
    def __init__(self, per_account: int, per_ip: int, window_seconds: int) -> None:
        self._limits = {"account": per_account, "ip": per_ip}
        self._window = window_seconds
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _prune(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures[key]
        while q and q[0] <= now - self._window:
            q.popleft()
        return q

    def retry_after(self, account: str, ip: str) -> int:
        """Seconds until a new attempt is allowed; 0 when allowed now."""
        now = time.monotonic()
        wait = 0.0
        for kind, value in (("account", account.lower()), ("ip", ip)):
            q = self._prune((kind, value), now)
            if len(q) >= self._limits[kind]:
                wait = max(wait, q[0] + self._window - now)
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, account: str, ip: str) -> None:
        now = time.monotonic()
        self._failures[("account", account.lower())].append(now)
        self._failures[("ip", ip)].append(now)

    def succeeded(self, account: str) -> None:
        self._failures.pop(("account", account.lower()), None)
