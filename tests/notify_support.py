"""Standing in for the event dispatcher (another part of issue 15) until it lands: record an
intervention's ``intervention.created`` event and queue a Notification for each project member
whose preferences for the channel include it, as the dispatcher will."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.db.integration_models import Notification
from orchestratia.hub.db.models import Membership
from orchestratia.hub.db.task_models import Intervention
from orchestratia.hub.services.integrations import preferences
from orchestratia.hub.services.integrations.events import emit
from orchestratia.protocol.integration_events import (
    InterventionData,
    InterventionEventData,
    NotifyChannel,
)


async def queue_intervention_created(
    db: AsyncSession, intervention_id: str, channel: NotifyChannel = "email"
) -> list[str]:
    """Commit the event and its notifications; the ids of the users one was queued for."""
    item = await db.scalar(select(Intervention).where(Intervention.id == intervention_id))
    assert item is not None, intervention_id
    data = InterventionEventData(
        intervention=InterventionData.model_validate(item, from_attributes=True)
    )
    event = emit(db, item.tenant_id, item.project_id, "intervention.created", data)
    members = list(
        await db.scalars(select(Membership.user_id).where(Membership.project_id == item.project_id))
    )
    wanted = await preferences.wanted(db, item.tenant_id, members, channel)
    queued = [user for user in members if "intervention.created" in wanted[user]]
    db.add_all(
        Notification(tenant_id=item.tenant_id, user_id=user, event_id=event.id, channel=channel)
        for user in queued
    )
    await db.commit()
    return queued


def queue_in_hub_database(data_dir: Path, intervention_id: str) -> list[str]:
    """``queue_intervention_created`` in a hub process's own SQLite database (the hub's workers
    find the rows at their next poll)."""

    async def queue() -> list[str]:
        engine = build_engine(f"sqlite+aiosqlite:///{data_dir / 'hub.db'}")
        try:
            async with build_sessionmaker(engine)() as db:
                return await queue_intervention_created(db, intervention_id)
        finally:
            await engine.dispose()

    return asyncio.run(queue())
