"""The tenant-wide inbox for the human in the loop (SPEC §8): help requests, plan reviews and
approvals waiting on a person.

The page reads through the same service as ``/api/v1/inbox``; every decision the browser makes
goes through that API (static/inbox.js), and live updates arrive over ``/ws/dashboard``. The
``/ui/inbox/items`` partial re-renders the list with the same template, so its markup lives in
one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import NotFound
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import list_for
from orchestratia.hub.services.inbox import items as inbox
from orchestratia.hub.web.fleet_names import load_fleet
from orchestratia.hub.web.page_context import Page, open_page, person_caller
from orchestratia.hub.web.rendering import MaybePrincipal, templates
from orchestratia.protocol.inbox import InboxKind

router = APIRouter(include_in_schema=False)

Ident = Annotated[str | None, Query(max_length=64)]
FilterText = Annotated[str, Query(max_length=64)]
KINDS: tuple[str, ...] = get_args(InboxKind)
KIND_LABELS = {
    "intervention": "Help request",
    "plan_review": "Plan review",
    "task_approval": "Task approval",
    "tool_approval": "Tool call",
    "session_lost": "Session lost",
}


def age(value: str | datetime) -> str:
    """How long ago, coarsely ("40 s", "3 min", "2 h", "5 d"); static/inbox.js keeps it fresh."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    seconds = max(0, int((utcnow() - when).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


templates.env.filters["age"] = age


@dataclass(frozen=True)
class InboxFilters:
    project: str
    server: str
    session: str
    kind: str

    def query(self) -> inbox.Filters:
        return inbox.Filters(
            self.project or None, self.server or None, self.session or None, self.kind or None
        )

    @property
    def any(self) -> bool:
        return bool(self.project or self.server or self.session or self.kind)


async def _inbox_context(
    request: Request, db: SessionDep, principal: Principal, filters: InboxFilters
) -> dict[str, Any] | None:
    """Everything the inbox list shows; None when the filter names a project the caller does
    not see (another tenant's, or one they are not a member of)."""
    available = await list_for(db, principal)
    names = {a.project.id: a.project.name for a in available}
    if filters.project and filters.project not in names:
        return None
    followed = [filters.project] if filters.project else list(names)
    fleet = await load_fleet(db, principal, followed)
    items = await inbox.pending(db, person_caller(request, principal), filters.query())
    server_names = fleet.server_names
    for item in items:
        # A tool call raised with the server key alone names no session, only its server.
        if item.get("server_name") is None and item.get("server_id"):
            item["server_name"] = server_names.get(item["server_id"])
        item["project_name"] = names.get(item["project_id"], "")
        item["label"] = KIND_LABELS[item["kind"]]
    writable = [a.project.id for a in available if a.can_write]
    return {
        "items": items,
        "projects": available,
        "project_names": names,
        "followed": followed,
        "writable": writable,
        "filters": filters,
        "kinds": KIND_LABELS,
        "server_choices": fleet.servers,
        "session_choices": fleet.session_choices,
    }


def _inbox_filters(
    project_id: str | None, project: str | None, server: str, session: str, kind: str
) -> InboxFilters:
    return InboxFilters(
        (project_id or project or "").strip(),
        server.strip(),
        session.strip(),
        kind if kind in KINDS else "",
    )


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: MaybePrincipal,
    project_id: Ident = None,
    project: Ident = None,
    server: FilterText = "",
    session: FilterText = "",
    kind: FilterText = "",
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    filters = _inbox_filters(project_id, project, server, session, kind)
    context = await _inbox_context(request, db, page.principal, filters)
    if context is None:
        return page.not_found("project not found")
    return page.render("inbox.html", active="inbox", **context)


@router.get("/ui/inbox/items", response_class=HTMLResponse)
async def inbox_items(
    request: Request,
    db: SessionDep,
    principal: PrincipalDep,
    project_id: Ident = None,
    project: Ident = None,
    server: FilterText = "",
    session: FilterText = "",
    kind: FilterText = "",
) -> Response:
    """The list alone, re-fetched by static/inbox.js when a live event says it changed."""
    filters = _inbox_filters(project_id, project, server, session, kind)
    context = await _inbox_context(request, db, principal, filters)
    if context is None:
        raise NotFound("project not found")
    return templates.TemplateResponse(request, "_inbox_items.html", context)
