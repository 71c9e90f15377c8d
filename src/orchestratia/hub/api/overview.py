"""``GET /api/v1/overview``: the home page's numbers for API users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from orchestratia.hub.api.callers import UserCallerDep
from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.api.scopes import needs
from orchestratia.hub.services import overview
from orchestratia.hub.state import HubState
from orchestratia.protocol.overview import Overview

router = APIRouter(prefix="/api/v1/overview", tags=["overview"])


def overview_meters(hub: HubState) -> overview.Meters:
    """This replica's in-memory output counters, shared with the sessions grid's clock."""
    return overview.Meters(hub.output_meter, hub.grid.clock, hub.grid.idle_after)


# tasks:read, like the inbox and the activity feed: most of what this returns (task titles,
# inbox items, task events) is theirs; servers and sessions only appear as counts.
@router.get("", dependencies=[needs("tasks:read")])
async def get_overview(
    caller: UserCallerDep,
    db: SessionDep,
    hub: HubDep,
    project_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> Overview:
    """One project's numbers, or (without ``project_id``) those of every project the caller
    sees. Throughput counts the output this hub replica received."""
    return await overview.summary(db, caller, overview_meters(hub), project_id)
