"""An invite link from the invitee's side: what it offers, and accepting it, once.

A link that no longer works says why (used, revoked, expired: 410), one never issued is a 404.
Accepting claims the invite with a conditional UPDATE before anything else, so of two
concurrent accepts exactly one gets through."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Membership, Project, User
from orchestratia.hub.db.team_models import Invite
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Conflict, Forbidden, Gone, Invalid, NotFound, Unauthorized
from orchestratia.hub.security import hash_password, sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import LoginResult, Principal, new_login
from orchestratia.hub.services.access.invites import pending_clause
from orchestratia.hub.services.access.projects import MemberChange

UNKNOWN = "this invite link is not valid; ask for a new invite"


@dataclass(frozen=True)
class InviteView:
    invite: Invite
    project_name: str
    invited_by: str | None
    has_account: bool


@dataclass(frozen=True)
class Accepted:
    change: MemberChange
    # The login opened for an account the invite created; None for an existing user.
    login: LoginResult | None


async def _find(db: AsyncSession, token: str) -> Invite:
    invite = await db.scalar(select(Invite).where(Invite.token_hash == sha256_hex(token)))
    if invite is None:
        raise NotFound(UNKNOWN)
    if invite.accepted_at is not None:
        raise Gone("this invite link was already used; log in, or ask for a new invite")
    if invite.revoked_at is not None:
        raise Gone("this invite was revoked; ask the project's owner for a new one")
    if invite.expires_at <= utcnow():
        raise Gone("this invite link has expired; ask the project's owner to resend it")
    return invite


async def view(db: AsyncSession, token: str) -> InviteView:
    invite = await _find(db, token)
    project = await db.get(Project, invite.project_id)
    assert project is not None  # invites go with their project (ON DELETE CASCADE)
    inviter = await db.get(User, invite.created_by) if invite.created_by else None
    has_account = await db.scalar(select(User.id).where(User.email == invite.email)) is not None
    return InviteView(invite, project.name, inviter.email if inviter else None, has_account)


async def _claim(db: AsyncSession, invite: Invite) -> None:
    """Mark the invite used, only if it still is usable: the database decides the race."""
    claimed = await db.execute(
        update(Invite)
        .where(Invite.id == invite.id, *pending_clause(utcnow()))
        .values(accepted_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Gone("this invite link was already used; log in, or ask for a new invite")


async def _invitee(
    db: AsyncSession, invite: Invite, principal: Principal | None, password: str | None
) -> User | None:
    """The existing user the invite is for (who must be logged in as them), or None when the
    address has no account yet (and a password for the new one was given)."""
    user = await db.scalar(select(User).where(User.email == invite.email))
    if user is None:
        if password is None:
            raise Invalid("password: choose a password (8 characters or more) for your account")
        return None
    if user.tenant_id != invite.tenant_id:
        raise Conflict(
            f"{invite.email} already has an account in another organisation on this hub; "
            "ask the inviter to invite another address"
        )
    if principal is None:
        raise Unauthorized(f"log in as {invite.email} to accept this invite")
    if principal.user_id != user.id:
        raise Forbidden(
            f"this invite is for {invite.email}; you are logged in as {principal.email}"
        )
    if not user.is_active:
        raise Forbidden("this account is disabled")
    return user


async def _new_user(
    db: AsyncSession, invite: Invite, password_hash: str, actor: audit.Actor
) -> User:
    user = User(tenant_id=invite.tenant_id, email=invite.email, password_hash=password_hash)
    db.add(user)
    await db.flush()
    details = {"email": user.email, "invite_id": invite.id}
    await audit.record_on_user(db, actor, "user.created", user, details)
    return user


async def _join(db: AsyncSession, invite: Invite, user: User) -> str:
    """Give ``user`` the invite's role on its project; the role they end up with. Someone who
    became a member meanwhile keeps the role they have: an invite never demotes."""
    membership = await db.scalar(
        select(Membership).where(
            Membership.project_id == invite.project_id, Membership.user_id == user.id
        )
    )
    if membership is not None:
        return membership.role
    db.add(
        Membership(
            tenant_id=invite.tenant_id,
            project_id=invite.project_id,
            user_id=user.id,
            role=invite.role,
        )
    )
    return invite.role


async def accept(
    db: AsyncSession,
    token: str,
    password: str | None,
    principal: Principal | None,
    ttl: timedelta,
    actor: audit.Actor,
) -> Accepted:
    invite = await _find(db, token)
    user = await _invitee(db, invite, principal, password)
    hashed = None
    if user is None and password is not None:
        # argon2 is deliberately slow: off the event loop, and before the claim, so the write
        # lock (SQLite) or row lock (PostgreSQL) it takes is held only briefly.
        hashed = await asyncio.to_thread(hash_password, password)
    await _claim(db, invite)
    login = None
    if user is None:
        assert hashed is not None
        user = await _new_user(db, invite, hashed, actor)
        login = await new_login(db, user, actor, ttl)
    role = await _join(db, invite, user)
    await db.execute(
        update(Invite)
        .where(Invite.id == invite.id)
        .values(accepted_by=user.id)
        .execution_options(synchronize_session=False)
    )
    details = {"email": user.email, "role": role}
    joined = audit.Actor("user", user.email, actor.ip, actor.request_id)
    await audit.record_on(db, joined, "invite.accepted", "invite", invite, details)
    change = MemberChange(invite.project_id, user.id, user.email, role, user.is_tenant_admin)
    return Accepted(change, login)
