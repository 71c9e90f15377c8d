"""Invites into a project, as its owners manage them: issue, list the pending ones, resend (a new
link, the old one dead) and revoke. Each pending invite holds a seat of the tenant's plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Membership, User
from orchestratia.hub.db.team_models import Invite
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Conflict, NotFound
from orchestratia.hub.security import new_secret, sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import projects
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.plans import ensure_room
from orchestratia.protocol.tokens import TokenKind


@dataclass(frozen=True)
class Issued:
    """A new link for ``invite``; ``token`` exists only here, the row keeps its digest."""

    invite: Invite
    token: str
    project_name: str
    invited_by: str | None


def pending_clause(now: datetime) -> list[ColumnElement[bool]]:
    """An invite neither accepted, revoked nor expired."""
    return [Invite.accepted_at.is_(None), Invite.revoked_at.is_(None), Invite.expires_at > now]


async def _needs_seat(db: AsyncSession, tenant_id: str, email: str, now: datetime) -> bool:
    """Whether inviting ``email`` takes a new seat: not when they are a user of the tenant
    already, nor when another pending invite holds their seat."""
    if await db.scalar(select(User.id).where(User.tenant_id == tenant_id, User.email == email)):
        return False
    held = await db.scalar(
        select(Invite.id)
        .where(Invite.tenant_id == tenant_id, Invite.email == email, *pending_clause(now))
        .limit(1)
    )
    return held is None


async def _check_seat(db: AsyncSession, tenant_id: str, email: str, now: datetime) -> None:
    if await _needs_seat(db, tenant_id, email, now):
        await ensure_room(db, tenant_id, "seats")


def _new_link(invite: Invite, ttl: timedelta, now: datetime) -> str:
    token = new_secret(TokenKind.INVITE)
    invite.token_hash = sha256_hex(token)
    invite.expires_at = now + ttl
    invite.last_sent_at = now
    return token


async def create(
    db: AsyncSession,
    principal: Principal,
    project_id: str,
    email: str,
    role: str,
    ttl: timedelta,
    actor: audit.Actor,
) -> Issued:
    """A new invite; one still pending for the same address and project is replaced by it."""
    acc = await projects.managed(db, principal, project_id)
    now = utcnow()
    member = await db.scalar(
        select(User.id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project_id, User.email == email)
    )
    if member is not None:
        raise Conflict(f"{email} is already a member of this project; change their role instead")
    await _check_seat(db, principal.tenant_id, email, now)
    replaced = await db.scalars(
        select(Invite).where(
            Invite.project_id == project_id, Invite.email == email, *pending_clause(now)
        )
    )
    for old in replaced:
        old.revoked_at = now
    invite = Invite(
        tenant_id=principal.tenant_id,
        project_id=project_id,
        email=email,
        role=role,
        created_by=principal.user_id,
    )
    token = _new_link(invite, ttl, now)
    db.add(invite)
    await db.flush()
    await audit.record_on(
        db, actor, "invite.created", "invite", invite, {"email": email, "role": role}
    )
    return Issued(invite, token, acc.project.name, principal.email)


async def pending(
    db: AsyncSession, principal: Principal, project_id: str
) -> list[tuple[Invite, str | None]]:
    """The project's invites still waiting, newest first, each with who issued it."""
    await projects.managed(db, principal, project_id)
    rows = await db.execute(
        select(Invite, User.email)
        .outerjoin(User, User.id == Invite.created_by)
        .where(
            Invite.project_id == project_id,
            Invite.tenant_id == principal.tenant_id,
            *pending_clause(utcnow()),
        )
        .order_by(Invite.created_at.desc())
    )
    return [(invite, inviter) for invite, inviter in rows]


async def _open_invite(
    db: AsyncSession, principal: Principal, project_id: str, invite_id: str
) -> tuple[projects.ProjectAccess, Invite]:
    """An invite of the project that was neither accepted nor revoked (it may have expired)."""
    acc = await projects.managed(db, principal, project_id)
    invite = await db.scalar(
        select(Invite).where(
            Invite.id == invite_id,
            Invite.project_id == project_id,
            Invite.tenant_id == principal.tenant_id,
            Invite.accepted_at.is_(None),
            Invite.revoked_at.is_(None),
        )
    )
    if invite is None:
        raise NotFound("no pending invite with this id in this project")
    return acc, invite


async def resend(
    db: AsyncSession,
    principal: Principal,
    project_id: str,
    invite_id: str,
    ttl: timedelta,
    actor: audit.Actor,
) -> Issued:
    """A new link and expiry for the invite; the link sent before stops working."""
    acc, invite = await _open_invite(db, principal, project_id, invite_id)
    now = utcnow()
    if invite.expires_at <= now:
        # An expired invite gave its seat back; renewing it takes one again.
        await _check_seat(db, principal.tenant_id, invite.email, now)
    token = _new_link(invite, ttl, now)
    await audit.record_on(db, actor, "invite.resent", "invite", invite, {"email": invite.email})
    return Issued(invite, token, acc.project.name, principal.email)


async def revoke(
    db: AsyncSession, principal: Principal, project_id: str, invite_id: str, actor: audit.Actor
) -> None:
    _acc, invite = await _open_invite(db, principal, project_id, invite_id)
    invite.revoked_at = utcnow()
    await audit.record_on(db, actor, "invite.revoked", "invite", invite, {"email": invite.email})
