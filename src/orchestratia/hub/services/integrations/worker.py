"""The loop every integration worker runs: do what is due, then sleep until woken or until the
idle poll interval passes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Wakeup:
    """A wake-up several workers listen to (the email and Telegram workers both wait for new
    notifications): each listener has its own flag, so one worker clearing its flag never hides
    the wake-up from another."""

    def __init__(self) -> None:
        self._flags: list[asyncio.Event] = []

    def set(self) -> None:
        for flag in self._flags:
            flag.set()

    def listener(self) -> asyncio.Event:
        flag = asyncio.Event()
        self._flags.append(flag)
        return flag


async def _pause(stop: asyncio.Event, woken: asyncio.Event, seconds: float) -> None:
    """Until ``stop``, ``woken`` or ``seconds``; clears ``woken``."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(woken.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
    woken.clear()


async def run(
    stop: asyncio.Event,
    woken: asyncio.Event,
    poll_seconds: float,
    work: Callable[[], Awaitable[int]],
    batch: int,
    what: str,
) -> None:
    """Call ``work`` (which answers how many items it handled) until ``stop``: at once again
    after a full ``batch``, otherwise after a wake-up or ``poll_seconds``. A failing round is
    logged and retried at the next poll."""
    while not stop.is_set():
        handled = 0
        try:
            handled = await work()
        except Exception:
            log.exception("%s failed; retrying next poll", what)
        if handled < batch:
            await _pause(stop, woken, poll_seconds)
