"""The Audit page (SPEC §9): the audit log with the API's filters, pages of rows loaded by
cursor ("load more"), and the exports. It reads through the same service as ``/api/v1/audit``;
``/ui/audit/rows`` renders rows with the same template, so their markup lives in one place."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep
from orchestratia.hub.errors import Forbidden, HubError, Invalid, NotFound
from orchestratia.hub.services import audit_log
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import list_for
from orchestratia.hub.validation_messages import human_message
from orchestratia.hub.web.page_context import Page, open_page
from orchestratia.hub.web.rendering import MaybePrincipal, error_page, templates
from orchestratia.protocol.audit import AuditEventPublic, AuditFilters, AuditQuery

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
SUMMARY_CHARS = 120


def summary(event: AuditEventPublic) -> str:
    """The details in one short line: ``key=value`` pairs, cut to fit a table cell."""
    parts = [f"{k}={v}" for k, v in event.details.items() if v not in (None, "", [], {})]
    text = ", ".join(parts)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def _query(request: Request) -> AuditQuery:
    """The page's filters from its query string; Invalid names the first bad field."""
    params: dict[str, Any] = {"limit": PAGE_SIZE, **dict(request.query_params)}
    try:
        return AuditQuery.model_validate(params)
    except ValidationError as exc:
        raise Invalid(human_message(exc.errors()[0])) from None


async def _rows(
    request: Request, db: SessionDep, hub: HubDep, principal: Principal, q: AuditQuery
) -> dict[str, Any]:
    found = await audit_log.page(db, principal, q, hub.secret_key)
    filters = q.filters()
    more = None
    if found.next_cursor:
        wanted = {k: v for k, v in request.query_params.items() if k not in ("cursor", "limit")}
        more = urlencode({**wanted, "cursor": found.next_cursor})
    names = {a.project.id: a.project.name for a in await list_for(db, principal)}
    return {
        "events": found.events,
        "more": more,
        "filters": filters,
        "summary": summary,
        "project_names": names,
    }


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request, db: SessionDep, hub: HubDep, principal: MaybePrincipal
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    owned = [a for a in await list_for(db, page.principal) if a.role == "owner"]
    context: dict[str, Any] = {
        "events": [],
        "more": None,
        "filters": AuditFilters(),
        "project_names": {},
    }
    error = None
    try:
        q = _query(request)
        context["filters"] = q.filters()
        context.update(await _rows(request, db, hub, page.principal, q))
    except Invalid as exc:
        error = exc.detail
    except (Forbidden, NotFound) as exc:
        return error_page(request, hub, page.principal, exc.status_code, exc.detail)
    status = 422 if error else 200
    response = page.render("audit.html", tab="audit", projects=owned, error=error, **context)
    response.status_code = status
    return response


@router.get("/ui/audit/rows", response_class=HTMLResponse)
async def audit_rows(
    request: Request, db: SessionDep, hub: HubDep, principal: PrincipalDep
) -> Response:
    """Rows for the table: a filtered first page, or the page after a cursor ("load more").
    A refusal is one row saying why, with its status (static/audit.js shows it)."""
    try:
        context = await _rows(request, db, hub, principal, _query(request))
    except HubError as exc:
        context = {"events": [], "more": None, "error": exc.detail, "project_names": {}}
        return templates.TemplateResponse(
            request, "_audit_rows.html", context, status_code=exc.status_code
        )
    return templates.TemplateResponse(request, "_audit_rows.html", context)
