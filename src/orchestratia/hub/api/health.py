"""Health for people and for probes: ``/api/v1/health`` (the public agent's), ``/healthz`` (the
process is up) and ``/readyz`` (it can serve: database reachable, schema current)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from orchestratia import __version__
from orchestratia.hub.api.deps import HubDep
from orchestratia.hub.api.scopes import PUBLIC
from orchestratia.hub.services import readiness
from orchestratia.protocol.rest import HealthResponse, Liveness, Readiness, ReadinessCheck

router = APIRouter(tags=["health"])


@router.get("/api/v1/health", dependencies=[PUBLIC])
async def health() -> HealthResponse:
    return HealthResponse(version=__version__)


@router.get("/healthz", dependencies=[PUBLIC])
async def healthz() -> Liveness:
    """200 while the process serves requests; touches nothing else (no database)."""
    return Liveness()


@router.get(
    "/readyz",
    dependencies=[PUBLIC],
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a check failed"}},
)
async def readyz(hub: HubDep) -> JSONResponse:
    """200 when the database answers ``SELECT 1`` in time and its migrations are this hub's
    head; otherwise 503 naming the check that failed."""
    checks = await readiness.check(hub.engine, hub.settings.readiness_timeout)
    ready = all(c.ok for c in checks)
    body = Readiness(
        status="ok" if ready else "unavailable",
        checks={c.name: ReadinessCheck(ok=c.ok, detail=c.detail) for c in checks},
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)
