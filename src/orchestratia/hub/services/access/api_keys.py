"""User API keys: made, listed and revoked by their owners, and the principal a key stands for.

A key acts as its owner with fewer powers, never more: its scopes narrow what routes it may
call, its project narrows what it sees, and every role check still runs against the owner's
current role. A key made with a key gets at most that key's scopes, project and lifetime."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Project, User
from orchestratia.hub.db.team_models import UserApiKey
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from orchestratia.hub.security import new_secret, sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import projects
from orchestratia.hub.services.access.auth import Principal
from orchestratia.protocol.api_keys import MAX_KEY_DAYS, ApiKeyCreate
from orchestratia.protocol.tokens import TokenKind, checksum_ok, with_checksum

# Characters of a key kept in the clear to tell keys apart: the kind and a few random ones.
PREFIX_CHARS = len(TokenKind.API_KEY) + 6
# ``last_used_at`` is refreshed at most this often per key: no write on every request.
LAST_USED_GRANULARITY = timedelta(minutes=1)
MAX_ACTIVE_KEYS = 50
INVALID_KEY = "this API key is unknown, revoked or malformed"


@dataclass(frozen=True)
class KeyRow:
    """A key as its list shows it: the row, its owner's email and its project's name."""

    key: UserApiKey
    owner_email: str
    project_name: str | None


async def authenticate(db: AsyncSession, token: str) -> Principal:
    """The owner behind ``token``, narrowed to the key's scopes and project; Unauthorized when
    the key is unknown, revoked or expired, or its owner can no longer reach what it names."""
    if not checksum_ok(token):
        raise Unauthorized(INVALID_KEY)
    row = await db.scalar(select(UserApiKey).where(UserApiKey.key_hash == sha256_hex(token)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized(INVALID_KEY)
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("this API key has expired; make a new one")
    user = await db.get(User, row.user_id)
    if user is None or not user.is_active or user.tenant_id != row.tenant_id:
        raise Unauthorized("this API key's owner no longer has access")
    principal = Principal(
        user.id,
        user.tenant_id,
        user.email,
        user.is_tenant_admin,
        "",
        row.expires_at,
        api_key_id=row.id,
        scopes=frozenset(row.scopes),
        project_restriction=row.project_id,
    )
    if row.project_id is not None:
        try:
            await projects.access(db, principal, row.project_id)
        except NotFound:
            raise Unauthorized("this API key's owner no longer has access to its project") from None
    if row.last_used_at is None or row.last_used_at < now - LAST_USED_GRANULARITY:
        await _touch(db, row.id, now)
    return principal


async def _touch(db: AsyncSession, key_id: str, now: datetime) -> None:
    """Record the use; conditional, so replicas racing on one key write it once."""
    cutoff = now - LAST_USED_GRANULARITY
    await db.execute(
        update(UserApiKey)
        .where(
            UserApiKey.id == key_id,
            (UserApiKey.last_used_at.is_(None)) | (UserApiKey.last_used_at < cutoff),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    await db.commit()


def _expiry(principal: Principal, body: ApiKeyCreate) -> datetime:
    now = utcnow()
    longest = now + timedelta(days=MAX_KEY_DAYS)
    if principal.api_key_id is not None and principal.expires_at is not None:
        longest = min(longest, principal.expires_at)
    if body.expires_at is None:
        return longest
    if body.expires_at <= now + timedelta(minutes=1):
        raise Invalid("expires_at must be in the future")
    if body.expires_at > longest:
        if principal.api_key_id is not None and longest == principal.expires_at:
            raise Invalid("expires_at: a key cannot outlive the key that makes it")
        raise Invalid(f"expires_at must be at most {MAX_KEY_DAYS} days from now")
    return body.expires_at


async def create(
    db: AsyncSession, principal: Principal, body: ApiKeyCreate, actor: audit.Actor
) -> tuple[KeyRow, str]:
    """A new key of the caller's and its secret (returned this once)."""
    scopes = sorted(set(body.scopes))
    lacking = [s for s in scopes if not principal.has_scope(s)]
    if lacking:
        raise Forbidden(f"a key can only grant scopes it holds; this key lacks {lacking[0]!r}")
    project_id = body.project_id or principal.project_restriction
    if principal.project_restriction not in (None, project_id):
        raise NotFound("project not found")
    project_name = None
    if project_id is not None:
        project_name = (await projects.access(db, principal, project_id)).project.name
    expires_at = _expiry(principal, body)
    active = await db.scalar(
        select(func.count())
        .select_from(UserApiKey)
        .where(
            UserApiKey.user_id == principal.user_id,
            UserApiKey.tenant_id == principal.tenant_id,
            UserApiKey.revoked_at.is_(None),
            (UserApiKey.expires_at.is_(None)) | (UserApiKey.expires_at > utcnow()),
        )
    )
    if (active or 0) >= MAX_ACTIVE_KEYS:
        raise Conflict(f"you have {MAX_ACTIVE_KEYS} active API keys; revoke one first")
    secret = with_checksum(new_secret(TokenKind.API_KEY))
    row = UserApiKey(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        name=body.name,
        prefix=secret[:PREFIX_CHARS],
        key_hash=sha256_hex(secret),
        scopes=scopes,
        project_id=project_id,
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    await audit.record(
        db,
        actor,
        "api_key.created",
        tenant_id=principal.tenant_id,
        project_id=project_id,
        target_type="api_key",
        target_id=row.id,
        details={
            "name": body.name,
            "prefix": row.prefix,
            "scopes": scopes,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "made_with_key": principal.api_key_id,
        },
    )
    return KeyRow(row, principal.email, project_name), secret


async def list_keys(db: AsyncSession, principal: Principal) -> list[KeyRow]:
    """The caller's keys, newest first; a tenant admin sees every key of the tenant, so keys of
    people who left can be found and revoked."""
    query = (
        select(UserApiKey, User.email, Project.name)
        .join(User, User.id == UserApiKey.user_id)
        .outerjoin(Project, Project.id == UserApiKey.project_id)
        .where(UserApiKey.tenant_id == principal.tenant_id)
        .order_by(UserApiKey.created_at.desc())
        .limit(500)
    )
    if not principal.tenant_wide_admin:
        query = query.where(UserApiKey.user_id == principal.user_id)
    return [KeyRow(key, email, name) for key, email, name in await db.execute(query)]


async def revoke(db: AsyncSession, principal: Principal, key_id: str, actor: audit.Actor) -> None:
    """Revoke one of the caller's keys (a tenant admin: any of the tenant's); revoking twice is
    harmless. Another tenant's or another user's key is not found."""
    row = await db.scalar(
        select(UserApiKey).where(
            UserApiKey.id == key_id, UserApiKey.tenant_id == principal.tenant_id
        )
    )
    if row is None or not (row.user_id == principal.user_id or principal.tenant_wide_admin):
        raise NotFound("API key not found")
    if row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    await audit.record(
        db,
        actor,
        "api_key.revoked",
        tenant_id=principal.tenant_id,
        project_id=row.project_id,
        target_type="api_key",
        target_id=row.id,
        details={"name": row.name, "prefix": row.prefix, "owner_id": row.user_id},
    )
