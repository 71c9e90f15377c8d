"""The home page: what the fleet, its sessions, tasks and inbox look like right now, for the
current project or for all of them. The panels refresh by polling their own fragment (see
``overview.html`` for why polling)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep
from orchestratia.hub.api.overview import overview_meters
from orchestratia.hub.services import overview
from orchestratia.hub.web.page_context import Page, open_project_page, person_caller
from orchestratia.hub.web.rendering import MaybePrincipal, templates

router = APIRouter(include_in_schema=False)

Ident = Annotated[str | None, Query(min_length=1, max_length=64)]
# ``?all=1``: every project the person sees instead of the one in the picker.
AllProjects = Annotated[bool, Query(alias="all")]

SPARK_W, SPARK_H = 300, 48


def ago(seconds: float | None) -> str:
    """``42 s``, ``7 min``, ``3 h``, ``2 d``: an age as the page shows it."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def rate(bytes_per_second: float) -> str:
    for unit, size in (("MB/s", 1_000_000), ("kB/s", 1_000)):
        if bytes_per_second >= size:
            return f"{bytes_per_second / size:.1f} {unit}"
    return f"{bytes_per_second:.0f} B/s"


def sparkline(buckets: list[int]) -> str:
    """The ``points`` of an SVG polyline over ``SPARK_W`` by ``SPARK_H``, scaled to the peak (a
    flat line along the bottom when nothing was written)."""
    peak = max(buckets, default=0) or 1
    step = SPARK_W / max(len(buckets) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{SPARK_H - 2 - (SPARK_H - 4) * n / peak:.1f}"
        for i, n in enumerate(buckets)
    )


templates.env.filters["ago"] = ago
templates.env.filters["rate"] = rate
templates.env.filters["sparkline"] = sparkline


@router.get("/overview", response_class=HTMLResponse)
async def overview_page(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: MaybePrincipal,
    project_id: Ident = None,
    every: AllProjects = False,
) -> Response:
    page = await open_project_page(request, db, hub, principal, project_id)
    if not isinstance(page, Page):
        return page
    if page.current is None:
        # Nothing to sum up yet: the fleet page is where the first project is made.
        return RedirectResponse("/fleet", status_code=303)
    shown = None if every else page.current.project.id
    data = await overview.summary(db, page.caller, overview_meters(hub), shown)
    return page.render(
        "overview.html", active="overview", data=data, every=every, spark=(SPARK_W, SPARK_H)
    )


@router.get("/ui/overview/panels", response_class=HTMLResponse)
async def overview_panels(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    project_id: Ident = None,
) -> Response:
    """The panels alone, for the page's refresh; no ``project_id``: all projects."""
    caller = person_caller(request, principal)
    data = await overview.summary(db, caller, overview_meters(hub), project_id)
    context = {"data": data, "every": project_id is None, "spark": (SPARK_W, SPARK_H)}
    return templates.TemplateResponse(request, "_overview_panels.html", context)
