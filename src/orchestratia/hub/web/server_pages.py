"""One server's page (SPEC §9, fleet): who it is, how it is, what runs on it, its load over
the last day, and, for the project's owners, rename, relabel, revoke its key and remove it.
The buttons call ``/api/v1/servers/{id}`` from static/server.js."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import NotFound
from orchestratia.hub.services.access import projects
from orchestratia.hub.services.fleet import samples, servers, sessions
from orchestratia.hub.web import load_chart
from orchestratia.hub.web.page_context import Page, open_page
from orchestratia.hub.web.rendering import MaybePrincipal

router = APIRouter(include_in_schema=False)


@router.get("/servers/{server_id}", response_class=HTMLResponse)
async def server_page(
    request: Request, server_id: str, db: SessionDep, hub: HubDep, principal: MaybePrincipal
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    try:
        row = await servers.get(db, page.principal, server_id)
    except NotFound as exc:
        return page.not_found(exc.detail)
    acc = await projects.access(db, page.principal, row.project_id)
    now = utcnow()
    readings = await samples.since(db, row, now - load_chart.SPAN - timedelta(minutes=1))
    on_it = [
        sessions.to_public(s)
        for s in await sessions.list_for_project(db, page.principal, row.project_id)
        if s.server_id == row.id
    ]
    return page.render(
        "server.html",
        active="fleet",
        server=servers.to_public(row),
        protocol=row.protocol,
        connected=row.connected,
        disconnected_at=row.disconnected_at,
        project=acc.project,
        can_manage=acc.role == "owner",
        sessions=on_it,
        chart=load_chart.history(readings, now),
    )
