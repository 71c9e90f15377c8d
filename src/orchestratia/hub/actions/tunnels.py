"""SSH tunnels as owners change them: each change commits, then dashboards are told and the
tunnel keeper of this replica looks at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.transaction import run
from orchestratia.hub.db.tunnel_models import SshTunnel
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.fleet import servers, tunnels
from orchestratia.hub.services.integrations import address_policy
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.state import HubState
from orchestratia.protocol.tunnels import TunnelCreate, TunnelPublic

T = TypeVar("T")


async def _run_and_wake(
    db: AsyncSession, hub: HubState, work: Callable[[Outbox], Awaitable[T]]
) -> T:
    result = await run(db, hub, work)
    hub.tunnels_due.set()
    return result


async def create(
    db: AsyncSession, hub: HubState, principal: Principal, body: TunnelCreate, actor: audit.Actor
) -> tunnels.Created:
    """Add the tunnel (its key sealed) with a registration token for the daemon behind it; the
    keeper then asks the server for its host key, for an owner to confirm."""
    hours = hub.settings.registration_token_hours
    # Checked before the transaction: resolving the host may take a while.
    await address_policy.check_host(body.host, body.port, hub.settings.tunnel_allow_private)
    return await _run_and_wake(
        db,
        hub,
        lambda outbox: tunnels.create(db, principal, body, hub.keyring, hours, actor, outbox),
    )


async def confirm_host_key(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    tunnel_id: str,
    fingerprint: str,
    actor: audit.Actor,
) -> SshTunnel:
    return await _run_and_wake(
        db,
        hub,
        lambda outbox: tunnels.confirm_host_key(
            db, principal, tunnel_id, fingerprint, actor, outbox
        ),
    )


async def set_enabled(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    tunnel_id: str,
    enabled: bool,
    actor: audit.Actor,
) -> SshTunnel:
    return await _run_and_wake(
        db,
        hub,
        lambda outbox: tunnels.set_enabled(db, principal, tunnel_id, enabled, actor, outbox),
    )


async def remove(
    db: AsyncSession, hub: HubState, principal: Principal, tunnel_id: str, actor: audit.Actor
) -> None:
    await _run_and_wake(
        db, hub, lambda outbox: tunnels.remove(db, principal, tunnel_id, actor, outbox)
    )


async def new_setup(
    db: AsyncSession, hub: HubState, principal: Principal, tunnel_id: str, actor: audit.Actor
) -> servers.IssuedToken:
    """A fresh registration token for the daemon behind the tunnel (the first one expired)."""

    async def work(_: Outbox) -> servers.IssuedToken:
        row = await tunnels.get(db, principal, tunnel_id, owner=True)
        hours = hub.settings.registration_token_hours
        return await tunnels.issue_setup(db, principal, row, hours, actor)

    return await run(db, hub, work)


async def listing(db: AsyncSession, principal: Principal, project_id: str) -> list[TunnelPublic]:
    return await tunnels.publics(db, await tunnels.list_for_project(db, principal, project_id))


async def one(db: AsyncSession, principal: Principal, tunnel_id: str) -> TunnelPublic:
    return await tunnels.public(db, await tunnels.get(db, principal, tunnel_id))
