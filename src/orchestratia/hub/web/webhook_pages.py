"""The Webhooks page (SPEC §9): the endpoints of the projects the signed-in person owns, with
their health, a form to add one (its secret shown once), and each endpoint's page with its
delivery log. The browser changes things through ``/api/v1/webhooks`` (static/webhooks.js), so
the page and the API cannot disagree; these routes only render."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep
from orchestratia.hub.api.webhooks import to_public
from orchestratia.hub.db.integration_models import WebhookEndpoint
from orchestratia.hub.errors import HubError, Invalid
from orchestratia.hub.services.access.projects import list_for
from orchestratia.hub.services.integrations import webhook_endpoints as endpoints
from orchestratia.hub.services.integrations import webhook_log
from orchestratia.hub.validation_messages import human_message
from orchestratia.hub.web.page_context import Page, open_page
from orchestratia.hub.web.rendering import MaybePrincipal, error_page, templates
from orchestratia.protocol.integration_events import EventType
from orchestratia.protocol.webhooks import (
    MAX_DESCRIPTION_CHARS,
    MAX_OVERLAP_HOURS,
    MAX_URL_CHARS,
    DeliveryQuery,
)

router = APIRouter(include_in_schema=False)
LOG_PAGE = 25

EVENT_MEANINGS: list[tuple[EventType, str]] = [
    ("task.created", "a task was created"),
    ("task.assigned", "a task was given to a session"),
    ("task.status_changed", "a task moved to another state"),
    ("task.completed", "a task finished"),
    ("task.failed", "a task failed"),
    ("intervention.created", "an agent asks a person"),
    ("intervention.responded", "a person answered an agent"),
    ("session.started", "a terminal session started"),
    ("session.closed", "a terminal session ended"),
    ("server.online", "a server connected"),
    ("server.offline", "a server went away"),
    ("approval.requested", "a tool call waits for approval"),
    ("approval.decided", "a tool call was approved or denied"),
]
LIMITS = {
    "url_max": MAX_URL_CHARS,
    "description_max": MAX_DESCRIPTION_CHARS,
    "overlap_max": MAX_OVERLAP_HOURS,
    "endpoints_max": endpoints.MAX_ENDPOINTS_PER_PROJECT,
}


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks_page(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: MaybePrincipal,
    project_id: str | None = None,
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    owned = [a for a in await list_for(db, page.principal) if a.role == "owner"]
    found = await endpoints.list_endpoints(db, page.principal)
    return page.render(
        "webhooks.html",
        tab="webhooks",
        owned=owned,
        chosen=project_id,
        webhooks=[to_public(row) for row in found],
        event_meanings=EVENT_MEANINGS,
        **LIMITS,
    )


def _log_query(request: Request) -> DeliveryQuery:
    params: dict[str, Any] = {"limit": LOG_PAGE, **dict(request.query_params)}
    params = {k: v for k, v in params.items() if v != ""}  # an empty filter means "any"
    try:
        return DeliveryQuery.model_validate(params)
    except ValidationError as exc:
        raise Invalid(human_message(exc.errors()[0])) from None


async def _log(db: SessionDep, endpoint: WebhookEndpoint, q: DeliveryQuery) -> dict[str, Any]:
    found = await webhook_log.page(db, endpoint, q)
    older = None
    if found.next_before:
        older = urlencode({"status": q.status or "", "before": found.next_before})
    return {
        "endpoint_id": endpoint.id,
        "deliveries": found.deliveries,
        "attempts": await webhook_log.attempts_for(db, [d.id for d in found.deliveries]),
        "status": q.status,
        "older": older,
        "paged": q.before is not None,
    }


@router.get("/webhooks/{endpoint_id}", response_class=HTMLResponse)
async def webhook_page(
    request: Request, endpoint_id: str, db: SessionDep, hub: HubDep, principal: MaybePrincipal
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    try:
        endpoint, acc = await endpoints.managed(db, page.principal, endpoint_id)
        log = await _log(db, endpoint, _log_query(request))
    except HubError as exc:
        return error_page(request, hub, page.principal, exc.status_code, exc.detail)
    return page.render(
        "webhook.html",
        tab="webhooks",
        hook=to_public(await endpoints.with_health(db, endpoint, acc.project)),
        event_meanings=EVENT_MEANINGS,
        **LIMITS,
        **log,
    )


@router.get("/ui/webhooks/{endpoint_id}/deliveries", response_class=HTMLResponse)
async def delivery_log(
    request: Request, endpoint_id: str, db: SessionDep, principal: PrincipalDep
) -> Response:
    """The delivery log alone: filtered, paged, and refreshed after a test or redelivery."""
    endpoint, _ = await endpoints.managed(db, principal, endpoint_id)
    log = await _log(db, endpoint, _log_query(request))
    return templates.TemplateResponse(request, "_webhook_deliveries.html", log)
