"""Dashboard pages of live terminals: the sessions grid, one session's terminal, and the read-only
view behind a share link. The terminal itself talks to ``/ws/sessions/{id}/view`` from the
browser (static/terminal.js); these routes only render the page around it."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep
from orchestratia.hub.errors import NotFound, Unauthorized
from orchestratia.hub.services.access import projects, share_links
from orchestratia.hub.services.fleet import activity, grid, servers, sessions
from orchestratia.hub.web.page_context import Page, open_page, open_project_page
from orchestratia.hub.web.rendering import MaybePrincipal, error_page, page_context, templates
from orchestratia.hub.web.stop_all_pages import stop_all_context
from orchestratia.protocol.rest import ServerPublic

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Preset:
    """A choice in the start dialog: what runs in the new session."""

    key: str
    label: str
    command: str | None  # None: the user's login shell (or, for "custom", what they type)
    agent_type: str | None


PRESETS = (
    Preset("shell", "Shell", None, None),
    Preset("claude", "Claude Code", "claude", "claude"),
    Preset("gemini", "Gemini CLI", "gemini", "gemini"),
    Preset("codex", "Codex", "codex", "codex"),
    Preset("aider", "Aider", "aider", "aider"),
    Preset("custom", "Custom command…", None, None),
)


ALL_PROJECTS = "all"


@router.get("/sessions", response_class=HTMLResponse)
async def sessions_page(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: MaybePrincipal,
    project_id: str | None = None,
) -> Response:
    everything = project_id == ALL_PROJECTS
    page = await open_project_page(request, db, hub, principal, None if everything else project_id)
    if not isinstance(page, Page):
        return page
    shown = (page.projects or []) if everything else ([page.current] if page.current else [])
    tiles: list[grid.Tile] = []
    on: list[ServerPublic] = []
    for acc in shown:
        pid, who = acc.project.id, page.principal
        tiles += await grid.for_project(db, who, pid, hub.grid.clock, hub.grid.idle_after)
        if acc.can_write:
            on += [servers.to_public(s) for s in await servers.list_for_project(db, who, pid)]
    return page.render(
        "sessions.html",
        active="sessions",
        all_projects=everything,
        shown=shown,
        writable={acc.project.id for acc in shown if acc.can_write},
        tiles=sorted(tiles, key=lambda t: activity.sort_key(t.state, t.session.name)),
        servers=on,
        agents=sorted({t.session.agent_type for t in tiles if t.session.agent_type}),
        states=activity.SORT_ORDER,
        presets=PRESETS,
        # The kill switch acts on one project: not offered on the all-projects grid.
        **({} if everything else await stop_all_context(db, page)),
    )


@router.get("/ui/sessions/{session_id}/card", response_class=HTMLResponse)
async def session_card(
    request: Request,
    session_id: str,
    db: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    all_projects: bool = False,
) -> Response:
    tile = await grid.one(db, principal, session_id, hub.grid.clock, hub.grid.idle_after)
    acc = await projects.access(db, principal, tile.session.project_id)
    context = {"tile": tile, "can_write": acc.can_write, "project_name": acc.project.name}
    if all_projects:
        context["all_projects"] = True
    return templates.TemplateResponse(request, "_session_card.html", context)


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(
    request: Request, session_id: str, db: SessionDep, hub: HubDep, principal: MaybePrincipal
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    try:
        row = await sessions.get(db, page.principal, session_id)
    except NotFound as exc:
        return page.not_found(exc.detail)
    acc = await projects.access(db, page.principal, row.project_id)
    server = servers.to_public(
        await servers.get(db, page.principal, row.server_id, removed_too=True)
    )
    return page.render(
        "session.html",
        active="sessions",
        session=sessions.to_public(row),
        server=server,
        project=acc.project,
        read_only=not acc.can_write,
    )


@router.get("/share/{token}", response_class=HTMLResponse)
async def share_page(request: Request, token: str, db: SessionDep, hub: HubDep) -> Response:
    """Read-only view for anyone holding the link; no login, no project access."""
    try:
        row = await share_links.resolve(db, token)
    except Unauthorized:
        response: Response = error_page(
            request, hub, None, 404, "This share link is invalid, revoked or expired."
        )
    else:
        response = templates.TemplateResponse(
            request,
            "share.html",
            page_context(request, hub, None, session=sessions.to_public(row), share_token=token),
        )
    # The token is in the URL: never send it on as a Referer from links opened in the terminal,
    # and keep it out of shared caches.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
