"""What a tenant's plan allows against what the tenant uses, for any of its members."""

from __future__ import annotations

from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Tenant
from orchestratia.hub.errors import NotFound
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.plans import LIMIT_NAMES, in_use, label, limits_for
from orchestratia.protocol.usage import LimitName, LimitUsage, Usage


async def of_tenant(db: AsyncSession, principal: Principal) -> Usage:
    """The caller's own tenant only: the principal names it, nothing in the request does."""
    tenant = await db.get(Tenant, principal.tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    limits = limits_for(tenant.plan)
    return Usage(
        plan=tenant.plan,
        limits=[
            LimitUsage(
                name=cast(LimitName, name),
                label=label(name),
                limit=getattr(limits, name),
                used=await in_use(db, tenant.id, name),
            )
            for name in LIMIT_NAMES
        ],
    )
