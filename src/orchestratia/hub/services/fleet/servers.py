"""Registration tokens, server registration, server keys and the connection state of a server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.fleet_models import SERVER_REMOVED
from orchestratia.hub.db.models import RegistrationToken, Server, ServerApiKey
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import NotFound, Unauthorized
from orchestratia.hub.security import new_secret, sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.plans import ensure_room
from orchestratia.hub.services.access.projects import access
from orchestratia.hub.services.fleet import samples
from orchestratia.hub.services.integrations import announcements
from orchestratia.protocol.dashboard_events import ServerUpdate
from orchestratia.protocol.rest import RegisterRequest, ServerPublic
from orchestratia.protocol.tokens import TokenKind, encode_registration_token

BAD_TOKEN = "registration token is invalid, already used or expired"
BAD_KEY = "server API key is invalid or revoked"
REMOVED = SERVER_REMOVED
SHOWN = Server.status != REMOVED


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Registered:
    server: Server
    api_key: str


def to_public(server: Server) -> ServerPublic:
    return ServerPublic(
        id=server.id,
        project_id=server.project_id,
        name=server.name,
        hostname=server.hostname,
        os=server.os,
        ip=server.ip,
        status="online" if server.status == "online" else "disconnected",
        last_seen=server.last_seen_at,
        system_info=server.system_info or {},
        capabilities=server.capabilities or [],
        agent_version=server.agent_version,
        repos=server.repos or {},
        labels=server.labels or [],
        created_at=server.created_at,
    )


async def issue_token(
    db: AsyncSession,
    principal: Principal,
    project_id: str,
    hub_url: str,
    hours: int,
    actor: audit.Actor,
) -> IssuedToken:
    await access(db, principal, project_id, write=True)
    secret = new_secret()
    token = encode_registration_token(hub_url, secret)
    row = RegistrationToken(
        tenant_id=principal.tenant_id,
        project_id=project_id,
        token_hash=sha256_hex(token),
        created_by=principal.user_id,
        expires_at=utcnow() + timedelta(hours=hours),
    )
    db.add(row)
    await db.flush()
    await audit.record(
        db,
        actor,
        "server_token.created",
        tenant_id=principal.tenant_id,
        project_id=project_id,
        target_type="registration_token",
        target_id=row.id,
        details={"expires_at": row.expires_at.isoformat()},
    )
    return IssuedToken(token, row.expires_at)


async def register(db: AsyncSession, body: RegisterRequest, actor: audit.Actor) -> Registered:
    """Redeem a one-time token. The same ``machine_id`` in a project reuses its server row."""
    now = utcnow()
    token_hash = sha256_hex(body.registration_token)
    claimed = await db.execute(
        update(RegistrationToken)
        .where(
            RegistrationToken.token_hash == token_hash,
            RegistrationToken.used_at.is_(None),
            RegistrationToken.expires_at > now,
        )
        .values(used_at=now)
    )
    token = await db.scalar(
        select(RegistrationToken).where(RegistrationToken.token_hash == token_hash)
    )
    if claimed.rowcount != 1 or token is None:  # type: ignore[attr-defined]
        # Read before the rollback: it expires ``token``, and a lazy reload can't run here.
        tenant_id = token.tenant_id if token else None
        project_id = token.project_id if token else None
        await db.rollback()
        await audit.record(
            db,
            actor,
            "server.registration_refused",
            tenant_id=tenant_id,
            project_id=project_id,
            details={"hostname": body.hostname, "reason": BAD_TOKEN},
        )
        await db.commit()
        raise Unauthorized(BAD_TOKEN)

    server = None
    if body.machine_id:
        server = await db.scalar(
            select(Server).where(
                Server.project_id == token.project_id,
                Server.machine_id == body.machine_id,
                Server.tenant_id == token.tenant_id,
            )
        )
    if server is None:
        await ensure_room(db, token.tenant_id, "servers")
        server = Server(tenant_id=token.tenant_id, project_id=token.project_id)
        db.add(server)
    elif server.status == REMOVED:
        await ensure_room(db, token.tenant_id, "servers")
        server.status = "disconnected"
    server.name = body.name
    server.hostname = body.hostname
    server.os = body.os
    server.ip = body.ip
    server.machine_id = body.machine_id
    server.mac_address = body.mac_address
    server.repos = body.repos
    server.system_info = body.system_info
    server.capabilities = body.capabilities
    server.agent_version = body.agent_version
    await db.flush()
    token.server_id = server.id
    # A re-registered machine gets a fresh key; whatever held the old one is locked out.
    await db.execute(
        update(ServerApiKey)
        .where(ServerApiKey.server_id == server.id, ServerApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    api_key = new_secret(TokenKind.SERVER_KEY)
    db.add(
        ServerApiKey(
            tenant_id=server.tenant_id,
            server_id=server.id,
            key_hash=sha256_hex(api_key),
            prefix=api_key[:8],
        )
    )
    await audit.record(
        db,
        audit.Actor("server", server.id, actor.ip, actor.request_id),
        "server.registered",
        tenant_id=server.tenant_id,
        project_id=server.project_id,
        target_type="server",
        target_id=server.id,
        details={"name": server.name, "hostname": server.hostname, "machine_id": body.machine_id},
    )
    return Registered(server, api_key)


async def authenticate_key(db: AsyncSession, api_key: str, actor: audit.Actor) -> Server:
    """The server owning an active key; a rejected key is audited and raises Unauthorized."""
    row = await db.scalar(select(ServerApiKey).where(ServerApiKey.key_hash == sha256_hex(api_key)))
    if row is not None and row.revoked_at is None:
        server = await db.get(Server, row.server_id)
        if server is not None:
            return server
    await audit.record(
        db,
        actor,
        "server.key_rejected",
        tenant_id=row.tenant_id if row else None,
        target_type="server",
        target_id=row.server_id if row else None,
        details={"key_prefix": api_key[:8], "revoked": row is not None},
    )
    await db.commit()
    raise Unauthorized(BAD_KEY)


async def revoke_keys(
    db: AsyncSession, principal: Principal, server_id: str, actor: audit.Actor
) -> None:
    server = await get(db, principal, server_id, write=True)
    await revoke_all_keys(db, server)
    await audit.record(
        db,
        actor,
        "server.keys_revoked",
        tenant_id=principal.tenant_id,
        project_id=server.project_id,
        target_type="server",
        target_id=server.id,
    )


async def revoke_all_keys(db: AsyncSession, server: Server) -> None:
    await db.execute(
        update(ServerApiKey)
        .where(
            ServerApiKey.server_id == server.id,
            ServerApiKey.tenant_id == server.tenant_id,
            ServerApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )


async def get(
    db: AsyncSession,
    principal: Principal,
    server_id: str,
    *,
    write: bool = False,
    removed_too: bool = False,
) -> Server:
    """The caller's server; a removed one only with ``removed_too`` (pages of its old sessions)."""
    found = select(Server).where(Server.id == server_id, Server.tenant_id == principal.tenant_id)
    server = await db.scalar(found if removed_too else found.where(SHOWN))
    if server is None:
        raise NotFound("server not found")
    try:
        await access(db, principal, server.project_id, write=write)
    except NotFound:
        raise NotFound("server not found") from None
    return server


