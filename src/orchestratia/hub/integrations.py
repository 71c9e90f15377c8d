"""The background work of integrations, started with the hub: the event dispatcher, webhook
delivery, notifications and Telegram polling. Every loop runs on every replica; leases on the
rows they work on keep replicas from doing the same work twice. (SSH tunnels run here too.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from orchestratia.hub.actions import webhook_worker
from orchestratia.hub.services.approvals import tool_approvals
from orchestratia.hub.services.integrations import dispatch, email_notify, worker
from orchestratia.hub.state import HubState
from orchestratia.hub.tunnels import keeper

EXPIRY_BATCH = 100


async def dispatch_events(hub: HubState) -> int:
    """Turn one batch of committed events into deliveries and notifications, and wake their
    workers; how many events it took."""
    window = timedelta(seconds=hub.settings.webhook_retry_window)
    async with hub.sessionmaker() as db:
        made = await dispatch.dispatch_batch(db, window)
    if made.deliveries:
        hub.webhooks_due.set()
    if made.notifications:
        hub.notifications_due.set()
    return made.events


async def expire_approvals(hub: HubState) -> int:
    """Tool calls nobody decided in time are expired (and announced) even when no hook polls;
    how many."""
    async with hub.sessionmaker() as db:
        return await tool_approvals.expire_lapsed(db, EXPIRY_BATCH)


def chores(hub: HubState, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """Start the integration loops; each returns once ``stop`` is set."""
    poll = hub.settings.integrations_poll_interval
    return [
        asyncio.create_task(email_notify.run(hub, stop), name="email notifications"),
        asyncio.create_task(
            worker.run(
                stop,
                hub.integrations_due,
                poll,
                lambda: dispatch_events(hub),
                dispatch.BATCH,
                "event dispatch",
            ),
            name="event dispatch",
        ),
        # Nothing wakes the expiry sweep early: asks run out on the clock, seen at each poll.
        asyncio.create_task(
            worker.run(
                stop,
                asyncio.Event(),
                poll,
                lambda: expire_approvals(hub),
                EXPIRY_BATCH,
                "approval expiry",
            ),
            name="approval expiry",
        ),
        asyncio.create_task(webhook_worker.run(hub, stop), name="webhook delivery"),
        asyncio.create_task(keeper.keep(hub, stop), name="ssh tunnels"),
    ]
