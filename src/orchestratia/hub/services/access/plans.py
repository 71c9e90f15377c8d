"""Plan limits per tenant (``None`` means unlimited), how much of each a tenant uses, and the
one check every enforcement point makes, so each refusal names the limit and the plan alike."""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.fleet_models import SERVER_REMOVED
from orchestratia.hub.db.models import Project, Server, Tenant, TerminalSession, User
from orchestratia.hub.db.team_models import Invite
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Conflict, Invalid, LimitExceeded, NotFound
from orchestratia.hub.services import audit

# Session statuses that hold a concurrent-session slot.
LIVE_SESSION = ("starting", "running")


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

# Every limit, in the order the Usage page and the API list them.
LIMIT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(PlanLimits))

# What a refusal suggests doing about each limit.
_REMEDY = {
    "projects": "ask the hub operator for a bigger plan",
    "servers": "ask the hub operator for a bigger plan",
    "concurrent_sessions": "close a session first, or ask the hub operator for a bigger plan",
    "seats": "remove a member or revoke a pending invite first, or ask for a bigger plan",
}


def limits_for(plan: str) -> PlanLimits:
    return PLANS.get(plan, PLANS["free"])


def label(name: str, count: int = 2) -> str:
    """``concurrent_sessions`` → ``concurrent sessions`` (``concurrent session`` for one): how
    people read a limit's name."""
    words = name.replace("_", " ")
    return words.removesuffix("s") if count == 1 else words


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


async def in_use(db: AsyncSession, tenant_id: str, name: str) -> int:
    """How much of limit ``name`` the tenant uses now."""
    if name == "seats":
        return await seats_in_use(db, tenant_id)
    counted = {
        "projects": select(func.count()).select_from(Project).where(Project.tenant_id == tenant_id),
        "servers": select(func.count())
        .select_from(Server)
        .where(Server.tenant_id == tenant_id, Server.status != SERVER_REMOVED),
        "concurrent_sessions": select(func.count())
        .select_from(TerminalSession)
        .where(TerminalSession.tenant_id == tenant_id, TerminalSession.status.in_(LIVE_SESSION)),
    }[name]
    return await db.scalar(counted) or 0


async def ensure_room(db: AsyncSession, tenant_id: str, name: str, adding: int = 1) -> None:
    """Refuse (402) when adding ``adding`` more of ``name`` would pass the tenant's plan.

    A no-op write to the tenant row comes first: it holds the row (PostgreSQL) or the
    database's write lock (SQLite, where a plain read takes no lock at all) until the caller
    commits, so requests racing for the last slot count one after the other."""
    locked = await db.execute(update(Tenant).where(Tenant.id == tenant_id).values(plan=Tenant.plan))
    tenant = await db.get(Tenant, tenant_id)
    if tenant is None or getattr(locked, "rowcount", 1) != 1:
        raise NotFound("tenant not found")
    limit = getattr(limits_for(tenant.plan), name)
    if limit is None:
        return
    used = await in_use(db, tenant_id, name)
    if used + adding > limit:
        raise LimitExceeded(
            f"plan limit reached: the '{tenant.plan}' plan allows {limit} {label(name, limit)} "
            f"and {used} {'is' if used == 1 else 'are'} in use; {_REMEDY[name]}"
        )


async def set_plan(db: AsyncSession, tenant_ref: str, plan: str) -> tuple[Tenant, str]:
    """Put the tenant named by id or name on ``plan``, audited; the tenant and its plan before.
    The caller commits."""
    if plan not in PLANS:
        raise Invalid(f"unknown plan {plan!r}; plans: {', '.join(sorted(PLANS))}")
    tenant = await db.get(Tenant, tenant_ref)
    if tenant is None:
        named = list(await db.scalars(select(Tenant).where(Tenant.name == tenant_ref).limit(2)))
        if len(named) > 1:
            raise Conflict(f"more than one tenant is named {tenant_ref!r}; give its id")
        if not named:
            raise NotFound(f"no tenant has the id or name {tenant_ref!r}")
        tenant = named[0]
    before = tenant.plan
    if before != plan:
        tenant.plan = plan
        await audit.record(
            db,
            audit.Actor("system"),
            "tenant.plan_changed",
            tenant_id=tenant.id,
            target_type="tenant",
            target_id=tenant.id,
            details={"before": before, "after": plan},
        )
    return tenant, before
