"""What every dashboard page shares: the template environment, the optional login, the base
context (CSRF token for htmx and fetch) and the project picked by ``?project_id=`` or cookie."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from orchestratia import __version__
from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.api.deps import MaybePrincipal as MaybePrincipal  # pages import it here
from orchestratia.hub.security import csrf_token_for
from orchestratia.hub.services.access import projects
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import ProjectAccess

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
PROJECT_COOKIE = "orc_project"


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


templates.env.filters["compact_json"] = compact_json


def page_context(
    request: Request, hub: HubDep, principal: Principal | None, **extra: Any
) -> dict[str, Any]:
    token = request.cookies.get("orc_session", "") if principal is not None else ""
    return {
        "principal": principal,
        "csrf_token": csrf_token_for(hub.secret_key, token) if token else "",
        "version": __version__,
        **extra,
    }


async def pick_project(
    request: Request, db: SessionDep, principal: Principal, project_id: str | None
) -> tuple[list[ProjectAccess], ProjectAccess | None]:
    """The caller's projects and the one to show: ``?project_id=``, else the cookie, else the
    first."""
    available = await projects.list_for(db, principal)
    wanted = project_id or request.cookies.get(PROJECT_COOKIE)
    current = next((a for a in available if a.project.id == wanted), None)
    if current is None and available:
        current = available[0]
    return available, current


def remember_project(response: Response, current: ProjectAccess | None, secure: bool) -> Response:
    if current is not None:
        response.set_cookie(
            PROJECT_COOKIE, current.project.id, httponly=True, samesite="lax", secure=secure
        )
    return response


# Where an error page leads back to: the list the missing thing would be found in.
BACK_LINKS = {
    "tasks": ("/tasks", "Back to the task board"),
    "pipelines": ("/tasks", "Back to the task board"),
    "sessions": ("/sessions", "Back to sessions"),
    "inbox": ("/inbox", "Back to the inbox"),
    "permissions": ("/permissions", "Back to permissions"),
    "activity": ("/activity", "Back to activity"),
}
DEFAULT_BACK = ("/fleet", "Back to the fleet")


def back_link(path: str) -> tuple[str, str]:
    """The (href, label) of the list page for the section ``path`` is in."""
    return BACK_LINKS.get(path.strip("/").split("/", 1)[0], DEFAULT_BACK)


def error_page(
    request: Request, hub: HubDep, principal: Principal | None, status: int, message: str
) -> HTMLResponse:
    """A human page for a missing or forbidden resource (the API answers JSON instead)."""
    titles = {401: "Not authorized", 403: "Forbidden", 404: "Not found", 409: "Conflict"}
    title = titles.get(status, "Error")
    context = page_context(
        request, hub, principal, status=status, title=title, message=message,
        back=back_link(request.url.path),
    )  # fmt: skip
    return templates.TemplateResponse(request, "error.html", context, status_code=status)
