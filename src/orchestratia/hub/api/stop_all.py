"""Stop all agents (the kill switch) per project and tenant-wide, and resume auto-assignment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from orchestratia.hub.actions import stop_all
from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.api.scopes import needs
from orchestratia.protocol.stop_all import ResumeResult, StopAllRequest, StopAllResult

router = APIRouter(prefix="/api/v1", tags=["stop all"])
Reason = Annotated[StopAllRequest | None, Body()]


@router.post("/projects/{project_id}/stop-all", dependencies=[needs("admin")])
async def stop_project(
    project_id: str,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
    body: Reason = None,
) -> StopAllResult:
    """Ctrl-C every live session of the project, kill what outlives the grace, pause
    auto-assignment. Answers once the grace is over."""
    reason = body.reason if body else None
    return await stop_all.stop(db, hub, principal, project_id, reason, actor)


@router.post("/projects/{project_id}/resume", dependencies=[needs("admin")])
async def resume_project(
    project_id: str, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> ResumeResult:
    return await stop_all.resume(db, hub, principal, project_id, actor)


@router.post("/stop-all", dependencies=[needs("admin")])
async def stop_tenant(
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
    body: Reason = None,
) -> StopAllResult:
    """The same for every project of the tenant (tenant admins only)."""
    reason = body.reason if body else None
    return await stop_all.stop(db, hub, principal, None, reason, actor)


@router.post("/resume", dependencies=[needs("admin")])
async def resume_tenant(
    principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> ResumeResult:
    return await stop_all.resume(db, hub, principal, None, actor)
