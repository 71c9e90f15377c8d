"""Dashboard pages for the team (SPEC §9): a project's members and pending invites, the tenant's
mail settings, and the page an invite link opens. Every change the browser makes goes through
the REST API (``/api/v1/projects/{id}/members``, ``…/invites``, ``/api/v1/settings/mail``,
``/api/v1/invites/accept``); these routes only render."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep
from orchestratia.hub.errors import Forbidden, Gone, NotFound
from orchestratia.hub.services.access import invite_accept, invites, projects
from orchestratia.hub.services.mail import settings as mail_settings
from orchestratia.hub.web.page_context import Page, open_page, open_project_page
from orchestratia.hub.web.rendering import MaybePrincipal, error_page, page_context, templates
from orchestratia.protocol.invites import PASSWORD_MIN

router = APIRouter(include_in_schema=False)
ROLES = ("owner", "member", "viewer")


@router.get("/team", response_class=HTMLResponse)
async def team(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: MaybePrincipal,
    project_id: str | None = None,
) -> Response:
    page = await open_project_page(request, db, hub, principal, project_id, strict=True)
    if not isinstance(page, Page):
        return page
    current = page.current
    if current is None:
        return page.render("team.html", tab="team", members=[], can_manage=False)
    pid = current.project.id
    members = await projects.members(db, page.principal, pid)
    can_manage = current.role == "owner"
    pending = await invites.pending(db, page.principal, pid) if can_manage else []
    return page.render(
        "team.html",
        tab="team",
        pid=pid,
        members=members,
        invites=pending,
        can_manage=can_manage,
        roles=ROLES,
        me=page.principal.user_id,
    )


@router.get("/ui/projects/{project_id}/invites", response_class=HTMLResponse)
async def pending_invites(
    request: Request, project_id: str, db: SessionDep, principal: PrincipalDep
) -> Response:
    """The pending-invites table alone, refreshed after each change."""
    rows = await invites.pending(db, principal, project_id)
    return templates.TemplateResponse(
        request, "_invites.html", {"pid": project_id, "invites": rows, "can_manage": True}
    )


@router.get("/settings/mail", response_class=HTMLResponse)
async def mail_page(
    request: Request, db: SessionDep, hub: HubDep, principal: MaybePrincipal
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    try:
        row = await mail_settings.get(db, page.principal)
    except Forbidden as exc:
        return error_page(request, hub, page.principal, 403, exc.detail)
    return page.render("mail_settings.html", tab="mail", mail=row)


@router.get("/invite/{token}", response_class=HTMLResponse)
async def invite_page(
    request: Request, token: str, db: SessionDep, hub: HubDep, principal: MaybePrincipal
) -> Response:
    """What the link offers, and the one step it takes: set a password (a new address), join
    (the invited user, logged in) or log in first. A dead link says why."""
    context = page_context(request, hub, principal, token=token, password_min=PASSWORD_MIN)
    try:
        found = await invite_accept.view(db, token)
    except (Gone, NotFound) as exc:
        context.update(problem=exc.detail)
        status = 410 if isinstance(exc, Gone) else 404
        response = templates.TemplateResponse(request, "invite.html", context, status_code=status)
    else:
        context.update(found=found, invite=found.invite)
        response = templates.TemplateResponse(request, "invite.html", context)
    # The link is a secret: never sent on as a referrer, never kept in a cache.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
