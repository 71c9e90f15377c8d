"""Helpers shared by all test layers: polling instead of sleeping, database URLs, free ports."""

from __future__ import annotations

import asyncio
import inspect
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeGuard, TypeVar, overload

T = TypeVar("T")
# What a probe returns for "not yet". The helpers return the first truthy result, so never these.
NotYet = None | Literal[False]

POSTGRES_URL = os.environ.get(
    "ORCHESTRATIA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Set to a Redis URL, every hub a test starts runs as a replica on it (the suite's Redis mode).
REDIS_MODE = "ORCHESTRATIA_TEST_REDIS_URL"


class _Polling:
    """The deadline and the last value seen of one wait: both faces below stop and report alike."""

    def __init__(self, timeout: float, message: str) -> None:
        self.timeout = timeout
        self.message = message
        self.deadline = time.monotonic() + timeout
        self.last: object = None

    def tries(self) -> Iterator[None]:
        """One step per probe, until the deadline."""
        while time.monotonic() < self.deadline:
            yield

    def settled(self, result: T | NotYet) -> TypeGuard[T]:
        """Whether ``result`` ends the wait (truthy); otherwise it is kept for the failure."""
        self.last = result
        return bool(result)

    def timed_out(self) -> AssertionError:
        return AssertionError(
            f"timed out after {self.timeout}s waiting for {self.message} (last: {self.last!r})"
        )


@overload
async def wait_until(
    probe: Callable[[], Awaitable[T | NotYet]],
    timeout: float = ...,
    message: str = ...,
    interval: float = ...,
) -> T: ...


@overload
async def wait_until(
    probe: Callable[[], T | NotYet],
    timeout: float = ...,
    message: str = ...,
    interval: float = ...,
) -> T: ...


async def wait_until(
    probe: Callable[[], Any],
    timeout: float = 5.0,
    message: str = "condition",
    interval: float = 0.05,
) -> Any:
    """Poll ``probe`` (plain or async) until it returns something truthy, and return that; fail
    with ``message`` after ``timeout``."""
    polling = _Polling(timeout, message)
    for _ in polling.tries():
        result = probe()
        if inspect.isawaitable(result):
            result = await result
        if polling.settled(result):
            return result
        await asyncio.sleep(interval)
    raise polling.timed_out()


def wait_sync(
    probe: Callable[[], T | NotYet],
    timeout: float = 5.0,
    message: str = "condition",
    interval: float = 0.05,
) -> T:
    """``wait_until`` for code with no event loop (browser tests, benchmarks); blocks between
    tries."""
    polling = _Polling(timeout, message)
    for _ in polling.tries():
        result = probe()
        if polling.settled(result):
            return result
        time.sleep(interval)
    raise polling.timed_out()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; elsewhere the fallback below still finds a port


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range when there is room: a port the
    kernel hands out (bind to 0) can be taken by any outbound connection on the machine before
    the test listens on it, or while a test keeps it down on purpose."""
    low = _ephemeral_low()
    for _ in range(50):
        port = random.randrange(10_000, low) if low > 11_000 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = s.getsockname()[1]
            return chosen
    raise RuntimeError("no free port found")
