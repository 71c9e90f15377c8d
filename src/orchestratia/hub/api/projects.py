"""Projects and their members."""

from __future__ import annotations

from fastapi import APIRouter, Response

from orchestratia.hub.actions import access
from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.api.scopes import ANY_CALLER, needs
from orchestratia.hub.services.access import projects
from orchestratia.protocol.rest import (
    MemberCreate,
    MemberPublic,
    MemberUpdate,
    ProjectCreate,
    ProjectList,
    ProjectPublic,
    Role,
)

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


def _public(acc: projects.ProjectAccess) -> ProjectPublic:
    return ProjectPublic(
        id=acc.project.id,
        name=acc.project.name,
        role=acc.role,
        created_at=acc.project.created_at,
        assignment_paused_at=acc.project.assignment_paused_at,
    )


@router.post("", status_code=201, dependencies=[needs("admin")])
async def create_project(
    body: ProjectCreate, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> ProjectPublic:
    return _public(await access.create_project(db, hub, principal, body.name, actor))


@router.get("", dependencies=[ANY_CALLER])
async def list_projects(principal: PrincipalDep, db: SessionDep) -> ProjectList:
    return ProjectList(projects=[_public(a) for a in await projects.list_for(db, principal)])


@router.get("/{project_id}", dependencies=[ANY_CALLER])
async def get_project(project_id: str, principal: PrincipalDep, db: SessionDep) -> ProjectPublic:
    return _public(await projects.access(db, principal, project_id))


@router.get("/{project_id}/members", dependencies=[needs("admin")])
async def list_members(
    project_id: str, principal: PrincipalDep, db: SessionDep
) -> list[MemberPublic]:
    rows = await projects.members(db, principal, project_id)
    return [MemberPublic(user_id=u, email=e, role=r) for u, e, r in rows]


def _member(change: projects.MemberChange, role: Role) -> MemberPublic:
    return MemberPublic(user_id=change.user_id, email=change.email, role=role)


@router.post("/{project_id}/members", status_code=201, dependencies=[needs("admin")])
async def set_member(
    project_id: str,
    body: MemberCreate,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> MemberPublic:
    change = await access.add_member(db, hub, principal, project_id, body.email, body.role, actor)
    return _member(change, body.role)


@router.patch("/{project_id}/members/{user_id}", dependencies=[needs("admin")])
async def update_member(
    project_id: str,
    user_id: str,
    body: MemberUpdate,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> MemberPublic:
    change = await access.set_member_role(db, hub, principal, project_id, user_id, body.role, actor)
    return _member(change, body.role)


@router.delete("/{project_id}/members/{user_id}", status_code=204, dependencies=[needs("admin")])
async def remove_member(
    project_id: str,
    user_id: str,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> Response:
    await access.remove_member(db, hub, principal, project_id, user_id, actor)
    return Response(status_code=204)
