"""Queueing notifications in an in-process hub (see ``tests.notify_support``) and waking its
workers at once."""

from __future__ import annotations

from tests.integration.running_hub import RunningHub
from tests.notify_support import queue_intervention_created


async def queue_and_wake(hub: RunningHub, intervention_id: str) -> list[str]:
    """The ids of the users an email notification was queued for."""
    async with hub.state.sessionmaker() as db:
        queued = await queue_intervention_created(db, intervention_id)
    hub.state.notifications_due.set()
    return queued
