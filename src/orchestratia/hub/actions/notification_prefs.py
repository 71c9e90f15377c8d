"""Changing which events reach a user by Telegram and by email (one transaction)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.transaction import run
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.integrations import preferences
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.state import HubState
from orchestratia.protocol.notification_preferences import (
    NotificationPreferences,
    NotificationPreferencesChange,
)


async def change(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    wanted: NotificationPreferencesChange,
    actor: audit.Actor,
) -> NotificationPreferences:
    async def work(_outbox: Outbox) -> NotificationPreferences:
        return await preferences.change(db, principal, wanted, actor)

    return await run(db, hub, work)
