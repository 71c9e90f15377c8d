"""Server-rendered dashboard pages (Jinja2 + htmx). Data changes go through the same services as the
REST API; pages only shape HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from orchestratia import __version__
from orchestratia.hub.actions import access as access_actions
from orchestratia.hub.actions import fleet as fleet_actions
from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.api.servers import hub_url, install_command
from orchestratia.hub.services.access import projects
from orchestratia.hub.services.fleet import servers
from orchestratia.hub.services.fleet.hub_urls import BadHubUrl, clean_hub_url, is_loopback
from orchestratia.hub.web import (
    pipeline_pages,
    pwa_pages,
    server_pages,
    terminal_pages,
    tunnel_pages,
)
from orchestratia.hub.web.page_context import Page, open_project_page
from orchestratia.hub.web.rendering import (
    MaybePrincipal,
    templates,
)
from orchestratia.protocol.rest import NotBlank

# The ICO holds 16, 32 and 48 px renderings of favicon.svg (the source, linked for browsers that
# take SVG icons).
FAVICON = Path(__file__).parent / "static" / "favicon.ico"

router = APIRouter(include_in_schema=False)
router.include_router(terminal_pages.router)
router.include_router(pwa_pages.router)
router.include_router(server_pages.router)
router.include_router(pipeline_pages.router)
router.include_router(tunnel_pages.router)


@router.get("/")
async def index() -> RedirectResponse:
    """The overview; it sends someone not logged in on to the login page."""
    return RedirectResponse("/overview", status_code=303)


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """Browsers ask for it on every site whatever the page links; a 404 fills logs and tabs."""
    return FileResponse(
        FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, principal: MaybePrincipal) -> Response:
    if principal is not None:
        return RedirectResponse("/overview", status_code=303)
    return templates.TemplateResponse(request, "login.html", {"version": __version__})


@router.get("/fleet", response_class=HTMLResponse)
async def fleet(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: MaybePrincipal,
    project_id: str | None = None,
) -> Response:
    page = await open_project_page(request, db, hub, principal, project_id)
    if not isinstance(page, Page):
        return page
    current = page.current
    if current is None:
        return page.render("fleet.html", servers=[])
    rows = await servers.list_for_project(db, page.principal, current.project.id)
    via = await tunnel_pages.fleet_tunnels(db, page.principal, current.project.id)
    return page.render(
        "fleet.html",
        servers=[servers.to_public(s) for s in rows],
        tunnels=via.tunnels,
        tunnel_of=via.by_server,
        is_owner=via.is_owner,
        state_labels=tunnel_pages.STATE_LABELS,
    )


@router.get("/ui/servers/{server_id}/row", response_class=HTMLResponse)
async def server_row(
    request: Request, server_id: str, db: SessionDep, principal: PrincipalDep
) -> Response:
    server = servers.to_public(await servers.get(db, principal, server_id))
    via = await tunnel_pages.fleet_tunnels(db, principal, server.project_id)
    context = {
        "server": server,
        "tunnel_of": via.by_server,
        "state_labels": tunnel_pages.STATE_LABELS,
    }
    return templates.TemplateResponse(request, "_server_row.html", context)


@router.post("/ui/projects", response_class=HTMLResponse)
async def create_project(
    name: Annotated[str, Form(min_length=1, max_length=120, pattern=r"^[^\x00]+$"), NotBlank],
    db: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    actor: UserActorDep,
) -> Response:
    acc = await access_actions.create_project(db, hub, principal, name.strip(), actor)
    response = Response(
        status_code=204, headers={"HX-Redirect": f"/fleet?project_id={acc.project.id}"}
    )
    return response


@router.post("/ui/projects/{project_id}/register-token", response_class=HTMLResponse)
async def register_token(
    request: Request,
    project_id: str,
    db: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    actor: UserActorDep,
    url: Annotated[str | None, Form(alias="hub_url", max_length=2048)] = None,
) -> Response:
    """The dialog with a new token. ``hub_url`` (typed in the dialog) replaces the configured
    URL for this token only; a loopback URL gets a warning, as other machines cannot reach it."""
    context: dict[str, object] = {"project_id": project_id, "hub_url": url or ""}
    try:
        url = clean_hub_url(url) if url else hub_url(request, hub.settings.public_url)
    except BadHubUrl as exc:
        await projects.access(db, principal, project_id, write=True)  # its 404 comes first
        context["error"] = str(exc)
        return templates.TemplateResponse(request, "_register_token.html", context, 422)
    issued = await fleet_actions.issue_token(
        db, hub, principal, project_id, url, hub.settings.registration_token_hours, actor
    )
    context.update(
        token=issued.token,
        expires_at=issued.expires_at,
        install_command=install_command(issued.token),
        embedded_url=url,
        loopback=is_loopback(url),
    )
    return templates.TemplateResponse(request, "_register_token.html", context)
