"""Logins, bearer/cookie sessions and the principal they resolve to."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import AuthSession, Tenant, User
from orchestratia.hub.db.team_models import LoginChallenge
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Forbidden, NotFound, Unauthorized
from orchestratia.hub.security import hash_password, new_secret, sha256_hex, verify_password
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.throttle import LoginThrottle
from orchestratia.protocol.tokens import TokenKind

INVALID_LOGIN = "invalid email or password"
# Time to type the code after the password.
CHALLENGE_TTL = timedelta(minutes=5)
LOGIN_NEEDED = (
    "this needs a login (the dashboard's cookie or a login token); "
    "API keys work on the REST API only"
)


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str
    email: str
    is_tenant_admin: bool
    auth_session_id: str
    # When the login ends; None for principals built in-process (CLI bootstrap), bound to none.
    expires_at: datetime | None = None
    # Set when an API key authenticated the call: the key, its scopes and its one project.
    # A login has every scope and reaches every project its user can.
    api_key_id: str | None = None
    scopes: frozenset[str] | None = None
    project_restriction: str | None = None

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    @property
    def tenant_wide_admin(self) -> bool:
        """A tenant admin acting on the whole tenant: a project-restricted key is not one."""
        return self.is_tenant_admin and self.project_restriction is None


@dataclass(frozen=True)
class LoginResult:
    token: str
    principal: Principal


@dataclass(frozen=True)
class SecondFactorPending:
    """The password was right; the login opens once ``challenge`` comes back with a code."""

    challenge: str
    expires_at: datetime


async def login(
    db: AsyncSession,
    throttle: LoginThrottle,
    email: str,
    password: str,
    actor: audit.Actor,
    ttl: timedelta,
) -> LoginResult | SecondFactorPending:
    """Verify credentials and open a new session (a fresh secret each login: session rotation),
    or, for an account with a second factor, hand out the challenge that waits for its code."""
    ip = actor.ip or "unknown"
    await throttle.claim(db, email, ip)
    user = await db.scalar(select(User).where(User.email == email.lower()))
    # argon2 is deliberately slow; keep it off the event loop so sockets keep flowing.
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        await audit.record(
            db,
            actor,
            "auth.login_failed",
            tenant_id=user.tenant_id if user else None,
            target_type="user",
            target_id=user.id if user else None,
            details={"email": email.lower()},
        )
        await db.commit()
        raise Unauthorized(INVALID_LOGIN)
    if user.totp_enabled_at is not None:
        await throttle.give_back_ip_slot(db, ip)
        return await _challenge(db, user, actor)
    await throttle.succeeded(db, email, ip)
    return await open_session(db, user, actor, ttl)


# A login and the challenge that stands for a right password are the same kind of row.
_TokenRow = TypeVar("_TokenRow", AuthSession, LoginChallenge)


def _issue(
    db: AsyncSession,
    row_type: type[_TokenRow],
    kind: TokenKind,
    user: User,
    actor: audit.Actor,
    ttl: timedelta,
) -> tuple[str, _TokenRow]:
    """A fresh secret for ``user``, remembering the address it was issued to; only its SHA-256
    is stored."""
    token = new_secret(kind)
    row = row_type(
        tenant_id=user.tenant_id,
        user_id=user.id,
        token_hash=sha256_hex(token),
        ip=actor.ip,
        expires_at=utcnow() + ttl,
    )
    db.add(row)
    return token, row


async def _challenge(db: AsyncSession, user: User, actor: audit.Actor) -> SecondFactorPending:
    token, row = _issue(db, LoginChallenge, TokenKind.LOGIN_CHALLENGE, user, actor, CHALLENGE_TTL)
    await db.commit()
    return SecondFactorPending(token, row.expires_at)


async def open_session(
    db: AsyncSession,
    user: User,
    actor: audit.Actor,
    ttl: timedelta,
    second_factor: str | None = None,
) -> LoginResult:
    """The login itself, once every factor the account needs has been checked."""
    result = await new_login(db, user, actor, ttl, second_factor)
    await db.commit()
    return result


async def new_login(
    db: AsyncSession,
    user: User,
    actor: audit.Actor,
    ttl: timedelta,
    second_factor: str | None = None,
) -> LoginResult:
    """A new login for ``user`` (a fresh secret: session rotation), in the caller's transaction:
    an accepted invite commits the account, its membership and its first login together."""
    token, row = _issue(db, AuthSession, TokenKind.LOGIN, user, actor, ttl)
    await db.flush()
    await audit.record_on_user(
        db,
        audit.Actor("user", user.email, actor.ip, actor.request_id),
        "auth.login",
        user,
        {"second_factor": second_factor} if second_factor else None,
    )
    principal = Principal(
        user.id, user.tenant_id, user.email, user.is_tenant_admin, row.id, row.expires_at
    )
    return LoginResult(token, principal)


async def resolve(db: AsyncSession, token: str) -> Principal:
    """The principal behind a session token; Unauthorized when unknown, expired or revoked."""
    if token.startswith(TokenKind.API_KEY):
        raise Unauthorized(LOGIN_NEEDED)
    row = await db.scalar(
        select(AuthSession).where(
            AuthSession.token_hash == sha256_hex(token),
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
    )
    if row is None:
        raise Unauthorized("not authenticated")
    user = await db.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("not authenticated")
    return Principal(
        user.id, user.tenant_id, user.email, user.is_tenant_admin, row.id, row.expires_at
    )


async def logout(db: AsyncSession, principal: Principal, actor: audit.Actor) -> None:
    await db.execute(
        update(AuthSession)
        .where(
            AuthSession.id == principal.auth_session_id,
            AuthSession.tenant_id == principal.tenant_id,
        )
        .values(revoked_at=utcnow())
    )
    await audit.record(db, actor, "auth.logout", tenant_id=principal.tenant_id)


async def change_password(
    db: AsyncSession,
    throttle: LoginThrottle,
    principal: Principal,
    current: str,
    new: str,
    actor: audit.Actor,
) -> list[str]:
    """Set a new password after checking the current one, and end the user's other logins (a
    stolen one must not outlive the change); the ids of the logins ended.

    Wrong current passwords count against the login throttle: a stolen login must not be a way
    to guess the password at leisure."""
    ip = actor.ip or "unknown"
    await throttle.claim(db, principal.email, ip)
    user = await db.scalar(
        select(User).where(User.id == principal.user_id, User.tenant_id == principal.tenant_id)
    )
    if user is None:
        raise NotFound("user not found")
    if not await asyncio.to_thread(verify_password, user.password_hash, current):
        await audit.record_on_user(db, actor, "auth.password_change_failed", user)
        await db.commit()
        raise Forbidden("the current password is wrong")
    await throttle.succeeded(db, principal.email, ip)
    user.password_hash = await asyncio.to_thread(hash_password, new)
    revoked = await db.scalars(
        update(AuthSession)
        .where(
            AuthSession.user_id == user.id,
            AuthSession.tenant_id == user.tenant_id,
            AuthSession.id != principal.auth_session_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
        .values(revoked_at=utcnow())
        .returning(AuthSession.id)
    )
    ids = list(revoked)
    details = {"logins_revoked": len(ids)}
    await audit.record_on_user(db, actor, "auth.password_changed", user, details)
    await db.commit()
    return ids


async def tenant_name(db: AsyncSession, tenant_id: str) -> str:
    return (await db.scalar(select(Tenant.name).where(Tenant.id == tenant_id))) or ""
