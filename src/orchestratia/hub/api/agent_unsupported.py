"""Agent API routes the public v0.20 agent calls for features this hub does not have yet: direct
file transfers (its daemon polls both queues every 3 s) and SSH access grants (its CLI's
``orchestratia grants`` and its daemon's grant reconciliation). The truthful answer is an empty
list: nothing waits to be transferred and no grant exists. A 404 would instead fill its logs with
poll failures and make ``orchestratia grants`` fail. Authenticated like the rest of the agent
API (server key or session token)."""

from __future__ import annotations

from fastapi import APIRouter

from orchestratia.hub.api.callers import AgentCallerDep
from orchestratia.hub.api.scopes import SERVER_KEY
from orchestratia.protocol.agent_polls import AccessGrant, PendingPull, PendingUpload

router = APIRouter(prefix="/api/v1/server", tags=["agent"], dependencies=[SERVER_KEY])


@router.get("/files/pending")
async def pending_uploads(caller: AgentCallerDep) -> list[PendingUpload]:
    return []


@router.get("/files/pulls/pending")
async def pending_pulls(caller: AgentCallerDep) -> list[PendingPull]:
    return []


@router.get("/access-grants")
async def access_grants(caller: AgentCallerDep) -> list[AccessGrant]:
    return []
