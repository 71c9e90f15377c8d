"""Work a hub does on a timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(
    interval: float, stop: asyncio.Event, tick: Callable[[], Awaitable[None]], what: str
) -> None:
    """Run ``tick`` every ``interval`` s until ``stop``; a failing tick is logged, not fatal."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        try:
            await tick()
        except Exception:
            log.exception("%s failed; retrying next tick", what)