async def list_for_project(db: AsyncSession, principal: Principal, project_id: str) -> list[Server]:
    await access(db, principal, project_id)
    rows = await db.scalars(
        select(Server)
        .where(Server.project_id == project_id, Server.tenant_id == principal.tenant_id, SHOWN)
        .order_by(Server.name)
    )
    return list(rows)


async def touch(
    db: AsyncSession,
    server_id: str,
    *,
    system_info: dict[str, Any] | None = None,
    connected: bool | None = None,
    **fields: Any,
) -> Server | None:
    """Record traffic from a server: marks it online; returns it when its visible state changed."""
    server = await db.get(Server, server_id)
    # A removed server's last frames, read before its socket closed, must not bring it back.
    if server is None or server.status == REMOVED:
        return None
    now = utcnow()
    changed = _seen(db, server, now, system_info)
    if system_info:
        await samples.record(db, server, system_info, now)
    if connected is not None:
        server.connected = connected
    for name, value in fields.items():
        setattr(server, name, value)
    await db.commit()
    return server if changed or fields else None


async def touch_many(
    db: AsyncSession, beats: dict[str, dict[str, Any] | None], live: Callable[[str], bool]
) -> list[Server]:
    """``touch`` for the heartbeats of many servers in one transaction; the servers whose visible
    state changed. A server no longer online (its socket closed, or another replica swept it)
    comes back only while ``live`` says its socket is still open here: a heartbeat read before a
    disconnect must not revive the server after it. The rows are locked (PostgreSQL) so a
    concurrent disconnect commits either wholly before or wholly after this batch."""
    now = utcnow()
    rows = await db.scalars(
        select(Server).where(Server.id.in_(list(beats)), SHOWN).with_for_update()
    )
    changed, sampled = [], []
    for server in rows:
        if server.status != "online" and not live(server.id):
            continue
        info = beats[server.id]
        if _seen(db, server, now, info):
            changed.append(server)
        if info:
            sampled.append((server, info))
    await samples.record_many(db, sampled, now)
    await db.commit()
    return changed


def _seen(
    db: AsyncSession, server: Server, now: datetime, system_info: dict[str, Any] | None
) -> bool:
    """Traffic from ``server`` at ``now`` (not committed); True when dashboards should hear."""
    came_online = server.status != "online"
    server.status = "online"
    server.disconnected_at = None
    server.last_seen_at = now
    if came_online:
        announcements.server(db, server, "server.online")
    if system_info:
        server.system_info = system_info
    return came_online or system_info is not None


async def mark_disconnected(db: AsyncSession, server_id: str) -> Server | None:
    server = await db.get(Server, server_id)
    if server is None or server.status == REMOVED:
        return None
    if server.status == "disconnected" and not server.connected:
        return None
    was_online = server.status == "online"
    server.status = "disconnected"
    server.connected = False
    server.disconnected_at = utcnow()
    if was_online:
        announcements.server(db, server, "server.offline")
    return server


def server_event(server: Server) -> ServerUpdate:
    """The dashboard event announcing a server's current state."""
    return ServerUpdate(server=to_public(server))
