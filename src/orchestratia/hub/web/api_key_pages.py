"""The API keys page: make a key (shown once), see and revoke keys. The browser goes through
``/api/v1/api-keys`` (static/api_keys.js), so the page and the API cannot disagree."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from orchestratia.hub.api.api_keys import to_public
from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.access import api_keys
from orchestratia.hub.services.access.projects import list_for
from orchestratia.hub.web.page_context import Page, open_page
from orchestratia.hub.web.rendering import MaybePrincipal
from orchestratia.protocol.api_keys import MAX_KEY_DAYS, ApiScope

router = APIRouter(include_in_schema=False)

SCOPE_MEANINGS: list[tuple[ApiScope, str]] = [
    ("tasks:read", "read tasks, activity and the inbox"),
    ("tasks:write", "create and change tasks, answer the inbox"),
    ("sessions:read", "read sessions, their output and the permission log"),
    ("sessions:write", "start, close and share sessions"),
    ("servers:read", "read servers"),
    ("webhooks:read", "read webhook endpoints and their delivery log"),
    ("webhooks:write", "manage webhook endpoints, rotate secrets, redeliver"),
    ("servers:write", "add, confirm and remove servers reached over SSH"),
    ("admin", "projects, members, tokens, rules, settings and API keys"),
]


@router.get("/api-keys")
async def api_keys_page(
    request: Request, db: SessionDep, hub: HubDep, principal: MaybePrincipal
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    now = utcnow()
    return page.render(
        "api_keys.html",
        keys=[to_public(found) for found in await api_keys.list_keys(db, page.principal)],
        projects=await list_for(db, page.principal),
        show_owner=page.principal.tenant_wide_admin,
        scopes=SCOPE_MEANINGS,
        max_days=MAX_KEY_DAYS,
        min_date=(now + timedelta(days=1)).date().isoformat(),
        max_date=(now + timedelta(days=MAX_KEY_DAYS - 1)).date().isoformat(),
        now=now,
    )
