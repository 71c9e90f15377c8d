from __future__ import annotations

from fastapi import APIRouter

from orchestratia import __version__
from orchestratia.hub.api.scopes import PUBLIC
from orchestratia.protocol.rest import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/api/v1/health", dependencies=[PUBLIC])
async def health() -> HealthResponse:
    return HealthResponse(version=__version__)
