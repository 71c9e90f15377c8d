"""SSH tunnels as owners manage them: add one (with its key sealed and a registration token for
the daemon behind it), confirm the host key the server presented, enable, disable, remove.

Only a project's owners (tenant admins are owners everywhere) change tunnels; everyone on the
project sees them, never their private key. The running side lives in ``hub.tunnels``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import RegistrationToken
from orchestratia.hub.db.tunnel_models import SshTunnel
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import Conflict, Forbidden, NotFound
from orchestratia.hub.sealed_columns import SSH_PRIVATE_KEY
from orchestratia.hub.sealing import Keyring
from orchestratia.hub.security import sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import access
from orchestratia.hub.services.fleet import servers, ssh_keys
from orchestratia.hub.services.outbox import Outbox
from orchestratia.protocol.dashboard_events import TunnelUpdate
from orchestratia.protocol.tunnels import TunnelCreate, TunnelPublic, TunnelStatus

OWNERS_ONLY = "only the project's owners add, change or remove SSH tunnels"
NOT_FOUND = "tunnel not found"


@dataclass(frozen=True)
class Created:
    tunnel: SshTunnel
    token: servers.IssuedToken


def local_hub_url(row: SshTunnel) -> str:
    """The hub's address as the daemon behind the tunnel dials it: the forwarded port."""
    return f"http://127.0.0.1:{row.remote_port}"


def to_public(row: SshTunnel, server_id: str | None) -> TunnelPublic:
    status: TunnelStatus = row.status  # type: ignore[assignment]
    return TunnelPublic(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        host=row.host,
        port=row.port,
        username=row.username,
        public_key=row.public_key,
        remote_port=row.remote_port,
        local_hub_url=local_hub_url(row),
        enabled=row.enabled,
        status=status,
        last_error=row.last_error,
        host_key_fingerprint=row.host_key_fingerprint,
        host_key_confirmed_at=row.host_key_confirmed_at,
        offered_fingerprint=row.offered_fingerprint,
        connected_at=row.connected_at,
        server_id=server_id,
        created_at=row.created_at,
    )


async def publics(db: AsyncSession, rows: list[SshTunnel]) -> list[TunnelPublic]:
    """The rows as the API shows them, each with the server its daemon registered as."""
    token_ids = [r.registration_token_id for r in rows if r.registration_token_id]
    linked: dict[str, str | None] = {}
    if token_ids:
        found = await db.execute(
            select(RegistrationToken.id, RegistrationToken.server_id).where(
                RegistrationToken.id.in_(token_ids)
            )
        )
        linked = {token_id: server_id for token_id, server_id in found}
    return [to_public(r, linked.get(r.registration_token_id or "")) for r in rows]


async def public(db: AsyncSession, row: SshTunnel) -> TunnelPublic:
    return (await publics(db, [row]))[0]


async def announce(db: AsyncSession, row: SshTunnel, outbox: Outbox, removed: bool = False) -> None:
    """Dashboards of the project learn the tunnel's state once the change commits."""
    outbox.notify(row.project_id, TunnelUpdate(tunnel=await public(db, row), removed=removed))


async def _owner(db: AsyncSession, principal: Principal, project_id: str) -> None:
    if (await access(db, principal, project_id, write=True)).role != "owner":
        raise Forbidden(OWNERS_ONLY)


async def list_for_project(
    db: AsyncSession, principal: Principal, project_id: str
) -> list[SshTunnel]:
    await access(db, principal, project_id)
    rows = await db.scalars(
        select(SshTunnel)
        .where(SshTunnel.tenant_id == principal.tenant_id, SshTunnel.project_id == project_id)
        .order_by(SshTunnel.name)
    )
    return list(rows)


async def get(
    db: AsyncSession, principal: Principal, tunnel_id: str, *, owner: bool = False
) -> SshTunnel:
    """The tunnel if the caller's project holds it (404 otherwise); ``owner``: owners only."""
    row = await db.scalar(
        select(SshTunnel).where(
            SshTunnel.id == tunnel_id, SshTunnel.tenant_id == principal.tenant_id
        )
    )
    if row is None:
        raise NotFound(NOT_FOUND)
    try:
        await access(db, principal, row.project_id)
    except NotFound:
        raise NotFound(NOT_FOUND) from None
    if owner:
        await _owner(db, principal, row.project_id)
    return row


