"""The Usage page: the tenant's plan, each limit as a meter against what is in use."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.services.access import usage
from orchestratia.hub.web.page_context import Page, open_page
from orchestratia.hub.web.rendering import MaybePrincipal

router = APIRouter(include_in_schema=False)


@router.get("/usage", response_class=HTMLResponse)
async def usage_page(
    request: Request, db: SessionDep, hub: HubDep, principal: MaybePrincipal
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    return page.render("usage.html", tab="usage", usage=await usage.of_tenant(db, page.principal))
