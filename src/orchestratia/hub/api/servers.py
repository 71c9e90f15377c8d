"""Registration, liveness and the fleet listing (SPEC §5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from orchestratia.hub.actions import fleet
from orchestratia.hub.api.deps import (
    ActorDep,
    HubDep,
    PrincipalDep,
    ServerDep,
    SessionDep,
    UserActorDep,
)
from orchestratia.hub.api.scopes import PUBLIC, SERVER_KEY, needs
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.fleet import samples, servers
from orchestratia.protocol.fleet_admin import ServerEdit, ServerSampleList, ServerSamplePublic
from orchestratia.protocol.rest import (
    HeartbeatRequest,
    HeartbeatResponse,
    RegisterRequest,
    RegisterResponse,
    RegistrationTokenCreate,
    RegistrationTokenPublic,
    ServerList,
    ServerPublic,
)

router = APIRouter(prefix="/api/v1/servers", tags=["servers"])


def hub_url(request: Request, configured: str | None) -> str:
    return (configured or str(request.base_url)).rstrip("/")


def public_url(request: Request, hub: HubDep) -> str:
    """The hub's address for links and tokens handed out: the configured one, else the one
    the request came to."""
    return hub_url(request, hub.settings.public_url)


PublicUrlDep = Annotated[str, Depends(public_url)]


def install_command(token: str) -> str:
    return (
        f"pip install orchestratia && orchestratia agent register {token} && orchestratia agent run"
    )


@router.post("/tokens", status_code=201, dependencies=[needs("admin")])
async def create_token(
    body: RegistrationTokenCreate,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
    url: PublicUrlDep,
) -> RegistrationTokenPublic:
    issued = await fleet.issue_token(
        db, hub, principal, body.project_id, url, body.expires_in_hours, actor
    )
    return RegistrationTokenPublic(
        token=issued.token,
        expires_at=issued.expires_at,
        install_command=install_command(issued.token),
    )


@router.post("/register", dependencies=[PUBLIC])
async def register(
    body: RegisterRequest, request: Request, db: SessionDep, hub: HubDep, actor: ActorDep
) -> RegisterResponse:
    # The public agent always reports 0.0.0.0; the socket tells the truth.
    if not body.ip or body.ip == "0.0.0.0":
        body.ip = actor.ip
    done = await fleet.register(db, hub, body, actor)
    return RegisterResponse(
        id=done.server.id,
        api_key=done.api_key,
        name=done.server.name,
        project_id=done.server.project_id,
    )


@router.post("/heartbeat", dependencies=[SERVER_KEY])
async def heartbeat(
    body: HeartbeatRequest, server: ServerDep, db: SessionDep, hub: HubDep
) -> HeartbeatResponse:
    await fleet.heartbeat(db, hub, server.id, body.system_info)
    return HeartbeatResponse(server_id=server.id)


@router.get("", dependencies=[needs("servers:read")])
async def list_servers(
    project_id: Annotated[str, Query(min_length=1, max_length=64)],
    principal: PrincipalDep,
    db: SessionDep,
) -> ServerList:
    rows = await servers.list_for_project(db, principal, project_id)
    return ServerList(servers=[servers.to_public(s) for s in rows])


@router.get("/{server_id}", dependencies=[needs("servers:read")])
async def get_server(server_id: str, principal: PrincipalDep, db: SessionDep) -> ServerPublic:
    return servers.to_public(await servers.get(db, principal, server_id))


@router.post("/{server_id}/revoke-keys", status_code=204, dependencies=[needs("admin")])
async def revoke_keys(
    server_id: str, principal: PrincipalDep, db: SessionDep, actor: UserActorDep, hub: HubDep
) -> Response:
    await fleet.revoke_keys(db, hub, principal, server_id, actor)
    return Response(status_code=204)


@router.patch("/{server_id}", dependencies=[needs("admin")])
async def edit_server(
    server_id: str,
    body: ServerEdit,
    principal: PrincipalDep,
    db: SessionDep,
    actor: UserActorDep,
    hub: HubDep,
) -> ServerPublic:
    """Rename or relabel a server (the project's owners)."""
    return servers.to_public(await fleet.edit(db, hub, principal, server_id, body, actor))


@router.delete("/{server_id}", status_code=204, dependencies=[needs("admin")])
async def remove_server(
    server_id: str,
    principal: PrincipalDep,
    db: SessionDep,
    actor: UserActorDep,
    hub: HubDep,
    force: bool = False,
) -> Response:
    """Remove a server: its keys are revoked and its daemon hung up on; its sessions and tasks
    keep their history. Refused (409) while it has live sessions, unless ``force`` (they are
    marked lost and their tasks released)."""
    await fleet.remove(db, hub, principal, server_id, force, actor)
    return Response(status_code=204)


@router.get("/{server_id}/samples", dependencies=[needs("servers:read")])
async def server_samples(
    server_id: str,
    principal: PrincipalDep,
    db: SessionDep,
    hours: Annotated[int, Query(ge=1, le=24 * 7)] = 24,
) -> ServerSampleList:
    """The server's load readings (one a minute at most) over the last ``hours``."""
    server = await servers.get(db, principal, server_id)
    rows = await samples.since(db, server, utcnow() - timedelta(hours=hours))
    return ServerSampleList(
        server_id=server.id,
        samples=[
            ServerSamplePublic(
                at=r.created_at,
                cpu_percent=r.cpu_percent,
                memory_percent=r.memory_percent,
                disk_percent=r.disk_percent,
                load1=r.load1,
            )
            for r in rows
        ],
    )
