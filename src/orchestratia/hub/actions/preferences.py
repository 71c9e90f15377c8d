"""Changing a user's own preferences (one transaction; nothing to tell other replicas)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.transaction import run
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import preferences
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.state import HubState
from orchestratia.protocol.preferences import Preferences, PreferencesChange


async def change(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    wanted: PreferencesChange,
    actor: audit.Actor,
) -> Preferences:
    async def work(_outbox: Outbox) -> Preferences:
        return await preferences.change(db, principal, wanted, actor)

    return await run(db, hub, work)
