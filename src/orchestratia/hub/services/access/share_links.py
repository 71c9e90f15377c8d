"""Read-only share links for a session view: expiring, revocable, stored as SHA-256."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from orchestratia.hub.db.models import AuthSession, ShareLink, TerminalSession, User
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import NotFound, Unauthorized
from orchestratia.hub.security import new_secret, sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.fleet.sessions import get as get_session
from orchestratia.protocol.tokens import TokenKind


async def create(
    db: AsyncSession,
    principal: Principal,
    session_id: str,
    mode: str,
    hours: int,
    actor: audit.Actor,
) -> tuple[ShareLink, str]:
    session = await get_session(db, principal, session_id, write=True)
    token = new_secret(TokenKind.SHARE)
    link = ShareLink(
        tenant_id=principal.tenant_id,
        session_id=session.id,
        token_hash=sha256_hex(token),
        mode=mode,
        created_by=principal.user_id,
        expires_at=utcnow() + timedelta(hours=hours),
    )
    db.add(link)
    await db.flush()
    await audit.record(
        db,
        actor,
        "share_link.created",
        tenant_id=principal.tenant_id,
        project_id=session.project_id,
        target_type="share_link",
        target_id=link.id,
        details={"session_id": session.id, "mode": mode, "expires_at": link.expires_at.isoformat()},
    )
    return link, token


async def active(
    db: AsyncSession, principal: Principal, session_id: str
) -> list[tuple[ShareLink, str | None]]:
    """The session's unrevoked, unexpired links, newest first, each with its creator's email."""
    session = await get_session(db, principal, session_id)
    rows = await db.execute(
        select(ShareLink, User.email)
        .outerjoin(User, User.id == ShareLink.created_by)
        .where(
            ShareLink.session_id == session.id,
            ShareLink.tenant_id == principal.tenant_id,
            ShareLink.revoked_at.is_(None),
            ShareLink.expires_at > utcnow(),
        )
        .order_by(ShareLink.created_at.desc())
    )
    return [(link, email) for link, email in rows]


async def revoke(
    db: AsyncSession, principal: Principal, link_id: str, actor: audit.Actor
) -> ShareLink:
    link = await db.scalar(
        select(ShareLink).where(ShareLink.id == link_id, ShareLink.tenant_id == principal.tenant_id)
    )
    if link is None:
        raise NotFound("share link not found")
    try:
        session = await get_session(db, principal, link.session_id, write=True)
    except NotFound:
        raise NotFound("share link not found") from None
    link.revoked_at = utcnow()
    await audit.record(
        db,
        actor,
        "share_link.revoked",
        tenant_id=principal.tenant_id,
        project_id=session.project_id,
        target_type="share_link",
        target_id=link.id,
    )
    return link


async def resolve(db: AsyncSession, token: str) -> TerminalSession:
    """The session a live share token grants read access to."""
    return (await resolve_link(db, token))[1]


async def resolve_link(db: AsyncSession, token: str) -> tuple[ShareLink, TerminalSession]:
    """A live share link and its session."""
    link = await db.scalar(
        select(ShareLink).where(
            ShareLink.token_hash == sha256_hex(token),
            ShareLink.revoked_at.is_(None),
            ShareLink.expires_at > utcnow(),
        )
    )
    session = await db.get(TerminalSession, link.session_id) if link else None
    if link is None or session is None or session.tenant_id != link.tenant_id:
        raise Unauthorized("share link is invalid, revoked or expired")
    return link, session


async def ended_grants(
    db: AsyncSession, login_ids: set[str], share_hashes: set[str]
) -> tuple[list[str], list[str]]:
    """Of these logins and share links, the ones that no longer let anyone in (revoked, or gone):
    what a replica re-checks its sockets against after it may have missed revocations."""
    live_logins = await _unrevoked(db, AuthSession.id, AuthSession.revoked_at, login_ids)
    live_shares = await _unrevoked(db, ShareLink.token_hash, ShareLink.revoked_at, share_hashes)
    return sorted(login_ids - live_logins), sorted(share_hashes - live_shares)


async def _unrevoked(
    db: AsyncSession,
    key: InstrumentedAttribute[str],
    revoked_at: InstrumentedAttribute[datetime | None],
    wanted: set[str],
) -> set[str]:
    if not wanted:
        return set()
    return set(await db.scalars(select(key).where(key.in_(wanted), revoked_at.is_(None))))
