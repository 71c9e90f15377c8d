from __future__ import annotations

from fastapi import APIRouter

from orchestratia import __version__
from orchestratia.protocol.rest import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/api/v1/health")
async def health() -> HealthResponse:
    return HealthResponse(version=__version__)
