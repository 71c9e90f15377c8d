"""The background work of integrations, started with the hub: the event dispatcher, webhook
delivery, notifications and Telegram polling. Every loop runs on every replica; leases on the
rows they work on keep replicas from doing the same work twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from orchestratia.hub.services.approvals import tool_approvals
from orchestratia.hub.services.integrations import dispatch
from orchestratia.hub.state import HubState

log = logging.getLogger(__name__)


async def wake_or_poll(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Return when ``wake`` or ``stop`` is set, or after ``seconds``; clears ``wake``."""
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    # Cleared before the work it triggers: a commit landing during that work wakes us again.
    wake.clear()


async def loop(
    wake: asyncio.Event,
    stop: asyncio.Event,
    seconds: float,
    tick: Callable[[], Awaitable[object]],
    what: str,
) -> None:
    """Run ``tick`` whenever ``wake`` is set and at least every ``seconds``, until ``stop``;
    a failing tick is logged and retried on the next one."""
    while not stop.is_set():
        try:
            await tick()
        except Exception:
            log.exception("%s failed; retrying next tick", what)
        await wake_or_poll(wake, stop, seconds)


async def dispatch_events(hub: HubState) -> None:
    """Turn committed events into deliveries and notifications; wake their workers."""
    window = timedelta(seconds=hub.settings.webhook_retry_window)
    async with hub.sessionmaker() as db:
        made = await dispatch.dispatch_all(db, window)
    if made.deliveries:
        hub.webhooks_due.set()
    if made.notifications:
        hub.notifications_due.set()


async def expire_approvals(hub: HubState) -> None:
    """Tool calls nobody decided in time are expired (and announced) even when no hook polls."""
    async with hub.sessionmaker() as db:
        await tool_approvals.expire_lapsed(db)


def chores(hub: HubState, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """Start the integration loops; each returns once ``stop`` is set."""
    poll = hub.settings.integrations_poll_interval
    # Nothing wakes the expiry sweep early: its own poll is when asks run out.
    never = asyncio.Event()
    return [
        asyncio.create_task(
            loop(hub.integrations_due, stop, poll, lambda: dispatch_events(hub), "event dispatch")
        ),
        asyncio.create_task(
            loop(never, stop, poll, lambda: expire_approvals(hub), "approval expiry")
        ),
    ]