async def issue_setup(
    db: AsyncSession,
    principal: Principal,
    row: SshTunnel,
    hours: int,
    actor: audit.Actor,
) -> servers.IssuedToken:
    """A registration token carrying the tunnel's local URL; the server that redeems it is the
    tunnel's server."""
    issued = await servers.issue_token(
        db, principal, row.project_id, local_hub_url(row), hours, actor
    )
    row.registration_token_id = await db.scalar(
        select(RegistrationToken.id).where(RegistrationToken.token_hash == sha256_hex(issued.token))
    )
    return issued


async def create(
    db: AsyncSession,
    principal: Principal,
    body: TunnelCreate,
    keyring: Keyring,
    token_hours: int,
    actor: audit.Actor,
    outbox: Outbox,
) -> Created:
    await _owner(db, principal, body.project_id)
    taken = await db.scalar(
        select(SshTunnel.id).where(
            SshTunnel.project_id == body.project_id, SshTunnel.name == body.name.strip()
        )
    )
    if taken is not None:
        raise Conflict(f"this project already has a tunnel named {body.name.strip()!r}")
    if body.private_key is not None:
        pair = ssh_keys.read_private_key(body.private_key)
    else:
        pair = ssh_keys.generate_key(f"orchestratia-{body.name.strip()}")
    row = SshTunnel(
        id=new_id(),
        tenant_id=principal.tenant_id,
        project_id=body.project_id,
        name=body.name.strip(),
        host=body.host,
        port=body.port,
        username=body.username,
        public_key=pair.public_line,
        remote_port=body.remote_port,
        enabled=True,
        status="pending_confirmation",
        created_by=principal.user_id,
    )
    row.private_key_sealed = keyring.seal(pair.private_pem, SSH_PRIVATE_KEY.aad(row.id))
    db.add(row)
    await db.flush()
    token = await issue_setup(db, principal, row, token_hours, actor)
    await _audit(db, actor, "tunnel.created", row, {
        "name": row.name, "host": row.host, "port": row.port, "username": row.username,
        "remote_port": row.remote_port, "key": "generated" if body.generate else "provided",
    })  # fmt: skip
    await announce(db, row, outbox)
    return Created(row, token)


async def confirm_host_key(
    db: AsyncSession,
    principal: Principal,
    tunnel_id: str,
    fingerprint: str,
    actor: audit.Actor,
    outbox: Outbox,
) -> SshTunnel:
    """Pin the host key the server presented, if ``fingerprint`` is its fingerprint."""
    row = await get(db, principal, tunnel_id, owner=True)
    if row.offered_host_key is None or row.offered_fingerprint is None:
        raise Conflict("the server has not presented a host key to confirm yet")
    if fingerprint != row.offered_fingerprint:
        raise Conflict(
            f"{fingerprint} is not the fingerprint of the key the server presented "
            f"({row.offered_fingerprint}); nothing was pinned"
        )
    previous = row.host_key_fingerprint
    row.host_key, row.host_key_fingerprint = row.offered_host_key, row.offered_fingerprint
    row.offered_host_key = row.offered_fingerprint = None
    row.host_key_confirmed_at = row.updated_at = utcnow()
    row.status = "connecting" if row.enabled else "disabled"
    row.last_error = None
    await _audit(
        db,
        actor,
        "tunnel.host_key_confirmed",
        row,
        {"fingerprint": fingerprint, "previous": previous},
    )
    await announce(db, row, outbox)
    return row


async def set_enabled(
    db: AsyncSession,
    principal: Principal,
    tunnel_id: str,
    enabled: bool,
    actor: audit.Actor,
    outbox: Outbox,
) -> SshTunnel:
    row = await get(db, principal, tunnel_id, owner=True)
    if row.enabled == enabled:
        return row
    row.enabled, row.updated_at = enabled, utcnow()
    if not enabled:
        row.status = "disabled"
    else:
        row.status = "connecting" if row.host_key is not None else "pending_confirmation"
    row.last_error = None
    await _audit(db, actor, "tunnel.enabled" if enabled else "tunnel.disabled", row, {})
    await announce(db, row, outbox)
    return row


async def remove(
    db: AsyncSession, principal: Principal, tunnel_id: str, actor: audit.Actor, outbox: Outbox
) -> None:
    """Remove the tunnel; the replica holding it closes the SSH connection at its next look.
    The server its daemon registered as stays, like any server that went quiet."""
    row = await get(db, principal, tunnel_id, owner=True)
    await _audit(db, actor, "tunnel.deleted", row, {"name": row.name, "host": row.host})
    await announce(db, row, outbox, removed=True)
    await db.delete(row)


async def _audit(
    db: AsyncSession, actor: audit.Actor, action: str, row: SshTunnel, details: dict[str, Any]
) -> None:
    await audit.record_on(db, actor, action, "ssh_tunnel", row, details)
