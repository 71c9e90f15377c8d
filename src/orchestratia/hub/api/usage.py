"""The tenant's plan and how much of each limit it uses."""

from __future__ import annotations

from fastapi import APIRouter

from orchestratia.hub.api.deps import PrincipalDep, SessionDep
from orchestratia.hub.api.scopes import ANY_CALLER
from orchestratia.hub.services.access import usage
from orchestratia.protocol.usage import Usage

router = APIRouter(prefix="/api/v1/usage", tags=["usage"])


@router.get("", dependencies=[ANY_CALLER])
async def get_usage(principal: PrincipalDep, db: SessionDep) -> Usage:
    """Any member of the tenant may see it: limits explain refusals they may meet."""
    return await usage.of_tenant(db, principal)
