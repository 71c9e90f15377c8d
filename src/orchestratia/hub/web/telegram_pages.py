"""The Telegram page of a project: its owners set up the bot (token, polling or webhook, on or
off) and see who is linked; every member links their own chat with a one-time code. Changes go
through the REST API (``/api/v1/projects/{id}/telegram``, ``/api/v1/telegram/…``); this route
only renders."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.services.integrations.telegram import bots, linking
from orchestratia.hub.web.page_context import Page, open_project_page
from orchestratia.hub.web.rendering import MaybePrincipal

router = APIRouter(include_in_schema=False)


@router.get("/telegram", response_class=HTMLResponse)
async def telegram_page(
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
        return page.render("telegram.html", tab="telegram", bot=None, can_manage=False)
    pid = current.project.id
    bot, mine = await linking.own_view(db, page.principal, pid)
    can_manage = current.role == "owner"
    shown = await bots.public(db, bot) if bot is not None and can_manage else None
    return page.render(
        "telegram.html",
        tab="telegram",
        pid=pid,
        bot=bot,
        shown=shown,
        mine=mine,
        can_manage=can_manage,
    )
