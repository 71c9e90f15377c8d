"""The second step of a login: the challenge a right password earned, plus a code.

A challenge lives five minutes, opens one login, and only from the address that typed the
password: it stands for the password, and a challenge leaked elsewhere (a proxy log, a shared
screen) must not leave only six digits between its finder and the account."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import User
from orchestratia.hub.db.team_models import LoginChallenge
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Unauthorized
from orchestratia.hub.sealing import Keyring
from orchestratia.hub.security import sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import totp
from orchestratia.hub.services.access.auth import LoginResult, open_session
from orchestratia.hub.services.access.throttle import LoginThrottle

GONE = "the login challenge is unknown, expired or already used; log in again"
ELSEWHERE = "the login challenge was issued to another address; log in again"


async def _spend(db: AsyncSession, challenge: LoginChallenge) -> bool:
    """Mark it used, unless a concurrent request did first."""
    spent = await db.execute(
        update(LoginChallenge)
        .where(LoginChallenge.id == challenge.id, LoginChallenge.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(spent.rowcount)  # type: ignore[attr-defined]


async def complete(
    db: AsyncSession,
    keyring: Keyring,
    throttle: LoginThrottle,
    token: str,
    code: str,
    actor: audit.Actor,
    ttl: timedelta,
) -> LoginResult:
    challenge = await db.scalar(
        select(LoginChallenge).where(
            LoginChallenge.token_hash == sha256_hex(token),
            LoginChallenge.used_at.is_(None),
            LoginChallenge.expires_at > utcnow(),
        )
    )
    if challenge is None:
        raise Unauthorized(GONE)
    if challenge.ip != actor.ip:
        raise Unauthorized(ELSEWHERE)
    user = await db.scalar(
        select(User).where(User.id == challenge.user_id, User.tenant_id == challenge.tenant_id)
    )
    if user is None or not user.is_active or user.totp_enabled_at is None:
        raise Unauthorized(GONE)
    found = await totp.verify(db, keyring, throttle, user, code, actor)
    if found is None:
        raise Unauthorized(totp.WRONG_CODE)
    if not await _spend(db, challenge):
        raise Unauthorized(GONE)
    return await open_session(db, user, actor, ttl, second_factor=found)


async def prune(db: AsyncSession) -> int:
    """Drop challenges past their expiry (used or not: they can open nothing any more)."""
    gone = await db.execute(delete(LoginChallenge).where(LoginChallenge.expires_at <= utcnow()))
    await db.commit()
    count: int = gone.rowcount  # type: ignore[attr-defined]
    return count
