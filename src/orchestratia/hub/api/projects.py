"""Projects and their members."""

from __future__ import annotations

from fastapi import APIRouter

from orchestratia.hub.api.deps import PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.services import projects
from orchestratia.protocol.rest import (
    MemberCreate,
    MemberPublic,
    ProjectCreate,
    ProjectList,
    ProjectPublic,
)

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


def _public(acc: projects.ProjectAccess) -> ProjectPublic:
    return ProjectPublic(
        id=acc.project.id,
        name=acc.project.name,
        role=acc.role,
        created_at=acc.project.created_at,
    )


@router.post("", status_code=201)
async def create_project(
    body: ProjectCreate, principal: PrincipalDep, db: SessionDep, actor: UserActorDep
) -> ProjectPublic:
    return _public(await projects.create(db, principal, body.name, actor))


@router.get("")
async def list_projects(principal: PrincipalDep, db: SessionDep) -> ProjectList:
    return ProjectList(projects=[_public(a) for a in await projects.list_for(db, principal)])


@router.get("/{project_id}")
async def get_project(project_id: str, principal: PrincipalDep, db: SessionDep) -> ProjectPublic:
    return _public(await projects.access(db, principal, project_id))


@router.get("/{project_id}/members")
async def list_members(
    project_id: str, principal: PrincipalDep, db: SessionDep
) -> list[MemberPublic]:
    rows = await projects.members(db, principal, project_id)
    return [MemberPublic(user_id=u, email=e, role=r) for u, e, r in rows]


@router.post("/{project_id}/members", status_code=201)
async def set_member(
    project_id: str,
    body: MemberCreate,
    principal: PrincipalDep,
    db: SessionDep,
    actor: UserActorDep,
) -> MemberPublic:
    m = await projects.add_member(db, principal, project_id, body.email, body.role, actor)
    return MemberPublic(user_id=m.user_id, email=body.email.lower(), role=body.role)
