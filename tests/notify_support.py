"""Who the event dispatcher queued a notification for: the agent's help request records its
``intervention.created`` event, and the hub's dispatcher queues one Notification per member
whose preferences for the channel include it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.db.integration_models import IntegrationEvent, Notification
from orchestratia.protocol.integration_events import NotifyChannel
from tests.support import wait_until


async def notified(
    db: AsyncSession, intervention_id: str, channel: NotifyChannel = "email"
) -> list[list[str]] | None:
    """``[users]``: the ids of the users queued a notification of the intervention's creation,
    once the dispatcher has taken its event (None before; the list is wrapped so that none
    queued is an answer too)."""
    events = await db.scalars(
        select(IntegrationEvent)
        .where(IntegrationEvent.type == "intervention.created")
        .execution_options(populate_existing=True)
    )
    event = next((e for e in events if e.data["intervention"]["id"] == intervention_id), None)
    if event is None or event.dispatched_at is None:
        return None
    users = await db.scalars(
        select(Notification.user_id).where(
            Notification.event_id == event.id, Notification.channel == channel
        )
    )
    return [list(users)]


def notified_in_hub_database(data_dir: Path, intervention_id: str) -> list[str]:
    """``notified`` read from a hub process's own SQLite database, waiting for its dispatcher."""

    async def read() -> list[str]:
        engine = build_engine(f"sqlite+aiosqlite:///{data_dir / 'hub.db'}")
        try:
            async with build_sessionmaker(engine)() as db:

                async def probe() -> list[list[str]] | None:
                    found = await notified(db, intervention_id)
                    await db.rollback()  # read the hub's next commit
                    return found

                (users,) = await wait_until(probe, 15, "the help request dispatched")
                return users
        finally:
            await engine.dispose()

    return asyncio.run(read())
