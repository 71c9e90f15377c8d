"""The project's pipelines as a list (SPEC §9, task board): each with its state, its tasks
counted by state and a link to its graph (``/pipelines/{id}`` in task_pages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.services.tasks import pipeline_list
from orchestratia.hub.web.page_context import Page, open_project_page
from orchestratia.hub.web.rendering import MaybePrincipal
from orchestratia.protocol.pipelines import PipelineSummary

router = APIRouter(include_in_schema=False)


@router.get("/pipelines", response_class=HTMLResponse)
async def pipelines_page(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: MaybePrincipal,
    project_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    page = await open_project_page(request, db, hub, principal, project_id)
    if not isinstance(page, Page):
        return page
    rows: list[PipelineSummary] = []
    if page.current is not None:
        rows = await pipeline_list.for_project(db, page.caller, page.current.project.id)
    return page.render(
        "pipelines.html", active="tasks", pipelines=rows, limit=pipeline_list.LIST_LIMIT
    )
