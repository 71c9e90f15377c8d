"""Terminal sessions: start, list, close/kill, recording, text view and share links."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse

from orchestratia.hub.actions import sessions as session_actions
from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.api.scopes import needs
from orchestratia.hub.api.servers import PublicUrlDep
from orchestratia.hub.errors import Conflict
from orchestratia.hub.services.access import share_links
from orchestratia.hub.services.fleet import recording, sessions
from orchestratia.hub.ws.daemon_routing import send_to_daemon
from orchestratia.protocol.numbers import OFFSET_MAX
from orchestratia.protocol.rest import (
    SessionCreate,
    SessionList,
    SessionPublic,
    ShareLinkCreate,
    ShareLinkPublic,
)
from orchestratia.protocol.sessions import CaptureScrollbackFrame
from orchestratia.protocol.share_links import ShareLinkList, ShareLinkSummary

router = APIRouter(tags=["sessions"])
OUTPUT_LIMIT = 4 * 1024 * 1024
SCROLLBACK_TIMEOUT = 5.0
# The recorded output is bytes, not JSON: say so in the OpenAPI description.
RAW_BYTES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    }
}


@router.post("/api/v1/sessions", status_code=201, dependencies=[needs("sessions:write")])
async def start_session(
    body: SessionCreate, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> SessionPublic:
    s = await session_actions.start(db, hub, principal, body, actor)
    return sessions.to_public(s)


@router.get("/api/v1/sessions", dependencies=[needs("sessions:read")])
async def list_sessions(
    project_id: Annotated[str, Query(min_length=1, max_length=64)],
    principal: PrincipalDep,
    db: SessionDep,
) -> SessionList:
    rows = await sessions.list_for_project(db, principal, project_id)
    return SessionList(sessions=[sessions.to_public(s) for s in rows])


@router.get("/api/v1/sessions/{session_id}", dependencies=[needs("sessions:read")])
async def get_session(session_id: str, principal: PrincipalDep, db: SessionDep) -> SessionPublic:
    return sessions.to_public(await sessions.get(db, principal, session_id))


async def _end(
    session_id: str,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
    kill: bool,
) -> Response:
    await session_actions.end(db, hub, principal, session_id, actor, kill=kill)
    return Response(status_code=202)


@router.post(
    "/api/v1/sessions/{session_id}/close",
    status_code=202,
    response_class=Response,
    dependencies=[needs("sessions:write")],
)
async def close_session(
    session_id: str, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> Response:
    return await _end(session_id, principal, db, hub, actor, kill=False)


@router.post(
    "/api/v1/sessions/{session_id}/kill",
    status_code=202,
    response_class=Response,
    dependencies=[needs("sessions:write")],
)
async def kill_session(
    session_id: str, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> Response:
    return await _end(session_id, principal, db, hub, actor, kill=True)


@router.get(
    "/api/v1/sessions/{session_id}/output",
    response_class=Response,
    responses=RAW_BYTES,
    dependencies=[needs("sessions:read")],
)
async def session_output(
    session_id: str,
    principal: PrincipalDep,
    db: SessionDep,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=OUTPUT_LIMIT)] = OUTPUT_LIMIT,
) -> Response:
    """Raw recorded bytes from ``offset``; the header says where they really start."""
    s = await sessions.get(db, principal, session_id)
    start, data = await recording.read(db, s.id, offset, limit)
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={
            "X-Orchestratia-Offset": str(start),
            "X-Orchestratia-End": str(s.output_offset),
        },
    )


@router.get(
    "/api/v1/sessions/{session_id}/scrollback",
    response_class=PlainTextResponse,
    dependencies=[needs("sessions:read")],
)
async def scrollback(
    session_id: str, principal: PrincipalDep, db: SessionDep, hub: HubDep
) -> PlainTextResponse:
    """The session's text view (screen plus history), captured by its daemon."""
    s = await sessions.get(db, principal, session_id)
    request_id = uuid.uuid4().hex
    reply = hub.scrollbacks.expect(request_id, s.server_id, s.id)
    try:
        frame = CaptureScrollbackFrame(session_id=s.id, request_id=request_id)
        if s.status not in sessions.LIVE or not await send_to_daemon(hub, s.server_id, frame):
            raise Conflict("session is not live on a connected server; use /output instead")
        try:
            captured = await asyncio.wait_for(reply, SCROLLBACK_TIMEOUT)
        except TimeoutError:
            raise Conflict("the daemon did not answer in time") from None
    finally:
        hub.scrollbacks.forget(request_id)
    if captured.error is not None:
        raise Conflict(f"the daemon could not capture the text view: {captured.error}")
    return PlainTextResponse(captured.content)


@router.post(
    "/api/v1/sessions/{session_id}/share", status_code=201, dependencies=[needs("sessions:write")]
)
async def share(
    session_id: str,
    body: ShareLinkCreate,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
    base: PublicUrlDep,
) -> ShareLinkPublic:
    link, token = await session_actions.share(
        db, hub, principal, session_id, body.mode, body.expires_in_hours, actor
    )
    return ShareLinkPublic(
        id=link.id,
        session_id=link.session_id,
        mode=link.mode,
        url=f"{base}/share/{token}",
        token=token,
        expires_at=link.expires_at,
    )


@router.get("/api/v1/sessions/{session_id}/share-links", dependencies=[needs("sessions:read")])
async def share_links_of(session_id: str, principal: PrincipalDep, db: SessionDep) -> ShareLinkList:
    """The session's active read-only links (their secrets are shown only when made)."""
    rows = await share_links.active(db, principal, session_id)
    return ShareLinkList(
        links=[
            ShareLinkSummary(
                id=link.id,
                session_id=link.session_id,
                mode=link.mode,
                created_at=link.created_at,
                expires_at=link.expires_at,
                created_by=email,
            )
            for link, email in rows
        ]
    )


@router.delete(
    "/api/v1/share-links/{link_id}", status_code=204, dependencies=[needs("sessions:write")]
)
async def revoke_share(
    link_id: str, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> Response:
    await session_actions.revoke_share(db, hub, principal, link_id, actor)
    return Response(status_code=204)
