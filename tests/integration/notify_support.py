"""Who the in-process hub's dispatcher notified of a help request (see ``tests.notify_support``)."""

from __future__ import annotations

from tests.integration.running_hub import RunningHub
from tests.notify_support import notified
from tests.support import wait_until


async def notified_users(hub: RunningHub, intervention_id: str) -> list[str]:
    """The ids of the users an email notification was queued for, once it was dispatched."""

    async def probe() -> list[list[str]] | None:
        async with hub.state.sessionmaker() as db:
            return await notified(db, intervention_id)

    (users,) = await wait_until(probe, 10, "the help request dispatched")
    return users
