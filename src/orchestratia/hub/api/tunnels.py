"""SSH tunnel mode (SPEC §12): servers the hub dials over SSH because they may not dial out.

An owner adds one (``POST``) with its SSH address, user and key (or has the hub make a key and
puts its public half into authorized_keys), confirms the host key fingerprint the server
presented, and runs the daemon there with the setup the reply hands over."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from orchestratia.hub.actions import tunnels
from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.api.scopes import needs
from orchestratia.hub.api.servers import install_command
from orchestratia.hub.services.fleet import servers
from orchestratia.protocol.tokens import decode_hub_url
from orchestratia.protocol.tunnels import (
    HostKeyConfirm,
    TunnelCreate,
    TunnelCreated,
    TunnelEdit,
    TunnelList,
    TunnelPublic,
    TunnelSetup,
)

router = APIRouter(prefix="/api/v1/tunnels", tags=["tunnels"])


def setup_of(issued: servers.IssuedToken) -> TunnelSetup:
    return TunnelSetup(
        token=issued.token,
        hub_url=decode_hub_url(issued.token),
        expires_at=issued.expires_at,
        install_command=install_command(issued.token),
    )


@router.post("", status_code=201, dependencies=[needs("servers:write")])
async def create_tunnel(
    body: TunnelCreate, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> TunnelCreated:
    """Add a server reached over SSH. It waits in ``pending_confirmation`` until an owner
    confirms the host key fingerprint it presents (``offered_fingerprint``)."""
    made = await tunnels.create(db, hub, principal, body, actor)
    shown = await tunnels.one(db, principal, made.tunnel.id)
    return TunnelCreated(**shown.model_dump(), setup=setup_of(made.token))


@router.get("", dependencies=[needs("servers:read")])
async def list_tunnels(
    project_id: Annotated[str, Query(min_length=1, max_length=64)],
    principal: PrincipalDep,
    db: SessionDep,
) -> TunnelList:
    return TunnelList(tunnels=await tunnels.listing(db, principal, project_id))


@router.get("/{tunnel_id}", dependencies=[needs("servers:read")])
async def get_tunnel(tunnel_id: str, principal: PrincipalDep, db: SessionDep) -> TunnelPublic:
    return await tunnels.one(db, principal, tunnel_id)


@router.post("/{tunnel_id}/confirm-host-key", dependencies=[needs("servers:write")])
async def confirm_host_key(
    tunnel_id: str,
    body: HostKeyConfirm,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> TunnelPublic:
    """Pin the host key the server presented (its fingerprint, as shown, proves the owner
    looked at it); 409 when it is not the presented key's."""
    row = await tunnels.confirm_host_key(db, hub, principal, tunnel_id, body.fingerprint, actor)
    return await tunnels.one(db, principal, row.id)


@router.patch("/{tunnel_id}", dependencies=[needs("servers:write")])
async def edit_tunnel(
    tunnel_id: str,
    body: TunnelEdit,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> TunnelPublic:
    """Enable or disable: a disabled tunnel is closed and stays closed."""
    row = await tunnels.set_enabled(db, hub, principal, tunnel_id, body.enabled, actor)
    return await tunnels.one(db, principal, row.id)


@router.post("/{tunnel_id}/setup", status_code=201, dependencies=[needs("servers:write")])
async def new_setup(
    tunnel_id: str, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> TunnelSetup:
    """A new registration token for the daemon behind the tunnel, with the command to run."""
    return setup_of(await tunnels.new_setup(db, hub, principal, tunnel_id, actor))


@router.delete("/{tunnel_id}", status_code=204, dependencies=[needs("servers:write")])
async def remove_tunnel(
    tunnel_id: str, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> Response:
    await tunnels.remove(db, hub, principal, tunnel_id, actor)
    return Response(status_code=204)
