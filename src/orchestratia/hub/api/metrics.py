"""``/metrics``: the hub's Prometheus text exposition (see ``hub.metrics``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from orchestratia.hub.api.scopes import METRICS_SCRAPE
from orchestratia.hub.metrics_scrape import ScrapeTarget

router = APIRouter(tags=["operations"])


@router.get("/metrics", dependencies=[METRICS_SCRAPE], include_in_schema=False)
async def metrics(request: Request) -> Response:
    target: ScrapeTarget = request.app.state.metrics_target
    return Response(await target.render(), media_type=CONTENT_TYPE_LATEST)
