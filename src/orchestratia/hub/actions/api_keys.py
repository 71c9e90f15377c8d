"""Making and revoking user API keys, each in one audited transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.transaction import run
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import api_keys
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.state import HubState
from orchestratia.protocol.api_keys import ApiKeyCreate


async def create(
    db: AsyncSession, hub: HubState, principal: Principal, body: ApiKeyCreate, actor: audit.Actor
) -> tuple[api_keys.KeyRow, str]:
    return await run(db, hub, lambda _: api_keys.create(db, principal, body, actor))


async def revoke(
    db: AsyncSession, hub: HubState, principal: Principal, key_id: str, actor: audit.Actor
) -> None:
    await run(db, hub, lambda _: api_keys.revoke(db, principal, key_id, actor))
