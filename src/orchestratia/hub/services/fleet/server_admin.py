"""What a project's owners do to its servers from the dashboard or the API: rename, relabel
and remove. Every change is audited; a removed server's daemon is hung up on at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Server
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Conflict, Forbidden
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import access
from orchestratia.hub.services.fleet import servers, sessions
from orchestratia.hub.services.integrations import announcements
from orchestratia.hub.services.outbox import Outbox
from orchestratia.protocol.fleet_admin import ServerEdit

OWNERS_ONLY = "only the project's owners rename, relabel or remove its servers"


async def manageable(db: AsyncSession, principal: Principal, server_id: str) -> Server:
    """The server, if the caller owns its project (tenant admins do); members get a 403."""
    server = await servers.get(db, principal, server_id, write=True)
    if (await access(db, principal, server.project_id)).role != "owner":
        raise Forbidden(OWNERS_ONLY)
    return server


async def edit(
    db: AsyncSession,
    principal: Principal,
    server_id: str,
    body: ServerEdit,
    actor: audit.Actor,
    outbox: Outbox,
) -> Server:
    server = await manageable(db, principal, server_id)
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != server.name:
        changes["name"] = {"from": server.name, "to": body.name}
        server.name = body.name
    if body.labels is not None and body.labels != (server.labels or []):
        changes["labels"] = {"from": server.labels or [], "to": body.labels}
        server.labels = body.labels
    if changes:
        await audit.record(
            db,
            actor,
            "server.updated",
            tenant_id=principal.tenant_id,
            project_id=server.project_id,
            target_type="server",
            target_id=server.id,
            details=changes,
        )
        outbox.servers.append(server)
    return server


async def remove(
    db: AsyncSession,
    principal: Principal,
    server_id: str,
    force: bool,
    actor: audit.Actor,
    outbox: Outbox,
) -> list[str]:
    """Remove the server: its keys are revoked and its socket closed (by the caller, after the
    commit, from ``outbox.keys_revoked``). The row stays, marked removed, so the sessions and
    tasks that name it keep their history. While it has live sessions this is refused unless
    ``force``, which marks them lost. Returns the ids of the sessions ended."""
    server = await manageable(db, principal, server_id)
    live = await sessions.live_on_server(db, server.id)
    if live and not force:
        raise Conflict(
            f"server {server.name!r} has {len(live)} live session(s); end them first, or "
            "remove it with force=true, which marks them lost"
        )
    for session in live:
        await sessions.mark_lost(db, session, "its server was removed")
    await servers.revoke_all_keys(db, server)
    was_online = server.status == "online"
    server.status = servers.REMOVED
    server.connected = False
    server.disconnected_at = utcnow()
    await audit.record(
        db,
        actor,
        "server.removed",
        tenant_id=principal.tenant_id,
        project_id=server.project_id,
        target_type="server",
        target_id=server.id,
        details={"name": server.name, "forced": force, "sessions_lost": [s.id for s in live]},
    )
    if was_online:
        announcements.server(db, server, "server.offline")
    outbox.keys_revoked.append(server.id)
    # Open fleet pages see it go offline at once (its row is gone on their next load).
    outbox.servers.append(server)
    outbox.sessions.extend(live)
    return [s.id for s in live]
