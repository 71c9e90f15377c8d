"""Plan limits per tenant. ``None`` means unlimited."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import User
from orchestratia.hub.db.team_models import Invite
from orchestratia.hub.db.types import utcnow


@dataclass(frozen=True)
class PlanLimits:
    projects: int | None
    servers: int | None
    concurrent_sessions: int | None
    seats: int | None


PLANS: dict[str, PlanLimits] = {
    "free": PlanLimits(projects=1, servers=1, concurrent_sessions=3, seats=3),
    "unlimited": PlanLimits(projects=None, servers=None, concurrent_sessions=None, seats=None),
}


def limits_for(plan: str) -> PlanLimits:
    return PLANS.get(plan, PLANS["free"])


async def seats_in_use(db: AsyncSession, tenant_id: str) -> int:
    """The tenant's active users, plus the people its pending invites would add: an invite
    holds its seat until it is accepted, revoked or expired."""
    users = await db.scalar(
        select(func.count()).select_from(User).where(User.tenant_id == tenant_id, User.is_active)
    )
    known = select(User.email).where(User.tenant_id == tenant_id)
    invited = await db.scalar(
        select(func.count(func.distinct(Invite.email))).where(
            Invite.tenant_id == tenant_id,
            Invite.accepted_at.is_(None),
            Invite.revoked_at.is_(None),
            Invite.expires_at > utcnow(),
            Invite.email.not_in(known),
        )
    )
    return (users or 0) + (invited or 0)
