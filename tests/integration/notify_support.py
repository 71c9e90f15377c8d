"""Standing in for the event dispatcher (another part of issue 15) until it lands: record an
intervention's ``intervention.created`` event and queue a Notification per project member whose
preferences for the channel include it, as the dispatcher will, then wake the workers."""

from __future__ import annotations

from sqlalchemy import select

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
from tests.integration.running_hub import RunningHub


async def queue_intervention_created(
    hub: RunningHub, intervention_id: str, channel: NotifyChannel = "email"
) -> list[str]:
    """The ids of the users a notification was queued for."""
    async with hub.state.sessionmaker() as db:
        item = await db.scalar(select(Intervention).where(Intervention.id == intervention_id))
        assert item is not None
        data = InterventionEventData(
            intervention=InterventionData.model_validate(item, from_attributes=True)
        )
        event = emit(db, item.tenant_id, item.project_id, "intervention.created", data)
        members = list(
            await db.scalars(
                select(Membership.user_id).where(Membership.project_id == item.project_id)
            )
        )
        wanted = await preferences.wanted(db, item.tenant_id, members, channel)
        queued = [user for user in members if "intervention.created" in wanted[user]]
        db.add_all(
            Notification(tenant_id=item.tenant_id, user_id=user, event_id=event.id, channel=channel)
            for user in queued
        )
        await db.commit()
    hub.state.notifications_due.set()
    return queued
